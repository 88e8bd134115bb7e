"""Protocols as data, intervals and paired tests, checked against published numbers.

* vl_compo's public per-subset file (``individual_results.csv`` of github.com/ytaek-oh/vl_compo;
  an excerpt of six models and the five benchmarks is in tests/data/) must give its summary file
  (``results.csv``) under our named rules, to 1e-6: ARO = mean of 4 tasks, VALSE = mean of the 7
  phenomenon groups, VL-CheckList = mean of 3 types (Object: 6 location/size columns), SugarCrepe
  = mean of the 3 families, each pooling its files' items (swap_obj with the released 245 items),
  Winoground = group. The same per-piece values under the 11-piece mean give NegCLIP 71.8, not
  73.7: the protocols differ by ~2 points.
* Wilson intervals: 5/10 -> [23.7, 76.3] (textbook); Winoground group at n=400 is +-2.8 points,
  SugarCrepe swap_obj at n=245 +-5.3 (186/245).
* McNemar: 10 vs 2 discordant items -> p = 2 (1 + 12 + 66) / 2^12 = 0.0386.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from ahnpl_plugin.benchmarks.cells import Cell, model_cells, render_protocol_table
from ahnpl_plugin.benchmarks.protocols import (
    ItemOutcomes,
    Mean,
    Pool,
    VLC_VLCOMPO_COLUMNS,
    protocol_table,
)
from ahnpl_plugin.benchmarks.published import PUBLISHED_CELLS
from ahnpl_plugin.benchmarks.stats import (
    bootstrap_interval,
    mcnemar_exact,
    paired_test,
    wilson_interval,
)

DATA = Path(__file__).resolve().parent / "data"
REPLICATES = 200  # bootstrap replicates where only values and completeness are checked (default 2000)
# items per SugarCrepe file as released (github.com/RAIVNLab/sugar-crepe data/; swap_obj lacks id 108)
SUGARCREPE_ITEMS = {"replace_obj": 1652, "replace_att": 788, "replace_rel": 1406, "swap_obj": 245,
                    "swap_att": 666, "add_obj": 2062, "add_att": 692}
# vl_compo column -> a part name of ours (VL-CheckList corpus "<type>/<sub>/[<level>/]<source>")
VLC_COLUMNS = {
    "Object_Location_center": "object/location/center/all", "Object_Location_margin": "object/location/margin/all",
    "Object_Location_mid": "object/location/mid/all", "Object_Size_large": "object/size/large/all",
    "Object_Size_medium": "object/size/medium/all", "Object_Size_small": "object/size/small/all",
    "Attribute_action": "attribute/action/all", "Attribute_color": "attribute/color/all",
    "Attribute_material": "attribute/material/all", "Attribute_size": "attribute/size/all",
    "Attribute_state": "attribute/state/all", "Relation_action": "relation/action/all",
    "Relation_spatial": "relation/spatial/all",
}


def _rows(name: str) -> dict[str, dict]:
    with open(DATA / name, newline="") as f:
        return {f"{r['arch']}|{r['pretrained']}": r for r in csv.DictReader(f)}


def _accuracies(row: dict, benchmark: str) -> dict[str, float]:
    prefix = benchmark + "::"
    return {k[len(prefix):]: float(v) / 100 for k, v in row.items() if k.startswith(prefix)}


def _value(protocol: str, counts) -> float:
    return protocol_table()[protocol].rule.value(counts)


def _summary_of(row: dict) -> dict[str, float]:
    """Each vl_compo summary number from the per-subset numbers, through our named protocols."""
    valse = {p: (a, 1.0) for p, a in _accuracies(row, "valse").items()}
    sugar = {f: (a * SUGARCREPE_ITEMS[f], SUGARCREPE_ITEMS[f]) for f, a in _accuracies(row, "sugarcrepe").items()}
    vlc = {VLC_COLUMNS[c]: (a, 1.0) for c, a in _accuracies(row, "vl_checklist").items()}
    aro = _accuracies(row, "aro")
    aro_tasks = {  # each ARO task under its own protocol, then the composite's mean
        "aro_vg_relation/relations-mean": aro["VG_Relation"], "aro_vg_attribution/pairs-mean": aro["VG_Attribute"],
        "aro_coco_order/precision": aro["COCO_Order"], "aro_flickr_order/precision": aro["Flickr30k_Order"]}
    members = protocol_table()["aro/tasks-mean"].members
    return {
        "valse": _value("valse/groups-mean", valse),
        "sugarcrepe": _value("sugarcrepe/families-mean", sugar),
        "vl_checklist": _value("vl_checklist/types-mean", vlc),
        "aro": float(np.mean([aro_tasks[m] for m in members])),
        "winoground": _accuracies(row, "winoground")["group"],
        "valse_11_pieces": _value("valse/pieces-mean", valse),
    }


def test_named_rules_reproduce_vl_compo_summary_from_its_per_subset_file():
    individual, summary = _rows("vl_compo_individual_results_excerpt.csv"), _rows("vl_compo_results_excerpt.csv")
    assert len(individual) == 6 and set(individual) == set(summary)
    for model, row in individual.items():
        ours = _summary_of(row)
        for benchmark in ("aro", "sugarcrepe", "valse", "vl_checklist", "winoground"):
            assert 100 * ours[benchmark] == pytest.approx(float(summary[model][benchmark]), abs=1e-6), (model, benchmark)
    negclip = _summary_of(individual["NegCLIP|coco-ft"])
    assert round(100 * negclip["valse"], 1) == 73.7 and round(100 * negclip["valse_11_pieces"], 1) == 71.8


def test_other_rules_do_not_reproduce_vl_compo():
    """The rules are not interchangeable: pooling all SugarCrepe items, or a plain mean of the
    13 VL-CheckList columns, misses vl_compo's numbers by more than a point for some model."""
    individual, summary = _rows("vl_compo_individual_results_excerpt.csv"), _rows("vl_compo_results_excerpt.csv")
    worst_pooled = worst_flat = 0.0
    for model, row in individual.items():
        sugar = {f: (a * SUGARCREPE_ITEMS[f], SUGARCREPE_ITEMS[f]) for f, a in _accuracies(row, "sugarcrepe").items()}
        worst_pooled = max(worst_pooled, abs(100 * Pool("*").value(sugar) - float(summary[model]["sugarcrepe"])))
        vlc = {VLC_COLUMNS[c]: (a, 1.0) for c, a in _accuracies(row, "vl_checklist").items()}
        flat = Mean(*[Pool(p) for p in vlc]).value(vlc)
        worst_flat = max(worst_flat, abs(100 * flat - float(summary[model]["vl_checklist"])))
    assert worst_pooled > 1.0 and worst_flat > 1.0


# vl_compo's per-subset columns of the newer benchmarks (issue 16) -> our part names; per item counts
# only where the rule pools (ImageCoDe: validation descriptions, 1,872 video + 430 static)
WHATSUP_COLUMNS = {"WhatsUp_A": "controlled_a", "WhatsUp_B": "controlled_b", "COCO_QA_ONE": "coco_qa_one",
                   "COCO_QA_TWO": "coco_qa_two", "VG_QA_ONE": "vg_qa_one", "VG_QA_TWO": "vg_qa_two"}
SVO_COLUMNS = {"subj_neg": "subject", "verb_neg": "verb", "obj_neg": "object"}
IMAGECODE_ITEMS = {"video": 1872, "static": 430}


def _newer_summary_of(row: dict) -> dict[str, float]:
    """vl_compo's columns of the newer benchmarks from its per-subset columns, through our protocols."""
    def per_part(benchmark, rename=lambda c: c, suffix=""):
        return {rename(c[:-len(suffix)] if suffix else c): (a, 1.0) for c, a in _accuracies(row, benchmark).items()
                if c.endswith(suffix)}

    imagecode = {"video": _accuracies(row, "imagecode")["videos"], "static": _accuracies(row, "imagecode")["static"]}
    return {
        "whatsup": _value("whatsup/subsets-mean", per_part("whatsup", WHATSUP_COLUMNS.get)),
        "crepe": _value("crepe/types-mean", per_part("crepe", lambda t: f"{t}/4")),  # vl_compo: one column per type
        "eqben": _value("eqben/group", per_part("eqben", suffix="::group")),
        "imagecode": _value("imagecode/pooled", {k: (a * IMAGECODE_ITEMS[k], IMAGECODE_ITEMS[k])
                                                 for k, a in imagecode.items()}),
        "svo_probes": _value("svo_probes/types-mean", per_part("svo_probes", SVO_COLUMNS.get)),
        "colorswap": _accuracies(row, "colorswap")["group"],
        "mmvp_vlm": _value("mmvp_vlm/group", per_part("mmvp_vlm", suffix="::group")),
    }


def test_newer_benchmark_protocols_reproduce_vl_compo_and_carry_its_rows():
    """What'sUp = mean of 6 subsets, CREPE = mean of 3 types, EqBen = Kubric's 3 splits first then 5
    sources, ImageCoDe = video and static pooled, SVO-Probes = mean of 3, ColorSwap = group,
    MMVP-VLM = mean of the 9 patterns' group: vl_compo's summary to 1e-6, for the 6 models; with the
    first five, the mean of all 12 is vl_compo's comp_avg."""
    individual = _rows("vl_compo_individual_results_newer_excerpt.csv")
    summary = _rows("vl_compo_results_newer_excerpt.csv")
    first_five = _rows("vl_compo_individual_results_excerpt.csv")  # ARO, SugarCrepe, VALSE, VL-CheckList, Winoground
    assert len(individual) == 6 and set(individual) == set(summary)
    for model, row in individual.items():
        ours = _newer_summary_of(row)
        for benchmark, value in ours.items():
            assert 100 * value == pytest.approx(float(summary[model][benchmark]), abs=1e-6), (model, benchmark)
        # vl_compo's comp_avg: our composite of all 12, each under vl_compo's rule
        members = {**_summary_of(first_five[model]), **ours}
        names = {"aro/tasks-mean": "aro", "colorswap/group": "colorswap", "crepe/types-mean": "crepe",
                 "eqben/group": "eqben", "imagecode/pooled": "imagecode", "mmvp_vlm/group": "mmvp_vlm",
                 "sugarcrepe/families-mean": "sugarcrepe", "svo_probes/types-mean": "svo_probes",
                 "valse/groups-mean": "valse", "vl_checklist/types-mean": "vl_checklist",
                 "whatsup/subsets-mean": "whatsup", "winoground/group": "winoground"}
        comp = protocol_table()["vl_compo/comp12-mean"].members
        assert set(comp) == set(names)
        assert 100 * np.mean([members[names[m]] for m in comp]) == pytest.approx(float(summary[model]["comp_avg"]),
                                                                                 abs=1e-6), model
    # EqBen: a plain mean over the 7 sources is not vl_compo's rule
    row = individual["NegCLIP|coco-ft"]
    flat = np.mean([a for c, a in _accuracies(row, "eqben").items() if c.endswith("::group")])
    assert abs(100 * flat - float(summary["NegCLIP|coco-ft"]["eqben"])) > 0.1
    # the published cells of these protocols are vl_compo's numbers, one decimal
    from ahnpl_plugin.benchmarks.published import PUBLISHED_CELLS

    by = {(c.model, c.protocol): c.value for c in PUBLISHED_CELLS}
    names = {"ViT-B-32|openai": "CLIP ViT-B/32 (vl_compo)", "NegCLIP|coco-ft": "NegCLIP (vl_compo)",
             "CE-CLIP|coco-ft": "CE-CLIP (vl_compo)", "CLoVe|laioncoco600m-ft": "CLoVe (vl_compo)",
             "DAC-LLM|cc3m-ft": "DAC-LLM (vl_compo)"}
    protocols = {"whatsup": "whatsup/subsets-mean", "crepe": "crepe/types-mean", "eqben": "eqben/group",
                 "imagecode": "imagecode/pooled", "svo_probes": "svo_probes/types-mean",
                 "colorswap": "colorswap/group", "mmvp_vlm": "mmvp_vlm/group", "comp_avg": "vl_compo/comp12-mean"}
    for key, model in names.items():
        for benchmark, protocol in protocols.items():
            assert float(by[(model, protocol)]) == pytest.approx(float(summary[key][benchmark]), abs=0.051), (
                model, protocol)


def test_item_counts_of_the_newer_benchmarks_make_vl_compo_accuracies_whole_numbers():
    """The counts in item_counts.py that are implied by vl_compo's accuracies: each accuracy of the
    6 models times its count is a whole number of items (the full file has 202 models)."""
    from ahnpl_plugin.benchmarks.item_counts import ITEM_COUNTS

    implied = {
        "whatsup": {"WhatsUp_A": 412, "WhatsUp_B": 408, "COCO_QA_ONE": 2247, "COCO_QA_TWO": 440,
                    "VG_QA_ONE": 1160, "VG_QA_TWO": 291},
        "crepe": {"atom": 17698, "swap": 7405, "negate": 17303},
        "imagecode": {"videos": 1872, "static": 430},
        "colorswap": {"group": 300},
        "mmvp_vlm": {f"{p}::group": 15 for p in protocol_table()["mmvp_vlm/group"].required_parts()},
    }
    for row in _rows("vl_compo_individual_results_newer_excerpt.csv").values():
        for benchmark, counts in implied.items():
            accuracies = _accuracies(row, benchmark)
            for column, n in counts.items():
                assert accuracies[column] * n == pytest.approx(round(accuracies[column] * n), abs=1e-6), column
    for benchmark in ("whatsup", "crepe", "colorswap"):
        assert ITEM_COUNTS[benchmark].released == sum(implied[benchmark].values())
    assert ITEM_COUNTS["imagecode"].released == 1872 + 430 and ITEM_COUNTS["mmvp_vlm"].released == 9 * 15


def test_vl_compo_columns_cover_the_object_levels():
    assert len(VLC_VLCOMPO_COLUMNS["object"]) == 6 and len(VLC_VLCOMPO_COLUMNS["attribute"]) == 5


def test_ce_clip_rule_is_the_mean_of_the_eleven_pieces():
    """CE-CLIP's VALSE column: unweighted mean over the 11 pieces (each piece counts once, whatever
    its size): planted piece accuracies 0.0, 0.1, ..., 1.0 give 0.5."""
    pieces = protocol_table()["valse/pieces-mean"].rule.children
    counts = {child.patterns[0]: (k, 10) for k, child in enumerate(pieces)}
    assert _value("valse/pieces-mean", counts) == pytest.approx(0.5)
    # groups-mean of the same: Existence 0, Plurality .1, Counting .3, Relations .5, Actions .65,
    # Coreference .85, Foil-it 1.0 -> 3.4 / 7
    assert _value("valse/groups-mean", counts) == pytest.approx(3.4 / 7)


# The VALSE columns as printed in CE-CLIP's Table 1 (github.com/lezhang7/Enhance-FineGrained assets/aro.png)
# and DeGLA's Table 2 (github.com/xiaoxing2001/DeGLA assets/VALSE.png): existence, plurality,
# counting (one column for its 3 pieces), relations, action replacement, actant swap, coreference
# standard, clean, foil-it; then the printed Avg.
CE_CLIP_TABLE1_VALSE = {
    "CLIP": ((68.7, 57.1, 61.0, 65.4, 77.8, 71.8, 54.1, 51.0, 89.8), 65.3),
    "NegCLIP": ((76.8, 71.7, 65.0, 72.9, 81.6, 84.7, 58.6, 53.8, 91.9), 71.6),
    "CE-CLIP": ((78.6, 77.7, 64.4, 74.4, 81.2, 88.6, 54.7, 54.8, 93.7), 72.5),
    "CyCLIP": ((69.3, 58.3, 61.0, 66.4, 78.1, 72.0, 53.2, 51.6, 88.8), 65.5),
}
CE_CLIP_PLUS_VALSE = ((84.5, 79.2, 67.8, 76.4, 83.4, 89.4, 56.7, 57.8, 94.7), 76.7)
DEGLA_TABLE2_VALSE = {
    "CLIP": ((68.7, 57.1, 61.0, 65.4, 77.8, 71.8, 54.1, 51.0, 89.8), 65.3),
    "CyCLIP": ((69.3, 58.3, 61.0, 66.4, 78.1, 72.0, 53.2, 51.6, 88.8), 65.5),
    "NegCLIP": ((76.8, 72.0, 65.2, 72.7, 81.6, 84.8, 58.9, 54.8, 91.8), 71.7),
    "Structure-CLIP": ((75.6, 67.1, 62.0, 68.2, 80.4, 88.3, 44.5, 58.7, 91.2), 69.1),
    "CE-CLIP": ((78.6, 77.6, 64.3, 74.0, 81.2, 88.5, 54.9, 52.9, 93.7), 72.2),
    "DeGLA": ((82.4, 73.8, 68.3, 75.3, 82.6, 88.8, 58.5, 54.8, 93.8), 74.1),
}


def _valse_from_columns(columns) -> dict[str, tuple[float, float]]:
    """Per-piece (accuracy, 1) from the 9 printed columns: each counting piece gets the Counting
    column (exact for any rule that averages the 3 counting pieces, as the column does)."""
    from ahnpl_plugin.benchmarks.protocols import VALSE_CE_CLIP_COLUMNS

    return {piece: (value / 100, 1.0) for column, value in zip(VALSE_CE_CLIP_COLUMNS, columns) for piece in column}


def test_valse_averages_of_ce_clip_and_degla_tables_name_their_rules():
    """Each printed Avg. is its row's columns under exactly one rule (to the columns' rounding):
    CE-CLIP's and DeGLA's rows = the 11-piece mean (Counting weighs 3), except CE-CLIP+ = the mean
    of the 9 displayed columns (76.66; 75.05 over the 11 pieces); neither is vl_compo's 7 groups."""
    for table in (CE_CLIP_TABLE1_VALSE, DEGLA_TABLE2_VALSE):
        for model, (columns, printed) in table.items():
            counts = _valse_from_columns(columns)
            assert abs(100 * _value("valse/pieces-mean", counts) - printed) < 0.1, model
            assert abs(100 * _value("valse/columns9-mean", counts) - printed) > 0.4, model
            assert abs(100 * _value("valse/groups-mean", counts) - printed) > 1.0, model
    assert [round(100 * _value("valse/pieces-mean", _valse_from_columns(CE_CLIP_TABLE1_VALSE[m][0])), 2)
            for m in ("CLIP", "NegCLIP", "CE-CLIP")] == [65.34, 71.55, 72.45]  # issue 15's figures
    plus = _valse_from_columns(CE_CLIP_PLUS_VALSE[0])
    assert round(100 * _value("valse/columns9-mean", plus), 2) == 76.66
    assert round(100 * _value("valse/pieces-mean", plus), 2) == 75.05
    by = {(c.model, c.protocol): c.value for c in PUBLISHED_CELLS}
    assert by[("CE-CLIP+ (CE-CLIP paper)", "valse/columns9-mean")] == "76.7"
    assert ("CE-CLIP+ (CE-CLIP paper)", "valse/pieces-mean") not in by  # 75.05 is ours, not printed
    assert by[("DeGLA (paper)", "valse/pieces-mean")] == "74.1"


def test_degla_aro_average_is_the_mean_of_its_four_tasks_and_its_sugarcrepe_is_per_file():
    degla = {c.protocol: float(c.value) for c in PUBLISHED_CELLS if c.model == "DeGLA (paper)"}
    members = protocol_table()["aro/tasks-mean"].members
    assert np.mean([degla[m] for m in members]) == pytest.approx(degla["aro/tasks-mean"]) == 86.1
    assert [degla[f"sugarcrepe/{f}"] for f in SUGARCREPE_ITEMS] == [94.5, 92.6, 84.2, 81.6, 82.1, 93.8, 95.7]
    # its REPLACE Avg. 90.5 is neither the mean nor the pooled accuracy of its 3 files: not carried
    replace = {f: (degla[f"sugarcrepe/{f}"] / 100 * SUGARCREPE_ITEMS[f], SUGARCREPE_ITEMS[f])
               for f in ("replace_obj", "replace_att", "replace_rel")}
    assert round(100 * Mean(*[Pool(f) for f in replace]).value(replace), 2) == 90.43
    assert round(100 * _value("sugarcrepe/replace-pooled", replace), 2) == 90.35
    assert not any(p.endswith("-pooled") or p.endswith("families-mean") for p in degla)


def test_read_clip_rules_on_planted_counts():
    """READ-CLIP's evaluator: VALSE pools every item; SugarCrepe averages the 7 files; What'sUp
    averages 3 sources, each pooling its 2 subsets. Hand-computed values, and each differs from
    the rule of the same benchmark that vl_compo uses."""
    valse = {"existence": (9, 10), "plurals": (1, 90)}
    assert _value("valse/items-pooled", valse) == pytest.approx(10 / 100)
    assert _value("valse/pieces-mean", valse) == pytest.approx((0.9 + 1 / 90) / 2)
    sugar = {"replace_obj": (10, 10), "replace_att": (0, 10), "replace_rel": (5, 10), "swap_obj": (1, 2),
             "swap_att": (2, 2), "add_obj": (3, 4), "add_att": (1, 4)}
    assert _value("sugarcrepe/files-mean", sugar) == pytest.approx(4 / 7)
    assert _value("sugarcrepe/families-mean", sugar) == pytest.approx((15 / 30 + 3 / 4 + 4 / 8) / 3)
    whatsup = {"controlled_a": (1, 4), "controlled_b": (3, 4), "coco_qa_one": (9, 10), "coco_qa_two": (0, 10),
               "vg_qa_one": (2, 2), "vg_qa_two": (0, 2)}
    assert _value("whatsup/sources-mean", whatsup) == pytest.approx((4 / 8 + 9 / 20 + 2 / 4) / 3)
    assert _value("whatsup/subsets-mean", whatsup) == pytest.approx((0.25 + 0.75 + 0.9 + 0 + 1 + 0) / 6)
    assert protocol_table()["whatsup/sources-mean"].outcome == "individual"
    read = {c.protocol: c.value for c in PUBLISHED_CELLS if c.model == "READ-CLIP (paper)"}
    assert read == {"valse/items-pooled": "76.2", "sugarcrepe/files-mean": "87.0", "whatsup/sources-mean": "43.9",
                    "sugarcrepe_pp/itt": "69.8", "sugarcrepe_pp/tot": "66.2"}  # CREPE 41.5: rule unknown
    for cell in PUBLISHED_CELLS:
        if cell.model in ("READ-CLIP (paper)", "DeGLA (paper)", "CE-CLIP+ (CE-CLIP paper)"):
            assert cell.backbone == "ViT-B/32" and "Table" in cell.source, cell


# ------------------------------------------------------------------------------------ intervals
def test_wilson_interval_known_values():
    low, high = wilson_interval(5, 10)
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)
    low, high = wilson_interval(35, 400)  # Winoground group of a CLIP-like model
    assert round(100 * (high - low) / 2, 1) == 2.8
    low, high = wilson_interval(186, 245)  # SugarCrepe swap_obj, 245 released items
    assert round(100 * (high - low) / 2, 1) == 5.3
    assert wilson_interval(0, 20)[0] == 0.0 and wilson_interval(20, 20)[1] == 1.0


def test_stratified_bootstrap_matches_wilson_for_one_part_and_is_exact_for_certain_parts():
    low, high = bootstrap_interval(Mean(Pool("a")), {"a": (186, 245)}, replicates=4000)
    w_low, w_high = wilson_interval(186, 245)
    assert abs(low - w_low) < 0.01 and abs(high - w_high) < 0.01
    assert bootstrap_interval(Mean(Pool("a"), Pool("b")), {"a": (10, 10), "b": (0, 5)}) == (0.5, 0.5)


def test_mcnemar_and_paired_bootstrap():
    assert mcnemar_exact(10, 2) == pytest.approx(2 * (1 + 12 + 66) / 4096)
    assert mcnemar_exact(0, 0) == 1.0 and mcnemar_exact(3, 3) == 1.0
    # 40 items of one part: both right on 20, A only on 10, B only on 2, both wrong on 8
    a = [True] * 20 + [True] * 10 + [False] * 2 + [False] * 8
    b = [True] * 20 + [False] * 10 + [True] * 2 + [False] * 8
    result = paired_test(Pool("*"), ["p"] * 40, a, b)
    assert (result.value_a, result.value_b) == (0.75, 0.55) and result.difference == pytest.approx(0.2)
    assert result.method == "mcnemar-exact" and result.discordant == (10, 2)
    assert result.p_value == pytest.approx(0.0386, abs=1e-4) and result.low > 0 and result.high < 0.4
    # identical models: difference 0, p = 1 under the bootstrap test of a mean rule
    same = paired_test(Mean(Pool("p"), Pool("q")), ["p"] * 20 + ["q"] * 20, a, a)
    assert same.difference == 0.0 and same.low == same.high == 0.0 and same.p_value == 1.0


# ---------------------------------------------------------------------------------------- cells
def _valse_outcomes(skip_relations: bool) -> ItemOutcomes:
    """3 items per VALSE piece, 2 right; relations: all 3 skipped when asked (images missing)."""
    pieces = [p for p in protocol_table()["valse/pieces-mean"].rule.required()]
    ids, parts, correct = [], [], []
    for piece in pieces:
        if skip_relations and piece == "relations":
            continue
        for i in range(3):
            ids.append(f"{piece}/{i}")
            parts.append(piece)
            correct.append(i < 2)
    return ItemOutcomes("valse", ids, parts, {"correct": np.array(correct)},
                        {"relations": 3} if skip_relations else {})


def test_cells_carry_value_interval_n_and_completeness():
    cells = model_cells({"valse": _valse_outcomes(False)}, replicates=REPLICATES)
    cell = cells["valse/pieces-mean"]
    assert cell.value == pytest.approx(2 / 3) and cell.n == 33 and cell.complete and cell.method == "bootstrap"
    assert cell.low < 2 / 3 < cell.high
    assert cell.render().startswith("66.7 [") and "incomplete" not in cell.render()

    partial = model_cells({"valse": _valse_outcomes(True)}, replicates=REPLICATES)["valse/pieces-mean"]
    assert not partial.complete and partial.n == 30
    assert partial.incomplete_because == "relations 0/3"
    assert partial.render().endswith(" incomplete: relations 0/3")


def test_composite_is_incomplete_when_a_member_is_missing():
    aro = ItemOutcomes("aro_coco_order", ["a/0", "a/1"], ["aro_coco_order"] * 2, {"correct": np.array([True, False])})
    cells = model_cells({"aro_coco_order": aro})
    composite = cells["aro/tasks-mean"]
    assert composite.value == pytest.approx(0.5) and not composite.complete
    assert composite.incomplete_because == "1/4 members"


def test_table_puts_each_number_under_its_own_protocol():
    cells = model_cells({"valse": _valse_outcomes(True)}, replicates=REPLICATES)
    text = render_protocol_table({"ours": cells}, protocols=["valse/pieces-mean", "valse/groups-mean"])
    lines = text.splitlines()
    assert lines[0] == "| Model | valse/pieces-mean | valse/groups-mean |"
    ce = next(line for line in lines if line.startswith("| CE-CLIP |"))
    assert ce.split("|")[2].strip().startswith("72.5") and ce.split("|")[3].strip() == "–"
    vlc = next(line for line in lines if line.startswith("| NegCLIP (vl_compo) |"))
    assert vlc.split("|")[2].strip() == "–" and vlc.split("|")[3].strip().startswith("73.7")
    ours = next(line for line in lines if line.startswith("| **ours** |"))
    assert "incomplete: relations 0/3" in ours
    assert isinstance(cells["valse/groups-mean"], Cell)


def test_every_published_cell_names_a_known_protocol_and_a_source():
    from ahnpl_plugin.benchmarks.published import PUBLISHED_CELLS

    table = protocol_table()
    for cell in PUBLISHED_CELLS:
        assert cell.protocol in table and cell.source, cell
        float(cell.value)
    by = {(c.model, c.protocol): c.value for c in PUBLISHED_CELLS}
    assert by[("CLIP", "valse/pieces-mean")] == "65.3" and by[("AHNPL (paper)", "valse/pieces-mean")] == "75.9"
    assert by[("NegCLIP (vl_compo)", "valse/groups-mean")] == "73.7"
    assert by[("CE-CLIP", "vl_checklist/subcategories-mean")] == "75.1"
    assert ("CE-CLIP", "valse/groups-mean") not in by  # CE-CLIP's own table is not vl_compo's rule


def test_compare_two_runs_pairs_items_by_id(tmp_path, capsys):
    import json

    from ahnpl_plugin.benchmarks.compare import main

    # run A: 20 Winoground items, group right on the first 12; run B: right on the first 4 and
    # items 12..13; B also has an item A lacks (not paired)
    ids = [f"Object/{i}" for i in range(20)]
    a = ItemOutcomes("winoground", ids, ["Object"] * 20,
                     {m: np.array([i < 12 for i in range(20)]) for m in ("text", "image", "group")})
    b = ItemOutcomes("winoground", ids + ["Object/99"], ["Object"] * 21,
                     {m: np.array([i < 4 or 12 <= i < 14 for i in range(20)] + [True]) for m in ("text", "image", "group")})
    (tmp_path / "a.json").write_text(json.dumps({"winoground": a.to_json()}))
    (tmp_path / "b.json").write_text(json.dumps({"winoground": b.to_json()}))
    assert main([str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--names", "ahnpl", "clip"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "| protocol | n | ahnpl | clip | difference [95% CI] | p | test |"
    group = next(line for line in out if line.startswith("| winoground/group |"))
    cells = [c.strip() for c in group.split("|")[1:-1]]
    # discordant: A only on items 4..11 (8), B only on 12, 13 (2): p = 2 * (1 + 10 + 45) / 1024
    assert cells[1:4] == ["20", "60.0", "30.0"] and cells[4].startswith("+30.0 [")
    assert cells[5] == f"{2 * 56 / 1024:.3g}" == "0.109" and cells[6] == "mcnemar-exact"


def test_plot_points_and_file(tmp_path):
    from ahnpl_plugin.benchmarks.plot import COMPOSITIONAL, plot_compositional_vs_zero_shot, published_points

    points = published_points()
    x, y = points["NegCLIP (vl_compo)"]
    assert x == pytest.approx(55.9 / 57.1) and y == pytest.approx((80.9 + 83.7 + 73.7 + 75.0 + 8.0) / 5)
    assert points["CLIP ViT-B/32 (vl_compo)"][0] == 1.0 and len(points) == 6
    cell = Cell(COMPOSITIONAL, 0.61, 0.60, 0.62, 100, True, "mean of members")
    out = plot_compositional_vs_zero_shot(tmp_path / "p.png", "ours", {COMPOSITIONAL: cell})
    assert out.is_file() and out.read_bytes()[:4] == b"\x89PNG"
    assert plot_compositional_vs_zero_shot(tmp_path / "q.png", "ours", {}) is None
    assert plot_compositional_vs_zero_shot(tmp_path / "r.png", "ours", {COMPOSITIONAL: cell}, 0.97).is_file()
    partial = Cell(COMPOSITIONAL, 0.61, 0.60, 0.62, 100, False, "mean of members", "4/5 members")
    assert plot_compositional_vs_zero_shot(tmp_path / "s.png", "ours", {COMPOSITIONAL: partial}) is None


def test_plot_uses_all_twelve_of_vl_compo_when_complete(tmp_path):
    from ahnpl_plugin.benchmarks.plot import (
        COMPOSITIONAL,
        COMPOSITIONAL_ALL,
        compositional_protocol,
        plot_compositional_vs_zero_shot,
        published_points,
    )

    points = published_points(COMPOSITIONAL_ALL)  # vl_compo's printed comp_avg; FSC-CLIP has none
    assert points["NegCLIP (vl_compo)"] == (pytest.approx(55.9 / 57.1), 47.9) and len(points) == 5
    five = Cell(COMPOSITIONAL, 0.61, 0.60, 0.62, 100, True, "mean of members")
    twelve = Cell(COMPOSITIONAL_ALL, 0.45, 0.44, 0.46, 300, True, "mean of members")
    partial = Cell(COMPOSITIONAL_ALL, 0.45, 0.44, 0.46, 300, False, "mean of members", "5/12 members")
    assert compositional_protocol({COMPOSITIONAL: five, COMPOSITIONAL_ALL: twelve}) == COMPOSITIONAL_ALL
    assert compositional_protocol({COMPOSITIONAL: five, COMPOSITIONAL_ALL: partial}) == COMPOSITIONAL
    assert compositional_protocol({COMPOSITIONAL_ALL: partial}) is None
    assert plot_compositional_vs_zero_shot(tmp_path / "t.png", "ours", {COMPOSITIONAL_ALL: twelve}).is_file()
