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
when no edge (R3, R4, R5, R7, a drain/barrier, a capability change, or a
sequence-number command overtaken by an expunge-capable one) joins them.
Selection epochs (R3): every SELECT/EXAMINE/CLOSE/UNSELECT submitted opens a
new epoch, and commands are bound to the epoch current when they were
submitted.  R7 gates are recorded at submission; a failed (or cancelled) gate
fails its dependents with :class:`~pipeimap.errors.PredecessorFailedError`
without writing them.

The class is assembled from layers, one module each: :mod:`._core`
(bookkeeping of live commands), :mod:`._exchanges` (``+`` dialogues),
:mod:`._completion` (tagged responses, cancellation, loss), :mod:`._writing`
(admission and batching) and this module (submitting, event dispatch).

Outcomes that arise while writing (a command that can no longer be encoded, a
mailbox closed when SELECT is written) are collected by :meth:`take_outcomes`
(call it after each :meth:`next_write`); if not taken they are returned by the
next :meth:`on_event`, :meth:`cancel` or :meth:`connection_lost`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload

from ..errors import ConnectionLostError, InvalidArgumentError, UnexpectedResponseError
from ..protocol import _commands as c
from ..protocol import _responses as r
from ..protocol._codes import CapabilityCode
from ..protocol._serializer import (
    EncodeOptions,
    EncodingInfo,
    Fragment,
    describe_encoding,
    serialize,
    split_command,
)
from . import _analyzer as an
from ._core import Epoch, SchedulerOptions
from ._entry import Entry, Phase
from ._footprint import (
    FootprintContext,
    Selection,
    compute_footprint,
)
from ._outcomes import CommandId, Outcome
from ._state import AuthState
from ._writing import PLACEHOLDER_TAG, WriteLayer, with_uid_item

__all__ = ["Scheduler", "SchedulerOptions"]

_CHANGES = (c.Select, c.Examine, c.Close, c.Unselect)


class Scheduler(WriteLayer):
    """See the module docstring and ``docs/dev/scheduler-spec.md``."""

    # --- submitting ---------------------------------------------------------------------

    def submit(self, command: c.Command, *, expect_uidvalidity: int | None = None) -> CommandId:
        """Queue ``command``; conflicts defer it, never reject it.

        ``expect_uidvalidity``: for a UID command, the UIDVALIDITY its UIDs belong
        to; a mismatch fails it with :class:`PredecessorFailedError` (raised here
        if already known, else as an outcome when its SELECT completes).
        Raises :class:`InvalidArgumentError` if it cannot be encoded or its line is
        longer than ``max_line_bytes``, :class:`ConnectionLostError` if closed.
        """
        saved = (self._epoch, self._next_cid, self._seqno)
        try:
            entry = self._make(command, expect_uidvalidity)
        except BaseException:
            self._epoch, self._next_cid, self._seqno = saved
            raise
        self._enqueue([entry])
        return entry.cid

    def submit_batch(self, commands: Sequence[c.Command]) -> list[CommandId]:
        """Queue an explicit batch, or raise :class:`ConflictError` (R2, R4, R5,
        naming both commands and the rule) before anything is queued or written.
        R3/R7 gates between its commands (SELECT + UID FETCH + UID STORE; SAVE +
        ``$`` consumers) are dependencies honoured by waiting."""
        saved = (self._epoch, self._next_cid, self._seqno)
        try:
            entries = [self._make(cmd, None) for cmd in commands]
            an.check_batch([e.fp for e in entries], _Descriptions(entries))
        except BaseException:
            self._epoch, self._next_cid, self._seqno = saved
            raise
        self._enqueue(entries)
        return [e.cid for e in entries]

    def submit_split(self, command: c.Command) -> list[CommandId]:
        """Submit a message-set command split to ``max_line_bytes`` (RFC 2683
        section 3.2.1.5); the parts are pipelined like independent commands."""
        parts = split_command(command, self.options.max_line_bytes, self._state.encode_options())
        return [self.submit(p) for p in parts]

    def _make(self, command: c.Command, expect: int | None) -> Entry:
        if self._closed or self._terminal:
            raise ConnectionLostError("the connection is closed (or logging out)")
        opts = self._state.encode_options()
        info, wire = _encode_once(command, opts)  # raises InvalidArgumentError
        if info.max_line > self.options.max_line_bytes:
            raise InvalidArgumentError(
                f"a {command.name} line of {info.max_line} bytes exceeds max_line_bytes "
                f"({self.options.max_line_bytes}); use submit_split()"
            )
        if isinstance(command, _CHANGES):
            name = command.mailbox if isinstance(command, (c.Select, c.Examine)) else None
            self._epoch = Epoch(self._epoch.number + 1, name, isinstance(command, c.Examine))
        epoch = self._epoch
        floor = self._new_uid_floor(epoch)
        ctx = FootprintContext(epoch.number, epoch.mailbox, epoch.readonly, opts, floor)
        self._next_cid += 1
        self._seqno += 1
        entry = Entry(
            CommandId(self._next_cid),
            command,
            compute_footprint(command, ctx, encoding=info),
            self._seqno,
            expect_uidvalidity=expect,
        )
        if wire is not None:
            entry.wire_cache = (opts, wire)
        if isinstance(command, _CHANGES):
            epoch.opener = entry
        self._check_known_uidvalidity(entry)
        return entry

    def _new_uid_floor(self, epoch: Epoch) -> int | None:
        """The lowest UID a message added to the epoch's mailbox now can get,
        if its selection is complete and its UIDs known (UIDs only grow within
        one UIDVALIDITY, RFC 9051 section 2.3.1.1); else ``None``."""
        mbox = self._state.selected
        if mbox is None or epoch.mailbox is None or mbox.name != epoch.mailbox:
            return None
        opener = epoch.opener
        if opener is not None and (
            opener.phase is not Phase.DONE or opener.new_mailbox is not mbox
        ):
            return None
        largest = mbox.largest_uid
        floors = [f for f in (mbox.uidnext, int(largest) + 1 if largest else None) if f]
        return max(floors) if floors else None

    def _check_known_uidvalidity(self, entry: Entry) -> None:
        opener = self._epoch.opener
        mbox = self._state.selected
        if entry.expect_uidvalidity is None or (
            opener is not None and opener.phase is not Phase.DONE
        ):
            return
        if mbox is not None and mbox.uidvalidity not in (None, entry.expect_uidvalidity):
            raise self._uidvalidity_error(entry, mbox.uidvalidity)

    def _enqueue(self, entries: list[Entry]) -> None:
        # R7 gates can only be live commands that save a search result or change
        # the selection: only those are examined, so a submit costs the same
        # however long the session has run.
        for entry in entries:
            entry.gates = [p for p in self._gaters if an.gates(p.fp, entry.fp)]
            self._entries[entry.cid] = entry
            self._queue.append(entry)
            if entry.fp.saves_search or entry.fp.selection is Selection.CHANGES:
                self._gaters.append(entry)
        self._leave_idle()

    # --- reading --------------------------------------------------------------------------

    def on_event(self, event: r.Event) -> list[Outcome]:
        """Route one parser event; returns what the client must do."""
        if type(event) is r.FetchResponse and not self._deferred and not self._closed:
            return self.router.fetch(event)  # most events: straight to the router
        outs = self.take_outcomes()
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
        if isinstance(event, r.ExpungeResponse) or (
            isinstance(event, r.VanishedResponse) and not event.earlier
        ):
            self._forbidden_expunge(event)
        return outs + self.router.route(event)

    def _forbidden_expunge(self, event: r.ExpungeResponse | r.VanishedResponse) -> None:
        """An expunge while a sequence-number FETCH, STORE, SEARCH, SORT or
        THREAD runs: RFC 9051 section 7.5.1 (RFC 3501 section 7.4.1) forbids
        it, because the numbers in that command's answer become ambiguous --
        a ``* 2 FETCH (FLAGS ...)`` after ``* 1 EXPUNGE`` may mean the old
        message 2 or the new one.  The expunge itself is applied (the mailbox
        state stays exact, pipelining.md "Routing responses"), but each such
        command in flight fails with :class:`UnexpectedResponseError` and
        nothing more of its answer is delivered: data is never attributed to a
        message by a guess.  What it delivered before the expunge was
        unambiguous.  UID commands are unaffected and the connection stays
        open; repeat the command (by UID) to get a trustworthy answer."""
        what = "VANISHED"
        if isinstance(event, r.ExpungeResponse):
            what = f"EXPUNGE of message {event.seq}"
        for e in self._inflight:
            if e.fp.expunge_ok or e.poison is not None:
                continue
            e.poison = UnexpectedResponseError(
                f"the server sent {what} while answering {e.description} "
                "(RFC 9051 section 7.5.1 forbids it): its sequence numbers are ambiguous "
                "from there on, so its answer is withheld; repeat it by UID"
            )
            e.cancelled = True  # drain the rest of its answer; the poison is its outcome

    def _greeting(self, g: r.Greeting) -> list[Outcome]:
        if g.status == "BYE":
            return self._bye(g.text)
        if g.status == "PREAUTH":
            self._state.auth = AuthState.AUTHENTICATED
        if isinstance(g.code, CapabilityCode):
            self._state.set_capabilities(g.code.capabilities)
        return []


class _Descriptions(Sequence[str]):
    """The descriptions of a batch's entries, computed only for the two named
    in a :class:`ConflictError`."""

    __slots__ = ("_entries",)

    def __init__(self, entries: list[Entry]) -> None:
        self._entries = entries

    def __len__(self) -> int:
        return len(self._entries)

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[str]: ...
    def __getitem__(self, i: int | slice) -> str | Sequence[str]:
        if isinstance(i, slice):
            return [e.description for e in self._entries[i]]
        return self._entries[i].description


def _encode_once(command: c.Command, opts: EncodeOptions) -> tuple[EncodingInfo, Fragment | None]:
    """The encoding facts of ``command`` and, for a command that is one plain
    line (no literal, no secret: most are), that line under a placeholder tag,
    so that writing it later only swaps the tag in instead of encoding it again.
    A line with a single CRLF, at its end, holds no literal (a literal's header
    ends in CRLF, and quoted strings cannot hold one)."""
    # An APPEND always carries literals: encoding (copying) its messages here only
    # to find that out would cost a full copy and scan of them.
    if with_uid_item(command) is command and not isinstance(command, c.Append):
        frags = serialize(PLACEHOLDER_TAG, command, opts)
        if len(frags) == 1:
            f = frags[0]
            data = f.data
            one_line = data.count(b"\r\n") == 1 and data.endswith(b"\r\n")
            if one_line and not f.sensitive and not f.wait_for_continuation:
                n = len(data)
                return EncodingInfo((), 0, (n,), n), f
    return describe_encoding(command, opts), None
