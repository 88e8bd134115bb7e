"""Recognise and read every published CLIP checkpoint format into LAVIS/open_clip ``CLIP`` names.

One entry point, :func:`read_checkpoint(path, trust_code)`, returns :class:`LoadedWeights`: the
state dict under LAVIS's (= open_clip's = OpenAI's) parameter names, the activation the file
states (``quick_gelu``: True/False, or None when the file carries no such metadata), and where
that came from. Formats, checked in this order:

=======================  ==========================================================  ==================
format                   how it is recognised                                        activation from
=======================  ==========================================================  ==================
``open_clip_hub``        folder with ``open_clip_config.json`` + ``open_clip_model     ``model_cfg.quick_gelu``
                         .safetensors`` (or ``open_clip_pytorch_model.bin``)          (absent: GELU, as open_clip)
``hf_clip``              folder with ``config.json`` (``model_type: clip``) +          ``hidden_act``
                         ``model.safetensors`` / ``pytorch_model.bin`` (or sharded)
``openai_torchscript``   zip with TorchScript ``code/`` (OpenAI's ``ViT-B-32.pt``)     always QuickGELU
``openai_state_dict``    state dict with OpenAI's ``input_resolution``/                always QuickGELU
                         ``context_length``/``vocab_size`` entries
``ahnpl_checkpoint``     ``clip.``-prefixed keys (runner file ``{"model": ...}`` or    its ``quick_gelu`` entry
                         bare ``ahnpl_clip`` state dict)
``safetensors``          a ``.safetensors`` file; our exports store                    header metadata ``act``
                         ``{"act": ...}`` in its header
``open_clip_state_dict`` any other state dict (bare, ``{"state_dict": ...}``,           none: ``model.act``
                         ``module.`` prefixes; HF names converted)                     is required
=======================  ==========================================================  ==================

Every checkpoint file of the package is opened here (:func:`load_pickle`, :func:`load_tensor_file`)
and unwrapped here (:func:`state_dict_of`: ``{"model": ...}``, ``{"state_dict": ...}`` or bare, with
DDP's ``module.`` prefix removed): CLIP (this module), BLIP (:mod:`ahnpl_plugin.models.blip.weights`),
the runner's resume, export and WiSE-FT all call them.

Security: pickles are read with ``torch.load(weights_only=True)`` (tensors and plain containers
only, no code runs). A TorchScript archive runs its stored code when loaded, so it is opened only
when its SHA-256 is one of OpenAI's releases (:mod:`trusted_archives`) or ``trust_code`` is set;
``trust_code`` also allows pickles that need arbitrary classes (``weights_only=False``).
"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass, field

import torch

from ahnpl_plugin.errors import LayoutError, PretrainedWeightsError
from ahnpl_plugin.models.clip.hf_layout import (
    HF_MARKER,
    architecture_from_hf,
    hf_act,
    hf_to_open_clip,
    is_hf_layout,
)
from ahnpl_plugin.models.clip.trusted_archives import file_sha256, trusted_archive_name

OPENAI_MARKERS = ("input_resolution", "context_length", "vocab_size")
QUICK_GELU_KEY = "quick_gelu"  # state-dict entry recording an ahnpl_clip checkpoint's activation
CLIP_PREFIX = "clip."  # ahnpl_clip keeps LAVIS's CLIP as submodule ``clip``
ACTS = {"quick_gelu": True, "gelu": False}  # model.act values -> quick_gelu
SAFETENSORS_ACT_KEY = "act"  # header metadata our exports write
OPEN_CLIP_HUB_CONFIG = "open_clip_config.json"
OPEN_CLIP_HUB_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
HF_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
HF_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")

FORMATS_HELP = (
    "model.pretrained accepts: 'openai', an OpenAI TorchScript archive (ViT-B-32.pt), an OpenAI or open_clip "
    "state dict (.pt/.pth/.bin/.safetensors; open_clip's need model.act: quick_gelu | gelu), an open_clip hub "
    "folder (open_clip_config.json + open_clip_model.safetensors), a Hugging Face CLIPModel folder "
    "(config.json + model.safetensors), an ahnpl_clip checkpoint, or '' for random initialisation"
)


@dataclass
class LoadedWeights:
    """A state dict in open_clip/LAVIS ``CLIP`` layout, and what its file says about activation."""

    state_dict: dict
    quick_gelu: bool | None  # True/False when the file decides it, None when model.act must
    origin: str  # for messages: "OpenAI TorchScript archive", "HF CLIPModel folder", ...
    format: str = "open_clip_state_dict"  # one of the ids in the module table
    act_source: str = ""  # where the file's activation came from ("config.json hidden_act", ...)
    details: dict = field(default_factory=dict)  # recorded with the model (sha256 of archives, ...)


MODULE_PREFIX = "module."  # DistributedDataParallel's wrapper adds it to every name
STATE_DICT_KEYS = {"model": "LAVIS checkpoint", "state_dict": "open_clip training checkpoint"}


def strip_module_prefix(state: dict) -> dict:
    """``state`` with DDP's ``module.`` prefix removed from the names that have it."""
    return {(k[len(MODULE_PREFIX):] if k.startswith(MODULE_PREFIX) else k): v for k, v in state.items()}


def state_dict_of(obj, keys=tuple(STATE_DICT_KEYS)) -> tuple[dict | None, str | None]:
    """``(state dict, the key it was under)`` of a loaded checkpoint: ``obj[key]`` for the first of
    ``keys`` that holds a dict (``"model"``: LAVIS/our runner, ``"state_dict"``: open_clip training),
    else ``obj`` itself (key None); ``module.`` prefixes removed. ``(None, None)`` when that is not a
    dict with string keys."""
    key = next((k for k in keys if isinstance(obj, dict) and isinstance(obj.get(k), dict)), None)
    state = obj[key] if key is not None else obj
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        return None, None
    return strip_module_prefix(state), key


# ----------------------------------------------------------------------------- file readers


def _numpy_data_globals() -> list:
    """numpy's scalar/array/dtype reconstructors: data only (training checkpoints often hold a numpy
    float or array next to the weights), allowed under ``weights_only=True``."""
    import numpy as np

    core = getattr(np, "_core", None) or np.core
    found = [core.multiarray.scalar, core.multiarray._reconstruct, np.ndarray, np.dtype]
    found += [getattr(np.dtypes, name) for name in dir(getattr(np, "dtypes", object)) if name.endswith("DType")]
    return found


TRUST_CODE_FIX = "Re-save its state dict, or set model.trust_code: true if you trust the file"


def load_pickle(path, trust_code: bool = False, map_location="cpu", mmap: bool = False,
                error: type[Exception] = PretrainedWeightsError, fix: str = TRUST_CODE_FIX):
    """``torch.load`` of ``path``: tensors, plain containers and numpy data only, unless ``trust_code``.

    A file that needs other classes is an ``error`` saying so, then ``fix``; any other read problem
    (truncated, not a torch file) an ``error`` naming the file."""
    try:
        if trust_code:
            return torch.load(path, map_location=map_location, weights_only=False, mmap=mmap)
        with torch.serialization.safe_globals(_numpy_data_globals()):
            return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as exc:  # pickle/zip errors of all kinds
        blocked = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        if blocked and not trust_code:
            raise error(
                f"{path}: holds Python objects besides tensors ({blocked.group(1)}); unpickling them could run code "
                f"from the file. {fix}"
            ) from None
        raise error(f"{path}: cannot be read as a torch checkpoint ({type(exc).__name__})") from None


def load_safetensors(path: str) -> tuple[dict, dict]:
    """``(tensors, header metadata)`` of a safetensors file."""
    from safetensors import safe_open

    try:
        with safe_open(path, framework="pt", device="cpu") as handle:
            return {k: handle.get_tensor(k) for k in handle.keys()}, dict(handle.metadata() or {})
    except Exception as exc:
        raise PretrainedWeightsError(f"{path}: cannot be read as safetensors ({type(exc).__name__}: {exc})") from None


def load_tensor_file(path: str, trust_code: bool = False) -> tuple[object, dict]:
    """``(loaded object, safetensors metadata or {})`` of a ``.safetensors`` or pickle file."""
    if path.endswith(".safetensors"):
        return load_safetensors(path)
    return load_pickle(path, trust_code), {}


def is_torchscript_archive(path: str) -> bool:
    """True when ``path`` is a TorchScript archive (zip with ``code/`` or ``constants.pkl``)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    return any(name.endswith("/constants.pkl") for name in names) or any("/code/" in name for name in names)


def read_torchscript(path: str, trust_code: bool) -> LoadedWeights:
    """An OpenAI TorchScript archive: allowed by SHA-256 (or ``trust_code``), always QuickGELU."""
    sha = file_sha256(path)
    release = trusted_archive_name(sha)
    if release is None and not trust_code:
        raise PretrainedWeightsError(
            f"{path} is a TorchScript archive with SHA-256 {sha}, which is not one of OpenAI's released CLIP archives; "
            "opening it runs the code stored in it. Set model.trust_code: true if you trust the file"
        )
    state = torch.jit.load(path, map_location="cpu").state_dict()  # as LAVIS's load_openai_model
    state = {k: v for k, v in state.items() if k not in OPENAI_MARKERS}
    origin = f"OpenAI TorchScript archive ({release})" if release else "TorchScript archive (trusted by model.trust_code)"
    return LoadedWeights(state, True, origin, "openai_torchscript", "OpenAI archives run QuickGELU",
                         {"sha256": sha, "allow_list": release or "trust_code"})


def unwrap_state_dict(obj, path: str, metadata: dict | None = None) -> LoadedWeights:
    """A LAVIS/open_clip-layout CLIP state dict out of whatever a checkpoint file holds.

    Accepts a bare state dict, ``{"state_dict": ...}`` (open_clip training checkpoints),
    ``{"model": ...}`` (LAVIS runner; an ``ahnpl_clip`` one has ``clip.``-prefixed keys), ``module.``
    prefixes (DDP), HF ``CLIPModel`` names, and safetensors header metadata ``act``.
    """
    fmt = "open_clip_state_dict"
    state, key = state_dict_of(obj)
    if not state:
        raise PretrainedWeightsError(f"{path}: not a state dict (a dict of parameter names to tensors)")
    origin = STATE_DICT_KEYS.get(key, "open_clip state dict")
    quick_gelu, act_source = None, ""
    if any(k.startswith(CLIP_PREFIX) for k in state):
        origin, fmt = "ahnpl_clip checkpoint", "ahnpl_checkpoint"
        if QUICK_GELU_KEY in state:
            quick_gelu = bool(torch.as_tensor(state[QUICK_GELU_KEY]).item())
            act_source = "the checkpoint's quick_gelu entry"
        state = {k[len(CLIP_PREFIX):]: v for k, v in state.items() if k.startswith(CLIP_PREFIX)}
    if any(k in state for k in OPENAI_MARKERS):
        origin, fmt, quick_gelu, act_source = "OpenAI state dict", "openai_state_dict", True, "OpenAI weights run QuickGELU"
        state = {k: v for k, v in state.items() if k not in OPENAI_MARKERS}
    if is_hf_layout(state):
        try:
            state = hf_to_open_clip(state)
        except LayoutError as exc:
            raise PretrainedWeightsError(f"{path}: {exc}") from None
        origin = "HF CLIPModel state dict (no config.json)"
    act = (metadata or {}).get(SAFETENSORS_ACT_KEY)
    if act is not None:
        if act not in ACTS:
            raise PretrainedWeightsError(f"{path}: safetensors metadata act={act!r} is not one of {' | '.join(ACTS)}")
        quick_gelu, act_source = ACTS[act], "safetensors metadata 'act'"
        fmt = "safetensors" if fmt == "open_clip_state_dict" else fmt
    return LoadedWeights(state, quick_gelu, origin, fmt, act_source)


# ----------------------------------------------------------------------------- folders


def _read_json(path: str) -> dict:
    from ahnpl_plugin.data.jsonio import read_json

    return read_json(path, PretrainedWeightsError)


def _first_existing(folder: str, names) -> str | None:
    return next((os.path.join(folder, n) for n in names if os.path.isfile(os.path.join(folder, n))), None)


def read_open_clip_hub(folder: str, trust_code: bool) -> LoadedWeights:
    """``open_clip_config.json`` + ``open_clip_model.safetensors`` (or ``open_clip_pytorch_model.bin``)."""
    config = _read_json(os.path.join(folder, OPEN_CLIP_HUB_CONFIG))
    model_cfg = config.get("model_cfg")
    if not isinstance(model_cfg, dict):
        raise PretrainedWeightsError(f"{folder}/{OPEN_CLIP_HUB_CONFIG}: no 'model_cfg' mapping")
    weights = _first_existing(folder, OPEN_CLIP_HUB_WEIGHTS)
    if weights is None:
        raise PretrainedWeightsError(f"{folder}: open_clip hub folder without weights ({' or '.join(OPEN_CLIP_HUB_WEIGHTS)})")
    obj, _ = load_tensor_file(weights, trust_code)
    loaded = unwrap_state_dict(obj, weights)
    loaded.quick_gelu = bool(model_cfg.get("quick_gelu", False))  # open_clip's default is nn.GELU
    loaded.origin, loaded.format = f"open_clip hub folder ({os.path.basename(weights)})", "open_clip_hub"
    loaded.act_source = f"{OPEN_CLIP_HUB_CONFIG} model_cfg.quick_gelu" + ("" if "quick_gelu" in model_cfg else " (absent: GELU)")
    loaded.details = {"architecture": {k: model_cfg[k] for k in ("embed_dim", "vision_cfg", "text_cfg") if k in model_cfg}}
    return loaded


def _hf_weights(folder: str, trust_code: bool) -> dict:
    single = _first_existing(folder, HF_WEIGHTS)
    if single:
        obj, _ = load_tensor_file(single, trust_code)
        return obj
    index = _first_existing(folder, HF_INDEXES)
    if index is None:
        raise PretrainedWeightsError(f"{folder}: HF CLIPModel folder without weights ({', '.join(HF_WEIGHTS + HF_INDEXES)})")
    state = {}
    for shard in sorted(set((_read_json(index).get("weight_map") or {}).values())):
        obj, _ = load_tensor_file(os.path.join(folder, shard), trust_code)
        state.update(obj)
    return state


def read_hf_clip(folder: str, trust_code: bool) -> LoadedWeights:
    """A transformers ``CLIPModel`` folder (``save_pretrained`` output); activation from ``hidden_act``."""
    where = os.path.join(folder, "config.json")
    config = _read_json(where)
    if config.get("model_type") != "clip":
        raise PretrainedWeightsError(
            f"{where}: model_type {config.get('model_type')!r}, not a CLIPModel ('clip'); {FORMATS_HELP}"
        )
    state = {k[len("clip_model."):] if k.startswith("clip_model.") else k: v for k, v in _hf_weights(folder, trust_code).items()}
    if HF_MARKER not in state:
        raise PretrainedWeightsError(f"{folder}: the weights are not a CLIPModel's (no {HF_MARKER})")
    try:
        quick_gelu = hf_act(config, where)
        architecture = architecture_from_hf(config)
        state = hf_to_open_clip(state)
    except (LayoutError, KeyError) as exc:
        raise PretrainedWeightsError(f"{folder}: {exc}") from None
    return LoadedWeights(state, quick_gelu, "HF CLIPModel folder", "hf_clip", "config.json hidden_act",
                         {"architecture": architecture})


# ----------------------------------------------------------------------------- entry point


def read_checkpoint(path: str, trust_code: bool = False) -> LoadedWeights:
    """Detect the format of ``path`` (file or folder) and read it; see the module docstring."""
    path = os.path.expanduser(str(path))
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, OPEN_CLIP_HUB_CONFIG)):
            return read_open_clip_hub(path, trust_code)
        if os.path.isfile(os.path.join(path, "config.json")):
            return read_hf_clip(path, trust_code)
        raise PretrainedWeightsError(
            f"{path}: a folder, but neither an open_clip hub folder ({OPEN_CLIP_HUB_CONFIG}) nor a HF CLIPModel folder "
            f"(config.json). {FORMATS_HELP}"
        )
    if not os.path.isfile(path):
        raise PretrainedWeightsError(f"model.pretrained: file not found: {path}. {FORMATS_HELP}.")
    if is_torchscript_archive(path):
        return read_torchscript(path, trust_code)
    obj, metadata = load_tensor_file(path, trust_code)
    if isinstance(obj, torch.nn.Module):  # only reachable with trust_code (a pickled module)
        obj = obj.state_dict()
    return unwrap_state_dict(obj, path, metadata)
