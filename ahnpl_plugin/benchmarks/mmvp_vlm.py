"""MMVP-VLM (Tong et al., CVPR 2024): pairs of images CLIP sees as alike, each with a statement,
in nine visual patterns of 15 pairs.

Files as distributed on huggingface.co/datasets/MMVP/MMVP_VLM and read by
github.com/tsb0601/MMVP ``scripts/evaluate_vlm.py``: ``Questions.csv`` with columns
``Question ID, Type, Statement`` (consecutive rows form a pair; the odd id's image is the first),
images ``MLLM_VLM Images/<Type>/<Question ID>.jpg`` (the README draws the folder as
``MMVP_VLM_Images``; both are looked for). Each statement is prefixed ``"a photo of "`` as the
script does.

Scores per pair (images [odd id, even id], captions [its statement, the other]): MMVP's own
metric is the script's: each statement picks its image (softmax over the two images > 0.5, i.e.
Winoground's ``image`` score, strict); vl_compo also reports Winoground's ``text`` and ``group``
and averages ``group`` over the nine patterns (its MMVP-VLM column). ``image`` / ``text`` /
``group``: unweighted means over the patterns (each has 15 pairs).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import numpy as np

from .base import Benchmark, ImageRef, Item, as_path, format_error, require_file
from .scoring import accuracy, drop_nan, macro_mean
from .winoground import winoground_item_outcomes

MMVP_SOURCE = "huggingface.co/datasets/MMVP/MMVP_VLM (Questions.csv and the image folder; github.com/tsb0601/MMVP)"
IMAGE_FOLDERS = ("MLLM_VLM Images", "MMVP_VLM_Images")
PROMPT = "a photo of "
# the 9 visual patterns (Questions.csv's Type, also the image folder names; MMVP's evaluate_vlm.py)
PATTERNS = ("Orientation and Direction", "Presence of Specific Features", "State and Condition",
            "Quantity and Count", "Positional and Relational Context", "Color and Appearance",
            "Structural Characteristics", "Texts", "Viewpoint and Perspective")
METRICS = ("text", "image", "group")
def load_mmvp_vlm(root, image_root=None, *, strict: bool = False) -> Benchmark:
    """MMVP-VLM from ``root`` (the dataset folder with ``Questions.csv``); ``image_root``: the
    folder of the ``<Type>`` image folders (default: ``MLLM_VLM Images`` or ``MMVP_VLM_Images``
    under ``root``)."""
    root = as_path(root)
    path = root / "Questions.csv"
    require_file(path if path.is_file() else None, path, "MMVP-VLM Questions.csv", MMVP_SOURCE)
    if image_root is not None:
        images_dir = as_path(image_root)
    else:
        images_dir = next((root / f for f in IMAGE_FOLDERS if (root / f).is_dir()), root / IMAGE_FOLDERS[0])
    rows = _read_rows(path)
    if len(rows) % 2:
        raise format_error(path, f"line {len(rows) + 1}", "odd number of statements: pairs are consecutive rows")
    items = []
    for (qid1, type1, text1), (qid2, _, text2) in zip(rows[::2], rows[1::2]):
        first, second = (qid1, qid2) if qid1 % 2 == 1 else (qid2, qid1)
        captions = [PROMPT + (text1 if first == qid1 else text2), PROMPT + (text2 if first == qid1 else text1)]
        items.append(Item(images=[ImageRef(str(images_dir / type1 / f"{q}.jpg")) for q in (first, second)],
                          captions=captions, label=None, group=type1, meta={"ids": (first, second), "id": first}))
    return Benchmark("mmvp_vlm", items, _score, strict=strict, outcomes_fn=item_outcomes,
                     notes=["ties count as wrong; by_group: '<pattern>/<metric>'"])


def _read_rows(path: Path) -> list[tuple[int, str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        needed = ["Question ID", "Type", "Statement"]
        missing = [c for c in needed if c not in (reader.fieldnames or [])]
        if missing:
            raise format_error(path, "header", f"missing column(s) {missing}")
        rows = []
        for line, row in enumerate(reader, start=2):
            if not str(row["Question ID"]).strip().isdigit():
                raise format_error(path, f"line {line}", f"Question ID {row['Question ID']!r} is not a number")
            rows.append((int(row["Question ID"]), row["Type"].strip(), row["Statement"].strip()))
    return rows


item_outcomes = winoground_item_outcomes  # per item: Winoground text, image, group (strict >)


def _score(items: Sequence[Item], sims: Sequence[np.ndarray]) -> dict:
    outcomes = item_outcomes(items, sims)
    groups = np.array([it.group for it in items])
    patterns = list(dict.fromkeys(groups.tolist()))
    by_group, counts = {}, {}
    for pattern in patterns:
        mask = groups == pattern
        counts[pattern] = int(mask.sum())
        by_group.update({f"{pattern}/{m}": accuracy(outcomes[m][mask]) for m in METRICS})
    metrics, _ = drop_nan({m: macro_mean(by_group[f"{p}/{m}"] for p in patterns) for m in METRICS})
    notes = [] if len(patterns) == 9 else [f"{len(patterns)} visual patterns (MMVP-VLM has 9)"]
    return {**metrics, "by_group": by_group, "counts": {"by_group": counts}, "notes": notes}
