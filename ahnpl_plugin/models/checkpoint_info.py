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


_SHOWN = 3  # keys named per kind of mismatch


def _keys(text: str) -> list[str]:
    keys = (k.strip().rstrip(".").strip('"') for k in text.split(","))
    return [k for k in keys if k]


def summarize_load_error(exc: Exception, shown: int = _SHOWN) -> str:
    """A short account of a ``load_state_dict`` error: how many keys are missing, unexpected or of
    another shape, with the first ``shown`` of each (PyTorch's own message lists every key: 10-16k
    characters for a CLIP checkpoint)."""
    parts = []
    for line in str(exc).splitlines():
        line = line.strip()
        for label, prefix in (("missing", "Missing key(s) in state_dict:"),
                              ("unexpected", "Unexpected key(s) in state_dict:")):
            if line.startswith(prefix):
                keys = _keys(line[len(prefix):])
                more = f", ... (+{len(keys) - shown})" if len(keys) > shown else ""
                parts.append(f"{len(keys)} {label} key(s): {', '.join(keys[:shown])}{more}")
    shapes = [line.strip() for line in str(exc).splitlines() if line.strip().startswith("size mismatch for")]
    if shapes:
        first = shapes[0].split(": copying")[0].removeprefix("size mismatch for ")
        detail = shapes[0].split(": ", 1)[1] if ": " in shapes[0] else ""
        parts.append(f"{len(shapes)} tensor(s) of another shape, first {first}"
                     + (f" ({detail[:160]})" if detail else ""))
    if not parts:
        lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
        text = lines[1] if len(lines) > 1 else (lines[0] if lines else type(exc).__name__)
        parts.append(text if len(text) <= 240 else text[:237] + "...")
    return "; ".join(parts)


def first_mismatch(exc: Exception) -> str:
    """Kept for callers of the earlier name: :func:`summarize_load_error`."""
    return summarize_load_error(exc)


def mismatch_message(path, obj, this: str, exc: Exception) -> str:
    """One short line for checkpoint ``obj`` (read from ``path``) that does not fit model ``this``:
    the model it was saved from, this one, counts and first keys of the mismatch, and the fix."""
    arch, model_type = checkpoint_model(obj)
    fix = (f"set model.arch={arch} model.model_type={model_type}" if arch and model_type
           else "set model.arch/model.model_type to the ones the checkpoint was trained with")
    return (f"{path} was saved from {describe_checkpoint_model(obj)}; this model is {this} ({summarize_load_error(exc)}). "
            f"To load it, {fix}, or use a checkpoint of this model")
