"""How a BLIP model scores (image, caption) pairs at evaluation: ``itc``, ``itm`` or ``itc+itm``.

* ``itc``: cosine similarity of the projected, normalised [CLS] features (BLIP's ITC space).
* ``itm``: the image-text matching head on the caption encoded with cross-attention to the
  image (``[ENC]`` in place of ``[CLS]``), as the log-odds ``logit_match - logit_no_match``: the
  same ranking as BLIP's match probability softmax(...)[1], without float saturation (two
  confident captions would both round to probability 1.0 and tie).
* ``itc+itm``: LAVIS's retrieval score, cosine + ``logit_match`` (``albef_models.compute_sim_matrix``,
  which BLIP retrieval uses); kept exactly so retrieval numbers compare with LAVIS's.

:func:`compute_sim_matrix` serves LAVIS's ``RetrievalTask`` (``k_test`` re-ranking as LAVIS: the
ITM head scores each image's top-k captions by ITC and each caption's top-k images; every other
entry is -100). The ITM forward works for any BLIP with ``text_encoder`` (med.py BERT),
``itm_head`` and a tokenizer with ``enc_token_id`` (LAVIS's ``blip_retrieval`` too). Pure torch
besides reading the model's modules.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

SCORING_MODES = ("itc", "itm", "itc+itm")
EVAL_TEXT_BATCH = 256
UNSCORED = -100.0  # LAVIS's value for pairs outside the re-ranked top k


def check_scoring(mode: str) -> str:
    if mode not in SCORING_MODES:
        raise ValueError(f"scoring {mode!r} is not valid; valid: {', '.join(SCORING_MODES)}")
    return mode


def itm_input_ids(input_ids: torch.Tensor, enc_token_id: int) -> torch.Tensor:
    """Token ids for image-grounded encoding: the first token ([CLS]) replaced by [ENC]."""
    ids = input_ids.clone()
    ids[:, 0] = enc_token_id
    return ids


def itm_logits(model, image_embeds: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """ITM head logits [P, 2] (no match, match) of P pairs: caption ids [P, L] (first token
    already [ENC]) with image token embeddings [P, N, W]."""
    image_atts = torch.ones(image_embeds.shape[:-1], dtype=torch.long, device=image_embeds.device)
    output = model.text_encoder(
        input_ids, attention_mask=attention_mask, encoder_hidden_states=image_embeds,
        encoder_attention_mask=image_atts, return_dict=True,
    )
    return model.itm_head(output.last_hidden_state[:, 0, :])


def combine(mode: str, cosine: torch.Tensor | None, logits: torch.Tensor | None) -> torch.Tensor:
    """Pair scores of ``mode`` from ITC cosines [P] and ITM logits [P, 2] (module docstring)."""
    if mode == "itc":
        return cosine
    if mode == "itm":
        return logits[:, 1] - logits[:, 0]
    return cosine + logits[:, 1]


def _device(model) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def encode_texts_for_retrieval(model, texts: list[str], max_len: int):
    """``(features [T, D], itm ids [T, L], attention [T, L])`` of all texts, padded to ``max_len``
    as LAVIS's retrieval code does (so batches of rows can be stacked)."""
    device = _device(model)
    feats, ids, atts = [], [], []
    for start in range(0, len(texts), EVAL_TEXT_BATCH):
        tokens = model.tokenizer(
            list(texts[start:start + EVAL_TEXT_BATCH]), padding="max_length", truncation=True,
            max_length=max_len, return_tensors="pt",
        ).to(device)
        output = model.text_encoder.forward_text(tokens)
        feats.append(F.normalize(model.text_proj(output.last_hidden_state[:, 0, :]), dim=-1))
        ids.append(itm_input_ids(tokens.input_ids, model.tokenizer.enc_token_id))
        atts.append(tokens.attention_mask)
    return torch.cat(feats), torch.cat(ids), torch.cat(atts)


@torch.no_grad()
def encode_images_for_retrieval(model, data_loader, keep_embeds: bool):
    """``(features [I, D], token embeddings [I, N, W] on the CPU or None)`` of the loader's images."""
    device = _device(model)
    feats, embeds = [], []
    for samples in data_loader:
        image_embeds = model.visual_encoder.forward_features(samples["image"].to(device))
        feats.append(F.normalize(model.vision_proj(image_embeds[:, 0, :]), dim=-1))
        if keep_embeds:
            embeds.append(image_embeds.cpu())
    return torch.cat(feats), (torch.cat(embeds) if keep_embeds else None)


def _owned_rows(total: int) -> range:
    """This rank's share of rows (LAVIS's split: ceil-ish chunks in rank order)."""
    from lavis.common import dist_utils

    step = total // dist_utils.get_world_size() + 1
    start = dist_utils.get_rank() * step
    return range(start, min(total, start + step))


@torch.no_grad()
def rerank(model, sims: torch.Tensor, image_embeds: torch.Tensor, text_ids: torch.Tensor,
           text_atts: torch.Tensor, k_test: int, mode: str, image_major: bool) -> torch.Tensor:
    """Score matrix of ``sims`` [R, C] with each row's top ``k_test`` columns re-scored by ITM.

    ``image_major``: rows are images and columns texts (i2t), else rows are texts (t2i). Entries
    outside the top k are -100 (LAVIS). Rows are split across ranks and summed (exact: each
    entry is written by one rank only).
    """
    import torch.distributed as dist

    device = sims.device
    k = min(int(k_test), sims.shape[1])
    scores = torch.zeros_like(sims)
    rows = _owned_rows(sims.shape[0])
    scores[rows.start:rows.stop] = UNSCORED
    for row in rows:
        top_sims, top_idx = sims[row].topk(k=k, dim=0)
        if image_major:
            embeds = image_embeds[row].unsqueeze(0).expand(k, -1, -1).to(device)
            ids, atts = text_ids[top_idx], text_atts[top_idx]
        else:
            embeds = image_embeds[top_idx.cpu()].to(device)
            ids, atts = text_ids[row].unsqueeze(0).expand(k, -1), text_atts[row].unsqueeze(0).expand(k, -1)
        logits = itm_logits(model, embeds, ids, atts).float()
        scores[row, top_idx] = combine(mode, top_sims.float(), logits).to(scores.dtype)
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(scores, op=dist.ReduceOp.SUM)
    return scores


@torch.no_grad()
def compute_sim_matrix(model, data_loader, k_test: int, mode: str, max_len: int = 35):
    """``(score_i2t, score_t2i)`` numpy matrices for LAVIS's ``RetrievalTask`` under ``mode``.

    Texts: ``data_loader.dataset.text``; images: the loader's ``image`` batches in order.
    ``itc``: the cosine matrix and its transpose; ``itm`` / ``itc+itm``: LAVIS's top-``k_test``
    re-ranking (see :func:`rerank`).
    """
    check_scoring(mode)
    texts = list(data_loader.dataset.text)
    logging.info("retrieval scores (%s) for %d texts", mode, len(texts))
    text_feats, text_ids, text_atts = encode_texts_for_retrieval(model, texts, max_len)
    image_feats, image_embeds = encode_images_for_retrieval(model, data_loader, keep_embeds=mode != "itc")
    # float32 cosines even under the runner's autocast (bf16 rounding would tie near-equal scores)
    with torch.autocast(device_type=image_feats.device.type, enabled=False):
        sims = image_feats.float() @ text_feats.float().t()
    if mode == "itc":
        return sims.cpu().numpy(), sims.t().contiguous().cpu().numpy()
    i2t = rerank(model, sims, image_embeds, text_ids, text_atts, k_test, mode, image_major=True)
    t2i = rerank(model, sims.t().contiguous(), image_embeds, text_ids, text_atts, k_test, mode, image_major=False)
    return i2t.cpu().numpy(), t2i.cpu().numpy()
