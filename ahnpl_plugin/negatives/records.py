"""Caption files in, JSON Lines out.

Inputs (by file name suffix):

- ``.json``: a COCO captions file ``{"annotations": [{"image_id", "id", "caption"}, ...]}`` (when its
  ``images`` list names files, e.g. COCO's ``captions_train2014.json``, each record also gets the
  train-annotation ``image`` path, ``train2014/COCO_train2014_000000057870.jpg``, so the output
  can serve as its own train annotation file) or a LAVIS Karpathy list
  ``[{"caption", "image", "image_id"}, ...]``; a record whose ``caption`` is a list of strings
  (Karpathy val/test) gives one output record per caption.
- ``.jsonl`` / ``.ndjson``: one JSON object with a ``caption`` per line (blank lines skipped).
- ``.gz`` of either: read through gzip (:mod:`ahnpl_plugin.data.jsonio`, the package's JSON reader).
- anything else: UTF-8 text, one caption per line (every line is a caption, blank ones too).

Every output record keeps its input fields (a text line becomes ``{"caption": line}``). The output's
first line is a header, ``{"negatives_header": {...}}`` (generator version, rules, types, seed,
spaCy model name, version and weights hash...: which generator made these negatives); every
reader of negatives/annotation JSONL in this project skips it (:func:`is_header`), and files
without one (CE-CLIP/AHNPL released negatives, older outputs) read as before. Errors
name the file and the position; the output is written to a temporary name in the same folder and
renamed at the end, so a failed run leaves no partial file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from ahnpl_plugin.data import jsonio
from ahnpl_plugin.errors import NegativesError

HEADER_KEY = jsonio.NEGATIVES_HEADER_KEY
is_header = jsonio.is_negatives_header  # True for the header line of a negatives file


def read_records(path: str | Path) -> list[dict]:
    """Input records, each with a string ``caption``, in file order."""
    path = Path(path)
    if jsonio.is_json(path):
        return _json_records(path)
    if jsonio.is_jsonl(path):
        records: list[dict] = []
        for number, item in jsonio.iter_jsonl(path, NegativesError, objects=False):
            records += _caption_records(item, f"{path}: line {number}")
        return records
    return [{"caption": line} for line in jsonio.read_text(path, NegativesError).splitlines()]


def _json_records(path: Path) -> list[dict]:
    from ahnpl_plugin.data.annotations import coco_caption_entries

    data = jsonio.read_json(path, NegativesError)
    if isinstance(data, dict) and "annotations" in data:
        items, where = coco_caption_entries(data, str(path), strict=False, error=NegativesError), "annotations"
    elif isinstance(data, list):
        items, where = data, ""
    else:
        raise NegativesError(
            f"{path}: expected a COCO captions file ({{\"annotations\": [...]}}) or a list of "
            f"{{\"caption\": ...}} records, got a JSON {type(data).__name__}"
            + (f" with keys {sorted(data)[:5]}" if isinstance(data, dict) else "")
        )
    records: list[dict] = []
    for i, item in enumerate(items):
        records += _caption_records(item, f"{path}: {where}[{i}]")
    return records


def read_header(path: str | Path) -> dict | None:
    """The header of a negatives JSONL file (its first line), or None when it has none."""
    item = jsonio.read_first_jsonl(path)
    return item[HEADER_KEY] if is_header(item) else None


def _caption_records(item, where: str) -> list[dict]:
    """The record(s) of one input item: one per caption string."""
    if not isinstance(item, dict):
        raise NegativesError(f"{where} is a JSON {type(item).__name__}, not an object with a 'caption'")
    if "caption" not in item:
        raise NegativesError(f"{where} has no 'caption' (keys: {sorted(item)[:8]})")
    caption = item["caption"]
    if isinstance(caption, str):
        return [item]
    if isinstance(caption, list) and all(isinstance(c, str) for c in caption):
        return [{**item, "caption": c} for c in caption]
    raise NegativesError(f"{where}: 'caption' must be a string or a list of strings, got {caption!r:.80}")


def write_jsonl(path: str | Path, records: Iterable[dict], header: dict | None = None) -> int:
    """Write records as JSON Lines (UTF-8), atomically, after a ``header`` line if given; returns
    how many records were written."""
    path = Path(path)
    if not path.parent.is_dir():
        raise NegativesError(f"{path}: the output folder {str(path.parent)!r} does not exist")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    count = 0
    try:
        # backslashreplace: a lone surrogate (valid in a JSON string, not in UTF-8) is written as
        # the JSON escape \udXXX itself, so the line stays valid JSON.
        with open(tmp, "w", encoding="utf-8", errors="backslashreplace", newline="\n") as out:
            if header is not None:
                out.write(json.dumps({HEADER_KEY: header}, ensure_ascii=False) + "\n")
            for record in records:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                count += 1
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count
