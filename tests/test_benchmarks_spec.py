"""SPEC in its distributed layout (<subset>/image2text.json, text2image.json, images relative to
the subset folder): argmax accuracy per subset and direction, means over subsets."""

import json

import numpy as np
import pytest
from PIL import Image

import ahnpl_plugin.benchmarks as benchmarks
from ahnpl_plugin.benchmarks.spec import SUBSETS


def _build(tmp_path, subsets=SUBSETS):
    data = tmp_path / "SPEC" / "data"
    for subset in subsets:
        folder = data / subset / "images"
        folder.mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (5, 5), (i, 0, 0)).save(folder / f"{i}.jpg")
        i2t = [{"query": "images/0.jpg", "keys": ["a big dog", "a small dog", "a tiny dog"], "label": 0},
               {"query": "images/1.jpg", "keys": ["a big dog", "a small dog", "a tiny dog"], "label": 2}]
        t2i = [{"query": "a small dog", "keys": ["images/0.jpg", "images/1.jpg", "images/2.jpg"], "label": 1}]
        (data / subset / "image2text.json").write_text(json.dumps(i2t))
        (data / subset / "text2image.json").write_text(json.dumps(t2i))
    return tmp_path / "SPEC"


# per subset: scores of item 0 (i2t, label 0), item 1 (i2t, label 2), item 2 (t2i, label 1)
PLANTED = {
    "absolute_size": ([0.9, 0.1, 0.1], [0.1, 0.1, 0.9], [0.1, 0.9, 0.2]),  # 1, 1 | 1
    "relative_size": ([0.5, 0.5, 0.1], [0.1, 0.9, 0.9], [0.2, 0.2, 0.2]),  # tie first: right; tie
                                                                           # after a false: wrong | wrong
    "absolute_spatial": ([0.1, 0.9, 0.1], [0.1, 0.1, 0.9], [0.9, 0.1, 0.1]),  # 0, 1 | 0
    "relative_spatial": ([0.9, 0.1, 0.1], [0.1, 0.1, 0.9], [0.1, 0.9, 0.2]),  # 1, 1 | 1
    "existence": ([0.9, 0.1, 0.1], [0.9, 0.1, 0.1], [0.1, 0.9, 0.2]),  # 1, 0 | 1
    "count": ([0.1, 0.9, 0.1], [0.9, 0.1, 0.1], [0.9, 0.1, 0.1]),  # 0, 0 | 0
}
I2T = {"absolute_size": 1, "relative_size": 0.5, "absolute_spatial": 0.5, "relative_spatial": 1,
       "existence": 0.5, "count": 0}
T2I = {"absolute_size": 1, "relative_size": 0, "absolute_spatial": 0, "relative_spatial": 1,
       "existence": 1, "count": 0}


def _planted(bench):
    sims, position = [], {}
    for it in bench.items:
        k = position[it.meta["subset"]] = position.get(it.meta["subset"], -1) + 1
        row = np.array(PLANTED[it.meta["subset"]][k])
        sims.append(row[None, :] if it.meta["direction"] == "i2t" else row[:, None])
    return sims


def test_spec_argmax_accuracy_per_subset_direction_and_means(tmp_path):
    root = _build(tmp_path)
    bench = benchmarks.load("spec", root)  # finds root/data/<subset>/
    assert len(bench.items) == 18 and not bench.missing_images
    t2i = bench.items[2]
    assert t2i.captions == ["a small dog"] and t2i.label == 1 and len(t2i.images) == 3
    assert t2i.images[2].path == str(root / "data" / "absolute_size" / "images" / "2.jpg")
    scores = bench.score(_planted(bench))
    for subset in SUBSETS:
        assert scores["by_group"][f"{subset}/i2t"] == I2T[subset], subset
        assert scores["by_group"][f"{subset}/t2i"] == T2I[subset], subset
    assert scores["i2t"] == pytest.approx(sum(I2T.values()) / 6)
    assert scores["t2i"] == pytest.approx(sum(T2I.values()) / 6)
    assert scores["average"] == pytest.approx((sum(I2T.values()) + sum(T2I.values())) / 12)
    assert bench.item_outcomes(_planted(bench))["correct"][:3].tolist() == [True, True, True]
    with pytest.raises(benchmarks.ScoreInputError, match=r"expected \(3, 1\)"):
        bench.score([s.T if s.shape == (3, 1) else s for s in _planted(bench)])


def test_spec_subset_option_and_errors(tmp_path):
    root = _build(tmp_path, subsets=["count"])
    bench = benchmarks.load("spec", root / "data", subsets=["count"])
    assert bench.score(_planted(bench))["average"] == 0.0
    with pytest.raises(benchmarks.BenchmarkFileNotFoundError, match="absolute_size/image2text.json"):
        benchmarks.load("spec", root)
    (root / "data" / "count" / "text2image.json").write_text(json.dumps(
        [{"query": "a dog", "keys": ["images/0.jpg", "images/1.jpg"], "label": 2}]))
    with pytest.raises(benchmarks.BenchmarkFormatError, match=r"index 0.label: 2 is not an index"):
        benchmarks.load("spec", root, subsets=["count"])
    with pytest.raises(benchmarks.BenchmarkError, match="unknown subset"):
        benchmarks.load("spec", root, subsets=["size"])
