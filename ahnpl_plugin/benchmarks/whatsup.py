"""What'sUp (Kamath et al., EMNLP 2023): spatial prepositions, one image and 2 or 4 captions.

Files as distributed by github.com/amitakamath/whatsup_vlms (its ``data/`` folder, from the
Google Drive links in ``dataset_zoo/aro_datasets.py``); the first caption option is always the
true one:

- ``controlled_images_dataset.json`` (subset A, 412 images) and ``controlled_clevr_dataset.json``
  (subset B, 408): lists of ``{"image_path": "data/controlled_images/<a>_<prep>_<b>.jpeg",
  "caption_options": [4 captions]}``; images in ``controlled_images/`` and ``controlled_clevr/``;
- ``coco_qa_one_obj.json``, ``coco_qa_two_obj.json``: lists of ``[image_id, true_caption,
  false_caption]``, images ``val2017/<image_id:012d>.jpg``;
- ``vg_qa_one_obj.json``, ``vg_qa_two_obj.json``: the same rows, images ``vg_images/<id>.jpg``.

``root`` is that ``data`` folder or the repository holding it; images are looked for beside the
JSON files (``image_path`` is relative to the repository, so its leading ``data/`` is dropped).
``image_root``: a folder replacing that one for every image, or a mapping
with any of ``controlled`` (the folder holding ``controlled_images/``, ``controlled_clevr/``),
``coco`` (the COCO val2017 image folder itself) and ``vg`` (the ``vg_images`` folder itself).

Scores, as ``evaluate_scores`` in the original: the prediction is ``np.argmax`` over the options,
so **a tie with a later option counts right** (the true option is listed first); per subset the
individual accuracy; for A and B also the pair accuracy (left&right, on&under / in-front&behind
of one object pair both right, over #items / 2) and the set accuracy (all four right, over
#items / 4), the pair key being the first and last ``_`` fields of the image file name; per
preposition accuracies in ``by_group``. ``average``: the unweighted mean of the six individual
accuracies (vl_compo's WhatsUp column); ``controlled``, ``coco_qa``, ``vg_qa``: the paper's
Table 1 macro averages of A/B, one/two-object.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Mapping, Sequence

import numpy as np

from ahnpl_plugin.errors import BenchmarkError
from .base import Benchmark, ImageRef, Item, as_path, format_error, get_field, read_benchmark_json
from .scoring import accuracy, argmax_correct, drop_nan, macro_mean

WHATSUP_SOURCE = ("github.com/amitakamath/whatsup_vlms (JSON files and image archives: Google "
                  "Drive links in dataset_zoo/aro_datasets.py and the README)")
SUBSET_FILES = {
    "controlled_a": "controlled_images_dataset.json",
    "controlled_b": "controlled_clevr_dataset.json",
    "coco_qa_one": "coco_qa_one_obj.json",
    "coco_qa_two": "coco_qa_two_obj.json",
    "vg_qa_one": "vg_qa_one_obj.json",
    "vg_qa_two": "vg_qa_two_obj.json",
}
SUBSETS = tuple(SUBSET_FILES)
# the two pairs of opposite prepositions of each controlled subset (image file name field)
CONTROLLED_PAIRS = {
    "controlled_a": (("left", "right"), ("on", "under")),
    "controlled_b": (("left", "right"), ("in-front", "behind")),
}
FAMILIES = {"controlled": ("controlled_a", "controlled_b"), "coco_qa": ("coco_qa_one", "coco_qa_two"),
            "vg_qa": ("vg_qa_one", "vg_qa_two")}
def load_whatsup(root, image_root=None, *, strict: bool = False,
                 subsets: Sequence[str] = SUBSETS) -> Benchmark:
    """The What'sUp subsets named in ``subsets`` (default: all six) from ``root`` (the
    repository's ``data`` folder, or the repository with ``data/`` in it)."""
    root = as_path(root)
    unknown = [s for s in subsets if s not in SUBSET_FILES]
    if unknown:
        raise BenchmarkError(f"whatsup: unknown subset(s) {unknown}; known: {list(SUBSETS)}")
    items = []
    for subset in subsets:
        name = SUBSET_FILES[subset]
        path, records = read_benchmark_json(root, name, f"What'sUp file {name}", WHATSUP_SOURCE, list,
                                            "a JSON list")
        folders = _image_folders(path.parent, image_root)  # default: the folder of the JSON files
        reader = _controlled_item if subset.startswith("controlled") else _qa_item
        items += [reader(subset, record, path, f"index {i}", folders) for i, record in enumerate(records)]
    return Benchmark("whatsup", items, _score, strict=strict, outcomes_fn=item_outcomes,
                     notes=["argmax as the original: a tie with a later option counts right"])


def _image_folders(data_dir: Path, image_root) -> dict[str, Path]:
    base = data_dir
    if isinstance(image_root, (str, Path)):
        base = as_path(image_root)
    folders = {"controlled": base, "coco": base / "val2017", "vg": base / "vg_images"}
    if isinstance(image_root, Mapping):
        bad = sorted(set(image_root) - set(folders))
        if bad:
            raise BenchmarkError(f"whatsup: unknown image_root key(s) {bad}; known: {sorted(folders)}")
        folders.update({k: as_path(v) for k, v in image_root.items()})
    elif image_root is not None and not isinstance(image_root, (str, Path)):
        raise BenchmarkError(f"whatsup: image_root must be a folder or a mapping, got {image_root!r}")
    return folders


def _controlled_item(subset: str, record, path: Path, where: str, folders: dict) -> Item:
    image_path = get_field(record, "image_path", str, path, where)
    options = get_field(record, "caption_options", list, path, where)
    if len(options) != 4 or not all(isinstance(o, str) for o in options):
        raise format_error(path, f"{where}.caption_options", "expected 4 caption strings")
    parts = PurePosixPath(image_path).parts
    relative = PurePosixPath(*parts[1:]) if parts and parts[0] == "data" else PurePosixPath(image_path)
    fields = PurePosixPath(image_path).name.split("_")
    if len(fields) < 3:
        raise format_error(path, f"{where}.image_path",
                           f"expected '<object>_<preposition>_..._<object>.jpeg', got {image_path!r}")
    # the original's keys: (first field, last field without its 5-character '.jpeg')
    return Item(images=[ImageRef(str(folders["controlled"] / relative))], captions=list(options),
                label=0, group=subset,
                meta={"preposition": fields[1], "pair_key": (fields[0], fields[-1][:-5]),
                      "id": where.removeprefix("index ")})


def _qa_item(subset: str, record, path: Path, where: str, folders: dict) -> Item:
    if (not isinstance(record, list) or len(record) != 3 or not isinstance(record[1], str)
            or not isinstance(record[2], str) or isinstance(record[0], bool)
            or not isinstance(record[0], (int, str))):
        raise format_error(path, where, "expected [image_id, true_caption, false_caption]")
    image_id, true_caption, false_caption = record
    if subset.startswith("coco"):
        image = folders["coco"] / f"{str(image_id).zfill(12)}.jpg"
    else:
        image = folders["vg"] / f"{image_id}.jpg"
    return Item(images=[ImageRef(str(image))], captions=[true_caption, false_caption], label=0,
                group=subset, meta={"preposition": _qa_preposition(subset, true_caption),
                                    "image_id": image_id, "id": where.removeprefix("index ")})


def _qa_preposition(subset: str, caption: str) -> str:
    """The preposition bucket the original reports for a QA caption."""
    if subset.endswith("_one"):
        return caption.split()[-1]
    for phrase, name in (("left of", "left"), ("right of", "right")):
        if phrase in caption:
            return name
    if subset.startswith("coco"):
        return "above" if "above" in caption else "below"
    if "front of" in caption:
        return "front"
    return "behind" if "behind" in caption else "top"


def item_outcomes(items: Sequence[Item], sims: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Per item: ``individual`` (argmax on the true option)."""
    return {"individual": np.array([argmax_correct(s[0], 0) for s in sims], dtype=bool)}


def _pair_and_set(items: Sequence[Item], correct: np.ndarray, subset: str) -> tuple[float, float]:
    """Pair and set accuracy of a controlled subset, over the items evaluated (original's rule)."""
    table: dict = {}
    n = 0
    for it, ok in zip(items, correct):
        if it.group == subset:
            table.setdefault(it.meta["pair_key"], {})[it.meta["preposition"]] = bool(ok)
            n += 1
    pairs = sum(all(preps.get(p, False) for p in pair)
                for preps in table.values() for pair in CONTROLLED_PAIRS[subset])
    sets = sum(len(preps) == 4 and all(preps.values()) for preps in table.values())
    return pairs / (n / 2), sets / (n / 4)


def _score(items: Sequence[Item], sims: Sequence[np.ndarray]) -> dict:
    correct = item_outcomes(items, sims)["individual"]
    groups = np.array([it.group for it in items])
    present = [s for s in SUBSETS if (groups == s).any()]
    metrics, by_group, counts = {}, {}, {}
    for subset in present:
        mask = groups == subset
        counts[subset] = int(mask.sum())
        metrics[subset] = accuracy(correct[mask])
        if subset in CONTROLLED_PAIRS:
            metrics[f"{subset}_pair"], metrics[f"{subset}_set"] = _pair_and_set(items, correct, subset)
        preps = [it.meta["preposition"] for it, m in zip(items, mask) if m]
        for prep in sorted(set(preps)):
            sel = np.array([p == prep for p in preps])
            by_group[f"{subset}/{prep}"] = accuracy(correct[mask][sel])
    for family, members in FAMILIES.items():
        if all(m in metrics for m in members):
            metrics[family] = macro_mean(metrics[m] for m in members)
    metrics["average"] = macro_mean(metrics[s] for s in present)
    metrics, _ = drop_nan(metrics)
    notes = []
    if len(present) < len(SUBSETS):
        notes.append(f"average over {len(present)} of the 6 subsets: not comparable with vl_compo")
    return {**metrics, "by_group": by_group, "counts": {"by_group": counts}, "notes": notes}
