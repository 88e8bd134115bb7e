"""No silent slow paths: what run.amp chose, the distributed backend, torch.compile compiling."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parent.parent


def _resolve(amp, device="cpu"):
    from ahnpl_plugin.runner import AHNPLRunner

    stub = SimpleNamespace(config=SimpleNamespace(run_cfg=OmegaConf.create({"amp": amp})),
                           device=torch.device(device))
    return AHNPLRunner._resolve_amp(stub)


def test_amp_true_on_cpu_means_off_with_one_line(caplog):
    """coco.yaml's amp: true after the CUDA-to-CPU fallback ran bf16 autocast: ~40x slower, silently."""
    with caplog.at_level(logging.INFO):
        assert _resolve(True) is None
        assert _resolve("true") is None
    lines = [r.getMessage() for r in caplog.records if "run.amp" in r.getMessage()]
    assert lines == ["run.amp: true on cpu means off (fp32): autocast is slower than fp32 there; "
                     "run.amp: bf16 forces it"] * 2


def test_forced_bf16_on_cpu_warns_about_the_cost(caplog):
    with caplog.at_level(logging.INFO):
        assert _resolve("bf16") is torch.bfloat16
    (record,) = [r for r in caplog.records if "run.amp" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith("run.amp: bf16 on cpu: bf16 autocast is usually much slower than fp32")


def test_amp_false_says_nothing(caplog):
    with caplog.at_level(logging.INFO):
        assert _resolve(False) is None
    assert not [r for r in caplog.records if "run.amp" in r.getMessage()]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_amp_true_on_cuda_logs_the_dtype_it_chose(caplog):
    with caplog.at_level(logging.INFO):
        dtype = _resolve(True, "cuda")
    name = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    assert dtype == (torch.bfloat16 if name == "bf16" else torch.float16)
    assert any(r.getMessage().startswith(f"run.amp: true on cuda -> {name} autocast") for r in caplog.records)


def test_distributed_backend_is_logged(caplog, monkeypatch):
    import torch.distributed as dist

    from ahnpl_plugin.launch import init_distributed

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for key, value in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(port)}.items():
        monkeypatch.setenv(key, value)
    run_cfg = OmegaConf.create({"device": "cpu"})
    try:
        with caplog.at_level(logging.INFO):
            init_distributed(run_cfg)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    assert "distributed: backend gloo (chosen for cpu), 1 process(es), device cpu" in caplog.messages


@pytest.mark.slow
def test_torch_compile_says_it_is_compiling(tmp_path, caplog, monkeypatch):
    from ahnpl_plugin.models.clip.model import AHNPLClip
    from ahnpl_plugin.train import _train

    compiled = []
    monkeypatch.setattr(AHNPLClip, "compile_towers", lambda self: compiled.append(True), raising=False)
    raw = yaml.safe_load((REPO / "projects" / "ahnpl" / "demo.yaml").read_text())
    raw["datasets"]["ahnpl_synthetic_world"]["cache_dir"] = str(tmp_path / "world")
    raw["datasets"]["ahnpl_synthetic_world"]["world"].update(n_train=8, n_val=4, n_test=4)
    raw["run"].update(output_dir=str(tmp_path / "out"), compile=True, max_epoch=1, max_steps=1,
                      batch_size_train=4, progress=False, log_freq=0)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    with caplog.at_level(logging.INFO):
        _train(["--cfg-path", str(tmp_path / "c.yaml")])
    assert compiled == [True]
    assert any(m.startswith("run.compile: torch.compile compiles the towers during the first steps")
               for m in caplog.messages)
