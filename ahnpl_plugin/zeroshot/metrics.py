"""Zero-shot classification metrics, as the published suites compute them (numpy only).

Inputs: ``logits`` [N, C] (the model's scores per image and class: 100 x cosine similarity, as
CLIP_benchmark and ELEVATER use) and ``targets``: class ids [N] (single-label) or a 0/1 matrix
[N, C] (multi-label).

* CLIP_benchmark (``clip_benchmark/metrics/zeroshot_classification.py``): ``acc1``, ``acc5``
  (NaN when there are fewer than 5 classes), ``mean_per_class_recall`` (scikit-learn's
  ``balanced_accuracy_score`` of the argmax: mean recall over the classes that occur in the
  targets) and, for multi-label sets, ``mean_average_precision`` (non-interpolated AP per class
  on the logits, averaged over classes).
* ELEVATER (``vision_benchmark/evaluation/metric.py`` over ``vision-evaluation``): scores are
  ``softmax(logits)`` first; ``accuracy`` (top-1), ``mean-per-class`` (balanced accuracy),
  ``11point_mAP`` (per class: precision-recall curve as scikit-learn's
  ``precision_recall_curve`` gives it, precision interpolated at recall 1.0, 0.9, ..., 0.0 as the
  running maximum, mean of the 11 values -- the point at recall 0 is always 1 there, because that
  curve ends in (recall 0, precision 1) -- then the mean over classes) and ``roc_auc``
  (two classes: AUC of the second class's probability; ties count one half).

Ties in the ranking metrics follow scikit-learn (tied scores form one threshold). Top-k breaks
ties by the lower class index.
"""

from __future__ import annotations

import numpy as np

ELEVATER_RECALL_POINTS = np.linspace(1, 0, 11, endpoint=True).tolist()  # as vision-evaluation


def _as_logits(logits) -> np.ndarray:
    array = np.asarray(logits, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"logits must be [N, C], got shape {array.shape}")
    return array


def _labels(targets, n: int) -> np.ndarray:
    labels = np.asarray(targets)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise ValueError(f"single-label targets must be [N={n}] class ids, got shape {labels.shape}")
    return labels.astype(np.int64)


def one_hot(labels, num_classes: int) -> np.ndarray:
    """[N, C] 0/1 matrix of class ids (a 2-D 0/1 matrix is returned as is)."""
    labels = np.asarray(labels)
    if labels.ndim == 2:
        return (labels > 0).astype(np.int64)
    matrix = np.zeros((labels.shape[0], num_classes), dtype=np.int64)
    matrix[np.arange(labels.shape[0]), labels.astype(np.int64)] = 1
    return matrix


def softmax(logits) -> np.ndarray:
    """Row-wise softmax (ELEVATER's ``(100 * image @ text).softmax(dim=-1)``)."""
    array = _as_logits(logits)
    shifted = np.exp(array - array.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def top_k_hits(logits, targets, k: int) -> np.ndarray:
    """Per image: is its class among the k highest scores (a tie ranks the lower class index
    first)? Its rank is counted, not sorted for: O(images x classes)."""
    array = _as_logits(logits)
    labels = _labels(targets, array.shape[0])
    own = array[np.arange(array.shape[0]), labels][:, None]
    before = (array > own).sum(axis=1) + ((array == own) & (np.arange(array.shape[1]) < labels[:, None])).sum(axis=1)
    return before < k


def top_k_accuracy(logits, targets, k: int) -> float:
    """Fraction of images whose class is among the k highest scores; NaN if k > classes
    (CLIP_benchmark reports acc5 = NaN for fewer than 5 classes)."""
    array = _as_logits(logits)
    if k > array.shape[1]:
        return float("nan")
    return float(top_k_hits(array, targets, k).mean())


def mean_per_class_recall(logits, targets) -> float:
    """Mean over the classes present in ``targets`` of the fraction of their images predicted as
    them (argmax; scikit-learn's ``balanced_accuracy_score``)."""
    array = _as_logits(logits)
    labels = _labels(targets, array.shape[0])
    predicted = array.argmax(axis=1)
    recalls = [float((predicted[labels == c] == c).mean()) for c in np.unique(labels)]
    return float(np.mean(recalls))


def _curve(scores: np.ndarray, positives: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(true positives, false positives)`` at each distinct score threshold, highest first
    (scikit-learn's ``_binary_clf_curve``)."""
    order = np.argsort(scores, kind="mergesort")[::-1]
    scores, positives = scores[order], positives[order]
    last_of_each_value = np.r_[np.where(np.diff(scores))[0], scores.size - 1]
    tps = np.cumsum(positives)[last_of_each_value]
    fps = 1 + last_of_each_value - tps
    return tps.astype(np.float64), fps.astype(np.float64)


def precision_recall_curve(scores, positives) -> tuple[np.ndarray, np.ndarray]:
    """``(precision, recall)`` as scikit-learn's ``precision_recall_curve``: recall decreasing,
    ending in the point (recall 0, precision 1). No positive at all: recall is 1 everywhere."""
    tps, fps = _curve(np.asarray(scores, dtype=np.float64), np.asarray(positives, dtype=np.int64))
    precision = tps / (tps + fps)
    recall = tps / tps[-1] if tps[-1] > 0 else np.ones_like(tps)
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0]


def interpolated_precision(scores, positives, recall_points=ELEVATER_RECALL_POINTS) -> np.ndarray:
    """Precision at each recall point: the highest precision at a recall >= the point
    (vision-evaluation's ``_calc_precision_recall_interp``)."""
    precision, recall = precision_recall_curve(scores, positives)
    running_max = np.maximum.accumulate(precision)  # recall is non-increasing along the curve
    reached = (recall[None, :] >= np.asarray(recall_points)[:, None]).sum(axis=1)  # leading points >= each
    return np.where(reached > 0, running_max[np.maximum(reached - 1, 0)], 0.0)


def map_11_points(logits, targets) -> float:
    """ELEVATER's ``11point_mAP``: softmax scores, 11-point interpolated AP per class, averaged."""
    probabilities = softmax(logits)
    truth = one_hot(targets, probabilities.shape[1])
    if truth.shape != probabilities.shape:
        raise ValueError(f"multi-label targets must be [N, C]={probabilities.shape}, got {truth.shape}")
    return float(np.mean([
        interpolated_precision(probabilities[:, c], truth[:, c]).mean() for c in range(truth.shape[1])
    ]))


def average_precision(scores, positives) -> float:
    """Non-interpolated AP: mean precision at the rank of each positive (CLIP_benchmark's
    ``average_precision_per_class``; 0 for a class without positives)."""
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(positives, dtype=np.int64)[np.argsort(-scores, kind="stable")]
    precision = np.cumsum(truth) / np.arange(1, truth.size + 1)
    return float(precision[truth.astype(bool)].sum() / max(int(truth.sum()), 1))


def mean_average_precision(logits, targets) -> float:
    """CLIP_benchmark's multi-label ``mean_average_precision`` (AP on the logits, class mean)."""
    array = _as_logits(logits)
    truth = one_hot(targets, array.shape[1])
    return float(np.mean([average_precision(array[:, c], truth[:, c]) for c in range(array.shape[1])]))


def roc_auc(logits, targets) -> float:
    """ELEVATER's ``roc_auc`` for a two-class set: AUC of softmax probability of class 1
    (the probability that a random positive outranks a random negative, ties one half)."""
    array = _as_logits(logits)
    labels = _labels(targets, array.shape[0])
    if array.shape[1] != 2:
        raise ValueError(f"roc_auc is defined here for two-class sets (ELEVATER: hateful memes); got {array.shape[1]} classes")
    score = softmax(array)[:, 1]
    positive, negative = score[labels == 1], score[labels == 0]
    if positive.size == 0 or negative.size == 0:
        return float("nan")
    greater = (positive[:, None] > negative[None, :]).sum()
    ties = (positive[:, None] == negative[None, :]).sum()
    return float((greater + 0.5 * ties) / (positive.size * negative.size))


# --------------------------------------------------------------------------- metric names
# Metric names as the suites spell them (ELEVATER's METRIC values; CLIP_benchmark's result keys).
METRICS = {
    "accuracy": lambda logits, targets: top_k_accuracy(logits, targets, 1),
    "acc1": lambda logits, targets: top_k_accuracy(logits, targets, 1),
    "acc5": lambda logits, targets: top_k_accuracy(logits, targets, 5),
    "mean-per-class": mean_per_class_recall,
    "mean_per_class_recall": mean_per_class_recall,
    "11point_mAP": map_11_points,
    "roc_auc": roc_auc,
    "mean_average_precision": mean_average_precision,
}
SINGLE_LABEL_ONLY = {"accuracy", "acc1", "acc5", "mean-per-class", "mean_per_class_recall", "roc_auc"}


def compute(metric: str, logits, targets) -> float:
    """One named metric (:data:`METRICS`); ValueError for an unknown name."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; valid: {', '.join(sorted(METRICS))}")
    return METRICS[metric](logits, targets)


def suite_metrics(logits, targets, headline: str, multilabel: bool = False) -> dict:
    """Every metric reported for one set: CLIP_benchmark's (acc1, acc5, mean_per_class_recall;
    multi-label: mean_average_precision) plus ``headline`` (the suite's metric for this set)."""
    if multilabel:
        if headline in SINGLE_LABEL_ONLY:
            raise ValueError(f"metric {headline!r} needs single-label targets; this set is multi-label")
        names = ["mean_average_precision"]
    else:
        names = ["acc1", "acc5", "mean_per_class_recall"]
    if headline not in names:
        names.append(headline)
    return {name: compute(name, logits, targets) for name in names}
