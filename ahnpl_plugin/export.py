"""Export a fine-tuned ``ahnpl_clip`` checkpoint as an open_clip or Hugging Face model.

    python -m ahnpl_plugin.export --checkpoint output/.../checkpoint_best.pth --format open_clip OUT.pt
    python -m ahnpl_plugin.export --checkpoint output/.../checkpoint_best.pth --format open_clip OUT/
    python -m ahnpl_plugin.export --checkpoint output/.../checkpoint_best.pth --format hf OUT/ [--card-info card.yaml]

Input: a LAVIS runner checkpoint (``{"model": state dict, "config": {...}}``) or a bare
``ahnpl_clip`` state dict, read with ``weights_only=True``. Outputs:

* ``--format hf OUT/``: a transformers ``CLIPModel`` folder (config.json with the right
  ``hidden_act``, model.safetensors, CLIPTokenizer and CLIPImageProcessor files written offline,
  README.md model card; see :mod:`ahnpl_plugin.export_hf` and :mod:`ahnpl_plugin.model_card`).
* ``--format open_clip OUT/`` (a folder): open_clip's hub layout, ``open_clip_config.json``
  (``model_cfg`` with ``quick_gelu``, ``preprocess_cfg``) + ``open_clip_model.safetensors`` +
  README.md; loads with ``open_clip.create_model_and_transforms("local-dir:OUT")`` or, uploaded,
  ``"hf-hub:ORG/NAME"``.
* ``--format open_clip OUT.pt`` (a .pt/.pth file, the original export): the CLIP weights under
  open_clip's (= LAVIS's ``CLIP``'s) parameter names, and ``<name>.json`` next to it, the
  architecture under the open_clip model name printed, e.g. ``ViT-B-32-quickgelu`` for an OpenAI-initialised ViT-B-32: the
``-quickgelu`` suffix selects the activation the weights were trained with, which open_clip-based
evaluation tools get wrong by default (``ViT-B-32`` there means nn.GELU). Load with
``open_clip.create_model(name, pretrained="OUT.pt")`` (register the JSON first with
``open_clip.add_model_config`` for ``tiny``, or with LAVIS's ``add_model_config``).

WiSE-FT: ``--wise ALPHA`` exports ``ALPHA * fine-tuned + (1 - ALPHA) * start`` instead, the start
rebuilt from the checkpoint's own record and hash-checked (:mod:`ahnpl_plugin.wise`; ``--start``
only if the recorded file moved), in every format. ``--format ahnpl_clip`` writes a plain
``ahnpl_clip`` checkpoint for ``run.checkpoint`` / ``model.finetuned`` evaluation; ``--format
ahnpl_blip`` the same for an ``ahnpl_blip`` run (the only export of a BLIP checkpoint). A LoRA run's
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

FORMATS = ("open_clip", "hf", "ahnpl_clip", "ahnpl_blip")
LEGACY_SUFFIXES = (".pt", ".pth")  # --format open_clip to a file: state dict + <name>.json


@dataclass
class ExportResult:
    """What :func:`export_open_clip` wrote."""

    model_name: str  # open_clip / LAVIS architecture name to load the weights with
    model_type: str  # ahnpl_clip model type
    quick_gelu: bool
    state_dict_path: str  # the weights file written
    config_path: str  # <model_name>.json next to the state dict; open_clip_config.json / config.json in folders
    files: tuple[str, ...] = ()  # everything written (folders)
    to_fill: tuple[str, ...] = ()  # model-card fields left for the publisher


@dataclass
class ExportSource:
    """What an export reads from a checkpoint."""

    clip_state: dict  # LAVIS/open_clip CLIP names
    model_type: str
    quick_gelu: bool
    run_config: dict  # the run config stored in the checkpoint ({} for bare state dicts)
    provenance: dict  # checkpoint["provenance"] when the runner stored one


def open_clip_model_name(model_type: str, quick_gelu: bool) -> str:
    """open_clip's name for the architecture + activation (``ViT-B-32-quickgelu``, ``RN50``, ...)."""
    base = "ahnpl-clip-tiny" if model_type == "tiny" else model_type
    return f"{base}-quickgelu" if quick_gelu else base


def _read_checkpoint(path: str):
    """``(state_dict, model_config, run_config, provenance)`` of a runner checkpoint or bare state dict."""
    from ahnpl_plugin.errors import PretrainedWeightsError
    from ahnpl_plugin.models.checkpoint_formats import load_pickle, state_dict_of

    if not os.path.isfile(path):
        raise UserError(f"--checkpoint: file not found: {path}")
    try:
        obj = load_pickle(path)
    except PretrainedWeightsError as exc:
        raise UserError(f"--checkpoint {exc}") from None
    run_config, provenance = {}, {}
    state, key = state_dict_of(obj, keys=("model",))
    if key == "model":
        run_config = obj.get("config") if isinstance(obj.get("config"), dict) else {}
        provenance = obj.get("provenance") if isinstance(obj.get("provenance"), dict) else {}
    if (run_config.get("model") or {}).get("arch") == "ahnpl_blip":
        raise UserError(f"--checkpoint {path} is an ahnpl_blip checkpoint: open_clip and hf hold CLIP models; "
                        "--format ahnpl_blip --wise ALPHA writes a BLIP checkpoint")
    if not state or not all(torch.is_tensor(v) for v in state.values()):
        raise UserError(f"--checkpoint {path}: not a state dict nor a LAVIS checkpoint with a 'model' state dict")
    from ahnpl_plugin.models.lora import merge_state_dict

    # LoRA adapters merged; a distillation teacher / L2-SP start ("reference.") is not the model
    state = {k: v for k, v in merge_state_dict(state).items() if not k.startswith("reference.")}
    return state, dict(run_config.get("model") or {}), run_config, provenance


def _quick_gelu(state: dict, config: dict, model_type: str, requested: bool | None, path: str) -> bool:
    """Activation of the exported weights: the checkpoint's record, else the flag, else defaults."""
    from ahnpl_plugin.models.clip.architectures import OPENAI_TYPES
    from ahnpl_plugin.models.clip.weights import QUICK_GELU_KEY

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


def read_export_source(
    checkpoint: str, model_type: str | None = None, quick_gelu: bool | None = None,
    wise: float | None = None, start: str | None = None,
) -> ExportSource:
    """The CLIP weights, type, activation and records of ``checkpoint`` (UserError when unclear);
    with ``wise``, the WiSE-FT mix with the recorded starting weights."""
    from ahnpl_plugin.models.clip.architectures import MODEL_TYPES
    from ahnpl_plugin.models.clip.weights import CLIP_PREFIX, matching_model_types, shape_mismatches

    state, config, run_config, provenance = _read_checkpoint(checkpoint)
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
    clip_state = {k: v.detach().to(torch.float32).contiguous().clone() for k, v in clip_state.items()}
    return ExportSource(clip_state, model_type, activation, run_config, provenance)


def _write_card(out_dir: str, source: ExportSource, name: str, formats: str, card_info: str | None) -> tuple[str, ...]:
    """README.md model card in ``out_dir``; returns the fields left to fill in."""
    from ahnpl_plugin.errors import CardInfoError
    from ahnpl_plugin.model_card import missing_fields, model_card, read_card_info

    try:
        info = read_card_info(card_info)
    except (CardInfoError, OSError, ValueError) as exc:
        raise UserError(f"--card-info: {exc}") from None
    card = model_card(model_name=name, model_type=source.model_type, act="quick_gelu" if source.quick_gelu else "gelu",
                      run_config=source.run_config, provenance=source.provenance, info=info, formats=formats)
    with open(os.path.join(out_dir, "README.md"), "w", encoding="utf-8") as handle:
        handle.write(card)
    return tuple(missing_fields(card))


def _check_out_dir(out: str) -> str:
    out_dir = os.path.abspath(out)
    if os.path.isfile(out_dir) or (os.path.isdir(out_dir) and os.listdir(out_dir)):
        raise UserError(f"{out}: the output folder must be new or empty")
    os.makedirs(out_dir, exist_ok=True)
    return out_dir


def export_open_clip_hub(source: ExportSource, out: str, card_info: str | None = None) -> ExportResult:
    """open_clip's hub layout in folder ``out``: open_clip_config.json + open_clip_model.safetensors + README.md."""
    from safetensors.torch import save_file

    from ahnpl_plugin.export_hf import OPENAI_MEAN, OPENAI_STD
    from ahnpl_plugin.models.clip.architectures import architecture

    out_dir = _check_out_dir(out)
    name = open_clip_model_name(source.model_type, source.quick_gelu)
    act = "quick_gelu" if source.quick_gelu else "gelu"
    weights = os.path.join(out_dir, "open_clip_model.safetensors")
    save_file(source.clip_state, weights, metadata={"act": act, "model_type": source.model_type, "format": "pt"})
    config = {
        "model_cfg": {**architecture(source.model_type), "quick_gelu": source.quick_gelu},
        "preprocess_cfg": {"mean": list(OPENAI_MEAN), "std": list(OPENAI_STD), "interpolation": "bicubic",
                           "resize_mode": "shortest"},
    }
    config_path = os.path.join(out_dir, "open_clip_config.json")
    with open(config_path, "w") as handle:
        json.dump(config, handle, indent=2)
    to_fill = _write_card(out_dir, source, name, "open_clip hub layout (open_clip_config.json + open_clip_model.safetensors)",
                          card_info)
    return ExportResult(name, source.model_type, source.quick_gelu, weights, config_path,
                        tuple(sorted(os.listdir(out_dir))), to_fill)


def export_hf(
    checkpoint: str, out: str, model_type: str | None = None, quick_gelu: bool | None = None, card_info: str | None = None,
    wise: float | None = None, start: str | None = None,
) -> ExportResult:
    """A transformers ``CLIPModel`` folder in ``out`` (see :mod:`ahnpl_plugin.export_hf`) + README.md."""
    from ahnpl_plugin.export_hf import write_hf_folder
    from ahnpl_plugin.models.clip.architectures import architecture
    from ahnpl_plugin.errors import LayoutError

    source = read_export_source(checkpoint, model_type, quick_gelu, wise, start)
    out_dir = _check_out_dir(out)
    try:
        write_hf_folder(out_dir, source.clip_state, architecture(source.model_type), source.quick_gelu)
    except LayoutError as exc:
        raise UserError(f"--format hf: {source.model_type}: {exc}") from None
    name = f"ahnpl-clip-{source.model_type.lower()}"
    to_fill = _write_card(out_dir, source, name, "transformers CLIPModel (config.json + model.safetensors, "
                          "CLIPTokenizer, CLIPImageProcessor)", card_info)
    return ExportResult(name, source.model_type, source.quick_gelu, os.path.join(out_dir, "model.safetensors"),
                        os.path.join(out_dir, "config.json"), tuple(sorted(os.listdir(out_dir))), to_fill)


def export_open_clip(
    checkpoint: str, out: str, model_type: str | None = None, quick_gelu: bool | None = None, card_info: str | None = None,
    wise: float | None = None, start: str | None = None,
) -> ExportResult:
    """``out`` ending in .pt/.pth: state dict + ``<model name>.json`` beside it; else the hub-layout
    folder of :func:`export_open_clip_hub`. See the module docstring."""
    from ahnpl_plugin.models.clip.architectures import architecture

    source = read_export_source(checkpoint, model_type, quick_gelu, wise, start)
    if not out.endswith(LEGACY_SUFFIXES):
        return export_open_clip_hub(source, out, card_info)
    name = open_clip_model_name(source.model_type, source.quick_gelu)
    out_dir = os.path.dirname(os.path.abspath(out))
    os.makedirs(out_dir, exist_ok=True)
    torch.save(source.clip_state, out)
    config_file = os.path.join(out_dir, f"{name}.json")
    with open(config_file, "w") as handle:
        json.dump({**architecture(source.model_type), "quick_gelu": source.quick_gelu}, handle, indent=2)
    return ExportResult(name, source.model_type, source.quick_gelu, os.path.abspath(out), config_file)


def _export_ahnpl_clip(args) -> int:
    """``--format ahnpl_clip`` / ``ahnpl_blip``: a plain checkpoint of that model (LoRA merged,
    WiSE-mixed with --wise) for evaluation."""
    from ahnpl_plugin.wise import wise_checkpoint

    if args.wise is None:
        raise UserError(f"--format {args.format} is for WiSE-FT checkpoints: give --wise ALPHA (1 = the fine-tuned weights, merged)")
    mixed = wise_checkpoint(args.checkpoint, args.wise, args.start)
    arch = (mixed["start_weights"] or {}).get("arch", "ahnpl_clip")
    if arch != args.format:
        raise UserError(f"{args.checkpoint} is an {arch} checkpoint: use --format {arch}")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.save(mixed, args.out)
    print(f"{arch} checkpoint (WiSE alpha {args.wise:g}): {os.path.abspath(args.out)}")
    print(f"evaluate: python -m ahnpl_plugin.evaluate --cfg-path CONFIG --options run.checkpoint={os.path.abspath(args.out)}")
    return 0


def open_clip_snippet(result: ExportResult) -> str:
    """Python lines that load a ``.pt`` export in open_clip, complete: the architecture JSON is
    registered first (open_clip does not know ``ahnpl-clip-tiny``; for the OpenAI types the JSON is
    the same architecture under the same name), then model, preprocessing and tokenizer."""
    return "\n".join([
        "import open_clip",
        f"open_clip.add_model_config({result.config_path!r})",
        f"model, _, preprocess = open_clip.create_model_and_transforms({result.model_name!r}, "
        f"pretrained={result.state_dict_path!r})",
        f"tokenizer = open_clip.get_tokenizer({result.model_name!r})",
    ])


def build_parser() -> argparse.ArgumentParser:
    from ahnpl_plugin.cli_text import plain

    parser = argparse.ArgumentParser(prog="python -m ahnpl_plugin.export", description=plain(__doc__.split("\n\n")[0]))
    parser.add_argument("--checkpoint", required=True, help="LAVIS runner checkpoint or ahnpl_clip state dict")
    parser.add_argument("--format", choices=FORMATS, default="open_clip", help="output format (default open_clip)")
    parser.add_argument("--model-type", default=None, help="ahnpl_clip model type, when the checkpoint has no config")
    parser.add_argument("--card-info", default=None,
                        help="YAML with the model card's licence, datasets, negatives, compute, contamination, results "
                             "(see ahnpl_plugin/model_card.py); fields not given are marked TO FILL IN")
    gelu = parser.add_mutually_exclusive_group()
    gelu.add_argument("--quick-gelu", dest="quick_gelu", action="store_true", default=None,
                      help="weights ran QuickGELU (only for state dicts that do not record it)")
    gelu.add_argument("--no-quick-gelu", dest="quick_gelu", action="store_false",
                      help="weights ran nn.GELU (only for state dicts that do not record it)")
    parser.add_argument("--wise", type=float, default=None, metavar="ALPHA",
                        help="export ALPHA * fine-tuned + (1 - ALPHA) * the recorded starting weights (WiSE-FT)")
    parser.add_argument("--start", default=None, help="with --wise: the starting weights file, if the recorded one moved")
    parser.add_argument("out", help="output: OUT/ folder (hf, open_clip hub layout), OUT.pt (open_clip state dict), "
                                    "or the checkpoint file (ahnpl_clip, ahnpl_blip)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        from ahnpl_plugin import compat

        compat.apply()
        if args.format in ("ahnpl_clip", "ahnpl_blip"):
            return _export_ahnpl_clip(args)
        export = export_hf if args.format == "hf" else export_open_clip
        result = export(args.checkpoint, args.out, args.model_type, args.quick_gelu, args.card_info, args.wise, args.start)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    act = "QuickGELU" if result.quick_gelu else "GELU"
    if args.format == "hf":
        print(f"HF CLIPModel folder: {os.path.dirname(result.config_path)} ({result.model_type}, hidden_act {act})")
        print(f"files: {', '.join(result.files)}")
        print(f'load: CLIPModel.from_pretrained("{os.path.dirname(result.config_path)}"); '
              f'CLIPProcessor.from_pretrained(same, use_fast=False)')
    elif result.files:
        print(f"open_clip model name: {result.model_name}")
        print(f"open_clip hub folder: {os.path.dirname(result.config_path)} ({act})")
        print(f"files: {', '.join(result.files)}")
        print(f'load: open_clip.create_model_and_transforms("local-dir:{os.path.dirname(result.config_path)}")')
    else:
        print(f"open_clip model name: {result.model_name}")
        print(f"state dict: {result.state_dict_path}")
        print(f"model config: {result.config_path}")
        print("load (complete Python; the model config must be registered before create_model):")
        print(open_clip_snippet(result))
    for item in result.to_fill:
        print(f"model card: TO FILL IN before publishing: {item}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
