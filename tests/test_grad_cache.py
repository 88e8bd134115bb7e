"""GradCache (``run.grad_cache``; ``AHNPLClip.grad_cache_step``): a group of micro-batches gives the
loss and the parameter gradients of one forward of the joined batch."""

from __future__ import annotations

import copy

import pytest
import torch
from omegaconf import OmegaConf

from helpers.batches import micro_batches, planted_batch
from helpers.models import tiny_clip

pytestmark = pytest.mark.usefixtures("lavis_ready")  # conftest.py


def _clip(**overrides):
    model = tiny_clip(**overrides)
    model.train()
    return model


def _grads(model) -> dict:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def _compare(whole_model, cached_model, samples, size):
    whole = whole_model(samples)
    whole["loss"].backward()
    seen = []

    def backward_loss(out):
        seen.append(out)
        return out["loss"]

    cached = cached_model.grad_cache_step(micro_batches(samples, size), backward_loss)
    assert len(seen) == 1 and cached is seen[0]
    for key, value in whole.items():
        assert torch.allclose(cached[key].detach(), value.detach(), rtol=1e-5, atol=1e-6), key
    a, b = _grads(whole_model), _grads(cached_model)
    assert a.keys() == b.keys() and len(a) == sum(1 for p in whole_model.parameters() if p.requires_grad)
    for name in a:  # float rounding of sums taken in another order: relative to the tensor's scale
        assert (a[name] - b[name]).abs().max() <= 1e-4 * a[name].abs().max() + 1e-8, (name, (a[name] - b[name]).abs().max())
    assert torch.allclose(whole_model.loss.thresholds, cached_model.loss.thresholds, rtol=1e-5, atol=1e-6)
    return whole


@pytest.mark.parametrize("mode", ["ahnpl", "reference"])
@pytest.mark.parametrize("size", [1, 3, 4, 16])
def test_micro_batches_give_the_loss_and_gradients_of_the_joinedplanted_batch(mode, size):
    model = _clip(**{"loss.mode": mode})
    other = copy.deepcopy(model)
    whole = _compare(model, other, planted_batch(16), size)
    assert whole["loss_hn"] > 0 and whole["loss_dm"] > 0  # the terms that couple samples are on


def test_thresholds_move_as_for_the_joined_batch_over_several_steps():
    model = _clip()
    other = copy.deepcopy(model)
    for step in range(3):
        for m in (model, other):
            m.zero_grad(set_to_none=True)
        _compare(model, other, planted_batch(12, seed=step), 4)
        assert model.loss.thresholds.abs().sum() > 0 or step == 0


def test_a_batch_without_negatives_and_the_logit_scale_gradient():
    model = _clip()
    other = copy.deepcopy(model)
    _compare(model, other, planted_batch(8, negatives=False), 2)
    assert other.clip.logit_scale.grad is not None and other.clip.logit_scale.grad.abs() > 0


def test_a_group_mixing_batches_with_and_without_negatives_is_refused():
    model = _clip()
    batches = micro_batches(planted_batch(4), 2)
    for key in ("hard_negatives", "hard_negative_mask"):
        del batches[1][key]
    with pytest.raises(ValueError, match="all have hard negatives or none"):
        model.grad_cache_step(batches, lambda out: out["loss"])


def test_the_loss_is_differentiated_through_what_backward_loss_returns():
    """The runner scales the loss (GradScaler) in backward_loss: the gradients scale with it."""
    model = _clip()
    other = copy.deepcopy(model)
    samples = planted_batch(8)
    model.grad_cache_step(micro_batches(samples, 4), lambda out: out["loss"])
    other.grad_cache_step(micro_batches(samples, 4), lambda out: out["loss"] * 8.0)
    a, b = _grads(model), _grads(other)
    for name in a:
        assert torch.allclose(a[name] * 8.0, b[name], rtol=1e-5, atol=1e-6), name


def test_plain_accumulation_does_not_give_the_joined_batch_so_the_comparison_bites():
    model = _clip()
    other = copy.deepcopy(model)
    samples = planted_batch(8)
    model(samples)["loss"].backward()
    parts = micro_batches(samples, 2)
    for part in parts:
        (other(part)["loss"] / len(parts)).backward()
    a, b = _grads(model), _grads(other)
    assert max(float((a[n] - b[n]).abs().max() / a[n].abs().max()) for n in a) > 1e-2


@pytest.mark.slow  # three training runs
def test_runner_grad_cache_over_four_micro_batches_trains_as_one_batch_four_times_larger(coco, tmp_path):
    """Through the real runner: batch 2 x accum 4 with run.grad_cache gives the per-step losses and
    the final weights of batch 8 without accumulation (same samples in the same order: the sampler
    and the per-sample augmentation seeds do not depend on the batch size); plain accumulation
    does not."""
    import yaml

    from helpers.runs import coco_run_config, metrics, train

    def run(name, **overrides):
        out = tmp_path / name
        cfg = coco_run_config(coco, out, valid_splits=[], test_splits=[], log_freq=1, max_epoch=2, **overrides)
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        runner = train(path)
        folder = next(p for p in out.rglob("metrics.jsonl")).parent
        return metrics(folder), {k: v.detach().clone() for k, v in runner.unwrap_dist_model(runner.model).state_dict().items()}

    big_steps, big = run("big", batch_size_train=8)
    cached_steps, cached = run("cached", batch_size_train=2, accum_grad_iters=4, grad_cache=True)
    plain_steps, plain = run("plain", batch_size_train=2, accum_grad_iters=4)
    assert len(big_steps) == len(cached_steps) == 4  # 16 samples, 2 epochs: one line per optimiser step
    for a, b in zip(big_steps, cached_steps):
        for key in ("loss", "loss_itc", "loss_hn", "loss_dm", "lr"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), key
    def mean_change(other):  # mean |difference| over all weights (Adam turns rounding noise on a
        # near-zero gradient into steps of up to lr, so the max says little)
        diffs = torch.cat([(big[k].float() - other[k].float()).abs().flatten() for k in big if big[k].is_floating_point()])
        return float(diffs.mean())

    print("mean |weight difference| to batch 8: grad_cache", mean_change(cached), "plain accumulation", mean_change(plain))
    assert mean_change(cached) < 1e-6
    assert mean_change(plain) > 1000 * mean_change(cached)


def test_runner_refuses_grad_cache_for_a_model_without_it():
    from ahnpl_plugin.config import validate_run_config
    from ahnpl_plugin.errors import ConfigError

    base = {"task": "retrieval", "output_dir": "out", "runner": "ahnpl_runner"}
    validate_run_config(OmegaConf.create({**base, "grad_cache": True}))
    with pytest.raises(ConfigError, match="run.grad_cache must be true or false"):
        validate_run_config(OmegaConf.create({**base, "grad_cache": 1}))


@pytest.mark.slow  # builds a runner
def test_runner_refuses_grad_cache_for_blip_with_a_clear_error(coco, tmp_path):
    import yaml

    from ahnpl_plugin.errors import ConfigError
    from helpers.runs import coco_run_config, train

    cfg = coco_run_config(coco, tmp_path / "out", valid_splits=[], test_splits=[], accum_grad_iters=2, grad_cache=True,
                          model={"arch": "ahnpl_blip", "tokenizer": "builtin-tiny", "queue_size": 8})
    path = tmp_path / "blip.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match="run.grad_cache: AHNPLBlip has no grad_cache_step"):
        train(path)
