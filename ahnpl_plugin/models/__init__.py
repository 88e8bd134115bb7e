"""The plugin's LAVIS models, one package per family, and what the families share.

Families (the same module names for the same roles: ``model``, ``options``, ``architectures``,
``weights``, ``tokenizer``): :mod:`ahnpl_plugin.models.clip` (``ahnpl_clip``) and
:mod:`ahnpl_plugin.models.blip` (``ahnpl_blip``). Shared here: ``hard_negative_batches`` (a
training batch's hard negatives -> the loss), ``negative_batch`` (which captions the text pass
encodes), ``loss_options`` (the ``model.loss`` block), ``param_groups`` (AdamW groups),
``checkpoint_formats`` (reading every checkpoint format into a state dict), ``checkpoint_info``
(which model a checkpoint was made for), ``start_weights`` and ``weight_patching`` (WiSE-FT, LoRA
merge), ``loader_tokens`` (token ids made in DataLoader workers), ``zero_shot_head`` (LAVIS's
zero-shot classification route), ``retention_options`` (the ``finetune`` / ``distill`` / ``l2sp``
keys), ``start_anchor`` (the frozen start copy: distillation, L2-SP, EMA teacher) and ``lora``
(low-rank adapters as parametrizations, merged away for export).

Importing this package is cheap (no torch, no LAVIS); ``<family>.model`` imports LAVIS and
registers the model.
"""

from ahnpl_plugin.paths import config_path

# Default YAML of each model type of each registered model, relative to lavis_configs/
# (see ahnpl_plugin.paths.configs_dir).
CONFIG_FILES: dict[str, dict[str, str]] = {
    "ahnpl_clip": {
        "ViT-B-32": "models/ahnpl_clip_vit_b32.yaml",
        "ViT-B-16": "models/ahnpl_clip_vit_b16.yaml",
        "ViT-L-14": "models/ahnpl_clip_vit_l14.yaml",
        "ViT-L-14-336": "models/ahnpl_clip_vit_l14_336.yaml",
        "RN50": "models/ahnpl_clip_rn50.yaml",
        "tiny": "models/ahnpl_clip_tiny.yaml",
    },
    "ahnpl_blip": {
        "coco": "models/ahnpl_blip_coco.yaml",
        "flickr": "models/ahnpl_blip_flickr.yaml",
        "tiny": "models/ahnpl_blip_tiny.yaml",
    },
}

__all__ = ["CONFIG_FILES", "config_path", "default_config_path"]


def default_config_path(arch: str, model_type: str) -> str:
    """Absolute path of the default YAML of ``arch``'s ``model_type`` (ConfigError listing the valid types)."""
    from ahnpl_plugin.errors import unknown_choice

    files = CONFIG_FILES[arch]
    if model_type not in files:
        raise unknown_choice(f"{arch} model_type", model_type, files)
    return config_path(files[model_type])
