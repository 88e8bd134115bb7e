"""Zero-shot and retrieval scores through the compositional tasks' feature cache (task ahnpl_suite).

:class:`ImagesView` presents any image dataset whose items are ``{"image": tensor, ...}`` (a
zero-shot set, LAVIS's retrieval eval dataset) as :func:`~ahnpl_plugin.tasks.choice_features.encode_dataset`
takes them, with each image's file (path, tar/zip member) as its identity, so an image is encoded
once per model whichever benchmarks, sets or retrieval splits name it (key: file, crop box,
preprocessing). Prompts and retrieval captions go through the same text cache.

* :func:`cached_set_logits`: a zero-shot set's [N, C] logits (classifier from its prompts);
* :func:`retrieval_scores`: ``{"itc": (i2t, t2i)}`` and, for models with an ITM head,
  ``"itc+itm"``: LAVIS's BLIP retrieval score (cosine + ITM match logit) on each image's top-k
  captions and each caption's top-k images by ITC, -100 elsewhere; every distinct (image, caption)
  pair of the two re-rankings is scored once.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch.utils.data import Dataset

from ahnpl_plugin.datasets.choice_eval import ChoiceEvalDataset
from ahnpl_plugin.errors import UserError
from ahnpl_plugin.tasks.choice_features import (
    FeatureCache,
    encode_dataset,
    encode_pair_logits,
    encode_texts,
    pair_cosines,
)

UNSCORED = -100.0  # LAVIS's score of the pairs outside the re-ranked top k
IMAGE_ERRORS = (OSError, SyntaxError, ValueError)  # what PIL raises on unreadable files


class ImagesView(Dataset):
    """``base``'s images as a choice dataset: ``images`` (their files), ``captions``,
    ``vis_processor``, items ``{"image", "image_index"}`` (or the one-line error of an unreadable
    image, raised in the main process)."""

    collater = ChoiceEvalDataset.collater

    def __init__(self, base, images, captions=()):
        self.base = base
        self.images = list(images)
        self.captions = list(captions)
        self.vis_processor = base.vis_processor

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict:
        try:
            sample = self.base[index]
        except UserError as exc:
            return {"error": str(exc), "image_index": index}
        except IMAGE_ERRORS as exc:
            return {"error": f"{getattr(self.images[index], 'path', self.images[index])}: unreadable image "
                             f"({type(exc).__name__}: {exc})", "image_index": index}
        return {"image": sample["image"], "image_index": index}


def retrieval_view(dataset) -> ImagesView:
    """LAVIS's ``RetrievalEvalDataset`` (``image`` paths under ``vis_root``, ``text``) as a view."""
    files = [os.path.normpath(os.path.join(str(dataset.vis_root), str(p))) for p in dataset.image]
    return ImagesView(dataset, files, dataset.text)


@torch.no_grad()
def cached_set_logits(encoder, part, cache: FeatureCache, *, fingerprint, batch_size: int, text_batch_size: int,
                      num_workers: int, progress: bool) -> np.ndarray:
    """[N, C] zero-shot logits of a :class:`~ahnpl_plugin.zeroshot.evaluate.ZeroShotImages` set,
    image features and prompt features from ``cache`` where present."""
    from ahnpl_plugin.zeroshot.classifier import zero_shot_logits, zero_shot_weights

    view = ImagesView(part, part.set.images)
    image_feats, _ = encode_dataset(encoder, view, cache, fingerprint=fingerprint, batch_size=batch_size,
                                    text_batch_size=text_batch_size, num_workers=num_workers, progress=progress,
                                    label=part.dataset_name)

    def encode_prompts(texts):
        return encode_texts(encoder, texts, cache, text_batch_size=text_batch_size, progress=progress,
                            label=part.dataset_name)

    weights = zero_shot_weights(encode_prompts, part.set.classnames, part.set.templates, text_batch_size)
    return zero_shot_logits(image_feats, weights).numpy()


def _top_k(sims: torch.Tensor, k_test: int) -> tuple[np.ndarray, np.ndarray]:
    """Each image's top-k captions [I, k] and each caption's top-k images [T, k'] by ITC."""
    n_images, n_texts = sims.shape
    top_i2t = sims.topk(min(int(k_test), n_texts), dim=1).indices.numpy()
    top_t2i = sims.t().topk(min(int(k_test), n_images), dim=1).indices.numpy()
    return top_i2t, top_t2i


def _pair_codes(top_i2t: np.ndarray, top_t2i: np.ndarray, n_texts: int) -> tuple[np.ndarray, np.ndarray]:
    """``image * n_texts + caption`` codes of the (image, caption) pairs of both re-rankings:
    ``(i2t codes [I, k], t2i codes [T, k'])``."""
    i2t = np.arange(len(top_i2t), dtype=np.int64)[:, None] * n_texts + top_i2t
    t2i = top_t2i.astype(np.int64) * n_texts + np.arange(len(top_t2i), dtype=np.int64)[:, None]
    return i2t, t2i


@torch.no_grad()
def retrieval_scores(encoder, dataset, cache: FeatureCache, *, fingerprint, k_test: int, batch_size: int,
                     text_batch_size: int, num_workers: int, progress: bool, label: str = "") -> dict:
    """``{"itc": (i2t [I, T], t2i [T, I])[, "itc+itm": (...)]}`` numpy score matrices of a
    retrieval dataset (module docstring); ``itc+itm`` only for encoders with an ITM head and
    ``k_test > 0``."""
    from ahnpl_plugin.models.blip.scoring import combine

    view = retrieval_view(dataset)
    image_feats, text_feats = encode_dataset(
        encoder, view, cache, fingerprint=fingerprint, batch_size=batch_size, text_batch_size=text_batch_size,
        num_workers=num_workers, progress=progress, label=label)
    sims = image_feats.float() @ text_feats.float().t()
    scores = {"itc": (sims.numpy(), sims.t().contiguous().numpy())}
    if "itc+itm" not in getattr(encoder, "scoring_modes", ()) or int(k_test) <= 0:
        return scores
    n_images, n_texts = sims.shape
    top_i2t, top_t2i = _top_k(sims, k_test)
    codes_i2t, codes_t2i = _pair_codes(top_i2t, top_t2i, n_texts)
    codes = np.unique(np.concatenate([codes_i2t.ravel(), codes_t2i.ravel()]))  # each distinct pair once
    images, captions = codes // n_texts, codes % n_texts
    logits = encode_pair_logits(encoder, view, cache, images, captions, fingerprint=fingerprint,
                                batch_size=batch_size, pair_batch_size=text_batch_size, num_workers=num_workers,
                                progress=progress, label=label)
    cosine = torch.from_numpy(pair_cosines(image_feats, text_feats, images, captions))
    values = combine("itc+itm", cosine, logits).numpy().astype(np.float32)
    # each direction re-scores only its own top k (LAVIS: the rest of the row is -100)
    i2t = np.full((n_images, n_texts), UNSCORED, dtype=np.float32)
    np.put_along_axis(i2t, top_i2t, values[np.searchsorted(codes, codes_i2t)], axis=1)
    t2i = np.full((n_texts, n_images), UNSCORED, dtype=np.float32)
    np.put_along_axis(t2i, top_t2i, values[np.searchsorted(codes, codes_t2i)], axis=1)
    scores["itc+itm"] = (i2t, t2i)
    return scores
