"""One inference interface over the CLIP/BLIP models LAVIS registers, for choice evaluation.

``choice_encoder(model)`` returns an object with

* ``encode_image(images[B,3,H,W]) -> [B,D]`` and ``encode_text(list[str]) -> [N,D]``: L2-normalised
  float32 features, as the compositional benchmarks compare them by cosine similarity;
* ``device``: where the model's parameters are (inputs are moved there);
* ``scoring_modes``: the pair scores it can give (:data:`SCORING_MODES`): ``itc`` (cosine of the
  features) always; BLIP models with an ITM head also ``itm`` and ``itc+itm``, through
  ``image_embeds(images) -> [B,N,W]`` (the image tokens, computed once per image),
  ``features_from_embeds(image_embeds) -> [B,D]`` and
  ``itm_logits(image_embeds[P,N,W], captions[P]) -> [P,2]`` (see
  :mod:`ahnpl_plugin.models.blip.scoring` for what each mode computes).

:func:`scoring_mode` says which mode a model is evaluated with: its ``scoring`` attribute
(``ahnpl_blip``'s ``model.scoring``), else ``itc``.

Supported (checked in this order):

* LAVIS's ``clip`` / ``clip_feature_extractor`` (``lavis.models.clip_models.model.CLIP``): its
  ``encode_text`` takes token ids, so captions go through LAVIS's CLIP tokenizer at the model's
  context length first (a truncated caption keeps its end-of-text token); neither tower
  normalises.
* LAVIS's BLIP models with unimodal ITC heads (``blip_retrieval``, ``blip_feature_extractor``,
  ``blip_image_text_matching``): features as LAVIS's ITC and retrieval code computes them, the
  projected, normalised [CLS] token of ``visual_encoder.forward_features`` / of the BERT text
  encoder in ``mode="text"`` (captions truncated to ``max_txt_len``, 35 by default).
* any model whose own ``encode_image(images)`` / ``encode_text(list[str])`` do the job, such as
  ``ahnpl_clip`` (normalised again here, which changes nothing for already unit-length features).

Anything else is a :class:`~ahnpl_plugin.errors.ConfigError` naming the model's class.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ahnpl_plugin.errors import ConfigError

DEFAULT_BLIP_MAX_TEXT_LEN = 35  # LAVIS's BLIP default (and what its retrieval code tokenises to)
SCORING_MODES = ("itc", "itm", "itc+itm")  # = ahnpl_plugin.models.blip.scoring.SCORING_MODES
FEATURE_ONLY = ("itc",)


def _device_of(model) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    return torch.device("cpu")


def unwrap(model):
    """The model under DistributedDataParallel / DataParallel wrappers."""
    while isinstance(model, (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)):
        model = model.module
    return model


class NativeEncoder:
    """A model whose ``encode_image`` / ``encode_text(list[str])`` already give features."""

    kind = "native"
    scoring_modes = FEATURE_ONLY

    def __init__(self, model):
        self.model = model
        self.device = _device_of(model)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.model.encode_image(images.to(self.device)).float(), dim=-1)

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        return F.normalize(self.model.encode_text(list(texts)).float(), dim=-1)


class LavisClipEncoder:
    """LAVIS's open_clip copy: tokenise with its BPE tokenizer, encode, normalise."""

    kind = "lavis_clip"
    scoring_modes = FEATURE_ONLY

    def __init__(self, model):
        self.model = model
        self.device = _device_of(model)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.model.encode_image(images.to(self.device)).float(), dim=-1)

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        from ahnpl_plugin.models.clip.tokenizer import tokenize  # LAVIS's BPE ids; long captions end in EOT

        tokens = tokenize(list(texts), context_length=self.model.context_length)
        return F.normalize(self.model.encode_text(tokens.to(self.device)).float(), dim=-1)


class BlipItcEncoder:
    """BLIP's unimodal (ITC) features: projected [CLS] tokens of the image and text encoders;
    with an ITM head, also the matching head's logits of (image, caption) pairs."""

    kind = "blip_itc"

    def __init__(self, model):
        self.model = model
        self.device = _device_of(model)
        self.max_text_len = int(getattr(model, "max_txt_len", DEFAULT_BLIP_MAX_TEXT_LEN))
        has_itm = hasattr(model, "itm_head") and getattr(model.tokenizer, "enc_token_id", None) is not None
        self.scoring_modes = SCORING_MODES if has_itm else FEATURE_ONLY

    def _tokens(self, texts: list[str]):
        return self.model.tokenizer(
            list(texts), padding="longest", truncation=True, max_length=self.max_text_len,
            return_tensors="pt",
        ).to(self.device)

    def image_embeds(self, images: torch.Tensor) -> torch.Tensor:
        """The image encoder's token embeddings [B, N, W] (what ITM cross-attends to)."""
        return self.model.visual_encoder.forward_features(images.to(self.device))

    def itm_logits(self, image_embeds: torch.Tensor, texts: list[str]) -> torch.Tensor:
        """ITM head logits [P, 2] (no match, match) of caption ``texts[p]`` with ``image_embeds[p]``."""
        from ahnpl_plugin.models.blip.scoring import itm_input_ids, itm_logits

        tokens = self._tokens(texts)
        ids = itm_input_ids(tokens.input_ids, self.model.tokenizer.enc_token_id)
        return itm_logits(self.model, image_embeds.to(self.device), ids, tokens.attention_mask).float()

    def features_from_embeds(self, image_embeds: torch.Tensor) -> torch.Tensor:
        """ITC image features [B, D] from the image token embeddings (projected [CLS])."""
        return F.normalize(self.model.vision_proj(image_embeds[:, 0, :]).float(), dim=-1)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return self.features_from_embeds(self.image_embeds(images))

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        # Padding to the batch's longest caption gives the same [CLS] features as LAVIS's
        # padding to max_length: padded positions are masked out of attention.
        tokens = self._tokens(texts)
        output = self.model.text_encoder.forward_text(tokens)
        return F.normalize(self.model.text_proj(output.last_hidden_state[:, 0, :]).float(), dim=-1)


def _is_lavis_clip(model) -> bool:
    from lavis.models.clip_models.model import CLIP

    return isinstance(model, CLIP)


def _is_blip_with_itc_heads(model) -> bool:
    from lavis.models.blip_models.blip import BlipBase

    return isinstance(model, BlipBase) and all(
        hasattr(model, name)
        for name in ("visual_encoder", "text_encoder", "vision_proj", "text_proj", "tokenizer")
    ) and hasattr(model.text_encoder, "forward_text")


def choice_encoder(model):
    """The encoder adapter of ``model`` (see the module docstring); ConfigError if unsupported."""
    model = unwrap(model)
    if _is_lavis_clip(model):
        return LavisClipEncoder(model)
    if _is_blip_with_itc_heads(model):
        return BlipItcEncoder(model)
    if callable(getattr(model, "encode_image", None)) and callable(getattr(model, "encode_text", None)):
        return NativeEncoder(model)
    raise ConfigError(
        f"model class {type(model).__module__}.{type(model).__name__} cannot be evaluated on "
        "caption-choice benchmarks: supported are ahnpl_clip, LAVIS's clip / clip_feature_extractor "
        "and BLIP models with ITC heads (blip_retrieval, blip_feature_extractor, "
        "blip_image_text_matching), or any model with encode_image(images) and "
        "encode_text(list of str) returning features"
    )


def scoring_mode(model, encoder) -> str:
    """How ``model`` scores pairs in choice evaluation: its ``scoring`` attribute, else ``itc``.

    ConfigError for an unknown mode or one the model cannot give (ITM without an ITM head).
    """
    mode = getattr(unwrap(model), "scoring", None) or "itc"
    if mode not in SCORING_MODES:
        raise ConfigError(f"unknown scoring {mode!r}; valid: {', '.join(SCORING_MODES)}")
    if mode not in encoder.scoring_modes:
        raise ConfigError(
            f"scoring {mode!r} needs an image-text matching head; model class "
            f"{type(unwrap(model)).__name__} supports {', '.join(encoder.scoring_modes)}"
        )
    return mode
