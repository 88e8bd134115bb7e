"""What'sUp in the layout of github.com/amitakamath/whatsup_vlms data/: individual, pair and set
accuracy, per-preposition buckets, argmax ties (right, as the original) and the 6-subset mean."""

import json
from functools import partial

import numpy as np
import pytest

import ahnpl_plugin.benchmarks as benchmarks
from helpers.files import write_image

A_FILES = [  # (file name, outcome); the true caption is always option 0
    ("beer-bottle_on_armchair.jpeg", "right"), ("beer-bottle_under_armchair.jpeg", "tie"),
    ("beer-bottle_left_of_armchair.jpeg", "right"), ("beer-bottle_right_of_armchair.jpeg", "right"),
    ("mug_on_table.jpeg", "right"), ("mug_under_table.jpeg", "right"),
    ("mug_left_of_table.jpeg", "right"), ("mug_right_of_table.jpeg", "wrong"),
]
B_FILES = [("cube_left_of_sphere.jpeg", "right"), ("cube_right_of_sphere.jpeg", "wrong"),
           ("cube_in-front_of_sphere.jpeg", "wrong"), ("cube_behind_sphere.jpeg", "wrong")]
QA = {  # subset -> rows [image_id, true, false] with outcomes
    "coco_qa_one_obj.json": [([139, "a dog on the left", "a dog on the right"], "right"),
                             ([785, "a cat on the right", "a cat on the left"], "wrong")],
    "coco_qa_two_obj.json": [([632, "a cup to the left of a plate", "a cup to the right of a plate"],
                              "right")],
    "vg_qa_one_obj.json": [([2345, "a man on the left", "a man on the right"], "wrong")],
    "vg_qa_two_obj.json": [([2346, "a lamp behind a sofa", "a lamp in front of a sofa"], "tie"),
                           ([2347, "a cat on top of a mat", "a cat on the bottom of a mat"], "wrong")],
}
ROWS = {"right": [0.9, 0.1, 0.2, 0.3], "wrong": [0.1, 0.9, 0.2, 0.3], "tie": [0.5, 0.5, 0.2, 0.3]}


_img = partial(write_image, colour=(10, 20, 30), size=(6, 6), fmt="JPEG")


def _build(tmp_path):
    data = tmp_path / "whatsup_vlms" / "data"
    outcome = {}
    for json_name, folder, files in (("controlled_images_dataset.json", "controlled_images", A_FILES),
                                     ("controlled_clevr_dataset.json", "controlled_clevr", B_FILES)):
        records = []
        for name, result in files:
            a, prep = name.split("_")[0], name.split("_")[1].replace("-", " ")
            b = name.split("_")[-1][:-5]
            words = {"left": "to the left of", "right": "to the right of", "in front": "in front of"}
            true = f"A {a} {words.get(prep, prep)} a {b}"
            records.append({"image_path": f"data/{folder}/{name}",
                            "caption_options": [true, f"A {a} near a {b}", f"A {b} by a {a}", f"A {a}"]})
            _img(data / folder / name)
            outcome[true] = result
        (data / json_name).write_text(json.dumps(records))
    for json_name, rows in QA.items():
        (data / json_name).write_text(json.dumps([r for r, _ in rows]))
        for (image_id, true, _), result in rows:
            outcome[true] = result
            if json_name.startswith("coco"):
                _img(data / "val2017" / f"{image_id:012d}.jpg")
            else:
                _img(data / "vg_images" / f"{image_id}.jpg")
    return tmp_path / "whatsup_vlms", outcome


def _planted(bench, outcome):
    return [np.array([ROWS[outcome[it.captions[0]]][:len(it.captions)]]) for it in bench.items]


def test_whatsup_individual_pair_set_and_averages(tmp_path):
    root, outcome = _build(tmp_path)
    bench = benchmarks.load("whatsup", root)  # finds root/data/*.json; images under data/
    assert len(bench.items) == 8 + 4 + 2 + 1 + 1 + 2 and not bench.missing_images
    first = bench.items[0]
    assert first.images[0].path == str(root / "data" / "controlled_images" / "beer-bottle_on_armchair.jpeg")
    assert first.meta["pair_key"] == ("beer-bottle", "armchair") and first.meta["preposition"] == "on"
    assert bench.items[14].images[0].path == str(root / "data" / "val2017" / "000000000632.jpg")
    scores = bench.score(_planted(bench, outcome))
    assert scores["controlled_a"] == pytest.approx(7 / 8)  # the tie counts right (argmax)
    assert scores["controlled_a_pair"] == pytest.approx(3 / 4)  # 2 + (on, under) of the mug
    assert scores["controlled_a_set"] == pytest.approx(1 / 2)
    assert (scores["controlled_b"], scores["controlled_b_pair"], scores["controlled_b_set"]) == (0.25, 0, 0)
    assert scores["coco_qa_one"] == 0.5 and scores["coco_qa_two"] == 1.0
    assert scores["vg_qa_one"] == 0.0 and scores["vg_qa_two"] == 0.5
    assert scores["average"] == pytest.approx((7 / 8 + 1 / 4 + 0.5 + 1 + 0 + 0.5) / 6)
    assert scores["controlled"] == pytest.approx((7 / 8 + 1 / 4) / 2)
    assert scores["coco_qa"] == 0.75 and scores["vg_qa"] == 0.25
    assert scores["by_group"]["controlled_a/right"] == 0.5
    assert scores["by_group"]["controlled_b/in-front"] == 0.0
    assert scores["by_group"]["coco_qa_one/left"] == 1.0 and scores["by_group"]["coco_qa_one/right"] == 0.0
    assert scores["by_group"]["vg_qa_two/behind"] == 1.0 and scores["by_group"]["vg_qa_two/top"] == 0.0
    assert "a tie with a later option counts right" in scores["notes"][0]
    assert bench.item_outcomes(_planted(bench, outcome))["individual"].sum() == 7 + 1 + 1 + 1 + 0 + 1


def test_whatsup_subset_option_image_root_mapping_and_errors(tmp_path):
    root, outcome = _build(tmp_path)
    data = root / "data"
    bench = benchmarks.load("whatsup", data, image_root={"vg": str(tmp_path / "elsewhere")},
                            subsets=["vg_qa_one", "coco_qa_two"])
    assert [it.group for it in bench.all_items] == ["vg_qa_one", "coco_qa_two"]
    assert bench.missing_images == [str(tmp_path / "elsewhere" / "2345.jpg")]
    scores = bench.score(_planted(bench, outcome))
    assert scores["average"] == 1.0 and any("not comparable with vl_compo" in n for n in scores["notes"])
    with pytest.raises(benchmarks.BenchmarkError, match="unknown image_root key"):
        benchmarks.load("whatsup", data, image_root={"coco2017": "x"})
    (data / "vg_qa_two_obj.json").write_text(json.dumps([[1, "only one caption"]]))
    with pytest.raises(benchmarks.BenchmarkFormatError, match=r"vg_qa_two_obj.json: index 0"):
        benchmarks.load("whatsup", data)
    (data / "vg_qa_two_obj.json").unlink()
    with pytest.raises(benchmarks.BenchmarkFileNotFoundError, match="amitakamath/whatsup_vlms"):
        benchmarks.load("whatsup", data)
