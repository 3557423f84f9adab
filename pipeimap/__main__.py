"""``python -m pipeimap``: the command line (same as the ``pipeimap`` script)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
