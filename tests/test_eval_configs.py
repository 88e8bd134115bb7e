"""Evaluation configs are model-agnostic: one file per benchmark, the model named by --options.

Every shipped eval config loads and validates for both families (``ahnpl_clip`` as shipped,
``ahnpl_blip`` by ``--options model.arch=ahnpl_blip model.model_type=coco``) without any weights;
a removed per-model copy (``eval_aro_blip.yaml``) is a one-line error naming the replacement.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PROJECTS = REPO / "projects" / "ahnpl"
EVAL_CONFIGS = sorted(p.name for p in PROJECTS.glob("eval_*.yaml"))
BLIP = ["model.arch=ahnpl_blip", "model.model_type=coco"]
FAMILIES = {"ahnpl_clip": [], "ahnpl_blip": BLIP}
COCO_RETRIEVAL = "https://storage.googleapis.com/sfr-vision-language-research/LAVIS/models/BLIP/blip_coco_retrieval.pth"


@pytest.fixture(scope="module")
def lavis_ready():
    from ahnpl_plugin import register

    register()


def _image_sizes(cfg) -> set[int]:
    sizes = set()
    for dataset in cfg.datasets_cfg.values():
        for processor in ((dataset or {}).get("vis_processor") or {}).values():
            if processor is not None and processor.get("image_size") is not None:
                sizes.add(int(processor.image_size))
    return sizes


def test_there_is_one_eval_config_per_benchmark():
    assert len(EVAL_CONFIGS) == 19, EVAL_CONFIGS
    assert not [name for name in EVAL_CONFIGS if name.endswith("_blip.yaml")]


@pytest.mark.parametrize("arch", sorted(FAMILIES))
@pytest.mark.parametrize("name", EVAL_CONFIGS)
def test_every_eval_config_builds_for_both_families(lavis_ready, name, arch):
    from ahnpl_plugin.config import load_config, plain
    from ahnpl_plugin.models.blip.options import blip_model_options
    from ahnpl_plugin.models.clip.options import model_options

    cfg = load_config(str(PROJECTS / name), FAMILIES[arch])
    assert cfg.model_cfg.arch == arch
    if arch == "ahnpl_clip":
        options = model_options(cfg.model_cfg)  # unknown keys would raise here
        assert (options.model_type, options.pretrained) == ("ViT-B-32", "openai")
        size = 224
    else:
        options = blip_model_options(cfg.model_cfg)
        assert (options.model_type, options.load_finetuned, options.finetuned) == ("coco", True, COCO_RETRIEVAL)
        assert options.scoring == "itc+itm" and options.tokenizer == "bert-base-uncased"
        assert options.pretrained.endswith("model_base_capfilt_large.pth")  # BLIP's own, not CLIP's "openai"
        size = 384
    assert _image_sizes(cfg) <= {size}
    if "reference_model" in cfg.run_cfg:  # zero-shot retention: the same family's starting weights
        assert plain(cfg.run_cfg.reference_model) == {"arch": arch, "model_type": options.model_type}


@pytest.mark.parametrize("name", EVAL_CONFIGS)
def test_every_eval_config_takes_the_tiny_types_with_one_option(lavis_ready, name):
    from ahnpl_plugin.config import load_config
    from ahnpl_plugin.models.blip.options import blip_model_options
    from ahnpl_plugin.models.clip.options import model_options

    clip = model_options(load_config(str(PROJECTS / name), ["model.model_type=tiny"]).model_cfg)
    assert clip.pretrained == ""  # the tiny type's random initialisation, no "openai" left in the file
    blip = blip_model_options(load_config(str(PROJECTS / name), ["model.arch=ahnpl_blip", "model.model_type=tiny"]).model_cfg)
    assert (blip.tokenizer, blip.pretrained, blip.load_finetuned) == ("builtin-tiny", "", False)


@pytest.mark.parametrize("arch", sorted(FAMILIES))
def test_the_tiny_models_build_from_an_eval_config_and_the_reference_is_their_start(lavis_ready, arch):
    from lavis.common.registry import registry

    from ahnpl_plugin.config import load_config
    from ahnpl_plugin.tasks.zeroshot import reference_model_config

    cfg = load_config(str(PROJECTS / "eval_suite.yaml"), [f"model.arch={arch}", "model.model_type=tiny"])
    model = registry.get_model_class(arch).from_config(cfg.model_cfg)
    assert type(model).__name__ and sum(p.numel() for p in model.parameters()) > 0
    reference = reference_model_config(cfg.run_cfg)
    assert (reference.arch, reference.model_type, reference.pretrained) == (arch, "tiny", "")
    shipped = reference_model_config(load_config(str(PROJECTS / "eval_suite.yaml"), FAMILIES[arch]).run_cfg)
    if arch == "ahnpl_clip":
        assert (shipped.model_type, shipped.pretrained) == ("ViT-B-32", "openai")  # as the old explicit mapping
    else:
        assert (shipped.model_type, shipped.finetuned) == ("coco", COCO_RETRIEVAL)


def test_a_reference_model_mapping_stays_and_a_bad_word_is_one_line(lavis_ready):
    from ahnpl_plugin.config import load_config
    from ahnpl_plugin.errors import ConfigError

    mapping = load_config(str(PROJECTS / "eval_zeroshot.yaml"),
                          ["run.reference_model={arch: ahnpl_clip, model_type: ViT-B-32, pretrained: start.pt}"])
    assert mapping.run_cfg.reference_model.pretrained == "start.pt"
    with pytest.raises(ConfigError, match=r"^run.reference_model must be type_default .* got 'start'$"):
        load_config(str(PROJECTS / "eval_zeroshot.yaml"), ["run.reference_model=start"])


@pytest.mark.parametrize("given", ["eval_aro_blip.yaml", "projects/ahnpl/eval_aro_blip.yaml", "eval_aro_blip"])
def test_a_removed_blip_copy_names_the_command_that_replaces_it(given, tmp_path, monkeypatch):
    from ahnpl_plugin.config import resolve_config_path
    from ahnpl_plugin.errors import ConfigError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as error:
        resolve_config_path(given)
    assert str(error.value) == (
        f"{given} was removed (one eval config per benchmark, the model chosen by --options); run "
        "--cfg-path projects/ahnpl/eval_aro.yaml --options model.arch=ahnpl_blip model.model_type=coco")


def test_the_cli_says_it_in_one_line(tmp_path, monkeypatch, capsys):
    from ahnpl_plugin.evaluate import main

    monkeypatch.chdir(tmp_path)
    assert main(["--cfg-path", "projects/ahnpl/eval_zeroshot_blip.yaml"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].endswith(
        "run --cfg-path projects/ahnpl/eval_zeroshot.yaml --options model.arch=ahnpl_blip model.model_type=coco "
        "run.batch_size_eval=128")


def test_every_removed_name_is_gone_and_its_replacement_loads_for_blip(lavis_ready):
    from ahnpl_plugin.config import REMOVED_CONFIGS, load_config

    for removed, (replacement, options) in REMOVED_CONFIGS.items():
        assert not (PROJECTS / f"{removed}.yaml").exists() and f"{replacement}.yaml" in EVAL_CONFIGS
        assert load_config(str(PROJECTS / f"{replacement}.yaml"), options.split()).model_cfg.arch == "ahnpl_blip"
    assert {f"{r}.yaml" for r, _ in REMOVED_CONFIGS.values()} == set(EVAL_CONFIGS)


def test_a_users_own_file_of_a_removed_name_still_loads(tmp_path, monkeypatch):
    from ahnpl_plugin.config import resolve_config_path

    monkeypatch.chdir(tmp_path)
    (tmp_path / "eval_aro_blip.yaml").write_text((PROJECTS / "eval_aro.yaml").read_text())
    assert resolve_config_path("eval_aro_blip.yaml") == Path("eval_aro_blip.yaml")
