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


def projects_dir() -> Path | None:
    """The shipped project configs (``projects/ahnpl``): the repo's in a checkout, else the wheel's
    copy inside the package; None if neither is there."""
    for candidate in (_PACKAGE_DIR.parent / "projects" / "ahnpl", _PACKAGE_DIR / "projects" / "ahnpl"):
        if candidate.is_dir():
            return candidate
    return None


def project_config_names() -> list[str]:
    """Names of the shipped project configs (``demo``, ``coco``, ``eval_all``, ...)."""
    folder = projects_dir()
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder else []


def find_config(cfg_path: str | Path) -> tuple[Path | None, list[Path]]:
    """``(found file or None, every place looked at)`` for a ``--cfg-path`` value.

    The path as given (from the working directory) first; then, for a relative path, a shipped
    project config of that name, so ``demo``, ``demo.yaml`` and ``projects/ahnpl/demo.yaml`` work
    from any folder.
    """
    given = Path(cfg_path).expanduser()
    looked = [given.resolve()]
    if given.is_file():
        return given, looked
    folder = projects_dir()
    if folder is not None and not given.is_absolute():
        name = given.name if given.suffix in (".yaml", ".yml") else given.name + ".yaml"
        candidate = folder / name
        looked.append(candidate)
        if candidate.is_file():
            return candidate, looked
    return None, looked


def cache_root() -> Path:
    """One folder for what the plugin generates and reuses across runs and working directories (the
    synthetic world): ``$AHNPL_CACHE_DIR``, else ``$XDG_CACHE_HOME/ahnpl``, else ``~/.cache/ahnpl``."""
    import os

    if os.environ.get("AHNPL_CACHE_DIR"):
        return resolve_user_path(os.environ["AHNPL_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return resolve_user_path(Path(base) / "ahnpl")


def output_root() -> Path:
    """Where a relative ``run.output_dir`` is placed: ``$AHNPL_OUTPUT_ROOT``, else the working
    directory (LAVIS's convention)."""
    import os

    return resolve_user_path(os.environ.get("AHNPL_OUTPUT_ROOT") or ".")


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
