"""Blind (text-only) baseline: a word-bigram LM of training captions, hand-computed probabilities,
and the blind row on released-format SugarCrepe and Winoground items."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import ahnpl_plugin.benchmarks as benchmarks
from ahnpl_plugin.benchmarks.blind import BigramLanguageModel, blind_outcomes, blind_sims, main, words
from ahnpl_plugin.benchmarks.cells import model_cells

TRAIN = ["A man holds a dog.", "a man holds a cup"]


def test_bigram_probabilities_by_hand():
    lm = BigramLanguageModel(k=1.0).fit(TRAIN)
    assert words("A man, holds: a DOG!") == ["a", "man", "holds", "a", "dog"]
    # vocabulary: </s>, <unk>, a, man, holds, dog, cup -> |V| = 7
    # P(a|<s>) = (2+1)/(2+7); P(man|a) = (2+1)/(4+7); P(</s>|man) = (0+1)/(2+7)
    assert lm.log_prob("a man") == pytest.approx(math.log(3 / 9) + math.log(3 / 11) + math.log(1 / 9))
    # an unseen word is <unk>: P(<unk>|a) = 1/11, P(</s>|<unk>) = 1/7
    assert lm.log_prob("a zebra") == pytest.approx(math.log(3 / 9) + math.log(1 / 11) + math.log(1 / 7))
    assert lm.log_prob("a man holds a dog") > lm.log_prob("a dog holds a man")


def _sugarcrepe(tmp_path):
    data = tmp_path / "sugarcrepe"
    data.mkdir()
    (data / "swap_obj.json").write_text(json.dumps({
        "107": {"filename": "000000397133.jpg", "caption": "a man holds a dog", "negative_caption": "a dog holds a man"},
        "109": {"filename": "000000397133.jpg", "caption": "a dog holds a man", "negative_caption": "a man holds a dog"},
    }))
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "000000397133.jpg").write_bytes(b"not decoded")
    return benchmarks.load("sugarcrepe", data, image_root=tmp_path / "img", files=["swap_obj"])


def test_blind_row_scores_captions_without_the_image(tmp_path):
    bench = _sugarcrepe(tmp_path)
    lm = BigramLanguageModel().fit(TRAIN)
    sims = blind_sims(bench, lm.log_prob)
    assert sims[0].shape == (1, 2) and sims[0][0, 0] == lm.log_prob("a man holds a dog")
    cells = model_cells(blind_outcomes([bench], lm.log_prob))
    # item 107: the true caption is a training caption -> right; item 109: the true caption is the
    # swapped one and the negative the training caption -> the blind prior picks the negative
    assert cells["sugarcrepe/swap_obj"].value == 0.5 and cells["sugarcrepe/swap_obj"].n == 2


def test_blind_winoground_is_zero_by_construction(tmp_path):
    folder = tmp_path / "winoground"
    (folder / "images").mkdir(parents=True)
    for name in ("ex_0_img_0", "ex_0_img_1"):
        (folder / "images" / f"{name}.png").write_bytes(b"x")
    (folder / "examples.jsonl").write_text(json.dumps(
        {"id": 0, "image_0": "ex_0_img_0", "image_1": "ex_0_img_1", "caption_0": "a man holds a dog",
         "caption_1": "a dog holds a man", "tag": "Object"}) + "\n")
    bench = benchmarks.load("winoground", folder)
    cells = model_cells(blind_outcomes([bench], BigramLanguageModel().fit(TRAIN).log_prob))
    assert cells["winoground/text"].value == cells["winoground/image"].value == cells["winoground/group"].value == 0.0


def test_blind_command_on_a_suite_config(tmp_path, capsys):
    import yaml

    bench = _sugarcrepe(tmp_path)
    (tmp_path / "train.json").write_text(json.dumps([{"caption": c, "image": "x.jpg"} for c in TRAIN]))
    cfg = tmp_path / "eval.yaml"
    cfg.write_text(yaml.safe_dump({
        "model": {"arch": "ahnpl_clip", "model_type": "tiny", "pretrained": ""},
        "datasets": {"ahnpl_sugarcrepe": {"root": str(tmp_path / "sugarcrepe"), "image_root": str(tmp_path / "img"),
                                          "options": {"files": ["swap_obj"]}},
                     "ahnpl_winoground": {"root": str(tmp_path / "nowhere")}},
        "run": {"task": "ahnpl_compositional", "output_dir": str(tmp_path / "o")}}))
    assert main(["--cfg-path", str(cfg), "--train", str(tmp_path / "train.json")]) == 0
    captured = capsys.readouterr()
    assert "not evaluated: datasets.ahnpl_winoground: Winoground not found" in captured.err
    row = next(line for line in captured.out.splitlines() if line.startswith("| **blind: word-bigram LM on 2"))
    assert len(bench.items) == 2 and "| 50.0 [" in row  # swap_obj and swap-pooled


def test_blind_sugarcrepe_pp_itt_from_the_prior_and_tot_wrong(tmp_path):
    """SugarCrepe++ needs caption-caption similarities; the blind prior has none, so its text-only
    ``tot`` is all ties (wrong), while ``itt`` is the prior's choice as for any benchmark."""
    import test_benchmarks_sugarcrepe_pp as scpp_tests

    root, images = scpp_tests._build(tmp_path)
    bench = benchmarks.load("sugarcrepe_pp", root, image_root=images)
    score = {c: (0.0 if c == it.captions[2] else 1.0) for it in bench.items for c in it.captions}.get
    cells = model_cells(blind_outcomes([bench], score))
    negative_is_positive = sum(it.captions[2] in it.captions[:2] for it in bench.items)
    assert cells["sugarcrepe_pp/tot"].value == 0.0 and cells["sugarcrepe_pp/tot"].n == len(bench.items)
    # the item whose negative equals a positive is a tie (wrong); every other item is right
    zeros = [np.zeros((3, 3))] * len(bench.items)
    scores = bench.score(blind_sims(bench, score), text_sims=zeros)
    assert negative_is_positive == 1 and cells["sugarcrepe_pp/itt"].value == pytest.approx(scores["itt"])
    assert 0.5 < scores["itt"] < 1.0 and scores["tot"] == 0.0
