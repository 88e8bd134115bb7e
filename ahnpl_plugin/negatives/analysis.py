"""What the rules need to know about a tagged caption: relation phrases, noun phrases, candidates.

Everything comes from tags plus the vocabulary; there is no dependency parse (the parser would
triple the tagging time). Noun phrases are found by a small tag grammar::

    chunk = DET* modifier* noun+ ( "'s" modifier* noun+ )*      modifier = JJ | CD | VBN/VBG
                                                                  (not first) | noun | "and"/","
                                                                  between adjectives | "-"

and "X of Y" with a partitive X ("a group of people", "a plate of food") is one phrase. Spatial
relation phrases ("to the left of", "on top of", "above") are found first, by words, and are
never part of a noun phrase, so "the left" in "to the left of" is not an object.

With the ``v2`` rules the caption is also parsed, and :mod:`parsed` refines all of this (fixed
words, whole-object units, candidate filters); with ``v1`` (``parsed=False``) nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ahnpl_plugin.negatives import parsed
from ahnpl_plugin.negatives.inflection import article_for
from ahnpl_plugin.negatives.tokens import (
    ADJECTIVE_TAGS,
    DETERMINER_TAGS,
    NOUN_TAGS,
    PROPER_NOUN_TAGS,
    VERB_TAGS,
    Token,
)
from ahnpl_plugin.negatives.vocabulary import Vocabulary

# Tags a single-word relation must have ("on" the preposition, not "turned on" the verb's object).
RELATION_WORD_TAGS = frozenset({"IN", "RB", "RP", "JJ", "TO"})
# Verb forms that are auxiliaries or copulas, never replaced.
AUXILIARIES = frozenset({
    "be", "is", "are", "was", "were", "been", "being", "am", "'s", "'re", "'m",
    "have", "has", "had", "having", "'ve", "do", "does", "did", "done", "doing",
    "get", "gets", "got", "getting", "there",
})
_MODIFIER_TAGS = ADJECTIVE_TAGS | {"CD"}
_PARTICIPLE_TAGS = frozenset({"VBN", "VBG"})
_OTHER_TAGS_OF_NOUNS = frozenset({"JJ", "VB", "VBP", "VBZ", "VBD", "VBN", "VBG", "RB"})
_LINKERS = frozenset({"CC", ",", ":", ".", "HYPH", "``", "''", "-LRB-", "-RRB-", "_SP", "NFP"})


@dataclass(frozen=True)
class Span:
    start: int
    end: int  # exclusive


@dataclass(frozen=True)
class Chunk:
    """A noun phrase: tokens [start, end), its head noun(s) (two for "X of Y")."""

    start: int
    end: int
    heads: tuple[int, ...]

    @property
    def head(self) -> int:
        return self.heads[-1]


@dataclass
class Analysis:
    tokens: list[Token]  # with corrected tags (see correct_tags)
    lowers: list[str]  # lower-case token texts
    vocabulary: Vocabulary
    relations: list[Span] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    in_relation: list[bool] = field(default_factory=list)
    protected: set[int] = field(default_factory=set)  # words of fixed compound nouns
    chunk_of: list[int] = field(default_factory=list)  # token -> chunk index or -1
    parsed: bool = False  # tokens carry a dependency parse: the v2 rules apply
    fixed: set[int] = field(default_factory=set)  # v2: words never edited (quotes, names, numbers...)
    units: list[Chunk] = field(default_factory=list)  # v2: whole objects the relation swap moves
    children: list[list[int]] = field(default_factory=list)  # v2: each token's dependents
    fixed_spans: list[tuple[int, int]] = field(default_factory=list)  # v2: idioms and names (parsed.FIXED_PHRASES)

    def is_plural_chunk(self, chunk: Chunk) -> bool:
        return self.tokens[chunk.heads[0]].tag in ("NNS", "NNPS")

    def is_person(self, lower: str) -> bool:
        """A person noun ("man", "girls"), by the vocabulary."""
        vocab = self.vocabulary
        return "person" in (vocab.category_of(lower, "noun"), vocab.category_of(vocab.singular(lower), "noun"))

    def chunk_key(self, chunk: Chunk) -> str:
        """The chunk's words without articles, lower case (two chunks with equal keys read the same)."""
        return " ".join(w for w in self.lowers[chunk.start:chunk.end] if w not in ("a", "an", "the"))


def analyse(tokens: list[Token], vocabulary: Vocabulary, parsed: bool = False) -> Analysis:
    """Find relation phrases, protected compounds and noun phrases of a tagged caption (and with
    ``parsed``, tokens that carry a dependency parse, refine them: the v2 rules)."""
    lowers = [t.text.lower() for t in tokens]
    protected = _compound_tokens(lowers, vocabulary)
    tokens = correct_tags(tokens, lowers, protected, vocabulary)
    a = Analysis(tokens, lowers, vocabulary, protected=protected)
    a.relations = _relation_spans(tokens, lowers, vocabulary)
    a.in_relation = [False] * len(tokens)
    for span in a.relations:
        for i in range(span.start, span.end):
            a.in_relation[i] = True
    a.chunks = _chunks(a)
    a.chunk_of = [-1] * len(tokens)
    for c_index, chunk in enumerate(a.chunks):
        for i in range(chunk.start, chunk.end):
            a.chunk_of[i] = c_index
    a.units = a.chunks
    if parsed:
        _refine(a)
    return a


def _refine(a: Analysis) -> None:
    """The v2 refinements from the parse (see :mod:`parsed`)."""
    tokens, lowers = a.tokens, a.lowers
    a.parsed = True
    a.children = parsed.children_index(tokens)
    a.fixed = parsed.quoted_tokens(tokens) | parsed.name_tokens(tokens) | parsed.hyphen_tokens(tokens)
    a.fixed_spans = parsed.fixed_phrase_spans(lowers)
    a.fixed |= {k for s, e in a.fixed_spans for k in range(s, e)}
    _untag_first_word(a)
    singular = [a.vocabulary.singular(w) for w in lowers]
    plural_compounds = _compound_tokens(singular, a.vocabulary) - a.protected  # "hot dogs"
    a.protected = a.protected | plural_compounds
    a.chunks = _extended_chunks(a)
    a.chunk_of = [-1] * len(tokens)
    for c_index, chunk in enumerate(a.chunks):
        for i in range(chunk.start, chunk.end):
            a.chunk_of[i] = c_index
    a.units = _units(a)


def _untag_first_word(a: Analysis) -> None:
    """A capitalised first word the tagger calls a name but the vocabulary knows as a common word
    ("Person carrying ...", "Group of children ...", "Grey and white cat ...") is a common word:
    its capital is the sentence's, and moves off it when a swap moves it."""
    first = next((i for i, t in enumerate(a.tokens) if t.is_word), None)
    if first is None:
        return
    t, lower, vocab = a.tokens[first], a.lowers[first], a.vocabulary
    if t.tag not in PROPER_NOUN_TAGS or t.text.isupper() and len(t.text) > 1:
        return
    if vocab.category_of(lower, "adjective") not in (None, "count"):
        a.tokens[first] = t._replace(tag="JJ")
    elif lower in vocab.frame_nouns or vocab.category_of(lower, "noun") is not None:
        a.tokens[first] = t._replace(tag="NNPS" if t.tag == "NNPS" else "NN")
    elif vocab.category_of(vocab.singular(lower), "noun") is not None:
        a.tokens[first] = t._replace(tag="NNS")


def _extended_chunks(a: Analysis) -> list[Chunk]:
    """Chunks stretched left over what the parse puts before their head ("a snow | covered slope"
    -> "a snow covered slope"); a chunk swallowed that way disappears."""
    out: list[Chunk] = []
    for chunk in a.chunks:
        start = min(chunk.start, parsed.premodifier_start(a.tokens, chunk.head, a.in_relation))
        while start < chunk.start and not a.tokens[start].is_word:
            start += 1  # never start at a comma or a quote
        while out and out[-1].end > start:
            if out[-1].start >= start:
                out.pop()  # swallowed
            else:
                start = out[-1].end
                break
        heads = tuple(h for h in chunk.heads if h >= start) or (chunk.head,)
        out.append(Chunk(start, chunk.end, heads))
    return out


def _units(a: Analysis) -> list[Chunk]:
    """Chunks joined with their "of" phrase ("a body of water") and their coordination ("a wooden
    bench and table"): the objects a relation swap moves whole."""
    units: list[Chunk] = []
    for chunk in a.chunks:
        if units:
            last = units[-1]
            between = range(last.end, chunk.start)
            joined_by_of = any(parsed.of_object(a.tokens, a.lowers, h, a.children) in chunk.heads for h in last.heads)
            coordinated = any(h2 in parsed.coordinated_with(a.tokens, h1, a.children) for h1 in last.heads for h2 in chunk.heads) \
                and is_linker_only(a, last.end, chunk.start)
            if (joined_by_of and list(between) == [last.end]) or coordinated:
                units[-1] = Chunk(last.start, chunk.end, last.heads + chunk.heads)
                continue
        units.append(chunk)
    return units


def correct_tags(tokens: list[Token], lowers: list[str], protected: set[int], vocabulary: Vocabulary) -> list[Token]:
    """Fix the small tagger's usual slips on caption words the vocabulary knows.

    - words of a fixed compound noun are nouns ("fire hydrant", hydrant/JJ -> NN);
    - a vocabulary adjective (not also a noun) before a noun is an adjective ("a snowy/FW hill");
    - a vocabulary noun tagged as a verb, adjective or foreign word after a determiner, adjective,
      number, or "and" after a noun, is a noun ("a suit and tie/VB", "a red cross/VB");
    - an "-ing" form of a vocabulary verb, tagged NN after a noun and not a vocabulary noun, is a
      verb ("a zebra grazing/NN on grass").
    """
    out = list(tokens)
    n = len(tokens)
    for i, token in enumerate(tokens):
        tag, lower = token.tag, lowers[i]
        new_tag = tag
        is_noun_word = vocabulary.category_of(lower, "noun") is not None
        if i in protected:
            new_tag = "NNS" if tag in ("NNS", "NNPS") else "NN"
        elif tag not in ADJECTIVE_TAGS and tag != "CD" and not is_noun_word \
                and vocabulary.category_of(lower, "adjective") not in (None, "count") \
                and i + 1 < n and tokens[i + 1].tag in NOUN_TAGS:
            new_tag = "JJ"
        elif is_noun_word and tag in ("VB", "VBP", "VBZ", "JJ", "FW") and i > 0 and (
                out[i - 1].tag in DETERMINER_TAGS or out[i - 1].tag in ADJECTIVE_TAGS or out[i - 1].tag == "CD"
                or (out[i - 1].tag == "CC" and i > 1 and out[i - 2].tag in NOUN_TAGS)):
            new_tag = "NN"
        elif tag == "NN" and lower.endswith("ing") and not is_noun_word and i > 0 \
                and out[i - 1].tag in NOUN_TAGS and vocabulary.verb_base(lower) is not None:
            new_tag = "VBG"
        if new_tag != tag:
            out[i] = token._replace(tag=new_tag)
    return out


def _relation_spans(tokens: list[Token], lowers: list[str], vocabulary: Vocabulary) -> list[Span]:
    """Greedy longest-match of the vocabulary's relation phrases, left to right."""
    index = vocabulary.relation_index
    spans: list[Span] = []
    i = 0
    while i < len(tokens):
        for phrase in index.get(lowers[i], ()):
            n = len(phrase)
            if tuple(lowers[i:i + n]) != phrase:
                continue
            if n == 1 and tokens[i].tag not in RELATION_WORD_TAGS:
                continue
            spans.append(Span(i, i + n))
            i += n
            break
        else:
            i += 1
    return spans


def _compound_tokens(lowers: list[str], vocabulary: Vocabulary) -> set[int]:
    protected: set[int] = set()
    index = vocabulary.compound_index
    for i, word in enumerate(lowers):
        for compound in index.get(word, ()):
            if tuple(lowers[i:i + len(compound)]) == compound:
                protected.update(range(i, i + len(compound)))
                break
    return protected


def is_strong_noun(token: Token) -> bool:
    return token.tag in NOUN_TAGS and token.is_word


def is_weak_noun(a: Analysis, i: int) -> bool:
    """A vocabulary noun the tagger called something else ("a red square" with square/JJ)."""
    token = a.tokens[i]
    return token.tag in _OTHER_TAGS_OF_NOUNS and a.vocabulary.category_of(a.lowers[i], "noun") is not None


def _chunks(a: Analysis) -> list[Chunk]:
    tokens, blocked = a.tokens, a.in_relation
    n = len(tokens)
    chunks: list[Chunk] = []
    i = 0
    while i < n:
        if blocked[i]:
            i += 1
            continue
        end, head = _scan_chunk(a, i)
        if head is None:
            i += 1
            continue
        chunks.append(Chunk(i, end, (head,)))
        i = end
    return _merge_partitives(a, chunks)


def _scan_chunk(a: Analysis, start: int) -> tuple[int, int | None]:
    """Longest noun phrase starting at ``start``: (end, head index) or (start, None)."""
    tokens, blocked = a.tokens, a.in_relation
    n = len(tokens)
    k = start
    while k < n and not blocked[k] and tokens[k].tag in DETERMINER_TAGS:
        k += 1
    head: int | None = None
    last_weak: int | None = None
    in_nouns = False  # after the first strong noun only nouns (or a possessive) may follow
    while k < n and not blocked[k]:
        tag = tokens[k].tag
        if is_strong_noun(tokens[k]):
            head, in_nouns, last_weak = k, True, None
            k += 1
            continue
        if in_nouns:
            if is_weak_noun(a, k):  # "a fire hydrant/JJ" (when not corrected to NN)
                head = k
                k += 1
                continue
            if tag == "POS":  # "the man 's hat": modifiers may follow again
                in_nouns = False
                head = None
                k += 1
                continue
            if tag == "HYPH" and k + 1 < n and is_strong_noun(tokens[k + 1]):
                k += 1
                continue
            break
        if is_weak_noun(a, k):
            last_weak = k
            k += 1
            continue
        if tag in _MODIFIER_TAGS and tokens[k].text.strip():
            last_weak = None
            k += 1
            continue
        if tag in _PARTICIPLE_TAGS and k > start:
            last_weak = None
            k += 1
            continue
        if tag in ("CC", ",", "HYPH") and k > start and k + 1 < n and not blocked[k + 1] \
                and tokens[k - 1].tag in ADJECTIVE_TAGS and tokens[k + 1].tag in ADJECTIVE_TAGS:
            k += 1
            continue
        break
    if head is not None:
        return head + 1, head
    if last_weak is not None and last_weak > start:  # "a red square", not "... is orange"
        return last_weak + 1, last_weak
    return start, None


def _merge_partitives(a: Analysis, chunks: list[Chunk]) -> list[Chunk]:
    """Join "X of Y" into one phrase when X is partitive ("a group of | people")."""
    merged: list[Chunk] = []
    i = 0
    while i < len(chunks):
        chunk = chunks[i]
        while i + 1 < len(chunks):
            nxt = chunks[i + 1]
            if (a.lowers[chunk.head] in a.vocabulary.partitive_nouns and nxt.start == chunk.end + 1
                    and a.lowers[chunk.end] == "of"):
                chunk = Chunk(chunk.start, nxt.end, chunk.heads + nxt.heads)
                i += 1
            else:
                break
        merged.append(chunk)
        i += 1
    return merged


# ---------------------------------------------------------------------------------- candidates
def adjective_candidates(a: Analysis, degree: bool = False) -> list[tuple[int, str | None]]:
    """(token index, adjective category or None) of every replaceable/swappable adjective.

    An adjective is a JJ word, a vocabulary adjective used as a modifier inside a noun phrase
    ("a metal bench", metal/NN), or a count word ("two dogs"). Not: heads of noun phrases, words
    of relation phrases or compound nouns, frame adjectives ("other", "next"). ``degree`` (2.13,
    adj_swap): also a word after an adverb of degree ("very large"; parsed.is_attribute).
    """
    vocab = a.vocabulary
    found: list[tuple[int, str | None]] = []
    heads = {h for c in a.chunks for h in c.heads}
    for i, token in enumerate(a.tokens):
        if a.in_relation[i] or i in a.protected or not token.text.isalpha() or i in a.fixed:
            continue
        if i in heads and not is_adjective_used_as_noun(a, i):
            continue
        lower = a.lowers[i]
        if lower in vocab.frame_adjectives:
            continue
        category = vocab.category_of(lower, "adjective")
        if a.parsed and (lower in parsed.VAGUE_COUNTS if category == "count" else
                         not parsed.is_attribute(a.tokens, a.lowers, i, category, vocab.frame_nouns, a.children, degree)):
            continue  # v2: "several" -> "many" says the same; see parsed.is_attribute
        if a.parsed and category == "colour" and parsed.describes_person(a.tokens, a.lowers, i, a.is_person):
            continue  # v2: "a white man" -> "a yellow man" is about skin
        if a.parsed and parsed.names_a_food(a.lowers, i, vocab.words("food")):
            continue  # v2: "orange juice", "orange slices": the fruit, not a colour
        tag = token.tag
        if tag == "CD":
            if category == "count":
                found.append((i, category))
        elif tag == "JJ":
            found.append((i, category))
        elif category is not None and category != "count" and a.chunk_of[i] >= 0 and tag in ("NN", "NNP", "VBN"):
            found.append((i, category))  # a modifier inside a noun phrase ("a metal bench")
    return found


REPEATED_BY_MISTAKE = frozenset({"a", "an", "the", "in", "on", "of", "to", "at", "is", "are", "with", "and"})


def doubled_or_misfit_article(a: Analysis) -> bool:
    """2.6: the caption repeats a small word ("in a a box"; "very very" is no error) or has "a"
    before a word that takes "an", or the reverse ("a oven"; an all-caps caption's words are read
    as words, not acronyms: "A MAN" is right): an error a negative would keep (the fallbacks skip
    such captions)."""
    if any(x == y and x in REPEATED_BY_MISTAKE for x, y in zip(a.lowers, a.lowers[1:])):
        return True
    all_caps = all(t.text.isupper() for t in a.tokens if t.is_word and len(t.text) > 1)
    return any(w in ("a", "an") and a.tokens[k].tag == "DT" and a.tokens[k + 1].is_word
               and article_for(a.lowers[k + 1] if all_caps else a.tokens[k + 1].text) != w
               for k, w in enumerate(a.lowers[:-1]))


def article_on_plural(a: Analysis) -> bool:
    """2.4 (round 24, relation swaps; 2.5, rounds 33-34: noun and verb too): "a"/"an" before a
    plural noun ("A women", "a large dogs"), an error the negative would carry. Not "a few men",
    "a couple dogs" (2.5)."""
    for k, w in enumerate(a.lowers):
        if w in ("a", "an") and not (k + 1 < len(a.lowers) and a.lowers[k + 1] in COUNTING_WORDS):
            j = k + 1
            while j < len(a.tokens) and (a.tokens[j].tag in ("JJ", "RB", "HYPH", ",")
                                         or (a.tokens[j].tag == "NN" and a.tokens[j].dep == "compound")):
                j += 1  # 2.5 (round 35): "A street signs is"
            if j < len(a.tokens) and a.tokens[j].tag in NOUN_TAGS and a.vocabulary.singular(a.lowers[j]) != a.lowers[j] \
                    and a.lowers[j] not in NOT_PLURAL and a.tokens[j].dep not in ("compound", "poss") \
                    and not (j + 1 < len(a.tokens) and (a.tokens[j + 1].tag in NOUN_TAGS or a.lowers[j + 1] in ("'s", "'"))):
                return True  # 2.5: not a plural modifier ("a kids pool", "a men's room", "a glasses case")
    return False


# Words after which "a" counts a plural ("a few men", "a couple dogs", "a dozen eggs")
COUNTING_WORDS = frozenset({"few", "couple", "dozen", "great", "good", "hundred", "thousand", "million", "lot",
                            "number", "variety", "bunch", "pair", "handful", "total", "series", "set", "row"})
NOT_PLURAL = frozenset({"bus", "glass", "grass", "dress", "class", "process", "canvas", "pass", "gas", "bus",
                        "cactus", "octopus", "walrus", "mattress", "compass", "chess", "lens", "series", "species",
                        "news", "tennis", "bonus", "circus", "campus", "virus", "ski", "kiss", "boss", "cross",
                        "moss", "press", "toss", "fridge", "bridge", "hydrant", "pickup", "dress"})


def noun_candidates(a: Analysis) -> list[int]:
    """Head nouns that may be replaced (not frame nouns like "group", not proper names)."""
    return [h for chunk in a.chunks for h in chunk.heads if _replaceable_head(a, chunk, h)]


def room_candidates(a: Analysis) -> list[int]:
    """2.10: head nouns naming a room of :data:`parsed.ROOMS` ("A bathroom with a toilet"), on the
    same conditions as :func:`noun_candidates` but for their kind: a place (round 18 keeps places
    out because one may adjoin the other, "a field near the shore"; rooms exclude each other)."""
    return [h for chunk in a.chunks for h in chunk.heads
            if a.parsed and a.vocabulary.singular(a.lowers[h]) in parsed.ROOMS
            and _replaceable_head(a, chunk, h, places=True)
            and not parsed.heads_noun_compound(a.tokens, a.lowers, h)
            and a.tokens[h].dep != "compound"]  # round 55: "kitchen utensils/VBZ": a modifier


def _replaceable_head(a: Analysis, chunk, h: int, places: bool = False) -> bool:
    vocab = a.vocabulary
    lower = a.lowers[h]
    if h in a.protected or lower in vocab.frame_nouns or not a.tokens[h].text.isalpha():
        return False
    if a.parsed and (h in a.fixed or not parsed.is_replaceable_noun(a.tokens, h)
                     or (parsed.heads_noun_compound(a.tokens, a.lowers, h) and compound_start(a, h) is None)
                     or set(a.lowers[max(0, chunk.start - 1):h]) & parsed.NEGATION_WORDS
                     or _paired_by_other(a, h)
                     or lower in parsed.INVARIANT_PLURALS
                     or noun_category(a, h) in ((None,) if places else (None, "place"))
                     or _breaks_a_name(a, h)
                     or parsed.misread_noun(a.tokens, a.lowers, h)
                     or _holds_its_own_kind(a, h)):
        return False  # 2.3: "a freeway without any cars" -> "trains" stays true; "another dog", "other men"
        # need their pair; "a herd of sheep"; round 18: a place may adjoin the one named
        # ("a field near the shore" -> "a beach"), a noun of no kind is often no object ("competition");
        # 2.4: "polar bear", "Arabian horse", "at a red light", "the only light"
    if is_adjective_used_as_noun(a, h):
        return False
    return not (a.tokens[h].tag in PROPER_NOUN_TAGS and noun_category(a, h) is None)


# 2.5: what "other" may point back to: any noun of these kinds ("a bus ... with other vehicles")
OTHER_OF_ANY_KIND = frozenset({"thing", "things", "item", "items", "object", "objects", "stuff", "one", "ones",
                               "vehicle", "vehicles", "animal", "animals", "food", "foods", "people", "person",
                               "kind", "kinds", "sort", "type", "types"})


def _paired_by_other(a: Analysis, h: int) -> bool:
    """2.3: "another dog", "other men" need their pair: neither noun of the pair is replaced
    ("a dog next to another dog" -> "a cat next to another dog" says there are two cats). 2.5:
    only the pair itself: the noun after "other"/"another" and the nouns of its kind, or every noun
    when it names no kind ("other things"); "each other", "one another" and "the other side" pair
    nothing ("Two cows next to each other" -> "Two horses")."""
    for k, word in enumerate(a.lowers):
        if word not in ("other", "another") or (k > 0 and (a.lowers[k - 1], word) in (("each", "other"),
                                                                                  ("one", "another"))):
            continue
        j = k + 1  # the noun "other" belongs to: past its modifiers only ("another by some rocks" has none)
        while j < len(a.tokens) and a.tokens[j].tag in ("JJ", "JJR", "JJS", "CD", "HYPH", "VBN", "VBG") \
                and j < k + 4:
            j += 1
        paired = j if j < len(a.tokens) and a.tokens[j].tag in NOUN_TAGS else None
        if paired is None or paired == h or a.lowers[paired] in OTHER_OF_ANY_KIND:
            return True  # "another" alone ("one after another"), or a noun of any kind
        if a.lowers[paired] in a.vocabulary.frame_nouns or a.lowers[paired] in ("side", "end", "hand", "half", "way"):
            continue  # "on the other side of the net": a part, no pair
        vocab = a.vocabulary
        if vocab.singular(a.lowers[paired]) == vocab.singular(a.lowers[h]) or \
                noun_category(a, paired) in (None, noun_category(a, h)):
            return True
    return False


def _breaks_a_name(a: Analysis, h: int) -> bool:
    """Replacing noun ``h`` breaks a name (:func:`parsed.names_with_word_before`); 2.5: a noun +
    noun name is replaced whole, so only a word before all of it can break it ("a cellular
    phone case")."""
    start = compound_start(a, h) if parsed.heads_noun_compound(a.tokens, a.lowers, h) else None
    if start is None:
        return parsed.names_with_word_before(a.tokens, a.lowers, h)
    pair = (a.lowers[h - 1], a.vocabulary.singular(a.lowers[h]))
    if a.lowers[h] in parsed.AMBIGUOUS_NOUNS or pair in parsed.FIXED_PAIRS or pair in OTHER_KIND_COMPOUNDS:
        return True  # "teddy bear", "coney dog": the head's kind is not the name's
    if any(a.tokens[k].head in range(start, h) and a.tokens[k].dep not in ("compound", "det")
           for k in range(start - 3 if start >= 3 else 0, start)):
        return True  # "a barbed wire fence" -> "a barbed sign", "a one way sign" -> "a one candle"
    if start == 0:
        return False
    before = a.tokens[start - 1]
    if before.tag in ("JJ", "VBN", "VBG") and a.vocabulary.category_of(a.lowers[start - 1], "adjective") is None:
        return True  # "a barbed wire fence": an attribute of no known kind may be the first noun's
    return (a.lowers[start - 1] in parsed.CLASSIFYING_ADJECTIVES or before.tag in NOUN_TAGS
            or (before.text[:1].isupper() and not before.text.isupper() and start - 1 > 0))


# 2.5: noun + noun names of another kind than their head's ("a coney dog" is food): replaced whole
# by a noun of the head's kind they would read as a change of kind, not of object
OTHER_KIND_COMPOUNDS = frozenset({
    ("teddy", "bear"), ("coney", "dog"), ("corn", "dog"), ("chili", "dog"), ("sea", "lion"), ("fire", "fly"),
    ("dragon", "fly"), ("horse", "fly"), ("butter", "fly"), ("lady", "bug"), ("cat", "fish"), ("jelly", "fish"),
    ("star", "fish"), ("sea", "horse"), ("toy", "car"), ("toy", "train"), ("toy", "truck"), ("toy", "plane"),
    ("toy", "bear"), ("toy", "dog"), ("toy", "horse"), ("rocking", "horse"), ("hobby", "horse"), ("saw", "horse"),
    ("pommel", "horse"), ("kite", "bird"), ("bird", "house"), ("dog", "house"), ("dog", "bed"), ("cat", "bed"),
    ("cake", "topper"), ("pizza", "cutter"), ("hot", "dog"), ("sun", "glasses"), ("eye", "glasses"), ("baby", "carriage"),
    ("lounge", "chair"), ("deck", "chair"), ("beach", "chair"),  # round 32: "lounge chairs" -> "beds" (sunbeds)
})


def compound_start(a: Analysis, h: int) -> int | None:
    """2.5: the first word of the noun + noun name that noun ``h`` heads ("clock tower", "tennis
    racket"), replaced whole ("a tall clock tower" -> "a tall statue"), or None when it may not be:
    a name of a person ("tennis player" -> "batter" may be the same one), a proper name, "body of
    water", or a modifier that is no plain lower-case noun."""
    if h > 1 and a.lowers[h - 1] == "of" and a.lowers[h - 2] in ("body", "bodies"):
        return None
    if a.lowers[h] in ("body", "bodies") or noun_category(a, h) in (None, "person", "place"):
        return None
    start = h
    while start > 0 and a.tokens[start - 1].tag in ("NN", "NNS") and a.tokens[start - 1].dep == "compound" \
            and start - 1 not in a.protected and start - 1 not in a.fixed:
        start -= 1
    if start == h or h - start > 2 or not all(a.tokens[k].text.isalpha() and a.tokens[k].text.islower()
                                              for k in range(start, h)):
        return None
    vocab = a.vocabulary
    if any(a.lowers[k] in vocab.frame_nouns or a.lowers[k] in vocab.partitive_nouns
           or a.lowers[k] in parsed.COLLECTIVE_NOUNS for k in range(start, h)):
        return None  # round 32: "a group trees" (a missing "of")
    if a.tokens[h].tag == "NNS" and (a.tokens[h - 1].tag == "NNS" or (start > 0 and a.lowers[start - 1] in ("a", "an"))):
        return None  # round 32: "a building cars bushes": a list with its commas missing
    if start > 0 and a.lowers[start - 1] in ("and", "or", "&", ",", "/"):
        return None  # round 33: "a pepperoni and bell pepper pizza": the name is shared with the word before
    return start


def _holds_its_own_kind(a: Analysis, i: int) -> bool:
    """2.4 (round 21): "bags of luggage": a container of its own kind ("umbrellas of luggage")."""
    if i + 2 >= len(a.tokens) or a.lowers[i + 1] != "of":
        return False
    k = next((j for j in range(i + 2, min(len(a.tokens), i + 5)) if a.tokens[j].tag in NOUN_TAGS), None)
    return k is not None and noun_category(a, k) is not None and noun_category(a, k) == noun_category(a, i)


def is_adjective_used_as_noun(a: Analysis, i: int) -> bool:
    """A vocabulary adjective that heads a noun phrase but is no vocabulary noun ("a man in red",
    "made of wood"): it is replaced as an adjective, never as a noun."""
    lower = a.lowers[i]
    vocab = a.vocabulary
    return (vocab.category_of(lower, "adjective") not in (None, "count")
            and vocab.category_of(lower, "noun") is None)


def noun_category(a: Analysis, i: int) -> str | None:
    vocab = a.vocabulary
    lower = a.lowers[i]
    category = vocab.category_of(lower, "noun")
    if category is None and a.tokens[i].tag in ("NNS", "NNPS"):
        category = vocab.category_of(vocab.singular(lower), "noun")
    return category


def verb_candidates(a: Analysis) -> list[int]:
    """Main verbs (not auxiliaries, not participles inside a noun phrase, not relation words)."""
    found: list[int] = []
    for i, token in enumerate(a.tokens):
        if token.tag not in VERB_TAGS or a.in_relation[i] or i in a.protected or a.chunk_of[i] >= 0:
            continue
        if a.lowers[i] in AUXILIARIES or not token.text.isalpha():
            continue
        if a.parsed and (i in a.fixed or not parsed.is_main_verb(a.tokens, a.lowers, i, a.children)):
            continue
        found.append(i)
    return found


def takes_object(a: Analysis, i: int) -> bool:
    """True when a noun phrase follows the verb directly ("riding a horse"): it needs a transitive
    replacement; "sitting on a bench" needs an intransitive one."""
    j = i + 1
    while j < len(a.tokens) and a.tokens[j].tag in ("RB", "RP") and not a.in_relation[j]:
        j += 1
    return j < len(a.tokens) and a.chunk_of[j] >= 0


def is_linker_only(a: Analysis, start: int, end: int) -> bool:
    """True when tokens [start, end) are only conjunctions/punctuation ("and", ","): two noun
    phrases joined that way are a list, and swapping them changes nothing."""
    return all(a.tokens[k].tag in _LINKERS or not a.tokens[k].text.strip() for k in range(start, end))
