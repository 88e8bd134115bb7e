"""LAVIS's zero-shot classification route for ``ahnpl_clip`` and ``ahnpl_blip``.

LAVIS's ``multimodal_classification`` task calls ``model.before_evaluation(dataset, task_type)``
and then ``model.predict(samples)`` per batch, keeping the argmax of ``predictions`` against
``targets`` (``samples["label"]``). LAVIS's own CLIP builds its classifier there from
``dataset.classnames`` and OpenAI's 80 ImageNet templates whatever the dataset is; here:

* the templates are the dataset's own (a ``templates`` attribute, strings with ``{c}``/``{}``);
  a dataset without them gets OpenAI's ImageNet templates only if its class list is LAVIS's
  ImageNet list (the ``imagenet`` builder); any other dataset without templates is an error;
* the classifier is built from the model's ITC features (:func:`zero_shot_weights`: mean of the
  normalised template embeddings, renormalised, each distinct prompt encoded once) and kept out
  of the state dict;
* ``predict`` gives ``100 * normalise(image features) @ classifier`` in float32.
"""

from __future__ import annotations

import torch

from ahnpl_plugin.errors import ConfigError
from ahnpl_plugin.zeroshot.classifier import zero_shot_logits, zero_shot_weights


def lavis_imagenet_prompts() -> tuple[list[str], list[str]]:
    """LAVIS's ImageNet class names and OpenAI's 80 templates (as ``{c}`` strings)."""
    from lavis.datasets.builders.imagefolder_builder import imagenet_classnames
    from lavis.models.clip_models.model import openai_imagenet_template

    return list(imagenet_classnames), [template("{c}") for template in openai_imagenet_template]


def dataset_prompts(dataset) -> tuple[list[str], list[str]]:
    """``(classnames, templates)`` of a classification dataset (see the module docstring)."""
    classnames = list(getattr(dataset, "classnames", None) or [])
    if not classnames:
        raise ConfigError(f"{type(dataset).__name__} has no class names (attribute 'classnames')")
    templates = getattr(dataset, "templates", None)
    if templates:
        return classnames, list(templates)
    imagenet_names, imagenet_templates = lavis_imagenet_prompts()
    if classnames == imagenet_names:
        return classnames, imagenet_templates
    raise ConfigError(
        f"{type(dataset).__name__} has {len(classnames)} class names but no prompt templates: give the "
        "dataset a 'templates' list (ImageNet's templates are used only for ImageNet's classes), or "
        "evaluate it with task ahnpl_zeroshot"
    )


class ZeroShotHeadMixin:
    """``before_evaluation`` / ``predict`` for LAVIS's ``multimodal_classification``; the model
    class provides ``encode_image(images)`` and ``encode_text(list[str])``."""

    zero_shot_text_batch = 256

    def before_evaluation(self, dataset=None, task_type=None, **kwargs):
        """LAVIS's task hook: builds the zero-shot classifier under ``multimodal_classification``
        (nothing to prepare for the other tasks)."""
        from lavis.tasks.multimodal_classification import MultimodalClassificationTask

        if task_type is None or not issubclass(task_type, MultimodalClassificationTask):
            return
        classnames, templates = dataset_prompts(dataset)
        with torch.no_grad(), torch.autocast(device_type=self.device.type, enabled=False):
            weights = zero_shot_weights(self.encode_text, classnames, templates, self.zero_shot_text_batch)
        object.__setattr__(self, "_zero_shot_weights", weights)  # not a buffer: state dicts unchanged

    @torch.no_grad()
    def predict(self, samples: dict) -> dict:
        """``{"predictions": [B, C] logits, "targets": samples["label"]}`` (LAVIS's contract)."""
        weights = getattr(self, "_zero_shot_weights", None)
        if weights is None:
            raise ConfigError("predict() needs the zero-shot classifier: run it under task "
                              "multimodal_classification, whose before_evaluation builds it")
        features = self.encode_image(samples["image"])
        with torch.autocast(device_type=features.device.type, enabled=False):
            logits = zero_shot_logits(features, weights)
        return {"predictions": logits, "targets": samples["label"]}
