"""CREPE productivity and systematicity CSVs as distributed (pandas CSVs, hard_negs as a Python
list literal, region x/y/width/height): recall@k with ties against the caption, crop boxes."""

import csv

import numpy as np
import pytest
from PIL import Image

import ahnpl_plugin.benchmarks as benchmarks
from ahnpl_plugin.benchmarks import open_image

HEADER = ["", "image_id", "caption", "hard_negs", "x", "y", "width", "height", "complexity"]
# (type, complexity) -> rows of (image_id, caption, negatives, planted scores [caption, negs...])
PLAN = {
    ("atom", 4): [(1, "a red car on a road", ["a blue car on a road", "a red bus on a road"], [0.9, 0.1, 0.2]),
                  (2, "a man holds a cup", ["a man holds a dog", "a boy holds a cup", "a man drops a cup",
                                            "a man holds a hat"], [0.5, 0.6, 0.7, 0.5, 0.1])],  # rank 3
    ("atom", 5): [(1, "a red car near a tree", ["a red car near a dog"], [0.8, 0.2])],
    ("swap", 4): [(3, "a cat on a mat", ["a mat on a cat", "a cat under a mat"], [0.5, 0.6, 0.1])],  # rank 1
    ("negate", 4): [(3, "a cat on a mat", ["a cat not on a mat"], [0.4, 0.4])],  # tie: rank 1
    ("swap", 5): [], ("negate", 5): [],
}


def _write_csv(path, rows, negatives_column="hard_negs"):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([negatives_column if h == "hard_negs" else h for h in HEADER])
        for i, (image_id, caption, negatives, _) in enumerate(rows):
            writer.writerow([i, image_id, caption, repr(negatives), 2, 1, 4.0, 3, 4])


def _build(tmp_path):
    root, vg = tmp_path / "prod_hard_negatives", tmp_path / "visual_genome"
    for (kind, complexity), rows in PLAN.items():
        _write_csv(root / kind / f"prod_vg_hard_negs_{kind}_complexity_{complexity}.csv", rows)
    for image_id, sub in ((1, "VG_100K"), (2, "VG_100K"), (3, "VG_100K_2")):
        (vg / sub).mkdir(parents=True, exist_ok=True)
        image = Image.new("RGB", (10, 8), (0, 0, 0))
        image.paste((255, 0, 0), (2, 1, 6, 4))  # exactly every row's region
        image.save(vg / sub / f"{image_id}.jpg", quality=100)
    return root, vg


def _planted(bench):
    table = {(it_caption, tuple(negs)): scores for rows in PLAN.values()
             for _, it_caption, negs, scores in rows}
    return [np.array([table[(it.captions[0], tuple(it.captions[1:]))]]) for it in bench.items]


def test_crepe_productivity_recall_at_k_ties_and_crops(tmp_path):
    root, vg = _build(tmp_path)
    bench = benchmarks.load("crepe", root, image_root=vg, complexities=[4, 5])
    assert len(bench.items) == 5 and not bench.missing_images
    first = bench.items[0]
    assert first.images[0].box == (2.0, 1.0, 4.0, 3.0) and first.group == "atom/4"
    assert first.captions == ["a red car on a road", "a blue car on a road", "a red bus on a road"]
    assert bench.items[3].images[0].path == str(vg / "VG_100K_2" / "3.jpg")
    crop = open_image(first.images[0])
    assert crop.size == (4, 3) and crop.getpixel((1, 1))[0] > 200
    scores = bench.score(_planted(bench))
    assert scores["by_group"]["atom/4/R@1"] == 0.5 and scores["by_group"]["atom/4/R@3"] == 0.5
    assert scores["by_group"]["atom/4/R@5"] == 1.0
    assert scores["atom/R@1"] == pytest.approx(2 / 3)
    assert (scores["swap/R@1"], scores["swap/R@3"]) == (0.0, 1.0)
    assert scores["negate/R@1"] == 0.0  # the tie counts against the caption
    assert scores["average"] == pytest.approx((2 / 3 + 0 + 0) / 3)
    assert bench.item_outcomes(_planted(bench))["R@1"].tolist() == [True, False, True, False, False]


def test_crepe_systematicity_carries_the_warning_and_errors(tmp_path):
    root, vg = _build(tmp_path)
    syst = tmp_path / "syst_hard_negatives"
    rows = PLAN[("atom", 4)]
    for split in ("seen_compounds", "unseen_compounds"):
        path = syst / f"syst_vg_hard_negs_{split}_in_cc12m.csv"
        _write_csv(path, rows, negatives_column="valid_hard_negs_atom")
    bench = benchmarks.load("crepe", syst, image_root=str(vg), split="systematicity", types=["atom"])
    assert bench.name == "crepe_systematicity" and len(bench.items) == 4
    scores = bench.score(_planted(bench))
    assert scores["by_group"]["atom/seen_compounds/R@1"] == 0.5
    assert any("only for models pretrained on CC12M, YFCC15M or LAION-400M" in n for n in scores["notes"])
    with pytest.raises(benchmarks.BenchmarkError, match="image_root is required"):
        benchmarks.load("crepe", root)
    with pytest.raises(benchmarks.BenchmarkFileNotFoundError, match="complexity_6.csv.*RAIVNLab/CREPE"):
        benchmarks.load("crepe", root, image_root=vg)
    with pytest.raises(benchmarks.BenchmarkError, match="unknown type"):
        benchmarks.load("crepe", root, image_root=vg, types=["comp"])
    bad = root / "atom" / "prod_vg_hard_negs_atom_complexity_4.csv"
    bad.write_text(bad.read_text().replace("['a blue car on a road'", "['a blue car on a road"))
    with pytest.raises(benchmarks.BenchmarkFormatError, match="line 2: unreadable hard_negs"):
        benchmarks.load("crepe", root, image_root=vg, complexities=[4])
