"""``ahnpl_synthetic_world``: the procedurally rendered compositional world as LAVIS datasets.

train: :class:`HardNegativeDataset` over the world's captions and generator-made hard negatives
(negatives naming a held-out colour-shape pair are already invalid). val/test:
:class:`ChoiceEvalDataset` over the world's scene-derived choice items, scored per category by
:func:`ahnpl_plugin.synthetic.score_items`. Config keys: ``cache_dir`` (null: the shared cache, :func:`ahnpl_plugin.paths.cache_root`), ``world`` (any
:class:`~ahnpl_plugin.synthetic.WorldConfig` field), ``negative_types``, processors, and
``neighbour_images`` (k > 0: NegCLIP's hard-negative images, each training sample brings one of its
k nearest pixel-space neighbours, :mod:`ahnpl_plugin.datasets.neighbour_images`; 0 = off).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging

from lavis.common.registry import registry
from lavis.datasets.builders.base_dataset_builder import BaseDatasetBuilder
from PIL import Image

from ahnpl_plugin.contract import resolve_types
from ahnpl_plugin.datasets.choice_eval import ChoiceEvalDataset
from ahnpl_plugin.datasets.coco_builder import negative_types_of
from ahnpl_plugin.datasets.hard_negatives import HardNegativeDataset
from ahnpl_plugin.errors import ConfigError
from ahnpl_plugin.paths import cache_root, config_path, resolve_user_path

BUILDER_KEYS = {
    "data_type", "cache_dir", "world", "negative_types", "vis_processor", "text_processor", "type", "neighbour_images",
}


def world_cache_dir(cache_dir, world_config):
    """Where the world lives: ``cache_dir`` as given, else the shared cache's folder for this exact
    world config (so worlds of different configs never replace each other)."""
    if cache_dir:
        return resolve_user_path(cache_dir)
    fields = json.dumps(dataclasses.asdict(world_config), sort_keys=True, default=str)
    return cache_root() / "synthetic_world" / hashlib.sha256(fields.encode()).hexdigest()[:12]


def _open_under(root, ref):
    return Image.open(root / ref).convert("RGB")


def _with_neighbour_images(train, world, k):
    """``train`` wrapped so that each sample brings one of its k nearest pixel-space neighbours."""
    import numpy as np

    from ahnpl_plugin.datasets.neighbour_images import NeighbourPairs, cached_pixel_neighbours

    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ConfigError(f"datasets.ahnpl_synthetic_world.neighbour_images must be an integer >= 0, got {k!r}")
    if k == 0:
        return train

    def pixels():  # 8x8 thumbnails: the layout and colours that make two scenes look alike
        return np.stack([
            np.asarray(_open_under(world.paths.images_dir, r["image"]).resize((8, 8), Image.BILINEAR), dtype=np.float32)
            for r in train.records
        ])

    table = cached_pixel_neighbours(world.paths.root / f"train_neighbours_k{k}.npy", pixels, k)
    logging.info("NegCLIP hard-negative images: each batch gains its samples' pixel-space neighbours (k=%d)", k)
    return NeighbourPairs(train, table)


@registry.register_builder("ahnpl_synthetic_world")
class SyntheticWorldBuilder(BaseDatasetBuilder):
    DATASET_CONFIG_DICT = {"default": config_path("datasets/synthetic_world/defaults.yaml")}

    def build_datasets(self):
        from ahnpl_plugin.synthetic import WorldConfig, build_world, load_world, score_items

        cfg = self.config
        unknown = sorted(set(cfg.keys()) - BUILDER_KEYS)
        if unknown:
            raise ConfigError(
                f"unknown key(s) {unknown} under datasets.ahnpl_synthetic_world; valid: {sorted(BUILDER_KEYS)}"
            )
        fields = {f.name for f in dataclasses.fields(WorldConfig)}
        world_cfg = dict(cfg.get("world", {}))
        bad = sorted(set(world_cfg) - fields)
        if bad:
            raise ConfigError(f"unknown world key(s) {bad}; valid: {sorted(fields)}")
        for key in ("colours", "shapes", "relations"):
            if key in world_cfg:
                world_cfg[key] = tuple(world_cfg[key])
        if "negative_types" in world_cfg:  # a group name (ahnpl) or a list of names
            try:
                world_cfg["negative_types"] = resolve_types(world_cfg["negative_types"])
            except ValueError as exc:
                raise ConfigError(f"datasets.ahnpl_synthetic_world.world.negative_types: {exc}") from None
        try:
            world_config = WorldConfig(**world_cfg)
        except ValueError as exc:
            raise ConfigError(f"datasets.ahnpl_synthetic_world.world: {exc}") from None
        cache_dir = world_cache_dir(cfg.get("cache_dir"), world_config)
        logging.info("synthetic world in %s (generated on first use)", cache_dir)
        world = load_world(build_world(cache_dir, world_config))

        self.build_processors()
        negative_types = (negative_types_of(cfg, "ahnpl_synthetic_world") if cfg.get("negative_types") is not None
                          else world_config.negative_types)
        images_dir = world.paths.images_dir
        opener = functools.partial(_open_under, images_dir)
        train = HardNegativeDataset(
            world.train,
            images_dir,
            self.vis_processors["train"],
            self.text_processors["train"],
            negative_types=negative_types,
        )
        return {
            "train": _with_neighbour_images(train, world, cfg.get("neighbour_images", 0)),
            "val": ChoiceEvalDataset(world.val, self.vis_processors["eval"], functools.partial(score_items, world.val), opener),
            "test": ChoiceEvalDataset(world.test, self.vis_processors["eval"], functools.partial(score_items, world.test), opener),
        }
