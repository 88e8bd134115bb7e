"""CPU cost of GradCache (``run.grad_cache``) against plain accumulation and one joined batch.

Tiny ``ahnpl_clip`` (random weights), a batch of ``--batch`` planted captions with their five
negatives, as ``--micro``-sized micro-batches: (a) one forward/backward of the joined batch, (b)
plain accumulation (loss / groups per micro-batch), (c) ``grad_cache_step`` over the micro-batches.
One torch thread, CPU time of the process (steady on a shared machine), median over rounds after
one warm-up round.

    python perf/grad_cache_cost.py                 # batch 64 as 4 x 16, 7 rounds
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--micro", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)

    import torch

    from ahnpl_plugin import register

    register()
    from helpers.models import tiny_clip
    from helpers.batches import micro_batches, planted_batch

    torch.set_num_threads(1)
    model = tiny_clip()
    model.train()
    samples = planted_batch(args.batch)
    parts = micro_batches(samples, args.micro)

    def joined():
        model(samples)["loss"].backward()

    def plain():
        for part in parts:
            (model(part)["loss"] / len(parts)).backward()

    def cached():
        model.grad_cache_step(parts, lambda out: out["loss"])

    times = {"joined": [], "plain": [], "grad_cache": []}
    for _ in range(args.rounds):
        for name, step in (("joined", joined), ("plain", plain), ("grad_cache", cached)):
            model.zero_grad(set_to_none=True)
            start = time.process_time()
            step()
            times[name].append(time.process_time() - start)
    median = {k: statistics.median(v[1:]) for k, v in times.items()}
    out = {"cpu_ms": {k: round(v * 1000, 1) for k, v in median.items()},
           "grad_cache_vs_plain": round(median["grad_cache"] / median["plain"], 3),
           "grad_cache_vs_joined": round(median["grad_cache"] / median["joined"], 3),
           "batch": args.batch, "micro": args.micro, "rounds": args.rounds}
    print(out)
    return out


if __name__ == "__main__":
    main()
