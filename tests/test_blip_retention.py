"""Keeping zero-shot accuracy with ahnpl_blip (issue 19): the start record and WiSE-FT from a BLIP
checkpoint, ``model.finetune`` scopes, distillation to the starting towers, L2-SP; and the
unchanged default. Known answers: endpoints reproduced exactly, frozen towers (and their momentum
copies) bit-identical, distillation and L2-SP against a recomputation by hand, and the default
config's losses equal to those recorded before the change."""

from __future__ import annotations

import json

import pytest
import torch

from ahnpl_plugin import compat

compat.apply()

from ahnpl_plugin.errors import ConfigError, StartWeightsError  # noqa: E402
from ahnpl_plugin.models.start_weights import state_sha256, weight_entries  # noqa: E402

CAPTIONS = ["a red circle left of a blue square", "a green cross", "a big yellow diamond", "two purple circles"]
NEGATIVES = [["a blue circle left of a red square", "a red circle right of a blue square"], ["a red cross", "###"],
             ["###", "###"], ["two purple squares", "three purple circles"]]
TYPES = ["relation", "noun"]


@pytest.fixture(scope="module", autouse=True)
def _registered():
    from ahnpl_plugin import register

    register()


def _config(arch: str = "ahnpl_blip", **changes) -> dict:
    from lavis.common.registry import registry
    from omegaconf import OmegaConf

    cls = registry.get_model_class(arch)
    base = {"loss": {"negative_types": TYPES}}
    if arch == "ahnpl_blip":
        base["queue_size"] = 8
    cfg = OmegaConf.merge(OmegaConf.load(cls.default_config_path("tiny")).model, base, changes)
    return OmegaConf.to_container(cfg)


def _model(arch: str = "ahnpl_blip", seed: int = 0, **changes):
    from lavis.common.registry import registry

    torch.manual_seed(seed)
    return registry.get_model_class(arch).from_config(_config(arch, **changes))


def _batch(step: int) -> dict:
    generator = torch.Generator().manual_seed(step)
    return {"image": torch.randn(4, 3, 32, 32, generator=generator), "text_input": list(CAPTIONS),
            "hard_negatives": [list(n) for n in NEGATIVES],
            "hard_negative_mask": torch.tensor([[t != "###" for t in row] for row in NEGATIVES]),
            "hard_negative_types": list(TYPES), "epoch": 0, "iters": 3, "num_iters_per_epoch": 10}


def _optimizer(model, lr=1e-3):
    return torch.optim.AdamW(model.get_optimizer_params(0.05), lr=lr)


def _steps(model, steps: int, optimizer=None, first: int = 0) -> list[dict]:
    optimizer = optimizer or _optimizer(model)
    model.train()
    rows = []
    for step in range(first, first + steps):
        out = model(_batch(step))
        out["loss"].backward()
        optimizer.step()
        optimizer.zero_grad()
        model.on_optimizer_step()
        rows.append({k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in out.items()})
    return rows


def _start_file(tmp_path, seed: int = 0):
    """A tiny BLIP's state dict as a file: a reproducible start (model.pretrained)."""
    path = tmp_path / f"blip_start_{seed}.pth"
    torch.save({"model": _model(seed=seed).state_dict()}, path)
    return path


# ------------------------------------------------------------------ the default is unchanged

# Recorded at commit 206d5c3 (before BLIP took retention options) on an x86_64 CPU, torch 2.14.1,
# one thread, by the same three AdamW steps as _steps: the loss of each step (float.hex) and the
# sum of every floating-point state entry after them. Bit-exact on the CPU that recorded them; on
# another (AVX2 against AVX-512 kernels) float32 rounding moves them by up to ~7e-6 relative after
# three steps, so they are compared to 1e-4: any change of what is trained (a loss term, a frozen
# parameter, a learning rate) moves them by far more.
RECORDED_REL = 1e-4
BEFORE = {
    "ahnpl_blip": (["0x1.3e66d00000000p+2", "0x1.efad260000000p+1", "0x1.bd5a1a0000000p+1"], "0x1.82d515275c6fdp+10"),
    "ahnpl_clip": (["0x1.26b6580000000p+1", "0x1.385e160000000p+1", "0x1.66afbc0000000p+1"], "0x1.518ddb150871bp+10"),
}


@pytest.mark.parametrize("arch", sorted(BEFORE))
def test_a_config_without_retention_keys_trains_exactly_as_before(arch):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = _model(arch)
        rows = _steps(model, 3)
        total = sum(p.detach().double().sum() for p in model.state_dict().values() if p.is_floating_point())
    finally:
        torch.set_num_threads(threads)
    losses, final = BEFORE[arch]
    assert [float(r["loss"]) for r in rows] == pytest.approx([float.fromhex(x) for x in losses], rel=RECORDED_REL)
    assert float(total) == pytest.approx(float.fromhex(final), rel=RECORDED_REL)
    assert "loss_distill" not in rows[0] and "loss_l2sp" not in rows[0] and model.reference is None


# ------------------------------------------------------------------ start record and WiSE-FT


def test_blip_records_its_start_weights_without_queues_and_theta(tmp_path):
    start = _start_file(tmp_path)
    model = _model(pretrained=str(start))
    record = model.start_weights
    assert record["arch"] == "ahnpl_blip" and record["key"] == "pretrained" and record["reproducible"]
    assert record["source"] == str(start) and record["model_type"] == "tiny"
    state = model.state_dict()
    assert record["sha256"] == state_sha256(weight_entries(state))
    hashed = weight_entries(state)
    assert "visual_encoder_m.cls_token" in hashed and "temp" in hashed  # momentum encoders are weights
    assert not {"image_queue", "text_queue", "idx_queue", "queue_ptr", "loss.thresholds"} & set(hashed)
    fresh = _model()  # random init: recorded, but nothing can rebuild it
    assert fresh.start_weights["reproducible"] is False
    again = _model(load_finetuned=True, finetuned=str(start))
    assert again.start_weights["key"] == "finetuned" and again.start_weights["sha256"] == record["sha256"]


def _runner_checkpoint(tmp_path, model, cfg: dict):
    """What ahnpl_runner saves (model, config, start_weights)."""
    path = tmp_path / "checkpoint_best.pth"
    torch.save({"model": model.state_dict(), "config": {"model": cfg}, "start_weights": model.start_weights,
                "epoch": 0}, path)
    return path


def test_wise_alpha_0_and_1_are_the_blip_endpoints_exactly_and_queues_stay_fine_tuned(tmp_path):
    from ahnpl_plugin.wise import wise_checkpoint

    start = _start_file(tmp_path)
    cfg = _config(pretrained=str(start), distill={"weight": 0.5})
    model = _model(pretrained=str(start), distill={"weight": 0.5})
    begin = {k: v.clone() for k, v in model.state_dict().items()}
    _steps(model, 2)
    tuned = model.state_dict()
    path = _runner_checkpoint(tmp_path, model, cfg)

    zero = wise_checkpoint(str(path), 0.0)["model"]
    one = wise_checkpoint(str(path), 1.0)["model"]
    half = wise_checkpoint(str(path), 0.5)
    assert not any(k.startswith("reference.") for k in zero)  # the teacher is not the model
    plain = [k for k in tuned if not k.startswith("reference.")]
    assert sorted(zero) == sorted(one) == sorted(plain)
    for key in plain:
        assert torch.equal(one[key], tuned[key]), key
        kept = key in ("image_queue", "text_queue", "idx_queue", "queue_ptr", "loss.thresholds")
        assert torch.equal(zero[key], tuned[key] if kept else begin[key]), key
    changed = "text_proj.weight"
    assert not torch.equal(begin[changed], tuned[changed])
    assert torch.allclose(half["model"][changed], 0.5 * begin[changed] + 0.5 * tuned[changed], atol=1e-7)
    momentum = "text_proj_m.weight"  # momentum encoders are mixed like the online weights
    assert torch.allclose(half["model"][momentum], 0.5 * begin[momentum] + 0.5 * tuned[momentum], atol=1e-7)
    assert "distill" not in half["config"]["model"] and half["wise"]["alpha"] == 0.5

    # the output is a plain ahnpl_blip checkpoint: model.finetuned loads it (no teacher)
    out = tmp_path / "wise_0.pth"
    torch.save(wise_checkpoint(str(path), 0.0), out)
    loaded = _model(load_finetuned=True, finetuned=str(out))
    assert loaded.reference is None
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, zero[key]), key


def test_wise_refuses_a_blip_start_it_cannot_rebuild_or_that_hashes_otherwise(tmp_path):
    from ahnpl_plugin.wise import wise_checkpoint

    model = _model()  # random init
    path = _runner_checkpoint(tmp_path, model, _config())
    with pytest.raises(StartWeightsError, match="random initialisation"):
        wise_checkpoint(str(path), 0.5)
    other = _start_file(tmp_path, seed=1)
    with pytest.raises(StartWeightsError, match="not the ones"):
        wise_checkpoint(str(path), 0.5, start=str(other))


def test_export_writes_a_blip_wise_checkpoint_and_refuses_clip_formats(tmp_path, capsys):
    from ahnpl_plugin.export import main

    start = _start_file(tmp_path)
    model = _model(pretrained=str(start))
    path = _runner_checkpoint(tmp_path, model, _config(pretrained=str(start)))
    out = tmp_path / "alpha1.pth"
    assert main(["--checkpoint", str(path), "--format", "ahnpl_blip", "--wise", "1", str(out)]) == 0
    written = torch.load(out, weights_only=True)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in written["model"].items())
    assert main(["--checkpoint", str(path), "--format", "ahnpl_clip", "--wise", "1", str(out)]) == 2
    assert "use --format ahnpl_blip" in capsys.readouterr().err
    assert main(["--checkpoint", str(path), "--format", "open_clip", str(tmp_path / "x.pt")]) == 2
    assert "is an ahnpl_blip checkpoint" in capsys.readouterr().err


# ------------------------------------------------------------------ finetune scopes


def test_scope_names_follow_the_blip_towers():
    from ahnpl_plugin.models.blip.finetune_scope import trains

    depths = (2, 2)
    cases = {
        "visual_encoder.blocks.0.attn.qkv.weight": {"text": False, "vision": True, "last_n": False},
        "visual_encoder.blocks.1.attn.qkv.weight": {"text": False, "vision": True, "last_n": True},
        "visual_encoder.norm.weight": {"text": False, "vision": True, "last_n": True},
        "vision_proj.weight": {"text": False, "vision": True, "last_n": True},
        "text_encoder.embeddings.word_embeddings.weight": {"text": True, "vision": False, "last_n": False},
        "text_encoder.encoder.layer.0.crossattention.self.query.weight": {"text": True, "vision": False, "last_n": False},
        "text_encoder.encoder.layer.1.crossattention.self.query.weight": {"text": True, "vision": False, "last_n": True},
        "text_proj.weight": {"text": True, "vision": False, "last_n": True},
        "itm_head.weight": {"text": True, "vision": False, "last_n": True},
        "temp": {"text": True, "vision": True, "last_n": True},
    }
    for name, modes in cases.items():
        for mode, expected in modes.items():
            assert trains(name, mode, 1, depths) is expected, (name, mode)
        assert trains(name, "full")


@pytest.mark.parametrize("mode, extra", [("text", {}), ("vision", {}), ("last_n", {"finetune_last_n": 1})])
def test_frozen_towers_and_their_momentum_copies_stay_bit_identical(mode, extra):
    from ahnpl_plugin.models.blip.finetune_scope import ONLINE

    model = _model(finetune=mode, **extra)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    frozen = {n for n, p in model.named_parameters() if n.startswith(ONLINE) and not p.requires_grad}
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert frozen and trained
    in_optimizer = {id(p) for group in model.get_optimizer_params(0.05) for p in group["params"]}
    names = dict(model.named_parameters())
    assert in_optimizer == {id(names[n]) for n in trained}

    # DDP with find_unused_parameters=False needs a gradient for every trained parameter
    model.train()
    model(_batch(0))["loss"].backward()
    assert [n for n in trained if names[n].grad is None] == []
    assert [n for n in frozen if names[n].grad is not None] == []
    model.zero_grad(set_to_none=True)

    _steps(model, 2)
    after = model.state_dict()
    for name in frozen:
        assert torch.equal(after[name], before[name]), name
        momentum = name.split(".", 1)[0] + "_m." + name.split(".", 1)[1] if "." in name else None
        if momentum in after:  # the momentum copy of a frozen online weight stays too
            assert torch.equal(after[momentum], before[momentum]), momentum
    assert all(not torch.equal(after[n], before[n]) for n in ("temp",))
    moved = [n for n in trained if n.endswith("weight") and not torch.equal(after[n], before[n])]
    assert moved


def test_unknown_retention_values_are_one_line_errors():
    with pytest.raises(ConfigError, match="ahnpl_blip model key"):
        _model(finetune_scope="text")  # unknown keys stay errors
    with pytest.raises(ConfigError, match="model.finetune"):
        _model(finetune="half")
    with pytest.raises(ConfigError, match="finetune_last_n must be in 1..2"):
        _model(finetune="last_n", finetune_last_n=3)
    with pytest.raises(ConfigError, match="set model.finetune: lora"):
        _model(lora={"rank": 4})
    with pytest.raises(ConfigError, match="distill key"):
        _model(distill={"weigth": 1.0})
    with pytest.raises(ConfigError, match="EMA teacher"):
        _model(distill={"weight": 1.0, "ema": 0.99}, l2sp=1.0)
    with pytest.raises(ConfigError, match="base weights are frozen"):
        _model(finetune="lora", l2sp=1.0)


# ------------------------------------------------------------------ LoRA


def test_lora_sits_on_blips_attention_linear_and_conv_weights():
    model = _model(finetune="lora", lora={"rank": 2, "alpha": 4.0})
    adapted = {n.split(".parametrizations.")[0] for n, _ in model.named_parameters() if ".lora_A" in n}
    assert "visual_encoder.blocks.0.attn.qkv" in adapted  # fused q/k/v: three row groups
    qkv = model.visual_encoder.blocks[0].attn.qkv.parametrizations.weight[0]
    assert tuple(qkv.lora_A.shape) == (3, 2, 64) and tuple(qkv.lora_B.shape) == (3, 64, 2)
    assert float(qkv.scale) == 2.0
    for name in ("text_encoder.encoder.layer.0.attention.self.query", "text_encoder.encoder.layer.1.crossattention.self.value",
                 "visual_encoder.blocks.1.mlp.fc1", "visual_encoder.patch_embed.proj", "vision_proj", "itm_head"):
        assert name in adapted, name
    assert not any("_m." in n or n.startswith("reference") for n in adapted)  # momentum towers stay plain
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trained and all(".lora_A" in n or ".lora_B" in n for n in trained)  # temp frozen too
    only_linear = _model(finetune="lora", lora={"targets": ["linear"]})
    names = {n.split(".parametrizations.")[0] for n, _ in only_linear.named_parameters() if ".lora_A" in n}
    assert "vision_proj" in names and "visual_encoder.blocks.0.attn.qkv" not in names
    assert not any(n.endswith((".query", ".key", ".value")) for n in names)


def test_lora_trains_adapters_only_and_momentum_follows_the_adapted_weights():
    model = _model(finetune="lora", lora={"rank": 2})
    optimizer = _optimizer(model, lr=1e-2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    model(_batch(0))["loss"].backward()
    names = dict(model.named_parameters())
    trained = [n for n, p in names.items() if p.requires_grad]
    assert [n for n in trained if names[n].grad is None] == []  # DDP: no unused parameter
    optimizer.step()
    optimizer.zero_grad()
    model.on_optimizer_step()
    momentum_before = {k: v.clone() for k, v in model.state_dict().items() if "_m." in k}
    model(_batch(1))  # the next training forward runs the momentum update first
    after = model.state_dict()
    for key, value in before.items():
        if ".lora_" in key or key.endswith(("queue", "queue_ptr", "thresholds")) or "_m." in key:
            continue
        assert torch.equal(after[key], value), key  # base weights, biases, temp: bit-identical
    effective = model.visual_encoder.blocks[0].attn.qkv.weight.detach()
    base = after["visual_encoder.blocks.0.attn.qkv.parametrizations.weight.original"]
    assert not torch.equal(effective, base)  # the adapters moved
    m = model.momentum
    old = momentum_before["visual_encoder_m.blocks.0.attn.qkv.weight"]
    assert torch.equal(after["visual_encoder_m.blocks.0.attn.qkv.weight"], old * m + effective * (1.0 - m))
    assert torch.equal(after["visual_encoder_m.blocks.0.attn.qkv.bias"], momentum_before["visual_encoder_m.blocks.0.attn.qkv.bias"])


def test_a_lora_checkpoint_loads_merged_with_the_same_features_and_wise_merges_it(tmp_path):
    from ahnpl_plugin.wise import wise_checkpoint

    start = _start_file(tmp_path)
    cfg = _config(pretrained=str(start), finetune="lora", lora={"rank": 2})
    model = _model(pretrained=str(start), finetune="lora", lora={"rank": 2})
    _steps(model, 2, optimizer=_optimizer(model, lr=1e-2))
    path = _runner_checkpoint(tmp_path, model, cfg)
    plain = _model(load_finetuned=True, finetuned=str(path))
    assert not any(".parametrizations." in k for k in plain.state_dict())
    model.eval()
    batch = _batch(7)
    adapted_images, adapted_texts = _itc_features(model, batch)
    merged_images, merged_texts = _itc_features(plain, batch)
    assert (adapted_images - merged_images).abs().max().item() <= 1e-6
    assert (adapted_texts - merged_texts).abs().max().item() <= 1e-6
    one = wise_checkpoint(str(path), 1.0)["model"]
    zero = wise_checkpoint(str(path), 0.0)["model"]
    begin = _model(pretrained=str(start)).state_dict()
    for key, value in plain.state_dict().items():
        assert torch.equal(one[key], value), key
        if key not in ("image_queue", "text_queue", "idx_queue", "queue_ptr", "loss.thresholds"):
            assert torch.equal(zero[key], begin[key]), key


# ------------------------------------------------------------------ distillation and L2-SP


def _itc_features(model, batch):
    with torch.no_grad():
        return model.encode_image(batch["image"]), model.encode_text(batch["text_input"])


@pytest.mark.parametrize("kind", ["mse", "cosine"])
def test_distillation_is_the_distance_of_the_itc_features_to_the_start_models(kind, tmp_path):
    start = _start_file(tmp_path)
    model = _model(pretrained=str(start), distill={"weight": 0.5, "kind": kind})
    teacher = _model(pretrained=str(start))
    assert model.reference is not None and not any(p.requires_grad for p in model.reference.parameters())
    assert abs(model(_batch(0))["loss_distill"].item()) < 1e-6  # the student starts as the teacher
    _steps(model, 2)
    assert model.reference.training is False
    for key, value in model.reference.state_dict().items():  # a frozen teacher does not move
        assert torch.equal(value, teacher.state_dict()[key]), key
    model.eval()
    batch = _batch(5)
    out = model(batch)
    student_images, student_texts = _itc_features(model, batch)
    teacher_images, teacher_texts = _itc_features(teacher, batch)
    if kind == "mse":
        expected = (student_images - teacher_images).pow(2).mean() + (student_texts - teacher_texts).pow(2).mean()
    else:
        cos = torch.nn.functional.cosine_similarity
        expected = (1 - cos(student_images, teacher_images)).mean() + (1 - cos(student_texts, teacher_texts)).mean()
    assert out["loss_distill"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert expected.item() > 0
    parts = out["loss_itc"] + out["loss_itm"] + 0.2 * out["loss_hn"] + 0.2 * out["loss_dm"]
    assert (out["loss"] - parts).item() == pytest.approx(0.5 * expected.item(), rel=1e-4)


def test_ema_teacher_moves_by_lerp_after_each_optimiser_step():
    model = _model(distill={"weight": 1.0, "ema": 0.9})
    optimizer = _optimizer(model)
    model.train()
    model(_batch(0))["loss"].backward()
    optimizer.step()
    teacher_before = {k: v.clone() for k, v in model.reference.named_parameters()}
    model.on_optimizer_step()
    student = dict(model.named_parameters())
    for name, value in model.reference.named_parameters():
        expected = teacher_before[name].lerp(student[name].detach(), 0.1)
        assert torch.equal(value, expected), name
    assert set(teacher_before) == {n for n in student if not n.startswith("reference.") and "_m." not in n
                                   and not n.endswith("_m")}
    in_optimizer = {id(p) for group in model.get_optimizer_params(0.05) for p in group["params"]}
    assert not in_optimizer & {id(p) for p in model.reference.parameters()}


def test_l2sp_is_the_squared_distance_of_the_trained_weights_to_the_start():
    model = _model(l2sp=0.01, finetune="text")
    begin = {k: v.clone() for k, v in model.state_dict().items()}
    first = _steps(model, 1)[0]
    assert first["loss_l2sp"] == 0.0
    out = model(_batch(1))
    trained = [n for n, p in model.named_parameters() if p.requires_grad]
    assert "temp" in trained and not any(n.startswith("visual_encoder") for n in trained)
    expected = sum((model.state_dict()[n].double() - begin[n].double()).pow(2).sum() for n in trained)
    assert out["loss_l2sp"].item() == pytest.approx(float(expected), rel=1e-5) and float(expected) > 0


def test_a_runner_checkpoint_of_a_distill_run_records_and_reloads(tmp_path):
    """The reference copy is saved (exact EMA resume) and dropped by a plain model's load."""
    start = _start_file(tmp_path)
    model = _model(pretrained=str(start), distill={"weight": 1.0, "ema": 0.9})
    _steps(model, 2)
    path = _runner_checkpoint(tmp_path, model, _config(pretrained=str(start), distill={"weight": 1.0, "ema": 0.9}))
    state = torch.load(path, weights_only=True)["model"]
    assert any(k.startswith("reference.") for k in state)
    resumed = _model(pretrained=str(start), distill={"weight": 1.0, "ema": 0.9})
    resumed.load_state_dict(state)  # what the runner's resume does
    for key, value in resumed.state_dict().items():
        assert torch.equal(value, state[key]), key
    plain = _model(load_finetuned=True, finetuned=str(path))
    assert plain.reference is None
    wise = tmp_path / "plain.pth"  # a checkpoint without a start copy loads into a model with one
    torch.save({"model": plain.state_dict(), "config": {"model": _config()}}, wise)
    teacher = {k: v.clone() for k, v in resumed.reference.state_dict().items()}
    resumed.load_checkpoint(str(wise))
    assert all(torch.equal(v, teacher[k]) for k, v in resumed.reference.state_dict().items())
    assert torch.equal(resumed.text_proj.weight, plain.text_proj.weight)
    assert json.dumps(plain.start_weights)  # a record of the loaded checkpoint (key finetuned)


@pytest.mark.slow
@pytest.mark.skipif((__import__("os").cpu_count() or 1) < 2, reason="needs two cores for two gloo ranks")
def test_two_gloo_ranks_train_a_frozen_tower_with_distillation(tmp_path):
    """DDP (find_unused_parameters=False, the runner's) with finetune text + a distillation teacher:
    no unused-parameter error, and the frozen ViT is the same on both ranks' checkpoint as at the start."""
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    repo = Path(__file__).resolve().parent.parent
    cfg = yaml.safe_load((repo / "projects" / "ahnpl" / "demo.yaml").read_text())
    cfg["model"].update(arch="ahnpl_blip", model_type="tiny", finetune="text", distill={"weight": 0.5})
    cfg["datasets"]["ahnpl_synthetic_world"].update(
        cache_dir=str(tmp_path / "world"), world={"seed": 0, "image_size": 32, "n_train": 32, "n_val": 4, "n_test": 4})
    cfg["run"].update(batch_size_train=8, batch_size_eval=16, max_epoch=1, warmup_steps=1, num_workers=0,
                      output_dir=str(tmp_path / "out"), log_freq=0, progress=False, seed=7)
    path = tmp_path / "dist.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "lavis.train", "--cfg-path", str(path)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = list((tmp_path / "out").iterdir())
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and all(r["loss_distill"] >= 0 for r in rows)
    state = torch.load(run_dir / "checkpoint_best.pth", weights_only=False)["model"]
    for key in [k for k in state if k.startswith("visual_encoder.")]:  # frozen: equal to the teacher's start copy
        assert torch.equal(state[key], state["reference." + key]), key
        assert torch.equal(state[key.replace("visual_encoder.", "visual_encoder_m.", 1)], state[key]), key
    assert not torch.equal(state["text_proj.weight"], state["reference.text_proj.weight"])
