"""What ``ahnpl_clip`` and ``ahnpl_blip`` share about a training batch's hard negatives.

Both read ``hard_negatives`` / ``hard_negative_mask`` (and ``hard_negative_types``, the names of the
batch's columns) with the contract's one batch check (:func:`ahnpl_plugin.contract.check_negatives`),
and both train a batch without negatives with their one :class:`~ahnpl_plugin.losses.AHNPLLoss`
given no negatives (its K=0 terms; theta untouched).
"""

from __future__ import annotations

import logging

from ahnpl_plugin.contract import check_negatives, select_types

log = logging.getLogger(__name__)


class HardNegativeBatchMixin:
    """For models holding ``self.loss`` (AHNPLLoss)."""

    #: logged once, the first time a batch comes without negatives
    plain_loss_message = "batch without hard negatives: training with the K=0 loss"

    def follow_optimizer_steps(self) -> None:
        """Runner hook (gradient accumulation): theta is updated once per optimiser step, from the
        statistics of all micro-batches of its group, by :meth:`on_optimizer_step`."""
        self.loss.follow_optimizer_steps(True)

    def on_optimizer_step(self) -> None:
        """Runner hook, after each optimiser step: theta from the group's training forwards."""
        self.loss.step_thresholds()

    @staticmethod
    def _images_and_captions(samples: dict):
        """``(images, captions as a list)`` of a training batch; ValueError naming a missing key or
        a count mismatch."""
        for key in ("image", "text_input"):
            if key not in samples:
                raise ValueError(f"samples lacks {key!r} (has {sorted(samples)})")
        images, captions = samples["image"], samples["text_input"]
        captions = [captions] if isinstance(captions, str) else list(captions)
        if len(captions) != images.shape[0]:
            raise ValueError(f"samples has {images.shape[0]} images but {len(captions)} captions in 'text_input'")
        return images, captions

    def _batch_negatives(self, samples: dict, captions: list[str]):
        """``(negatives, mask)`` of a batch in the loss's type order, or ``(None, None)`` for a
        batch to train without; ValueError naming the key for an inconsistent batch."""
        negatives, mask = samples.get("hard_negatives"), samples.get("hard_negative_mask")
        if (negatives is None) != (mask is None):
            present, absent = ("hard_negatives", "hard_negative_mask") if mask is None else ("hard_negative_mask", "hard_negatives")
            raise ValueError(f"samples has {present!r} but not {absent!r}: give both or neither")
        if negatives is None or self.loss.num_types == 0:
            if self.loss.num_types and not getattr(self, "_warned_without_negatives", False):
                log.warning(self.plain_loss_message)
                object.__setattr__(self, "_warned_without_negatives", True)
            return None, None
        names = samples.get("hard_negative_types")
        if names is not None and tuple(names) != tuple(self.loss.negative_types):
            negatives, mask = select_types(negatives, mask, names, self.loss.negative_types)
        return check_negatives(captions, negatives, mask, self.loss.num_types)
