"""What ``ahnpl_clip`` and ``ahnpl_blip`` share to hold a fine-tuned model near its start.

:class:`StartAnchorMixin` keeps a frozen copy of the starting weights as submodule ``reference``
(the distillation teacher and the L2-SP anchor; no optimiser state; always in eval mode; an EMA of
the student with ``distill.ema``, updated by :meth:`on_optimizer_step`), and adds the terms to a
training step: ``loss_distill`` (image and caption features of the student against the
teacher's, :func:`ahnpl_plugin.retention.feature_distillation`) and ``loss_l2sp``
(:func:`ahnpl_plugin.retention.l2sp` over the trained parameters).

A family supplies :meth:`_anchored` (the module the reference copies and whose parameter names
it shares) and :meth:`_teacher_features` (the teacher's features of the batch, as the loss sees
the student's). Pure torch; no LAVIS import.
"""

from __future__ import annotations

import copy
import functools

import torch
from torch import nn

from ahnpl_plugin.retention import ema_update, feature_distillation, l2sp


class StartAnchorMixin:
    """For models whose ``forward`` calls :meth:`_retention_terms`; call :meth:`_init_retention` in ``__init__``."""

    def _init_retention(self) -> None:
        """The defaults (= the published full fine-tuning) and the load hook for ``reference.*`` keys."""
        self.start_weights = None
        self.finetune = "full"
        self.distill = {"weight": 0.0, "kind": "mse", "ema": None}
        self.l2sp_weight = 0.0
        self.reference = None
        self._register_load_state_dict_pre_hook(self._drop_foreign_reference)

    def _anchored(self) -> nn.Module:
        """The student module that ``reference`` copies (its parameter names are the reference's)."""
        raise NotImplementedError

    def _teacher_features(self, images, caption_tokens) -> tuple[torch.Tensor, torch.Tensor]:
        """The teacher's (image, caption) features of the batch, as the loss sees the student's."""
        raise NotImplementedError

    def _keep_start(self, distill: dict, l2sp_weight: float, needed: bool) -> None:
        """Set the distillation / L2-SP options; copy the start as ``reference`` when ``needed``."""
        self.distill, self.l2sp_weight = dict(distill), float(l2sp_weight)
        if needed:
            self.reference = copy.deepcopy(self._anchored()).requires_grad_(False).eval()

    def train(self, mode: bool = True):
        """As nn.Module.train; the ``reference`` (teacher / L2-SP anchor) always stays in eval mode."""
        super().train(mode)
        if self.reference is not None:
            self.reference.eval()
        return self

    def _drop_foreign_reference(self, state_dict, prefix, *args):
        """A checkpoint trained with a ``reference`` copy loads into a model without one (evaluation)."""
        if self.reference is None:
            for key in [k for k in state_dict if k.startswith(prefix + "reference.")]:
                del state_dict[key]

    def _student_tensor(self, name: str, root: nn.Module | None = None) -> torch.Tensor:
        """The student's effective tensor named as in the reference (LoRA merged on the fly)."""
        return functools.reduce(getattr, name.split("."), root if root is not None else self._anchored())

    @torch.no_grad()
    def on_optimizer_step(self) -> None:
        """Runner hook after each optimiser step: theta from the group's forwards (the next class's),
        then the EMA teacher update (``distill.ema``)."""
        super().on_optimizer_step()
        decay = self.distill.get("ema")
        if self.reference is None or decay is None:
            return
        names = [name for name, _ in self.reference.named_parameters()]
        root = self._anchored()
        ema_update(
            (p for _, p in self.reference.named_parameters()), (self._student_tensor(n, root) for n in names), decay
        )

    def _retention_terms(self, out: dict, weighted: dict, images, image_feats, text_feats, caption_tokens) -> None:
        """Report ``loss_distill`` and ``loss_l2sp`` in ``out`` and add them, weighted, to the terms
        the step's loss sums, when switched on."""
        weight = self.distill.get("weight", 0.0)
        if weight > 0:
            with torch.no_grad():
                teacher_images, teacher_texts = self._teacher_features(images, caption_tokens)
            kind = self.distill.get("kind", "mse")
            out["loss_distill"] = feature_distillation(image_feats, teacher_images, kind) + feature_distillation(
                text_feats, teacher_texts, kind
            )
            weighted["loss_distill"] = weight * out["loss_distill"]
        if self.l2sp_weight > 0:
            anchors = dict(self.reference.named_parameters())
            pairs = [(p, anchors[n]) for n, p in self._anchored().named_parameters() if p.requires_grad]
            out["loss_l2sp"] = l2sp(pairs)
            weighted["loss_l2sp"] = self.l2sp_weight * out["loss_l2sp"]
