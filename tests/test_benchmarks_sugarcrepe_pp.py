"""SugarCrepe++ in the layout of github.com/Sri-Harsha/scpp data/: ITT, one-caption ITT, TOT."""

import json

import numpy as np
import pytest
from PIL import Image

import ahnpl_plugin.benchmarks as benchmarks

# Per file: (image sims [P1, P2, N], text sims (P1P2, P1N, P2N)) per item, in list order.
PLAN = {
    "replace_att": [
        ((0.9, 0.8, 0.1), (0.9, 0.2, 0.3)),   # itt, p1, p2, tot all right
        ((0.9, 0.1, 0.5), (0.4, 0.5, 0.1)),   # p1 only; tot wrong (P1P2 < P1N)
    ],
    "replace_obj": [((0.5, 0.5, 0.5), (0.5, 0.5, 0.1))],  # ties: everything wrong
    "replace_rel": [((0.2, 0.9, 0.3), (0.8, 0.1, 0.8))],  # p2 only; tot tie with P2N: wrong
    "swap_att": [((0.6, 0.7, 0.1), (0.9, 0.1, 0.1))],     # all right
    "swap_obj": [((0.6, 0.7, 0.1), (0.9, 0.1, 0.1)),      # all right
                 ((0.3, 0.2, 0.3), (0.5, 0.5, 0.1))],     # negative == caption (real quirk)
}


def _build(tmp_path):
    data, images = tmp_path / "scpp" / "data", tmp_path / "val2017"
    data.mkdir(parents=True)
    images.mkdir()
    for stem, rows in PLAN.items():
        records = []
        for i, _ in enumerate(rows):
            filename = f"{abs(hash((stem, i))) % 10**12:012d}.jpg"
            Image.new("RGB", (4, 4), (i, 2, 3)).save(images / filename)
            caption = f"{stem} caption {i}"
            negative = caption if (stem, i) == ("swap_obj", 1) else f"{stem} negative {i}"
            records.append({"id": i, "filename": filename, "caption": caption,
                            "caption2": f"{stem} other wording {i}", "negative_caption": negative})
        (data / f"{stem}.json").write_text(json.dumps(records, indent=1))
    return tmp_path / "scpp", images


def _planted(bench):
    sims, text = [], []
    for it in bench.items:
        (p1, p2, n), (a, b, c) = PLAN[it.group][it.meta["id"]]
        sims.append(np.array([[p1, p2, n]]))
        text.append(np.array([[1.0, a, b], [a, 1.0, c], [b, c, 1.0]]))
    return sims, text


def test_sugarcrepe_pp_itt_tot_and_one_caption_variants(tmp_path):
    root, images = _build(tmp_path)
    bench = benchmarks.load("sugarcrepe_pp", root, image_root=images)
    assert len(bench.items) == 7 and bench.needs_text_sims
    assert bench.items[0].captions == ["replace_att caption 0", "replace_att other wording 0",
                                       "replace_att negative 0"]
    sims, text = _planted(bench)
    scores = bench.score(sims, text_sims=text)
    g = scores["by_group"]
    assert (g["replace_att/itt"], g["replace_att/itt_p1"], g["replace_att/itt_p2"],
            g["replace_att/tot"]) == (0.5, 1.0, 0.5, 0.5)
    assert [g[f"replace_obj/{m}"] for m in ("itt", "itt_p1", "itt_p2", "tot")] == [0, 0, 0, 0]
    assert [g[f"replace_rel/{m}"] for m in ("itt", "itt_p1", "itt_p2", "tot")] == [0, 0, 1, 0]
    assert g["swap_obj/itt"] == 0.5 and g["swap_obj/tot"] == 0.5
    # unweighted means over the five files
    assert scores["itt"] == pytest.approx((0.5 + 0 + 0 + 1 + 0.5) / 5)
    assert scores["itt_p1"] == pytest.approx((1 + 0 + 0 + 1 + 0.5) / 5)
    assert scores["itt_p2"] == pytest.approx((0.5 + 0 + 1 + 1 + 0.5) / 5)
    assert scores["tot"] == pytest.approx((0.5 + 0 + 0 + 1 + 0.5) / 5)
    assert scores["counts"]["n_negative_equals_positive"] == 1
    per_item = bench.item_outcomes(sims, text)
    assert per_item["itt"].tolist() == [True, False, False, False, True, True, False]
    with pytest.raises(benchmarks.ScoreInputError, match="text_sims are required"):
        bench.score(sims)
    with pytest.raises(benchmarks.ScoreInputError, match=r"expected \(3, 3\)"):
        bench.score(sims, text_sims=[t[:2] for t in text])


def test_sugarcrepe_pp_features_route_and_errors(tmp_path):
    root, images = _build(tmp_path)
    bench = benchmarks.load("sugarcrepe_pp", root, image_root=images, files=["swap_att"])
    # P1 and P2 along e0/e1, the negative along e2; the image between P1 and P2
    captions = bench.unique_captions()
    text_feats = np.eye(3)[[0, 1, 2]]
    image_feats = np.array([[0.6, 0.6, 0.1]])
    assert captions == ["swap_att caption 0", "swap_att other wording 0", "swap_att negative 0"]
    scores = bench.score(bench.sims_from_features(image_feats, text_feats),
                         text_sims=bench.text_sims_from_features(text_feats))
    assert scores["itt"] == 1.0
    assert scores["tot"] == 0.0  # orthogonal captions: cos(P1, P2) = cos(P1, N) = 0, a tie
    (root / "data" / "swap_att.json").write_text(json.dumps({"0": {}}))
    with pytest.raises(benchmarks.BenchmarkFormatError, match="expected a JSON list"):
        benchmarks.load("sugarcrepe_pp", root, image_root=images)
    with pytest.raises(benchmarks.BenchmarkError, match="image_root is required"):
        benchmarks.load("sugarcrepe_pp", root)
    (root / "data" / "swap_att.json").unlink()
    with pytest.raises(benchmarks.BenchmarkFileNotFoundError, match="Sri-Harsha/scpp"):
        benchmarks.load("sugarcrepe_pp", root, image_root=images)
