"""Throughput of the text hard-negative generator (captions/s), not a test.

Generates N COCO-style captions from templates and word lists (seeded, nearly all distinct, so
de-duplication does not flatter the figure), then times ``generate_negatives`` with the five AHNPL
types for each worker count, wall clock from the call to its return (process start-up and model
loading included). For reference it also times the spaCy tagger alone (tok2vec + tagger,
single process), the floor any tagger-based generator pays.

    python perf/negatives_throughput.py [--captions 20000] [--workers 1 2] [--seed 0]
        [--configs v1 v2:off v2:ngram] [--captions-file real.txt]

``--configs`` times each rule set (``v1``: tagger only; ``v2``: tagger + parser) and plausibility
selection in one run, so their ratio holds even on a busy machine; ``--captions-file`` times real
captions (one per line, repeated to ``--captions``, each repeat made distinct) instead.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import time

SUBJECTS = ["man", "woman", "boy", "girl", "dog", "cat", "horse", "elephant", "giraffe", "person",
            "skier", "surfer", "bus", "train", "truck", "bird", "cow", "sheep", "child", "player"]
OBJECTS = ["bench", "table", "street", "field", "beach", "skateboard", "surfboard", "frisbee", "pizza",
           "plate", "couch", "bed", "car", "fence", "building", "tree", "umbrella", "kite", "laptop",
           "sandwich", "bowl", "cake", "tennis racket", "road", "wall", "window", "sidewalk", "grass"]
ADJECTIVES = ["red", "blue", "white", "black", "green", "yellow", "brown", "small", "large", "big",
              "young", "old", "wooden", "metal", "empty", "open", "tall", "little", "striped", "happy"]
COUNTS = ["two", "three", "four", "several", "many"]
VERBS_TRANSITIVE = ["riding", "holding", "eating", "carrying", "throwing", "watching", "pushing",
                    "chasing", "looking at", "playing with"]
VERBS_INTRANSITIVE = ["sitting", "standing", "walking", "lying", "running", "waiting", "parked", "flying"]
RELATIONS = ["on", "in", "next to", "near", "under", "behind", "in front of", "on top of", "beside",
             "above", "across from", "inside"]
PLACES = ["in a park", "on a sunny day", "near the water", "in a kitchen", "on a city street",
          "at the beach", "in a field", "in the snow", "", "", ""]
PLURAL = {"man": "men", "woman": "women", "child": "children", "person": "people", "sheep": "sheep",
          "bus": "buses", "bench": "benches", "sandwich": "sandwiches", "beach": "beaches"}


def _np(rng: random.Random, nouns: list[str], plural_ok: bool = True) -> str:
    noun = rng.choice(nouns)
    adjectives = rng.sample(ADJECTIVES, k=rng.choice([0, 0, 1, 1, 2]))
    if plural_ok and rng.random() < 0.2:
        plural = PLURAL.get(noun, noun + "s")
        return " ".join([rng.choice(COUNTS)] + adjectives + [plural])
    words = adjectives + [noun]
    article = "an" if words[0][0] in "aeiou" else "a"
    return " ".join([rng.choice([article, article, "the"])] + words)


def coco_style_captions(n: int, seed: int = 0) -> list[str]:
    """``n`` captions like COCO's ("A man riding a red skateboard on a city street.")."""
    rng = random.Random(seed)
    captions = []
    for _ in range(n):
        form = rng.random()
        subject = _np(rng, SUBJECTS)
        if form < 0.4:
            body = f"{subject} {rng.choice(VERBS_TRANSITIVE)} {_np(rng, OBJECTS)}"
        elif form < 0.7:
            body = f"{subject} {rng.choice(VERBS_INTRANSITIVE)} {rng.choice(RELATIONS)} {_np(rng, OBJECTS)}"
        elif form < 0.85:
            body = f"{subject} {rng.choice(RELATIONS)} {_np(rng, OBJECTS)}"
        else:
            body = f"{subject} and {_np(rng, SUBJECTS)} {rng.choice(VERBS_INTRANSITIVE)} {rng.choice(RELATIONS)} {_np(rng, OBJECTS)}"
        place = rng.choice(PLACES)
        text = f"{body} {place}".strip()
        captions.append(text[0].upper() + text[1:] + rng.choice([".", ".", ""]))
    return captions


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished child processes."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def _burn(n: int) -> float:
    start = time.perf_counter()
    x = 0
    for i in range(n):
        x += i * i
    return time.perf_counter() - start


def free_cores(n: int = 5_000_000) -> float:
    """How many cores this run really gets now: a CPU-bound loop timed alone and as two processes
    (2.0 on an idle 2-core machine; less when other jobs share it)."""
    import multiprocessing

    one = _burn(n)
    pool = multiprocessing.get_context("fork").Pool(2)
    start = time.perf_counter()
    pool.map(_burn, [n, n])
    two = time.perf_counter() - start
    pool.close()
    pool.join()  # reaped now, so their CPU time is not counted in the timings below
    return 2 * one / two


def time_tagger_only(captions: list[str]) -> float:
    from ahnpl_plugin.negatives.tagger import load_tagger

    nlp = load_tagger()
    for _ in nlp.pipe(captions[:256]):  # warm-up
        pass
    start = time.perf_counter()
    for _ in nlp.pipe(captions, batch_size=256):
        pass
    return len(captions) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--captions", type=int, default=20000, help="COCO-style captions generated (default 20000)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="worker counts to time, one run each (default: 1 2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the captions and negatives (default 0)")
    parser.add_argument("--configs", nargs="+", default=["v1", "v2:off", "v2:ngram"],
                        help="RULES[:PLAUSIBILITY] to time (default: v1 v2:off v2:ngram)")
    parser.add_argument("--captions-file", default=None, help="real captions, one per line")
    args = parser.parse_args()

    from ahnpl_plugin.negatives import generate_negatives

    if args.captions_file:
        real = [c for c in open(args.captions_file, encoding="utf-8").read().splitlines() if c.strip()]
        captions = [c if k < len(real) else f"{c} ({k // len(real)})"  # repeats made distinct
                    for k, c in ((k, real[k % len(real)]) for k in range(args.captions))]
    else:
        captions = coco_style_captions(args.captions, args.seed)
    print(f"{len(captions)} {'real' if args.captions_file else 'COCO-style'} captions ({len(set(captions))} distinct), {os.cpu_count()} CPUs")
    load_before = os.getloadavg()[0]
    cores = free_cores()
    cpu = cpu_seconds()
    tagger_rate = time_tagger_only(captions)
    rows = [("spaCy tok2vec+tagger only", 1, tagger_rate, len(captions) / (cpu_seconds() - cpu), None)]
    outputs = {}
    for config in args.configs:
        rules, _, plausibility = config.partition(":")
        for workers in args.workers:
            cpu = cpu_seconds()
            start = time.perf_counter()
            results = generate_negatives(captions, workers=workers, seed=args.seed, rules=rules,
                                         plausibility=plausibility or None)
            seconds = time.perf_counter() - start
            cpu = cpu_seconds() - cpu
            valid = sum(sum(r["valid_caption"][1:]) for r in results) / (5 * len(results))
            rows.append((f"generate_negatives {config}", workers, len(captions) / seconds, len(captions) / cpu, valid))
            outputs.setdefault(config, {})[workers] = results
    print(f"{'what':<36}{'workers':>8}{'captions/s':>12}{'per CPU-s':>11}{'valid':>8}")
    for what, workers, rate, per_cpu, valid in rows:
        print(f"{what:<36}{workers:>8}{rate:>12.0f}{per_cpu:>11.0f}{'' if valid is None else f'{100 * valid:.1f}%':>8}")
    print(f"load average before/after: {load_before:.2f} / {os.getloadavg()[0]:.2f}; cores free for this run: "
          f"{cores:.2f} of {os.cpu_count()}")
    print("captions/s is wall clock (start-up and model loading included); 'per CPU-s' divides by the CPU time "
          "of this process and its workers, so it does not depend on other jobs sharing the machine")
    for config, by_workers in outputs.items():
        if len(by_workers) > 1:
            same = all(o == next(iter(by_workers.values())) for o in by_workers.values())
            print(f"{config}: identical output for workers {sorted(by_workers)}: {same}")


if __name__ == "__main__":
    main()
