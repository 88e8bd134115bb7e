"""Import hooks installed by ``ahnpl_lavis_hook.pth`` in every interpreter of the environment.

Two small meta-path finders, so that nothing is ever written into LAVIS's package directory:

* :class:`LavisCompatFinder` (first on ``sys.meta_path``) applies :mod:`ahnpl_plugin.compat`
  the moment anything imports ``lavis``, then steps aside: LAVIS's ``__init__`` imports every model
  eagerly, so shims must be in place before that.
* :class:`LavisEntryPointFinder` (last on ``sys.meta_path``, so a real ``lavis/train.py`` in a
  future LAVIS release wins) maps ``lavis.train`` / ``lavis.evaluate`` to our entry points, which
  makes ``python -m lavis.train`` and ``torchrun -m lavis.train`` work.

This module must stay cheap: it runs at every interpreter start (no torch, no LAVIS imports).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys

ENTRY_POINTS = {
    "lavis.train": "ahnpl_plugin.train",
    "lavis.evaluate": "ahnpl_plugin.evaluate",
}


class LavisCompatFinder:
    """Runs the compatibility shims once, right before ``lavis`` is imported."""

    _done = False

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname == "lavis" and not cls._done:
            cls._done = True
            from ahnpl_plugin import compat

            compat.apply()
        return None  # never loads anything itself


class LavisEntryPointFinder:
    """Resolves ``lavis.train`` / ``lavis.evaluate`` to the plugin's modules of the same role."""

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        target_name = ENTRY_POINTS.get(fullname)
        if target_name is None:
            return None
        origin_spec = importlib.util.find_spec(target_name)
        if origin_spec is None or origin_spec.origin is None:
            return None
        loader = importlib.machinery.SourceFileLoader(fullname, origin_spec.origin)
        return importlib.util.spec_from_file_location(fullname, origin_spec.origin, loader=loader)


def install() -> None:
    """Put both finders on ``sys.meta_path`` (idempotent)."""
    if LavisCompatFinder not in sys.meta_path:
        sys.meta_path.insert(0, LavisCompatFinder)
    if LavisEntryPointFinder not in sys.meta_path:
        sys.meta_path.append(LavisEntryPointFinder)
