"""Training curves (loss components, adaptive thresholds in logits and divided by the logit scale,
learning rate) as one PNG."""

from __future__ import annotations

import json
from pathlib import Path


def read_metrics(path: Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def plot_training_curves(metrics_path: Path, out_dir: Path, smooth: int = 20) -> Path | None:
    """Write ``training_curves.png`` from a runner's ``metrics.jsonl``; None if nothing logged."""
    rows = read_metrics(metrics_path)
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    steps = np.array([r["step"] for r in rows])
    loss_keys = [k for k in rows[0] if k.startswith("loss")]
    theta_keys = [k for k in rows[0] if k.startswith("theta/")]
    # theta is in logits and s is learned: theta / s is the margin in cosine units
    scaled_keys = [f"{k} / s" for k in theta_keys] if "logit_scale" in rows[0] else []
    for row in rows if scaled_keys else ():
        for key in theta_keys:
            row[f"{key} / s"] = row.get(key, float("nan")) / row["logit_scale"]
    panels = [("losses", loss_keys), ("adaptive thresholds (logits)", theta_keys),
              ("thresholds / logit scale (cosine)", scaled_keys), ("learning rate", ["lr"])]
    panels = [(t, ks) for t, ks in panels if ks]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    window = max(1, min(smooth, len(rows) // 10 or 1))
    kernel = np.ones(window) / window
    for ax, (title, keys) in zip(axes[0], panels):
        for key in keys:
            values = np.array([r.get(key, np.nan) for r in rows], dtype=float)
            if window > 1 and len(values) > window:
                values = np.convolve(values, kernel, mode="valid")
                xs = steps[window - 1:]
            else:
                xs = steps
            ax.plot(xs, values, label=key.replace("theta/", "").replace(" / s", ""))
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    out = Path(out_dir) / "training_curves.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
