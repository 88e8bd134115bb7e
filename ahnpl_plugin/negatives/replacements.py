"""Replacement rules: change one content word (or one relation phrase) to a different one of its kind.

A rule first picks a :class:`Target` (which word, of what role and kind, in which grammatical
form); a filler then picks the new word: :func:`vocabulary_fill` from the category lists, or a
masked language model (:mod:`ahnpl_plugin.negatives.fill_mask`). :func:`realize` inflects the new
word like the old one and writes the negative.

- ``adj``: an adjective -> another of the same kind (colour -> colour, size -> size, count ->
  count); adjectives of a known kind are preferred as targets.
- ``noun``: a head noun -> another of the same kind (animal -> animal), keeping number.
- ``verb``: a main verb -> another verb in the same form (transitive or intransitive by context),
  or a spatial relation -> its opposite ("on" -> "under", "to the left of" -> "to the right of"),
  else another relation as long as it ("in" -> "behind"). Verbs and relations are equally likely
  targets.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ahnpl_plugin.negatives.analysis import (
    COUNTING_WORDS,
    Analysis,
    adjective_candidates,
    article_on_plural,
    compound_start,
    doubled_or_misfit_article,
    noun_candidates,
    _paired_by_other,
    noun_category,
    room_candidates,
    takes_object,
    verb_candidates,
)
from ahnpl_plugin.negatives.edits import replace_span
from ahnpl_plugin.negatives.inflection import VERB_FORM_OF_TAG
from ahnpl_plugin.negatives.parsed import (
    NEGATION_WORDS,
    COLLECTIVE_NOUNS,
    PASSING_VERBS,
    ANIMAL_WORDS,
    BATHROOM_WORDS,
    CLASSIFYING_ADJECTIVES,
    INDOOR_KINDS,
    INDOOR_SCENE_WORDS,
    KITCHEN_WORDS,
    COUNTING_DETERMINERS,
    PERSON_STAND_IN_EXCLUDED,
    ROOMS,
    BE_FORMS,
    BEFORE_TO_NOUN,
    BITE_NOUNS,
    EATING_VERBS,
    FACING_POSTURES,
    IDIOM_OBJECTS,
    LIGHT_VERBS,
    NON_OBJECTS,
    NOT_ACTIONS,
    ON_IDIOM_OBJECTS,
    PARTICIPLE_PLACES,
    PARTICLE_VERBS,
    PERSON_POSTURES,
    QUOTES,
    REPLACED_ADJECTIVE_KINDS,
    VERB_FIRST_HALVES,
    after_other_verb,
    cuts_phrase,
    heads_noun_compound,
    in_fixed_name,
    manner_adverb_after,
    verb_stems,
)
from ahnpl_plugin.negatives.randomness import CaptionRandom
from ahnpl_plugin.negatives.tokens import NOUN_TAGS, VERB_TAGS
from ahnpl_plugin.negatives.vocabulary import (
    INTRANSITIVE_POOL,
    TRANSITIVE_POOL,
    UNKNOWN_ADJECTIVE_POOL,
    UNKNOWN_NOUN_POOL,
    Vocabulary,
)

REPLACEMENT_TYPES = ("adj", "noun", "verb")


@dataclass(frozen=True)
class Target:
    """One word (or relation phrase) to replace and what may replace it."""

    start: int
    end: int
    role: str  # "adjective", "noun", "verb" or "relation"
    original: str  # lower-case text of the span
    base: str  # base form of the original ("dogs" -> "dog", "sitting" -> "sit")
    pool: str  # vocabulary category the replacement comes from
    tag: str  # tag of the original (its form: NNS, VBG...)
    known_kind: bool  # the vocabulary knows the original's category
    count_slot: bool = False  # 2.10: a noun's place takes a countable noun though no determiner is next to it

    @property
    def plural(self) -> bool:
        return self.role == "noun" and self.tag in ("NNS", "NNPS")


def choose_target(a: Analysis, negative_type: str, rng: CaptionRandom) -> Target | None:
    """The word a replacement type changes, picked at random among the candidates (None if none)."""
    targets = replacement_targets(a, negative_type) or fallback_targets(a, negative_type)
    return rng.choice(targets) if targets else None


def replacement_targets(a: Analysis, negative_type: str) -> list[Target]:
    """Every word a replacement type may change (for ``adj``/``noun``, those of a known kind when
    there are any), in a fixed order."""
    if negative_type == "adj":
        return _adjective_targets(a)
    if negative_type == "noun":
        return _noun_targets(a)
    if negative_type == "verb":
        return _verb_targets(a)
    raise ValueError(f"{negative_type!r} is not a replacement type")


def _adjective_targets(a: Analysis) -> list[Target]:
    candidates = adjective_candidates(a)
    if a.parsed:  # v2.2: only attributes of a kind with something to oppose them ("stationary" -> "pretty" was no negative)
        candidates = [c for c in candidates if c[1] in REPLACED_ADJECTIVE_KINDS
                      and not (c[1] == "count" and c[0] > 0 and a.lowers[c[0] - 1] == "all")]  # 2.3: "all four sides"
        candidates = [c for c in candidates if not _adjective_in_name(a, c[0]) and not _stacked_on_one_scale(a, c)
                      and not (c[1] == "count" and _count_bound(a, c[0]))]
    known = [c for c in candidates if c[1] is not None]
    targets = []
    for i, category in known or candidates:
        lower = a.lowers[i]
        targets.append(Target(i, i + 1, "adjective", lower, lower, category or UNKNOWN_ADJECTIVE_POOL,
                              a.tokens[i].tag, category is not None))
    return targets


# 2.14 (round 90): the scales on which two words on one thing say about the same ("A small little
# table" -> "A small large table", "A very old antique clock" -> "A very old modern clock")
STACKED_SCALES = frozenset({"size", "age"})


def _stacked_on_one_scale(a: Analysis, candidate: tuple[int, str | None]) -> bool:
    """2.14: an attribute of :data:`STACKED_SCALES` next to another of the same kind on the same
    thing: replacing one leaves the other saying the old thing ("a small little table"), or
    contradicting the new one ("a large tall tower" -> "a small tall tower"; the size kind holds
    length and height too, which round 90's readers read as one scale here)."""
    i, kind = candidate
    if kind not in STACKED_SCALES:
        return False
    head = a.tokens[i].head
    return any(k != i and a.tokens[k].head == head and a.vocabulary.category_of(a.lowers[k], "adjective") == kind
               for k in range(max(0, i - 3), min(len(a.tokens), i + 4)))


def _count_bound(a: Analysis, i: int) -> bool:
    """2.14 (round 90): a count that is one end of a range ("one or two sheep", "five to six
    people": either end), or a "two" the caption says again in other words: "both" standing for
    the two ("Two women ..., both holding"; not "with both hands") or "one ... the other" ("two
    cows, one laying down and the other standing"; not "on the other side" with no "one")."""
    lowers = a.lowers
    if (i + 2 < len(lowers) and lowers[i + 1] in ("or", "to") and _is_count(a, i + 2)) \
            or (i >= 2 and lowers[i - 1] in ("or", "to") and _is_count(a, i - 2)):
        return True
    if lowers[i] not in ("two", "2"):
        return False
    for k in range(i + 1, len(lowers)):
        after = a.tokens[k + 1].tag if k + 1 < len(lowers) else ""
        if lowers[k] == "both" and after not in NOUN_TAGS | {"JJ"}:
            return True
        if lowers[k] == "other" and lowers[k - 1] == "the" and "one" in lowers[i + 1:k]:
            return True  # "one ... the other" (not "the other side" with no "one" before it)
    return False


def _is_count(a: Analysis, k: int) -> bool:
    return a.tokens[k].tag == "CD" or a.vocabulary.category_of(a.lowers[k], "adjective") == "count"


# 2.11 (round 78): attributes that are part of a name: "open field" (open country, not a field
# that is not closed), "a two way street", "hard wood floors" (hardwood)
OPEN_NAMES = frozenset({"field", "fields", "area", "areas", "space", "spaces", "air", "range", "plain", "plains",
                        "sea", "seas", "water", "waters", "country", "grassland", "prairie", "land", "road"})


def _adjective_in_name(a: Analysis, i: int) -> bool:
    after = a.lowers[i + 1] if i + 1 < len(a.lowers) else ""
    before = a.lowers[i - 1] if i > 0 else ""
    return ((a.lowers[i] == "open" and after in OPEN_NAMES) or (after in ("way", "ways") and a.tokens[i].tag == "CD")
            or (before in ("hard", "soft") and a.lowers[i] in ("wood", "wooden")))


def _noun_targets(a: Analysis) -> list[Target]:
    if a.parsed and article_on_plural(a):
        return []  # 2.5 (round 33): "looking a planes parked": the caption's error would stay
    candidates = [(i, noun_category(a, i)) for i in noun_candidates(a)]
    known = [c for c in candidates if c[1] is not None]
    targets = []
    for i, category in known or candidates:
        lower = a.lowers[i]
        tag = a.tokens[i].tag
        if tag in ("NNS", "NNPS") and a.tokens[i].text.isupper() and a.vocabulary.singular(lower) == lower:
            tag = "NN"  # 2.4 (round 20): the tagger reads capitals as plural ("A SKATEBOARD/NNS")
        base = a.vocabulary.singular(lower) if tag in ("NNS", "NNPS") else lower
        start = i
        if a.parsed and heads_noun_compound(a.tokens, a.lowers, i):
            start = compound_start(a, i)  # 2.5: the whole name ("tennis racket" -> "frisbee")
        targets.append(Target(start, i + 1, "noun", " ".join(a.lowers[start:i + 1]), base,
                              category or UNKNOWN_NOUN_POOL, tag, category is not None))
    return targets


def _garbled(a: Analysis) -> bool:
    """Round 47: the caption's own slip that a negative would keep: an article right before a
    preposition ("Cows grazing a on a grass field") or, round 52, a conjunction ("standing on a and
    near a laptop") or, round 62, another article ("on the a parked bus"), a lone letter ("sit n a
    table")."""
    return any(w in ("a", "an", "the") and (a.tokens[k + 1].tag in ("IN", "TO")
                                            or a.lowers[k + 1] in ("and", "or", "a", "an", "the"))
               for k, w in enumerate(a.lowers[:-1])) \
        or any(w in ("n", "o") and a.tokens[k].text.islower() for k, w in enumerate(a.lowers))


def _verb_targets(a: Analysis) -> list[Target]:
    if a.parsed and (_negated_or_alternative(a) or article_on_plural(a) or _garbled(a)):
        return []  # round 27: "There are not many passengers on the bus" -> "under": still true;
        # 2.5 (round 34): "A lone boats sits": the caption's error would stay in the negative
    candidates: list[tuple[int, int]] = [(i, i + 1) for i in verb_candidates(a)
                                         if not (a.parsed and (_fixed_frame(a, i) or _unshown_verb(a, i)
                                                               or _misread_or_viewer_verb(a, i)))]
    candidates += [(s.start, s.end) for s in a.relations if not (a.parsed and (_bare_or_worn(a, s.start, s.end)
                                                                            or _facing_or_into(a, s.start, s.end)))]
    return [_verb_target(a, start, end) for start, end in sorted(candidates)]


def fallback_targets(a: Analysis, negative_type: str) -> list[Target]:
    """The first tier of :func:`fallback_tiers` that has targets (empty if none)."""
    return next((tier for tier in fallback_tiers(a, negative_type) if tier), [])


def fallback_tiers(a: Analysis, negative_type: str) -> list[list[Target]]:
    """Targets tried, tier after tier, only when :func:`replacement_targets` give no negative, so
    that every negative of the version before stays: ``verb`` one tier (2.6, :func:`_verb_fallbacks`),
    ``noun`` four (2.10 and 2.11, :func:`_noun_fallbacks`), ``adj`` one (2.11,
    :func:`_adjective_fallbacks`). Without plausibility selection (one target drawn at random) only
    the first tier with targets is used, and only where there is no target at all."""
    if not a.parsed:
        return []
    if negative_type == "noun":
        return _noun_fallbacks(a)
    if negative_type == "adj":
        return [_adjective_fallbacks(a)]
    return [_verb_fallbacks(a)] if negative_type == "verb" else []


# 2.11 (round 53's readers: "A male tennis player" -> "A female", "an outdoor market" -> "an indoor
# market", "A smiling skier" -> "A frowning skier", "a narrow path" -> "a wide path"): attributes of
# no replaced kind (no category of REPLACED_ADJECTIVE_KINDS, or none at all) whose one opposite is
# clear. Not "deep" or "light" (a deep blue, a light blue), nor moods that are read into a face
# ("happy", "sad").
ADJECTIVE_OPPOSITES: dict[str, str] = {
    "male": "female", "female": "male", "outdoor": "indoor", "indoor": "outdoor", "smiling": "frowning",
    "narrow": "wide", "wide": "narrow", "rural": "urban", "urban": "rural", "asleep": "awake", "awake": "asleep",
    "fancy": "plain",
}
OPPOSITE_POOL = "opposite"


def _adjective_fallbacks(a: Analysis) -> list[Target]:
    """2.11: for ``adj`` (v2), an attribute of :data:`ADJECTIVE_OPPOSITES` -> its opposite, where
    the adjective targets give no negative; not under a negation or beside an "or", nor where the
    caption has the opposite already ("a male and a female duck"), nor a gender a pronoun repeats
    ("A female player swings her racket"), nor an adjective before an "-ing" word, which is then a
    noun ("a female sitting", round 74)."""
    if _negated_or_alternative(a) or article_on_plural(a) or doubled_or_misfit_article(a):
        return []
    return [Target(i, i + 1, "adjective", a.lowers[i], a.lowers[i], OPPOSITE_POOL, a.tokens[i].tag, True)
            for i, category in adjective_candidates(a)
            if a.tokens[i].tag == "JJ" and category not in REPLACED_ADJECTIVE_KINDS
            and a.lowers[i] in ADJECTIVE_OPPOSITES and ADJECTIVE_OPPOSITES[a.lowers[i]] not in a.lowers
            and not (i + 1 < len(a.tokens) and a.lowers[i + 1].endswith("ing"))  # round 74: "a female sitting"
            and not (a.lowers[i] in ("male", "female") and GENDERED_PRONOUNS & set(a.lowers))]


GENDERED_PRONOUNS = frozenset({"he", "him", "his", "himself", "she", "her", "hers", "herself"})


def _verb_fallbacks(a: Analysis) -> list[Target]:
    """2.6: for ``verb`` (v2), an "in" whose object is an enclosure ("a
    cat in a car" -> "outside a car", :func:`_in_enclosure`), when the vocabulary's relations have
    both "in" and "outside". With plausibility selection they are tried when the targets give no
    negative; without it (one target drawn at random), when there is no target."""
    if _negated_or_alternative(a) or article_on_plural(a):
        return []
    if not {"in", ENCLOSURE_OPPOSITE} <= set(a.vocabulary.relations):
        return []  # a relation override without them: no "in" -> "outside"
    return [Target(s.start, s.end, "relation", "in", "in", ENCLOSURE_POOL, a.tokens[s.start].tag, True)
            for s in a.relations if _in_enclosure(a, s.start, s.end)]


PLURAL_DETERMINERS = frozenset({"some", "several", "many", "few", "these", "those", "other", "all", "both", "various",
                                "numerous", "multiple", "lots", "plenty"})
ROOM_POOL = "room"  # 2.10: a room of parsed.ROOMS -> another


def _noun_fallbacks(a: Analysis) -> list[list[Target]]:
    """2.10 (round 53: readers found a clear noun negative for 59-60 of 60 captions that 2.9 gave
    none): tried only when the noun targets give no negative, so that every 2.9 negative stays.
    Four tiers, each tried only when the one before gives no negative:

    1. a noun the mass-noun rule of round 19 misread: its determiner is behind coordinated
       adjectives ("A black and orange cat") or a double space, or a countable noun stands bare
       where captions drop the article, first in the caption ("Man playing tennis") or in a list
       ("with toilet, sink and tub"); and a room -> another room ("A bathroom that is empty" -> "A
       kitchen", :data:`parsed.ROOMS`);
    2. (2.11) a COCO name of :data:`NAME_SWAPS` -> another of its kind ("A fire hydrant" -> "A
       parking meter", "A living room" -> "A bedroom");
    3. furniture or an appliance in a room (which 2.4 never replaces by its own kind: a desk -> a
       couch in a living room may be true) -> a fixture of a room the caption is not in: a stove,
       oven, refrigerator or dishwasher in a bathroom, a toilet or bathtub anywhere else ("A bedroom
       with a bed and a dresser" -> "with a bed and a toilet");
    4. a person, or a noun + noun name of one ("tennis player"), -> an animal, where the caption
       names no animal ("Two people out in the snow" -> "Two horses"); pets and birds are never
       used, a scene may hold them unnamed.
    """
    if article_on_plural(a) or doubled_or_misfit_article(a) or _garbled(a) \
            or any(t.text.isalpha() and len(t.text) > 1 and t.text.isupper() for t in a.tokens) \
            or any(a.tokens[i].tag in ("VB", "VBP") and _noun_read_as_verb(a, i) for i in range(len(a.tokens))):
        return []  # the caption's own error would stay ("An man", "baseball player sin the dugout");
        # all capitals: the tagger misreads them
    targets, fixtures, stand_ins = [], [], []
    lowers = set(a.lowers)
    names_animal = bool(lowers & (ANIMAL_WORDS | ANIMAL_SCENE_WORDS)) or any(
        a.tokens[i].tag in NOUN_TAGS and noun_category(a, i) == "animal" for i in range(len(a.tokens))) \
        or any(animal in w for w in lowers for animal in ANIMALS_INSIDE_WORDS)  # review: "on horseback"
    fixture_pool = None if lowers & BATHROOM_WORDS and lowers & KITCHEN_WORDS else \
        KITCHEN_FIXTURE_POOL if lowers & BATHROOM_WORDS else \
        None if lowers & MAYBE_BATHROOM_WORDS else BATHROOM_FIXTURE_POOL  # review: a sink, a hotel room
    for t in _noun_targets(a):
        count = takes_count_noun(a, t.start, t.base)
        if t.tag == "NN" and count and not counted_noun(a, t.start):
            targets.append(replace(t, count_slot=True))
        if fixture_pool is not None and t.pool in FIXTURE_TARGET_KINDS and indoor_object_in_room(a, t) \
                and _whole_noun(a, t) and (t.tag == "NNS" or counted_noun(a, t.start)):  # round 56: "in bed"
            fixtures.append(replace(t, pool=fixture_pool, count_slot=count or t.tag != "NN"))
        if t.pool == "person" and t.end - t.start == 1 and not names_animal and (count or t.tag != "NN") \
                and not set(a.lowers[t.end:t.end + 2]) & {"who", "whom", "whose"}:
            stand_ins.append(replace(t, pool=STAND_IN_POOL, count_slot=True))
    if not names_animal:
        stand_ins += [t for t in _person_names(a) if not set(a.lowers[t.end:t.end + 2]) & {"who", "whom", "whose"}]
    for h in room_candidates(a):
        base = a.vocabulary.singular(a.lowers[h])
        targets.append(Target(h, h + 1, "noun", a.lowers[h], base, ROOM_POOL, a.tokens[h].tag, True, True))
    return [targets, _name_targets(a), fixtures, stand_ins]


# 2.11: COCO's own two-word names (protected whole since 2.1: "fire hydrant" is no "fire") -> a
# name of the same kind that is clearly not it, tried after the first fallback tier (round 53's
# readers: these names were the commonest noun with no negative left, 1,350 of the 46,540 Karpathy
# test and val2017 captions). Not the pairs one scene may show as one ("living room" / "dining
# room", "living room" or "dining room" / "kitchen"), nor a person's name ("police officer").
NAME_SWAPS: dict[str, tuple[str, ...]] = {
    "fire hydrant": ("parking meter", "stop sign", "traffic light"),
    "parking meter": ("fire hydrant", "stop sign", "traffic light"),
    "stop sign": ("fire hydrant", "parking meter", "traffic light"),
    "traffic light": ("fire hydrant", "parking meter", "stop sign"),
    "living room": ("bathroom", "bedroom"),  # round 72: not a kitchen (open plan)
    "dining room": ("bathroom", "bedroom"),
    "teddy bear": ("cat", "dog"),  # 2.14 (round 91): not a doll, a toy of the same kind
    "hot dog": ("hamburger", "burrito", "taco"),  # round 68: a hot dog in a bun is a sandwich
    "cell phone": ("remote control", "book", "wallet"),  # not a camera: a phone is one
    "parking lot": ("field",),  # round 72: a beach may adjoin one
    "tennis racket": ("baseball bat", "golf club"),
    "baseball bat": ("tennis racket", "golf club"),
    "fire truck": ("school bus", "ambulance"),
}
NAME_POOL = "name"
TOY_WORDS = frozenset({"stuffed", "plush", "toy"})  # 2.14: "a stuffed teddy bear" -> "a stuffed dog" is a toy too


def _name_targets(a: Analysis) -> list[Target]:
    """2.11: the names of :data:`NAME_SWAPS` in the caption, singular or plural, as targets whose
    pool is the name's own alternatives: whole (no noun or hyphen right before or after: "chili hot
    dog", "stop sign pole", "hot dog-eating"; a verb may follow: "A stop sign is on the corner"),
    not negated, not part of a longer fixed phrase, in no caption with quotes."""
    found = []
    vocab = a.vocabulary
    if any(t.text in QUOTES for t in a.tokens):
        return found  # a name in quoted text is what a sign reads
    for i in range(len(a.tokens) - 1):
        first, second = a.lowers[i], a.lowers[i + 1]
        singular = vocab.singular(second)
        if f"{first} {singular}" not in NAME_SWAPS and second.endswith("s"):
            singular = second[:-1]  # "parking lots": "lot" is no vocabulary noun
        base = f"{first} {singular}"
        if base not in NAME_SWAPS or cuts_phrase(i, i + 2, a.fixed_spans):
            continue  # a fixed phrase that is the name itself ("teddy bear") is replaced whole
        before, after = i - 1, i + 2
        if (before >= 0 and (a.tokens[before].tag in NOUN_TAGS or a.tokens[before].text == "-")) \
                or (after < len(a.tokens) and (a.tokens[after].tag in NOUN_TAGS or a.tokens[after].text == "-"
                                               or a.lowers[after] in NAME_SECOND_WORDS)) \
                or set(a.lowers[max(0, i - 3):i]) & NEGATION_WORDS \
                or (base == "teddy bear" and before >= 0 and a.lowers[before] in TOY_WORDS):
            continue  # "chili hot dog", "stop sign pole", "A hot dog-eating contest", "no fire hydrant";
            # 2.14: "a stuffed teddy bear" -> "a stuffed dog" is a toy too
        plural = second != singular
        found.append(Target(i, i + 2, "noun", f"{first} {second}", base, NAME_POOL, "NNS" if plural else "NN",
                            True, True))
    return found


def rooms_the_caption_furnishes(lowers) -> frozenset[str]:
    """Review of 2.10: the rooms whose fixtures a caption names ("A bedroom with a toilet" ->
    not "A bathroom with a toilet"): a room swap never goes to them."""
    words = set(lowers)
    return frozenset(room for room, named in (("bathroom", bool(words & BATHROOM_WORDS)),
                                              ("kitchen", bool(words & KITCHEN_WORDS)),
                                              ("bedroom", bool(words & {"bed", "beds", "crib", "nightstand"})))
                     if named)


# Review of 2.10: where an animal is there though no animal noun is ("People on horseback", "at a rodeo")
ANIMAL_SCENE_WORDS = frozenset({"zoo", "farm", "ranch", "rodeo", "safari", "pasture", "barn", "stable", "stables",
                                "polo", "jockey", "jockeys", "equestrian", "circus", "corral", "paddock", "herd",
                                "flock", "saddle", "reins", "leash"})
ANIMALS_INSIDE_WORDS = ("horse", "dog", "cow", "sheep", "goat", "pig", "bird", "cat")  # "horseback", "cowboy"
# Review of 2.10: where a toilet may be in view though no bathroom word is ("A counter with a sink and a
# mirror", "A bed in a hotel room")
MAYBE_BATHROOM_WORDS = frozenset({"sink", "sinks", "mirror", "mirrors", "towel", "towels", "soap", "hotel", "motel",
                                  "camper", "rv", "cabin", "boat", "hospital", "dorm", "trailer", "hostel"})


def _whole_noun(a: Analysis, t: Target) -> bool:
    """Round 56: no noun beside the target that makes a name with it ("microwave | ovens timer",
    "table | setting", "pizza | oven")."""
    return not ((t.start > 0 and a.tokens[t.start - 1].tag in NOUN_TAGS)
                or (t.end < len(a.tokens) and (a.tokens[t.end].tag in NOUN_TAGS or a.tokens[t.end].tag == "VBZ"
                                               or a.lowers[t.end] in NAME_SECOND_WORDS)))


NAME_SECOND_WORDS = frozenset({"setting", "settings", "top", "tops", "cloth", "cloths"})  # "a table setting/VBG"


def _person_names(a: Analysis) -> list[Target]:
    """2.10: a noun + noun name of a person ("a tennis player", "baseball players"), which 2.5 never
    replaces by a person (a "tennis player" -> "tennis coach" may be true), as an animal target."""
    found = []
    for chunk in a.chunks:
        for h in chunk.heads:
            start = h
            while start > 0 and a.tokens[start - 1].dep == "compound" and a.tokens[start - 1].tag in ("NN", "NNS") \
                    and a.tokens[start - 1].text.isalpha():
                start -= 1
            if start == h or noun_category(a, h) != "person" or a.tokens[h].tag not in ("NN", "NNS") \
                    or set(a.lowers[max(0, chunk.start - 1):h]) & NEGATION_WORDS or _paired_by_other(a, h) \
                    or any(k in a.protected or k in a.fixed for k in range(start, h + 1)) \
                    or not _counts_or_plural(a, start, h) \
                    or any(start <= a.tokens[k].head < h for k in range(start)) or _name_goes_on(a, start):
                continue  # "A half | pipe snowboarder": a word before it may belong to the name
            found.append(Target(start, h + 1, "noun", " ".join(a.lowers[start:h + 1]),
                                a.vocabulary.singular(a.lowers[h]), STAND_IN_POOL, a.tokens[h].tag, True, True))
    return found


def _name_goes_on(a: Analysis, start: int) -> bool:
    """The word before a noun + noun name may be part of it: an attribute of no known kind ("half
    pipe", "cross country"), a classifying adjective, a noun (as :func:`analysis._breaks_a_name`)."""
    if start == 0:
        return False
    before = a.tokens[start - 1]
    return (before.tag in ("JJ", "VBN", "VBG") and a.vocabulary.category_of(a.lowers[start - 1], "adjective") is None) \
        or a.lowers[start - 1] in CLASSIFYING_ADJECTIVES or before.tag in NOUN_TAGS


def _counts_or_plural(a: Analysis, start: int, h: int) -> bool:
    return a.tokens[h].tag == "NNS" or takes_count_noun(a, start, a.lowers[h])


def indoor_object_in_room(a: Analysis, t: Target) -> bool:
    """2.4 (rounds 20-21): an object of an indoor kind with a room or another indoor object in the
    caption: an object of its own kind may be there too (a desk -> a couch in a living room)."""
    vocab = a.vocabulary
    others = [w for k, w in enumerate(a.lowers) if not t.start <= k < t.end]
    return t.pool in INDOOR_KINDS and bool(
        set(others) & INDOOR_SCENE_WORDS or any(vocab.category_of(vocab.singular(w), "noun") in INDOOR_KINDS
                                                for w in others))


FIXTURE_TARGET_KINDS = frozenset({"furniture", "appliance"})
KITCHEN_FIXTURE_POOL, BATHROOM_FIXTURE_POOL = "kitchen fixture", "bathroom fixture"
FIXTURES = {KITCHEN_FIXTURE_POOL: ("stove", "oven", "refrigerator", "dishwasher"),
            BATHROOM_FIXTURE_POOL: ("toilet", "bathtub")}


STAND_IN_POOL = "animal"


def counted_noun(a: Analysis, start: int) -> bool:
    """Round 19's test: a counting determiner before the noun starting at ``start``, past its
    adjectives only (else a singular noun reads as a mass: "tall grass", "pieces of fruit")."""
    j = start - 1
    while j >= 0 and (a.tokens[j].tag in ("JJ", "JJR", "JJS", ",", "HYPH")
                      or a.tokens[j].dep in ("amod", "advmod", "compound", "npadvmod")):
        j -= 1
    return j >= 0 and a.lowers[j] in COUNTING_DETERMINERS


def takes_count_noun(a: Analysis, start: int, base: str) -> bool:
    """2.10: the place of the noun starting at ``start`` takes a countable noun: a counting
    determiner before it, past adjectives joined by "and"/"or" and spaces ("A yellow blue and
    white bird"); or, for a countable noun, none where captions drop the article: first in the
    caption ("Man playing tennis") or in a list ("A bathroom with toilet, sink and tub")."""
    j = start - 1
    while j >= 0 and (a.tokens[j].tag in ("JJ", "JJR", "JJS", ",", "HYPH", "_SP")
                      or not a.tokens[j].text.strip()
                      or a.tokens[j].dep in ("amod", "advmod", "compound", "npadvmod")
                      or (a.lowers[j] in ("and", "or") and j > 0 and a.tokens[j - 1].tag in ("JJ", ",")
                          and a.tokens[j + 1].tag == "JJ")):
        j -= 1
    if j >= 0 and a.lowers[j] in COUNTING_DETERMINERS:
        return True
    if j >= 0 and (a.tokens[j].tag == "CD" or a.lowers[j] in PLURAL_DETERMINERS):
        return False  # round 54: "two zebra", "Some zebra and deer": a plural the caption spells as singular
    if base in a.vocabulary.uncountable:
        return False
    if j < 0:  # review: "Fruit for sale at a market" is a mass: not food or plants
        return a.vocabulary.category_of(base, "noun") not in ("food", "plant")
    head = start
    while head + 1 < len(a.tokens) and a.tokens[head].dep == "compound":
        head += 1
    return a.tokens[head].dep == "conj" or any(a.tokens[k].dep == "conj" and a.tokens[k].tag in NOUN_TAGS
                                               for k in a.children[head])


ENCLOSURE_POOL = "enclosure"  # the pool of an "in" whose opposite is "outside" (see _in_enclosure)
ENCLOSURE_OPPOSITE = "outside"
# 2.6: what one is in or outside of, a clear either-or: rooms and buildings, closed vehicles, containers.
# Not open places ("in a field", "in a park", "in the street": "outside" them says little), not
# furniture ("in a chair", "in bed"), not what one wears ("in a suit"), not a window or mirror
# ("reflected in a window"), not a tank or pen (other senses), not a motorbike or bicycle (one is on them),
# not a bag or suitcase ("in" an accessory reads as worn: _no_place_to_invert);
# round 38's readers: not a station, airport, terminal, museum or stadium (trains, planes and exhibits
# stand outdoors at them: "a train in a station" -> "outside" may be true).
ENCLOSURES = frozenset({
    "kitchen", "bathroom", "bedroom", "room", "restroom", "office", "classroom", "garage", "barn", "shed", "tent",
    "cabin", "house", "building", "restaurant", "store", "shop", "cafe", "diner", "bakery", "hotel", "church",
    "gym", "library", "mall", "warehouse", "hangar",
    "factory", "school", "hospital", "cockpit", "stall",
    "car", "truck", "bus", "van", "taxi", "cab", "train", "plane", "airplane", "jet", "helicopter", "ambulance",
    "limo", "limousine", "suv", "minivan", "trailer", "subway", "boat", "canoe", "kayak",
    "box", "basket", "bowl", "bucket", "bin", "sink", "bathtub", "tub",
    "cage", "crate", "jar", "pot", "pan", "vase", "cup", "mug", "bottle", "container", "carton", "fridge",
    "refrigerator", "oven", "microwave", "drawer", "cabinet", "closet", "toilet", "shower", "pool", "enclosure",
})


# words before which "in" is a particle, not a place ("a walk in shower", "fenced in an enclosure")
IN_PARTICLE_WORDS = frozenset({"walk", "drive", "check", "checked", "sign", "log", "plug", "plugged", "built", "fenced",
                               "penned", "walled", "boxed", "hemmed", "closed", "tucked", "snowed", "dressed",
                               "moving", "moved", "move", "pull", "pulled", "pulls", "break", "broke", "broken",
                               # round 39: "covered in" = with; "load it in the car": the loaders stand outside
                               "covered", "encased", "filled", "coated", "wrapped", "decorated", "topped", "lined",
                               "dipped", "soaked", "smothered", "drenched", "clad"})
LOADING_FORMS = frozenset({"load", "loads", "loading", "loaded", "unload", "unloads", "unloading", "unloaded"})


# 2.9 (round 46): "A man is searching for food in a refrigerator" -> "outside": he is.
REACHING_FORMS = frozenset({"searching", "searches", "reaching", "reaches", "rummaging", "digging", "looking"})
PART_WAY = frozenset({"half", "halfway", "partially", "partly", "part"})


def _in_enclosure(a: Analysis, start: int, end: int) -> bool:
    """2.6: an "in" whose object is an enclosure ("a cat sitting in a car" -> "outside a car"), on
    the same conditions as any relation to invert (:func:`_bare_or_worn` but for the opposite, and
    :func:`_facing_or_into`: "pulling in the station" shows no direction), and without "outside"
    already in the caption."""
    if end - start != 1 or a.lowers[start] != "in" or ENCLOSURE_OPPOSITE in a.lowers:
        return False
    if _no_place_to_invert(a, start, end) or _facing_or_into(a, start, end):
        return False
    if set(a.lowers[max(0, start - 2):start]) & MOVING_FORMS or (start > 0 and a.lowers[start - 1] in IN_PARTICLE_WORDS):
        return False
    if set(a.lowers[:start]) & (LOOKING_FORMS | REACHING_FORMS) or set(a.lowers[max(0, start - 2):start]) & PART_WAY:
        return False  # round 38: "a woman looking at an elephant in its enclosure" -> "outside": she is;
        # "a cat half in a toilet" is half outside it
    if (LOADING_FORMS | {"from"}) & set(a.lowers[:start]) or (start > 0 and a.lowers[start - 1] in INDEFINITE_OBJECTS):
        return False  # round 39: "food from a woman in a lunch truck" -> "outside": the buyer is;
        # "something in the room" (unseen) may be anywhere
    if doubled_or_misfit_article(a):
        return False  # round 39: the caption's own "a a", "a oven" would stay in the negative
    head = a.lowers[a.chunks[a.chunk_of[end]].head]
    return a.vocabulary.singular(head) in ENCLOSURES or (  # plurals the vocabulary does not know ("cages")
        a.tokens[a.chunks[a.chunk_of[end]].head].tag == "NNS"
        and (head[:-1] in ENCLOSURES or (head.endswith("es") and head[:-2] in ENCLOSURES)))


# 2.4 (round 27's readers, the stricter brief)
REFLEXIVE_OBJECTS = frozenset({"themselves", "himself", "herself", "itself", "myself", "yourself", "ourselves"})
INDEFINITE_OBJECTS = frozenset({"something", "anything", "everything", "nothing", "stuff"})
STATE_VERBS = frozenset({"varying", "vary", "varies", "close", "setting", "halved", "sized"})
INTO_VERBS = frozenset({"cut", "cuts", "cutting", "slice", "slicing", "way", "bite", "biting", "dig", "digging"})


def _negated_or_alternative(a: Analysis) -> bool:
    """A negation or an "or" in the caption: a replaced act or relation may leave it true ("not
    many passengers under the bus", "surfing or swimming" -> "running or swimming")."""
    return bool({"not", "n't", "no", "never", "without", "or", "nor"} & set(a.lowers))


# 2.9 (round 46's readers): "-ing" nouns the tagger reads as verbs ("eating cake frosting off his hand").
ING_NOUNS_READ_AS_VERBS = frozenset({"frosting", "icing", "topping", "toppings", "stuffing", "dressing", "pudding",
                                     "bedding", "siding", "flooring", "clothing", "seating", "lighting"})
VIEWERS = frozenset({"we", "you", "i"})  # "We see a very old picture of people": the viewer's verb
# Round 47: what flows or falls is said to move in figures of speech ("steam pouring out" ->
# "climbing out", "Smoke is billowing" -> "running", "Night is falling" -> "sitting").
SUBSTANCE_SUBJECTS = frozenset({"steam", "smoke", "water", "fire", "flames", "snow", "rain", "fog", "mist", "night",
                                "dusk", "darkness", "light", "sunlight", "clouds", "cloud", "wind", "waves"})
LEAF_MODIFIERS = frozenset({"autumn", "fall", "green", "dead", "dry", "brown", "yellow", "red", "orange", "tree",
                            "palm", "lettuce", "tea", "banana", "maple", "oak"})  # round 47: "autumn leaves"


def _misread_or_viewer_verb(a: Analysis, i: int) -> bool:
    """2.9 (rounds 46-47): no act of the image: a noun the tagger reads as a verb ("cake frosting",
    "baking pans", "Park benches": a plural of a vocabulary noun that is no vocabulary verb;
    "autumn leaves"), the viewer's verb ("We see"), a substance's figure of speech ("steam
    pouring out", "Night is falling"), or any verb of an all-caps caption ("A PLATE OF HOT DOGS
    AND FRIES": the tagger reads capitals poorly)."""
    word = a.lowers[i]
    vocab = a.vocabulary
    if word in ING_NOUNS_READ_AS_VERBS and i > 0 and a.tokens[i - 1].tag in NOUN_TAGS \
            and vocab.category_of(vocab.singular(a.lowers[i - 1]), "noun") not in ("person", "animal"):
        return True  # "cake frosting", "street lighting"; not "A chef topping a pizza", "is icing a cake"
    if a.tokens[i].tag == "VBZ" and vocab.verb_base(word) is None and vocab.category_of(vocab.singular(word), "noun") \
            and not any(a.tokens[k].dep == "dobj" for k in a.children[i]):
        return True  # "Park benches with a fence"; not "A man waters the plants"
    if any(a.tokens[k].dep == "nsubj" and a.lowers[k] in VIEWERS | SUBSTANCE_SUBJECTS for k in a.children[i]) \
            or (i > 1 and a.lowers[i - 1] in SUBSTANCE_SUBJECTS and a.lowers[i - 2] in ("with", "and")):
        return True  # the viewer's verb; round 47: a substance's figure of speech ("with steam pouring out")
    if a.tokens[i].tag == "VBZ" and vocab.verb_base(word) is None and vocab.category_of(vocab.singular(word), "noun") \
            and i > 0 and a.tokens[i - 1].tag == "NNS":
        return True  # round 52: "some people trees cars and buildings": a list, not "people trees cars"
    if _noun_read_as_verb(a, i):
        return True
    if _verb_bases(vocab, word) & {"come", "serve"} and a.lowers[i + 1:i + 2] == ["with"]:
        return True  # round 62: "comes with soup" (is served with)
    if word == "use" and i > 0 and a.tokens[i - 1].tag == "MD":
        return True  # round 61: "could use a good cleaning"
    if word in ("bow", "bows") and a.lowers[i + 1:i + 2] in (["tie"], ["ties"]):
        return True  # round 62: "a bow tie" -> "brush tie"
    if vocab.verb_base(word) == "wear" and i + 1 < len(a.tokens) and a.lowers[i + 1] in vocab.words("colour"):
        return True  # round 52: "The tennis player wearing white" -> "serving white"
    bases = _verb_bases(vocab, word)
    if a.lowers[i + 1:i + 2] in (["by"], ["past"]) and (bases & (PASSING_VERBS - {"run"}) or (
            "run" in bases and _subject_is_vehicle(a, i))):
        return True  # round 52: "traffic zooming by" -> "running by", "a train passing by" -> "brushing by";
        # not "A dog running by the water" (-> "sitting by": a gait, and "by" is beside)
    if word == "leaves" and i > 0 and a.lowers[i - 1] in LEAF_MODIFIERS:
        return True  # round 47: "a branch with autumn leaves" -> "autumn skis"
    if i + 1 < len(a.tokens) and a.lowers[i + 1] in ("on", "along") and not any(
            a.tokens[j].dep == "pobj" and a.tokens[j].head == i + 1 for j in range(i + 2, len(a.tokens))):
        return True  # round 49: "a swimmer looking on" (watching) -> "running on"
    letters = [t.text for t in a.tokens if t.text.isalpha()]
    return len(letters) > 2 and all(w.isupper() for w in letters)


def _noun_read_as_verb(a: Analysis, i: int) -> bool:
    """Rounds 59-60: nouns the tagger reads as verbs, by where they stand:
    - the main verb in its base form with one singular noun as subject (not "a group of", "a
      pair of"; not a third person the tagger misread, "A man surfs/VB"; not "helping a child
      stand"), an agreement no caption means ("A metallic baggage claim track/VBP", "baseball
      player sin/VB"), and "the side walk/VB";
    - a verb joined by "and" to a word that is no verb ("broccoli and cauliflower/VBP", "white and
      gray bedding and netting/VBG");
    - an "-ing" noun right after "in", "on" or "at" ("A toilet in building", "on railing", "in
      running position"; not "with a helmet on riding");
    - the picture's own looking ("A view looking up the side of a tower")."""
    tokens, tag = a.tokens, a.tokens[i].tag
    children = a.children[i]
    if tag in ("VB", "VBP"):
        if i > 0 and a.lowers[i - 1] == "side" and a.lowers[i] == "walk":
            return True  # "on the side walk/VB"
        subjects = [k for k in children if tokens[k].dep == "nsubj"]
        base = a.vocabulary.verb_base(a.lowers[i])
        if tokens[i].dep == "ROOT" and (base is None or base == a.lowers[i]) \
                and len(subjects) == 1 and tokens[subjects[0]].tag in ("NN", "NNP") \
                and not any(tokens[k].dep in ("aux", "auxpass") or tokens[k].tag == "MD" for k in children) \
                and a.lowers[subjects[0]] not in COLLECTIVE_NOUNS | COUNTING_WORDS \
                and not any(tokens[k].dep in ("conj", "acl", "relcl") or a.lowers[k] == "of"
                            for k in a.children[subjects[0]]):
            return True
    head = tokens[i].head
    if tokens[i].dep == "conj" and 0 <= head < len(tokens) and head != i and (
            not tokens[head].tag.startswith("VB")
            or (tag in ("VB", "VBP") and tokens[head].tag in ("VBN", "VBG")
                and not any(tokens[k].dep == "nsubj" for k in children))):
        return True  # "broccoli and cauliflower/VBP" after "loaded/VBN": no verb of its own
    if tag == "VBG" and i > 0 and a.lowers[i - 1] in ("in", "on", "at") and tokens[i].dep == "pcomp" \
            and (a.lowers[i] in ING_NOUNS_AFTER_PLACE or a.lowers[i + 1:i + 2] in (["position"], ["stance"], ["pose"])):
        return True
    return tokens[i].dep == "acl" and head == i - 1 and a.lowers[head] in FRAME_VIEWS and a.lowers[i] in VIEWING_FORMS


FRAME_VIEWS = frozenset({"view", "views", "shot", "shots", "picture", "pictures", "photo", "photos", "photograph",
                         "image", "images", "closeup", "snapshot", "angle", "scene"})
ING_NOUNS_AFTER_PLACE = frozenset({"building", "railing", "netting", "landing", "crossing", "clearing", "parking",
                                   "painting", "drawing", "wedding", "ceiling", "siding", "awning", "serving"})
VIEWING_FORMS = frozenset({"looking", "looks", "facing", "faces", "overlooking", "showing", "shows", "taken", "seen"})


def _subject_is_vehicle(a: Analysis, i: int) -> bool:
    """The verb's subject (or the noun it hangs on) is a vehicle or "traffic"."""
    k = next((k for k in a.children[i] if a.tokens[k].dep == "nsubj"), a.tokens[i].head)
    if not 0 <= k < len(a.tokens) or k == i:
        return False
    word = a.lowers[k]
    return word == "traffic" or a.vocabulary.category_of(a.vocabulary.singular(word), "noun") == "vehicle"


def _verb_bases(vocab: Vocabulary, word: str) -> frozenset[str]:
    """The verb's base as the vocabulary knows it, else the guesses of :func:`parsed.verb_stems`."""
    base = vocab.verb_base(word)
    return frozenset({base}) if base is not None else frozenset(verb_stems(word))


def _unshown_verb(a: Analysis, i: int) -> bool:
    """2.4 (round 27): a past form (a state more than an act: "leaned", "gathered", "halved",
    "crouched"), a verb with a reflexive or an indefinite object ("relieving themselves", "chewing
    something"), or a word of state the tagger calls a verb ("varying in size", "close behind",
    "A park setting")."""
    if a.tokens[i].tag in ("VBD", "VBN") or a.lowers[i] in STATE_VERBS:
        return True
    if i + 3 < len(a.tokens) and a.lowers[i + 1:i + 4] in (["on", "its", "hind"], ["on", "his", "hind"],
                                                          ["on", "their", "hind"], ["on", "her", "hind"]):
        return True  # round 28: "stands on its hind legs": one act
    return i + 1 < len(a.tokens) and a.lowers[i + 1] in REFLEXIVE_OBJECTS | INDEFINITE_OBJECTS


def _facing_or_into(a: Analysis, start: int, end: int) -> bool:
    """2.4 (round 27): "sitting down in front of a table" -> "behind" (facing it, either may be
    said), "cutting into a cake" -> "out of", "a third of the way into a jump"."""
    phrase = " ".join(a.lowers[start:end])
    before = set(a.lowers[max(0, start - 3):start])
    if phrase in ("in front of", "behind", "in back of") and before & FACING_POSTURES:
        return True
    if phrase in ("in front of", "behind", "in back of") and set(a.lowers[max(0, start - 5):start]) & LOOKING_FORMS:
        return True  # round 34: "watching two elephants behind a fence": behind it for the one who watches
    if phrase in VERTICAL_RELATIONS and "upside" in a.lowers:
        return True  # round 34: "a trick upside down on his snow board" -> "under" may be true
    if phrase in ("into", "out of") and set(a.lowers[end:end + 4]) & {"sky", "skies", "air"}:
        return True  # round 34: "flying into some grey skies" -> "out of": one picture cannot tell
    if phrase in ("into", "out of", "in to") and set(a.lowers[max(0, start - 2):start]) & MOVING_FORMS:
        return True  # round 35: "a train pulling into a station" -> "out of": idem
    if phrase in ("in front of", "behind", "in back of") and set(a.lowers[end:end + 4]) & SEE_THROUGH:
        return True  # round 35: "doughnuts behind a store window": in front of it, seen from inside;
        # round 36: "players behind a fence", "behind the net": either side, by where one stands
    if phrase == "over" and set(a.lowers[max(0, start - 2):start]) & LOOKING_FORMS:
        return True  # round 36: "looking over": a verb of its own
    if phrase in ("on", "on top of") and set(a.lowers[end:end + 4]) & BREADS:
        return True  # round 35: "a sandwich on wheat bread" names the bread
    if end < len(a.lowers) and a.lowers[end] in ("construction", "repair", "renovation", "way"):
        return True  # round 28: "under construction" -> "on construction"
    if "hind" in a.lowers[end:end + 3]:
        return True  # round 28: "stands on its hind legs"
    if start > 0 and a.lowers[start - 1] == "from":
        return True  # 2.9 (round 46): "peeking out from under a cloth" -> "from on"
    following = set(a.lowers[end:end + 4])
    k = a.chunk_of[end] if end < len(a.tokens) else -1
    head = a.lowers[a.chunks[k].head] if k >= 0 and a.chunks[k].start == end else None
    if phrase == "on" and head in DISPLAYS:
        return True  # 2.9: "shows them on a screen", "playing Wii on a projection television": on it = in it
    if phrase in ("on", "under") and head in SHELVES:
        return True  # round 47: "a toaster on a kitchen shelf" -> "under": the shelf above it
    if phrase in VERTICAL_RELATIONS and _object_pronoun(a, end) and a.chunks and a.lowers[a.chunks[0].head] in BREADS:
        return True  # round 47: "The bread has meat on it" -> "under it": a sandwich has both
    if phrase in VERTICAL_RELATIONS and end + 1 < len(a.tokens) and a.tokens[end].tag == "PRP$" \
            and a.lowers[end + 1] in ("arm", "arms"):
        return True  # 2.9: surfboards "under their arms" rest "on" them
    if phrase in ("into", "out of", "in to") and set(a.lowers[max(0, start - 3):start]) & REACHING_OUT:
        return True  # round 49: a pier "stretches far into the water" -> "out of": it does both
    if start > 0 and a.lowers[start - 1] in ATTACHING_PARTICIPLES:
        return True  # round 49: "connected on a chain" (by it) -> "under a chain"
    if phrase in ("into", "out of", "in to") and following & {"mirror", "mirrors", "wave", "waves"}:
        return True  # 2.9: "looking into a mirror" (the reflection looks out), "falling into a wave" (a wipeout)
    if phrase == "on" and start > 0 and a.lowers[start - 1] == "head" \
            and not (start > 1 and a.tokens[start - 2].tag in ("PRP$", "DT", "POS")):
        return True  # round 59: "with head on traffic" (facing it); not "his head on a pillow"
    if head in ("outside", "inside", "exterior", "interior"):
        return True  # round 59: "sugar on the outside" -> "under the outside": a side, not a thing
    if phrase in ("over", "under") and end + 1 < len(a.tokens) and a.tokens[end].tag in ("JJ", "VBN") \
            and a.lowers[end].endswith("ed") and a.tokens[end + 1].tag in NOUN_TAGS:
        return True  # round 60: "A LARGE OVER SIZED SUB SANDWICH": part of an attribute
    if start > 1 and a.lowers[start - 1] == "out" and a.lowers[start - 2] in ("wipes", "wiping", "wiped", "wipe"):
        return True  # round 59: "A surfer wipes out on a huge wave" -> "under": a wipeout ends under it
    if phrase in ("near", "next to", "beside", "close to", "by") and head in DISTANT_THINGS:
        return True  # round 61: "a train near mountains" -> "far from": they may be far in the background
    if phrase in VERTICAL_RELATIONS and head in ("feet", "foot", "hands", "hand"):
        return True  # rounds 61: skis "on" -> "under his feet", a phone "on" -> "under her hands": both
    if phrase in ("inside", "outside", "inside of", "outside of") and head in OPEN_PLACES:
        return True  # round 61: "outside a ski resort" -> "inside": people on its slopes are in it
    if phrase in ("in", "inside", "outside", "inside of", "outside of") and (
            head in HALF_OPEN_PLACES or (head in ("garage", "garages") and "parking" in a.lowers[end:end + 3])):
        return True  # 2.14 (round 92): "a table outside a balcony" -> "inside": on it either way; "a ramp in a
        # parking garage" -> "outside": its open top deck (a garage alone is closed: "outside a garage" stays)
    if phrase in VERTICAL_RELATIONS and head in ("shade", "shadow", "shadows"):
        return True  # 2.14 (round 92): "a cow under the shade of a tree" -> "on the shade"
    if phrase == "on" and start > 0 and a.lowers[start - 1] in ("eyes", "eye") \
            and (start < 2 or a.tokens[start - 2].tag not in ("JJ", "NN", "VBN")):
        return True  # 2.14 (round 92): "with eyes on a frisbee" (watching it) -> "eyes under"; not "green eyes on a couch"
    if phrase in ("over", "under") and a.lowers[end:end + 1] in (["pass"], ["passes"]):
        return True  # round 62: "an over pass" (overpass) -> "an on pass"
    if phrase in ("toward", "towards", "away from") and start > 0 and a.lowers[start - 1] == "distance":
        return True  # round 62: "stands some distance away from" -> "toward": unclear
    if phrase == "into" and start > 0 and a.lowers[start - 1] in ("teeth", "fangs"):
        return True  # round 61: "sinking his teeth into" a sandwich
    if phrase in ("under", "beneath", "below", "underneath") and head in SKY_WORDS:
        return True  # round 52: "riding a kiteboard under a gray sky" -> "on a gray sky" reads as weather
    if phrase in ("over", "above") and head in SKY_WORDS - {"cloud", "clouds"}:
        return True  # 2.13 (round 81): "flying over a big harvest moon" -> "under": a plane is under the moon
        # (above or below the clouds a picture shows)
    if phrase in ("on", "upon", "atop", "on top of") and head in ("wall", "walls"):
        return True  # round 52: "a fountain on a vine covered wall" -> "under": at its foot, on it too
    if phrase in ("in front of", "behind", "in back of") and "in traffic" in " ".join(a.lowers):
        return True  # round 52: "a bus waits in traffic behind a car": a car is in front of it too
    return phrase in ("into", "in to") and start > 0 and a.lowers[start - 1] in INTO_VERBS


SKY_WORDS = frozenset({"sky", "skies", "cloud", "clouds", "sun", "moon", "stars", "sunset", "sunlight"})
DISTANT_THINGS = frozenset({"mountain", "mountains", "hill", "hills", "hillside", "skyline", "horizon", "sky", "ocean",
                            "sea", "city", "forest", "mountainside", "range", "cliffs"})
OPEN_PLACES = frozenset({"resort", "park", "zoo", "area", "field", "lot", "yard", "campus", "stadium", "farm",
                         "garden", "market", "fairground"})
HALF_OPEN_PLACES = frozenset({"balcony", "balconies", "porch", "porches", "patio", "patios", "deck", "decks", "terrace",
                              "terraces", "veranda", "verandah"})


def _fixed_frame(a: Analysis, i: int) -> bool:
    """v2: a verb no other verb can take the place of: a light verb ("takes a bite", "makes its
    way"), "dressed in", a verb after another "-ing" verb or before its manner adverb ("standing
    looking through", "looking intently at"), a verb whose object is an idiom or no object ("its way", "having fun"), a participle
    with its own preposition ("attached to", "made out of", "divided into")."""
    base = a.vocabulary.verb_base(a.lowers[i]) or a.lowers[i]
    if base in LIGHT_VERBS or a.lowers[i] in ("pays", "paying", "paid") or a.lowers[i] in ("dressed", "clad") or a.lowers[i] in NOT_ACTIONS \
            or after_other_verb(a.tokens, i) or manner_adverb_after(a.tokens, i):
        return True
    if i > 0 and not a.tokens[i - 1].ws and a.tokens[i - 1].is_word:
        return True  # "theres" -> "there" + "s": a piece of a word
    if i + 1 < len(a.tokens) and base in ("hold", "hang", "cling", "grab") and a.lowers[i + 1] in ("onto", "on", "up"):
        return True  # "holding onto": the particle is the verb's
    if any(start == i + 1 and not in_fixed_name(a.lowers, a.fixed_spans, start) for start, _ in a.fixed_spans):
        return True  # "sitting cross legged", "makes its way"; not a name (2.14: "wearing a bow tie")
    if any(a.tokens[k].dep == "dobj" and ((k in a.fixed and not in_fixed_name(a.lowers, a.fixed_spans, k))
                                          or a.lowers[k] in NON_OBJECTS) for k in a.children[i]):
        return True
    if a.tokens[i].tag in ("VBN", "VBD") and 0 < i < len(a.tokens) - 1 and a.tokens[i - 1].tag in NOUN_TAGS \
            and a.tokens[i + 1].tag in NOUN_TAGS:
        return True  # "a building lined street": a modifier, not the verb of the caption
    if not any(a.tokens[k].dep == "dobj" for k in a.children[i]) and i + 1 < len(a.tokens) \
            and a.tokens[i + 1].tag in NOUN_TAGS | {"DT", "PRP$", "CD"}:
        return True  # 2.2: a noun phrase right after it that the parse did not make its object ("flying kites/ROOT")
    if i > 1 and a.lowers[i - 1] == "to" and a.lowers[i - 2] in BEFORE_TO_NOUN:
        return True  # 2.2: "up to cheek", "next to keyboard": a noun the tagger read as a verb after "to"
    if i > 0 and a.lowers[i - 1] == "to" and a.tokens[i].tag == "VB":
        return True  # rounds 15-16: an infinitive names an intent or a purpose ("getting ready to hit", "using a
        # receiver to answer a call"): a photo shows only its start
    if i > 0 and a.lowers[i - 1] in VERB_FIRST_HALVES:
        return True  # round 16: "blow drying", "water skiing": one verb of two words
    if a.lowers[i] in VERB_FIRST_HALVES and i + 1 < len(a.tokens) and a.tokens[i + 1].tag.startswith("VB"):
        return True  # round 60: "The women blow dries the boy" -> "ride dries"
    if i + 1 < len(a.tokens) and a.tokens[i + 1].tag == "VBN":
        return True  # round 16: "sits perched", "sits parked": the participle says where it is
    if any(a.tokens[k].dep == "prt" and k > i + 1 for k in a.children[i]):
        return True  # round 16: "sets a sandwich down": the particle after the object is the verb's
    if i + 2 < len(a.tokens) and a.lowers[i + 1:i + 3] == ["to", "sleep"]:
        return True  # round 16: "go to sleep" = "fall asleep"
    if any(a.tokens[k].dep == "acomp" for k in a.children[i]) or (
            i + 1 < len(a.tokens) and a.tokens[i + 1].tag == "JJ" and a.tokens[i + 1].head == i
            and (i + 2 >= len(a.tokens) or a.tokens[i + 2].tag not in NOUN_TAGS)):
        return True  # round 17: "lays asleep", "sits open": the complement is the verb's
    if i > 0 and a.tokens[i].tag == "VB" and a.lowers[i - 1] in BE_FORMS:
        return True  # round 15: "are play fighting": no base verb after "are"
    if i > 1 and a.tokens[i].tag == "VBG" and a.tokens[i - 1].tag in NOUN_TAGS and a.lowers[i - 2] in BE_FORMS:
        return True  # round 15: "is air drying": one verb of two words
    if i > 0 and a.tokens[i].tag == "VBG" and a.vocabulary.verb_base(a.lowers[i - 1]) in PERSON_POSTURES:
        return True  # round 15: "stands digging": the -ing verb goes with the posture
    if a.tokens[i].tag == "VBG" and a.tokens[i].dep == "pcomp" and not a.children[i]:
        return True  # round 15: "a car on coming" (oncoming)
    if a.tokens[i].tag == "VBN":  # "covered in", "filled with", "painted orange": another participle rarely fits
        return i + 1 >= len(a.tokens) or a.lowers[i + 1] != "by"
    return False


def _bare_or_worn(a: Analysis, start: int, end: int) -> bool:
    """v2: a relation that is no place to invert: one without an opposite in the vocabulary ("in"
    -> "on" hardly changes "sheep in hay"), one with no noun phrase after it ("a horse stands
    behind.": "in front of." dangles), one of a fixed expression ("on display", "in the
    distance"), or "in" + clothing ("a man in a gray shirt": wearing)."""
    phrase = " ".join(a.lowers[start:end])
    if a.vocabulary.relation_opposites.get(phrase) not in a.vocabulary.relations:
        return True
    return _no_place_to_invert(a, start, end)


def _no_place_to_invert(a: Analysis, start: int, end: int) -> bool:
    """:func:`_bare_or_worn` but for the opposite: a fixed expression, a particle, no noun phrase
    after it, or an idiom's object."""
    phrase = " ".join(a.lowers[start:end])
    if any(k in a.fixed for k in range(start, end)):
        return True  # "focus on", "in to"
    if start > 0 and a.tokens[start - 1].tag == "VBN" and a.lowers[start] not in PARTICIPLE_PLACES:
        return True  # "made out of wood", "divided into thirds": the participle's own preposition
    if start > 0 and a.lowers[start - 1] in PARTICLE_VERBS | EATING_VERBS:
        return True  # "put on skis", "holding onto": the verb's particle; round 16: "grazing on", "fixed on"
    if start > 0 and a.lowers[start - 1] == "all":
        return True  # "all over her face"
    if (start > 0 and a.lowers[start - 1] in BITE_NOUNS) or (end < len(a.lowers) and a.lowers[end] in ("focus", "foot", "board")):
        return True  # 2.2: "a bite out of" = "into"; "an out of focus boat"
    if phrase == "on" and start > 0 and noun_category(a, start - 1) in ("clothing", "accessory"):
        return True  # round 15: "with a backpack on sits": worn, not a place
    if a.tokens[start].dep in ("amod", "compound") or (start > 0 and a.tokens[start - 1].tag == "DT"):
        return True  # round 17: "a over grown bush" (overgrown), "outside dirt": a prefix, not a place
    if phrase in ("left", "right") and start > 0 and a.lowers[start - 1] in ("'s", "is", "was", "are", "what"):
        return True  # round 17: "what's left of": nothing on the left
    k = a.chunk_of[end] if end < len(a.tokens) else -1
    if k < 0 or a.chunks[k].start != end:  # 2.5: "a table with a laptop on it" -> "under it"
        return not (phrase in VERTICAL_RELATIONS and _object_pronoun(a, end))
    chunk = a.chunks[k]
    head = a.lowers[chunk.head]
    if chunk.head in a.fixed and not in_fixed_name(a.lowers, a.fixed_spans, chunk.head):
        return True  # "on both sides", "in every direction"; not a name (2.14: "in lounge chairs")
    if head in ("board", "boards") and any(a.tokens[j].dep == "compound" or a.tokens[j].tag in NOUN_TAGS | {"JJ"}
                                           for j in range(chunk.start, chunk.head)):
        return False  # 2.5: "on a cutting board" is a board; "on board a plane" is the idiom
    if phrase in ("on", "upon", "over") and head in ON_IDIOM_OBJECTS:
        return True
    return head in IDIOM_OBJECTS or head in a.vocabulary.frame_nouns or (
        phrase == "in" and noun_category(a, chunk.head) in ("clothing", "accessory"))


OBJECT_PRONOUNS = frozenset({"it", "them", "him", "her"})
# 2.5 (round 34's readers): before a pronoun only up and down invert clearly; "behind him" ->
# "in front of him" is a matter of viewpoint, "a clock inside of it" (a tower) is on it too
VERTICAL_RELATIONS = frozenset({"on", "on top of", "atop", "upon", "above", "below", "under", "underneath",
                                "beneath", "over"})
REACHING_OUT = frozenset({"stretch", "stretches", "stretching", "extend", "extends", "extending", "jut", "juts",
                          "jutting", "reach", "reaches", "reaching",
                          # round 60: bread "sticking out of his mouth" -> "into": it does both
                          "sticking", "sticks", "poking", "pokes", "protruding", "protrudes"})
ATTACHING_PARTICIPLES = frozenset({"connected", "attached", "chained", "tied", "hooked", "fastened", "clipped",
                                   "strapped", "mounted", "secured", "linked"})
SHELVES = frozenset({"shelf", "shelves", "shelving", "bookshelf", "bookshelves"})
DISPLAYS = frozenset({"screen", "screens", "television", "televisions", "tv", "tvs", "monitor", "monitors",
                      "projector", "display"})
SEE_THROUGH = frozenset({"window", "windows", "glass", "fence", "fences", "net", "nets", "barrier", "railing", "gate"})
MOVING_FORMS = frozenset({"crossing", "crosses", "pulling", "pulls", "coming", "comes", "going", "goes", "driving", "drives", "heading",
                          "heads", "walking", "walks", "flying", "flies", "riding", "rides", "pulled", "moving",
                          "moves", "rolling", "rolls", "sailing", "sails", "running", "runs"})
BREADS = frozenset({"bread", "toast", "bun", "buns", "roll", "rolls", "bagel", "rye", "wheat", "sourdough", "croissant",
                    "baguette", "pita", "tortilla", "flatbread", "biscuit"})
LOOKING_FORMS = frozenset({"watching", "watches", "watch", "looking", "looks", "look", "staring", "stares",
                           "viewing", "views", "gazing", "observing", "photographing"})


def _object_pronoun(a: Analysis, i: int) -> bool:
    """2.5: a pronoun object of the relation ("on it", "next to him"), not a possessive ("on her
    phone") nor the start of another clause ("behind it is a wall")."""
    if i >= len(a.tokens) or a.lowers[i] not in OBJECT_PRONOUNS or a.tokens[i].tag != "PRP":
        return False
    after = a.tokens[i + 1] if i + 1 < len(a.tokens) else None
    return after is None or not (after.is_word and (after.tag in NOUN_TAGS | VERB_TAGS or after.tag in ("JJ", "DT")))


def _verb_target(a: Analysis, start: int, end: int) -> Target:
    if a.in_relation[start]:
        phrase = " ".join(a.lowers[start:end])
        return Target(start, end, "relation", phrase, phrase, "relation", a.tokens[start].tag, True)
    lower = a.lowers[start]
    tag = a.tokens[start].tag
    if a.parsed:  # v2: the parse says whether it has an object ("wearing red and white", "go around X")
        transitive = tag == "VBN" or any(a.tokens[k].dep == "dobj" for k in a.children[start])
    else:
        transitive = tag == "VBN" or takes_object(a, start)
    base = a.vocabulary.verb_base(lower)
    if a.parsed and tag in ("VB", "VBP") and base is not None and lower != base and lower == a.vocabulary.forms(base)[1]:
        tag = "VBZ"  # 2.2: "A man ... surfs/VB a wave" -> "pets", not "pet"
    return Target(start, end, "verb", lower, base or lower, TRANSITIVE_POOL if transitive else INTRANSITIVE_POOL,
                  tag, base is not None)


# ------------------------------------------------------------------------------------ filling
def vocabulary_fill(target: Target, vocabulary: Vocabulary, rng: CaptionRandom,
                    avoid: frozenset[str] = frozenset()) -> str | None:
    """A replacement from the vocabulary (lower-case base form), or None when the pool has none.

    Relations go to their opposite when the vocabulary has it, else to another relation. Never
    the original, a synonym, a hypernym or hyponym of it; a plural noun never becomes an
    uncountable one ("dogs" -> "rices"); never a word of ``avoid`` (v2: the caption's own words, so
    "holding and dancing" never becomes "dancing and dancing").
    """
    if target.role == "relation":
        opposite = relation_opposite(target, vocabulary)
        if opposite is not None:
            return opposite
    choices = fill_choices(target, vocabulary, avoid)
    return rng.choice(choices) if choices else None


def relation_opposite(target: Target, vocabulary: Vocabulary) -> str | None:
    """The opposite a relation target goes to: "outside" for an "in" of :data:`ENCLOSURE_POOL`,
    else the vocabulary's opposite when it is a vocabulary relation; None if neither."""
    if target.pool == ENCLOSURE_POOL:
        return ENCLOSURE_OPPOSITE
    opposite = vocabulary.relation_opposites.get(target.original)
    return opposite if opposite is not None and opposite in vocabulary.relations else None


def fill_choices(target: Target, vocabulary: Vocabulary, avoid: frozenset[str] = frozenset()) -> list[str]:
    """Every vocabulary word that may replace the target (see :func:`vocabulary_fill`)."""
    choices = _pool_choices(target, vocabulary)
    if avoid:
        choices = [w for w in choices if w not in avoid and inflect(w, target, vocabulary) not in avoid]
    return list(choices)


def _pool_choices(target: Target, vocabulary: Vocabulary) -> tuple[str, ...]:
    """The acceptable vocabulary words for a target (memoized: few distinct keys per corpus)."""
    key = ("pool", target.role, target.pool, target.base, target.original, target.plural)
    return vocabulary.memoized(key, lambda: tuple(_pool(target, vocabulary)))


def _pool(target: Target, vocabulary: Vocabulary) -> list[str]:
    if target.role == "relation":
        length = len(target.original.split())
        choices = acceptable(target, [r for r in vocabulary.relations if len(r.split()) == length], vocabulary)
        return choices or acceptable(target, vocabulary.relations, vocabulary)  # else any length
    if target.pool == ROOM_POOL:
        return acceptable(target, sorted(ROOMS), vocabulary)
    if target.pool in FIXTURES:
        return acceptable(target, FIXTURES[target.pool], vocabulary)
    if target.pool == NAME_POOL:
        return acceptable(target, NAME_SWAPS[target.base], vocabulary)
    if target.pool == OPPOSITE_POOL:
        return [ADJECTIVE_OPPOSITES[target.original]]
    if target.role == "noun" and target.pool == STAND_IN_POOL and vocabulary.category_of(target.base, "noun") == "person":
        return acceptable(target, [w for w in vocabulary.words("animal") if w not in PERSON_STAND_IN_EXCLUDED],
                          vocabulary)
    return acceptable(target, vocabulary.words(target.pool), vocabulary)


def acceptable(target: Target, words, vocabulary: Vocabulary) -> list[str]:
    """The words that may replace the target (in the given order)."""
    excluded = vocabulary.excluded_replacements(target.base) | vocabulary.excluded_replacements(target.original)
    out = []
    for word in words:
        if word in excluded:
            continue
        if target.plural and word in vocabulary.uncountable:
            continue
        out.append(word)
    return out


def inflect(word: str, target: Target, vocabulary: Vocabulary) -> str:
    """The replacement in the original's form: plural for a plural noun, the verb's tense."""
    if target.role == "noun" and target.plural:
        return vocabulary.plural(word)
    if target.role == "verb":
        return vocabulary.forms(word)[VERB_FORM_OF_TAG.get(target.tag, 0)]
    return word


def realize(a: Analysis, target: Target, word: str, *, inflected: bool = False) -> str:
    """The negative with the target replaced by ``word`` (base form unless ``inflected``)."""
    text = word if inflected else inflect(word, target, a.vocabulary)
    return replace_span(a.tokens, (target.start, target.end), text.split(), a.parsed)
