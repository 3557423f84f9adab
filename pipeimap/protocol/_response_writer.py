"""The server side of the wire: typed responses back to bytes (RFC 9051 section 7).

:func:`encode_response` is the inverse of :class:`~pipeimap.protocol.ResponseParser`:
for every value ``x`` it accepts, ``ResponseParser`` turns ``encode_response(x)``
back into ``x``.  It serves the round-trip tests and the scripted test server,
so it is sans-IO and refuses (with :class:`~pipeimap.errors.InvalidArgumentError`)
rather than guesses when a value has no wire form that parses back to it.

Theory of operation: each value goes out in the narrowest form its grammar rule
allows that still carries it intact.

* ``astring`` (mailbox names, quota roots): an atom when it is one and is not
  ``NIL``, else a string.
* ``string``/``nstring`` (envelope fields, body fields, ID values): a quoted
  string when every character is printable ASCII (or, with ``utf8``, valid
  non-control UTF-8 as RFC 9051 section 4.3 allows), else a literal -- so CR,
  LF, NUL and 8-bit text can never break the line.  A literal parses back as
  bytes where the parser keeps bytes (body sections) and as text elsewhere.
* Generic values (unknown FETCH items, unknown response codes' neighbours,
  ``UnknownResponse`` data, ``other`` maps) keep their Python type across the
  round trip: ``str`` is an atom or a quoted string (a ``str`` that needs a
  literal cannot come back as ``str``, so it is refused), ``bytes`` a literal,
  ``None`` NIL, a tuple a parenthesized list.
* Mailbox names are modified UTF-7 (RFC 3501 section 5.1.3) unless ``utf8``
  (``UTF8=ACCEPT`` enabled, RFC 9051 section 6.3.1): then raw UTF-8.  When a
  response carries ``mailbox_raw`` and it decodes to ``mailbox``, the raw
  spelling is reused, so a name the server sent in a legal but unusual form
  (``inbox``) goes out unchanged.
* Response codes: a code's ``raw`` argument bytes are authoritative (they keep
  what the typed fields normalize away: the order of a COPYUID set, the case
  of capability names); only a code with empty ``raw`` is written from its
  typed fields.
* BINARY sections are written as ``literal8`` (RFC 3516 section 4.2).

Streamed FETCH literals (:class:`FetchLiteralStarted`, chunks, ended, and the
:class:`StreamedLiteral` marker in the FETCH that follows) only make sense as a
sequence: :func:`encode_responses` reassembles them.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Final

from ..errors import InvalidArgumentError
from ._codes import (
    AppendUidCode,
    BadCharsetCode,
    CapabilityCode,
    CopyUidCode,
    NumberCode,
    PermanentFlagsCode,
    ResponseCode,
)
from ._mutf7 import decode_mutf7, encode_mutf7
from ._responses import (
    Address,
    BodyPart,
    CapabilityResponse,
    ContinuationRequest,
    Disposition,
    EnabledResponse,
    Envelope,
    ESearchResponse,
    Event,
    ExistsResponse,
    ExpungeResponse,
    FetchItems,
    FetchLiteralChunk,
    FetchLiteralEnded,
    FetchLiteralStarted,
    FetchResponse,
    FlagsResponse,
    Greeting,
    IdResponse,
    ListResponse,
    MailboxStatusResponse,
    MultipartBody,
    Namespace,
    NamespaceResponse,
    QuotaResponse,
    QuotaRootResponse,
    RecentResponse,
    SearchResponse,
    SortResponse,
    StreamedLiteral,
    TaggedResponse,
    ThreadNode,
    ThreadResponse,
    UnknownResponse,
    UntaggedStatus,
    VanishedResponse,
)
from ._seqset import SeqSet, UIDSet

__all__ = ["encode_response", "encode_response_code", "encode_responses"]

CRLF: Final = b"\r\n"
_NZ_MAX: Final = 0xFFFFFFFF
_MODSEQ_MAX: Final = 0x7FFFFFFFFFFFFFFF

# ATOM-CHAR (RFC 9051 section 9) minus what the parser's lexer reads specially
# inside a token ("[" opens a section, "]" closes one): a conservative atom.
_ATOM: Final = re.compile(rb"[A-Za-z0-9!#$&'+,\-./:;<=>?@^_`|}~]+\Z")
# A flag or mailbox attribute: an atom with an optional leading backslash,
# plus "\*" (PERMANENTFLAGS).  "]" is allowed inside (servers send it, the
# parser keeps it) but never first.
_FLAG: Final = re.compile(
    rb"(?:\\\*|\\?[A-Za-z0-9!#$&'+,\-./:;<=>?@^_`|}~][^\x00-\x20()\"{\\\x7f-\xff%*\[]*)\Z"
)
_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9.\-_=]*\Z")
_CODE_NAME: Final = re.compile(r"[!#$&'+,\-./0-9:;<=>?@A-Z^_`|}~]+\Z")
_TAG: Final = re.compile(rb"[!#$&',\-./0-9:;<=>?@A-Z^_`a-z|}~\[\]]+\Z")
_STATUS: Final = frozenset(("OK", "NO", "BAD", "BYE", "PREAUTH"))
_MONTHS: Final = [
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
]


def _bad(detail: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"cannot encode response: {detail}")


def _b(s: str) -> bytes:
    try:
        return s.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise _bad(f"lone surrogate in {s[:40]!r}") from None


def _is_nil_like(data: bytes) -> bool:
    # The lexer reads NIL in any of these spellings as NIL, not as an atom.
    return data.upper() == b"NIL"


# --- strings (RFC 9051 section 4.3) -------------------------------------------------


def _quotable(data: bytes, utf8: bool) -> bool:
    if all(0x20 <= c <= 0x7E for c in data):
        return True
    if not utf8 or any(c < 0x20 or c == 0x7F for c in data):
        return False
    try:
        data.decode("utf-8")  # strict: no 8-bit junk in a quoted string
    except UnicodeDecodeError:
        return False
    return True


def _quoted(data: bytes) -> bytes:
    return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def literal(data: bytes) -> bytes:
    """``literal = "{" number "}" CRLF *CHAR8`` (RFC 9051 section 4.3)."""
    return b"{%d}\r\n" % len(data) + data


def literal8(data: bytes) -> bytes:
    """``literal8 = "~{" number "}" CRLF *OCTET`` (RFC 3516 section 4.2)."""
    return b"~{%d}\r\n" % len(data) + data


def string(value: str | bytes, *, utf8: bool = False) -> bytes:
    """``string``: quoted when that is safe, else a literal."""
    data = _b(value) if isinstance(value, str) else value
    if _quotable(data, utf8):
        return _quoted(data)
    return literal(data)


def nstring(value: str | bytes | None, *, utf8: bool = False) -> bytes:
    """``nstring = string / nil``."""
    return b"NIL" if value is None else string(value, utf8=utf8)


def astring(value: str | bytes, *, utf8: bool = False) -> bytes:
    """``astring = 1*ASTRING-CHAR / string``; never the atom ``NIL``."""
    data = _b(value) if isinstance(value, str) else value
    if _ATOM.match(data) and not _is_nil_like(data):
        return data
    return string(data, utf8=utf8)


def _atom(value: str, what: str) -> bytes:
    data = _b(value)
    if not _ATOM.match(data) or _is_nil_like(data):
        raise _bad(f"{what} {value[:40]!r} is not an atom")
    return data


def _flag(value: str, what: str = "flag") -> bytes:
    data = _b(value)
    if not _FLAG.match(data) or _is_nil_like(data):
        raise _bad(f"{what} {value[:40]!r} is not an atom")
    return data


def _number(value: int, what: str, *, lo: int = 0, hi: int = _MODSEQ_MAX) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _bad(f"{what} {value!r} is not a number in {lo}..{hi}")
    return b"%d" % value


def _nz(value: int, what: str) -> bytes:
    return _number(value, what, lo=1, hi=_NZ_MAX)


def generic(value: object) -> bytes:
    """A generic value (``str``, ``bytes``, ``None``, int or nested tuples) so that it
    parses back with the same Python type: ``str`` as an atom or quoted string,
    ``bytes`` as a literal."""
    if value is None:
        return b"NIL"
    if isinstance(value, bytes):
        return literal(value)
    if isinstance(value, str):
        data = _b(value)
        if _ATOM.match(data) and not _is_nil_like(data):
            return data
        # 8-bit text in a quoted string is tolerated by every parser that keeps text
        # as text (RFC 9051 allows UTF-8 there); controls cannot go in quotes, and a
        # literal would come back as bytes, so such a str has no faithful form.
        if any(c < 0x20 or c == 0x7F for c in data):
            raise _bad(f"generic text {value[:40]!r} holds a control character")
        return _quoted(data)
    if isinstance(value, bool):
        raise _bad(f"cannot encode {value!r}")
    if isinstance(value, int):
        return _number(value, "number")
    if isinstance(value, (tuple, list)):
        return b"(" + b" ".join(generic(v) for v in value) + b")"
    raise _bad(f"cannot encode a {type(value).__name__} as a generic value")


# --- mailbox names --------------------------------------------------------------


def _decodes_to(raw: bytes, name: str, utf8: bool) -> bool:
    """Does the parser read ``raw`` as ``name``?  (Mirrors ``mailbox_name``.)"""
    if raw.upper() == b"INBOX":
        return name == "INBOX"
    if not utf8:
        try:
            return decode_mutf7(raw) == name
        except ValueError:
            pass
    return raw.decode("utf-8", "surrogateescape") == name


def mailbox(name: str, raw: bytes = b"", *, utf8: bool = False) -> bytes:
    """A mailbox name as an ``astring``: modified UTF-7 unless ``utf8``."""
    if raw and _decodes_to(raw, name, utf8):
        wire = raw
    elif utf8:
        wire = _b(name)
    else:
        wire = encode_mutf7(name)
    if not _decodes_to(wire, name, utf8):
        # e.g. "inbox": the parser reports any case of INBOX as "INBOX".
        raise _bad(f"mailbox name {name[:40]!r} does not survive the round trip")
    return astring(wire, utf8=utf8)


# --- response codes and resp-text -----------------------------------------------


def _check_code_args(raw: bytes) -> None:
    if b"\r" in raw or b"\n" in raw or b"\x00" in raw:
        raise _bad("a response code's arguments hold CR, LF or NUL")
    depth = 0
    in_quote = False
    escaped = False
    for c in raw:
        if in_quote:
            if escaped:
                escaped = False
            elif c == 0x5C:
                escaped = True
            elif c == 0x22:
                in_quote = False
        elif c == 0x22:
            in_quote = True
        elif c == 0x28:
            depth += 1
        elif c == 0x29:
            depth -= 1
            if depth < 0:
                break
        elif c == 0x5D and depth == 0:
            raise _bad("a ']' in a response code's arguments would end the code")
    if depth != 0 or in_quote:
        raise _bad("unbalanced parentheses or quotes in a response code's arguments")


def _code_args(code: ResponseCode) -> bytes:
    if code.raw:
        return code.raw
    if isinstance(code, CapabilityCode):
        return b" ".join(_atom(c, "capability") for c in code.capabilities)
    if isinstance(code, PermanentFlagsCode):
        return b"(" + b" ".join(_flag(f) for f in code.flags) + b")"
    if isinstance(code, BadCharsetCode):
        if not code.charsets:
            return b""
        return b"(" + b" ".join(astring(c) for c in code.charsets) + b")"
    if isinstance(code, NumberCode):
        return _number(code.value, code.name)
    if isinstance(code, AppendUidCode):
        return _nz(code.uidvalidity, "uidvalidity") + b" " + code.uids.to_bytes()
    if isinstance(code, CopyUidCode):
        return b"%s %s %s" % (
            _nz(code.uidvalidity, "uidvalidity"),
            code.source_uids.to_bytes(),
            code.dest_uids.to_bytes(),
        )
    return b""


def encode_response_code(code: ResponseCode) -> bytes:
    """``"[" resp-text-code "]"`` (RFC 9051 section 7.1)."""
    name = code.name
    if not _CODE_NAME.match(name):
        raise _bad(f"response code name {name[:40]!r} is not an uppercase atom")
    args = _code_args(code)
    _check_code_args(args)
    if args.startswith(b" ") or args.endswith(b" "):
        raise _bad("a response code's arguments start or end with a space")
    return b"[" + name.encode("ascii") + (b" " + args if args else b"") + b"]"


def _text(value: str, code: ResponseCode | None) -> bytes:
    data = _b(value)
    if b"\r" in data or b"\n" in data or b"\x00" in data:
        raise _bad("response text holds CR, LF or NUL")
    if data.startswith(b" "):
        raise _bad("response text starts with a space (the parser drops it)")
    if code is None and data.startswith(b"["):
        raise _bad("response text starts with '[' but has no response code")
    return data


def resp_text(code: ResponseCode | None, text: str) -> bytes:
    """``resp-text = ["[" resp-text-code "]" SP] [text]``."""
    body = _text(text, code)
    if code is None:
        return body
    return encode_response_code(code) + b" " + body


def _status(
    head: bytes, status: str, allowed: Iterable[str], code: ResponseCode | None, text: str
) -> bytes:
    if status not in allowed:
        raise _bad(f"status {status!r} is not one of {sorted(allowed)}")
    return head + status.encode("ascii") + b" " + resp_text(code, text) + CRLF


# --- FETCH values (RFC 9051 section 7.5.2) --------------------------------------


def _addresses(addrs: tuple[Address, ...], utf8: bool) -> bytes:
    if not addrs:
        return b"NIL"
    return (
        b"("
        + b"".join(
            b"(%s %s %s %s)"
            % (
                nstring(a.name, utf8=utf8),
                nstring(a.adl, utf8=utf8),
                nstring(a.mailbox, utf8=utf8),
                nstring(a.host, utf8=utf8),
            )
            for a in addrs
        )
        + b")"
    )


def envelope(env: Envelope, *, utf8: bool = False) -> bytes:
    """``envelope`` (RFC 9051 section 9)."""
    return (
        b"("
        + b" ".join(
            (
                nstring(env.date, utf8=utf8),
                nstring(env.subject, utf8=utf8),
                _addresses(env.from_, utf8),
                _addresses(env.sender, utf8),
                _addresses(env.reply_to, utf8),
                _addresses(env.to, utf8),
                _addresses(env.cc, utf8),
                _addresses(env.bcc, utf8),
                nstring(env.in_reply_to, utf8=utf8),
                nstring(env.message_id, utf8=utf8),
            )
        )
        + b")"
    )


def _params(params: tuple[tuple[str, str], ...], utf8: bool) -> bytes:
    if not params:
        return b"NIL"
    return (
        b"("
        + b" ".join(string(k, utf8=utf8) + b" " + string(v, utf8=utf8) for k, v in params)
        + b")"
    )


def _disposition(dsp: Disposition | None, utf8: bool) -> bytes:
    if dsp is None:
        return b"NIL"
    return b"(" + string(dsp.type, utf8=utf8) + b" " + _params(dsp.params, utf8) + b")"


def _language(lang: tuple[str, ...] | None, utf8: bool) -> bytes:
    if lang is None:
        return b"NIL"
    if any(s == "" for s in lang):
        raise _bad("an empty body language tag does not survive the round trip")
    return b"(" + b" ".join(string(s, utf8=utf8) for s in lang) + b")"


def _extension_fields(
    fields: list[bytes], present: list[bool], extensions: tuple[object, ...]
) -> list[bytes]:
    """The extension data, up to the last field that carries something."""
    last = (
        len(fields) if extensions else max((i + 1 for i, p in enumerate(present) if p), default=0)
    )
    out = fields[:last]
    if extensions:
        out.extend(generic(x) for x in extensions)
    return out


def _bodypart(part: BodyPart, utf8: bool) -> bytes:
    if not part.type or not part.subtype:
        raise _bad("a body part needs a type and a subtype")
    out = [
        string(part.type, utf8=utf8),
        string(part.subtype, utf8=utf8),
        _params(part.params, utf8),
        nstring(part.id, utf8=utf8),
        nstring(part.description, utf8=utf8),
        nstring(part.encoding, utf8=utf8),
        b"NIL" if part.size is None else _number(part.size, "body size"),
    ]
    mtype = part.type.upper()
    is_msg = mtype == "MESSAGE" and part.subtype.upper() in ("RFC822", "GLOBAL")
    if part.envelope is not None or part.body is not None:
        if not is_msg or part.envelope is None or part.body is None:
            raise _bad("envelope and body go together, in message/rfc822 parts only")
        out.append(envelope(part.envelope, utf8=utf8))
        out.append(body(part.body, utf8=utf8))
        out.append(b"NIL" if part.lines is None else _number(part.lines, "body lines"))
    elif mtype == "TEXT":
        has_ext = (
            part.md5 is not None
            or part.disposition is not None
            or part.language is not None
            or part.location is not None
            or bool(part.extensions)
        )
        if part.lines is not None or has_ext:
            out.append(b"NIL" if part.lines is None else _number(part.lines, "body lines"))
    elif part.lines is not None:
        raise _bad(f"a {part.type}/{part.subtype} part carries no line count")
    out.extend(
        _extension_fields(
            [
                nstring(part.md5, utf8=utf8),
                _disposition(part.disposition, utf8),
                _language(part.language, utf8),
                nstring(part.location, utf8=utf8),
            ],
            [
                part.md5 is not None,
                part.disposition is not None,
                part.language is not None,
                part.location is not None,
            ],
            part.extensions,
        )
    )
    return b"(" + b" ".join(out) + b")"


def _multipart(mp: MultipartBody, utf8: bool) -> bytes:
    if not mp.parts:
        raise _bad("a multipart body needs at least one part")
    if not mp.subtype:
        raise _bad("a multipart body needs a subtype")
    head = b"".join(body(p, utf8=utf8) for p in mp.parts)
    out = [head, string(mp.subtype, utf8=utf8)]
    out.extend(
        _extension_fields(
            [
                _params(mp.params, utf8),
                _disposition(mp.disposition, utf8),
                _language(mp.language, utf8),
                nstring(mp.location, utf8=utf8),
            ],
            [
                bool(mp.params),
                mp.disposition is not None,
                mp.language is not None,
                mp.location is not None,
            ],
            mp.extensions,
        )
    )
    return b"(" + b" ".join(out) + b")"


def body(value: BodyPart | MultipartBody, *, utf8: bool = False) -> bytes:
    """``body`` (RFC 9051 section 9): BODY or BODYSTRUCTURE, extension data included
    when present."""
    if isinstance(value, MultipartBody):
        return _multipart(value, utf8)
    if isinstance(value, BodyPart):
        return _bodypart(value, utf8)
    raise _bad(f"not a body structure: {type(value).__name__}")


def date_time(value: datetime) -> bytes:
    """``date-time`` (RFC 9051 section 9): ``"dd-Mon-yyyy hh:mm:ss +zzzz"``."""
    offset = value.utcoffset()
    if offset is None:
        raise _bad("INTERNALDATE must be an aware datetime")
    if value.microsecond or offset % timedelta(minutes=1):
        raise _bad("INTERNALDATE has no sub-second or sub-minute-offset precision")
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return (
        f'"{value.day:2d}-{_MONTHS[value.month - 1]}-{value.year:04d} '
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d} "
        f'{sign}{minutes // 60:02d}{minutes % 60:02d}"'
    ).encode("ascii")


def _section_data(value: object, key: str, binary: bool) -> bytes:
    if value is None:
        return b"NIL"
    if isinstance(value, StreamedLiteral):
        raise _bad(f"{key} was streamed; encode the whole event sequence with encode_responses")
    if not isinstance(value, bytes):
        raise _bad(f"{key} must be bytes or None, not {type(value).__name__}")
    return literal8(value) if binary else literal(value)


def _fetch_item(key: str, value: object, utf8: bool) -> bytes:
    if key == "UID":
        return _nz(value, "UID")  # type: ignore[arg-type]
    if key == "FLAGS":
        if not isinstance(value, tuple):
            raise _bad("FLAGS must be a tuple of flags")
        return b"(" + b" ".join(_flag(f) for f in value) + b")"
    if key == "INTERNALDATE":
        if not isinstance(value, datetime):
            raise _bad("INTERNALDATE must be a datetime")
        return date_time(value)
    if key == "RFC822.SIZE" or key.startswith("BINARY.SIZE["):
        return _number(value, key)  # type: ignore[arg-type]
    if key == "ENVELOPE":
        if not isinstance(value, Envelope):
            raise _bad("ENVELOPE must be an Envelope")
        return envelope(value, utf8=utf8)
    if key in ("BODY", "BODYSTRUCTURE"):
        return body(value, utf8=utf8)  # type: ignore[arg-type]
    if key in ("RFC822", "RFC822.HEADER", "RFC822.TEXT") or key.startswith("BODY["):
        return _section_data(value, key, binary=False)
    if key.startswith("BINARY["):
        return _section_data(value, key, binary=True)
    if key == "MODSEQ":
        return b"(" + _number(value, "MODSEQ") + b")"  # type: ignore[arg-type]
    if key in ("EMAILID", "THREADID"):
        if value is None and key == "THREADID":
            return b"NIL"
        if not isinstance(value, str):
            raise _bad(f"{key} must be a str")
        return b"(" + _atom(value, key) + b")"
    return generic(value)


_ITEM_NAME: Final = re.compile(r"[A-Z0-9.\-_]+(?:\[[^\]\r\n\x00{}\"]*\](?:<[0-9]+>)?)?\Z")


def _fetch(event: FetchResponse, utf8: bool) -> bytes:
    items = event.items
    parts: list[bytes] = []
    if event.uid is not None and "UID" not in items:
        parts.append(b"UID " + _nz(event.uid, "UID"))
    elif event.uid is not None and items.get("UID") != event.uid:
        raise _bad("FetchResponse.uid and its UID item differ")
    for key, value in items.items():
        if not _ITEM_NAME.match(key) or key[0] in "<>":
            raise _bad(f"FETCH item name {key[:40]!r} is not a normalized item name")
        parts.append(key.encode("ascii") + b" " + _fetch_item(key, value, utf8))
    return b"* %s FETCH (%s)\r\n" % (_nz(event.seq, "sequence number"), b" ".join(parts))


# --- other untagged data --------------------------------------------------------


def _thread_node(node: ThreadNode) -> bytes:
    """One ``thread-list`` from its root.  A chain of single replies is written
    inline (``(1 2 3)``), several replies as branches (``(1 (2)(3))``); a
    placeholder (``number is None``) has no number of its own, so it always
    gets its own parentheses."""
    out: list[bytes] = []
    cur: ThreadNode | None = node
    while cur is not None:
        if cur.number is None:
            if cur is not node:
                out.append(b"(" + _thread_node(cur) + b")")
                break
            out.append(b"".join(b"(" + _thread_node(c) + b")" for c in cur.children))
            break
        if out:
            out.append(b" ")
        out.append(_nz(cur.number, "thread member"))
        if len(cur.children) == 1:
            cur = cur.children[0]
            if cur.number is None:
                out.append(b" ")
                continue
        else:
            if cur.children:
                out.append(b" ")
                out.append(b"".join(b"(" + _thread_node(c) + b")" for c in cur.children))
            cur = None
    return b"".join(out)


def _namespaces(value: tuple[Namespace, ...] | None, utf8: bool) -> bytes:
    if value is None:
        return b"NIL"
    if not value:
        raise _bad("an empty namespace list is written NIL")
    out = []
    for ns in value:
        fields = [string(ns.prefix, utf8=utf8), nstring(ns.delimiter, utf8=utf8)]
        for name, values in ns.extensions.items():
            fields.append(string(name, utf8=utf8))
            fields.append(b"(" + b" ".join(string(v, utf8=utf8) for v in values) + b")")
        out.append(b"(" + b" ".join(fields) + b")")
    return b"(" + b"".join(out) + b")"


def _list(event: ListResponse, utf8: bool) -> bytes:
    if event.kind not in ("LIST", "LSUB", "XLIST"):
        raise _bad(f"not a LIST kind: {event.kind!r}")
    attrs = b" ".join(_flag(a, "mailbox attribute") for a in event.attributes)
    delim = nstring(event.delimiter, utf8=utf8)
    line = b"* %s (%s) %s %s" % (
        event.kind.encode("ascii"),
        attrs,
        delim,
        mailbox(event.mailbox, event.mailbox_raw, utf8=utf8),
    )
    if event.extended:
        items = []
        for tag, value in event.extended.items():
            if tag == "OLDNAME" and isinstance(value, tuple) and len(value) == 1:
                data = b"(" + mailbox(str(value[0]), utf8=utf8) + b")"
            else:
                data = generic(value)
            items.append(_atom(tag, "LIST extended item tag") + b" " + data)
        line += b" (" + b" ".join(items) + b")"
    return line + CRLF


_STATUS_ITEMS: Final = (
    ("MESSAGES", "messages"),
    ("UIDNEXT", "uidnext"),
    ("UIDVALIDITY", "uidvalidity"),
    ("UNSEEN", "unseen"),
    ("RECENT", "recent"),
    ("DELETED", "deleted"),
    ("SIZE", "size"),
    ("HIGHESTMODSEQ", "highestmodseq"),
    ("APPENDLIMIT", "appendlimit"),
)


def _status_data(event: MailboxStatusResponse, utf8: bool) -> bytes:
    items: list[bytes] = []
    for name, attr in _STATUS_ITEMS:
        value = getattr(event, attr)
        if value is not None:
            items.append(name.encode("ascii") + b" " + _number(value, name))
    for name, value in event.other.items():
        if name in dict(_STATUS_ITEMS) and not (name == "APPENDLIMIT" and value is None):
            raise _bad(f"STATUS item {name} belongs in its field, not in other")
        if name == "APPENDLIMIT" and event.appendlimit is not None:
            raise _bad("APPENDLIMIT both in its field and in other")
        items.append(_atom(name, "STATUS item") + b" " + generic(value))
    return b"* STATUS %s (%s)\r\n" % (
        mailbox(event.mailbox, event.mailbox_raw, utf8=utf8),
        b" ".join(items),
    )


def _numbers(head: bytes, numbers: tuple[int, ...], modseq: int | None) -> bytes:
    out = [head] + [_nz(n, "number") for n in numbers]
    if modseq is not None:
        out.append(b"(MODSEQ " + _number(modseq, "MODSEQ") + b")")
    return b" ".join(out) + CRLF


def _all_ordered(found: UIDSet | SeqSet, ordered: tuple[tuple[int, int], ...] | None) -> bytes:
    """ESEARCH ``ALL`` in the order of ``all_ordered`` (ESORT, RFC 5267 section 3.1),
    which must name exactly the numbers of ``all``."""
    if ordered is None or not found.is_bounded:
        if ordered is not None:
            raise _bad("ESEARCH all_ordered with '*' in all")
        return found.to_bytes()
    if not ordered:
        raise _bad("ESEARCH all_ordered is empty")
    items = []
    for first, last in ordered:
        items.append(
            _nz(first, "ALL") if first == last else _nz(first, "ALL") + b":" + _nz(last, "ALL")
        )
    try:
        same = type(found)._from_ranges((min(a, b), max(a, b)) for a, b in ordered) == found
    except (TypeError, ValueError):
        same = False
    if not same:
        raise _bad("ESEARCH all_ordered does not name the numbers of all")
    return b",".join(items)


def _esearch(event: ESearchResponse) -> bytes:
    out = [b"* ESEARCH"]
    if event.tag is not None:
        out.append(b"(TAG " + string(event.tag) + b")")
    if event.uid:
        out.append(b"UID")
    if event.min is not None:
        out.append(b"MIN " + _nz(event.min, "MIN"))
    if event.max is not None:
        out.append(b"MAX " + _nz(event.max, "MAX"))
    if event.count is not None:
        out.append(b"COUNT " + _number(event.count, "COUNT"))
    if event.all is not None:
        out.append(b"ALL " + _all_ordered(event.all, event.all_ordered))
    elif event.all_ordered:
        raise _bad("ESEARCH all_ordered without all")
    if event.partial is not None:
        rng, found = event.partial
        out.append(
            b"PARTIAL ("
            + _atom(rng, "PARTIAL range")
            + b" "
            + (b"NIL" if found is None else found.to_bytes())
            + b")"
        )
    if event.modseq is not None:
        out.append(b"MODSEQ " + _number(event.modseq, "MODSEQ"))
    for name, value in event.other.items():
        if name in ("MIN", "MAX", "COUNT", "ALL", "PARTIAL", "MODSEQ", "UID"):
            raise _bad(f"ESEARCH item {name} belongs in its field, not in other")
        out.append(_atom(name, "ESEARCH item") + b" " + generic(value))
    return b" ".join(out) + CRLF


def _id(event: IdResponse) -> bytes:
    if event.params is None:
        return b"* ID NIL\r\n"
    fields = []
    for name, value in event.params.items():
        fields.append(string(name) + b" " + nstring(value))
    return b"* ID (" + b" ".join(fields) + b")\r\n"


def _unknown(event: UnknownResponse) -> bytes:
    name = event.name
    if not _NAME.match(name) or name != name.upper():
        raise _bad(f"response name {name[:40]!r} is not an uppercase atom")
    head = b"* "
    if event.number is not None:
        head += _number(event.number, "number", hi=9_999_999_999) + b" "
    elif name in _STATUS or name in _KNOWN_DATA:
        raise _bad(f"an UnknownResponse cannot be named {name}")
    line = head + name.encode("ascii")
    if event.data:
        line += b" " + b" ".join(generic(v) for v in event.data)
    return line + CRLF


_KNOWN_DATA: Final = frozenset(
    [
        "CAPABILITY",
        "ENABLED",
        "LIST",
        "LSUB",
        "XLIST",
        "STATUS",
        "SEARCH",
        "SORT",
        "ESEARCH",
        "THREAD",
        "FLAGS",
        "VANISHED",
        "NAMESPACE",
        "ID",
        "QUOTA",
        "QUOTAROOT",
    ]
)


# --- public API -------------------------------------------------------------------


def encode_response(event: Event, *, utf8: bool = False) -> bytes:
    """Return the wire bytes (ending in CRLF) of one server response.

    ``utf8``: mailbox names and quoted strings may be UTF-8, as after
    ``ENABLE UTF8=ACCEPT`` (RFC 9051 section 6.3.1); otherwise mailbox names
    are modified UTF-7 and non-ASCII text goes in literals.

    Raises :class:`~pipeimap.errors.InvalidArgumentError` for a value that has
    no wire form the parser would read back as the same value (a CR in status
    text, a flag with a space, a streamed-literal event on its own...).
    """
    if isinstance(event, FetchResponse):
        return _fetch(event, utf8)
    if isinstance(event, TaggedResponse):
        tag = _b(event.tag)
        if not _TAG.match(tag):
            raise _bad(f"tag {event.tag[:40]!r} is not a tag")
        return _status(tag + b" ", event.status, ("OK", "NO", "BAD"), event.code, event.text)
    if isinstance(event, UntaggedStatus):
        return _status(b"* ", event.status, _STATUS, event.code, event.text)
    if isinstance(event, Greeting):
        return _status(b"* ", event.status, ("OK", "PREAUTH", "BYE"), event.code, event.text)
    if isinstance(event, ContinuationRequest):
        text = event.text
        if not text and event.code is None and event.data:
            text = base64.b64encode(event.data).decode("ascii")
        return b"+ " + resp_text(event.code, text) + CRLF
    if isinstance(event, (CapabilityResponse, EnabledResponse)):
        head = b"* CAPABILITY" if isinstance(event, CapabilityResponse) else b"* ENABLED"
        return b"".join([head] + [b" " + _atom(c, "capability") for c in event.capabilities]) + CRLF
    if isinstance(event, ListResponse):
        return _list(event, utf8)
    if isinstance(event, MailboxStatusResponse):
        return _status_data(event, utf8)
    if isinstance(event, SearchResponse):
        return _numbers(b"* SEARCH", event.numbers, event.modseq)
    if isinstance(event, SortResponse):
        return _numbers(b"* SORT", event.numbers, event.modseq)
    if isinstance(event, ESearchResponse):
        return _esearch(event)
    if isinstance(event, ThreadResponse):
        return (
            b"* THREAD"
            + (
                b" " + b"".join(b"(" + _thread_node(t) + b")" for t in event.threads)
                if event.threads
                else b""
            )
            + CRLF
        )
    if isinstance(event, FlagsResponse):
        return b"* FLAGS (" + b" ".join(_flag(f) for f in event.flags) + b")\r\n"
    if isinstance(event, ExistsResponse):
        return b"* %s EXISTS\r\n" % _number(event.count, "EXISTS", hi=_NZ_MAX)
    if isinstance(event, RecentResponse):
        return b"* %s RECENT\r\n" % _number(event.count, "RECENT", hi=_NZ_MAX)
    if isinstance(event, ExpungeResponse):
        return b"* %s EXPUNGE\r\n" % _nz(event.seq, "EXPUNGE")
    if isinstance(event, VanishedResponse):
        return (
            b"* VANISHED "
            + (b"(EARLIER) " if event.earlier else b"")
            + event.uids.to_bytes()
            + CRLF
        )
    if isinstance(event, NamespaceResponse):
        return b"* NAMESPACE %s %s %s\r\n" % (
            _namespaces(event.personal, utf8),
            _namespaces(event.other, utf8),
            _namespaces(event.shared, utf8),
        )
    if isinstance(event, IdResponse):
        return _id(event)
    if isinstance(event, QuotaResponse):
        res = b" ".join(
            b"%s %s %s"
            % (
                _atom(r.name, "quota resource"),
                _number(r.usage, "quota usage"),
                _number(r.limit, "quota limit"),
            )
            for r in event.resources
        )
        return b"* QUOTA %s (%s)\r\n" % (astring(event.root, utf8=utf8), res)
    if isinstance(event, QuotaRootResponse):
        return (
            b"".join(
                [b"* QUOTAROOT ", mailbox(event.mailbox, utf8=utf8)]
                + [b" " + astring(r, utf8=utf8) for r in event.roots]
            )
            + CRLF
        )
    if isinstance(event, UnknownResponse):
        return _unknown(event)
    if isinstance(event, (FetchLiteralStarted, FetchLiteralChunk, FetchLiteralEnded)):
        raise _bad(f"{type(event).__name__} is part of a sequence: use encode_responses")
    raise _bad(f"not a response event: {type(event).__name__}")


def encode_responses(events: Iterable[Event], *, utf8: bool = False) -> bytes:
    """Encode a sequence of events, reassembling streamed FETCH literals.

    A :class:`FetchLiteralStarted`, its :class:`FetchLiteralChunk` events and
    :class:`FetchLiteralEnded` supply the bytes of the :class:`StreamedLiteral`
    marker with the same name in the :class:`FetchResponse` that follows them
    (which is what the parser emits for a large literal).
    """
    out: list[bytes] = []
    streamed: dict[str, bytes] = {}
    current: tuple[str, list[bytes]] | None = None
    for event in events:
        if isinstance(event, FetchLiteralStarted):
            if current is not None:
                raise _bad("FetchLiteralStarted inside another streamed literal")
            current = (event.name, [])
        elif isinstance(event, FetchLiteralChunk):
            if current is None:
                raise _bad("FetchLiteralChunk outside a streamed literal")
            current[1].append(event.data)
        elif isinstance(event, FetchLiteralEnded):
            if current is None or current[0] != event.name:
                raise _bad("FetchLiteralEnded without its FetchLiteralStarted")
            data = b"".join(current[1])
            if len(data) != event.size:
                raise _bad(f"streamed literal {event.name}: {len(data)} bytes, not {event.size}")
            streamed[event.name] = data
            current = None
        elif isinstance(event, FetchResponse) and streamed:
            items = dict(event.items)
            for key, value in items.items():
                if isinstance(value, StreamedLiteral):
                    if key not in streamed:
                        raise _bad(f"no streamed data for {key}")
                    items[key] = streamed.pop(key)
            out.append(
                encode_response(FetchResponse(event.seq, event.uid, FetchItems(items)), utf8=utf8)
            )
        else:
            out.append(encode_response(event, utf8=utf8))
    if current is not None or streamed:
        raise _bad("a streamed literal has no FetchResponse after it")
    return b"".join(out)
