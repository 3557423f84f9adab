"""Which lexer implementation is in use: the optional C accelerator or pure Python.

``pipeimap.protocol._speedups`` (``_speedups.c``, built when a C compiler is
available; see setup.py) does the work of :func:`._fetch_batch.lex_fetch_batch`
and of the token loop of :func:`._lexer.lex` in one pass each, returning exactly
the same generic trees.  The Python implementations stay the reference: where the
token loop would raise, the C version returns ``None`` and the Python
:func:`._lexer.lex` runs and raises the exact error (rule, offset, excerpt); the
fast JSON path of :func:`._lexer.lex` is not needed first, because wherever it
answers, the token loop gives the same tree (it also accepts control characters
in atoms, which the token loop refuses, and that case falls back to Python here).

Set ``PIPEIMAP_PURE_PYTHON=1`` in the environment (before pipeimap is imported)
to use the pure-Python lexers even when the accelerator is built.
``ACCELERATED`` says which is in use.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Final

from . import _fetch_batch, _lexer
from ._lexer import Value
from ._responses import StreamedLiteral

__all__ = ["ACCELERATED", "lex", "lex_fetch_batch", "speedups"]

try:
    from . import _speedups
except ImportError:  # not built (no C compiler at install time): pure Python
    _speedups = None  # type: ignore[assignment]

speedups: ModuleType | None = _speedups
"""The C extension module, or None when it is not built."""

_PURE = os.environ.get("PIPEIMAP_PURE_PYTHON", "") not in ("", "0")

ACCELERATED: Final[bool] = speedups is not None and not _PURE
"""True when the C accelerator is in use (built, and PIPEIMAP_PURE_PYTHON not set)."""

_py_lex: Final = _lexer.lex


def c_lex(
    parts: Sequence[str | bytes | StreamedLiteral],
    offsets: Sequence[int],
    rule: str,
    max_depth: int,
    *,
    partial: bool = False,
) -> list[Value]:
    """:func:`._lexer.lex` with the token loop in C (see the module docstring).

    Only callable when the accelerator is built (``speedups`` is not None).
    """
    tree: list[Value] | None = _speedups.lex_tokens(parts, max_depth, partial)
    if tree is None:
        return _py_lex(parts, offsets, rule, max_depth, partial=partial)
    return tree


lex: Callable[..., list[Value]]
lex_fetch_batch: Callable[[Sequence[bytes], Sequence[bytes], int], list[list[Value]] | None]
if ACCELERATED:
    lex = c_lex
    lex_fetch_batch = _speedups.lex_fetch_batch
else:
    lex = _lexer.lex
    lex_fetch_batch = _fetch_batch.lex_fetch_batch
