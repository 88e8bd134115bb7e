"""NegCLIP's hard-negative images (ahnpl_plugin/datasets/neighbour_images.py), with planted neighbours."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ahnpl_plugin.datasets.neighbour_images import NeighbourPairs, cached_pixel_neighbours, pixel_neighbours


def test_pixel_neighbours_planted():
    # rows 0/1 rise, rows 2/3 fall; after mean-centring 0~1 and 2~3 are near-parallel, 0 vs 2 opposite
    images = np.array([[1, 2, 3, 4], [1, 2, 3, 5], [4, 3, 2, 1], [4, 3, 2, 0], [1, 2, 3, 4]], dtype=float)
    table = pixel_neighbours(images, 2)
    assert table.shape == (5, 2)
    assert table[0].tolist() == [4, 1]  # its exact copy first, never itself
    assert table[4].tolist() == [0, 1]
    assert table[2, 0] == 3 and table[3, 0] == 2
    assert all(i not in row for i, row in enumerate(table))
    with pytest.raises(ValueError, match="k must be between 1 and N-1"):
        pixel_neighbours(images, 5)


def test_pixel_neighbours_chunks_agree():
    rng = np.random.default_rng(0)
    images = rng.random((50, 3, 4, 4))
    assert np.array_equal(pixel_neighbours(images, 3, chunk=7), pixel_neighbours(images, 3, chunk=4096))


def test_cache_is_written_once_and_read_back(tmp_path):
    calls = []

    def load():
        calls.append(1)
        return np.array([[0.0, 1.0, 2.0], [0.0, 1.0, 2.1], [2.0, 1.0, 0.0]])

    first = cached_pixel_neighbours(tmp_path / "nn.npy", load, 1)
    second = cached_pixel_neighbours(tmp_path / "nn.npy", load, 1)
    assert first.tolist() == second.tolist() == [[1], [0], [1]]
    assert len(calls) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["nn.npy"]  # no temporary file left behind


class _Tiny:
    """A dataset whose sample i is (image = i, caption "c<i>")."""

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return {"image": torch.full((1,), float(i)), "text_input": f"c{i}"}

    def collater(self, samples):
        return {"image": torch.stack([s["image"] for s in samples]), "text_input": [s["text_input"] for s in samples]}


def test_pairs_bring_a_neighbour_and_the_batch_doubles():
    pairs = NeighbourPairs(_Tiny(), np.array([[1, 2], [0, 0], [3, 3], [2, 2]]))
    np.random.seed(0)
    first = pairs[0]
    assert first[0]["text_input"] == "c0" and first[1]["text_input"] in ("c1", "c2")
    batch = pairs.collater([pairs[1], pairs[2]])
    # own samples first, then their neighbours in the same order
    assert batch["text_input"] == ["c1", "c2", "c0", "c3"]
    assert batch["image"].flatten().tolist() == [1.0, 2.0, 0.0, 3.0]
    np.random.seed(5)
    a = [pairs[0][1]["text_input"] for _ in range(20)]
    np.random.seed(5)
    b = [pairs[0][1]["text_input"] for _ in range(20)]
    assert a == b and set(a) == {"c1", "c2"}  # drawn from the table with the (seeded) numpy RNG


def test_bad_tables_raise():
    with pytest.raises(ValueError, match="shape \\[N, k\\] with N = 4"):
        NeighbourPairs(_Tiny(), np.zeros((3, 1), dtype=int))
    with pytest.raises(ValueError, match="outside 0..3"):
        NeighbourPairs(_Tiny(), np.full((4, 1), 4))


# ------------------------------------------------------------------ COCO: image-neighbours files
def _argsort_reference(features, k, chunk):
    """The whole-row stable sort cosine_neighbours replaced, on the same float32 cosines (BLAS may
    round a dot product differently with another block shape, so the blocks are the same too)."""
    flat = features / np.linalg.norm(features, axis=1, keepdims=True)
    flat = flat.astype(np.float32)
    out = []
    for start in range(0, len(flat), chunk):
        sims = flat[start:start + chunk] @ flat.T
        rows = np.arange(sims.shape[0])
        sims[rows, start + rows] = -np.inf
        out.append(np.argsort(-sims, axis=1, kind="stable")[:, :k])
    return np.concatenate(out)


@pytest.mark.parametrize("chunk", [1, 5, 64])
def test_cosine_neighbours_match_a_full_stable_sort_ties_included(chunk):
    from ahnpl_plugin.datasets.neighbour_images import cosine_neighbours

    rng = np.random.default_rng(3)
    base = rng.normal(size=(12, 4))
    features = np.concatenate([base, base[:6], base[:3], base[:1]])  # copies of rows 0-5, 0-2 and 0: near-ties
    table = cosine_neighbours(features, 4, chunk=chunk)
    assert np.array_equal(table, _argsort_reference(features, 4, chunk))
    assert set(table[0, :3].tolist()) == {12, 18, 21}  # its copies first
    assert all(i not in row for i, row in enumerate(table))


def test_cosine_neighbours_exact_ties_go_to_the_lower_index():
    from ahnpl_plugin.datasets.neighbour_images import cosine_neighbours

    # integer-valued unit vectors: every cosine is exact, so rows 1, 2 and 3 tie for row 0
    features = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    assert cosine_neighbours(features, 3).tolist() == [[4, 1, 2], [2, 3, 0], [1, 3, 0], [1, 2, 0], [0, 1, 2]]


def test_caption_neighbours_known_table():
    from ahnpl_plugin.datasets.neighbour_images import caption_neighbours
    from ahnpl_plugin.errors import DataError

    images = ["a", "a", "b", "c", "c", "c"]
    neighbours = {"a": ["c", "b"], "b": ["a", "c"], "c": ["b", "a"], "z": ["a", "b"]}
    table = caption_neighbours(images, neighbours)
    # row i takes, of each neighbour image, the caption row with its own rank among its image's rows
    assert table.tolist() == [[3, 2], [4, 2], [0, 3], [2, 0], [2, 1], [2, 0]]
    # a neighbour without captions here ("z") is skipped; the nearest usable one fills the row
    assert caption_neighbours(["a", "b"], {"a": ["z", "b"], "b": ["a", "z"]}).tolist() == [[1, 1], [0, 0]]
    with pytest.raises(DataError, match="1 of 2 training images are not in"):
        caption_neighbours(["a", "q"], {"a": ["q"]})
    with pytest.raises(DataError, match="no neighbour of a has a caption"):
        caption_neighbours(["a", "b"], {"a": ["z"], "b": ["a"]})


def test_image_neighbours_file_round_trip_and_bad_files(tmp_path):
    from ahnpl_plugin.datasets.neighbour_images import read_image_neighbours, write_image_neighbours
    from ahnpl_plugin.errors import DataError

    path = tmp_path / "nn.json"
    write_image_neighbours(path, ["x.jpg", "y.jpg", "z.jpg"], np.array([[1, 2], [0, 2], [1, 0]]), {"model": "tiny"})
    assert read_image_neighbours(path) == {"x.jpg": ["y.jpg", "z.jpg"], "y.jpg": ["x.jpg", "z.jpg"],
                                           "z.jpg": ["y.jpg", "x.jpg"]}
    assert [p.name for p in tmp_path.iterdir()] == ["nn.json"]
    (tmp_path / "other.json").write_text('{"images": []}')
    with pytest.raises(DataError, match="not an image-neighbours file"):
        read_image_neighbours(tmp_path / "other.json")
    with pytest.raises(DataError, match="not a readable image-neighbours file"):
        read_image_neighbours(tmp_path / "absent.json")
    with pytest.raises(ValueError, match=r"table must be \[N, k\]"):
        write_image_neighbours(path, ["x.jpg"], np.array([[0], [0]]))


def _twin_folder(root):
    """A tiny COCO folder whose train images come in identical pairs (0=1, 2=3, 4=5, 6=7)."""
    import shutil

    from ahnpl_plugin.data.sample_folder import make_coco_folder, write_template_negatives

    folder = make_coco_folder(root / "coco", n_train=8, n_val=2, n_test=2, captions_per_image=2, restval=False)
    names = list(dict.fromkeys(r["image"] for r in folder.train_rows))
    for first, second in zip(names[0::2], names[1::2]):
        shutil.copyfile(folder.images / first, folder.images / second)
    negatives = write_template_negatives(folder.train_rows, root / "coco" / "negatives.jsonl")
    return folder, negatives, names


def test_image_neighbours_command_pairs_identical_images_and_the_coco_batch_doubles(tmp_path, capsys):
    """Planted answer: an image's exact copy has cosine 1 under any model, so it is the nearest
    neighbour; then the COCO builder gives each caption row a caption of the twin image, and one
    training epoch runs on batches of 2B through the runner."""
    from ahnpl_plugin.data.cli import main
    from ahnpl_plugin.datasets.neighbour_images import NeighbourPairs, read_image_neighbours
    from helpers.files import write_yaml
    from helpers.runs import coco_run_config, metrics, train

    folder, negatives, names = _twin_folder(tmp_path)
    nn_file = tmp_path / "neighbours.json"
    cfg = coco_run_config((folder, negatives), tmp_path / "out", dataset_keys={"neighbour_images_file": str(nn_file)},
                          log_freq=1)
    cfg_path = write_yaml(cfg, tmp_path / "negclip.yaml")
    assert main(["image-neighbours", "--cfg-path", str(cfg_path), "--k", "2", "--device", "cpu", "--workers", "0",
                 "--no-progress"]) == 0
    assert "8 training images, k=2" in capsys.readouterr().err
    table = read_image_neighbours(nn_file)
    twin = {a: b for a, b in zip(names[0::2], names[1::2])} | {b: a for a, b in zip(names[0::2], names[1::2])}
    assert all(table[image][0] == twin[image] for image in names)

    from lavis.common.registry import registry
    from helpers.runs import load_config

    loaded = load_config(cfg_path)
    train_set = registry.get_builder_class("ahnpl_coco")(loaded.datasets_cfg["ahnpl_coco"]).build_datasets()["train"]
    assert isinstance(train_set, NeighbourPairs) and len(train_set) == 16
    np.random.seed(0)
    for i in range(len(train_set)):
        own, neighbour = train_set[i]
        row = train_set.dataset.records[i]
        partner = train_set.dataset.records[int(train_set.neighbours[i, 0])]
        assert partner["image"] == twin[row["image"]]
    batch = train_set.collater([train_set[0], train_set[1], train_set[2]])
    assert batch["image"].shape[0] == 6

    runner = train(cfg_path)
    steps = [m for m in metrics(runner.output_dir) if m.get("kind", "train") == "train" and "loss" in m]
    assert steps and all(np.isfinite(m["loss"]) for m in steps)


def test_missing_neighbours_file_names_key_and_command(tmp_path):
    from ahnpl_plugin.datasets.coco_builder import path_problems
    from helpers.runs import coco_run_config
    from omegaconf import OmegaConf

    folder, negatives, _ = _twin_folder(tmp_path)
    cfg = coco_run_config((folder, negatives), tmp_path / "out", dataset_keys={"neighbour_images_file": str(tmp_path / "nn.json")})
    problems = path_problems(OmegaConf.create(cfg["datasets"]["ahnpl_coco"]), "ahnpl_coco")
    assert len(problems) == 1 and "neighbour_images_file: file not found" in problems[0]
    assert "python -m ahnpl_plugin.data image-neighbours" in problems[0]
