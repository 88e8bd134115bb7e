"""The shard format, defined once (ahnpl_plugin.data.shard_format) for writer and reader."""

import json

import pytest

from ahnpl_plugin.data import shard_format as fmt
from ahnpl_plugin.errors import DataError


def test_a_written_sample_decodes_to_what_was_written():
    record = {"image": "train2014/COCO_train2014_000000057870.jpg", "caption": "A café table.", "extra": 1}
    sample = fmt.encode_sample(7, b"\xff\xd8jpeg", record)
    assert sorted(sample) == ["__key__", "jpg", "json"] and sample["__key__"] == "000000007"
    assert json.loads(sample["json"]) == {"caption": "A café table.", "image": record["image"]}  # no negatives
    raw = {**sample, "__url__": "s-000000.tar"}
    assert fmt.decode_caption(raw) == ("A café table.", {"caption": "A café table.", "image": record["image"]})
    assert fmt.image_member(raw) == b"\xff\xd8jpeg"


def test_reader_takes_img2dataset_members_and_names_bad_samples():
    assert fmt.decode_caption({"txt": b"a dog", "png": b"x"}) == ("a dog", {})
    assert fmt.image_member({"webp": b"w", "png": b"p"}) == b"p"  # jpg, jpeg, png, webp in that order
    with pytest.raises(DataError, match=r"s\.tar: sample 3: malformed json member"):
        fmt.decode_caption({"__url__": "s.tar", "__key__": "3", "json": b"{"})
    with pytest.raises(DataError, match=r"s\.tar: sample 3 has no caption"):
        fmt.decode_caption({"__url__": "s.tar", "__key__": "3", "json": b"{}"})
    with pytest.raises(DataError, match=r"s\.tar: sample 3 has no image member \(jpg/jpeg/png/webp\); members: txt"):
        fmt.image_member({"__url__": "s.tar", "__key__": "3", "txt": b"a"})
    assert fmt.has_negatives({"valid_caption": "x"}) and not fmt.has_negatives({"caption": "a"})


def test_names_patterns_and_sizes(tmp_path):
    assert fmt.shard_name("cc", 12) == "cc-000012.tar"
    assert fmt.shard_pattern("/d", "cc", 1) == "/d/cc-000000.tar"
    assert fmt.shard_pattern("/d", "cc", 3) == "/d/cc-{000000..000002}.tar"
    assert fmt.shard_pattern("/d", "cc", 0) == ""
    assert fmt.read_sizes(tmp_path) == {}
    fmt.update_sizes(tmp_path, {"a-000000.tar": 5})
    fmt.update_sizes(tmp_path, {"b-000000.tar": 2, "a-000000.tar": 4})
    assert fmt.read_sizes(tmp_path) == {"a-000000.tar": 4, "b-000000.tar": 2}
    (tmp_path / fmt.SIZES_FILE).write_text("{broken")
    assert fmt.read_sizes(tmp_path) == {}  # an unreadable sizes.json: sizes unknown, as before
