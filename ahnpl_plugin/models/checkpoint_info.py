"""Which model a checkpoint file was made for, read from the run config stored in it.

Checkpoints written by the runner (``ahnpl_plugin.runner`` and LAVIS's own runner) are dicts
``{"model": state_dict, "optimizer": ..., "config": the run config as a dict, ...}``; the model's
``arch`` and ``model_type`` are ``config["model"]["arch"]`` / ``["model_type"]``. Released files
(LAVIS's BLIP weights, OpenAI's CLIP) store no config. Loaders use this to say "this file holds an
ahnpl_blip tiny model" instead of a size-mismatch traceback when a checkpoint of another model is
loaded. Pure functions (no torch): they only look at the loaded object.
"""

from __future__ import annotations

from collections.abc import Mapping

UNKNOWN_MODEL = "a model of unknown type (no config stored)"


def _name(value) -> str | None:
    """A non-empty string value, else None (absent, empty or not a name)."""
    return value if isinstance(value, str) and value.strip() else None


def checkpoint_model(obj) -> tuple[str | None, str | None]:
    """``(arch, model_type)`` stored in checkpoint ``obj`` (``obj["config"]["model"]``), None where absent.

    ``obj`` is whatever ``torch.load`` returned: a runner checkpoint, a bare state dict, anything.
    """
    config = obj.get("config") if isinstance(obj, Mapping) else None
    model = config.get("model") if isinstance(config, Mapping) else None
    if not isinstance(model, Mapping):
        return None, None
    return _name(model.get("arch")), _name(model.get("model_type"))


def describe_checkpoint_model(obj) -> str:
    """The model checkpoint ``obj`` holds, for messages: "ahnpl_clip ViT-B-32", "ahnpl_blip (model_type
    not stored)", "a model of model_type tiny (arch not stored)" or "a model of unknown type (no config
    stored)"."""
    arch, model_type = checkpoint_model(obj)
    if arch and model_type:
        return f"{arch} {model_type}"
    if arch:
        return f"{arch} (model_type not stored)"
    if model_type:
        return f"a model of model_type {model_type} (arch not stored)"
    return UNKNOWN_MODEL


def first_mismatch(exc: Exception) -> str:
    """The first specific line of a ``load_state_dict`` error (its first line is a generic header)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[1] if len(lines) > 1 else (lines[0] if lines else type(exc).__name__)


def mismatch_message(path, obj, this: str, exc: Exception) -> str:
    """One line for checkpoint ``obj`` (read from ``path``) that does not fit model ``this``: the
    model it was saved from, this one, the first mismatching tensor and the fix."""
    arch, model_type = checkpoint_model(obj)
    fix = (f"set model.arch={arch} model.model_type={model_type}" if arch and model_type
           else "set model.arch/model.model_type to the ones the checkpoint was trained with")
    return (f"{path} was saved from {describe_checkpoint_model(obj)}; this model is {this} ({first_mismatch(exc)}). "
            f"To load it, {fix}, or use a checkpoint of this model")
