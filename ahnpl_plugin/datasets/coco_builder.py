"""``ahnpl_coco`` and ``ahnpl_flickr30k``: image-caption data with hard negatives, Karpathy val/test.

train: train annotations, one row per caption (COCO's ``captions_train2014.json`` for the
published recipe, or a LAVIS Karpathy train list; formats in :mod:`ahnpl_plugin.data.annotations`),
joined with a negatives JSONL
(``python -m ahnpl_plugin.negatives`` or ``python -m ahnpl_plugin.data import-npy`` output; join
rules in :mod:`ahnpl_plugin.data.negatives_join`), as a
:class:`~ahnpl_plugin.datasets.training_samples.ReplacingHardNegativeDataset`.
val/test: LAVIS's ``RetrievalEvalDataset`` (via
:class:`~ahnpl_plugin.datasets.training_samples.KarpathyRetrievalEvalDataset`), so that LAVIS's
``retrieval`` task reports recall@1/5/10.

Config keys (``datasets.ahnpl_coco:``; defaults in lavis_configs/datasets/ahnpl_coco/defaults.yaml):

* ``build_info.annotations.<train|val|test>.storage``: a local annotation file (or a list); the
  splits listed are the splits built (``train: null`` removes the default train split, for
  evaluation-only use).
* ``build_info.images.storage``: the folder the rows' ``image`` paths are relative to.
* ``negatives``: the negatives JSONL (needed when training with negative types).
* ``generate_negatives`` (false): make a missing negatives file at startup (spaCy; rank 0), with
  ``negatives_seed`` (0), ``negatives_rules`` (v1: generator 1.0, the paper-faithful recipe; v2: the
  improved negatives), ``negatives_swap_words`` (null: the rules' default; v2 only: ``known``, swaps
  of vocabulary words, or ``any``, generator 2.1's swaps) and ``negatives_workers`` (1).
* ``negative_types``: types fed to the model; defaults to the model's ``loss.negative_types``.
* ``unmatched_negatives`` (error | drop | keep): train rows the negatives file lacks.
* ``skip_missing`` (false): missing image files at startup are an error with their count and first
  examples; true leaves those rows out and logs the count.
* ``log_sample_keys`` (false): debug, see :mod:`ahnpl_plugin.datasets.sample_keys`.
* ``neighbour_images_file`` (none): NegCLIP's hard-negative images. An image-neighbours file
  (``python -m ahnpl_plugin.data image-neighbours --cfg-path ...``: each training image's nearest
  images by the pretrained model's embeddings); each training sample then brings one caption row of
  one of its image's neighbours, so a batch of B pairs trains on 2B
  (:mod:`ahnpl_plugin.datasets.neighbour_images`).
* ``vis_processor`` / ``text_processor``: LAVIS processors. The defaults follow the model type's
  ``preprocess`` section: image size and eval transform, and the eval captions' text processor
  (none for CLIP models: raw captions, as CLIP and open_clip score them; ``blip_caption`` for
  BLIP's), so ``lavis.evaluate`` with this builder gives a checkpoint the numbers its training run
  reported.

Relative paths are taken from the working directory; nothing is downloaded or copied.
:meth:`KarpathyBuilder.check_paths` checks the paths without reading them (before the model is
built); :meth:`KarpathyBuilder.inspect` is the thorough check of ``python -m ahnpl_plugin.data check``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from lavis.common.registry import registry
from lavis.datasets.builders.base_dataset_builder import BaseDatasetBuilder

from ahnpl_plugin.errors import ConfigError, DataError, UserError
from ahnpl_plugin.datasets.image_decoding import draft_size
from ahnpl_plugin.paths import config_path, resolve_user_path

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
BUILDER_KEYS = {
    "data_type", "type", "build_info", "negatives", "generate_negatives", "negatives_seed", "negatives_rules",
    "negatives_swap_words", "negatives_workers", "negative_types", "unmatched_negatives", "skip_missing",
    "log_sample_keys", "vis_processor", "text_processor", "decode_draft", "neighbour_images_file",
}


@dataclass
class KarpathyPaths:
    """The resolved paths of a Karpathy builder config."""

    annotations: dict[str, list[Path]]  # split -> files
    images: Path
    negatives: Path | None  # None when no negatives are needed (no train split or no negative types)
    generate: bool
    neighbours: Path | None = None  # image-neighbours file (NegCLIP's hard-negative images), if any


def _as_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, (str, Path)):
        return [value]
    return list(value)


def negative_types_of(cfg, name: str) -> tuple[str, ...]:
    from ahnpl_plugin.contract import resolve_types

    try:
        return resolve_types(list(_as_list(cfg.get("negative_types"))))
    except ValueError as exc:
        raise ConfigError(f"datasets.{name}.negative_types: {exc}") from None


def karpathy_paths(cfg, name: str) -> KarpathyPaths:
    """Validate the keys of a builder config and resolve its paths (no file is touched)."""
    unknown = sorted(set(cfg.keys()) - BUILDER_KEYS)
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)} under datasets.{name}; valid: {', '.join(sorted(BUILDER_KEYS))}")
    build_info = cfg.get("build_info")
    if not build_info or not build_info.get("annotations") or not any(build_info.annotations.values()):
        raise ConfigError(f"datasets.{name}.build_info.annotations is required (train/val/test annotation files)")
    annotations = {}
    for split, info in build_info.annotations.items():
        where = f"datasets.{name}.build_info.annotations.{split}"
        if split not in SPLITS:
            raise ConfigError(f"{where}: unknown split {split!r}; valid: {', '.join(SPLITS)}")
        if info is None:  # `train: null` in a user config removes a split of the defaults
            continue
        if isinstance(info, str):
            info = {"storage": info}
        extra = sorted(set(info.keys()) - {"storage"})
        if "url" in extra:
            raise ConfigError(f"{where}.url: {name} reads local files only (nothing is downloaded); set {where}.storage "
                              "to the annotation file")
        if extra:
            raise ConfigError(f"unknown key(s) {', '.join(extra)} under {where}; valid: storage")
        files = _as_list(info.get("storage"))
        if not files:
            raise ConfigError(f"{where}.storage is required (the local annotation file)")
        annotations[split] = [resolve_user_path(str(f)) for f in files]
    images = (build_info.get("images") or {}).get("storage")
    if not images:
        raise ConfigError(f"datasets.{name}.build_info.images.storage is required (the images folder)")
    negatives = None
    if "train" in annotations and negative_types_of(cfg, name):
        if not cfg.get("negatives"):
            raise ConfigError(f"datasets.{name}.negatives is required to train with hard negatives "
                              "(or set negative_types: [] for plain CLIP fine-tuning)")
        negatives = resolve_user_path(str(cfg.negatives))
    neighbours = cfg.get("neighbour_images_file")
    if neighbours and "train" not in annotations:
        raise ConfigError(f"datasets.{name}.neighbour_images_file needs a train split (it adds training images)")
    return KarpathyPaths(annotations, resolve_user_path(str(images)), negatives, bool(cfg.get("generate_negatives", False)),
                         resolve_user_path(str(neighbours)) if neighbours else None)


def negatives_command(paths: KarpathyPaths, workers: int = 8) -> str:
    train = " ".join(str(p) for p in paths.annotations["train"])
    return f"python -m ahnpl_plugin.negatives --input {train} --output {paths.negatives} --workers {workers}"


IMAGE_FOLDERS = {"ahnpl_coco": "train2014/, val2014/", "ahnpl_flickr30k": "flickr30k-images/"}
ANNOTATION_FILES = {
    ("ahnpl_coco", "train"): ("COCO's annotations/captions_train2014.json (cocodataset.org, "
                              "annotations_trainval2014.zip) or LAVIS's Karpathy train file"),
}


def annotation_file_hint(name: str, split: str) -> str:
    """What file a split's ``storage`` should name, for the not-found message."""
    return ANNOTATION_FILES.get((name, split), f"LAVIS's Karpathy {split} annotation file")


def path_problems(cfg, name: str) -> list[str]:
    """Missing paths of a config, in the order a run needs them, each with its fix (cheap: stats only)."""
    paths = karpathy_paths(cfg, name)
    problems = []
    for split, files in paths.annotations.items():
        for path in files:
            if not path.is_file():
                problems.append(
                    f"datasets.{name}.build_info.annotations.{split}.storage: file not found: {path}. "
                    f"Put {annotation_file_hint(name, split)} there or point the key at it (layout: docs/data.md)"
                )
    if not paths.images.is_dir():
        problems.append(
            f"datasets.{name}.build_info.images.storage: folder not found: {paths.images}. Point it at the folder "
            f"that holds the image folders the annotation rows name ({IMAGE_FOLDERS.get(name, 'see the rows')})"
        )
    if paths.negatives is not None and not paths.negatives.is_file() and not paths.generate:
        problems.append(
            f"datasets.{name}.negatives: file not found: {paths.negatives}. Make it with: {negatives_command(paths)} "
            f"(or set datasets.{name}.generate_negatives: true to make it at startup)"
        )
    if paths.neighbours is not None and not paths.neighbours.is_file():
        problems.append(
            f"datasets.{name}.neighbour_images_file: file not found: {paths.neighbours}. Make it with: python -m "
            f"ahnpl_plugin.data image-neighbours --cfg-path <this config> --output {paths.neighbours}"
        )
    return problems


def eval_caption_protocol(cfg) -> str:
    """How val/test captions reach the model: its eval text processor, or raw."""
    processor = (cfg.get("text_processor") or {}).get("eval")
    return f"text processor {processor.name}" if processor else "raw (no text processor)"


def _is_main() -> bool:
    import torch.distributed as dist

    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def _barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


@registry.register_builder("ahnpl_coco")
class KarpathyBuilder(BaseDatasetBuilder):
    """See the module docstring."""

    NAME = "ahnpl_coco"
    DATASET_CONFIG_DICT = {"default": config_path("datasets/ahnpl_coco/defaults.yaml")}

    # ------------------------------------------------------------------ checks
    @classmethod
    def check_paths(cls, cfg) -> None:
        """Raise ConfigError naming the first missing path and its fix (before the model is built)."""
        problems = path_problems(cfg, cls.NAME)
        if problems:
            raise ConfigError(problems[0])

    @classmethod
    def inspect(cls, cfg):
        """The thorough check: every file read, images counted, negatives joined and rated."""
        from ahnpl_plugin.data.annotations import read_eval_annotations, read_train_annotations
        from ahnpl_plugin.data.images import resolve_image, scan_images
        from ahnpl_plugin.data.report import CheckReport

        report = CheckReport(f"datasets.{cls.NAME}")
        try:
            paths = karpathy_paths(cfg, cls.NAME)
        except ConfigError as exc:
            report.problem(str(exc))
            return report
        for problem in path_problems(cfg, cls.NAME):
            report.problem(problem)
        rows_by_split = {}
        for split, files in paths.annotations.items():
            if not all(p.is_file() for p in files):
                continue
            reader = read_train_annotations if split == "train" else read_eval_annotations
            try:
                rows_by_split[split] = reader(files)
            except UserError as exc:
                report.problem(f"{exc} (fix the row, or regenerate the file)")
                continue
            unit = "captions" if split == "train" else "images"
            report.add(f"{split}: {len(rows_by_split[split])} {unit} in {', '.join(map(str, files))}")
        if paths.images.is_dir():
            for split, rows in rows_by_split.items():
                scan = scan_images(paths.images, (r["image"] for r in rows))
                report.add(f"{split} images under {paths.images}: {scan.found} found, {len(scan.missing)} missing")
                missing = set(scan.missing)
                report.images[split] = [resolve_image(paths.images, r["image"]) for r in rows
                                        if r["image"] not in missing]
                if scan.missing and cfg.get("skip_missing", False):
                    report.add(f"  their rows are left out (skip_missing: true), e.g. {scan.examples()}")
                elif scan.missing:
                    report.problem(f"{len(scan.missing)} {split} image(s) missing, e.g. {scan.examples()}: add the files, "
                                   f"or set datasets.{cls.NAME}.skip_missing: true to leave their rows out")
        if {"val", "test"} & paths.annotations.keys():
            report.add(f"val/test captions: {eval_caption_protocol(cfg)}")
        types = negative_types_of(cfg, cls.NAME)
        if "train" not in paths.annotations:
            return report
        if not types:
            report.add("no negative types: plain image-text fine-tuning (no negatives file needed)")
        elif not paths.negatives.is_file():
            if paths.generate:
                report.add(f"negatives {paths.negatives}: missing, made at startup (generate_negatives: true)")
        elif "train" in rows_by_split:
            cls._inspect_negatives(cfg, paths, rows_by_split["train"], types, report)
        return report

    @classmethod
    def _inspect_negatives(cls, cfg, paths: KarpathyPaths, rows: list[dict], types, report) -> None:
        from ahnpl_plugin.data.negatives_join import join_negatives, read_negatives
        from ahnpl_plugin.data.report import percent

        try:
            joined = join_negatives(rows, read_negatives(paths.negatives), unmatched="keep")
        except UserError as exc:
            report.problem(str(exc))
            return
        n = len(joined.records)
        report.add(f"negatives {paths.negatives}: {n - len(joined.unmatched)} of {n} train captions matched, "
                   f"{joined.unused} negatives records unused")
        rates = joined.valid_rates(types)
        report.add("valid rate per type: " + ", ".join(f"{t} {100 * r:.1f}%" for t, r in rates.items()))
        if joined.unmatched:
            policy = cfg.get("unmatched_negatives", "error")
            message = (f"{len(joined.unmatched)} train captions ({percent(len(joined.unmatched), n)}) have no "
                       f"negatives (e.g. {joined.unmatched[0]['image']} {joined.unmatched[0]['caption']!r:.60})")
            if policy == "error":
                report.problem(f"{message}: make the negatives from this annotation file with {negatives_command(paths)}, "
                               f"or set datasets.{cls.NAME}.unmatched_negatives: drop|keep")
            else:
                report.add(f"{message}; unmatched_negatives: {policy}")

    # ------------------------------------------------------------------ building
    def build_datasets(self):
        # LAVIS's version downloads or copies annotation files; ours only reads local ones.
        return self.build()

    def build(self):
        from ahnpl_plugin.datasets.training_samples import KarpathyRetrievalEvalDataset

        self.check_paths(self.config)
        paths = karpathy_paths(self.config, self.NAME)
        self.build_processors()
        datasets = {}
        if "train" in paths.annotations:
            datasets["train"] = self._train_dataset(paths)
        for split in ("val", "test"):
            if split in paths.annotations:
                rows = self._eval_rows(paths, split)
                datasets[split] = KarpathyRetrievalEvalDataset(
                    rows, self.vis_processors["eval"], self.text_processors["eval"], str(paths.images)
                )
        return datasets

    def _drop_missing(self, rows: list[dict], root: Path, split: str) -> list[dict]:
        from ahnpl_plugin.data.images import scan_images

        scan = scan_images(root, (r["image"] for r in rows))
        if not scan.missing:
            return rows
        if not self.config.get("skip_missing", False):
            raise DataError(
                f"{len(scan.missing)} of {scan.total} {split} images are missing under {root} (e.g. {scan.examples()}); "
                f"add the files or fix build_info.images.storage, or set datasets.{self.NAME}.skip_missing: true "
                "to leave their rows out"
            )
        missing = set(scan.missing)
        kept = [r for r in rows if r["image"] not in missing]
        log.warning("%s %s: %d of %d images missing under %s (e.g. %s): left out %d rows (skip_missing: true)",
                    self.NAME, split, len(scan.missing), scan.total, root, scan.examples(), len(rows) - len(kept))
        if not kept:
            raise DataError(f"every {split} image is missing under {root}: check build_info.images.storage")
        return kept

    def _eval_rows(self, paths: KarpathyPaths, split: str) -> list[dict]:
        from ahnpl_plugin.data.annotations import read_eval_annotations

        rows = read_eval_annotations(paths.annotations[split])
        return self._drop_missing(rows, paths.images, split)

    def _ensure_negatives(self, paths: KarpathyPaths) -> None:
        """Make the negatives file when it is missing and ``generate_negatives`` is on (rank 0)."""
        if paths.negatives.is_file():
            return
        if _is_main():
            from ahnpl_plugin.data.annotations import read_train_annotations
            from ahnpl_plugin.negatives import AHNPL_TYPES, generate_negatives, negatives_header
            from ahnpl_plugin.negatives.records import write_jsonl

            rows = read_train_annotations(paths.annotations["train"])
            log.info("generating hard negatives of %d captions into %s (generate_negatives: true)", len(rows), paths.negatives)
            # AHNPL's five types always (the file then serves any later subset), plus any extra asked for
            types = tuple(dict.fromkeys(AHNPL_TYPES + negative_types_of(self.config, self.NAME)))
            # negatives_rules: v1 (default, generator 1.0: the paper-faithful recipe) or v2 (improved)
            options = dict(types=types, seed=int(self.config.get("negatives_seed", 0)),
                           rules=str(self.config.get("negatives_rules", "v1")),
                           swap_words=self.config.get("negatives_swap_words"))
            results = generate_negatives([r["caption"] for r in rows], workers=int(self.config.get("negatives_workers", 1)),
                                         progress=True, **options)
            paths.negatives.parent.mkdir(parents=True, exist_ok=True)
            write_jsonl(paths.negatives, ({**row, **result} for row, result in zip(rows, results)),
                        header=negatives_header(**options))
        _barrier()

    def _train_dataset(self, paths: KarpathyPaths):
        from ahnpl_plugin.data.annotations import read_train_annotations
        from ahnpl_plugin.data.negatives_join import join_negatives, read_negatives
        from ahnpl_plugin.datasets.sample_keys import SampleKeyLog
        from ahnpl_plugin.datasets.training_samples import ReplacingHardNegativeDataset

        rows = read_train_annotations(paths.annotations["train"])
        types = negative_types_of(self.config, self.NAME)
        if types:
            self._ensure_negatives(paths)
            policy = str(self.config.get("unmatched_negatives", "error"))
            joined = join_negatives(rows, read_negatives(paths.negatives), unmatched=policy,
                                    annotations=" ".join(map(str, paths.annotations["train"])),
                                    negatives_path=str(paths.negatives))
            if joined.unmatched:
                log.warning("%s: %d train captions have no negatives (unmatched_negatives: %s)",
                            self.NAME, len(joined.unmatched), policy)
            rates = joined.valid_rates(types)
            log.info("%s train: %d captions, negatives from %s (%d records unused); valid rate: %s", self.NAME,
                     len(joined.records), paths.negatives, joined.unused,
                     ", ".join(f"{t} {100 * r:.1f}%" for t, r in rates.items()))
            records = joined.records
        else:
            records = [{"image": r["image"], "caption": r["caption"]} for r in rows]
        records = self._drop_missing(records, paths.images, "train")
        dataset = ReplacingHardNegativeDataset(
            records, str(paths.images), self.vis_processors["train"], self.text_processors["train"],
            negative_types=types, key_log=SampleKeyLog() if self.config.get("log_sample_keys", False) else None,
            decode_draft=draft_size(self.config.get("decode_draft"), self.vis_processors["train"], f"datasets.{self.NAME}"),
        )
        if paths.neighbours is None:
            return dataset
        from ahnpl_plugin.datasets.neighbour_images import NeighbourPairs, caption_neighbours, read_image_neighbours

        table = caption_neighbours([r["image"] for r in records], read_image_neighbours(paths.neighbours),
                                   where=str(paths.neighbours))
        log.info("%s train: NegCLIP hard-negative images from %s (k=%d): each batch of B pairs gains B neighbours",
                 self.NAME, paths.neighbours, table.shape[1])
        return NeighbourPairs(dataset, table)


@registry.register_builder("ahnpl_flickr30k")
class Flickr30kBuilder(KarpathyBuilder):
    """Flickr30k Karpathy split: the same builder with Flickr30k's default paths."""

    NAME = "ahnpl_flickr30k"
    DATASET_CONFIG_DICT = {"default": config_path("datasets/ahnpl_flickr30k/defaults.yaml")}
