"""Image-caption pairs with their text hard negatives, in the layout ``ahnpl_clip`` trains on.

A record is a dict with ``image`` (a path, relative to ``image_root`` unless absolute), ``caption``
and the AHNPL negative fields (``<type>_aug_caption`` and ``valid_caption``, as written by
``python -m ahnpl_plugin.negatives``). Batches carry ``image`` [B,3,H,W], ``text_input`` (B str),
``hard_negatives`` (B lists of K str), ``hard_negative_mask`` (bool [B,K]) and
``hard_negative_types`` (the K type names: the model picks the ones its loss trains on).
"""

from __future__ import annotations

import os

from torch.utils.data import Dataset

from ahnpl_plugin.contract import AHNPL_TYPES, INVALID, collate, negative_columns, resolve_types
from ahnpl_plugin.datasets.image_decoding import open_rgb
from ahnpl_plugin.errors import UserError


class HardNegativeDataset(Dataset):
    def __init__(self, records, image_root, vis_processor, text_processor=None, negative_types=AHNPL_TYPES,
                 decode_draft: int | None = None):
        try:
            negative_types = resolve_types(negative_types)
        except ValueError as exc:
            raise UserError(f"negative_types: {exc}") from None
        self.records = list(records)
        self.image_root = str(image_root)
        self.vis_processor = vis_processor
        self.text_processor = text_processor
        self.negative_types = tuple(negative_types)
        self.decode_draft = decode_draft  # JPEGs decoded at a reduced size (opt-in; image_decoding.py)

    def __len__(self):
        return len(self.records)

    def _text(self, text: str) -> str:
        return self.text_processor(text) if self.text_processor is not None else text

    def __getitem__(self, index):
        record = self.records[index]
        path = record["image"]
        if not os.path.isabs(path):
            path = os.path.join(self.image_root, path)
        image = open_rgb(path, self.decode_draft)
        negatives, mask = negative_columns(record, self.negative_types)
        return {
            "image": self.vis_processor(image),
            "text_input": self._text(record["caption"]),
            "hard_negatives": [self._text(n) if ok else INVALID for n, ok in zip(negatives, mask)],
            "hard_negative_mask": mask,
            "index": index,
            # BLIP treats captions of the same image as positives (batch and queue); CLIP ignores it
            "image_id": str(record.get("image_id", record["image"])),
        }

    def collater(self, samples):
        return collate(samples, self.negative_types)
