"""CLIP BPE tokenisation with a per-caption cache; LAVIS's BPE ids, open_clip's truncation.

LAVIS's tokenizer spends most of its time in Python (ftfy text repair, regex, byte mapping: ~0.1-0.15
ms per caption on one core). Captions that repeat within the cache's reach (the synthetic world,
benchmarks, small datasets over several epochs) are tokenised once; truncation to the context
length happens after the cache. A large dataset does not repeat within the cache (COCO: 2.5M
texts per epoch), so its loader should tokenise in its workers with :func:`batch_token_ids`.

Truncation: a caption longer than the context keeps its first ``context_length - 1`` ids and ends
in ``<end_of_text>``, as open_clip's tokenizer does. LAVIS 1.0.2's ``tokenize`` cuts the row
without it; CLIP pools the position of the largest id (the EOT), so such a row is pooled at
whichever BPE id happens to be largest, and unrelated long captions can get nearly the same
feature. Captions that fit get exactly LAVIS's ids.
"""

from __future__ import annotations

from functools import lru_cache

import torch

CACHE_SIZE = 1 << 17  # captions (~40 MB at COCO caption lengths)


@lru_cache(maxsize=CACHE_SIZE)
def caption_ids(text: str) -> tuple[int, ...]:
    """``<start_of_text>`` + BPE ids of ``text`` + ``<end_of_text>`` (LAVIS's SimpleTokenizer)."""
    from lavis.models.clip_models.tokenizer import _tokenizer

    return (_tokenizer.encoder["<start_of_text>"], *_tokenizer.encode(text), _tokenizer.encoder["<end_of_text>"])


def fit_to_context(ids: tuple[int, ...], context_length: int) -> tuple[int, ...]:
    """``ids`` cut to ``context_length``, keeping their last id (the EOT) at the end when cut."""
    if len(ids) <= context_length:
        return ids
    if context_length < 2:
        raise ValueError(f"context_length must be at least 2 (start and end tokens), got {context_length}")
    return (*ids[: context_length - 1], ids[-1])


def cut_token_rows(tokens: torch.Tensor, context_length: int) -> torch.Tensor:
    """Token id rows [..., C] (C >= ``context_length``) cut to ``context_length`` as :func:`tokenize` cuts.

    A row whose EOT (its largest id, as CLIP pools it) lies beyond the cut gets it at the last
    position; the others are cut unchanged (only padding goes).
    """
    if tokens.shape[-1] <= context_length:
        return tokens
    eot_position = tokens.argmax(dim=-1)
    cut = tokens[..., :context_length].clone()
    overflow = eot_position >= context_length
    if bool(overflow.any()):
        cut[..., -1] = torch.where(overflow, tokens.gather(-1, eot_position.unsqueeze(-1)).squeeze(-1), cut[..., -1])
    return cut


def tokenize(texts: list[str], context_length: int) -> torch.Tensor:
    """Token ids [N, context_length] (0-padded; longer captions end in EOT, see the module docstring).

    Built with one tensor fill rather than one small tensor per row (~5x faster for the ~1,500
    captions of a 256-pair AHNPL step).
    """
    rows = [fit_to_context(caption_ids(text), context_length) for text in texts]
    out = torch.zeros(len(rows), context_length, dtype=torch.long)
    if rows:
        lengths = torch.tensor([len(row) for row in rows], dtype=torch.long)
        filled = torch.arange(context_length) < lengths.unsqueeze(1)  # row-major, as the flat ids
        out[filled] = torch.tensor([i for row in rows for i in row], dtype=torch.long)
    return out


def batch_token_ids(captions: list[str], hard_negatives: list[list[str]] | None = None, context_length: int = 77) -> dict:
    """``{"text_tokens": [B, C], "hard_negative_tokens": [B, K, C]}`` for a training batch.

    For a loader's collater: run in its worker processes, this takes the tokenizer (~0.1 ms per
    text, ~150 ms for the ~1,500 texts of a 256-pair step on one core) off the training process,
    which otherwise pays it for every caption the cache has not seen (all of them in a COCO epoch:
    2.5M texts against a 131k-entry cache). ``ahnpl_clip`` uses these keys when present and cuts
    them to its own context (ids identical to tokenising at that length). Invalid negatives
    ("###") are tokenised too (cheap; mode ``reference`` encodes them).
    """
    out = {"text_tokens": tokenize(list(captions), context_length)}
    if hard_negatives is not None:
        widths = {len(row) for row in hard_negatives}
        if len(widths) > 1:
            raise ValueError(f"hard_negatives rows must all hold K negatives, got lengths {sorted(widths)}")
        flat = [text for row in hard_negatives for text in row]
        types = widths.pop() if widths else 0
        out["hard_negative_tokens"] = tokenize(flat, context_length).reshape(len(hard_negatives), types, context_length)
    return out
