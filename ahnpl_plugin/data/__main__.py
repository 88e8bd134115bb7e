"""``python -m ahnpl_plugin.data``: see :mod:`ahnpl_plugin.data.cli`."""

import sys

from ahnpl_plugin.data.cli import main

sys.exit(main())
