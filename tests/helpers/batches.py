"""The planted four-caption batch of the CLIP model tests (test_models.py, test_perf.py): captions of
2 to 11 words, their five AHNPL negatives per caption ("###": none of that type) and the mask of the
valid ones."""

from __future__ import annotations

import torch

from ahnpl_plugin.contract import AHNPL_TYPES

TYPES = AHNPL_TYPES  # the contract's five, in its order
CAPTIONS = [
    "a red cube left of a blue ball",
    "a small green dog on a big table!",
    "two cats",
    "a yellow triangle under a purple square next to a tree",
]
NEGATIVES = [
    ["a blue ball left of a red cube", "a blue cube left of a red ball", "a green cube left of a blue ball",
     "a red dog left of a blue ball", "a red cube right of a blue ball"],
    ["a small green table on a big dog!", "a big green dog on a small table!", "###",
     "a small green cat on a big table!", "a small green dog under a big table!"],
    ["###", "###", "###", "two dogs", "###"],
    ["a purple square under a yellow triangle next to a tree", "###",
     "a red triangle under a purple square next to a tree", "###", "a yellow triangle over a purple square next to a tree"],
]
MASK = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 1, 1], [0, 0, 0, 1, 0], [1, 0, 1, 0, 1]], dtype=torch.bool)


def planted_batch(n: int, negatives: bool = True, seed: int = 1) -> dict:
    """n samples cycling through the planted captions (shifted words so no two are alike), random
    32 px images of ``seed``, and (``negatives``) their hard negatives and mask."""
    g = torch.Generator().manual_seed(seed)
    captions = [f"{CAPTIONS[i % 4]} {'x' * (i // 4)}".strip() for i in range(n)]
    samples = {"image": torch.randn(n, 3, 32, 32, generator=g), "text_input": captions}
    if negatives:
        samples["hard_negatives"] = [list(NEGATIVES[i % 4]) for i in range(n)]
        samples["hard_negative_mask"] = MASK[torch.arange(n) % 4].clone()
    return samples


def micro_batches(samples: dict, size: int) -> list[dict]:
    """``samples`` cut into consecutive micro-batches of ``size`` (GradCache's groups)."""
    n = len(samples["text_input"])
    return [{k: v[i:i + size] for k, v in samples.items()} for i in range(0, n, size)]
