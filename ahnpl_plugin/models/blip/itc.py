"""BLIP's image-text contrastive loss (momentum queues, distilled targets) with hard-negative columns.

BLIP (LAVIS ``BlipRetrieval.forward``) contrasts each online image feature with the momentum
text features of the batch and of a queue of earlier batches, and each online text feature with
the momentum image features and the image queue. Targets are soft: ``alpha`` times the momentum
model's own softmax plus ``1 - alpha`` times the ground truth, where every column with the same
image id is a positive (several captions per image).

AHNPL adds the batch's text hard negatives as extra image->text columns (NegCLIP's mechanism):

* their features come from the *online* text encoder (the ones the AHNPL terms use): a momentum
  feature would carry no gradient, so the text encoder would never learn to push a negative away
  from its image; the queue stays momentum-only as in BLIP;
* their target is 0 in both parts of the soft target: the momentum model cannot tell a
  caption from its hard negative (that is what is being trained), so distilling its similarities
  would soften exactly the signal the negatives carry;
* text->image rows are unchanged.

With no hard-negative columns :func:`queue_contrastive_loss` is BLIP's ITC loss exactly.
Pure torch (no LAVIS).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

NO_IMAGE_ID = -1  # queued in place of ids for batches without image ids; never a positive


def positive_targets(image_ids: torch.Tensor | None, id_queue: torch.Tensor, batch: int) -> torch.Tensor:
    """Ground-truth ITC targets ``[B, B + Q]``: each row spreads 1 over its positive columns.

    ``image_ids`` [B] (int64, >= 0) marks captions of the same image as positives of each other
    and of queued entries with that id (as BLIP); ``None`` means every sample is its own image and
    nothing in the queue is a positive. ``id_queue`` [Q] (or [1, Q]) holds the queued ids.
    """
    id_queue = id_queue.reshape(-1)
    if image_ids is None:
        positives = torch.cat(
            [torch.eye(batch, device=id_queue.device), torch.zeros(batch, id_queue.numel(), device=id_queue.device)], dim=1
        )
    else:
        ids = image_ids.reshape(-1, 1).to(id_queue.device)
        positives = torch.eq(ids, torch.cat([ids.t(), id_queue.reshape(1, -1)], dim=1)).float()
    return positives / positives.sum(dim=1, keepdim=True)


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``mean_i -sum_j targets[i,j] log softmax(logits[i])_j`` (BLIP's ITC form)."""
    return -(F.log_softmax(logits, dim=1) * targets).sum(dim=1).mean()


def queue_contrastive_loss(
    image_feat: torch.Tensor,
    text_feat: torch.Tensor,
    image_feat_m_all: torch.Tensor,
    text_feat_m_all: torch.Tensor,
    image_feat_m: torch.Tensor,
    text_feat_m: torch.Tensor,
    targets: torch.Tensor,
    alpha: float,
    temp: torch.Tensor,
    hard_negatives: torch.Tensor | None = None,
) -> torch.Tensor:
    """BLIP's ITC loss, with ``hard_negatives`` [M, D] appended as image->text columns.

    ``image_feat`` / ``text_feat`` [B, D]: online features (normalised); ``*_feat_m_all`` [D, B+Q]:
    momentum features of the batch then the queue (BLIP's layout); ``*_feat_m`` [B, D]: the
    momentum batch features; ``targets`` [B, B+Q] from :func:`positive_targets`; ``temp``: BLIP's
    temperature (logits = cosine / temp). Hard-negative columns get target 0 (module docstring).
    """
    with torch.no_grad():
        sim_i2t_m = image_feat_m @ text_feat_m_all / temp
        sim_t2i_m = text_feat_m @ image_feat_m_all / temp
        i2t_targets = alpha * F.softmax(sim_i2t_m, dim=1) + (1 - alpha) * targets
        t2i_targets = alpha * F.softmax(sim_t2i_m, dim=1) + (1 - alpha) * targets
    sim_i2t = image_feat @ text_feat_m_all / temp
    if hard_negatives is not None and hard_negatives.shape[0] > 0:
        sim_i2t = torch.cat([sim_i2t, image_feat @ hard_negatives.t() / temp], dim=1)
        i2t_targets = torch.cat([i2t_targets, i2t_targets.new_zeros(i2t_targets.shape[0], hard_negatives.shape[0])], dim=1)
    sim_t2i = text_feat @ image_feat_m_all / temp
    return (soft_cross_entropy(sim_i2t, i2t_targets) + soft_cross_entropy(sim_t2i, t2i_targets)) / 2


def training_step(epoch: int, iters: int, num_iters_per_epoch: int) -> int:
    """The global step of a batch from the runner's ``epoch`` / ``iters`` / ``num_iters_per_epoch``.

    LAVIS's own loop passes ``iters`` within the epoch (0..N-1), ``ahnpl_runner`` the global step
    (epoch * N + i). The two never overlap after epoch 0 (a global step there is >= N), and agree
    in epoch 0, so both are read correctly.
    """
    epoch, iters, n = int(epoch), int(iters), int(num_iters_per_epoch)
    return iters if iters >= epoch * n else epoch * n + iters


def rampup_factor(epoch: int, iters: int, num_iters_per_epoch: int) -> float:
    """BLIP's distillation ramp: 0 -> 1 linearly over the first two epochs of training."""
    if not num_iters_per_epoch:
        return 1.0
    return min(1.0, training_step(epoch, iters, num_iters_per_epoch) / (2 * int(num_iters_per_epoch)))
