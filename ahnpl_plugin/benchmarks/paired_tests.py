"""Paired significance tests between two models scored on the same items. Pure numpy/math.

Two models evaluated on the same caption-choice items give two boolean outcome vectors. Only the
discordant items carry evidence: ``b`` (A right, B wrong) and ``c`` (A wrong, B right). The exact
McNemar test asks whether ``b`` and ``c`` differ more than a fair coin would make them:
p = min(1, 2 * P[Binomial(b + c, 1/2) <= min(b, c)]) (two-sided; p = 1 when b = c).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PairedResult:
    """Outcome counts and the exact McNemar p-value of model B against model A."""

    n: int  # items
    accuracy_a: float
    accuracy_b: float
    b: int  # A right, B wrong
    c: int  # A wrong, B right
    p_value: float

    @property
    def delta(self) -> float:
        """Accuracy of B minus accuracy of A."""
        return self.accuracy_b - self.accuracy_a


def _log_binom_pmf(k: int, n: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) - n * math.log(2.0)


def mcnemar_exact_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value of ``b`` vs ``c`` discordant pairs."""
    n, k = int(b) + int(c), min(int(b), int(c))
    if n == 0 or b == c:
        return 1.0
    logs = [_log_binom_pmf(i, n) for i in range(k + 1)]
    top = max(logs)
    tail = math.exp(top) * sum(math.exp(v - top) for v in logs)
    return float(min(1.0, 2.0 * tail))


def paired_mcnemar(correct_a, correct_b) -> PairedResult:
    """:class:`PairedResult` of two outcome vectors over the same items (same order)."""
    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired outcomes must be two vectors over the same items, got {a.shape} and {b.shape}")
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    n = int(a.size)
    return PairedResult(n, float(a.mean()) if n else float("nan"), float(b.mean()) if n else float("nan"),
                        only_a, only_b, mcnemar_exact_p(only_a, only_b))
