"""ahnpl_runner on the real-data path: bf16 retrieval validation, checkpoints before validation,
exact resume with loader workers and a best epoch, gradient accumulation, logging, wrong checkpoints.

Each test trains the tiny CLIP for seconds on a tiny COCO-shaped folder (Karpathy JSONs, JPEGs,
template negatives) through the real entry points.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from ahnpl_plugin.errors import ConfigError
from ahnpl_plugin.schedule import micro_step, optimizer_steps_per_epoch

from helpers.files import write_yaml as _write
from helpers.runs import coco_run_config as _config
from helpers.runs import metrics as _metrics
from helpers.runs import results as _results
from helpers.runs import train as _train


# ----------------------------------------------------------------------------- bf16 validation


@pytest.mark.slow  # training runs in process
def test_coco_recipe_with_amp_validates_and_tests_under_bf16(coco, tmp_path):
    """amp: bf16 (what amp: true picks on a GPU; on a CPU it is asked for explicitly); retrieval
    scoring used to call .numpy() on a bf16 similarity matrix after the first epoch."""
    runner = _train(_write(_config(coco, tmp_path / "o", amp="bf16"), tmp_path / "c.yaml"))
    assert runner._amp_dtype == torch.bfloat16
    test = _results(runner.output_dir)["test"]
    for key in ("txt_r1", "txt_r5", "img_r1", "img_r5", "agg_metrics"):
        assert 0.0 <= test[key] <= 100.0, key


def test_sim_matrix_is_float32_under_autocast():
    from omegaconf import OmegaConf

    from ahnpl_plugin import register

    register()
    from ahnpl_plugin.models.clip.model import AHNPLClip

    model = AHNPLClip.from_config(OmegaConf.create({"arch": "ahnpl_clip", "model_type": "tiny", "pretrained": ""}))
    model.eval()

    class Texts:
        text = ["a red cube", "a blue ball", "two green dogs"]

    loader = [{"image": torch.rand(2, 3, 32, 32)}]

    class Loader(list):
        dataset = Texts()

    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        i2t, t2i = model.compute_sim_matrix(Loader(loader))
    assert i2t.dtype.name == "float32" and i2t.shape == (2, 3) and t2i.shape == (3, 2)
    with torch.no_grad(), torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        images, texts = model.encode_image(loader[0]["image"]), model.encode_text(Texts.text)
    assert images.dtype == texts.dtype == torch.float32
    assert torch.allclose(torch.from_numpy(i2t), images @ texts.T, atol=1e-6)  # no bf16 rounding


# ----------------------------------------------------------------------------- checkpoints


def _plant_validation(monkeypatch, by_epoch: dict):
    """Make split ``val``'s agg_metrics the planted value of each epoch (other splits unchanged);
    a value of None makes validation raise. ``by_epoch`` is read at each call (tests may change it)."""
    from lavis.tasks.retrieval import RetrievalTask

    original = RetrievalTask.after_evaluation

    def after_evaluation(self, val_result, split_name, epoch, **kwargs):
        out = original(self, val_result=val_result, split_name=split_name, epoch=epoch, **kwargs)
        if split_name == "val" and epoch in by_epoch:
            if by_epoch[epoch] is None:
                raise RuntimeError("validation failed")
            out["agg_metrics"] = by_epoch[epoch]
        return out

    monkeypatch.setattr(RetrievalTask, "after_evaluation", after_evaluation)


@pytest.mark.slow  # training runs in process
def test_failed_validation_keeps_the_trained_epoch_and_resume_validates_it(coco, tmp_path, monkeypatch):
    planted = {0: None}
    _plant_validation(monkeypatch, planted)
    cfg = _write(_config(coco, tmp_path / "a", max_epoch=2), tmp_path / "a.yaml")
    with pytest.raises(RuntimeError, match="validation failed"):
        _train(cfg)
    (run_dir,) = list((tmp_path / "a").iterdir())
    saved = torch.load(run_dir / "checkpoint_last.pth", map_location="cpu", weights_only=False)
    assert saved["epoch"] == 0 and saved["validated"] is False and saved["global_step"] == 4
    assert not (run_dir / "checkpoint_best.pth").exists()

    planted.update({0: 50.0, 1: 10.0})  # validation works now; epoch 0 is best
    resumed = _train(_write(_config(coco, tmp_path / "b", max_epoch=2), tmp_path / "b.yaml"),
                     f"run.resume_ckpt_path={run_dir / 'checkpoint_last.pth'}")
    # epoch 0 not retrained; its rows carried over from the interrupted run, so the file covers the run
    assert [r["epoch"] for r in _metrics(resumed.output_dir)] == [0] * 4 + [1] * 4
    assert _metrics(resumed.output_dir)[:4] == _metrics(run_dir)
    assert (resumed.best_epoch, resumed.best_metric) == (0, 50.0)
    best = torch.load(resumed.output_dir / "checkpoint_best.pth", map_location="cpu", weights_only=False)
    assert best["epoch"] == 0


@pytest.mark.slow  # training runs in process
def test_resume_with_workers_and_an_earlier_best_epoch_matches_the_uninterrupted_run(coco, tmp_path, monkeypatch):
    """Two loader workers (random crops in the workers) and a best epoch (0) before the resumed
    checkpoint (1): the resumed run trains the same steps, keeps epoch 0 as best and reports the
    same test numbers."""
    _plant_validation(monkeypatch, {0: 90.0, 1: 50.0, 2: 40.0})
    run = {"max_epoch": 3, "num_workers": 2, "save_every_epoch": True}
    full = _train(_write(_config(coco, tmp_path / "a", **run), tmp_path / "a.yaml"))
    assert full.best_epoch == 0
    resumed = _train(_write(_config(coco, tmp_path / "b", **run), tmp_path / "b.yaml"),
                     f"run.resume_ckpt_path={full.output_dir / 'checkpoint_1.pth'}")
    rows_full = [r for r in _metrics(full.output_dir) if r["epoch"] == 2]
    rows_resumed = [r for r in _metrics(resumed.output_dir) if r["epoch"] == 2]
    assert [r["step"] for r in rows_resumed] == [r["step"] for r in rows_full]
    for a, b in zip(rows_full, rows_resumed):
        for key in ("loss", "loss_itc", "loss_hn", "loss_dm", "theta/noun", "lr"):
            assert b[key] == pytest.approx(a[key], rel=1e-6, abs=1e-7), (a["step"], key)
    assert (resumed.best_epoch, resumed.best_metric) == (0, 90.0)
    assert _results(resumed.output_dir)["test"] == _results(full.output_dir)["test"]


@pytest.mark.slow  # training runs in process
def test_a_finished_run_whose_last_epoch_was_best_extends_to_more_epochs(coco, tmp_path, monkeypatch):
    """Epoch 1 improves the best score, so checkpoint_best.pth moves on to epoch 1: extending the
    finished 2-epoch run to 3 epochs from its checkpoint_last.pth must find epoch 1's weights."""
    _plant_validation(monkeypatch, {0: 10.0, 1: 50.0, 2: 20.0})
    short = _train(_write(_config(coco, tmp_path / "b", max_epoch=2), tmp_path / "b.yaml"))
    extended = _train(_write(_config(coco, tmp_path / "c", max_epoch=3), tmp_path / "c.yaml"),
                      f"run.resume_ckpt_path={short.output_dir / 'checkpoint_last.pth'}")
    assert (extended.best_epoch, extended.best_metric) == (1, 50.0)
    assert [r["step"] for r in _metrics(extended.output_dir)] == list(range(1, 13))  # the whole run
    best = torch.load(extended.output_dir / "checkpoint_best.pth", map_location="cpu", weights_only=False)
    assert (best["epoch"], best["validated"]) == (1, True)
    assert _results(extended.output_dir)["model_weights"]["epoch"] == 1


@pytest.mark.slow  # training runs in process
def test_resume_refuses_when_the_best_epochs_weights_are_gone(coco, tmp_path, monkeypatch):
    _plant_validation(monkeypatch, {0: 90.0, 1: 50.0})
    full = _train(_write(_config(coco, tmp_path / "a", max_epoch=2), tmp_path / "a.yaml"))
    (full.output_dir / "checkpoint_best.pth").unlink()
    with pytest.raises(ConfigError, match="best epoch so far is 0"):
        _train(_write(_config(coco, tmp_path / "b", max_epoch=3), tmp_path / "b.yaml"),
               f"run.resume_ckpt_path={full.output_dir / 'checkpoint_last.pth'}")


# ----------------------------------------------------------------------------- accumulation


def test_micro_steps_of_a_trailing_partial_group():
    # 5 micro-steps, groups of 2: {0,1} {2,3} {4}; 3 optimiser steps per epoch
    assert optimizer_steps_per_epoch(5, 2) == 3 and optimizer_steps_per_epoch(4, 2) == 2
    places = [micro_step(1, i, 5, 2) for i in range(5)]
    assert [p.optimizer_step for p in places] == [3, 3, 4, 4, 5]
    assert [p.group_size for p in places] == [2, 2, 2, 2, 1]
    assert [p.last_in_group for p in places] == [False, True, False, True, True]
    assert [micro_step(0, i, 3, 1).group_size for i in range(3)] == [1, 1, 1]
    with pytest.raises(ValueError):
        micro_step(0, 5, 5, 2)


@pytest.mark.slow  # training runs in process
def test_accumulated_gradient_is_the_mean_over_each_group_including_a_partial_one(coco, tmp_path, monkeypatch):
    """16 captions, batch 4, accum 3: groups of 3 and 1 micro-steps. At each optimiser step the
    gradient must equal the mean of the group's per-micro-step gradients (lr 0 keeps the weights,
    so per-step gradients are comparable); the schedule must count 2 steps per epoch."""
    from ahnpl_plugin.models.clip.model import AHNPLClip

    micro_grads, step_grads = [], []  # per call: {id(parameter): gradient}
    original_forward = AHNPLClip.forward

    def forward(self, samples):
        out = original_forward(self, samples)
        params = [p for p in self.parameters() if p.requires_grad]
        grads = torch.autograd.grad(out["loss"], params, retain_graph=True, allow_unused=True)
        micro_grads.append({id(p): torch.zeros_like(p) if g is None else g.clone() for p, g in zip(params, grads)})
        return out

    monkeypatch.setattr(AHNPLClip, "forward", forward)
    original_step = torch.optim.AdamW.step

    def step(self, *args, **kwargs):
        params = [p for g in self.param_groups for p in g["params"]]
        step_grads.append({id(p): torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in params})
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    cfg = _config(coco, tmp_path / "o", accum_grad_iters=3, init_lr=0.0, warmup_steps=0, max_grad_norm=None,
                  fused_adamw=False, valid_splits=[], test_splits=[])
    runner = _train(_write(cfg, tmp_path / "c.yaml"))
    assert len(micro_grads) == 4 and len(step_grads) == 2
    for key, got in step_grads[0].items():
        expected = sum(m[key] for m in micro_grads[:3]) / 3
        assert torch.allclose(got, expected, rtol=1e-4, atol=1e-5), (got - expected).abs().max()
    for key, got in step_grads[1].items():  # the partial group: its one micro-step, not a third of it
        assert torch.allclose(got, micro_grads[3][key], rtol=1e-4, atol=1e-5), (got - micro_grads[3][key]).abs().max()
    assert runner.accum_grad_iters == 3


@pytest.mark.slow  # training runs in process
def test_schedule_counts_the_optimiser_steps_that_run(coco, tmp_path):
    """4 micro-steps per epoch, accum 3, 2 epochs: 4 optimiser steps; the cosine reaches its
    last step (3 of 4) at the last micro-step, never past the end."""
    from ahnpl_plugin.schedule import learning_rate

    cfg = _config(coco, tmp_path / "o", accum_grad_iters=3, max_epoch=2, warmup_steps=0, min_lr=0.0,
                  valid_splits=[], test_splits=[])
    runner = _train(_write(cfg, tmp_path / "c.yaml"))
    lrs = [r["lr"] for r in _metrics(runner.output_dir)]
    expected_steps = [0, 0, 0, 1, 2, 2, 2, 3]
    expected = [learning_rate(s, 4, init_lr=1e-3, min_lr=0.0) for s in expected_steps]
    assert lrs == pytest.approx(expected, rel=1e-9)


# ----------------------------------------------------------------------------- logging and errors


@pytest.mark.slow  # training runs in process
def test_cuda_fallback_keeps_info_logging_in_train_log(coco, tmp_path):
    cfg = _write(_config(coco, tmp_path / "o", device="cuda", log_freq=1), tmp_path / "c.yaml")
    proc = subprocess.run([sys.executable, "-m", "lavis.train", "--cfg-path", str(cfg)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600,
                          env={**__import__("os").environ, "CUDA_VISIBLE_DEVICES": ""})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "CUDA is not available: using cpu" in proc.stderr
    (run_dir,) = list((tmp_path / "o").iterdir())
    log = (run_dir / "train.log").read_text()
    assert "[INFO] run folder:" in log and "(device: cpu)" in log
    assert "[WARNING] run.device=cuda but CUDA is not available: using cpu" in log  # logged before the folder existed
    assert "[INFO] epoch 0 step 3/4" in log
    assert "[INFO] saved checkpoint of epoch 0" in log


@pytest.mark.slow  # training runs in process
def test_checkpoint_of_another_model_type_is_a_one_line_error_naming_it(coco, tmp_path):
    from omegaconf import OmegaConf

    from ahnpl_plugin.models.clip.model import AHNPLClip
    from ahnpl_plugin.errors import PretrainedWeightsError

    runner = _train(_write(_config(coco, tmp_path / "o", valid_splits=[], test_splits=[]), tmp_path / "c.yaml"))
    ckpt = runner.output_dir / "checkpoint_last.pth"
    cfg = OmegaConf.create({"arch": "ahnpl_clip", "model_type": "RN50", "pretrained": "",
                            "load_finetuned": True, "finetuned": str(ckpt)})
    with pytest.raises(PretrainedWeightsError) as caught:
        AHNPLClip.from_config(cfg)
    message = str(caught.value)
    assert "\n" not in message
    assert "saved from ahnpl_clip tiny" in message and "this model is ahnpl_clip RN50" in message
    assert "model.model_type=tiny" in message

    from ahnpl_plugin.evaluate import _evaluate

    eval_cfg = _config(coco, tmp_path / "e", valid_splits=[])
    eval_cfg["model"]["model_type"] = "RN50"
    with pytest.raises(ConfigError) as caught:
        _evaluate(["--cfg-path", str(_write(eval_cfg, tmp_path / "e.yaml")), "--options", f"run.checkpoint={ckpt}"])
    message = str(caught.value)
    assert "\n" not in message and "saved from ahnpl_clip tiny" in message and "this model is ahnpl_clip RN50" in message


@pytest.mark.slow  # training runs in process
def test_thresholds_move_once_per_optimiser_step_from_the_whole_group(coco, tmp_path, monkeypatch):
    """accum 3 over 4 micro-steps: theta used by micro-steps 0-2 is the start value, micro-step 3
    uses theta computed from micro-steps 0-2 together (logged per step), as from one batch of 12."""
    from ahnpl_plugin.losses import AHNPLLoss, adaptive_thresholds

    seen = []  # (S(v,t), S(v,n), mask) of every training forward
    original = AHNPLLoss._ahnpl_terms

    def terms(self, *args):
        out, positive, negative = original(self, *args)
        if self.training and self.num_types:
            seen.append((positive.detach(), negative.detach(), args[3]))
        return out, positive, negative

    monkeypatch.setattr(AHNPLLoss, "_ahnpl_terms", terms)
    cfg = _config(coco, tmp_path / "o", accum_grad_iters=3, valid_splits=[], test_splits=[])
    runner = _train(_write(cfg, tmp_path / "c.yaml"))
    rows = _metrics(runner.output_dir)
    theta_keys = sorted(k for k in rows[0] if k.startswith("theta/"))
    assert len(rows) == 4 and len(seen) == 4 and theta_keys
    for row in rows[:3]:
        assert [row[k] for k in theta_keys] == [0.0] * len(theta_keys)
    positive, negative, mask = (torch.cat(parts) for parts in zip(*seen[:3]))
    core = runner.unwrap_dist_model(runner.model)
    expected = adaptive_thresholds(positive, negative, mask, torch.zeros(mask.shape[1]), "mean", 10.0, 8.0)
    logged = torch.tensor([rows[3][f"theta/{name}"] for name in core.loss.negative_types])
    assert torch.allclose(logged, expected, atol=1e-5) and bool((expected > 0).any())


@pytest.mark.slow  # training runs in process
def test_model_selection_last_tests_the_last_epoch_and_says_so(coco, tmp_path, monkeypatch):
    """The paper's recipes report the last epoch; validation still runs (and checkpoint_best.pth is
    kept), but the final test and results.json name the last epoch's weights."""
    _plant_validation(monkeypatch, {0: 90.0, 1: 10.0})
    best = _train(_write(_config(coco, tmp_path / "a", max_epoch=2), tmp_path / "a.yaml"))
    last = _train(_write(_config(coco, tmp_path / "b", max_epoch=2, model_selection="last"), tmp_path / "b.yaml"))
    assert _results(best.output_dir)["model_weights"]["epoch"] == 0
    weights = _results(last.output_dir)["model_weights"]
    assert weights["epoch"] == 1 and weights["checkpoint"].endswith("checkpoint_last.pth")
    assert weights["selection"].startswith("the last epoch")
    assert (last.output_dir / "checkpoint_best.pth").is_file() and last.best_epoch == 0
    from ahnpl_plugin.evaluate import _evaluate

    again = _evaluate(["--cfg-path", str(_write(_config(coco, tmp_path / "c", valid_splits=[]), tmp_path / "c.yaml")),
                       "--options", f"run.checkpoint={last.output_dir / 'checkpoint_last.pth'}"])
    assert again["test"] == _results(last.output_dir)["test"]
    with pytest.raises(ConfigError, match="run.model_selection"):  # before anything trains or a folder exists
        _train(_write(_config(coco, tmp_path / "d", model_selection="first"), tmp_path / "d.yaml"))
    assert not (tmp_path / "d").exists()
