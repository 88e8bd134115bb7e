"""95% intervals for every table cell, and a paired test between two models on the same items.

* A cell whose rule is one pool of items (an accuracy: Winoground group, a SugarCrepe file) gets
  the Wilson score interval of ``correct`` out of ``n``.
* Any other rule (means of parts, means of means) gets a percentile bootstrap over items,
  stratified by part: each part's items are resampled with replacement, which for outcomes that
  are right/wrong is exactly a binomial draw of each part's correct count, so ``B`` replicates
  cost ``B x parts`` draws, not ``B x items``.
* Two models scored on the same items: the difference of their values under a protocol, with a
  paired bootstrap interval (each part's items resampled jointly: a multinomial draw over the
  four (right/wrong, right/wrong) cells) and a two-sided p-value; for a single pool also the
  exact McNemar test on the discordant items.

numpy and the standard library only (no scipy in the project's environment).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Mapping

import numpy as np

from .protocols import Pool, Rule

Z95 = 1.959963984540054
BOOTSTRAP_REPLICATES = 2000
BOOTSTRAP_SEED = 0


def wilson_interval(correct: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion (NaNs for ``n == 0``)."""
    if n <= 0:
        return float("nan"), float("nan")
    p = correct / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # the interval always holds p; clamping removes rounding (p = 0 gave a lower bound of 5.6e-17)
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))


def _replicates(rule: Rule, draws: Mapping[str, np.ndarray], totals: Mapping[str, int]) -> np.ndarray:
    """The rule's value for each bootstrap replicate of per-part correct counts."""
    n_rep = len(next(iter(draws.values())))
    return np.array([rule.value({p: (draws[p][b], totals[p]) for p in draws}) for b in range(n_rep)])


def bootstrap_interval(rule: Rule, counts: Mapping[str, tuple[int, int]], *,
                       replicates: int = BOOTSTRAP_REPLICATES, seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """Percentile 95% interval of ``rule`` under an item bootstrap stratified by part."""
    counts = {p: (k, n) for p, (k, n) in counts.items() if n > 0}
    if not counts:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    draws = {p: rng.binomial(n, k / n, size=replicates) for p, (k, n) in counts.items()}
    values = _replicates(rule, draws, {p: n for p, (_, n) in counts.items()})
    values = values[~np.isnan(values)]
    if not values.size:  # the rule reads none of the parts present
        return float("nan"), float("nan")
    return float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975))


def interval(rule: Rule, counts: Mapping[str, tuple[int, int]], **kwargs) -> tuple[float, float, str]:
    """``(low, high, method)``: Wilson for a single pool, the stratified bootstrap otherwise."""
    if isinstance(rule, Pool):
        chosen = rule.parts(list(counts))
        return (*wilson_interval(sum(counts[p][0] for p in chosen), sum(counts[p][1] for p in chosen)), "wilson")
    return (*bootstrap_interval(rule, counts, **kwargs), "bootstrap")


# ------------------------------------------------------------------------------ paired test
@dataclass
class PairedResult:
    """Model A minus model B under one protocol, on the items both were scored on."""

    n: int                 # items both evaluated
    value_a: float
    value_b: float
    difference: float      # value_a - value_b
    low: float             # 95% paired-bootstrap interval of the difference
    high: float
    p_value: float         # two-sided: exact McNemar for a single pool, bootstrap otherwise
    method: str
    discordant: tuple[int, int] | None = None  # (A right & B wrong, A wrong & B right), single pool

    def as_dict(self) -> dict:
        return asdict(self)


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value: discordant items under Binomial(a_only + b_only, 1/2)."""
    m = a_only + b_only
    if m == 0:
        return 1.0
    tail = sum(math.comb(m, i) for i in range(min(a_only, b_only) + 1)) / 2.0 ** m
    return min(1.0, 2.0 * tail)


def paired_test(rule: Rule, parts, correct_a, correct_b, *, replicates: int = BOOTSTRAP_REPLICATES,
                seed: int = BOOTSTRAP_SEED) -> PairedResult:
    """Compare two models' per-item outcomes (aligned: the same item at each position)."""
    parts = list(parts)
    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    if not (len(parts) == len(a) == len(b)):
        raise ValueError(f"paired_test: {len(parts)} parts, {len(a)} and {len(b)} outcomes")
    cells: dict[str, np.ndarray] = {}  # part -> counts of (11, 10, 01, 00)
    for part, x, y in zip(parts, a, b):
        cell = cells.setdefault(part, np.zeros(4, dtype=np.int64))
        cell[(0 if x else 2) + (0 if y else 1)] += 1
    totals = {p: int(c.sum()) for p, c in cells.items()}
    counts_a = {p: (int(c[0] + c[1]), totals[p]) for p, c in cells.items()}
    counts_b = {p: (int(c[0] + c[2]), totals[p]) for p, c in cells.items()}
    value_a, value_b = rule.value(counts_a), rule.value(counts_b)
    rng = np.random.default_rng(seed)
    draws = {p: rng.multinomial(totals[p], c / totals[p], size=replicates) for p, c in cells.items()}
    rep_a = _replicates(rule, {p: d[:, 0] + d[:, 1] for p, d in draws.items()}, totals)
    rep_b = _replicates(rule, {p: d[:, 0] + d[:, 2] for p, d in draws.items()}, totals)
    diff = rep_a - rep_b
    low, high = float(np.quantile(diff, 0.025)), float(np.quantile(diff, 0.975))
    if isinstance(rule, Pool):
        chosen = rule.parts(list(cells))
        a_only = int(sum(cells[p][1] for p in chosen))
        b_only = int(sum(cells[p][2] for p in chosen))
        return PairedResult(int(sum(totals[p] for p in chosen)), value_a, value_b, value_a - value_b, low, high,
                            mcnemar_exact(a_only, b_only), "mcnemar-exact", (a_only, b_only))
    centred = diff - diff.mean()  # bootstrap test of "no difference": shift the replicates to 0
    observed = abs(value_a - value_b)
    p_value = float((np.sum(np.abs(centred) >= observed - 1e-12) + 1) / (len(diff) + 1))
    return PairedResult(int(sum(totals.values())), value_a, value_b, value_a - value_b, low, high,
                        min(1.0, p_value), "paired-bootstrap")
