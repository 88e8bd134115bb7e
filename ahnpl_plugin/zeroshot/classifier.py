"""The zero-shot classifier: one text embedding per class from the dataset's own prompt templates.

For class c with templates t_1..t_T: w_c = normalise(mean_t normalise(encode(t_j(c)))), as CLIP,
open_clip, LAVIS and CLIP_benchmark build it. Every distinct prompt is encoded once (duplicate
class names, as ImageNet's "sunglasses" and "missile", or repeated templates cost nothing), in
batches of ``batch_size`` prompts.

Templates are strings with ``{c}`` (CLIP_benchmark's ``zeroshot_classification_templates.txt``)
or ``{}`` (ELEVATER, open_clip) where the class name goes.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F

PLACEHOLDERS = ("{c}", "{}")


def check_templates(templates: Sequence[str], where: str = "templates") -> list[str]:
    """Templates as a list of str, each with a class-name placeholder (ValueError otherwise)."""
    templates = [str(t) for t in templates]
    if not templates:
        raise ValueError(f"{where}: no templates")
    for template in templates:
        if not any(p in template for p in PLACEHOLDERS):
            raise ValueError(f"{where}: template {template!r} has no class-name placeholder ({{c}} or {{}})")
    return templates


def prompt(template: str, classname: str) -> str:
    """``template`` with the class name in place of ``{c}`` / ``{}``."""
    return template.replace("{c}", classname).replace("{}", classname)


def class_prompts(classnames: Sequence[str], templates: Sequence[str]) -> list[list[str]]:
    """Per class, its prompts in template order."""
    templates = check_templates(templates)
    return [[prompt(t, str(name)) for t in templates] for name in classnames]


@torch.no_grad()
def zero_shot_weights(encode_text: Callable[[list[str]], torch.Tensor], classnames: Sequence[str],
                      templates: Sequence[str], batch_size: int = 256) -> torch.Tensor:
    """Classifier [D, C] (column c = class c of ``classnames``) from ``encode_text(list[str]) ->
    [N, D]``; each distinct prompt encoded once. Features need not come normalised."""
    if not classnames:
        raise ValueError("no class names")
    prompts = class_prompts(classnames, templates)
    distinct = list(dict.fromkeys(p for per_class in prompts for p in per_class))
    position = {text: i for i, text in enumerate(distinct)}
    chunks = [encode_text(distinct[i:i + batch_size]) for i in range(0, len(distinct), batch_size)]
    features = F.normalize(torch.cat(chunks).float(), dim=-1)
    columns = []
    for per_class in prompts:
        index = torch.tensor([position[p] for p in per_class], device=features.device)
        columns.append(F.normalize(features[index].mean(dim=0), dim=-1))
    return torch.stack(columns, dim=1)


def zero_shot_logits(image_features: torch.Tensor, weights: torch.Tensor, scale: float = 100.0) -> torch.Tensor:
    """``scale * normalise(image_features) @ weights`` [N, C] in float32 (scale 100 as CLIP_benchmark,
    ELEVATER and LAVIS)."""
    features = F.normalize(image_features.float(), dim=-1)
    return scale * features @ weights.to(features.device).float()
