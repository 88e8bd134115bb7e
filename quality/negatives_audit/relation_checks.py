"""Which checks on a relation swap's two phrases separate the read failures from the accepted rows?

The evidence behind generator 2.2's ``swap_words="known"`` (README.md, "Generator 2.2").
For every judged relation row of rounds 3-6 (as re-judged on generator 2.1's rules, ``*_v2_1.tsv``)
and round 7, the generator (2.1's relation swaps: ``swap_words="any"``) runs again on the
caption set the round drew from, with its swaps recorded, so the two moved token spans of each
judged negative are known. Then, per check, how many failures and accepted rows it would drop:

- ``re-parse``: parse the negative again; the multiset of head nouns (nouns that are not
  ``compound``), of their (dependency, head word) slots and of their modifiers must stay the same;
- ``stable parse``: the caption re-cased, or its full stop toggled, parses the same over the span;
- ``bare phrase``: one of the two phrases opens without a determiner, possessive or number;
- ``not both known``: a head noun (the phrase's last) is in no noun category of the vocabulary.

    python quality/negatives_audit/rejudge.py captions PATH/TO/sugar-crepe CAPTIONS_DIR
    python quality/negatives_audit/relation_checks.py CAPTIONS_DIR
"""

from __future__ import annotations

import collections
import csv
import sys
from pathlib import Path

HERE = Path(__file__).parent
ROUNDS = ("round3_final_v2_1", "round4_final_unrefined_v2_1", "round5_fresh_v2_1", "round6_fresh_v2_1", "round7_fresh")
SETS = ("measured", "heldout", "unrefined")
DETERMINERS = {"DT", "PDT", "PRP$", "WP$", "CD"}


def recorded_swaps(captions_dir: Path) -> dict[str, tuple]:
    """negative text -> (tokens, span, span) of every relation swap the generator built."""
    from ahnpl_plugin.negatives import generate_negatives, swaps

    records: dict[str, tuple] = {}
    original = swaps.swap_spans

    def recording(tokens, a, b, parsed=False):
        out = original(tokens, a, b, parsed)
        records.setdefault(out, (tokens, a, b))
        return out

    swaps.swap_spans = recording
    try:
        for name in SETS:
            captions = [line for line in (captions_dir / f"{name}.txt").read_text(encoding="utf-8").splitlines() if line]
            generate_negatives(captions, types=["relation"], seed=0, swap_words="any")
    finally:
        swaps.swap_spans = original
    return records


def judged_rows(records: dict) -> list[tuple[str, dict, tuple]]:
    rows = []
    for name in ROUNDS:
        with open(HERE / f"{name}.tsv", newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                if row["type"] == "relation" and row["negative"] in records:
                    rows.append((name, row, records[row["negative"]]))
    return rows


def _head_noun(t) -> bool:
    return t.tag_[:2] in ("NN", "PR") and t.dep_ != "compound" and t.tag_ != "PRP$"


def _structure(doc):
    heads = collections.Counter(t.lower_ for t in doc if _head_noun(t))
    slots = collections.Counter((t.dep_, "<N>" if _head_noun(t.head) else t.head.lower_) for t in doc if _head_noun(t))
    mods = collections.Counter((t.lower_, tuple(sorted(c.lower_ for c in t.children
                                                       if c.dep_ in ("compound", "amod", "nummod", "poss"))))
                               for t in doc if _head_noun(t))
    return heads, slots, mods


def _variants(text: str) -> list[str]:
    s = text.rstrip()
    return [s[:-1].rstrip() if s.endswith(".") else s + ".", s[0].swapcase() + s[1:]]


def flags(nlp, vocabulary, row: dict, swap: tuple) -> dict[str, bool]:
    """check name -> True when the check would drop the row."""
    tokens, a, b = swap
    (a0, a1), (b0, b1) = sorted((a, b))
    caption = "".join(t.text + t.ws for t in tokens)
    doc, negative = nlp(caption), nlp(row["negative"])
    span = range(a0, b1)
    signature = [(doc[i].tag_, doc[i].dep_, doc[i].head.i) for i in span]
    unstable = False
    for variant in nlp.pipe(_variants(caption)):
        if all(i < len(variant) and variant[i].text == doc[i].text for i in span):
            unstable |= [(variant[i].tag_, variant[i].dep_, variant[i].head.i) for i in span] != signature

    def known(i: int, j: int) -> bool:
        nouns = [k for k in range(i, j) if tokens[k].tag.startswith("NN")]
        word = tokens[nouns[-1]].text.lower() if nouns else ""
        return bool(vocabulary.category_of(word, "noun") or vocabulary.category_of(vocabulary.singular(word), "noun"))

    return {"re-parse": _structure(doc) != _structure(negative), "stable parse": unstable,
            "bare phrase": tokens[a0].tag not in DETERMINERS or tokens[b0].tag not in DETERMINERS,
            "not both known": not (known(a0, a1) and known(b0, b1))}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    from ahnpl_plugin.negatives.tagger import load_tagger
    from ahnpl_plugin.negatives.vocabulary import Vocabulary

    rows = judged_rows(recorded_swaps(Path(argv[0])))
    nlp, vocabulary = load_tagger(None, parser=True), Vocabulary.load()
    counts = collections.Counter()
    for name, row, swap in rows:
        for check, dropped in flags(nlp, vocabulary, row, swap).items():
            for scope in ("all", name):
                counts[(scope, check, row["accepted"] == "1", dropped)] += 1
    for scope in ("all", "round7_fresh"):
        total = sum(v for k, v in counts.items() if k[0] == scope and k[1] == "re-parse")
        accepted = sum(v for k, v in counts.items() if k[0] == scope and k[1] == "re-parse" and k[2])
        print(f"\n{'rounds 3-7' if scope == 'all' else 'round 7'}: {total} judged relation rows, {total - accepted} failures")
        print("| check | failures caught | accepted rows dropped | precision of what stays |\n|---|---|---|---|")
        for check in ("re-parse", "stable parse", "bare phrase", "not both known"):
            kept_ok, kept_bad = counts[(scope, check, True, False)], counts[(scope, check, False, False)]
            print(f"| {check} | {counts[(scope, check, False, True)]} of {total - accepted} | "
                  f"{counts[(scope, check, True, True)]} of {accepted} | {100 * kept_ok / max(1, kept_ok + kept_bad):.1f}% "
                  f"(from {100 * accepted / total:.1f}%) |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
