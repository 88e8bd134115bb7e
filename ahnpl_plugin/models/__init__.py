"""The ``ahnpl_clip`` LAVIS model and its parts.

Importing this package is cheap (no torch, no LAVIS); ``ahnpl_plugin.models.ahnpl_clip`` imports
LAVIS and registers the model. Modules: ``architectures`` (CLIP shape per model type),
``model_config`` (``model:`` keys), ``clip_loading`` (weights sources, QuickGELU rule),
``checkpoint_formats`` (detecting and reading every published checkpoint format),
``hf_clip_layout`` (HF CLIPModel <-> open_clip names), ``trusted_archives`` (SHA-256 allow-list),
``weight_patching`` (WiSE patch, LoRA merge),
``tokens`` (cached CLIP tokenizer), ``text_encoding`` (exact trimmed-length text encoding), ``negative_batch`` (which captions are
encoded), ``param_groups`` (AdamW groups), ``ahnpl_clip`` (the model).
"""

from ahnpl_plugin.paths import config_path

# Default YAML of each model type, relative to lavis_configs/ (see ahnpl_plugin.paths.configs_dir).
CONFIG_FILES = {
    "ViT-B-32": "models/ahnpl_clip_vit_b32.yaml",
    "ViT-B-16": "models/ahnpl_clip_vit_b16.yaml",
    "ViT-L-14": "models/ahnpl_clip_vit_l14.yaml",
    "ViT-L-14-336": "models/ahnpl_clip_vit_l14_336.yaml",
    "RN50": "models/ahnpl_clip_rn50.yaml",
    "tiny": "models/ahnpl_clip_tiny.yaml",
}

__all__ = ["CONFIG_FILES", "config_path"]
