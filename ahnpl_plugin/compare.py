"""Evaluate several checkpoints side by side on the same benchmarks: one table, paired tests.

    python -m ahnpl_plugin.compare --cfg-path projects/ahnpl/compare.yaml [--output-dir DIR]

The config (example: projects/ahnpl/compare.yaml)::

    compare:
      reference: CLIP ViT-B/32          # paired tests: every other model against this one
      published: [CLIP, NegCLIP, CE-CLIP, AHNPL (paper)]   # rows of ahnpl_plugin/benchmarks/published.py
      output_dir: output/compare
      device: cuda
      batch_size: 128                   # images per forward pass (captions: 4x)
      num_workers: 4
    models:                             # any model: section (arch, model_type, pretrained, act, ...)
      - name: CLIP ViT-B/32
        model: {arch: ahnpl_clip, model_type: ViT-B-32, pretrained: openai}
      - name: NegCLIP
        model: {arch: ahnpl_clip, model_type: ViT-B-32, pretrained: ckpt/negclip.pth, act: quick_gelu}
    datasets:                           # as projects/ahnpl/eval_all.yaml
      ahnpl_sugarcrepe: {root: data/sugarcrepe, image_root: data/coco/images/val2017}

Before anything is loaded, every weights file of every model (``pretrained``, the patch base, the
LoRA file, ``finetuned``) and every benchmark's files are checked; all that is missing is listed at
once (exit code 2). Benchmarks are read once; each model then encodes every distinct image and
caption once (:class:`~ahnpl_plugin.tasks.choice_features.FeatureCache`, shared by the benchmarks)
and is released before the next is built; a model that cannot be loaded (e.g. a plain state dict
without ``act``) is reported in the table and the others still run. Output in ``output_dir``: ``results.md`` (the published
rows, one row per model, the exact McNemar test of each model against the reference on each
caption-choice benchmark's items, and where each model's weights and activation came from) and
``results.json`` (all scores, per-item outcomes counts and provenance).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ahnpl_plugin.errors import ConfigError, UserError

COMPARE_KEYS = ("reference", "published", "output_dir", "device", "batch_size", "num_workers", "progress")
TOP_KEYS = ("compare", "models", "datasets")


@dataclass
class ModelEntry:
    name: str
    model_cfg: dict


@dataclass
class ComparePlan:
    models: list[ModelEntry]
    datasets: dict  # registered builder name -> its config dict
    reference: str | None
    published: list[str]
    output_dir: Path
    device: str = "cpu"
    batch_size: int = 64
    num_workers: int = 0
    progress: bool = True


@dataclass
class ModelResult:
    name: str
    scores: dict = field(default_factory=dict)  # benchmark -> score dict
    outcomes: dict = field(default_factory=dict)  # benchmark -> bool array (caption-choice items) or None
    provenance: dict = field(default_factory=dict)
    encoded: dict = field(default_factory=dict)  # images / captions encoded
    error: str = ""  # why the model could not be evaluated (the others still are)


# ------------------------------------------------------------------------------------------ config


def read_plan(cfg) -> ComparePlan:
    """Validate a compare config (OmegaConf or dict) into a :class:`ComparePlan` (ConfigError naming the key)."""
    from omegaconf import OmegaConf

    raw = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)
    unknown = sorted(set(raw) - set(TOP_KEYS))
    if unknown:
        raise ConfigError(f"unknown top-level key(s) {unknown} in the compare config; valid: {list(TOP_KEYS)}")
    options = raw.get("compare") or {}
    bad = sorted(set(options) - set(COMPARE_KEYS))
    if bad:
        raise ConfigError(f"unknown key(s) {bad} under compare; valid: {list(COMPARE_KEYS)}")
    models = []
    for i, entry in enumerate(raw.get("models") or []):
        if not isinstance(entry, dict) or not entry.get("name") or not isinstance(entry.get("model"), dict):
            raise ConfigError(f"models[{i}] must be {{name: ..., model: {{arch: ..., model_type: ..., pretrained: ...}}}}")
        if set(entry) - {"name", "model"}:
            raise ConfigError(f"models[{i}] ({entry['name']}): unknown key(s) {sorted(set(entry) - {'name', 'model'})}")
        models.append(ModelEntry(str(entry["name"]), dict(entry["model"])))
    if len(models) < 1:
        raise ConfigError("the compare config lists no models (models: [{name, model}, ...])")
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise ConfigError(f"model names must be unique, got {names}")
    reference = options.get("reference") or (names[0] if len(names) > 1 else None)
    if reference is not None and reference not in names:
        raise ConfigError(f"compare.reference {reference!r} is not one of the models: {names}")
    from ahnpl_plugin.benchmarks.published import PUBLISHED_MODELS

    published = list(options.get("published") or [])
    unknown_rows = [p for p in published if p not in PUBLISHED_MODELS]
    if unknown_rows:
        raise ConfigError(f"compare.published: no published row {unknown_rows}; available: {list(PUBLISHED_MODELS)}")
    datasets = raw.get("datasets") or {}
    if not datasets:
        raise ConfigError("the compare config lists no datasets (as projects/ahnpl/eval_all.yaml)")
    return ComparePlan(models, dict(datasets), reference, published, Path(options.get("output_dir") or "output/compare"),
                       str(options.get("device") or "cpu"), int(options.get("batch_size") or 64),
                       int(options.get("num_workers") or 0), bool(options.get("progress", True)))


# ------------------------------------------------------------------------------ up-front checks


def _model_paths(model_cfg: dict) -> list[tuple[str, str]]:
    """``(config key, path)`` of every weights file a model config names ('openai' excluded)."""
    paths = []
    if model_cfg.get("load_finetuned"):
        return [("finetuned", str(model_cfg.get("finetuned") or ""))]
    pretrained = str(model_cfg.get("pretrained") or "")
    if pretrained and pretrained.lower() != "openai":
        paths.append(("pretrained", pretrained))
    patch = model_cfg.get("pretrained_patch") or {}
    if isinstance(patch, dict) and patch.get("base") and str(patch["base"]).lower() != "openai":
        paths.append(("pretrained_patch.base", str(patch["base"])))
    lora = model_cfg.get("pretrained_lora")
    lora = lora.get("path") if isinstance(lora, dict) else lora
    if lora:
        paths.append(("pretrained_lora.path", str(lora)))
    return paths


def _openai_files(model_cfg: dict) -> list[str]:
    names = [model_cfg.get("pretrained"), (model_cfg.get("pretrained_patch") or {}).get("base")]
    if model_cfg.get("arch") != "ahnpl_clip" or not any(str(n or "").lower() == "openai" for n in names):
        return []
    from ahnpl_plugin.errors import PretrainedWeightsError
    from ahnpl_plugin.models.clip.weights import openai_cache_dir, openai_url

    try:
        return [os.path.join(openai_cache_dir(), os.path.basename(openai_url(str(model_cfg.get("model_type")))))]
    except PretrainedWeightsError as exc:
        return [f"(invalid) {exc}"]


def preflight(plan: ComparePlan) -> tuple[list[str], list[str]]:
    """``(problems, notes)``: every missing weights/benchmark file of the plan, found without loading any model."""
    from lavis.common.registry import registry
    from omegaconf import OmegaConf

    problems, notes = [], []
    for entry in plan.models:
        for key, path in _model_paths(entry.model_cfg):
            if not Path(path).expanduser().exists():
                problems.append(f"{entry.name}: model.{key} not found: {path}")
        for path in _openai_files(entry.model_cfg):
            if path.startswith("(invalid)"):
                problems.append(f"{entry.name}: {path[10:]}")
            elif not os.path.isfile(path):
                notes.append(f"{entry.name}: OpenAI weights not cached at {path} (LAVIS downloads them at load if it can)")
    for name, dataset_cfg in plan.datasets.items():
        builder = registry.get_builder_class(name)
        if builder is None or not hasattr(builder, "inspect"):
            problems.append(f"datasets.{name}: not a registered benchmark dataset (ahnpl_<benchmark>)")
            continue
        report = builder.inspect(OmegaConf.create(dataset_cfg))
        problems += report.problems
    return problems, notes


# ---------------------------------------------------------------------------------- evaluation


def load_benchmarks(plan: ComparePlan) -> dict:
    """Registered dataset name -> its Benchmark (files read once, images checked for existence)."""
    from lavis.common.registry import registry
    from omegaconf import OmegaConf

    loaded = {}
    for name, dataset_cfg in plan.datasets.items():
        builder = registry.get_builder_class(name)
        settings = builder.settings(OmegaConf.create(dataset_cfg))
        loaded[name] = builder.load_benchmark(settings, strict=settings.strict)
    return loaded


def eval_processor(model_cfg: dict):
    """The model type's LAVIS eval image processor (its default YAML's preprocess.vis_processor.eval)."""
    from lavis.common.registry import registry
    from omegaconf import OmegaConf

    from ahnpl_plugin.tasks.compositional import model_eval_processors

    found = model_eval_processors(OmegaConf.create(model_cfg)).get("vis_processor")
    if found is None:
        raise ConfigError(f"no eval image processor for {model_cfg.get('arch')} {model_cfg.get('model_type')}")
    return registry.get_processor_class(found["name"]).from_config(OmegaConf.create(found))


def choice_outcomes(bench, sims, text_sims=None):
    """Per item, whether the model chose right, for the paired tests: the benchmark's ``correct``
    outcome (its own rule: text-to-image items, SPEC's argmax, ...); None for benchmarks whose
    outcomes are several (Winoground-style text/image/group, CREPE R@k, What'sUp, SugarCrepe++)."""
    return bench.item_outcomes(sims, text_sims).get("correct")


def evaluate_model(entry: ModelEntry, benches: dict, plan: ComparePlan) -> ModelResult:
    """Build one model, score every benchmark with it (each image/caption encoded once), release it."""
    import torch
    from lavis.common.registry import registry
    from omegaconf import OmegaConf

    from ahnpl_plugin.datasets.benchmark_builders import BenchmarkChoiceDataset
    from ahnpl_plugin.model_adapters import choice_encoder
    from ahnpl_plugin.tasks.choice_features import FeatureCache, encode_dataset, item_similarities, weights_fingerprint

    model_cls = registry.get_model_class(entry.model_cfg.get("arch"))
    if model_cls is None:
        raise ConfigError(f"{entry.name}: unknown model arch {entry.model_cfg.get('arch')!r}")
    model = model_cls.from_config(OmegaConf.create(entry.model_cfg)).to(plan.device).eval()
    result = ModelResult(entry.name, provenance=dict(getattr(model, "weights_provenance", {}) or {}))
    logging.info("%s: %s", entry.name, result.provenance or entry.model_cfg)
    encoder, cache = choice_encoder(model), FeatureCache()
    processor = eval_processor(entry.model_cfg)
    fingerprint = weights_fingerprint(model)
    with torch.no_grad():
        for name, bench in benches.items():
            dataset = BenchmarkChoiceDataset(bench, processor, dataset_name=name)
            image_feats, text_feats = encode_dataset(
                encoder, dataset, cache, fingerprint=fingerprint, batch_size=plan.batch_size,
                text_batch_size=4 * plan.batch_size, num_workers=plan.num_workers, progress=plan.progress,
                label=f"{entry.name} / {bench.name}")
            sims = item_similarities(dataset.item_images, dataset.item_captions, image_feats, text_feats)
            text_sims = None
            if bench.needs_text_sims:  # SugarCrepe++'s text-only task: caption-caption cosines
                text_sims = item_similarities(dataset.item_captions, dataset.item_captions, text_feats, text_feats)
                result.scores[bench.name] = bench.score(sims, text_sims=text_sims)
            else:
                result.scores[bench.name] = bench.score(sims)
            result.outcomes[bench.name] = choice_outcomes(bench, sims, text_sims)
    result.encoded = {"images": cache.encoded_images, "captions": cache.encoded_texts}
    del model, encoder, cache
    gc.collect()
    return result


# ------------------------------------------------------------------------------------- reports


def render_results(plan: ComparePlan, results: list[ModelResult]) -> str:
    """results.md: scores beside the published rows, paired tests, weights provenance."""
    from ahnpl_plugin.benchmarks.paired_tests import paired_mcnemar
    from ahnpl_plugin.benchmarks.published import COLUMNS, DASH, PUBLISHED, format_score

    benchmarks = {b for r in results for b in r.scores}
    columns = [c for c in COLUMNS if c.benchmark in benchmarks]
    lines = ["# Side-by-side evaluation", "",
             "Published rows are copied from the papers (ViT-B/32); the other rows were measured in this run.", "",
             "| Model | " + " | ".join(c.header for c in columns) + " |",
             "|---|" + "|".join("---:" for _ in columns) + "|"]
    for model in plan.published:
        cells = [PUBLISHED.get(model, {}).get((c.benchmark, c.metric), DASH) for c in columns]
        lines.append(f"| {model} (published) | " + " | ".join(cells) + " |")
    for result in results:
        cells = [format_score(result.scores.get(c.benchmark, {}).get(c.metric)) for c in columns]
        lines.append(f"| **{result.name}** | " + " | ".join(cells) + " |")
    failed = [r for r in results if r.error]
    if failed:
        lines += ["", "Not evaluated:"] + [f"- **{r.name}**: {r.error}" for r in failed]
    reference = next((r for r in results if r.name == plan.reference), None)
    if reference is not None and len(results) > 1:
        lines += ["", f"## Paired tests against {reference.name}", "",
                  "Exact McNemar test on the same items (b: reference right and model wrong; c: the reverse). "
                  "Accuracy over all caption-choice items of the benchmark (micro).", "",
                  "| Benchmark | Model | items | reference acc | model acc | Δ (points) | b | c | p |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for bench in sorted(benchmarks):
            ref = reference.outcomes.get(bench)
            for result in results:
                other = result.outcomes.get(bench)
                if result is reference or ref is None or other is None:
                    continue
                test = paired_mcnemar(ref, other)
                lines.append(f"| {bench} | {result.name} | {test.n} | {format_score(test.accuracy_a)} | "
                             f"{format_score(test.accuracy_b)} | {100 * test.delta:+.1f} | {test.b} | {test.c} | "
                             f"{test.p_value:.3g} |")
    lines += ["", "## Weights", "", "| Model | source | format | activation (why) | patch | LoRA | encoded images / captions |",
              "|---|---|---|---|---|---|---:|"]
    for result in results:
        p = result.provenance
        patch = f"alpha {p['patch']['alpha']} with {p['patch']['base']}" if p.get("patch") else ""
        lora = f"{p['lora']['path']} ({p['lora']['merged']} weights)" if p.get("lora") else ""
        lines.append(f"| {result.name} | {p.get('source', '')} | {p.get('format', '')} | "
                     f"{p.get('act', '')} ({p.get('act_source', '')}) | {patch} | {lora} | "
                     f"{result.encoded.get('images', 0)} / {result.encoded.get('captions', 0)} |")
    return "\n".join(lines) + "\n"


def write_results(plan: ComparePlan, results: list[ModelResult]) -> tuple[Path, Path]:
    plan.output_dir.mkdir(parents=True, exist_ok=True)
    md, js = plan.output_dir / "results.md", plan.output_dir / "results.json"
    md.write_text(render_results(plan, results))
    payload = {r.name: {"scores": r.scores, "provenance": r.provenance, "encoded": r.encoded, "error": r.error,
                        "correct_items": {b: (int(o.sum()) if o is not None else None) for b, o in r.outcomes.items()}}
               for r in results}
    js.write_text(json.dumps(payload, indent=2, default=str))
    return md, js


def run(cfg, output_dir: str | None = None) -> tuple[Path, Path]:
    """Check, evaluate every model, write results.md/json; UserError listing all missing files first."""
    plan = read_plan(cfg)
    if output_dir:
        plan.output_dir = Path(output_dir)
    problems, notes = preflight(plan)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if problems:
        raise UserError(f"{len(problems)} problem(s) found before loading anything:\n  " + "\n  ".join(problems))
    benches = load_benchmarks(plan)
    results = []
    for i, entry in enumerate(plan.models, 1):
        logging.info("model %d/%d: %s", i, len(plan.models), entry.name)
        try:
            results.append(evaluate_model(entry, benches, plan))
        except UserError as exc:  # e.g. a plain state dict without model.act: the other models still run
            logging.error("%s: not evaluated: %s", entry.name, exc)
            results.append(ModelResult(entry.name, error=str(exc)))
    return write_results(plan, results)


def main(argv: list[str] | None = None) -> int:
    from ahnpl_plugin.cli_text import plain

    parser = argparse.ArgumentParser(prog="python -m ahnpl_plugin.compare", description=plain(__doc__.split("\n\n")[0]))
    parser.add_argument("--cfg-path", required=True, help="compare config YAML (see projects/ahnpl/compare.yaml)")
    parser.add_argument("--output-dir", default=None, help="overrides compare.output_dir")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        from omegaconf import OmegaConf

        import ahnpl_plugin
        from ahnpl_plugin import compat

        compat.apply()
        ahnpl_plugin.register()
        md, js = run(OmegaConf.load(args.cfg_path), args.output_dir)
    except UserError as exc:  # ConfigError, PretrainedWeightsError, BenchmarkInputError are UserErrors
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"results: {md}\nscores: {js}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
