"""Shard splitting across ranks and workers with an unequal shard count (issue 21, item 4's policy):
each (rank, worker) reads its own shards, no sample twice; the ranks' sample counts differ, and
every rank still runs num_samples // (batch x world) steps (the runner restarts a stream that ends
early). Ranks are simulated with RANK / WORLD_SIZE (what webdataset reads); the torchrun version
with real ranks is tests/test_data_builders.py::test_torchrun_two_ranks_stream_disjoint_shards."""

from __future__ import annotations

import pytest
from torch.utils.data import DataLoader
from torchvision import transforms

from ahnpl_plugin.contract import AHNPL_TYPES

TYPES = AHNPL_TYPES  # the contract's five, in its order


@pytest.fixture(scope="module")
def five_shards(tmp_path_factory):
    from ahnpl_plugin.data.cli import main as data_main
    from ahnpl_plugin.data.sample_folder import make_coco_folder, write_template_negatives

    root = tmp_path_factory.mktemp("five")
    folder = make_coco_folder(root / "coco", n_train=10, n_val=1, n_test=1)
    negatives = write_template_negatives(folder.train_rows, root / "neg.jsonl")
    assert data_main(["write-shards", "--annotations", str(folder.annotations["train"]), "--negatives", str(negatives),
                      "--images", str(folder.images), "--output", str(root / "shards"), "--samples-per-shard", "4",
                      "--no-progress"]) == 0
    return sorted(str(p) for p in (root / "shards").glob("*.tar"))


def _rank_keys(urls, rank, world, monkeypatch):
    from ahnpl_plugin.datasets.shard_stream import HardNegativeShardStream

    monkeypatch.setenv("RANK", str(rank))
    monkeypatch.setenv("WORLD_SIZE", str(world))
    stream = HardNegativeShardStream(urls, transforms.Compose([transforms.Resize((8, 8)), transforms.ToTensor()]),
                                     negative_types=TYPES, num_samples=20, shuffle_buffer=4, seed=3)
    stream.set_epoch(1)
    loader = DataLoader(stream, batch_size=2, num_workers=2, collate_fn=stream.collater)
    return [key for batch in loader for key in batch["key"]], stream


def test_two_ranks_two_workers_five_shards_disjoint_and_unequal(five_shards, monkeypatch):
    assert len(five_shards) == 5  # 20 samples, 4 per shard: not divisible by 2 ranks x 2 workers
    keys = {}
    for rank in (0, 1):
        keys[rank], stream = _rank_keys(five_shards, rank, 2, monkeypatch)
    assert not set(keys[0]) & set(keys[1]) and len(set(keys[0] + keys[1])) == 20  # all, once
    assert sorted(len(k) for k in keys.values()) == [8, 12]  # 3 shards vs 2
    shards_of = {r: {k.split("/")[0] for k in keys[r]} for r in keys}
    order = [p.rsplit("/", 1)[-1] for p in stream.epoch_shards()]  # same order on every rank
    assert shards_of[0] == set(order[0::2]) and shards_of[1] == set(order[1::2])
    # every rank runs the same number of steps: 20 // (batch 4 x 2 ranks) = 2 (rank 0 leaves 4
    # samples for a later epoch; with batch 2, 5 steps, rank 1's stream of 8 restarts for 2 more)
    assert stream.batches_per_epoch(4, 2) == 2 and stream.batches_per_epoch(2, 2) == 5
