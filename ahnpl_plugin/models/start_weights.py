"""The weights a fine-tuning run started from: a record of them, and interpolation toward them.

Every ``ahnpl_clip`` built from ``model.pretrained`` (or from ``model.finetuned`` when a run goes on
from an earlier checkpoint) keeps :func:`start_record` of its CLIP weights, and the runner stores
it in each checkpoint (``checkpoint["start_weights"]``):

``source``      what ``model.pretrained`` / ``model.finetuned`` named (``openai``, a path, ``""``)
``model_type``  the architecture, and ``quick_gelu`` the activation, to rebuild them with
``sha256``      :func:`state_sha256` of the CLIP state dict as loaded (float32, ``clip.`` keys
                without the prefix), so a rebuilt start is checked to be the very same weights
``reproducible`` false for a random initialisation (``pretrained: ""``): nothing can rebuild it

WiSE-FT (:func:`interpolate`): ``alpha * finetuned + (1 - alpha) * start`` for every floating-point
weight both hold: the towers, the projections and ``logit_scale`` (both ends are <= ln 100, so the
mix is too). Entries that are training state rather than weights keep the fine-tuned value:
the adaptive thresholds (``loss.thresholds``: they only steer the next training step), the
``quick_gelu`` record, and BLIP's feature queues and queue pointer (features of the momentum
encoder, not weights; a mix of two queues is no model's queue). BLIP's momentum encoders are
weights and are interpolated like the online ones. Pure torch; no LAVIS import.
"""

from __future__ import annotations

import hashlib

import torch

from ahnpl_plugin.errors import StartWeightsError

# entries that are training state, never interpolated (suffix match on the state-dict key)
TRAINING_STATE_SUFFIXES = ("thresholds", "quick_gelu", "image_queue", "text_queue", "idx_queue", "queue_ptr")


def state_sha256(state: dict) -> str:
    """SHA-256 over a state dict's names, dtypes, shapes and float32 values (sorted by name).

    Floating-point tensors are hashed as float32, so an fp16 file and its float32 load agree.
    """
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name]
        if not torch.is_tensor(tensor):
            continue
        tensor = tensor.detach().cpu()
        if tensor.is_floating_point():
            tensor = tensor.float()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


def start_record(source: str, model_type: str, quick_gelu: bool, state: dict, reproducible: bool = True) -> dict:
    """The record a checkpoint keeps of its starting weights (see the module docstring)."""
    return {
        "source": str(source),
        "model_type": str(model_type),
        "quick_gelu": bool(quick_gelu),
        "sha256": state_sha256(state),
        "reproducible": bool(reproducible),
    }


def is_training_state(name: str) -> bool:
    """True for entries that :func:`interpolate` takes from the fine-tuned side unchanged."""
    return name.split(".")[-1] in TRAINING_STATE_SUFFIXES


def interpolate(start: dict, finetuned: dict, alpha: float) -> dict:
    """WiSE-FT ``alpha * finetuned + (1 - alpha) * start`` of two state dicts with the same entries.

    alpha 1 returns the fine-tuned tensors and alpha 0 the starting ones exactly (no arithmetic);
    training state (:func:`is_training_state`) and integer tensors come from ``finetuned``. The
    result has ``finetuned``'s dtypes.
    """
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise StartWeightsError(f"WiSE alpha must be in [0, 1] (1 = the fine-tuned weights), got {alpha}")
    missing = sorted(k for k in finetuned if k not in start and not is_training_state(k))
    extra = sorted(k for k in start if k not in finetuned)
    if missing or extra:
        raise StartWeightsError(
            "the starting and fine-tuned weights have different entries "
            f"(only fine-tuned: {', '.join(missing[:3]) or 'none'}; only start: {', '.join(extra[:3]) or 'none'})"
        )
    mixed = {}
    for name, tuned in finetuned.items():
        if is_training_state(name) or not tuned.is_floating_point():
            mixed[name] = tuned.clone()
            continue
        begin = start[name]
        if tuple(begin.shape) != tuple(tuned.shape):
            raise StartWeightsError(f"{name}: shape {tuple(begin.shape)} at the start, {tuple(tuned.shape)} fine-tuned")
        if alpha == 1.0:
            mixed[name] = tuned.clone()
        elif alpha == 0.0:
            mixed[name] = begin.to(tuned.dtype).clone()
        else:
            mixed[name] = (alpha * tuned.float() + (1.0 - alpha) * begin.float()).to(tuned.dtype)
    return mixed
