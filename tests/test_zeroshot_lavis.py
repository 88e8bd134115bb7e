"""Zero-shot classification through LAVIS: its multimodal_classification task with ahnpl_clip /
ahnpl_blip (CPU), the plugin's ahnpl_zeroshot task and builder (planted models, retention), the
eval config and the data check."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from helpers.zeroshot import (
    CLASSNAMES,
    TEMPLATES,
    PlantedModel,
    image_bytes,
    COLOURS,
    make_class_folders,
    make_clip_benchmark_wds,
    make_elevater_iris,
    to_tensor,
)

REPO = Path(__file__).resolve().parents[1]
TINY = {
    "ahnpl_clip": {"arch": "ahnpl_clip", "model_type": "tiny", "pretrained": ""},
    "ahnpl_blip": {"arch": "ahnpl_blip", "model_type": "tiny", "pretrained": ""},
}


@pytest.fixture(scope="module")
def lavis_ready():
    from ahnpl_plugin import register

    register()


def _tiny(arch):
    from lavis.common.registry import registry

    cls = registry.get_model_class(arch)
    cfg = OmegaConf.merge(OmegaConf.load(cls.default_config_path("tiny")).model, TINY[arch])
    torch.manual_seed(0)
    return cls.from_config(cfg).eval()


class _Classes:
    def __init__(self, classnames, templates=None):
        self.classnames = classnames
        if templates is not None:
            self.templates = templates


# ------------------------------------------------------------ LAVIS's multimodal_classification
@pytest.mark.parametrize("arch", ["ahnpl_clip", "ahnpl_blip"])
def test_predict_is_the_template_classifier_over_itc_features(lavis_ready, arch):
    from lavis.tasks.multimodal_classification import MultimodalClassificationTask
    from lavis.tasks.retrieval import RetrievalTask

    from ahnpl_plugin.zeroshot.classifier import zero_shot_weights

    model = _tiny(arch)
    model.before_evaluation(dataset=_Classes(["cat", "dog"], TEMPLATES), task_type=RetrievalTask)
    assert getattr(model, "_zero_shot_weights", None) is None  # other tasks: nothing built
    model.before_evaluation(dataset=_Classes(["cat", "dog"], TEMPLATES), task_type=MultimodalClassificationTask)
    images = torch.rand(3, 3, 32, 32)
    out = model.predict({"image": images, "label": torch.tensor([0, 1, 1])})
    with torch.no_grad():
        weights = zero_shot_weights(model.encode_text, ["cat", "dog"], TEMPLATES)
        expected = 100.0 * model.encode_image(images) @ weights
    torch.testing.assert_close(out["predictions"], expected)
    assert out["targets"].tolist() == [0, 1, 1]
    assert not any("zero_shot" in k for k in model.state_dict())


def test_templates_imagenet_only_for_imagenet_classes(lavis_ready, monkeypatch):
    from lavis.datasets.builders.imagefolder_builder import imagenet_classnames
    from lavis.tasks.multimodal_classification import MultimodalClassificationTask

    from ahnpl_plugin.errors import ConfigError
    from ahnpl_plugin.models import zero_shot_head

    seen = {}

    def record(encode_text, classnames, templates, batch_size):
        seen.update(classnames=list(classnames), templates=list(templates))
        return torch.zeros(4, len(classnames))

    monkeypatch.setattr(zero_shot_head, "zero_shot_weights", record)
    model = _tiny("ahnpl_clip")
    model.before_evaluation(dataset=_Classes(list(imagenet_classnames)), task_type=MultimodalClassificationTask)
    assert len(seen["classnames"]) == 1000 and len(seen["templates"]) == 80
    assert seen["templates"][0] == "a bad photo of a {c}."
    with pytest.raises(ConfigError, match="no prompt templates"):
        model.before_evaluation(dataset=_Classes(["cat", "dog"]), task_type=MultimodalClassificationTask)


def test_multimodal_classification_task_on_cpu_planted_model_scores_100(lavis_ready, tmp_path):
    """LAVIS's task + LAVIS's ImageFolderDataset, batches kept on the CPU (cuda_enabled False)."""
    from lavis.datasets.datasets.imagefolder_dataset import ImageFolderDataset
    from lavis.tasks.multimodal_classification import MultimodalClassificationTask

    from ahnpl_plugin.models.zero_shot_head import ZeroShotHeadMixin

    class Planted(ZeroShotHeadMixin, PlantedModel):
        @property
        def device(self):
            return self.anchor.device

    # ImageFolder labels folders in sorted order: name them so that order is the class list's
    root = tmp_path / "val"
    for i, name in enumerate(CLASSNAMES):
        (root / f"{i}_{name}").mkdir(parents=True)
        for j in range(2):
            (root / f"{i}_{name}" / f"{j}.png").write_bytes(image_bytes(COLOURS[name], seed=j))
    dataset = ImageFolderDataset(vis_processor=to_tensor, vis_root=str(root), classnames=CLASSNAMES)
    dataset.templates = TEMPLATES
    model, task = Planted(), MultimodalClassificationTask()
    task.before_evaluation(model, dataset)
    results = task.evaluation(model, DataLoader(dataset, batch_size=4), cuda_enabled=False)
    assert len(results) == 6 and all(r["prediction"] == r["target"] for r in results)
    assert sorted(r["target"] for r in results) == [0, 0, 1, 1, 2, 2]


# ------------------------------------------------------------------- ahnpl_zeroshot builder+task
def _suite(tmp_path, lavis_ready):
    from lavis.common.registry import registry

    make_class_folders(tmp_path / "colours")
    make_clip_benchmark_wds(tmp_path / "wds_vtab-pets")
    cfg = OmegaConf.create({
        "data_type": "images",
        "sets": {"colours": {"format": "folders", "root": str(tmp_path / "colours")},
                 "pets": {"format": "wds", "root": str(tmp_path / "wds_vtab-pets")}},
        "vis_processor": {"eval": {"name": "clip_image_eval", "image_size": 12}},
    })
    builder = registry.get_builder_class("ahnpl_zeroshot")(cfg)
    suite = builder.build_datasets()["test"]
    for part in suite.parts:
        part.vis_processor = to_tensor  # colours as they are (no CLIP normalisation)
    return suite


def test_builder_reads_each_set_with_its_metric(tmp_path, lavis_ready):
    suite = _suite(tmp_path, lavis_ready)
    assert [p.dataset_name for p in suite.parts] == ["colours", "pets"]
    assert [p.headline for p in suite.parts] == ["acc1", "mean-per-class"]  # pets: ELEVATER's choice
    assert len(suite) == 6 + 7


def test_builder_elevater_set_and_key_errors(tmp_path, lavis_ready):
    from lavis.common.registry import registry

    from ahnpl_plugin.errors import ConfigError

    root = make_elevater_iris(tmp_path / "food101")

    def build(sets):
        cfg = OmegaConf.create({"data_type": "images", "sets": sets,
                                "vis_processor": {"eval": {"name": "clip_image_eval", "image_size": 12}}})
        return registry.get_builder_class("ahnpl_zeroshot")(cfg).build_datasets()["test"]

    suite = build({"food101": {"format": "elevater", "root": str(root), "templates": str(root / "templates.txt")}})
    assert suite.parts[0].headline == "accuracy" and len(suite) == 4
    with pytest.raises(ConfigError, match="index applies to format elevater only"):
        build({"x": {"format": "wds", "root": str(root), "index": "test.txt"}})
    with pytest.raises(ConfigError, match="format: expected one of wds, folders, elevater"):
        build({"x": {"format": "tfds", "root": str(root)}})


def test_absent_set_is_left_out_and_listed_unless_strict(tmp_path, lavis_ready):
    from lavis.common.registry import registry

    from ahnpl_plugin.errors import ConfigError, UserError
    from ahnpl_plugin.tasks.zeroshot import ZeroShotTask

    make_class_folders(tmp_path / "colours")

    def build(strict):
        cfg = OmegaConf.create({"data_type": "images", "strict": strict,
                                "sets": {"colours": {"format": "folders", "root": str(tmp_path / "colours")},
                                         "cifar10": {"format": "wds", "root": str(tmp_path / "nowhere")}},
                                "vis_processor": {"eval": {"name": "clip_image_eval", "image_size": 12}}})
        return registry.get_builder_class("ahnpl_zeroshot")(cfg).build_datasets()["test"]

    suite = build(False)
    assert [p.dataset_name for p in suite.parts] == ["colours"]
    assert suite.not_evaluated == {"cifar10": f"{tmp_path / 'nowhere'} not found"}
    with pytest.raises(UserError, match="nshards.txt"):
        build(True)
    suite.parts[0].vis_processor = to_tensor
    task = ZeroShotTask(progress=False, model_name="m", bootstrap=0)
    out = task.evaluation(PlantedModel(), DataLoader(suite, batch_size=4, collate_fn=suite.collater))
    metrics = task.after_evaluation(out, "test", "eval")
    assert metrics["not_evaluated"] == suite.not_evaluated and metrics["agg_metrics"] == 1.0
    assert "intervals" not in metrics
    with pytest.raises(ConfigError, match="strict: expected true or false"):
        build("yes")


def test_task_scores_planted_model_100_and_reports_retention(tmp_path, lavis_ready):
    from ahnpl_plugin.tasks.zeroshot import ZeroShotTask

    suite = _suite(tmp_path, lavis_ready)
    task = ZeroShotTask(progress=False, model_name="tuned",
                        reference_cfg=OmegaConf.create({"arch": "planted", "model_type": "x"}))
    # the reference swaps zebra and apple (their prompts get each other's colour)
    task._reference = PlantedModel(swap={"zebra": "apple", "apple": "zebra"})
    loader = DataLoader(suite, batch_size=4, collate_fn=suite.collater)
    out = task.evaluation(PlantedModel(), loader)
    metrics = task.after_evaluation(out, "test", "eval")
    assert metrics["colours"]["score"] == 1.0 and metrics["pets"]["score"] == 1.0
    assert metrics["agg_metrics"] == 1.0
    # reference: only mango right. colours (2 zebra, 3 apple, 1 mango): acc1 1/6;
    # pets: per-class recall zebra 0, apple 0, mango 1 -> 1/3
    assert metrics["reference"]["colours"]["score"] == pytest.approx(1 / 6)
    assert metrics["reference"]["pets"]["score"] == pytest.approx(1 / 3)
    assert metrics["retention"]["colours"] == pytest.approx(5 / 6)
    assert metrics["retention"]["mean"] == pytest.approx(1 - (1 / 6 + 1 / 3) / 2)
    assert metrics["intervals"]["sets"]["colours"]["score"] == (1.0, 1.0)
    low, high = metrics["intervals"]["sets"]["colours"]["retention"]
    assert 0 < low <= 5 / 6 <= high <= 1
    # the reference is scored once per run
    task._reference = None
    assert task.evaluation(PlantedModel(), loader)["reference"]["pets"]["score"] == pytest.approx(1 / 3)


def test_results_table_shows_retention():
    from ahnpl_plugin.zeroshot.report import render_zeroshot_table

    results = {"cifar10": {"headline": "accuracy", "images": 10, "score": 0.8},
               "pets": {"headline": "mean-per-class", "images": 5, "score": 0.5}}
    reference = {"cifar10": {"headline": "accuracy", "images": 10, "score": 0.9},
                 "pets": {"headline": "mean-per-class", "images": 5, "score": 0.5}}
    table = render_zeroshot_table(results, "tuned", reference, "start")
    assert "| cifar10 | accuracy | 10 | 80.0 | 90.0 | -10.0 |" in table
    assert "| **mean of 2** |  |  | 65.0 | 70.0 | -5.0 |" in table
    assert "2 of the 21 ELEVATER sets" in table


def test_data_check_covers_zeroshot_sets_and_lavis_imagenet(tmp_path, lavis_ready):
    from ahnpl_plugin.data.config_check import check_config

    make_class_folders(tmp_path / "colours")
    (tmp_path / "imagenet" / "val" / "n01440764").mkdir(parents=True)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({
        "model": TINY["ahnpl_clip"],
        "datasets": {
            "ahnpl_zeroshot": {"sets": {"colours": {"format": "folders", "root": str(tmp_path / "colours")},
                                        "cifar10": {"format": "wds", "root": str(tmp_path / "nowhere")}}},
            "imagenet": {"build_info": {"splits": ["val"], "images": {"storage": str(tmp_path / "imagenet")}}},
        },
        "run": {"task": "ahnpl_zeroshot", "output_dir": str(tmp_path / "out"),
                "reference_model": {"arch": "ahnpl_clip", "model_type": "tiny", "pretrained": "/no/such.pt"}},
    }))
    reports = {r.title: r for r in check_config(str(cfg))}
    zs = reports["datasets.ahnpl_zeroshot"]
    assert any(line.startswith("colours: 6 images, 3 classes, 2 templates, metric acc1") for line in zs.lines)
    assert any("cifar10" in p and "nshards.txt" in p for p in zs.problems)
    imagenet = reports["datasets.imagenet"]
    assert any("1 class folders" in p for p in imagenet.problems)
    assert any("vis_processor" in p for p in imagenet.problems)
    assert any("/no/such.pt" in p for p in reports["run.reference_model"].problems)


@pytest.mark.parametrize("options,arch", [([], "ahnpl_clip"), (["model.arch=ahnpl_blip", "model.model_type=coco"], "ahnpl_blip")])
def test_shipped_eval_zeroshot_config_loads_for_both_families(lavis_ready, options, arch):
    from ahnpl_plugin.config import load_config
    from ahnpl_plugin.zeroshot.protocols import elevater_name

    cfg = load_config(str(REPO / "projects/ahnpl/eval_zeroshot.yaml"), options)
    sets = cfg.datasets_cfg.ahnpl_zeroshot.sets
    assert len(sets) == 19 and all(elevater_name(n) for n in sets)  # + food-101, hateful-memes by hand
    assert cfg.model_cfg.arch == cfg.run_cfg.reference_model.arch == arch


# --------------------------------------------------------------------------- end to end (CLI)
def _run(args, cwd):
    env = {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "lavis.evaluate", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_python_m_lavis_evaluate_zeroshot_with_reference_on_cpu(tmp_path):
    make_class_folders(tmp_path / "colours")
    make_clip_benchmark_wds(tmp_path / "wds_vtab-pets")
    opts = ["--options", "model.model_type=tiny", "model.pretrained=", "run.device=cpu", "run.num_workers=0",
            "run.batch_size_eval=4", f"run.output_dir={tmp_path}/out",  # the reference: tiny's own weights
            "datasets.ahnpl_zeroshot.sets={}"]
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text((REPO / "projects/ahnpl/eval_zeroshot.yaml").read_text())
    sets = {"colours": {"format": "folders", "root": str(tmp_path / "colours")},
            "pets": {"format": "wds", "root": str(tmp_path / "wds_vtab-pets")},
            "cifar10": {"format": "wds", "root": str(tmp_path / "wds_vtab-cifar10")}}  # absent
    raw = OmegaConf.load(cfg)
    raw.datasets.ahnpl_zeroshot.sets = sets
    OmegaConf.save(raw, cfg)
    proc = _run(["--cfg-path", str(cfg), *opts[:-1]], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = (tmp_path / "out").iterdir()
    results = json.loads((run_dir / "results.json").read_text())["test"]
    assert set(results["colours"]["metrics"]) == {"acc1", "acc5", "mean_per_class_recall"}
    assert results["pets"]["headline"] == "mean-per-class"
    assert results["retention"]["pets"] == pytest.approx(results["pets"]["score"] - results["reference"]["pets"]["score"])
    table = (run_dir / "results.md").read_text()
    assert "retention" in table and "| pets | mean-per-class | 7 |" in table
    assert f"- cifar10: {tmp_path / 'wds_vtab-cifar10'} not found" in table
    assert results["not_evaluated"] == {"cifar10": f"{tmp_path / 'wds_vtab-cifar10'} not found"}


@pytest.mark.slow
@pytest.mark.parametrize("arch,processor", [("ahnpl_clip", "clip_image_eval"), ("ahnpl_blip", "blip_image_eval")])
def test_python_m_lavis_evaluate_imagenet_builder_on_cpu(tmp_path, arch, processor):
    """LAVIS's imagenet builder + multimodal_classification with run.device cpu (1000 classes x 80
    templates through a tiny model: ~30-70 s)."""
    for i, wnid in enumerate(["n01440764", "n01443537"]):
        (tmp_path / "imagenet" / "val" / wnid).mkdir(parents=True)
        (tmp_path / "imagenet" / "val" / wnid / "a.JPEG").write_bytes(image_bytes((200, 90 * i, 10), seed=i, fmt="JPEG"))
    proc = _run(["--cfg-path", str(REPO / "projects/ahnpl/eval_imagenet_lavis.yaml"), "--options",
                 f"model.arch={arch}", "model.model_type=tiny", "model.pretrained=", "run.device=cpu",
                 "run.num_workers=0", "run.batch_size_eval=2", f"run.output_dir={tmp_path}/out",
                 f"datasets.imagenet.build_info.images.storage={tmp_path}/imagenet",
                 f"datasets.imagenet.vis_processor.eval.name={processor}",
                 "datasets.imagenet.vis_processor.eval.image_size=32"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = (tmp_path / "out").iterdir()
    results = json.loads((run_dir / "results.json").read_text())["val"]
    predictions = json.loads((run_dir / "result" / "val_epocheval.json").read_text())
    assert sorted(p["target"] for p in predictions) == [0, 1]
    assert set(results) == {"agg_metrics", "acc"}
    assert results["acc"] == pytest.approx(np.mean([p["prediction"] == p["target"] for p in predictions]))


def test_reference_model_must_preprocess_like_the_model(lavis_ready, caplog):
    from types import SimpleNamespace

    from ahnpl_plugin.errors import ConfigError
    from ahnpl_plugin.tasks.zeroshot import ZeroShotTask

    def cfg(reference, **run):
        return SimpleNamespace(model_cfg=OmegaConf.merge(OmegaConf.load(
            REPO / "lavis_configs/models/ahnpl_clip_tiny.yaml").model, TINY["ahnpl_clip"]),
            run_cfg=OmegaConf.create({"reference_model": reference, **run}))

    with pytest.raises(ConfigError, match="same architecture"):
        ZeroShotTask.setup_task(cfg(TINY["ahnpl_blip"]))
    task = ZeroShotTask.setup_task(cfg(TINY["ahnpl_clip"]))
    assert task.reference_name == "ahnpl_clip tiny (random init) [reference]"
    assert "retention will be 0" in caplog.text
    caplog.clear()
    task = ZeroShotTask.setup_task(cfg(TINY["ahnpl_clip"], checkpoint="run/checkpoint_best.pth"))
    assert task.model_name == "ahnpl_clip tiny (run/checkpoint_best.pth)" and "retention" not in caplog.text
