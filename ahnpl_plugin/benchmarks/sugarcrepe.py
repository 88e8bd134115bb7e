"""SugarCrepe (Hsieh et al., NeurIPS 2023): positive vs. hard-negative caption for COCO images.

Files as distributed by github.com/RAIVNLab/sugar-crepe (``data/``): seven JSON dicts
``"id" -> {"filename", "caption", "negative_caption"}``; ids are not contiguous (``swap_obj``
has no ``"108"``), so they are kept as given. Images: COCO val2017 (``image_root``).

Score: accuracy per file; ``replace``, ``swap``, ``add`` and ``average`` are micro averages
(all items of the files pooled), ties count as wrong.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ahnpl_plugin.errors import BenchmarkError
from .base import Benchmark, ImageRef, Item, as_path, get_field, read_benchmark_json
from .scoring import accuracy, correct_by_item, drop_nan, group_outcomes, micro_accuracy

SUGARCREPE_SOURCE = "github.com/RAIVNLab/sugar-crepe (folder data/)"
FILES = ("add_att", "add_obj", "replace_att", "replace_obj", "replace_rel", "swap_att", "swap_obj")
FAMILIES = ("replace", "swap", "add")


def load_sugarcrepe(root, image_root=None, *, strict: bool = False,
                    files: Sequence[str] = FILES) -> Benchmark:
    """The SugarCrepe files named in ``files`` (default: all seven) from ``root`` or ``root/data``.

    ``image_root`` is the COCO val2017 image folder (required).
    """
    root = as_path(root)
    if image_root is None:
        raise BenchmarkError("sugarcrepe: image_root is required (the COCO val2017 image folder)")
    unknown = [f for f in files if f not in FILES]
    if unknown:
        raise BenchmarkError(f"sugarcrepe: unknown file(s) {unknown}; known: {list(FILES)}")
    images_dir = as_path(image_root)
    items = []
    for stem in files:
        name = f"{stem}.json"
        path, records = read_benchmark_json(root, name, f"SugarCrepe file {name}", SUGARCREPE_SOURCE, dict,
                                            "a JSON object id -> item")
        for key, record in records.items():
            where = f"key {key!r}"
            filename = get_field(record, "filename", str, path, where)
            caption = get_field(record, "caption", str, path, where)
            negative = get_field(record, "negative_caption", str, path, where)
            items.append(Item(
                images=[ImageRef(str(images_dir / filename))],
                captions=[caption, negative],
                label=0,
                group=stem,
                meta={"id": key},
            ))
    return Benchmark("sugarcrepe", items, _score_sugarcrepe, strict=strict,
                     notes=["ties count as wrong; replace/swap/add/average are micro averages"])


def _score_sugarcrepe(items: Sequence[Item], sims: Sequence[np.ndarray]) -> dict:
    outcomes = group_outcomes((it.group for it in items), correct_by_item(items, sims))
    per_file = {stem: accuracy(outcomes[stem]) for stem in FILES if stem in outcomes}
    families = {
        family: micro_accuracy(outcomes, [s for s in FILES if s.startswith(family + "_")])
        for family in FAMILIES
    }
    metrics, _ = drop_nan({**per_file, **families, "average": micro_accuracy(outcomes, FILES)})
    return {
        **metrics,
        "by_group": dict(per_file),
        "counts": {"by_group": {stem: int(outcomes[stem].size) for stem in per_file}},
    }
