"""pipeimap.scheduler -- the sans-IO pipelining core.

Footprints, the dependency analyzer (admission rules R1-R8 of
``pipelining.md``), write batching, and the response router.  No I/O and no
async library: the client drives a :class:`Scheduler` with
:meth:`~Scheduler.submit`, :meth:`~Scheduler.next_write` and
:meth:`~Scheduler.on_event` and does what the returned outcomes say.
"""

from __future__ import annotations

from ._analyzer import batch_conflict, gates, ordered_pair, pair_conflict
from ._events import (
    AlertReceived,
    ByeReceived,
    CapabilitiesChanged,
    ExtensionsEnabled,
    FetchDataReceived,
    FlagsChanged,
    MailboxClosed,
    MailboxEvent,
    MailboxFlagsChanged,
    MessageCountChanged,
    MessagesExpunged,
    NoticeReceived,
    RecentCountChanged,
    ResponseReceived,
    UidValidityChanged,
)
from ._footprint import (
    ALL_MESSAGES,
    Access,
    Barrier,
    Footprint,
    FootprintContext,
    MessageScope,
    Selection,
    Solicit,
    Wire,
    compute_footprint,
    describe_command,
)
from ._outcomes import (
    CommandId,
    Completed,
    ContinuationRequested,
    Delivered,
    Failed,
    Fatal,
    LiteralChunk,
    LiteralEnded,
    LiteralStarted,
    MessageDelivered,
    Outcome,
    Unsolicited,
    WriteBatch,
)
from ._scheduler import Scheduler, SchedulerOptions
from ._state import AuthState, MailboxState, SessionState

__all__ = [
    "ALL_MESSAGES",
    "Access",
    "AlertReceived",
    "AuthState",
    "Barrier",
    "ByeReceived",
    "CapabilitiesChanged",
    "CommandId",
    "Completed",
    "ContinuationRequested",
    "Delivered",
    "ExtensionsEnabled",
    "Failed",
    "Fatal",
    "FetchDataReceived",
    "FlagsChanged",
    "Footprint",
    "FootprintContext",
    "LiteralChunk",
    "LiteralEnded",
    "LiteralStarted",
    "MailboxClosed",
    "MailboxEvent",
    "MailboxFlagsChanged",
    "MailboxState",
    "MessageCountChanged",
    "MessageDelivered",
    "MessageScope",
    "MessagesExpunged",
    "NoticeReceived",
    "Outcome",
    "RecentCountChanged",
    "ResponseReceived",
    "Scheduler",
    "SchedulerOptions",
    "Selection",
    "SessionState",
    "Solicit",
    "UidValidityChanged",
    "Unsolicited",
    "Wire",
    "WriteBatch",
    "batch_conflict",
    "compute_footprint",
    "describe_command",
    "gates",
    "ordered_pair",
    "pair_conflict",
]
