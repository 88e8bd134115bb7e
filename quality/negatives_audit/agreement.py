"""Two readers of the same negatives: each one's precision, what both accept, and how far they agree.

Every round file ``roundN_*.tsv`` that has a ``roundN_*_reader2.tsv`` beside it was read twice,
each reader blind to the other (the second reader saw only id, type, caption and negative). Per
round this prints, with 95% Wilson intervals: reader 1's precision, reader 2's, the precision when
a negative counts only if both accept it (the strict reading), the rows each rejects alone, and
Cohen's kappa of the two accept/reject judgements.

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


def compare(first: Path, second: Path) -> dict:
    one, two = read_accepts(first), read_accepts(second)
    if set(one) != set(two):
        raise SystemExit(f"{first.name} and {second.name} hold different ids")
    ids = sorted(one, key=int)
    a, b = [one[i] for i in ids], [two[i] for i in ids]
    both = [x and y for x, y in zip(a, b)]
    return {"round": first.stem, "n": len(ids), "reader1": sum(a), "reader2": sum(b), "both": sum(both),
            "only1_rejects": sum(not x and y for x, y in zip(a, b)),
            "only2_rejects": sum(x and not y for x, y in zip(a, b)), "kappa": cohen_kappa(a, b)}


def pairs(prefixes: list[str]) -> list[tuple[Path, Path]]:
    found = []
    for second in sorted(HERE.glob("round*_reader2.tsv"), key=lambda p: (int(p.name[5:].split("_")[0]), p.name)):
        first = second.with_name(second.name.replace("_reader2", ""))
        if first.is_file() and (not prefixes or any(first.stem.startswith(p) for p in prefixes)):
            found.append((first, second))
    return found


def fmt(k: int, n: int) -> str:
    lo, hi = wilson(k, n)
    return f"{k}/{n} = {100 * k / n:.1f}% [{lo:.1f}, {hi:.1f}]"


def main(argv: list[str]) -> int:
    print("| round | reader 1 | reader 2 | both accept (strict) | rejected by 1 only / 2 only | kappa |")
    print("|---|---|---|---|---|---|")
    for first, second in pairs(argv):
        r = compare(first, second)
        n = r["n"]
        print(f"| `{r['round']}` | {fmt(r['reader1'], n)} | {fmt(r['reader2'], n)} | {fmt(r['both'], n)} | "
              f"{r['only1_rejects']} / {r['only2_rejects']} | {r['kappa']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
