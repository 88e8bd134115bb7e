"""ImageCoDe (Krojer et al., ACL 2022): pick the one of ten near-identical images a description
is about (video frames or static pictures).

Files as distributed by github.com/McGill-NLP/imagecode: ``data/valid_data.json`` (the labelled
validation split: ``{set_directory: {image_index (str): description}}``, 1,039 sets, 2,302
descriptions) and the image sets (``image-sets.zip`` from Zenodo record 6518944) with one folder
per set holding ``img0.jpg`` ... ``img9.jpg``. A set is static when its name contains
``open-images``, video frames otherwise (as ``baselines/clip/zero_shot.py`` splits them).

An item has the set's ten images (ordered by the number after ``img``, as the baseline sorts
them) and captions ``[description]``; ``label`` indexes the images, sims are ``[10, 1]``.
Correct when the true image scores strictly above the nine others (the baseline's numpy
``argsort`` leaves ties in an unspecified order; here a tie is wrong). ``accuracy``: over all
descriptions (vl_compo's ImageCoDe column, which reproduces as that pooled mean); ``video`` and
``static`` by kind.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np

from ahnpl_plugin.errors import BenchmarkError
from .base import Benchmark, ImageRef, Item, as_path, format_error, read_benchmark_json
from .scoring import accuracy, drop_nan

IMAGECODE_SOURCE = ("github.com/McGill-NLP/imagecode (data/valid_data.json; image sets: "
                    "zenodo.org/record/6518944/files/image-sets.zip)")
SPLIT_FILES = {"valid": "valid_data.json", "train": "train_data.json"}
def load_imagecode(root, image_root=None, *, strict: bool = False, split: str = "valid") -> Benchmark:
    """ImageCoDe ``split`` (valid, the labelled evaluation split; or train) from ``root`` (the
    repository, its ``data`` folder, or a folder with the JSON); ``image_root``: the folder of the
    image-set folders (default: the JSON's folder, where the README unzips them)."""
    root = as_path(root)
    if split not in SPLIT_FILES:
        raise BenchmarkError(f"imagecode: split must be one of {sorted(SPLIT_FILES)}, got {split!r}")
    name = SPLIT_FILES[split]
    path, sets = read_benchmark_json(root, name, f"ImageCoDe file {name}", IMAGECODE_SOURCE, dict,
                                     "an object set -> descriptions")
    images_dir = as_path(image_root) if image_root is not None else path.parent
    items = []
    for directory, descriptions in sets.items():
        if not isinstance(descriptions, dict):
            raise format_error(path, repr(directory), "expected an object image index -> description")
        refs = _set_images(images_dir / directory)
        kind = "static" if "open-images" in directory else "video"
        for index, text in descriptions.items():
            where = f"{directory!r}.{index!r}"
            if not isinstance(text, str) or not str(index).isdigit() or int(index) >= len(refs):
                raise format_error(path, where, f"expected a description of image 0-{len(refs) - 1}")
            items.append(Item(images=refs, captions=[text.strip()], label=int(index), group=kind,
                              meta={"set": directory, "id": f"{directory}/{index}"}))
    return Benchmark("imagecode", items, _score, strict=strict, outcomes_fn=item_outcomes,
                     notes=["ties count as wrong"])


def _set_images(folder: Path) -> list[ImageRef]:
    """The ten images of a set, by the number after ``img``; ``img0-9.jpg`` when the folder is
    absent (reported as missing images)."""
    found = sorted(folder.glob("img*.jpg"), key=lambda p: int(re.sub(r"\D", "", p.stem) or 0)) \
        if folder.is_dir() else []
    if not found:
        found = [folder / f"img{i}.jpg" for i in range(10)]
    return [ImageRef(str(p)) for p in found]


def item_outcomes(items: Sequence[Item], sims: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Per item: ``correct`` (the true image strictly above every other)."""
    correct = [bool(np.delete(s[:, 0], it.label).max() < s[it.label, 0]) for it, s in zip(items, sims)]
    return {"correct": np.array(correct, dtype=bool)}


def _score(items: Sequence[Item], sims: Sequence[np.ndarray]) -> dict:
    correct = item_outcomes(items, sims)["correct"]
    kinds = np.array([it.group for it in items])
    metrics = {"accuracy": accuracy(correct)}
    counts = {}
    for kind in ("video", "static"):
        if (kinds == kind).any():
            metrics[kind] = accuracy(correct[kinds == kind])
            counts[kind] = int((kinds == kind).sum())
    metrics, _ = drop_nan(metrics)
    return {**metrics, "by_group": {k: metrics[k] for k in counts}, "counts": {"by_group": counts}}
