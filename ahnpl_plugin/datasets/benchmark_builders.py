"""LAVIS dataset builders of the compositional benchmarks: one ``ahnpl_<benchmark>`` per benchmark.

Each builds split ``test`` only: a :class:`BenchmarkChoiceDataset` (a
:class:`~ahnpl_plugin.datasets.choice_eval.ChoiceEvalDataset` of the benchmark's items, scored by
the benchmark's own published rules) from the files as distributed, read by
:func:`ahnpl_plugin.benchmarks.load`. Registered names: ``ahnpl_aro_vg_relation``,
``ahnpl_aro_vg_attribution``, ``ahnpl_aro_coco_order``, ``ahnpl_aro_flickr_order``,
``ahnpl_sugarcrepe``, ``ahnpl_valse``, ``ahnpl_vl_checklist``, ``ahnpl_winoground``; issue 16:
``ahnpl_sugarcrepe_pp``, ``ahnpl_whatsup``, ``ahnpl_spec``, ``ahnpl_crepe``, ``ahnpl_eqben``,
``ahnpl_imagecode``, ``ahnpl_svo_probes``, ``ahnpl_colorswap``, ``ahnpl_mmvp_vlm``.

Config keys (defaults in ``lavis_configs/datasets/benchmarks/<benchmark>.yaml``):

``root``        the benchmark's folder (relative paths: from the working directory);
``image_root``  the images folder, or for VALSE a mapping ``source -> folder`` (or list of
                folders); ``null`` = the benchmark's default (see ``benchmarks.load``);
``strict``      true: a missing image is an error; false (default): items with a missing image
                are left out, counted and reported beside the scores (and the benchmark's
                averages are marked incomplete);
``enabled``     false leaves the benchmark out of the run (``--options
                datasets.ahnpl_valse.enabled=false``); default true;
``options``     extra keyword arguments of the benchmark's loader (e.g. SugarCrepe ``files``,
                VALSE ``pieces``, VL-CheckList ``corpora``, Order sets ``seed``);
``vis_processor.eval`` / ``text_processor.eval``  LAVIS processors for images and captions; when
                absent, the ``ahnpl_compositional`` task fills in the model's own eval processors.

:meth:`BenchmarkBuilder.inspect` is the check of ``python -m ahnpl_plugin.data check``: the same
keys and files, item and missing-image counts, problems with their fixes.

Missing or malformed benchmark files, and missing images under ``strict``, raise
:class:`BenchmarkInputError` (a :class:`~ahnpl_plugin.errors.UserError`: the entry points print
the message, which names the file expected and where to download it, and exit with code 2).
"""

from __future__ import annotations

import inspect
import logging
import os
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

from lavis.common.registry import registry
from lavis.datasets.builders.base_dataset_builder import BaseDatasetBuilder

from ahnpl_plugin import benchmarks
from ahnpl_plugin.config import plain
from ahnpl_plugin.datasets.choice_eval import ChoiceEvalDataset
from ahnpl_plugin.errors import BenchmarkImageError, BenchmarkInputError, BenchmarkMissingError, ConfigError, UserError
from ahnpl_plugin.paths import config_path, resolve_user_path

BUILDER_KEYS = {"data_type", "type", "root", "image_root", "strict", "enabled", "options",
                "vis_processor", "text_processor"}
# Loader keywords that a YAML cannot or must not set (strict has its own key; tagger is a callable).
_NOT_OPTIONS = {"strict", "tagger"}


def open_benchmark_image(ref):
    """:func:`ahnpl_plugin.benchmarks.open_image`, with an unreadable file named in the error."""
    try:
        return benchmarks.open_image(ref)
    except (OSError, ValueError, SyntaxError) as exc:  # PIL raises all three for broken files
        raise BenchmarkImageError(f"cannot read image {getattr(ref, 'path', ref)}: {exc}") from None


def unreadable_images(refs) -> list[str]:
    """One sentence per existing image file that cannot be opened: empty (0 bytes) or not an
    image PIL recognises (only the header is read; nothing is decoded)."""
    from PIL import Image

    problems = []
    for ref in refs:
        if ref.data is not None or not os.path.isfile(ref.path):
            continue
        if os.path.getsize(ref.path) == 0:
            problems.append(f"cannot read image {ref.path}: the file is empty (0 bytes)")
            continue
        if ref.path.endswith(".npy"):  # EqBen's YouCook2 frames: [H, W, 3] uint8 arrays
            problem = _npy_frame_problem(ref.path)
            if problem:
                problems.append(f"cannot read image {ref.path}: {problem}")
            continue
        try:
            with Image.open(ref.path):
                pass
        except (OSError, ValueError, SyntaxError) as exc:
            problems.append(f"cannot read image {ref.path}: {exc}")
    return problems


def _npy_frame_problem(path: str) -> str:
    """Why a ``.npy`` file is not an ``[H, W, 3]`` uint8 frame ("" when it is); header only."""
    import numpy as np

    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(f)
    except (OSError, ValueError) as exc:
        return f"not a numpy array file ({exc})"
    if len(shape) != 3 or shape[2] != 3 or dtype != np.uint8:
        return f"expected an [H, W, 3] uint8 frame, got shape {shape} {dtype}"
    return ""


def eval_item(item: benchmarks.Item, text_processor=None) -> dict:
    """A benchmark item as a choice-eval item dict; image refs kept (path, crop box, bytes)."""
    captions = list(item.captions)
    if text_processor is not None:
        captions = [text_processor(c) for c in captions]
    return {"images": list(item.images), "captions": captions, "label": item.label,
            "category": item.group}


class BenchmarkChoiceDataset(ChoiceEvalDataset):
    """A benchmark's evaluable items as a choice dataset; ``score`` gives the published metrics.

    ``benchmark_name`` (e.g. ``"sugarcrepe"``) keys the results table; ``dataset_name`` is the
    builder's registered name (e.g. ``"ahnpl_sugarcrepe"``).
    """

    def __init__(self, benchmark: benchmarks.Benchmark, vis_processor, text_processor=None,
                 dataset_name: str | None = None):
        items = [eval_item(it, text_processor) for it in benchmark.items]
        super().__init__(items, vis_processor, benchmark.score, open_benchmark_image)
        self.benchmark = benchmark
        self.benchmark_name = benchmark.name
        self.dataset_name = dataset_name or f"ahnpl_{benchmark.name}"


def resolve_image_root(value, where: str):
    """``image_root`` with every folder resolved against the working directory.

    A string, or a mapping ``source -> folder | [folders]`` (VALSE); ``None`` stays ``None``.
    """
    value = plain(value)
    if value is None or value == "":
        return None
    if isinstance(value, (str, Path)):
        return str(resolve_user_path(value))
    if isinstance(value, dict):
        resolved = {}
        for source, folders in value.items():
            if isinstance(folders, (str, Path)):
                resolved[str(source)] = str(resolve_user_path(folders))
            elif isinstance(folders, list) and all(isinstance(f, (str, Path)) for f in folders):
                resolved[str(source)] = [str(resolve_user_path(f)) for f in folders]
            else:
                raise ConfigError(f"{where}.{source}: expected a folder or a list of folders, "
                                  f"got {folders!r}")
        return resolved
    raise ConfigError(f"{where}: expected a folder or a mapping source -> folder, got {value!r}")


def loader_option_names(benchmark_name: str) -> list[str]:
    """Keyword options of a benchmark's loader that a config may set under ``options``."""
    module_name, function_name, _ = benchmarks._LOADERS[benchmark_name]
    loader = getattr(import_module(f"ahnpl_plugin.benchmarks.{module_name}"), function_name)
    return sorted(
        name for name, p in inspect.signature(loader).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and name not in _NOT_OPTIONS
    )


@dataclass
class BenchmarkSettings:
    """A benchmark builder config, validated, with its folders resolved."""

    root: Path
    image_root: object  # None, a folder, or (VALSE) a mapping source -> folder(s)
    strict: bool
    options: dict


class BenchmarkBuilder(BaseDatasetBuilder):
    """Builds split ``test`` of :attr:`benchmark_name` (subclasses set it and register)."""

    benchmark_name: str = ""

    @classmethod
    def registered_name(cls) -> str:
        return f"ahnpl_{cls.benchmark_name}"

    @classmethod
    def settings(cls, cfg) -> BenchmarkSettings:
        """Validate the keys of a builder config and resolve its folders (ConfigError naming the key)."""
        name = cls.registered_name()
        unknown = sorted(set(cfg.keys()) - BUILDER_KEYS)
        if unknown:
            raise ConfigError(f"unknown key(s) {unknown} under datasets.{name}; valid: "
                              f"{sorted(BUILDER_KEYS)}")
        if not cfg.get("root"):
            raise ConfigError(f"datasets.{name}.root is required (the benchmark's folder)")
        image_root = resolve_image_root(cfg.get("image_root"), f"datasets.{name}.image_root")
        options = plain(cfg.get("options")) or {}
        if not isinstance(options, dict):
            raise ConfigError(f"datasets.{name}.options: expected a mapping, got {options!r}")
        valid = loader_option_names(cls.benchmark_name)
        bad = sorted(set(options) - set(valid))
        if bad:
            raise ConfigError(f"unknown option(s) {bad} under datasets.{name}.options; valid: "
                              f"{valid or 'none'}")
        strict = cfg.get("strict", False)
        if not isinstance(strict, bool):
            raise ConfigError(f"datasets.{name}.strict: expected true or false, got {strict!r}")
        return BenchmarkSettings(resolve_user_path(cfg.root), image_root, strict, options)

    @classmethod
    def load_benchmark(cls, settings: BenchmarkSettings, strict: bool) -> benchmarks.Benchmark:
        """The benchmark's files read and checked (images: existence only, none decoded)."""
        try:
            return benchmarks.load(cls.benchmark_name, settings.root, settings.image_root, strict=strict,
                                   **settings.options)
        except benchmarks.BenchmarkFileNotFoundError as exc:
            raise BenchmarkMissingError(f"datasets.{cls.registered_name()}: {exc}") from None
        except benchmarks.BenchmarkError as exc:
            raise BenchmarkInputError(f"datasets.{cls.registered_name()}: {exc}") from None

    @classmethod
    def enabled(cls, cfg) -> bool:
        """False when the config says ``enabled: false`` (ConfigError for a non-boolean)."""
        value = cfg.get("enabled", True) if cfg is not None else True
        if not isinstance(value, bool):
            raise ConfigError(f"datasets.{cls.registered_name()}.enabled: expected true or false, got {value!r}")
        return value

    @classmethod
    def inspect(cls, cfg):
        """``python -m ahnpl_plugin.data check``: keys validated, files loaded, items and missing
        images counted, each problem with its fix (no image is decoded, nothing is written)."""
        from ahnpl_plugin.data.report import CheckReport

        name = cls.registered_name()
        report = CheckReport(f"datasets.{name}")
        try:
            if not cls.enabled(cfg):
                report.add("left out of the run (enabled: false)")
                return report
            settings = cls.settings(cfg)
            bench = cls.load_benchmark(settings, strict=False)
        except UserError as exc:
            report.problem(str(exc))
            return report
        where = settings.image_root if settings.image_root is not None else "the default under root"
        report.add(f"{bench.name}: {len(bench.all_items)} items in {settings.root}; images from {where}")
        report.add(f"{len(bench.items)} items evaluable over {len(bench.unique_images())} distinct images and "
                   f"{len(bench.unique_captions())} distinct captions")
        for note in bench.notes:
            report.add(f"note: {note}")
        for part, why in bench.missing_parts.items():
            report.problem(f"{bench.name}: part {part} missing, {why}; its items are not evaluated")
        if bench.missing_images:
            groups = "; ".join(f"{g}: {n} of {total}" for g, (n, total) in bench.skipped_by_group().items())
            report.problem(
                f"{len(bench.missing_images)} image file(s) missing (e.g. {', '.join(bench.missing_images[:3])}), "
                f"used by {len(bench.skipped_items)} of {len(bench.all_items)} items, which would be skipped "
                f"({groups}): add the files or point datasets.{name}.image_root at their folder")
        for problem in unreadable_images(bench.unique_images()):
            report.problem(problem)
        return report

    def build_datasets(self):
        """Load and check the benchmark files (nothing is downloaded) and build split ``test``."""
        name = self.registered_name()
        cfg = self.config
        settings = self.settings(cfg)
        vis_cfg = cfg.get("vis_processor")
        if vis_cfg is None or vis_cfg.get("eval") is None:
            raise ConfigError(
                f"datasets.{name}.vis_processor.eval is not set (the ahnpl_compositional task sets "
                "it to the model's eval processor; other tasks need it in the config)"
            )
        bench = self.load_benchmark(settings, strict=settings.strict)
        image_root = settings.image_root
        if not bench.items:
            shown = ", ".join(bench.missing_images[:3])
            raise BenchmarkMissingError(
                f"datasets.{name}: none of the {len(bench.all_items)} items can be evaluated: "
                f"{len(bench.missing_images)} image file(s) missing (e.g. {shown}); check "
                f"image_root ({image_root if image_root is not None else 'the default under root'})"
            )
        if bench.skipped_items:
            logging.warning(
                "%s: %d of %d items left out, %d image file(s) missing (first: %s); scores are over "
                "the %d items evaluated", name, len(bench.skipped_items), len(bench.all_items),
                len(bench.missing_images), bench.missing_images[0], len(bench.items),
            )
        self.build_processors()
        text_processor = self.text_processors["eval"] if cfg.get("text_processor") else None
        dataset = BenchmarkChoiceDataset(bench, self.vis_processors["eval"], text_processor, name)
        logging.info("%s: %d items, %d distinct images, %d distinct captions", name, len(bench),
                     len(dataset.images), len(dataset.captions))
        return {"test": dataset}


def _defaults(benchmark_name: str) -> dict:
    return {"default": config_path(f"datasets/benchmarks/{benchmark_name}.yaml")}


@registry.register_builder("ahnpl_aro_vg_relation")
class AroVgRelationBuilder(BenchmarkBuilder):
    benchmark_name = "aro_vg_relation"
    DATASET_CONFIG_DICT = _defaults(benchmark_name)


@registry.register_builder("ahnpl_aro_vg_attribution")
class AroVgAttributionBuilder(BenchmarkBuilder):
    benchmark_name = "aro_vg_attribution"
    DATASET_CONFIG_DICT = _defaults(benchmark_name)


@registry.register_builder("ahnpl_aro_coco_order")
class AroCocoOrderBuilder(BenchmarkBuilder):
    benchmark_name = "aro_coco_order"
    DATASET_CONFIG_DICT = _defaults(benchmark_name)


@registry.register_builder("ahnpl_aro_flickr_order")
class AroFlickrOrderBuilder(BenchmarkBuilder):
    benchmark_name = "aro_flickr_order"
    DATASET_CONFIG_DICT = _defaults(benchmark_name)


@registry.register_builder("ahnpl_sugarcrepe")
class SugarCrepeBuilder(BenchmarkBuilder):
    benchmark_name = "sugarcrepe"
    DATASET_CONFIG_DICT = _defaults(benchmark_name)


@registry.register_builder("ahnpl_valse")
class ValseBuilder(BenchmarkBuilder):
    benchmark_name = "valse"
    DATASET_CONFIG_DICT = _defaults(benchmark_name)


@registry.register_builder("ahnpl_vl_checklist")
class VlChecklistBuilder(BenchmarkBuilder):
    benchmark_name = "vl_checklist"
    DATASET_CONFIG_DICT = _defaults(benchmark_name)


@registry.register_builder("ahnpl_winoground")
class WinogroundBuilder(BenchmarkBuilder):
    benchmark_name = "winoground"
    DATASET_CONFIG_DICT = _defaults(benchmark_name)


# issue 16: the newer compositional benchmarks (loaders in ahnpl_plugin/benchmarks/<name>.py)
@registry.register_builder("ahnpl_sugarcrepe_pp")
class SugarCrepePlusPlusBuilder(BenchmarkBuilder):
    benchmark_name = "sugarcrepe_pp"
    DATASET_CONFIG_DICT = _defaults(benchmark_name)


@registry.register_builder("ahnpl_whatsup")
class WhatsUpBuilder(BenchmarkBuilder):
    benchmark_name = "whatsup"
    DATASET_CONFIG_DICT = _defaults(benchmark_name)


@registry.register_builder("ahnpl_spec")
class SpecBuilder(BenchmarkBuilder):
    benchmark_name = "spec"
    DATASET_CONFIG_DICT = _defaults(benchmark_name)


@registry.register_builder("ahnpl_crepe")
class CrepeBuilder(BenchmarkBuilder):
    benchmark_name = "crepe"
    DATASET_CONFIG_DICT = _defaults(benchmark_name)


@registry.register_builder("ahnpl_eqben")
class EqBenBuilder(BenchmarkBuilder):
    benchmark_name = "eqben"
    DATASET_CONFIG_DICT = _defaults(benchmark_name)


@registry.register_builder("ahnpl_imagecode")
class ImageCoDeBuilder(BenchmarkBuilder):
    benchmark_name = "imagecode"
    DATASET_CONFIG_DICT = _defaults(benchmark_name)


@registry.register_builder("ahnpl_svo_probes")
class SvoProbesBuilder(BenchmarkBuilder):
    benchmark_name = "svo_probes"
    DATASET_CONFIG_DICT = _defaults(benchmark_name)


@registry.register_builder("ahnpl_colorswap")
class ColorSwapBuilder(BenchmarkBuilder):
    benchmark_name = "colorswap"
    DATASET_CONFIG_DICT = _defaults(benchmark_name)


@registry.register_builder("ahnpl_mmvp_vlm")
class MmvpVlmBuilder(BenchmarkBuilder):
    benchmark_name = "mmvp_vlm"
    DATASET_CONFIG_DICT = _defaults(benchmark_name)


BENCHMARK_BUILDERS = {cls.registered_name(): cls for cls in BenchmarkBuilder.__subclasses__()}
