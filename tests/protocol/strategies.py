"""Hypothesis strategies for valid typed server responses (every event type of
:mod:`pipeimap.protocol._responses`, every response code of :mod:`._codes`).

Every value drawn here is one the parser can produce, so for each of them
``parse(encode_response(x)) == x`` must hold.  That constrains the strategies:

* text that the parser normalizes is drawn already normalized (capability names
  and response code names uppercased, system flags in their RFC spelling, INBOX
  in any case reported as ``"INBOX"``);
* ``raw`` fields are drawn together with the typed fields they must agree with
  (``mailbox_raw`` is the encoding of ``mailbox``; a response code's ``raw`` is
  its argument text, and its typed fields are what the parser derives from it);
* generic values (unknown items, ``other`` maps, ``UnknownResponse.data``) hold
  ``str`` without control characters (a ``str`` needing a literal comes back
  as ``bytes``), ``bytes``, ``None`` and tuples.

Strings are hostile: quotes, backslashes, CR/LF and NUL (which force literals),
non-ASCII and astral characters, empty strings, things that look like IMAP.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import re

from hypothesis import strategies as st

from pipeimap.protocol._codes import (
    SIMPLE_CODES,
    AppendUidCode,
    BadCharsetCode,
    CapabilityCode,
    CopyUidCode,
    ModifiedCode,
    NumberCode,
    PermanentFlagsCode,
    ResponseCode,
)
from pipeimap.protocol._mutf7 import encode_mutf7
from pipeimap.protocol._parse_fetch import normalize_fetch_item_name
from pipeimap.protocol._responses import (
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
    FetchResponse,
    FlagsResponse,
    Greeting,
    IdResponse,
    ListResponse,
    MailboxStatusResponse,
    MultipartBody,
    Namespace,
    NamespaceResponse,
    QuotaResource,
    QuotaResponse,
    QuotaRootResponse,
    RecentResponse,
    SearchResponse,
    SortResponse,
    TaggedResponse,
    ThreadNode,
    ThreadResponse,
    UnknownResponse,
    UntaggedStatus,
    VanishedResponse,
)
from pipeimap.protocol._seqset import SeqSet, UIDSet
from pipeimap.protocol._types import UID, Flag, ModSeq, SeqNum

__all__ = [
    "any_response",
    "bodies",
    "envelopes",
    "fetch_responses",
    "generic_values",
    "hostile_text",
    "response_codes",
    "status_text",
    "untagged_responses",
]

NZ_MAX = 2**32 - 1
MODSEQ_MAX = 2**63 - 1

# --- text ---------------------------------------------------------------------------

_SPECIAL = [
    "",
    "NIL",
    "nil",
    '"',
    "\\",
    '\\"',
    "{5}",
    "{5}\r\n",
    "~{3}",
    "a\r\n* 1 EXISTS\r\n",
    "A1 OK done\r\n",
    ")",
    "(",
    "]",
    "[",
    "BODY[",
    "*",
    "%",
    "&",
    "&-",
    "&AGE-",
    "\r",
    "\n",
    "\x00",
    "\x7f",
    "\t",
    "é",
    "日本語",
    "\U0001f600",
    " ",
    "  ",
    "+",
    "$",
    "INBOX",
]
_chars = st.characters(codec="utf-8")
hostile_text = st.one_of(
    st.sampled_from(_SPECIAL),
    st.text(_chars, max_size=16),
    st.lists(st.sampled_from(_SPECIAL), max_size=5).map("".join),
    st.text(st.sampled_from(list('ab \r\n\x00"\\{}()*%[]é\U0001f600~+&-')), max_size=12),
)
nstrings = st.one_of(st.none(), hostile_text)

# resp-text: any TEXT-CHAR (no CR, LF; NUL is not a CHAR), not starting with a
# space (the parser skips spaces before the text) nor "[" (a response code).
_text_chars = st.characters(codec="utf-8", exclude_characters="\r\n\x00")
status_text = st.one_of(
    st.sampled_from(["", "done", "LOGIN completed", "[not a code", "x ]", "{5}", 'a "b" \\c']),
    st.text(_text_chars, max_size=30),
).filter(lambda s: not s.startswith(" "))

# A generic str: an atom or a quoted string, so no control characters.
_generic_str = st.one_of(
    st.text(
        st.characters(codec="utf-8", min_codepoint=0x20, exclude_characters="\x7f"), max_size=10
    ),
    st.sampled_from(["NIL", "nil", "", "\\Seen", "123", "a b", '"', "\\", "ok]"]),
)
generic_values: st.SearchStrategy[object] = st.recursive(
    st.one_of(st.none(), _generic_str, st.binary(max_size=12)),
    lambda inner: st.lists(inner, max_size=4).map(tuple),
    max_leaves=8,
)

_atom_chars = "abcxyzABCXYZ0129!#$&'+,-./:;<=>?@^_`|}~"
atoms = st.text(st.sampled_from(_atom_chars), min_size=1, max_size=10).filter(
    lambda s: s.upper() != "NIL"
)
upper_atoms = atoms.map(str.upper)
# Names of unknown things (items, codes, responses) that collide with no known name.
x_names = st.text(st.sampled_from("ABCXYZ019-"), min_size=1, max_size=8).map(lambda s: "X" + s)

nz = st.one_of(st.integers(1, NZ_MAX), st.integers(1, 100), st.sampled_from([1, NZ_MAX]))
numbers64 = st.one_of(st.integers(0, MODSEQ_MAX), st.integers(0, 1000))
modseqs = st.one_of(st.integers(0, MODSEQ_MAX), st.sampled_from([1, MODSEQ_MAX])).map(ModSeq)

# --- sets ---------------------------------------------------------------------------


@st.composite
def set_text(draw: st.DrawFn) -> str:
    """A sequence-set as a server may write it: any order, overlapping ranges."""
    elems = draw(
        st.lists(
            st.one_of(
                nz.map(str),
                st.tuples(nz, nz).map(lambda t: f"{t[0]}:{t[1]}"),
            ),
            min_size=1,
            max_size=5,
        )
    )
    return ",".join(elems)


uidsets = set_text().map(UIDSet.parse)
seqsets = set_text().map(SeqSet.parse)

# --- flags --------------------------------------------------------------------------

_SYSTEM = [Flag.SEEN, Flag.ANSWERED, Flag.FLAGGED, Flag.DELETED, Flag.DRAFT, Flag.RECENT]
keyword_flags = st.text(st.sampled_from("abcXYZ019$_-.!#&'+"), min_size=1, max_size=8).map(Flag)
flags = st.one_of(
    st.sampled_from(_SYSTEM),
    keyword_flags,
    # Tolerated from servers: "]" inside a keyword (kept unvalidated by the parser).
    st.just(str.__new__(Flag, "foo]")),
    st.just(Flag("\\X-Ext")),
)
flag_lists = st.lists(flags, max_size=5, unique=True).map(tuple)

# --- response codes -----------------------------------------------------------------


def _code_raw(s: str) -> bytes:
    return s.encode("ascii")


@st.composite
def _capability_code(draw: st.DrawFn) -> CapabilityCode:
    caps = draw(
        st.lists(
            st.one_of(
                st.sampled_from(["IMAP4rev1", "IMAP4rev2", "STARTTLS", "AUTH=PLAIN", "LITERAL+"]),
                atoms,
            ),
            min_size=1,
            max_size=5,
        )
    )
    raw = " ".join(caps)
    return CapabilityCode("CAPABILITY", _code_raw(raw), tuple(c.upper() for c in caps))


@st.composite
def _permanentflags_code(draw: st.DrawFn) -> PermanentFlagsCode:
    fl = draw(st.lists(st.one_of(flags, st.just(Flag.WILDCARD)), max_size=5, unique=True))
    raw = "(" + " ".join(fl) + ")"
    return PermanentFlagsCode("PERMANENTFLAGS", _code_raw(raw), tuple(fl))


@st.composite
def _badcharset_code(draw: st.DrawFn) -> BadCharsetCode:
    names = draw(
        st.lists(
            st.sampled_from(["UTF-8", "US-ASCII", "ISO-8859-1", "x y"]), min_size=1, max_size=3
        )
    )
    raw = "(" + " ".join(f'"{n}"' if " " in n else n for n in names) + ")"
    return BadCharsetCode("BADCHARSET", _code_raw(raw), tuple(names))


@st.composite
def _number_code(draw: st.DrawFn) -> NumberCode:
    name = draw(st.sampled_from(["UIDNEXT", "UNSEEN", "UIDVALIDITY", "HIGHESTMODSEQ"]))
    if name == "HIGHESTMODSEQ":
        value: int = draw(modseqs)
    elif name == "UIDVALIDITY":
        value = draw(st.one_of(nz, st.integers(0, 10**19)))  # wider than 32 bits tolerated
    else:
        value = draw(nz)
    return NumberCode(name, _code_raw(str(int(value))), value)


@st.composite
def _appenduid_code(draw: st.DrawFn) -> AppendUidCode:
    uv = draw(nz)
    text = draw(set_text())
    return AppendUidCode("APPENDUID", _code_raw(f"{uv} {text}"), uv, UIDSet.parse(text))


@st.composite
def _copyuid_code(draw: st.DrawFn) -> CopyUidCode:
    uv = draw(nz)
    src = draw(set_text())
    dst = draw(set_text())
    return CopyUidCode(
        "COPYUID", _code_raw(f"{uv} {src} {dst}"), uv, UIDSet.parse(src), UIDSet.parse(dst)
    )


_unknown_code_args = st.sampled_from(
    [b"", b"foo", b"1 2 3", b'"quoted ] bracket"', b"(a (b c) d)", b"(])", b"x\\y"]
)

response_codes: st.SearchStrategy[ResponseCode] = st.one_of(
    st.sampled_from(sorted(SIMPLE_CODES)).map(lambda n: ResponseCode(n, b"")),
    st.builds(ResponseCode, x_names, _unknown_code_args),
    _capability_code(),
    _permanentflags_code(),
    _badcharset_code(),
    _number_code(),
    _appenduid_code(),
    _copyuid_code(),
    set_text().map(lambda t: ModifiedCode("MODIFIED", _code_raw(t))),
)
opt_codes = st.one_of(st.none(), response_codes)

# --- status responses ---------------------------------------------------------------


def _text_for(code: ResponseCode | None, text: str) -> str:
    return "x" + text if code is None and text.startswith("[") else text


tags = st.text(st.sampled_from("ABCxyz0189.-_$!"), min_size=1, max_size=8)


@st.composite
def tagged(draw: st.DrawFn) -> TaggedResponse:
    code = draw(opt_codes)
    return TaggedResponse(
        draw(tags),
        draw(st.sampled_from(["OK", "NO", "BAD"])),
        code,
        _text_for(code, draw(status_text)),
    )


@st.composite
def untagged_status(draw: st.DrawFn) -> UntaggedStatus:
    code = draw(opt_codes)
    return UntaggedStatus(
        draw(st.sampled_from(["OK", "NO", "BAD", "BYE", "PREAUTH"])),
        code,
        _text_for(code, draw(status_text)),
    )


@st.composite
def greetings(draw: st.DrawFn) -> Greeting:
    code = draw(opt_codes)
    return Greeting(
        draw(st.sampled_from(["OK", "PREAUTH", "BYE"])), code, _text_for(code, draw(status_text))
    )


_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?\Z")


def _challenge_data(code: ResponseCode | None, text: str) -> bytes | None:
    """What the parser reports as ``data``: the base64 decoding of a bare text."""
    if code is not None or _BASE64.match(text) is None:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


@st.composite
def continuations(draw: st.DrawFn) -> ContinuationRequest:
    if draw(st.booleans()):
        data = draw(st.binary(max_size=40))
        text = base64.b64encode(data).decode("ascii")
        return ContinuationRequest(text, None, data)
    code = draw(opt_codes)
    text = _text_for(code, draw(status_text))
    return ContinuationRequest(text, code, _challenge_data(code, text))


# --- server and mailbox data --------------------------------------------------------

capability_lists = st.lists(
    st.one_of(
        st.sampled_from(["IMAP4REV1", "IMAP4REV2", "IDLE", "AUTH=PLAIN", "LITERAL+", "X-GM-EXT-1"]),
        upper_atoms,
    ),
    max_size=6,
).map(tuple)


@st.composite
def mailbox_names(draw: st.DrawFn, utf8: bool) -> tuple[str, bytes]:
    """A mailbox name and its wire spelling."""
    if draw(st.integers(0, 9)) == 0:
        raw = draw(st.sampled_from([b"INBOX", b"inbox", b"Inbox"]))
        return "INBOX", raw
    name = draw(hostile_text.filter(lambda s: s.upper() != "INBOX"))
    raw = name.encode("utf-8") if utf8 else encode_mutf7(name)
    return name, raw


_LIST_ATTRS = [
    "\\Noinferiors",
    "\\Noselect",
    "\\Marked",
    "\\Unmarked",
    "\\NonExistent",
    "\\Subscribed",
    "\\Remote",
    "\\HasChildren",
    "\\HasNoChildren",
    "\\All",
    "\\Archive",
    "\\Drafts",
    "\\Flagged",
    "\\Junk",
    "\\Sent",
    "\\Trash",
    "\\Important",
    "\\X-Custom",
    "$Keyword",
]


@st.composite
def list_responses(draw: st.DrawFn, utf8: bool = False) -> ListResponse:
    name, raw = draw(mailbox_names(utf8))
    extended: dict[str, object] = {}
    if draw(st.booleans()):
        if draw(st.booleans()):
            extended["CHILDINFO"] = tuple(
                draw(st.lists(st.sampled_from(["SUBSCRIBED", "x y", "é"]), min_size=1, max_size=2))
            )
        if draw(st.booleans()):
            extended["OLDNAME"] = (draw(mailbox_names(utf8))[0],)
        for key in draw(st.lists(x_names, max_size=2, unique=True)):
            extended[key] = draw(generic_values)
    return ListResponse(
        draw(st.sampled_from(["LIST", "LSUB"])),
        tuple(draw(st.lists(st.sampled_from(_LIST_ATTRS), max_size=4, unique=True))),
        draw(st.one_of(st.none(), st.sampled_from(["/", ".", "\\", '"', "é"]))),
        name,
        raw,
        extended,
    )


@st.composite
def status_responses(draw: st.DrawFn, utf8: bool = False) -> MailboxStatusResponse:
    name, raw = draw(mailbox_names(utf8))
    fields: dict[str, int | None] = {}
    for attr in ("messages", "uidnext", "uidvalidity", "unseen", "recent", "deleted", "size"):
        fields[attr] = draw(st.one_of(st.none(), numbers64))
    hms = draw(st.one_of(st.none(), modseqs))
    other: dict[str, object] = {}
    appendlimit = None
    choice = draw(st.integers(0, 2))
    if choice == 1:
        appendlimit = draw(numbers64)
    elif choice == 2:
        other["APPENDLIMIT"] = None  # RFC 7889: NIL means no limit
    for key in draw(st.lists(x_names, max_size=2, unique=True)):
        other[key] = draw(generic_values)
    return MailboxStatusResponse(
        name,
        raw,
        highestmodseq=hms,
        appendlimit=appendlimit,
        other=other,
        **fields,
    )


number_lists = st.lists(nz, max_size=8).map(tuple)
searches = st.builds(SearchResponse, number_lists, st.one_of(st.none(), modseqs))
sorts = st.builds(SortResponse, number_lists, st.one_of(st.none(), modseqs))


@st.composite
def esearches(draw: st.DrawFn) -> ESearchResponse:
    uid = draw(st.booleans())
    sets: st.SearchStrategy[UIDSet | SeqSet] = uidsets if uid else seqsets
    partial: tuple[str, UIDSet | SeqSet | None] | None = None
    if draw(st.booleans()):
        lo, hi = draw(st.tuples(nz, nz))
        rng = draw(st.sampled_from([f"{lo}:{hi}", f"-{lo}:-{hi}"]))
        partial = (rng, draw(st.one_of(st.none(), sets)))
    other = {k: draw(generic_values) for k in draw(st.lists(x_names, max_size=2, unique=True))}
    return ESearchResponse(
        draw(st.one_of(st.none(), hostile_text)),
        uid,
        min=draw(st.one_of(st.none(), nz)),
        max=draw(st.one_of(st.none(), nz)),
        count=draw(st.one_of(st.none(), numbers64)),
        all=draw(st.one_of(st.none(), sets)),
        partial=partial,
        modseq=draw(st.one_of(st.none(), modseqs)),
        other=other,
    )


thread_nodes: st.SearchStrategy[ThreadNode] = st.recursive(
    st.builds(ThreadNode, nz),
    lambda inner: st.one_of(
        st.builds(ThreadNode, nz, st.lists(inner, max_size=3).map(tuple)),
        st.builds(ThreadNode, st.none(), st.lists(inner, max_size=3).map(tuple)),
    ),
    max_leaves=10,
)
threads = st.lists(thread_nodes, max_size=4).map(lambda t: ThreadResponse(tuple(t)))


@st.composite
def namespaces(draw: st.DrawFn) -> tuple[Namespace, ...] | None:
    if draw(st.booleans()):
        return None
    out = []
    for _ in range(draw(st.integers(1, 3))):
        ext = {
            draw(hostile_text): tuple(draw(st.lists(hostile_text, max_size=3)))
            for _ in range(draw(st.integers(0, 2)))
        }
        out.append(
            Namespace(
                draw(hostile_text),
                draw(st.one_of(st.none(), st.sampled_from(["/", ".", "\\", '"']))),
                ext,
            )
        )
    return tuple(out)


namespace_responses = st.builds(NamespaceResponse, namespaces(), namespaces(), namespaces())
id_responses = st.builds(
    IdResponse,
    st.one_of(st.none(), st.dictionaries(hostile_text, nstrings, max_size=4)),
)
quota_responses = st.builds(
    QuotaResponse,
    hostile_text,
    st.lists(
        st.builds(
            QuotaResource,
            st.one_of(st.sampled_from(["STORAGE", "MESSAGE", "MAILBOX"]), upper_atoms),
            numbers64,
            numbers64,
        ),
        max_size=3,
    ).map(tuple),
)


@st.composite
def quotaroot_responses(draw: st.DrawFn, utf8: bool = False) -> QuotaRootResponse:
    name, _raw = draw(mailbox_names(utf8))
    return QuotaRootResponse(name, tuple(draw(st.lists(hostile_text, max_size=3))))


_KNOWN_NUMBERED = {"EXISTS", "RECENT", "EXPUNGE", "FETCH"}
unknown_responses = st.builds(
    UnknownResponse,
    x_names,
    st.one_of(st.none(), st.integers(0, NZ_MAX)),
    st.lists(generic_values, max_size=4).map(tuple),
)

# --- ENVELOPE, BODYSTRUCTURE --------------------------------------------------------

addresses = st.builds(Address, nstrings, nstrings, nstrings, nstrings)
address_lists = st.lists(addresses, max_size=3).map(tuple)
envelopes = st.builds(
    Envelope,
    nstrings,
    nstrings,
    address_lists,
    address_lists,
    address_lists,
    address_lists,
    address_lists,
    address_lists,
    nstrings,
    nstrings,
)
_params = st.lists(st.tuples(hostile_text, hostile_text), max_size=3).map(tuple)
dispositions = st.one_of(st.none(), st.builds(Disposition, hostile_text, _params))
languages = st.one_of(
    st.none(), st.lists(hostile_text.filter(bool), min_size=1, max_size=3).map(tuple)
)
_extensions = st.lists(generic_values, max_size=3).map(tuple)
_sizes = st.one_of(st.none(), st.integers(0, NZ_MAX))


@st.composite
def _ext_fields(draw: st.DrawFn) -> dict[str, object]:
    """md5, disposition, language, location, extensions: present up to some point."""
    n = draw(st.integers(0, 5))
    values: dict[str, object] = {
        "md5": draw(nstrings) if n > 0 else None,
        "disposition": draw(dispositions) if n > 1 else None,
        "language": draw(languages) if n > 2 else None,
        "location": draw(nstrings) if n > 3 else None,
        "extensions": draw(_extensions) if n > 4 else (),
    }
    return values


@st.composite
def _leaf_parts(draw: st.DrawFn) -> BodyPart:
    mtype = draw(
        st.one_of(
            st.sampled_from(["TEXT", "text", "APPLICATION", "image", "MESSAGE", "AUDIO"]),
            hostile_text.filter(bool),
        )
    )
    subtype = draw(
        st.one_of(
            st.sampled_from(["PLAIN", "html", "OCTET-STREAM", "DELIVERY-STATUS"]),
            hostile_text.filter(bool),
        )
    )
    lines = draw(_sizes) if mtype.upper() == "TEXT" else None
    return BodyPart(
        mtype,
        subtype,
        draw(_params),
        draw(nstrings),
        draw(nstrings),
        draw(nstrings),
        draw(_sizes),
        lines,
        **draw(_ext_fields()),  # type: ignore[arg-type]
    )


def _message_part(
    inner: st.SearchStrategy[BodyPart | MultipartBody],
) -> st.SearchStrategy[BodyPart]:
    @st.composite
    def build(draw: st.DrawFn) -> BodyPart:
        return BodyPart(
            draw(st.sampled_from(["MESSAGE", "message"])),
            draw(st.sampled_from(["RFC822", "rfc822", "GLOBAL"])),
            draw(_params),
            draw(nstrings),
            draw(nstrings),
            draw(nstrings),
            draw(_sizes),
            draw(_sizes),
            draw(envelopes),
            draw(inner),
            **draw(_ext_fields()),  # type: ignore[arg-type]
        )

    return build()


def _multipart(
    inner: st.SearchStrategy[BodyPart | MultipartBody],
) -> st.SearchStrategy[MultipartBody]:
    @st.composite
    def build(draw: st.DrawFn) -> MultipartBody:
        ext = draw(_ext_fields())
        n = draw(st.integers(0, 5))
        return MultipartBody(
            tuple(draw(st.lists(inner, min_size=1, max_size=3))),
            draw(st.one_of(st.sampled_from(["MIXED", "alternative"]), hostile_text.filter(bool))),
            draw(_params) if n > 0 else (),
            ext["disposition"] if n > 1 else None,  # type: ignore[arg-type]
            ext["language"] if n > 2 else None,  # type: ignore[arg-type]
            ext["location"] if n > 3 else None,  # type: ignore[arg-type]
            ext["extensions"] if n > 4 else (),  # type: ignore[arg-type]
        )

    return build()


bodies: st.SearchStrategy[BodyPart | MultipartBody] = st.recursive(
    _leaf_parts(),
    lambda inner: st.one_of(_multipart(inner), _message_part(inner)),
    max_leaves=5,
)

# --- FETCH --------------------------------------------------------------------------

aware_datetimes = st.builds(
    lambda d, minutes: d.replace(
        microsecond=0, tzinfo=datetime.timezone(datetime.timedelta(minutes=minutes))
    ),
    st.datetimes(datetime.datetime(1000, 1, 1), datetime.datetime(9999, 12, 31)),
    st.integers(-(23 * 60 + 59), 23 * 60 + 59),
)
_sections = st.sampled_from(
    [
        "",
        "HEADER",
        "TEXT",
        "1",
        "1.2",
        "1.2.MIME",
        "2.HEADER",
        "HEADER.FIELDS (FROM SUBJECT)",
        "header.fields.not (Date X-Foo)",
        "1.HEADER.FIELDS (TO)",
    ]
)
_origins = st.one_of(st.just(""), st.integers(0, NZ_MAX).map(lambda n: f"<{n}>"))
_body_bytes = st.one_of(
    st.none(),
    st.binary(max_size=40),
    st.sampled_from([b"", b"\r\n", b"a\r\n\r\nb", b")\r\n* 1 EXISTS\r\n", b"{5}\r\n", b"\x00\xff"]),
)
objectids = st.text(st.sampled_from("abcXYZ019_-"), min_size=1, max_size=20)


@st.composite
def fetch_items(draw: st.DrawFn) -> dict[str, object]:
    items: dict[str, object] = {}
    draws: dict[str, st.SearchStrategy[object]] = {
        "UID": nz.map(UID),
        "FLAGS": flag_lists,
        "INTERNALDATE": aware_datetimes,
        "RFC822.SIZE": st.integers(0, NZ_MAX),
        "ENVELOPE": envelopes,
        "BODY": bodies,
        "BODYSTRUCTURE": bodies,
        "RFC822": _body_bytes,
        "RFC822.HEADER": _body_bytes,
        "RFC822.TEXT": _body_bytes,
        "MODSEQ": modseqs,
        "EMAILID": objectids,
        "THREADID": st.one_of(st.none(), objectids),
    }
    for key in draw(st.lists(st.sampled_from(sorted(draws)), max_size=5, unique=True)):
        items[key] = draw(draws[key])
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(["BODY", "BINARY", "BINARY.SIZE", "X"]))
        if kind == "X":
            items[draw(x_names)] = draw(generic_values)
            continue
        section = draw(_sections)
        if kind == "BINARY.SIZE":
            items[normalize_fetch_item_name(f"BINARY.SIZE[{section}]")] = draw(
                st.integers(0, NZ_MAX)
            )
        else:
            origin = draw(_origins)
            items[normalize_fetch_item_name(f"{kind}[{section}]{origin}")] = draw(_body_bytes)
    return items


@st.composite
def fetch_responses(draw: st.DrawFn) -> FetchResponse:
    items = FetchItems(draw(fetch_items()))
    return FetchResponse(SeqNum(draw(nz)), items.uid, items)


# --- everything ---------------------------------------------------------------------


def untagged_responses(utf8: bool = False) -> st.SearchStrategy[Event]:
    """Every response but the greeting (which only comes first)."""
    return st.one_of(
        tagged(),
        untagged_status(),
        continuations(),
        st.builds(CapabilityResponse, capability_lists),
        # ENABLED UTF8=ACCEPT switches the parser's mailbox decoding: tested apart.
        st.builds(EnabledResponse, capability_lists.filter(lambda c: "UTF8=ACCEPT" not in c)),
        list_responses(utf8),
        status_responses(utf8),
        searches,
        sorts,
        esearches(),
        threads,
        st.builds(FlagsResponse, flag_lists),
        st.builds(ExistsResponse, st.integers(0, NZ_MAX)),
        st.builds(RecentResponse, st.integers(0, NZ_MAX)),
        st.builds(ExpungeResponse, nz.map(SeqNum)),
        st.builds(VanishedResponse, uidsets, st.booleans()),
        namespace_responses,
        id_responses,
        quota_responses,
        quotaroot_responses(utf8),
        unknown_responses,
        fetch_responses(),
    )


any_response = untagged_responses()
