"""Smoke runs of issue 21's benchmarks (slow: they start training processes): the end-to-end
runner benchmark reports no tokenising in the training process for AHNPL as shipped and some for
the stock CLIP path; the per-core loader benchmark reports every variant and the draft decode's
pixel change."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "perf"))


@pytest.mark.slow
def test_end_to_end_benchmark_runs_the_real_runner(tmp_path):
    import end_to_end

    report = end_to_end.main(["--batch", "4", "--steps", "3", "--rounds", "1", "--workers", "1",
                              "--variants", "a,b", "--data", "folder", "--json", str(tmp_path / "e2e.json")])
    results = report["results"]
    assert results["b/folder"]["main_tokenize_ms_per_step"] == 0.0  # tokenised in the loader worker
    assert results["a/folder"]["main_tokenize_ms_per_step"] > 0.0  # LAVIS's CLIP tokenises itself
    for r in results.values():
        assert r["steps"] == 3 and r["samples_per_s"] > 0 and 0 <= r["wait_share"] < 1
    assert "| b | folder |" in report["table"] and (tmp_path / "e2e.json").is_file()


@pytest.mark.slow
def test_loader_per_core_benchmark_reports_every_variant():
    import loader_per_core

    out = loader_per_core.main(["--images", "6", "--batch-size", "4", "--rounds", "1"])
    assert set(out["samples_per_s_per_core"]) == set(loader_per_core.VARIANTS)
    assert all(rate > 0 for rate in out["samples_per_s_per_core"].values())
    assert 0 < out["draft_pixel_change"]["mean_abs"] < 0.2  # draft decoding moves pixels, a little
