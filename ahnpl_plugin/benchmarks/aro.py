"""ARO Visual Genome Relation and Attribution (Yuksekgonul et al., ICLR 2023).

Files as distributed by github.com/mertyg/vision-language-models-are-bows: a JSON list of
``{"image_path", "bbox_x", "bbox_y", "bbox_w", "bbox_h", "true_caption", "false_caption",
"relation_name" | "attributes"}``; images under ``<root>/images`` (ARO's layout) unless
``image_root`` says otherwise. Each image is cropped to its box, as ARO does.

Scores follow ARO's published rules: VG-Relation is the mean of per-relation accuracies leaving
out the relations of ARO's exclusion list (shipped as package data, 157 names); VG-Attribution is
the mean of per-pair (``"a0_a1"``) accuracies over pairs with at least 25 items.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Sequence

import numpy as np

from .base import (
    Benchmark,
    ImageRef,
    Item,
    as_path,
    format_error,
    get_field,
    read_benchmark_json,
)
from .scoring import (
    accuracy,
    correct_by_item,
    drop_nan,
    group_outcomes,
    macro_mean,
    micro_accuracy,
)

ARO_SOURCE = (
    "github.com/mertyg/vision-language-models-are-bows (annotation JSON and vgr_vga_images.zip, "
    "links in dataset_zoo/aro_datasets.py)"
)
RELATION_FILE = "visual_genome_relation.json"
ATTRIBUTION_FILE = "visual_genome_attribution.json"
MIN_PAIR_COUNT = 25
EXCLUDED_RELATIONS_RESOURCE = "aro_vgr_excluded_relations.txt"


@lru_cache(maxsize=1)
def excluded_relations() -> frozenset[str]:
    """The relations ARO leaves out of the VG-Relation macro accuracy (package data)."""
    text = resources.files(__package__).joinpath("data", EXCLUDED_RELATIONS_RESOURCE).read_text(
        encoding="utf-8"
    )
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


def load_vg_relation(root, image_root=None, *, strict: bool = False) -> Benchmark:
    """VG-Relation: one item per JSON entry, grouped by ``relation_name``."""
    path, records = _read_vg_file(root, RELATION_FILE, "ARO VG-Relation annotation file")
    images_dir = as_path(image_root) if image_root is not None else as_path(root) / "images"
    items = []
    for index, record in enumerate(records):
        where = f"index {index}"
        relation = get_field(record, "relation_name", str, path, where)
        items.append(_vg_item(record, path, where, images_dir, relation, index))
    return Benchmark(
        "aro_vg_relation",
        items,
        _score_vg_relation,
        strict=strict,
        notes=["ties count as wrong (as ARO's argmax over [false, true] does)"],
    )


def load_vg_attribution(root, image_root=None, *, strict: bool = False,
                        min_pair_count: int = MIN_PAIR_COUNT) -> Benchmark:
    """VG-Attribution: one item per JSON entry, grouped by attribute pair ``"a0_a1"``."""
    path, records = _read_vg_file(root, ATTRIBUTION_FILE, "ARO VG-Attribution annotation file")
    images_dir = as_path(image_root) if image_root is not None else as_path(root) / "images"
    items = []
    for index, record in enumerate(records):
        where = f"index {index}"
        attributes = get_field(record, "attributes", list, path, where)
        if len(attributes) != 2 or not all(isinstance(a, str) for a in attributes):
            raise format_error(path, f"{where}.attributes", "expected a list of two strings")
        pair = f"{attributes[0]}_{attributes[1]}"
        items.append(_vg_item(record, path, where, images_dir, pair, index))

    def scorer(items_, sims):
        return _score_vg_attribution(items_, sims, min_pair_count)

    return Benchmark(
        "aro_vg_attribution",
        items,
        scorer,
        strict=strict,
        notes=[
            "ties count as wrong (as ARO's argmax over [false, true] does)",
            f"macro accuracy over attribute pairs with at least {min_pair_count} evaluated items",
        ],
    )


def _read_vg_file(root, name: str, what: str) -> tuple[Path, list]:
    root = as_path(root)
    return read_benchmark_json(root, name, what, ARO_SOURCE, list, "a JSON list", subdirs=("",))


def _vg_item(record, path: Path, where: str, images_dir: Path, group: str, index: int) -> Item:
    """An ARO VG item: the cropped image, [true_caption, false_caption], label 0."""
    image_path = get_field(record, "image_path", str, path, where)
    box = tuple(
        float(get_field(record, key, (int, float), path, where))
        for key in ("bbox_x", "bbox_y", "bbox_w", "bbox_h")
    )
    if box[2] <= 0 or box[3] <= 0:
        raise format_error(path, where, f"bbox_w and bbox_h must be positive, got {box[2:]}")
    true_caption = get_field(record, "true_caption", str, path, where)
    false_caption = get_field(record, "false_caption", str, path, where)
    return Item(
        images=[ImageRef(str(images_dir / image_path), box)],
        captions=[true_caption, false_caption],
        label=0,
        group=group,
        meta={"index": index},
    )


def _score_vg_relation(items: Sequence[Item], sims: Sequence[np.ndarray]) -> dict:
    outcomes = group_outcomes((it.group for it in items), correct_by_item(items, sims))
    excluded = excluded_relations()
    kept = {g: accuracy(o) for g, o in sorted(outcomes.items()) if g not in excluded}
    left_out = [g for g in outcomes if g in excluded]
    top, _ = drop_nan({
        "accuracy": macro_mean(kept.values()),
        "micro_accuracy": micro_accuracy(outcomes, outcomes),
    })
    return {
        **top,
        "by_group": kept,
        "counts": {
            "n_groups": len(kept),
            "n_groups_excluded": len(left_out),
            "n_items_in_excluded_groups": int(sum(outcomes[g].size for g in left_out)),
            "by_group": {g: int(outcomes[g].size) for g in kept},
        },
        "notes": [
            f"accuracy = mean over {len(kept)} relations; {len(left_out)} relations of ARO's "
            f"exclusion list left out ({len(excluded)} names); micro_accuracy = all items"
        ],
    }


def _score_vg_attribution(items: Sequence[Item], sims: Sequence[np.ndarray],
                          min_pair_count: int) -> dict:
    outcomes = group_outcomes((it.group for it in items), correct_by_item(items, sims))
    kept = {g: accuracy(o) for g, o in sorted(outcomes.items()) if o.size >= min_pair_count}
    small = [g for g, o in outcomes.items() if o.size < min_pair_count]
    top, _ = drop_nan({
        "accuracy": macro_mean(kept.values()),
        "micro_accuracy": micro_accuracy(outcomes, outcomes),
    })
    return {
        **top,
        "by_group": kept,
        "counts": {
            "n_groups": len(kept),
            "n_groups_below_min_count": len(small),
            "n_items_in_small_groups": int(sum(outcomes[g].size for g in small)),
            "by_group": {g: int(outcomes[g].size) for g in kept},
        },
        "notes": [] if kept else [f"no attribute pair has {min_pair_count} items: no accuracy"],
    }
