"""Tiny zero-shot sets in the real layouts, and a planted encoder that separates their classes.

Each class has one colour; every image of a class is a solid image of that colour (with a little
per-image noise), so a "model" that maps colours to class vectors classifies perfectly exactly
when labels are read correctly.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

# Class list in a deliberately non-alphabetical order: folder listings sort differently.
CLASSNAMES = ["zebra", "apple", "mango"]
COLOURS = {"zebra": (250, 10, 10), "apple": (10, 250, 10), "mango": (10, 10, 250)}
TEMPLATES = ["a photo of a {c}.", "a blurry photo of the {c}."]


def image_bytes(colour, seed: int, fmt: str = "PNG", size: int = 12) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(colour)[None, None, :] + rng.integers(-5, 6, (size, size, 3)), 0, 255)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format=fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    return buffer.getvalue()


def write_text(path: Path, lines) -> None:
    # as CLIP_benchmark writes them: print(*lines, sep="\n", end="\n")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def make_class_folders(root: Path, per_class=(2, 3, 1), split: str = "test", folders: list[str] | None = None) -> Path:
    """root/classnames.txt, zeroshot_classification_templates.txt, [folders.txt], <split>/<folder>/*.png."""
    root.mkdir(parents=True, exist_ok=True)
    write_text(root / "classnames.txt", CLASSNAMES)
    write_text(root / "zeroshot_classification_templates.txt", TEMPLATES)
    if folders is not None:
        write_text(root / "folders.txt", folders)
    for i, (name, count) in enumerate(zip(CLASSNAMES, per_class)):
        folder = root / split / (folders[i] if folders else name)
        folder.mkdir(parents=True, exist_ok=True)
        for j in range(count):
            (folder / f"img_{j}.png").write_bytes(image_bytes(COLOURS[name], seed=10 * i + j))
    return root


def make_clip_benchmark_wds(root: Path, labels=(0, 1, 2, 0, 2, 1, 1), maxcount: int = 3, split: str = "test",
                            multilabel: list | None = None) -> Path:
    """CLIP_benchmark's export layout, written with webdataset's ShardWriter as its
    ``convert_dataset`` does ("s%07d" keys, webp images, .cls labels, nshards.txt)."""
    import webdataset

    (root / split).mkdir(parents=True, exist_ok=True)
    write_text(root / "classnames.txt", CLASSNAMES)
    write_text(root / "zeroshot_classification_templates.txt", TEMPLATES)
    if multilabel is not None:
        (root / "dataset_type.txt").write_text("multilabel\n")
    sink = webdataset.ShardWriter(str(root / split / "%d.tar"), maxcount=maxcount, verbose=0)
    rows = multilabel if multilabel is not None else labels
    for index, label in enumerate(rows):
        colour_of = CLASSNAMES[int(np.argmax(label))] if multilabel is not None else CLASSNAMES[label]
        sample = {"__key__": "s%07d" % index, "webp": image_bytes(COLOURS[colour_of], seed=index, fmt="WEBP")}
        if multilabel is not None:
            sample["npy"] = np.asarray(label)
        else:
            sample["cls"] = int(label)
        sink.write(sample)
    nshards = sink.shard
    sink.close()
    (root / split / "nshards.txt").write_text(f"{nshards}\n")
    return root


class PlantedEncoder:
    """Image features: the mean colour (R, G, B) of each image; text features: the colour of the
    class named in the prompt. Counts the prompts it encodes."""

    def __init__(self):
        self.encoded_prompts: list[str] = []
        self.device = torch.device("cpu")

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(images.float().mean(dim=(2, 3)), dim=-1)

    def encode_text(self, texts) -> torch.Tensor:
        self.encoded_prompts.extend(texts)
        rows = []
        for text in texts:
            name = next(n for n in CLASSNAMES if n in text)
            rows.append(torch.tensor(COLOURS[name], dtype=torch.float32))
        return torch.stack(rows)


def to_tensor(image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)


class PlantedModel(torch.nn.Module):
    """:class:`PlantedEncoder` as a model (``encode_image`` / ``encode_text``), for the tasks.
    ``swap`` maps a class name to the colour of another (a model that confuses them)."""

    def __init__(self, swap: dict | None = None):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # gives the model a device
        self.swap = swap or {}
        self.encoder = PlantedEncoder()

    def encode_image(self, images):
        return self.encoder.encode_image(images)

    def encode_text(self, texts):
        texts = [next((t.replace(a, b) for a, b in self.swap.items() if a in t), t) for t in texts]
        return self.encoder.encode_text(texts)


def make_elevater_iris(root: Path, labels=(0, 1, 2, 1), multilabel_row: str | None = None) -> Path:
    """An ELEVATER download in IRIS form: labels.txt, test.txt ("val.zip@<path> <ids>"), val.zip (stored)."""
    import zipfile

    root.mkdir(parents=True, exist_ok=True)
    write_text(root / "labels.txt", CLASSNAMES)
    lines = []
    with zipfile.ZipFile(root / "val.zip", "w", compression=zipfile.ZIP_STORED) as archive:
        for i, label in enumerate(labels):
            inner = f"val/image {i}.jpg"  # a space in the path, as the format allows
            archive.writestr(inner, image_bytes(COLOURS[CLASSNAMES[label]], seed=i, fmt="JPEG"))
            lines.append(f"val.zip@{inner} {label}")
    if multilabel_row is not None:
        lines[0] = lines[0].rsplit(" ", 1)[0] + " " + multilabel_row
    write_text(root / "test.txt", lines)
    write_text(root / "templates.txt", ["a photo of a {}."])
    return root


def make_elevater_coco(root: Path, labels=(1, 0, 1)) -> Path:
    """An ELEVATER download in COCO form (as hateful-memes): test_meta.json + img.zip; category ids
    from 1, listed out of order."""
    import json
    import zipfile

    root.mkdir(parents=True, exist_ok=True)
    names = CLASSNAMES[:2]
    images, annotations = [], []
    with zipfile.ZipFile(root / "img.zip", "w", compression=zipfile.ZIP_STORED) as archive:
        for i, label in enumerate(labels):
            archive.writestr(f"img/{i:05d}.png", image_bytes(COLOURS[names[label]], seed=i))
            images.append({"id": i + 1, "file_name": f"img/{i:05d}.png", "zip_file": "img.zip"})
            annotations.append({"id": i + 1, "image_id": i + 1, "category_id": label + 1})
    categories = [{"id": 2, "name": names[1]}, {"id": 1, "name": names[0]}]
    (root / "test_meta.json").write_text(json.dumps({"images": images, "annotations": annotations,
                                                     "categories": categories}))
    write_text(root / "templates.txt", ["a meme of a {}."])
    return root
