"""Which captions of a training batch go through the text encoder, and where their features go back.

One text-encoder pass serves the B captions and their hard negatives. In loss mode ``ahnpl`` only
the valid negatives (mask 1) are encoded: an invalid one never reaches any loss term, so encoding
it is wasted compute (about half of the negatives are invalid on COCO captions). In mode
``reference`` all B*K are encoded, placeholders ("###") included, as the released code did: there
the invalid ones do enter the loss. Pure Python + torch.
"""

from __future__ import annotations

import torch

INVALID = "###"  # the contract's placeholder for a negative the generator could not make


def validated_negatives(
    captions: list[str], negatives, mask, num_types: int
) -> tuple[list[list[str]], torch.Tensor]:
    """Check the ``hard_negatives`` / ``hard_negative_mask`` pair of a batch; return them typed.

    ``negatives``: B lists of ``num_types`` strings; ``mask``: [B, K] bool or 0/1 tensor (or nested
    lists). A valid entry (mask 1) must be a real caption, not the placeholder. Raises ValueError
    naming the offending key and index.
    """
    batch = len(captions)
    if not isinstance(negatives, (list, tuple)) or len(negatives) != batch:
        got = len(negatives) if isinstance(negatives, (list, tuple)) else type(negatives).__name__
        raise ValueError(f"samples['hard_negatives'] must be a list of B={batch} lists, got {got}")
    rows = []
    for i, row in enumerate(negatives):
        if not isinstance(row, (list, tuple)) or len(row) != num_types:
            got = len(row) if isinstance(row, (list, tuple)) else type(row).__name__
            raise ValueError(
                f"samples['hard_negatives'][{i}] must hold K={num_types} captions (one per model.loss."
                f"negative_types), got {got}"
            )
        for k, text in enumerate(row):
            if not isinstance(text, str):
                raise ValueError(f"samples['hard_negatives'][{i}][{k}] must be a str, got {type(text).__name__}")
        rows.append(list(row))
    mask = torch.as_tensor(mask).cpu()  # planning the text pass is host work (one copy, not a sync per use)
    if tuple(mask.shape) != (batch, num_types):
        raise ValueError(f"samples['hard_negative_mask'] must have shape [B, K] = {(batch, num_types)}, got {tuple(mask.shape)}")
    if mask.dtype != torch.bool:
        if mask.is_floating_point() or bool(((mask != 0) & (mask != 1)).any()):
            raise ValueError("samples['hard_negative_mask'] must be bool or 0/1 integers")
        mask = mask != 0
    for i, k in mask.nonzero().tolist():
        if rows[i][k].strip() in ("", INVALID):
            raise ValueError(
                f"samples['hard_negatives'][{i}][{k}] is {rows[i][k]!r} but samples['hard_negative_mask'][{i}][{k}] is 1"
            )
    return rows, mask


def select_negative_types(negatives, mask, batch_types, wanted_types):
    """The columns of ``wanted_types`` (the loss's types) out of a batch carrying ``batch_types``.

    Datasets carry every negative type they have, named in ``samples["hard_negative_types"]``; the
    loss config decides which ones train. Raises ValueError naming a wanted type the data lacks.
    """
    batch_types = list(batch_types)
    missing = [t for t in wanted_types if t not in batch_types]
    if missing:
        raise ValueError(
            f"model.loss.negative_types asks for {missing} but the dataset provides only {batch_types}"
        )
    columns = [batch_types.index(t) for t in wanted_types]
    rows = [[row[c] for c in columns] for row in negatives]
    return rows, torch.as_tensor(mask)[:, columns]


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
