"""End-to-end training throughput through the real ``ahnpl_runner``: loader, step and all.

Runs ``python -m lavis.train``'s path (``ahnpl_plugin.train``) for ``--steps`` optimiser steps on a
generated COCO-like folder (640x480 JPEGs, Karpathy train JSON, template hard negatives; the
``ahnpl_coco`` builder) and on webdataset shards of the same samples (``ahnpl_wds``), for

* ``a``: LAVIS's stock CLIP path through the same runner and data: ``lavis.models.clip_models``'s
  ``CLIP.forward`` (text tokenised in the training process by LAVIS's own tokenizer at the model's
  context, padded; LAVIS's ``ClipLoss`` with world size 1, since ``CLIP.loss`` wants a process
  group); the hard negatives in the batch are ignored;
* ``b``: AHNPL as shipped (``ahnpl_clip``, loader-worker tokenisation, ``run.loader_tokens: true``);
* ``b-maintok``: AHNPL with ``run.loader_tokens: false`` (the model tokenises in the training
  process, the state before issue 21), to show what moving the tokenizer saved.

Each (variant, data) run is its own process (peak memory is per process), repeated ``--rounds``
times interleaved; medians. Reported per run, over steps 2..N (step 1 carries start-up):
samples/s, the share of that time the training loop waited in ``next(loader)``, milliseconds per
step spent tokenising in the training process (CPU time of its thread; target 0), the training process's CPU milliseconds
per step (steadier than wall time where other jobs share the cores), and peak RSS of the training process
and of its loader workers (``ru_maxrss``). The model is ``tiny`` on CPU unless ``--model-type`` /
``--device`` say otherwise (ViT-B-32 on a GPU: ``perf/gpu.sh``).

    python perf/end_to_end.py                                  # tiny, CPU, 2 workers
    python perf/end_to_end.py --device cuda --model-type ViT-B-32 --batch 256 --workers 8 --amp bf16
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "perf"))

VARIANTS = ("a", "b", "b-maintok")
DATA = ("folder", "shards")
TYPES = ("relation", "adj_swap", "adj", "noun", "verb")
STOCK_ARCH = "bench_stock_clip"


# ----------------------------------------------------------------------------- data


def make_data(root: Path, images: int) -> dict:
    """COCO-like folder + negatives + shards under ``root``; returns their paths."""
    from loader_throughput import make_images

    from ahnpl_plugin.data.negatives_join import join_negatives, read_negatives
    from ahnpl_plugin.data.sample_folder import write_template_negatives
    from ahnpl_plugin.data.shards import write_shards

    rows = make_images(root, images)
    annotations = root / "annotations" / "coco_karpathy_train.json"
    annotations.parent.mkdir(parents=True, exist_ok=True)
    annotations.write_text(json.dumps(rows))
    negatives = write_template_negatives(rows, root / "negatives.jsonl")
    records = join_negatives(rows, read_negatives(negatives)).records
    write_shards(records, root / "images", root / "shards", samples_per_shard=64, progress=False)
    return {"annotations": str(annotations), "images": str(root / "images"), "negatives": str(negatives),
            "shards": str(root / "shards" / "*.tar"), "samples": len(records)}


def config(variant: str, data: str, paths: dict, args, output_dir: Path) -> dict:
    arch = STOCK_ARCH if variant == "a" else "ahnpl_clip"
    run = {
        "task": "retrieval", "runner": "ahnpl_runner", "device": args.device, "init_lr": 1e-5, "warmup_steps": 0,
        "weight_decay": 0.1, "max_epoch": 1, "batch_size_train": args.batch, "batch_size_eval": args.batch,
        "num_workers": args.workers, "seed": 1, "output_dir": str(output_dir), "train_splits": ["train"],
        "valid_splits": [], "test_splits": [], "log_freq": 0, "progress": False, "plot": False,
        "max_steps": args.steps, "amp": args.amp, "loader_tokens": variant != "b-maintok",
    }
    if data == "folder":
        datasets = {"ahnpl_coco": {"build_info": {"annotations": {"train": {"storage": paths["annotations"]}, "val": None, "test": None},
                                                  "images": {"storage": paths["images"]}},
                                   "negatives": paths["negatives"]}}
    else:
        datasets = {"ahnpl_wds": {"build_info": {"shards": paths["shards"]}, "num_samples": paths["samples"],
                                  "shuffle_buffer": 256}}
        run["iters_per_epoch"] = args.steps
    return {"model": {"arch": arch, "model_type": args.model_type, "pretrained": ""}, "datasets": datasets, "run": run}


# ----------------------------------------------------------------------------- one run (child process)


def register_stock_clip():
    """LAVIS's CLIP as a runner-trainable model: its own forward, tokenizer and ClipLoss."""
    import functools

    from lavis.common.registry import registry
    from lavis.models.base_model import BaseModel
    from lavis.models.clip_models.loss import ClipLoss
    from lavis.models.clip_models import tokenizer as lavis_tokenizer

    from ahnpl_plugin.models import CONFIG_FILES, config_path
    from ahnpl_plugin.models.clip.weights import new_clip

    @registry.register_model(STOCK_ARCH)
    class StockClip(BaseModel):
        PRETRAINED_MODEL_CONFIG_DICT = {name: config_path(path) for name, path in CONFIG_FILES["ahnpl_clip"].items()}

        def __init__(self, clip):
            super().__init__()
            self.clip = clip
            clip._loss = ClipLoss(world_size=1, rank=0)  # what CLIP.loss builds, minus the process group
            clip.tokenizer = functools.partial(lavis_tokenizer.tokenize, context_length=clip.context_length)  # LAVIS's, uncached

        @classmethod
        def from_config(cls, cfg=None):
            return cls(new_clip(cfg.model_type, False))

        def forward(self, samples):
            return self.clip(samples)

    return StockClip


class Probe:
    """Timers patched into the training process: loader waits, tokeniser time, step boundaries."""

    def __init__(self):
        self.pid = os.getpid()
        self.waits: list[float] = []  # per next(loader) call
        self.returned: list[float] = []  # when each next(loader) returned
        self.cpu: list[float] = []  # this process's CPU time when each next(loader) returned
        self.tokenize_s = 0.0
        self.end = None
        self.end_cpu = None

    def timed_next(self, original):
        probe = self

        def __next__(self):
            start = time.perf_counter()
            try:
                return original(self)
            finally:
                now = time.perf_counter()
                probe.waits.append(now - start)
                probe.returned.append(now)
                probe.cpu.append(time.process_time())

        return __next__

    def timed(self, function):
        probe = self

        def wrapper(*args, **kwargs):
            start = time.thread_time()  # CPU time of this thread: not inflated by other jobs' load
            try:
                return function(*args, **kwargs)
            finally:
                if os.getpid() == probe.pid:  # loader workers (forked) are not the training process
                    probe.tokenize_s += time.thread_time() - start

        return wrapper


def one_run(cfg_path: str) -> dict:
    if os.environ.get("E2E_STAND_INS") == "1":  # the lent GPU machine (see perf/gpu.sh)
        from step import install_stand_ins

        install_stand_ins()
    import torch
    from torch.utils.data import dataloader

    from ahnpl_plugin import register

    register()
    probe = Probe()
    dataloader._BaseDataLoaderIter.__next__ = probe.timed_next(dataloader._BaseDataLoaderIter.__next__)
    import lavis.models.clip_models.tokenizer as lavis_tokenizer

    import ahnpl_plugin.models.clip.model as ahnpl_clip
    import ahnpl_plugin.models.loader_tokens as loader_tokens

    ahnpl_clip.tokenize = probe.timed(ahnpl_clip.tokenize)
    loader_tokens.batch_token_ids = probe.timed(loader_tokens.batch_token_ids)
    lavis_tokenizer.tokenize = probe.timed(lavis_tokenizer.tokenize)
    register_stock_clip()  # after the patch: its tokenizer is the timed one

    from ahnpl_plugin.runner import AHNPLRunner

    original_epoch = AHNPLRunner.train_epoch

    def train_epoch(self, epoch):
        try:
            return original_epoch(self, epoch)
        finally:
            probe.end = time.perf_counter()
            probe.end_cpu = time.process_time()

    AHNPLRunner.train_epoch = train_epoch
    torch.set_num_threads(int(os.environ.get("E2E_THREADS", "1")))
    from ahnpl_plugin.train import _train

    runner = _train(["--cfg-path", cfg_path])
    steps = len(probe.returned)
    batch = int(runner.config.run_cfg.batch_size_train)
    window = probe.end - probe.returned[0] if steps > 1 else float("nan")
    waits = sum(probe.waits[1:])
    gib = 1024 * 1024  # ru_maxrss is in KiB on Linux
    out = {
        "steps": steps, "batch": batch,
        "samples_per_s": (steps - 1) * batch / window,
        "wait_share": waits / window,
        "main_tokenize_ms_per_step": 1000 * probe.tokenize_s / max(steps, 1),
        # CPU time of the training process per step (steadier than wall time on a shared machine)
        "main_cpu_ms_per_step": 1000 * (probe.end_cpu - probe.cpu[0]) / max(steps - 1, 1),
        "peak_rss_main_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / gib,
        "peak_rss_worker_gib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / gib,
    }
    if torch.cuda.is_available() and runner.device.type == "cuda":
        out["peak_cuda_gib"] = torch.cuda.max_memory_allocated() / 1024**3
    return out


# ----------------------------------------------------------------------------- driver


def markdown(results: dict, args, load) -> str:
    lines = [f"{args.model_type}, {args.device}, batch {args.batch}, {args.workers} workers, {args.steps} steps, "
             f"median of {args.rounds} rounds; load average {load[0]:.2f} at start", "",
             "| variant | data | samples/s | vs a | waiting for data | main-process tokenising ms/step | main-process CPU ms/step | peak RSS main / worker GiB |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for data in DATA:
        base = results.get(f"a/{data}", {}).get("samples_per_s")
        for variant in VARIANTS:
            r = results.get(f"{variant}/{data}")
            if r is None:
                continue
            ratio = f"{r['samples_per_s'] / base:.2f}x" if base else "-"
            lines.append(f"| {variant} | {data} | {r['samples_per_s']:.1f} | {ratio} | {100 * r['wait_share']:.0f}% | "
                         f"{r['main_tokenize_ms_per_step']:.1f} | {r['main_cpu_ms_per_step']:.0f} | "
                         f"{r['peak_rss_main_gib']:.2f} / {r['peak_rss_worker_gib']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # child: run this config, print JSON
    parser.add_argument("--model-type", default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", default="false")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--images", type=int, default=0, help="default: enough for the steps (2 captions each)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--data", default=",".join(DATA))
    parser.add_argument("--json", default=None)
    parser.add_argument("--stand-ins", action="store_true", help="stand-in modules for LAVIS imports never used (GPU machine)")
    args = parser.parse_args(argv)
    if args.stand_ins:
        os.environ["E2E_STAND_INS"] = "1"
    if args.one:
        print("E2E_RESULT " + json.dumps(one_run(args.one)))
        return {}
    variants, datas = args.variants.split(","), args.data.split(",")
    images = args.images or (args.batch * args.steps) // 2 + args.batch
    load = os.getloadavg()
    runs: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = make_data(root / "data", images)
        env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}
        for round_ in range(args.rounds):
            for data in datas:
                for variant in variants:
                    key = f"{variant}/{data}"
                    cfg_path = root / f"{variant}-{data}-{round_}.yaml"
                    import yaml

                    cfg_path.write_text(yaml.safe_dump(config(variant, data, paths, args, root / "out" / f"{variant}-{data}-{round_}")))
                    done = subprocess.run([sys.executable, __file__, "--one", str(cfg_path)], env=env, cwd=root,
                                          capture_output=True, text=True)
                    line = [x for x in done.stdout.splitlines() if x.startswith("E2E_RESULT ")]
                    if done.returncode or not line:
                        raise SystemExit(f"{key} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
                    runs.setdefault(key, []).append(json.loads(line[0][len("E2E_RESULT "):]))
                    r = runs[key][-1]
                    print(f"round {round_ + 1} {key}: {r['samples_per_s']:.1f} samples/s, wait {100 * r['wait_share']:.0f}%, "
                          f"main tokenising {r['main_tokenize_ms_per_step']:.1f} ms/step", file=sys.stderr)
    results = {key: {name: statistics.median(r[name] for r in rs) for name in rs[0]} for key, rs in runs.items()}
    report = {"results": results, "all_runs": runs, "model_type": args.model_type, "device": args.device,
              "batch": args.batch, "workers": args.workers, "steps": args.steps, "rounds": args.rounds,
              "samples": images * 2, "load_average_at_start": [round(x, 2) for x in load],
              "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}"}
    report["table"] = markdown(results, args, load)
    print(report["table"])
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return report


if __name__ == "__main__":
    main()
