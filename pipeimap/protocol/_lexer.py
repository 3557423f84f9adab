"""Tokenizer for the parenthesized part of IMAP responses.

Theory of operation: the framer hands over one complete response as text
segments (decoded as UTF-8 with ``surrogateescape``) separated by literal values.  One compiled regular
expression finds every token of a segment in C (``re.findall``); a short
Python loop then builds the nested structure with an explicit stack, so deep
nesting cannot reach Python's recursion limit and costs one list per level.

The result is a *generic* tree that the grammar modules (``_parse_*.py``)
interpret:

* ``list``  -- a parenthesized list,
* ``str``   -- an atom, a number, or the contents of a quoted string (the
  framer decodes text as UTF-8 with ``surrogateescape``, so nothing is lost:
  ``s.encode("utf-8", "surrogateescape")`` gives the wire bytes back),
* ``bytes`` -- a literal's contents,
* :class:`StreamedLiteral` -- a literal that was streamed, not held,
* ``None``  -- the atom ``NIL``.

Tolerated here (each seen on real servers): missing and doubled spaces between
tokens (Outlook/Office 365, emersion/go-imap #452 and #657; davmail #454),
``]`` and ``\\*`` inside atoms (flag lists, ``FLAGS (\\Seen foo])``),
lowercase ``nil``, and 8-bit bytes in quoted strings and atoms.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Final, TypeAlias

from ..errors import LimitExceededError, ResponseParseError, escape_excerpt
from ._responses import StreamedLiteral

__all__ = ["GrammarError", "Value", "lex", "text", "wire"]

Value: TypeAlias = "str | bytes | StreamedLiteral | list[Value] | None"

_TOKEN: Final = re.compile(
    r'"[^"\\]*(?:\\.[^"\\]*)*"'  # quoted string (8-bit tolerated)
    r"|[()]"
    # atom, possibly with a section: BODY[HEADER.FIELDS (A B)]<0>
    r'|[^\x00-\x20()"{\[\x7f]+(?:\[[^\]]*\][^\x00-\x20()"{\[\x7f]*)?'
    r"|\[[^\]]*\]"  # a bare section-like bracket (error below unless allowed)
    r"|[^ ]",  # anything else is one junk character: always an error
    re.S,
)
_UNESCAPE: Final = re.compile(r"\\(.)", re.S)
_NIL: Final = frozenset(("NIL", "nil", "Nil"))
_JUNK_START: Final = frozenset('{[\x7f"') | frozenset(chr(c) for c in range(0x20))


class GrammarError(ValueError):
    """A response does not match a grammar rule.  Raised by the grammar modules with
    the ABNF rule name; the parser turns it into a ResponseParseError with the
    response's offset and excerpt."""

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(detail)
        self.rule = rule


def text(value: str | bytes) -> str:
    """A string token as text: tokens already are; literal bytes are decoded as
    UTF-8, losslessly (undecodable bytes become surrogate escapes)."""
    if value.__class__ is str:
        return value
    return value.decode("utf-8", "surrogateescape")  # type: ignore[union-attr]


def wire(value: str) -> bytes:
    """The wire bytes of a text token."""
    return value.encode("utf-8", "surrogateescape")


def _fail(rule: str, seg: str, pos: int, base: int, detail: str) -> ResponseParseError:
    data = wire(seg)
    bpos = len(wire(seg[:pos]))
    return ResponseParseError(rule, base + bpos, escape_excerpt(data, bpos), detail)


def _locate(
    seg: str, base: int, rule: str, depth0: int, max_depth: int, partial: bool
) -> ResponseParseError | None:
    """Slow path, only after the fast loop failed: find the failing token's position."""
    depth = depth0
    for m in _TOKEN.finditer(seg):
        t = m.group()
        c = t[0]
        if c == "(":
            depth += 1
            if depth > max_depth:
                bpos = len(wire(seg[: m.start()]))
                return LimitExceededError(
                    "max_nesting_depth", max_depth, base + bpos, escape_excerpt(wire(seg), bpos)
                )
        elif c == ")":
            if depth == 0:
                return _fail(rule, seg, m.start(), base, "unbalanced ')'")
            depth -= 1
        elif c == '"' and len(t) == 1:
            return _fail(rule, seg, m.start(), base, "unterminated quoted string")
        elif c in _JUNK_START and c != '"':
            return _fail(rule, seg, m.start(), base, f"unexpected character {c!r}")
    return None


# --- fast path --------------------------------------------------------------------
#
# For a response without literals, whose quoted strings hold no backslash and whose
# text outside quoted strings holds only atoms, parentheses and spaces, the tree is
# built by rewriting the line into JSON with a handful of C-level str operations
# and decoding it with the C JSON decoder: about 3x faster than the token loop
# below, which handles everything else (and gives the exact error position).  A
# Hypothesis test checks that both paths agree.
_json_decode: Final = json.JSONDecoder(strict=False).decode


def _lex_fast(line: str, max_depth: int) -> list[Value] | None:
    segs = line.split('"')
    if not len(segs) & 1:
        return None
    inner = segs[1::2]
    if inner and "\\" in "".join(inner):
        return None
    o = "\x00".join(segs[0::2])
    # Brackets, braces and commas outside quoted strings take the exact path.
    # (Control characters in atoms are tolerated here; the token loop refuses them.)
    if o.count("(") > max_depth or "[" in o or "]" in o or "{" in o or "," in o:
        return None
    if "\\" in o:
        o = o.replace("\\", "\\\\")
    # every separator becomes a JSON string boundary; the empty strings this makes
    # between adjacent separators are removed afterwards.
    o = (
        '["'
        + o.replace(" ", '","')
        .replace("(", '",["')
        .replace(")", '"],"')
        .replace("\x00", '","\x00","')
        + '"]'
    )
    o = o.replace('"",', "").replace(',""', "").replace('[""]', "[]")
    if "NIL" in o or "nil" in o or "Nil" in o:
        o = o.replace('"NIL"', "null").replace('"nil"', "null").replace('"Nil"', "null")
    pieces = o.split("\x00")
    if len(pieces) != len(inner) + 1:
        return None
    segs[0::2] = pieces
    try:
        result = _json_decode("".join(segs))
    except (ValueError, RecursionError):
        return None
    return result if isinstance(result, list) else None


def lex(
    parts: Sequence[str | bytes | StreamedLiteral],
    offsets: Sequence[int],
    rule: str,
    max_depth: int,
    *,
    partial: bool = False,
) -> list[Value]:
    """Tokenize ``parts`` (text, literal, text, literal, ..., text) into a tree.

    ``offsets[i]`` is the absolute stream offset of text part ``2*i`` (for
    error messages).  With ``partial`` an unclosed list is not an error (used
    to peek at a FETCH line whose literal is still arriving).
    """
    if len(parts) == 1 and not partial:
        line = parts[0]
        if isinstance(line, str) and "\x00" not in line:
            fast = _lex_fast(line, max_depth)
            if fast is not None:
                return fast
    root: list[Value] = []
    cur = root
    stack: list[list[Value]] = []
    push = stack.append
    pop = stack.pop
    last = len(parts) - 1
    for index in range(0, last + 1, 2):
        seg = parts[index]
        if not isinstance(seg, str):
            raise TypeError("text parts must be str")
        depth0 = len(stack)
        try:
            for t in _TOKEN.findall(seg):
                c = t[0]
                if c == '"':
                    if len(t) == 1:
                        raise IndexError
                    v = t[1:-1]
                    if "\\" in v:
                        v = _UNESCAPE.sub(r"\1", v)
                    cur.append(v)
                elif c == "(":
                    push(cur)
                    new: list[Value] = []
                    cur.append(new)
                    cur = new
                    if len(stack) > max_depth:
                        raise IndexError
                elif c == ")":
                    cur = pop()
                elif t in _NIL:
                    cur.append(None)
                elif c in _JUNK_START:
                    raise IndexError
                else:
                    cur.append(t)
        except IndexError:
            err = _locate(seg, offsets[index // 2], rule, depth0, max_depth, partial)
            if err is None:  # pragma: no cover - the slow path mirrors the fast one
                err = _fail(rule, seg, 0, offsets[index // 2], "cannot tokenize")
            raise err from None
        if index < last:
            cur.append(parts[index + 1])
    if stack and not partial:
        seg = parts[last]
        raise _fail(rule, str(seg), len(str(seg)), offsets[last // 2], "unclosed '('")
    return root
