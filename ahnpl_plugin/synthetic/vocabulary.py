"""The world's words: colours (with their RGB values), shapes, sizes, spatial relations.

Also chooses the held-out colour-shape combinations. Every word here is a single lower-case token
except the relation phrases, which are fixed multi-word strings ("to the left of").
"""

from __future__ import annotations

import itertools

import numpy as np

# Saturated colours that stay distinct from each other and from the grey background in every
# channel combination, so a 32 px image reads them unambiguously.
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (230, 30, 30),
    "green": (30, 190, 40),
    "blue": (40, 70, 235),
    "yellow": (240, 225, 20),
    "purple": (150, 40, 200),
    "orange": (250, 140, 0),
    "cyan": (0, 215, 215),
    "white": (250, 250, 250),
}
BACKGROUND: tuple[int, int, int] = (120, 120, 120)

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond", "cross")

SIZES: tuple[str, ...] = ("small", "large")

# relation key -> caption phrase; "subject <phrase> object".
RELATION_PHRASES: dict[str, str] = {
    "left": "to the left of",
    "right": "to the right of",
    "above": "above",
    "below": "below",
}
OPPOSITE_RELATION: dict[str, str] = {"left": "right", "right": "left", "above": "below", "below": "above"}

DEFAULT_COLOURS: tuple[str, ...] = ("red", "green", "blue", "yellow")
DEFAULT_SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
DEFAULT_RELATIONS: tuple[str, ...] = ("left", "right", "above", "below")


def check_vocabulary(colours: tuple[str, ...], shapes: tuple[str, ...], relations: tuple[str, ...]) -> None:
    """Raise ValueError naming the first unknown or repeated word, or a too-small vocabulary."""
    for kind, words, known in (
        ("colour", colours, PALETTE),
        ("shape", shapes, SHAPES),
        ("relation", relations, RELATION_PHRASES),
    ):
        for word in words:
            if word not in known:
                raise ValueError(f"unknown {kind} {word!r}; known: {sorted(known)}")
        if len(set(words)) != len(words):
            raise ValueError(f"repeated {kind} in {list(words)}")
        if len(words) < 2:
            raise ValueError(f"at least 2 {kind}s are needed, got {list(words)}")


def choose_heldout_pairs(
    colours: tuple[str, ...],
    shapes: tuple[str, ...],
    fraction: float,
    rng: np.random.Generator,
    min_training_partners: int = 2,
    max_tries: int = 10_000,
) -> list[tuple[str, str]]:
    """Pick round(fraction * #pairs) (colour, shape) pairs to hold out of training, at random.

    Every colour keeps at least `min_training_partners` training shapes and every shape at least
    that many training colours (fewer if the vocabulary is too small for that), so the model sees
    each word in several contexts and the held-out pairs are new combinations of known words.
    Returned in vocabulary order (colour-major).
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"heldout_fraction must be in [0, 1), got {fraction}")
    pairs = list(itertools.product(colours, shapes))
    n_heldout = int(round(fraction * len(pairs)))
    if n_heldout == 0:
        return []
    need_shapes = min(min_training_partners, len(shapes) - 1)
    need_colours = min(min_training_partners, len(colours) - 1)
    for _ in range(max_tries):
        picked = rng.choice(len(pairs), size=n_heldout, replace=False)
        heldout = {pairs[i] for i in picked}
        colour_ok = all(sum((c, s) not in heldout for s in shapes) >= need_shapes for c in colours)
        shape_ok = all(sum((c, s) not in heldout for c in colours) >= need_colours for s in shapes)
        if colour_ok and shape_ok:
            return [p for p in pairs if p in heldout]
    raise ValueError(
        f"cannot hold out {n_heldout} of {len(pairs)} colour-shape pairs and keep every colour and "
        f"shape in at least {min_training_partners} training pairs; lower heldout_fraction"
    )
