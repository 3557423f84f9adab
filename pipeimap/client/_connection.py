"""One IMAP connection: a transport, a ResponseParser and a Scheduler, driven
by a reader task and a writer task.

Theory of operation: callers never touch the socket.  ``submit()`` hands a
command to the sans-IO :class:`~pipeimap.scheduler.Scheduler` and returns a
:class:`CommandHandle` whose private inbox receives that command's outcomes.
The *writer* task drains ``Scheduler.next_write()`` into the transport, one
coalesced send per batch; the *reader* task feeds received bytes to the
parser, each event to ``Scheduler.on_event()``, and routes the outcomes: to the
command's inbox, to event subscribers (unsolicited events), or -- for
``Fatal`` -- to closing the connection.  Reading and writing run at the same
time, so a deep pipeline never deadlocks on a server that answers while the
client is still writing.

Because only the writer sends, a caller cancelled while it waits can never
interrupt a half-written command: its command is cancelled in the scheduler
(never written if still queued; its responses drained and discarded if in
flight).  Inboxes are unbounded except for the streaming APIs, whose inbox
has a byte budget: when a slow consumer lets it fill, the reader stops
reading and TCP pushes back on the server -- memory stays bounded.

A connection dies once: EOF, a network error, a parse error, ``* BYE``, a
timeout, ``aclose()`` or the cancellation of its reader/writer (the caller's
cancel scope, e.g. Ctrl-C; a waiter in a shielded scope would otherwise wait
for an answer nobody reads) fail every pending command with
:class:`~pipeimap.errors.ConnectionLostError` (the original error as its
``__cause__``) and end the subscriptions.  The reader and writer never raise:
no ExceptionGroup can come out of the connection's task group.
"""

from __future__ import annotations

import logging
import re
import ssl
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Final

import anyio
import anyio.abc

from ..errors import (
    ConnectionLostError,
    IMAPTimeoutError,
    LimitExceededError,
    ResponseParseError,
)
from ..protocol import _commands as c
from ..protocol._limits import ParserLimits
from ..protocol._parser import ResponseParser
from ..protocol._responses import FetchItems, FetchLiteralChunk, Greeting
from ..scheduler import (
    AuthState,
    CommandId,
    Completed,
    Failed,
    Fatal,
    LiteralChunk,
    LiteralStarted,
    MessageDelivered,
    Outcome,
    Scheduler,
    SchedulerOptions,
    Unsolicited,
    WriteBatch,
)
from ._results import ConnectionStats
from ._trace import ProtocolTrace
from ._transport import Transport

__all__ = ["CommandHandle", "Connection", "Subscription"]

log = logging.getLogger("pipeimap.client")

#: Default byte budget of a streaming inbox (see the module docstring).
STREAM_BUDGET: Final = 4 * 1024 * 1024
#: Default transfer-rate floor of the read timeout, in bytes per second (see
#: :meth:`Connection.wait`): a server trickling slower than this, without
#: completing a response, times out; any honest link is far faster.
MIN_RATE: Final = 256.0
# How much of the received stream the connection remembers, to report a BYE
# that came inside a response it could not finish (see _bye_hint).
_TAIL: Final = 512
# Read sizes: reads start at 256 KiB and double up to 1 MiB (the raw client's)
# while they come back full -- a bulk transfer waiting in the socket, read with
# fewer trips through the event loop -- and halve again once one comes back less
# than half full, so that a connection exchanging short responses never
# allocates a 1 MiB receive buffer (an import's memory bound counts it).
_READ_MIN: Final = 256 * 1024
_READ_MAX: Final = 1024 * 1024
_BYE_IN_TAIL: Final = re.compile(rb"\* BYE ?([^\r\n\x00]{0,200})")


def _outcome_size(item: object) -> int:
    if isinstance(item, LiteralChunk):
        return len(item.data)
    if isinstance(item, MessageDelivered):
        return _items_size(item.items)
    return 0


def _items_size(items: FetchItems) -> int:
    return sum(len(v) for v in items.values() if isinstance(v, bytes))


class _Inbox:
    """A FIFO between the reader (or other producers) and one consumer task.

    Single-threaded async: no locks, only events to wake the other side.
    ``budget``: bytes of body data buffered before :meth:`over_budget` says
    the producer should wait (``None``: unbounded).
    """

    __slots__ = (
        "_alarm",
        "_budget",
        "_bytes",
        "_closed",
        "_error",
        "_item_waiter",
        "_items",
        "_space_waiter",
    )

    def __init__(self, budget: int | None = None) -> None:
        self._items: deque[object] = deque()
        self._bytes = 0
        self._budget = budget
        self._closed = False
        self._error: BaseException | None = None
        self._item_waiter: anyio.Event | None = None
        self._space_waiter: anyio.Event | None = None
        self._alarm = False

    def push(self, item: object) -> None:
        if self._closed:
            return
        self._items.append(item)
        if self._budget is not None:
            self._bytes += _outcome_size(item)
        waiter = self._item_waiter
        if waiter is not None:
            # Once: the consumer is awake from now on (a big read pushes many items
            # before it runs), and it makes a new event before it waits again.
            self._item_waiter = None
            waiter.set()

    @property
    def budgeted(self) -> bool:
        return self._budget is not None

    def exceeded_by(self, size: int) -> bool:
        """Pushing ``size`` more bytes would put this inbox over budget."""
        if self._budget is None or self._closed:
            return False
        return self._bytes + size > self._budget

    @property
    def over_budget(self) -> bool:
        return self._budget is not None and not self._closed and self._bytes > self._budget

    async def wait_space(self) -> None:
        while self.over_budget:
            waiter = self._space_waiter = anyio.Event()
            await waiter.wait()

    async def get(self) -> object:
        while not self._items:
            if self._closed:
                raise _fresh_lost(self._error)
            waiter = self._item_waiter = anyio.Event()
            await waiter.wait()
        return self.get_nowait()

    async def get_or_alarm(self) -> object:
        """Like :meth:`get`, but returns :data:`_ALARM` if :meth:`alarm` is
        called while it waits (and no item has come)."""
        self._alarm = False
        while not self._items:
            if self._closed:
                raise _fresh_lost(self._error)
            if self._alarm:
                self._alarm = False
                return _ALARM
            waiter = self._item_waiter = anyio.Event()
            await waiter.wait()
        self._alarm = False
        return self.get_nowait()

    def alarm(self) -> None:
        """Wake the task in :meth:`get_or_alarm` (the read timeout may have expired)."""
        self._alarm = True
        if self._item_waiter is not None:
            self._item_waiter.set()

    @property
    def ready(self) -> bool:
        """An item is waiting: :meth:`get` would return it without blocking."""
        return bool(self._items)

    def get_nowait(self) -> object:
        """The next item; only when :attr:`ready`."""
        item = self._items.popleft()
        if self._budget is not None:
            self._bytes -= _outcome_size(item)
            waiter = self._space_waiter
            if waiter is not None and not self.over_budget:
                self._space_waiter = None  # (once, as in push())
                waiter.set()
        return item

    def close(self, error: BaseException | None = None) -> None:
        """No more items: ``get()`` raises ConnectionLostError once drained."""
        if self._closed:
            return
        self._closed = True
        self._error = error
        for waiter in (self._item_waiter, self._space_waiter):
            if waiter is not None:
                waiter.set()

    def discard(self) -> None:
        """The consumer is gone: drop everything, release a waiting producer."""
        self._items.clear()
        self._bytes = 0
        self.close()


#: What :meth:`_Inbox.get_or_alarm` returns when the read-timeout watchdog woke it.
_ALARM: Final = object()


def _fresh_lost(error: BaseException | None) -> ConnectionLostError:
    """A new ConnectionLostError per raise: one error object shared by many
    tasks would collect their tracebacks and chain them together."""
    if isinstance(error, ConnectionLostError):
        fresh = ConnectionLostError(str(error))
        fresh.__cause__ = error.__cause__
        return fresh
    fresh = ConnectionLostError(
        f"the connection is closed: {error}" if error else "the connection is closed"
    )
    fresh.__cause__ = error
    return fresh


def fresh_error(error: Exception) -> Exception:
    """The exception to raise for a ``Failed`` outcome (see :func:`_fresh_lost`)."""
    if isinstance(error, ConnectionLostError):
        return _fresh_lost(error)
    return error


class CommandHandle:
    """One submitted command, as seen by the task waiting for it."""

    __slots__ = ("_conn", "_inbox", "cid", "command", "done")

    def __init__(self, conn: Connection, cid: CommandId, command: c.Command, inbox: _Inbox) -> None:
        self._conn = conn
        self.cid = cid
        self.command = command
        self._inbox = inbox
        self.done = False

    def next_nowait(self) -> Outcome | None:
        """The next outcome if one is waiting (what :meth:`next` would return
        without blocking), else ``None``."""
        inbox = self._inbox
        if not inbox.ready:
            return None
        out = inbox.get_nowait()
        if isinstance(out, (Completed, Failed)):
            self.done = True
        return out  # type: ignore[return-value]

    async def next(self, *, use_timeout: bool = True) -> Outcome:
        """The next outcome of this command; ``Completed`` or ``Failed`` is the
        last.  ``use_timeout=False`` waits without the connection's read timeout
        (IDLE waiting for events)."""
        out = await self._conn.wait(self._inbox, use_timeout)
        if isinstance(out, (Completed, Failed)):
            self.done = True
        return out  # type: ignore[return-value]

    def cancel(self) -> None:
        """The waiting task is gone (cancelled, or lost interest).  Safe to call
        more than once; a no-op once the command ended."""
        if not self.done:
            self.done = True
            self._conn.cancel(self)

    @property
    def inbox(self) -> _Inbox:
        return self._inbox


class Subscription:
    """A queue of unsolicited events (:meth:`Connection.subscribe`)."""

    __slots__ = ("_conn", "_inbox")

    def __init__(self, conn: Connection, inbox: _Inbox) -> None:
        self._conn = conn
        self._inbox = inbox

    async def get(self) -> object:
        """The next event; raises ConnectionLostError once the connection is gone."""
        return await self._inbox.get()

    @property
    def inbox(self) -> _Inbox:
        return self._inbox

    def close(self) -> None:
        self._conn.unsubscribe(self)


class Connection:
    """See the module docstring.  Build with a connected :class:`Transport`,
    then run :meth:`run` in a task group (``await tg.start(conn.run)``)."""

    def __init__(
        self,
        transport: Transport,
        *,
        options: SchedulerOptions | None = None,
        limits: ParserLimits | None = None,
        timeout: float | None = 60.0,
        server_hostname: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        handshake_timeout: float | None = 30.0,
        trace: ProtocolTrace | None = None,
        min_rate: float = MIN_RATE,
    ) -> None:
        self.transport = transport
        #: The protocol trace (``connect(trace=...)``), fed below the parser.
        self.trace = trace
        self.sched = Scheduler(options)
        self.parser = ResponseParser(limits)
        self.timeout = timeout
        self.server_hostname = server_hostname
        self.ssl_context = ssl_context
        self.handshake_timeout = handshake_timeout
        self.min_rate = min_rate
        # Bytes that count as progress for the read timeout even when they
        # complete no response (see wait()); 0: every byte counts.
        self._quota = int(min_rate * timeout) if timeout is not None and min_rate > 0 else 0
        self._trickled = 0  # bytes received since the read-timeout clock last restarted
        self._tail = b""  # the last bytes received (see _bye_hint)
        self._handles: dict[CommandId, _Inbox] = {}
        self._subscribers: list[_Inbox] = []
        self._wake: anyio.Event | None = None
        self._send_idle: anyio.Event | None = None
        self._sending = False
        self._paused = False  # the reader waits for a streaming consumer
        self._closed = False
        self._error: BaseException | None = None
        self._last_activity = 0.0
        self._tg: anyio.abc.TaskGroup | None = None
        self._writes = 0
        self._commands_written = 0
        self._max_in_flight = 0
        self._greeting: Greeting | None = None
        self._greeting_seen: anyio.Event | None = None
        # Inboxes of tasks waiting under the read timeout (see wait()), and the
        # event the watchdog sleeps on while there are none.
        self._timed: dict[_Inbox, None] = {}
        self._watch: anyio.Event | None = None
        self._watchdog_running = False
        #: Called with each write batch and the commands in flight right after it
        #: (tests use it to prove what was pipelined together).
        self.write_observer: Callable[[WriteBatch, tuple[c.Command, ...]], None] | None = None

    # --- life cycle -------------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Run the reader and writer until the connection closes.

        Cancelled from outside (the caller's cancel scope, e.g. Ctrl-C), the
        connection dies like on a network error: nothing would ever answer its
        pending commands, so their waiters -- even ones in a shielded scope --
        fail at once with ConnectionLostError instead of waiting forever."""
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                self._last_activity = anyio.current_time()
                tg.start_soon(self._reader)
                tg.start_soon(self._writer)
                tg.start_soon(self._watchdog)
                task_status.started()
        finally:
            if not self._closed:
                self._fail_all(ConnectionLostError("the connection's tasks were cancelled"))
                with anyio.CancelScope(shield=True):
                    await self.transport.aclose()  # forceful: never blocks on the peer

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def error(self) -> BaseException | None:
        """Why the connection closed (``None`` if it closed cleanly or is open)."""
        return self._error

    @property
    def stats(self) -> ConnectionStats:
        return ConnectionStats(
            self.transport.bytes_sent,
            self.transport.bytes_received,
            self._writes,
            self._commands_written,
            self._max_in_flight,
        )

    async def aclose(self, reason: BaseException | None = None) -> None:
        """Close now: pending commands fail with ConnectionLostError."""
        await self._lose(reason, clean=reason is None)

    async def wait_greeting(self) -> Greeting:
        """The server's greeting (RFC 9051 section 7.1), once it has arrived;
        ConnectionLostError for ``* BYE``, IMAPTimeoutError if it is not
        complete within ``handshake_timeout`` (connecting includes the
        greeting) or ``timeout``, whichever is shorter -- counted from the
        call, so a greeting trickled byte by byte cannot stretch it."""
        if self._greeting is None and not self._closed:
            self._greeting_seen = anyio.Event()
            limits = [t for t in (self.handshake_timeout, self.timeout) if t is not None]
            limit = min(limits) if limits else None
            try:
                with anyio.fail_after(limit if limit is not None else float("inf")):
                    await self._greeting_seen.wait()
            except TimeoutError:
                err = IMAPTimeoutError(f"no greeting from the server within {limit:g} s")
                await self._lose(err)
                raise err from None
        if self._greeting is None or self._closed:
            raise _fresh_lost(self._error)
        return self._greeting

    # --- submitting -------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise _fresh_lost(self._error)

    def submit(
        self, command: c.Command, *, budget: int | None = None, inbox: _Inbox | None = None
    ) -> CommandHandle:
        """Queue ``command``; raises InvalidArgumentError (cannot be encoded) or
        ConnectionLostError (closed) before anything is queued.  ``inbox``: deliver
        the outcomes to this (shared) inbox instead of a new one (IDLE shares its
        subscription's, so one task waits on both)."""
        self._check_open()
        cid = self.sched.submit(command)
        return self._register(cid, command, budget, inbox)

    def submit_batch(self, commands: Sequence[c.Command]) -> list[CommandHandle]:
        """Queue an explicit batch; ConflictError before anything is queued."""
        self._check_open()
        cids = self.sched.submit_batch(commands)
        return [self._register(cid, cmd, None) for cid, cmd in zip(cids, commands, strict=True)]

    def _register(
        self,
        cid: CommandId,
        command: c.Command,
        budget: int | None,
        inbox: _Inbox | None = None,
    ) -> CommandHandle:
        if inbox is None:
            inbox = _Inbox(budget)
        self._handles[cid] = inbox
        self._wake_writer()
        return CommandHandle(self, cid, command, inbox)

    def cancel(self, handle: CommandHandle, *, keep_inbox: bool = False) -> None:
        inbox = self._handles.pop(handle.cid, None)
        if not keep_inbox:
            handle.inbox.discard()
        if inbox is None or self._closed:
            return
        self._dispatch_nowait(self.sched.cancel(handle.cid))
        self._wake_writer()

    def subscribe(self) -> Subscription:
        inbox = _Inbox()
        if self._closed:
            inbox.close(self._error)
        else:
            self._subscribers.append(inbox)
        return Subscription(self, inbox)

    def unsubscribe(self, sub: Subscription) -> None:
        if sub.inbox in self._subscribers:
            self._subscribers.remove(sub.inbox)
        sub.inbox.discard()

    def end_idle(self, cid: CommandId) -> None:
        if not self._closed:
            self.sched.end_idle(cid)
            self._wake_writer()

    def send_continuation(self, cid: CommandId, data: Any) -> None:
        self.sched.send_continuation(cid, data)
        self._wake_writer()

    def abort_exchange(self, cid: CommandId) -> None:
        self.sched.abort_exchange(cid)
        self._wake_writer()

    # --- waiting ----------------------------------------------------------------------

    async def wait(self, inbox: _Inbox, use_timeout: bool = True) -> object:
        """``inbox.get()`` under the read timeout; when it expires the
        connection is closed and IMAPTimeoutError raised.

        The clock counts the time since the server last made *progress*: it
        restarts whenever a response is complete (any parsed event but a
        chunk of a streamed literal) and whenever ``min_rate * timeout``
        bytes have arrived since it last restarted.  So a long but live
        transfer never times out (a 64 KiB/s download restarts the clock many
        times per second), nor does a slow command whose server sends
        keep-alive responses (Dovecot's ``* OK Searched 20%...``); but a
        server that trickles bytes without ever finishing a response -- one
        byte a second, an endless line, a literal at a crawl -- times out
        after about ``timeout`` seconds instead of holding the caller
        forever (the "low speed limit" of curl).  ``min_rate=0`` counts
        every byte as progress (silence only)."""
        if inbox.ready:
            # Fast path: get() would not block (nor checkpoint), so there is
            # nothing to time out.
            return inbox.get_nowait()
        timeout = self.timeout if use_timeout else None
        if timeout is None:
            return await inbox.get()
        while True:
            if self._watchdog_running:
                # No cancel scope per wait: the watchdog task wakes the first
                # waiter once the server has been silent for ``timeout``.
                self._timed[inbox] = None
                if self._watch is not None:
                    self._watch.set()
                try:
                    item = await inbox.get_or_alarm()
                finally:
                    self._timed.pop(inbox, None)
                if item is not _ALARM:
                    return item
            else:
                # No watchdog (not started, or cancelled with the connection's
                # task group): a deadline of its own for this wait.
                now = anyio.current_time()
                remaining = timeout - (now - self._last_activity)
                if self._paused:
                    remaining = timeout  # waiting for a slow consumer, not for the server
                with anyio.CancelScope(deadline=now + max(remaining, 0.001)):
                    return await inbox.get()
            if self._closed or self._paused:
                continue  # closed: the inbox holds the failure (or get() raises it)
            if anyio.current_time() - self._last_activity < timeout:
                continue
            err = IMAPTimeoutError(f"the server sent nothing for {timeout:g} s")
            await self._lose(err)
            raise err from None

    async def _watchdog(self) -> None:
        """The read timeout of :meth:`wait`: once the server has sent nothing
        for ``timeout`` seconds (not counting time the reader spends paused
        for a slow consumer), the first task waiting under the timeout is
        woken to close the connection with IMAPTimeoutError."""
        timeout = self.timeout
        if timeout is None:
            return
        self._watchdog_running = True
        try:
            while not self._closed:
                if not self._timed:
                    self._watch = anyio.Event()
                    await self._watch.wait()
                    self._watch = None
                    continue
                if self._paused:
                    await anyio.sleep(timeout)  # unpausing restarts the clock
                    continue
                deadline = self._last_activity + timeout
                if anyio.current_time() < deadline:
                    await anyio.sleep_until(deadline)
                    continue
                first = next(iter(self._timed))
                first.alarm()
                await anyio.sleep(min(timeout, 0.01))  # let it decide (or close)
        except anyio.get_cancelled_exc_class():
            raise
        except Exception as exc:  # pragma: no cover - defensive: never raise
            await self._lose(exc)
        finally:
            # Waiters parked without a deadline of their own take one now.
            self._watchdog_running = False
            for inbox in list(self._timed):
                inbox.alarm()

    # --- the writer -------------------------------------------------------------------

    def _wake_writer(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _writer(self) -> None:
        try:
            while not self._closed:
                batch = self.sched.next_write()
                deferred = self.sched.take_outcomes()  # what picking failed or closed
                if deferred:
                    self._dispatch_nowait(deferred)
                if batch is None:
                    self._wake = anyio.Event()
                    await self._wake.wait()
                    continue
                self._note_write(batch)
                if len(self.sched.in_flight) <= len(batch.commands):
                    # Nothing was outstanding before this batch: the server had no
                    # reason to speak, so its silence until now does not count
                    # towards the read timeout.
                    self._last_activity = anyio.current_time()
                self._sending = True
                try:
                    await self.transport.send_all(batch.data)
                finally:
                    self._sending = False
                    if self._send_idle is not None:
                        self._send_idle.set()
        except anyio.get_cancelled_exc_class():
            raise
        except Exception as exc:
            await self._lose(exc)

    def _note_write(self, batch: WriteBatch) -> None:
        self._writes += 1
        self._commands_written += len(batch.commands)
        in_flight = self.sched.in_flight
        self._max_in_flight = max(self._max_in_flight, len(in_flight))
        if log.isEnabledFor(logging.DEBUG):
            log.debug("C: %r", _redacted(batch))
        if self.trace is not None:
            self.trace.client(batch.data, batch.sensitive_spans)
        if self.write_observer is not None:
            self.write_observer(batch, tuple(self.sched.command(cid) for cid in in_flight))

    # --- the reader -------------------------------------------------------------------

    async def _reader(self) -> None:
        want = _READ_MIN
        try:
            while not self._closed:
                await self._process_events()
                if self.closed:  # (a property: mypy must not narrow it across the await)
                    return
                data = await self.transport.receive(want)
                if len(data) >= want:
                    want = min(want * 2, _READ_MAX)
                elif len(data) < want >> 1 and want > _READ_MIN:
                    want >>= 1
                self._note_received(data)
                if not data:
                    self.parser.feed_eof()
                    await self._process_events()
                    await self._lose(None)
                    return
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("S: %r", self._loggable(data))
                if self.trace is not None:
                    self.trace.server(data)
                self.parser.feed(data)
        except anyio.get_cancelled_exc_class():
            raise
        except Exception as exc:
            await self._lose(exc)

    def _loggable(self, data: bytes) -> bytes:
        """``data`` for the DEBUG log: a SASL exchange's server messages are
        redacted (SCRAM's salt, nonce and server signature would allow an
        offline dictionary attack on the password)."""
        sched = self.sched
        if any(isinstance(sched.command(cid), c.Authenticate) for cid in sched.in_flight):
            return b"<redacted: SASL exchange in progress>"
        return data[:2000]

    def _note_received(self, data: bytes) -> None:
        """Bytes arrived: progress for the read timeout once they add up to
        the quota (see :meth:`wait`); remembered for :meth:`_bye_hint`."""
        quota = self._quota
        if quota:
            self._trickled += len(data)
            if self._trickled >= quota:
                self._trickled = 0
                self._last_activity = anyio.current_time()
        else:
            self._last_activity = anyio.current_time()
        self._tail = (self._tail + data)[-_TAIL:] if len(data) < _TAIL else data[-_TAIL:]

    def _progress(self) -> None:
        """A response is complete: the read-timeout clock restarts."""
        self._trickled = 0
        self._last_activity = anyio.current_time()

    async def _process_events(self) -> None:
        parser, sched = self.parser, self.sched
        progressed = False
        try:
            while not self._closed:
                event = parser.next_event()
                if event is None:
                    return
                if not progressed and not isinstance(event, FetchLiteralChunk):
                    progressed = True
                    self._progress()
                if isinstance(event, Greeting):
                    self._greeting = event
                    if self._greeting_seen is not None:
                        self._greeting_seen.set()
                outs = sched.on_event(event)
                if sched.layer_switch is None and self._route_all(outs):
                    continue  # all delivered without waiting (the common case)
                self._wake_writer()  # before the reader may block
                await self._dispatch(outs)
        finally:
            # Once per batch of events (the writer only runs when the reader
            # yields, so waking it per event gains nothing), and only if there
            # is anything it could write: a bulk fetch does not wake it per read.
            if sched.may_write:
                self._wake_writer()

    def _route_all(self, outs: list[Outcome]) -> bool:
        """Route ``outs`` if that needs no waiting (no fatal error, no inbox
        over its budget); False, having routed nothing, otherwise."""
        if len(outs) == 1:
            # One message for a caller that takes whole messages (fetch()): the
            # bulk of a big FETCH.  What the loops below do with it, directly.
            o = outs[0]
            if o.__class__ is MessageDelivered:
                inbox = self._handles.get(o.cid)
                if inbox is None:
                    return True
                if not inbox.budgeted:
                    inbox.push(o)
                    return True
        added: dict[int, int] | None = None  # bytes added per budgeted inbox
        for o in outs:
            if isinstance(o, Fatal):
                return False
            if isinstance(o, LiteralStarted) and self._too_big(o) is not None:
                return False  # _dispatch closes the connection
            if isinstance(o, (LiteralChunk, MessageDelivered)):
                inbox = self._handles.get(o.cid)
                if inbox is not None and inbox.budgeted:
                    if added is None:
                        added = {}
                    total = added[id(inbox)] = added.get(id(inbox), 0) + _outcome_size(o)
                    if inbox.exceeded_by(total):
                        return False  # _dispatch pushes and waits for the consumer
        for o in outs:
            self._route(o)
        return True

    async def _dispatch(self, outs: list[Outcome]) -> None:
        layer = self.sched.layer_switch
        if layer is not None:
            # STARTTLS/COMPRESS got its OK (perhaps after its caller was
            # cancelled): switch before its Completed wakes anyone, and before
            # reading or writing another byte.
            await self._switch_layer(layer)
        fatal: Exception | None = None
        for o in outs:
            if isinstance(o, Fatal):
                fatal = o.error
                continue
            if isinstance(o, LiteralStarted):
                too_big = self._too_big(o)
                if too_big is not None:
                    fatal = too_big
                    break
            inbox = self._route(o)
            if inbox is not None and inbox.over_budget:
                self._paused = True
                try:
                    await inbox.wait_space()
                finally:
                    self._paused = False
                    self._last_activity = anyio.current_time()
        if fatal is not None:
            await self._lose(fatal)

    def _too_big(self, o: LiteralStarted) -> LimitExceededError | None:
        """A streamed literal larger than ``max_literal_in_memory`` for a
        caller that assembles bodies in memory (``fetch``, ``fetch_all``,
        ``execute``: an inbox without a byte budget).  The parser streams it,
        but assembling it would hold as much as the server announced -- a
        hostile ``{1000000000000}`` would exhaust memory.  Fatal: draining
        that much is no option either."""
        limit = self.parser.limits.max_literal_in_memory
        if o.size <= limit:
            return None
        inbox = self._handles.get(o.cid)
        if inbox is None or inbox.budgeted:
            return None  # nobody wants it (drained, never held) or a stream
        return LimitExceededError(
            "max_literal_in_memory",
            limit,
            self.parser.offset,
            f"{{{o.size}}}",
            f"a {o.size}-byte {o.item} for a caller that assembles bodies in memory; "
            "use stream_bodies() or fetch_bodies() (or raise the limit)",
        )

    def _dispatch_nowait(self, outs: list[Outcome]) -> None:
        for o in outs:
            if not isinstance(o, Fatal):
                self._route(o)

    def _route(self, o: Outcome) -> _Inbox | None:
        if isinstance(o, Unsolicited):
            self._publish(o.event)
            return None
        if isinstance(o, Fatal):
            return None  # the callers close the connection
        inbox = self._handles.get(o.cid)
        if inbox is None:
            return None
        inbox.push(o)
        if isinstance(o, (Completed, Failed)):
            del self._handles[o.cid]
        return inbox

    def _publish(self, event: object) -> None:
        for sub in self._subscribers:
            sub.push(event)

    async def _switch_layer(self, command: c.Command) -> None:
        """STARTTLS/COMPRESS got its OK: switch the transport before reading or
        writing another byte (RFC 9051 section 6.2.1, RFC 4978 section 3)."""
        while self._sending:  # the command's own send may still be returning
            waiter = self._send_idle = anyio.Event()
            await waiter.wait()
        unparsed = self.parser.take_unparsed()
        if isinstance(command, c.StartTLS):
            await self.transport.start_tls(
                self.ssl_context,
                self.server_hostname,
                unparsed=unparsed,
                handshake_timeout=self.handshake_timeout,
            )
        else:
            self.transport.start_compression(unparsed)
        if self.trace is not None:
            self.trace.layer_switched(
                f"TLS on ({self.transport.tls_version})"
                if isinstance(command, c.StartTLS)
                else "COMPRESS=DEFLATE on: the trace shows the uncompressed protocol"
            )
        self.sched.complete_layer_switch()
        self._wake_writer()

    # --- dying ------------------------------------------------------------------------

    async def _lose(self, exc: BaseException | None, *, clean: bool = False) -> None:
        if self._closed:
            return
        # (A limit crossed is its own reason, whatever text the data held.)
        parse_error = isinstance(exc, ResponseParseError) and not isinstance(
            exc, LimitExceededError
        )
        bye = self._bye_hint() if parse_error else None
        self._fail_all(exc, clean=clean, bye=bye)
        with anyio.CancelScope(shield=True):
            await self.transport.aclose()
        if self._tg is not None:
            self._tg.cancel_scope.cancel()

    def _bye_hint(self) -> str | None:
        """A server that says ``* BYE`` in the middle of a response (inside a
        literal, or cutting a line short) and hangs up leaves a parse error
        ("connection closed in the middle of a response", "unclosed '('").
        The BYE text is the real reason: when the last bytes received hold
        one, it is returned, and the callers' ConnectionLostError says so
        (the parse error stays its ``__cause__``)."""
        found = list(_BYE_IN_TAIL.finditer(self._tail))
        if not found:
            return None
        return found[-1].group(1).decode("utf-8", "replace").strip()

    def _fail_all(
        self, exc: BaseException | None, *, clean: bool = False, bye: str | None = None
    ) -> None:
        """Mark the connection closed and fail every waiter (no awaiting: also
        usable while the connection's own tasks are being cancelled)."""
        if exc is None and self.sched.state.auth is AuthState.LOGOUT:
            clean = True  # the end of the stream after LOGOUT is the expected goodbye
        if exc is not None:
            log.debug("connection lost: %r", exc)
        outs = self.sched.connection_lost(exc, bye=bye)
        err: BaseException | None = None
        for o in outs:
            if isinstance(o, Failed):
                err = o.error
        self._dispatch_nowait(outs)
        self._closed = True
        if not clean:
            self._error = err if err is not None else _fresh_lost(exc)
        for inbox in self._handles.values():
            inbox.close(self._error)
        self._handles.clear()
        for sub in self._subscribers:
            sub.close(self._error)
        self._subscribers.clear()
        if self._greeting_seen is not None:
            self._greeting_seen.set()
        self._wake_writer()


def _redacted(batch: WriteBatch) -> bytes:
    data = batch.data
    for start, end in reversed(batch.sensitive_spans):
        data = data[:start] + b"<redacted>" + data[end:]
    return data[:2000]
