"""LAVIS Karpathy annotation files (COCO, Flickr30k): read and check every row.

Train rows: ``{"image": "train2014/COCO_train2014_000000057870.jpg", "caption": str, "image_id": ...}``,
one row per caption; a ``.jsonl`` of such records is read too (e.g. an imported CE-CLIP file, which
then serves as its own annotation file). Val/test rows: ``{"image": str, "caption": [str, ...]}``,
one row per image. ``image`` is relative to the images folder. A malformed row is an error naming
the file and the row index (JSON) or line (JSONL).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ahnpl_plugin.data.errors import DataError
from ahnpl_plugin.data.jsonio import iter_jsonl, read_json_list

JSONL_SUFFIXES = (".jsonl", ".ndjson")


def _check_image(row, where: str) -> None:
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected an object with 'image' and 'caption', got a JSON {type(row).__name__}")
    image = row.get("image")
    if not isinstance(image, str) or not image.strip():
        raise DataError(f"{where}: 'image' must be a non-empty path string, got {image!r:.80}")


def check_train_row(row, where: str) -> dict:
    """A train row with a string ``image`` and a non-empty string ``caption`` (else DataError)."""
    _check_image(row, where)
    caption = row.get("caption")
    if not isinstance(caption, str) or not caption.strip():
        raise DataError(f"{where}: 'caption' must be a non-empty string, got {caption!r:.80}")
    return row


def check_eval_row(row, where: str) -> dict:
    """A val/test row with a string ``image`` and a non-empty list of caption strings."""
    _check_image(row, where)
    captions = row.get("caption")
    if (not isinstance(captions, list) or not captions
            or not all(isinstance(c, str) and c.strip() for c in captions)):
        raise DataError(f"{where}: 'caption' must be a non-empty list of caption strings, got {captions!r:.80}")
    return row


def _paths(paths: str | Path | Sequence) -> list[Path]:
    return [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]


def read_train_annotations(paths) -> list[dict]:
    """Every row of the train annotation file(s), in order, each checked."""
    rows = []
    for path in _paths(paths):
        if path.suffix.lower() in JSONL_SUFFIXES:
            rows += [check_train_row(row, f"{path}: line {n}") for n, row in iter_jsonl(path)]
        else:
            rows += [check_train_row(row, f"{path}: row {i}") for i, row in enumerate(read_json_list(path))]
    return rows


def read_eval_annotations(paths) -> list[dict]:
    """Every row of the val/test annotation file(s), in order, each checked."""
    rows = []
    for path in _paths(paths):
        rows += [check_eval_row(row, f"{path}: row {i}") for i, row in enumerate(read_json_list(path))]
    return rows
