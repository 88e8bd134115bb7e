"""ahnpl_blip end to end: the demo project with only the backbone swapped, trained through
``python -m lavis.train`` (every loss term on, hard negatives in ITM), its checkpoint evaluated
with each score mode, and the COCO project switched to BLIP by the same one line (evaluation
projects: tests/test_eval_configs.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from ahnpl_plugin.synthetic.eval_items import CATEGORIES
from helpers.runs import metrics as run_metrics

REPO = Path(__file__).resolve().parent.parent
LOSS_KEYS = ("loss", "loss_itc", "loss_itm", "loss_hn", "loss_hn_text", "loss_hn_image", "loss_dm",
             "loss_dm_pos", "loss_dm_neg", "theta/relation", "theta/adj_swap", "theta/adj", "theta/noun",
             "theta/verb", "logit_scale", "alpha", "itm_hard_pairs", "lr", "grad_norm")


def _swapped(project: str, arch: str, model_type: str) -> dict:
    """A project YAML with only the backbone changed (model.arch and model.model_type)."""
    cfg = yaml.safe_load((REPO / "projects" / "ahnpl" / project).read_text())
    cfg["model"].update(arch=arch, model_type=model_type)
    return cfg


def _small(cfg: dict, world_dir: Path, output_dir: Path) -> dict:
    """Test sizes (a small world, 4 steps), nothing about the model."""
    cfg["datasets"]["ahnpl_synthetic_world"].update(
        cache_dir=str(world_dir), world={"seed": 0, "image_size": 32, "n_train": 32, "n_val": 4, "n_test": 4})
    cfg["run"].update(batch_size_train=8, batch_size_eval=16, max_epoch=1, warmup_steps=1, num_workers=0,
                      output_dir=str(output_dir), log_freq=0, progress=False, seed=7)
    return cfg


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The demo project with ``arch: ahnpl_blip, model_type: tiny``, trained by ``python -m lavis.train``."""
    root = tmp_path_factory.mktemp("blip_demo")
    cfg = _small(_swapped("demo.yaml", "ahnpl_blip", "tiny"), root / "world", root / "out")
    path = root / "demo_blip.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = subprocess.run([sys.executable, "-m", "lavis.train", "--cfg-path", str(path)],
                          capture_output=True, text=True, cwd=root, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = list((root / "out").iterdir())
    return {"root": root, "cfg": cfg, "run_dir": run_dir}


@pytest.mark.slow  # its fixture: subprocess lavis.train of tiny BLIP
def test_demo_trains_with_every_term_and_itm_hard_negatives(trained):
    run_dir = trained["run_dir"]
    for name in ("checkpoint_best.pth", "results.json", "metrics.jsonl", "training_curves.png"):
        assert (run_dir / name).is_file(), name
    rows = run_metrics(run_dir)
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    for key in LOSS_KEYS:
        assert all(key in r for r in rows), key
    for r in rows:
        parts = r["loss_itc"] + r["loss_itm"] + 0.2 * r["loss_hn"] + 0.2 * r["loss_dm"]
        assert r["loss"] == pytest.approx(parts, rel=1e-5)
        assert r["itm_hard_pairs"] > 0 and r["loss_hn_text"] > 0 and r["loss_hn_image"] > 0
    assert any(r[f"theta/{t}"] > 0 for r in rows[1:] for t in ("relation", "adj", "noun"))
    assert [r["alpha"] for r in rows] == pytest.approx([0.4 * i / 8 for i in range(4)])  # BLIP's ramp
    test = json.loads((run_dir / "results.json").read_text())["test"]
    parts = [test[key] for key in CATEGORIES if key in test]
    assert parts and test["average"] == pytest.approx(sum(parts) / len(parts)) and test["agg_metrics"] == test["average"]


@pytest.mark.slow  # its fixture: subprocess lavis.train of tiny BLIP
def test_checkpoint_reloads_theta_and_evaluates_with_each_score_mode(trained):
    from ahnpl_plugin import register

    register()
    from lavis.common.registry import registry
    from omegaconf import OmegaConf

    from ahnpl_plugin.evaluate import _evaluate

    ckpt = trained["run_dir"] / "checkpoint_best.pth"
    saved = torch.load(ckpt, map_location="cpu", weights_only=False)["model"]
    cls = registry.get_model_class("ahnpl_blip")
    cfg = OmegaConf.merge(OmegaConf.load(cls.default_config_path("tiny")).model,
                          {"load_finetuned": True, "finetuned": str(ckpt)})
    model = cls.from_config(cfg)
    assert torch.equal(model.loss.thresholds, saved["loss.thresholds"]) and float(saved["loss.thresholds"].max()) > 0
    assert torch.equal(model.itm_head.weight, saved["itm_head.weight"])

    cfg_path = trained["root"] / "eval.yaml"
    cfg_path.write_text(yaml.safe_dump(trained["cfg"]))
    trained_test = json.loads((trained["run_dir"] / "results.json").read_text())["test"]
    results = {}
    for mode in ("itc", "itm", "itc+itm"):
        out = _evaluate(["--cfg-path", str(cfg_path), "--options", f"run.checkpoint={ckpt}",
                         f"model.scoring={mode}", f"run.output_dir={trained['root'] / ('eval_' + mode.replace('+', '_'))}"])
        results[mode] = out["test"]
        parts = [out["test"][key] for key in CATEGORIES if key in out["test"]]
        assert parts and out["test"]["average"] == pytest.approx(sum(parts) / len(parts))
    # the training run's own test used the type's default, itc+itm, with the same weights
    for key, value in trained_test.items():
        assert results["itc+itm"][key] == pytest.approx(value, abs=1e-9), key


@pytest.mark.slow  # torchrun, 2 processes
def test_torchrun_two_processes_gloo(trained, tmp_path):
    # the global batch (2 x 8) is enqueued into BLIP's queue and AHNPLLoss gathers both ranks' rows
    cfg = _small(_swapped("demo.yaml", "ahnpl_blip", "tiny"), trained["root"] / "world", tmp_path / "out")
    path = tmp_path / "dist.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "lavis.train", "--cfg-path", str(path)],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = list((tmp_path / "out").iterdir())
    rows = run_metrics(run_dir)
    assert [r["step"] for r in rows] == [1, 2]  # 32 samples, 2 ranks x 8
    assert [r["alpha"] for r in rows] == pytest.approx([0.0, 0.1])


def test_coco_project_switches_to_blip_with_model_arch_and_type_only(tmp_path):
    from ahnpl_plugin import register
    from ahnpl_plugin.config import load_config

    register()
    path = tmp_path / "coco_swapped.yaml"
    path.write_text(yaml.safe_dump(_swapped("coco.yaml", "ahnpl_blip", "coco")))
    cfg = load_config(str(path))
    model = cfg.model_cfg
    assert model.arch == "ahnpl_blip" and model.tokenizer == "bert-base-uncased" and model.image_size == 384
    assert model.loss.mode == "ahnpl" and model.scoring == "itc+itm"
    # coco.yaml's `pretrained: openai` stays but is not read: the type starts from model.finetuned
    assert model.load_finetuned is True and model.finetuned.endswith("blip_coco_retrieval.pth")
    # the data's image size follows the model type's preprocess (384 px for BLIP base)
    assert cfg.datasets_cfg.ahnpl_coco.vis_processor.train.image_size == 384
    # and the shipped coco_blip.yaml is that project
    shipped = load_config(str(REPO / "projects" / "ahnpl" / "coco_blip.yaml"))
    assert shipped.model_cfg.arch == "ahnpl_blip" and shipped.model_cfg.model_type == "coco"
    assert shipped.datasets_cfg.ahnpl_coco.vis_processor.train.image_size == 384

