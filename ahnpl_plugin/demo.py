"""``make demo``: fine-tune a tiny CLIP on the synthetic world with AHNPL and with plain CLIP
fine-tuning (same data, schedule and seed), then print held-out accuracies side by side.

Each run goes through ``python -m lavis.train`` exactly as a user would run it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

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


def _run(cfg_path: Path, output_dir: Path, options: list[str]) -> dict:
    output_dir.mkdir(parents=True, exist_ok=True)
    before = set(output_dir.iterdir())
    cmd = [sys.executable, "-m", "lavis.train", "--cfg-path", str(cfg_path),
           "--options", f"run.output_dir={output_dir}", *options]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    (run_dir,) = [p for p in output_dir.iterdir() if p not in before and p.is_dir()]
    with open(run_dir / "results.json") as f:
        results = json.load(f)
    return {"dir": run_dir, "test": results["test"]}


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output-dir", default="output/demo")
    parser.add_argument("--options", nargs="*", default=[], help="extra key=value overrides for both runs")
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parent.parent
    out = Path(args.output_dir).resolve()
    start = time.time()
    rows, dirs = {}, {}
    for name, cfg in RUNS:
        result = _run(root / cfg, out, args.options)
        rows[name], dirs[name] = result["test"], result["dir"]
    table = format_table(rows)
    (out / "demo_results.md").write_text(table + "\n")
    print()
    print(table)
    print()
    for name, d in dirs.items():
        print(f"{name}: {d} (training_curves.png, results.json)")
    print(f"total {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
