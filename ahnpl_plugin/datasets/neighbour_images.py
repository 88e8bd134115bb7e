"""NegCLIP's hard-negative images: every training sample brings one of its nearest-neighbour images.

NegCLIP (Yuksekgonul et al., ICLR 2023) precomputes, for each training image, its nearest
neighbours and, at every step, adds to the batch of B pairs one neighbour pair per sample (image,
its caption and that caption's hard negatives): the contrastive loss then sees B more, visually
close, images. :class:`NeighbourPairs` does this for any map-style training dataset given a
neighbour table ``[N, k]`` of dataset indices; the batch becomes ``[x_1..x_B, nn(x_1)..nn(x_B)]``.

Which of the k neighbours is drawn is seeded per sample by the runner (``SeededSamples`` seeds
numpy from (epoch seed, index)), so runs and resumes are reproducible.

:func:`pixel_neighbours` builds the table from the images themselves (cosine of mean-centred,
downsampled pixels). NegCLIP used pretrained CLIP image embeddings; the synthetic world's model
starts from random weights, so its embeddings carry no meaning before training and pixels are
the closest model-free stand-in (see docs/method.md §7).

For COCO, ``python -m ahnpl_plugin.data image-neighbours`` encodes the training images with the
config's pretrained model (NegCLIP's way) and writes an image-neighbours file
(:func:`write_image_neighbours`: image paths and, per image, its k nearest by cosine of the
embeddings); the COCO builder's ``neighbour_images_file`` reads it back
(:func:`read_image_neighbours`) and turns it into the per-caption table
(:func:`caption_neighbours`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset


def pixel_neighbours(images: np.ndarray, k: int, chunk: int = 2048) -> np.ndarray:
    """Indices ``[N, k]`` of each row's k most cosine-similar other rows (ties: lower index first).

    ``images`` is ``[N, ...]`` (any trailing shape, flattened); rows are mean-centred per row
    before the cosine. A row is never its own neighbour.
    """
    flat = images.reshape(images.shape[0], -1).astype(np.float64)
    return cosine_neighbours(flat - flat.mean(axis=1, keepdims=True), k, chunk)


def cosine_neighbours(features: np.ndarray, k: int, chunk: int = 2048) -> np.ndarray:
    """Indices ``[N, k]`` of each row of ``features [N, D]``'s k most cosine-similar other rows
    (ties: lower index first; a row is never its own neighbour), computed ``chunk`` rows at a time."""
    count = features.shape[0]
    if not 1 <= k < count:
        raise ValueError(f"k must be between 1 and N-1 = {count - 1}, got {k}")
    flat = np.asarray(features, dtype=np.float64)
    norms = np.linalg.norm(flat, axis=1, keepdims=True)
    flat = (flat / np.where(norms > 0, norms, 1.0)).astype(np.float32)
    out = np.empty((count, k), dtype=np.int64)
    for start in range(0, count, chunk):
        block = -(flat[start:start + chunk] @ flat.T)  # ascending = most similar first
        rows = np.arange(block.shape[0])
        block[rows, start + rows] = np.inf
        # the k smallest by (value, index), as a stable argsort would give them, without sorting
        # whole rows (82,783 COCO images): every entry up to the k-th smallest value is a candidate
        kth = np.partition(block, k - 1, axis=1)[:, k - 1]
        for r in rows:
            candidates = np.flatnonzero(block[r] <= kth[r])
            out[start + r] = candidates[np.lexsort((candidates, block[r, candidates]))][:k]
    return out


def cached_pixel_neighbours(path: Path, load_images: Callable[[], np.ndarray], k: int) -> np.ndarray:
    """:func:`pixel_neighbours` of ``load_images()``, stored at ``path`` (.npy) and read back next time."""
    path = Path(path)
    if path.is_file():
        table = np.load(path)
        if table.ndim == 2 and table.shape[1] == k:
            return table
    table = pixel_neighbours(load_images(), k)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, table)
    os.replace(tmp, path)  # atomic: parallel runs never read half a file
    return table


class NeighbourPairs(Dataset):
    """``__getitem__(i)`` = ``(dataset[i], dataset[j])``, j drawn (numpy RNG) from ``neighbours[i]``."""

    def __init__(self, dataset, neighbours: np.ndarray):
        neighbours = np.asarray(neighbours)
        if neighbours.ndim != 2 or neighbours.shape[0] != len(dataset) or neighbours.shape[1] < 1:
            raise ValueError(
                f"the neighbour table must have shape [N, k] with N = {len(dataset)} samples and k >= 1, "
                f"got {neighbours.shape}"
            )
        if neighbours.min() < 0 or neighbours.max() >= len(dataset):
            raise ValueError(f"the neighbour table holds indices outside 0..{len(dataset) - 1}")
        self.dataset = dataset
        self.neighbours = neighbours

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        row = self.neighbours[index]
        neighbour = int(row[np.random.randint(len(row))])
        return self.dataset[index], self.dataset[neighbour]

    def collater(self, pairs):
        """The wrapped dataset's batch of ``[own samples] + [their neighbours]`` (2B rows)."""
        return self.dataset.collater([p[0] for p in pairs] + [p[1] for p in pairs])

    def __getattr__(self, name):  # negative_types, records, ... of the wrapped dataset
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)


# ------------------------------------------------------------------ image-neighbours files (COCO)
NEIGHBOURS_FORMAT = "ahnpl-image-neighbours/1"


def write_image_neighbours(path, images: Sequence[str], table: np.ndarray, meta: dict | None = None) -> None:
    """Write ``images`` (paths as the annotations give them) and ``table [N, k]`` (indices into
    ``images``) as JSON, atomically; ``meta`` (model, k, ...) is kept for the reader."""
    table = np.asarray(table)
    if table.ndim != 2 or table.shape[0] != len(images):
        raise ValueError(f"table must be [N, k] with N = {len(images)} images, got {table.shape}")
    path = Path(path)
    payload = {"format": NEIGHBOURS_FORMAT, "meta": meta or {}, "k": int(table.shape[1]), "images": list(images),
               "neighbours": table.astype(int).tolist()}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload), encoding="utf-8")
    os.replace(tmp, path)


def read_image_neighbours(path) -> dict[str, list[str]]:
    """image path -> its neighbours' image paths, nearest first (a file of :func:`write_image_neighbours`)."""
    from ahnpl_plugin.errors import DataError

    path = Path(path)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable image-neighbours file ({exc}); make it with "
                        "`python -m ahnpl_plugin.data image-neighbours`") from None
    if not isinstance(payload, dict) or payload.get("format") != NEIGHBOURS_FORMAT:
        raise DataError(f"{path}: not an image-neighbours file (format {NEIGHBOURS_FORMAT!r} expected); make it with "
                        "`python -m ahnpl_plugin.data image-neighbours`")
    images, table = payload["images"], payload["neighbours"]
    if len(table) != len(images) or any(not 0 <= j < len(images) for row in table for j in row):
        raise DataError(f"{path}: the neighbour table does not match its {len(images)} images (damaged file?)")
    return {image: [images[j] for j in row] for image, row in zip(images, table)}


def caption_neighbours(record_images: Sequence[str], neighbours: dict[str, list[str]], k: int | None = None,
                       where: str = "the image-neighbours file") -> np.ndarray:
    """Per-caption neighbour table ``[N, k]`` for a dataset whose row ``i`` shows ``record_images[i]``.

    Row ``i`` holds, for each of its image's nearest neighbour images (up to ``k``, nearest first,
    those without a caption in the dataset skipped), one caption row of that image: the one with
    the same rank among its image's captions as row ``i`` among its own (modulo their count), so
    the 5 captions of an image bring 5 different captions of each neighbour. Rows whose image has
    fewer usable neighbours repeat their nearest. Raises DataError when an image is missing from
    the file or has no usable neighbour.
    """
    from ahnpl_plugin.errors import DataError

    rows_of: dict[str, list[int]] = {}
    rank = []
    for i, image in enumerate(record_images):
        rows = rows_of.setdefault(image, [])
        rank.append(len(rows))
        rows.append(i)
    missing = [image for image in rows_of if image not in neighbours]
    if missing:
        raise DataError(f"{len(missing)} of {len(rows_of)} training images are not in {where} (e.g. {missing[0]}): "
                        "it was made from other annotations; make it again with `python -m ahnpl_plugin.data "
                        "image-neighbours` on this config")
    width = k or max(len(v) for v in neighbours.values())
    table = np.empty((len(record_images), width), dtype=np.int64)
    for i, image in enumerate(record_images):
        usable = [n for n in neighbours[image] if n in rows_of and n != image][:width]
        if not usable:
            raise DataError(f"{where}: no neighbour of {image} has a caption in the training data")
        usable += [usable[0]] * (width - len(usable))
        table[i] = [rows_of[n][rank[i] % len(rows_of[n])] for n in usable]
    return table
