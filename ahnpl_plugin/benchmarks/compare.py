"""Paired comparison of two evaluated models on the same items.

    python -m ahnpl_plugin.benchmarks.compare RUN_A/result/test_epocheval.items.json \\
        RUN_B/result/test_epocheval.items.json [--names A B]

Reads the per-item outcomes each suite run writes (``result/<split>_epoch<e>.items.json``),
keeps the items both runs evaluated (matched by id), and prints per protocol: both values, the
difference A - B with its paired 95% bootstrap interval, and a two-sided p-value (exact McNemar
for a single accuracy, paired bootstrap for means).
"""

from __future__ import annotations

import argparse
import sys
from typing import Mapping

import numpy as np

from ahnpl_plugin.data.jsonio import read_json
from ahnpl_plugin.errors import BenchmarkFormatError
from .protocols import ItemOutcomes, Protocol, protocol_table
from .stats import PairedResult, paired_test


def compare_outcomes(a: Mapping[str, ItemOutcomes], b: Mapping[str, ItemOutcomes]) -> dict[str, PairedResult]:
    """Protocol name -> paired result, for every protocol of a benchmark both evaluated."""
    results = {}
    for name, protocol in protocol_table().items():
        if not isinstance(protocol, Protocol) or protocol.benchmark not in a or protocol.benchmark not in b:
            continue
        oa, ob = a[protocol.benchmark], b[protocol.benchmark]
        index_b = {item: i for i, item in enumerate(ob.ids)}
        shared = [(i, index_b[item]) for i, item in enumerate(oa.ids) if item in index_b]
        if not shared:
            continue
        ia, ib = (np.array(x) for x in zip(*shared))
        parts = [oa.parts[i] for i in ia]
        if not any(protocol.rule.reads(p) for p in parts):
            continue
        results[name] = paired_test(protocol.rule, parts, oa.outcomes[protocol.outcome][ia],
                                    ob.outcomes[protocol.outcome][ib])
    return results


def render_comparison(results: Mapping[str, PairedResult], name_a: str, name_b: str) -> str:
    lines = [f"| protocol | n | {name_a} | {name_b} | difference [95% CI] | p | test |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for protocol, r in results.items():
        lines.append(f"| {protocol} | {r.n} | {100 * r.value_a:.1f} | {100 * r.value_b:.1f} | "
                     f"{100 * r.difference:+.1f} [{100 * r.low:+.1f}, {100 * r.high:+.1f}] | {r.p_value:.3g} | "
                     f"{r.method} |")
    return "\n".join(lines) + "\n"


def read_items(path: str) -> dict[str, ItemOutcomes]:
    data = read_json(path, BenchmarkFormatError)
    return {name: ItemOutcomes.from_json(value) for name, value in data.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ahnpl_plugin.benchmarks.compare", description=__doc__)
    parser.add_argument("items_a")
    parser.add_argument("items_b")
    parser.add_argument("--names", nargs=2, default=("A", "B"))
    args = parser.parse_args(argv)
    try:
        a, b = read_items(args.items_a), read_items(args.items_b)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: cannot read per-item outcomes: {exc}", file=sys.stderr)
        return 2
    results = compare_outcomes(a, b)
    if not results:
        print("error: the two files share no benchmark items", file=sys.stderr)
        return 2
    print(render_comparison(results, *args.names), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
