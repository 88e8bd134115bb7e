"""Image files: which exist under an images folder, and COCO 2014 file names from image ids."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ahnpl_plugin.errors import DataError

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


def decode_problem(path: str | Path) -> str | None:
    """Why the image file at ``path`` cannot be decoded (one line), or None when it decodes."""
    from PIL import Image

    try:
        if os.path.getsize(path) == 0:
            return f"{path}: empty file (0 bytes)"
        with Image.open(path) as image:
            image.load()
    except FileNotFoundError:
        return f"{path}: missing"
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError... for bad files
        return f"{path}: cannot be decoded ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
    return None


def decode_problems(paths: Iterable[str | Path], workers: int | None = None, desc: str = "decoding images",
                    progress: bool = True) -> list[str]:
    """Decode every distinct image of ``paths`` in parallel threads (PIL decodes without the GIL)
    and return one line per file that fails (all of them, in input order), with a progress bar.

    Decoding is strict: LAVIS sets PIL's ``LOAD_TRUNCATED_IMAGES`` when its COCO datasets are
    imported, which turns a truncated JPEG into a silently grey-padded image; here it is a problem."""
    from concurrent.futures import ThreadPoolExecutor

    from PIL import ImageFile
    from tqdm.auto import tqdm

    unique = list(dict.fromkeys(str(p) for p in paths))
    workers = workers or min(32, (os.cpu_count() or 1) * 2)
    lenient, ImageFile.LOAD_TRUNCATED_IMAGES = ImageFile.LOAD_TRUNCATED_IMAGES, False
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(tqdm(pool.map(decode_problem, unique, chunksize=16), total=len(unique), desc=desc,
                                unit="img", disable=not progress or not unique, leave=False))
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = lenient
    return [r for r in results if r is not None]


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
