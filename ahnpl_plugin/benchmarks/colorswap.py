"""ColorSwap (Burapacheep et al., 2024): two captions with the same words, colours swapped
between objects, each with its own image.

Files as distributed by github.com/Top34051/colorswap (README; Google Drive archive, also
huggingface.co/datasets/stanfordnlp/colorswap): ``data/test.json`` (and ``train.json``), a list of
``{"id", "caption_1", "caption_2", "image_1": "images/img_<id>_1.png", "image_2", "image_source",
"caption_source"}`` with the images under ``data/`` (``images.zip``).

The Hugging Face copy is read too: parquet files named ``<split>-*.parquet`` anywhere under
``root`` (columns ``caption_1, caption_2, image_1, image_2`` with the images inside as
``{"bytes", "path"}``, kept in memory as for Winoground's parquet).

Scores: Winoground's text / image / group (strict ``>``) with caption_1 belonging to image_1, as
its image-text-matching evaluation; by_group per ``image_source``. ``group`` is vl_compo's ColorSwap
column (test split, 300 examples).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ahnpl_plugin.errors import BenchmarkError
from .base import (
    Benchmark,
    ImageRef,
    Item,
    as_path,
    find_file,
    format_error,
    get_field,
    read_json,
    require_file,
)
from .scoring import accuracy, drop_nan
from .winoground import parquet_rows, winoground_item_outcomes

COLORSWAP_SOURCE = ("github.com/Top34051/colorswap (README: Google Drive archive with "
                    "data/{train,test}.json and data/images.zip; or huggingface.co/datasets/stanfordnlp/colorswap)")
METRICS = ("text", "image", "group")
def load_colorswap(root, image_root=None, *, strict: bool = False, split: str = "test") -> Benchmark:
    """ColorSwap ``split`` (test or train) from ``root`` (its ``data`` folder or the folder above);
    ``image_root``: where the JSON's ``images/...`` paths start (default: the JSON's folder)."""
    root = as_path(root)
    if split not in ("test", "train"):
        raise BenchmarkError(f"colorswap: split must be test or train, got {split!r}")
    name = f"{split}.json"
    found = find_file(root, name, ("", "data")) if root.is_dir() else None
    parquet = sorted(root.rglob(f"{split}-*.parquet")) if root.is_dir() and found is None else []
    if parquet:
        items = [it for p in parquet for it in _parquet_items(p)]
        return Benchmark("colorswap", items, _score, strict=strict, outcomes_fn=item_outcomes,
                         notes=["ties count as wrong; by_group: '<image_source>/<metric>'"])
    path = require_file(found, root / name, f"ColorSwap file {name} (or {split}-*.parquet)",
                        COLORSWAP_SOURCE)
    records = read_json(path)
    if not isinstance(records, list):
        raise format_error(path, "top level", f"expected a JSON list, got {type(records).__name__}")
    base = as_path(image_root) if image_root is not None else path.parent
    items = []
    for index, record in enumerate(records):
        where = f"index {index}"
        images = [get_field(record, k, str, path, where) for k in ("image_1", "image_2")]
        items.append(_item(record, [ImageRef(str(base / p)) for p in images], path, where, index))
    return Benchmark("colorswap", items, _score, strict=strict, outcomes_fn=item_outcomes,
                     notes=["ties count as wrong; by_group: '<image_source>/<metric>'"])


def _parquet_items(path) -> list[Item]:
    return [_item(row, refs, path, where, index)
            for index, (row, refs, where) in enumerate(parquet_rows(path, ("image_1", "image_2")))]


def _item(record, refs: list[ImageRef], path, where: str, index: int) -> Item:
    """One example: images ``[image_1, image_2]``, captions ``[caption_1, caption_2]``."""
    captions = [get_field(record, k, str, path, where) for k in ("caption_1", "caption_2")]
    source = record.get("image_source") if isinstance(record.get("image_source"), str) else "unknown"
    return Item(images=refs, captions=captions, label=None, group=source, meta={"id": record.get("id", index)})


item_outcomes = winoground_item_outcomes  # per item: Winoground text, image, group (strict >)


def _score(items: Sequence[Item], sims: Sequence[np.ndarray]) -> dict:
    outcomes = item_outcomes(items, sims)
    metrics, _ = drop_nan({m: accuracy(outcomes[m]) for m in METRICS})
    groups = np.array([it.group for it in items])
    by_group, counts = {}, {}
    for source in dict.fromkeys(groups.tolist()):
        mask = groups == source
        counts[source] = int(mask.sum())
        by_group.update({f"{source}/{m}": accuracy(outcomes[m][mask]) for m in METRICS})
    return {**metrics, "by_group": by_group, "counts": {"by_group": counts}}
