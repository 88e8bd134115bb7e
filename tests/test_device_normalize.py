"""Training images as uint8 from the loader, normalised on the device (``run.normalize_on_device``,
ahnpl_plugin/datasets/device_normalize.py): the model must see bit-identical images."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from ahnpl_plugin.datasets.device_normalize import (
    DeviceNormalizer,
    Uint8Processor,
    images_as_uint8,
    split_processor,
    to_uint8_chw,
)

pytestmark = pytest.mark.usefixtures("lavis_ready")  # conftest.py


def _pictures():
    """Photos of several sizes and aspect ratios (some smaller than the crop), grain included."""
    rng = np.random.default_rng(0)
    sizes = [(640, 480), (480, 640), (333, 500), (224, 224), (100, 60), (31, 47)]
    pictures = []
    for w, h in sizes:
        y, x = np.mgrid[0:h, 0:w]
        base = np.stack([(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)), (x + y) % 256], -1)
        noisy = np.clip(base + rng.integers(-30, 31, size=base.shape), 0, 255).astype(np.uint8)
        pictures.append(Image.fromarray(noisy, "RGB"))
    return pictures


def _lavis_processor(name: str, **cfg):
    from lavis.common.registry import registry

    return registry.get_processor_class(name).from_config(OmegaConf.create(cfg))


def _seeded(seed: int):
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


PROCESSORS = [
    ("clip_image_train", {"image_size": 224}),
    ("clip_image_train", {"image_size": 32}),
    ("blip_image_train", {"image_size": 64}),  # crop, flip and RandomAugment on numpy arrays
    ("clip_image_eval", {"image_size": 224}),
    ("blip_image_eval", {"image_size": 48}),
]


@pytest.mark.parametrize("name,cfg", PROCESSORS, ids=[f"{n}-{c['image_size']}" for n, c in PROCESSORS])
def test_split_processor_gives_bit_identical_images_to_the_whole_one(name, cfg):
    processor = _lavis_processor(name, **cfg)
    worker_half, device_half = split_processor(processor)
    assert isinstance(worker_half, Uint8Processor)
    for i, picture in enumerate(_pictures()):
        _seeded(i)
        whole = processor(picture)
        _seeded(i)
        pixels = worker_half(picture)
        assert pixels.dtype == torch.uint8 and pixels.shape == whole.shape
        assert torch.equal(device_half(pixels), whole), (name, picture.size)
    # a batch normalised at once equals the images normalised one by one
    batch = torch.stack([worker_half(p) for p in _pictures()[:3]])
    assert torch.equal(device_half(batch), torch.stack([device_half(b) for b in batch]))


def test_uint8_pixels_are_what_to_tensor_divides():
    from torchvision import transforms as T

    to_tensor = T.ToTensor()
    rgb = _pictures()[2]
    grey = rgb.convert("L")
    array = np.asarray(rgb).copy()
    for picture in (rgb, grey, array, array[:, :, 0]):
        pixels = to_uint8_chw(picture)
        assert pixels.dtype == torch.uint8 and pixels.is_contiguous()
        assert torch.equal(pixels.to(torch.float32).div(255), to_tensor(picture))
    # an L image normalises with a one-channel Normalize exactly as the whole transform does
    assert torch.equal(DeviceNormalizer([0.5], [0.25])(to_uint8_chw(grey)),
                       T.Normalize([0.5], [0.25])(to_tensor(grey)))


@pytest.mark.parametrize("picture,match", [
    (np.zeros((4, 4, 3), np.float32), "8-bit images, got an array of float32"),
    (Image.new("I;16", (4, 4)), "mode 'I;16'"),
    (Image.new("F", (4, 4)), "mode 'F'"),
    ("not an image", "PIL images or uint8 arrays, got str"),
])
def test_anything_to_tensor_would_not_divide_by_255_is_refused(picture, match):
    with pytest.raises(TypeError, match=match):
        to_uint8_chw(picture)


def test_normalizer_refuses_float_input_and_a_zero_std():
    from ahnpl_plugin.errors import ConfigError

    with pytest.raises(TypeError, match="uint8"):
        DeviceNormalizer([0.5] * 3, [0.5] * 3)(torch.zeros(1, 3, 2, 2))
    with pytest.raises(ConfigError, match="zero"):
        DeviceNormalizer([0.5] * 3, [0.5, 0.0, 0.5])


def test_processors_not_ending_in_to_tensor_normalize_are_left_whole():
    from torchvision import transforms as T

    class Holder:
        def __init__(self, transform):
            self.transform = transform

    assert split_processor(None) is None
    assert split_processor(lambda image: image) is None
    assert split_processor(Holder(T.Compose([T.ToTensor()]))) is None
    assert split_processor(Holder(T.Compose([T.ToTensor(), T.Normalize([0.5], [0.5], inplace=True)]))) is None
    assert split_processor(Holder(T.Compose([T.Normalize([0.5], [0.5]), T.ToTensor()]))) is None
    assert split_processor(Holder(T.Compose([T.CenterCrop(4), T.ToTensor(), T.Normalize([0.5], [0.5])]))) is not None


class _Dataset(torch.utils.data.Dataset):
    def __init__(self, vis_processor):
        self.vis_processor = vis_processor

    def __len__(self):
        return 1

    def __getitem__(self, index):
        return {"image": self.vis_processor(_pictures()[0])}


class _Wrapper(torch.utils.data.Dataset):  # like SeededSamples / NeighbourPairs: the dataset inside
    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)


def test_every_member_of_a_training_dataset_is_split_or_none_is():
    from torch.utils.data import ConcatDataset

    clip = _lavis_processor("clip_image_train", image_size=32)
    a, b = _Dataset(clip), _Dataset(clip)
    normalizer = images_as_uint8(ConcatDataset([a, _Wrapper(b)]))
    assert normalizer == DeviceNormalizer(clip.normalize.mean, clip.normalize.std)
    assert isinstance(a.vis_processor, Uint8Processor) and isinstance(b.vis_processor, Uint8Processor)
    assert a[0]["image"].dtype == torch.uint8
    # splitting again (a loader rebuilt) keeps the same halves
    assert images_as_uint8(a) == normalizer and isinstance(a.vis_processor, Uint8Processor)

    # one member that cannot be split: nothing changes, so no batch is half uint8
    c, d = _Dataset(clip), _Dataset(lambda image: torch.zeros(3, 2, 2))
    assert images_as_uint8(ConcatDataset([c, d])) is None
    assert c.vis_processor is clip
    # members that normalise differently: nothing changes either
    e, f = _Dataset(clip), _Dataset(_lavis_processor("clip_image_train", image_size=32, mean=[0.5] * 3, std=[0.5] * 3))
    assert images_as_uint8(ConcatDataset([e, f])) is None
    assert e.vis_processor is clip


@pytest.mark.slow  # two training runs
def test_runner_trains_on_identical_images_with_and_without_normalize_on_device(coco, tmp_path, monkeypatch):
    """Through the real runner with a worker: with the switch on, batches leave the loader as uint8,
    the model gets float images bit-identical to those of the switch off, and every logged step
    matches."""
    import json

    import yaml

    from ahnpl_plugin.models.clip.model import AHNPLClip
    from ahnpl_plugin.runner import AHNPLRunner
    from helpers.runs import coco_run_config, train

    seen, loaded = {}, {}
    original_forward, original_normalized = AHNPLClip.forward, AHNPLRunner._normalized

    def recording_forward(self, samples, *args, **kwargs):
        seen.setdefault(current[0], []).append(samples["image"].clone())
        return original_forward(self, samples, *args, **kwargs)

    def recording_normalized(self, samples):
        loaded.setdefault(current[0], []).append(samples["image"].dtype)
        return original_normalized(self, samples)

    monkeypatch.setattr(AHNPLClip, "forward", recording_forward)
    monkeypatch.setattr(AHNPLRunner, "_normalized", recording_normalized)
    steps = {}
    for on in (True, False):
        current = [on]
        out = tmp_path / f"o{on}"
        cfg = coco_run_config(coco, out, num_workers=1, valid_splits=[], test_splits=[], log_freq=1,
                              normalize_on_device=on)
        path = tmp_path / f"c{on}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        train(path)
        lines = [json.loads(line) for f in out.rglob("metrics.jsonl") for line in f.read_text().splitlines()]
        steps[on] = [{k: v for k, v in line.items() if k not in ("time", "wall_s", "elapsed_s")} for line in lines]
    assert loaded[True] and set(loaded[True]) == {torch.uint8}
    assert set(loaded[False]) == {torch.float32}
    assert len(seen[True]) == len(seen[False]) > 0
    for a, b in zip(seen[True], seen[False]):
        assert a.dtype == torch.float32 and torch.equal(a, b)
    assert steps[True] and steps[True] == steps[False]


def test_the_switch_must_be_a_boolean():
    from ahnpl_plugin.config import validate_run_config
    from ahnpl_plugin.errors import ConfigError

    base = {"task": "retrieval", "output_dir": "out", "runner": "ahnpl_runner"}
    validate_run_config(OmegaConf.create({**base, "normalize_on_device": False}))
    with pytest.raises(ConfigError, match="run.normalize_on_device must be true or false, got 'no'"):
        validate_run_config(OmegaConf.create({**base, "normalize_on_device": "no"}))
