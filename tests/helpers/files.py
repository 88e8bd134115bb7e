"""Small files the tests write: configs (YAML), annotation files (JSON) and solid-colour images."""

from __future__ import annotations

import json
from pathlib import Path

import yaml


def write_yaml(content: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(content))
    return path


def write_json(content, path: Path) -> Path:
    path.write_text(json.dumps(content))
    return path


def write_image(path: Path, colour=(255, 0, 0), size=(8, 8), fmt: str | None = None) -> Path:
    """A solid ``colour`` RGB image of ``size`` (width, height) at ``path`` (folders made; the format
    follows the suffix unless ``fmt`` is given)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, format=fmt)
    return path
