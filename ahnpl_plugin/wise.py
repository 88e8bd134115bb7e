"""WiSE-FT from a checkpoint alone: rebuild its recorded starting weights, check their hash, mix.

    python -m ahnpl_plugin.export --checkpoint RUN/checkpoint_best.pth --wise 0.5 OUT.pt
    python -m ahnpl_plugin.export --checkpoint RUN/checkpoint_best.pth --wise 0.5 --format ahnpl_clip OUT.pth
    python -m ahnpl_plugin.wise --checkpoint RUN/checkpoint_best.pth --alphas 0 0.25 0.5 0.75 1 \\
        --compositional-cfg projects/ahnpl/eval_sugarcrepe.yaml --out wise_sweep/
        # zero-shot side: --zeroshot-cfg, default projects/ahnpl/eval_zeroshot.yaml (ImageNet + ELEVATER)

The checkpoint's ``start_weights`` record (:mod:`ahnpl_plugin.models.start_weights`, written by the
runner) names the starting weights and their hash; they are rebuilt the way the run built them
(``model.pretrained`` = ``openai``, an archive or a state dict, or an earlier checkpoint) and must
hash the same, else a one-line error says so (``--start PATH`` points at a moved file; its hash is
checked too). LoRA adapters are merged first. What is mixed and what is kept: see
:func:`ahnpl_plugin.models.start_weights.interpolate` (towers, projections and ``logit_scale``
mixed; the adaptive thresholds and the activation record kept from the fine-tuned side).

An ``ahnpl_blip`` checkpoint records its start too (``arch: ahnpl_blip``): the start is rebuilt
with the run's own model config and the recorded key (``pretrained`` / ``finetuned``); the whole
model is mixed (online towers, heads, ``temp`` and the momentum encoders), the feature queues,
their pointer and theta come from the fine-tuned side; the output evaluates with
``model.finetuned`` (``load_finetuned: true``) or ``run.checkpoint``.

The ``ahnpl_clip`` output is a plain checkpoint (``{"model", "config", "start_weights", "wise"}``;
no LoRA, no teacher) that evaluates with ``run.checkpoint=OUT.pth`` or ``model.finetuned``.
The sweep evaluates every alpha with ``python -m ahnpl_plugin.evaluate`` on a compositional config
and a zero-shot config, and writes ``wise_sweep.md`` (table), ``wise_sweep.json`` and
``wise_sweep.png`` (compositional score against zero-shot score, one point per alpha; alpha 0 is
the starting model, alpha 1 the fine-tuned one). Use a zero-shot task that fine-tuning data does
not train: never COCO retrieval after COCO fine-tuning (it rises, and would show retention that
is not there).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from ahnpl_plugin.data.jsonio import read_json
from ahnpl_plugin.models.checkpoint_formats import load_pickle, state_dict_of
from ahnpl_plugin.errors import StartWeightsError, UserError
from ahnpl_plugin.models.start_weights import interpolate, state_sha256

CLIP_PREFIX = "clip."


def read_runner_checkpoint(path: str) -> dict:
    """A runner checkpoint as a dict with ``model`` (``module.`` prefixes removed)."""
    if not os.path.isfile(path):
        raise UserError(f"--checkpoint: file not found: {path}")
    obj = load_pickle(path, error=UserError, fix="It is not a checkpoint of this runner")
    state, key = state_dict_of(obj, keys=("model",))
    if key != "model":
        raise UserError(f"{path}: not a runner checkpoint (a dict with 'model'); WiSE needs one that records its start")
    return {**obj, "model": state}


def _blip_start(record: dict, source: str, model_cfg: dict | None) -> dict:
    """An ``ahnpl_blip`` start rebuilt as its run built it: the run's model config (towers, tokenizer;
    retention keys dropped) with the recorded key (``pretrained`` / ``finetuned``) set to ``source``."""
    from omegaconf import OmegaConf

    from ahnpl_plugin import register
    from ahnpl_plugin.models.retention_options import RETENTION_KEYS
    from ahnpl_plugin.models.start_weights import weight_entries

    register()
    from lavis.common.registry import registry

    cls = registry.get_model_class("ahnpl_blip")
    cfg = OmegaConf.to_container(OmegaConf.load(cls.default_config_path(record["model_type"])).model)
    cfg.update({k: v for k, v in (model_cfg or {}).items() if k not in RETENTION_KEYS})
    cfg.update(arch="ahnpl_blip", model_type=record["model_type"])
    if record.get("key") == "finetuned":
        cfg.update(load_finetuned=True, finetuned=source)
    else:
        cfg.update(load_finetuned=False, finetuned="", pretrained=source)
    return weight_entries(cls.from_config(cfg).state_dict())


def start_state(record: dict | None, checkpoint: str, override: str | None = None, model_cfg: dict | None = None) -> dict:
    """The starting state dict of a run, rebuilt and hash-checked: ahnpl_clip's CLIP (no prefix,
    float32), or ahnpl_blip's weights (``weight_entries``; ``model_cfg``: the run's model config)."""
    from ahnpl_plugin.models.clip.weights import build_clip
    from ahnpl_plugin.models.lora import has_lora, merge_state_dict

    if not record:
        raise StartWeightsError(
            f"{checkpoint} records no starting weights (written before they were recorded, or not by ahnpl_runner); "
            "patch it with an explicit base instead"
        )
    source = override or record["source"]
    if not record.get("reproducible", True) and override is None:
        raise StartWeightsError(
            f"{checkpoint} started from a random initialisation (model.pretrained empty): nothing can rebuild it; "
            "pass --start with a file of those weights"
        )
    try:
        if record.get("arch") == "ahnpl_blip":
            state = _blip_start(record, source, model_cfg)
        else:
            act = "quick_gelu" if record["quick_gelu"] else "gelu"  # what the run used: a plain state dict records none
            clip, _, _ = build_clip(record["model_type"], source, bool(record["quick_gelu"]), act=act)
            state = clip.state_dict()
    except Exception as exc:  # missing file, wrong architecture, unreadable archive
        raise StartWeightsError(f"cannot rebuild the starting weights from {source!r}: {exc}") from None
    if has_lora(state):
        state = merge_state_dict(state)
    digest = state_sha256(state)
    if digest != record["sha256"]:
        raise StartWeightsError(
            f"the weights at {source!r} are not the ones {checkpoint} started from (sha256 {digest[:12]}..., "
            f"recorded {record['sha256'][:12]}...); pass --start with the original file"
        )
    return state


def wise_checkpoint(checkpoint: str, alpha: float, start: str | None = None) -> dict:
    """A plain checkpoint of ``alpha * fine-tuned + (1 - alpha) * start`` (``ahnpl_clip`` or
    ``ahnpl_blip``, as the checkpoint; BLIP's queues and thresholds from the fine-tuned side)."""
    from ahnpl_plugin.models.lora import merge_state_dict

    from ahnpl_plugin.models.retention_options import RETENTION_KEYS

    stored = read_runner_checkpoint(checkpoint)
    record = stored.get("start_weights")
    config = json.loads(json.dumps(stored.get("config") or {}, default=str))
    begin = start_state(record, checkpoint, start, config.get("model"))
    state = {k: v for k, v in merge_state_dict(stored["model"]).items() if not k.startswith("reference.")}
    if record.get("arch") == "ahnpl_blip":  # the whole model: towers, heads, temp, momentum encoders
        model = interpolate(begin, state, alpha)
    else:
        tuned = {k[len(CLIP_PREFIX):]: v for k, v in state.items() if k.startswith(CLIP_PREFIX)}
        mixed = interpolate(begin, tuned, alpha)
        model = {k: v for k, v in state.items() if not k.startswith(CLIP_PREFIX)}
        model.update({CLIP_PREFIX + k: v for k, v in mixed.items()})
    for key in RETENTION_KEYS:  # the output is a plain model
        (config.get("model") or {}).pop(key, None)
    return {"model": model, "config": config, "start_weights": record, "epoch": stored.get("epoch"),
            "wise": {"alpha": float(alpha), "finetuned": os.path.abspath(checkpoint)}}


# ------------------------------------------------------------------------------------ sweep


def _agg_metric(results_file: Path) -> float:
    results = read_json(results_file, UserError)
    for value in results.values():
        if isinstance(value, dict) and "agg_metrics" in value:
            return float(value["agg_metrics"])
    raise UserError(f"{results_file}: no agg_metrics in the evaluation results")


def _evaluate(cfg: str, checkpoint: Path, out: Path, options: list[str]) -> float:
    command = [sys.executable, "-m", "ahnpl_plugin.evaluate", "--cfg-path", cfg, "--options",
               f"run.checkpoint={checkpoint}", f"run.output_dir={out}", *options]
    subprocess.run(command, check=True)
    return _agg_metric(max(out.glob("*/results.json"), key=lambda p: p.stat().st_mtime))


def tradeoff_table(rows: list[dict], x_label: str = "zero-shot", y_label: str = "compositional") -> str:
    """Markdown table of ``rows`` (``name``, ``zero_shot``, ``compositional`` as fractions, optional ``note``)."""
    lines = [f"| model | {y_label} (%) | {x_label} (%) | note |", "|---|---:|---:|---|"]
    for row in rows:
        lines.append(f"| {row['name']} | {100 * row['compositional']:.1f} | {100 * row['zero_shot']:.1f} | {row.get('note', '')} |")
    return "\n".join(lines)


def plot_tradeoff(rows: list[dict], path: Path, title: str, x_label: str = "zero-shot accuracy (%)",
                  y_label: str = "held-out compositional accuracy (%)") -> Path:
    """Scatter of compositional against zero-shot score; rows with ``series`` are joined by a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    series: dict[str, list[dict]] = {}
    for row in rows:
        series.setdefault(row.get("series", row["name"]), []).append(row)
    for name, points in series.items():
        xs = [100 * p["zero_shot"] for p in points]
        ys = [100 * p["compositional"] for p in points]
        marker = {"start": "*", "fine-tuned": "s"}.get(points[0].get("kind", ""), "o")
        ax.plot(xs, ys, marker=marker, linestyle="-" if len(points) > 1 else "none", label=name,
                markersize=12 if marker == "*" else 7)
        for p, x, y in zip(points, xs, ys):
            if p.get("label"):
                ax.annotate(p["label"], (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def sweep(checkpoint: str, alphas: list[float], compositional_cfg: str, zeroshot_cfg: str, out: Path,
          start: str | None = None, options: list[str] | None = None) -> list[dict]:
    """Evaluate each alpha on both configs; write the table, JSON and plot into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for alpha in alphas:
        weights = out / f"wise_{alpha:g}.pth"
        torch.save(wise_checkpoint(checkpoint, alpha, start), weights)
        row = {"name": f"alpha {alpha:g}", "alpha": alpha, "series": "WiSE-FT", "label": f"{alpha:g}",
               "compositional": _evaluate(compositional_cfg, weights, out / f"eval_{alpha:g}_compositional", options or []),
               "zero_shot": _evaluate(zeroshot_cfg, weights, out / f"eval_{alpha:g}_zeroshot", options or []),
               "note": "start" if alpha == 0 else "fine-tuned" if alpha == 1 else ""}
        rows.append(row)
        print(f"alpha {alpha:g}: compositional {row['compositional']:.4f}, zero-shot {row['zero_shot']:.4f}", flush=True)
    (out / "wise_sweep.json").write_text(json.dumps(rows, indent=2))
    (out / "wise_sweep.md").write_text(tradeoff_table(rows) + "\n")
    plot_tradeoff(rows, out / "wise_sweep.png", f"WiSE-FT sweep of {Path(checkpoint).name}")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ahnpl_plugin.wise", description="WiSE-FT alpha sweep")
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--compositional-cfg", required=True, help="evaluation config of the compositional suite")
    parser.add_argument("--zeroshot-cfg", default="projects/ahnpl/eval_zeroshot.yaml",
                        help="evaluation config of a zero-shot task, never COCO retrieval (default: the zero-shot "
                             "classification suite, ImageNet + ELEVATER's 20 sets; its agg_metrics is their mean)")
    parser.add_argument("--start", default=None, help="starting weights file, when the recorded one moved (hash-checked)")
    parser.add_argument("--out", default="output/wise_sweep")
    parser.add_argument("--options", nargs="*", default=[], help="extra key=value overrides for both evaluations")
    args = parser.parse_args(argv)
    try:
        sweep(args.checkpoint, args.alphas, args.compositional_cfg, args.zeroshot_cfg, Path(args.out), args.start, args.options)
    except (UserError, StartWeightsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
