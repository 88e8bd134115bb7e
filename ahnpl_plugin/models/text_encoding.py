"""CLIP text encoding at the batch's real length (pure torch; works on LAVIS's/open_clip's CLIP).

CLIP's text transformer is causal and pools the end-of-text (EOT) position, which LAVIS and
open_clip find as ``argmax`` of the token ids (EOT is the largest id). Position ``i`` attends only
to positions ``<= i``, so every position after the last EOT of the batch is dead weight: running
the transformer on ``tokens[:, :L]`` with ``positional_embedding[:L]`` and the top-left ``L x L``
corner of the causal mask, ``L = max(argmax) + 1``, gives the same features as the full
77-token path (exactly in real arithmetic; to float rounding in practice). Captions are ~10-15
tokens, so this is ~5x less text compute than the padded path.

Length is taken from the argmax, not from the count of non-zero ids: id 0 is a real BPE token ("!").
"""

from __future__ import annotations

import torch
from torch import nn


def pooled_positions(tokens: torch.Tensor) -> torch.Tensor:
    """Index [N] of the position CLIP pools for each row (its EOT: the largest id, first if tied)."""
    return tokens.argmax(dim=-1)


def trim_to_longest(tokens: torch.Tensor) -> torch.Tensor:
    """``tokens[:, :L]`` with ``L`` = last pooled position of the batch + 1 (at least 1)."""
    if tokens.dim() != 2:
        raise ValueError(f"tokens must have shape [N, context_length], got {tuple(tokens.shape)}")
    if tokens.shape[0] == 0:
        return tokens[:, :1]
    length = int(pooled_positions(tokens).max()) + 1
    return tokens[:, :length]


def encode_tokens(clip: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """Text features [N, D] (projected, not normalised) of ``tokens`` [N, L], any ``L <= context``.

    ``clip`` is a LAVIS/open_clip ``CLIP`` (needs ``token_embedding``, ``positional_embedding``,
    ``transformer``, ``attn_mask``, ``ln_final``, ``text_projection``). With ``L`` = the model's
    context length this is exactly ``clip.encode_text(tokens)``; with a trimmed batch (see
    :func:`trim_to_longest`) it is the same result computed on fewer positions.
    """
    length = tokens.shape[1]
    context = clip.positional_embedding.shape[0]
    if length > context:
        raise ValueError(f"tokens have {length} positions, more than the model's context length {context}")
    x = clip.token_embedding(tokens) + clip.positional_embedding[:length]
    x = x.permute(1, 0, 2)  # NLD -> LND, the layout of LAVIS's Transformer
    x = clip.transformer(x, attn_mask=clip.attn_mask[:length, :length])
    x = x.permute(1, 0, 2)
    x = clip.ln_final(x)
    pooled = x[torch.arange(x.shape[0], device=x.device), pooled_positions(tokens)]
    return pooled @ clip.text_projection
