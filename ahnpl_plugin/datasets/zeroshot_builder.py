"""LAVIS builder ``ahnpl_zeroshot``: zero-shot classification sets, each with its own class names,
templates and metric, as split ``test`` (a :class:`ZeroShotSuite`, one part per set).

Config (defaults: ``lavis_configs/datasets/zeroshot/defaults.yaml``)::

    datasets:
      ahnpl_zeroshot:
        sets:
          <name>:                 # e.g. imagenet1k, cifar10, vtab/pets: the name picks the metric
            format: wds | folders | elevater  # CLIP_benchmark webdataset export | class-per-folder
                                  # tree | a dataset folder as ELEVATER's toolkit downloads it
            root: path            # relative paths: from the working directory
            split: test           # the export's split folder / the tree's images folder
            classnames: null      # a file (default: root/classnames.txt) or "imagenet" (LAVIS's list)
            templates: null       # a file (default: root/zeroshot_classification_templates.txt)
                                  # or "imagenet" (OpenAI's 80 ImageNet templates: ImageNet only)
            folders: null         # folders only: a file (line i = class i's folder; default
                                  # root/folders.txt if present, else folders named as classes) or "sorted"
            index: null           # elevater only: the split's index under root (default: test.txt,
                                  # test_coco.json, test_meta.json or test.json)
            labelmap: labels.txt  # elevater only, IRIS index: the class names file under root
            metric: null          # override the suite's metric (ahnpl_plugin.zeroshot.metrics.METRICS)
        strict: false             # true: a set whose root folder is absent is an error; false: it is
                                  # left out and listed in the results (malformed files: always an error)
        vis_processor: {eval: ...}  # unset: the model's own eval processor (task ahnpl_zeroshot)

Readers and layouts: :mod:`ahnpl_plugin.zeroshot.readers`; metric per set:
:mod:`ahnpl_plugin.zeroshot.protocols`. :meth:`ZeroShotBuilder.inspect` is the data check.
"""

from __future__ import annotations

import logging
from pathlib import Path

from lavis.common.registry import registry
from lavis.datasets.builders.base_dataset_builder import BaseDatasetBuilder
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import ConcatDataset

from ahnpl_plugin.errors import ConfigError, UserError
from ahnpl_plugin.paths import config_path, resolve_user_path
from ahnpl_plugin.zeroshot.evaluate import ZeroShotImages
from ahnpl_plugin.zeroshot.metrics import METRICS
from ahnpl_plugin.zeroshot.protocols import headline_metric
from ahnpl_plugin.zeroshot.readers import FORMATS, ZeroShotSet, read_set

BUILDER_KEYS = {"data_type", "sets", "strict", "vis_processor", "text_processor"}
SET_KEYS = {"format", "root", "split", "classnames", "templates", "folders", "metric", "index", "labelmap"}
FORMAT_ONLY_KEYS = {"folders": "folders", "index": "elevater", "labelmap": "elevater"}
IMAGENET = "imagenet"


class ZeroShotSuite(ConcatDataset):
    """The sets of one ``ahnpl_zeroshot`` config; ``parts`` are :class:`ZeroShotImages`;
    ``not_evaluated`` maps each configured set whose folder is absent to why."""

    def __init__(self, parts: list[ZeroShotImages], not_evaluated: dict | None = None):
        super().__init__(parts)
        self.parts = parts
        self.collater = parts[0].collater
        self.not_evaluated = dict(not_evaluated or {})


def _set_options(name: str, cfg) -> dict:
    where = f"datasets.ahnpl_zeroshot.sets.{name}"
    if not isinstance(cfg, (dict, DictConfig)):
        raise ConfigError(f"{where}: expected a mapping with format and root, got {cfg!r}")
    cfg = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    unknown = sorted(set(cfg) - SET_KEYS)
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} under {where}; valid: {sorted(SET_KEYS)}")
    fmt = cfg.get("format")
    if fmt not in FORMATS:
        raise ConfigError(f"{where}.format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    if not cfg.get("root"):
        raise ConfigError(f"{where}.root is required (the set's folder)")
    if cfg.get("metric") is not None and cfg["metric"] not in METRICS:
        raise ConfigError(f"{where}.metric: unknown {cfg['metric']!r}; valid: {', '.join(sorted(METRICS))}")
    for key, only in FORMAT_ONLY_KEYS.items():
        if cfg.get(key) is not None and fmt != only:
            raise ConfigError(f"{where}.{key} applies to format {only} only")
    return cfg


def _prompt_source(value, root: Path, which: str):
    """A classnames/templates value: None (the file in root), "imagenet", or a file path."""
    if value is None or value == "":
        return None
    if value == IMAGENET:
        from ahnpl_plugin.models.zero_shot_head import lavis_imagenet_prompts

        names, templates = lavis_imagenet_prompts()
        return names if which == "classnames" else templates
    return resolve_user_path(value)


def read_configured_set(name: str, cfg) -> tuple[ZeroShotSet, str | None]:
    """``(the set, its metric override)`` of one ``sets.<name>`` entry."""
    options = _set_options(name, cfg)
    root = resolve_user_path(options["root"])
    kwargs = {
        "split": str(options.get("split") or "test"),
        "name": name,
        "classnames": _prompt_source(options.get("classnames"), root, "classnames"),
        "templates": _prompt_source(options.get("templates"), root, "templates"),
    }
    if options["format"] == "folders":
        folders = options.get("folders")
        kwargs["folders"] = folders if folders in (None, "sorted") else resolve_user_path(folders)
    if options["format"] == "elevater":
        kwargs["index"] = options.get("index")  # relative to root
        kwargs["labelmap"] = options.get("labelmap") or "labels.txt"
    return read_set(options["format"], root, **kwargs), options.get("metric")


def set_root(name: str, cfg) -> Path:
    """The resolved ``root`` folder of one ``sets.<name>`` entry (checked, not read)."""
    return resolve_user_path(_set_options(name, cfg)["root"])


def configured_sets(cfg) -> dict:
    sets = cfg.get("sets")
    if not sets:
        raise ConfigError("datasets.ahnpl_zeroshot.sets is empty: name at least one set (see "
                          "lavis_configs/datasets/zeroshot/defaults.yaml)")
    unknown = sorted(set(cfg.keys()) - BUILDER_KEYS)
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} under datasets.ahnpl_zeroshot; valid: {sorted(BUILDER_KEYS)}")
    return sets


@registry.register_builder("ahnpl_zeroshot")
class ZeroShotBuilder(BaseDatasetBuilder):
    DATASET_CONFIG_DICT = {"default": config_path("datasets/zeroshot/defaults.yaml")}

    @classmethod
    def inspect(cls, cfg):
        """``python -m ahnpl_plugin.data check``: every set read (no image decoded), counts, metric."""
        from ahnpl_plugin.data.report import CheckReport

        report = CheckReport("datasets.ahnpl_zeroshot")
        try:
            sets = configured_sets(cfg)
        except UserError as exc:
            report.problem(str(exc))
            return report
        for name in sets:
            try:
                zs, metric = read_configured_set(name, sets[name])
            except UserError as exc:
                report.problem(f"sets.{name}: {exc}")
                continue
            headline = metric or headline_metric(name, zs.multilabel)
            report.add(f"{name}: {len(zs)} images, {len(zs.classnames)} classes, {len(zs.templates)} templates, "
                       f"metric {headline}{' (multi-label)' if zs.multilabel else ''}; {zs.source}")
            for note in zs.notes:
                report.add(f"{name}: {note}")
        return report

    def build_datasets(self):
        cfg = self.config
        sets = configured_sets(cfg)
        vis_cfg = cfg.get("vis_processor")
        if vis_cfg is None or vis_cfg.get("eval") is None:
            raise ConfigError("datasets.ahnpl_zeroshot.vis_processor.eval is not set (the ahnpl_zeroshot task "
                              "sets it to the model's eval processor; other tasks need it in the config)")
        strict = cfg.get("strict", False)
        if not isinstance(strict, bool):
            raise ConfigError(f"datasets.ahnpl_zeroshot.strict: expected true or false, got {strict!r}")
        self.build_processors()
        parts, absent = [], {}
        for name in sets:
            root = set_root(name, sets[name])
            if not root.exists() and not strict:  # absent: left out and listed; malformed: an error
                absent[name] = f"{root} not found"
                logging.warning("ahnpl_zeroshot %s: not evaluated, %s (strict: true makes this an error)",
                                name, absent[name])
                continue
            zs, metric = read_configured_set(name, sets[name])
            part = ZeroShotImages(zs, self.vis_processors["eval"], metric)
            logging.info("ahnpl_zeroshot %s: %d images, %d classes, %d templates, metric %s (%s)", name, len(zs),
                         len(zs.classnames), len(zs.templates), part.headline, zs.source)
            parts.append(part)
        if not parts:
            raise ConfigError(f"datasets.ahnpl_zeroshot: none of the {len(absent)} sets is there: "
                              + "; ".join(f"{k}: {v}" for k, v in absent.items()))
        return {"test": ZeroShotSuite(parts, absent)}


def lavis_imagenet_report(cfg):
    """Data check of LAVIS's ``imagenet`` builder (it has none): ``<storage>/<split>`` holds one
    folder per class, in the order of LAVIS's 1000 class names."""
    from ahnpl_plugin.data.report import CheckReport
    from ahnpl_plugin.models.zero_shot_head import lavis_imagenet_prompts

    report = CheckReport("datasets.imagenet")
    try:
        storage = Path(str(cfg.build_info.images.storage)).expanduser()
        splits = list(cfg.build_info.splits)
    except Exception:  # noqa: BLE001 (any missing key)
        report.problem("datasets.imagenet.build_info.images.storage and build_info.splits are required")
        return report
    classes = len(lavis_imagenet_prompts()[0])
    for split in splits:
        folder = storage / split
        if not folder.is_dir():
            report.problem(f"{folder} not found: set datasets.imagenet.build_info.images.storage to the folder "
                           f"holding {split}/ (one folder per class, e.g. n01440764/)")
            continue
        folders = sorted(p.name for p in folder.iterdir() if p.is_dir())
        files = sum(1 for p in folder.rglob("*") if p.is_file())
        report.add(f"{split}: {len(folders)} class folders, {files} files in {folder}")
        if len(folders) != classes:
            report.problem(f"{folder}: {len(folders)} class folders; LAVIS labels them in sorted order against its "
                           f"{classes} ImageNet class names, so all {classes} must be there")
    if cfg.get("vis_processor") is None:
        report.problem("datasets.imagenet.vis_processor.eval is not set (LAVIS's imagenet config has none): e.g. "
                       "{name: clip_image_eval, image_size: 224}")
    return report


LAVIS_BUILDER_CHECKS = {"imagenet": lavis_imagenet_report}
