"""The ``model.loss`` block of every model config: :class:`ahnpl_plugin.losses.AHNPLLoss`'s options.

Every argument of ``AHNPLLoss`` is a key; unknown keys are errors listing the valid ones, so a typo
never silently trains another config. Shared by ``ahnpl_clip`` and ``ahnpl_blip``. The defaults
live once, in ``lavis_configs/models/loss.yaml`` (equal to AHNPLLoss's signature, a test checks
it): the config loader puts them under ``model.loss`` (:func:`with_loss_defaults`), so a run's
config shows the whole loss; the model type YAMLs carry no loss block. ``negative_types`` takes a
type group (``ahnpl``) or a list of names (:func:`ahnpl_plugin.contract.training_types`).
"""

from __future__ import annotations

import inspect

from ahnpl_plugin.config import plain
from ahnpl_plugin.errors import ConfigError, unknown_choice
from ahnpl_plugin.paths import config_path

# The defaults of model.loss, relative to lavis_configs/ (a `loss:` mapping).
LOSS_DEFAULTS_FILE = "models/loss.yaml"


def loss_option_names() -> tuple[str, ...]:
    """The keys ``model.loss`` accepts: the arguments of ``AHNPLLoss``."""
    from ahnpl_plugin.losses import AHNPLLoss

    return tuple(name for name in inspect.signature(AHNPLLoss.__init__).parameters if name != "self")


def loss_defaults() -> dict:
    """``model.loss`` defaults of every model, as written in ``lavis_configs/models/loss.yaml``."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.load(config_path(LOSS_DEFAULTS_FILE)).loss)


def with_loss_defaults(model_cfg) -> None:
    """Put :func:`loss_defaults` under ``model_cfg.loss`` (an OmegaConf model section, in place),
    the section's own loss keys over them; a ``loss`` that is not a mapping is left for
    :func:`loss_options` to report."""
    from omegaconf import OmegaConf

    own = model_cfg.get("loss")
    if own is None or OmegaConf.is_dict(own) or isinstance(own, dict):
        model_cfg.loss = OmegaConf.merge(loss_defaults(), own or {})


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
