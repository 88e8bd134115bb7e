"""Build (once) and load a synthetic world in a cache folder.

Layout of a world folder ``root``::

    root/meta.json          format, config, held-out pairs, counts, negative statistics
    root/train.json         JSON list of training records
    root/val.json           JSON list of eval items (held-out scenes, for checkpoint selection)
    root/test.json          JSON list of eval items (held-out scenes, for the final table)
    root/images/{split}/NNNNNN.png

Image paths in records are relative to ``root/images`` (LAVIS ``vis_root``).

Training record: ``{"image", "caption", "image_id", "<type>_aug_caption" for each negative type,
"valid_caption", "scene", "description"}``; the negatives come from :mod:`ahnpl_plugin.negatives`
and are vetted (:mod:`training_negatives`: none names a held-out pair or is true of its image).
Eval item: see :mod:`eval_items`.

Splits: train scenes use only the training (colour, shape) pairs; every val and test scene has at
least one held-out pair (val and test are disjoint random draws of the same distribution). Each
split draws from its own random stream ``default_rng([seed, split number])``, so changing one
split's size leaves the others unchanged.

Generated on first use: :func:`build_world` reuses ``root`` when its meta.json holds the same
format version and config; otherwise it builds the world in a temporary sibling folder and renames
it into place, under an exclusive lock file beside ``root``, so concurrent builders never see or
leave a half-written world. A folder that is not a world (no meta.json, not empty) is never
deleted: that is an error. The config, not the code, is compared: after a change that alters the
output for the same config (layout rules, the negatives generator, a different default spaCy
model), bump FORMAT_VERSION or delete the cache.
"""

from __future__ import annotations

import fcntl
import glob
import json
import os
import shutil
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ahnpl_plugin.contract import AHNPL_TYPES, VALID_FIELD, resolve_types
from ahnpl_plugin.synthetic.eval_items import eval_items_for_scene
from ahnpl_plugin.synthetic.render import render_scene
from ahnpl_plugin.synthetic.sampling import sample_heldout_scene, sample_training_scene
from ahnpl_plugin.synthetic.scenes import caption_of
from ahnpl_plugin.synthetic.scoring import count_items
from ahnpl_plugin.synthetic.training_negatives import generator_vocabulary, make_training_negatives
from ahnpl_plugin.synthetic.vocabulary import (
    DEFAULT_COLOURS,
    DEFAULT_RELATIONS,
    DEFAULT_SHAPES,
    check_vocabulary,
    choose_heldout_pairs,
)

FORMAT = "ahnpl-synthetic-world"
# Bump when the generated content changes for an unchanged config (e.g. the layout rules, or
# the hard-negative generator's output), so stale caches are rebuilt.
FORMAT_VERSION = 2  # 2: valid_caption in the contract layout (AHNPL order) for any negative_types
SPLIT_STREAMS = {"heldout": 0, "train": 1, "val": 2, "test": 3}


@dataclass(frozen=True)
class WorldConfig:
    """Everything that decides a world's content (two equal configs give identical files).

    seed: master seed. image_size: side in pixels (>= 16). n_train: training images; n_val /
    n_test: eval scenes (each gives up to 5 items, one per category). heldout_fraction: share of
    (colour, shape) pairs never seen in training. size_word_prob: chance that a caption says a
    thing's size. negative_types: hard-negative types of the training records (contract order).
    negatives_seed: seed of the generator (None = seed). negative_retries: how many more generator
    seeds to try for a negative dropped by vetting (held-out pair, or true of the image). spacy_model: the generator's spaCy model
    (None = its default).
    """

    seed: int = 0
    image_size: int = 32
    n_train: int = 20_000
    n_val: int = 500
    n_test: int = 1_000
    heldout_fraction: float = 0.25
    colours: tuple[str, ...] = DEFAULT_COLOURS
    shapes: tuple[str, ...] = DEFAULT_SHAPES
    relations: tuple[str, ...] = DEFAULT_RELATIONS
    size_word_prob: float = 0.5
    negative_types: tuple[str, ...] = AHNPL_TYPES
    negatives_seed: int | None = None
    negative_retries: int = 2
    spacy_model: str | None = None

    def __post_init__(self):
        for name in ("colours", "shapes", "relations", "negative_types"):
            value = getattr(self, name)
            object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(value))
        check_vocabulary(self.colours, self.shapes, self.relations)
        for name in ("n_train", "n_val", "n_test", "negative_retries"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.size_word_prob <= 1.0:
            raise ValueError(f"size_word_prob must be in [0, 1], got {self.size_word_prob}")
        object.__setattr__(self, "negative_types", resolve_types(self.negative_types))
        if (self.n_val or self.n_test) and self.heldout_fraction <= 0:
            raise ValueError("val/test scenes need held-out pairs: heldout_fraction must be > 0")

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))  # tuples -> lists, as stored in meta.json


@dataclass(frozen=True)
class WorldPaths:
    """Where a world's files are."""

    root: Path

    @property
    def images_dir(self) -> Path:
        return self.root / "images"

    @property
    def train(self) -> Path:
        return self.root / "train.json"

    @property
    def val(self) -> Path:
        return self.root / "val.json"

    @property
    def test(self) -> Path:
        return self.root / "test.json"

    @property
    def meta(self) -> Path:
        return self.root / "meta.json"

    def split(self, name: str) -> Path:
        if name not in ("train", "val", "test"):
            raise ValueError(f"unknown split {name!r}; expected train, val or test")
        return getattr(self, name)


@dataclass(frozen=True)
class World:
    """A loaded world: meta.json's content and the three splits' records."""

    paths: WorldPaths
    meta: dict
    train: list[dict]
    val: list[dict]
    test: list[dict]


def _read_json(path: Path):
    from ahnpl_plugin.data.jsonio import read_json

    if not path.is_file():
        raise FileNotFoundError(f"synthetic world file missing: {path}")
    return read_json(path, ValueError)


def _write_json(path: Path, obj) -> None:
    text = json.dumps(obj, separators=(",", ":"))  # dumps uses the C encoder; dump(f) does not
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _existing_meta(root: Path) -> dict | None:
    """meta.json of a world at root, or None when there is none (or it is unreadable)."""
    try:
        meta = _read_json(root / "meta.json")
    except (FileNotFoundError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("format") == FORMAT else None


def _matches(meta: dict | None, config: WorldConfig) -> bool:
    return (
        meta is not None
        and meta.get("format_version") == FORMAT_VERSION
        and meta.get("config") == config.to_dict()
    )


@contextmanager
def _exclusive_lock(lock_path: Path):
    with open(lock_path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_world(cache_dir: str | os.PathLike, config: WorldConfig | None = None, *, workers: int = 1, **overrides) -> WorldPaths:
    """Generate the world into `cache_dir` unless it already holds one with the same config.

    Pass a :class:`WorldConfig` or its fields as keywords (``seed=0, image_size=32, n_train=...``).
    `workers` only parallelises the hard-negative generator (the output does not depend on it).
    """
    if config is None:
        config = WorldConfig(**overrides)
    elif overrides:
        raise TypeError(f"pass either config or keyword fields, not both (got {sorted(overrides)})")
    root = Path(cache_dir).resolve()
    paths = WorldPaths(root)
    if _matches(_existing_meta(root), config):
        return paths
    root.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(root.parent / f".{root.name}.lock"):
        if _matches(_existing_meta(root), config):  # another process built it meanwhile
            return paths
        _check_replaceable(root)
        for stale in root.parent.glob(f".{glob.escape(root.name)}.tmp-*"):  # left by a crashed builder
            shutil.rmtree(stale, ignore_errors=True)
        tmp = _fresh_sibling(root, "tmp")
        try:
            _generate(tmp, config, workers)
            if root.exists():
                old = _fresh_sibling(root, "tmp-old")
                os.replace(root, old / "world")
                os.replace(tmp, root)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, root)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return paths


def _fresh_sibling(root: Path, tag: str) -> Path:
    """A new empty folder beside root, made with the process umask (mkdtemp would make it 0700)."""
    path = root.parent / f".{root.name}.{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    return path


def _check_replaceable(root: Path) -> None:
    """Refuse to delete a folder that is not a world (or an empty folder)."""
    if not root.exists():
        return
    if not root.is_dir():
        raise ValueError(f"synthetic world cache path {root} exists and is not a folder")
    if _existing_meta(root) is None and any(root.iterdir()):
        raise ValueError(
            f"{root} is not empty and holds no synthetic world meta.json; refusing to overwrite it"
        )


def _save_image(scene, images_dir: Path, split: str, index: int) -> str:
    rel = f"{split}/{index:06d}.png"
    render_scene(scene).save(images_dir / rel, format="PNG")
    return rel


def _write_training_split(root: Path, config: WorldConfig, training_pairs, heldout, workers: int) -> dict:
    """Render the training images, write train.json; returns the negative statistics."""
    (root / "images" / "train").mkdir(parents=True)
    rng = np.random.default_rng([config.seed, SPLIT_STREAMS["train"]])
    records, scenes = [], []
    for i in range(config.n_train):
        sampled = sample_training_scene(rng, training_pairs=training_pairs, **_scene_kwargs(config))
        records.append(
            {
                "image": _save_image(sampled.scene, root / "images", "train", i),
                "caption": caption_of(sampled.description),
                "image_id": f"train_{i:06d}",
                "scene": sampled.scene.to_dict(),
                "description": sampled.description.to_dict(),
            }
        )
        scenes.append(sampled.scene)
    stats: dict = {}
    if records and config.negative_types:
        vetted = make_training_negatives(
            [r["caption"] for r in records],
            scenes,
            heldout_pairs=heldout,
            types=config.negative_types,
            seed=config.seed if config.negatives_seed is None else config.negatives_seed,
            retries=config.negative_retries,
            vocabulary=generator_vocabulary(config.colours, config.shapes, config.relations),
            spacy_model=config.spacy_model,
            workers=workers,
        )
        stats = vetted.stats
        for record, negative_fields in zip(records, vetted.records):
            record.update(negative_fields)
    else:
        for record in records:
            record[VALID_FIELD] = [1]
    _write_json(root / "train.json", records)
    return stats


def _write_eval_split(root: Path, config: WorldConfig, split: str, n_scenes: int, heldout, all_pairs) -> dict:
    """Render n_scenes held-out scenes, write <split>.json; returns the item count per category."""
    (root / "images" / split).mkdir(parents=True)
    rng = np.random.default_rng([config.seed, SPLIT_STREAMS[split]])
    items = []
    for i in range(n_scenes):
        sampled = sample_heldout_scene(rng, heldout_pairs=heldout, all_pairs=all_pairs, **_scene_kwargs(config))
        image = _save_image(sampled.scene, root / "images", split, i)
        items.extend(
            eval_items_for_scene(
                sampled.scene, sampled.description, image, f"{split}_{i:06d}", rng,
                config.colours, config.shapes, config.relations,
            )
        )
    _write_json(root / f"{split}.json", items)
    return count_items(items)


def _scene_kwargs(config: WorldConfig) -> dict:
    return dict(image_size=config.image_size, relations=config.relations, size_word_prob=config.size_word_prob)


def _generate(root: Path, config: WorldConfig, workers: int) -> None:
    """Write every file of the world into root (meta.json last: its presence marks completion)."""
    started = time.perf_counter()
    all_pairs = [(c, s) for c in config.colours for s in config.shapes]
    heldout_rng = np.random.default_rng([config.seed, SPLIT_STREAMS["heldout"]])
    heldout = choose_heldout_pairs(config.colours, config.shapes, config.heldout_fraction, heldout_rng)
    training_pairs = [p for p in all_pairs if p not in heldout]
    negative_stats = _write_training_split(root, config, training_pairs, heldout, workers)
    item_counts = {
        split: _write_eval_split(root, config, split, n, heldout, all_pairs)
        for split, n in (("val", config.n_val), ("test", config.n_test))
    }
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": config.to_dict(),
        "heldout_pairs": [list(p) for p in heldout],
        "training_pairs": [list(p) for p in training_pairs],
        "counts": {
            "train_images": config.n_train, "val_scenes": config.n_val, "test_scenes": config.n_test,
            "items": item_counts,
        },
        "negative_stats": negative_stats,
        "negatives_generator": _generator_provenance(config) if config.negative_types and config.n_train else None,
        "image_root": "images",
        "build_seconds": round(time.perf_counter() - started, 2),
    }
    _write_json(root / "meta.json", meta)


def _generator_provenance(config: WorldConfig) -> dict:
    """Which generator made the negatives (recorded, not compared: see FORMAT_VERSION)."""
    import ahnpl_plugin.negatives as negatives

    return {
        "version": getattr(negatives, "__version__", None),
        "spacy_model": config.spacy_model or negatives.default_spacy_model(),
    }


def load_world(paths: WorldPaths | str | os.PathLike) -> World:
    """Read a built world (meta, train records, val and test items); clear errors on damage."""
    if not isinstance(paths, WorldPaths):
        paths = WorldPaths(Path(paths))
    meta = _read_json(paths.meta)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{paths.meta} is not a synthetic world meta.json (format {FORMAT!r})")
    splits = {}
    for name in ("train", "val", "test"):
        data = _read_json(paths.split(name))
        if not isinstance(data, list):
            raise ValueError(f"{paths.split(name)} must hold a JSON list, got {type(data).__name__}")
        splits[name] = data
    return World(paths, meta, splits["train"], splits["val"], splits["test"])


__all__ = ["World", "WorldConfig", "WorldPaths", "build_world", "load_world", "FORMAT_VERSION"]
