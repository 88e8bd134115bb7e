"""VL-CheckList (Zhao et al., 2022), ITC mode: POS[0] vs. NEG[0] for one image.

Layout as distributed by github.com/om-ai-lab/VL-CheckList: ``root`` is the VL-CheckList folder,
holding corpus YAML files ``corpus/v1/<Type>/<Subcategory>/.../<source>.yaml`` with ``ANNO_PATH``
(an annotation JSON, relative to ``root``), ``IMG_ROOT`` (a folder relative to ``image_root``,
e.g. ``vg/``, ``hake/``, ``swig/``) and ``TYPE: TUPLE_JSON``. Each annotation JSON is a list of
``[image_rel_path, {"POS": [str, ...], "NEG": [str, ...]}]``.

A corpus whose annotation file is absent is left out and named in ``missing_parts`` (the other
corpora are scored, and the benchmark counts as incomplete); with ``strict=True``, or when no
annotation file is found at all, the error lists every missing file.

Score (CE-CLIP's table): correct when POS[0] scores strictly higher than NEG[0]; accuracy per
subcategory (``<type>/<subcategory>``, e.g. ``attribute/color``, items pooled over its source
corpora); ``attribute``, ``object``, ``relation`` = means over their subcategories; ``average`` =
mean over all subcategories. ``by_group`` has the accuracy of each corpus file.
"""

from __future__ import annotations

import fnmatch
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from ahnpl_plugin.errors import BenchmarkError, BenchmarkFileNotFoundError
from .base import Benchmark, ImageRef, Item, as_path, format_error, read_json
from .scoring import accuracy, correct_by_item, drop_nan, group_outcomes, macro_mean

VL_CHECKLIST_SOURCE = (
    "github.com/om-ai-lab/VL-CheckList (corpus/ and data/ folders; images per its DATASETS.md)"
)
CORPUS_DIR = "corpus/v1"
TYPES = ("attribute", "object", "relation")


def load_vl_checklist(root, image_root=None, *, strict: bool = False,
                      corpus_dir: str = CORPUS_DIR, corpora: Sequence[str] | None = None
                      ) -> Benchmark:
    """Every corpus YAML under ``root/corpus_dir`` (or those matching ``corpora`` patterns).

    ``corpora`` holds glob patterns on the corpus name, e.g. ``["attribute/color/*"]`` (names are
    the lower-cased YAML paths relative to ``corpus_dir``, without ``.yaml``).
    """
    root = as_path(root)
    if image_root is None:
        raise BenchmarkError(
            "vl_checklist: image_root is required (the folder holding the corpora's IMG_ROOT "
            "folders: vg/, hake/, swig/)"
        )
    images_dir = as_path(image_root)
    corpus_root = root / corpus_dir
    if not corpus_root.is_dir():
        raise BenchmarkFileNotFoundError(
            f"VL-CheckList corpus folder not found: expected {corpus_root} holding "
            f"<Type>/<Subcategory>/<source>.yaml files. Download it from {VL_CHECKLIST_SOURCE}"
        )
    yaml_files = sorted(corpus_root.rglob("*.yaml"))
    selected = [p for p in yaml_files if _wanted(_corpus_name(corpus_root, p), corpora)]
    if not selected:
        raise BenchmarkFileNotFoundError(
            f"VL-CheckList: no corpus YAML file under {corpus_root}"
            + (f" matching {list(corpora)}" if corpora else "")
            + f". Download the corpus from {VL_CHECKLIST_SOURCE}"
        )
    items, missing = [], {}
    for yaml_path in selected:
        found = _corpus_items(root, images_dir, corpus_root, yaml_path)
        if isinstance(found, str):
            missing[_corpus_name(corpus_root, yaml_path)] = found
        else:
            items.extend(found)
    if missing and (strict or len(missing) == len(selected)):
        raise BenchmarkFileNotFoundError(
            f"VL-CheckList: {len(missing)} of {len(selected)} annotation file(s) not found "
            f"(download them from {VL_CHECKLIST_SOURCE}):\n  " + "\n  ".join(missing.values())
        )
    return Benchmark("vl_checklist", items, _score_vl_checklist, strict=strict,
                     notes=["ITC mode: POS[0] vs NEG[0], ties count as wrong; subcategories pool "
                            "their corpora; average = mean over subcategories"],
                     missing_parts=missing)


def _corpus_name(corpus_root: Path, yaml_path: Path) -> str:
    return yaml_path.relative_to(corpus_root).with_suffix("").as_posix().lower()


def _wanted(name: str, patterns: Sequence[str] | None) -> bool:
    return patterns is None or any(fnmatch.fnmatchcase(name, p.lower()) for p in patterns)


def _read_yaml(path: Path) -> dict:
    import yaml

    try:
        with open(path, "r", encoding="utf-8") as f:
            config = yaml.safe_load(f)
    except yaml.YAMLError as err:
        raise format_error(path, "YAML", str(err)) from err
    if not isinstance(config, dict):
        raise format_error(path, "top level", "expected a mapping with ANNO_PATH and IMG_ROOT")
    return config


def _corpus_items(root: Path, images_dir: Path, corpus_root: Path,
                  yaml_path: Path) -> list[Item] | str:
    """Items of one corpus YAML: [POS[0], NEG[0]], label 0, group = corpus name; or, when its
    annotation file is absent, a sentence naming the file expected."""
    name = _corpus_name(corpus_root, yaml_path)
    parts = name.split("/")
    if len(parts) < 3:
        raise format_error(yaml_path, "path", "expected corpus/<Type>/<Subcategory>/<source>.yaml")
    subcategory = "/".join(parts[:2])
    config = _read_yaml(yaml_path)
    for key in ("ANNO_PATH", "IMG_ROOT"):
        if not isinstance(config.get(key), str):
            raise format_error(yaml_path, key, "missing or not a string")
    if config.get("TYPE", "TUPLE_JSON") != "TUPLE_JSON":
        raise format_error(yaml_path, "TYPE", f"unsupported {config['TYPE']!r} (TUPLE_JSON only)")
    anno_path = root / config["ANNO_PATH"]
    if not anno_path.is_file():
        return f"expected {anno_path} (ANNO_PATH of {yaml_path})"
    records = read_json(anno_path)
    if not isinstance(records, list):
        raise format_error(anno_path, "top level", f"expected a JSON list, got "
                           f"{type(records).__name__}")
    image_folder = images_dir / config["IMG_ROOT"]
    items = []
    for index, record in enumerate(records):
        where = f"index {index}"
        if not (isinstance(record, list) and len(record) == 2 and isinstance(record[0], str)
                and isinstance(record[1], dict)):
            raise format_error(anno_path, where, "expected [image_path, {\"POS\": [...], "
                               "\"NEG\": [...]}]")
        image_rel, texts = record
        options = []
        for key in ("POS", "NEG"):
            value = texts.get(key)
            if not (isinstance(value, list) and value and isinstance(value[0], str)):
                raise format_error(anno_path, f"{where}.{key}", "expected a non-empty list of "
                                   "strings")
            options.append(value[0])
        items.append(Item(
            images=[ImageRef(str(image_folder / image_rel))],
            captions=options,
            label=0,
            group=name,
            meta={"subcategory": subcategory, "type": parts[0], "index": index},
        ))
    return items


def _score_vl_checklist(items: Sequence[Item], sims: Sequence[np.ndarray]) -> dict:
    correct = correct_by_item(items, sims)
    by_corpus = group_outcomes((it.group for it in items), correct)
    by_sub = group_outcomes((it.meta["subcategory"] for it in items), correct)
    sub_acc = {s: accuracy(o) for s, o in sorted(by_sub.items())}
    members: dict[str, list[float]] = defaultdict(list)
    for sub, acc in sub_acc.items():
        members[sub.split("/")[0]].append(acc)
    type_acc = {t: macro_mean(members[t]) for t in TYPES if members[t]}
    metrics, _ = drop_nan({**sub_acc, **type_acc, "average": macro_mean(sub_acc.values())})
    notes = []
    if len(sub_acc) != 9:
        notes.append(f"average over {len(sub_acc)} subcategories (CE-CLIP's table has 9)")
    return {
        **metrics,
        "by_group": {c: accuracy(o) for c, o in sorted(by_corpus.items())},
        "counts": {
            "by_group": {c: int(o.size) for c, o in sorted(by_corpus.items())},
            "by_subcategory": {s: int(o.size) for s, o in sorted(by_sub.items())},
        },
        "notes": notes,
    }
