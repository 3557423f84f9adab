"""R6 (capability-dependent encoding) and APPEND/COPY into the selected
mailbox, which moves ``*`` (pipelining.md, "Key facts")."""

from __future__ import annotations

from pipeimap.protocol import _commands as c
from pipeimap.protocol import _search as S
from pipeimap.protocol._responses import FetchItems
from pipeimap.protocol._seqset import STAR, UIDSet
from pipeimap.protocol._types import UID, Flag, Secret, SeqNum
from pipeimap.scheduler import (
    AuthState,
    Completed,
    MailboxState,
    MessageDelivered,
    SessionState,
)

from ._harness import BASE_CAPS, Harness, selected_state

FLAGS = (c.FetchItem("FLAGS"),)


def login() -> c.Login:
    return c.Login("alice", Secret("secret"))


def append(mailbox: str = "INBOX", data: bytes = b"hello") -> c.Append:
    return c.Append(mailbox, (c.AppendMessage(data),))


# --- R6 -----------------------------------------------------------------------------------


def test_literal_plus_append_waits_for_login_and_is_encoded_after_it() -> None:
    h = Harness(SessionState(capabilities=frozenset({"IMAP4REV1", "LITERAL+"})))
    lg = h.sched.submit(login())
    ap = h.sched.submit(append("Sent"))
    sel = h.sched.submit(c.Select("INBOX"))
    # The APPEND's literal depends on LITERAL+, which LOGIN may change: it
    # waits.  The SELECT does not depend on capabilities and has no edge to it.
    assert h.write() == b"A0001 LOGIN alice secret\r\nA0002 SELECT INBOX\r\n"
    assert h.write() is None
    h.server(b"A0001 OK [CAPABILITY IMAP4rev1] no more LITERAL+\r\n")
    assert h.sched.state.auth is AuthState.AUTHENTICATED
    # Encoded with the capabilities of the moment it is written: synchronizing.
    assert h.write() == b"A0003 APPEND Sent {5}\r\n"
    assert h.sched.in_flight == (sel, ap)
    h.server(b"+ go\r\n")
    assert h.write() == b"hello\r\n"
    assert lg not in h.sched.in_flight


def test_commands_that_do_not_depend_on_capabilities_follow_login() -> None:
    h = Harness(SessionState(capabilities=frozenset({"IMAP4REV1", "LITERAL+"})))
    h.sched.submit(login())
    h.sched.submit(c.Select("INBOX"))
    h.sched.submit(c.Fetch(UIDSet.all(), FLAGS))
    assert h.write() == (
        b"A0001 LOGIN alice secret\r\nA0002 SELECT INBOX\r\nA0003 UID FETCH 1:* (FLAGS)\r\n"
    )


def test_non_ascii_name_waits_for_an_enable_in_flight() -> None:
    st = selected_state(BASE_CAPS | {"ENABLE", "UTF8=ACCEPT"}, mailbox=None)
    h = Harness(st)
    h.sched.submit(c.Enable(("UTF8=ACCEPT",)))
    h.sched.submit(c.Status("Entwürfe", ("MESSAGES",)))  # UTF-7 now, UTF-8 after
    h.sched.submit(c.Status("Archive", ("MESSAGES",)))
    assert h.write() == b"A0001 ENABLE UTF8=ACCEPT\r\nA0002 STATUS Archive (MESSAGES)\r\n"
    assert h.write() is None
    h.server(b"* ENABLED UTF8=ACCEPT\r\nA0001 OK\r\n")
    assert h.write() == 'A0003 STATUS "Entwürfe" (MESSAGES)\r\n'.encode()


def test_nothing_overtakes_a_blocked_login() -> None:
    h = Harness(SessionState(capabilities=frozenset({"IMAP4REV1"})))
    h.sched.submit(login())
    h.sched.submit(c.Login("bob", Secret("pw")))  # R4 on the session: waits
    h.sched.submit(c.Select("INBOX"))  # meant for bob's session
    assert h.write() == b"A0001 LOGIN alice secret\r\n"
    assert h.write() is None
    h.server(b"A0001 OK\r\n")
    assert h.write() == b"A0002 LOGIN bob pw\r\nA0003 SELECT INBOX\r\n"


# --- APPEND / COPY into the selected mailbox -------------------------------------------------


def known_inbox(caps: frozenset[str] = BASE_CAPS, exists: int = 20) -> SessionState:
    st = selected_state(caps, exists=exists)
    mbox = st.selected
    assert mbox is not None
    for seq in range(1, exists + 1):
        mbox.on_fetch(seq, UID(seq), None)
    mbox.uidnext = exists + 1
    return st


def test_append_into_selected_waits_for_star_store() -> None:
    h = Harness(known_inbox())
    h.sched.submit(c.Store(UIDSet.all(), c.StoreMode.ADD, (Flag.DELETED,), silent=True))
    h.sched.submit(append())
    # Whether the new message gets \Deleted must not depend on the server's whim.
    assert h.write() == b"A0001 UID STORE 1:* +FLAGS.SILENT (\\Deleted)\r\n"
    assert h.write() is None
    h.server(b"A0001 OK\r\n")
    assert h.write() == b"A0002 APPEND INBOX {5}\r\n"


def test_append_into_selected_does_not_overtake_a_blocked_star_command() -> None:
    h = Harness(known_inbox())
    h.sched.submit(c.Fetch(UIDSet.all(), FLAGS))
    h.sched.submit(c.Store(UIDSet.all(), c.StoreMode.ADD, (Flag.DELETED,)))  # R4: waits
    h.sched.submit(append())
    assert h.write() == b"A0001 UID FETCH 1:* (FLAGS)\r\n"
    assert h.write() is None  # the APPEND may not pass the STORE 1:*
    h.server(b"A0001 OK\r\n")
    assert h.write() == b"A0002 UID STORE 1:* +FLAGS (\\Deleted)\r\n"


def test_append_into_selected_waits_for_search() -> None:
    h = Harness(known_inbox())
    h.sched.submit(c.Search(S.ALL, uid=True, return_options=()))
    h.sched.submit(append())
    assert h.write() == b"A0001 UID SEARCH RETURN () ALL\r\n"
    assert h.write() is None


def test_append_into_selected_pipelines_with_existing_uids() -> None:
    h = Harness(known_inbox(BASE_CAPS | {"LITERAL+"}))
    h.sched.submit(c.Fetch(UIDSet(5), (c.FetchItem("ENVELOPE"),)))
    h.sched.submit(append())
    h.sched.submit(c.Store(UIDSet(range(1, 21)), c.StoreMode.ADD, (Flag.SEEN,), silent=True))
    assert h.write() == (
        b"A0001 UID FETCH 5 (ENVELOPE)\r\nA0002 APPEND INBOX {5+}\r\nhello\r\n"
        b"A0003 UID STORE 1:20 +FLAGS.SILENT (\\Seen)\r\n"
    )


def test_append_without_known_uids_is_conservative() -> None:
    h = Harness(selected_state(BASE_CAPS | {"LITERAL+"}))  # UIDNEXT unknown
    h.sched.submit(c.Fetch(UIDSet(5), (c.FetchItem("ENVELOPE"),)))
    h.sched.submit(append())
    assert h.write() == b"A0001 UID FETCH 5 (ENVELOPE)\r\n"


def test_append_elsewhere_pipelines_with_star_commands() -> None:
    h = Harness(known_inbox(BASE_CAPS | {"LITERAL+"}))
    h.sched.submit(c.Store(UIDSet.all(), c.StoreMode.ADD, (Flag.DELETED,), silent=True))
    h.sched.submit(append("Sent"))
    assert h.write() == (
        b"A0001 UID STORE 1:* +FLAGS.SILENT (\\Deleted)\r\nA0002 APPEND Sent {5+}\r\nhello\r\n"
    )


def test_copy_into_selected_waits_for_star_fetch() -> None:
    h = Harness(known_inbox())
    h.sched.submit(c.Fetch(UIDSet.all(), FLAGS))
    h.sched.submit(c.Copy(UIDSet(3), "INBOX"))
    assert h.write() == b"A0001 UID FETCH 1:* (FLAGS)\r\n"
    assert h.write() is None


def test_star_fetch_after_append_gets_the_new_message() -> None:
    h = Harness(known_inbox(BASE_CAPS | {"LITERAL+"}))
    ap = h.sched.submit(append())
    uf = h.sched.submit(c.Fetch(UIDSet.span(19, STAR), FLAGS))
    assert h.write() == b"A0001 APPEND INBOX {5+}\r\nhello\r\n"
    outs = h.server(b"* 21 EXISTS\r\nA0001 OK [APPENDUID 1 21] done\r\n")
    assert [o.cid for o in outs if isinstance(o, Completed)] == [ap]
    assert h.write() == b"A0002 UID FETCH 19:* (FLAGS)\r\n"
    outs = h.server(
        b"* 19 FETCH (UID 19 FLAGS ())\r\n* 20 FETCH (UID 20 FLAGS ())\r\n"
        b"* 21 FETCH (UID 21 FLAGS (\\Recent))\r\nA0002 OK\r\n"
    )
    got = [(o.cid, o.seq, o.uid) for o in outs if isinstance(o, MessageDelivered)]
    assert got == [(uf, SeqNum(n), UID(n)) for n in (19, 20, 21)]
    mbox = h.sched.state.selected
    assert isinstance(mbox, MailboxState)
    assert mbox.exists == 21
    assert mbox.largest_uid == 21
    last = outs[-2]
    assert isinstance(last, MessageDelivered)
    assert last.items == FetchItems({"UID": UID(21), "FLAGS": ("\\Recent",)})
