"""The package's one JSON/JSONL reader (ahnpl_plugin.data.jsonio) and one COCO captions parser."""

import gzip
import json

import pytest

from ahnpl_plugin.data.annotations import coco_caption_entries, coco_caption_rows, read_train_annotations
from ahnpl_plugin.data.jsonio import is_jsonl, iter_jsonl, read_json, read_jsonl, read_text
from ahnpl_plugin.errors import BenchmarkFormatError, DataError, NegativesError
from ahnpl_plugin.negatives.records import read_records


def test_malformed_json_names_file_line_and_column(tmp_path):
    path = tmp_path / "ann.json"
    path.write_text('[\n  {"caption": "a"},\n  {"caption": }\n]\n')
    with pytest.raises(DataError, match=r"ann\.json: malformed JSON at line 3, column 15: Expecting value"):
        read_json(path)


def test_jsonl_bad_line_is_named_by_its_number_and_column(tmp_path):
    path = tmp_path / "neg.jsonl"
    path.write_text('{"caption": "a"}\n\n{"caption": "b"}\n{"caption": "c",}\n')
    with pytest.raises(DataError, match=r"neg\.jsonl: line 4, column 17: malformed JSON: Expecting property name"):
        list(iter_jsonl(path))


def test_jsonl_line_numbers_skip_blanks_and_the_negatives_header(tmp_path):
    path = tmp_path / "neg.jsonl"
    path.write_text('{"negatives_header": {"version": "1.0"}}\n{"caption": "a"}\n\n  \n{"caption": "b"}\n')
    assert list(iter_jsonl(path)) == [(2, {"caption": "a"}), (5, {"caption": "b"})]
    assert list(iter_jsonl(path, skip_header=False))[0] == (1, {"negatives_header": {"version": "1.0"}})


def test_jsonl_non_object_refused_unless_asked(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(DataError, match=r"x\.jsonl: line 2: expected a JSON object, got a JSON list"):
        read_jsonl(path)
    assert read_jsonl(path, objects=False) == [{"a": 1}, [1, 2]]


def test_gzip_files_read_as_the_plain_ones(tmp_path):
    rows = [{"image": "a.jpg", "caption": "a dog"}, {"image": "b.jpg", "caption": "a cat"}]
    with gzip.open(tmp_path / "ann.json.gz", "wt", encoding="utf-8") as f:
        json.dump(rows, f)
    with gzip.open(tmp_path / "ann.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows))
    assert read_json(tmp_path / "ann.json.gz") == rows
    assert is_jsonl(tmp_path / "ann.jsonl.gz") and not is_jsonl(tmp_path / "ann.json.gz")
    assert read_jsonl(tmp_path / "ann.jsonl.gz") == rows
    assert read_train_annotations(tmp_path / "ann.jsonl.gz") == rows  # the annotation reader follows
    (tmp_path / "bad.json.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match=r"bad\.json\.gz: cannot be read \(BadGzipFile"):
        read_json(tmp_path / "bad.json.gz")


def test_a_utf8_byte_order_mark_is_ignored(tmp_path):
    (tmp_path / "bom.json").write_bytes(b'\xef\xbb\xbf{"caption": "caf\xc3\xa9"}')
    (tmp_path / "bom.jsonl").write_bytes(b'\xef\xbb\xbf{"caption": "a"}\n{"caption": "b"}\n')
    assert read_json(tmp_path / "bom.json") == {"caption": "café"}
    assert read_jsonl(tmp_path / "bom.jsonl") == [{"caption": "a"}, {"caption": "b"}]


def test_missing_file_non_utf8_and_the_callers_error_class(tmp_path):
    with pytest.raises(DataError, match=r"nothere\.json: no such file"):
        read_json(tmp_path / "nothere.json")
    (tmp_path / "latin1.json").write_bytes(b'["caf\xe9"]')
    with pytest.raises(NegativesError, match=r"latin1\.json: not UTF-8 text \(bad byte at offset 5\)"):
        read_text(tmp_path / "latin1.json", NegativesError)
    (tmp_path / "b.json").write_text("{")
    with pytest.raises(BenchmarkFormatError, match=r"b\.json: malformed JSON at line 1, column 2"):
        read_json(tmp_path / "b.json", BenchmarkFormatError)
    (tmp_path / "l.jsonl").write_bytes(b'{"a": 1}\n{"b": "\xff"}\n')
    with pytest.raises(DataError, match=r"l\.jsonl: line 2: not UTF-8 text \(bad byte at column 8\)"):
        read_jsonl(tmp_path / "l.jsonl")


# COCO's annotations/captions_train2014.json as cocodataset.org distributes it (first entries; the
# real file also has info/licenses and per-image coco_url, height, width, date_captured)
COCO_CAPTIONS = {
    "info": {"description": "COCO 2014 Dataset"},
    "images": [{"license": 5, "file_name": "COCO_train2014_000000057870.jpg", "height": 480, "width": 640,
                "id": 57870},
               {"license": 5, "file_name": "COCO_train2014_000000384029.jpg", "height": 429, "width": 640,
                "id": 384029}],
    "licenses": [{"id": 5, "name": "Attribution-ShareAlike License"}],
    "annotations": [{"image_id": 57870, "id": 787980, "caption": "A restaurant has modern wooden tables and chairs."},
                    {"image_id": 384029, "id": 814056, "caption": "A man preparing desserts in a kitchen."}],
}


def test_one_coco_captions_parser_for_training_rows_and_the_negatives_generator(tmp_path):
    rows = coco_caption_rows(COCO_CAPTIONS, "captions_train2014.json")
    assert rows == [
        {"image": "train2014/COCO_train2014_000000057870.jpg",
         "caption": "A restaurant has modern wooden tables and chairs.", "image_id": 57870},
        {"image": "train2014/COCO_train2014_000000384029.jpg",
         "caption": "A man preparing desserts in a kitchen.", "image_id": 384029},
    ]
    path = tmp_path / "captions_train2014.json"
    path.write_text(json.dumps(COCO_CAPTIONS))
    records = read_records(path)  # the generator keeps every field of the entry, image path first
    assert [list(r) for r in records] == [["image", "image_id", "id", "caption"]] * 2
    assert [(r["image"], r["id"]) for r in records] == [("train2014/COCO_train2014_000000057870.jpg", 787980),
                                                        ("train2014/COCO_train2014_000000384029.jpg", 814056)]


def test_coco_captions_strict_and_lenient():
    data = {"images": [{"id": 1, "file_name": "COCO_val2014_000000000001.jpg"}],
            "annotations": [{"image_id": 1, "caption": "a"}, {"image_id": 7, "caption": "b"}]}
    with pytest.raises(DataError, match=r"x\.json: annotations\[1\]: image_id 7 is not an id of the file's 'images'"):
        coco_caption_entries(data, "x.json")
    assert coco_caption_entries(data, "x.json", strict=False) == [
        {"image": "val2014/COCO_val2014_000000000001.jpg", "image_id": 1, "caption": "a"},
        {"image_id": 7, "caption": "b"},
    ]
