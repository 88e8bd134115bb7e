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
