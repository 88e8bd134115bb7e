"""The demo's two configs are the same experiment but for the loss, and its table reads right."""

from pathlib import Path

import yaml

from ahnpl_plugin.demo import format_table

REPO = Path(__file__).resolve().parent.parent


def _load(name):
    return yaml.safe_load((REPO / "projects" / "ahnpl" / name).read_text())


def test_demo_and_baseline_differ_only_in_the_loss():
    ahnpl, clip = _load("demo.yaml"), _load("demo_clip.yaml")
    assert ahnpl["run"] == clip["run"]
    world_a = ahnpl["datasets"]["ahnpl_synthetic_world"]
    world_c = dict(clip["datasets"]["ahnpl_synthetic_world"])
    assert world_c.pop("negative_types") == []  # the baseline reads no negatives
    assert world_a == world_c
    assert {k: v for k, v in ahnpl["model"].items() if k != "loss"} == {
        k: v for k, v in clip["model"].items() if k != "loss"
    }
    assert clip["model"]["loss"] == {"mode": "ahnpl", "negative_types": [], "use_hn": False, "use_dm": False}


def test_table_has_one_column_per_run_in_percent():
    table = format_table({
        "AHNPL": {"attribute_swap": 0.999, "relation_swap": 0.97, "average": 0.9},
        "CLIP fine-tune": {"attribute_swap": 0.747, "relation_swap": 0.514, "average": 0.7},
    })
    lines = table.splitlines()
    assert lines[0] == "| held-out test | AHNPL | CLIP fine-tune |"
    assert "| attribute swap | 99.9 | 74.7 |" in lines
    assert "| relation swap | 97.0 | 51.4 |" in lines
    assert "| object replace | – | – |" in lines
    assert lines[-1] == "| mean | 90.0 | 70.0 |"
