"""Streamed results: FETCH messages, body chunks, IDLE and unsolicited events.

Each is an async iterator handed out by an async context manager of
:class:`~pipeimap.Client`, so it is always closed: leaving the block early
cancels the command(s) in the scheduler (their remaining responses are read
and discarded, never mistaken for another command's) and ends the
subscription.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import anyio

from ..errors import ConnectionLostError
from ..protocol import _commands as c
from ..protocol._responses import StreamedLiteral, VanishedResponse
from ..protocol._seqset import UIDSet
from ..protocol._types import UID, SeqNum
from ..scheduler import (
    Completed,
    ContinuationRequested,
    Delivered,
    Failed,
    LiteralChunk,
    LiteralEnded,
    LiteralStarted,
    MailboxEvent,
    MessageDelivered,
)
from ._connection import CommandHandle, Connection, Subscription, fresh_error
from ._ops import FetchAssembler
from ._results import BodyChunk, FetchedMessage

__all__ = ["BodyStream", "EventStream", "FetchStream", "IdleSession"]


class FetchStream:
    """Messages of one :meth:`Client.fetch`, in the order the server sends them.

    After the iteration ends, :attr:`missing` lists requested UIDs that never
    came (expunged meanwhile, or never existed) and :attr:`vanished` the UIDs a
    ``CHANGEDSINCE ... VANISHED`` fetch reported as expunged (RFC 7162).
    """

    def __init__(self, handles: list[CommandHandle]) -> None:
        self._handles = handles
        self._i = 0
        self._asm = FetchAssembler()
        self._missing: list[UID] = []
        self._vanished: list[UIDSet] = []

    def __aiter__(self) -> FetchStream:
        return self

    async def __anext__(self) -> FetchedMessage:
        while self._i < len(self._handles):
            handle = self._handles[self._i]
            o = handle.next_nowait()  # (no coroutine when one is waiting: the usual case)
            if o is None:
                o = await handle.next()
            if isinstance(o, MessageDelivered):
                return self._asm.message(o)
            if isinstance(o, Completed):
                self._missing.extend(o.missing)
                self._i += 1
            elif isinstance(o, Failed):
                self._i = len(self._handles)
                self.cancel()
                raise fresh_error(o.error)
            elif isinstance(o, Delivered):
                if isinstance(o.response, VanishedResponse):
                    self._vanished.append(o.response.uids)
            else:
                self._asm.feed(o)
        raise StopAsyncIteration

    @property
    def missing(self) -> tuple[UID, ...]:
        return tuple(self._missing)

    @property
    def vanished(self) -> UIDSet | None:
        if not self._vanished:
            return None
        return self._vanished[0].union(*self._vanished[1:])

    def cancel(self) -> None:
        for h in self._handles:
            h.cancel()


class BodyStream:
    """Chunks of one body section per message (:meth:`Client.stream_bodies`).

    A message larger than the parser's ``stream_threshold`` arrives in many
    chunks, smaller ones in one; the reader never buffers more than the
    stream's byte budget ahead of the consumer.
    """

    def __init__(
        self, handles: list[CommandHandle], item: str, uid_for: Callable[[int], UID | None]
    ) -> None:
        self._handles = handles
        self._item = item
        self._uid_for = uid_for
        self._i = 0
        self._cur: tuple[UID | None, int, int] | None = None  # uid, seq, size
        self._offset = 0

    def __aiter__(self) -> BodyStream:
        return self

    async def __anext__(self) -> BodyChunk:
        while self._i < len(self._handles):
            o = await self._handles[self._i].next()
            if isinstance(o, LiteralStarted):
                uid = o.uid if o.uid is not None else self._uid_for(o.seq)
                self._cur = (uid, int(o.seq), o.size)
                self._offset = 0
            elif isinstance(o, LiteralChunk) and self._cur is not None:
                uid, seq, size = self._cur
                chunk = BodyChunk(uid, SeqNum(seq), o.data, self._offset, size)
                self._offset += len(o.data)
                return chunk
            elif isinstance(o, LiteralEnded):
                self._cur = None
            elif isinstance(o, MessageDelivered):
                value = o.items.get(self._item)
                if isinstance(value, StreamedLiteral) or self._item not in o.items:
                    continue
                data = value if isinstance(value, bytes) else b""
                uid = o.uid if o.uid is not None else o.items.uid
                return BodyChunk(uid, o.seq, data, 0, len(data))
            elif isinstance(o, Completed):
                self._i += 1
            elif isinstance(o, Failed):
                self._i = len(self._handles)
                self.cancel()
                raise fresh_error(o.error)
        raise StopAsyncIteration

    def cancel(self) -> None:
        for h in self._handles:
            h.cancel()


class EventStream:
    """Unsolicited events (:meth:`Client.events`): EXISTS, EXPUNGE/VANISHED,
    flag changes by other clients, ALERTs, BYE...  Ends when the connection
    closes cleanly; raises ConnectionLostError if it is lost."""

    def __init__(self, conn: Connection, sub: Subscription) -> None:
        self._conn = conn
        self._sub = sub
        self._closed = False

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> MailboxEvent:
        try:
            return await self._sub.get()  # type: ignore[return-value]
        except ConnectionLostError:
            if self._closed or self._conn.error is None:
                raise StopAsyncIteration from None
            raise

    def close(self) -> None:
        self._closed = True
        self._sub.close()


class IdleSession:
    """Events while the connection idles (RFC 2177).

    Another command submitted on the client ends IDLE by itself (the
    scheduler writes ``DONE``); the next wait re-enters IDLE.  IDLE is also
    renewed every ``renew_after`` seconds (RFC 2177 asks for less than 29
    minutes) so that NAT boxes and the server keep the connection.
    """

    def __init__(self, conn: Connection, renew_after: float | None) -> None:
        self._conn = conn
        self._renew_after = renew_after
        self._sub = conn.subscribe()
        self._handle: CommandHandle | None = None
        self._established = False
        self._deadline = math.inf
        self._awaiting = False  # a response is due (IDLE's "+", or after DONE)

    async def start(self) -> None:
        """Enter IDLE and return once the server has confirmed it with ``+``."""
        self._enter()
        while not self._established and self._handle is not None:
            await self._step()

    def _enter(self) -> None:
        self._handle = self._conn.submit(c.Idle(), inbox=self._sub.inbox)
        self._established = False
        self._awaiting = True
        self._deadline = math.inf

    async def _step(self) -> MailboxEvent | None:
        """Wait for one item; returns an event, or None after an IDLE outcome."""
        wait = None if self._awaiting else self._deadline - anyio.current_time()
        if wait is not None and wait <= 0:
            self._renew()
            return None
        try:
            if wait is None or math.isinf(wait):
                item = await self._conn.wait(self._sub.inbox, use_timeout=self._awaiting)
            else:
                with anyio.move_on_after(wait):
                    item = await self._conn.wait(self._sub.inbox, use_timeout=False)
                    return self._take(item)
                self._renew()
                return None
        except ConnectionLostError:
            if self._conn.error is None:
                raise StopAsyncIteration from None
            raise
        return self._take(item)

    def _take(self, item: object) -> MailboxEvent | None:
        h = self._handle
        if isinstance(item, ContinuationRequested):
            self._established = True
            self._awaiting = False
            if self._renew_after is not None:
                self._deadline = anyio.current_time() + self._renew_after
            return None
        if isinstance(item, Completed):
            if h is not None:
                h.done = True
            self._handle = None
            self._awaiting = False
            return None
        if isinstance(item, Failed):
            if h is not None:
                h.done = True
            self._handle = None
            raise fresh_error(item.error)
        if isinstance(
            item, (Delivered, MessageDelivered, LiteralStarted, LiteralChunk, LiteralEnded)
        ):
            return None  # nothing is solicited by IDLE
        return item  # type: ignore[return-value]

    def _renew(self) -> None:
        if self._handle is not None:
            self._conn.end_idle(self._handle.cid)
            self._awaiting = True
            self._deadline = math.inf

    def __aiter__(self) -> IdleSession:
        return self

    async def __anext__(self) -> MailboxEvent:
        while True:
            if self._handle is None:
                if self._conn.closed and self._conn.error is None:
                    raise StopAsyncIteration
                self._enter()
            event = await self._step()
            if event is not None:
                return event

    def close(self) -> None:
        if self._handle is not None:
            self._conn.cancel(self._handle, keep_inbox=True)
            self._handle.done = True
            self._handle = None
        self._sub.close()
