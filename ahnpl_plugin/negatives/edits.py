"""Apply an edit (swap two spans, replace one span) to a caption's tokens and write the negative.

Edits work on token spans, never on substrings ("cat" inside "category" is never touched). The
written negative keeps the caption's whitespace and punctuation, keeps sentence-initial
capitalisation right after words moved ("A dog on a bed" -> "A bed on a dog") and fixes "a"/"an"
before a changed word ("a red apple" -> "an orange apple").
"""

from __future__ import annotations

from typing import NamedTuple

from ahnpl_plugin.negatives.inflection import article_for, match_case
from ahnpl_plugin.negatives.tokens import PROPER_NOUN_TAGS, Token


class Piece(NamedTuple):
    text: str
    ws: str
    src: int  # index of the caption token it comes from, -1 for a new word


def swap_spans(tokens: list[Token], a: tuple[int, int], b: tuple[int, int], parsed: bool = False) -> str:
    """Exchange token spans ``a`` and ``b`` (non-overlapping) and write the result.

    Each moved span takes the trailing whitespace of the span whose place it takes, so
    "a dog, a cat" stays "a cat, a dog" and not "a cat , a dog".
    """
    (a0, a1), (b0, b1) = sorted((a, b))
    if a1 > b0:
        raise ValueError(f"spans {a} and {b} overlap")
    order = list(range(a0)) + list(range(b0, b1)) + list(range(a1, b0)) + list(range(a0, a1)) + list(range(b1, len(tokens)))
    pieces = [Piece(tokens[i].text, tokens[i].ws, i) for i in order]
    new_b_end = a0 + (b1 - b0) - 1  # position of B's last token, now where A was
    new_a_end = b1 - 1  # position of A's last token, now where B was
    pieces[new_b_end] = pieces[new_b_end]._replace(ws=tokens[a1 - 1].ws)
    pieces[new_a_end] = pieces[new_a_end]._replace(ws=tokens[b1 - 1].ws)
    return finish(tokens, pieces, parsed)


def replace_span(tokens: list[Token], span: tuple[int, int], words: list[str], parsed: bool = False) -> str:
    """Replace tokens [start, end) by ``words`` (lower-case), with the replaced words' letter case."""
    start, end = span
    model = tokens[start].text
    texts = [match_case(w, model) if k == 0 else _case_like_rest(w, tokens[start:end]) for k, w in enumerate(words)]
    first = _sentence_start(tokens)
    if first is None or first < start:  # the common case, written directly (same text as the pieces path):
        # the sentence's first word stays first and capitalised; only an article right before may change
        head = "".join([t.text + t.ws for t in tokens[:start]])
        before = tokens[start - 1] if start else None
        if before is not None and before.text in _ARTICLE_FORMS and before.tag == "DT":
            after = texts[0]
            article = article_for(after.lower() if parsed and _all_caps(tokens) else after)
            if before.text.isupper() and len(after) > 1 and after.isupper():
                article = article.upper()
            head = head[:len(head) - len(before.text) - len(before.ws)] + match_case(article, before.text) + before.ws
        return head + " ".join(texts) + tokens[end - 1].ws + "".join([t.text + t.ws for t in tokens[end:]])
    return _replace_span_pieces(tokens, start, end, texts, parsed)


def _replace_span_pieces(tokens: list[Token], start: int, end: int, texts: list[str], parsed: bool) -> str:
    """:func:`replace_span` through pieces (sentence case and articles fixed by :func:`finish`)."""
    new = [Piece(text, " ", -1) for text in texts]
    new[-1] = new[-1]._replace(ws=tokens[end - 1].ws)
    pieces = [Piece(t.text, t.ws, i) for i, t in enumerate(tokens[:start])]
    pieces += new
    pieces += [Piece(t.text, t.ws, end + k) for k, t in enumerate(tokens[end:])]
    return finish(tokens, pieces, parsed)


def _case_like_rest(word: str, replaced: list[Token]) -> str:
    """Words after the first of a replacement phrase are upper case only in an all-caps caption."""
    return word.upper() if all(t.text.isupper() and len(t.text) > 1 for t in replaced if t.is_word) and \
        any(len(t.text) > 1 for t in replaced) else word


def _sentence_start(tokens) -> int | None:
    """Index of the first token with a letter (the sentence's first word)."""
    for i, t in enumerate(tokens):
        if t.text.isalpha() or any(c.isalpha() for c in t.text):
            return i
    return None


def finish(tokens: list[Token], pieces: list[Piece], parsed: bool = False) -> str:
    """Fix sentence-initial capitals and articles, then join the pieces into the negative
    (``parsed``: the v2 rules, which read the words of an all-caps caption as words, not acronyms)."""
    first = _sentence_start(tokens)
    if first is not None and _capitalised_as_first_word(tokens[first]) and not (parsed and _all_caps(tokens)):
        _fix_sentence_case(pieces, first)
    _fix_articles(tokens, pieces, parsed)
    return "".join([p.text + p.ws for p in pieces])


def _capitalised_as_first_word(word: Token) -> bool:
    """True when the first word has a capital because it starts the sentence (not "I", not a
    name, not an all-caps caption)."""
    text = word.text
    return (text[0].isupper() and not (len(text) > 1 and text.isupper())
            and word.tag not in PROPER_NOUN_TAGS and text != "I")


def _fix_sentence_case(pieces: list[Piece], first: int) -> None:
    """Capitalise the new first word; lower-case the old first word where it moved to."""
    new_first = _sentence_start(pieces)
    for k, p in enumerate(pieces):
        if k == new_first:
            pieces[k] = Piece(p.text[:1].upper() + p.text[1:], p.ws, p.src)
        elif p.src == first:  # the old first word, moved: "A dog on a bed" -> "A bed on a dog"
            pieces[k] = Piece(p.text[:1].lower() + p.text[1:], p.ws, p.src)


_ARTICLE_FORMS = frozenset({"a", "an", "A", "An", "AN", "aN"})


def _all_caps(tokens: list[Token]) -> bool:
    """True when every word of more than one letter is in capitals ("A LITTLE FIELD")."""
    seen = False
    for t in tokens:  # stops at the first lower-case word: cheap for ordinary captions
        if len(t.text) > 1 and t.is_word:
            if not t.text.isupper():
                return False
            seen = True
    return seen


def _fix_articles(tokens: list[Token], pieces: list[Piece], parsed: bool = False) -> None:
    """Make each article agree with the word now after it, when that word changed (``parsed``, in
    an all-caps caption: "LITTLE" is read as "little", not as the letters L-I-T...)."""
    all_caps = None  # computed at the first article that needs it
    for k in range(len(pieces) - 1):
        p = pieces[k]
        if p.text not in _ARTICLE_FORMS or p.src < 0 or tokens[p.src].tag != "DT":
            continue
        nxt = pieces[k + 1]
        if nxt.src == p.src + 1 and nxt.src >= 0:
            continue  # the word after the article did not change
        if all_caps is None:
            all_caps = parsed and _all_caps(tokens)
        article = article_for(nxt.text.lower() if all_caps else nxt.text)
        if p.text.isupper() and len(nxt.text) > 1 and nxt.text.isupper():
            article = article.upper()  # an all-caps caption: "AN ELEPHANT"
        pieces[k] = Piece(match_case(article, p.text), p.ws, p.src)
