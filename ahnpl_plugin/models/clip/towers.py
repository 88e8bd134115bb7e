"""Fast, exact forward passes of LAVIS's CLIP towers (pure torch; LAVIS's/open_clip's 2022 CLIP).

Three savings, each giving the same features as LAVIS's own ``encode_text``/``encode_image`` (to
float rounding; the tests hold them to 1e-5 in float32):

1. Text at the real length. CLIP's text transformer is causal and pools the end-of-text (EOT)
   position, which LAVIS and open_clip find as ``argmax`` of the token ids (EOT is the largest id).
   Position ``i`` attends only to positions ``<= i``, so every position after the last EOT of the
   batch is dead weight: running the transformer on ``tokens[:, :L]`` with
   ``positional_embedding[:L]`` and the top-left ``L x L`` corner of the causal mask,
   ``L = max(argmax) + 1``, gives the same features as the full 77-token path. Length is taken
   from the argmax, not from the count of non-zero ids: id 0 is a real BPE token ("!").
2. Length buckets. Rows never interact in the text transformer, so the N captions of a step can be
   sorted by length and run in a few chunks, each cut to its own longest row. COCO captions are
   ~14 tokens with a tail to 40+, and one long caption among the ~1,500 texts of a 256-pair AHNPL
   step would otherwise set the length of all of them (:func:`length_chunks` plans the chunks).
3. SDPA blocks. LAVIS's ``ResidualAttentionBlock`` runs ``nn.MultiheadAttention`` sequence-first.
   Its ``need_weights=False`` path does reach ``F.scaled_dot_product_attention``, but the text
   tower hands it the additive float causal mask, which rules out the flash kernel on GPUs, and
   each call pays MultiheadAttention's Python checks and layout shuffles. :func:`sdpa_block` runs
   the same weights (``in_proj_weight``/``in_proj_bias``, ``out_proj``, ``ln_1``, ``mlp``,
   ``ln_2``) batch-first with ``is_causal=True`` (text) or no mask (image).

:class:`TextEncoder` bundles a CLIP with these options (a model's settings; it is not a module and
holds no weights of its own). :func:`encode_tokens` accepts either that or a bare CLIP (then the
tokens run as given, through LAVIS's own blocks).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import nn

TEXT_LENGTHS = ("buckets", "longest", "full")
MAX_CHUNKS = 4
# A chunk's fixed cost in token-equivalents (kernel launches, small-GEMM inefficiency): a chunk is
# split off only when it saves more padded positions than this. Rough figures: a ViT-B/32 text
# block chain is ~500 kernel launches forward+backward, ~1 ms on a GPU, the time of ~2,000 tokens.
CHUNK_OVERHEAD_TOKENS = {"cuda": 2048, "cpu": 256}


# ----------------------------------------------------------------------------- lengths


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


def length_chunks(lengths: list[int], max_chunks: int = MAX_CHUNKS, overhead: int = 256) -> list[tuple[list[int], int]]:
    """Split rows into at most ``max_chunks`` groups of similar length: ``[(row indices, length)]``.

    ``lengths[i]`` = positions row ``i`` needs (pooled position + 1). Rows are sorted by length and
    cut into contiguous groups minimising ``sum(rows_g * longest_g) + overhead * groups`` (exact
    dynamic programme over the distinct lengths, vectorised: ~0.1 ms for a training step). Every
    row appears in exactly one group; groups come shortest first; inside a group rows are in
    ascending length, then index.
    """
    if not lengths:
        return []
    values = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(values, kind="stable")
    distinct, counts = np.unique(values, return_counts=True)
    rows_upto = np.cumsum(counts)  # rows with length <= distinct[j]
    n = len(distinct)
    groups_allowed = max(1, min(int(max_chunks), n))
    # best[j]: cheapest cover of distinct[0..j] by groups so far, the last group ending at j.
    best = rows_upto * distinct + float(overhead)
    costs, cuts = [best], []
    # span[i, j] = rows in (i, j] times distinct[j]; only i < j is a valid previous end.
    span = (rows_upto[None, :] - rows_upto[:, None]) * distinct[None, :]
    invalid = np.tril(np.ones((n, n), dtype=bool))  # i >= j
    for _ in range(1, groups_allowed):
        candidate = np.where(invalid, np.inf, costs[-1][:, None] + span + float(overhead))
        cuts.append(candidate.argmin(axis=0))
        costs.append(candidate.min(axis=0))
    finals = [float(c[-1]) for c in costs]
    groups = min(range(len(finals)), key=lambda c: (finals[c], c))
    ends, j = [n - 1], n - 1
    for c in range(groups, 0, -1):
        j = int(cuts[c - 1][j])
        ends.append(j)
    ends.reverse()
    out, start = [], 0
    for end in ends:
        stop = int(rows_upto[end])
        out.append((order[start:stop].tolist(), int(distinct[end])))
        start = stop
    return out


# ----------------------------------------------------------------------------- blocks


def sdpa_block(block: nn.Module, x: torch.Tensor, causal: bool) -> torch.Tensor:
    """One LAVIS ``ResidualAttentionBlock`` on batch-first ``x`` [N, L, E] through SDPA.

    Same weights and same arithmetic as the block's own forward (pre-norm attention + pre-norm MLP,
    residuals), with ``F.scaled_dot_product_attention(is_causal=causal)`` instead of
    ``nn.MultiheadAttention`` and its additive mask.
    """
    attn = block.attn
    batch, length, width = x.shape
    heads = attn.num_heads
    qkv = F.linear(block.ln_1(x), attn.in_proj_weight, attn.in_proj_bias)
    q, k, v = qkv.view(batch, length, 3, heads, width // heads).permute(2, 0, 3, 1, 4).unbind(0)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=causal)  # [N, H, L, E/H]
    y = y.transpose(1, 2).reshape(batch, length, width)
    x = x + F.linear(y, attn.out_proj.weight, attn.out_proj.bias)
    return x + block.mlp(block.ln_2(x))


def checkpointed(clip: nn.Module) -> bool:
    """Whether ``clip``'s towers run with activation checkpointing (``clip.grad_checkpointing``,
    set by ``AHNPLClip.set_grad_checkpointing``) in this forward: only when gradients are recorded."""
    return bool(getattr(clip, "grad_checkpointing", False)) and torch.is_grad_enabled()


def run_blocks(blocks, x: torch.Tensor, run_block: Callable, checkpoint: bool) -> torch.Tensor:
    """``x`` through ``blocks`` with ``run_block(block, x)``; with ``checkpoint`` each block's
    activations are dropped after the forward and recomputed in the backward (same values:
    the blocks are deterministic and have no dropout), keeping one [N, L, E] input per block."""
    for block in blocks:
        if checkpoint:
            x = torch.utils.checkpoint.checkpoint(run_block, block, x, use_reentrant=False)
        else:
            x = run_block(block, x)
    return x


def _causal_sdpa_block(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return sdpa_block(block, x, causal=True)


def _bidirectional_sdpa_block(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return sdpa_block(block, x, causal=False)


def _lavis_block(block: nn.Module, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
    """A LAVIS ``ResidualAttentionBlock`` on batch-first ``x`` (it runs sequence-first)."""
    return block(x.permute(1, 0, 2), attn_mask=attn_mask).permute(1, 0, 2)


def encode_chunk(clip: nn.Module, tokens: torch.Tensor, sdpa: bool) -> torch.Tensor:
    """Projected text features [N, D] of ``tokens`` [N, L] run at exactly ``L`` positions."""
    length = tokens.shape[1]
    context = clip.positional_embedding.shape[0]
    if length > context:
        raise ValueError(f"tokens have {length} positions, more than the model's context length {context}")
    x = clip.token_embedding(tokens) + clip.positional_embedding[:length]
    if sdpa:
        x = run_blocks(clip.transformer.resblocks, x, _causal_sdpa_block, checkpointed(clip))
    elif checkpointed(clip):
        mask = clip.attn_mask[:length, :length]
        x = run_blocks(clip.transformer.resblocks, x, functools.partial(_lavis_block, attn_mask=mask), True)
    else:
        x = x.permute(1, 0, 2)  # NLD -> LND, the layout of LAVIS's Transformer
        x = clip.transformer(x, attn_mask=clip.attn_mask[:length, :length])
        x = x.permute(1, 0, 2)
    x = clip.ln_final(x)
    pooled = x[torch.arange(x.shape[0], device=x.device), pooled_positions(tokens)]
    return pooled @ clip.text_projection


def _is_vision_transformer(visual: nn.Module) -> bool:
    return all(hasattr(visual, name) for name in ("conv1", "class_embedding", "positional_embedding", "ln_pre", "transformer", "ln_post", "proj"))


def _vision_transformer(visual: nn.Module, images: torch.Tensor, sdpa: bool = True, checkpoint: bool = False) -> torch.Tensor:
    """LAVIS's ``VisualTransformer.forward``, batch-first, with :func:`sdpa_block` (or LAVIS's
    blocks when not ``sdpa``), optionally checkpointed per block."""
    x = visual.conv1(images)  # [N, width, grid, grid]
    x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
    cls = visual.class_embedding.to(x.dtype) + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype, device=x.device)
    x = torch.cat([cls, x], dim=1) + visual.positional_embedding.to(x.dtype)
    x = visual.ln_pre(x)
    x = run_blocks(visual.transformer.resblocks, x, _bidirectional_sdpa_block if sdpa else _lavis_block, checkpoint)
    x = visual.ln_post(x[:, 0, :])
    return x @ visual.proj if visual.proj is not None else x


def encode_images(clip: nn.Module, images: torch.Tensor, sdpa: bool = True) -> torch.Tensor:
    """Image features [N, D] (projected, not normalised): ``clip.encode_image`` computed with
    :func:`sdpa_block` for a ViT tower when ``sdpa`` (the ResNet tower runs as LAVIS's)."""
    checkpoint = checkpointed(clip)
    if (sdpa or checkpoint) and _is_vision_transformer(clip.visual):
        return _vision_transformer(clip.visual, images, sdpa, checkpoint)
    return clip.encode_image(images)  # a ResNet tower is never checkpointed


# ----------------------------------------------------------------------------- text encoder


@dataclass
class TextEncoder:
    """How a model runs its CLIP's text tower: which length policy, which attention.

    ``length``: ``buckets`` (length chunks, :func:`length_chunks`), ``longest`` (the whole batch cut
    to its longest row) or ``full`` (the padded context, as LAVIS). ``sdpa``: :func:`sdpa_block`
    instead of LAVIS's blocks. ``max_chunks`` and ``chunk_overhead`` (token-equivalents; None = the
    device's entry of ``CHUNK_OVERHEAD_TOKENS``) steer :func:`length_chunks`. ``chunk_fn``: the
    function that encodes one chunk (``encode_chunk``, or a ``torch.compile`` of it).
    """

    clip: nn.Module
    length: str = "buckets"
    sdpa: bool = True
    max_chunks: int = MAX_CHUNKS
    chunk_overhead: int | None = None
    chunk_fn: Callable | None = None

    def __post_init__(self):
        if self.length not in TEXT_LENGTHS:
            raise ValueError(f"text length policy {self.length!r} is not valid; valid: {', '.join(TEXT_LENGTHS)}")

    def chunks(self, tokens: torch.Tensor) -> list[tuple[list[int] | None, int]]:
        """``[(row indices or None for all rows, length)]`` of one pass over ``tokens`` [N, C]."""
        if self.length == "full":
            return [(None, tokens.shape[1])]
        lengths = (pooled_positions(tokens.cpu()) + 1).tolist()
        if self.length == "longest":
            return [(None, max(lengths))]
        overhead = self.chunk_overhead
        if overhead is None:
            device_type = self.clip.positional_embedding.device.type
            overhead = CHUNK_OVERHEAD_TOKENS.get(device_type, CHUNK_OVERHEAD_TOKENS["cuda"])
        plan = length_chunks(lengths, self.max_chunks, overhead)
        return [(None, plan[0][1])] if len(plan) == 1 else plan

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        """Projected text features [N, D] of token ids [N, C] (C <= context), rows in input order."""
        if tokens.dim() != 2:
            raise ValueError(f"tokens must have shape [N, context_length], got {tuple(tokens.shape)}")
        device = self.clip.positional_embedding.device
        run = self.chunk_fn or encode_chunk
        if tokens.shape[0] == 0:
            return torch.zeros((0, self.clip.text_projection.shape[1]), device=device)
        plan = self.chunks(tokens)
        if len(plan) == 1:
            return run(self.clip, _to(tokens[:, : plan[0][1]], device), self.sdpa)
        host = tokens.cpu()
        parts, order = [], []
        for rows, length in plan:
            index = torch.as_tensor(rows, dtype=torch.long)
            parts.append(run(self.clip, _to(host[index, :length], device), self.sdpa))
            order.extend(rows)
        inverse = torch.empty(len(order), dtype=torch.long)
        inverse[torch.as_tensor(order, dtype=torch.long)] = torch.arange(len(order))
        return torch.cat(parts)[_to(inverse, device)]


def _to(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``tensor`` on ``device``; host-to-GPU copies are pinned and asynchronous (no stream sync)."""
    if tensor.device == device:
        return tensor
    if device.type == "cuda" and tensor.device.type == "cpu":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def encode_tokens(tower, tokens: torch.Tensor) -> torch.Tensor:
    """Text features [N, D] (projected, not normalised) of ``tokens`` [N, L], any ``L <= context``.

    ``tower`` is a :class:`TextEncoder` (its length policy and attention apply) or a bare
    LAVIS/open_clip ``CLIP`` (needs ``token_embedding``, ``positional_embedding``, ``transformer``,
    ``attn_mask``, ``ln_final``, ``text_projection``): then the tokens run exactly as given through
    LAVIS's blocks, so with ``L`` = the context length this is ``clip.encode_text(tokens)``, and with
    a trimmed batch (:func:`trim_to_longest`) the same result computed on fewer positions.
    """
    if isinstance(tower, TextEncoder):
        return tower(tokens)
    return encode_chunk(tower, tokens, sdpa=False)
