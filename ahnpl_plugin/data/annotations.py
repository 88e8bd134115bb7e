"""Annotation files (COCO, Flickr30k): read and check every row.

Train rows: ``{"image": "train2014/COCO_train2014_000000057870.jpg", "caption": str, "image_id": ...}``,
one row per caption, read from any of:

* COCO's own captions file as cocodataset.org distributes it (``annotations/captions_train2014.json``:
  ``{"images": [{"id", "file_name", ...}], "annotations": [{"image_id", "caption", ...}]}``), one
  row per entry of ``annotations`` in file order; ``image`` is ``<folder>/<file_name>`` with the
  folder from COCO's file name pattern ``COCO_<folder>_<id>.jpg`` (other names are kept as they
  are), ``image_id`` the integer id;
* a LAVIS Karpathy train list (``coco_karpathy_train.json``, ``flickr30k_train.json``);
* a ``.jsonl`` of such records (e.g. an imported CE-CLIP file, which then serves as its own
  annotation file).

Val/test rows: ``{"image": str, "caption": [str, ...]}``, one row per image (LAVIS's Karpathy
val/test files). ``image`` is relative to the images folder. A malformed row is an error naming
the file and the row index (JSON) or line (JSONL).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from ahnpl_plugin.errors import DataError
from ahnpl_plugin.data.jsonio import is_jsonl, iter_jsonl, read_json

# COCO's file names: COCO_train2014_000000057870.jpg lives in train2014/
_COCO_FILE_NAME = re.compile(r"^COCO_(?P<folder>[A-Za-z]+\d{4})_\d+\.\w+$")
TRAIN_FORMATS = ("a LAVIS Karpathy train list [{\"image\", \"caption\"}, ...] or COCO's captions file "
                 "({\"images\": [...], \"annotations\": [...]}, e.g. annotations/captions_train2014.json)")


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


def coco_image_path(file_name: str) -> str:
    """``train2014/COCO_train2014_000000057870.jpg`` for ``COCO_train2014_000000057870.jpg``: the
    folder COCO's file name pattern names; a name of another pattern is returned as it is."""
    match = _COCO_FILE_NAME.match(file_name)
    return f"{match['folder']}/{file_name}" if match else file_name


def is_coco_captions_file(data) -> bool:
    """Whether parsed JSON has the layout of COCO's captions files (``images`` + ``annotations``)."""
    return isinstance(data, dict) and "images" in data and "annotations" in data


def _coco_image_paths(images, where: str, strict: bool, error: type[Exception]) -> dict:
    """``image id -> image path`` of a COCO captions file's ``images`` list (``strict``: every entry
    must have an ``id`` and a ``file_name``; else such entries, or a non-list, are passed over)."""
    if not isinstance(images, list):
        if strict:
            raise error(f"{where}: 'images' must be a list, got a JSON {type(images).__name__}")
        return {}
    paths = {}
    for i, image in enumerate(images):
        if not isinstance(image, dict) or not isinstance(image.get("file_name"), str) or "id" not in image:
            if strict:
                raise error(f"{where}: images[{i}]: expected an object with 'id' and 'file_name', got {image!r:.80}")
            continue
        paths[image["id"]] = coco_image_path(image["file_name"])
    return paths


def coco_caption_entries(data: dict, where: str, strict: bool = True,
                         error: type[Exception] = DataError) -> list[dict]:
    """The one parser of COCO captions files (``{"images": [...], "annotations": [...]}``, parsed).

    The entries of ``annotations`` in file order, each with ``image`` (the path a train row has, from
    the ``images`` entry of its ``image_id``) put first and its own fields kept. ``strict`` (train
    annotations): ``images`` must list every ``image_id`` and each entry needs a non-empty string
    ``caption``; lenient (caption files fed to the negatives generator, where ``images`` may be
    absent): entries whose image is not listed are returned as they are, for the caller to check.
    ``where``: the file, for errors (of class ``error``).
    """
    paths = _coco_image_paths(data.get("images"), where, strict, error)
    annotations = data["annotations"]
    if not isinstance(annotations, list):
        raise error(f"{where}: 'annotations' must be a list, got a JSON {type(annotations).__name__}")
    entries = []
    for i, entry in enumerate(annotations):
        at = f"{where}: annotations[{i}]"
        image_id = entry.get("image_id") if isinstance(entry, dict) else None
        known = isinstance(image_id, (int, str)) and image_id in paths
        if strict:
            if not isinstance(entry, dict):
                raise error(f"{at}: expected an object with 'image_id' and 'caption', got a JSON {type(entry).__name__}")
            if not known:
                raise error(f"{at}: image_id {image_id!r:.40} is not an id of the file's 'images'")
            caption = entry.get("caption")
            if not isinstance(caption, str) or not caption.strip():
                raise error(f"{at}: 'caption' must be a non-empty string, got {caption!r:.80} "
                            "(COCO's captions_*.json files have one; instances/keypoints files do not)")
        entries.append({"image": paths[image_id], **entry} if known else entry)
    return entries


def coco_caption_rows(data: dict, where: str) -> list[dict]:
    """Train rows ``{"image", "caption", "image_id"}`` of a parsed COCO captions file, one per
    entry of ``annotations`` in file order (``where``: the file, for errors)."""
    return [{"image": e["image"], "caption": e["caption"], "image_id": e["image_id"]}
            for e in coco_caption_entries(data, where)]


def _json_train_rows(path: Path) -> list[dict]:
    data = read_json(path)
    if is_coco_captions_file(data):
        return coco_caption_rows(data, str(path))
    if not isinstance(data, list):
        keys = f" with keys {sorted(data)[:5]}" if isinstance(data, dict) else ""
        raise DataError(f"{path}: expected {TRAIN_FORMATS}; got a JSON {type(data).__name__}{keys}")
    return [check_train_row(row, f"{path}: row {i}") for i, row in enumerate(data)]


def read_train_annotations(paths) -> list[dict]:
    """Every row of the train annotation file(s), in order, each checked (formats: module docstring)."""
    rows = []
    for path in _paths(paths):
        if is_jsonl(path):
            rows += [check_train_row(row, f"{path}: line {n}") for n, row in iter_jsonl(path)]
        else:
            rows += _json_train_rows(path)
    return rows


def read_eval_annotations(paths) -> list[dict]:
    """Every row of the val/test annotation file(s), in order, each checked."""
    rows = []
    for path in _paths(paths):
        data = read_json(path)
        if is_coco_captions_file(data):
            raise DataError(f"{path}: a COCO captions file has no Karpathy val/test split; point the val/test "
                            "annotations at LAVIS's coco_karpathy_val.json / coco_karpathy_test.json (docs/data.md)")
        if not isinstance(data, list):
            raise DataError(f"{path}: expected a JSON list of rows, got a JSON {type(data).__name__}")
        rows += [check_eval_row(row, f"{path}: row {i}") for i, row in enumerate(data)]
    return rows
