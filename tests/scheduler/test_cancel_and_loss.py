"""Cancellation, connection loss and protocol violations."""

from __future__ import annotations

from pipeimap.errors import ConnectionLostError, PredecessorFailedError, UnexpectedResponseError
from pipeimap.protocol import _commands as c
from pipeimap.protocol import _search as S
from pipeimap.protocol._responses import TaggedResponse
from pipeimap.protocol._seqset import LAST_SEARCH_UID, UIDSet
from pipeimap.protocol._types import UID, Flag
from pipeimap.scheduler import Completed, Failed, Fatal

from ._harness import Harness, selected_state


def test_cancel_queued_is_never_written() -> None:
    h = Harness()
    a = h.sched.submit(c.Fetch(UIDSet(1), (c.FetchItem("FLAGS"),)))
    b = h.sched.submit(c.Store(UIDSet(1), c.StoreMode.ADD, (Flag.SEEN,)))
    assert h.write() == b"A0001 UID FETCH 1 (FLAGS)\r\n"
    assert h.sched.cancel(b) == []
    assert h.server(b"A0001 OK\r\n") == [Completed(a, _ok("A0001"), (UID(1),))]
    assert h.write() is None


def _ok(tag: str, text: str = "") -> TaggedResponse:
    return TaggedResponse(tag, "OK", None, text)


def test_cancel_in_flight_drains_and_discards() -> None:
    h = Harness()
    a = h.sched.submit(c.Fetch(UIDSet(1), (c.FetchItem("FLAGS"),)))
    h.write()
    assert h.sched.cancel(a) == []
    # Its data still updates the mailbox state, but reaches no one.
    assert h.server(b"* 1 FETCH (UID 1 FLAGS (\\Seen))\r\nA0001 OK\r\n") == []
    mbox = h.sched.state.selected
    assert mbox is not None
    assert mbox.uid_for(1) == 1
    assert h.sched.in_flight == ()


def test_cancel_after_sync_literal_announced_still_sends_it() -> None:
    h = Harness()
    a = h.sched.submit(c.Append("INBOX", (c.AppendMessage(b"hello"),)))
    assert h.write() == b"A0001 APPEND INBOX {5}\r\n"
    h.sched.cancel(a)
    h.server(b"+ ok\r\n")
    assert h.write() == b"hello\r\n"
    assert h.server(b"A0001 OK\r\n") == []


def test_cancelled_save_fails_its_gated_consumers() -> None:
    h = Harness()
    save, consumer = h.sched.submit_batch(
        [
            c.Search(S.from_("x"), uid=True, return_options=("SAVE",)),
            c.Store(LAST_SEARCH_UID, c.StoreMode.ADD, (Flag.DELETED,)),
        ]
    )
    outs = h.sched.cancel(save)
    assert len(outs) == 1
    assert isinstance(outs[0], Failed)
    assert outs[0].cid == consumer
    assert isinstance(outs[0].error, PredecessorFailedError)
    assert h.write() is None


def test_cancelled_queued_select_fails_its_epoch() -> None:
    h = Harness()
    blocker = h.sched.submit(c.Fetch(UIDSet(1), (c.FetchItem("FLAGS"),)))
    sel = h.sched.submit(c.Select("Archive"))
    later = h.sched.submit(c.Fetch(UIDSet(2), (c.FetchItem("FLAGS"),)))
    h.write()
    outs = h.sched.cancel(sel)
    assert [o.cid for o in outs if isinstance(o, Failed)] == [later]
    assert blocker in h.sched.in_flight


def test_connection_lost_fails_in_flight_and_queued() -> None:
    h = Harness()
    a = h.sched.submit(c.Fetch(UIDSet(1), (c.FetchItem("FLAGS"),)))
    b = h.sched.submit(c.Idle())
    h.write()
    outs = h.sched.connection_lost(OSError("reset"))
    assert [o.cid for o in outs if isinstance(o, Failed)] == [a, b]
    assert all(isinstance(o, Failed) and isinstance(o.error, ConnectionLostError) for o in outs)
    assert h.sched.next_write() is None
    assert h.sched.connection_lost() == []


def test_unknown_tag_is_fatal() -> None:
    h = Harness()
    a = h.sched.submit(c.Noop())
    h.write()
    outs = h.server(b"Z9 OK what\r\n")
    assert isinstance(outs[0], Fatal)
    assert isinstance(outs[0].error, UnexpectedResponseError)
    assert isinstance(outs[1], Failed)
    assert outs[1:] == [Failed(a, outs[1].error)]


def test_stray_continuation_is_fatal() -> None:
    h = Harness()
    h.sched.submit(c.Noop())
    h.write()
    outs = h.server(b"+ huh\r\n")
    assert isinstance(outs[0], Fatal)


def test_bye_during_logout_is_expected() -> None:
    h = Harness(selected_state(mailbox=None))
    lo = h.sched.submit(c.Logout())
    assert h.write() == b"A0001 LOGOUT\r\n"
    outs = h.server(b"* BYE bye\r\nA0001 OK\r\n")
    assert not any(isinstance(o, Fatal) for o in outs)
    assert isinstance(outs[-1], Completed)
    assert outs[-1].cid == lo
