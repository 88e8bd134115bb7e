"""Compositional benchmarks, model-agnostic: load the files as distributed, score similarities.

    bench = ahnpl_plugin.benchmarks.load("sugarcrepe", "/data/sugar-crepe/data",
                                          image_root="/data/coco/val2017")
    sims = [...]                    # per item: [len(item.images), len(item.captions)] similarities
    scores = bench.score(sims)      # fractions in [0, 1] + by_group, counts, notes

Encode each distinct image and caption once with ``bench.unique_images()`` /
``bench.unique_captions()`` and turn their features into ``sims`` with
``bench.sims_from_features(image_feats, text_feats)``. Images open with :func:`open_image`
(which applies ARO's crop boxes). numpy, PIL, PyYAML, pyarrow and (for the ARO Order sets) spaCy
only, each imported where needed; no torch, no LAVIS.
"""

from __future__ import annotations

from importlib import import_module

from ahnpl_plugin.errors import (
    BenchmarkError,
    BenchmarkFileNotFoundError,
    BenchmarkFormatError,
    MissingImagesError,
    ScoreInputError,
)

from .base import Benchmark, ImageRef, Item, open_image

# name -> (module, loader function, fixed keyword arguments)
_LOADERS = {
    "aro_vg_relation": ("aro", "load_vg_relation", {}),
    "aro_vg_attribution": ("aro", "load_vg_attribution", {}),
    "aro_coco_order": ("aro_order", "load_order", {"name": "aro_coco_order"}),
    "aro_flickr_order": ("aro_order", "load_order", {"name": "aro_flickr_order"}),
    "sugarcrepe": ("sugarcrepe", "load_sugarcrepe", {}),
    "valse": ("valse", "load_valse", {}),
    "vl_checklist": ("vl_checklist", "load_vl_checklist", {}),
    "winoground": ("winoground", "load_winoground", {}),
    # issue 16: the newer compositional benchmarks
    "sugarcrepe_pp": ("sugarcrepe_pp", "load_sugarcrepe_pp", {}),
    "whatsup": ("whatsup", "load_whatsup", {}),
    "spec": ("spec", "load_spec", {}),
    "crepe": ("crepe", "load_crepe", {}),
    "eqben": ("eqben", "load_eqben", {}),
    "imagecode": ("imagecode", "load_imagecode", {}),
    "svo_probes": ("svo_probes", "load_svo_probes", {}),
    "colorswap": ("colorswap", "load_colorswap", {}),
    "mmvp_vlm": ("mmvp_vlm", "load_mmvp_vlm", {}),
}
BENCHMARK_NAMES = tuple(_LOADERS)


def load(name: str, root, image_root=None, **options) -> Benchmark:
    """Load benchmark ``name`` from ``root`` (its files as distributed).

    ``image_root``: where the images are (a folder; for VALSE also a mapping source -> folder).
    Defaults: ``root/images`` (ARO VG sets), ``root`` (Order sets: the Karpathy ``image`` paths
    are relative to it), the ``images`` folder beside ``examples.jsonl`` (Winoground); required
    for SugarCrepe (COCO val2017), VALSE and VL-CheckList (the folder of vg/, hake/, swig/).
    Common option: ``strict=True`` raises :class:`MissingImagesError` when an image is missing
    (by default such items are skipped and counted in the scores). Other options per benchmark:
    ``min_pair_count`` (VG-Attribution), ``seed``, ``max_words``, ``spacy_model``, ``tagger``,
    ``annotation_file`` (Order sets), ``files`` (SugarCrepe), ``pieces`` (VALSE), ``corpus_dir``,
    ``corpora`` (VL-CheckList), ``format`` (Winoground).
    """
    if name not in _LOADERS:
        raise BenchmarkError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARK_NAMES)}")
    module_name, function_name, fixed = _LOADERS[name]
    loader = getattr(import_module(f"{__name__}.{module_name}"), function_name)
    if "name" in fixed:
        return loader(fixed["name"], root, image_root, **options)
    return loader(root, image_root, **options)


__all__ = [
    "BENCHMARK_NAMES",
    "Benchmark",
    "BenchmarkError",
    "BenchmarkFileNotFoundError",
    "BenchmarkFormatError",
    "ImageRef",
    "Item",
    "MissingImagesError",
    "ScoreInputError",
    "load",
    "open_image",
]
