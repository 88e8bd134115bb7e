"""Activation checkpointing of ahnpl_clip's towers (issue 21, item 4): same loss and gradients,
less memory kept for the backward, and the runner switch."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from ahnpl_plugin.contract import AHNPL_TYPES
from ahnpl_plugin import compat

compat.apply()

from ahnpl_plugin.models.clip.model import AHNPLClip  # noqa: E402
from helpers.runs import metrics as run_metrics

TYPES = AHNPL_TYPES  # the contract's five, in its order
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


@pytest.mark.slow  # two training runs
def test_runner_switch_trains_the_same_losses(coco, tmp_path):
    """run.grad_checkpointing through the real runner: same per-step losses as without."""
    import yaml

    from ahnpl_plugin.train import _train

    folder, negatives = coco
    losses = {}
    for flag in (False, True):
        run = {"task": "retrieval", "runner": "ahnpl_runner", "device": "cpu", "init_lr": 1e-3, "max_epoch": 1,
               "batch_size_train": 4, "batch_size_eval": 8, "num_workers": 0, "seed": 7, "output_dir": str(tmp_path / f"o{flag}"),
               "train_splits": ["train"], "valid_splits": [], "test_splits": [], "log_freq": 0, "progress": False,
               "plot": False, "grad_checkpointing": flag}
        data = {"build_info": {"annotations": {s: {"storage": str(p)} for s, p in folder.annotations.items()},
                               "images": {"storage": str(folder.images)}}, "negatives": str(negatives)}
        path = tmp_path / f"c{flag}.yaml"
        path.write_text(yaml.safe_dump({"model": {"arch": "ahnpl_clip", "model_type": "tiny", "pretrained": ""},
                                        "datasets": {"ahnpl_coco": data}, "run": run}))
        runner = _train(["--cfg-path", str(path)])
        assert bool(getattr(runner.unwrap_dist_model(runner.model).clip, "grad_checkpointing", False)) == flag
        rows = run_metrics(runner.output_dir)
        losses[flag] = [r["loss"] for r in rows]
    assert len(losses[True]) == 4 and losses[True] == pytest.approx(losses[False], rel=1e-5)


def test_blip_checkpointed_towers_give_the_same_losses_and_gradients(monkeypatch):
    from lavis.common.registry import registry

    from ahnpl_plugin import register

    register()
    cls = registry.get_model_class("ahnpl_blip")
    cfg = OmegaConf.load(cls.default_config_path("tiny")).model
    samples = {"image": torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(2)), "text_input": CAPTIONS,
               "hard_negatives": NEGATIVES, "hard_negative_mask": MASK, "hard_negative_types": TYPES,
               "epoch": 0, "iters": 5, "num_iters_per_epoch": 10}
    results, calls = [], []
    original = torch.utils.checkpoint.checkpoint

    def spy(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(torch.utils.checkpoint, "checkpoint", spy)
    for enabled in (False, True):
        torch.manual_seed(0)
        model = cls.from_config(cfg).train()
        model.set_grad_checkpointing(enabled)
        assert calls == []
        torch.manual_seed(5)  # ITM negatives are sampled
        out = model(dict(samples))
        out["loss"].backward()
        results.append((out, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    (expected, expected_grads), (got, grads) = results
    # every online ViT block and BERT layer (the text pass, and the ITM pass through the same layers)
    assert len(calls) >= len(model.visual_encoder.blocks) + 2 * len(model.text_encoder.encoder.layer)
    for key in ("loss", "loss_itc", "loss_itm", "loss_hn", "loss_dm"):
        assert torch.allclose(got[key], expected[key], rtol=1e-6, atol=1e-7), key
    assert grads.keys() == expected_grads.keys() and len(grads) > 10
    for name, grad in grads.items():
        assert torch.allclose(grad, expected_grads[name], rtol=1e-5, atol=1e-6), name
    model.set_grad_checkpointing(False)  # switched back: the plain forwards again
    assert not any(hasattr(m, "_ahnpl_forward_without_checkpointing") for m in model.modules())
    assert model.state_dict().keys() == cls.from_config(cfg).state_dict().keys()
