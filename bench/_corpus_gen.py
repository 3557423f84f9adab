"""Deterministic FETCH-response corpora for the parser benchmark (and for tests).

Two corpora, both generated from a seed so every run (and every machine) sees
the same bytes:

* :func:`generate_bulk_corpus` -- ``* n FETCH (UID u BODY[] {size}`` responses
  carrying whole RFC 5322 messages as literals: many 5-50 KB messages, some
  50-500 KB ones and a few of 1-8 MB (what a backup or migration tool reads).
* :func:`generate_header_corpus` -- header-only lines
  ``* n FETCH (UID u FLAGS (...) RFC822.SIZE n ENVELOPE (...) BODYSTRUCTURE (...))``
  with varied envelopes and body structures (what a mail client's message
  list reads).

Each corpus carries the wire bytes a server would send (ending with the tagged
``OK``) and the ground truth per message -- the value a correct parser must
produce -- so a test can cross-check any parser against it.
:func:`imaplib_fetch_records` turns the wire bytes into the list that imaplib
hands to ``imapclient.response_parser.parse_fetch_response``.

The generators use only the IMAP grammar of RFC 3501 / RFC 9051 plus one
widespread deviation: raw UTF-8 inside quoted strings (legal after
``ENABLE UTF8=ACCEPT``, RFC 9051 section 4.3; sent regardless by some servers,
see ``../shared/design/server-quirks.md``).  Half the messages send their
8-bit strings as literals instead, the way RFC 3501 servers such as Dovecot do.

The message bodies deliberately contain bytes that look like IMAP
(``)``, ``{123}``, ``* 5 FETCH (``, tagged ``OK`` lines) so that a parser that
scans literal data instead of counting it gets caught by the cross-check.
"""

from __future__ import annotations

import base64
import random
import re
import zlib
from dataclasses import dataclass
from typing import TypeAlias

__all__ = [
    "Address",
    "Atoms",
    "BodyMessage",
    "BodyStructure",
    "BulkCorpus",
    "Disposition",
    "Envelope",
    "HeaderCorpus",
    "HeaderMessage",
    "ImaplibRecord",
    "MultiPart",
    "SinglePart",
    "bodystructure_atoms",
    "chunked",
    "envelope_atoms",
    "generate_bulk_corpus",
    "generate_header_corpus",
    "imaplib_fetch_records",
    "leaf_parts",
    "serialize_bodystructure",
    "serialize_envelope",
]

TAGGED_OK = b"A0001 OK Fetch completed (0.042 + 0.000 secs).\r\n"

# ---------------------------------------------------------------------------
# The ground-truth model.  Strings are the bytes a parser must return after
# removing the wire quoting (quoted-string escapes or literal framing); None is
# NIL.  Nothing here is decoded (no RFC 2047, no charset handling).
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Address:
    """RFC 9051 ``address``: (name adl mailbox host)."""

    name: bytes | None
    adl: bytes | None
    mailbox: bytes | None
    host: bytes | None


AddressList: TypeAlias = "tuple[Address, ...] | None"


@dataclass(frozen=True, slots=True)
class Envelope:
    """RFC 9051 ``envelope``, fields in wire order."""

    date: bytes | None
    subject: bytes | None
    from_: AddressList
    sender: AddressList
    reply_to: AddressList
    to: AddressList
    cc: AddressList
    bcc: AddressList
    in_reply_to: bytes | None
    message_id: bytes | None


Params: TypeAlias = "tuple[tuple[bytes, bytes], ...] | None"
# body-fld-lang is either one nstring or a parenthesised list of strings.
Language: TypeAlias = "bytes | tuple[bytes, ...] | None"


@dataclass(frozen=True, slots=True)
class Disposition:
    """RFC 9051 ``body-fld-dsp``: ("ATTACHMENT" ("FILENAME" "x.pdf"))."""

    type: bytes
    params: Params


@dataclass(frozen=True, slots=True)
class SinglePart:
    """A non-multipart body (body-type-basic, -text or -msg) with its extension data.

    ``lines`` is set for text/* and message/rfc822; ``envelope`` and ``body``
    only for message/rfc822.  ``ext_count`` says how many of md5, disposition,
    language, location are on the wire (0-4): servers differ in how much
    extension data they send, and the rest are then absent, not NIL.
    """

    type: bytes
    subtype: bytes
    params: Params
    id: bytes | None
    description: bytes | None
    encoding: bytes
    octets: int
    lines: int | None
    envelope: Envelope | None
    body: BodyStructure | None
    md5: bytes | None
    disposition: Disposition | None
    language: Language
    location: bytes | None
    ext_count: int


@dataclass(frozen=True, slots=True)
class MultiPart:
    """A multipart body; ``ext_count`` (0-4) counts params, disposition, language, location."""

    parts: tuple[BodyStructure, ...]
    subtype: bytes
    params: Params
    disposition: Disposition | None
    language: Language
    location: bytes | None
    ext_count: int


BodyStructure: TypeAlias = "SinglePart | MultiPart"


@dataclass(frozen=True, slots=True)
class HeaderMessage:
    """Ground truth of one header-only FETCH response."""

    seq: int
    uid: int
    flags: tuple[bytes, ...]
    size: int
    envelope: Envelope
    bodystructure: BodyStructure


@dataclass(frozen=True, slots=True)
class BodyMessage:
    """Ground truth of one ``BODY[]`` FETCH response.

    ``flags`` is None when the response carries no FLAGS item.  ``body_offset``
    is where the literal's data starts in the corpus wire bytes.
    """

    seq: int
    uid: int
    flags: tuple[bytes, ...] | None
    size: int
    crc32: int
    body_offset: int


@dataclass(frozen=True, slots=True)
class HeaderCorpus:
    wire: bytes
    messages: tuple[HeaderMessage, ...]


@dataclass(frozen=True, slots=True)
class BulkCorpus:
    wire: bytes
    messages: tuple[BodyMessage, ...]

    @property
    def body_bytes(self) -> int:
        return sum(m.size for m in self.messages)

    def body(self, index: int) -> bytes:
        """The literal data of message ``index`` (a copy)."""
        m = self.messages[index]
        return self.wire[m.body_offset : m.body_offset + m.size]


# ---------------------------------------------------------------------------
# Wire serialization
# ---------------------------------------------------------------------------


def _quoted(value: bytes) -> bytes:
    return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def _is_8bit(value: bytes) -> bool:
    return not value.isascii()


def _string(value: bytes, literal_8bit: bool) -> bytes:
    # CR, LF and NUL cannot be quoted; 8-bit data may be (UTF8=ACCEPT and the
    # servers that ignore RFC 3501 here) or sent as a literal (RFC 3501 servers).
    if b"\r" in value or b"\n" in value or b"\0" in value or (literal_8bit and _is_8bit(value)):
        return b"{%d}\r\n%s" % (len(value), value)
    return _quoted(value)


def _nstring(value: bytes | None, literal_8bit: bool) -> bytes:
    return b"NIL" if value is None else _string(value, literal_8bit)


def _address_list(addrs: AddressList, lit: bool) -> bytes:
    if addrs is None:
        return b"NIL"
    return (
        b"("
        + b"".join(
            b"("
            + b" ".join(
                (
                    _nstring(a.name, lit),
                    _nstring(a.adl, lit),
                    _nstring(a.mailbox, lit),
                    _nstring(a.host, lit),
                )
            )
            + b")"
            for a in addrs
        )
        + b")"
    )


def serialize_envelope(env: Envelope, literal_8bit: bool = False) -> bytes:
    """The wire form of ``env`` (RFC 9051 ``envelope``)."""
    lit = literal_8bit
    return (
        b"("
        + b" ".join(
            (
                _nstring(env.date, lit),
                _nstring(env.subject, lit),
                _address_list(env.from_, lit),
                _address_list(env.sender, lit),
                _address_list(env.reply_to, lit),
                _address_list(env.to, lit),
                _address_list(env.cc, lit),
                _address_list(env.bcc, lit),
                _nstring(env.in_reply_to, lit),
                _nstring(env.message_id, lit),
            )
        )
        + b")"
    )


def _params(params: Params, lit: bool) -> bytes:
    if params is None:
        return b"NIL"
    return b"(" + b" ".join(_string(k, lit) + b" " + _string(v, lit) for k, v in params) + b")"


def _disposition(dsp: Disposition | None, lit: bool) -> bytes:
    if dsp is None:
        return b"NIL"
    return b"(" + _string(dsp.type, lit) + b" " + _params(dsp.params, lit) + b")"


def _language(lang: Language, lit: bool) -> bytes:
    if isinstance(lang, tuple):
        return b"(" + b" ".join(_string(x, lit) for x in lang) + b")"
    return _nstring(lang, lit)


def serialize_bodystructure(body: BodyStructure, literal_8bit: bool = False) -> bytes:
    """The wire form of ``body`` (RFC 9051 ``body``, with extension data)."""
    lit = literal_8bit
    if isinstance(body, MultiPart):
        out = [b"".join(serialize_bodystructure(p, lit) for p in body.parts)]
        out.append(b" " + _string(body.subtype, lit))
        ext = (
            _params(body.params, lit),
            _disposition(body.disposition, lit),
            _language(body.language, lit),
            _nstring(body.location, lit),
        )
        out.extend(b" " + e for e in ext[: body.ext_count])
        return b"(" + b"".join(out) + b")"
    fields = [
        _string(body.type, lit),
        _string(body.subtype, lit),
        _params(body.params, lit),
        _nstring(body.id, lit),
        _nstring(body.description, lit),
        _string(body.encoding, lit),
        b"%d" % body.octets,
    ]
    if body.envelope is not None and body.body is not None:
        fields.append(serialize_envelope(body.envelope, lit))
        fields.append(serialize_bodystructure(body.body, lit))
    if body.lines is not None:
        fields.append(b"%d" % body.lines)
    ext1 = (
        _nstring(body.md5, lit),
        _disposition(body.disposition, lit),
        _language(body.language, lit),
        _nstring(body.location, lit),
    )
    fields.extend(ext1[: body.ext_count])
    return b"(" + b" ".join(fields) + b")"


def _flag_list(flags: tuple[bytes, ...]) -> bytes:
    return b"(" + b" ".join(flags) + b")"


# ---------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------

_WORDS = (
    b"the quarterly report meeting agenda project invoice shipment update review draft final "
    b"budget proposal contract schedule release notes deadline server backup migration team "
    b"lunch friday call customer ticket request approval summary minutes offsite travel plan "
    b"newsletter security alert password reset account order confirmation delivery payment "
    b"receipt thanks question follow up reminder weekly status kernel patch build failure"
).split()


def _vocab(text: str) -> list[bytes]:
    return [w.encode() for w in text.split("|")]


_UTF8_WORDS = _vocab(
    "Grüße|Überweisung|réunion|café|façade|naïve|Straße|Ärger|Łódź|Zürich|привет|отчёт"
    "|会議|報告書|こんにちは|Δοκιμή|€100|✓ erledigt|日本語|Ελλάδα"
)
_FIRST = _vocab(
    "Alice|Bob|Carol|Dave|Erin|Frank|Grace|Heidi|Ivan|Judy|Mallory|Niaj|Olivia|Peggy|Rupert"
    "|Sybil|Trent|Victor|Walter|Zoë|José|Łukasz|Søren|François|Jürgen|Ангелина|太郎"
)
_LAST = _vocab(
    "Smith|Jones|Miller|Garcia|Nguyen|Okafor|Kowalski|Müller|Øberg|Dupré|Иванова|田中"
    "|O'Brien|van der Berg"
)
_LOCAL = (
    b"info noreply billing support alerts newsletter team dev ops hr sales security "
    b"notifications postmaster do-not-reply jira github-actions"
).split()
_HOSTS = (
    b"example.com mail.example.org lists.example.net corp.example.co.uk example.de "
    b"xn--mnchen-3ya.example mx.example.io notifications.example.com"
).split()
_SYSTEM_FLAGS = (b"\\Seen", b"\\Answered", b"\\Flagged", b"\\Draft", b"\\Deleted")
_KEYWORDS = (b"$Forwarded", b"$MDNSent", b"$Junk", b"$NotJunk", b"NonJunk", b"$label1", b"Work")
_DAYS = (b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun")
_MONTHS = (b"Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec").split()
_ZONES = (b"+0000", b"+0100", b"+0200", b"-0500", b"-0800", b"+0530", b"+0900")
_ATTACHMENTS = (
    (b"APPLICATION", b"PDF", b"report.pdf"),
    (
        b"APPLICATION",
        b"VND.OPENXMLFORMATS-OFFICEDOCUMENT.WORDPROCESSINGML.DOCUMENT",
        b"Vertrag.docx",
    ),
    (b"APPLICATION", b"ZIP", b"logs-2026-03.zip"),
    (b"IMAGE", b"JPEG", b"IMG_2041.JPG"),
    (b"IMAGE", b"PNG", b"screenshot 2026-03-02 at 10.14.png"),
    (b"TEXT", b"CALENDAR", b"invite.ics"),
    (b"APPLICATION", b"OCTET-STREAM", "Präsentation Q1.pptx".encode()),
)


# ---------------------------------------------------------------------------
# Header corpus
# ---------------------------------------------------------------------------


def _encoded_word_b(text: bytes) -> bytes:
    return b"=?UTF-8?B?" + base64.b64encode(text) + b"?="


def _encoded_word_q(text: bytes) -> bytes:
    out = bytearray(b"=?utf-8?Q?")
    for b in text:
        if b == 0x20:
            out += b"_"
        elif 0x30 <= b <= 0x39 or 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A:
            out.append(b)
        else:
            out += b"=%02X" % b
    return bytes(out + b"?=")


class _HeaderGen:
    def __init__(self, rng: random.Random) -> None:
        self.r = rng
        self.upper = True  # per-message: "TEXT" "PLAIN" (Gmail) vs "text" "plain" (Dovecot)

    def case(self, value: bytes) -> bytes:
        return value if self.upper else value.lower()

    def words(self, lo: int, hi: int) -> bytes:
        r = self.r
        return b" ".join(r.choice(_WORDS) for _ in range(r.randint(lo, hi)))

    def utf8_text(self) -> bytes:
        r = self.r
        parts = [r.choice(_WORDS) for _ in range(r.randint(1, 4))]
        parts.insert(r.randrange(len(parts) + 1), r.choice(_UTF8_WORDS))
        return b" ".join(parts)

    def display_name(self) -> bytes | None:
        # Rates are guesses at a typical inbox: mostly absent, plain or RFC 2047;
        # a few raw 8-bit; double quotes and backslashes (which need escapes in
        # a quoted string) are rare.
        r = self.r
        first, last = r.choice(_FIRST), r.choice(_LAST)
        full = first + b" " + last
        x = r.random()
        if x < 0.30:
            return None
        if x < 0.645:
            return full if full.isascii() else _encoded_word_b(full)
        if x < 0.66:
            return last + b", " + first + b' "' + first.decode()[:3].encode() + b'"'
        if x < 0.665:
            return b"CORP\\" + (first if first.isascii() else b"user")  # Exchange style
        if x < 0.82:
            return _encoded_word_b(full)
        if x < 0.88:
            return _encoded_word_q(full)
        return full  # raw UTF-8 (or plain ASCII)

    def mailbox(self) -> bytes:
        r = self.r
        if r.random() < 0.4:
            return r.choice(_LOCAL)
        first = r.choice(_FIRST).decode().lower().encode("ascii", "ignore") or b"user"
        last = r.choice(_LAST).decode().lower().encode("ascii", "ignore") or b"x"
        return first + b"." + last.replace(b" ", b"").replace(b"'", b"")

    def address(self) -> Address:
        r = self.r
        adl = b"@relay.example.net" if r.random() < 0.005 else None
        return Address(self.display_name(), adl, self.mailbox(), r.choice(_HOSTS))

    def address_list(self, lo: int, hi: int) -> AddressList:
        r = self.r
        n = r.randint(lo, hi)
        if n == 0:
            return None
        addrs = [self.address() for _ in range(n)]
        if r.random() < 0.03:
            # RFC 5322 group syntax: start-of-group (mailbox = group name, host
            # NIL) ... end-of-group (all NIL).
            addrs = [
                Address(None, None, b"undisclosed-recipients", None),
                *addrs,
                Address(None, None, None, None),
            ]
        return tuple(addrs)

    def date(self) -> bytes | None:
        r = self.r
        x = r.random()
        if x < 0.02:
            return None
        if x < 0.03:
            return b"sometime last week"  # unparseable, still a valid nstring
        d = b"%d %s %d %02d:%02d:%02d %s" % (
            r.randint(1, 28),
            r.choice(_MONTHS),
            r.randint(2019, 2026),
            r.randrange(24),
            r.randrange(60),
            r.randrange(60),
            r.choice(_ZONES),
        )
        if r.random() < 0.85:
            d = r.choice(_DAYS) + b", " + d
        if r.random() < 0.1:
            d += b" (UTC)"
        return d

    def subject(self) -> bytes | None:
        r = self.r
        x = r.random()
        prefix = r.choice((b"", b"", b"", b"Re: ", b"RE: ", b"Fwd: ", b"AW: ", b"[list] "))
        if x < 0.03:
            return None
        if x < 0.05:
            return b""
        if x < 0.52:
            return prefix + self.words(2, 9).capitalize()
        if x < 0.70:
            return prefix + _encoded_word_b(self.utf8_text())
        if x < 0.80:
            return (
                prefix + _encoded_word_q(self.utf8_text()) + b" [ticket #%d]" % r.randrange(99999)
            )
        if x < 0.85:
            return prefix + self.utf8_text()  # raw 8-bit
        if x < 0.89:
            return prefix + b'"%s" %s' % (self.words(1, 3).capitalize(), self.words(1, 4))
        if x < 0.895:
            return prefix + b"Share moved to \\\\fs01\\%s" % r.choice(_WORDS)
        # long subject made of several encoded words (as folded headers unfold)
        return b" ".join(_encoded_word_b(self.utf8_text()) for _ in range(r.randint(3, 6)))

    def msg_id(self) -> bytes:
        r = self.r
        return b"<%016x.%d@%s>" % (r.getrandbits(64), r.randrange(10**6), r.choice(_HOSTS))

    def envelope(self) -> Envelope:
        r = self.r
        frm = self.address_list(1, 1)
        # Servers fill sender and reply-to from From when the header is absent.
        sender = frm if r.random() < 0.85 else self.address_list(1, 1)
        reply_to = frm if r.random() < 0.8 else self.address_list(1, 2)
        to = self.address_list(0, 1) if r.random() < 0.05 else self.address_list(1, 5)
        cc = self.address_list(0, 6) if r.random() < 0.4 else None
        bcc = self.address_list(1, 2) if r.random() < 0.05 else None
        in_reply_to = self.msg_id() if r.random() < 0.4 else None
        message_id = self.msg_id() if r.random() < 0.98 else None
        return Envelope(
            self.date(), self.subject(), frm, sender, reply_to, to, cc, bcc, in_reply_to, message_id
        )

    def ext_count(self) -> int:
        x = self.r.random()
        return 4 if x < 0.8 else (0 if x < 0.9 else self.r.randint(1, 3))

    def charset(self) -> Params:
        r = self.r
        x = r.random()
        if x < 0.05:
            return None
        cs = r.choice((b"UTF-8", b"utf-8", b"us-ascii", b"ISO-8859-1", b"windows-1252"))
        params: list[tuple[bytes, bytes]] = [(self.case(b"CHARSET"), cs)]
        if x > 0.85:
            params.append((self.case(b"FORMAT"), b"flowed"))
        return tuple(params)

    def text_part(self, subtype: bytes) -> SinglePart:
        r = self.r
        octets = int(r.lognormvariate(8, 1.2)) + 20
        return SinglePart(
            type=self.case(b"TEXT"),
            subtype=self.case(subtype),
            params=self.charset(),
            id=None,
            description=None,
            encoding=self.case(r.choice((b"7BIT", b"8BIT", b"QUOTED-PRINTABLE", b"BASE64"))),
            octets=octets,
            lines=octets // 64 + 1,
            envelope=None,
            body=None,
            md5=None,
            disposition=None,
            language=None,
            location=None,
            ext_count=self.ext_count(),
        )

    def attachment(self, inline_cid: bool = False) -> SinglePart:
        r = self.r
        type_, subtype, fname = r.choice(_ATTACHMENTS)
        if inline_cid:
            type_, subtype, fname = b"IMAGE", b"PNG", b"logo.png"
        fparams: list[tuple[bytes, bytes]] = [(self.case(b"NAME"), fname)]
        dparams: list[tuple[bytes, bytes]] = [(self.case(b"FILENAME"), fname)]
        if not fname.isascii() and r.random() < 0.5:
            # RFC 2231 encoded parameter instead of raw 8-bit
            enc = b"utf-8''" + b"".join(
                bytes([c]) if c < 0x80 and c != 0x20 else b"%%%02X" % c for c in fname
            )
            fparams = [(self.case(b"NAME*"), enc)]
            dparams = [(self.case(b"FILENAME*"), enc)]
        if r.random() < 0.2:
            dparams.append((self.case(b"SIZE"), b"%d" % r.randrange(10**6)))
        octets = int(r.lognormvariate(11, 1.5)) + 100
        lines = octets // 76 + 1 if type_ == b"TEXT" else None
        dsp_type = b"INLINE" if inline_cid else b"ATTACHMENT"
        return SinglePart(
            type=self.case(type_),
            subtype=self.case(subtype),
            params=tuple(fparams),
            id=b"<part%d.%x@example.com>" % (r.randrange(10), r.getrandbits(32))
            if inline_cid
            else None,
            description=b"Scanned document" if r.random() < 0.05 else None,
            encoding=self.case(b"BASE64"),
            octets=octets,
            lines=lines,
            envelope=None,
            body=None,
            md5=b"%032x" % r.getrandbits(128) if r.random() < 0.03 else None,
            disposition=Disposition(self.case(dsp_type), tuple(dparams)),
            language=None,
            location=None,
            ext_count=4,
        )

    def multipart(self, subtype: bytes, parts: tuple[BodyStructure, ...]) -> MultiPart:
        r = self.r
        boundary = b"----=_Part_%d_%d.%d" % (
            r.randrange(10**6),
            r.randrange(10**9),
            r.randrange(10**13),
        )
        lang: Language = None
        x = r.random()
        if x < 0.05:
            lang = b"en"
        elif x < 0.07:
            lang = (b"en", b"de")
        return MultiPart(
            parts=parts,
            subtype=self.case(subtype),
            params=((self.case(b"BOUNDARY"), boundary),),
            disposition=None,
            language=lang,
            location=b"http://example.com/x" if r.random() < 0.01 else None,
            ext_count=self.ext_count(),
        )

    def alternative(self) -> MultiPart:
        return self.multipart(b"ALTERNATIVE", (self.text_part(b"PLAIN"), self.text_part(b"HTML")))

    def bodystructure(self, depth: int = 0) -> BodyStructure:
        r = self.r
        x = r.random()
        if x < 0.30:
            return self.text_part(r.choice((b"PLAIN", b"PLAIN", b"HTML")))
        if x < 0.62 or depth > 1:
            return self.alternative()
        if x < 0.86:
            first: BodyStructure = (
                self.alternative() if r.random() < 0.7 else self.text_part(b"PLAIN")
            )
            atts = tuple(self.attachment() for _ in range(r.randint(1, 4)))
            return self.multipart(b"MIXED", (first, *atts))
        if x < 0.93:
            related = self.multipart(
                b"RELATED",
                (self.text_part(b"HTML"), *(self.attachment(True) for _ in range(r.randint(1, 3)))),
            )
            return self.multipart(b"ALTERNATIVE", (self.text_part(b"PLAIN"), related))
        # a forwarded message: multipart/mixed with a nested message/rfc822
        inner_body = self.bodystructure(depth + 1)
        inner = SinglePart(
            type=self.case(b"MESSAGE"),
            subtype=self.case(b"RFC822"),
            params=((self.case(b"NAME"), b"Fwd.eml"),) if r.random() < 0.3 else None,
            id=None,
            description=None,
            encoding=self.case(b"7BIT"),
            octets=_total_octets(inner_body) + r.randint(800, 4000),
            lines=_total_octets(inner_body) // 60 + 40,
            envelope=self.envelope(),
            body=inner_body,
            md5=None,
            disposition=Disposition(self.case(b"ATTACHMENT"), None) if r.random() < 0.5 else None,
            language=None,
            location=None,
            ext_count=self.ext_count(),
        )
        return self.multipart(b"MIXED", (self.text_part(b"PLAIN"), inner))

    def flags(self) -> tuple[bytes, ...]:
        r = self.r
        out = [f for f in _SYSTEM_FLAGS if r.random() < (0.7 if f == b"\\Seen" else 0.06)]
        out.extend(k for k in _KEYWORDS if r.random() < 0.05)
        if r.random() < 0.02:
            out.append(b"\\Recent")
        return tuple(out)


def _total_octets(body: BodyStructure) -> int:
    if isinstance(body, MultiPart):
        return sum(_total_octets(p) for p in body.parts) + 200 * (len(body.parts) + 1)
    return body.octets


def generate_header_corpus(total_bytes: int, seed: int = 1) -> HeaderCorpus:
    """Header-only FETCH responses, about ``total_bytes`` of wire data, then a tagged OK.

    Item order is ``UID FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE``, except for
    one line in seven which puts UID after FLAGS (servers answer in any order).
    """
    r = random.Random(seed)
    g = _HeaderGen(r)
    out: list[bytes] = []
    messages: list[HeaderMessage] = []
    size = 0
    uid = r.randint(1, 50000)
    seq = 0
    while size < total_bytes:
        seq += 1
        uid += r.choice((1, 1, 1, 2, 5))
        g.upper = r.random() < 0.5
        lit = r.random() < 0.5
        env = g.envelope()
        body = g.bodystructure()
        flags = g.flags()
        rfc822_size = _total_octets(body) + r.randint(900, 6000)
        msg = HeaderMessage(seq, uid, flags, rfc822_size, env, body)
        messages.append(msg)
        uid_item = b"UID %d" % uid
        flags_item = b"FLAGS " + _flag_list(flags)
        first = (
            (flags_item + b" " + uid_item) if r.random() < 1 / 7 else (uid_item + b" " + flags_item)
        )
        line = b"* %d FETCH (%s RFC822.SIZE %d ENVELOPE %s BODYSTRUCTURE %s)\r\n" % (
            seq,
            first,
            rfc822_size,
            serialize_envelope(env, lit),
            serialize_bodystructure(body, lit),
        )
        out.append(line)
        size += len(line)
    out.append(TAGGED_OK)
    return HeaderCorpus(b"".join(out), tuple(messages))


# ---------------------------------------------------------------------------
# Bulk corpus
# ---------------------------------------------------------------------------

# Lines that look like IMAP protocol inside message bodies (someone mailing a
# protocol trace).  A parser that scans literal data for CRLF, parentheses or
# braces misframes on them.
_TRAP_LINES = (
    b")",
    b"* 7 FETCH (UID 12 BODY[] {42}",
    b"A0001 OK Fetch completed.",
    b"{1048576}",
    b'"unbalanced quote',
    b"* BYE server shutting down",
    b"+ Ready for literal data",
    b"((( nested )) (( braces }",
)


def _text_pool(r: random.Random, size: int) -> bytes:
    lines: list[bytes] = []
    n = 0
    while n < size:
        x = r.random()
        if x < 0.003:
            line = r.choice(_TRAP_LINES)
        elif x < 0.05:
            line = b""
        elif x < 0.15:
            line = b"> " + b" ".join(r.choice(_WORDS) for _ in range(r.randint(3, 12)))
        else:
            words = [r.choice(_WORDS) for _ in range(r.randint(4, 13))]
            if r.random() < 0.1:
                words.insert(r.randrange(len(words)), r.choice(_UTF8_WORDS))
            line = b" ".join(words)
        lines.append(line)
        n += len(line) + 2
    return b"\r\n".join(lines) + b"\r\n"


def _base64_pool(r: random.Random, size: int) -> bytes:
    raw = r.randbytes(size * 3 // 4)
    b64 = base64.b64encode(raw)
    return b"".join(b64[i : i + 76] + b"\r\n" for i in range(0, len(b64), 76))


def _fill(out: bytearray, pool: bytes, start: int, n: int) -> None:
    view = memoryview(pool)
    while n > 0:
        take = min(n, len(pool) - start)
        out += view[start : start + take]
        n -= take
        start = 0


def _message_size(r: random.Random, index: int) -> int:
    # Log-uniform within three classes: mail is mostly small, a little is large.
    if index == 2:  # guarantee one multi-MB message, even in tiny corpora
        lo, hi = 1_000_000, 4_000_000
    else:
        x = r.random()
        if x < 0.01:
            lo, hi = 1_000_000, 8_000_000
        elif x < 0.08:
            lo, hi = 50_000, 500_000
        else:
            lo, hi = 5_000, 50_000
    return int(lo * (hi / lo) ** r.random())


def _rfc5322_header(g: _HeaderGen, boundary: bytes | None) -> bytes:
    r = g.r
    env = g.envelope()
    frm = env.from_[0] if env.from_ else Address(None, None, b"x", b"example.com")
    to = env.to[0] if env.to else frm
    ctype = (
        b'multipart/mixed; boundary="' + boundary + b'"'
        if boundary
        else b"text/plain; charset=utf-8; format=flowed"
    )
    return b"".join(
        (
            b"Return-Path: <%s@%s>\r\n" % (frm.mailbox or b"", frm.host or b""),
            b"Received: from mx%d.example.net (mx%d.example.net [192.0.2.%d])\r\n"
            b"\tby imap.example.com with ESMTPS id %016x\r\n"
            b"\tfor <%s@%s>; %s\r\n"
            % (
                r.randrange(9),
                r.randrange(9),
                r.randrange(255),
                r.getrandbits(64),
                to.mailbox or b"",
                to.host or b"",
                env.date or b"",
            ),
            b"From: %s <%s@%s>\r\n" % (frm.name or b"", frm.mailbox or b"", frm.host or b""),
            b"To: <%s@%s>\r\n" % (to.mailbox or b"", to.host or b""),
            b"Subject: %s\r\n" % (env.subject or b""),
            b"Date: %s\r\n" % (env.date or b""),
            b"Message-ID: %s\r\n" % (env.message_id or b"<x@y>"),
            b"MIME-Version: 1.0\r\n",
            b"Content-Type: %s\r\n" % ctype,
            b"Content-Transfer-Encoding: 8bit\r\n" if boundary is None else b"",
            b"\r\n",
        )
    )


def generate_bulk_corpus(total_bytes: int, seed: int = 2) -> BulkCorpus:
    """``BODY[]`` FETCH responses carrying whole messages, about ``total_bytes``, then a tagged OK.

    Three response layouts, as servers differ in item order:
    ``(UID u BODY[] {n}...)`` (70 %), ``(UID u FLAGS (...) BODY[] {n}...)``
    (20 %) and ``(BODY[] {n}... UID u)`` (10 %).
    """
    r = random.Random(seed)
    g = _HeaderGen(random.Random(seed + 1))
    text = _text_pool(r, 1 << 20)
    b64 = _base64_pool(r, 1 << 20)
    out = bytearray()
    messages: list[BodyMessage] = []
    uid = r.randint(1, 50000)
    seq = 0
    while len(out) < total_bytes:
        size = _message_size(r, seq)
        seq += 1
        uid += r.choice((1, 1, 1, 2, 7))
        big = size >= 200_000
        boundary = b"=_b%012x" % r.getrandbits(48) if big else None
        header = _rfc5322_header(g, boundary)
        flags: tuple[bytes, ...] | None = None
        x = r.random()
        if x < 0.7:
            prefix = b"* %d FETCH (UID %d BODY[] {%d}\r\n" % (seq, uid, size)
            suffix = b")\r\n"
        elif x < 0.9:
            flags = g.flags()
            prefix = b"* %d FETCH (UID %d FLAGS %s BODY[] {%d}\r\n" % (
                seq,
                uid,
                _flag_list(flags),
                size,
            )
            suffix = b")\r\n"
        else:
            prefix = b"* %d FETCH (BODY[] {%d}\r\n" % (seq, size)
            suffix = b" UID %d)\r\n" % uid
        out += prefix
        start = len(out)
        # Headers, then text, then (for large messages) a base64 attachment.
        body_head = header[:size]
        out += body_head
        remaining = size - len(body_head)
        if boundary is not None:
            intro = min(remaining, r.randint(2_000, 20_000))
            _fill(out, text, r.randrange(len(text)), intro)
            remaining -= intro
            part_head = (
                b"\r\n--" + boundary + b"\r\nContent-Type: application/octet-stream; "
                b'name="data.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
            )[:remaining]
            out += part_head
            remaining -= len(part_head)
            _fill(out, b64, r.randrange(len(b64) // 78) * 78, remaining)
        else:
            _fill(out, text, r.randrange(len(text)), remaining)
        crc = zlib.crc32(memoryview(out)[start : start + size])
        messages.append(BodyMessage(seq, uid, flags, size, crc, start))
        out += suffix
    out += TAGGED_OK
    return BulkCorpus(bytes(out), tuple(messages))


# ---------------------------------------------------------------------------
# What imaplib hands to imapclient
# ---------------------------------------------------------------------------

ImaplibRecord: TypeAlias = "bytes | tuple[bytes, bytes]"

# imaplib's own expressions (Lib/imaplib.py: _Untagged_status, _Literal).
_UNTAGGED_STATUS = re.compile(rb"\* (?P<data>\d+) (?P<type>[A-Z-]+)( (?P<data2>.*))?", re.ASCII)
_LITERAL = re.compile(rb".*{(?P<size>\d+)}$", re.ASCII)


def imaplib_fetch_records(wire: bytes) -> list[ImaplibRecord]:
    """Split ``wire`` the way ``imaplib.IMAP4._get_response`` does for FETCH.

    The result is the ``data`` list ``IMAPClient.fetch`` passes to
    ``parse_fetch_response``: for ``* 1 FETCH (UID 5 BODY[] {n}`` imaplib drops
    ``* `` and ``FETCH``, strips CRLF, and stores ``(b"1 (UID 5 BODY[] {n}",
    literal)`` followed by the rest of the line (``b")"``) as a separate record.
    Non-FETCH responses (the tagged OK) are not part of it.
    """
    records: list[ImaplibRecord] = []
    pos = 0
    end_of_wire = len(wire)
    while pos < end_of_wire:
        eol = wire.index(b"\r\n", pos)
        line = wire[pos:eol]
        pos = eol + 2
        m = _UNTAGGED_STATUS.match(line)
        if m is None or m.group("type") != b"FETCH":
            continue
        dat: bytes = m.group("data")
        data2: bytes | None = m.group("data2")
        if data2:
            dat = dat + b" " + data2
        while (lm := _LITERAL.match(dat)) is not None:
            size = int(lm.group("size"))
            records.append((dat, wire[pos : pos + size]))
            pos += size
            eol = wire.index(b"\r\n", pos)
            dat = wire[pos:eol]
            pos = eol + 2
        records.append(dat)
    return records


def chunked(data: bytes, size: int) -> list[bytes]:
    """``data`` cut into ``size``-byte pieces, as successive socket reads would return it."""
    return [data[i : i + size] for i in range(0, len(data), size)]


# ---------------------------------------------------------------------------
# Parser-neutral views of the ground truth, for cross-checks
# ---------------------------------------------------------------------------

# Nested tuples of bytes / int / None: the generic shape a tokenizer produces
# (strings unquoted, numbers as int, NIL as None, lists as tuples).
Atoms: TypeAlias = "bytes | int | tuple[Atoms, ...] | None"


def _address_list_atoms(addrs: AddressList) -> Atoms:
    if addrs is None:
        return None
    return tuple((a.name, a.adl, a.mailbox, a.host) for a in addrs)


def envelope_atoms(env: Envelope) -> tuple[Atoms, ...]:
    """``env`` as the generic tuple a tokenizer returns for the wire ``envelope``."""
    return (
        env.date,
        env.subject,
        _address_list_atoms(env.from_),
        _address_list_atoms(env.sender),
        _address_list_atoms(env.reply_to),
        _address_list_atoms(env.to),
        _address_list_atoms(env.cc),
        _address_list_atoms(env.bcc),
        env.in_reply_to,
        env.message_id,
    )


def _params_atoms(params: Params) -> Atoms:
    return None if params is None else tuple(x for kv in params for x in kv)


def _dsp_atoms(dsp: Disposition | None) -> Atoms:
    return None if dsp is None else (dsp.type, _params_atoms(dsp.params))


def bodystructure_atoms(body: BodyStructure) -> tuple[Atoms, ...]:
    """``body`` as the generic tuple a tokenizer returns for the wire ``body``."""
    if isinstance(body, MultiPart):
        ext: tuple[Atoms, ...] = (
            _params_atoms(body.params),
            _dsp_atoms(body.disposition),
            body.language,
            body.location,
        )
        return (
            *(bodystructure_atoms(p) for p in body.parts),
            body.subtype,
            *ext[: body.ext_count],
        )
    out: list[Atoms] = [
        body.type,
        body.subtype,
        _params_atoms(body.params),
        body.id,
        body.description,
        body.encoding,
        body.octets,
    ]
    if body.envelope is not None and body.body is not None:
        out.append(envelope_atoms(body.envelope))
        out.append(bodystructure_atoms(body.body))
    if body.lines is not None:
        out.append(body.lines)
    ext1: tuple[Atoms, ...] = (_dsp_atoms(body.disposition), body.language, body.location)
    out.extend((body.md5, *ext1)[: body.ext_count])
    return tuple(out)


def leaf_parts(body: BodyStructure) -> int:
    """Number of non-multipart parts, counting into message/rfc822 parts."""
    if isinstance(body, MultiPart):
        return sum(leaf_parts(p) for p in body.parts)
    if body.body is not None:
        return 1 + leaf_parts(body.body)
    return 1
