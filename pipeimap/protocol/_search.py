"""A typed builder for SEARCH keys (RFC 9051 section 6.4.4, RFC 3501 section 6.4.4).

Keys are immutable trees.  Combine them with ``&`` (all must match; a
parenthesized group), ``|`` (``OR``) and ``~`` (``NOT``)::

    from pipeimap.protocol import search as S
    key = S.UNSEEN & S.from_("alice") & ~S.header("X-Spam", "yes")

The scheduler asks a key what it touches (:meth:`SearchKey.flags_read`,
:attr:`SearchKey.has_seq_set`, :attr:`SearchKey.uses_last_search`,
:attr:`SearchKey.reads_modseq`) instead of re-parsing it; the serializer asks
for its strings (:meth:`SearchKey.strings`) to decide on ``CHARSET UTF-8``.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, Union

from ..errors import InvalidArgumentError
from ._seqset import LastSearch, SeqSet, UIDSet
from ._types import Flag, ModSeq

__all__ = [
    "ALL",
    "ANSWERED",
    "DELETED",
    "DRAFT",
    "FLAGGED",
    "NEW",
    "OLD",
    "RECENT",
    "SEEN",
    "UNANSWERED",
    "UNDELETED",
    "UNDRAFT",
    "UNFLAGGED",
    "UNSEEN",
    "SearchKey",
    "and_",
    "bcc",
    "before",
    "body",
    "cc",
    "emailid",
    "from_",
    "header",
    "keyword",
    "larger",
    "messages",
    "modseq",
    "not_",
    "older",
    "on",
    "or_",
    "sentbefore",
    "senton",
    "sentsince",
    "since",
    "smaller",
    "subject",
    "text",
    "threadid",
    "to",
    "uid",
    "unkeyword",
    "younger",
]

# An argument of a key: a string to encode as astring, a number, a date, a flag,
# a message set, or a nested key.
SearchArg = Union[str, int, datetime.date, Flag, SeqSet, UIDSet, LastSearch, "SearchKey", "_Raw"]

_NUMBER_MAX: Final = 2**63 - 1  # number64 (RFC 9051 section 9) for LARGER/SMALLER
_FIELD_RE: Final = re.compile(r"[!-9;-~]+\Z")  # RFC 5322 field-name: printable, no ":"
_OBJECTID_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,255}\Z")  # RFC 8474 objectid


@dataclass(frozen=True, slots=True)
class _Raw:
    """An argument written verbatim (a validated atom such as ``"/flags/\\\\draft"``'s
    entry type); never built from user text without validation."""

    text: str


_OP_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9.\-]*\Z")  # a search-key name is an atom

# Flags each flag key reads (for the scheduler's FLAGS(flag) resources).
_FLAG_KEYS: Final[dict[str, tuple[Flag, ...]]] = {
    "ANSWERED": (Flag.ANSWERED,),
    "UNANSWERED": (Flag.ANSWERED,),
    "DELETED": (Flag.DELETED,),
    "UNDELETED": (Flag.DELETED,),
    "DRAFT": (Flag.DRAFT,),
    "UNDRAFT": (Flag.DRAFT,),
    "FLAGGED": (Flag.FLAGGED,),
    "UNFLAGGED": (Flag.FLAGGED,),
    "SEEN": (Flag.SEEN,),
    "UNSEEN": (Flag.SEEN,),
    "RECENT": (Flag.RECENT,),
    "NEW": (Flag.RECENT, Flag.SEEN),
    "OLD": (Flag.RECENT,),
}


@dataclass(frozen=True, slots=True)
class SearchKey:
    """One search key: ``op`` is the key name (``"FROM"``), or ``"AND"`` for a
    parenthesized group, ``"SET"`` for a message set, ``"$"`` for SEARCHRES."""

    op: str
    args: tuple[SearchArg, ...] = ()

    def __post_init__(self) -> None:
        # The serializer writes ``op`` verbatim and numbers via int(): a key built
        # directly (not through the functions below) must not smuggle in a CRLF,
        # a space or a second command, nor an argument it cannot encode.
        op = self.op
        if not isinstance(op, str) or (op != "$" and _OP_RE.match(op) is None):
            raise InvalidArgumentError(f"not a search key name: {op!r}")
        args = self.args
        if not isinstance(args, tuple):
            raise InvalidArgumentError("search key arguments must be a tuple")
        for a in args:
            if isinstance(a, bool) or not isinstance(a, _ARG_TYPES):
                raise InvalidArgumentError(f"not a search key argument: {type(a).__name__}")
            if isinstance(a, int) and a < 0:
                raise InvalidArgumentError(f"search key numbers are non-negative, not {a}")
        if op == "AND" and not args:
            raise InvalidArgumentError("an AND of no keys")
        if op == "SET" and (
            len(args) != 1 or not isinstance(args[0], (SeqSet, UIDSet, LastSearch))
        ):
            raise InvalidArgumentError("a SET key holds exactly one message set")

    # --- combination --------------------------------------------------------

    def __and__(self, other: SearchKey) -> SearchKey:
        if not isinstance(other, SearchKey):
            return NotImplemented
        return and_(self, other)

    def __or__(self, other: SearchKey) -> SearchKey:
        if not isinstance(other, SearchKey):
            return NotImplemented
        return or_(self, other)

    def __invert__(self) -> SearchKey:
        return not_(self)

    # --- what the key touches -----------------------------------------------

    def walk(self) -> Iterator[SearchKey]:
        """This key and every key nested in it, depth first."""
        yield self
        for a in self.args:
            if isinstance(a, SearchKey):
                yield from a.walk()

    def flags_read(self) -> frozenset[Flag]:
        """The flags whose values decide the result (``KEYWORD`` flags included)."""
        out: set[Flag] = set()
        for k in self.walk():
            out.update(_FLAG_KEYS.get(k.op, ()))
            if k.op in ("KEYWORD", "UNKEYWORD"):
                flag = k.args[0]
                assert isinstance(flag, Flag)
                out.add(flag)
        return frozenset(out)

    @property
    def has_seq_set(self) -> bool:
        """True when a message sequence set appears (not ``UID``, not ``$``): the
        key then depends on message numbering (pipelining rule R2)."""
        return any(k.op == "SET" and isinstance(k.args[0], SeqSet) for k in self.walk())

    @property
    def uses_last_search(self) -> bool:
        """True when ``$`` (RFC 5182) appears, alone or as ``UID $``."""
        return any(
            k.op == "$" or (k.op in ("UID", "SET") and isinstance(k.args[0], LastSearch))
            for k in self.walk()
        )

    @property
    def reads_modseq(self) -> bool:
        """True for a ``MODSEQ`` key (RFC 7162 section 3.1.5)."""
        return any(k.op == "MODSEQ" for k in self.walk())

    def strings(self) -> Iterator[str]:
        """Every text argument (to choose ``CHARSET UTF-8`` when one is not ASCII)."""
        for k in self.walk():
            for a in k.args:
                if isinstance(a, str) and not isinstance(a, Flag):
                    yield a

    @property
    def is_ascii(self) -> bool:
        return all(s.isascii() for s in self.strings())


_ARG_TYPES: Final = (str, int, datetime.date, SeqSet, UIDSet, LastSearch, SearchKey, _Raw)


def _key(op: str) -> SearchKey:
    return SearchKey(op)


ALL: Final = _key("ALL")
ANSWERED: Final = _key("ANSWERED")
DELETED: Final = _key("DELETED")
DRAFT: Final = _key("DRAFT")
FLAGGED: Final = _key("FLAGGED")
NEW: Final = _key("NEW")
OLD: Final = _key("OLD")
RECENT: Final = _key("RECENT")
SEEN: Final = _key("SEEN")
UNANSWERED: Final = _key("UNANSWERED")
UNDELETED: Final = _key("UNDELETED")
UNDRAFT: Final = _key("UNDRAFT")
UNFLAGGED: Final = _key("UNFLAGGED")
UNSEEN: Final = _key("UNSEEN")


def _text(op: str, value: str) -> SearchKey:
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{op} takes a str, not {type(value).__name__}")
    return SearchKey(op, (value,))


def _date(op: str, value: datetime.date) -> SearchKey:
    # A datetime is a date too, but its time would be silently dropped.
    if isinstance(value, datetime.datetime) or not isinstance(value, datetime.date):
        raise InvalidArgumentError(f"{op} takes a datetime.date")
    return SearchKey(op, (value,))


def _number(op: str, value: int, maximum: int = _NUMBER_MAX) -> SearchKey:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise InvalidArgumentError(f"{op} takes an int in 0..{maximum}")
    return SearchKey(op, (value,))


def bcc(s: str) -> SearchKey:
    return _text("BCC", s)


def body(s: str) -> SearchKey:
    return _text("BODY", s)


def cc(s: str) -> SearchKey:
    return _text("CC", s)


def from_(s: str) -> SearchKey:
    return _text("FROM", s)


def subject(s: str) -> SearchKey:
    return _text("SUBJECT", s)


def text(s: str) -> SearchKey:
    return _text("TEXT", s)


def to(s: str) -> SearchKey:
    return _text("TO", s)


def header(field: str, value: str) -> SearchKey:
    """``HEADER field value``; an empty value matches every message with the field."""
    if not isinstance(field, str) or _FIELD_RE.match(field) is None:
        raise InvalidArgumentError(f"not a header field name: {field!r}")
    if not isinstance(value, str):
        raise InvalidArgumentError("HEADER takes a str value")
    return SearchKey("HEADER", (field, value))


def before(d: datetime.date) -> SearchKey:
    return _date("BEFORE", d)


def on(d: datetime.date) -> SearchKey:
    return _date("ON", d)


def since(d: datetime.date) -> SearchKey:
    return _date("SINCE", d)


def sentbefore(d: datetime.date) -> SearchKey:
    return _date("SENTBEFORE", d)


def senton(d: datetime.date) -> SearchKey:
    return _date("SENTON", d)


def sentsince(d: datetime.date) -> SearchKey:
    return _date("SENTSINCE", d)


def keyword(flag: Flag | str) -> SearchKey:
    f = Flag(flag)
    if f.is_system:
        raise InvalidArgumentError(f"KEYWORD takes a keyword, not the system flag {f}")
    return SearchKey("KEYWORD", (f,))


def unkeyword(flag: Flag | str) -> SearchKey:
    f = Flag(flag)
    if f.is_system:
        raise InvalidArgumentError(f"UNKEYWORD takes a keyword, not the system flag {f}")
    return SearchKey("UNKEYWORD", (f,))


def larger(n: int) -> SearchKey:
    return _number("LARGER", n)


def smaller(n: int) -> SearchKey:
    return _number("SMALLER", n)


def younger(seconds: int) -> SearchKey:
    """``YOUNGER`` (RFC 5032 WITHIN)."""
    return _number("YOUNGER", seconds, 0xFFFFFFFF)


def older(seconds: int) -> SearchKey:
    """``OLDER`` (RFC 5032 WITHIN)."""
    return _number("OLDER", seconds, 0xFFFFFFFF)


def uid(uids: UIDSet | LastSearch) -> SearchKey:
    """``UID set`` (a :class:`UIDSet`, or ``$``)."""
    if not isinstance(uids, (UIDSet, LastSearch)):
        raise InvalidArgumentError("the UID search key takes a UIDSet (or LAST_SEARCH)")
    return SearchKey("UID", (uids,))


def messages(seqs: SeqSet | LastSearch) -> SearchKey:
    """A bare sequence set (``1:5``) or ``$`` as a search key."""
    if isinstance(seqs, LastSearch):
        return SearchKey("$")
    if not isinstance(seqs, SeqSet):
        raise InvalidArgumentError("a message-set search key takes a SeqSet (or LAST_SEARCH)")
    return SearchKey("SET", (seqs,))


def modseq(value: ModSeq | int, entry: tuple[Flag | str, str] | None = None) -> SearchKey:
    """``MODSEQ [entry-name entry-type] value`` (RFC 7162 section 3.1.5).

    ``entry`` is ``(flag, "priv" | "shared" | "all")``; the entry name is sent as
    the quoted string ``"/flags/<flag>"``.
    """
    v = ModSeq(value)
    if entry is None:
        return SearchKey("MODSEQ", (v,))
    flag, kind = entry
    f = Flag(flag)
    if kind not in ("priv", "shared", "all"):
        raise InvalidArgumentError("MODSEQ entry type must be priv, shared or all")
    # entry-flag-name is always a quoted string (RFC 7162 section 7); a flag has
    # no quote, only the backslash of a system flag needs escaping.
    quoted = '"/flags/' + f.replace("\\", "\\\\") + '"'
    return SearchKey("MODSEQ", (_Raw(quoted), _Raw(kind), v))


def emailid(objectid: str) -> SearchKey:
    """``EMAILID`` (RFC 8474 section 6)."""
    if not isinstance(objectid, str) or _OBJECTID_RE.match(objectid) is None:
        raise InvalidArgumentError(f"not an object id: {objectid!r}")
    return SearchKey("EMAILID", (_Raw(objectid),))


def threadid(objectid: str) -> SearchKey:
    """``THREADID`` (RFC 8474 section 6)."""
    if not isinstance(objectid, str) or _OBJECTID_RE.match(objectid) is None:
        raise InvalidArgumentError(f"not an object id: {objectid!r}")
    return SearchKey("THREADID", (_Raw(objectid),))


def _check_key(k: object) -> SearchKey:
    if not isinstance(k, SearchKey):
        raise InvalidArgumentError(f"expected a SearchKey, not {type(k).__name__}")
    return k


def not_(k: SearchKey) -> SearchKey:
    return SearchKey("NOT", (_check_key(k),))


def or_(a: SearchKey, b: SearchKey) -> SearchKey:
    return SearchKey("OR", (_check_key(a), _check_key(b)))


def and_(*keys: SearchKey) -> SearchKey:
    """All of ``keys`` (a parenthesized group; nested groups are flattened)."""
    flat: list[SearchArg] = []
    for k in keys:
        k = _check_key(k)
        if k.op == "AND":
            flat.extend(k.args)
        else:
            flat.append(k)
    if not flat:
        raise InvalidArgumentError("an AND of no keys")
    if len(flat) == 1:
        only = flat[0]
        assert isinstance(only, SearchKey)
        return only
    return SearchKey("AND", tuple(flat))
