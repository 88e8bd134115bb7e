"""``ahnpl_zeroshot``: zero-shot classification retention of any registered CLIP/BLIP model.

Evaluates the :class:`~ahnpl_plugin.datasets.zeroshot_builder.ZeroShotSuite` of the
``ahnpl_zeroshot`` builder, set by set (:func:`ahnpl_plugin.zeroshot.evaluate.score_set`): the
classifier from the set's own class names and templates, image features of every image, the
published suites' metrics (all of CLIP_benchmark's plus ELEVATER's per-set headline).

``run.reference_model`` (a ``model:`` mapping, e.g. the starting weights
``{arch: ahnpl_clip, model_type: ViT-B-32, pretrained: openai}``) is evaluated on the same sets in
the same run (once per run; it must preprocess images as the evaluated model does), and the
results show retention = evaluated minus reference, per set and for the mean.

Returned metrics: ``{<set>: {headline, score, metrics, images, classes, ...}, "mean": ...,
"agg_metrics": mean headline score}`` and, with a reference, ``reference`` (same layout, with
``model``) and ``retention`` (per set and ``mean``); ``intervals``: 95% percentile-bootstrap
intervals over images of each score, the reference's and the retention (paired), and of the means
(:mod:`ahnpl_plugin.zeroshot.intervals`; ``run.bootstrap`` replicates per set, default 1000, 0 =
none). Reports: ``<result_dir>/<split>_epoch<e>.json``
and ``.md``, and ``results.md`` in the run folder.
"""

from __future__ import annotations

import json
import logging
import os

import torch
from lavis.common.registry import registry
from lavis.tasks.base_task import BaseTask
from omegaconf import OmegaConf

from ahnpl_plugin.errors import ConfigError
from ahnpl_plugin.tasks.compositional import (
    DEFAULT_TEXT_BATCH,
    fill_model_processors,
    model_display_name,
    model_eval_processors,
)
from ahnpl_plugin.zeroshot.evaluate import set_logits, set_result
from ahnpl_plugin.zeroshot.intervals import REPLICATES, evidence, set_intervals
from ahnpl_plugin.zeroshot.report import mean_score, render_zeroshot_table


def suite_parts(dataset) -> list:
    """The zero-shot sets of a split (a ZeroShotSuite's parts, or one ZeroShotImages)."""
    from ahnpl_plugin.zeroshot.evaluate import ZeroShotImages

    parts = getattr(dataset, "parts", None) or [dataset]
    for part in parts:
        if not isinstance(part, ZeroShotImages):
            raise ConfigError(f"task ahnpl_zeroshot evaluates datasets of builder ahnpl_zeroshot; got {type(part).__name__}")
    return parts


def reference_model_config(run_cfg):
    """``run.reference_model`` merged over its model type's default YAML (None when unset)."""
    ref = run_cfg.get("reference_model")
    if not ref:
        return None
    if not ref.get("arch"):
        raise ConfigError("run.reference_model.arch is required (e.g. ahnpl_clip)")
    cls = registry.get_model_class(ref.arch)
    if cls is None:
        raise ConfigError(f"run.reference_model.arch: unknown model {ref.arch!r}")
    model_type = ref.get("model_type") or "base"
    default = OmegaConf.load(cls.default_config_path(model_type)).get("model") or {}
    return OmegaConf.merge(default, ref)


@registry.register_task("ahnpl_zeroshot")
class ZeroShotTask(BaseTask):
    writes_results_md = True  # task ahnpl_suite writes one results.md of its own
    def __init__(self, text_batch_size: int = DEFAULT_TEXT_BATCH, progress: bool = True, model_name: str = "model",
                 reference_cfg=None, bootstrap: int = REPLICATES):
        super().__init__()
        self.bootstrap = int(bootstrap)  # replicates per set for the 95% intervals; 0: none
        self.text_batch_size = int(text_batch_size)
        self.progress = bool(progress)
        self.model_name = model_name
        self.reference_cfg = reference_cfg
        self.reference_name = model_display_name(reference_cfg, {}) if reference_cfg is not None else None
        if reference_cfg is not None and self.reference_name == model_name:
            self.reference_name += " [reference]"
        self._reference = None
        self._reference_results: dict = {}  # set name -> result (the reference's weights never change)

    @classmethod
    def setup_task(cls, cfg=None, **kwargs):
        if cfg is None:
            return cls()
        run_cfg = cfg.run_cfg
        reference = reference_model_config(run_cfg)
        if reference is not None:
            mine, theirs = model_eval_processors(cfg.model_cfg), model_eval_processors(reference)
            if mine.get("vis_processor") != theirs.get("vis_processor"):
                raise ConfigError(
                    f"run.reference_model preprocesses images as {theirs.get('vis_processor')}, the model as "
                    f"{mine.get('vis_processor')}: the reference must be the same architecture (its starting weights)"
                )
            same = OmegaConf.to_container(reference, resolve=True) == OmegaConf.to_container(cfg.model_cfg, resolve=True)
            if same and not (run_cfg.get("checkpoint") or run_cfg.get("resume_ckpt_path")):
                logging.warning("run.reference_model is the model itself and no run.checkpoint is set: "
                                "the retention will be 0 (set run.checkpoint to the fine-tuned weights)")
        return cls(
            text_batch_size=max(DEFAULT_TEXT_BATCH, int(run_cfg.get("batch_size_eval", 64)) * 4),
            progress=bool(run_cfg.get("progress", True)),
            model_name=model_display_name(cfg.model_cfg, run_cfg),
            reference_cfg=reference,
            bootstrap=int(run_cfg.get("bootstrap", REPLICATES)),
        )

    def build_datasets(self, cfg):
        """LAVIS's build, after giving ``ahnpl_zeroshot`` the model's eval image processor where its
        config sets none."""
        from ahnpl_plugin.datasets.zeroshot_builder import ZeroShotBuilder

        fill_model_processors(cfg, ZeroShotBuilder, keys=("vis_processor",))
        return super().build_datasets(cfg)

    # -------------------------------------------------------------------------- evaluation
    def reference_model(self, device):
        """The reference model, built on first use, on ``device``, in eval mode."""
        if self._reference is None:
            cls = registry.get_model_class(self.reference_cfg.arch)
            logging.info("building the reference model %s", self.reference_name)
            self._reference = cls.from_config(self.reference_cfg).to(device).eval()
        return self._reference

    def score_parts(self, model, parts, *, batch_size: int, num_workers: int) -> dict:
        """``{set: (result, bootstrap evidence)}`` of one model."""
        from ahnpl_plugin.model_adapters import choice_encoder

        encoder = choice_encoder(model)
        scored = {}
        for part in parts:
            logits = self.part_logits(model, encoder, part, batch_size=batch_size, num_workers=num_workers)
            scored[part.dataset_name] = (set_result(part, logits), evidence(part.headline, logits, part.set.targets))
        return scored

    def part_logits(self, model, encoder, part, *, batch_size: int, num_workers: int):
        """[N, C] logits of ``model`` on one set (task ahnpl_suite: through its feature cache)."""
        return set_logits(encoder, part, batch_size=batch_size, text_batch_size=self.text_batch_size,
                          num_workers=num_workers, progress=self.progress)

    @torch.no_grad()
    def evaluation(self, model, data_loader, cuda_enabled=True):
        from ahnpl_plugin.model_adapters import choice_encoder, unwrap

        parts = suite_parts(data_loader.dataset)
        batch_size, workers = data_loader.batch_size or 64, data_loader.num_workers
        scored = self.score_parts(unwrap(model), parts, batch_size=batch_size, num_workers=workers)
        output = {"results": {k: v[0] for k, v in scored.items()},
                  "not_evaluated": dict(getattr(data_loader.dataset, "not_evaluated", {}) or {})}
        evidence_ref = None
        if self.reference_cfg is not None:
            device = choice_encoder(unwrap(model)).device
            todo = [p for p in parts if p.dataset_name not in self._reference_results]
            if todo:
                reference = self.reference_model(device)
                self._reference_results.update(
                    self.score_parts(reference, todo, batch_size=batch_size, num_workers=workers))
            output["reference"] = {p.dataset_name: self._reference_results[p.dataset_name][0] for p in parts}
            evidence_ref = {p.dataset_name: self._reference_results[p.dataset_name][1] for p in parts}
        if self.bootstrap > 0:
            output["intervals"] = set_intervals({k: v[1] for k, v in scored.items()}, evidence_ref,
                                                count=self.bootstrap)
        return output

    def after_evaluation(self, val_result, split_name, epoch, **kwargs):
        results, reference = val_result["results"], val_result.get("reference")
        intervals = val_result.get("intervals")
        mean = mean_score(results)
        metrics = {name: {"model": self.model_name, **result} for name, result in results.items()}
        metrics["mean"] = mean
        if mean is not None:
            metrics["agg_metrics"] = mean
        if reference:
            ref_mean = mean_score(reference)
            metrics["reference"] = {"model": self.reference_name, "mean": ref_mean, **reference}
            retention = {name: results[name]["score"] - reference[name]["score"] for name in results}
            if mean is not None and ref_mean is not None:
                retention["mean"] = mean - ref_mean
            metrics["retention"] = retention
        not_evaluated = val_result.get("not_evaluated") or {}
        if not_evaluated:
            metrics["not_evaluated"] = not_evaluated
        if intervals is not None:
            metrics["intervals"] = {"method": f"percentile bootstrap over images, {self.bootstrap} replicates "
                                              "(paired for retention)", **intervals}
        self._write_reports(metrics, results, reference, split_name, epoch, intervals, not_evaluated)
        logging.info("%s (epoch %s): %s", split_name, epoch, "  ".join(
            f"{name}/{r['headline']}={r['score']:.4f}" for name, r in results.items()))
        return metrics

    def _write_reports(self, metrics, results, reference, split_name, epoch, intervals=None,
                       not_evaluated=None) -> None:
        from lavis.common.dist_utils import is_main_process

        if not is_main_process():
            return
        table = render_zeroshot_table(results, self.model_name, reference, self.reference_name, intervals)
        if not_evaluated:
            table += "\nNot evaluated (left out of the mean):\n" + "".join(
                f"- {name}: {why}\n" for name, why in not_evaluated.items())
        self.last_table = table  # task ahnpl_suite puts it into its own results.md
        text = f"# Zero-shot classification: {self.model_name}\n\n{table}"
        result_dir = registry.get_path("result_dir")
        if result_dir and os.path.isdir(result_dir):
            stem = os.path.join(result_dir, f"{str(split_name).replace('/', '_')}_epoch{epoch}")
            with open(stem + ".json", "w") as f:
                json.dump(metrics, f, indent=2, default=float)
            with open(stem + ".md", "w") as f:
                f.write(text)
        output_dir = registry.get_path("output_dir")
        if self.writes_results_md and output_dir and os.path.isdir(output_dir):
            with open(os.path.join(output_dir, "results.md"), "w") as f:
                f.write(text)
