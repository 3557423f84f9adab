"""Unsolicited events: what subscribers learn about the session and the mailbox.

Names are past tense (something happened on the server).  They are emitted by
the router, wrapped in :class:`~pipeimap.scheduler.Unsolicited`, after the
change has been applied to :class:`~pipeimap.scheduler.SessionState` (wire
order, RFC 9051 section 7).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..protocol._codes import ResponseCode
from ..protocol._responses import FetchItems
from ..protocol._types import UID, Flag, ModSeq, SeqNum

__all__ = [
    "AlertReceived",
    "ByeReceived",
    "CapabilitiesChanged",
    "ExtensionsEnabled",
    "FetchDataReceived",
    "FlagsChanged",
    "MailboxClosed",
    "MailboxEvent",
    "MailboxFlagsChanged",
    "MessageCountChanged",
    "MessagesExpunged",
    "NoticeReceived",
    "RecentCountChanged",
    "ResponseReceived",
    "UidValidityChanged",
]


@dataclass(frozen=True, slots=True)
class MessagesExpunged:
    """``* n EXPUNGE`` (RFC 9051 section 7.5.1) or ``* VANISHED`` (RFC 7162 section 3.2.10).

    ``seqs`` are the sequence numbers at the moment each removal was applied
    (empty for VANISHED of unknown messages); ``uids`` those that were known.
    ``suspect`` is set when the server sent it while a sequence-number command
    was in flight (a server violation of RFC 9051 section 7.5.1).
    """

    seqs: tuple[SeqNum, ...]
    uids: tuple[UID, ...]
    vanished: bool = False
    suspect: bool = False


@dataclass(frozen=True, slots=True)
class MessageCountChanged:
    """``* n EXISTS`` outside SELECT/EXAMINE (RFC 9051 section 7.4.1)."""

    exists: int


@dataclass(frozen=True, slots=True)
class RecentCountChanged:
    """``* n RECENT`` outside SELECT/EXAMINE (RFC 3501 section 7.3.2)."""

    recent: int


@dataclass(frozen=True, slots=True)
class FlagsChanged:
    """FLAGS of one message nobody asked for (another client's STORE, or the
    ``\\Seen`` set by a non-PEEK body fetch; RFC 9051 section 7.5.2)."""

    seq: SeqNum
    uid: UID | None
    flags: tuple[Flag, ...]
    modseq: ModSeq | None = None


@dataclass(frozen=True, slots=True)
class FetchDataReceived:
    """FETCH items nobody asked for, other than FLAGS (kept, never dropped)."""

    seq: SeqNum
    uid: UID | None
    items: FetchItems


@dataclass(frozen=True, slots=True)
class MailboxFlagsChanged:
    """``* FLAGS`` outside SELECT/EXAMINE (RFC 9051 section 7.3.5)."""

    flags: tuple[Flag, ...]


@dataclass(frozen=True, slots=True)
class UidValidityChanged:
    """``[UIDVALIDITY n]`` changed outside SELECT: every cached UID is void
    (RFC 9051 section 2.3.1.1)."""

    old: int | None
    new: int


@dataclass(frozen=True, slots=True)
class MailboxClosed:
    """The selected mailbox was closed (``[CLOSED]``, RFC 7162 section 3.2.11;
    CLOSE, UNSELECT, or a failed SELECT)."""

    mailbox: str | None


@dataclass(frozen=True, slots=True)
class AlertReceived:
    """``[ALERT]``: the text must be shown to the user (RFC 9051 section 7.1)."""

    text: str


@dataclass(frozen=True, slots=True)
class NoticeReceived:
    """An untagged ``OK``/``NO``/``BAD`` that is not mailbox state (RFC 9051 section 7.1)."""

    status: str
    code: ResponseCode | None
    text: str


@dataclass(frozen=True, slots=True)
class ByeReceived:
    """``* BYE`` (RFC 9051 section 7.1.5)."""

    text: str


@dataclass(frozen=True, slots=True)
class CapabilitiesChanged:
    """New capabilities from ``* CAPABILITY`` or a ``[CAPABILITY]`` code."""

    capabilities: frozenset[str]


@dataclass(frozen=True, slots=True)
class ExtensionsEnabled:
    """``* ENABLED`` (RFC 5161 section 3.2)."""

    capabilities: frozenset[str]


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """Untagged data nobody solicited (a LIST, STATUS, SEARCH... with no command)."""

    response: object


MailboxEvent = (
    MessagesExpunged
    | MessageCountChanged
    | RecentCountChanged
    | FlagsChanged
    | FetchDataReceived
    | MailboxFlagsChanged
    | UidValidityChanged
    | MailboxClosed
    | AlertReceived
    | NoticeReceived
    | ByeReceived
    | CapabilitiesChanged
    | ExtensionsEnabled
    | ResponseReceived
)
