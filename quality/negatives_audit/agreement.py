"""Several readers of the same negatives: each one's precision, what all accept, and how far they agree.

A round read by more than one reader has its files side by side: ``roundN_<set>_<type>.tsv`` (the
first reader, with the caption and negative), ``..._reader2.tsv``, ``..._readerA.tsv``,
``..._readerB.tsv`` (independent readers, each blind to the others: they saw only id, type,
caption and negative). Per round this prints, with 95% Wilson intervals, each reader's precision,
the precision when a negative counts only if every reader accepts it (the strict reading), and
Cohen's kappa of each pair of readers' accept/reject judgements.

    python quality/negatives_audit/agreement.py [ROUND_PREFIX ...]
"""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

HERE = Path(__file__).parent


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """95% Wilson score interval of k successes in n trials, in percent."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (100 * (centre - half), 100 * (centre + half))


def cohen_kappa(a: list[bool], b: list[bool]) -> float:
    """Cohen's kappa of two readers' accept (True) / reject judgements of the same rows."""
    n = len(a)
    observed = sum(x == y for x, y in zip(a, b)) / n
    pa, pb = sum(a) / n, sum(b) / n
    expected = pa * pb + (1 - pa) * (1 - pb)
    return 1.0 if expected == 1 else (observed - expected) / (1 - expected)


def read_accepts(path: Path) -> dict[str, bool]:
    with path.open(encoding="utf-8", newline="") as f:
        return {row["id"]: row["accepted"] == "1" for row in csv.DictReader(f, delimiter="\t")}


READER_SUFFIXES = {"": "1", "_reader2": "2", "_readerA": "A", "_readerB": "B"}


def readings() -> dict[str, dict[str, Path]]:
    """{round stem: {reader name: file}} for every round read by two readers or more."""
    found: dict[str, dict[str, Path]] = {}
    for path in HERE.glob("round*.tsv"):
        stem, reader = path.stem, ""
        for suffix in ("_reader2", "_readerA", "_readerB"):
            if stem.endswith(suffix):
                stem, reader = stem[: -len(suffix)], suffix
        with path.open(encoding="utf-8") as f:
            if "accepted" not in f.readline().split("\t"):
                continue
        found.setdefault(stem, {})[READER_SUFFIXES[reader]] = path
    return {k: v for k, v in found.items() if len(v) >= 2}


def compare(files: dict[str, Path]) -> dict:
    """Each reader's accepted count, the rows all accept, and Cohen's kappa of each pair."""
    judged = {name: read_accepts(path) for name, path in sorted(files.items())}
    ids = sorted(next(iter(judged.values())), key=int)
    if any(sorted(j, key=int) != ids for j in judged.values()):
        raise SystemExit(f"{', '.join(p.name for p in files.values())} hold different ids")
    names = list(judged)
    columns = {name: [judged[name][i] for i in ids] for name in names}
    kappas = {f"{a}-{b}": cohen_kappa(columns[a], columns[b])
              for k, a in enumerate(names) for b in names[k + 1:]}
    return {"n": len(ids), "accepted": {name: sum(columns[name]) for name in names},
            "all": sum(all(columns[name][k] for name in names) for k in range(len(ids))), "kappa": kappas}


def fmt(k: int, n: int) -> str:
    lo, hi = wilson(k, n)
    return f"{k}/{n} = {100 * k / n:.1f}% [{lo:.1f}, {hi:.1f}]"


def round_key(stem: str) -> tuple[int, str]:
    """Round number, then name ("round33b_..." is a re-reading of round 33's changed rows)."""
    return (int(stem[5:].split("_")[0].rstrip("abcdefghijklmnopqrstuvwxyz")), stem)


def main(argv: list[str]) -> int:
    print("Readers: 1 = the first reader of rounds 1-17; 2, A, B = independent readers (README.md).\n")
    print("| round | each reader | all accept (strict) | Cohen's kappa |")
    print("|---|---|---|---|")
    for stem, files in sorted(readings().items(), key=lambda kv: round_key(kv[0])):
        if argv and not any(stem.startswith(p) for p in argv):
            continue
        r = compare(files)
        n = r["n"]
        each = "; ".join(f"{name}: {fmt(k, n)}" for name, k in r["accepted"].items())
        kappa = ", ".join(f"{pair} {value:.2f}" for pair, value in r["kappa"].items())
        print(f"| `{stem}` | {each} | {fmt(r['all'], n)} | {kappa} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
