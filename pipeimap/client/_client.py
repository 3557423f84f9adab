"""The public :class:`Client`: one method per IMAP command, safe to call from
any number of tasks at once.

Theory of operation: a method builds an :class:`~._ops.Op` (the command, or
several when a long UID set is split to the line budget), submits it to the
connection's scheduler, waits for its outcomes and converts them.  Every
concurrency question -- which commands may be in flight together, who gets
which response -- is the scheduler's (``pipelining.md``); the client only
waits.  A task cancelled while it waits cancels its command in the scheduler
(``finally``), which keeps the connection in sync.

UIDs are the easy path: ints, ranges, iterables of ints and ``"1:*"`` become a
:class:`~pipeimap.protocol.UIDSet` and give ``UID FETCH``/``UID STORE``...;
pass a :class:`~pipeimap.protocol.SeqSet` for sequence numbers.
"""

from __future__ import annotations

import builtins
import datetime
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any, Protocol, TypeVar

import anyio

from ..errors import PipeimapError, ProtocolError, UsageError
from ..protocol import _commands as c
from ..protocol._parse_fetch import normalize_fetch_item_name
from ..protocol._responses import EnabledResponse, NamespaceResponse, ThreadNode
from ..protocol._search import ALL, SearchKey
from ..protocol._seqset import LastSearch, UIDSet
from ..protocol._types import UID, Flag
from ..scheduler import Completed, Delivered, Failed, Outcome
from . import _ops as ops
from ._connection import STREAM_BUDGET, CommandHandle, Connection, fresh_error
from ._results import (
    AppendResult,
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

__all__ = ["BodySink", "Client"]

T = TypeVar("T")

_DEFAULT_STATUS = ("MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN")
_MULTIAPPEND_COUNT = 100
_MULTIAPPEND_BYTES = 16 * 1024 * 1024


class BodySink(Protocol):
    """Where :meth:`Client.fetch_bodies` writes one message: an object with
    ``write(data)`` (sync or async).  If it has ``close()``/``aclose()``, that
    is called after the last chunk."""

    def write(self, data: bytes, /) -> Any: ...


class Client:
    """An authenticated IMAP connection.  Get one from :func:`pipeimap.connect`.

    All methods may be called concurrently from many tasks; their commands are
    pipelined safely.  Errors: :class:`~pipeimap.CommandNoError` /
    :class:`~pipeimap.CommandBadError` for a tagged NO/BAD (the connection
    stays usable), :class:`~pipeimap.ConnectionLostError` and
    :class:`~pipeimap.IMAPTimeoutError` when the connection is gone,
    :class:`~pipeimap.UsageError` for arguments that cannot be sent.
    """

    def __init__(self, conn: Connection, *, host: str = "") -> None:
        self._conn = conn
        self._host = host

    def __repr__(self) -> str:
        state = "closed" if self._conn.closed else self._conn.sched.state.auth.value
        layers = ("+tls" if self.is_tls else "") + ("+deflate" if self.is_compressed else "")
        return f"<pipeimap.Client {self._host}{layers} {state}>"

    # --- state ---------------------------------------------------------------------------

    @property
    def capabilities(self) -> frozenset[str]:
        """The server's capabilities (upper case), as last announced."""
        return self._conn.sched.state.capabilities

    def has_capability(self, name: str) -> bool:
        return name.upper() in self._conn.sched.state.capabilities

    @property
    def enabled(self) -> frozenset[str]:
        """Extensions turned on with ENABLE (RFC 5161)."""
        return self._conn.sched.state.enabled

    @property
    def mailbox(self) -> MailboxView | None:
        """A snapshot of the selected mailbox, or ``None``."""
        m = self._conn.sched.state.selected
        if m is None:
            return None
        return MailboxView(
            m.name,
            m.readonly,
            m.exists,
            m.recent,
            m.flags,
            m.permanent_flags,
            m.uidvalidity,
            m.uidnext,
            m.highestmodseq,
            m.unseen,
        )

    @property
    def stats(self) -> ConnectionStats:
        return self._conn.stats

    @property
    def closed(self) -> bool:
        return self._conn.closed

    @property
    def is_tls(self) -> bool:
        return self._conn.transport.is_tls

    @property
    def is_compressed(self) -> bool:
        return self._conn.transport.is_compressed

    # --- plumbing ------------------------------------------------------------------------

    def _max_line(self) -> int:
        return self._conn.sched.options.max_line_bytes

    def _options(self) -> Any:
        return self._conn.sched.state.encode_options()

    async def _collect(self, handle: CommandHandle) -> ops.Done:
        outs: builtins.list[Outcome] = []
        try:
            while True:
                o = await handle.next()
                if isinstance(o, Completed):
                    return o, outs
                if isinstance(o, Failed):
                    raise fresh_error(o.error)
                outs.append(o)
        finally:
            handle.cancel()

    async def _exec(self, op: ops.Op[T]) -> T:
        handles: builtins.list[CommandHandle] = []
        try:
            handles.extend(self._conn.submit(cmd) for cmd in op.commands)
            done = [await self._collect(h) for h in handles]
        finally:
            for h in handles:
                h.cancel()
        return op.convert(done)

    async def execute(self, command: c.Command) -> tuple[Completed, list[object]]:
        """Run any :mod:`pipeimap.protocol` command object; returns its tagged
        completion and everything delivered to it (the escape hatch for
        commands without a method)."""
        done = await self._exec(ops.Op((command,), lambda d: d[0]))
        return done[0], list(done[1])

    # --- any state -----------------------------------------------------------------------

    async def capability(self) -> frozenset[str]:
        """Ask for the capabilities again (RFC 9051 section 6.1.1)."""
        await self._exec(ops.simple_op(c.Capability()))
        return self.capabilities

    async def noop(self) -> None:
        """NOOP: lets the server report changes (they arrive as events)."""
        await self._exec(ops.noop_op())

    async def id(
        self, params: Mapping[str, str | None] | None = None
    ) -> Mapping[str, str | None] | None:
        """ID (RFC 2971): send ours, return the server's (``None`` for NIL)."""
        return await self._exec(ops.id_op(params))

    async def enable(self, *capabilities: str) -> frozenset[str]:
        """ENABLE (RFC 5161); returns what the server enabled."""
        done = await self._exec(ops.Op((c.Enable(tuple(capabilities)),), lambda d: d[0]))
        got: set[str] = set()
        for o in done[1]:
            if isinstance(o, Delivered) and isinstance(o.response, EnabledResponse):
                got.update(o.response.capabilities)
        return frozenset(got)

    async def namespace(self) -> NamespaceResponse:
        """NAMESPACE (RFC 2342)."""
        return await self._exec(ops.namespace_op())

    async def logout(self) -> None:
        """LOGOUT and close the connection."""
        try:
            await self._exec(ops.simple_op(c.Logout()))
        except PipeimapError:
            pass  # the server may close first; we are leaving anyway
        finally:
            with anyio.CancelScope(shield=True):
                await self._conn.aclose()

    async def aclose(self) -> None:
        """LOGOUT (bounded by a short timeout) and close; idempotent."""
        if self._conn.closed:
            return
        try:
            with anyio.move_on_after(min(self._conn.timeout or 5.0, 5.0)):
                with suppress(PipeimapError):
                    await self._exec(ops.simple_op(c.Logout()))
        finally:  # also when cancelled during the LOGOUT: never leave it half open
            with anyio.CancelScope(shield=True):
                await self._conn.aclose()

    # --- mailboxes -----------------------------------------------------------------------

    async def select(
        self,
        mailbox: str,
        *,
        readonly: bool = False,
        condstore: bool = False,
        qresync: c.QResync | None = None,
    ) -> SelectResult:
        """SELECT (or EXAMINE with ``readonly``), RFC 9051 section 6.3.2;
        ``condstore``/``qresync`` are the RFC 7162 parameters (QRESYNC is
        ENABLEd first when needed)."""
        await self._ensure_qresync(qresync)
        return await self._exec(ops.select_op(mailbox, readonly, condstore, qresync))

    async def examine(
        self, mailbox: str, *, condstore: bool = False, qresync: c.QResync | None = None
    ) -> SelectResult:
        """EXAMINE: select read-only (RFC 9051 section 6.3.3)."""
        return await self.select(mailbox, readonly=True, condstore=condstore, qresync=qresync)

    async def _ensure_qresync(self, qresync: c.QResync | None) -> None:
        if qresync is not None and "QRESYNC" not in self.enabled:
            await self.enable("QRESYNC")

    async def unselect(self) -> None:
        """UNSELECT (RFC 3691): leave the mailbox without expunging."""
        await self._exec(ops.simple_op(c.Unselect()))

    async def close_mailbox(self) -> None:
        """CLOSE: expunge ``\\Deleted`` messages and leave the mailbox."""
        await self._exec(ops.simple_op(c.Close()))

    async def check(self) -> None:
        await self._exec(ops.simple_op(c.Check()))

    async def create(self, mailbox: str, *, special_use: Sequence[str] = ()) -> None:
        """CREATE (with RFC 6154 ``USE`` attributes)."""
        await self._exec(ops.simple_op(c.Create(mailbox, tuple(special_use))))

    async def delete(self, mailbox: str) -> None:
        await self._exec(ops.simple_op(c.Delete(mailbox)))

    async def rename(self, old: str, new: str) -> None:
        await self._exec(ops.simple_op(c.Rename(old, new)))

    async def subscribe(self, mailbox: str) -> None:
        await self._exec(ops.simple_op(c.Subscribe(mailbox)))

    async def unsubscribe(self, mailbox: str) -> None:
        await self._exec(ops.simple_op(c.Unsubscribe(mailbox)))

    async def list(
        self,
        reference: str = "",
        pattern: str | Sequence[str] = "*",
        *,
        subscribed: bool = False,
        status: Sequence[str] | None = None,
    ) -> builtins.list[MailboxInfo]:
        """LIST (RFC 9051 section 6.3.9).  Uses LIST-EXTENDED (several patterns,
        ``subscribed``), SPECIAL-USE attributes and LIST-STATUS (``status``
        items per mailbox) when the server offers them; falls back to LSUB and
        pipelined STATUS commands otherwise."""
        patterns = (pattern,) if isinstance(pattern, str) else tuple(pattern)
        caps = self.capabilities
        extended = "LIST-EXTENDED" in caps
        sel = ("SUBSCRIBED",) if subscribed and extended else ()
        ret: tuple[str, ...] = ("CHILDREN",) if extended else ()
        if extended and "SPECIAL-USE" in caps:
            ret += ("SPECIAL-USE",)
        items = tuple(status or ())
        ret_status = items if items and "LIST-STATUS" in caps else ()
        if len(patterns) > 1 and not extended:
            result: builtins.list[MailboxInfo] = []
            for p in patterns:
                result += await self.list(reference, p, subscribed=subscribed, status=status)
            return result
        lsub = subscribed and not extended
        infos = await self._exec(
            ops.list_op(reference, patterns, subscribed, sel, ret, ret_status, lsub)
        )
        if items and not ret_status:
            infos = await self._add_status(infos, items)
        return infos

    async def _add_status(
        self, infos: builtins.list[MailboxInfo], items: tuple[str, ...]
    ) -> builtins.list[MailboxInfo]:
        from dataclasses import replace

        selected = self.mailbox.name if self.mailbox is not None else None
        targets = [i for i in infos if i.selectable and i.name != selected]
        results = await self._gather([self.status(i.name, items) for i in targets])
        by_name = {i.name: r for i, r in zip(targets, results, strict=True)}
        return [replace(i, status=by_name.get(i.name)) for i in infos]

    async def _gather(self, coros: Sequence[Awaitable[T]]) -> builtins.list[T]:
        """Run coroutines concurrently (their commands pipeline) in order; the
        first error wins, without an ExceptionGroup."""
        results: builtins.list[Any] = [None] * len(coros)
        errors: builtins.list[BaseException] = []

        async def run(i: int, aw: Awaitable[T]) -> None:
            try:
                results[i] = await aw
            except Exception as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            for i, aw in enumerate(coros):
                tg.start_soon(run, i, aw)
        if errors:
            raise errors[0]
        return results

    async def status(self, mailbox: str, items: Sequence[str] = _DEFAULT_STATUS) -> StatusResult:
        """STATUS (RFC 9051 section 6.3.11)."""
        return await self._exec(ops.status_op(mailbox, items))

    # --- messages: fetch ---------------------------------------------------------------

    def _fetch_op(
        self,
        messages: ops.MessagesArg,
        items: ops.FetchItemsArg,
        changed_since: int | None = None,
        vanished: bool = False,
    ) -> ops.Op[builtins.list[FetchedMessage]]:
        return ops.fetch_op(
            ops.as_message_set(messages),
            ops.fetch_items(items),
            changed_since,
            vanished,
            self._max_line(),
            self._options(),
        )

    @asynccontextmanager
    async def fetch(
        self,
        messages: ops.MessagesArg,
        items: ops.FetchItemsArg = ("FLAGS",),
        *,
        changed_since: int | None = None,
        vanished: bool = False,
    ) -> AsyncIterator[FetchStream]:
        """FETCH, streamed: ``async with client.fetch(uids, ["ENVELOPE"]) as msgs:
        async for msg in msgs: ...``.  Messages arrive as the server sends them;
        ``UID`` is always fetched.  ``items``: names (``"FLAGS"``,
        ``"BODY.PEEK[HEADER]"``, ``"BODY[1.MIME]<0.100>"``), FetchItems or a
        macro (``"ALL"``).  ``changed_since``/``vanished``: RFC 7162.

        The answer is buffered without limit, so reading it never stalls the
        connection -- but reading it can wait for a :meth:`stream_bodies` stream
        of the same client that is paused on its byte budget; see the contract
        there."""
        op = self._fetch_op(messages, items, changed_since, vanished)
        handles: builtins.list[CommandHandle] = []
        try:
            handles.extend(self._conn.submit(cmd) for cmd in op.commands)
            stream = FetchStream(handles)
            yield stream
        finally:
            for h in handles:
                h.cancel()

    async def fetch_all(
        self,
        messages: ops.MessagesArg,
        items: ops.FetchItemsArg = ("FLAGS",),
        *,
        changed_since: int | None = None,
        vanished: bool = False,
    ) -> builtins.list[FetchedMessage]:
        """:meth:`fetch`, collected into a list."""
        return await self._exec(self._fetch_op(messages, items, changed_since, vanished))

    async def uid_fetch(
        self, uids: ops.MessagesArg, items: ops.FetchItemsArg = ("FLAGS",)
    ) -> builtins.list[FetchedMessage]:
        """``UID FETCH`` collected into a list (sequence sets refused)."""
        target = ops.as_message_set(uids)
        if target is not None and not isinstance(target, (UIDSet, LastSearch)):
            raise UsageError(
                "uid_fetch takes UIDs; use fetch_all(SeqSet(...)) for sequence numbers"
            )
        return await self.fetch_all(uids, items)

    @asynccontextmanager
    async def stream_bodies(
        self,
        messages: ops.MessagesArg,
        section: str = "",
        *,
        peek: bool = True,
        budget: int = STREAM_BUDGET,
    ) -> AsyncIterator[BodyStream]:
        """Stream one body section (``""`` = the whole message) of each message
        as :class:`BodyChunk` s, with bounded memory: at most ``budget`` bytes
        are buffered ahead of the consumer, then the connection stops reading.

        The budget is per stream and the connection has one reader: while the
        consumer lets this stream's buffer stay full, *nothing* more is read on
        the connection.  So do not wait for another command *of this client*
        (from this task, or from a task this loop waits for) while the stream
        still has data to come -- that command's answer may be queued behind the
        paused bodies and the wait never ends.  This holds for commands
        submitted before the stream, too: servers may interleave the answers of
        pipelined commands (whole responses, in no promised order across
        commands).  Safe patterns: consume the stream to its end (or leave the
        block) before awaiting anything else on the client; fetch what you need
        with the bodies in a different call made *before* the stream is opened;
        or use a second connection.
        """
        item = c.FetchItem.body(section, peek=peek)
        target = ops.as_message_set(messages)
        cmds: tuple[c.Command, ...] = ()
        if target is not None:
            cmd = c.Fetch(target, (item, c.FetchItem("UID")))
            cmds = ops.split(cmd, self._max_line(), self._options())
        handles: builtins.list[CommandHandle] = []
        try:
            handles.extend(self._conn.submit(cmd, budget=budget) for cmd in cmds)
            name = normalize_fetch_item_name(item.response_name)
            yield BodyStream(handles, name, self._uid_for)
        finally:
            for h in handles:
                h.cancel()

    def _uid_for(self, seq: int) -> UID | None:
        m = self._conn.sched.state.selected
        return m.uid_for(seq) if m is not None else None

    async def fetch_bodies(
        self,
        messages: ops.MessagesArg,
        sink_factory: Callable[[UID], BodySink],
        section: str = "",
        *,
        peek: bool = True,
        budget: int = STREAM_BUDGET,
    ) -> dict[UID, int]:
        """Write each message's body section to ``sink_factory(uid)`` in chunks
        (bounded memory, see :meth:`stream_bodies`); returns the size per UID."""
        sizes: dict[UID, int] = {}
        sink: BodySink | None = None
        async with self.stream_bodies(messages, section, peek=peek, budget=budget) as chunks:
            async for chunk in chunks:
                if chunk.uid is None:
                    # The connection can no longer be trusted (ProtocolError's contract).
                    with anyio.CancelScope(shield=True):
                        await self._conn.aclose()
                    raise ProtocolError("the server sent a body without its UID")
                if chunk.offset == 0:
                    sink = sink_factory(chunk.uid)
                    sizes[chunk.uid] = 0
                assert sink is not None  # a message's chunks start at offset 0
                result = sink.write(chunk.data)
                if isinstance(result, Awaitable):
                    await result
                sizes[chunk.uid] += len(chunk.data)
                if chunk.last:
                    await _close_sink(sink)
                    sink = None
        return sizes

    # --- messages: search, sort, thread ------------------------------------------------

    def _search_op(
        self, criteria: SearchKey, uid: bool, return_options: Sequence[str] | None
    ) -> ops.Op[SearchResult]:
        esearch = "ESEARCH" in self.capabilities or "IMAP4REV2" in self.capabilities
        return ops.search_op(criteria, uid, esearch, return_options)

    async def search(
        self,
        criteria: SearchKey = ALL,
        *,
        uid: bool = True,
        return_options: Sequence[str] | None = None,
    ) -> SearchResult:
        """SEARCH (``UID SEARCH`` by default); ESEARCH is used when offered, so
        that searches pipeline (RFC 4731).  Build criteria with
        :mod:`pipeimap.protocol.search` (``S.UNSEEN & S.from_("alice")``)."""
        return await self._exec(self._search_op(criteria, uid, return_options))

    async def sort(
        self, keys: Sequence[str] = ("ARRIVAL",), criteria: SearchKey = ALL, *, uid: bool = True
    ) -> tuple[int, ...]:
        """SORT (RFC 5256): the matching UIDs (or numbers) in order."""
        return await self._exec(ops.sort_op(keys, criteria, uid))

    async def thread(
        self, algorithm: str = "REFERENCES", criteria: SearchKey = ALL, *, uid: bool = True
    ) -> tuple[ThreadNode, ...]:
        """THREAD (RFC 5256): one root node per thread."""
        return await self._exec(ops.thread_op(algorithm, criteria, uid))

    # --- messages: store, copy, move, expunge ------------------------------------------

    def _store_op(
        self,
        messages: ops.MessagesArg,
        flags: ops.FlagsArg,
        action: ops.StoreAction,
        silent: bool,
        unchanged_since: int | None,
    ) -> ops.Op[StoreResult]:
        return ops.store_op(
            ops.as_message_set(messages),
            ops.as_flags(flags),
            action,
            silent,
            unchanged_since,
            self._max_line(),
            self._options(),
        )

    async def store(
        self,
        messages: ops.MessagesArg,
        flags: ops.FlagsArg,
        *,
        action: ops.StoreAction = "add",
        silent: bool = True,
        unchanged_since: int | None = None,
    ) -> StoreResult:
        """STORE flags: ``action`` is ``"add"`` (+FLAGS), ``"remove"`` (-FLAGS)
        or ``"set"`` (FLAGS).  ``.SILENT`` by default; ``silent=False`` returns
        the new flags.  ``unchanged_since`` (RFC 7162): messages changed since
        then are left alone and reported in ``StoreResult.modified``."""
        return await self._exec(self._store_op(messages, flags, action, silent, unchanged_since))

    async def add_flags(self, messages: ops.MessagesArg, flags: ops.FlagsArg) -> StoreResult:
        return await self.store(messages, flags, action="add")

    async def remove_flags(self, messages: ops.MessagesArg, flags: ops.FlagsArg) -> StoreResult:
        return await self.store(messages, flags, action="remove")

    async def set_flags(self, messages: ops.MessagesArg, flags: ops.FlagsArg) -> StoreResult:
        return await self.store(messages, flags, action="set")

    def _copy_op(
        self, messages: ops.MessagesArg, mailbox: str, move: bool
    ) -> ops.Op[CopyResult | None]:
        return ops.copy_op(
            ops.as_message_set(messages), mailbox, move, self._max_line(), self._options()
        )

    async def copy(self, messages: ops.MessagesArg, mailbox: str) -> CopyResult | None:
        """COPY; returns the COPYUID mapping when the server has UIDPLUS."""
        return await self._exec(self._copy_op(messages, mailbox, False))

    async def move(self, messages: ops.MessagesArg, mailbox: str) -> CopyResult | None:
        """MOVE (RFC 6851); without MOVE: COPY, ``+FLAGS.SILENT (\\Deleted)``
        and UID EXPUNGE of exactly those messages (needs UIDPLUS)."""
        if "MOVE" in self.capabilities:
            return await self._exec(self._copy_op(messages, mailbox, True))
        target = ops.as_message_set(messages)
        if target is None:
            return None
        if "UIDPLUS" not in self.capabilities or not isinstance(target, UIDSet):
            raise UsageError("the server lacks MOVE (and UIDPLUS for a safe fallback)")
        result = await self.copy(target, mailbox)
        await self.store(target, (Flag.DELETED,))
        await self.uid_expunge(target)
        return result

    async def expunge(self) -> None:
        """EXPUNGE every ``\\Deleted`` message (RFC 9051 section 6.4.3)."""
        await self._exec(ops.simple_op(c.Expunge()))

    async def uid_expunge(self, uids: ops.MessagesArg) -> None:
        """UID EXPUNGE (UIDPLUS, RFC 4315): expunge only these ``\\Deleted`` messages."""
        await self._exec(
            ops.uid_expunge_op(ops.as_message_set(uids), self._max_line(), self._options())
        )

    # --- messages: append ---------------------------------------------------------------

    async def append(
        self,
        mailbox: str,
        message: bytes | c.AppendMessage,
        *,
        flags: Iterable[str | Flag] = (),
        date: datetime.datetime | None = None,
    ) -> AppendResult:
        """APPEND one message (``date`` must be timezone-aware); returns the
        APPENDUID (RFC 4315) when the server reports it."""
        msg = ops.as_append_message(message, flags, date)
        return await self._exec(ops.append_op(mailbox, [(msg,)]))

    def _append_groups(
        self, messages: Iterable[bytes | c.AppendMessage]
    ) -> builtins.list[tuple[c.AppendMessage, ...]]:
        msgs = [ops.as_append_message(m) for m in messages]
        if "MULTIAPPEND" not in self.capabilities:
            return [(m,) for m in msgs]
        groups: builtins.list[tuple[c.AppendMessage, ...]] = []
        cur: builtins.list[c.AppendMessage] = []
        size = 0
        for m in msgs:
            if cur and (len(cur) >= _MULTIAPPEND_COUNT or size + len(m.data) > _MULTIAPPEND_BYTES):
                groups.append(tuple(cur))
                cur, size = [], 0
            cur.append(m)
            size += len(m.data)
        if cur:
            groups.append(tuple(cur))
        return groups

    async def append_many(
        self, mailbox: str, messages: Iterable[bytes | c.AppendMessage]
    ) -> AppendResult:
        """APPEND many messages: MULTIAPPEND (RFC 3502) batches when offered,
        pipelined APPENDs otherwise.  UIDs come back in append order."""
        groups = self._append_groups(messages)
        if not groups:
            return AppendResult(None, None)
        return await self._exec(ops.append_op(mailbox, groups))

    # --- IDLE and events ------------------------------------------------------------------

    @asynccontextmanager
    async def idle(self, *, renew_after: float | None = 25 * 60) -> AsyncIterator[IdleSession]:
        """IDLE (RFC 2177): ``async with client.idle() as events: async for ev in
        events: ...``.  Entered once the server confirmed IDLE.  Commands other
        tasks submit meanwhile end IDLE by themselves; the next wait re-enters it."""
        if "IDLE" not in self.capabilities:
            raise UsageError("the server does not support IDLE")
        session = IdleSession(self._conn, renew_after)
        try:
            await session.start()
            yield session
        finally:
            session.close()

    @asynccontextmanager
    async def events(self) -> AsyncIterator[EventStream]:
        """Subscribe to unsolicited events (new messages, expunges, flag changes
        by other clients, alerts...) from now on."""
        sub = self._conn.subscribe()
        stream = EventStream(self._conn, sub)
        try:
            yield stream
        finally:
            stream.close()

    # --- explicit batches -------------------------------------------------------------------

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[Batch]:
        """An explicit pipeline: queue commands on the batch, and on leaving the
        block they are checked together and sent.  Two conflicting commands
        (pipelining rules R2, R4, R5) raise :class:`~pipeimap.ConflictError`
        naming both, before any byte is written.  Results are on the items
        the batch methods returned; the first failure is raised at the end."""
        b = Batch(self)
        yield b
        await b.run()


async def _close_sink(sink: BodySink) -> None:
    aclose = getattr(sink, "aclose", None)
    if aclose is not None:
        await aclose()
        return
    close = getattr(sink, "close", None)
    if close is not None:
        result = close()
        if isinstance(result, Awaitable):
            await result


from ._batch import Batch  # noqa: E402  (Batch uses Client's op builders)
