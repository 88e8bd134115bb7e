"""The ``model:`` section of an ``ahnpl_clip`` config: its keys, defaults and validation.

Keys (defaults in lavis_configs/models/ahnpl_clip_<type>.yaml; ``loss`` in models/loss.yaml):

``arch``            ``ahnpl_clip``
``model_type``      ViT-B-32 | ViT-B-16 | ViT-L-14 | ViT-L-14-336 | RN50 | tiny
``pretrained``      ``openai`` | ``""`` (random init) | path to any checkpoint format of
                    :mod:`ahnpl_plugin.models.checkpoint_formats` (OpenAI archive/state dict,
                    open_clip state dict or hub folder, HF CLIPModel folder, ahnpl_clip checkpoint)
``act``             ``quick_gelu`` | ``gelu`` | ``""``: the activation of ``pretrained`` weights whose
                    file does not say (plain state dicts: then required); an ``act`` that
                    contradicts the file is an error (see clip_loading)
``quick_gelu``      activation of a randomly initialised model (``pretrained: ""``)
``pretrained_patch`` ``{base: openai | PATH, alpha: 0.6}``: WiSE patch at load,
                    (1 - alpha) * base + alpha * pretrained (CLoVe's release needs it)
``pretrained_lora`` ``{path: FILE_OR_PEFT_FOLDER, scale: null}``: LoRA deltas merged at load
                    (scale = lora_alpha / r; null: from the file)
``trust_code``      false (default): pickles are read with ``weights_only=True`` and TorchScript
                    archives only when their SHA-256 is one of OpenAI's releases; true: also
                    other archives and pickles of arbitrary objects (runs code from the file)
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
``finetune``        what trains: ``full`` (default) | ``lora`` | ``text`` | ``vision`` | ``last_n``
                    (see finetune_scope); ``finetune_last_n``: the block count for ``last_n``
``lora``            ``{rank: 4, alpha: 4, targets: [attn_qkv, linear, conv]}`` (FSC-CLIP's
                    placement; see lora), with ``finetune: lora`` only
``distill``         ``{weight: 0, kind: mse|cosine, ema: null}``: weight > 0 adds ``weight *
                    loss_distill``, the distance of image and caption features to those of a
                    frozen copy of the starting model (``ema``: a decay, e.g. 0.9996, makes the
                    teacher an EMA of the student)
``l2sp``            weight of ``sum ||w - w0||^2`` over the trained weights (0 = off)
``loss``            mapping of :class:`ahnpl_plugin.losses.AHNPLLoss` options (every argument is a
                    key; defaults for every model in lavis_configs/models/loss.yaml, see
                    :mod:`ahnpl_plugin.models.loss_options`)

Unknown keys are errors listing the valid ones, so a typo never silently trains another config.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ahnpl_plugin.config import model_flag, model_mapping, plain
from ahnpl_plugin.errors import ConfigError, unknown_choice
from ahnpl_plugin.models.loss_options import loss_options
from ahnpl_plugin.models.retention_options import keeps_start, retention_options
from ahnpl_plugin.models.clip.architectures import MODEL_TYPES, OPENAI_TYPES

MODEL_KEYS = ("arch", "model_type", "pretrained", "act", "quick_gelu", "pretrained_patch", "pretrained_lora", "trust_code",
              "load_finetuned", "finetuned", "sdpa", "text_length", "loss",
              "finetune", "finetune_last_n", "lora", "distill", "l2sp")
ACT_VALUES = ("quick_gelu", "gelu")  # = checkpoint_formats.ACTS (that module imports torch)
TEXT_LENGTHS = ("buckets", "longest", "full")  # = text_encoding.TEXT_LENGTHS (that module imports torch)


@dataclass
class ModelOptions:
    """Validated ``model:`` options."""

    model_type: str
    pretrained: str = ""
    quick_gelu: bool = False
    act: str = ""
    pretrained_patch: dict | None = None
    pretrained_lora: dict | None = None
    trust_code: bool = False
    load_finetuned: bool = False
    finetuned: str = ""
    sdpa: bool = True
    text_length: str = "buckets"
    loss: dict = field(default_factory=dict)
    finetune: str = "full"
    finetune_last_n: int = 0
    lora: dict = field(default_factory=dict)  # rank, alpha, targets (filled in for finetune: lora)
    distill: dict = field(default_factory=dict)  # weight, kind, ema (weight 0 = off)
    l2sp: float = 0.0

    @property
    def keeps_start(self) -> bool:
        """Whether training needs a frozen copy of the starting weights (teacher or L2-SP anchor)."""
        return keeps_start(self.distill, self.l2sp)


def _patch_option(raw) -> dict | None:
    """``model.pretrained_patch``: None, or ``{base: str, alpha: float in [0, 1]}``."""
    raw = plain(raw)
    if raw in (None, "", {}):
        return None
    if not isinstance(raw, dict) or set(raw) - {"base", "alpha"} or not raw.get("base") or "alpha" not in raw:
        raise ConfigError(f"model.pretrained_patch must be {{base: openai | PATH, alpha: 0.6}}, got {raw!r}")
    alpha = raw["alpha"]
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
        raise ConfigError(f"model.pretrained_patch.alpha must be a number in [0, 1], got {alpha!r}")
    return {"base": str(raw["base"]), "alpha": float(alpha)}


def _lora_option(raw) -> dict | None:
    """``model.pretrained_lora``: None, or ``{path: str, scale: float | None}`` (a bare path allowed)."""
    raw = plain(raw)
    if raw in (None, "", {}):
        return None
    if isinstance(raw, str):
        raw = {"path": raw}
    if not isinstance(raw, dict) or set(raw) - {"path", "scale"} or not raw.get("path"):
        raise ConfigError(f"model.pretrained_lora must be {{path: FILE, scale: null}}, got {raw!r}")
    scale = raw.get("scale")
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, (int, float))):
        raise ConfigError(f"model.pretrained_lora.scale must be a number or null, got {scale!r}")
    return {"path": str(raw["path"]), "scale": None if scale is None else float(scale)}


def model_options(cfg) -> ModelOptions:
    """Validate a ``model:`` mapping (OmegaConf or dict) into :class:`ModelOptions`."""
    raw, model_type = model_mapping(cfg, "ahnpl_clip", MODEL_KEYS, MODEL_TYPES)
    pretrained = raw.get("pretrained") or ""
    if not isinstance(pretrained, str):
        raise ConfigError(f"model.pretrained must be a string, got {pretrained!r}")
    quick_gelu = raw.get("quick_gelu")
    quick_gelu = (model_type in OPENAI_TYPES) if quick_gelu is None else model_flag("quick_gelu", quick_gelu)
    act = raw.get("act") or ""
    if act and act not in ACT_VALUES:
        raise unknown_choice("model.act", act, ACT_VALUES)
    load_finetuned = model_flag("load_finetuned", raw.get("load_finetuned", False))
    finetuned = raw.get("finetuned") or ""
    if load_finetuned and not finetuned:
        raise ConfigError("model.load_finetuned is true but model.finetuned (a checkpoint path) is empty")
    sdpa = model_flag("sdpa", raw.get("sdpa", True))
    text_length = raw.get("text_length", "buckets")
    if text_length not in TEXT_LENGTHS:
        raise unknown_choice("model.text_length", text_length, TEXT_LENGTHS)
    return ModelOptions(
        model_type=model_type,
        pretrained=pretrained,
        quick_gelu=quick_gelu,
        act=act,
        pretrained_patch=_patch_option(raw.get("pretrained_patch")),
        pretrained_lora=_lora_option(raw.get("pretrained_lora")),
        trust_code=model_flag("trust_code", raw.get("trust_code", False)),
        load_finetuned=load_finetuned,
        finetuned=str(finetuned),
        sdpa=sdpa,
        text_length=text_length,
        loss=loss_options(raw.get("loss")),
        **retention_options(raw),
    )
