"""Samples/s of the shard loader (``ahnpl_wds``) vs the folder loader (``ahnpl_coco``), same augmentation.

Builds a COCO-like folder in a temporary directory (JPEGs of COCO's typical 640x480 size, two
captions per image, template hard negatives), writes it as webdataset shards, and times one pass
of each loader through a torch DataLoader with the same processor (LAVIS's ``clip_image_train``,
224 px: RandomResizedCrop scale 0.9-1, bicubic, CLIP normalisation), batch size and workers.
The first batch (worker start-up) is not timed.

    python perf/loader_throughput.py                       # 512 images, 2 workers
    python perf/loader_throughput.py --images 2000 --workers 8 --json out.json
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def make_images(root: Path, n_images: int, seed: int = 0) -> list[dict]:
    """COCO-like JPEGs (smooth content + grain, 640x480, ~q90) and Karpathy-style train rows."""
    import numpy as np
    from PIL import Image

    from ahnpl_plugin.data.images import coco2014_file
    from ahnpl_plugin.data.sample_folder import caption

    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    rows = []
    for i in range(n_images):
        name = coco2014_file(i + 1, "train2014")
        path = root / "images" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        small = Image.fromarray(nrng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).resize((640, 480), Image.BICUBIC)
        grain = nrng.normal(0, 12, (480, 640, 3))
        pixels = np.clip(np.asarray(small, dtype=np.float32) + grain, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(path, format="JPEG", quality=90)
        rows += [{"image": name, "caption": caption(rng), "image_id": f"coco_{i + 1}"} for _ in range(2)]
    return rows


def time_loader(loader, n_samples: int) -> float:
    """Samples/s over one pass, first batch excluded."""
    iterator = iter(loader)
    first = next(iterator)
    seen, start = 0, time.perf_counter()
    for batch in iterator:
        seen += len(batch["text_input"])
    elapsed = time.perf_counter() - start
    assert seen + len(first["text_input"]) >= n_samples * 0.9, (seen, n_samples)
    return seen / elapsed


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=512, help="JPEG files written and read (default 512)")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers (default 2)")
    parser.add_argument("--batch-size", type=int, default=64, help="samples per batch (default 64)")
    parser.add_argument("--image-size", type=int, default=224, help="processor output side in px (default 224)")
    parser.add_argument("--samples-per-shard", type=int, default=256,
                        help="samples per webdataset shard of the sharded loader (default 256)")
    parser.add_argument("--repeats", type=int, default=2, help="passes per loader, best kept")
    parser.add_argument("--json", default=None, help="also write the result here")
    args = parser.parse_args(argv)

    import torch
    from torch.utils.data import DataLoader, RandomSampler

    from ahnpl_plugin import register

    register()  # LAVIS's processors
    from lavis.processors.clip_processors import ClipImageTrainProcessor

    from ahnpl_plugin.data.negatives_join import join_negatives, read_negatives
    from ahnpl_plugin.data.sample_folder import write_template_negatives
    from ahnpl_plugin.data.shards import expand_shard_urls, write_shards
    from ahnpl_plugin.datasets.shard_stream import HardNegativeShardStream
    from ahnpl_plugin.datasets.training_samples import ReplacingHardNegativeDataset

    torch.set_num_threads(1)
    processor = ClipImageTrainProcessor(image_size=args.image_size)
    types = ("relation", "adj_swap", "adj", "noun", "verb")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        rows = make_images(root, args.images)
        negatives = read_negatives(write_template_negatives(rows, root / "neg.jsonl"))
        records = join_negatives(rows, negatives).records
        report = write_shards(records, root / "images", root / "shards", samples_per_shard=args.samples_per_shard,
                              progress=False)
        print(f"data: {args.images} images, {len(records)} samples, {len(report.shards)} shards "
              f"(built in {time.perf_counter() - t0:.1f} s)", file=sys.stderr)
        folder = ReplacingHardNegativeDataset(records, str(root / "images"), processor, negative_types=types)
        stream = HardNegativeShardStream(expand_shard_urls(str(root / "shards" / "*.tar")), processor,
                                         negative_types=types, num_samples=len(records), shuffle_buffer=1000)
        common = dict(batch_size=args.batch_size, num_workers=args.workers, drop_last=False)
        results = {"folder": 0.0, "shards": 0.0}
        for _ in range(args.repeats):
            loader = DataLoader(folder, sampler=RandomSampler(folder), collate_fn=folder.collater, **common)
            results["folder"] = max(results["folder"], time_loader(loader, len(records)))
            loader = DataLoader(stream, collate_fn=stream.collater, **common)
            results["shards"] = max(results["shards"], time_loader(loader, len(records)))
    out = {
        "folder_samples_per_s": round(results["folder"], 1),
        "shards_samples_per_s": round(results["shards"], 1),
        "ratio_shards_over_folder": round(results["shards"] / results["folder"], 3),
        "images": args.images, "samples": len(records), "workers": args.workers, "batch_size": args.batch_size,
        "image_size": args.image_size, "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
    }
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()
