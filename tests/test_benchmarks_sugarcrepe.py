"""SugarCrepe on its seven files (non-contiguous ids), per-file accuracy and micro averages."""

import json

import numpy as np
import pytest
from PIL import Image

import ahnpl_plugin.benchmarks as benchmarks

# file stem -> outcome per item, in id order
PLAN = {
    "replace_obj": ["right", "right", "right", "wrong"],  # 3/4
    "replace_att": ["right", "tie"],                       # 1/2 (tie is wrong)
    "replace_rel": ["wrong"],                              # 0
    "swap_obj": ["right", "right", "wrong"],               # 2/3, ids 106, 107, 109 (no 108)
    "swap_att": ["right"],                                 # 1
    "add_obj": ["right", "right"],                         # 1
    "add_att": ["right", "wrong", "wrong"],                # 1/3
}


def _build(tmp_path):
    data, images = tmp_path / "sugar-crepe" / "data", tmp_path / "val2017"
    data.mkdir(parents=True)
    images.mkdir()
    for stem, outcomes in PLAN.items():
        ids = [str(i) for i in range(len(outcomes))]
        if stem == "swap_obj":
            ids = ["106", "107", "109"]  # like the real file: no "108"
        records = {}
        for key, outcome in zip(ids, outcomes):
            filename = f"{abs(hash((stem, key))) % 10**12:012d}.jpg"
            Image.new("RGB", (4, 4), (1, 2, 3)).save(images / filename)
            records[key] = {"filename": filename, "caption": f"{stem} {key} {outcome}",
                            "negative_caption": f"not {stem} {key}"}
        (data / f"{stem}.json").write_text(json.dumps(records))
    return tmp_path / "sugar-crepe", images


def _planted(bench):
    table = {"right": [[0.8, 0.3]], "wrong": [[0.3, 0.8]], "tie": [[0.5, 0.5]]}
    return [np.array(table[it.captions[0].split()[-1]]) for it in bench.items]


def test_sugarcrepe_per_file_and_micro_aggregates(tmp_path):
    root, images = _build(tmp_path)
    bench = benchmarks.load("sugarcrepe", root, image_root=images)  # finds root/data/*.json
    assert len(bench.items) == 16
    assert [it.meta["id"] for it in bench.items if it.group == "swap_obj"] == ["106", "107", "109"]
    scores = bench.score(_planted(bench))
    expected = {
        "replace_obj": 3 / 4, "replace_att": 1 / 2, "replace_rel": 0.0, "swap_obj": 2 / 3,
        "swap_att": 1.0, "add_obj": 1.0, "add_att": 1 / 3,
        "replace": 4 / 7, "swap": 3 / 4, "add": 3 / 5, "average": 10 / 16,
    }
    for key, value in expected.items():
        assert scores[key] == pytest.approx(value), key
    # micro, not macro: the macro of the three families would be (4/7 + 3/4 + 3/5) / 3
    assert scores["average"] != pytest.approx((4 / 7 + 3 / 4 + 3 / 5) / 3)
    assert scores["counts"]["by_group"]["replace_obj"] == 4


def test_sugarcrepe_subset_missing_file_and_malformed_key(tmp_path):
    root, images = _build(tmp_path)
    bench = benchmarks.load("sugarcrepe", root / "data", image_root=images, files=["swap_att"])
    assert bench.score(_planted(bench))["average"] == 1.0
    (root / "data" / "add_att.json").unlink()
    with pytest.raises(benchmarks.BenchmarkFileNotFoundError) as err:
        benchmarks.load("sugarcrepe", root, image_root=images)
    assert "add_att.json" in str(err.value) and "github.com/RAIVNLab/sugar-crepe" in str(err.value)
    (root / "data" / "add_att.json").write_text(json.dumps(
        {"0": {"filename": "x.jpg", "caption": "a"}, "5": {"filename": "y.jpg"}}))
    with pytest.raises(benchmarks.BenchmarkFormatError) as err:
        benchmarks.load("sugarcrepe", root, image_root=images)
    assert "add_att.json" in str(err.value) and "key '0'" in str(err.value)
    assert "negative_caption" in str(err.value)
    with pytest.raises(benchmarks.BenchmarkError, match="image_root is required"):
        benchmarks.load("sugarcrepe", root)


def test_sugarcrepe_missing_images_counted(tmp_path):
    root, images = _build(tmp_path)
    gone = sorted(images.iterdir())[:2]
    for path in gone:
        path.unlink()
    bench = benchmarks.load("sugarcrepe", root, image_root=images)
    assert len(bench.items) == 14 and sorted(bench.missing_images) == sorted(map(str, gone))
    scores = bench.score(_planted(bench))
    assert scores["counts"]["n_items_skipped_missing_images"] == 2
    assert scores["counts"]["n_items"] == 14
    with pytest.raises(benchmarks.MissingImagesError):
        benchmarks.load("sugarcrepe", root, image_root=images, strict=True)
