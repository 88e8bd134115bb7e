"""Re-measure the README's numbers, with the machine and its load, each several times.

    make readme-numbers                                   # the cheap ones (minutes), 2 runs each
    python perf/readme_numbers.py --only tests negatives --repeats 3
    python perf/readme_numbers.py --all             # also the demo (~20 min per run) and the test suite

Every number the README quotes comes from one measurement here, run ``--repeats`` times; the
table gives each run's value, the median and the spread ((max - min) / median), and the machine's
load (1-minute load average per core) before and after each measurement, so a number measured on
a loaded machine says so. Measurements (README section in brackets):

* ``tests``      test count (pytest --collect-only) [Development]
* ``negatives``  generate_negatives captions/s and per CPU-second, each generator config x workers 1, 2 [Hard negatives]
* ``eval``       encode-once vs per-item items/s [Evaluation]
* ``loader``     folder and shard loader samples/s [docs/data.md, Training data]
* ``step``       ms per training step, variants a/b/c [Performance]
* ``demo``       ``make demo`` wall time and held-out accuracies, seed 42 (expensive) [Demo]
* ``suite``      full test suite wall time (expensive) [Development]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHEAP = ("tests", "negatives", "eval", "loader", "step")
EXPENSIVE = ("demo", "suite")


# ------------------------------------------------------------------------------ machine and load
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def machine_line() -> str:
    import torch

    mem = memory_gib()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{platform.machine()}, {cpu_model()}, {os.cpu_count()} cores"
            f"{f', {mem:.0f} GiB RAM' if mem else ''}, {gpu}; Python {platform.python_version()}, "
            f"torch {torch.__version__}, {platform.system()} {platform.release()}")


def load_per_core() -> float:
    """1-minute load average divided by the core count (1.0 = every core busy)."""
    return os.getloadavg()[0] / (os.cpu_count() or 1)


# ------------------------------------------------------------------------------ parsing outputs
def parse_pytest_count(text: str) -> dict:
    match = re.search(r"(\d+) tests? collected", text)
    if not match:
        raise ValueError("no 'N tests collected' line in the pytest output")
    return {"tests": int(match.group(1))}


def parse_negatives(text: str) -> dict:
    """Wall-clock captions/s and captions per CPU-second (which other jobs do not change) of each
    generator config and worker count, and each config's valid rate."""
    out = {}
    for line in text.splitlines():
        match = re.match(r"generate_negatives (\(5 AHNPL types\)|\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+([\d.]+)%", line)
        if match:
            config = "v1" if match.group(1).startswith("(") else match.group(1)  # before v2 there was only v1
            workers = int(match.group(2))
            out[f"{config} captions/s, {workers} worker(s)"] = float(match.group(3))
            out[f"{config} captions per CPU-s, {workers} worker(s)"] = float(match.group(4))
            out[f"{config} valid negatives %"] = float(match.group(5))
    if not out:
        raise ValueError("no generate_negatives rows in the output")
    return out


def parse_eval(text: str) -> dict:
    out = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0] in ("naive per item", "encode-once, cold cache", "encode-once, warm cache"):
            out[f"{cells[0]} items/s"] = float(cells[4].replace(",", ""))
    if not out:
        raise ValueError("no throughput table in the output")
    return out


def parse_loader(report: dict) -> dict:
    return {"folder samples/s": report["folder_samples_per_s"], "shards samples/s": report["shards_samples_per_s"]}


def parse_step(report: dict) -> dict:
    return {f"({name}) ms/step": row["step_ms_median"] for name, row in report["results"].items()}


# ------------------------------------------------------------------------------ one measurement
@dataclass
class Measurement:
    name: str
    runs: list[dict] = field(default_factory=list)  # parsed numbers of each run
    loads: list[tuple[float, float]] = field(default_factory=list)  # load per core before/after each run
    seconds: list[float] = field(default_factory=list)
    error: str = ""


def _run(cmd: list[str], timeout: int, env=None) -> str:
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise RuntimeError(f"{' '.join(cmd[1:3])} exited {done.returncode}: {tail[0]}")
    return done.stdout


def _json_run(cmd: list[str], timeout: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        _run([*cmd, "--json", str(out)], timeout)
        return json.loads(out.read_text())


def measure_once(name: str, args) -> dict:
    py = sys.executable
    single = {"OMP_NUM_THREADS": "1"}
    if name == "tests":
        return parse_pytest_count(_run([py, "-m", "pytest", "--collect-only", "-q"], 600))
    if name == "negatives":
        return parse_negatives(_run([py, "perf/negatives_throughput.py", "--captions", str(args.captions),
                                     "--workers", "1", "2"], 1800))
    if name == "eval":
        return parse_eval(_run([py, "perf/eval_throughput.py", "--device", "cpu"], 1800, single))
    if name == "loader":
        return parse_loader(_json_run([py, "perf/loader_throughput.py"], 1800))
    if name == "step":
        return parse_step(_json_run([py, "perf/step.py", "--device", "cpu", "--threads", "1"], 1800))
    if name == "demo":
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            text = _run([py, "-m", "ahnpl_plugin.demo", "--output-dir", tmp], 7200)
            numbers = {"wall min": (time.perf_counter() - start) / 60}
        for line in text.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) == 3 and cells[0] in ("attribute swap", "relation swap", "mean"):
                numbers[f"{cells[0]} AHNPL"], numbers[f"{cells[0]} CLIP"] = float(cells[1]), float(cells[2])
        return numbers
    if name == "suite":
        start = time.perf_counter()
        text = _run([py, "-m", "pytest", "-q", "-p", "no:cacheprovider"], 7200)
        passed = re.search(r"(\d+) passed", text)
        return {"suite min": (time.perf_counter() - start) / 60, "passed": int(passed.group(1)) if passed else -1}
    raise ValueError(f"unknown measurement {name!r}")


def measure(name: str, args) -> Measurement:
    result = Measurement(name)
    for _ in range(args.repeats):
        before, start = load_per_core(), time.perf_counter()
        try:
            numbers = measure_once(name, args)
        except (RuntimeError, ValueError, subprocess.TimeoutExpired, OSError, KeyError) as exc:
            result.error = f"{type(exc).__name__}: {exc}"
            break
        result.runs.append(numbers)
        result.seconds.append(time.perf_counter() - start)
        result.loads.append((before, load_per_core()))
    return result


# ------------------------------------------------------------------------------ report
def spread(values: list[float]) -> float:
    """(max - min) / median, as a fraction (0 for one run)."""
    median = statistics.median(values)
    return (max(values) - min(values)) / median if median else 0.0


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def report_table(measurements: list[Measurement]) -> str:
    lines = ["| measurement | number | runs | median | spread | load per core before/after |",
             "|---|---|---|---:|---:|---|"]
    for m in measurements:
        if m.error:
            lines.append(f"| {m.name} | not measured: {m.error} | | | | |")
            continue
        loads = ", ".join(f"{a:.2f}/{b:.2f}" for a, b in m.loads)
        for key in m.runs[0]:
            values = [run[key] for run in m.runs if key in run]
            lines.append(f"| {m.name} | {key} | {' / '.join(_fmt(v) for v in values)} | "
                         f"{_fmt(statistics.median(values))} | {100 * spread(values):.0f}% | {loads} |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python perf/readme_numbers.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=CHEAP + EXPENSIVE, default=None, metavar="NAME",
                        help=f"measurements to run (default: the cheap ones, {', '.join(CHEAP)}; "
                             f"also {', '.join(EXPENSIVE)})")
    parser.add_argument("--all", action="store_true", help="every measurement, the expensive ones included")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each measurement (default 2)")
    parser.add_argument("--captions", type=int, default=20000,
                        help="captions of the negatives measurement (default 20000, as the README)")
    parser.add_argument("--json", default=None, help="also write every run's numbers and loads here")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    names = list(CHEAP + EXPENSIVE) if args.all else list(args.only or CHEAP)
    print(f"machine: {machine_line()}")
    print(f"load per core at start: {load_per_core():.2f} (1-minute load average / {os.cpu_count()} cores; "
          f"above ~0.5 other jobs compete with these measurements and numbers drop)", flush=True)
    measurements = []
    for name in names:
        print(f"measuring {name} ({args.repeats} run(s)) ...", file=sys.stderr, flush=True)
        measurements.append(measure(name, args))
    print(report_table(measurements))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine_line(), "measurements": [
            {"name": m.name, "runs": m.runs, "loads": m.loads, "seconds": m.seconds, "error": m.error}
            for m in measurements]}, indent=1))
    return 1 if any(m.error for m in measurements) else 0


if __name__ == "__main__":
    sys.exit(main())
