"""Audit, plausibility model, parse-based checks and the negatives file header: known answers,
without spaCy (tokens are written by hand)."""

from __future__ import annotations

import json
import math

import pytest

from ahnpl_plugin.negatives.audit import PairClassifier, TrigramModel, is_heldout, main, preference, unchanged_meaning
from ahnpl_plugin.negatives.parsed import (
    hyphen_tokens,
    keeps_fixed_text,
    name_tokens,
    quoted_tokens,
    symmetric_between,
)
from ahnpl_plugin.negatives.plausibility import BigramModel, chooser
from ahnpl_plugin.negatives.records import read_header, read_records, write_jsonl
from ahnpl_plugin.negatives.tokens import Token
from ahnpl_plugin.negatives.vocabulary import Vocabulary

SYNONYMS = Vocabulary.load().synonyms


def toks(spec: str) -> list[Token]:
    """Tokens from "word/TAG/dep/head ..." (dep and head optional)."""
    out = []
    for item in spec.split():
        parts = item.split("/")
        out.append(Token(parts[0], " ", parts[1], parts[2] if len(parts) > 2 else "",
                         int(parts[3]) if len(parts) > 3 else -1))
    return out


# ------------------------------------------------------------------------------------ simple checks
@pytest.mark.parametrize("caption, negative, negative_type, expected", [
    ("A grey and orange fire hydrant", "An orange and grey fire hydrant", "adj_swap", "coordination swap (and)"),
    ("A dog next to a cat.", "A cat next to a dog.", "relation", "symmetric relation swap (next to)"),
    ("A rooster on a beach near the ocean.", "A rooster on the ocean near a beach.", "relation", None),
    ("A big dog on a bed.", "A large dog on a bed.", "adj", "synonym big->large"),
    ("A dog on a bed.", "A cat on a bed.", "noun", None),
    ("A dog on a bed.", "A dog on a bed!", "noun", "same words"),
    ("A man riding a horse.", "A horse riding a man.", "relation", None),
])
def test_unchanged_meaning_checks(caption, negative, negative_type, expected):
    assert unchanged_meaning(caption, negative, negative_type, SYNONYMS) == expected


# ------------------------------------------------------------------------------------ blind models
def test_preference_counts_ties_as_half():
    pairs = [("aaa", "a"), ("a", "aaa"), ("aa", "bb")]
    assert preference(len, pairs) == pytest.approx(0.5)
    assert math.isnan(preference(len, []))


def test_trigram_model_interpolates_by_hand():
    model = TrigramModel(["a b"])
    # unigram (1+1)/(3+4); bigram after <s>: (1-.75)/1 + .75*1/1*2/7; trigram after <s> <s>: same form
    p_bigram = 0.25 + 0.75 * 2 / 7
    assert model.prob("<s>", "<s>", "a") == pytest.approx(0.25 + 0.75 * p_bigram)


def test_bigram_model_interpolates_by_hand_and_chooser_takes_the_best_acceptable():
    model = BigramModel(["a b"])
    assert model.prob("<s>", "a") == pytest.approx(0.25 + 0.75 * 2 / 7)
    assert model.prob("zzz", "a") == pytest.approx(2 / 7)  # unseen context: the unigram
    corpus = BigramModel(["a dog on a bed", "a dog on a mat", "a cat on a mat"])
    choose = chooser(corpus, accept=lambda text: "mat" not in text)
    assert choose(["a bed on a dog", "a dog on a bed", "a dog on a mat"]) == "a dog on a bed"
    assert choose(["a dog on a mat"]) is None
    # a floor: nothing below it is taken, even when it is the best there is
    best = corpus.logprob("a dog on a bed")
    assert chooser(corpus, accept=lambda text: True, floor=best)(["a bed on a dog", "a dog on a bed"]) == "a dog on a bed"
    assert chooser(corpus, accept=lambda text: True, floor=best + 1e-9)(["a bed on a dog", "a dog on a bed"]) is None


def test_pair_classifier_finds_a_planted_marker_on_held_out_pairs():
    words = ["dog", "cat", "bed", "car", "tree", "man", "park", "bench", "kite", "boat"]
    captions = [f"a {x} near a {y}" for x in words for y in words if x != y]
    train = [c for c in captions if not is_heldout(c, 0.3)]
    test = [c for c in captions if is_heldout(c, 0.3)]
    assert train and test
    model = PairClassifier(train).fit([(c, c + " zzz") for c in train])
    assert preference(model.score, [(c, c + " zzz") for c in test]) == 1.0


# ------------------------------------------------------------------------------------ parse checks
def test_quoted_names_and_hyphenated_words_are_fixed():
    tokens = toks('A/DT sign/NN saying/VBG "/`` Reel/NNP Big/NNP Fish/NNP "/\'\' on/IN a/DT wall/NN')
    assert quoted_tokens(tokens) == {3, 4, 5, 6, 7}
    assert name_tokens(tokens) == {4, 5, 6}
    assert name_tokens(toks("Two/CD Dogs/NNS On/IN A/DT Bed/NN")) == set()  # Title Case says nothing
    assert hyphen_tokens(toks("A/DT double/JJ -/HYPH decker/NN bus/NN")) == {1, 2, 3}
    assert keeps_fixed_text('A sign saying "Reel Big Fish".', 'A bin saying "Reel Big Fish".')
    assert not keeps_fixed_text('A sign saying "Reel Big Fish".', 'A sign saying "Sell Big Fish".')


def test_symmetric_relations_unless_the_first_phrase_is_an_object():
    # A/0 dog/1 is/2 standing/3 next/4 to/5 a/6 cat/7
    tokens = toks("A/DT/det/1 dog/NN/nsubj/3 is/VBZ/aux/3 standing/VBG/ROOT/3 next/RB/advmod/3 to/IN/prep/4 "
                  "a/DT/det/7 cat/NN/pobj/5")
    lowers = [t.text.lower() for t in tokens]
    assert symmetric_between(lowers, tokens, 2, 6, first_head=1)
    # A/0 man/1 holding/2 a/3 bear/4 near/5 a/6 crowd/7: the bear is what is held
    tokens = toks("A/DT/det/1 man/NN/ROOT/1 holding/VBG/acl/1 a/DT/det/4 bear/NN/dobj/2 near/IN/prep/2 "
                  "a/DT/det/7 crowd/NN/pobj/5")
    lowers = [t.text.lower() for t in tokens]
    assert not symmetric_between(lowers, tokens, 5, 6, first_head=4)
    tokens = toks("A/DT/det/1 clock/NN/nsubj/2 surrounded/VBN/acl/1 by/IN/agent/2 grass/NN/pobj/3")
    assert not symmetric_between([t.text.lower() for t in tokens], tokens, 2, 4, first_head=1)


# ------------------------------------------------------------------------------------ header + readers
def test_header_line_is_written_read_and_skipped_by_every_reader(tmp_path):
    from ahnpl_plugin.data.annotations import read_train_annotations
    from ahnpl_plugin.data.negatives_join import read_negatives

    path = tmp_path / "negatives.jsonl"
    header = {"generator": "ahnpl_plugin.negatives", "version": "2.0", "rules": "v2"}
    record = {"image": "train2014/COCO_train2014_000000000009.jpg", "caption": "A dog on a bed.",
              "relation_aug_caption": "A bed on a dog.", "valid_caption": [1, 1]}
    assert write_jsonl(path, [record], header=header) == 1
    assert json.loads(path.read_text().splitlines()[0]) == {"negatives_header": header}
    assert read_header(path) == header
    assert read_records(path) == [record]
    assert [r["caption"] for r in read_train_annotations([path])] == ["A dog on a bed."]
    (joined,) = read_negatives(path).values()
    assert joined["relation_aug_caption"] == "A bed on a dog."
    released = tmp_path / "released.jsonl"  # a CE-CLIP/AHNPL-style file: no header, read as before
    write_jsonl(released, [record])
    assert read_header(released) is None and read_records(released) == [record]


def test_audit_command_prints_the_table(tmp_path, capsys):
    path = tmp_path / "negatives.jsonl"
    records = [
        {"caption": "A dog on a bed.", "noun_aug_caption": "A cat on a bed.", "valid_caption": [1, 1]},
        {"caption": "A man holding and dancing with an umbrella.",
         "noun_aug_caption": "A man dancing and dancing with an umbrella.", "valid_caption": [1, 1]},
        {"caption": "A big dog.", "noun_aug_caption": "A large dog.", "valid_caption": [1, 1]},
        {"caption": "A cat.", "noun_aug_caption": "###", "valid_caption": [1, 0]},
    ]
    write_jsonl(path, records, header={"generator": "ahnpl_plugin.negatives", "version": "2.0", "rules": "v2"})
    assert main([str(path), "--sample", "2"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.strip().startswith("noun"))
    assert row.split()[:4] == ["noun", "75.0%", "1", "1"]  # valid, doubled words, synonym
    assert "rules v2" in out and "random sample for reading (2 per type)" in out
    assert main([str(path), "--heldout-share", "1.5"]) == 2
