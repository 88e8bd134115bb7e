"""Reading JSON and JSON Lines files with errors that name the file and the line or index."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from ahnpl_plugin.errors import DataError


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text (bad byte at offset {err.start})") from None


def read_json(path: str | Path):
    """The parsed content of a JSON file; malformed JSON names the line and column."""
    path = Path(path)
    text = _read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: malformed JSON at line {err.lineno}, column {err.colno}: {err.msg}") from None


def read_json_list(path: str | Path) -> list:
    """A JSON file that must hold a list (LAVIS annotation files do)."""
    data = read_json(path)
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of rows, got a JSON {type(data).__name__}")
    return data


NEGATIVES_HEADER_KEY = "negatives_header"  # see ahnpl_plugin.negatives.records


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """``(line_number, object)`` for every non-blank line; a bad line names its number."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    with open(path, encoding="utf-8") as f:
        number = 0
        while True:
            try:
                line = f.readline()
            except UnicodeDecodeError as err:
                raise DataError(f"{path}: line {number + 1}: not UTF-8 text ({err.reason})") from None
            if not line:
                return
            number += 1
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{path}: line {number}, column {err.colno}: malformed JSON: {err.msg}") from None
            if not isinstance(item, dict):
                raise DataError(f"{path}: line {number}: expected a JSON object, got a JSON {type(item).__name__}")
            if len(item) == 1 and NEGATIVES_HEADER_KEY in item:
                continue  # the header line of a generated negatives file (what made them), not a record
            yield number, item
