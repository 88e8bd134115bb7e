"""Scoring primitives shared by the benchmarks: strict caption choice and macro/micro means.

Every benchmark here asks whether the true option strictly beats every false one; a tie counts
as wrong (so a model with constant scores gets 0, never 100%).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Mapping, Sequence

import numpy as np


def caption_choice_correct(sims: np.ndarray, label: int) -> bool:
    """True when caption ``label`` scores strictly higher than every other caption.

    ``sims`` is ``[1, n_captions]`` (one image). With a single caption there is nothing to beat:
    callers must not build such items.
    """
    row = sims[0]
    others = np.delete(row, label)
    return bool(others.size > 0 and row[label] > others.max())


def correct_by_item(items, sims: Sequence[np.ndarray]) -> np.ndarray:
    """Boolean array: strict caption-choice outcome of each item (items have a ``label``)."""
    return np.array([caption_choice_correct(s, it.label) for it, s in zip(items, sims)], dtype=bool)


def group_outcomes(groups: Iterable[str], correct: np.ndarray) -> dict[str, np.ndarray]:
    """Outcomes split by group name, groups in first-seen order."""
    split: dict[str, list[bool]] = defaultdict(list)
    for g, c in zip(groups, correct):
        split[g].append(bool(c))
    return {g: np.array(v, dtype=bool) for g, v in split.items()}


def accuracy(outcomes: np.ndarray | Sequence[bool]) -> float:
    """Fraction correct; NaN for no outcomes (callers drop empty buckets before averaging)."""
    outcomes = np.asarray(outcomes, dtype=bool)
    return float(outcomes.mean()) if outcomes.size else float("nan")


def macro_mean(values: Iterable[float]) -> float:
    """Unweighted mean of the given accuracies (NaN when there are none)."""
    values = [v for v in values]
    return float(np.mean(values)) if values else float("nan")


def micro_accuracy(outcomes_by_group: Mapping[str, np.ndarray], groups: Iterable[str]) -> float:
    """Accuracy over all items of ``groups`` pooled together (a count-weighted mean)."""
    pooled = [outcomes_by_group[g] for g in groups if g in outcomes_by_group]
    if not pooled:
        return float("nan")
    return accuracy(np.concatenate(pooled))


def drop_nan(metrics: dict) -> tuple[dict, list[str]]:
    """Remove NaN entries (empty buckets) from a flat metric dict; return the names removed."""
    kept = {k: v for k, v in metrics.items() if not (isinstance(v, float) and np.isnan(v))}
    return kept, [k for k in metrics if k not in kept]


def argmax_correct(scores: np.ndarray, label: int) -> bool:
    """True when ``label`` is the first index of the maximum of ``scores`` (``np.argmax``).

    The rule of the benchmarks whose original code takes an argmax (WhatsUp, SPEC): a tie with an
    option listed *after* the true one counts right, a tie with one listed *before* it counts
    wrong. Their protocols say so; everywhere else ties count as wrong.
    """
    scores = np.asarray(scores).reshape(-1)
    return bool(int(np.argmax(scores)) == int(label))

