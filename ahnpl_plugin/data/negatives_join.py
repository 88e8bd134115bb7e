"""Hard-negative records: read, put in one layout, and join onto annotation rows.

A negatives record (a line of the JSONL that ``python -m ahnpl_plugin.negatives`` or
``python -m ahnpl_plugin.data import-npy`` writes) holds ``caption``, ``image`` and/or
``image_id``, fields ``<type>_aug_caption`` and ``valid_caption``. The entries of
``valid_caption`` after the leading 1 follow the order of the ``*_aug_caption`` fields in the
record (the generator writes both in its ``--types`` order; for AHNPL's five types in AHNPL order
that is the shared layout ``[1, relation, adj_swap, adj, noun, verb]``).

:func:`canonical_negatives` rewrites that into the layout the training dataset reads whatever
subset or order of types the file has: each field's text, ``"###"`` where invalid, and
``valid_caption`` = ``[1]`` + one flag per AHNPL type in AHNPL order (0 for a type the file lacks).

Join key of a record: (image number, caption lower-cased with runs of spaces collapsed). The image
number is the last digit run of the ``image`` file stem (``COCO_val2014_000000391895.jpg`` ->
391895, ``1000092795.jpg`` -> 1000092795), else the digits of ``image_id`` (57870,
``"coco_57870"``). So one negatives file joins onto annotations however its image paths are
spelled (a CE-CLIP import, a file generated from COCO's captions json, one generated from the
Karpathy file itself).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from ahnpl_plugin.contract import AHNPL_TYPES, FIELD_SUFFIX, INVALID, VALID_FIELD, field_name, valid_flags
from ahnpl_plugin.data.jsonio import iter_jsonl
from ahnpl_plugin.errors import DataError
UNMATCHED_POLICIES = ("error", "drop", "keep")

_DIGIT_RUN = re.compile(r"\d+")


def negative_fields(record: dict) -> list[str]:
    """The record's ``*_aug_caption`` field names, in the record's order."""
    return [k for k in record if isinstance(k, str) and k.endswith(FIELD_SUFFIX)]


def _flags(record: dict, fields: list[str], where: str) -> list[int]:
    flags = record.get("valid_caption")
    if flags is None:  # no mask: a field is valid when its text is
        return [1] * len(fields)
    if not isinstance(flags, (list, tuple)) or not all(isinstance(f, (bool, int)) and int(f) in (0, 1) for f in flags):
        raise DataError(f"{where}: 'valid_caption' must be a list of 0/1, got {flags!r:.80}")
    if len(flags) != 1 + len(fields):
        raise DataError(
            f"{where}: 'valid_caption' has {len(flags)} entries for {len(fields)} negative field(s) "
            f"({', '.join(fields) or 'none'}); expected 1 + one per field, in field order"
        )
    return [int(f) for f in flags[1:]]


def canonical_negatives(record: dict, where: str) -> dict:
    """The record's negatives as ``{<type>_aug_caption: text or "###", "valid_caption": [1, 5 flags]}``."""
    fields = negative_fields(record)
    out: dict = {}
    for name, flag in zip(fields, _flags(record, fields, where)):
        text = record[name]
        if not isinstance(text, str):
            raise DataError(f"{where}: {name!r} must be a string, got {text!r:.80}")
        ok = bool(flag) and text.strip() != "" and text != INVALID
        out[name] = text if ok else INVALID
    out[VALID_FIELD] = valid_flags({name[: -len(FIELD_SUFFIX)]: text for name, text in out.items()})
    return out


def no_negatives() -> dict:
    """The canonical negatives of a caption that has none (every type invalid)."""
    return {**{field_name(t): INVALID for t in AHNPL_TYPES}, VALID_FIELD: valid_flags({})}


def image_number(record: dict):
    """The image identity used to join: see the module docstring; None when the record has neither."""
    image = record.get("image")
    if isinstance(image, str) and image.strip():
        stem = PurePosixPath(image.replace("\\", "/")).stem
        digits = _DIGIT_RUN.findall(stem)
        return int(digits[-1]) if digits else stem
    image_id = record.get("image_id")
    if isinstance(image_id, bool):
        return None
    if isinstance(image_id, int):
        return image_id
    if isinstance(image_id, str):
        digits = _DIGIT_RUN.findall(image_id)
        return int(digits[-1]) if digits else image_id
    return None


def normalize_caption(caption: str) -> str:
    return " ".join(caption.lower().split())


def join_key(record: dict) -> tuple:
    return image_number(record), normalize_caption(record["caption"])


def read_negatives(path) -> dict[tuple, dict]:
    """Join key -> canonical negatives of every record of a negatives JSONL (first record wins)."""
    by_key: dict[tuple, dict] = {}
    for number, record in iter_jsonl(path):
        where = f"{path}: line {number}"
        caption = record.get("caption")
        if not isinstance(caption, str):
            raise DataError(f"{where}: 'caption' must be a string, got {caption!r:.80}")
        key = join_key(record)
        if key[0] is None:
            raise DataError(f"{where}: needs 'image' (a path) or 'image_id' to be joined with annotations")
        if key not in by_key:
            by_key[key] = canonical_negatives(record, where)
    return by_key


@dataclass
class JoinResult:
    """Training records (``image``, ``caption`` + canonical negatives) and what did not join."""

    records: list[dict]
    unmatched: list[dict] = field(default_factory=list)  # annotation rows without negatives
    unused: int = 0  # negatives records no annotation row asked for

    def valid_rates(self, types: Sequence[str] = AHNPL_TYPES) -> dict[str, float]:
        """Share of records with a valid negative, per type (records without negatives count as invalid)."""
        n = len(self.records)
        return {t: (sum(r.get(t + FIELD_SUFFIX, INVALID) != INVALID for r in self.records) / n if n else 0.0)
                for t in types}


def join_negatives(rows: Iterable[dict], negatives: dict[tuple, dict], unmatched: str = "error",
                   annotations: str = "annotations", negatives_path: str = "negatives") -> JoinResult:
    """Attach negatives to annotation rows by join key.

    ``unmatched``: ``error`` (DataError with the count and first examples), ``drop`` (leave such rows
    out) or ``keep`` (train them with every negative invalid).
    """
    if unmatched not in UNMATCHED_POLICIES:
        raise DataError(f"unknown unmatched_negatives {unmatched!r}; valid: {', '.join(UNMATCHED_POLICIES)}")
    result, used = JoinResult(records=[]), set()
    for row in rows:
        key = join_key(row)
        found = negatives.get(key)
        if found is None:
            result.unmatched.append(row)
            if unmatched == "drop":
                continue
            found = no_negatives()
        used.add(key)
        result.records.append({"image": row["image"], "caption": row["caption"], **found})
    result.unused = len(negatives) - len(used & negatives.keys())
    if result.unmatched and unmatched == "error":
        examples = "; ".join(f"{r['image']} {r['caption']!r:.60}" for r in result.unmatched[:3])
        raise DataError(
            f"{len(result.unmatched)} of {len(result.records)} rows of {annotations} have no hard negatives in "
            f"{negatives_path} (e.g. {examples}). Make the negatives from this annotation file: "
            f"python -m ahnpl_plugin.negatives --input {annotations} --output {negatives_path}; "
            "or set unmatched_negatives: drop (leave them out) or keep (train them without negatives)"
        )
    return result
