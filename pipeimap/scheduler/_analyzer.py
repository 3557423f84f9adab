"""The dependency analyzer: which commands may be in flight together.

Theory of operation: every rule is a pure function of footprints
(:mod:`._footprint`).  :func:`pair_conflict` answers "may ``second`` be
written while ``first`` (sent earlier) is still in flight?" with the rule that
forbids it (R2, R4, R5) or ``None``; :func:`ordered_pair` lists the pairs for
which send order is enough (pipelining.md, "Ordered pairs": RFC 5182 section
2.1, RFC 3501 section 5.5, RFC 5161).  R3 (selection epochs), R6
(capability-dependent encoding) and R7 (fail-open gates) need to know which
command opened which epoch and what is queued, so the scheduler applies them
with the helpers here.  The one hard client MUST of RFC 9051 section 5.5 is R2:
no sequence-number command while a command that allows EXPUNGE is in flight.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import ConflictError
from ._footprint import Access, Barrier, Footprint, Selection

__all__ = [
    "batch_conflict",
    "check_batch",
    "data_conflict",
    "gates",
    "ordered_pair",
    "overtake_edge",
    "pair_conflict",
    "r3_blocks",
]

_FLAG_WRITERS_OR_COPY = frozenset({"Store", "Copy"})
_EXPUNGERS = frozenset({"Expunge", "UidExpunge", "Close"})
_CREATE_FOLLOWERS = frozenset({"Append", "Copy", "Move", "Select", "Examine", "Status"})


def ordered_pair(first: Footprint, second: Footprint) -> bool:
    """True when sending ``first`` then ``second`` is enough: the server executes
    them in order and their responses do not collide."""
    if first.saves_search and second.uses_last_search:
        return True  # RFC 5182 section 2.1
    if first.kind in _FLAG_WRITERS_OR_COPY and second.kind in _EXPUNGERS:
        return True  # RFC 3501 section 5.5: STORE + COPY + EXPUNGE
    if first.kind == "Create" and second.kind in _CREATE_FOLLOWERS:
        return first.mailbox == second.mailbox
    return first.kind == "Append" and second.kind == "Append"


def _clash(writes: frozenset[Access], others: frozenset[Access]) -> bool:
    return any(w.overlaps(o) and not (w.additive and o.additive) for w in writes for o in others)


def data_conflict(a: Footprint, b: Footprint) -> bool:
    """R4: one writes a resource the other reads or writes (symmetric)."""
    return _clash(a.writes, b.reads | b.writes) or _clash(b.writes, a.reads)


def solicit_conflict(a: Footprint, b: Footprint) -> bool:
    """R5: both await an untagged response nobody could attribute."""
    return any(s.collides(t) for s in a.solicits for t in b.solicits)


def pair_conflict(first: Footprint, second: Footprint) -> str | None:
    """The rule that keeps ``second`` from being written while ``first`` (sent
    before it) is in flight, or ``None``."""
    if second.seq_args and first.expunge_ok:
        return "R2"
    if not ordered_pair(first, second) and data_conflict(first, second):
        return "R4"
    if solicit_conflict(first, second):
        return "R5"
    return None


def r3_blocks(n: Footprint, inflight: Sequence[Footprint], closed_guaranteed: bool) -> bool:
    """R3: a selection change waits for the old epoch's commands, unless the
    server guarantees ``[CLOSED]`` (RFC 7162 section 3.2.11), in which case
    send order suffices and only one selection change is in flight at a time."""
    if n.selection is not Selection.CHANGES:
        return False
    for f in inflight:
        if f.selection is Selection.CHANGES:
            return True
        if not closed_guaranteed and f.selection is Selection.NEEDS and f.epoch < n.epoch:
            return True
    return False


def gates(pred: Footprint, n: Footprint) -> bool:
    """R7: ``n`` must wait for ``pred``'s tagged OK (and is never written if it fails)."""
    if pred.saves_search and n.uses_last_search and n.destructive:
        return True  # a failed SAVE leaves the old "$" (RFC 5182 section 2.4)
    return (
        pred.selection is Selection.CHANGES
        and n.selection is Selection.NEEDS
        and pred.epoch == n.epoch
        and n.is_uid
        and n.destructive
    )  # a destructive UID command waits for the UIDVALIDITY check


def _r3_edge(a: Footprint, b: Footprint) -> bool:
    return (a.selection is Selection.CHANGES and b.selection is not Selection.NONE) or (
        b.selection is Selection.CHANGES and a.selection is not Selection.NONE
    )


def overtake_edge(blocked: Footprint, later: Footprint) -> bool:
    """True when ``later`` may not be written before the earlier ``blocked``
    (send order is FIFO except across commands with no R3/R4/R5/R7 edge).
    Also: nothing overtakes a drain/barrier command (it would starve), an
    expunge-capable command does not overtake a sequence-number one (whose
    numbers were chosen before it), and nothing passes a command that may change
    the capabilities or the authentication state (LOGIN, ENABLE...), either way:
    what follows it was encoded and meant for the session after it (R6)."""
    if blocked.drain_before or blocked.barrier is not Barrier.NONE:
        return True
    if later.drain_before or later.barrier is not Barrier.NONE:
        return True
    if blocked.changes_capabilities or later.changes_capabilities:
        return True
    if blocked.seq_args and later.expunge_ok:
        return True
    if _r3_edge(blocked, later) or gates(blocked, later):
        return True
    return data_conflict(blocked, later) or solicit_conflict(blocked, later)


def _is_dependency(first: Footprint, second: Footprint, rule: str) -> bool:
    """Inside an explicit batch, R2 behind the SELECT that opens the epoch is a
    dependency (the numbers refer to the new mailbox), not a conflict."""
    return (
        rule == "R2"
        and first.selection is Selection.CHANGES
        and second.selection is Selection.NEEDS
        and first.epoch == second.epoch
    )


def batch_conflict(fps: Sequence[Footprint]) -> tuple[int, int, str] | None:
    """The first pair ``(i, j, rule)`` of an explicit batch that conflicts (R2, R4,
    R5; ordered pairs and R3/R7 gates are honoured by waiting instead)."""
    for j, second in enumerate(fps):
        for i in range(j):
            first = fps[i]
            if gates(first, second):
                continue
            rule = pair_conflict(first, second)
            if rule is not None and not _is_dependency(first, second, rule):
                return i, j, rule
    return None


def check_batch(fps: Sequence[Footprint], descriptions: Sequence[str]) -> None:
    """Raise :class:`ConflictError` naming both commands and the rule."""
    found = batch_conflict(fps)
    if found is None:
        return
    i, j, rule = found
    raise ConflictError(
        descriptions[i],
        descriptions[j],
        rule,
        f"command {j + 1} of the batch cannot be in flight with command {i + 1}",
    )
