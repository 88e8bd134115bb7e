"""Task ahnpl_suite: one run of one model over compositional benchmarks, zero-shot sets (retention
against run.reference_model) and Karpathy retrieval, one results.md / results.json, every distinct
input encoded once.

Data: a tiny COCO folder (ahnpl_plugin.data.sample_folder, Karpathy test JSON as LAVIS ships it),
a SugarCrepe file whose items use two of those same COCO images (so the encode-once key is
tested across benchmark and retrieval), Winoground rows, a class-per-folder zero-shot set; Flickr30k
and one zero-shot set absent (listed, not fatal). Recall is checked on planted score matrices with
hand-computed ranks and against LAVIS's own RetrievalTask._report_metrics.
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
import yaml
from torch.utils.data import DataLoader

from tests.test_eval_suite import write_winoground
from helpers.zeroshot import make_class_folders

REPO = Path(__file__).resolve().parent.parent
TINY = {"arch": "ahnpl_clip", "model_type": "tiny", "pretrained": ""}


# ------------------------------------------------------------------------------ recall core
def test_recall_ranks_hand_computed_with_ties_against_the_model():
    from ahnpl_plugin.benchmarks.retrieval_recall import recall_metrics, retrieval_ranks

    # 2 images, 4 captions (image 0: captions 0, 1; image 1: captions 2, 3)
    i2t = np.array([[0.1, 0.9, 0.5, 0.9],    # best true 0.9 (c1); wrong c3 ties it -> rank 1
                    [0.8, 0.2, 0.3, 0.1]])   # best true 0.3 (c2); wrong c0 above -> rank 1
    t2i = np.array([[0.5, 0.4], [0.1, 0.2], [0.3, 0.3], [0.0, 0.7]])  # ranks 0, 1, 1 (tie), 0
    img2txt, txt2img = {0: [0, 1], 1: [2, 3]}, {0: 0, 1: 0, 2: 1, 3: 1}
    r_i2t, r_t2i = retrieval_ranks(i2t, t2i, img2txt, txt2img)
    assert r_i2t.tolist() == [1, 1] and r_t2i.tolist() == [0, 1, 1, 0]
    m = recall_metrics(r_i2t, r_t2i, ks=(1, 5, 10))
    assert m["txt_r1"] == 0.0 and m["txt_r5"] == 100.0 and m["img_r1"] == 50.0 and m["img_r5"] == 100.0
    assert m["r_mean"] == pytest.approx(((0 + 100 + 100) / 3 + (50 + 100 + 100) / 3) / 2)
    assert m["n_images"] == 2 and m["n_texts"] == 4
    low, high = m["intervals"]["img_r1"]  # Wilson, 2 of 4
    assert low == pytest.approx(15.004, abs=1e-3) and high == pytest.approx(84.996, abs=1e-3)


def test_recall_equals_lavis_retrieval_task_on_untied_scores(tmp_path, monkeypatch):
    from lavis.common.registry import registry
    from lavis.tasks.retrieval import RetrievalTask

    from ahnpl_plugin.benchmarks.retrieval_recall import recall_metrics, retrieval_ranks

    rng = np.random.default_rng(0)
    n_images, per = 30, 5
    img2txt = {i: list(range(i * per, (i + 1) * per)) for i in range(n_images)}
    txt2img = {t: i for i, ts in img2txt.items() for t in ts}
    sims = rng.normal(size=(n_images, n_images * per)) + 0.8 * np.kron(np.eye(n_images), np.ones(per))
    monkeypatch.setitem(registry.mapping["paths"], "output_dir", str(tmp_path))
    lavis = RetrievalTask._report_metrics(sims, sims.T.copy(), txt2img, img2txt)
    ours = recall_metrics(*retrieval_ranks(sims, sims.T, img2txt, txt2img))
    for key in ("txt_r1", "txt_r5", "txt_r10", "img_r1", "img_r5", "img_r10", "r_mean"):
        assert ours[key] == pytest.approx(lavis[key]), key
    assert 0 < ours["txt_r1"] < 100


# ------------------------------------------------------------------------------ tiny data
def _sugarcrepe_on_coco(root: Path, coco_rows: list[dict]) -> Path:
    """SugarCrepe's layout ({id: {filename, caption, negative_caption}}) over two of the COCO test
    images (as SugarCrepe's val2017 images can be the files another split also names)."""
    data = root / "sugarcrepe"
    data.mkdir(parents=True)
    names = [Path(r["image"]).name for r in coco_rows[:2]]
    records = {
        "replace_att": {"0": {"filename": names[0], "caption": "a red square", "negative_caption": "a green square"},
                        "4": {"filename": names[1], "caption": "a green square", "negative_caption": "a red square"}},
        "swap_obj": {"2": {"filename": names[0], "caption": "same", "negative_caption": "same"}},
    }
    for stem, items in records.items():
        (data / f"{stem}.json").write_text(json.dumps(items))
    return data


def _suite_config(tmp_path: Path, model=TINY, extra_run=None) -> Path:
    from ahnpl_plugin.data.sample_folder import make_coco_folder

    coco = make_coco_folder(tmp_path / "coco", n_train=1, n_val=1, n_test=3, image_size=24)
    sugar = _sugarcrepe_on_coco(tmp_path, coco.eval_rows["test"])
    wino = write_winoground(tmp_path)
    make_class_folders(tmp_path / "colours")
    cfg = {
        "model": model,
        "datasets": {
            "ahnpl_sugarcrepe": {"root": str(sugar), "image_root": str(coco.images / "val2014"),
                                 "options": {"files": ["replace_att", "swap_obj"]}},
            "ahnpl_winoground": {"root": str(wino)},
            "ahnpl_valse": {"root": str(tmp_path / "no_valse")},  # absent: listed
            "ahnpl_zeroshot": {"sets": {
                "colours": {"format": "folders", "root": str(tmp_path / "colours")},
                "cifar10": {"format": "wds", "root": str(tmp_path / "wds_vtab-cifar10")}}},  # absent set
            "ahnpl_coco": {"build_info": {"annotations": {"train": None, "val": None,
                                                          "test": {"storage": str(coco.annotations["test"])}},
                                          "images": {"storage": str(coco.images)}}},
            "ahnpl_flickr30k": {"build_info": {"annotations": {  # absent: listed
                "train": None, "val": None, "test": {"storage": str(tmp_path / "flickr/flickr30k_test.json")}},
                "images": {"storage": str(tmp_path / "flickr/images")}}},
        },
        "run": {"task": "ahnpl_suite", "runner": "ahnpl_runner", "device": "cpu", "batch_size_eval": 2,
                "num_workers": 0, "seed": 3, "output_dir": str(tmp_path / "out"), "test_splits": ["test"],
                "progress": False, "bootstrap": 50, "k_test": 4,
                "reference_model": {**model, "model_type": "tiny"}, **(extra_run or {})},
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _setup(cfg_path: Path, options=()):
    import lavis.tasks as tasks

    from ahnpl_plugin.config import load_config

    cfg = load_config(str(cfg_path), list(options))
    task = tasks.setup_task(cfg)
    torch.manual_seed(0)
    model = task.build_model(cfg).eval()
    return cfg, task, model


def _evaluate_all(task, model, datasets):
    """What ahnpl_runner does for test_splits [test]: one loader per dataset, split '<name>/test'."""
    metrics = {}
    for name, splits in datasets.items():
        dataset = splits["test"]
        loader = DataLoader(dataset, batch_size=2, collate_fn=getattr(dataset, "collater", None))
        metrics[name] = task.after_evaluation(task.evaluation(model, loader), f"{name}/test", "eval")
    return metrics


def test_one_suite_run_scores_everything_encodes_each_input_once(tmp_path, lavis_ready, monkeypatch):
    from ahnpl_plugin.tasks.suite import SuiteTask

    monkeypatch.chdir(tmp_path)
    cfg, task, model = _setup(_suite_config(tmp_path))
    assert isinstance(task, SuiteTask) and task.k_test == 4
    datasets = task.build_datasets(cfg)
    assert set(datasets) == {"ahnpl_sugarcrepe", "ahnpl_winoground", "ahnpl_zeroshot", "ahnpl_coco"}
    assert set(task.not_evaluated) == {"ahnpl_valse", "ahnpl_flickr30k"}
    assert "flickr30k_test.json" in task.not_evaluated["ahnpl_flickr30k"]

    images, texts = [], []
    encode_image, encode_text = model.encode_image, model.encode_text
    monkeypatch.setattr(model, "encode_image", lambda x: images.append(len(x)) or encode_image(x))
    monkeypatch.setattr(model, "encode_text", lambda t: texts.extend(t) or encode_text(t))
    metrics = _evaluate_all(task, model, datasets)

    # images: 3 COCO test images (SugarCrepe's two are the same files and transform), 2 Winoground,
    # 6 zero-shot images: each once
    assert sum(images) == 3 + 2 + 6
    assert len(texts) == len(set(texts))  # no caption or prompt encoded twice
    coco = datasets["ahnpl_coco"]["test"]
    assert set(coco.text) <= set(texts) and "a photo of a zebra." in texts
    assert task.cache.encoded_images == 11

    # retrieval: ITC only for CLIP, LAVIS's metric names, 3 images / 15 captions
    itc = metrics["ahnpl_coco"]["itc"]
    assert set(metrics["ahnpl_coco"]) == {"model", "itc"} and itc["n_images"] == 3 and itc["n_texts"] == 15
    assert itc["txt_r5"] == itc["img_r5"] == 100.0  # 3 images: always within the top 5
    # zero-shot: retention filled (model minus reference), absent set listed, no agg_metrics
    zs = metrics["ahnpl_zeroshot"]
    assert zs["retention"]["colours"] == pytest.approx(zs["colours"]["score"] - zs["reference"]["colours"]["score"])
    assert "agg_metrics" not in zs and "cifar10" in zs["not_evaluated"]
    assert metrics["ahnpl_sugarcrepe"]["swap_obj"] == 0.0  # the planted tie

    report = task.run_report(str(tmp_path))
    sections = ["## By protocol", "## Zero-shot classification and retention", "## Image-text retrieval",
                "## Not evaluated", "## Paper-style table"]
    assert all(s in report for s in sections)
    assert [report.index(s) for s in sections] == sorted(report.index(s) for s in sections)
    assert "| COCO Karpathy test | ITC | 3 | 15 |" in report
    assert "- ahnpl_flickr30k: datasets.ahnpl_flickr30k.build_info.annotations.test.storage: file not found" in report
    assert "| colours | acc1 | 6 |" in report and "retention" in report
    assert f"{zs['mean'] / zs['reference']['mean']:.3f} = its mean over the reference's mean" in report
    assert "Encoder work for this model in the whole run: 11 image passes" in report

    # the retrieval numbers are those of LAVIS's retrieval task on ahnpl_clip's compute_sim_matrix
    from lavis.common.registry import registry
    from lavis.tasks.retrieval import RetrievalTask

    monkeypatch.setitem(registry.mapping["paths"], "output_dir", str(tmp_path))
    i2t, t2i = model.compute_sim_matrix(DataLoader(coco, batch_size=2))
    lavis = RetrievalTask._report_metrics(i2t, t2i, coco.txt2img, coco.img2txt)
    for key in ("txt_r1", "txt_r5", "img_r1", "img_r5", "r_mean"):
        assert itc[key] == pytest.approx(lavis[key]), key


def test_plot_gets_the_measured_retention(tmp_path, lavis_ready, monkeypatch):
    from ahnpl_plugin.benchmarks import plot as plot_module
    from ahnpl_plugin.tasks.suite import SuiteTask, zero_shot_ratio

    assert zero_shot_ratio({"mean": 0.5, "reference": {"mean": 0.625}}) == pytest.approx(0.8)
    assert zero_shot_ratio({"mean": 0.5}) is None and zero_shot_ratio(None) is None
    seen = []
    monkeypatch.setattr(plot_module, "plot_compositional_vs_zero_shot",
                        lambda path, name, cells, zero_shot_retention=None: seen.append(zero_shot_retention))
    task = SuiteTask(progress=False, model_name="m")
    task.zeroshot_metrics = {"mean": 0.45, "reference": {"mean": 0.5}}
    task.zeroshot.last_table = "| set |\n"
    task.run_report(str(tmp_path))
    assert seen == [pytest.approx(0.9)]


def test_strict_suite_is_all_or_nothing(tmp_path, lavis_ready, monkeypatch):
    from ahnpl_plugin.errors import BenchmarkMissingError

    monkeypatch.chdir(tmp_path)
    cfg, task, _ = _setup(_suite_config(tmp_path, extra_run={"strict": True}))
    with pytest.raises(BenchmarkMissingError) as info:
        task.build_datasets(cfg)
    message = str(info.value)
    assert "3 dataset(s)" in message and "flickr30k_test.json" in message and "cifar10" in message


def test_blip_retrieval_itc_and_itc_itm_rerank_each_pair_once(tmp_path, lavis_ready):
    """Tiny BLIP: the ITC matrix is the feature cosines; ITC+ITM holds cosine + ITM match logit on
    each query's top k by ITC and -100 elsewhere; each distinct pair goes through ITM once."""
    from lavis.common.registry import registry
    from omegaconf import OmegaConf

    from ahnpl_plugin.data.sample_folder import make_coco_folder
    from ahnpl_plugin.model_adapters import choice_encoder
    from ahnpl_plugin.tasks.choice_features import FeatureCache, weights_fingerprint
    from ahnpl_plugin.tasks.suite_features import retrieval_scores

    coco = make_coco_folder(tmp_path / "coco", n_train=1, n_val=1, n_test=4, captions_per_image=2, image_size=24)
    cls = registry.get_model_class("ahnpl_blip")
    torch.manual_seed(0)
    model = cls.from_config(OmegaConf.merge(OmegaConf.load(cls.default_config_path("tiny")).model,
                                            {"pretrained": ""})).eval()
    builder_cls = registry.get_builder_class("ahnpl_coco")
    defaults = OmegaConf.load(builder_cls.DATASET_CONFIG_DICT["default"]).datasets.ahnpl_coco
    builder = builder_cls(OmegaConf.merge(defaults, {
        "build_info": {"annotations": {"train": None, "val": None,
                                       "test": {"storage": str(coco.annotations["test"])}},
                       "images": {"storage": str(coco.images)}},
        "negative_types": [],
        "vis_processor": {"eval": {"name": "blip_image_eval", "image_size": 32}},
        "text_processor": {"eval": {"name": "blip_caption"}}}))
    dataset = builder.build_datasets()["test"]
    encoder, cache = choice_encoder(model), FeatureCache()
    k = 2
    scores = retrieval_scores(encoder, dataset, cache, fingerprint=weights_fingerprint(model), k_test=k,
                              batch_size=3, text_batch_size=8, num_workers=0, progress=False)
    i2t_itc, t2i_itc = scores["itc"]
    i2t, t2i = scores["itc+itm"]
    n_images, n_texts = i2t_itc.shape
    assert (n_images, n_texts) == (4, 20) and np.allclose(t2i_itc, i2t_itc.T)
    images = torch.stack([dataset[i]["image"] for i in range(n_images)])
    with torch.no_grad():
        embeds = encoder.image_embeds(images)
        feats, text_feats = encoder.features_from_embeds(embeds), encoder.encode_text(dataset.text)
    assert np.allclose(i2t_itc, (feats @ text_feats.T).numpy(), atol=1e-5)
    pairs = set()
    for row in range(n_images):
        top = set(np.argsort(-i2t_itc[row])[:k].tolist())
        assert set(np.flatnonzero(i2t[row] != -100.0).tolist()) == top
        pairs |= {(row, c) for c in top}
    for row in range(n_texts):
        top = set(np.argsort(-t2i_itc[row])[:k].tolist())
        assert set(np.flatnonzero(t2i[row] != -100.0).tolist()) == top
        pairs |= {(i, row) for i in top}
    assert cache.scored_pairs == len(pairs)
    image, caption = next(iter(sorted(pairs)))
    with torch.no_grad():
        logit = encoder.itm_logits(embeds[image:image + 1], [dataset.text[caption]])[0, 1].item()
    expected = i2t_itc[image, caption] + logit
    value = i2t[image, caption] if i2t[image, caption] != -100.0 else t2i[caption, image]
    assert value == pytest.approx(expected, abs=1e-4)
    # the same matrices as ahnpl_blip's LAVIS-faithful compute_sim_matrix (task retrieval's route)
    from ahnpl_plugin.models.blip.scoring import compute_sim_matrix

    loader = DataLoader(dataset, batch_size=3)
    lavis_i2t, lavis_t2i = compute_sim_matrix(model, loader, k_test=k, mode="itc+itm", max_len=model.max_txt_len)
    assert np.array_equal(lavis_i2t == -100.0, i2t == -100.0) and np.allclose(lavis_i2t, i2t, atol=1e-4)
    assert np.array_equal(lavis_t2i == -100.0, t2i == -100.0) and np.allclose(lavis_t2i, t2i, atol=1e-4)
    lavis_itc, _ = compute_sim_matrix(model, loader, k_test=k, mode="itc", max_len=model.max_txt_len)
    assert np.allclose(lavis_itc, i2t_itc, atol=1e-5)


def test_data_check_covers_the_suite_config(tmp_path, lavis_ready, monkeypatch):
    from ahnpl_plugin.data.config_check import check_config

    monkeypatch.chdir(tmp_path)
    reports = check_config(str(_suite_config(tmp_path)))
    titles = [r.title for r in reports]
    for name in ("ahnpl_sugarcrepe", "ahnpl_winoground", "ahnpl_valse", "ahnpl_zeroshot", "ahnpl_coco",
                 "ahnpl_flickr30k"):
        assert f"datasets.{name}" in titles
    assert "run.reference_model" in " ".join(titles)
    problems = {r.title: r.problems for r in reports}
    assert problems["datasets.ahnpl_flickr30k"] and problems["datasets.ahnpl_valse"]
    assert any("cifar10" in p for p in problems["datasets.ahnpl_zeroshot"])
    assert not problems["datasets.ahnpl_coco"]


def test_shipped_suite_configs_load_and_name_every_part(lavis_ready):
    from ahnpl_plugin.config import load_config

    for arch in ("ahnpl_clip", "ahnpl_blip"):
        options = [f"model.arch={arch}"] + (["model.model_type=coco"] if arch == "ahnpl_blip" else [])
        cfg = load_config(str(REPO / "projects" / "ahnpl" / "eval_suite.yaml"), options)
        assert cfg.run_cfg.task == "ahnpl_suite" and cfg.run_cfg.k_test == 256
        assert cfg.model_cfg.arch == cfg.run_cfg.reference_model.arch == arch
        every = load_config(str(REPO / "projects" / "ahnpl" / "eval_all.yaml"), [])
        assert set(every.datasets_cfg) | {"ahnpl_zeroshot", "ahnpl_coco", "ahnpl_flickr30k"} == set(cfg.datasets_cfg)
        zeroshot = load_config(str(REPO / "projects" / "ahnpl" / "eval_zeroshot.yaml"), options)
        assert cfg.datasets_cfg.ahnpl_zeroshot == zeroshot.datasets_cfg.ahnpl_zeroshot  # the same 19 sets
        assert cfg.run_cfg.reference_model == zeroshot.run_cfg.reference_model


# --------------------------------------------------------------------------- end to end (CLI)
@pytest.mark.slow
@pytest.mark.parametrize("arch", ["ahnpl_clip", "ahnpl_blip"])
def test_python_m_lavis_evaluate_suite_writes_one_results_md_and_json(tmp_path, arch):
    cfg = _suite_config(tmp_path, model={**TINY, "arch": arch})
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "lavis.evaluate", "--cfg-path", str(cfg)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = list((tmp_path / "out").iterdir())
    results = json.loads((run_dir / "results.json").read_text())["test"]
    assert set(results) >= {"ahnpl_sugarcrepe", "ahnpl_winoground", "ahnpl_zeroshot", "ahnpl_coco"}
    assert results["ahnpl_coco"]["itc"]["n_texts"] == 15
    assert "colours" in results["ahnpl_zeroshot"]["retention"]
    # agg_metrics: the compositional headlines only
    assert results["agg_metrics"] == pytest.approx(
        (results["ahnpl_sugarcrepe"]["agg_metrics"] + results["ahnpl_winoground"]["agg_metrics"]) / 2)
    report = (run_dir / "results.md").read_text()
    for section in ("## By protocol", "## Zero-shot classification and retention", "## Image-text retrieval",
                    "- ahnpl_flickr30k:", "- ahnpl_valse:"):
        assert section in report
    if arch == "ahnpl_clip":
        assert "Encoder work for this model in the whole run: 11 image passes" in report
        assert "| COCO Karpathy test | ITC | 3 | 15 |" in report and "ITC+ITM (top" not in report
    else:  # BLIP: both retrieval rows, the re-ranked one with k_test
        assert results["ahnpl_coco"]["itc+itm"]["k_test"] == 4
        assert "| COCO Karpathy test | ITC+ITM (top 4 re-ranked) | 3 | 15 |" in report
