"""perf/readme_numbers.py: the README's numbers from one script, each run several times,
with the machine and its load; parsers checked on the exact output formats of the benchmark scripts."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def rn():
    spec = importlib.util.spec_from_file_location("readme_numbers", REPO / "perf" / "readme_numbers.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_parsers_read_the_benchmark_scripts_outputs(rn):
    assert rn.parse_pytest_count("...\n515 tests collected in 12.3s\n") == {"tests": 515}
    negatives = (
        "what                                 workers  captions/s  per CPU-s   valid\n"
        "spaCy tok2vec+tagger only                  1        1908       1900        \n"
        "generate_negatives v1                      1        1325       1300   87.1%\n"
        "generate_negatives v1                      2        2110       1250   87.1%\n"
        "generate_negatives v2:ngram                2         900        571   80.7%\n")
    assert rn.parse_negatives(negatives) == {
        "v1 captions/s, 1 worker(s)": 1325.0, "v1 captions per CPU-s, 1 worker(s)": 1300.0,
        "v1 captions/s, 2 worker(s)": 2110.0, "v1 captions per CPU-s, 2 worker(s)": 1250.0, "v1 valid negatives %": 87.1,
        "v2:ngram captions/s, 2 worker(s)": 900.0, "v2:ngram captions per CPU-s, 2 worker(s)": 571.0,
        "v2:ngram valid negatives %": 80.7}
    old_format = "generate_negatives (5 AHNPL types)         2        2600       1370   87.1%\n"
    assert rn.parse_negatives(old_format)["v1 captions/s, 2 worker(s)"] == 2600.0
    table = ("| method | images encoded | captions encoded | seconds | items/s | speed-up |\n|---|---:|---:|---:|---:|---:|\n"
             "| naive per item | 5000 | 10000 | 90.91 | 55 | 1.0x |\n"
             "| encode-once, cold cache | 500 | 1000 | 2.41 | 2,074 | 37.7x |\n"
             "| encode-once, warm cache | 0 | 0 | 0.10 | 50,000 | 909.1x |\n")
    assert rn.parse_eval(table) == {"naive per item items/s": 55.0, "encode-once, cold cache items/s": 2074.0,
                                    "encode-once, warm cache items/s": 50000.0}
    assert rn.parse_loader({"folder_samples_per_s": 270.5, "shards_samples_per_s": 301.0}) == {
        "folder samples/s": 270.5, "shards samples/s": 301.0}
    assert rn.parse_step({"results": {"a": {"step_ms_median": 575.5}, "c": {"step_ms_median": 707.1}}}) == {
        "(a) ms/step": 575.5, "(c) ms/step": 707.1}
    with pytest.raises(ValueError):
        rn.parse_eval("MISMATCH between the paths' scores")


def test_report_gives_every_run_the_median_the_spread_and_the_load(rn):
    m = rn.Measurement("negatives", runs=[{"captions/s, 2 worker(s)": 2000.0}, {"captions/s, 2 worker(s)": 2500.0},
                                          {"captions/s, 2 worker(s)": 2200.0}],
                       loads=[(0.1, 0.9), (1.0, 1.2), (0.5, 0.5)])
    failed = rn.Measurement("step", error="RuntimeError: perf/step.py exited 1: boom")
    lines = rn.report_table([m, failed]).splitlines()
    # spread (2500 - 2000) / median 2200 = 22.7%
    assert lines[2] == "| negatives | captions/s, 2 worker(s) | 2,000 / 2,500 / 2,200 | 2,200 | 23% | 0.10/0.90, 1.00/1.20, 0.50/0.50 |"
    assert lines[3].startswith("| step | not measured: RuntimeError")
    assert rn.spread([5.0]) == 0.0


def test_the_machine_line_names_cpu_cores_python_and_torch(rn):
    import os
    import platform

    line = rn.machine_line()
    assert f"{os.cpu_count()} cores" in line and f"Python {platform.python_version()}" in line and "torch " in line
    assert 0.0 <= rn.load_per_core()


def test_cheap_is_the_default_and_expensive_ones_are_opt_in(rn):
    args = rn.build_parser().parse_args([])
    assert args.only is None and not args.all and args.repeats == 2
    assert set(rn.CHEAP).isdisjoint(rn.EXPENSIVE) and "demo" in rn.EXPENSIVE
