"""The EXPUNGE rule of the hostile tests, at the scheduler (sans-IO): every
way a sequence-number command can end after the server expunged during it."""

from __future__ import annotations

from pipeimap import UnexpectedResponseError
from pipeimap.protocol import SeqSet, UIDSet
from pipeimap.protocol import _commands as c
from pipeimap.protocol._types import Flag
from pipeimap.scheduler import Completed, Failed, MessageDelivered, Outcome

from ..scheduler._harness import BASE_CAPS, Harness, selected_state

FLAGS = (c.FetchItem("FLAGS"),)


def _store(target: SeqSet | UIDSet) -> c.Store:
    return c.Store(target, c.StoreMode.ADD, (Flag("\\Seen"),))


def _ends(outs: list[Outcome]) -> list[Completed | Failed]:
    return [o for o in outs if isinstance(o, (Completed, Failed))]


def test_sequence_store_answered_no_after_an_expunge() -> None:
    h = Harness()
    cid = h.sched.submit(_store(SeqSet(range(2, 4))))
    assert h.write() is not None
    outs = h.server(b"* 1 EXPUNGE\r\n* 2 FETCH (FLAGS (\\Seen))\r\n")
    assert not [o for o in outs if isinstance(o, MessageDelivered)]  # withheld
    (end,) = _ends(h.server(f"{h.tag(cid)} NO partly failed\r\n".encode()))
    assert isinstance(end, Failed)
    assert end.cid == cid
    assert type(end.error) is UnexpectedResponseError  # the void answer, not the NO


def test_connection_lost_after_the_expunge() -> None:
    h = Harness()
    cid = h.sched.submit(c.Fetch(SeqSet(range(1, 6)), FLAGS))
    assert h.write() is not None
    h.server(b"* 3 EXPUNGE\r\n")
    ends = _ends(h.sched.connection_lost(None))
    assert [(type(o), o.cid) for o in ends] == [(Failed, cid)]  # ends exactly once
    assert isinstance(ends[0], Failed)
    assert type(ends[0].error) is UnexpectedResponseError


def test_vanished_during_a_sequence_fetch() -> None:
    h = Harness(selected_state(BASE_CAPS | {"CONDSTORE", "QRESYNC"}))
    h.sched.state.enabled = frozenset({"QRESYNC"})
    cid = h.sched.submit(c.Fetch(SeqSet(range(1, 6)), FLAGS))
    assert h.write() is not None
    h.server(b"* 1 FETCH (UID 1 FLAGS ())\r\n* VANISHED 1\r\n")
    (end,) = _ends(h.server(f"{h.tag(cid)} OK done\r\n".encode()))
    assert isinstance(end, Failed)
    assert type(end.error) is UnexpectedResponseError
    assert "VANISHED" in str(end.error)


def test_expunge_during_uid_commands_is_legal() -> None:
    h = Harness()
    store = h.sched.submit(_store(UIDSet(range(2, 4))))
    fetch = h.sched.submit(c.Fetch(UIDSet(range(5, 7)), FLAGS))
    while h.write() is not None:
        pass
    outs = h.server(
        b"* 1 EXPUNGE\r\n* 1 FETCH (UID 3 FLAGS (\\Seen))\r\n"
        + f"{h.tag(store)} OK done\r\n{h.tag(fetch)} OK done\r\n".encode()
    )
    assert all(isinstance(o, Completed) for o in _ends(outs))
    assert len(_ends(outs)) == 2
