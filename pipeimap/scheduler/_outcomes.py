"""Outcomes: what the scheduler tells the client to do with each parser event.

Every submitted command ends with exactly one :class:`Completed` or
:class:`Failed` (unless the client cancelled it); everything before that is
data for the task that asked (:class:`Delivered`, :class:`MessageDelivered`,
the ``Literal*`` stream, :class:`ContinuationRequested`).  :class:`Unsolicited`
goes to event subscribers; :class:`Fatal` means the connection must be closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NewType

from ..protocol._responses import ContinuationRequest, FetchItems, TaggedResponse
from ..protocol._types import UID, SeqNum
from ._events import MailboxEvent

__all__ = [
    "CommandId",
    "Completed",
    "ContinuationRequested",
    "Delivered",
    "Failed",
    "Fatal",
    "LiteralChunk",
    "LiteralEnded",
    "LiteralStarted",
    "MessageDelivered",
    "Outcome",
    "Unsolicited",
    "WriteBatch",
]

CommandId = NewType("CommandId", int)
"""Identifies one submitted command for its whole life (not its tag: tags are
assigned when the command is written)."""


@dataclass(frozen=True, slots=True)
class WriteBatch:
    """Bytes to send in one write.

    ``sensitive_spans``: ``(start, end)`` offsets of credential bytes, to redact
    in traces.  ``commands``: the commands that got bytes in this batch (they are
    in flight from now on).
    """

    data: bytes
    sensitive_spans: tuple[tuple[int, int], ...]
    commands: tuple[CommandId, ...]


@dataclass(frozen=True, slots=True)
class Delivered:
    """Untagged data solicited by ``cid`` (LIST, STATUS, SEARCH, ESEARCH, CAPABILITY...)."""

    cid: CommandId
    response: object


@dataclass(frozen=True, slots=True)
class MessageDelivered:
    """One message's FETCH items for ``cid``, merged across split FETCH lines
    (RFC 2683 section 3.4.4)."""

    cid: CommandId
    seq: SeqNum
    uid: UID | None
    items: FetchItems


@dataclass(frozen=True, slots=True)
class LiteralStarted:
    """A streamed body literal for ``cid`` begins; chunks follow."""

    cid: CommandId
    uid: UID | None
    seq: SeqNum
    item: str
    size: int


@dataclass(frozen=True, slots=True)
class LiteralChunk:
    cid: CommandId
    data: bytes


@dataclass(frozen=True, slots=True)
class LiteralEnded:
    cid: CommandId


@dataclass(frozen=True, slots=True)
class ContinuationRequested:
    """An exchange command (AUTHENTICATE, IDLE) got ``+`` (RFC 9051 section 7.6)."""

    cid: CommandId
    request: ContinuationRequest


@dataclass(frozen=True, slots=True)
class Completed:
    """Tagged ``OK``.  ``missing``: UIDs of a bounded UID FETCH/STORE set that
    never came (expunged meanwhile, or never existed)."""

    cid: CommandId
    tagged: TaggedResponse
    missing: tuple[UID, ...] = ()


@dataclass(frozen=True, slots=True)
class Failed:
    """The command ended without success: ``CommandNoError``/``CommandBadError``
    (tagged NO/BAD), ``PredecessorFailedError`` (R7), ``ConnectionLostError``,
    or an ``InvalidArgumentError`` if it could not be encoded at write time."""

    cid: CommandId
    error: Exception


@dataclass(frozen=True, slots=True)
class Unsolicited:
    event: MailboxEvent


@dataclass(frozen=True, slots=True)
class Fatal:
    """The connection cannot go on (protocol violation, unexpected BYE)."""

    error: Exception


Outcome = (
    Delivered
    | MessageDelivered
    | LiteralStarted
    | LiteralChunk
    | LiteralEnded
    | ContinuationRequested
    | Completed
    | Failed
    | Unsolicited
    | Fatal
)
