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
"""

from __future__ import annotations

import logging
import os

import torch

from ahnpl_plugin.errors import ConfigError

log = logging.getLogger(__name__)

QUEUE_KEYS = ("image_queue", "text_queue", "idx_queue", "queue_ptr")
OPTIONAL_KEYS = QUEUE_KEYS + ("loss.thresholds",)


class BlipWeightsError(ConfigError):
    """A BLIP checkpoint that cannot be found, read or loaded into this model."""


def _is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def read_checkpoint(source: str, key: str) -> dict:
    """The state dict of a checkpoint path or URL (``key``: the config key, for messages)."""
    if source == "openai":  # left over from an ahnpl_clip config whose arch was swapped
        raise BlipWeightsError(
            f"model.{key}: 'openai' names OpenAI's CLIP weights, which ahnpl_blip cannot load; give a BLIP "
            f"checkpoint (path or URL), or \"\" for random initialisation"
        )
    if _is_url(source):
        from lavis.common.dist_utils import download_cached_file

        try:
            path = download_cached_file(source, check_hash=False, progress=True)
        except Exception as exc:  # noqa: BLE001 - network errors of any library
            raise BlipWeightsError(
                f"model.{key}: cannot download {source} ({type(exc).__name__}: {exc}); offline, set "
                f"model.{key} to a local copy of the file"
            ) from None
    else:
        path = os.path.expanduser(source)
        if not os.path.isfile(path):
            raise BlipWeightsError(f"model.{key}: checkpoint not found: {source}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - pickle/zip errors
        raise BlipWeightsError(f"model.{key}: cannot read {path} as a torch checkpoint: {exc}") from None
    state = obj["model"] if isinstance(obj, dict) and isinstance(obj.get("model"), dict) else obj
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise BlipWeightsError(f"model.{key}: {path} is not a checkpoint (expected a state dict or a dict with 'model')")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}


def _interpolated_positions(state: dict, model) -> dict:
    """``state`` with the ViT position embeddings resized to the model's patch grid (LAVIS's rule)."""
    from lavis.models.vit import interpolate_pos_embed

    for name in ("visual_encoder", "visual_encoder_m"):
        key = f"{name}.pos_embed"
        if key in state and hasattr(model, name) and torch.is_tensor(state[key]):
            state[key] = interpolate_pos_embed(state[key], getattr(model, name))
    return state


def load_blip_weights(model, source: str, key: str) -> None:
    """Load checkpoint ``source`` (config key ``key``) into ``model``; see the module docstring."""
    state = _interpolated_positions(read_checkpoint(source, key), model)
    own = model.state_dict()
    mismatched = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    bad_shapes = [k for k in mismatched if k not in OPTIONAL_KEYS]
    if bad_shapes:
        details = ", ".join(f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in bad_shapes[:5])
        raise BlipWeightsError(
            f"model.{key} {source} does not fit this ahnpl_blip ({model.model_type}): {len(bad_shapes)} "
            f"tensor(s) of another shape, e.g. {details}"
        )
    for k in mismatched:  # queues of another queue_size, theta of another number of types
        log.warning("%s: %s has shape %s, this model %s: not loaded", source, k, tuple(state[k].shape), tuple(own[k].shape))
        del state[k]
    missing = [k for k in own if k not in state and k not in OPTIONAL_KEYS]
    if missing:
        raise BlipWeightsError(
            f"model.{key} {source} lacks {len(missing)} weight(s) of this ahnpl_blip ({model.model_type}), "
            f"e.g. {', '.join(missing[:5])}: not a BLIP retrieval/pre-training checkpoint of this size?"
        )
    result = model.load_state_dict(state, strict=False)
    if result.unexpected_keys:
        log.info("%s: %d key(s) not used by ahnpl_blip (e.g. %s)", source, len(result.unexpected_keys),
                 ", ".join(result.unexpected_keys[:3]))
    absent = [k for k in OPTIONAL_KEYS if k not in state]
    if absent:
        log.info("%s: not in the checkpoint, left at their initial values: %s", source, ", ".join(absent))
