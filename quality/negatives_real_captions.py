"""Negatives on real COCO captions: valid rates, simple checks and blind preference per generator
configuration, beside SugarCrepe's own negatives of the same captions. Not a test.

Captions: the positive captions of SugarCrepe (github.com/RAIVNLab/sugar-crepe, ``data/*.json``,
field ``caption``; COCO val2017 captions), distinct, ordered by the SHA-1 of their text. The first
``--measure`` (2,000) are measured; the rest (2,345) are held out: the blind models learn only from
them. For each configuration the script generates the negatives of both sets, then reports

- valid rate, newly doubled words, unchanged-meaning candidates (audit.py's simple checks);
- blind preference (how often a text-only model prefers the caption to its negative, on the
  measured captions): a logistic regression on (caption, negative) pairs of the held-out captions
  (audit.PairClassifier) and an interpolated trigram model of the held-out captions (the model
  issue 17 measured with); SugarCrepe's own negatives get the same two models (each learning from
  the held-out captions' SugarCrepe pairs of its category);
- how many measured captions have two attribute adjectives on different nouns (the most adj_swap
  could reach), by the parse.

    python quality/negatives_real_captions.py --sugarcrepe PATH/TO/sugar-crepe [--save-dir DIR]

``--save-dir`` writes each configuration's negatives of the measured captions (JSONL with header)
for reading (see quality/negatives_audit/).

``--lm-context TXT`` (one caption per line) gives the generator more captions along with the
measured and held-out ones, as training does (it reads all of COCO train at once): plausibility
selection learns its model from every caption of its input, and 4,345 captions make a sparse one.
Captions of the measured or held-out sets are dropped from the context; the blind models still
learn only from the held-out captions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

# (rules, plausibility, margin, swap words); the last is generator 2.1's swaps
CONFIGS = (("v1", "off", None, None), ("v2", "off", None, None), ("v2", "ngram", None, None),
           ("v2", "ngram", None, "any"))
SUGARCREPE_TYPES = ("swap_obj", "swap_att", "replace_obj", "replace_att", "replace_rel")


def sugarcrepe_captions(folder: Path) -> tuple[list[str], dict[str, dict[str, str]]]:
    """Distinct positive captions (SHA-1 order) and {category: {caption: negative}}."""
    data = folder / "data" if (folder / "data").is_dir() else folder
    captions: dict[str, None] = {}
    negatives: dict[str, dict[str, str]] = {}
    for path in sorted(data.glob("*.json")):
        items = json.loads(path.read_text(encoding="utf-8"))
        for item in items.values():
            caption = item["caption"].strip()
            captions.setdefault(caption)
            negatives.setdefault(path.stem, {}).setdefault(caption, item["negative_caption"].strip())
    ordered = sorted(captions, key=lambda c: hashlib.sha1(c.encode()).hexdigest())
    return ordered, negatives


def blind_rates(train_pairs, test_pairs, train_captions) -> tuple[float, float]:
    from ahnpl_plugin.negatives.audit import PairClassifier, TrigramModel, preference

    classifier = PairClassifier(train_captions).fit(train_pairs)
    trigram = TrigramModel(train_captions)
    return preference(classifier.score, test_pairs), preference(trigram.logprob, test_pairs)


def adj_swap_opportunities(captions: list[str]) -> int:
    """Captions with two adjectives (JJ, amod/acomp) describing different nouns, by the parse."""
    from ahnpl_plugin.negatives.tagger import load_tagger

    nlp = load_tagger(None, parser=True)
    count = 0
    for doc in nlp.pipe(captions, batch_size=256):
        heads = {t.head.i for t in doc if t.tag_ == "JJ" and t.dep_ in ("amod", "acomp")}
        count += len(heads) >= 2
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sugarcrepe", required=True, help="a sugar-crepe checkout (or its data/ folder)")
    parser.add_argument("--measure", type=int, default=2000)
    parser.add_argument("--save-dir", default=None)
    parser.add_argument("--margins", type=float, nargs="*", default=[],
                        help="also measure v2/ngram with these plausibility margins (the trade-off)")
    parser.add_argument("--only-margins", action="store_true", help="skip the three default configurations")
    parser.add_argument("--lm-context", default=None, metavar="TXT",
                        help="more captions (one per line) generated along with the measured and held-out ones")
    args = parser.parse_args()

    from ahnpl_plugin.negatives import AHNPL_TYPES, field_name, generate_negatives, negatives_header
    from ahnpl_plugin.negatives.audit import unchanged_meaning
    from ahnpl_plugin.negatives.parsed import new_doubled_word
    from ahnpl_plugin.negatives.records import write_jsonl
    from ahnpl_plugin.negatives.vocabulary import Vocabulary

    captions, sugarcrepe = sugarcrepe_captions(Path(args.sugarcrepe))
    measured, heldout = captions[:args.measure], captions[args.measure:]
    print(f"SugarCrepe positives: {len(captions)} distinct COCO captions; {len(measured)} measured, "
          f"{len(heldout)} held out (the blind models learn only from these)")
    context = []
    if args.lm_context:
        known = set(captions)
        lines = Path(args.lm_context).read_text(encoding="utf-8").splitlines()
        context = [c for c in dict.fromkeys(line.strip() for line in lines) if c and c not in known]
        print(f"context: {len(context)} more captions from {args.lm_context} generated along with them")
    if args.save_dir:
        Path(args.save_dir).mkdir(parents=True, exist_ok=True)
    synonyms = Vocabulary.load().synonyms
    rows = []
    configs = [] if args.only_margins else list(CONFIGS)
    configs += [("v2", "ngram", m, None) for m in args.margins]
    for rules, plausibility, margin, words in configs:
        options = dict(rules=rules, plausibility=plausibility, plausibility_margin=margin, swap_words=words)
        name = (f"{rules}/{plausibility}" + ("" if margin is None else f"/margin {margin:g}")
                + ("" if words is None else f"/swap words {words}"))
        start = time.perf_counter()
        if context:  # one input, one plausibility model, as in training
            every = generate_negatives(measured + heldout + context, **options)
            results, held = every[:len(measured)], every[len(measured):len(measured) + len(heldout)]
        else:
            results = generate_negatives(measured, **options)
            held = generate_negatives(heldout, **options)
        seconds = time.perf_counter() - start
        done = len(measured) + (len(heldout) + len(context) if context else 0)
        if args.save_dir:
            header = negatives_header(**options)
            write_jsonl(Path(args.save_dir) / f"negatives_{name.replace('/', '_').replace(' ', '')}.jsonl",
                        ({"caption": c, **r} for c, r in zip(measured, results)), header=header)
        train_pairs = [(c, r[field_name(t)]) for c, r in zip(heldout, held) for k, t in enumerate(AHNPL_TYPES)
                       if r["valid_caption"][k + 1]]
        from ahnpl_plugin.negatives.audit import PairClassifier, TrigramModel, preference

        classifier = PairClassifier(heldout).fit(train_pairs)
        trigram = TrigramModel(heldout)
        for k, t in enumerate(AHNPL_TYPES):
            pairs = [(c, r[field_name(t)]) for c, r in zip(measured, results) if r["valid_caption"][k + 1]]
            doubled = sum(new_doubled_word(c, n) for c, n in pairs)
            same = sum(unchanged_meaning(c, n, t, synonyms) is not None for c, n in pairs)
            rows.append((name, t, len(pairs) / len(measured), doubled, same,
                         preference(classifier.score, pairs), preference(trigram.logprob, pairs), len(pairs)))
        print(f"  {name}: {done / seconds:.0f} captions/s (1 worker, this machine, now)")
    for category in SUGARCREPE_TYPES:
        by_caption = sugarcrepe.get(category, {})
        train_pairs = [(c, by_caption[c]) for c in heldout if c in by_caption]
        test_pairs = [(c, by_caption[c]) for c in measured if c in by_caption]
        lr, tri = blind_rates(train_pairs, test_pairs, heldout)
        rows.append(("SugarCrepe", category, float("nan"), 0, 0, lr, tri, len(test_pairs)))
    print("\n| negatives | type | valid | doubled | same? | blind LR | blind trigram | pairs |")
    print("|---|---|---|---|---|---|---|---|")
    for config, t, valid, doubled, same, lr, tri, n in rows:
        valid_text = "-" if valid != valid else f"{100 * valid:.1f}%"
        print(f"| {config} | {t} | {valid_text} | {doubled} | {same} | {100 * lr:.1f}% | {100 * tri:.1f}% | {n} |")
    print(f"\nadj_swap opportunity: {adj_swap_opportunities(measured)} of {len(measured)} measured captions have "
          "two adjectives (JJ, amod/acomp) on different words")


if __name__ == "__main__":
    main()
