"""Response codes: ``resp-text = ["[" resp-text-code "]" SP] [text]`` (RFC 9051 section 7.1).

Known codes with data get typed subclasses of :class:`ResponseCode`; codes
without data, and unknown codes, are plain :class:`ResponseCode` objects that
keep their raw argument bytes.  Covered: RFC 9051 section 7.1, RFC 4315
(UIDPLUS), RFC 7162 (CONDSTORE/QRESYNC), RFC 5530 (every code), RFC 4978
(COMPRESSIONACTIVE), RFC 6154 (USEATTR), RFC 3516 (UNKNOWN-CTE), RFC 9585
(INPROGRESS), RFC 5182 (NOTSAVED).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from ..errors import ResponseParseError, escape_excerpt
from ._lexer import Value, lex, text, wire
from ._seqset import SeqSet, UIDSet, parse_ranges
from ._types import UID, Flag, ModSeq

__all__ = [
    "AppendUidCode",
    "BadCharsetCode",
    "CapabilityCode",
    "CopyUidCode",
    "ModifiedCode",
    "NumberCode",
    "PermanentFlagsCode",
    "ResponseCode",
    "parse_resp_text",
]


@dataclass(frozen=True, slots=True)
class ResponseCode:
    """A response code: ``name`` uppercased, ``raw`` the argument bytes (``b""`` if none)."""

    name: str
    raw: bytes


@dataclass(frozen=True, slots=True)
class CapabilityCode(ResponseCode):
    """``[CAPABILITY ...]``; names uppercased."""

    capabilities: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PermanentFlagsCode(ResponseCode):
    """``[PERMANENTFLAGS (...)]``; ``\\*`` appears as :attr:`Flag.WILDCARD`."""

    flags: tuple[Flag, ...]


@dataclass(frozen=True, slots=True)
class BadCharsetCode(ResponseCode):
    """``[BADCHARSET (charset...)]``; the list is optional."""

    charsets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NumberCode(ResponseCode):
    """``[UIDNEXT n]``, ``[UIDVALIDITY n]``, ``[UNSEEN n]``, ``[HIGHESTMODSEQ n]``."""

    value: int


@dataclass(frozen=True, slots=True)
class AppendUidCode(ResponseCode):
    """``[APPENDUID uidvalidity uid-set]`` (RFC 4315; a set after MULTIAPPEND)."""

    uidvalidity: int
    uids: UIDSet


@dataclass(frozen=True, slots=True)
class CopyUidCode(ResponseCode):
    """``[COPYUID uidvalidity source-uids dest-uids]`` (RFC 4315 section 3)."""

    uidvalidity: int
    source_uids: UIDSet
    dest_uids: UIDSet

    def mapping(self) -> list[tuple[UID, UID]]:
        """Source UID -> destination UID pairs, in the order the server gave them."""
        parts = self.raw.split()
        src = _expand(parse_ranges(parts[1]))
        dst = _expand(parse_ranges(parts[2]))
        return [(UID(a), UID(b)) for a, b in zip(src, dst, strict=False)]


@dataclass(frozen=True, slots=True)
class ModifiedCode(ResponseCode):
    """``[MODIFIED set]`` (RFC 7162 section 3.1.3): UIDs after ``UID STORE``,
    sequence numbers after ``STORE`` -- only the command knows which."""

    def as_uids(self) -> UIDSet:
        return UIDSet.parse(self.raw)

    def as_seqs(self) -> SeqSet:
        return SeqSet.parse(self.raw)


def _expand(ranges: tuple[tuple[object, object], ...]) -> list[int]:
    out: list[int] = []
    for lo, hi in ranges:
        if not isinstance(lo, int) or not isinstance(hi, int):
            raise ValueError("'*' in COPYUID")
        step = 1 if hi >= lo else -1
        out.extend(range(lo, hi + step, step))
    return out


# Codes with no data (RFC 9051, RFC 5530, RFC 4315, RFC 7162, RFC 4978, RFC 6154,
# RFC 3516, RFC 5182): kept as plain ResponseCode; listed for documentation.
SIMPLE_CODES: Final = frozenset(
    [
        "ALERT",
        "PARSE",
        "READ-ONLY",
        "READ-WRITE",
        "TRYCREATE",
        "UIDNOTSTICKY",
        "NOMODSEQ",
        "CLOSED",
        "NOTSAVED",
        "LIMIT",
        "OVERQUOTA",
        "ALREADYEXISTS",
        "NONEXISTENT",
        "UNAVAILABLE",
        "AUTHENTICATIONFAILED",
        "AUTHORIZATIONFAILED",
        "EXPIRED",
        "PRIVACYREQUIRED",
        "CONTACTADMIN",
        "NOPERM",
        "INUSE",
        "EXPUNGEISSUED",
        "CORRUPTION",
        "SERVERBUG",
        "CLIENTBUG",
        "CANNOT",
        "COMPRESSIONACTIVE",
        "USEATTR",
        "HASCHILDREN",
        "UNKNOWN-CTE",
        "INPROGRESS",
    ]
)

_CODE_NAME: Final = re.compile(r"[^\x00-\x20\[\]()]+")
_CODE_SCAN: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[()\]]')
_NUMBER: Final = re.compile(r"[0-9]{1,20}\Z")


def _fail(line: str, pos: int, base: int, detail: str) -> ResponseParseError:
    bpos = len(wire(line[:pos]))
    return ResponseParseError(
        "resp-text-code", base + bpos, escape_excerpt(wire(line), bpos), detail
    )


def _number(s: str, line: str, pos: int, base: int) -> int:
    if _NUMBER.match(s) is None:
        raise _fail(line, pos, base, f"not a number: {s[:30]!r}")
    return int(s)


def _nz32(s: str, line: str, pos: int, base: int) -> int:
    n = _number(s, line, pos, base)
    if not 1 <= n <= 0xFFFFFFFF:
        raise _fail(line, pos, base, f"number out of range: {n}")
    return n


def parse_flag(value: Value) -> Flag:
    """A flag from a flag list, tolerating what :class:`Flag` refuses.

    Tolerated: ``]`` and other non-atom characters inside a keyword (seen in
    ``FLAGS (\\Seen foo])`` from real servers).  Such flags are built without
    validation; they can only have come from the server.
    """
    if value.__class__ is not str:
        raise ValueError("flag is not an atom")
    s: str = value
    cached = _FLAG_CACHE.get(s)
    if cached is not None:
        return cached
    s = text(s)
    try:
        flag = Flag(s)
    except ValueError:
        if not s or any(c in s for c in "\r\n\x00"):
            raise
        flag = str.__new__(Flag, s)
    if len(_FLAG_CACHE) > 4096:  # bounded: flags are server-chosen keywords
        _FLAG_CACHE.clear()
    _FLAG_CACHE[value] = flag
    return flag


_FLAG_CACHE: dict[str, Flag] = {}


def _code(name: str, args: str, line: str, pos: int, base: int, depth: int) -> ResponseCode:
    raw = wire(args)
    if name in SIMPLE_CODES or (not args and name not in _DATA_CODES):
        return ResponseCode(name, raw)
    try:
        if name == "CAPABILITY":
            return CapabilityCode(name, raw, tuple(w.upper() for w in args.split()))
        if name in ("UIDNEXT", "UNSEEN"):
            return NumberCode(name, raw, _nz32(args.strip(), line, pos, base))
        if name == "UIDVALIDITY":
            # Only ever compared for equality, so a wider value is harmless; the
            # example in RFC 9051 section 6.3.2 itself has 9877410381 (> 32 bits).
            return NumberCode(name, raw, _number(args.strip(), line, pos, base))
        if name == "HIGHESTMODSEQ":
            return NumberCode(name, raw, ModSeq(_number(args.strip(), line, pos, base)))
        if name == "APPENDUID":
            words = args.split()
            if len(words) != 2:
                raise _fail(line, pos, base, "APPENDUID needs uidvalidity and uid-set")
            return AppendUidCode(
                name, raw, _nz32(words[0], line, pos, base), UIDSet.parse(words[1])
            )
        if name == "COPYUID":
            words = args.split()
            if len(words) != 3:
                raise _fail(line, pos, base, "COPYUID needs uidvalidity and two uid-sets")
            return CopyUidCode(
                name,
                raw,
                _nz32(words[0], line, pos, base),
                UIDSet.parse(words[1]),
                UIDSet.parse(words[2]),
            )
        if name == "MODIFIED":
            SeqSet.parse(args.strip())  # validate only; see ModifiedCode
            return ModifiedCode(name, wire(args.strip()))
        if name in ("PERMANENTFLAGS", "BADCHARSET"):
            tree = lex([args], [base + len(wire(line[:pos]))], "resp-text-code", depth)
            items = tree[0] if tree and isinstance(tree[0], list) else tree
            if name == "PERMANENTFLAGS":
                return PermanentFlagsCode(name, raw, tuple(parse_flag(f) for f in items))
            charsets = tuple(text(c) for c in items if isinstance(c, (str, bytes)))
            return BadCharsetCode(name, raw, charsets)
    except ResponseParseError:
        raise
    except ValueError as exc:
        raise _fail(line, pos, base, f"bad {name} data: {exc}") from None
    return ResponseCode(name, raw)


_DATA_CODES: Final = frozenset(
    [
        "CAPABILITY",
        "UIDNEXT",
        "UIDVALIDITY",
        "UNSEEN",
        "HIGHESTMODSEQ",
        "APPENDUID",
        "COPYUID",
        "MODIFIED",
    ]
)


def parse_resp_text(
    line: str, start: int, base: int, depth: int
) -> tuple[ResponseCode | None, str]:
    """Parse ``resp-text`` from ``line[start:]``; returns (code, text).

    Tolerated: no text at all (``A1 OK``), a code with no text after it
    (``* OK [UIDNEXT 5]``), a missing or doubled space, a trailing space,
    a lowercase code name.  A ``[`` that does not open a well-formed code is
    taken as text.
    """
    n = len(line)
    while start < n and line[start] == " ":
        start += 1
    if start >= n or line[start] != "[":
        return None, text(line[start:])
    m = _CODE_NAME.match(line, start + 1)
    if m is None:
        return None, text(line[start:])
    name = m.group().upper()
    pos = m.end()
    if pos < n and line[pos] == "]":
        args_start = args_end = pos
    elif pos < n and line[pos] == " ":
        args_start = pos + 1
        depth_now = 0
        args_end = -1
        for tok in _CODE_SCAN.finditer(line, args_start):
            t = tok.group()
            if t == "(":
                depth_now += 1
            elif t == ")":
                depth_now -= 1
            elif t == "]" and depth_now <= 0:
                args_end = tok.start()
                break
        if args_end < 0:
            return None, text(line[start:])
    else:
        return None, text(line[start:])
    code = _code(name, line[args_start:args_end], line, args_start, base, depth)
    rest = args_end + 1
    while rest < n and line[rest] == " ":
        rest += 1
    return code, text(line[rest:])
