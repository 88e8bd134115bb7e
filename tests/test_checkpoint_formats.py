"""Every published CLIP checkpoint format through ``model.pretrained``, checked against the source
implementation: a Hugging Face ``CLIPModel`` folder (transformers), open_clip state dicts and hub
folders (open_clip itself, when installed), safetensors with our metadata, a WiSE patch and a LoRA
merge at load. Each format is written from a random model by the library that defines it; features
of the loaded ``ahnpl_clip`` must equal that library's to 1e-5."""

from __future__ import annotations

import json

import pytest
import torch

from ahnpl_plugin import compat

compat.apply()

from lavis.models.clip_models.model import CLIP  # noqa: E402
from lavis.models.clip_models.tokenizer import tokenize  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import CLIPConfig, CLIPModel  # noqa: E402

from ahnpl_plugin.models.clip.model import AHNPLClip  # noqa: E402
from ahnpl_plugin.models.clip.architectures import TINY_ARCHITECTURE, architecture  # noqa: E402
from ahnpl_plugin.errors import PretrainedWeightsError  # noqa: E402
from ahnpl_plugin.models.clip.hf_layout import hf_config_dict, open_clip_to_hf  # noqa: E402

CAPTIONS = ["a red cube left of a blue ball", "the dog is not under the table", "café au lait — naïve 🍵 ok"]
ATOL = 1e-5


def cfg(model_type="tiny", **overrides):
    model = OmegaConf.load(AHNPLClip.default_config_path(model_type)).model
    for key, value in overrides.items():
        OmegaConf.update(model, key, value, force_add=True)
    return model


def inputs(image_size=32, context=32, n_images=2):
    images = torch.randn(n_images, 3, image_size, image_size, generator=torch.Generator().manual_seed(0))
    return images, tokenize(CAPTIONS, context_length=context)


def our_features(model: AHNPLClip, images, tokens):
    with torch.no_grad():
        return model.clip.encode_image(images), model.clip.encode_text(tokens)


def random_hf(arch: dict, quick_gelu: bool, seed: int = 3) -> CLIPModel:
    torch.manual_seed(seed)
    return CLIPModel(CLIPConfig(**hf_config_dict(arch, quick_gelu, 2.6592))).eval()


def hf_features(hf: CLIPModel, images, tokens):
    with torch.no_grad():
        return hf.get_image_features(pixel_values=images), hf.get_text_features(input_ids=tokens)


def assert_close(ours, theirs):
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape and torch.allclose(a, b, atol=ATOL, rtol=0), (a - b).abs().max()


# ------------------------------------------------------------------------------------------------
# Hugging Face CLIPModel folders (READ-CLIP, CLIC)
# ------------------------------------------------------------------------------------------------


@pytest.mark.slow  # cross-check: builds the model in transformers too
@pytest.mark.parametrize("act", ["quick_gelu", "gelu"])
@pytest.mark.parametrize("safe", [True, False])
def test_hf_clipmodel_folder_matches_transformers(tmp_path, act, safe):
    hf = random_hf(TINY_ARCHITECTURE, act == "quick_gelu")
    hf.save_pretrained(tmp_path / "hf", safe_serialization=safe)
    assert (tmp_path / "hf" / ("model.safetensors" if safe else "pytorch_model.bin")).is_file()
    model = AHNPLClip.from_config(cfg(pretrained=str(tmp_path / "hf"), quick_gelu=act != "quick_gelu")).eval()
    assert model.uses_quick_gelu == (act == "quick_gelu")
    prov = model.weights_provenance
    assert (prov["format"], prov["act"], prov["act_source"]) == ("hf_clip", act, "config.json hidden_act")
    assert_close(our_features(model, *inputs()), hf_features(hf, *inputs()))


def test_hf_folder_act_contradiction_and_non_clip_config_are_errors(tmp_path):
    random_hf(TINY_ARCHITECTURE, quick_gelu=False).save_pretrained(tmp_path / "hf")
    with pytest.raises(PretrainedWeightsError, match="model.act: quick_gelu contradicts .* ran GELU .*hidden_act"):
        AHNPLClip.from_config(cfg(pretrained=str(tmp_path / "hf"), act="quick_gelu"))
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    (tmp_path / "hf" / "config.json").write_text(json.dumps({**config, "model_type": "siglip"}))
    with pytest.raises(PretrainedWeightsError, match="model_type 'siglip', not a CLIPModel"):
        AHNPLClip.from_config(cfg(pretrained=str(tmp_path / "hf")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(PretrainedWeightsError, match="neither an open_clip hub folder .* nor a HF CLIPModel folder"):
        AHNPLClip.from_config(cfg(pretrained=str(tmp_path / "empty")))


def test_hf_folder_of_another_size_names_the_type_it_fits(tmp_path):
    random_hf(TINY_ARCHITECTURE, quick_gelu=True).save_pretrained(tmp_path / "hf")
    with pytest.raises(PretrainedWeightsError, match=r"does not fit model_type 'ViT-B-32'.*fits model_type tiny"):
        AHNPLClip.from_config(cfg("ViT-B-32", pretrained=str(tmp_path / "hf")))


def test_hf_layout_state_dict_without_config_needs_act(tmp_path):
    hf = random_hf(TINY_ARCHITECTURE, quick_gelu=True)
    torch.save(hf.state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(PretrainedWeightsError, match="HF CLIPModel state dict.*set model.act"):
        AHNPLClip.from_config(cfg(pretrained=str(tmp_path / "pytorch_model.bin")))
    model = AHNPLClip.from_config(cfg(pretrained=str(tmp_path / "pytorch_model.bin"), act="quick_gelu")).eval()
    assert_close(our_features(model, *inputs()), hf_features(hf, *inputs()))


# ------------------------------------------------------------------------------------------------
# open_clip state dicts and hub folders (NegCLIP, CE-CLIP, CLoVe, FSC-CLIP, DeGLA, AHNPL)
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def open_clip():
    import open_clip  # requirements/env.txt pins open_clip_torch for these cross-checks

    return open_clip


def open_clip_tiny(open_clip, quick_gelu: bool, seed: int = 5):
    torch.manual_seed(seed)
    return open_clip.model.CLIP(**TINY_ARCHITECTURE, quick_gelu=quick_gelu).eval()


def open_clip_features(model, images, tokens):
    with torch.no_grad():
        return model.encode_image(images), model.encode_text(tokens)


@pytest.mark.slow  # cross-check: builds the model in open_clip too
@pytest.mark.parametrize("nesting", ["bare", "training_checkpoint"])
def test_open_clip_state_dict_needs_act_then_matches_open_clip(tmp_path, open_clip, nesting):
    reference = open_clip_tiny(open_clip, quick_gelu=True)
    state = reference.state_dict()
    if nesting == "training_checkpoint":  # open_clip's train.py: {"epoch", "name", "state_dict" (DDP), "optimizer"}
        state = {"epoch": 5, "name": "negclip", "state_dict": {f"module.{k}": v for k, v in state.items()},
                 "optimizer": {"state": {}, "param_groups": [{"lr": 1e-6, "params": [0]}]}}
    path = tmp_path / "epoch_5.pt"
    torch.save(state, path)
    with pytest.raises(PretrainedWeightsError, match="does not record whether it ran QuickGELU or GELU"):
        AHNPLClip.from_config(cfg(pretrained=str(path)))
    model = AHNPLClip.from_config(cfg(pretrained=str(path), act="quick_gelu")).eval()
    assert_close(our_features(model, *inputs()), open_clip_features(reference, *inputs()))
    wrong = AHNPLClip.from_config(cfg(pretrained=str(path), act="gelu")).eval()  # what a wrong guess does
    assert (our_features(wrong, *inputs())[1] - open_clip_features(reference, *inputs())[1]).abs().max() > 1e-3


def write_open_clip_hub(folder, model, model_cfg: dict) -> None:
    """The layout open_clip's push_to_hf_hub.save_for_hf writes (config + safetensors)."""
    folder.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, folder / "open_clip_model.safetensors")
    config = {"model_cfg": model_cfg, "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073],
                                                         "std": [0.26862954, 0.26130258, 0.27577711]}}
    (folder / "open_clip_config.json").write_text(json.dumps(config))


@pytest.mark.slow  # cross-check: builds the model in open_clip too
@pytest.mark.parametrize("quick_gelu", [True, False])
def test_open_clip_hub_folder_matches_open_clip(tmp_path, open_clip, quick_gelu):
    reference = open_clip_tiny(open_clip, quick_gelu)
    model_cfg = {**TINY_ARCHITECTURE, **({"quick_gelu": True} if quick_gelu else {})}  # absent = GELU in open_clip
    write_open_clip_hub(tmp_path / "hub", reference, model_cfg)
    reloaded = open_clip.create_model(f"local-dir:{tmp_path / 'hub'}").eval()  # open_clip reads our stand-in
    assert_close(open_clip_features(reloaded, *inputs()), open_clip_features(reference, *inputs()))
    model = AHNPLClip.from_config(cfg(pretrained=str(tmp_path / "hub"))).eval()
    assert model.uses_quick_gelu == quick_gelu and model.weights_provenance["format"] == "open_clip_hub"
    assert_close(our_features(model, *inputs()), open_clip_features(reference, *inputs()))


def test_safetensors_file_with_our_act_metadata_needs_no_act(tmp_path):
    torch.manual_seed(4)
    reference = CLIP(**TINY_ARCHITECTURE, quick_gelu=True).eval()
    save_file(reference.state_dict(), tmp_path / "w.safetensors", metadata={"act": "quick_gelu"})
    model = AHNPLClip.from_config(cfg(pretrained=str(tmp_path / "w.safetensors"))).eval()
    assert model.uses_quick_gelu and model.weights_provenance["act_source"] == "safetensors metadata 'act'"
    assert_close(our_features(model, *inputs()), our_features(AHNPLClip(reference, model.loss, "tiny", True), *inputs()))
    save_file(reference.state_dict(), tmp_path / "plain.safetensors")
    with pytest.raises(PretrainedWeightsError, match="set model.act"):
        AHNPLClip.from_config(cfg(pretrained=str(tmp_path / "plain.safetensors")))


# ------------------------------------------------------------------------------------------------
# WiSE patch (CLoVe) and LoRA merge (DAC)
# ------------------------------------------------------------------------------------------------


def tiny_state(seed: int) -> dict:
    torch.manual_seed(seed)
    return CLIP(**TINY_ARCHITECTURE, quick_gelu=True).state_dict()


def test_wise_patch_interpolates_with_the_base_weights(tmp_path):
    base, tuned = tiny_state(1), tiny_state(2)
    openai_like = dict(base, input_resolution=torch.tensor(32), context_length=torch.tensor(32), vocab_size=torch.tensor(49408))
    torch.save(openai_like, tmp_path / "base.pt")  # OpenAI-format: QuickGELU
    torch.save({"epoch": 10, "state_dict": tuned}, tmp_path / "clove_without_patching.pt")
    patch = {"base": str(tmp_path / "base.pt"), "alpha": 0.6}
    model = AHNPLClip.from_config(cfg(pretrained=str(tmp_path / "clove_without_patching.pt"), act="quick_gelu",
                                      pretrained_patch=patch))
    got = model.clip.state_dict()
    key = "transformer.resblocks.0.mlp.c_fc.weight"
    assert torch.allclose(got[key], 0.4 * base[key] + 0.6 * tuned[key], atol=1e-7, rtol=0)
    assert torch.allclose(got["logit_scale"], 0.4 * base["logit_scale"] + 0.6 * tuned["logit_scale"])
    assert model.weights_provenance["patch"] == {"base": patch["base"], "alpha": 0.6}
    with pytest.raises(PretrainedWeightsError, match="ran QuickGELU, the fine-tuned weights GELU"):
        AHNPLClip.from_config(cfg(pretrained=str(tmp_path / "clove_without_patching.pt"), act="gelu", pretrained_patch=patch))
    with pytest.raises(Exception, match=r"alpha must be a number in \[0, 1\]"):
        AHNPLClip.from_config(cfg(pretrained=str(tmp_path / "base.pt"), pretrained_patch={"base": "openai", "alpha": 6}))


def test_lora_merge_adds_scaled_deltas_under_open_clip_and_hf_names(tmp_path):
    state = tiny_state(3)
    torch.save(state, tmp_path / "base.pt")
    g = torch.Generator().manual_seed(9)
    a1, b1 = torch.randn(4, 128, generator=g), torch.randn(512, 4, generator=g)  # c_fc: [512, 128]
    a2, b2 = torch.randn(4, 128, generator=g), torch.randn(128, 4, generator=g)  # q_proj: [128, 128]
    lora = {"transformer.resblocks.0.mlp.c_fc.lora_A": a1, "transformer.resblocks.0.mlp.c_fc.lora_B": b1,
            "base_model.model.vision_model.encoder.layers.1.self_attn.q_proj.lora_A.weight": a2,
            "base_model.model.vision_model.encoder.layers.1.self_attn.q_proj.lora_B.weight": b2}
    save_file(lora, tmp_path / "lora.safetensors")
    model = AHNPLClip.from_config(cfg(pretrained=str(tmp_path / "base.pt"), act="quick_gelu",
                                      pretrained_lora={"path": str(tmp_path / "lora.safetensors"), "scale": 0.5}))
    got = model.clip.state_dict()
    key = "transformer.resblocks.0.mlp.c_fc.weight"
    assert torch.allclose(got[key], state[key] + 0.5 * b1 @ a1, atol=1e-5, rtol=0)
    key = "visual.transformer.resblocks.1.attn.in_proj_weight"
    assert torch.allclose(got[key][:128], state[key][:128] + 0.5 * b2 @ a2, atol=1e-5, rtol=0)
    assert torch.equal(got[key][128:], state[key][128:])  # k and v untouched
    assert model.weights_provenance["lora"]["merged"] == 2
    with pytest.raises(PretrainedWeightsError, match="no scale"):
        AHNPLClip.from_config(cfg(pretrained=str(tmp_path / "base.pt"), act="quick_gelu",
                                  pretrained_lora=str(tmp_path / "lora.safetensors")))


# ------------------------------------------------------------------------------------------------
# ViT-B-32 at full size (random weights): the name mapping at 12 layers, 224 px, 77 tokens
# ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_vit_b32_hf_folder_and_open_clip_state_dict_match_their_libraries(tmp_path):
    torch.set_num_threads(1)
    images, tokens = inputs(image_size=224, context=77, n_images=1)
    hf = random_hf(architecture("ViT-B-32"), quick_gelu=True)
    hf.save_pretrained(tmp_path / "hf")
    model = AHNPLClip.from_config(cfg("ViT-B-32", pretrained=str(tmp_path / "hf"))).eval()
    assert_close(our_features(model, images, tokens), hf_features(hf, images, tokens))
    del hf
    try:
        import open_clip
    except ImportError:
        return
    reference = open_clip.create_model("ViT-B-32").eval()  # GELU, as LAION's ViT-B-32
    torch.save({"state_dict": reference.state_dict()}, tmp_path / "oc.pt")
    model = AHNPLClip.from_config(cfg("ViT-B-32", pretrained=str(tmp_path / "oc.pt"), act="gelu")).eval()
    assert_close(our_features(model, images, tokens), open_clip_features(reference, images, tokens))
    assert set(open_clip_to_hf(model.clip.state_dict())) <= set(CLIPModel(CLIPConfig(**hf_config_dict(
        architecture("ViT-B-32"), True, 2.6592))).state_dict())


def test_finetuned_checkpoint_records_its_provenance(tmp_path):
    torch.manual_seed(6)
    model = AHNPLClip.from_config(cfg(quick_gelu=True))
    torch.save({"model": model.state_dict(), "config": {}}, tmp_path / "best.pth")
    again = AHNPLClip.from_config(cfg(load_finetuned=True, finetuned=str(tmp_path / "best.pth"), quick_gelu=False))
    prov = again.weights_provenance
    assert again.uses_quick_gelu and (prov["format"], prov["act"]) == ("ahnpl_checkpoint", "quick_gelu")
    assert prov["source"] == str(tmp_path / "best.pth") and prov["act_source"] == "the checkpoint's quick_gelu entry"
