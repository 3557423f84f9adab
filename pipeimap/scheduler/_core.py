"""The scheduler's bookkeeping: options, the live commands, and how they end.

Theory of operation: the :class:`~pipeimap.scheduler.Scheduler` is built in
layers, one module each -- this core (what is queued and in flight, ending a
command, failing its R7 dependents), :mod:`._exchanges` (``+`` dialogues: IDLE,
AUTHENTICATE, synchronizing literals, layer switches), :mod:`._completion`
(tagged responses, cancellation, connection loss), :mod:`._writing` (admission
and write batching) and :mod:`._scheduler` (submitting and dispatching parser
events).  Each layer only calls into the layers below it.

Only *live* commands are kept: an entry is in :attr:`SchedulerCore._entries`
exactly while it is queued or in flight, and is dropped by :meth:`_finish` the
moment it ends (completed, failed, dropped or cancelled).  R7 gates only ever
point at live entries (a gate ends by releasing or failing its dependents), so
nothing else needs remembering: memory and the per-submit cost depend on what
is pending, not on how long the session has run.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConnectionLostError, InvalidArgumentError, PredecessorFailedError
from ..protocol import _commands as c
from ..protocol._serializer import Fragment
from ._entry import Entry, Phase
from ._footprint import Footprint, Selection
from ._index import InflightIndex
from ._outcomes import CommandId, Failed, Fatal, Outcome
from ._router import Router
from ._state import SessionState

__all__ = ["SchedulerCore", "SchedulerOptions"]


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

    pipeline_depth: int = 128
    max_line_bytes: int = 8000
    max_write_bytes: int = 256 * 1024
    tag_prefix: str = "A"
    lookahead: int = 256

    def __post_init__(self) -> None:
        if self.pipeline_depth < 1 or self.max_write_bytes < 1 or self.lookahead < 1:
            raise InvalidArgumentError("pipeline_depth, max_write_bytes, lookahead must be >= 1")


@dataclass(slots=True)
class Epoch:
    """The selection the commands submitted now are bound to (R3)."""

    number: int
    mailbox: str | None
    readonly: bool
    opener: Entry | None = None


class SchedulerCore:
    """Live commands and their endings (see the module docstring)."""

    def __init__(
        self, options: SchedulerOptions | None = None, *, state: SessionState | None = None
    ) -> None:
        self.options = options or SchedulerOptions()
        self._state = state or SessionState()
        self._entries: dict[CommandId, Entry] = {}  # live: queued or in flight
        self._queue: list[Entry] = []
        self._inflight: list[Entry] = []
        self._flight_index = InflightIndex()  # the footprints of _inflight, for admission
        self._by_tag: dict[str, Entry] = {}
        self._gaters: list[Entry] = []  # live entries that may gate later ones (R7)
        self._urgent: list[tuple[CommandId, Fragment]] = []
        self._deferred: list[Outcome] = []
        self._next_cid = 0
        self._next_tag = 0
        self._tag_checked = False  # a tag of ours went through serialize() (valid)
        self._seqno = 0
        sel = self._state.selected
        self._epoch = Epoch(0, sel.name if sel else None, sel.readonly if sel else False)
        self._layer_pending: c.Command | None = None
        self._terminal = False
        self._closed = False
        self.router = Router(self._state, lambda: self._inflight)

    # --- introspection ----------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        return self._state

    def _live(self, cid: CommandId) -> Entry:
        e = self._entries.get(cid)
        if e is None:
            raise KeyError(f"command {cid} is not queued or in flight")
        return e

    def footprint(self, cid: CommandId) -> Footprint:
        """The footprint of a queued or in-flight command (KeyError once it ended)."""
        return self._live(cid).fp

    def tag(self, cid: CommandId) -> str | None:
        """The tag of an in-flight command; ``None`` if not yet written or ended."""
        e = self._entries.get(cid)
        return e.tag if e is not None else None

    def command(self, cid: CommandId) -> c.Command:
        """The command of a queued or in-flight id (KeyError once it ended)."""
        return self._live(cid).command

    @property
    def in_flight(self) -> tuple[CommandId, ...]:
        return tuple(e.cid for e in self._inflight)

    @property
    def queued(self) -> tuple[CommandId, ...]:
        return tuple(e.cid for e in self._queue)

    @property
    def closed(self) -> bool:
        return self._closed

    def internal_sizes(self) -> dict[str, int]:
        """Sizes of the internal structures (for tests and diagnostics): all are
        bounded by the number of queued and in-flight commands."""
        return {
            "entries": len(self._entries),
            "queue": len(self._queue),
            "inflight": len(self._inflight),
            "by_tag": len(self._by_tag),
            "gaters": len(self._gaters),
            "gate_links": sum(len(e.gates) for e in self._queue),
            "urgent": len(self._urgent),
            "deferred": len(self._deferred),
        }

    def take_outcomes(self) -> list[Outcome]:
        """Outcomes that arose while writing (a command that could no longer be
        encoded and its dependents, a mailbox closed when SELECT was written).
        Call it after each :meth:`next_write`; whatever is not taken is also
        returned by the next :meth:`on_event`, :meth:`cancel` or
        :meth:`connection_lost` (each outcome exactly once)."""
        outs, self._deferred = self._deferred, []
        return outs

    # --- ending commands ----------------------------------------------------------------

    def _finish(self, e: Entry) -> None:
        """``e`` ended: forget it (it is no longer queued nor in flight)."""
        e.phase = Phase.DONE
        e.gates = []
        self._entries.pop(e.cid, None)
        if e in self._gaters:
            self._gaters.remove(e)

    @staticmethod
    def _uidvalidity_error(entry: Entry, actual: int | None) -> PredecessorFailedError:
        return PredecessorFailedError(
            "NO",
            "UIDVALIDITY",
            f"UIDVALIDITY is {actual}, not {entry.expect_uidvalidity}",
            entry.tag or "",
            entry.fp.name,
        )

    def _drop(self, e: Entry, err: Exception) -> list[Outcome]:
        """A queued command fails without being written."""
        self._queue.remove(e)
        cancelled = e.cancelled
        self._finish(e)
        outs: list[Outcome] = [] if cancelled else [Failed(e.cid, err)]
        return outs + self._fail_dependents(e, err)

    def _fail_dependents(self, pred: Entry, err: Exception) -> list[Outcome]:
        """Queued commands gated on ``pred`` (R7), or bound to the epoch a failed
        selection change opened (R3), fail without being written."""
        outs: list[Outcome] = []
        opened = pred.fp.selection is Selection.CHANGES
        if not opened and not pred.fp.saves_search:
            return outs  # only those can gate (_enqueue), so nothing depends on pred
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

    def _fatal(self, err: Exception) -> list[Outcome]:
        lost = ConnectionLostError(f"protocol error: {err}")
        lost.__cause__ = err
        return [Fatal(err), *self._fail_all(lost)]

    def _fail_all(self, err: ConnectionLostError) -> list[Outcome]:
        self._closed = True
        outs: list[Outcome] = []
        for e in [*self._inflight, *self._queue]:
            e.phase = Phase.DONE
            e.gates = []
            if not e.cancelled:
                outs.append(Failed(e.cid, err))
            elif e.poison is not None:
                # Cancelled by the scheduler (its answer was void), not by its
                # caller: it still ends exactly once.
                outs.append(Failed(e.cid, e.poison))
        self._entries.clear()
        self._gaters.clear()
        self._inflight.clear()
        self._flight_index.clear()
        self.router.untrack_all()
        self._queue.clear()
        self._by_tag.clear()
        self._urgent.clear()
        self._layer_pending = None
        return outs
