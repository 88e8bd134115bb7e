"""Training images leave the loader as uint8 and are normalised on the model's device.

LAVIS's image processors end in ``ToTensor()`` + ``Normalize(mean, std)``: in a DataLoader worker
that is ~0.8 ms of CPU per 224x224 sample (a fifth of what one worker core spends per COCO sample,
docs/performance.md), and it makes the batch four times larger to pin and copy to the GPU than the
8-bit pixels it came from. With ``run.normalize_on_device`` (default true) the runner splits each
training dataset's processor in two:

* in the worker: every transform before ``ToTensor`` (crop, flip, RandAugment, ...), then the
  8-bit pixels as a ``uint8`` tensor ``[C, H, W]``, exactly the tensor ``ToTensor`` builds before it
  divides (:func:`to_uint8_chw`);
* in the runner, on the device batch: ``ToTensor``'s conversion to the default float dtype and
  division by 255, then ``Normalize``'s subtraction of the mean and division by the std, the same
  float operations in the same order (:class:`DeviceNormalizer`). Every element is computed by the
  same correctly rounded IEEE operations, so the model sees bit-identical images
  (tests/test_device_normalize.py checks it on LAVIS's clip and blip processors).

A processor that does not end in ``ToTensor, Normalize`` (or a dataset without ``vis_processor``)
is left whole, and then every member of that loader is: a batch is never half uint8. The runner
normalises only ``uint8`` batches, so anything left whole passes through unchanged. Evaluation
loaders are not touched.
"""

from __future__ import annotations

import numpy as np
import torch

from ahnpl_plugin.errors import ConfigError


def _compose_of(processor):
    """The torchvision ``Compose`` a LAVIS processor applies (``processor.transform``), or None."""
    transform = getattr(processor, "transform", None)
    return transform if hasattr(transform, "transforms") else None


def _ends_in_to_tensor_normalize(compose) -> bool:
    from torchvision import transforms as T

    steps = list(compose.transforms)
    return (len(steps) >= 2 and type(steps[-2]) is T.ToTensor and type(steps[-1]) is T.Normalize
            and not steps[-1].inplace)


def to_uint8_chw(picture) -> torch.Tensor:
    """``ToTensor``'s tensor before its division: ``[C, H, W]`` uint8 from an 8-bit PIL image or an
    ``[H, W(, C)]`` uint8 array. Anything else raises (ToTensor would not divide it by 255)."""
    if isinstance(picture, np.ndarray):
        array = picture
        if array.ndim == 2:
            array = array[:, :, None]
        if array.dtype != np.uint8 or array.ndim != 3:
            raise TypeError(f"run.normalize_on_device needs 8-bit images, got an array of {array.dtype} "
                            f"with shape {picture.shape}; set run.normalize_on_device: false")
        return torch.from_numpy(array.transpose((2, 0, 1)).copy()).contiguous()
    mode = getattr(picture, "mode", None)
    if mode is None:
        raise TypeError(f"run.normalize_on_device needs PIL images or uint8 arrays, got {type(picture).__name__}")
    array = np.array(picture, copy=True)
    if array.dtype != np.uint8:
        raise TypeError(f"run.normalize_on_device needs 8-bit images, got a PIL image of mode {mode!r}; "
                        "set run.normalize_on_device: false")
    width, height = picture.size
    return torch.from_numpy(array).view(height, width, -1).permute((2, 0, 1)).contiguous()


class Uint8Processor:
    """The worker half of a split processor: its transforms before ``ToTensor``, then uint8 pixels."""

    def __init__(self, transforms, normalizer: "DeviceNormalizer"):
        self.transforms = list(transforms)
        self.normalizer = normalizer  # the device half, so that splitting twice is harmless

    def __call__(self, image) -> torch.Tensor:
        for transform in self.transforms:
            image = transform(image)
        return to_uint8_chw(image)

    def __repr__(self) -> str:
        return f"Uint8Processor({self.transforms!r})"


class DeviceNormalizer:
    """The device half: ``ToTensor``'s ``.to(float).div(255)`` and ``Normalize``'s ``sub_(mean).div_(std)``
    on a uint8 batch ``[B, C, H, W]`` (or one image ``[C, H, W]``)."""

    def __init__(self, mean, std):
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        if any(s == 0 for s in self.std):
            raise ConfigError(f"Normalize std {self.std} has a zero")
        self._on: dict = {}

    def _stats(self, dtype, device):
        key = (dtype, device)
        if key not in self._on:
            self._on[key] = tuple(torch.as_tensor(v, dtype=dtype, device=device).view(-1, 1, 1)
                                  for v in (self.mean, self.std))
        return self._on[key]

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype != torch.uint8:
            raise TypeError(f"DeviceNormalizer takes uint8 images, got {images.dtype}")
        out = images.to(dtype=torch.get_default_dtype()).div(255)
        mean, std = self._stats(out.dtype, out.device)
        return out.sub_(mean).div_(std)

    def __eq__(self, other) -> bool:
        return isinstance(other, DeviceNormalizer) and (self.mean, self.std) == (other.mean, other.std)

    __hash__ = None

    def __repr__(self) -> str:
        return f"DeviceNormalizer(mean={self.mean}, std={self.std})"


def split_processor(processor):
    """``(Uint8Processor, DeviceNormalizer)`` for a processor ending in ``ToTensor, Normalize``, else None."""
    if isinstance(processor, Uint8Processor):
        return processor, processor.normalizer
    compose = _compose_of(processor)
    if compose is None or not _ends_in_to_tensor_normalize(compose):
        return None
    normalize = compose.transforms[-1]
    mean, std = normalize.mean, normalize.std
    if torch.is_tensor(mean) or torch.is_tensor(std) or np.ndim(mean) != 1 or np.ndim(std) != 1:
        return None
    normalizer = DeviceNormalizer(mean, std)
    return Uint8Processor(compose.transforms[:-2], normalizer), normalizer


def _members(dataset):
    """The datasets that hold a ``vis_processor`` under ``dataset`` (through Concat/Chain datasets and
    wrappers keeping theirs in ``.dataset``); a member without one is yielded as is."""
    children = getattr(dataset, "datasets", None)
    if children is not None and not hasattr(dataset, "vis_processor"):
        for child in children:
            yield from _members(child)
        return
    if not hasattr(dataset, "vis_processor") and hasattr(dataset, "dataset"):
        yield from _members(dataset.dataset)
        return
    yield dataset


def images_as_uint8(dataset) -> DeviceNormalizer | None:
    """Give every member of a training ``dataset`` the worker half of its processor and return the
    device half, or change nothing and return None when any member cannot be split or the members
    normalise differently."""
    members = list(_members(dataset))
    splits = [split_processor(getattr(m, "vis_processor", None)) for m in members]
    if not members or any(s is None for s in splits):
        return None
    normalizer = splits[0][1]
    if any(s[1] != normalizer for s in splits[1:]):
        return None
    for member, (worker_half, _) in zip(members, splits):
        member.vis_processor = worker_half
    return normalizer
