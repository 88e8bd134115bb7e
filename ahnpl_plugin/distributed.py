"""Gathering per-sample tensors across torch.distributed ranks, with the gradient contract of the loss.

Every rank computes the loss of the *global* batch (all ranks' rows concatenated in rank order).
The loss is then identical on every rank, so the true gradient of one rank's local rows can be
computed on that rank alone: the gathered copies of other ranks' rows are constants here, and the
local rows are put back into the gathered tensor as the original autograd-tracked tensor (as in
open_clip's ``gather_features`` without ``gather_with_grad``). No communication is needed in the
backward pass.

The gradient reaching the local rows is then multiplied by ``world_size``: DDP averages parameter
gradients over ranks, so ``world_size x`` the full-batch gradient of the local rows, averaged,
gives exactly the full-batch gradient (the same result as ``torch.distributed.nn.all_gather``,
whose backward sums the identical gradients of all ranks, without its reduce-scatter).

Ranks may hold different numbers of rows (a short last batch): rows are padded to the largest
count for the collective and trimmed afterwards. Trailing dimensions must agree on all ranks.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def distributed_world() -> tuple[int, int]:
    """Return ``(world_size, rank)`` of the default process group, ``(1, 0)`` when not distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


class _ScaleGradient(torch.autograd.Function):
    """Identity in the forward pass; multiplies the incoming gradient by ``factor``."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor, factor: float) -> torch.Tensor:  # noqa: D102
        ctx.factor = factor
        return tensor.view_as(tensor)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: D102
        return grad * ctx.factor, None


def _gather_shapes(tensor: torch.Tensor, world_size: int) -> list[list[int]]:
    """All ranks' shapes of ``tensor`` (one small collective); ValueError if trailing dims differ."""
    shape = torch.tensor(list(tensor.shape), dtype=torch.int64, device=tensor.device)
    shapes = [torch.empty_like(shape) for _ in range(world_size)]
    dist.all_gather(shapes, shape)
    shapes = [s.tolist() for s in shapes]
    if any(s[1:] != shapes[0][1:] for s in shapes):
        raise ValueError(
            "cannot gather rows across ranks: trailing dimensions differ, shapes by rank: "
            + ", ".join(f"rank {r}: {tuple(s)}" for r, s in enumerate(shapes))
        )
    return shapes


def gather_rows_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` (rows = dim 0) from all ranks in rank order.

    Without an initialised process group (or with one rank) the tensor is returned unchanged.
    Otherwise the local slice of the result carries the autograd history of ``tensor`` with its
    gradient scaled by ``world_size`` (see the module docstring); other ranks' rows carry none.
    Must be called by all ranks of the default group.
    """
    world_size, rank = distributed_world()
    if world_size == 1:
        return tensor
    rows = [s[0] for s in _gather_shapes(tensor, world_size)]
    longest = max(rows)
    padded = tensor.detach()
    if padded.shape[0] < longest:
        padding = padded.new_zeros((longest - padded.shape[0],) + tuple(padded.shape[1:]))
        padded = torch.cat([padded, padding], dim=0)
    padded = padded.contiguous()
    gathered = [torch.empty_like(padded) for _ in range(world_size)]
    dist.all_gather(gathered, padded)
    parts = [part[:n] for part, n in zip(gathered, rows)]
    parts[rank] = _ScaleGradient.apply(tensor, float(world_size))
    return torch.cat(parts, dim=0)
