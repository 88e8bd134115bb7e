"""The published recipe trains on the paper's split, COCO 2014 train: COCO's own captions file
(``annotations/captions_train2014.json``) is read by everything that reads train annotations (the
``ahnpl_coco`` builder, ``data check``, ``write-shards``), and the recipe YAMLs point at it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ahnpl_plugin.data.annotations import coco_image_path, read_eval_annotations, read_train_annotations
from ahnpl_plugin.errors import DataError
from helpers.files import write_json
from helpers.recipe_folder import RECIPES, make_recipe_folder
from helpers.runs import load_config as _load

REPO = Path(__file__).resolve().parent.parent
PROJECTS = REPO / "projects" / "ahnpl"

OFFICIAL = {
    "info": {"description": "COCO 2014 Dataset"}, "licenses": [],
    "images": [
        {"license": 5, "file_name": "COCO_train2014_000000057870.jpg", "height": 480, "width": 640, "id": 57870},
        {"license": 5, "file_name": "COCO_train2014_000000384029.jpg", "height": 429, "width": 640, "id": 384029},
    ],
    "annotations": [
        {"image_id": 384029, "id": 8, "caption": "A man sitting on a bench."},
        {"image_id": 57870, "id": 787980, "caption": "A restaurant has modern wooden tables and chairs."},
        {"image_id": 384029, "id": 9, "caption": "a man on a park bench "},
    ],
}


def test_official_captions_file_gives_one_row_per_caption_with_its_image_path(tmp_path):
    path = write_json(OFFICIAL, tmp_path / "captions_train2014.json")
    assert read_train_annotations(path) == [
        {"image": "train2014/COCO_train2014_000000384029.jpg", "caption": "A man sitting on a bench.", "image_id": 384029},
        {"image": "train2014/COCO_train2014_000000057870.jpg",
         "caption": "A restaurant has modern wooden tables and chairs.", "image_id": 57870},
        {"image": "train2014/COCO_train2014_000000384029.jpg", "caption": "a man on a park bench ", "image_id": 384029},
    ]
    assert coco_image_path("COCO_val2014_000000391895.jpg") == "val2014/COCO_val2014_000000391895.jpg"
    assert coco_image_path("000000391895.jpg") == "000000391895.jpg"  # COCO 2017 names: as they are


@pytest.mark.parametrize("content, message", [
    ({"info": {}, "categories": []},
     "expected a LAVIS Karpathy train list [{\"image\", \"caption\"}, ...] or COCO's captions file "
     "({\"images\": [...], \"annotations\": [...]}, e.g. annotations/captions_train2014.json); got a JSON dict "
     "with keys ['categories', 'info']"),
    ("just a string", "got a JSON str"),
    ({"images": OFFICIAL["images"], "annotations": [{"image_id": 57870, "id": 1, "segmentation": [], "bbox": []}]},
     "annotations[0]: 'caption' must be a non-empty string, got None (COCO's captions_*.json files have one; "
     "instances/keypoints files do not)"),
    ({"images": OFFICIAL["images"], "annotations": [{"image_id": 7, "caption": "a cat"}]},
     "annotations[0]: image_id 7 is not an id of the file's 'images'"),
    ({"images": [{"id": 7}], "annotations": []}, "images[0]: expected an object with 'id' and 'file_name'"),
])
def test_a_train_file_of_neither_format_is_a_one_line_error_naming_it(tmp_path, content, message):
    path = write_json(content, tmp_path / "train.json")
    with pytest.raises(DataError) as err:
        read_train_annotations(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value) and "\n" not in str(err.value)


def test_official_file_as_val_split_says_to_use_karpathy_val(tmp_path):
    path = write_json(OFFICIAL, tmp_path / "captions_val2014.json")
    with pytest.raises(DataError, match=r"a COCO captions file has no Karpathy val/test split; point the val/test "
                                        r"annotations at LAVIS's coco_karpathy_val\.json"):
        read_eval_annotations(path)


def test_recipes_train_on_captions_train2014_and_test_on_karpathy(monkeypatch):
    monkeypatch.delenv("COCO_DIR", raising=False)
    for name in RECIPES:
        data = _load(PROJECTS / f"{name}.yaml").datasets_cfg.ahnpl_coco
        annotations = data.build_info.annotations
        assert annotations.train.storage == "data/coco/annotations/captions_train2014.json", name
        assert data.negatives == "data/coco/negatives/captions_train2014.negatives.jsonl", name
        assert (annotations.val.storage, annotations.test.storage) == (
            "data/coco/annotations/coco_karpathy_val.json", "data/coco/annotations/coco_karpathy_test.json"), name
    from omegaconf import OmegaConf

    defaults = OmegaConf.load(REPO / "lavis_configs" / "datasets" / "ahnpl_coco" / "defaults.yaml").datasets.ahnpl_coco
    assert defaults.build_info.annotations.train.storage == "data/coco/annotations/captions_train2014.json"
    assert defaults.negatives == "data/coco/negatives/captions_train2014.negatives.jsonl"


def test_builder_check_and_shards_read_the_official_file(tmp_path, monkeypatch, capsys):
    from lavis.common.registry import registry

    from ahnpl_plugin.data.cli import main

    recipe = make_recipe_folder(tmp_path / "coco")
    monkeypatch.setenv("COCO_DIR", str(recipe.root))
    cfg = _load(PROJECTS / "coco.yaml", "model.model_type=tiny", "model.pretrained=")
    train = registry.get_builder_class("ahnpl_coco")(cfg.datasets_cfg.ahnpl_coco).build_datasets()["train"]
    assert [(r["image"], r["caption"]) for r in train.records] == [(r["image"], r["caption"]) for r in recipe.train_rows]
    assert all(r["valid_caption"] == [1, 1, 1, 1, 1, 0] for r in train.records)  # every caption joined

    assert main(["check", "--cfg-path", str(PROJECTS / "coco.yaml"), "--options", "model.model_type=tiny",
                 "model.pretrained=", f"run.output_dir={tmp_path}/o"]) == 0
    out = capsys.readouterr().out
    assert f"train: 16 captions in {recipe.train_captions}" in out
    assert f"train images under {recipe.images}: 8 found, 0 missing" in out
    assert f"negatives {recipe.negatives}: 16 of 16 train captions matched, 0 negatives records unused" in out

    assert main(["write-shards", "--annotations", str(recipe.train_captions), "--negatives", str(recipe.negatives),
                 "--images", str(recipe.images), "--output", str(tmp_path / "shards"), "--samples-per-shard", "8",
                 "--no-progress"]) == 0
    sizes = json.loads((tmp_path / "shards" / "sizes.json").read_text())
    assert sum(sizes.values()) == 16 and len(sizes) == 2


def test_missing_train_file_names_cocos_captions_file(tmp_path, monkeypatch):
    from ahnpl_plugin.datasets.preflight import check_dataset_paths
    from ahnpl_plugin.errors import ConfigError

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COCO_DIR", raising=False)
    with pytest.raises(ConfigError) as err:
        check_dataset_paths(_load(PROJECTS / "coco.yaml"))
    assert str(err.value) == (
        f"datasets.ahnpl_coco.build_info.annotations.train.storage: file not found: "
        f"{tmp_path}/data/coco/annotations/captions_train2014.json. Put COCO's annotations/captions_train2014.json "
        "(cocodataset.org, annotations_trainval2014.zip) or LAVIS's Karpathy train file there or point the key at it "
        "(layout: docs/data.md)")
