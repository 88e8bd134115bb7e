"""Real training data for AHNPL: COCO/Flickr30k Karpathy annotations joined with hard negatives,
import of the published CE-CLIP/AHNPL ``.npy`` files, webdataset shards, and a config checker.

CLI: ``python -m ahnpl_plugin.data {import-npy,write-shards,check} --help``.

The modules here are plain Python (+ numpy for ``.npy``, PIL/webdataset for shards): no torch, no
LAVIS. The LAVIS builders that use them live in :mod:`ahnpl_plugin.datasets.coco_builder` and
:mod:`ahnpl_plugin.datasets.wds_builder`.
"""
