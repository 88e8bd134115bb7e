"""Published numbers and the Markdown table / report built from score dicts."""

import pytest

from ahnpl_plugin.benchmarks.published import (
    COLUMNS,
    PUBLISHED,
    published_value,
    render_table,
)
from ahnpl_plugin.benchmarks.report import render_report


def test_published_numbers_as_printed_in_the_papers():
    assert published_value("CLIP", "aro_vg_relation", "accuracy") == pytest.approx(0.59)
    assert published_value("NegCLIP", "aro_flickr_order", "accuracy") == pytest.approx(0.91)
    assert published_value("CE-CLIP", "aro_vg_attribution", "accuracy") == pytest.approx(0.764)
    assert published_value("CE-CLIP", "aro_coco_order", "accuracy") is None
    assert [PUBLISHED["NegCLIP"][("sugarcrepe", m)] for m in (
        "replace_obj", "replace_att", "replace_rel", "swap_obj", "swap_att", "add_obj",
        "add_att")] == ["92.7", "85.9", "76.5", "75.2", "75.4", "88.8", "82.8"]
    assert [published_value(m, "valse", "average") for m in PUBLISHED] == pytest.approx(
        [0.653, 0.716, 0.725, 0.759])
    clip_vlc = [published_value("CLIP", "vl_checklist", m) for m in ("attribute", "object",
                                                                       "relation")]
    # CE-CLIP's VL-CheckList average is the mean of 9 subcategories: 5 attribute, 2 + 2
    assert (5 * clip_vlc[0] + 2 * clip_vlc[1] + 2 * clip_vlc[2]) / 9 == pytest.approx(
        published_value("CLIP", "vl_checklist", "average"), abs=5e-4)
    for model, cells in PUBLISHED.items():
        assert {key for key in cells} <= {(c.benchmark, c.metric) for c in COLUMNS}, model


def test_render_table_puts_our_row_beside_published_rows():
    results = {
        "valse": {"average": 0.7412, "existence": 0.9, "counts": {"n_items": 10}, "notes": []},
        "aro_vg_relation": {"accuracy": 0.815, "by_group": {"on": 0.8}},
    }
    table = render_table(results, "AHNPL (ours)")
    lines = table.strip().splitlines()
    assert lines[0] == "| Model | ARO VG-R | VALSE avg |"
    assert lines[1] == "|---|---:|---:|"
    assert lines[2] == "| CLIP | 59 | 65.3 |"
    assert lines[4] == "| CE-CLIP | 83.0 | 72.5 |"
    assert lines[5] == "| AHNPL (paper) | – | 75.9 |"
    assert lines[6] == "| **AHNPL (ours)** | 81.5 | 74.1 |"
    everything = render_table({}, "m").strip().splitlines()
    assert everything[0].count("|") == len(COLUMNS) + 2
    assert everything[-1] == "| **m** | " + " | ".join(["–"] * len(COLUMNS)) + " |"


def test_render_report_lists_metrics_counts_and_notes():
    results = {"winoground": {
        "text": 0.5, "image": 0.25, "group": 0.125, "by_group": {"Object/text": 1.0},
        "counts": {"n_items": 3, "n_items_skipped_missing_images": 1, "n_missing_images": 1},
        "notes": ["ties count as wrong"],
    }}
    text = render_report(results, "mine", with_groups=True)
    # one item skipped: every number of the benchmark says so in its cell
    assert ("| **mine** | 50.0 (incomplete: 1 items skipped) | 25.0 (incomplete: 1 items skipped) | "
            "12.5 (incomplete: 1 items skipped) |") in text
    assert "## winoground" in text and "| group | 12.5 |" in text
    assert "| Object/text | 100.0 |" in text
    assert "items evaluated: 3; items skipped (missing images): 1; missing image files: 1." in text
    assert "- ties count as wrong" in text
