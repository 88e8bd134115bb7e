"""Help texts of the command lines: usage lines that show the command a user types, and
docstrings without their reStructuredText markup (argparse prints text as it is)."""

from __future__ import annotations

import os
import re
import sys

_ROLE = re.compile(r":(?:func|class|mod|meth|attr|data|exc):`~?([^`]+)`")


def plain(text: str) -> str:
    """``text`` without reST markup: ``:func:`x``` -> x, double backticks dropped."""
    return _ROLE.sub(r"\1", text).replace("``", "")


def command(module_command: str) -> str:
    """The command as typed: the console script (``ahnpl-train``) when run through one, else
    ``module_command`` (e.g. ``python -m lavis.train``; argparse would show ``train.py``)."""
    script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return script if script.startswith("ahnpl-") else module_command
