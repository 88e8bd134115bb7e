"""Tests of the ``ahnpl_clip`` LAVIS model: building every type, the training forward (gradients,
one text pass, invalid negatives never encoded, outputs), exact trimmed-length text encoding, config
validation, optimiser groups, logit-scale clamp, retrieval evaluation and fine-tuned checkpoints."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ahnpl_plugin import compat

compat.apply()

from lavis.common.registry import registry  # noqa: E402
from lavis.models.clip_models.model import CLIP, QuickGELU  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from ahnpl_plugin.errors import ConfigError  # noqa: E402
from ahnpl_plugin.models.clip import model as ahnpl_clip_module  # noqa: E402
from ahnpl_plugin.models.clip.model import AHNPLClip, check_model_config  # noqa: E402
from ahnpl_plugin.models.clip.architectures import MODEL_TYPES, OPENAI_TYPES  # noqa: E402
from ahnpl_plugin.contract import check_negatives  # noqa: E402
from ahnpl_plugin.models.negative_batch import scatter_negatives, texts_to_encode  # noqa: E402
from ahnpl_plugin.models.clip.towers import encode_tokens, trim_to_longest  # noqa: E402

from helpers.batches import CAPTIONS, MASK, NEGATIVES, TYPES  # noqa: E402
OUTPUT_KEYS = {
    "loss", "loss_itc", "loss_hn", "loss_dm", "loss_hn_text", "loss_hn_image", "loss_dm_pos", "loss_dm_neg",
    "logit_scale", *(f"theta/{t}" for t in TYPES),
}


def tiny_cfg(**overrides):
    """The tiny type's default ``model:`` config with ``overrides`` (dotted keys allowed)."""
    cfg = OmegaConf.load(AHNPLClip.default_config_path("tiny")).model
    for key, value in overrides.items():
        OmegaConf.update(cfg, key, value, force_add=True)
    return cfg


def tiny_model(seed=0, **overrides):
    torch.manual_seed(seed)
    return AHNPLClip.from_config(tiny_cfg(**overrides))


def batch(images_seed=1):
    generator = torch.Generator().manual_seed(images_seed)
    return {
        "image": torch.randn(len(CAPTIONS), 3, 32, 32, generator=generator),
        "text_input": list(CAPTIONS),
        "hard_negatives": [list(row) for row in NEGATIVES],
        "hard_negative_mask": MASK.clone(),
    }


# ------------------------------------------------------------------------------------------------
# Registration and building
# ------------------------------------------------------------------------------------------------


def test_registered_with_every_type_and_absolute_yaml():
    cls = registry.get_model_class("ahnpl_clip")
    assert cls is AHNPLClip
    assert set(cls.PRETRAINED_MODEL_CONFIG_DICT) == set(MODEL_TYPES) == {*OPENAI_TYPES, "tiny"}
    for model_type, path in cls.PRETRAINED_MODEL_CONFIG_DICT.items():
        cfg = OmegaConf.load(path)  # absolute, exists
        assert cfg.model.arch == "ahnpl_clip" and cfg.model.model_type == model_type
        check = dict(cfg.model)
        check["pretrained"] = ""  # no weights on this machine
        options, _ = check_model_config(OmegaConf.create(check))
        assert options.loss == {}  # model.loss defaults: lavis_configs/models/loss.yaml (tests/test_loss_defaults.py)


def test_lavis_config_merge_and_task_build_model():
    from lavis.common.config import Config
    from lavis.tasks.base_task import BaseTask

    user = OmegaConf.create({"model": {"arch": "ahnpl_clip", "model_type": "tiny", "loss": {"mode": "reference"}}})
    merged = Config.build_model_config(user)
    assert dict(merged.model.loss) == {"mode": "reference"}  # LAVIS's own merge: the type YAML has no loss block
    assert merged.preprocess.vis_processor.train.image_size == 32

    class _Cfg:
        model_cfg = merged.model

    model = BaseTask().build_model(_Cfg())
    assert isinstance(model, AHNPLClip) and model.loss.mode == "reference"
    assert model.loss.lambda_hn == 0.2 and model.loss.negative_types == TYPES  # AHNPLLoss's defaults kept
    assert next(model.parameters()).device.type == "cpu"
    assert isinstance(AHNPLClip.from_pretrained("tiny"), AHNPLClip)


# Published CLIP parameter counts (open_clip / OpenAI).
PARAMS = {"ViT-B-32": 151_277_313, "ViT-B-16": 149_620_737, "ViT-L-14": 427_616_513,
          "ViT-L-14-336": 427_944_193, "RN50": 102_007_137}
IMAGE_SIZES = {"ViT-B-32": 224, "ViT-B-16": 224, "ViT-L-14": 224, "ViT-L-14-336": 336, "RN50": 224}


@pytest.mark.parametrize("model_type", OPENAI_TYPES)
def test_big_types_resolve_on_meta_device(model_type):
    yaml = OmegaConf.load(AHNPLClip.default_config_path(model_type))
    assert yaml.model.pretrained == "openai" and yaml.model.quick_gelu is True
    assert yaml.preprocess.vis_processor.eval.image_size == IMAGE_SIZES[model_type]
    cfg = yaml.model
    cfg.pretrained = ""
    with torch.device("meta"):
        model = AHNPLClip.from_config(cfg)
    assert sum(p.numel() for n, p in model.named_parameters() if n.startswith("clip.")) == PARAMS[model_type]
    assert model.context_length == 77
    activations = [m for m in model.clip.transformer.modules() if isinstance(m, (QuickGELU, torch.nn.GELU))]
    assert activations and all(isinstance(m, QuickGELU) for m in activations)  # quick_gelu: true


@pytest.mark.parametrize("mode", ["ahnpl", "reference"])
def test_tiny_forward_backward_reaches_every_parameter(mode):
    model = tiny_model(**{"loss.mode": mode})
    assert not model.uses_quick_gelu and model.context_length == 32
    out = model(batch())
    assert set(out) == OUTPUT_KEYS
    assert all(v.dim() == 0 and torch.isfinite(v) for v in out.values())
    assert out["loss"].dtype == torch.float32
    assert math.isclose(float(out["logit_scale"]), 1 / 0.07, rel_tol=1e-6)
    expected = out["loss_itc"] + 0.2 * out["loss_hn"] + 0.2 * out["loss_dm"]
    assert torch.allclose(out["loss"], expected)
    out["loss"].backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert missing == []  # DDP (find_unused_parameters=False) needs every parameter in the graph


def test_loss_uses_features_the_inference_api_gives():
    model = tiny_model()
    samples = batch()
    seen = {}
    original = model.loss.forward

    def spy(image_feats, text_feats, neg_feats, neg_mask, logit_scale):
        seen.update(image=image_feats, text=text_feats, neg=neg_feats, mask=neg_mask, scale=logit_scale)
        return original(image_feats, text_feats, neg_feats, neg_mask, logit_scale)

    model.loss.forward = spy
    model(samples)
    with torch.no_grad():
        assert torch.allclose(seen["image"], model.encode_image(samples["image"]), atol=1e-6)
        assert torch.allclose(seen["text"], model.encode_text(CAPTIONS), atol=1e-5)
        for i, k in np.ndindex(*MASK.shape):
            if MASK[i, k]:
                assert torch.allclose(seen["neg"][i, k], model.encode_text([NEGATIVES[i][k]])[0], atol=1e-5)
            else:
                assert torch.equal(seen["neg"][i, k], torch.zeros(128))
    assert torch.equal(seen["mask"], MASK)
    assert torch.norm(seen["image"], dim=-1).sub(1).abs().max() < 1e-5


@pytest.mark.parametrize("mode, encoded", [("ahnpl", 4 + int(MASK.sum())), ("reference", 4 + 4 * 5)])
def test_one_text_pass_and_which_negatives_are_encoded(monkeypatch, mode, encoded):
    model = tiny_model(**{"loss.mode": mode})
    calls = []
    real = ahnpl_clip_module.encode_tokens

    def counting(clip, tokens):
        calls.append(tokens.shape[0])
        return real(clip, tokens)

    monkeypatch.setattr(ahnpl_clip_module, "encode_tokens", counting)
    texts = []
    real_tokenize = model.tokenize
    monkeypatch.setattr(model, "tokenize", lambda t: texts.extend(t) or real_tokenize(t))
    model(batch())
    assert calls == [encoded]  # one pass: captions + negatives together
    assert texts[:4] == CAPTIONS
    if mode == "ahnpl":
        assert "###" not in texts
        assert texts[4:] == [NEGATIVES[i][k] for i, k in MASK.nonzero().tolist()]
    else:
        assert texts[4:] == [text for row in NEGATIVES for text in row]


def test_invalid_negative_text_has_no_effect_in_ahnpl_mode_only():
    def run(mode, filler):
        model = tiny_model(**{"loss.mode": mode})
        samples = batch()
        samples["hard_negatives"] = [[t if m else filler for t, m in zip(row, mrow)] for row, mrow in zip(NEGATIVES, MASK.tolist())]
        return model(samples)["loss"]

    assert torch.equal(run("ahnpl", "###"), run("ahnpl", "a zebra eating a pizza"))
    assert not torch.equal(run("reference", "###"), run("reference", "a zebra eating a pizza"))


def test_batch_without_negatives_trains_plain_contrast():
    model = tiny_model(**{"loss.use_dm": False})
    keys = set(model.state_dict())
    samples = batch()
    out = model({"image": samples["image"], "text_input": samples["text_input"]})
    assert set(model.state_dict()) == keys  # the K=0 loss used here is no part of the model's state
    image, text = model.encode_image(samples["image"]), model.encode_text(CAPTIONS)
    logits = (1 / 0.07) * image @ text.T
    labels = torch.arange(4)
    clip_loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    assert torch.allclose(out["loss"], clip_loss, atol=1e-5)
    assert float(out["loss_hn"]) == 0 and set(out) == OUTPUT_KEYS
    # a K=0 loss config ignores the negatives a dataset still provides
    model_k0 = tiny_model(**{"loss.negative_types": [], "loss.use_dm": False})
    out_k0 = model_k0(samples)
    assert torch.allclose(out_k0["loss"], clip_loss, atol=1e-5)
    assert not any(k.startswith("theta/") for k in out_k0)


def test_forward_errors_name_the_bad_input():
    model = tiny_model()
    samples = batch()
    samples["hard_negative_mask"] = MASK.clone()
    samples["hard_negative_mask"][2, 0] = True  # "###" marked valid
    with pytest.raises(ValueError, match=r"hard_negatives'\]\[2\]\[0\] is '###'"):
        model(samples)
    samples = batch()
    samples["hard_negatives"][1] = samples["hard_negatives"][1][:3]
    with pytest.raises(ValueError, match=r"hard_negatives'\]\[1\] must hold K=5"):
        model(samples)
    samples = batch()
    del samples["hard_negative_mask"]
    with pytest.raises(ValueError, match="give both or neither"):
        model(samples)
    with pytest.raises(ValueError, match="4 images but 3 captions"):
        model({"image": batch()["image"], "text_input": CAPTIONS[:3]})


def test_autocast_forward_keeps_float32_loss():
    model = tiny_model()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(batch())
    assert out["loss"].dtype == torch.float32 and torch.isfinite(out["loss"])


def test_logit_scale_clamped_to_ln100():
    model = tiny_model()
    with torch.no_grad():
        model.logit_scale.fill_(7.0)
    out = model(batch())
    assert math.isclose(float(out["logit_scale"]), 100.0, rel_tol=1e-6)
    assert math.isclose(model.logit_scale.item(), math.log(100), rel_tol=1e-7)
    with torch.no_grad():
        model.logit_scale.fill_(-1.0)
    model.clamp_logit_scale()
    assert model.logit_scale.item() == 0.0


def test_theta_reported_per_type_and_saved():
    model = tiny_model()
    first = model(batch())
    assert all(float(first[f"theta/{t}"]) == 0.0 for t in TYPES)  # theta starts at 0
    after_first = model.loss.thresholds.clone()
    assert bool((after_first > 0).any())
    second = model(batch())
    assert torch.equal(torch.stack([second[f"theta/{t}"] for t in TYPES]), after_first)  # used at step 2
    assert "loss.thresholds" in model.state_dict() and "quick_gelu" in model.state_dict()


# ------------------------------------------------------------------------------------------------
# Exact text encoding at the batch's real length
# ------------------------------------------------------------------------------------------------


def small_clip_77():
    torch.manual_seed(3)
    return CLIP(embed_dim=64, vision_cfg=dict(image_size=32, layers=1, width=64, patch_size=16),
                text_cfg=dict(context_length=77, vocab_size=49408, width=64, heads=1, layers=2)).eval()


def test_trimmed_text_encoding_equals_full_context_path():
    from lavis.models.clip_models.tokenizer import tokenize

    texts = CAPTIONS + ["a !~ b", "a", "a dog " * 20]  # "!~" holds id 0; one caption has 43 tokens
    tokens = tokenize(texts, context_length=77)
    assert tokens[4, 2] == 0 and tokens[4, 5] == tokens.max()  # id 0 before the end-of-text token
    trimmed = trim_to_longest(tokens)
    assert trimmed.shape[1] == int(tokens.argmax(dim=1).max()) + 1 < 77
    clip = small_clip_77()
    with torch.no_grad():
        full = F.normalize(clip.encode_text(tokens), dim=-1)
        fast = F.normalize(encode_tokens(clip, trimmed), dim=-1)
        also_full = F.normalize(encode_tokens(clip, tokens), dim=-1)
    assert torch.allclose(fast, full, atol=1e-5, rtol=0)
    assert torch.allclose(also_full, full, atol=1e-6, rtol=0)


def test_model_encode_text_equals_lavis_full_path_and_is_batch_independent():
    model = tiny_model().eval()
    with torch.no_grad():
        tokens = model.tokenize(CAPTIONS)
        assert tokens.shape == (4, 32)
        full = F.normalize(model.clip.encode_text(tokens), dim=-1)
        fast = model.encode_text(CAPTIONS)
        alone = torch.cat([model.encode_text([c]) for c in CAPTIONS])
    assert torch.allclose(fast, full, atol=1e-5, rtol=0)
    assert torch.allclose(alone, full, atol=1e-5, rtol=0)


def test_cached_tokenizer_gives_lavis_ids_for_captions_that_fit():
    from lavis.models.clip_models.tokenizer import tokenize as lavis_tokenize

    from ahnpl_plugin.models.clip.tokenizer import tokenize

    texts = CAPTIONS + ["a !~ b", "", "Café &amp; crème"]
    for context in (77, 32):
        assert torch.equal(tokenize(texts, context), lavis_tokenize(texts, context_length=context))
        assert torch.equal(tokenize(texts, context), lavis_tokenize(texts, context_length=context))  # cached


LONG_A = "a small brown dog with a red collar runs across the wet green grass of the park " * 6
LONG_B = "an old man in a blue coat reads a newspaper on a wooden bench near the station " * 6


def test_long_captions_end_in_eot_as_open_clip():
    """LAVIS cuts without the end-of-text token; open_clip keeps it last (``tokens[-1] = eot``)."""
    from lavis.models.clip_models.tokenizer import _tokenizer
    from lavis.models.clip_models.tokenizer import tokenize as lavis_tokenize

    from ahnpl_plugin.models.clip.tokenizer import caption_ids, tokenize

    eot = _tokenizer.encoder["<end_of_text>"]
    ids = caption_ids(LONG_A)
    assert len(ids) > 77
    tokens = tokenize([LONG_A, "a dog"], 77)
    assert tokens[0, :76].tolist() == list(ids[:76]) and int(tokens[0, 76]) == eot
    assert int(tokens[0].argmax()) == 76  # CLIP pools the last position
    assert torch.equal(tokens[1], lavis_tokenize(["a dog"], 77)[0])  # short captions unchanged
    assert int(lavis_tokenize([LONG_A], 77)[0, 76]) != eot  # the LAVIS defect this fixes


def test_loader_token_ids_are_cut_to_the_model_context_keeping_eot():
    from ahnpl_plugin.models.clip.tokenizer import batch_token_ids, cut_token_rows, tokenize

    texts = [LONG_A, "a dog", "a !~ b"]
    wide = batch_token_ids(texts, context_length=100)["text_tokens"]
    assert torch.equal(cut_token_rows(wide, 77), tokenize(texts, 77))
    assert torch.equal(cut_token_rows(wide, 100), wide)
    model = tiny_model()  # context 32
    given = model._given_tokens({"text_tokens": wide}, "text_tokens", (3,))
    assert torch.equal(given, tokenize(texts, 32))


def test_unrelated_long_captions_get_different_features():
    """Cut without EOT, both rows were pooled at their largest BPE id: nearly the same feature."""
    model = tiny_model().eval()
    with torch.no_grad():
        a, b = model.encode_text([LONG_A, LONG_B])
    assert float(a @ b) < 0.99


def test_negative_batch_helpers_on_planted_values():
    rows, mask = check_negatives(["a", "b"], [["x", "###"], ["y", "z"]], [[1, 0], [1, 1]], 2)
    assert mask.dtype == torch.bool and mask.tolist() == [[True, False], [True, True]]
    texts, encoded = texts_to_encode(["a", "b"], rows, mask, encode_invalid=False)
    assert texts == ["a", "b", "x", "y", "z"] and torch.equal(encoded, mask)
    texts, encoded = texts_to_encode(["a", "b"], rows, mask, encode_invalid=True)
    assert texts == ["a", "b", "x", "###", "y", "z"] and bool(encoded.all())
    features = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], requires_grad=True)
    scattered = scatter_negatives(features, mask)
    assert scattered.tolist() == [[[1.0, 2.0], [0.0, 0.0]], [[3.0, 4.0], [5.0, 6.0]]]
    scattered.sum().backward()
    assert features.grad.tolist() == [[1.0, 1.0]] * 3
    with pytest.raises(ValueError, match=r"\[B, K\] = \(2, 2\)"):
        check_negatives(["a", "b"], rows, [[1, 0]], 2)


# ------------------------------------------------------------------------------------------------
# Config validation
# ------------------------------------------------------------------------------------------------


def test_unknown_model_type_lists_valid_ones():
    with pytest.raises(ConfigError, match="ViT-B-32.*tiny|tiny.*ViT-B-32") as info:
        AHNPLClip.default_config_path("ViT-H-14")
    assert all(t in str(info.value) for t in MODEL_TYPES)
    with pytest.raises(ConfigError, match="'ViT-H-14'"):
        AHNPLClip.from_config(tiny_cfg(model_type="ViT-H-14"))


def test_unknown_config_keys_list_valid_ones():
    with pytest.raises(ConfigError, match="unknown ahnpl_clip model key 'pretrianed'; valid: .*pretrained"):
        AHNPLClip.from_config(tiny_cfg(pretrianed="openai"))
    with pytest.raises(ConfigError, match="unknown model.loss key 'lambda_hm'; valid: .*lambda_hn"):
        AHNPLClip.from_config(tiny_cfg(**{"loss.lambda_hm": 0.1}))
    with pytest.raises(ConfigError, match="model.loss: .*hn_anchor"):
        AHNPLClip.from_config(tiny_cfg(**{"loss.hn_anchor": "both"}))
    with pytest.raises(ConfigError, match="model.quick_gelu must be true or false"):
        AHNPLClip.from_config(tiny_cfg(quick_gelu="yes"))


def test_loss_options_reach_the_loss():
    model = tiny_model(**{"loss.lambda_hn": 0.3, "loss.hn_anchor": "cross", "loss.image_hn_weight": 0.0,
                          "loss.negative_types": ["relation", "noun"], "loss.threshold": "fixed"})
    loss = model.loss
    assert (loss.mode, loss.lambda_hn, loss.hn_anchor, loss.image_hn_weight, loss.negative_types, loss.threshold) == (
        "ahnpl", 0.3, "cross", 0.0, ("relation", "noun"), "fixed")
    assert float(model.loss.thresholds[0]) == 8.0  # fixed_threshold default
    assert tiny_model(**{"loss.mode": "reference"}).loss.mode == "reference"


# ------------------------------------------------------------------------------------------------
# Optimiser groups, evaluation, checkpoints
# ------------------------------------------------------------------------------------------------


def test_optimizer_groups_follow_open_clip_rule():
    model = tiny_model()
    decayed, plain = model.get_optimizer_params(0.1, lr_scale=1)
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    decayed_names = {names[id(p)] for p in decayed["params"]}
    plain_names = {names[id(p)] for p in plain["params"]}
    assert decayed_names | plain_names == set(names.values()) and not decayed_names & plain_names
    for name in ("clip.logit_scale", "clip.visual.class_embedding", "clip.ln_final.weight",
                 "clip.visual.transformer.resblocks.0.attn.in_proj_bias", "clip.transformer.resblocks.1.ln_2.bias"):
        assert name in plain_names
    for name in ("clip.visual.conv1.weight", "clip.token_embedding.weight", "clip.positional_embedding",
                 "clip.text_projection", "clip.visual.proj", "clip.transformer.resblocks.0.mlp.c_fc.weight"):
        assert name in decayed_names
    torch.optim.AdamW([decayed, plain], lr=1e-3)  # accepted as is


class _RetrievalSet(torch.utils.data.Dataset):
    def __init__(self, images, captions_per_image):
        self.images = images
        self.text = [c for caps in captions_per_image for c in caps]
        self.img2txt, self.txt2img, t = {}, {}, 0
        for i, caps in enumerate(captions_per_image):
            self.img2txt[i] = list(range(t, t + len(caps)))
            for j in self.img2txt[i]:
                self.txt2img[j] = i
            t += len(caps)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        return {"image": self.images[index], "index": index}


def test_compute_sim_matrix_serves_lavis_retrieval_task(tmp_path, monkeypatch):
    from lavis.tasks.retrieval import RetrievalTask

    model = tiny_model().eval()
    images = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    data = _RetrievalSet(images, [CAPTIONS[:2], CAPTIONS[2:3], CAPTIONS[3:] + ["a tree"]])
    loader = torch.utils.data.DataLoader(data, batch_size=2)
    i2t, t2i = model.compute_sim_matrix(loader, task_cfg=None)
    assert isinstance(i2t, np.ndarray) and i2t.shape == (3, 5) and t2i.shape == (5, 3)
    with torch.no_grad():
        direct = (model.encode_image(images) @ model.encode_text(data.text).T).numpy()
    np.testing.assert_allclose(i2t, direct, atol=1e-5)
    np.testing.assert_array_equal(t2i, i2t.T)
    monkeypatch.setitem(registry.mapping["paths"], "output_dir", str(tmp_path))
    result = RetrievalTask(cfg=None).evaluation(model, loader)
    assert result["txt_r10"] == 100.0 and result["img_r5"] == 100.0  # 5 texts, 3 images
    assert (tmp_path / "evaluate.txt").is_file()


def test_finetuned_checkpoint_reload_is_exact_and_activation_checked(tmp_path):
    model = tiny_model(seed=4)
    model(batch())  # moves theta away from 0
    path = tmp_path / "checkpoint_best.pth"
    torch.save({"model": model.state_dict(), "config": {"model": {"model_type": "tiny"}}, "epoch": 0}, path)
    reloaded = AHNPLClip.from_config(tiny_cfg(load_finetuned=True, finetuned=str(path)))
    assert torch.equal(reloaded.loss.thresholds, model.loss.thresholds) and bool(model.loss.thresholds.any())
    with torch.no_grad():
        assert torch.equal(reloaded.encode_text(CAPTIONS), model.eval().encode_text(CAPTIONS))
    other = tiny_model(quick_gelu=True)
    with pytest.raises(ConfigError, match="ran with GELU, this model with QuickGELU"):
        other.load_checkpoint(str(path))
    with pytest.raises(ConfigError, match="checkpoint not found: .*nothing.pth"):
        AHNPLClip.from_config(tiny_cfg(load_finetuned=True, finetuned=str(tmp_path / "nothing.pth")))


def test_model_picks_its_loss_types_out_of_a_batch_carrying_all_types():
    """Datasets carry all five types by name; `model.loss.negative_types` decides which train."""
    import torch

    from ahnpl_plugin.contract import select_types

    negatives = [["r0", "s0", "a0", "n0", "v0"], ["r1", "s1", "###", "n1", "v1"]]
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 1, 1]], dtype=torch.bool)
    types = TYPES
    rows, sub = select_types(negatives, mask, types, ("adj", "verb"))
    assert rows == [["a0", "v0"], ["###", "v1"]]
    assert sub.tolist() == [[True, True], [False, True]]
    with pytest.raises(ValueError, match=r"asks for \['noun'\] but the dataset provides only \['relation'\]"):
        select_types(negatives, mask[:, :1], ("relation",), ("noun",))
