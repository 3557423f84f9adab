"""Scenarios 1-14 of pipelining.md at the scheduler level: exact bytes per write
batch and exactly what each command receives."""

from __future__ import annotations

import pytest

from pipeimap.errors import (
    CommandBadError,
    ConflictError,
    ConnectionLostError,
    PredecessorFailedError,
)
from pipeimap.protocol import _commands as c
from pipeimap.protocol import _search as S
from pipeimap.protocol._responses import (
    ContinuationRequest,
    ESearchResponse,
    FetchItems,
    SearchResponse,
    TaggedResponse,
)
from pipeimap.protocol._seqset import LAST_SEARCH_UID, SeqSet, UIDSet
from pipeimap.protocol._types import UID, Flag, SeqNum
from pipeimap.scheduler import (
    ByeReceived,
    Completed,
    ContinuationRequested,
    Delivered,
    Failed,
    Fatal,
    LiteralChunk,
    LiteralEnded,
    LiteralStarted,
    MessageCountChanged,
    MessageDelivered,
    Unsolicited,
)

from ._harness import BASE_CAPS, Harness, selected_state

F = c.FetchItem


def ok(tag: str, text: str = "done") -> TaggedResponse:
    return TaggedResponse(tag, "OK", None, text)


def fetch(target: SeqSet | UIDSet, *items: str | c.FetchItem) -> c.Fetch:
    return c.Fetch(target, tuple(F(i) if isinstance(i, str) else i for i in items))


def store(target: c.MessageSet, *flags: Flag, silent: bool = False) -> c.Store:
    return c.Store(target, c.StoreMode.ADD, flags, silent=silent)


def test_1_uid_fetch_then_seq_fetch_waits() -> None:
    h = Harness()
    a = h.sched.submit(fetch(UIDSet.all(), "FLAGS"))
    b = h.sched.submit(fetch(SeqSet(3), "ENVELOPE"))
    assert h.write() == b"A0001 UID FETCH 1:* (FLAGS)\r\n"
    assert h.write() is None
    outs = h.server(b"* 3 FETCH (UID 7 FLAGS (\\Seen))\r\nA0001 OK done\r\n")
    items = FetchItems({"UID": UID(7), "FLAGS": (Flag.SEEN,)})
    assert outs == [MessageDelivered(a, SeqNum(3), UID(7), items), Completed(a, ok("A0001"))]
    assert h.write() == b"A0002 FETCH 3 (ENVELOPE UID)\r\n"
    assert h.sched.in_flight == (b,)


def test_2_independent_seq_commands_pipeline_until_noop() -> None:
    h = Harness()
    cids = [
        h.sched.submit(fetch(SeqSet(range(1, 6)), "ENVELOPE")),
        h.sched.submit(store(SeqSet(7), Flag.FLAGGED, silent=True)),
        h.sched.submit(c.Search(S.UNDELETED)),
        h.sched.submit(c.Noop()),
    ]
    last = h.sched.submit(fetch(SeqSet(9), "FLAGS"))
    assert h.write() == (
        b"A0001 FETCH 1:5 (ENVELOPE UID)\r\n"
        b"A0002 STORE 7 +FLAGS.SILENT (\\Flagged)\r\n"
        b"A0003 SEARCH UNDELETED\r\n"
        b"A0004 NOOP\r\n"
    )
    assert h.write() is None
    outs = h.server(b"* SEARCH 1 2 3\r\nA0004 OK noop\r\n")
    assert outs == [
        Delivered(cids[2], SearchResponse((1, 2, 3))),
        Completed(cids[3], ok("A0004", "noop")),
    ]
    assert h.write() == b"A0005 FETCH 9 (FLAGS UID)\r\n"
    assert h.sched.tag(last) == "A0005"


def test_3_seq_copies_wait_uid_copies_pipeline() -> None:
    h = Harness()
    h.sched.submit(c.Copy(SeqSet(range(1, 4)), "A"))
    h.sched.submit(c.Copy(SeqSet(4), "B"))
    assert h.write() == b"A0001 COPY 1:3 A\r\n"
    assert h.write() is None
    h.server(b"A0001 OK copied\r\n")
    assert h.write() == b"A0002 COPY 4 B\r\n"

    h = Harness()
    h.sched.submit(c.Copy(UIDSet(range(1, 4)), "A"))
    h.sched.submit(c.Copy(UIDSet(4), "B"))
    assert h.write() == b"A0001 UID COPY 1:3 A\r\nA0002 UID COPY 4 B\r\n"


def test_4_body_fetch_sets_seen_on_read_write_mailbox() -> None:
    h = Harness()
    h.sched.submit(fetch(SeqSet(4), F.body("", peek=False)))
    h.sched.submit(fetch(SeqSet(4), "FLAGS"))
    assert h.write() == b"A0001 FETCH 4 (BODY[] UID)\r\n"
    assert h.write() is None

    h = Harness()
    h.sched.submit(fetch(SeqSet(4), F.body("")))
    h.sched.submit(fetch(SeqSet(4), "FLAGS"))
    assert h.write() == b"A0001 FETCH 4 (BODY.PEEK[] UID)\r\nA0002 FETCH 4 (FLAGS UID)\r\n"

    h = Harness(selected_state(readonly=True))
    h.sched.submit(fetch(SeqSet(4), F.body("", peek=False)))
    h.sched.submit(fetch(SeqSet(4), "FLAGS"))
    assert h.write() == b"A0001 FETCH 4 (BODY[] UID)\r\nA0002 FETCH 4 (FLAGS UID)\r\n"

    h = Harness()
    h.sched.submit(fetch(UIDSet(10), F.body("", peek=False)))
    h.sched.submit(c.Search(S.UNSEEN, uid=True))
    assert h.write() == b"A0001 UID FETCH 10 (BODY[])\r\n"
    assert h.write() is None


def test_5_uid_store_and_fetch_of_overlapping_uids() -> None:
    h = Harness()
    h.sched.submit(store(UIDSet(range(10, 21)), Flag.SEEN))
    h.sched.submit(fetch(UIDSet(15), "FLAGS"))
    h.sched.submit(fetch(UIDSet(30), "FLAGS"))
    assert h.write() == b"A0001 UID STORE 10:20 +FLAGS (\\Seen)\r\nA0002 UID FETCH 30 (FLAGS)\r\n"
    assert h.write() is None
    h.server(b"A0001 OK stored\r\n")
    assert h.write() == b"A0003 UID FETCH 15 (FLAGS)\r\n"

    h = Harness()
    h.sched.submit(store(UIDSet(5), Flag.SEEN, silent=True))
    h.sched.submit(store(UIDSet(5), Flag.FLAGGED, silent=True))
    assert h.write() == (
        b"A0001 UID STORE 5 +FLAGS.SILENT (\\Seen)\r\nA0002 UID STORE 5 +FLAGS.SILENT (\\Flagged)\r\n"
    )


@pytest.mark.parametrize("stream", [False, True])
def test_6_two_sections_of_one_message(stream: bool) -> None:
    h = Harness(stream_threshold=2 if stream else 1 << 20)
    a = h.sched.submit(fetch(UIDSet(5), F.body("1")))
    b = h.sched.submit(fetch(UIDSet(5), F.body("2")))
    assert h.write() == b"A0001 UID FETCH 5 (BODY.PEEK[1])\r\nA0002 UID FETCH 5 (BODY.PEEK[2])\r\n"
    outs = h.server(
        b"* 1 FETCH (UID 5 BODY[2] {3}\r\nbbb)\r\n"
        b"* 1 FETCH (UID 5 BODY[1] {3}\r\naaa)\r\n"
        b"A0002 OK second\r\nA0001 OK first\r\n"
    )
    if stream:
        from pipeimap.protocol._responses import StreamedLiteral

        one: object = StreamedLiteral(3)
        two: object = StreamedLiteral(3)
        assert outs[:3] == [
            LiteralStarted(b, UID(5), SeqNum(1), "BODY[2]", 3),
            LiteralChunk(b, b"bbb"),
            LiteralEnded(b),
        ]
        outs = [o for o in outs if not isinstance(o, (LiteralStarted, LiteralChunk, LiteralEnded))]
    else:
        one, two = b"aaa", b"bbb"
    assert outs == [
        MessageDelivered(b, SeqNum(1), UID(5), FetchItems({"UID": UID(5), "BODY[2]": two})),
        MessageDelivered(a, SeqNum(1), UID(5), FetchItems({"UID": UID(5), "BODY[1]": one})),
        Completed(b, ok("A0002", "second")),
        Completed(a, ok("A0001", "first")),
    ]


def test_7_legacy_searches_wait_esearch_pipelines() -> None:
    h = Harness()
    h.sched.submit(c.Search(S.FLAGGED))
    h.sched.submit(c.Search(S.DRAFT))
    assert h.write() == b"A0001 SEARCH FLAGGED\r\n"
    assert h.write() is None

    h = Harness()
    a = h.sched.submit(c.Search(S.FLAGGED, return_options=()))
    b = h.sched.submit(c.Search(S.DRAFT, return_options=()))
    assert h.write() == b"A0001 SEARCH RETURN () FLAGGED\r\nA0002 SEARCH RETURN () DRAFT\r\n"
    outs = h.server(b'* ESEARCH (TAG "A0002") ALL 4\r\n* ESEARCH (TAG "A0001") ALL 1:2\r\n')
    assert [(o.cid, type(o.response)) for o in outs if isinstance(o, Delivered)] == [
        (b, ESearchResponse),
        (a, ESearchResponse),
    ]


def test_8_searchres_consumers_wait_for_save() -> None:
    batch = [
        c.Search(S.from_("boss"), uid=True, return_options=("SAVE",)),
        store(LAST_SEARCH_UID, Flag.DELETED),
        c.UidExpunge(LAST_SEARCH_UID),
    ]
    h = Harness()
    save, st, ex = h.sched.submit_batch(batch)
    assert h.write() == b"A0001 UID SEARCH RETURN (SAVE) FROM boss\r\n"
    assert h.write() is None
    assert h.server(b"A0001 OK saved\r\n") == [Completed(save, ok("A0001", "saved"))]
    assert h.write() == b"A0002 UID STORE $ +FLAGS (\\Deleted)\r\nA0003 UID EXPUNGE $\r\n"

    h = Harness()
    save, st, ex = h.sched.submit_batch(batch)
    h.write()
    outs = h.server(b"A0001 BAD no SEARCHRES\r\n")
    assert [type(o) for o in outs] == [Failed, Failed, Failed]
    assert isinstance(outs[0], Failed)
    assert isinstance(outs[0].error, CommandBadError)
    assert [o.cid for o in outs if isinstance(o, Failed)] == [save, st, ex]
    assert all(
        isinstance(o.error, PredecessorFailedError) for o in outs[1:] if isinstance(o, Failed)
    )
    assert h.write() is None
    assert h.sched.queued == ()


SELECT_INBOX = (
    b"* 3 EXISTS\r\n* FLAGS (\\Seen \\Deleted)\r\n* OK [UIDVALIDITY 43] ok\r\n"
    b"* OK [UIDNEXT 9] ok\r\nA0001 OK [READ-WRITE] selected\r\n"
)


def test_9_select_uid_fetch_uid_store() -> None:
    h = Harness(selected_state(mailbox=None))
    sel = h.sched.submit(c.Select("INBOX"))
    uf = h.sched.submit(fetch(UIDSet.all(), "FLAGS"))
    us = h.sched.submit(store(UIDSet(7), Flag.DELETED))
    assert h.write() == b"A0001 SELECT INBOX\r\nA0002 UID FETCH 1:* (FLAGS)\r\n"
    assert h.write() is None
    outs = h.server(SELECT_INBOX)
    assert [type(o) for o in outs] == [Delivered] * 4 + [Completed]
    assert {o.cid for o in outs if isinstance(o, (Delivered, Completed))} == {sel}
    mbox = h.sched.state.selected
    assert mbox is not None
    assert mbox.uidvalidity == 43
    assert mbox.exists == 3
    assert h.write() is None  # R4: the UID FETCH reads the flags the STORE writes
    h.server(b"* 3 FETCH (UID 7 FLAGS ())\r\nA0002 OK fetched\r\n")
    assert h.write() == b"A0003 UID STORE 7 +FLAGS (\\Deleted)\r\n"
    assert h.sched.in_flight == (us,)
    assert uf not in h.sched.in_flight


def test_9_batch_without_flag_read_and_uidvalidity_check() -> None:
    h = Harness(selected_state(mailbox=None))
    cmds = [c.Select("INBOX"), fetch(UIDSet.all(), "ENVELOPE"), store(UIDSet(7), Flag.DELETED)]
    _sel, _uf, _us = h.sched.submit_batch(cmds)
    assert h.write() == b"A0001 SELECT INBOX\r\nA0002 UID FETCH 1:* (ENVELOPE)\r\n"
    h.server(SELECT_INBOX)
    assert h.write() == b"A0003 UID STORE 7 +FLAGS (\\Deleted)\r\n"

    h = Harness(selected_state(mailbox=None))
    h.sched.submit(c.Select("INBOX"))
    bad = h.sched.submit(store(UIDSet(7), Flag.DELETED), expect_uidvalidity=42)
    h.write()
    outs = h.server(SELECT_INBOX)
    failed = [o for o in outs if isinstance(o, Failed)]
    assert [f.cid for f in failed] == [bad]
    assert isinstance(failed[0].error, PredecessorFailedError)
    assert h.write() is None


def test_9_batch_with_flag_read_is_rejected() -> None:
    h = Harness(selected_state(mailbox=None))
    cmds = [c.Select("INBOX"), fetch(UIDSet.all(), "FLAGS"), store(UIDSet(7), Flag.DELETED)]
    with pytest.raises(ConflictError) as info:
        h.sched.submit_batch(cmds)
    assert info.value.rule == "R4"
    assert h.write() is None


def append(size: int) -> c.Append:
    return c.Append("INBOX", (c.AppendMessage(b"x" * size),))


def test_10_sync_literal_is_a_stop_point() -> None:
    h = Harness()
    a = h.sched.submit(append(5))
    n = h.sched.submit(c.Noop())
    assert h.write() == b"A0001 APPEND INBOX {5}\r\n"
    assert h.write() is None
    assert h.server(b"+ go ahead\r\n") == []
    assert h.write() == b"xxxxx\r\nA0002 NOOP\r\n"
    outs = h.server(b"A0002 OK\r\nA0001 OK [APPENDUID 1 9] appended\r\n")
    assert [(type(o), o.cid) for o in outs if isinstance(o, (Completed, Failed))] == [
        (Completed, n),
        (Completed, a),
    ]

    h = Harness()
    a = h.sched.submit(append(5))
    h.sched.submit(c.Noop())
    h.write()
    outs = h.server(b"A0001 BAD too big\r\n")
    assert len(outs) == 1
    assert isinstance(outs[0], Failed)
    assert isinstance(outs[0].error, CommandBadError)
    assert outs[0].cid == a
    assert h.write() == b"A0002 NOOP\r\n"


def test_11_literal_minus() -> None:
    h = Harness(selected_state(BASE_CAPS | {"LITERAL-"}))
    h.sched.submit(append(4096))
    h.sched.submit(c.Noop())
    data = h.write()
    assert data == b"A0001 APPEND INBOX {4096+}\r\n" + b"x" * 4096 + b"\r\nA0002 NOOP\r\n"

    h = Harness(selected_state(BASE_CAPS | {"LITERAL-"}))
    h.sched.submit(append(4097))
    h.sched.submit(c.Noop())
    assert h.write() == b"A0001 APPEND INBOX {4097}\r\n"
    assert h.write() is None


def test_12_idle_waits_for_drain_and_leaves_by_itself() -> None:
    h = Harness()
    uf = h.sched.submit(fetch(UIDSet(1), "FLAGS"))
    idle = h.sched.submit(c.Idle())
    assert h.write() == b"A0001 UID FETCH 1 (FLAGS)\r\n"
    assert h.write() is None
    h.server(b"A0001 OK\r\n")
    assert h.write() == b"A0002 IDLE\r\n"
    outs = h.server(b"+ idling\r\n* 21 EXISTS\r\n")
    assert outs == [
        ContinuationRequested(idle, ContinuationRequest("idling", None, None)),
        Unsolicited(MessageCountChanged(21)),
    ]
    assert h.write() is None
    n = h.sched.submit(c.Noop())  # IDLE is left by itself
    assert h.write() == b"DONE\r\n"
    assert h.write() is None
    outs = h.server(b"A0002 OK idle done\r\n")
    assert outs == [Completed(idle, ok("A0002", "idle done"))]
    assert h.write() == b"A0003 NOOP\r\n"
    assert h.sched.in_flight == (n,)
    assert uf not in h.sched.in_flight


def test_12_cancelling_idle_before_plus_sends_done_after_plus() -> None:
    h = Harness()
    idle = h.sched.submit(c.Idle())
    assert h.write() == b"A0001 IDLE\r\n"
    assert h.sched.cancel(idle) == []
    assert h.write() is None
    assert h.server(b"+ idling\r\n") == []
    assert h.write() == b"DONE\r\n"
    assert h.server(b"A0001 OK\r\n") == []


def test_13_unsolicited_bye_fails_everything() -> None:
    h = Harness()
    a = h.sched.submit(fetch(UIDSet(1), "FLAGS"))
    b = h.sched.submit(fetch(SeqSet(1), "FLAGS"))
    h.write()
    outs = h.server(b"* BYE shutting down\r\n")
    assert outs[0] == Unsolicited(ByeReceived("shutting down"))
    assert isinstance(outs[1], Fatal)
    failed = outs[2:]
    assert [(type(o), o.cid) for o in failed if isinstance(o, Failed)] == [(Failed, a), (Failed, b)]
    assert all(isinstance(o, Failed) and isinstance(o.error, ConnectionLostError) for o in failed)
    assert h.write() is None
    with pytest.raises(ConnectionLostError):
        h.sched.submit(c.Noop())


def test_14_conflicting_batch_is_rejected_before_writing() -> None:
    h = Harness()
    with pytest.raises(ConflictError) as info:
        h.sched.submit_batch([fetch(UIDSet(5), "FLAGS"), store(UIDSet(5), Flag.SEEN)])
    err = info.value
    assert (err.first, err.second, err.rule) == (
        "UID FETCH 5 (FLAGS)",
        "UID STORE 5 +FLAGS (\\Seen)",
        "R4",
    )
    assert "UID FETCH 5 (FLAGS)" in str(err)
    assert "R4" in str(err)
    assert h.write() is None
    assert h.sched.queued == ()
