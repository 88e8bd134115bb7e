"""SVO-Probes (Hendricks & Nematzadeh, Findings of ACL 2021): a sentence with a positive image and
a negative image differing in subject, verb or object.

File as distributed by github.com/google-deepmind/svo_probes: ``svo_probes.csv`` (36,841 rows;
columns ``index, sentence, pos_triplet, neg_triplet, subj_neg, verb_neg, obj_neg, pos_url,
neg_url, pos_image_id, neg_image_id``). The images are only published as URLs
(``image_urls.txt``; many no longer resolve): download them yourself as
``<image_root>/<image_id>.<extension>``; rows whose images are missing are left out and counted.

An item has images ``[positive, negative]`` and captions ``[sentence]`` (sims ``[2, 1]``); it is
right when the positive image scores strictly above the negative one. This pairwise rule is how
contrastive models are scored on SVO-Probes in public code; the authors' notebook instead
thresholds a match score per pair, and vl_compo does not publish its code, so its numbers are
**assumed**, not verified, to follow this rule. Negative types as the authors' notebook splits
them: rows where exactly one of ``subj_neg``, ``verb_neg``, ``obj_neg`` is true; ``average``:
the unweighted mean of the three accuracies (vl_compo's SVO-Probes column is that mean).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import numpy as np

from .base import Benchmark, ImageRef, Item, as_path, find_file, format_error, require_file
from .scoring import accuracy, drop_nan, macro_mean

SVO_SOURCE = "github.com/google-deepmind/svo_probes (svo_probes.csv; images: the URLs in image_urls.txt)"
NEG_TYPES = {"subj_neg": "subject", "verb_neg": "verb", "obj_neg": "object"}
def load_svo_probes(root, image_root=None, *, strict: bool = False, extension: str = "jpg") -> Benchmark:
    """SVO-Probes from ``root`` (the folder with ``svo_probes.csv``, or the file); ``image_root``:
    the folder of the downloaded ``<image_id>.<extension>`` files (default: ``root/images``)."""
    root = as_path(root)
    path = root if root.is_file() else require_file(find_file(root, "svo_probes.csv"),
                                                      root / "svo_probes.csv", "SVO-Probes file svo_probes.csv",
                                                      SVO_SOURCE)
    images_dir = as_path(image_root) if image_root is not None else path.parent / "images"
    items, n_mixed = [], 0
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        needed = ["sentence", "pos_image_id", "neg_image_id", *NEG_TYPES]
        missing = [c for c in needed if c not in (reader.fieldnames or [])]
        if missing:
            raise format_error(path, "header", f"missing column(s) {missing}")
        for line, row in enumerate(reader, start=2):
            flags = [name for column, name in NEG_TYPES.items() if _true(row[column], path, line, column)]
            if len(flags) != 1:
                n_mixed += 1
                continue
            ids = [_image_id(row[k], path, line, k) for k in ("pos_image_id", "neg_image_id")]
            items.append(Item(images=[ImageRef(str(images_dir / f"{i}.{extension}")) for i in ids],
                              captions=[row["sentence"]], label=0, group=flags[0],
                              meta={"index": row.get("index")}))
    notes = ["the pairwise rule (positive image above the negative one) is assumed for vl_compo's numbers",
             f"{n_mixed} row(s) with more or fewer than one negative type left out (as the authors' notebook)"]
    return Benchmark("svo_probes", items, _score, strict=strict, outcomes_fn=item_outcomes,
                     notes=notes, counts={"n_rows_not_single_negative_type": n_mixed})


def _true(value: str, path: Path, line: int, column: str) -> bool:
    text = str(value).strip().lower()
    if text not in ("true", "false"):
        raise format_error(path, f"line {line}.{column}", f"expected True or False, got {value!r}")
    return text == "true"


def _image_id(value: str, path: Path, line: int, column: str) -> str:
    text = str(value).strip()
    if text.endswith(".0"):
        text = text[:-2]
    if not text.isdigit():
        raise format_error(path, f"line {line}.{column}", f"expected an image id, got {value!r}")
    return text


def item_outcomes(items: Sequence[Item], sims: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Per row: ``correct`` (positive image strictly above the negative one)."""
    return {"correct": np.array([s[0, 0] > s[1, 0] for s in sims], dtype=bool)}


def _score(items: Sequence[Item], sims: Sequence[np.ndarray]) -> dict:
    correct = item_outcomes(items, sims)["correct"]
    groups = np.array([it.group for it in items])
    metrics, counts = {}, {}
    for name in NEG_TYPES.values():
        if (groups == name).any():
            metrics[name] = accuracy(correct[groups == name])
            counts[name] = int((groups == name).sum())
    metrics["average"] = macro_mean(metrics[n] for n in counts)
    metrics, _ = drop_nan(metrics)
    return {**metrics, "by_group": {k: metrics[k] for k in counts}, "counts": {"by_group": counts}}
