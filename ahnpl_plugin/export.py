"""Export a fine-tuned ``ahnpl_clip`` checkpoint as an open_clip state dict.

    python -m ahnpl_plugin.export --checkpoint output/.../checkpoint_best.pth --format open_clip OUT.pt

Input: a LAVIS runner checkpoint (``{"model": state dict, "config": {...}}``) or a bare
``ahnpl_clip`` state dict. Output: ``OUT.pt``, the CLIP weights under open_clip's (= LAVIS's
``CLIP``'s) parameter names, and ``<name>.json`` next to it, the architecture under the open_clip
model name printed, e.g. ``ViT-B-32-quickgelu`` for an OpenAI-initialised ViT-B-32: the
``-quickgelu`` suffix selects the activation the weights were trained with, which open_clip-based
evaluation tools get wrong by default (``ViT-B-32`` there means nn.GELU). Load with
``open_clip.create_model(name, pretrained="OUT.pt")`` (register the JSON first with
``open_clip.add_model_config`` for ``tiny``, or with LAVIS's ``add_model_config``).

WiSE-FT: ``--wise ALPHA`` exports ``ALPHA * fine-tuned + (1 - ALPHA) * start`` instead, the start
rebuilt from the checkpoint's own record and hash-checked (:mod:`ahnpl_plugin.wise`; ``--start``
only if the recorded file moved). ``--format ahnpl_clip`` writes a plain ``ahnpl_clip`` checkpoint
for ``run.checkpoint`` / ``model.finetuned`` evaluation instead of open_clip weights. A LoRA run's
adapters are merged into the weights in every format.

The activation comes from the checkpoint itself (``ahnpl_clip`` records it in its state dict); the
model type from the checkpoint's config, else ``--model-type``, else the one architecture the
weights fit.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass

import torch

from ahnpl_plugin.errors import UserError

FORMATS = ("open_clip", "ahnpl_clip")


@dataclass
class ExportResult:
    """What :func:`export_open_clip` wrote."""

    model_name: str  # open_clip / LAVIS architecture name to load the weights with
    model_type: str  # ahnpl_clip model type
    quick_gelu: bool
    state_dict_path: str
    config_path: str  # <model_name>.json next to the state dict


def open_clip_model_name(model_type: str, quick_gelu: bool) -> str:
    """open_clip's name for the architecture + activation (``ViT-B-32-quickgelu``, ``RN50``, ...)."""
    base = "ahnpl-clip-tiny" if model_type == "tiny" else model_type
    return f"{base}-quickgelu" if quick_gelu else base


def _read_checkpoint(path: str):
    """``(state_dict, model_config)`` of a runner checkpoint or bare state dict."""
    if not os.path.isfile(path):
        raise UserError(f"--checkpoint: file not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise UserError(f"--checkpoint {path}: cannot be read as a torch checkpoint ({type(exc).__name__}: {exc})") from None
    config = {}
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        config = (obj.get("config") or {}).get("model") or {}
        obj = obj["model"]
    if not isinstance(obj, dict) or not obj or not all(torch.is_tensor(v) for v in obj.values()):
        raise UserError(f"--checkpoint {path}: not a state dict nor a LAVIS checkpoint with a 'model' state dict")
    from ahnpl_plugin.models.lora import merge_state_dict

    state = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in obj.items()}
    state = {k: v for k, v in merge_state_dict(state).items() if not k.startswith("reference.")}
    return state, dict(config)


def _quick_gelu(state: dict, config: dict, model_type: str, requested: bool | None, path: str) -> bool:
    """Activation of the exported weights: the checkpoint's record, else the flag, else defaults."""
    from ahnpl_plugin.models.architectures import OPENAI_TYPES
    from ahnpl_plugin.models.clip_loading import QUICK_GELU_KEY

    if QUICK_GELU_KEY in state:
        recorded = bool(int(state[QUICK_GELU_KEY]))
        if requested is not None and requested != recorded:
            raise UserError(
                f"{path} was trained with {'QuickGELU' if recorded else 'GELU'}; "
                f"--{'no-' if not requested else ''}quick-gelu contradicts it (leave the flag out)"
            )
        return recorded
    if requested is not None:
        return requested
    if isinstance(config.get("quick_gelu"), bool):
        value = config["quick_gelu"] or str(config.get("pretrained", "")).lower() == "openai"
    else:
        value = model_type in OPENAI_TYPES
    print(
        f"note: {path} does not record its activation; assuming {'QuickGELU' if value else 'GELU'} "
        "(pass --quick-gelu or --no-quick-gelu to decide)",
        file=sys.stderr,
    )
    return value


def export_open_clip(
    checkpoint: str, out: str, model_type: str | None = None, quick_gelu: bool | None = None,
    wise: float | None = None, start: str | None = None,
) -> ExportResult:
    """Write ``out`` (open_clip state dict) and ``<model name>.json`` beside it; see the module doc."""
    from ahnpl_plugin.models.architectures import MODEL_TYPES, architecture
    from ahnpl_plugin.models.clip_loading import CLIP_PREFIX, matching_model_types, shape_mismatches

    state, config = _read_checkpoint(checkpoint)
    if wise is not None:
        from ahnpl_plugin.wise import wise_checkpoint

        state = wise_checkpoint(checkpoint, wise, start)["model"]
    if any(k.startswith(CLIP_PREFIX) for k in state):
        clip_state = {k[len(CLIP_PREFIX):]: v for k, v in state.items() if k.startswith(CLIP_PREFIX)}
    else:  # already CLIP-layout (e.g. a previous export)
        clip_state = {k: v for k, v in state.items() if not k.startswith("loss.") and k != "quick_gelu"}
    configured = config.get("model_type")
    if model_type and configured and model_type != configured:
        raise UserError(f"--model-type {model_type} contradicts the checkpoint's model_type {configured}")
    model_type = model_type or configured
    if model_type is None:
        fits = matching_model_types(clip_state)
        if len(fits) != 1:
            raise UserError(
                f"{checkpoint}: cannot tell the model type (weights fit: {', '.join(fits) or 'none of ' + ', '.join(MODEL_TYPES)}); "
                "pass --model-type"
            )
        model_type = fits[0]
    if model_type not in MODEL_TYPES:
        raise UserError(f"unknown model type {model_type!r}; valid: {', '.join(MODEL_TYPES)}")
    problems = shape_mismatches(clip_state, model_type)
    if problems:
        raise UserError(f"{checkpoint}: weights do not fit model type {model_type}: {'; '.join(problems[:5])}")
    activation = _quick_gelu(state, config, model_type, quick_gelu, checkpoint)
    name = open_clip_model_name(model_type, activation)
    out_dir = os.path.dirname(os.path.abspath(out))
    os.makedirs(out_dir, exist_ok=True)
    torch.save({k: v.detach().to(torch.float32).contiguous().clone() for k, v in clip_state.items()}, out)
    config_file = os.path.join(out_dir, f"{name}.json")
    with open(config_file, "w") as handle:
        json.dump({**architecture(model_type), "quick_gelu": activation}, handle, indent=2)
    return ExportResult(name, model_type, activation, os.path.abspath(out), config_file)


def _export_ahnpl_clip(args) -> int:
    """``--format ahnpl_clip``: a plain checkpoint (LoRA merged, WiSE-mixed with --wise) for evaluation."""
    from ahnpl_plugin.wise import wise_checkpoint

    if args.wise is None:
        raise UserError("--format ahnpl_clip is for WiSE-FT checkpoints: give --wise ALPHA (1 = the fine-tuned weights, merged)")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.save(wise_checkpoint(args.checkpoint, args.wise, args.start), args.out)
    print(f"ahnpl_clip checkpoint (WiSE alpha {args.wise:g}): {os.path.abspath(args.out)}")
    print(f"evaluate: python -m ahnpl_plugin.evaluate --cfg-path CONFIG --options run.checkpoint={os.path.abspath(args.out)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m ahnpl_plugin.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="LAVIS runner checkpoint or ahnpl_clip state dict")
    parser.add_argument("--format", choices=FORMATS, default="open_clip", help="output format (default open_clip)")
    parser.add_argument("--model-type", default=None, help="ahnpl_clip model type, when the checkpoint has no config")
    gelu = parser.add_mutually_exclusive_group()
    gelu.add_argument("--quick-gelu", dest="quick_gelu", action="store_true", default=None,
                      help="weights ran QuickGELU (only for state dicts that do not record it)")
    gelu.add_argument("--no-quick-gelu", dest="quick_gelu", action="store_false",
                      help="weights ran nn.GELU (only for state dicts that do not record it)")
    parser.add_argument("--wise", type=float, default=None, metavar="ALPHA",
                        help="export ALPHA * fine-tuned + (1 - ALPHA) * the recorded starting weights (WiSE-FT)")
    parser.add_argument("--start", default=None, help="with --wise: the starting weights file, if the recorded one moved")
    parser.add_argument("out", help="output .pt path")
    args = parser.parse_args(argv)
    try:
        from ahnpl_plugin import compat

        compat.apply()
        if args.format == "ahnpl_clip":
            return _export_ahnpl_clip(args)
        result = export_open_clip(args.checkpoint, args.out, args.model_type, args.quick_gelu, args.wise, args.start)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"open_clip model name: {result.model_name}")
    print(f"state dict: {result.state_dict_path}")
    print(f"model config: {result.config_path}")
    print(f'load: open_clip.create_model("{result.model_name}", pretrained="{result.state_dict_path}")')
    return 0


if __name__ == "__main__":
    sys.exit(main())
