"""training_curves.png also shows theta divided by the logit scale (issue 20 item 3)."""

import json

from ahnpl_plugin.plotting import plot_training_curves


def test_curves_include_thresholds_over_logit_scale(tmp_path, monkeypatch):
    rows = [{"step": i, "loss": 1.0 / i, "theta/relation": 10.0, "logit_scale": 10.0 * i, "lr": 1e-3} for i in range(1, 5)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    plotted = []
    import matplotlib.axes

    original = matplotlib.axes.Axes.plot

    def spy(self, xs, ys, *args, **kwargs):
        plotted.append(list(ys))
        return original(self, xs, ys, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "plot", spy)
    assert plot_training_curves(tmp_path / "metrics.jsonl", tmp_path, smooth=1).name == "training_curves.png"
    assert [1.0, 0.5, 1 / 3, 0.25] in plotted  # theta 10 / s for s = 10, 20, 30, 40
    assert [10.0] * 4 in plotted  # theta itself, in logits
