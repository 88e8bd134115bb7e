"""The loss options that the ablation (issue 20) adds: per-sample thresholds, epoch reset in mode
ahnpl, a learnable positive margin on the logit scale, CE-CLIP's released L_hn targets.
Known answers are worked by hand in the comments."""

from __future__ import annotations

import math

import pytest
import torch

from ahnpl_plugin.losses import AHNPLLoss, per_sample_thresholds


def _unit_batch():
    """B=2, K=1, D=2: v = t = e0, e1; negatives (0.6, 0.8) for both, so with s=10:
    S(v,t) = [10, 10], S(v,n) = [[6], [8]], gaps [4, 2], mean gap 3."""
    v = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    t = v.clone()
    n = torch.tensor([[[0.6, 0.8]], [[0.6, 0.8]]])
    m = torch.ones(2, 1, dtype=torch.bool)
    return v, t, n, m


def test_per_sample_thresholds_by_hand():
    pos = torch.tensor([10.0, 10.0])
    neg = torch.tensor([[6.0], [8.0]])
    theta = torch.tensor([2.0])
    mask = torch.ones(2, 1, dtype=torch.bool)
    # theta + mean gap - gap = 2 + 3 - 4 = 1 and 2 + 3 - 2 = 3
    assert per_sample_thresholds(theta, pos, neg, mask, 10.0).tolist() == [[1.0], [3.0]]
    assert per_sample_thresholds(theta, pos, neg, mask, 2.5).tolist() == [[1.0], [2.5]]
    # only row 0 valid: mean gap 4 -> row 0 gets 2 + 4 - 4 = 2, the invalid row theta_k = 2
    only_first = torch.tensor([[True], [False]])
    assert per_sample_thresholds(theta, pos, neg, only_first, 10.0).tolist() == [[2.0], [2.0]]


def test_per_sample_margin_loss_by_hand():
    v, t, n, m = _unit_batch()
    common = dict(negative_types=("relation",), use_hn=False, positive_margin=0.0, itc_hard_negatives=False)
    per_type = AHNPLLoss(**common).train()
    per_sample = AHNPLLoss(per_sample_thresholds=True, **common).train()
    for loss in (per_type, per_sample):
        loss.thresholds.fill_(2.0)
    # per type: relu(2 + 6 - 10) = 0, relu(2 + 8 - 10) = 0
    assert per_type(v, t, n, m, 10.0)["loss_dm_neg"].item() == pytest.approx(0.0)
    # per sample: thresholds 1 and 3 -> relu(1 + 6 - 10) = 0, relu(3 + 8 - 10) = 1; / 2 valid
    out = per_sample(v, t, n, m, 10.0)
    assert out["loss_dm_neg"].item() == pytest.approx(0.5)
    assert out["thresholds"].tolist() == [2.0]  # the per-type state used this step is what is reported
    # the state is still updated by the mean rule: 10 - 7 = 3
    assert per_sample.thresholds.tolist() == pytest.approx([3.0])


def test_epoch_reset_is_an_option_in_both_modes():
    v, t, n, m = _unit_batch()
    for mode, reset, kept in (("ahnpl", True, False), ("reference", False, True), ("ahnpl", None, True),
                              ("reference", None, False)):
        loss = AHNPLLoss(mode=mode, negative_types=("relation",), reset_thresholds_each_epoch=reset).train()
        loss(v, t, n, m, 10.0)
        assert loss.thresholds.item() == pytest.approx(3.0)  # 10 - mean(6, 8)
        loss.on_epoch_start()
        assert loss.thresholds.item() == pytest.approx(3.0 if kept else 0.0), (mode, reset)


def test_learnable_positive_margin_on_logit_scale():
    v = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    t = torch.tensor([[0.01, math.sqrt(1 - 0.01**2)], [0.0, 1.0]])  # cosines 0.01 and 1
    n = torch.zeros(2, 1, 2)
    m = torch.zeros(2, 1, dtype=torch.bool)
    loss = AHNPLLoss(negative_types=("relation",), learnable_positive_margin=True, positive_margin=0.5).train()
    names = [name for name, _ in loss.named_parameters()]
    assert names == ["positive_margin_logit"]  # trained by the model's optimiser like any parameter
    # s = 10: S(v,t) = [0.1, 10]; alpha 0.5 -> relu(0.5 - 0.1) = 0.4, relu(0.5 - 10) = 0; mean 0.2
    out = loss(v, t, n, m, 10.0)
    assert out["loss_dm_pos"].item() == pytest.approx(0.2, abs=1e-6)
    out["loss"].backward()
    # d loss / d alpha = lambda_dm * (1 active row / 2 rows) = 0.2 * 0.5
    assert loss.positive_margin_logit.grad.item() == pytest.approx(0.1)
    with torch.no_grad():
        loss.positive_margin_logit.fill_(-3.0)
    loss(v, t, n, m, 10.0)
    assert loss.positive_margin_logit.item() == pytest.approx(0.2)  # clamped to the released floor


def test_ceclip_released_targets_are_zeros():
    t = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    v = t.clone()
    n = torch.tensor([[[0.6, 0.8]], [[0.0, 1.0]]])  # t0.n0 = 0.6, t0.n1 = 0, t1.n0 = 0.8, t1.n1 = 1
    m = torch.ones(2, 1, dtype=torch.bool)
    loss = AHNPLLoss(mode="reference", negative_types=("relation",), image_hn_weight=0.0,
                     reference_hn_target="zeros").train()
    out = loss(v, t, n, m, 1.0)
    row0 = math.log(math.exp(0.6) + math.exp(0.0)) - 0.6  # target: negative 0 (sample 0's)
    row1 = math.log(math.exp(0.8) + math.exp(1.0)) - 0.8  # target: negative 0 too, not its own
    assert out["loss_hn_text"].item() == pytest.approx((row0 + row1) / 2, abs=1e-6)
    arange = AHNPLLoss(mode="reference", negative_types=("relation",), image_hn_weight=0.0).train()
    row1_arange = math.log(math.exp(0.8) + math.exp(1.0)) - 1.0
    assert arange(v, t, n, m, 1.0)["loss_hn_text"].item() == pytest.approx((row0 + row1_arange) / 2, abs=1e-6)


@pytest.mark.parametrize("kwargs, words", [
    (dict(mode="reference", per_sample_thresholds=True), "mode 'ahnpl'"),
    (dict(mode="reference", learnable_positive_margin=True), "mode 'ahnpl'"),
    (dict(reference_hn_target="zeros"), "only applies in mode 'reference'"),
    (dict(mode="reference", reference_hn_target="ones"), "reference_hn_target='ones' is not valid"),
    (dict(per_sample_thresholds=True, threshold="fixed"), "adaptive threshold rule"),
    (dict(reset_thresholds_each_epoch="yes"), "reset_thresholds_each_epoch must be True or False"),
])
def test_bad_ablation_options_raise(kwargs, words):
    with pytest.raises(ValueError, match=words):
        AHNPLLoss(**kwargs)
