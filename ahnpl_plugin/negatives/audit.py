"""``python -m ahnpl_plugin.negatives audit FILE``: how good are the negatives of a negatives file?

Printed as tables:

- the file's header (which generator, rules and model made it), when it has one;
- per type: valid rate; new doubled words ("dancing and dancing"); unchanged-meaning candidates
  found by simple checks (two words around "and"/"or" swapped, a swap around a symmetric relation
  such as "next to", a replacement by a synonym, the same words in another order for a
  replacement type);
- **blind preference** per type: how often a model that never sees the image prefers the caption
  to its negative, on a held-out split. The file's captions are split in two by a hash of the
  caption text (``--heldout-share`` of them held out): the models learn from the other part and
  are scored on the held-out part only. Two model families: a logistic regression on pairs
  (hashed word and word-pair features plus word-frequency statistics; it learns what negatives
  look like) and an interpolated trigram language model of the captions (the model the issue
  measured with; ``--lm-captions`` adds captions to train it on). 50% = cannot tell;
- a random sample of negatives per type for reading.

It works on any file with ``caption`` and ``<type>_aug_caption`` fields: the generator's output, a
CE-CLIP/AHNPL released file, or SugarCrepe's pairs converted to that layout.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import random
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from ahnpl_plugin.contract import INVALID
from ahnpl_plugin.negatives.parsed import SYMMETRIC_RELATIONS, new_doubled_word, words_of
from ahnpl_plugin.negatives.plausibility import lm_words

FIELD_SUFFIX = "_aug_caption"
HASH_DIM = 1 << 18
_ARTICLES = frozenset({"a", "an", "the"})
# Words after which a swapped phrase is an object: swapping it changes what the verb or
# preposition is about, even around "next to".
_GOVERNORS = frozenset({"on", "in", "at", "of", "with", "under", "into", "onto", "from", "over", "by", "to",
                        "inside", "behind", "above", "below", "near", "beside", "holding", "has", "have"})


# ------------------------------------------------------------------------------------ reading
def read_pairs(path: str | Path) -> tuple[dict | None, list[str], list[dict]]:
    """(header, types in file order, records) of a negatives JSONL file."""
    from ahnpl_plugin.negatives.records import read_header, read_records

    records = read_records(path)
    types: list[str] = []
    for record in records:
        for key in record:
            if key.endswith(FIELD_SUFFIX) and key[: -len(FIELD_SUFFIX)] not in types:
                types.append(key[: -len(FIELD_SUFFIX)])
    return read_header(path), types, records


def negative_of(record: dict, negative_type: str) -> str | None:
    text = record.get(negative_type + FIELD_SUFFIX, INVALID)
    return text if isinstance(text, str) and text != INVALID and text.strip() else None


def is_heldout(caption: str, share: float) -> bool:
    """The caption's side of the held-out split (by a hash of its text, so stable across runs)."""
    h = int.from_bytes(hashlib.blake2b(caption.strip().lower().encode(), digest_size=8).digest(), "little")
    return h / 2**64 < share


# ------------------------------------------------------------------------------------ simple checks
def unchanged_meaning(caption: str, negative: str, negative_type: str, synonyms: Sequence[frozenset[str]]) -> str | None:
    """Why the negative may say the same as the caption (None when no simple check fires).
    Articles are ignored ("a grey and orange ..." vs "an orange and grey ...")."""
    a = [w for w in words_of(caption) if w not in _ARTICLES]
    b = [w for w in words_of(negative) if w not in _ARTICLES]
    if a == b:
        return "same words"
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    j = 0
    while j < min(len(a), len(b)) - i and a[-1 - j] == b[-1 - j]:
        j += 1
    da, db = a[i:len(a) - j], b[i:len(b) - j]
    if len(da) == len(db) == 1:
        if any(da[0] in g and db[0] in g for g in synonyms):
            return f"synonym {da[0]}->{db[0]}"
        return None
    if sorted(da) != sorted(db):
        return None
    if negative_type in ("adj", "noun", "verb"):
        return "same words, other order"
    # a swap: da = X mid Y, db = Y mid X
    for x in range(1, len(da)):
        for y in range(1, len(da) - x):
            mid = da[x:len(da) - y]
            if db == da[len(da) - y:] + mid + da[:x]:
                text = " ".join(mid)
                if text in ("and", "or", "&"):
                    return f"coordination swap ({text})"
                if text in SYMMETRIC_RELATIONS and not (i and (a[i - 1] in _GOVERNORS or a[i - 1].endswith("ing"))):
                    # "a dog next to a cat"; not "walking on a beach near the ocean" (what it is on changed)
                    return f"symmetric relation swap ({text})"
    return None


# ------------------------------------------------------------------------------------ blind models
class TrigramModel:
    """Interpolated trigram model (absolute discounting, add-one unigrams) of a set of captions."""

    def __init__(self, texts, discount: float = 0.75):
        self.d = discount
        self.c1, self.c2, self.c3 = Counter(), Counter(), Counter()
        self.ctx1, self.ctx2, self.types1, self.types2 = Counter(), Counter(), Counter(), Counter()
        for text in texts:
            w = ["<s>"] + lm_words(text)
            self.c1.update(w[2:])
            self.c2.update(zip(w[1:], w[2:]))
            self.c3.update(zip(w, w[1:], w[2:]))
        for (u, _), c in self.c2.items():
            self.ctx1[u] += c
            self.types1[u] += 1
        for (t, u, _), c in self.c3.items():
            self.ctx2[(t, u)] += c
            self.types2[(t, u)] += 1
        self.total = sum(self.c1.values())
        self.size = len(self.c1) + 1

    def prob(self, t: str, u: str, w: str) -> float:
        p = (self.c1[w] + 1) / (self.total + self.size)
        n = self.ctx1[u]
        if n:
            p = max(self.c2[(u, w)] - self.d, 0) / n + self.d * self.types1[u] / n * p
        n = self.ctx2[(t, u)]
        if n:
            p = max(self.c3[(t, u, w)] - self.d, 0) / n + self.d * self.types2[(t, u)] / n * p
        return p

    def logprob(self, text: str) -> float:
        w = ["<s>"] + lm_words(text)
        return sum(math.log(self.prob(*w[k - 2:k + 1])) for k in range(2, len(w)))


class PairClassifier:
    """Logistic regression on (caption, negative) pairs: score(x) = w . phi(x), trained so that
    sigmoid(score(caption) - score(negative)) says which one is the caption. phi: hashed words and
    word pairs, plus the mean and lowest word log-frequency (from the training captions)."""

    def __init__(self, captions: Sequence[str], epochs: int = 4, rate: float = 0.2, l2: float = 1e-5, seed: int = 0):
        self.freq = Counter(w for c in captions for w in lm_words(c)[1:-1])
        self.total = sum(self.freq.values()) + len(self.freq) + 1
        self.w: dict[int, float] = {}
        self.epochs, self.rate, self.l2, self.seed = epochs, rate, l2, seed

    def features(self, text: str) -> dict[int, float]:
        words = lm_words(text)
        f: Counter[int] = Counter()
        for w in words[1:-1]:
            f[_hash("1 " + w)] += 1.0
        for u, w in zip(words, words[1:]):
            f[_hash("2 " + u + " " + w)] += 1.0
        logs = [math.log((self.freq[w] + 1) / self.total) for w in words[1:-1]] or [0.0]
        f[0] = sum(logs) / len(logs) / 10.0
        f[1] = min(logs) / 10.0
        return dict(f)

    def score(self, text: str) -> float:
        return sum(self.w.get(k, 0.0) * v for k, v in self.features(text).items())

    def fit(self, pairs: Sequence[tuple[str, str]]) -> "PairClassifier":
        rng = random.Random(self.seed)
        data = [(self.features(p), self.features(n)) for p, n in pairs]
        for _ in range(self.epochs):
            rng.shuffle(data)
            for fp, fn in data:
                diff = Counter(fp)
                diff.subtract(fn)
                margin = sum(self.w.get(k, 0.0) * v for k, v in diff.items() if v)
                g = 1.0 / (1.0 + math.exp(min(margin, 30.0)))  # d/dmargin of log sigmoid(margin)
                for k, v in diff.items():
                    if v:
                        self.w[k] = self.w.get(k, 0.0) * (1 - self.rate * self.l2) + self.rate * g * v
        return self


def _hash(text: str) -> int:
    return 2 + int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "little") % HASH_DIM


def preference(score, pairs: Sequence[tuple[str, str]]) -> float:
    """Share of pairs where the caption scores higher than its negative (ties count half)."""
    if not pairs:
        return float("nan")
    wins = 0.0
    for p, n in pairs:
        sp, sn = score(p), score(n)
        wins += 1.0 if sp > sn else 0.5 if sp == sn else 0.0
    return wins / len(pairs)


# ------------------------------------------------------------------------------------ report
def audit(path: str | Path, heldout_share: float = 0.5, sample: int = 10, seed: int = 0,
          lm_captions: Sequence[str] = ()) -> list[str]:
    """The audit report of a negatives file, as lines of text."""
    from ahnpl_plugin.negatives.vocabulary import Vocabulary

    header, types, records = read_pairs(path)
    synonyms = Vocabulary.load().synonyms
    lines = [f"audit of {path}: {len(records)} captions"]
    if header:
        model = header.get("spacy_model") or {}
        lines.append(f"  made by {header.get('generator')} {header.get('version')}, rules {header.get('rules')}, "
                     f"plausibility {header.get('plausibility')}, spaCy {model.get('name')} {model.get('version')} "
                     f"(sha256 {str(model.get('sha256'))[:12]}), seed {header.get('seed')}")
    else:
        lines.append("  no header: not made by this generator, or by a version before 2.0")
    train = [r for r in records if not is_heldout(r["caption"], heldout_share)]
    test = [r for r in records if is_heldout(r["caption"], heldout_share)]
    train_pairs = [(r["caption"], n) for r in train for t in types if (n := negative_of(r, t))]
    classifier = PairClassifier([r["caption"] for r in train], seed=seed).fit(train_pairs)
    trigram = TrigramModel([r["caption"] for r in train] + list(lm_captions))
    lines.append(f"  blind models learn from {len(train)} captions ({len(train_pairs)} pairs) and are scored on "
                 f"the other {len(test)} (held out by caption hash, share {heldout_share:g})"
                 + (f"; the trigram model also read {len(lm_captions)} extra captions" if lm_captions else ""))
    lines.append("")
    head = f"  {'type':<12}{'valid':>8}{'doubled':>9}{'same?':>7}{'blind LR':>10}{'blind 3gram':>13}{'held-out pairs':>16}"
    lines.append(head)
    flagged: list[tuple[str, str, str, str]] = []
    for t in types:
        made = [(r["caption"], n) for r in records if (n := negative_of(r, t))]
        doubled = sum(new_doubled_word(c, n) for c, n in made)
        same = []
        for c, n in made:
            why = unchanged_meaning(c, n, t, synonyms)
            if why:
                same.append((t, c, n, why))
        flagged += same
        held = [(r["caption"], n) for r in test if (n := negative_of(r, t))]
        lr = preference(classifier.score, held)
        tri = preference(trigram.logprob, held)
        lines.append(f"  {t:<12}{_pct(len(made), len(records)):>8}{doubled:>9}{len(same):>7}{_rate(lr):>10}"
                     f"{_rate(tri):>13}{len(held):>16}")
    if flagged:
        lines += ["", "  unchanged-meaning candidates (simple checks), up to 20:"]
        lines += [f"    [{t}] {c}  =>  {n}   ({why})" for t, c, n, why in flagged[:20]]
    if sample:
        rng = random.Random(seed)
        lines += ["", f"  random sample for reading ({sample} per type):"]
        for t in types:
            made = [(r["caption"], n) for r in records if (n := negative_of(r, t))]
            for c, n in rng.sample(made, min(sample, len(made))):
                lines.append(f"    [{t}] {c}  =>  {n}")
    return lines


def _pct(k: int, n: int) -> str:
    return f"{100.0 * k / n:.1f}%" if n else "-"


def _rate(x: float) -> str:
    return "-" if x != x else f"{100.0 * x:.1f}%"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ahnpl_plugin.negatives audit",
                                     description="Audit a negatives JSONL file (see the module docstring).")
    parser.add_argument("file", help="negatives JSONL (generator output or a released negatives file)")
    parser.add_argument("--heldout-share", type=float, default=0.5,
                        help="share of captions the blind models are scored on (default 0.5)")
    parser.add_argument("--sample", type=int, default=10, help="negatives per type printed for reading (default 10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lm-captions", default=None, metavar="TXT",
                        help="extra captions (one per line) for the trigram model to learn from")
    args = parser.parse_args(argv)
    from ahnpl_plugin.errors import UserError

    try:
        if not 0.0 < args.heldout_share < 1.0:
            raise ValueError(f"--heldout-share must be in (0, 1), got {args.heldout_share}")
        extra = Path(args.lm_captions).read_text(encoding="utf-8").splitlines() if args.lm_captions else []
        lines = audit(args.file, args.heldout_share, args.sample, args.seed, extra)
    except (UserError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0
