"""Winoground (Thrush et al., CVPR 2022): two images, two captions, same words in another order.

Two local forms of huggingface.co/datasets/facebook/winoground are read:
- ``examples.jsonl`` (rows ``id, image_0, image_1, caption_0, caption_1, tag, ...``; image names
  without extension, as first released) with the ``.png`` files in ``image_root`` (default: the
  ``images`` folder beside the JSONL);
- the parquet file(s), images stored inside as bytes (kept in memory in each ``ImageRef.data``).

Each item has images ``[image_0, image_1]`` and captions ``[caption_0, caption_1]``; sims are
``[2, 2]`` with ``sims[i, j] = s(image_i, caption_j)``. Scores: text = s(c0,i0) > s(c1,i0) and
s(c1,i1) > s(c0,i1); image = s(c0,i0) > s(c0,i1) and s(c1,i1) > s(c1,i0); group = both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ahnpl_plugin.data.jsonio import iter_jsonl
from ahnpl_plugin.errors import BenchmarkError, BenchmarkFileNotFoundError, BenchmarkFormatError
from .base import Benchmark, ImageRef, Item, as_path, find_file, format_error, get_field
from .scoring import accuracy, drop_nan

WINOGROUND_SOURCE = (
    "huggingface.co/datasets/facebook/winoground (data/examples.jsonl with data/images.zip, "
    "or the parquet conversion)"
)
JSONL_NAME = "examples.jsonl"
IMAGE_SUFFIX = ".png"


def load_winoground(root, image_root=None, *, strict: bool = False,
                    format: str = "auto") -> Benchmark:
    """Winoground from ``root``: a folder with ``examples.jsonl`` (or ``data/examples.jsonl``),
    a folder with parquet file(s), or a parquet file. ``format``: auto, jsonl or parquet."""
    root = as_path(root)
    if format not in ("auto", "jsonl", "parquet"):
        raise BenchmarkError(f"winoground: format must be auto, jsonl or parquet, got {format!r}")
    jsonl = None
    if format in ("auto", "jsonl") and root.is_dir():
        jsonl = find_file(root, JSONL_NAME, ("", "data"))
    if jsonl is not None:
        images_dir = as_path(image_root) if image_root is not None else jsonl.parent / "images"
        items = _jsonl_items(jsonl, images_dir)
    elif format in ("auto", "parquet"):
        parquet_files = [root] if root.is_file() and root.suffix == ".parquet" else (
            sorted(root.rglob("*.parquet")) if root.is_dir() else [])
        if not parquet_files:
            raise BenchmarkFileNotFoundError(
                f"Winoground not found: expected {root / JSONL_NAME} (or "
                f"{root / 'data' / JSONL_NAME}) with an images folder, or a .parquet file in "
                f"{root}. Download it from "
                f"{WINOGROUND_SOURCE}"
            )
        items = [it for p in parquet_files for it in _parquet_items(p)]
    else:
        raise BenchmarkFileNotFoundError(
            f"Winoground file not found: expected {root / JSONL_NAME} (or "
            f"{root / 'data' / JSONL_NAME}). Download it from {WINOGROUND_SOURCE}"
        )
    return Benchmark("winoground", items, _score_winoground, strict=strict,
                     notes=["ties count as wrong; by_group: '<tag>/<metric>'"], outcomes_fn=winoground_item_outcomes)


def _jsonl_items(path: Path, images_dir: Path) -> list[Item]:
    items = []
    for line_no, row in iter_jsonl(path, BenchmarkFormatError, objects=False, skip_header=False):
        where = f"line {line_no}"
        refs = [ImageRef(str(images_dir / _with_suffix(
            get_field(row, key, str, path, where)))) for key in ("image_0", "image_1")]
        items.append(_item(row, refs, path, where))
    return items


def _with_suffix(name: str) -> str:
    """Image names were released without extension: add ``.png`` when there is none."""
    return name if Path(name).suffix else name + IMAGE_SUFFIX


def _parquet_items(path: Path) -> list[Item]:
    return [_item(row, refs, path, where) for row, refs, where in parquet_rows(path, ("image_0", "image_1"))]


def parquet_rows(path: Path, image_keys: Sequence[str]) -> list[tuple[dict, list[ImageRef], str]]:
    """``(row, image refs, where)`` per row of a parquet file whose ``image_keys`` columns hold
    encoded images (kept in memory, each ref labelled ``"<file>#<row>/<column>"``)."""
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(path).to_pylist()
    except Exception as err:  # pyarrow raises several types for an unreadable file
        raise format_error(path, "parquet", f"cannot be read ({err})") from err
    out = []
    for index, row in enumerate(rows):
        where = f"row {index}"
        out.append((row, [ImageRef(f"{path}#{index}/{key}", None, _image_bytes(row, key, path, where))
                          for key in image_keys], where))
    return out


def _image_bytes(row: dict, key: str, path: Path, where: str) -> bytes:
    """The encoded image of a parquet cell: raw bytes or the datasets ``{"bytes", "path"}``."""
    value = row.get(key)
    if isinstance(value, dict):
        value = value.get("bytes")
    if not isinstance(value, (bytes, bytearray)) or not value:
        raise format_error(path, f"{where}.{key}", "expected image bytes")
    return bytes(value)


def _item(row: Any, refs: list[ImageRef], path: Path, where: str) -> Item:
    captions = [get_field(row, key, str, path, where) for key in ("caption_0", "caption_1")]
    tag = row.get("tag") if isinstance(row.get("tag"), str) else "all"
    return Item(images=refs, captions=captions, label=None, group=tag,
                meta={"id": row.get("id"), "secondary_tag": row.get("secondary_tag"),
                      "collapsed_tag": row.get("collapsed_tag")})


def winoground_outcomes(s: np.ndarray) -> tuple[bool, bool, bool]:
    """(text, image, group) correctness of one ``[2 images, 2 captions]`` array."""
    text = s[0, 0] > s[0, 1] and s[1, 1] > s[1, 0]
    image = s[0, 0] > s[1, 0] and s[1, 1] > s[0, 1]
    return bool(text), bool(image), bool(text and image)


def winoground_item_outcomes(items: Sequence[Item], sims: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Per item ``{"text", "image", "group"}`` bool arrays: the outcomes the protocols aggregate,
    for Winoground and every Winoground-style benchmark (EqBen, ColorSwap, MMVP-VLM)."""
    table = np.array([winoground_outcomes(s) for s in sims], dtype=bool).reshape(-1, 3)
    return {m: table[:, k] for k, m in enumerate(("text", "image", "group"))}


def _score_winoground(items: Sequence[Item], sims: Sequence[np.ndarray]) -> dict:
    per_item = winoground_item_outcomes(items, sims)
    outcomes = np.stack([per_item[m] for m in ("text", "image", "group")], axis=1).reshape(-1, 3)
    metrics, _ = drop_nan({name: accuracy(outcomes[:, k])
                           for k, name in enumerate(("text", "image", "group"))})
    tags = sorted({it.group for it in items})
    by_group, counts = {}, {}
    for tag in tags:
        mask = np.array([it.group == tag for it in items])
        counts[tag] = int(mask.sum())
        for k, name in enumerate(("text", "image", "group")):
            by_group[f"{tag}/{name}"] = accuracy(outcomes[mask, k])
    return {**metrics, "by_group": by_group, "counts": {"by_group": counts}}
