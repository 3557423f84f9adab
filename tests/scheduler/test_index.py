"""The admission index gives exactly the answer of the pairwise analyzer.

:class:`~pipeimap.scheduler._index.InflightIndex` narrows down which in-flight
commands ``pair_conflict`` is asked about; these tests compare it with the
original check -- ``any(pair_conflict(f, n) is not None for f in flight)`` --
on random footprints, random additions and removals.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeimap.scheduler import _analyzer as an
from pipeimap.scheduler._footprint import (
    ALL_MESSAGES,
    Access,
    Barrier,
    Footprint,
    MessageScope,
    Solicit,
)
from pipeimap.scheduler._index import InflightIndex


def _ranges(draw: st.DrawFn, top: int) -> tuple[tuple[int, int], ...]:
    """Sorted, disjoint ranges (as ``SeqSet``/``UIDSet`` give them): point
    sets, small sets (filed per UID) and wide ones (compared range by range)."""
    bounds = sorted(draw(st.sets(st.integers(1, top), max_size=8)))
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(bounds):
        if i + 1 < len(bounds) and draw(st.booleans()):
            out.append((bounds[i], bounds[i + 1]))
            i += 2
        else:
            out.append((bounds[i], bounds[i]))
            i += 1
    # merge touching ranges so they stay disjoint
    merged: list[tuple[int, int]] = []
    for lo, hi in out:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return tuple(merged)


@st.composite
def scopes(draw: st.DrawFn) -> MessageScope | None:
    kind = draw(st.sampled_from(["none", "all", "seq", "uid", "uid", "uid", "wide"]))
    if kind == "none":
        return None
    if kind == "all":
        return ALL_MESSAGES
    if kind == "wide":
        return MessageScope("uid", _ranges(draw, 5000))
    return MessageScope("seq" if kind == "seq" else "uid", _ranges(draw, 60))


_RESOURCES = ["FLAGS", "MODSEQ", "MSGS", "MBOX", "MBOXLIST", "SUBS", "SEARCHRES", "SESSION"]
_KEYS = ["", "*", "\\seen", "\\flagged", "\\deleted", "INBOX", "a"]


@st.composite
def accesses(draw: st.DrawFn) -> Access:
    return Access(
        draw(st.sampled_from(_RESOURCES)),
        draw(st.sampled_from(_KEYS)),
        draw(scopes()),
        draw(st.booleans()),
    )


@st.composite
def solicits(draw: st.DrawFn) -> Solicit:
    key = draw(st.sampled_from(["SEARCH", "CAPABILITY", "BODY[]", "BODY[1]"]))
    return Solicit(key, draw(scopes()))


_KINDS = ["Store", "Copy", "Move", "Expunge", "UidExpunge", "Close", "Create", "Append"]
_KINDS += ["Select", "Fetch", "Search", "Status", "Noop"]


@st.composite
def footprints(draw: st.DrawFn) -> Footprint:
    return Footprint(
        name="X",
        barrier=draw(st.sampled_from([Barrier.NONE] * 5 + [Barrier.UNTIL_COMPLETE])),
        expunge_ok=draw(st.booleans()),
        seq_args=draw(st.booleans()),
        reads=frozenset(draw(st.lists(accesses(), max_size=4))),
        writes=frozenset(draw(st.lists(accesses(), max_size=4))),
        solicits=frozenset(draw(st.lists(solicits(), max_size=2))),
        saves_search=draw(st.booleans()),
        uses_last_search=draw(st.booleans()),
        changes_capabilities=draw(st.booleans()),
        kind=draw(st.sampled_from(_KINDS)),
        mailbox=draw(st.sampled_from(["INBOX", "a"])),
    )


def _pairwise(flight: dict[int, Footprint], n: Footprint) -> bool:
    return any(an.pair_conflict(f, n) is not None for f in flight.values())


@settings(max_examples=400, deadline=None)
@given(
    st.lists(footprints(), min_size=1, max_size=12),
    st.lists(st.integers(0, 11), max_size=6),
    st.lists(footprints(), min_size=1, max_size=6),
)
def test_index_agrees_with_pairwise_check(
    flying: list[Footprint], removed: list[int], probes: list[Footprint]
) -> None:
    index = InflightIndex()
    flight: dict[int, Footprint] = {}
    for i, fp in enumerate(flying):
        index.add(i, fp)
        flight[i] = fp
    for i in removed:
        index.remove(i)
        flight.pop(i, None)
    assert len(index) == len(flight)
    assert index.expunge_ok == sum(f.expunge_ok for f in flight.values())
    assert index.barriers == sum(f.barrier is not Barrier.NONE for f in flight.values())
    assert index.capability_changers == sum(f.changes_capabilities for f in flight.values())
    for n in [*probes, *flying]:
        assert index.conflict(n) == _pairwise(flight, n)
        # every conflicting command is a candidate
        conflicting = {i for i, f in flight.items() if an.pair_conflict(f, n) not in (None, "R2")}
        assert conflicting <= index.candidates(n)


def test_disjoint_uid_stores_find_no_candidates() -> None:
    """The flags workload: UID STOREs of different messages, nothing to compare."""
    index = InflightIndex()

    def store(uid: int) -> Footprint:
        scope = MessageScope("uid", ((uid, uid),))
        return Footprint(
            name="UID STORE",
            reads=frozenset({Access("MSGS", "", scope)}),
            writes=frozenset(
                {Access("FLAGS", "\\flagged", scope), Access("MODSEQ", "", scope, additive=True)}
            ),
            is_uid=True,
            kind="Store",
            destructive=True,
        )

    for uid in range(1, 257):
        index.add(uid, store(uid))
    assert index.candidates(store(1000)) == set()
    assert index.candidates(store(7)) == {7}
    assert not index.conflict(store(1000))
    assert index.conflict(store(7))  # R4: both write FLAGS \flagged of UID 7
    index.remove(7)
    assert index.candidates(store(7)) == set()
    index.clear()
    assert len(index) == 0
