"""Tests of ahnpl_plugin.losses: every term of both modes against a hand-worked case and an
independent plain-loop NumPy implementation, gradients (gradcheck, stop-gradient paths), the
threshold state over steps, masks, the NegCLIP / CE-CLIP / CLIP configurations and bad options."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ahnpl_plugin.contract import AHNPL_TYPES
from ahnpl_plugin.losses import AHNPLLoss, image_hard_negative_loss

E = math.e


# ------------------------------------------------------------------------------------------------
# Independent NumPy implementation (plain loops, written from docs/method.md)
# ------------------------------------------------------------------------------------------------


def lse(values):
    values = np.asarray(values, dtype=np.float64)
    top = values.max()
    return top + math.log(np.exp(values - top).sum())


def numpy_loss(v, t, n, m, s, theta, mode="ahnpl", anchor="self", alpha=0.2, gamma=1.0,
               lambda_hn=0.2, lambda_dm=0.2, itc_hn=True, use_hn=True, use_dm=True):
    """All components of the loss for one step, by loops over samples and types."""
    v, t, n, m = (np.asarray(x, dtype=np.float64) for x in (v, t, n, m))
    B, K = m.shape
    S = lambda a, b: s * float(np.dot(a, b))  # noqa: E731
    u = [[v[i] + n[i, k] - t[i] for k in range(K)] for i in range(B)]
    out = dict(loss_hn_text=0.0, loss_hn_image=0.0, loss_dm_pos=0.0, loss_dm_neg=0.0)

    # ITC
    i2t = []
    for i in range(B):
        row = [S(v[i], t[j]) for j in range(B)]
        if itc_hn:
            for j in range(B):
                for k in range(K):
                    if mode == "reference" or m[j, k]:
                        row.append(S(v[i], n[j, k]))
        i2t.append(lse(row) - row[i])
    t2i = []
    for i in range(B):
        row = [S(t[i], v[j]) for j in range(B)]
        t2i.append(lse(row) - row[i])
    out["loss_itc"] = (np.mean(i2t) + np.mean(t2i)) / 2

    # hard negatives
    if use_hn and K > 0:
        if mode == "ahnpl":
            text_rows, image_rows = [], []
            for i in range(B):
                valid = [k for k in range(K) if m[i, k]]
                if not valid:
                    continue
                text_anchor = S(t[i], t[i]) if anchor == "self" else S(v[i], t[i])
                image_anchor = S(v[i], v[i]) if anchor == "self" else S(v[i], t[i])
                row = [text_anchor] + [S(t[i], n[i, k]) for k in valid]
                text_rows.append(lse(row) - row[0])
                row = [image_anchor] + [S(v[i], u[i][k]) for k in valid]
                image_rows.append(lse(row) - row[0])
            out["loss_hn_text"] = np.mean(text_rows) if text_rows else 0.0
            out["loss_hn_image"] = np.mean(image_rows) if image_rows else 0.0
        else:
            text_rows, image_rows = [], []
            for i in range(B):
                row = [S(t[i], n[j, k]) for j in range(B) for k in range(K)]
                text_rows.append(lse(row) - row[i])
                row = [S(v[i], u[j][k]) for j in range(B) for k in range(K)]
                image_rows.append(lse(row) - row[i])
            out["loss_hn_text"], out["loss_hn_image"] = np.mean(text_rows), np.mean(image_rows)
        if gamma == 0:
            out["loss_hn_image"] = 0.0

    # dynamic margin
    if use_dm:
        if mode == "ahnpl" and alpha > 0:
            out["loss_dm_pos"] = np.mean([max(0.0, alpha - float(np.dot(v[i], t[i]))) for i in range(B)])
        total, count = 0.0, 0
        for i in range(B):
            for k in range(K):
                if m[i, k]:
                    total += max(0.0, theta[k] + S(v[i], n[i, k]) - S(v[i], t[i]))
                    count += 1
        if K > 0:
            out["loss_dm_neg"] = total / max(1, count) if mode == "ahnpl" else total / (B * K)

    out["loss_hn"] = out["loss_hn_text"] + gamma * out["loss_hn_image"]
    out["loss_dm"] = out["loss_dm_pos"] + out["loss_dm_neg"]
    out["loss"] = out["loss_itc"] + lambda_hn * out["loss_hn"] + lambda_dm * out["loss_dm"]
    return out


def numpy_thresholds(v, t, n, m, s, previous, mode="ahnpl", rule="mean", upper=10.0, fixed=8.0):
    """theta after one training step, by loops."""
    v, t, n, m = (np.asarray(x, dtype=np.float64) for x in (v, t, n, m))
    B, K = m.shape
    pos = [s * float(np.dot(v[i], t[i])) for i in range(B)]
    new = []
    for k in range(K):
        neg = [s * float(np.dot(v[i], n[i, k])) for i in range(B)]
        if rule == "fixed":
            new.append(fixed)
            continue
        if mode == "ahnpl":
            valid = [i for i in range(B) if m[i, k]]
            if not valid:
                new.append(previous[k])
                continue
            if rule == "mean":
                value = np.mean(pos) - np.mean([neg[i] for i in valid])
            else:
                value = max(pos[i] - neg[i] for i in valid) / 5
        else:
            masked = [m[i, k] * neg[i] for i in range(B)]
            if rule == "mean":
                nonzero = [x for x in masked if x != 0]
                value = np.mean(pos) - (np.mean(nonzero) if nonzero else 0.0)
            else:
                value = max(m[i, k] * pos[i] - masked[i] for i in range(B)) / 5
        new.append(min(max(value, 0.0), upper))
    return np.array(new)


COMPONENTS = ("loss", "loss_itc", "loss_hn", "loss_dm", "loss_hn_text", "loss_hn_image", "loss_dm_pos", "loss_dm_neg")


def assert_matches(result, expected, rtol=1e-9, atol=1e-10):
    for key in COMPONENTS:
        assert result[key].item() == pytest.approx(expected[key], rel=rtol, abs=atol), key


def random_batch(B=3, K=2, D=3, seed=0, dtype=torch.float64, p_valid=0.6):
    generator = torch.Generator().manual_seed(seed)
    v = F.normalize(torch.randn(B, D, generator=generator, dtype=dtype), dim=-1)
    t = F.normalize(v + 0.8 * torch.randn(B, D, generator=generator, dtype=dtype), dim=-1)
    n = F.normalize(t.unsqueeze(1) + 0.6 * torch.randn(B, K, D, generator=generator, dtype=dtype), dim=-1)
    m = torch.rand(B, K, generator=generator) < p_valid
    return v, t, n, m


# A batch small enough to work by hand (D=2, B=2, K=2, s=1): cosines are 0, 1, 0.6 or 0.8.
HAND_V = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
HAND_T = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
HAND_N = torch.tensor([[[0.0, 1.0], [1.0, 0.0]], [[1.0, 0.0], [0.6, 0.8]]], dtype=torch.float64)
HAND_M = torch.tensor([[True, False], [True, True]])  # negative (0, 1) is invalid


# ------------------------------------------------------------------------------------------------
# Hand-worked values
# ------------------------------------------------------------------------------------------------


def test_hand_worked_ahnpl():
    loss = AHNPLLoss(negative_types=("relation", "adj_swap"), positive_margin=1.5).eval()
    loss.thresholds.copy_(torch.tensor([1.5, 0.5]))
    out = loss(HAND_V, HAND_T, HAND_N, HAND_M, torch.tensor(1.0, dtype=torch.float64))
    # image->text rows: [v.t_j] ++ [v.n for valid n]: row 0 = [1,0, 0,1,0.6], row 1 = [0,1, 1,0,0.8]
    i2t = ((math.log(2 * E + 2 + E**0.6) - 1) + (math.log(2 * E + 2 + E**0.8) - 1)) / 2
    t2i = math.log(E + 1) - 1
    assert out["loss_itc"].item() == pytest.approx((i2t + t2i) / 2, rel=1e-12)
    # text rows [t.t] ++ [t.n valid]: [1, 0] and [1, 0, 0.8]; image rows [v.v] ++ [v.u]: the same
    hn_row_mean = ((math.log(E + 1) - 1) + (math.log(E + 1 + E**0.8) - 1)) / 2
    assert out["loss_hn_text"].item() == pytest.approx(hn_row_mean, rel=1e-12)
    assert out["loss_hn_image"].item() == pytest.approx(hn_row_mean, rel=1e-12)
    # positive part relu(1.5 - 1) per row; negative part (relu(1.5+0-1) + relu(1.5+0-1) + relu(0.5+0.8-1)) / 3
    assert out["loss_dm_pos"].item() == pytest.approx(0.5, rel=1e-12)
    assert out["loss_dm_neg"].item() == pytest.approx(1.3 / 3, rel=1e-12)
    expected = (i2t + t2i) / 2 + 0.2 * 2 * hn_row_mean + 0.2 * (0.5 + 1.3 / 3)
    assert out["loss"].item() == pytest.approx(expected, rel=1e-12)
    assert out["thresholds"].tolist() == [1.5, 0.5]


def test_hand_worked_ahnpl_threshold_update():
    loss = AHNPLLoss(negative_types=("relation", "adj_swap")).train()
    loss(HAND_V, HAND_T, HAND_N, HAND_M, 1.0)
    # mean S(v,t) = 1; type 0: valid logits 0 and 0 -> 1; type 1: valid logit 0.8 -> 0.2
    assert loss.thresholds.tolist() == pytest.approx([1.0, 0.2], rel=1e-6)


def test_hand_worked_reference():
    loss = AHNPLLoss(mode="reference", negative_types=("relation", "adj_swap")).eval()
    loss.thresholds.copy_(torch.tensor([1.5, 0.5]))
    out = loss(HAND_V, HAND_T, HAND_N, HAND_M, 1.0)
    # ITC over all negatives, invalid (0,1) = (1,0) included: rows [1,0, 0,1,1,0.6] and [0,1, 1,0,0,0.8]
    i2t = ((math.log(3 * E + 2 + E**0.6) - 1) + (math.log(2 * E + 3 + E**0.8) - 1)) / 2
    t2i = math.log(E + 1) - 1
    assert out["loss_itc"].item() == pytest.approx((i2t + t2i) / 2, rel=1e-12)
    # t @ flat(n).T rows [0,1,1,0.6] (target col 0) and [1,0,0,0.8] (target col 1); v @ flat(u).T alike
    hn = (math.log(1 + 2 * E + E**0.6) + math.log(E + 2 + E**0.8)) / 2
    assert out["loss_hn_text"].item() == pytest.approx(hn, rel=1e-12)
    assert out["loss_hn_image"].item() == pytest.approx(hn, rel=1e-12)
    # no positive part; the same three hinges as above divided by B*K = 4
    assert out["loss_dm_pos"].item() == 0.0
    assert out["loss_dm_neg"].item() == pytest.approx(1.3 / 4, rel=1e-12)
    assert out["loss"].item() == pytest.approx((i2t + t2i) / 2 + 0.2 * 2 * hn + 0.2 * 1.3 / 4, rel=1e-12)


# ------------------------------------------------------------------------------------------------
# Agreement with the loop implementation
# ------------------------------------------------------------------------------------------------

OPTION_SETS = [
    {},
    {"hn_anchor": "cross"},
    {"image_hn_weight": 0.0},
    {"image_hn_weight": 0.5, "positive_margin": 0.9, "lambda_hn": 0.7, "lambda_dm": 1.3},
    {"positive_margin": 0.0},
    {"itc_hard_negatives": False},
    {"use_hn": False},
    {"use_dm": False},
]

NUMPY_NAMES = {"hn_anchor": "anchor", "image_hn_weight": "gamma", "positive_margin": "alpha",
               "itc_hard_negatives": "itc_hn"}


@pytest.mark.parametrize("mode", ["ahnpl", "reference"])
@pytest.mark.parametrize("options", OPTION_SETS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_loop_implementation(mode, options, seed):
    B, K, D = (3, 2, 3) if seed < 2 else (4, 3, 5)
    types = AHNPL_TYPES[:K]
    v, t, n, m = random_batch(B, K, D, seed=seed)
    if seed == 1:
        m[1] = False  # a row without any valid negative
        m[:, 0] = False  # a type without any valid negative
    s = 7.0
    theta = np.array([0.4, 2.5, 1.0][:K])
    if mode == "reference" and options.get("hn_anchor") == "cross":
        with pytest.raises(ValueError, match="hn_anchor"):
            AHNPLLoss(mode=mode, negative_types=types, **options)
        return
    loss = AHNPLLoss(mode=mode, negative_types=types, **options).eval()
    loss.thresholds.copy_(torch.tensor(theta))
    out = loss(v, t, n, m, torch.tensor(s, dtype=torch.float64))
    kwargs = {NUMPY_NAMES.get(key, key): value for key, value in options.items()}
    expected = numpy_loss(v.numpy(), t.numpy(), n.numpy(), m.numpy(), s, theta.astype(np.float32).astype(np.float64), mode=mode, **kwargs)
    assert_matches(out, expected)


@pytest.mark.parametrize("mode", ["ahnpl", "reference"])
@pytest.mark.parametrize("rule", ["mean", "max", "fixed"])
def test_thresholds_match_loop_implementation_over_steps(mode, rule):
    loss = AHNPLLoss(mode=mode, negative_types=AHNPL_TYPES[:3], threshold=rule, fixed_threshold=3.0).train()
    previous = np.full(3, 3.0 if rule == "fixed" else 0.0)
    for step in range(4):
        v, t, n, m = random_batch(4, 3, 5, seed=10 + step)
        if step == 1:
            m[:, 2] = False  # type 2 absent in this batch
        s = 12.0
        out = loss(v, t, n, m, s)
        assert out["thresholds"].numpy() == pytest.approx(previous.astype(np.float32), abs=1e-6)
        # the loss of this step used the previous theta
        expected = numpy_loss(v.numpy(), t.numpy(), n.numpy(), m.numpy(), s, previous.astype(np.float32).astype(np.float64), mode=mode)
        assert_matches(out, expected)
        previous = numpy_thresholds(v.numpy(), t.numpy(), n.numpy(), m.numpy(), s, previous, mode=mode, rule=rule, fixed=3.0)
        assert loss.thresholds.numpy() == pytest.approx(previous, abs=1e-5)
        previous = loss.thresholds.numpy().astype(np.float64)


# ------------------------------------------------------------------------------------------------
# Threshold state
# ------------------------------------------------------------------------------------------------


def test_threshold_clamped_to_bounds():
    v = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    m = torch.ones(2, 2, dtype=torch.bool)
    loss = AHNPLLoss(negative_types=("noun", "verb"), upper_bound=10.0).train()
    # negatives orthogonal to their image: gap S(v,t) - S(v,n) = 100 - 0, clamped to U = 10
    orthogonal = torch.stack([torch.stack([v[1], v[1]]), torch.stack([v[0], v[0]])])
    loss(v, v.clone(), orthogonal, m, 100.0)
    assert loss.thresholds.tolist() == [10.0, 10.0]
    # negatives equal to their image, captions at 45 degrees: gap 70.7 - 100 < 0, clamped to 0
    diagonal = F.normalize(torch.ones(2, 2), dim=-1)
    same = torch.stack([torch.stack([v[0], v[0]]), torch.stack([v[1], v[1]])])
    loss(v, diagonal, same, m, 100.0)
    assert loss.thresholds.tolist() == [0.0, 0.0]


def test_type_without_valid_negative_keeps_value_ahnpl_but_not_reference():
    v, t, n, m = random_batch(3, 2, 3, seed=4)
    m[:, 1] = False
    for mode, expect_kept in (("ahnpl", True), ("reference", False)):
        loss = AHNPLLoss(mode=mode, negative_types=("adj", "noun")).train()
        loss.thresholds.copy_(torch.tensor([0.7, 0.9]))
        loss(v, t, n, m, 5.0)
        if expect_kept:
            assert loss.thresholds[1].item() == pytest.approx(0.9)
        else:  # released code: no valid entry -> negative mean 0 -> theta = clamp(mean S(v,t))
            assert loss.thresholds[1].item() == pytest.approx(min(max(5.0 * (v * t).sum(1).mean().item(), 0), 10), rel=1e-6)


def test_reference_mean_skips_zero_logits_but_ahnpl_does_not():
    # type 0 has two valid negatives with logits 0 and 0.5 * s
    v = torch.tensor([[1.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
    t = v.clone()
    n = torch.tensor([[[0.0, 1.0]], [[0.5, math.sqrt(0.75)]]], dtype=torch.float64)
    m = torch.ones(2, 1, dtype=torch.bool)
    ahnpl = AHNPLLoss(negative_types=("relation",)).train()
    ahnpl(v, t, n, m, 2.0)
    reference = AHNPLLoss(mode="reference", negative_types=("relation",)).train()
    reference(v, t, n, m, 2.0)
    assert ahnpl.thresholds.item() == pytest.approx(2.0 - (0.0 + 1.0) / 2)
    assert reference.thresholds.item() == pytest.approx(2.0 - 1.0)


def test_eval_mode_does_not_update_thresholds():
    v, t, n, m = random_batch(3, 5, 4, seed=5)
    for mode in ("ahnpl", "reference"):
        loss = AHNPLLoss(mode=mode).eval()
        loss.thresholds.copy_(torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5]))
        loss(v, t, n, m, 20.0)
        assert loss.thresholds.tolist() == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])


def test_epoch_start_resets_reference_only_and_next_step_uses_stored_value():
    batches = [random_batch(4, 2, 3, seed=20 + i) for i in range(3)]
    s = 10.0
    reference = AHNPLLoss(mode="reference", negative_types=("adj", "noun")).train()
    ahnpl = AHNPLLoss(negative_types=("adj", "noun")).train()
    for loss in (reference, ahnpl):
        loss(*batches[0], s)
    theta_after_first = numpy_thresholds(*(x.numpy() for x in batches[0]), s, np.zeros(2), mode="reference")
    assert reference.thresholds.numpy() == pytest.approx(theta_after_first, abs=1e-5)
    assert theta_after_first.max() > 0  # the test needs a non-trivial theta
    # next step (same epoch) uses the stored value
    out = reference(*batches[1], s)
    assert out["thresholds"].numpy() == pytest.approx(theta_after_first, abs=1e-6)
    stored_ahnpl = ahnpl.thresholds.clone()
    # new epoch: reference resets to 0 (and uses 0 at the first step), ahnpl keeps its state
    reference.on_epoch_start()
    ahnpl.on_epoch_start()
    assert reference.thresholds.tolist() == [0.0, 0.0]
    assert torch.equal(ahnpl.thresholds, stored_ahnpl)
    assert reference(*batches[2], s)["thresholds"].tolist() == [0.0, 0.0]
    assert torch.equal(ahnpl(*batches[2], s)["thresholds"], stored_ahnpl)


def test_fixed_threshold_is_constant_and_survives_epoch_reset():
    v, t, n, m = random_batch(3, 5, 4, seed=6)
    for mode in ("ahnpl", "reference"):
        loss = AHNPLLoss(mode=mode, threshold="fixed", fixed_threshold=8.0).train()
        for _ in range(2):
            out = loss(v, t, n, m, 30.0)
            assert out["thresholds"].tolist() == [8.0] * 5
            assert loss.thresholds.tolist() == [8.0] * 5
        loss.on_epoch_start()
        assert loss.thresholds.tolist() == [8.0] * 5


def test_thresholds_in_state_dict_and_restored():
    loss = AHNPLLoss().train()
    loss(*random_batch(4, 5, 6, seed=7), 15.0)
    state = loss.state_dict()
    assert set(state) == {"thresholds"} and state["thresholds"].dtype == torch.float32
    assert state["thresholds"].shape == (5,)
    fresh = AHNPLLoss()
    fresh.load_state_dict(state)
    assert torch.equal(fresh.thresholds, loss.thresholds)


def test_returned_thresholds_are_detached_copies():
    loss = AHNPLLoss().train()
    out = loss(*random_batch(4, 5, 6, seed=8), 15.0)
    assert not out["thresholds"].requires_grad
    assert out["thresholds"].tolist() == [0.0] * 5 and loss.thresholds.abs().sum() > 0


# ------------------------------------------------------------------------------------------------
# Gradients
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [{"mode": "ahnpl"}, {"mode": "ahnpl", "hn_anchor": "cross", "positive_margin": 0.95}, {"mode": "reference"}],
)
def test_gradcheck(options):
    """Analytic = numerical gradients. The image-side hard-negative term depends on t and n through
    the stop-gradient shift of u, where the two differ by design: with it on, only v and s are
    checked (t, n constant); with it off (image_hn_weight=0), every input is."""
    generator = torch.Generator().manual_seed(3)
    B, K, D = 3, 2, 3
    v = torch.randn(B, D, generator=generator, dtype=torch.float64).requires_grad_()
    t = torch.randn(B, D, generator=generator, dtype=torch.float64).requires_grad_()
    n = torch.randn(B, K, D, generator=generator, dtype=torch.float64).requires_grad_()
    s = torch.tensor(1.7, dtype=torch.float64, requires_grad=True)
    m = torch.tensor([[True, False], [True, True], [False, False]])

    def make(**extra):
        loss = AHNPLLoss(negative_types=("noun", "verb"), **options, **extra).eval()
        loss.thresholds.copy_(torch.tensor([0.9, 2.3]))
        return loss

    def components(loss, v, t, n, s):
        out = loss(v, t, n, m, s)
        return torch.stack([out[k] for k in COMPONENTS])

    without_image_side = make(image_hn_weight=0.0)
    assert torch.autograd.gradcheck(lambda *x: components(without_image_side, *x), (v, t, n, s), eps=1e-6, atol=1e-7)
    full = make()
    constant_t, constant_n = t.detach(), n.detach()
    assert torch.autograd.gradcheck(lambda v, s: components(full, v, constant_t, constant_n, s), (v, s), eps=1e-6, atol=1e-7)


def test_image_side_gradient_reaches_image_only():
    v, t, n, m = random_batch(3, 2, 4, seed=9)
    v, t, n = (x.clone().requires_grad_() for x in (v, t, n))
    image_loss = image_hard_negative_loss(v, t, n, m, torch.tensor(9.0, dtype=torch.float64))
    image_loss.backward()
    assert t.grad is None and n.grad is None
    assert v.grad.abs().sum() > 0
    # through the module: the reported image part has the same property
    loss = AHNPLLoss(negative_types=("adj", "noun"))
    v.grad = None
    out = loss(v, t, n, m, 9.0)
    grads = torch.autograd.grad(out["loss_hn_image"], (v, t, n), allow_unused=True)
    assert grads[0].abs().sum() > 0
    assert all(g is None or g.abs().sum() == 0 for g in grads[1:])


def test_image_row_is_softplus_ranking_with_unit_vectors():
    v, t, n, m = random_batch(3, 2, 4, seed=10, p_valid=1.1)
    s = 6.0
    got = image_hard_negative_loss(v, t, n, m, torch.tensor(s, dtype=torch.float64))
    rows = [math.log(1 + sum(math.exp(s * (v[i] @ n[i, k] - v[i] @ t[i]).item()) for k in range(2))) for i in range(3)]
    assert got.item() == pytest.approx(np.mean(rows), rel=1e-12)


def test_invalid_negatives_are_excluded_in_ahnpl_mode():
    v, t, n, m = random_batch(4, 3, 5, seed=11)
    m[0] = False
    m[2, 1] = False
    v, t = v.requires_grad_(), t.requires_grad_()
    n1 = n.clone().requires_grad_()
    n2 = n.clone()
    n2[~m] = torch.randn(int((~m).sum()), 5, dtype=torch.float64) * 3
    n2[0, 0] = float("nan")  # even NaN in an invalid slot changes nothing
    n2.requires_grad_()
    results = []
    for negatives in (n1, n2):
        loss = AHNPLLoss(negative_types=AHNPL_TYPES[:3]).train()
        loss.thresholds.copy_(torch.tensor([1.0, 2.0, 3.0]))
        out = loss(v, t, negatives, m, 11.0)
        grads = torch.autograd.grad(out["loss"], (v, t, negatives))
        results.append((out, grads, loss.thresholds.clone()))
    (out1, grads1, theta1), (out2, grads2, theta2) = results
    for key in COMPONENTS:
        assert torch.equal(out1[key], out2[key]), key
    assert torch.equal(grads1[0], grads2[0]) and torch.equal(grads1[1], grads2[1])
    assert torch.equal(theta1, theta2)
    assert torch.all(grads2[2][~m] == 0) and torch.equal(grads1[2][m], grads2[2][m])
    # the released code's math does see them
    flipped = n.clone()
    flipped[~m] = -flipped[~m]
    reference = AHNPLLoss(mode="reference", negative_types=AHNPL_TYPES[:3]).eval()
    assert reference(v, t, n, m, 11.0)["loss"].item() != reference(v, t, flipped, m, 11.0)["loss"].item()


# ------------------------------------------------------------------------------------------------
# Configurations of the literature
# ------------------------------------------------------------------------------------------------


def clip_loss(v, t, s):
    logits = s * v @ t.T
    labels = torch.arange(len(v))
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def test_plain_clip_configurations():
    v, t, n, m = random_batch(4, 5, 6, seed=12)
    expected = clip_loss(v, t, 14.0)
    for mode in ("ahnpl", "reference"):
        everything_off = AHNPLLoss(mode=mode, itc_hard_negatives=False, use_hn=False, use_dm=False)
        assert everything_off(v, t, n, m, 14.0)["loss"].item() == pytest.approx(expected.item(), rel=1e-12)
        no_types = AHNPLLoss(mode=mode, negative_types=())
        out = no_types(v, t, None, None, 14.0)
        assert out["loss"].item() == pytest.approx(expected.item(), rel=1e-12)
        assert out["thresholds"].shape == (0,) and out["loss_hn"].item() == 0 and out["loss_dm"].item() == 0
        empty = no_types(v, t, n[:, :0], m[:, :0], 14.0)
        assert empty["loss"].item() == pytest.approx(expected.item(), rel=1e-12)


def test_negclip_configuration():
    v, t, n, m = random_batch(4, 5, 6, seed=13)
    s = 14.0
    labels = torch.arange(4)
    image_to_text = s * v @ torch.cat([t, n[m]]).T
    expected = (F.cross_entropy(image_to_text, labels) + F.cross_entropy(s * t @ v.T, labels)) / 2
    negclip = AHNPLLoss(use_hn=False, use_dm=False)
    assert negclip(v, t, n, m, s)["loss"].item() == pytest.approx(expected.item(), rel=1e-12)


def test_ce_clip_configuration():
    v, t, n, m = random_batch(4, 5, 6, seed=14)
    s, theta = 14.0, np.array([0.5, 1.0, 1.5, 2.0, 2.5])
    ce_clip = AHNPLLoss(hn_anchor="cross", image_hn_weight=0.0, lambda_hn=0.3, positive_margin=0.0).eval()
    ce_clip.thresholds.copy_(torch.tensor(theta))
    out = ce_clip(v, t, n, m, s)
    parts = numpy_loss(v.numpy(), t.numpy(), n.numpy(), m.numpy(), s, theta, anchor="cross")
    expected = parts["loss_itc"] + 0.3 * parts["loss_hn_text"] + 0.2 * parts["loss_dm_neg"]
    assert out["loss"].item() == pytest.approx(expected, rel=1e-10)
    assert out["loss_hn_image"].item() == 0 and out["loss_dm_pos"].item() == 0


def test_subset_of_types():
    v, t, n, m = random_batch(3, 2, 4, seed=15)
    loss = AHNPLLoss(negative_types=["adj_swap", "verb"]).eval()
    out = loss(v, t, n, m.to(torch.int64), 8.0)
    expected = numpy_loss(v.numpy(), t.numpy(), n.numpy(), m.numpy(), 8.0, np.zeros(2))
    assert_matches(out, expected)
    assert loss.thresholds.shape == (2,)


# ------------------------------------------------------------------------------------------------
# Inputs, dtypes, options
# ------------------------------------------------------------------------------------------------


def test_integer_and_bool_masks_agree():
    v, t, n, m = random_batch(3, 5, 4, seed=16)
    loss = AHNPLLoss().eval()
    a = loss(v, t, n, m, 10.0)
    b = loss(v, t, n, m.to(torch.int32), 10.0)
    assert torch.equal(a["loss"], b["loss"])


def test_low_precision_inputs_are_computed_in_float32():
    v, t, n, m = random_batch(4, 5, 8, seed=17, dtype=torch.float32)
    v16, t16, n16 = (x.to(torch.bfloat16) for x in (v, t, n))
    loss = AHNPLLoss().eval()
    expected = loss(v16.float(), t16.float(), n16.float(), m, torch.tensor(20.0))
    out = loss(v16, t16, n16, m, torch.tensor(20.0))
    assert out["loss"].dtype == torch.float32 and torch.equal(out["loss"], expected["loss"])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = loss(v, t, n, m, torch.tensor(20.0))
    plain = loss(v, t, n, m, torch.tensor(20.0))
    assert under_autocast["loss"].dtype == torch.float32
    assert under_autocast["loss"].item() == pytest.approx(plain["loss"].item(), rel=1e-6)
    # the gradient reaches bf16 leaves in their dtype
    leaf = v16.clone().requires_grad_()
    loss(leaf, t16, n16, m, 20.0)["loss"].backward()
    assert leaf.grad.dtype == torch.bfloat16 and leaf.grad.abs().sum() > 0


def test_logit_scale_gets_gradient():
    v, t, n, m = random_batch(3, 5, 4, seed=18)
    s = torch.tensor(10.0, dtype=torch.float64, requires_grad=True)
    AHNPLLoss()(v, t, n, m, s)["loss"].backward()
    assert s.grad is not None and s.grad.item() != 0


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"mode": "released"}, ["mode", "'ahnpl'", "'reference'"]),
        ({"hn_anchor": "image"}, ["hn_anchor", "'self'", "'cross'"]),
        ({"threshold": "median"}, ["threshold", "'mean'", "'max'", "'fixed'"]),
        ({"negative_types": ["relation", "colour"]}, ["colour", *AHNPL_TYPES]),
        ({"negative_types": ["noun", "adj"]}, ["order"]),
        ({"negative_types": ["noun", "noun"]}, ["noun", "twice"]),
        ({"negative_types": "nouns"}, ["unknown negative type 'nouns'", "ahnpl", "negclip"]),
        ({"negative_types": 5}, ["list of type names or a group name"]),
        ({"negative_types": ["negclip_np", "relation"]}, ["order", "['relation', 'negclip_np']"]),
        ({"use_hn": "false"}, ["use_hn", "True or False"]),
        ({"lambda_hn": -0.1}, ["lambda_hn", ">= 0"]),
        ({"upper_bound": "ten"}, ["upper_bound"]),
        ({"mode": "reference", "hn_anchor": "cross"}, ["hn_anchor", "reference"]),
    ],
)
def test_bad_options_raise(kwargs, words):
    with pytest.raises(ValueError) as error:
        AHNPLLoss(**kwargs)
    for word in words:
        assert word in str(error.value)


def test_bad_inputs_raise():
    v, t, n, m = random_batch(3, 5, 4, seed=19)
    loss = AHNPLLoss()
    with pytest.raises(ValueError, match=r"neg_feats must have shape \[B, K, D\] = \(3, 5, 4\).*relation"):
        loss(v, t, n[:, :2], m[:, :2], 10.0)
    with pytest.raises(ValueError, match="neg_mask must have shape"):
        loss(v, t, n, m[:, :2], 10.0)
    with pytest.raises(ValueError, match="text_feats shape"):
        loss(v, t[:2], n, m, 10.0)
    with pytest.raises(ValueError, match=r"only 0/1, got 2 at index \(1, 3\)"):
        bad = m.to(torch.int64)
        bad[1, 3] = 2
        loss(v, t, n, bad, 10.0)
    with pytest.raises(ValueError, match="bool or integer"):
        loss(v, t, n, m.double(), 10.0)
    with pytest.raises(ValueError, match="logit_scale must hold one value"):
        loss(v, t, n, m, torch.ones(2))
    with pytest.raises(ValueError, match="neg_feats and neg_mask must be tensors"):
        loss(v, t, n, None, 10.0)


@pytest.mark.parametrize("mode", ["ahnpl", "reference"])
def test_a_batch_without_negatives_is_the_k0_loss_and_leaves_theta(mode):
    """One loss per model: given no negatives, a K=5 loss returns exactly what a K=0 loss of the same
    options returns, and its theta neither changes nor collects statistics."""
    v, t, n, m = random_batch(4, 5, 8, seed=23)
    loss = AHNPLLoss(mode=mode)
    loss.train()
    loss(v, t, n, m, 10.0)  # theta moves away from 0
    before = loss.thresholds.clone()
    assert bool((before > 0).any())
    without = loss(v, t, None, None, 10.0)
    plain = AHNPLLoss(mode=mode, negative_types=())(v, t, None, None, 10.0)
    for key in ("loss", "loss_itc", "loss_hn", "loss_dm", "loss_dm_pos", "loss_dm_neg"):
        assert torch.equal(without[key], plain[key]), key
    assert torch.equal(loss.thresholds, before) and torch.equal(without["thresholds"], before)
    loss.follow_optimizer_steps(True)
    loss(v, t, None, None, 10.0)
    assert loss._pending_statistics == []


def test_weighted_terms_sum_to_the_loss_and_use_itc_drops_one():
    v, t, n, m = random_batch(4, 5, 8, seed=29)
    out = AHNPLLoss(lambda_hn=0.5, lambda_dm=0.25)(v, t, n, m, 10.0)
    assert list(out["weighted"]) == ["loss_itc", "loss_hn", "loss_dm"]
    assert torch.equal(out["weighted"]["loss_hn"], 0.5 * out["loss_hn"])
    assert torch.equal(out["weighted"]["loss_dm"], 0.25 * out["loss_dm"])
    assert torch.equal(out["loss"], out["loss_itc"] + 0.5 * out["loss_hn"] + 0.25 * out["loss_dm"])
    no_itc = AHNPLLoss(lambda_hn=0.5, lambda_dm=0.25, use_itc=False)(v, t, n, m, 10.0)
    assert list(no_itc["weighted"]) == ["loss_hn", "loss_dm"] and no_itc["loss_itc"].item() == 0.0
    assert torch.equal(no_itc["loss"], 0.5 * out["loss_hn"] + 0.25 * out["loss_dm"])


def test_negative_type_names_come_from_the_contract():
    from ahnpl_plugin import contract, negatives

    assert AHNPL_TYPES is contract.AHNPL_TYPES and negatives.AHNPL_TYPES is contract.AHNPL_TYPES
    assert AHNPL_TYPES == ("relation", "adj_swap", "adj", "noun", "verb")  # the order of theta and of the columns
    assert AHNPLLoss(negative_types="ahnpl").negative_types == contract.AHNPL_TYPES
    assert AHNPLLoss(negative_types=["relation", "negclip_np"]).num_types == 2


# ------------------------------------------------------------------------------------------------
# Gradient accumulation: theta follows optimiser steps
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["ahnpl", "reference"])
@pytest.mark.parametrize("rule", ["mean", "max"])
def test_thresholds_after_four_micro_batches_equal_one_four_times_larger_batch(mode, rule):
    v, t, n, m = random_batch(16, 3, 5, seed=21)
    m[:4, 2] = False  # type 2 absent from the first micro-batch, present in the others
    m[4:, 1] = False  # type 1 only in the first micro-batch
    start = torch.tensor([0.3, 0.6, 0.9])
    whole = AHNPLLoss(mode=mode, negative_types=AHNPL_TYPES[:3], threshold=rule).train()
    whole.thresholds.copy_(start)
    whole(v, t, n, m, 12.0)
    grouped = AHNPLLoss(mode=mode, negative_types=AHNPL_TYPES[:3], threshold=rule).train()
    grouped.thresholds.copy_(start)
    grouped.follow_optimizer_steps()
    for rows in torch.arange(16).split(4):
        out = grouped(v[rows], t[rows], n[rows], m[rows], 12.0)
        assert out["thresholds"].tolist() == pytest.approx(start.tolist())  # every micro-batch used theta of the last step
        assert grouped.thresholds.tolist() == pytest.approx(start.tolist())  # not moved inside the group
    grouped.step_thresholds()
    assert grouped.thresholds.tolist() == pytest.approx(whole.thresholds.tolist(), abs=1e-6)
    expected = numpy_thresholds(*(x.numpy() for x in (v, t, n, m)), 12.0, start.numpy().astype(np.float64), mode=mode, rule=rule)
    assert grouped.thresholds.numpy() == pytest.approx(expected, abs=1e-5)
    per_forward = AHNPLLoss(mode=mode, negative_types=AHNPL_TYPES[:3], threshold=rule).train()
    for rows in torch.arange(16).split(4):
        per_forward(v[rows], t[rows], n[rows], m[rows], 12.0)
    assert not np.allclose(per_forward.thresholds.numpy(), expected, atol=1e-3)  # the old behaviour differs


def test_step_thresholds_without_forwards_and_eval_forwards_leave_theta():
    v, t, n, m = random_batch(4, 2, 3, seed=5)
    loss = AHNPLLoss(negative_types=("adj", "noun")).train()
    loss.thresholds.copy_(torch.tensor([0.7, 0.9]))
    loss.follow_optimizer_steps()
    loss.step_thresholds()
    loss.eval()
    loss(v, t, n, m, 5.0)
    loss.step_thresholds()
    assert loss.thresholds.tolist() == pytest.approx([0.7, 0.9])
    loss.train()
    loss(v, t, n, m, 5.0)
    loss.on_epoch_start()  # mode ahnpl keeps theta but drops a group cut by the epoch's end
    loss.step_thresholds()
    assert loss.thresholds.tolist() == pytest.approx([0.7, 0.9])
    loss(v, t, n, m, 5.0)
    loss.follow_optimizer_steps(False)  # switching back applies what was collected
    assert loss.thresholds.tolist() == pytest.approx(numpy_thresholds(v, t, n, m, 5.0, [0.7, 0.9]).tolist(), abs=1e-5)
    assert "_pending_statistics" not in loss.state_dict()
