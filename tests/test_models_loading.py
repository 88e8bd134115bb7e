"""Tests of ``model.pretrained`` for ``ahnpl_clip``: OpenAI TorchScript archives (QuickGELU forced,
features identical to LAVIS's own OpenAI loader), the ``openai`` cache name offline, open_clip /
LAVIS / ahnpl_clip state dicts, and the error messages for missing or wrong files."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request

import pytest
import torch
from torch import nn

from ahnpl_plugin import compat

compat.apply()

from lavis.models.clip_models import pretrained as lavis_pretrained  # noqa: E402
from lavis.models.clip_models.model import CLIP, QuickGELU, load_openai_model  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from ahnpl_plugin.models.clip import trusted_archives  # noqa: E402
from ahnpl_plugin.models.clip import weights as clip_loading  # noqa: E402
from ahnpl_plugin.models.clip.model import AHNPLClip, check_model_config  # noqa: E402
from ahnpl_plugin.models.clip.architectures import TINY_ARCHITECTURE  # noqa: E402
from ahnpl_plugin.errors import PretrainedWeightsError  # noqa: E402

CAPTIONS = ["a red cube left of a blue ball", "two cats on a mat", "a !~ b"]


def tiny_cfg(**overrides):
    cfg = OmegaConf.load(AHNPLClip.default_config_path("tiny")).model
    for key, value in overrides.items():
        OmegaConf.update(cfg, key, value, force_add=True)
    return cfg


def reference_clip(quick_gelu: bool, seed: int = 7) -> CLIP:
    """A tiny LAVIS CLIP whose weights are exactly representable in float16 (as OpenAI ships them)."""
    torch.manual_seed(seed)
    clip = CLIP(**TINY_ARCHITECTURE, quick_gelu=quick_gelu)
    with torch.no_grad():
        for tensor in clip.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(tensor.half().float())
    return clip.eval()


def same_weights(clip: CLIP, quick_gelu: bool) -> CLIP:
    other = CLIP(**TINY_ARCHITECTURE, quick_gelu=quick_gelu)
    other.load_state_dict(clip.state_dict())
    return other.eval()


class _Holder(nn.Module):
    def forward(self):
        return torch.zeros(1)


def save_openai_archive(clip: CLIP, path) -> None:
    """Write ``clip`` as OpenAI ships CLIP: a TorchScript archive, float16 weights, marker entries."""
    state = {k: v.half() if v.is_floating_point() else v for k, v in clip.state_dict().items()}
    state.update(input_resolution=torch.tensor(32), context_length=torch.tensor(32), vocab_size=torch.tensor(49408))
    root = _Holder()
    for key, value in state.items():
        *parents, leaf = key.split(".")
        module = root
        for name in parents:
            if not hasattr(module, name):
                module.add_module(name, _Holder())
            module = getattr(module, name)
        module.register_buffer(leaf, value)
    torch.jit.save(torch.jit.script(root), str(path))


def features(model_or_clip, images, tokens):
    with torch.no_grad():
        clip = model_or_clip.clip if isinstance(model_or_clip, AHNPLClip) else model_or_clip
        return torch.cat([clip.encode_image(images), clip.encode_text(tokens)])


@pytest.fixture(scope="module")
def inputs():
    from lavis.models.clip_models.tokenizer import tokenize

    return torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)), tokenize(CAPTIONS, context_length=32)


def activations(model: AHNPLClip):
    return [m for m in model.clip.modules() if isinstance(m, (QuickGELU, nn.GELU))]


# ------------------------------------------------------------------------------------------------
# OpenAI weights: QuickGELU whichever way they come in
# ------------------------------------------------------------------------------------------------


def test_openai_archive_path_forces_quick_gelu_and_matches_lavis_loader(tmp_path, inputs, monkeypatch):
    reference = reference_clip(quick_gelu=True)
    path = tmp_path / "tiny-openai.pt"
    save_openai_archive(reference, path)
    # Put this archive on the shipped allow-list, as OpenAI's own releases are.
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setitem(trusted_archives.OPENAI_ARCHIVE_SHA256, sha, "tiny.pt")
    model = AHNPLClip.from_config(tiny_cfg(pretrained=str(path), quick_gelu=False)).eval()
    assert model.uses_quick_gelu and int(model.state_dict()["quick_gelu"]) == 1
    assert model.weights_provenance["format"] == "openai_torchscript" and model.weights_provenance["sha256"] == sha
    assert len(activations(model)) == 4 and all(isinstance(m, QuickGELU) for m in activations(model))
    ours = features(model, *inputs)
    assert torch.allclose(ours, features(reference, *inputs), atol=1e-6, rtol=0)
    lavis_own = load_openai_model(str(path), device="cpu", jit=False).eval()  # LAVIS's reader of archives
    assert torch.allclose(ours, features(lavis_own, *inputs), atol=1e-6, rtol=0)
    with_gelu = features(same_weights(reference, quick_gelu=False), *inputs)
    assert (ours - with_gelu).abs().max() > 1e-4  # the activation matters: the silent bug is real


def test_openai_layout_state_dict_forces_quick_gelu(tmp_path, inputs):
    reference = reference_clip(quick_gelu=True)
    state = dict(reference.state_dict(), input_resolution=torch.tensor(32), context_length=torch.tensor(32),
                 vocab_size=torch.tensor(49408))
    path = tmp_path / "openai_state.pt"
    torch.save(state, path)
    model = AHNPLClip.from_config(tiny_cfg(pretrained=str(path), quick_gelu=False)).eval()
    assert model.uses_quick_gelu
    assert torch.allclose(features(model, *inputs), features(reference, *inputs), atol=1e-6, rtol=0)


def test_openai_name_uses_cached_archive_offline(tmp_path, monkeypatch, inputs):
    reference = reference_clip(quick_gelu=True)
    cache = tmp_path / "home" / ".cache" / "clip"
    cache.mkdir(parents=True)
    save_openai_archive(reference, cache / "tiny.pt")
    sha = hashlib.sha256((cache / "tiny.pt").read_bytes()).hexdigest()
    # Pretend OpenAI published this tiny model, so the real 'openai' code path (LAVIS's cache and
    # SHA-256 check) runs; any network access fails the test.
    monkeypatch.setitem(lavis_pretrained._PRETRAINED, "tiny", {"openai": f"https://openaipublic.azureedge.net/clip/models/{sha}/tiny.pt"})
    monkeypatch.setattr(clip_loading, "OPENAI_TYPES", clip_loading.OPENAI_TYPES + ("tiny",))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("network used"))
    model = AHNPLClip.from_config(tiny_cfg(pretrained="openai", quick_gelu=False)).eval()
    assert model.uses_quick_gelu
    assert torch.allclose(features(model, *inputs), features(reference, *inputs), atol=1e-6, rtol=0)


def test_openai_name_without_cache_or_network_names_file_url_and_options(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    cfg = OmegaConf.load(AHNPLClip.default_config_path("ViT-B-32")).model
    expected = os.path.join(str(tmp_path), ".cache", "clip", "ViT-B-32.pt")
    for build in (check_model_config, AHNPLClip.from_config):
        with pytest.raises(PretrainedWeightsError) as info:
            build(cfg)
        message = str(info.value)
        assert expected in message and "missing" in message
        assert "https://openaipublic.azureedge.net/clip/models/" in message and "ViT-B-32.pt" in message
        assert "TorchScript archive" in message and "state dict" in message and "random initialisation" in message
    with pytest.raises(PretrainedWeightsError, match="no weights for model_type 'tiny'.*ViT-B-32, ViT-B-16"):
        check_model_config(tiny_cfg(pretrained="openai"))


# ------------------------------------------------------------------------------------------------
# State dicts
# ------------------------------------------------------------------------------------------------


def test_torchscript_archive_not_on_allow_list_is_refused_unless_trusted(tmp_path, inputs):
    reference = reference_clip(quick_gelu=True)
    path = tmp_path / "someones-archive.pt"
    save_openai_archive(reference, path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(PretrainedWeightsError, match=f"TorchScript archive with SHA-256 {sha}.*model.trust_code: true"):
        AHNPLClip.from_config(tiny_cfg(pretrained=str(path)))
    model = AHNPLClip.from_config(tiny_cfg(pretrained=str(path), trust_code=True)).eval()
    assert model.uses_quick_gelu and model.weights_provenance["details"]["origin"].startswith("TorchScript archive")
    assert torch.allclose(features(model, *inputs), features(reference, *inputs), atol=1e-6, rtol=0)


def test_allow_list_is_the_hashes_in_openai_download_urls():
    import inspect
    import re

    # Every OpenAI URL in LAVIS's pretrained.py (RN50x64 is defined there but not registered).
    urls = re.findall(r"https://openaipublic\.azureedge\.net/clip/models/[0-9a-f]{64}/[\w.-]+\.pt",
                      inspect.getsource(lavis_pretrained))
    from_urls = {url.split("/")[-2]: url.split("/")[-1] for url in urls}
    assert from_urls == trusted_archives.OPENAI_ARCHIVE_SHA256 and len(from_urls) == 9


@pytest.mark.parametrize("layout", ["bare", "open_clip_ddp", "ahnpl_runner"])
def test_state_dict_paths_load_exactly(tmp_path, inputs, layout):
    reference = reference_clip(quick_gelu=False, seed=11)
    state = reference.state_dict()
    if layout == "open_clip_ddp":
        state = {"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}}
    elif layout == "ahnpl_runner":
        state = {"model": {**{f"clip.{k}": v for k, v in state.items()}, "loss.thresholds": torch.zeros(5),
                           "quick_gelu": torch.tensor(0, dtype=torch.uint8)}, "config": {}}
    path = tmp_path / "weights.pth"
    torch.save(state, path)
    act = {} if layout == "ahnpl_runner" else {"act": "gelu"}  # only our checkpoints record it
    model = AHNPLClip.from_config(tiny_cfg(pretrained=str(path), **act)).eval()
    assert not model.uses_quick_gelu
    assert torch.equal(features(model, *inputs), features(reference, *inputs))


def test_plain_state_dict_needs_explicit_act_and_recorded_one_cannot_be_contradicted(tmp_path, inputs):
    reference = reference_clip(quick_gelu=True, seed=12)
    path = tmp_path / "epoch_5.pt"
    torch.save(reference.state_dict(), path)
    for quick_gelu in (True, False):  # model.quick_gelu (a YAML default) is no answer for a file
        with pytest.raises(PretrainedWeightsError, match="does not record whether it ran QuickGELU or GELU: set model.act"):
            AHNPLClip.from_config(tiny_cfg(pretrained=str(path), quick_gelu=quick_gelu))
    model = AHNPLClip.from_config(tiny_cfg(pretrained=str(path), act="quick_gelu")).eval()
    assert model.uses_quick_gelu and model.weights_provenance["act_source"] == "model.act"
    assert torch.allclose(features(model, *inputs), features(reference, *inputs), atol=1e-6, rtol=0)
    assert not AHNPLClip.from_config(tiny_cfg(pretrained=str(path), act="gelu")).uses_quick_gelu
    recorded = tmp_path / "ahnpl.pth"
    torch.save({"model": {**{f"clip.{k}": v for k, v in reference.state_dict().items()},
                          "quick_gelu": torch.tensor(1, dtype=torch.uint8)}}, recorded)
    assert AHNPLClip.from_config(tiny_cfg(pretrained=str(recorded), quick_gelu=False)).uses_quick_gelu
    with pytest.raises(PretrainedWeightsError, match="model.act: gelu contradicts .* ran QuickGELU"):
        AHNPLClip.from_config(tiny_cfg(pretrained=str(recorded), act="gelu"))


def test_missing_weights_file_names_path_and_options(tmp_path):
    missing = tmp_path / "nowhere" / "ViT-B-32.pt"
    for build in (check_model_config, AHNPLClip.from_config):
        with pytest.raises(PretrainedWeightsError) as info:
            build(tiny_cfg(pretrained=str(missing)))
        message = str(info.value)
        assert f"file not found: {missing}" in message
        assert "'openai'" in message and "TorchScript archive" in message and "'' for random initialisation" in message


def test_wrong_architecture_and_junk_files_are_rejected(tmp_path):
    path = tmp_path / "tiny.pt"
    torch.save(reference_clip(quick_gelu=False).state_dict(), path)
    cfg = OmegaConf.load(AHNPLClip.default_config_path("ViT-B-32")).model
    cfg.pretrained = str(path)
    with pytest.raises(PretrainedWeightsError, match=r"does not fit model_type 'ViT-B-32': .*the file fits model_type tiny"):
        AHNPLClip.from_config(cfg)
    junk = tmp_path / "notes.txt"
    junk.write_text("not weights")
    with pytest.raises(PretrainedWeightsError, match="cannot be read as a torch checkpoint"):
        AHNPLClip.from_config(tiny_cfg(pretrained=str(junk)))
    import argparse

    torch.save({"state_dict": reference_clip(quick_gelu=False).state_dict(), "args": argparse.Namespace(lr=1)},
               tmp_path / "with_args.pt")
    with pytest.raises(PretrainedWeightsError, match=r"argparse.Namespace.*model.trust_code: true"):
        AHNPLClip.from_config(tiny_cfg(pretrained=str(tmp_path / "with_args.pt"), act="gelu"))
    assert AHNPLClip.from_config(tiny_cfg(pretrained=str(tmp_path / "with_args.pt"), act="gelu", trust_code=True))
    import numpy as np

    torch.save({"epoch": np.int64(5), "best": np.float64(0.8), "curve": np.arange(3.0),
                "state_dict": reference_clip(quick_gelu=False).state_dict()}, tmp_path / "numpy_values.pt")
    assert AHNPLClip.from_config(tiny_cfg(pretrained=str(tmp_path / "numpy_values.pt"), act="gelu"))  # data, not code
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(PretrainedWeightsError, match="not a state dict"):
        AHNPLClip.from_config(tiny_cfg(pretrained=str(tmp_path / "list.pt")))
