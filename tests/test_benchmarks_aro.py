"""ARO VG-Relation, VG-Attribution and the Order sets, on files built in their real layout."""

import json
from functools import partial

import numpy as np
import pytest

import ahnpl_plugin.benchmarks as benchmarks
from ahnpl_plugin.benchmarks import aro, aro_order
from ahnpl_plugin.benchmarks.base import open_image
from helpers.files import write_image

ARO_URL = "github.com/mertyg/vision-language-models-are-bows"


_png = partial(write_image, colour=(0, 128, 0), size=(16, 12))  # bbox 2,1,8,6 lies inside


def _vg_record(i, extra):
    return {"image_path": f"{i % 3}.jpg", "bbox_x": 2, "bbox_y": 1, "bbox_w": 8, "bbox_h": 6,
            "true_caption": f"true {i}", "false_caption": f"false {i}", "unknown_key": [1],
            **extra}


def _write_vg(root, file_name, records, images=("0.jpg", "1.jpg", "2.jpg")):
    (root / "images").mkdir(parents=True, exist_ok=True)
    for name in images:
        _png(root / "images" / name)
    (root / file_name).write_text(json.dumps(records))


def _sims_for(bench, outcome_of):
    """[[s_true, s_false]] per item from outcome_of(item) in {'right', 'wrong', 'tie'}."""
    table = {"right": [[0.9, 0.1]], "wrong": [[0.1, 0.9]], "tie": [[0.4, 0.4]]}
    return [np.array(table[outcome_of(it)]) for it in bench.items]


def test_vg_relation_macro_excludes_listed_relations_and_counts_ties_wrong(tmp_path):
    excluded = aro.excluded_relations()
    assert len(excluded) == 157 and "attached to" in excluded
    assert "on" not in excluded and "holding" not in excluded
    plan = (
        [("on", "right"), ("on", "right"), ("on", "wrong")]          # 2/3
        + [("holding", "tie"), ("holding", "right")]                  # 1/2: the tie is wrong
        + [("attached to", "right"), ("attached to", "right")]        # excluded from the macro
    )
    records = [_vg_record(i, {"relation_name": rel}) for i, (rel, _) in enumerate(plan)]
    _write_vg(tmp_path, "visual_genome_relation.json", records)
    bench = benchmarks.load("aro_vg_relation", tmp_path)
    assert len(bench.items) == 7
    first = bench.items[0]
    assert first.captions == ["true 0", "false 0"] and first.label == 0
    assert first.images[0].box == (2.0, 1.0, 8.0, 6.0)
    assert first.images[0].path == str(tmp_path / "images" / "0.jpg")
    assert open_image(first.images[0]).size == (8, 6)  # cropped as ARO does

    scores = bench.score(_sims_for(bench, lambda it: plan[it.meta["index"]][1]))
    assert scores["accuracy"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert scores["micro_accuracy"] == pytest.approx(5 / 7)
    assert scores["by_group"] == pytest.approx({"holding": 0.5, "on": 2 / 3})
    assert scores["counts"]["n_groups_excluded"] == 1
    assert scores["counts"]["n_items_in_excluded_groups"] == 2
    assert all(0.0 <= v <= 1.0 for k, v in scores.items() if isinstance(v, float))


def test_vg_attribution_macro_over_pairs_with_at_least_25_items(tmp_path):
    plan = (
        [("red", "blue", "right")] * 20 + [("red", "blue", "wrong")] * 5            # 25: 0.8
        + [("big", "small", "right")] * 15 + [("big", "small", "tie")] * 15         # 30: 0.5
        + [("wet", "dry", "right")] * 24                                            # 24: left out
    )
    records = [_vg_record(i, {"attributes": [a0, a1]}) for i, (a0, a1, _) in enumerate(plan)]
    _write_vg(tmp_path, "visual_genome_attribution.json", records)
    bench = benchmarks.load("aro_vg_attribution", tmp_path)
    scores = bench.score(_sims_for(bench, lambda it: plan[it.meta["index"]][2]))
    assert scores["by_group"] == pytest.approx({"big_small": 0.5, "red_blue": 0.8})
    assert scores["accuracy"] == pytest.approx(0.65)
    assert scores["counts"]["n_groups_below_min_count"] == 1
    assert scores["counts"]["n_items_in_small_groups"] == 24


def test_vg_missing_images_counted_or_strict_error(tmp_path):
    records = [_vg_record(i, {"relation_name": "on"}) for i in range(6)]  # images 0,1,2,0,1,2
    _write_vg(tmp_path, "visual_genome_relation.json", records, images=("0.jpg", "1.jpg"))
    bench = benchmarks.load("aro_vg_relation", tmp_path)
    assert len(bench.items) == 4 and bench.missing_images == [str(tmp_path / "images" / "2.jpg")]
    scores = bench.score(_sims_for(bench, lambda it: "right" if it.meta["index"] else "wrong"))
    assert scores["accuracy"] == pytest.approx(3 / 4)
    assert scores["counts"]["n_items_skipped_missing_images"] == 2
    assert scores["counts"]["n_missing_images"] == 1
    with pytest.raises(benchmarks.MissingImagesError, match="2.jpg"):
        benchmarks.load("aro_vg_relation", tmp_path, strict=True)


def test_vg_missing_file_and_malformed_entries(tmp_path):
    with pytest.raises(benchmarks.BenchmarkFileNotFoundError) as err:
        benchmarks.load("aro_vg_attribution", tmp_path)
    assert "visual_genome_attribution.json" in str(err.value) and ARO_URL in str(err.value)

    records = [_vg_record(i, {"relation_name": "on"}) for i in range(3)]
    del records[2]["true_caption"]
    _write_vg(tmp_path, "visual_genome_relation.json", records)
    with pytest.raises(benchmarks.BenchmarkFormatError) as err:
        benchmarks.load("aro_vg_relation", tmp_path)
    message = str(err.value)
    assert "visual_genome_relation.json" in message and "index 2" in message
    assert "true_caption" in message

    records[2]["true_caption"] = "ok"
    records[1]["bbox_w"] = "wide"
    _write_vg(tmp_path, "visual_genome_relation.json", records)
    with pytest.raises(benchmarks.BenchmarkFormatError, match=r"index 1\.bbox_w: expected int"):
        benchmarks.load("aro_vg_relation", tmp_path)

    (tmp_path / "visual_genome_relation.json").write_text('[{"image_path": "0.jpg",}')
    with pytest.raises(benchmarks.BenchmarkFormatError, match=r"relation\.json: malformed JSON at line 1, column 25"):
        benchmarks.load("aro_vg_relation", tmp_path)


# ----------------------------------------------------------------------------- Order sets
NOUNS = {"dog", "cat", "ball", "park", "man", "horse"}
ADJS = {"brown", "small", "red", "big"}


def fake_tagger(texts):
    """Whitespace tokens, punctuation split off; NN / JJ from fixed word lists, DT otherwise."""
    out = []
    for text in texts:
        tokens = text.replace(".", " .").replace(",", " ,").split()
        out.append([(t, "NN" if t.lower() in NOUNS else "JJ" if t.lower() in ADJS else "DT")
                    for t in tokens])
    return out


def test_pre_caption_matches_aro():
    assert aro_order.pre_caption('A Man, riding (a) "horse"!  ~on:the;beach* #1.') == (
        "a man, riding a horse on the beach 1")
    assert aro_order.pre_caption(" ".join(str(i) for i in range(40))) == " ".join(
        str(i) for i in range(30))


def test_perturbations_keep_their_invariants():
    tagged = fake_tagger(["the small brown dog chases a red ball near the big cat in a park"])[0]
    tokens = [t for t, _ in tagged]
    rng = np.random.default_rng(0)
    for _ in range(20):
        out = aro_order.shuffle_nouns_and_adj(tagged, rng).split()
        assert sorted(out) == sorted(tokens)
        for i, (token, tag) in enumerate(tagged):
            if tag == "NN":
                assert out[i] in NOUNS
            elif tag == "JJ":
                assert out[i] in ADJS
            else:
                assert out[i] == token
        out = aro_order.shuffle_allbut_nouns_and_adj(tagged, rng).split()
        assert sorted(out) == sorted(tokens)
        assert all(out[i] == t for i, (t, tag) in enumerate(tagged) if tag in ("NN", "JJ"))
        out = aro_order.shuffle_within_trigrams(tagged, rng).split()
        assert all(sorted(out[i:i + 3]) == sorted(tokens[i:i + 3]) for i in range(0, 15, 3))
        out = aro_order.shuffle_trigrams(tagged, rng).split()
        chunks = [tuple(tokens[i:i + 3]) for i in range(0, 15, 3)]
        assert sorted(tuple(out[i:i + 3]) for i in range(0, 15, 3)) == sorted(chunks)


def _write_karpathy(root, name, rows):
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / name).write_text(json.dumps(rows))
    for row in rows:
        _png(root / row["image"])


def test_order_set_items_seeded_identical_perturbations_dropped_and_strict_precision(tmp_path):
    rows = [
        {"image": "val2014/a.jpg", "caption": ["A small brown dog chases a red ball.",
                                               "The man rides a big horse in the park"]},
        {"image": "val2014/b.jpg", "caption": ["Dog."]},  # nothing can move: dropped
    ]
    _write_karpathy(tmp_path, "coco_karpathy_test.json", rows)
    bench = benchmarks.load("aro_coco_order", tmp_path, tagger=fake_tagger, seed=3)
    again = benchmarks.load("aro_coco_order", tmp_path, tagger=fake_tagger, seed=3)
    other = benchmarks.load("aro_coco_order", tmp_path, tagger=fake_tagger, seed=4)
    assert [it.captions for it in bench.items] == [it.captions for it in again.items]
    assert [it.captions for it in bench.items] != [it.captions for it in other.items]
    assert len(bench.items) == 2  # the one-word caption has no distinct perturbation
    first = bench.items[0]
    assert first.captions[0] == "a small brown dog chases a red ball"
    assert first.images[0].path == str(tmp_path / "val2014" / "a.jpg")
    assert first.label == 0 and first.meta["options"][0] == "caption"
    for it in bench.items:
        assert all(c != it.captions[0] for c in it.captions[1:])
        assert all(sorted(c.split()) == sorted(it.captions[0].split()) for c in it.captions)

    # planted: item 0 right; item 1: caption ties its first perturbation -> wrong (ARO: right)
    sims = [np.array([[1.0] + [0.2] * (len(bench.items[0].captions) - 1)]),
            np.array([[0.5, 0.5] + [0.1] * (len(bench.items[1].captions) - 2)])]
    scores = bench.score(sims)
    assert scores["accuracy"] == 0.5
    tied_option = bench.items[1].meta["options"][1]
    n_with = scores["counts"]["by_group"][tied_option]
    assert scores["by_group"][tied_option] == pytest.approx((n_with - 1) / n_with)
    assert scores["counts"]["n_items_without_distinct_perturbation"] == 1
    assert scores["counts"]["n_captions"] == 3
    assert any("ties as wrong" in n for n in scores["notes"])


def test_order_set_with_spacy_tags_nouns_and_adjectives(tmp_path):
    rows = [{"image": "flickr30k-images/1.jpg",
             "caption": ["Two young men playing frisbee on a green field at night."] * 2}]
    _write_karpathy(tmp_path, "flickr30k_test.json", rows)
    bench = benchmarks.load("aro_flickr_order", tmp_path, seed=0)  # default spaCy pipeline
    first, second = bench.items
    assert first.captions[0] == "two young men playing frisbee on a green field at night"
    assert first.captions != second.captions  # each caption has its own seed
    nouns = {"men", "frisbee", "field", "night"}
    options = dict(zip(first.meta["options"], first.captions))
    shuffled = options["shuffle_nouns_and_adj"].split()
    truth = first.captions[0].split()
    assert {shuffled[i] for i, w in enumerate(truth) if w in nouns} == nouns
    assert {shuffled[truth.index("young")], shuffled[truth.index("green")]} == {"young", "green"}


def test_order_set_missing_annotation_and_malformed_row(tmp_path):
    with pytest.raises(benchmarks.BenchmarkFileNotFoundError) as err:
        benchmarks.load("aro_flickr_order", tmp_path, tagger=fake_tagger)
    assert "flickr30k_test.json" in str(err.value)
    assert "sfr-vision-language-research" in str(err.value) and ARO_URL in str(err.value)
    (tmp_path / "coco_karpathy_test.json").write_text(json.dumps(
        [{"image": "a.jpg", "caption": ["fine"]}, {"image": "b.jpg", "caption": ["ok", 7]}]))
    with pytest.raises(benchmarks.BenchmarkFormatError, match=r"index 1\.caption\[1\]"):
        benchmarks.load("aro_coco_order", tmp_path, tagger=fake_tagger)


def test_order_set_averages_five_fixed_shuffle_seeds(tmp_path):
    rows = [{"image": "val2014/a.jpg", "caption": ["A small brown dog chases a red ball.",
                                                   "The man rides a big horse in the park"]}]
    _write_karpathy(tmp_path, "coco_karpathy_test.json", rows)
    bench = benchmarks.load("aro_coco_order", tmp_path, tagger=fake_tagger)  # seeds 0-4
    assert [it.meta["seed"] for it in bench.items] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    again = benchmarks.load("aro_coco_order", tmp_path, tagger=fake_tagger)
    assert [it.captions for it in again.items] == [it.captions for it in bench.items]  # fixed seeds
    single = benchmarks.load("aro_coco_order", tmp_path, tagger=fake_tagger, seed=2)
    assert [it.captions for it in single.items] == [it.captions for it in bench.items[4:6]]
    # planted: seed 0 both right, seeds 1-3 one right, seed 4 none -> (1 + .5 * 3 + 0) / 5
    right = {(0, 0), (0, 1), (1, 0), (2, 0), (3, 1)}
    sims = [np.array([[1.0 if (it.meta["seed"], k % 2) in right else 0.0]
                      + [0.5] * (len(it.captions) - 1)]) for k, it in enumerate(bench.items)]
    scores = bench.score(sims)
    assert scores["accuracy"] == pytest.approx((1 + 0.5 * 3 + 0) / 5)
    assert scores["by_group"]["seed0"] == 1.0 and scores["by_group"]["seed4"] == 0.0
    assert scores["accuracy_std"] == pytest.approx(np.std([1, 0.5, 0.5, 0.5, 0]))
    assert scores["counts"]["n_seeds"] == 5 and "mean of the per-seed precision@1" in scores["notes"][2]
    assert [it.group for it in bench.items] == [f"seed{s // 2}" for s in range(10)]  # the protocol's parts
    assert bench.item_outcomes(sims)["correct"].sum() == 5
    with pytest.raises(benchmarks.BenchmarkError, match="seed or seeds, not both"):
        benchmarks.load("aro_coco_order", tmp_path, tagger=fake_tagger, seed=1, seeds=[1, 2])
