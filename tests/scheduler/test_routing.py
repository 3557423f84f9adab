"""Routing of untagged data that belongs to one in-flight command (pipelining.md,
"Routing responses"): MOVE's untagged COPYUID, what a QRESYNC SELECT reports,
ENABLED, LIST/LSUB/STATUS with several commands in flight, CAPABILITY."""

from __future__ import annotations

from pipeimap.protocol import _commands as c
from pipeimap.protocol._codes import CopyUidCode
from pipeimap.protocol._responses import (
    CapabilityResponse,
    EnabledResponse,
    ListResponse,
    MailboxStatusResponse,
    UntaggedStatus,
    VanishedResponse,
)
from pipeimap.protocol._seqset import UIDSet
from pipeimap.protocol._types import UID, ModSeq, SeqNum
from pipeimap.scheduler import (
    CapabilitiesChanged,
    CommandId,
    Completed,
    Delivered,
    ExtensionsEnabled,
    FlagsChanged,
    MessageDelivered,
    NoticeReceived,
    Outcome,
    Unsolicited,
)

from ._harness import BASE_CAPS, Harness, selected_state

FLAGS = (c.FetchItem("FLAGS"),)


def delivered(outs: list[Outcome]) -> list[tuple[CommandId, object]]:
    return [(o.cid, o.response) for o in outs if isinstance(o, Delivered)]


def unsolicited(outs: list[Outcome]) -> list[object]:
    return [o.event for o in outs if isinstance(o, Unsolicited)]


# --- MOVE and its untagged COPYUID (RFC 6851 section 4.3) ---------------------------------


def test_untagged_copyuid_goes_to_the_move() -> None:
    h = Harness()
    mv = h.sched.submit(c.Move(UIDSet(5), "Archive"))
    assert h.write() == b"A0001 UID MOVE 5 Archive\r\n"
    outs = h.server(b"* OK [COPYUID 7 5 12] moved\r\n* 5 EXPUNGE\r\nA0001 OK done\r\n")
    (cid, resp), *_ = delivered(outs)
    assert cid == mv
    assert isinstance(resp, UntaggedStatus)
    assert isinstance(resp.code, CopyUidCode)
    assert resp.code.mapping() == [(UID(5), UID(12))]
    assert not any(isinstance(e, NoticeReceived) for e in unsolicited(outs))
    assert isinstance(outs[-1], Completed)


def test_two_uid_moves_get_their_own_copyuid() -> None:
    h = Harness()
    a = h.sched.submit(c.Move(UIDSet(range(1, 4)), "A"))
    b = h.sched.submit(c.Move(UIDSet(7), "B"))
    assert h.write() == b"A0001 UID MOVE 1:3 A\r\nA0002 UID MOVE 7 B\r\n"
    outs = h.server(
        b"* OK [COPYUID 9 7 100] moved\r\n* OK [COPYUID 9 1:3 200:202] moved\r\n"
        b"A0002 OK\r\nA0001 OK\r\n"
    )
    got = [
        (cid, r.code.raw if r.code else None)
        for cid, r in delivered(outs)
        if isinstance(r, UntaggedStatus)
    ]
    assert got == [(b, b"9 7 100"), (a, b"9 1:3 200:202")]


def test_copyuid_without_a_move_is_a_notice() -> None:
    h = Harness()
    h.sched.submit(c.Noop())
    h.write()
    outs = h.server(b"* OK [COPYUID 7 5 12] odd\r\n")
    assert delivered(outs) == []
    (event,) = unsolicited(outs)
    assert isinstance(event, NoticeReceived)
    assert isinstance(event.code, CopyUidCode)


def test_cancelled_move_drops_its_copyuid() -> None:
    h = Harness()
    mv = h.sched.submit(c.Move(UIDSet(5), "Archive"))
    h.write()
    h.sched.cancel(mv)
    outs = h.server(b"* OK [COPYUID 7 5 12] moved\r\nA0001 OK\r\n")
    assert outs == []


# --- QRESYNC SELECT (RFC 7162 section 3.2.5.2) ---------------------------------------------

QRESYNC_CAPS = BASE_CAPS | {"CONDSTORE", "QRESYNC", "ENABLE"}


def qresync_harness() -> Harness:
    st = selected_state(QRESYNC_CAPS)
    st.enabled = frozenset({"QRESYNC", "CONDSTORE"})
    return Harness(st)


def qresync_select(name: str = "Archive") -> c.Select:
    return c.Select(name, qresync=c.QResync(7, ModSeq(80), UIDSet(range(1, 6))))


def test_qresync_select_gets_its_fetch_lines_and_vanished_earlier() -> None:
    h = qresync_harness()
    sel = h.sched.submit(qresync_select())
    uf = h.sched.submit(c.Fetch(UIDSet.all(), FLAGS))  # the new mailbox, right behind
    assert h.write() == (
        b"A0001 SELECT Archive (QRESYNC (7 80 1:5))\r\nA0002 UID FETCH 1:* (FLAGS)\r\n"
    )
    outs = h.server(
        b"* OK [CLOSED] done\r\n* 3 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n"
        b"* VANISHED (EARLIER) 4:5\r\n"
        b"* 2 FETCH (UID 3 FLAGS (\\Seen) MODSEQ (90))\r\n"
        b"A0001 OK [READ-WRITE] selected\r\n"
    )
    msgs = [o for o in outs if isinstance(o, MessageDelivered)]
    assert [(o.cid, o.seq, o.uid) for o in msgs] == [(sel, SeqNum(2), UID(3))]
    assert msgs[0].items.flags == ("\\Seen",)
    assert msgs[0].items.modseq == 90
    assert (sel, VanishedResponse(UIDSet(4, 5), True)) in delivered(outs)
    assert all(cid == sel for cid, _ in delivered(outs))
    assert not any(isinstance(e, FlagsChanged) for e in unsolicited(outs))
    assert isinstance(outs[-1], Completed)
    # After SELECT's OK, FETCH lines are the UID FETCH's again.
    outs = h.server(b"* 1 FETCH (UID 1 FLAGS ())\r\nA0002 OK\r\n")
    assert [(o.cid, o.uid) for o in outs if isinstance(o, MessageDelivered)] == [(uf, UID(1))]
    mbox = h.sched.state.selected
    assert mbox is not None
    assert (mbox.name, mbox.exists, mbox.uid_for(2)) == ("Archive", 3, 3)


def test_qresync_select_with_nothing_selected_before() -> None:
    st = selected_state(QRESYNC_CAPS, mailbox=None)
    st.enabled = frozenset({"QRESYNC"})
    h = Harness(st)
    sel = h.sched.submit(qresync_select())
    h.write()
    outs = h.server(b"* 2 FETCH (UID 3 FLAGS () MODSEQ (91))\r\nA0001 OK\r\n")
    assert [(o.cid, o.uid) for o in outs if isinstance(o, MessageDelivered)] == [(sel, UID(3))]


def test_vanished_earlier_before_closed_is_the_old_mailboxs() -> None:
    h = qresync_harness()
    vf = h.sched.submit(c.Fetch(UIDSet(range(1, 11)), FLAGS, ModSeq(5), vanished=True))
    sel = h.sched.submit(qresync_select())
    h.write()
    assert h.sched.in_flight == (vf, sel)
    outs = h.server(b"* VANISHED (EARLIER) 10\r\nA0001 OK\r\n")
    assert delivered(outs) == [(vf, VanishedResponse(UIDSet(10), True))]
    outs = h.server(b"* OK [CLOSED]\r\n* VANISHED (EARLIER) 4\r\nA0002 OK\r\n")
    assert delivered(outs) == [(sel, VanishedResponse(UIDSet(4), True))]


def test_vanished_earlier_goes_to_the_fetch_whose_set_it_is_in() -> None:
    h = qresync_harness()
    a = h.sched.submit(c.Fetch(UIDSet(range(1, 11)), FLAGS, ModSeq(5), vanished=True))
    b = h.sched.submit(c.Fetch(UIDSet(range(20, 31)), FLAGS, ModSeq(5), vanished=True))
    h.write()
    assert h.sched.in_flight == (a, b)
    outs = h.server(b"* VANISHED (EARLIER) 25:26\r\n* VANISHED (EARLIER) 3\r\n")
    assert delivered(outs) == [
        (b, VanishedResponse(UIDSet(25, 26), True)),
        (a, VanishedResponse(UIDSet(3), True)),
    ]


# --- ENABLED, CAPABILITY ---------------------------------------------------------------------


def test_enabled_goes_to_enable_and_updates_the_session() -> None:
    h = Harness(selected_state(BASE_CAPS | {"ENABLE", "CONDSTORE"}, mailbox=None))
    en = h.sched.submit(c.Enable(("CONDSTORE",)))
    sel = h.sched.submit(c.Select("INBOX"))  # RFC 5161: ENABLE -> SELECT is an ordered pair
    assert h.write() == b"A0001 ENABLE CONDSTORE\r\nA0002 SELECT INBOX\r\n"
    outs = h.server(b"* ENABLED CONDSTORE\r\nA0001 OK\r\n")
    assert delivered(outs) == [(en, EnabledResponse(("CONDSTORE",)))]
    assert h.sched.state.condstore
    assert sel in h.sched.in_flight


def test_enabled_without_enable_is_an_event() -> None:
    h = Harness()
    h.sched.submit(c.Noop())
    h.write()
    outs = h.server(b"* ENABLED UTF8=ACCEPT\r\n")
    assert outs == [Unsolicited(ExtensionsEnabled(frozenset({"UTF8=ACCEPT"})))]
    assert h.sched.state.utf8


def test_capability_goes_to_the_capability_command() -> None:
    h = Harness(selected_state(frozenset({"IMAP4REV1"}), mailbox=None))
    cap = h.sched.submit(c.Capability())
    again = h.sched.submit(c.Capability())  # R5: one at a time
    n = h.sched.submit(c.Noop())
    assert h.write() == b"A0001 CAPABILITY\r\nA0002 NOOP\r\n"
    outs = h.server(b"* CAPABILITY IMAP4rev1 LITERAL+ IDLE\r\nA0001 OK\r\n")
    assert delivered(outs) == [(cap, CapabilityResponse(("IMAP4REV1", "LITERAL+", "IDLE")))]
    assert h.sched.state.capabilities == {"IMAP4REV1", "LITERAL+", "IDLE"}
    assert h.write() == b"A0003 CAPABILITY\r\n"
    assert h.sched.in_flight == (n, again)
    # Unasked (after LOGIN, say): the session learns it, subscribers hear of it.
    outs = h.server(b"A0002 OK\r\nA0003 OK [CAPABILITY IMAP4rev1 IDLE] done\r\n")
    assert h.sched.state.capabilities == {"IMAP4REV1", "IDLE"}
    outs = h.server(b"* CAPABILITY IMAP4rev1\r\n")
    assert outs == [Unsolicited(CapabilitiesChanged(frozenset({"IMAP4REV1"})))]


# --- LIST, LSUB, STATUS ------------------------------------------------------------------------


def _list(name: str, kind: str = "LIST") -> bytes:
    return f'* {kind} () "/" "{name}"\r\n'.encode()


def test_several_lists_each_get_what_matches_their_pattern() -> None:
    h = Harness()
    inbox = h.sched.submit(c.List("", ("INBOX",)))
    work = h.sched.submit(c.List("", ("Work/%",)))
    every = h.sched.submit(c.List("", ("*",)))
    lsub = h.sched.submit(c.Lsub("", "Work/*"))
    assert h.write() == (
        b'A0001 LIST "" INBOX\r\nA0002 LIST "" Work/%\r\nA0003 LIST "" *\r\n'
        b'A0004 LSUB "" Work/*\r\n'
    )
    outs = h.server(
        _list("inbox")
        + _list("Work/a")
        + _list("Work/a/deep")
        + _list("Other")
        + _list("Work/a", "LSUB")
    )
    got = [(cid, r.mailbox) for cid, r in delivered(outs) if isinstance(r, ListResponse)]
    assert got == [
        (inbox, "INBOX"),
        (every, "INBOX"),
        (work, "Work/a"),
        (every, "Work/a"),
        (every, "Work/a/deep"),
        (every, "Other"),
        (lsub, "Work/a"),
    ]


def test_status_goes_to_the_commands_naming_the_mailbox() -> None:
    h = Harness()
    a = h.sched.submit(c.Status("A", ("MESSAGES",)))
    b = h.sched.submit(c.Status("B", ("MESSAGES",)))
    ls = h.sched.submit(c.List("", ("%",), return_status=("MESSAGES",)))
    h.write()
    assert h.sched.in_flight == (a, b, ls)
    outs = h.server(
        b"* STATUS B (MESSAGES 2)\r\n* STATUS A (MESSAGES 1)\r\n"
        b'* LIST () "/" C\r\n* STATUS C (MESSAGES 3)\r\n'
    )
    got = [(cid, r.mailbox) for cid, r in delivered(outs) if isinstance(r, MailboxStatusResponse)]
    assert got == [(b, "B"), (ls, "B"), (a, "A"), (ls, "A"), (ls, "C")]


def test_status_nobody_asked_for_is_an_event() -> None:
    h = Harness()
    h.sched.submit(c.Status("A", ("MESSAGES",)))
    h.write()
    outs = h.server(b"* STATUS Z (MESSAGES 2)\r\n")
    assert delivered(outs) == []
    assert len(unsolicited(outs)) == 1


def test_select_without_closed_stops_collecting_at_its_ok() -> None:
    # The server advertises CONDSTORE but never sends [CLOSED]: the switch
    # happens at the tagged OK, and later data is not given to the ended SELECT.
    h = Harness(selected_state(BASE_CAPS | {"CONDSTORE"}))
    h.sched.submit(c.Select("Archive"))
    h.write()
    h.server(b"* 2 EXISTS\r\nA0001 OK\r\n")
    mbox = h.sched.state.selected
    assert mbox is not None
    assert mbox.name == "Archive"
    h.sched.submit(c.Noop())
    h.write()
    outs = h.server(b"* 3 EXISTS\r\nA0002 OK\r\n")
    assert delivered(outs) == []
    assert mbox.exists == 3
