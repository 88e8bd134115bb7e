"""``make demo``: fine-tune a tiny CLIP on the synthetic world with AHNPL and with plain CLIP
fine-tuning (same data, schedule and seed), then print held-out accuracies side by side.

Each run goes through ``python -m lavis.train`` exactly as a user would run it. ``--ablation`` runs
the ablation of issue 20 instead (``python -m ahnpl_plugin.ablation --help``). The two runs go
side by side, one torch thread each (on a 2-core machine that beats running them one after the
other with two threads each: the tiny model does not scale across threads); the synthetic world is
built once first. Each run's full log is ``<output-dir>/<run>.log``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from ahnpl_plugin.data.jsonio import read_json

RUNS = (
    ("AHNPL", "projects/ahnpl/demo.yaml"),
    ("CLIP fine-tune", "projects/ahnpl/demo_clip.yaml"),
)
CATEGORY_LABELS = {
    "attribute_swap": "attribute swap",
    "relation_swap": "relation swap",
    "attribute_replace": "attribute replace",
    "object_replace": "object replace",
    "relation_replace": "relation replace",
    "average": "mean",
}


def format_table(rows: dict[str, dict]) -> str:
    """Markdown table: one column per run, one row per category (held-out test accuracy, %)."""
    names = list(rows)
    lines = ["| held-out test | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for key, label in CATEGORY_LABELS.items():
        cells = []
        for name in names:
            value = rows[name].get(key)
            cells.append("–" if value is None else f"{100 * value:.1f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _build_world(root: Path, cfg: str, options: list[str]) -> None:
    """Generate the synthetic world once, before the runs start reading it."""
    code = (
        "import sys; from ahnpl_plugin import register; register();"
        "from ahnpl_plugin.config import load_config;"
        "from lavis.common.registry import registry;"
        "cfg = load_config(sys.argv[1], sys.argv[2:]);"
        "[registry.get_builder_class(n)(cfg.datasets_cfg[n]).build_datasets() for n in cfg.datasets_cfg]"
    )
    subprocess.run([sys.executable, "-c", code, str(root / cfg), *options], check=True)


def _last_progress(run_dir: Path | None) -> str:
    if run_dir is None or not (run_dir / "metrics.jsonl").is_file():
        return "starting"
    with open(run_dir / "metrics.jsonl", "rb") as f:
        lines = f.read().splitlines()
    if not lines:
        return "starting"
    row = json.loads(lines[-1])
    return f"epoch {row['epoch']} step {row['step']} loss {row['loss']:.3f}"


def build_parser() -> argparse.ArgumentParser:
    from ahnpl_plugin.cli_text import command, plain

    parser = argparse.ArgumentParser(prog=command("python -m ahnpl_plugin.demo"), description=plain(__doc__),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", default="output/demo", metavar="DIR",
                        help="folder for the two run folders and their logs (default output/demo, relative to the "
                             "working directory)")
    parser.add_argument("--options", nargs="*", default=[], metavar="KEY=VALUE",
                        help="extra overrides for both runs (e.g. run.seed=1)")
    parser.add_argument("--sequential", action="store_true", help="one run after the other")
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--ablation" in argv:  # the ablation of issue 20 (ahnpl_plugin/ablation.py), same arguments
        from ahnpl_plugin.ablation import main as ablation_main

        return ablation_main([a for a in argv if a != "--ablation"])
    args = build_parser().parse_args(argv)
    root = Path(__file__).resolve().parent.parent
    out = Path(args.output_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    print("building the synthetic world (first use only) ...", flush=True)
    _build_world(root, RUNS[0][1], args.options)

    env = dict(os.environ)
    if not args.sequential:
        env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    procs, dirs, logs = {}, {}, {}
    for name, cfg in RUNS:
        run_out = out / name.split()[0].lower()
        run_out.mkdir(parents=True, exist_ok=True)
        before = {p for p in run_out.iterdir()}
        logs[name] = open(out / f"{name.split()[0].lower()}.log", "w")
        cmd = [sys.executable, "-m", "lavis.train", "--cfg-path", str(root / cfg),
               "--options", f"run.output_dir={run_out}", "run.progress=false", *args.options]
        print("$", " ".join(cmd), flush=True)
        procs[name] = (subprocess.Popen(cmd, stdout=logs[name], stderr=subprocess.STDOUT, env=env), run_out, before)
        if args.sequential:
            procs[name][0].wait()
    while any(p.poll() is None for p, _, _ in procs.values()):
        time.sleep(20)
        status = []
        for name, (proc, run_out, before) in procs.items():
            new = [p for p in run_out.iterdir() if p not in before and p.is_dir()]
            dirs[name] = new[0] if new else None
            status.append(f"{name}: {'done' if proc.poll() is not None else _last_progress(dirs[name])}")
        print(f"[{time.time() - start:5.0f} s] " + " | ".join(status), flush=True)
    rows = {}
    for name, (proc, run_out, before) in procs.items():
        logs[name].close()
        if proc.returncode != 0:
            print(f"{name} failed (exit {proc.returncode}); see {logs[name].name}", file=sys.stderr)
            return proc.returncode
        (run_dir,) = [p for p in run_out.iterdir() if p not in before and p.is_dir()]
        dirs[name] = run_dir
        rows[name] = read_json(run_dir / "results.json")["test"]
    table = format_table(rows)
    (out / "demo_results.md").write_text(table + "\n")
    print()
    print(table)
    print()
    for name, d in dirs.items():
        print(f"{name}: {d} (training_curves.png, results.json, metrics.jsonl)")
    print(f"total {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
