"""Caption-choice evaluation data encoded once: unique images and captions, items index into them.

An item is ``{"images": [ref, ...], "captions": [str, ...], "label": int, "category": str}``.
The dataset iterates over the *distinct* images (a DataLoader batches and preprocesses them in
workers); :attr:`captions` lists the distinct caption strings; :attr:`item_images` /
:attr:`item_captions` index into them. The task (:mod:`ahnpl_plugin.tasks.compositional`) encodes
each distinct image and caption once, computes only the pairs the items use, and hands per-item
arrays ``[len(images), len(captions)]`` to :attr:`score_fn`.
"""

from __future__ import annotations

import os
from typing import Callable, Sequence

import torch
from torch.utils.data import Dataset

from ahnpl_plugin.errors import UnreadableImageError, UserError


def raise_unreadable(batch: dict) -> None:
    """Raise :class:`UnreadableImageError` in the main process when a batch carries the error of
    an image a DataLoader worker could not read (see :meth:`ChoiceEvalDataset.__getitem__`)."""
    if batch.get("error"):
        raise UnreadableImageError(batch["error"])


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
        score_fn: Callable[[list], dict],
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
        """``{"image", "image_index"}``; for an image that cannot be read, ``{"error": message,
        "image_index"}`` instead, so that a DataLoader worker hands the one-line message to the
        main process (:func:`raise_unreadable`) rather than raising a worker traceback."""
        try:
            image = self.open_image(self.images[index])
        except UserError as exc:
            return {"error": str(exc), "image_index": index}
        return {"image": self.vis_processor(image), "image_index": index}

    def collater(self, samples):
        errors = [s["error"] for s in samples if "error" in s]
        if errors:
            return {"error": errors[0], "image_index": torch.tensor([s["image_index"] for s in samples])}
        return {
            "image": torch.stack([s["image"] for s in samples]),
            "image_index": torch.tensor([s["image_index"] for s in samples]),
        }
