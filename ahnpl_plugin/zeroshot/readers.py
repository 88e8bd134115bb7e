"""Zero-shot classification sets as distributed: CLIP_benchmark's webdataset export and a
class-per-folder tree.

**CLIP_benchmark webdataset export** (``clip_benchmark_export_wds`` / ``convert_dataset``, the
``clip-benchmark/wds_<name>`` dataset repositories; layout of ``build_wds_dataset``)::

    root/
      classnames.txt                          one class name per line, line i = label i
      zeroshot_classification_templates.txt   one template per line, "{c}" = the class name
      dataset_type.txt                        optional: "multilabel" (labels in .npy); absent = single-label
      test/                                   one folder per split
        nshards.txt                           the number of shards n
        0.tar 1.tar ... (n-1).tar             samples "s0000000.webp" + "s0000000.cls" (label id as text)

Images are ``webp``, ``png``, ``jpg`` or ``jpeg`` members (the first of these a sample has, as
CLIP_benchmark picks them); multi-label sets store a 0/1 vector as ``.npy``. Samples are read in
shard order, each image by its offset in its tar (random access: no unpacking, any number of
workers).

**Class-per-folder tree**::

    root/
      classnames.txt                          as above; the class order (labels) is this file's
      zeroshot_classification_templates.txt   as above
      folders.txt                             optional: line i = the folder of class i (e.g. ImageNet's
                                              WordNet ids); without it each folder is named as its class
      test/<folder>/<image files>             one folder per class (split folder name configurable)

Labels always follow the class list, never the folders' alphabetical order. A folder that matches
no class is an error (naming it); a class without a folder just has no test images. ``folders``
may also be ``"sorted"``: class i is the i-th folder in sorted order (ImageNet's ``val/`` with
WordNet-id folders, which is how LAVIS's ``imagenet`` builder reads them).

**ELEVATER's downloads** (vision-datasets' ``DatasetHub``; one folder per dataset, its
``root_folder``, e.g. ``classification/food_101_20211007``): the split's index is either

* IRIS text (``test.txt``): lines ``<image> <label>[,<label>...]`` (0-based class ids; the image
  path may hold spaces, the labels never do), class names in the labelmap (``labels.txt``, line i =
  class i), or
* COCO json (``test_coco.json``, hateful-memes' ``test_meta.json``): ``images`` (``id``,
  ``file_name``, optional ``zip_file``), ``annotations`` (``image_id``, ``category_id``),
  ``categories`` (``id``, ``name``; ids from 1, classes in id order; images in id order);

an image is ``<zip>@<path in zip>`` (IRIS) or ``file_name`` inside ``zip_file`` (COCO), else a file
under the folder. The class names ELEVATER's zero-shot code prompts with and its templates live in
its ``vision_benchmark/datasets/prompts.py``, not in the download: ``templates`` must be given
(and ``classnames`` where they differ from the labelmap).
"""

from __future__ import annotations

import io
import os
import re
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ahnpl_plugin.data.jsonio import read_json
from ahnpl_plugin.errors import ZeroShotDataError
from ahnpl_plugin.zeroshot.classifier import check_templates

CLASSNAMES_FILE = "classnames.txt"
TEMPLATES_FILE = "zeroshot_classification_templates.txt"
TYPE_FILE = "dataset_type.txt"
NSHARDS_FILE = "nshards.txt"
FOLDERS_FILE = "folders.txt"
WDS_IMAGE_EXTENSIONS = ("webp", "png", "jpg", "jpeg")  # CLIP_benchmark's order
FOLDER_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
_KEY_EXT = re.compile(r"^((?:.*/|)[^.]+)[.]([^/]*)$")  # webdataset's base_plus_ext


@dataclass(frozen=True)
class TarMember:
    """An image stored inside a tar shard: its bytes are ``size`` bytes at ``offset``."""

    shard: str
    offset: int
    size: int
    name: str

    @property
    def path(self) -> str:
        return f"{self.shard}:{self.name}"


@dataclass(frozen=True)
class ZipMember:
    """An image stored inside a zip file (ELEVATER's downloads)."""

    archive: str
    name: str

    @property
    def path(self) -> str:
        return f"{self.archive}@{self.name}"


_OPEN_ZIPS: dict = {}  # (process id, archive) -> ZipFile: each loader worker opens its own


def _zip(archive: str) -> zipfile.ZipFile:
    key = (os.getpid(), archive)
    if key not in _OPEN_ZIPS:
        _OPEN_ZIPS[key] = zipfile.ZipFile(archive)
    return _OPEN_ZIPS[key]


@dataclass
class ZeroShotSet:
    """A set's class names, templates, images (paths or :class:`TarMember`) and targets
    ([N] class ids, or [N, C] 0/1 for multi-label)."""

    name: str
    classnames: list[str]
    templates: list[str]
    images: list
    targets: np.ndarray
    multilabel: bool = False
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)


def read_image_bytes(ref) -> bytes:
    """The encoded bytes of an image (file path or tar member)."""
    if isinstance(ref, TarMember):
        with open(ref.shard, "rb") as f:
            f.seek(ref.offset)
            return f.read(ref.size)
    if isinstance(ref, ZipMember):
        return _zip(ref.archive).read(ref.name)
    with open(ref, "rb") as f:
        return f.read()


def open_image(ref):
    """The image as an RGB PIL image."""
    from PIL import Image

    with Image.open(io.BytesIO(read_image_bytes(ref))) as image:
        return image.convert("RGB")


# --------------------------------------------------------------------------------- text files
def read_lines(path: Path, what: str) -> list[str]:
    """Non-empty stripped lines of a text file (ZeroShotDataError naming a missing file)."""
    if not path.is_file():
        raise ZeroShotDataError(f"{what} not found: {path}")
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise ZeroShotDataError(f"{what} is empty: {path}")
    if "" in lines:
        raise ZeroShotDataError(f"{what} has an empty line (line {lines.index('') + 1}): {path}")
    return lines


def read_classnames(path: Path) -> list[str]:
    return read_lines(path, "class names file")


def read_templates(path: Path) -> list[str]:
    templates = read_lines(path, "templates file")
    try:
        return check_templates(templates, str(path))
    except ValueError as exc:
        raise ZeroShotDataError(str(exc)) from None


def _metadata(root: Path, classnames, templates) -> tuple[list[str], list[str]]:
    names = list(classnames) if isinstance(classnames, (list, tuple)) else read_classnames(
        Path(classnames) if classnames else root / CLASSNAMES_FILE)
    temps = list(templates) if isinstance(templates, (list, tuple)) else read_templates(
        Path(templates) if templates else root / TEMPLATES_FILE)
    return names, temps


# ------------------------------------------------------------------------ CLIP_benchmark wds
def _shard_samples(shard: Path) -> dict[str, dict[str, tarfile.TarInfo]]:
    samples: dict[str, dict[str, tarfile.TarInfo]] = {}
    try:
        with tarfile.open(shard, "r:") as tar:
            for info in tar:
                if not info.isfile():
                    continue
                match = _KEY_EXT.match(info.name)
                if match is None:
                    continue
                key, ext = match.groups()
                samples.setdefault(key, {})[ext.lower()] = info
    except tarfile.TarError as exc:
        raise ZeroShotDataError(f"cannot read shard {shard}: {exc}") from None
    return samples


def _read_member(shard: Path, info: tarfile.TarInfo) -> bytes:
    with open(shard, "rb") as f:
        f.seek(info.offset_data)
        return f.read(info.size)


def read_clip_benchmark_wds(root, split: str = "test", name: str | None = None, classnames=None,
                            templates=None) -> ZeroShotSet:
    """A set in CLIP_benchmark's webdataset layout (module docstring). ``classnames`` /
    ``templates`` (a file path or a list) replace the files of the export."""
    root = Path(root)
    split_dir = root / split
    nshards_file = split_dir / NSHARDS_FILE
    if not nshards_file.is_file():
        raise ZeroShotDataError(f"{nshards_file} not found: not a CLIP_benchmark webdataset export with split "
                                f"{split!r} (expected {root}/{split}/nshards.txt and 0.tar ...)")
    try:
        nshards = int(nshards_file.read_text().strip())
    except ValueError:
        raise ZeroShotDataError(f"{nshards_file}: expected the number of shards, got "
                                f"{nshards_file.read_text()[:40]!r}") from None
    dataset_type = "classification"
    if (root / TYPE_FILE).is_file():
        dataset_type = (root / TYPE_FILE).read_text().strip().lower()
    if dataset_type not in ("classification", "multilabel"):
        raise ZeroShotDataError(f"{root / TYPE_FILE} says {dataset_type!r}: not a classification set")
    multilabel = dataset_type == "multilabel"
    names, temps = _metadata(root, classnames, templates)
    label_ext = "npy" if multilabel else "cls"
    images, targets = [], []
    for index in range(nshards):
        shard = split_dir / f"{index}.tar"
        if not shard.is_file():
            raise ZeroShotDataError(f"shard {shard} not found ({nshards_file} lists {nshards})")
        for key, members in _shard_samples(shard).items():
            image_ext = next((e for e in WDS_IMAGE_EXTENSIONS if e in members), None)
            if image_ext is None or label_ext not in members:
                raise ZeroShotDataError(f"{shard}: sample {key!r} lacks an image ({'/'.join(WDS_IMAGE_EXTENSIONS)}) "
                                        f"or its .{label_ext} label (has {sorted(members)})")
            raw = _read_member(shard, members[label_ext])
            if multilabel:
                label = np.load(io.BytesIO(raw)).astype(np.int64).reshape(-1)
                if label.shape[0] != len(names):
                    raise ZeroShotDataError(f"{shard}: sample {key!r} has {label.shape[0]} labels, "
                                            f"{len(names)} classes")
            else:
                try:
                    label = int(raw.decode().strip())
                except ValueError:
                    raise ZeroShotDataError(f"{shard}: sample {key!r}: .cls is not a class id: {raw[:20]!r}") from None
                if not 0 <= label < len(names):
                    raise ZeroShotDataError(f"{shard}: sample {key!r} has label {label}, "
                                            f"outside the {len(names)} classes")
            info = members[image_ext]
            images.append(TarMember(str(shard), info.offset_data, info.size, info.name))
            targets.append(label)
    if not images:
        raise ZeroShotDataError(f"{split_dir}: no samples in {nshards} shard(s)")
    return ZeroShotSet(name or root.name, names, temps, images, np.asarray(targets, dtype=np.int64),
                       multilabel, f"CLIP_benchmark wds {root}/{split}")


# --------------------------------------------------------------------- class-per-folder tree
def _folder_classes(root: Path, split_dir: Path, names: list[str], folders) -> dict[str, int]:
    present = sorted(p.name for p in split_dir.iterdir() if p.is_dir())
    if folders == "sorted":
        if len(present) != len(names):
            raise ZeroShotDataError(f"{split_dir}: folders: sorted needs one folder per class; found "
                                    f"{len(present)} folders for {len(names)} classes")
        return {folder: i for i, folder in enumerate(present)}
    if isinstance(folders, (list, tuple)):
        order = [str(f) for f in folders]
    elif folders:
        order = read_lines(Path(folders), "folders file")
    elif (root / FOLDERS_FILE).is_file():
        order = read_lines(root / FOLDERS_FILE, "folders file")
    else:
        order = list(names)
    if len(order) != len(names):
        raise ZeroShotDataError(f"the folders list has {len(order)} entries for {len(names)} classes")
    if len(set(order)) != len(order):
        raise ZeroShotDataError("the folders list names a folder twice")
    mapping = {folder: i for i, folder in enumerate(order)}
    unknown = [f for f in present if f not in mapping]
    if unknown:
        raise ZeroShotDataError(f"{split_dir}: folder(s) {unknown[:5]} match no class (folders are matched to "
                                f"class names, or to the lines of {FOLDERS_FILE})")
    return mapping


def read_class_folders(root, split: str = "test", name: str | None = None, classnames=None,
                       templates=None, folders=None) -> ZeroShotSet:
    """A class-per-folder tree (module docstring); ``split`` is the images' folder under root
    ("" = root itself)."""
    root = Path(root)
    split_dir = root / split if split else root
    if not split_dir.is_dir():
        raise ZeroShotDataError(f"image folder not found: {split_dir}")
    names, temps = _metadata(root, classnames, templates)
    mapping = _folder_classes(root, split_dir, names, folders)
    images, targets = [], []
    for folder, label in sorted(mapping.items(), key=lambda kv: kv[1]):
        directory = split_dir / folder
        if not directory.is_dir():
            continue
        for dirpath, _dirs, files in sorted(os.walk(directory)):
            for file in sorted(files):
                if file.lower().endswith(FOLDER_IMAGE_EXTENSIONS):
                    images.append(os.path.join(dirpath, file))
                    targets.append(label)
    if not images:
        raise ZeroShotDataError(f"{split_dir}: no image files in class folders")
    notes = []
    empty = len(names) - len({t for t in targets})
    if empty:
        notes.append(f"{empty} of {len(names)} classes have no test images")
    return ZeroShotSet(name or root.name, names, temps, images, np.asarray(targets, dtype=np.int64),
                       False, f"class folders {split_dir}", notes)


# --------------------------------------------------------------------------- ELEVATER downloads
ELEVATER_INDEX_NAMES = ("{split}.txt", "{split}_coco.json", "{split}_meta.json", "{split}.json")


def _elevater_image(root: Path, path: str, zip_file: str | None = None):
    if zip_file:
        return ZipMember(str(root / zip_file), path)
    if "@" in path:
        archive, inner = path.split("@", 1)
        return ZipMember(str(root / archive), inner)
    return str(root / path)


def _read_iris(root: Path, index: Path, labelmap: Path) -> tuple[list[str], list, list[list[int]]]:
    names = read_lines(labelmap, "ELEVATER labelmap") if labelmap.is_file() else None
    images, labels = [], []
    for number, line in enumerate(index.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        parts = line.rsplit(" ", 1)
        try:
            ids = [int(x) for x in parts[1].split(",")] if len(parts) == 2 else []
        except ValueError:
            raise ZeroShotDataError(f"{index}:{number}: expected '<image> <class id>[,<class id>...]', got {line!r}") from None
        images.append(_elevater_image(root, parts[0]))
        labels.append(ids)
    if names is None:
        raise ZeroShotDataError(f"ELEVATER labelmap not found: {labelmap} (class names; or set classnames)")
    return names, images, labels


def _read_elevater_coco(root: Path, index: Path) -> tuple[list[str], list, list[list[int]]]:
    try:
        data = read_json(index, ZeroShotDataError)
        categories = sorted(data["categories"], key=lambda c: c["id"])
        position = {c["id"]: i for i, c in enumerate(categories)}
        by_image: dict = {}
        for annotation in data.get("annotations", []):
            by_image.setdefault(annotation["image_id"], []).append(position[annotation["category_id"]])
        listed = sorted(data["images"], key=lambda im: im["id"])  # vision-datasets' order
        images = [_elevater_image(root, im["file_name"], im.get("zip_file")) for im in listed]
        labels = [sorted(by_image.get(im["id"], [])) for im in listed]
        names = [str(c["name"]) for c in categories]
    except (KeyError, TypeError, ValueError) as exc:
        raise ZeroShotDataError(f"{index}: not an ELEVATER/vision-datasets COCO classification index ({exc!r})") from None
    return names, images, labels


def read_elevater(root, split: str = "test", name: str | None = None, classnames=None, templates=None,
                  index=None, labelmap="labels.txt") -> ZeroShotSet:
    """A dataset as ELEVATER's toolkit downloads it (module docstring). ``templates`` is required
    (a file or a list); ``index`` defaults to the first of ``test.txt``, ``test_coco.json``,
    ``test_meta.json``, ``test.json`` found. Multi-label when an image has several labels."""
    root = Path(root)
    if templates is None:
        raise ZeroShotDataError(f"{root}: ELEVATER's downloads hold no prompt templates: set templates to a file "
                                "with this dataset's templates from ELEVATER's prompts.py, one per line ({} = class)")
    if index is None:
        found = [root / n.format(split=split) for n in ELEVATER_INDEX_NAMES if (root / n.format(split=split)).is_file()]
        if not found:
            raise ZeroShotDataError(f"{root}: no {split} index ({', '.join(n.format(split=split) for n in ELEVATER_INDEX_NAMES)})")
        index = found[0]
    index = Path(index) if Path(index).is_absolute() else root / index
    if not index.is_file():
        raise ZeroShotDataError(f"ELEVATER index not found: {index}")
    if index.suffix == ".txt":
        names, images, labels = _read_iris(root, index, root / labelmap)
    else:
        names, images, labels = _read_elevater_coco(root, index)
    if classnames is not None:
        given = list(classnames) if isinstance(classnames, (list, tuple)) else read_classnames(Path(classnames))
        if len(given) != len(names):
            raise ZeroShotDataError(f"classnames has {len(given)} names, the index {len(names)} classes")
        names = given
    temps = list(templates) if isinstance(templates, (list, tuple)) else read_templates(Path(templates))
    if not images:
        raise ZeroShotDataError(f"{index}: no images")
    unlabelled = sum(1 for ids in labels if not ids)
    if unlabelled:
        raise ZeroShotDataError(f"{index}: {unlabelled} image(s) without a label")
    bad = [i for ids in labels for i in ids if not 0 <= i < len(names)]
    if bad:
        raise ZeroShotDataError(f"{index}: class id {bad[0]} outside the {len(names)} classes")
    multilabel = any(len(ids) > 1 for ids in labels)
    if multilabel:
        targets = np.zeros((len(labels), len(names)), dtype=np.int64)
        for row, ids in enumerate(labels):
            targets[row, ids] = 1
    else:
        targets = np.asarray([ids[0] for ids in labels], dtype=np.int64)
    return ZeroShotSet(name or root.name, names, temps, images, targets, multilabel, f"ELEVATER {index}")


FORMATS = {"wds": read_clip_benchmark_wds, "folders": read_class_folders, "elevater": read_elevater}


def read_set(format: str, root, **kwargs) -> ZeroShotSet:
    """``read_clip_benchmark_wds`` (``format: wds``), ``read_class_folders`` (``folders``) or
    ``read_elevater`` (``elevater``)."""
    if format not in FORMATS:
        raise ZeroShotDataError(f"unknown zero-shot set format {format!r}; valid: {', '.join(FORMATS)}")
    return FORMATS[format](root, **kwargs)
