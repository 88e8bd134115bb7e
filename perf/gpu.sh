#!/usr/bin/env bash
# Training-step benchmark (perf/step.py) on a lent GPU machine; docs/performance.md has the
# results and how to read them.
#
#   bash perf/gpu.sh prepare   # here, where PyPI is reachable: wheels -> perf/gpu_wheels/
#   bash perf/gpu.sh run       # there (device tool, carry perf/gpu_wheels): JSON -> $OUT
#
# The GPU machine's image has Python 3.12, torch, timm, numpy, pandas, opencv, einops, portalocker,
# but not LAVIS, and its transformers (5.x), tokenizers and huggingface_hub are too new for LAVIS
# 1.0.2; nothing can be downloaded there. `prepare` fetches cp312 wheels of the rest (~18 MiB, under
# the tool's 64 MiB limit with the repository) and builds fairscale's (sdist only). `run` installs
# them into /tmp/site, ahead of the image's packages, and runs step.py with --stand-ins: empty
# modules for pycocoevalcap (its wheel is 104 MB), spacy and decord, which `import lavis` imports
# but a CLIP step never calls. It builds nothing there.
#
# Device tool calls (one command each, each under the tool's 10-minute limit):
#   run(command="bash perf/gpu.sh run", carry=["perf/gpu_wheels"], timeout_s=540)         # step, ~3-5 min
#   run(command="bash perf/gpu.sh run e2e", carry=["perf/gpu_wheels"], timeout_s=540)     # end to end + loader per core, ~5 min (estimate)
#   run(command="bash perf/gpu.sh run memory", carry=["perf/gpu_wheels"], timeout_s=540)  # memory table, ~3 min (estimate)
# Environment: OUT (results folder; default perf/gpu_results), VARIANTS_256 (variants at
# batch 256; default a,b,c,c-longest,c-mha), COMPILE=1 adds c-compile at batch 256 (slow warmup).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WHEELS="$REPO/perf/gpu_wheels"
LIMIT_MIB=56   # wheels; the device tool carries at most 64 MiB with the working tree

# name==version of every wheel the GPU path needs beyond the image (checked: `import lavis` and a
# CLIP step import exactly these plus the image's packages).
PINNED=(
  salesforce-lavis==1.0.2      # LAVIS itself (py3 wheel; its own pins are ignored: --no-deps)
  transformers==4.55.4         # newest that LAVIS 1.0.2's BLIP imports unpatched
  tokenizers==0.21.4           # transformers 4.55 needs <0.22 (abi3 wheel)
  huggingface-hub==0.36.2      # transformers 4.55 needs <1.0
  omegaconf==2.4.0
  webdataset==1.0.2
  braceexpand==0.1.7
  ftfy==6.3.1
  wcwidth==0.2.13
  pycocotools==2.0.11
)
BUILT=(fairscale==0.4.4 iopath==0.1.10)   # sdists only on PyPI: built here into py3 wheels

prepare() {
  local py="${PYTHON:-$REPO/.venv/bin/python}"
  mkdir -p "$WHEELS"
  if [ -d "$REPO/.git" ] && ! grep -qx '/perf/gpu_wheels/' "$REPO/.git/info/exclude" 2>/dev/null; then
    echo '/perf/gpu_wheels/' >>"$REPO/.git/info/exclude"   # untracked, yet carried by name
  fi
  "$py" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 --platform any -d "$WHEELS" "${PINNED[@]%%#*}"
  for spec in "${BUILT[@]}"; do
    local name="${spec%%==*}"
    if ! ls "$WHEELS/$name"-*.whl >/dev/null 2>&1; then
      "$py" -m pip wheel --quiet --no-deps --no-build-isolation -w "$WHEELS" "$spec"
    fi
  done
  local size
  size=$(du -sm "$WHEELS" | cut -f1)
  ls -la "$WHEELS"
  echo "gpu_wheels: ${size} MiB (limit ${LIMIT_MIB})"
  if [ "$size" -gt "$LIMIT_MIB" ]; then
    echo "error: perf/gpu_wheels is ${size} MiB, over ${LIMIT_MIB}: the device tool would refuse it" >&2
    exit 1
  fi
}

run() {
  local what="${1:-step}"
  local out="${OUT:-$REPO/perf/gpu_results}"
  local site=/tmp/ahnpl-site
  mkdir -p "$out"
  ls "$WHEELS"/*.whl >/dev/null 2>&1 || { echo "error: no wheels in $WHEELS (run 'bash perf/gpu.sh prepare' first and carry perf/gpu_wheels)" >&2; exit 1; }
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" "$WHEELS"/*.whl
  export PYTHONPATH="$site:$REPO${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
  cd "$REPO"
  {
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv || true
    python3 -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.version.cuda, '| transformers', transformers.__version__)"
  } 2>&1 | tee "$out/gpu_step.log"
  case "$what" in
    step) ;;
    e2e)
      # end to end through ahnpl_runner (issue 21): stock CLIP (a) vs AHNPL (b), folder and shards,
      # 8 loader workers; then the loaders' per-core rate on this machine's CPU
      python3 perf/end_to_end.py --stand-ins --device cuda --model-type ViT-B-32 --amp bf16 --batch 256 \
        --workers "${WORKERS:-8}" --steps "${E2E_STEPS:-20}" --rounds 1 --variants a,b \
        --json "$out/e2e.json" 2>&1 | tee -a "$out/gpu_step.log"
      python3 perf/loader_per_core.py --images 256 --rounds 3 --json "$out/loader_per_core.json" 2>&1 \
        | tee -a "$out/gpu_step.log"
      return ;;
    memory)
      # peak memory: ViT-B/32, B/16, L/14 x batch 128/256/512 x activation checkpointing off/on
      python3 perf/memory.py --stand-ins --device cuda --json "$out/memory.json" 2>&1 | tee -a "$out/gpu_step.log"
      return ;;
    *) echo "usage: bash perf/gpu.sh run [step|e2e|memory]" >&2; exit 2 ;;
  esac
  local variants_256="${VARIANTS_256:-a,b,c,c-longest,c-mha}"
  if [ "${COMPILE:-0}" = 1 ]; then variants_256="$variants_256,c-compile"; fi
  python3 perf/step.py --stand-ins --device cuda --model-type ViT-B-32 --batch 128 \
    --variants a,b,c --json "$out/step_b128.json" 2>&1 | tee -a "$out/gpu_step.log"
  python3 perf/step.py --stand-ins --device cuda --model-type ViT-B-32 --batch 256 \
    --variants "$variants_256" --json "$out/step_b256.json" 2>&1 | tee -a "$out/gpu_step.log"
  python3 - "$out" <<'EOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
merged = {f"batch_{b}": json.loads((out / f"step_b{b}.json").read_text()) for b in (128, 256)}
(out / "gpu_step.json").write_text(json.dumps(merged, indent=2))
r = merged["batch_256"]["results"]
c = r["c"]
print(f"goals (ViT-B-32, batch 256): c/a = {c['vs_a']:.2f} (>= 0.55), c/b = {c['vs_b']:.2f} (>= 1.6), "
      f"c peak = {c['peak_gib']:.1f} GiB (<= 30)")
EOF
}

case "${1:-}" in
  prepare) prepare ;;
  run) run "${2:-step}" ;;
  *) echo "usage: bash perf/gpu.sh prepare|run" >&2; exit 2 ;;
esac
