"""``import-npy``: the published CE-CLIP / AHNPL hard-negative ``.npy`` files -> our JSON Lines.

Those files are ``np.save`` of a pickled list of dicts, one per COCO 2014 caption annotation, with
``image_id``, ``id``, ``caption``, the negatives and ``valid_caption``. Field layouts recognised
(``valid_caption`` = [1] + one flag per field, in this order):

* ``ahnpl``: relation, adj_swap, adj, noun, verb (``<type>_aug_caption``, the shared contract);
* ``ahnpl_released``: ``obj_relation``, ``adj_relation``, adj, noun, verb (names in AHNPL's released
  open_clip fork: obj_relation = relation, adj_relation = adj_swap); a 7th flag is allowed when the
  record also has its unused ``rel_aug_caption``;
* ``ceclip``: relation, adj, noun, verb (4 negatives; adj_swap is written invalid).

Unpickling runs code from the file: nothing is unpickled unless the caller passes
``allow_pickle=True`` (the CLI's ``--allow-pickle``); the header is read first without unpickling.

Output records: ``image`` (COCO 2014 path derived from ``image_id``: ``train2014/COCO_train2014_
%012d.jpg`` for split train2014, the published files' split; ``auto`` looks the id up on disk under
``image_root``; never guessed from path substrings), ``image_id``, ``id``, ``caption``, the five
AHNPL fields in AHNPL order and ``valid_caption``. The published generators' quirks are not kept:
a negative is written invalid (``"###"``, flag 0) when its flag is 0, it is empty, still holds a
``<mask>`` token (a failed fill), or equals the caption up to case, spaces and final punctuation.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ahnpl_plugin.errors import DataError
from ahnpl_plugin.data.images import COCO2014_SPLITS, coco2014_file, coco2014_file_on_disk
from ahnpl_plugin.contract import AHNPL_TYPES, FIELD_SUFFIX, INVALID

LAYOUTS: dict[str, tuple[tuple[str, str], ...]] = {
    # layout name -> ((field in the file, our type), ...) in valid_caption order
    "ahnpl": tuple((t + FIELD_SUFFIX, t) for t in AHNPL_TYPES),
    "ahnpl_released": (
        ("obj_relation_aug_caption", "relation"),
        ("adj_relation_aug_caption", "adj_swap"),
        ("adj_aug_caption", "adj"),
        ("noun_aug_caption", "noun"),
        ("verb_aug_caption", "verb"),
    ),
    "ceclip": tuple((t + FIELD_SUFFIX, t) for t in ("relation", "adj", "noun", "verb")),
}
IMAGE_SPLITS = COCO2014_SPLITS + ("auto",)
PICKLE_REFUSAL = (
    "{path} holds pickled Python objects (numpy dtype=object): loading a pickle can run arbitrary code "
    "from the file. If you trust where it comes from, rerun with --allow-pickle; the output JSONL is "
    "plain data and never needs this again"
)

_TRAILING_PUNCT = re.compile(r"[\s.!?,;:]+$")
_DIGITS = re.compile(r"\d+")


@dataclass
class ImportStats:
    """What an import read and changed, for the end-of-run summary."""

    files: int = 0
    records: int = 0
    layouts: Counter = field(default_factory=Counter)
    valid: Counter = field(default_factory=Counter)  # per type, after cleaning
    quirks: Counter = field(default_factory=Counter)  # "<type>: <reason>" -> count
    missing_images: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"imported {self.records} records from {self.files} file(s); layouts: "
               + ", ".join(f"{k} {v}" for k, v in sorted(self.layouts.items()))]
        out.append(f"  {'type':<10}{'valid':>9}{'rate':>8}")
        for t in AHNPL_TYPES:
            rate = 100.0 * self.valid[t] / self.records if self.records else 0.0
            out.append(f"  {t:<10}{self.valid[t]:>9}{rate:>7.1f}%")
        for reason, n in sorted(self.quirks.items()):
            out.append(f"  made invalid: {reason}: {n}")
        if self.missing_images:
            out.append(f"  images not found under the image root: {len(self.missing_images)} "
                       f"(e.g. {', '.join(self.missing_images[:3])})")
        return out


def npy_files(source: str | Path) -> list[Path]:
    """The ``.npy`` file, or every ``.npy`` of a folder in natural order (part_2 before part_10)."""
    source = Path(source)
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise DataError(f"{source}: no such file or folder")
    files = [p for p in source.iterdir() if p.suffix == ".npy" and p.is_file()]
    if not files:
        raise DataError(f"{source}: no .npy files in this folder")
    return sorted(files, key=lambda p: [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", p.name)])


def npy_holds_objects(path: Path) -> bool:
    """Whether an .npy file's array has dtype=object (needs unpickling), read from its header only."""
    import numpy as np

    with open(path, "rb") as f:
        try:
            version = np.lib.format.read_magic(f)
            reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            _, _, dtype = reader(f)
        except (ValueError, OSError) as exc:
            raise DataError(f"{path}: not a .npy file ({exc})") from None
    return dtype.hasobject


def load_npy_records(path: Path, allow_pickle: bool) -> list:
    """The list of dicts pickled in ``path`` (refuses unless ``allow_pickle``)."""
    import numpy as np

    if not npy_holds_objects(path):
        raise DataError(f"{path}: holds a plain numeric array, not the pickled records of a CE-CLIP/AHNPL file")
    if not allow_pickle:
        raise DataError(PICKLE_REFUSAL.format(path=path))
    try:
        array = np.load(path, allow_pickle=True)
    except Exception as exc:  # a broken pickle can raise anything
        raise DataError(f"{path}: cannot load ({type(exc).__name__}: {exc})") from None
    data = array.tolist()
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a list of records, got {type(data).__name__}")
    return data


def _plain(value):
    """numpy scalars/arrays -> Python values (for JSON)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def detect_layout(record: dict, where: str) -> str:
    for name, fields in LAYOUTS.items():
        if all(f in record for f, _ in fields):
            return name
    expected = "; ".join(f"{name}: {', '.join(f for f, _ in fields)}" for name, fields in LAYOUTS.items())
    raise DataError(f"{where}: unknown field layout (keys: {', '.join(sorted(map(str, record)))}); expected one of {expected}")


def parse_image_id(value, where: str) -> int:
    value = _plain(value)
    if isinstance(value, bool):
        raise DataError(f"{where}: 'image_id' must be a COCO image id, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        digits = _DIGITS.findall(value)
        if digits:
            return int(digits[-1])
    raise DataError(f"{where}: 'image_id' must be a COCO image id (int or 'coco_N'), got {value!r:.60}")


def _same_text(a: str, b: str) -> bool:
    return _TRAILING_PUNCT.sub("", " ".join(a.lower().split())) == _TRAILING_PUNCT.sub("", " ".join(b.lower().split()))


def _invalid_reason(text, caption: str) -> str | None:
    """Why a negative flagged valid is not usable, or None when it is."""
    if not isinstance(text, str) or not text.strip() or text == INVALID:
        return "flagged valid but empty or ###"
    if "<mask>" in text:
        return "unfilled <mask>"
    if _same_text(text, caption):
        return "same as the caption"
    return None


def convert_record(record, where: str, image_split: str, image_root: str | None, stats: ImportStats) -> dict:
    """One published record -> our JSONL record (see the module docstring)."""
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a dict record, got {type(record).__name__}")
    layout = detect_layout(record, where)
    fields = LAYOUTS[layout]
    caption = _plain(record.get("caption"))
    if not isinstance(caption, str) or not caption.strip():
        raise DataError(f"{where}: 'caption' must be a non-empty string, got {caption!r:.60}")
    if "image_id" not in record:
        raise DataError(f"{where}: has no 'image_id' (keys: {', '.join(sorted(map(str, record)))})")
    image_id = parse_image_id(record["image_id"], where)
    flags = _plain(record.get("valid_caption"))
    if not isinstance(flags, (list, tuple)) or not all(isinstance(f, (int, float)) and f in (0, 1) for f in flags):
        raise DataError(f"{where}: 'valid_caption' must be a list of 0/1, got {flags!r:.60}")
    extra = 1 if layout == "ahnpl_released" and "rel_aug_caption" in record else 0
    if len(flags) not in (1 + len(fields), 1 + len(fields) + extra):
        raise DataError(f"{where}: 'valid_caption' has {len(flags)} entries; layout {layout} needs {1 + len(fields)}")

    if image_split == "auto":
        image = coco2014_file_on_disk(image_id, image_root)
        if image is None:
            stats.missing_images.append(f"COCO id {image_id}")
            image = coco2014_file(image_id, "train2014")
    else:
        image = coco2014_file(image_id, image_split)
        if image_root is not None and not (Path(image_root) / image).is_file():
            stats.missing_images.append(image)

    out = {"image": image, "image_id": image_id}
    if "id" in record:
        out["id"] = _plain(record["id"])
    out["caption"] = caption
    negatives = {t: INVALID for t in AHNPL_TYPES}
    for (name, t), flag in zip(fields, flags[1:]):
        if not flag:
            continue
        text = _plain(record[name])
        reason = _invalid_reason(text, caption)
        if reason is None:
            negatives[t] = text
            stats.valid[t] += 1
        else:
            stats.quirks[f"{t}: {reason}"] += 1
    for t in AHNPL_TYPES:
        out[t + FIELD_SUFFIX] = negatives[t]
    out["valid_caption"] = [1] + [int(negatives[t] != INVALID) for t in AHNPL_TYPES]
    stats.layouts[layout] += 1
    return out


def convert(source: str | Path, allow_pickle: bool, image_split: str = "train2014",
            image_root: str | Path | None = None, stats: ImportStats | None = None) -> Iterator[dict]:
    """Our records of every published record under ``source`` (a file or a folder of shards)."""
    if image_split not in IMAGE_SPLITS:
        raise DataError(f"unknown --image-split {image_split!r}; valid: {', '.join(IMAGE_SPLITS)}")
    if image_split == "auto" and image_root is None:
        raise DataError("--image-split auto looks each image id up on disk: give --image-root (the folder "
                        "holding train2014/ and val2014/)")
    if image_root is not None and not Path(image_root).is_dir():
        raise DataError(f"--image-root {image_root}: no such folder")
    stats = stats if stats is not None else ImportStats()
    files = npy_files(source)
    for path in files:  # check every file before converting any (no half-written output)
        if not allow_pickle and npy_holds_objects(path):
            raise DataError(PICKLE_REFUSAL.format(path=path))
    for path in files:
        records = load_npy_records(path, allow_pickle)
        stats.files += 1
        for i, record in enumerate(records):
            stats.records += 1
            yield convert_record(record, f"{path}: record {i}", image_split,
                                 None if image_root is None else str(image_root), stats)
