"""``ahnpl_blip``: LAVIS's BLIP retrieval model trained with its own objective plus AHNPL.

Build: ``registry.get_model_class("ahnpl_blip").from_config(cfg.model_cfg)`` (keys:
:mod:`ahnpl_plugin.models.blip.options`; defaults: lavis_configs/models/ahnpl_blip_<type>.yaml).
Before anything is downloaded or built, every input (tokenizer, weights, BERT config) is checked
and one error lists all missing ones (:mod:`ahnpl_plugin.models.blip.sources`); a checkpoint whose
stored config names another model is refused naming it (:mod:`ahnpl_plugin.models.blip.weights`).
A subclass of LAVIS's ``BlipRetrieval``: the same modules under the same names (``visual_encoder``,
``text_encoder``, ``vision_proj``, ``text_proj``, ``itm_head``, their ``_m`` momentum copies, the
queues, ``temp``), so LAVIS's BLIP checkpoints load and ours load in LAVIS; plus ``loss``, an
:class:`~ahnpl_plugin.losses.AHNPLLoss` whose ``thresholds`` buffer (theta) is saved with the model.

Training ``forward(samples)`` (``image``, ``text_input``, optional ``hard_negatives`` /
``hard_negative_mask`` / ``hard_negative_types``, optional ``image_id``, and the runner's
``epoch`` / ``iters`` / ``num_iters_per_epoch``; optional loader-made BERT ids ``text_tokens``,
``text_token_mask``, ``hard_negative_tokens``, ``hard_negative_token_mask`` from
:meth:`loader_tokenizer`, which spare the training process the tokenizer):

1. one ViT pass; one BERT text pass over the captions and their hard negatives (mode ``ahnpl``:
   the valid ones only; mode ``reference``: all, as the released code);
2. ``loss_itc``: BLIP's ITC with momentum encoders, queues and distilled targets, with the batch's
   hard negatives as extra image->text columns (online features, target 0; ``model.loss.
   itc_hard_negatives``); see :mod:`ahnpl_plugin.models.blip.itc` for why;
3. ``loss_hn`` and ``loss_dm``: AHNPL's multimodal hard-negative loss (text side and the
   perturbed-image side) and dynamic margin loss with adaptive thresholds, computed by
   ``AHNPLLoss`` on the in-batch projected, normalised [CLS] features with s = 1 / temp (gathered
   over ranks by the loss). Its own contrastive term is not used: BLIP's ITC (2.) takes its place,
   so ITC is counted once;
4. ``loss_itm``: BLIP's ITM (B positives, similarity-sampled in-batch negatives) plus up to
   ``model.itm_hard_negatives`` hard negative captions per image as non-matching pairs
   (:mod:`ahnpl_plugin.models.blip.itm`);

``loss = loss_itc + loss_itm + lambda_hn * loss_hn + lambda_dm * loss_dm`` (+ the retention terms
below). Returned: those, the parts of hn/dm, ``theta/<type>``, ``logit_scale`` (1/temp), ``alpha``
(the distillation weight used) and ``itm_hard_pairs`` (M). :attr:`last_itm_pairs` keeps the last
step's ITM pair indices.

Keeping zero-shot accuracy (``finetune``, ``distill``, ``l2sp``;
:mod:`ahnpl_plugin.models.retention_options`): the model records its starting weights
(``start_weights``, the whole model's weights hashed, for ``python -m ahnpl_plugin.export --wise A
--format ahnpl_blip``), trains only the online towers ``model.finetune`` selects
(:mod:`ahnpl_plugin.models.blip.finetune_scope`; the momentum copy of a frozen tower stays as it
is), and with distillation or L2-SP keeps a frozen copy of the starting online towers as
``reference`` (:mod:`ahnpl_plugin.models.start_anchor`); ``forward`` then also returns
``loss_distill`` (the ITC image and caption features against the reference's) and ``loss_l2sp``,
added to ``loss`` with their weights. With ``finetune: lora`` the adapters sit on the online
towers' weights (:mod:`ahnpl_plugin.models.lora`); the momentum towers stay plain and follow
the adapted weights; a LoRA run's checkpoint loads merged into a plain model.

Evaluation: ``model.scoring`` (``itc`` | ``itm`` | ``itc+itm``) drives ``compute_sim_matrix``
(LAVIS's RetrievalTask, ``run.k_test`` re-ranking) and the compositional task
(:mod:`ahnpl_plugin.models.blip.scoring`, :mod:`ahnpl_plugin.model_adapters`). Zero-shot
classification (LAVIS's ``multimodal_classification``, task ``ahnpl_zeroshot``) uses the ITC
features (:mod:`ahnpl_plugin.models.zero_shot_head`).
"""

from __future__ import annotations

import hashlib
import logging
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch.nn.utils import parametrize
from lavis.common.registry import registry
from lavis.models.blip_models.blip_retrieval import BlipRetrieval
from lavis.models.med import XBertEncoder

from ahnpl_plugin.errors import ConfigError
from ahnpl_plugin.losses import AHNPLLoss, total_loss
from ahnpl_plugin.models import CONFIG_FILES, default_config_path
from ahnpl_plugin.models.blip.architectures import build_towers
from ahnpl_plugin.models.blip.checkpointing import blip_checkpointed_modules, set_checkpointing
from ahnpl_plugin.models.blip.options import BlipOptions, blip_model_options
from ahnpl_plugin.models.loss_options import build_loss
from ahnpl_plugin.models.blip.itc import NO_IMAGE_ID, positive_targets, queue_contrastive_loss, rampup_factor
from ahnpl_plugin.models.blip.itm import (
    ItmPairs,
    itm_pairs,
    negative_token_rows,
    sample_batch_negatives,
    sample_hard_negatives,
)
from ahnpl_plugin.models.blip.scoring import compute_sim_matrix, itm_input_ids, itm_logits
from ahnpl_plugin.models.blip.sources import check_blip_inputs, weights_source
from ahnpl_plugin.models.blip.tokenizer import builtin_tiny_vocab_size, load_blip_tokenizer
from ahnpl_plugin.models.blip.weights import check_checkpoint_model, load_blip_state, load_blip_weights, read_checkpoint
from ahnpl_plugin.models.blip.finetune_scope import ONLINE, apply_scope
from ahnpl_plugin.models.lora import add_lora
from ahnpl_plugin.models.hard_negative_batches import HardNegativeBatchMixin
from ahnpl_plugin.models.start_anchor import StartAnchorMixin
from ahnpl_plugin.models.start_weights import start_record, weight_entries
from ahnpl_plugin.models.loader_tokens import BertLoaderTokens, encoded_negative_rows, given_tokens
from ahnpl_plugin.models.zero_shot_head import ZeroShotHeadMixin
from ahnpl_plugin.models.negative_batch import scatter_negatives, texts_to_encode
from ahnpl_plugin.models.param_groups import weight_decay_groups
from ahnpl_plugin.paths import config_path

log = logging.getLogger(__name__)

TEMP_RANGE = (0.001, 0.5)  # BLIP clamps its temperature to this range before every step


def check_blip_config(cfg) -> tuple[BlipOptions, AHNPLLoss]:
    """Validate an ``ahnpl_blip`` ``model:`` config without building or downloading anything: keys,
    loss options, and that every input (tokenizer, weights, BERT config) is on disk, in its cache,
    or downloadable; one error lists every missing one (:mod:`ahnpl_plugin.models.blip.sources`)."""
    options = blip_model_options(cfg)
    loss = build_loss(options.loss, use_itc=False)  # BLIP's own ITC (queues, distillation) replaces it
    check_blip_inputs(options)
    return options, loss


def _stable_id(value: str) -> int:
    """A non-negative int64 for a string image id, the same in every process (no hash salt)."""
    return int.from_bytes(hashlib.blake2b(value.encode("utf-8"), digest_size=7).digest(), "big")


def batch_image_ids(value, batch: int, device) -> torch.Tensor | None:
    """``samples["image_id"]`` as int64 [B] (strings hashed stably), or None when absent.

    Captions with the same id are positives of each other in BLIP's ITC (as LAVIS); without ids
    every sample is its own image.
    """
    if value is None:
        return None
    if torch.is_tensor(value):
        if value.is_floating_point() or value.numel() != batch:
            raise ValueError(f"samples['image_id'] must hold B={batch} integers, got {value.dtype} {tuple(value.shape)}")
        ids = value.reshape(-1).to(torch.long)
    else:
        values = list(value)
        if len(values) != batch:
            raise ValueError(f"samples['image_id'] has {len(values)} entries for B={batch} images")
        if all(isinstance(v, str) for v in values):
            ids = torch.tensor([_stable_id(v) for v in values], dtype=torch.long)
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            ids = torch.tensor(values, dtype=torch.long)
        else:
            raise ValueError("samples['image_id'] must be all integers or all strings")
    if bool((ids < 0).any()):
        raise ValueError("samples['image_id'] must be >= 0 (negative ids are reserved)")
    return ids.to(device)


@registry.register_model("ahnpl_blip")
class AHNPLBlip(ZeroShotHeadMixin, StartAnchorMixin, HardNegativeBatchMixin, BlipRetrieval):
    """LAVIS's ``BlipRetrieval`` + hard negatives in ITC/ITM + :class:`AHNPLLoss`; see the module docstring."""

    plain_loss_message = "batch without hard negatives: training BLIP's objective with the K=0 AHNPL terms"

    PRETRAINED_MODEL_CONFIG_DICT = {name: config_path(path) for name, path in CONFIG_FILES["ahnpl_blip"].items()}

    def __init__(self, image_encoder, text_encoder, tokenizer, loss: AHNPLLoss, model_type: str, queue_size: int,
                 alpha: float = 0.4, embed_dim: int = 256, momentum: float = 0.995, max_txt_len: int = 35,
                 itm_hard_negatives: int = 1, scoring: str = "itc+itm", use_itc: bool = True):
        # BlipRetrieval.__init__ asks init_tokenizer() for its tokenizer (LAVIS's reads the hub).
        object.__setattr__(self, "_given_tokenizer", tokenizer)
        super().__init__(image_encoder=image_encoder, text_encoder=text_encoder, queue_size=queue_size, alpha=alpha,
                         embed_dim=embed_dim, momentum=momentum, negative_all_rank=False, max_txt_len=max_txt_len)
        object.__delattr__(self, "_given_tokenizer")
        self.loss = loss
        self.model_type = model_type
        self.itm_hard_negatives = int(itm_hard_negatives)
        self.scoring = scoring
        self.last_itm_pairs: ItmPairs | None = None
        # model.loss.use_itc: BLIP's own ITC term (momentum queues) in the objective; false drops it
        self.use_itc = bool(use_itc)
        # retention options (set_retention); defaults = the published full fine-tuning
        self._init_retention()

    def init_tokenizer(self):
        """The tokenizer given to the constructor (already loaded and checked)."""
        return self._given_tokenizer

    # ------------------------------------------------------------------ building

    @classmethod
    def default_config_path(cls, model_type="tiny"):
        """Absolute path of ``model_type``'s default YAML (ConfigError listing the valid types)."""
        return default_config_path("ahnpl_blip", model_type)

    @classmethod
    def from_config(cls, cfg=None):
        """Build from a ``model:`` config (validated; tokenizer checked; weights loaded; on CPU).

        Order, so that mistakes fail before the slow parts: config and every input checked at once;
        the checkpoint read (downloaded if needed) and the model its config names checked; then the
        towers built and the weights loaded.
        """
        options, loss = check_blip_config(cfg)
        key, source = weights_source(options)
        checkpoint = read_checkpoint(source, key, options.trust_code) if source else None
        if checkpoint is not None:
            check_checkpoint_model(checkpoint, options.model_type)
        vocab_size = builtin_tiny_vocab_size() if options.model_type == "tiny" else None
        visual_encoder, text_config, embed_dim = build_towers(options.model_type, options.architecture, vocab_size)
        tokenizer = load_blip_tokenizer(options.tokenizer, text_config.vocab_size, text_config.pad_token_id)
        model = cls(
            visual_encoder, XBertEncoder(config=text_config, add_pooling_layer=False), tokenizer,
            loss, options.model_type, options.queue_size, alpha=options.alpha,
            embed_dim=embed_dim, momentum=options.momentum, max_txt_len=options.max_txt_len,
            itm_hard_negatives=options.itm_hard_negatives, scoring=options.scoring,
            use_itc=options.loss.get("use_itc", True),
        )
        model.trust_code = options.trust_code  # for load_checkpoint (LAVIS's route) too
        if checkpoint is not None:
            load_blip_state(model, checkpoint)
            del checkpoint
        else:
            log.info("ahnpl_blip %s: random initialisation (model.pretrained is empty)", options.model_type)
        model.reset_queue_ptr()
        start = options.finetuned if options.load_finetuned else options.pretrained
        model.set_retention(options, start, "finetuned" if options.load_finetuned else "pretrained")
        return model

    # ------------------------------------------------------------------ retention

    def set_retention(self, options: BlipOptions, source: str, key: str) -> None:
        """Record the starting weights (now), keep a frozen ``reference`` copy of the online towers if
        distillation or L2-SP needs one, and freeze what ``model.finetune`` does not train."""
        self.start_weights = start_record(source, self.model_type, False, weight_entries(self.state_dict()),
                                          reproducible=bool(source), arch="ahnpl_blip", key=key)
        self.finetune = options.finetune
        self._keep_start(options.distill, options.l2sp, options.keeps_start)
        if options.finetune == "lora":
            lora = options.lora
            names = add_lora(self._anchored(), lora["rank"], lora["alpha"], lora["targets"])
            log.info("LoRA rank %d, alpha %g on %d online weights", lora["rank"], lora["alpha"], len(names))
        try:
            trained, frozen = apply_scope(self, options.finetune, options.finetune_last_n)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if options.finetune != "full":
            log.info("model.finetune %s: %d online parameters train, %d frozen (momentum towers follow)",
                     options.finetune, trained, frozen)

    def _anchored(self) -> torch.nn.Module:
        """The online towers, heads and ``temp`` under their own names: what ``reference`` copies
        (StartAnchorMixin); a container built on each call, not a submodule."""
        towers = torch.nn.Module()
        for name in ONLINE:
            name = name.rstrip(".")
            value = getattr(self, name)
            if isinstance(value, torch.nn.Parameter):
                towers.register_parameter(name, value)
            else:
                towers.add_module(name, value)
        return towers

    def _teacher_features(self, images, caption_tokens):
        """The reference towers' projected, normalised ITC features of the images and captions (as
        the loss sees the student's), float32."""
        ref = self.reference
        image_feats = F.normalize(ref.vision_proj(ref.visual_encoder.forward_features(images)[:, 0, :]).float(), dim=-1)
        text_out = ref.text_encoder.forward_text(caption_tokens)
        return image_feats, F.normalize(ref.text_proj(text_out.last_hidden_state[:, 0, :]).float(), dim=-1)

    @torch.no_grad()
    def _momentum_update(self):
        """LAVIS's momentum update (same arithmetic), for the online parameters that train only: a
        frozen online tower (``model.finetune``) leaves its momentum copy exactly as it is. With
        LoRA the plain momentum towers follow the adapted online weights, matched by name."""
        if self.finetune == "lora":
            self._momentum_update_adapted()
            return
        for model_pair in self.model_pairs:
            for param, param_m in zip(model_pair[0].parameters(), model_pair[1].parameters()):
                if param.requires_grad:
                    param_m.data = param_m.data * self.momentum + param.data * (1.0 - self.momentum)

    def _momentum_update_adapted(self):
        """The momentum update of a LoRA model: ``w_m <- m w_m + (1 - m) (W + scale B A)`` for each
        adapted weight; the frozen rest (biases, norms, embeddings) stays."""
        for online, momentum in self.model_pairs:
            for name, param_m in momentum.named_parameters():
                owner_name, _, tensor_name = name.rpartition(".")
                owner = online.get_submodule(owner_name) if owner_name else online
                if parametrize.is_parametrized(owner, tensor_name):
                    weight = getattr(owner, tensor_name)
                    param_m.data = param_m.data * self.momentum + weight.data * (1.0 - self.momentum)

    def load_checkpoint(self, url_or_filename):
        """Load a LAVIS-format BLIP checkpoint (``model.finetuned``), checked (blip_weights)."""
        load_blip_weights(self, url_or_filename, "finetuned")

    def load_from_pretrained(self, url_or_filename):
        """Load a BLIP pre-training checkpoint (``model.pretrained``), checked (blip_weights)."""
        load_blip_weights(self, url_or_filename, "pretrained")

    def reset_queue_ptr(self):
        with torch.no_grad():
            self.queue_ptr.zero_()

    # ------------------------------------------------------------------ inference API

    @property
    def device(self) -> torch.device:
        """Where the weights are (LAVIS's version lists every parameter on each call)."""
        return self.temp.device

    def loader_tokenizer(self) -> BertLoaderTokens:
        """What the runner's loader workers tokenise batches with: this model's BERT tokenizer."""
        return BertLoaderTokens(self.tokenizer, self.max_txt_len)

    def _loader_tokens(self, samples: dict, batch: int, encoded) -> SimpleNamespace | None:
        """The pass's tokens from loader ids (:class:`BertLoaderTokens` keys): captions, then the
        ``encoded`` negatives, cut to their longest row (= ``tokenize`` of those texts); None when
        the batch does not carry them all."""
        ids, mask = given_tokens(samples, "text_tokens", (batch,)), given_tokens(samples, "text_token_mask", (batch,))
        if ids is None or mask is None:
            return None
        if encoded is not None:
            names = samples.get("hard_negative_types") or self.loss.negative_types
            rows = (batch, len(names))
            negative_ids = given_tokens(samples, "hard_negative_tokens", rows)
            negative_mask = given_tokens(samples, "hard_negative_token_mask", rows)
            if negative_ids is None or negative_mask is None:
                return None
            ids = torch.cat([ids, encoded_negative_rows(negative_ids, names, self.loss.negative_types, encoded)])
            mask = torch.cat([mask, encoded_negative_rows(negative_mask, names, self.loss.negative_types, encoded)])
        if ids.shape[-1] > self.max_txt_len:
            raise ValueError(f"samples['text_tokens'] has {ids.shape[-1]} positions, more than model.max_txt_len "
                             f"{self.max_txt_len} (tokenise with this model's loader_tokenizer())")
        width = int(mask.sum(dim=1).max())
        return SimpleNamespace(input_ids=ids[:, :width].to(self.device, non_blocking=True),
                               attention_mask=mask[:, :width].to(self.device, non_blocking=True))

    def tokenize(self, texts):
        """BERT tokens (``input_ids``, ``attention_mask``) padded to the longest, cut at ``max_txt_len``.

        Padding to the longest text gives the same features as LAVIS's padding to ``max_txt_len``
        (padded positions are masked out of attention)."""
        return self.tokenizer(list(texts), padding="longest", truncation=True, max_length=self.max_txt_len,
                              return_tensors="pt").to(self.device)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """ITC image features [B, D]: projected, normalised [CLS] token, float32."""
        embeds = self.visual_encoder.forward_features(images.to(self.device))
        return F.normalize(self.vision_proj(embeds[:, 0, :]).float(), dim=-1)

    def encode_text(self, texts) -> torch.Tensor:
        """ITC text features [N, D] of a list of captions, float32."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts:
            return torch.zeros((0, self.text_proj.out_features), device=self.device)
        output = self.text_encoder.forward_text(self.tokenize(texts))
        return F.normalize(self.text_proj(output.last_hidden_state[:, 0, :]).float(), dim=-1)

    # ------------------------------------------------------------------ training hooks

    def set_grad_checkpointing(self, enabled: bool = True) -> None:
        """Activation checkpointing of the online ViT blocks and BERT layers (``run.grad_checkpointing``;
        :mod:`ahnpl_plugin.models.blip.checkpointing`): same losses and gradients, less memory."""
        set_checkpointing(blip_checkpointed_modules(self), bool(enabled))

    @torch.no_grad()
    def clamp_logit_scale(self) -> None:
        """Clamp BLIP's temperature to [0.001, 0.5] (s = 1/temp in [2, 1000]); after every step."""
        self.temp.clamp_(*TEMP_RANGE)

    def on_epoch_start(self) -> None:
        """Per-epoch hook for the runner: resets theta in loss mode ``reference`` (no-op otherwise)."""
        self.loss.on_epoch_start()

    def get_optimizer_params(self, weight_decay, lr_scale=1):
        """AdamW groups: decay on weight matrices, none on gains, biases, norms, temp; the momentum
        encoders (requires_grad False) are left out."""
        return weight_decay_groups(self.named_parameters(), weight_decay, lr_scale)

    # ------------------------------------------------------------------ training

    def _check_queue(self, batch: int) -> None:
        from lavis.common.dist_utils import get_world_size

        global_batch = batch * get_world_size()
        if self.queue_size % global_batch:
            raise ConfigError(
                f"model.queue_size={self.queue_size} must be a multiple of the global batch size {global_batch} "
                f"(run.batch_size_train x processes; BLIP enqueues whole batches)"
            )

    def forward(self, samples: dict) -> dict:
        """Training loss of a batch; see the module docstring for inputs and outputs."""
        images, captions = self._images_and_captions(samples)
        batch = len(captions)
        if self.training:
            self._check_queue(batch)
        image_ids = batch_image_ids(samples.get("image_id"), batch, self.device)
        alpha = self.alpha * rampup_factor(samples.get("epoch", 0), samples.get("iters", 0),
                                           samples.get("num_iters_per_epoch", 0))
        self.clamp_logit_scale()

        # Host-side planning: which texts are encoded, and where each negative's features go.
        negatives, mask = self._batch_negatives(samples, captions)
        if negatives is None:
            texts, encoded = captions, None
        else:
            texts, encoded = texts_to_encode(captions, negatives, mask, encode_invalid=self.loss.mode == "reference")
        tokens = self._loader_tokens(samples, batch, encoded)
        if tokens is None:
            tokens = self.tokenize(texts)

        # Online features: image tokens and ITC features; captions and negatives in one text pass.
        image_embeds = self.visual_encoder.forward_features(images)
        image_feat = F.normalize(self.vision_proj(image_embeds[:, 0, :]), dim=-1)
        text_output = self.text_encoder.forward_text(tokens)
        features = F.normalize(self.text_proj(text_output.last_hidden_state[:, 0, :]), dim=-1)
        text_feat = features[:batch]
        if negatives is None:
            neg_feats = mask_dev = None
        else:
            neg_feats = scatter_negatives(features[batch:], encoded)
            mask_dev = mask.to(self.device)

        # BLIP's ITC: momentum features of the batch, queues, distilled targets; + hard negatives.
        with torch.no_grad():
            if self.training:
                self._momentum_update()
            image_feat_m = F.normalize(self.vision_proj_m(self.visual_encoder_m(images)[:, 0, :]), dim=-1)
            caption_tokens = SimpleNamespace(input_ids=tokens.input_ids[:batch], attention_mask=tokens.attention_mask[:batch])
            text_out_m = self.text_encoder_m.forward_text(caption_tokens)
            text_feat_m = F.normalize(self.text_proj_m(text_out_m.last_hidden_state[:, 0, :]), dim=-1)
            image_feat_m_all = torch.cat([image_feat_m.t(), self.image_queue.clone().detach()], dim=1)
            text_feat_m_all = torch.cat([text_feat_m.t(), self.text_queue.clone().detach()], dim=1)
            targets = positive_targets(image_ids, self.idx_queue, batch)
        itc_negatives = None
        if negatives is not None and self.loss.itc_hard_negatives:
            columns = mask_dev if self.loss.mode == "ahnpl" else torch.ones_like(mask_dev)
            itc_negatives = neg_feats[columns]
        loss_itc = queue_contrastive_loss(image_feat, text_feat, image_feat_m_all, text_feat_m_all, image_feat_m,
                                          text_feat_m, targets, alpha, self.temp, itc_negatives)

        # AHNPL's hn and dm terms on the in-batch features (its own ITC term is not used).
        scale = 1.0 / self.temp
        ahnpl = self.loss(image_feat, text_feat, neg_feats, mask_dev, scale)
        thresholds = ahnpl.pop("thresholds")

        if self.training:
            queued_ids = image_ids if image_ids is not None else torch.full((batch,), NO_IMAGE_ID, device=self.device)
            self._dequeue_and_enqueue(image_feat_m, text_feat_m, queued_ids.view(-1, 1))

        # BLIP's ITM with the hard negatives as extra non-matching pairs.
        pairs = self._itm_pairs(image_feat, text_feat, image_ids, neg_feats, mask_dev, encoded)
        ids = itm_input_ids(tokens.input_ids, self.tokenizer.enc_token_id)
        logits = itm_logits(self, image_embeds[pairs.image_rows], ids[pairs.text_rows], tokens.attention_mask[pairs.text_rows])
        loss_itm = F.cross_entropy(logits, pairs.labels)
        self.last_itm_pairs = pairs

        weighted = {"loss_itc": loss_itc} if self.use_itc else {}
        weighted.update(loss_itm=loss_itm, **ahnpl.pop("weighted"))  # AHNPL's own: hn, dm (its ITC is off)
        out = {"loss_itc": loss_itc, "loss_itm": loss_itm}
        self._retention_terms(out, weighted, images, image_feat, text_feat, caption_tokens)
        out = {"loss": total_loss(weighted), **out}
        for name in ("loss_hn", "loss_hn_text", "loss_hn_image", "loss_dm", "loss_dm_pos", "loss_dm_neg"):
            out[name] = ahnpl[name]
        for name, value in zip(self.loss.negative_types, thresholds.detach()):
            out[f"theta/{name}"] = value
        out["logit_scale"] = scale.detach()
        out["alpha"] = float(alpha)
        out["itm_hard_pairs"] = float(pairs.counts["hard"])
        return out

    @torch.no_grad()
    def _itm_pairs(self, image_feat, text_feat, image_ids, neg_feats, mask, encoded) -> ItmPairs:
        """The step's ITM pairs: BLIP's similarity-sampled ones and the hard negatives."""
        batch = image_feat.shape[0]
        ids = image_ids if image_ids is not None else torch.arange(batch, device=image_feat.device)
        same_image = torch.eq(ids.view(-1, 1), ids.view(1, -1))
        sim_i2t = image_feat @ text_feat.t() / self.temp
        caption_for_image, image_for_caption = sample_batch_negatives(sim_i2t, same_image)
        if neg_feats is None or self.itm_hard_negatives == 0:
            hard_images = hard_rows = torch.zeros(0, dtype=torch.long, device=image_feat.device)
        else:
            negative_logits = torch.einsum("bd,bkd->bk", image_feat, neg_feats) / self.temp
            hard_images, hard_types = sample_hard_negatives(negative_logits, mask, self.itm_hard_negatives)
            hard_rows = negative_token_rows(encoded).to(image_feat.device)[hard_images, hard_types]
        return itm_pairs(batch, caption_for_image, image_for_caption, hard_images, hard_rows)

    # ------------------------------------------------------------------ evaluation

    @torch.no_grad()
    def compute_sim_matrix(self, data_loader, task_cfg=None, **kwargs):
        """``(i2t, t2i)`` score matrices (numpy) for LAVIS's ``RetrievalTask`` under ``model.scoring``;
        ``itm`` and ``itc+itm`` re-rank each row's top ``run.k_test`` (default 256) by ITC."""
        k_test = 256 if task_cfg is None else int(task_cfg.get("k_test", 256))
        return compute_sim_matrix(self, data_loader, k_test, self.scoring, max_len=self.max_txt_len)
