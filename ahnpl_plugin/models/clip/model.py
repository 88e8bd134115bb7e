"""``ahnpl_clip``: LAVIS's CLIP trained with the AHNPL loss, registered as a LAVIS model.

Build: ``registry.get_model_class("ahnpl_clip").from_config(cfg.model_cfg)`` (keys: see
:mod:`ahnpl_plugin.models.clip.options`; defaults: lavis_configs/models/ahnpl_clip_<type>.yaml).
The towers are LAVIS's ``CLIP`` (submodule ``clip``, so ``clip.``-prefixed keys in checkpoints);
the loss is :class:`ahnpl_plugin.losses.AHNPLLoss` (submodule ``loss``; its ``thresholds`` buffer,
theta, is saved with the model).

Training ``forward(samples)`` reads ``image`` [B,3,H,W], ``text_input`` (B str),
``hard_negatives`` (B lists of K str) and ``hard_negative_mask`` [B,K]; without the two negatives
keys it trains plain image-text contrast (the loss with K=0). All captions of a step go through
one text-encoder pass at their real token length (``model.text_length``: length buckets by
default); in loss mode ``ahnpl`` only valid negatives are encoded; both towers run their attention
through SDPA (``model.sdpa``). Returns a dict of scalars: ``loss``, ``loss_itc``, ``loss_hn``,
``loss_dm``, their parts (``loss_hn_text``, ``loss_hn_image``, ``loss_dm_pos``, ``loss_dm_neg``),
``theta/<type>`` (the threshold used at this step, per negative type) and ``logit_scale`` (s).
Optional keys ``text_tokens`` [B, C] and ``hard_negative_tokens`` [B, K, C] (token ids from
:func:`ahnpl_plugin.models.clip.tokenizer.batch_token_ids`, C >= the model's context length) let a loader
tokenise in its worker processes (the runner adds them to every training batch with
:meth:`loader_tokenizer`, see :mod:`ahnpl_plugin.models.loader_tokens`); without them the model
tokenises the strings itself (cached).

Inference: ``encode_image(images)`` and ``encode_text(list[str])`` give L2-normalised float32
features; ``logit_scale`` is the log-space parameter; ``compute_sim_matrix`` serves LAVIS's
``RetrievalTask``; ``before_evaluation`` / ``predict`` serve its ``multimodal_classification``
(zero-shot classification, :mod:`ahnpl_plugin.models.zero_shot_head`).

Keeping zero-shot accuracy (model_config: ``finetune``, ``lora``, ``distill``, ``l2sp``): the model
records its starting weights (``start_weights``: source and hash, see start_weights; the runner
stores it in every checkpoint, for ``python -m ahnpl_plugin.export --wise``), trains only what
``model.finetune`` selects (LoRA adapters as parametrizations, see lora), and with distillation or
L2-SP keeps a frozen copy of the starting CLIP as submodule ``reference`` (no optimiser state; an
EMA of the student with ``distill.ema``, updated by :meth:`on_optimizer_step`). ``forward`` then
also returns ``loss_distill`` (image + caption features against ``reference``'s) and ``loss_l2sp``.

Logit scale: s = exp(logit_scale) must stay <= 100. :meth:`clamp_logit_scale` clamps the parameter
to ln(100); the runner should call it after each optimiser step, and ``forward`` also calls it
(in training mode) before using s, so the bound holds even under a runner that does not.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os

import torch
import torch.nn.functional as F
from lavis.common.registry import registry
from lavis.models.base_model import BaseModel

from ahnpl_plugin.errors import ConfigError, PretrainedWeightsError
from ahnpl_plugin.losses import AHNPLLoss, total_loss
from ahnpl_plugin.models import CONFIG_FILES, config_path, default_config_path
from ahnpl_plugin.models.checkpoint_info import mismatch_message
from ahnpl_plugin.models.checkpoint_formats import load_pickle, state_dict_of
from ahnpl_plugin.models.clip.weights import (
    QUICK_GELU_KEY,
    build_clip,
    check_pretrained_available,
    checkpoint_provenance,
    new_clip,
)
from ahnpl_plugin.models.clip.options import ModelOptions, model_options
from ahnpl_plugin.models.loss_options import build_loss
from ahnpl_plugin.models.negative_batch import texts_to_encode
from ahnpl_plugin.models.step_features import StepFeatures, joined
from ahnpl_plugin.models.hard_negative_batches import HardNegativeBatchMixin
from ahnpl_plugin.models.loader_tokens import ClipLoaderTokens, encoded_negative_rows, given_tokens
from ahnpl_plugin.models.zero_shot_head import ZeroShotHeadMixin
from ahnpl_plugin.models.clip.finetune_scope import apply_scope
from ahnpl_plugin.models.lora import add_lora, has_lora, merge_state_dict
from ahnpl_plugin.models.start_weights import start_record
from ahnpl_plugin.models.start_anchor import StartAnchorMixin
from ahnpl_plugin.models.param_groups import weight_decay_groups
from ahnpl_plugin.models.clip.towers import TextEncoder, encode_chunk, encode_images, encode_tokens
from ahnpl_plugin.models.clip.tokenizer import cut_token_rows, tokenize

log = logging.getLogger(__name__)

MAX_LOGIT_SCALE = math.log(100.0)  # s = exp(logit_scale) <= 100, as CLIP/open_clip
EVAL_TEXT_BATCH = 256


def check_model_config(cfg) -> tuple[ModelOptions, AHNPLLoss]:
    """Validate a ``model:`` config and check its weights can be found, without building anything.

    Entry points call this before loading data (LAVIS builds datasets before the model), so a
    typo or a missing weights file fails in seconds. Downloads OpenAI's archive if it is absent
    and the network allows (the later build then finds it cached).
    """
    options = model_options(cfg)
    loss = build_loss(options.loss)
    if options.load_finetuned:
        if not os.path.isfile(os.path.expanduser(options.finetuned)):
            raise PretrainedWeightsError(f"model.finetuned: checkpoint not found: {options.finetuned}")
    else:
        check_pretrained_available(options.model_type, options.pretrained)
        if options.pretrained_patch:
            check_pretrained_available(options.model_type, options.pretrained_patch["base"])
        if options.pretrained_lora and not os.path.exists(os.path.expanduser(options.pretrained_lora["path"])):
            raise PretrainedWeightsError(f"model.pretrained_lora.path: file not found: {options.pretrained_lora['path']}")
    return options, loss


def _read_checkpoint(path: str, trust_code: bool = False) -> tuple[dict, object]:
    """``(model state dict, the loaded file)`` of an ``ahnpl_clip`` checkpoint (runner file or bare)."""
    path = os.path.expanduser(path)
    if not os.path.isfile(path):
        raise PretrainedWeightsError(f"model.finetuned: checkpoint not found: {path}")
    obj = load_pickle(path, trust_code)
    state, _ = state_dict_of(obj)
    if state is None:
        raise PretrainedWeightsError(f"{path}: not a checkpoint (expected a state dict or a dict with 'model')")
    return state, obj


@registry.register_model("ahnpl_clip")
class AHNPLClip(ZeroShotHeadMixin, StartAnchorMixin, HardNegativeBatchMixin, BaseModel):
    """LAVIS's CLIP + :class:`AHNPLLoss`; see the module docstring."""

    plain_loss_message = "batch without hard negatives: training plain image-text contrast (loss with K=0)"

    PRETRAINED_MODEL_CONFIG_DICT = {name: config_path(path) for name, path in CONFIG_FILES["ahnpl_clip"].items()}

    def __init__(
        self, clip, loss: AHNPLLoss, model_type: str, quick_gelu: bool, sdpa: bool = True, text_length: str = "buckets"
    ):
        super().__init__()
        self.clip = clip
        self.loss = loss
        self.model_type = model_type
        self.context_length = int(clip.context_length)
        # Speed settings (model.sdpa, model.text_length): same features whichever is chosen.
        self.sdpa = bool(sdpa)
        self.text_length = TextEncoder(clip, length=text_length).length  # validated
        # Encode invalid negatives in mode ahnpl too (they never reach the loss there): only for
        # measuring and testing the unoptimised path; mode reference always encodes them.
        self.encode_all_negatives = False
        # torch.compile'd tower functions (compile_towers); None = eager.
        object.__setattr__(self, "_compiled", None)
        # Records the activation in every state dict (uint8: broadcastable by any DDP backend), so a
        # checkpoint can never be reloaded or exported with the other activation.
        self.register_buffer(QUICK_GELU_KEY, torch.tensor(int(quick_gelu), dtype=torch.uint8))
        self._register_load_state_dict_pre_hook(self._check_activation)
        # Where the weights came from and which activation runs (clip_loading.WeightsProvenance
        # as a dict), for run records and results tables; set by from_config.
        self.weights_provenance: dict = {}
        # retention options (set_retention); defaults = the published full fine-tuning
        self._init_retention()

    # ------------------------------------------------------------------ retention

    def set_retention(self, options: ModelOptions, source: str, reproducible: bool = True) -> None:
        """Record the starting weights (now), keep a frozen ``reference`` copy if distillation or
        L2-SP needs one, add LoRA adapters and freeze what ``model.finetune`` does not train."""
        if not self.clip.logit_scale.is_meta:  # weights on the meta device (shape checks) have no values to record
            self.start_weights = start_record(source, self.model_type, self.uses_quick_gelu, self.clip.state_dict(), reproducible)
        self.finetune = options.finetune
        self._keep_start(options.distill, options.l2sp, options.keeps_start)
        if options.finetune == "lora":
            names = add_lora(self.clip, options.lora["rank"], options.lora["alpha"], options.lora["targets"])
            log.info("LoRA rank %d, alpha %g on %d weights", options.lora["rank"], options.lora["alpha"], len(names))
        try:
            trained, frozen = apply_scope(self.clip, options.finetune, options.finetune_last_n)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if options.finetune != "full":
            log.info("model.finetune %s: %d parameters train, %d frozen", options.finetune, trained, frozen)

    def _anchored(self):
        """The CLIP towers: what ``reference`` copies (StartAnchorMixin)."""
        return self.clip

    def _teacher_features(self, images, caption_tokens):
        """The reference CLIP's normalised float32 image and caption features (StartAnchorMixin)."""
        teacher_images = F.normalize(encode_images(self.reference, images.to(self.device), self.sdpa).float(), dim=-1)
        teacher_text = TextEncoder(self.reference, length=self.text_length, sdpa=self.sdpa)
        return teacher_images, F.normalize(encode_tokens(teacher_text, caption_tokens).float(), dim=-1)

    # ------------------------------------------------------------------ building

    @classmethod
    def default_config_path(cls, model_type="tiny"):
        """Absolute path of ``model_type``'s default YAML (ConfigError listing the valid types)."""
        return default_config_path("ahnpl_clip", model_type)

    @classmethod
    def from_config(cls, cfg=None):
        """Build from a ``model:`` config (validated; weights loaded; left on CPU, training mode)."""
        options, loss = check_model_config(cfg)
        if options.load_finetuned:
            model = cls.from_checkpoint(options.finetuned, options, loss)
            model.set_retention(options, options.finetuned)
            return model
        try:
            clip, quick_gelu, provenance = build_clip(
                options.model_type, options.pretrained, options.quick_gelu, act=options.act,
                patch=options.pretrained_patch, lora=options.pretrained_lora, trust_code=options.trust_code,
            )
        except RuntimeError as exc:  # load_state_dict problems not caught by the shape check
            raise PretrainedWeightsError(f"model.pretrained {options.pretrained}: {exc}") from None
        model = cls(clip, loss, options.model_type, quick_gelu, options.sdpa, options.text_length)
        model.weights_provenance = provenance.as_dict()
        model.set_retention(options, options.pretrained, reproducible=bool(options.pretrained))
        return model

    @classmethod
    def from_checkpoint(cls, path: str, options: ModelOptions, loss: AHNPLLoss):
        """The model of an ``ahnpl_clip`` checkpoint (``model.finetuned``), loaded strictly.

        Built with the activation the checkpoint records (``model.quick_gelu`` if it has none).
        """
        state, checkpoint = _read_checkpoint(path, options.trust_code)
        recorded = state.get(QUICK_GELU_KEY)
        quick_gelu = options.quick_gelu if recorded is None else bool(int(recorded))
        model = cls(
            new_clip(options.model_type, quick_gelu), loss, options.model_type, quick_gelu, options.sdpa, options.text_length
        )
        model.load_checkpoint(path, state=state, checkpoint=checkpoint)
        model.weights_provenance = checkpoint_provenance(path, quick_gelu, recorded is not None)
        log.info("ahnpl_clip %s weights: %s [ahnpl_checkpoint]; activation %s", options.model_type, path,
                 model.weights_provenance["act"])
        return model

    def load_checkpoint(self, url_or_filename, state=None, checkpoint=None):
        """Load an ``ahnpl_clip`` checkpoint strictly (LAVIS's BaseModel version ignores mismatches);
        one that does not fit names the model it was saved from (its stored config)."""
        if state is None:
            state, checkpoint = _read_checkpoint(url_or_filename)
        if has_lora(state) and not has_lora(self.state_dict()):  # a LoRA run's checkpoint, evaluated plain
            state = merge_state_dict(state)
        try:
            self.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            this = f"ahnpl_clip {self.model_type} with {self.loss.num_types} negative types"
            raise PretrainedWeightsError(mismatch_message(url_or_filename, checkpoint, this, exc)) from None

    def _check_activation(self, state_dict, prefix, local_metadata, strict, missing, unexpected, error_msgs):
        key = prefix + QUICK_GELU_KEY
        if key in state_dict and int(state_dict[key]) != int(getattr(self, QUICK_GELU_KEY)):
            error_msgs.append(
                f"the checkpoint ran with {'QuickGELU' if int(state_dict[key]) else 'GELU'}, this model "
                f"with {'QuickGELU' if int(getattr(self, QUICK_GELU_KEY)) else 'GELU'} (set model.quick_gelu)"
            )

    # ------------------------------------------------------------------ inference API

    @property
    def device(self) -> torch.device:
        """Where the weights are (LAVIS's version lists every parameter on each call)."""
        return self.clip.logit_scale.device

    @property
    def logit_scale(self) -> torch.nn.Parameter:
        """The CLIP temperature parameter, log-space (s = exp of it)."""
        return self.clip.logit_scale

    @property
    def uses_quick_gelu(self) -> bool:
        """Whether the towers run QuickGELU (OpenAI's activation) rather than nn.GELU."""
        return bool(int(getattr(self, QUICK_GELU_KEY)))

    def tokenize(self, texts) -> torch.Tensor:
        """CLIP BPE token ids [N, context_length] (cached per caption; long captions end in EOT)."""
        if isinstance(texts, str):
            texts = [texts]
        return tokenize(list(texts), context_length=self.context_length)

    def text_encoder(self) -> TextEncoder:
        """This model's text tower with its length policy and attention (see text_encoding)."""
        chunk_fn = self._compiled["text"] if self._compiled else None
        return TextEncoder(self.clip, length=self.text_length, sdpa=self.sdpa, chunk_fn=chunk_fn)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised float32 image features [B, D]."""
        run = self._compiled["image"] if self._compiled else encode_images
        features = run(self.clip, images.to(device=self.device, non_blocking=True), self.sdpa)
        return F.normalize(features.float(), dim=-1)

    def encode_text(self, texts) -> torch.Tensor:
        """L2-normalised float32 text features [N, D] of ``texts`` (list of str, a str, or token ids).

        One text-tower pass at the captions' real lengths (see text_encoding): same features as
        the padded full-context path.
        """
        tokens = texts if torch.is_tensor(texts) else self.tokenize(texts)
        if tokens.shape[0] == 0:
            return torch.zeros((0, self.clip.text_projection.shape[1]), device=self.device)
        return F.normalize(encode_tokens(self.text_encoder(), tokens).float(), dim=-1)

    def compile_towers(self, **compile_options) -> None:
        """Run both towers through ``torch.compile`` from now on (weights and state dict unchanged).

        Compiled: the image tower function and the text tower's per-chunk function, each with this
        module's CLIP as an argument, so the Python-side work (tokenising, picking negatives,
        length planning, the loss) stays eager. Text chunks change shape every step (rows and
        length), hence ``dynamic=True`` there; images keep theirs. ``compile_options`` go to both
        calls (e.g. ``mode="max-autotune-no-cudagraphs"``).
        """
        text_options = {"dynamic": True, **compile_options}
        object.__setattr__(self, "_compiled", {
            "image": torch.compile(encode_images, **compile_options),
            "text": torch.compile(encode_chunk, **text_options),
        })

    # ------------------------------------------------------------------ training

    def set_grad_checkpointing(self, enabled: bool = True) -> None:
        """Activation checkpointing of both towers' transformer blocks (``run.grad_checkpointing``):
        each block keeps only its input for the backward and recomputes the rest, so activation
        memory falls from ~all of every block's intermediates to one [N, L, E] tensor per block,
        for ~1/3 more tower compute. Same losses and gradients (no dropout; test). A ResNet image
        tower (RN50) is not checkpointed."""
        self.clip.grad_checkpointing = bool(enabled)
        if enabled and not hasattr(self.clip.visual, "transformer"):
            log.warning("grad_checkpointing: the %s image tower is a ResNet and runs without it", self.model_type)

    @torch.no_grad()
    def clamp_logit_scale(self) -> None:
        """Clamp ``logit_scale`` to [0, ln 100] in place (call after every optimiser step)."""
        self.logit_scale.clamp_(0, MAX_LOGIT_SCALE)

    def on_epoch_start(self) -> None:
        """Per-epoch hook for the runner: resets theta in loss mode ``reference`` (no-op otherwise)."""
        self.loss.on_epoch_start()

    def get_optimizer_params(self, weight_decay, lr_scale=1):
        """AdamW groups: decay on weight matrices, none on gains, biases, norms, logit_scale."""
        return weight_decay_groups(self.named_parameters(), weight_decay, lr_scale)

    def loader_tokenizer(self) -> ClipLoaderTokens:
        """What the runner's loader workers tokenise batches with: this model's ids (picklable)."""
        return ClipLoaderTokens(self.context_length)

    def _given_tokens(self, samples: dict, key: str, rows: tuple[int, ...]) -> torch.Tensor | None:
        """``samples[key]`` (token ids [*rows, C], C >= context) cut to the context, on the CPU; None if absent."""
        tokens = given_tokens(samples, key, rows)
        if tokens is None:
            return None
        if tokens.shape[-1] < self.context_length:
            raise ValueError(
                f"samples[{key!r}] has {tokens.shape[-1]} token positions; the model needs at least its context "
                f"length {self.context_length} (tokenise with batch_token_ids(..., context_length=77))"
            )
        return cut_token_rows(tokens, self.context_length)

    def _step_tokens(self, samples: dict, captions: list[str], negatives, encoded) -> torch.Tensor:
        """Token ids [N, context] of the step's one text pass: the B captions, then the ``encoded``
        negatives sample-major (as ``texts_to_encode`` orders them)."""
        batch = len(captions)
        caption_tokens = self._given_tokens(samples, "text_tokens", (batch,))
        negative_tokens = None
        if negatives is not None and samples.get("hard_negative_tokens") is not None:
            names = samples.get("hard_negative_types") or self.loss.negative_types
            negative_tokens = self._given_tokens(samples, "hard_negative_tokens", (batch, len(names)))
            # names checked by _batch_negatives
            negative_tokens = encoded_negative_rows(negative_tokens, names, self.loss.negative_types, encoded)
        if caption_tokens is None and negative_tokens is None:  # one tokenizer call for the whole pass
            texts = captions if negatives is None else texts_to_encode(captions, negatives, encoded, encode_invalid=False)[0]
            return self.tokenize(texts)
        if caption_tokens is None:
            caption_tokens = self.tokenize(captions)
        if negatives is None:
            return caption_tokens
        if negative_tokens is None:
            negative_tokens = self.tokenize(texts_to_encode([], negatives, encoded, encode_invalid=False)[0])
        return torch.cat([caption_tokens, negative_tokens])

    def _encode_step(self, samples: dict) -> StepFeatures:
        """Both towers' features of a training batch (the part of ``forward`` before the loss)."""
        images, captions = self._images_and_captions(samples)
        # Host-side planning first (negatives, token ids, on the CPU), so that the towers' GPU work
        # is queued back to back without a device sync in between.
        negatives, mask = self._batch_negatives(samples, captions)
        batch = len(captions)
        encoded = mask
        if negatives is not None and (self.loss.mode == "reference" or self.encode_all_negatives):
            encoded = torch.ones_like(mask)  # the released code encodes every negative, "###" included
        tokens = self._step_tokens(samples, captions, negatives, encoded)
        return StepFeatures(images, tokens[:batch], self.encode_image(images), self.encode_text(tokens), encoded, mask)

    def _step_loss(self, steps: list[StepFeatures]) -> dict:
        """The loss of one batch made of ``steps`` (one, or a GradCache group's micro-batches)."""
        parts = [step.split() for step in steps]
        image_feats, text_feats, neg_feats = (joined([p[i] for p in parts]) for i in range(3))
        mask = joined([step.mask for step in steps])
        if mask is not None:
            mask = mask.to(text_feats.device, non_blocking=True)
        scale = self.logit_scale.exp()
        out = self.loss(image_feats, text_feats, neg_feats, mask, scale)
        for name, value in zip(self.loss.negative_types, out.pop("thresholds").detach()):
            out[f"theta/{name}"] = value
        weighted = out.pop("weighted")
        self._retention_terms(out, weighted, joined([step.images for step in steps]), image_feats, text_feats,
                              joined([step.caption_tokens for step in steps]))
        out["loss"] = total_loss(weighted)
        out["logit_scale"] = scale.detach()
        return out

    def forward(self, samples: dict) -> dict:
        """Training loss of a batch; see the module docstring for inputs and outputs."""
        if self.training:
            self.clamp_logit_scale()
        return self._step_loss([self._encode_step(samples)])

    def grad_cache_step(self, batches: list[dict], backward_loss, autocast=contextlib.nullcontext) -> dict:
        """Gradients of the loss of ``batches`` joined into one batch, with the activation memory
        of one micro-batch (GradCache, Gao et al. 2021; docs/method.md §2.5).

        1. every micro-batch through both towers without a graph; 2. the loss of the whole group
        from those features (leaves), ``backward_loss(out)`` returns the tensor to differentiate
        (the runner's: loss checks and the GradScaler's scale) and its backward leaves the feature
        gradients (and the logit scale's, theta's statistics, the retention terms' own); 3. each
        micro-batch through the towers again, with a graph, backpropagating the cached feature
        gradients. Parameter gradients equal those of one forward of the joined batch up to float
        rounding (tests/test_grad_cache.py), whatever the number of micro-batches. Returns the
        loss outputs of step 2.
        """
        if self.training:
            self.clamp_logit_scale()
        with torch.no_grad(), autocast():
            cached = [self._encode_step(samples) for samples in batches]
        leaves = [step.as_leaves() for step in cached]
        with autocast():
            out = self._step_loss(leaves)
        backward_loss(out).backward()
        for samples, leaf in zip(batches, leaves):
            with autocast():
                step = self._encode_step(samples)
            surrogate = step.surrogate(leaf)
            if surrogate is not None:
                surrogate.backward()
        return out

    # ------------------------------------------------------------------ evaluation

    @torch.no_grad()
    def compute_sim_matrix(self, data_loader, task_cfg=None, **kwargs):
        """``(i2t, t2i)`` cosine similarity matrices (numpy) for LAVIS's ``RetrievalTask``.

        Texts come from ``data_loader.dataset.text``, images from the loader's ``image`` batches,
        as in LAVIS's CLIP.
        """
        texts = list(data_loader.dataset.text)
        text_feats = [self.encode_text(texts[i : i + EVAL_TEXT_BATCH]) for i in range(0, len(texts), EVAL_TEXT_BATCH)]
        image_feats = [self.encode_image(samples["image"]) for samples in data_loader]
        text_feats = torch.cat(text_feats) if text_feats else torch.zeros((0, 1), device=self.device)
        # float32 similarities even under the runner's autocast: bf16 has no numpy dtype, and its
        # 8-bit mantissa would tie near-equal scores and change the recall.
        with torch.autocast(device_type=self.device.type, enabled=False):
            i2t = torch.cat(image_feats).float() @ text_feats.float().T
        return i2t.cpu().numpy(), i2t.T.contiguous().cpu().numpy()
