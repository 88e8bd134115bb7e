"""A Markdown report of benchmark results: the paper-style table, then per-benchmark details.

The details say what each number is over (items evaluated, items skipped for missing images,
filters) and how the evaluation differs from the original (the score dicts' ``notes``).
"""

from __future__ import annotations

from typing import Mapping, Sequence

from .protocols import protocols_of
from .published import PUBLISHED_MODELS, format_score, render_table

_COUNT_LABELS = (
    ("n_items", "items evaluated"),
    ("n_items_skipped_missing_images", "items skipped (missing images)"),
    ("n_missing_images", "missing image files"),
    ("n_items_filtered_mturk", "items left out by the mturk filter"),
    ("n_groups", "groups in the macro average"),
    ("n_groups_excluded", "relations excluded"),
    ("n_groups_below_min_count", "attribute pairs below the minimum count"),
    ("n_identical_perturbations", "perturbations identical to their caption"),
    ("n_items_without_distinct_perturbation", "captions without a distinct perturbation"),
    ("n_seeds", "shuffle seeds averaged"),
    ("n_negative_equals_positive", "items whose negative equals a positive caption"),
    ("n_samples_full_benchmark", "samples in the full benchmark"),
)


def render_report(
    results: Mapping[str, Mapping],
    model_name: str,
    *,
    published_models: Sequence[str] = PUBLISHED_MODELS,
    with_groups: bool = False,
) -> str:
    """Markdown: the comparison table and, per benchmark, its metrics, counts and notes.

    ``with_groups`` adds each benchmark's ``by_group`` breakdown (long for ARO VG sets).
    """
    parts = [f"# Compositional benchmarks: {model_name}\n",
             render_table(results, model_name, published_models=published_models),
             "Scores in %. Published rows from the papers; \"–\": not published.\n"]
    for name, scores in results.items():
        parts.append(f"\n## {name}\n")
        metrics = {k: v for k, v in scores.items() if isinstance(v, (int, float))}
        parts.append("| metric | score |\n|---|---:|\n" + "".join(
            f"| {k} | {format_score(v)} |\n" for k, v in metrics.items()))
        for key in ("by_category",) + (("by_group",) if with_groups else ()):
            if scores.get(key):
                parts.append(f"\n{key}:\n\n| group | score |\n|---|---:|\n" + "".join(
                    f"| {g} | {format_score(v)} |\n" for g, v in scores[key].items()))
        counts = scores.get("counts", {})
        shown = [f"{label}: {counts[k]}" for k, label in _COUNT_LABELS if k in counts]
        if shown:
            parts.append("\n" + "; ".join(shown) + ".\n")
        for protocol in protocols_of(name):  # how each number of the table by protocol is aggregated
            parts.append(f"- protocol {protocol.describe()}\n")
        for note in scores.get("notes", []):
            parts.append(f"- {note}\n")
    return "".join(parts)


def render_suite_report(
    results: Mapping[str, Mapping],
    model_name: str,
    *,
    cells: Mapping | None = None,
    not_evaluated: Mapping[str, str] | None = None,
    selection: str = "",
    with_groups: bool = False,
    plot: str | None = None,
    sections: Sequence[str] = (),
) -> str:
    """The whole results page of a suite run.

    1. which weights the numbers come from and how they were selected (``selection``);
    2. the table by protocol (:func:`ahnpl_plugin.benchmarks.cells.render_protocol_table`): each
       published number in the column of the protocol it was aggregated under, this model's
       cells with 95% intervals, incomplete cells marked in the cell;
    ``sections``: more Markdown sections (task ahnpl_suite: zero-shot, retrieval) after the plot;
    3. benchmarks of the config that were not evaluated, with why and where to get them;
    4. items evaluated vs the released files vs the papers, and why they differ;
    5. the paper-style table and per-benchmark details of :func:`render_report`.
    """
    from .cells import render_protocol_table
    from .item_counts import render_item_counts

    parts = [f"# Results: {model_name}\n"]
    if selection:
        parts.append(f"\n**Weights and model selection.** {selection}\n")
    if cells:
        parts.append("\n## By protocol (95% intervals; published rows as printed)\n\n"
                     "Each column is one named aggregation rule (ahnpl_plugin/benchmarks/protocols.py); a "
                     "published number appears only under the rule its paper used. Intervals: Wilson for a "
                     "single accuracy, item bootstrap stratified by part (2,000 replicates) for means. A cell "
                     "marked incomplete is over fewer items or parts than the benchmark has.\n\n")
        parts.append(render_protocol_table({model_name: cells}))
    from .plot import compositional_protocol

    average = compositional_protocol(cells or {})
    if plot and average:
        what = ("all 12 of vl_compo's benchmarks (its comp_avg)" if average == "vl_compo/comp12-mean"
                else "the 5 benchmarks of the original suite shared with vl_compo")
        parts.append(f"\n![compositional average vs zero-shot retention]({plot})\n\n"
                     f"Compositional average: {what}, each under vl_compo's rule (protocol {average}); "
                     "published methods from vl_compo / FSC-CLIP.\n")
    elif cells and "vl_compo/shared5-mean" in cells and not average:
        why = cells["vl_compo/shared5-mean"].incomplete_because
        parts.append(f"\nNo plot of compositional average vs zero-shot retention: the average over the 5 "
                     f"benchmarks shared with vl_compo is incomplete ({why}).\n")
    parts.extend(sections)
    if not_evaluated:
        parts.append("\n## Not evaluated\n\n" + "".join(
            f"- {name}: {why}\n" for name, why in not_evaluated.items()))
    if results:
        parts.append("\n## Items evaluated\n\n" + render_item_counts(results))
        parts.append("\n" + render_report(results, model_name, with_groups=with_groups).replace(
            f"# Compositional benchmarks: {model_name}\n", "## Paper-style table\n", 1))
    return "".join(parts)
