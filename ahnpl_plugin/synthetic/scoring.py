"""Accuracy of caption-choice eval items, per category and their mean.

An item is correct when the score of its true caption (index ``label``) is strictly greater than
the score of every other caption: a tie counts as wrong, so a model with constant scores gets 0,
not 100% (the true caption is always first in this world's items).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ahnpl_plugin.synthetic.eval_items import CATEGORIES


def item_correct(item: dict, scores, index: int) -> bool:
    """Whether one item's true caption strictly beats all others; `scores` is [1, n] or [n]."""
    row = np.asarray(scores, dtype=np.float64)
    n = len(item["captions"])
    if row.ndim == 2 and row.shape[0] == 1:
        row = row[0]
    if row.shape != (n,):
        raise ValueError(f"sims[{index}] has shape {np.shape(scores)}, expected [1, {n}] for item {index}")
    if not np.all(np.isfinite(row)):
        raise ValueError(f"sims[{index}] holds a non-finite score: {row.tolist()}")
    label = int(item["label"])
    if not 0 <= label < n:
        raise ValueError(f"item {index} has label {label} outside its {n} captions")
    others = np.delete(row, label)
    return bool(np.all(row[label] > others))


def score_items(items: Sequence[dict], sims: Sequence) -> dict[str, float]:
    """Accuracy per category (keys in CATEGORIES order, then any other category names sorted) for
    the categories present, plus "average" = unweighted mean over those categories.

    `sims[i]` holds item i's scores of its captions, shape [1, n_captions] (or [n_captions]).
    """
    if len(items) != len(sims):
        raise ValueError(f"{len(items)} items but {len(sims)} rows of sims")
    if not items:
        raise ValueError("no items to score")
    hits: dict[str, list[bool]] = {}
    for index, (item, scores) in enumerate(zip(items, sims)):
        if "category" not in item:
            raise ValueError(f"item {index} has no 'category'")
        hits.setdefault(item["category"], []).append(item_correct(item, scores, index))
    order = [c for c in CATEGORIES if c in hits] + sorted(c for c in hits if c not in CATEGORIES)
    result = {c: float(np.mean(hits[c])) for c in order}
    result["average"] = float(np.mean([result[c] for c in order]))
    return result


def count_items(items: Sequence[dict]) -> dict[str, int]:
    """Number of items per category (same key order as score_items, without "average")."""
    counts: dict[str, int] = {}
    for item in items:
        counts[item["category"]] = counts.get(item["category"], 0) + 1
    return {c: counts[c] for c in [*CATEGORIES, *sorted(set(counts) - set(CATEGORIES))] if c in counts}
