"""AdamW parameter groups: weight decay on weight matrices only (open_clip's rule, pure torch).

The published recipe decays all but gains, biases, norms and ``logit_scale``. open_clip's
training code implements that as: no decay for parameters with fewer than 2 dimensions or whose
name contains ``bn``, ``ln``, ``bias`` or ``logit_scale`` (so embeddings and projections, being
matrices, are decayed; the ViT class embedding, a vector, is not). Copied here exactly.
:func:`set_trained` sets ``requires_grad`` for ``model.finetune`` (frozen parameters are in no group).
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn


def excluded_from_weight_decay(name: str, param: nn.Parameter) -> bool:
    """True for gains, biases, norm parameters, ``logit_scale`` and any other 0-d/1-d parameter."""
    return param.ndim < 2 or any(part in name for part in ("bn", "ln", "bias", "logit_scale"))


def weight_decay_groups(
    named_parameters: Iterable[tuple[str, nn.Parameter]], weight_decay: float, lr_scale: float = 1.0
) -> list[dict]:
    """Two AdamW groups, ``[decayed, not decayed]``; frozen parameters (requires_grad False) left out.

    Each group carries ``lr_scale`` (LAVIS's main-branch runner multiplies the learning rate by it).
    """
    decayed, not_decayed = [], []
    for name, param in named_parameters:
        if not param.requires_grad:
            continue
        (not_decayed if excluded_from_weight_decay(name, param) else decayed).append(param)
    return [
        {"params": decayed, "weight_decay": float(weight_decay), "lr_scale": lr_scale},
        {"params": not_decayed, "weight_decay": 0.0, "lr_scale": lr_scale},
    ]


def set_trained(named_parameters: Iterable[tuple[str, nn.Parameter]], trains) -> tuple[int, int]:
    """``requires_grad = trains(name)`` for each parameter (``model.finetune``); returns the
    ``(trained, frozen)`` element counts."""
    trained = frozen = 0
    for name, param in named_parameters:
        param.requires_grad_(bool(trains(name)))
        if param.requires_grad:
            trained += param.numel()
        else:
            frozen += param.numel()
    return trained, frozen
