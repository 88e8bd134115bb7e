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
  ``model.scoring``), ``itm`` / ``itc+itm`` (:mod:`ahnpl_plugin.models.blip.scoring`);
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
    # issue 16 (each equals a protocol's value: protocols._newer_protocols)
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


def selection_statement(model_cfg, run_cfg) -> str:
    """Which weights a run's numbers come from, and by what rule that checkpoint was chosen."""
    checkpoint = run_cfg.get("checkpoint") or run_cfg.get("resume_ckpt_path")
    if not checkpoint and model_cfg.get("load_finetuned"):
        checkpoint = model_cfg.get("finetuned")
    pretrained = model_cfg.get("pretrained") or "none (random initialisation)"
    if not checkpoint:
        return (f"{model_cfg.get('arch')} {model_cfg.get('model_type')} with pretrained weights {pretrained}; "
                "no fine-tuned checkpoint, so no checkpoint selection.")
    name = os.path.basename(str(checkpoint))
    if "best" in name:
        rule = ("the epoch with the best validation agg_metrics of its training run: valid only if that run "
                "validated on held-out data (Karpathy val captions or a compositional set built from them), "
                "never on a benchmark's test items; see the run's config (valid_splits) and log")
    elif re.search(r"(\d+)\.pth$", name):
        epoch = re.search(r"(\d+)\.pth$", name).group(1)
        rule = f"epoch {epoch} of its training run (a fixed epoch, e.g. the last one as in the paper's recipe)"
    else:
        rule = "the checkpoint named; how it was chosen is not recorded in it"
    return f"{model_cfg.get('arch')} {model_cfg.get('model_type')}, checkpoint {checkpoint}: {rule}."


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


def fill_model_processors(cfg, builder_base, keys=("vis_processor", "text_processor")) -> None:
    """Give each dataset whose builder subclasses ``builder_base`` the model's eval processors
    (:func:`model_eval_processors`) for the ``keys`` its config leaves unset."""
    defaults = None
    for name in cfg.datasets_cfg:
        builder = registry.get_builder_class(name)
        if builder is None or not issubclass(builder, builder_base):
            continue
        dataset_cfg = cfg.datasets_cfg[name]
        for key in keys:
            if dataset_cfg.get(key) is not None:
                continue
            if defaults is None:
                defaults = model_eval_processors(cfg.model_cfg)
            if key in defaults:
                dataset_cfg[key] = {"eval": defaults[key]}
                logging.info("datasets.%s.%s.eval: the model's %s", name, key, defaults[key])


# ------------------------------------------------------------------------------------ helpers
def _strict_flag(value) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"run.strict: expected true or false, got {value!r}")
    return value


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


def render_results_markdown(parts: list[dict], model_name: str, *, with_groups: bool = False,
                            outcomes: dict | None = None, not_evaluated: dict | None = None,
                            selection: str = "", plot: str | None = None, sections=()) -> str:
    """Markdown of evaluated parts. With ``outcomes`` (the run's results.md): the suite page of
    :func:`ahnpl_plugin.benchmarks.report.render_suite_report` (selection, table by protocol with
    intervals, what was not evaluated, item counts, paper-style table); without (per-split
    reports): the paper-style report of the benchmark parts. Then a metric table per other part."""
    from ahnpl_plugin.benchmarks.report import render_report, render_suite_report

    benchmark_scores = {p["benchmark"]: p["scores"] for p in parts if p.get("benchmark")}
    if outcomes is not None or not_evaluated or sections:
        from ahnpl_plugin.benchmarks.cells import model_cells

        cells = model_cells({k: v for k, v in (outcomes or {}).items() if k in benchmark_scores})
        text = render_suite_report(benchmark_scores, model_name, cells=cells, not_evaluated=not_evaluated,
                                   selection=selection, with_groups=with_groups, plot=plot, sections=sections)
    elif benchmark_scores:
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
                 model_name: str = "model", strict: bool = False):
        super().__init__()
        self.text_batch_size = int(text_batch_size)
        self.progress = bool(progress)
        self.model_name = model_name
        self.strict = bool(strict)
        self.selection = ""  # which weights, chosen how (results.md)
        self.outcomes: dict = {}  # benchmark name -> ItemOutcomes of the last evaluation
        # benchmarks of the config that were not evaluated: registered name -> why (names the
        # file expected and where to get it, or "enabled: false"); listed in results.md
        self.not_evaluated: dict[str, str] = {}
        self.cache = FeatureCache()
        self._reported: dict[str, list[dict]] = {}  # split -> parts, for the run's results.md

    @classmethod
    def setup_task(cls, cfg=None, **kwargs):
        if cfg is None:
            return cls()
        run_cfg = cfg.run_cfg
        task = cls._from_run_config(cfg, run_cfg)
        task.selection = selection_statement(cfg.model_cfg, run_cfg)
        return task

    @classmethod
    def _from_run_config(cls, cfg, run_cfg):
        return cls(
            text_batch_size=max(DEFAULT_TEXT_BATCH, int(run_cfg.get("batch_size_eval", 64)) * 4),
            progress=bool(run_cfg.get("progress", True)),
            model_name=model_display_name(cfg.model_cfg, run_cfg),
            strict=_strict_flag(run_cfg.get("strict", False)),
        )

    # ---------------------------------------------------------------------------- datasets
    def build_datasets(self, cfg):
        """Each configured dataset built as LAVIS builds it, after giving benchmark datasets the
        model's eval processors where their config sets none.

        A benchmark with ``enabled: false`` is left out; one whose files are absent (or none of
        whose images are) is left out and listed in :attr:`not_evaluated` (and in results.md,
        with where to get it), unless ``run.strict: true``, which makes it an error. Malformed
        files are always an error. At least one dataset must remain.
        """
        from ahnpl_plugin.errors import BenchmarkMissingError
        from ahnpl_plugin.datasets.benchmark_builders import BenchmarkBuilder

        self._give_default_processors(cfg)
        datasets = {}
        for name in cfg.datasets_cfg:
            builder_cls = registry.get_builder_class(name)
            dataset_cfg = cfg.datasets_cfg[name]
            is_benchmark = builder_cls is not None and issubclass(builder_cls, BenchmarkBuilder)
            if is_benchmark and not builder_cls.enabled(dataset_cfg):
                self.not_evaluated[name] = "enabled: false"
                logging.info("datasets.%s: left out (enabled: false)", name)
                continue
            try:
                datasets[name] = self._build_dataset(name, builder_cls, dataset_cfg)
            except BenchmarkMissingError as exc:
                self.not_evaluated[name] = str(exc)
                logging.warning("%s: not evaluated (run.strict: true makes this an error): %s", name, exc)
        absent = [why for why in self.not_evaluated.values() if why != "enabled: false"]
        if self.strict and absent:
            raise BenchmarkMissingError(f"run.strict: {len(absent)} dataset(s) of the config cannot be "
                                        "evaluated: " + "; ".join(absent))
        if not datasets:
            if len(self.not_evaluated) == 1:
                raise ConfigError(next(iter(self.not_evaluated.values())))
            raise ConfigError(f"none of the {len(self.not_evaluated)} datasets of the config can be "
                              "evaluated: " + "; ".join(self.not_evaluated.values()))
        return datasets

    def _build_dataset(self, name, builder_cls, dataset_cfg):
        """One dataset's splits (BenchmarkMissingError when its files are absent)."""
        return builder_cls(dataset_cfg).build_datasets()

    def _give_default_processors(self, cfg) -> None:
        from ahnpl_plugin.datasets.benchmark_builders import BenchmarkBuilder

        fill_model_processors(cfg, BenchmarkBuilder)

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
            return self._scores(dataset, sims, features)
        from ahnpl_plugin.models.blip.scoring import combine

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
        return self._scores(dataset, sims, features)

    def _scores(self, dataset, sims, features) -> dict:
        """The dataset's scores; for a benchmark also ``cells`` (each protocol of the benchmark:
        value, 95% interval, n, completeness) and its per-item outcomes kept in :attr:`outcomes`.
        A benchmark that also scores caption against caption (SugarCrepe++'s text-only task) gets
        the ITC caption-caption cosines as ``text_sims`` (cached features: no encoder pass is
        repeated, in ITM modes too)."""
        bench = getattr(dataset, "benchmark", None)
        if bench is None:
            return dataset.score_fn(sims)
        text_sims = None
        if getattr(bench, "needs_text_sims", False):
            _, text_feats = features()
            text_sims = item_similarities(dataset.item_captions, dataset.item_captions, text_feats, text_feats)
            scores = dataset.score_fn(sims, text_sims=text_sims)
        else:
            scores = dataset.score_fn(sims)
        from ahnpl_plugin.benchmarks.cells import model_cells
        from ahnpl_plugin.benchmarks.protocols import benchmark_outcomes

        outcomes = benchmark_outcomes(bench, sims, text_sims)
        self.outcomes[bench.name] = outcomes
        cells = model_cells({bench.name: outcomes})
        scores["cells"] = {name: cell.as_dict() for name, cell in cells.items()
                           if cell.method != "mean of members"}  # composites need other benchmarks
        return scores

    @torch.no_grad()
    def evaluation(self, model, data_loader, cuda_enabled=True):
        from ahnpl_plugin.model_adapters import unwrap

        # where the weights came from and which activation ran (ahnpl_clip: clip_loading.WeightsProvenance)
        self.weights_provenance = dict(getattr(unwrap(model), "weights_provenance", None) or {})
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
        provenance = getattr(self, "weights_provenance", None) or {}
        if provenance.get("act"):
            metrics["weights"] = {k: provenance.get(k) for k in ("source", "format", "act", "act_source", "patch", "lora")}
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
            items = {p["benchmark"]: self.outcomes[p["benchmark"]].to_json() for p in parts
                     if p.get("benchmark") in self.outcomes}
            if items:  # per-item outcomes: paired tests between runs, overlap-filtered scores
                with open(os.path.join(result_dir, stem + ".items.json"), "w") as f:
                    json.dump(items, f)
        self._reported[split_name] = parts
        output_dir = registry.get_path("output_dir")
        if output_dir and os.path.isdir(output_dir):
            with open(os.path.join(output_dir, "results.md"), "w") as f:
                f.write(self.run_report(output_dir))

    def run_report(self, output_dir: str, zero_shot_retention: float | None = None, sections=()) -> str:
        """results.md of the run so far (every split reported), its plot written beside it;
        ``sections``: more Markdown sections after the plot (task ahnpl_suite)."""
        every = [p for split_parts in self._reported.values() for p in split_parts]
        plot = self._write_plot(output_dir, {p["benchmark"] for p in every if p.get("benchmark")},
                                zero_shot_retention)
        text = render_results_markdown(every, self.model_name, outcomes=self.outcomes,
                                       not_evaluated=self.not_evaluated, selection=self.selection, plot=plot,
                                       sections=sections)
        provenance = getattr(self, "weights_provenance", None) or {}
        if provenance.get("act"):
            text += (f"\nWeights: {provenance.get('source')} ({provenance.get('format')}); activation "
                     f"{provenance['act']} (from {provenance.get('act_source')})\n")
        return text

    def _write_plot(self, output_dir: str, benchmarks: set, zero_shot_retention: float | None = None) -> str | None:
        """compositional_vs_zero_shot.png beside results.md (file name, or None when no point)."""
        from ahnpl_plugin.benchmarks.cells import model_cells
        from ahnpl_plugin.benchmarks.plot import plot_compositional_vs_zero_shot

        cells = model_cells({k: v for k, v in self.outcomes.items() if k in benchmarks})
        try:
            path = plot_compositional_vs_zero_shot(os.path.join(output_dir, "compositional_vs_zero_shot.png"),
                                                   self.model_name, cells, zero_shot_retention)
        except ImportError as exc:  # matplotlib missing: the table still says everything
            logging.warning("no plot: %s", exc)
            return None
        return os.path.basename(path) if path else None

