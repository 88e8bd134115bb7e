"""The ablation (issue 20): its configs, its statistics and its table, with known answers."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ahnpl_plugin.ablation import expected_configs, run_options
from ahnpl_plugin.ablation_stats import bootstrap_interval, format_per_seed, format_table, summarise
from ahnpl_plugin.ablation_variants import BASELINE, BY_NAME, VARIANTS

REPO = Path(__file__).resolve().parent.parent


def test_generated_configs_are_up_to_date():
    for path, text in expected_configs().items():
        assert path.is_file(), f"{path} missing: run python -m ahnpl_plugin.ablation --write-configs"
        assert path.read_text() == text, f"{path} is stale: run python -m ahnpl_plugin.ablation --write-configs"


def test_variants_differ_from_the_demo_only_where_they_say():
    demo = yaml.safe_load((REPO / "projects/ahnpl/demo.yaml").read_text())
    for variant in VARIANTS:
        cfg = yaml.safe_load((REPO / f"projects/ahnpl/ablation/{variant.name}.yaml").read_text())
        assert cfg["model"]["loss"] == {"mode": "ahnpl", **variant.loss}
        assert {k: v for k, v in cfg["model"].items() if k != "loss"} == {
            k: v for k, v in demo["model"].items() if k != "loss"}
        world = dict(cfg["datasets"]["ahnpl_synthetic_world"])
        for key in variant.dataset:
            world.pop(key)
        assert world == demo["datasets"]["ahnpl_synthetic_world"]
        run = dict(cfg["run"])
        assert run.pop("max_epoch") == demo["run"]["max_epoch"] * variant.epochs_factor
        assert run.pop("output_dir") == f"output/ablation/{variant.name}"
        assert run == {k: v for k, v in demo["run"].items() if k not in ("max_epoch", "output_dir")}


def test_every_loss_variant_builds_its_loss():
    from ahnpl_plugin.losses import AHNPLLoss

    for variant in VARIANTS:
        AHNPLLoss(**{"mode": "ahnpl", **variant.loss})
    assert BY_NAME[BASELINE].loss == {"use_hn": False, "use_dm": False}
    assert BY_NAME["clip_ft_3x"].epochs_factor == 3


def test_coco_configs_keep_the_coco_recipe():
    coco = yaml.safe_load((REPO / "projects/ahnpl/coco.yaml").read_text())
    cfg = yaml.safe_load((REPO / "projects/ahnpl/ablation/coco/ahnpl_per_sample.yaml").read_text())
    assert cfg["datasets"] == coco["datasets"]
    assert cfg["model"]["loss"] == {"mode": "ahnpl", "per_sample_thresholds": True}
    assert cfg["run"]["job_name"] == "ablation_ahnpl_per_sample"
    assert not (REPO / "projects/ahnpl/ablation/coco/negclip.yaml").exists()  # COCO builder has no HN images


def test_run_options_multiply_the_users_epochs():
    opts = run_options(BY_NAME["clip_ft_3x"], 7, Path("/o"), ["run.max_epoch=1"])
    assert opts == ["run.output_dir=/o", "run.seed=7", "run.progress=false", "run.max_epoch=1", "run.max_epoch=3"]
    assert run_options(BY_NAME["ahnpl"], 7, Path("/o"), ["run.max_epoch=2"])[-1] == "run.max_epoch=2"
    assert run_options(BY_NAME["clip_ft_3x"], 7, Path("/o"), [])[-1] == "run.max_epoch=18"  # 6 x 3 from the file


def test_bootstrap_interval_known_cases():
    assert bootstrap_interval([0.7]) is None
    assert bootstrap_interval([0.5, 0.5, 0.5]) == (0.5, 0.5)
    low, high = bootstrap_interval([0.0, 1.0], resamples=20_000)
    # means of 2 draws from {0, 1}: 0 (1/4), 0.5 (1/2), 1 (1/4) -> 2.5% / 97.5% percentiles 0 and 1
    assert (low, high) == (0.0, 1.0)
    low, high = bootstrap_interval([0.8, 0.9, 1.0])
    assert 0.8 <= low < 0.9 < high <= 1.0


def test_summary_pairs_differences_by_seed_and_table_reads_right():
    results = {
        "itc_text_hn": {1: {"average": 0.80, "attribute_swap": 0.9}, 2: {"average": 0.70, "attribute_swap": 0.8}},
        "ahnpl": {1: {"average": 0.90, "attribute_swap": 1.0}, 2: {"average": 0.75, "attribute_swap": 0.9},
                  3: {"average": 0.10, "attribute_swap": 0.1}},
    }
    summary = summarise(results, "itc_text_hn")
    avg = summary["ahnpl"]["average"]
    assert avg["values"] == [0.90, 0.75, 0.10]
    assert avg["mean"] == pytest.approx((0.90 + 0.75 + 0.10) / 3)
    assert avg["diff_seeds"] == [1, 2]  # seed 3 has no baseline run: not paired
    assert avg["diff"] == pytest.approx((0.10 + 0.05) / 2)
    low, high = avg["diff_interval"]
    assert low == pytest.approx(0.05) and high == pytest.approx(0.10)
    assert "diff" not in summary["itc_text_hn"]["average"]
    labels = {"itc_text_hn": "ITC + text HN", "ahnpl": "AHNPL"}
    table = format_table(summary, labels, "itc_text_hn").splitlines()
    assert table[0].startswith("| variant | seeds | attr swap | rel swap |")
    assert table[0].endswith("| mean | 95% CI | Δ mean vs ITC + text HN | Δ 95% CI |")
    assert table[2] == "| ITC + text HN | 2 | 85.0 | – | – | – | – | 75.0 | [70.0, 80.0] | 0 (baseline) |  |"
    assert table[3].startswith("| AHNPL | 3 | 66.7 | – |")
    assert table[3].endswith("| 58.3 | " + "[{:.1f}, {:.1f}] | +7.5 | [5.0, 10.0] |".format(
        *(100 * x for x in avg["interval"])))
    per_seed = format_per_seed(summary, labels).splitlines()
    assert per_seed[0] == "| variant | seed 1 | seed 2 | seed 3 |"
    assert per_seed[2] == "| ITC + text HN | 80.0 | 70.0 | – |"


@pytest.mark.slow  # loads every generated ablation config
def test_every_generated_config_loads_through_the_plugins_config():
    from ahnpl_plugin import register
    from ahnpl_plugin.config import load_config
    from ahnpl_plugin.losses import AHNPLLoss
    from ahnpl_plugin.models.loss_options import loss_options

    register()
    for path in expected_configs():
        cfg = load_config(str(path), [])
        AHNPLLoss(**loss_options(cfg.model_cfg.get("loss")))


def test_report_from_run_folders(tmp_path):
    import json

    from ahnpl_plugin.ablation import write_report

    runs = {}
    for name, seed, avg in (("itc_text_hn", 1, 0.6), ("ahnpl", 1, 0.7), ("itc_text_hn", 2, 0.5), ("ahnpl", 2, 0.8)):
        run_dir = tmp_path / name / f"seed{seed}" / "run"
        run_dir.mkdir(parents=True)
        (run_dir / "results.json").write_text(json.dumps({"test": {"attribute_swap": avg, "average": avg}}))
        rows = [{"step": i, "loss": 1.0, "theta/adj": 2.0 * i, "logit_scale": 10.0} for i in range(1, 4)]
        (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        runs[(name, seed)] = {"dir": run_dir, "wall_s": 10.0 * seed, "reused": False}
    text = write_report(runs, tmp_path, ["run.max_epoch=1"], 42.0, ("load a", "load b"), 1, 2)
    assert "| AHNPL | 2 | 75.0 | – | – | – | – | 75.0 |" in text  # table order: VARIANTS, not the runs'
    assert text.index("| ITC + text HN |") < text.index("| AHNPL |")
    assert "+20.0 | [10.0, 30.0] |" in text  # paired by seed: +10 and +30
    assert "per run trained by this invocation 10-20 s" in text and "`load a`" in text
    for name in ("ablation_results.md", "ablation_results.json", "ablation.png", "ablation_thresholds.png"):
        assert (tmp_path / name).is_file(), name
