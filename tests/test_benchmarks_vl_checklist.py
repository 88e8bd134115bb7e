"""VL-CheckList: YAML corpus layout, subcategories pooled over sources, macro type means."""

import json

import numpy as np
import pytest
from PIL import Image

import ahnpl_plugin.benchmarks as benchmarks

# corpus yaml (relative to corpus/v1) -> (ANNO_PATH, IMG_ROOT, outcomes)
CORPORA = {
    "Attribute/color/vaw.yaml": ("data/Attribute/vaw/color.json", "vg",
                                 ["right", "right", "right"]),
    "Attribute/color/vg.yaml": ("data/Attribute/vg/color.json", "vg/", ["wrong"]),
    "Attribute/size/vaw.yaml": ("data/Attribute/vaw/size.json", "vg", ["right", "wrong"]),
    "Object/Location/center/hake.yaml": ("data/Object/Location/hake_location/hake_obj_center.json",
                                         "hake/", ["right", "right"]),
    "Object/Location/margin/hake.yaml": ("data/Object/Location/hake_location/hake_obj_margin.json",
                                         "hake/", ["tie", "wrong"]),
    "Relation/action/swig.yaml": ("data/Relation/swig_action.json", "swig/", ["right"]),
}


def _build(tmp_path):
    root, images = tmp_path / "VL-CheckList", tmp_path / "DATASET"
    for corpus, (anno, img_root, outcomes) in CORPORA.items():
        yaml_path = root / "corpus" / "v1" / corpus
        yaml_path.parent.mkdir(parents=True, exist_ok=True)
        yaml_path.write_text(f'ANNO_PATH: "{anno}"\nIMG_ROOT: "{img_root}"\nTYPE: "TUPLE_JSON"\n')
        records = []
        for i, outcome in enumerate(outcomes):
            rel = f"VG_100K/{corpus.replace('/', '_')}_{i}.jpg"
            (images / img_root / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (4, 4)).save(images / img_root / rel)
            records.append([rel, {"POS": [f"{outcome} {i}", "another pos"],
                                  "NEG": [f"neg {i}", "another neg"]}])
        (root / anno).parent.mkdir(parents=True, exist_ok=True)
        (root / anno).write_text(json.dumps(records))
    return root, images


def _planted(bench):
    table = {"right": [[0.6, 0.1]], "wrong": [[0.1, 0.6]], "tie": [[0.2, 0.2]]}
    return [np.array(table[it.captions[0].split()[0]]) for it in bench.items]


def test_vl_checklist_pools_sources_then_macro_means(tmp_path):
    root, images = _build(tmp_path)
    bench = benchmarks.load("vl_checklist", root, image_root=images)
    assert len(bench.items) == 11 and not bench.missing_images
    first = bench.items[0]
    assert first.captions == ["right 0", "neg 0"] and first.group == "attribute/color/vaw"
    assert first.meta["subcategory"] == "attribute/color"
    assert first.images[0].path == str(images / "vg" / "VG_100K" / "Attribute_color_vaw.yaml_0.jpg")
    scores = bench.score(_planted(bench))
    assert scores["attribute/color"] == pytest.approx(3 / 4)  # pooled (macro of corpora: 1/2)
    assert scores["attribute/size"] == pytest.approx(1 / 2)
    assert scores["object/location"] == pytest.approx(2 / 4)  # the tie counts wrong
    assert scores["relation/action"] == pytest.approx(1.0)
    assert scores["attribute"] == pytest.approx((3 / 4 + 1 / 2) / 2)
    assert scores["object"] == pytest.approx(1 / 2)
    assert scores["relation"] == pytest.approx(1.0)
    assert scores["average"] == pytest.approx((3 / 4 + 1 / 2 + 1 / 2 + 1.0) / 4)
    assert scores["by_group"]["attribute/color/vg"] == 0.0
    assert scores["by_group"]["object/location/margin/hake"] == 0.0
    assert scores["counts"]["by_subcategory"]["attribute/color"] == 4
    assert any("average over 4 subcategories" in n for n in scores["notes"])

    only_color = benchmarks.load("vl_checklist", root, image_root=images,
                                 corpora=["attribute/color/*"])
    assert {it.group for it in only_color.items} == {"attribute/color/vaw", "attribute/color/vg"}


def test_vl_checklist_missing_files_images_and_malformed(tmp_path):
    with pytest.raises(benchmarks.BenchmarkFileNotFoundError) as err:
        benchmarks.load("vl_checklist", tmp_path, image_root=tmp_path)
    assert "corpus/v1" in str(err.value) and "github.com/om-ai-lab/VL-CheckList" in str(err.value)

    root, images = _build(tmp_path)
    (images / "swig" / "VG_100K" / "Relation_action_swig.yaml_0.jpg").unlink()
    bench = benchmarks.load("vl_checklist", root, image_root=images)
    scores = bench.score(_planted(bench))
    assert "relation/action" not in scores and "relation" not in scores
    assert scores["counts"]["n_items_skipped_missing_images"] == 1
    with pytest.raises(benchmarks.MissingImagesError):
        benchmarks.load("vl_checklist", root, image_root=images, strict=True)

    anno = root / "data/Attribute/vaw/size.json"
    anno.write_text(json.dumps([["a.jpg", {"POS": ["x"], "NEG": ["y"]}], ["b.jpg", {"POS": []}]]))
    with pytest.raises(benchmarks.BenchmarkFormatError) as err:
        benchmarks.load("vl_checklist", root, image_root=images)
    assert "size.json" in str(err.value) and "index 1.POS" in str(err.value)

    anno.unlink()  # one corpus absent: the others load, the absent one is named
    bench = benchmarks.load("vl_checklist", root, image_root=images)
    assert list(bench.missing_parts) == ["attribute/size/vaw"] and not bench.complete
    assert str(anno) in bench.missing_parts["attribute/size/vaw"]
    assert "Attribute/size/vaw.yaml" in bench.missing_parts["attribute/size/vaw"]
    with pytest.raises(benchmarks.BenchmarkFileNotFoundError) as err:
        benchmarks.load("vl_checklist", root, image_root=images, strict=True)
    assert str(anno) in str(err.value) and "1 of 6 annotation file(s) not found" in str(err.value)

    (root / "corpus/v1/Attribute/size/vaw.yaml").write_text("IMG_ROOT: vg\n")
    with pytest.raises(benchmarks.BenchmarkFormatError, match=r"vaw\.yaml: ANNO_PATH"):
        benchmarks.load("vl_checklist", root, image_root=images)
