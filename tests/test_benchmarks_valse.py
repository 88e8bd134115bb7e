"""VALSE: eleven pieces, the mturk.caption >= 2 filter, per-source image roots, macro average."""

import json

import numpy as np
import pytest
from PIL import Image

import ahnpl_plugin.benchmarks as benchmarks
from ahnpl_plugin.benchmarks.valse import PIECES

# piece -> (source dataset, [(mturk caption votes, outcome), ...])
PLAN = {
    "existence": ("visual7w", [(3, "right"), (2, "tie"), (1, "right"), (0, "wrong")]),  # 1/2
    "plurals": ("coco2017", [(3, "right")]),                                            # 1
    "counting-hard": ("visual7w", [(3, "right"), (3, "wrong")]),                        # 1/2
    "counting-small-quant": ("visual7w", [(2, "right")]),                               # 1
    "counting-adversarial": ("visual7w", [(2, "wrong")]),                               # 0
    "relations": ("coco2017", [(3, "right"), (3, "right"), (3, "wrong"), (3, "right")]),  # 3/4
    "action-replacement": ("SWiG", [(3, "right")]),                                     # 1
    "actant-swap": ("SWiG", [(3, "wrong")]),                                            # 0
    "coreference-standard": ("VisDial_v1.0", [(2, "right")]),                           # 1
    "coreference-hard": ("VisDial_v1.0", [(3, "wrong"), (1, "right")]),                 # 0
    "foil-it": ("FOIL dataset", [(3, "right")]),                                        # 1
}
PIECE_ACC = {"existence": 0.5, "plurals": 1.0, "counting-hard": 0.5, "counting-small-quant": 1.0,
             "counting-adversarial": 0.0, "relations": 0.75, "action-replacement": 1.0,
             "actant-swap": 0.0, "coreference-standard": 1.0, "coreference-hard": 0.0,
             "foil-it": 1.0}
FOLDER = {"visual7w": "v7w", "coco2017": "coco/val2017", "SWiG": "swig",
          "FOIL dataset": "coco/val2014"}


def _build(tmp_path):
    data = tmp_path / "VALSE" / "data"
    data.mkdir(parents=True)
    for piece, (source, entries) in PLAN.items():
        records = {}
        for i, (votes, outcome) in enumerate(entries):
            image_file = f"{piece}_{i}.jpg"
            if source == "VisDial_v1.0":  # standard: COCO train2014 names; hard: VisDial val2018
                folder = "coco/train2014" if piece == "coreference-standard" else "visdial_val"
            else:
                folder = FOLDER[source]
            (tmp_path / "img" / folder).mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (4, 4)).save(tmp_path / "img" / folder / image_file)
            records[f"{piece}_{i}"] = {
                "dataset": source, "image_file": image_file, "linguistic_phenomena": piece,
                "caption": f"{piece} {i} {outcome}", "foil": f"foil {piece} {i}",
                "mturk": {"foil": 0, "caption": votes, "other": 3 - votes}, "classes": "x",
            }
        (data / f"{piece}.json").write_text(json.dumps(records))
    return tmp_path / "VALSE"


def _image_roots(tmp_path):
    img = tmp_path / "img"
    return {"visual7w": img / "v7w", "COCO2017": str(img / "coco/val2017"), "swig": img / "swig",
            "VisDial_v1.0": [img / "coco/train2014", img / "visdial_val"],
            "default": img / "coco/val2014"}


def _planted(bench):
    table = {"right": [[0.7, 0.2]], "wrong": [[0.2, 0.7]], "tie": [[0.3, 0.3]]}
    return [np.array(table[it.captions[0].split()[-1]]) for it in bench.items]


def test_valse_filter_sources_pieces_and_average(tmp_path):
    root = _build(tmp_path)
    bench = benchmarks.load("valse", root, image_root=_image_roots(tmp_path))
    assert len(bench.items) == 16 and not bench.missing_images  # 3 of 19 fail the mturk filter
    by_id = {it.meta["id"]: it for it in bench.items}
    assert "existence_2" not in by_id and "coreference-hard_1" not in by_id
    assert by_id["coreference-hard_0"].images[0].path == str(
        tmp_path / "img" / "visdial_val" / "coreference-hard_0.jpg")  # second folder of the list
    assert by_id["foil-it_0"].images[0].path.startswith(str(tmp_path / "img" / "coco/val2014"))
    scores = bench.score(_planted(bench))
    for piece, acc in PIECE_ACC.items():
        assert scores[piece] == pytest.approx(acc), piece
    assert scores["average"] == pytest.approx(sum(PIECE_ACC.values()) / 11)
    assert scores["by_category"]["Counting"] == pytest.approx(0.5)
    assert scores["by_category"]["Actions"] == pytest.approx(0.5)
    assert scores["by_category"]["Coreference"] == pytest.approx(0.5)
    assert scores["counts"]["n_items_filtered_mturk"] == 3
    assert set(PIECES) <= set(scores)


def test_valse_single_image_folder_and_unmapped_source(tmp_path):
    root = _build(tmp_path)
    flat = tmp_path / "flat"
    flat.mkdir()
    for path in (tmp_path / "img").rglob("*.jpg"):
        path.rename(flat / path.name)
    bench = benchmarks.load("valse", root / "data", image_root=flat, pieces=["plurals", "foil-it"])
    assert [it.images[0].path for it in bench.items] == [str(flat / "plurals_0.jpg"),
                                                          str(flat / "foil-it_0.jpg")]
    scores = bench.score(_planted(bench))
    assert scores["average"] == 1.0 and "existence" not in scores
    with pytest.raises(benchmarks.BenchmarkError, match="no image folder for source 'SWiG'"):
        benchmarks.load("valse", root, image_root={"visual7w": flat, "coco2017": flat},
                        pieces=["plurals", "actant-swap"])


def test_valse_missing_images_missing_file_malformed(tmp_path):
    root = _build(tmp_path)
    (tmp_path / "img" / "swig" / "actant-swap_0.jpg").unlink()
    bench = benchmarks.load("valse", root, image_root=_image_roots(tmp_path))
    scores = bench.score(_planted(bench))
    assert "actant-swap" not in scores  # its only item was skipped
    assert scores["counts"]["n_items_skipped_missing_images"] == 1
    assert any("average over 10 of 11 pieces" in n for n in scores["notes"])
    with pytest.raises(benchmarks.MissingImagesError, match="actant-swap_0.jpg"):
        benchmarks.load("valse", root, image_root=_image_roots(tmp_path), strict=True)

    original = (root / "data" / "relations.json").read_text()
    records = json.loads(original)
    del records["relations_2"]["mturk"]["caption"]
    (root / "data" / "relations.json").write_text(json.dumps(records))
    with pytest.raises(benchmarks.BenchmarkFormatError) as err:
        benchmarks.load("valse", root, image_root=_image_roots(tmp_path))
    assert "relations.json" in str(err.value) and "key 'relations_2'.mturk" in str(err.value)
    assert "missing key 'caption'" in str(err.value)
    (root / "data" / "relations.json").write_text(original)

    (root / "data" / "foil-it.json").unlink()
    with pytest.raises(benchmarks.BenchmarkFileNotFoundError) as err:
        benchmarks.load("valse", root, image_root=_image_roots(tmp_path))
    assert "foil-it.json" in str(err.value) and "github.com/Heidelberg-NLP/VALSE" in str(err.value)
