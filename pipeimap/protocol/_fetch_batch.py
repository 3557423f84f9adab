"""Fast path: many complete ``* n FETCH (...)`` responses tokenized in one pass.

Theory of operation: a header-only FETCH line (ENVELOPE, BODYSTRUCTURE) is
mostly quoted strings; what lies *between* two quoted strings -- ``" "``,
``" NIL "``, ``") ("``, ``")) (("`` -- comes from a small set of pieces that
repeat from line to line and from message to message.  So the responses the
framer has complete are joined (one line each, literals replaced by a marker
string) and split at the quote characters once; every piece between two quoted
strings is translated into the JSON text that stands between two JSON strings
(``" NIL "`` -> ``",null,"``), through a bounded cache, and the pieces the cache
does not know are translated together with a handful of C-level ``replace``
calls.  Joining the translated pieces with the (unchanged) quoted strings gives
one JSON document per response, which the C JSON decoder turns into the same
generic tree :func:`pipeimap.protocol._lexer.lex` builds; literals come back in
place through ``parse_constant``.

Everything unusual returns ``None`` -- and the caller uses the exact path
(framer + :func:`lex`), which is also what reports errors: control characters,
brackets or braces outside quoted strings (``BODY[...]``), missing or doubled
spaces, quoted escapes other than ``\\\\`` and ``\\"``, nesting deeper than
allowed, a list that does not close, anything after the item list.  A Hypothesis
test checks that both paths give the same tree wherever this one answers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import partial
from re import compile as _re
from typing import Any, Final

from ._lexer import Value

__all__ = ["lex_fetch_batch"]

# Bytes that send a batch to the exact path when they appear outside quoted
# strings (the exact lexer refuses or treats them specially).  \x00 (our marker)
# and \n (the response separator) are allowed.
_BAD_OUTER: Final = bytes([c for c in range(1, 0x20) if c != 0x0A] + [0x7F] + list(b"[]{"))
_KEEP_BAD: Final = bytes(c for c in range(256) if c not in _BAD_OUTER)
_NOT_PAREN_NL: Final = bytes(c for c in range(256) if c not in b"()\n")
# Escapes that mean something else in JSON than in IMAP (where "\x" is "x").
_JSON_ONLY_ESCAPE: Final = _re(rb"\\[bfnrtu]")

Scanner = Callable[[str, int], "tuple[Any, int]"]


def _scanner(decoder: json.JSONDecoder) -> Scanner:
    """The decoder's C scanner: one value at an index, no whitespace skipping."""
    scan: Scanner = decoder.scan_once  # type: ignore[attr-defined]
    return scan


_scan_plain: Final = _scanner(json.JSONDecoder(strict=False))

# Translations of the pieces between two quoted strings; bounded (cleared when
# full), keyed by the exact bytes, so sharing it between parsers is safe.
_PIECES: dict[bytes, bytes] = {}
_PIECES_MAX: Final = 4096
_PIECE_MAX_LEN: Final = 256


def _translate(text: bytes, markers: int) -> list[bytes] | None:
    """Translate ``piece \\x00 piece \\x00 ...`` (each \\x00 standing for a quoted
    string) into JSON, wrapped as ``["`` ... ``"]``; return the translated pieces.

    Every token becomes a JSON string (``" "`` -> ``","``, ``(`` -> ``["``,
    ``)`` -> ``"]``); the quotes this puts next to brackets are then removed
    where they belong to no token.  Counting what each step removed proves that
    no token was glued to a bracket; ``""`` would be an empty token (doubled or
    misplaced spaces); each marker must have become a token of its own.
    """
    if text.translate(None, _KEEP_BAD):
        return None
    n_open = text.count(b"(")
    n_close = text.count(b")")
    if b"\\" in text:
        text = text.replace(b"\\", b"\\\\")
    if b")(" in text:
        text = text.replace(b")(", b") (")
    o = (
        b'["'
        + text.replace(b" ", b'","')
        .replace(b"(", b'["')
        .replace(b")", b'"]')
        .replace(b"\n", b'"]\n["')
        + b'"]'
    )
    n = len(o)
    o = o.replace(b'"[', b"[")
    if n - len(o) != n_open:
        return None
    n = len(o)
    o = o.replace(b']"', b"]")
    if n - len(o) != n_close:
        return None
    if b'[""]' in o:  # "()"
        o = o.replace(b'[""]', b"[]")
    if b'""' in o:
        return None
    o = o.replace(b'"NIL"', b"null")
    if b'"nil"' in o or b'"Nil"' in o:
        o = o.replace(b'"nil"', b"null").replace(b'"Nil"', b"null")
    if o.count(b'"\x00"') != markers:
        return None
    pieces = o.split(b"\x00")
    return pieces if len(pieces) == markers + 1 else None


def _depth_ok(outer: list[bytes], max_depth: int) -> bool:
    """No response nests parentheses (outside quoted strings) more than max_depth deep.

    A response with at most max_depth opening parentheses cannot; the others
    (large body structures) are checked by removing innermost pairs, one
    level per pass.  Balance is the JSON decoder's to check.
    """
    parens = b"".join(outer).translate(None, _NOT_PAREN_NL)
    limit = 2 * max_depth
    for p in parens.split(b"\n"):
        if len(p) > limit:
            p = p.replace(b"()", b"")
            for _ in range(max_depth - 1):
                if b"((" not in p:
                    break
                p = p.replace(b"()", b"")
            else:
                return False
    return True


def lex_fetch_batch(
    texts: Sequence[bytes],
    literals: Sequence[bytes],
    max_depth: int,
) -> list[list[Value]] | None:
    """The ``msg-att`` item lists of complete FETCH responses, or None.

    ``texts[i]`` is response i after ``* n FETCH `` with its literals replaced
    by the quoted string ``"\\x03"`` (one line, no CRLF); ``literals`` are all
    literals of all responses in order.  Returns the item list of each response
    of a prefix of ``texts`` (all of them unless one fails a per-response
    check), or None when the batch as a whole must take the exact path.
    """
    big = b"\n".join(texts)
    if b"\x00" in big or big.count(b"\x03") != len(literals):
        return None
    esc = b"\\\\" in big or b'\\"' in big
    if esc:
        if b"\x01" in big or b"\x02" in big:
            return None
        big = big.replace(b"\\\\", b"\x01").replace(b'\\"', b"\x02")
    if b"\\" in big and _JSON_ONLY_ESCAPE.search(big) is not None:
        return None
    segs = big.split(b'"')
    if not len(segs) & 1:
        return None
    outer = segs[0::2]
    last = len(outer) - 1
    if not _depth_ok(outer, max_depth):
        return None

    # Translate the pieces: cached ones by lookup, the rest (always the first
    # and the last, which border on the start and end of the batch) together.
    cache = _PIECES
    tr: list[bytes | None] = list(map(cache.get, outer))
    todo = [0]
    i = 1
    index = tr.index
    while True:
        try:
            i = index(None, i, last)
        except ValueError:
            break
        todo.append(i)
        i += 1
    if last:
        todo.append(last)
    done = _translate(b"\x00".join([outer[j] for j in todo]), len(todo) - 1)
    if done is None:
        return None
    for j, piece in zip(todo, done, strict=True):
        tr[j] = piece
    if len(todo) > 2:
        if len(cache) > _PIECES_MAX:
            cache.clear()
        for j in todo[1:-1]:
            key = outer[j]
            if len(key) <= _PIECE_MAX_LEN:
                cache[key] = tr[j]  # type: ignore[assignment]
    segs[0::2] = tr  # type: ignore[assignment]
    js = b"".join(segs)
    if esc:
        js = js.replace(b"\x01", b"\\\\").replace(b"\x02", b'\\"')
    scan = _scan_plain
    if literals:
        if js.count(b'"\x03"') != len(literals):
            return None
        js = js.replace(b'"\x03"', b"NaN")
        values = iter(literals)
        scan = _scanner(json.JSONDecoder(strict=False, parse_constant=partial(next, values)))
    lines = js.decode("utf-8", "surrogateescape").split("\n")
    if len(lines) != len(texts):
        return None
    out: list[list[Value]] = []
    for line in lines:
        try:
            tree, end = scan(line, 0)
        except (ValueError, StopIteration, RecursionError):
            return out or None
        if (
            end != len(line)
            or tree.__class__ is not list
            or len(tree) != 1
            or tree[0].__class__ is not list
        ):
            return out or None
        out.append(tree[0])
    return out
