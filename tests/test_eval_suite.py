"""The benchmark evaluation suite through LAVIS: builders, the ahnpl_compositional task, reports,
and ``python -m lavis.evaluate`` end to end, on benchmark layouts written into tmp_path.

Planted answers: a SugarCrepe item whose negative equals its caption and a Winoground item whose
two images are the same file are ties, which count as wrong whatever the model; an item whose
image file is missing is left out and counted; distinct images/captions are counted by hand.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.files import write_image
from helpers.files import write_yaml as _write_yaml

REPO = Path(__file__).resolve().parent.parent
TINY = {"arch": "ahnpl_clip", "model_type": "tiny", "pretrained": ""}


# ------------------------------------------------------------------------------------ layouts
def _png(path: Path, colour) -> Path:
    return write_image(path, colour, size=(24, 20))


def write_sugarcrepe(root: Path) -> tuple[Path, Path]:
    """SugarCrepe files + COCO images: 4 evaluable items over 3 images, 1 item with a missing image.

    replace_att: 3 items (one image missing), add_att: 1 item reusing image 0, swap_obj: 1 tie item.
    Distinct evaluable images: 0, 1, 2; distinct captions: red, green, "a red square on grass", same.
    """
    data, coco = root / "sugarcrepe", root / "coco" / "val2017"
    for i, colour in enumerate([(250, 10, 10), (10, 250, 10), (10, 10, 250)]):
        _png(coco / f"{i:012d}.jpg", colour)
    data.mkdir(parents=True, exist_ok=True)
    files = {
        "replace_att": {
            "0": {"filename": "000000000000.jpg", "caption": "a red square", "negative_caption": "a green square"},
            "3": {"filename": "000000000001.jpg", "caption": "a green square", "negative_caption": "a red square"},
            "7": {"filename": "000000000099.jpg", "caption": "a lost photo", "negative_caption": "a found photo"},
        },
        "add_att": {
            "1": {"filename": "000000000000.jpg", "caption": "a red square",
                  "negative_caption": "a red square on grass"},
        },
        "swap_obj": {
            "5": {"filename": "000000000002.jpg", "caption": "same", "negative_caption": "same"},
        },
    }
    for stem, records in files.items():
        (data / f"{stem}.json").write_text(json.dumps(records))
    return data, coco


SUGARCREPE_FILES = ["replace_att", "add_att", "swap_obj"]


def write_winoground(root: Path) -> Path:
    """Two Winoground rows: one ordinary, one (tag Relation) with image_0 == image_1."""
    folder = root / "winoground"
    _png(folder / "images" / "ex_0_img_0.png", (30, 30, 30))
    _png(folder / "images" / "ex_0_img_1.png", (220, 30, 30))
    rows = [
        {"id": 0, "image_0": "ex_0_img_0", "image_1": "ex_0_img_1", "caption_0": "a dog bites a man",
         "caption_1": "a man bites a dog", "tag": "Object"},
        {"id": 1, "image_0": "ex_0_img_0", "image_1": "ex_0_img_0", "caption_0": "left of it",
         "caption_1": "it of left", "tag": "Relation"},
    ]
    (folder / "examples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def _run_cfg(output_dir: Path, **overrides) -> dict:
    run = {"task": "ahnpl_compositional", "runner": "ahnpl_runner", "device": "cpu", "batch_size_eval": 2,
           "num_workers": 0, "seed": 3, "output_dir": str(output_dir), "test_splits": ["test"],
           "progress": False}
    run.update(overrides)
    return run


def _evaluate_subprocess(cfg_path: Path, cwd: Path, *options, env=None):
    argv = [sys.executable, "-m", "lavis.evaluate", "--cfg-path", str(cfg_path)]
    if options:
        argv += ["--options", *options]
    return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=300,
                          env={**os.environ, **(env or {})})


# --------------------------------------------------------------------------- in-process pieces
@pytest.fixture(scope="module")
def tiny_model(lavis_ready):
    from lavis.common.registry import registry
    from omegaconf import OmegaConf

    torch.manual_seed(0)
    return registry.get_model_class("ahnpl_clip").from_config(OmegaConf.create(TINY)).eval()


def _build(name: str, cfg: dict):
    from lavis.common.registry import registry
    from omegaconf import OmegaConf

    cls = registry.get_builder_class(name)
    full = OmegaConf.merge(OmegaConf.load(cls.DATASET_CONFIG_DICT["default"]).datasets[name],
                           {"vis_processor": {"eval": {"name": "clip_image_eval", "image_size": 32}}}, cfg)
    return cls(full).build_datasets()


def _sugarcrepe_dataset(tmp_path, **extra):
    data, coco = write_sugarcrepe(tmp_path)
    cfg = {"root": str(data), "image_root": str(coco), "options": {"files": SUGARCREPE_FILES}, **extra}
    return _build("ahnpl_sugarcrepe", cfg)["test"]


class _Counting:
    """Records how many images / captions go through a model's encoders (then calls them)."""

    def __init__(self, model, monkeypatch):
        self.images, self.texts = 0, []
        encode_image, encode_text = model.encode_image, model.encode_text

        def counted_image(images):
            self.images += images.shape[0]
            return encode_image(images)

        def counted_text(texts):
            self.texts += list(texts)
            return encode_text(texts)

        monkeypatch.setattr(model, "encode_image", counted_image)
        monkeypatch.setattr(model, "encode_text", counted_text)


def test_builder_gives_benchmark_items_and_counts_missing_images(tmp_path, lavis_ready):
    from ahnpl_plugin.datasets.benchmark_builders import BenchmarkChoiceDataset

    dataset = _sugarcrepe_dataset(tmp_path)
    assert isinstance(dataset, BenchmarkChoiceDataset) and dataset.benchmark_name == "sugarcrepe"
    bench = dataset.benchmark
    assert len(bench.all_items) == 5 and len(bench.items) == 4 and len(bench.skipped_items) == 1
    assert bench.missing_images == [str(tmp_path / "coco" / "val2017" / "000000000099.jpg")]
    assert len(dataset) == 3  # distinct evaluable images: 0, 1, 2
    assert dataset.captions == ["a red square", "a green square", "a red square on grass", "same"]
    assert [it["category"] for it in dataset.items] == ["replace_att", "replace_att", "add_att", "swap_obj"]
    assert dataset.item_captions == [[0, 1], [1, 0], [0, 2], [3, 3]]
    assert dataset.item_images == [[0], [1], [0], [2]]
    sample = dataset[1]
    assert sample["image_index"] == 1 and sample["image"].shape == (3, 32, 32)


def test_item_similarities_use_each_pair_once_so_repeats_tie_exactly():
    from ahnpl_plugin.tasks.choice_features import item_similarities

    torch.manual_seed(1)
    image_feats = torch.nn.functional.normalize(torch.randn(3, 512), dim=-1)
    text_feats = torch.nn.functional.normalize(torch.randn(4, 512), dim=-1)
    item_images = [[0], [1, 1], [2, 0]]
    item_captions = [[3, 3, 1], [0, 2], [1, 1]]
    sims = item_similarities(item_images, item_captions, image_feats, text_feats)
    assert [s.shape for s in sims] == [(1, 3), (2, 2), (2, 2)]
    full = (image_feats @ text_feats.T).numpy()
    for s, ii, cc in zip(sims, item_images, item_captions):
        np.testing.assert_allclose(s, full[np.ix_(ii, cc)], atol=1e-6)
    assert sims[0][0, 0] == sims[0][0, 1]  # same caption twice: an exact tie
    assert np.array_equal(sims[1][0], sims[1][1])  # same image twice
    assert sims[2][0, 0] == sims[2][0, 1] and sims[2][1, 0] == sims[2][1, 1]


def test_task_scores_equal_naive_per_item_scoring_and_encode_each_input_once(
        tmp_path, tiny_model, monkeypatch):
    from ahnpl_plugin.benchmarks import open_image
    from ahnpl_plugin.tasks.compositional import CompositionalTask

    dataset = _sugarcrepe_dataset(tmp_path)
    task = CompositionalTask(progress=False)
    counter = _Counting(tiny_model, monkeypatch)
    scores = task.evaluate_dataset(tiny_model, dataset, batch_size=2)
    assert counter.images == 3 and sorted(counter.texts) == sorted(dataset.captions)

    # naive reference: every item's image and captions encoded on their own
    with torch.no_grad():
        naive = []
        for item in dataset.benchmark.items:
            images = torch.stack([dataset.vis_processor(open_image(ref)) for ref in item.images])
            image_feats, text_feats = tiny_model.encode_image(images), tiny_model.encode_text(item.captions)
            # one dot product per pair: a matrix product may round two identical columns apart
            naive.append(np.array([[float((i * t).sum()) for t in text_feats] for i in image_feats]))
    assert {k: v for k, v in scores.items() if k != "cells"} == dataset.benchmark.score(naive)
    assert scores["cells"]["sugarcrepe/swap_obj"]["value"] == 0.0  # the task adds the cells by protocol
    assert scores["swap_obj"] == 0.0  # the planted tie
    assert scores["counts"]["n_items"] == 4 and scores["counts"]["n_items_skipped_missing_images"] == 1

    # a second evaluation under the same weights encodes nothing new ...
    counter.images, counter.texts = 0, []
    assert task.evaluate_dataset(tiny_model, dataset, batch_size=2) == scores
    assert counter.images == 0 and counter.texts == []
    # ... and any change of the weights empties the cache
    with torch.no_grad():
        tiny_model.clip.logit_scale.add_(0.0)  # in place: bumps the version counter
    task.evaluate_dataset(tiny_model, dataset, batch_size=2)
    assert counter.images == 3 and len(counter.texts) == 4


def test_concat_of_benchmark_datasets_is_scored_per_benchmark(tmp_path, tiny_model):
    """LAVIS's runner_base concatenates same-named splits: each part keeps its own scoring."""
    from torch.utils.data import ConcatDataset, DataLoader

    from ahnpl_plugin.tasks.compositional import CompositionalTask

    sugar = _sugarcrepe_dataset(tmp_path)
    wino = _build("ahnpl_winoground", {"root": str(write_winoground(tmp_path))})["test"]
    task = CompositionalTask(progress=False, model_name="tiny")
    result = task.evaluation(tiny_model, DataLoader(ConcatDataset([sugar, wino]), batch_size=2))
    assert [p["label"] for p in result["parts"]] == ["ahnpl_sugarcrepe", "ahnpl_winoground"]
    assert result["parts"][0]["scores"] == task.evaluate_dataset(tiny_model, sugar)
    metrics = task.after_evaluation(result, split_name="test", epoch="eval")
    wino_metrics = metrics["ahnpl_winoground"]
    assert wino_metrics["by_group"]["Relation/image"] == 0.0  # same image twice: a tie
    assert wino_metrics["agg_metrics"] == wino_metrics["group"]
    assert metrics["agg_metrics"] == pytest.approx(
        (metrics["ahnpl_sugarcrepe"]["average"] + wino_metrics["group"]) / 2)


def test_builder_input_errors_are_user_errors_naming_file_and_key(tmp_path, lavis_ready):
    from ahnpl_plugin.errors import BenchmarkInputError
    from ahnpl_plugin.errors import ConfigError, UserError

    data, coco = write_sugarcrepe(tmp_path)
    base = {"root": str(data), "image_root": str(coco), "options": {"files": SUGARCREPE_FILES}}
    with pytest.raises(BenchmarkInputError, match=r"add_obj\.json not found: expected .*"
                       r"sugarcrepe/add_obj\.json\. Download it from github\.com/RAIVNLab/sugar-crepe"):
        _build("ahnpl_sugarcrepe", {**base, "options": {}})
    with pytest.raises(BenchmarkInputError, match=r"(?s)1 image file\(s\) missing.*strict=True.*000000000099\.jpg"):
        _build("ahnpl_sugarcrepe", {**base, "strict": True})
    (data / "swap_obj.json").write_text(json.dumps({"5": {"filename": "000000000002.jpg", "caption": "x"}}))
    with pytest.raises(BenchmarkInputError, match=r"swap_obj\.json: key '5': missing key 'negative_caption'"):
        _build("ahnpl_sugarcrepe", base)
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['imgs'\] under datasets\.ahnpl_sugarcrepe"):
        _build("ahnpl_sugarcrepe", {**base, "imgs": "x"})
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['pieces'\].*valid: \['files'\]"):
        _build("ahnpl_sugarcrepe", {**base, "options": {"pieces": ["x"]}})
    with pytest.raises(BenchmarkInputError, match=r"none of the 3 items can be evaluated: 3 image file"):
        _build("ahnpl_sugarcrepe", {**base, "options": {"files": ["replace_att"]},
                                    "image_root": str(tmp_path / "elsewhere")})
    assert issubclass(BenchmarkInputError, UserError)


def test_relative_paths_resolve_against_the_working_directory(tmp_path, lavis_ready, monkeypatch):
    from ahnpl_plugin.datasets.benchmark_builders import resolve_image_root

    write_sugarcrepe(tmp_path)
    monkeypatch.chdir(tmp_path)
    dataset = _build("ahnpl_sugarcrepe", {"root": "sugarcrepe", "image_root": "coco/val2017",
                                          "options": {"files": ["add_att"]}})["test"]
    assert dataset.images[0].path == str(tmp_path / "coco" / "val2017" / "000000000000.jpg")
    assert resolve_image_root({"visual7w": "v7w", "VisDial_v1.0": ["a", "/abs/b"]}, "x") == {
        "visual7w": str(tmp_path / "v7w"), "VisDial_v1.0": [str(tmp_path / "a"), "/abs/b"]}


def test_model_names_and_default_processors(lavis_ready):
    from omegaconf import OmegaConf

    from ahnpl_plugin.tasks.compositional import model_display_name, model_eval_processors

    run = OmegaConf.create({})
    assert model_display_name(OmegaConf.create(TINY), run) == "ahnpl_clip tiny (random init)"
    clip = OmegaConf.create({"arch": "clip", "model_type": "ViT-B-32", "pretrained": "openai"})
    assert model_display_name(clip, run) == "clip ViT-B-32 (openai)"
    assert model_display_name(clip, OmegaConf.create({"checkpoint": "/o/run7/checkpoint_best.pth"})) == \
        "clip ViT-B-32 (run7/checkpoint_best.pth)"
    blip = OmegaConf.create({"arch": "blip_retrieval", "model_type": "coco", "load_finetuned": True,
                             "finetuned": "https://x/LAVIS/models/BLIP/blip_coco_retrieval.pth"})
    assert model_display_name(blip, run) == "blip_retrieval coco (blip_coco_retrieval.pth)"
    assert model_eval_processors(OmegaConf.create(TINY)) == {
        "vis_processor": {"name": "clip_image_eval", "image_size": 32}}
    assert model_eval_processors(clip)["vis_processor"] == {"name": "clip_image_eval", "image_size": 224}
    assert model_eval_processors(blip) == {"vis_processor": {"name": "blip_image_eval", "image_size": 384},
                                           "text_processor": {"name": "blip_caption"}}


@pytest.mark.parametrize("name", ["aro", "sugarcrepe", "valse", "vl_checklist", "winoground", "all"])
def test_shipped_eval_configs_fail_on_missing_data_naming_file_and_source(name, tmp_path, lavis_ready,
                                                                          monkeypatch, capsys):
    from ahnpl_plugin.evaluate import main

    monkeypatch.chdir(tmp_path)
    rc = main(["--cfg-path", str(REPO / "projects" / "ahnpl" / f"eval_{name}.yaml"), "--options",
               "run.device=cpu", "model.model_type=tiny", "model.pretrained=", f"run.output_dir={tmp_path}/o"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert rc == 2
    first = {"aro": "visual_genome_relation.json", "all": "visual_genome_relation.json",
             "sugarcrepe": "add_att.json", "valse": "existence.json", "vl_checklist": "corpus",
             "winoground": "examples.jsonl"}[name]
    import yaml

    n_all = len(yaml.safe_load((REPO / "projects" / "ahnpl" / "eval_all.yaml").read_text())["datasets"])
    assert n_all == 17  # 8 + issue 16's nine
    several = {"aro": 4, "all": n_all}.get(name)
    prefix = (f"error: none of the {several} datasets of the config can be evaluated: datasets.ahnpl_"
              if several else "error: datasets.ahnpl_")
    assert err.startswith(prefix) and first in err and str(tmp_path / "data") in err
    assert "Download it from" in err or "github.com" in err


# ---------------------------------------------------------------------------- end to end (CLI)
def _similarity_of_the_runs_model(seed: int, lavis_ready):
    """``sim(image file, caption)``: cosine similarity under the tiny CLIP that a run with
    ``run.seed=seed`` builds (the runner seeds torch with run.seed + rank, then builds the model),
    each image through the eval processor (32 px) on its own: an independent recomputation."""
    from lavis.common.registry import registry
    from lavis.processors.clip_processors import ClipImageEvalProcessor
    from omegaconf import OmegaConf

    from ahnpl_plugin.benchmarks import open_image

    cls = registry.get_model_class("ahnpl_clip")
    torch.manual_seed(seed)
    model = cls.from_config(OmegaConf.merge(OmegaConf.load(cls.default_config_path("tiny")).model, TINY)).eval()
    processor = ClipImageEvalProcessor(image_size=32)

    def sim(image: Path, caption: str) -> float:
        with torch.no_grad():
            image_feat = model.encode_image(processor(open_image(str(image))).unsqueeze(0))[0]
            return float((image_feat * model.encode_text([caption])[0]).sum())

    return sim


@pytest.mark.slow  # subprocess lavis.evaluate
def test_python_m_lavis_evaluate_two_benchmarks_with_a_tiny_model(tmp_path, lavis_ready):
    data, coco = write_sugarcrepe(tmp_path)
    wino = write_winoground(tmp_path)
    cfg = _write_yaml({
        "model": TINY,
        "datasets": {
            "ahnpl_sugarcrepe": {"root": "sugarcrepe", "image_root": "coco/val2017",
                                 "options": {"files": SUGARCREPE_FILES}},
            "ahnpl_winoground": {"root": str(wino)},
        },
        "run": _run_cfg(Path("out")),
    }, tmp_path / "eval.yaml")
    proc = _evaluate_subprocess(cfg, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = list((tmp_path / "out").iterdir())
    results = json.loads((run_dir / "results.json").read_text())["test"]
    sugar, wino_scores = results["ahnpl_sugarcrepe"], results["ahnpl_winoground"]
    assert sugar["model"] == "ahnpl_clip tiny (random init)" and sugar["benchmark"] == "sugarcrepe"
    assert sugar["counts"]["n_items"] == 4
    assert sugar["counts"]["n_items_skipped_missing_images"] == 1 and sugar["counts"]["n_missing_images"] == 1
    assert sugar["counts"]["by_group"] == {"add_att": 1, "replace_att": 2, "swap_obj": 1}
    # the known answer: each item's verdict recomputed from the same random-init weights
    sim = _similarity_of_the_runs_model(3, lavis_ready)  # run.seed of _run_cfg
    img = [coco / f"{i:012d}.jpg" for i in range(2)]
    replace_att = np.mean([sim(img[0], "a red square") > sim(img[0], "a green square"),
                           sim(img[1], "a green square") > sim(img[1], "a red square")])
    add_att = float(sim(img[0], "a red square") > sim(img[0], "a red square on grass"))
    assert sugar["swap_obj"] == 0.0  # the planted tie
    assert sugar["replace_att"] == replace_att and sugar["add_att"] == add_att
    assert sugar["average"] == pytest.approx((2 * replace_att + add_att) / 4)
    w0, w1 = wino / "images" / "ex_0_img_0.png", wino / "images" / "ex_0_img_1.png"
    c0, c1 = "a dog bites a man", "a man bites a dog"
    text = sim(w0, c0) > sim(w0, c1) and sim(w1, c1) > sim(w1, c0)
    image = sim(w0, c0) > sim(w1, c0) and sim(w1, c1) > sim(w0, c1)
    # the second row has image_0 == image_1: a tie, wrong under every score
    assert (wino_scores["text"], wino_scores["image"], wino_scores["group"]) == (text / 2, image / 2, (text and image) / 2)
    assert any("accuracies are over the 4 items evaluated" in n for n in sugar["notes"])
    assert wino_scores["counts"]["n_items"] == 2
    assert wino_scores["by_group"]["Relation/image"] == 0.0 and wino_scores["by_group"]["Relation/group"] == 0.0
    assert results["agg_metrics"] == pytest.approx((sugar["average"] + wino_scores["group"]) / 2)
    # encode once: 3 + 2 distinct images, 4 + 4 distinct captions in the whole run
    assert "features computed so far: 5 images, 8 captions" in proc.stderr

    report = (run_dir / "results.md").read_text()
    assert ("| Model | SC replace-obj | SC replace-att | SC replace-rel | SC swap-obj | SC swap-att | "
            "SC add-obj | SC add-att | Wino text | Wino image | Wino group |") in report
    assert "| CLIP | 90.9 | 80.0 | 69.2 | 61.4 | 64.0 | 77.2 | 68.2 | – | – | – |" in report

    def pct(x):
        return f"{100 * x:.1f}"

    # replace_att lost an item (missing image): its cell says so
    ours = (f"| **ahnpl_clip tiny (random init)** | – | {pct(sugar['replace_att'])} (incomplete: 1 items skipped) "
            "| – | 0.0 | – | – | "
            f"{pct(sugar['add_att'])} | {pct(wino_scores['text'])} | {pct(wino_scores['image'])} | "
            f"{pct(wino_scores['group'])} |")
    assert ours in report
    assert "items evaluated: 4; items skipped (missing images): 1; missing image files: 1." in report
    for split in ("ahnpl_sugarcrepe_test", "ahnpl_winoground_test"):
        assert (run_dir / "result" / f"{split}_epocheval.md").is_file()
        assert json.loads((run_dir / "result" / f"{split}_epocheval.json").read_text())["counts"]


@pytest.mark.slow  # subprocess lavis.evaluate
def test_python_m_lavis_evaluate_missing_file_exits_2_with_one_line(tmp_path):
    cfg = _write_yaml({"model": TINY, "datasets": {"ahnpl_winoground": {"root": "nowhere"}},
                       "run": _run_cfg(Path("out"))}, tmp_path / "eval.yaml")
    proc = _evaluate_subprocess(cfg, tmp_path)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: datasets.ahnpl_winoground: Winoground not found: expected "
                           f"{tmp_path / 'nowhere' / 'examples.jsonl'}")
    assert "Download it from huggingface.co/datasets/facebook/winoground" in last
    assert "Traceback" not in proc.stderr


@pytest.mark.slow  # subprocess lavis.evaluate, ViT-B-32
def test_stock_lavis_clip_through_python_m_lavis_evaluate(tmp_path):
    """LAVIS's own `clip` (ViT-B-32, random weights: none offline) with its 224 px processor."""
    write_sugarcrepe(tmp_path)
    cfg = _write_yaml({
        "model": {"arch": "clip", "model_type": "ViT-B-32", "pretrained": ""},
        "datasets": {"ahnpl_sugarcrepe": {"root": "sugarcrepe", "image_root": "coco/val2017",
                                          "options": {"files": ["swap_obj", "add_att"]}}},
        "run": _run_cfg(Path("out")),
    }, tmp_path / "eval.yaml")
    proc = _evaluate_subprocess(cfg, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "vis_processor.eval: the model's {'name': 'clip_image_eval', 'image_size': 224}" in proc.stderr
    (run_dir,) = list((tmp_path / "out").iterdir())
    test = json.loads((run_dir / "results.json").read_text())["test"]
    assert test["model"] == "clip ViT-B-32 (random init)"
    assert test["swap_obj"] == 0.0 and test["counts"]["n_items"] == 2
    assert "| **clip ViT-B-32 (random init)** |" in (run_dir / "results.md").read_text()


@pytest.mark.slow  # subprocess lavis.evaluate
def test_coco_retrieval_through_lavis_retrieval_task(tmp_path, lavis_ready):
    """The shipped eval_retrieval_coco.yaml on a 3-image Karpathy-layout folder (tiny model): only the
    test file and its images are needed, and the image size follows the model type."""
    coco = tmp_path / "coco"
    rows = []
    for i, colour in enumerate([(250, 0, 0), (0, 250, 0), (0, 0, 250)]):
        _png(coco / "images" / "val2014" / f"COCO_val2014_{i:012d}.jpg", colour)
        rows.append({"image": f"val2014/COCO_val2014_{i:012d}.jpg", "caption": [f"Photo {i}.", f"picture {i}!"]})
    (coco / "annotations").mkdir()
    (coco / "annotations" / "coco_karpathy_test.json").write_text(json.dumps(rows))
    proc = _evaluate_subprocess(
        REPO / "projects" / "ahnpl" / "eval_retrieval_coco.yaml", tmp_path,
        "run.device=cpu", "run.num_workers=0", "model.model_type=tiny", f"run.output_dir={tmp_path / 'out'}",
        env={"COCO_DIR": str(coco)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = list((tmp_path / "out").iterdir())
    test = json.loads((run_dir / "results.json").read_text())["test"]
    # 3 images, 6 captions: every true match is within the top 5 / top 10 whatever the model
    assert test["txt_r5"] == test["txt_r10"] == test["img_r5"] == test["img_r10"] == 100.0
    # R@1 recomputed from the same random-init weights (run.seed 42 of the config) and raw captions
    sim = _similarity_of_the_runs_model(42, lavis_ready)
    images = [coco / "images" / row["image"] for row in rows]
    captions = [(c, i) for i, row in enumerate(rows) for c in row["caption"]]
    scores = np.array([[sim(image, c) for c, _ in captions] for image in images])  # 3 x 6
    txt_r1 = 100 * np.mean([captions[int(np.argmax(scores[i]))][1] == i for i in range(3)])
    img_r1 = 100 * np.mean([int(np.argmax(scores[:, t])) == i for t, (_, i) in enumerate(captions)])
    assert test["txt_r1"] == pytest.approx(txt_r1) and test["img_r1"] == pytest.approx(img_r1)
    assert test["agg_metrics"] == pytest.approx((test["txt_r1"] + 200.0) / 3)
