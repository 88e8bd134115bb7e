"""Activation checkpointing of ``ahnpl_blip``'s online towers (ViT blocks and BERT layers).

LAVIS 1.0.2 has switches for both, but neither fits a built model: the ViT's
(``vit_grad_ckpt``) wraps blocks with fairscale only at construction, and BERT's
(``encoder.gradient_checkpointing``) passes ``mode=`` to ``torch.utils.checkpoint`` in a way that
fails with either checkpoint implementation. Here each block/layer instance of the online ViT and
text encoder gets a forward that runs its own forward under non-reentrant
``torch.utils.checkpoint`` whenever gradients are recorded (the momentum encoders run under
``no_grad`` and are never wrapped). Weights and state-dict keys are unchanged; the random state
is restored for the recomputation, so drop-path draws (if any) repeat exactly.
"""

from __future__ import annotations

import torch
import torch.utils.checkpoint
from torch import nn

_ORIGINAL = "_ahnpl_forward_without_checkpointing"


def _checkpointed_forward(module: nn.Module):
    original = getattr(module, _ORIGINAL)

    def forward(*args, **kwargs):
        if torch.is_grad_enabled():
            return torch.utils.checkpoint.checkpoint(original, *args, use_reentrant=False, **kwargs)
        return original(*args, **kwargs)

    return forward


def set_checkpointing(modules, enabled: bool) -> int:
    """Turn checkpointing of each module's forward on or off; returns how many modules."""
    count = 0
    for module in modules:
        if enabled and not hasattr(module, _ORIGINAL):
            object.__setattr__(module, _ORIGINAL, module.forward)
            module.forward = _checkpointed_forward(module)
        elif not enabled and hasattr(module, _ORIGINAL):
            module.forward = getattr(module, _ORIGINAL)
            object.__delattr__(module, _ORIGINAL)
        count += 1
    return count


def blip_checkpointed_modules(model) -> list[nn.Module]:
    """The online ViT's blocks and the online text encoder's BERT layers."""
    return list(model.visual_encoder.blocks) + list(model.text_encoder.encoder.layer)
