"""Retention options through the real runner and under DDP: checkpoints record the starting
weights (export --wise 0 gives them back exactly), a run with LoRA and an EMA teacher resumes
bit-identically, and two-process DDP with frozen parameters trains without unused-parameter errors
and with the distillation term's gradient equal to the single-process one."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import yaml

from ahnpl_plugin.models.start_weights import state_sha256
from helpers.runs import coco_run_config, tiny_clip_weights_file
from helpers.distributed import free_port


def _config(coco, output_dir: Path, start: Path, model: dict, **run_overrides) -> dict:
    return coco_run_config(coco, output_dir, {"pretrained": str(start), "act": "gelu", **model},
                           **{"max_epoch": 2, "valid_splits": [], "save_every_epoch": True, **run_overrides})


def _train(cfg: dict, path: Path, *options: str):
    from ahnpl_plugin.train import _train

    path.write_text(yaml.safe_dump(cfg))
    return _train(["--cfg-path", str(path)] + (["--options", *options] if options else []))


MODEL = {"finetune": "lora", "lora": {"rank": 2, "alpha": 2.0}, "distill": {"weight": 0.5, "kind": "mse", "ema": 0.9}}


@pytest.mark.slow  # training runs
def test_runner_records_start_and_resumes_lora_with_ema_teacher_exactly(coco, tmp_path):
    from ahnpl_plugin import export

    start = tiny_clip_weights_file(tmp_path / "start.pt")
    full = _train(_config(coco, tmp_path / "a", start, MODEL), tmp_path / "a.yaml")
    last = torch.load(full.output_dir / "checkpoint_last.pth", map_location="cpu", weights_only=False)
    record = last["start_weights"]
    assert record["source"] == str(start) and record["sha256"] == state_sha256(torch.load(start))
    resumed = _train(_config(coco, tmp_path / "b", start, MODEL), tmp_path / "b.yaml",
                     f"run.resume_ckpt_path={full.output_dir / 'checkpoint_0.pth'}")
    again = torch.load(resumed.output_dir / "checkpoint_last.pth", map_location="cpu", weights_only=False)
    assert any(k.startswith("reference.") for k in last["model"]) and any(".lora_A" in k for k in last["model"])
    for key, value in last["model"].items():
        assert torch.equal(again["model"][key], value), key
    # WiSE at 0 from the run's own record: the starting weights, bit for bit
    out = tmp_path / "wise0.pt"
    assert export.main(["--checkpoint", str(full.output_dir / "checkpoint_last.pth"), "--wise", "0", str(out)]) == 0
    exported = torch.load(out)
    for key, value in torch.load(start).items():
        assert torch.equal(exported[key], value), key


WORLD_SIZE = 2


def _batch(rows: slice):
    generator = torch.Generator().manual_seed(5)
    images = torch.randn(4, 3, 32, 32, generator=generator)
    captions = ["a red circle", "a blue square", "a green cross", "two cats"]
    negatives = [["a blue circle", "###", "a red square", "###", "###"]] * 4
    return {"image": images[rows], "text_input": captions[rows], "hard_negatives": negatives[rows],
            "hard_negative_mask": torch.tensor([[n != "###" for n in row] for row in negatives])[rows]}


def _grads(model) -> dict:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def _ddp_worker(rank: int, port: int, start: str, out_dir: str) -> None:
    from ahnpl_plugin import compat

    compat.apply()
    from torch.nn.parallel import DistributedDataParallel as DDP

    from ahnpl_plugin.models.clip.model import AHNPLClip

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD_SIZE)
    try:
        torch.manual_seed(0)
        model = AHNPLClip.from_config({"arch": "ahnpl_clip", "model_type": "tiny", "pretrained": start, "act": "gelu", **MODEL})
        ddp = DDP(model)  # find_unused_parameters=False: a trained parameter without gradient fails the 2nd step
        optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
        grads = None
        for step in range(3):
            ddp(_batch(slice(2 * rank, 2 * rank + 2)))["loss"].backward()
            if step == 0:
                grads = _grads(model)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            model.on_optimizer_step()
        torch.save(grads, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_ddp_with_frozen_parameters_and_distillation_equals_one_process(tmp_path):
    from ahnpl_plugin import compat

    compat.apply()
    from ahnpl_plugin.models.clip.model import AHNPLClip

    start = str(tiny_clip_weights_file(tmp_path / "start.pt"))
    mp.spawn(_ddp_worker, args=(free_port(), start, str(tmp_path)), nprocs=WORLD_SIZE, join=True)
    torch.manual_seed(0)
    single = AHNPLClip.from_config({"arch": "ahnpl_clip", "model_type": "tiny", "pretrained": start, "act": "gelu", **MODEL})
    single(_batch(slice(0, 4)))["loss"].backward()
    expected = _grads(single)
    # DDP averages the ranks' gradients: each rank ends with the full-batch gradient
    for rank in range(WORLD_SIZE):
        got = torch.load(tmp_path / f"rank{rank}.pt")
        assert set(got) == set(expected)
        for name, grad in expected.items():
            assert torch.allclose(got[name], grad, rtol=1e-4, atol=1e-7), name


@pytest.mark.slow
def test_retention_demo_runs_end_to_end_at_toy_size(tmp_path, monkeypatch):
    """The experiment command at toy size: every listed method trains, WiSE points come from the
    full fine-tuning checkpoint, and the table, JSON and plot are written."""
    import json

    from ahnpl_plugin import retention_demo

    monkeypatch.chdir(tmp_path)  # the world cache goes under ./.cache
    code = retention_demo.main(["--out", "out", "--pretrain-steps", "2", "--finetune-steps", "2", "--batch", "8",
                                "--n-train", "40", "--n-test", "4", "--n-zero-shot", "16",
                                "--methods", "full FT", "LoRA r4 (lr x10)", "distill EMA (w=1)"])
    assert code == 0
    rows = json.loads((tmp_path / "out" / "retention.json").read_text())["rows"]
    names = [r["name"] for r in rows]
    assert names[:2] == ["start (pre-trained)", "full FT"] and "LoRA r4 (lr x10)" in names
    assert [n for n in names if n.startswith("WiSE")] == ["WiSE-FT alpha 0.25", "WiSE-FT alpha 0.5", "WiSE-FT alpha 0.75"]
    assert all(0.0 <= r["zero_shot"] <= 1.0 and 0.0 <= r["compositional"] <= 1.0 for r in rows)
    assert (tmp_path / "out" / "retention.png").stat().st_size > 1000
    assert "| full FT |" in (tmp_path / "out" / "retention.md").read_text()
