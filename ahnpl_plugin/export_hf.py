"""Write a CLIP as a Hugging Face ``CLIPModel`` folder, offline.

The folder ``transformers`` loads with ``CLIPModel.from_pretrained(OUT)`` and
``CLIPProcessor.from_pretrained(OUT)``:

* ``config.json`` + ``model.safetensors``: written by transformers' own ``save_pretrained`` from a
  ``CLIPModel`` holding our weights (names converted by :mod:`ahnpl_plugin.models.clip.hf_layout`);
  ``hidden_act`` is ``quick_gelu`` or ``gelu``, the activation the weights were trained with.
* ``vocab.json``, ``merges.txt``, ``tokenizer_config.json``, ``special_tokens_map.json``: a
  ``CLIPTokenizer`` built from the BPE vocabulary LAVIS ships (``bpe_simple_vocab_16e6.txt.gz``),
  with OpenAI's special-token names (ids 49406/49407, padding with ``<|endoftext|>`` as OpenAI's HF
  release; LAVIS pads with 0, which never reaches the features), ``model_max_length`` = the
  model's context. The slow ``CLIPTokenizer`` gives LAVIS's ids (both repair text with ftfy);
  ``tokenizer.json`` (the fast tokenizer, no ftfy) is written too and differs on HTML entities and
  some Unicode, so the model card says ``use_fast=False``. Captions containing the literal text
  ``<|endoftext|>`` are the one other difference (HF reads it as the special token).
* ``preprocessor_config.json``: ``CLIPImageProcessor`` with LAVIS's ``clip_image_eval`` steps
  (shortest side to S bicubic, centre crop S, OpenAI mean/std). One known difference: transformers
  crops at ``(L - S) // 2`` and torchvision at ``round((L - S) / 2)``, so a resized side L with
  ``(L - S) % 4 == 3`` is cropped one pixel apart (tests/test_export_hf.py measures it).
"""

from __future__ import annotations

import json
import os

import torch

from ahnpl_plugin.models.clip.hf_layout import PAD_ID, hf_config_dict, open_clip_to_hf

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
HF_SPECIAL = {"<start_of_text>": "<|startoftext|>", "<end_of_text>": "<|endoftext|>"}  # LAVIS name -> OpenAI/HF name


def write_bpe_files(out_dir: str) -> tuple[str, str]:
    """``vocab.json`` and ``merges.txt`` of LAVIS's CLIP BPE (same ids, OpenAI's special-token names)."""
    from lavis.models.clip_models.tokenizer import _tokenizer

    vocab = {HF_SPECIAL.get(token, token): index for token, index in _tokenizer.encoder.items()}
    if sorted(vocab.values()) != list(range(len(vocab))):
        raise RuntimeError("LAVIS's BPE vocabulary is not a dense 0..N-1 id range")
    merges = sorted(_tokenizer.bpe_ranks.items(), key=lambda item: item[1])
    vocab_file, merges_file = os.path.join(out_dir, "vocab.json"), os.path.join(out_dir, "merges.txt")
    with open(vocab_file, "w", encoding="utf-8") as handle:
        json.dump(vocab, handle, ensure_ascii=False)
    with open(merges_file, "w", encoding="utf-8") as handle:
        handle.write("#version: 0.2\n")  # CLIPTokenizer skips the first line
        handle.writelines(f"{a} {b}\n" for (a, b), _ in merges)
    return vocab_file, merges_file


def write_tokenizer(out_dir: str, context_length: int):
    """A ``CLIPTokenizer`` (+ fast ``tokenizer.json``) saved in ``out_dir``; returns the slow one."""
    from transformers import CLIPTokenizer, CLIPTokenizerFast

    vocab_file, merges_file = write_bpe_files(out_dir)
    tokenizer = CLIPTokenizer(vocab_file, merges_file, model_max_length=context_length)
    if tokenizer.pad_token_id != PAD_ID:
        raise RuntimeError(f"pad token has id {tokenizer.pad_token_id}, expected {PAD_ID}")
    tokenizer.save_pretrained(out_dir)
    CLIPTokenizerFast.from_pretrained(out_dir).save_pretrained(out_dir)  # adds tokenizer.json
    return tokenizer


def image_processor(image_size: int):
    """``CLIPImageProcessor`` doing LAVIS's ``clip_image_eval`` at ``image_size``."""
    from transformers import CLIPImageProcessor

    return CLIPImageProcessor(
        do_resize=True, size={"shortest_edge": image_size}, resample=3,  # PIL bicubic
        do_center_crop=True, crop_size={"height": image_size, "width": image_size},
        do_rescale=True, rescale_factor=1 / 255, do_normalize=True,
        image_mean=list(OPENAI_MEAN), image_std=list(OPENAI_STD), do_convert_rgb=True,
    )


def hf_model(clip_state: dict, arch: dict, quick_gelu: bool):
    """A transformers ``CLIPModel`` holding ``clip_state`` (open_clip names), loaded strictly."""
    from transformers import CLIPConfig, CLIPModel

    config = CLIPConfig(**hf_config_dict(arch, quick_gelu, float(clip_state["logit_scale"])))
    model = CLIPModel(config)
    state = {k: v.detach().to(torch.float32) for k, v in open_clip_to_hf(clip_state).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise RuntimeError(f"HF CLIPModel does not take these weights: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model.eval()


def write_hf_folder(out_dir: str, clip_state: dict, arch: dict, quick_gelu: bool) -> list[str]:
    """Model, tokenizer and image processor files in ``out_dir``; returns the file names written."""
    from ahnpl_plugin.models.clip.architectures import context_length, image_size

    os.makedirs(out_dir, exist_ok=True)
    hf_model(clip_state, arch, quick_gelu).save_pretrained(out_dir, safe_serialization=True)
    write_tokenizer(out_dir, context_length(arch))
    image_processor(image_size(arch)).save_pretrained(out_dir)
    return sorted(os.listdir(out_dir))
