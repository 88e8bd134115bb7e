"""ahnpl_coco / ahnpl_flickr30k / ahnpl_wds through LAVIS: configs, bad input, and training runs.

A tiny COCO-shaped folder (generated JPEGs, Karpathy JSONs, template negatives) and the tiny
random-init CLIP (32 px) keep each training run to seconds; subprocess runs (about 10 s of LAVIS
import each) are limited to what must go through ``python -m lavis.train`` / torchrun.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ahnpl_plugin.errors import ConfigError, DataError
from ahnpl_plugin.data.sample_folder import template_negatives
from helpers.files import write_yaml as _write
from helpers.runs import coco_run_config, tiny_run_section
from helpers.runs import load_config as _load
from helpers.runs import metrics as _metrics
from helpers.runs import results as _results

REPO = Path(__file__).resolve().parent.parent
PROJECTS = REPO / "projects" / "ahnpl"


def _coco_config(coco, output_dir: Path, name="ahnpl_coco", **dataset) -> dict:
    return coco_run_config(coco, output_dir, dataset=name, dataset_keys=dataset)


def _build(cfg_path: Path, name="ahnpl_coco"):
    from lavis.common.registry import registry

    cfg = _load(cfg_path)
    return registry.get_builder_class(name)(cfg.datasets_cfg[name]).build_datasets()


# ----------------------------------------------------------------------------- project configs


def test_published_recipe_and_baselines_share_data_and_schedule(monkeypatch):
    monkeypatch.delenv("COCO_DIR", raising=False)
    cfg = _load(PROJECTS / "coco.yaml")
    run, model = cfg.run_cfg, cfg.model_cfg
    assert (model.model_type, model.pretrained, model.loss.mode) == ("ViT-B-32", "openai", "ahnpl")
    assert (run.batch_size_train, float(run.init_lr), run.weight_decay, run.beta1, run.beta2, float(run.eps)) == \
        (128, 2e-5, 0.1, 0.9, 0.98, 1e-6)
    assert (run.lr_sched, run.warmup_steps, run.max_epoch, run.amp, run.seed, run.task) == \
        ("cosine", 50, 10, True, 42, "retrieval")
    data = cfg.datasets_cfg.ahnpl_coco
    assert data.build_info.images.storage == "data/coco/images"  # relative: from the working directory
    assert data.vis_processor.train.image_size == 224 and list(data.negative_types) == list(model.loss.negative_types)
    # backbone swap: one line, and the data's image size follows it
    swapped = _load(PROJECTS / "coco.yaml", "model.model_type=ViT-L-14-336")
    assert swapped.datasets_cfg.ahnpl_coco.vis_processor.train.image_size == 336
    losses = {}
    for name in ("coco_reference", "coco_itc_text_hn", "coco_ceclip", "coco_clip_ft"):
        other = _load(PROJECTS / f"{name}.yaml")
        for key, value in run.items():
            if key not in ("output_dir", "job_name"):
                assert other.run_cfg[key] == value, (name, key)
        assert other.datasets_cfg.ahnpl_coco.build_info == data.build_info
        losses[name] = other.model_cfg.loss
    assert losses["coco_reference"].mode == "reference"
    assert (losses["coco_itc_text_hn"].use_hn, losses["coco_itc_text_hn"].use_dm) == (False, False)
    assert (losses["coco_ceclip"].hn_anchor, losses["coco_ceclip"].lambda_hn) == ("cross", 0.3)
    clip_ft = _load(PROJECTS / "coco_clip_ft.yaml")
    assert list(clip_ft.datasets_cfg.ahnpl_coco.negative_types) == []
    wds_cfg = _load(PROJECTS / "cc3m_wds.yaml")
    assert wds_cfg.datasets_cfg.ahnpl_wds.build_info.shards == "data/cc3m/shards/cc3m-{000000..000319}.tar"
    assert wds_cfg.datasets_cfg.ahnpl_coco.build_info.annotations.train is None


def test_missing_paths_fail_before_the_model_naming_key_path_and_fix(coco, tmp_path, monkeypatch):
    from ahnpl_plugin.datasets.preflight import check_dataset_paths

    monkeypatch.chdir(tmp_path)
    cfg = _coco_config(coco, tmp_path / "o", negatives="missing/neg.jsonl")
    with pytest.raises(ConfigError) as err:
        check_dataset_paths(_load(_write(cfg, tmp_path / "c.yaml")))
    train_json = coco[0].annotations["train"]
    assert str(err.value) == (
        f"datasets.ahnpl_coco.negatives: file not found: {tmp_path / 'missing/neg.jsonl'}. Make it with: "
        f"python -m ahnpl_plugin.negatives --input {train_json} --output {tmp_path / 'missing/neg.jsonl'} --workers 8 "
        "(or set datasets.ahnpl_coco.generate_negatives: true to make it at startup)"
    )
    cfg["datasets"]["ahnpl_coco"]["build_info"]["annotations"]["val"]["storage"] = "nope/val.json"
    with pytest.raises(ConfigError, match=r"^datasets\.ahnpl_coco\.build_info\.annotations\.val\.storage: file not "
                                          rf"found: {tmp_path}/nope/val\.json\. Put LAVIS's Karpathy val"):
        check_dataset_paths(_load(_write(cfg, tmp_path / "c.yaml")))
    cfg["datasets"]["ahnpl_coco"]["build_info"]["annotations"]["val"] = {"url": "https://x/val.json"}
    with pytest.raises(ConfigError, match=r"annotations\.val\.url: ahnpl_coco reads local files only"):
        check_dataset_paths(_load(_write(cfg, tmp_path / "c.yaml")))
    # plain CLIP fine-tuning needs no negatives file
    cfg = _coco_config(coco, tmp_path / "o", negatives="missing/neg.jsonl", negative_types=[])
    check_dataset_paths(_load(_write(cfg, tmp_path / "c.yaml")))


@pytest.mark.slow  # subprocess lavis.train
def test_coco_yaml_without_data_or_weights_exits_fast_with_one_line(tmp_path):
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = {**os.environ, "HOME": str(home)}  # no cached weights, whatever this machine has
    env.pop("COCO_DIR", None)
    # how long this takes: perf/fail_fast.py (coco-no-data)
    proc = subprocess.run([sys.executable, "-m", "lavis.train", "--cfg-path", str(PROJECTS / "coco.yaml")],
                          capture_output=True, text=True, cwd=work, env=env, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1
    # the first missing thing: the data (once the entry point runs the path check before the
    # model) or the OpenAI weights (model first): named with its path and the fix either way
    data_first = f"datasets.ahnpl_coco.build_info.annotations.train.storage: file not found: {work}/data/coco"
    weights_first = f"model.pretrained: 'openai' needs OpenAI's ViT-B-32 weights at {home}/.cache/clip/ViT-B-32.pt"
    assert errors[0].startswith(f"error: {data_first}") or errors[0].startswith(f"error: {weights_first}"), errors[0]
    assert list(work.iterdir()) == []  # nothing written (no output/, no data/)


# ----------------------------------------------------------------------------- bad data


def test_missing_images_fail_with_count_unless_skipped(coco, tmp_path):
    folder, negatives = coco
    import shutil

    images = tmp_path / "images"
    shutil.copytree(folder.images, images)
    gone = [folder.train_rows[0]["image"], folder.train_rows[4]["image"]]
    for name in gone:
        (images / name).unlink()
    cfg = _coco_config(coco, tmp_path / "o")
    cfg["datasets"]["ahnpl_coco"]["build_info"]["images"]["storage"] = str(images)
    with pytest.raises(DataError, match=rf"^2 of 8 train images are missing under {images} \(e\.g\. {gone[0]}, {gone[1]}\); "
                                        r".*skip_missing: true"):
        _build(_write(cfg, tmp_path / "c.yaml"))
    cfg["datasets"]["ahnpl_coco"]["skip_missing"] = True
    datasets = _build(_write(cfg, tmp_path / "c.yaml"))
    assert len(datasets["train"]) == 16 - 2 * 2  # two images x two captions left out
    assert {r["image"] for r in datasets["train"].records}.isdisjoint(gone)
    assert len(datasets["val"]) == 3 and len(datasets["val"].text) == 15


def test_startup_negatives_follow_rules_and_swap_words_keys(coco, tmp_path):
    """negatives_rules / negatives_swap_words reach the generator and the file's header; swap words
    with the paper's v1 rules are refused before anything is written."""
    negatives = tmp_path / "made" / "negatives.jsonl"
    cfg = _coco_config(coco, tmp_path / "o", negatives=str(negatives), generate_negatives=True,
                       negatives_rules="v2", negatives_swap_words="any", negative_types=["relation"])
    _build(_write(cfg, tmp_path / "c.yaml"))
    header, *made = [json.loads(line) for line in negatives.read_text().splitlines()]
    assert (header["negatives_header"]["rules"], header["negatives_header"]["swap_words"]) == ("v2", "any")
    assert len(made) == 16
    negatives.unlink()
    cfg["datasets"]["ahnpl_coco"]["negatives_swap_words"] = None  # the v2 default
    _build(_write(cfg, tmp_path / "c.yaml"))
    assert json.loads(negatives.read_text().splitlines()[0])["negatives_header"]["swap_words"] == "known"
    negatives.unlink()
    cfg["datasets"]["ahnpl_coco"].update(negatives_rules="v1", negatives_swap_words="known")
    with pytest.raises(ValueError, match="needs the v2 rules"):
        _build(_write(cfg, tmp_path / "c.yaml"))
    assert not negatives.exists()


def test_corrupt_jpeg_is_replaced_by_another_sample_and_counted(coco, tmp_path, caplog):
    folder, _ = coco
    import shutil

    images = tmp_path / "images"
    shutil.copytree(folder.images, images)
    bad = folder.train_rows[2]["image"]
    (images / bad).write_bytes((folder.images / bad).read_bytes()[:150])  # truncated JPEG
    cfg = _coco_config(coco, tmp_path / "o")
    cfg["datasets"]["ahnpl_coco"]["build_info"]["images"]["storage"] = str(images)
    train = _build(_write(cfg, tmp_path / "c.yaml"))["train"]
    index = next(i for i, r in enumerate(train.records) if r["image"] == bad)
    with caplog.at_level(logging.WARNING):
        sample = train[index]
    assert sample["index"] == train.replacement(index, 1) != index
    assert train.records[sample["index"]]["image"] != bad
    assert sample["image"].shape == (3, 32, 32)  # the tiny model's image size, from its preprocess
    assert train.replaced == 1
    assert f"unreadable image {images / bad} (record {index})" in caplog.text and "(1 replaced so far" in caplog.text
    good = train[(index + 2) % len(train)]
    assert good["text_input"] == train.records[(index + 2) % len(train)]["caption"]
    expected = template_negatives(good["text_input"])
    assert good["hard_negatives"][:2] == [expected["relation_aug_caption"], expected["adj_swap_aug_caption"]]
    assert good["hard_negative_mask"] == [True, True, True, True, False]


def test_malformed_annotation_row_names_file_and_index(coco, tmp_path):
    folder, _ = coco
    rows = json.loads(folder.annotations["train"].read_text())
    rows[5]["image"] = 17
    ann = tmp_path / "train.json"
    ann.write_text(json.dumps(rows))
    cfg = _coco_config(coco, tmp_path / "o")
    cfg["datasets"]["ahnpl_coco"]["build_info"]["annotations"]["train"]["storage"] = str(ann)
    with pytest.raises(DataError, match=rf"^{ann}: row 5: 'image' must be a non-empty path string, got 17$"):
        _build(_write(cfg, tmp_path / "c.yaml"))


# ----------------------------------------------------------------------------- check command


def test_check_command_reports_counts_rates_and_fixes(coco, tmp_path, capsys):
    from ahnpl_plugin.data.cli import main

    folder, negatives = coco
    partial = tmp_path / "neg.jsonl"
    partial.write_text("".join(negatives.read_text().splitlines(keepends=True)[:12]))  # 4 captions lack negatives
    cfg = _coco_config(coco, tmp_path / "o", negatives=str(partial))
    val_rows = json.loads(folder.annotations["val"].read_text()) + [{"image": "val2014/gone.jpg", "caption": ["x"]}]
    (tmp_path / "val.json").write_text(json.dumps(val_rows))
    cfg["datasets"]["ahnpl_coco"]["build_info"]["annotations"]["val"]["storage"] = str(tmp_path / "val.json")
    assert main(["check", "--cfg-path", str(_write(cfg, tmp_path / "c.yaml"))]) == 1
    out = capsys.readouterr().out
    assert "train: 16 captions in" in out and "val: 4 images in" in out
    assert f"train images under {folder.images}: 8 found, 0 missing" in out
    assert f"val images under {folder.images}: 3 found, 1 missing" in out
    assert f"negatives {partial}: 12 of 16 train captions matched, 0 negatives records unused" in out
    assert "valid rate per type: relation 75.0%, adj_swap 75.0%, adj 75.0%, noun 75.0%, verb 0.0%" in out
    assert "PROBLEM: 1 val image(s) missing, e.g. val2014/gone.jpg: add the files, or set datasets.ahnpl_coco.skip_missing" in out
    assert "PROBLEM: 4 train captions (25.0%) have no negatives" in out
    assert out.rstrip().splitlines()[-1].startswith("2 problem(s); first: ")
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- training runs


def _published_npy_folder(rows: list[dict], folder: Path) -> Path:
    """The train captions' template negatives as the published files would hold them: two pickled
    shards, the first in CE-CLIP's 4-negative layout, the second in AHNPL's 5-negative layout."""
    import numpy as np

    folder.mkdir()
    records = []
    for k, row in enumerate(rows):
        negatives = template_negatives(row["caption"])
        record = {"image_id": int(row["image_id"].split("_")[1]), "id": k, "caption": row["caption"], **negatives}
        if k < len(rows) // 2:  # CE-CLIP: no adj_swap, valid_caption [1, relation, adj, noun, verb]
            del record["adj_swap_aug_caption"]
            record["valid_caption"] = [1, 1, 1, 1, 0]
        records.append(record)
    for name, part in (("part_0.npy", records[: len(rows) // 2]), ("part_1.npy", records[len(rows) // 2:])):
        array = np.empty(len(part), dtype=object)
        array[:] = part
        np.save(folder / name, array, allow_pickle=True)
    return folder


def _train_subprocess(cfg: dict, tmp_path: Path) -> tuple[subprocess.CompletedProcess, Path]:
    path = _write(cfg, tmp_path / "cfg.yaml")
    proc = subprocess.run([sys.executable, "-m", "lavis.train", "--cfg-path", str(path)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = list(Path(cfg["run"]["output_dir"]).iterdir())
    return proc, run_dir


@pytest.mark.slow  # a training run
def test_coco_trains_one_epoch_on_imported_published_negatives(coco, tmp_path):
    import shutil

    from ahnpl_plugin.data.cli import main

    folder, _ = coco
    images = tmp_path / "images"
    shutil.copytree(folder.images, images)
    negatives = tmp_path / "imported.jsonl"
    # image ids only in the published files; the restval image lives in val2014: looked up on disk
    assert main(["import-npy", "--allow-pickle", "--image-split", "auto", "--image-root", str(images),
                 str(_published_npy_folder(folder.train_rows, tmp_path / "published")), str(negatives)]) == 0
    bad = folder.train_rows[6]["image"]
    (images / bad).write_bytes(b"\xff\xd8 corrupt")  # a JPEG header, then nothing decodable
    cfg = _coco_config(coco, tmp_path / "out", negatives=str(negatives))
    cfg["datasets"]["ahnpl_coco"]["build_info"]["images"]["storage"] = str(images)
    proc, run_dir = _train_subprocess(cfg, tmp_path)
    rows = _metrics(run_dir)
    assert [r["step"] for r in rows] == [1, 2, 3, 4]  # 16 captions / batch 4
    assert all(r["theta/verb"] == 0.0 for r in rows)  # verb negatives are all invalid in this data
    test = _results(run_dir)["test"]
    # txt R@1 counts images, img R@1 captions; 3 test images: every caption's image is in its top 5,
    # and 5 captions per image among 15: any 10 of them hold one of an image's five
    test_rows = json.loads(folder.annotations["test"].read_text())
    n_captions = sum(len(r["caption"]) for r in test_rows)
    assert (len(test_rows), n_captions) == (3, 15)
    assert round(test["txt_r1"] * 3 / 100, 9).is_integer() and round(test["img_r1"] * 15 / 100, 9).is_integer()
    assert test["img_r5"] == test["img_r10"] == test["txt_r10"] == 100.0
    # every caption joined (the restval one too); CE-CLIP's half has no adj_swap negatives
    assert ("ahnpl_coco train: 16 captions, negatives from" in proc.stderr
            and "(0 records unused); valid rate: relation 100.0%, adj_swap 50.0%, adj 100.0%, noun 100.0%, "
                "verb 0.0%" in proc.stderr)
    # the corrupt image's two captions were replaced by other samples, each counted, and training went on
    assert proc.stderr.count(f"unreadable image {images / bad}") == 2 and "(2 replaced so far" in proc.stderr


@pytest.mark.slow  # a training run
def test_flickr30k_trains_one_epoch_with_negatives_generated_at_startup(coco, tmp_path):
    negatives = tmp_path / "made" / "flickr_negatives.jsonl"
    cfg = _coco_config(coco, tmp_path / "out", name="ahnpl_flickr30k", negatives=str(negatives),
                       generate_negatives=True, negative_types=["relation", "adj_swap"])
    cfg["model"]["loss"] = {"negative_types": ["relation", "adj_swap"]}
    cfg["run"]["valid_splits"] = []
    proc, run_dir = _train_subprocess(cfg, tmp_path)
    header, *made = [json.loads(line) for line in negatives.read_text().splitlines()]
    assert header["negatives_header"]["rules"] == "v1"  # negatives_rules default: generator 1.0
    assert [r["caption"] for r in made] == [r["caption"] for r in coco[0].train_rows]
    assert len(made[0]["valid_caption"]) == 6  # all five AHNPL types, so the file serves any later subset
    # "a <colour> <noun> <relation> a <colour> <noun>": both swaps exist for every caption
    assert all(r["valid_caption"][1:3] == [1, 1] for r in made)
    assert made[0]["relation_aug_caption"] != made[0]["caption"]
    assert len(_metrics(run_dir)) == 4
    assert "txt_r1" in _results(run_dir)["test"]
    assert "ahnpl_flickr30k train: 16 captions" in proc.stderr


@pytest.mark.slow  # torchrun, 2 processes
def test_torchrun_two_ranks_stream_disjoint_shards(coco, tmp_path):
    from ahnpl_plugin.data.cli import main
    from ahnpl_plugin.datasets.sample_keys import read_sample_keys

    folder, negatives = coco
    shards = tmp_path / "shards"
    assert main(["write-shards", "--annotations", str(folder.annotations["train"]), "--negatives", str(negatives),
                 "--images", str(folder.images), "--output", str(shards), "--samples-per-shard", "4",
                 "--no-progress"]) == 0
    cfg = {"model": {"arch": "ahnpl_clip", "model_type": "tiny", "pretrained": ""},
           "datasets": {"ahnpl_wds": {"build_info": {"shards": str(shards / "shard-{000000..000003}.tar")},
                                      "shuffle_buffer": 4, "log_sample_keys": True}},
           "run": tiny_run_section(tmp_path / "out", max_epoch=2, num_workers=2, valid_splits=[], test_splits=[])}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "lavis.train", "--cfg-path", str(_write(cfg, tmp_path / "c.yaml"))],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = list((tmp_path / "out").iterdir())
    # 16 samples, 2 ranks x batch 4 -> 2 steps per epoch
    assert [r["step"] for r in _metrics(run_dir)] == [1, 2, 3, 4]
    logs = read_sample_keys(run_dir / "sample_keys")
    assert sorted(logs) == ["rank0-worker0", "rank0-worker1", "rank1-worker0", "rank1-worker1"]
    everything = {f"shard-{i // 4:06d}.tar" for i in range(16)}
    for epoch in (0, 1):
        by_rank = {r: [k for name, rows in logs.items() if name.startswith(f"rank{r}") for e, k in rows if e == epoch]
                   for r in (0, 1)}
        assert len(by_rank[0]) == len(by_rank[1]) == 8
        assert not set(by_rank[0]) & set(by_rank[1])  # the ranks' samples are disjoint
        seen = by_rank[0] + by_rank[1]
        assert len(set(seen)) == 16 == len(seen)  # and together cover the set, once each
        assert {k.split("/")[0] for k in seen} == everything
