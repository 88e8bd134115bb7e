"""Draw a scene with PIL: flat-coloured shapes on a plain grey background, no anti-aliasing.

Deterministic: the same scene always gives the same pixels (and the same PNG bytes for a given
Pillow version).
"""

from __future__ import annotations

from PIL import Image, ImageDraw

from ahnpl_plugin.synthetic.scenes import Scene, Thing
from ahnpl_plugin.synthetic.vocabulary import BACKGROUND, PALETTE


def _draw_thing(draw: ImageDraw.ImageDraw, thing: Thing) -> None:
    x0, y0, x1, y1 = thing.box
    right, bottom = x1 - 1, y1 - 1  # PIL boxes are inclusive
    fill = PALETTE[thing.colour]
    mid_x, mid_y = (x0 + right) / 2.0, (y0 + bottom) / 2.0
    if thing.shape == "circle":
        draw.ellipse([x0, y0, right, bottom], fill=fill)
    elif thing.shape == "square":
        draw.rectangle([x0, y0, right, bottom], fill=fill)
    elif thing.shape == "triangle":
        draw.polygon([(mid_x, y0), (right, bottom), (x0, bottom)], fill=fill)
    elif thing.shape == "diamond":
        draw.polygon([(mid_x, y0), (right, mid_y), (mid_x, bottom), (x0, mid_y)], fill=fill)
    elif thing.shape == "cross":
        arm = max(1, (x1 - x0) // 3)
        cx0, cy0 = x0 + (x1 - x0 - arm) // 2, y0 + (y1 - y0 - arm) // 2
        draw.rectangle([cx0, y0, cx0 + arm - 1, bottom], fill=fill)
        draw.rectangle([x0, cy0, right, cy0 + arm - 1], fill=fill)
    else:
        raise ValueError(f"cannot draw unknown shape {thing.shape!r}")


def render_things(things, image_size: int) -> Image.Image:
    """An RGB image of any number of things (one, for the zero-shot classification images)."""
    image = Image.new("RGB", (image_size, image_size), BACKGROUND)
    draw = ImageDraw.Draw(image)
    for thing in things:
        _draw_thing(draw, thing)
    return image


def render_scene(scene: Scene) -> Image.Image:
    """An RGB image of size scene.image_size x scene.image_size."""
    return render_things(scene.things, scene.image_size)
