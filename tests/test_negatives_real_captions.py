"""The v2 rules on real COCO captions: the failures issue 17 quoted, hand-checked outputs, the v1
rules byte-identical to generator 1.0, properties over 300 real captions, plausibility selection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ahnpl_plugin.negatives import AHNPL_TYPES, INVALID, field_name, generate_negatives
from ahnpl_plugin.negatives.audit import unchanged_meaning
from ahnpl_plugin.negatives.parsed import doubled_words, new_doubled_word, quoted_texts
from ahnpl_plugin.negatives.vocabulary import Vocabulary

DATA = Path(__file__).parent / "data"
REAL_CAPTIONS = (DATA / "sugarcrepe_coco_captions.txt").read_text(encoding="utf-8").splitlines()

# Real-style captions (the first eleven are the failures quoted in issue 17, the rest failures seen
# on SugarCrepe's COCO captions while building v2) with v2's output (seed 0, no plausibility
# selection), each read and accepted by hand: grammatical, meaning-changing, of its type; "###"
# where no acceptable negative of the type exists. The comment says what v1 wrote.
HAND_CHECKED: dict[str, dict[str, str]] = {
    # v1 relation: "A man riding a snow down a snowboard covered slope."
    "A man riding a snowboard down a snow covered slope.": {
        "relation": "A snowboard riding a man down a snow covered slope.", "adj_swap": INVALID, "adj": INVALID,
        "noun": "A man riding a racket down a snow covered slope.",
        "verb": "A man throwing a snowboard down a snow covered slope."},  # v2.1: a verb that moves it down
    # v1 relation: "many cows next to water of a body" (and "next to" is symmetric)
    "many cows next to a body of water": {
        "relation": INVALID, "adj_swap": INVALID, "adj": INVALID,
        "noun": "many pigeons next to a body of water", "verb": "many cows far from a body of water"},
    # v1 adj_swap: "A large-decker bus parked in a double field"
    "A double-decker bus parked in a large field": {
        "relation": "A large field parked in a double-decker bus", "adj_swap": INVALID,
        "adj": "A double-decker bus parked in a little field", "noun": INVALID,  # 2.3: "double-decker bus" one name, "field" a place
        "verb": INVALID},  # v2.1: no participle replaced ("petted in a large field"), "in" has no opposite
    # v1 adj_swap: "An about airplane is small to take off"; verb: "about to smile off"
    "A small airplane is about to take off": {
        "relation": INVALID, "adj_swap": INVALID, "adj": "A giant airplane is about to take off",
        "noun": "A small bus is about to take off", "verb": INVALID},
    # v1 adj: "A tired on train tracks" (locomotive tagged JJ)
    "A locomotive on train tracks": {
        "relation": INVALID, "adj_swap": INVALID, "adj": INVALID, "noun": INVALID,  # 2.3: "train tracks" is one name
        "verb": "A locomotive under train tracks"},
    # v1 verb: "Interior bathroom looked of a sink and toilet" (shot is a noun); v2.1 adj "Fluffy
    # bathroom shot": "interior" has no kind to oppose (2.2 replaces no such adjective)
    "Interior bathroom shot of a sink and toilet": {
        "relation": INVALID, "adj_swap": INVALID, "adj": INVALID,
        "noun": INVALID, "verb": INVALID},  # 2.4: "a clock" in a bathroom may be there too
    # v1 adj_swap: "An orange and grey fire hydrant" (same meaning)
    "A grey and orange fire hydrant": {
        "relation": INVALID, "adj_swap": INVALID, "adj": "A grey and beige fire hydrant", "noun": INVALID,
        "verb": INVALID},
    # v1 adj_swap: "A vintage vintage car in front of a red army prop plane"
    "A vintage red car in front of a vintage army prop plane": {
        "relation": "A vintage army prop plane in front of a vintage red car", "adj_swap": INVALID,
        "adj": "A vintage golden car in front of a vintage army prop plane",
        "noun": "A vintage red jet in front of a vintage army prop plane",
        "verb": "A vintage red car behind a vintage army prop plane"},
    # v1: 'saying "Slice Big Fish"', 'saying "Reel Tiny Fish"', 'Big Fish saying "Reel a sign"'
    'A sign saying "Reel Big Fish" on a wall': {
        "relation": INVALID, "adj_swap": INVALID, "adj": INVALID,
        "noun": 'A towel saying "Reel Big Fish" on a wall', "verb": INVALID},  # 2.10 (round 52): "on a wall" -> "under" may be true
    # v1 adj_swap: "Many women standing next to two cakes"; relation around symmetric "next to"
    "Two women standing next to many cakes": {
        "relation": INVALID, "adj_swap": INVALID, "adj": "Five women standing next to many cakes",
        "noun": "Two women standing next to many carrots", "verb": "Two women skateboarding next to many cakes"},
    # v1 verb: "A man dancing and dancing with an umbrella."
    "A man holding and dancing with an umbrella.": {
        "relation": "An umbrella holding and dancing with a man.", "adj_swap": INVALID, "adj": INVALID,
        "noun": "A man holding and dancing with a wallet.", "verb": "A man climbing and dancing with an umbrella."},
    # v1 adj_swap: "A white girl holding a little Nintendo Wii game controller." (a colour on a person)
    "A little girl holding a white Nintendo Wii game controller.": {
        "relation": "A white Nintendo Wii game controller holding a little girl.", "adj_swap": INVALID,
        "adj": "A little girl holding a silver Nintendo Wii game controller.",
        "noun": "A little gentleman holding a white Nintendo Wii game controller.",
        "verb": "A little girl serving a white Nintendo Wii game controller."},  # 2.9: holding ~ catching
    # v1 adj_swap: "A colored horse stands over a light brown dog." ("light colored" is one attribute)
    "A brown horse stands over a light colored dog.": {
        "relation": "A light colored dog stands over a brown horse.", "adj_swap": INVALID,
        "adj": "A white horse stands over a light colored dog.",
        "noun": "A brown horse stands over a light colored goose.",
        "verb": "A brown horse surfs over a light colored dog."},
    # v1 verb: "A person preparing a child stand on a skateboard."
    "A person helping a child stand on a skateboard.": {
        "relation": "A person helping a skateboard stand on a child.", "adj_swap": INVALID, "adj": INVALID,
        "noun": INVALID, "verb": "A person helping a child fall on a skateboard."},
    # v1 relation: "A wooden bench sitting at a man and table ..." (one member of a coordination moved)
    "A man sitting at a wooden bench and table with an open umbrella.": {
        "relation": INVALID,  # 2.4: "... table with | an open umbrella": the man may be with it too
        "adj_swap": INVALID,  # 2.3: "open" / "wooden": a state and a material may both hold
        "adj": "A man sitting at a wooden bench and table with a closed umbrella.",
        "noun": "A lady sitting at a wooden bench and table with an open umbrella.",
        "verb": "A man walking at a wooden bench and table with an open umbrella."},
    # v1 relation: "A grey and a street next to orange fire hydrant."
    "A grey and orange fire hydrant next to a street.": {
        "relation": INVALID, "adj_swap": INVALID, "adj": "A grey and black fire hydrant next to a street.",
        "noun": INVALID,  # 2.3: "street" is a place, "fire hydrant" one name
        "verb": "A grey and orange fire hydrant far from a street."},
    "A black cat sits in a white bathroom sink.": {
        "relation": "A white bathroom sink sits in a black cat.", "adj_swap": "A white cat sits in a black bathroom sink.",
        "adj": "A gray cat sits in a white bathroom sink.", "noun": "A black horse sits in a white bathroom sink.",
        "verb": "A black cat swims in a white bathroom sink."},
    # v1 adj: "The meal is domestic and ready to be eaten." ("prepared" is no attribute to trade)
    "The meal is prepared and ready to be eaten.": {
        "relation": INVALID, "adj_swap": INVALID, "adj": INVALID,
        "noun": INVALID,  # 2.3: "meal" is a noun of no kind
        "verb": INVALID},  # v2.1: no participle replaced ("ready to be carried")
}


@pytest.fixture(scope="module")
def hand_checked_results():
    captions = list(HAND_CHECKED)
    return dict(zip(captions, generate_negatives(captions, seed=0, plausibility="off")))


@pytest.mark.parametrize("caption", list(HAND_CHECKED))
def test_hand_checked_real_style_captions(caption, hand_checked_results):
    got = {t: hand_checked_results[caption][field_name(t)] for t in AHNPL_TYPES}
    assert got == HAND_CHECKED[caption]


@pytest.fixture(scope="module")
def real_results():
    return generate_negatives(REAL_CAPTIONS, seed=0)


def test_v1_rules_reproduce_generator_1_0_on_real_captions():
    reference = [json.loads(line) for line in (DATA / "negatives_v1_reference.jsonl").read_text(encoding="utf-8").splitlines()]
    captions = [r.pop("caption") for r in reference]
    assert generate_negatives(captions, types="all", seed=0, rules="v1") == reference


def test_v2_negatives_of_real_captions_pass_the_simple_checks(real_results):
    synonyms = Vocabulary.load().synonyms
    made = 0
    for caption, result in zip(REAL_CAPTIONS, real_results):
        for k, t in enumerate(AHNPL_TYPES):
            negative = result[field_name(t)]
            assert (negative != INVALID) == bool(result["valid_caption"][k + 1])
            if negative == INVALID:
                continue
            made += 1
            assert not new_doubled_word(caption, negative), (caption, negative)
            for quote in quoted_texts(caption):
                assert any(q and q in negative for q in quote), (caption, negative)
            why = unchanged_meaning(caption, negative, t, synonyms)
            assert why is None or why.startswith("symmetric"), (caption, negative, why)
    assert made > 0.42 * 5 * len(REAL_CAPTIONS)  # v2.4: 669 of 1,500 (v2.3: 727, v2.2: 869, v2.1: over 900)


def test_valid_rates_on_real_captions_stay_near_the_measured_ones(real_results):
    # measured on these 300 captions when the rules were written (quality/negatives_real_captions.py
    # has the 2,000-caption numbers; v2.1 drops participle replacements: verb 0.80 -> 0.76); a rule
    # change that loses many negatives shows here; v2.2 moves only vocabulary objects in relation
    # swaps (relation 0.76 -> 0.56, the price of its precision: README); the verb rules of rounds
    # 14-15 skip parse misreadings and intent frames ("ready to hit"): verb 0.76 -> 0.73; 2.3 swaps
    # no "X with Y" and only attributes of one kind, and keeps noun + noun names (relation 0.56 ->
    # 0.47, noun 0.97 -> 0.93, adj_swap 0.05)
    rates = {t: sum(r["valid_caption"][k + 1] for r in real_results) / len(real_results)
             for k, t in enumerate(AHNPL_TYPES)}
    # 2.3 after round 18: no place noun and no noun of no kind is replaced (noun 0.93 -> 0.78);
    # after round 19 a mass noun only by a mass noun (0.74); 2.4 (rounds 20-23): relation 0.47 ->
    # 0.35 (no modifier left behind, no facing or ridden pair, no list), noun 0.74 -> 0.68 (no
    # furniture in a room, no half of a name)
    # round 27: no past form, negation, "or" or reflexive object for verb (0.73 -> 0.71); rounds
    # 26-30: relation 0.35 -> 0.30
    assert rates["relation"] > 0.27 and rates["noun"] > 0.64 and rates["verb"] > 0.68
    assert rates["adj"] > 0.4 and rates["adj_swap"] > 0.03


def test_plausibility_selection_picks_the_reading_the_captions_support():
    # Planted corpus: dogs are on things, nothing is on a shelf or is a zebra; of the candidates
    # (cat -> dog | zebra, sofa -> shelf) the bigram model of these captions prefers "a dog on".
    vocabulary = {"animal": ["cat", "dog", "zebra"], "furniture": ["sofa", "shelf"]}
    corpus = [f"A dog on a {thing}." for thing in ("rug", "bed", "mat", "chair", "car")] + ["A cat on a sofa."]
    with_lm = generate_negatives(corpus, types=["noun"], seed=0, vocabulary=vocabulary)
    assert with_lm[-1]["noun_aug_caption"] == "A dog on a sofa."
    for seed in range(3):  # without selection: any of the three
        without = generate_negatives(corpus, types=["noun"], seed=seed, vocabulary=vocabulary, plausibility="off")
        assert without[-1]["noun_aug_caption"] in ("A dog on a sofa.", "A zebra on a sofa.", "A cat on a shelf.")


def test_plausibility_margin_keeps_only_negatives_near_the_caption():
    corpus = REAL_CAPTIONS[:100]
    free = generate_negatives(corpus, seed=0)
    strict = generate_negatives(corpus, seed=0, plausibility_margin=0.0)
    made_free = sum(sum(r["valid_caption"][1:]) for r in free)
    made_strict = sum(sum(r["valid_caption"][1:]) for r in strict)
    assert 0 < made_strict < made_free
    for a, b in zip(free, strict):  # the margin only removes: what stays is the same negative
        for t in AHNPL_TYPES:
            assert b[field_name(t)] in (INVALID, a[field_name(t)])
    with pytest.raises(ValueError, match="needs --plausibility ngram"):
        generate_negatives(corpus[:1], plausibility="off", plausibility_margin=0.5)
    with pytest.raises(ValueError, match=">= 0"):
        generate_negatives(corpus[:1], plausibility_margin=-1)


def test_plausibility_needs_the_v2_rules():
    with pytest.raises(ValueError, match="v2"):
        generate_negatives(["A dog on a bed."], rules="v1", plausibility="ngram")
    with pytest.raises(ValueError, match="unknown rules"):
        generate_negatives(["A dog on a bed."], rules="v3")


def test_doubled_word_checks():
    assert doubled_words("A man dancing and dancing with an umbrella.") == {("dancing", "dancing")}
    assert new_doubled_word("A vintage red car", "A vintage vintage car")
    assert not new_doubled_word("a train train", "a train train station")  # already in the caption
    assert not new_doubled_word("A dog on a bed", "A bed on a dog")


@pytest.mark.slow
def test_v2_output_is_the_same_for_any_worker_count():
    captions = REAL_CAPTIONS * 1 + [c.lower() for c in REAL_CAPTIONS]  # 600 distinct: three batches
    one = generate_negatives(captions, seed=3, workers=1)
    two = generate_negatives(captions, seed=3, workers=2)
    assert one == two
