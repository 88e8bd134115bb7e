"""Loading BLIP weights into ``ahnpl_blip``: LAVIS's checkpoint format, offline, checked.

A checkpoint is a ``torch.save`` file holding ``{"model": state_dict, ...}`` (LAVIS's BLIP
pre-training and retrieval files, and ``ahnpl_runner``'s checkpoints) or a bare state dict; a
path, or an http(s) URL that LAVIS downloads once into the torch hub cache (used from there
offline). As LAVIS's ``BlipBase.load_from_pretrained``: the ViT position embeddings are
interpolated to the model's image size, and keys the model lacks (e.g. the pre-training
checkpoint's text decoder) are ignored.

Unlike LAVIS, which drops any tensor of another shape and loads with ``strict=False`` (so a wrong
file silently leaves random weights), a checkpoint must provide every weight of the towers, heads
and temperature with the right shape. Only these may be absent or differently sized: the feature
queues (another ``queue_size``; they restart from random features as in a fresh BLIP), the
image-id queue and its pointer (absent from pre-training checkpoints), and the AHNPL thresholds
theta (absent from LAVIS's files: they start at their initial value).

A runner checkpoint stores its run config; a checkpoint of another model (an ``ahnpl_clip`` run, or
an ``ahnpl_blip`` run of a type with other towers, e.g. ``tiny`` into ``coco``) is refused by
:func:`check_checkpoint_model` right after reading, before the model is built, with the arch and
model_type to set; a checkpoint that still does not fit names the model it holds (or that it
stores none) next to the mismatching tensors.

Offline (``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE``) a URL without a cached copy fails at once,
naming the cache path (:mod:`ahnpl_plugin.models.blip.sources`), instead of trying the network.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch

from ahnpl_plugin.errors import BlipWeightsError
from ahnpl_plugin.models.blip.architectures import MODEL_TYPES, same_towers
from ahnpl_plugin.models.blip.sources import (
    OFFLINE_REASON,
    hub_offline,
    is_url,
    local_weights_problem,
    uncached_url_message,
    url_cache_path,
)
from ahnpl_plugin.models.checkpoint_formats import load_pickle, state_dict_of
from ahnpl_plugin.models.lora import has_lora, merge_state_dict
from ahnpl_plugin.models.checkpoint_info import checkpoint_model, describe_checkpoint_model

log = logging.getLogger(__name__)

ARCH = "ahnpl_blip"
QUEUE_KEYS = ("image_queue", "text_queue", "idx_queue", "queue_ptr")
OPTIONAL_KEYS = QUEUE_KEYS + ("loss.thresholds",)


@dataclass
class BlipCheckpoint:
    """A read checkpoint: its state dict and the model its stored config names."""

    source: str  # the configured path or URL
    key: str  # the config key: finetuned | pretrained
    path: str  # the local file read
    state: dict  # the state dict, ``module.`` prefixes removed
    arch: str | None  # config["model"]["arch"] stored in the file, None without a config
    model_type: str | None  # config["model"]["model_type"], likewise
    holds: str  # for messages: "ahnpl_blip tiny", "a model of unknown type (no config stored)", ...


def checkpoint_file(source: str, key: str) -> str:
    """The local file of checkpoint ``source``: the path itself, or a URL's cached copy (downloaded by
    LAVIS when absent, unless offline)."""
    if not is_url(source):
        problem = local_weights_problem(source, key)
        if problem:
            raise BlipWeightsError(problem)
        return os.path.expanduser(source)
    cached = url_cache_path(source)
    if os.path.isfile(cached):  # the cache first: no network, no wait
        return cached
    if hub_offline():
        raise BlipWeightsError(uncached_url_message(source, key, OFFLINE_REASON))
    from lavis.common.dist_utils import download_cached_file

    try:
        return download_cached_file(source, check_hash=False, progress=True)
    except Exception as exc:  # noqa: BLE001 - network errors of any library
        raise BlipWeightsError(
            uncached_url_message(source, key, f"the download failed ({type(exc).__name__}: {exc})")
        ) from None


def read_checkpoint(source: str, key: str, trust_code: bool = False) -> BlipCheckpoint:
    """Read checkpoint path or URL ``source`` (``key``: the config key, for messages) with the
    package's one checkpoint reader: tensors, plain containers and numpy data only (LAVIS's and the
    runner's files hold nothing else) unless ``trust_code`` (``model.trust_code``),
    ``{"model": ...}`` / ``{"state_dict": ...}`` unwrapped."""
    path = checkpoint_file(source, key)
    try:
        obj = load_pickle(path, trust_code, error=BlipWeightsError,
                          fix="Re-save its state dict, or set model.trust_code: true if you trust the file")
    except BlipWeightsError as exc:
        raise BlipWeightsError(f"model.{key}: {exc}") from None
    state, _ = state_dict_of(obj)
    if state is None:
        raise BlipWeightsError(f"model.{key}: {path} is not a checkpoint (expected a state dict or a dict with 'model')")
    arch, model_type = checkpoint_model(obj)
    return BlipCheckpoint(source, key, path, state, arch, model_type, describe_checkpoint_model(obj))


def is_blip_arch(arch: str) -> bool:
    """Whether checkpoints of LAVIS arch ``arch`` can hold BlipRetrieval's modules: ahnpl_blip and
    LAVIS's BLIP models (``blip_retrieval``, ``blip_pretrain``, ...), not BLIP-2 (``blip2_*``)."""
    return arch == ARCH or arch.startswith("blip_")


def model_fix(arch: str | None, model_type: str | None) -> str:
    """What to set to build the model a checkpoint holds: "set model.model_type to tiny" for the
    BLIP family's types that ahnpl_blip has, else "set model.arch to ahnpl_clip and model.model_type
    to ViT-B-32"."""
    if (arch is None or is_blip_arch(arch)) and model_type in MODEL_TYPES:
        return f"set model.model_type to {model_type}"
    if arch is None:
        return f"set model.model_type to {model_type}" if model_type else "check model.model_type"
    return f"set model.arch to {arch}" + (f" and model.model_type to {model_type}" if model_type else "")


def check_checkpoint_model(checkpoint: BlipCheckpoint, model_type: str) -> None:
    """Refuse a checkpoint whose stored config names a model that cannot fit ``ahnpl_blip model_type``.

    Certain cases only: another arch than ahnpl_blip and LAVIS's BLIP models, or an ahnpl_blip of a
    type with other towers (tiny vs coco/flickr; coco and flickr share BLIP base). Checkpoints
    without a config are left to the tensor checks of :func:`load_blip_state`.
    """
    arch, stored_type = checkpoint.arch, checkpoint.model_type
    foreign = arch is not None and not is_blip_arch(arch)
    other_type = arch == ARCH and stored_type is not None and not same_towers(model_type, stored_type)
    if foreign or other_type:
        raise BlipWeightsError(
            f"model.{checkpoint.key} {checkpoint.source} is a checkpoint of {checkpoint.holds} (its stored "
            f"config), but this model is {ARCH} {model_type}: {model_fix(arch, stored_type)} to load it, "
            f"or give a checkpoint of {ARCH} {model_type}"
        )


def _interpolated_positions(state: dict, model) -> dict:
    """``state`` with the ViT position embeddings resized to the model's patch grid (LAVIS's rule)."""
    from lavis.models.vit import interpolate_pos_embed

    for name in ("visual_encoder", "visual_encoder_m"):
        key = f"{name}.pos_embed"
        if key in state and hasattr(model, name) and torch.is_tensor(state[key]):
            state[key] = interpolate_pos_embed(state[key], getattr(model, name))
    return state


def _not_fitting(checkpoint: BlipCheckpoint, model_type: str, what: str) -> BlipWeightsError:
    """The error for a checkpoint whose tensors do not fit: which model it holds, the fix, ``what`` failed."""
    if checkpoint.model_type and checkpoint.model_type != model_type:
        fix = f"{model_fix(checkpoint.arch, checkpoint.model_type)} to load it"
    elif checkpoint.arch or checkpoint.model_type:
        fix = "its stored config may set other tower keys (vit_type, image_size, embed_dim, med_config_path)"
    else:
        fix = "not a BLIP retrieval/pre-training checkpoint of this size?"
    return BlipWeightsError(
        f"model.{checkpoint.key} {checkpoint.source} (a checkpoint of {checkpoint.holds}) does not fit this "
        f"{ARCH} ({model_type}): "
        f"{what}; {fix}"
    )


def load_blip_state(model, checkpoint: BlipCheckpoint) -> None:
    """Load a read checkpoint into ``model`` (every tower weight with its shape; see the module docstring)."""
    source = checkpoint.source
    state = dict(checkpoint.state)
    own = model.state_dict()
    if has_lora(state) and not has_lora(own):  # a LoRA run's checkpoint into a plain model: merged
        state = merge_state_dict(state)
    state = _interpolated_positions(state, model)
    mismatched = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    bad_shapes = [k for k in mismatched if k not in OPTIONAL_KEYS]
    if bad_shapes:
        details = ", ".join(f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in bad_shapes[:5])
        what = f"{len(bad_shapes)} tensor(s) of another shape, e.g. {details}"
        raise _not_fitting(checkpoint, model.model_type, what)
    for k in mismatched:  # queues of another queue_size, theta of another number of types
        log.warning("%s: %s has shape %s, this model %s: not loaded", source, k, tuple(state[k].shape), tuple(own[k].shape))
        del state[k]
    # a model with a distillation / L2-SP start copy keeps its own when the file has none
    missing = [k for k in own if k not in state and k not in OPTIONAL_KEYS and not k.startswith("reference.")]
    if missing:
        what = f"it lacks {len(missing)} weight(s), e.g. {', '.join(missing[:5])}"
        raise _not_fitting(checkpoint, model.model_type, what)
    result = model.load_state_dict(state, strict=False)
    if result.unexpected_keys:
        log.info("%s: %d key(s) not used by ahnpl_blip (e.g. %s)", source, len(result.unexpected_keys),
                 ", ".join(result.unexpected_keys[:3]))
    absent = [k for k in OPTIONAL_KEYS if k not in state]
    if absent:
        log.info("%s: not in the checkpoint, left at their initial values: %s", source, ", ".join(absent))


def load_blip_weights(model, source: str, key: str) -> None:
    """Read checkpoint ``source`` (config key ``key``), check the model it holds, load it into ``model``."""
    checkpoint = read_checkpoint(source, key, getattr(model, "trust_code", False))
    check_checkpoint_model(checkpoint, model.model_type)
    load_blip_state(model, checkpoint)
