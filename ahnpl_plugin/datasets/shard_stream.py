"""Streaming training samples from webdataset shards, split across DDP ranks and loader workers.

:class:`HardNegativeShardStream` is a torch ``IterableDataset`` built on webdataset's pipeline:

    shard list --(seeded shuffle per epoch)--> split_by_node --> split_by_worker
      --> tarfile_to_samples --> shuffle buffer --> decode + negatives + processors

Every rank and worker shuffles the shard list with the same (seed, epoch), then takes its own
slice, so within an epoch each shard (hence each sample) is read by exactly one worker of one
rank. ``resampled: true`` instead draws shards with replacement, independently per rank and
worker (webdataset's ``ResampledShards``): for very large sets and elastic jobs; no
once-per-epoch guarantee. The epoch length is ``num_samples`` (all ranks together): the runner
asks :meth:`batches_per_epoch` and restarts a stream that runs short.

Exact once-per-epoch coverage needs equal-sized shards (``write-shards`` makes them) and a shard
count divisible by world_size x num_workers; otherwise some ranks run out first and their stream
restarts (a warning is logged when a rank cannot have an equal share).

Samples (format: :mod:`ahnpl_plugin.data.shard_format`, shared with the writer): the image, the
caption (``json["caption"]`` or a ``txt`` member), and hard negatives stored in the ``json`` (canonical
layout of :mod:`ahnpl_plugin.data.negatives_join`) or, with ``generate_negatives``, made on the
fly from the caption by :class:`ahnpl_plugin.negatives.NegativeGenerator`. An unreadable image is
skipped (the next sample takes its place) and counted in the log.
"""

from __future__ import annotations

import logging
import os
import random

from torch.utils.data import IterableDataset

from ahnpl_plugin.contract import INVALID, collate, negative_columns, resolve_types
from ahnpl_plugin.data.negatives_join import canonical_negatives
from ahnpl_plugin.data.shard_format import decode_caption, has_negatives, image_member
from ahnpl_plugin.datasets.image_decoding import open_rgb
from ahnpl_plugin.errors import DataError

log = logging.getLogger(__name__)

IMAGE_ERRORS = (OSError, SyntaxError, ValueError)


def _rank_world() -> tuple[int, int]:
    import webdataset as wds

    rank, world, _, _ = wds.utils.pytorch_worker_info()
    return rank, world


def _worker() -> tuple[int, int]:
    from torch.utils.data import get_worker_info

    info = get_worker_info()
    return (info.id, info.num_workers) if info is not None else (0, 1)


class HardNegativeShardStream(IterableDataset):
    """See the module docstring. ``generate``: NegativeGenerator options (``seed``,
    ``spacy_model``) to make negatives on the fly, or None to read them from the shards."""

    def __init__(self, urls, vis_processor, text_processor=None, negative_types=(), num_samples=0,
                 shuffle_buffer=1000, shuffle_shards=True, resampled=False, seed=0, generate=None, key_log=None,
                 decode_draft=None):
        super().__init__()
        if not urls:
            raise DataError("no shards to stream")
        self.urls = list(urls)
        self.vis_processor = vis_processor
        self.text_processor = text_processor
        self.negative_types = resolve_types(negative_types) if negative_types else ()
        self.num_samples = int(num_samples)
        self.shuffle_buffer = int(shuffle_buffer)
        self.shuffle_shards = bool(shuffle_shards)
        self.resampled = bool(resampled)
        self.seed = int(seed)
        self.generate = dict(generate) if generate is not None else None
        self.key_log = key_log
        self.decode_draft = decode_draft  # JPEGs decoded at a reduced size (opt-in; image_decoding.py)
        self.epoch = 0
        self.unreadable = 0  # in this process
        self._generator = None

    def __getstate__(self):  # the spaCy generator is built again in each worker
        state = dict(self.__dict__)
        state["_generator"] = None
        return state

    # ------------------------------------------------------------------ runner hooks
    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if self.key_log is not None:
            self.key_log.bind(self.epoch)

    def batches_per_epoch(self, batch_size: int, world_size: int) -> int:
        """Steps per epoch on each rank: ``num_samples // (batch_size * world_size)``."""
        return self.num_samples // (int(batch_size) * max(1, int(world_size)))

    # ------------------------------------------------------------------ pipeline
    def epoch_shards(self) -> list[str]:
        """The shard order of the current epoch, identical on every rank and worker."""
        urls = list(self.urls)
        if self.shuffle_shards:
            random.Random(self.seed * 1_000_003 + self.epoch).shuffle(urls)
        return urls

    def pipeline(self):
        import webdataset as wds

        rank, world = _rank_world()
        worker, workers = _worker()
        if self.resampled:
            stages = [wds.ResampledShards(self.urls, seed=self.seed * 1_000_003 + self.epoch, deterministic=True)]
        else:
            shards = self.epoch_shards()
            if not shards[rank::world][worker::workers]:
                log.warning("rank %d worker %d gets none of the %d shards (world %d x %d workers): it yields "
                            "nothing; write more, smaller shards", rank, worker, len(shards), world, workers)
            stages = [wds.SimpleShardList(shards), wds.split_by_node, wds.split_by_worker]
        stages.append(wds.tarfile_to_samples(handler=self._on_read_error))
        if self.shuffle_buffer > 1:
            rng = random.Random(hash((self.seed, self.epoch, rank, worker)))
            stages.append(wds.shuffle(self.shuffle_buffer, initial=min(100, self.shuffle_buffer), rng=rng))
        stages.append(self._samples)
        return wds.DataPipeline(*stages)

    def __iter__(self):
        return iter(self.pipeline())

    def _on_read_error(self, exc) -> bool:
        log.warning("webdataset read error, skipping: %r", exc)
        return True

    # ------------------------------------------------------------------ samples
    def _negatives(self, caption: str, meta: dict, where: str) -> dict:
        if not self.negative_types:
            return {}
        if self.generate is not None:
            if self._generator is None:
                from ahnpl_plugin.negatives import NegativeGenerator

                types = [t for t in self.negative_types]
                # one caption at a time: no plausibility selection (it needs all the captions);
                # rules v1 (generator 1.0, the paper-faithful recipe) unless the config says v2
                self._generator = NegativeGenerator(types=types, seed=int(self.generate.get("seed", 0)),
                                                    spacy_model=self.generate.get("spacy_model"),
                                                    rules=str(self.generate.get("rules", "v1")), plausibility="off",
                                                    swap_words=self.generate.get("swap_words"))
            return canonical_negatives(self._generator.generate([caption])[0], where)
        if not has_negatives(meta):
            raise DataError(f"{where} has no hard negatives in its json; write the shards with "
                            "--negatives (python -m ahnpl_plugin.data write-shards), or set "
                            "generate_negatives: true to make them on the fly")
        return canonical_negatives(meta, where)

    def _text(self, text: str) -> str:
        return self.text_processor(text) if self.text_processor is not None else text

    def _samples(self, source):
        for raw in source:
            key = f"{os.path.basename(str(raw.get('__url__', '')))}/{raw.get('__key__')}"
            caption, meta = decode_caption(raw)
            data = image_member(raw)
            try:
                image = open_rgb(bytes(data), self.decode_draft)
            except IMAGE_ERRORS as exc:
                self.unreadable += 1
                log.warning("unreadable image in %s: %s: %s; skipped, the next sample takes its place "
                            "(%d skipped so far in this process)", key, type(exc).__name__, exc, self.unreadable)
                continue
            record = {"caption": caption, **self._negatives(caption, meta, f"shard sample {key}")}
            negatives, mask = negative_columns(record, self.negative_types)
            if self.key_log is not None:
                self.key_log.write(key)
            yield {
                "image": self.vis_processor(image),
                "text_input": self._text(caption),
                "hard_negatives": [self._text(n) if ok else INVALID for n, ok in zip(negatives, mask)],
                "hard_negative_mask": mask,
                "key": key,
                "image_id": str(meta.get("image_id", key)),
            }

    def collater(self, samples):
        return collate(samples, self.negative_types)
