"""Checks that tell the truth: data check of the BLIP recipes and of image files, short
wrong-checkpoint errors, evaluation of a checkpoint without the base model's weights, and fatal
errors recorded in the run's train.log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from helpers.recipe_folder import make_recipe_folder

REPO = Path(__file__).resolve().parent.parent
PROJECTS = REPO / "projects" / "ahnpl"
BLIP_COCO_URL = "https://storage.googleapis.com/sfr-vision-language-research/LAVIS/models/BLIP/blip_coco_retrieval.pth"


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    return make_recipe_folder(tmp_path_factory.mktemp("coco") / "coco")

from helpers.files import write_yaml as _write
from helpers.runs import coco_run_config as _config
from helpers.runs import train as _train


@pytest.fixture(scope="module")
def tiny_run(coco, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tiny_run")
    return _train(_write(_config(coco, tmp / "o"), tmp / "c.yaml")).output_dir


# ----------------------------------------------------------------------------- data check: BLIP


@pytest.fixture
def blip_caches(tmp_path, monkeypatch, recipe):
    """Empty torch hub and Hugging Face caches, offline, COCO_DIR at the recipe folder."""
    import huggingface_hub.constants
    import torch.hub

    monkeypatch.setenv("COCO_DIR", str(recipe.root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "torch_hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf_hub"))
    return tmp_path


def _cache_bert_tokenizer(hf_hub: Path) -> None:
    from ahnpl_plugin.models.blip.tokenizer import builtin_tiny_vocabulary

    snapshot = hf_hub / "models--bert-base-uncased" / "snapshots" / ("b" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "vocab.txt").write_text("\n".join(builtin_tiny_vocabulary()) + "\n")
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("b" * 40)


@pytest.mark.parametrize("config,options", [("coco_blip.yaml", []),
                                            ("eval_retrieval_coco.yaml", ["model.arch=ahnpl_blip", "model.model_type=coco"])])
def test_data_check_of_the_blip_recipes_reports_what_training_would_load(blip_caches, config, options, capsys):
    from ahnpl_plugin.data.cli import main

    args = ["check", "--cfg-path", str(PROJECTS / config), *(["--options", *options] if options else [])]
    assert main(args) == 1
    out = capsys.readouterr().out
    cached_file = blip_caches / "torch_hub" / "checkpoints" / "blip_coco_retrieval.pth"
    assert BLIP_COCO_URL in out  # the URL as written, not collapsed to https:/...
    assert f"finetuned: {BLIP_COCO_URL} (not cached)" in out
    assert str(cached_file) in out and "bert-base-uncased" in out  # both missing inputs named
    assert "checkpoint_best" not in out

    # the same inputs in the caches training reads: the check passes, as training would
    cached_file.parent.mkdir(parents=True)
    cached_file.write_bytes(b"stand-in")
    _cache_bert_tokenizer(blip_caches / "hf_hub")
    assert main(args) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert f"finetuned: {BLIP_COCO_URL} (cached at {cached_file})" in out
    assert "tokenizer: bert-base-uncased (in the hub cache" in out
    assert out.rstrip().endswith("all paths OK")


# ----------------------------------------------------------------------------- data check: decoding


def test_data_check_decodes_evaluation_images_and_names_every_bad_file(tmp_path, monkeypatch, capsys):
    from ahnpl_plugin.data.cli import main

    folder = make_recipe_folder(tmp_path / "coco")
    monkeypatch.setenv("COCO_DIR", str(folder.root))
    test_images = [folder.images / row["image"] for row in folder.eval_rows["test"]]
    truncated, empty = test_images[1], test_images[4]
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    empty.write_bytes(b"")
    options = ["model.model_type=tiny", "model.pretrained="]

    assert main(["check", "--cfg-path", str(PROJECTS / "eval_retrieval_coco.yaml"), "--options", *options]) == 1
    out = capsys.readouterr().out
    assert "test images under" in out and "6 found, 0 missing" in out  # they exist: only decoding finds them
    assert "test images decoded: 4 of 6 OK" in out
    assert f"PROBLEM: test image {truncated}: cannot be decoded" in out
    assert f"PROBLEM: test image {empty}: empty file (0 bytes)" in out
    assert "2 problem(s)" in out

    assert main(["check", "--cfg-path", str(PROJECTS / "eval_retrieval_coco.yaml"), "--decode", "none",
                 "--options", *options]) == 0
    assert "decoded" not in capsys.readouterr().out


# ----------------------------------------------------------------------------- wrong checkpoints


@pytest.mark.slow  # its fixture: a training run
def test_the_wrong_checkpoint_error_is_short_with_counts_and_first_keys(tiny_run, coco, tmp_path):
    from ahnpl_plugin.errors import ConfigError
    from ahnpl_plugin.train import _train as train

    cfg = _config(coco, tmp_path / "o", max_epoch=2)
    cfg["model"]["model_type"] = "RN50"
    with pytest.raises(ConfigError) as caught:
        train(["--cfg-path", str(_write(cfg, tmp_path / "c.yaml")), "--options",
               f"run.resume_ckpt_path={tiny_run / 'checkpoint_last.pth'}"])
    message = str(caught.value)
    assert "\n" not in message and len(message) < 700, len(message)
    assert "saved from ahnpl_clip tiny" in message and "this model is ahnpl_clip RN50" in message
    assert "missing key(s):" in message and "unexpected key(s):" in message and "(+" in message


def test_summary_of_a_load_error_counts_each_kind():
    from ahnpl_plugin.models.checkpoint_info import summarize_load_error

    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    state = {"0.weight": torch.zeros(4, 2), "0.bias": torch.zeros(3), "x.a": torch.zeros(1), "x.b": torch.zeros(1)}
    with pytest.raises(RuntimeError) as caught:
        model.load_state_dict(state)
    summary = summarize_load_error(caught.value)
    assert summary.startswith("2 missing key(s): 1.weight, 1.bias; 2 unexpected key(s): x.a, x.b; ")
    assert "1 tensor(s) of another shape, first 0.weight" in summary


# ----------------------------------------------------------------------------- evaluating a checkpoint


@pytest.mark.slow  # its fixture: a training run
def test_evaluating_a_checkpoint_never_loads_the_base_models_weights(tiny_run, coco, tmp_path):
    from ahnpl_plugin.evaluate import _evaluate
    from ahnpl_plugin.errors import ConfigError

    cfg = _config(coco, tmp_path / "e", valid_splits=[])
    cfg["model"]["pretrained"] = str(tmp_path / "absent" / "ViT-B-32.pt")  # would fail if it were read
    checkpoint = tiny_run / "checkpoint_best.pth"
    results = _evaluate(["--cfg-path", str(_write(cfg, tmp_path / "e.yaml")), "--options", f"run.checkpoint={checkpoint}"])
    trained = json.loads((tiny_run / "results.json").read_text())["test"]
    assert results["test"] == trained
    (run_dir,) = list((tmp_path / "e").iterdir())
    record = json.loads((run_dir / "results.json").read_text())
    assert record["model_weights"] == {"checkpoint": str(checkpoint), "epoch": 0}
    assert "no pretrained weights are loaded" in (run_dir / "train.log").read_text()

    cfg["model"]["model_type"] = "RN50"  # another model: refused before anything is built
    with pytest.raises(ConfigError, match="saved from ahnpl_clip tiny; this model is ahnpl_clip RN50"):
        _evaluate(["--cfg-path", str(_write(cfg, tmp_path / "f.yaml")), "--options", f"run.checkpoint={checkpoint}"])


# ----------------------------------------------------------------------------- errors in train.log


@pytest.mark.slow  # a training run
def test_a_crash_during_validation_is_written_into_train_log(coco, tmp_path, monkeypatch, capsys):
    from lavis.tasks.retrieval import RetrievalTask

    from ahnpl_plugin.train import main

    def broken(self, **kwargs):
        raise RuntimeError("validation broke")

    monkeypatch.setattr(RetrievalTask, "after_evaluation", broken)
    with pytest.raises(RuntimeError, match="validation broke"):
        main(["--cfg-path", str(_write(_config(coco, tmp_path / "o"), tmp_path / "c.yaml"))])
    (run_dir,) = list((tmp_path / "o").iterdir())
    log = (run_dir / "train.log").read_text()
    assert "[ERROR] fatal: RuntimeError: validation broke" in log and "Traceback" in log
    assert "saved checkpoint of epoch 0 (before validation)" in log


@pytest.mark.slow  # its fixture: a training run
def test_a_user_error_after_the_run_folder_exists_is_in_train_log(tiny_run, coco, tmp_path, capsys):
    from ahnpl_plugin.train import main

    cfg = _config(coco, tmp_path / "o", max_epoch=2)
    cfg["model"]["model_type"] = "RN50"
    assert main(["--cfg-path", str(_write(cfg, tmp_path / "c.yaml")), "--options",
                 f"run.resume_ckpt_path={tiny_run / 'checkpoint_last.pth'}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    (run_dir,) = list((tmp_path / "o").iterdir())
    assert f"[ERROR] {err}" in (run_dir / "train.log").read_text()


@pytest.mark.parametrize("option", ["run.amp=fp16", "run.eval_precision=fp16", "run.eval_precision=half"])
def test_a_precision_error_leaves_no_run_folder(coco, tmp_path, option, capsys):
    from ahnpl_plugin.train import main

    assert main(["--cfg-path", str(_write(_config(coco, tmp_path / "o"), tmp_path / "c.yaml")), "--options", option]) == 2
    assert "error: " in capsys.readouterr().err
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


@pytest.mark.slow  # its fixture: a training run
def test_train_log_names_precisions_and_each_metric_lines_split_and_epoch(tiny_run):
    log = (tiny_run / "train.log").read_text()
    assert "training precision: float32; evaluation precision: fp32" in log
    assert "val metrics, epoch 0 (fp32): txt_r1=" in log
    assert "test metrics, epoch best (fp32): txt_r1=" in log
    assert "final test with the best epoch's weights (epoch 0" in log


def test_console_log_lines_go_through_tqdm_while_a_progress_bar_is_shown(monkeypatch):
    import io
    import logging

    import tqdm as tqdm_module

    from ahnpl_plugin.launch import _ConsoleHandler

    written = []
    monkeypatch.setattr(tqdm_module.tqdm, "write", classmethod(lambda cls, s, file=None, **kw: written.append(s)))
    stream = io.StringIO()
    handler = _ConsoleHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "a log line", None, None)
    bar = tqdm_module.tqdm(total=3, file=io.StringIO())
    handler.emit(record)
    assert written == ["a log line"] and stream.getvalue() == ""  # the bar is cleared and redrawn around it
    bar.close()
    handler.emit(record)
    assert stream.getvalue() == "a log line\n" and written == ["a log line"]
