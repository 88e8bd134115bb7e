"""Debug option ``log_sample_keys: true``: record which samples each process trained on.

Every sample a dataset hands out appends a line ``<epoch>\\t<key>`` to
``<run folder>/sample_keys/rank<R>-worker<W>.txt`` (epoch -1 for map-style datasets, which do not
see epochs). Used to verify that DDP ranks and loader workers see disjoint samples; it costs one
buffered write per sample, so leave it off for real runs.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


def _rank() -> int:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", 0))


def _worker() -> int:
    from torch.utils.data import get_worker_info

    info = get_worker_info()
    return info.id if info is not None else 0


def run_folder() -> Path:
    """The current run's folder (registered by the runner), else the working directory."""
    try:
        from lavis.common.registry import registry

        return Path(registry.get_path("output_dir"))
    except Exception:  # noqa: BLE001 - no runner (a script using the dataset directly)
        return Path.cwd()


class SampleKeyLog:
    """Appends sample keys to a per-rank, per-worker file; picklable (reopens in each process)."""

    def __init__(self, folder: str | Path | None = None):
        self.folder = None if folder is None else Path(folder)
        self.epoch = -1
        self._file = None
        self._pid = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_file"], state["_pid"] = None, None
        return state

    def bind(self, epoch: int | None = None) -> None:
        """Fix the folder (in the main process, once the run folder exists) and the epoch."""
        if self.folder is None:
            self.folder = run_folder() / "sample_keys"
        if epoch is not None:
            self.epoch = int(epoch)

    def write(self, key) -> None:
        if self._file is None or self._pid != os.getpid():
            self.bind()
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / f"rank{_rank()}-worker{_worker()}.txt"
            self._file, self._pid = open(path, "a", encoding="utf-8", buffering=1), os.getpid()
            log.info("log_sample_keys: writing %s", path)
        self._file.write(f"{self.epoch}\t{key}\n")


def read_sample_keys(folder: str | Path) -> dict[str, list[tuple[int, str]]]:
    """``{file stem: [(epoch, key), ...]}`` of a ``sample_keys`` folder (for tests and debugging)."""
    out = {}
    for path in sorted(Path(folder).glob("*.txt")):
        rows = []
        for line in path.read_text(encoding="utf-8").splitlines():
            epoch, key = line.split("\t", 1)
            rows.append((int(epoch), key))
        out[path.stem] = rows
    return out
