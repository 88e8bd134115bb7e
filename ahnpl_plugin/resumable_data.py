"""Training data that a run can resume in the middle of an epoch, exactly.

Two facts make an interrupted epoch replayable:

* **Order**: the epoch's sample order comes from a seeded ``DistributedSampler`` (a function of
  seed, epoch, rank); :class:`ResumableSampler` can start that order ``skip`` samples in, so a
  resume does not read (or decode) the batches it has already trained on.
* **Augmentation randomness per sample**: each sample's transforms run under RNG seeds derived
  from ``(epoch seed, sample index)`` (:class:`SeededSamples`), not from a loader worker's RNG
  stream. Which worker loads a sample, and how many samples that worker loaded before, then no
  longer matter: the resumed epoch's batch ``i`` gets the same crops as in the uninterrupted run.

Streaming (webdataset) training sets have no index to skip to: a mid-epoch resume restarts the
epoch's stream (its shard order and shuffle buffers are seeded by seed, epoch, rank and worker)
and reads past the batches already trained on, so it is exact but pays for reading them.
"""

from __future__ import annotations

import random

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler


def sample_seed(epoch_seed: int, index: int) -> int:
    """The RNG seed of sample ``index`` in the epoch seeded ``epoch_seed`` (a 63-bit mix)."""
    x = (int(epoch_seed) * 0x9E3779B97F4A7C15 + int(index) * 0xBF58476D1CE4E5B9) & ((1 << 64) - 1)
    x ^= x >> 31
    x = (x * 0x94D049BB133111EB) & ((1 << 64) - 1)
    x ^= x >> 29
    return x & ((1 << 63) - 1)


class SeededSamples(Dataset):
    """Wraps a map-style dataset: ``__getitem__(i)`` runs with torch, ``random`` and numpy seeded
    from ``(epoch_seed, i)``. In the main process (``num_workers: 0``) the caller's RNG states are
    restored afterwards, so the model's own randomness does not depend on the data."""

    def __init__(self, dataset, epoch_seed: int = 0):
        self.dataset = dataset
        self.epoch_seed = epoch_seed

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        seed = sample_seed(self.epoch_seed, index)
        in_worker = torch.utils.data.get_worker_info() is not None
        if not in_worker:
            saved = (torch.get_rng_state(), random.getstate(), np.random.get_state())
        torch.manual_seed(seed)
        random.seed(seed)
        np.random.seed(seed % (2**32))
        try:
            return self.dataset[index]
        finally:
            if not in_worker:
                torch.set_rng_state(saved[0])
                random.setstate(saved[1])
                np.random.set_state(saved[2])

    def __getattr__(self, name):  # collater, text, img2txt, ... of the wrapped dataset
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)


class ResumableSampler(DistributedSampler):
    """``DistributedSampler`` whose next iteration starts ``skip`` samples into the epoch's order
    (then resets ``skip`` to 0); ``__len__`` stays the full epoch's."""

    skip = 0

    def __iter__(self):
        order = list(super().__iter__())
        skip, self.skip = self.skip, 0
        return iter(order[skip:])


def rng_states(device: torch.device | None = None) -> dict:
    """The main process's RNG states (torch CPU, CUDA when used, Python, numpy) as tensors, lists
    and numbers only, so that a checkpoint holding them loads with ``weights_only=True``."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    states = {
        "torch": torch.get_rng_state(),
        "python": [version, list(internal), gauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
    }
    if device is not None and device.type == "cuda" and torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state(device)
    return states


def set_rng_states(states: dict, device: torch.device | None = None) -> None:
    torch.set_rng_state(states["torch"].cpu())
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in states and device is not None and device.type == "cuda":
        torch.cuda.set_rng_state(states["cuda"].cpu(), device)
