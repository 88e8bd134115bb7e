"""Terms that hold a fine-tuned model near its start (pure torch): feature distillation to a
teacher, L2-SP, and the EMA teacher update.

``feature_distillation(student, teacher, kind)``: per row ``mean_d (s - t)^2`` (``mse``, as
DeGLA's feature MSE) or ``1 - cos(s, t)`` (``cosine``), averaged over the *global* batch. Under
torch.distributed each rank holds its own rows; the term is ``world_size * local sum / global
count``, so that DDP's gradient average gives exactly the gradient of the global mean (the same
contract as :mod:`ahnpl_plugin.distributed`), with unequal rank batches too. The teacher's
features carry no gradient.

``l2sp(pairs)``: ``sum ||w - w0||^2`` over (trained parameter, starting value) pairs (Li et al.,
"Explicit inductive bias for transfer learning", 2018); identical on every rank.

``ema_update(teacher, student, decay)``: ``t <- decay * t + (1 - decay) * s`` in place (DeGLA:
decay 0.9996 after every optimiser step).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.distributed as dist
import torch.nn.functional as F

from ahnpl_plugin.distributed import distributed_world

DISTILL_KINDS = ("mse", "cosine")


def distillation_rows(student: torch.Tensor, teacher: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    """Per-row distance [B] between student and (detached) teacher features [B, D]."""
    if kind not in DISTILL_KINDS:
        raise ValueError(f"distillation kind must be one of {', '.join(DISTILL_KINDS)}, got {kind!r}")
    if student.shape != teacher.shape:
        raise ValueError(f"student features {tuple(student.shape)} and teacher features {tuple(teacher.shape)} differ")
    student, teacher = student.float(), teacher.detach().float()
    if kind == "mse":
        return (student - teacher).pow(2).mean(dim=-1)
    return 1.0 - F.cosine_similarity(student, teacher, dim=-1)


def feature_distillation(student: torch.Tensor, teacher: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    """Global-batch mean of :func:`distillation_rows` (scaled for DDP; see the module docstring)."""
    rows = distillation_rows(student, teacher, kind)
    world_size, _ = distributed_world()
    if world_size == 1:
        return rows.mean()
    count = torch.tensor([float(rows.shape[0])], device=rows.device)
    dist.all_reduce(count)
    return rows.sum() * world_size / count.clamp(min=1.0).squeeze(0)


def l2sp(pairs: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """``sum ||w - w0||^2`` over ``(w, w0)`` pairs (w0 constant)."""
    total = None
    for weight, start in pairs:
        term = (weight.float() - start.detach().float()).pow(2).sum()
        total = term if total is None else total + term
    if total is None:
        raise ValueError("L2-SP has no trained parameter to hold near the start")
    return total


@torch.no_grad()
def ema_update(teacher: Iterable[torch.Tensor], student: Iterable[torch.Tensor], decay: float) -> None:
    """``t <- decay * t + (1 - decay) * s`` for matching tensors (``lerp``: one rounding)."""
    teacher, student = list(teacher), list(student)
    if len(teacher) != len(student):
        raise ValueError(f"EMA teacher has {len(teacher)} tensors, the student {len(student)}")
    for t, s in zip(teacher, student):
        t.lerp_(s.to(t.dtype), 1.0 - float(decay))
