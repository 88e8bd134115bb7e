"""Which metric each published suite reports for which dataset.

ELEVATER (Elevater_Toolkit_IC, ``vision_benchmark/resources/datasets/*.yaml``, ``METRIC``): its 20
image-classification sets plus ImageNet-1k; vl_compo's "21 zero-shot tasks" are these 21.
CLIP_benchmark reports ``acc1``, ``acc5`` and ``mean_per_class_recall`` for every single-label
set and ``mean_average_precision`` for multi-label ones (``voc2007_multilabel``).

Keys are the names a config uses for a set (``datasets.ahnpl_zeroshot.sets.<name>``); ELEVATER's
dataset names, its config file names (vl_compo's column names) and CLIP_benchmark's names of the
same dataset all map to the ELEVATER metric. Note that
the two suites do not always hold the same images (e.g. ELEVATER's ``eurosat_clip`` and
``resisc45_clip`` subsets, its multi-label VOC 2007 against CLIP_benchmark's ``voc2007``): the
results name the data read, and a number is comparable only with one on the same files.
"""

from __future__ import annotations

# ELEVATER dataset -> its METRIC (checked against the toolkit's YAMLs).
ELEVATER_METRIC = {
    "imagenet-1k": "accuracy",
    "caltech-101": "mean-per-class",
    "cifar-10": "accuracy",
    "cifar-100": "accuracy",
    "country211": "accuracy",
    "dtd": "accuracy",
    "eurosat_clip": "accuracy",
    "fer-2013": "accuracy",
    "fgvc-aircraft-2013b-variants102": "mean-per-class",
    "oxford-flower-102": "mean-per-class",
    "food-101": "accuracy",
    "gtsrb": "accuracy",
    "hateful-memes": "roc_auc",
    "kitti-distance": "accuracy",
    "mnist": "accuracy",
    "oxford-iiit-pets": "mean-per-class",
    "patch-camelyon": "accuracy",
    "rendered-sst2": "accuracy",
    "resisc45_clip": "accuracy",
    "stanford-cars": "accuracy",
    "voc-2007-classification": "11point_mAP",
}

# CLIP_benchmark dataset names (benchmark/webdatasets.txt, without "wds/" and "vtab/") -> the
# ELEVATER dataset they correspond to. food-101 and hateful-memes have no CLIP_benchmark export.
CLIP_BENCHMARK_TO_ELEVATER = {
    "imagenet1k": "imagenet-1k",
    "caltech101": "caltech-101",
    "cifar10": "cifar-10",
    "cifar100": "cifar-100",
    "country211": "country211",
    "dtd": "dtd",
    "eurosat": "eurosat_clip",
    "fer2013": "fer-2013",
    "fgvc_aircraft": "fgvc-aircraft-2013b-variants102",
    "flowers": "oxford-flower-102",
    "gtsrb": "gtsrb",
    "kitti_closest_vehicle_distance": "kitti-distance",
    "mnist": "mnist",
    "pets": "oxford-iiit-pets",
    "pcam": "patch-camelyon",
    "renderedsst2": "rendered-sst2",
    "resisc45": "resisc45_clip",
    "cars": "stanford-cars",
    "voc2007_multilabel": "voc-2007-classification",
}

# ELEVATER's config file names (vision_benchmark/resources/datasets/<name>.yaml), which vl_compo's
# results.csv uses as column names ("elevator::<name>"), -> the ELEVATER dataset.
ELEVATER_CONFIG_NAMES = {
    "caltech101": "caltech-101",
    "cifar10": "cifar-10",
    "cifar100": "cifar-100",
    "country211": "country211",
    "dtd": "dtd",
    "eurosat-clip": "eurosat_clip",
    "fer2013": "fer-2013",
    "fgvc-aircraft-2013b": "fgvc-aircraft-2013b-variants102",
    "flower102": "oxford-flower-102",
    "food101": "food-101",
    "gtsrb": "gtsrb",
    "hateful-memes": "hateful-memes",
    "imagenet-1k": "imagenet-1k",
    "kitti-distance": "kitti-distance",
    "mnist": "mnist",
    "oxford-iiit-pets": "oxford-iiit-pets",
    "patchcamelyon": "patch-camelyon",
    "rendered-sst2": "rendered-sst2",
    "resisc45-clip": "resisc45_clip",
    "stanfordcar": "stanford-cars",
    "voc2007classification": "voc-2007-classification",
}

DEFAULT_METRIC = "acc1"


def _normalise(name: str) -> str:
    name = str(name).strip().lower()
    for prefix in ("wds/", "vtab/", "wds_", "vtab-"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    return name


def elevater_name(name: str) -> str | None:
    """The ELEVATER dataset a set name means (ELEVATER or CLIP_benchmark spelling), else None."""
    key = _normalise(name)
    if key in ELEVATER_METRIC:
        return key
    return CLIP_BENCHMARK_TO_ELEVATER.get(key) or ELEVATER_CONFIG_NAMES.get(key)


def headline_metric(name: str, multilabel: bool = False) -> str:
    """The metric a set is summarised by: ELEVATER's for its datasets, else ``acc1``
    (``mean_average_precision`` for a multi-label set outside ELEVATER)."""
    elevater = elevater_name(name)
    if elevater is not None:
        return ELEVATER_METRIC[elevater]
    return "mean_average_precision" if multilabel else DEFAULT_METRIC
