"""Caption-choice evaluation data encoded once: unique images and captions, items index into them.

An item is ``{"images": [ref, ...], "captions": [str, ...], "label": int, "category": str}``.
The dataset iterates over the *distinct* images (a DataLoader batches and preprocesses them in
workers); :attr:`captions` lists the distinct caption strings. The task encodes each once and
rebuilds per-item similarity arrays ``[len(images), len(captions)]`` by index, which is what the
scorers take.
"""

from __future__ import annotations

import os
from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset


def _ref_key(ref):
    """Hashable identity of an image reference (a path, or an object with path and box)."""
    if isinstance(ref, (str, os.PathLike)):
        return str(ref)
    box = getattr(ref, "box", None)
    return (str(getattr(ref, "path", ref)), tuple(box) if box is not None else None)


class ChoiceEvalDataset(Dataset):
    def __init__(
        self,
        items: Sequence[dict],
        vis_processor,
        score_fn: Callable[[list[np.ndarray]], dict],
        open_image: Callable,
    ):
        self.items = list(items)
        self.vis_processor = vis_processor
        self.score_fn = score_fn
        self.open_image = open_image
        image_index, caption_index = {}, {}
        self.images, self.captions = [], []
        self.item_images, self.item_captions = [], []
        for item in self.items:
            ids = []
            for ref in item["images"]:
                key = _ref_key(ref)
                if key not in image_index:
                    image_index[key] = len(self.images)
                    self.images.append(ref)
                ids.append(image_index[key])
            self.item_images.append(ids)
            ids = []
            for caption in item["captions"]:
                if caption not in caption_index:
                    caption_index[caption] = len(self.captions)
                    self.captions.append(caption)
                ids.append(caption_index[caption])
            self.item_captions.append(ids)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        return {"image": self.vis_processor(self.open_image(self.images[index])), "image_index": index}

    def collater(self, samples):
        return {
            "image": torch.stack([s["image"] for s in samples]),
            "image_index": torch.tensor([s["image_index"] for s in samples]),
        }

    def item_similarities(self, sims: np.ndarray) -> list[np.ndarray]:
        """Per-item ``[n_images, n_captions]`` arrays from the full unique-image x unique-caption
        similarity matrix."""
        return [sims[np.ix_(im, cap)] for im, cap in zip(self.item_images, self.item_captions)]

    def score(self, sims: np.ndarray) -> dict:
        return self.score_fn(self.item_similarities(sims))
