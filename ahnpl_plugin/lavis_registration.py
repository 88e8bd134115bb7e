"""Imports every module that registers a plugin class in LAVIS's registry.

Each registration sits next to the class it registers (LAVIS convention); this module only makes
sure they are all imported, after the compatibility shims and after LAVIS's own runners and LR
schedulers (which LAVIS registers only when those modules are imported).
"""

from __future__ import annotations

import importlib

PLUGIN_MODULES = (
    "ahnpl_plugin.runner",
    "ahnpl_plugin.tasks.compositional",
    "ahnpl_plugin.datasets.synthetic_world_builder",
    "ahnpl_plugin.models.clip.model",
    "ahnpl_plugin.datasets.benchmark_builders",
    "ahnpl_plugin.datasets.coco_builder",
    "ahnpl_plugin.datasets.wds_builder",
    "ahnpl_plugin.models.blip.model",
    "ahnpl_plugin.tasks.zeroshot",
    "ahnpl_plugin.datasets.zeroshot_builder",
    "ahnpl_plugin.tasks.suite",
)


def register_all() -> None:
    from ahnpl_plugin import compat

    compat.apply()
    import lavis  # noqa: F401  (registers LAVIS's own models, tasks, builders, processors)
    import lavis.common.optims  # noqa: F401  (LAVIS's LR schedulers)
    import lavis.runners  # noqa: F401  (runner_base, runner_iter)

    for name in PLUGIN_MODULES:
        importlib.import_module(name)
