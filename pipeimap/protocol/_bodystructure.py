"""ENVELOPE and BODY/BODYSTRUCTURE (RFC 9051 section 7.5.2 and section 9: ``envelope``,
``body``, ``body-type-1part``, ``body-type-mpart``, ``body-ext-*``).

Converts the lexer's generic tree into :class:`Envelope` and
:data:`BodyStructure`.  Recursion is bounded by ``ParserLimits.max_nesting_depth``
(the lexer refuses deeper input), so it cannot reach Python's recursion limit.

Tolerated (MailKit #1446, #1393, #823, #1838 and friends; Office 365, Yahoo,
Domino, mail.ru): NIL where a string or number is expected, numbers that are
not numbers (``-1``, ``1.86931e+06``) in size fields (-> ``None``), missing
extension fields, lowercase type names, a ``message/rfc822`` part without its
envelope/body/lines, NIL parameter lists, odd parameter lists.
"""

from __future__ import annotations

from typing import Final

from ._lexer import GrammarError as BodyError
from ._lexer import Value, text
from ._responses import Address, BodyPart, BodyStructure, Disposition, Envelope, MultipartBody

__all__ = ["generic", "parse_body", "parse_envelope"]


_tnew: Final = tuple.__new__  # builds a NamedTuple from a sequence in C


def _nstring(v: Value) -> str | None:
    if v is None or v.__class__ is str:
        return v
    if v.__class__ is bytes:
        return text(v)
    raise BodyError("nstring", f"expected a string, got {_kind(v)}")


def _kind(v: Value) -> str:
    return "a list" if isinstance(v, list) else type(v).__name__


def _is_ns(v: Value) -> bool:
    return v is None or v.__class__ is str


def _addresses(v: Value) -> tuple[Address, ...]:
    if v.__class__ is not list:
        if v is None:
            return ()
        # Tolerated: "" instead of NIL (seen from Exchange); anything else is an error.
        if v == "":
            return ()
        raise BodyError("env-from", f"expected an address list, got {_kind(v)}")
    if len(v) == 1:  # the usual case: one address, no list to build
        a = v[0]
        if a.__class__ is list and len(a) == 4:
            n, d, m, h = a
            if (
                (n is None or n.__class__ is str)
                and (d is None or d.__class__ is str)
                and (m is None or m.__class__ is str)
                and (h is None or h.__class__ is str)
            ):
                return (_tnew(Address, a),)
    out = []
    for a in v:
        if a.__class__ is not list or len(a) != 4:
            raise BodyError("address", "an address has four fields")
        n, d, m, h = a
        if (
            (n is None or n.__class__ is str)
            and (d is None or d.__class__ is str)
            and (m is None or m.__class__ is str)
            and (h is None or h.__class__ is str)
        ):
            out.append(_tnew(Address, a))
        else:
            out.append(Address(_nstring(n), _nstring(d), _nstring(m), _nstring(h)))
    return tuple(out)


def parse_envelope(v: Value) -> Envelope:
    """``envelope = "(" env-date SP env-subject SP env-from SP ... env-message-id ")"``."""
    if v.__class__ is not list or len(v) != 10:
        raise BodyError("envelope", "an envelope is a list of ten fields")
    date, subject, f, s, r, to, cc, bcc, irt, mid = v
    from_ = _addresses(f)
    # Sender and Reply-To usually repeat From: compare the lists in C, build once.
    sender = from_ if s == f else _addresses(s)
    reply_to = from_ if r == f else _addresses(r)
    # (None and str checks inlined: same values and errors, in the same order)
    return _tnew(
        Envelope,
        (
            date if date is None or date.__class__ is str else _nstring(date),
            subject if subject is None or subject.__class__ is str else _nstring(subject),
            from_,
            sender,
            reply_to,
            () if to is None else _addresses(to),
            () if cc is None else _addresses(cc),
            () if bcc is None else _addresses(bcc),
            irt if irt is None or irt.__class__ is str else _nstring(irt),
            mid if mid is None or mid.__class__ is str else _nstring(mid),
        ),
    )


def _num(v: Value) -> int | None:
    # Tolerant: only body sizes/line counts use this; junk becomes None (MailKit #823).
    if v.__class__ is str and v.isdigit() and v.isascii() and len(v) <= 20:
        return int(v)
    return None


def _params(v: Value) -> tuple[tuple[str, str], ...]:
    """``body-fld-param``; NIL -> (); an odd trailing name is dropped (tolerated)."""
    if v.__class__ is not list:
        return ()
    if len(v) == 2:
        k, val = v
        if k.__class__ is str and val.__class__ is str:
            return ((k, val),)
    for x in v:
        if x.__class__ is not str:
            break
    else:  # all strings (the usual case): pair them up in C
        it = iter(v)
        return tuple(zip(it, it, strict=False))  # type: ignore[arg-type]
    out = []
    for i in range(0, len(v) - 1, 2):
        k = v[i]
        val = v[i + 1]
        if k.__class__ is list or val.__class__ is list:
            raise BodyError("body-fld-param", "parameter names and values are strings")
        out.append((_nstring(k) or "", _nstring(val) or ""))
    return tuple(out)


def _disposition(v: Value) -> Disposition | None:
    if v.__class__ is list and v:
        return Disposition(_nstring_lenient(v[0]) or "", _params(v[1]) if len(v) > 1 else ())
    return None  # NIL, or a bare string (tolerated: some servers send "inline")


def _language(v: Value) -> tuple[str, ...] | None:
    if v is None:
        return None
    if isinstance(v, list):
        return tuple(s for s in (_nstring_lenient(x) for x in v) if s)
    s = _nstring_lenient(v)
    return None if s is None else (s,)


def generic(v: Value) -> object:
    """A generic value made immutable: lists become tuples, literals stay bytes."""
    if isinstance(v, list):
        return tuple(generic(x) for x in v)
    return v


# media-basic types the parts below treat specially, in the usual spellings (others
# go through str.upper): 1 = text (body-type-text), 2 = message (body-type-msg).
_KINDS: Final = {"TEXT": 1, "text": 1, "Text": 1, "MESSAGE": 2, "message": 2, "Message": 2}
_MESSAGE_SUBTYPES: Final = frozenset(("RFC822", "GLOBAL", "rfc822", "global"))


def parse_body(v: Value) -> BodyStructure:
    """``body = "(" (body-type-1part / body-type-mpart) ")"``."""
    if v.__class__ is not list or not v:
        raise BodyError("body", "a body is a non-empty list")
    if v[0].__class__ is list:
        return _mpart(v)
    return _1part(v)


def _mpart(v: list[Value]) -> MultipartBody:
    i = 0
    n = len(v)
    parts = []
    while i < n:
        x = v[i]
        if x.__class__ is not list:
            break
        if not x:  # (parse_body inlined)
            raise BodyError("body", "a body is a non-empty list")
        parts.append(_mpart(x) if x[0].__class__ is list else _1part(x))
        i += 1
    subtype = None
    if i < n:
        subtype = v[i]
        if subtype.__class__ is not str:
            subtype = _nstring_lenient(subtype)
    # The extension fields follow the subtype: v[j:] (None checks inlined; the
    # helpers return None for NIL themselves).
    j = i + 1
    k = n - j
    return _tnew(
        MultipartBody,
        (
            tuple(parts),
            subtype or "MIXED",  # tolerated: missing subtype
            _params(v[j]) if k > 0 else (),
            None if k < 2 or v[j + 1] is None else _disposition(v[j + 1]),
            None if k < 3 or v[j + 2] is None else _language(v[j + 2]),
            None if k < 4 or v[j + 3] is None else _nstring_lenient(v[j + 3]),
            tuple(generic(x) for x in v[j + 4 :]) if k > 4 else (),
        ),
    )


def _nstring_lenient(v: Value) -> str | None:
    if v is None or v.__class__ is str:
        return v
    if v.__class__ is bytes:
        return text(v)
    return None  # tolerated: a list or a literal marker where a string belongs


def _1part(v: list[Value]) -> BodyPart:
    n = len(v)
    if n < 7:
        # Tolerated down to type and subtype (some servers truncate); fields -> None.
        if n < 2:
            raise BodyError("body-type-1part", "a body part needs at least type and subtype")
        v = v + [None] * (7 - n)
        n = 7
    mtype, subtype, params, bid, desc, enc, size = v[:7]
    if mtype.__class__ is not str:
        mtype = _nstring_lenient(mtype) or ""
    if subtype.__class__ is not str:
        subtype = _nstring_lenient(subtype) or ""
    kind = _KINDS.get(mtype)
    if kind is None:
        upper = mtype.upper()
        kind = 1 if upper == "TEXT" else 2 if upper == "MESSAGE" else 0
    i = 7
    lines = None
    envelope = None
    body = None
    if kind == 1:
        if n > 7:
            x = v[7]
            if x.__class__ is not list:
                # (_num inlined)
                if x.__class__ is str and x.isdigit() and x.isascii() and len(x) <= 20:
                    lines = int(x)
                i = 8
    # body-type-msg = media-message SP body-fields SP envelope SP body SP body-fld-lines;
    # tolerated: the server sent it as a basic part (MailKit #1393-like cases).
    elif (
        kind == 2
        and subtype.upper() in _MESSAGE_SUBTYPES
        and n >= 10
        and v[7].__class__ is list
        and v[8].__class__ is list
    ):
        envelope = parse_envelope(v[7]) if len(v[7]) == 10 else None
        body = parse_body(v[8])
        lines = _num(v[9])
        i = 10
    k = n - i
    return _tnew(
        BodyPart,
        (
            mtype,
            subtype,
            (
                ((params[0], params[1]),)
                if params.__class__ is list
                and len(params) == 2
                and params[0].__class__ is str
                and params[1].__class__ is str
                else _params(params)
            ),
            bid if bid is None or bid.__class__ is str else _nstring_lenient(bid),
            desc if desc is None or desc.__class__ is str else _nstring_lenient(desc),
            enc if enc is None or enc.__class__ is str else _nstring_lenient(enc),
            (
                int(size)  # (_num inlined)
                if size.__class__ is str and size.isdigit() and size.isascii() and len(size) <= 20
                else None
            ),
            lines,
            envelope,
            body,
            (None if v[i] is None else _nstring_lenient(v[i])) if k else None,
            None if k < 2 or v[i + 1] is None else _disposition(v[i + 1]),
            None if k < 3 or v[i + 2] is None else _language(v[i + 2]),
            None if k < 4 or v[i + 3] is None else _nstring_lenient(v[i + 3]),
            tuple(generic(x) for x in v[i + 4 :]) if k > 4 else (),
        ),
    )
