"""The tiny models the tests build (random weights, seeded)."""

from __future__ import annotations

import torch
from omegaconf import OmegaConf


def tiny_clip(**overrides):
    """``ahnpl_clip`` of type tiny from its default YAML, ``overrides`` as dotted model keys, seed 0."""
    from ahnpl_plugin.models.clip.model import AHNPLClip

    cfg = OmegaConf.load(AHNPLClip.default_config_path("tiny")).model
    for key, value in overrides.items():
        OmegaConf.update(cfg, key, value, force_add=True)
    torch.manual_seed(0)
    return AHNPLClip.from_config(cfg)
