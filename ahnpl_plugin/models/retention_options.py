"""The retention keys of a ``model:`` config, shared by ``ahnpl_clip`` and ``ahnpl_blip``.

``finetune``         what trains: ``full`` (default) | ``lora`` | ``text`` | ``vision`` | ``last_n``;
                     ``finetune_last_n``: the block count for ``last_n``
``lora``             ``{rank, alpha, targets}`` with ``finetune: lora``
``distill``          ``{weight: 0, kind: mse|cosine, ema: null}``: feature distillation to the start
``l2sp``             weight of ``sum ||w - w0||^2`` over the trained weights (0 = off)

Validated here with one-line errors; what each family trains under each mode is its own
``finetune_scope`` module. No torch at import.
"""

from __future__ import annotations

from ahnpl_plugin.config import plain
from ahnpl_plugin.errors import ConfigError, unknown_choice

FINETUNE_MODES = ("full", "lora", "text", "vision", "last_n")
RETENTION_KEYS = ("finetune", "finetune_last_n", "lora", "distill", "l2sp")


def _number(name: str, value, low: float = 0.0, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low or (high is not None and value >= high):
        bound = f"in [{low}, {high})" if high is not None else f">= {low}"
        raise ConfigError(f"model.{name} must be a number {bound}, got {value!r}")
    return float(value)


def _lora(raw: dict, finetune: str) -> dict:
    from ahnpl_plugin.models.lora import LORA_TARGETS

    lora = plain(raw.get("lora")) or {}
    if not isinstance(lora, dict):
        raise ConfigError(f"model.lora must be a mapping (rank, alpha, targets), got {lora!r}")
    if lora and finetune != "lora":
        raise ConfigError(f"model.lora is set but model.finetune is {finetune!r}; set model.finetune: lora")
    for key in lora:
        if key not in ("rank", "alpha", "targets"):
            raise unknown_choice("model.lora key", key, ("rank", "alpha", "targets"))
    if finetune != "lora":
        return lora
    rank = lora.get("rank", 4)
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ConfigError(f"model.lora.rank must be an integer >= 1, got {rank!r}")
    targets = tuple(lora.get("targets", LORA_TARGETS))
    for target in targets:
        if target not in LORA_TARGETS:
            raise unknown_choice("model.lora.targets entry", target, LORA_TARGETS)
    return {"rank": rank, "alpha": _number("lora.alpha", lora.get("alpha", float(rank)), 1e-12), "targets": targets}


def _distill(raw: dict) -> dict:
    from ahnpl_plugin.retention import DISTILL_KINDS

    distill = plain(raw.get("distill")) or {}
    if not isinstance(distill, dict):
        raise ConfigError(f"model.distill must be a mapping (weight, kind, ema), got {distill!r}")
    for key in distill:
        if key not in ("weight", "kind", "ema"):
            raise unknown_choice("model.distill key", key, ("weight", "kind", "ema"))
    kind = distill.get("kind", "mse")
    if kind not in DISTILL_KINDS:
        raise unknown_choice("model.distill.kind", kind, DISTILL_KINDS)
    ema = distill.get("ema")
    return {
        "weight": _number("distill.weight", distill.get("weight", 0.0)),
        "kind": kind,
        "ema": None if ema is None else _number("distill.ema", ema, 0.0, 1.0),
    }


def retention_options(raw: dict) -> dict:
    """``finetune``, ``finetune_last_n``, ``lora``, ``distill``, ``l2sp`` validated, defaults filled in."""
    finetune = raw.get("finetune", "full")
    if finetune not in FINETUNE_MODES:
        raise unknown_choice("model.finetune", finetune, FINETUNE_MODES)
    last_n = raw.get("finetune_last_n", 0)
    if finetune == "last_n" and (isinstance(last_n, bool) or not isinstance(last_n, int) or last_n < 1):
        raise ConfigError(f"model.finetune last_n needs model.finetune_last_n >= 1 (blocks per tower), got {last_n!r}")
    lora = _lora(raw, finetune)
    distill = _distill(raw)
    l2sp = _number("l2sp", raw.get("l2sp", 0.0))
    if l2sp > 0 and finetune == "lora":
        raise ConfigError("model.l2sp with model.finetune lora: the base weights are frozen; limit the adapters with lora.rank instead")
    if l2sp > 0 and distill["ema"] is not None and distill["weight"] > 0:
        raise ConfigError("model.l2sp with an EMA teacher (model.distill.ema): L2-SP needs the fixed start; use one of them")
    return {"finetune": finetune, "finetune_last_n": int(last_n or 0), "lora": lora, "distill": distill, "l2sp": l2sp}


def keeps_start(distill: dict, l2sp: float) -> bool:
    """Whether training needs a frozen copy of the starting weights (teacher or L2-SP anchor)."""
    return distill.get("weight", 0.0) > 0 or l2sp > 0
