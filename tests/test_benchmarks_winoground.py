"""Winoground from examples.jsonl + PNG folder and from parquet: text / image / group scores."""

import io
import json

import numpy as np
import pytest
from PIL import Image

import ahnpl_plugin.benchmarks as benchmarks
from ahnpl_plugin.benchmarks.base import open_image

ROWS = [
    {"id": i, "image_0": f"ex_{i}_img_0", "image_1": f"ex_{i}_img_1",
     "caption_0": f"caption zero {i}", "caption_1": f"caption one {i}",
     "tag": "Object" if i < 2 else "Relation", "secondary_tag": "", "num_main_preds": 1,
     "collapsed_tag": "Object" if i < 2 else "Relation"}
    for i in range(4)
]
# sims[i][j] = s(image_i, caption_j)
PLANTED = [
    [[1.0, 0.0], [0.0, 1.0]],  # text, image, group right
    [[0.5, 0.1], [0.9, 1.0]],  # text right; image wrong (s(c0,i0)=0.5 < s(c0,i1)=0.9)
    [[0.5, 0.9], [0.1, 1.0]],  # image right; text wrong (s(c0,i0)=0.5 < s(c1,i0)=0.9)
    [[1.0, 1.0], [0.0, 1.0]],  # ties: s(c0,i0)=s(c1,i0) and s(c1,i1)=s(c1,i0): all wrong
]
EXPECTED = {"text": 0.5, "image": 0.5, "group": 0.25}


def _png_bytes(color):
    buffer = io.BytesIO()
    Image.new("RGB", (6, 4), color).save(buffer, format="PNG")
    return buffer.getvalue()


def _build_jsonl(tmp_path):
    data = tmp_path / "winoground" / "data"
    (data / "images").mkdir(parents=True)
    (data / "examples.jsonl").write_text("\n".join(json.dumps(r) for r in ROWS) + "\n")
    for row in ROWS:
        for key in ("image_0", "image_1"):
            Image.new("RGB", (6, 4), (row["id"], 0, 0)).save(data / "images" / f"{row[key]}.png")
    return tmp_path / "winoground"


def _sims(bench):
    return [np.array(PLANTED[it.meta["id"]]) for it in bench.items]


def test_winoground_jsonl_scores(tmp_path):
    root = _build_jsonl(tmp_path)
    bench = benchmarks.load("winoground", root)  # finds data/examples.jsonl, data/images/*.png
    assert len(bench.items) == 4
    first = bench.items[0]
    assert [r.path for r in first.images] == [str(root / "data" / "images" / "ex_0_img_0.png"),
                                               str(root / "data" / "images" / "ex_0_img_1.png")]
    assert first.captions == ["caption zero 0", "caption one 0"] and first.label is None
    scores = bench.score(_sims(bench))
    for key, value in EXPECTED.items():
        assert scores[key] == pytest.approx(value), key
    assert scores["by_group"] == pytest.approx({
        "Object/text": 1.0, "Object/image": 0.5, "Object/group": 0.5,
        "Relation/text": 0.0, "Relation/image": 0.5, "Relation/group": 0.0,
    })
    with pytest.raises(benchmarks.ScoreInputError, match=r"expected \(2, 2\)"):
        bench.score([np.zeros((1, 2))] * 4)


def test_winoground_parquet_images_in_memory(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({
        "id": [r["id"] for r in ROWS],
        "image_0": [{"bytes": _png_bytes((10, 20, 30)), "path": None} for _ in ROWS],
        "image_1": [{"bytes": _png_bytes((40, 50, 60)), "path": None} for _ in ROWS],
        "caption_0": [r["caption_0"] for r in ROWS],
        "caption_1": [r["caption_1"] for r in ROWS],
        "tag": [r["tag"] for r in ROWS],
    })
    folder = tmp_path / "parquet" / "default" / "test"
    folder.mkdir(parents=True)
    pq.write_table(table, folder / "0000.parquet")
    bench = benchmarks.load("winoground", tmp_path / "parquet")
    assert len(bench.items) == 4 and not bench.missing_images
    assert len(bench.unique_images()) == 8  # one ref per row and column
    assert open_image(bench.items[2].images[1]).getpixel((0, 0)) == (40, 50, 60)
    scores = bench.score(_sims(bench))
    for key, value in EXPECTED.items():
        assert scores[key] == pytest.approx(value), key
    same = benchmarks.load("winoground", folder / "0000.parquet")
    assert [it.captions for it in same.items] == [it.captions for it in bench.items]


def test_winoground_missing_files_images_and_malformed_line(tmp_path):
    with pytest.raises(benchmarks.BenchmarkFileNotFoundError) as err:
        benchmarks.load("winoground", tmp_path)
    assert "examples.jsonl" in str(err.value)
    assert "huggingface.co/datasets/facebook/winoground" in str(err.value)

    root = _build_jsonl(tmp_path)
    (root / "data" / "images" / "ex_3_img_1.png").unlink()
    bench = benchmarks.load("winoground", root)
    scores = bench.score(_sims(bench))
    assert scores["group"] == pytest.approx(1 / 3)  # over the 3 rows evaluated
    assert scores["counts"]["n_items_skipped_missing_images"] == 1
    with pytest.raises(benchmarks.MissingImagesError, match="ex_3_img_1.png"):
        benchmarks.load("winoground", root, strict=True)

    lines = (root / "data" / "examples.jsonl").read_text().splitlines()
    lines[2] = json.dumps({k: v for k, v in ROWS[2].items() if k != "caption_1"})
    (root / "data" / "examples.jsonl").write_text("\n".join(lines))
    with pytest.raises(benchmarks.BenchmarkFormatError) as err:
        benchmarks.load("winoground", root)
    assert "examples.jsonl: line 3: missing key 'caption_1'" in str(err.value)
