"""The Scheduler: a sans-IO pipeline of IMAP commands over one connection.

Theory of operation: commands wait in a FIFO queue until the analyzer admits
them (pipelining.md R1-R8); :meth:`Scheduler.next_write` hands out, in one
:class:`WriteBatch`, every admissible command (line and non-synchronizing
literals coalesced) up to a stop point -- a synchronizing literal (RFC 9051
section 4.3), an exchange (IDLE, AUTHENTICATE), a barrier, or the byte and
depth limits.  A command is *in flight* from the moment its bytes are handed
out until its tagged response.  :meth:`Scheduler.on_event` takes one parser
event: tagged responses end commands by tag, ``+`` goes to the single command
awaiting one (R1 makes it unique), and untagged responses go through the
:class:`~pipeimap.scheduler._router.Router`.

Send order is FIFO, except that a command may overtake a blocked earlier one
when no edge (R3, R4, R5, R7, a drain/barrier, or a sequence-number command
overtaken by an expunge-capable one) joins them.  Selection epochs (R3):
every SELECT/EXAMINE/CLOSE/UNSELECT submitted opens a new epoch, and commands
are bound to the epoch current when they were submitted.  R7 gates are
recorded at submission; a failed (or cancelled) gate fails its dependents with
:class:`~pipeimap.errors.PredecessorFailedError` without writing them.

Outcomes that arise while writing (a command that can no longer be encoded, a
mailbox closed when SELECT is written) are returned by the next call of
:meth:`on_event`, :meth:`cancel` or :meth:`connection_lost`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from ..errors import (
    CommandBadError,
    CommandNoError,
    ConnectionLostError,
    InvalidArgumentError,
    PredecessorFailedError,
    UnexpectedResponseError,
)
from ..protocol import _commands as c
from ..protocol import _responses as r
from ..protocol._codes import CapabilityCode
from ..protocol._serializer import (
    Fragment,
    LiteralMode,
    describe_encoding,
    serialize,
    serialize_idle_done,
    serialize_sasl_cancel,
    serialize_sasl_response,
    split_command,
)
from ..protocol._types import UID, Secret
from . import _analyzer as an
from . import _events as ev
from ._entry import Entry, Phase
from ._footprint import (
    Barrier,
    Footprint,
    FootprintContext,
    Selection,
    Wire,
    compute_footprint,
    describe_command,
)
from ._outcomes import (
    CommandId,
    Completed,
    ContinuationRequested,
    Failed,
    Fatal,
    Outcome,
    Unsolicited,
    WriteBatch,
)
from ._router import Router
from ._state import AuthState, MailboxState, SessionState

__all__ = ["Scheduler", "SchedulerOptions"]

_CHANGES = (c.Select, c.Examine, c.Close, c.Unselect)


@dataclass(frozen=True, slots=True)
class SchedulerOptions:
    """Tuning of the pipeline (R8).

    ``pipeline_depth``: most commands in flight (1 turns pipelining off).
    ``max_line_bytes``: longest command line accepted by :meth:`Scheduler.submit`
    (RFC 2683 section 3.2.1.5, RFC 7162 section 4); use
    :meth:`Scheduler.submit_split` for longer message sets.
    ``max_write_bytes``: a write batch stops growing past this size.
    ``tag_prefix``: tags are the prefix and a counter (``A0001``).
    ``lookahead``: how many queued commands are examined for overtaking.
    """

    pipeline_depth: int = 64
    max_line_bytes: int = 8000
    max_write_bytes: int = 256 * 1024
    tag_prefix: str = "A"
    lookahead: int = 256

    def __post_init__(self) -> None:
        if self.pipeline_depth < 1 or self.max_write_bytes < 1 or self.lookahead < 1:
            raise InvalidArgumentError("pipeline_depth, max_write_bytes, lookahead must be >= 1")


@dataclass(slots=True)
class _Epoch:
    mailbox: str | None
    readonly: bool
    opener: Entry | None = None


class _Batch:
    __slots__ = ("cids", "data", "spans")

    def __init__(self) -> None:
        self.data = bytearray()
        self.spans: list[tuple[int, int]] = []
        self.cids: list[CommandId] = []

    def add(self, frag: Fragment, cid: CommandId) -> None:
        if frag.sensitive:
            self.spans.append((len(self.data), len(self.data) + len(frag.data)))
        self.data += frag.data
        if cid not in self.cids:
            self.cids.append(cid)

    def result(self) -> WriteBatch | None:
        if not self.data:
            return None
        return WriteBatch(bytes(self.data), tuple(self.spans), tuple(self.cids))


class Scheduler:
    """See the module docstring and ``docs/dev/scheduler-spec.md``."""

    def __init__(
        self, options: SchedulerOptions | None = None, *, state: SessionState | None = None
    ) -> None:
        self.options = options or SchedulerOptions()
        self._state = state or SessionState()
        self._entries: dict[CommandId, Entry] = {}
        self._queue: list[Entry] = []
        self._inflight: list[Entry] = []
        self._by_tag: dict[str, Entry] = {}
        self._urgent: list[tuple[CommandId, Fragment]] = []
        self._deferred: list[Outcome] = []
        self._next_cid = 0
        self._next_tag = 0
        self._seqno = 0
        sel = self._state.selected
        self._epoch = 0
        self._epochs = {0: _Epoch(sel.name if sel else None, sel.readonly if sel else False)}
        self._layer_pending = False
        self._terminal = False
        self._closed = False
        self.router = Router(self._state, lambda: self._inflight)

    # --- introspection ----------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        return self._state

    def footprint(self, cid: CommandId) -> Footprint:
        return self._entries[cid].fp

    def tag(self, cid: CommandId) -> str | None:
        e = self._entries.get(cid)
        return e.tag if e is not None else None

    def command(self, cid: CommandId) -> c.Command:
        return self._entries[cid].command

    @property
    def in_flight(self) -> tuple[CommandId, ...]:
        return tuple(e.cid for e in self._inflight)

    @property
    def queued(self) -> tuple[CommandId, ...]:
        return tuple(e.cid for e in self._queue)

    @property
    def closed(self) -> bool:
        return self._closed

    # --- submitting ---------------------------------------------------------------------

    def submit(self, command: c.Command, *, expect_uidvalidity: int | None = None) -> CommandId:
        """Queue ``command``; conflicts defer it, never reject it.

        ``expect_uidvalidity``: for a UID command, the UIDVALIDITY its UIDs belong
        to; a mismatch fails it with :class:`PredecessorFailedError` (raised here
        if already known, else as an outcome when its SELECT completes).
        Raises :class:`InvalidArgumentError` if it cannot be encoded or its line is
        longer than ``max_line_bytes``, :class:`ConnectionLostError` if closed.
        """
        entry = self._make(command, expect_uidvalidity)
        self._enqueue([entry])
        return entry.cid

    def submit_batch(self, commands: Sequence[c.Command]) -> list[CommandId]:
        """Queue an explicit batch, or raise :class:`ConflictError` (R2, R4, R5,
        naming both commands and the rule) before anything is queued or written.
        R3/R7 gates between its commands (SELECT + UID FETCH + UID STORE; SAVE +
        ``$`` consumers) are dependencies honoured by waiting."""
        saved = (self._epoch, dict(self._epochs), self._next_cid, self._seqno)
        try:
            entries = [self._make(cmd, None, batch=True) for cmd in commands]
            an.check_batch([e.fp for e in entries], [e.description for e in entries])
        except BaseException:
            self._epoch, self._epochs, self._next_cid, self._seqno = saved
            raise
        self._enqueue(entries)
        return [e.cid for e in entries]

    def submit_split(self, command: c.Command) -> list[CommandId]:
        """Submit a message-set command split to ``max_line_bytes`` (RFC 2683
        section 3.2.1.5); the parts are pipelined like independent commands."""
        parts = split_command(command, self.options.max_line_bytes, self._state.encode_options())
        return [self.submit(p) for p in parts]

    def _make(self, command: c.Command, expect: int | None, batch: bool = False) -> Entry:
        if self._closed or self._terminal:
            raise ConnectionLostError("the connection is closed (or logging out)")
        opts = self._state.encode_options()
        info = describe_encoding(command, opts)  # raises InvalidArgumentError
        if info.max_line > self.options.max_line_bytes:
            raise InvalidArgumentError(
                f"a {command.name} line of {info.max_line} bytes exceeds max_line_bytes "
                f"({self.options.max_line_bytes}); use submit_split()"
            )
        if isinstance(command, _CHANGES):
            self._epoch += 1
            name = command.mailbox if isinstance(command, (c.Select, c.Examine)) else None
            self._epochs[self._epoch] = _Epoch(name, isinstance(command, c.Examine))
        epoch = self._epochs[self._epoch]
        ctx = FootprintContext(self._epoch, epoch.mailbox, epoch.readonly, opts)
        self._next_cid += 1
        self._seqno += 1
        entry = Entry(
            CommandId(self._next_cid),
            command,
            compute_footprint(command, ctx),
            describe_command(command),
            self._seqno,
            expect_uidvalidity=expect,
        )
        if isinstance(command, _CHANGES):
            epoch.opener = entry
        self._check_known_uidvalidity(entry)
        return entry

    def _check_known_uidvalidity(self, entry: Entry) -> None:
        epoch = self._epochs[entry.fp.epoch]
        mbox = self._state.selected
        if entry.expect_uidvalidity is None or (
            epoch.opener is not None and (epoch.opener.phase is not Phase.DONE)
        ):
            return
        if mbox is not None and mbox.uidvalidity not in (None, entry.expect_uidvalidity):
            raise self._uidvalidity_error(entry, mbox.uidvalidity)

    @staticmethod
    def _uidvalidity_error(entry: Entry, actual: int | None) -> PredecessorFailedError:
        return PredecessorFailedError(
            "NO",
            "UIDVALIDITY",
            f"UIDVALIDITY is {actual}, not {entry.expect_uidvalidity}",
            entry.tag or "",
            entry.fp.name,
        )

    def _enqueue(self, entries: list[Entry]) -> None:
        pending = [e for e in self._entries.values() if e.phase is not Phase.DONE]
        for entry in entries:
            entry.gates = [p for p in pending if an.gates(p.fp, entry.fp)]
            self._entries[entry.cid] = entry
            self._queue.append(entry)
            pending.append(entry)
        self._leave_idle()

    def _leave_idle(self) -> None:
        """IDLE is left by itself when another command is submitted (RFC 2177)."""
        for e in self._inflight:
            if isinstance(e.command, c.Idle):
                self._request_done(e)

    def _request_done(self, e: Entry) -> None:
        if e.done_sent:
            return
        if e.plus_seen:
            e.done_sent = True
            self._urgent.append((e.cid, serialize_idle_done()))
        else:
            e.done_requested = True

    # --- exchanges ------------------------------------------------------------------------

    def _exchange(self, cid: CommandId) -> Entry:
        e = self._entries.get(cid)
        if e is None or e.phase is not Phase.IN_FLIGHT or e.fp.wire is not Wire.EXCHANGE:
            raise InvalidArgumentError(f"command {cid} is not an exchange in flight")
        return e

    def send_continuation(self, cid: CommandId, data: bytes | Secret) -> None:
        """Answer a SASL challenge (RFC 9051 section 6.2.2); the line is sensitive."""
        e = self._exchange(cid)
        e.waiting_plus = True
        self._urgent.append((cid, serialize_sasl_response(data)))

    def abort_exchange(self, cid: CommandId) -> None:
        """Cancel a SASL exchange with ``*``; the server answers tagged BAD."""
        e = self._exchange(cid)
        e.waiting_plus = True
        self._urgent.append((cid, serialize_sasl_cancel()))

    def end_idle(self, cid: CommandId) -> None:
        """Write DONE now, or as soon as IDLE's ``+`` arrives (RFC 2177)."""
        e = self._entries.get(cid)
        if e is None or not isinstance(e.command, c.Idle) or e.phase is Phase.DONE:
            return
        self._request_done(e)

    def complete_layer_switch(self) -> None:
        """STARTTLS/COMPRESS: the TLS handshake or deflate layer is in place;
        writing may resume (nothing is written between the tagged OK and this)."""
        self._layer_pending = False

    # --- writing --------------------------------------------------------------------------

    def next_write(self) -> WriteBatch | None:
        """The next bytes to send, or ``None`` if nothing may be written now."""
        if self._closed:
            return None
        batch = _Batch()
        for cid, frag in self._urgent:
            batch.add(frag, cid)
        self._urgent.clear()
        for e in self._inflight:
            if e.resume:
                e.resume = False
                self._write_fragments(e, batch)
        while len(batch.data) < self.options.max_write_bytes and not self._wire_blocked():
            entry = self._pick()
            if entry is None:
                break
            self._start(entry, batch)
        return batch.result()

    def _wire_blocked(self) -> bool:
        """R1: a continuation awaited, a barrier in flight, a layer switch pending."""
        if self._terminal or self._layer_pending:
            return True
        return any(e.waiting_plus or e.fp.barrier is not Barrier.NONE for e in self._inflight)

    def _pick(self) -> Entry | None:
        if len(self._inflight) >= self.options.pipeline_depth:
            return None
        blocked: list[Footprint] = []
        for i, e in enumerate(self._queue):
            if i >= self.options.lookahead:
                break
            if not any(an.overtake_edge(b, e.fp) for b in blocked) and self._admissible(e):
                del self._queue[i]
                return e
            if e.fp.drain_before or e.fp.barrier is not Barrier.NONE:
                break
            blocked.append(e.fp)
        return None

    def _admissible(self, n: Entry) -> bool:
        if n.gates:
            return False  # R7
        fly = [e.fp for e in self._inflight]
        if n.fp.drain_before and fly:
            return False  # R1
        if an.r3_blocks(n.fp, fly, self._state.closed_guaranteed):
            return False
        if any(an.pair_conflict(f, n.fp) is not None for f in fly):
            return False  # R2, R4, R5
        return not (any(f.changes_capabilities for f in fly) and self._caps_dependent(n))

    def _caps_dependent(self, n: Entry) -> bool:
        """R6: would the encoding differ if capabilities changed under it?"""
        opts = self._state.encode_options()
        other = replace(opts, utf8_accept=not opts.utf8_accept, literal_mode=LiteralMode.SYNC)
        try:
            return serialize("X", n.command, opts) != serialize("X", n.command, other)
        except InvalidArgumentError:
            return True

    def _start(self, e: Entry, batch: _Batch) -> None:
        self._next_tag += 1
        tag = f"{self.options.tag_prefix}{self._next_tag:04d}"
        try:
            frags = serialize(tag, _with_uid_item(e.command), self._state.encode_options())
        except InvalidArgumentError as exc:
            e.phase = Phase.DONE
            self._deferred.append(Failed(e.cid, exc))
            self._deferred += self._fail_dependents(e, exc)
            return
        e.tag, e.fragments, e.phase = tag, frags, Phase.IN_FLIGHT
        e.setup_routing(self._state.condstore)
        self._inflight.append(e)
        self._by_tag[tag] = e
        if isinstance(e.command, c.Logout):
            self._terminal = True
        if isinstance(e.command, (c.Select, c.Examine)):
            self._open_mailbox(e)
        self._write_fragments(e, batch)

    def _open_mailbox(self, e: Entry) -> None:
        cmd = e.command
        assert isinstance(cmd, (c.Select, c.Examine))
        e.new_mailbox = MailboxState(cmd.mailbox, readonly=isinstance(cmd, c.Examine))
        if self._state.closed_guaranteed and self._state.selected is not None:
            self.router.awaiting_closed = e  # switch at "* OK [CLOSED]"
        else:
            self._deferred += self.router.switch_to(e)

    def _write_fragments(self, e: Entry, batch: _Batch) -> None:
        while e.cursor < len(e.fragments):
            frag = e.fragments[e.cursor]
            e.cursor += 1
            batch.add(frag, e.cid)
            if frag.wait_for_continuation:
                e.waiting_plus = True  # R1: stop until "+"
                return
        if e.fp.wire is Wire.EXCHANGE and not e.plus_seen:
            e.waiting_plus = True

    # --- reading --------------------------------------------------------------------------

    def on_event(self, event: r.Event) -> list[Outcome]:
        """Route one parser event; returns what the client must do."""
        outs, self._deferred = self._deferred, []
        if self._closed:
            return outs
        if isinstance(event, r.TaggedResponse):
            return outs + self._tagged(event)
        if isinstance(event, r.ContinuationRequest):
            return outs + self._continuation(event)
        if isinstance(event, r.UntaggedStatus) and event.status == "BYE":
            return outs + self._bye(event.text)
        if isinstance(event, r.Greeting):
            return outs + self._greeting(event)
        return outs + self.router.route(event)

    def _greeting(self, g: r.Greeting) -> list[Outcome]:
        if g.status == "BYE":
            return self._bye(g.text)
        if g.status == "PREAUTH":
            self._state.auth = AuthState.AUTHENTICATED
        if isinstance(g.code, CapabilityCode):
            self._state.set_capabilities(g.code.capabilities)
        return []

    def _bye(self, text: str) -> list[Outcome]:
        self._state.bye = True
        if any(isinstance(e.command, c.Logout) for e in self._inflight):
            return [Unsolicited(ev.ByeReceived(text))]  # expected (RFC 9051 section 6.1.3)
        err = ConnectionLostError(f"the server closed the connection: BYE {text}")
        return [Unsolicited(ev.ByeReceived(text)), Fatal(err), *self._fail_all(err)]

    def _fatal(self, err: Exception) -> list[Outcome]:
        lost = ConnectionLostError(f"protocol error: {err}")
        lost.__cause__ = err
        return [Fatal(err), *self._fail_all(lost)]

    def _continuation(self, cr: r.ContinuationRequest) -> list[Outcome]:
        waiting = [e for e in self._inflight if e.waiting_plus]
        if not waiting:
            if any(isinstance(e.command, c.Idle) and e.plus_seen for e in self._inflight):
                return []  # "+ Still here" keep-alives during IDLE
            return self._fatal(UnexpectedResponseError("continuation request nobody awaits"))
        e = waiting[0]
        e.waiting_plus = False
        if e.cursor < len(e.fragments):
            e.resume = True  # the synchronizing literal may go now
            return []
        e.plus_seen = True
        if isinstance(e.command, c.Idle):
            if e.done_requested or e.cancelled or self._queue:
                self._request_done(e)
        elif e.cancelled:
            self.abort_exchange(e.cid)
            return []
        return [] if e.cancelled else [ContinuationRequested(e.cid, cr)]

    def _tagged(self, t: r.TaggedResponse) -> list[Outcome]:
        e = self._by_tag.pop(t.tag, None)
        if e is None:
            return self._fatal(
                UnexpectedResponseError(f"tagged response for unknown tag {t.tag!r}")
            )
        e.phase, e.waiting_plus, e.resume = Phase.DONE, False, False
        self._inflight.remove(e)
        outs = self.router.flush(e)
        if isinstance(t.code, CapabilityCode):
            self._state.set_capabilities(t.code.capabilities)
        if self.router.opening is e:
            self.router.opening = None
        if t.status == "OK":
            outs += self._succeeded(e, t)
        else:
            outs += self._failed(e, t)
        return outs

    def _succeeded(self, e: Entry, t: r.TaggedResponse) -> list[Outcome]:
        outs = self._effects_ok(e, t)
        if e.poison is not None:
            outs.append(Failed(e.cid, e.poison))
        elif not e.cancelled:
            outs.append(Completed(e.cid, t, _missing(e)))
        return outs + self._release(e)

    def _failed(self, e: Entry, t: r.TaggedResponse) -> list[Outcome]:
        cls = CommandNoError if t.status == "NO" else CommandBadError
        code = t.code.name if t.code is not None else None
        err = cls(t.status, code, t.text, t.tag, e.fp.name, e.fp.mailbox)
        outs: list[Outcome] = []
        opened = self._state.selected is e.new_mailbox or self.router.awaiting_closed is e
        if isinstance(e.command, (c.Select, c.Examine)) and opened:
            outs += self.router.switch_to(None)  # RFC 9051 section 6.3.2
        if not e.cancelled:
            outs.append(Failed(e.cid, err))
        pred = PredecessorFailedError(t.status, code, t.text, t.tag, e.fp.name, e.fp.mailbox)
        return outs + self._fail_dependents(e, pred)

    def _effects_ok(self, e: Entry, t: r.TaggedResponse) -> list[Outcome]:
        cmd, st = e.command, self._state
        outs: list[Outcome] = []
        if isinstance(cmd, (c.Select, c.Examine)):
            if self.router.awaiting_closed is e or st.selected is not e.new_mailbox:
                outs += self.router.switch_to(e)
            if st.selected is not None and t.code is not None and t.code.name == "READ-ONLY":
                st.selected.readonly = True
            st.auth = AuthState.SELECTED
        elif isinstance(cmd, (c.Close, c.Unselect)):
            outs += self.router.switch_to(None)
        elif isinstance(cmd, (c.Login, c.Authenticate)):
            st.auth = AuthState.AUTHENTICATED
        elif isinstance(cmd, (c.StartTLS, c.Compress)):
            self._layer_pending = True
            if isinstance(cmd, c.StartTLS):
                st.capabilities = frozenset()  # RFC 9051 section 6.2.1: ask again
        elif isinstance(cmd, c.Logout):
            st.auth = AuthState.LOGOUT
        return outs

    def _release(self, pred: Entry) -> list[Outcome]:
        """R7: ``pred`` succeeded; its dependents may go (UIDVALIDITY checked)."""
        outs: list[Outcome] = []
        mbox = self._state.selected
        for e in list(self._queue):
            if pred not in e.gates:
                continue
            e.gates.remove(pred)
            if (
                pred.fp.selection is Selection.CHANGES
                and e.expect_uidvalidity is not None
                and mbox is not None
                and mbox.uidvalidity != e.expect_uidvalidity
            ):
                err = self._uidvalidity_error(e, mbox.uidvalidity)
                outs += self._drop(e, err)
        return outs

    def _drop(self, e: Entry, err: Exception) -> list[Outcome]:
        self._queue.remove(e)
        e.phase = Phase.DONE
        outs: list[Outcome] = [] if e.cancelled else [Failed(e.cid, err)]
        return outs + self._fail_dependents(e, err)

    def _fail_dependents(self, pred: Entry, err: Exception) -> list[Outcome]:
        """Queued commands gated on ``pred`` (R7), or bound to the epoch a failed
        selection change opened (R3), fail without being written."""
        outs: list[Outcome] = []
        opened = pred.fp.selection is Selection.CHANGES
        for e in list(self._queue):
            if e.phase is Phase.DONE:
                continue
            if pred in e.gates or (
                opened and e.fp.epoch == pred.fp.epoch and e.fp.selection is Selection.NEEDS
            ):
                dep = PredecessorFailedError(
                    "NO", None, f"{pred.description} failed: {err}", "", e.fp.name, e.fp.mailbox
                )
                outs += self._drop(e, dep)
        return outs

    # --- cancellation and loss --------------------------------------------------------------

    def cancel(self, cid: CommandId) -> list[Outcome]:
        """The task that submitted ``cid`` is gone.  Queued: removed, never
        written.  In flight: its results are drained and discarded (a
        synchronizing literal already announced is still sent; IDLE gets DONE; a
        SASL exchange gets ``*``).  Returns outcomes of *other* commands."""
        outs, self._deferred = self._deferred, []
        e = self._entries.get(cid)
        if e is None or e.phase is Phase.DONE or e.cancelled:
            return outs
        e.cancelled = True
        if e.phase is Phase.QUEUED:
            self._queue.remove(e)
            e.phase = Phase.DONE
            err = PredecessorFailedError("NO", None, "cancelled", "", e.fp.name, e.fp.mailbox)
            return outs + self._fail_dependents(e, err)
        if isinstance(e.command, c.Idle):
            self._request_done(e)
        elif e.fp.wire is Wire.EXCHANGE and e.plus_seen and not e.waiting_plus:
            self.abort_exchange(cid)
        return outs

    def connection_lost(self, exc: BaseException | None = None) -> list[Outcome]:
        """EOF or a network error: every pending command fails; nothing is replayed."""
        outs, self._deferred = self._deferred, []
        err = ConnectionLostError(f"the connection was lost: {exc}" if exc else "connection closed")
        err.__cause__ = exc
        return outs + self._fail_all(err)

    def _fail_all(self, err: ConnectionLostError) -> list[Outcome]:
        self._closed = True
        outs: list[Outcome] = []
        for e in [*self._inflight, *self._queue]:
            e.phase = Phase.DONE
            if not e.cancelled:
                outs.append(Failed(e.cid, err))
        self._inflight.clear()
        self._queue.clear()
        self._by_tag.clear()
        self._urgent.clear()
        return outs


def _with_uid_item(cmd: c.Command) -> c.Command:
    """pipeimap adds UID to every non-UID FETCH so responses can be resolved to
    messages without the seq->UID map (pipelining.md, FETCH routing)."""
    if isinstance(cmd, c.Fetch) and not cmd.is_uid:
        items = cmd.expanded_items
        if not any(i.kind == "UID" for i in items):
            return replace(cmd, items=(*items, c.FetchItem("UID")))
    return cmd


def _missing(e: Entry) -> tuple[UID, ...]:
    """Requested UIDs that never came (only for bounded UID FETCH/STORE)."""
    if not e.request_names or not isinstance(e.command, (c.Fetch, c.Store)):
        return ()
    if isinstance(e.command, c.Store) and e.command.silent:
        return ()
    uids = e.bounded_uids()
    if uids is None:
        return ()
    return tuple(u for u in uids if int(u) not in e.delivered_uids)
