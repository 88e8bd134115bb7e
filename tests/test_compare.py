"""``python -m ahnpl_plugin.compare``: several checkpoints of different formats on the same benchmark in
one run, missing files listed before anything loads, each image and caption encoded once per model,
one results table with exact McNemar tests; the test itself checked on hand-computed values."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ahnpl_plugin import compat

compat.apply()

import ahnpl_plugin  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from ahnpl_plugin import compare  # noqa: E402
from ahnpl_plugin.benchmarks.paired_tests import mcnemar_exact_p, paired_mcnemar  # noqa: E402
from ahnpl_plugin.errors import UserError  # noqa: E402
from ahnpl_plugin.export import main as export_main  # noqa: E402
from ahnpl_plugin.models.clip.model import AHNPLClip  # noqa: E402

ahnpl_plugin.register()

STEMS = ("replace_obj", "replace_att", "replace_rel", "swap_obj", "swap_att", "add_obj", "add_att")


def test_mcnemar_exact_p_values_by_hand():
    assert mcnemar_exact_p(5, 0) == pytest.approx(2 / 32)  # 2 * P(X <= 0), X ~ Bin(5, 1/2)
    assert mcnemar_exact_p(3, 1) == pytest.approx(2 * 5 / 16)  # 2 * (1 + 4) / 16
    assert mcnemar_exact_p(1, 3) == pytest.approx(2 * 5 / 16)
    assert mcnemar_exact_p(4, 4) == 1.0 and mcnemar_exact_p(0, 0) == 1.0
    assert 0 < mcnemar_exact_p(1000, 900) < 0.05 < mcnemar_exact_p(1000, 960) < 1
    result = paired_mcnemar([1, 1, 1, 0, 0, 1], [0, 1, 0, 1, 0, 1])
    assert (result.n, result.b, result.c) == (6, 2, 1)
    assert result.delta == pytest.approx(3 / 6 - 4 / 6) and result.p_value == pytest.approx(1.0)


def sugarcrepe(tmp_path):
    """SugarCrepe's layout (data/<stem>.json keyed by id, COCO val2017 file names) with 2 items per file,
    images shared between files as in the real benchmark."""
    rng = np.random.default_rng(7)
    data, images = tmp_path / "sugar-crepe" / "data", tmp_path / "val2017"
    data.mkdir(parents=True)
    images.mkdir()
    names = []
    for i in range(5):
        names.append(f"{rng.integers(10**11, 10**12):012d}.jpg")
        Image.fromarray(rng.integers(0, 256, (40 + 7 * i, 60, 3), dtype=np.uint8)).save(images / names[-1], quality=95)
    for s, stem in enumerate(STEMS):
        records = {str(10 * s + k): {"filename": names[(s + k) % 5], "caption": f"a photo of thing {s} {k}",
                                     "negative_caption": f"a photo of {stem} {k}"} for k in range(2)}
        (data / f"{stem}.json").write_text(json.dumps(records))
    return {"ahnpl_sugarcrepe": {"root": str(tmp_path / "sugar-crepe"), "image_root": str(images)}}


def tiny_checkpoint(path, seed: int) -> AHNPLClip:
    torch.manual_seed(seed)
    cfg = OmegaConf.load(AHNPLClip.default_config_path("tiny")).model
    cfg.quick_gelu = True
    model = AHNPLClip.from_config(cfg)
    torch.save({"model": model.state_dict(), "config": {"model": {"arch": "ahnpl_clip", "model_type": "tiny"}}}, path)
    return model


def tiny(pretrained, **extra) -> dict:
    return {"arch": "ahnpl_clip", "model_type": "tiny", "pretrained": str(pretrained), **extra}


@pytest.mark.slow  # evaluates several checkpoints
def test_compare_runs_every_format_once_and_writes_one_table(tmp_path):
    datasets = sugarcrepe(tmp_path)
    epoch1 = tiny_checkpoint(tmp_path / "checkpoint_1.pth", seed=1)
    tiny_checkpoint(tmp_path / "checkpoint_2.pth", seed=2)
    assert export_main(["--checkpoint", str(tmp_path / "checkpoint_1.pth"), "--format", "hf", str(tmp_path / "hf")]) == 0
    torch.save({"epoch": 5, "state_dict": {f"module.{k}": v for k, v in epoch1.clip.state_dict().items()}},
               tmp_path / "epoch_5.pt")  # open_clip training checkpoint: no activation recorded
    cfg = {
        "compare": {"reference": "ours epoch 1", "published": ["CLIP", "NegCLIP"], "output_dir": str(tmp_path / "out"),
                    "batch_size": 4, "progress": False},
        "models": [
            {"name": "ours epoch 1", "model": tiny(tmp_path / "checkpoint_1.pth")},
            {"name": "ours epoch 2", "model": tiny(tmp_path / "checkpoint_2.pth")},
            {"name": "epoch 1 as HF", "model": tiny(tmp_path / "hf")},
            {"name": "open_clip file", "model": tiny(tmp_path / "epoch_5.pt", act="quick_gelu")},
            {"name": "patched", "model": tiny(tmp_path / "epoch_5.pt", act="quick_gelu",
                                              pretrained_patch={"base": str(tmp_path / "checkpoint_2.pth"), "alpha": 0.6})},
            {"name": "no act", "model": tiny(tmp_path / "epoch_5.pt")},
        ],
        "datasets": datasets,
    }
    md, js = compare.run(OmegaConf.create(cfg))
    results = json.loads(js.read_text())
    assert list(results) == [m["name"] for m in cfg["models"]]
    failed = results.pop("no act")  # reported, and the other models still evaluated
    assert failed["scores"] == {} and "set model.act" in failed["error"]
    for name, result in results.items():  # 5 distinct images, 28 distinct captions: each encoded once
        assert result["encoded"] == {"images": 5, "captions": 28}, name
    same = [results[n]["scores"]["sugarcrepe"] for n in ("ours epoch 1", "epoch 1 as HF", "open_clip file")]
    assert same[0] == same[1] == same[2]  # one model in three formats
    assert results["epoch 1 as HF"]["provenance"]["format"] == "hf_clip"
    assert results["patched"]["provenance"]["patch"]["alpha"] == 0.6
    table = md.read_text()
    assert "| CLIP (published) | 90.9 | 80.0 | 69.2 | 61.4 | 64.0 | 77.2 | 68.2 |" in table
    assert "| **ours epoch 2** |" in table and "## Paired tests against ours epoch 1" in table
    # the same weights in another format: no discordant item, p = 1
    assert re.search(r"^\| sugarcrepe \| epoch 1 as HF \| 14 \| ([\d.]+) \| \1 \| \+0\.0 \| 0 \| 0 \| 1 \|$", table, re.M)
    assert "| open_clip file | " in table and "quick_gelu (model.act)" in table
    assert "- **no act**: " in table


def test_missing_files_are_all_listed_before_any_model_loads(tmp_path, monkeypatch):
    datasets = sugarcrepe(tmp_path)
    tiny_checkpoint(tmp_path / "ok.pth", seed=3)
    datasets["ahnpl_winoground"] = {"root": str(tmp_path / "no-winoground")}
    cfg = {"compare": {"output_dir": str(tmp_path / "out")},
           "models": [{"name": "a", "model": tiny(tmp_path / "ok.pth")},
                      {"name": "b", "model": tiny(tmp_path / "negclip.pth", act="quick_gelu")},
                      {"name": "c", "model": tiny(tmp_path / "ok.pth", pretrained_lora={"path": str(tmp_path / "dac"), "scale": 1})}],
           "datasets": datasets}
    monkeypatch.setattr(compare, "evaluate_model", lambda *a, **k: pytest.fail("a model was evaluated"))
    with pytest.raises(UserError) as info:
        compare.run(OmegaConf.create(cfg))
    message = str(info.value)
    assert message.startswith("3 problem(s) found before loading anything")
    assert "b: model.pretrained not found" in message and "negclip.pth" in message
    assert "c: model.pretrained_lora.path not found" in message and "winoground" in message.lower()
    assert not (tmp_path / "out").exists()


def test_compare_config_errors_name_the_key(tmp_path):
    with pytest.raises(UserError, match="compare.reference 'x' is not one of the models"):
        compare.read_plan({"compare": {"reference": "x"}, "models": [{"name": "a", "model": tiny("")}],
                           "datasets": {"ahnpl_sugarcrepe": {}}})
    with pytest.raises(UserError, match="no published row"):
        compare.read_plan({"compare": {"published": ["BLIP-9"]}, "models": [{"name": "a", "model": tiny("")}],
                           "datasets": {"ahnpl_sugarcrepe": {}}})
    with pytest.raises(UserError, match="model names must be unique"):
        compare.read_plan({"models": [{"name": "a", "model": tiny("")}] * 2, "datasets": {"x": {}}})


REPO = Path(__file__).resolve().parents[1]


def test_shipped_compare_config_and_readme_lines_are_valid():
    from ahnpl_plugin.models.clip.options import model_options

    plan = compare.read_plan(OmegaConf.load(REPO / "projects" / "ahnpl" / "compare.yaml"))
    assert plan.reference == "CLIP ViT-B/32 (OpenAI)" and len(plan.models) == 8
    for entry in plan.models:
        model_options(entry.model_cfg)
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Comparing with published checkpoints")[1].split("\n## ")[0]
    lines = re.findall(r"^(\{arch: ahnpl_clip.*?\})$", section.replace(",\n ", ", "), re.M)
    assert len(lines) == 8  # NegCLIP, CE-CLIP, CLoVe, FSC-CLIP, DeGLA, READ-CLIP, AHNPL, LoRA
    for line in lines:
        options = model_options(OmegaConf.create(line))
        plain = options.pretrained.endswith((".pt", ".pth")) and not options.pretrained_lora
        assert options.act == ("quick_gelu" if plain else ""), line  # every plain state dict names its act


def test_evaluation_records_the_weights_and_activation(tmp_path):
    from types import SimpleNamespace

    from lavis.processors.clip_processors import ClipImageEvalProcessor

    from ahnpl_plugin import benchmarks
    from ahnpl_plugin.datasets.benchmark_builders import BenchmarkChoiceDataset
    from ahnpl_plugin.tasks.compositional import CompositionalTask

    datasets = sugarcrepe(tmp_path)
    tiny_checkpoint(tmp_path / "c.pth", seed=4)
    torch.save(torch.load(tmp_path / "c.pth")["model"], tmp_path / "c.pth")  # bare ahnpl_clip state dict
    model = AHNPLClip.from_config(OmegaConf.create(tiny(tmp_path / "c.pth")))
    bench = benchmarks.load("sugarcrepe", datasets["ahnpl_sugarcrepe"]["root"],
                            image_root=datasets["ahnpl_sugarcrepe"]["image_root"])
    dataset = BenchmarkChoiceDataset(bench, ClipImageEvalProcessor(image_size=32))
    task = CompositionalTask(progress=False)
    result = task.evaluation(model, SimpleNamespace(dataset=dataset, batch_size=4, num_workers=0))
    metrics = task._part_metrics(result["parts"][0], "test")
    assert metrics["weights"]["act"] == "quick_gelu" and metrics["weights"]["format"] == "ahnpl_checkpoint"
    assert metrics["weights"]["act_source"] == "the checkpoint's quick_gelu entry"
