"""Tagged tokens: the only thing the rules see of spaCy.

A caption becomes a list of :class:`Token` (text, trailing whitespace, Penn Treebank tag, and with
the ``v2`` rules the dependency label and head index from spaCy's parser). Rules are
pure functions of that list, so they are testable without spaCy and cheap to send between
processes. ``text == "".join(t.text + t.ws for t in tokens)`` always holds.
"""

from __future__ import annotations

from typing import NamedTuple

NOUN_TAGS = frozenset({"NN", "NNS", "NNP", "NNPS"})
PLURAL_NOUN_TAGS = frozenset({"NNS", "NNPS"})
PROPER_NOUN_TAGS = frozenset({"NNP", "NNPS"})
ADJECTIVE_TAGS = frozenset({"JJ", "JJR", "JJS"})
VERB_TAGS = frozenset({"VB", "VBD", "VBG", "VBN", "VBP", "VBZ"})
ADVERB_TAGS = frozenset({"RB", "RBR", "RBS"})
DETERMINER_TAGS = frozenset({"DT", "PDT", "PRP$", "WP$"})


class Token(NamedTuple):
    text: str
    ws: str  # whitespace after the token
    tag: str  # Penn Treebank tag
    dep: str = ""  # dependency label ("amod", "compound"...); "" without a parse (v1 rules)
    head: int = -1  # index of the syntactic head (itself for the root); -1 without a parse

    @property
    def lower(self) -> str:
        return self.text.lower()

    @property
    def is_word(self) -> bool:
        """Has a letter (not punctuation, a number or whitespace)."""
        return self.text.isalpha() or any(c.isalpha() for c in self.text)


def tokens_from_doc(doc, parsed: bool = False) -> list[Token]:
    """Tokens of a spaCy ``Doc``: text, whitespace and fine-grained tag, plus (``parsed``) the
    dependency label and head index."""
    if parsed:
        return [Token(t.text, t.whitespace_, t.tag_, t.dep_, t.head.i) for t in doc]
    return [Token(t.text, t.whitespace_, t.tag_) for t in doc]


def render(tokens: list[Token]) -> str:
    return "".join(t.text + t.ws for t in tokens)


def normalized(text: str) -> str:
    """Text for the "same as the caption" test: lower case, single spaces, no final punctuation."""
    return " ".join(text.lower().split()).rstrip(".!?;:, ").strip()
