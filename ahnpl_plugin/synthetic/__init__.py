"""A procedurally rendered compositional world for training and testing compositional models.

Scenes hold two coloured shapes (two sizes) in one spatial relation; captions read like
"a small red circle to the left of a blue square". Everything is generated deterministically from a
seed into a cache folder (no download). The test (and validation) scenes each contain at least one
colour-shape combination that never appears in a training image or caption, so the test measures
compositional generalisation.

Pure numpy + PIL (the hard negatives of the training captions come from
:mod:`ahnpl_plugin.negatives`, imported only while building). No torch, no LAVIS.

Main entry points: :func:`build_world` (generate or reuse a cached world), :func:`load_world`
(read it back), :func:`score_items` (per-category accuracy of a model's caption scores), and
:data:`CATEGORIES` (the evaluation categories, in report order).
"""

from ahnpl_plugin.synthetic.eval_items import CATEGORIES
from ahnpl_plugin.synthetic.scoring import score_items
from ahnpl_plugin.synthetic.world import World, WorldConfig, WorldPaths, build_world, load_world

__all__ = [
    "CATEGORIES",
    "World",
    "WorldConfig",
    "WorldPaths",
    "build_world",
    "load_world",
    "score_items",
]
