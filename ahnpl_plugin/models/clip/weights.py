"""Build LAVIS's CLIP for an ``ahnpl_clip`` model type from any of its weight sources.

``model.pretrained`` accepts ``openai`` (OpenAI's TorchScript archive for the type, in LAVIS's
cache ``~/.cache/clip``; used offline when the file is there, downloaded otherwise, SHA-256 checked
by LAVIS), ``""`` (random initialisation), or a path to any format of
:mod:`ahnpl_plugin.models.checkpoint_formats` (OpenAI archive or state dict, open_clip state dict
or hub folder, HF ``CLIPModel`` folder, an ``ahnpl_clip`` checkpoint).

Activation (QuickGELU vs nn.GELU; running weights with the other one is a silent accuracy bug,
sugar-crepe #7, open_clip #771): taken from the file wherever it says (OpenAI's weights: always
QuickGELU; HF ``hidden_act``; open_clip ``model_cfg.quick_gelu``; our checkpoints' ``quick_gelu``
entry; our safetensors' ``act``). A plain state dict says nothing, so ``model.act: quick_gelu |
gelu`` is then required and there is no default; an ``act`` that contradicts the file is an error.
``model.quick_gelu`` only decides for random initialisation. The choice and where it came from
are logged and kept in :class:`WeightsProvenance` (``model.weights_provenance``).

At load time: ``model.pretrained_patch: {base: openai | PATH, alpha: 0.6}`` interpolates
(1 - alpha) * base + alpha * pretrained (WiSE-FT; CLoVe's release), and ``model.pretrained_lora:
{path: FILE, scale: null}`` merges LoRA deltas (see :mod:`weight_patching`).

Every loaded state dict is checked against the type's architecture first: a wrong-size file gives
an error naming the mismatching entries instead of a half-loaded model.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import urllib.error
from dataclasses import asdict, dataclass, field
from functools import lru_cache

import torch

from ahnpl_plugin.models.clip.architectures import MODEL_TYPES, OPENAI_TYPES, architecture
from ahnpl_plugin.models.checkpoint_formats import (  # noqa: F401  (re-exported names)
    ACTS,
    CLIP_PREFIX,
    FORMATS_HELP,
    OPENAI_MARKERS,
    QUICK_GELU_KEY,
    LoadedWeights,
    PretrainedWeightsError,
    load_tensor_file,
    read_checkpoint,
    unwrap_state_dict,
)

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_S = 30
PRETRAINED_OPTIONS = FORMATS_HELP


@dataclass
class WeightsProvenance:
    """Where a model's weights came from and which activation it runs, recorded with results."""

    pretrained: str  # model.pretrained as given ("" = random init)
    source: str  # the resolved file/folder, or "random initialisation"
    format: str  # checkpoint_formats id, "random", ...
    act: str  # quick_gelu | gelu
    act_source: str  # why: "config.json hidden_act", "model.act", ...
    sha256: str | None = None  # of TorchScript archives
    patch: dict | None = None  # {"base": ..., "alpha": ...}
    lora: dict | None = None  # {"path": ..., "scale": ..., "merged": n}
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        """One line for logs: weights, format, activation and its reason."""
        extra = ""
        if self.patch:
            extra += f", WiSE patch alpha {self.patch['alpha']} with {self.patch['base']}"
        if self.lora:
            extra += f", LoRA {self.lora['path']} merged into {self.lora['merged']} weights"
        act = "QuickGELU" if self.act == "quick_gelu" else "GELU"
        return f"{self.source} [{self.format}]{extra}; activation {act} (from {self.act_source})"


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


def checkpoint_provenance(path: str, quick_gelu: bool, recorded: bool = True) -> dict:
    """``weights_provenance`` of a model whose weights were replaced by an ``ahnpl_clip`` checkpoint
    (``model.finetuned``, the runner's ``run.checkpoint``)."""
    return WeightsProvenance(
        str(path), str(path), "ahnpl_checkpoint", "quick_gelu" if quick_gelu else "gelu",
        "the checkpoint's quick_gelu entry" if recorded else "model.quick_gelu (not recorded in the checkpoint)",
    ).as_dict()


def resolve_act(weights: LoadedWeights, act: str, source: str) -> tuple[bool, str]:
    """``(quick_gelu, reason)``: the file's activation where it states one, else ``model.act``.

    A file without that information and no ``act``, or an ``act`` contradicting the file:
    PretrainedWeightsError (no guessing).
    """
    if act and act not in ACTS:
        raise PretrainedWeightsError(f"model.act must be one of {' | '.join(ACTS)}, got {act!r}")
    if weights.quick_gelu is None:
        if not act:
            raise PretrainedWeightsError(
                f"{source} ({weights.origin}) does not record whether it ran QuickGELU or GELU: set model.act: quick_gelu "
                "(fine-tunes of OpenAI's CLIP: NegCLIP, CE-CLIP, CLoVe, ...) or model.act: gelu (open_clip models trained "
                "with nn.GELU, e.g. LAION ViT-B-32); there is no default, a wrong guess silently changes every score"
            )
        return ACTS[act], "model.act"
    if act and ACTS[act] != weights.quick_gelu:
        stated = "QuickGELU" if weights.quick_gelu else "GELU"
        raise PretrainedWeightsError(
            f"model.act: {act} contradicts {source} ({weights.origin}), which ran {stated} ({weights.act_source}); "
            "remove model.act"
        )
    return weights.quick_gelu, weights.act_source


def weights_for(
    model_type: str, pretrained: str, cache_dir: str | None = None, trust_code: bool = False
) -> tuple[LoadedWeights | None, str]:
    """Locate and read ``model.pretrained`` (None for random init) and the resolved source."""
    if pretrained is None or str(pretrained).strip() == "":
        return None, "random initialisation"
    pretrained = str(pretrained)
    if pretrained.lower() == "openai":
        path = openai_archive(model_type, cache_dir)
        # LAVIS's download checked the SHA-256 in the URL: this is OpenAI's file.
        weights = read_checkpoint(path, trust_code=True)
        weights.quick_gelu, weights.act_source = True, "OpenAI weights run QuickGELU"
        return weights, path
    path = os.path.expanduser(pretrained)
    if not os.path.exists(path):
        raise PretrainedWeightsError(f"model.pretrained: file not found: {path}. {PRETRAINED_OPTIONS}.")
    return read_checkpoint(path, trust_code=trust_code), path


def check_pretrained_available(model_type: str, pretrained: str, cache_dir: str | None = None) -> None:
    """Cheap early check (before data loading): the weights file/folder exists or can be fetched."""
    if pretrained is None or str(pretrained).strip() == "":
        return
    if str(pretrained).lower() == "openai":
        openai_archive(model_type, cache_dir)
        return
    path = os.path.expanduser(str(pretrained))
    if not os.path.exists(path):
        raise PretrainedWeightsError(f"model.pretrained: file not found: {path}. {PRETRAINED_OPTIONS}.")


def _patched(state: dict, quick_gelu: bool, model_type: str, patch: dict, cache_dir, trust_code) -> dict:
    """WiSE patch of ``state`` with ``patch["base"]`` (same architecture and activation required)."""
    from ahnpl_plugin.errors import PatchError
    from ahnpl_plugin.models.weight_patching import wise_patch

    base, base_source = weights_for(model_type, patch["base"], cache_dir, trust_code)
    if base is None:
        raise PretrainedWeightsError("model.pretrained_patch.base is empty: name the zero-shot weights (e.g. openai)")
    check_fits(base, model_type, base_source)
    # The base's own record where it has one; a plain state dict as base runs the fine-tuned weights' activation.
    base_gelu = base.quick_gelu if base.quick_gelu is not None else quick_gelu
    if base_gelu != quick_gelu:
        raise PretrainedWeightsError(
            f"model.pretrained_patch.base {base_source} ran {'QuickGELU' if base_gelu else 'GELU'}, the fine-tuned weights "
            f"{'QuickGELU' if quick_gelu else 'GELU'}: interpolating them would mix activations"
        )
    try:
        return wise_patch(base.state_dict, state, float(patch["alpha"]))
    except PatchError as exc:
        raise PretrainedWeightsError(f"model.pretrained_patch: {exc}") from None


def _lora_merged(state: dict, lora: dict, trust_code: bool) -> tuple[dict, int]:
    """``state`` with the LoRA file ``lora["path"]`` merged (file or PEFT adapter folder)."""
    from ahnpl_plugin.errors import PatchError
    from ahnpl_plugin.models.weight_patching import merge_lora

    path = os.path.expanduser(str(lora["path"]))
    config = None
    if os.path.isdir(path):  # PEFT: adapter_config.json + adapter_model.safetensors / .bin
        from ahnpl_plugin.data.jsonio import read_json

        config = read_json(os.path.join(path, "adapter_config.json"), PretrainedWeightsError)
        names = ("adapter_model.safetensors", "adapter_model.bin")
        path = next((os.path.join(path, n) for n in names if os.path.isfile(os.path.join(path, n))), path)
    if not os.path.isfile(path):
        raise PretrainedWeightsError(f"model.pretrained_lora.path: file not found: {path}")
    tensors, _ = load_tensor_file(path, trust_code)
    try:
        merged, names = merge_lora(state, tensors, lora.get("scale"), config)
    except PatchError as exc:
        raise PretrainedWeightsError(f"model.pretrained_lora {path}: {exc}") from None
    return merged, len(names)


def load_pretrained(
    model_type: str,
    pretrained: str,
    quick_gelu: bool,
    cache_dir: str | None = None,
    *,
    act: str = "",
    patch: dict | None = None,
    lora: dict | None = None,
    trust_code: bool = False,
) -> tuple[dict | None, bool, WeightsProvenance]:
    """``(CLIP state dict or None for random init, quick_gelu, provenance)`` of ``model.pretrained``
    with its patch and LoRA applied; ``quick_gelu`` (the config's) decides only for random init."""
    weights, source = weights_for(model_type, pretrained, cache_dir, trust_code)
    if weights is None:
        if patch or lora:
            raise PretrainedWeightsError("model.pretrained_patch / pretrained_lora need model.pretrained weights")
        used = ACTS[act] if act else quick_gelu
        provenance = WeightsProvenance(str(pretrained or ""), source, "random", "quick_gelu" if used else "gelu",
                                       "model.act" if act else "model.quick_gelu")
        return None, used, provenance
    check_fits(weights, model_type, source)
    used, reason = resolve_act(weights, act, source)
    state = weights.state_dict
    provenance = WeightsProvenance(str(pretrained), source, weights.format, "quick_gelu" if used else "gelu", reason,
                                   weights.details.get("sha256"), details={"origin": weights.origin})
    if patch:
        state = _patched(state, used, model_type, patch, cache_dir, trust_code)
        provenance.patch = {"base": str(patch["base"]), "alpha": float(patch["alpha"])}
    if lora:
        state, count = _lora_merged(state, lora, trust_code)
        provenance.lora = {"path": str(lora["path"]), "scale": lora.get("scale"), "merged": count}
    return state, used, provenance


def build_clip(model_type: str, pretrained: str, quick_gelu: bool, cache_dir: str | None = None, **options):
    """``(clip, quick_gelu_used, provenance)``: LAVIS ``CLIP`` of ``model_type`` with ``pretrained``
    weights (``options``: act, patch, lora, trust_code of :func:`load_pretrained`).

    Float32, on CPU (or the current default device), in training mode.
    """
    state, used, provenance = load_pretrained(model_type, pretrained, quick_gelu, cache_dir, **options)
    clip = new_clip(model_type, used)
    if state is not None:
        clip.load_state_dict(state, strict=True)  # copies (and upcasts fp16) into float32
    log.info("ahnpl_clip %s weights: %s", model_type, provenance.line())
    return clip, used, provenance
