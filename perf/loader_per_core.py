"""Per-core samples/s of the training loaders: JPEG decode + ``clip_image_train`` + tokenising six texts.

What one DataLoader worker does per sample, measured in one process on one core (``num_workers=0``,
one torch thread), for the COCO folder loader (``ahnpl_coco``'s dataset) and the shard loader
(``ahnpl_wds``'s stream), each with full JPEG decoding (default) and with ``decode_draft``
(opt-in: libjpeg's reduced-size decoding, ``ahnpl_plugin/datasets/image_decoding.py``). The
collater is the runner's: the dataset's collater + ``TokenizingCollater`` with CLIP's 77-token ids of
the caption and its five negatives; the tokenizer cache is cleared before every batch (a COCO epoch
never repeats a text within the cache's reach), so tokenising is timed cold. ``folder-notok``
leaves tokenising out, to show its share. ``-u8`` variants hand the batch over as uint8 pixels and
leave ToTensor's division and Normalize to the device (``run.normalize_on_device``, the default;
``ahnpl_plugin/datasets/device_normalize.py``; bit-identical images), so the worker does not pay
for them.

Data: COCO-like JPEGs (640x480, q90, smooth content + grain, as perf/loader_throughput.py),
two captions per image, template negatives; shards written from the same records. Variants run
interleaved, one pass each per round, median over rounds. The rate is samples per CPU second of
the process (what one worker core delivers; far steadier than wall time on a machine shared with
other jobs); wall-clock rates are printed too.
Also printed: how far ``decode_draft`` alone moves pixels (LAVIS's deterministic eval resize of the
full vs the draft-decoded JPEG; mean and 99th percentile absolute difference, CLIP-normalised units).

    python perf/loader_per_core.py                     # 192 images (384 samples), 3 rounds
    python perf/loader_per_core.py --images 512 --rounds 5 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "perf"))

VARIANTS = ("folder", "folder-draft", "shards", "shards-draft", "folder-notok",
            "folder-u8", "folder-draft-u8", "shards-u8", "shards-draft-u8")
TYPES = ("relation", "adj_swap", "adj", "noun", "verb")


class ColdTokens:
    """CLIP loader tokens with the per-caption cache cleared first (cold, as on COCO)."""

    def __init__(self, context_length: int = 77):
        from ahnpl_plugin.models.loader_tokens import ClipLoaderTokens

        self.tokens = ClipLoaderTokens(context_length)

    def __call__(self, batch):
        from ahnpl_plugin.models.clip.tokenizer import caption_ids

        caption_ids.cache_clear()
        return self.tokens(batch)


def samples_per_s(loader) -> tuple[float, float]:
    """(samples per CPU second of this process, samples per wall second) over one pass.

    CPU time is what a worker core spends per sample and is barely affected by other processes on
    a loaded machine; wall time is affected (and shown for comparison)."""
    seen, cpu, wall = 0, time.process_time(), time.perf_counter()
    for batch in loader:
        seen += len(batch["text_input"])
    return seen / (time.process_time() - cpu), seen / (time.perf_counter() - wall)


def pixel_change(records, root: Path, image_size: int, draft: int, n: int = 32) -> dict:
    """How much draft decoding alone moves pixels: LAVIS's eval transform (bicubic resize of the
    whole image, centre crop; no random draw whose integer rounding would depend on the decoded
    size) of the full and the draft-decoded JPEG."""
    import torch
    from lavis.processors.clip_processors import ClipImageEvalProcessor

    from ahnpl_plugin.datasets.image_decoding import open_rgb

    processor = ClipImageEvalProcessor(image_size=image_size)
    diffs = []
    for record in records[: 2 * n : 2]:
        path = str(root / "images" / record["image"])
        diffs.append((processor(open_rgb(path)) - processor(open_rgb(path, draft))).abs().flatten())
    diffs = torch.cat(diffs)
    return {"mean_abs": round(float(diffs.mean()), 4), "p99_abs": round(float(diffs.quantile(0.99)), 4),
            "unit": "CLIP-normalised (1 unit = ~70 of 255 grey levels)"}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=192)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; valid: {', '.join(VARIANTS)}")

    import torch
    from torch.utils.data import DataLoader, RandomSampler

    from ahnpl_plugin import register

    register()
    from lavis.processors.clip_processors import ClipImageTrainProcessor
    from loader_throughput import make_images

    from ahnpl_plugin.data.negatives_join import join_negatives, read_negatives
    from ahnpl_plugin.data.sample_folder import write_template_negatives
    from ahnpl_plugin.data.shards import expand_shard_urls, write_shards
    from ahnpl_plugin.datasets.device_normalize import split_processor
    from ahnpl_plugin.datasets.shard_stream import HardNegativeShardStream
    from ahnpl_plugin.datasets.training_samples import ReplacingHardNegativeDataset
    from ahnpl_plugin.models.loader_tokens import TokenizingCollater

    torch.set_num_threads(1)
    processor = ClipImageTrainProcessor(image_size=args.image_size)
    tokens = ColdTokens(77)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows = make_images(root, args.images)
        records = join_negatives(rows, read_negatives(write_template_negatives(rows, root / "neg.jsonl"))).records
        write_shards(records, root / "images", root / "shards", samples_per_shard=128, progress=False)
        urls = expand_shard_urls(str(root / "shards" / "*.tar"))

        worker_half, _ = split_processor(processor)

        def loader(variant: str):
            draft = args.image_size if "-draft" in variant else None
            images = worker_half if variant.endswith("-u8") else processor
            if variant.startswith("folder"):
                dataset = ReplacingHardNegativeDataset(records, str(root / "images"), images, negative_types=TYPES,
                                                       decode_draft=draft)
                collate = dataset.collater if variant == "folder-notok" else TokenizingCollater(dataset.collater, tokens)
                return DataLoader(dataset, sampler=RandomSampler(dataset), batch_size=args.batch_size, num_workers=0,
                                  collate_fn=collate)
            stream = HardNegativeShardStream(urls, images, negative_types=TYPES, num_samples=len(records),
                                             shuffle_buffer=256, decode_draft=draft)
            return DataLoader(stream, batch_size=args.batch_size, num_workers=0,
                              collate_fn=TokenizingCollater(stream.collater, tokens))

        for variant in variants:  # warm-up: imports, file cache
            next(iter(loader(variant)))
        rates = {v: [] for v in variants}
        wall_rates = {v: [] for v in variants}
        for round_ in range(args.rounds):
            for variant in variants:
                cpu_rate, wall_rate = samples_per_s(loader(variant))
                rates[variant].append(cpu_rate)
                wall_rates[variant].append(wall_rate)
            print(f"round {round_ + 1}/{args.rounds} (per CPU second): "
                  + "  ".join(f"{v} {rates[v][-1]:.1f}/s" for v in variants), file=sys.stderr)
        change = pixel_change(records, root, args.image_size, args.image_size)
    median = {v: statistics.median(r) for v, r in rates.items()}
    base = median.get("folder")
    out = {
        "samples_per_s_per_core": {v: round(m, 1) for v, m in median.items()},
        "ratio_vs_folder": {v: round(m / base, 3) for v, m in median.items()} if base else {},
        "wall_samples_per_s": {v: round(statistics.median(r), 1) for v, r in wall_rates.items()},
        "all_rounds": {v: [round(x, 1) for x in r] for v, r in rates.items()},
        "draft_pixel_change": change,
        "images": args.images, "samples": len(records), "batch_size": args.batch_size, "image_size": args.image_size,
        "rounds": args.rounds, "load_average_at_start": [round(x, 2) for x in load],
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}, torch {torch.__version__}",
    }
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()
