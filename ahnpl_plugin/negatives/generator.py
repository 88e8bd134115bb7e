"""Generate the hard negatives of many captions: tagging, rules, filling, processes.

Reproducibility: every random choice for a caption comes from a stream seeded by
(seed, type, caption text) (:mod:`randomness`), and captions are tagged in fixed batches of
:data:`BATCH_SIZE` consecutive distinct captions whatever the number of workers, so the output
depends only on the captions and the seed (not on ``workers``, nor on which other types were
asked for). Identical captions (after stripping outer whitespace) are processed once.
"""

from __future__ import annotations

import copy
import functools
import multiprocessing
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from ahnpl_plugin.negatives.analysis import Analysis, analyse, noun_category
from ahnpl_plugin.errors import NegativesError
from ahnpl_plugin.negatives import parsed
from ahnpl_plugin.contract import AHNPL_TYPES, INVALID, field_name, resolve_types
from ahnpl_plugin.negatives.kinds import DEFAULT_RULES, check_rules
from ahnpl_plugin.negatives.randomness import CaptionRandom, caption_key, draw
from ahnpl_plugin.negatives.plausibility import (
    TARGETS_TRIED,
    WORDS_PER_TARGET,
    BigramModel,
    check_margin,
    check_plausibility,
    chooser,
)
from ahnpl_plugin.negatives.replacements import (
    REPLACEMENT_TYPES,
    NAME_POOL,
    NAME_SWAPS,
    ROOM_POOL,
    Target,
    choose_target,
    counted_noun,
    fallback_tiers,
    fill_choices,
    indoor_object_in_room,
    realize,
    relation_opposite,
    replacement_targets,
    rooms_the_caption_furnishes,
    vocabulary_fill,
)
from ahnpl_plugin.negatives.swaps import (
    CONCRETE_SWAP_OBJECTS,
    EXTRA_SWAP_OBJECTS,
    LATE_SWAP_OBJECTS,
    SELECTABLE_SWAPS,
    SWAP_RULES,
    adjective_swap,
    check_swap_words,
    relation_swap,
    second_swap_allowed,
    swap_vocabulary,
)
from ahnpl_plugin.negatives.tokens import normalized, tokens_from_doc
from ahnpl_plugin.negatives.vocabulary import INTRANSITIVE_POOL, TRANSITIVE_POOL, Vocabulary

BATCH_SIZE = 256  # captions per tagging batch (fixed: part of what makes output reproducible)
_SURROGATE = re.compile("[\ud800-\udfff]")


def distinct_batches(texts: Sequence[str]) -> list[list[str]]:
    """The distinct texts, in first-seen order, cut into tagging batches of :data:`BATCH_SIZE`."""
    distinct = list(dict.fromkeys(texts))
    return [distinct[b:b + BATCH_SIZE] for b in range(0, len(distinct), BATCH_SIZE)]


def empty_result(types: Sequence[str]) -> dict:
    return {**{field_name(t): INVALID for t in types}, "valid_caption": [1] + [0] * len(types)}


class NegativeGenerator:
    """Holds a loaded tagger, vocabulary and optional masked LM; generates negatives in-process.

    ``generate_negatives`` builds one per process (one in each worker).
    """

    def __init__(self, types: Sequence[str] | str = AHNPL_TYPES, seed: int = 0, spacy_model: str | None = None,
                 fill_mask_model: str | None = None, vocabulary: Mapping[str, Sequence[str]] | None = None,
                 single_thread: bool = False, rules: str = DEFAULT_RULES, plausibility: str | None = None,
                 language_model: BigramModel | None = None, plausibility_margin: float | None = None,
                 swap_words: str | None = None):
        from ahnpl_plugin.negatives.tagger import load_tagger

        self.types = resolve_types(types)
        self.seed = int(seed)
        self.rules = check_rules(rules)
        self.parsed = self.rules != "v1"
        self.plausibility = check_plausibility(plausibility, self.rules)
        self.margin = check_margin(plausibility_margin, self.plausibility)
        self.swap_words = check_swap_words(swap_words, self.rules)
        self.language_model = language_model  # trained on the input captions (generate builds it)
        self.vocabulary = Vocabulary.load(vocabulary)
        self._swap_vocabulary: Vocabulary | None = None  # built on first use (_relation_swap)
        self._late_swap_vocabulary: Vocabulary | None = None
        self.nlp = load_tagger(spacy_model, parser=self.parsed)
        self.filler = None
        if fill_mask_model is not None:
            from ahnpl_plugin.negatives.fill_mask import MaskFiller

            self.filler = MaskFiller(fill_mask_model, self.vocabulary, single_thread=single_thread)

    def generate(self, captions: Sequence[str], progress: Callable[[int], None] | None = None) -> list[dict]:
        """One result per caption, in order (see :func:`generate_negatives`); ``progress`` is called
        with the number of distinct captions each finished batch held."""
        texts = [c.strip() for c in captions]
        batches = distinct_batches(texts)
        if self.plausibility == "ngram" and self.language_model is None:
            self.language_model = BigramModel(t for b in batches for t in b)
        results = _collect(batches, (self.process_batch(b) for b in batches), progress)
        return [results[t] for t in texts]

    def process_batch(self, texts: list[str]) -> list[dict]:
        """Results of distinct, stripped caption texts (one tagging batch)."""
        words = [_SURROGATE.sub("\ufffd", t) for t in texts if t]  # spaCy cannot encode lone surrogates
        longest = max((len(t) for t in words), default=0)
        if longest >= self.nlp.max_length:
            self.nlp.max_length = longest + 1
        if self.plausibility == "ngram" and self.language_model is None:
            raise NegativesError("plausibility selection needs the language model of all the input captions: "
                                 "call generate() or pass language_model")
        docs = iter(self.nlp.pipe(words, batch_size=max(1, len(words))))
        results: list[dict] = []
        pending: list[tuple[int, str, Analysis, Target, CaptionRandom]] = []
        for text in texts:
            result = empty_result(self.types)
            results.append(result)
            if not text:
                continue
            analysis = analyse(tokens_from_doc(next(docs), self.parsed), self.vocabulary, self.parsed)
            key = caption_key(self.seed, text)
            choose = self._chooser(text) if self.plausibility == "ngram" else None
            for k, negative_type in enumerate(self.types):
                rng = CaptionRandom(key, negative_type)
                if choose is not None and negative_type in REPLACEMENT_TYPES and self.filler is None:
                    _store(result, k, negative_type, self._best_replacement(analysis, negative_type, rng, choose),
                           text, True)
                    continue
                if choose is not None and negative_type in SELECTABLE_SWAPS:
                    _store(result, k, negative_type, self._swap_rule(negative_type)(analysis, rng, choose), text, True)
                    continue
                if negative_type in REPLACEMENT_TYPES:
                    target = choose_target(analysis, negative_type, rng)
                    if target is not None:
                        pending.append((len(results) - 1, negative_type, analysis, target, rng))
                    continue
                _store(result, k, negative_type, self._swap_rule(negative_type)(analysis, rng), text, self.parsed)
        self._fill(pending, results, texts)
        return results

    def _swap_rule(self, negative_type: str):
        """The swap rule of a type, with this generator's swap-words mode for ``relation`` and ``adj_swap``."""
        if negative_type == "relation":
            return self._relation_swap
        if negative_type == "adj_swap":
            return functools.partial(adjective_swap, words=self.swap_words)
        return SWAP_RULES[negative_type]

    def _relation_swap(self, analysis: Analysis, rng: CaptionRandom, choose=None) -> str | None:
        """The relation swap in this generator's swap-words mode; with ``known`` (v2), tries in turn,
        each only where those before give no candidate (every earlier negative stays as it was):
        1. the vocabulary's nouns;
        2. also :data:`swaps.EXTRA_SWAP_OBJECTS` (2.7);
        3. two phrases of different number, the verb made to agree ("Two ducks are floating in a
           pond" -> "A pond is floating in two ducks"; 2.8);
        4. also :data:`swaps.LATE_SWAP_OBJECTS` (2.11) and :data:`swaps.CONCRETE_SWAP_OBJECTS` (2.12),
           the phrase inside a picture's opening frame, and a container with what fills it (2.12),
           no bare singular phrase moved;
        5. the same with the verb made to agree, as in 3 (2.11).
        A plausibility margin's rejection is final (2.11): a later try runs only where the earlier
        ones had no candidate, so a margin only removes negatives."""
        unfloored = getattr(choose, "unfloored", choose)
        rejected = []

        def final(candidates: list[str]) -> str | None:
            best = choose(candidates)
            if best is None and unfloored is not choose and unfloored(candidates) is not None:
                rejected.append(True)
            return best

        negative = relation_swap(analysis, rng, choose and final, words=self.swap_words)
        if negative is not None or rejected or not (self.swap_words == "known" and self.parsed
                                                    and second_swap_allowed(analysis)):
            return negative
        if self._swap_vocabulary is None:
            self._swap_vocabulary = swap_vocabulary(self.vocabulary)
            self._late_swap_vocabulary = swap_vocabulary(self.vocabulary, {**EXTRA_SWAP_OBJECTS, **LATE_SWAP_OBJECTS,
                                                                          **CONCRETE_SWAP_OBJECTS})
        wider = copy.copy(analysis)
        for vocabulary, options in ((self._swap_vocabulary, {}), (self._swap_vocabulary, {"reagree": True}),
                                    (self._late_swap_vocabulary, {"late": True}),
                                    (self._late_swap_vocabulary, {"late": True, "reagree": True})):
            wider.vocabulary = vocabulary
            negative = relation_swap(wider, rng, choose and final, words="known", **options)
            if negative is not None or rejected:
                return negative
        return None

    def _chooser(self, caption: str):
        """Picks the most plausible candidate that passes the v2 output checks."""
        floor = None if self.margin is None else self.language_model.logprob(caption) - self.margin
        return chooser(self.language_model, lambda negative: _acceptable(negative, caption, strict=True), floor)

    def _best_replacement(self, analysis: Analysis, negative_type: str, rng: CaptionRandom, choose) -> str | None:
        """The most plausible of up to WORDS_PER_TARGET vocabulary words (drawn at random) at every
        target of the type; the type's fallback tiers, in turn, when these give none."""
        unfloored = getattr(choose, "unfloored", choose)

        def tiers():  # the fallback tiers are built only when the targets before them give nothing
            yield replacement_targets(analysis, negative_type)
            yield from fallback_tiers(analysis, negative_type)

        for targets in tiers():
            candidates = self._candidates(analysis, targets, rng) if targets else []
            best = choose(candidates)
            if best is not None or (unfloored is not choose and unfloored(candidates) is not None):
                return best  # a margin's rejection is final: it only removes negatives
        return None

    def _candidates(self, analysis: Analysis, targets: list[Target], rng: CaptionRandom) -> list[str]:
        candidates = []
        for target in draw(targets, TARGETS_TRIED, rng):
            words = fill_choices(target, self.vocabulary, self._avoid(analysis, target))
            if target.role == "relation":
                opposite = relation_opposite(target, self.vocabulary)
                if opposite is not None:
                    words = [opposite]  # a relation's own opposite, as without selection
            for word in draw_words(words, WORDS_PER_TARGET, rng):
                candidates.append(realize(analysis, target, word))
        return candidates

    @staticmethod
    def _avoid(analysis: Analysis, target: Target) -> frozenset[str]:
        """v2: no word of the caption itself, no vague count ("two" -> "several"), no synonym of
        :data:`parsed.EXTRA_SYNONYMS`, no uncountable noun after "a" ("a snow")."""
        avoid = set(analysis.lowers)
        if target.role == "noun" and analysis.parsed:  # 2.13 (round 86): "a man, women" -> "a woman, women"
            avoid |= {analysis.vocabulary.singular(w) for w in avoid}
        if target.pool == NAME_POOL:  # 2.11: no name or room the caption has ("a stop sign by a traffic light")
            words = avoid | {analysis.vocabulary.singular(w) for w in avoid}  # "two tacos" excludes "taco"
            avoid |= {name for name in NAME_SWAPS[target.base] if set(name.split()) & words}
            avoid |= rooms_the_caption_furnishes(analysis.lowers)
        if target.pool == "count":
            avoid |= parsed.VAGUE_COUNTS
        if target.role == "noun" and parsed.camera_could_be_meant(analysis.tokens, analysis.lowers, target.start):
            avoid |= parsed.VIEWER_NOUNS  # 2.14 (round 91): "stand in front of a television" -> "a camera": true
        guesses = parsed.base_guesses(target.original) | {target.base}
        avoid |= parsed.synonyms_of(guesses)
        if target.role == "noun" and analysis.parsed:  # round 18: "a busy street" -> "a busy water"
            k = target.start - 1
            while k >= 0 and analysis.tokens[k].tag in ("JJ", "JJR", "JJS", "RB", "VBN", "VBG", "NN", ","):
                k -= 1
            if k < 0 or analysis.lowers[k] in ("a", "an", "one", "each", "every", "another"):
                avoid |= analysis.vocabulary.uncountable
            if target.count_slot:  # 2.10: a countable noun's place (replacements.takes_count_noun)
                avoid |= analysis.vocabulary.uncountable
            elif target.tag == "NN" and not counted_noun(analysis, target.start):
                # round 19: a singular noun counted by nothing is a mass ("tall grass", "pieces of
                # fruit", "in uniform"): only a mass noun fits there ("tall tree", "in scarf" do not)
                avoid |= {w for w in analysis.vocabulary.words(target.pool) if w not in analysis.vocabulary.uncountable}
        if target.role == "noun" and target.start > 0 and analysis.lowers[target.start - 1] in ("a", "an"):
            avoid |= analysis.vocabulary.uncountable
        if target.role == "verb" and target.base in parsed.POSTURE_VERBS:
            subject = parsed.subject_of(analysis.tokens, target.start, analysis.children)
            vocab = analysis.vocabulary
            if subject is None or not ({vocab.category_of(analysis.lowers[subject], "noun"),
                                        vocab.category_of(vocab.singular(analysis.lowers[subject]), "noun")}
                                       & {"person", "animal"}):
                avoid |= parsed.POSTURE_VERBS  # "a cake sitting" -> "a cake standing" says the same
        vocab = analysis.vocabulary
        if target.role in ("verb", "noun", "adjective"):  # "ealking" -> "walking" fixes a typo
            avoid |= vocab.memoized(("typos", target.pool, target.base, target.original), lambda: frozenset(
                w for w in vocab.words(target.pool)
                if parsed.one_edit_apart(target.base, w) or parsed.one_edit_apart(target.original, w)))
        if target.role == "verb":  # "Skier ... going down" -> "skiing down": what a skier does anyway
            lowers = set(analysis.lowers)
            avoid |= {w for w, agents in vocab.memoized(("agents", target.pool), lambda: tuple(
                (w, frozenset({w + "er", w + "r", w + "ers", w + "rs", w[:-1] + "ier", w + w[-1] + "er"}))
                for w in vocab.words(target.pool))) if agents & lowers}
        if target.role == "verb" and target.pool == TRANSITIVE_POOL and parsed.path_after_object(analysis, target.start):
            avoid |= set(analysis.vocabulary.words(TRANSITIVE_POOL)) - parsed.PATH_TRANSITIVES  # "riding skis down"
        if target.role == "adjective":  # 2.2: the other side of its dimension, no near colour
            on_person = parsed.describes_person(analysis.tokens, analysis.lowers, target.start, analysis.is_person)
            if target.pool == "age" and parsed.describes_person(analysis.tokens, analysis.lowers, target.start,
                                                                lambda w: w in parsed.CHILD_PERSONS):
                avoid |= set(vocab.words("age"))  # 2.3: "young boy" -> "old boy" opposes nothing
            avoid |= parsed.adjective_misfits(target.original, target.pool, vocab.words(target.pool), on_person)
            noun = analysis.tokens[target.start].head
            kind = noun_category(analysis, noun) if 0 <= noun < len(analysis.tokens) else None
            if target.original == "empty" and kind != "place":  # 2.11 (round 78): "empty glasses" are not "busy"
                avoid |= {"crowded", "busy", "quiet"}
            if target.pool == "age" and (kind == "animal" or (0 <= noun < len(analysis.tokens) and analysis.lowers[noun]
                                                               in parsed.YOUNG_ANIMALS)):  # round 78: "old pups", never "modern"
                avoid |= set(vocab.words("age")) - {"young", "old"}
        if target.role == "verb":  # 2.2: no verb that fits almost any scene ("holding" -> "using")
            avoid |= {w for w in vocab.words(target.pool) if w in parsed.GENERIC_VERBS}
            if target.base in ("ride", "drive"):
                avoid |= {"sit", "stand"}  # a rider sits
        if target.role == "noun" and target.pool == "person":  # 2.2: a role stays a role ("batter" -> not "man")
            role = target.base in parsed.PERSON_ROLES
            avoid |= {w for w in vocab.words("person") if (w in parsed.PERSON_ROLES) != role}
            for same_gender in (parsed.MALE_PERSONS, parsed.FEMALE_PERSONS):
                if target.base in same_gender:  # 2.3: "woman" -> "girl", "young man" -> "young boy" may be true:
                    avoid |= same_gender | parsed.UNGENDERED_PERSONS  # a man becomes a woman, lady or girl
            if target.base in parsed.UNGENDERED_PERSONS - {"person"}:  # "girl" -> "toddler": a child may be both
                avoid |= parsed.UNGENDERED_PERSONS | {"boy", "girl"}
            later = set(analysis.lowers[target.end:])  # a pronoun after it refers to it: keep its gender
            if later & parsed.MALE_PRONOUNS:
                avoid |= parsed.FEMALE_PERSONS
            if later & parsed.FEMALE_PRONOUNS:
                avoid |= parsed.MALE_PERSONS
        if target.role == "verb" and target.base in parsed.PERSON_POSTURES | parsed.COMBINABLE_ACTIVITIES:
            avoid |= parsed.PERSON_POSTURES | parsed.COMBINABLE_ACTIVITIES  # 2.2: "sitting" -> not "talking"
            if target.base not in parsed.PERSON_POSTURES:
                avoid |= parsed.WALKING_VERBS  # round 15: animals "grazing" or people "talking" may walk
            elif set(analysis.lowers[:target.start]) & parsed.COLLECTIVE_NOUNS:
                avoid |= parsed.LOCOMOTION_VERBS  # round 15: some of a crowd "standing" may be walking
        elif target.role == "verb":  # 2.2 (round 14): one smiles or talks while doing anything; a surfer stands
            avoid |= parsed.COMBINABLE_ACTIVITIES
            if target.base not in parsed.LOCOMOTION_VERBS or target.pool != INTRANSITIVE_POOL:
                avoid |= parsed.PERSON_POSTURES | parsed.POSTURE_VERBS | parsed.WALKING_VERBS
            elif set(analysis.lowers[:target.start]) & parsed.COLLECTIVE_NOUNS:
                avoid |= parsed.PERSON_POSTURES  # round 17: some of a crowd "walking" may stand
            if target.base == "play":  # round 15: a dog "playing" with a toy may be running or jumping
                avoid |= parsed.LOCOMOTION_VERBS | {"jump", "leap", "swim", "chase", "climb"}
        if target.role == "verb" and target.base in parsed.POSTURE_VERBS | {"relax", "set"}:
            subject = parsed.subject_of(analysis.tokens, target.start, analysis.children)
            if subject is not None and "animal" in {vocab.category_of(analysis.lowers[subject], "noun"),
                                                    vocab.category_of(vocab.singular(analysis.lowers[subject]), "noun")}:
                avoid |= parsed.POSTURE_VERBS  # 2.2: a bird or a sheep "sitting" or "standing" is one posture
        if target.role == "verb":  # 2.4 (round 27): acts that overlap ("holding" -> "touching", "using" ->
            stems = parsed.verb_stems(target.base)  # "wiping" is no vocabulary verb: its base stays "wiping"
            for group in parsed.OVERLAPPING_ACTS:  # "carrying", "wiping" -> "brushing", "stepping" -> "jumping")
                if stems & group:
                    avoid |= group
            if set(analysis.lowers) & parsed.BALL_GAME_WORDS:
                for group in parsed.BALL_GAME_ACTS:  # 2.9: "plays frisbee" -> not "throws"
                    if stems & group:
                        avoid |= group
            if stems & parsed.GENERIC_MOTION:
                avoid |= parsed.MOTION_VERBS  # 2.9: "going up a hill" -> not "climbing"
            if target.base in ("sit", "ride", "stand", "perch", "rest"):
                avoid |= {"climb"}  # "sitting on top of a tree" -> "climbing on top": how one got there
            if target.base == "ride":
                avoid |= parsed.RIDER_ACTS  # round 28: "riding horses" -> "touching", "on surfboards" -> "swimming"
            avoid |= {parsed.GEAR_ACTS[w] for w in analysis.lowers if w in parsed.GEAR_ACTS}  # "with skis" -> "skiing"
            if "surf" in avoid:
                avoid |= {"cut", "carve"}  # round 49: a surfer "cuts" a wave: surfs it
            if set(analysis.lowers) & {"wave", "waves"} and stems & {"ride", "surf", "catch", "hit"}:
                avoid |= {"ride", "surf", "catch", "hit", "carve", "cut"}  # round 61: a surfer "hitting" a wave rides it
            if avoid & parsed.SNOW_SPORTS or set(analysis.lowers) & parsed.SNOW_SCENE_WORDS:
                avoid |= parsed.SNOW_SPORTS  # 2.9 (round 46): "skiers going down" -> not "snowboarding"
        if target.role == "verb" and target.pool == INTRANSITIVE_POOL:
            subject = parsed.subject_of(analysis.tokens, target.start, analysis.children)
            if subject is not None and vocab.category_of(vocab.singular(analysis.lowers[subject]), "noun") == "vehicle":
                avoid |= {"run"}  # 2.5 (round 34): "a bus waiting" -> "running": its engine may be
        if target.role == "verb" and set(analysis.lowers) & parsed.SCREEN_WORDS:
            avoid |= {"surf"}  # round 17: "sitting at a desk with a laptop" -> "surfing": the web
        if target.pool == ROOM_POOL:
            avoid |= rooms_the_caption_furnishes(analysis.lowers)  # review: "A bedroom with a toilet"
        if target.role == "noun":  # 2.3 (round 17's readers): no object of the same scene or kind
            for group in parsed.SCENE_GROUPS:
                if target.base in group:
                    avoid |= group
            others = [w for k, w in enumerate(analysis.lowers) if not target.start <= k < target.end]
            if indoor_object_in_room(analysis, target):
                avoid |= set(vocab.words(target.pool))  # 2.4 (rounds 20-21): furniture in a room, dishes on a table
            avoid |= parsed.AMBIGUOUS_NOUNS | parsed.GENERIC_PERSONS  # 2.4: "towels" -> "lights"; "skateboarders" -> "players"
            if target.pool == "person" and set(others) & parsed.FAMILY_WORDS:
                avoid |= set(vocab.words("person"))  # 2.5 (round 32): "moms and kids" -> "moms and women"
            if target.pool == "clothing":
                avoid |= parsed.WORN_BY_ANYONE  # 2.5 (round 32): "a helmet and goggles" -> "a shirt"
            if target.base in parsed.DISHES:
                avoid |= parsed.INGREDIENTS  # 2.4: "the pizza" -> "the meat": on the pizza
            elif target.base in parsed.INGREDIENTS and set(map(vocab.singular, others)) & parsed.DISHES:
                avoid |= parsed.DISHES | parsed.INGREDIENTS
        if target.role == "verb" and target.pool == INTRANSITIVE_POOL:  # "flies through" -> not "stands through"
            preposition = parsed.preposition_after(analysis.tokens, analysis.lowers, target.start)
            avoid |= parsed.frame_misfits(preposition, analysis.vocabulary.words(INTRANSITIVE_POOL), target.original)
        return frozenset(avoid)

    def _fill(self, pending, results: list[dict], texts: list[str]) -> None:
        """Fill the replacement targets (the masked LM sees all of a batch at once)."""
        by_model = [n for n, p in enumerate(pending) if self.filler is not None and p[3].role != "relation"]
        model_words = {}
        if by_model:
            filled = self.filler.fill([(pending[n][2], pending[n][3]) for n in by_model])
            model_words = dict(zip(by_model, filled))
        for n, (row, negative_type, analysis, target, rng) in enumerate(pending):
            if n in model_words:
                word, inflected = model_words[n], True
            else:
                avoid = self._avoid(analysis, target) if self.parsed else frozenset()
                word, inflected = vocabulary_fill(target, self.vocabulary, rng, avoid=avoid), False
            negative = realize(analysis, target, word, inflected=inflected) if word is not None else None
            _store(results[row], self.types.index(negative_type), negative_type, negative, texts[row], self.parsed)


def draw_words(words: list[str], k: int, rng: CaptionRandom) -> list[str]:
    """Up to ``k`` distinct words drawn at random, in drawing order (a random order even when
    there are fewer: ties in plausibility go to the first drawn)."""
    words = list(words)
    return [words.pop(rng.next64() % len(words)) for _ in range(min(k, len(words)))]


def _acceptable(negative: str, caption: str, strict: bool) -> bool:
    """Not the same as the caption (and, ``strict`` (v2), no new doubled word, quotes unchanged)."""
    if normalized(negative) == normalized(caption):
        return False
    return not strict or (not parsed.new_doubled_word(caption, negative) and parsed.keeps_fixed_text(caption, negative)
                          and not parsed.new_stranded_determiner(caption, negative))


def _store(result: dict, k: int, negative_type: str, negative: str | None, caption: str, strict: bool = False) -> None:
    """Record a negative unless it is missing or not acceptable (see :func:`_acceptable`)."""
    if negative is None or not _acceptable(negative, caption, strict):
        return
    result[field_name(negative_type)] = negative
    result["valid_caption"][k + 1] = 1


# ------------------------------------------------------------------------------ worker processes
_worker: NegativeGenerator | None = None
_worker_error: BaseException | None = None


def _init_worker(kwargs: dict) -> None:
    # An exception escaping the initializer would only show as a broken pool; keep it and raise
    # it from the first batch instead, so the caller sees the real error.
    global _worker, _worker_error
    try:
        _worker = NegativeGenerator(**kwargs, single_thread=True)
    except BaseException as err:  # noqa: BLE001 - re-raised in _run_batch
        _worker_error = err


def _run_batch(texts: list[str]) -> list[dict]:
    if _worker_error is not None:
        raise _worker_error
    return _worker.process_batch(texts)


def generate_negatives(captions: Sequence[str], types: Sequence[str] | str = AHNPL_TYPES, seed: int = 0,
                       spacy_model: str | None = None, workers: int = 1, fill_mask_model: str | None = None,
                       progress: bool = False, vocabulary: Mapping[str, Sequence[str]] | None = None,
                       rules: str = DEFAULT_RULES, plausibility: str | None = None,
                       plausibility_margin: float | None = None, swap_words: str | None = None) -> list[dict]:
    """Hard negatives of ``captions``: one dict per caption, in order,
    ``{f"{t}_aug_caption": str for t in types, "valid_caption": [1] + [0/1 per type]}``.

    Invalid negatives are ``"###"`` with 0 in the mask. ``types`` are names from ``AHNPL_TYPES``
    / ``NEGCLIP_TYPES`` (or the groups "ahnpl", "negclip", "all"), kept in the order given.
    ``vocabulary`` overrides shipped category lists (see :mod:`ahnpl_plugin.negatives.vocabulary`).
    ``workers`` > 1 tags in that many processes; the result is the same for any ``workers``.
    ``progress`` shows a tqdm bar on stderr. ``rules``: ``"v2"`` (default; tagger + dependency
    parse, precision filters of :mod:`parsed`) or ``"v1"`` (tagger only: generator 1.0's output,
    byte for byte, the recipe of the published results). ``plausibility``: ``"ngram"`` (default
    with v2) keeps the candidate a bigram model of all the input captions finds most plausible
    (:mod:`plausibility`; a caption's negatives then depend on the whole input, still not on
    ``workers``), ``"off"`` a random one (default with v1). ``plausibility_margin`` (with ngram)
    drops a negative less plausible than its caption by more than that (mean log-probability per word).
    ``swap_words``: ``"known"`` (default with v2): relation swaps move only phrases whose head noun
    is a vocabulary noun, adj_swaps only vocabulary adjectives (:data:`swaps.SWAP_WORDS`: higher
    precision, fewer swap negatives); ``"any"`` any word the v2 rules accept (generator 2.1; default
    with v1).
    """
    captions = _check_captions(captions)
    types = resolve_types(types)
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    if vocabulary is not None:
        Vocabulary.load(vocabulary)  # bad overrides fail here, in the caller's process
    check_rules(rules)
    plausibility = check_plausibility(plausibility, rules)
    kwargs = dict(types=types, seed=seed, spacy_model=spacy_model, fill_mask_model=fill_mask_model,
                  vocabulary=dict(vocabulary) if vocabulary is not None else None, rules=rules,
                  plausibility=plausibility, plausibility_margin=check_margin(plausibility_margin, plausibility),
                  swap_words=check_swap_words(swap_words, rules))
    texts = [c.strip() for c in captions]
    batches = distinct_batches(texts)
    total = sum(len(b) for b in batches)
    # Load the tagger (and vocabulary, masked LM) before anything else: a missing model fails here
    # with one clear error, not after a progress bar started nor once per worker.
    if workers == 1 or len(batches) <= 1:
        local = NegativeGenerator(**kwargs)
        with _progress_bar(total, progress) as bar:
            return local.generate(texts, progress=bar.update)
    from ahnpl_plugin.negatives.tagger import load_tagger

    load_tagger(spacy_model, parser=rules != "v1")
    if plausibility == "ngram":  # one model of all the captions, the same in every worker
        kwargs["language_model"] = BigramModel(t for b in batches for t in b)
    # ProcessPoolExecutor, not multiprocessing.Pool: a worker that dies (e.g. a spawned one
    # re-running an unguarded script) raises BrokenProcessPool instead of hanging forever.
    with ProcessPoolExecutor(min(workers, len(batches)), mp_context=_worker_context(fill_mask_model),
                             initializer=_init_worker, initargs=(kwargs,)) as pool:
        with _progress_bar(total, progress) as bar:
            try:
                results = _collect(batches, pool.map(_run_batch, batches), bar.update)
            except BrokenProcessPool as err:
                raise NegativesError(
                    "a negatives worker process died; when calling generate_negatives(workers>1) from a "
                    "script, put the call under `if __name__ == '__main__':`") from err
    return [results[t] for t in texts]


RULES_METHOD = {
    "v1": "paper-faithful: tagger-only rules of generator 1.0",
    "v2": "improved negatives (not the paper's): tagger + dependency parse, precision filters",
}


def negatives_header(types: Sequence[str] | str = AHNPL_TYPES, seed: int = 0, spacy_model: str | None = None,
                     fill_mask_model: str | None = None, vocabulary: Mapping[str, Sequence[str]] | None = None,
                     rules: str = DEFAULT_RULES, plausibility: str | None = None,
                     plausibility_margin: float | None = None, swap_words: str | None = None) -> dict:
    """What made a set of negatives, for the header line of the file they are written to: generator
    version, rules (and whether they are the paper's), plausibility selection, types, seed, spaCy
    model (name, version, pipes, sha256 of the weights), masked LM, vocabulary overrides (sha256 of
    their JSON)."""
    import hashlib
    import json

    from ahnpl_plugin.negatives import __version__
    from ahnpl_plugin.negatives.tagger import load_tagger, model_identity

    rules = check_rules(rules)
    plausibility = check_plausibility(plausibility, rules)
    margin = check_margin(plausibility_margin, plausibility)
    swap_words = check_swap_words(swap_words, rules)
    overrides = None
    if vocabulary is not None:
        overrides = hashlib.sha256(json.dumps(dict(vocabulary), sort_keys=True, default=list).encode()).hexdigest()
    return {"generator": "ahnpl_plugin.negatives", "version": __version__, "rules": rules,
            "method": RULES_METHOD[rules], "plausibility": plausibility, "plausibility_margin": margin,
            "swap_words": swap_words,
            "types": list(resolve_types(types)), "seed": int(seed),
            "spacy_model": model_identity(load_tagger(spacy_model, parser=rules != "v1")),
            "fill_mask_model": fill_mask_model, "vocabulary_overrides_sha256": overrides}


def _collect(batches, done, progress: Callable[[int], None] | None) -> dict[str, dict]:
    """text -> result over all batches, calling ``progress`` after each batch."""
    results: dict[str, dict] = {}
    for batch, batch_results in zip(batches, done):
        results.update(zip(batch, batch_results))
        if progress is not None:
            progress(len(batch))
    return results


def _worker_context(fill_mask_model: str | None):
    """``fork`` when it is safe and cheap: the workers inherit the tagger this process loaded
    (no re-import, no re-load: ~1.5 s of CPU each). ``spawn`` when torch is loaded here or will be
    used by the workers (forking a process with torch's thread pools can hang the children)."""
    if fill_mask_model is None and "torch" not in sys.modules and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _progress_bar(total: int, enabled: bool):
    """A tqdm bar on stderr, or a do-nothing stand-in."""
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="caption", desc="negatives", dynamic_ncols=True)


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def _check_captions(captions) -> list[str]:
    if isinstance(captions, str):
        raise TypeError("captions must be a list of strings, not one string")
    captions = list(captions)
    for i, caption in enumerate(captions):
        if not isinstance(caption, str):
            raise TypeError(f"captions[{i}] is {type(caption).__name__}, not str: {caption!r}")
    return captions
