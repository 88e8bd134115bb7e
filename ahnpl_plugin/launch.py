"""Process setup shared by the train and evaluate entry points: distributed init, seeds, run ids.

LAVIS's ``init_distributed_mode`` hard-codes NCCL and CUDA; here the backend follows the device
(NCCL on CUDA, gloo on CPU, or ``run.dist_backend``), so ``torchrun`` works on CPU too.
"""

from __future__ import annotations

import datetime
import logging
import os
import random
import secrets

import numpy as np
import torch
import torch.distributed as dist

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s [%(levelname)s] %(message)s"


class _ConsoleHandler(logging.StreamHandler):
    """Console lines written through ``tqdm.write`` while a progress bar is shown, so that log
    lines and bars do not interleave on one line."""

    _ahnpl_console = True

    def emit(self, record):
        try:
            from tqdm import tqdm

            if getattr(tqdm, "_instances", None):
                tqdm.write(self.format(record), file=self.stream)
                return
        except Exception:  # tqdm missing or closing: plain write
            pass
        super().emit(record)


class _EarlyRecords(logging.Handler):
    """Keeps the records logged before the run folder exists (config checks, the CUDA fallback),
    for :func:`attach_run_log` to write at the top of ``train.log``."""

    _ahnpl_early = True

    def __init__(self, capacity: int = 10_000):
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []
        self.capacity = capacity

    def emit(self, record):
        if len(self.records) < self.capacity:
            self.records.append(record)


_RUN_LOGS: list[logging.Handler] = []


def setup_logging() -> None:
    """INFO logging on the console for the main process (WARNING on the others), set up before
    anything logs, and a buffer of the records logged before the run folder exists.

    LAVIS's ``setup_logger`` is a ``logging.basicConfig``, which does nothing once the root logger
    has a handler; the first ``logging.warning`` of a process installs one at level WARNING, so a
    warning logged before it (e.g. the CUDA fallback) used to silence every INFO line of the run,
    train.log included. The rank comes from torchrun's environment, as torch.distributed is not
    initialised yet.
    """
    root = logging.getLogger()
    root.setLevel(logging.INFO if int(os.environ.get("RANK", "0")) == 0 else logging.WARNING)
    if not any(getattr(h, "_ahnpl_console", False) for h in root.handlers):
        handler = _ConsoleHandler()
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
    for handler in [h for h in root.handlers if getattr(h, "_ahnpl_early", False)]:
        root.removeHandler(handler)
    root.addHandler(_EarlyRecords())


def attach_run_log(path) -> logging.Handler:
    """Log to ``path`` (the run's ``train.log``) from now on, starting with the records buffered
    since :func:`setup_logging`."""
    root = logging.getLogger()
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    for early in [h for h in root.handlers if getattr(h, "_ahnpl_early", False)]:
        for record in early.records:
            handler.handle(record)
        root.removeHandler(early)
    root.addHandler(handler)
    _RUN_LOGS.append(handler)
    return handler


def log_fatal(message: str, exc_info=None) -> None:
    """Write a fatal error into the run's ``train.log`` (when a run folder exists) without
    repeating it on the console, where the entry point prints it."""
    if not _RUN_LOGS:
        return
    record = logging.getLogger("ahnpl_plugin").makeRecord(
        "ahnpl_plugin", logging.ERROR, __file__, 0, message, None, exc_info
    )
    for handler in _RUN_LOGS:
        handler.handle(record)
        handler.flush()


def init_distributed(run_cfg) -> None:
    """Initialise torch.distributed from torchrun's environment; fill run.distributed/rank/gpu."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        run_cfg.distributed = False
        run_cfg.rank = 0
        run_cfg.world_size = 1
        run_cfg.gpu = 0
        if str(run_cfg.get("device", "cpu")).startswith("cuda") and not torch.cuda.is_available():
            log.warning("run.device=%s but CUDA is not available: using cpu", run_cfg.device)
            run_cfg.device = "cpu"
        return
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    wants_cuda = str(run_cfg.get("device", "cuda")).startswith("cuda") and torch.cuda.is_available()
    backend = run_cfg.get("dist_backend") or ("nccl" if wants_cuda else "gloo")
    if wants_cuda:
        torch.cuda.set_device(local_rank)
        run_cfg.device = "cuda"
    else:
        run_cfg.device = "cpu"
    dist.init_process_group(
        backend=backend,
        init_method="env://",
        world_size=world_size,
        rank=rank,
        timeout=datetime.timedelta(minutes=30),
    )
    run_cfg.distributed = world_size > 1
    run_cfg.rank, run_cfg.world_size, run_cfg.gpu = rank, world_size, local_rank
    log.info("distributed: backend %s%s, %d process(es), device %s", backend,
             " (run.dist_backend)" if run_cfg.get("dist_backend") else f" (chosen for {run_cfg.device})",
             world_size, run_cfg.device)
    dist.barrier()


def is_main_process() -> bool:
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def new_job_id(name: str | None = None) -> str:
    """A run-folder name unique across concurrent runs: second resolution plus a random suffix
    (LAVIS's 10-minute ids collide); identical on all ranks."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    job_id = f"{stamp}-{secrets.token_hex(3)}"
    if name:
        job_id = f"{name}-{job_id}"
    if dist.is_available() and dist.is_initialized():
        holder = [job_id]
        dist.broadcast_object_list(holder, src=0)
        job_id = holder[0]
    return job_id
