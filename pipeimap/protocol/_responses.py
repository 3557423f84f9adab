"""Typed server responses and parser events (RFC 9051 section 7).

Every event the :class:`~pipeimap.protocol.ResponseParser` returns is one of the
frozen, slotted dataclasses below.  Text is ``str`` (UTF-8 decoded with
``surrogateescape``, so no byte is lost); message contents stay ``bytes``.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple, TypeAlias

from ._types import UID, Flag, ModSeq, RawMailbox, SeqNum

if TYPE_CHECKING:
    from ._codes import ResponseCode
    from ._seqset import SeqSet, UIDSet

__all__ = [
    "Address",
    "BodyPart",
    "BodyStructure",
    "CapabilityResponse",
    "ContinuationRequest",
    "Disposition",
    "ESearchResponse",
    "EnabledResponse",
    "Envelope",
    "Event",
    "ExistsResponse",
    "ExpungeResponse",
    "FetchItems",
    "FetchLiteralChunk",
    "FetchLiteralEnded",
    "FetchLiteralStarted",
    "FetchResponse",
    "FlagsResponse",
    "Greeting",
    "IdResponse",
    "ListResponse",
    "MailboxStatusResponse",
    "MultipartBody",
    "Namespace",
    "NamespaceResponse",
    "QuotaResource",
    "QuotaResponse",
    "QuotaRootResponse",
    "RecentResponse",
    "SearchResponse",
    "SortResponse",
    "StreamedLiteral",
    "TaggedResponse",
    "ThreadNode",
    "ThreadResponse",
    "UnknownResponse",
    "UntaggedStatus",
    "VanishedResponse",
]

# --- status responses (RFC 9051 section 7.1) ------------------------------------


@dataclass(frozen=True, slots=True)
class Greeting:
    """The server greeting: ``* OK``, ``* PREAUTH`` or ``* BYE`` (RFC 9051 section 7.1)."""

    status: str
    code: ResponseCode | None
    text: str


@dataclass(frozen=True, slots=True)
class TaggedResponse:
    """``tag OK/NO/BAD [code] text``: a command completed (RFC 9051 section 7.1)."""

    tag: str
    status: str
    code: ResponseCode | None
    text: str


@dataclass(frozen=True, slots=True)
class UntaggedStatus:
    """``* OK/NO/BAD/BYE/PREAUTH [code] text`` (RFC 9051 sections 7.1.1-7.1.5)."""

    status: str
    code: ResponseCode | None
    text: str


@dataclass(frozen=True, slots=True)
class ContinuationRequest:
    """``+ text``: the server awaits more of a command (RFC 9051 section 7.6).

    ``data`` is ``text`` base64-decoded when it is valid base64 (a SASL
    challenge; ``b""`` for an empty one), else ``None``.  Gmail sends
    ``+ Still here`` during IDLE (mjs/imapclient #351): that is text.
    """

    text: str
    code: ResponseCode | None
    data: bytes | None


# --- server and mailbox data (RFC 9051 sections 7.2-7.4) ----------------------


@dataclass(frozen=True, slots=True)
class CapabilityResponse:
    """``* CAPABILITY ...``; names are uppercased."""

    capabilities: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EnabledResponse:
    """``* ENABLED ...`` (RFC 5161); names are uppercased."""

    capabilities: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ListResponse:
    """``* LIST`` / ``* LSUB`` (RFC 9051 section 7.3.1, RFC 5258, RFC 6154).

    ``mailbox`` is decoded (modified UTF-7, or UTF-8 once ``UTF8=ACCEPT`` is
    enabled); ``mailbox_raw`` holds the wire bytes, for reuse in commands.
    ``extended`` holds the extended data items (``CHILDINFO``, ``OLDNAME``...)
    as generic values keyed by uppercased tag.
    """

    kind: str
    attributes: tuple[str, ...]
    delimiter: str | None
    mailbox: str
    mailbox_raw: bytes
    extended: Mapping[str, object] = field(default_factory=dict)

    @property
    def raw_mailbox(self) -> RawMailbox:
        """The mailbox as a :class:`~pipeimap.protocol.RawMailbox`: pass it to a
        command to name this mailbox with the exact bytes the server listed
        (needed when ``mailbox_raw`` is not canonical modified UTF-7)."""
        return RawMailbox(self.mailbox_raw, self.mailbox)

    @property
    def child_info(self) -> tuple[str, ...]:
        """The ``CHILDINFO`` extended item (RFC 5258 section 4), e.g. ``("SUBSCRIBED",)``."""
        value = self.extended.get("CHILDINFO")
        if isinstance(value, tuple):
            return tuple(str(v).upper() for v in value)
        return ()

    @property
    def old_name(self) -> str | None:
        """The ``OLDNAME`` extended item (RFC 9051 section 6.3.9), decoded."""
        value = self.extended.get("OLDNAME")
        if isinstance(value, tuple) and value and isinstance(value[0], str):
            return value[0]
        return None


@dataclass(frozen=True, slots=True)
class MailboxStatusResponse:
    """``* STATUS mailbox (...)`` (RFC 9051 section 7.3.2, RFC 7162, RFC 8438, RFC 7889).

    Items that were not returned are ``None``; ``appendlimit`` is ``None`` both
    when absent and when the server sent ``NIL`` (no limit) -- see ``other``.
    ``other`` holds unknown items (uppercased name -> raw value).
    """

    mailbox: str
    mailbox_raw: bytes
    messages: int | None = None
    uidnext: int | None = None
    uidvalidity: int | None = None
    unseen: int | None = None
    recent: int | None = None
    deleted: int | None = None
    size: int | None = None
    highestmodseq: ModSeq | None = None
    appendlimit: int | None = None
    other: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SearchResponse:
    """``* SEARCH n...`` (RFC 9051 section 7.3.4, ``(MODSEQ n)`` from RFC 7162).

    The numbers are UIDs or sequence numbers depending on the command.
    """

    numbers: tuple[int, ...]
    modseq: ModSeq | None = None


@dataclass(frozen=True, slots=True)
class SortResponse:
    """``* SORT n...`` (RFC 5256 section 4)."""

    numbers: tuple[int, ...]
    modseq: ModSeq | None = None


@dataclass(frozen=True, slots=True)
class ESearchResponse:
    """``* ESEARCH`` (RFC 4731, RFC 9051 section 7.3.4, RFC 9394 PARTIAL).

    ``all`` is a :class:`UIDSet` when ``uid`` is true, else a :class:`SeqSet`:
    a set, sorted and merged.  ``all_ordered`` is the same ``ALL`` in the order
    the server sent it, which matters after ``SORT RETURN (ALL)`` (ESORT,
    RFC 5267 section 3.1: the numbers come in sort order, ``ALL 5,3,2,1``): a
    tuple of runs ``(first, last)``, each standing for ``first``, then each
    number up or down to ``last`` (``5:3`` is 5, 4, 3); consecutive numbers are
    merged into one run, so ``ALL 2,10,11`` gives ``((2, 2), (10, 11))``, the
    runs of ``UIDSet(2, 10, 11)``.  :meth:`all_in_order` iterates the numbers.
    It is ``None`` when ``all`` is, or holds ``*``; when not given, it is
    derived from ``all`` (ascending).  ``partial`` is ``(range text, set or
    None)``.  ``other`` keeps unknown return data (uppercased name -> raw value).
    """

    tag: str | None
    uid: bool
    min: int | None = None
    max: int | None = None
    count: int | None = None
    all: UIDSet | SeqSet | None = None
    partial: tuple[str, UIDSet | SeqSet | None] | None = None
    modseq: ModSeq | None = None
    other: Mapping[str, object] = field(default_factory=dict)
    all_ordered: tuple[tuple[int, int], ...] | None = None

    def __post_init__(self) -> None:
        if self.all_ordered is None and self.all is not None and self.all.is_bounded:
            # A set's ranges are ascending, disjoint and non-adjacent: already runs.
            object.__setattr__(self, "all_ordered", self.all.ranges)
        elif self.all_ordered is not None:
            object.__setattr__(self, "all_ordered", ordered_runs(self.all_ordered))

    def all_in_order(self) -> Iterator[int]:
        """The numbers of ``ALL`` in the server's order (lazily: ``1:4294967295``
        is a short line but four billion numbers)."""
        for first, last in self.all_ordered or ():
            step = 1 if last >= first else -1
            yield from range(first, last + step, step)


def ordered_runs(ranges: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Merge ``(first, last)`` elements, in order, into maximal runs of numbers
    that step by one in a single direction (``5,4,3`` -> ``((5, 3),)``), so that
    equal orders give equal tuples whatever ranges the server chose."""
    out: list[list[int]] = []
    for first, last in ranges:
        if out:
            run = out[-1]
            a, b = run
            # extend upwards (run and element ascending or single) or downwards
            if (first == b + 1 and a <= b and first <= last) or (
                first == b - 1 and a >= b and first >= last
            ):
                run[1] = last
                continue
        out.append([first, last])
    return tuple((a, b) for a, b in out)


@dataclass(frozen=True, slots=True)
class ThreadNode:
    """One message of a ``THREAD`` response and its replies (RFC 5256 section 4).

    ``number`` is ``None`` for the placeholder parent of siblings whose real
    parent is missing (``((3)(5))``).
    """

    number: int | None
    children: tuple[ThreadNode, ...] = ()


@dataclass(frozen=True, slots=True)
class ThreadResponse:
    """``* THREAD`` (RFC 5256): one root :class:`ThreadNode` per thread."""

    threads: tuple[ThreadNode, ...]


@dataclass(frozen=True, slots=True)
class FlagsResponse:
    """``* FLAGS (...)`` (RFC 9051 section 7.3.5)."""

    flags: tuple[Flag, ...]


@dataclass(frozen=True, slots=True)
class ExistsResponse:
    """``* n EXISTS`` (RFC 9051 section 7.4.1)."""

    count: int


@dataclass(frozen=True, slots=True)
class RecentResponse:
    """``* n RECENT`` (RFC 3501 section 7.3.2)."""

    count: int


@dataclass(frozen=True, slots=True)
class ExpungeResponse:
    """``* n EXPUNGE`` (RFC 9051 section 7.5.1)."""

    seq: SeqNum


@dataclass(frozen=True, slots=True)
class VanishedResponse:
    """``* VANISHED [(EARLIER)] uids`` (RFC 7162 section 3.2.10)."""

    uids: UIDSet
    earlier: bool


@dataclass(frozen=True, slots=True)
class Namespace:
    """One namespace descriptor (RFC 2342, RFC 9051 section 7.3.3)."""

    prefix: str
    delimiter: str | None
    extensions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NamespaceResponse:
    """``* NAMESPACE personal other shared``; ``None`` means NIL."""

    personal: tuple[Namespace, ...] | None
    other: tuple[Namespace, ...] | None
    shared: tuple[Namespace, ...] | None


@dataclass(frozen=True, slots=True)
class IdResponse:
    """``* ID`` (RFC 2971): ``None`` for NIL, else field -> value (or ``None``)."""

    params: Mapping[str, str | None] | None


@dataclass(frozen=True, slots=True)
class QuotaResource:
    """One resource of a QUOTA response: name (uppercased), usage, limit."""

    name: str
    usage: int
    limit: int


@dataclass(frozen=True, slots=True)
class QuotaResponse:
    """``* QUOTA root (resource usage limit ...)`` (RFC 9208 / RFC 2087)."""

    root: str
    resources: tuple[QuotaResource, ...]


@dataclass(frozen=True, slots=True)
class QuotaRootResponse:
    """``* QUOTAROOT mailbox root...`` (RFC 9208 / RFC 2087)."""

    mailbox: str
    roots: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UnknownResponse:
    """An untagged response pipeimap does not know (ACL, METADATA, X-...).

    ``name`` is the uppercased keyword, ``number`` the leading number if any,
    ``data`` the rest as generic values (str, bytes, None, nested tuples).
    """

    name: str
    number: int | None
    data: tuple[object, ...]


# --- message data: ENVELOPE, BODYSTRUCTURE, FETCH -------------------------------


# ENVELOPE and BODYSTRUCTURE values are NamedTuples, not dataclasses: a header-only
# FETCH line holds a dozen of them, and a frozen dataclass's __init__ (one
# object.__setattr__ per field) cost more than the whole rest of the parse.
# NamedTuples are just as immutable and typed, and build from a list in C.


class Address(NamedTuple):
    """An ENVELOPE address (RFC 9051 section 9, ``address``).

    A group start has ``host is None`` and the group name in ``mailbox``; a
    group end has ``mailbox is None`` too (RFC 9051 section 7.5.2).
    """

    name: str | None
    adl: str | None
    mailbox: str | None
    host: str | None

    @property
    def email(self) -> str | None:
        """``mailbox@host``, or ``None`` for group markers."""
        if self.mailbox is None or self.host is None:
            return None
        return f"{self.mailbox}@{self.host}"


class Envelope(NamedTuple):
    """The ENVELOPE of a message (RFC 9051 section 7.5.2); header text is not
    RFC 2047-decoded.  Empty address lists (NIL) are ``()``."""

    date: str | None
    subject: str | None
    from_: tuple[Address, ...]
    sender: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    bcc: tuple[Address, ...]
    in_reply_to: str | None
    message_id: str | None


class Disposition(NamedTuple):
    """``body-fld-dsp``: e.g. ``Disposition("attachment", (("filename", "a.pdf"),))``."""

    type: str
    params: tuple[tuple[str, str], ...]


class BodyPart(NamedTuple):
    """A non-multipart body (RFC 9051 section 9, ``body-type-1part``).

    ``lines`` is set for ``text/*`` and ``message/rfc822``; ``envelope`` and
    ``body`` for ``message/rfc822`` (and ``message/global``).  Extension data
    (``md5`` onwards) is present only in BODYSTRUCTURE.  Type, subtype and
    parameter names are kept as the server sent them; compare case-insensitively
    (or use :attr:`content_type`).  ``size`` is ``None`` if the server sent
    something that is not a number there (MailKit #823: ``-1``).
    """

    type: str
    subtype: str
    params: tuple[tuple[str, str], ...]
    id: str | None
    description: str | None
    encoding: str | None
    size: int | None
    lines: int | None = None
    envelope: Envelope | None = None
    body: BodyPart | MultipartBody | None = None
    md5: str | None = None
    disposition: Disposition | None = None
    language: tuple[str, ...] | None = None
    location: str | None = None
    extensions: tuple[object, ...] = ()

    @property
    def content_type(self) -> str:
        """``type/subtype`` in lowercase."""
        return f"{self.type}/{self.subtype}".lower()


class MultipartBody(NamedTuple):
    """A multipart body (RFC 9051 section 9, ``body-type-mpart``)."""

    parts: tuple[BodyPart | MultipartBody, ...]
    subtype: str
    params: tuple[tuple[str, str], ...] = ()
    disposition: Disposition | None = None
    language: tuple[str, ...] | None = None
    location: str | None = None
    extensions: tuple[object, ...] = ()

    @property
    def content_type(self) -> str:
        """``multipart/subtype`` in lowercase."""
        return f"multipart/{self.subtype}".lower()


BodyStructure: TypeAlias = "BodyPart | MultipartBody"


@dataclass(frozen=True, slots=True)
class StreamedLiteral:
    """Stands in a :class:`FetchResponse` for a literal delivered as
    :class:`FetchLiteralChunk` events instead of being held."""

    size: int


class FetchItems(Mapping[str, object]):
    """The data items of one ``* n FETCH`` line, keyed by normalized name.

    Keys are the names :func:`~pipeimap.protocol.normalize_fetch_item_name`
    returns (``UID``, ``FLAGS``, ``BODY[HEADER.FIELDS (FROM SUBJECT)]``,
    ``BODY[]<0>``...).  Values are typed: ``UID`` -> :class:`UID`, ``FLAGS`` ->
    ``tuple[Flag, ...]``, ``INTERNALDATE`` -> aware ``datetime``,
    ``RFC822.SIZE`` -> ``int``, ``ENVELOPE`` -> :class:`Envelope`,
    ``BODY``/``BODYSTRUCTURE`` -> :data:`BodyStructure`, body sections and
    ``RFC822*`` -> ``bytes`` (or :class:`StreamedLiteral`, or ``None`` for
    NIL), ``BINARY.SIZE[...]`` -> ``int``, ``MODSEQ`` -> :class:`ModSeq`,
    ``EMAILID``/``THREADID`` -> ``str`` (``THREADID`` may be ``None``).  Unknown
    items (``X-GM-MSGID``, ``X-GM-LABELS``) keep generic values: ``str``,
    ``bytes``, ``None`` and nested tuples.
    """

    __slots__ = ("_d",)

    def __init__(self, items: dict[str, object]) -> None:
        self._d = items

    def __getitem__(self, key: str) -> object:
        return self._d[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    # The Mapping mixins go through __getitem__ once per item (and ``get`` and
    # ``in`` catch a KeyError); the client and the router ask every message
    # these, so they go straight to the dict.  The views are read-only.
    def __contains__(self, key: object) -> bool:
        return key in self._d

    def get(self, key: str, default: object = None) -> object:
        return self._d.get(key, default)

    def keys(self) -> KeysView[str]:
        return self._d.keys()

    def values(self) -> ValuesView[object]:
        return self._d.values()

    def items(self) -> ItemsView[str, object]:
        return self._d.items()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FetchItems):
            return self._d == other._d
        if isinstance(other, Mapping):
            return self._d == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"FetchItems({self._d!r})"

    def section(self, name: str) -> bytes | StreamedLiteral | None:
        """The value of a body section item by (any spelling of) its name, e.g.
        ``items.section("BODY.PEEK[header]")``; ``KeyError`` if absent."""
        from ._parse_fetch import normalize_fetch_item_name

        value = self._d[normalize_fetch_item_name(name)]
        if value is None or isinstance(value, (bytes, StreamedLiteral)):
            return value
        raise KeyError(name)

    @property
    def uid(self) -> UID | None:
        return self._d.get("UID")  # type: ignore[return-value]

    @property
    def flags(self) -> tuple[Flag, ...] | None:
        return self._d.get("FLAGS")  # type: ignore[return-value]

    @property
    def internaldate(self) -> datetime | None:
        return self._d.get("INTERNALDATE")  # type: ignore[return-value]

    @property
    def rfc822_size(self) -> int | None:
        return self._d.get("RFC822.SIZE")  # type: ignore[return-value]

    @property
    def envelope(self) -> Envelope | None:
        return self._d.get("ENVELOPE")  # type: ignore[return-value]

    @property
    def bodystructure(self) -> BodyStructure | None:
        """BODYSTRUCTURE, or else the non-extensible BODY form."""
        value = self._d.get("BODYSTRUCTURE")
        if value is None:
            value = self._d.get("BODY")
        return value  # type: ignore[return-value]

    @property
    def modseq(self) -> ModSeq | None:
        return self._d.get("MODSEQ")  # type: ignore[return-value]

    @property
    def emailid(self) -> str | None:
        return self._d.get("EMAILID")  # type: ignore[return-value]

    @property
    def threadid(self) -> str | None:
        return self._d.get("THREADID")  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class FetchResponse:
    """``* n FETCH (...)`` (RFC 9051 section 7.5.2): one line, as sent.

    A server may split one message's items over several lines (RFC 2683
    section 3.4.4); each line is its own FetchResponse and merging is the
    router's job.  ``uid`` repeats ``items.uid`` for convenience.
    """

    seq: SeqNum
    uid: UID | None
    items: FetchItems


@dataclass(frozen=True, slots=True)
class FetchLiteralStarted:
    """A large FETCH body literal begins; :class:`FetchLiteralChunk` events follow.

    ``uid`` is set only if the UID item came earlier on the same line.
    """

    seq: SeqNum
    uid: UID | None
    name: str
    size: int


@dataclass(frozen=True, slots=True)
class FetchLiteralChunk:
    """The next bytes of the streamed literal (as many as had arrived)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class FetchLiteralEnded:
    """The streamed literal is complete; the rest of its FETCH line follows."""

    seq: SeqNum
    name: str
    size: int


Event: TypeAlias = (
    Greeting
    | TaggedResponse
    | UntaggedStatus
    | ContinuationRequest
    | CapabilityResponse
    | EnabledResponse
    | ListResponse
    | MailboxStatusResponse
    | SearchResponse
    | SortResponse
    | ESearchResponse
    | ThreadResponse
    | FlagsResponse
    | ExistsResponse
    | RecentResponse
    | ExpungeResponse
    | VanishedResponse
    | NamespaceResponse
    | IdResponse
    | QuotaResponse
    | QuotaRootResponse
    | UnknownResponse
    | FetchResponse
    | FetchLiteralStarted
    | FetchLiteralChunk
    | FetchLiteralEnded
)
