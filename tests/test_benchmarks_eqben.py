"""EqBen in its released layouts (the subset's flat list; per-source files nested as
eqben_utils.py reads them; YouCook2 .npy frames): Winoground scores per source and vl_compo's
average (Kubric's three splits first)."""

import json

import numpy as np
import pytest
from PIL import Image

import ahnpl_plugin.benchmarks as benchmarks
from ahnpl_plugin.benchmarks import open_image

RIGHT = [[1.0, 0.0], [0.0, 1.0]]
TEXT_ONLY = [[0.5, 0.1], [0.9, 1.0]]
WRONG = [[0.0, 1.0], [1.0, 0.0]]
PLAN = [("eqbenag", RIGHT), ("eqbenag", WRONG), ("eqbenyoucook2", RIGHT), ("eqbengebc", WRONG),
        ("eqbenkubric_loc", RIGHT), ("eqbenkubric_attr", WRONG), ("eqbenkubric_cnt", TEXT_ONLY),
        ("eqbensd", TEXT_ONLY)]


def _image(path, npy=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    if npy:
        np.save(path, np.stack([np.full((4, 5), c, np.uint8) for c in (10, 20, 200)], axis=-1))
    else:
        Image.new("RGB", (5, 4), (1, 2, 3)).save(path)


def _subset_layout(tmp_path):
    images, records = tmp_path / "eqben_subset" / "images", []
    for k, (source, _) in enumerate(PLAN):
        ext = "npy" if source == "eqbenyoucook2" else "png"
        pair = [f"{source}/video{k}/frame_{j}.{ext}" for j in (0, 1)]
        for p in pair:
            _image(images / p, npy=ext == "npy")
        records.append({"image0": pair[0], "caption0": f"{source} before {k}",
                        "image1": pair[1], "caption1": f"{source} after {k}"})
    (tmp_path / "eqben_subset" / "ann_json_subset.json").write_text(json.dumps(records))
    return tmp_path / "eqben_subset" / "ann_json_subset.json", images


def _planted(bench):
    return [np.array(PLAN[int(it.captions[0].split()[-1])][1]) for it in bench.items]


def test_eqben_subset_scores_per_source_and_vl_compo_average(tmp_path):
    annotation, images = _subset_layout(tmp_path)
    bench = benchmarks.load("eqben", annotation, image_root=images)
    assert len(bench.items) == 8 and not bench.missing_images
    assert [it.group for it in bench.items] == [s for s, _ in PLAN]
    frame = open_image(bench.items[2].images[0])  # YouCook2 .npy, BGR -> RGB
    assert frame.size == (5, 4) and frame.getpixel((0, 0)) == (200, 20, 10)
    scores = bench.score(_planted(bench))
    g = scores["by_group"]
    assert (g["eqbenag/group"], g["eqbenyoucook2/group"], g["eqbengebc/group"]) == (0.5, 1.0, 0.0)
    assert g["eqbenkubric/group"] == pytest.approx(1 / 3) and g["eqbenkubric/text"] == pytest.approx(2 / 3)
    assert (g["eqbensd/text"], g["eqbensd/image"], g["eqbensd/group"]) == (1.0, 0.0, 0.0)
    assert scores["group"] == pytest.approx((0.5 + 1 + 0 + 1 / 3 + 0) / 5)
    assert scores["text"] == pytest.approx((0.5 + 1 + 0 + 2 / 3 + 1) / 5)
    assert scores["image"] == pytest.approx((0.5 + 1 + 0 + 1 / 3 + 0) / 5)
    # not the pooled group accuracy (2/8) nor the mean over the seven sources
    assert scores["group"] != pytest.approx(2 / 8)
    assert "8 of the 251048 samples" in scores["notes"][0]
    assert bench.item_outcomes(_planted(bench))["group"].tolist() == [
        True, False, True, False, True, False, False, False]


def test_eqben_per_source_files_nested_layouts_and_errors(tmp_path):
    folder = tmp_path / "eqben_full"
    # AG: video -> subject -> [records], captions are lists (the first one is used)
    ag = {"video1.mp4": {"person1": [{"image0": "ag/v1/0.png", "image1": "ag/v1/1.png",
                                      "caption0": ["a person holds a cup", "other"],
                                      "caption1": ["a person drinks from a cup"]}]}}
    gebc = {"video2": [{"image0": "gebc/0.png", "image1": "gebc/1.png", "caption0": "before",
                        "caption1": "after"}]}
    for name, data in (("eqbenag.json", ag), ("eqbengebc.json", gebc), ("notes.json", [])):
        folder.mkdir(exist_ok=True)
        (folder / name).write_text(json.dumps(data))
    for p in ("ag/v1/0.png", "ag/v1/1.png", "gebc/0.png", "gebc/1.png"):
        _image(folder / p)
    bench = benchmarks.load("eqben", folder, annotation_files=["eqbenag.json", "eqbengebc.json"])
    assert [it.group for it in bench.items] == ["eqbenag", "eqbengebc"]  # from the file stems
    assert bench.items[0].captions == ["a person holds a cup", "a person drinks from a cup"]
    scores = bench.score([np.array(RIGHT), np.array(WRONG)])
    assert scores["group"] == 0.5 and "not comparable with vl_compo" in scores["notes"][-1]
    unknown = benchmarks.load("eqben", folder / "notes.json")
    assert len(unknown.items) == 0
    (folder / "notes.json").write_text(json.dumps([{"image0": "x/0.png", "image1": "x/1.png",
                                                    "caption0": "a", "caption1": "b"}]))
    _image(folder / "x" / "0.png")
    _image(folder / "x" / "1.png")
    pooled = benchmarks.load("eqben", folder / "notes.json").score([np.array(RIGHT)])
    assert pooled["group"] == 1.0 and "none has a known source" in pooled["notes"][-1]
    (folder / "eqbengebc.json").write_text(json.dumps({"video2": [{"image0": "gebc/0.png"}]}))
    with pytest.raises(benchmarks.BenchmarkFormatError, match=r"eqbengebc.json: 'video2'\[0\].image1"):
        benchmarks.load("eqben", folder)
    with pytest.raises(benchmarks.BenchmarkFileNotFoundError, match="Wangt-CN/EqBen"):
        benchmarks.load("eqben", tmp_path / "nowhere")
