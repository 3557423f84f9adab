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
for its ``+``.  (A one-line command encoded at submission under a placeholder
tag is not encoded again if the encoding options are still the same: only
the tag is swapped in.)

The in-flight footprints are kept in an
:class:`~pipeimap.scheduler._index.InflightIndex`, so admission asks
``pair_conflict`` only about the in-flight commands that share a resource and
messages with the candidate, not about every one of them.
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import InvalidArgumentError
from ..protocol import _commands as c
from ..protocol._serializer import Fragment, LiteralMode, serialize
from . import _analyzer as an
from ._completion import CompletionLayer
from ._entry import Entry, Phase
from ._footprint import Barrier, Footprint, Selection, Wire
from ._outcomes import CommandId, Failed, WriteBatch
from ._state import MailboxState

__all__ = ["PLACEHOLDER_TAG", "WriteLayer", "with_uid_item"]

#: The tag commands are encoded with at submission (replaced when written).
PLACEHOLDER_TAG = "A0000"


class _Batch:
    # Pieces joined once at the end (a lone piece, e.g. one big APPEND, is not
    # copied at all) rather than grown in a bytearray and copied again.
    __slots__ = ("cids", "pieces", "size", "spans")

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.size = 0
        self.spans: list[tuple[int, int]] = []
        self.cids: list[CommandId] = []

    def add(self, frag: Fragment, cid: CommandId) -> None:
        n = len(frag.data)
        if frag.sensitive:
            self.spans.append((self.size, self.size + n))
        if n:
            self.pieces.append(frag.data)
            self.size += n
        if cid not in self.cids:
            self.cids.append(cid)

    def result(self) -> WriteBatch | None:
        if not self.size:
            return None
        data = self.pieces[0] if len(self.pieces) == 1 else b"".join(self.pieces)
        return WriteBatch(bytes(data), tuple(self.spans), tuple(self.cids))


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
        if self._wire_blocked():
            return batch.result()
        limit = self.options.max_write_bytes
        while batch.size < limit:
            entry = self._pick()
            if entry is None:
                break
            self._start(entry, batch)
            # Only the command just started can have blocked the wire (R1).
            if (
                (entry.phase is Phase.IN_FLIGHT and entry.fp.barrier is not Barrier.NONE)
                or entry.waiting_plus
                or self._terminal
                or self._layer_pending is not None
            ):
                break
        return batch.result()

    @property
    def may_write(self) -> bool:
        """False when :meth:`next_write` certainly has nothing to hand out
        (nothing queued, no urgent line, no fragment released by a ``+``)."""
        if self._queue or self._urgent:
            return True
        return any(e.resume for e in self._inflight)

    def _wire_blocked(self) -> bool:
        """R1: a continuation awaited, a barrier in flight, a layer switch pending."""
        if self._terminal or self._layer_pending is not None or self._flight_index.barriers:
            return True
        return any(e.waiting_plus for e in self._inflight)

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
        fp = n.fp
        if fp.drain_before and self._inflight:
            return False  # R1
        if fp.selection is Selection.CHANGES and an.r3_blocks(
            fp, [e.fp for e in self._inflight], self._state.closed_guaranteed
        ):
            return False
        index = self._flight_index
        if index.conflict(fp):
            return False  # R2, R4, R5 (the same answer as pair_conflict with each)
        return not (index.capability_changers and self._caps_dependent(n))

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
        opts = self._state.encode_options()
        cached, e.wire_cache = e.wire_cache, None
        try:
            if cached is not None and cached[0] == opts and self._tag_checked:
                line = cached[1]  # encoded at submit (see _encode_once): swap the tag in
                frags: tuple[Fragment, ...] = (
                    Fragment(tag.encode("ascii") + line.data[len(PLACEHOLDER_TAG) :]),
                )
            else:
                frags = serialize(tag, with_uid_item(e.command), opts)
                self._tag_checked = True  # tags differ in their digits only
        except InvalidArgumentError as exc:
            self._finish(e)
            self._deferred.append(Failed(e.cid, exc))
            self._deferred += self._fail_dependents(e, exc)
            return
        e.tag, e.fragments, e.phase = tag, frags, Phase.IN_FLIGHT
        e.setup_routing(self._state.condstore)
        self._inflight.append(e)
        self.router.track(e)
        self._flight_index.add(e, e.fp)
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


def with_uid_item(cmd: c.Command) -> c.Command:
    """pipeimap adds UID to every non-UID FETCH so responses can be resolved to
    messages without the seq->UID map (pipelining.md, FETCH routing)."""
    if isinstance(cmd, c.Fetch) and not cmd.is_uid:
        items = cmd.expanded_items
        if not any(i.kind == "UID" for i in items):
            return replace(cmd, items=(*items, c.FetchItem("UID")))
    return cmd
