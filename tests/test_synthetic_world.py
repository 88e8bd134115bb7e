"""Building, caching and reading a (small) synthetic world, hard negatives included."""

import hashlib
import json
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ahnpl_plugin.contract import AHNPL_TYPES
from ahnpl_plugin.synthetic import CATEGORIES, WorldConfig, build_world, load_world
from ahnpl_plugin.synthetic.captions import mentioned_pairs
from ahnpl_plugin.synthetic.vocabulary import PALETTE

TYPES = AHNPL_TYPES  # the contract's five, in its order
SMALL = dict(seed=0, n_train=240, n_val=30, n_test=60)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return load_world(build_world(tmp_path_factory.mktemp("w") / "world", **SMALL))


def _heldout(world):
    return {tuple(p) for p in world.meta["heldout_pairs"]}


def _things(record):
    return record["scene"]["things"]


def _matches(mention, thing):
    return (
        mention["colour"] == thing["colour"]
        and mention["shape"] == thing["shape"]
        and mention["size"] in (None, thing["size"])
    )


def _centre(thing):
    x0, y0, x1, y1 = thing["box"]
    return (x0 + x1) / 2, (y0 + y1) / 2


def _holds(relation, a, b):
    (ax, ay), (bx, by) = _centre(a), _centre(b)
    return {"left": bx - ax > 8, "right": ax - bx > 8, "above": by - ay > 8, "below": ay - by > 8}[relation]


def _true_of(description, scene):
    """Independent truth check of a description dict against a scene dict."""
    a, b = scene["things"]
    return any(
        _matches(description["subject"], s) and _matches(description["object"], o) and _holds(description["relation"], s, o)
        for s, o in ((a, b), (b, a))
    )


def _drawn_shape(pixels, thing):
    """Colour at the box centre and shape from the fill fraction of the thing's box."""
    x0, y0, x1, y1 = thing["box"]
    box = pixels[y0:y1, x0:x1]
    colour = tuple(int(v) for v in pixels[(y0 + y1) // 2, (x0 + x1) // 2])
    fill = np.all(box == np.array(colour, dtype=np.uint8), axis=-1).mean()
    shape = "square" if fill > 0.95 else "circle" if 0.65 < fill < 0.9 else "triangle" if 0.4 < fill < 0.6 else "?"
    return colour, shape


def test_files_and_counts(world):
    paths = world.paths
    for path in (paths.train, paths.val, paths.test, paths.meta):
        assert path.is_file()
    assert len(world.train) == 240
    assert len(list((paths.images_dir / "train").iterdir())) == 240
    assert len(list((paths.images_dir / "test").iterdir())) == 60
    assert world.meta["config"] == WorldConfig(**SMALL).to_dict()
    assert len(world.meta["heldout_pairs"]) == 3
    for split in ("val", "test"):
        items = getattr(world, split)
        counts = world.meta["counts"]["items"][split]
        assert sum(counts.values()) == len(items)
        assert set(counts) == set(CATEGORIES)
        assert counts["relation_swap"] == SMALL[f"n_{split}"]  # one per scene
    image = Image.open(paths.images_dir / world.train[0]["image"])
    assert image.size == (32, 32) and image.mode == "RGB"


def test_training_images_and_captions_avoid_heldout_pairs(world):
    heldout = _heldout(world)
    for record in world.train:
        pixels = np.asarray(Image.open(world.paths.images_dir / record["image"]).convert("RGB"))
        for thing in _things(record):
            assert (thing["colour"], thing["shape"]) not in heldout
            assert _drawn_shape(pixels, thing) == (PALETTE[thing["colour"]], thing["shape"])
        assert not (mentioned_pairs(record["caption"]) & heldout)
        assert _true_of(record["description"], record["scene"])
        assert record["image_id"] == "train_" + Path(record["image"]).stem


def test_training_negatives_follow_the_contract(world):
    heldout = _heldout(world)
    kept = dict.fromkeys(TYPES, 0)
    for index, record in enumerate(world.train):
        valid = record["valid_caption"]
        assert len(valid) == 6 and valid[0] == 1 and all(v in (0, 1) for v in valid), index
        for k, t in enumerate(TYPES):
            text = record[f"{t}_aug_caption"]
            if valid[k + 1]:
                assert text != "###"
                assert not (mentioned_pairs(text) & heldout), (index, t, text)
                kept[t] += 1
            else:
                assert text == "###", (index, t, text)
    stats = world.meta["negative_stats"]
    assert {t: stats[t]["kept"] for t in TYPES} == kept
    # The generator, given the world's vocabulary, makes every type for most captions.
    for t in TYPES:
        assert kept[t] > 0.5 * len(world.train), (t, kept[t], stats[t])


def test_eval_items_are_heldout_and_false_captions_false(world):
    heldout = _heldout(world)
    for split in ("val", "test"):
        scenes_with_items = set()
        for item in getattr(world, split):
            assert item["label"] == 0 and len(item["captions"]) == 2
            assert (world.paths.images_dir / item["images"][0]).is_file()
            scene = item["scene"]
            assert any((t["colour"], t["shape"]) in heldout for t in scene["things"])
            assert mentioned_pairs(item["captions"][0]) & heldout
            true_d, false_d = item["descriptions"]
            assert _true_of(true_d, scene) and not _true_of(false_d, scene), item
            s, o = true_d["subject"], true_d["object"]
            fs, fo = false_d["subject"], false_d["object"]
            category = item["category"]
            if category == "attribute_swap":
                assert (fs["colour"], fo["colour"]) == (o["colour"], s["colour"]) != (s["colour"], o["colour"])
            elif category == "relation_swap":
                assert (fs, fo, false_d["relation"]) == (o, s, true_d["relation"])
            elif category == "attribute_replace":
                assert [fs["colour"] != s["colour"], fo["colour"] != o["colour"]].count(True) == 1
                assert (fs["shape"], fo["shape"], false_d["relation"]) == (s["shape"], o["shape"], true_d["relation"])
            elif category == "object_replace":
                assert [fs["shape"] != s["shape"], fo["shape"] != o["shape"]].count(True) == 1
                assert (fs["colour"], fo["colour"], false_d["relation"]) == (s["colour"], o["colour"], true_d["relation"])
            else:
                assert category == "relation_replace"
                assert (fs, fo) == (s, o) and false_d["relation"] != true_d["relation"]
            scenes_with_items.add(item["image_id"])
        assert len(scenes_with_items) == SMALL[f"n_{split}"]


def _digests(root: Path) -> dict:
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != "meta.json":
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    meta = json.loads((root / "meta.json").read_text())
    meta.pop("build_seconds")
    out["meta"] = meta
    return out


def test_same_seed_same_bytes_other_seed_differs(world, tmp_path):
    again = build_world(tmp_path / "again", **SMALL)
    assert _digests(again.root) == _digests(world.paths.root)
    other = load_world(build_world(tmp_path / "other", **dict(SMALL, seed=1, negative_types=())))
    assert [r["caption"] for r in other.train] != [r["caption"] for r in world.train]


def test_split_sizes_do_not_change_other_splits(tmp_path):
    a = load_world(build_world(tmp_path / "a", n_train=20, n_val=5, n_test=8, negative_types=()))
    b = load_world(build_world(tmp_path / "b", n_train=30, n_val=5, n_test=8, negative_types=()))
    assert a.test == b.test and a.val == b.val
    assert a.train == b.train[:20]
    assert a.train[0]["valid_caption"] == [1]


def test_cache_reuse_and_rebuild(tmp_path):
    root = tmp_path / "cache"
    small = dict(n_train=12, n_val=4, n_test=4, negative_types=())
    paths = build_world(root, **small)
    stamp = (paths.meta.stat().st_ino, paths.meta.stat().st_mtime_ns)
    assert build_world(root, WorldConfig(**small)) == paths
    assert (paths.meta.stat().st_ino, paths.meta.stat().st_mtime_ns) == stamp  # reused, not rewritten
    rebuilt = load_world(build_world(root, **dict(small, n_train=15)))
    assert len(rebuilt.train) == 15 and rebuilt.meta["config"]["n_train"] == 15
    assert len(list((root / "images" / "train").iterdir())) == 15
    assert sorted(p.name for p in tmp_path.iterdir()) == [".cache.lock", "cache"]  # no temp folders left


def test_refuses_to_overwrite_a_foreign_folder(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="refusing to overwrite"):
        build_world(foreign, n_train=4, n_val=2, n_test=2, negative_types=())
    assert (foreign / "notes.txt").read_text() == "keep me"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert load_world(build_world(empty, n_train=4, n_val=2, n_test=2, negative_types=())).train


def _build_in_child(root):
    paths = build_world(root, n_train=200, n_val=10, n_test=10, negative_types=())
    return str(paths.root)


def test_concurrent_builders_share_one_world(tmp_path):
    root = tmp_path / "shared"
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = pool.map(_build_in_child, [root, root])
    assert results == [str(root.resolve())] * 2
    world = load_world(root)
    assert len(world.train) == 200
    assert len(list((root / "images" / "train").iterdir())) == 200
    assert sorted(p.name for p in tmp_path.iterdir()) == [".shared.lock", "shared"]


def test_config_and_file_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown colour 'magenta'"):
        WorldConfig(colours=("red", "magenta"))
    with pytest.raises(ValueError, match="heldout_fraction must be > 0"):
        WorldConfig(heldout_fraction=0.0)
    with pytest.raises(ValueError, match="unknown negative type .colour."):
        WorldConfig(negative_types=("relation", "colour"))
    with pytest.raises(TypeError):
        build_world(tmp_path / "x", n_trian=3)
    paths = build_world(tmp_path / "w", n_train=3, n_val=2, n_test=2, negative_types=())
    os.remove(paths.val)
    with pytest.raises(FileNotFoundError, match="val.json"):
        load_world(paths)
    paths.val.write_text("[1, 2")
    with pytest.raises(ValueError, match=r"val\.json: malformed JSON at line 1, column 6"):
        load_world(paths)


@pytest.mark.parametrize("image_size", [48, 64])
def test_other_image_sizes(tmp_path, image_size):
    world = load_world(build_world(tmp_path / "w", image_size=image_size, n_train=6, n_val=3, n_test=3, negative_types=()))
    for record in world.train + world.test:
        ref = record["image"] if "image" in record else record["images"][0]
        pixels = np.asarray(Image.open(world.paths.images_dir / ref).convert("RGB"))
        assert pixels.shape == (image_size, image_size, 3)
        for thing in _things(record):
            assert _drawn_shape(pixels, thing) == (PALETTE[thing["colour"]], thing["shape"])
