"""How long users wait for three answers that must come fast; the limits the tests used to assert.

    import         what ``ahnpl_plugin`` (its ``.pth`` hook at interpreter start, or ``import
                   ahnpl_plugin``) adds to a fresh interpreter, from ``python -X importtime``
                                                                                      limit 0.5 s
    blip-offline   ``ahnpl_blip`` type ``coco`` built offline with empty torch-hub and Hugging Face
                   caches: the one error naming both missing inputs (LAVIS and the plugin already
                   imported; only the build is timed)                                  limit 5 s
    coco-no-data   ``python -m lavis.train --cfg-path projects/ahnpl/coco.yaml`` in an empty folder
                   with an empty HOME: the one-line error, exit code 2 (whole process)  limit 120 s

What each of them does (no torch import, the error's text, no network call, nothing written) is
checked by tests/test_install_hooks.py, tests/test_blip_offline.py and tests/test_data_builders.py;
this script only times them. Each is run ``--repeats`` times in a new process; the median is
compared with the limit; exit code 1 when a median is over its limit.

    python perf/fail_fast.py                 # 5 repeats of each
    python perf/fail_fast.py --only import --repeats 20 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

LIMITS_S = {"import": 0.5, "blip-offline": 5.0, "coco-no-data": 120.0}

def _import_seconds(home: Path) -> float:
    """Seconds of the outermost ``ahnpl_plugin*`` imports in ``-X importtime``'s tree (cumulative)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import ahnpl_plugin"], capture_output=True,
                          text=True, env=_env(home), cwd=home, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    rows = []  # (indent, cumulative us) of ahnpl_plugin modules
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|")
        if name.strip().startswith("ahnpl_plugin") and cumulative.strip().isdigit():
            rows.append((len(name) - len(name.lstrip()), int(cumulative)))
    if not rows:
        raise SystemExit("python -X importtime shows no ahnpl_plugin import")
    top = min(indent for indent, _ in rows)
    return sum(us for indent, us in rows if indent == top) / 1e6

BLIP_OFFLINE = """
import time
import ahnpl_plugin
from omegaconf import OmegaConf
from lavis.common.registry import registry
from ahnpl_plugin.errors import ConfigError

ahnpl_plugin.register()
cls = registry.get_model_class("ahnpl_blip")
cfg = OmegaConf.load(cls.default_config_path("coco")).model
t = time.perf_counter()
try:
    cls.from_config(cfg)
except ConfigError as error:
    elapsed = time.perf_counter() - t
    assert "lacks 2 inputs" in str(error), repr(error)
    print(elapsed)
else:
    raise SystemExit("ahnpl_blip coco was built offline from empty caches: nothing to time")
"""


def _env(home: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HOME": str(home),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HOME": str(home / "hf"),
           "TORCH_HOME": str(home / "torch")}
    env.pop("COCO_DIR", None)
    return env


def _python(code: str, home: Path) -> float:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(home),
                          cwd=home, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    return float(proc.stdout.split()[-1])


def _coco_no_data(home: Path) -> float:
    work = home / "work"
    work.mkdir(exist_ok=True)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "lavis.train", "--cfg-path", str(REPO / "projects/ahnpl/coco.yaml")],
                          capture_output=True, text=True, env=_env(home), cwd=work, timeout=600)
    elapsed = time.perf_counter() - started
    if proc.returncode != 2:
        raise SystemExit(f"coco.yaml without data exited {proc.returncode}, not 2:\n{proc.stderr[-2000:]}")
    return elapsed


def measure(name: str, home: Path) -> float:
    if name == "import":
        return _import_seconds(home)
    if name == "blip-offline":
        return _python(BLIP_OFFLINE, home)
    return _coco_no_data(home)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(LIMITS_S), default=list(LIMITS_S))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)
    load = os.getloadavg()
    print(f"machine: {platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"{'what':<14} {'median s':>9} {'min s':>7} {'max s':>7} {'limit s':>8}  verdict")
    report, over = {}, []
    for name in args.only:
        with tempfile.TemporaryDirectory(prefix="ahnpl_fail_fast_") as tmp:
            times = [measure(name, Path(tmp)) for _ in range(args.repeats)]
        median = statistics.median(times)
        verdict = "ok" if median <= LIMITS_S[name] else "OVER"
        if verdict == "OVER":
            over.append(name)
        report[name] = {"median_s": median, "min_s": min(times), "max_s": max(times), "limit_s": LIMITS_S[name],
                        "times_s": times}
        print(f"{name:<14} {median:>9.3f} {min(times):>7.3f} {max(times):>7.3f} {LIMITS_S[name]:>8.1f}  {verdict}",
              flush=True)
    if args.json:
        args.json.write_text(json.dumps({"load_average": load, "results": report}, indent=2))
    if over:
        print(f"over the limit: {', '.join(over)}", file=sys.stderr)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
