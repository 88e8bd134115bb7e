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


def _incomplete_mark(scores: Mapping, metric: str) -> str:
    """`` (incomplete: ...)`` for a number of a benchmark that lost items or parts, else ``""``:
    such a number never sits beside a complete published one unmarked."""
    counts = scores.get("counts", {}) if isinstance(scores, Mapping) else {}
    value = scores.get(metric) if isinstance(scores, Mapping) else None
    if value is None or not isinstance(value, (int, float)) or value != value:
        return ""
    skipped = counts.get("n_items_skipped_missing_images", 0)
    missing = counts.get("n_missing_parts", 0)
    by_part = counts.get("skipped_by_group", {})
    if metric in scores.get("by_group", {}):  # a single part: only its own skipped items count
        skipped, missing = by_part.get(metric, 0), 0
    if not skipped and not missing:
        return ""
    reasons = ([f"{skipped} items skipped"] if skipped else []) + ([f"{missing} parts missing"] if missing else [])
    return " (incomplete: " + ", ".join(reasons) + ")"


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
    ours = [format_score(results.get(c.benchmark, {}).get(c.metric))
            + _incomplete_mark(results.get(c.benchmark, {}), c.metric) for c in columns]
    lines.append(f"| **{model_name}** | " + " | ".join(ours) + " |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------- published cells by protocol
@dataclass(frozen=True)
class PublishedCell:
    """A published number with the protocol it was aggregated under and where it is printed.

    ``value`` is the text as printed (percent); ``protocol`` a name of
    :func:`ahnpl_plugin.benchmarks.protocols.protocol_table`.
    """

    model: str
    protocol: str
    value: str
    source: str
    backbone: str = "ViT-B/32"


_CE_CLIP_TABLE = "CE-CLIP paper (Zhang et al., CVPR 2024), tables of ARO/VALSE/VL-CheckList/SugarCrepe"
_AHNPL_PAPER = ("AHNPL paper (IJCAI 2025), VALSE table (rows copied from CE-CLIP's); its per-column values were "
                "not found in stored material, so its 11-piece rule is that of the CE-CLIP rows beside it, not "
                "checked on its own row")
_SUGARCREPE_PAPER = "SugarCrepe paper (Hsieh et al., NeurIPS 2023)"
_VL_COMPO = "vl_compo results.csv (github.com/ytaek-oh/vl_compo), one decimal"
_FSC_CLIP = "FSC-CLIP assets/extended_results.csv (github.com/ytaek-oh/fsc-clip), fsc-clip openai_coco ViT-B-32"


# (benchmark, metric) of the paper-style table -> the protocol that number was aggregated under
_PROTOCOL_OF_COLUMN = {
    ("aro_vg_relation", "accuracy"): "aro_vg_relation/relations-mean",
    ("aro_vg_attribution", "accuracy"): "aro_vg_attribution/pairs-mean",
    ("aro_coco_order", "accuracy"): "aro_coco_order/precision",
    ("aro_flickr_order", "accuracy"): "aro_flickr_order/precision",
    **{("sugarcrepe", f): f"sugarcrepe/{f}" for f in ("replace_obj", "replace_att", "replace_rel", "swap_obj",
                                                     "swap_att", "add_obj", "add_att")},
    ("valse", "average"): "valse/pieces-mean",
    **{("vl_checklist", t): f"vl_checklist/{t}" for t in ("attribute", "object", "relation")},
    ("vl_checklist", "average"): "vl_checklist/subcategories-mean",
}
_ARO_PAPER = "ARO paper (Yuksekgonul et al., ICLR 2023)"


def _source_of(model: str, benchmark: str) -> str:
    if model == "AHNPL (paper)":
        return _AHNPL_PAPER
    if model == "CE-CLIP" or benchmark in ("valse", "vl_checklist"):
        return _CE_CLIP_TABLE
    return _ARO_PAPER if benchmark.startswith("aro") else _SUGARCREPE_PAPER


_VL_COMPO_PROTOCOLS = ("aro/tasks-mean", "sugarcrepe/families-mean", "valse/groups-mean",
                       "vl_checklist/types-mean", "winoground/group")
_VL_COMPO_ROWS = {  # model -> (source, values in the order of _VL_COMPO_PROTOCOLS, as printed)
    "CLIP ViT-B/32 (vl_compo)": (_VL_COMPO, ("57.6", "73.0", "67.5", "70.8", "8.8")),
    "NegCLIP (vl_compo)": (_VL_COMPO, ("80.9", "83.7", "73.7", "75.0", "8.0")),
    "CE-CLIP (vl_compo)": (_VL_COMPO, ("76.3", "85.7", "76.7", "76.9", "5.2")),
    "CLoVe (vl_compo)": (_VL_COMPO, ("83.0", "84.5", "71.9", "66.6", "6.5")),
    "DAC-LLM (vl_compo)": (_VL_COMPO, ("86.4", "85.3", "70.5", "83.5", "4.8")),
    "FSC-CLIP (its repository)": (_FSC_CLIP, ("85.1", "85.1", "75.3", "76.7", "9.5")),
}

# vl_compo's columns for the newer benchmarks (issue 16), each under the protocol that reproduces
# it from vl_compo's per-subset columns (tests/test_eval_protocols.py), same rows and source
_VL_COMPO_NEWER_PROTOCOLS = ("whatsup/subsets-mean", "crepe/types-mean", "eqben/group", "imagecode/pooled",
                             "svo_probes/types-mean", "colorswap/group", "mmvp_vlm/group")
_VL_COMPO_NEWER_ROWS = {  # model -> values in the order of _VL_COMPO_NEWER_PROTOCOLS, as in results.csv
    "CLIP ViT-B/32 (vl_compo)": ("41.5", "23.7", "26.5", "21.7", "84.1", "12.0", "6.7"),
    "NegCLIP (vl_compo)": ("42.9", "30.3", "30.3", "26.4", "90.7", "18.3", "14.1"),
    "CE-CLIP (vl_compo)": ("41.7", "34.6", "26.6", "24.5", "90.1", "13.3", "14.8"),
    "CLoVe (vl_compo)": ("41.8", "41.6", "27.0", "25.2", "87.9", "18.7", "13.3"),
    "DAC-LLM (vl_compo)": ("42.6", "60.4", "25.7", "23.0", "88.9", "13.7", "12.6"),
}
# vl_compo's comp_avg (the mean of its 12 compositional columns), protocol vl_compo/comp12-mean
_VL_COMPO_COMP_AVG = {"CLIP ViT-B/32 (vl_compo)": "41.2", "NegCLIP (vl_compo)": "47.9", "CE-CLIP (vl_compo)": "47.2",
                      "CLoVe (vl_compo)": "47.3", "DAC-LLM (vl_compo)": "49.8"}

# Rows of the newer methods' own papers, each number under the rule its table used (all ViT-B/32).
# DeGLA's and CE-CLIP's tables are images in their repositories; each average was recomputed from
# the columns printed beside it (tests/test_eval_protocols.py) to name its rule.
_READ_CLIP_PAPER = ("READ-CLIP paper (Kwon et al., NeurIPS 2025, arXiv 2510.16540) Table 1, as reprinted in its "
                    "repository README (github.com/JiH00nKw0n/READ-CLIP b2f096c: 'Numbers reproduce Table 1'); "
                    "rules from its released evaluator")
_DEGLA_PAPER = "DeGLA paper (Hu et al., ACM MM 2025, arXiv 2504.16801) Table {}, as in github.com/xiaoxing2001/DeGLA {}"
_DEGLA_VALSE = _DEGLA_PAPER.format(2, "assets/VALSE.png; Avg. = the 11-piece mean of its columns (Counting x3)")
_DEGLA_SUGARCREPE = _DEGLA_PAPER.format(3, "assets/SugarCrepe.png; per file (its family Avg. columns are not "
                                           "carried: replace 90.5 is neither the mean, 90.43, nor the pooled "
                                           "accuracy, 90.35, of its files)")
_DEGLA_ARO = _DEGLA_PAPER.format(4, "assets/ARO.png; evaluated with ARO's own code (its README), Avg. = mean of the "
                                    "4 tasks")
_CE_CLIP_PLUS = ("CE-CLIP paper Table 1 (ARO and VALSE; github.com/lezhang7/Enhance-FineGrained assets/aro.png), row "
                 "CE-CLIP+: its VALSE 76.7 is the mean of the 9 displayed columns (76.66), over the 11 pieces 75.05")

_PAPER_ROWS: dict[str, tuple[tuple[str, str, str], ...]] = {  # model -> (protocol, value as printed, source)
    "READ-CLIP (paper)": (
        ("valse/items-pooled", "76.2", _READ_CLIP_PAPER),
        ("sugarcrepe/files-mean", "87.0", _READ_CLIP_PAPER),
        ("whatsup/sources-mean", "43.9", _READ_CLIP_PAPER),
        ("sugarcrepe_pp/itt", "69.8", _READ_CLIP_PAPER),
        ("sugarcrepe_pp/tot", "66.2", _READ_CLIP_PAPER),
        # its CREPE 41.5 is left out: the evaluator averages over the file names of its Hugging Face
        # copy (Mayfull/crepe_vlms), whose split into files was not established here
    ),
    "DeGLA (paper)": (
        ("valse/pieces-mean", "74.1", _DEGLA_VALSE),
        *[(f"sugarcrepe/{f}", v, _DEGLA_SUGARCREPE) for f, v in zip(
            ("replace_obj", "replace_att", "replace_rel", "swap_obj", "swap_att", "add_obj", "add_att"),
            ("94.5", "92.6", "84.2", "81.6", "82.1", "93.8", "95.7"))],
        *[(p, v, _DEGLA_ARO) for p, v in zip(
            ("aro_vg_relation/relations-mean", "aro_vg_attribution/pairs-mean", "aro_coco_order/precision",
             "aro_flickr_order/precision", "aro/tasks-mean"), ("81.6", "74.3", "93.8", "94.7", "86.1"))],
    ),
    "CE-CLIP+ (CE-CLIP paper)": (
        ("valse/columns9-mean", "76.7", _CE_CLIP_PLUS),
        ("aro_vg_relation/relations-mean", "83.6", _CE_CLIP_PLUS),
        ("aro_vg_attribution/pairs-mean", "77.1", _CE_CLIP_PLUS),
    ),
}
PUBLISHED_CELLS: tuple[PublishedCell, ...] = tuple(
    # the paper-style rows above (CE-CLIP's table, the ones AHNPL's paper compares against:
    # VALSE = mean of the 11 pieces, VL-CheckList = mean of the 9 subcategories), by protocol
    [PublishedCell(model, _PROTOCOL_OF_COLUMN[key], value, _source_of(model, key[0]))
     for model, cells in PUBLISHED.items() for key, value in cells.items()]
    # vl_compo: ARO = mean of 4 tasks, SugarCrepe = mean of the 3 pooled families, VALSE = mean of
    # 7 groups, VL-CheckList = mean of 3 types, Winoground = group score
    + [PublishedCell(model, protocol, value, source)
       for model, (source, values) in _VL_COMPO_ROWS.items() for protocol, value in zip(_VL_COMPO_PROTOCOLS, values)]
    + [PublishedCell(model, protocol, value, _VL_COMPO)
       for model, values in _VL_COMPO_NEWER_ROWS.items()
       for protocol, value in zip(_VL_COMPO_NEWER_PROTOCOLS, values)]
    + [PublishedCell(model, "vl_compo/comp12-mean", value, _VL_COMPO) for model, value in _VL_COMPO_COMP_AVG.items()]
    # READ-CLIP, DeGLA, CE-CLIP+: each number under the rule its own table used
    + [PublishedCell(model, protocol, value, source)
       for model, cells in _PAPER_ROWS.items() for protocol, value, source in cells]
)

# The plot's zero-shot axis: zero-shot classification accuracy averaged over vl_compo's 21 tasks
# (percent, its 21_tasks_avg column; FSC-CLIP: its ZS column), per model row of _VL_COMPO_ROWS.
PUBLISHED_ZERO_SHOT: dict[str, float] = {
    "CLIP ViT-B/32 (vl_compo)": 57.1, "NegCLIP (vl_compo)": 55.9, "CE-CLIP (vl_compo)": 49.9,
    "CLoVe (vl_compo)": 50.9, "DAC-LLM (vl_compo)": 51.1, "FSC-CLIP (its repository)": 55.7,
}
ZERO_SHOT_BASE = "CLIP ViT-B/32 (vl_compo)"  # retention = zero-shot / this model's
