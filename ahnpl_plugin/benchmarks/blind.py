"""Blind (text-only) baseline: how much of each benchmark a caption prior solves without the image.

A word-bigram language model fitted on training captions (e.g. the COCO captions a run trains
on) scores each candidate caption by its log-probability; the image is never looked at, so every
image of an item gets the same row of scores. Where such a prior wins (ARO's Order sets: shuffled
word order is improbable; SugarCrepe's implausible negatives; much of VL-CheckList), a
vision-language model's accuracy says little about its grounding. Winoground's text and image
scores are 0 for any blind model by construction (both images get the same scores: ties).

    python -m ahnpl_plugin.benchmarks.blind --cfg-path projects/ahnpl/eval_all.yaml \\
        --train data/coco/annotations/coco_karpathy_train.json

prints the blind row in the table by protocol (with 95% intervals), over the same items a model
run on that config evaluates (those whose images exist). numpy only (plus the annotation reader).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections import Counter
from typing import Iterable

import numpy as np

from .cells import model_cells, render_protocol_table
from .protocols import benchmark_outcomes

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
START, END, UNKNOWN = "<s>", "</s>", "<unk>"


def words(text: str) -> list[str]:
    """Lower-case word tokens (punctuation dropped)."""
    return _WORD.findall(text.lower())


class BigramLanguageModel:
    """Word bigrams with add-``k`` smoothing over the training vocabulary plus ``<unk>``.

    ``log_prob(caption) = sum_i log P(w_i | w_{i-1})`` over ``<s> w_1 .. w_n </s>``, with
    ``P(w | v) = (c(v, w) + k) / (c(v) + k |V|)``; words unseen in training map to ``<unk>``.
    """

    def __init__(self, k: float = 0.1):
        self.k = float(k)
        self.bigrams: Counter = Counter()
        self.contexts: Counter = Counter()
        self.vocabulary: set[str] = {END, UNKNOWN}

    def fit(self, captions: Iterable[str]) -> "BigramLanguageModel":
        for caption in captions:
            tokens = [START] + words(caption) + [END]
            self.vocabulary.update(tokens[1:])
            for a, b in zip(tokens, tokens[1:]):
                self.bigrams[(a, b)] += 1
                self.contexts[a] += 1
        return self

    def log_prob(self, caption: str) -> float:
        tokens = [START] + [w if w in self.vocabulary else UNKNOWN for w in words(caption)] + [END]
        size = len(self.vocabulary)
        return float(sum(math.log((self.bigrams[(a, b)] + self.k) / (self.contexts[a] + self.k * size))
                         for a, b in zip(tokens, tokens[1:])))


def blind_sims(bench, score) -> list[np.ndarray]:
    """Per item ``[n_images, n_captions]``: every image row holds the captions' text-only scores."""
    cache: dict[str, float] = {}
    sims = []
    for item in bench.items:
        row = [cache.setdefault(c, score(c)) for c in item.captions]
        sims.append(np.tile(np.array(row, dtype=np.float64), (len(item.images), 1)))
    return sims


def blind_outcomes(benches, score) -> dict:
    """Benchmark name -> :class:`~ahnpl_plugin.benchmarks.protocols.ItemOutcomes` of the blind scorer.

    A caption prior has no caption-caption similarity: a benchmark that scores one (SugarCrepe++'s
    text-only ``tot``) gets all-equal ones, so those outcomes are ties, i.e. wrong."""
    return {bench.name: benchmark_outcomes(bench, blind_sims(bench, score), _no_text_sims(bench))
            for bench in benches}


def _no_text_sims(bench) -> list[np.ndarray] | None:
    if not getattr(bench, "needs_text_sims", False):
        return None
    return [np.zeros((len(it.captions), len(it.captions))) for it in bench.items]


def _config_benchmarks(cfg_path: str, options: list[str]):
    """The benchmarks of a suite config, loaded as the suite's builders load them (absent ones
    skipped with a message on stderr)."""
    from ahnpl_plugin import register

    register()
    from lavis.common.registry import registry

    from ahnpl_plugin.config import load_config
    from ahnpl_plugin.errors import BenchmarkMissingError
    from ahnpl_plugin.datasets.benchmark_builders import BenchmarkBuilder

    cfg = load_config(cfg_path, options)
    benches = []
    for name in cfg.datasets_cfg:
        builder = registry.get_builder_class(name)
        if builder is None or not issubclass(builder, BenchmarkBuilder) or not builder.enabled(cfg.datasets_cfg[name]):
            continue
        try:
            settings = builder.settings(cfg.datasets_cfg[name])
            benches.append(builder.load_benchmark(settings, strict=settings.strict))
        except BenchmarkMissingError as exc:
            print(f"not evaluated: {exc}", file=sys.stderr)
    return benches


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ahnpl_plugin.benchmarks.blind", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cfg-path", required=True, help="a suite config (e.g. projects/ahnpl/eval_all.yaml)")
    parser.add_argument("--train", required=True, nargs="+",
                        help="caption file(s) to fit the bigram model: COCO captions JSON, Karpathy train JSON, JSONL")
    parser.add_argument("--options", nargs="+", default=[], help="key=value overrides of the config")
    parser.add_argument("--smoothing", type=float, default=0.1, help="add-k smoothing of the bigrams (default 0.1)")
    args = parser.parse_args(argv)
    from ahnpl_plugin.data.annotations import read_train_annotations
    from ahnpl_plugin.errors import UserError

    try:
        captions = [row["caption"] for row in read_train_annotations(args.train)]
        benches = _config_benchmarks(args.cfg_path, args.options)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not benches:
        print("error: no benchmark of the config could be loaded", file=sys.stderr)
        return 2
    lm = BigramLanguageModel(args.smoothing).fit(captions)
    cells = model_cells(blind_outcomes(benches, lm.log_prob))
    name = f"blind: word-bigram LM on {len(captions)} training captions"
    print(render_protocol_table({name: cells}, published=()), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
