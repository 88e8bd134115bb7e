"""EqBen (Wang et al., ICCV 2023): Winoground-style pairs with visual-minimal changes.

Annotations as distributed by github.com/Wangt-CN/EqBen (Google Drive links in its README), read
as its ``src/eqben/eqben_utils.py`` reads them; every record is ``{"image0", "image1",
"caption0", "caption1"}`` with image paths relative to the image folder:

- the released 10% subset and the public original annotation: one JSON list of records (the
  samples of all sources mixed, "not classified to each category");
- per-source files: a list (Kubric, SD), a dict ``video -> [records]`` (YouCook2, GEBC) or
  ``video -> subject -> [records]`` (AG, whose captions are lists: the first one is used, as
  EqBen does).

The source of a record is the first component of its ``image0`` path when it names one of the
seven sources (``eqbenag, eqbenyoucook2, eqbengebc, eqbenkubric_loc, eqbenkubric_attr,
eqbenkubric_cnt, eqbensd``), else the annotation file's stem when that names one; otherwise the
record is counted under ``unknown`` and left out of the per-source average. YouCook2 frames are
``.npy`` BGR arrays (opened as EqBen does). The full benchmark has 251,048 samples (EqBen's
``SUBSET_LENGTH_INFO``); scores say which was evaluated (``counts.n_items`` against it).

Scores: Winoground's text / image / group per source (strict ``>``); the headline follows
vl_compo: the three Kubric splits averaged first, then the unweighted mean over the five sources
(AG, YouCook2, GEBC, Kubric, SD) of the group score; ``text`` and ``image`` likewise.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Sequence

import numpy as np

from ahnpl_plugin.errors import BenchmarkFileNotFoundError
from .base import Benchmark, ImageRef, Item, as_path, format_error, read_json
from .scoring import accuracy, drop_nan, macro_mean
from .winoground import winoground_item_outcomes

EQBEN_SOURCE = ("github.com/Wangt-CN/EqBen (README: full-set images ~100 GB and annotation, or "
                "the 10% subset's images ~10 GB and annotation, Google Drive)")
FULL_SIZES = {  # samples per source in the full benchmark (EqBen's evaluate_eqben_locally.py)
    "eqbenag": 195872, "eqbenyoucook2": 45849, "eqbengebc": 1814, "eqbenkubric_loc": 2000,
    "eqbenkubric_attr": 2000, "eqbenkubric_cnt": 2000, "eqbensd": 1513,
}
SOURCES = tuple(FULL_SIZES)
KUBRIC = ("eqbenkubric_loc", "eqbenkubric_attr", "eqbenkubric_cnt")
# the five columns vl_compo averages (Kubric: the mean of its three splits)
AVERAGED = ("eqbenag", "eqbenyoucook2", "eqbengebc", "eqbenkubric", "eqbensd")
METRICS = ("text", "image", "group")
def load_eqben(root, image_root=None, *, strict: bool = False,
               annotation_files: Sequence[str] | None = None) -> Benchmark:
    """EqBen from ``root``: an annotation JSON file, or a folder of them (``annotation_files``
    names them relative to ``root``; default: every ``*.json`` in it). ``image_root``: the image
    folder the annotation paths are relative to (default: ``root``'s folder)."""
    root = as_path(root)
    if root.is_file():
        paths, base = [root], root.parent
    else:
        base = root
        names = list(annotation_files) if annotation_files is not None else (
            sorted(p.name for p in root.glob("*.json")) if root.is_dir() else [])
        paths = [root / n for n in names]
        if not paths:
            raise BenchmarkFileNotFoundError(
                f"EqBen annotation not found: expected a JSON file at {root} or *.json files in "
                f"it. Download it from {EQBEN_SOURCE}")
        for path in paths:
            if not path.is_file():
                raise BenchmarkFileNotFoundError(
                    f"EqBen annotation file not found: expected {path}. Download it from {EQBEN_SOURCE}")
    images_dir = as_path(image_root) if image_root is not None else base
    items = []
    for path in paths:
        for where, record in _records(path, read_json(path)):
            items.append(_item(record, path, where, images_dir))
    n_full = sum(FULL_SIZES.values())
    variant = "full" if len(items) == n_full else f"{len(items)} of the {n_full} samples (e.g. the 10% subset)"
    notes = [f"EqBen evaluated on {variant}; ties count as wrong"]
    return Benchmark("eqben", items, _score, strict=strict, notes=notes, outcomes_fn=item_outcomes,
                     counts={"n_samples_full_benchmark": n_full})


def _records(path: Path, data):
    """``(where, record)`` of every sample of one annotation file, in any of EqBen's layouts."""
    if isinstance(data, list):
        yield from ((f"index {i}", r) for i, r in enumerate(data))
    elif isinstance(data, dict):
        for video, value in data.items():
            if isinstance(value, list):
                yield from ((f"{video!r}[{i}]", r) for i, r in enumerate(value))
            elif isinstance(value, dict):
                for subject, frames in value.items():
                    if not isinstance(frames, list):
                        raise format_error(path, f"{video!r}.{subject!r}", "expected a list of samples")
                    yield from ((f"{video!r}.{subject!r}[{i}]", r) for i, r in enumerate(frames))
            else:
                raise format_error(path, repr(video), "expected a list or a dict of samples")
    else:
        raise format_error(path, "top level", f"expected a JSON list or object, got {type(data).__name__}")


def _text(record: dict, key: str, path: Path, where: str) -> str:
    value = record.get(key)
    if isinstance(value, list) and value:  # AG: a list of captions, the first one is used
        value = value[0]
    if not isinstance(value, str):
        raise format_error(path, f"{where}.{key}", "expected a string (or a list of strings)")
    return value


def _item(record, path: Path, where: str, images_dir: Path) -> Item:
    if not isinstance(record, dict):
        raise format_error(path, where, f"expected an object, got {type(record).__name__}")
    images = [_text(record, key, path, where) for key in ("image0", "image1")]
    captions = [_text(record, key, path, where) for key in ("caption0", "caption1")]
    first = PurePosixPath(images[0]).parts[0] if images[0] else ""
    source = first if first in FULL_SIZES else (path.stem if path.stem in FULL_SIZES else "unknown")
    return Item(images=[ImageRef(str(images_dir / p)) for p in images], captions=captions,
                label=None, group=source,
                meta={"where": where, "id": f"{path.stem}:{where}"})


item_outcomes = winoground_item_outcomes  # per item: Winoground text, image, group (strict >)


def _score(items: Sequence[Item], sims: Sequence[np.ndarray]) -> dict:
    outcomes = item_outcomes(items, sims)
    groups = np.array([it.group for it in items])
    by_group, counts = {}, {}
    for source in [*SOURCES, "unknown"]:
        mask = groups == source
        if mask.any():
            counts[source] = int(mask.sum())
            for m in METRICS:
                by_group[f"{source}/{m}"] = accuracy(outcomes[m][mask])
    metrics, notes = {}, []
    for m in METRICS:
        columns = {s: by_group.get(f"{s}/{m}") for s in ("eqbenag", "eqbenyoucook2", "eqbengebc", "eqbensd")}
        kubric = [by_group[f"{k}/{m}"] for k in KUBRIC if f"{k}/{m}" in by_group]
        columns["eqbenkubric"] = macro_mean(kubric) if kubric else None
        present = [columns[s] for s in AVERAGED if columns[s] is not None]
        metrics[m] = macro_mean(present) if present else accuracy(outcomes[m])
        if columns["eqbenkubric"] is not None:
            by_group[f"eqbenkubric/{m}"] = columns["eqbenkubric"]
    missing = [s for s in SOURCES if s not in counts]
    if missing:
        notes.append(f"no samples of {missing}: the average is over the sources present and not "
                     "comparable with vl_compo")
    if "unknown" in counts:
        notes.append(f"{counts['unknown']} sample(s) of unknown source (not in the average"
                     + ("" if len(counts) > 1 else "; none has a known source: text/image/group "
                        "are pooled over all samples") + ")")
    metrics, _ = drop_nan(metrics)
    return {**metrics, "by_group": by_group, "counts": {"by_group": counts}, "notes": notes}
