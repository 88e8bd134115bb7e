"""The `.pth` hook: cheap at interpreter start, maps `python -m lavis.train|evaluate` to ours."""

import subprocess
import sys

import pytest


def _python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout


def test_import_ahnpl_plugin_imports_neither_torch_nor_lavis():
    """What makes the import cheap (its time: perf/fail_fast.py --only import)."""
    out = _python(
        "import sys; import ahnpl_plugin;"
        "print(sorted(m for m in ('torch','lavis','spacy','numpy','transformers','PIL') if m in sys.modules))"
    )
    assert out.strip() == "[]"


def test_hook_finders_are_installed_in_every_interpreter():
    out = _python(
        "import sys; print([getattr(f, '__name__', '') for f in sys.meta_path"
        " if getattr(f, '__module__', '') == 'ahnpl_plugin.hook'])"
    )
    # compat finder first, entry-point finder last (a real lavis/train.py would win)
    assert out.strip() == "['LavisCompatFinder', 'LavisEntryPointFinder']"


@pytest.mark.slow  # subprocess importing LAVIS
@pytest.mark.parametrize("name", ["lavis.train", "lavis.evaluate"])
def test_python_dash_m_lavis_entry_points_resolve_to_plugin(name):
    proc = subprocess.run([sys.executable, "-m", name, "--help"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "--cfg-path" in proc.stdout and "--options" in proc.stdout


def test_entry_point_finder_does_not_shadow_real_modules():
    from ahnpl_plugin.hook import LavisEntryPointFinder

    assert LavisEntryPointFinder.find_spec("lavis.models") is None
    spec = LavisEntryPointFinder.find_spec("lavis.train")
    assert spec.name == "lavis.train" and spec.origin.endswith("ahnpl_plugin/train.py")


@pytest.mark.slow  # subprocess importing LAVIS
def test_compat_reexports_moved_transformers_names():
    out = _python(
        "import ahnpl_plugin.compat as c; c.apply(); import transformers.modeling_utils as m;"
        "print(all(hasattr(m, n) for n in c._MOVED_TRANSFORMERS_NAMES))"
    )
    assert out.strip() == "True"
