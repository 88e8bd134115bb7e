"""A Markdown report of benchmark results: the paper-style table, then per-benchmark details.

The details say what each number is over (items evaluated, items skipped for missing images,
filters) and how the evaluation differs from the original (the score dicts' ``notes``).
"""

from __future__ import annotations

from typing import Mapping, Sequence

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
        if scores.get("protocol"):
            parts.append(f"- protocol: {scores['protocol']}\n")
        for note in scores.get("notes", []):
            parts.append(f"- {note}\n")
    return "".join(parts)
