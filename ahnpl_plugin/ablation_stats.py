"""Per-seed numbers of an ablation -> means, bootstrap intervals, differences to a baseline, tables.

Pure numpy. ``results[variant][seed]`` is the ``test`` dict of a run's ``results.json`` (held-out
accuracy per category in [0, 1], key ``average`` = the mean over categories).

Interval: percentile bootstrap over seeds (resample the seeds with replacement, ``resamples``
times, with a fixed generator seed so the table is reproducible). A difference to the baseline is
paired by seed (the same seed's world order and initialisation): the interval is the bootstrap of
the mean of per-seed differences over the seeds both variants have. With fewer than 2 seeds there
is no interval ("n/a"). Five seeds or more before any claim (issue 20).
"""

from __future__ import annotations

import numpy as np

CATEGORIES = ("attribute_swap", "relation_swap", "attribute_replace", "object_replace", "relation_replace", "average")
CATEGORY_LABELS = {
    "attribute_swap": "attr swap", "relation_swap": "rel swap", "attribute_replace": "attr repl",
    "object_replace": "obj repl", "relation_replace": "rel repl", "average": "mean",
}


def bootstrap_interval(values, resamples: int = 10_000, level: float = 0.95, seed: int = 0):
    """``(low, high)`` percentile bootstrap interval of the mean of ``values``; None below 2 values."""
    values = np.asarray(values, dtype=float)
    if values.size < 2:
        return None
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(resamples, values.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def summarise(results: dict[str, dict[int, dict]], baseline: str) -> dict[str, dict]:
    """Per variant and category: per-seed values, mean, interval, and the paired difference to ``baseline``."""
    summary = {}
    base = results.get(baseline, {})
    for name, per_seed in results.items():
        seeds = sorted(per_seed)
        rows = {}
        for cat in CATEGORIES:
            values = [per_seed[s][cat] for s in seeds if per_seed[s].get(cat) is not None]
            if not values:
                continue
            row = {"seeds": [s for s in seeds if per_seed[s].get(cat) is not None], "values": values,
                   "mean": float(np.mean(values)), "interval": bootstrap_interval(values)}
            shared = [s for s in seeds if s in base and per_seed[s].get(cat) is not None and base[s].get(cat) is not None]
            if shared and name != baseline:
                diffs = [per_seed[s][cat] - base[s][cat] for s in shared]
                row["diff"] = float(np.mean(diffs))
                row["diff_interval"] = bootstrap_interval(diffs)
                row["diff_seeds"] = shared
            rows[cat] = row
        summary[name] = rows
    return summary


def _pct(x) -> str:
    return f"{100 * x:.1f}"


def _interval(iv) -> str:
    return "n/a" if iv is None else f"[{_pct(iv[0])}, {_pct(iv[1])}]"


def _signed(x) -> str:
    return f"{100 * x:+.1f}"


def format_table(summary: dict[str, dict], labels: dict[str, str], baseline: str) -> str:
    """Markdown: one row per variant; held-out accuracy (%) per category (mean over seeds), the mean
    with its interval, and the difference of the mean to ``baseline`` with its paired interval."""
    head = [CATEGORY_LABELS[c] for c in CATEGORIES[:-1]]
    lines = [
        "| variant | seeds | " + " | ".join(head) + " | mean | 95% CI | Δ mean vs " + labels.get(baseline, baseline)
        + " | Δ 95% CI |",
        "|---|---:|" + "---:|" * len(head) + "---:|---|---:|---|",
    ]
    for name, rows in summary.items():
        avg = rows.get("average")
        if avg is None:
            continue
        cells = [_pct(rows[c]["mean"]) if c in rows else "–" for c in CATEGORIES[:-1]]
        diff = _signed(avg["diff"]) if "diff" in avg else ("0 (baseline)" if name == baseline else "–")
        diff_iv = _interval(avg.get("diff_interval")) if "diff" in avg else ""
        lines.append(
            f"| {labels.get(name, name)} | {len(avg['values'])} | " + " | ".join(cells)
            + f" | {_pct(avg['mean'])} | {_interval(avg['interval'])} | {diff} | {diff_iv} |"
        )
    return "\n".join(lines)


def format_per_seed(summary: dict[str, dict], labels: dict[str, str]) -> str:
    """Markdown: held-out mean (%) of every variant for every seed."""
    seeds = sorted({s for rows in summary.values() for s in rows.get("average", {}).get("seeds", [])})
    lines = ["| variant | " + " | ".join(f"seed {s}" for s in seeds) + " |", "|---|" + "---:|" * len(seeds)]
    for name, rows in summary.items():
        avg = rows.get("average")
        if avg is None:
            continue
        by_seed = dict(zip(avg["seeds"], avg["values"]))
        lines.append(f"| {labels.get(name, name)} | " + " | ".join(
            _pct(by_seed[s]) if s in by_seed else "–" for s in seeds) + " |")
    return "\n".join(lines)
