"""Map-style datasets of the COCO/Flickr30k builders, hardened for real data.

* :class:`ReplacingHardNegativeDataset`: :class:`HardNegativeDataset` whose unreadable images
  (corrupt or truncated JPEG, file vanished) are replaced by another record, chosen
  deterministically from the index, each replacement logged with a running count, so one bad
  file never stops a 10-epoch run.
* :class:`KarpathyRetrievalEvalDataset`: LAVIS's ``RetrievalEvalDataset`` (what its
  ``RetrievalTask`` scores) over annotation rows already read and checked by
  :mod:`ahnpl_plugin.data.annotations`; an unreadable image there is an error naming the file
  (retrieval needs every image).
"""

from __future__ import annotations

import logging
import os

from lavis.datasets.datasets.retrieval_datasets import RetrievalEvalDataset

from ahnpl_plugin.errors import DataError
from ahnpl_plugin.datasets.hard_negatives import HardNegativeDataset

log = logging.getLogger(__name__)

# What PIL raises on unreadable files: UnidentifiedImageError and truncated data are OSErrors,
# some decoders raise SyntaxError or ValueError on garbage.
IMAGE_ERRORS = (OSError, SyntaxError, ValueError)
MAX_REPLACEMENTS = 20
_STRIDE = 104729  # a prime: successive replacements land far apart (not the same image's other captions)


class ReplacingHardNegativeDataset(HardNegativeDataset):
    """See the module docstring. ``key_log``: a :class:`SampleKeyLog` (debug option) or None."""

    def __init__(self, *args, key_log=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.key_log = key_log
        self.replaced = 0  # in this process (each loader worker counts its own)

    def replacement(self, index: int, attempt: int) -> int:
        """The record tried instead of ``index`` at the ``attempt``-th replacement (deterministic)."""
        n = len(self)
        candidate = (index + attempt * _STRIDE) % n
        return candidate if candidate != index or n == 1 else (index + attempt) % n

    def _path(self, index: int) -> str:
        image = self.records[index]["image"]
        return image if os.path.isabs(image) else os.path.join(self.image_root, image)

    def __getitem__(self, index):
        current = index
        for attempt in range(MAX_REPLACEMENTS + 1):
            if attempt:
                current = self.replacement(index, attempt)
            try:
                sample = super().__getitem__(current)
            except IMAGE_ERRORS as exc:
                self.replaced += 1
                log.warning(
                    "unreadable image %s (record %d): %s: %s; replaced by another sample "
                    "(%d replaced so far in this process)",
                    self._path(current), current, type(exc).__name__, exc, self.replaced,
                )
                continue
            if self.key_log is not None:
                self.key_log.write(current)
            return sample
        raise DataError(
            f"{MAX_REPLACEMENTS + 1} unreadable images in a row from record {index} (last: {self._path(current)}); "
            "the images folder looks broken: run python -m ahnpl_plugin.data check --cfg-path <config>"
        )


class KarpathyRetrievalEvalDataset(RetrievalEvalDataset):
    """LAVIS's retrieval eval dataset over checked rows ``{"image": path, "caption": [str, ...]}``."""

    def __init__(self, rows: list[dict], vis_processor, text_processor, vis_root: str):
        super().__init__(vis_processor, text_processor, vis_root, ann_paths=[])
        self.annotation = rows
        self._add_instance_ids()
        txt_id = 0
        for img_id, row in enumerate(self.annotation):  # as RetrievalEvalDataset.__init__
            self.image.append(row["image"])
            self.img2txt[img_id] = []
            for caption in row["caption"]:
                self.text.append(self.text_processor(caption) if self.text_processor else caption)
                self.img2txt[img_id].append(txt_id)
                self.txt2img[txt_id] = img_id
                txt_id += 1

    def __getitem__(self, index):
        try:
            return super().__getitem__(index)
        except IMAGE_ERRORS as exc:
            path = os.path.join(self.vis_root, self.annotation[index]["image"])
            raise DataError(f"{path}: unreadable image in an evaluation split ({type(exc).__name__}: {exc}); "
                            "replace the file (retrieval scores need every image)") from None
