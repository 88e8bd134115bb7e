"""Build LAVIS's CLIP for an ``ahnpl_clip`` model type from any of its weight sources.

``model.pretrained`` accepts:

* ``openai``: OpenAI's TorchScript archive for the type, in LAVIS's cache ``~/.cache/clip``
  (used offline when the file is there; downloaded otherwise; SHA-256 checked by LAVIS).
* a path to an OpenAI TorchScript archive (e.g. a copy of ``ViT-B-32.pt``).
* a path to a state dict: open_clip / LAVIS ``CLIP`` layout (bare, or under ``"state_dict"`` as in
  open_clip training checkpoints, ``module.`` prefixes allowed), an OpenAI-layout state dict, or a
  checkpoint of ``ahnpl_clip`` itself (LAVIS runner file: ``{"model": ..., "config": ...}``).
* ``""``: random initialisation.

Activation: OpenAI's weights were trained with QuickGELU, and running them with ``nn.GELU`` is a
silent accuracy bug (LAVIS's own ``pretrained: PATH`` path does it). Here QuickGELU is *forced*
whenever the weights are OpenAI's, whichever way they come in: the ``openai`` name, any TorchScript
archive (only OpenAI ships that format), and state dicts carrying OpenAI's marker entries
(``input_resolution``, ``context_length``, ``vocab_size``). A checkpoint of ``ahnpl_clip`` records
the activation it ran with (state-dict entry ``quick_gelu``) and is rebuilt with it. Any other state
dict (open_clip's) cannot tell: ``model.quick_gelu`` decides (defaults: true for the OpenAI types,
whose only weights in LAVIS are OpenAI's; false for ``tiny``; set false for GELU-trained open_clip
weights such as LAION ``ViT-B-32``).

Every loaded state dict is checked against the type's architecture first: a wrong-size file gives
an error naming the mismatching entries instead of a half-loaded model.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import urllib.error
from dataclasses import dataclass
from functools import lru_cache

import torch

from ahnpl_plugin.errors import ConfigError
from ahnpl_plugin.models.architectures import MODEL_TYPES, OPENAI_TYPES, architecture

log = logging.getLogger(__name__)

OPENAI_MARKERS = ("input_resolution", "context_length", "vocab_size")
QUICK_GELU_KEY = "quick_gelu"  # state-dict entry recording an ahnpl_clip checkpoint's activation
CLIP_PREFIX = "clip."  # ahnpl_clip keeps LAVIS's CLIP as submodule ``clip``
DOWNLOAD_TIMEOUT_S = 30

PRETRAINED_OPTIONS = (
    "model.pretrained accepts: 'openai' (OpenAI's weights via LAVIS's cache ~/.cache/clip), "
    "a path to an OpenAI TorchScript archive (e.g. ViT-B-32.pt), a path to an open_clip/LAVIS "
    "state dict (or an ahnpl_clip checkpoint), or '' for random initialisation"
)


class PretrainedWeightsError(ConfigError):
    """``model.pretrained`` / ``model.finetuned`` names weights that cannot be found or used."""


@dataclass
class LoadedWeights:
    """A state dict in open_clip/LAVIS ``CLIP`` layout, and what its origin says about activation."""

    state_dict: dict
    quick_gelu: bool | None  # True/False when the file decides it, None when model.quick_gelu does
    origin: str  # for messages: "OpenAI TorchScript archive", "ahnpl_clip checkpoint", ...


# ----------------------------------------------------------------------------- OpenAI cache


def openai_cache_dir() -> str:
    """LAVIS's download folder for OpenAI archives."""
    return os.path.expanduser("~/.cache/clip")


def openai_url(model_type: str) -> str:
    """URL of OpenAI's archive for ``model_type`` (PretrainedWeightsError for ``tiny``/unknown)."""
    from lavis.models.clip_models.pretrained import get_pretrained_url

    url = get_pretrained_url(model_type, "openai") if model_type in OPENAI_TYPES else ""
    if not url:
        raise PretrainedWeightsError(
            f"model.pretrained: 'openai' has no weights for model_type {model_type!r} (OpenAI weights exist for: "
            f"{', '.join(OPENAI_TYPES)}). {PRETRAINED_OPTIONS}."
        )
    return url


@contextlib.contextmanager
def _socket_timeout(seconds: float):
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def openai_archive(model_type: str, cache_dir: str | None = None) -> str:
    """Path of OpenAI's archive for ``model_type``: the cached file, else downloaded by LAVIS.

    Without the file and without network: PretrainedWeightsError naming the expected file, its URL
    and the alternatives.
    """
    from lavis.models.clip_models.pretrained import download_pretrained

    url = openai_url(model_type)
    root = cache_dir or openai_cache_dir()
    target = os.path.join(root, os.path.basename(url))
    try:
        with _socket_timeout(DOWNLOAD_TIMEOUT_S):
            return download_pretrained(url, root=root)
    except (OSError, urllib.error.URLError, RuntimeError, ValueError) as exc:
        raise PretrainedWeightsError(
            f"model.pretrained: 'openai' needs OpenAI's {model_type} weights at {target}: the file is "
            f"{'not valid' if os.path.isfile(target) else 'missing'} and the download from {url} failed "
            f"({type(exc).__name__}: {exc}). Put that file there (any machine's ~/.cache/clip copy works), "
            f"or set model.pretrained to a local path. {PRETRAINED_OPTIONS}."
        ) from None


# ----------------------------------------------------------------------------- reading files


def _is_torchscript_archive(path: str) -> bool:
    """True when ``path`` is a TorchScript archive (has ``constants.pkl``/``code/``), not a pickle."""
    import zipfile

    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    return any(name.endswith("/constants.pkl") for name in names) or any("/code/" in name for name in names)


def unwrap_state_dict(obj, path: str) -> LoadedWeights:
    """A LAVIS/open_clip-layout CLIP state dict out of whatever a checkpoint file holds.

    Accepts a bare state dict, ``{"state_dict": ...}`` (open_clip), ``{"model": ...}`` (LAVIS
    runner; an ``ahnpl_clip`` one has ``clip.``-prefixed keys), ``module.`` prefixes (DDP).
    """
    origin = "state dict"
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj, origin = obj["model"], "LAVIS checkpoint"
    elif isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj, origin = obj["state_dict"], "open_clip checkpoint"
    if not isinstance(obj, dict) or not obj or not all(isinstance(k, str) for k in obj):
        raise PretrainedWeightsError(f"{path}: not a state dict (a dict of parameter names to tensors)")
    state = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in obj.items()}
    quick_gelu = None
    if any(k.startswith(CLIP_PREFIX) for k in state):
        origin = "ahnpl_clip checkpoint"
        if QUICK_GELU_KEY in state:
            quick_gelu = bool(torch.as_tensor(state[QUICK_GELU_KEY]).item())
        state = {k[len(CLIP_PREFIX):]: v for k, v in state.items() if k.startswith(CLIP_PREFIX)}
    if any(k in state for k in OPENAI_MARKERS):
        origin, quick_gelu = "OpenAI state dict", True
        state = {k: v for k, v in state.items() if k not in OPENAI_MARKERS}
    return LoadedWeights(state, quick_gelu, origin)


def read_weights(path: str) -> LoadedWeights:
    """Load the weights file ``path`` (TorchScript archive or any state-dict checkpoint)."""
    if not os.path.isfile(path):
        raise PretrainedWeightsError(f"model.pretrained: file not found: {path}. {PRETRAINED_OPTIONS}.")
    if _is_torchscript_archive(path):
        # As LAVIS's load_openai_model reads an archive: jit.load, then its state_dict().
        state = torch.jit.load(path, map_location="cpu").state_dict()
        state = {k: v for k, v in state.items() if k not in OPENAI_MARKERS}
        return LoadedWeights(state, True, "OpenAI TorchScript archive")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # pickle/zip errors of all kinds
        raise PretrainedWeightsError(f"{path}: cannot be read as a torch checkpoint ({type(exc).__name__}: {exc})") from None
    if isinstance(obj, torch.nn.Module):  # torch.load hands TorchScript archives on to jit.load
        state = {k: v for k, v in obj.state_dict().items() if k not in OPENAI_MARKERS}
        return LoadedWeights(state, True, "OpenAI TorchScript archive")
    return unwrap_state_dict(obj, path)


# ----------------------------------------------------------------------------- building


def new_clip(model_type: str, quick_gelu: bool):
    """A randomly initialised LAVIS ``CLIP`` of ``model_type`` (on the current default device)."""
    from lavis.models.clip_models.model import CLIP

    return CLIP(**architecture(model_type), quick_gelu=quick_gelu)


@lru_cache(maxsize=None)
def expected_shapes(model_type: str) -> dict[str, tuple[int, ...]]:
    """Parameter/buffer shapes of ``model_type``'s CLIP state dict (built on the meta device)."""
    with torch.device("meta"):
        clip = new_clip(model_type, quick_gelu=False)
    return {k: tuple(v.shape) for k, v in clip.state_dict().items()}


def shape_mismatches(state_dict: dict, model_type: str) -> list[str]:
    """Human-readable differences between ``state_dict`` and ``model_type``'s CLIP (empty = fits)."""
    expected = expected_shapes(model_type)
    problems = [f"missing {k}" for k in expected if k not in state_dict]
    problems += [f"unexpected {k}" for k in state_dict if k not in expected]
    problems += [
        f"{k}: {tuple(v.shape)} in file, {expected[k]} in {model_type}"
        for k, v in state_dict.items()
        if k in expected and tuple(v.shape) != expected[k]
    ]
    return problems


def matching_model_types(state_dict: dict) -> list[str]:
    """The model types whose architecture ``state_dict`` fits exactly."""
    return [t for t in MODEL_TYPES if not shape_mismatches(state_dict, t)]


def check_fits(weights: LoadedWeights, model_type: str, path: str) -> None:
    """PretrainedWeightsError when ``weights`` do not fit ``model_type``, naming what differs."""
    problems = shape_mismatches(weights.state_dict, model_type)
    if problems:
        fits = matching_model_types(weights.state_dict)
        hint = f"; the file fits model_type {', '.join(fits)}" if fits else ""
        shown = "; ".join(problems[:5]) + (f"; ... ({len(problems)} differences)" if len(problems) > 5 else "")
        raise PretrainedWeightsError(f"{path} ({weights.origin}) does not fit model_type {model_type!r}: {shown}{hint}")


def resolve_quick_gelu(configured: bool, decided_by_file: bool | None, source: str) -> bool:
    """The activation to build with: the file's verdict when it has one, else the config's."""
    if decided_by_file is None or decided_by_file == configured:
        return configured
    log.warning(
        "model.quick_gelu=%s overridden: %s ran with %s", configured, source, "QuickGELU" if decided_by_file else "GELU"
    )
    return decided_by_file


def weights_for(model_type: str, pretrained: str, cache_dir: str | None = None) -> tuple[LoadedWeights | None, str]:
    """Locate and read ``model.pretrained`` (None for random init) and a description of the source."""
    if pretrained is None or str(pretrained).strip() == "":
        return None, "random initialisation"
    pretrained = str(pretrained)
    if pretrained.lower() == "openai":
        path = openai_archive(model_type, cache_dir)
        weights = read_weights(path)
        weights.quick_gelu = True
        return weights, f"OpenAI weights {path}"
    path = os.path.expanduser(pretrained)
    if not os.path.isfile(path):
        raise PretrainedWeightsError(f"model.pretrained: file not found: {path}. {PRETRAINED_OPTIONS}.")
    return read_weights(path), path


def check_pretrained_available(model_type: str, pretrained: str, cache_dir: str | None = None) -> None:
    """Cheap early check (before data loading): the weights file exists or can be fetched."""
    if pretrained is None or str(pretrained).strip() == "":
        return
    if str(pretrained).lower() == "openai":
        openai_archive(model_type, cache_dir)
        return
    path = os.path.expanduser(str(pretrained))
    if not os.path.isfile(path):
        raise PretrainedWeightsError(f"model.pretrained: file not found: {path}. {PRETRAINED_OPTIONS}.")


def build_clip(model_type: str, pretrained: str, quick_gelu: bool, cache_dir: str | None = None):
    """``(clip, quick_gelu_used, source)``: LAVIS ``CLIP`` of ``model_type`` with ``pretrained`` weights.

    Float32, on CPU (or the current default device), in training mode.
    """
    weights, source = weights_for(model_type, pretrained, cache_dir)
    if weights is None:
        return new_clip(model_type, quick_gelu), quick_gelu, source
    check_fits(weights, model_type, source)
    used = resolve_quick_gelu(quick_gelu, weights.quick_gelu, f"{weights.origin} {source}")
    clip = new_clip(model_type, used)
    clip.load_state_dict(weights.state_dict, strict=True)  # copies (and upcasts fp16) into float32
    return clip, used, source
