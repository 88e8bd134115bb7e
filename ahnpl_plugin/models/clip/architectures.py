"""CLIP architecture of each ``ahnpl_clip`` model type, as open_clip/LAVIS ``CLIP(**cfg)`` kwargs.

The five OpenAI types reuse LAVIS's own architecture JSONs (lavis/configs/models/clip/*.json); only
``tiny`` is defined here. The architecture follows from ``model_type`` alone (not from YAML keys), so
swapping backbones by changing the type can never mix one type's towers with another's defaults.

``quick_gelu`` is not part of the architecture: it depends on where the weights come from (see
:mod:`ahnpl_plugin.models.clip.weights`).
"""

from __future__ import annotations

import copy

# Types whose architecture and OpenAI weights LAVIS 1.0.2 ships (names as in LAVIS/open_clip).
OPENAI_TYPES = ("ViT-B-32", "ViT-B-16", "ViT-L-14", "ViT-L-14-336", "RN50")

# A CLIP small enough to train in minutes on two CPU cores: 32 px images cut in 4 px patches
# (64 tokens, fine enough for left/right/on/under of a few objects), 2 layers per tower, width 128.
# Heads = width // 64 as LAVIS hard-codes for OpenAI-layout checkpoints. The text context is 32
# tokens (synthetic and COCO-style captions are shorter); the vocabulary is CLIP's BPE (49,408).
TINY_ARCHITECTURE = {
    "embed_dim": 128,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 128, "patch_size": 4},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 128, "heads": 2, "layers": 2},
}

MODEL_TYPES = OPENAI_TYPES + ("tiny",)


def architecture(model_type: str) -> dict:
    """A fresh copy of ``CLIP(**cfg)`` kwargs (embed_dim, vision_cfg, text_cfg) for ``model_type``.

    Raises ValueError listing the valid types for an unknown one.
    """
    if model_type == "tiny":
        return copy.deepcopy(TINY_ARCHITECTURE)
    if model_type not in OPENAI_TYPES:
        raise ValueError(f"unknown ahnpl_clip model_type {model_type!r}; valid: {', '.join(MODEL_TYPES)}")
    from lavis.models.clip_models.model import _MODEL_CONFIGS

    cfg = copy.deepcopy(_MODEL_CONFIGS[model_type])
    cfg.pop("quick_gelu", None)
    return cfg


def image_size(arch: dict) -> int:
    """Input resolution (pixels, square) of an architecture dict."""
    size = arch["vision_cfg"]["image_size"]
    return size[0] if isinstance(size, (list, tuple)) else int(size)


def context_length(arch: dict) -> int:
    """Text context length (tokens) of an architecture dict."""
    return int(arch["text_cfg"]["context_length"])
