"""SPEC (Peng et al., CVPR 2024): size, position, existence and count, image-to-text and
text-to-image choice among candidates that differ in one concept.

Files as distributed (huggingface.co/datasets/wjpoom/SPEC ``data.zip``; read by
github.com/wjpoom/SPEC ``spec/dataset.py``): six subset folders ``absolute_size, relative_size,
absolute_spatial, relative_spatial, existence, count``, each with

- ``image2text.json``: ``[{"query": image path, "keys": [candidate texts], "label": int}]``;
- ``text2image.json``: ``[{"query": text, "keys": [candidate image paths], "label": int}]``;

image paths relative to the subset folder. An image-to-text item has images ``[query]`` and the
candidate captions (``label`` indexes them); a text-to-image item has the candidate images and
captions ``[query]``, with ``label`` indexing the *images* (``meta["direction"] == "t2i"``), so
its sims are ``[n_candidates, 1]``.

Score, as the original (``spec/models/*_wrapper.py``): correct when ``argmax`` of the candidates'
scores equals ``label`` (the first maximum: a tie counts right only when the true candidate is
listed first among the tied ones); accuracy per subset and direction; ``i2t`` and ``t2i`` are the
unweighted means over the subsets (``spec/eval.py``), ``average`` the mean of the two.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ahnpl_plugin.errors import BenchmarkError
from .base import Benchmark, ImageRef, Item, as_path, format_error, get_field, read_json, require_file
from .scoring import accuracy, argmax_correct, drop_nan, macro_mean

SPEC_SOURCE = "huggingface.co/datasets/wjpoom/SPEC (data.zip; code: github.com/wjpoom/SPEC)"
SUBSETS = ("absolute_size", "relative_size", "absolute_spatial", "relative_spatial", "existence", "count")
DIRECTIONS = ("i2t", "t2i")
FILES = {"i2t": "image2text.json", "t2i": "text2image.json"}
def load_spec(root, image_root=None, *, strict: bool = False,
              subsets: Sequence[str] = SUBSETS) -> Benchmark:
    """The SPEC subsets named in ``subsets`` (default: all six) from ``root`` (the folder holding
    the subset folders, or its ``data`` folder). ``image_root``: the folder replacing ``root``
    for the images (default: ``root``; paths stay relative to each subset folder)."""
    root = as_path(root)
    unknown = [s for s in subsets if s not in SUBSETS]
    if unknown:
        raise BenchmarkError(f"spec: unknown subset(s) {unknown}; known: {list(SUBSETS)}")
    if not (root / subsets[0]).is_dir() and (root / "data" / subsets[0]).is_dir():
        root = root / "data"
    images_base = as_path(image_root) if image_root is not None else root
    items = []
    for subset in subsets:
        for direction in DIRECTIONS:
            expected = root / subset / FILES[direction]
            path = require_file(expected if expected.is_file() else None, expected,
                                f"SPEC file {subset}/{FILES[direction]}", SPEC_SOURCE)
            records = read_json(path)
            if not isinstance(records, list):
                raise format_error(path, "top level", f"expected a JSON list, got {type(records).__name__}")
            for index, record in enumerate(records):
                items.append(_item(subset, direction, record, path, f"index {index}",
                                   images_base / subset))
    return Benchmark("spec", items, _score, strict=strict, outcomes_fn=item_outcomes,
                     notes=["argmax as the original: a tie is right only when the true candidate "
                            "comes first among the tied ones"])


def _item(subset: str, direction: str, record, path: Path, where: str, folder: Path) -> Item:
    index = where.removeprefix("index ")
    query = get_field(record, "query", str, path, where)
    keys = get_field(record, "keys", list, path, where)
    label = get_field(record, "label", int, path, where)
    if len(keys) < 2 or not all(isinstance(k, str) for k in keys):
        raise format_error(path, f"{where}.keys", "expected a list of at least 2 strings")
    if not 0 <= label < len(keys):
        raise format_error(path, f"{where}.label", f"{label} is not an index of the {len(keys)} keys")
    group = f"{subset}/{direction}"
    if direction == "i2t":
        return Item(images=[ImageRef(str(folder / query))], captions=list(keys), label=label,
                    group=group, meta={"direction": direction, "subset": subset, "id": index})
    return Item(images=[ImageRef(str(folder / k)) for k in keys], captions=[query], label=label,
                group=group, meta={"direction": direction, "subset": subset, "id": index})


def item_outcomes(items: Sequence[Item], sims: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Per item: ``correct`` (argmax over the candidates equals the label, either direction)."""
    correct = [argmax_correct(s[0] if it.meta["direction"] == "i2t" else s[:, 0], it.label)
               for it, s in zip(items, sims)]
    return {"correct": np.array(correct, dtype=bool)}


def _score(items: Sequence[Item], sims: Sequence[np.ndarray]) -> dict:
    correct = item_outcomes(items, sims)["correct"]
    groups = np.array([it.group for it in items])
    by_group, counts = {}, {}
    for subset in SUBSETS:
        for direction in DIRECTIONS:
            mask = groups == f"{subset}/{direction}"
            if mask.any():
                by_group[f"{subset}/{direction}"] = accuracy(correct[mask])
                counts[f"{subset}/{direction}"] = int(mask.sum())
    metrics = {d: macro_mean(v for g, v in by_group.items() if g.endswith("/" + d)) for d in DIRECTIONS}
    metrics["average"] = macro_mean([metrics["i2t"], metrics["t2i"]])
    metrics, _ = drop_nan(metrics)
    return {**metrics, "by_group": by_group, "counts": {"by_group": counts}}
