"""Which CLIP parameters train (``model.finetune``); the others are frozen (requires_grad False).

``full``    everything (the default; the published recipe)
``lora``    only the LoRA adapters (:mod:`ahnpl_plugin.models.lora`); the base weights and
            ``logit_scale`` stay as they started, so the merged model is the start plus a
            low-rank change
``text``    the text tower (token and position embeddings, transformer, ``ln_final``,
            ``text_projection``) and ``logit_scale``, as CLIC trains
``vision``  the image tower (``visual.*``) and ``logit_scale``
``last_n``  the last ``model.finetune_last_n`` residual blocks of each transformer tower, with
            the final norms and projections and ``logit_scale`` (transformer image towers only)

Frozen parameters are left out of the optimiser (``weight_decay_groups`` skips them), get no
gradient and no DDP bucket (DDP ignores parameters that do not require grad).
"""

from __future__ import annotations

from torch import nn

from ahnpl_plugin.models.param_groups import set_trained
from ahnpl_plugin.models.retention_options import FINETUNE_MODES

_TEXT_ROOTS = ("transformer.", "token_embedding.", "positional_embedding", "ln_final.", "text_projection")


def _in_last_blocks(name: str, tower: str, first_trained: int) -> bool:
    prefix = f"{tower}resblocks."
    if not name.startswith(prefix):
        return False
    return int(name[len(prefix):].split(".", 1)[0]) >= first_trained


def trains(name: str, mode: str, last_n: int = 0, depths: tuple[int, int] = (0, 0)) -> bool:
    """Whether CLIP parameter ``name`` trains under ``mode`` (``depths``: image, text block counts)."""
    if mode == "full":
        return True
    if mode == "lora":
        return ".lora_A" in name or ".lora_B" in name
    if name == "logit_scale":
        return True
    if mode == "text":
        return name.startswith(_TEXT_ROOTS)
    if mode == "vision":
        return name.startswith("visual.")
    if mode == "last_n":
        image_depth, text_depth = depths
        heads = ("visual.ln_post.", "visual.proj", "ln_final.", "text_projection")
        return (
            name.startswith(heads)
            or _in_last_blocks(name, "visual.transformer.", image_depth - last_n)
            or _in_last_blocks(name, "transformer.", text_depth - last_n)
        )
    raise ValueError(f"unknown model.finetune {mode!r}; valid: {', '.join(FINETUNE_MODES)}")


def apply_scope(clip: nn.Module, mode: str, last_n: int = 0) -> tuple[int, int]:
    """Set ``requires_grad`` of every CLIP parameter for ``mode``; returns ``(trained, frozen)`` counts."""
    depths = (0, 0)
    if mode == "last_n":
        visual_blocks = getattr(getattr(clip.visual, "transformer", None), "resblocks", None)
        if visual_blocks is None:
            raise ValueError("model.finetune last_n needs a transformer image tower (a ViT), not RN50")
        depths = (len(visual_blocks), len(clip.transformer.resblocks))
        if not 1 <= last_n <= min(depths):
            raise ValueError(f"model.finetune_last_n must be in 1..{min(depths)} for this model, got {last_n}")
    return set_trained(clip.named_parameters(), lambda name: trains(name, mode, last_n, depths))
