"""VALSE (Parcalabescu et al., ACL 2022): caption vs. foil, one piece per linguistic phenomenon.

Files as distributed by github.com/Heidelberg-NLP/VALSE (``data/``): eleven JSON dicts
``id -> {"dataset", "image_file", "caption", "foil", "mturk": {"foil", "caption", "other"}, ...}``.
Only items with ``mturk.caption >= 2`` count (the validated set, as the VALSE README says).

Images come from several source datasets, named by each item's ``dataset`` field. The released
files use ``visual7w`` (existence, counting), ``coco2017`` (plurals), ``coco_2017`` (relations: the
same COCO val2017 images, spelt differently), ``SWiG`` (actions), ``VisDial_v1.0`` (coreference)
and ``FOIL dataset`` (foil-it: COCO val2014). ``image_root`` is one folder holding every image, or a
mapping ``{source: folder}``; source names are compared without case and without anything but
letters and digits (:func:`source_key`), so ``coco2017`` also catches ``coco_2017`` and
``COCO-2017``; ``"default"`` catches the rest. A source may map to a list of folders: the first one
holding the file is used (e.g. ``VisDial_v1.0`` items whose images sit partly in COCO train2014,
partly in VisDial val2018).

Score: accuracy per piece; ``average`` is the unweighted mean over pieces; ``by_category`` gives
VALSE's phenomenon groups (Existence, Plurality, Counting, Relations, Actions, Coreference,
Foil-it) as means over their pieces. Ties count as wrong.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ahnpl_plugin.errors import BenchmarkError
from .base import Benchmark, ImageRef, Item, as_path, get_field, read_benchmark_json
from .scoring import accuracy, correct_by_item, drop_nan, group_outcomes, macro_mean

VALSE_SOURCE = "github.com/Heidelberg-NLP/VALSE (folder data/)"
PIECES = (
    "existence",
    "plurals",
    "counting-hard",
    "counting-small-quant",
    "counting-adversarial",
    "relations",
    "action-replacement",
    "actant-swap",
    "coreference-standard",
    "coreference-hard",
    "foil-it",
)
CATEGORIES = {
    "Existence": ("existence",),
    "Plurality": ("plurals",),
    "Counting": ("counting-hard", "counting-small-quant", "counting-adversarial"),
    "Relations": ("relations",),
    "Actions": ("action-replacement", "actant-swap"),
    "Coreference": ("coreference-standard", "coreference-hard"),
    "Foil-it": ("foil-it",),
}
MIN_MTURK_CAPTION_VOTES = 2


def load_valse(root, image_root=None, *, strict: bool = False,
               pieces: Sequence[str] = PIECES) -> Benchmark:
    """The VALSE pieces named in ``pieces`` (default: all eleven) from ``root`` or ``root/data``."""
    root = as_path(root)
    if image_root is None:
        raise BenchmarkError(
            "valse: image_root is required: one folder holding every image, or a mapping from "
            "source dataset (the items' 'dataset' field) to folder"
        )
    unknown = [p for p in pieces if p not in PIECES]
    if unknown:
        raise BenchmarkError(f"valse: unknown piece(s) {unknown}; known: {list(PIECES)}")
    resolve = _image_resolver(image_root)
    items, n_filtered = [], 0
    for piece in pieces:
        name = f"{piece}.json"
        path, records = read_benchmark_json(root, name, f"VALSE file {name}", VALSE_SOURCE, dict,
                                            "a JSON object id -> item")
        for key, record in records.items():
            where = f"key {key!r}"
            mturk = get_field(record, "mturk", dict, path, where)
            votes = get_field(mturk, "caption", (int, float), path, f"{where}.mturk")
            if votes < MIN_MTURK_CAPTION_VOTES:
                n_filtered += 1
                continue
            source = get_field(record, "dataset", str, path, where)
            image_file = get_field(record, "image_file", str, path, where)
            caption = get_field(record, "caption", str, path, where)
            foil = get_field(record, "foil", str, path, where)
            items.append(Item(
                images=[ImageRef(resolve(source, image_file, path, where))],
                captions=[caption, foil],
                label=0,
                group=piece,
                meta={"id": key, "dataset": source},
            ))
    notes = [f"only items with mturk.caption >= {MIN_MTURK_CAPTION_VOTES} "
             f"({n_filtered} left out); ties count as wrong; average = mean over pieces"]
    defaulted = getattr(resolve, "to_default", {})
    if defaulted:
        notes.append("image_root names no folder for source(s) " + ", ".join(
            f"{source!r} ({n} items)" for source, n in defaulted.items()) + ": their images are looked up "
            "in the 'default' folder")
    return Benchmark(
        "valse", items, _score_valse, strict=strict,
        notes=notes,
        counts={"n_items_filtered_mturk": n_filtered},
    )


def source_key(name: str) -> str:
    """A source name as compared: lower case, letters and digits only (``coco_2017`` ->
    ``coco2017``, ``VisDial_v1.0`` -> ``visdialv10``, ``FOIL dataset`` -> ``foildataset``)."""
    return "".join(ch for ch in str(name).lower() if ch.isalnum())


def _image_resolver(image_root):
    """``(source, image_file, path, where) -> image path`` for a folder or a source mapping."""
    if not isinstance(image_root, Mapping):
        folder = as_path(image_root)
        return lambda source, image_file, path, where: str(folder / image_file)

    folders: dict[str, list[Path]] = {}
    spelled: dict[str, str] = {}
    for source, value in image_root.items():
        values = [value] if isinstance(value, (str, os.PathLike)) else list(value)
        key = source_key(source)
        resolved = [as_path(v) for v in values]
        if key in folders and folders[key] != resolved:
            raise BenchmarkError(
                f"valse: image_root names {spelled[key]!r} and {source!r}, the same source once "
                f"case and punctuation are ignored, with different folders; keep one"
            )
        folders[key], spelled[key] = resolved, str(source)

    def resolve(source: str, image_file: str, path: Path, where: str) -> str:
        if source_key(source) not in folders:
            resolve.to_default[source] = resolve.to_default.get(source, 0) + 1
        candidates = folders.get(source_key(source)) or folders.get("default")
        if not candidates:
            raise BenchmarkError(
                f"valse: no image folder for source {source!r} ({path}, {where}); image_root "
                f"maps {sorted(folders)}; add {source!r} or 'default'"
            )
        for folder in candidates:
            if (folder / image_file).is_file():
                return str(folder / image_file)
        return str(candidates[0] / image_file)

    resolve.to_default = {}  # source -> items sent to the "default" folder (not named in image_root)
    return resolve


def _score_valse(items: Sequence[Item], sims: Sequence[np.ndarray]) -> dict:
    outcomes = group_outcomes((it.group for it in items), correct_by_item(items, sims))
    per_piece = {p: accuracy(outcomes[p]) for p in PIECES if p in outcomes}
    by_category = {
        category: macro_mean(per_piece[p] for p in members if p in per_piece)
        for category, members in CATEGORIES.items()
        if any(p in per_piece for p in members)
    }
    metrics, _ = drop_nan({**per_piece, "average": macro_mean(per_piece.values())})
    notes = []
    if len(per_piece) < len(PIECES):
        notes.append(f"average over {len(per_piece)} of {len(PIECES)} pieces")
    return {
        **metrics,
        "by_group": dict(per_piece),
        "by_category": by_category,
        "counts": {"by_group": {p: int(outcomes[p].size) for p in per_piece}},
        "notes": notes,
    }
