"""The error the negatives CLI turns into a one-line message and exit code 2."""

from __future__ import annotations

from ahnpl_plugin.errors import UserError


class NegativesError(UserError):
    """Bad input or a missing dependency a user can fix; the message says what and how."""
