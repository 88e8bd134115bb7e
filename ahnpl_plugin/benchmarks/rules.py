"""Aggregation rules as data: how a benchmark turns per-item outcomes into its headline number.

Each benchmark added for issue 16 declares one :class:`AggregationRule` (its ``RULE``), and its
loader hands it to :class:`~ahnpl_plugin.benchmarks.base.Benchmark`; ``score()`` reports it under
``"protocol"`` and :meth:`~ahnpl_plugin.benchmarks.base.Benchmark.item_outcomes` gives the per-item
correctness the rule averages (for confidence intervals). Plain data, no imports beyond the
standard library.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class AggregationRule:
    """The published aggregation of one benchmark.

    ``headline``: the metric key of ``score()`` that sums the benchmark up; ``rule``: how it is
    computed from per-item outcomes (named buckets, macro or micro means, order of averaging);
    ``ties``: how a tie between the true option and a false one counts; ``source``: whose rule.
    """

    benchmark: str
    headline: str
    rule: str
    ties: str
    source: str

    def describe(self) -> str:
        """One line: ``"<benchmark>: <headline> = <rule> (ties: <ties>; rule of <source>)"``."""
        return (f"{self.benchmark}: {self.headline} = {self.rule} (ties: {self.ties}; "
                f"rule of {self.source})")

    def as_dict(self) -> dict:
        return asdict(self)
