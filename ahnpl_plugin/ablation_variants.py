"""The ablation's variants (issue 20): what each one changes relative to the demo / COCO recipe.

One table, :data:`VARIANTS`, is the single source of the configs in ``projects/ahnpl/ablation/``
(the synthetic world, ``<name>.yaml``) and ``projects/ahnpl/ablation/coco/`` (COCO, ``<name>.yaml``):
``python -m ahnpl_plugin.ablation --write-configs`` regenerates them from ``projects/ahnpl/demo.yaml``
and ``projects/ahnpl/coco.yaml`` and tests/test_ablation.py checks that they are up to date.
No torch import here.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

# The row every other variant is compared with: ITC with text hard negatives (no L_hn, no L_dm).
BASELINE = "itc_text_hn"


@dataclass(frozen=True)
class Variant:
    name: str
    label: str
    what: str  # one line: what it is and where it comes from
    loss: dict = field(default_factory=dict)  # model.loss.* (mode ahnpl defaults otherwise)
    dataset: dict = field(default_factory=dict)  # datasets.ahnpl_synthetic_world.*
    coco_dataset: dict = field(default_factory=dict)  # datasets.ahnpl_coco.* of the COCO config
    epochs_factor: int = 1  # run.max_epoch multiplier (compute-matched baseline)
    model: dict = field(default_factory=dict)  # model.* other than loss (another model family)
    coco: bool = True  # whether a COCO config exists (False: needs data the COCO builder lacks)


_PLAIN = {"negative_types": [], "use_hn": False, "use_dm": False}
# the tiny BLIP, scored by ITC: on this world its ITM head stays at its label prior and re-ranking
# with it erases what ITC learned (README, "BLIP on the world")
_TINY_BLIP = {"arch": "ahnpl_blip", "model_type": "tiny", "scoring": "itc"}

VARIANTS: tuple[Variant, ...] = (
    Variant("clip_ft", "CLIP fine-tune", "plain CLIP contrastive fine-tuning, no hard negatives",
            loss=_PLAIN, dataset={"negative_types": []}),
    Variant("clip_ft_3x", "CLIP fine-tune 3x steps",
            "plain CLIP fine-tuning with 3x the epochs (about AHNPL's compute: 1 image + 6 text rows per sample)",
            loss=_PLAIN, dataset={"negative_types": []}, epochs_factor=3),
    Variant("itc_text_hn", "ITC + text HN",
            "ITC with the 5 text hard negatives as extra image->text columns (what coco_itc_text_hn.yaml trains)",
            loss={"use_hn": False, "use_dm": False}),
    Variant("negclip", "NegCLIP (+HN images)",
            "NegCLIP as published: ITC with its own swap negatives (types negclip_*: noun phrases, nouns, "
            "adjectives, ... swapped), and each batch of B gains B nearest-neighbour images (k=3; the world: "
            "pixel space; COCO: the pretrained model's embeddings, made once by `python -m ahnpl_plugin.data "
            "image-neighbours --cfg-path projects/ahnpl/ablation/coco/negclip.yaml`) with their captions and negatives",
            loss={"negative_types": ["negclip"], "use_hn": False, "use_dm": False},
            dataset={"world": {"negative_types": ["negclip"]}, "negative_types": ["negclip"], "neighbour_images": 3},
            coco_dataset={"neighbour_images_file": "${oc.env:COCO_DIR,data/coco}/neighbours/train2014_k3.json",
                          "negatives": "${oc.env:COCO_DIR,data/coco}/negatives/captions_train2014.negclip.jsonl",
                          "generate_negatives": True}),
    Variant("ceclip_paper", "CE-CLIP (paper)",
            "CE-CLIP as its paper writes it: ITC+HN, intra-modal contrast with the S(v,t) anchor on the text side "
            "(lambda 0.3), ranking loss with adaptive per-type threshold (lambda 0.2), no positive margin",
            loss={"hn_anchor": "cross", "image_hn_weight": 0.0, "lambda_hn": 0.3, "positive_margin": 0.0}),
    Variant("ceclip_released", "CE-CLIP (released code)",
            "CE-CLIP's released loss: all B*K negatives in ITC, intra-modal CE of t against all flattened "
            "negatives with target 0 for every row (its label bug), L_dm / (B*K), theta reset every epoch",
            loss={"mode": "reference", "image_hn_weight": 0.0, "lambda_hn": 0.3, "reference_hn_target": "zeros"}),
    Variant("ahnpl_reference", "AHNPL reference", "AHNPL's released loss (mode reference, defects kept)",
            loss={"mode": "reference"}),
    Variant("ahnpl", "AHNPL", "AHNPL, mode ahnpl (this project's reconstruction)", loss={"mode": "ahnpl"}),
    Variant("ahnpl_no_image_hn", "AHNPL - image HN", "mode ahnpl without the image-side term (image_hn_weight 0)",
            loss={"image_hn_weight": 0.0}),
    Variant("ahnpl_no_hn", "AHNPL - L_hn", "mode ahnpl without the multimodal hard-negative loss",
            loss={"use_hn": False}),
    Variant("ahnpl_no_dm", "AHNPL - L_dm", "mode ahnpl without the dynamic margin loss (both parts)",
            loss={"use_dm": False}),
    Variant("ahnpl_fixed_threshold", "AHNPL fixed theta=8", "mode ahnpl with theta fixed at 8 (the published script's value)",
            loss={"threshold": "fixed", "fixed_threshold": 8.0}),
    Variant("ahnpl_bound_20", "AHNPL bound 20", "mode ahnpl with the threshold bound raised from 10 to 20",
            loss={"upper_bound": 20.0}),
    Variant("ahnpl_unbounded", "AHNPL no bound",
            "mode ahnpl with bound 200, which never binds: |S(v,t) - S(v,n)| <= 2s <= 200",
            loss={"upper_bound": 200.0}),
    Variant("ahnpl_learnable_alpha", "AHNPL learnable alpha",
            "mode ahnpl with the released code's positive margin: learnable alpha on the logit scale, >= 0.2",
            loss={"learnable_positive_margin": True}),
    Variant("ahnpl_epoch_reset", "AHNPL theta reset/epoch", "mode ahnpl with theta reset to 0 every epoch (released code)",
            loss={"reset_thresholds_each_epoch": True}),
    Variant("ahnpl_per_sample", "AHNPL per-sample theta",
            "mode ahnpl with per-sample margins: theta_ik = clip(theta_k + mean gap_k - gap_ik, 0, 10)",
            loss={"per_sample_thresholds": True}),
    Variant("blip_stock", "BLIP (LAVIS objective)",
            "tiny BLIP with LAVIS's retrieval objective: ITC with momentum distillation and queue + ITM on "
            "similarity-sampled negatives, no text hard negatives; scored by ITC",
            loss=_PLAIN, dataset={"negative_types": []}, model={**_TINY_BLIP, "itm_hard_negatives": 0}, coco=False),
    Variant("ahnpl_blip", "AHNPL-BLIP", "tiny BLIP trained with AHNPL (mode ahnpl) on its ITC, the text hard "
            "negatives also as ITM non-matching pairs; scored by ITC", model=_TINY_BLIP, coco=False),
)
BY_NAME = {v.name: v for v in VARIANTS}


def variant_config(base: dict, variant: Variant, dataset_name: str) -> dict:
    """``base`` (a parsed project YAML) with the variant's loss, dataset and epochs applied."""
    cfg = copy.deepcopy(base)
    cfg["model"].update(copy.deepcopy(variant.model))
    cfg["model"]["loss"] = {"mode": "ahnpl", **copy.deepcopy(variant.loss)}
    dataset = cfg["datasets"][dataset_name]
    # the COCO data follow the model's negative types; their own keys are coco_dataset's
    keys = variant.dataset if dataset_name == "ahnpl_synthetic_world" else variant.coco_dataset
    for key, value in keys.items():
        if isinstance(value, dict) and isinstance(dataset.get(key), dict):
            dataset[key] = {**dataset[key], **copy.deepcopy(value)}  # e.g. world: one key changed
        else:
            dataset[key] = copy.deepcopy(value)
    cfg["run"]["max_epoch"] = int(cfg["run"]["max_epoch"]) * variant.epochs_factor
    job = cfg["run"].get("job_name")
    if job:
        cfg["run"]["job_name"] = f"ablation_{variant.name}"
        cfg["run"]["output_dir"] = f"output/ablation_coco/{variant.name}"
    else:
        cfg["run"]["output_dir"] = f"output/ablation/{variant.name}"
    return cfg
