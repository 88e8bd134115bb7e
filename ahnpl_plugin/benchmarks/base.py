"""Shared pieces of every benchmark loader: items, image references, the Benchmark object, errors.

A benchmark is a list of :class:`Item`: some images, some captions, and (for caption-choice tasks)
the index of the true caption. A model scores it by computing, for every item, the similarity of
each of its images with each of its captions; :meth:`Benchmark.score` turns those arrays into the
published metrics. Nothing here knows about a model, LAVIS or torch (numpy and PIL only).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from .scoring import correct_by_item
from ahnpl_plugin.data import jsonio
from ahnpl_plugin.errors import BenchmarkFileNotFoundError, BenchmarkFormatError, MissingImagesError, ScoreInputError


# --------------------------------------------------------------------------------------- errors
# ----------------------------------------------------------------------------------- data types
@dataclass(frozen=True)
class ImageRef:
    """One image of an item: a file path and an optional crop box ``(x, y, w, h)`` in pixels.

    ``data`` holds the encoded image bytes when the image lives inside a file (Winoground's
    parquet); ``path`` is then a unique label ``"<file>#<row>/<column>"``. ``data`` takes no part
    in equality or hashing, so refs can key an encode-once cache.
    """

    path: str
    box: tuple[float, float, float, float] | None = None
    data: bytes | None = field(default=None, compare=False, repr=False)

    def exists(self) -> bool:
        """True when the image can be read: in-memory bytes, or an existing file."""
        return self.data is not None or os.path.isfile(self.path)


@dataclass
class Item:
    """One test case: images, candidate captions, true caption index, scoring bucket, extras.

    ``label`` indexes the captions, except in text-to-image items (SPEC ``t2i``, ImageCoDe,
    SVO-Probes: several images, one caption) where it indexes the images; their scorers say so.

    ``group`` is the bucket the benchmark aggregates over (ARO relation or attribute pair,
    SugarCrepe file stem, VALSE piece, VL-CheckList corpus, Winoground tag, ...).
    """

    images: list[ImageRef]
    captions: list[str]
    label: int | None
    group: str
    meta: dict[str, Any] = field(default_factory=dict)

    def as_eval_dict(self) -> dict[str, Any]:
        """The project's plain compositional-eval item shape (see the shared contracts)."""
        return {
            "images": [ref.path for ref in self.images],
            "captions": list(self.captions),
            "label": self.label,
            "category": self.group,
        }


Scorer = Callable[[Sequence[Item], Sequence[np.ndarray]], dict[str, Any]]
# Per-item outcomes: {outcome: bool array over items} (what the named protocols aggregate);
# with needs_text_sims it also takes the per-item caption-caption arrays.
OutcomeFn = Callable[[Sequence[Item], Sequence[np.ndarray]], dict[str, np.ndarray]]


def open_image(ref: ImageRef | str | os.PathLike):
    """Open an image reference as an RGB ``PIL.Image``, cropped to its box when it has one.

    The crop follows ARO: ``image.crop((x, y, x + w, y + h))``. A ``.npy`` file is an
    ``[H, W, 3]`` uint8 array in BGR order (EqBen's YouCook2 frames), read as EqBen reads it.
    """
    from PIL import Image
    import io

    if not isinstance(ref, ImageRef):
        ref = ImageRef(str(ref))
    if ref.data is not None:
        image = Image.open(io.BytesIO(ref.data))
    elif ref.path.endswith(".npy"):
        image = Image.fromarray(np.load(ref.path)[:, :, [2, 1, 0]], "RGB")
    else:
        image = Image.open(ref.path)
    image = image.convert("RGB")
    if ref.box is not None:
        x, y, w, h = ref.box
        image = image.crop((x, y, x + w, y + h))
    return image


# ------------------------------------------------------------------------------- the benchmark
class Benchmark:
    """A loaded benchmark: the items that can be evaluated, what is missing, and its scorer.

    ``items`` holds only the items whose images all exist; items with a missing image are kept in
    ``skipped_items`` and reported by :meth:`score` under ``counts``. ``score(sims)`` takes one
    array per entry of ``items``, of shape ``[len(item.images), len(item.captions)]``.

    Optional: ``outcomes_fn`` (per-item outcomes, :meth:`item_outcomes`; the protocols of
    :mod:`~ahnpl_plugin.benchmarks.protocols` aggregate them), ``missing_parts`` and
    ``needs_text_sims`` (the scorer and ``outcomes_fn`` also take caption-caption cosines:
    ``score(sims, text_sims=...)`` with one ``[len(item.captions), len(item.captions)]`` array
    per item).
    """

    def __init__(
        self,
        name: str,
        items: list[Item],
        scorer: Scorer,
        *,
        strict: bool = False,
        notes: Iterable[str] = (),
        counts: Mapping[str, int] | None = None,
        missing_parts: Mapping[str, str] | None = None,
        outcomes_fn: OutcomeFn | None = None,
        needs_text_sims: bool = False,
    ):
        self.name = name
        # per-item outcomes for intervals and paired tests: outcome name -> bool per item; the
        # default is strict caption choice ("correct"); Winoground-like benchmarks give several.
        # The named protocols (protocols.py) aggregate them into the published numbers.
        self.outcomes_fn = outcomes_fn
        # part (e.g. a VL-CheckList corpus) -> why it is absent (names the file expected and
        # where to get it); the benchmark is then incomplete
        self.missing_parts = dict(missing_parts or {})
        # the scorer and outcomes_fn also take caption-caption similarities (SugarCrepe++ TOT)
        self.needs_text_sims = bool(needs_text_sims)
        self.all_items = list(items)
        self._scorer = scorer
        self.notes = list(notes)
        self.load_counts = dict(counts or {})
        exists = _existence_of_images(self.all_items)
        self.items = [it for it in self.all_items if all(exists[ref] for ref in it.images)]
        self.skipped_items = [it for it in self.all_items if not all(exists[r] for r in it.images)]
        self.missing_images = sorted({ref.path for ref, ok in exists.items() if not ok})
        if strict and self.missing_images:
            shown = "\n  ".join(self.missing_images[:10])
            more = len(self.missing_images) - 10
            raise MissingImagesError(
                f"{name}: {len(self.missing_images)} image file(s) missing, used by "
                f"{len(self.skipped_items)} of {len(self.all_items)} items "
                f"(strict=True):\n  {shown}"
                + (f"\n  ... and {more} more" if more > 0 else "")
            )

    def __len__(self) -> int:
        return len(self.items)

    @property
    def complete(self) -> bool:
        """True when every part was found and every item can be evaluated."""
        return not self.missing_parts and not self.skipped_items

    def skipped_by_group(self) -> dict[str, tuple[int, int]]:
        """``group -> (items skipped for missing images, items in the group)`` for each group
        with a skipped item, in first-seen order."""
        total: dict[str, int] = {}
        for it in self.all_items:
            total[it.group] = total.get(it.group, 0) + 1
        skipped: dict[str, int] = {}
        for it in self.skipped_items:
            skipped[it.group] = skipped.get(it.group, 0) + 1
        return {g: (n, total[g]) for g, n in skipped.items()}

    def incompleteness(self) -> list[str]:
        """One sentence per reason the benchmark is incomplete (empty when complete): each
        missing part, and each group with skipped items and its count."""
        reasons = [f"{part} missing: {why}" for part, why in self.missing_parts.items()]
        for group, (n, total) in self.skipped_by_group().items():
            reasons.append(f"{group}: {n} of {total} items skipped (image files missing)")
        return reasons

    def __repr__(self) -> str:
        return (
            f"Benchmark({self.name!r}, items={len(self.items)}, "
            f"skipped_missing_images={len(self.skipped_items)})"
        )

    # -- encode-once helpers -------------------------------------------------------------------
    def unique_images(self) -> list[ImageRef]:
        """Distinct image references of ``items`` (path and crop box), in first-seen order."""
        return list(dict.fromkeys(ref for it in self.items for ref in it.images))

    def unique_captions(self) -> list[str]:
        """Distinct caption strings of ``items``, in first-seen order."""
        return list(dict.fromkeys(c for it in self.items for c in it.captions))

    def item_indices(self) -> list[tuple[list[int], list[int]]]:
        """Per item: indices into :meth:`unique_images` and :meth:`unique_captions`."""
        image_pos = {ref: i for i, ref in enumerate(self.unique_images())}
        caption_pos = {c: i for i, c in enumerate(self.unique_captions())}
        return [
            ([image_pos[r] for r in it.images], [caption_pos[c] for c in it.captions])
            for it in self.items
        ]

    def sims_from_features(self, image_feats, text_feats) -> list[np.ndarray]:
        """Per-item similarity arrays from features of the unique images and captions.

        ``image_feats[i]`` embeds ``unique_images()[i]`` and ``text_feats[j]`` embeds
        ``unique_captions()[j]`` (L2-normalised for cosine similarity). Returns the input of
        :meth:`score`.
        """
        image_feats = np.asarray(image_feats, dtype=np.float64)
        text_feats = np.asarray(text_feats, dtype=np.float64)
        n_img, n_txt = len(self.unique_images()), len(self.unique_captions())
        if image_feats.ndim != 2 or image_feats.shape[0] != n_img:
            raise ScoreInputError(
                f"{self.name}: image_feats must be [{n_img}, D] (one row per unique image), "
                f"got shape {image_feats.shape}"
            )
        if text_feats.ndim != 2 or text_feats.shape[0] != n_txt:
            raise ScoreInputError(
                f"{self.name}: text_feats must be [{n_txt}, D] (one row per unique caption), "
                f"got shape {text_feats.shape}"
            )
        return [image_feats[ii] @ text_feats[tt].T for ii, tt in self.item_indices()]

    def text_sims_from_features(self, text_feats) -> list[np.ndarray]:
        """Per-item caption-caption similarities ``[n_captions, n_captions]`` from the features of
        :meth:`unique_captions` (the ``text_sims`` of :meth:`score` when ``needs_text_sims``)."""
        text_feats = np.asarray(text_feats, dtype=np.float64)
        n_txt = len(self.unique_captions())
        if text_feats.ndim != 2 or text_feats.shape[0] != n_txt:
            raise ScoreInputError(
                f"{self.name}: text_feats must be [{n_txt}, D] (one row per unique caption), "
                f"got shape {text_feats.shape}"
            )
        return [text_feats[tt] @ text_feats[tt].T for _, tt in self.item_indices()]

    def item_outcomes(self, sims: Sequence[Any], text_sims: Sequence[Any] | None = None
                      ) -> dict[str, np.ndarray]:
        """Per-item outcomes ``{outcome: bool array over items}`` that the protocols aggregate:
        ``outcomes_fn``'s, else ``{"correct": ...}`` (the true caption strictly above the others)."""
        arrays = validate_sims(self.name, self.items, sims)
        if self.outcomes_fn is None:
            return {"correct": correct_by_item(self.items, arrays)}
        if self.needs_text_sims:
            out = self.outcomes_fn(self.items, arrays, self._text_arrays(text_sims))
        else:
            out = self.outcomes_fn(self.items, arrays)
        return {k: np.asarray(v, dtype=bool) for k, v in out.items()}

    def _text_arrays(self, text_sims) -> list[np.ndarray]:
        if text_sims is None:
            raise ScoreInputError(f"{self.name}: text_sims are required (caption-caption "
                                  "similarities of each item; see text_sims_from_features)")
        shapes = [(len(it.captions), len(it.captions)) for it in self.items]
        return _validate_arrays(f"{self.name} text_sims", shapes, text_sims,
                                "[len(captions), len(captions)]")

    # -- scoring ---------------------------------------------------------------------------------
    def score(self, sims: Sequence[Any], text_sims: Sequence[Any] | None = None) -> dict[str, Any]:
        """Published metrics for one similarity array per item (ties count as wrong unless the
        benchmark's notes say otherwise: What'sUp and SPEC keep their originals' argmax).

        Returns fractions in [0, 1] at the top level, a nested ``by_group`` dict of fractions,
        ``counts`` (integers: items evaluated, items skipped for missing images, ...) and
        ``notes`` (strings: how this evaluation differs from the original, what was left out).
        ``text_sims``: required when :attr:`needs_text_sims` (per item, caption x caption).
        """
        arrays = validate_sims(self.name, self.items, sims)
        if self.needs_text_sims:
            result = self._scorer(self.items, arrays, self._text_arrays(text_sims))
        else:
            result = self._scorer(self.items, arrays)
        counts = dict(self.load_counts)
        counts.update(result.pop("counts", {}))
        counts["n_items"] = len(self.items)
        counts["n_items_skipped_missing_images"] = len(self.skipped_items)
        counts["n_missing_images"] = len(self.missing_images)
        counts["n_missing_parts"] = len(self.missing_parts)
        counts["skipped_by_group"] = {g: n for g, (n, _) in self.skipped_by_group().items()}
        notes = list(self.notes) + list(result.pop("notes", []))
        for part, why in self.missing_parts.items():
            notes.append(f"{part} not evaluated: {why}")
        if self.skipped_items:
            notes.append(
                f"{len(self.skipped_items)} of {len(self.all_items)} items skipped: "
                f"{len(self.missing_images)} image file(s) missing; accuracies are over the "
                f"{len(self.items)} items evaluated"
            )
        result["counts"] = counts
        result["notes"] = notes
        return result


def _existence_of_images(items: Sequence[Item]) -> dict[ImageRef, bool]:
    """Whether each distinct image of ``items`` exists (each file is checked once)."""
    by_path: dict[str, bool] = {}
    out: dict[ImageRef, bool] = {}
    for it in items:
        for ref in it.images:
            if ref in out:
                continue
            if ref.data is not None:
                out[ref] = True
                continue
            if ref.path not in by_path:
                by_path[ref.path] = os.path.isfile(ref.path)
            out[ref] = by_path[ref.path]
    return out


def validate_sims(name: str, items: Sequence[Item], sims: Sequence[Any]) -> list[np.ndarray]:
    """Convert ``sims`` to float arrays, checking count, shapes and finiteness against ``items``."""
    shapes = [(len(item.images), len(item.captions)) for item in items]
    return _validate_arrays(name, shapes, sims, "[len(images), len(captions)]")


def _validate_arrays(name: str, shapes: Sequence[tuple[int, int]], sims: Sequence[Any],
                     expected_form: str) -> list[np.ndarray]:
    if len(sims) != len(shapes):
        raise ScoreInputError(f"{name}: got {len(sims)} similarity arrays for {len(shapes)} items")
    arrays = []
    for index, (expected, s) in enumerate(zip(shapes, sims)):
        a = np.asarray(s, dtype=np.float64)
        if a.shape != expected:
            raise ScoreInputError(
                f"{name}: sims[{index}] has shape {a.shape}, expected {expected} ({expected_form})"
            )
        if not np.all(np.isfinite(a)):
            raise ScoreInputError(f"{name}: sims[{index}] contains NaN or infinite values")
        arrays.append(a)
    return arrays


# --------------------------------------------------------------------------- file helpers
def find_file(root: Path, name: str, subdirs: Sequence[str] = ("",)) -> Path | None:
    """``root/<subdir>/name`` for the first subdir where it exists, else None."""
    for sub in subdirs:
        candidate = root / sub / name if sub else root / name
        if candidate.is_file():
            return candidate
    return None


def require_file(path: Path | None, expected: Path, what: str, source: str) -> Path:
    """Return ``path``, or raise naming the ``expected`` location and the download ``source``."""
    if path is not None and path.is_file():
        return path
    raise BenchmarkFileNotFoundError(
        f"{what} not found: expected {expected}. Download it from {source}"
    )


def read_json(path: Path) -> Any:
    """Parse a JSON file (:mod:`ahnpl_plugin.data.jsonio`); malformed JSON is a
    :class:`BenchmarkFormatError` naming the file, line and column."""
    return jsonio.read_json(path, BenchmarkFormatError)


def read_benchmark_json(root: Path, name: str, what: str, source: str, expected: type, shape: str,
                        subdirs: Sequence[str] = ("", "data")) -> tuple[Path, Any]:
    """``(path, parsed)`` of a benchmark's JSON file ``name`` under ``root`` (or a subdir): a missing
    file names where it was expected and the download ``source``; a top level that is not of type
    ``expected`` is a format error saying it should be ``shape`` ("a JSON list", ...)."""
    path = require_file(find_file(root, name, subdirs), root / name, what, source)
    records = read_json(path)
    if not isinstance(records, expected):
        raise format_error(path, "top level", f"expected {shape}, got {type(records).__name__}")
    return path, records


def format_error(path: Path | str, where: str, problem: str) -> BenchmarkFormatError:
    """A :class:`BenchmarkFormatError` naming the file and the key or index at fault."""
    return BenchmarkFormatError(f"{path}: {where}: {problem}")


def get_field(record: Any, key: str, kind: type | tuple[type, ...], path: Path, where: str) -> Any:
    """``record[key]`` checked to be of ``kind``; a clear format error otherwise."""
    if not isinstance(record, Mapping):
        raise format_error(path, where, f"expected an object, got {type(record).__name__}")
    if key not in record:
        raise format_error(path, where, f"missing key {key!r}")
    value = record[key]
    # bool is an int subclass: never accept it where a number is expected
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise format_error(path, f"{where}.{key}", f"expected {_kind_name(kind)}, got bool")
    if not isinstance(value, kind):
        raise format_error(
            path, f"{where}.{key}", f"expected {_kind_name(kind)}, got {type(value).__name__}"
        )
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def as_path(root: str | os.PathLike) -> Path:
    """``root`` as an absolute-or-relative :class:`Path`, with ``~`` expanded."""
    return Path(os.path.expanduser(os.fspath(root)))
