"""Contamination report: benchmark items whose image is a training image, scores without them.

LAVIS's Karpathy train rows (``{"caption", "image": "val2014/COCO_val2014_<id>.jpg", "image_id":
"coco_<id>"}``, restval included) and VALSE items as released: relations/plurals name COCO val2017
files (``000000462576.jpg``, the same COCO id as ``COCO_val2014_000000462576.jpg``),
coreference-standard names COCO train2014 files (VisDial v1.0 is built on them), coreference-hard
VisDial val2018 files (not COCO).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from ahnpl_plugin.benchmarks.overlap import coco_image_id, main, overlap_mask, overlap_report, training_coco_ids
from ahnpl_plugin.benchmarks.protocols import ItemOutcomes

TRAIN_ROWS = [
    {"caption": "a table with breakfast", "image": "val2014/COCO_val2014_000000462576.jpg", "image_id": "coco_462576"},
    {"caption": "a man on a bench", "image": "train2014/COCO_train2014_000000057870.jpg", "image_id": "coco_57870"},
]


def test_coco_ids_from_every_naming():
    assert coco_image_id("data/coco/images/val2017/000000462576.jpg") == 462576
    assert coco_image_id("COCO_train2014_000000057870.jpg") == 57870
    assert coco_image_id("VisualDialog_val2018_000000284024.jpg") is None
    assert coco_image_id("VG_100K/2345.jpg") is None and coco_image_id("v7w_2371044.jpg") is None
    assert training_coco_ids(TRAIN_ROWS) == {462576, 57870}
    assert training_coco_ids([{"image": "x.jpg", "image_id": 5}]) == {5}


def test_visual_genome_images_match_through_vg_image_data(tmp_path, capsys):
    """VG's image_data.json rows (``image_id``, ``coco_id`` or null, as VG 1.2 ships them): a VG
    image that is a COCO training image overlaps; unpadded VG names never read as COCO 2017 ones."""
    from ahnpl_plugin.benchmarks.overlap import vg_coco_ids

    image_data = [{"image_id": 1, "url": "https://cs.stanford.edu/people/rak248/VG_100K_2/1.jpg", "width": 800,
                   "height": 600, "coco_id": None, "flickr_id": None},
                  {"image_id": 2345, "url": "https://cs.stanford.edu/people/rak248/VG_100K/2345.jpg", "width": 500,
                   "height": 333, "coco_id": 57870, "flickr_id": 1234}]
    table = vg_coco_ids(image_data)
    assert table == {2345: 57870}
    assert coco_image_id("vg/VG_100K/2345.jpg", table) == 57870 and coco_image_id("images/1.jpg", table) is None
    assert coco_image_id("000000002345.jpg", table) == 2345  # a COCO 2017 name stays a COCO id
    aro = ItemOutcomes("aro_vg_attribution", ["0", "1"], ["red:blue", "red:blue"],
                       {"correct": np.array([True, False])}, images=[["/d/images/2345.jpg"], ["/d/images/1.jpg"]])
    train = training_coco_ids(TRAIN_ROWS)
    assert overlap_mask(aro, train).tolist() == [False, False]  # without VG's table nothing matches
    assert overlap_mask(aro, train, table).tolist() == [True, False]
    (tmp_path / "train.json").write_text(json.dumps(TRAIN_ROWS))
    (tmp_path / "items.json").write_text(json.dumps({"aro_vg_attribution": aro.to_json()}))
    (tmp_path / "image_data.json").write_text(json.dumps(image_data))
    assert main(["--train", str(tmp_path / "train.json"), "--items", str(tmp_path / "items.json"),
                 "--vg-image-data", str(tmp_path / "image_data.json")]) == 0
    out = capsys.readouterr().out
    assert "1 Visual Genome images with a COCO id" in out
    assert any(line.startswith("| aro_vg_attribution | 2 | 1 |") for line in out.splitlines()), out


def _valse() -> ItemOutcomes:
    # relations: 3 items, the first on a training image (right), the others wrong/right
    # coreference-standard: 2 items, the first on a train2014 image (right), the second wrong
    # coreference-hard: 1 item on VisDial val2018 (right)
    rows = [
        ("relations", "000000462576.jpg", True), ("relations", "000000000139.jpg", False),
        ("relations", "000000000285.jpg", True),
        ("coreference-standard", "COCO_train2014_000000057870.jpg", True),
        ("coreference-standard", "COCO_train2014_000000000009.jpg", False),
        ("coreference-hard", "VisualDialog_val2018_000000284024.jpg", True),
    ]
    return ItemOutcomes("valse", [f"{p}/{i}" for i, (p, _, _) in enumerate(rows)], [p for p, _, _ in rows],
                        {"correct": np.array([ok for _, _, ok in rows])}, images=[[f"/d/{f}"] for _, f, _ in rows])


def test_overlap_mask_and_scores_without_overlapping_items():
    valse = _valse()
    train = training_coco_ids(TRAIN_ROWS)
    assert overlap_mask(valse, train).tolist() == [True, False, False, True, False, False]
    n, n_overlap, cells = overlap_report({"valse": valse}, train)["valse"]
    assert (n, n_overlap) == (6, 2)
    every, clean = cells["valse/pieces-mean"]
    # all: relations 2/3, coref-standard 1/2, coref-hard 1/1; without: relations 1/2, standard 0/1, hard 1/1
    assert every.value == pytest.approx((2 / 3 + 1 / 2 + 1) / 3) and every.n == 6
    assert clean.value == pytest.approx((1 / 2 + 0 + 1) / 3) and clean.n == 4


def test_overlap_command(tmp_path, capsys):
    (tmp_path / "train.json").write_text(json.dumps(TRAIN_ROWS))
    (tmp_path / "items.json").write_text(json.dumps({"valse": _valse().to_json()}))
    assert main(["--train", str(tmp_path / "train.json"), "--items", str(tmp_path / "items.json")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("2 distinct COCO training images; Visual Genome images not matched (give --vg-image-data)\n")
    line = next(x for x in out.splitlines() if "valse/pieces-mean" in x)
    assert line.startswith("| valse | 6 | 2 | valse/pieces-mean | 72.2 [") and "(n=6)" in line and "(n=4)" in line
    stale = ItemOutcomes("valse", ["a/0"], ["a"], {"correct": np.array([True])})
    (tmp_path / "old.json").write_text(json.dumps({"valse": stale.to_json()}))
    assert main(["--train", str(tmp_path / "train.json"), "--items", str(tmp_path / "old.json")]) == 2
    assert "carry no image paths" in capsys.readouterr().err
