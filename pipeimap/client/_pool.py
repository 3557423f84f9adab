"""A connection pool: several mailboxes of one account worked on at once.

Theory of operation: IMAP selects one mailbox per connection, so working on
five mailboxes at once takes several connections -- but providers cap them
per account (Gmail allows about 15, many servers fewer), and every new
connection costs a TCP + TLS handshake and a login.  :class:`ConnectionPool`
keeps up to ``max_connections`` authenticated connections and lends them out
with a mailbox selected::

    async with ConnectionPool(host, username=u, password=pw) as pool:
        async with pool.mailbox("INBOX") as client:
            ...

Each pooled connection lives in a task of the pool's own task group, which
enters :func:`~pipeimap.client.connect` and waits to be told to leave it: ``connect``'s
task group must be entered and left by one task, and this keeps every
connection's life inside ``async with pool:``.  Borrowers wait in one FIFO
queue; whenever a connection comes free (or capacity does), the head of the
queue is served first, so nobody starves.  For the head, the pool picks, in
order: an idle connection that has the mailbox selected already (no command
at all), an idle connection with nothing selected, a new connection (only
while fewer than ``max_connections`` are open or opening), then the idle
connection used least recently (one SELECT).  Otherwise the borrower waits.
(A borrower that wants no particular mailbox takes any idle connection
before a new one.)

A connection that failed -- closed under a borrower, lost while idle, or an
error that means it is gone -- is discarded and its place freed, so the next
borrower gets a fresh one.  Leaving ``async with pool:`` normally logs every
connection out (in parallel, each bounded like ``connect()``'s own exit);
leaving it by an exception closes them at once.  Either way no
ExceptionGroup escapes.
"""

from __future__ import annotations

import itertools
import logging
import ssl
import sys
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import anyio
import anyio.abc

from ..errors import ConnectionLostError, IMAPTimeoutError, InvalidArgumentError, UsageError
from ..protocol._limits import ParserLimits
from ..protocol._types import Secret
from ._client import Client
from ._connect import TLSMode, _check_credentials, _unwrap, connect
from ._connection import MIN_RATE
from ._trace import TraceTarget

if sys.version_info >= (3, 11):
    _BaseExceptionGroup = BaseExceptionGroup  # noqa: F821
else:  # pragma: no cover - Python 3.10
    from exceptiongroup import BaseExceptionGroup as _BaseExceptionGroup  # type: ignore[import-not-found, unused-ignore]

__all__ = ["ConnectionPool", "PoolStats"]

log = logging.getLogger("pipeimap.client")

#: Errors after which a lent connection is not given to anyone else.
_FATAL = (ConnectionLostError, IMAPTimeoutError)

_Want = tuple[str, bool] | None  # (mailbox, readonly), or None: any connection


@dataclass(frozen=True, slots=True)
class PoolStats:
    """A snapshot of a :class:`ConnectionPool`.

    ``open``: authenticated connections; ``opening``: connections being
    set up (they count toward ``max_connections`` too); ``in_use`` /
    ``idle``: of the open ones; ``waiting``: borrowers queued;
    ``opened``: connections ever started (each a :func:`~pipeimap.client.connect`);
    ``discarded``: connections given up after a failure; ``peak``: the most
    connections open or opening at once (never above ``max_connections``).
    """

    max_connections: int
    open: int
    opening: int
    in_use: int
    idle: int
    waiting: int
    opened: int
    discarded: int
    peak: int


class _Slot:
    """One pooled connection, from the moment its place is reserved."""

    __slots__ = (
        "broken",
        "client",
        "closing",
        "error",
        "in_use",
        "last_used",
        "lent",
        "n",
        "ready",
    )

    def __init__(self, n: int) -> None:
        self.n = n
        self.client: Client | None = None
        self.error: BaseException | None = None  # why it could not be opened
        self.in_use = True  # a new slot is reserved for the borrower that caused it
        self.broken = False
        self.last_used = 0.0
        self.lent = 0  # times handed to a borrower
        self.ready = anyio.Event()  # opened, or failed to
        self.closing = anyio.Event()  # its task should leave connect()

    @property
    def usable(self) -> bool:
        c = self.client
        return c is not None and not c.closed and not self.broken and not self.closing.is_set()

    def selected(self) -> _Want:
        """What is selected, if nothing can still change it (no command pending)."""
        c = self.client
        if c is None or c.mailbox is None:
            return None
        sched = c._conn.sched
        if sched.in_flight or sched.queued:
            return None  # e.g. a cancelled SELECT still on its way: unknown
        return (_mailbox_key(c.mailbox.name), c.mailbox.readonly)


class _Waiter:
    __slots__ = ("event", "slot", "want")

    def __init__(self, want: _Want) -> None:
        self.want = want
        self.event = anyio.Event()
        self.slot: _Slot | None = None


def _mailbox_key(name: str) -> str:
    return "INBOX" if name.upper() == "INBOX" else name  # RFC 9051 section 5.1


class ConnectionPool:
    """Up to ``max_connections`` connections to one account, lent out with a
    mailbox selected.  Takes every option of :func:`~pipeimap.client.connect`::

        async with pipeimap.ConnectionPool(
            "imap.example.org", username="alice", password=pw, max_connections=4
        ) as pool:
            async with pool.mailbox("INBOX", readonly=True) as client:
                await client.search(...)

    Any number of tasks may borrow at once; a borrower waits (first come,
    first served) while all ``max_connections`` are lent out.  A lent
    :class:`Client` is the borrower's alone until its block ends -- it may
    run many commands concurrently on it, and must not keep using it after.

    Args:
        max_connections: the per-account cap: connections open or being
            opened never exceed it.  Servers limit connections per account
            and IP (Dovecot's ``mail_max_userip_connections`` defaults to 10,
            Gmail allows about 15); keep a margin for other clients.
    """

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        max_connections: int = 4,
        username: str | None = None,
        password: str | Secret | None = None,
        oauth2_token: str | Secret | None = None,
        auth_mechanism: str | None = None,
        tls: TLSMode = "implicit",
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout: float | None = 30.0,
        timeout: float | None = 60.0,
        pipeline_depth: int = 128,
        compress: bool = True,
        id: Mapping[str, str | None] | None = None,
        parser_limits: ParserLimits | None = None,
        min_rate: float = MIN_RATE,
        trace: TraceTarget | None = None,
        trace_bodies: bool = False,
    ) -> None:
        if max_connections < 1:
            raise InvalidArgumentError(f"max_connections must be >= 1, not {max_connections}")
        _check_credentials(username, password, oauth2_token)
        self._host = host
        self._port = port
        self._max = max_connections
        self._options: dict[str, Any] = {
            "username": username,
            "password": password,
            "oauth2_token": oauth2_token,
            "auth_mechanism": auth_mechanism,
            "tls": tls,
            "ssl_context": ssl_context,
            "connect_timeout": connect_timeout,
            "timeout": timeout,
            "pipeline_depth": pipeline_depth,
            "compress": compress,
            "id": id,
            "parser_limits": parser_limits,
            "min_rate": min_rate,
            "trace": trace,
            "trace_bodies": trace_bodies,
        }
        self._slots: list[_Slot] = []
        self._waiters: deque[_Waiter] = deque()
        self._numbers = itertools.count(1)
        self._tg: anyio.abc.TaskGroup | None = None
        self._cm: AbstractAsyncContextManager[None] | None = None
        self._closed = False
        self._opened = 0
        self._discarded = 0
        self._peak = 0

    def __repr__(self) -> str:
        s = self.stats
        state = "closed" if self._closed else f"{s.open}/{s.max_connections} open"
        return f"<pipeimap.ConnectionPool {self._host} {state}>"

    # --- life cycle ----------------------------------------------------------------------

    async def __aenter__(self) -> ConnectionPool:
        if self._cm is not None:
            raise UsageError("a ConnectionPool can be entered only once")
        self._cm = self._run()
        await self._cm.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._cm is not None
        return await self._cm.__aexit__(exc_type, exc, tb)

    @asynccontextmanager
    async def _run(self) -> AsyncIterator[None]:
        failure: BaseException | None = None
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                try:
                    yield
                except BaseException:
                    # Close at once, like connect(): the connection tasks are
                    # cancelled while they wait (not told to log out first).
                    self._shut_down(logout=False)
                    tg.cancel_scope.cancel()
                    raise
                else:
                    self._shut_down(logout=True)  # each task logs out; tg waits for them
        except _BaseExceptionGroup as group:
            failure = _unwrap(group)
        finally:
            self._tg = None
        if failure is not None:
            raise failure

    def _shut_down(self, *, logout: bool) -> None:
        self._closed = True
        for w in self._waiters:
            w.event.set()  # they find the pool closed
        self._waiters.clear()
        if logout:
            for slot in self._slots:
                slot.closing.set()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def max_connections(self) -> int:
        return self._max

    @property
    def stats(self) -> PoolStats:
        ready = [s for s in self._slots if s.client is not None]
        in_use = sum(1 for s in ready if s.in_use)
        return PoolStats(
            max_connections=self._max,
            open=len(ready),
            opening=len(self._slots) - len(ready),
            in_use=in_use,
            idle=len(ready) - in_use,
            waiting=len(self._waiters),
            opened=self._opened,
            discarded=self._discarded,
            peak=self._peak,
        )

    # --- lending -------------------------------------------------------------------------

    @asynccontextmanager
    async def mailbox(self, name: str, *, readonly: bool = False) -> AsyncIterator[Client]:
        """Borrow a connection with ``name`` selected (EXAMINEd with
        ``readonly``).  The block may change the selection; the pool notices.

        Raises what opening a connection or selecting raises
        (:class:`~pipeimap.errors.CommandNoError` for a mailbox that does not exist;
        the connection then goes back to the pool).
        """
        async with self._lend((_mailbox_key(name), readonly)) as client:
            yield client

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Client]:
        """Borrow a connection whatever it has selected (for LIST, STATUS,
        APPEND, CREATE...)."""
        async with self._lend(None) as client:
            yield client

    @asynccontextmanager
    async def _lend(self, want: _Want) -> AsyncIterator[Client]:
        slot = await self._checkout(want)
        client = slot.client
        assert client is not None
        discard = False
        try:
            yield client
        except _FATAL:
            discard = True
            raise
        finally:
            self._checkin(slot, discard=discard)

    async def _checkout(self, want: _Want) -> _Slot:
        """A usable connection with ``want`` selected, reserved for the caller.
        A reused connection found dead is replaced (the SELECT is repeated on
        another); a new one that fails to open or select raises."""
        for _attempt in range(self._max + 2):
            slot = await self._acquire(want)
            fresh = slot.lent == 0
            slot.lent += 1
            try:
                if want is not None and slot.selected() != want:
                    assert slot.client is not None
                    await slot.client.select(want[0], readonly=want[1])
            except _FATAL:
                self._checkin(slot, discard=True)
                if fresh:
                    raise
                continue
            except BaseException:
                self._checkin(slot, discard=False)  # a NO leaves the connection usable
                raise
            return slot
        raise ConnectionLostError("the server keeps closing the pool's connections")

    async def _acquire(self, want: _Want) -> _Slot:
        if self._closed or self._tg is None:
            raise UsageError("the pool is not open (use it inside `async with pool:`)")
        waiter = _Waiter(want)
        self._waiters.append(waiter)
        try:
            self._serve()
            await waiter.event.wait()
            slot = waiter.slot
            if slot is None:
                raise UsageError("the pool was closed while waiting for a connection")
            await slot.ready.wait()
        except BaseException:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            if waiter.slot is not None:
                self._checkin(waiter.slot, discard=False)  # cancelled: give it back
            raise
        if slot.client is None:
            assert slot.error is not None
            raise slot.error
        return slot

    def _checkin(self, slot: _Slot, *, discard: bool) -> None:
        if not slot.in_use:
            return
        slot.in_use = False
        slot.last_used = anyio.current_time()
        if discard or (slot.client is not None and slot.client.closed):
            self._discard(slot)
        self._serve()

    def _discard(self, slot: _Slot) -> None:
        if not slot.broken:
            slot.broken = True
            self._discarded += 1
            slot.closing.set()  # the slot's task leaves connect(); its place frees then

    # --- assigning -----------------------------------------------------------------------

    def _serve(self) -> None:
        """Give connections (or places for new ones) to waiters, in order."""
        if self._closed:
            return
        for slot in self._slots:
            if not slot.in_use and slot.client is not None and slot.client.closed:
                self._discard(slot)  # died while idle
        while self._waiters:
            waiter = self._waiters[0]
            picked = self._pick(waiter.want)
            if picked is None:
                return
            self._waiters.popleft()
            picked.in_use = True
            waiter.slot = picked
            waiter.event.set()

    def _pick(self, want: _Want) -> _Slot | None:
        idle = [s for s in self._slots if not s.in_use and s.usable]
        if want is not None:
            for s in idle:
                if s.selected() == want:
                    return s
        for s in idle:
            if s.client is not None and s.client.mailbox is None:
                return s
        if want is None and idle:
            return min(idle, key=lambda s: s.last_used)  # any will do: no new connection
        if len(self._slots) < self._max:
            return self._open()
        if idle:
            return min(idle, key=lambda s: s.last_used)
        return None

    def _open(self) -> _Slot:
        assert self._tg is not None
        slot = _Slot(next(self._numbers))
        self._slots.append(slot)
        self._opened += 1
        self._peak = max(self._peak, len(self._slots))
        self._tg.start_soon(self._hold, slot, name=f"pipeimap pool connection {slot.n}")
        return slot

    async def _hold(self, slot: _Slot) -> None:
        """The task that owns one connection: open it, keep it until told to
        leave, then leave ``connect()`` (which logs out)."""
        try:
            async with connect(self._host, self._port, **self._options) as client:
                slot.client = client
                slot.ready.set()
                if not slot.in_use:
                    self._serve()  # its borrower left while it was opening
                await slot.closing.wait()
        except Exception as exc:
            if slot.client is None:
                slot.error = exc  # raised to the borrower waiting for it
            else:
                log.debug("pooled connection %d closed with %r", slot.n, exc)
        finally:
            slot.broken = True
            slot.ready.set()
            self._slots.remove(slot)
            self._serve()
