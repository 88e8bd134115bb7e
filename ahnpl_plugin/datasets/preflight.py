"""Cheap checks of every dataset path of a config, run before the model is built.

``check_dataset_paths(cfg)`` calls ``check_paths(dataset_cfg)`` of each configured builder that
has one (``ahnpl_coco``, ``ahnpl_flickr30k``, ``ahnpl_wds``): a missing annotation file, images
folder, negatives file or shard fails in seconds, naming the config key, the path and the fix,
instead of after minutes of model loading.
"""

from __future__ import annotations


def check_dataset_paths(cfg) -> None:
    """Raise the first builder's ConfigError for a missing path (call right after load_config)."""
    from lavis.common.registry import registry

    task = registry.get_task_class(cfg.run_cfg.get("task"))
    if getattr(task, "lists_absent_datasets", False):
        return  # its build_datasets lists absent datasets in the results (run.strict: all or nothing)
    for name in cfg.datasets_cfg:
        builder = registry.get_builder_class(name)
        check = getattr(builder, "check_paths", None)
        if check is not None:
            check(cfg.datasets_cfg[name])
