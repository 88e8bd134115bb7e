"""Training curves that do not mislead: raw values under a labelled smoothed line, the learning
rate exact, switched-off terms left out (and said so), identical lines merged and the others
distinguishable, the whole of metrics.jsonl on one step axis."""

from __future__ import annotations

import json
import math

from ahnpl_plugin.plotting import centred_mean, curve_panels, plot_training_curves


def _lr(step: int) -> float:
    """Warm-up to 1e-3 at step 100, then cosine down to 0 at step 300 (the demo's shape)."""
    if step <= 100:
        return 1e-3 * step / 100
    return 0.5e-3 * (1 + math.cos(math.pi * (step - 100) / 200))


def _rows(steps, **extra):
    rows = []
    for s in steps:
        row = {"epoch": 0, "step": s, "loss_itc": 2.0 + (s % 2), "loss_hn": 0.0, "loss": 3.0 + (s % 2),
               "theta/relation": min(10.0, s / 10), "theta/adj_swap": min(10.0, s / 10),
               "theta/adj": min(10.0, s / 20), "theta/verb": 0.0, "lr": _lr(s)}
        row.update(extra)
        rows.append(row)
    return rows


def _panel(panels, title):
    (panel,) = [p for p in panels if p.title.startswith(title)]
    return panel


def test_learning_rate_is_drawn_raw_so_its_peak_stays_at_step_100_and_1e_3():
    """The trailing 20-step mean put the peak at step ~110 and 0.00098."""
    (lr,) = _panel(curve_panels(_rows(range(1, 301))), "learning rate").series
    assert not lr.smoothed
    peak = max(range(len(lr.values)), key=lr.values.__getitem__)
    assert lr.steps[peak] == 100 and lr.values[peak] == 1e-3


def test_noisy_series_keep_raw_values_and_a_centred_mean_labelled_with_its_window():
    panels = curve_panels(_rows(range(1, 301)), smooth=20)
    (itc,) = [s for s in _panel(panels, "losses").series if s.label == "loss_itc"]
    assert itc.values[:4] == [3.0, 2.0, 3.0, 2.0]  # raw, as logged
    assert itc.smooth_label == "loss_itc (centred mean over 20 steps)"
    assert itc.smoothed == [2.5] * len(itc.smoothed)  # alternating 2/3 averages to 2.5 exactly
    assert itc.smoothed_steps[0] == 11 and itc.smoothed_steps[-1] == 291  # centred: window [1, 20] -> 11


def test_centred_mean_keeps_a_peak_in_place():
    values = [0, 0, 0, 0, 9, 0, 0, 0, 0]
    idx, means = centred_mean(values, 3)
    assert idx == [1, 2, 3, 4, 5, 6, 7] and means[idx.index(4)] == 3.0
    assert max(means) == means[idx.index(3)] == means[idx.index(4)] == means[idx.index(5)]


def test_switched_off_terms_are_not_drawn_but_named():
    panels = curve_panels(_rows(range(1, 41)))
    losses, thetas = _panel(panels, "losses"), _panel(panels, "adaptive")
    assert "loss_hn" not in [s.label for s in losses.series] and losses.omitted == ["loss_hn"]
    assert thetas.omitted == ["verb"] and thetas.note == "not drawn (0 throughout): verb"


def test_identical_thresholds_are_one_labelled_line_and_the_others_differ_in_style():
    thetas = _panel(curve_panels(_rows(range(1, 201))), "adaptive").series
    assert [s.label for s in thetas] == ["relation = adj_swap", "adj"]
    assert len({(s.style, s.marker) for s in thetas}) == 2


def test_a_resumed_runs_file_is_drawn_whole_on_one_step_axis(tmp_path):
    """Steps 1-6 of the first run, its steps 5-6 trained again after resuming from step 4, then
    7-8; validation lines in between are not training steps."""
    rows = _rows(range(1, 7)) + [{"split": "val", "epoch": 0, "agg_metrics": 0.5}]
    rows += _rows(range(5, 9), loss_itc=7.0)
    (itc,) = [s for s in _panel(curve_panels(rows), "losses").series if s.label == "loss_itc"]
    assert itc.steps == [1, 2, 3, 4, 5, 6, 7, 8]
    assert itc.values[4:] == [7.0] * 4  # the resumed run's rows for steps it trained again
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    png = plot_training_curves(path, tmp_path)
    assert png == tmp_path / "training_curves.png" and png.read_bytes()[:4] == b"\x89PNG"


def test_nothing_logged_gives_no_plot(tmp_path):
    assert plot_training_curves(tmp_path / "missing.jsonl", tmp_path) is None
    assert curve_panels([{"split": "val", "agg_metrics": 1.0}]) == []
