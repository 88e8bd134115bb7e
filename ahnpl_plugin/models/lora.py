"""Low-rank adapters (LoRA) on the weights of either family (CLIP, BLIP), as torch parametrizations; merging them away.

Why in-house and not peft: the plugin's towers run attention through
``F.linear(x, attn.in_proj_weight, ...)`` (text_encoding.sdpa_block), reading the fused q/k/v
matrix of ``nn.MultiheadAttention`` directly. peft wraps *modules* (it swaps ``nn.Linear`` for
its own layer, and its ``nn.MultiheadAttention`` support replaces the module's forward), so an
adapter on q/k/v would be skipped by that path. A ``torch.nn.utils.parametrize`` parametrization
acts on the *tensor*: every reader of ``attn.in_proj_weight`` or ``linear.weight`` (SDPA path,
LAVIS's own blocks, ``torch.compile``) sees ``W + scale * B @ A``. It is ~100 lines on a torch
facility, with no new dependency.

Placement (``targets``), FSC-CLIP's by default (rank 4, all Linear/Conv2d layers and attention
q/k/v/out of both towers):

``attn_qkv``  ``nn.MultiheadAttention.in_proj_weight``: three adapters, one each for the q, k and
              v rows (as separate q/k/v projections would have), each of rank r
              (ahnpl_blip: the ViT's fused ``attn.qkv`` Linear, three row groups likewise, and
              BERT's ``query`` / ``key`` / ``value`` Linear layers, one adapter each)
``linear``    every other ``nn.Linear`` (attention out-projection, MLP, RN50's attention pool;
              BLIP's projections and ITM head)
``conv``      every ``nn.Conv2d`` (ViT patch embedding, RN50 convolutions), on the weight
              flattened to [out, in * kh * kw]

A starts Kaiming-uniform and B at zero (as LoRA and peft), so the adapted model starts equal to
the base. ``scale = alpha / rank`` is a buffer of each adapter, so a state dict describes itself:
:func:`merge_state_dict` turns ``X.parametrizations.W.original`` + ``X.parametrizations.W.0.lora_A``
/ ``lora_B`` / ``scale`` into a plain ``X.W`` with the same arithmetic as the forward pass.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import parametrize

LORA_TARGETS = ("attn_qkv", "linear", "conv")
# attention projections that are nn.Linear layers (ahnpl_blip): the ViT's fused ``attn.qkv`` and
# BERT's ``query`` / ``key`` / ``value``; CLIP has no Linear of these names
QKV_LINEARS = ("qkv", "query", "key", "value")
_ORIGINAL = ".parametrizations.{}.original"


class LowRankDelta(nn.Module):
    """Parametrization ``W -> W + scale * [B_1 A_1; ...; B_g A_g]`` (g row groups of W)."""

    def __init__(self, rows: int, columns: int, rank: int, alpha: float, groups: int = 1):
        super().__init__()
        if rank < 1:
            raise ValueError(f"LoRA rank must be >= 1, got {rank}")
        if rows % groups:
            raise ValueError(f"{rows} rows cannot be split into {groups} LoRA groups")
        self.lora_A = nn.Parameter(torch.empty(groups, rank, columns))
        self.lora_B = nn.Parameter(torch.zeros(groups, rows // groups, rank))
        for group in range(groups):
            nn.init.kaiming_uniform_(self.lora_A.data[group], a=math.sqrt(5))
        self.register_buffer("scale", torch.tensor(float(alpha) / rank))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return apply_delta(weight, self.lora_A, self.lora_B, self.scale)


def apply_delta(weight: torch.Tensor, lora_a: torch.Tensor, lora_b: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``weight + scale * delta`` (shared by the forward pass and :func:`merge_state_dict`)."""
    delta = torch.bmm(lora_b, lora_a).reshape(weight.shape[0], -1) * scale
    return weight + delta.reshape(weight.shape).to(weight.dtype)


def lora_sites(module: nn.Module, targets) -> list[tuple[str, nn.Module, str, int]]:
    """``(name, owner module, tensor name, row groups)`` of every tensor ``targets`` select."""
    unknown = [t for t in targets if t not in LORA_TARGETS]
    if unknown or not targets:
        raise ValueError(f"LoRA targets must be a non-empty list of {', '.join(LORA_TARGETS)}; got {list(targets)}")
    sites = []
    for name, sub in module.named_modules():
        if isinstance(sub, nn.MultiheadAttention) and "attn_qkv" in targets:
            if sub.in_proj_weight is None:
                raise ValueError(f"{name}: attention with separate q/k/v weights is not supported")
            sites.append((f"{name}.in_proj_weight", sub, "in_proj_weight", 3))
        elif isinstance(sub, nn.Linear) and name.rsplit(".", 1)[-1] in QKV_LINEARS:  # BLIP's ViT and BERT
            if "attn_qkv" in targets:
                sites.append((f"{name}.weight", sub, "weight", 3 if name.endswith("qkv") else 1))
        elif isinstance(sub, nn.Linear) and "linear" in targets:
            sites.append((f"{name}.weight", sub, "weight", 1))
        elif isinstance(sub, nn.Conv2d) and "conv" in targets:
            sites.append((f"{name}.weight", sub, "weight", 1))
    return sites


def add_lora(module: nn.Module, rank: int = 4, alpha: float = 4.0, targets=LORA_TARGETS) -> list[str]:
    """Parametrize ``module``'s selected weights with LoRA adapters; returns the adapted tensors' names.

    Freezes nothing: :func:`ahnpl_plugin.models.clip.finetune_scope.apply_scope` decides what trains.
    """
    sites = lora_sites(module, tuple(targets))
    for _, owner, tensor_name, groups in sites:
        weight = getattr(owner, tensor_name)
        rows, columns = weight.shape[0], weight[0].numel()
        delta = LowRankDelta(rows, columns, int(rank), float(alpha), groups).to(weight.device)
        parametrize.register_parametrization(owner, tensor_name, delta, unsafe=True)
    return [name for name, *_ in sites]


def has_lora(state: dict) -> bool:
    """True when a state dict holds parametrized (unmerged LoRA) weights."""
    return any(".parametrizations." in key for key in state)


def merge_state_dict(state: dict) -> dict:
    """A plain state dict: each LoRA-parametrized weight replaced by ``original + scale * B @ A``.

    Keys without adapters pass through unchanged (same tensors).
    """
    merged = {}
    originals = {}
    for key, value in state.items():
        if ".parametrizations." not in key:
            merged[key] = value
            continue
        owner, rest = key.split(".parametrizations.", 1) if not key.startswith("parametrizations.") else ("", key[len("parametrizations."):])
        tensor_name, part = rest.split(".", 1)
        originals.setdefault((owner, tensor_name), {})[part] = value
    for (owner, tensor_name), parts in originals.items():
        needed = ("original", "0.lora_A", "0.lora_B", "0.scale")
        absent = [p for p in needed if p not in parts]
        if absent:
            raise ValueError(f"{owner}.{tensor_name}: LoRA entries {', '.join(absent)} are missing from the state dict")
        weight = apply_delta(parts["original"], parts["0.lora_A"], parts["0.lora_B"], parts["0.scale"])
        merged[f"{owner}.{tensor_name}" if owner else tensor_name] = weight.detach()
    return merged
