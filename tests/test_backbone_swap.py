"""Swapping the backbone by config: every dataset's image size follows the model type.

LAVIS keeps each builder's image size when the model type changes, so ``demo.yaml`` with
``model.model_type=ViT-B-32`` fed 32 px images to a 224 px ViT and died with a raw size error.
Known answers: the input sizes of the model types (OpenAI's CLIP: 224, ViT-L-14-336: 336; BLIP
base: 384; the tiny types: 32), checked on the tensors the configured processors produce, and by
one real training step per training config and model type, with towers shrunk in width and depth
but not in input size where real weights cannot be loaded here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from PIL import Image

from helpers.recipe_folder import make_recipe_folder, tiny_run_options
from helpers.runs import metrics as run_metrics

REPO = Path(__file__).resolve().parent.parent
# the LAVIS configs among the shipped ones (compare.yaml is ahnpl_plugin.compare's own format)
PROJECTS = sorted(p for p in (REPO / "projects" / "ahnpl").glob("*.yaml")
                  if {"model", "datasets", "run"} <= set(yaml.safe_load(p.read_text())))

# (arch, model_type) -> input size in pixels, from each type's published architecture
INPUT_SIZE = {
    ("ahnpl_clip", "ViT-B-32"): 224, ("ahnpl_clip", "ViT-B-16"): 224, ("ahnpl_clip", "ViT-L-14"): 224,
    ("ahnpl_clip", "ViT-L-14-336"): 336, ("ahnpl_clip", "RN50"): 224, ("ahnpl_clip", "tiny"): 32,
    ("ahnpl_blip", "coco"): 384, ("ahnpl_blip", "flickr"): 384, ("ahnpl_blip", "tiny"): 32,
}
TRAINING = ("demo", "demo_clip", "coco", "coco_reference", "coco_itc_text_hn", "coco_ceclip", "coco_clip_ft",
            "coco_blip")


def test_every_registered_model_type_is_in_the_table(lavis_ready):
    from lavis.common.registry import registry

    registered = {(arch, t) for arch in ("ahnpl_clip", "ahnpl_blip")
                  for t in registry.get_model_class(arch).PRETRAINED_MODEL_CONFIG_DICT}
    assert registered == set(INPUT_SIZE)


def _model_options(arch, model_type):
    return [f"model.arch={arch}", f"model.model_type={model_type}"]


def _effective_processors(cfg) -> dict:
    """``{(dataset, split): processor config}`` as the datasets will be built: the config's
    processors, or (benchmarks under ahnpl_compositional) the model's own eval processors."""
    from omegaconf import OmegaConf

    from ahnpl_plugin.tasks.compositional import model_eval_processors

    found = {}
    for name, dataset in cfg.datasets_cfg.items():
        processors = dataset.get("vis_processor")
        if processors:
            processors = OmegaConf.to_container(processors, resolve=True)  # in the whole config
        else:
            assert cfg.run_cfg.task in ("ahnpl_compositional", "ahnpl_zeroshot", "ahnpl_suite"), name  # they fill them in
            processors = {"eval": model_eval_processors(cfg.model_cfg)["vis_processor"]}
        for split, processor in processors.items():
            found[(name, split)] = processor
    return found


# in the fast loop (-m "not slow"): a synthetic and a COCO training config and one evaluation config;
# every project in the full run (0.2-2 s each)
FAST_PROJECTS = ("demo", "coco", "eval_sugarcrepe")


@pytest.mark.parametrize("project", [p if p.stem in FAST_PROJECTS else pytest.param(p, marks=pytest.mark.slow)
                                     for p in PROJECTS], ids=lambda p: p.stem)
def test_every_project_config_feeds_every_model_type_its_input_size(project, lavis_ready):
    from lavis.common.registry import registry
    from omegaconf import OmegaConf

    from ahnpl_plugin.config import load_config

    image = Image.new("RGB", (45, 30), (200, 30, 30))
    for (arch, model_type), size in INPUT_SIZE.items():
        cfg = load_config(str(project), _model_options(arch, model_type))
        processors = _effective_processors(cfg)
        assert processors
        for (name, split), processor_cfg in processors.items():
            processor_cfg = OmegaConf.create(processor_cfg)
            processor = registry.get_processor_class(processor_cfg.name).from_config(processor_cfg)
            assert tuple(processor(image).shape) == (3, size, size), (project.stem, arch, model_type, name, split)


def _world_config(tmp_path: Path, **vis) -> Path:
    raw = yaml.safe_load((REPO / "projects" / "ahnpl" / "demo.yaml").read_text())
    if vis:
        raw["datasets"]["ahnpl_synthetic_world"]["vis_processor"] = vis
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_a_hand_set_size_that_differs_from_the_models_is_one_line_naming_both(tmp_path, lavis_ready):
    from ahnpl_plugin.config import load_config
    from ahnpl_plugin.errors import ConfigError

    # by --options
    with pytest.raises(ConfigError) as info:
        load_config(str(_world_config(tmp_path)), ["model.model_type=ViT-B-32",
                                                   "datasets.ahnpl_synthetic_world.vis_processor.eval.image_size=32"])
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("datasets.ahnpl_synthetic_world.vis_processor.eval.image_size is 32 but model "
                              "ahnpl_clip ViT-B-32 takes 224 px images")
    # in the file
    cfg_path = _world_config(tmp_path, train={"name": "clip_image_train", "image_size": 64})
    with pytest.raises(ConfigError, match="vis_processor.train.image_size is 64 but model ahnpl_clip tiny takes 32 px"):
        load_config(str(cfg_path))
    # the same size set by hand is fine; an unset split follows the model
    cfg = load_config(str(_world_config(tmp_path, train={"name": "clip_image_train", "image_size": 336})),
                      ["model.model_type=ViT-L-14-336"])
    vis = cfg.datasets_cfg.ahnpl_synthetic_world.vis_processor
    assert (vis.train.image_size, vis.eval.image_size) == (336, 336)


def test_a_stock_lavis_builder_follows_the_model_too(tmp_path, lavis_ready):
    """LAVIS's own coco_retrieval with processors named but no size (LAVIS's processors default to
    224 px, BLIP's to 384): with the tiny CLIP its images are 32 px."""
    from ahnpl_plugin.config import load_config

    raw = {"model": {"arch": "ahnpl_clip", "model_type": "tiny", "pretrained": ""},
           "datasets": {"coco_retrieval": {"vis_processor": {"train": {"name": "blip_image_train"},
                                                              "eval": {"name": "blip_image_eval"}}}},
           "run": {"task": "retrieval", "runner": "ahnpl_runner", "output_dir": str(tmp_path)}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    vis = load_config(str(tmp_path / "c.yaml")).datasets_cfg.coco_retrieval.vis_processor
    assert (vis.train.image_size, vis.eval.image_size) == (32, 32)


# ------------------------------------------------------------------ one real step per config and type
@pytest.fixture
def tiny_sized(monkeypatch):
    """Shrink the towers of the types whose weights cannot be loaded here to one narrow layer,
    keeping their input size, patch size and layout (ViT / ResNet / BLIP's ViT + BERT)."""
    from ahnpl_plugin.models.blip import architectures as blip_architectures
    from ahnpl_plugin.models.blip import model as ahnpl_blip
    from ahnpl_plugin.models.clip import architectures
    from ahnpl_plugin.models.clip import weights as clip_loading
    from ahnpl_plugin.models.blip.tokenizer import builtin_tiny_vocab_size

    real_architecture, real_towers = architectures.architecture, ahnpl_blip.build_towers

    def small_clip(model_type):
        arch = real_architecture(model_type)
        if model_type == "tiny":
            return arch
        if isinstance(arch["vision_cfg"]["layers"], (list, tuple)):  # ResNet: one block per stage
            arch["vision_cfg"].update(layers=[1, 1, 1, 1], width=8)
        else:
            arch["vision_cfg"].update(layers=1, width=64)
        arch["text_cfg"].update(layers=1, width=64, heads=1)
        arch["embed_dim"] = 32
        return arch

    def small_blip(model_type, cfg, vocab_size=None):
        if model_type == "tiny":
            return real_towers(model_type, cfg, vocab_size)
        from lavis.models.vit import VisionTransformerEncoder

        vit = VisionTransformerEncoder(img_size=int(cfg["image_size"]), patch_size=16, embed_dim=64, depth=1,
                                       num_heads=2, mlp_ratio=2.0)
        vit.vision_width = 64
        return (vit, blip_architectures.tiny_text_config(builtin_tiny_vocab_size()),
                blip_architectures.TINY_EMBED_DIM)

    monkeypatch.setattr(clip_loading, "architecture", small_clip)
    monkeypatch.setattr(ahnpl_blip, "build_towers", small_blip)
    clip_loading.expected_shapes.cache_clear()
    yield
    clip_loading.expected_shapes.cache_clear()


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    return make_recipe_folder(tmp_path_factory.mktemp("coco") / "coco", n_train=4, n_val=2, n_test=2)


def _step_options(project: str, arch: str, model_type: str, tmp_path: Path) -> list[str]:
    options = tiny_run_options(tmp_path / "out", **{"run.max_steps": "1", "run.batch_size_train": "2",
                                                    "run.batch_size_eval": "4", "run.save_every_epoch": "0"})
    options = [o for o in options if not o.startswith("model.model_type=")]
    options += _model_options(arch, model_type) + ["model.pretrained="]
    if arch == "ahnpl_blip":
        options += ["model.load_finetuned=false", "model.finetuned=", "model.tokenizer=builtin-tiny",
                    "model.queue_size=8"]
    if project.startswith("demo"):
        world = "datasets.ahnpl_synthetic_world.world"
        options += [f"{world}.n_train=16", f"{world}.n_val=4", f"{world}.n_test=4",
                    f"datasets.ahnpl_synthetic_world.cache_dir={tmp_path.parent / 'world'}"]
    return options


@pytest.mark.slow
@pytest.mark.parametrize("arch, model_type", sorted(INPUT_SIZE), ids=lambda v: str(v))
@pytest.mark.parametrize("project", TRAINING)
def test_every_training_config_trains_one_step_with_every_model_type(project, arch, model_type, recipe, tiny_sized,
                                                                    tmp_path, monkeypatch):
    from ahnpl_plugin.train import _train

    monkeypatch.setenv("COCO_DIR", str(recipe.root))
    runner = _train(["--cfg-path", str(REPO / "projects" / "ahnpl" / f"{project}.yaml"), "--options",
                     *_step_options(project, arch, model_type, tmp_path)])
    assert (runner.config.model_cfg.arch, runner.config.model_cfg.model_type) == (arch, model_type)
    rows = run_metrics(runner.output_dir)
    assert [r["step"] for r in rows if "loss" in r] == [1]
    assert json.loads((runner.output_dir / "results.json").read_text())["test"]


# The retention recipes (issue 19): each trains a step with both families' tiny types (the base
# types' towers are the same code; the step above covers their sizes).
RETENTION = ("coco_distill", "coco_l2sp", "coco_text_only", "coco_fsc", "coco_low_lr", "coco_lora")


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["ahnpl_clip", "ahnpl_blip"])
@pytest.mark.parametrize("project", RETENTION)
def test_every_retention_recipe_trains_one_step_with_both_families(project, arch, recipe, tmp_path, monkeypatch):
    from ahnpl_plugin.train import _train

    monkeypatch.setenv("COCO_DIR", str(recipe.root))
    argv = ["--cfg-path", str(REPO / "projects" / "ahnpl" / f"{project}.yaml"), "--options",
            *_step_options(project, arch, "tiny", tmp_path)]
    runner = _train(argv)
    rows = [json.loads(line) for line in (runner.output_dir / "metrics.jsonl").read_text().splitlines()]
    (row,) = [r for r in rows if "loss" in r]
    model = runner.unwrap_dist_model(runner.model)
    config = yaml.safe_load((REPO / "projects" / "ahnpl" / f"{project}.yaml").read_text())["model"]
    assert ("loss_distill" in row) == ("distill" in config)
    assert ("loss_l2sp" in row) == ("l2sp" in config)
    assert model.finetune == config.get("finetune", "full")
    assert runner.config.model_cfg.arch == arch and model.start_weights["sha256"]


# Evaluation configs whose data the tests can write (the other benchmark configs are covered by the
# processor check above and tests/test_eval_configs.py); each with every model type of both families
# (the eval configs are model-agnostic: the model is named by --options).
EVALUATION = ("eval_retrieval_coco", "eval_sugarcrepe", "eval_winoground")


def _benchmark_options(project: str, root: Path) -> list[str]:
    from test_eval_suite import SUGARCREPE_FILES, write_sugarcrepe, write_winoground

    if "sugarcrepe" in project:
        data, images = write_sugarcrepe(root)
        return [f"datasets.ahnpl_sugarcrepe.root={data}", f"datasets.ahnpl_sugarcrepe.image_root={images}",
                f"datasets.ahnpl_sugarcrepe.options.files=[{','.join(SUGARCREPE_FILES)}]"]
    if "winoground" in project:
        return [f"datasets.ahnpl_winoground.root={write_winoground(root)}"]
    return []


@pytest.mark.slow
@pytest.mark.parametrize("project, arch, model_type", [
    (project, arch, model_type) for project in EVALUATION for arch, model_type in sorted(INPUT_SIZE)
])
def test_every_evaluation_config_evaluates_with_every_model_type_of_both_families(project, arch, model_type, recipe,
                                                                                  tiny_sized, tmp_path, monkeypatch):
    from ahnpl_plugin.evaluate import _evaluate

    monkeypatch.setenv("COCO_DIR", str(recipe.root))
    results = _evaluate(["--cfg-path", str(REPO / "projects" / "ahnpl" / f"{project}.yaml"), "--options",
                         *_step_options(project, arch, model_type, tmp_path),
                         *_benchmark_options(project, tmp_path / "data")])
    assert results["test"]
