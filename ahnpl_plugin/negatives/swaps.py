"""Swap rules: the negative is a permutation of the caption's words (articles aside).

AHNPL's ``relation`` swaps the two objects of a relation as whole noun phrases with their
modifiers ("a small red circle to the left of a blue square" -> "a blue square to the left of a
small red circle"); ``adj_swap`` swaps two adjectives of different noun phrases (attribute
binding: "a red circle left of a blue square" -> "a blue circle left of a red square"). The
NegCLIP types swap two noun phrases, verb phrases, singular nouns, plural nouns, adjectives or
adverbs anywhere in the caption.

Each rule returns the negative, or None when the caption has nothing to swap. ``relation`` and
``adj_swap`` also take a ``choose`` function that picks among all candidate swaps (v2 with
plausibility selection) instead of one random pair.
"""

from __future__ import annotations

from collections.abc import Callable

from ahnpl_plugin.negatives.analysis import (
    Analysis,
    Chunk,
    adjective_candidates,
    article_on_plural,
    doubled_or_misfit_article,
    is_adjective_used_as_noun,
    is_linker_only,
    verb_candidates,
)
from ahnpl_plugin.negatives.edits import swap_spans
from ahnpl_plugin.negatives.inflection import match_case
from ahnpl_plugin.negatives.parsed import (
    ADJECTIVE_SIDES,
    SYNONYMS_OF,
    VIEWER_NOUNS,
    FACING_POSTURES,
    PLURAL_PARTITIVES,
    FRAMING_NOUNS,
    LOOSELY_SYMMETRIC,
    NEAR_COLOURS,
    NON_OBJECTS,
    QUOTES,
    SAYING_VERBS,
    SHADE_WORDS,
    STATE_OPPOSITES,
    coordinated,
    COLLECTIVES,
    DEGREE_ADVERBS,
    REFLEXIVES,
    RESTING_VERBS,
    ROOMS,
    crosses_clause,
    cuts_compound,
    cuts_phrase,
    describes_person,
    described,
    is_compound_participle,
    loosely_symmetric_between,
    needs_plural_place,
    only_copula,
    required_number,
    same_scene_places,
    symmetric_attachment,
    symmetric_between,
    SYMMETRIC_RELATIONS,
)
from ahnpl_plugin.negatives.plausibility import SWAPS_TRIED
from ahnpl_plugin.negatives.randomness import CaptionRandom, draw
from ahnpl_plugin.negatives.tokens import ADJECTIVE_TAGS, NOUN_TAGS
from ahnpl_plugin.negatives.tokens import ADVERB_TAGS

# A chooser picks one negative among candidates (or None): the plausibility selection of the v2
# rules (plausibility.py); without one a rule picks a pair at random.
Chooser = Callable[[list[str]], "str | None"]
SELECTABLE_SWAPS = ("relation", "adj_swap")

# Pairs are looked for among candidates at most this far apart (in candidate order), so a caption
# with thousands of words costs linear, not quadratic, time.
PAIR_WINDOW = 8


def _pairs(n: int, window: int = PAIR_WINDOW):
    for i in range(n):
        for j in range(i + 1, min(n, i + 1 + window)):
            yield i, j


def _best_tier(tiers: list[list]) -> list:
    """The first non-empty list (candidate pairs ranked by how good a negative they make)."""
    for tier in tiers:
        if tier:
            return tier
    return []


# ------------------------------------------------------------------------------------ AHNPL
def relation_swap(a: Analysis, rng: CaptionRandom, choose: Chooser | None = None,
                  words: str = "any", reagree: bool = False, late: bool = False) -> str | None:
    """Swap the two noun phrases around a relation ("a dog on a bed" -> "a bed on a dog").

    Candidates: noun phrases with a content head (not "a group", "the side") whose words differ.
    Preferred: neighbouring phrases joined by something other than "and"/"," (a relation, a verb,
    a preposition: "a cat and a dog" swapped says the same), then phrases further apart; among
    those, pairs of the same grammatical number first; two phrases of different number are
    swapped only when no verb agrees with either ("Several boats are ..." is left alone).
    ``words="known"`` (v2's default, passed by the generator) moves only phrases whose head noun
    is in one of the vocabulary's noun categories (:data:`SWAP_WORDS`), never a picture's frame
    ("a photo of men") and (2.3) no two phrases linked by "with", "at" or a symmetric relation
    after a verb with no object; ``"any"`` keeps generator 2.1's swaps.
    ``reagree`` (2.8, the generator's third try) swaps only what the other tries leave alone for
    number: two phrases of different number, one the subject of a verb, whose verb is then made to
    agree with the phrase that takes the subject's place ("Two ducks are floating in a pond" ->
    "A pond is floating in two ducks"; :func:`_agreement_fix`).
    ``late`` (2.11, the fourth and fifth tries, with :data:`LATE_SWAP_OBJECTS` in the vocabulary)
    moves no phrase of :func:`_late_unfit` and swaps no pair of :func:`_late_pair_unfit`.
    """
    chunks = [c for c in a.units if any(_is_object_head(a, h) for h in c.heads)]
    if late and a.parsed:  # 2.12: "A blurry photo of a baseball player holding a bat": the framed phrase moves
        chunks = [_framed(a, c) for c in chunks]
    if words == "known" and (any(not t.text.strip() for t in a.tokens) or article_on_plural(a)
                             or any(u.end == v.start for u, v in zip(a.units, a.units[1:]))
                             or _garbled_for_swap(a)):
        return None  # round 22: a double space joins the words around it ("computerworking"); round 24:
        # "A women is standing", "A large dogs": the negative keeps the caption's error; round 26: two
        # phrases with nothing between them ("a black shirt on a hanger | blue curtains a bed"): a run-on list
    if words == "known":
        chunks = [c for c in chunks if _known_object(a, c)]
    if a.parsed:  # v2: never move quoted text or what a sign reads, nor one member of a list the parse did not join
        chunks = [c for c in chunks if not _in_list(a, c) and a.lowers[c.heads[0]] not in NON_OBJECTS
                  and not (c.start > 0 and a.lowers[c.start - 1] in SAYING_VERBS)
                  and not (c.start > 1 and a.lowers[c.start - 1] in QUOTES | {"'"} and a.lowers[c.start - 2] in SAYING_VERBS)
                  and not any(k in a.fixed and a.tokens[k].text in QUOTES for k in range(c.start, c.end))
                  and not cuts_phrase(c.start, c.end, a.fixed_spans)  # "a cut | in half sandwich", "up to bat"
                  and not _next_to_hyphen(a, c) and not _in_participle_compound(a, c)
                  and not cuts_compound(a.tokens, c.start, c.end) and not _two_objects(a, c)
                  and not _holds_verb_or_clause(a, c) and not _truncated(a, c)
                  and not (words == "known" and any(a.lowers[h] in FRAMING_NOUNS for h in c.heads))  # 2.3: "a photo of men"
                  and not (words == "known" and (_loose_phrase(a, c, filled_ok=late) or _the_viewer(a, c)
                                                 or _bare_idiom(a, c)))]
    if late:
        chunks = [c for c in chunks if not _late_unfit(a, c)]
    if len(chunks) < 2:
        return None
    keys = [a.chunk_key(c) for c in chunks]
    neighbours, distant = [], []
    moved: dict[tuple[int, int], tuple[tuple[int, int], tuple[int, int]]] = {}  # 2.4: spans with modifiers
    fixes: dict[tuple[int, int], tuple[int, int, str]] = {}  # 2.8: (subject's start, verb, new verb form)

    def swapped(x: Chunk, y: Chunk) -> str:
        sx, sy = moved.get((x.start, y.start), ((x.start, x.end), (y.start, y.end)))
        tokens = a.tokens
        if (x.start, y.start) in fixes:
            _, verb, form = fixes[(x.start, y.start)]
            tokens = list(tokens)
            tokens[verb] = tokens[verb]._replace(text=match_case(form, tokens[verb].text))
        return swap_spans(tokens, sx, sy, a.parsed)
    for i, j in _pairs(len(chunks)):
        x, y = chunks[i], chunks[j]
        if keys[i] == keys[j] or is_linker_only(a, x.end, y.start):
            continue
        differ = a.is_plural_chunk(x) != a.is_plural_chunk(y) and _is_subject(a, x, y)
        if reagree and not differ:
            continue  # the first two tries have judged these pairs
        if words == "known" and _category(a, x.heads[-1]) == _category(a, y.heads[-1]) == "place":
            continue  # round 18: "the side of the street ... buildings", "a runway ... the airport": places adjoin
        if words == "known" and (_ridden_and_ground(a, x, y) or _bare_before_participle(a, x, y) or _worn_on(a, x, y)
                                 or not _related_by_word(a, x.end, y.start)
                                 or (_unit_between(a, x, y) and _ends_loosely_symmetric(a, y.start))
                                 or _with_only(a, x.end, y.start) or _one_and_the_other(a)
                                 or (differ and not reagree)
                                 or _shares_a_noun(a, x, y) or _across_sentences(a, x, y)
                                 or _symmetric_words(a, x.end, y.start)
                                 or _after_symmetric_place(a, x) or _people_at_each_other(a, x, y)
                                 or _board_on_water(a, x, y) or _part_of(a, x, y) or _ball_and_racket(a, x, y)
                                 or _round_73_pair(a, x, y)
                                 or bool(REFLEXIVES & set(a.lowers))
                                 or _category(a, x.heads[-1]) == _category(a, y.heads[-1]) == "clothing"
                                 or FRAMING_VERBS & set(a.lowers[x.end:y.start])
                                 or (a.lowers[max(0, y.start - 3):y.start] == ["in", "front", "of"]
                                     and FACING_POSTURES & set(a.lowers[max(0, x.start - 3):y.start]))):
            continue  # round 24: "a bathroom and a guy ... bathroom", two sentences, "enjoying grass next to the
            # snow", "by an elephant behind a fence", "players watching a batter", "sitting on surfboard on
            # the ocean", "in a bus staring out the window";
            # round 23: "a bottle a cup a keyboard a laptop" (a list), "holding a small cake with candles",
            # "one catching the ball the other sliding", "Cows spread out and graze" (number);
            # round 22: "A cat with its paws on a table near a glass", "a shirt with a tie", "A kitchen
            # showing the stove"; round 20: "riding skis on the snow" = "riding the snow on skis"; "Woman wearing red
            # sash and hat" -> "Red sash and hat wearing woman" reads as a "hat-wearing woman"; "A man
            # sitting at a table in front of a laptop": the laptop is in front of him either way
        if a.parsed and _same_thing(a, x.heads[-1], y.heads[-1]):
            continue  # v2: "a tennis racket ... his racket": the same thing twice; 2.2: "the street ... a road"
        filling = late and _filled(a, x) and y.start == x.end + 2  # 2.12: "a bowl filled with fruit"
        if a.parsed and (_ends_in_of(a, x.end, y.start) or symmetric_between(a.lowers, a.tokens, x.end, y.start, x.heads[0])
                         or (words == "known" and not filling and (loosely_symmetric_between(a.lowers, a.tokens, x.end, y.start,
                                                                             x.heads[0])
                                                   or symmetric_attachment(a.tokens, a.lowers, x.start, x.end,
                                                                           y.heads[-1])
                                                   or (y.heads[0] != y.heads[-1]  # 2.14: "touching the nose of a horse"
                                                       and symmetric_attachment(a.tokens, a.lowers, x.start, x.end,
                                                                                y.heads[0]))))):
            continue  # v2: "a dog next to a cat" swapped says the same; "X of Y" -> "Y of X" is no relation;
            # 2.3: "a couch with pillows", "a giraffe eats next to a zebra"
        if a.parsed and (crosses_clause(a.tokens, a.lowers, x.end, y.start) or only_copula(a.lowers, x.end, y.start)
                         or same_scene_places(a.tokens, a.lowers, x.heads[-1], y.heads[0], a.lowers[x.end:y.start],
                                              a.in_relation)
                         or _named_first(a, x) or (_reflexive(a) and (a.tokens[x.heads[0]].dep in ("nsubj", "ROOT")
                                                                       or x.start == 0))):
            continue  # v2: "... signs while a cop watches", "passing each other"; "the bathroom is a mess"; "on a boat in the ocean"
        if words == "known" and a.parsed:
            spans = _spans_with_modifiers(a, x, y)
            if spans is None:
                continue  # round 21: "A woman with lots of tattoos sits on a suitcase" -> "A suitcase with
                # lots of tattoos sits on a woman": a modifier would stay behind
            moved[(x.start, y.start)] = spans
            if late and _late_pair_unfit(a, x, y, spans):
                continue
        if reagree:
            fix = _agreement_fix(a, x, y, moved.get((x.start, y.start)))
            if fix is None:
                continue
            fixes[(x.start, y.start)] = fix
        (neighbours if j == i + 1 else distant).append((x, y))
    pairs = _best_tier([neighbours, distant])
    if reagree:  # the subject's verb is made to agree with the phrase that takes its place; the
        # subject, put where the other phrase was, must still fit what follows there
        def fits(x: Chunk, y: Chunk) -> bool:
            subject, other = (x, y) if fixes[(x.start, y.start)][0] == x.start else (y, x)
            return _fits_verb(a, other, subject) and _keeps_number(a, other, subject) and not _agrees(a, other)
        pairs = [(x, y) for x, y in pairs if fits(x, y)]
    elif a.parsed:  # v2: "A herd of giraffes are ..." -> "A field are ..." breaks the agreement
        pairs = [(x, y) for x, y in pairs if _fits_verb(a, x, y) and _fits_verb(a, y, x)
                 and _keeps_number(a, x, y) and _keeps_number(a, y, x)]
    if not reagree:
        same_number = [p for p in pairs if a.is_plural_chunk(p[0]) == a.is_plural_chunk(p[1])]
        pairs = same_number or [p for p in pairs if not (_agrees(a, p[0]) or _agrees(a, p[1]))]
    if not pairs:
        return None
    if choose is not None:
        return choose([swapped(x, y) for x, y in draw(pairs, SWAPS_TRIED, rng)])
    x, y = rng.choice(pairs)
    return swapped(x, y)


# 2.12: a picture's frame that opens the caption ("A blurry photo of | a baseball player holding a
# bat"): the fourth and fifth relation tries move the framed phrase and leave the frame in place.
# A review of 2.12: where the picture may be a thing in the scene, hung, stuck or shown somewhere,
# the framed phrase is what it shows, not an object ("A picture of a horse hanging on a wall").
DISPLAY_WORDS = frozenset({"hanging", "hangs", "hung", "taped", "pinned", "mounted", "painted", "displayed", "framed",
                           "posted", "stuck", "tacked", "photoshopped", "printed", "projected"})
SCREEN_WORDS = frozenset({"screen", "screens", "tv", "television", "monitor", "billboard"})
PHOTO_FRAMES = frozenset({"photo", "photos", "photograph", "photographs", "picture", "pictures", "image", "images",
                          "shot", "shots", "snapshot", "pic", "pics", "closeup", "view", "views"})


def _framed(a: Analysis, c: Chunk) -> Chunk:
    """2.12: ``c`` without its opening frame ("a picture of | a cat"), or ``c``."""
    if (c.start != 0 or len(c.heads) < 2 or a.lowers[c.heads[0]] not in PHOTO_FRAMES
            or any(t.text in QUOTES for t in a.tokens)  # 'A view of the street signs "W 122 St."'
            or DISPLAY_WORDS & set(a.lowers)  # "A picture of a horse hanging on a wall": the picture is a thing
            or any(w == "on" and SCREEN_WORDS & set(a.lowers[k + 1:k + 4]) for k, w in enumerate(a.lowers))):
        return c  # "A picture of a cat on a tv screen"
    of = c.heads[0] + 1
    if of >= c.end - 1 or a.lowers[of] != "of" or a.lowers[c.heads[1]] in FRAMING_NOUNS:
        return c
    return Chunk(of + 1, c.end, c.heads[1:])


# Pronouns that point back at a phrase ("a plate with food on it"): after a swap they point at the
# other one, or at nothing ("A suitcase on it that has a chair").
BACK_POINTING = frozenset({"it", "them", "it's", "itself", "themselves"})
# Nouns in "-ing" (any other "-ing" word the tagger calls a noun in a modifier is taken for a verb).
ING_NOUNS = frozenset({"building", "buildings", "ceiling", "clothing", "painting", "paintings", "icing", "frosting",
                       "topping", "toppings", "railing", "railings", "ring", "king", "wing", "wings", "string", "swing",
                       "thing", "things", "something", "evening", "morning", "wedding", "pudding", "stuffing",
                       "dressing", "bedding", "awning", "siding", "lighting", "crossing", "parking", "opening",
                       "clearing", "landing", "spring", "sibling", "seating", "housing", "flooring", "sling"})
# Verbs that frame a picture, not a relation in it ("A kitchen showing the stove and cabinets").
FRAMING_VERBS = frozenset({"showing", "shows", "show", "depicting", "depicts", "featuring", "features",
                           "displaying", "displays", "containing", "contains", "includes", "including"})


# Dependents after a noun that describe it ("a woman | with lots of tattoos", "a man | in a blue
# outfit", "a woman | playing tennis", "a plate | full of food").
_POSTMODIFIER_DEPS = ("prep", "acl", "relcl", "amod")


def _subtree_span(a: Analysis, d: int) -> tuple[int, int]:
    lo = hi = d
    stack = [d]
    while stack:
        k = stack.pop()
        lo, hi = min(lo, k), max(hi, k)
        stack.extend(a.children[k])
    return lo, hi + 1


def _ancestors(a: Analysis, i: int) -> set[int]:
    """Token ``i`` and every token above it in the parse."""
    seen = {i}
    while 0 <= a.tokens[i].head < len(a.tokens) and a.tokens[i].head not in seen:
        i = a.tokens[i].head
        seen.add(i)
    return seen


def _stranded_particle(a: Analysis, k: int) -> bool:
    """Token ``k`` is a particle with no object of its own ("with skis | on"): it belongs to the
    phrase before it."""
    return k < len(a.tokens) and a.lowers[k] in ("on", "off", "up", "down", "in", "out") and not any(
        a.tokens[j].dep == "pobj" and a.tokens[j].head == k for j in range(k + 1, len(a.tokens)))


def _through_noun(a: Analysis, other: Chunk, d: int) -> bool:
    """Walking up the parse from the head of phrase ``other`` to its ancestor ``d``, a noun is
    passed that is neither in ``other`` ("the side of | a street") nor part of a relation phrase
    ("on top of"); below a verb ``d`` ("a man wearing glasses"), only a noun with a verb of its
    own below it counts ("wearing glasses | standing next to an airplane"; not "eating leaves |
    from a tree")."""
    k = other.heads[-1]
    verb = False
    while k != d and 0 <= a.tokens[k].head < len(a.tokens) and a.tokens[k].head != k:
        if k != other.heads[-1] and a.tokens[k].tag.startswith("VB"):
            verb = True
        k = a.tokens[k].head
        if k != d and a.tokens[k].tag in NOUN_TAGS and not a.in_relation[k] and not other.start <= k < other.end:
            if a.tokens[d].dep == "prep" or verb:
                return True
    return False


def _spans_with_modifiers(a: Analysis, x: Chunk, y: Chunk) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """2.4 (round 21's readers): the spans a relation swap moves, each phrase with the modifiers
    that follow it ("A woman with lots of tattoos sits on a suitcase" -> "A suitcase sits on a
    woman with lots of tattoos"), except the one that relates it to the other phrase ("a man | in
    a mask"). None when a modifier could not move with its phrase (it is not right after it, or it
    holds the other phrase) and would describe the other one."""
    def extend(c: Chunk, limit: int, other: Chunk) -> tuple[int, bool]:
        path = _ancestors(a, other.heads[-1])
        head, end = c.heads[-1], c.end
        deps = sorted(d for d in a.children[head] if d >= c.end and a.tokens[d].dep in _POSTMODIFIER_DEPS)
        for d in deps:
            if d in path:  # the relation itself, unless the other phrase hangs deeper in a preposition's
                # phrase, on a noun: "A cake with many decorations on a table" (decorations on the table)
                if _through_noun(a, other, d):
                    return end, True
                break
            lo, hi = _subtree_span(a, d)
            if lo != end or hi > limit:
                break
            if c is y and a.tokens[head].dep == "pobj" and (a.tokens[d].dep in ("acl", "relcl")
                                                          or a.lowers[d] in ("with", "without")):
                return end, True  # round 30: "walking in a square | carrying an umbrella", "in a room | with a
                # remote in hand": the parse hangs it on the place, a reader on the one who does it
            if any(u.start < hi < u.end for u in a.units) or (hi < len(a.tokens) and a.tokens[hi].tag == "CC") \
                    or a.tokens[hi - 1].tag == "CC":  # round 26: "with nachos and | a salad"
                return end, True  # the parse ends the modifier inside a phrase or a list: "near a fire |
                # hydrant", "in a suit | and tie"
            end = hi
        left_behind = any(end <= d < limit and d not in path for d in deps)
        return end, left_behind

    x_end, x_left = extend(x, y.start, y)
    y_end, y_left = extend(y, len(a.tokens), x)
    if x_left or y_left:
        return None
    for end in (x_end, y_end):
        if end < len(a.tokens) and a.tokens[end - 1].tag == "VBG" and a.tokens[end].tag in NOUN_TAGS:
            return None  # round 23: "A man playing | tennis is": the verb's object would stay behind
    if any(a.lowers[k] in BACK_POINTING for k in range(x.start, min(len(a.tokens), y_end + 3))):
        return None  # round 22: "a chair that has a suitcase on it" -> "A suitcase on it that has a chair"
    if any(a.tokens[k].tag in NOUN_TAGS and a.lowers[k].endswith("ing") and a.lowers[k] not in ING_NOUNS
           for k in list(range(x.end, x_end)) + list(range(y.end, y_end))):
        return None  # "a man in blue hat pointing/NN": a verb the tagger made a noun would move
    if y_end < len(a.tokens) and a.lowers[y_end] in ("with", "without") and not y.start <= a.tokens[y_end].head < y_end:
        return None  # "holding a doughnut | with sprinkles": the parse hangs it on the verb, a reader on the doughnut
    if any(_stranded_particle(a, end) for end in (x_end, y_end)) or not _related_by_word(a, x_end, y.start):
        return None  # round 25: "with skis | on at the top", "with the light | on"; "a kitchen with a
        # refrigerator | a counter and a sink": no relation word left between them
    return (x.start, x_end), (y.start, y_end)


# What the swaps of the v2 rules may move: only "known" words (the v2 default since generator
# 2.2): a relation swap moves phrases whose head noun is in a noun category of the vocabulary
# (animal, person, vehicle, food, furniture, place, ...), an adj_swap swaps adjectives of its
# adjective categories (colour, material, size, shape, state, age, pattern, quality); or "any" word
# the v2 rules accept (generator 2.1's swaps). Read on fresh items, relation swaps of two known
# objects were wrong 5 times in 168 where the others were wrong 16 times in 130 (round 7), adj_swaps
# of two known adjectives 8 in 232, the others 18 in 68 (round 9): the long tail of other words
# ("their mouths open", "a slice missing"; "dental floss", "low hanging", "ski gear", "the alert
# cat is black") is where the small parser's misreadings, compounds and fixed expressions are. The
# price is recall (README).
SWAP_WORDS = ("known", "any")


# 2.7: objects the vocabulary's noun categories lack that a relation swap may still move, tried only
# when the vocabulary's nouns give no swap (every 2.6 relation negative stays as it was). Concrete
# things one can put, see or stand on, each with the category the swap rules read ("place": two
# places are never swapped). Not body parts ("hand", "mouth": _part_of), not frames or scenery
# ("background", "sky", "air", "ground", "floor"), not events or acts ("game", "trick"), not words
# of several senses ("board", "trunk", "pen", "bar", "stand", "swing", "diner": one who dines).
# Round 41's readers took out: what a light verb takes ("having a meal", "take a drink"), a
# hypernym of the other phrase ("a vehicle", "animals", "cattle"), layers of one dish ("a bun",
# "toppings"), a plural-only word a swap makes a singular subject ("headphones is", "scissors"),
# "a cyber cafe" (one is at a computer in it either way), "the gate to a yard", "a sign on a post".
EXTRA_SWAP_OBJECTS: dict[str, str] = {
    **dict.fromkeys(("store", "restroom", "bakery", "barn", "stall", "enclosure", "dock", "pond", "platform",
                     "trail", "path", "walkway", "shore", "woods", "tarmac", "intersection", "shop", "pier",
                     "porch", "balcony", "patio", "hallway", "lobby", "garage", "courtyard", "plaza", "lawn",
                     "meadow", "corral", "stable", "harbor"), "place"),
    **dict.fromkeys(("toothbrush", "tub", "ramp", "seat", "shoe", "brush", "lid", "engine", "rail", "cage",
                     "container", "stick", "machine", "branch", "trophy", "cone", "crate", "pillar", "column",
                     "stroller", "wheelchair"), "object"),
    **dict.fromkeys(("hotdog", "snack"), "food"),
    **dict.fromkeys(("adult", "pedestrian", "spectator", "umpire", "referee", "coach"), "person"),
}


# 2.11: where the three tries before give nothing (round 53's readers found a clear relation
# negative in half the captions without one, most often blocked by fewer than two known objects),
# a fourth may also move these: ground and scenery (two places are still never swapped), common
# objects of several senses, food, and people named by what they do ("A red plane flying through a
# blue sky" -> "A blue sky flying through a red plane"). Not round 41's rejections: what a light
# verb takes ("a meal", "a drink"), layers of one dish ("a bun", "toppings"), plural-only words
# ("scissors"). A bare singular phrase is not moved by this try ("Giraffe standing in a pen" ->
# "A pen standing in giraffe").
LATE_SWAP_OBJECTS: dict[str, str] = {
    **dict.fromkeys(("floor", "ground", "sand", "dirt", "sky", "wave", "waves", "tracks", "track", "curb", "pool",
                     "hay"), "place"),
    **dict.fromkeys(("board", "post", "graffiti", "rack", "pen", "stand", "case", "bar"), "object"),
    **dict.fromkeys(("food", "foods", "slices", "veggies"), "food"),
    **dict.fromkeys(("someone", "passengers", "passenger", "friends", "friend", "boarder", "biker", "skater",
                     "crowd", "cyclist", "jockey", "motorcyclist", "bicyclist"), "person"),
}
# 2.12: concrete things the vocabulary lacks, from the head nouns that most often left a caption
# without two known objects (46,540 Karpathy test and val2017 captions); moved by the fourth and
# fifth tries only, under their rules. Not words of several senses ("fan", "tank", "pitcher",
# "cook", "mouse", "console", "speaker"), kin words that name an animal too ("a mother duck"),
# round 41's hypernyms, light-verb objects or plural-only words.
CONCRETE_SWAP_OBJECTS: dict[str, str] = {
    **dict.fromkeys(("airliner", "jetliner", "biplane", "carriage", "trailer", "jeep", "moped", "mopeds", "busses",
                     "raft", "yacht"), "vehicle"),
    **dict.fromkeys(("freezer", "dryer", "printer", "piano", "microphone", "briefcase", "mattress", "comforter",
                     "carpet", "faucet", "planter", "bookcase", "necklace", "dispenser", "dumpster", "fountain",
                     "sculpture", "feeder", "mural", "grill", "jug", "shelves", "drawer", "drawers", "candles",
                     "skillet", "pillows", "towels", "railing", "banister", "figurine", "figurines", "mailbox",
                     "lamppost", "streetlight", "stoplight", "urinal", "urinals", "cupboard", "cupboards",
                     "countertop"), "object"),
    **dict.fromkeys(("driveway", "crosswalk", "roadway", "overpass", "tunnel", "museum", "hillside", "valley",
                     "shoreline", "cliff", "booth", "doorway", "backyard", "marina", "cafe", "resort", "stadium",
                     "warehouse", "hospital", "hotel", "apartment", "closet", "cubicle", "ledge", "pavement",
                     "skyscraper"), "place"),
    **dict.fromkeys(("pastry", "pastries", "sausage", "sausages", "pancakes", "noodles", "crackers", "sundae",
                     "pears", "olives", "pumpkins", "mushrooms", "tulips", "lettuce", "spinach", "corn", "beans",
                     "pickle", "pickles", "chocolate", "candy"), "food"),
    **dict.fromkeys(("groom", "bride", "customers", "customer", "athletes", "athlete", "runner", "runners", "cop",
                     "onlookers", "tourists", "workers", "vendor", "soldiers"), "person"),
    **dict.fromkeys(("lizard", "squirrels", "ducklings", "puppies", "kittens", "calves", "lambs", "ponies", "foal",
                     "geese", "seagulls", "pigeons"), "animal"),
    # 2.14: the concrete nouns that most often stood between a caption and its relation negative
    # once every head noun counted (46,540 captions; not "leash": a dog on a leash is a leash on a dog)
    **dict.fromkeys(("scissors", "wires", "cloth"), "object"),
    **dict.fromkeys(("mask", "masks"), "clothing"),  # a review: worn, as a hat ("a woman in a mask")
    **dict.fromkeys(("stairs", "staircase", "stairway"), "place"),
    **dict.fromkeys(("bun", "buns"), "food"),
    **dict.fromkeys(("cattle",), "animal"),
    # 2.14, a third batch from the same count (single-sense concrete nouns; nothing worn; round 96
    # took out "paddle", read as the verb, "utensils", split from "eating", and "canopy": rain on it
    # or under it, one picture; "decorations" are what a cake is "with", rounds 20-30)
    **dict.fromkeys(("painting", "paintings", "containers", "pipe", "newspaper",
                     "telephone", "mat", "soap", "toothpaste", "cigarette", "wire"), "object"),
    **dict.fromkeys(("subway", "gate", "roof", "ceiling"), "place"),
}
HERDING_WORDS = frozenset({"herd", "herds", "herding", "herded", "horseback"})  # 2.14 (round 94)
LATE_MASS_WORDS = frozenset({"food", "sand", "dirt", "grass", "snow", "water", "hay", "graffiti"})


# Round 42's readers: a participle + "in" inside a phrase ("a fenced in enclosure") and "along
# side" (alongside) are misparsed into phrases the second try would split.
SPLIT_BIGRAMS = frozenset({("fenced", "in"), ("walled", "in"), ("closed", "in"), ("penned", "in"),
                           ("screened", "in"), ("boxed", "in"), ("along", "side")})
SECOND_TRY_FRAMES = frozenset({"overview", "overviews"})  # round 41: "an overview of an elephant" moved whole


def second_swap_allowed(a: Analysis) -> bool:
    """2.7: whether the relation swap's second try (:data:`EXTRA_SWAP_OBJECTS`) may run: not in a
    caption with its own doubled word or wrong article ("a airplane", which the negative would
    keep), nor with a bigram of :data:`SPLIT_BIGRAMS` or a frame word of :data:`SECOND_TRY_FRAMES`
    (checked here, not in the first try's frame words, so that no 2.6 negative changes)."""
    return not (doubled_or_misfit_article(a) or SECOND_TRY_FRAMES & set(a.lowers)
                or any(pair in SPLIT_BIGRAMS for pair in zip(a.lowers, a.lowers[1:])))


def swap_vocabulary(vocabulary, objects: dict[str, str] | None = None):
    """``vocabulary`` with ``objects`` (default :data:`EXTRA_SWAP_OBJECTS`) added to its noun
    categories (those it does not already know), for the relation swap's second try (2.7) and, with
    :data:`LATE_SWAP_OBJECTS` too, its fourth (2.11). With vocabulary overrides, the words are added
    to the overridden categories too (a category that does not exist gets none)."""
    from dataclasses import replace

    categories = dict(vocabulary.categories)
    for word, category in (EXTRA_SWAP_OBJECTS if objects is None else objects).items():
        if vocabulary.category_of(word, "noun") is None and category in categories:
            role, words = categories[category]
            categories[category] = (role, words + (word,))
    return replace(vocabulary, categories=categories, _cache={})


def check_swap_words(words: str | None, rules: str) -> str:
    """The swap-words mode to use: default ``known`` with the v2 rules, ``any`` with v1 (whose
    output stays generator 1.0's)."""
    if words is None:
        return "any" if rules == "v1" else "known"
    if words not in SWAP_WORDS:
        raise ValueError(f"unknown swap words {words!r}; valid: {', '.join(SWAP_WORDS)}")
    if words != "any" and rules == "v1":
        raise ValueError("swap words 'known' needs the v2 rules (v1 keeps generator 1.0's output)")
    return words


def _known_object(a: Analysis, c: Chunk) -> bool:
    """The phrase's (last) head noun is in a noun category of the vocabulary ("the side of a
    house" -> house; "a man and woman" -> woman)."""
    word = a.lowers[c.heads[-1]]
    vocab = a.vocabulary
    return bool(vocab.category_of(word, "noun") or vocab.category_of(vocab.singular(word), "noun"))


def _category(a: Analysis, i: int) -> str | None:
    vocab = a.vocabulary
    return vocab.category_of(a.lowers[i], "noun") or vocab.category_of(vocab.singular(a.lowers[i]), "noun")


def _same_thing(a: Analysis, x: int, y: int) -> bool:
    """v2: two head nouns that name one thing: the same word, or (2.2) two names of it ("street",
    "road"; parsed.EXTRA_SYNONYMS)."""
    sx, sy = a.vocabulary.singular(a.lowers[x]), a.vocabulary.singular(a.lowers[y])
    return sx == sy or sy in SYNONYMS_OF.get(sx, ())


# 2.4 (round 20's readers): nouns of where or how a scene is framed, not objects in it ("a
# hydrant in foreground"), and words of going on or aboard something: "riding skis on the snow",
# "riding down the road on horses", "aboard a boat on the water" say the same swapped.
NOT_THINGS = frozenset({"color", "colors", "colour", "colours", "shade", "shades", "left", "right", "opposite",
                        "direction", "directions", "light", "lights",
                        # round 26: events are no objects ("A baseball game and the catcher")
                        "game", "games", "match", "ceremony", "event", "race", "competition", "tournament",
                        "festival", "parade"})
DEVICES = frozenset({"phone", "phones", "cellphone", "laptop", "computer", "tablet"})
SIGN_WORDS = frozenset({"sign", "signs", "poster", "posters", "banner", "billboard", "notice"})
PLACEMENT_NOUNS = frozenset({"foreground", "background", "distance", "backdrop", "close-up", "closeup"})
RIDING_WORDS = frozenset({"ride", "rides", "riding", "rode", "aboard", "onboard", "sail", "sails", "sailing",
                          # 2.11 (round 73): "races horses on the beach", "mounted on horses", "graze
                          # the grass in a field": what is ridden or grazed and where trade places
                          "race", "races", "racing", "mounted", "graze", "grazes", "grazing",
                          "travel", "travels", "traveling", "travelling", "cruise", "cruising", "skiing",
                          "skating", "surfing", "paddling", "rowing"})
_LEFT_BEHIND_AFTER = frozenset({"full", "filled", "covered", "topped", "loaded", "made", "stuffed", "piled"})
# 2.12: what fills a container or tops a dish; the fourth and fifth relation tries swap the two ("A
# white plate topped with waffles" -> "Waffles topped with a white plate"); the container with nothing else
# ("full of" is left out: "X full of Y" is never swapped, _ends_in_of).
FILLED_WITH = frozenset({("filled", "with"), ("topped", "with"), ("covered", "with"),
                         ("covered", "in"), ("loaded", "with"), ("stuffed", "with"), ("piled", "with")})


def _filled(a: Analysis, c: Chunk) -> bool:
    """2.12: phrase ``c`` is followed by what fills it ("a bowl | filled with", "a plate | topped with")."""
    return c.end + 2 < len(a.tokens) and (a.lowers[c.end], a.lowers[c.end + 1]) in FILLED_WITH


def _loose_phrase(a: Analysis, c: Chunk, filled_ok: bool = False) -> bool:
    """2.4 (round 20's readers): a phrase a swap cannot move whole: a placement noun ("in
    foreground"), a "close-up of", a phrase whose particle stays behind ("with a helmet on
    eating"), whose describing words stay behind ("a plate | full of food", "blooming | white
    flowers")."""
    if any(a.lowers[k] in PLACEMENT_NOUNS for k in range(c.start, c.end)):
        return True
    if any(a.lowers[h] in NOT_THINGS for h in c.heads) or a.lowers[c.start] == "no" \
            or any(a.lowers[k] in ("opposite", "left", "right") for k in range(c.start, c.end)) \
            or (c.start > 1 and a.lowers[c.start - 2:c.start] == ["out", "of"] and a.lowers[c.heads[-1]] == "doors"):
        return True  # round 25: "the colors of the flag", "his left", "opposite sides", "light coming from
        # a door", "no blanket", "out of doors"
    k = c.start - 1
    while k >= 0 and not a.tokens[k].text.strip():
        k -= 1
    if k > 0 and a.tokens[k].tag == "RP" and (a.tokens[k - 1].tag in ("VBN", "VBD", "JJ") or (
            a.tokens[k - 1].tag == "VB" and k > 1 and a.tokens[k - 2].tag in ("IN", "DT", "JJ"))):
        return True  # round 23: "a lit up | street", "in take out | boxes", "A logged on | laptop"; a review
        # of 2.8: "a worn out | couch" ("worn" read as an adjective)
    if k > 0 and a.lowers[k] == "of" and a.lowers[k - 1] in COLLECTIVES and a.chunk_of[k - 1] < 0:
        return True  # round 22: "A herd of | zebra" (the parse did not join them): "A herd of a dirt field"
    if any(a.lowers[k] == "close" and k + 2 < c.end and a.lowers[k + 2] == "up" for k in range(c.start, c.end)):
        return True  # "a close - up of a television"
    if c.start > 0 and a.lowers[c.start - 1] == "on" and a.tokens[c.start].tag == "PRP$" \
            and a.lowers[c.heads[-1]] in DEVICES:
        return True  # round 26: "a man on his phone" (using it) -> "his phone on a man"
    if c.start > 1 and a.lowers[c.start - 2] in SIGN_WORDS and a.lowers[c.start - 1] in ("for", "of", "about", "warning"):
        return True  # round 26: "A warning sign for high water": what the sign is about
    if c.start > 0 and a.lowers[c.start - 1] in ("up", "down") and a.tokens[c.start].tag in NOUN_TAGS:
        return True  # round 26: "skiing down hill and going up hill": an adverb
    before, after = c.start - 1, c.end
    if before >= 0 and a.chunk_of[before] < 0 and (
            a.tokens[before].tag in NOUN_TAGS or (before == 0 and a.tokens[before].tag == "VB")
            or a.lowers[before] in ("like", "as")):
        return True  # round 24: "Stop | light", "looks like | a boat"
    if after < len(a.tokens) and a.chunk_of[after] < 0 and a.tokens[after].tag in NOUN_TAGS | {"JJ"} \
            and a.tokens[after].text.strip() and not (a.tokens[after].tag == "JJ" and a.tokens[after].head in range(c.start, c.end)):
        return True  # round 24: "window | sill", "skateboard | flip": the parse cut a name short
    k = c.end
    if k < len(a.tokens):
        t = a.tokens[k]
        if a.lowers[k] in ("on", "off", "up", "down", "in", "out") and not any(
                a.tokens[j].dep == "pobj" and a.tokens[j].head == k for j in range(k + 1, len(a.tokens))):
            return True  # "with a helmet on": a particle with no object of its own
        if filled_ok and _filled(a, c):
            pass  # 2.12: the fourth and fifth relation tries swap it with what fills it (only that: _late_pair_unfit)
        elif a.lowers[k] in _LEFT_BEHIND_AFTER or (t.tag in ("JJ", "JJR") and c.start <= t.head < c.end):
            return True  # "a plate full of food", "a bowl filled with fruit"
    j = c.start - 1
    if j < 0 or a.tokens[j].tag not in ("VBG", "VBN", "VBD") or a.chunk_of[j] >= 0:
        return False
    if c.start <= a.tokens[j].head < c.end and a.tokens[j].dep in ("amod", "compound", "nmod"):
        return True  # "a parked | car" read as a modifier outside the phrase
    bare = a.tokens[c.start].tag in ("JJ", "NN", "NNS")
    if a.tokens[j].tag in ("VBN", "VBD") and bare and j > 0 and a.lowers[j - 1] in ("and", ",", "with"):
        return True  # "businesses and parked | cars": a participle read as the verb of the phrase
    return a.tokens[j].dep == "pcomp" and bare  # "Vase of blooming | white flowers"


# What one does something with ("cutting a cake with a knife" -> "cutting a knife with a cake").
TOOLS = frozenset({"knife", "racket", "racquet", "bat", "fork", "spoon", "scissors", "stick", "pole", "hammer",
                   "brush", "toothbrush", "remote", "controller", "paddle", "leash", "rope", "spatula", "shovel",
                   "pen", "pencil", "camera", "phone", "net", "hose", "saw", "club", "cutter", "tongs", "whip"})


# Verbs two people do to each other as often as one does to the other ("players watching a batter").
LOOKING_VERBS = frozenset({"watch", "watches", "watching", "look", "looks", "looking", "talk", "talks", "talking",
                           "speak", "speaks", "speaking", "listen", "listens", "listening", "wave", "waves",
                           "waving", "smile", "smiles", "smiling", "play", "plays", "playing", "stare", "staring"})
BOARDS = frozenset({"surfboard", "surfboards", "skateboard", "skateboards", "snowboard", "snowboards", "board",
                    "boards", "ski", "skis", "boat", "boats", "sled", "raft", "kayak", "canoe"})
SURFACES = frozenset({"ocean", "sea", "water", "waves", "wave", "lake", "river", "snow", "slope", "hill", "road",
                      "street", "ramp", "beach", "sand", "ice", "pavement", "sidewalk"})
# Parts of vehicles, rooms and buildings ("in a bus staring out the window").
PARTS = frozenset({"window", "windows", "door", "doors", "wheel", "wheels", "seat", "seats", "roof", "wall", "walls",
                   "floor", "ceiling", "windshield", "dashboard", "steering"})


def _shares_a_noun(a: Analysis, x: Chunk, y: Chunk) -> bool:
    """Round 24: the two phrases name one thing ("a beautiful bathroom and a guy ... bathroom");
    round 26: or another phrase names the same thing as one of them ("A sign in front of a
    building, in front of a building")."""
    if any(_same_thing(a, hx, hy) for hx in x.heads for hy in y.heads):
        return True
    framed = [c for c in (x, y) if not any(u is c for u in a.units)]  # 2.12: a framed phrase (_framed) is
    # not its own other
    others = [h for u in a.units if u is not x and u is not y
              and not any(u.start <= c.start and c.end <= u.end for c in framed) for h in u.heads]
    return any(_same_thing(a, h, o) for h in (*x.heads, *y.heads) for o in others)


def _across_sentences(a: Analysis, x: Chunk, y: Chunk) -> bool:
    """Round 24: a sentence ends between the phrases ("... is parked.A water hydrant is also seen.")."""
    return any(a.tokens[k].text in (".", "!", "?", ";") or "." in a.tokens[k].text[:-1]
               for k in range(x.start, y.end))


def _symmetric_words(a: Analysis, start: int, end: int) -> bool:
    """Round 24: a symmetric relation between the phrases, even after a verb's object ("enjoying
    green grass next to the snow")."""
    commas = [k for k in range(start, end) if a.tokens[k].text in (",", ";", ":")]
    start = commas[-1] + 1 if commas else start  # "doors that are open, along with | vases"
    words = [w for w, t in zip(a.lowers[start:end], a.tokens[start:end])
             if t.tag not in ("DT", "PRP$") and t.text.strip() and not t.tag.startswith("VB")]
    return " ".join(words) in SYMMETRIC_RELATIONS


def _after_symmetric_place(a: Analysis, x: Chunk) -> bool:
    """Round 24: the first phrase is the object of a symmetric relation ("standing by an elephant
    behind a fence" -> "by a fence behind an elephant": the fence is by them too)."""
    last = [w for w in a.lowers[max(0, x.start - 3):x.start] if w not in ("a", "an", "the")]
    return bool(last) and (last[-1] in SYMMETRIC_RELATIONS or " ".join(last[-2:]) in SYMMETRIC_RELATIONS)


def _people_at_each_other(a: Analysis, x: Chunk, y: Chunk) -> bool:
    """Round 24: two people (or animals) and a verb of looking or talking between them; 2.12 (a
    review): or of resting on the other ("A woman leaning on a man", as mutual as "against")."""
    def animate(c):
        w = a.lowers[c.heads[-1]]
        return a.is_person(w) or a.is_person(a.vocabulary.singular(w)) or _is_animal(a, c.heads[-1])
    return animate(x) and animate(y) and bool((LOOKING_VERBS | RESTING_VERBS) & set(a.lowers[x.end:y.start]))


def _board_on_water(a: Analysis, x: Chunk, y: Chunk) -> bool:
    """Round 24: a board or boat and the water or snow it is on ("sitting on surfboard at sunset on
    the ocean" -> "on the ocean ... on surfboard")."""
    hx, hy = a.lowers[x.heads[-1]], a.lowers[y.heads[-1]]
    return (hx in BOARDS and hy in SURFACES) or (hy in BOARDS and hx in SURFACES)


HITTERS = frozenset({"racket", "racquet", "rackets", "bat", "bats", "club", "paddle"})


def _ball_and_racket(a: Analysis, x: Chunk, y: Chunk) -> bool:
    """Round 25: a ball, what hits it and who holds that ("A tennis player with a racket hitting
    the ball" -> "with the ball hitting a racket"; "A player hits the ball up from the racket" ->
    "The racket hits the ball up from a tennis player"): either way round it reads true."""
    hx, hy = a.lowers[x.heads[-1]], a.lowers[y.heads[-1]]
    pair = {hx, hy}
    if pair & HITTERS and pair & {"ball", "balls"}:
        return True
    person = a.is_person(hx) or a.is_person(hy)
    return bool(pair & HITTERS) and person and any(w.startswith("hit") for w in a.lowers)


BUNS = frozenset({"bun", "buns"})
# what a bun is the bread of, above and below (a hot dog lies in one: "a bun on a hot dog" is false)
BUN_FILLED = frozenset({"sandwich", "sandwiches", "burger", "burgers", "hamburger", "hamburgers", "cheeseburger",
                        "cheeseburgers", "doughnut", "doughnuts", "donut", "donuts", "patty", "patties"})


def _part_of(a: Analysis, x: Chunk, y: Chunk) -> bool:
    """Round 24: one phrase names a part of the other's kind of thing ("in a bus staring out the
    window": the bus's window)."""
    hx, hy = a.lowers[x.heads[-1]], a.lowers[y.heads[-1]]
    whole = {"vehicle", "place", "furniture", "appliance"}
    if {hx, hy} & BUNS and {hx, hy} & BUN_FILLED:
        return True  # 2.14 (round 94): "a sandwich on a bun" -> "a bun on a sandwich": its top half is
    return (hx in PARTS and _category(a, y.heads[-1]) in whole) or (hy in PARTS and _category(a, x.heads[-1]) in whole)


def _related_by_word(a: Analysis, start: int, end: int) -> bool:
    """2.4 (round 23): a preposition, particle or verb between two phrases; without one they are
    a list ("a bottle a cup a keyboard a laptop and a monitor") and swapping says the same."""
    return any(a.tokens[k].tag.startswith("VB") or a.tokens[k].tag in ("IN", "TO", "RP") for k in range(start, end))


def _unit_between(a: Analysis, x: Chunk, y: Chunk) -> bool:
    """Another phrase of the caption lies between ``x`` and ``y`` (a distant pair)."""
    return any(x.end <= u.start and u.end <= y.start for u in a.units)


def _with_only(a: Analysis, start: int, end: int) -> bool:
    """2.4 (round 23): only "with" (and articles) between two phrases, even when the first is a
    verb's object: "holding a small cake with candles" -> "holding candles with a small cake" may
    still hold; not when the second is a tool (:data:`TOOLS`: "cutting a cake with a knife")."""
    kept = [k for k in range(start, end) if a.tokens[k].tag not in ("DT", "PRP$") and a.tokens[k].text.strip()]
    if not (len(kept) == 1 and a.lowers[kept[0]] == "with"):
        return False
    tool = next((a.lowers[k] for k in range(end, len(a.tokens)) if a.tokens[k].tag in NOUN_TAGS), "")
    return a.vocabulary.singular(tool) not in TOOLS


def _one_and_the_other(a: Analysis) -> bool:
    """2.4 (round 23): "one catching the ball the other sliding": the phrases are referred to by
    position, and a swap garbles them."""
    text = " ".join(a.lowers)
    return "the other" in text or "one another" in text


def _is_subject(a: Analysis, x: Chunk, y: Chunk) -> bool:
    """2.4 (round 23): either phrase is the subject of a verb that shows number ("Cows spread out
    and graze": swapped with a singular phrase the verb no longer agrees; not "Three elephants
    walking")."""
    def finite(v: int) -> bool:
        return a.tokens[v].tag in ("VBZ", "VBP", "VBD") or any(a.tokens[c].dep in ("aux", "auxpass")
                                                               for c in a.children[v])
    return any(a.tokens[h].dep in ("nsubj", "nsubjpass") and 0 <= a.tokens[h].head < len(a.tokens)
               and finite(a.tokens[h].head) for c in (x, y) for h in c.heads)


def _ends_loosely_symmetric(a: Analysis, y_start: int) -> bool:
    """2.4 (round 22): the words before the second phrase end in a symmetric link ("... on a
    table near | a glass", "... in the snow with | children"): across a distant pair, the first
    phrase may be in that relation too."""
    last = [w for w, t in zip(a.lowers[max(0, y_start - 3):y_start], a.tokens[max(0, y_start - 3):y_start])
            if w not in ("a", "an", "the", "some") and t.tag != "PRP$"]
    return bool(last) and (last[-1] in LOOSELY_SYMMETRIC or " ".join(last[-2:]) in LOOSELY_SYMMETRIC)


def _late_unfit(a: Analysis, c: Chunk) -> bool:
    """2.11: a phrase the fourth relation try does not move:
    - no determiner, number or possessive, and a singular count noun for its first head ("Giraffe
      standing in a pen" -> "A pen standing in giraffe"; "Orange train", "train" tagged as a verb);
    - no determiner and an "-ing" word inside ("dressed in black preparing food": a misparse);
    - a plural, a person, an animal or a list and then a head of :data:`LATE_VERB_LIKE_HEADS` (round
      66: "a group of men ski", "two giraffe stand", "Two sheep and a ram stand"; "a drink someone
      has": a verb or clause read into the phrase; not "a fruit stand"), or such a head after a noun
      and before an adverb or particle (round 67: "in a cage stand together");
    - a possessive's phrase ("his skate board" -> "His skate board doing a trick on a man"; "a
      man's skate board");
    - clothing after "in" (worn: "A child in a sun hat crawling in hay" -> "in hay crawling in a
      sun hat" says the same);
    - 2.14 (round 94): "herd" or "horseback" read into the phrase ("Cowboys herd cattle", "on
      horseback herding cattle"), not "a herd of cattle"."""
    first = a.tokens[c.start]
    bare = first.tag not in ("DT", "PRP$", "CD", "WP$", "PDT") and a.lowers[c.start] not in LATE_QUANTIFIERS
    head, last = c.heads[0], c.heads[-1]
    before = last - 1 if last > c.start and a.tokens[last - 1].tag in ("NN", "NNS") else None
    return ((bare and a.tokens[head].tag not in ("NNS", "NNPS") and a.lowers[head] not in LATE_MASS_WORDS)
            or (before is not None and a.lowers[last] in LATE_VERB_LIKE_HEADS
                and (a.tokens[before].tag == "NNS" or _category(a, before) in ("person", "animal")
                     or "and" in a.lowers[c.start:last] or a.lowers[last] in ("someone", "somebody")
                     or (last + 1 < len(a.tokens) and a.tokens[last + 1].tag in ("RB", "RP"))))
            or any(a.lowers[k] in SIGN_WORDS and a.lowers[k + 1] == "of" for k in range(c.start, c.end - 1))
            or (first.tag == "CD" and a.lowers[c.start] not in ("one", "1") and a.tokens[head].tag == "NN")
            or (bare and any(a.tokens[k].tag == "VBG" for k in range(c.start, c.end)))
            or first.tag == "PRP$" or any(a.tokens[k].tag == "POS" for k in range(c.start, c.end))
            or any(a.lowers[k] in HERDING_WORDS and a.lowers[k + 1:k + 2] != ["of"] for k in range(c.start, c.end))
            or (c.start > 0 and a.lowers[c.start - 1] == "in" and _category(a, c.heads[-1]) == "clothing"))


# Round 65's readers, on the fourth try's negatives: a quantifier floated after the subject ("Bags
# all sitting" -> "The floor all sitting"), a phrase whose description stays behind ("A train with
# a yellow front driving on a track" -> "A track with a yellow front"; a person or animal "on" a
# board or leash before the relation, round 69 and the review: "A man on a surfboard riding a wave"
# -> "A wave on a surfboard riding a man"; "the counter including a
# glass of water ... is on food"), "along" after no verb ("a lamp post along a street": true either
# way), "not many passengers", names split in two ("cross legged",
# "back ground", "A passenger trains" with "trains" read as a verb).
LATE_LEFT_BEHIND = frozenset({"with", "in", "at", "wearing", "including", "all", "both", "each", "inside", "outside"})
LATE_SPLIT_BIGRAMS = frozenset({("cross", "legged"), ("back", "ground"), ("fore", "ground")})
# Round 66's readers: heads that are a verb or a clause's subject after a noun ("a group of men ski", "two
# giraffe stand", "a drink someone has")
LATE_VERB_LIKE_HEADS = frozenset({"stand", "ski", "sit", "lay", "walk", "graze", "eat", "drink", "look", "wait",
                                  "play", "run", "someone", "somebody"})
# Round 66's readers: what is worn or ridden "on" is on its rider either way ("snow boards on some
# people"; "skies", a typo), a wave acts on a surfer ("A wave catches a surfer"), "up by" (near) is
# symmetric, "the view from a plane" is the view from the sky; a description left behind ("A sheep
# with its mouth | open | in a pen", "A brown dog | on a leash | laying on a floor").
LATE_WORN_ON = frozenset({"skies", "ski", "skis", "snowboard", "snowboards"})  # and a "snow board"
# Round 67's: nearness is symmetric ("very low to the ground"), a track runs along a train either
# way when it runs or goes, "a pizza cut into 6 slices", a description left behind ("A lady on her
# phone", "with man inside"), a sign's subject ("a yellow sign of a person"), a verb after its noun
# ("in a cage stand together"), a number on a singular ("two train"); a wave and a person only
# where one rides or surfs the other ("A wave coming in on a surfer", "taking a surfer").
LATE_NEAR_WORDS = frozenset({"low", "close"})
# Round 71's: "along" after a verb of rest ("sitting along"), "set up with" (together either way)
LATE_ALONG_MOTION = frozenset({"moving", "moves", "traveling", "travelling", "travels", "walking", "walks", "riding",
                               "rides", "driving", "drives", "heading", "heads", "going", "goes", "running", "runs",
                               "rolling", "rolls", "speeding", "racing", "passing"})
LATE_ALONG = frozenset((verb, "along") for verb in ("run", "runs", "running", "go", "goes", "going"))


def _late_pair_unfit(a: Analysis, x: Chunk, y: Chunk, spans: tuple[tuple[int, int], tuple[int, int]]) -> bool:
    """2.11: a pair the fourth relation try does not swap (:data:`LATE_LEFT_BEHIND`,
    :data:`LATE_SPLIT_BIGRAMS`)."""
    (_, x_end), (_, y_end) = spans
    words = a.lowers

    def noun_read_as_verb(end: int) -> bool:  # "A passenger trains speeding"
        return (end + 1 < len(words) and a.tokens[end].tag == "VBZ" and a.tokens[end + 1].tag in ("VBG", "VBN")
                and a.vocabulary.category_of(a.vocabulary.singular(words[end]), "noun") is not None)

    def along(k: int) -> bool:  # "a lamp post along a street", "tracks sitting along a train"; not "walking along"
        return words[k] in ("along", "alongside") and not (k > 0 and words[k - 1] in LATE_ALONG_MOTION)

    between = words[x_end:y.start]
    if _filled(a, x) or _filled(a, y):  # 2.12: only the container with what fills it, right after it; not
        # a container that is itself what fills or goes with another (round 87: "A table topped with plates
        # filled with food" -> "... with food filled with plates": the table is), nor an "of" phrase or one
        # whose "of" stays behind ("bags and cases | of luggage")
        after_with = x.start > 0 and (words[x.start - 1] == "with" or tuple(words[x.start - 2:x.start]) in FILLED_WITH)
        return not (_filled(a, x) and not _filled(a, y) and x_end == x.end and y.start == x.end + 2
                    and (len(x.heads) == 1 or words[x.heads[0]] in PLURAL_PARTITIVES) and not after_with
                    and not (y_end < len(words) and words[y_end] == "of"))
    heads = (words[x.heads[-1]], words[y.heads[-1]])
    person = a.is_person(heads[0]) or a.is_person(a.vocabulary.singular(heads[0])) \
        or a.is_person(heads[1]) or a.is_person(a.vocabulary.singular(heads[1]))
    return ((x_end < y.start - 1 and (words[x_end] in LATE_LEFT_BEHIND or a.tokens[x_end].tag == "JJ"
                                      or (words[x_end] == "on" and (a.tokens[x_end + 1].tag == "PRP$"
                                                                    or _category(a, x.heads[-1]) in ("person", "animal"))))
             and not (words[y.start - 1] == "of" and y.start - x_end <= 4))  # "in the middle of", "in front of"
            or bool(set(between) & LATE_NEAR_WORDS) or "with" in between
            or (bool(set(heads) & {"track", "tracks"}) and any(pair in LATE_ALONG for pair in zip(between, between[1:])))
            or any(pair in (("cut", "into"), ("sliced", "into")) for pair in zip(between, between[1:]))
            or (person and bool(set(heads) & {"wave", "waves"}) and not any(w.startswith(("rid", "surf")) for w in between))
            or (person and "on" in between and any(
                h in LATE_WORN_ON or (h in ("board", "boards") and c.heads[-1] > 0 and words[c.heads[-1] - 1] == "snow")
                for h, c in zip(heads, (x, y))))
            or any(pair == ("up", "by") for pair in zip(between, between[1:]))
            or words[max(0, x.start - 2):x.start] in (["view", "from"], ["views", "from"])
            or (y_end < len(words) and words[y_end] in ("including", "all", "both", "each"))
            or any(along(k) for k in range(x_end, y.start))
            or (x.start > 0 and words[x.start - 1] == "not") or (y.start > 0 and words[y.start - 1] == "not")
            or any(pair in LATE_SPLIT_BIGRAMS for pair in zip(words, words[1:]))
            or noun_read_as_verb(x_end) or noun_read_as_verb(y_end))


LATE_QUANTIFIERS = frozenset({"some", "many", "several", "more", "most", "all", "few", "lots", "plenty"})


QUANTIFIERS_AFTER_NO_ARTICLE = frozenset({"some", "many", "several", "any"})  # not "an all-white bathroom"


def _garbled_for_swap(a: Analysis) -> bool:
    """2.11 (round 73): the caption's own slip that a swap would keep: a word doubled ("with with",
    :func:`doubled_or_misfit_article`) or a possessive before an article ("to his a tennis ball")."""
    return doubled_or_misfit_article(a) or any(
        (a.tokens[k].tag == "PRP$" and a.lowers[k + 1] in ("a", "an", "the"))
        or (a.lowers[k] in ("a", "an") and a.lowers[k + 1] in QUANTIFIERS_AFTER_NO_ARTICLE and k + 2 < len(a.tokens)
            and a.tokens[k + 2].tag in ("NNS", "NNPS"))  # 2.14 (round 94): "a some wires"; not "a many colored kite"
        for k in range(len(a.tokens) - 1))


def _the_viewer(a: Analysis, c: Chunk) -> bool:
    """2.11 (round 73): the camera that takes the picture ("poses for the camera", "facing the
    camera", "making waves towards the camera"): the viewer, not a thing in the scene."""
    return (a.lowers[c.heads[-1]] in VIEWER_NOUNS and c.start > 0
            and a.lowers[c.start - 1] in ("for", "facing", "faces", "face", "towards", "toward", "at", "into", "to"))


# Round 83's readers: a bare place noun after a preposition is an idiom ("laying in bed" -> "Bed laying
# in a woman"; "at school", "to work"), not an object that can move.
BARE_IDIOM_NOUNS = frozenset({"bed", "school", "church", "class", "town", "work", "home", "jail", "prison", "college"})
IDIOM_PREPOSITIONS = frozenset({"in", "to", "at", "from", "into", "out", "of", "for"})


def _bare_idiom(a: Analysis, c: Chunk) -> bool:
    """2.12: phrase ``c`` is a bare noun of :data:`BARE_IDIOM_NOUNS` after a preposition ("in bed")."""
    return (c.end - c.start == 1 and a.lowers[c.start] in BARE_IDIOM_NOUNS and c.start > 0
            and a.lowers[c.start - 1] in IDIOM_PREPOSITIONS)


SCREENS = frozenset({"tv", "tvs", "television", "televisions", "screen", "monitor"})


def _round_73_pair(a: Analysis, x: Chunk, y: Chunk) -> bool:
    """2.11 (round 73's readers): pairs a swap leaves true:
    - a person "on" a phone uses it ("A man on a cellphone" -> "A cellphone on a man");
    - a screen and what is "in front of" it face each other ("a table in front of a TV");
    - a stack of the same relation ("on a plate on a table" -> "on a table on a plate");
    - "along" after no verb of motion ("near the curb along a road")."""
    hx, hy = a.lowers[x.heads[-1]], a.lowers[y.heads[-1]]
    between = a.lowers[x.end:y.start]
    person_x = a.is_person(hx) or a.is_person(a.vocabulary.singular(hx))
    return ((person_x and hy in DEVICES and between[-1:] == ["on"])
            or (bool({hx, hy} & SCREENS) and " ".join(between[-3:]) == "in front of")
            or (len(between) == 1 and x.start > 0 and a.lowers[x.start - 1] == between[0] in ("on", "in"))
            or (y.start > 1 and a.lowers[y.start - 1] in ("along", "alongside")
                and a.lowers[y.start - 2] not in LATE_ALONG_MOTION))


def _ridden_and_ground(a: Analysis, x: Chunk, y: Chunk) -> bool:
    """2.4: a word of riding or going aboard just before the first phrase: what one rides and
    where one rides it trade places without a change ("riding skis on the snow" -> "riding the
    snow on skis")."""
    return bool(RIDING_WORDS & set(a.lowers[max(0, x.start - 3):x.start]))


def _bare_before_participle(a: Analysis, x: Chunk, y: Chunk) -> bool:
    """2.4: two phrases joined by an "-ing" word alone, one of them with no determiner: swapped,
    they read as one phrase ("hat wearing woman" = a hat-wearing woman; "The ball serving man")."""
    def bare(c):
        return a.tokens[c.start].tag not in ("DT", "PRP$", "CD", "WP$", "PDT") and a.lowers[c.start] not in ("some", "many")

    joined_by_ing = y.start == x.end + 1 and a.tokens[x.end].tag == "VBG"
    return joined_by_ing and (bare(x) or bare(y))  # "Man serving the ball" -> "The ball serving man"


# 2.4 (round 17, 19): what is worn on the feet: "people on skis" -> "skis on people" is still true.
WORN_ON_FEET = frozenset({"ski", "skis", "skate", "skates", "rollerblades", "snowshoes", "shoe", "shoes", "boot",
                          "boots", "sneakers", "flippers"})


def _worn_on(a: Analysis, x: Chunk, y: Chunk) -> bool:
    """2.4: a person "on" what is worn on the feet (:data:`WORN_ON_FEET`), either way round."""
    hx, hy = a.lowers[x.heads[-1]], a.lowers[y.heads[-1]]
    return "on" in a.lowers[x.end:y.start] and (
        (hx in WORN_ON_FEET and a.is_person(hy)) or (hy in WORN_ON_FEET and a.is_person(hx))
        or (hx in WORN_ON_FEET and a.is_person(a.vocabulary.singular(hy)))
        or (hy in WORN_ON_FEET and a.is_person(a.vocabulary.singular(hx))))


_PLURAL_VERBS = frozenset({"are", "were", "have", "do"})
_SINGULAR_VERBS = frozenset({"is", "was", "has", "does"})


def _fits_verb(a: Analysis, place: Chunk, phrase: Chunk) -> bool:
    """True unless ``phrase``, put where ``place`` is, would disagree with the verb after it (a
    partitive "a herd of giraffes" may take either number)."""
    k = place.end
    if place.start >= 2 and a.lowers[place.start - 2] == "there":  # "there is many toppings"
        k = place.start - 1
    if k >= len(a.tokens):
        return True
    word, tag = a.lowers[k], a.tokens[k].tag
    plural_verb = word in _PLURAL_VERBS or tag == "VBP"
    singular_verb = word in _SINGULAR_VERBS or tag == "VBZ"
    if not (plural_verb or singular_verb):
        return True
    tags = {a.tokens[h].tag for h in phrase.heads}
    listed = any(a.tokens[k].dep == "conj" and a.tokens[k].tag in NOUN_TAGS for k in range(phrase.start, phrase.end))
    may_be_plural = bool(tags & {"NNS", "NNPS"}) or listed  # "diced meat and mixed vegetables"
    may_be_singular = a.tokens[phrase.heads[0]].tag not in ("NNS", "NNPS") and not listed
    return may_be_plural if plural_verb else may_be_singular


def _truncated(a: Analysis, c: Chunk) -> bool:
    """v2: a phrase right after a word that belongs before a noun ("three yellow | bananas", "The
    opened | laptop", "in to | aerial view"): the parse cut the phrase short, and a swap would
    leave those words on the other phrase."""
    k = c.start - 1
    while k >= 0 and not a.tokens[k].text.strip():
        k -= 1
    return k >= 0 and a.tokens[k].tag in ("DT", "JJ", "JJR", "JJS", "CD", "PRP$", "VBN") and a.chunk_of[k] < 0 \
        and a.lowers[k] not in ("all", "both", "each", "that", "this", "which")


def _holds_verb_or_clause(a: Analysis, c: Chunk) -> bool:
    """v2: a phrase that starts with the verb whose object it is ("a cat | drinking water"), or
    whose noun has a clause without "that" ("the book | she has been reading"): moved, the verb
    or the clause lands on the other phrase."""
    head = c.heads[-1]
    if a.tokens[c.start].tag == "VBG" and a.tokens[head].dep == "dobj" and a.tokens[head].head == c.start:
        return True
    if a.tokens[head].dep == "appos" and c.start > 0 and a.tokens[c.start - 1].text not in (",", "(", ":", "-"):
        return True  # "A cat | drinking water": no comma, so no apposition: a verb the parse missed
    return any(a.tokens[r].dep == "relcl" and not any(a.tokens[k].tag in ("WDT", "WP", "WP$") for k in a.children[r])
               for h in c.heads for r in a.children[h])


def _named_first(a: Analysis, x: Chunk) -> bool:
    """v2: the caption starts with a capitalised word the tagger calls a name and the vocabulary
    does not know ("Lettuce and tomatoes on ..."): moved, it keeps a capital inside the sentence."""
    first = next((i for i, t in enumerate(a.tokens) if t.is_word), -1)
    return x.start == first and a.tokens[first].tag in ("NNP", "NNPS") and not a.tokens[first].text.isupper()


def _reflexive(a: Analysis) -> bool:
    """v2: "himself", "each other": they refer back to the subject, which must stay."""
    return bool(REFLEXIVES & set(a.lowers))


def _reciprocal(a: Analysis) -> bool:
    text = " ".join(a.lowers)
    return "each other" in text or "one another" in text


def _is_animal(a: Analysis, i: int) -> bool:
    vocab = a.vocabulary
    return "animal" in (vocab.category_of(a.lowers[i], "noun"), vocab.category_of(vocab.singular(a.lowers[i]), "noun"))


def _two_objects(a: Analysis, c: Chunk) -> bool:
    """v2: one of two objects of one verb ("feeding four giraffes | grass and leaves"): moved, the
    other reads as a noun stuck to it."""
    k = a.units.index(c) if c in a.units else -1
    nxt = a.units[k + 1] if 0 <= k < len(a.units) - 1 else None
    prev = a.units[k - 1] if k > 0 else None
    return (nxt is not None and nxt.start == c.end and a.tokens[c.heads[-1]].dep in ("dobj", "dative")) or \
        (prev is not None and prev.end == c.start and a.tokens[prev.heads[-1]].dep in ("dobj", "dative"))


def _next_to_hyphen(a: Analysis, c: Chunk) -> bool:
    """v2: a phrase that starts or ends at a hyphen ("cross-|country"): half of one word."""
    def hyphen(k):
        return 0 <= k < len(a.tokens) and (a.tokens[k].tag == "HYPH" or a.tokens[k].text == "-")
    return hyphen(c.start - 1) or hyphen(c.end)


def _in_participle_compound(a: Analysis, c: Chunk) -> bool:
    """v2: one side of "noun + participle + bare noun" ("a building | lined | street"): the two
    phrases are one object."""
    k = a.chunks.index(c) if c in a.chunks else -1
    nxt = a.chunks[k + 1] if 0 <= k < len(a.chunks) - 1 else None
    prev = a.chunks[k - 1] if k > 0 else None
    return (nxt is not None and is_compound_participle(a.tokens, c.end, nxt.start, nxt.start)) or \
        (prev is not None and is_compound_participle(a.tokens, prev.end, c.start, c.start))


def _keeps_number(a: Analysis, place: Chunk, phrase: Chunk) -> bool:
    """v2: True unless ``phrase``, put where ``place`` is, disagrees with a verb that agrees with
    ``place`` further away: as its subject ("Pitas on a grill get" -> "A grill ... get") or through
    "that"/"which" ("bananas that are" -> "a table that are")."""
    need = next((n for n in (required_number(a.tokens, a.lowers, h, a.children) for h in place.heads)
                 if n is not None), None)
    if needs_plural_place(a.lowers, place.start, place.end) or (_reciprocal(a) and a.tokens[place.heads[0]].dep == "nsubj"):
        need = "pl"  # "lots of ...", "between ...", "... with each other"
    if place.end < len(a.tokens) and a.lowers[place.end] == "who" and not (
            a.is_person(a.lowers[phrase.heads[0]]) or _is_animal(a, phrase.heads[0])):
        return False  # "some benches who are sitting"
    if need is None:
        return True
    listed = any(a.tokens[k].dep == "conj" and a.tokens[k].tag in NOUN_TAGS for k in range(phrase.start, phrase.end))
    first = a.tokens[phrase.heads[0]]
    if need == "pl":  # "a display of fruits sit" is not English; "a group of people sit" is
        return first.tag in ("NNS", "NNPS") or listed or (
            a.lowers[phrase.heads[0]] in COLLECTIVES
            and any(a.tokens[h].tag in ("NNS", "NNPS") for h in phrase.heads))
    return a.tokens[phrase.heads[0]].tag not in ("NNS", "NNPS") and not listed


def _in_list(a: Analysis, chunk: Chunk) -> bool:
    """True when "and", "or" or a comma joins the phrase to a neighbour ("A grey and | orange fire
    hydrant", "street signs and | a light post"): a unit that should have held the whole list."""
    def linker(k):
        return 0 <= k < len(a.tokens) and (a.tokens[k].tag == "CC" or a.tokens[k].text in (",", "&"))

    after = chunk.end
    return linker(chunk.start - 1) or (linker(after) and after + 1 < len(a.tokens) and a.tokens[after + 1].is_word)


def _ends_in_of(a: Analysis, start: int, end: int) -> bool:
    """True when the words between two phrases end in an "of" of no relation phrase ("X of Y",
    "a bathroom shot of Y"): the second phrase belongs to the word before "of"."""
    return end > start and a.lowers[end - 1] == "of" and not a.in_relation[end - 1]


AGREEING_VERBS = frozenset({"is", "are", "was", "were", "has", "have", "does", "do"})
# 2.8: the other number's form of a verb that agrees ("is" <-> "are").
OTHER_NUMBER = {"is": "are", "are": "is", "was": "were", "were": "was", "has": "have", "have": "has",
                "does": "do", "do": "does"}
_SINGULAR_FORMS = frozenset({"is", "was", "has", "does"})
# Words that need a plural subject ("Two ducks are floating together" -> "A pond is floating ...
# together"): a plural subject with one of them is not made singular.
PLURAL_ONLY_WORDS = frozenset({"together", "both", "each", "other", "another", "all", "they", "them", "their",
                               "themselves", "several"})
# Possessives that point back at a phrase ("an elephant carrying plants in its tusk" -> "plants
# carrying an elephant in its tusk").
POSSESSIVE_PRONOUNS = frozenset({"its", "his", "her", "their", "hers", "theirs"})


def _agreement_fix(a: Analysis, x: Chunk, y: Chunk,
                   spans: tuple[tuple[int, int], tuple[int, int]] | None) -> tuple[int, int, str] | None:
    """2.8: how the verb of the one phrase of ``x``, ``y`` that is a subject must change when the
    other phrase, of the other number, takes its place: (the subject's start, the verb's index,
    its new lower-case form). The finite verb right after the subject changes ("are" -> "is",
    "sits" -> "sit"); a modal stays. None when it cannot be done safely: both or neither phrase a
    subject; a verb not right after the subject; a past tense with no auxiliary (in captions,
    mostly a participle the parse took for a verb: "Boats docked at a harbor", "Bicycles lined
    up"); verbs joined by "and"; another verb that agrees; an unknown verb form; a pronoun that
    points back at a phrase ("its tusk", "his shoes", "on it"); a plural subject with words that
    need one ("together"); a placement or frame noun moved ("plates in the background"); a
    subject described, not related ("The room is spacious with sofas"); "outside of" and "lined
    up with", true either way round (round 43); a number the words do not show ("mostly broccoli
    are", "The two woman", "a ski slopes"); a phrase that would move with its modifiers or holds a
    participle (round 44: "in the store | on the floor", "the snow holding skis")."""
    def subject_verb(c: Chunk) -> int | None:
        verbs = {a.tokens[h].head for h in c.heads if a.tokens[h].dep in ("nsubj", "nsubjpass")
                 and 0 <= a.tokens[h].head < len(a.tokens)}
        return verbs.pop() if len(verbs) == 1 else None

    def finite(v: int) -> int | None:
        found = [k for k in [v] + [c for c in a.children[v] if a.tokens[c].dep in ("aux", "auxpass")]
                 if a.tokens[k].tag in ("VBZ", "VBP", "VBD", "MD") or a.lowers[k] in AGREEING_VERBS]
        return min(found) if found else None

    def number(c: Chunk) -> str | None:
        """"pl", "sg", or None when the words do not show it."""
        if any(a.tokens[k].dep == "conj" and a.tokens[k].tag in NOUN_TAGS for k in range(c.start, c.end)):
            return "pl"  # "a pool and a clock tower"
        head = c.heads[0]
        word, tag = a.lowers[head], a.tokens[head].tag
        if any(a.tokens[j].tag == "CD" and a.lowers[j] not in ("one", "1") for j in range(c.start, head)):
            return "pl" if tag in ("NNS", "NNPS") else None  # "The two woman": the caption's own error
        if tag in ("NNS", "NNPS"):
            if a.lowers[c.start] in ("a", "an"):
                return None  # "a ski slopes": the caption's own error
            return "pl" if word.endswith("s") or word in a.vocabulary.irregular_plural.values() else None
        return "sg" if tag in ("NN", "NNP") else None

    verbs = {c.start: subject_verb(c) for c in (x, y)}
    subjects = [c for c in (x, y) if verbs[c.start] is not None and finite(verbs[c.start]) is not None]
    if len(subjects) != 1 or a.tokens[x.start].tag in ADVERB_TAGS or a.tokens[y.start].tag in ADVERB_TAGS:
        return None
    subject = subjects[0]
    other = y if subject is x else x
    v = verbs[subject.start]
    k = finite(v)
    moved = spans or ((x.start, x.end), (y.start, y.end))
    if moved != ((x.start, x.end), (y.start, y.end)):
        return None  # round 44: what the parse hangs on a phrase here is often the verb's ("Bikes are lined
        # up in the store | on the floor", "swimming through the water | near dusk"): the phrases alone
    if any(a.tokens[j].tag in ("VBG", "VBN") and a.tokens[j - 1].tag in NOUN_TAGS
           for c in (x, y) for j in range(c.start + 1, c.end)):
        return None  # round 44: "in the snow holding skis" parsed as one phrase
    if any(c.start > 0 and (a.tokens[c.start - 1].tag in ("DT", "JJ", "VBN", "VBD", "RP", "HYPH", "PRP$", "CD")
                            or not a.tokens[c.start - 1].ws) for c in (x, y)):
        return None  # a review: "on a screened-in | porch", "a worn out | couch": the start of the phrase stays
    subject_end = next(hi for lo, hi in moved if lo == subject.start)
    if any(a.tokens[j].tag not in ADVERB_TAGS for j in range(subject_end, k)) or k < subject_end:
        return None
    if any(a.tokens[c].dep == "conj" and a.tokens[c].tag.startswith("VB") for c in a.children[v]):
        return None
    if a.tokens[k].tag == "VBD" and a.lowers[k] not in AGREEING_VERBS:
        return None
    if a.lowers[v] in ("has", "have") and k == v:
        return None  # "A bathroom has red walls" -> "Red walls have a bathroom": "has" is "with" here
    if (BACK_POINTING | POSSESSIVE_PRONOUNS) & set(a.lowers) or any(
            j != k and (a.tokens[j].tag in ("VBZ", "VBP") or a.lowers[j] in AGREEING_VERBS) for j in range(len(a.tokens))):
        return None
    if any(a.lowers[j] in PLACEMENT_NOUNS | FRAMING_NOUNS for lo, hi in moved for j in range(lo, hi)):
        return None  # "plates in the background", "a meadow in the black and white photo"
    between = a.lowers[min(x.end, y.end):max(x.start, y.start)]
    if "outside" in between or ("lined" in between and "with" in between):
        return None  # round 43: "The street signs are outside of a building", "lined up with": either way round
    if any(a.tokens[c].dep == "acomp" for c in a.children[v]):
        return None  # "The living room is spacious and clean with ... sofas": no relation between them
    new, old = number(other), number(subject)
    if new is None or old is None or new == old:
        return None
    if old == "pl" and PLURAL_ONLY_WORDS & set(a.lowers):
        return None
    plural = new == "pl"
    word, tag = a.lowers[k], a.tokens[k].tag
    vocab = a.vocabulary
    if word in OTHER_NUMBER:
        form = word if (word not in _SINGULAR_FORMS) == plural else OTHER_NUMBER[word]
    elif tag == "MD":
        form = word
    elif tag == "VBZ":
        base = vocab.verb_base(word)
        if base is None or vocab.forms(base)[1] != word:
            return None
        form = base if plural else word
    elif tag == "VBP":
        if vocab.verb_base(word) != word:
            return None
        form = word if plural else vocab.forms(word)[1]
    else:
        return None
    return subject.start, k, form


def _agrees(a: Analysis, chunk: Chunk) -> bool:
    """True when the word after the phrase agrees with it in number ("boats are"): swapping it
    with a phrase of the other number would break the grammar ("the harbor are")."""
    k = chunk.end
    return k < len(a.tokens) and (a.lowers[k] in AGREEING_VERBS or a.tokens[k].tag in ("VBZ", "VBP"))


def _is_object_head(a: Analysis, i: int) -> bool:
    """A head that names a thing: not a frame noun ("a group", "the side"), not a colour used as a
    noun ("a man in red")."""
    return a.lowers[i] not in a.vocabulary.frame_nouns and not is_adjective_used_as_noun(a, i)


def adjective_swap(a: Analysis, rng: CaptionRandom, choose: Chooser | None = None,
                   words: str = "any") -> str | None:
    """Swap two adjectives of different noun phrases (attribute binding).

    Pairs of the same kind first (colour<->colour: "a red cube and a blue ball" -> "a blue cube
    and a red ball"), then two adjectives of known kinds, then (``words="any"``) any two. Two
    adjectives of one noun phrase are never swapped ("a black and white cat" -> "a white and
    black cat" says the same).
    """
    candidates = adjective_candidates(a, degree=words == "known")
    if words == "known":
        candidates = [(i, kind) for i, kind in candidates if kind is not None]
    if len(candidates) < 2:
        return None
    same_kind, known, other = [], [], []
    for i, j in _pairs(len(candidates)):
        (x, cx), (y, cy) = candidates[i], candidates[j]
        if a.lowers[x] == a.lowers[y] or _group(a, x) == _group(a, y):
            continue
        if (cx == "count") != (cy == "count"):
            continue  # "two dogs and a red cat" -> "red dogs and a two cat" is not English
        if a.parsed and (cx == "count" or coordinated(a.tokens, x, y) or _shared_word(a, x, y) or _same_noun(a, x, y)
                         or (cx != cy and (_in_coordination(a, x) or _in_coordination(a, y)))
                         or _colour_onto_person(a, x, cx, y) or _colour_onto_person(a, y, cy, x)):
            continue  # v2: "two women ... many cakes"; "grey and orange"; "vintage red car ... vintage plane"
        if (_after_degree(a, x) and a.lowers[y] in UNGRADED) or (_after_degree(a, y) and a.lowers[x] in UNGRADED):
            continue  # a review of 2.13: "a very small dog ... a giant cat" -> "a very giant dog"
        if cx is not None and cx == cy:
            same_kind.append((x, y))
        elif cx is not None and cy is not None:
            known.append((x, y))
        else:
            other.append((x, y))
    if words == "known":  # 2.3: only two attributes of one kind that exclude each other
        pairs = [(x, y) for x, y in same_kind if _exclusive(a.lowers[x], a.lowers[y], dict(candidates)[x])]
        if not pairs:  # 2.13: else a colour, a material and a pattern of two things trade places
            kinds = dict(candidates)
            pairs = [(x, y) for x, y in known if _surface_swap(a, x, kinds[x], y, kinds[y])]
    else:
        pairs = _best_tier([same_kind, known, other])
    if not pairs:
        return None
    if choose is not None:
        return choose([swap_spans(a.tokens, (x, x + 1), (y, y + 1), a.parsed) for x, y in draw(pairs, SWAPS_TRIED, rng)])
    x, y = rng.choice(pairs)
    return swap_spans(a.tokens, (x, x + 1), (y, y + 1), a.parsed)


# 2.13 (round 82): the kinds of attribute that say what a thing's surface is. Two of them of
# different kinds, on two things, trade places into a false caption ("a white couch ... a wooden
# table" -> "a wooden couch ... a white table"): each thing gets a surface its own word excludes.
SURFACE_KINDS = frozenset({"colour", "material", "pattern"})
# "plain" says only that there is no pattern ("a plain shirt" may be red); plastic comes in every
# colour ("a white plate with a plastic fork" -> "a plastic plate with a white fork" may hold)
NOT_SURFACE_WORDS = frozenset({"plain", "plastic"})
# A review of 2.13: nouns whose colour is part of their name ("red wine", "green tea", "brown
# rice", "black lab", "blue jay", "blue jeans", "white board")
COLOUR_NAME_NOUNS = frozenset({"wine", "wines", "tea", "rice", "bread", "coffee", "velvet", "pepper", "peppers",
                               "onion", "onions", "grapes", "lab", "labs", "jay", "jays", "panda", "pandas", "fox",
                               "bear", "bears", "jeans", "board", "boards"})
# Things that show another: "a wooden carving of a white bird" -> "a white carving of a wooden bird"
DEPICTION_NOUNS = frozenset({"carving", "carvings", "sculpture", "sculptures", "statue", "statues", "painting",
                             "paintings", "drawing", "drawings", "picture", "pictures", "photo", "photos", "image",
                             "images", "model", "models", "figurine", "figurines", "replica", "mural", "poster",
                             "print", "prints", "toy", "toys"})
# Things whose colour or material is that of their parts: "a white kitchen with wooden cabinets"
# -> "a wooden kitchen with white cabinets" may still be true (round 82: "a tan bathroom").
ENCLOSING_NOUNS = ROOMS | frozenset({"room", "restroom", "washroom", "office", "lobby", "hallway", "hall", "house",
                                     "home", "building", "interior", "kitchenette", "apartment", "area", "space",
                                     # a review of 2.13: buildings take their colour from their parts too
                                     "church", "barn", "castle", "cabin", "garage", "shed", "store", "shop",
                                     "tower", "station", "skyscraper", "restaurant", "hotel", "school", "cottage"})


# Nouns that name a surface themselves: its attribute moved onto the thing that bears it stays true
PATTERN_NOUNS = frozenset({"pattern", "design", "print", "color", "colour", "motif", "finish", "paint", "coating"})
LIST_WORDS = frozenset({"and", "or", ",", "&", "/"})
# The colours a material usually has: a brown thing may be wooden and a wooden one brown ("a brown
# desk with a wooden chair" -> "a wooden desk with a brown chair" may still be true).
MATERIAL_COLOURS = {
    "wooden": {"brown", "tan", "beige"}, "wood": {"brown", "tan", "beige"},
    "bamboo": {"brown", "tan", "beige", "yellow", "gold", "golden"}, "wicker": {"brown", "tan", "beige", "gold", "golden"},
    "straw": {"brown", "tan", "beige", "yellow", "gold", "golden"}, "leather": {"brown", "black", "tan"},
    "metal": {"silver", "gray", "grey", "black", "gold", "golden"}, "metallic": {"silver", "gray", "grey", "gold", "golden"},
    "steel": {"silver", "gray", "grey", "black", "gold", "golden"}, "iron": {"black", "gray", "grey", "gold", "golden"},
    "marble": {"white", "gray", "grey", "black"}, "stone": {"gray", "grey", "white", "tan", "beige"},
    "brick": {"red", "brown", "orange"}, "concrete": {"gray", "grey", "white"},
    "paper": {"white", "brown"}, "cardboard": {"brown", "tan", "beige"}, "ceramic": {"white"}, "porcelain": {"white"},
    "denim": {"blue"}, "rubber": {"black"}, "cotton": {"white"}, "wool": {"white", "gray", "grey"},
    "woolen": {"white", "gray", "grey"},
}


def _surface_swap(a: Analysis, x: int, cx: str | None, y: int, cy: str | None) -> bool:
    """2.13: True when ``x`` and ``y`` are surface attributes of two different kinds (a colour and
    a material or pattern) of two different things, each named by a noun right after its
    attribute's phrase (no predicate: "the kitchen is white"), not rooms or buildings
    (:data:`ENCLOSING_NOUNS`), not a picture or model of the other, not a name."""
    if cx == cy or cx not in SURFACE_KINDS or cy not in SURFACE_KINDS:
        return False
    if a.lowers[x] in NOT_SURFACE_WORDS or a.lowers[y] in NOT_SURFACE_WORDS or _after_degree(a, x) or _after_degree(a, y):
        return False  # "a very white couch ... a wooden table" -> "a very wooden couch"
    if a.lowers[y] in MATERIAL_COLOURS.get(a.lowers[x], ()) or a.lowers[x] in MATERIAL_COLOURS.get(a.lowers[y], ()):
        return False  # "a brown desk ... a wooden chair"; "a silver car ... a metal railing"
    hx, hy = described(a.tokens, x), described(a.tokens, y)
    if not (0 <= hx < len(a.tokens) and 0 <= hy < len(a.tokens)) or _noun_forms(a, hx) & _noun_forms(a, hy):
        return False  # round 88: "floral vases ... a glass vase": the vase may be one of them
    for i, h in ((x, hx), (y, hy)):
        if a.tokens[h].tag not in NOUN_TAGS or h < i:
            return False  # a review of 2.13: "The kitchen is white and has wooden cabinets" (a predicate)
        if i > 0 and a.lowers[i - 1] in SHADE_WORDS:
            return False  # "dark wood cabinets ... black appliances" -> "dark black cabinets"
        if _listed_with_attribute(a, i):
            return False  # "grey and white cat ... rubber shoe" -> "grey and rubber cat": one of a list
        if _noun_forms(a, h) & ENCLOSING_NOUNS or any(_noun_forms(a, k) & PATTERN_NOUNS for k in range(i + 1, h + 1)):
            return False  # "porcelain pieces with floral patterns" -> "floral pieces"; "a floral print dress"
        if (cx if i == x else cy) == "colour" and i + 1 == h and a.lowers[h] in COLOUR_NAME_NOUNS:
            return False  # a review of 2.13: "red wine", "green tea", "black lab", "blue jeans": names
        if a.lowers[h] in DEPICTION_NOUNS and h + 1 < len(a.tokens) and a.lowers[h + 1] == "of":
            return False  # "a wooden carving of a white bird": the carving is the bird
    return True


def _noun_forms(a: Analysis, h: int) -> set[str]:
    """Noun ``h`` as written, its singular, and without a final "s" ("vases" -> "vase";
    "glasses" -> "glass" and "glasse"), for telling whether two nouns name one kind of thing."""
    word = a.lowers[h]
    return {word, a.vocabulary.singular(word), word.removesuffix("s"), word.removesuffix("es")}


def _listed_with_attribute(a: Analysis, i: int) -> bool:
    """True when adjective ``i`` and another attribute word stand in one list ("grey and white",
    "brown, leather"), whatever the parse says."""
    def attribute(k: int) -> bool:
        return 0 <= k < len(a.tokens) and (a.tokens[k].tag in ADJECTIVE_TAGS
                                           or a.vocabulary.category_of(a.lowers[k], "adjective") is not None)

    return (i > 1 and a.lowers[i - 1] in LIST_WORDS and attribute(i - 2)) or (
        i + 2 < len(a.tokens) and a.lowers[i + 1] in LIST_WORDS and attribute(i + 2))


# Sizes that take no "very" ("a very giant dog")
UNGRADED = frozenset({"giant", "enormous", "massive", "huge", "miniature", "gigantic", "immense"})


def _after_degree(a: Analysis, i: int) -> bool:
    """True when an adverb of degree ("very") modifies adjective ``i`` from before it: only a word
    of the same kind may take its place."""
    return a.parsed and i < len(a.children) and any(
        k < i and a.tokens[k].dep == "advmod" and a.lowers[k] in DEGREE_ADVERBS for k in a.children[i])


def _exclusive(x: str, y: str, kind: str | None) -> bool:
    """2.3 (second reader of round 10): swapping ``x`` and ``y`` makes a false caption only when
    each excludes the other on one thing: two colours (not near ones, no shade word), two
    materials, two patterns or shapes, two states, a size or an age from the two sides of its
    scale ("small dog ... large cat"). Across kinds ("a white tub ... a large window" -> "a large
    tub ... a white window") or on one side ("large" / "long") both may still be true."""
    if kind in ("size", "age"):
        return any((x in low and y in high) or (y in low and x in high) for low, high in ADJECTIVE_SIDES)
    if kind == "colour":
        return not ({x, y} & SHADE_WORDS) and not any(x in g and y in g for g in NEAR_COLOURS)
    if kind == "state":  # round 18: "an empty field ... dry grass" -> "a dry field ... empty grass" may hold
        return y in STATE_OPPOSITES.get(x, frozenset())
    return kind in ("material", "pattern", "shape")


def _in_coordination(a: Analysis, i: int) -> bool:
    """v2: True when adjective ``i`` is one member of "X and Y" ("grey and white cat"): only a word
    of the same kind fits there ("grey and small cat" is not English)."""
    return a.tokens[i].dep == "conj" or any(a.tokens[k].dep == "conj" and a.tokens[k].tag in ADJECTIVE_TAGS
                                            for k in a.children[i])


def _same_noun(a: Analysis, x: int, y: int) -> bool:
    """v2: True when the two adjectives describe the same noun word ("a green chair a red chair"):
    swapped, the two things are described as before."""
    hx, hy = described(a.tokens, x), described(a.tokens, y)
    return 0 <= hx < len(a.tokens) and 0 <= hy < len(a.tokens) and a.lowers[hx] == a.lowers[hy]


def _colour_onto_person(a: Analysis, x: int, cx: str | None, y: int) -> bool:
    """True when colour ``x`` would move onto the person noun ``y`` describes ("a white girl")."""
    return cx == "colour" and describes_person(a.tokens, a.lowers, y, a.is_person)


def _shared_word(a: Analysis, x: int, y: int) -> bool:
    """True when either adjective (or a synonym) already describes the other's phrase: the swap
    would double it or say the same ("a vintage red car ... a vintage plane")."""
    def phrase_words(i):
        c = a.chunk_of[i]
        return set(a.lowers[a.chunks[c].start:a.chunks[c].end]) if c >= 0 else {a.lowers[i]}

    vocab = a.vocabulary
    return bool(vocab.excluded_replacements(a.lowers[x]) & phrase_words(y)) or bool(
        vocab.excluded_replacements(a.lowers[y]) & phrase_words(x))


def _group(a: Analysis, i: int) -> tuple[str, int]:
    """The noun phrase a word modifies (a word outside any phrase is its own group)."""
    c = a.chunk_of[i]
    return ("chunk", c) if c >= 0 else ("word", i)


# ------------------------------------------------------------------------------------ NegCLIP
def _swap_random_pair(a: Analysis, spans: list[tuple[int, int]], rng: CaptionRandom) -> str | None:
    """Swap a random pair of non-overlapping spans whose words differ."""
    def key(span):
        return tuple(a.lowers[span[0]:span[1]])

    pairs = [(spans[i], spans[j]) for i, j in _pairs(len(spans))
             if spans[i][1] <= spans[j][0] and key(spans[i]) != key(spans[j])]
    if not pairs:
        return None
    x, y = rng.choice(pairs)
    return swap_spans(a.tokens, x, y)


def _chunk_span(c: Chunk) -> tuple[int, int]:
    return c.start, c.end


def negclip_np(a: Analysis, rng: CaptionRandom) -> str | None:
    return _swap_random_pair(a, [_chunk_span(c) for c in a.chunks], rng)


def verb_phrases(a: Analysis) -> list[tuple[int, int]]:
    """Verb + particles/adverbs + an optional preposition or relation + an optional noun phrase
    ("riding a horse", "sitting on a bench", "smiling")."""
    phrases: list[tuple[int, int]] = []
    n = len(a.tokens)
    for v in verb_candidates(a):
        if phrases and v < phrases[-1][1]:
            continue
        end = v + 1
        while end < n and a.tokens[end].tag in ("RP", "RB") and not a.in_relation[end]:
            end += 1
        relation = next((s for s in a.relations if s.start == end), None)
        if relation is not None:
            end = relation.end
        elif end < n and a.tokens[end].tag in ("IN", "TO"):
            end += 1
        if end < n and a.chunk_of[end] >= 0 and a.chunks[a.chunk_of[end]].start == end:
            end = a.chunks[a.chunk_of[end]].end
        elif relation is not None or (end > v + 1 and a.tokens[end - 1].tag in ("IN", "TO")):
            end = relation.start if relation is not None else end - 1  # no object: drop the preposition
        phrases.append((v, end))
    return phrases


def negclip_vp(a: Analysis, rng: CaptionRandom) -> str | None:
    return _swap_random_pair(a, verb_phrases(a), rng)


def _tagged(a: Analysis, tags: frozenset[str] | set[str]) -> list[tuple[int, int]]:
    return [(i, i + 1) for i, t in enumerate(a.tokens)
            if t.tag in tags and t.is_word and not a.in_relation[i]]


def negclip_nn(a: Analysis, rng: CaptionRandom) -> str | None:
    return _swap_random_pair(a, _tagged(a, {"NN"}), rng)


def negclip_nns(a: Analysis, rng: CaptionRandom) -> str | None:
    return _swap_random_pair(a, _tagged(a, {"NNS"}), rng)


def negclip_adj(a: Analysis, rng: CaptionRandom) -> str | None:
    return _swap_random_pair(a, _tagged(a, {"JJ"}), rng)


def negclip_adv(a: Analysis, rng: CaptionRandom) -> str | None:
    spans = [s for s in _tagged(a, ADVERB_TAGS) if a.lowers[s[0]] not in ("not", "n't", "never")]
    return _swap_random_pair(a, spans, rng)


SWAP_RULES: dict[str, Callable[[Analysis, CaptionRandom], str | None]] = {
    "relation": relation_swap,
    "adj_swap": adjective_swap,
    "negclip_np": negclip_np,
    "negclip_vp": negclip_vp,
    "negclip_nn": negclip_nn,
    "negclip_nns": negclip_nns,
    "negclip_adj": negclip_adj,
    "negclip_adv": negclip_adv,
}
