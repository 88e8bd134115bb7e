"""Shims that let salesforce-lavis 1.0.2 import against the dependency set we own.

Applied automatically before ``import lavis`` (see :mod:`ahnpl_plugin.hook`) and again, idempotently,
by :func:`ahnpl_plugin.register`. Each shim checks for the condition it fixes and does nothing
otherwise, so upgrading a dependency never makes a shim harmful.
"""

from __future__ import annotations

import importlib.metadata
import warnings

_applied = False

# Names LAVIS 1.0.2 imports from transformers.modeling_utils (lavis/models/med.py:40,
# blip2_models/Qformer.py:39, blip_models/nlvr_encoder.py:19) that transformers 4.56 moved to
# transformers.pytorch_utils only.
_MOVED_TRANSFORMERS_NAMES = (
    "apply_chunking_to_forward",
    "find_pruneable_heads_and_indices",
    "prune_linear_layer",
)


def _version_tuple(dist: str) -> tuple[int, ...] | None:
    try:
        raw = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
    parts = []
    for piece in raw.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def _reexport_transformers_names() -> None:
    version = _version_tuple("transformers")
    if version is None or version < (4, 56):
        return
    if version >= (5,):
        raise ImportError(
            f"transformers {'.'.join(map(str, version))} cannot build LAVIS's BERT (BLIP); "
            "install transformers>=4.40,<4.56 (see requirements/env.txt)"
        )
    import transformers.modeling_utils as modeling_utils
    import transformers.pytorch_utils as pytorch_utils

    for name in _MOVED_TRANSFORMERS_NAMES:
        if not hasattr(modeling_utils, name) and hasattr(pytorch_utils, name):
            setattr(modeling_utils, name, getattr(pytorch_utils, name))


def _quiet_known_warnings() -> None:
    # Deprecation noise from LAVIS's pinned-era dependencies at import time; not actionable by users.
    for module in ("fairscale", "torch.jit", "timm"):
        warnings.filterwarnings("ignore", category=FutureWarning, module=module)


def apply() -> None:
    """Apply every shim once."""
    global _applied
    if _applied:
        return
    _applied = True
    _quiet_known_warnings()
    _reexport_transformers_names()
