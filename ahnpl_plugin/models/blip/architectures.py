"""Towers of each ``ahnpl_blip`` model type: LAVIS's ViT and BERT (med.py), as BLIP retrieval builds them.

``coco`` and ``flickr`` are BLIP base exactly as LAVIS's ``blip_retrieval`` types of those names:
ViT-B/16 (``vit_type: base``; ``image_size``, ``vit_grad_ckpt``, ``vit_ckpt_layer``,
``vit_drop_path_rate``, ``vit_layer_norm_epsilon`` read from the model config by LAVIS's
``VisionTransformerEncoder.from_config``) and BERT base with cross-attention from
``med_config_path`` (LAVIS's ``configs/models/med_config.json`` by default; relative paths are
LAVIS's, resolved inside the lavis package).

``tiny`` is defined here, fixed (a model config may not change it): small enough to train on two
CPU cores in seconds, the same modules at a smaller size. Its vocabulary is the built-in tiny
WordPiece one (:mod:`ahnpl_plugin.models.blip.tokenizer`), so its BERT has that many token rows.
"""

from __future__ import annotations

from ahnpl_plugin.models import CONFIG_FILES

MODEL_TYPES = tuple(CONFIG_FILES["ahnpl_blip"])
BASE_TYPES = ("coco", "flickr")
DEFAULT_MED_CONFIG = "configs/models/med_config.json"  # LAVIS's BERT-with-cross-attention config


def same_towers(model_type: str, other: str | None) -> bool:
    """Whether checkpoints of ``other`` fit ``model_type``'s towers by default: the same type, or two
    base types (coco and flickr are both BLIP base; only their default weights differ)."""
    return other == model_type or (model_type in BASE_TYPES and other in BASE_TYPES)

# Config keys that shape the towers of the base types; the tiny type's towers are fixed.
ARCHITECTURE_KEYS = (
    "vit_type", "image_size", "vit_grad_ckpt", "vit_ckpt_layer", "vit_drop_path_rate",
    "vit_layer_norm_epsilon", "med_config_path", "embed_dim",
)

# 32 px images in 4 px patches (64 + 1 tokens: fine enough for left/right/above/below of two
# shapes), 2 layers of width 64 per tower, no dropout (a tiny model on a small world).
TINY_VISION = {"img_size": 32, "patch_size": 4, "embed_dim": 64, "depth": 2, "num_heads": 2, "mlp_ratio": 4.0}
TINY_TEXT = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 256,
    "max_position_embeddings": 64,
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
    "pad_token_id": 0,
}
TINY_EMBED_DIM = 64


def tiny_text_config(vocab_size: int):
    """BERT config of the tiny type (``vocab_size``: the built-in tiny vocabulary incl. [DEC]/[ENC])."""
    from transformers import BertConfig

    return BertConfig(
        vocab_size=int(vocab_size), encoder_width=TINY_VISION["embed_dim"], add_cross_attention=True,
        add_type_embeddings=False, **TINY_TEXT,
    )


def med_config_file(med_config_path: str) -> str:
    """Where ``model.med_config_path`` points: absolute as given, relative ones inside the lavis package."""
    import os

    from lavis.common.utils import get_abs_path

    return med_config_path if os.path.isabs(med_config_path) else get_abs_path(med_config_path)


def med_config_problem(med_config_path: str) -> str | None:
    """Why ``model.med_config_path`` cannot be read (a one-line message), or None when the file is there."""
    import os

    path = med_config_file(med_config_path)
    if os.path.isfile(path):
        return None
    return f"model.med_config_path: BERT config not found: {med_config_path} (looked at {path})"


def base_text_config(med_config_path: str):
    """BERT config of a base type from LAVIS's med config JSON (path relative to lavis or absolute)."""
    from transformers import BertConfig

    from ahnpl_plugin.errors import ConfigError

    problem = med_config_problem(med_config_path)
    if problem:
        raise ConfigError(problem)
    return BertConfig.from_json_file(med_config_file(med_config_path))


def build_towers(model_type: str, cfg: dict, vocab_size: int | None = None):
    """``(visual_encoder, text_config, embed_dim)`` of a type; the BERT itself is built by the caller.

    ``cfg``: the validated plain model config (architecture keys for base types); ``vocab_size``:
    the tiny type's vocabulary size.
    """
    from lavis.models.vit import VisionTransformerEncoder

    if model_type == "tiny":
        vit = VisionTransformerEncoder(**TINY_VISION)
        vit.vision_width = TINY_VISION["embed_dim"]
        return vit, tiny_text_config(vocab_size), TINY_EMBED_DIM
    vit = VisionTransformerEncoder.from_config(cfg)
    return vit, base_text_config(cfg.get("med_config_path", DEFAULT_MED_CONFIG)), int(cfg.get("embed_dim", 256))
