"""The per-caption random stream: same choices in every process, run and Python version.

Each (seed, caption) is hashed once (BLAKE2b); each negative type then gets its own SplitMix64
stream started from that hash mixed with the type's own hash. So a caption's negatives do not
depend on the other captions, on batching or on worker processes, and adding or removing a type
does not change the others. (``random.Random(str)`` would also be stable, but seeding it costs
~20 us, five times per caption; this costs ~1 us per caption.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache
from typing import TypeVar

T = TypeVar("T")
_MASK = (1 << 64) - 1


def _hash64(text: str) -> int:
    data = text.encode("utf-8", "surrogatepass")  # any str, even one with lone surrogates
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def caption_key(seed: int, text: str) -> int:
    """The 64-bit key of a caption under a seed."""
    return _hash64(f"{seed}\x1f{text}")


@lru_cache(maxsize=None)
def _type_salt(negative_type: str) -> int:
    return _hash64(f"type\x1f{negative_type}")


class CaptionRandom:
    """A SplitMix64 stream for one (caption key, negative type)."""

    __slots__ = ("state",)

    def __init__(self, key: int, negative_type: str):
        self.state = key ^ _type_salt(negative_type)

    @classmethod
    def of(cls, seed: int, negative_type: str, text: str) -> "CaptionRandom":
        return cls(caption_key(seed, text), negative_type)

    def next64(self) -> int:
        """Next 64-bit output of SplitMix64."""
        self.state = (self.state + 0x9E3779B97F4A7C15) & _MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    def choice(self, items: Sequence[T]) -> T:
        """A uniformly chosen item (modulo bias < 2**-50 for any realistic length)."""
        if not items:
            raise IndexError("cannot choose from an empty sequence")
        return items[self.next64() % len(items)]


def draw(items: Sequence[T], k: int, rng: CaptionRandom) -> list[T]:
    """Up to ``k`` distinct items drawn at random, in drawing order (all, in order, when there are
    no more than ``k``)."""
    if len(items) <= k:
        return list(items)
    pool = list(items)
    return [pool.pop(rng.next64() % len(pool)) for _ in range(k)]
