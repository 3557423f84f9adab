"""pipeimap's command line: ``pipeimap {archive,sync,import,demo}``.

``main()`` is the console script's entry point (``[project.scripts]``) and what
``python -m pipeimap`` runs; it returns the exit code.  The reference is
``docs/cli.md``.
"""

from __future__ import annotations

from ._exit import ExitCode
from ._main import main

__all__ = ["ExitCode", "main"]
