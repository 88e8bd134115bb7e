"""Encode each distinct image and caption of a choice-eval dataset once; per-item similarities.

A caption-choice benchmark reuses images heavily (ARO crops share photos, SugarCrepe has several
captions per COCO image, Winoground's captions recur) and the same caption can appear in several
items. :class:`FeatureCache` keeps the features of every image (keyed by path, crop box and the
preprocessing) and caption (keyed by its text) encoded under the current weights, so a run encodes
each once, across the splits and benchmarks it evaluates; any change of the weights (an optimiser
step, a loaded checkpoint, another model) empties it.

:func:`encode_dataset` fills the cache for a
:class:`~ahnpl_plugin.datasets.choice_eval.ChoiceEvalDataset` (images through a batched DataLoader,
captions in batches, progress bars) and returns its feature matrices; :func:`item_similarities`
turns them into the per-item ``[n_images, n_captions]`` arrays the scorers take, computing only
the (image, caption) pairs items use, never the (possibly huge, e.g. 23k x 47k for ARO VG-R)
all-images x all-captions matrix. torch and numpy only: no LAVIS.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

SIMILARITY_CHUNK = 16384  # (image, caption) pairs per product (bounds peak memory)


def image_identity(ref):
    """Hashable identity of an image reference: ``(path, crop box or None)``, the same for a plain
    path and an uncropped ImageRef of that file (benchmarks, zero-shot sets and retrieval share it)."""
    if isinstance(ref, (str, os.PathLike)):
        return (str(ref), None)
    box = getattr(ref, "box", None)
    return (str(getattr(ref, "path", ref)), tuple(box) if box is not None else None)


def processor_identity(processor):
    """What makes two image processors give the same tensors: their transform's description
    (torchvision transforms print their sizes and normalisation), else the object itself."""
    transform = getattr(processor, "transform", None)
    if transform is not None and type(transform).__repr__ is not object.__repr__:
        return (type(processor).__qualname__, repr(transform))
    return ("object", id(processor))


def weights_fingerprint(model) -> tuple:
    """Changes whenever the model's weights may have: another model object, a parameter or buffer
    modified in place (optimiser step, ``load_state_dict``: torch bumps the tensor's version
    counter), moved (new storage), or a train/eval switch."""
    tensors = list(model.parameters()) + list(model.buffers())
    return (id(model), bool(model.training)) + tuple((t.data_ptr(), t._version) for t in tensors)


class FeatureCache:
    """Image and caption features under one set of weights (CPU float32 rows)."""

    def __init__(self):
        self.fingerprint = None
        self.images: dict = {}
        self.texts: dict[str, torch.Tensor] = {}
        self.pair_logits: dict = {}  # (image key, caption) -> ITM logits [2]
        self.encoded_images = 0  # how many image / caption encodings were computed (for reports)
        self.encoded_texts = 0
        self.scored_pairs = 0

    def bind(self, fingerprint) -> None:
        """Use the cache for weights ``fingerprint``: forget everything if they changed."""
        if fingerprint != self.fingerprint:
            self.images.clear()
            self.texts.clear()
            self.pair_logits.clear()
            self.fingerprint = fingerprint

    def clear(self) -> None:
        self.images.clear()
        self.texts.clear()
        self.pair_logits.clear()
        self.fingerprint = None


def _raise_unreadable(batch) -> None:
    """A batch that carries a worker's unreadable-image message raises it here, in the main
    process, as one line (``ChoiceEvalDataset`` collaters; other datasets never set it)."""
    if isinstance(batch, dict) and batch.get("error"):
        from ahnpl_plugin.datasets.choice_eval import raise_unreadable

        raise_unreadable(batch)


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled or total == 0, leave=False,
                dynamic_ncols=True, unit="img" if "image" in desc else "txt")


@torch.no_grad()
def encode_dataset(encoder, dataset, cache: FeatureCache, *, fingerprint, batch_size: int = 64,
                   text_batch_size: int = 256, num_workers: int = 0, progress: bool = True,
                   label: str = "") -> tuple[torch.Tensor, torch.Tensor]:
    """Features ``[len(dataset.images), D]`` and ``[len(dataset.captions), D]`` of a choice dataset.

    Only what ``cache`` lacks is encoded: the missing images through a DataLoader over the dataset
    (its ``collater``, ``batch_size``, ``num_workers``), the missing captions in batches of
    ``text_batch_size``. ``encoder`` is a :func:`ahnpl_plugin.model_adapters.choice_encoder`.
    """
    cache.bind(fingerprint)
    prefix = f"{label}: " if label else ""
    proc = processor_identity(dataset.vis_processor)
    image_keys = [(image_identity(ref), proc) for ref in dataset.images]
    todo = [i for i, key in enumerate(image_keys) if key not in cache.images]
    if todo:
        loader = DataLoader(
            Subset(dataset, todo), batch_size=max(1, int(batch_size)), shuffle=False,
            num_workers=int(num_workers), collate_fn=getattr(dataset, "collater", None),
            pin_memory=encoder.device.type == "cuda",
        )
        with _progress(len(todo), prefix + "encoding images", progress) as bar:
            for batch in loader:
                _raise_unreadable(batch)
                feats = encoder.encode_image(batch["image"]).float().cpu()
                for index, row in zip(batch["image_index"].tolist(), feats):
                    cache.images[image_keys[index]] = row
                cache.encoded_images += len(feats)
                bar.update(len(feats))
    image_feats = torch.stack([cache.images[k] for k in image_keys]) if image_keys else torch.zeros(0, 0)
    text_feats = encode_texts(encoder, dataset.captions, cache, text_batch_size=text_batch_size,
                              progress=progress, label=label)
    return image_feats, text_feats


@torch.no_grad()
def encode_texts(encoder, texts: Sequence[str], cache: FeatureCache, *, text_batch_size: int = 256,
                 progress: bool = True, label: str = "") -> torch.Tensor:
    """Features ``[len(texts), D]``, encoding (in batches) only the texts ``cache`` lacks; the
    cache must already be bound to the weights (:meth:`FeatureCache.bind`)."""
    texts = list(texts)
    missing = list(dict.fromkeys(c for c in texts if c not in cache.texts))
    if missing:
        with _progress(len(missing), (f"{label}: " if label else "") + "encoding captions", progress) as bar:
            for start in range(0, len(missing), max(1, int(text_batch_size))):
                chunk = missing[start:start + text_batch_size]
                feats = encoder.encode_text(chunk).float().cpu()
                cache.texts.update(zip(chunk, feats))
                cache.encoded_texts += len(chunk)
                bar.update(len(chunk))
    return torch.stack([cache.texts[c] for c in texts]) if texts else torch.zeros(0, 0)


def _distinct_pairs(item_images, item_captions, n_captions: int):
    """``(pairs, inverse, shapes)``: the distinct (image, caption) codes ``image * n_captions +
    caption`` the items use, each item position's index into them, and each item's shape."""
    if len(item_images) != len(item_captions):
        raise ValueError(f"{len(item_images)} image index lists but {len(item_captions)} caption ones")
    shapes = [(len(ii), len(cc)) for ii, cc in zip(item_images, item_captions)]
    codes = np.concatenate([
        (np.asarray(ii, dtype=np.int64)[:, None] * n_captions
         + np.asarray(cc, dtype=np.int64)[None, :]).ravel()
        for ii, cc in zip(item_images, item_captions)
    ] or [np.zeros(0, dtype=np.int64)])
    pairs, inverse = np.unique(codes, return_inverse=True)
    return pairs, inverse.reshape(-1), shapes


def item_pair_scores(item_images: Sequence[Sequence[int]], item_captions: Sequence[Sequence[int]],
                     n_captions: int, pair_values) -> list[np.ndarray]:
    """Per item ``i``: the ``[len(item_images[i]), len(item_captions[i])]`` array of pair scores.

    ``pair_values(image_index, caption_index)`` (int64 numpy arrays of the distinct pairs) returns
    their float scores. Each distinct pair is computed once and shared by every item and position
    that uses it, so the same caption offered twice (or the same image twice) ties exactly; the
    benchmarks count ties as wrong.
    """
    n_captions = max(int(n_captions), 1)
    pairs, inverse, shapes = _distinct_pairs(item_images, item_captions, n_captions)
    values = np.asarray(pair_values(pairs // n_captions, pairs % n_captions), dtype=np.float32).reshape(-1)
    if values.shape[0] != len(pairs):
        raise ValueError(f"pair_values gave {values.shape[0]} scores for {len(pairs)} pairs")
    out, offset = [], 0
    for n_img, n_cap in shapes:
        out.append(values[inverse[offset:offset + n_img * n_cap]].reshape(n_img, n_cap))
        offset += n_img * n_cap
    return out


def pair_cosines(image_feats: torch.Tensor, text_feats: torch.Tensor, image_index, caption_index) -> np.ndarray:
    """``image_feats[i] . text_feats[c]`` for each pair (chunked to bound memory), float32 numpy."""
    image_index = torch.as_tensor(np.asarray(image_index, dtype=np.int64))
    caption_index = torch.as_tensor(np.asarray(caption_index, dtype=np.int64))
    values = np.empty(len(image_index), dtype=np.float32)
    for start in range(0, len(image_index), SIMILARITY_CHUNK):
        rows = image_feats[image_index[start:start + SIMILARITY_CHUNK]]
        cols = text_feats[caption_index[start:start + SIMILARITY_CHUNK]]
        values[start:start + len(rows)] = (rows * cols).sum(dim=-1).numpy()
    return values


def item_similarities(item_images: Sequence[Sequence[int]], item_captions: Sequence[Sequence[int]],
                      image_feats: torch.Tensor, text_feats: torch.Tensor) -> list[np.ndarray]:
    """Per item ``i``: ``image_feats[item_images[i]] @ text_feats[item_captions[i]].T`` (numpy).

    Each distinct (image, caption) pair is computed once (see :func:`item_pair_scores`); a matrix
    product could round two identical columns differently and break a tie.
    """
    return item_pair_scores(
        item_images, item_captions, int(text_feats.shape[0]),
        lambda images, captions: pair_cosines(image_feats, text_feats, images, captions),
    )


@torch.no_grad()
def encode_pair_logits(scorer, dataset, cache: FeatureCache, image_index, caption_index, *, fingerprint,
                       batch_size: int = 64, pair_batch_size: int = 256, num_workers: int = 0,
                       progress: bool = True, label: str = "") -> torch.Tensor:
    """ITM logits [P, 2] of the pairs (``dataset.images[image_index[p]]``, ``dataset.captions[
    caption_index[p]]``), from ``cache`` where present.

    The images with unscored pairs go through a DataLoader over the dataset (``batch_size``,
    ``num_workers``, its ``collater``) once each; ``scorer.image_embeds`` gives their token
    embeddings and ``scorer.itm_logits`` scores their pairs ``pair_batch_size`` at a time. The
    images' ITC features (``scorer.features_from_embeds``) go into the cache on the way, so a
    later :func:`encode_dataset` does not run the image encoder on them again.
    """
    cache.bind(fingerprint)
    prefix = f"{label}: " if label else ""
    proc = processor_identity(dataset.vis_processor)
    image_keys = [(image_identity(ref), proc) for ref in dataset.images]
    captions = list(dataset.captions)
    keys = [(image_keys[int(i)], captions[int(c)]) for i, c in zip(image_index, caption_index)]
    wanted: dict[int, dict[str, None]] = {}  # image index -> its unscored captions (ordered set)
    for (key, i, c) in zip(keys, image_index, caption_index):
        if key not in cache.pair_logits:
            wanted.setdefault(int(i), {})[captions[int(c)]] = None
    if wanted:
        todo = sorted(wanted)
        loader = DataLoader(
            Subset(dataset, todo), batch_size=max(1, int(batch_size)), shuffle=False,
            num_workers=int(num_workers), collate_fn=getattr(dataset, "collater", None),
            pin_memory=scorer.device.type == "cuda",
        )
        total = sum(len(v) for v in wanted.values())
        step = max(1, int(pair_batch_size))
        with _progress(total, prefix + "scoring image-text pairs", progress) as bar:
            for batch in loader:
                _raise_unreadable(batch)
                embeds = scorer.image_embeds(batch["image"])
                feats = scorer.features_from_embeds(embeds).float().cpu()
                for index, row in zip(batch["image_index"].tolist(), feats):
                    cache.images.setdefault(image_keys[index], row)
                rows = [(row, text) for row, index in enumerate(batch["image_index"].tolist())
                        for text in wanted[index]]
                owners = batch["image_index"].tolist()
                for start in range(0, len(rows), step):
                    chunk = rows[start:start + step]
                    picked = torch.tensor([row for row, _ in chunk], device=embeds.device)
                    logits = scorer.itm_logits(embeds[picked], [text for _, text in chunk]).float().cpu()
                    for (row, text), value in zip(chunk, logits):
                        cache.pair_logits[(image_keys[owners[row]], text)] = value
                    cache.scored_pairs += len(chunk)
                    bar.update(len(chunk))
                cache.encoded_images += len(owners)
    if not keys:
        return torch.zeros((0, 2))
    return torch.stack([cache.pair_logits[key] for key in keys])
