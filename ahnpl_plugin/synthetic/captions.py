"""Reading captions back: parse a caption of the world's grammar and decide whether it is true of a
scene; list the (colour, shape) combinations a caption mentions.

Used to vet generated hard negatives (a "negative" that is true of its image, or that mentions a
held-out combination, must not be trained on) and to check evaluation captions. The parser knows
every word of :mod:`vocabulary` (not only a world's subset), so a caption that names a colour the
world does not use still parses, and is simply false.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ahnpl_plugin.synthetic.scenes import Scene, Thing, relation_between
from ahnpl_plugin.synthetic.vocabulary import PALETTE, RELATION_PHRASES, SHAPES, SIZES

ARTICLES = frozenset({"a", "an", "the"})
_RELATION_TOKENS: list[tuple[str, tuple[str, ...]]] = sorted(
    ((key, tuple(phrase.split())) for key, phrase in RELATION_PHRASES.items()),
    key=lambda kv: -len(kv[1]),
)
_RELATION_WORDS = frozenset(w for _, toks in _RELATION_TOKENS for w in toks)


def tokens_of(text: str) -> list[str]:
    """Lower-case word tokens; punctuation and digits separate words."""
    return re.findall(r"[a-z]+", text.lower())


@dataclass(frozen=True)
class ParsedPhrase:
    """A parsed noun phrase: every size and colour word said before the shape."""

    sizes: frozenset[str]
    colours: frozenset[str]
    shape: str

    def matches(self, thing: Thing) -> bool:
        """True when every word of the phrase holds for the thing (two colours never both hold)."""
        return (
            self.shape == thing.shape
            and all(s == thing.size for s in self.sizes)
            and all(c == thing.colour for c in self.colours)
        )


@dataclass(frozen=True)
class ParsedCaption:
    subject: ParsedPhrase
    relation: str
    object: ParsedPhrase


def _parse_phrase(tokens: list[str]) -> ParsedPhrase | None:
    if tokens and tokens[0] in ARTICLES:
        tokens = tokens[1:]
    if not tokens or tokens[-1] not in SHAPES:
        return None
    modifiers = tokens[:-1]
    if any(w not in SIZES and w not in PALETTE for w in modifiers):
        return None
    return ParsedPhrase(
        frozenset(w for w in modifiers if w in SIZES),
        frozenset(w for w in modifiers if w in PALETTE),
        tokens[-1],
    )


@lru_cache(maxsize=1 << 16)
def parse_caption(text: str) -> ParsedCaption | None:
    """Parse "<phrase> <relation phrase> <phrase>"; None when the text is not of that form.

    Modifier order is free ("a red small circle" parses like "a small red circle"), so a word-order
    change that keeps the meaning is recognised as still true. Cached: captions repeat a lot.
    """
    toks = tokens_of(text)
    found: list[tuple[int, int, str]] = []
    i = 0
    while i < len(toks):
        for key, rel in _RELATION_TOKENS:
            if tuple(toks[i : i + len(rel)]) == rel:
                found.append((i, i + len(rel), key))
                i += len(rel)
                break
        else:
            i += 1
    if len(found) != 1:
        return None
    start, end, relation = found[0]
    subject, obj = _parse_phrase(toks[:start]), _parse_phrase(toks[end:])
    if subject is None or obj is None:
        return None
    return ParsedCaption(subject, relation, obj)


def is_true_of(parsed: ParsedCaption, scene: Scene) -> bool:
    """Whether some ordered pair of distinct things satisfies subject, object and relation."""
    a, b = scene.things
    for s, o in ((a, b), (b, a)):
        if parsed.subject.matches(s) and parsed.object.matches(o) and relation_between(s, o) == parsed.relation:
            return True
    return False


def caption_is_true(text: str, scene: Scene) -> bool | None:
    """True / False for a caption of the world's grammar; None when it does not parse."""
    parsed = parse_caption(text)
    return None if parsed is None else is_true_of(parsed, scene)


@lru_cache(maxsize=1 << 16)
def mentioned_pairs(text: str) -> frozenset[tuple[str, str]]:
    """Every (colour, shape) the text binds together, leniently (works on unparseable text too).

    A colour binds to the next shape word unless an article or relation word comes between; any
    other word (a size, an unknown adjective) does not break the binding.
    """
    pairs: set[tuple[str, str]] = set()
    pending: list[str] = []
    for w in tokens_of(text):
        if w in PALETTE:
            pending.append(w)
        elif w in SHAPES:
            pairs.update((c, w) for c in pending)
            pending = []
        elif w in ARTICLES or w in _RELATION_WORDS:
            pending = []
    return frozenset(pairs)
