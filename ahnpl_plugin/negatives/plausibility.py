"""Plausibility selection: among candidate negatives, keep the one a language model of the captions
finds most plausible, so a text-only model cannot reject negatives for reading oddly.

A negative that reads oddly ("a clock desert", "a street towel") can be told from the caption
without the image, and training on it teaches the text tower plausibility instead of grounding.
With ``plausibility="ngram"`` (v2 rules' default) the generator first counts the word bigrams of
all the input captions (:class:`BigramModel`: interpolated absolute discounting, the estimator
behind Kneser-Ney, with add-one unigrams), then for each caption and type builds every candidate
swap, or up to :data:`WORDS_PER_TARGET` replacement words per target, and keeps the candidate with
the highest mean log-probability per word (ties: the first in the rule's order, so the output is
deterministic). Candidates that fail the v2 output checks (doubled word, edited quotes, same as
the caption) are dropped before choosing.

``plausibility_margin`` (``--plausibility-margin M``, default none) also drops the negative when even
the best candidate is more than M (mean log-probability per word) less plausible than its caption:
fewer valid negatives, harder for a text-only model (README: the measured trade-off).

Trade-off: each caption's negatives now depend on the whole input (the model is trained on it),
not on the caption and seed alone; the output is still the same for any number of workers.

A bigram model, counted here rather than with an n-gram library: scoring ~20 candidates per caption
and type must cost microseconds, and a bigram table of all COCO train captions (about 0.6 M
distinct bigrams) fits in each worker; NLTK's ``lm`` scores about 1000x slower, KenLM needs its
separate ``lmplz`` build. The audit (``python -m ahnpl_plugin.negatives audit``) checks the result
with a different model family (a logistic regression on held-out pairs), not with this model.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

PLAUSIBILITY = ("ngram", "off")
WORDS_PER_TARGET = 8  # replacement words tried per target word
TARGETS_TRIED = 8  # target words tried per caption and type (drawn at random when there are more)
SWAPS_TRIED = 32  # candidate swaps scored per caption and type (idem): long captions stay linear
DISCOUNT = 0.75
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?|\d+")
START, END = "<s>", "</s>"


def lm_words(text: str) -> list[str]:
    """The words a language model sees: lower-case letters/digits runs, with sentence marks."""
    return [START] + _WORD.findall(text.lower()) + [END]


class BigramModel:
    """Interpolated absolute-discounting bigram model of a set of captions."""

    def __init__(self, texts: Iterable[str], discount: float = DISCOUNT):
        unigrams: Counter[str] = Counter()
        bigrams: Counter[tuple[str, str]] = Counter()
        for text in texts:
            words = lm_words(text)
            unigrams.update(words[1:])
            bigrams.update(zip(words, words[1:]))
        context: Counter[str] = Counter()
        followers: Counter[str] = Counter()
        for (u, _w), c in bigrams.items():
            context[u] += c
            followers[u] += 1
        self.discount = discount
        self.unigrams = dict(unigrams)
        self.bigrams = dict(bigrams)
        self.context = dict(context)
        self.followers = dict(followers)
        self.total = sum(unigrams.values())
        self.vocabulary_size = len(unigrams) + 1  # + unknown
        self._log_cache: dict[tuple[str, str], float] = {}  # log P(w | u) of the pairs scored so far

    def unigram(self, w: str) -> float:
        return (self.unigrams.get(w, 0) + 1) / (self.total + self.vocabulary_size)

    def prob(self, u: str, w: str) -> float:
        """P(w | u)."""
        lower = self.unigram(w)
        n = self.context.get(u, 0)
        if not n:
            return lower
        c = self.bigrams.get((u, w), 0)
        return max(c - self.discount, 0.0) / n + self.discount * self.followers[u] / n * lower

    def logprob(self, text: str) -> float:
        """Mean log-probability per word (sentence end included)."""
        words = lm_words(text)
        cache = self._log_cache
        total = 0.0
        for pair in zip(words, words[1:]):  # candidates of one caption share most pairs: each is computed once
            value = cache.get(pair)
            if value is None:
                value = cache[pair] = math.log(self.prob(*pair))
            total += value
        return total / (len(words) - 1)


def chooser(model: BigramModel, accept: Callable[[str], bool],
            floor: float | None = None) -> Callable[[Sequence[str]], str | None]:
    """A function picking the most plausible acceptable candidate (first one on ties), or None;
    with ``floor``, None also when the best scores below it (mean log-probability per word).
    Candidates are checked for acceptability best first, so most are only scored."""
    def choose(candidates: Sequence[str]) -> str | None:
        unique = list(dict.fromkeys(candidates))
        scores = [model.logprob(text) for text in unique]
        ranked = sorted(range(len(unique)), key=lambda k: (-scores[k], k))
        return next((unique[k] for k in ranked if (floor is None or scores[k] >= floor) and accept(unique[k])), None)

    # the same choice without the floor: a rule that tries more candidates when these give none asks it
    # first, so that a margin only removes negatives and never lets another through
    choose.unfloored = choose if floor is None else chooser(model, accept)
    return choose


def check_margin(margin: float | None, plausibility: str) -> float | None:
    """``margin``: how much less plausible than its caption (mean log-probability per word) a
    negative may be; None = any. Needs plausibility selection."""
    if margin is None:
        return None
    margin = float(margin)
    if margin < 0 or margin != margin:
        raise ValueError(f"plausibility margin must be >= 0, got {margin}")
    if plausibility != "ngram":
        raise ValueError("a plausibility margin needs --plausibility ngram")
    return margin


def check_plausibility(plausibility: str | None, rules: str) -> str:
    """The plausibility mode to use: default ``ngram`` with the v2 rules, ``off`` with v1 (whose
    output stays generator 1.0's)."""
    if plausibility is None:
        return "off" if rules == "v1" else "ngram"
    if plausibility not in PLAUSIBILITY:
        raise ValueError(f"unknown plausibility {plausibility!r}; valid: {', '.join(PLAUSIBILITY)}")
    if plausibility != "off" and rules == "v1":
        raise ValueError("plausibility selection needs the v2 rules (v1 keeps generator 1.0's output)")
    return plausibility
