"""``ahnpl_suite``: one model, one ``python -m lavis.evaluate`` run, one results.md: every present
compositional benchmark, zero-shot classification with retention, and image-text retrieval.

A LAVIS run has one task; this one dispatches each dataset of the run (``ahnpl_runner`` gives
every dataset of a split its own loader) to the logic that already scores it:

* caption-choice benchmarks (``ahnpl_<benchmark>`` builders): task ``ahnpl_compositional``
  (:class:`~ahnpl_plugin.tasks.compositional.CompositionalTask`, which this class extends);
* ``ahnpl_zeroshot``: task ``ahnpl_zeroshot``'s logic (a :class:`SuiteZeroShot` inside), with
  ``run.reference_model`` (the starting weights) scored on the same sets for the retention column;
* ``ahnpl_coco`` / ``ahnpl_flickr30k`` test splits (LAVIS's ``RetrievalEvalDataset``): recall@1/5/10
  in both directions, as LAVIS's ``retrieval`` task computes them
  (:mod:`ahnpl_plugin.benchmarks.retrieval_recall`), from ITC cosines, and for models with an ITM
  head (BLIP) also ITC+ITM re-ranking of the top ``run.k_test`` (default 256) as LAVIS's BLIP does.

Encode once: every image (key: file, crop box, preprocessing), caption and prompt goes through one
:class:`~ahnpl_plugin.tasks.choice_features.FeatureCache` per model, shared by all three kinds of
data (the reference model has its own); each distinct ITM pair is scored once.

Absent data: a dataset whose files are absent is left out and listed in results.md (with what is
missing), as ``ahnpl_compositional`` does for benchmarks; ``run.strict: true`` makes the run all or
nothing (the path pre-check of ``ahnpl_coco`` is then done here, listing every absent dataset).

results.md (run folder): weights and model selection; the compositional table by protocol with
intervals; the plot (compositional average vs zero-shot retention, x = this model's zero-shot mean
over the reference's, measured in this run); the zero-shot table (model, reference, retention);
the retrieval table; what was not evaluated; item counts; the paper-style table. results.json: per
dataset as each task returns it (retrieval: ``itc`` / ``itc+itm`` metric dicts); ``agg_metrics``
is the mean of the compositional headlines only (zero-shot and retrieval keep theirs inside).
"""

from __future__ import annotations

import json
import logging
import os

import torch
from lavis.common.registry import registry
from lavis.datasets.datasets.retrieval_datasets import RetrievalEvalDataset

from ahnpl_plugin.tasks.choice_features import FeatureCache, weights_fingerprint
from ahnpl_plugin.tasks.compositional import CompositionalTask, fill_model_processors
from ahnpl_plugin.tasks.zeroshot import ZeroShotTask

DEFAULT_K_TEST = 256  # BLIP's ITM re-ranking depth (LAVIS's retrieval configs)
ITC, ITC_ITM = "itc", "itc+itm"
RETRIEVAL_LABELS = {"ahnpl_coco": "COCO Karpathy", "ahnpl_flickr30k": "Flickr30k Karpathy"}


def retrieval_label(split_name: str) -> str:
    """``"COCO Karpathy test"`` for split ``ahnpl_coco/test`` (other builders: the split name)."""
    name, _, split = str(split_name).partition("/")
    return f"{RETRIEVAL_LABELS[name]} {split}" if name in RETRIEVAL_LABELS and split else str(split_name)


class SuiteZeroShot(ZeroShotTask):
    """Task ``ahnpl_zeroshot``'s logic inside the suite: features through the suite's cache (the
    reference model: a cache of its own), no results.md of its own."""

    writes_results_md = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.suite = None  # the SuiteTask whose cache the evaluated model uses
        self.reference_cache = FeatureCache()
        self.last_table = ""

    def part_logits(self, model, encoder, part, *, batch_size: int, num_workers: int):
        from ahnpl_plugin.tasks.suite_features import cached_set_logits

        if self.suite is None:
            return super().part_logits(model, encoder, part, batch_size=batch_size, num_workers=num_workers)
        cache = self.reference_cache if model is self._reference else self.suite.cache
        return cached_set_logits(encoder, part, cache, fingerprint=weights_fingerprint(model), batch_size=batch_size,
                                 text_batch_size=self.text_batch_size, num_workers=num_workers, progress=self.progress)


def zero_shot_ratio(metrics: dict | None) -> float | None:
    """The plot's x: the model's zero-shot mean over the reference's (same sets, same run)."""
    if not metrics or not metrics.get("reference"):
        return None
    mine, theirs = metrics.get("mean"), metrics["reference"].get("mean")
    if mine is None or not theirs:
        return None
    return float(mine) / float(theirs)


@registry.register_task("ahnpl_suite")
class SuiteTask(CompositionalTask):
    lists_absent_datasets = True  # datasets.preflight leaves the path checks to build_datasets

    def __init__(self, *args, k_test: int = DEFAULT_K_TEST, zeroshot: SuiteZeroShot | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.k_test = int(k_test)
        self.zeroshot = zeroshot or SuiteZeroShot(progress=self.progress, model_name=self.model_name)
        self.zeroshot.suite = self
        self.zeroshot_metrics: dict | None = None
        self.retrieval: dict[str, dict] = {}  # split label -> {scoring: recall metrics}

    @classmethod
    def setup_task(cls, cfg=None, **kwargs):
        task = super().setup_task(cfg, **kwargs)
        if cfg is None:
            return task
        task.k_test = int(cfg.run_cfg.get("k_test", DEFAULT_K_TEST))
        task.zeroshot = SuiteZeroShot.setup_task(cfg)
        task.zeroshot.suite = task
        return task

    # ---------------------------------------------------------------------------- datasets
    def _give_default_processors(self, cfg) -> None:
        from ahnpl_plugin.datasets.zeroshot_builder import ZeroShotBuilder

        super()._give_default_processors(cfg)
        fill_model_processors(cfg, ZeroShotBuilder, keys=("vis_processor",))

    def _build_dataset(self, name, builder_cls, dataset_cfg):
        """Absent retrieval files or zero-shot folders raise BenchmarkMissingError (listed, not
        fatal, unless run.strict); present data builds as its builder builds it."""
        from ahnpl_plugin.errors import BenchmarkMissingError
        from ahnpl_plugin.datasets.coco_builder import KarpathyBuilder, path_problems
        from ahnpl_plugin.datasets.zeroshot_builder import ZeroShotBuilder, configured_sets, set_root

        if issubclass(builder_cls, KarpathyBuilder):
            problems = path_problems(dataset_cfg, builder_cls.NAME)
            if problems:
                raise BenchmarkMissingError("; ".join(problems))
        elif issubclass(builder_cls, ZeroShotBuilder):
            sets = configured_sets(dataset_cfg)
            absent = {set_name: set_root(set_name, sets[set_name]) for set_name in sets}
            absent = {k: v for k, v in absent.items() if not v.exists()}
            if absent and (self.strict or len(absent) == len(sets)):
                raise BenchmarkMissingError(
                    f"datasets.{name}: {len(absent)} of {len(sets)} zero-shot set folder(s) not found: "
                    + ", ".join(f"{k} ({v})" for k, v in absent.items()))
        return super()._build_dataset(name, builder_cls, dataset_cfg)

    # -------------------------------------------------------------------------- evaluation
    @torch.no_grad()
    def evaluation(self, model, data_loader, cuda_enabled=True):
        from ahnpl_plugin.datasets.zeroshot_builder import ZeroShotSuite
        from ahnpl_plugin.model_adapters import unwrap

        dataset = data_loader.dataset
        if isinstance(dataset, ZeroShotSuite):
            self.weights_provenance = dict(getattr(unwrap(model), "weights_provenance", None) or {})
            return {"zeroshot": self.zeroshot.evaluation(model, data_loader, cuda_enabled)}
        if isinstance(dataset, RetrievalEvalDataset):
            self.weights_provenance = dict(getattr(unwrap(model), "weights_provenance", None) or {})
            return {"retrieval": self.evaluate_retrieval(model, dataset, batch_size=data_loader.batch_size or 64,
                                                         num_workers=data_loader.num_workers)}
        return super().evaluation(model, data_loader, cuda_enabled)

    def evaluate_retrieval(self, model, dataset, *, batch_size: int = 64, num_workers: int = 0) -> dict:
        """``{"itc": metrics[, "itc+itm": metrics]}`` of a retrieval dataset (module docstring)."""
        from ahnpl_plugin.benchmarks.retrieval_recall import recall_metrics, retrieval_ranks
        from ahnpl_plugin.model_adapters import choice_encoder, unwrap
        from ahnpl_plugin.tasks.suite_features import retrieval_scores

        core = unwrap(model)
        scores = retrieval_scores(
            choice_encoder(core), dataset, self.cache, fingerprint=weights_fingerprint(core), k_test=self.k_test,
            batch_size=batch_size, text_batch_size=self.text_batch_size, num_workers=num_workers,
            progress=self.progress, label="retrieval")
        out = {}
        for mode, (i2t, t2i) in scores.items():
            out[mode] = recall_metrics(*retrieval_ranks(i2t, t2i, dataset.img2txt, dataset.txt2img))
            if mode == ITC_ITM:
                out[mode]["k_test"] = self.k_test
        return out

    def after_evaluation(self, val_result, split_name, epoch, **kwargs):
        if "zeroshot" in val_result:
            metrics = self.zeroshot.after_evaluation(val_result["zeroshot"], split_name, epoch)
            self.zeroshot_metrics = metrics
            metrics = {k: v for k, v in metrics.items() if k != "agg_metrics"}  # not averaged with accuracies
        elif "retrieval" in val_result:
            self.retrieval[str(split_name)] = val_result["retrieval"]
            metrics = {"model": self.model_name, **val_result["retrieval"]}
            self._write_split_json(metrics, split_name, epoch)
            logging.info("%s (epoch %s): %s", split_name, epoch, "  ".join(
                f"{mode}/{k}={m[k]:.2f}" for mode, m in val_result["retrieval"].items()
                for k in ("txt_r1", "img_r1")))
        else:
            return super().after_evaluation(val_result, split_name, epoch, **kwargs)
        self._write_results_md()
        return metrics

    # ----------------------------------------------------------------------------- reports
    def _write_split_json(self, metrics: dict, split_name, epoch) -> None:
        from lavis.common.dist_utils import is_main_process

        result_dir = registry.get_path("result_dir")
        if is_main_process() and result_dir and os.path.isdir(result_dir):
            stem = f"{str(split_name).replace('/', '_')}_epoch{epoch}"
            with open(os.path.join(result_dir, stem + ".json"), "w") as f:
                json.dump(metrics, f, indent=2, default=float)

    def _write_results_md(self) -> None:
        from lavis.common.dist_utils import is_main_process

        output_dir = registry.get_path("output_dir")
        if is_main_process() and output_dir and os.path.isdir(output_dir):
            with open(os.path.join(output_dir, "results.md"), "w") as f:
                f.write(self.run_report(output_dir))

    def run_report(self, output_dir: str, zero_shot_retention: float | None = None, sections=()) -> str:
        ratio = zero_shot_ratio(self.zeroshot_metrics) if zero_shot_retention is None else zero_shot_retention
        return super().run_report(output_dir, ratio, [*self.suite_sections(ratio), *sections])

    def suite_sections(self, ratio: float | None) -> list[str]:
        """The zero-shot and retrieval sections of results.md (those evaluated so far)."""
        from ahnpl_plugin.benchmarks.retrieval_recall import render_retrieval_table

        sections = []
        if self.zeroshot_metrics is not None:
            text = "\n## Zero-shot classification and retention\n\n" + self.zeroshot.last_table
            if ratio is not None:
                text += (f"\nThe plot's zero-shot retention (x) of this model: {ratio:.3f} = its mean over the "
                         "reference's mean on the sets above (published points: their 21-task average over CLIP "
                         "ViT-B/32's; comparable when the sets are ELEVATER's 21 and the reference is CLIP "
                         "ViT-B/32).\n")
            else:
                text += ("\nNo retention for the plot: set run.reference_model (the starting weights) to measure "
                         "it in the same run.\n")
            sections.append(text)
        if self.retrieval:
            rows = {retrieval_label(label): {("ITC" if mode == ITC else f"ITC+ITM (top {m.get('k_test')} re-ranked)"): m
                            for mode, m in by_mode.items()} for label, by_mode in self.retrieval.items()}
            sections.append(
                "\n## Image-text retrieval\n\n" + render_retrieval_table(rows)
                + "\nRecall in %, [lo–hi]: 95% Wilson interval over queries (images for i→t, captions for t→i); "
                  "RSUM/6: mean of the six recalls. A tie with a wrong candidate counts against the model. ITC+ITM: "
                  "LAVIS's BLIP score (cosine + ITM match logit) on each query's top k by ITC. Flickr30k is the "
                  "out-of-domain number for COCO-trained models.\n")
        cache = self.cache
        text = (f"\nEncoder work for this model in the whole run: {cache.encoded_images} image passes, "
                f"{cache.encoded_texts} caption/prompt encodings, {cache.scored_pairs} ITM pairs. Each distinct "
                "image (file, crop box, transform), caption and prompt is encoded once")
        if cache.scored_pairs:
            text += ("; ITM scoring (BLIP) passes the images whose pairs it scores through the image encoder "
                     "again for their tokens (not kept between datasets), and scores each distinct pair once")
        sections.append(text + ".\n")
        return sections
