"""95% intervals of zero-shot scores: a percentile bootstrap over a set's images.

Every metric gets the same method (images resampled with replacement, the metric recomputed):
the suites' metrics are not all proportions (mean per-class recall, 11-point mAP, ROC-AUC).
Per-image metrics (top-1/top-5 accuracy, mean per-class recall) are resampled from a per-image
hit vector, so a replicate costs O(images) even for ImageNet; the others recompute on the
resampled rows of the logits (their sets are small: VOC 2007, hateful memes).

Retention (evaluated minus reference on the same images) gets a paired interval: each replicate
resamples the same images for both models. The mean over sets: each set's replicates are drawn
independently (seed + set position), and the mean is taken replicate by replicate.
"""

from __future__ import annotations

import numpy as np

from ahnpl_plugin.zeroshot import metrics as zs_metrics

REPLICATES = 1000
SEED = 0
PER_IMAGE = {"acc1": 1, "accuracy": 1, "acc5": 5, "mean-per-class": 1, "mean_per_class_recall": 1}
PER_CLASS = {"mean-per-class", "mean_per_class_recall"}


def evidence(metric: str, logits: np.ndarray, targets: np.ndarray) -> dict:
    """What the bootstrap of ``metric`` needs from one model on one set (hits or logits)."""
    targets = np.asarray(targets)
    if metric in PER_IMAGE and targets.ndim == 1:
        k = PER_IMAGE[metric]
        if k > logits.shape[1]:
            return {"metric": metric, "nan": True, "n": len(targets)}
        hits = zs_metrics.top_k_hits(logits, targets, k)
        return {"metric": metric, "hits": hits, "labels": targets.astype(np.int64), "n": len(targets)}
    return {"metric": metric, "logits": np.asarray(logits), "targets": targets, "n": len(targets)}


def _value(data: dict, index: np.ndarray) -> float:
    if data.get("nan"):
        return float("nan")
    if "hits" in data:
        hits = data["hits"][index]
        if data["metric"] not in PER_CLASS:
            return float(hits.mean())
        labels = data["labels"][index]
        counts = np.bincount(labels)
        present = counts > 0
        return float((np.bincount(labels, weights=hits, minlength=len(counts))[present] / counts[present]).mean())
    return zs_metrics.compute(data["metric"], data["logits"][index], data["targets"][index])


def replicates(data: dict, reference: dict | None = None, *, count: int = REPLICATES,
               seed: int = SEED) -> tuple[np.ndarray, np.ndarray | None]:
    """Bootstrap values of one set for the model (and the reference, on the same resamples)."""
    if reference is not None and reference["n"] != data["n"]:
        raise ValueError(f"paired bootstrap: {data['n']} images against {reference['n']}")
    rng = np.random.default_rng(seed)
    mine, theirs = np.empty(count), np.empty(count) if reference is not None else None
    for b in range(count):
        index = rng.integers(0, data["n"], data["n"])
        mine[b] = _value(data, index)
        if reference is not None:
            theirs[b] = _value(reference, index)
    return mine, theirs


def percentile_interval(values: np.ndarray) -> tuple[float, float]:
    """2.5th and 97.5th percentiles of the finite values (NaNs when there are none)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if not values.size:
        return float("nan"), float("nan")
    return float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975))


def set_intervals(model: dict, reference: dict | None = None, *, count: int = REPLICATES,
                  seeds: dict | None = None) -> dict:
    """``{"sets": {name: {"score": (lo, hi), "reference": (lo, hi), "retention": (lo, hi)}},
    "mean": {...}}`` from per-set :func:`evidence` of the model (and reference)."""
    out, mine_all, theirs_all = {}, [], []
    for position, name in enumerate(model):
        seed = SEED + position if seeds is None else seeds[name]
        ref = None if reference is None else reference.get(name)
        mine, theirs = replicates(model[name], ref, count=count, seed=seed)
        entry = {"score": percentile_interval(mine)}
        if theirs is not None:
            entry["reference"] = percentile_interval(theirs)
            entry["retention"] = percentile_interval(mine - theirs)
            theirs_all.append(theirs)
        mine_all.append(mine)
        out[name] = entry
    result = {"sets": out}
    if mine_all:
        mean_mine = np.nanmean(np.stack(mine_all), axis=0) if len(mine_all) > 1 else mine_all[0]
        result["mean"] = {"score": percentile_interval(mean_mine)}
        if len(theirs_all) == len(mine_all):
            mean_theirs = np.nanmean(np.stack(theirs_all), axis=0) if len(theirs_all) > 1 else theirs_all[0]
            result["mean"]["reference"] = percentile_interval(mean_theirs)
            result["mean"]["retention"] = percentile_interval(mean_mine - mean_theirs)
    return result
