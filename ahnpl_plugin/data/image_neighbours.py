"""``python -m ahnpl_plugin.data image-neighbours``: NegCLIP's hard-negative images for a COCO config.

NegCLIP (Yuksekgonul et al., ICLR 2023) adds to each training batch, for every sample, one of its
image's nearest neighbours by pretrained CLIP image embeddings. This command computes those
neighbours once for the training images of a config's ``ahnpl_coco``/``ahnpl_flickr30k`` dataset:
it builds the config's model (its ``pretrained`` weights), encodes every distinct training image
with the dataset's eval image processor (``encode_image``: L2-normalised features), finds each
image's k most cosine-similar other images and writes an image-neighbours file
(:func:`~ahnpl_plugin.datasets.neighbour_images.write_image_neighbours`), which the builder's
``neighbour_images_file`` key reads.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)
KARPATHY_BUILDERS = ("ahnpl_coco", "ahnpl_flickr30k")


@dataclass
class NeighboursReport:
    output: Path
    images: int
    k: int
    seconds_encoding: float
    mean_top1: float  # mean cosine of each image's nearest neighbour

    def lines(self) -> list[str]:
        return [f"wrote {self.output}: {self.images} training images, k={self.k} neighbours each",
                f"encoding took {self.seconds_encoding:.1f} s; mean cosine to the nearest neighbour {self.mean_top1:.3f}"]


class _Images:
    """The distinct training images, opened and put through the eval processor."""

    def __init__(self, paths: list[Path], processor):
        self.paths, self.processor = paths, processor

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        from PIL import Image

        with Image.open(self.paths[index]) as image:
            return self.processor(image.convert("RGB"))


def _dataset_name(cfg) -> str:
    from ahnpl_plugin.errors import ConfigError

    names = [n for n in cfg.datasets_cfg if n in KARPATHY_BUILDERS]
    if len(names) != 1:
        raise ConfigError(f"image-neighbours needs exactly one {' or '.join(KARPATHY_BUILDERS)} dataset in the config, "
                          f"found {names or 'none'}")
    return names[0]


def encode_images(model, dataset, batch_size: int, workers: int, device, progress: bool) -> np.ndarray:
    """``model.encode_image`` of every item of ``dataset`` in order: float32 ``[N, D]``."""
    import torch
    from tqdm import tqdm

    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=workers, shuffle=False)
    parts = []
    with torch.no_grad():
        for batch in tqdm(loader, desc="encoding training images", unit="batch", disable=not progress):
            parts.append(model.encode_image(batch.to(device)).float().cpu().numpy())
    return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)


def build_image_neighbours(cfg_path: str, options: list[str], k: int = 3, output: str | None = None,
                           batch_size: int = 256, device: str | None = None, workers: int = 4,
                           progress: bool = True) -> NeighboursReport:
    """Encode the config's training images with its model and write their k nearest neighbours."""
    import time

    import torch
    from lavis.common.registry import registry

    from ahnpl_plugin import register
    from ahnpl_plugin.config import load_config
    from ahnpl_plugin.data.annotations import read_train_annotations
    from ahnpl_plugin.data.images import resolve_image, scan_images
    from ahnpl_plugin.datasets.coco_builder import karpathy_paths
    from ahnpl_plugin.datasets.neighbour_images import cosine_neighbours, write_image_neighbours
    from ahnpl_plugin.errors import ConfigError, DataError

    register()
    cfg = load_config(cfg_path, options)
    name = _dataset_name(cfg)
    dataset_cfg = cfg.datasets_cfg[name]
    paths = karpathy_paths(dataset_cfg, name)
    if "train" not in paths.annotations:
        raise ConfigError(f"datasets.{name} has no train split: there are no training images to pair")
    target = Path(output) if output else paths.neighbours
    if target is None:
        raise ConfigError(f"give --output, or set datasets.{name}.neighbour_images_file in the config")
    if not target.parent.is_dir():
        raise DataError(f"--output {target}: the folder {str(target.parent)!r} does not exist")
    if not 1 <= k:
        raise ConfigError(f"--k must be >= 1, got {k}")
    rows = read_train_annotations(paths.annotations["train"])
    images = list(dict.fromkeys(r["image"] for r in rows))
    scan = scan_images(paths.images, images)
    if scan.missing:
        if not dataset_cfg.get("skip_missing", False):
            raise DataError(f"{len(scan.missing)} of {len(images)} training images are missing under {paths.images} "
                            f"(e.g. {scan.examples()}); add them, or set datasets.{name}.skip_missing: true")
        missing = set(scan.missing)
        images = [i for i in images if i not in missing]
    if len(images) <= k:
        raise DataError(f"{len(images)} training images: k={k} neighbours need at least {k + 1}")
    builder = registry.get_builder_class(name)(dataset_cfg)
    builder.build_processors()
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = registry.get_model_class(cfg.model_cfg.arch).from_config(cfg.model_cfg).to(device).eval()
    start = time.perf_counter()
    features = encode_images(model, _Images([resolve_image(paths.images, i) for i in images], builder.vis_processors["eval"]),
                             batch_size, workers, device, progress)
    seconds = time.perf_counter() - start
    table = cosine_neighbours(features, k)
    top1 = float(np.mean(np.sum(features * features[table[:, 0]], axis=1)))
    meta = {"model": {key: str(cfg.model_cfg.get(key)) for key in ("arch", "model_type", "pretrained", "finetuned")
                      if cfg.model_cfg.get(key) is not None},
            "embedding": "encode_image of the dataset's eval image processor, cosine",
            "annotations": [str(p) for p in paths.annotations["train"]], "config": str(cfg_path)}
    write_image_neighbours(target, images, table, meta)
    return NeighboursReport(target, len(images), k, seconds, top1)
