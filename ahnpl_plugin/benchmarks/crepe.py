"""CREPE (Ma et al., CVPR 2023): retrieve a region's caption among hard negatives.

Files as distributed by github.com/RAIVNLab/CREPE (``data/prod_hard_negatives.zip``,
``data/syst_hard_negatives.zip``), read as its ``crepe_eval_utils.py`` / ``crepe_*_eval_*.py``
read them (pandas CSVs):

- productivity: ``<root>/<type>/prod_vg_hard_negs_<type>_complexity_<n>.csv`` for ``type`` in
  atom, swap, negate and ``n`` in 4..12; columns ``image_id`` (Visual Genome id), ``caption``,
  ``hard_negs`` (a Python list literal of negative captions), ``x, y, width, height`` (the region);
- systematicity: ``<root>/syst_vg_hard_negs_<seen|unseen>_compounds_in_<cc12m|yfcc|laion>.csv``
  with negatives in ``valid_hard_negs_<atom|comp|combined>``. CREPE's README: **only for models
  pretrained on CC12M, YFCC15M or LAION-400M** (the seen/unseen split is defined by those
  corpora); loaded only with ``split="systematicity"``, and its scores carry that warning.

Images: ``<image_id>.jpg`` in ``image_root`` (a folder or a list of folders; each folder's
``VG_100K`` and ``VG_100K_2`` are searched too), cropped to the region (CREPE's ``TF.crop(img,
y, x, height, width)``, i.e. the box ``(x, y, width, height)``).

Score: the rank of the true caption among caption + negatives by image-text similarity;
recall@k = rank < k for k in 1, 3, 5, 10. Ties count against the caption (the rank is the number
of negatives scoring >= the caption; CREPE's ``torch.argsort`` leaves tie order unspecified).
Per type and complexity in ``by_group``; per type pooled over the complexities; ``average``: the
mean over the three types of their pooled R@1 (vl_compo's CREPE column is the mean of atom, swap
and negate; whether it pools or averages the complexities is not published).
"""

from __future__ import annotations

import ast
import csv
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ahnpl_plugin.errors import BenchmarkError

from .base import Benchmark, ImageRef, Item, as_path, format_error, require_file
from .scoring import accuracy, drop_nan, macro_mean

CREPE_SOURCE = "github.com/RAIVNLab/CREPE (data/prod_hard_negatives.zip, data/syst_hard_negatives.zip)"
TYPES = ("atom", "swap", "negate")
COMPLEXITIES = tuple(range(4, 13))
RECALL_AT = (1, 3, 5, 10)
SYST_TYPES = ("atom", "comp", "combined")
SYST_SPLITS = ("seen_compounds", "unseen_compounds")
SYST_CORPORA = ("cc12m", "yfcc", "laion")
SYST_WARNING = ("CREPE systematicity is meant only for models pretrained on CC12M, YFCC15M or "
                "LAION-400M (its seen/unseen compounds are defined by those corpora; CREPE README)")
VG_SUBFOLDERS = ("", "VG_100K", "VG_100K_2")
def load_crepe(root, image_root=None, *, strict: bool = False, split: str = "productivity",
               types: Sequence[str] | None = None, complexities: Sequence[int] = COMPLEXITIES,
               train_corpus: str = "cc12m") -> Benchmark:
    """CREPE ``split`` (productivity, or systematicity with its warning) from ``root`` (the
    unzipped ``prod_hard_negatives`` / ``syst_hard_negatives`` folder); ``image_root``: the
    Visual Genome image folder(s) (required). ``types``: negative types (default: all of the
    split); ``complexities``: productivity's 4..12; ``train_corpus``: systematicity's
    cc12m, yfcc or laion."""
    root = as_path(root)
    if image_root is None:
        raise BenchmarkError("crepe: image_root is required (the Visual Genome image folder(s))")
    folders = [as_path(f) for f in ([image_root] if isinstance(image_root, (str, os.PathLike)) else image_root)]
    finder = _ImageFinder(folders)
    if split == "productivity":
        types = tuple(types or TYPES)
        _check(types, TYPES, "type")
        _check(complexities, COMPLEXITIES, "complexity")
        files = [(t, str(c), root / t / f"prod_vg_hard_negs_{t}_complexity_{c}.csv", "hard_negs")
                 for t in types for c in complexities]
        notes = []
    elif split == "systematicity":
        types = tuple(types or SYST_TYPES)
        _check(types, SYST_TYPES, "type")
        _check([train_corpus], SYST_CORPORA, "train_corpus")
        files = [(t, s, root / f"syst_vg_hard_negs_{s}_in_{train_corpus}.csv", f"valid_hard_negs_{t}")
                 for t in types for s in SYST_SPLITS]
        notes = [SYST_WARNING]
    else:
        raise BenchmarkError(f"crepe: split must be productivity or systematicity, got {split!r}")
    items = []
    for kind, part, path, negatives_column in files:
        require_file(path if path.is_file() else None, path, f"CREPE {split} file {path.name}", CREPE_SOURCE)
        items += _read_csv(path, negatives_column, finder, f"{kind}/{part}")
    notes.append("rank ties count against the true caption")
    productivity = split == "productivity"
    return Benchmark("crepe" if productivity else "crepe_systematicity", items, _score,
                     strict=strict, notes=notes, outcomes_fn=item_outcomes)


def _check(values, known, what: str) -> None:
    bad = [v for v in values if v not in known]
    if bad:
        raise BenchmarkError(f"crepe: unknown {what}(s) {bad}; known: {list(known)}")


class _ImageFinder:
    """``<id>.jpg`` in the first folder (or its VG_100K / VG_100K_2) that holds it."""

    def __init__(self, folders: list[Path]):
        self.candidates = [f / sub if sub else f for f in folders for sub in VG_SUBFOLDERS]

    def __call__(self, image_id: str) -> str:
        for folder in self.candidates:
            path = folder / f"{image_id}.jpg"
            if path.is_file():
                return str(path)
        return str(self.candidates[0] / f"{image_id}.jpg")  # missing: reported by Benchmark


def _read_csv(path: Path, negatives_column: str, finder: _ImageFinder, group: str) -> list[Item]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        needed = ["image_id", "caption", negatives_column, "x", "y", "width", "height"]
        missing = [c for c in needed if c not in (reader.fieldnames or [])]
        if missing:
            raise format_error(path, "header", f"missing column(s) {missing}")
        items = []
        for row_no, row in enumerate(reader, start=2):
            where = f"line {row_no}"
            try:
                negatives = ast.literal_eval(row[negatives_column])
                box = tuple(float(row[k]) for k in ("x", "y", "width", "height"))
            except (ValueError, SyntaxError) as err:
                raise format_error(path, where, f"unreadable {negatives_column} or box ({err})") from None
            if not isinstance(negatives, (list, tuple)) or not negatives or \
                    not all(isinstance(n, str) for n in negatives):
                raise format_error(path, f"{where}.{negatives_column}", "expected a non-empty list of strings")
            image_id = str(row["image_id"]).strip()
            if image_id.endswith(".0"):  # pandas may have written the id as a float
                image_id = image_id[:-2]
            items.append(Item(images=[ImageRef(finder(image_id), box)],
                              captions=[row["caption"], *negatives], label=0, group=group,
                              meta={"image_id": image_id, "id": row_no}))
    return items


def caption_rank(scores: np.ndarray) -> int:
    """Rank (0 = first) of option 0 among ``scores``; ties count against it."""
    return int((scores[1:] >= scores[0]).sum())


def item_outcomes(items: Sequence[Item], sims: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Per item: ``R@k`` (true caption within the top k), k in 1, 3, 5, 10."""
    ranks = np.array([caption_rank(s[0]) for s in sims], dtype=np.int64)
    return {f"R@{k}": ranks < k for k in RECALL_AT}


def _score(items: Sequence[Item], sims: Sequence[np.ndarray]) -> dict:
    outcomes = item_outcomes(items, sims)
    groups = np.array([it.group for it in items])
    kinds = np.array([g.split("/")[0] for g in groups])
    by_group, counts, metrics = {}, {}, {}
    for group in dict.fromkeys(groups):
        mask = groups == group
        counts[group] = int(mask.sum())
        for key, values in outcomes.items():
            by_group[f"{group}/{key}"] = accuracy(values[mask])
    present = list(dict.fromkeys(kinds))
    for kind in present:
        for key, values in outcomes.items():
            metrics[f"{kind}/{key}"] = accuracy(values[kinds == kind])
    metrics["average"] = macro_mean(metrics[f"{kind}/R@1"] for kind in present)
    metrics, _ = drop_nan(metrics)
    n_options = sorted({len(it.captions) for it in items})
    notes = [f"candidates per item: {n_options[0]}-{n_options[-1]} (R@k with k >= candidates is 1)"] \
        if n_options else []
    return {**metrics, "by_group": by_group, "counts": {"by_group": counts}, "notes": notes}
