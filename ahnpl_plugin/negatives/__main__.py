"""Entry point of ``python -m ahnpl_plugin.negatives`` (see :mod:`ahnpl_plugin.negatives.cli`)."""

import sys

from ahnpl_plugin.negatives.cli import main

if __name__ == "__main__":
    sys.exit(main())
