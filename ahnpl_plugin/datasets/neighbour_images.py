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
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset


def pixel_neighbours(images: np.ndarray, k: int, chunk: int = 2048) -> np.ndarray:
    """Indices ``[N, k]`` of each row's k most cosine-similar other rows (ties: lower index first).

    ``images`` is ``[N, ...]`` (any trailing shape, flattened); rows are mean-centred per row
    before the cosine. A row is never its own neighbour.
    """
    count = images.shape[0]
    if not 1 <= k < count:
        raise ValueError(f"k must be between 1 and N-1 = {count - 1}, got {k}")
    flat = images.reshape(count, -1).astype(np.float64)
    flat = flat - flat.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(flat, axis=1, keepdims=True)
    flat = (flat / np.where(norms > 0, norms, 1.0)).astype(np.float32)
    out = np.empty((count, k), dtype=np.int64)
    for start in range(0, count, chunk):
        block = flat[start:start + chunk] @ flat.T
        rows = np.arange(block.shape[0])
        block[rows, start + rows] = -np.inf
        # stable sort of -similarity: equal similarities keep index order
        out[start:start + block.shape[0]] = np.argsort(-block, axis=1, kind="stable")[:, :k]
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
