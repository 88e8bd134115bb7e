"""A tiny COCO-shaped folder (generated JPEGs + LAVIS Karpathy JSONs), for tests and benchmarks.

Layout (as real COCO under LAVIS):

    <root>/images/train2014/COCO_train2014_%012d.jpg     train images
    <root>/images/val2014/COCO_val2014_%012d.jpg         val/test images and one "restval" train image
    <root>/annotations/coco_karpathy_{train,val,test}.json

:func:`write_coco_captions` writes train rows as COCO's own captions file (the layout of
``annotations/captions_train2014.json`` from cocodataset.org).

Captions are templated ("a red dog next to a blue car") so that the negatives generator finds
something to perturb, and :func:`template_negatives` gives known negatives without spaCy (verb
always invalid). Everything is deterministic in ``seed``.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from ahnpl_plugin.data.images import coco2014_file

COLOURS = ("red", "blue", "green", "yellow", "white", "black")
NOUNS = ("dog", "cat", "car", "chair", "horse", "table", "bird", "boat")
RELATIONS = ("next to", "on top of", "behind", "under")


@dataclass
class CocoFolder:
    root: Path
    images: Path
    annotations: dict[str, Path]
    train_rows: list[dict] = field(default_factory=list)
    eval_rows: dict[str, list[dict]] = field(default_factory=dict)


def caption(rng: random.Random) -> str:
    c1, c2 = rng.sample(COLOURS, 2)
    n1, n2 = rng.sample(NOUNS, 2)
    return f"a {c1} {n1} {rng.choice(RELATIONS)} a {c2} {n2}"


def write_image(path: Path, rng: random.Random, size: int) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    colour = tuple(rng.randrange(256) for _ in range(3))
    image = Image.new("RGB", (size + rng.randrange(8), size), colour)
    pixels = image.load()
    for _ in range(size * 4):  # some texture, so JPEG decoding does real work
        pixels[rng.randrange(image.width), rng.randrange(size)] = tuple(rng.randrange(256) for _ in range(3))
    image.save(path, format="JPEG", quality=90)


def make_coco_folder(root: str | Path, n_train: int = 8, n_val: int = 2, n_test: int = 2, captions_per_image: int = 2,
                     image_size: int = 40, seed: int = 0, restval: bool = True) -> CocoFolder:
    """Write the folder; train has ``n_train`` images (the last from val2014 when ``restval``)."""
    rng = random.Random(seed)
    root = Path(root)
    images = root / "images"
    folder = CocoFolder(root, images, {s: root / "annotations" / f"coco_karpathy_{s}.json" for s in ("train", "val", "test")})
    for i in range(n_train):
        image_id = 100 + i
        split = "val2014" if restval and i == n_train - 1 else "train2014"
        name = coco2014_file(image_id, split)
        write_image(images / name, rng, image_size)
        for _ in range(captions_per_image):
            folder.train_rows.append({"caption": caption(rng), "image": name, "image_id": f"coco_{image_id}"})
    next_id = 5000
    for split, count in (("val", n_val), ("test", n_test)):
        rows = []
        for _ in range(count):
            name = coco2014_file(next_id, "val2014")
            next_id += 1
            write_image(images / name, rng, image_size)
            rows.append({"image": name, "caption": [caption(rng) for _ in range(5)]})
        folder.eval_rows[split] = rows
    folder.annotations["train"].parent.mkdir(parents=True, exist_ok=True)
    folder.annotations["train"].write_text(json.dumps(folder.train_rows))
    for split in ("val", "test"):
        folder.annotations[split].write_text(json.dumps(folder.eval_rows[split]))
    return folder


_TEMPLATE = re.compile(r"^a (\w+) (\w+) (.+) a (\w+) (\w+)$")


def template_negatives(caption: str) -> dict:
    """Known AHNPL negatives of a templated caption: relation and adj_swap swaps, the first colour
    and noun replaced by the next in the lists, verb invalid (``valid_caption`` [1,1,1,1,1,0])."""
    match = _TEMPLATE.match(caption)
    if match is None:
        raise ValueError(f"not a templated caption: {caption!r}")
    c1, n1, rel, c2, n2 = match.groups()
    other_colour = COLOURS[(COLOURS.index(c1) + 1) % len(COLOURS)]
    other_noun = NOUNS[(NOUNS.index(n1) + 1) % len(NOUNS)]
    return {
        "relation_aug_caption": f"a {c1} {n2} {rel} a {c2} {n1}",
        "adj_swap_aug_caption": f"a {c2} {n1} {rel} a {c1} {n2}",
        "adj_aug_caption": f"a {other_colour} {n1} {rel} a {c2} {n2}",
        "noun_aug_caption": f"a {c1} {other_noun} {rel} a {c2} {n2}",
        "verb_aug_caption": "###",
        "valid_caption": [1, 1, 1, 1, 1, 0],
    }


def write_template_negatives(rows: list[dict], path: str | Path) -> Path:
    """A negatives JSONL for ``rows`` (as ``python -m ahnpl_plugin.negatives`` would lay it out)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps({**row, **template_negatives(row["caption"])}) + "\n")
    return path


def write_coco_captions(rows: list[dict], path: str | Path) -> Path:
    """Train rows ``{"image": "<folder>/COCO_<folder>_<id>.jpg", "caption", ...}`` as COCO's captions
    file: ``{"info", "licenses", "images": [{"id", "file_name", "height", "width"}], "annotations":
    [{"image_id", "id", "caption"}]}``, images in first-seen order, annotation ids from 1."""
    path = Path(path)
    images: dict[str, dict] = {}
    annotations = []
    for number, row in enumerate(rows, start=1):
        file_name = Path(row["image"]).name
        image_id = int(re.findall(r"\d+", Path(file_name).stem)[-1])
        images.setdefault(file_name, {"id": image_id, "file_name": file_name, "height": 480, "width": 640})
        annotations.append({"image_id": image_id, "id": number, "caption": row["caption"]})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"info": {"description": "tiny COCO-format sample"}, "licenses": [],
                                "images": list(images.values()), "annotations": annotations}))
    return path
