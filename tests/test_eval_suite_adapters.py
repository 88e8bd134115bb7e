"""ahnpl_plugin.model_adapters: one encode_image / encode_text interface over ahnpl_clip, LAVIS's
stock CLIP and BLIP retrieval, checked against each model's own LAVIS feature path.

No weights exist offline: the stock models are real LAVIS classes built tiny with random weights.
BLIP's BERT tokenizer normally comes from the Hugging Face hub; here it is a real
``BertTokenizer`` over a small local vocabulary (set up the way LAVIS's ``init_tokenizer`` does).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

TEXTS = ["a dog on the mat", "a red cat", "blue", "the cat on a dog"]


pytestmark = pytest.mark.usefixtures("lavis_ready")  # conftest.py


def _tiny_lavis_clip():
    from lavis.models.clip_models.model import CLIP

    torch.manual_seed(0)
    return CLIP(
        embed_dim=32,
        vision_cfg={"image_size": 32, "layers": 1, "width": 64, "patch_size": 8},
        text_cfg={"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
    ).eval()


def _tiny_blip_retrieval(tmp_path, monkeypatch):
    from lavis.models.blip_models.blip_retrieval import BlipRetrieval
    from lavis.models.med import XBertEncoder
    from lavis.models.vit import VisionTransformerEncoder
    from transformers import BertConfig, BertTokenizer

    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "dog", "cat", "on",
                                "the", "mat", "red", "blue"]) + "\n")

    def init_tokenizer(cls):  # LAVIS's BlipBase.init_tokenizer, with a local vocabulary
        tokenizer = BertTokenizer(str(vocab))
        tokenizer.add_special_tokens({"bos_token": "[DEC]"})
        tokenizer.add_special_tokens({"additional_special_tokens": ["[ENC]"]})
        tokenizer.enc_token_id = tokenizer.additional_special_tokens_ids[0]
        return tokenizer

    monkeypatch.setattr(BlipRetrieval, "init_tokenizer", classmethod(init_tokenizer))
    torch.manual_seed(0)
    vit = VisionTransformerEncoder(img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2)
    vit.vision_width = 32
    bert = BertConfig(vocab_size=15, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=64, encoder_width=32,
                      add_cross_attention=True, add_type_embeddings=False)
    return BlipRetrieval(image_encoder=vit, text_encoder=XBertEncoder(config=bert, add_pooling_layer=False),
                         queue_size=8, embed_dim=16).eval()


def _unit_rows(x):
    return torch.allclose(x.norm(dim=-1), torch.ones(x.shape[0]), atol=1e-5)


@torch.no_grad()
def test_ahnpl_clip_is_used_natively():
    from lavis.common.registry import registry
    from omegaconf import OmegaConf

    from ahnpl_plugin.model_adapters import NativeEncoder, choice_encoder

    cls = registry.get_model_class("ahnpl_clip")
    torch.manual_seed(0)
    model = cls.from_config(OmegaConf.create({"arch": "ahnpl_clip", "model_type": "tiny", "pretrained": ""})).eval()
    encoder = choice_encoder(model)
    assert isinstance(encoder, NativeEncoder)
    images = torch.randn(3, 3, 32, 32)
    assert torch.allclose(encoder.encode_image(images), model.encode_image(images), atol=1e-6)
    assert torch.allclose(encoder.encode_text(TEXTS), model.encode_text(TEXTS), atol=1e-6)
    # a DDP-style wrapper is looked through
    wrapper = torch.nn.DataParallel(model)
    assert choice_encoder(wrapper).model is model


@torch.no_grad()
def test_lavis_clip_features_match_its_own_extract_features():
    from ahnpl_plugin.model_adapters import LavisClipEncoder, choice_encoder

    model = _tiny_lavis_clip()
    encoder = choice_encoder(model)
    assert isinstance(encoder, LavisClipEncoder)
    images = torch.randn(2, 3, 32, 32)
    text = encoder.encode_text(TEXTS)
    image = encoder.encode_image(images)
    assert text.shape == (4, 32) and image.shape == (2, 32) and text.dtype == torch.float32
    assert _unit_rows(text) and _unit_rows(image)
    # LAVIS's own path: extract_features tokenises and encodes without normalising
    assert torch.allclose(text, F.normalize(model.extract_features({"text_input": TEXTS}), dim=-1), atol=1e-6)
    assert torch.allclose(image, F.normalize(model.extract_features({"image": images}), dim=-1), atol=1e-6)


@torch.no_grad()
def test_lavis_clip_truncated_captions_end_with_end_of_text(monkeypatch):
    from lavis.models.clip_models.tokenizer import _tokenizer, tokenize

    from ahnpl_plugin.model_adapters import LavisClipEncoder

    model = _tiny_lavis_clip()
    seen = []
    real = model.encode_text
    monkeypatch.setattr(model, "encode_text", lambda tokens: seen.append(tokens) or real(tokens))
    texts = ["a short caption", " ".join(["word"] * 100)]
    LavisClipEncoder(model).encode_text(texts)
    (tokens,) = seen
    lavis = tokenize(texts, context_length=model.context_length)
    eot = _tokenizer.encoder["<end_of_text>"]
    assert lavis[1, -1] != eot  # LAVIS cut the long caption's end-of-text token
    assert torch.equal(tokens[0], lavis[0])  # untouched: it has its own end-of-text token
    assert tokens[1, -1] == eot and torch.equal(tokens[1, :-1], lavis[1, :-1])
    assert int(tokens[1].argmax()) == model.context_length - 1  # CLIP reads the feature at the last position


@torch.no_grad()
def test_blip_retrieval_itc_features_match_lavis_feature_extractor(tmp_path, monkeypatch):
    from lavis.models.blip_models.blip_feature_extractor import BlipFeatureExtractor

    from ahnpl_plugin.model_adapters import BlipItcEncoder, choice_encoder

    model = _tiny_blip_retrieval(tmp_path, monkeypatch)
    encoder = choice_encoder(model)
    assert isinstance(encoder, BlipItcEncoder) and encoder.max_text_len == 35
    images = torch.randn(3, 3, 32, 32)
    image = encoder.encode_image(images)
    text = encoder.encode_text(TEXTS)
    assert image.shape == (3, 16) and text.shape == (4, 16)
    # LAVIS's BLIP feature-extraction code (its [CLS] rows are the ITC features), run on this model
    ref_image = BlipFeatureExtractor.extract_features(model, {"image": images}, mode="image")
    ref_text = BlipFeatureExtractor.extract_features(model, {"text_input": TEXTS}, mode="text")
    assert torch.allclose(image, ref_image.image_embeds_proj[:, 0, :], atol=1e-6)
    assert torch.allclose(text, ref_text.text_embeds_proj[:, 0, :], atol=1e-6)
    # a caption's feature does not depend on what else is in its batch (padding is masked)
    assert torch.allclose(encoder.encode_text(TEXTS[2:3])[0], text[2], atol=1e-6)


def test_unsupported_model_is_a_config_error_naming_its_class():
    from ahnpl_plugin.errors import ConfigError
    from ahnpl_plugin.model_adapters import choice_encoder

    with pytest.raises(ConfigError, match=r"torch\.nn\.modules\.linear\.Linear cannot be evaluated"):
        choice_encoder(torch.nn.Linear(2, 2))
