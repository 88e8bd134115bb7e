"""Would re-tagging a relation negative and rejecting it when a word's tag changes raise precision?

An idea from the generator 2.1 notes (the small parser misreads some captions; a swap that makes a
word read as another part of speech is suspect). For every judged relation row of the given audit
files: tag caption and negative with the generator's spaCy model, compare the multisets of
(word, first two letters of its Penn tag), articles and punctuation left out; a row is "kept" when
they are equal. Prints, per file, how many accepted rows and failures the check would keep.

    python quality/negatives_audit/pos_stability.py quality/negatives_audit/round{5,6,7}_fresh.tsv
"""

from __future__ import annotations

import collections
import csv
import sys

IGNORED = {"a", "an", "the"}


def profile(doc) -> collections.Counter:
    return collections.Counter((t.lower_, t.tag_[:2]) for t in doc if not t.is_punct and t.lower_ not in IGNORED)


def main(paths: list[str]) -> None:
    from ahnpl_plugin.negatives.tagger import load_tagger

    nlp = load_tagger(None, parser=True)
    for path in paths:
        with open(path, newline="") as f:
            rows = [r for r in csv.DictReader(f, delimiter="\t") if r["type"] == "relation"]
        counts = collections.Counter()
        for row in rows:
            stable = profile(nlp(row["caption"])) == profile(nlp(row["negative"]))
            counts[(row["accepted"] == "1", stable)] += 1
        kept_ok, kept_bad = counts[(True, True)], counts[(False, True)]
        before = (kept_ok + counts[(True, False)]) / len(rows)
        print(f"{path}: accepted kept {kept_ok}, dropped {counts[(True, False)]}; failures kept {kept_bad}, "
              f"dropped {counts[(False, False)]}; precision {100 * before:.1f}% -> {100 * kept_ok / (kept_ok + kept_bad):.1f}%, "
              f"keeps {100 * (kept_ok + kept_bad) / len(rows):.0f}% of the negatives")


if __name__ == "__main__":
    main(sys.argv[1:])
