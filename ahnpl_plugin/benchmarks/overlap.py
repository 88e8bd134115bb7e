"""Contamination: which benchmark items show an image the model was trained on, and the scores
without them.

    python -m ahnpl_plugin.benchmarks.overlap --train data/coco/annotations/captions_train2014.json \\
        --items output/eval/<run>/result/test_epocheval.items.json

COCO images are matched by their COCO id, whatever the file name says: ``COCO_train2014_<id>.jpg``,
``COCO_val2014_<id>.jpg`` and val2017's ``<id>.jpg`` name the same image when the id is the same
(COCO 2017 re-split the 2014 images). So SugarCrepe's and VALSE's val2017 images can sit in a
Karpathy *restval* training set (taken from val2014), and VALSE's coreference-standard images
are COCO train2014, AHNPL's own training images. Other images (Visual Genome ``VG_100K/<id>.jpg``,
SWiG, Visual7W, VisDial val2018, Winoground) are not COCO file names and count as not overlapping,
except Visual Genome's when VG's own ``image_data.json`` is given (``--vg-image-data``): about 51k
VG images are COCO images, and that file's ``coco_id`` says which. A VG file is named by its VG id
without padding (``VG_100K/2345678.jpg``, ARO's ``images/2345678.jpg``); a COCO 2017 name always has
12 digits, so the two cannot be confused.

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
_VG_FILE = re.compile(r"^([1-9]\d{0,10})\.jpg$")  # VG ids are not zero-padded; COCO 2017 names are


def coco_image_id(path: str, vg_to_coco: Mapping[int, int] | None = None) -> int | None:
    """The COCO image id of a COCO file name (2014 or 2017 naming), or of a Visual Genome file
    whose VG id ``vg_to_coco`` maps to a COCO id; else None."""
    name = os.path.basename(str(path))
    match = _COCO_FILE.match(name)
    if match:
        return int(match.group(1))
    if vg_to_coco:
        vg = _VG_FILE.match(name)
        if vg:
            return vg_to_coco.get(int(vg.group(1)))
    return None


def vg_coco_ids(image_data: list[Mapping]) -> dict[int, int]:
    """VG id -> COCO id from Visual Genome's ``image_data.json`` (rows without a ``coco_id`` left out)."""
    table = {}
    for row in image_data:
        vg, coco = row.get("image_id", row.get("id")), row.get("coco_id")
        if isinstance(vg, int) and isinstance(coco, int):
            table[vg] = coco
    return table


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


def overlap_mask(outcomes: ItemOutcomes, train_ids: set[int],
                 vg_to_coco: Mapping[int, int] | None = None) -> np.ndarray:
    """Per item: True when one of its images is a training image."""
    if len(outcomes.images) != len(outcomes.ids):
        raise ValueError(f"{outcomes.benchmark}: the per-item outcomes carry no image paths (written by an older run)")
    return np.array([any(coco_image_id(p, vg_to_coco) in train_ids for p in paths) for paths in outcomes.images],
                    dtype=bool)


def overlap_report(outcomes: Mapping[str, ItemOutcomes], train_ids: set[int],
                   vg_to_coco: Mapping[int, int] | None = None):
    """``benchmark -> (n_items, n_overlapping, {protocol: (cell over all, cell without overlap)})``."""
    report = {}
    for name, result in outcomes.items():
        mask = overlap_mask(result, train_ids, vg_to_coco)
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
    parser.add_argument("--vg-image-data", default=None, metavar="FILE",
                        help="Visual Genome's image_data.json: also match VG images (ARO VG-Relation/Attribution, "
                             "VL-CheckList's VG parts) to COCO through its coco_id")
    args = parser.parse_args(argv)
    from ahnpl_plugin.data.annotations import read_train_annotations
    from ahnpl_plugin.errors import UserError

    try:
        train_ids = training_coco_ids(read_train_annotations(args.train))
        outcomes = read_items(args.items)
        vg_to_coco = None
        if args.vg_image_data:
            from ahnpl_plugin.data.jsonio import read_json

            vg_to_coco = vg_coco_ids(read_json(args.vg_image_data))
        report = overlap_report(outcomes, train_ids, vg_to_coco)
    except (UserError, OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(train_ids)} distinct COCO training images"
          + (f"; {len(vg_to_coco)} Visual Genome images with a COCO id" if vg_to_coco else
             "; Visual Genome images not matched (give --vg-image-data)") + "\n")
    print(render_overlap(report), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
