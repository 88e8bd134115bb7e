"""Activation checkpointing of ahnpl_clip's towers (issue 21, item 4): same loss and gradients,
less memory kept for the backward, and the runner switch."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from ahnpl_plugin import compat

compat.apply()

from ahnpl_plugin.models.ahnpl_clip import AHNPLClip  # noqa: E402

TYPES = ("relation", "adj_swap", "adj", "noun", "verb")
CAPTIONS = ["a red dog left of a blue cat", "two cats", "a small green table near a big red dog", "a bed"]
NEGATIVES = [["a blue dog left of a red cat", "###", "a red cat left of a blue dog", "a red dog right of a blue cat", "###"],
             ["###", "###", "###", "two dogs", "###"],
             ["a big green table near a small red dog", "a small red table near a big green dog", "###", "###", "###"],
             ["###", "###", "###", "a table", "###"]]
MASK = torch.tensor([[t != "###" for t in row] for row in NEGATIVES])


def _model(sdpa: bool):
    cfg = OmegaConf.load(AHNPLClip.default_config_path("tiny")).model
    cfg.sdpa = sdpa
    torch.manual_seed(0)
    return AHNPLClip.from_config(cfg).train()


def _step(model):
    samples = {"image": torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(2)), "text_input": CAPTIONS,
               "hard_negatives": NEGATIVES, "hard_negative_mask": MASK, "hard_negative_types": TYPES}
    model.zero_grad(set_to_none=True)
    out = model(samples)
    out["loss"].backward()
    return out, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("sdpa", [True, False])
def test_checkpointed_towers_give_the_same_loss_and_gradients(sdpa):
    model = _model(sdpa)
    expected, expected_grads = _step(model)
    model.loss.thresholds.zero_()  # theta as before the first step
    model.set_grad_checkpointing(True)
    calls = []
    original = torch.utils.checkpoint.checkpoint

    def spy(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    torch.utils.checkpoint.checkpoint, saved = spy, torch.utils.checkpoint.checkpoint
    try:
        got, grads = _step(model)
    finally:
        torch.utils.checkpoint.checkpoint = saved
    layers = len(model.clip.transformer.resblocks) + len(model.clip.visual.transformer.resblocks)
    assert len(calls) >= layers  # every block of both towers (text: once per length chunk)
    for key in ("loss", "loss_itc", "loss_hn", "loss_dm"):
        assert torch.allclose(got[key], expected[key], rtol=1e-6, atol=1e-7), key
    assert grads.keys() == expected_grads.keys() and len(grads) > 10
    for name, grad in grads.items():
        assert torch.allclose(grad, expected_grads[name], rtol=1e-5, atol=1e-7), name


def test_checkpointing_keeps_fewer_tensors_for_the_backward_and_is_off_without_grad():
    def saved_bytes(model):
        total = []

        def pack(tensor):
            total.append(tensor.numel() * tensor.element_size())
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model.encode_image(torch.randn(8, 3, 32, 32))
        return sum(total)

    model = _model(True)
    plain_bytes = saved_bytes(model)
    with torch.no_grad():
        expected = model.encode_image(torch.ones(2, 3, 32, 32))
    model.set_grad_checkpointing(True)
    assert saved_bytes(model) < 0.5 * plain_bytes
    with torch.no_grad():  # evaluation: no recomputation wrapper at all
        assert torch.equal(model.encode_image(torch.ones(2, 3, 32, 32)), expected)
