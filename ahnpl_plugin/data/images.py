"""Image files: which exist under an images folder, and COCO 2014 file names from image ids."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ahnpl_plugin.data.errors import DataError

COCO2014_SPLITS = ("train2014", "val2014")


@dataclass
class ImageScan:
    """Result of :func:`scan_images`: distinct paths found, and the missing ones in first-seen order."""

    found: int = 0
    missing: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.found + len(self.missing)

    def examples(self, n: int = 3) -> str:
        return ", ".join(self.missing[:n]) + (", ..." if len(self.missing) > n else "")


def resolve_image(root: str | Path, image: str) -> str:
    """The file of a row's ``image``: absolute paths as they are, others under ``root``."""
    return image if os.path.isabs(image) else os.path.join(str(root), image)


def scan_images(root: str | Path, images: Iterable[str]) -> ImageScan:
    """Check that each distinct image file exists (one ``stat`` per distinct path)."""
    scan, seen = ImageScan(), set()
    for image in images:
        if image in seen:
            continue
        seen.add(image)
        if os.path.isfile(resolve_image(root, image)):
            scan.found += 1
        else:
            scan.missing.append(image)
    return scan


def coco2014_file(image_id: int, split: str) -> str:
    """``train2014/COCO_train2014_000000057870.jpg`` for (57870, "train2014")."""
    if split not in COCO2014_SPLITS:
        raise DataError(f"unknown COCO 2014 split {split!r}; valid: {', '.join(COCO2014_SPLITS)}")
    return f"{split}/COCO_{split}_{int(image_id):012d}.jpg"


def coco2014_file_on_disk(image_id: int, root: str | Path) -> str | None:
    """The COCO 2014 file of ``image_id`` that exists under ``root`` (train2014 or val2014).

    COCO 2014 train and val image ids are disjoint, so at most one exists in a complete copy;
    None when neither does. Both existing means a corrupt layout (DataError).
    """
    hits = [name for name in (coco2014_file(image_id, s) for s in COCO2014_SPLITS)
            if os.path.isfile(os.path.join(str(root), name))]
    if len(hits) > 1:
        raise DataError(f"COCO image id {image_id} exists in both train2014 and val2014 under {root}: {hits}")
    return hits[0] if hits else None
