"""webdataset shards: writing them (``write-shards``) and finding them (URL lists, sizes).

The format (member names, keys, ``sizes.json``, how a sample is encoded and decoded) is defined in
:mod:`ahnpl_plugin.data.shard_format`, shared with the reader
(:mod:`ahnpl_plugin.datasets.shard_stream`). Images that are not JPEG are re-encoded as JPEG; the
``ahnpl_wds`` builder takes its epoch length from ``sizes.json``.
"""

from __future__ import annotations

import glob
import io
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ahnpl_plugin.errors import DataError
from ahnpl_plugin.data.images import resolve_image, scan_images
from ahnpl_plugin.data.shard_format import encode_sample, read_sizes, shard_name, shard_pattern, update_sizes

REMOTE_PREFIXES = ("http://", "https://", "pipe:", "s3://", "gs://", "ais://")
JPEG_MAGIC = b"\xff\xd8"


# ----------------------------------------------------------------------------- finding shards


def is_remote(url: str) -> bool:
    return url.startswith(REMOTE_PREFIXES)


def expand_shard_urls(spec) -> list[str]:
    """Shard URLs/paths of a config value: a string or list of strings, each brace-expanded
    (``cc3m-{000000..000331}.tar``); local ones are resolved against the working directory and
    glob patterns (``*``, ``?``, ``[``) are expanded (sorted). A glob that matches nothing is kept
    as written, so that the caller reports it missing."""
    import braceexpand

    specs = [spec] if isinstance(spec, str) else list(spec or [])
    urls: list[str] = []
    for item in specs:
        if not isinstance(item, str) or not item.strip():
            raise DataError(f"shard spec must be a non-empty string, got {item!r}")
        for url in braceexpand.braceexpand(item):
            if is_remote(url):
                urls.append(url)
                continue
            local = str(Path(url).expanduser().resolve()) if not os.path.isabs(url) else url
            if any(c in url for c in "*?["):
                urls += sorted(glob.glob(os.path.expanduser(url) if os.path.isabs(url) else local)) or [local]
            else:
                urls.append(local)
    return urls


def missing_local_shards(urls: Sequence[str]) -> list[str]:
    return [u for u in urls if not is_remote(u) and not os.path.isfile(u)]


def shard_sizes(urls: Sequence[str]) -> dict[str, int] | None:
    """Sample count per shard from the ``sizes.json`` beside local shards; None if any is unknown."""
    tables: dict[str, dict] = {}
    sizes = {}
    for url in urls:
        if is_remote(url):
            return None
        folder = os.path.dirname(url)
        if folder not in tables:
            tables[folder] = read_sizes(folder)
        count = tables[folder].get(os.path.basename(url))
        if not isinstance(count, int):
            return None
        sizes[url] = count
    return sizes


# ----------------------------------------------------------------------------- writing shards


@dataclass
class ShardReport:
    shards: list[str] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)
    samples: int = 0
    skipped_missing: int = 0
    reencoded: int = 0

    def pattern(self, prefix: str) -> str:
        """Brace pattern of the written shards, for ``build_info.shards``."""
        return shard_pattern(os.path.dirname(self.shards[0]), prefix, len(self.shards)) if self.shards else ""


def jpeg_bytes(path: str) -> tuple[bytes, bool]:
    """``(bytes, reencoded)``: the file itself when it is a JPEG, else re-encoded as JPEG (q95)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == JPEG_MAGIC:
        return data, False
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, format="JPEG", quality=95)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable image ({exc})") from None
    return buffer.getvalue(), True


def write_shards(records: Sequence[dict], image_root: str | Path, output: str | Path, prefix: str = "shard",
                 samples_per_shard: int = 1000, shuffle_seed: int | None = 0, skip_missing: bool = False,
                 progress: bool = True) -> ShardReport:
    """Write ``records`` (``image`` relative to ``image_root``, ``caption``, negatives) as shards.

    Rows are shuffled first (seeded; ``shuffle_seed=None`` keeps file order) so that a stream's
    shuffle buffer does not hold the five captions of one image side by side. Missing images: an
    error with the count and first examples, or left out with ``skip_missing``.
    """
    import webdataset as wds

    if samples_per_shard < 1:
        raise DataError(f"--samples-per-shard must be >= 1, got {samples_per_shard}")
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    existing = sorted(output.glob(f"{prefix}-*.tar"))
    if existing:
        raise DataError(f"{output} already has shards named {prefix}-*.tar ({existing[0].name}, ...); "
                        "choose another --output or --prefix")
    scan = scan_images(image_root, (r["image"] for r in records))
    if scan.missing and not skip_missing:
        raise DataError(f"{len(scan.missing)} of {scan.total} images are missing under {image_root} "
                        f"(e.g. {scan.examples()}); fix the images folder or pass --skip-missing")
    missing = set(scan.missing)
    order = list(range(len(records)))
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(order)
    kept = [i for i in order if records[i]["image"] not in missing]
    report = ShardReport(skipped_missing=len(order) - len(kept))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(kept), desc="write-shards", unit="sample")
    try:
        for start in range(0, len(kept), samples_per_shard):
            name = shard_name(prefix, start // samples_per_shard)
            tmp = output / f".{name}.tmp-{os.getpid()}"
            chunk = kept[start:start + samples_per_shard]
            try:
                with open(tmp, "wb") as stream, wds.TarWriter(stream) as sink:
                    for index in chunk:
                        record = records[index]
                        data, reencoded = jpeg_bytes(resolve_image(image_root, record["image"]))
                        report.reencoded += reencoded
                        sink.write(encode_sample(index, data, record))
                        if bar is not None:
                            bar.update(1)
                os.replace(tmp, output / name)
            finally:
                if tmp.exists():
                    tmp.unlink()
            report.shards.append(str(output / name))
            report.sizes[name] = len(chunk)
            report.samples += len(chunk)
    finally:
        if bar is not None:
            bar.close()
    update_sizes(output, report.sizes)  # other prefixes written earlier into the same folder stay
    return report
