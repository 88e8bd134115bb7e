"""Weights changed at load time: WiSE-FT patching and LoRA merging. Pure torch on state dicts.

``wise_patch(base, finetuned, alpha)``: (1 - alpha) * base + alpha * finetuned for every tensor, as
in "Patching open-vocabulary models by interpolating weights" (Ilharco et al., 2022) and CLoVe,
which releases ``clove_without_patching.pt`` to be patched with OpenAI's weights at alpha 0.6.

``merge_lora(state, lora, scale)``: W += scale * B @ A for every LoRA pair in ``lora``. Pair names
accepted: ``X.lora_A``/``X.lora_B`` (loralib), ``X.lora_A.weight``/``X.lora_B.weight`` (PEFT, with
``base_model.model.`` prefixes) and ``X.lora_down.weight``/``X.lora_up.weight``; the target is
``X.weight``, ``X_weight`` (``attn.in_proj`` -> ``attn.in_proj_weight``) or ``X``, under open_clip
names or HF ``CLIPModel`` names (q/k/v land in their rows of ``in_proj_weight``). The scale is
``alpha / r``: from the ``scale`` argument, else a ``X.alpha`` entry of the file, else
PEFT's ``adapter_config.json`` (``lora_alpha`` / ``r``) given as ``lora_config``.
"""

from __future__ import annotations

import re

import torch

from ahnpl_plugin.errors import LayoutError, PatchError
from ahnpl_plugin.models.checkpoint_formats import CLIP_PREFIX, MODULE_PREFIX
from ahnpl_plugin.models.clip.hf_layout import hf_name_to_open_clip

_PAIRS = ((".lora_A.weight", ".lora_B.weight"), (".lora_down.weight", ".lora_up.weight"), (".lora_A", ".lora_B"))
_PREFIXES = ("base_model.model.", MODULE_PREFIX, CLIP_PREFIX)  # PEFT, DDP, ahnpl_clip


def wise_patch(base: dict, finetuned: dict, alpha: float) -> dict:
    """(1 - alpha) * base + alpha * finetuned, entry by entry (float32); both must have the same entries."""
    if not 0.0 <= float(alpha) <= 1.0:
        raise PatchError(f"patch alpha must be in [0, 1] (1 = the fine-tuned weights unchanged), got {alpha}")
    if set(base) != set(finetuned):
        only = sorted(set(base) ^ set(finetuned))
        raise PatchError(f"the base and fine-tuned weights have different entries: {', '.join(only[:5])}")
    patched = {}
    for key, tuned in finetuned.items():
        if base[key].shape != tuned.shape:
            raise PatchError(f"{key}: {tuple(base[key].shape)} in the base, {tuple(tuned.shape)} fine-tuned")
        if tuned.is_floating_point():
            patched[key] = (1.0 - alpha) * base[key].float() + alpha * tuned.float()
        else:
            patched[key] = tuned
    return patched


def _strip_prefixes(name: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if name.startswith(prefix):
                name, changed = name[len(prefix):], True
    return name


def lora_pairs(lora: dict) -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]:
    """``{module name: (A [r, in], B [out, r], alpha entry or None)}`` of a LoRA file's tensors."""
    lora = {_strip_prefixes(k): v for k, v in lora.items()}
    pairs, used = {}, set()
    for key in lora:
        for a_suffix, b_suffix in _PAIRS:
            if key.endswith(a_suffix):
                module = key[: -len(a_suffix)]
                b_key = module + b_suffix
                if b_key not in lora:
                    raise PatchError(f"LoRA entry {key} has no matching {b_key}")
                alpha = lora.get(module + ".alpha")
                pairs[module] = (lora[key], lora[b_key], alpha)
                used.update({key, b_key, module + ".alpha"})
                break
    unknown = sorted(set(lora) - used)
    if unknown:
        raise PatchError(f"LoRA file entries that are not LoRA pairs: {', '.join(unknown[:5])}")
    if not pairs:
        raise PatchError("the LoRA file holds no lora_A/lora_B pairs")
    return pairs


def _target(module: str, state: dict) -> tuple[str, slice | None, bool]:
    for name in (module + ".weight", module + "_weight", module):
        if name in state:
            return name, None, False
    try:
        return hf_name_to_open_clip(module + ".weight", state)
    except LayoutError:
        raise PatchError(f"LoRA target {module}: no such weight in the model (open_clip or HF CLIPModel names)") from None


def merge_lora(state: dict, lora: dict, scale: float | None = None, lora_config: dict | None = None) -> tuple[dict, list[str]]:
    """``(new state dict, merged weight names)``: every LoRA pair of ``lora`` added into ``state``."""
    merged, names = dict(state), []
    for module, (a, b, alpha) in sorted(lora_pairs(lora).items()):
        if a.dim() != 2 or b.dim() != 2 or a.shape[0] != b.shape[1]:
            raise PatchError(f"LoRA {module}: A {tuple(a.shape)} and B {tuple(b.shape)} are not [r, in] and [out, r]")
        rank = a.shape[0]
        if scale is not None:
            factor = float(scale)
        elif alpha is not None:
            factor = float(alpha) / rank
        elif lora_config and "lora_alpha" in lora_config and "r" in lora_config:
            factor = float(lora_config["lora_alpha"]) / float(lora_config["r"])
        else:
            raise PatchError(f"LoRA {module}: no scale (give pretrained_lora.scale = lora_alpha / r)")
        delta = factor * (b.float() @ a.float())
        name, rows, transposed = _target(module, merged)
        delta = delta.t() if transposed else delta
        target = merged[name].float().clone()
        view = target[rows] if rows is not None else target
        if view.shape != delta.shape:
            raise PatchError(f"LoRA {module}: delta {tuple(delta.shape)} does not fit {name} {tuple(view.shape)}")
        view += delta
        merged[name] = target
        names.append(name if rows is None else f"{name}[{rows.start}:{rows.stop}]")
    return merged, names


def is_lora_file(keys) -> bool:
    """True when the names look like a LoRA file (any ``lora_A``/``lora_down`` entry)."""
    return any(re.search(r"\.lora_(A|down)(\.weight)?$", k) for k in keys)
