"""A long session: ended commands are forgotten, and a submit costs the same
after 20,000 commands as after 20 (operations are counted, not timed)."""

from __future__ import annotations

from typing import Any

import pytest

from pipeimap.protocol import _commands as c
from pipeimap.protocol import _search as S
from pipeimap.protocol._responses import TaggedResponse
from pipeimap.protocol._seqset import LAST_SEARCH_UID, UIDSet
from pipeimap.protocol._types import Flag
from pipeimap.scheduler import Scheduler, SchedulerOptions
from pipeimap.scheduler import _analyzer as an

from ._harness import selected_state

ROUNDS = 500
PER_ROUND = 40  # 20,000 commands in all


class CountingDict(dict[Any, Any]):
    """Counts the items visited by iteration (the old ``_enqueue`` scanned all)."""

    visited = 0

    def values(self) -> Any:
        CountingDict.visited += len(self)
        return list(super().values())

    def items(self) -> Any:
        CountingDict.visited += len(self)
        return list(super().items())

    def __iter__(self) -> Any:
        CountingDict.visited += len(self)
        return iter(list(super().__iter__()))


def round_commands(i: int) -> list[c.Command]:
    cmds: list[c.Command] = []
    if i % 10 == 0:
        cmds.append(c.Select("INBOX"))  # a new epoch, and an R7 gate
        cmds.append(c.Store(UIDSet(i + 1), c.StoreMode.ADD, (Flag.SEEN,)))
    cmds.append(c.Search(S.UNSEEN, uid=True, return_options=("SAVE",)))
    cmds.append(c.Store(LAST_SEARCH_UID, c.StoreMode.ADD, (Flag.FLAGGED,), silent=True))
    while len(cmds) < PER_ROUND:
        n = len(cmds)
        cmds.append(c.Fetch(UIDSet(i * PER_ROUND + n), (c.FetchItem("FLAGS"),)))
        if n % 7 == 0:
            cmds.append(c.Noop())
    return cmds[:PER_ROUND]


def drive(sched: Scheduler, fail_every: int) -> int:
    """Write everything and answer each command (some with NO); returns how
    many commands ended."""
    ended = 0
    answered = 0
    while sched.queued or sched.in_flight:
        sched.next_write()
        ended += len(sched.take_outcomes())
        for cid in sched.in_flight:
            tag = sched.tag(cid)
            assert tag is not None
            answered += 1
            status = "NO" if answered % fail_every == 0 else "OK"
            outs = sched.on_event(TaggedResponse(tag, status, None, "done"))
            ended += sum(1 for o in outs if type(o).__name__ in ("Completed", "Failed"))
    return ended


@pytest.mark.parametrize("depth", [1, 64])
def test_long_session_keeps_only_live_commands(monkeypatch: pytest.MonkeyPatch, depth: int) -> None:
    gate_checks = 0
    real_gates = an.gates

    def counting_gates(pred: Any, n: Any) -> bool:
        nonlocal gate_checks
        gate_checks += 1
        return real_gates(pred, n)

    monkeypatch.setattr(an, "gates", counting_gates)
    sched = Scheduler(SchedulerOptions(pipeline_depth=depth), state=selected_state())
    sched._entries = CountingDict()
    per_round: list[int] = []
    submitted = 0
    for i in range(ROUNDS):
        before = gate_checks + CountingDict.visited
        cids = [sched.submit(cmd) for cmd in round_commands(i)]
        submitted += len(cids)
        # A few are cancelled while queued: they end without being written.
        for cid in cids[-3:]:
            sched.cancel(cid)
        per_round.append(gate_checks + CountingDict.visited - before)
        drive(sched, fail_every=13)
        assert len(sched._entries) == len(sched.queued) + len(sched.in_flight) == 0
        sizes = sched.internal_sizes()
        assert sizes == dict.fromkeys(sizes, 0), (i, sizes)
        assert not sched.router.opening or sched.router.opening.cid in sched.in_flight
    assert submitted == ROUNDS * PER_ROUND
    assert len(sched._entries) == 0
    # The work per submit does not grow with the session's length.
    assert max(per_round) <= 2 * max(per_round[:10]) + 10, per_round[-10:]
    assert sum(per_round[-50:]) <= 2 * sum(per_round[:50]) + 50


def test_bookkeeping_while_commands_are_pending() -> None:
    sched = Scheduler(SchedulerOptions(pipeline_depth=8), state=selected_state())
    for i in range(2000):
        sched.submit(c.Fetch(UIDSet(i + 1), (c.FetchItem("FLAGS"),)))
        if i % 3 == 0:
            sched.next_write()
            for cid in sched.in_flight[:4]:
                tag = sched.tag(cid)
                assert tag is not None
                sched.on_event(TaggedResponse(tag, "OK", None, ""))
        sizes = sched.internal_sizes()
        live = len(sched.queued) + len(sched.in_flight)
        assert sizes["entries"] == live
        assert sizes["by_tag"] == len(sched.in_flight) <= 8
        assert sizes["gaters"] == sizes["gate_links"] == 0


def test_ended_commands_are_unknown() -> None:
    sched = Scheduler(state=selected_state())
    cid = sched.submit(c.Noop())
    assert sched.command(cid) == c.Noop()
    sched.next_write()
    sched.on_event(TaggedResponse("A0001", "OK", None, ""))
    assert sched.tag(cid) is None
    with pytest.raises(KeyError):
        sched.command(cid)
    with pytest.raises(KeyError):
        sched.footprint(cid)
    assert sched.cancel(cid) == []
    sched.end_idle(cid)  # a no-op
