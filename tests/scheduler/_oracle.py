"""Independent re-computation of the pipelining conflicts, for the property tests.

Written from pipelining.md without reusing the analyzer: scopes are expanded
into plain Python sets, and R2/R4 are also checked straight from command
types (a second, smaller oracle that does not look at footprints at all).
"""

from __future__ import annotations

from pipeimap.protocol import _commands as c
from pipeimap.protocol._seqset import SeqSet, UIDSet
from pipeimap.scheduler import Access, Footprint, MessageScope, Selection

UNIVERSE = 1 << 20  # stands for "every message"


def _numbers(scope: MessageScope | None) -> tuple[str, frozenset[int] | None]:
    if scope is None or scope.kind == "all":
        return ("any", None)
    out: set[int] = set()
    for lo, hi in scope.ranges:
        out.update(range(lo, min(hi, lo + 10_000) + 1))
    return (scope.kind, frozenset(out))


def _scopes_meet(a: MessageScope | None, b: MessageScope | None) -> bool:
    ka, na = _numbers(a)
    kb, nb = _numbers(b)
    if na is None or nb is None or ka != kb:
        return True
    return bool(na & nb)


def _meet(x: Access, y: Access) -> bool:
    if x.resource != y.resource:
        return False
    if not (x.key == y.key or x.key == "*" or y.key == "*"):
        return False
    return _scopes_meet(x.scope, y.scope)


def _ordered(first: Footprint, second: Footprint) -> bool:
    if first.saves_search and second.uses_last_search:
        return True
    if first.kind in ("Store", "Copy") and second.kind in ("Expunge", "UidExpunge", "Close"):
        return True
    if first.kind == "Create" and first.mailbox == second.mailbox:
        return second.kind in ("Append", "Copy", "Move", "Select", "Examine", "Status")
    return first.kind == second.kind == "Append"


def footprint_conflict(first: Footprint, second: Footprint) -> str | None:
    """R2/R4/R5 for ``second`` written while ``first`` is in flight."""
    if second.seq_args and first.expunge_ok:
        return "R2"
    if not _ordered(first, second):
        for w in first.writes:
            for o in second.reads | second.writes:
                if _meet(w, o) and not (w.additive and o.additive):
                    return "R4"
        for w in second.writes:
            for o in first.reads:
                if _meet(w, o):
                    return "R4"
    for s in first.solicits:
        for t in second.solicits:
            if s.key == t.key and _scopes_meet(s.scope, t.scope):
                return "R5"
    return None


def r3_violation(first: Footprint, second: Footprint, closed_guaranteed: bool) -> bool:
    if second.selection is not Selection.CHANGES:
        return False
    if first.selection is Selection.CHANGES:
        return True
    return (
        not closed_guaranteed and first.selection is Selection.NEEDS and first.epoch < second.epoch
    )


# --- the small type-based oracle ------------------------------------------------------


def has_seq_numbers(cmd: c.Command) -> bool:
    if isinstance(cmd, (c.Fetch, c.Store, c.Copy, c.Move)):
        return isinstance(cmd.target, SeqSet)
    if isinstance(cmd, c._SearchBase):
        return cmd.criteria.has_seq_set
    return False


def allows_expunge(cmd: c.Command) -> bool:
    """RFC 9051 section 7.5.1: everything but non-UID FETCH, STORE, SEARCH (SORT, THREAD)."""
    if isinstance(cmd, (c.Fetch, c.Store)):
        return isinstance(cmd.target, UIDSet) or getattr(cmd.target, "uid", False)
    if isinstance(cmd, c._SearchBase):
        return cmd.uid
    return True


def _uids(cmd: c.Fetch | c.Store) -> set[int] | None:
    t = cmd.target
    if isinstance(t, UIDSet) and not t.has_star:
        return {int(u) for u in t}
    return None


def flag_race(a: c.Command, b: c.Command) -> bool:
    """A UID FETCH of FLAGS and a UID STORE of overlapping UIDs (scenario 14)."""
    for x, y in ((a, b), (b, a)):
        if isinstance(x, c.Fetch) and isinstance(y, c.Store) and x.is_uid and y.is_uid:
            if not x.reads_flags:
                continue
            ux, uy = _uids(x), _uids(y)
            if ux is None or uy is None or ux & uy:
                return True
    return False


def _has_star(cmd: c.Command) -> bool:
    t = getattr(cmd, "target", None)
    return isinstance(t, (SeqSet, UIDSet)) and t.has_star


def append_star_race(a: c.Command, b: c.Command, selected: str) -> bool:
    """An APPEND into the selected mailbox and a command whose result depends
    on which messages exist (a set holding ``*``, a SEARCH): whether the new
    message is included must not be left to the server's ordering."""
    for x, y in ((a, b), (b, a)):
        adds = isinstance(x, c.Append) and x.mailbox == selected
        if adds and (_has_star(y) or isinstance(y, c._SearchBase)):
            return True
    return False
