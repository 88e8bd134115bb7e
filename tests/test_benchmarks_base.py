"""Benchmark core: items, image refs, crop, missing images, sims validation, encode-once helpers."""

import sys

import numpy as np
import pytest
from PIL import Image

import ahnpl_plugin.benchmarks as benchmarks
from ahnpl_plugin.benchmarks.base import Benchmark, ImageRef, Item, open_image
from ahnpl_plugin.benchmarks.scoring import caption_choice_correct, correct_by_item
from helpers.files import write_image as _png


def _accuracy_scorer(items, sims):
    return {"accuracy": float(correct_by_item(items, sims).mean())}


def test_package_import_is_light_and_lists_every_benchmark():
    assert benchmarks.BENCHMARK_NAMES == (
        "aro_vg_relation", "aro_vg_attribution", "aro_coco_order", "aro_flickr_order",
        "sugarcrepe", "valse", "vl_checklist", "winoground",
        "sugarcrepe_pp", "whatsup", "spec", "crepe", "eqben",
        "imagecode", "svo_probes", "colorswap", "mmvp_vlm",
    )
    with pytest.raises(benchmarks.BenchmarkError, match="unknown benchmark 'nope'"):
        benchmarks.load("nope", ".")


def test_no_torch_or_lavis_import_in_package():
    import subprocess

    code = ("import sys, ahnpl_plugin.benchmarks as b\n"
            "from ahnpl_plugin.benchmarks import aro, aro_order, sugarcrepe, valse, "
            "vl_checklist, winoground, published, report\n"
            "assert 'torch' not in sys.modules and 'lavis' not in sys.modules, 'heavy import'\n"
            "assert 'spacy' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_strict_choice_counts_ties_as_wrong():
    assert caption_choice_correct(np.array([[0.9, 0.1, 0.2]]), 0)
    assert not caption_choice_correct(np.array([[0.9, 0.9, 0.2]]), 0)  # tie with a false one
    assert not caption_choice_correct(np.array([[0.5, 0.5]]), 1)
    assert caption_choice_correct(np.array([[0.1, 0.7]]), 1)
    assert not caption_choice_correct(np.array([[0.3, 0.3, 0.3]]), 2)  # constant scores: wrong


def test_open_image_applies_aro_crop_box(tmp_path):
    image = Image.new("RGB", (20, 10), (255, 0, 0))
    image.paste((0, 0, 255), (10, 0, 20, 10))  # right half blue
    image.save(tmp_path / "im.png")
    cropped = open_image(ImageRef(str(tmp_path / "im.png"), (10, 2, 6, 5)))
    assert cropped.size == (6, 5)
    assert set(cropped.getdata()) == {(0, 0, 255)}
    whole = open_image(str(tmp_path / "im.png"))
    assert whole.size == (20, 10) and whole.mode == "RGB"


def test_missing_images_are_skipped_and_counted_or_raise_when_strict(tmp_path):
    _png(tmp_path / "a.png")
    items = [
        Item([ImageRef(str(tmp_path / "a.png"))], ["x", "y"], 0, "g"),
        Item([ImageRef(str(tmp_path / "gone.png"))], ["x", "z"], 0, "g"),
        Item([ImageRef(str(tmp_path / "a.png"), (0, 0, 2, 2))], ["y", "x"], 0, "g"),
    ]
    bench = Benchmark("demo", items, _accuracy_scorer)
    assert len(bench.items) == 2 and len(bench.skipped_items) == 1
    assert bench.missing_images == [str(tmp_path / "gone.png")]
    scores = bench.score([np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])])
    assert scores["accuracy"] == 0.5  # over the 2 items evaluated
    assert scores["counts"] == {"n_items": 2, "n_items_skipped_missing_images": 1,
                                "n_missing_images": 1, "n_missing_parts": 0,
                                "skipped_by_group": {"g": 1}}
    assert any("1 of 3 items skipped" in n for n in scores["notes"])
    with pytest.raises(benchmarks.MissingImagesError, match=r"gone\.png"):
        Benchmark("demo", items, _accuracy_scorer, strict=True)


def test_score_rejects_wrong_count_shape_and_nan(tmp_path):
    _png(tmp_path / "a.png")
    items = [Item([ImageRef(str(tmp_path / "a.png"))], ["x", "y"], 0, "g")] * 2
    bench = Benchmark("demo", items, _accuracy_scorer)
    with pytest.raises(benchmarks.ScoreInputError, match="got 1 similarity arrays for 2 items"):
        bench.score([np.zeros((1, 2))])
    with pytest.raises(benchmarks.ScoreInputError, match=r"sims\[1\] has shape \(2, 1\)"):
        bench.score([np.zeros((1, 2)), np.zeros((2, 1))])
    with pytest.raises(benchmarks.ScoreInputError, match=r"sims\[0\] contains NaN"):
        bench.score([np.array([[np.nan, 0.0]]), np.zeros((1, 2))])


def test_unique_images_captions_and_sims_from_features(tmp_path):
    _png(tmp_path / "a.png")
    _png(tmp_path / "b.png")
    a = ImageRef(str(tmp_path / "a.png"))
    a_crop = ImageRef(str(tmp_path / "a.png"), (0, 0, 4, 4))
    b = ImageRef(str(tmp_path / "b.png"))
    items = [
        Item([a], ["red", "blue"], 0, "g"),
        Item([a_crop], ["blue", "green"], 1, "g"),
        Item([b, a], ["red", "green"], None, "g"),
    ]
    bench = Benchmark("demo", items, lambda its, s: {})
    assert bench.unique_images() == [a, a_crop, b]  # a crop is another image
    assert bench.unique_captions() == ["red", "blue", "green"]
    assert bench.item_indices() == [([0], [0, 1]), ([1], [1, 2]), ([2, 0], [0, 2])]
    image_feats = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    text_feats = np.array([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6]])
    sims = bench.sims_from_features(image_feats, text_feats)
    np.testing.assert_allclose(sims[0], [[1.0, 0.0]])
    np.testing.assert_allclose(sims[1], [[1.0, 0.6]])
    np.testing.assert_allclose(sims[2], [[0.6, 0.96], [1.0, 0.8]])
    with pytest.raises(benchmarks.ScoreInputError, match=r"image_feats must be \[3, D\]"):
        bench.sims_from_features(image_feats[:2], text_feats)
    assert items[2].as_eval_dict() == {"images": [b.path, a.path], "captions": ["red", "green"],
                                       "label": None, "category": "g"}
