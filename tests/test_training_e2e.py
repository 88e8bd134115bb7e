"""The training slice end to end: LAVIS config -> ahnpl_clip (tiny) -> ahnpl_runner -> task.

Runs through the real entry points on a small synthetic world generated in a temporary folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.files import write_yaml as _write
from helpers.runs import metrics as _metrics
from helpers.runs import train as _train_in_process

REPO = Path(__file__).resolve().parent.parent


def _config(world_dir: Path, output_dir: Path, **run_overrides) -> dict:
    run = {
        "task": "ahnpl_compositional",
        "runner": "ahnpl_runner",
        "device": "cpu",
        "lr_sched": "cosine",
        "init_lr": 1e-3,
        "min_lr": 1e-5,
        "warmup_steps": 2,
        "weight_decay": 0.1,
        "max_grad_norm": 1.0,
        "max_epoch": 2,
        "batch_size_train": 16,
        "batch_size_eval": 32,
        "num_workers": 0,
        "seed": 7,
        "output_dir": str(output_dir),
        "train_splits": ["train"],
        "valid_splits": ["val"],
        "test_splits": ["test"],
        "log_freq": 0,
        "progress": False,
    }
    run.update(run_overrides)
    return {
        "model": {"arch": "ahnpl_clip", "model_type": "tiny", "pretrained": ""},
        "datasets": {
            "ahnpl_synthetic_world": {
                "cache_dir": str(world_dir),
                "world": {"seed": 0, "image_size": 32, "n_train": 64, "n_val": 6, "n_test": 6},
            }
        },
        "run": run,
    }


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("world") / "w"


@pytest.mark.slow  # subprocess lavis.train, 2 epochs
def test_python_m_lavis_train_runs_and_writes_everything(world_dir, tmp_path):
    cfg = _write(_config(world_dir, tmp_path / "out"), tmp_path / "cfg.yaml")
    proc = subprocess.run(
        [sys.executable, "-m", "lavis.train", "--cfg-path", str(cfg)],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = list((tmp_path / "out").iterdir())
    for name in ("checkpoint_best.pth", "checkpoint_last.pth", "results.json", "metrics.jsonl",
                 "training_curves.png", "log.txt"):
        assert (run_dir / name).is_file(), name
    results = json.loads((run_dir / "results.json").read_text())
    test = results["test"]
    parts = ("attribute_swap", "relation_swap", "attribute_replace", "object_replace", "relation_replace")
    assert all(key in test for key in parts)
    # average: the unweighted mean over the five categories; LAVIS model selection reads agg_metrics
    assert test["average"] == pytest.approx(sum(test[key] for key in parts) / 5) and test["agg_metrics"] == test["average"]
    rows = _metrics(run_dir)
    assert len(rows) == 2 * (64 // 16)
    # every loss component and each per-type threshold is logged at every step
    for key in ("loss", "loss_itc", "loss_hn", "loss_dm", "lr", "grad_norm",
                "theta/relation", "theta/adj_swap", "theta/adj", "theta/noun", "theta/verb"):
        assert all(key in r for r in rows), key
    # the adaptive thresholds move away from their initial 0 during training
    assert any(r["theta/relation"] > 0 for r in rows[1:])


@pytest.mark.slow  # 3 + 2 training epochs in process
def test_resume_reproduces_the_uninterrupted_run(world_dir, tmp_path):
    import torch

    cfg = _write(_config(world_dir, tmp_path / "a", max_epoch=3, save_every_epoch=True), tmp_path / "a.yaml")
    runner_a = _train_in_process(cfg)
    ckpt = runner_a.output_dir / "checkpoint_0.pth"
    saved = torch.load(ckpt, map_location="cpu", weights_only=False)
    assert "loss_fn.thresholds" in " ".join(saved["model"]) or any(
        k.endswith("thresholds") for k in saved["model"]
    )
    runner_b = _train_in_process(
        _write(_config(world_dir, tmp_path / "b", max_epoch=3), tmp_path / "b.yaml"),
        f"run.resume_ckpt_path={ckpt}",
    )
    rows_a = _metrics(runner_a.output_dir)
    rows_b = _metrics(runner_b.output_dir)  # epoch 0's rows carried over from run a, then its own
    assert [r["step"] for r in rows_a] == [r["step"] for r in rows_b]
    assert rows_b[: len(rows_a) // 3] == rows_a[: len(rows_a) // 3]
    for ra, rb in zip(rows_a, rows_b):
        for key in ("loss", "loss_itc", "loss_hn", "loss_dm", "theta/noun", "lr"):
            assert rb[key] == pytest.approx(ra[key], rel=1e-5, abs=1e-6), (ra["step"], key)


@pytest.mark.slow  # a training run (and its world)
def test_non_finite_loss_stops_with_step_and_last_components(world_dir, tmp_path, monkeypatch):
    from ahnpl_plugin import register
    from ahnpl_plugin.errors import TrainingDiverged

    register()
    from lavis.common.registry import registry

    cls = registry.get_model_class("ahnpl_clip")
    original = cls.forward
    calls = {"n": 0}

    def forward(self, samples):
        out = original(self, samples)
        calls["n"] += 1
        if calls["n"] == 3:
            out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(cls, "forward", forward)
    cfg = _write(_config(world_dir, tmp_path / "o"), tmp_path / "c.yaml")
    with pytest.raises(TrainingDiverged, match=r"at step 2 \(loss=nan\); last finite components: loss_itc=.*, loss=[0-9]"):
        _train_in_process(cfg)


def test_model_type_option_loads_that_types_defaults(world_dir, tmp_path):
    from ahnpl_plugin import register
    from ahnpl_plugin.config import load_config

    register()
    raw = _config(world_dir, tmp_path / "o")
    raw["model"] = {"arch": "ahnpl_clip", "model_type": "ViT-B-32"}
    cfg_path = _write(raw, tmp_path / "c.yaml")
    plain = load_config(str(cfg_path))
    assert plain.model_cfg.model_type == "ViT-B-32" and plain.model_cfg.pretrained == "openai"
    swapped = load_config(str(cfg_path), ["model.model_type=tiny"])
    # tiny's defaults, not ViT-B-32's (LAVIS 1.0.2 keeps the old type's YAML)
    assert swapped.model_cfg.model_type == "tiny" and swapped.model_cfg.pretrained == ""
    assert swapped.config.preprocess.vis_processor.train.image_size == 32


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c["model"].update(model_type="ViT-Q-99"), "unknown model_type for ahnpl_clip 'ViT-Q-99'; valid: RN50, ViT-B-16"),
        (lambda c: c["model"].update(arch="no_such_model"), "unknown model.arch 'no_such_model'; valid:"),
        (lambda c: c["run"].update(bacth_size_train=3), "unknown run key(s) bacth_size_train; valid:"),
        (lambda c: c["datasets"].update(no_such_data={}), "unknown dataset 'no_such_data'; valid:"),
        (lambda c: c["run"].update(amp="fp8"), "unknown run.amp 'fp8'; valid:"),
    ],
)
def test_bad_config_is_one_line_error_listing_valid_choices(world_dir, tmp_path, edit, message):
    raw = _config(world_dir, tmp_path / "o")
    edit(raw)
    cfg = _write(raw, tmp_path / "c.yaml")
    from ahnpl_plugin.train import main

    import io
    from contextlib import redirect_stderr

    err = io.StringIO()
    with redirect_stderr(err):
        rc = main(["--cfg-path", str(cfg)])
    assert rc == 2
    assert message in err.getvalue()
    assert err.getvalue().count("\n") == 1


@pytest.mark.slow  # subprocess lavis.train
def test_missing_weights_fail_fast_before_data(tmp_path):
    raw = _config(tmp_path / "never_built", tmp_path / "o")
    raw["model"]["pretrained"] = str(tmp_path / "nope.pt")
    cfg = _write(raw, tmp_path / "c.yaml")
    proc = subprocess.run(
        [sys.executable, "-m", "lavis.train", "--cfg-path", str(cfg)],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )
    assert proc.returncode == 2
    assert str(tmp_path / "nope.pt") in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "never_built").exists()  # no data was generated


@pytest.mark.slow  # a training run and an evaluation
def test_evaluate_entry_point_reproduces_test_results(world_dir, tmp_path):
    cfg = _write(_config(world_dir, tmp_path / "t", max_epoch=1), tmp_path / "c.yaml")
    runner = _train_in_process(cfg)
    trained = json.loads((runner.output_dir / "results.json").read_text())["test"]
    from ahnpl_plugin.evaluate import _evaluate

    eval_cfg = _write(_config(world_dir, tmp_path / "e", max_epoch=1), tmp_path / "e.yaml")
    results = _evaluate(["--cfg-path", str(eval_cfg), "--options",
                         f"run.checkpoint={runner.output_dir / 'checkpoint_best.pth'}"])
    for key, value in trained.items():
        assert results["test"][key] == pytest.approx(value, abs=1e-6), key


@pytest.mark.slow  # two training runs
def test_bf16_autocast_on_cpu_trains(world_dir, tmp_path):
    """bf16 autocast really runs (the losses differ from fp32's in the last bits) and computes the
    same thing: the first step (same seed, same weights, same batch) gives fp32's loss within
    bf16's precision (8 mantissa bits: 2**-8 = 0.4% per rounding; 0.5% allowed, 0.02-0.03% measured
    on the tiny CLIP: 4.4071 vs 4.4064)."""
    fp32 = _train_in_process(_write(_config(world_dir, tmp_path / "f", max_epoch=1), tmp_path / "f.yaml"))
    bf16 = _train_in_process(_write(_config(world_dir, tmp_path / "b", max_epoch=1, amp="bf16"), tmp_path / "b.yaml"))
    rows32, rows16 = _metrics(fp32.output_dir), _metrics(bf16.output_dir)
    assert [r["step"] for r in rows16] == [r["step"] for r in rows32] == [1, 2, 3, 4]  # 64 samples, batch 16
    first32, first16 = rows32[0], rows16[0]
    assert first16["loss"] != first32["loss"]  # autocast was on
    for key in ("loss", "loss_itc"):
        assert first16[key] == pytest.approx(first32[key], rel=5e-3), key


@pytest.mark.slow  # torchrun, 2 processes
def test_torchrun_two_processes_gloo(world_dir, tmp_path):
    """Two gloo ranks (they share the cores where there are fewer than two) train one run; the test
    scores they gather equal one process's evaluation of the checkpoint they saved."""
    cfg = _write(_config(world_dir, tmp_path / "o", max_epoch=1), tmp_path / "c.yaml")
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "lavis.train", "--cfg-path", str(cfg)],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = list((tmp_path / "o").iterdir())  # one run folder for both ranks
    rows = _metrics(run_dir)
    # 64 samples, 2 ranks x batch 16 -> 2 steps per epoch
    assert [r["step"] for r in rows] == [1, 2]
    gathered = json.loads((run_dir / "results.json").read_text())["test"]
    from ahnpl_plugin.evaluate import _evaluate

    eval_cfg = _write(_config(world_dir, tmp_path / "e", max_epoch=1), tmp_path / "e.yaml")
    alone = _evaluate(["--cfg-path", str(eval_cfg), "--options", f"run.checkpoint={run_dir / 'checkpoint_best.pth'}"])
    assert set(alone["test"]) == set(gathered)
    for key, value in gathered.items():
        assert alone["test"][key] == pytest.approx(value, abs=1e-6), key


def test_arch_option_swaps_backbone_with_that_models_defaults(world_dir, tmp_path):
    from ahnpl_plugin import register
    from ahnpl_plugin.config import load_config

    register()
    cfg_path = _write(_config(world_dir, tmp_path / "o"), tmp_path / "c.yaml")
    swapped = load_config(str(cfg_path), ["model.arch=ahnpl_blip", "model.model_type=tiny"])
    assert swapped.model_cfg.arch == "ahnpl_blip"
    assert "tokenizer" in swapped.model_cfg  # a BLIP default key, absent from ahnpl_clip's YAML
