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


def _planted_suite_outcomes():
    """Planted per-item outcomes (2 items per part, the first right) of every benchmark that the
    rows of READ-CLIP, DeGLA and CE-CLIP+ are reported on, with the real part names."""
    import numpy as np

    from ahnpl_plugin.benchmarks.protocols import (
        ItemOutcomes, SUGARCREPE_FAMILIES, VALSE_PIECES)
    from ahnpl_plugin.benchmarks.sugarcrepe_pp import FILES as SCPP_FILES, METRICS as SCPP_METRICS
    from ahnpl_plugin.benchmarks.whatsup import SUBSETS as WHATSUP_SUBSETS

    def outcomes(name, parts, names=("correct",), per_part=2):
        parts = [p for p in parts for _ in range(per_part)]
        right = np.array([i % 2 == 0 for i in range(len(parts))])
        return ItemOutcomes(name, [f"{p}/{i}" for i, p in enumerate(parts)], parts, {n: right for n in names})

    files = [f for family in SUGARCREPE_FAMILIES.values() for f in family]
    return {
        "valse": outcomes("valse", VALSE_PIECES),
        "sugarcrepe": outcomes("sugarcrepe", files),
        "whatsup": outcomes("whatsup", WHATSUP_SUBSETS, ("correct", "individual")),
        "sugarcrepe_pp": outcomes("sugarcrepe_pp", SCPP_FILES, SCPP_METRICS),
        "aro_vg_relation": outcomes("aro_vg_relation", ["on", "behind"]),
        "aro_vg_attribution": outcomes("aro_vg_attribution", ["red_blue"], per_part=26),
        "aro_coco_order": outcomes("aro_coco_order", ["seed0"]),
        "aro_flickr_order": outcomes("aro_flickr_order", ["seed0"]),
    }


def test_results_md_puts_paper_rows_under_their_own_protocol_columns():
    """results.md (render_suite_report): every number of READ-CLIP, DeGLA and CE-CLIP+ sits in the
    column of the protocol its paper aggregated it under, with the footnote of its paper and table;
    those rows are "–" everywhere else, and our row has a cell (with interval) in each such column."""
    from ahnpl_plugin.benchmarks.cells import model_cells
    from ahnpl_plugin.benchmarks.published import PUBLISHED_CELLS
    from ahnpl_plugin.benchmarks.report import render_suite_report

    cells = model_cells(_planted_suite_outcomes(), replicates=200)
    text = render_suite_report({}, "ours", cells=cells)
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("| Model |"))
    columns = [c.strip() for c in header.strip("|").split("|")][1:]
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")][1:]
            for line in lines if line.startswith("| ") and not line.startswith("| Model")}
    notes = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in lines
             if line[:1] in "¹²³⁴⁵⁶⁷⁸⁹" and " " in line}
    new_rows = ("READ-CLIP (paper)", "DeGLA (paper)", "CE-CLIP+ (CE-CLIP paper)")
    expected = {m: {c.protocol: c for c in PUBLISHED_CELLS if c.model == m} for m in new_rows}
    assert {m: len(cs) for m, cs in expected.items()} == {new_rows[0]: 5, new_rows[1]: 13, new_rows[2]: 3}
    for model, by_protocol in expected.items():
        for column, text_cell in zip(columns, rows[model]):
            if column not in by_protocol:
                assert text_cell == "–", (model, column)
                continue
            cell = by_protocol[column]
            value, mark = text_cell[:len(cell.value)], text_cell[len(cell.value):]
            assert value == cell.value and notes[mark] == cell.source, (model, column)
        assert set(by_protocol) <= set(columns), model  # every number of the row is shown
        assert rows["**ours**"][columns.index(next(iter(by_protocol)))][:1].isdigit()
    # spot checks, as printed in the papers
    row = dict(zip(columns, rows["READ-CLIP (paper)"]))
    assert row["valse/items-pooled"].startswith("76.2") and row["valse/pieces-mean"] == "–"
    assert row["whatsup/sources-mean"].startswith("43.9") and row["whatsup/subsets-mean"] == "–"
    assert row["sugarcrepe/files-mean"].startswith("87.0") and row["sugarcrepe/families-mean"] == "–"
    row = dict(zip(columns, rows["DeGLA (paper)"]))
    assert row["valse/pieces-mean"].startswith("74.1") and row["aro/tasks-mean"].startswith("86.1")
    row = dict(zip(columns, rows["CE-CLIP+ (CE-CLIP paper)"]))
    assert row["valse/columns9-mean"].startswith("76.7") and row["valse/pieces-mean"] == "–"
    assert "75.05" in notes[row["valse/columns9-mean"][4:]]
    ours = dict(zip(columns, rows["**ours**"]))
    assert ours["valse/columns9-mean"].startswith("50.0 [") and ours["whatsup/sources-mean"].startswith("50.0 [")
    assert "Backbone of every published row: ViT-B/32." in text
