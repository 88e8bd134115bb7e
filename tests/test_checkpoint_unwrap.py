"""One checkpoint reader for every caller: {"model"|"state_dict": ...} unwrapped and DDP's
``module.`` prefix removed in models/checkpoint_formats.py; weights_only unless trust_code."""

import argparse

import pytest
import torch

from ahnpl_plugin.errors import BlipWeightsError, ConfigError, PretrainedWeightsError, UserError
from ahnpl_plugin.models.checkpoint_formats import load_pickle, state_dict_of, unwrap_state_dict

A, B = torch.tensor([1.0, 2.0]), torch.tensor([[3.0]])


def plain(found):
    """A state dict (or a (state, key) pair) with tensors as lists, comparable with ==."""
    if isinstance(found, tuple):
        return plain(found[0]), found[1]
    return None if found is None else {k: (v.tolist() if torch.is_tensor(v) else plain(v)) for k, v in found.items()}


def test_state_dict_of_known_answers():
    a, b = A.tolist(), B.tolist()
    assert plain(state_dict_of({"module.a": A, "b": B})) == ({"a": a, "b": b}, None)
    assert plain(state_dict_of({"model": {"module.a": A}, "epoch": 3})) == ({"a": a}, "model")
    assert plain(state_dict_of({"state_dict": {"module.a": A}, "epoch": 3})) == ({"a": a}, "state_dict")
    # "model" wins over "state_dict"; only a leading module. goes
    assert plain(state_dict_of({"model": {"x.module.a": A}, "state_dict": {"b": B}})) == ({"x.module.a": a}, "model")
    assert plain(state_dict_of({"state_dict": {"b": B}}, keys=("model",))) == ({"state_dict": {"b": b}}, None)
    assert state_dict_of([A]) == (None, None)
    assert state_dict_of({1: A}) == (None, None)


def test_every_caller_reads_the_same_wrapped_ddp_checkpoint(tmp_path):
    from ahnpl_plugin.export import _read_checkpoint as export_read
    from ahnpl_plugin.models.blip.weights import read_checkpoint as blip_read
    from ahnpl_plugin.models.clip.model import _read_checkpoint as clip_read
    from ahnpl_plugin.wise import read_runner_checkpoint

    path = tmp_path / "ddp.pth"
    config = {"model": {"arch": "ahnpl_clip", "model_type": "ViT-B-32"}}
    torch.save({"model": {"module.clip.a": A, "module.clip.b": B}, "config": config, "epoch": 1}, path)
    expected = {"clip.a": A.tolist(), "clip.b": B.tolist()}
    assert plain(clip_read(str(path))[0]) == expected
    blip = blip_read(str(path), "finetuned")
    assert plain(blip.state) == expected and (blip.arch, blip.model_type) == ("ahnpl_clip", "ViT-B-32")
    assert plain(read_runner_checkpoint(str(path))["model"]) == expected
    state, _, run_config, _ = export_read(str(path))
    assert plain(state) == expected and run_config == config
    loaded = unwrap_state_dict(load_pickle(str(path)), str(path))
    assert plain(loaded.state_dict) == {"a": A.tolist(), "b": B.tolist()}
    assert (loaded.origin, loaded.format) == ("ahnpl_clip checkpoint", "ahnpl_checkpoint")


def test_open_clip_training_checkpoint_is_unwrapped_from_state_dict(tmp_path):
    path = tmp_path / "epoch_3.pt"
    torch.save({"epoch": 3, "name": "run", "state_dict": {"module.a": A}}, path)
    loaded = unwrap_state_dict(load_pickle(str(path)), str(path))
    assert (plain(loaded.state_dict), loaded.origin) == ({"a": A.tolist()}, "open_clip training checkpoint")
    from ahnpl_plugin.models.clip.model import _read_checkpoint as clip_read

    assert plain(clip_read(str(path))[0]) == {"a": A.tolist()}


def test_pickled_objects_are_refused_by_every_caller_with_its_own_error(tmp_path):
    from ahnpl_plugin.models.blip.weights import read_checkpoint as blip_read
    from ahnpl_plugin.runner import _load_safely
    from ahnpl_plugin.wise import read_runner_checkpoint

    path = tmp_path / "objects.pth"
    torch.save({"model": {"a": A}, "args": argparse.Namespace(lr=0.1)}, path)
    with pytest.raises(PretrainedWeightsError, match=r"holds Python objects besides tensors \(argparse\.Namespace\).*"
                                                     r"set model\.trust_code: true"):
        load_pickle(str(path))
    assert load_pickle(str(path), trust_code=True)["args"].lr == 0.1
    with pytest.raises(BlipWeightsError, match=r"^model\.finetuned: .*objects\.pth: holds Python objects.*"
                                                r"model\.trust_code: true"):
        blip_read(str(path), "finetuned")
    assert plain(blip_read(str(path), "finetuned", trust_code=True).state) == {"a": A.tolist()}  # BLIP's opt-in
    with pytest.raises(ConfigError, match=r"objects\.pth: holds Python objects .* not a checkpoint of this runner"):
        _load_safely(path)
    with pytest.raises(UserError, match=r"objects\.pth: holds Python objects"):
        read_runner_checkpoint(str(path))
    (tmp_path / "cut.pth").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ConfigError, match=r"cut\.pth: cannot be read as a torch checkpoint"):
        _load_safely(tmp_path / "cut.pth")
