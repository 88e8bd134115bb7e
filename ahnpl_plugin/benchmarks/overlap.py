"""Contamination: which benchmark items show an image the model was trained on, and the scores
without them.

    python -m ahnpl_plugin.benchmarks.overlap --train data/coco/annotations/captions_train2014.json \\
        --items output/eval/<run>/result/test_epocheval.items.json

COCO images are matched by their COCO id, whatever the file name says: ``COCO_train2014_<id>.jpg``,
``COCO_val2014_<id>.jpg`` and val2017's ``<id>.jpg`` name the same image when the id is the same
(COCO 2017 re-split the 2014 images). So SugarCrepe's and VALSE's val2017 images can sit in a
Karpathy *restval* training set (taken from val2014), and VALSE's coreference-standard images
are COCO train2014, AHNPL's own training images. Other images (Visual Genome ``VG_100K/<id>.jpg``,
SWiG, Visual7W, VisDial val2018, Winoground) are not COCO file names and count as not overlapping;
Visual Genome's COCO overlap needs VG's ``image_data.json`` (``coco_id``) and is not checked here.

The report gives, per benchmark: items, items with a training image, and each protocol's cell
over all items and over the items without one.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Iterable, Mapping

import numpy as np

from .cells import Cell, model_cells
from .protocols import ItemOutcomes

_COCO_FILE = re.compile(r"^(?:COCO_(?:train|val)2014_)?(\d{12})\.jpg$")


def coco_image_id(path: str) -> int | None:
    """The COCO image id of a COCO file name (2014 or 2017 naming), else None."""
    match = _COCO_FILE.match(os.path.basename(str(path)))
    return int(match.group(1)) if match else None


def training_coco_ids(rows: Iterable[Mapping]) -> set[int]:
    """COCO ids of training rows (``image_id`` when an int, else parsed from ``image``)."""
    ids = set()
    for row in rows:
        value = row.get("image_id")
        if isinstance(value, int) and not isinstance(value, bool):
            ids.add(value)
            continue
        found = coco_image_id(row.get("image", ""))
        if found is not None:
            ids.add(found)
    return ids


def overlap_mask(outcomes: ItemOutcomes, train_ids: set[int]) -> np.ndarray:
    """Per item: True when one of its images is a training image."""
    if len(outcomes.images) != len(outcomes.ids):
        raise ValueError(f"{outcomes.benchmark}: the per-item outcomes carry no image paths (written by an older run)")
    return np.array([any(coco_image_id(p) in train_ids for p in paths) for paths in outcomes.images], dtype=bool)


def overlap_report(outcomes: Mapping[str, ItemOutcomes], train_ids: set[int]):
    """``benchmark -> (n_items, n_overlapping, {protocol: (cell over all, cell without overlap)})``."""
    report = {}
    for name, result in outcomes.items():
        mask = overlap_mask(result, train_ids)
        every = model_cells({name: result})
        clean = model_cells({name: result}, keep={name: ~mask})
        report[name] = (len(mask), int(mask.sum()),
                        {p: (every[p], clean[p]) for p in every if p in clean and every[p].method != "mean of members"})
    return report


def render_overlap(report) -> str:
    lines = ["| benchmark | items | with a training image | protocol | all items | without them |",
             "|---|---:|---:|---|---:|---:|"]
    for name, (n, n_overlap, cells) in report.items():
        for protocol, (every, clean) in cells.items():
            lines.append(f"| {name} | {n} | {n_overlap} | {protocol} | {_plain(every)} | {_plain(clean)} |")
    return "\n".join(lines) + "\n"


def _plain(cell: Cell) -> str:
    return cell.render() + f" (n={cell.n})"


def main(argv=None) -> int:
    from .compare import read_items

    parser = argparse.ArgumentParser(prog="python -m ahnpl_plugin.benchmarks.overlap", description=__doc__)
    parser.add_argument("--train", required=True, nargs="+",
                        help="training annotation file(s): COCO captions JSON, Karpathy train JSON, or JSONL")
    parser.add_argument("--items", required=True, help="a run's result/<split>_epoch<e>.items.json")
    args = parser.parse_args(argv)
    from ahnpl_plugin.data.annotations import read_train_annotations
    from ahnpl_plugin.errors import UserError

    try:
        train_ids = training_coco_ids(read_train_annotations(args.train))
        outcomes = read_items(args.items)
        report = overlap_report(outcomes, train_ids)
    except (UserError, OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(train_ids)} distinct COCO training images\n")
    print(render_overlap(report), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
