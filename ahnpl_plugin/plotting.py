"""Training curves (loss components, adaptive thresholds, learning rate) as one PNG.

What the plot shows is what ``metrics.jsonl`` holds, read one way:

* x is the ``step`` of the rows (1 = the first training step), the whole file: a resumed run whose
  file covers the whole run is drawn from step 1; a step logged twice (an interrupted run's steps
  after its checkpoint, then trained again) is drawn once, with its last row.
* Noisy series (losses, thresholds) are drawn raw (thin, faint) with a centred moving mean over
  them, whose window the legend names; the learning rate is drawn raw only (it is exact).
* Series that are 0 throughout (a switched-off loss, a type without negatives) are not drawn; the
  panel lists them. Series identical throughout are drawn once, labelled ``a = b``; the others get
  their own line style and markers, so lines at the same bound stay distinguishable.

:func:`curve_panels` computes all of it without matplotlib; :func:`plot_training_curves` draws it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

LINE_STYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "x", "P", "*")


@dataclass
class Series:
    label: str
    steps: list[int]
    values: list[float]
    style: str = "-"
    marker: str = ""
    smoothed_steps: list[float] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)
    smooth_label: str = ""


@dataclass
class Panel:
    title: str
    series: list[Series]
    omitted: list[str]  # series left out: 0 throughout

    @property
    def note(self) -> str:
        return f"not drawn (0 throughout): {', '.join(self.omitted)}" if self.omitted else ""


def read_metrics(path: Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        return []
    from ahnpl_plugin.data.jsonio import read_jsonl

    return read_jsonl(path)


def training_rows(rows: list[dict]) -> list[dict]:
    """The training-step rows (validation/test lines left out), one per step (its last), by step."""
    by_step = {}
    for row in rows:
        if "step" in row and "split" not in row and any(k.startswith("loss") for k in row):
            by_step[int(row["step"])] = row
    return [by_step[s] for s in sorted(by_step)]


def centred_mean(values: list[float], window: int) -> tuple[list[int], list[float]]:
    """``(indices, means)``: the mean of each full window of ``window`` values, placed at its centre
    index (so a peak stays where it is), over the positions where a full window fits."""
    half = window // 2
    out_idx, out = [], []
    for centre in range(half, len(values) - (window - 1 - half)):
        chunk = values[centre - half: centre - half + window]
        out_idx.append(centre)
        out.append(sum(chunk) / window)
    return out_idx, out


def _keys(rows: list[dict], prefix: str) -> list[str]:
    seen = []
    for row in rows:
        for key in row:
            if key.startswith(prefix) and key not in seen:
                seen.append(key)
    return seen


def _panel(title: str, rows: list[dict], keys: list[str], strip: str, window: int) -> Panel:
    steps = [int(r["step"]) for r in rows]
    columns, omitted = {}, []
    for key in keys:
        values = [float(r[key]) if r.get(key) is not None else float("nan") for r in rows]
        if all(v == 0.0 or v != v for v in values):
            omitted.append(key.replace(strip, "") if strip else key)
            continue
        columns[key] = values
    groups: list[list[str]] = []  # keys whose values are identical throughout
    for key, values in columns.items():
        for group in groups:
            if columns[group[0]] == values:
                group.append(key)
                break
        else:
            groups.append([key])
    series = []
    for n, group in enumerate(groups):
        values = columns[group[0]]
        label = " = ".join(k.replace(strip, "") if strip else k for k in group)
        s = Series(label, steps, values, style=LINE_STYLES[n % len(LINE_STYLES)],
                   marker=MARKERS[n % len(MARKERS)] if len(groups) > 1 else "")
        if window > 1 and len(values) >= window:
            idx, means = centred_mean(values, window)
            s.smoothed_steps, s.smoothed = [steps[i] for i in idx], means
            s.smooth_label = f"{label} (centred mean over {window} steps)"
        series.append(s)
    return Panel(title, series, omitted)


def curve_panels(rows: list[dict], smooth: int = 20) -> list[Panel]:
    """The panels of the plot from ``metrics.jsonl`` rows: losses, thresholds, learning rate."""
    rows = training_rows(rows)
    if not rows:
        return []
    window = max(1, min(smooth, len(rows) // 10))
    panels = [
        _panel("losses", rows, _keys(rows, "loss"), "", window),
        _panel("adaptive thresholds (logits)", rows, _keys(rows, "theta/"), "theta/", window),
        _panel("learning rate (raw)", rows, [k for k in ("lr",) if any(k in r for r in rows)], "", 1),
    ]
    return [p for p in panels if p.series or p.omitted]


def plot_training_curves(metrics_path: Path, out_dir: Path, smooth: int = 20) -> Path | None:
    """Write ``training_curves.png`` from a runner's ``metrics.jsonl``; None if nothing logged."""
    panels = curve_panels(read_metrics(metrics_path), smooth)
    if not panels:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.4), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        for s in panel.series:
            every = max(1, len(s.steps) // 8)
            if s.smoothed:
                (raw,) = ax.plot(s.steps, s.values, linestyle=s.style, linewidth=0.7, alpha=0.35,
                                 label="_nolegend_")
                ax.plot(s.smoothed_steps, s.smoothed, linestyle=s.style, color=raw.get_color(), linewidth=1.6,
                        marker=s.marker or None, markevery=every, markersize=4, label=s.label)
            else:
                ax.plot(s.steps, s.values, linestyle=s.style, linewidth=1.4, marker=s.marker or None,
                        markevery=every, markersize=4, label=s.label)
        smoothed = next((x.smooth_label for x in panel.series if x.smoothed), "")
        window = smoothed[smoothed.find("centred mean"):-1] if smoothed else ""
        ax.set_title(panel.title + (f"\nfaint: raw values; bold: {window}" if window else ""), fontsize=10)
        ax.set_xlabel("step (as in metrics.jsonl; 1 = first)")
        if panel.note:
            ax.text(0.01, 0.01, panel.note, transform=ax.transAxes, fontsize=7, va="bottom", alpha=0.8)
        if panel.series:
            ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    out = Path(out_dir) / "training_curves.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
