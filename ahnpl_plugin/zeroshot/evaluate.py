"""Scoring one zero-shot set with one model: classifier from the set's prompts, image features,
logits, the suites' metrics. Needs only an encoder with ``encode_image(images) -> [B, D]`` and
``encode_text(list[str]) -> [N, D]`` (:func:`ahnpl_plugin.model_adapters.choice_encoder` gives one
for every supported model); no LAVIS import.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ahnpl_plugin.zeroshot import metrics as zs_metrics
from ahnpl_plugin.zeroshot.classifier import zero_shot_logits, zero_shot_weights
from ahnpl_plugin.zeroshot.protocols import headline_metric
from ahnpl_plugin.zeroshot.readers import ZeroShotSet, open_image

log = logging.getLogger(__name__)


class ZeroShotImages(Dataset):
    """The images of a :class:`ZeroShotSet`, preprocessed by ``vis_processor``; items
    ``{"image": tensor, "index": i}``. ``headline`` is the set's summary metric."""

    def __init__(self, zs_set: ZeroShotSet, vis_processor, headline: str | None = None):
        self.set = zs_set
        self.vis_processor = vis_processor
        self.headline = headline or headline_metric(zs_set.name, zs_set.multilabel)
        self.dataset_name = zs_set.name

    def __len__(self) -> int:
        return len(self.set)

    def __getitem__(self, index: int) -> dict:
        return {"image": self.vis_processor(open_image(self.set.images[index])), "index": index}

    def collater(self, samples: list[dict]) -> dict:
        return {"image": torch.stack([s["image"] for s in samples]),
                "index": torch.tensor([s["index"] for s in samples])}


@torch.no_grad()
def image_logits(encoder, dataset: ZeroShotImages, weights: torch.Tensor, *, batch_size: int = 64,
                 num_workers: int = 0, progress: bool = False, label: str = "") -> np.ndarray:
    """[N, C] logits (100 x cosine) of every image of ``dataset`` in its order."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                        collate_fn=dataset.collater)
    if progress:
        from tqdm import tqdm

        loader = tqdm(loader, desc=f"{label or dataset.dataset_name}: images", unit="batch")
    logits = np.zeros((len(dataset), weights.shape[1]), dtype=np.float32)
    for batch in loader:
        features = encoder.encode_image(batch["image"])
        with torch.autocast(device_type=features.device.type, enabled=False):
            logits[batch["index"].numpy()] = zero_shot_logits(features, weights).cpu().numpy()
    return logits


def set_logits(encoder, dataset: ZeroShotImages, *, batch_size: int = 64, text_batch_size: int = 256,
               num_workers: int = 0, progress: bool = False) -> np.ndarray:
    """[N, C] logits of one model on one set: classifier from the set's prompts, then its images."""
    zs_set = dataset.set
    weights = zero_shot_weights(encoder.encode_text, zs_set.classnames, zs_set.templates, text_batch_size)
    return image_logits(encoder, dataset, weights, batch_size=batch_size, num_workers=num_workers,
                        progress=progress)


def set_result(dataset: ZeroShotImages, logits: np.ndarray) -> dict:
    """``{"metrics": {...}, "headline": name, "score": value, "images": N, "classes": C,
    "templates": T, "source": ...}`` of a set's logits."""
    zs_set = dataset.set
    values = zs_metrics.suite_metrics(logits, zs_set.targets, dataset.headline, zs_set.multilabel)
    result = {
        "metrics": values,
        "headline": dataset.headline,
        "score": values[dataset.headline],
        "images": len(zs_set),
        "classes": len(zs_set.classnames),
        "templates": len(zs_set.templates),
        "source": zs_set.source,
    }
    if zs_set.notes:
        result["notes"] = list(zs_set.notes)
    log.info("%s: %s = %.4f (%d images, %d classes, %d templates)", zs_set.name, dataset.headline,
             result["score"], len(zs_set), len(zs_set.classnames), len(zs_set.templates))
    return result


def score_set(encoder, dataset: ZeroShotImages, **kwargs) -> dict:
    """:func:`set_result` of :func:`set_logits` (keywords: those of :func:`set_logits`)."""
    return set_result(dataset, set_logits(encoder, dataset, **kwargs))
