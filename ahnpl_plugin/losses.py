"""The AHNPL training loss (pure torch), in the two modes of docs/method.md.

Notation (one step, the global batch): ``v`` image embeddings [B, D], ``t`` caption embeddings
[B, D], ``n`` hard-negative caption embeddings [B, K, D] (K types in the fixed order of
``AHNPL_TYPES``), ``m`` validity mask [B, K], ``s`` the (already exponentiated) logit scale,
``S(a, b) = s * a.b``, ``sg`` stop-gradient.

Mode ``ahnpl`` (default) is the method as described, with the released code's defects fixed:

- ``L_itc``: image->text rows over all B captions and the *valid* negatives of the whole batch,
  text->image rows over all B images, target = own pair, mean of both directions.
- ``L_hn``: per sample, its own valid negatives only (target = the anchor, column 0). Text row
  ``[S(t,t)] ++ [S(t,n_k)]``; image row ``[S(v,v)] ++ [S(v,u_k)]`` with the perturbed image
  ``u_k = v + sg(n_k - t)``. ``hn_anchor="cross"`` puts ``S(v,t)`` first in both rows.
  ``L_hn = text + image_hn_weight * image``; rows without a valid negative are left out.
- ``L_dm``: ``sum m * relu(theta_k + S(v,n_k) - S(v,t)) / max(1, sum m)`` plus
  ``mean relu(positive_margin - v.t)`` (cosine scale; ``positive_margin=0`` disables it).
- ``theta`` (buffer ``thresholds``, one value per type, logits): after each training forward,
  ``clamp(mean S(v,t) - mean_{valid} S(v,n_k), 0, upper_bound)``; a type without a valid
  negative in the batch keeps its value. Never reset between epochs.

Mode ``reference`` reproduces the authors' released single-GPU code: ITC over all B*K negatives
(invalid ones included), ``L_hn`` as cross entropies of ``s * t @ flat(n).T`` and
``s * v @ flat(u).T`` (B x BK) with target ``arange(B)`` (a defect kept on purpose), ``L_dm`` with
divisor B*K and no positive part, theta computed over non-zero masked logits (no "keep" rule) and
reset to 0 by :meth:`AHNPLLoss.on_epoch_start`. ``positive_margin`` has no effect in this mode and
``hn_anchor="cross"`` is refused.

In both modes the loss of a step uses the theta left by the previous training step (starting at 0;
``threshold="fixed"`` uses ``fixed_threshold`` throughout). Under gradient accumulation a "step" is
an optimiser step: after :meth:`AHNPLLoss.follow_optimizer_steps` the training forwards only collect
S(v,t), S(v,n) and the mask, and :meth:`AHNPLLoss.step_thresholds` (the runner calls it after each
optimiser step) computes theta once from the whole group, exactly as from one batch holding all the
group's rows. The contrastive terms of a micro-batch still see only its own rows (a group is not one
big batch for the softmax denominators). Under ``torch.distributed`` the module
gathers the batch from all ranks (see :mod:`ahnpl_plugin.distributed`) and computes the loss of the
global batch on every rank, in both modes.

The functions below are the individual terms, each a pure function of tensors; :class:`AHNPLLoss`
wires them together and holds theta.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ahnpl_plugin.contract import AHNPL_TYPES, check_mask, training_types
from ahnpl_plugin.distributed import distributed_world, gather_rows_with_grad

MODES = ("ahnpl", "reference")
HN_ANCHORS = ("self", "cross")
THRESHOLD_RULES = ("mean", "max", "fixed")
# The "max" threshold rule divides the largest positive-negative gap by this constant (both modes).
MAX_RULE_DIVISOR = 5.0
# Targets of the released-code L_hn rows: AHNPL's release uses arange(B), CE-CLIP's release zeros(B).
REFERENCE_HN_TARGETS = ("arange", "zeros")
# A learnable positive margin (logit scale) is clamped to at least this value, as in AHNPL's release.
LEARNABLE_MARGIN_FLOOR = 0.2


# ----------------------------------------------------------------------------------------------
# Terms shared by both modes
# ----------------------------------------------------------------------------------------------


def contrastive_loss(
    image: torch.Tensor,
    text: torch.Tensor,
    extra_texts: torch.Tensor | None,
    logit_scale: torch.Tensor,
) -> torch.Tensor:
    """CLIP / NegCLIP image-text contrastive loss.

    Image->text row i scores ``image[i]`` against every caption and every row of ``extra_texts``
    ([N, D] hard negatives; None or N=0 gives plain CLIP); text->image row i scores ``text[i]``
    against every image. The target is the own pair; returns the mean of both directions' mean
    cross entropy.
    """
    labels = torch.arange(image.shape[0], device=image.device)
    candidates = text if extra_texts is None else torch.cat([text, extra_texts], dim=0)
    logits_image_to_text = logit_scale * image @ candidates.T
    logits_text_to_image = logit_scale * text @ image.T
    return (
        F.cross_entropy(logits_image_to_text, labels) + F.cross_entropy(logits_text_to_image, labels)
    ) / 2


def perturbed_images(image: torch.Tensor, text: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
    """Image-side hard negatives ``u[i,k] = v[i] + sg(n[i,k] - t[i])`` [B, K, D].

    The caption->negative shift is detached, so any loss on ``u`` trains the image side only.
    No renormalisation, no scale factor.
    """
    return image.unsqueeze(1) + (negatives - text.unsqueeze(1)).detach()


def pair_logits(image: torch.Tensor, text: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """``S(v[i], t[i])`` for each row [B]."""
    return logit_scale * (image * text).sum(dim=-1)


def own_negative_logits(anchor: torch.Tensor, negatives: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """``S(anchor[i], negatives[i,k])`` [B, K]: each row against its own K negatives only."""
    return logit_scale * torch.einsum("bd,bkd->bk", anchor, negatives)


def positive_margin_loss(image: torch.Tensor, text: torch.Tensor, margin: float) -> torch.Tensor:
    """``mean_i relu(margin - v[i].t[i])`` on the cosine scale (the positive part of L_dm)."""
    return F.relu(margin - (image * text).sum(dim=-1)).mean()


def margin_ranking_loss(
    positive_logits: torch.Tensor,
    negative_logits: torch.Tensor,
    mask: torch.Tensor,
    thresholds: torch.Tensor,
    denominator: torch.Tensor | float,
) -> torch.Tensor:
    """Negative part of L_dm: ``sum_{i,k} m[i,k] relu(theta[k] + neg[i,k] - pos[i]) / denominator``.

    ``positive_logits`` [B] = S(v,t), ``negative_logits`` [B, K] = S(v,n), ``mask`` bool [B, K],
    ``thresholds`` [K] in logits (constant). Mode ``ahnpl`` divides by ``max(1, sum m)``, mode
    ``reference`` by ``B*K``.
    """
    if thresholds.dim() == 1:  # one value per type; [B, K] per-sample thresholds broadcast as they are
        thresholds = thresholds.unsqueeze(0)
    hinge = F.relu(thresholds + negative_logits - positive_logits.unsqueeze(1))
    return (hinge * mask).sum() / denominator


def per_sample_thresholds(
    thresholds: torch.Tensor,
    positive_logits: torch.Tensor,
    negative_logits: torch.Tensor,
    mask: torch.Tensor,
    upper_bound: float,
) -> torch.Tensor:
    """Per-sample margins [B, K] (this project's reading of "according to sample difficulty").

    With the gap ``g[i,k] = S(v_i,t_i) - S(v_i,n_ik)`` (constant) and its mean ``gbar[k]`` over the
    valid rows of type k: ``theta[i,k] = clip(theta[k] + gbar[k] - g[i,k], 0, upper_bound)``, i.e. a
    negative that is harder than its type's average (smaller gap) gets a larger margin by as much.
    Invalid entries get ``theta[k]`` (their hinge is masked out anyway).
    """
    gaps = (positive_logits.unsqueeze(1) - negative_logits).detach()
    count = mask.sum(dim=0).clamp(min=1)
    mean_gap = (gaps * mask).sum(dim=0) / count
    per_sample = (thresholds.unsqueeze(0) + mean_gap.unsqueeze(0) - gaps).clamp(0.0, upper_bound)
    return torch.where(mask, per_sample, thresholds.unsqueeze(0).expand_as(per_sample))


# ----------------------------------------------------------------------------------------------
# Mode "ahnpl"
# ----------------------------------------------------------------------------------------------


def own_negatives_cross_entropy(
    anchor_logits: torch.Tensor, negative_logits: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Mean over rows with at least one valid negative of ``CE([anchor] ++ valid negatives, 0)``.

    ``anchor_logits`` [B], ``negative_logits`` [B, K], ``mask`` bool [B, K]. Invalid negatives are
    excluded from the softmax (not zeroed); rows without a valid negative neither contribute nor
    count in the mean; 0 when no row has one.
    """
    masked = negative_logits.masked_fill(~mask, float("-inf"))
    rows = torch.cat([anchor_logits.unsqueeze(1), masked], dim=1)
    per_row = torch.logsumexp(rows, dim=1) - anchor_logits
    has_negative = mask.any(dim=1)
    per_row = per_row.masked_fill(~has_negative, 0.0)
    return per_row.sum() / has_negative.sum().clamp(min=1)


def own_negatives_focal_cross_entropy(
    anchor_logits: torch.Tensor,
    negative_logits: torch.Tensor,
    mask: torch.Tensor,
    gamma: float = 0.0,
    smoothing: float = 0.0,
) -> torch.Tensor:
    """:func:`own_negatives_cross_entropy` with FSC-CLIP's regularisers on the hard-negative rows.

    Row i has classes ``[anchor] ++ valid negatives`` (n_i of them), probabilities ``p``; the
    target puts ``1 - smoothing + smoothing / n_i`` on the anchor and ``smoothing / n_i`` on each
    valid negative (label smoothing), and each class's log-likelihood is weighted by
    ``(1 - p_j) ** gamma`` (focal loss): ``-sum_j q_j (1 - p_j)^gamma log p_j``. gamma 0 and
    smoothing 0 give the plain cross entropy exactly. Same row rules (invalid negatives out of
    the softmax, rows without a valid negative left out of the mean).
    """
    masked = negative_logits.masked_fill(~mask, float("-inf"))
    rows = torch.cat([anchor_logits.unsqueeze(1), masked], dim=1)
    valid = torch.cat([torch.ones_like(mask[:, :1]), mask], dim=1)
    log_p = torch.log_softmax(rows, dim=1).masked_fill(~valid, 0.0)
    classes = valid.sum(dim=1, keepdim=True).to(rows.dtype)
    target = valid.to(rows.dtype) * (smoothing / classes)
    target[:, 0] += 1.0 - smoothing
    weight = (1.0 - log_p.exp()).clamp(min=0.0).pow(gamma) if gamma > 0 else torch.ones_like(log_p)
    per_row = -(target * weight * log_p).sum(dim=1)
    has_negative = mask.any(dim=1)
    per_row = per_row.masked_fill(~has_negative, 0.0)
    return per_row.sum() / has_negative.sum().clamp(min=1)


def _hard_negative_rows(anchor_logits, negative_logits, mask, gamma: float, smoothing: float) -> torch.Tensor:
    """Plain cross entropy when no regulariser is on (the published loss), else the focal one."""
    if gamma == 0 and smoothing == 0:
        return own_negatives_cross_entropy(anchor_logits, negative_logits, mask)
    return own_negatives_focal_cross_entropy(anchor_logits, negative_logits, mask, gamma, smoothing)


def text_hard_negative_loss(
    image: torch.Tensor,
    text: torch.Tensor,
    negatives: torch.Tensor,
    mask: torch.Tensor,
    logit_scale: torch.Tensor,
    anchor: str = "self",
    focal_gamma: float = 0.0,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Text side of L_hn: row i = ``[S(t,t) or S(v,t)] ++ [S(t, n_k) for valid k]``, target 0."""
    anchor_logits = pair_logits(text, text, logit_scale) if anchor == "self" else pair_logits(image, text, logit_scale)
    negative_logits = own_negative_logits(text, negatives, logit_scale)
    return _hard_negative_rows(anchor_logits, negative_logits, mask, focal_gamma, label_smoothing)


def image_hard_negative_loss(
    image: torch.Tensor,
    text: torch.Tensor,
    negatives: torch.Tensor,
    mask: torch.Tensor,
    logit_scale: torch.Tensor,
    anchor: str = "self",
    focal_gamma: float = 0.0,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Image side of L_hn: row i = ``[S(v,v) or S(v,t)] ++ [S(v, u_k) for valid k]``, target 0.

    With the ``self`` anchor the row equals ``log(1 + sum_k exp(s (v.n_k - v.t)))`` and its
    gradient reaches ``image`` only. The ``cross`` anchor ``S(v,t)`` also passes gradient to ``text``.
    """
    anchor_logits = pair_logits(image, image, logit_scale) if anchor == "self" else pair_logits(image, text, logit_scale)
    shifted = perturbed_images(image, text, negatives)
    negative_logits = own_negative_logits(image, shifted, logit_scale)
    return _hard_negative_rows(anchor_logits, negative_logits, mask, focal_gamma, label_smoothing)


def adaptive_thresholds(
    positive_logits: torch.Tensor,
    negative_logits: torch.Tensor,
    mask: torch.Tensor,
    previous: torch.Tensor,
    rule: str,
    upper_bound: float,
    fixed_threshold: float,
) -> torch.Tensor:
    """Mode ``ahnpl`` theta after a step [K] (call without gradient).

    ``mean``: ``mean_i pos[i] - mean_{i valid} neg[i,k]``; ``max``: ``max_{i valid}(pos[i] -
    neg[i,k]) / 5``; both clamped to ``[0, upper_bound]``; a type with no valid negative keeps
    ``previous[k]``. ``fixed``: ``fixed_threshold`` for every type.
    """
    if rule == "fixed":
        return torch.full_like(previous, fixed_threshold)
    valid_count = mask.sum(dim=0)
    if rule == "mean":
        negative_mean = (negative_logits * mask).sum(dim=0) / valid_count.clamp(min=1)
        value = positive_logits.mean() - negative_mean
    else:
        gaps = (positive_logits.unsqueeze(1) - negative_logits).masked_fill(~mask, float("-inf"))
        value = gaps.amax(dim=0) / MAX_RULE_DIVISOR
    value = value.clamp(0.0, upper_bound)
    return torch.where(valid_count > 0, value.to(previous.dtype), previous)


# ----------------------------------------------------------------------------------------------
# Mode "reference" (the released code's math, defects included)
# ----------------------------------------------------------------------------------------------


def reference_text_hard_negative_loss(
    text: torch.Tensor, negatives: torch.Tensor, logit_scale: torch.Tensor, targets: str = "arange"
) -> torch.Tensor:
    """Released-code text side of L_hn: ``CE(s * t @ flat(n).T, arange(B))`` (B x BK logits).

    flat() is sample-major (row j = sample j // K, type j % K) and includes every negative whatever
    its mask, so row i's target is the flattened batch's negative j = i, not one of caption i's own
    (the released code's defect, kept on purpose). ``targets="zeros"`` is CE-CLIP's released
    intra-modal loss: every row's target is negative 0 (sample 0's first negative).
    """
    batch, types, dim = negatives.shape
    if targets == "zeros":
        labels = torch.zeros(batch, dtype=torch.long, device=text.device)
    else:
        labels = torch.arange(batch, device=text.device)
    return F.cross_entropy(logit_scale * text @ negatives.reshape(batch * types, dim).T, labels)


def reference_image_hard_negative_loss(
    image: torch.Tensor, text: torch.Tensor, negatives: torch.Tensor, logit_scale: torch.Tensor
) -> torch.Tensor:
    """Released-code image side of L_hn: ``CE(s * v @ flat(u).T, arange(B))``, u as in mode ahnpl."""
    batch, types, dim = negatives.shape
    labels = torch.arange(batch, device=image.device)
    flat_perturbed = perturbed_images(image, text, negatives).reshape(batch * types, dim)
    return F.cross_entropy(logit_scale * image @ flat_perturbed.T, labels)


def reference_thresholds(
    positive_logits: torch.Tensor,
    negative_logits: torch.Tensor,
    mask: torch.Tensor,
    rule: str,
    upper_bound: float,
    fixed_threshold: float,
) -> torch.Tensor:
    """Mode ``reference`` theta computed from a step, to use at the next step [K] (no gradient).

    ``mean``: ``mean_i pos[i]`` minus the mean of the non-zero masked logits ``m * neg`` of type k
    (0 if there are none); ``max``: ``max_i (m*pos - m*neg) / 5`` with invalid entries counting as
    0; clamped to ``[0, upper_bound]``. ``fixed``: ``fixed_threshold``.
    """
    if rule == "fixed":
        return torch.full((negative_logits.shape[1],), fixed_threshold, dtype=negative_logits.dtype, device=negative_logits.device)
    mask = mask.to(negative_logits.dtype)
    masked_negatives = negative_logits * mask
    if rule == "mean":
        nonzero_count = (masked_negatives != 0).sum(dim=0)
        negative_mean = masked_negatives.sum(dim=0) / nonzero_count.clamp(min=1)
        value = positive_logits.mean() - negative_mean
    else:
        value = (positive_logits.unsqueeze(1) * mask - masked_negatives).amax(dim=0) / MAX_RULE_DIVISOR
    return value.clamp(0.0, upper_bound)


# ----------------------------------------------------------------------------------------------
# The module
# ----------------------------------------------------------------------------------------------


def total_loss(weighted: dict[str, torch.Tensor]) -> torch.Tensor:
    """The training objective: the sum of weighted terms, in their order (as open_clip's trainer sums
    its losses' dict). :class:`AHNPLLoss` reports its own as ``out["weighted"]``; the models add
    theirs (BLIP's ITC and ITM, distillation, L2-SP) and sum them all with this."""
    terms = iter(weighted.values())
    total = next(terms)
    for term in terms:
        total = total + term
    return total


def _check_choice(name: str, value, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not valid; valid values: {', '.join(map(repr, choices))}")


def _check_flag(name: str, value) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")


def _check_non_negative(name: str, value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number >= 0, got {value!r}") from None
    if not number >= 0 or number == float("inf"):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return number


def _autocast_disabled(device: torch.device):
    """Context that turns autocast off on ``device`` so the loss runs in float32 or wider."""
    try:
        return torch.autocast(device_type=device.type, enabled=False)
    except RuntimeError:
        return contextlib.nullcontext()


class AHNPLLoss(nn.Module):
    """AHNPL loss; see the module docstring and docs/method.md for the math.

    ``forward(image_feats [B,D], text_feats [B,D], neg_feats [B,K,D], neg_mask [B,K], logit_scale)``
    with L2-normalised features (any float dtype; the loss is computed in float32, or float64 for
    float64 inputs, with autocast off), ``neg_mask`` bool or 0/1 integers (True/1 = the negative
    exists), ``logit_scale`` = s (already exponentiated; a scalar tensor or a number). With K=0
    ``neg_feats``/``neg_mask`` may be None and the loss is plain CLIP.

    ``neg_feats`` and ``neg_mask`` both None with K > 0 is a batch without negatives: the K=0 loss
    of the same options, theta untouched.

    Returns a dict of scalar tensors ``loss`` (= ``loss_itc + lambda_hn * loss_hn + lambda_dm *
    loss_dm``; ``use_itc=False`` leaves the first term out), ``loss_itc``, ``loss_hn`` (=
    ``loss_hn_text + image_hn_weight * loss_hn_image``), ``loss_dm`` (= ``loss_dm_pos +
    loss_dm_neg``), the four parts, ``weighted`` (the weighted terms whose sum is ``loss``, by name:
    models add their own terms and sum them all with :func:`total_loss`) and ``thresholds`` [K]
    (theta used at this step, detached). A switched-off term is reported as 0. The buffer ``thresholds``
    (float32, in ``state_dict``) holds theta for the next step; it is updated by every forward in
    training mode only, or, after :meth:`follow_optimizer_steps`, by :meth:`step_thresholds` from
    all training forwards since the previous call (gradient accumulation: one update per optimiser
    step, equal to that of one batch holding the group's rows).
    """

    def __init__(
        self,
        mode: str = "ahnpl",
        negative_types: Sequence[str] = AHNPL_TYPES,
        lambda_hn: float = 0.2,
        lambda_dm: float = 0.2,
        image_hn_weight: float = 1.0,
        hn_anchor: str = "self",
        positive_margin: float = 0.2,
        threshold: str = "mean",
        fixed_threshold: float = 8.0,
        upper_bound: float = 10.0,
        itc_hard_negatives: bool = True,
        use_itc: bool = True,
        use_hn: bool = True,
        use_dm: bool = True,
        hn_focal_gamma: float = 0.0,
        hn_label_smoothing: float = 0.0,
        reset_thresholds_each_epoch: bool | None = None,
        per_sample_thresholds: bool = False,
        learnable_positive_margin: bool = False,
        reference_hn_target: str = "arange",
    ):
        super().__init__()
        _check_choice("mode", mode, MODES)
        _check_choice("hn_anchor", hn_anchor, HN_ANCHORS)
        _check_choice("threshold", threshold, THRESHOLD_RULES)
        for name, flag in (("itc_hard_negatives", itc_hard_negatives), ("use_itc", use_itc), ("use_hn", use_hn),
                           ("use_dm", use_dm)):
            _check_flag(name, flag)
        if mode == "reference" and hn_anchor != "self":
            raise ValueError(
                f"hn_anchor={hn_anchor!r} has no meaning in mode 'reference' (the released code's L_hn has no "
                "anchor column); use mode 'ahnpl' or hn_anchor 'self'"
            )
        self.mode = mode
        self.negative_types = training_types(negative_types)
        self.lambda_hn = _check_non_negative("lambda_hn", lambda_hn)
        self.lambda_dm = _check_non_negative("lambda_dm", lambda_dm)
        self.image_hn_weight = _check_non_negative("image_hn_weight", image_hn_weight)
        self.hn_anchor = hn_anchor
        self.positive_margin = _check_non_negative("positive_margin", positive_margin)
        self.threshold = threshold
        self.fixed_threshold = _check_non_negative("fixed_threshold", fixed_threshold)
        self.upper_bound = _check_non_negative("upper_bound", upper_bound)
        self.itc_hard_negatives = itc_hard_negatives
        self.use_itc = use_itc
        self.use_hn = use_hn
        self.use_dm = use_dm
        # FSC-CLIP's regularisers of the hard-negative rows (L_hn), mode ahnpl only; 0 = off
        self.hn_focal_gamma = _check_non_negative("hn_focal_gamma", hn_focal_gamma)
        self.hn_label_smoothing = _check_non_negative("hn_label_smoothing", hn_label_smoothing)
        if self.hn_label_smoothing >= 1:
            raise ValueError(f"hn_label_smoothing must be in [0, 1), got {hn_label_smoothing}")
        if mode == "reference" and (self.hn_focal_gamma or self.hn_label_smoothing):
            raise ValueError("hn_focal_gamma / hn_label_smoothing apply to mode 'ahnpl' only (the released code's L_hn has no anchor class)")
        self.register_buffer("thresholds", self._initial_thresholds())
        # Gradient accumulation: theta statistics of the training forwards since the last
        # step_thresholds() (detached S(v,t) [B], S(v,n) [B,K], mask [B,K] per forward). Not in the
        # state dict: the runner checkpoints between optimiser steps only, where this is empty.
        self.per_optimizer_step = False
        self._pending_statistics: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self._init_ablation_options(reset_thresholds_each_epoch, per_sample_thresholds,
                                    learnable_positive_margin, reference_hn_target)

    def _init_ablation_options(self, reset, per_sample, learnable_margin, hn_target) -> None:
        """Options that put the sources' alternatives to mode ``ahnpl``'s choices into reach (docs/method.md §7)."""
        if reset is not None:
            _check_flag("reset_thresholds_each_epoch", reset)
        _check_flag("per_sample_thresholds", per_sample)
        _check_flag("learnable_positive_margin", learnable_margin)
        _check_choice("reference_hn_target", hn_target, REFERENCE_HN_TARGETS)
        if self.mode == "reference" and (per_sample or learnable_margin):
            raise ValueError(
                "per_sample_thresholds and learnable_positive_margin need mode 'ahnpl' (the released code's "
                "L_dm has neither)"
            )
        if self.mode == "ahnpl" and hn_target != "arange":
            raise ValueError("reference_hn_target only applies in mode 'reference' (mode 'ahnpl' targets the anchor)")
        if per_sample and self.threshold == "fixed":
            raise ValueError("per_sample_thresholds needs an adaptive threshold rule ('mean' or 'max'), not 'fixed'")
        # None: the mode's own rule (reset in 'reference', kept in 'ahnpl')
        self.reset_thresholds_each_epoch = (self.mode == "reference") if reset is None else reset
        self.per_sample_thresholds = per_sample
        self.reference_hn_target = hn_target
        self.positive_margin_logit = None
        if learnable_margin and self.use_dm:  # without L_dm it would be a parameter DDP sees unused
            # AHNPL's release: relu(alpha - S(v,t)) with alpha a parameter on the logit scale, clamped
            # to >= 0.2 at every use (there initialised randomly; here at positive_margin).
            start = max(self.positive_margin, LEARNABLE_MARGIN_FLOOR)
            self.positive_margin_logit = nn.Parameter(torch.tensor(start, dtype=torch.float32))

    @property
    def num_types(self) -> int:
        """K, the number of negative types per caption."""
        return len(self.negative_types)

    def extra_repr(self) -> str:  # noqa: D102
        return (
            f"mode={self.mode!r}, negative_types={self.negative_types}, lambda_hn={self.lambda_hn}, "
            f"lambda_dm={self.lambda_dm}, image_hn_weight={self.image_hn_weight}, hn_anchor={self.hn_anchor!r}, "
            f"positive_margin={self.positive_margin}, threshold={self.threshold!r}, "
            f"fixed_threshold={self.fixed_threshold}, upper_bound={self.upper_bound}, "
            f"itc_hard_negatives={self.itc_hard_negatives}, use_itc={self.use_itc}, use_hn={self.use_hn}, use_dm={self.use_dm}, "
            f"hn_focal_gamma={self.hn_focal_gamma}, hn_label_smoothing={self.hn_label_smoothing}, "
            f"reset_thresholds_each_epoch={self.reset_thresholds_each_epoch}, "
            f"per_sample_thresholds={self.per_sample_thresholds}, "
            f"learnable_positive_margin={self.positive_margin_logit is not None}, "
            f"reference_hn_target={self.reference_hn_target!r}"
        )

    def _initial_thresholds(self) -> torch.Tensor:
        start = self.fixed_threshold if self.threshold == "fixed" else 0.0
        return torch.full((self.num_types,), start, dtype=torch.float32)

    def on_epoch_start(self) -> None:
        """Reset theta to its start value in mode ``reference`` (or with ``reset_thresholds_each_epoch``);
        no-op in mode ``ahnpl`` by default."""
        self._pending_statistics.clear()  # groups never cross an epoch boundary
        if self.reset_thresholds_each_epoch:
            with torch.no_grad():
                self.thresholds.copy_(self._initial_thresholds())

    def follow_optimizer_steps(self, enabled: bool = True) -> None:
        """Update theta once per optimiser step (:meth:`step_thresholds`) rather than per forward."""
        _check_flag("enabled", enabled)
        if not enabled and self._pending_statistics:
            self.step_thresholds()
        self.per_optimizer_step = enabled

    @torch.no_grad()
    def step_thresholds(self) -> None:
        """Theta from every training forward since the last call, as from one batch of all their
        rows (no-op when none ran, e.g. all batches lacked negatives)."""
        pending, self._pending_statistics = self._pending_statistics, []
        if pending:
            positive, negative, mask = (torch.cat(parts) for parts in zip(*pending))
            self._update_thresholds(positive, negative, mask)

    # ------------------------------------------------------------------ inputs

    def _validated_inputs(self, image_feats, text_feats, neg_feats, neg_mask):
        """Check shapes/dtypes; return ``(v, t, n, m)`` with ``m`` bool; ``None`` negatives and mask
        become K=0 tensors (a K=0 loss, or a batch without negatives)."""
        if not (torch.is_tensor(image_feats) and torch.is_tensor(text_feats)):
            raise ValueError("image_feats and text_feats must be tensors")
        if image_feats.dim() != 2 or image_feats.shape[0] == 0:
            raise ValueError(f"image_feats must have shape [B, D] with B >= 1, got {tuple(image_feats.shape)}")
        if text_feats.shape != image_feats.shape:
            raise ValueError(
                f"text_feats shape {tuple(text_feats.shape)} differs from image_feats shape {tuple(image_feats.shape)}"
            )
        batch, dim = image_feats.shape
        types = self.num_types
        if neg_feats is None and neg_mask is None:  # K = 0, or a batch without negatives
            neg_feats = image_feats.new_zeros((batch, 0, dim))
            neg_mask = torch.zeros((batch, 0), dtype=torch.bool, device=image_feats.device)
            return image_feats, text_feats, neg_feats, neg_mask
        if not (torch.is_tensor(neg_feats) and torch.is_tensor(neg_mask)):
            raise ValueError(f"neg_feats and neg_mask must be tensors (K={types} negative types: {self.negative_types})")
        if tuple(neg_feats.shape) != (batch, types, dim):
            raise ValueError(
                f"neg_feats must have shape [B, K, D] = {(batch, types, dim)} for negative_types "
                f"{self.negative_types}, got {tuple(neg_feats.shape)}"
            )
        for name, tensor in (("image_feats", image_feats), ("text_feats", text_feats), ("neg_feats", neg_feats)):
            if not tensor.is_floating_point():
                raise ValueError(f"{name} must be a floating-point tensor, got {tensor.dtype}")
        neg_mask = check_mask(neg_mask, batch, types, name="neg_mask")
        return image_feats, text_feats, neg_feats, neg_mask

    @staticmethod
    def _scale_tensor(logit_scale, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        if torch.is_tensor(logit_scale):
            if logit_scale.numel() != 1:
                raise ValueError(f"logit_scale must hold one value (s, exponentiated), got shape {tuple(logit_scale.shape)}")
            return logit_scale.to(device=device, dtype=dtype).reshape(())
        try:
            return torch.tensor(float(logit_scale), dtype=dtype, device=device)
        except (TypeError, ValueError):
            raise ValueError(f"logit_scale must be a number or a one-element tensor, got {logit_scale!r}") from None

    @staticmethod
    def _gathered(image, text, negatives, mask):
        """The global batch: all ranks' rows in rank order (unchanged when not distributed).

        The four tensors travel in one collective (packed per row; the mask as 0/1 floats).
        """
        world_size, _ = distributed_world()
        if world_size == 1:
            return image, text, negatives, mask
        batch, types, dim = negatives.shape
        dtype = torch.promote_types(torch.promote_types(image.dtype, text.dtype), negatives.dtype)
        packed = torch.cat(
            [image.to(dtype), text.to(dtype), negatives.to(dtype).reshape(batch, types * dim), mask.to(dtype)], dim=1
        )
        try:
            packed = gather_rows_with_grad(packed)
        except ValueError as error:
            raise ValueError(
                f"ranks disagree on the feature size D or the number of negative types K (this rank: "
                f"K={types}, D={dim}; rows packed as 2D + K*D + K values): {error}"
            ) from error
        image, text, flat_negatives, mask = packed.split([dim, dim, types * dim, types], dim=1)
        return image, text, flat_negatives.reshape(-1, types, dim), mask.detach() > 0.5

    # ------------------------------------------------------------------ forward

    def forward(self, image_feats, text_feats, neg_feats, neg_mask, logit_scale) -> dict[str, torch.Tensor]:
        """Loss of the (global) batch; updates theta when training. See the class docstring."""
        image, text, negatives, mask = self._validated_inputs(image_feats, text_feats, neg_feats, neg_mask)
        with_negatives = negatives.shape[1] > 0  # False: K = 0, or a batch without negatives
        with _autocast_disabled(image.device):
            image, text, negatives, mask = self._gathered(image, text, negatives, mask)
            dtype = torch.promote_types(image.dtype, torch.float32)
            image, text, negatives = image.to(dtype), text.to(dtype), negatives.to(dtype)
            scale = self._scale_tensor(logit_scale, dtype, image.device)
            if self.threshold == "fixed":
                used = torch.full_like(self.thresholds, self.fixed_threshold)
            else:
                used = self.thresholds.detach().clone()
            terms_of = self._ahnpl_terms if self.mode == "ahnpl" else self._reference_terms
            out, positive_logits, negative_logits = terms_of(image, text, negatives, mask, scale, used.to(dtype))
            if self.training and with_negatives:  # a batch without negatives leaves theta as it was
                statistics = (positive_logits.detach(), negative_logits.detach(), mask)
                if self.per_optimizer_step:
                    self._pending_statistics.append(statistics)
                else:
                    self._update_thresholds(*statistics)
        out["loss_hn"] = out["loss_hn_text"] + self.image_hn_weight * out["loss_hn_image"]
        out["loss_dm"] = out["loss_dm_pos"] + out["loss_dm_neg"]
        weighted = {"loss_itc": out["loss_itc"]} if self.use_itc else {}
        weighted["loss_hn"] = self.lambda_hn * out["loss_hn"]
        weighted["loss_dm"] = self.lambda_dm * out["loss_dm"]
        out["loss"] = total_loss(weighted)
        out["weighted"] = weighted
        out["thresholds"] = used
        return out

    def _ahnpl_terms(self, image, text, negatives, mask, scale, thresholds):
        """Mode ``ahnpl`` components; also returns S(v,t) [B] and S(v,n) [B,K] for the theta update."""
        zero = image.new_zeros(())
        # Invalid negatives are set to 0 so that nothing about them (even NaN) reaches any term.
        negatives = torch.where(mask.unsqueeze(-1), negatives, torch.zeros((), dtype=negatives.dtype, device=negatives.device))
        has_types = negatives.shape[1] > 0
        extra = negatives[mask] if (self.itc_hard_negatives and has_types) else None
        out = {"loss_itc": contrastive_loss(image, text, extra, scale) if self.use_itc else zero}
        out["loss_hn_text"] = out["loss_hn_image"] = zero
        if self.use_hn and has_types:
            regularised = {"focal_gamma": self.hn_focal_gamma, "label_smoothing": self.hn_label_smoothing}
            out["loss_hn_text"] = text_hard_negative_loss(image, text, negatives, mask, scale, self.hn_anchor, **regularised)
            if self.image_hn_weight > 0:
                out["loss_hn_image"] = image_hard_negative_loss(
                    image, text, negatives, mask, scale, self.hn_anchor, **regularised
                )
        positive_logits = pair_logits(image, text, scale)
        negative_logits = own_negative_logits(image, negatives, scale)
        out["loss_dm_pos"] = out["loss_dm_neg"] = zero
        if self.use_dm:
            if self.positive_margin_logit is not None:
                out["loss_dm_pos"] = self._learnable_margin_loss(positive_logits)
            elif self.positive_margin > 0:
                out["loss_dm_pos"] = positive_margin_loss(image, text, self.positive_margin)
            if has_types:
                denominator = mask.sum().clamp(min=1)
                if self.per_sample_thresholds:
                    thresholds = per_sample_thresholds(thresholds, positive_logits, negative_logits, mask, self.upper_bound)
                out["loss_dm_neg"] = margin_ranking_loss(positive_logits, negative_logits, mask, thresholds, denominator)
        return out, positive_logits, negative_logits

    def _learnable_margin_loss(self, positive_logits: torch.Tensor) -> torch.Tensor:
        """``mean_i relu(alpha - S(v_i,t_i))`` with the parameter alpha clamped to >= 0.2 first (logit scale)."""
        with torch.no_grad():
            self.positive_margin_logit.clamp_(min=LEARNABLE_MARGIN_FLOOR)
        alpha = self.positive_margin_logit.to(positive_logits.dtype)
        return F.relu(alpha - positive_logits).mean()

    def _reference_terms(self, image, text, negatives, mask, scale, thresholds):
        """Mode ``reference`` components (released code); also returns S(v,t) and S(v,n)."""
        zero = image.new_zeros(())
        batch, types, dim = negatives.shape
        has_types = types > 0
        extra = negatives.reshape(batch * types, dim) if (self.itc_hard_negatives and has_types) else None
        out = {"loss_itc": contrastive_loss(image, text, extra, scale) if self.use_itc else zero}
        out["loss_hn_text"] = out["loss_hn_image"] = zero
        if self.use_hn and has_types:
            out["loss_hn_text"] = reference_text_hard_negative_loss(text, negatives, scale, self.reference_hn_target)
            if self.image_hn_weight > 0:
                out["loss_hn_image"] = reference_image_hard_negative_loss(image, text, negatives, scale)
        positive_logits = pair_logits(image, text, scale)
        negative_logits = own_negative_logits(image, negatives, scale)
        out["loss_dm_pos"] = out["loss_dm_neg"] = zero
        if self.use_dm and has_types:
            out["loss_dm_neg"] = margin_ranking_loss(positive_logits, negative_logits, mask, thresholds, batch * types)
        return out, positive_logits, negative_logits

    @torch.no_grad()
    def _update_thresholds(self, positive_logits, negative_logits, mask) -> None:
        """Store theta for the next step (buffer ``thresholds``, float32)."""
        if self.mode == "ahnpl":
            new = adaptive_thresholds(
                positive_logits, negative_logits, mask, self.thresholds.to(positive_logits.dtype),
                self.threshold, self.upper_bound, self.fixed_threshold,
            )
        else:
            new = reference_thresholds(
                positive_logits, negative_logits, mask, self.threshold, self.upper_bound, self.fixed_threshold
            )
        self.thresholds.copy_(new.to(self.thresholds.dtype))
