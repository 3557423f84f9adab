"""An index of the in-flight footprints, so that admission does not compare a
queued command with every command in flight.

Theory of operation: :func:`~pipeimap.scheduler._analyzer.pair_conflict` stays
the one definition of R2/R4/R5.  :class:`InflightIndex` only narrows down
*which* in-flight commands it must be asked about: R2 is a counter (a
sequence-number command conflicts with any expunge-capable one), and R4/R5 can
only involve a command that has an access (or a solicited response) on the
same resource and key whose message scope overlaps.  Accesses are filed by
``(resource, key)``; within one, small UID scopes are filed per UID (a
``UID STORE 7`` finds the ``UID FETCH 7`` in flight with one dictionary look-up
and the 255 commands on other UIDs not at all), everything else (no scope,
``*``, sequence numbers, wide UID ranges) in a short list compared with
:meth:`MessageScope.overlaps`.  The candidates found are a superset of the
conflicting commands; each is then checked with ``pair_conflict`` itself, so
the answer is exactly that of the pairwise check (ordered pairs, additive
writes and all).  ``tests/scheduler/test_index.py`` compares the two on random
footprints.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator

from . import _analyzer as an
from ._footprint import Access, Barrier, Footprint, MessageScope

__all__ = ["InflightIndex"]

#: UID scopes of at most this many UIDs are filed per UID.
_POINT_LIMIT = 32
#: A UID scope of at most this many UIDs is looked up UID by UID.
_PROBE_LIMIT = 512


def _uid_count(scope: MessageScope, limit: int) -> int | None:
    """How many UIDs a finite UID scope names, or ``None`` if above ``limit``."""
    n = 0
    for lo, hi in scope.ranges:
        n += hi - lo + 1
        if n > limit:
            return None
    return n


def _uids(scope: MessageScope) -> Iterator[int] | range:
    ranges = scope.ranges
    if len(ranges) == 1:
        lo, hi = ranges[0]
        return range(lo, hi + 1)  # the usual case: one UID, or one range
    return (u for lo, hi in ranges for u in range(lo, hi + 1))


class _Bucket:
    """The in-flight accesses (or solicits) of one resource and key."""

    __slots__ = ("other", "points", "small")

    def __init__(self) -> None:
        # owner -> scopes compared one by one (None: the whole resource)
        self.other: dict[Hashable, list[MessageScope | None]] = {}
        # UID -> owners (with multiplicity) of small UID scopes
        self.points: dict[int, dict[Hashable, int]] = {}
        # owner -> its small UID scopes (for probes too wide to go UID by UID)
        self.small: dict[Hashable, list[MessageScope]] = {}

    def __bool__(self) -> bool:
        return bool(self.other or self.small)

    def add(self, owner: Hashable, scope: MessageScope | None) -> None:
        if (
            scope is not None
            and scope.kind == "uid"
            and _uid_count(scope, _POINT_LIMIT) is not None
        ):
            self.small.setdefault(owner, []).append(scope)
            for u in _uids(scope):
                owners = self.points.setdefault(u, {})
                owners[owner] = owners.get(owner, 0) + 1
        else:
            self.other.setdefault(owner, []).append(scope)

    def remove(self, owner: Hashable) -> None:
        self.other.pop(owner, None)
        scopes = self.small.pop(owner, None)
        if scopes is None:
            return
        for scope in scopes:
            for u in _uids(scope):
                owners = self.points.get(u)
                if owners is None or owner not in owners:
                    continue
                if owners[owner] <= 1:
                    del owners[owner]
                    if not owners:
                        del self.points[u]
                else:
                    owners[owner] -= 1

    def overlapping(self, scope: MessageScope | None, out: set[Hashable]) -> None:
        """Add to ``out`` every owner with a scope that may overlap ``scope``."""
        if scope is None or scope.kind != "uid":
            # No scope, "all", or sequence numbers (which overlap every UID scope).
            out.update(self.small)
            if scope is None:
                out.update(self.other)
                return
        elif self.small:
            if _uid_count(scope, _PROBE_LIMIT) is not None:
                points = self.points
                for u in _uids(scope):
                    owners = points.get(u)
                    if owners:
                        out.update(owners)
            else:
                for owner, scopes in self.small.items():
                    if owner not in out and any(s.overlaps(scope) for s in scopes):
                        out.add(owner)
        for owner, others in self.other.items():
            if owner not in out and any(s is None or s.overlaps(scope) for s in others):
                out.add(owner)


class _AccessIndex:
    """Accesses by resource, then key."""

    __slots__ = ("_by_resource",)

    def __init__(self) -> None:
        self._by_resource: dict[str, dict[str, _Bucket]] = {}

    def add(self, owner: Hashable, accesses: Iterable[Access]) -> None:
        for a in accesses:
            keys = self._by_resource.setdefault(a.resource, {})
            bucket = keys.get(a.key)
            if bucket is None:
                bucket = keys[a.key] = _Bucket()
            bucket.add(owner, a.scope)

    def remove(self, owner: Hashable, accesses: Iterable[Access]) -> None:
        for a in accesses:
            keys = self._by_resource.get(a.resource)
            if keys is None:
                continue
            bucket = keys.get(a.key)
            if bucket is None:
                continue
            bucket.remove(owner)
            if not bucket:
                del keys[a.key]
                if not keys:
                    del self._by_resource[a.resource]

    def overlapping(self, a: Access, out: set[Hashable]) -> None:
        """Owners with an access that may overlap ``a`` (:meth:`Access.overlaps`)."""
        keys = self._by_resource.get(a.resource)
        if not keys:
            return
        if a.key == "*":
            for bucket in keys.values():
                bucket.overlapping(a.scope, out)
            return
        for k in (a.key, "*"):
            found = keys.get(k)
            if found is not None:
                found.overlapping(a.scope, out)


class InflightIndex:
    """The footprints of the commands in flight, indexed for admission."""

    __slots__ = (
        "_all",
        "_fps",
        "_solicits",
        "_writes",
        "barriers",
        "capability_changers",
        "expunge_ok",
    )

    def __init__(self) -> None:
        self._fps: dict[Hashable, Footprint] = {}
        self._all = _AccessIndex()  # reads and writes
        self._writes = _AccessIndex()
        self._solicits: dict[str, _Bucket] = {}
        self.expunge_ok = 0
        self.barriers = 0
        self.capability_changers = 0

    def __len__(self) -> int:
        return len(self._fps)

    def add(self, owner: Hashable, fp: Footprint) -> None:
        if owner in self._fps:
            raise ValueError("already indexed")
        self._fps[owner] = fp
        self._all.add(owner, fp.reads)
        self._all.add(owner, fp.writes)
        self._writes.add(owner, fp.writes)
        for s in fp.solicits:
            bucket = self._solicits.get(s.key)
            if bucket is None:
                bucket = self._solicits[s.key] = _Bucket()
            bucket.add(owner, s.scope)
        self.expunge_ok += fp.expunge_ok
        self.barriers += fp.barrier is not Barrier.NONE
        self.capability_changers += fp.changes_capabilities

    def remove(self, owner: Hashable) -> None:
        fp = self._fps.pop(owner, None)
        if fp is None:
            return
        self._all.remove(owner, fp.reads)
        self._all.remove(owner, fp.writes)
        self._writes.remove(owner, fp.writes)
        for s in fp.solicits:
            bucket = self._solicits.get(s.key)
            if bucket is not None:
                bucket.remove(owner)
                if not bucket:
                    del self._solicits[s.key]
        self.expunge_ok -= fp.expunge_ok
        self.barriers -= fp.barrier is not Barrier.NONE
        self.capability_changers -= fp.changes_capabilities

    def clear(self) -> None:
        self.__init__()  # type: ignore[misc]

    def candidates(self, n: Footprint) -> set[Hashable]:
        """In-flight commands that may conflict with ``n`` by R4 or R5 (a superset)."""
        out: set[Hashable] = set()
        for a in n.reads:
            self._writes.overlapping(a, out)  # they write what n reads
        for a in n.writes:
            self._all.overlapping(a, out)  # they read or write what n writes
        for s in n.solicits:
            bucket = self._solicits.get(s.key)
            if bucket is not None:
                bucket.overlapping(s.scope, out)
        return out

    def conflict(self, n: Footprint) -> bool:
        """``any(pair_conflict(f, n) for f in flight)``: R2, R4 or R5 keeps ``n`` back."""
        if n.seq_args and self.expunge_ok:
            return True  # R2
        fps = self._fps
        return any(an.pair_conflict(fps[o], n) is not None for o in self.candidates(n))
