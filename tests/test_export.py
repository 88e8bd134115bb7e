"""Tests of ``python -m ahnpl_plugin.export``: an ahnpl_clip checkpoint becomes an open_clip state
dict + architecture JSON that LAVIS's own ``create_model`` reloads with identical features, under the
model name that selects the right activation (``-quickgelu`` for OpenAI-initialised weights)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ahnpl_plugin import compat

compat.apply()

import lavis.models.clip_models.model as lavis_clip  # noqa: E402
from lavis.models.clip_models.model import QuickGELU  # noqa: E402
from lavis.models.clip_models.tokenizer import tokenize  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from ahnpl_plugin.export import export_open_clip, main, open_clip_model_name  # noqa: E402
from ahnpl_plugin.models.clip.model import AHNPLClip  # noqa: E402
from ahnpl_plugin.models.clip.architectures import OPENAI_TYPES, architecture  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CAPTIONS = ["a red cube left of a blue ball", "a blue cube left of a red ball", "two cats"]


def fine_tuned_tiny(quick_gelu: bool) -> AHNPLClip:
    """A tiny ahnpl_clip after one optimiser step (so the weights are not the initial ones)."""
    torch.manual_seed(21)
    cfg = OmegaConf.load(AHNPLClip.default_config_path("tiny")).model
    cfg.quick_gelu = quick_gelu
    model = AHNPLClip.from_config(cfg)
    samples = {"image": torch.randn(3, 3, 32, 32), "text_input": CAPTIONS,
               "hard_negatives": [["a ball left of a cube"] * 5] * 3, "hard_negative_mask": torch.ones(3, 5, dtype=torch.bool)}
    optimizer = torch.optim.AdamW(model.get_optimizer_params(0.1), lr=1e-3)
    model(samples)["loss"].backward()
    optimizer.step()
    return model.eval()


def runner_checkpoint(model: AHNPLClip, path: Path, quick_gelu: bool) -> None:
    """What LAVIS's RunnerBase._save_checkpoint writes."""
    config = {"run": {"task": "retrieval"}, "model": {"arch": "ahnpl_clip", "model_type": "tiny", "quick_gelu": quick_gelu}}
    torch.save({"model": model.state_dict(), "optimizer": {}, "config": config, "scaler": None, "epoch": 0}, path)


@pytest.fixture
def lavis_model_registry(monkeypatch):
    """Let a test register architecture JSONs with LAVIS without leaking them to other tests."""
    monkeypatch.setattr(lavis_clip, "_MODEL_CONFIG_PATHS", list(lavis_clip._MODEL_CONFIG_PATHS))
    monkeypatch.setattr(lavis_clip, "_MODEL_CONFIGS", dict(lavis_clip._MODEL_CONFIGS))


@pytest.mark.slow  # subprocess
def test_cli_round_trip_into_lavis_create_model(tmp_path, lavis_model_registry):
    model = fine_tuned_tiny(quick_gelu=True)
    checkpoint = tmp_path / "checkpoint_best.pth"
    runner_checkpoint(model, checkpoint, quick_gelu=True)
    out = tmp_path / "export" / "tiny_open_clip.pt"
    done = subprocess.run(
        [sys.executable, "-m", "ahnpl_plugin.export", "--checkpoint", str(checkpoint), "--format", "open_clip", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "open_clip model name: ahnpl-clip-tiny-quickgelu" in done.stdout
    config_file = out.parent / "ahnpl-clip-tiny-quickgelu.json"
    assert json.loads(config_file.read_text())["quick_gelu"] is True
    state = torch.load(out, map_location="cpu")
    assert set(state) == set(model.clip.state_dict())  # open_clip names: no clip. prefix, no loss state

    lavis_clip.add_model_config(str(config_file))
    reloaded = lavis_clip.create_model("ahnpl-clip-tiny-quickgelu", pretrained=str(out)).eval()
    assert all(isinstance(m, QuickGELU) for m in reloaded.transformer.modules() if isinstance(m, (QuickGELU, torch.nn.GELU)))
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    tokens = tokenize(CAPTIONS, context_length=32)
    with torch.no_grad():
        assert torch.equal(reloaded.encode_image(images), model.clip.encode_image(images))
        assert torch.equal(reloaded.encode_text(tokens), model.clip.encode_text(tokens))
        lavis_text = torch.nn.functional.normalize(reloaded.encode_text(tokens), dim=-1)
        assert torch.allclose(lavis_text, model.encode_text(CAPTIONS), atol=1e-5, rtol=0)
        assert torch.equal(reloaded.logit_scale, model.logit_scale)


def test_bare_state_dict_infers_type_and_keeps_recorded_activation(tmp_path, capsys):
    model = fine_tuned_tiny(quick_gelu=False)
    bare = tmp_path / "bare.pth"
    torch.save(model.state_dict(), bare)
    assert main(["--checkpoint", str(bare), str(tmp_path / "out.pt")]) == 0
    assert "open_clip model name: ahnpl-clip-tiny\n" in capsys.readouterr().out
    written = json.loads((tmp_path / "ahnpl-clip-tiny.json").read_text())
    assert written == {**architecture("tiny"), "quick_gelu": False}
    assert main(["--checkpoint", str(bare), "--quick-gelu", str(tmp_path / "out2.pt")]) == 2
    assert "was trained with GELU; --quick-gelu contradicts it" in capsys.readouterr().err


def test_state_dict_without_activation_record_states_its_assumption(tmp_path, capsys):
    model = fine_tuned_tiny(quick_gelu=False)
    plain = tmp_path / "clip_only.pt"
    torch.save(model.clip.state_dict(), plain)
    result = export_open_clip(str(plain), str(tmp_path / "a.pt"))
    assert (result.model_type, result.quick_gelu, result.model_name) == ("tiny", False, "ahnpl-clip-tiny")
    assert "does not record its activation; assuming GELU" in capsys.readouterr().err
    assert export_open_clip(str(plain), str(tmp_path / "b.pt"), quick_gelu=True).model_name == "ahnpl-clip-tiny-quickgelu"


def test_openai_type_names_match_lavis_quickgelu_configs():
    for model_type in OPENAI_TYPES:
        assert open_clip_model_name(model_type, True) == f"{model_type}-quickgelu"
        assert open_clip_model_name(model_type, False) == model_type
    for model_type in ("ViT-B-32", "RN50"):  # the -quickgelu configs LAVIS ships: same JSON as ours
        assert lavis_clip._MODEL_CONFIGS[f"{model_type}-quickgelu"] == {**architecture(model_type), "quick_gelu": True}


def test_bad_inputs_exit_2_with_a_message(tmp_path, capsys):
    assert main(["--checkpoint", str(tmp_path / "missing.pth"), str(tmp_path / "o.pt")]) == 2
    assert "--checkpoint: file not found" in capsys.readouterr().err
    torch.save({"model": {"clip.visual.proj": torch.zeros(3, 3)}}, tmp_path / "odd.pth")
    assert main(["--checkpoint", str(tmp_path / "odd.pth"), str(tmp_path / "o.pt")]) == 2
    assert "cannot tell the model type" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "o.pt")


def test_export_loads_in_open_clip_itself(tmp_path):
    import open_clip  # requirements/env.txt pins open_clip_torch for this cross-check
    model = fine_tuned_tiny(quick_gelu=True)
    checkpoint = tmp_path / "checkpoint.pth"
    runner_checkpoint(model, checkpoint, quick_gelu=True)
    result = export_open_clip(str(checkpoint), str(tmp_path / "open_clip.pt"))
    open_clip.add_model_config(result.config_path)
    other = open_clip.create_model(result.model_name, pretrained=result.state_dict_path).eval()
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    tokens = open_clip.get_tokenizer(result.model_name)(CAPTIONS)
    with torch.no_grad():
        image = torch.nn.functional.normalize(other.encode_image(images), dim=-1)
        text = torch.nn.functional.normalize(other.encode_text(tokens), dim=-1)
        assert torch.allclose(image, model.encode_image(images), atol=1e-5, rtol=0)
        assert torch.allclose(text, model.encode_text(CAPTIONS), atol=1e-5, rtol=0)
    for model_type in OPENAI_TYPES:  # open_clip knows every name we print for OpenAI-initialised runs
        assert open_clip_model_name(model_type, True) in open_clip.list_models()


@pytest.mark.slow
def test_the_printed_load_snippet_runs_as_printed(tmp_path, capsys):
    """The printed load line failed for tiny: open_clip needs the JSON registered first."""
    import open_clip  # noqa: F401  (requirements/env.txt pins it; the snippet below imports it)
    model = fine_tuned_tiny(quick_gelu=False)
    checkpoint = tmp_path / "checkpoint.pth"
    runner_checkpoint(model, checkpoint, quick_gelu=False)
    assert main(["--checkpoint", str(checkpoint), "--format", "open_clip", str(tmp_path / "out" / "tiny.pt")]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = lines.index("load (complete Python; the model config must be registered before create_model):") + 1
    snippet = "\n".join(lines[start:start + 4])
    assert snippet.startswith("import open_clip\nopen_clip.add_model_config(")
    check = snippet + (
        "\nimport torch"
        "\nfrom PIL import Image"
        "\nimage = preprocess(Image.new('RGB', (40, 30), (200, 30, 30))).unsqueeze(0)"
        "\nwith torch.no_grad():"
        "\n    print(model.eval().encode_image(image).norm().item(), tokenizer(['a red cube']).shape[1])"
    )
    done = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    norm, context = done.stdout.split()
    assert int(context) == 32  # the tiny type's text context, from the registered JSON
    from PIL import Image
    from lavis.processors.clip_processors import ClipImageEvalProcessor

    image = ClipImageEvalProcessor(image_size=32)(Image.new("RGB", (40, 30), (200, 30, 30))).unsqueeze(0)
    with torch.no_grad():
        assert float(norm) == pytest.approx(model.clip.encode_image(image).norm().item(), rel=1e-4)
