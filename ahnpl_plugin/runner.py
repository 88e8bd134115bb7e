"""``ahnpl_runner``: LAVIS's RunnerBase with the 1.0.2 defects fixed and the inner loop owned.

What differs from ``runner_base`` (docs/method.md, "What the LAVIS adapter changes", lists the
defects):

* runs without torch.distributed (no ``dist.barrier()`` crash after epoch 0), on CPU (LAVIS's
  tasks are told to keep batches off CUDA there), and under torchrun with gloo; ``model`` is always the (DDP-wrapped) model on the device;
* no CUDA-only ``PrefetchLoader``; training order from a seeded ``DistributedSampler`` (also for one
  process) so that a resumed run sees the same batches as an uninterrupted one;
* bf16 or fp16 autocast (``run.amp: bf16|fp16|true|false``; fp16 with a GradScaler), loss divided by
  ``accum_grad_iters`` with DDP ``no_sync`` between micro-steps, gradient clipping
  (``run.max_grad_norm``), the model's own optimiser parameter groups, per-step cosine schedule;
* training batches are tokenised in the loader's workers with the model's tokenizer
  (``run.loader_tokens``, default true; :mod:`ahnpl_plugin.models.loader_tokens`);
* training images leave the loader as uint8 and are normalised on the device
  (``run.normalize_on_device``, default true, bit-identical; :mod:`ahnpl_plugin.datasets.device_normalize`);
* ``run.grad_cache``: gradient accumulation whose loss is that of the whole group (GradCache;
  ``ahnpl_clip``, one process): the contrastive softmaxes see ``accum_grad_iters`` x the batch;
* ``run.grad_checkpointing``: activation checkpointing of the model's towers (exact);
* every loss component and each adaptive threshold logged (``metrics.jsonl``, the LAVIS log, a PNG);
* a non-finite loss stops the run naming the step and the last finite components;
* checkpoints are written atomically, before validation, and hold model (with theta), optimiser,
  scaler, epoch, step and the best validation so far; ``run.resume_ckpt_path`` resumes exactly
  (worker seeds, best epoch and final test included), and evaluate-only honours ``run.checkpoint``;
* gradient accumulation divides each loss by the size of its group (a trailing partial group
  too), the schedule counts the optimiser steps that actually run, and the adaptive thresholds
  move once per optimiser step (models with ``follow_optimizer_steps``/``on_optimizer_step``);
* ``run.output_dir`` relative to the working directory, one unique folder per run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from lavis.common.registry import registry
from lavis.runners.runner_base import RunnerBase
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import ChainDataset, ConcatDataset, DataLoader, IterableDataset

from ahnpl_plugin.contract import HOST_KEYS
from ahnpl_plugin.datasets.device_normalize import images_as_uint8
from ahnpl_plugin.errors import ConfigError, TrainingDiverged, unknown_choice
from ahnpl_plugin.models.loader_tokens import TokenizingCollater
from ahnpl_plugin.models.param_groups import weight_decay_groups
from ahnpl_plugin.resumable_data import ResumableSampler, SeededSamples, rng_states, set_rng_states
from ahnpl_plugin.schedule import learning_rate, micro_step, optimizer_steps_per_epoch

AMP_CHOICES = ("bf16", "fp16", "true", "false", "none")
EVAL_PRECISIONS = ("fp32", "bf16", "fp16")


def _to_device(samples, device):
    if torch.is_tensor(samples):
        return samples.to(device, non_blocking=True)
    if isinstance(samples, dict):
        return {k: v if k in HOST_KEYS else _to_device(v, device) for k, v in samples.items()}
    return samples


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_torch_save(obj, path: Path) -> None:
    """Write ``obj`` to a temporary file beside ``path``, flush it to disk, then rename it over
    ``path``: a kill at any moment leaves either the old file or the new one, never a torn one."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    _fault_point("checkpoint_write")  # the new file is complete but not yet in place
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _atomic_copy(source: Path, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.copyfile(source, tmp)
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, target)
    _fsync_dir(target.parent)


def _load_safely(path, map_location="cpu", mmap: bool = False):
    """A runner checkpoint, read with the package's one checkpoint reader (``weights_only``): it
    holds tensors and plain containers only (RNG states included), so nothing in it needs code."""
    from ahnpl_plugin.models.checkpoint_formats import load_pickle

    return load_pickle(path, map_location=map_location, mmap=mmap, error=ConfigError,
                       fix="It is not a checkpoint of this runner (load other models' weights with model.pretrained)")


def _stored_epoch(path: Path) -> int | None:
    """The ``epoch`` a runner checkpoint holds (memory-mapped: the tensors are not read)."""
    stored = _load_safely(path, mmap=True)
    epoch = stored.get("epoch") if isinstance(stored, dict) else None
    return None if epoch is None else int(epoch)


_FAULT_COUNTS: dict[str, int] = {}


def _fault_point(name: str) -> None:
    """Fault-injection hook for the crash tests. ``AHNPL_FAULT_POINTS`` lists ``name:N`` entries
    (comma-separated; ``name`` alone means N=1): at the N-th time the run passes point ``name``,
    the name is appended to the file ``AHNPL_FAULT_LOG`` and the process pauses, so that a test can
    kill it from outside at exactly that moment. Without the variable this is a dictionary lookup."""
    points = os.environ.get("AHNPL_FAULT_POINTS")
    if not points:
        return
    _FAULT_COUNTS[name] = count = _FAULT_COUNTS.get(name, 0) + 1
    for entry in points.split(","):
        point, _, nth = entry.partition(":")
        if point == name and count == int(nth or 1):
            with open(os.environ["AHNPL_FAULT_LOG"], "a") as f:
                f.write(f"{name}:{count}\n")
            time.sleep(float(os.environ.get("AHNPL_FAULT_PAUSE", "120")))


def _scalar(value):
    return float(value.detach().float().item()) if torch.is_tensor(value) else float(value)


@registry.register_runner("ahnpl_runner")
class AHNPLRunner(RunnerBase):
    def __init__(self, cfg, task, model, datasets, job_id):
        self.global_step = 0
        self.best_metric, self.best_epoch = -math.inf, None  # over run.valid_splits[0]'s agg_metrics
        self._revalidate = None  # (epoch, file): resumed from a checkpoint saved before its validation
        self._worker_seeds = torch.Generator()  # base seed of training loader workers, per epoch
        self._samplers = {}
        self._streams = {}
        self._seeded = {}  # training datasets whose samples are seeded per (epoch, index)
        self._device_normalizers = {}  # training loaders whose images come as uint8: their Normalize
        self._last_finite = {}
        self._resumed_from = None  # (file, epoch, step in epoch) of the checkpoint resumed from
        self._resume = None  # (start step, RNG states, running sums) of a mid-epoch checkpoint
        self._provenance = None
        # precision settings are checked before RunnerBase creates the run folder
        self.config, self._device = cfg, None
        self._amp_dtype = self._resolve_amp()
        self._eval_dtype = self._resolve_eval_precision()
        selection = str(cfg.run_cfg.get("model_selection", "best")).lower()
        if selection not in ("best", "last"):
            raise unknown_choice("run.model_selection", selection, ("best", "last"))
        super().__init__(cfg, task, model, datasets, job_id)
        logging.info("training precision: %s; evaluation precision: %s",
                     "float32" if self._amp_dtype is None else f"{str(self._amp_dtype)[6:]} autocast",
                     self.eval_precision)

    # ------------------------------------------------------------------ setup
    def setup_output_dir(self):
        base = Path(self.config.run_cfg.output_dir).expanduser().resolve()
        output_dir = base / self.job_id
        result_dir = output_dir / "result"
        if self.is_main:
            output_dir.mkdir(parents=True, exist_ok=False)
            result_dir.mkdir(parents=True, exist_ok=True)
        if self.use_distributed:
            dist.barrier()
        # LAVIS's register_path refuses to overwrite; a second run in one process must.
        registry.mapping["paths"]["result_dir"] = str(result_dir)
        registry.mapping["paths"]["output_dir"] = str(output_dir)
        self.result_dir, self.output_dir = result_dir, output_dir
        if self.is_main:
            from ahnpl_plugin import launch

            launch.attach_run_log(output_dir / "train.log")  # with the lines logged before it existed
        logging.info("run folder: %s (device: %s)", output_dir, self.device)

    @property
    def is_main(self) -> bool:
        return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0

    @property
    def evaluate_only(self):
        return bool(self.config.run_cfg.get("evaluate", False))

    @property
    def use_distributed(self):
        return bool(self.config.run_cfg.get("distributed", False))

    def _resolve_amp(self):
        """Autocast dtype, or None. ``true`` means what is fast on the device: off on CPU (bf16
        autocast there ran ViT-B-32 steps ~40x slower than fp32), bf16 (else fp16) on CUDA."""
        amp = str(self.config.run_cfg.get("amp", False)).lower()
        if amp not in AMP_CHOICES:
            raise unknown_choice("run.amp", amp, AMP_CHOICES)
        if amp in ("false", "none"):
            return None
        if amp == "true":  # what is fast on the device
            if self.device.type != "cuda":
                logging.info("run.amp: true on %s means off (fp32): autocast is slower than fp32 there; "
                             "run.amp: bf16 forces it", self.device.type)
                return None
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            logging.info("run.amp: true on cuda -> %s autocast%s", "bf16" if dtype == torch.bfloat16 else "fp16",
                         "" if dtype == torch.bfloat16 else " with a GradScaler (no bf16 on this GPU)")
            return dtype
        if amp == "fp16" and self.device.type != "cuda":
            raise ConfigError("run.amp: fp16 needs a CUDA device; use bf16 on CPU")
        if self.device.type != "cuda":
            logging.warning("run.amp: bf16 on %s: bf16 autocast is usually much slower than fp32 on CPUs "
                            "(78 s vs 1.9 s per ViT-B-32 step measured on a 2-core x86_64 CPU); "
                            "run.amp: false is faster unless this CPU has bf16 matrix units", self.device.type)
        return torch.bfloat16 if amp == "bf16" else torch.float16

    @property
    def eval_precision(self) -> str:
        return str(self.config.run_cfg.get("eval_precision", "fp32")).lower()

    def _resolve_eval_precision(self):
        """``run.eval_precision`` (fp32 by default): one precision for every evaluation of every
        model by every route (validation, final test, evaluate-only), whatever ``run.amp`` trains in,
        so that numbers compared side by side were measured alike."""
        precision = self.eval_precision
        if precision not in EVAL_PRECISIONS:
            raise unknown_choice("run.eval_precision", precision, EVAL_PRECISIONS)
        if precision == "fp16" and self.device.type != "cuda":
            raise ConfigError("run.eval_precision: fp16 needs a CUDA device; use fp32 or bf16 on CPU")
        return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]

    def _autocast(self, dtype="train"):
        dtype = self._amp_dtype if dtype == "train" else dtype
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    @property
    def model(self):
        """The model on the device, DDP-wrapped when distributed (LAVIS returns None on CPU)."""
        if self._wrapped_model is None:
            if self.config.run_cfg.get("grad_checkpointing", False):
                if not hasattr(self._model, "set_grad_checkpointing"):
                    raise ConfigError(f"run.grad_checkpointing: {type(self._model).__name__} has no set_grad_checkpointing()")
                self._model.set_grad_checkpointing(True)
            if self.config.run_cfg.get("grad_cache", False):
                if not hasattr(self._model, "grad_cache_step"):
                    raise ConfigError(f"run.grad_cache: {type(self._model).__name__} has no grad_cache_step() "
                                      "(ahnpl_clip has; BLIP's queues, momentum encoders and ITM have no GradCache form here)")
                if self.use_distributed:
                    raise ConfigError("run.grad_cache runs in one process only (its second encoding bypasses DDP's "
                                      "gradient hooks); use plain accum_grad_iters under torchrun")
            self._model = self._model.to(self.device)
            if self.config.run_cfg.get("channels_last", False):
                self._model = self._model.to(memory_format=torch.channels_last)
            if self.config.run_cfg.get("compile", False):
                # the towers only: tokenising and negative selection stay eager (see compile_towers)
                if not hasattr(self._model, "compile_towers"):
                    raise ConfigError(f"run.compile: {type(self._model).__name__} has no compile_towers()")
                logging.info("run.compile: torch.compile compiles the towers during the first steps (each "
                             "new input shape, in training and in evaluation): those steps take tens of "
                             "seconds or more; later ones run compiled")
                self._model.compile_towers()
            if self.use_distributed:
                device_ids = [self.config.run_cfg.gpu] if self.device.type == "cuda" else None
                self._wrapped_model = DDP(self._model, device_ids=device_ids)
            else:
                self._wrapped_model = self._model
        return self._wrapped_model

    def unwrap_dist_model(self, model):
        return model.module if isinstance(model, DDP) else model

    @property
    def optimizer(self):
        if self._optimizer is None:
            run = self.config.run_cfg
            model = self.unwrap_dist_model(self.model)
            weight_decay = float(run.get("weight_decay", 0.0))
            if hasattr(model, "get_optimizer_params"):
                groups = model.get_optimizer_params(weight_decay)
            else:  # e.g. LAVIS's stock models: the same rule as ours (models/param_groups.py)
                groups = weight_decay_groups(model.named_parameters(), weight_decay)
            n_params = sum(p.numel() for g in groups for p in g["params"])
            logging.info("trainable parameters: %d", n_params)
            # fused AdamW: CUDA and CPU (on tiny, 9 ms vs 59 ms per step on one CPU thread)
            fused = bool(run.get("fused_adamw", True)) and self.device.type in ("cuda", "cpu")
            self._optimizer = torch.optim.AdamW(
                groups,
                lr=float(run.init_lr),
                betas=(float(run.get("beta1", 0.9)), float(run.get("beta2", 0.999))),
                eps=float(run.get("eps", 1e-8)),
                weight_decay=weight_decay,
                **({"fused": True} if fused else {}),
            )
        return self._optimizer

    @property
    def scaler(self):
        if self._scaler is None and self._amp_dtype == torch.float16:
            self._scaler = torch.amp.GradScaler("cuda")
        return self._scaler

    # ------------------------------------------------------------ data loading
    @property
    def dataloaders(self) -> dict:
        """Loaders by split. Training data of several datasets is concatenated; an evaluation
        split provided by several datasets (e.g. ``test`` of every benchmark) stays one loader per
        dataset, ``{dataset_name: loader}``, so each is scored by its own rules."""
        if self._dataloaders is None:
            by_split = {}
            for dataset_name, splits in self.datasets.items():
                for split, dataset in splits.items():
                    by_split.setdefault(split, {})[dataset_name] = dataset
            self.datasets, loaders = {}, {}
            for split, named in by_split.items():
                if split in self.train_splits:
                    parts = list(named.values())
                    if len(parts) == 1:
                        dataset = parts[0]
                    elif all(isinstance(p, IterableDataset) for p in parts):
                        dataset = ChainDataset(parts)
                    elif any(isinstance(p, IterableDataset) for p in parts):
                        raise ConfigError(
                            f"split {split!r} mixes streaming (webdataset) and map-style datasets; "
                            "train on one kind at a time"
                        )
                    else:
                        dataset = ConcatDataset(parts)
                    self.datasets[split] = dataset
                    loaders[split] = self._make_loader(split, dataset, is_train=True)
                elif len(named) == 1:
                    (dataset,) = named.values()
                    self.datasets[split] = dataset
                    loaders[split] = self._make_loader(split, dataset, is_train=False)
                else:
                    self.datasets[split] = named
                    loaders[split] = {
                        name: self._make_loader(f"{name}/{split}", d, is_train=False)
                        for name, d in named.items()
                    }
            self._dataloaders = loaders
        return self._dataloaders

    def _make_loader(self, label, dataset, is_train):
        run = self.config.run_cfg
        first = dataset.datasets[0] if isinstance(dataset, (ConcatDataset, ChainDataset)) else dataset
        if isinstance(first, ChainDataset):
            first = next(iter(first.datasets))
        streaming = isinstance(dataset, IterableDataset)
        if is_train and run.get("normalize_on_device", True):  # uint8 from the workers (device_normalize.py)
            normalizer = images_as_uint8(dataset)
            if normalizer is not None:
                self._device_normalizers[label] = normalizer
        sampler = None
        if is_train and streaming:
            self._streams[label] = dataset
        elif is_train:
            dataset = self._seeded[label] = SeededSamples(dataset)
            sampler = ResumableSampler(
                dataset,
                num_replicas=int(run.get("world_size", 1)) if self.use_distributed else 1,
                rank=int(run.get("rank", 0)) if self.use_distributed else 0,
                shuffle=True,
                seed=int(run.get("seed", 42)),
                drop_last=True,
            )
            self._samplers[label] = sampler
        workers = int(run.get("num_workers", 0))
        collate = getattr(first, "collater", None)
        if is_train and run.get("loader_tokens", True) and hasattr(self._model, "loader_tokenizer"):
            # token ids made by the loader's workers, exactly the model's own (models/loader_tokens.py)
            collate = TokenizingCollater(collate, self._model.loader_tokenizer())
        if not streaming:
            logging.info("%s: %d records", label, len(dataset))
        return DataLoader(
            dataset,
            batch_size=int(run.batch_size_train if is_train else run.batch_size_eval),
            sampler=sampler,
            shuffle=False,
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
            collate_fn=collate,
            drop_last=is_train,
            # Map-style training samples are augmented under seeds of (seed, epoch, rank, index)
            # (SeededSamples); workers start afresh each epoch with a base seed of (seed, epoch,
            # rank) for anything else (streams), so a resumed run draws the same randomness.
            persistent_workers=workers > 0 and not streaming and not is_train,
            generator=self._worker_seeds if is_train else None,
        )

    # ----------------------------------------------------------------- schedule
    def _iters_per_epoch(self) -> int:
        """Steps per epoch: the loader's length, or for a stream ``run.iters_per_epoch`` /
        the dataset's ``batches_per_epoch(batch_size, world_size)``; capped by ``run.max_steps``."""
        run = self.config.run_cfg
        self.dataloaders  # builds loaders (and registers streams) on first use
        stream = self._streams.get("train")
        if stream is not None:
            if run.get("iters_per_epoch"):
                n = int(run.iters_per_epoch)
            elif hasattr(stream, "batches_per_epoch"):
                world = int(run.get("world_size", 1)) if self.use_distributed else 1
                n = int(stream.batches_per_epoch(int(run.batch_size_train), world))
            else:
                raise ConfigError(
                    "a streaming training set needs run.iters_per_epoch (or a dataset num_samples)"
                )
        else:
            n = len(self.train_loader)
        if n == 0:
            raise ConfigError(
                "the training split has fewer samples than one batch "
                f"(run.batch_size_train={self.config.run_cfg.batch_size_train})"
            )
        max_steps = self.config.run_cfg.get("max_steps")
        return min(n, int(max_steps)) if max_steps else n

    def _normalized(self, samples):
        """The training batch with its uint8 images normalised on the device (device_normalize.py)."""
        normalizer = self._device_normalizers.get("train")
        if normalizer is not None and isinstance(samples, dict):
            images = samples.get("image")
            if torch.is_tensor(images) and images.dtype == torch.uint8:
                samples["image"] = normalizer(images)
        return samples

    def _set_lr(self, optimizer_step: int, total_optimizer_steps: int) -> float:
        run = self.config.run_cfg
        lr = learning_rate(
            optimizer_step,
            total_optimizer_steps,
            schedule=str(run.get("lr_sched", "cosine")),
            init_lr=float(run.init_lr),
            min_lr=float(run.get("min_lr", 0.0)),
            warmup_steps=int(run.get("warmup_steps", 0)),
            warmup_lr=float(run.get("warmup_lr", 0.0)),
        )
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        return lr

    # ----------------------------------------------------------------- training
    def train(self):
        start = time.time()
        self.log_config()
        if not self.evaluate_only and self.resume_ckpt_path:
            self._load_checkpoint(self.resume_ckpt_path)
        if self._revalidate is not None:
            self._validate_and_mark_best(*self._revalidate)
            self._save_checkpoint(self._revalidate[0], validated=True)  # this run's own resumable file
        if self.resume_ckpt_path and not self.evaluate_only:
            self._adopt_best_checkpoint(Path(self.resume_ckpt_path).expanduser().parent)
        cur_epoch = self.start_epoch
        for cur_epoch in range(self.start_epoch, self.max_epoch):
            logging.info("epoch %d/%d", cur_epoch, self.max_epoch)
            train_stats = self.train_epoch(cur_epoch)
            self.log_stats(split_name="train", stats=train_stats)
            # The trained epoch is on disk before validation runs: a validation that fails loses
            # nothing, and resuming from this file validates the epoch first.
            self._save_checkpoint(cur_epoch, validated=not self.valid_splits)
            _fault_point("after_epoch_checkpoint")
            if self.valid_splits:
                self._validate_and_mark_best(cur_epoch, self.output_dir / "checkpoint_last.pth")
                # the same state again, now with its validation recorded (best epoch and score)
                self._save_checkpoint(cur_epoch, validated=True)
            if self.config.run_cfg.get("save_every_epoch", False) and self.is_main:
                _atomic_copy(self.output_dir / "checkpoint_last.pth", self.output_dir / f"checkpoint_{cur_epoch}.pth")
        if self.is_main and self.config.run_cfg.get("plot", True):
            from ahnpl_plugin.plotting import plot_training_curves

            png = plot_training_curves(self.output_dir / "metrics.jsonl", self.output_dir)
            if png:
                logging.info("training curves: %s", png)
        selection = str(self.config.run_cfg.get("model_selection", "best")).lower()
        has_best = selection == "best" and bool(self.valid_splits) and self.best_epoch is not None
        if has_best:
            logging.info("final test with the best epoch's weights (epoch %d, %s %.4f): checkpoint_best.pth",
                         self.best_epoch, self.valid_splits[0], self.best_metric)
        else:
            logging.info("final test with the last epoch's weights (epoch %d%s)", cur_epoch,
                         ", run.model_selection: last" if selection == "last" else "")
        results = self.evaluate(cur_epoch="best" if has_best else cur_epoch, skip_reload=not has_best)
        self._write_results(results, model_epoch=self.best_epoch if has_best else cur_epoch,
                            checkpoint=None if has_best else self.output_dir / "checkpoint_last.pth")
        logging.info("training time %.1f s; outputs in %s", time.time() - start, self.output_dir)
        return results

    def _validate_and_mark_best(self, epoch: int, saved: Path) -> None:
        """Validate ``epoch``'s weights (the model's now, saved in ``saved``) on ``run.valid_splits``;
        when the first split's ``agg_metrics`` beats the best so far, the weights are written to
        ``checkpoint_best.pth`` with that epoch, score and ``validated: true``."""
        improved = False
        for split_name in self.valid_splits:
            val_log = self.eval_epoch(split_name=split_name, cur_epoch=epoch)
            if val_log is None:
                continue
            if "agg_metrics" not in val_log:
                raise ConfigError(f"task returned no agg_metrics on split {split_name}")
            if split_name == self.valid_splits[0] and val_log["agg_metrics"] > self.best_metric:
                self.best_metric, self.best_epoch, improved = float(val_log["agg_metrics"]), epoch, True
            val_log["best_epoch"] = self.best_epoch
            self.log_stats(val_log, split_name)
        _fault_point("validation")  # validated, not yet recorded anywhere
        if improved and self.is_main:
            best = self.output_dir / "checkpoint_best.pth"
            _atomic_torch_save(self._checkpoint_state(epoch, validated=True, with_optimizer=False), best)
            logging.info("epoch %d is the best so far (%s %.4f): %s", epoch, self.valid_splits[0], self.best_metric, best)
        if self.use_distributed:  # every rank may read checkpoint_best.pth next
            dist.barrier()

    def train_epoch(self, epoch):
        run = self.config.run_cfg
        model = self.model
        model.train()
        core = self.unwrap_dist_model(model)
        if hasattr(core, "on_epoch_start"):
            core.on_epoch_start()
        if hasattr(core, "follow_optimizer_steps"):  # theta: one update per optimiser step
            core.follow_optimizer_steps()
        self.dataloaders  # builds the loaders and their samplers on first use
        for sampler in list(self._samplers.values()) + list(self._streams.values()):
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)
        # Randomness depends only on (seed, epoch, rank), in this process and in the loader's
        # workers (whose base seed the generator draws), and on the sample index for map-style
        # samples' augmentation: a resumed run reproduces it.
        epoch_seed = int(run.get("seed", 42)) * 1000 + epoch * 100 + int(run.get("rank", 0))
        torch.manual_seed(epoch_seed)
        random.seed(epoch_seed)
        np.random.seed(epoch_seed % (2**32))
        self._worker_seeds.manual_seed(epoch_seed)
        for seeded in self._seeded.values():
            seeded.epoch_seed = epoch_seed

        iters = self._iters_per_epoch()
        accum = self.accum_grad_iters
        total_opt_steps = max(1, optimizer_steps_per_epoch(iters, accum) * self.max_epoch)
        max_norm = run.get("max_grad_norm")
        log_freq = self.log_freq
        every = int(run.get("checkpoint_every_steps") or 0)
        first, sums, count = 0, {}, 0
        grad_cache, group = bool(run.get("grad_cache", False)), []
        resume, self._resume = self._resume, None
        if resume is not None:  # a mid-epoch checkpoint of this epoch
            first, sums, count = resume["step"], dict(resume["sums"]), int(resume["count"])
            for sampler in self._samplers.values():
                sampler.skip = first * int(run.batch_size_train)
        optimizer = self.optimizer
        optimizer.zero_grad(set_to_none=True)

        progress = None
        if self.is_main and run.get("progress", True):
            from tqdm.auto import tqdm

            progress = tqdm(total=iters, initial=first, desc=f"epoch {epoch}", dynamic_ncols=True, leave=False)
        loader_iter = iter(self.train_loader)
        if resume is not None:
            if "train" in self._streams:  # no index to skip to: read past the trained batches
                for _ in range(first):
                    next(loader_iter)
            set_rng_states(resume["rng"], self.device)
            logging.info("resuming epoch %d at step %d/%d", epoch, first, iters)
        since_save = 0
        for i in range(first, iters):
            try:
                samples = next(loader_iter)
            except StopIteration:  # a stream shorter than the epoch: start another pass
                if "train" not in self._streams:
                    raise
                logging.warning(
                    "training stream ended at step %d of %d: restarting it (some samples repeat "
                    "this epoch; make num_samples match the shards)", i, iters
                )
                loader_iter = iter(self.train_loader)
                samples = next(loader_iter)
            _fault_point("train_step")
            place = micro_step(epoch, i, iters, accum)
            lr = self._set_lr(place.optimizer_step, total_opt_steps)
            samples = self._normalized(_to_device(samples, self.device))
            if isinstance(samples, dict):
                samples.update({"epoch": epoch, "iters": epoch * iters + i, "num_iters_per_epoch": iters})
            last_micro = place.last_in_group
            if grad_cache:  # one loss over the whole group, from cached features (GradCache)
                group.append(samples)
                if not last_micro:  # nothing runs until the group is complete; logged once per group
                    self.global_step = epoch * iters + i + 1
                    since_save += 1
                    if progress is not None:
                        progress.update(1)
                    continue
                step = epoch * iters + i

                def backward_loss(output, step=step):
                    self._check_finite({k: _scalar(v) for k, v in output.items() if self._loggable(v)}, step)
                    return self.scaler.scale(output["loss"]) if self.scaler is not None else output["loss"]

                output = core.grad_cache_step(group, backward_loss, self._autocast)
                group = []
                components = {k: _scalar(v) for k, v in output.items() if self._loggable(v)}
            else:
                sync = model.no_sync() if isinstance(model, DDP) and not last_micro else contextlib.nullcontext()
                with sync:
                    with self._autocast():
                        output = model(samples)
                    loss = output["loss"]
                    components = {k: _scalar(v) for k, v in output.items() if self._loggable(v)}
                    self._check_finite(components, epoch * iters + i)
                    scaled = loss / place.group_size  # the group's mean loss, a partial group too
                    if self.scaler is not None:
                        self.scaler.scale(scaled).backward()
                    else:
                        scaled.backward()
            if last_micro:
                if self.scaler is not None:
                    self.scaler.unscale_(optimizer)
                if max_norm:
                    components["grad_norm"] = _scalar(
                        torch.nn.utils.clip_grad_norm_(core.parameters(), float(max_norm))
                    )
                if self.scaler is not None:
                    self.scaler.step(optimizer)
                    self.scaler.update()
                else:
                    optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                if hasattr(core, "clamp_logit_scale"):
                    core.clamp_logit_scale()
                if hasattr(core, "on_optimizer_step"):  # theta from the group; an EMA teacher's update
                    core.on_optimizer_step()
            self.global_step = epoch * iters + i + 1
            components["lr"] = lr
            for k, v in components.items():
                sums[k] = sums.get(k, 0.0) + v
            count += 1
            if self.is_main:
                self._append_metrics({"epoch": epoch, "step": self.global_step, **components})
                if progress is not None:
                    progress.update(1)
                    progress.set_postfix(loss=f"{components['loss']:.4f}")
                if log_freq and (i % log_freq == 0 or i + 1 == iters):
                    logging.info(
                        "epoch %d step %d/%d  %s",
                        epoch, i + 1, iters,
                        "  ".join(f"{k}={v:.4g}" for k, v in components.items()),
                    )
            since_save += 1
            if every and last_micro and since_save >= every and i + 1 < iters:
                # between optimiser steps: nothing accumulated is lost
                self._save_checkpoint(epoch, validated=True, step_in_epoch=i + 1,
                                      running={"sums": sums, "count": count})
                since_save = 0
                _fault_point("after_step_checkpoint")
        if progress is not None:
            progress.close()
        return {k: f"{v / max(count, 1):.6f}" for k, v in sums.items()}

    @staticmethod
    def _loggable(value) -> bool:
        return (torch.is_tensor(value) and value.numel() == 1) or isinstance(value, (int, float))

    def _check_finite(self, components: dict, step: int) -> None:
        bad = {k: v for k, v in components.items() if not math.isfinite(v)}
        if bad:
            last = ", ".join(f"{k}={v:.6g}" for k, v in self._last_finite.items()) or "none yet"
            raise TrainingDiverged(
                f"non-finite loss at step {step} ({', '.join(f'{k}={v}' for k, v in bad.items())}); "
                f"last finite components: {last}"
            )
        self._last_finite = dict(components)

    def _append_metrics(self, row: dict) -> None:
        with open(self.output_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")

    # -------------------------------------------------------------- evaluation
    def evaluate_only_run(self):
        """Evaluate-only entry: load ``run.checkpoint`` / ``run.resume_ckpt_path`` if given."""
        self.log_config()
        ckpt = self.config.run_cfg.get("checkpoint") or self.resume_ckpt_path
        stored = None
        if ckpt:
            stored = self._read_checkpoint(ckpt)
            self._load_model_state(stored, ckpt)
            logging.info("loaded model weights from %s", ckpt)
            model = self.unwrap_dist_model(self.model)
            if hasattr(model, "uses_quick_gelu"):  # results name the weights evaluated, not the base model's
                from ahnpl_plugin.models.clip.weights import checkpoint_provenance

                model.weights_provenance = checkpoint_provenance(ckpt, model.uses_quick_gelu)
        results = self.evaluate(cur_epoch="eval", skip_reload=True)
        self._write_results(results, model_epoch=stored.get("epoch") if isinstance(stored, dict) else None,
                            checkpoint=ckpt)
        return results

    def provenance(self) -> dict:
        """What produced this run's numbers (:mod:`ahnpl_plugin.provenance`), computed once."""
        if self._provenance is None:
            from ahnpl_plugin import provenance

            self._provenance = provenance.collect(self.config.to_dict(), self.device)
        return self._provenance

    def _write_results(self, results, model_epoch=None, checkpoint=None) -> None:
        if self.is_main and results:
            record = dict(results)
            record["eval_precision"] = self.eval_precision
            record["model_weights"] = {
                "checkpoint": str(checkpoint or self.output_dir / "checkpoint_best.pth"),
                "epoch": model_epoch,
            }
            if not self.evaluate_only:
                record["model_weights"]["selection"] = (
                    f"best {self.valid_splits[0]} agg_metrics (run.model_selection: best)"
                    if checkpoint is None else "the last epoch (run.model_selection: last, or no validation)")
            record["provenance"] = self.provenance()
            with open(self.output_dir / "results.json", "w") as f:
                json.dump(record, f, indent=2, default=float)
            logging.info("results (evaluation precision %s): %s", self.eval_precision, json.dumps(results, default=float))

    @torch.no_grad()
    def eval_epoch(self, split_name, cur_epoch, skip_reload=False):
        loaders = self.dataloaders.get(split_name)
        if loaders is None:
            raise ConfigError(
                f"no dataset provides split {split_name!r}; available: {', '.join(self.dataloaders)}"
            )
        model = self.unwrap_dist_model(self.model)
        if not skip_reload and cur_epoch == "best":
            self._load_model_weights(self.output_dir / "checkpoint_best.pth")
        if not isinstance(loaders, dict):
            return self._evaluate_loader(model, loaders, self.datasets[split_name], split_name, cur_epoch)
        per_dataset = {
            name: self._evaluate_loader(model, loader, self.datasets[split_name][name], f"{name}/{split_name}", cur_epoch)
            for name, loader in loaders.items()
        }
        aggregated = [m["agg_metrics"] for m in per_dataset.values() if m and "agg_metrics" in m]
        if aggregated:
            per_dataset["agg_metrics"] = sum(aggregated) / len(aggregated)
        return per_dataset

    def _evaluate_loader(self, model, data_loader, dataset, split_name, cur_epoch):
        was_training = model.training
        model.eval()
        self.task.before_evaluation(model=model, dataset=dataset)
        with self._autocast(self._eval_dtype):
            # LAVIS's tasks move batches to CUDA unless told otherwise (prepare_sample)
            results = self.task.evaluation(model, data_loader, cuda_enabled=self.device.type == "cuda")
        if was_training:
            model.train()
        if results is None:
            return None
        metrics = self.task.after_evaluation(val_result=results, split_name=split_name, epoch=cur_epoch)
        if isinstance(metrics, dict):
            shown = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
            logging.info("%s metrics, epoch %s (%s): %s", split_name, cur_epoch, self.eval_precision,
                         "  ".join(f"{k}={v:.4g}" for k, v in shown.items()))
        return metrics

    # -------------------------------------------------------------- checkpoints
    def _checkpoint_state(self, epoch: int, validated: bool, with_optimizer: bool = True,
                          step_in_epoch: int | None = None, running: dict | None = None) -> dict:
        """What a checkpoint holds. ``validated``: ``best_metric``/``best_epoch`` include ``epoch``'s
        validation (false in the copy written before it). ``step_in_epoch``: set for a mid-epoch
        checkpoint (``epoch`` is then unfinished), with the RNG states and the epoch's running sums."""
        state = {
            "model": self.unwrap_dist_model(self.model).state_dict(),
            "config": self.config.to_dict(),
            "epoch": epoch,
            "global_step": self.global_step,
            "step_in_epoch": step_in_epoch,
            "best_metric": self.best_metric,
            "best_epoch": self.best_epoch,
            "validated": validated,
            "selection": (f"best {self.valid_splits[0]} agg_metrics so far (epoch {epoch})" if not with_optimizer
                          else "the state of the run when it was saved"),
            "provenance": self.provenance(),
            # where the weights started (source + hash): what export --wise interpolates toward
            "start_weights": getattr(self.unwrap_dist_model(self.model), "start_weights", None),
        }
        if with_optimizer:
            state["optimizer"] = self.optimizer.state_dict()
            state["scaler"] = self.scaler.state_dict() if self.scaler is not None else None
        if step_in_epoch is not None:
            state["rng"] = rng_states(self.device)
            state["running"] = {"sums": dict(running["sums"]), "count": int(running["count"])}
        return state

    def _save_checkpoint(self, cur_epoch, validated: bool = False, step_in_epoch: int | None = None,
                         running: dict | None = None):
        """``checkpoint_last.pth``: written when an epoch's training ends (before its validation,
        ``validated: false``), again after its validation (``validated: true``), and every
        ``run.checkpoint_every_steps`` steps within an epoch (``step_in_epoch`` set)."""
        if not self.is_main:
            return
        last = self.output_dir / "checkpoint_last.pth"
        _atomic_torch_save(self._checkpoint_state(cur_epoch, validated, True, step_in_epoch, running), last)
        where = f"step {step_in_epoch} of epoch {cur_epoch}" if step_in_epoch is not None else f"epoch {cur_epoch}"
        logging.info("saved checkpoint of %s%s: %s", where, "" if validated else " (before validation)", last)

    def _read_checkpoint(self, path):
        path = Path(path).expanduser()
        if not path.is_file():
            raise ConfigError(f"checkpoint not found: {path}")
        return _load_safely(path, map_location=self.device)

    def _load_model_state(self, checkpoint, path) -> None:
        """Load a checkpoint's model weights strictly; another model's checkpoint is a one-line
        error naming the model it holds (from its stored config) and the one being run."""
        from ahnpl_plugin.models.checkpoint_formats import state_dict_of

        state, _ = state_dict_of(checkpoint, keys=("model",))
        if state is None:
            raise ConfigError(f"{path}: not a checkpoint (expected a state dict or a dict with 'model')")
        try:
            self.unwrap_dist_model(self.model).load_state_dict(state)
        except RuntimeError as exc:
            from ahnpl_plugin.models.checkpoint_info import mismatch_message

            model_cfg = self.config.model_cfg
            this = f"{model_cfg.get('arch')} {model_cfg.get('model_type')}"
            raise ConfigError(mismatch_message(path, checkpoint, this, exc)) from None

    def _load_model_weights(self, path):
        self._load_model_state(self._read_checkpoint(path), path)
        logging.info("loaded model weights from %s", path)

    def _load_checkpoint(self, url_or_filename):
        """Resume: model (incl. adaptive thresholds), optimiser, scaler, epoch, step, the best
        validation so far, and for a mid-epoch checkpoint the position in the epoch, RNG states and
        running sums. A checkpoint saved before its epoch's validation is validated first."""
        checkpoint = self._read_checkpoint(url_or_filename)
        if "optimizer" not in checkpoint:
            raise ConfigError(
                f"{url_or_filename} holds model weights only (a best-epoch file); resume from the run's "
                "checkpoint_last.pth, or evaluate this file with run.checkpoint"
            )
        self._load_model_state(checkpoint, url_or_filename)
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        if self.scaler is not None and checkpoint.get("scaler"):
            self.scaler.load_state_dict(checkpoint["scaler"])
        epoch = int(checkpoint["epoch"])
        step_in_epoch = checkpoint.get("step_in_epoch")
        self.global_step = int(checkpoint.get("global_step", 0))
        self.best_metric = float(checkpoint.get("best_metric", -math.inf))
        self.best_epoch = checkpoint.get("best_epoch")
        path = Path(url_or_filename).expanduser()
        if step_in_epoch is not None:
            self.start_epoch = epoch
            self._resume = {"step": int(step_in_epoch), "rng": checkpoint["rng"], **checkpoint["running"]}
        else:
            self.start_epoch = epoch + 1
            if self.valid_splits and not checkpoint.get("validated", True):
                self._revalidate = (epoch, path)
        self._resumed_from = (path, epoch, step_in_epoch)
        if self.is_main:
            self._carry_over_metrics(path.parent / "metrics.jsonl", self.global_step)
        where = f"epoch {epoch} step {step_in_epoch}" if step_in_epoch is not None else f"the end of epoch {epoch}"
        logging.info("resumed from %s at %s (best so far: epoch %s, %s)", url_or_filename, where,
                     self.best_epoch, self.best_metric)

    def _carry_over_metrics(self, old: Path, up_to_step: int) -> None:
        """Copy the interrupted run's per-step metrics up to the resumed step into this run's
        ``metrics.jsonl``, so that its curves and records cover the whole run."""
        if not old.is_file():
            logging.warning("resuming: %s is missing; this run's metrics.jsonl starts at step %d", old, up_to_step + 1)
            return
        rows = []
        for line in old.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a line cut by the kill
                continue
            if int(row.get("step", 0)) <= up_to_step:
                rows.append(line)
        with open(self.output_dir / "metrics.jsonl", "w") as f:
            f.write("".join(r + "\n" for r in rows))

    def _adopt_best_checkpoint(self, old_run_dir: Path) -> None:
        """Make this run's ``checkpoint_best.pth`` hold the best epoch so far, so that the final
        test uses the same weights as an uninterrupted run would. Looked for, in order: this run's
        own file (written when the resumed epoch was revalidated), the interrupted run's
        ``checkpoint_best.pth`` or ``checkpoint_<epoch>.pth`` with that epoch stored, and the resumed
        checkpoint itself when it is that epoch's end."""
        if self.best_epoch is None:
            return
        best_epoch = int(self.best_epoch)
        target = self.output_dir / "checkpoint_best.pth"
        resumed, epoch, step_in_epoch = self._resumed_from
        candidates = [target, old_run_dir / "checkpoint_best.pth", old_run_dir / f"checkpoint_{best_epoch}.pth"]
        found = None
        for source in candidates:
            if source.is_file() and _stored_epoch(source) == best_epoch:
                found = source
                break
        if found is None and epoch == best_epoch and step_in_epoch is None:
            found = resumed
        if found is None:
            raise ConfigError(
                f"resuming: the best epoch so far is {best_epoch}, but neither {candidates[1]} nor {candidates[2]} "
                "holds it; the final test evaluates the best epoch's weights, so put that file back beside the "
                "resumed checkpoint"
            )
        if self.is_main and found != target:
            stored = _load_safely(found)
            best = {k: v for k, v in stored.items() if k not in ("optimizer", "scaler", "rng", "running")}
            best.update({"validated": True, "best_epoch": best_epoch, "best_metric": self.best_metric,
                         "selection": f"best {self.valid_splits[0]} agg_metrics so far (epoch {best_epoch})"})
            _atomic_torch_save(best, target)
        if self.use_distributed:
            dist.barrier()

    def log_stats(self, stats, split_name):
        if self.is_main and isinstance(stats, dict):
            with open(os.path.join(self.output_dir, "log.txt"), "a") as f:
                f.write(json.dumps({f"{split_name}_{k}": v for k, v in stats.items()}, default=float) + "\n")

    def log_config(self):
        if self.is_main:
            with open(os.path.join(self.output_dir, "log.txt"), "a") as f:
                f.write(json.dumps(self.config.to_dict(), indent=4) + "\n")
