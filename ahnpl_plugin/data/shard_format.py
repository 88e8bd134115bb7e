"""The webdataset shard format of this package, defined once: what ``write-shards`` writes
(:mod:`ahnpl_plugin.data.shards`) and what the ``ahnpl_wds`` stream and its checks read
(:mod:`ahnpl_plugin.datasets.shard_stream`, :mod:`ahnpl_plugin.datasets.wds_builder`).

A shard is a ``.tar`` named ``<prefix>-000000.tar`` with two members per sample:

* ``<key>.jpg``: the image file's bytes (written as JPEG; a reader also takes ``jpeg``/``png``/``webp``);
* ``<key>.json``: ``caption``, ``image`` (the source path) and, when there are any, the hard
  negatives in the canonical layout of :mod:`ahnpl_plugin.data.negatives_join`. A reader also takes
  the caption from a ``txt`` member, as img2dataset writes it.

Keys are the sample's row index in the input (``%09d``), so a key leads back to its row. Beside
the shards, ``sizes.json`` maps each shard's file name to its sample count (open_clip's
convention). Plain Python + webdataset: no torch, no LAVIS.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence

from ahnpl_plugin.contract import VALID_FIELD
from ahnpl_plugin.data.jsonio import read_json
from ahnpl_plugin.data.negatives_join import canonical_negatives, negative_fields
from ahnpl_plugin.errors import DataError

IMAGE_MEMBER = "jpg"  # what write-shards writes
IMAGE_MEMBERS = ("jpg", "jpeg", "png", "webp")  # what a reader takes, in this order
JSON_MEMBER = "json"
TEXT_MEMBER = "txt"
SIZES_FILE = "sizes.json"


def sample_key(index: int) -> str:
    """The key of the sample from input row ``index``."""
    return f"{index:09d}"


def shard_name(prefix: str, number: int) -> str:
    """The file name of shard ``number`` (0-based) of a set written with ``prefix``."""
    return f"{prefix}-{number:06d}.tar"


def shard_pattern(folder: str, prefix: str, count: int) -> str:
    """Brace pattern of ``count`` shards written into ``folder``, for ``build_info.shards``."""
    if count <= 0:
        return ""
    if count == 1:
        return os.path.join(folder, shard_name(prefix, 0))
    return os.path.join(folder, f"{prefix}-{{000000..{count - 1:06d}}}.tar")


def has_negatives(meta: dict) -> bool:
    """Whether a sample's json (or an input row) carries hard negatives."""
    return bool(negative_fields(meta)) or VALID_FIELD in meta


# ----------------------------------------------------------------------------- writing


def sample_json(record: dict) -> dict:
    """The ``.json`` member of a sample: caption, source image path and canonical negatives."""
    out = {"caption": record["caption"], "image": record["image"]}
    if has_negatives(record):
        out.update(canonical_negatives(record, f"row {record.get('image')}"))
    return out


def encode_sample(index: int, image: bytes, record: dict) -> dict:
    """The sample of input row ``index`` as webdataset's ``TarWriter`` takes it."""
    return {"__key__": sample_key(index), IMAGE_MEMBER: image,
            JSON_MEMBER: json.dumps(sample_json(record), ensure_ascii=False).encode("utf-8")}


def read_sizes(folder: str | os.PathLike) -> dict:
    """``sizes.json`` of a shard folder (shard file name -> sample count); {} when absent or unreadable."""
    try:
        sizes = read_json(os.path.join(folder, SIZES_FILE))
    except DataError:
        return {}
    return sizes if isinstance(sizes, dict) else {}


def update_sizes(folder: str | os.PathLike, sizes: dict) -> None:
    """Add ``sizes`` to the folder's ``sizes.json`` (other prefixes written earlier stay)."""
    merged = {**read_sizes(folder), **sizes}
    with open(os.path.join(folder, SIZES_FILE), "w", encoding="utf-8") as f:
        f.write(json.dumps(merged, indent=1, sort_keys=True) + "\n")


# ----------------------------------------------------------------------------- reading


def _where(sample: dict) -> str:
    return f"{sample.get('__url__')}: sample {sample.get('__key__')}"


def decode_caption(sample: dict) -> tuple[str, dict]:
    """``(caption, json metadata)`` of a raw shard sample."""
    meta = {}
    if JSON_MEMBER in sample:
        try:
            meta = json.loads(sample[JSON_MEMBER])
        except ValueError as exc:
            raise DataError(f"{_where(sample)}: malformed json member ({exc})") from None
        if not isinstance(meta, dict):
            raise DataError(f"{_where(sample)}: json member is not an object")
    caption = meta.get("caption")
    if not isinstance(caption, str) and TEXT_MEMBER in sample:
        caption = sample[TEXT_MEMBER].decode("utf-8")
    if not isinstance(caption, str) or not caption.strip():
        raise DataError(f"{_where(sample)} has no caption (expected json['caption'] or a txt member)")
    return caption, meta


def image_member(sample: dict) -> bytes:
    """The image bytes of a raw shard sample (the first of :data:`IMAGE_MEMBERS` it has)."""
    for name in IMAGE_MEMBERS:
        if name in sample:
            return sample[name]
    raise DataError(f"{sample.get('__url__')}: sample {sample.get('__key__')} has no image member "
                    f"({'/'.join(IMAGE_MEMBERS)}); members: {', '.join(k for k in sample if not k.startswith('__'))}")


def iter_samples(urls: Sequence[str]) -> Iterator[dict]:
    """The raw samples of local shards, in order (webdataset's reader: members grouped by key)."""
    import webdataset as wds

    yield from wds.DataPipeline(wds.SimpleShardList(list(urls)), wds.tarfile_to_samples())


def first_sample(url: str) -> dict | None:
    """The first raw sample of a local shard, or None if it has none."""
    return next(iter_samples([url]), None)
