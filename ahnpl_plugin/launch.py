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


def init_distributed(run_cfg) -> None:
    """Initialise torch.distributed from torchrun's environment; fill run.distributed/rank/gpu."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        run_cfg.distributed = False
        run_cfg.rank = 0
        run_cfg.world_size = 1
        run_cfg.gpu = 0
        if str(run_cfg.get("device", "cpu")).startswith("cuda") and not torch.cuda.is_available():
            logging.warning("run.device=%s but CUDA is not available: using cpu", run_cfg.device)
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
