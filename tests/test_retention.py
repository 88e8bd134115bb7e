"""Keeping zero-shot accuracy (issue 19): WiSE-FT from a checkpoint's recorded start, LoRA and the
other fine-tuning scopes, distillation to the starting model (frozen or EMA), L2-SP, and the
focal / label-smoothed hard-negative rows. Known answers throughout: endpoints reproduced exactly,
hand-computed values and gradients, frozen weights bit-identical, resumed runs bit-identical."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ahnpl_plugin import compat

compat.apply()

from ahnpl_plugin.errors import ConfigError, StartWeightsError, UserError  # noqa: E402
from ahnpl_plugin.losses import AHNPLLoss, own_negatives_cross_entropy, own_negatives_focal_cross_entropy  # noqa: E402
from ahnpl_plugin.models.clip.model import AHNPLClip  # noqa: E402
from helpers.runs import tiny_clip_weights_file  # noqa: E402
from ahnpl_plugin.models.lora import has_lora, merge_state_dict  # noqa: E402
from ahnpl_plugin.models.clip.towers import TextEncoder, encode_images, encode_tokens  # noqa: E402
from ahnpl_plugin.models.start_weights import interpolate, state_sha256  # noqa: E402
from ahnpl_plugin.retention import distillation_rows, ema_update, feature_distillation, l2sp  # noqa: E402
from ahnpl_plugin.wise import wise_checkpoint  # noqa: E402

CAPTIONS = ["a red circle left of a blue square", "a green cross", "a big yellow diamond", "two purple circles"]
NEGATIVES = [["a blue circle left of a red square"] * 5, ["a red cross"] * 5, ["###"] * 5, ["two purple squares"] * 5]


def _model(start, **extra) -> AHNPLClip:
    return AHNPLClip.from_config({"arch": "ahnpl_clip", "model_type": "tiny", "pretrained": str(start), "act": "gelu",
                                  **extra})


def _batch(seed=0):
    generator = torch.Generator().manual_seed(seed)
    return {
        "image": torch.randn(4, 3, 32, 32, generator=generator),
        "text_input": list(CAPTIONS),
        "hard_negatives": [list(n) for n in NEGATIVES],
        "hard_negative_mask": torch.tensor([[n != "###" for n in row] for row in NEGATIVES]),
    }


def _train(model, steps, first=0, optimizer=None, lr=1e-3):
    optimizer = optimizer or torch.optim.AdamW(model.get_optimizer_params(0.1)[0]["params"]
                                               + model.get_optimizer_params(0.1)[1]["params"], lr=lr, weight_decay=0.1)
    model.train()
    for step in range(first, first + steps):
        model(_batch(step))["loss"].backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        model.clamp_logit_scale()
        model.on_optimizer_step()
    return optimizer


# ------------------------------------------------------------------------------ WiSE-FT


def test_interpolate_endpoints_exact_and_training_state_kept():
    start = {"w": torch.tensor([1.0, 2.0]), "logit_scale": torch.tensor(2.0)}
    tuned = {"w": torch.tensor([3.0, -2.0]), "logit_scale": torch.tensor(4.0), "loss.thresholds": torch.tensor([5.0])}
    for alpha, expected in ((0.0, start), (1.0, tuned)):
        mixed = interpolate(start, tuned, alpha)
        assert torch.equal(mixed["w"], expected["w"]) and torch.equal(mixed["logit_scale"], expected["logit_scale"])
    half = interpolate(start, tuned, 0.25)
    assert torch.equal(half["w"], torch.tensor([1.5, 1.0]))
    assert torch.equal(half["logit_scale"], torch.tensor(2.5))
    assert torch.equal(half["loss.thresholds"], tuned["loss.thresholds"])  # training state: fine-tuned value
    with pytest.raises(StartWeightsError, match=r"\[0, 1\]"):
        interpolate(start, tuned, 1.5)
    with pytest.raises(StartWeightsError, match="different entries"):
        interpolate({"w": start["w"]}, {"v": tuned["w"]}, 0.5)


def _finetuned_checkpoint(tmp_path, start, **extra):
    model = _model(start, **extra)
    _train(model, 2)
    path = tmp_path / "checkpoint_best.pth"
    torch.save({"model": model.state_dict(), "config": {"model": {"arch": "ahnpl_clip", "model_type": "tiny", **extra}},
                "start_weights": model.start_weights, "epoch": 0}, path)
    return model, path


@pytest.mark.slow  # trains
def test_wise_checkpoint_endpoints_from_the_recorded_start(tmp_path):
    start = tiny_clip_weights_file(tmp_path / "start.pt")
    model, path = _finetuned_checkpoint(tmp_path, start)
    start_state = torch.load(start)
    assert model.start_weights["sha256"] == state_sha256(start_state)
    at_zero = wise_checkpoint(str(path), 0.0)["model"]
    at_one = wise_checkpoint(str(path), 1.0)["model"]
    tuned = model.state_dict()
    for key, value in start_state.items():
        assert torch.equal(at_zero["clip." + key], value), key
        assert torch.equal(at_one["clip." + key], tuned["clip." + key]), key
    assert torch.equal(at_zero["loss.thresholds"], tuned["loss.thresholds"])
    # the mixed checkpoint evaluates in a plain model
    plain = _model(start)
    plain.load_checkpoint(str(path), state=at_zero, checkpoint={})
    # a changed start file is refused by its hash; a moved one can be named with start=
    moved = tmp_path / "moved.pt"
    start.rename(moved)
    with pytest.raises(StartWeightsError, match="cannot rebuild"):
        wise_checkpoint(str(path), 0.5)
    assert torch.equal(wise_checkpoint(str(path), 0.0, start=str(moved))["model"]["clip.logit_scale"], start_state["logit_scale"])
    other = tiny_clip_weights_file(tmp_path / "start.pt", seed=1)
    with pytest.raises(StartWeightsError, match="not the ones"):
        wise_checkpoint(str(path), 0.5, start=str(other))


def test_wise_refuses_random_init_start(tmp_path):
    torch.manual_seed(0)
    model = AHNPLClip.from_config({"arch": "ahnpl_clip", "model_type": "tiny", "pretrained": ""})
    path = tmp_path / "c.pth"
    torch.save({"model": model.state_dict(), "start_weights": model.start_weights}, path)
    with pytest.raises(StartWeightsError, match="random initialisation"):
        wise_checkpoint(str(path), 0.5)


@pytest.mark.slow  # trains and exports
def test_export_cli_wise_open_clip_and_ahnpl_clip(tmp_path):
    from ahnpl_plugin import export

    start = tiny_clip_weights_file(tmp_path / "start.pt")
    model, path = _finetuned_checkpoint(tmp_path, start, finetune="lora")
    assert export.main(["--checkpoint", str(path), "--wise", "0", str(tmp_path / "out.pt")]) == 0
    exported = torch.load(tmp_path / "out.pt")
    for key, value in torch.load(start).items():
        assert torch.equal(exported[key], value), key
    assert export.main(["--checkpoint", str(path), "--wise", "1", "--format", "ahnpl_clip", str(tmp_path / "w.pth")]) == 0
    stored = torch.load(tmp_path / "w.pth", weights_only=False)
    assert not has_lora(stored["model"]) and "finetune" not in stored["config"]["model"]
    assert export.main(["--checkpoint", str(path), "--wise", "2", str(tmp_path / "bad.pt")]) == 2


# ------------------------------------------------------------------------------ LoRA and scopes


def test_lora_merged_equals_unmerged(tmp_path):
    start = tiny_clip_weights_file(tmp_path / "start.pt")
    torch.manual_seed(3)
    model = _model(start, finetune="lora", lora={"rank": 2, "alpha": 4.0})
    with torch.no_grad():  # non-zero adapters (B starts at 0)
        for name, param in model.named_parameters():
            if name.endswith("lora_B"):
                param.normal_(0, 0.05)
    model.eval()
    merged = merge_state_dict(model.state_dict())
    plain = _model(start)
    plain.load_state_dict(merged, strict=True)
    plain.eval()
    images = _batch()["image"]
    with torch.no_grad():
        assert (model.encode_image(images) - plain.encode_image(images)).abs().max() < 1e-6
        assert (model.encode_text(CAPTIONS) - plain.encode_text(CAPTIONS)).abs().max() < 1e-6
        assert not torch.equal(plain.clip.visual.conv1.weight, torch.load(start)["visual.conv1.weight"])
        with torch.autocast("cpu", dtype=torch.bfloat16):  # bf16: the merge rounds once, the adapter path per product
            assert (model.encode_image(images) - plain.encode_image(images)).abs().max() < 1e-2
            assert (model.encode_text(CAPTIONS) - plain.encode_text(CAPTIONS)).abs().max() < 1e-2
    # a LoRA checkpoint loads into a plain model (merged on the way)
    path = tmp_path / "lora.pth"
    torch.save({"model": model.state_dict()}, path)
    plain.load_checkpoint(str(path))
    with torch.no_grad():
        assert (model.encode_image(images) - plain.encode_image(images)).abs().max() < 1e-6


def test_lora_placement_is_fsc_clip_default(tmp_path):
    model = _model(tiny_clip_weights_file(tmp_path / "start.pt"), finetune="lora")
    adapted = {n.split(".parametrizations.")[0] + "." + n.split(".parametrizations.")[1].split(".")[0]
               for n, _ in model.named_parameters() if ".lora_A" in n}
    assert "clip.visual.conv1.weight" in adapted
    assert "clip.transformer.resblocks.0.attn.in_proj_weight" in adapted
    assert "clip.transformer.resblocks.0.attn.out_proj.weight" in adapted
    assert "clip.visual.transformer.resblocks.1.mlp.c_fc.weight" in adapted
    a = dict(model.named_parameters())["clip.transformer.resblocks.0.attn.parametrizations.in_proj_weight.0.lora_A"]
    assert a.shape[:2] == (3, 4)  # q, k and v adapters, rank 4


@pytest.mark.parametrize("extra", [  # each trains 3 steps: two in the fast loop, all in the full run
    {"finetune": "lora"}, {"finetune": "text"}, pytest.param({"finetune": "vision"}, marks=pytest.mark.slow),
    pytest.param({"finetune": "last_n", "finetune_last_n": 1}, marks=pytest.mark.slow),
    pytest.param({"distill": {"weight": 1.0, "ema": 0.9}}, marks=pytest.mark.slow),
])
def test_frozen_parameters_bit_identical_and_out_of_the_optimiser(tmp_path, extra):
    model = _model(tiny_clip_weights_file(tmp_path / "start.pt"), **extra)
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert frozen and trained
    in_optimiser = {id(p) for g in model.get_optimizer_params(0.1) for p in g["params"]}
    assert all(id(p) not in in_optimiser for n, p in model.named_parameters() if n in frozen)
    # every trained parameter gets a gradient: what DDP (find_unused_parameters=False) needs
    model(_batch())["loss"].backward()
    assert [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None] == []
    model.zero_grad(set_to_none=True)
    _train(model, 3)
    after = dict(model.named_parameters())
    teacher = extra.get("distill", {}).get("ema")
    for name, value in frozen.items():
        if teacher and name.startswith("reference."):
            continue  # the EMA teacher moves by its own update, not by the optimiser
        assert torch.equal(after[name], value), name
    if extra.get("finetune") == "text":
        assert all(not n.startswith("clip.visual.") for n in trained)


def test_finetune_config_errors(tmp_path):
    start = tiny_clip_weights_file(tmp_path / "start.pt")
    with pytest.raises(ConfigError, match="model.finetune"):
        _model(start, finetune="half")
    with pytest.raises(ConfigError, match="finetune: lora"):
        _model(start, lora={"rank": 4})
    with pytest.raises(ConfigError, match="finetune_last_n"):
        _model(start, finetune="last_n")
    with pytest.raises(ConfigError, match="l2sp"):
        _model(start, finetune="lora", l2sp=0.1)
    with pytest.raises(ConfigError, match="distill.kind"):
        _model(start, distill={"weight": 1.0, "kind": "kl"})


# ------------------------------------------------------------------------------ distillation, L2-SP


def test_distillation_value_and_gradient_by_hand():
    student = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    teacher = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    loss = feature_distillation(student, teacher, "mse")  # rows: (1 + 1) / 2 = 1 and 0
    assert loss.item() == 0.5
    loss.backward()  # d/ds of mean_rows mean_d (s - t)^2 = 2 (s - t) / (B D)
    assert torch.equal(student.grad, torch.tensor([[0.5, -0.5], [0.0, 0.0]]))
    student.grad = None
    loss = feature_distillation(student, teacher, "cosine")  # rows: 1 - 0 and 1 - 1
    assert loss.item() == 0.5
    loss.backward()  # d(1 - cos)/ds at s=(1,0), t=(0,1): -(t/|s||t| - (s.t) s/...) = (0, -1); halved by the mean
    assert torch.allclose(student.grad, torch.tensor([[0.0, -0.5], [0.0, 0.0]]), atol=1e-7)
    assert distillation_rows(student, teacher).requires_grad and not teacher.requires_grad


def test_model_distillation_term_and_teacher(tmp_path):
    model = _model(tiny_clip_weights_file(tmp_path / "start.pt"), distill={"weight": 2.0, "kind": "mse"})
    out = model(_batch())
    assert out["loss_distill"].item() == 0.0  # student = teacher at the start
    _train(model, 2)
    model.eval()
    out = model.train()(_batch(7))
    with torch.no_grad():
        images = _batch(7)["image"]
        teacher_images = F.normalize(encode_images(model.reference, images, True).float(), dim=-1)
        teacher_texts = F.normalize(encode_tokens(TextEncoder(model.reference), model.tokenize(CAPTIONS)).float(), dim=-1)
        by_hand = F.mse_loss(model.encode_image(images), teacher_images) + F.mse_loss(model.encode_text(CAPTIONS), teacher_texts)
    assert math.isclose(out["loss_distill"].item(), by_hand.item(), rel_tol=1e-5)
    parts = out["loss_itc"] + model.loss.lambda_hn * out["loss_hn"] + model.loss.lambda_dm * out["loss_dm"]
    assert math.isclose(out["loss"].item(), (parts + 2.0 * out["loss_distill"]).item(), rel_tol=1e-6)


def test_l2sp_and_ema_by_hand(tmp_path):
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    value = l2sp([(w, torch.tensor([0.0, 4.0]))])
    assert value.item() == 5.0
    value.backward()
    assert torch.equal(w.grad, torch.tensor([2.0, -4.0]))
    teacher = [torch.tensor([1.0])]
    ema_update(teacher, [torch.tensor([3.0])], 0.75)
    assert torch.equal(teacher[0], torch.tensor([1.5]))
    model = _model(tiny_clip_weights_file(tmp_path / "start.pt"), l2sp=0.5)
    assert model(_batch())["loss_l2sp"].item() == 0.0
    _train(model, 1)
    by_hand = sum(((p - model.reference.get_parameter(n)) ** 2).sum() for n, p in model.clip.named_parameters())
    assert math.isclose(model(_batch())["loss_l2sp"].item(), by_hand.item(), rel_tol=1e-5)


@pytest.mark.slow  # two trainings per case
@pytest.mark.parametrize("extra", [{"distill": {"weight": 1.0, "ema": 0.9}}, {"finetune": "lora"}])
def test_resume_exact(tmp_path, extra):
    start = tiny_clip_weights_file(tmp_path / "start.pt")
    torch.manual_seed(0)
    straight = _model(start, **extra)
    _train(straight, 4)
    torch.manual_seed(0)
    first = _model(start, **extra)
    optimizer = _train(first, 2)
    saved = {"model": first.state_dict(), "optimizer": optimizer.state_dict()}
    torch.manual_seed(123)  # a new process: other adapter init, overwritten by the checkpoint
    resumed = _model(start, **extra)
    resumed.load_state_dict(saved["model"], strict=True)
    params = [p for g in resumed.get_optimizer_params(0.1) for p in g["params"]]
    optimizer = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.1)
    optimizer.load_state_dict(saved["optimizer"])
    _train(resumed, 2, first=2, optimizer=optimizer)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    if "distill" in extra:  # the EMA teacher moved, and was restored with the checkpoint
        assert not torch.equal(resumed.reference.visual.conv1.weight, torch.load(start)["visual.conv1.weight"])


# ------------------------------------------------------------------------------ focal / smoothing


def test_focal_label_smoothing_by_hand():
    anchor = torch.tensor([2.0, 1.0])
    negatives = torch.tensor([[0.0, 5.0], [3.0, -1.0]])
    mask = torch.tensor([[True, False], [False, False]])  # row 1 has no valid negative: left out
    plain = own_negatives_cross_entropy(anchor, negatives, mask)
    # the same value (the loss itself takes the plain path when both are 0)
    assert torch.allclose(own_negatives_focal_cross_entropy(anchor, negatives, mask, 0.0, 0.0), plain, rtol=1e-6)
    p0 = math.exp(2) / (math.exp(2) + 1)
    p1 = 1 - p0
    q0, q1 = 0.8 + 0.1, 0.1  # smoothing 0.2 over the row's 2 classes
    by_hand = -(q0 * (1 - p0) ** 2 * math.log(p0) + q1 * (1 - p1) ** 2 * math.log(p1))
    value = own_negatives_focal_cross_entropy(anchor, negatives, mask, 2.0, 0.2)
    assert math.isclose(value.item(), by_hand, rel_tol=1e-6)
    with pytest.raises(ValueError, match="mode 'ahnpl' only"):
        AHNPLLoss(mode="reference", hn_focal_gamma=2.0)
    loss = AHNPLLoss(hn_focal_gamma=2.0)  # focal alone down-weights every row: (1 - p)^2 < 1
    v, t = F.normalize(torch.randn(3, 8), dim=-1), F.normalize(torch.randn(3, 8), dim=-1)
    n = F.normalize(torch.randn(3, 5, 8), dim=-1)
    out = loss(v, t, n, torch.ones(3, 5, dtype=torch.bool), 10.0)
    assert out["loss_hn_text"] < AHNPLLoss()(v, t, n, torch.ones(3, 5, dtype=torch.bool), 10.0)["loss_hn_text"]


def test_user_errors_are_user_errors():
    assert issubclass(StartWeightsError, UserError)


@pytest.mark.parametrize("name", ["coco_lora", "coco_distill", "coco_fsc", "coco_l2sp", "coco_text_only", "coco_low_lr"])
def test_retention_recipes_validate(name):
    from pathlib import Path

    import yaml

    from ahnpl_plugin.models.clip.options import model_options

    config = yaml.safe_load((Path(__file__).resolve().parent.parent / "projects" / "ahnpl" / f"{name}.yaml").read_text())
    options = model_options(config["model"])
    AHNPLLoss(**options.loss)
    reference = yaml.safe_load((Path(__file__).resolve().parent.parent / "projects" / "ahnpl" / "coco.yaml").read_text())
    assert config["datasets"] == reference["datasets"]  # same data as the published recipe
    assert (options.finetune != "full" or options.keeps_start or options.loss.get("hn_focal_gamma")
            or float(config["run"]["init_lr"]) < float(reference["run"]["init_lr"]))


@pytest.mark.slow  # trains, then evaluates a sweep
def test_wise_sweep_writes_checkpoints_table_and_plot(tmp_path, monkeypatch):
    """The sweep's own work (one checkpoint per alpha, table, JSON, plot) with planted evaluation
    scores; the evaluation itself is python -m ahnpl_plugin.evaluate, tested with its configs."""
    from ahnpl_plugin import wise

    start = tiny_clip_weights_file(tmp_path / "start.pt")
    _, path = _finetuned_checkpoint(tmp_path, start)
    planted = {"compositional": {0.0: 0.6, 0.5: 0.7, 1.0: 0.8}, "zeroshot": {0.0: 0.5, 0.5: 0.45, 1.0: 0.3}}

    def fake_evaluate(cfg, checkpoint, out, options):
        alpha = torch.load(checkpoint, weights_only=False)["wise"]["alpha"]
        return planted[cfg][alpha]

    monkeypatch.setattr(wise, "_evaluate", fake_evaluate)
    rows = wise.sweep(str(path), [0.0, 0.5, 1.0], "compositional", "zeroshot", tmp_path / "sweep")
    assert [(r["alpha"], r["compositional"], r["zero_shot"]) for r in rows] == [(0.0, 0.6, 0.5), (0.5, 0.7, 0.45), (1.0, 0.8, 0.3)]
    table = (tmp_path / "sweep" / "wise_sweep.md").read_text()
    assert "| alpha 0.5 | 70.0 | 45.0 |" in table
    assert (tmp_path / "sweep" / "wise_sweep.png").stat().st_size > 1000
    assert sorted(p.name for p in (tmp_path / "sweep").glob("wise_*.pth")) == ["wise_0.5.pth", "wise_0.pth", "wise_1.pth"]
