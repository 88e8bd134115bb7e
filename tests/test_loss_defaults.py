"""The ``model.loss`` defaults live once (lavis_configs/models/loss.yaml) and equal AHNPLLoss's
signature; configs that set ``model.loss.<key>`` keep working; ``negative_types`` takes a group."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "lavis_configs" / "models"
PROJECTS = REPO / "projects" / "ahnpl"
from ahnpl_plugin.contract import AHNPL_TYPES as AHNPL  # noqa: E402


@pytest.fixture(scope="module")
def lavis_ready():
    from ahnpl_plugin import register

    register()


def test_the_yaml_defaults_are_the_loss_signature():
    from ahnpl_plugin.contract import training_types
    from ahnpl_plugin.losses import AHNPLLoss
    from ahnpl_plugin.models.loss_options import loss_defaults, loss_options

    signature = {name: p.default for name, p in inspect.signature(AHNPLLoss.__init__).parameters.items()
                 if name != "self"}
    written = loss_defaults()
    assert list(written) == list(signature)  # every argument, in the signature's order
    assert written["negative_types"] == "ahnpl" and training_types("ahnpl") == signature["negative_types"] == AHNPL
    assert {k: v for k, v in written.items() if k != "negative_types"} == {
        k: v for k, v in signature.items() if k != "negative_types"}
    assert loss_options(written) == {**signature, "negative_types": "ahnpl"}


def test_no_model_type_yaml_carries_a_loss_block():
    files = sorted(MODELS.glob("ahnpl_*.yaml"))
    assert len(files) == 9
    for path in files:
        assert "loss" not in yaml.safe_load(path.read_text())["model"], path.name
    written_out = [p.name for p in (REPO / "lavis_configs").rglob("*.yaml")  # the group's name instead
                   if any("relation, adj_swap, adj, noun, verb" in line.split("#")[0]
                          for line in p.read_text().splitlines())]
    assert not written_out


@pytest.mark.parametrize("project", ["demo.yaml", "coco.yaml", "coco_blip.yaml", "eval_aro.yaml"])
def test_the_loaded_config_shows_the_whole_loss(lavis_ready, project):
    from ahnpl_plugin.config import load_config, plain
    from ahnpl_plugin.models.loss_options import loss_defaults

    cfg = load_config(str(PROJECTS / project), [])
    assert plain(cfg.model_cfg.loss) == loss_defaults()


def test_a_configs_own_loss_keys_go_over_the_defaults(lavis_ready):
    from ahnpl_plugin.config import load_config, plain
    from ahnpl_plugin.models.loss_options import loss_defaults, loss_options

    # coco_clip_ft.yaml sets negative_types [], use_hn and use_dm false; --options one more key
    cfg = load_config(str(PROJECTS / "coco_clip_ft.yaml"), ["model.loss.lambda_dm=0.5"])
    loss = plain(cfg.model_cfg.loss)
    assert loss == {**loss_defaults(), "negative_types": [], "use_hn": False, "use_dm": False, "lambda_dm": 0.5}
    assert loss_options(loss)["negative_types"] == () and "use_itc" in loss  # main's new option, defaulted
    assert cfg.datasets_cfg.ahnpl_coco.negative_types == []  # the dataset follows the model's loss
    blip = load_config(str(PROJECTS / "coco_blip.yaml"), ["model.loss.mode=reference", "model.loss.use_dm=false"])
    assert plain(blip.model_cfg.loss) == {**loss_defaults(), "mode": "reference", "use_dm": False}


def test_a_misspelt_loss_key_is_still_one_line(lavis_ready):
    from lavis.common.registry import registry

    from ahnpl_plugin.config import load_config
    from ahnpl_plugin.errors import ConfigError

    cfg = load_config(str(PROJECTS / "demo.yaml"), ["model.loss.lamda_hn=0.5"])
    with pytest.raises(ConfigError, match=r"^unknown model.loss key 'lamda_hn'"):
        registry.get_model_class("ahnpl_clip").from_config(cfg.model_cfg)


@pytest.mark.parametrize("arch", ["ahnpl_clip", "ahnpl_blip"])
def test_a_model_built_without_the_loader_trains_the_same_loss(lavis_ready, arch):
    """LAVIS's own route (the type YAML alone, e.g. run.reference_model) gets the signature's
    defaults, the loader's route the YAML's: the same loss."""
    from lavis.common.registry import registry
    from omegaconf import OmegaConf

    from ahnpl_plugin.config import load_config

    cls = registry.get_model_class(arch)
    bare = cls.from_config(OmegaConf.load(cls.default_config_path("tiny")).model)
    loaded = cls.from_config(load_config(str(PROJECTS / "demo.yaml"), [f"model.arch={arch}"]).model_cfg)
    names = [n for n in inspect.signature(type(bare.loss).__init__).parameters if n not in ("self",)]
    names = [n for n in names if hasattr(bare.loss, n)]
    assert len(names) >= 15
    assert {n: getattr(bare.loss, n) for n in names} == {n: getattr(loaded.loss, n) for n in names}
    assert bare.loss.negative_types == AHNPL


@pytest.mark.parametrize("given,expected", [("ahnpl", AHNPL), (["ahnpl"], AHNPL), (["noun", "verb"], ("noun", "verb")),
                                            ([], ())])
def test_negative_types_take_a_group_or_names(given, expected):
    from ahnpl_plugin.models.loss_options import build_loss, loss_options

    assert build_loss(loss_options({"negative_types": given})).negative_types == expected


def test_an_unknown_negative_type_is_one_line():
    from ahnpl_plugin.errors import ConfigError
    from ahnpl_plugin.models.loss_options import build_loss, loss_options

    with pytest.raises(ConfigError, match=r"^model.loss: unknown negative type 'nouns'; valid: "):
        build_loss(loss_options({"negative_types": ["relation", "nouns"]}))


def test_dataset_negative_types_take_a_group(lavis_ready):
    from ahnpl_plugin.config import load_config
    from ahnpl_plugin.datasets.coco_builder import negative_types_of

    cfg = load_config(str(PROJECTS / "coco.yaml"), ["model.loss.negative_types=ahnpl"])
    assert negative_types_of(cfg.datasets_cfg.ahnpl_coco, "ahnpl_coco") == AHNPL
    demo = load_config(str(PROJECTS / "demo.yaml"), [])
    assert demo.datasets_cfg.ahnpl_synthetic_world.negative_types == "ahnpl"
    assert negative_types_of(demo.datasets_cfg.ahnpl_synthetic_world, "ahnpl_synthetic_world") == AHNPL
