"""What ``ahnpl_clip`` and ``ahnpl_blip`` share about a training batch's hard negatives.

Both read ``hard_negatives`` / ``hard_negative_mask`` (and ``hard_negative_types``, the names of the
batch's columns) the same way, and both train a batch without negatives with a K=0 copy of their
configured :class:`~ahnpl_plugin.losses.AHNPLLoss`.
"""

from __future__ import annotations

import logging

from ahnpl_plugin.losses import AHNPLLoss
from ahnpl_plugin.models.negative_batch import select_negative_types, validated_negatives

log = logging.getLogger(__name__)

# AHNPLLoss options copied into the K=0 loss (everything but negative_types).
LOSS_OPTION_NAMES = ("mode", "lambda_hn", "lambda_dm", "image_hn_weight", "hn_anchor", "positive_margin",
                     "threshold", "fixed_threshold", "upper_bound", "itc_hard_negatives", "use_hn", "use_dm")


class HardNegativeBatchMixin:
    """For models holding ``self.loss`` (AHNPLLoss) and ``self._plain_loss`` (None until needed)."""

    #: logged once, the first time a batch comes without negatives
    plain_loss_message = "batch without hard negatives: training with the K=0 loss"

    def follow_optimizer_steps(self) -> None:
        """Runner hook (gradient accumulation): theta is updated once per optimiser step, from the
        statistics of all micro-batches of its group, by :meth:`on_optimizer_step`."""
        self.loss.follow_optimizer_steps(True)

    def on_optimizer_step(self) -> None:
        """Runner hook, after each optimiser step: theta from the group's training forwards."""
        self.loss.step_thresholds()

    def _batch_negatives(self, samples: dict, captions: list[str]):
        """``(negatives, mask)`` of a batch in the loss's type order, or ``(None, None)`` for a
        batch to train without; ValueError naming the key for an inconsistent batch."""
        negatives, mask = samples.get("hard_negatives"), samples.get("hard_negative_mask")
        if (negatives is None) != (mask is None):
            present, absent = ("hard_negatives", "hard_negative_mask") if mask is None else ("hard_negative_mask", "hard_negatives")
            raise ValueError(f"samples has {present!r} but not {absent!r}: give both or neither")
        if negatives is None or self.loss.num_types == 0:
            return None, None
        names = samples.get("hard_negative_types")
        if names is not None and tuple(names) != tuple(self.loss.negative_types):
            negatives, mask = select_negative_types(negatives, mask, names, self.loss.negative_types)
        return validated_negatives(captions, negatives, mask, self.loss.num_types)

    def _loss_without_negatives(self) -> AHNPLLoss:
        """The configured loss when it has K=0, else a K=0 copy of its options (not in the state dict)."""
        if self.loss.num_types == 0:
            return self.loss
        if self._plain_loss is None:
            log.warning(self.plain_loss_message)
            options = {name: getattr(self.loss, name) for name in LOSS_OPTION_NAMES}
            object.__setattr__(self, "_plain_loss", AHNPLLoss(negative_types=(), **options))
        return self._plain_loss.train(self.training).to(self.device)
