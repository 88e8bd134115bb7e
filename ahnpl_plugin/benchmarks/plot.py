"""One plot: compositional average vs zero-shot retention, published methods as points.

y: vl_compo's compositional average, each benchmark under vl_compo's rule: all 12 of its benchmarks
(protocol ``vl_compo/comp12-mean``, its comp_avg) when ours are all complete, else the 5 of the
original suite (``vl_compo/shared5-mean``); for published models, from their vl_compo cells.
x: zero-shot retention, the model's zero-shot classification average divided by CLIP ViT-B/32's
(vl_compo's 21 tasks). Our point needs a zero-shot number (the companion zero-shot suite); without
it our model is drawn as a horizontal line at its compositional average. No plot is drawn when our
compositional average is incomplete (a benchmark absent or short of items): averages are only
shown over complete benchmarks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from .cells import Cell
from .protocols import protocol_table

COMPOSITIONAL_ALL = "vl_compo/comp12-mean"
COMPOSITIONAL = "vl_compo/shared5-mean"
_LABELS = {COMPOSITIONAL_ALL: "vl_compo's 12 benchmarks (its comp_avg)",
           COMPOSITIONAL: "ARO, SugarCrepe, VALSE, VL-CheckList, Winoground"}


def compositional_protocol(cells: Mapping[str, Cell]) -> str | None:
    """The average the plot uses: all 12 of vl_compo's when complete, else the 5 shared ones when
    complete, else None (averages are only shown over complete benchmarks)."""
    for name in (COMPOSITIONAL_ALL, COMPOSITIONAL):
        cell = cells.get(name)
        if cell is not None and cell.value is not None and cell.complete:
            return name
    return None


def published_points(protocol: str = COMPOSITIONAL) -> dict[str, tuple[float, float]]:
    """Model -> (zero-shot retention, compositional average in percent) of the published rows."""
    from .published import PUBLISHED_CELLS, PUBLISHED_ZERO_SHOT, ZERO_SHOT_BASE

    members = protocol_table()[protocol].members
    points = {}
    for model, zero_shot in PUBLISHED_ZERO_SHOT.items():
        values = {c.protocol: float(c.value) for c in PUBLISHED_CELLS if c.model == model}
        if protocol in values:  # printed by the source itself (vl_compo's comp_avg)
            points[model] = (zero_shot / PUBLISHED_ZERO_SHOT[ZERO_SHOT_BASE], values[protocol])
        elif all(m in values for m in members):
            points[model] = (zero_shot / PUBLISHED_ZERO_SHOT[ZERO_SHOT_BASE],
                             sum(values[m] for m in members) / len(members))
    return points


def plot_compositional_vs_zero_shot(path: str | Path, model_name: str, cells: Mapping[str, Cell],
                                    zero_shot_retention: float | None = None) -> Path | None:
    """Write the plot to ``path`` (PNG); None when our compositional average is absent or incomplete."""
    protocol = compositional_protocol(cells)
    if protocol is None:
        return None
    cell = cells[protocol]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for model, (x, y) in published_points(protocol).items():
        ax.scatter([x], [y], color="tab:gray")
        ax.annotate(model.replace(" (vl_compo)", ""), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ours = 100 * cell.value
    if zero_shot_retention is None:
        ax.axhline(ours, color="tab:red", linestyle="--", label=model_name + "; zero-shot not measured")
    else:
        ax.scatter([zero_shot_retention], [ours], color="tab:red", s=60, label=model_name)
    ax.set_xlabel("zero-shot retention (zero-shot avg / CLIP ViT-B/32's, vl_compo's 21 tasks)")
    ax.set_ylabel(f"compositional avg, % ({_LABELS[protocol]}; vl_compo rules)")
    ax.yaxis.label.set_size(8)
    ax.xaxis.label.set_size(8)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
