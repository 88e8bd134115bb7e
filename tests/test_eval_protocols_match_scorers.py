"""Each benchmark's own scorer (its paper's rule, tested on its own) and the protocol of the same
name must give the same number on the same planted outcomes: ARO VG-R/VG-A (relation exclusion
list, pairs >= 25), SugarCrepe (pooled families), VALSE (11-piece mean), VL-CheckList (9
subcategories, type means), Winoground (text/image/group); and the newer benchmarks (issue 16):
SugarCrepe++ (5-file means, text-only TOT), What'sUp (argmax, 6 subsets), SPEC (directions, then
their mean), CREPE (types pooled over complexities), EqBen (Kubric first), ImageCoDe (pooled),
SVO-Probes, ColorSwap, MMVP-VLM (pattern means), ARO Order (mean over shuffle seeds)."""

from __future__ import annotations

import numpy as np
import pytest

import ahnpl_plugin.benchmarks as benchmarks
from ahnpl_plugin.benchmarks.cells import model_cells
from ahnpl_plugin.benchmarks.protocols import benchmark_outcomes

import test_benchmarks_aro as aro_tests
import test_benchmarks_crepe as crepe_tests
import test_benchmarks_eqben as eqben_tests
import test_benchmarks_spec as spec_tests
import test_benchmarks_sugarcrepe as sugar_tests
import test_benchmarks_sugarcrepe_pp as scpp_tests
import test_benchmarks_vl_compo_rest as rest_tests
import test_benchmarks_whatsup as whatsup_tests
import test_benchmarks_valse as valse_tests
import test_benchmarks_vl_checklist as vlc_tests
import test_benchmarks_winoground as wino_tests


def _cells(bench, sims, text_sims=None):
    # the values compared here do not depend on the intervals' bootstrap: 200 replicates, not 2000
    return model_cells({bench.name: benchmark_outcomes(bench, sims, text_sims)}, replicates=200)


def _same(bench, sims, pairs, text_sims=None) -> dict:
    """Assert each scorer metric equals its protocol's cell; return the cells."""
    scores = bench.score(sims, text_sims) if bench.needs_text_sims else bench.score(sims)
    cells = _cells(bench, sims, text_sims)
    for metric, protocol in pairs.items():
        assert cells[protocol].value == pytest.approx(scores[metric]), (metric, protocol)
    return cells


def test_aro_vg_sets(tmp_path):
    plan = ([("on", "right")] * 2 + [("on", "wrong"), ("holding", "tie"), ("holding", "right")]
            + [("attached to", "right")] * 2)
    aro_tests._write_vg(tmp_path / "r", "visual_genome_relation.json",
                        [aro_tests._vg_record(i, {"relation_name": rel}) for i, (rel, _) in enumerate(plan)])
    bench = benchmarks.load("aro_vg_relation", tmp_path / "r")
    sims = aro_tests._sims_for(bench, lambda it: plan[it.meta["index"]][1])
    cells = _same(bench, sims, {"accuracy": "aro_vg_relation/relations-mean"})
    assert cells["aro_vg_relation/relations-mean"].value == pytest.approx((2 / 3 + 1 / 2) / 2)

    pairs = [("red", "blue", "right")] * 20 + [("red", "blue", "wrong")] * 5 + [("wet", "dry", "right")] * 24
    aro_tests._write_vg(tmp_path / "a", "visual_genome_attribution.json",
                        [aro_tests._vg_record(i, {"attributes": [a, b]}) for i, (a, b, _) in enumerate(pairs)])
    bench = benchmarks.load("aro_vg_attribution", tmp_path / "a")
    sims = aro_tests._sims_for(bench, lambda it: pairs[it.meta["index"]][2])
    _same(bench, sims, {"accuracy": "aro_vg_attribution/pairs-mean"})


def test_sugarcrepe(tmp_path):
    root, images = sugar_tests._build(tmp_path)
    bench = benchmarks.load("sugarcrepe", root, image_root=images)
    pairs = {f: f"sugarcrepe/{f}" for f in ("replace_obj", "replace_att", "replace_rel", "swap_obj", "swap_att",
                                            "add_obj", "add_att")}
    pairs.update({fam: f"sugarcrepe/{fam}-pooled" for fam in ("replace", "swap", "add")})
    _same(bench, sugar_tests._planted(bench), pairs)


def test_valse(tmp_path):
    bench = benchmarks.load("valse", valse_tests._build(tmp_path), image_root=valse_tests._image_roots(tmp_path))
    _same(bench, valse_tests._planted(bench), {"average": "valse/pieces-mean"})


def test_vl_checklist(tmp_path):
    root, images = vlc_tests._build(tmp_path)
    bench = benchmarks.load("vl_checklist", root, image_root=images)
    cells = _same(bench, vlc_tests._planted(bench), {
        "average": "vl_checklist/subcategories-mean", "attribute": "vl_checklist/attribute",
        "object": "vl_checklist/object", "relation": "vl_checklist/relation"})
    assert not cells["vl_checklist/subcategories-mean"].complete  # the fixture has 4 of the 9 subcategories


def test_winoground(tmp_path):
    bench = benchmarks.load("winoground", wino_tests._build_jsonl(tmp_path))
    _same(bench, wino_tests._sims(bench),
          {"text": "winoground/text", "image": "winoground/image", "group": "winoground/group"})


# ------------------------------------------------------------------------ the newer benchmarks
def test_sugarcrepe_pp(tmp_path):
    root, images = scpp_tests._build(tmp_path)
    bench = benchmarks.load("sugarcrepe_pp", root, image_root=images)
    sims, text = scpp_tests._planted(bench)
    cells = _same(bench, sims, {m: f"sugarcrepe_pp/{m}" for m in ("itt", "itt_p1", "itt_p2", "tot")}, text)
    assert cells["sugarcrepe_pp/tot"].value == pytest.approx((0.5 + 0 + 0 + 1 + 0.5) / 5)
    assert cells["sugarcrepe_pp/itt"].complete and cells["sugarcrepe_pp/itt"].n == 7


def test_whatsup_argmax_subset_mean(tmp_path):
    root, outcome = whatsup_tests._build(tmp_path)
    bench = benchmarks.load("whatsup", root)
    cells = _same(bench, whatsup_tests._planted(bench, outcome), {"average": "whatsup/subsets-mean"})
    assert cells["whatsup/subsets-mean"].complete
    # READ-CLIP's rule on the same items: Controlled A+B 8/12, COCO-QA one+two 2/3, VG-QA one+two 1/3
    assert cells["whatsup/sources-mean"].value == pytest.approx((8 / 12 + 2 / 3 + 1 / 3) / 3)
    assert cells["whatsup/sources-mean"].complete and cells["whatsup/sources-mean"].n == len(bench.items)


def test_spec_directions_then_their_mean(tmp_path):
    bench = benchmarks.load("spec", spec_tests._build(tmp_path))
    _same(bench, spec_tests._planted(bench), {"i2t": "spec/i2t", "t2i": "spec/t2i", "average": "spec/average"})
    partial = benchmarks.load("spec", spec_tests._build(tmp_path / "two", subsets=("count", "existence")),
                              subsets=("count", "existence"))
    cell = _same(partial, spec_tests._planted(partial), {"average": "spec/average"})["spec/average"]
    assert not cell.complete and "absolute_size/i2t" in cell.incomplete_because


def test_crepe_types_pooled_over_complexities(tmp_path):
    root, vg = crepe_tests._build(tmp_path)
    bench = benchmarks.load("crepe", root, image_root=vg, complexities=[4, 5])
    cells = _same(bench, crepe_tests._planted(bench), {"average": "crepe/types-mean"})
    # atom pools complexity 4 (1 of 2) and 5 (1 of 1): 2/3, not the mean of complexities (3/4)
    assert cells["crepe/types-mean"].value == pytest.approx((2 / 3 + 0 + 0) / 3)
    assert not cells["crepe/types-mean"].complete and "atom/6" in cells["crepe/types-mean"].incomplete_because

    syst = tmp_path / "syst_hard_negatives"  # systematicity: seen and unseen compounds pooled per type
    for split in ("seen_compounds", "unseen_compounds"):
        crepe_tests._write_csv(syst / f"syst_vg_hard_negs_{split}_in_cc12m.csv", crepe_tests.PLAN[("atom", 4)],
                               negatives_column="valid_hard_negs_atom")
    bench = benchmarks.load("crepe", syst, image_root=str(vg), split="systematicity", types=["atom"])
    cell = _same(bench, crepe_tests._planted(bench), {"average": "crepe_systematicity/types-mean"})[
        "crepe_systematicity/types-mean"]
    assert cell.value == 0.5 and not cell.complete  # comp and combined not evaluated


def test_eqben_kubric_splits_first(tmp_path):
    annotation, images = eqben_tests._subset_layout(tmp_path)
    bench = benchmarks.load("eqben", annotation, image_root=images)
    cells = _same(bench, eqben_tests._planted(bench), {m: f"eqben/{m}" for m in ("text", "image", "group")})
    assert cells["eqben/group"].value == pytest.approx((0.5 + 1 + 0 + 1 / 3 + 0) / 5)


def test_imagecode_svo_colorswap_mmvp(tmp_path):
    bench = benchmarks.load("imagecode", rest_tests.imagecode_layout(tmp_path / "ic"))
    sims = []
    for target, tie in ((3, False), (7, True), (5, False)):
        s = np.full((10, 1), 0.1)
        s[target, 0] = 0.9
        s[0, 0] = 0.9 if tie else 0.1
        sims.append(s)
    _same(bench, sims, {"accuracy": "imagecode/pooled"})

    bench = benchmarks.load("svo_probes", rest_tests.svo_layout(tmp_path / "svo"))
    _same(bench, [np.array(r[5])[:, None] for r in rest_tests.SVO_ROWS[:4]], {"average": "svo_probes/types-mean"})

    wino = [np.array(x) for x in (rest_tests.RIGHT, rest_tests.TEXT_ONLY, rest_tests.IMAGE_ONLY, rest_tests.WRONG)]
    bench = benchmarks.load("colorswap", rest_tests.colorswap_layout(tmp_path / "cs"))
    _same(bench, wino, {m: f"colorswap/{m}" for m in ("text", "image", "group")})

    bench = benchmarks.load("mmvp_vlm", rest_tests.mmvp_layout(tmp_path / "mmvp"))
    cells = _same(bench, wino[:1] + wino[2:0:-1], {"group": "mmvp_vlm/group", "image": "mmvp_vlm/image"})
    assert not cells["mmvp_vlm/group"].complete  # 2 of the 9 visual patterns


def test_aro_order_mean_over_seeds(tmp_path):
    rows = [{"image": "val2014/a.jpg", "caption": ["A small brown dog chases a red ball.",
                                                   "The man rides a big horse in the park"]},
            {"image": "val2014/b.jpg", "caption": ["A cat sits on the old wooden table."]}]
    aro_tests._write_karpathy(tmp_path, "coco_karpathy_test.json", rows)
    bench = benchmarks.load("aro_coco_order", tmp_path, tagger=aro_tests.fake_tagger, seeds=[0, 1])
    sims = [np.array([[1.0 if (it.meta["seed"] + it.meta["row"]) % 2 else 0.0] + [0.5] * (len(it.captions) - 1)])
            for it in bench.items]
    cells = _same(bench, sims, {"accuracy": "aro_coco_order/precision"})
    outcomes = benchmark_outcomes(bench, sims)
    assert len(set(outcomes.ids)) == len(outcomes.ids)  # each seed's item has its own id (paired tests)
    assert cells["aro_coco_order/precision"].n == len(bench.items)
