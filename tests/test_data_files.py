"""Data files without LAVIS: Karpathy annotations, negatives JSONL and join, CE-CLIP/AHNPL .npy import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ahnpl_plugin.data.annotations import read_eval_annotations, read_train_annotations
from ahnpl_plugin.data.cli import main as data_main
from ahnpl_plugin.errors import DataError
from ahnpl_plugin.data.images import coco2014_file, scan_images
from ahnpl_plugin.data.negatives_join import (
    canonical_negatives,
    image_number,
    join_negatives,
    read_negatives,
)

REPO = Path(__file__).resolve().parent.parent


def _jsonl(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


# ----------------------------------------------------------------------------- annotations


def test_malformed_annotation_rows_name_file_and_index(tmp_path):
    train = tmp_path / "train.json"
    train.write_text(json.dumps([
        {"image": "a.jpg", "caption": "a dog"},
        {"image": "b.jpg", "caption": "a cat"},
        {"image": "c.jpg"},
    ]))
    with pytest.raises(DataError, match=r"train\.json: row 2: 'caption' must be a non-empty string, got None"):
        read_train_annotations(train)
    val = tmp_path / "val.json"
    val.write_text(json.dumps([{"image": "a.jpg", "caption": ["x", "y"]}, {"image": "b.jpg", "caption": "one string"}]))
    with pytest.raises(DataError, match=r"val\.json: row 1: 'caption' must be a non-empty list"):
        read_eval_annotations(val)
    broken = tmp_path / "broken.json"
    broken.write_text('[{"image": "a.jpg",\n "caption": }]')
    with pytest.raises(DataError, match=r"broken\.json: malformed JSON at line 2, column 13"):
        read_train_annotations(broken)


def test_scan_images_counts_distinct_found_and_missing(tmp_path):
    (tmp_path / "train2014").mkdir()
    (tmp_path / "train2014" / "x.jpg").write_bytes(b"")
    scan = scan_images(tmp_path, ["train2014/x.jpg", "train2014/x.jpg", "train2014/y.jpg", "z.jpg", "y.jpg"])
    assert (scan.found, scan.missing, scan.total) == (1, ["train2014/y.jpg", "z.jpg", "y.jpg"], 4)
    assert coco2014_file(57870, "train2014") == "train2014/COCO_train2014_000000057870.jpg"


# ----------------------------------------------------------------------------- negatives join


def test_image_number_joins_every_spelling_of_a_coco_image():
    assert image_number({"image": "val2014/COCO_val2014_000000391895.jpg"}) == 391895
    assert image_number({"image_id": "coco_391895"}) == 391895
    assert image_number({"image_id": 391895}) == 391895
    assert image_number({"image": "flickr30k-images/1000092795.jpg", "image_id": 0}) == 1000092795
    assert image_number({"caption": "no image"}) is None


def test_canonical_layout_follows_the_field_order_of_a_subset_file():
    # what `python -m ahnpl_plugin.negatives --types noun relation` writes: fields and flags in that order
    record = {"caption": "a dog on a bed", "noun_aug_caption": "a cat on a bed",
              "relation_aug_caption": "a bed on a dog", "valid_caption": [1, 1, 0]}
    out = canonical_negatives(record, "here")
    assert out == {"noun_aug_caption": "a cat on a bed", "relation_aug_caption": "###",
                   "valid_caption": [1, 0, 0, 0, 1, 0]}
    with pytest.raises(DataError, match=r"here: 'valid_caption' has 2 entries for 2 negative field"):
        canonical_negatives({**record, "valid_caption": [1, 1]}, "here")


def test_join_by_image_and_caption_with_each_unmatched_policy(tmp_path):
    negatives = _jsonl(tmp_path / "neg.jsonl", [
        # imported CE-CLIP style: image_id only, caption spelled with other case/spaces
        {"image_id": 57870, "caption": "A  Dog on a bed. ", "relation_aug_caption": "a bed on a dog",
         "valid_caption": [1, 1]},
        {"image": "train2014/COCO_train2014_000000000001.jpg", "caption": "unused", "valid_caption": [1]},
    ])
    rows = [
        {"image": "train2014/COCO_train2014_000000057870.jpg", "caption": "a dog on a bed."},
        {"image": "val2014/COCO_val2014_000000000777.jpg", "caption": "no negatives here"},
    ]
    by_key = read_negatives(negatives)
    with pytest.raises(DataError, match=r"1 of 2 rows of ann\.json have no hard negatives in n\.jsonl .*"
                                        r"python -m ahnpl_plugin\.negatives --input ann\.json --output n\.jsonl"):
        join_negatives(rows, by_key, "error", "ann.json", "n.jsonl")
    dropped = join_negatives(rows, by_key, "drop")
    assert [r["caption"] for r in dropped.records] == ["a dog on a bed."]
    assert dropped.records[0]["relation_aug_caption"] == "a bed on a dog"
    assert dropped.records[0]["valid_caption"] == [1, 1, 0, 0, 0, 0]
    assert dropped.unused == 1
    kept = join_negatives(rows, by_key, "keep")
    assert kept.records[1]["valid_caption"] == [1, 0, 0, 0, 0, 0]
    assert kept.valid_rates(("relation", "noun")) == {"relation": 0.5, "noun": 0.0}


def test_malformed_negatives_line_names_file_and_line(tmp_path):
    path = tmp_path / "neg.jsonl"
    path.write_text('{"image_id": 1, "caption": "x", "valid_caption": [1]}\n\n{"image_id": 2, "caption": \n')
    with pytest.raises(DataError, match=r"neg\.jsonl: line 3, column \d+: malformed JSON"):
        read_negatives(path)
    path.write_text('{"caption": "x", "valid_caption": [1]}\n')
    with pytest.raises(DataError, match=r"neg\.jsonl: line 1: needs 'image' \(a path\) or 'image_id'"):
        read_negatives(path)


# ----------------------------------------------------------------------------- import-npy


def _save_records(path: Path, records: list[dict]) -> Path:
    array = np.empty(len(records), dtype=object)
    array[:] = records
    np.save(path, array, allow_pickle=True)
    return path


CECLIP_RECORD = {
    "image_id": np.int64(57870), "id": np.int64(12), "caption": "A man riding a horse.",
    "relation_aug_caption": "A horse riding a man.",
    "adj_aug_caption": "A <mask> man riding a horse.",  # a failed fill left valid (CE-CLIP quirk)
    "noun_aug_caption": "A man riding a camel.",
    "verb_aug_caption": "a man riding a horse",  # the caption itself (up to case and final period)
    "valid_caption": [1, 1, 1, 1, 1],
}
AHNPL_RECORD = {
    "image_id": 391895, "id": 7, "caption": "Two red cars near a small house",
    "relation_aug_caption": "Two red houses near a small car", "adj_swap_aug_caption": "Two small cars near a red house",
    "adj_aug_caption": "Two blue cars near a small house", "noun_aug_caption": "###",
    "verb_aug_caption": "Two red cars inside a small house", "valid_caption": np.array([1, 1, 1, 1, 0, 1]),
}


def test_import_ceclip_and_ahnpl_npy_folder(tmp_path):
    folder = tmp_path / "published"
    folder.mkdir()
    _save_records(folder / "part_10.npy", [AHNPL_RECORD])
    released = {"image_id": "coco_5", "caption": "a cat under a chair",
                "obj_relation_aug_caption": "a chair under a cat", "adj_relation_aug_caption": "###",
                "adj_aug_caption": "###", "noun_aug_caption": "a dog under a chair", "verb_aug_caption": "a cat on a chair",
                "rel_aug_caption": "unused", "valid_caption": [1, 1, 0, 0, 1, 1, 1]}
    _save_records(folder / "part_2.npy", [CECLIP_RECORD, released])
    out = tmp_path / "neg.jsonl"
    assert data_main(["import-npy", "--allow-pickle", str(folder), str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    # part_2 before part_10 (natural order), records in file order
    assert [r["image_id"] for r in rows] == [57870, 5, 391895]
    ceclip, rel, ahnpl = rows
    assert ceclip == {
        "image": "train2014/COCO_train2014_000000057870.jpg", "image_id": 57870, "id": 12,
        "caption": "A man riding a horse.",
        "relation_aug_caption": "A horse riding a man.", "adj_swap_aug_caption": "###", "adj_aug_caption": "###",
        "noun_aug_caption": "A man riding a camel.", "verb_aug_caption": "###",
        "valid_caption": [1, 1, 0, 0, 1, 0],
    }
    assert rel["image"] == "train2014/COCO_train2014_000000000005.jpg"
    assert rel["relation_aug_caption"] == "a chair under a cat" and rel["valid_caption"] == [1, 1, 0, 0, 1, 1]
    assert ahnpl["valid_caption"] == [1, 1, 1, 1, 0, 1]
    assert ahnpl["adj_swap_aug_caption"] == "Two small cars near a red house" and ahnpl["noun_aug_caption"] == "###"
    # the imported file is a negatives file the datasets read: canonical layout unchanged
    assert read_negatives(out)[(57870, "a man riding a horse.")]["valid_caption"] == [1, 1, 0, 0, 1, 0]


def test_import_auto_split_looks_the_image_up_on_disk(tmp_path):
    root = tmp_path / "images"
    (root / "val2014").mkdir(parents=True)
    (root / "val2014" / "COCO_val2014_000000057870.jpg").write_bytes(b"")
    src = _save_records(tmp_path / "one.npy", [CECLIP_RECORD, {**CECLIP_RECORD, "image_id": 9}])
    out = tmp_path / "out.jsonl"
    assert data_main(["import-npy", "--allow-pickle", "--image-split", "auto", "--image-root", str(root),
                      str(src), str(out)]) == 0
    images = [json.loads(line)["image"] for line in out.read_text().splitlines()]
    assert images == ["val2014/COCO_val2014_000000057870.jpg", "train2014/COCO_train2014_000000000009.jpg"]
    assert data_main(["import-npy", "--allow-pickle", "--image-split", "auto", str(src), str(out)]) == 2


def test_import_refuses_pickles_without_opt_in_and_runs_no_code(tmp_path):
    marker = tmp_path / "code_ran"

    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    src = tmp_path / "evil.npy"
    array = np.empty(1, dtype=object)
    array[0] = Payload()
    np.save(src, array, allow_pickle=True)
    out = tmp_path / "out.jsonl"
    proc = subprocess.run([sys.executable, "-m", "ahnpl_plugin.data", "import-npy", str(src), str(out)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
    assert "pickled Python objects" in proc.stderr and "arbitrary code" in proc.stderr
    assert "--allow-pickle" in proc.stderr
    assert not marker.exists() and not out.exists()
    np.load(src, allow_pickle=True)  # the payload is live: unpickling it does run code
    assert marker.is_dir()


def test_import_names_file_and_record_of_a_bad_record(tmp_path):
    src = _save_records(tmp_path / "bad.npy", [CECLIP_RECORD, {k: v for k, v in CECLIP_RECORD.items() if k != "image_id"}])
    with pytest.raises(DataError, match=r"bad\.npy: record 1: has no 'image_id'"):
        data_main_raise(["import-npy", "--allow-pickle", str(src), str(tmp_path / "o.jsonl")])
    assert not (tmp_path / "o.jsonl").exists()
    odd = _save_records(tmp_path / "odd.npy", [{"image_id": 1, "caption": "x", "foo_caption": "y"}])
    with pytest.raises(DataError, match=r"odd\.npy: record 0: unknown field layout .* ceclip: relation_aug_caption"):
        data_main_raise(["import-npy", "--allow-pickle", str(odd), str(tmp_path / "o.jsonl")])


def data_main_raise(argv):
    """Run a subcommand and let its UserError through (to match on the exception)."""
    from ahnpl_plugin.data.cli import COMMANDS, build_parser

    args = build_parser().parse_args(argv)
    return COMMANDS[args.command](args)


def test_a_negatives_jsonl_serves_as_its_own_train_annotations(tmp_path):
    records = [{"image": "train2014/COCO_train2014_000000000001.jpg", "caption": "a dog on a bed",
                "relation_aug_caption": "a bed on a dog", "valid_caption": [1, 1]},
               {"image": "train2014/COCO_train2014_000000000002.jpg", "caption": "a cat", "valid_caption": [1]}]
    path = _jsonl(tmp_path / "imported.jsonl", records)
    rows = read_train_annotations(path)
    joined = join_negatives(rows, read_negatives(path))
    assert [r["valid_caption"] for r in joined.records] == [[1, 1, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0]]
    assert joined.unmatched == [] and joined.unused == 0
    path.write_text(path.read_text() + '{"image": "x.jpg", "caption": ""}\n')
    with pytest.raises(DataError, match=r"imported\.jsonl: line 3: 'caption' must be a non-empty string"):
        read_train_annotations(path)
