"""``ahnpl_wds``: training from webdataset shards (CC3M/LAION style), streamed over many GPUs/nodes.

Builds only ``train``: a :class:`~ahnpl_plugin.datasets.shard_stream.HardNegativeShardStream`
(pipeline, DDP/worker split and epoch rules in that module). Pair it with ``ahnpl_coco`` (train
split removed) for COCO retrieval validation, as projects/ahnpl/cc3m_wds.yaml does.

Config keys (``datasets.ahnpl_wds:``; defaults in lavis_configs/datasets/ahnpl_wds/defaults.yaml):

* ``build_info.shards``: a string or list; brace patterns (``cc3m-{000000..000331}.tar``), local
  globs (``shards/*.tar``), or URLs (``https://``, ``pipe:``); relative paths from the working directory.
* ``num_samples``: samples per epoch, all ranks together; default: the total of the
  ``sizes.json`` beside local shards (``write-shards`` writes it).
* ``shuffle_buffer`` (1000), ``shuffle_shards`` (true), ``seed`` (0), ``resampled`` (false).
* ``generate_negatives`` (false): make the negatives from the caption on the fly (spaCy, in each
  loader worker) with ``negatives_seed`` and ``spacy_model``, instead of reading them from the shards.
* ``negative_types``: defaults to the model's ``loss.negative_types``.
* ``log_sample_keys`` (false), ``vis_processor``, ``text_processor``: as ``ahnpl_coco``.
"""

from __future__ import annotations

import logging

from lavis.common.registry import registry
from lavis.datasets.builders.base_dataset_builder import BaseDatasetBuilder

from ahnpl_plugin.errors import ConfigError, DataError, UserError
from ahnpl_plugin.paths import config_path

log = logging.getLogger(__name__)

NAME = "ahnpl_wds"
BUILDER_KEYS = {
    "data_type", "type", "build_info", "num_samples", "shuffle_buffer", "shuffle_shards", "resampled", "seed",
    "generate_negatives", "negatives_seed", "negatives_rules", "negatives_swap_words", "spacy_model", "negative_types", "log_sample_keys",
    "vis_processor", "text_processor", "decode_draft",
}
WRITE_SHARDS = ("python -m ahnpl_plugin.data write-shards --annotations <train annotations> --negatives "
                "<negatives.jsonl> --images <images folder> --output <shards folder>")


def shard_urls(cfg) -> list[str]:
    """Validated keys, expanded shard list (ConfigError on bad keys or an empty spec)."""
    from ahnpl_plugin.data.shards import expand_shard_urls

    unknown = sorted(set(cfg.keys()) - BUILDER_KEYS)
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)} under datasets.{NAME}; valid: {', '.join(sorted(BUILDER_KEYS))}")
    spec = (cfg.get("build_info") or {}).get("shards")
    if not spec:
        raise ConfigError(f"datasets.{NAME}.build_info.shards is required (a brace pattern, glob or list of shards); "
                          f"make shards with: {WRITE_SHARDS}")
    try:
        urls = expand_shard_urls(spec if isinstance(spec, str) else list(spec))
    except UserError as exc:
        raise ConfigError(f"datasets.{NAME}.build_info.shards: {exc}") from None
    return urls


def epoch_samples(cfg, urls: list[str]) -> int | None:
    """``num_samples`` if set, else the sizes.json total of local shards, else None."""
    from ahnpl_plugin.data.shards import shard_sizes

    if cfg.get("num_samples"):
        return int(cfg.num_samples)
    sizes = shard_sizes(urls)
    return sum(sizes.values()) if sizes else None


def path_problems(cfg) -> list[str]:
    """What a run would trip on first, each with its fix (stats; reads the first sample of one shard)."""
    from ahnpl_plugin.data.shard_format import decode_caption, first_sample, has_negatives
    from ahnpl_plugin.data.shards import missing_local_shards
    from ahnpl_plugin.datasets.coco_builder import negative_types_of

    urls = shard_urls(cfg)
    missing = missing_local_shards(urls)
    if missing:
        return [f"datasets.{NAME}.build_info.shards: {len(missing)} of {len(urls)} shard file(s) not found "
                f"(first: {missing[0]}); fix the pattern, or make shards with: {WRITE_SHARDS}"]
    problems = []
    if epoch_samples(cfg, urls) is None:
        problems.append(f"datasets.{NAME}.num_samples is not set and no sizes.json beside the shards gives every "
                        "shard's size: set num_samples (samples per epoch, all ranks together)")
    if negative_types_of(cfg, NAME) and not cfg.get("generate_negatives", False):
        local = [u for u in urls if "://" not in u and not u.startswith("pipe:")]
        if local:
            try:
                sample = first_sample(local[0])
                meta = decode_caption(sample)[1] if sample else {}
            except Exception as exc:  # noqa: BLE001 - any read problem is reported, not raised
                problems.append(f"{local[0]}: cannot read its first sample ({type(exc).__name__}: {exc})")
            else:
                if sample is not None and not has_negatives(meta):
                    problems.append(f"{local[0]}: samples carry no hard negatives; write the shards with --negatives "
                                    f"({WRITE_SHARDS}), or set datasets.{NAME}.generate_negatives: true")
    return problems


@registry.register_builder(NAME)
class ShardsBuilder(BaseDatasetBuilder):
    """See the module docstring."""

    DATASET_CONFIG_DICT = {"default": config_path("datasets/ahnpl_wds/defaults.yaml")}

    @classmethod
    def check_paths(cls, cfg) -> None:
        problems = path_problems(cfg)
        if problems:
            raise ConfigError(problems[0])

    @classmethod
    def inspect(cls, cfg, max_samples: int = 1000):
        """Shards found/missing, epoch size, and over the first ``max_samples`` samples of the local
        shards: images that decode, and the valid rate per negative type."""
        import io

        from PIL import Image

        from ahnpl_plugin.contract import AHNPL_TYPES, FIELD_SUFFIX, INVALID, VALID_FIELD
        from ahnpl_plugin.data.negatives_join import canonical_negatives
        from ahnpl_plugin.data.report import CheckReport
        from ahnpl_plugin.data.shard_format import decode_caption, image_member, iter_samples
        from ahnpl_plugin.data.shards import missing_local_shards

        report = CheckReport(f"datasets.{NAME}")
        try:
            urls = shard_urls(cfg)
        except ConfigError as exc:
            report.problem(str(exc))
            return report
        missing = missing_local_shards(urls)
        report.add(f"shards: {len(urls)} ({len(urls) - len(missing)} found, {len(missing)} missing)")
        for problem in path_problems(cfg):
            report.problem(problem)
        n = epoch_samples(cfg, urls)
        report.add(f"samples per epoch: {n if n is not None else 'unknown'}")
        local = [u for u in urls if u not in missing and "://" not in u and not u.startswith("pipe:")]
        if not local:
            return report
        seen = broken = with_negatives = 0
        valid = dict.fromkeys(AHNPL_TYPES, 0)
        try:
            for sample in iter_samples(local):
                if seen >= max_samples:
                    break
                seen += 1
                _, meta = decode_caption(sample)
                try:
                    with Image.open(io.BytesIO(image_member(sample))) as image:
                        image.convert("RGB")
                except (OSError, SyntaxError, ValueError):
                    broken += 1
                if VALID_FIELD in meta:
                    with_negatives += 1
                    canonical = canonical_negatives(meta, sample["__key__"])
                    for t in AHNPL_TYPES:
                        valid[t] += canonical.get(t + FIELD_SUFFIX, INVALID) != INVALID
        except (UserError, OSError, ValueError) as exc:
            report.problem(f"reading the shards failed: {exc}")
        report.add(f"first {seen} samples: {seen - broken} images decode, {broken} unreadable (skipped in training)")
        if with_negatives:
            report.add("valid rate per type: " + ", ".join(f"{t} {100 * v / seen:.1f}%" for t, v in valid.items()))
        return report

    def build_datasets(self):
        return self.build()  # no LAVIS download step

    def build(self):
        import torch.distributed as dist

        from ahnpl_plugin.datasets.coco_builder import negative_types_of
        from ahnpl_plugin.datasets.sample_keys import SampleKeyLog
        from ahnpl_plugin.datasets.image_decoding import draft_size
        from ahnpl_plugin.datasets.shard_stream import HardNegativeShardStream

        cfg = self.config
        self.check_paths(cfg)
        urls = shard_urls(cfg)
        num_samples = epoch_samples(cfg, urls)
        world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        resampled = bool(cfg.get("resampled", False))
        if not resampled and len(urls) < world:
            raise DataError(f"{len(urls)} shard(s) cannot feed {world} ranks (each rank reads whole shards): write at "
                            "least one shard per rank x loader worker (write-shards --samples-per-shard), or set "
                            f"datasets.{NAME}.resampled: true")
        if not resampled and len(urls) % world:
            log.warning("%d shards over %d ranks: ranks get unequal shares, and a rank that runs out first restarts "
                        "its stream (some samples twice per epoch); use a shard count divisible by ranks x workers",
                        len(urls), world)
        self.build_processors()
        generate = None
        if cfg.get("generate_negatives", False):
            generate = {"seed": int(cfg.get("negatives_seed", 0)), "spacy_model": cfg.get("spacy_model"),
                        "rules": str(cfg.get("negatives_rules", "v1")), "swap_words": cfg.get("negatives_swap_words")}
        stream = HardNegativeShardStream(
            urls, self.vis_processors["train"], self.text_processors["train"],
            negative_types=negative_types_of(cfg, NAME), num_samples=num_samples,
            shuffle_buffer=int(cfg.get("shuffle_buffer", 1000)), shuffle_shards=bool(cfg.get("shuffle_shards", True)),
            resampled=resampled, seed=int(cfg.get("seed", 0)), generate=generate,
            key_log=SampleKeyLog() if cfg.get("log_sample_keys", False) else None,
            decode_draft=draft_size(cfg.get("decode_draft"), self.vis_processors["train"], f"datasets.{NAME}"),
        )
        log.info("%s: %d shards, %d samples per epoch, %s", NAME, len(urls), num_samples,
                 "resampled" if resampled else "split by rank and worker")
        return {"train": stream}
