"""The one reader of JSON and JSON Lines files in the package: errors name the file and the line.

* :func:`read_json`: a whole ``.json`` file; malformed JSON names the line and column.
* :func:`iter_jsonl` / :func:`read_jsonl`: a ``.jsonl`` / ``.ndjson`` file line by line (blank lines
  skipped); a bad line names its number.
* A name ending in ``.gz`` (``captions.json.gz``, ``negatives.jsonl.gz``) is read through gzip; a
  UTF-8 byte order mark at the start of the text is ignored (files saved by Windows editors).

Every reader takes ``error``, the exception class to raise (default :class:`DataError`), so that a
benchmark loader raises its ``BenchmarkFormatError`` and the negatives generator its
``NegativesError`` with the same messages. Pure Python: every floor of the package may import it.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

from ahnpl_plugin.errors import DataError

JSONL_SUFFIXES = (".jsonl", ".ndjson")
GZIP_SUFFIX = ".gz"
ENCODING = "utf-8-sig"  # UTF-8; a leading byte order mark is dropped
NEGATIVES_HEADER_KEY = "negatives_header"  # see ahnpl_plugin.negatives.records


def _suffix(path: Path) -> str:
    """The suffix that says the format: ``.jsonl`` for ``x.jsonl.gz`` as for ``x.jsonl``."""
    name = path.name.lower()
    if name.endswith(GZIP_SUFFIX):
        name = name[: -len(GZIP_SUFFIX)]
    return Path(name).suffix


def is_jsonl(path: str | Path) -> bool:
    """Whether ``path`` names a JSON Lines file (``.jsonl``/``.ndjson``, gzipped or not)."""
    return _suffix(Path(path)) in JSONL_SUFFIXES


def is_json(path: str | Path) -> bool:
    """Whether ``path`` names a whole-file JSON file (``.json``, gzipped or not)."""
    return _suffix(Path(path)) == ".json"


def _open(path: Path, error: type[Exception]):
    """The file's bytes (gunzipped for ``.gz``), decoded by the caller: a bad byte then names its line."""
    if not path.is_file():
        raise error(f"{path}: no such file")
    if path.name.lower().endswith(GZIP_SUFFIX):
        return gzip.open(path, "rb")
    return open(path, "rb")


def read_text(path: str | Path, error: type[Exception] = DataError) -> str:
    """The text of a UTF-8 file (gunzipped for ``.gz``); a missing file or bad byte is an ``error``."""
    path = Path(path)
    try:
        with _open(path, error) as f:
            return f.read().decode(ENCODING)
    except UnicodeDecodeError as err:
        raise error(f"{path}: not UTF-8 text (bad byte at offset {err.start})") from None
    except (OSError, EOFError) as err:  # a truncated or non-gzip .gz
        raise error(f"{path}: cannot be read ({type(err).__name__}: {err})") from None


def parse_json(text: str, where: str, error: type[Exception] = DataError):
    """``text`` parsed as JSON; malformed JSON is an ``error`` naming ``where``, the line and column."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise error(f"{where}: malformed JSON at line {err.lineno}, column {err.colno}: {err.msg}") from None


def read_json(path: str | Path, error: type[Exception] = DataError):
    """The parsed content of a JSON file; malformed JSON names the line and column."""
    return parse_json(read_text(path, error), str(path), error)


def read_json_list(path: str | Path, error: type[Exception] = DataError) -> list:
    """A JSON file that must hold a list (LAVIS annotation files do)."""
    data = read_json(path, error)
    if not isinstance(data, list):
        raise error(f"{path}: expected a JSON list of rows, got a JSON {type(data).__name__}")
    return data


def is_negatives_header(item) -> bool:
    """True for the header line of a negatives file (``{"negatives_header": {...}}``)."""
    return isinstance(item, dict) and len(item) == 1 and NEGATIVES_HEADER_KEY in item


def iter_jsonl(path: str | Path, error: type[Exception] = DataError, objects: bool = True,
               skip_header: bool = True) -> Iterator[tuple[int, object]]:
    """``(line_number, value)`` for every non-blank line; a bad line names its number.

    ``objects``: every value must be a JSON object. ``skip_header``: the header line of a generated
    negatives file (what made them, :func:`is_negatives_header`) is not a record and is skipped."""
    path = Path(path)
    with _open(path, error) as f:
        number = 0
        while True:
            try:
                raw = f.readline()
            except (OSError, EOFError) as err:  # a truncated or non-gzip .gz
                raise error(f"{path}: line {number + 1}: cannot be read ({type(err).__name__}: {err})") from None
            if not raw:
                return
            number += 1
            try:
                line = raw.decode(ENCODING if number == 1 else "utf-8")
            except UnicodeDecodeError as err:
                raise error(f"{path}: line {number}: not UTF-8 text (bad byte at column {err.start + 1})") from None
            if not line.strip():
                continue
            try:
                item = json.loads(line.rstrip("\r\n"))  # the column counts on the line itself
            except json.JSONDecodeError as err:
                raise error(f"{path}: line {number}, column {err.colno}: malformed JSON: {err.msg}") from None
            if objects and not isinstance(item, dict):
                raise error(f"{path}: line {number}: expected a JSON object, got a JSON {type(item).__name__}")
            if skip_header and is_negatives_header(item):
                continue
            yield number, item


def read_jsonl(path: str | Path, error: type[Exception] = DataError, objects: bool = True) -> list:
    """Every record of a JSON Lines file (:func:`iter_jsonl`), in file order."""
    return [item for _, item in iter_jsonl(path, error, objects)]


def read_first_jsonl(path: str | Path):
    """The first non-blank line of a JSON Lines file parsed, or None (no such line, or not JSON)."""
    try:
        for _, item in iter_jsonl(path, objects=False, skip_header=False):
            return item
    except DataError:
        return None
    return None
