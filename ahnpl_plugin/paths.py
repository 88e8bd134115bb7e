"""Where the plugin's shipped files live, in a source checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def configs_dir() -> Path:
    """The ``lavis_configs`` folder: the repo's top-level one in a checkout (editable install),
    else the copy the wheel ships inside the package."""
    for candidate in (_PACKAGE_DIR.parent / "lavis_configs", _PACKAGE_DIR / "lavis_configs"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"lavis_configs not found next to {_PACKAGE_DIR} nor inside it; reinstall ahnpl-lavis"
    )


def config_path(relative: str) -> str:
    """Absolute path of a default YAML, e.g. ``config_path("models/ahnpl_clip_tiny.yaml")``.

    LAVIS reads ``PRETRAINED_MODEL_CONFIG_DICT`` / ``DATASET_CONFIG_DICT`` values relative to its
    own package unless they are absolute, so every plugin default is registered absolute.
    """
    return str(configs_dir() / relative)


def resolve_user_path(path: str | Path) -> Path:
    """A user-given path: ``~`` expanded, relative paths taken from the working directory
    (LAVIS would resolve them under site-packages/lavis or a hard-coded home folder)."""
    return Path(path).expanduser().resolve()
