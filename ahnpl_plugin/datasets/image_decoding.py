"""Opening a training image as RGB, optionally decoding a JPEG at a reduced size (opt-in).

COCO's JPEGs are ~640x480 and the towers take 224x224 (ViT-B/32, B/16) or 336x336: most decoded
pixels are thrown away by the crop-and-resize. libjpeg can decode at 1/2, 1/4 or 1/8 of the size
directly from the DCT coefficients (PIL's ``Image.draft``), which makes decoding several times
cheaper and leaves the augmentation a smaller image to resize. ``decode_draft: S`` asks for the
largest such reduction that keeps both sides >= S (S = the crop size: LAVIS's
``clip_image_train`` crops 90-100% of the area, so the crop stays at least ~S px and is still
downsampled, never enlarged). It changes pixels (a DCT-domain box reduction before the bicubic
resize instead of one antialiased bicubic resize of the full image; the crop's position, scale and
aspect ratio are drawn exactly as before), so it is off unless a dataset config sets it
(``decode_draft: true`` = the processor's crop size, or a number). PNGs and small JPEGs are
unaffected. docs/performance.md has the measured speed.
"""

from __future__ import annotations

import io

from PIL import Image

from ahnpl_plugin.errors import ConfigError


def open_rgb(source, draft: int | None = None) -> Image.Image:
    """An RGB image from a path or the bytes of a file; JPEGs decoded at a reduced size when
    ``draft`` (both sides kept >= ``draft``)."""
    with Image.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source) as opened:
        if draft:
            opened.draft("RGB", (int(draft), int(draft)))
        return opened.convert("RGB")


def crop_size(processor) -> int | None:
    """The output size of the first RandomResizedCrop/Resize of a LAVIS/torchvision processor, or None."""
    transforms = getattr(getattr(processor, "transform", processor), "transforms", None) or []
    for transform in transforms:
        size = getattr(transform, "size", None)
        if size is not None:
            return int(max(size) if isinstance(size, (tuple, list)) else size)
    return None


def draft_size(value, processor, where: str) -> int | None:
    """``decode_draft`` of a dataset config as a size in pixels (None = full decoding)."""
    if value is None or value is False:
        return None
    if value is True:
        size = crop_size(processor)
        if size is None:
            raise ConfigError(f"{where}.decode_draft: true needs a processor with a crop size; give a number of pixels")
        return size
    if isinstance(value, int) and value > 0:
        return value
    raise ConfigError(f"{where}.decode_draft must be true, false or a size in pixels > 0, got {value!r}")
