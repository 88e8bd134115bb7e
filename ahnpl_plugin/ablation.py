"""The ablation of issue 20: every variant of :mod:`ahnpl_plugin.ablation_variants` on the synthetic
world, same world, schedule and seeds, then one table and one plot.

    python -m ahnpl_plugin.ablation --seeds 42 43 44 45 46            # all variants, 5 seeds
    python -m ahnpl_plugin.ablation --variants itc_text_hn ahnpl --options run.max_epoch=1
    python -m ahnpl_plugin.demo --ablation ...                         # the same command
    python -m ahnpl_plugin.ablation --write-configs                    # regenerate projects/ahnpl/ablation/

Each run is ``python -m lavis.train --cfg-path projects/ahnpl/ablation/<variant>.yaml`` into
``<output-dir>/<variant>/seed<seed>/``; a run that already has its ``results.json`` is reused, so
an interrupted ablation continues where it stopped. Runs go ``--jobs`` at a time with ``--threads``
torch threads each (default 2 x 1: on a 2-core machine the tiny model does not scale across threads).

Outputs in ``<output-dir>``: ``ablation_results.md`` (the table with means, bootstrap intervals and
differences to the ITC + text-hard-negative baseline, the per-seed table, machine, load and wall
time), ``ablation_results.json`` (all numbers), ``ablation.png`` (held-out accuracy per variant,
seeds as dots) and ``ablation_thresholds.png`` (theta per type in logits and divided by the logit
scale, for the variants that have theta). Results on a synthetic world are evidence about
mechanisms, not about COCO-trained models.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from ahnpl_plugin.data.jsonio import read_json
from ahnpl_plugin.ablation_stats import CATEGORY_LABELS, format_per_seed, format_table, summarise
from ahnpl_plugin.ablation_variants import BASELINE, BY_NAME, VARIANTS, variant_config

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "projects" / "ahnpl" / "ablation"
SOURCES = {"synthetic": ("demo.yaml", "ahnpl_synthetic_world", ""), "coco": ("coco.yaml", "ahnpl_coco", "coco/")}


def config_text(variant, kind: str = "synthetic") -> str:
    """The generated YAML of ``variant`` for the synthetic world or COCO."""
    import yaml

    source, dataset, _ = SOURCES[kind]
    base = yaml.safe_load((ROOT / "projects" / "ahnpl" / source).read_text())
    cfg = variant_config(base, variant, dataset)
    rel = f"projects/ahnpl/ablation/{SOURCES[kind][2]}{variant.name}.yaml"
    header = (
        f"# {variant.label}: {variant.what}.\n"
        f"# Generated from projects/ahnpl/{source} by `python -m ahnpl_plugin.ablation --write-configs`\n"
        "# (ahnpl_plugin/ablation_variants.py); edit there, not here.\n"
        f"#   python -m lavis.train --cfg-path {rel}\n"
    )
    return header + yaml.safe_dump(cfg, sort_keys=False, default_flow_style=None, width=110)


def expected_configs() -> dict[Path, str]:
    out = {}
    for variant in VARIANTS:
        out[CONFIG_DIR / f"{variant.name}.yaml"] = config_text(variant, "synthetic")
        if variant.coco:
            out[CONFIG_DIR / "coco" / f"{variant.name}.yaml"] = config_text(variant, "coco")
    return out


def write_configs() -> list[Path]:
    written = []
    for path, text in expected_configs().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written


# ---------------------------------------------------------------------------------------- runs


def finished_run(run_out: Path) -> Path | None:
    """The run folder under ``run_out`` that holds a ``results.json`` (the newest), or None."""
    done = sorted(run_out.glob("*/results.json"), key=lambda p: p.stat().st_mtime)
    return done[-1].parent if done else None


def _option_value(options: list[str], key: str):
    for option in reversed(options):
        if option.startswith(key + "="):
            return option.split("=", 1)[1]
    return None


def run_options(variant, seed: int, run_out: Path, options: list[str]) -> list[str]:
    """``--options`` of one run: its folder and seed, the user's overrides, then the epoch factor."""
    import yaml

    opts = [f"run.output_dir={run_out}", f"run.seed={seed}", "run.progress=false", *options]
    if variant.epochs_factor != 1:
        user_epochs = _option_value(options, "run.max_epoch")
        if user_epochs is None:
            base = yaml.safe_load((CONFIG_DIR / f"{variant.name}.yaml").read_text())
            epochs = int(base["run"]["max_epoch"])  # already multiplied in the file
        else:
            epochs = int(user_epochs) * variant.epochs_factor
        opts.append(f"run.max_epoch={epochs}")
    return opts


def _load() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "uptime unavailable"


def _progress(run_out: Path) -> str:
    from ahnpl_plugin.demo import _last_progress

    dirs = [p for p in run_out.iterdir() if p.is_dir()] if run_out.is_dir() else []
    return _last_progress(max(dirs, key=lambda p: p.stat().st_mtime) if dirs else None)


def run_all(names: list[str], seeds: list[int], out: Path, options: list[str], jobs: int, threads: int) -> dict:
    """Train every (variant, seed) not yet done; returns ``{(name, seed): {"dir", "wall_s"}}``."""
    from ahnpl_plugin.demo import _build_world

    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    pending, runs = [], {}
    for name in names:
        for seed in seeds:
            run_out = out / name / f"seed{seed}"
            done = finished_run(run_out)
            if done is not None:
                runs[(name, seed)] = {"dir": done, "wall_s": None, "reused": True}
                print(f"{name} seed {seed}: reusing {done}", flush=True)
            else:
                pending.append((name, seed, run_out))
    if pending:
        print("building the synthetic world (first use only) ...", flush=True)
        _build_world(ROOT, f"projects/ahnpl/ablation/{pending[0][0]}.yaml", options)
    active: dict = {}
    start = time.time()
    last_report = 0.0
    while pending or active:
        while pending and len(active) < jobs:
            name, seed, run_out = pending.pop(0)
            run_out.mkdir(parents=True, exist_ok=True)
            log = open(out / name / f"seed{seed}.log", "w")
            cmd = [sys.executable, "-m", "lavis.train", "--cfg-path", str(CONFIG_DIR / f"{name}.yaml"),
                   "--options", *run_options(BY_NAME[name], seed, run_out, options)]
            print(f"$ {' '.join(cmd)}", flush=True)
            active[(name, seed)] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT),
                                    log, time.time(), run_out)
        time.sleep(5)
        for key, (proc, log, began, run_out) in list(active.items()):
            if proc.poll() is None:
                continue
            log.close()
            del active[key]
            if proc.returncode != 0:
                raise SystemExit(f"{key[0]} seed {key[1]} failed (exit {proc.returncode}); see {log.name}")
            runs[key] = {"dir": finished_run(run_out), "wall_s": time.time() - began, "reused": False}
            print(f"{key[0]} seed {key[1]}: done in {runs[key]['wall_s']:.0f} s", flush=True)
        if time.time() - last_report > 60 and active:
            last_report = time.time()
            status = " | ".join(f"{n}/{s}: {_progress(r)}" for (n, s), (_, _, _, r) in active.items())
            print(f"[{time.time() - start:5.0f} s, {len(pending)} queued] {status}", flush=True)
    return runs


# ---------------------------------------------------------------------------------------- report


def collect_results(runs: dict) -> dict[str, dict[int, dict]]:
    results: dict[str, dict[int, dict]] = {}
    for (name, seed), info in runs.items():
        record = read_json(Path(info["dir"]) / "results.json")
        results.setdefault(name, {})[seed] = record["test"]
    return results


def plot_results(summary: dict, labels: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in summary if "average" in summary[n]]
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.38 * len(names) + 1.6), sharey=True)
    for ax, cats in zip(axes, (("average",), ("attribute_swap", "relation_swap"))):
        for offset, cat in enumerate(cats):
            for row, name in enumerate(names):
                entry = summary[name].get(cat)
                if entry is None:
                    continue
                y = row + 0.25 * offset - 0.125 * (len(cats) - 1)
                colour = f"C{offset}"
                ax.barh(y, 100 * entry["mean"], height=0.8 / len(cats), color=colour, alpha=0.5,
                        label=CATEGORY_LABELS[cat] if row == 0 else None)
                if entry["interval"] is not None:
                    lo, hi = entry["interval"]
                    ax.plot([100 * lo, 100 * hi], [y, y], color="k", lw=1.2)
                ax.scatter([100 * v for v in entry["values"]], [y] * len(entry["values"]), s=10, color="k", zorder=3)
        ax.set_xlabel("held-out test accuracy (%)")
        ax.axvline(50, color="grey", ls=":", lw=1)
        ax.legend(fontsize=8, loc="lower right")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(names)), [labels[n] for n in names], fontsize=8)
    axes[0].invert_yaxis()
    axes[0].set_title("mean over test types (bar: mean over seeds, line: 95% bootstrap CI, dots: seeds)", fontsize=9)
    axes[1].set_title("held-out swaps", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_thresholds(runs: dict, labels: dict, path: Path) -> Path | None:
    """theta per type against step, in logits and divided by the logit scale s (first seed of each
    variant whose loss has theta)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ahnpl_plugin.plotting import read_metrics

    chosen = {}
    for (name, seed), info in sorted(runs.items(), key=lambda kv: kv[0][1]):
        if name in chosen or info["dir"] is None:
            continue
        rows = read_metrics(Path(info["dir"]) / "metrics.jsonl")
        if rows and any(k.startswith("theta/") for k in rows[0]) and rows[0].get("logit_scale") is not None:
            chosen[name] = rows
    if not chosen:
        return None
    fig, axes = plt.subplots(len(chosen), 2, figsize=(11, 2.3 * len(chosen)), squeeze=False)
    for (name, rows), (ax_logit, ax_cos) in zip(chosen.items(), axes):
        steps = [r["step"] for r in rows]
        for key in [k for k in rows[0] if k.startswith("theta/")]:
            theta = [r.get(key, float("nan")) for r in rows]
            ax_logit.plot(steps, theta, label=key[6:], lw=1)
            ax_cos.plot(steps, [t / r["logit_scale"] for t, r in zip(theta, rows)], label=key[6:], lw=1)
        ax_logit.set_ylabel(labels[name], fontsize=8)
        ax_logit.set_title("theta (logits)", fontsize=8)
        ax_cos.set_title("theta / s (cosine units)", fontsize=8)
        ax_logit.legend(fontsize=6, ncol=5)
        for ax in (ax_logit, ax_cos):
            ax.grid(alpha=0.3)
    axes[-1][0].set_xlabel("step")
    axes[-1][1].set_xlabel("step")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_report(runs: dict, out: Path, options: list[str], wall_s: float, loads: tuple[str, str], threads: int, jobs: int) -> str:
    results = collect_results(runs)
    order = [v.name for v in VARIANTS if v.name in results]
    results = {n: results[n] for n in order}
    labels = {v.name: v.label for v in VARIANTS}
    summary = summarise(results, BASELINE)
    walls = [info["wall_s"] for info in runs.values() if info["wall_s"] is not None]
    seeds = sorted({s for per in results.values() for s in per})
    text = "\n".join([
        "# Ablation on the synthetic world (issue 20)",
        "",
        "Held-out test accuracy (%) per test type; mean over seeds; 95% percentile bootstrap interval over "
        "seeds; Δ = paired difference to the ITC + text-hard-negative baseline. Results on a synthetic "
        "world are evidence about mechanisms, not about COCO-trained models.",
        "",
        f"- seeds: {seeds}; extra options: {' '.join(options) or 'none'}",
        f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}; "
        f"{jobs} runs at a time, {threads} torch thread(s) each",
        (f"- wall time: {wall_s:.0f} s in all; per run trained by this invocation {min(walls):.0f}-{max(walls):.0f} s"
         + (f" ({len(runs) - len(walls)} runs reused from earlier ones)" if len(walls) < len(runs) else "")
         if walls else "- wall time: all runs reused from earlier invocations (see their logs' training time)"),
        f"- load before: `{loads[0]}`",
        f"- load after: `{loads[1]}`",
        "",
        format_table(summary, labels, BASELINE),
        "",
        "Per seed (held-out mean, %):",
        "",
        format_per_seed(summary, labels),
        "",
        "Variants:",
        "",
        *[f"- **{v.label}** (`{v.name}`): {v.what}." for v in VARIANTS if v.name in results],
        "",
    ])
    (out / "ablation_results.md").write_text(text)
    serialisable = {"options": options, "seeds": seeds, "wall_s": wall_s, "load": loads, "summary": summary,
                    "runs": {f"{n}/seed{s}": {"dir": str(i["dir"]), "wall_s": i["wall_s"]} for (n, s), i in runs.items()}}
    (out / "ablation_results.json").write_text(json.dumps(serialisable, indent=2))
    plot_results(summary, labels, out / "ablation.png")
    plot_thresholds(runs, labels, out / "ablation_thresholds.png")
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=[v.name for v in VARIANTS], metavar="NAME",
                        help="which variants (default: all): " + ", ".join(BY_NAME))
    parser.add_argument("--seeds", nargs="+", type=int, default=[42], help="run.seed of each run (>= 5 for a claim)")
    parser.add_argument("--output-dir", default="output/ablation")
    parser.add_argument("--options", nargs="*", default=[], help="key=value overrides for every run")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (OMP/MKL_NUM_THREADS)")
    parser.add_argument("--write-configs", action="store_true", help="regenerate projects/ahnpl/ablation/ and exit")
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing: the table and plots of the finished runs of these variants and seeds")
    args = parser.parse_args(argv)
    if args.write_configs:
        for path in write_configs():
            print(path.relative_to(ROOT))
        return 0
    unknown = [n for n in args.variants if n not in BY_NAME]
    if unknown:
        parser.error(f"unknown variant(s) {unknown}; valid: {', '.join(BY_NAME)}")
    if args.jobs < 1 or args.threads < 1:
        parser.error("--jobs and --threads must be >= 1")
    out = Path(args.output_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    start, load_before = time.time(), _load()
    names = list(dict.fromkeys(args.variants))  # run in the order given; the table keeps VARIANTS' order
    if args.report_only:
        runs = {(n, s): {"dir": d, "wall_s": None, "reused": True} for n in names for s in args.seeds
                if (d := finished_run(out / n / f"seed{s}")) is not None}
        if not runs:
            parser.error(f"no finished run of these variants and seeds under {out}")
    else:
        runs = run_all(names, args.seeds, out, args.options, args.jobs, args.threads)
    text = write_report(runs, out, args.options, time.time() - start, (load_before, _load()), args.threads, args.jobs)
    print()
    print(text)
    print(f"{out}/ablation_results.md, ablation.png, ablation_thresholds.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
