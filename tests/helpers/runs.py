"""Training runs of the tiny CLIP on the tiny COCO-shaped folder (``coco`` fixture of conftest.py),
through the real entry points: one config shape shared by the runner test files, the in-process
``lavis.train`` and config loading, and the files a run folder holds."""

from __future__ import annotations

import json
from pathlib import Path


def tiny_run_section(output_dir: Path, **overrides) -> dict:
    """The ``run`` section: one CPU epoch of batch 4 with val and test, no plots or progress bars;
    ``overrides`` replace or add run keys."""
    return {
        "task": "retrieval", "runner": "ahnpl_runner", "device": "cpu", "init_lr": 1e-3, "warmup_steps": 1,
        "weight_decay": 0.1, "max_epoch": 1, "batch_size_train": 4, "batch_size_eval": 8, "num_workers": 0,
        "seed": 7, "k_test": 8, "use_dist_eval_sampler": False, "output_dir": str(output_dir),
        "train_splits": ["train"], "valid_splits": ["val"], "test_splits": ["test"], "log_freq": 0,
        "progress": False, "plot": False, **overrides,
    }


def coco_run_config(coco, output_dir: Path, model: dict | None = None, dataset: str = "ahnpl_coco",
                    dataset_keys: dict | None = None, **run_overrides) -> dict:
    """A config dict: tiny CLIP (random weights; ``model`` adds or replaces keys), ``dataset``
    (``ahnpl_coco``) on the folder with its template negatives (``dataset_keys`` add or replace
    keys), and :func:`tiny_run_section` with ``run_overrides``."""
    folder, negatives = coco
    data = {
        "build_info": {
            "annotations": {s: {"storage": str(p)} for s, p in folder.annotations.items()},
            "images": {"storage": str(folder.images)},
        },
        "negatives": str(negatives),
        **(dataset_keys or {}),
    }
    return {"model": {"arch": "ahnpl_clip", "model_type": "tiny", "pretrained": "", **(model or {})},
            "datasets": {dataset: data}, "run": tiny_run_section(output_dir, **run_overrides)}


def train(cfg_path: Path, *options: str):
    """The runner of an in-process ``lavis.train`` run (user errors raise)."""
    from ahnpl_plugin.train import _train

    return _train(["--cfg-path", str(cfg_path)] + (["--options", *options] if options else []))


def load_config(cfg_path: Path, *options: str):
    """The plugin's loaded config of a YAML file with ``--options`` (the plugin registered first)."""
    from ahnpl_plugin import register
    from ahnpl_plugin.config import load_config as load

    register()
    return load(str(cfg_path), list(options))


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


def tiny_clip_weights_file(path: Path, seed: int = 0) -> Path:
    """A plain state dict of the tiny CLIP (GELU), random weights of ``seed``: start weights for a run."""
    import torch

    from ahnpl_plugin import compat

    compat.apply()
    from ahnpl_plugin.models.clip.weights import new_clip

    torch.manual_seed(seed)
    torch.save(new_clip("tiny", False).state_dict(), path)
    return path
