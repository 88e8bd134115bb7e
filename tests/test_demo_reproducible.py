"""Issue 20 item 4: on one machine, a seed and a thread count fix the demo's numbers bit for bit.

Two runs of a short demo config (small world, one epoch) in separate output folders must write the
same ``results.json`` (all of it but the checkpoint path, which names the run's own folder) and the
same per-step losses and thresholds in ``metrics.jsonl``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.runs import metrics as run_metrics

REPO = Path(__file__).resolve().parent.parent

SMALL_WORLD = [
    "datasets.ahnpl_synthetic_world.world.n_train=384",
    "datasets.ahnpl_synthetic_world.world.n_val=40",
    "datasets.ahnpl_synthetic_world.world.n_test=80",
    "run.max_epoch=1",
    "run.batch_size_train=64",
    "run.warmup_steps=2",
    "run.log_freq=1",
    "run.progress=false",
]


def _train(cfg: str, out: Path, cache: Path) -> Path:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "lavis.train", "--cfg-path", str(REPO / cfg), "--options",
           f"run.output_dir={out}", f"datasets.ahnpl_synthetic_world.cache_dir={cache}", *SMALL_WORLD]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return run_dir


def _comparable(run_dir: Path):
    record = json.loads((run_dir / "results.json").read_text())
    record["model_weights"].pop("checkpoint")  # <run folder>/checkpoint_best.pth
    steps = run_metrics(run_dir)
    numbers = [{k: v for k, v in row.items() if k.startswith(("loss", "theta/", "logit_scale", "step"))} for row in steps]
    return record, numbers


@pytest.mark.slow
@pytest.mark.parametrize("cfg", ["projects/ahnpl/ablation/ahnpl.yaml", "projects/ahnpl/ablation/negclip.yaml"])
def test_two_runs_give_identical_results(tmp_path, cfg):
    cache = tmp_path / "world"
    first = _comparable(_train(cfg, tmp_path / "a", cache))
    second = _comparable(_train(cfg, tmp_path / "b", cache))
    assert first[0]["test"]["average"] is not None
    assert len(first[1]) == 384 // 64
    assert first == second
