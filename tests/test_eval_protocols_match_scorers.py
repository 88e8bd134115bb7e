"""Each benchmark's own scorer (its paper's rule, tested on its own) and the protocol of the same
name must give the same number on the same planted outcomes: ARO VG-R/VG-A (relation exclusion
list, pairs >= 25), SugarCrepe (pooled families), VALSE (11-piece mean), VL-CheckList (9
subcategories, type means), Winoground (text/image/group)."""

from __future__ import annotations

import pytest

import ahnpl_plugin.benchmarks as benchmarks
from ahnpl_plugin.benchmarks.cells import model_cells
from ahnpl_plugin.benchmarks.protocols import benchmark_outcomes

import test_benchmarks_aro as aro_tests
import test_benchmarks_sugarcrepe as sugar_tests
import test_benchmarks_valse as valse_tests
import test_benchmarks_vl_checklist as vlc_tests
import test_benchmarks_winoground as wino_tests


def _cells(bench, sims):
    return model_cells({bench.name: benchmark_outcomes(bench, sims)})


def _same(bench, sims, pairs) -> dict:
    """Assert each scorer metric equals its protocol's cell; return the cells."""
    scores, cells = bench.score(sims), _cells(bench, sims)
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
