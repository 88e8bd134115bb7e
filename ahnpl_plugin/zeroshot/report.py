"""The zero-shot results table: one row per set, the evaluated model beside the starting weights
and the retention (evaluated minus starting, in points), then the mean over the sets."""

from __future__ import annotations

import math

from ahnpl_plugin.zeroshot.protocols import ELEVATER_METRIC, elevater_name

DASH = "–"


def _pct(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    return f"{100.0 * value:.1f}"


def _diff(value, reference) -> str:
    if value is None or reference is None or math.isnan(value) or math.isnan(reference):
        return DASH
    return f"{100.0 * (value - reference):+.1f}"


def _with_interval(text: str, interval, signed: bool = False) -> str:
    """``text [lo, hi]`` (points) when an interval is known."""
    if text == DASH or not interval or any(v is None or math.isnan(v) for v in interval):
        return text
    fmt = "{:+.1f}" if signed else "{:.1f}"
    return f"{text} [{fmt.format(100.0 * interval[0])}, {fmt.format(100.0 * interval[1])}]"


def mean_score(results: dict) -> float | None:
    """Mean headline score over the sets (None when there are none; NaN scores left out)."""
    scores = [r["score"] for r in results.values() if not math.isnan(r["score"])]
    return sum(scores) / len(scores) if scores else None


def suite_note(names) -> str:
    """Which of ELEVATER's 21 sets (vl_compo's "21 tasks") the run covers."""
    covered = {elevater_name(n) for n in names} - {None}
    missing = sorted(set(ELEVATER_METRIC) - covered)
    if not missing:
        return "All 21 ELEVATER sets (20 + ImageNet-1k): the mean is vl_compo's 21-task average."
    return (f"{len(covered)} of the 21 ELEVATER sets; missing: {', '.join(missing)}. The mean is over "
            "the sets evaluated here, not the published 21-task average.")


def render_zeroshot_table(results: dict, model_name: str, reference: dict | None = None,
                          reference_name: str | None = None, intervals: dict | None = None) -> str:
    """Markdown: per set its headline metric, the model's score, the reference's and the
    retention (model minus reference) when a reference was evaluated; then the means. With
    ``intervals`` (:func:`ahnpl_plugin.zeroshot.intervals.set_intervals`), each cell carries its
    95% interval in brackets."""
    with_ref = bool(reference)
    per_set = (intervals or {}).get("sets", {})
    mean_iv = (intervals or {}).get("mean", {})
    head = ["set", "metric", "images", model_name]
    if with_ref:
        head += [reference_name or "start", "retention"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 3 + "---:|" * (len(head) - 3)]
    for name, result in results.items():
        iv = per_set.get(name, {})
        row = [name, result["headline"], str(result["images"]), _with_interval(_pct(result["score"]), iv.get("score"))]
        if with_ref:
            ref = reference.get(name)
            ref_score = None if ref is None else ref["score"]
            row += [_with_interval(_pct(ref_score), iv.get("reference")),
                    _with_interval(_diff(result["score"], ref_score), iv.get("retention"), signed=True)]
        lines.append("| " + " | ".join(row) + " |")
    mean = mean_score(results)
    row = [f"**mean of {len(results)}**", "", "", _with_interval(_pct(mean), mean_iv.get("score"))]
    if with_ref:
        ref_mean = mean_score({k: v for k, v in reference.items() if k in results})
        row += [_with_interval(_pct(ref_mean), mean_iv.get("reference")),
                _with_interval(_diff(mean, ref_mean), mean_iv.get("retention"), signed=True)]
    lines.append("| " + " | ".join(row) + " |")
    text = "\n".join(lines) + "\n\n" + suite_note(results) + "\n"
    text += ("\nMetrics: ELEVATER's per-set choice (accuracy, mean-per-class recall, 11-point mAP, ROC-AUC); "
             "other sets: top-1 accuracy. Every CLIP_benchmark metric (acc1, acc5, mean_per_class_recall) "
             "is in results.json.\n")
    if with_ref:
        text += "Retention: the evaluated weights minus the starting weights, in points, same run and data.\n"
    if intervals:
        text += ("[lo, hi]: 95% percentile-bootstrap interval over the set's images (retention: paired, the same "
                 "resampled images for both models; means: sets resampled independently).\n")
    return text
