"""The error of bad data files: one line naming the file, the row and what to fix."""

from __future__ import annotations

from ahnpl_plugin.errors import UserError


class DataError(UserError):
    """A data file, row or path a user can fix; the entry points print it as one line (exit 2)."""
