"""Evaluation items: for each scene, one two-way caption choice per category where it applies.

The false caption is built by editing the scene's true description (never by the hard-negative
generator), and is checked against the scene, so it is certainly false:

- ``attribute_swap``: the two things' colours exchanged (only when they differ).
- ``relation_swap``: subject and object exchanged around the same relation phrase.
- ``attribute_replace``: one thing's colour (subject or object, at random) replaced by another
  colour of the world.
- ``object_replace``: one thing's shape replaced by another shape of the world.
- ``relation_replace``: the relation replaced by another relation of the world, at random (the
  opposite or a perpendicular one; perpendicular ones are false because the layout keeps the
  things on the mid-line of the other axis).

Item form (the project's compositional eval contract, plus provenance):
``{"images": [image], "captions": [true, false], "label": 0, "category": str, "image_id": str,
"scene": scene dict, "descriptions": [true, false description dicts]}``. The true caption is
always first; scoring counts a tie as wrong, so that position gives no advantage.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ahnpl_plugin.synthetic.captions import caption_is_true
from ahnpl_plugin.synthetic.scenes import Description, Mention, Scene, caption_of

CATEGORIES: tuple[str, ...] = (
    "attribute_swap",
    "relation_swap",
    "attribute_replace",
    "object_replace",
    "relation_replace",
)


def _pick(rng: np.random.Generator, options: list):
    return options[int(rng.integers(len(options)))]


def _edit_one_mention(d: Description, rng: np.random.Generator, field: str, choices: tuple[str, ...]) -> Description:
    """Replace `field` ("colour" or "shape") of subject or object (at random) by another choice."""
    which = "subject" if rng.random() < 0.5 else "object"
    mention: Mention = getattr(d, which)
    new_value = _pick(rng, [c for c in choices if c != getattr(mention, field)])
    return replace(d, **{which: replace(mention, **{field: new_value})})


def false_descriptions(
    d: Description,
    rng: np.random.Generator,
    colours: tuple[str, ...],
    shapes: tuple[str, ...],
    relations: tuple[str, ...],
) -> dict[str, Description]:
    """One false description per applicable category (in CATEGORIES order).

    The random draws happen in a fixed order whatever applies, so results are reproducible.
    """
    out: dict[str, Description] = {}
    s, o = d.subject, d.object
    if s.colour != o.colour:
        out["attribute_swap"] = d.with_mentions(replace(s, colour=o.colour), replace(o, colour=s.colour))
    if s != o:
        out["relation_swap"] = d.with_mentions(o, s)
    out["attribute_replace"] = _edit_one_mention(d, rng, "colour", colours)
    out["object_replace"] = _edit_one_mention(d, rng, "shape", shapes)
    out["relation_replace"] = replace(d, relation=_pick(rng, [r for r in relations if r != d.relation]))
    return out


def eval_items_for_scene(
    scene: Scene,
    description: Description,
    image: str,
    image_id: str,
    rng: np.random.Generator,
    colours: tuple[str, ...],
    shapes: tuple[str, ...],
    relations: tuple[str, ...],
) -> list[dict]:
    """The eval items of one scene; raises AssertionError if a caption's truth is not as built."""
    true_caption = caption_of(description)
    if caption_is_true(true_caption, scene) is not True:
        raise AssertionError(f"true caption {true_caption!r} is not true of its scene {scene}")
    items = []
    for category, false_d in false_descriptions(description, rng, colours, shapes, relations).items():
        false_caption = caption_of(false_d)
        if caption_is_true(false_caption, scene) is not False:
            raise AssertionError(f"{category} caption {false_caption!r} is not false of scene {scene}")
        items.append(
            {
                "images": [image],
                "captions": [true_caption, false_caption],
                "label": 0,
                "category": category,
                "image_id": image_id,
                "scene": scene.to_dict(),
                "descriptions": [description.to_dict(), false_d.to_dict()],
            }
        )
    return items
