"""ahnpl_blip's inputs offline and checkpoints of other models: every missing input named in one
error before anything is built or downloaded (cache paths included, no network call), and a
checkpoint of another arch/model_type refused with the model its stored config names; plus
``checkpoint_info``, the reader of that stored config shared with ahnpl_clip and the runner."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from ahnpl_plugin.errors import ConfigError

COCO_FINETUNED = "https://storage.googleapis.com/sfr-vision-language-research/LAVIS/models/BLIP/blip_coco_retrieval.pth"


pytestmark = pytest.mark.usefixtures("lavis_ready")  # conftest.py


def _cfg(model_type: str, **changes):
    from lavis.common.registry import registry

    cls = registry.get_model_class("ahnpl_blip")
    return OmegaConf.merge(OmegaConf.load(cls.default_config_path(model_type)).model, changes)


def _build(model_type: str, **changes):
    from lavis.common.registry import registry

    torch.manual_seed(0)
    return registry.get_model_class("ahnpl_blip").from_config(_cfg(model_type, **changes))


def _fail(what):
    def called(*args, **kwargs):
        raise AssertionError(f"{what} was called")

    return called


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """HF_HUB_OFFLINE=1 as set before start (env and the libraries' import-time copies), empty torch
    hub and Hugging Face caches under tmp_path, and any download or connection failing the test."""
    import huggingface_hub.constants
    import lavis.common.dist_utils
    import socket
    import timm.models._hub
    import torch.hub
    import transformers.utils.hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(transformers.utils.hub, "_is_offline_mode", True)
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "torch_hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf_hub"))
    monkeypatch.setattr(lavis.common.dist_utils, "download_cached_file", _fail("LAVIS's download_cached_file"))
    monkeypatch.setattr(timm.models._hub, "download_cached_file", _fail("timm's download_cached_file"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", _fail("torch.hub.download_url_to_file"))
    monkeypatch.setattr(socket, "create_connection", _fail("socket.create_connection"))
    return tmp_path


@pytest.fixture
def no_build(monkeypatch):
    """Building the towers fails the test: errors must come before."""
    import ahnpl_plugin.models.blip.model as ahnpl_blip

    monkeypatch.setattr(ahnpl_blip, "build_towers", _fail("build_towers"))


def _tokenizer_folder(tmp_path):
    from ahnpl_plugin.models.blip.tokenizer import builtin_tiny_vocabulary, write_vocabulary

    return write_vocabulary(tmp_path / "tokenizer", builtin_tiny_vocabulary())


def _run_checkpoint(path, state, arch, model_type):
    """A checkpoint as the runner writes it: model, optimizer, the run config, epoch, step."""
    torch.save({"model": state, "optimizer": {}, "config": {"model": {"arch": arch, "model_type": model_type}},
                "epoch": 0, "global_step": 3}, path)
    return str(path)


# -------------------------------------------------------------------------- checkpoint_info
def test_checkpoint_model_reads_arch_and_model_type_of_the_stored_run_config():
    from ahnpl_plugin.models.checkpoint_info import checkpoint_model, describe_checkpoint_model

    clip = {"model": {}, "config": {"model": {"arch": "ahnpl_clip", "model_type": "ViT-B-32"}, "run": {}}}
    assert checkpoint_model(clip) == ("ahnpl_clip", "ViT-B-32")
    assert describe_checkpoint_model(clip) == "ahnpl_clip ViT-B-32"
    as_omegaconf = {"config": OmegaConf.create({"model": {"arch": "ahnpl_blip", "model_type": "tiny"}})}
    assert checkpoint_model(as_omegaconf) == ("ahnpl_blip", "tiny")
    arch_only = {"config": {"model": {"arch": "ahnpl_blip"}}}
    assert describe_checkpoint_model(arch_only) == "ahnpl_blip (model_type not stored)"
    assert describe_checkpoint_model({"config": {"model": {"model_type": "tiny", "arch": ""}}}) == (
        "a model of model_type tiny (arch not stored)")


@pytest.mark.parametrize("obj", [
    {"model": {"visual_encoder.cls_token": torch.zeros(1)}},  # LAVIS's released files: no config
    {"visual_encoder.cls_token": torch.zeros(1)},  # a bare state dict
    {"config": {"run": {}}}, {"config": {"model": "ahnpl_blip"}}, {"config": None},
    {"config": {"model": {"arch": 3, "model_type": None}}}, None, [1, 2], torch.zeros(2),
])
def test_checkpoint_model_is_none_without_a_stored_model_config(obj):
    from ahnpl_plugin.models.checkpoint_info import checkpoint_model, describe_checkpoint_model

    assert checkpoint_model(obj) == (None, None)
    assert describe_checkpoint_model(obj) == "a model of unknown type (no config stored)"


# ------------------------------------------------------------------ checkpoints of other models
@pytest.mark.parametrize("arch, stored_type, built_type, message", [
    ("ahnpl_blip", "tiny", "coco",
     "is a checkpoint of ahnpl_blip tiny (its stored config), but this model is ahnpl_blip coco: "
     "set model.model_type to tiny to load it"),
    ("ahnpl_blip", "flickr", "tiny",
     "is a checkpoint of ahnpl_blip flickr (its stored config), but this model is ahnpl_blip tiny: "
     "set model.model_type to flickr to load it"),
    ("ahnpl_clip", "ViT-B-32", "tiny",
     "is a checkpoint of ahnpl_clip ViT-B-32 (its stored config), but this model is ahnpl_blip tiny: "
     "set model.arch to ahnpl_clip and model.model_type to ViT-B-32 to load it"),
])
def test_a_finetuned_checkpoint_of_another_model_is_named_before_building(offline, no_build, arch, stored_type,
                                                                          built_type, message):
    path = _run_checkpoint(offline / "run.pth", {"clip.logit_scale": torch.zeros(())}, arch, stored_type)
    changes = {"load_finetuned": True, "finetuned": path}
    if built_type != "tiny":
        changes["tokenizer"] = _tokenizer_folder(offline)
    with pytest.raises(ConfigError) as caught:
        _build(built_type, **changes)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_load_checkpoint_of_a_tiny_run_into_another_type_names_it_and_a_fitting_one_loads(offline):
    from ahnpl_plugin.errors import BlipWeightsError

    model = _build("tiny", queue_size=8)
    state = {k: v + 1 if v.is_floating_point() else v for k, v in model.state_dict().items()}
    tiny_run = _run_checkpoint(offline / "tiny.pth", state, "ahnpl_blip", "tiny")
    model.model_type = "coco"  # as a coco model would see the file (its towers are too slow to build here)
    with pytest.raises(BlipWeightsError, match="ahnpl_blip tiny .*set model.model_type to tiny"):
        model.load_checkpoint(tiny_run)
    model.model_type = "tiny"
    model.load_checkpoint(tiny_run)
    assert torch.equal(model.text_proj.weight, state["text_proj.weight"])


def test_a_checkpoint_that_does_not_fit_names_the_model_its_config_stores(offline):
    from ahnpl_plugin.errors import BlipWeightsError

    model = _build("tiny", queue_size=8)
    # a LAVIS blip_retrieval coco run: its arch is BLIP's, so only its tensors can tell (BLIP base widths)
    state = dict(model.state_dict(), **{"text_proj.weight": torch.zeros(256, 768), "text_proj.bias": torch.zeros(256)})
    lavis_run = _run_checkpoint(offline / "lavis.pth", state, "blip_retrieval", "coco")
    with pytest.raises(BlipWeightsError) as caught:
        model.load_checkpoint(lavis_run)
    assert str(caught.value) == (
        f"model.finetuned {lavis_run} (a checkpoint of blip_retrieval coco) does not fit this ahnpl_blip (tiny): "
        "2 tensor(s) of another shape, e.g. text_proj.weight (256, 768) vs (64, 64), text_proj.bias (256,) vs "
        "(64,); set model.model_type to coco to load it"
    )
    bare = offline / "bare.pth"
    torch.save({"model": state}, bare)
    with pytest.raises(BlipWeightsError, match=r"\(a checkpoint of a model of unknown type \(no config stored\)\)"):
        model.load_checkpoint(str(bare))


def test_flickr_and_coco_share_towers_so_their_checkpoints_are_not_refused_by_type():
    from ahnpl_plugin.models.blip.weights import BlipCheckpoint, check_checkpoint_model

    def holding(arch, model_type):
        return BlipCheckpoint("f.pth", "finetuned", "f.pth", {}, arch, model_type, f"{arch} {model_type}")

    check_checkpoint_model(holding("ahnpl_blip", "flickr"), "coco")
    check_checkpoint_model(holding("blip_retrieval", "coco"), "coco")  # LAVIS's own BLIP runs
    check_checkpoint_model(holding(None, None), "tiny")  # no config: left to the tensor checks
    with pytest.raises(ConfigError, match="set model.arch to blip2_feature_extractor"):
        check_checkpoint_model(holding("blip2_feature_extractor", "pretrain"), "coco")


# ---------------------------------------------------------------------------- missing inputs
def test_missing_tokenizer_folder_and_finetuned_file_are_named_in_one_error(offline, no_build):
    tokenizer, finetuned = offline / "no-tokenizer", offline / "no-checkpoint.pth"
    with pytest.raises(ConfigError) as caught:
        _build("coco", tokenizer=str(tokenizer), finetuned=str(finetuned))
    message = str(caught.value)
    assert message.startswith("ahnpl_blip lacks 2 inputs: (1) model.tokenizer: folder not found: ")
    assert f"folder not found: {tokenizer} " in message
    assert f"(2) model.finetuned: checkpoint not found: {finetuned}" in message
    assert "\n" not in message
    (offline / "no-tokenizer").mkdir()
    with pytest.raises(ConfigError, match=r"lacks 2 inputs: \(1\) model.tokenizer: .* has no vocab.txt"):
        _build("coco", tokenizer=str(tokenizer), finetuned=str(finetuned))


def test_uncached_url_and_hub_tokenizer_offline_name_their_cache_paths_at_once(offline, no_build):
    # how long this takes: perf/fail_fast.py (blip-offline); here: no download, no connection
    # (the offline fixture) and nothing built (no_build) before the error
    with pytest.raises(ConfigError) as caught:
        _build("coco")  # finetuned: LAVIS's URL, tokenizer: bert-base-uncased; both caches empty
    message = str(caught.value)
    cached = offline / "torch_hub" / "checkpoints" / "blip_coco_retrieval.pth"
    assert message.startswith("ahnpl_blip lacks 2 inputs: (1) model.tokenizer: 'bert-base-uncased' is not in "
                              f"the Hugging Face cache {offline / 'hf_hub'} ")
    assert (f"(2) model.finetuned: {COCO_FINETUNED} is not in the torch hub cache (looked for {cached}) and "
            f"HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE is set (no download tried); put the file at {cached}, or set "
            "model.finetuned to a local copy of it") in message
    assert "offline, set model.tokenizer to a local folder" in message


def test_a_cached_url_and_a_cached_hub_tokenizer_load_offline_without_network(offline):
    from ahnpl_plugin.models.blip.tokenizer import builtin_tiny_vocab_size, builtin_tiny_vocabulary, load_blip_tokenizer

    source = _build("tiny", queue_size=8)
    url = "https://example.org/weights/blip_tiny_run.pth"
    cached = offline / "torch_hub" / "checkpoints" / "blip_tiny_run.pth"
    cached.parent.mkdir(parents=True)
    torch.save({"model": source.state_dict()}, cached)
    loaded = _build("tiny", queue_size=8, pretrained=url)
    assert torch.equal(loaded.text_proj.weight, source.text_proj.weight)

    # a hub id whose vocab.txt is in the Hugging Face cache passes the check and loads offline
    snapshot = offline / "hf_hub" / "models--ahnpl-test--tiny-bert" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "vocab.txt").write_text("\n".join(builtin_tiny_vocabulary()) + "\n")
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("a" * 40)
    tokenizer = load_blip_tokenizer("ahnpl-test/tiny-bert", builtin_tiny_vocab_size())
    assert tokenizer.tokenize("a red circle") == ["a", "red", "circle"]


def test_online_the_network_is_asked_once_per_host_and_only_for_uncached_inputs(tmp_path, monkeypatch):
    import huggingface_hub.constants
    import torch.hub

    from ahnpl_plugin.models.blip.options import blip_model_options
    from ahnpl_plugin.models.blip.sources import blip_input_problems

    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "torch_hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf_hub"))
    options = blip_model_options(_cfg("coco", pretrained=COCO_FINETUNED.replace("coco", "flickr")))
    asked = []

    def unreachable(url):
        asked.append(url)
        return "the host cannot be reached (gaierror: no DNS)"

    problems = blip_input_problems(options, offline=False, reach=unreachable)
    assert asked == ["https://huggingface.co", COCO_FINETUNED]  # pretrained is not used: load_finetuned
    assert [p.split(":")[0] for p in problems] == ["model.tokenizer", "model.finetuned"]
    assert problems[1].endswith(f"and the host cannot be reached (gaierror: no DNS); put the file at "
                                f"{tmp_path / 'torch_hub' / 'checkpoints' / 'blip_coco_retrieval.pth'}, or set "
                                "model.finetuned to a local copy of it")
    assert blip_input_problems(options, offline=False, reach=lambda url: None) == []  # reachable: downloads later
    cached = tmp_path / "torch_hub" / "checkpoints" / "blip_coco_retrieval.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"")
    asked.clear()
    assert len(blip_input_problems(options, offline=False, reach=unreachable)) == 1
    assert asked == ["https://huggingface.co"]  # the cached URL needs no network


@pytest.mark.parametrize("environ, expected", [
    ({"HF_HUB_OFFLINE": "1"}, True), ({"TRANSFORMERS_OFFLINE": "yes"}, True), ({"HF_HUB_OFFLINE": "ON "}, True),
    ({"HF_HUB_OFFLINE": "0"}, False), ({"HF_HUB_OFFLINE": ""}, False), ({}, False),
])
def test_offline_is_read_from_the_hugging_face_variables(environ, expected):
    from ahnpl_plugin.models.blip.sources import offline_in

    assert offline_in(environ) is expected


def test_a_proxy_makes_the_reachability_probe_defer_to_the_download(monkeypatch):
    import socket

    from ahnpl_plugin.models.blip.sources import unreachable_reason

    monkeypatch.setattr(socket, "create_connection", _fail("socket.create_connection"))
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert unreachable_reason(COCO_FINETUNED) is None
