"""Rules v2.1 (issue 17, second pass): the failure kinds the reading rounds 3 to 6 found, each on
a real COCO caption (SugarCrepe's positives) with the output read and accepted by hand (seed 0,
no plausibility selection); "###" where no acceptable negative of the type is left. The comment
says what v2.0 wrote."""

from __future__ import annotations

import pytest

from ahnpl_plugin.negatives import INVALID, field_name, generate_negatives
from ahnpl_plugin.negatives.parsed import (
    base_guesses,
    cuts_phrase,
    doubled_words,
    fixed_phrase_spans,
    frame_misfits,
    names_a_food,
    needs_plural_place,
    one_edit_apart,
    only_copula,
)

EXPECTED: dict[str, dict[str, str]] = {
    # idioms and compounds are never split
    # v2.0 relation: "A cut with a white plate in half sandwich on top of it."; adj_swap "A half plate with a cut in white sandwich"
    "A white plate with a cut in half sandwich on top of it.": {"relation": INVALID, "adj_swap": INVALID},
    # v2.0: "Bat wearing red and white is up to a male baseball player."
    "A male baseball player wearing red and white is up to bat.": {"relation": INVALID},
    # v2.0: "A plate of stir white rice on fry vegetables."
    "A plate of stir fry vegetables on white rice.": {"relation": INVALID},
    # v2.0: "A man is the snow skiing in cross country."
    "A man is cross country skiing in the snow.": {"relation": "The snow is cross country skiing in a man."},
    # colour words that name the fruit; compound nouns with an adjective-like first word
    # v2.0: "The lunchbox has an orange sandwich, strawberry yogurt and cold juice."
    "The lunchbox has a cold sandwich, strawberry yogurt and orange juice.": {"adj_swap": INVALID},
    # v2.0: "An orange bowl filled with metal slices on a table."
    "A metal bowl filled with orange slices on a table.": {
        "adj_swap": INVALID, "adj": "A rubber bowl filled with orange slices on a table."},
    # v2.0: "A table topped with a white phone next to a smart bag."
    "A table topped with a smart phone next to a white bag.": {"adj_swap": INVALID},
    # v2.0: "A banana resting on a wooden towel atop a paper table."
    "A banana resting on a paper towel atop a wooden table.": {"adj_swap": INVALID},
    # two things of the same name: swapping their colours says the same (v2.0: "a red chair a green chair")
    "a black couch a green chair a red chair a mirror and a ceiling fan": {
        "adj_swap": "a red couch a green chair a black chair a mirror and a ceiling fan"},
    # ... but one and two of them differ
    "A little elephant is being followed by two big elephants": {
        "adj_swap": "A big elephant is being followed by two little elephants"},
    # agreement through "that has"/"that are" (v2.0: "Three monitors that has a computer desk ...",
    # "Fake grass that are sitting on a group of stuffed bears.")
    "A computer desk that has three monitors on top of it.": {"relation": INVALID},
    "a table that has some bananas on it": {"relation": INVALID},
    "A group of stuffed bears that are sitting on fake grass.": {"relation": INVALID},
    # no swap across "while" or around "each other" (v2.0: "... next to a cop watches while rental signs.",
    # "A city scape passing by each other in two large ferries,")
    "Beach goers set up umbrellas next to rental signs while a cop watches.": {
        "relation": "Umbrellas set up beach goers next to rental signs while a cop watches."},
    "Two large ferries passing by each other in a city scape,": {"relation": INVALID},
    # noun + participle + bare noun is one object (v2.0: "Street lined a building with ...")
    "A building lined street with three lanes and light traffic.": {"relation": INVALID, "verb": INVALID},
    # capitals: a first word the tagger calls a name (v2.0: "green bananas carrying Person ...");
    # all caps (v2.0 had "a LITTLE GIRL" after a swap and "AN" before LITTLE-like words)
    "Person carrying green bananas on their shoulder and a market.": {
        "relation": "Green bananas carrying person on their shoulder and a market."},
    "A LITTLE GIRL SITTING IN A LARGE FIELD": {
        "relation": "A LARGE FIELD SITTING IN A LITTLE GIRL", "adj_swap": "A LARGE GIRL SITTING IN A LITTLE FIELD"},
    # verb frames: the replacement takes the preposition after it (v2.0: "a plane stands through the air",
    # "kneeling down waiting to a young child", "resting intently at the camera")
    "a plane flies through the air with fumes coming out the back": {
        "verb": "a plane climbs through the air with fumes coming out the back"},  # 2.5: no "running", flying ~ surfing
    "a baseball player kneeling down talking to a young child": {"verb": INVALID},
    "A black cat looking intently at the camera": {"verb": INVALID},
    # participles with their own preposition (v2.0: "are prepared to a wooden pole", "painted out of wood")
    "The street signs for Gladys and Detroit streets are attached to a wooden pole.": {"verb": INVALID},
    "A teddy bear that appears to be made out of wood.": {"verb": INVALID},
    # idiom objects, bare verbs after "help", nouns read as verbs (v2.0: "drinks its way",
    # "helping a child painted on skis", "with standing on it")
    "A double decker bus makes its way past a tall clock tower.": {"verb": INVALID},
    "A woman is helping a child put on skis.": {"verb": INVALID},
    "A patty, with frosting on it, in the middle.": {  # 2.5: "on it" is inverted
        "verb": "A patty, with frosting under it, in the middle."},
    # near-synonyms, typos, what the subject does anyway (v2.0: "looking for" -> "waiting for";
    # elsewhere "ealking" -> "walking", "Skier ... skiing down")
    "Yellow shirted tennis player looking for incoming ball": {"verb": INVALID},
    "A baseball players is ealking toward the opposing team.": {  # 2.5: "A baseball players" stays unedited
        "verb": INVALID},
    "Skier with a red jacket on going down the side of a mountain.": {
        "verb": "Skier with a red jacket on surfing down the side of a mountain."},  # 2.5: going ~ jumping; 2.9: ~ moving
    # "smiling at the camera" implies looking at it (2.1 made "laughing at"; 2.2: smiling and laughing
    # go together, no negative)
    "A middle aged man dressed in a blue suit smiling at the camera.": {
        "verb": INVALID},
    # --- found by the fresh reading of round 5 (quality/negatives_audit/round5_fresh.tsv) ---
    # a singular after "lots of", "between"; things before "who"; subjects of "each other"
    "LOTS OF BROKEN TOILETS SITTING OUT ON A LAWN": {"relation": INVALID},  # v2.1a: "LOTS OF A LAWN"
    "Several people who are sitting on some benches.": {"relation": INVALID},  # "Some benches who"
    "Some kids standing up playing wii with each other": {"relation": INVALID},  # "Wii ... with each other"
    "A person stands between two dogs on a beach, one of them holding a frisbee.": {
        "relation": INVALID},  # "stands between a frisbee"
    # compounds and idioms: "watering can", "number 41", "desert setting", "in hand", "roman numerals",
    # "odd looking", "little league", "remote controls", "on both sides", "all over"
    "A purple flower is in a watering can on the window sill.": {
        "relation": "The window sill is in a watering can on a purple flower."},
    "theres a number 41 bus with a green stripe on it": {  # 2.5: "on it" is inverted
        "relation": INVALID, "verb": "theres a number 41 bus with a green stripe under it"},
    "a man and a large herd of goats in a desert setting.": {"relation": INVALID},
    "A group of people standing with remotes in hand.": {
        "relation": "Remotes standing with a group of people in hand."},
    "A white faced clock with roman numerals surrounded by a painting.": {"adj_swap": INVALID},
    "a brown teddy bear sitting on an odd looking chair": {"adj_swap": INVALID},
    "A little league baseball team in orange uniforms posing for a group picture.": {"adj_swap": INVALID},
    "Two small children holding remote controls while sitting on a floor.": {"adj_swap": INVALID},
    "The large room has wooden counters with chairs behind them on both sides.": {"verb": INVALID},
    "A young woman with green eyes and piercings all over her face.": {"verb": INVALID},
    # swaps that describe the same scene: a time for a place, a copula, two places of one thing
    "Children are playing near a beach at sunset.": {"relation": INVALID},
    "The bathroom is a mess with sports gear.": {"relation": "The bathroom is sports gear with a mess."},
    "A man is on his surfboard in the water.": {"relation": "His surfboard is on a man in the water."},
    # verbs: a path after the object takes a verb that moves it; participles and "including" stay
    "A woman riding skis down a snow covered slope.": {
        "verb": "A woman carrying skis down a snow covered slope."},  # v2.1a: "drinking skis down"
    "A table with many different objects, including a plate of sandwiches.": {"verb": INVALID},
    "A goat stands on its high legs and leans against a grassy bank.": {
        "verb": "A goat skateboards on its high legs and leans against a grassy bank."},  # not "rests"
    # --- found by the fresh reading of round 6 (quality/negatives_audit/round6_fresh.tsv) ---
    # "on top of a chair in the living room": the two places swapped describe the same scene
    "a cat laying on top of a chair in the living room": {
        "relation": "a chair laying on top of a cat in the living room"},
    # agreement: "A train watch" (a plural the tagger read as a base form), "A display of fruits sit"
    "A woman and a small child watch a train as it passes.": {"relation": INVALID},
    "A man and young girl sit behind a display of fruits.": {"relation": INVALID},
    # a clause without "that" stays with its noun; "himself" with its subject; a verb the parse
    # took for a noun modifier stays with its object; an unknown capitalised first word stays first
    "A woman smiles from behind the book she has been reading.": {"relation": INVALID},
    "A girl is onstage singing while the guest on the bike enjoys himself.": {"relation": INVALID},
    "A cat drinking water from a bathroom faucet.": {
        "relation": "A bathroom faucet drinking water from a cat."},  # v2.1b: "A cat a bathroom faucet from drinking water."
    "Lettuce and tomatoes on a slice of pita bread.": {"relation": INVALID},
    # compounds and idioms: "teddy bears", "playing catch", "focus on", "curly haired", "wrapping paper"
    "Three teddy bears laying in bed under the covers.": {
        "relation": "Three teddy bears laying in the covers under bed."},  # v2.1b: "Bed bears ... three teddy"
    "A man is playing catch with two children and a dog.": {"relation": INVALID},
    "A sidewalk scene with focus on a red bench.": {"verb": INVALID},
    "A brown curly haired dog chasing after a red frisbee": {"adj_swap": INVALID},
    "A pair of scissors, tape, and wrapping paper lie on a wooden surface.": {"adj_swap": INVALID},
    # verbs: "holding onto" is one verb; holding -> carrying says about the same; "includes" is no action
    "a woman holding onto a piece of pizza with her mouth": {"verb": INVALID},
    "A man in a florescent green hoodie holding a fuchsia umbrella.": {
        "verb": "A man in a florescent green hoodie sniffing a fuchsia umbrella."},  # 2.9: holding ~ catching; 2.10 ~ pulling
    "Plate of food that includes chicken, beans and a pickle.": {"verb": INVALID},
    # --- round 7: a phrase the parse cut short keeps its words ("three yellow | bananas") ---
    "three yellow  bananas sitting inside of a basket": {"relation": INVALID},  # v2.1 at 6a83205: "three yellow  a basket"
}


# Generator 2.2 (swap_words="known", the v2 default): relation swaps move only phrases whose
# head noun is a vocabulary object. Round 7's relation failures (quality/negatives_audit/
# round7_fresh.tsv) that this removes, or turns into a negative read and accepted:
KNOWN_OBJECTS_EXPECTED = {
    "Two bears in the water with their mouths open growling at each other.": INVALID,  # 2.1: "in their mouths with the water open"
    "someone that has some skiies on in the snow": INVALID,  # 2.1: "has the snow on in some skiies"
    "Scene of sinks in the process of being completed": INVALID,  # 2.1: "The process in scene of sinks"
    "A pizza with a slice missing is sitting on a pizza stand.": INVALID,  # 2.1: "A slice missing with a pizza"
    "A green fruit tree yields fruit not yet ready for harvest.": INVALID,  # 2.1: "Harvest not yet ready for a green ..."
    "Aerial view of an airplane ascending in to the sky.": INVALID,  # 2.1: "The sky in to aerial view"
    "The opened  laptop is sitting on the table along with other technological tools.": INVALID,
    "A man surfing rocking waves in the water.": "The water surfing rocking waves in a man.",  # 2.1: "Waves surfing rocking a man"
    "The man kisses the girl on the head as she laughs.": INVALID,  # 2.3: kissing is mutual enough to stay true
    # 2.1: "Lettuce topped with dicked up a white plate"; 2.4: "topped with dicked up lettuce" would stay behind
    "A white plate topped with dicked up lettuce next to carrots.": INVALID,
}


# adj_swaps of words outside the vocabulary's adjective categories that round 9 (COCO Karpathy test
# captions; quality/negatives_audit/round9_karpathy_adj_swap.tsv) read as wrong: generator 2.2
# makes none of them (compounds, multiword modifiers, predicates of the same noun, near synonyms).
KNOWN_ADJECTIVES_REFUSE = [
    "A knife, dental floss, a mini remote controller, and some thread.",  # 2.1: "mini floss, a dental remote"
    "A modern style wooden kitchen with multi layered counters.",  # "multi | layered"
    "A young man stands in his tie and low hanging pants.",  # "low | hanging"
    "Man on snow skis in a heavy snow with high drifts",  # "high snow ... heavy drifts": the same scene
    "The clear pool stood empty as people stood around nearby.",  # both words describe the pool
    "Mini pizzas on shelves waiting to be bake.",
    "Giraffes need their long necks to get to the tender leaves up high.",  # "up high"
    "An injured man in bad condition lays on a medical table",
    "a stainless steel oven in a white tiled kitchen",  # "stainless | steel"
    "a man in yellow surfing on the strong waves",  # "in yellow": clothing
    "A formal living room is appropriate for an old-fashioned house.",
    "A man in ski gear on snowy slope with trees in the background.",  # "ski gear"
    "a small kid with a nerf bat in his hand",
    "A computer mouse, used as a key chain, sits upon a white surface.",  # "key chain"
    "A mini fridge with a small microwave is in this dorm room.",  # mini / small: synonyms
    "The black cat is alert, lying in front of the bathroom sink.",  # both words describe the cat
    "A woman in high heeled shoes on a yellow skateboard.",  # "high | heeled"
]


def test_adjective_swaps_of_known_adjectives_on_round_9_failures():
    known = generate_negatives(KNOWN_ADJECTIVES_REFUSE, types=["adj_swap"], seed=0, plausibility="off")
    assert [r["adj_swap_aug_caption"] for r in known] == [INVALID] * len(KNOWN_ADJECTIVES_REFUSE)
    anything = generate_negatives(KNOWN_ADJECTIVES_REFUSE, types=["adj_swap"], seed=0, plausibility="off",
                                  swap_words="any")
    # 2.1 made (wrong) negatives of them all; since 2.13 "stainless steel" is a name for any swap words
    assert [c for c, r in zip(KNOWN_ADJECTIVES_REFUSE, anything) if r["adj_swap_aug_caption"] == INVALID] == [
        "a stainless steel oven in a white tiled kitchen"]
    # two adjectives of the vocabulary on different objects are still swapped
    assert generate_negatives(["A red chair in a room next to a blue table."], types=["adj_swap"], seed=0,
                              plausibility="off")[0]["adj_swap_aug_caption"] == "A blue chair in a room next to a red table."
    # 2.3: attributes of two kinds may both hold ("a white tub ... a large window"): not swapped
    assert generate_negatives(["A white tub next to a large window."], types=["adj_swap"], seed=0,
                              plausibility="off")[0]["adj_swap_aug_caption"] == INVALID
    # 2.13: a colour and a material exclude each other's thing (rounds 9-10 and 82 read them as false)
    assert generate_negatives(["A red chair in a room next to a wooden table."], types=["adj_swap"], seed=0,
                              plausibility="off")[0]["adj_swap_aug_caption"] == "A wooden chair in a room next to a red table."


@pytest.fixture(scope="module")
def results():
    captions = list(EXPECTED)  # generator 2.1's rules: any phrase may move
    return dict(zip(captions, generate_negatives(captions, seed=0, plausibility="off", swap_words="any")))


@pytest.mark.parametrize("caption", list(EXPECTED))
def test_v2_1_rules_on_real_captions(caption, results):
    got = {t: results[caption][field_name(t)] for t in EXPECTED[caption]}
    assert got == EXPECTED[caption]


def test_relation_swaps_of_known_objects_on_round_7_failures():
    captions = list(KNOWN_OBJECTS_EXPECTED)
    known = generate_negatives(captions, types=["relation"], seed=0, plausibility="off")  # the v2 default
    assert {c: r["relation_aug_caption"] for c, r in zip(captions, known)} == KNOWN_OBJECTS_EXPECTED
    anything = generate_negatives(captions, types=["relation"], seed=0, plausibility="off", swap_words="any")
    assert all(r["relation_aug_caption"] != INVALID for r in anything)  # 2.1 made negatives of them all


def test_known_objects_only_narrows_the_candidates():
    """Every phrase a known-objects swap moves has a vocabulary noun as head, and a caption with two
    such objects gets the same kind of swap as before ("A dog on a bed" -> "A bed on a dog")."""
    from ahnpl_plugin.negatives.swaps import check_swap_words

    assert generate_negatives(["A dog on a bed."], types=["relation"])[0]["relation_aug_caption"] == "A bed on a dog."
    # "the process", "harvest": not objects of the vocabulary
    assert generate_negatives(["A cat in the process of eating."], types=["relation"])[0]["valid_caption"] == [1, 0]
    assert check_swap_words(None, "v2") == "known" and check_swap_words(None, "v1") == "any"
    with pytest.raises(ValueError, match="needs the v2 rules"):
        check_swap_words("known", "v1")
    with pytest.raises(ValueError, match="unknown swap words"):
        generate_negatives(["A dog on a bed."], swap_words="some")


def test_fixed_phrases_are_found_and_never_cut():
    lowers = "a white plate with a cut in half sandwich".split()
    assert fixed_phrase_spans(lowers) == [(5, 8), (6, 8)]
    assert cuts_phrase(4, 6, [(5, 8)]) and cuts_phrase(7, 9, [(5, 8)]) and not cuts_phrase(4, 9, [(5, 8)])


def test_colour_words_that_name_a_food():
    assert names_a_food(["orange", "juice"], 0, ("pizza",))
    assert names_a_food(["an", "orange", "pizza"], 1, ("pizza",))
    assert not names_a_food(["an", "orange", "cat"], 1, ("pizza",))


def test_plural_places_compounds_and_same_scene_helpers():
    assert needs_plural_place("lots of a lawn".split(), 2, 4) and needs_plural_place("stands between dogs".split(), 2, 3)
    assert not needs_plural_place("a cat on a lawn".split(), 3, 5)
    assert only_copula(["is"], 0, 1) and not only_copula(["is", "on"], 0, 2)


def test_verb_frames_and_word_helpers():
    assert frame_misfits("through", ("stand", "walk", "sit")) == {"stand", "sit"}
    assert frame_misfits(None, ("stand",)) == frozenset()
    assert frame_misfits("at", ("sit", "smile", "look"), "looking") == {"sit", "look"}
    assert {"leap", "divide", "run", "sit"} <= base_guesses("leaping") | base_guesses("divided") | \
        base_guesses("running") | base_guesses("sits")
    assert one_edit_apart("ealking", "walking") and one_edit_apart("siting", "sitting")
    assert not one_edit_apart("walk", "talking")
    assert ("in the water", "in the water") in doubled_words("people in the water in the water at the shore")


def test_adjective_misfits_keep_the_other_side_of_a_dimension():
    """Generator 2.2: what may replace an adjective (round 11's failures: "large" -> "long",
    "empty" -> "bright", "brown" -> "tan", "young" -> "modern child")."""
    from ahnpl_plugin.negatives.parsed import adjective_misfits
    from ahnpl_plugin.negatives.vocabulary import Vocabulary

    vocab = Vocabulary.load()

    def allowed(word, pool, on_person=False):
        words = vocab.words(pool)
        return set(words) - adjective_misfits(word, pool, words, on_person) - {word}

    assert allowed("large", "size") == {"small", "little", "tiny", "miniature"}
    # 2.3: size, length and height are three scales ("a small desk" -> "a long desk" may both hold)
    assert allowed("long", "size") == {"short"} and allowed("tall", "size") == {"short"}
    assert allowed("short", "size") == {"long", "tall"}
    assert allowed("empty", "state") == {"full", "crowded", "busy"}
    assert allowed("fresh", "state") == set()  # no opposite listed: not replaced
    assert allowed("young", "age", on_person=True) == {"old", "elderly"}
    assert allowed("old", "age", on_person=False) == {"new", "modern"}
    assert "tan" not in allowed("brown", "colour") and "beige" not in allowed("brown", "colour")
    assert "blue" in allowed("brown", "colour") and "red" not in allowed("brown", "colour")  # 2.3: a chestnut horse
    assert "brick" not in allowed("stone", "material") and "metal" in allowed("stone", "material")


def test_person_nouns_keep_role_and_pronoun_gender():
    """Generator 2.2: the words a person noun may not become (round 11-12 failures: "Batter" ->
    "Man", "A man surfing on his board" -> "A woman ... his board")."""
    from ahnpl_plugin.negatives.analysis import analyse
    from ahnpl_plugin.negatives.generator import NegativeGenerator
    from ahnpl_plugin.negatives.replacements import replacement_targets
    from ahnpl_plugin.negatives.tokens import tokens_from_doc

    gen = NegativeGenerator(types=["noun"], plausibility="off")

    def avoided(caption, word):
        a = analyse(tokens_from_doc(gen.nlp(caption), True), gen.vocabulary, True)
        target = next(t for t in replacement_targets(a, "noun") if t.original == word)
        return gen._avoid(a, target)

    batter = avoided("A batter taking a swing at the ball.", "batter")
    assert {"man", "woman", "boy", "person"} <= batter and not {"pitcher", "catcher"} & batter
    assert "player" in batter  # 2.4 (round 21): a batter is a player
    man = avoided("A man surfing waves on his surf board.", "man")
    assert {"woman", "girl", "lady", "skateboarder", "surfer"} <= man
    assert {"boy", "guy", "child", "teenager"} <= man  # 2.3: same gender or no gender may still be true
    woman = avoided("A woman holds a Wii remote over her head.", "woman")
    assert {"man", "boy", "guy", "gentleman", "girl", "lady"} <= woman


def test_verb_rules_from_round_14_failures():
    """Generator 2.2, last verb rules (quality/negatives_audit/round14_karpathy_verb.tsv): each
    failure of round 14 is no longer a candidate."""
    from ahnpl_plugin.negatives.analysis import analyse
    from ahnpl_plugin.negatives.generator import NegativeGenerator
    from ahnpl_plugin.negatives.replacements import replacement_targets
    from ahnpl_plugin.negatives.tokens import tokens_from_doc

    gen = NegativeGenerator(types=["verb"], plausibility="off")

    def targets(caption):
        a = analyse(tokens_from_doc(gen.nlp(caption), True), gen.vocabulary, True)
        return a, {t.original: t for t in replacement_targets(a, "verb")}

    def avoided(caption, word):
        a, found = targets(caption)
        return gen._avoid(a, found[word])

    # a surfer, a batter, a child at play may be standing; anyone may smile or talk meanwhile
    assert {"stand", "sit", "smile", "talk", "laugh"} <= avoided("A guy in a black outfit is surfing.", "surfing")
    assert {"stand", "smile"} <= avoided("A batter swinging at a pitch in a baseball game.", "swinging")
    walk = avoided("A man walks across the street.", "walks")  # one who walks is not sitting
    assert "smile" in walk and "sit" not in walk
    assert "stand" in walk  # 2.3 (round 17's readers): in a still photo, walking or standing may both be seen
    assert "sit" in avoided("A crowd of people walk in the background.", "walk")  # some of a crowd may sit
    assert "hang" in avoided("A man in costume talking on a cell phone.", "talking")
    # 2.4 (round 27): past forms are states more than acts ("leaned", "gathered"): no target
    assert "bathed" not in targets("A large tan living room bathed in sunlight.")[1]
    assert "watch" in avoided("A bedroom with a window facing the street.", "facing")
    assert "run" in avoided("a colorful train going along an elevated track", "going")
    assert "parked" not in targets("A motorcycle with no rider is parked by the grass.")[1]
    assert {"ride", "catch"} <= avoided("A man in a wet suit surfs a wave.", "surfs")
    # "surfs" tagged VB keeps its third person: "pets a wave", not "pet a wave"
    assert targets("A man in a wet suit surfs a wave.")[1]["surfs"].tag == "VBZ"
    # no target where the parse misread a noun: "flying kites/ROOT", "up to cheek/VB"
    assert "flying" not in targets("some people in a big park flying kites")[1]
    assert "cheek" not in targets("holding a remote control in both hands up to cheek, on a rug.")[1]
    # fixed phrases: "a bite out of" ("into" says the same), "an out of focus boat"
    assert "out of" not in targets("a man takes a bite out of a large sandwich")[1]
    assert "out of" not in targets("The bow of a ship with an out of focus boat in the back ground.")[1]


def _generator_and_targets(negative_type):
    """A generator of one replacement type (no plausibility selection) and a function giving a
    caption's analysis and its replacement targets by original word."""
    from ahnpl_plugin.negatives.analysis import analyse
    from ahnpl_plugin.negatives.generator import NegativeGenerator
    from ahnpl_plugin.negatives.replacements import replacement_targets
    from ahnpl_plugin.negatives.tokens import tokens_from_doc

    gen = NegativeGenerator(types=[negative_type], plausibility="off")

    def targets(caption):
        a = analyse(tokens_from_doc(gen.nlp(caption), True), gen.vocabulary, True)
        return a, {t.original: t for t in replacement_targets(a, negative_type)}

    def avoided(caption, word):
        a, found = targets(caption)
        return gen._avoid(a, found[word])
    return gen, targets, avoided


def test_verb_rules_from_round_15_failures():
    """The rules after round 15 (quality/negatives_audit/round15_karpathy_verb.tsv, two readers)."""
    gen, targets, avoided = _generator_and_targets("verb")

    # a skater "jumping" stands, ducks "floating" or "swimming" sit on the lake: no posture for them
    assert {"stand", "sit"} <= avoided("a guy jumping over a barrier on a skate board", "jumping")
    assert {"sit", "stand"} <= avoided("A group of ducks floating on top of a lake.", "floating")
    assert "sit" not in avoided("A bird flies over a tower with a green dome.", "flies")  # a flying bird is not sitting
    # "hanging (out)", "grazing" and "walking" go along with other acts
    assert {"hang", "graze", "walk"} <= avoided("A man in a crowd of people texting on his phone.", "texting")
    assert "walk" in avoided("Animals are grazing in a fenced in field.", "grazing")
    assert "run" not in avoided("A man is standing next to an elephant.", "standing")
    assert "walk" in avoided("A crowd of people standing on top of a boat.", "standing")  # some may walk
    assert {"run", "jump"} <= avoided("A dog playing with a toy in a grassy yard.", "playing")
    assert {"walk", "wander"} <= avoided("A man holds a glass as others mill around behind him.", "mill")
    assert "eat" in avoided("A beautiful girl holding a giant banana in her hands.", "holding")
    assert "ride" in avoided("A man popping a wheelie on a motorcycle on a street.", "popping")
    assert "prepare" in avoided("A man cutting a slice of birthday cake.", "cutting")
    # no target: intent frames, states of mind, light verbs, misread nouns and compounds
    for caption, word in [("A tennis player is getting ready to hit a ball.", "hit"),
                          ("This person is about to eat a banana.", "eat"),
                          ("Either the dog likes hats or his owner thought this would be good.", "likes"),
                          ("A dog pays attention to something out of frame.", "pays"),
                          ("A dog pays attention to something out of frame.", "out of"),
                          ("Cat sitting right next to keyboard on laptop", "keyboard"),
                          ("two young bears are play fighting in the open", "play"),
                          ("A woman is air drying a young child's hair.", "drying"),
                          ("A brown bear stands digging in the dirt.", "digging"),
                          ("A green traffic light above a street with a car on coming.", "coming")]:
        assert word not in targets(caption)[1], (caption, word)
    from ahnpl_plugin.negatives.replacements import replacement_targets

    a, _ = targets("Woman with a backpack on sits on the curb moving her skateboard")
    assert [t.start for t in replacement_targets(a, "verb") if t.original == "on"] == [6]  # worn: not "on" 4


# Generator 2.3: what the second readers of rounds 10-13 (quality/negatives_audit/*_reader2.tsv)
# rejected and the first reader had accepted: these captions' negatives of 2.2 are no longer made.
SECOND_READER_REFUSE = {  # caption -> generator 2.2's negative, which a second reader rejected
    "relation": {
        "A couch with pillows sitting in a living room.": "Pillows with a couch sitting in a living room.",
        "A dirty bathroom with two toilets and a sink.": "Two toilets and a sink with a dirty bathroom.",
        "This is a picture of birds on the beach.": "This is the beach on a picture of birds.",  # the frame
        "Black and white photo of two men riding bikes.": "Bikes riding black and white photo of two men.",
        "A giraffe eats next to a zebra among some rocks.": "A zebra eats next to a giraffe among some rocks.",
        "The sign is now at a red light.": "A red light is now at the sign.",
    },
    "adj_swap": {  # two kinds, or one side of one scale, or a shade: both may hold
        "A bathroom with a white bath tub, sink and large window.":
            "A bathroom with a large bath tub, sink and white window.",
        "A small sandwich sits on a white plate.": "A white sandwich sits on a small plate.",
        "LARGE GIRAFFE SPREADING OUT HIS LONG LEGS TO GET A DRINK":
            "LONG GIRAFFE SPREADING OUT HIS LARGE LEGS TO GET A DRINK",
        "Bearded man, wearing sunglasses and a dark suit, standing before a brown brick wall.":
            "Bearded man, wearing sunglasses and a brown suit, standing before a dark brick wall.",
    },
}


@pytest.mark.parametrize("negative_type", list(SECOND_READER_REFUSE))
def test_second_reader_failures_are_refused(negative_type):
    rejected = SECOND_READER_REFUSE[negative_type]
    captions = list(rejected)
    made = generate_negatives(captions, types=[negative_type], seed=0, plausibility="off")
    for caption, result in zip(captions, made):
        assert result[f"{negative_type}_aug_caption"] != rejected[caption], caption
    assert sum(r[f"{negative_type}_aug_caption"] == INVALID for r in made) >= len(captions) - 1
    old = generate_negatives(captions, types=[negative_type], seed=0, plausibility="off", swap_words="any")
    assert all(r[f"{negative_type}_aug_caption"] != INVALID for r in old)  # 2.1's swaps made negatives of all


def test_noun_of_a_compound_name_is_no_target():
    """2.3 (second reader of round 13): "clock tower" -> "clock sidewalk", "a body of water" ->
    "a body of kitchen" break a name."""
    from ahnpl_plugin.negatives.analysis import analyse
    from ahnpl_plugin.negatives.generator import NegativeGenerator
    from ahnpl_plugin.negatives.replacements import replacement_targets
    from ahnpl_plugin.negatives.tokens import tokens_from_doc

    gen = NegativeGenerator(types=["noun"], plausibility="off")
    for caption, word, other in [("A tall clock tower stands over the dog.", "tower", "dog"),
                                 ("A boat floating on a body of water.", "water", "boat")]:
        a = analyse(tokens_from_doc(gen.nlp(caption), True), gen.vocabulary, True)
        found = {t.original for t in replacement_targets(a, "noun")}
        assert word not in found and other in found, (caption, found)


def test_exclusive_attributes_and_symmetric_links():
    from ahnpl_plugin.negatives.parsed import heads_noun_compound, loosely_symmetric_between
    from ahnpl_plugin.negatives.swaps import _exclusive
    from ahnpl_plugin.negatives.tokens import Token

    assert _exclusive("small", "large", "size") and _exclusive("old", "young", "age")
    assert not _exclusive("large", "long", "size") and not _exclusive("tall", "huge", "size")
    assert _exclusive("red", "blue", "colour") and not _exclusive("red", "maroon", "colour")
    assert not _exclusive("dark", "brown", "colour") and _exclusive("wooden", "metal", "material")
    assert not _exclusive("pretty", "simple", "quality") and not _exclusive("white", "large", None)

    def tok(text, tag, dep, head):
        return Token(text=text, ws=" ", tag=tag, dep=dep, head=head)

    # "A giraffe eats next to a zebra": nsubj giraffe(1), eats(2), next(3), to(4), a(5) zebra(6)
    sent = [tok("A", "DT", "det", 1), tok("giraffe", "NN", "nsubj", 2), tok("eats", "VBZ", "ROOT", 2),
            tok("next", "RB", "advmod", 2), tok("to", "IN", "prep", 3), tok("a", "DT", "det", 6),
            tok("zebra", "NN", "pobj", 4)]
    lowers = [t.text.lower() for t in sent]
    assert loosely_symmetric_between(lowers, sent, 2, 5, 1)
    # "A man riding a horse next to a car": the verb has an object between: not symmetric
    sent = [tok("A", "DT", "det", 1), tok("man", "NN", "nsubj", 2), tok("riding", "VBG", "ROOT", 2),
            tok("a", "DT", "det", 4), tok("horse", "NN", "dobj", 2), tok("with", "IN", "prep", 4),
            tok("a", "DT", "det", 7), tok("car", "NN", "pobj", 5)]
    lowers = [t.text.lower() for t in sent]
    assert not loosely_symmetric_between(lowers, sent, 2, 6, 1)
    assert loosely_symmetric_between(lowers, sent, 5, 6, 4) is False  # "a horse with a car": the horse is held
    words = "a clock tower".split()
    sent = [tok("a", "DT", "det", 2), tok("clock", "NN", "compound", 2), tok("tower", "NN", "ROOT", 2)]
    assert heads_noun_compound(sent, words, 2) and not heads_noun_compound(sent, words, 1)


def test_rules_from_round_17_readers():
    """2.3, from what two readers of round 17 (quality/negatives_audit/round17_*) both rejected."""
    from ahnpl_plugin.negatives.analysis import analyse
    from ahnpl_plugin.negatives.generator import NegativeGenerator
    from ahnpl_plugin.negatives.replacements import replacement_targets
    from ahnpl_plugin.negatives.tokens import tokens_from_doc

    gen = NegativeGenerator(types=["relation"], plausibility="off")

    def targets(caption, kind):
        a = analyse(tokens_from_doc(gen.nlp(caption), True), gen.vocabulary, True)
        return a, [t for t in replacement_targets(a, kind)]

    def avoided(caption, kind, word):
        a, found = targets(caption, kind)
        return gen._avoid(a, next(t for t in found if t.original == word))

    # relation: a symmetric preposition on the first phrase or its objectless verb, mutual acts
    made = generate_negatives(["A metal fire hydrant on the ground by bushes.", "A bedroom with a window facing the street.",
                               "A baseball player talking to a small child on the field.",
                               "A man sits on a shore with his surfboard."], types=["relation"], seed=0, plausibility="off")
    rejected = ["Bushes on the ground by a metal fire hydrant.", "A bedroom with the street facing a window.",
                "A small child talking to a baseball player on the field.", "His surfboard sits on a shore with a man."]
    assert all(r["relation_aug_caption"] != old for r, old in zip(made, rejected))
    assert made[3]["relation_aug_caption"] == INVALID  # another pair may still be swapped in the others
    # noun: nothing of the same scene or kind, nothing under negation or after "another"
    assert {"sink", "bathtub", "mirror"} <= avoided("A white toilet in a small bathroom.", "noun", "toilet")
    assert {"plate", "platter"} <= avoided("A tray of food on a table.", "noun", "tray")
    assert "truck" in avoided("A red car parked on the road.", "noun", "car")
    assert "cars" not in {t.original for t in targets("A freeway without any cars on it.", "noun")[1]}
    assert "dog" not in {t.original for t in targets("A cat sitting next to another dog.", "noun")[1]}
    # adj: no age for children, no count after "all", no near material
    assert {"old", "elderly"} <= avoided("A young boy holding a kite.", "adj", "young")
    assert "four" not in {t.original for t in targets("A box with windows on all four sides.", "adj")[1]}
    # verb: complements, prefixes, idioms, the web
    assert "lays" not in {t.original for t in targets("A cat lays asleep on a blue thing.", "verb")[1]}
    assert "over" not in {t.original for t in targets("a wooden bench near a over grown bush", "verb")[1]}
    assert "left" not in {t.original for t in targets("A cat guards what's left of a box of donuts.", "verb")[1]}
    assert "on" not in {t.original for t in targets("Police on foot engage in crowd control.", "verb")[1]}
    assert "surf" in avoided("a man sitting at a desk in front of a laptop computer", "verb", "sitting")


def test_rules_from_round_19_readers():
    """2.3, last rules: stranded articles, attachment either way round, mass nouns stay mass."""
    from ahnpl_plugin.negatives.analysis import analyse
    from ahnpl_plugin.negatives.generator import NegativeGenerator
    from ahnpl_plugin.negatives.parsed import new_stranded_determiner, stranded_determiners
    from ahnpl_plugin.negatives.replacements import replacement_targets
    from ahnpl_plugin.negatives.tokens import tokens_from_doc

    assert stranded_determiners("A the person looking up") == 1
    assert stranded_determiners("a snowy a skier and a tow-away an orange cone") == 2
    assert stranded_determiners("a dog on a bench near the lake") == 0
    assert new_stranded_determiner("A person in a snowy field.", "A the person in a snowy field.")
    assert not new_stranded_determiner("A the person.", "A the dog.")  # already in the caption
    made = generate_negatives(["A wooden bench tethered to a dog.", "A train standing on a platform next to people."],
                              types=["relation"], seed=0, plausibility="off")
    assert made[0]["relation_aug_caption"] != "A dog tethered to a wooden bench."
    assert made[1]["relation_aug_caption"] != "People standing on a platform next to a train."
    gen = NegativeGenerator(types=["noun"], plausibility="off")
    a = analyse(tokens_from_doc(gen.nlp("A zebra eating tall grass near some bushes."), True), gen.vocabulary, True)
    grass = next(t for t in replacement_targets(a, "noun") if t.original == "grass")
    allowed = set(gen.vocabulary.words(grass.pool)) - gen._avoid(a, grass)
    assert "tree" not in allowed and allowed <= gen.vocabulary.uncountable  # "tall tree" needs an article
    a = analyse(tokens_from_doc(gen.nlp("A plate of rice with a fork."), True), gen.vocabulary, True)
    rice = next(t for t in replacement_targets(a, "noun") if t.original == "rice")
    allowed = set(gen.vocabulary.words(rice.pool)) - gen._avoid(a, rice)
    assert allowed and allowed <= gen.vocabulary.uncountable and "carrot" not in allowed  # "a plate of pasta"


ROUND_20_30_RELATION = {  # 2.4: what both readers of rounds 20-30 rejected, and what the rules make now
    "A chair sitting in front of a brown desk.": "###",  # facing: each is in front of the other
    "A white toilet is separated from a brown shower curtain.": "###",  # being apart is symmetric
    "Several people on skis on a snowy slope.": "###",  # "skis on several people" is still true
    "Man serving the ball in a tennis match": "###",  # "The ball serving man" = a ball-serving man
    "A close-up of a television on white wall.": "###",  # a framing phrase
    "A river with a fire hydrant in foreground and mountains.": "###",  # "foreground" is no object
    "A busy street crammed with businesses and parked cars.": "###",  # "parked" would stay behind
    "A layered cake with many decorations on a table.": "###",  # the table holds the decorations
    "A man wearing glasses standing next to an airplane.": "###",  # "wearing glasses" would stay
    "A person is holding a doughnut with sprinkles.": "###",  # "with sprinkles" would stay
    "A young man in a suit and tie with a beer in his hand.": "###",  # the list would split
    # what one rides and where trade places with the same meaning; the rider does not
    "An adorable little girl riding skis on the snow.": "The snow riding skis on an adorable little girl.",
    # each phrase moves with what describes it (round 21's readers: 22 of 42 rejections)
    "A woman with lots of tattoos sits on a suitcase in a forest.":
        "A suitcase in a forest sits on a woman with lots of tattoos.",
    "A man in a mask is holding a cell phone.": "A cell phone is holding a man in a mask.",
    # kept: no posture, so "in front of" is one-way; the object of a verb is the relation
    "A stop sign in front of a brick building.": "A brick building in front of a stop sign.",
    "A giraffe eating leaves from a tree.": "A tree eating leaves from a giraffe.",
    # rounds 22-23: a list, "with" on the first phrase, positions, number, pronouns, frames, gaps
    "a bottle a cup a keyboard a laptop and a monitor": "###",
    "a person holding a small cake with candles": "###",
    "A woman cutting a cake with a knife.": "A woman cutting a knife with a cake.",  # a tool
    "Two baseball players one catching the ball the other sliding into base": "###",
    "Cows spread out and graze throughout a wide-open pasture.": "###",
    "Three elephants walking across a grassy field.": "A grassy field walking across three elephants.",
    "Several women gathered together posing with 6 pizzas in take out boxes.": "###",
    "A chair that has a blue suitcase on it.": "###",
    "An illustration of a man jumping to kick a ball.": "###",
    "A herd of  zebra running around a dirt field.": "###",
    "A red stop sign sitting on the floor next to a wall.": "The floor sitting on a red stop sign next to a wall.",  # 2.11: "floor" moves in the fourth try
    "The boy is wearing a shirt with a tie.": "###",
    "A man is skiing down a snowy hill.": "A snowy hill is skiing down a man.",
    # round 24: one thing twice, people looking at each other, two sentences, a symmetric link
    # after an object, a simile, the caption's own error, a name the parse cut
    "A beautiful bathroom and a guy is in bathroom.": "###",
    "some baseballs players watching a batter at home plate": "###",
    "A road between the buildings where a big car is parked.A water hydrant is also seen.": "###",
    "Horned mountain goats enjoying green grass next to the snow": "###",
    "a salad that looks like a boat is next to a fork": "###",
    "A women is standing on the sidewalk under a sign.": "###",
    "Stop light in a city next to a street sign on during the day.": "###",
    "three people standing by an elephant behind a fence": "a fence standing by an elephant behind three people",
    # round 25: a particle left, "no", colours and sides, light, a ball and its racket, a reflexive,
    # an idiom, a list after a moved modifier; "crossing" is mutual, so only the city moves
    "Two people with skis on at the top of a mountain.": "###",
    "Boy sleeping with no blanket in a large bed.": "###",
    "Street signs on a pole painted in the colors of the Italian flag.": "###",
    "A bathroom that has a bathtub with the light on.": "###",
    "A tennis player with a racket hitting the ball": "###",
    "There is a woman taking a photo of herself in the mirror": "###",
    "A man wearing glasses eating a glazed donut out of doors.": "###",
    "a kitchen with a refrigerator a counter and a sink": "###",
    "A man and a boy hold video controllers on opposite sides of a dining table containing a projector.": "###",
    "the train is crossing a street in the city": "the city is crossing a street in the train",
    # round 26: a phone in use, what a sign is about (the sign itself still moves), "and" ending a
    # modifier, a run-on list, "down hill", an event, one thing named twice
    "a man on his phone in some kind of room": "###",
    "A warning sign for high water is on the side of the road.":
        "The side of the road is on a warning sign for high water.",
    "A sandwich with nachos and a salad on a plate.": "###",
    "a black shirt on a hanger blue curtains a bed and pillow": "###",
    "A ski resort with a bunch of people skiing down hill and going up hill.": "###",
    "A baseball game and the catcher just threw the ball.": "###",
    "A sign in front of a building, in front of a building.": "###",
    # round 30: what follows a place may belong to the one in it: it neither moves nor stays
    "A child in a room with a remote in hand.": "###",
    "An old man standing in a kitchen posing for a picture.": "###",
    "A person walking in a square carrying a rainbow colored umbrella.":
        "A person walking in a rainbow colored umbrella carrying a square.",
}


def test_relation_rules_from_round_20_30_readers():
    captions = list(ROUND_20_30_RELATION)
    made = generate_negatives(captions, types=["relation"], seed=0, plausibility="off")
    assert {c: r["relation_aug_caption"] for c, r in zip(captions, made)} == ROUND_20_30_RELATION
    any_words = generate_negatives(["A man in a mask is holding a cell phone."], types=["relation"], seed=0,
                                   plausibility="off", swap_words="any")
    assert any_words[0]["relation_aug_caption"] != ROUND_20_30_RELATION["A man in a mask is holding a cell phone."]


def test_noun_rules_from_round_20_21_readers():
    """2.4: the noun rules of rounds 20-21 (names, misread words, one room's objects)."""
    gen, targets, _ = _generator_and_targets("noun")

    def allowed(caption, word):
        a, found = targets(caption)
        return set(gen.vocabulary.words(found[word].pool)) - gen._avoid(a, found[word])

    # half of a name, a breed, light, a misread verb or adverb, a container of its own kind: no target
    for caption, word in [("a polar bear is walking around its cage", "bear"),
                          ("A white Arabian horse with a decorative bridle and collar.", "horse"),
                          ("Cars wait at a red light as traffic passes by on the street.", "light"),
                          ("A light pole sits in the corner with some street signs on it.", "pole"),
                          ("A large yellow semi truck pulling a gray trailer behind it.", "truck"),
                          ("A new cellular phone and its accessories displayed.", "phone"),
                          ("Two people ski down a large snow covered hill.", "ski"),
                          ("A brown bear walking a cross a dirt and grass field.", "cross"),
                          ("Parachute over a large valley with a man made structure.", "man"),
                          ("Many bags of luggage are being loaded from a flat bed.", "bags")]:
        assert word not in targets(caption)[1], caption
    assert "dog" in targets("A dog on a bed.")[1]
    # furniture in a room and among appliances, the meat of a pizza, the camera of a phone: avoided
    assert not allowed("A living area with multiple beds, a desk and television.", "desk") & {"couch", "table", "chair"}
    assert not allowed("a male in a black jacket a television set a table and a lamp", "table") & {"couch", "desk"}
    assert "meat" not in allowed("The pizza is being served with a cold soda.", "pizza")
    assert "camera" not in allowed("A woman using a phone to take a picture of herself.", "phone")
    assert "light" not in allowed("A lived in bathroom with several towels hanging around.", "towels")
    assert "player" not in allowed("The skateboarders practiced their jumps on the road.", "skateboarders")
    # capitals: the tagger calls "SKATEBOARD" plural; the target keeps the singular
    _, found = targets("GUY ON A SKATEBOARD COMING DOWN FROM THE TOP OF RINK")
    assert found["skateboard"].tag == "NN"


def test_verb_rules_from_round_27_28_readers():
    """2.4: the verb rules of rounds 27-28 (the stricter brief): overlapping acts, past forms,
    negation, "or", reflexive and indefinite objects, facing and "into", riders and gear, idioms."""
    gen, targets, avoided = _generator_and_targets("verb")

    assert {"touch", "carry", "use"} <= avoided("There is a person holding a cell phone in their hand.", "holding")
    assert "brush" in avoided("A man wiping his brow while bouncing a tennis ball.", "wiping")
    assert "jump" in avoided("A man stepping over a briefcase on a sidewalk.", "stepping")
    assert "climb" in avoided("A cat sitting on top of a banana tree.", "sitting")
    for caption, word in [("A red bicycle leaned against a red stucco building.", "leaned"),
                          ("A person relieving themselves in a white toilet.", "relieving"),
                          ("A little girl that is chewing something.", "chewing"),
                          ("There are 25 pictures of carrots varying in size.", "varying"),
                          ("A woman that is sitting down in front of a table.", "in front of"),
                          ("A hand with scissors cutting into some sheets of paper.", "into")]:
        assert word not in targets(caption)[1], caption
    for caption in ["There are not many passengers on the bus.", "Several people are surfing or swimming."]:
        assert targets(caption)[1] == {}, caption
    assert "in front of" in targets("A cat running in front of a dog.")[1]
    # round 28: placing / carrying, a rider touching the horse, skis named -> no "skiing", idioms
    assert "carry" in avoided("A man placing a pan in the oven.", "placing")
    assert {"touch", "swim"} <= avoided("A man riding a horse in a field.", "riding")
    assert "ski" in avoided("People standing on the snow with skis.", "standing")
    assert "under" not in targets("A building under construction.")[1]
    assert not {"stands", "on"} & set(targets("A dog stands on its hind legs.")[1])


def test_noun_rules_of_generator_2_5():
    """2.5 (rounds 32-33): a noun + noun name is replaced whole, "other" pairs only its own kind,
    family words keep every person, everyday clothes replace nothing."""
    gen, targets, avoided = _generator_and_targets("noun")

    # the whole name is the target; its head gives the kind and the form
    _, found = targets("A man holding a laptop computer on a couch.")
    assert found["laptop computer"].base == "computer" and found["laptop computer"].pool == "electronics"
    _, found = targets("Two passenger trains parked at a station.")
    assert found["passenger trains"].plural and "trains" not in found  # whole or not at all
    _, found = targets("A tall clock tower next to two police cars.")
    assert not {"clock tower", "tower", "clock"} & set(found)  # a place head, a classifying word
    _, found = targets("Two train cars sitting on the tracks.")
    assert found["train cars"].tag == "NNS"
    # names whose head is of another kind, lists with commas missing, a shared modifier: no target
    for caption, words in [("A small teddy bear sitting on a bed.", {"teddy bear", "bear"}),
                           ("a plate with a coney dog and a fork", {"coney dog", "dog"}),
                           ("a single giraffe walking towards a group trees", {"group trees", "trees"}),
                           ("a stop sign a building cars bushes and trees", {"cars bushes", "building cars bushes"}),
                           ("A serving plate with a pepperoni and bell pepper pizza.", {"bell pepper pizza", "pizza"}),
                           ("A barbed wire fence with a bird on it.", {"wire fence", "fence"}),
                           ("a lot of lounge chairs under umbrellas on a beach", {"lounge chairs", "chairs"})]:
        assert not words & set(targets(caption)[1]), caption
    # "each other" and "the other side" pair nothing; "another giraffe" pairs giraffes; "other vehicles" any
    assert "cows" in targets("Two cows standing on a dirt ground next to each other.")[1]
    assert "dog" in targets("Two people standing on the other side of the net with a dog.")[1]
    _, found = targets("A giraffe looking down as another giraffe stands behind a fence.")
    assert "giraffe" not in found and "fence" in found
    assert "bus" not in targets("A big bus traveling down the street with other vehicles")[1]
    assert "man" not in targets("A man talking to one other man.")[1]  # "one other" pairs; "one another" not
    assert "giraffes" not in targets("Two giraffes one walking in front of another by some rocks.")[1]
    # "a" before a plural modifier is no error: "a kids pool", "a men's room", "a glasses case"
    for caption in ("A dog sitting in a kids pool.", "A man standing in a men's room.", "A girl sitting on a glasses case."):
        assert targets(caption)[1], caption
    # family words: no person replaced; everyday clothes replace nothing; a helmet is no hat
    assert {"woman", "man", "girl"} <= avoided("a group of moms and kids sitting out in a field", "kids")
    assert {"shirt", "pants"} <= avoided("A person wearing a helmet and goggles riding a snowboard.", "helmet")
    assert "hat" in avoided("A boy with a bat has a batting helmet pulled over his face.", "batting helmet")
    assert "camera" in avoided("A cat sitting in front of a laptop computer.", "laptop computer")
    # the negative names one object where the name was
    (result,) = generate_negatives(["A dump truck that is parked on some grass."], types=["noun"])
    negative = result["noun_aug_caption"]
    assert negative.endswith(" that is parked on some grass.") and not {"dump", "truck"} & set(negative.split())


def test_verb_rules_of_generator_2_5():
    """2.5 (round 34): an up-or-down relation with a pronoun object is inverted ("on it" -> "under
    it"); "on a cutting board" is a place, "on board" stays an idiom; round 34's readers' rules."""
    gen, targets, avoided = _generator_and_targets("verb")

    assert "on" in targets("A white table with a laptop computer on it.")[1]
    assert "behind" not in targets("A woman with a dog behind her.")[1]  # round 34: a viewpoint
    assert "on" not in targets("A man doing a trick upside down on his snow board.")[1]
    assert "behind" not in targets("A man watching two elephants behind a wire fence.")[1]
    assert "into" not in targets("A nice jet plane flying into some grey skies.")[1]
    assert not targets("A lone boats sits on a lake.")[1]  # the caption's own error
    assert "on" not in targets("Group of decorated cupcakes being filmed on camera.")[1]
    assert "lick" in avoided("A man eating food with his left hand.", "eating")
    assert "swing" in avoided("A young man serving a tennis ball.", "serving")
    assert "run" in avoided("A yellow bus waiting at bus stop near some benches.", "waiting")
    assert "surf" in avoided("a man talking on a cellphone sitting at a table.", "talking")
    # round 35: directions a photo cannot show, a window seen from either side, the bread a sandwich
    # is on, an idiom, a caption's own "a" + plural, acts that overlap
    assert "into" not in targets("A train pulling into a station.")[1]
    assert "behind" not in targets("Doughnuts sit behind a store window.")[1]
    assert "on" not in targets("A sandwich on wheat bread with chips.")[1]
    assert "over" not in targets("Two men communicate over the radio.")[1]
    assert "next to" in targets("A cat sitting next to a laptop.")[1]  # an idiom of "on" only
    assert "to the left of" in targets("A mug to the left of a computer.")[1]
    assert not targets("A street signs is on a pole.")[1]
    assert {"ride", "row"} <= avoided("A man paddling a kayak on a lake.", "paddling")
    assert "feed" in avoided("A woman petting cows in a field.", "petting")
    assert {"cut", "sniff"} <= avoided("A cat eating a banana from a hand.", "eating")
    # round 36: idioms of "on" (using a laptop, a leash, a smile on a face, corn on the cob), "looking
    # over", either side of a fence, a board sport's jumps, gaits, what flies and floats
    for caption, word in [("Two women sitting on their laptops at a table.", "on"),
                          ("A dog on a leash next to a man.", "on"), ("Corn on the cob with butter.", "on"),
                          ("A man with a smile on his face holding a cup.", "on"),
                          ("A man looking over a cliff at the sea.", "over"),
                          ("Boys playing baseball behind a fence.", "behind")]:
        assert word not in targets(caption)[1], caption
    assert "jump" in avoided("A kite boarder kiteboarding on the ocean.", "kiteboarding")
    assert {"float", "surf"} <= avoided("A bird flying through the trees.", "flying")
    assert "on" not in targets("A woman talking on her phone.")[1]  # a possessive, and a phone
    assert "on" in targets("A knife and a carrot are on a cutting board.")[1]
    assert "on" not in targets("A man is on board a plane.")[1]
    (result,) = generate_negatives(["A white table with a laptop computer on it."], types=["verb"])
    assert result["verb_aug_caption"] == "A white table with a laptop computer under it."
    (result,) = generate_negatives(["A bathroom sink with a mirror above it."], types=["verb"])
    assert result["verb_aug_caption"] == "A bathroom sink with a mirror below it."


def test_verb_fallback_of_generator_2_6():
    """2.6: a caption with no other verb negative gets "in" an enclosure inverted to "outside";
    open places, furniture, clothing, particles and motion keep no negative; a caption with any
    other verb target keeps its 2.5 negative."""
    from ahnpl_plugin.negatives.replacements import ENCLOSURE_POOL, fallback_targets

    gen, targets, _ = _generator_and_targets("verb")
    for caption, expected in [("A cat in a car.", "A cat outside a car."),
                              ("Flowers in a clear vase.", "Flowers outside a clear vase."),
                              ("A black cat in a bathroom sink.", "A black cat outside a bathroom sink."),
                              ("A man in his car.", "A man outside his car."),
                              ("Some people in a restaurant.", "Some people outside a restaurant.")]:
        (result,) = generate_negatives([caption], types=["verb"])
        assert result["verb_aug_caption"] == expected, caption
        a, primary = targets(caption)
        assert not primary  # only where nothing else can change
        assert [t.pool for t in fallback_targets(a, "verb")] == [ENCLOSURE_POOL]
    for caption in ["A man in a suit.",  # worn
                    "Cows in a field.",  # an open place
                    "A baby in a chair.",  # furniture
                    "Renovated bathroom's walk in shower.",  # a compound
                    "Two giraffes fenced in an enclosure.",  # a particle
                    "A train pulling in the station.",  # a direction a photo cannot show
                    "There is no cat in the car.",  # negated
                    "A dog in a car parked outside.",  # "outside" already said
                    "A stovetop is covered in pots and pans.",  # round 39: "covered in" = with
                    "A man getting food from a woman in a lunch truck.",  # the buyer is outside
                    "The people are trying to load the surf board in the car.",
                    "A woman looking at an elephant in its enclosure.",  # round 38: she is outside
                    "A cat half in a toilet.", "A train in a station.",  # trains stand outdoors there
                    "A pizza in a oven.", "A cat in a a box."]:  # the caption's own errors would stay
        a, _ = targets(caption)
        assert not fallback_targets(a, "verb"), caption
    # the review's fixes: an all-caps caption is no article error, a plural the vocabulary does not
    # know still names an enclosure, "very very" is no error, a relation override without "outside"
    # makes no such negative (and no random relation in its place)
    for caption, expected in [("A CAT IN A HOUSE", "A CAT OUTSIDE A HOUSE"), ("Cats in cages.", "Cats outside cages."),
                              ("A very very big dog in a car.", "A very very big dog outside a car.")]:
        (result,) = generate_negatives([caption], types=["verb"])
        assert result["verb_aug_caption"] == expected, caption
    (result,) = generate_negatives(["A cat in a car."], types=["verb"], vocabulary={"relation": ["in", "on", "under"]})
    assert result["verb_aug_caption"] == "###"
    # any other verb target wins: 2.5's negative is unchanged ("sitting" -> another act)
    (result,) = generate_negatives(["A dog sitting in the back of a truck."], types=["verb"])
    assert "outside" not in result["verb_aug_caption"] and result["verb_aug_caption"] != "###"
    assert "sitting" in targets("A dog sitting in the back of a truck.")[1]


def test_relation_fallback_of_generator_2_7():
    """2.7: when the vocabulary's nouns give no relation swap, a second try also moves the objects
    of swaps.EXTRA_SWAP_OBJECTS ("scissors", "a ramp"); a caption the vocabulary already swaps keeps
    its 2.6 negative, and the extra words stay out of every replacement vocabulary."""
    from ahnpl_plugin.negatives.swaps import EXTRA_SWAP_OBJECTS, swap_vocabulary
    from ahnpl_plugin.negatives.vocabulary import Vocabulary

    for caption, expected in [("A blue toothbrush on a table.", "A table on a blue toothbrush."),
                              ("A dog on a ramp.", "A ramp on a dog."),
                              ("A toothbrush in a cup.", "A cup in a toothbrush.")]:
        (result,) = generate_negatives([caption], types=["relation"])
        assert result["relation_aug_caption"] == expected, caption
        (result,) = generate_negatives([caption], types=["relation"], swap_words="any")
        assert result["relation_aug_caption"] != "###"  # "any" never needed the second try
    (result,) = generate_negatives(["A dog on a bed."], types=["relation"])
    assert result["relation_aug_caption"] == "A bed on a dog."
    # two places are still never swapped, nor what is not in the list ("the background")
    for caption in ["A barn next to a pond.", "A dog in the background of a field.",
                    "Young men having a meal at a table.",  # round 41: a light verb's object
                    "A airplane that is sitting on a tarmac.",  # the caption's own "a airplane"
                    "There is a giraffe inside a fenced in enclosure.",  # round 42: a misparsed phrase
                    "A couple of people standing along side of a train engine."]:
        (result,) = generate_negatives([caption], types=["relation"])
        assert result["relation_aug_caption"] == "###", caption
    shipped = Vocabulary.load()
    wider = swap_vocabulary(shipped)
    assert wider.category_of("toothbrush", "noun") == "object" and shipped.category_of("toothbrush", "noun") is None
    assert wider.category_of("barn", "noun") == "place"
    assert all(wider.category_of(w, "noun") is not None for w in EXTRA_SWAP_OBJECTS)
    from ahnpl_plugin.negatives.generator import NegativeGenerator

    gen = NegativeGenerator(types=["relation", "noun"])
    gen.generate(["A dog on a ramp."])  # the second try ran: the replacements' vocabulary is untouched
    assert gen._swap_vocabulary is not None and gen.vocabulary.category_of("ramp", "noun") is None


def test_relation_third_try_of_generator_2_8():
    """2.8: when neither the vocabulary's nouns nor the extra objects give a relation swap, a third
    try swaps two phrases of different number, one the subject, and makes the verb agree with the
    phrase that takes the subject's place; where that is not safe it gives nothing (round 43)."""
    for caption, expected in [("Two ducks are floating in a pond.", "A pond is floating in two ducks."),
                              ("Two dogs sit on a bed.", "A bed sits on two dogs."),
                              ("A cat sits on two pillows.", "Two pillows sit on a cat."),
                              ("Two blankets have been folded on a large bed.",
                               "A large bed has been folded on two blankets."),
                              ("A man is offering leaves to four giraffes.",
                               "Four giraffes are offering leaves to a man."),
                              ("Dogs can sit on a bed.", "A bed can sit on dogs.")]:  # a modal stays
        (result,) = generate_negatives([caption], types=["relation"])
        assert result["relation_aug_caption"] == expected, caption
    for caption in ["Two ducks are floating in a pond together.",  # "A pond ... together"
                    "an elephant is carrying some plants in its tusk",  # "plants ... in its tusk"
                    "A bathroom has red walls with yellow accents.",  # "has" is "with"
                    "People sit around a pool and a clock tower.",  # a list is plural: no number to change
                    "Boats docked at a harbor facing the city.",  # a participle read as a past tense
                    "Two cats sat on a bed.",  # a past tense with no auxiliary: the same
                    "The sheep gathered in the meadow wait to be told where to go",  # another verb agrees
                    "The two woman are eating donuts outside.",  # the caption's own error of number
                    "A female chef holds two buns, with several on plates in the background.",
                    "The living room is spacious and clean with hardwood floors and seating on leather sofas.",
                    "The street signs are outside of a building.",  # round 43: true either way round
                    "Three oranges are lined up with an exacto knife nearby.",
                    "A man is on a ski slopes on a blustery day.",  # the caption's own "a ... slopes"
                    "Bikes are lined up in the store on the floor",  # round 44: "on the floor" would move
                    "A person is kneeling down in the snow holding skis.",  # "the snow holding skis"
                    "Two dogs are sleeping on a screened-in porch.",  # "a screened-in" would stay behind
                    "A cat is sleeping on a worn out couch."]:  # the first try too: "a worn out a cat"
        (result,) = generate_negatives([caption], types=["relation"])
        assert result["relation_aug_caption"] == "###", caption
    # the first try's negatives are untouched: a same-number pair never reaches the third try
    (result,) = generate_negatives(["Two dogs on two beds."], types=["relation"])
    assert result["relation_aug_caption"] == "Two beds on two dogs."


def test_verb_rules_of_generator_2_9():
    """2.9 (round 46's readers): no verb negative from a noun the tagger reads as a verb, from the
    viewer's verb or from an all-caps caption; no replacement by an act that overlaps (skiing and
    snowboarding, a ball game's acts); no spatial relation inverted where either way may be true."""
    from ahnpl_plugin.negatives.analysis import analyse
    from ahnpl_plugin.negatives.generator import NegativeGenerator
    from ahnpl_plugin.negatives.replacements import replacement_targets
    from ahnpl_plugin.negatives.tokens import tokens_from_doc

    gen = NegativeGenerator(types=["verb"], plausibility="off")

    def targets(caption):
        a = analyse(tokens_from_doc(gen.nlp(caption), True), gen.vocabulary, True)
        return [" ".join(a.lowers[t.start:t.end]) for t in replacement_targets(a, "verb")]

    assert "frosting" not in targets("Baby boy at the table eating cake frosting off his hand.")
    assert targets("Park benches with a brown fence in the background and trees overhead.") == []
    assert "see" not in targets("We see a very old picture of people enjoying the shore.")
    assert "see" in targets("A man and a dog see a boat.")  # another's seeing is an act of the image
    assert targets("THERE IS A PLATE OF HOT DOGS AND FRIES ON THE TABLE") == ["on"]  # a place, not "fries"
    assert "eating" in targets("A MAN EATING A SANDWICH ON A BENCH".lower().capitalize())
    for caption in ["A white dog is peeking out from under a hanging cloth.",
                    "Three young men playing Wii on a projection television.",
                    "Two people holding surfboards under their arms.",
                    "The man is looking into a mirror holding a toothbrush."]:
        assert not {"under", "on", "into"} & set(targets(caption)), caption
    # round 47: a substance's figure of speech, "autumn leaves", a shelf above, bread's layers, the caption's slips
    assert "pouring" not in targets("A train traveling across a bridge with steam pouring out of it.")
    assert "falling" not in targets("Night is falling on an empty city street.")
    assert "leaves" not in targets("A blue bird sitting on the top of a branch with autumn leaves")
    assert "on" not in targets("A toaster sits on a kitchen shelf in front of a blender.")
    assert targets("The bread has meat on it and vegetable") == []
    assert targets("Cows grazing a on a grass field next to forest.") == []
    assert targets("Two sparrows sit n a table with a red tablecloth.") == []
    assert "sitting" in targets("A man in a t shirt sitting on a bench.")  # "t" is no slip
    # a review of 2.9: the same words where they are what the rule does not mean stay targets
    assert "icing" in targets("A woman is icing a cake.") and "topping" in targets("A chef topping a pizza.")
    assert "waters" in targets("A man waters the plants in his garden.")  # a verb with its object
    for caption in ["Bicycles parked on a bike rack.", "A cat on the arm of a couch.", "A vase of flowers on a TV stand.",
                    "A table with a bagel and a cup of coffee on it."]:
        assert "on" in targets(caption), caption
    # round 49: idioms and attachments, a pier that reaches both ways, a verb's own particle
    assert "on" not in targets("Two helmeted riders proceed down a dirt path on horseback.")
    assert "on" not in targets("A red fireplug has one cap removed that is connected on a chain.")
    assert "into" not in targets("People riding bikes on a small wooden pier that stretches far into the water.")
    assert "looking" not in targets("A surfer rides an ocean wave, a swimmer looking on.")
    assert "walking" in targets("A man walking on a sidewalk.")  # "on" with its object is a place
    (result,) = generate_negatives(["A man is searching for food in a refrigerator."], types=["verb"])
    assert result["verb_aug_caption"] == "###"  # the one who searches is outside it
    for caption, never in [("A mountain range with skiers going down the slope.", ("snowboard", "ski")),
                           ("A snow boarder is going down the slope on his board.", ("ski", "snowboard")),
                           ("A man hitting a baseball at a baseball game", ("throw", "toss", "pitch", "catch")),
                           ("The shirtless man plays frisbee in the water.", ("throw", "catch", "toss")),
                           ("a dog jumping to catch a frisbee in a yard", ("running",)),
                           ("A man preparing food in a restaurant kitchen.", ("serv", "cook", "touch", "cut")),
                           ("A person wearing skis going up a hill in the snow.", ("climb", "walk")),
                           ("A dog holding a frisbee in his mouth on top of grass.", ("catch",)),
                           # round 49: a snowy scene, a trick, licking, loading, a surfer's turn
                           ("A group of four people standing next to each other in the snow.", ("ski", "snowboard")),
                           ("Young skateboarder flipping the skateboard during a trick.", ("riding", "kick", "push")),
                           ("A dog licking the top of a beer bottle", ("touch", "kiss", "sniff", "smell")),
                           ("The man is loading luggage suitcases onto the cart.", ("carry", "lift", "put", "plac")),
                           ("A surfer rides an ocean wave.", ("cut", "carv"))]:
        for seed in range(4):
            (result,) = generate_negatives([caption], types=["verb"], seed=seed)
            added = set(result["verb_aug_caption"].lower().split()) - set(caption.lower().split())
            assert not any(w.startswith(never) for w in added), (caption, result)


def test_noun_fallbacks_of_generator_2_10():
    """2.10 (round 53: readers found a clear noun negative for 59-60 of 60 captions that 2.9 gave
    none): tried only where the noun targets give no negative. A noun the mass-noun rule misread
    takes a countable noun and a room becomes another room; else furniture or an appliance in a room
    becomes a fixture of another room; and last, a person becomes an animal, never a pet or a bird,
    and only where the caption names no animal."""
    from ahnpl_plugin.negatives.analysis import analyse
    from ahnpl_plugin.negatives.generator import NegativeGenerator
    from ahnpl_plugin.negatives.parsed import PERSON_STAND_IN_EXCLUDED, ROOMS
    from ahnpl_plugin.negatives.replacements import (BATHROOM_FIXTURE_POOL, KITCHEN_FIXTURE_POOL, ROOM_POOL,
                                                     STAND_IN_POOL, fallback_tiers, takes_count_noun)
    from ahnpl_plugin.negatives.tokens import tokens_from_doc

    gen = NegativeGenerator(types=["noun"], plausibility="off")

    def analysis(caption):
        return analyse(tokens_from_doc(gen.nlp(caption), True), gen.vocabulary, True)

    def first_word_of(caption, word):
        a = analysis(caption)
        return a, a.lowers.index(word)

    # the count test: a determiner past coordinated adjectives, or a bare countable noun where captions drop "a"
    for caption, word in [("A black and orange cat sitting on a wooden counter top.", "cat"),
                          ("a yellow blue and white bird on a branch", "bird"),
                          ("Man playing tennis on a fenced in tennis court.", "man"),
                          ("A bathroom area with toilet, sink and tub.", "sink")]:
        a, i = first_word_of(caption, word)
        assert takes_count_noun(a, i, word), caption
    for caption, word in [("two zebra standing in pen and grazing side by side", "zebra"),  # round 54
                          ("Some zebra and deer grazing in a field.", "zebra"),
                          ("A yellow fire hydrant on a green piece of grass.", "grass")]:  # a mass stays a mass
        a, i = first_word_of(caption, word)
        assert not takes_count_noun(a, i, word), caption

    def tiers(caption):
        return [[(" ".join(a_.lowers[t.start:t.end]), t.pool) for t in tier]
                for a_ in [analysis(caption)] for k, tier in enumerate(fallback_tiers(a_, "noun")) if k != 1]  # 2.11: tier 1 is names

    first, fixtures, animals = tiers("Man playing tennis on a fenced in tennis court.")
    assert first == [("man", "person")] and fixtures == [] and animals == [("man", STAND_IN_POOL)]
    first, fixtures, animals = tiers("A bathroom that is empty and not in use.")
    assert first == [("bathroom", ROOM_POOL)] and animals == []
    assert tiers("A man walking his dog in a park.")[2] == []  # an animal named: no person becomes one
    assert tiers("There are two people who are out in the snow.")[2] == []  # "who" wants a person
    assert tiers("A MAN IN A KITCHEN") == []  # all capitals: the tagger misreads them
    assert tiers("A bathroom with a hotel room view.")[0] == [("bathroom", ROOM_POOL)]  # "hotel room" is no room of ROOMS
    assert tiers("A collection of kitchen utensils in a metal bowl.")[0] == []  # round 55: a room as a modifier
    # furniture or an appliance in a room: a fixture of another room (2.4 never replaces it by its own kind)
    assert tiers("A bedroom with a bed and a dresser.")[1] == [("bed", BATHROOM_FIXTURE_POOL),
                                                               ("dresser", BATHROOM_FIXTURE_POOL)]
    assert tiers("A bathroom with a sink and a mirror.")[1] == [("sink", KITCHEN_FIXTURE_POOL),
                                                                ("mirror", KITCHEN_FIXTURE_POOL)]
    assert tiers("A kitchen with a toilet and a stove.")[1] == []  # both rooms named: neither is sure
    assert tiers("A desk with a laptop and a cup.")[1] == [("desk", BATHROOM_FIXTURE_POOL)]  # not what one holds
    for caption in ["The microwave ovens timer is about to go off.", "A pizza oven with a pizza paddle in a kitchen.",
                    "an image of a table setting with a breakfast platter on it",
                    "A person in bed watching a video on a laptop."]:  # round 56: a name's half, an idiom
        assert tiers(caption)[1] == [], caption
    # a noun + noun name of a person becomes an animal whole, unless a word before may be part of it
    assert tiers("a baseball player throwing a pitch from the mound")[2] == [("baseball player", STAND_IN_POOL)]
    assert tiers("A half pipe snowboarder performing tricks in a show.")[2] == []

    captions = ["Man playing tennis on a fenced in tennis court.", "A bathroom that is empty and not in use.",
                "a couple of people that are dressed up dancing", "A black and orange cat sitting on a wooden counter top.",
                "A person sitting at a kitchen table in front of a laptop."]
    results = generate_negatives(captions, types=["noun"], seed=0)
    negatives = dict(zip(captions, (r["noun_aug_caption"] for r in results)))
    assert negatives["Man playing tennis on a fenced in tennis court."].split()[0] in ("Woman", "Girl", "Lady")
    assert negatives["A bathroom that is empty and not in use."] in {
        f"A {room} that is empty and not in use." for room in ROOMS - {"bathroom"}}
    dancing = negatives["a couple of people that are dressed up dancing"]
    assert dancing.startswith("a couple of ") and dancing.endswith(" that are dressed up dancing")
    animal = dancing.split()[3]
    assert gen.vocabulary.category_of(gen.vocabulary.singular(animal), "noun") == "animal"
    assert gen.vocabulary.singular(animal) not in PERSON_STAND_IN_EXCLUDED
    assert animal == gen.vocabulary.plural(gen.vocabulary.singular(animal))  # "people" -> a plural
    cat = negatives["A black and orange cat sitting on a wooden counter top."]
    assert cat.startswith("A black and orange ") and "cat" not in cat
    laptop = negatives["A person sitting at a kitchen table in front of a laptop."]
    assert laptop in {f"A person sitting at a {fixture} in front of a laptop." for fixture in ("toilet", "bathtub")}
    # every 2.9 negative stays: a caption with a noun negative of its own targets gets no fallback's
    (kept,) = generate_negatives(["A dog on a sofa in a kitchen."], types=["noun"], seed=0)
    assert kept["noun_aug_caption"] != INVALID and kept["noun_aug_caption"].endswith(" in a kitchen.")


def test_verb_rules_from_round_52():
    """2.10 (round 52's readers): no verb negative that may still be true: going past something
    by another way of moving fast, an overlapping act (carrying / pushing carts, examining /
    pushing a magnet, hitting / pushing a ball), "under" the sky, "on" a wall, behind or in front in
    traffic; no noun of a list read as a verb, no "wearing" a colour, no caption's "a and"."""
    from ahnpl_plugin.negatives.analysis import analyse
    from ahnpl_plugin.negatives.generator import NegativeGenerator
    from ahnpl_plugin.negatives.replacements import replacement_targets
    from ahnpl_plugin.negatives.tokens import tokens_from_doc

    gen = NegativeGenerator(types=["verb"], plausibility="off")

    def targets(caption):
        a = analyse(tokens_from_doc(gen.nlp(caption), True), gen.vocabulary, True)
        return [" ".join(a.lowers[t.start:t.end]) for t in replacement_targets(a, "verb")]

    assert "passing" not in targets("A brick red train is passing by a tree filled mountain.")
    assert "zooming" not in targets("Lit up night traffic is zooming by a clock tower.")
    assert "passing" in targets("A man passing a ball to a child.")  # passing something on is an act
    assert "under" not in targets("A man riding a kiteboard over the ocean under a gray sky.")
    assert "on" not in targets("A wooden bench nestled by a fountain on a vine covered wall in a garden")
    assert "behind" not in targets("A school bus waits in traffic behind a car.")
    assert "behind" in targets("A school bus parked behind a car.")
    assert targets("A group of lego figures standing on a and near a laptop.") == []
    assert "trees" not in targets("a traffic light some people trees cars and buildings")
    assert "wearing" not in targets("The tennis player wearing white is swinging his racket.")
    assert "wearing" in targets("The tennis player wearing a white hat is swinging his racket.")
    for caption, never in [("A couple of train engines carrying carts down a set of tracks.", ("push", "pull", "haul", "tow")),
                           ("A young child curiously examines a refrigerator magnet.", ("push", "touch", "inspect")),
                           ("A baseball player hitting a baseball into the air.", ("push", "strike", "tap"))]:
        for seed in range(8):
            (result,) = generate_negatives([caption], types=["verb"], seed=seed, plausibility="off")
            assert not any(w in result["verb_aug_caption"].lower() for w in never), (caption, result)


def test_verb_rules_from_rounds_59_60():
    """2.10 (rounds 59-60's readers): nouns the tagger reads as verbs, by where they stand (a
    singular subject on a base form, a verb joined to no verb, an "-ing" noun after "in"/"on", the
    picture's own looking), a verb's first half, and relations inside an idiom or an attribute."""
    from ahnpl_plugin.negatives.analysis import analyse
    from ahnpl_plugin.negatives.generator import NegativeGenerator
    from ahnpl_plugin.negatives.replacements import replacement_targets
    from ahnpl_plugin.negatives.tokens import tokens_from_doc

    gen = NegativeGenerator(types=["verb"], plausibility="off")

    def targets(caption):
        a = analyse(tokens_from_doc(gen.nlp(caption), True), gen.vocabulary, True)
        return [" ".join(a.lowers[t.start:t.end]) for t in replacement_targets(a, "verb")]

    assert "track" not in targets("A metallic baggage claim track at an a airport")
    assert "walk" not in targets("A woman standing on the side walk with her child.")
    assert "cauliflower" not in targets("A blue plate loaded with broccoli and cauliflower")
    assert "netting" not in targets("A bed with white and gray bedding and netting overhead.")
    assert "building" not in targets("A toilet in building with a bunch of grass and dirt around the toilet")
    assert "running" not in targets("A baseball hitter with his bat on the ground in running position.")
    assert "looking" not in targets("A view looking up the side of a clock tower with crosses on the top.")
    assert "blow" not in targets("The women blow dries the little boy while he is wet.")
    assert "on" not in targets("Street at night with red stoplights and street lights with head on traffic")
    assert "on" not in targets("A pastry with sugar on the outside that is cut in half")
    assert "over" not in targets("A man holding up a large over sized sub sandwich")
    assert "on" not in targets("A surfer wipes out on a huge wave.")
    assert "out of" not in targets("A man with a piece of flat bread sticking out of his mouth.")
    # the same words where they are verbs and places stay targets
    assert "walk" in targets("A group of people walk on a sidewalk next to a clock.")  # "a group of": plural
    assert "trust" in targets("This tabby cat must trust this man.")  # a modal's base form
    assert "riding" in targets("A man with a helmet on riding a skateboard in the street.")
    assert "on" in targets("A dog resting his head on a pillow.")
    assert "over" in targets("An airplane is seen flying over several trees.")


def test_review_of_generator_2_10():
    """A code review of 2.10: a negated or paired person name stays; an animal implied by the
    scene ("on horseback", "at a rodeo") keeps people people; a room never becomes the one whose
    fixtures the caption names; no toilet where one may be in view; a caption-initial food stays a
    mass; "running by" the water is a gait beside it, not a vehicle passing; "traffic" counts only as
    "in traffic"."""
    captions = ["A court with no tennis players.", "No baseball players on the field.", "People on horseback.",
                "Two people at a rodeo.", "A bedroom with a toilet.", "A kitchen with a bathtub.",
                "A counter with a sink and a mirror.", "A bed in a hotel room.", "Fruit for sale at a market.",
                "A baseball player sin the dugout.", "A dog running by the water",
                "A stop sign in front of a traffic light"]
    got = {c: (r["noun_aug_caption"], r["verb_aug_caption"])
           for c, r in zip(captions, generate_negatives(captions, types=["noun", "verb"], seed=0))}
    for caption in captions[:4] + captions[6:10]:
        assert got[caption][0] == INVALID, (caption, got[caption])
    assert got["A bedroom with a toilet."][0] == "A kitchen with a toilet."
    assert got["A kitchen with a bathtub."][0] == "A bedroom with a bathtub."
    assert got["A dog running by the water"][1] not in (INVALID,) and "running" not in got["A dog running by the water"][1]
    assert got["A stop sign in front of a traffic light"][1] == "A stop sign behind a traffic light"


def test_verb_rules_from_rounds_61_62():
    """2.10 (rounds 61-62's readers): no relation inverted that may hold either way ("near"
    mountains in the background, "on" his feet, "outside" a resort, "over pass", "sinking his
    teeth into"), no idiom's verb ("comes with soup", "could use", "bow tie"), no caption with
    "the a"; holding and pulling overlap, a surfer "hitting" a wave rides it."""
    from ahnpl_plugin.negatives.analysis import analyse
    from ahnpl_plugin.negatives.generator import NegativeGenerator
    from ahnpl_plugin.negatives.replacements import replacement_targets
    from ahnpl_plugin.negatives.tokens import tokens_from_doc

    gen = NegativeGenerator(types=["verb"], plausibility="off")

    def targets(caption):
        a = analyse(tokens_from_doc(gen.nlp(caption), True), gen.vocabulary, True)
        return [" ".join(a.lowers[t.start:t.end]) for t in replacement_targets(a, "verb")]

    assert "near" not in targets("A train traveling near the mountains.")
    assert "near" in targets("A dog sitting near a bench.")
    assert "on" not in targets("A man with skis on his feet.")
    assert "outside" not in targets("People standing outside a ski resort.")
    assert "over" not in targets("Cars driving on an over pass.")
    assert "into" not in targets("A man sinking his teeth into a sandwich.")
    assert "comes" not in targets("A sandwich that comes with soup.")
    assert "use" not in targets("A bathroom that could use a good cleaning.")
    assert "bow" not in targets("A man wearing a bow tie.")
    assert targets("A man sitting on the a parked bus.") == []
    for caption, never in [("A woman holding her kite on the beach.", ("pull", "drag", "tug")),
                           ("A surfer riding a huge wave.", ("hit", "catch", "surf")),
                           ("A baseball pitcher pitching a ball.", ("swing",))]:
        for seed in range(8):
            (result,) = generate_negatives([caption], types=["verb"], seed=seed, plausibility="off")
            new_words = set(result["verb_aug_caption"].lower().split()) - set(caption.lower().split())
            assert not any(w.startswith(n) for w in new_words for n in never), (caption, result)


# 2.11: the relation swap's fourth try (round 53's recall reading, rounds 65-66's readers), each
# output read and accepted by both readers of round 65; "###" for what they rejected.
FOURTH_TRY: dict[str, str] = {
    "A red plane flying through a blue sky.": "A blue sky flying through a red plane.",
    "A bicycle is locked up to a post": INVALID,  # 2.14 (round 89): locked to each other, either way round
    "A group of birds in the sand by the water.": "The sand in a group of birds by the water.",
    "a colorful train going along an elevated track": INVALID,  # round 67: a track goes along a train either way
    "A seagull standing near the ocean on the sand.": "The sand standing near the ocean on a seagull.",  # distant
    "A grey bird in the middle of a snow-covered ground": "A snow-covered ground in the middle of a grey bird",
    "fifteen different varieties of doughnuts in a display case":
        "a display case in fifteen different varieties of doughnuts",
    "A biker stands on a path as horses follow.": "A path stands on a biker as horses follow.",
    "A park with kites flying in the bright blue sky.": "A park with the bright blue sky flying in kites.",
    # a bare singular phrase, a possessive's phrase, clothing "in", an "-ing" word in a bare phrase
    "Giraffe standing in a holding pen near a tree stump.": INVALID,
    "Orange train on tracks in the country side.": INVALID,  # "train" read as a verb
    "A man doing a trick on his skate board.": INVALID,
    "A young child in a sun hat crawling in hay at a kite fair": INVALID,
    "A group of people dressed in black preparing food.": INVALID,
    # round 65's rejections: a floated quantifier, a description left behind, "not many", "along" after
    # no verb, a name split in two
    "Bags and luggage all sitting on the floor .": INVALID,
    "Plates of food with onion rings and cheesecake and a cup of cocoa on a table": INVALID,
    "There are not many passengers on the bus.": INVALID,
    "A train with a yellow front driving on a track.": INVALID,
    "a man in a yellow top surfing on the waves": INVALID,
    "A group of passengers at a train station standing on the platform as a train arrives": INVALID,
    "An assortment of foods in bowls, drinks and condiments on a table.": INVALID,
    "A stop sign and lighted lamp post along a street at dusk.": INVALID,
    "A man sitting cross legged in front of a mirror on the floor taking a self portrait": INVALID,
    "A passenger trains speeding through the city on a train track.": INVALID,
    "a group of young people playing tennis with trees in the back ground": INVALID,
    # round 66's: a verb read into the phrase, skis "on" people, a wave's act on a surfer, "up by",
    # "the view from", a description left behind
    "A group of men ski across the snow covered ground.": INVALID,
    "two giraffe stand behind a fence in a zoo enclosure": INVALID,
    "Two sheep and a ram stand next to a fence in the yard": INVALID,
    "A baby cow is interested in a drink someone has.": INVALID,
    "Some people on snow boards high up in the air.": INVALID,
    "A surfer with a paddle catches a wave.": INVALID,
    "A young child catching a wave while surfing.": INVALID,
    "a large bus is up by the side of a curb": INVALID,
    "the view from a plane high up in the sky.": INVALID,
    "A sheep with its mouth open in a pen.": INVALID,
    "A television sitting on top of a television stand.": "A television stand sitting on top of a television.",
    "A young man performs a trick on a skate board.": "A skate board performs a trick on a young man.",
    # round 67's: near is symmetric, a track runs along a train, a slice count, a description left
    # behind, a sign's subject, a verb after its noun, a number on a singular, a wave's act
    "The toilet is very low to the ground.": INVALID,
    "A train running along a track near a station.": INVALID,
    "A train moving along a track during the day.": "A track moving along a train during the day.",
    "A white plate topped with a pizza cut into 6 slices.": INVALID,
    "a lady on her phone sitting on a curb": INVALID,
    "A large long train with man inside on the track.": INVALID,
    "a yellow sign of a person carrying a surf board": INVALID,
    "Many elephants in a cage stand together.": INVALID,
    "two train on a track near a building": INVALID,
    "A crashing wave is about to close in on a surfer.": INVALID,
    "A surfer is riding a wave on a narrow waterway.": "A wave is riding a surfer on a narrow waterway.",
    # a fifth try: the late objects with the verb made to agree (2.8's rules), round 71
    "a couple of trains are on the tracks": "the tracks are on a couple of trains",
    "Five bagels are on a metal rack.": "A metal rack is on five bagels.",
    "A person walking along train tracks next to crossing guards.":
        "Train tracks walking along a person next to crossing guards.",  # "along" after a motion
    "A toy train track is set up with two trains, houses, and a tractor.": INVALID,  # "with"
    "A train is sitting along tracks under and overpass.": INVALID,  # "along" after a verb of rest
    "A clean motorcycle is parked along a street curb.": INVALID,
    # the review of 2.11: a person or animal "on" a board or leash stays behind; a possessive's
    # phrase; a first-token head is no "snow board"
    "A brown dog on a leash laying on a floor.": INVALID,
    "A person on a surfboard riding the waves.": INVALID,
    "A man's skate board on the ground": INVALID,
    "Boards on a rider in the snow": "A rider in the snow on boards",
}


@pytest.mark.parametrize("plausibility", ["ngram", "off"])
def test_relation_fourth_try_of_generator_2_11(plausibility):
    """2.11: where the first three tries give nothing, a fourth may also move the scenery, objects,
    food and people of swaps.LATE_SWAP_OBJECTS, and a fifth does so with the verb made to agree; a
    caption an earlier try swaps keeps its negative, and the late words stay out of the earlier
    tries' and the replacements' vocabularies."""
    from ahnpl_plugin.negatives.generator import NegativeGenerator
    from ahnpl_plugin.negatives.swaps import LATE_SWAP_OBJECTS, swap_vocabulary
    from ahnpl_plugin.negatives.vocabulary import Vocabulary

    captions = list(FOURTH_TRY)
    made = generate_negatives(captions, types=["relation"], seed=0, plausibility=plausibility)
    assert {c: r["relation_aug_caption"] for c, r in zip(captions, made)} == FOURTH_TRY
    # earlier tries win: "the floor" is never moved where the vocabulary's nouns give a swap
    (result,) = generate_negatives(["A dog on a bed on the floor."], types=["relation"])
    assert result["relation_aug_caption"] == "A bed on the floor on a dog."  # the first try
    shipped = Vocabulary.load()
    assert swap_vocabulary(shipped).category_of("sky", "noun") is None  # the second try's vocabulary
    gen = NegativeGenerator(types=["relation", "noun"])
    gen.generate(["A red plane flying through a blue sky."])
    assert all(gen._late_swap_vocabulary.category_of(w, "noun") is not None for w in LATE_SWAP_OBJECTS)
    assert gen.vocabulary.category_of("sky", "noun") is None


def test_relation_margin_rejection_is_final():
    """2.11: with a plausibility margin, a relation try whose candidates the margin rejects ends
    the search: the later tries run only where the earlier ones had no candidate at all, so a
    margin only removes negatives (as the noun fallbacks of 2.10)."""
    from ahnpl_plugin.negatives import generator as generator_module

    caption = "A red plane flying through a blue sky."  # the fourth try's negative
    (free,) = generate_negatives([caption], types=["relation"])
    assert free["relation_aug_caption"] == "A blue sky flying through a red plane."
    (strict,) = generate_negatives([caption], types=["relation"], plausibility_margin=0.0)
    assert strict["relation_aug_caption"] == INVALID  # the swap is less plausible than the caption
    calls = []
    real = generator_module.relation_swap

    def counting(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    gen = generator_module.NegativeGenerator(types=["relation"], plausibility_margin=0.0)
    generator_module.relation_swap, saved = counting, generator_module.relation_swap
    try:
        (result,) = gen.generate(["A dog on a bed."])  # the first try has a candidate, the margin rejects it
    finally:
        generator_module.relation_swap = saved
    assert result["relation_aug_caption"] == INVALID and len(calls) == 1


def test_noun_name_tier_of_generator_2_11():
    """2.11: a COCO name protected whole ("fire hydrant", "living room") -> another name of its kind
    (replacements.NAME_SWAPS), tried after the first fallback tier: never a name or room the caption
    has or furnishes, never a name with a noun beside it ("chili hot dog", "stop sign pole") or
    negated."""
    from ahnpl_plugin.negatives.replacements import NAME_SWAPS

    expected = {
        "A fire hydrant on the side of a street.": "A stop sign on the side of a street.",
        "A stop sign next to a traffic light.": "A stop sign next to a fire hydrant.",  # not the light it has
        "A living room with a toilet in the corner.": "A bedroom with a toilet in the corner.",  # not a bathroom
        "There is no fire hydrant on this street.": INVALID,
        "A stop sign pole on a corner.": INVALID,
        "A chili hot dog with onions on a plate.": "A chili hot dog with onions on a jar.",  # the name stays
        # the review of 2.11: a verb may follow the name, a plural of a non-vocabulary noun, a hyphen
        "A stop sign is on the corner.": "A fire hydrant is on the corner.",
        "Two parking lots.": "Two fields.",
        "A hot dog-eating contest": INVALID,
        "fire hydrant": "stop sign",
    }
    captions = list(expected)
    made = generate_negatives(captions, types=["noun"], seed=0)
    assert {c: r["noun_aug_caption"] for c, r in zip(captions, made)} == expected
    for caption in ["Two fire hydrants on a sidewalk.", "A close up of a teddy bear.", "Three hot dogs."]:
        for seed in range(4):
            (result,) = generate_negatives([caption], types=["noun"], seed=seed)
            negative = result["noun_aug_caption"]
            assert negative != INVALID and any(
                alternative in negative.lower() for name, alternatives in NAME_SWAPS.items()
                if name in caption.lower() for alternative in alternatives), (caption, negative)
    # a plural of an alternative in the caption excludes it too ("two tacos": no "taco")
    from ahnpl_plugin.negatives.analysis import analyse
    from ahnpl_plugin.negatives.generator import NegativeGenerator
    from ahnpl_plugin.negatives.replacements import _name_targets
    from ahnpl_plugin.negatives.tokens import tokens_from_doc

    gen = NegativeGenerator(types=["noun"])
    a = analyse(tokens_from_doc(gen.nlp("A hot dog next to two tacos."), True), gen.vocabulary, True)
    (target,) = _name_targets(a)
    assert "taco" in gen._avoid(a, target)
    # a person is still replaced by a person where the noun targets give one (names are a fallback)
    (result,) = generate_negatives(["A man standing next to a fire hydrant."], types=["noun"], seed=0)
    assert "fire hydrant" in result["noun_aug_caption"] and not result["noun_aug_caption"].startswith("A man")


def test_adjective_opposites_of_generator_2_11():
    """2.11 (round 53's readers, round 74): where no adjective of a replaced kind gives a negative,
    an attribute of replacements.ADJECTIVE_OPPOSITES -> its one opposite; never where the caption
    has it, a pronoun repeats the gender, a negation or "or" is near, or an "-ing" word follows."""
    expected = {
        "A male tennis player in action on the court in front of a crowd.":
            "A female tennis player in action on the court in front of a crowd.",
        "Asian women are looking at vegetables at an outdoor market.":
            "Asian women are looking at vegetables at an indoor market.",
        "A smiling skier stands at the top of hill adjacent to trees.":
            "A frowning skier stands at the top of hill adjacent to trees.",
        "A horse pulling a carriage on a narrow path.": "A horse pulling a carriage on a wide path.",
        "A male and a female duck in a pond.": INVALID,
        "A female tennis player swings her racket.": INVALID,
        "There is no outdoor seating.": INVALID,
        "A female sitting on a bench with a dog.": INVALID,
        "A large male elephant.": "A tiny male elephant.",  # the size is replaced first
    }
    captions = list(expected)
    for plausibility in ("ngram", "off"):
        made = generate_negatives(captions, types=["adj"], seed=0, plausibility=plausibility)
        got = {c: r["adj_aug_caption"] for c, r in zip(captions, made)}
        if plausibility == "off":
            got["A large male elephant."] = expected["A large male elephant."]  # a random small word
        assert got == expected, plausibility


# 2.11 (round 73's readers, a fresh whole-type relation round): pairs the first tries swapped that
# stay true, each now "###" (the comment gives 2.10's negative)
ROUND_73_RELATION = {
    "A woman poses for the camera as she eats a snack": INVALID,  # "The camera poses for a woman"
    "A large boat is making waves towards the camera.": INVALID,
    "A man on a cellphone sticking his finger in his ear.": INVALID,  # "A cellphone on a man"
    "A living room with a table in front of a flat screen TV.": INVALID,  # they face each other
    "Four people mounted on horses riding on the beach.": INVALID,  # "mounted on the beach riding on horses"
    "Jockeys races horses on the beach on a clear day.": INVALID,
    "two zebras graze the grass at the base of a hill": INVALID,
    "a living room with with a couch and a table": INVALID,  # the caption's doubled word
    "A tennis player getting ready to his a tennis ball.": INVALID,
    "A fire hydrant sits near the curb along a road.": INVALID,  # "along" after no motion
    "A cat on a bed.": "A bed on a cat.",
}


def test_relation_rules_from_round_73():
    captions = list(ROUND_73_RELATION)
    made = generate_negatives(captions, types=["relation"], seed=0)
    assert {c: r["relation_aug_caption"] for c, r in zip(captions, made)} == ROUND_73_RELATION


def test_adjective_and_verb_rules_from_rounds_78_79():
    """2.11 (rounds 78-79, whole-type adj and verb rounds): no attribute of a name ("open field",
    "two way street", "hard wood"), "empty" of a thing is not "busy", an animal's age is young or
    old; selling and serving, buying and carrying, watching and examining overlap."""
    def targets(caption):
        return replacement_target_texts(caption, "adj")

    assert "open" not in targets("A dog running in an open field.")
    assert "open" in targets("A man standing by an open door.")
    assert "two" not in targets("A two way street sign on a pole.")
    assert "wood" not in targets("A room with hard wood floors and a couch.")
    for caption, never in [("Two empty glasses on a table.", ("busy", "crowded")),
                           ("Three old pups sleeping on a bed.", ("modern", "new", "antique", "vintage")),
                           ("Two old dogs on a porch.", ("modern", "new", "antique", "vintage"))]:
        for seed in range(8):
            (result,) = generate_negatives([caption], types=["adj"], seed=seed, plausibility="off")
            assert not any(w in result["adj_aug_caption"].lower().split() for w in never), (caption, result)
    for caption, never in [("A man selling fruit at a stand.", ("serv", "offer")),
                           ("A woman watches a bird in a tree.", ("exam", "inspect", "stud", "observ"))]:
        for seed in range(8):
            (result,) = generate_negatives([caption], types=["verb"], seed=seed, plausibility="off")
            new_words = set(result["verb_aug_caption"].lower().split()) - set(caption.lower().split())
            assert not any(w.startswith(n) for w in new_words for n in never), (caption, result)


# Generator 2.12 (round 83, both readers 293/300 on the new and changed relation negatives):
# resting on a thing is swapped, "against" and a verb with its own object are not; concrete
# objects the vocabulary lacks move in the fourth try; a bare "bed" after a preposition is an idiom;
# the fourth try moves the phrase a picture's opening frame holds (round 84), and swaps a container
# with what fills it (round 87).
RELATION_2_12: dict[str, str] = {
    "A cat laying on a big bed.": "A big bed laying on a cat.",
    "The dog is laying down on the couch in the room.": "The couch is laying down on the dog in the room.",
    "A bicycle leaning on a metal fence.": "A metal fence leaning on a bicycle.",
    "A woman lays against a pillow while flying on a plane.": INVALID,  # round 17: against is mutual
    "A bike leaning against a wall.": INVALID,
    "A black and white dog laying his head on a sofa": INVALID,  # "his head" would point at the sofa
    "A pregnant woman laying in bed reading a book.": INVALID,  # "Bed laying in a pregnant woman"
    "Two young boys read in bed using a lamp light.": INVALID,  # 2.11 made "Bed reads in two young boys"
    "A tall glass vase on a balcony railing.": "A balcony railing on a tall glass vase.",
    "A dog laying down on a fluffy carpet": "A fluffy carpet laying down on a dog",
    "A small bird is perched on an empty bird feeder.": "An empty bird feeder is perched on a small bird.",
    "An elderly man prepares to eat a very large sundae.": "A very large sundae prepares to eat an elderly man.",
    "A jetliner flying through a light blue sky.": "A light blue sky flying through a jetliner.",
    # a frame that opens the caption stays; the framed phrase moves (fourth try)
    "a blurry photo of a baseball player holding a bat": "a blurry photo of a bat holding a baseball player",
    "A photo of a cat on a bed.": "A photo of a bed on a cat.",
    "Picture of a dog on a skateboard.": "Picture of a skateboard on a dog.",
    'A view of the street signs "Broadway" in front of an old red brick building.': INVALID,  # quotes stay
    "A photo of a photo of a cat on a bed.": INVALID,
    # a container and what fills it trade places, and nothing else with either (round 87)
    "A vase filled with red and orange flowers.": "Red and orange flowers filled with a vase.",
    "A white plate topped with broccoli and other veggies.": "Broccoli and other veggies topped with a white plate.",
    "A white plate topped with waffles covered in fried apples.": INVALID,  # the waffles' own filling
    "A bowl of soup next to a plate full of bread.": INVALID,
    "A table topped with plates and bowls filled with food.": INVALID,  # the table is topped with food either way
    "A pizza with broccoli and spinach topped with an egg": INVALID,  # after "with": the pizza is topped
    "a sidewalk filled with various bags and cases of luggage": INVALID,  # "of luggage" would stay behind
    "A pile of wooden boxes filled with fruits and vegetables.": "Fruits and vegetables filled with a pile of wooden boxes.",
    # a review of 2.12: people resting on people is mutual; a picture that is a thing in the scene
    "A woman leaning on a man": INVALID,
    "A girl laying on a man": INVALID,
    "A picture of a horse hanging on a wall above a bed": INVALID,
    "A picture of a cat on a tv screen": INVALID,
}


@pytest.mark.parametrize("plausibility", ["ngram", "off"])
def test_relation_rules_of_generator_2_12(plausibility):
    captions = list(RELATION_2_12)
    made = generate_negatives(captions, types=["relation"], seed=0, plausibility=plausibility)
    assert {c: r["relation_aug_caption"] for c, r in zip(captions, made)} == RELATION_2_12
    from ahnpl_plugin.negatives.generator import NegativeGenerator
    from ahnpl_plugin.negatives.swaps import CONCRETE_SWAP_OBJECTS

    gen = NegativeGenerator(types=["relation"])
    gen.generate(["A jetliner flying through a light blue sky."])
    assert all(gen._late_swap_vocabulary.category_of(w, "noun") is not None for w in CONCRETE_SWAP_OBJECTS)
    assert gen.vocabulary.category_of("jetliner", "noun") is None  # the other types' vocabulary is unchanged


def replacement_target_texts(caption: str, negative_type: str) -> list[str]:
    """The words of ``caption`` that the v2 rules would replace for ``negative_type``."""
    from ahnpl_plugin.negatives.analysis import analyse
    from ahnpl_plugin.negatives.generator import NegativeGenerator
    from ahnpl_plugin.negatives.replacements import replacement_targets
    from ahnpl_plugin.negatives.tokens import tokens_from_doc

    if "v2" not in _GENERATORS:  # one spaCy pipeline for every call
        _GENERATORS["v2"] = NegativeGenerator(types=["adj"], plausibility="off")
    gen = _GENERATORS["v2"]
    a = analyse(tokens_from_doc(gen.nlp(caption), True), gen.vocabulary, True)
    return [" ".join(a.lowers[t.start:t.end]) for t in replacement_targets(a, negative_type)]


_GENERATORS: dict = {}


# Generator 2.13 (adj_swap): a colour, a material and a pattern of two things trade places when the
# caption has no two attributes of one kind (rounds 9-10 and 82 read such swaps as false; round 88
# read all of them), and "very" stays in place between two attributes of one kind.
ADJ_SWAP_2_13: dict[str, str] = {
    "A white couch sitting in a living room next to a wooden table.":
        "A wooden couch sitting in a living room next to a white table.",
    "A blue dog sitting on a striped couch": "A striped dog sitting on a blue couch",
    "A man with a striped tie and a black blazer": "A man with a black tie and a striped blazer",
    "A kitchen with white cabinets and wooden counters.": "A kitchen with wooden cabinets and white counters.",
    "A woman and a little dog in a very large kitchen.": "A woman and a large dog in a very little kitchen.",
    "A white tub next to a large window.": INVALID,  # a size: the tub may be large and the window white
    "A brown desk with a wooden chair in a classroom.": INVALID,  # wood is brown: both may still hold
    "A silver car in the street next to a metal railing.": INVALID,  # a metal car and a silver railing
    "A white kitchen with wooden cabinets.": INVALID,  # a room has the colour of its cabinets
    "A kitchen with dark wood cabinets and black appliances.": INVALID,  # "dark black cabinets"
    "The grey and white cat is beside a rubber shoe.": INVALID,  # "grey and rubber cat"
    "A living room with brown, leather furniture and a red wall.": INVALID,  # "brown, red furniture"
    "Ten porcelain pieces with floral patterns painted on them.": INVALID,  # floral pieces: still true
    "A very white couch next to a wooden table.": INVALID,  # "a very wooden couch"
    "A man in a plain shirt and a red tie.": INVALID,  # a plain shirt may be red
    "A glass shower as well as a red cross kit.": INVALID,  # a name (round 10)
    "Carrots and small green beans on a white plate.": INVALID,  # a food ("white beans")
    # a review of 2.13
    "The kitchen is white and has wooden cabinets.": INVALID,  # a predicate: the kitchen's colour
    "A red glass next to two plastic glasses.": INVALID,  # one noun ("glass", "glasses")
    "A red bus parked next to two metal buses.": INVALID,
    "A green bus passing a brick church.": INVALID,  # a building has the colour of its parts
    "A cast iron skillet on a white stove.": INVALID,  # a name
    "A glass of red wine on a wooden table.": INVALID,  # a name
    "A man in blue jeans sitting on a stone wall.": INVALID,
    "A wooden carving of a white bird.": INVALID,  # the carving is the bird
    "A floral print dress next to a red chair.": INVALID,  # the print is the dress's pattern
    "A very small dog next to a giant cat.": INVALID,  # "a very giant dog"
    "A gold clock next to a metal box.": INVALID,  # gold is a metal's colour
    "A white plate with a plastic fork.": INVALID,  # plastic has every colour
}


@pytest.mark.parametrize("plausibility", ["ngram", "off"])
def test_adjective_swap_rules_of_generator_2_13(plausibility):
    captions = list(ADJ_SWAP_2_13)
    made = generate_negatives(captions, types=["adj_swap"], seed=0, plausibility=plausibility)
    assert {c: r["adj_swap_aug_caption"] for c, r in zip(captions, made)} == ADJ_SWAP_2_13
    # generator 2.1's swaps (swap_words="any") are unchanged: "very" still binds its adjective there
    anything = generate_negatives(["A woman and a little dog in a very large kitchen."], types=["adj_swap"],
                                  seed=0, plausibility="off", swap_words="any")
    assert anything[0]["adj_swap_aug_caption"] == INVALID


@pytest.mark.parametrize("plausibility", ["ngram", "off"])
def test_other_rules_of_generator_2_13(plausibility):
    """Rejections of rounds 80, 81, 85 and 86 that 2.13 takes out."""
    def made(caption: str, negative_type: str) -> str:
        result = generate_negatives([caption], types=[negative_type], seed=0, plausibility=plausibility)[0]
        return result[f"{negative_type}_aug_caption"]

    # a mutual act reached through "going to" (round 85): the woman and the horse are not swapped
    assert made("a woman going to touch a horse in a field", "relation") != "a horse going to touch a woman in a field"
    # a plane is under the moon anyway (round 81)
    assert "under" not in made("An airplane flying over a big harvest moon", "verb")
    assert "under" not in made("A plane flies in the sky passing over the moon.", "verb")
    # above or below the clouds is what a picture shows (a review of 2.13)
    assert made("A helicopter hovering above the clouds.", "verb") == {
        "off": "A helicopter hovering below the clouds.", "ngram": "A helicopter climbing above the clouds."}[plausibility]
    # "wet suit" is a name (round 80)
    assert made("A man in a wet suit riding a wave.", "adj") == INVALID
    # no noun the caption already has, in either number (round 86)
    assert not made("a man, women and two children preparing to ski.", "noun").startswith("a woman, women")
    assert "one man" not in made("Three men and one woman sit at a table eating pizza.", "noun")
    assert "and a man in it" not in made("Two horses are carrying a cart with two men and a woman in it.", "noun")


# 2.14: rejections of rounds 89-94 (89-92: 300 fresh items per type of 2.13's rules; 93: rows 2.14's
# drafts changed; 94: its new relation objects; two readers each): caption, type, the rejected
# negative, and what 2.14 makes instead (INVALID: none; a dict: by plausibility mode)
REJECTED_IN_ROUNDS_89_94: list[tuple[str, str, str, str | dict[str, str]]] = [
    ("a little boy touching the nose of a brown horse", "relation",
     "the nose of a brown horse touching a little boy", INVALID),
    ("The bicycle is locked to the metal pole as the young man waits to board the mass transit train.", "relation",
     "The metal pole is locked to the bicycle as the young man waits to board the mass transit train.", INVALID),
    ("Small child sitting and snuggling with large stuffed bear.", "relation",
     "Large stuffed bear sitting and snuggling with small child.", INVALID),
    ("A man posing for a selfie in a jacket and bow tie.", "relation",
     "Tie posing for a selfie in a jacket and bow a man.", INVALID),
    ("A small little table with some toiletries next to a sink.", "adj",
     "A small large table with some toiletries next to a sink.", INVALID),
    ("A very old antique clock on a wall.", "adj", "A very old modern clock on a wall.", INVALID),
    ("A large tall tower with a clock on the top.", "adj", "A small tall tower with a clock on the top.", INVALID),
    ("Many bags of luggage are being loaded from a flat bed.", "adj",
     "Many bags of luggage are being loaded from a round bed.", INVALID),
    ("Two women walk outside, both holding up umbrellas", "adj",
     "Three women walk outside, both holding up umbrellas", INVALID),
    ("Two bears giving each other a big hug.", "adj", "Two bears giving each other a small hug.",
     {"ngram": "Twelve bears giving each other a big hug.", "off": "Eleven bears giving each other a big hug."}),
    ("Flat pizza like object sitting on table with a person taking a slice", "adj",
     "Square pizza like object sitting on table with a person taking a slice", INVALID),
    ("a large group black faced sheep with one or two white faced sheep", "adj",
     "a large group black faced sheep with one or three white faced sheep", INVALID),
    ("two cows outside one laying down and the other standing near a building", "adj",
     "three cows outside one laying down and the other standing near a building", INVALID),
    ("Two people stand in front of a television playing a video game.", "noun",
     "Two people stand in front of a camera playing a video game.",
     "Two people stand in front of a radio playing a video game."),
    ("A teddy bear sitting in a very unusual spot high up", "noun", "A doll sitting in a very unusual spot high up",
     {"ngram": "A cat sitting in a very unusual spot high up", "off": "A dog sitting in a very unusual spot high up"}),
    ("People are sitting in lounge chairs on the beach.", "noun", "People are sitting in lounge cabinets on the beach.",
     {"ngram": "Whales are sitting in lounge chairs on the beach.", "off": INVALID}),
    ("Broccoli, tomatoes, and spinach on a bed of melted cheese.", "noun",
     "Broccoli, tomatoes, and spinach on a shelf of melted cheese.",
     {"ngram": "Oranges, tomatoes, and spinach on a bed of melted cheese.",
      "off": "Broccoli, tomatoes, and spinach on a bed of melted tea."}),
    ("A black and white checkered hallway leading into the kitchen.", "verb",
     "A black and white checkered hallway leading out of the kitchen.", INVALID),
    ("A snow covered ramp in a parking garage", "verb", "A snow covered ramp outside a parking garage", INVALID),
    ("A laptop on a table outside a balcony overlooking the ocean.", "verb",
     "A laptop on a table inside a balcony overlooking the ocean.",
     "A laptop under a table outside a balcony overlooking the ocean."),
    ("a cow under the shade of a near by tree", "verb", "a cow on the shade of a near by tree", INVALID),
    ("A dog in a grassy area with eyes on a flying frisbee.", "verb",
     "A dog in a grassy area with eyes under a flying frisbee.", INVALID),
    # round 93 (rows the drafts changed): a stuffed teddy bear as a stuffed cat; "flat" as "curved"
    ("A stuffed teddy bear sitting on a metal sculpture", "noun", "A stuffed cat sitting on a metal sculpture", INVALID),
    ("A bus with a flat tire sitting in traffic on a street.", "adj",
     "A bus with a curved tire sitting in traffic on a street.", INVALID),
    # round 94 (the second batch of concrete objects): a bun is the bread of a sandwich, "herd" read
    # into a phrase, the caption's "a some"
    ("A sandwich on a sesame seed bun next to a pile of french fries and a cup of ketchup.", "relation",
     "A sesame seed bun on a sandwich next to a pile of french fries and a cup of ketchup.", INVALID),
    ("A burger with a doughnut for the bun.", "relation", "A burger with the bun for a doughnut.", INVALID),
    ("Cowboys herd cattle across an open grassy field.", "relation", "An open grassy field across cowboys herd cattle.",
     INVALID),
    ("a man holding onto a some wires while skiin", "relation", "a some wires holding onto a man while skiin", INVALID),
]

# what 2.14's rules leave alone (a code review of 2.14): each would be lost to a rule drawn too wide
LEFT_ALONE_BY_2_14: list[tuple[str, str]] = [
    ("Two dogs sit by the door while a cat sleeps on the other side of the room.", "adj"),  # no "one ... the other"
    ("Two men holding their umbrellas with both hands.", "adj"),  # "both" of the hands
    ("Kids sitting two to a desk in a classroom.", "adj"),  # "to" before no count
    ("Two dogs or cats lying on a bed.", "adj"),  # "or" between nouns
    ("Sheep resting in the shade of a tree.", "verb"),  # "in the shade" leaves its verb free
    ("A dog wearing a bow tie and a hat.", "verb"),  # a name leaves its verb free
    ("A cat with green eyes on a couch next to a pillow.", "verb"),  # eyes described, not "eyes on"
    ("A cat sleeping on the bed of a small hotel room.", "verb"),  # the bed of a room is a bed
    ("A many colored kite flying over a beach.", "relation"),  # "a many colored" is no caption error
    ("A cat snuggling on a blanket next to a dog.", "relation"),  # snuggling on a thing rests on it
    ("Fluffy teddy bears for sale in a store.", "noun"),  # fluffy is no toy word
]


@pytest.mark.parametrize("plausibility", ["ngram", "off"])
def test_rules_of_generator_2_14(plausibility):
    """Rejections of rounds 89-94 that 2.14 takes out: a mutual act or an attachment that holds
    both ways ("touching the nose of", "locked to", "sitting and snuggling with"), names and idioms
    ("bow tie", "lounge chairs", "flat bed", "big hug", "a bed of", "eyes on", "under the shade",
    "leading into"), two attributes of one scale on one thing ("a small little table"), a count the
    caption repeats ("both", "one ... the other") or gives as a range ("one or two"), an outline for
    a profile ("flat" -> "square"; none for "flat"), a camera where something faces it, a teddy bear
    as a doll, inside or outside a balcony or a parking garage, a bun on a sandwich, "herd" read
    into a phrase, "a some". And what the rules leave to the negatives they would wrongly stop."""
    def made(caption: str, negative_type: str, seed: int = 0) -> str:
        return generate_negatives([caption], types=[negative_type], seed=seed,
                                  plausibility=plausibility)[0][f"{negative_type}_aug_caption"]

    for caption, negative_type, rejected, expected in REJECTED_IN_ROUNDS_89_94:
        expected = expected[plausibility] if isinstance(expected, dict) else expected
        assert made(caption, negative_type) == expected != rejected, caption
    for caption, negative_type in LEFT_ALONE_BY_2_14:
        assert made(caption, negative_type) != INVALID, caption
    # 2.14's concrete objects, as round 94's readers accepted them (a hot dog lies in its bun)
    assert made("A pair of scissors sitting on top of a wooden box.", "relation") == \
        "A wooden box sitting on top of a pair of scissors."
    assert made("A hot dog in a bun is topped with mustard.", "relation") == "A bun in a hot dog is topped with mustard."
    assert made("A herd of cattle walking down a country road.", "relation") == \
        "A country road walking down a herd of cattle."
    assert made("Two young women walking down brown carpeted stairs.", "relation") == \
        "Brown carpeted stairs walking down two young women."
    # a mask is worn, as a hat: never swapped with its wearer after "in"
    assert made("A woman in a mask standing next to a car.", "relation") == INVALID
    # both ends of a range; a closed garage still inverts; "curved" <-> "straight"
    assert made("Five to six people sitting on a couch.", "adj") == INVALID
    assert made("A car parked inside a garage.", "verb") == "A car parked outside a garage."
    assert made("A group of people cross the curved street.", "adj") == "A group of people cross the straight street."
    # no camera before a modifier either, whatever the draw
    for seed in range(10):
        assert "camera" not in made("Two people stand in front of a large television playing a video game.", "noun", seed)
