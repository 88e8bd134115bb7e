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
