"""SugarCrepe++ (Dumpala et al., NeurIPS 2024 D&B): two positive captions and one hard negative.

Files as distributed by github.com/Sri-Harsha/scpp (``data/``): five JSON lists
``replace_att, replace_obj, replace_rel, swap_att, swap_obj`` (788 / 1652 / 1406 / 666 / 245
items) of ``{"id": int, "filename", "caption", "caption2", "negative_caption"}``; images: COCO
val2017 (``image_root``). Some negatives equal a positive caption verbatim (e.g. ``swap_obj``
id 2): such an item can never be right under strict ``>``, as in the original; they are counted.

Each item has images ``[image]`` and captions ``[caption, caption2, negative_caption]``; the
scorer also takes the caption-caption cosines (``text_sims``). Per file, as the authors' scripts
(``VLMs/test_*.py``) compute them, all strict ``>``:

- ``itt`` (image-to-text, the paper's ITT): s(I, P1) > s(I, N) and s(I, P2) > s(I, N);
- ``itt_p1`` / ``itt_p2`` (one positive only): s(I, P1) > s(I, N); s(I, P2) > s(I, N);
- ``tot`` (text-only): cos(P1, P2) > cos(P1, N) and cos(P1, P2) > cos(P2, N).

Averages: the unweighted mean over the five files of each metric (the paper reports files
separately; the mean is ours and named as such).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ahnpl_plugin.errors import BenchmarkError
from .base import Benchmark, ImageRef, Item, as_path, get_field, read_benchmark_json
from .scoring import accuracy, drop_nan, macro_mean

SUGARCREPE_PP_SOURCE = "github.com/Sri-Harsha/scpp (folder data/; also huggingface.co/datasets/Aman-J/SugarCrepe_pp)"
FILES = ("replace_att", "replace_obj", "replace_rel", "swap_att", "swap_obj")
METRICS = ("itt", "itt_p1", "itt_p2", "tot")
def load_sugarcrepe_pp(root, image_root=None, *, strict: bool = False,
                       files: Sequence[str] = FILES) -> Benchmark:
    """The SugarCrepe++ files named in ``files`` (default: all five) from ``root`` or
    ``root/data``; ``image_root`` is the COCO val2017 image folder (required)."""
    root = as_path(root)
    if image_root is None:
        raise BenchmarkError("sugarcrepe_pp: image_root is required (the COCO val2017 image folder)")
    unknown = [f for f in files if f not in FILES]
    if unknown:
        raise BenchmarkError(f"sugarcrepe_pp: unknown file(s) {unknown}; known: {list(FILES)}")
    images_dir = as_path(image_root)
    items, n_negative_is_positive = [], 0
    for stem in files:
        name = f"{stem}.json"
        path, records = read_benchmark_json(root, name, f"SugarCrepe++ file {name}", SUGARCREPE_PP_SOURCE, list,
                                            "a JSON list of items")
        for index, record in enumerate(records):
            where = f"index {index}"
            filename = get_field(record, "filename", str, path, where)
            captions = [get_field(record, key, str, path, where)
                        for key in ("caption", "caption2", "negative_caption")]
            n_negative_is_positive += captions[2] in captions[:2]
            items.append(Item(
                images=[ImageRef(str(images_dir / filename))],
                captions=captions,
                label=0,
                group=stem,
                meta={"id": record.get("id", index)},
            ))
    notes = ["ties count as wrong (strict >, as the authors' scripts); averages are unweighted "
             "means over the files evaluated",
             f"{n_negative_is_positive} item(s) whose negative caption equals a positive one "
             "(never right under strict >, as in the original)"]
    return Benchmark("sugarcrepe_pp", items, _score, strict=strict, notes=notes,
                     counts={"n_negative_equals_positive": n_negative_is_positive},
                     outcomes_fn=item_outcomes, needs_text_sims=True)


def item_outcomes(items: Sequence[Item], sims: Sequence[np.ndarray],
                  text_sims: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Per item: ``itt``, ``itt_p1``, ``itt_p2``, ``tot`` (strict ``>``)."""
    out = {m: np.zeros(len(items), dtype=bool) for m in METRICS}
    for k, (s, t) in enumerate(zip(sims, text_sims)):
        p1, p2, neg = s[0]
        out["itt_p1"][k] = p1 > neg
        out["itt_p2"][k] = p2 > neg
        out["itt"][k] = p1 > neg and p2 > neg
        out["tot"][k] = t[0, 1] > t[0, 2] and t[0, 1] > t[1, 2]
    return out


def _score(items: Sequence[Item], sims: Sequence[np.ndarray],
           text_sims: Sequence[np.ndarray]) -> dict:
    outcomes = item_outcomes(items, sims, text_sims)
    groups = np.array([it.group for it in items])
    present = [f for f in FILES if (groups == f).any()]
    by_group, counts = {}, {}
    for stem in present:
        mask = groups == stem
        counts[stem] = int(mask.sum())
        for metric in METRICS:
            by_group[f"{stem}/{metric}"] = accuracy(outcomes[metric][mask])
    averages = {metric: macro_mean(by_group[f"{stem}/{metric}"] for stem in present)
                for metric in METRICS}
    metrics, _ = drop_nan(averages)
    return {**metrics, "by_group": by_group, "counts": {"by_group": counts}}
