"""The whole config is checked before anything runs: each mistake a newcomer makes is one line on
stderr, exit code 2, and nothing built (no run folder, no world, no model download)."""

from __future__ import annotations

import io
import urllib.error
from contextlib import redirect_stderr
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent


def _config(tmp_path: Path, **model) -> Path:
    raw = yaml.safe_load((REPO / "projects" / "ahnpl" / "demo.yaml").read_text())
    raw["datasets"]["ahnpl_synthetic_world"]["cache_dir"] = str(tmp_path / "world")
    raw["run"]["output_dir"] = str(tmp_path / "out")
    raw["model"].update(model)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _main(entry, cfg: Path, *options) -> tuple[int, str]:
    err = io.StringIO()
    with redirect_stderr(err):
        rc = entry(["--cfg-path", str(cfg), *(["--options", *options] if options else [])])
    return rc, err.getvalue()


@pytest.mark.parametrize("options, message", [
    (["datasets.nope.x=1"], "error: unknown dataset 'nope'; valid: ahnpl_aro_coco_order, "),
    (["run.runner=runner_base"], "error: run.runner 'runner_base': LAVIS's epoch runner"),
    (["run.runner=my_runner"], "error: unknown run.runner 'my_runner'; valid: ahnpl_runner"),
    (["run.task=retreival"], "error: unknown run.task 'retreival'; valid: ahnpl_compositional, "),
    (["run.max_epoch=abc"], "error: run.max_epoch must be an integer, got 'abc'"),
    (["run.max_epoch=1.5"], "error: run.max_epoch must be an integer, got 1.5"),
    (["run.init_lr=fast"], "error: run.init_lr must be a number, got 'fast'"),
    (["run.lr_sched=linear_warmup_cosine_lr"], "error: run.lr_sched 'linear_warmup_cosine_lr' is LAVIS's schedule"),
    (["run.lr_sched=step"], "error: unknown run.lr_sched 'step'; valid: constant, cosine"),
])
@pytest.mark.parametrize("entry", ["train", "evaluate"])
def test_config_mistakes_are_one_line_before_anything_is_built(entry, options, message, tmp_path, lavis_ready):
    import importlib

    main = importlib.import_module(f"ahnpl_plugin.{entry}").main
    rc, err = _main(main, _config(tmp_path), *options)
    assert rc == 2
    assert err.startswith(message) and err.count("\n") == 1, err
    assert not (tmp_path / "world").exists() and not (tmp_path / "out").exists()


def test_numbers_written_as_strings_are_accepted_as_numbers(tmp_path, lavis_ready):
    from ahnpl_plugin.config import load_config

    cfg = load_config(str(_config(tmp_path)), ["run.max_epoch=3", "run.init_lr=2e-5", "run.warmup_steps=1e2"])
    assert (cfg.run_cfg.max_epoch, cfg.run_cfg.init_lr, cfg.run_cfg.warmup_steps) == (3, 2e-5, 100)
    assert isinstance(cfg.run_cfg.warmup_steps, int)


def test_stock_lavis_clip_offline_names_the_file_and_the_url(tmp_path, lavis_ready, monkeypatch):
    import lavis.models.clip_models.pretrained as pretrained
    from ahnpl_plugin.train import main

    def offline(url, root):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(pretrained, "download_pretrained", offline)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # an empty ~/.cache/clip
    cfg = _config(tmp_path, arch="clip", model_type="ViT-B-32", pretrained="openai")
    rc, err = _main(main, cfg, "datasets.ahnpl_synthetic_world.vis_processor.eval.name=clip_image_eval")
    assert rc == 2 and err.count("\n") == 1, err
    assert "ViT-B-32 weights at " in err and "ViT-B-32.pt" in err and "URLError" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value, message", [
    ("laion9b", "model.pretrained 'laion9b' for LAVIS's clip ViT-B-32: neither a file nor a known tag (tags: "),
])
def test_stock_lavis_clip_bad_pretrained_is_one_line(value, message, tmp_path, lavis_ready):
    from ahnpl_plugin.train import main

    rc, err = _main(main, _config(tmp_path, arch="clip", model_type="ViT-B-32", pretrained=value))
    assert rc == 2 and message in err and err.count("\n") == 1, err


def test_stock_lavis_clip_empty_pretrained_means_random_init(tmp_path, lavis_ready):
    """``--options model.pretrained=`` gives None, on which LAVIS's create_model calls .lower()."""
    from ahnpl_plugin.config import load_config

    cfg = load_config(str(_config(tmp_path, arch="clip", model_type="RN50")), ["model.pretrained="])
    assert cfg.model_cfg.pretrained == ""
