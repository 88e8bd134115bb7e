"""Which ``ahnpl_blip`` parameters train (``model.finetune``); the others are frozen (requires_grad False).

The online towers only (the optimiser never trains the momentum copies ``*_m``; they follow the
online weights by momentum):

``full``    everything online (the default; the published recipe)
``text``    the text side: ``text_encoder`` (BERT, its cross-attention to the image included: it is
            ITM's multimodal encoder), ``text_proj``, ``itm_head``, and ``temp``
``vision``  the image side: ``visual_encoder`` (ViT) and ``vision_proj``, and ``temp``
``last_n``  the last ``model.finetune_last_n`` blocks of the ViT and layers of BERT, with the ViT's
            final norm, both projections, ``itm_head`` and ``temp``
``lora``    only the LoRA adapters on the online towers' Linear/Conv2d weights
            (:mod:`ahnpl_plugin.models.lora`, placement ``model.lora.targets``); the base
            weights and ``temp`` stay as they started

The momentum encoders: ``AHNPLBlip._momentum_update`` moves a momentum parameter only while its
online parameter trains, so a frozen online tower means a frozen momentum tower, bit for bit
(``m * w_m + (1 - m) * w`` in float32 would move it by rounding even when w_m == w). With LoRA the
momentum towers stay plain (no adapters) and follow the adapted weights ``W + scale * B A``,
matched by name. Frozen
parameters are left out of the optimiser (``weight_decay_groups`` skips them), get no gradient and
no DDP bucket (DDP ignores parameters that do not require grad).
"""

from __future__ import annotations

from torch import nn

from ahnpl_plugin.models.param_groups import set_trained
from ahnpl_plugin.models.retention_options import FINETUNE_MODES

ONLINE = ("visual_encoder.", "vision_proj.", "text_encoder.", "text_proj.", "itm_head.", "temp")
_TEXT = ("text_encoder.", "text_proj.", "itm_head.")
_VISION = ("visual_encoder.", "vision_proj.")
_HEADS = ("visual_encoder.norm.", "vision_proj.", "text_proj.", "itm_head.")
_VIT_BLOCKS = "visual_encoder.blocks."
_BERT_LAYERS = "text_encoder.encoder.layer."


def _index_at_least(name: str, prefix: str, first_trained: int) -> bool:
    return name.startswith(prefix) and int(name[len(prefix):].split(".", 1)[0]) >= first_trained


def trains(name: str, mode: str, last_n: int = 0, depths: tuple[int, int] = (0, 0)) -> bool:
    """Whether online BLIP parameter ``name`` trains under ``mode`` (``depths``: ViT blocks, BERT layers)."""
    if mode == "full":
        return True
    if mode == "lora":
        return ".lora_A" in name or ".lora_B" in name
    if name == "temp":
        return mode in FINETUNE_MODES
    if mode == "text":
        return name.startswith(_TEXT)
    if mode == "vision":
        return name.startswith(_VISION)
    if mode == "last_n":
        image_depth, text_depth = depths
        return (
            name.startswith(_HEADS)
            or _index_at_least(name, _VIT_BLOCKS, image_depth - last_n)
            or _index_at_least(name, _BERT_LAYERS, text_depth - last_n)
        )
    raise ValueError(f"unknown model.finetune {mode!r} for ahnpl_blip; valid: {', '.join(FINETUNE_MODES)}")


def apply_scope(model: nn.Module, mode: str, last_n: int = 0) -> tuple[int, int]:
    """Set ``requires_grad`` of every online BLIP parameter for ``mode``; returns ``(trained, frozen)``
    counts of the online parameters (momentum copies and ``reference`` untouched: never trained)."""
    depths = (0, 0)
    if mode == "last_n":
        depths = (len(model.visual_encoder.blocks), len(model.text_encoder.encoder.layer))
        if not 1 <= last_n <= min(depths):
            raise ValueError(f"model.finetune_last_n must be in 1..{min(depths)} for this model, got {last_n}")
    online = ((name, param) for name, param in model.named_parameters() if name.startswith(ONLINE))
    return set_trained(online, lambda name: trains(name, mode, last_n, depths))
