"""The ``model.loss`` block of every model config: :class:`ahnpl_plugin.losses.AHNPLLoss`'s options.

Every argument of ``AHNPLLoss`` is a key; unknown keys are errors listing the valid ones, so a typo
never silently trains another config. Shared by ``ahnpl_clip`` and ``ahnpl_blip``.
"""

from __future__ import annotations

import inspect

from ahnpl_plugin.config import plain
from ahnpl_plugin.errors import ConfigError, unknown_choice


def loss_option_names() -> tuple[str, ...]:
    """The keys ``model.loss`` accepts: the arguments of ``AHNPLLoss``."""
    from ahnpl_plugin.losses import AHNPLLoss

    return tuple(name for name in inspect.signature(AHNPLLoss.__init__).parameters if name != "self")


def loss_options(raw) -> dict:
    """``model.loss`` as AHNPLLoss keyword arguments (unknown keys -> ConfigError listing valid)."""
    raw = plain(raw)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"model.loss must be a mapping of AHNPLLoss options, got {raw!r}")
    valid = loss_option_names()
    for key in raw:
        if key not in valid:
            raise unknown_choice("model.loss key", key, valid)
    options = dict(raw)
    if "negative_types" in options and isinstance(options["negative_types"], list):
        options["negative_types"] = tuple(options["negative_types"])
    return options


def build_loss(options: dict, **overrides):
    """The model's one :class:`~ahnpl_plugin.losses.AHNPLLoss` from ``loss_options(...)`` (plus
    ``overrides``); a bad value is a ConfigError naming ``model.loss``."""
    from ahnpl_plugin.losses import AHNPLLoss

    try:
        return AHNPLLoss(**{**options, **overrides})
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"model.loss: {exc}") from None
