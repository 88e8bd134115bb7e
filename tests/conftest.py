"""Fixtures shared by test modules (helper functions shared by several files: tests/helpers/)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def lavis_ready():
    """The plugin's models, datasets, tasks and runner registered with LAVIS (``register()``)."""
    from ahnpl_plugin import register

    register()


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    """A tiny COCO-shaped folder (Karpathy JSONs, generated JPEGs; 8 train images x 2 captions,
    3 val and 3 test images) and its template negatives file: ``(CocoFolder, negatives path)``."""
    from ahnpl_plugin.data.sample_folder import make_coco_folder, write_template_negatives

    root = tmp_path_factory.mktemp("coco")
    folder = make_coco_folder(root / "coco", n_train=8, n_val=3, n_test=3, captions_per_image=2)
    negatives = write_template_negatives(folder.train_rows, root / "coco" / "negatives" / "train.jsonl")
    return folder, negatives


@pytest.fixture(scope="session", autouse=True)
def _world_cache(tmp_path_factory):
    """Synthetic worlds of configs without cache_dir go to the shared cache (ahnpl_plugin.paths.
    cache_root); in tests, to one temporary folder per session (subprocesses inherit it)."""
    import os

    previous = os.environ.get("AHNPL_CACHE_DIR")
    os.environ["AHNPL_CACHE_DIR"] = str(tmp_path_factory.mktemp("ahnpl_cache"))
    yield
    if previous is None:
        os.environ.pop("AHNPL_CACHE_DIR", None)
    else:
        os.environ["AHNPL_CACHE_DIR"] = previous


@pytest.fixture(autouse=True)
def _torch_threads():
    """Give every test back the thread count it found: a test that sets one thread (to compare
    floats exactly) must not change the rounding of the tests after it (test_perf's gradient
    comparisons differ by 3e-5 with one thread on an AVX2 CPU). Torch is not imported for this."""
    import sys

    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch is not None else None
    yield
    torch = sys.modules.get("torch")
    if torch is not None and threads is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
