"""``ahnpl_compositional``: caption-choice accuracy (true caption vs. its negatives) of any
registered CLIP/BLIP model, on the synthetic world and the published compositional benchmarks.

Evaluation of a split whose dataset is a
:class:`~ahnpl_plugin.datasets.choice_eval.ChoiceEvalDataset` (``ahnpl_runner`` passes one per
dataset and split; LAVIS's ``runner_base`` concatenates same-named splits, and each part of such a
ConcatDataset is then scored on its own):

* the model is driven through :func:`ahnpl_plugin.model_adapters.choice_encoder` (``ahnpl_clip``,
  ``ahnpl_blip``, LAVIS's ``clip``, BLIP models with ITC heads);
* pairs are scored as the model's ``scoring`` says (:func:`ahnpl_plugin.model_adapters.scoring_mode`):
  ``itc`` (feature cosine; every model) or, for BLIP models with an ITM head (``ahnpl_blip``'s
  ``model.scoring``), ``itm`` / ``itc+itm`` (:mod:`ahnpl_plugin.models.blip_scoring`);
* each distinct image and caption is encoded once per run, batched, with progress bars, and each
  distinct (image, caption) pair is scored by ITM once (:mod:`ahnpl_plugin.tasks.choice_features`;
  the cache survives across splits and benchmarks and is dropped whenever the weights change);
* the dataset's scorer turns per-item similarities into its metrics.

Returned metrics (what the runner writes to ``results.json``): the scorer's output, plus for a
benchmark dataset ``benchmark``, ``model`` and its ``counts`` / ``notes`` (items evaluated,
items left out for missing images, how the scoring differs from the original). ``agg_metrics``
(what selects the best checkpoint) is ``average`` for the synthetic world and the benchmark's
headline metric otherwise (:data:`HEADLINE_METRIC`).

Reports: ``<result_dir>/<split>_epoch<epoch>.json`` / ``.md`` per split and ``results.md`` in the
run folder, the paper-style table with this model's row beside the published CLIP / NegCLIP /
CE-CLIP / AHNPL rows (:mod:`ahnpl_plugin.benchmarks.report`).

Benchmark datasets without ``vis_processor`` / ``text_processor`` in their config get the model's
own eval processors (from the model type's default YAML), so a config can switch models without
repeating the image size.
"""

from __future__ import annotations

import json
import logging
import os
import re

import torch
from lavis.common.registry import registry
from lavis.tasks.base_task import BaseTask
from omegaconf import OmegaConf
from torch.utils.data import ConcatDataset

from ahnpl_plugin.errors import ConfigError
from ahnpl_plugin.tasks.choice_features import (
    FeatureCache,
    encode_dataset,
    encode_pair_logits,
    item_pair_scores,
    item_similarities,
    pair_cosines,
    weights_fingerprint,
)

# The metric that sums up each benchmark (its column in the papers' tables).
HEADLINE_METRIC = {
    "aro_vg_relation": "accuracy",
    "aro_vg_attribution": "accuracy",
    "aro_coco_order": "accuracy",
    "aro_flickr_order": "accuracy",
    "sugarcrepe": "average",
    "valse": "average",
    "vl_checklist": "average",
    "winoground": "group",
    # issue 16 (each benchmark's AggregationRule names the same key)
    "sugarcrepe_pp": "itt",
    "whatsup": "average",
    "spec": "average",
    "crepe": "average",
    "eqben": "group",
    "imagecode": "accuracy",
    "svo_probes": "average",
    "colorswap": "group",
    "mmvp_vlm": "group",
}
DEFAULT_TEXT_BATCH = 256


# ------------------------------------------------------------------------------- model naming
def _short_weights_name(value) -> str:
    """A weights source as shown in tables: URL/file basename (with its folder for files)."""
    text = str(value)
    if "://" in text:
        return text.rstrip("/").rsplit("/", 1)[-1]
    parts = [p for p in re.split(r"[\\/]", text) if p]
    return "/".join(parts[-2:]) if len(parts) > 1 else text


def model_display_name(model_cfg, run_cfg) -> str:
    """``"<arch> <model_type> (<weights>)"``: the checkpoint evaluated, else the fine-tuned or
    pretrained weights of the model config, else ``random init``."""
    arch = model_cfg.get("arch", "model")
    model_type = model_cfg.get("model_type") or ""
    checkpoint = run_cfg.get("checkpoint") or run_cfg.get("resume_ckpt_path")
    if not checkpoint and model_cfg.get("load_finetuned"):
        checkpoint = model_cfg.get("finetuned")
    source = checkpoint or model_cfg.get("pretrained")
    weights = _short_weights_name(source) if source else "random init"
    return f"{arch} {model_type} ({weights})".replace("  ", " ")


def model_eval_processors(model_cfg) -> dict:
    """``{"vis_processor": cfg, "text_processor": cfg}`` (eval entries of the model type's default
    YAML ``preprocess`` section; absent ones left out)."""
    cls = registry.get_model_class(model_cfg.arch)
    try:
        path = cls.default_config_path(model_cfg.model_type)
    except (AssertionError, KeyError, AttributeError):
        return {}
    preprocess = OmegaConf.load(path).get("preprocess") or {}
    found = {}
    for key in ("vis_processor", "text_processor"):
        section = preprocess.get(key) or {}
        if section.get("eval") is not None:
            found[key] = OmegaConf.to_container(section["eval"], resolve=True)
    return found


# ------------------------------------------------------------------------------------ helpers
def choice_parts(dataset) -> list:
    """The choice datasets of a split: the dataset itself, or each part of a ConcatDataset."""
    parts = list(dataset.datasets) if isinstance(dataset, ConcatDataset) else [dataset]
    for part in parts:
        for attr in ("images", "captions", "item_images", "item_captions", "score_fn"):
            if not hasattr(part, attr):
                raise ConfigError(
                    f"task ahnpl_compositional evaluates caption-choice datasets (ChoiceEvalDataset); "
                    f"got {type(part).__name__}, which lacks {attr!r}"
                )
    return parts


def _safe_file_name(split_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(split_name))


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _metric_table(scores: dict) -> str:
    from ahnpl_plugin.benchmarks.published import format_score

    rows = "".join(f"| {k} | {format_score(v)} |\n" for k, v in scores.items() if _is_number(v))
    return "| metric | score |\n|---|---:|\n" + rows


def render_results_markdown(parts: list[dict], model_name: str, *, with_groups: bool = False) -> str:
    """Markdown of evaluated parts: the paper-style report of the benchmark ones
    (:func:`ahnpl_plugin.benchmarks.report.render_report`), then a metric table per other part."""
    from ahnpl_plugin.benchmarks.report import render_report

    benchmark_scores = {p["benchmark"]: p["scores"] for p in parts if p.get("benchmark")}
    if benchmark_scores:
        text = render_report(benchmark_scores, model_name, with_groups=with_groups)
    else:
        text = f"# Results: {model_name}\n"
    for part in parts:
        if not part.get("benchmark"):
            text += f"\n## {part['label']}\n\n" + _metric_table(part["scores"])
    return text


# --------------------------------------------------------------------------------------- task
@registry.register_task("ahnpl_compositional")
class CompositionalTask(BaseTask):
    def __init__(self, text_batch_size: int = DEFAULT_TEXT_BATCH, progress: bool = True,
                 model_name: str = "model"):
        super().__init__()
        self.text_batch_size = int(text_batch_size)
        self.progress = bool(progress)
        self.model_name = model_name
        self.cache = FeatureCache()
        self._reported: dict[str, list[dict]] = {}  # split -> parts, for the run's results.md

    @classmethod
    def setup_task(cls, cfg=None, **kwargs):
        if cfg is None:
            return cls()
        run_cfg = cfg.run_cfg
        return cls(
            text_batch_size=max(DEFAULT_TEXT_BATCH, int(run_cfg.get("batch_size_eval", 64)) * 4),
            progress=bool(run_cfg.get("progress", True)),
            model_name=model_display_name(cfg.model_cfg, run_cfg),
        )

    # ---------------------------------------------------------------------------- datasets
    def build_datasets(self, cfg):
        """LAVIS's build, after giving benchmark datasets the model's eval processors where their
        config sets none."""
        from ahnpl_plugin.datasets.benchmark_builders import BenchmarkBuilder

        defaults = None
        for name in cfg.datasets_cfg:
            builder = registry.get_builder_class(name)
            if builder is None or not issubclass(builder, BenchmarkBuilder):
                continue
            dataset_cfg = cfg.datasets_cfg[name]
            for key in ("vis_processor", "text_processor"):
                if dataset_cfg.get(key) is not None:
                    continue
                if defaults is None:
                    defaults = model_eval_processors(cfg.model_cfg)
                if key in defaults:
                    dataset_cfg[key] = {"eval": defaults[key]}
                    logging.info("datasets.%s.%s.eval: the model's %s", name, key, defaults[key])
        return super().build_datasets(cfg)

    # -------------------------------------------------------------------------- evaluation
    def evaluate_dataset(self, model, dataset, *, batch_size: int = 64, num_workers: int = 0,
                         label: str = "") -> dict:
        """Scores of one choice dataset (encode-once through :attr:`cache`)."""
        from ahnpl_plugin.model_adapters import choice_encoder, scoring_mode, unwrap

        core = unwrap(model)
        encoder = choice_encoder(core)
        mode = scoring_mode(core, encoder)
        fingerprint = weights_fingerprint(core)

        def features():
            return encode_dataset(
                encoder, dataset, self.cache, fingerprint=fingerprint,
                batch_size=batch_size, text_batch_size=self.text_batch_size, num_workers=num_workers,
                progress=self.progress, label=label,
            )

        if mode == "itc":
            image_feats, text_feats = features()
            sims = item_similarities(dataset.item_images, dataset.item_captions, image_feats, text_feats)
            return self._score(dataset, sims, features)
        from ahnpl_plugin.models.blip_scoring import combine

        def pair_values(image_index, caption_index):
            # ITM first: its image pass also caches each image's ITC feature, so that the
            # feature pass of itc+itm then only encodes captions (one ViT pass per image).
            logits = encode_pair_logits(
                encoder, dataset, self.cache, image_index, caption_index, fingerprint=fingerprint,
                batch_size=batch_size, pair_batch_size=self.text_batch_size, num_workers=num_workers,
                progress=self.progress, label=label,
            )
            cosine = None
            if mode == "itc+itm":
                image_feats, text_feats = features()
                cosine = torch.from_numpy(pair_cosines(image_feats, text_feats, image_index, caption_index))
            return combine(mode, cosine, logits).numpy()

        sims = item_pair_scores(dataset.item_images, dataset.item_captions, len(dataset.captions), pair_values)
        return self._score(dataset, sims, features)

    @staticmethod
    def _score(dataset, sims, features) -> dict:
        """``dataset.score_fn(sims)``; a benchmark that also scores caption against caption
        (SugarCrepe++'s text-only task) gets the ITC caption-caption cosines as ``text_sims``."""
        bench = getattr(dataset, "benchmark", None)
        if bench is None or not getattr(bench, "needs_text_sims", False):
            return dataset.score_fn(sims)
        _, text_feats = features()  # cached: no encoder pass is repeated
        text_sims = item_similarities(dataset.item_captions, dataset.item_captions, text_feats, text_feats)
        return dataset.score_fn(sims, text_sims=text_sims)

    @torch.no_grad()
    def evaluation(self, model, data_loader, cuda_enabled=True):
        parts = []
        for part in choice_parts(data_loader.dataset):
            label = getattr(part, "dataset_name", None)
            scores = self.evaluate_dataset(
                model, part, batch_size=data_loader.batch_size or 64,
                num_workers=data_loader.num_workers, label=label,
            )
            parts.append({"label": label, "benchmark": getattr(part, "benchmark_name", None),
                          "scores": scores})
        return {"parts": parts}

    def _part_metrics(self, part: dict, split_name: str) -> dict:
        scores = part["scores"]
        benchmark = part.get("benchmark")
        if benchmark is None:  # the synthetic world and other plain choice datasets
            if "average" not in scores:
                raise KeyError(f"the scorer of split {split_name} returned no 'average': {sorted(scores)}")
            return {**scores, "agg_metrics": scores["average"]}
        metrics = {"benchmark": benchmark, "model": self.model_name, **scores}
        headline = scores.get(HEADLINE_METRIC.get(benchmark, "average"))
        if _is_number(headline):  # absent when nothing could be scored (said in the notes)
            metrics["agg_metrics"] = headline
        return metrics

    def after_evaluation(self, val_result, split_name, epoch, **kwargs):
        parts = val_result["parts"]
        for part in parts:
            part["label"] = part["label"] or str(split_name)
        if len(parts) == 1:
            metrics = self._part_metrics(parts[0], split_name)
        else:
            metrics = {p["label"]: self._part_metrics(p, split_name) for p in parts}
            headlines = [m["agg_metrics"] for m in metrics.values() if "agg_metrics" in m]
            if headlines:
                metrics["agg_metrics"] = sum(headlines) / len(headlines)
        self._write_reports(parts, split_name, epoch)
        logging.info("%s (epoch %s): %s", split_name, epoch, "  ".join(
            f"{p['label']}/{k}={v:.4f}" for p in parts for k, v in p["scores"].items() if _is_number(v)))
        if self.cache.fingerprint is not None:
            logging.info("features computed so far: %d images, %d captions, %d ITM pairs (each distinct one once)",
                         self.cache.encoded_images, self.cache.encoded_texts, self.cache.scored_pairs)
        return metrics

    def _write_reports(self, parts: list[dict], split_name: str, epoch) -> None:
        from lavis.common.dist_utils import is_main_process

        if not is_main_process():
            return
        result_dir = registry.get_path("result_dir")
        stem = f"{_safe_file_name(split_name)}_epoch{epoch}"
        if result_dir and os.path.isdir(result_dir):
            full = parts[0]["scores"] if len(parts) == 1 else {p["label"]: p["scores"] for p in parts}
            with open(os.path.join(result_dir, stem + ".json"), "w") as f:
                json.dump(full, f, indent=2, default=float)
            with open(os.path.join(result_dir, stem + ".md"), "w") as f:
                f.write(render_results_markdown(parts, self.model_name, with_groups=True))
        self._reported[split_name] = parts
        output_dir = registry.get_path("output_dir")
        if output_dir and os.path.isdir(output_dir):
            every = [p for split_parts in self._reported.values() for p in split_parts]
            with open(os.path.join(output_dir, "results.md"), "w") as f:
                f.write(render_results_markdown(every, self.model_name))

