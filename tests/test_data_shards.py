"""webdataset shards: write-shards output, and the stream's split, epochs, corrupt images, negatives."""

from __future__ import annotations

import json
import logging
import tarfile
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader
from torchvision import transforms

from ahnpl_plugin.contract import AHNPL_TYPES
from ahnpl_plugin.data.cli import main as data_main
from ahnpl_plugin.errors import DataError
from ahnpl_plugin.data.sample_folder import make_coco_folder, template_negatives, write_template_negatives
from ahnpl_plugin.data.shards import expand_shard_urls, shard_sizes
from ahnpl_plugin.datasets.shard_stream import HardNegativeShardStream

TYPES = AHNPL_TYPES  # the contract's five, in its order
TO_TENSOR = transforms.Compose([transforms.Resize((16, 16)), transforms.ToTensor()])


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """16 samples (8 images x 2 captions) with template negatives, 4 per shard."""
    root = tmp_path_factory.mktemp("shards")
    folder = make_coco_folder(root / "coco", n_train=8, n_val=1, n_test=1)
    negatives = write_template_negatives(folder.train_rows, root / "neg.jsonl")
    out = root / "shards"
    assert data_main(["write-shards", "--annotations", str(folder.annotations["train"]), "--negatives", str(negatives),
                      "--images", str(folder.images), "--output", str(out), "--samples-per-shard", "4",
                      "--no-progress"]) == 0
    return folder, out


def _members(path: Path) -> list[str]:
    with tarfile.open(path) as tar:
        return tar.getnames()


def _stream(urls, **kwargs):
    kwargs.setdefault("negative_types", TYPES)
    kwargs.setdefault("num_samples", 16)
    kwargs.setdefault("shuffle_buffer", 4)
    return HardNegativeShardStream(urls, TO_TENSOR, **kwargs)


def _keys(stream, workers=0, batch_size=4):
    loader = DataLoader(stream, batch_size=batch_size, num_workers=workers, collate_fn=stream.collater)
    keys = []
    for batch in loader:
        assert batch["image"].shape[1:] == (3, 16, 16)
        assert batch["hard_negative_mask"].shape == (len(batch["key"]), len(stream.negative_types))
        keys += batch["key"]
    return keys


def test_write_shards_layout_sizes_and_sample_contents(shards):
    folder, out = shards
    names = sorted(p.name for p in out.glob("*.tar"))
    assert names == [f"shard-{i:06d}.tar" for i in range(4)]
    assert json.loads((out / "sizes.json").read_text()) == dict.fromkeys(names, 4)
    keys = []
    for name in names:
        members = _members(out / name)
        assert len(members) == 8 and {m.rsplit(".", 1)[1] for m in members} == {"jpg", "json"}
        keys += sorted({m.rsplit(".", 1)[0] for m in members})
    assert sorted(keys) == [f"{i:09d}" for i in range(16)]  # key = row index of the annotation file
    with tarfile.open(out / names[0]) as tar:
        first = tar.getnames()[1]
        meta = json.load(tar.extractfile(first))
        image = tar.extractfile(first.replace(".json", ".jpg")).read()
    row = folder.train_rows[int(first.split(".")[0])]
    assert meta == {"caption": row["caption"], "image": row["image"], **template_negatives(row["caption"])}
    assert image == (folder.images / row["image"]).read_bytes()  # JPEG bytes copied, not re-encoded
    urls = expand_shard_urls(str(out / "shard-{000000..000003}.tar"))
    assert shard_sizes(urls) == dict(zip(urls, [4] * 4))


def test_write_shards_refuses_missing_images_unless_skipped(shards, tmp_path):
    folder, _ = shards
    rows = folder.train_rows + [{"caption": "a red dog next to a blue car", "image": "train2014/gone.jpg"}]
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps(rows))
    argv = ["write-shards", "--annotations", str(ann), "--images", str(folder.images), "--no-progress",
            "--output", str(tmp_path / "s")]
    assert data_main(argv) == 2
    assert not list((tmp_path / "s").glob("*.tar"))
    assert data_main(argv + ["--skip-missing"]) == 0
    assert sum(json.loads((tmp_path / "s" / "sizes.json").read_text()).values()) == 16


@pytest.mark.slow  # two DataLoader worker processes
def test_two_workers_split_the_shards_and_epochs_reshuffle(shards):
    _, out = shards
    urls = expand_shard_urls(str(out / "*.tar"))
    assert len(urls) == 4
    stream = _stream(urls)
    epoch0 = _keys(stream, workers=2)
    assert len(epoch0) == 16 and len(set(epoch0)) == 16  # every sample exactly once
    stream.set_epoch(1)
    epoch1 = _keys(stream, workers=2)
    assert sorted(epoch1) == sorted(epoch0) and epoch1 != epoch0
    stream.set_epoch(0)
    assert _keys(stream, workers=2) == epoch0  # an epoch's order depends only on (seed, epoch)
    assert stream.batches_per_epoch(4, 2) == 2 and stream.batches_per_epoch(3, 1) == 5


def test_stream_sample_carries_stored_negatives(shards):
    folder, out = shards
    stream = _stream(expand_shard_urls(str(out / "shard-000000.tar")), negative_types=("relation", "verb"),
                     shuffle_buffer=0)
    sample = next(iter(stream))
    row = folder.train_rows[int(sample["key"].split("/")[1])]
    assert sample["text_input"] == row["caption"]
    assert sample["hard_negatives"] == [template_negatives(row["caption"])["relation_aug_caption"], "###"]
    assert sample["hard_negative_mask"] == [True, False]


def _write_tar(path: Path, samples: list[dict]) -> Path:
    import webdataset as wds

    with wds.TarWriter(str(path)) as sink:
        for sample in samples:
            sink.write(sample)
    return path


def test_corrupt_jpeg_in_a_shard_is_skipped_and_counted(shards, tmp_path, caplog):
    folder, out = shards
    good = (folder.images / folder.train_rows[0]["image"]).read_bytes()
    meta = json.dumps({"caption": "a red dog next to a blue car", **template_negatives("a red dog next to a blue car")})
    samples = [{"__key__": f"{i:03d}", "jpg": good, "json": meta.encode()} for i in range(4)]
    samples[1]["jpg"] = good[:200]  # truncated JPEG
    samples[2]["jpg"] = b"not an image at all"
    shard = _write_tar(tmp_path / "bad-000000.tar", samples)
    stream = _stream([str(shard)], num_samples=4, shuffle_buffer=0)
    with caplog.at_level(logging.WARNING):
        keys = [s["key"] for s in stream]
    assert keys == ["bad-000000.tar/000", "bad-000000.tar/003"]
    assert stream.unreadable == 2
    assert "unreadable image in bad-000000.tar/002" in caplog.text and "(2 skipped so far" in caplog.text


def test_img2dataset_style_shards_need_generated_negatives(shards, tmp_path):
    folder, _ = shards
    good = (folder.images / folder.train_rows[0]["image"]).read_bytes()
    shard = _write_tar(tmp_path / "cc-000000.tar", [
        {"__key__": "000", "jpg": good, "txt": b"a red dog next to a blue car", "json": b'{"url": "http://x"}'},
    ])
    with pytest.raises(DataError, match=r"cc-000000\.tar/000 has no hard negatives in its json; write the shards "
                                        r"with --negatives .* generate_negatives: true"):
        next(iter(_stream([str(shard)], shuffle_buffer=0)))
    generated = next(iter(_stream([str(shard)], shuffle_buffer=0, negative_types=("relation", "adj_swap"),
                                  generate={"seed": 0})))
    assert generated["text_input"] == "a red dog next to a blue car"
    assert generated["hard_negatives"] == ["a blue car next to a red dog", "a blue dog next to a red car"]
    assert generated["hard_negative_mask"] == [True, True]
    plain = next(iter(_stream([str(shard)], shuffle_buffer=0, negative_types=())))
    assert plain["hard_negatives"] == [] and isinstance(plain["image"], torch.Tensor)


def test_expand_shard_urls_braces_globs_and_remote(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for i in range(3):
        (tmp_path / f"s-{i}.tar").write_bytes(b"")
    assert expand_shard_urls("s-{0..1}.tar") == [str(tmp_path / "s-0.tar"), str(tmp_path / "s-1.tar")]
    assert expand_shard_urls(["s-*.tar"]) == [str(tmp_path / f"s-{i}.tar") for i in range(3)]
    assert expand_shard_urls("pipe:curl -s https://h/x-{0..1}.tar") == ["pipe:curl -s https://h/x-0.tar",
                                                                         "pipe:curl -s https://h/x-1.tar"]
    assert shard_sizes(expand_shard_urls("s-*.tar")) is None  # no sizes.json
