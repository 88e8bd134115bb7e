"""Published numbers (CLIP ViT-B/32, NegCLIP, CE-CLIP, AHNPL) and the paper-style Markdown table.

Numbers are copied, with their printed precision, from the tables of the ARO (Yuksekgonul et al.,
ICLR 2023), SugarCrepe (Hsieh et al., NeurIPS 2023), CE-CLIP and AHNPL (IJCAI 2025) papers. A cell
that no paper gives is absent here and rendered as "–". Our scores are fractions; the table prints them
as percentages with one decimal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

DASH = "–"


@dataclass(frozen=True)
class Column:
    """One table column: a metric key of one benchmark's score dict and its header."""

    benchmark: str
    metric: str
    header: str


COLUMNS: tuple[Column, ...] = (
    Column("aro_vg_relation", "accuracy", "ARO VG-R"),
    Column("aro_vg_attribution", "accuracy", "ARO VG-A"),
    Column("aro_coco_order", "accuracy", "COCO-Order"),
    Column("aro_flickr_order", "accuracy", "Flickr-Order"),
    Column("sugarcrepe", "replace_obj", "SC replace-obj"),
    Column("sugarcrepe", "replace_att", "SC replace-att"),
    Column("sugarcrepe", "replace_rel", "SC replace-rel"),
    Column("sugarcrepe", "swap_obj", "SC swap-obj"),
    Column("sugarcrepe", "swap_att", "SC swap-att"),
    Column("sugarcrepe", "add_obj", "SC add-obj"),
    Column("sugarcrepe", "add_att", "SC add-att"),
    Column("valse", "average", "VALSE avg"),
    Column("vl_checklist", "attribute", "VLC attribute"),
    Column("vl_checklist", "object", "VLC object"),
    Column("vl_checklist", "relation", "VLC relation"),
    Column("vl_checklist", "average", "VLC avg"),
    Column("winoground", "text", "Wino text"),
    Column("winoground", "image", "Wino image"),
    Column("winoground", "group", "Wino group"),
)


def _row(aro=(), sugarcrepe=(), valse=None, vl_checklist=(), vl_checklist_average=None):
    """Published cells of one model, keyed by (benchmark, metric), values as printed."""
    cells: dict[tuple[str, str], str] = {}
    for bench, value in zip(("aro_vg_relation", "aro_vg_attribution", "aro_coco_order",
                             "aro_flickr_order"), aro):
        if value is not None:
            cells[(bench, "accuracy")] = value
    for metric, value in zip(("replace_obj", "replace_att", "replace_rel", "swap_obj",
                              "swap_att", "add_obj", "add_att"), sugarcrepe):
        cells[("sugarcrepe", metric)] = value
    if valse is not None:
        cells[("valse", "average")] = valse
    for metric, value in zip(("attribute", "object", "relation"), vl_checklist):
        cells[("vl_checklist", metric)] = value
    if vl_checklist_average is not None:
        cells[("vl_checklist", "average")] = vl_checklist_average
    return cells


# Model name -> {(benchmark, metric): percentage as printed}. All rows are ViT-B/32.
PUBLISHED: dict[str, dict[tuple[str, str], str]] = {
    "CLIP": _row(
        aro=("59", "62", "46", "59"),
        sugarcrepe=("90.9", "80.0", "69.2", "61.4", "64.0", "77.2", "68.2"),
        valse="65.3",
        vl_checklist=("67.4", "80.0", "63.0"),
        vl_checklist_average="69.2",
    ),
    "NegCLIP": _row(
        aro=("81", "71", "86", "91"),
        sugarcrepe=("92.7", "85.9", "76.5", "75.2", "75.4", "88.8", "82.8"),
        valse="71.6",
    ),
    "CE-CLIP": _row(
        aro=("83.0", "76.4"),
        sugarcrepe=("93.1", "88.8", "79.0", "72.8", "77.0", "92.4", "93.4"),
        valse="72.5",
        vl_checklist_average="75.1",
    ),
    "AHNPL (paper)": _row(valse="75.9"),
}
PUBLISHED_MODELS: tuple[str, ...] = tuple(PUBLISHED)


def published_value(model: str, benchmark: str, metric: str) -> float | None:
    """A published number as a fraction in [0, 1], or None when the paper does not give it."""
    text = PUBLISHED.get(model, {}).get((benchmark, metric))
    return None if text is None else float(text) / 100.0


def format_score(value) -> str:
    """A fraction as a percentage with one decimal; "–" for a missing value."""
    if value is None or not isinstance(value, (int, float)) or value != value:
        return DASH
    return f"{100.0 * value:.1f}"


def render_table(
    results: Mapping[str, Mapping],
    model_name: str,
    *,
    columns: Sequence[Column] | None = None,
    published_models: Sequence[str] = PUBLISHED_MODELS,
) -> str:
    """Markdown table: published rows, then ``model_name``'s row from ``results``.

    ``results`` maps benchmark name -> the dict returned by ``Benchmark.score``. By default the
    columns are those of the benchmarks in ``results`` (all columns when it is empty).
    """
    if columns is None:
        columns = [c for c in COLUMNS if c.benchmark in results] or list(COLUMNS)
    header = "| Model | " + " | ".join(c.header for c in columns) + " |"
    rule = "|---|" + "|".join("---:" for _ in columns) + "|"
    lines = [header, rule]
    for model in published_models:
        cells = [PUBLISHED.get(model, {}).get((c.benchmark, c.metric), DASH) for c in columns]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    ours = [format_score(results.get(c.benchmark, {}).get(c.metric)) for c in columns]
    lines.append(f"| **{model_name}** | " + " | ".join(ours) + " |")
    return "\n".join(lines) + "\n"
