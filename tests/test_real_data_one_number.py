"""One checkpoint, one number: COCO retrieval by the training route (coco.yaml's test split) and by
the evaluation route (eval_retrieval_coco.yaml) read the same data through the same builder, with
the model family's caption protocol (raw for CLIP, blip_caption for BLIP), and give equal recalls.

The tiny COCO folder (tests/helpers/recipe_folder.py) has val/test captions with capitals and
punctuation, where blip_caption and raw captions differ.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.recipe_folder import make_recipe_folder, tiny_run_options
from helpers.runs import load_config as _load

REPO = Path(__file__).resolve().parent.parent
PROJECTS = REPO / "projects" / "ahnpl"
RECALLS = ("txt_r1", "txt_r5", "txt_r10", "img_r1", "img_r5", "img_r10", "agg_metrics")


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    return make_recipe_folder(tmp_path_factory.mktemp("coco") / "coco")


@pytest.fixture
def coco_dir(recipe, monkeypatch):
    monkeypatch.setenv("COCO_DIR", str(recipe.root))
    return recipe


def _build(cfg, name="ahnpl_coco"):
    from lavis.common.registry import registry

    return registry.get_builder_class(name)(cfg.datasets_cfg[name]).build_datasets()


@pytest.mark.slow  # a training run and an evaluation
@pytest.mark.parametrize("train_amp", ["as shipped", "bf16"])
def test_checkpoint_gives_the_training_runs_test_numbers_through_eval_retrieval_coco(coco_dir, tmp_path, train_amp):
    """The shipped configs keep their own amp settings (coco.yaml: amp true; eval: false); both
    routes evaluate at run.eval_precision (fp32), so a checkpoint gives one number, also when it
    was trained in bf16."""
    from ahnpl_plugin.evaluate import _evaluate
    from ahnpl_plugin.train import _train

    extra = {} if train_amp == "as shipped" else {"run.amp": "bf16"}
    runner = _train(["--cfg-path", str(PROJECTS / "coco.yaml"), "--options",
                     *tiny_run_options(tmp_path / "train", keep_amp=True, **extra)])
    record = json.loads((runner.output_dir / "results.json").read_text())
    trained = record["test"]
    checkpoint = runner.output_dir / "checkpoint_best.pth"
    evaluated = _evaluate(["--cfg-path", str(PROJECTS / "eval_retrieval_coco.yaml"), "--options",
                           *tiny_run_options(tmp_path / "eval", keep_amp=True), f"run.checkpoint={checkpoint}"])["test"]
    assert {k: trained[k] for k in RECALLS} == {k: evaluated[k] for k in RECALLS}
    (eval_dir,) = list((tmp_path / "eval").iterdir())
    assert record["eval_precision"] == json.loads((eval_dir / "results.json").read_text())["eval_precision"] == "fp32"
    # 6 test images: R@10 is 100 whatever the model; R@1 is a multiple of 100/6 (text) and 100/30 (image)
    assert trained["txt_r10"] == trained["img_r10"] == 100.0
    assert round(trained["txt_r1"] * 6 / 100, 6).is_integer() and round(trained["img_r1"] * 30 / 100, 6).is_integer()


def test_eval_captions_follow_the_model_family_by_both_routes(coco_dir):
    from lavis.processors.blip_processors import BlipCaptionProcessor

    raw = [c for row in coco_dir.eval_rows["test"] for c in row["caption"]]
    blip = [BlipCaptionProcessor()(c) for c in raw]
    assert blip[1] == "a yellow cat, next to a white horse" and raw[1] == "A yellow cat, next to: a white horse!"
    clip_options = ["model.model_type=tiny", "model.pretrained="]
    blip_options = ["model.arch=ahnpl_blip", "model.model_type=tiny"]
    for cfg_path in (PROJECTS / "coco.yaml", PROJECTS / "eval_retrieval_coco.yaml"):
        assert _build(_load(cfg_path, *clip_options))["test"].text == raw, cfg_path.name
        assert _build(_load(cfg_path, *blip_options))["test"].text == blip, cfg_path.name


def test_flickr30k_eval_captions_follow_the_model_family_too(tmp_path):
    import yaml

    cfg = tmp_path / "flickr.yaml"
    cfg.write_text(yaml.safe_dump({"model": {"arch": "ahnpl_clip", "model_type": "tiny"},
                                   "datasets": {"ahnpl_flickr30k": {}},
                                   "run": {"task": "retrieval", "output_dir": str(tmp_path / "o")}}))
    clip = _load(cfg).datasets_cfg.ahnpl_flickr30k.text_processor
    assert clip.eval is None and clip.train is None  # CLIP trains and is scored on raw captions
    blip = _load(cfg, "model.arch=ahnpl_blip").datasets_cfg.ahnpl_flickr30k.text_processor
    assert blip.eval.name == "blip_caption" and blip.train.name == "blip_caption"  # as LAVIS's BLIP


def test_eval_configs_follow_the_model_type_and_read_the_training_layout(monkeypatch):
    monkeypatch.delenv("COCO_DIR", raising=False)
    train = _load(PROJECTS / "coco.yaml").datasets_cfg.ahnpl_coco
    for options, size, transform in (((), 224, "clip_image_eval"),
                                     (("model.arch=ahnpl_blip", "model.model_type=coco"), 384, "blip_image_eval")):
        data = _load(PROJECTS / "eval_retrieval_coco.yaml", *options).datasets_cfg.ahnpl_coco
        assert (data.vis_processor.eval.name, data.vis_processor.eval.image_size) == (transform, size), options
        assert data.build_info.annotations.train is None and data.build_info.annotations.val is None
        assert data.build_info.annotations.test == train.build_info.annotations.test
        assert data.build_info.images.storage == train.build_info.images.storage == "data/coco/images"
    swapped = _load(PROJECTS / "eval_retrieval_coco.yaml", "model.model_type=ViT-L-14-336")
    assert swapped.datasets_cfg.ahnpl_coco.vis_processor.eval.image_size == 336


def test_eval_retrieval_coco_without_data_is_one_line_naming_key_and_path(tmp_path, monkeypatch, capsys):
    from ahnpl_plugin.evaluate import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COCO_DIR", raising=False)
    rc = main(["--cfg-path", str(PROJECTS / "eval_retrieval_coco.yaml"), "--options", "run.device=cpu",
               "model.model_type=tiny", "model.pretrained=", f"run.output_dir={tmp_path}/o"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        f"error: datasets.ahnpl_coco.build_info.annotations.test.storage: file not found: "
        f"{tmp_path}/data/coco/annotations/coco_karpathy_test.json. Put LAVIS's Karpathy test annotation file "
        "there or point the key at it (layout: docs/data.md)")


def test_data_check_inspects_the_eval_config_dataset(coco_dir, capsys):
    from ahnpl_plugin.data.cli import main

    assert main(["check", "--cfg-path", str(PROJECTS / "eval_retrieval_coco.yaml"), "--options",
                 "model.model_type=tiny", "model.pretrained="]) == 0
    out = capsys.readouterr().out
    assert "[datasets.ahnpl_coco]" in out and "no checks" not in out
    assert f"test: 6 images in {coco_dir.root}/annotations/coco_karpathy_test.json" in out
    assert f"test images under {coco_dir.images}: 6 found, 0 missing" in out
    assert "val/test captions: raw (no text processor)" in out
    assert out.rstrip().endswith("all paths OK")
    assert main(["check", "--cfg-path", str(PROJECTS / "eval_retrieval_coco.yaml"), "--options",
                 "model.arch=ahnpl_blip", "model.model_type=tiny"]) == 0
    assert "val/test captions: text processor blip_caption" in capsys.readouterr().out
