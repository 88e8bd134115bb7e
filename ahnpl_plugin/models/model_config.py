"""The ``model:`` section of an ``ahnpl_clip`` config: its keys, defaults and validation.

Keys (defaults in lavis_configs/models/ahnpl_clip_<type>.yaml):

``arch``            ``ahnpl_clip``
``model_type``      ViT-B-32 | ViT-B-16 | ViT-L-14 | ViT-L-14-336 | RN50 | tiny
``pretrained``      ``openai`` | path to an OpenAI TorchScript archive | path to a state dict | ``""``
``quick_gelu``      activation when the weights do not decide it (see clip_loading); forced true
                    for OpenAI weights
``load_finetuned``  true: load ``finetuned`` (an ahnpl_clip checkpoint, strictly) instead of
                    ``pretrained`` (LAVIS convention, used for evaluation)
``finetuned``       path of that checkpoint
``sdpa``            true (default): both towers' attention through F.scaled_dot_product_attention
                    (batch-first, causal flag instead of a mask); false: LAVIS's
                    nn.MultiheadAttention blocks. Same weights, same features (to float rounding)
``text_length``     how many token positions the text tower runs: ``buckets`` (default; captions
                    sorted into a few chunks, each cut to its own longest caption), ``longest``
                    (the batch cut to its longest caption) or ``full`` (the padded context, as
                    LAVIS). Same features in all three (to float rounding); see text_encoding
``loss``            mapping of :class:`ahnpl_plugin.losses.AHNPLLoss` options (every argument is a
                    key: mode, negative_types, lambda_hn, lambda_dm, image_hn_weight, hn_anchor,
                    positive_margin, threshold, fixed_threshold, upper_bound, itc_hard_negatives,
                    use_hn, use_dm)

Unknown keys are errors listing the valid ones, so a typo never silently trains another config.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

from ahnpl_plugin.errors import ConfigError, unknown_choice
from ahnpl_plugin.models.architectures import MODEL_TYPES, OPENAI_TYPES

MODEL_KEYS = ("arch", "model_type", "pretrained", "quick_gelu", "load_finetuned", "finetuned", "sdpa", "text_length", "loss")
TEXT_LENGTHS = ("buckets", "longest", "full")  # = text_encoding.TEXT_LENGTHS (that module imports torch)


@dataclass
class ModelOptions:
    """Validated ``model:`` options."""

    model_type: str
    pretrained: str = ""
    quick_gelu: bool = False
    load_finetuned: bool = False
    finetuned: str = ""
    sdpa: bool = True
    text_length: str = "buckets"
    loss: dict = field(default_factory=dict)


def loss_option_names() -> tuple[str, ...]:
    """The keys ``model.loss`` accepts: the arguments of ``AHNPLLoss``."""
    from ahnpl_plugin.losses import AHNPLLoss

    return tuple(name for name in inspect.signature(AHNPLLoss.__init__).parameters if name != "self")


def _plain(value):
    """OmegaConf containers to plain Python (lists, dicts); anything else unchanged."""
    try:
        from omegaconf import OmegaConf

        if OmegaConf.is_config(value):
            return OmegaConf.to_container(value, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf ships with LAVIS
        pass
    return value


def _flag(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"model.{name} must be true or false, got {value!r}")
    return value


def loss_options(raw) -> dict:
    """``model.loss`` as AHNPLLoss keyword arguments (unknown keys -> ConfigError listing valid)."""
    raw = _plain(raw)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"model.loss must be a mapping of AHNPLLoss options, got {raw!r}")
    valid = loss_option_names()
    for key in raw:
        if key not in valid:
            raise unknown_choice("model.loss key", key, valid)
    options = dict(raw)
    if "negative_types" in options and isinstance(options["negative_types"], list):
        options["negative_types"] = tuple(options["negative_types"])
    return options


def model_options(cfg) -> ModelOptions:
    """Validate a ``model:`` mapping (OmegaConf or dict) into :class:`ModelOptions`."""
    raw = _plain(cfg)
    if not isinstance(raw, dict):
        raise ConfigError(f"the model config must be a mapping, got {type(cfg).__name__}")
    for key in raw:
        if key not in MODEL_KEYS:
            raise unknown_choice("ahnpl_clip model key", key, MODEL_KEYS)
    model_type = raw.get("model_type")
    if model_type not in MODEL_TYPES:
        raise unknown_choice("ahnpl_clip model_type", model_type, MODEL_TYPES)
    pretrained = raw.get("pretrained") or ""
    if not isinstance(pretrained, str):
        raise ConfigError(f"model.pretrained must be a string, got {pretrained!r}")
    quick_gelu = raw.get("quick_gelu")
    quick_gelu = (model_type in OPENAI_TYPES) if quick_gelu is None else _flag("quick_gelu", quick_gelu)
    load_finetuned = _flag("load_finetuned", raw.get("load_finetuned", False))
    finetuned = raw.get("finetuned") or ""
    if load_finetuned and not finetuned:
        raise ConfigError("model.load_finetuned is true but model.finetuned (a checkpoint path) is empty")
    sdpa = _flag("sdpa", raw.get("sdpa", True))
    text_length = raw.get("text_length", "buckets")
    if text_length not in TEXT_LENGTHS:
        raise unknown_choice("model.text_length", text_length, TEXT_LENGTHS)
    return ModelOptions(
        model_type=model_type,
        pretrained=pretrained,
        quick_gelu=quick_gelu,
        load_finetuned=load_finetuned,
        finetuned=str(finetuned),
        sdpa=sdpa,
        text_length=text_length,
        loss=loss_options(raw.get("loss")),
    )
