"""Issue 16's benchmarks through LAVIS: builders, ``python -m ahnpl_plugin.data check``, the shipped
configs, and the ahnpl_compositional task (SugarCrepe++'s caption-caption cosines, CREPE's crops),
on the layouts written by each benchmark's unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import test_benchmarks_crepe as crepe_layout
import test_benchmarks_eqben as eqben_layout
import test_benchmarks_spec as spec_layout
import test_benchmarks_sugarcrepe_pp as scpp_layout
import test_benchmarks_vl_compo_rest as rest_layout
import test_benchmarks_whatsup as whatsup_layout
from test_eval_suite import TINY, _build
from test_real_data_benchmark_check import _inspect

REPO = Path(__file__).resolve().parent.parent
# the protocol (protocols.py) whose value is each benchmark's headline metric
HEADLINE_PROTOCOL = {"sugarcrepe_pp": "sugarcrepe_pp/itt", "whatsup": "whatsup/subsets-mean", "spec": "spec/average",
                     "crepe": "crepe/types-mean", "eqben": "eqben/group", "imagecode": "imagecode/pooled",
                     "svo_probes": "svo_probes/types-mean", "colorswap": "colorswap/group",
                     "mmvp_vlm": "mmvp_vlm/group"}
NEW = ("sugarcrepe_pp", "whatsup", "spec", "crepe", "eqben", "imagecode", "svo_probes", "colorswap",
       "mmvp_vlm")


def _configs(tmp_path) -> dict:
    """A builder config per new benchmark over its unit-test layout, and its item count."""
    scpp_root, coco = scpp_layout._build(tmp_path / "scpp")
    whatsup_root, _ = whatsup_layout._build(tmp_path / "whatsup")
    spec_root = spec_layout._build(tmp_path / "spec")
    crepe_root, vg = crepe_layout._build(tmp_path / "crepe")
    eqben_file, eqben_images = eqben_layout._subset_layout(tmp_path / "eqben")
    return {
        "sugarcrepe_pp": ({"root": str(scpp_root), "image_root": str(coco)}, 7),
        "whatsup": ({"root": str(whatsup_root)}, 18),
        "spec": ({"root": str(spec_root)}, 18),
        "crepe": ({"root": str(crepe_root), "image_root": str(vg), "options": {"complexities": [4, 5]}}, 5),
        "eqben": ({"root": str(eqben_file), "image_root": str(eqben_images)}, 8),
        "imagecode": ({"root": str(rest_layout.imagecode_layout(tmp_path / "ic"))}, 3),
        "svo_probes": ({"root": str(rest_layout.svo_layout(tmp_path / "svo"))}, 4),
        "colorswap": ({"root": str(rest_layout.colorswap_layout(tmp_path / "cs"))}, 4),
        "mmvp_vlm": ({"root": str(rest_layout.mmvp_layout(tmp_path / "mmvp"))}, 3),
    }


def test_data_check_inspects_every_new_benchmark(tmp_path):
    for name, (cfg, n_items) in _configs(tmp_path).items():
        report = _inspect(f"ahnpl_{name}", cfg)
        assert report.problems == [], name
        assert report.lines[0].startswith(f"{name}: {n_items} items in "), report.lines
        assert report.lines[1].startswith(f"{n_items} items evaluable over "), report.lines
    (bad,) = _inspect("ahnpl_crepe", {**cfg, "options": {"pieces": 1}}).problems
    assert bad.startswith("unknown option(s) ['pieces'] under datasets.ahnpl_crepe.options; valid: "
                          "['complexities', 'split', 'train_corpus', 'types']")


@pytest.mark.parametrize("name,expected", [
    ("sugarcrepe_pp", "replace_att.json"), ("whatsup", "controlled_images_dataset.json"),
    ("spec", "absolute_size/image2text.json"), ("crepe", "prod_vg_hard_negs_atom_complexity_4.csv"),
    ("eqben", "EqBen annotation not found"), ("imagecode", "valid_data.json"),
    ("svo_probes", "svo_probes.csv"), ("colorswap", "test.json"), ("mmvp_vlm", "Questions.csv")])
def test_shipped_configs_without_data_name_the_file_and_source(name, expected, tmp_path, monkeypatch, capsys):
    from ahnpl_plugin.data.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["check", "--cfg-path", str(REPO / "projects" / "ahnpl" / f"eval_{name}.yaml"), "--options",
                 "model.model_type=tiny", "model.pretrained="]) == 1
    out = capsys.readouterr().out
    assert f"[datasets.ahnpl_{name}]\n  PROBLEM: datasets.ahnpl_{name}: " in out
    assert expected in out and "Download it from" in out


@pytest.fixture(scope="module")
def tiny_model():
    from ahnpl_plugin import register

    register()
    from lavis.common.registry import registry
    from omegaconf import OmegaConf

    torch.manual_seed(0)
    return registry.get_model_class("ahnpl_clip").from_config(OmegaConf.create(TINY)).eval()


def _naive(model, dataset):
    """Every item's images and captions encoded on their own (image-text and caption-caption)."""
    from ahnpl_plugin.benchmarks import open_image

    sims, text_sims = [], []
    with torch.no_grad():
        for item in dataset.benchmark.items:
            images = torch.stack([dataset.vis_processor(open_image(ref)) for ref in item.images])
            texts = model.encode_text(item.captions)
            sims.append((model.encode_image(images) @ texts.T).numpy())
            text_sims.append((texts @ texts.T).numpy())
    return sims, text_sims


@pytest.mark.parametrize("name", ["sugarcrepe_pp", "crepe", "imagecode"])
def test_task_scores_equal_naive_scoring(name, tmp_path, tiny_model):
    from ahnpl_plugin.tasks.compositional import HEADLINE_METRIC, CompositionalTask

    cfg, n_items = _configs(tmp_path)[name]
    dataset = _build(f"ahnpl_{name}", cfg)["test"]
    bench = dataset.benchmark
    scores = CompositionalTask(progress=False).evaluate_dataset(tiny_model, dataset, batch_size=2)
    sims, text_sims = _naive(tiny_model, dataset)
    expected = bench.score(sims, text_sims=text_sims) if bench.needs_text_sims else bench.score(sims)
    for key in ("by_group", "counts"):
        assert scores[key].keys() == expected[key].keys()
    for key, value in expected.items():
        if isinstance(value, float):
            assert scores[key] == pytest.approx(value, abs=1e-9), key
    assert scores["counts"]["n_items"] == n_items
    # the headline equals its protocol's cell (value with a 95% interval), named in results.md
    from ahnpl_plugin.benchmarks.protocols import protocol_table
    from ahnpl_plugin.benchmarks.report import render_report

    cell = scores["cells"][HEADLINE_PROTOCOL[name]]
    assert cell["value"] == pytest.approx(scores[HEADLINE_METRIC[name]], abs=1e-9)
    assert cell["low"] <= cell["value"] <= cell["high"] and cell["n"] == n_items
    assert (f"- protocol {protocol_table()[HEADLINE_PROTOCOL[name]].describe()}\n"
            in render_report({name: scores}, "tiny"))
    if name == "sugarcrepe_pp":  # swap_obj item 1: negative == caption, an exact tie
        assert scores["by_group"]["swap_obj/itt_p1"] <= 0.5


def test_new_benchmarks_are_in_eval_all():
    import yaml

    datasets = yaml.safe_load((REPO / "projects" / "ahnpl" / "eval_all.yaml").read_text())["datasets"]
    assert {f"ahnpl_{n}" for n in NEW} <= set(datasets)
    for name in NEW:  # and each has its own eval config
        assert (REPO / "projects" / "ahnpl" / f"eval_{name}.yaml").is_file()


@pytest.mark.slow
def test_python_m_lavis_evaluate_new_benchmarks_with_a_tiny_model(tmp_path):
    """The CLI end to end: SugarCrepe++ (caption-caption cosines) and What'sUp in one run."""
    import json

    from test_eval_suite import _evaluate_subprocess, _run_cfg, _write_yaml

    configs = _configs(tmp_path)
    cfg = _write_yaml({"model": TINY,
                       "datasets": {f"ahnpl_{n}": configs[n][0] for n in ("sugarcrepe_pp", "whatsup")},
                       "run": _run_cfg(Path("out"))}, tmp_path / "eval.yaml")
    proc = _evaluate_subprocess(cfg, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = list((tmp_path / "out").iterdir())
    results = json.loads((run_dir / "results.json").read_text())["test"]
    scpp, whatsup = results["ahnpl_sugarcrepe_pp"], results["ahnpl_whatsup"]
    assert scpp["benchmark"] == "sugarcrepe_pp" and scpp["counts"]["n_items"] == 7
    assert 0.0 <= scpp["tot"] <= 1.0 and scpp["agg_metrics"] == scpp["itt"]
    assert whatsup["counts"]["n_items"] == 18 and whatsup["agg_metrics"] == whatsup["average"]
    report = (run_dir / "results.md").read_text()
    assert "- protocol sugarcrepe_pp/itt: " in report and "- protocol whatsup/subsets-mean: " in report
    assert "| sugarcrepe_pp |" in report  # the items evaluated table
    items = json.loads((run_dir / "result" / "ahnpl_sugarcrepe_pp_test_epocheval.items.json").read_text())
    assert len(items["sugarcrepe_pp"]["outcomes"]["tot"]) == 7  # per-item text-only outcomes, kept for paired tests


def test_data_check_reads_npy_frames_by_their_header(tmp_path):
    """EqBen's YouCook2 frames are .npy arrays: [H, W, 3] uint8 passes, anything else is named."""
    import numpy as np

    from ahnpl_plugin.benchmarks import ImageRef
    from ahnpl_plugin.datasets.benchmark_builders import unreadable_images

    np.save(tmp_path / "good.npy", np.zeros((4, 5, 3), dtype=np.uint8))
    np.save(tmp_path / "gray.npy", np.zeros((4, 5), dtype=np.float32))
    (tmp_path / "text.npy").write_text("not an array")
    problems = unreadable_images([ImageRef(str(tmp_path / n)) for n in ("good.npy", "gray.npy", "text.npy")])
    assert [p.split(": ", 1)[0] for p in problems] == [f"cannot read image {tmp_path / n}" for n in ("gray.npy", "text.npy")]
    assert "expected an [H, W, 3] uint8 frame, got shape (4, 5) float32" in problems[0]
    assert "not a numpy array file" in problems[1]


def test_compare_pairs_each_benchmark_by_its_own_correctness(tmp_path):
    """python -m ahnpl_plugin.compare's McNemar outcomes: SPEC's text-to-image items are right when
    the labelled *image* wins (argmax); Winoground-style benchmarks have no single outcome."""
    import numpy as np

    import ahnpl_plugin.benchmarks as benchmarks
    from ahnpl_plugin.compare import choice_outcomes

    bench = benchmarks.load("spec", spec_layout._build(tmp_path / "spec"))
    sims = spec_layout._planted(bench)
    outcomes = choice_outcomes(bench, sims)
    t2i = [k for k, it in enumerate(bench.items) if it.meta["direction"] == "t2i"]
    assert outcomes[t2i].tolist() == [True, False, False, True, True, False]  # absolute_size .. count
    i2t_right = sum(2 * v for v in spec_layout.I2T.values())  # two i2t items per subset
    assert outcomes.sum() == i2t_right + sum(spec_layout.T2I.values()) == 10
    cs = benchmarks.load("colorswap", rest_layout.colorswap_layout(tmp_path / "cs"))
    assert choice_outcomes(cs, [np.eye(2)] * len(cs.items)) is None
