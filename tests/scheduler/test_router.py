"""Router details: split FETCH lines, unsolicited data, state in wire order."""

from __future__ import annotations

from pipeimap.protocol import _commands as c
from pipeimap.protocol._responses import FetchItems
from pipeimap.protocol._seqset import SeqSet, UIDSet
from pipeimap.protocol._types import UID, Flag, SeqNum
from pipeimap.scheduler import (
    Completed,
    FlagsChanged,
    MailboxClosed,
    MessageDelivered,
    MessagesExpunged,
    Unsolicited,
)

from ._harness import BASE_CAPS, Harness, selected_state


def test_split_fetch_lines_are_merged() -> None:
    h = Harness()
    a = h.sched.submit(c.Fetch(UIDSet(4), (c.FetchItem("FLAGS"), c.FetchItem("RFC822.SIZE"))))
    h.write()
    assert h.server(b"* 4 FETCH (UID 4 FLAGS ())\r\n") == []
    outs = h.server(b"* 4 FETCH (UID 4 RFC822.SIZE 99)\r\nA0001 OK\r\n")
    items = FetchItems({"UID": UID(4), "FLAGS": (), "RFC822.SIZE": 99})
    assert outs[0] == MessageDelivered(a, SeqNum(4), UID(4), items)
    assert isinstance(outs[1], Completed)
    assert outs[1].missing == ()


def test_missing_uids_are_reported() -> None:
    h = Harness()
    a = h.sched.submit(c.Fetch(UIDSet(4, 5), (c.FetchItem("FLAGS"),)))
    h.write()
    outs = h.server(b"* 4 FETCH (UID 4 FLAGS ())\r\nA0001 OK\r\n")
    assert outs[-1] == Completed(a, outs[-1].tagged, (UID(5),))  # type: ignore[union-attr]


def test_unrequested_flags_become_events() -> None:
    h = Harness()
    a = h.sched.submit(c.Fetch(SeqSet(2), (c.FetchItem.body("", peek=False),)))
    assert h.write() == b"A0001 FETCH 2 (BODY[] UID)\r\n"
    outs = h.server(b"* 2 FETCH (UID 2 BODY[] {2}\r\nhi FLAGS (\\Seen))\r\nA0001 OK\r\n")
    assert outs[0] == MessageDelivered(
        a, SeqNum(2), UID(2), FetchItems({"UID": UID(2), "BODY[]": b"hi"})
    )
    assert outs[1] == Unsolicited(FlagsChanged(SeqNum(2), UID(2), (Flag.SEEN,)))


def test_expunge_renumbers_in_wire_order() -> None:
    h = Harness(selected_state(exists=3))
    mbox = h.sched.state.selected
    assert mbox is not None
    for i in (1, 2, 3):
        mbox.on_fetch(i, UID(10 * i), None)
    h.sched.submit(c.UidExpunge(UIDSet(20)))
    h.write()
    outs = h.server(b"* 2 EXPUNGE\r\n* 2 FETCH (FLAGS ())\r\nA0001 OK\r\n")
    assert Unsolicited(MessagesExpunged((SeqNum(2),), (UID(20),))) in outs
    assert Unsolicited(FlagsChanged(SeqNum(2), UID(30), ())) in outs
    assert mbox.exists == 2
    assert mbox.uid_for(2) == 30


def test_closed_boundary_with_condstore() -> None:
    h = Harness(selected_state(BASE_CAPS | {"CONDSTORE"}))
    old = h.sched.state.selected
    f = h.sched.submit(c.Fetch(UIDSet(1), (c.FetchItem("FLAGS"),)))
    sel = h.sched.submit(c.Select("Archive"))
    # With [CLOSED] guaranteed, SELECT goes right behind the old mailbox's FETCH.
    assert h.write() == b"A0001 UID FETCH 1 (FLAGS)\r\nA0002 SELECT Archive\r\n"
    outs = h.server(b"* 5 EXISTS\r\n")  # still the old mailbox
    assert old is not None
    assert old.exists == 5
    outs = h.server(b"* OK [CLOSED] done\r\n* 2 EXISTS\r\n")
    assert outs[0] == Unsolicited(MailboxClosed("INBOX"))
    new = h.sched.state.selected
    assert new is not None
    assert new.name == "Archive"
    assert new.exists == 2
    outs = h.server(b"A0002 OK\r\nA0001 OK\r\n")
    assert [o.cid for o in outs if isinstance(o, Completed)] == [sel, f]
