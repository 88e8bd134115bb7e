"""Unit tests of the negatives generator's pure-Python parts (no spaCy): inflection, edits,
vocabulary, tag grammar, rules on hand-tagged tokens, type names, input files."""

from __future__ import annotations

import json

import pytest

from ahnpl_plugin.negatives import AHNPL_TYPES, INVALID, NEGCLIP_TYPES, field_name
from ahnpl_plugin.negatives.analysis import adjective_candidates, analyse, noun_candidates, verb_candidates
from ahnpl_plugin.negatives.edits import replace_span, swap_spans
from ahnpl_plugin.errors import NegativesError
from ahnpl_plugin.negatives.inflection import article_for, match_case, pluralize, verb_forms
from ahnpl_plugin.contract import resolve_types
from ahnpl_plugin.negatives.randomness import CaptionRandom
from ahnpl_plugin.negatives.records import read_records, write_jsonl
from ahnpl_plugin.negatives.replacements import Target, choose_target, realize, vocabulary_fill
from ahnpl_plugin.negatives.swaps import SWAP_RULES
from ahnpl_plugin.negatives.tokens import Token, normalized, render
from ahnpl_plugin.negatives.vocabulary import Vocabulary, category_names

VOCAB = Vocabulary.load()


def tagged(text: str) -> list[Token]:
    """Hand-tagged tokens from "word/TAG word/TAG ..."; no space before punctuation tokens."""
    pairs = [item.rsplit("/", 1) for item in text.split()]
    tokens = []
    for k, (word, tag) in enumerate(pairs):
        nxt = pairs[k + 1][0] if k + 1 < len(pairs) else None
        ws = "" if nxt is None or nxt in {".", ",", "!", "?", "'s"} else " "
        tokens.append(Token(word, ws, tag))
    return tokens


# ------------------------------------------------------------------------------ type names
def test_type_names_and_fields_follow_the_contract():
    assert AHNPL_TYPES == ("relation", "adj_swap", "adj", "noun", "verb")
    assert INVALID == "###"
    assert [field_name(t) for t in AHNPL_TYPES] == [
        "relation_aug_caption", "adj_swap_aug_caption", "adj_aug_caption", "noun_aug_caption", "verb_aug_caption"]
    assert set(NEGCLIP_TYPES).isdisjoint(AHNPL_TYPES)
    assert resolve_types(["verb", "negclip"]) == ("verb",) + NEGCLIP_TYPES
    with pytest.raises(ValueError, match="unknown negative type 'colour'"):
        resolve_types(["colour"])
    with pytest.raises(ValueError, match="selected twice"):
        resolve_types(["noun", "ahnpl"])
    with pytest.raises(ValueError):
        field_name("nope")


# ------------------------------------------------------------------------------ inflection
@pytest.mark.parametrize("singular,plural", [
    ("dog", "dogs"), ("bus", "buses"), ("bench", "benches"), ("box", "boxes"), ("berry", "berries"),
    ("toy", "toys"), ("man", "men"), ("person", "people"), ("knife", "knives"), ("sheep", "sheep"),
    ("tomato", "tomatoes"), ("child", "children")])
def test_pluralize(singular, plural):
    assert pluralize(singular, VOCAB.irregular_plural) == plural
    if VOCAB.category_of(singular, "noun"):  # plurals of vocabulary nouns are looked up back
        assert VOCAB.singular(plural) == singular


@pytest.mark.parametrize("base,forms", [
    ("walk", ("walk", "walks", "walked", "walking", "walked")),
    ("sit", ("sit", "sits", "sat", "sitting", "sat")),
    ("ride", ("ride", "rides", "rode", "riding", "ridden")),
    ("hug", ("hug", "hugs", "hugged", "hugging", "hugged")),
    ("carry", ("carry", "carries", "carried", "carrying", "carried")),
    ("lie", ("lie", "lies", "lay", "lying", "lain")),
    ("wash", ("wash", "washes", "washed", "washing", "washed")),
    ("open", ("open", "opens", "opened", "opening", "opened")),
    ("skate", ("skate", "skates", "skated", "skating", "skated")),
    ("ski", ("ski", "skis", "skied", "skiing", "skied")),
    ("graze", ("graze", "grazes", "grazed", "grazing", "grazed")),
    ("pet", ("pet", "pets", "petted", "petting", "petted")),
])
def test_verb_forms(base, forms):
    assert verb_forms(base, VOCAB.irregular_verbs) == forms
    assert VOCAB.verb_base(forms[3]) == base


@pytest.mark.parametrize("word,article", [
    ("apple", "an"), ("orange", "an"), ("red", "a"), ("umbrella", "an"), ("unicorn", "a"),
    ("uniform", "a"), ("hour", "an"), ("horse", "a"), ("elephant", "an"), ("European", "a"),
    ("SUV", "an"), ("TV", "a"), ("8", "an"), ("one-way", "a"), ("egg", "an")])
def test_article_for(word, article):
    assert article_for(word) == article


def test_match_case():
    assert match_case("blue", "Red") == "Blue"
    assert match_case("blue", "RED") == "BLUE"
    assert match_case("blue", "red") == "blue"
    assert match_case("blue", "A") == "Blue"


def test_all_shipped_vocabulary_verbs_and_nouns_inflect_to_plain_words():
    for name in VOCAB.category_names("verb"):
        for verb in VOCAB.words(name):
            assert all(f.isalpha() for f in VOCAB.forms(verb)), verb
    for name in VOCAB.category_names("noun"):
        for noun in VOCAB.words(name):
            assert VOCAB.plural(noun).isalpha() and VOCAB.singular(VOCAB.plural(noun)) == noun, noun


# ------------------------------------------------------------------------------ vocabulary
def test_shipped_categories_are_documented_and_disjoint_within_a_role():
    names = category_names()
    assert names["adjective"] == ("colour", "material", "size", "shape", "state", "age", "pattern", "count", "quality")
    assert "figure" in names["noun"] and "animal" in names["noun"] and "object" in names["noun"]
    assert names["verb"] == ("transitive_verb", "intransitive_verb")
    for role in ("adjective", "noun", "verb"):
        seen: dict[str, str] = {}
        for name in VOCAB.category_names(role):
            for word in VOCAB.words(name):
                assert word not in seen, f"{word!r} is in {seen.get(word)} and {name}"
                assert word == word.lower() and " " not in word
                seen[word] = name
    for relation, opposite in VOCAB.relation_opposites.items():
        assert relation in VOCAB.relations and opposite in VOCAB.relations


def test_synonyms_and_hypernyms_are_never_replacements():
    excluded = VOCAB.excluded_replacements("man")
    assert {"man", "guy", "gentleman", "person"} <= excluded
    assert "woman" not in excluded  # man -> woman is the textbook negative
    assert {"grey", "gray"} <= VOCAB.excluded_replacements("gray")
    assert "person" not in VOCAB.excluded_replacements("dog")


def test_vocabulary_overrides_replace_lists_and_add_categories():
    vocab = Vocabulary.load({"color": ["red", "green"], "figure": ["circle", "square"],
                             "relation": ["above", "below", "to the left of"], "noun:tool": ["hammer", "saw"]})
    assert vocab.words("colour") == ("red", "green")
    assert vocab.category_of("hammer", "noun") == "tool"
    assert vocab.category_of("triangle", "noun") is None  # no longer a figure
    assert vocab.relations == ("above", "below", "to the left of")


@pytest.mark.parametrize("overrides,message", [
    ({"colours": ["red"]}, "unknown vocabulary category 'colours'"),
    ({"colour": "red"}, "must be a list of strings"),
    ({"colour": ["red", ""]}, r"vocabulary\['colour'\]\[1\] must be a non-empty string"),
    ({"colour": ["dark red"]}, "single words"),
    ({"thing:tool": ["saw"]}, "role prefix"),
    ({"noun:colour": ["saw"]}, "already exists with role 'adjective'"),
])
def test_bad_vocabulary_overrides_are_named(overrides, message):
    with pytest.raises(ValueError, match=message):
        Vocabulary.load(overrides)


# ------------------------------------------------------------------------------ edits
def test_swap_keeps_whitespace_punctuation_and_sentence_case():
    tokens = tagged("A/DT dog/NN on/IN a/DT bed/NN ./.")
    assert swap_spans(tokens, (0, 2), (3, 5)) == "A bed on a dog."
    tokens = tagged("Dogs/NNS ,/, cats/NNS and/CC a/DT bird/NN ./.")
    assert swap_spans(tokens, (0, 1), (4, 6)) == "A bird, cats and dogs."
    # a proper noun keeps its capital when it moves
    tokens = tagged("Paris/NNP behind/IN a/DT dog/NN")
    assert swap_spans(tokens, (0, 1), (2, 4)) == "a dog behind Paris"


def test_swap_fixes_articles_before_moved_words():
    tokens = tagged("an/DT orange/JJ circle/NN left/RB of/IN a/DT blue/JJ square/NN")
    assert swap_spans(tokens, (1, 2), (6, 7)) == "a blue circle left of an orange square"


def test_replace_keeps_case_and_fixes_article():
    tokens = tagged("A/DT red/JJ apple/NN ./.")
    assert replace_span(tokens, (1, 2), ["orange"]) == "An orange apple."
    tokens = tagged("Red/JJ apples/NNS on/IN a/DT table/NN")
    assert replace_span(tokens, (0, 1), ["green"]) == "Green apples on a table"
    tokens = tagged("A/DT CAT/NN ON/IN A/DT MAT/NN")
    assert replace_span(tokens, (1, 2), ["elephant"]) == "AN ELEPHANT ON A MAT"
    tokens = tagged("a/DT cat/NN to/IN the/DT left/NN of/IN a/DT dog/NN")
    assert replace_span(tokens, (2, 6), ["above"]) == "a cat above a dog"


def test_replace_writes_the_same_text_on_both_paths():
    """replace_span writes the common case (first word before the span) directly; its text is the
    pieces path's on every span of captions with articles, capitals, all caps and a leading number."""
    from ahnpl_plugin.negatives.edits import _case_like_rest, _replace_span_pieces
    from ahnpl_plugin.negatives.inflection import match_case

    captions = ["A/DT red/JJ apple/NN on/IN a/DT table/NN ./.", "AN/DT OLD/JJ MAN/NN WITH/IN A/DT HAT/NN",
                "2/CD dogs/NNS near/IN an/DT oven/NN", "\"/`` The/DT Cat/NNP \"/'' in/IN a/DT box/NN",
                "a/DT cat/NN 's/POS toy/NN on/IN an/DT hour/NN hand/NN"]
    for caption in captions:
        tokens = tagged(caption)
        for parsed in (False, True):
            for start in range(len(tokens)):
                for end in range(start + 1, min(len(tokens), start + 3) + 1):
                    for words in (["umbrella"], ["big", "dog"], ["UFO"], ["hour"]):
                        texts = [match_case(w, tokens[start].text) if k == 0 else _case_like_rest(w, tokens[start:end])
                                 for k, w in enumerate(words)]
                        assert replace_span(tokens, (start, end), words, parsed) == \
                            _replace_span_pieces(tokens, start, end, texts, parsed), (caption, start, end, words)
    tokens = tagged("A/DT dog/NN on/IN a/DT bed/NN ./.")
    assert replace_span(tokens, (4, 5), ["apple"]) == "A dog on an apple."


def test_normalized_ignores_case_space_and_final_punctuation():
    assert normalized("A dog  on a bed.") == normalized("a dog on a bed")
    assert normalized("A dog on a bed!") != normalized("A bed on a dog")


# ------------------------------------------------------------------------------ analysis
def test_relation_phrases_are_units_and_not_noun_phrases():
    a = analyse(tagged("A/DT small/JJ red/JJ circle/NN to/IN the/DT left/NN of/IN a/DT blue/JJ square/NN ./."), VOCAB)
    assert [(s.start, s.end) for s in a.relations] == [(4, 8)]
    assert [(c.start, c.end) for c in a.chunks] == [(0, 4), (8, 11)]
    assert verb_candidates(a) == []
    assert noun_candidates(a) == [3, 10]
    assert adjective_candidates(a) == [(1, "size"), (2, "colour"), (9, "colour")]


def test_partitives_compounds_and_tagger_slips():
    a = analyse(tagged("A/DT group/NN of/IN people/NNS near/IN a/DT fire/NN hydrant/JJ"), VOCAB)
    assert [(c.start, c.end, c.heads) for c in a.chunks] == [(0, 4, (1, 3)), (5, 8, (7,))]
    assert noun_candidates(a) == [3]  # not the frame noun "group", not the compound "fire hydrant"
    a = analyse(tagged("A/DT zebra/NN grazing/NN on/IN grass/NN"), VOCAB)
    assert a.tokens[2].tag == "VBG" and verb_candidates(a) == [2]
    a = analyse(tagged("a/DT man/NN skiing/VBG down/RP a/DT snowy/FW hill/NN"), VOCAB)
    assert adjective_candidates(a) == [(5, "state")]


def test_colour_used_as_a_noun_is_an_adjective():
    a = analyse(tagged("A/DT man/NN in/IN red/NN"), VOCAB)
    assert noun_candidates(a) == [1]
    assert adjective_candidates(a) == [(3, "colour")]


# ------------------------------------------------------------------------------ rules
def run_swap(rule: str, text: str, seed: int = 0) -> str | None:
    return SWAP_RULES[rule](analyse(tagged(text), VOCAB), CaptionRandom.of(seed, rule, text))


def test_relation_swap_moves_whole_noun_phrases():
    assert run_swap("relation", "a/DT dog/NN on/IN a/DT bed/NN") == "a bed on a dog"
    assert run_swap("relation", "A/DT small/JJ red/JJ circle/NN to/IN the/DT left/NN of/IN a/DT blue/JJ square/NN ./.") \
        == "A blue square to the left of a small red circle."


def test_relation_swap_needs_a_relation_not_a_list():
    assert run_swap("relation", "a/DT cat/NN and/CC a/DT dog/NN") is None
    assert run_swap("relation", "a/DT dog/NN on/IN a/DT dog/NN") is None
    assert run_swap("relation", "a/DT dog/NN") is None
    # different number and an agreeing verb: swapping would read "The harbor are ..."
    assert run_swap("relation", "Several/JJ boats/NNS are/VBP docked/VBN in/IN the/DT harbor/NN") is None


def test_adjective_swap_binds_attributes_across_noun_phrases():
    text = "a/DT red/JJ circle/NN left/VBN of/IN a/DT blue/JJ square/NN"
    assert run_swap("adj_swap", text) == "a blue circle left of a red square"
    # same kind preferred: colours swap with colours, sizes with sizes
    text = "a/DT small/JJ red/JJ circle/NN above/IN a/DT large/JJ blue/JJ square/NN"
    for seed in range(6):
        assert run_swap("adj_swap", text, seed) in ("a large red circle above a small blue square",
                                                    "a small blue circle above a large red square")
    assert run_swap("adj_swap", "A/DT black/JJ and/CC white/JJ cat/NN") is None  # one noun phrase
    assert run_swap("adj_swap", "two/CD dogs/NNS and/CC a/DT red/JJ cat/NN") is None  # count <-> colour


def test_negclip_swaps():
    assert run_swap("negclip_nn", "a/DT horse/NN eating/VBG the/DT grass/NN") == "a grass eating the horse"
    assert run_swap("negclip_adj", "a/DT black/JJ and/CC white/JJ cat/NN") == "a white and black cat"
    assert run_swap("negclip_vp", "a/DT man/NN riding/VBG a/DT horse/NN and/CC a/DT woman/NN holding/VBG a/DT cup/NN") \
        == "a man holding a cup and a woman riding a horse"
    assert run_swap("negclip_adv", "a/DT dog/NN running/VBG fast/RB") is None


def test_replacement_targets_and_fills():
    text = "two/CD dogs/NNS sitting/VBG on/IN a/DT red/JJ bench/NN"
    a = analyse(tagged(text), VOCAB)
    rng = CaptionRandom.of(0, "noun", text)
    target = choose_target(a, "noun", rng)
    assert target.base in ("dog", "bench") and target.role == "noun"
    word = vocabulary_fill(target, VOCAB, rng)
    assert VOCAB.category_of(word, "noun") == VOCAB.category_of(target.base, "noun")
    assert word not in VOCAB.excluded_replacements(target.base)
    # number is kept, the article follows the new word
    dogs = Target(1, 2, "noun", "dogs", "dog", "animal", "NNS", True)
    assert realize(a, dogs, "cat") == "two cats sitting on a red bench"
    red = Target(5, 6, "adjective", "red", "red", "colour", "JJ", True)
    assert realize(a, red, "orange") == "two dogs sitting on an orange bench"
    sitting = Target(2, 3, "verb", "sitting", "sit", "intransitive_verb", "VBG", True)
    assert realize(a, sitting, "lie") == "two dogs lying on a red bench"
    on = Target(3, 4, "relation", "on", "on", "relation", "IN", True)
    assert vocabulary_fill(on, VOCAB, rng) == "under"
    assert realize(a, on, "on top of") == "two dogs sitting on top of a red bench"


def test_verb_pool_follows_transitivity():
    a = analyse(tagged("a/DT man/NN riding/VBG a/DT horse/NN"), VOCAB)
    for seed in range(5):
        target = choose_target(a, "verb", CaptionRandom.of(seed, "verb", "x"))
        assert target.pool == "transitive_verb" and target.base == "ride"
    a = analyse(tagged("a/DT man/NN sitting/VBG"), VOCAB)
    assert choose_target(a, "verb", CaptionRandom.of(0, "verb", "x")).pool == "intransitive_verb"


def test_caption_random_is_stable():
    first = [CaptionRandom.of(7, "noun", "a dog").next64() for _ in range(2)]
    assert first[0] == first[1]
    assert CaptionRandom.of(7, "noun", "a dog").next64() != CaptionRandom.of(8, "noun", "a dog").next64()
    assert CaptionRandom.of(7, "noun", "a dog").next64() != CaptionRandom.of(7, "verb", "a dog").next64()
    rng = CaptionRandom.of(0, "adj", "\ud800 lone surrogate")  # any str, even one invalid in UTF-8
    assert rng.choice("abc") in "abc"
    # pinned: a change to the stream would silently change every generated file
    assert CaptionRandom.of(0, "relation", "A dog on a bed.").next64() == 4333021879492771445


def test_render_round_trip():
    tokens = tagged("A/DT dog/NN ,/, a/DT cat/NN ./.")
    assert render(tokens) == "A dog, a cat."


# ------------------------------------------------------------------------------ input files
def test_read_coco_karpathy_jsonl_and_text(tmp_path):
    coco = tmp_path / "captions.json"
    coco.write_text(json.dumps({"images": [], "annotations": [
        {"image_id": 1, "id": 10, "caption": "A dog."}, {"image_id": 2, "id": 11, "caption": "A cat."}]}))
    assert read_records(coco) == [{"image_id": 1, "id": 10, "caption": "A dog."},
                                  {"image_id": 2, "id": 11, "caption": "A cat."}]
    karpathy = tmp_path / "coco_karpathy_test.json"
    karpathy.write_text(json.dumps([{"image": "x.jpg", "image_id": "x", "caption": ["One.", "Two."]},
                                    {"image": "y.jpg", "image_id": "y", "caption": "Three."}]))
    assert [r["caption"] for r in read_records(karpathy)] == ["One.", "Two.", "Three."]
    assert read_records(karpathy)[1] == {"image": "x.jpg", "image_id": "x", "caption": "Two."}
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text('{"caption": "A", "k": 1}\n\n{"caption": "B"}\n')
    assert read_records(jsonl) == [{"caption": "A", "k": 1}, {"caption": "B"}]
    text = tmp_path / "in.txt"
    text.write_text("A dog.\n\n  \nCafé ☕\n", encoding="utf-8")
    assert read_records(text) == [{"caption": "A dog."}, {"caption": ""}, {"caption": "  "}, {"caption": "Café ☕"}]


@pytest.mark.parametrize("name,content,message", [
    ("bad.json", '{"annotations": [{"caption": "x"},]}', r"bad\.json: malformed JSON at line 1, column 35"),
    ("bad.jsonl", '{"caption": "x"}\n{"caption": \n', r"bad\.jsonl: line 2, column 13: malformed JSON"),
    ("nocap.json", '{"annotations": [{"id": 1}]}', r"nocap\.json: annotations\[0\] has no 'caption'"),
    ("num.json", '[{"caption": 3}]', r"num\.json: \[0\]: 'caption' must be a string"),
    ("dict.json", '{"images": []}', r"expected a COCO captions file"),
])
def test_bad_input_files_are_named_with_position(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(NegativesError, match=message):
        read_records(path)


def test_missing_and_non_utf8_inputs(tmp_path):
    with pytest.raises(NegativesError, match="no such file"):
        read_records(tmp_path / "missing.txt")
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"caf\xe9\n")
    with pytest.raises(NegativesError, match=r"not UTF-8 text \(bad byte at offset 3\)"):
        read_records(path)


def test_write_jsonl_is_atomic(tmp_path):
    out = tmp_path / "out.jsonl"

    def records():
        yield {"caption": "ok"}
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_jsonl(out, records())
    assert list(tmp_path.iterdir()) == []
    assert write_jsonl(out, [{"caption": "é"}, {"caption": "\ud800"}]) == 2
    lines = out.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0]) == {"caption": "é"} and json.loads(lines[1]) == {"caption": "\ud800"}
