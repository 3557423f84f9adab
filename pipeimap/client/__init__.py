"""pipeimap.client -- the async I/O layer: transport, connection, authentication and the
public Client API (AnyIO; Trio is the default backend)."""

from __future__ import annotations

from ..scheduler import (
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
from ._batch import Batch, BatchItem
from ._client import BodySink, Client
from ._connect import LOGIN_COMMAND, TLSMode, connect, connect_transport
from ._pool import ConnectionPool, PoolStats
from ._results import (
    AppendResult,
    BodyChunk,
    ConnectionStats,
    CopyResult,
    FetchedMessage,
    MailboxInfo,
    MailboxView,
    SearchResult,
    SelectResult,
    StatusResult,
    StoreResult,
)
from ._streams import BodyStream, EventStream, FetchStream, IdleSession
from ._trace import TraceTarget

__all__ = [
    "LOGIN_COMMAND",
    "AlertReceived",
    "AppendResult",
    "Batch",
    "BatchItem",
    "BodyChunk",
    "BodySink",
    "BodyStream",
    "ByeReceived",
    "CapabilitiesChanged",
    "Client",
    "ConnectionPool",
    "ConnectionStats",
    "CopyResult",
    "EventStream",
    "ExtensionsEnabled",
    "FetchDataReceived",
    "FetchStream",
    "FetchedMessage",
    "FlagsChanged",
    "IdleSession",
    "MailboxClosed",
    "MailboxEvent",
    "MailboxFlagsChanged",
    "MailboxInfo",
    "MailboxView",
    "MessageCountChanged",
    "MessagesExpunged",
    "NoticeReceived",
    "PoolStats",
    "RecentCountChanged",
    "ResponseReceived",
    "SearchResult",
    "SelectResult",
    "StatusResult",
    "StoreResult",
    "TLSMode",
    "TraceTarget",
    "UidValidityChanged",
    "connect",
    "connect_transport",
]
