"""Which captions of a training batch go through the text encoder, and where their features go back.

One text-encoder pass serves the B captions and their hard negatives. In loss mode ``ahnpl`` only
the valid negatives (mask 1) are encoded: an invalid one never reaches any loss term, so encoding
it is wasted compute (about half of the negatives are invalid on COCO captions). In mode
``reference`` all B*K are encoded, placeholders (``contract.INVALID``) included, as the released code did: there
the invalid ones do enter the loss. Pure Python + torch.
"""

from __future__ import annotations

import torch

def texts_to_encode(
    captions: list[str], negatives: list[list[str]], mask: torch.Tensor, encode_invalid: bool
) -> tuple[list[str], torch.Tensor]:
    """The texts of the batch's single text-encoder pass and which negatives they include.

    Returns ``(texts, encoded)``: ``texts`` = the B captions, then the encoded negatives in
    sample-major order (sample i's types in order, then sample i+1's); ``encoded`` [B, K] bool
    marks which negatives are in ``texts`` (= ``mask``, or all when ``encode_invalid``).
    """
    encoded = torch.ones_like(mask, dtype=torch.bool) if encode_invalid else mask.to(torch.bool)
    flat = [text for row in negatives for text in row]
    chosen = encoded.reshape(-1).tolist()
    return list(captions) + [text for text, keep in zip(flat, chosen) if keep], encoded


def scatter_negatives(features: torch.Tensor, encoded: torch.Tensor) -> torch.Tensor:
    """[B, K, D] tensor with ``features`` [M, D] (M = encoded.sum(), sample-major) at the
    ``encoded`` positions and zeros elsewhere; differentiable with respect to ``features``.
    ``encoded`` may stay on the CPU (its index goes to the GPU asynchronously)."""
    batch, types = encoded.shape
    if features.shape[0] != int(encoded.sum()):
        raise ValueError(f"{features.shape[0]} negative features for {int(encoded.sum())} encoded negatives")
    positions = encoded.reshape(-1).nonzero().squeeze(1).to(features.device, non_blocking=True)
    flat = features.new_zeros((batch * types, features.shape[1])).index_copy(0, positions, features)
    return flat.reshape(batch, types, features.shape[1])
