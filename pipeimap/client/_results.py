"""Public result types of :class:`~pipeimap.Client` methods.

All are frozen, slotted dataclasses built from what the server answered; none
holds a reference to the connection, so they can be kept, compared and sent to
other threads freely.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from ..protocol._responses import (
    BodyStructure,
    Envelope,
    FetchItems,
    MailboxStatusResponse,
    StreamedLiteral,
)
from ..protocol._seqset import SeqSet, UIDSet
from ..protocol._types import UID, Flag, ModSeq, SeqNum

__all__ = [
    "AppendResult",
    "BodyChunk",
    "ConnectionStats",
    "CopyResult",
    "FetchedMessage",
    "MailboxInfo",
    "MailboxView",
    "SearchResult",
    "SelectResult",
    "StatusResult",
    "StoreResult",
]


@dataclass(frozen=True, slots=True)
class FetchedMessage:
    """One message's FETCH data (RFC 9051 section 7.5.2), merged across the
    lines a server may split it over (RFC 2683 section 3.4.4).

    ``uid`` is always set for results of :meth:`Client.fetch` (pipeimap adds
    ``UID`` to every item list); it is ``None`` only if the server broke that
    rule.  ``items`` holds every item by normalized name (``BODY[]``,
    ``BODY[HEADER.FIELDS (SUBJECT)]``, ``FLAGS``...).
    """

    seq: SeqNum
    uid: UID | None
    items: FetchItems

    @property
    def flags(self) -> tuple[Flag, ...] | None:
        return self.items.flags

    @property
    def envelope(self) -> Envelope | None:
        return self.items.envelope

    @property
    def internaldate(self) -> datetime | None:
        return self.items.internaldate

    @property
    def size(self) -> int | None:
        """``RFC822.SIZE``."""
        return self.items.rfc822_size

    @property
    def modseq(self) -> ModSeq | None:
        return self.items.modseq

    @property
    def bodystructure(self) -> BodyStructure | None:
        return self.items.bodystructure

    def body(self, section: str = "") -> bytes | None:
        """A fetched body section by any spelling of its name (``""`` is the
        whole message, ``"HEADER"``, ``"1.MIME"``, ``"BODY.PEEK[TEXT]"``...).

        Raises ``KeyError`` if the section was not fetched.  ``None`` is a
        ``NIL`` answer.
        """
        if section:
            name = section if "[" in section else f"BODY[{section}]"
            value = self.items.section(name)
        else:  # the whole message: "BODY[]" is already normalized
            whole = self.items["BODY[]"]
            if whole is None or whole.__class__ is bytes:
                return whole
            value = self.items.section("BODY[]")
        if isinstance(value, StreamedLiteral):  # never left in results of fetch()
            raise KeyError(section)
        return value


@dataclass(frozen=True, slots=True)
class BodyChunk:
    """A piece of a streamed body section (:meth:`Client.stream_bodies`).

    A message's chunks arrive in order and without interleaving; the last one
    has ``last`` set (``offset + len(data) == size``).  ``uid`` is ``None``
    only if the server sent the body before the UID item and the UID was not
    known yet.
    """

    uid: UID | None
    seq: SeqNum
    data: bytes
    offset: int
    size: int

    @property
    def last(self) -> bool:
        return self.offset + len(self.data) >= self.size


@dataclass(frozen=True, slots=True)
class SelectResult:
    """What SELECT/EXAMINE reported (RFC 9051 section 6.3.2, RFC 7162 for
    ``highestmodseq``/``vanished``/``changed``)."""

    mailbox: str
    readonly: bool
    exists: int
    recent: int
    flags: tuple[Flag, ...]
    permanent_flags: tuple[Flag, ...]
    uidvalidity: int | None
    uidnext: int | None
    highestmodseq: ModSeq | None
    nomodseq: bool
    unseen: int | None
    vanished: UIDSet | None = None
    """QRESYNC: UIDs expunged since the given mod-sequence (``VANISHED (EARLIER)``)."""
    changed: tuple[FetchedMessage, ...] = ()
    """QRESYNC: messages whose flags changed since the given mod-sequence."""


@dataclass(frozen=True, slots=True)
class StatusResult:
    """``STATUS`` of a mailbox (RFC 9051 section 7.3.2); absent items are ``None``."""

    mailbox: str
    messages: int | None = None
    uidnext: int | None = None
    uidvalidity: int | None = None
    unseen: int | None = None
    recent: int | None = None
    deleted: int | None = None
    size: int | None = None
    highestmodseq: ModSeq | None = None
    appendlimit: int | None = None

    @classmethod
    def from_response(cls, r: MailboxStatusResponse) -> StatusResult:
        return cls(
            r.mailbox,
            r.messages,
            r.uidnext,
            r.uidvalidity,
            r.unseen,
            r.recent,
            r.deleted,
            r.size,
            r.highestmodseq,
            r.appendlimit,
        )


_SPECIAL_USE = frozenset(
    ("\\ALL", "\\ARCHIVE", "\\DRAFTS", "\\FLAGGED", "\\JUNK", "\\SENT", "\\TRASH", "\\IMPORTANT")
)


@dataclass(frozen=True, slots=True)
class MailboxInfo:
    """One mailbox from LIST (RFC 9051 section 7.3.1, LIST-EXTENDED RFC 5258,
    LIST-STATUS RFC 5819, SPECIAL-USE RFC 6154)."""

    name: str
    delimiter: str | None
    attributes: tuple[str, ...]
    status: StatusResult | None = None
    child_info: tuple[str, ...] = ()

    @property
    def special_use(self) -> str | None:
        """``\\Sent``, ``\\Trash``... (RFC 6154), or ``None``."""
        for a in self.attributes:
            if a.upper() in _SPECIAL_USE:
                return a
        return None

    @property
    def selectable(self) -> bool:
        return not any(a.upper() in ("\\NOSELECT", "\\NONEXISTENT") for a in self.attributes)

    @property
    def has_children(self) -> bool | None:
        """``True``/``False`` when the server said (``\\HasChildren``/``\\HasNoChildren``)."""
        upper = {a.upper() for a in self.attributes}
        if "\\HASCHILDREN" in upper:
            return True
        if "\\HASNOCHILDREN" in upper or "\\NOINFERIORS" in upper:
            return False
        return None

    @property
    def subscribed(self) -> bool:
        return any(a.upper() == "\\SUBSCRIBED" for a in self.attributes)


@dataclass(frozen=True, slots=True)
class SearchResult:
    """The messages a SEARCH matched (RFC 9051 section 6.4.4, ESEARCH RFC 4731).

    ``all`` is a :class:`UIDSet` (or :class:`SeqSet` for a sequence-number
    search), ``None`` when nothing matched (IMAP sets cannot be empty).
    Iterating gives the numbers in ascending order.  ``count``, ``min`` and
    ``max`` are filled from ``all`` or from the ESEARCH answer.
    """

    uid: bool
    all: UIDSet | SeqSet | None
    count: int
    min: int | None = None
    max: int | None = None
    modseq: ModSeq | None = None

    def __iter__(self) -> Iterator[int]:
        if self.all is None:
            return iter(())
        return iter(self.all)

    def __len__(self) -> int:
        return self.count

    def __bool__(self) -> bool:
        return self.count > 0

    def __contains__(self, number: object) -> bool:
        return self.all is not None and number in self.all


@dataclass(frozen=True, slots=True)
class StoreResult:
    """What STORE answered: ``modified`` holds the messages that failed an
    ``UNCHANGEDSINCE`` test (``[MODIFIED]``, RFC 7162 section 3.1.3);
    ``messages`` the new flags when ``silent=False`` (or MODSEQ with CONDSTORE)."""

    modified: UIDSet | SeqSet | None = None
    messages: tuple[FetchedMessage, ...] = ()


@dataclass(frozen=True, slots=True)
class AppendResult:
    """``[APPENDUID]`` (UIDPLUS, RFC 4315): the UIDs the appended messages got.
    Both fields are ``None`` if the server does not report them."""

    uidvalidity: int | None
    uids: UIDSet | None

    @property
    def uid_list(self) -> tuple[UID, ...]:
        """The UIDs, in append order (for a MULTIAPPEND, one per message)."""
        return tuple(self.uids) if self.uids is not None else ()


@dataclass(frozen=True, slots=True)
class CopyResult:
    """``[COPYUID]`` (UIDPLUS, RFC 4315) of COPY or MOVE: source -> destination UIDs."""

    uidvalidity: int
    mapping: tuple[tuple[UID, UID], ...] = field(default_factory=tuple)

    @property
    def source_uids(self) -> tuple[UID, ...]:
        return tuple(a for a, _ in self.mapping)

    @property
    def dest_uids(self) -> tuple[UID, ...]:
        return tuple(b for _, b in self.mapping)


@dataclass(frozen=True, slots=True)
class MailboxView:
    """A snapshot of the selected mailbox as the server last described it
    (updated in wire order by EXISTS, EXPUNGE, VANISHED, FLAGS...)."""

    name: str
    readonly: bool
    exists: int
    recent: int
    flags: tuple[Flag, ...]
    permanent_flags: tuple[Flag, ...]
    uidvalidity: int | None
    uidnext: int | None
    highestmodseq: ModSeq | None
    unseen: int | None


@dataclass(frozen=True, slots=True)
class ConnectionStats:
    """Counters of one connection (benchmarks, and proof of pipelining in tests).

    ``writes``: sends made; ``commands_written``: commands those sends started;
    ``max_in_flight``: the most commands in flight at once.
    """

    bytes_sent: int
    bytes_received: int
    writes: int
    commands_written: int
    max_in_flight: int
