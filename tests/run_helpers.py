"""Training runs of the tiny CLIP on the tiny COCO-shaped folder (``coco`` fixture of conftest.py),
through the real entry points: one config shape shared by the runner test files."""

from __future__ import annotations

import json
from pathlib import Path

import yaml


def coco_run_config(coco, output_dir: Path, model: dict | None = None, **run_overrides) -> dict:
    """A config dict: tiny CLIP (random weights), ``ahnpl_coco`` on the folder with its template
    negatives, one CPU epoch of batch 4 with val and test; ``run_overrides`` replace run keys."""
    folder, negatives = coco
    run = {
        "task": "retrieval", "runner": "ahnpl_runner", "device": "cpu", "init_lr": 1e-3, "warmup_steps": 1,
        "weight_decay": 0.1, "max_epoch": 1, "batch_size_train": 4, "batch_size_eval": 8, "num_workers": 0,
        "seed": 7, "k_test": 8, "use_dist_eval_sampler": False, "output_dir": str(output_dir),
        "train_splits": ["train"], "valid_splits": ["val"], "test_splits": ["test"], "log_freq": 0,
        "progress": False, "plot": False,
    }
    run.update(run_overrides)
    data = {
        "build_info": {
            "annotations": {s: {"storage": str(p)} for s, p in folder.annotations.items()},
            "images": {"storage": str(folder.images)},
        },
        "negatives": str(negatives),
    }
    return {"model": {"arch": "ahnpl_clip", "model_type": "tiny", "pretrained": "", **(model or {})},
            "datasets": {"ahnpl_coco": data}, "run": run}


def write_config(cfg: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


def train(cfg_path: Path, *options: str):
    """The runner of an in-process ``lavis.train`` run (user errors raise)."""
    from ahnpl_plugin.train import _train

    return _train(["--cfg-path", str(cfg_path)] + (["--options", *options] if options else []))


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())
