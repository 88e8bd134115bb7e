"""Which (caption, image) pairs BLIP's image-text matching (ITM) head sees in a training step.

BLIP's ITM (LAVIS ``BlipRetrieval.forward``) classifies B matching pairs and 2B non-matching
ones: for each caption an image, and for each image a caption, sampled from the batch with
probability softmax(ITC similarity), pairs of the same image excluded. AHNPL adds, for each image,
up to N of its own valid hard negative captions as further non-matching pairs
(``itm_hard_negatives: N``), sampled without replacement with the same rule (probability
proportional to softmax of the image's ITC similarity to each of them; Gumbel top-k), so the
harder negatives come more often; an image with fewer than N valid negatives gives all it has.

Everything here works on indices: texts are rows of the step's token table (the B captions, then
the encoded hard negatives in sample-major order, as ``negative_batch.texts_to_encode`` lays them
out) and images are rows of the batch's image embeddings. The model gathers those rows and runs
one cross-attention pass. Pure torch (no LAVIS).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class ItmPairs:
    """The ITM rows of a step: pair r = (token row ``text_rows[r]``, image ``image_rows[r]``).

    Layout: B positives (label 1), then the sampled negatives (label 0: one image per caption,
    then one caption per image, rows without any candidate left out), then the hard negatives
    (label 0). ``counts`` = {"positive", "sampled", "hard"}.
    """

    text_rows: torch.Tensor
    image_rows: torch.Tensor
    labels: torch.Tensor
    counts: dict


def _sample_rows(weights: torch.Tensor) -> torch.Tensor:
    """One column per row drawn from ``weights`` (non-negative) [R, C]; -1 for an all-zero row."""
    has_candidate = weights.sum(dim=1) > 0
    choice = torch.full((weights.shape[0],), -1, dtype=torch.long, device=weights.device)
    if bool(has_candidate.any()):
        choice[has_candidate] = torch.multinomial(weights[has_candidate], 1).squeeze(1)
    return choice


@torch.no_grad()
def sample_batch_negatives(sim_i2t: torch.Tensor, same_image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """BLIP's in-batch ITM negatives: ``(caption_for_image [B], image_for_caption [B])``.

    ``sim_i2t`` [B, B]: ITC logits image i x caption j; ``same_image`` [B, B] bool (i, j show the
    same image; the diagonal is True). Caption j is drawn for image i with probability
    softmax_j(sim_i2t[i]) over the other images' captions, and image i for caption j likewise
    from softmax_i(sim_i2t[:, j]). -1 where a row has no candidate (B = 1, or one image only).
    """
    weights_i2t = F.softmax(sim_i2t.float(), dim=1).masked_fill(same_image, 0)
    weights_t2i = F.softmax(sim_i2t.float().t(), dim=1).masked_fill(same_image.t(), 0)
    return _sample_rows(weights_i2t), _sample_rows(weights_t2i)


@torch.no_grad()
def sample_hard_negatives(negative_logits: torch.Tensor, mask: torch.Tensor, per_image: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Up to ``per_image`` valid hard negatives per image, sampled without replacement.

    ``negative_logits`` [B, K]: ITC logits of image i with its own negative k; ``mask`` [B, K] bool.
    Returns ``(images [M], types [M])``: image i and type k of each chosen negative, image-major,
    each image's picks in the order drawn. Probability ~ softmax over the image's valid negatives
    (Gumbel top-k).
    """
    batch, types = negative_logits.shape
    if per_image <= 0 or types == 0:
        empty = torch.zeros(0, dtype=torch.long, device=negative_logits.device)
        return empty, empty
    uniform = torch.rand(negative_logits.shape, device=negative_logits.device).clamp_(min=1e-20)
    keys = (negative_logits.float() - torch.log(-torch.log(uniform))).masked_fill(~mask, float("-inf"))
    order = keys.argsort(dim=1, descending=True)[:, : min(per_image, types)]
    chosen = torch.gather(keys, 1, order) > float("-inf")
    images = torch.arange(batch, device=keys.device).unsqueeze(1).expand_as(order)
    return images[chosen], order[chosen]


def negative_token_rows(encoded: torch.Tensor) -> torch.Tensor:
    """[B, K] token-table row of each encoded negative (B + its rank in sample-major order); -1
    where a negative was not encoded."""
    batch = encoded.shape[0]
    flat = encoded.reshape(-1).to(torch.long)
    rows = batch + torch.cumsum(flat, dim=0) - 1
    return torch.where(flat.bool(), rows, torch.full_like(rows, -1)).reshape(encoded.shape)


def itm_pairs(
    batch: int,
    caption_for_image: torch.Tensor,
    image_for_caption: torch.Tensor,
    hard_images: torch.Tensor,
    hard_text_rows: torch.Tensor,
) -> ItmPairs:
    """Assemble the step's ITM pairs (layout in :class:`ItmPairs`) from the sampled indices."""
    device = caption_for_image.device
    own = torch.arange(batch, device=device)
    caption_has = image_for_caption >= 0  # caption j with another image
    image_has = caption_for_image >= 0  # image i with another caption
    text_rows = torch.cat([own, own[caption_has], caption_for_image[image_has], hard_text_rows.to(device)])
    image_rows = torch.cat([own, image_for_caption[caption_has], own[image_has], hard_images.to(device)])
    sampled = int(caption_has.sum()) + int(image_has.sum())
    hard = int(hard_images.numel())
    labels = torch.cat([torch.ones(batch, dtype=torch.long, device=device),
                        torch.zeros(sampled + hard, dtype=torch.long, device=device)])
    return ItmPairs(text_rows, image_rows, labels, {"positive": batch, "sampled": sampled, "hard": hard})
