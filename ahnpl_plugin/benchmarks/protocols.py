"""Protocols as data: how each published number aggregates per-item outcomes, by name.

Papers that report "the same" benchmark aggregate it differently, and the difference is several
points (vl_compo's VALSE is the mean of the 7 phenomenon groups, NegCLIP 73.7; CE-CLIP's table
is the mean of the 11 pieces, NegCLIP 71.8 from the same per-piece values). So every number in
the results table names its :class:`Protocol`, and a protocol is data:

* a **rule** is a small tree over the benchmark's *parts* (its item groups: VALSE pieces,
  SugarCrepe files, VL-CheckList corpora, ARO relations, Winoground tags):
  :class:`Pool` (accuracy over all items of the parts matching its patterns, i.e. micro),
  :class:`Mean` (unweighted mean of its children, i.e. macro) and :class:`EachPart` (mean over
  every part present, optionally leaving some out or requiring a minimum count);
* a :class:`Protocol` names a rule, the benchmark it reads and the per-item outcome it
  aggregates (``correct``; Winoground: ``text``/``image``/``group``), and says where it comes from;
* a :class:`CompositeProtocol` is the mean of other protocols' values (vl_compo's ARO = the mean
  of its four tasks).

A rule's value needs only ``(correct, total)`` per part (:class:`PartCounts`), which also makes
the intervals cheap (:mod:`ahnpl_plugin.benchmarks.stats`). numpy only.

How a new benchmark joins the table (e.g. What'sUp, vl_compo's mean over its 6 subsets):

1. its loader returns a :class:`~ahnpl_plugin.benchmarks.base.Benchmark` whose items' ``group`` is
   the part a rule reads (``"controlled_a"``, ...), ``meta["id"]`` the id in its file, and, when an
   item has other or several outcomes (text/image/group, R@k, What'sUp's argmax ``individual``),
   ``outcomes_fn=`` giving them (``needs_text_sims=True`` when they also read caption-caption
   similarities, as SugarCrepe++'s text-only ``tot``);
2. one line per protocol in :func:`_protocols` (the newer benchmarks: :func:`_newer_protocols`), e.g.
   ``Protocol("whatsup/subsets-mean", "whatsup", Mean(*[Pool(s) for s in WHATSUP_SUBSETS]), VL_COMPO,
   outcome="individual")``;
3. its published numbers as ``PublishedCell(model, "whatsup/subsets-mean", "41.5", source)`` in
   :mod:`~ahnpl_plugin.benchmarks.published`, its counts as an ``ItemCount`` in
   :mod:`~ahnpl_plugin.benchmarks.item_counts`.

Cells, intervals, completeness, the paired comparison, the blind row and the overlap report
then follow with no further code.
"""

from __future__ import annotations

import fnmatch
from functools import lru_cache
from dataclasses import dataclass, field
from typing import Mapping, Sequence, Union

import numpy as np

# part -> (correct, total): what every rule reads
PartCounts = Mapping[str, tuple[float, float]]


# ------------------------------------------------------------------------------------- rules
@dataclass(frozen=True)
class Pool:
    """Accuracy over the items of every part matching ``patterns`` (fnmatch; ``*`` crosses ``/``)."""

    patterns: tuple[str, ...]

    def __init__(self, *patterns: str):
        object.__setattr__(self, "patterns", tuple(patterns))

    def parts(self, present: Sequence[str]) -> list[str]:
        return [p for p in present if any(fnmatch.fnmatchcase(p, pat) for pat in self.patterns)]

    def value(self, counts: PartCounts) -> float:
        chosen = self.parts(list(counts))
        total = sum(counts[p][1] for p in chosen)
        return float(sum(counts[p][0] for p in chosen) / total) if total else float("nan")

    def required(self) -> tuple[str, ...]:
        return self.patterns

    def reads(self, part: str) -> bool:
        return any(fnmatch.fnmatchcase(part, pat) for pat in self.patterns)

    def describe(self) -> str:
        return "pool(" + ", ".join(self.patterns) + ")"


@dataclass(frozen=True)
class Mean:
    """Unweighted mean of its children's values, over the children with items (so an incomplete
    benchmark still gets a value, which its cell marks incomplete); NaN when none has."""

    children: tuple

    def __init__(self, *children):
        object.__setattr__(self, "children", tuple(children))

    def value(self, counts: PartCounts) -> float:
        values = [v for v in (child.value(counts) for child in self.children) if v == v]
        return float(np.mean(values)) if values else float("nan")

    def required(self) -> tuple[str, ...]:
        return tuple(p for child in self.children for p in child.required())

    def reads(self, part: str) -> bool:
        return any(child.reads(part) for child in self.children)

    def describe(self) -> str:
        return "mean(" + ", ".join(child.describe() for child in self.children) + ")"


@dataclass(frozen=True)
class EachPart:
    """Mean over every present part (matching ``pattern``, not in ``exclude``, with at least
    ``min_items`` items) of its accuracy: ARO's per-relation / per-attribute-pair macro."""

    pattern: str = "*"
    exclude: frozenset = frozenset()
    min_items: int = 0

    def parts(self, counts: PartCounts) -> list[str]:
        return [p for p, (_, n) in counts.items()
                if fnmatch.fnmatchcase(p, self.pattern) and p not in self.exclude and n >= self.min_items and n > 0]

    def value(self, counts: PartCounts) -> float:
        values = [counts[p][0] / counts[p][1] for p in self.parts(counts)]
        return float(np.mean(values)) if values else float("nan")

    def required(self) -> tuple[str, ...]:
        return ()  # the parts are whatever the files hold

    def reads(self, part: str) -> bool:
        return fnmatch.fnmatchcase(part, self.pattern) and part not in self.exclude

    def describe(self) -> str:
        extra = (f", {len(self.exclude)} excluded" if self.exclude else "") + (
            f", parts with >= {self.min_items} items" if self.min_items else "")
        return f"mean over each part {self.pattern}{extra}"


Rule = Union[Pool, Mean, EachPart]


def rule_value(rule: Rule, counts: PartCounts) -> float:
    """The value of ``rule`` for per-part ``(correct, total)`` counts (NaN if a pool is empty)."""
    return rule.value(counts)


# --------------------------------------------------------------------------------- protocols
@dataclass(frozen=True)
class Protocol:
    """One named way to turn a benchmark's per-item outcomes into one number."""

    name: str          # e.g. "valse/pieces-mean"
    benchmark: str     # the loader's name (ahnpl_plugin.benchmarks.BENCHMARK_NAMES)
    rule: Rule
    source: str        # who aggregates this way
    outcome: str = "correct"  # the per-item outcome aggregated (Winoground: text/image/group)

    def describe(self) -> str:
        """One line: ``"<name>: <rule> of <outcome> (<source>)"`` (results.md, per benchmark)."""
        return f"{self.name}: {self.rule.describe()} of `{self.outcome}` ({self.source})"

    def required_parts(self) -> tuple[str, ...]:
        """Part patterns that must each match an evaluated part for the value to be complete."""
        return self.rule.required()

    def missing_parts(self, present: Sequence[str]) -> list[str]:
        return [pat for pat in self.required_parts()
                if not any(fnmatch.fnmatchcase(p, pat) for p in present)]


@dataclass(frozen=True)
class CompositeProtocol:
    """The unweighted mean of other protocols' values (across benchmarks)."""

    name: str
    members: tuple[str, ...]
    source: str


# ------------------------------------------------------------------------- the protocol table
VALSE_PIECES = ("existence", "plurals", "counting-hard", "counting-small-quant", "counting-adversarial",
                "relations", "action-replacement", "actant-swap", "coreference-standard", "coreference-hard",
                "foil-it")
VALSE_GROUPS = {
    "Existence": ("existence",), "Plurality": ("plurals",),
    "Counting": ("counting-hard", "counting-small-quant", "counting-adversarial"),
    "Relations": ("relations",), "Actions": ("action-replacement", "actant-swap"),
    "Coreference": ("coreference-standard", "coreference-hard"), "Foil-it": ("foil-it",),
}
# the 9 VALSE columns of CE-CLIP's table: each piece, except Counting's 3 pieces, shown as one column
VALSE_CE_CLIP_COLUMNS = tuple(column for group, pieces in VALSE_GROUPS.items()
                              for column in ([pieces] if group == "Counting" else [(p,) for p in pieces]))
SUGARCREPE_FAMILIES = {
    "replace": ("replace_obj", "replace_att", "replace_rel"),
    "swap": ("swap_obj", "swap_att"),
    "add": ("add_obj", "add_att"),
}
# VL-CheckList parts are corpus names "<type>/<subcategory>/[<level>/]<source>" (lower case)
VLC_SUBCATEGORIES = {
    "attribute": ("action", "color", "material", "size", "state"),
    "object": ("location", "size"),
    "relation": ("action", "spatial"),
}
# vl_compo's columns: Object splits into location center/margin/mid and size large/medium/small
VLC_VLCOMPO_COLUMNS = {
    "attribute": tuple(f"attribute/{s}/*" for s in VLC_SUBCATEGORIES["attribute"]),
    "object": tuple(f"object/{s}/{level}/*" for s, levels in
                    (("location", ("center", "margin", "mid")), ("size", ("large", "medium", "small")))
                    for level in levels),
    "relation": ("relation/action/*", "relation/spatial/*"),
}

VL_COMPO_SHARED = ("aro/tasks-mean", "sugarcrepe/families-mean", "valse/groups-mean", "vl_checklist/types-mean",
                   "winoground/group")
VL_COMPO_ALL = ("aro/tasks-mean", "colorswap/group", "crepe/types-mean", "eqben/group", "imagecode/pooled",
                "mmvp_vlm/group", "sugarcrepe/families-mean", "svo_probes/types-mean", "valse/groups-mean",
                "vl_checklist/types-mean", "whatsup/subsets-mean", "winoground/group")
CE_CLIP = "CE-CLIP (Zhang et al., CVPR 2024) table, which AHNPL's paper compares against"
VL_COMPO = "vl_compo (Oh et al., 2024; github.com/ytaek-oh/vl_compo results.csv), used by FSC-CLIP"
SUGARCREPE_PAPER = "SugarCrepe paper (Hsieh et al., NeurIPS 2023)"
SUGARCREPE_PP = ("SugarCrepe++ (Dumpala et al., 2024) per file, strict >; the 5-file mean is ours and READ-CLIP's "
                 "released evaluator's")
SPEC = "SPEC (Peng et al., 2024) spec/eval.py, argmax (first maximum wins)"
# Rules that only one paper's table uses: named "as reported by <paper>, aggregation: <what it does>"
# so that a number aggregated that way never sits in another rule's column.
CE_CLIP_PLUS = ("as reported by CE-CLIP (Zhang et al., CVPR 2024) Table 1 for its CE-CLIP+ row only, aggregation: "
                "mean of the 9 displayed columns (Counting = mean of its 3 pieces, shown once); its other rows use "
                "the 11-piece mean (valse/pieces-mean)")
READ_CLIP = ("as reported by READ-CLIP (Kwon et al., NeurIPS 2025) Table 1, aggregation of its released evaluator "
             "(github.com/JiH00nKw0n/READ-CLIP src/runners/evaluator.py, `total`)")
# the Order sets' parts are the shuffle seeds ("seed0", ...): the mean over them is ARO's advice
ARO_ORDER = ("ARO (ties count wrong here); mean over the shuffle seeds (the parts), 5 by default as the ARO "
             "authors advise")


def _newer_protocols() -> list[Protocol]:
    """SugarCrepe++, What'sUp, SPEC, CREPE, EqBen, ImageCoDe, SVO-Probes, ColorSwap, MMVP-VLM.

    Each equals the headline of the benchmark's own scorer (tests/test_eval_protocols_match_scorers.py)
    and, for the seven that vl_compo reports, reproduces vl_compo's column from its per-subset
    columns (tests/test_eval_protocols.py). Parts are the loaders' item groups, named by the loaders."""
    from .crepe import COMPLEXITIES, SYST_SPLITS, SYST_TYPES, TYPES
    from .eqben import KUBRIC
    from .mmvp_vlm import PATTERNS as MMVP_PATTERNS
    from .spec import SUBSETS as SPEC_SUBSETS
    from .sugarcrepe_pp import FILES as SUGARCREPE_PP_FILES
    from .whatsup import SUBSETS as WHATSUP_SUBSETS

    spec_direction = {d: Mean(*[Pool(f"{s}/{d}") for s in SPEC_SUBSETS]) for d in ("i2t", "t2i")}
    eqben = Mean(Pool("eqbenag"), Pool("eqbenyoucook2"), Pool("eqbengebc"),
                 Mean(*[Pool(k) for k in KUBRIC]), Pool("eqbensd"))  # Kubric's 3 splits first
    return [
        *[Protocol(f"sugarcrepe_pp/{m}", "sugarcrepe_pp", Mean(*[Pool(f) for f in SUGARCREPE_PP_FILES]),
                   SUGARCREPE_PP, outcome=m) for m in ("itt", "itt_p1", "itt_p2", "tot")],
        Protocol("whatsup/subsets-mean", "whatsup", Mean(*[Pool(s) for s in WHATSUP_SUBSETS]),
                 VL_COMPO + "; argmax as Kamath et al.'s code (a tie with a later option counts right)",
                 outcome="individual"),
        Protocol("whatsup/sources-mean", "whatsup",
                 Mean(*[Pool(*[s for s in WHATSUP_SUBSETS if s.startswith(source)])
                        for source in ("controlled", "coco_qa", "vg_qa")]),
                 READ_CLIP + ": mean of 3 sources, each pooling its subsets (Controlled A+B, COCO-QA one+two, "
                 "VG-QA one+two); per item the true caption must score highest of its captions",
                 outcome="individual"),
        Protocol("spec/i2t", "spec", spec_direction["i2t"], SPEC),
        Protocol("spec/t2i", "spec", spec_direction["t2i"], SPEC),
        Protocol("spec/average", "spec", Mean(spec_direction["i2t"], spec_direction["t2i"]),
                 SPEC + "; the mean of both directions is ours"),
        Protocol("crepe/types-mean", "crepe",  # each type pools (and needs) its 9 complexity files
                 Mean(*[Pool(*[f"{t}/{c}" for c in COMPLEXITIES]) for t in TYPES]),
                 VL_COMPO + "; R@1 pooled over complexities 4-12, rank ties count wrong", outcome="R@1"),
        Protocol("crepe_systematicity/types-mean", "crepe_systematicity",
                 Mean(*[Pool(*[f"{t}/{s}" for s in SYST_SPLITS]) for t in SYST_TYPES]),
                 "ours (CREPE prints seen and unseen compounds separately); R@1", outcome="R@1"),
        *[Protocol(f"eqben/{m}", "eqben", eqben, VL_COMPO + "; Winoground scores per source of Wang et al. (2023)",
                   outcome=m) for m in ("text", "image", "group")],
        Protocol("imagecode/pooled", "imagecode", Pool("video", "static"),
                 VL_COMPO + "; validation split, video and static descriptions pooled"),
        Protocol("svo_probes/types-mean", "svo_probes", Mean(Pool("subject"), Pool("verb"), Pool("object")),
                 VL_COMPO + "; pairwise rule (positive image above the negative) assumed, vl_compo's code "
                 "is unpublished"),
        *[Protocol(f"colorswap/{m}", "colorswap", Pool("*"), VL_COMPO + "; Winoground scores", outcome=m)
          for m in ("text", "image", "group")],
        Protocol("mmvp_vlm/group", "mmvp_vlm", Mean(*[Pool(p) for p in MMVP_PATTERNS]), VL_COMPO, outcome="group"),
        Protocol("mmvp_vlm/image", "mmvp_vlm", Mean(*[Pool(p) for p in MMVP_PATTERNS]),
                 "MMVP (Tong et al., 2024) scripts/evaluate_vlm.py pair score", outcome="image"),
    ]


def _protocols() -> dict[str, Protocol | CompositeProtocol]:
    from .aro import MIN_PAIR_COUNT, excluded_relations

    table: list[Protocol | CompositeProtocol] = [
        Protocol("valse/pieces-mean", "valse", Mean(*[Pool(p) for p in VALSE_PIECES]), CE_CLIP),
        Protocol("valse/groups-mean", "valse",
                 Mean(*[Mean(*[Pool(p) for p in pieces]) for pieces in VALSE_GROUPS.values()]), VL_COMPO),
        Protocol("valse/columns9-mean", "valse",
                 Mean(*[Pool(*c) if len(c) == 1 else Mean(*[Pool(p) for p in c]) for c in VALSE_CE_CLIP_COLUMNS]),
                 CE_CLIP_PLUS),
        Protocol("valse/items-pooled", "valse", Pool(*VALSE_PIECES),
                 READ_CLIP + ": accuracy over all VALSE items pooled (items: its copy Mayfull/valse_vlms)"),
        *[Protocol(f"sugarcrepe/{family}-pooled", "sugarcrepe", Pool(*files), SUGARCREPE_PAPER)
          for family, files in SUGARCREPE_FAMILIES.items()],
        *[Protocol(f"sugarcrepe/{f}", "sugarcrepe", Pool(f), SUGARCREPE_PAPER)
          for files in SUGARCREPE_FAMILIES.values() for f in files],
        Protocol("sugarcrepe/families-mean", "sugarcrepe",
                 Mean(*[Pool(*files) for files in SUGARCREPE_FAMILIES.values()]), VL_COMPO),
        Protocol("sugarcrepe/files-mean", "sugarcrepe",
                 Mean(*[Pool(f) for files in SUGARCREPE_FAMILIES.values() for f in files]),
                 READ_CLIP + ": unweighted mean of the 7 files' accuracies"),
        Protocol("vl_checklist/subcategories-mean", "vl_checklist",
                 Mean(*[Pool(f"{t}/{s}/*") for t, subs in VLC_SUBCATEGORIES.items() for s in subs]), CE_CLIP),
        *[Protocol(f"vl_checklist/{t}", "vl_checklist", Mean(*[Pool(f"{t}/{s}/*") for s in subs]), CE_CLIP)
          for t, subs in VLC_SUBCATEGORIES.items()],
        Protocol("vl_checklist/types-mean", "vl_checklist",
                 Mean(*[Mean(*[Pool(c) for c in cols]) for cols in VLC_VLCOMPO_COLUMNS.values()]), VL_COMPO),
        Protocol("aro_vg_relation/relations-mean", "aro_vg_relation",
                 EachPart(exclude=excluded_relations()), "ARO (Yuksekgonul et al., ICLR 2023)"),
        Protocol("aro_vg_attribution/pairs-mean", "aro_vg_attribution",
                 EachPart(min_items=MIN_PAIR_COUNT), "ARO (Yuksekgonul et al., ICLR 2023)"),
        Protocol("aro_coco_order/precision", "aro_coco_order", EachPart(), ARO_ORDER),
        Protocol("aro_flickr_order/precision", "aro_flickr_order", EachPart(), ARO_ORDER),
        CompositeProtocol("aro/tasks-mean", ("aro_vg_relation/relations-mean", "aro_vg_attribution/pairs-mean",
                                             "aro_coco_order/precision", "aro_flickr_order/precision"), VL_COMPO),
        *[Protocol(f"winoground/{m}", "winoground", Pool("*"), "Winoground (Thrush et al., CVPR 2022)", outcome=m)
          for m in ("text", "image", "group")],
        # the 5 benchmarks this suite shares with vl_compo's 12, each under vl_compo's rule: the
        # compositional axis of the plot (vl_compo's own comp_avg needs all 12)
        CompositeProtocol("vl_compo/shared5-mean", VL_COMPO_SHARED, VL_COMPO + " (our subset of its 12)"),
        *_newer_protocols(),
        # all 12 of vl_compo's compositional benchmarks, each under vl_compo's rule: its comp_avg
        CompositeProtocol("vl_compo/comp12-mean", VL_COMPO_ALL, VL_COMPO + " (its comp_avg)"),
    ]
    return {p.name: p for p in table}


@lru_cache(maxsize=1)
def protocol_table() -> dict[str, Protocol | CompositeProtocol]:
    """Every protocol by name, in table order (built once; the ARO exclusion list is package data)."""
    return _protocols()


def protocols_of(benchmark: str) -> list[Protocol]:
    """The protocols that read ``benchmark``'s outcomes, in table order."""
    return [p for p in protocol_table().values() if isinstance(p, Protocol) and p.benchmark == benchmark]


# ----------------------------------------------------------------------- per-item outcomes
@dataclass
class ItemOutcomes:
    """Per-item outcomes of one benchmark for one model: what intervals and paired tests need.

    ``ids`` identify items across runs (``"<part>/<id in the file>"``), ``parts`` are the groups
    the rules read, ``outcomes`` maps an outcome name to a bool per item, ``skipped_parts`` counts
    the items of each part that could not be evaluated, ``missing_parts`` names absent parts.
    """

    benchmark: str
    ids: list[str]
    parts: list[str]
    outcomes: dict[str, np.ndarray]
    skipped_parts: dict[str, int] = field(default_factory=dict)
    missing_parts: list[str] = field(default_factory=list)
    images: list[list[str]] = field(default_factory=list)  # per item: its image files (overlap reports)

    def counts(self, outcome: str = "correct", keep: np.ndarray | None = None) -> dict[str, tuple[int, int]]:
        """``part -> (correct, total)`` over the items (or those where ``keep`` is true)."""
        values = self.outcomes[outcome]
        out: dict[str, list[int]] = {}
        for i, (part, ok) in enumerate(zip(self.parts, values)):
            if keep is not None and not keep[i]:
                continue
            entry = out.setdefault(part, [0, 0])
            entry[0] += int(ok)
            entry[1] += 1
        return {p: (k, n) for p, (k, n) in out.items()}

    def to_json(self) -> dict:
        return {"benchmark": self.benchmark, "ids": self.ids, "parts": self.parts,
                "outcomes": {k: "".join("1" if v else "0" for v in arr) for k, arr in self.outcomes.items()},
                "skipped_parts": self.skipped_parts, "missing_parts": self.missing_parts, "images": self.images}

    @classmethod
    def from_json(cls, data: Mapping) -> "ItemOutcomes":
        return cls(data["benchmark"], list(data["ids"]), list(data["parts"]),
                   {k: np.array([c == "1" for c in v], dtype=bool) for k, v in data["outcomes"].items()},
                   dict(data.get("skipped_parts", {})), list(data.get("missing_parts", [])),
                   [list(x) for x in data.get("images", [])])


def item_id(item, position: int) -> str:
    """``"<group>/<id>"``: the item's id in its file (``id``, else ``index``/``row``), else its position."""
    meta = item.meta or {}
    for key in ("id", "index"):
        if meta.get(key) is not None:
            return f"{item.group}/{meta[key]}"
    if meta.get("row") is not None:
        return f"{item.group}/{meta['row']}:{meta.get('caption_index', 0)}"
    return f"{item.group}/#{position}"


def benchmark_outcomes(bench, sims: Sequence[np.ndarray], text_sims: Sequence[np.ndarray] | None = None
                       ) -> ItemOutcomes:
    """:class:`ItemOutcomes` of a loaded benchmark for per-item similarity arrays (as ``score``;
    ``text_sims`` for a benchmark that ``needs_text_sims``): ``bench.item_outcomes`` with the ids,
    parts, skipped and missing parts and image files that cells, paired tests and overlap read."""
    outcomes = bench.item_outcomes(sims, text_sims)
    return ItemOutcomes(
        bench.name, [item_id(it, i) for i, it in enumerate(bench.items)], [it.group for it in bench.items],
        outcomes, {g: n for g, (n, _) in bench.skipped_by_group().items()}, list(bench.missing_parts),
        [[ref.path for ref in it.images] for it in bench.items],
    )
