"""Random scenes and their captions, from a numpy Generator (deterministic for a given seed).

Layout rule (keeps the relation readable at 32 px): for "a left of b" the subject lies wholly in the
left half and the object wholly in the right half, both near the horizontal mid-line (a jitter of
at most image_size/16 px), so "above"/"below" are clearly false; likewise for vertical relations.
Sizes: a large thing is about 0.40 * image_size across, a small one about 0.22 * image_size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ahnpl_plugin.synthetic.scenes import Description, Scene, Thing, describe_scene

LARGE_FRACTION = 0.40
SMALL_FRACTION = 0.22
MIN_IMAGE_SIZE = 16


def thing_diameter(size: str, image_size: int) -> int:
    """Side of a thing's bounding square in pixels."""
    fraction = LARGE_FRACTION if size == "large" else SMALL_FRACTION
    return max(3, int(round(fraction * image_size)))


def _axis_starts(rng: np.random.Generator, first_half: bool, diameter: int, image_size: int) -> int:
    """Start coordinate along the relation axis, wholly inside one half with a 1 px margin."""
    half = image_size // 2
    lo = 1 if first_half else image_size - half + 1
    hi = lo + half - 2 - diameter  # inclusive
    if hi < lo:
        raise ValueError(f"image_size {image_size} too small for a {diameter} px thing")
    return int(rng.integers(lo, hi + 1))


def _cross_start(rng: np.random.Generator, diameter: int, image_size: int) -> int:
    """Start coordinate across the relation axis: centred, jittered by at most image_size/16."""
    jitter = max(1, image_size // 16)
    centred = (image_size - diameter) // 2
    start = centred + int(rng.integers(-jitter, jitter + 1))
    return int(min(max(start, 0), image_size - diameter))


def place_things(
    rng: np.random.Generator,
    relation: str,
    sizes: tuple[str, str],
    image_size: int,
) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    """Boxes for (subject, object) such that "subject <relation> object" holds."""
    if image_size < MIN_IMAGE_SIZE:
        raise ValueError(f"image_size must be at least {MIN_IMAGE_SIZE}, got {image_size}")
    horizontal = relation in ("left", "right")
    subject_first = relation in ("left", "above")
    boxes = []
    for index, size in enumerate(sizes):
        d = thing_diameter(size, image_size)
        along = _axis_starts(rng, subject_first == (index == 0), d, image_size)
        across = _cross_start(rng, d, image_size)
        x0, y0 = (along, across) if horizontal else (across, along)
        boxes.append((x0, y0, x0 + d, y0 + d))
    return boxes[0], boxes[1]


@dataclass(frozen=True)
class SampledScene:
    scene: Scene
    description: Description  # the true caption's content


def sample_scene(
    rng: np.random.Generator,
    *,
    image_size: int,
    pairs_for_subject: list[tuple[str, str]],
    pairs_for_object: list[tuple[str, str]],
    relations: tuple[str, ...],
    size_word_prob: float,
) -> SampledScene:
    """One scene: subject and object (colour, shape) drawn from the given lists, never equal;
    sizes and relation uniform; each size word said with probability `size_word_prob`."""
    subject_pair = pairs_for_subject[int(rng.integers(len(pairs_for_subject)))]
    others = [p for p in pairs_for_object if p != subject_pair]
    if not others:
        raise ValueError(f"no object pair differs from the subject pair {subject_pair}")
    object_pair = others[int(rng.integers(len(others)))]
    sizes = ("small", "large")
    size_a, size_b = sizes[int(rng.integers(2))], sizes[int(rng.integers(2))]
    relation = relations[int(rng.integers(len(relations)))]
    box_a, box_b = place_things(rng, relation, (size_a, size_b), image_size)
    say_size = (bool(rng.random() < size_word_prob), bool(rng.random() < size_word_prob))
    scene = Scene(
        (Thing(size_a, *subject_pair, box_a), Thing(size_b, *object_pair, box_b)),
        image_size,
    )
    description = describe_scene(scene, say_size)
    if description.relation != relation:
        raise AssertionError(f"layout gave {description.relation!r}, wanted {relation!r}")
    return SampledScene(scene, description)


def sample_training_scene(rng, *, training_pairs, **kwargs) -> SampledScene:
    """Both things from the training pairs (no held-out combination anywhere)."""
    return sample_scene(rng, pairs_for_subject=training_pairs, pairs_for_object=training_pairs, **kwargs)


def sample_heldout_scene(rng, *, heldout_pairs, all_pairs, **kwargs) -> SampledScene:
    """At least one thing (subject or object, at random) is a held-out pair; the other is any pair."""
    if not heldout_pairs:
        raise ValueError("held-out scenes need at least one held-out pair (heldout_fraction > 0)")
    if rng.random() < 0.5:
        return sample_scene(rng, pairs_for_subject=heldout_pairs, pairs_for_object=all_pairs, **kwargs)
    # Draw the held-out thing first, then put it in the object slot.
    drawn = sample_scene(rng, pairs_for_subject=heldout_pairs, pairs_for_object=all_pairs, **kwargs)
    return _swap_roles(drawn)


def _swap_roles(sampled: SampledScene) -> SampledScene:
    """The same image described from the other thing: "b <inverse relation> a"."""
    a, b = sampled.scene.things
    scene = Scene((b, a), sampled.scene.image_size)
    d = sampled.description
    say_size = (d.object.size is not None, d.subject.size is not None)
    return SampledScene(scene, describe_scene(scene, say_size))
