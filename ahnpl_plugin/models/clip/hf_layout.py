"""Hugging Face ``CLIPModel`` <-> open_clip/LAVIS ``CLIP`` (ViT): parameter names and config.

The two layouts hold the same numbers under different names, with three differences in shape:
open_clip's attention keeps q, k and v stacked in one ``in_proj_weight`` [3w, w] (HF: ``q_proj``,
``k_proj``, ``v_proj``), and open_clip's projections are applied as ``x @ P`` (``text_projection``,
``visual.proj`` [w, d]) where HF's are ``nn.Linear`` layers (weights [d, w]). The mapping follows
the rules of transformers' own converter (``convert_clip_original_pytorch_to_hf.py``), written
here in both directions so that a CLIPModel folder can be read and written without any network.

Only vision transformers: HF ``CLIPModel`` has no ResNet tower (RN50 gives a clear error).

Activation: HF names it in ``hidden_act`` of both towers (``quick_gelu`` for OpenAI's weights,
``gelu`` for nn.GELU); :func:`hf_act` reads it, :func:`hf_config_dict` writes it.

Pure torch: no transformers and no LAVIS import.
"""

from __future__ import annotations

import re

import torch
from ahnpl_plugin.errors import LayoutError

HF_ACTS = {"quick_gelu": True, "gelu": False}  # HF hidden_act -> quick_gelu
HF_MARKER = "text_model.embeddings.token_embedding.weight"
# CLIP BPE: <|startoftext|>, <|endoftext|>; HF pads with <|endoftext|> (LAVIS with 0: a real token, "!",
# which HF would then split out of captions as a special token). Padding never reaches the features:
# the text tower is causal and pools at the first <|endoftext|>.
BOS_ID, EOS_ID, PAD_ID = 49406, 49407, 49407

# Per-layer names (open_clip suffix, HF suffix), same shapes.
_BLOCK = (
    ("attn.out_proj.weight", "self_attn.out_proj.weight"),
    ("attn.out_proj.bias", "self_attn.out_proj.bias"),
    ("ln_1.weight", "layer_norm1.weight"),
    ("ln_1.bias", "layer_norm1.bias"),
    ("mlp.c_fc.weight", "mlp.fc1.weight"),
    ("mlp.c_fc.bias", "mlp.fc1.bias"),
    ("mlp.c_proj.weight", "mlp.fc2.weight"),
    ("mlp.c_proj.bias", "mlp.fc2.bias"),
    ("ln_2.weight", "layer_norm2.weight"),
    ("ln_2.bias", "layer_norm2.bias"),
)
# Whole-model names (open_clip, HF), same shapes.
_TOP = (
    ("token_embedding.weight", "text_model.embeddings.token_embedding.weight"),
    ("positional_embedding", "text_model.embeddings.position_embedding.weight"),
    ("ln_final.weight", "text_model.final_layer_norm.weight"),
    ("ln_final.bias", "text_model.final_layer_norm.bias"),
    ("logit_scale", "logit_scale"),
    ("visual.class_embedding", "vision_model.embeddings.class_embedding"),
    ("visual.conv1.weight", "vision_model.embeddings.patch_embedding.weight"),
    ("visual.positional_embedding", "vision_model.embeddings.position_embedding.weight"),
    ("visual.ln_pre.weight", "vision_model.pre_layrnorm.weight"),  # sic: HF's spelling
    ("visual.ln_pre.bias", "vision_model.pre_layrnorm.bias"),
    ("visual.ln_post.weight", "vision_model.post_layernorm.weight"),
    ("visual.ln_post.bias", "vision_model.post_layernorm.bias"),
)
# Projections: open_clip [w, d] (x @ P) <-> HF Linear weight [d, w].
_PROJECTIONS = (("text_projection", "text_projection.weight"), ("visual.proj", "visual_projection.weight"))
# Tower prefixes (open_clip, HF).
_TOWERS = (("transformer.resblocks.", "text_model.encoder.layers."), ("visual.transformer.resblocks.", "vision_model.encoder.layers."))
# HF buffers that carry no weights (position ids), ignored when reading.
_HF_BUFFERS = re.compile(r".*embeddings\.position_ids$")


def is_hf_layout(state: dict) -> bool:
    """True for a HF ``CLIPModel`` state dict (``text_model.``/``vision_model.`` names)."""
    return HF_MARKER in state


def _layers(state: dict, prefix: str) -> int:
    found = {int(m.group(1)) for k in state for m in [re.match(re.escape(prefix) + r"(\d+)\.", k)] if m}
    return max(found) + 1 if found else 0


def open_clip_to_hf(state: dict) -> dict:
    """A LAVIS/open_clip CLIP ViT state dict under HF ``CLIPModel`` names (new dict, same tensors)."""
    if "visual.conv1.weight" not in state or "visual.class_embedding" not in state:
        raise LayoutError("not a CLIP vision-transformer state dict (HF CLIPModel has no ResNet tower, e.g. RN50)")
    out, used = {}, set()
    for ours, theirs in _TOP:
        out[theirs] = state[ours]
        used.add(ours)
    for ours, theirs in _PROJECTIONS:
        out[theirs] = state[ours].t().contiguous()
        used.add(ours)
    for ours_prefix, hf_prefix in _TOWERS:
        for i in range(_layers(state, ours_prefix)):
            src, dst = f"{ours_prefix}{i}.", f"{hf_prefix}{i}."
            for ours, theirs in _BLOCK:
                out[dst + theirs] = state[src + ours]
            for part in ("weight", "bias"):
                q, k, v = state[f"{src}attn.in_proj_{part}"].chunk(3, dim=0)
                out[f"{dst}self_attn.q_proj.{part}"] = q.contiguous()
                out[f"{dst}self_attn.k_proj.{part}"] = k.contiguous()
                out[f"{dst}self_attn.v_proj.{part}"] = v.contiguous()
            used.update(src + ours for ours, _ in _BLOCK)
            used.update(f"{src}attn.in_proj_{part}" for part in ("weight", "bias"))
    extra = sorted(set(state) - used)
    if extra:
        raise LayoutError(f"entries with no HF CLIPModel counterpart: {', '.join(extra[:5])}")
    return out


def hf_to_open_clip(state: dict) -> dict:
    """A HF ``CLIPModel`` state dict under LAVIS/open_clip CLIP names (new dict)."""
    state = {k: v for k, v in state.items() if not _HF_BUFFERS.match(k)}
    missing = [theirs for _, theirs in _TOP + _PROJECTIONS if theirs not in state]
    if missing:
        raise LayoutError(f"not a HF CLIPModel state dict: missing {', '.join(missing[:5])}")
    out, used = {}, set()
    for ours, theirs in _TOP:
        out[ours] = state[theirs]
        used.add(theirs)
    for ours, theirs in _PROJECTIONS:
        out[ours] = state[theirs].t().contiguous()
        used.add(theirs)
    for ours_prefix, hf_prefix in _TOWERS:
        for i in range(_layers(state, hf_prefix)):
            src, dst = f"{hf_prefix}{i}.", f"{ours_prefix}{i}."
            for ours, theirs in _BLOCK:
                out[dst + ours] = state[src + theirs]
                used.add(src + theirs)
            for part in ("weight", "bias"):
                names = [f"{src}self_attn.{p}_proj.{part}" for p in "qkv"]
                out[f"{dst}attn.in_proj_{part}"] = torch.cat([state[n] for n in names], dim=0)
                used.update(names)
    extra = sorted(set(state) - used)
    if extra:
        raise LayoutError(f"HF entries with no open_clip counterpart: {', '.join(extra[:5])}")
    return out


def hf_act(config: dict, where: str) -> bool:
    """quick_gelu (True) or GELU (False) from a CLIPModel ``config.json`` dict; both towers must agree."""
    acts = {tower: (config.get(tower) or {}).get("hidden_act", "quick_gelu") for tower in ("text_config", "vision_config")}
    # transformers' CLIPTextConfig/CLIPVisionConfig default hidden_act is "quick_gelu" (absent = that)
    unknown = [a for a in acts.values() if a not in HF_ACTS]
    if unknown:
        raise LayoutError(f"{where}: hidden_act {unknown[0]!r} is not a CLIP activation ({' | '.join(HF_ACTS)})")
    if len(set(acts.values())) != 1:
        raise LayoutError(f"{where}: the towers use different activations {acts}; LAVIS's CLIP uses one for both")
    return HF_ACTS[acts["text_config"]]


def architecture_from_hf(config: dict) -> dict:
    """``CLIP(**cfg)`` kwargs (embed_dim, vision_cfg, text_cfg) of a CLIPModel ``config.json`` dict."""
    text, vision = config.get("text_config") or {}, config.get("vision_config") or {}
    width = vision["hidden_size"]
    # LAVIS's CLIP fixes what HF configures: vision heads = width // 64, MLP width = 4 x width.
    fixed = {"vision_config.num_attention_heads": (vision["num_attention_heads"], width // 64),
             "vision_config.intermediate_size": (vision["intermediate_size"], 4 * width),
             "text_config.intermediate_size": (text["intermediate_size"], 4 * text["hidden_size"])}
    for key, (got, needed) in fixed.items():
        if got != needed:
            raise LayoutError(f"{key} is {got}; LAVIS's CLIP can only run {needed} for this width")
    return {
        "embed_dim": config["projection_dim"],
        "vision_cfg": {"image_size": vision["image_size"], "layers": vision["num_hidden_layers"], "width": width,
                       "patch_size": vision["patch_size"]},
        "text_cfg": {"context_length": text["max_position_embeddings"], "vocab_size": text["vocab_size"],
                     "width": text["hidden_size"], "heads": text["num_attention_heads"],
                     "layers": text["num_hidden_layers"]},
    }


def hf_config_dict(arch: dict, quick_gelu: bool, logit_scale: float) -> dict:
    """A ``CLIPConfig`` dict (for ``CLIPConfig(**d)``) of an open_clip ViT architecture dict.

    Vision heads: width // 64, as open_clip/LAVIS (``head_width`` 64); MLP ratio 4 in both towers.
    """
    vision, text = arch["vision_cfg"], arch["text_cfg"]
    if isinstance(vision.get("layers"), (list, tuple)):
        raise LayoutError("a ResNet vision tower (e.g. RN50) has no HF CLIPModel equivalent")
    act = "quick_gelu" if quick_gelu else "gelu"
    image_size = vision["image_size"]
    image_size = image_size[0] if isinstance(image_size, (list, tuple)) else image_size
    width = vision["width"]
    return {
        "projection_dim": arch["embed_dim"],
        "logit_scale_init_value": float(logit_scale),
        "text_config": {
            "vocab_size": text["vocab_size"], "hidden_size": text["width"], "intermediate_size": 4 * text["width"],
            "projection_dim": arch["embed_dim"], "num_hidden_layers": text["layers"],
            "num_attention_heads": text["heads"], "max_position_embeddings": text["context_length"],
            "hidden_act": act, "layer_norm_eps": 1e-5,
            "bos_token_id": BOS_ID, "eos_token_id": EOS_ID, "pad_token_id": PAD_ID,
        },
        "vision_config": {
            "hidden_size": width, "intermediate_size": 4 * width, "projection_dim": arch["embed_dim"],
            "num_hidden_layers": vision["layers"], "num_attention_heads": width // 64,
            "image_size": image_size, "patch_size": vision["patch_size"], "num_channels": 3,
            "hidden_act": act, "layer_norm_eps": 1e-5,
        },
    }


def hf_name_to_open_clip(name: str, state: dict) -> tuple[str, slice | None, bool]:
    """Where HF parameter ``name`` lives in an open_clip state dict: ``(open_clip name, rows, transposed)``.

    ``rows`` is the slice of ``in_proj_weight``/``in_proj_bias`` for q/k/v (None: the whole tensor);
    ``transposed`` is True for the two projections. Used to place LoRA deltas given under HF names.
    """
    for ours, theirs in _TOP:
        if name == theirs:
            return ours, None, False
    for ours, theirs in _PROJECTIONS:
        if name == theirs:
            return ours, None, True
    for ours_prefix, hf_prefix in _TOWERS:
        match = re.match(re.escape(hf_prefix) + r"(\d+)\.(.+)$", name)
        if not match:
            continue
        layer, rest = match.groups()
        for ours, theirs in _BLOCK:
            if rest == theirs:
                return f"{ours_prefix}{layer}.{ours}", None, False
        qkv = re.match(r"self_attn\.([qkv])_proj\.(weight|bias)$", rest)
        if qkv:
            target = f"{ours_prefix}{layer}.attn.in_proj_{qkv.group(2)}"
            width = state[target].shape[0] // 3
            start = "qkv".index(qkv.group(1)) * width
            return target, slice(start, start + width), False
    raise LayoutError(f"{name}: not a HF CLIPModel parameter")
