"""Items/s of caption-choice evaluation with and without the encode-once feature cache.

Writes a SugarCrepe-layout benchmark with heavy image reuse into a temporary folder (default:
5,000 items over 500 distinct JPEG images, 10 items per image, each item a caption and a hard
negative), loads it through the ``ahnpl_sugarcrepe`` LAVIS builder, and evaluates it with a
randomly initialised ``ahnpl_clip`` (``tiny`` by default) three ways:

* naive per item: every item's image is decoded, preprocessed and encoded, and its captions
  encoded, for each item (batched over items, as a straightforward evaluation loop does);
* encode-once, cold cache: the ``ahnpl_compositional`` task's path (each distinct image and
  caption encoded once, then per-item similarities by index);
* encode-once, warm cache: the same again under the same weights, as when a later benchmark of
  the same run shares the images and captions (nothing left to encode).

All three must give identical scores. Run:

    python perf/eval_throughput.py [--items 5000] [--images 500] [--model-type tiny]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

COLOURS = ["red", "green", "blue", "yellow", "purple", "orange", "black", "white", "brown", "grey"]
OBJECTS = ["cube", "ball", "cone", "ring", "box", "cup", "star", "disk", "vase", "lamp", "book", "shoe"]
RELATIONS = ["left of", "right of", "above", "below", "behind", "in front of"]


def write_layout(folder: Path, n_items: int, n_images: int, image_px: int, seed: int = 0):
    """SugarCrepe files (replace_att, replace_obj, swap_att) + COCO-style JPEGs; returns
    ``(data_dir, image_dir)``."""
    rng = random.Random(seed)
    np_rng = np.random.default_rng(seed)
    from PIL import Image

    image_dir, data_dir = folder / "val2017", folder / "sugarcrepe"
    image_dir.mkdir(parents=True)
    data_dir.mkdir(parents=True)
    for i in range(n_images):
        pixels = np_rng.integers(0, 256, size=(image_px, image_px, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(image_dir / f"{i:012d}.jpg", quality=90)
    files = {"replace_att": {}, "replace_obj": {}, "swap_att": {}}
    stems = list(files)
    for k in range(n_items):
        c1, c2 = rng.sample(COLOURS, 2)
        o1, o2 = rng.sample(OBJECTS, 2)
        rel = rng.choice(RELATIONS)
        caption = f"a {c1} {o1} {rel} a {c2} {o2}"
        stem = stems[k % 3]
        negative = {
            "replace_att": f"a {rng.choice([c for c in COLOURS if c != c1])} {o1} {rel} a {c2} {o2}",
            "replace_obj": f"a {c1} {rng.choice([o for o in OBJECTS if o != o1])} {rel} a {c2} {o2}",
            "swap_att": f"a {c2} {o1} {rel} a {c1} {o2}",
        }[stem]
        files[stem][str(k)] = {"filename": f"{k % n_images:012d}.jpg", "caption": caption,
                               "negative_caption": negative}
    for stem, records in files.items():
        (data_dir / f"{stem}.json").write_text(json.dumps(records))
    return data_dir, image_dir


def build_dataset(data_dir: Path, image_dir: Path, image_size: int):
    from lavis.common.registry import registry
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({
        "data_type": "images", "root": str(data_dir), "image_root": str(image_dir), "strict": False,
        "options": {"files": ["replace_att", "replace_obj", "swap_att"]},
        "vis_processor": {"eval": {"name": "clip_image_eval", "image_size": image_size}},
    })
    return registry.get_builder_class("ahnpl_sugarcrepe")(cfg).build_datasets()["test"]


@torch.no_grad()
def naive_per_item(model, dataset, batch_size: int) -> dict:
    """The baseline: decode, preprocess and encode every item's own image and captions."""
    from ahnpl_plugin.benchmarks import open_image
    from ahnpl_plugin.model_adapters import choice_encoder

    encoder = choice_encoder(model)
    items = dataset.benchmark.items
    sims, counts = [], {"images": 0, "captions": 0}
    for start in range(0, len(items), batch_size):
        chunk = items[start:start + batch_size]
        images = torch.stack([dataset.vis_processor(open_image(ref)) for it in chunk for ref in it.images])
        texts = [c for it in chunk for c in it.captions]
        image_feats, text_feats = encoder.encode_image(images), encoder.encode_text(texts)
        counts["images"] += len(images)
        counts["captions"] += len(texts)
        i = t = 0
        for it in chunk:
            ni, nc = len(it.images), len(it.captions)
            sims.append((image_feats[i:i + ni] @ text_feats[t:t + nc].T).numpy())
            i, t = i + ni, t + nc
    return {"scores": dataset.benchmark.score(sims), **counts}


def encode_once(task, model, dataset, batch_size: int, workers: int) -> dict:
    before = (task.cache.encoded_images, task.cache.encoded_texts)
    scores = task.evaluate_dataset(model, dataset, batch_size=batch_size, num_workers=workers)
    return {"scores": scores, "images": task.cache.encoded_images - before[0],
            "captions": task.cache.encoded_texts - before[1]}


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=5000, help="benchmark items scored (default 5000)")
    parser.add_argument("--images", type=int, default=500, help="distinct images (reused round-robin)")
    parser.add_argument("--image-px", type=int, default=320, help="side of the JPEG files written")
    parser.add_argument("--model-type", default="tiny", help="ahnpl_clip model type (random weights)")
    parser.add_argument("--batch-size", type=int, default=64, help="images (naive: items) per batch")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers of the cached path")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="cuda or cpu (default: cuda when available)")
    args = parser.parse_args(argv)

    from ahnpl_plugin import register

    register()
    from lavis.common.registry import registry
    from omegaconf import OmegaConf

    from ahnpl_plugin.tasks.compositional import CompositionalTask, model_eval_processors

    model_cfg = OmegaConf.create({"arch": "ahnpl_clip", "model_type": args.model_type, "pretrained": ""})
    image_size = model_eval_processors(model_cfg)["vis_processor"]["image_size"]
    torch.manual_seed(0)
    model = registry.get_model_class("ahnpl_clip").from_config(model_cfg).to(args.device).eval()

    with tempfile.TemporaryDirectory() as tmp:
        data_dir, image_dir = write_layout(Path(tmp), args.items, args.images, args.image_px)
        dataset = build_dataset(data_dir, image_dir, image_size)
        n = len(dataset.benchmark.items)
        naive, t_naive = timed(lambda: naive_per_item(model, dataset, args.batch_size))
        task = CompositionalTask(progress=False)
        cold, t_cold = timed(lambda: encode_once(task, model, dataset, args.batch_size, args.workers))
        warm, t_warm = timed(lambda: encode_once(task, model, dataset, args.batch_size, args.workers))

    for result in (cold, warm):  # the task adds the cells by protocol (intervals); the naive path has none
        result["scores"] = {k: v for k, v in result["scores"].items() if k != "cells"}
    if not naive["scores"] == cold["scores"] == warm["scores"]:
        print("MISMATCH between the paths' scores:", naive["scores"], cold["scores"], sep="\n")
        return 1
    print(f"{n} items, {len(dataset.images)} distinct images, {len(dataset.captions)} distinct captions; "
          f"ahnpl_clip {args.model_type} ({image_size} px input, {args.image_px} px JPEGs) on "
          f"{args.device}, {torch.get_num_threads()} threads, batch {args.batch_size}")
    print("| method | images encoded | captions encoded | seconds | items/s | speed-up |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, result, seconds in (("naive per item", naive, t_naive),
                                  ("encode-once, cold cache", cold, t_cold),
                                  ("encode-once, warm cache", warm, t_warm)):
        print(f"| {name} | {result['images']} | {result['captions']} | {seconds:.2f} | "
              f"{n / seconds:,.0f} | {t_naive / seconds:.1f}x |")
    print(f"scores identical on all paths (average accuracy {cold['scores']['average']:.4f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
