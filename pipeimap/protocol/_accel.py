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

It also converts a FETCH line's tree into typed items (``fetch_items``, the work
of :func:`._parse_fetch.convert_msg_att` for the usual shapes): where it answers
None (an unusual value, an item name to normalize, any error), the Python
conversion runs and converts or raises exactly as without the accelerator.

Set ``PIPEIMAP_PURE_PYTHON=1`` in the environment (before pipeimap is imported)
to use the pure-Python lexers even when the accelerator is built.
``ACCELERATED`` says which is in use.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Final

from . import _fetch_batch, _lexer, _parse_fetch
from ._lexer import Value
from ._responses import (
    Address,
    BodyPart,
    Disposition,
    Envelope,
    FetchItems,
    MultipartBody,
    StreamedLiteral,
)
from ._types import UID

__all__ = ["ACCELERATED", "convert_msg_att", "lex", "lex_fetch_batch", "speedups"]

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


_py_convert: Final = _parse_fetch.convert_msg_att
_new: Final = object.__new__
_set_d: Final = vars(FetchItems)["_d"].__set__


def c_convert_msg_att(tokens: list[Value]) -> FetchItems:
    """:func:`._parse_fetch.convert_msg_att` with the usual shapes converted in C.

    Only callable when the accelerator is built and configured (see below).
    """
    d: dict[str, object] | None = _speedups.fetch_items(tokens)
    if d is None:
        return _py_convert(tokens)
    items = _new(FetchItems)  # FetchItems(d) without running its __init__
    _set_d(items, d)
    return items


def _configure(module: ModuleType) -> None:
    """Hand the C conversion the types and the tables it shares with the Python."""
    kinds = {}
    for i, name in enumerate(
        ("UID", "FLAGS", "RFC822.SIZE", "ENVELOPE", "BODYSTRUCTURE", "BODY"), start=1
    ):
        kinds[name] = kinds[name.lower()] = i
    module.configure_items(
        UID,
        Address,
        Envelope,
        Disposition,
        BodyPart,
        MultipartBody,
        kinds,
        _parse_fetch._HANDLERS,
        _parse_fetch._SECTIONS,
        _parse_fetch._FLAG_TUPLES,
        _parse_fetch._flags,
    )


lex: Callable[..., list[Value]]
lex_fetch_batch: Callable[[Sequence[bytes], Sequence[bytes], int], list[list[Value]] | None]
convert_msg_att: Callable[[list[Value]], FetchItems]
if ACCELERATED:
    _configure(_speedups)
    lex = c_lex
    lex_fetch_batch = _speedups.lex_fetch_batch
    convert_msg_att = c_convert_msg_att
else:
    lex = _lexer.lex
    lex_fetch_batch = _fetch_batch.lex_fetch_batch
    convert_msg_att = _parse_fetch.convert_msg_att
