"""The ``model:`` section of an ``ahnpl_blip`` config: its keys, defaults and validation.

Keys (defaults in lavis_configs/models/ahnpl_blip_<type>.yaml; ``loss`` in models/loss.yaml):

``arch``               ``ahnpl_blip``
``model_type``         coco | flickr | tiny
``load_finetuned``     true: load ``finetuned`` (a LAVIS BLIP retrieval checkpoint, e.g. LAVIS's
                       blip_coco_retrieval.pth, or an ahnpl_blip run's checkpoint) instead of
                       ``pretrained`` (LAVIS convention; the coco/flickr types start from LAVIS's
                       retrieval-fine-tuned weights this way)
``finetuned``          path or URL of that checkpoint (URLs download into the torch hub cache)
``pretrained``         path or URL of a BLIP pre-training checkpoint (``model_base*.pth``), or ``""``
                       (random initialisation)
``tokenizer``          folder with bert-base-uncased's vocab.txt | hub id | ``builtin-tiny``
                       (see :mod:`ahnpl_plugin.models.blip.tokenizer`; checked against the encoder)
``queue_size``         BLIP's ITC feature queue (a multiple of the global batch size)
``alpha``              weight of momentum distillation in BLIP's ITC targets (ramped up over the
                       first two epochs, as LAVIS)
``momentum``           EMA factor of the momentum encoders
``negative_all_rank``  must be false (ITM negatives from the own rank, as LAVIS's COCO/Flickr configs)
``max_txt_len``        caption tokens (truncation)
``itm_hard_negatives`` N >= 0: hard negative captions per image added to ITM as non-matching
                       pairs (fewer when an image has fewer valid ones; 0: BLIP's ITM unchanged)
``trust_code``         false (default): checkpoints are read with ``weights_only=True`` (tensors,
                       containers, numpy data); true: also pickled Python objects (runs code from
                       the file)
``scoring``            itc | itm | itc+itm: how evaluation scores an (image, caption) pair
                       (compositional task and LAVIS's RetrievalTask; see blip_scoring)
``loss``               :class:`ahnpl_plugin.losses.AHNPLLoss` options, the same keys and defaults as
                       ahnpl_clip (lavis_configs/models/loss.yaml)
``finetune``           what trains: full (default) | lora | text | vision | last_n (with
                       ``finetune_last_n``); see :mod:`ahnpl_plugin.models.blip.finetune_scope`
``lora``               ``{rank: 4, alpha: 4, targets: [attn_qkv, linear, conv]}`` with ``finetune:
                       lora`` (attn_qkv: the ViT's fused qkv, three row groups, and BERT's
                       query/key/value; linear: every other Linear; conv: the patch embedding)
``distill``            ``{weight: 0, kind: mse|cosine, ema: null}``: weight > 0 adds ``weight *
                       loss_distill``, the distance of the ITC image and caption features to those
                       of a frozen copy of the starting online towers (``ema``: a decay makes it an
                       EMA of the student)
``l2sp``               weight of ``sum ||w - w0||^2`` over the trained online weights (0 = off)
architecture keys      base types only: vit_type, image_size, vit_grad_ckpt, vit_ckpt_layer,
                       vit_drop_path_rate, vit_layer_norm_epsilon, med_config_path, embed_dim
                       (LAVIS's meanings); the tiny type's towers are fixed

Unknown keys are errors listing the valid ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ahnpl_plugin.errors import ConfigError, unknown_choice
from ahnpl_plugin.models.blip.architectures import ARCHITECTURE_KEYS, MODEL_TYPES
from ahnpl_plugin.config import model_flag, model_mapping
from ahnpl_plugin.models.loss_options import loss_options
from ahnpl_plugin.models.retention_options import keeps_start, retention_options

SCORING_MODES = ("itc", "itm", "itc+itm")  # = blip_scoring.SCORING_MODES (that module imports torch)
BLIP_KEYS = (
    "arch", "model_type", "load_finetuned", "finetuned", "pretrained", "tokenizer", "queue_size",
    "alpha", "momentum", "negative_all_rank", "max_txt_len", "itm_hard_negatives", "scoring", "loss",
    "trust_code", "finetune", "finetune_last_n", "lora", "distill", "l2sp",
) + ARCHITECTURE_KEYS


@dataclass
class BlipOptions:
    """Validated ``model:`` options of ``ahnpl_blip``."""

    model_type: str
    tokenizer: str
    load_finetuned: bool = False
    finetuned: str = ""
    pretrained: str = ""
    queue_size: int = 57600
    alpha: float = 0.4
    momentum: float = 0.995
    max_txt_len: int = 35
    itm_hard_negatives: int = 1
    scoring: str = "itc+itm"
    trust_code: bool = False  # true: checkpoints may hold pickled Python objects (runs code from them)
    loss: dict = field(default_factory=dict)
    architecture: dict = field(default_factory=dict)  # base types' tower keys, as given
    finetune: str = "full"
    finetune_last_n: int = 0
    lora: dict = field(default_factory=dict)  # rank, alpha, targets (filled in for finetune: lora)
    distill: dict = field(default_factory=dict)  # weight, kind, ema (weight 0 = off)
    l2sp: float = 0.0

    @property
    def keeps_start(self) -> bool:
        """Whether training needs a frozen copy of the starting weights (teacher or L2-SP anchor)."""
        return keeps_start(self.distill, self.l2sp)


def _integer(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"model.{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _fraction(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ConfigError(f"model.{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def _text(name: str, value) -> str:
    value = "" if value is None else value
    if not isinstance(value, str):
        raise ConfigError(f"model.{name} must be a string (a path or URL), got {value!r}")
    return value


def blip_model_options(cfg) -> BlipOptions:
    """Validate a ``model:`` mapping (OmegaConf or dict) into :class:`BlipOptions`."""
    raw, model_type = model_mapping(cfg, "ahnpl_blip", BLIP_KEYS, MODEL_TYPES)
    architecture = {k: raw[k] for k in ARCHITECTURE_KEYS if k in raw}
    if model_type == "tiny" and architecture:
        raise ConfigError(
            f"model.{sorted(architecture)[0]} does not apply to model_type tiny (its towers are fixed, "
            "ahnpl_plugin/models/blip/architectures.py); it sets the coco/flickr towers"
        )
    if model_flag("negative_all_rank", raw.get("negative_all_rank", False)):
        raise ConfigError(
            "model.negative_all_rank: true is not supported by ahnpl_blip (ITM negatives come from the own "
            "rank, as in LAVIS's BLIP COCO/Flickr configs); set it to false"
        )
    load_finetuned = model_flag("load_finetuned", raw.get("load_finetuned", False))
    finetuned = _text("finetuned", raw.get("finetuned"))
    if load_finetuned and not finetuned:
        raise ConfigError("model.load_finetuned is true but model.finetuned (a checkpoint path) is empty")
    retention = retention_options(raw)
    scoring = raw.get("scoring", "itc+itm")
    if scoring not in SCORING_MODES:
        raise unknown_choice("model.scoring", scoring, SCORING_MODES)
    return BlipOptions(
        model_type=model_type,
        tokenizer=_text("tokenizer", raw.get("tokenizer")),
        load_finetuned=load_finetuned,
        finetuned=finetuned,
        pretrained=_text("pretrained", raw.get("pretrained")),
        queue_size=_integer("queue_size", raw.get("queue_size", 57600), 1),
        alpha=_fraction("alpha", raw.get("alpha", 0.4)),
        momentum=_fraction("momentum", raw.get("momentum", 0.995)),
        max_txt_len=_integer("max_txt_len", raw.get("max_txt_len", 35), 2),
        itm_hard_negatives=_integer("itm_hard_negatives", raw.get("itm_hard_negatives", 1), 0),
        scoring=scoring,
        trust_code=model_flag("trust_code", raw.get("trust_code", False)),
        loss=loss_options(raw.get("loss")),
        architecture=architecture,
        **retention,
    )
