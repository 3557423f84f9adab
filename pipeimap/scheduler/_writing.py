"""Admission and write batching: which queued commands go out, and in what bytes.

Theory of operation: :meth:`WriteLayer.next_write` first adds urgent lines
(``DONE``, SASL responses) and the fragments released by a ``+``, then picks
queued commands in FIFO order while the wire is free (R1: no ``+`` awaited, no
barrier in flight, no layer switch pending) and the batch is below
``max_write_bytes``.  A queued command is admitted by the rules of
pipelining.md against everything in flight -- R7 gates, drain, R3, R2/R4/R5,
R6 -- and may overtake an earlier blocked one only when no edge joins them
(:func:`~pipeimap.scheduler._analyzer.overtake_edge`).  A command is tagged
and encoded (with the capabilities of that moment) when it is picked, and is
in flight from then on; encoding stops at a synchronizing literal, which waits
for its ``+``.
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import InvalidArgumentError
from ..protocol import _commands as c
from ..protocol._serializer import Fragment, LiteralMode, serialize
from . import _analyzer as an
from ._completion import CompletionLayer
from ._entry import Entry, Phase
from ._footprint import Barrier, Footprint, Wire
from ._outcomes import CommandId, Failed, WriteBatch
from ._state import MailboxState

__all__ = ["WriteLayer"]


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


class WriteLayer(CompletionLayer):
    """Admission (R1-R8) and write batching (see the module docstring)."""

    def next_write(self) -> WriteBatch | None:
        """The next bytes to send, or ``None`` if nothing may be written now.
        Then call :meth:`take_outcomes`: picking may fail commands."""
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
        if self._terminal or self._layer_pending is not None:
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
            self._finish(e)
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


def _with_uid_item(cmd: c.Command) -> c.Command:
    """pipeimap adds UID to every non-UID FETCH so responses can be resolved to
    messages without the seq->UID map (pipelining.md, FETCH routing)."""
    if isinstance(cmd, c.Fetch) and not cmd.is_uid:
        items = cmd.expanded_items
        if not any(i.kind == "UID" for i in items):
            return replace(cmd, items=(*items, c.FetchItem("UID")))
    return cmd
