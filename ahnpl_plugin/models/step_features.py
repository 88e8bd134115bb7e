"""What ``ahnpl_clip``'s towers make of one training batch, before the loss: :class:`StepFeatures`.

``forward`` is ``loss(encode(batch))``; GradCache (``AHNPLClip.grad_cache_step``) encodes several
micro-batches without a graph, computes one loss over all of them from these features made leaves,
then backpropagates each leaf's gradient through a second, graph-building encoding of its
micro-batch (:meth:`StepFeatures.surrogate`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from ahnpl_plugin.models.negative_batch import scatter_negatives


@dataclass
class StepFeatures:
    images: torch.Tensor  # [B, 3, H, W] (the retention teacher reads them)
    caption_tokens: torch.Tensor  # [B, C]
    image_feats: torch.Tensor  # [B, D]
    text_features: torch.Tensor  # [B + M, D]: the captions, then the M encoded negatives sample-major
    encoded: torch.Tensor | None  # [B, K] bool: the negatives encoded (None: a batch without negatives)
    mask: torch.Tensor | None  # [B, K] bool: the valid negatives

    @property
    def batch(self) -> int:
        return self.image_feats.shape[0]

    def split(self):
        """``(image_feats [B, D], caption feats [B, D], negative feats [B, K, D] or None)``."""
        captions = self.text_features[: self.batch]
        if self.encoded is None:
            return self.image_feats, captions, None
        return self.image_feats, captions, scatter_negatives(self.text_features[self.batch :], self.encoded)

    def as_leaves(self) -> "StepFeatures":
        """The same features detached as leaves that collect the loss's gradient."""
        return replace(self, image_feats=self.image_feats.detach().requires_grad_(),
                       text_features=self.text_features.detach().requires_grad_())

    def surrogate(self, leaves: "StepFeatures") -> torch.Tensor | None:
        """sum(features * d loss / d leaves): its gradient with respect to the parameters is the
        loss's, through this graph-building encoding of the same batch. None if no gradient reached
        the leaves."""
        terms = [(own * leaf.grad).sum() for own, leaf in ((self.image_feats, leaves.image_feats),
                                                            (self.text_features, leaves.text_features))
                 if leaf.grad is not None]
        return torch.stack(terms).sum() if terms else None


def joined(parts: list):
    """One tensor from the micro-batches' ``parts`` (dim 0): the part itself for one, None for Nones."""
    if any(part is None for part in parts):
        if not all(part is None for part in parts):
            raise ValueError("micro-batches of one GradCache group must all have hard negatives or none")
        return None
    return parts[0] if len(parts) == 1 else torch.cat(parts)
