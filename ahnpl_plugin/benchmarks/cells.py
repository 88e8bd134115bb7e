"""The results table's cells: a value under a named protocol, its 95% interval, n, completeness.

:func:`model_cells` turns one model's :class:`~ahnpl_plugin.benchmarks.protocols.ItemOutcomes`
(per benchmark) into a :class:`Cell` per protocol; :func:`render_protocol_table` puts that row
beside the published rows of :data:`ahnpl_plugin.benchmarks.published.PUBLISHED_CELLS`, one column
per protocol, so a number is only ever next to numbers aggregated the same way.

A cell is **complete** when every part its rule needs was evaluated and none of their items was
skipped; an incomplete cell says so in the cell itself ("62.3 [..] incomplete: relations 0/535"),
and a composite (a mean of protocols) is incomplete when any member is missing or incomplete.
"""

from __future__ import annotations

import fnmatch
from dataclasses import asdict, dataclass
from typing import Mapping, Sequence

import numpy as np

from .protocols import CompositeProtocol, ItemOutcomes, Protocol, protocol_table
from .stats import BOOTSTRAP_REPLICATES, BOOTSTRAP_SEED, interval

DASH = "–"


@dataclass
class Cell:
    """One model's number under one protocol (fractions in [0, 1])."""

    protocol: str
    value: float | None
    low: float | None
    high: float | None
    n: int                 # items the value is computed from
    complete: bool
    method: str            # "wilson", "bootstrap", "mean of members"
    incomplete_because: str = ""

    def render(self) -> str:
        """``"72.4 [70.1–74.6]"``, then `` incomplete: ...`` when it is (percent, one decimal)."""
        if self.value is None or self.value != self.value:
            return DASH + (f" ({self.incomplete_because})" if self.incomplete_because else "")
        text = f"{100 * self.value:.1f}"
        if self.low is not None and self.low == self.low:
            text += f" [{100 * self.low:.1f}–{100 * self.high:.1f}]"
        if not self.complete:
            text += f" incomplete: {self.incomplete_because}"
        return text

    def as_dict(self) -> dict:
        return asdict(self)


def _incompleteness(protocol: Protocol, outcomes: ItemOutcomes, counts) -> str:
    """Why a protocol's value is incomplete ("" when it is not): parts its rule needs that were
    not evaluated, parts it reads with skipped items ("relations 0/535"), absent files."""
    reasons = []
    absent = protocol.missing_parts(list(counts))
    for part, skipped in outcomes.skipped_parts.items():
        if protocol.rule.reads(part):
            total = skipped + counts.get(part, (0, 0))[1]
            reasons.append(f"{part} {total - skipped}/{total}")
    accounted = list(outcomes.skipped_parts) + list(outcomes.missing_parts)
    reasons += [f"no {pattern}" for pattern in absent
                if not any(fnmatch.fnmatchcase(p, pattern) for p in accounted)]
    not_found = [p for p in outcomes.missing_parts if protocol.rule.reads(p)]
    if not_found:
        reasons.append("not found: " + ", ".join(not_found))
    return "; ".join(reasons)


def protocol_cell(protocol: Protocol, outcomes: ItemOutcomes, *, keep=None,
                  replicates: int = BOOTSTRAP_REPLICATES, seed: int = BOOTSTRAP_SEED) -> Cell:
    """The cell of ``protocol`` for one benchmark's outcomes (``keep``: a mask of items to use)."""
    counts = outcomes.counts(protocol.outcome, keep)
    value = protocol.rule.value(counts) if counts else float("nan")
    low, high, method = interval(protocol.rule, counts, replicates=replicates, seed=seed) if value == value else (
        None, None, "none")
    n = int(sum(n for part, (_, n) in counts.items() if protocol.rule.reads(part)))
    why = _incompleteness(protocol, outcomes, counts)
    if value != value or low is None or low != low:  # nothing to aggregate: no value, no interval
        value = None if value != value else value
        low = high = None
    return Cell(protocol.name, value, low, high, n, not why, method, why)


def composite_cell(protocol: CompositeProtocol, member_cells: Mapping[str, Cell]) -> Cell:
    """Mean of the member cells; the interval combines the members' half-widths as independent."""
    present = [member_cells[m] for m in protocol.members if m in member_cells and member_cells[m].value is not None]
    absent = [m for m in protocol.members if m not in member_cells or member_cells[m].value is None]
    reasons = [f"{len(present)}/{len(protocol.members)} members"] if absent else []
    reasons += [f"{c.protocol} incomplete" for c in present if not c.complete]
    if not present:
        return Cell(protocol.name, None, None, None, 0, False, "mean of members", "; ".join(reasons))
    value = float(np.mean([c.value for c in present]))
    halves = [((c.high - c.low) / 2) if c.low is not None else 0.0 for c in present]
    half = float(np.sqrt(np.sum(np.square(halves)))) / len(present)
    return Cell(protocol.name, value, value - half, value + half, sum(c.n for c in present), not reasons,
                "mean of members", "; ".join(reasons))


def model_cells(outcomes: Mapping[str, ItemOutcomes], *, keep: Mapping[str, np.ndarray] | None = None,
                **kwargs) -> dict[str, Cell]:
    """Every protocol's cell for one model's outcomes (benchmark name -> outcomes); protocols
    of benchmarks not evaluated are absent, composites are present when any member is."""
    cells: dict[str, Cell] = {}
    for name, protocol in protocol_table().items():
        if isinstance(protocol, Protocol) and protocol.benchmark in outcomes:
            mask = (keep or {}).get(protocol.benchmark)
            cells[name] = protocol_cell(protocol, outcomes[protocol.benchmark], keep=mask, **kwargs)
    for name, protocol in protocol_table().items():
        if isinstance(protocol, CompositeProtocol) and any(m in cells for m in protocol.members):
            cells[name] = composite_cell(protocol, cells)
    return cells


def render_protocol_table(rows: Mapping[str, Mapping[str, Cell]], *, published=None,
                          protocols: Sequence[str] | None = None) -> str:
    """Markdown: one column per protocol, published rows (value as printed, source footnoted)
    then each model row in ``rows`` (model name -> its cells)."""
    from .published import PUBLISHED_CELLS

    published = PUBLISHED_CELLS if published is None else published
    if protocols is None:
        ours = {p for cells in rows.values() for p in cells}
        protocols = [p for p in protocol_table() if p in ours]
    models: list[str] = []
    for cell in published:
        if cell.protocol in protocols and cell.model not in models:
            models.append(cell.model)
    marks: dict[str, str] = {}  # source -> footnote number, in order of appearance

    def mark(source: str) -> str:
        return marks.setdefault(source, _superscript(len(marks) + 1))

    lines = ["| Model | " + " | ".join(protocols) + " |", "|---|" + "|".join("---:" for _ in protocols) + "|"]
    for model in models:
        values = {c.protocol: c for c in published if c.model == model}
        lines.append(f"| {model} | " + " | ".join(
            f"{values[p].value}{mark(values[p].source)}" if p in values else DASH for p in protocols) + " |")
    for model, cells in rows.items():
        lines.append(f"| **{model}** | " + " | ".join(
            cells[p].render() if p in cells else DASH for p in protocols) + " |")
    notes = "".join(f"\n{m} {source}" for source, m in marks.items())
    backbones: dict[str, list[str]] = {}  # backbone -> the published rows shown with it
    for cell in published:
        shown = backbones.setdefault(cell.backbone, []) if cell.model in models else None
        if shown is not None and cell.model not in shown:
            shown.append(cell.model)
    if len(backbones) == 1:
        notes += f"\n\nBackbone of every published row: {next(iter(backbones))}."
    elif backbones:
        notes += "\n\nBackbones of the published rows: " + "; ".join(
            f"{b}: {', '.join(ms)}" for b, ms in backbones.items()) + "."
    return "\n".join(lines) + "\n" + notes + "\n"


def _superscript(number: int) -> str:
    return "".join("⁰¹²³⁴⁵⁶⁷⁸⁹"[int(d)] for d in str(number))
