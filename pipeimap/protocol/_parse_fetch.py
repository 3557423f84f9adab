"""FETCH responses: ``message-data = nz-number SP "FETCH" SP msg-att`` (RFC 9051 section 7.5.2).

Item names are normalized so that a router can match response items against
request items with the same function (:func:`normalize_fetch_item_name`).

Tolerated: items after the closing parenthesis (Xeams, paperless-ngx #13412)
and extra ``UID nn FLAGS (...)`` at the end of a line (Office 365 / Exchange,
qnikst/HaskellNet #15) are ordinary items here; repeated items keep the last
value; lowercase item names; a missing space (``FLAGS (\\Seen)UID 5``).
A FETCH without the item that was asked for (iCloud answering ``RFC822``
without an RFC822 item, mjs/imapclient #465) parses fine: finding the gap is
the router's job.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Final

from ._bodystructure import generic, parse_body, parse_envelope
from ._codes import parse_flag
from ._lexer import GrammarError as FetchError
from ._lexer import Value, text
from ._responses import FetchItems, StreamedLiteral
from ._types import UID, ModSeq

__all__ = ["BODY_LITERAL_ITEM", "convert_msg_att", "normalize_fetch_item_name"]

# re.ASCII: in a str pattern \s and \d would also match Unicode spaces and digits
# (U+0661 ARABIC-INDIC DIGIT ONE, which int() reads as 1); only ASCII counts on the wire.
_SECTION_TOKEN: Final = re.compile(r'[()]|"[^"\\]*(?:\\.[^"\\]*)*"|[^\s()"]+', re.ASCII)
_PARTIAL: Final = re.compile(r"<\s*([0-9]+)(?:\s*\.\s*[0-9]+)?\s*>", re.ASCII)

# A body item name right before a literal announcement (used by the framer to
# decide whether to stream; checked on the text just before ``{n}``).
# A section holds no bracket, so "[^][]" keeps a match from starting at an earlier
# "BODY[" inside a quoted string (a BODYSTRUCTURE's "BODY[" encoding), and the
# name must start a token.
BODY_LITERAL_ITEM: Final = re.compile(
    rb"(?i)(?<![^\s(])"
    rb"((?:BODY|BINARY)(?:\.PEEK)?\[[^\]\[]*\](?:<[0-9.]+>)?|RFC822(?:\.HEADER|\.TEXT)?) *\Z"
)


_ASCII_UPPER: Final = {c: c - 32 for c in range(ord("a"), ord("z") + 1)}


def _ascii_upper_name(s: str) -> str:
    return " ".join(s.translate(_ASCII_UPPER).split())


@lru_cache(maxsize=2048)
def normalize_fetch_item_name(name: str) -> str:
    """Return the canonical form of a FETCH data item name.

    Used on response item names (keys of :class:`FetchItems`) and, by the
    router, on request item names, so that both sides compare equal:

    * uppercase everything (header field names are case-insensitive);
    * ``BODY.PEEK[x]`` -> ``BODY[x]``, ``BINARY.PEEK[x]`` -> ``BINARY[x]``
      (responses never carry ``.PEEK``);
    * a partial ``<origin.length>`` -> ``<origin>`` (responses carry only
      the origin, RFC 9051 section 7.5.2);
    * inside the section, whitespace collapsed to single spaces, one space
      before ``(``, none after ``(`` or before ``)``, and quoted header field
      names unquoted: ``body.peek[header.fields ( "Subject"  from)]<0.100>``
      -> ``BODY[HEADER.FIELDS (SUBJECT FROM)]<0>``.

    Names without a section are just uppercased (``rfc822.size`` ->
    ``RFC822.SIZE``); unknown names (``X-GM-LABELS``) are kept otherwise.
    """
    s = name.strip()
    if not s.isascii():
        # Unicode case mapping would turn U+017F (long s) into "S" and U+FB02 into "FL":
        # uppercase ASCII letters only, so such a name never equals a real one.
        return _ascii_upper_name(s)
    bracket = s.find("[")
    if bracket < 0:
        return " ".join(s.upper().split())
    close = s.rfind("]")
    if close < bracket:
        return s.upper()
    head = s[:bracket].upper().strip()
    if head.endswith(".PEEK"):
        head = head[:-5]
    out: list[str] = []
    for tok in _SECTION_TOKEN.findall(s[bracket + 1 : close]):
        if tok == "(":
            out.append(" (" if out else "(")
        elif tok == ")":
            out.append(")")
        else:
            if tok[0] == '"':
                tok = re.sub(r"\\(.)", r"\1", tok[1:-1])
            word = tok.upper()
            if out and out[-1][-1:] != "(":
                out.append(" ")
            out.append(word)
    tail = s[close + 1 :].strip()
    m = _PARTIAL.fullmatch(tail)
    tail = f"<{int(m.group(1))}>" if m is not None else tail.upper()
    return f"{head}[{''.join(out)}]{tail}"


def _number(v: Value, rule: str) -> int:
    if v.__class__ is str and v.isdigit() and v.isascii() and len(v) <= 20:
        return int(v)
    raise FetchError(rule, f"expected a number, got {v!r:.40}")


def _uid(v: Value) -> UID:
    # (_number inlined)
    if not (v.__class__ is str and v.isdigit() and v.isascii() and len(v) <= 20):
        raise FetchError("uniqueid", f"expected a number, got {v!r:.40}")
    n = int(v)
    if not 1 <= n <= 0xFFFFFFFF:
        raise FetchError("uniqueid", f"UID out of range: {n}")
    return _int_new(UID, n)  # range checked just above; skips UID.__new__'s check


_int_new: Final = int.__new__


def _flags(v: Value) -> tuple[object, ...]:
    if v.__class__ is not list:
        raise FetchError("flag-fetch", "FLAGS needs a list")
    # A mailbox has few distinct flag lists ("\Seen", "\Seen \Answered"...):
    # the built tuple is immutable, so equal lists share it (bounded cache).
    key = tuple(v)
    try:
        cached = _FLAG_TUPLES.get(key)
    except TypeError:  # a nested list: refused below
        cached = None
    if cached is not None:
        return cached
    try:
        flags = tuple([parse_flag(f) for f in key])
    except ValueError:
        raise FetchError("flag-fetch", f"bad flag in {v!r:.60}") from None
    if len(_FLAG_TUPLES) >= 1024:
        _FLAG_TUPLES.clear()
    _FLAG_TUPLES[key] = flags
    return flags


_FLAG_TUPLES: dict[tuple[Value, ...], tuple[object, ...]] = {}


_MONTHS: Final = {
    m: i + 1
    for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    )
}
_DATE_TIME: Final = re.compile(
    # [0-9], not \d: \d matches every Unicode digit, and int() reads them all.
    r" ?([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})\Z"
)
_ZONES: dict[str, timezone] = {}


def _internaldate(v: Value) -> datetime:
    """``date-time`` (RFC 9051 section 9) -> aware datetime."""
    m = _DATE_TIME.match(v) if v.__class__ is str else None
    if m is None:
        raise FetchError("date-time", f"bad INTERNALDATE {v!r:.40}")
    day, mon, year, hh, mm, ss, sign, zh, zm = m.groups()
    month = _MONTHS.get(mon.upper())
    if month is None:
        raise FetchError("date-month", f"bad month {mon!r}")
    zkey = sign + zh + zm
    tz = _ZONES.get(zkey)
    if tz is None:
        offset = timedelta(hours=int(zh), minutes=int(zm))
        try:
            tz = timezone(-offset if sign == "-" else offset)
        except ValueError:
            raise FetchError("zone", f"bad zone {zkey!r}") from None
        _ZONES[zkey] = tz
    try:
        return datetime(int(year), month, int(day), int(hh), int(mm), int(ss), tzinfo=tz)
    except ValueError as exc:
        raise FetchError("date-time", f"bad INTERNALDATE {v!r:.40}: {exc}") from None


def _section_value(v: Value) -> bytes | StreamedLiteral | None:
    cls = v.__class__
    if cls is bytes or v is None or cls is StreamedLiteral:
        return v  # type: ignore[return-value]
    if cls is str:
        return v.encode("utf-8", "surrogateescape")  # type: ignore[union-attr]
    raise FetchError("nstring", "a body section is a string, a literal or NIL")


def _one(v: Value, rule: str) -> Value:
    # "(" value ")" items: MODSEQ (n), EMAILID (id), THREADID (id) / NIL
    if isinstance(v, list) and len(v) == 1:
        return v[0]
    raise FetchError(rule, f"expected a one-element list, got {v!r:.40}")


def _modseq(v: Value) -> ModSeq:
    n = _number(_one(v, "fetch-mod-resp"), "mod-sequence-value")
    if n > 0x7FFFFFFFFFFFFFFF:
        raise FetchError("mod-sequence-value", "MODSEQ out of range")
    return ModSeq(n)


def _objectid(v: Value) -> str:
    x = _one(v, "objectid")
    if x.__class__ is not str:
        raise FetchError("objectid", "EMAILID needs an atom")
    return x


def _threadid(v: Value) -> str | None:
    if v is None:
        return None
    return _objectid(v)


def _size(v: Value) -> int:
    # (_number inlined)
    if v.__class__ is str and v.isdigit() and v.isascii() and len(v) <= 20:
        return int(v)
    raise FetchError("msg-att-static", f"expected a number, got {v!r:.40}")


_HANDLERS: Final[dict[str, tuple[str, Callable[[Value], object]]]] = {
    "UID": ("UID", _uid),
    "FLAGS": ("FLAGS", _flags),
    "INTERNALDATE": ("INTERNALDATE", _internaldate),
    "RFC822.SIZE": ("RFC822.SIZE", _size),
    "ENVELOPE": ("ENVELOPE", parse_envelope),
    "BODYSTRUCTURE": ("BODYSTRUCTURE", parse_body),
    "BODY": ("BODY", parse_body),
    "RFC822": ("RFC822", _section_value),
    "RFC822.HEADER": ("RFC822.HEADER", _section_value),
    "RFC822.TEXT": ("RFC822.TEXT", _section_value),
    "MODSEQ": ("MODSEQ", _modseq),
    "EMAILID": ("EMAILID", _objectid),
    "THREADID": ("THREADID", _threadid),
}
for _k, _h in list(_HANDLERS.items()):
    _HANDLERS[_k.lower()] = _h


# Body section item names as sent (``BODY[]``, ``BODY[HEADER]<0>``) -> (normalized
# name, converter); bounded (cleared when full), keyed by the exact text.
_SECTIONS: dict[str, tuple[str, Callable[[Value], object]]] = {}


def convert_msg_att(tokens: list[Value]) -> FetchItems:
    """Convert ``msg-att`` items (name, value, name, value...) into FetchItems."""
    out: dict[str, object] = {}
    handlers = _HANDLERS
    it = iter(tokens)
    for name, value in zip(it, it, strict=False):  # (name, value) pairs, paired in C
        if name.__class__ is not str:
            raise FetchError("msg-att", f"expected an item name, got {name!r:.40}")
        h = handlers.get(name)
        if h is not None:
            out[h[0]] = h[1](value)
            continue
        h = _SECTIONS.get(name)
        if h is not None:  # a body section name seen before ("BODY[]"): no normalizing
            out[h[0]] = h[1](value)
            continue
        key = normalize_fetch_item_name(name)
        h = handlers.get(key)
        if h is not None:
            out[h[0]] = h[1](value)
        elif "[" in key:
            if key.startswith("BINARY.SIZE["):
                out[key] = _number(value, "msg-att-static")
            elif key.startswith(("BODY[", "BINARY[")):
                out[key] = _section_value(value)
                if len(_SECTIONS) >= 256:
                    _SECTIONS.clear()
                _SECTIONS[name] = (key, _section_value)
            else:
                out[key] = generic(value)
        else:
            if not key or key[0] in "<>":
                raise FetchError("msg-att", f"bad item name {name!r:.40}")
            out[text(key)] = generic(value)
    if len(tokens) & 1:  # a name without a value at the end
        name = tokens[-1]
        if name.__class__ is not str:
            raise FetchError("msg-att", f"expected an item name, got {name!r:.40}")
        raise FetchError("msg-att", f"item {name!r:.40} has no value")
    items = _new(FetchItems)  # FetchItems(out) without running its __init__
    _set_d(items, out)
    return items


_new: Final = object.__new__
_set_d: Final = vars(FetchItems)["_d"].__set__
