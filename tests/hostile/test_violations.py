"""Hostile servers that break the protocol with well-formed responses: a tagged
response for a tag never sent, a continuation request nobody asked for, an
EXPUNGE during a sequence-number FETCH, and a BYE in the middle of a response."""

from __future__ import annotations

import pytest

from pipeimap import ConnectionLostError, ResponseParseError, UnexpectedResponseError
from pipeimap.protocol import SeqSet, UIDSet
from pipeimap.testing.scripted import close, expect, send

from ._harness import BYSTANDERS, Call, assert_all_lost, run_case

pytestmark = pytest.mark.anyio

FLAGS: dict[str, Call] = {"fetch": lambda c: c.fetch_all(UIDSet(10, 11), ["FLAGS"])}
BODY: dict[str, Call] = {"fetch": lambda c: c.fetch_all(UIDSet(10, 11), ["BODY.PEEK[]"])}


@pytest.mark.parametrize(
    "answer",
    [
        b"X999 OK what command?\r\n",  # a tag the client never used
        b"A0001 OK again\r\n",  # the tag of a command that already completed
        b"* 1 FETCH (UID 10 FLAGS (\\Seen))\r\nA0099 NO not yours\r\n",
    ],
)
async def test_tagged_response_for_a_tag_never_sent(answer: bytes) -> None:
    # The server's idea of which commands run is not ours: with a pipeline we
    # can no longer tell which answer belongs to whom, so the connection is
    # closed and every command -- in flight or queued -- fails.
    case = await run_case([send(answer)], FLAGS | BYSTANDERS)
    assert_all_lost(case, UnexpectedResponseError)
    assert "unknown tag" in str(case.error("fetch"))


@pytest.mark.parametrize(
    "answer",
    [
        b"+ go ahead\r\n",
        b"+ \r\n",
        b"+ Zm9vYmFy\r\n",  # base64, like a SASL challenge
    ],
)
async def test_continuation_nobody_asked_for(answer: bytes) -> None:
    # No command in flight awaits a "+" (no synchronizing literal, no
    # AUTHENTICATE, no IDLE -- Gmail's "+ Still here" during IDLE is tolerated,
    # server-quirks.md, and tested in tests/client).
    case = await run_case([send(answer)], FLAGS | BYSTANDERS)
    assert_all_lost(case, UnexpectedResponseError)
    assert "continuation" in str(case.error("fetch"))


# --- EXPUNGE during a sequence-number FETCH ------------------------------------------------

LEARN_UIDS = (
    b"* 1 FETCH (UID 10 FLAGS ())\r\n* 2 FETCH (UID 11 FLAGS ())\r\n"
    b"* 3 FETCH (UID 12 FLAGS ())\r\nA0003 OK done\r\n"
)


@pytest.mark.parametrize(
    "after",
    [
        # Without UIDs, "2" is ambiguous: the old message 2 (UID 11) or the new
        # one (UID 12, renumbered by the EXPUNGE)?
        b"* 2 FETCH (FLAGS (\\Flagged))\r\n",
        # With a UID, still not the message the caller asked for by number.
        b"* 2 FETCH (UID 12 FLAGS (\\Flagged))\r\n",
        # Stale numbering (the server ignores its own EXPUNGE).
        b"* 3 FETCH (UID 12 FLAGS (\\Flagged))\r\n",
    ],
)
async def test_expunge_during_a_sequence_number_fetch(after: bytes) -> None:
    calls: dict[str, Call] = {
        "learn": lambda c: c.fetch_all(SeqSet(range(1, 4)), ["FLAGS"]),  # UIDs 10, 11, 12
        "fetch": lambda c: c.fetch_all(SeqSet(range(2, 4)), ["FLAGS"]),  # FETCH 2:3
        "search": lambda c: c.search(uid=False),  # SEARCH (ALL), in flight with it
        "uid_fetch": lambda c: c.uid_fetch(UIDSet(12), ["FLAGS"]),  # queued: depth 3
    }
    hostile = [  # the first three commands were pipelined: read before this
        # One write: the UID FETCH (which may run beside sequence-number
        # commands, being expunge-capable) is written only after all of it.
        send(
            LEARN_UIDS + b"* 2 FETCH (UID 11 FLAGS (\\Seen))\r\n"
            b"* 1 EXPUNGE\r\n" + after + b"A0004 OK done\r\n"
            b'* ESEARCH (TAG "A0005") ALL 1:2\r\nA0005 OK done\r\n'
        ),
        expect(b"A0006 UID FETCH 12 (FLAGS UID)"),
        send(b"* 2 FETCH (UID 12 FLAGS (\\Flagged))\r\nA0006 OK done\r\n"),
        expect(b"A0007 LOGOUT"),
        send(b"* BYE bye\r\nA0007 OK done\r\n"),
        close(),
    ]
    case = await run_case(hostile, calls, in_flight=3)
    assert [cmd.raw for cmd in case.server.conn.commands[2:5]] == [
        b"A0003 FETCH 1:3 (FLAGS UID)\r\n",
        b"A0004 FETCH 2:3 (FLAGS UID)\r\n",
        b"A0005 SEARCH RETURN (ALL) ALL\r\n",
    ]
    assert case.results["learn"].error is None
    # The commands whose answers the EXPUNGE made ambiguous fail, typed, and
    # hand out nothing they received after it.
    for name in ("fetch", "search"):
        err = case.error(name)
        assert type(err) is UnexpectedResponseError, (name, err)
        assert "EXPUNGE" in str(err)
    # The rest of the session is exact: the expunge was applied in wire order,
    # and the UID FETCH written afterwards gets the right message.
    got = case.results["uid_fetch"]
    assert got.error is None, got.error
    assert [(m.uid, m.seq, m.flags) for m in got.value] == [(12, 2, ("\\Flagged",))]
    assert not case.closed  # closed by the LOGOUT at the end, not by the expunge


async def test_expunge_during_a_uid_fetch_is_legal() -> None:
    # The control: RFC 9051 allows EXPUNGE during UID FETCH; it gets its data.
    calls: dict[str, Call] = {"fetch": lambda c: c.uid_fetch(UIDSet(11, 12), ["FLAGS"])}
    hostile = [
        send(
            b"* 2 FETCH (UID 11 FLAGS (\\Seen))\r\n* 1 EXPUNGE\r\n"
            b"* 2 FETCH (UID 12 FLAGS ())\r\nA0003 OK done\r\n"
        ),
        expect(b"A0004 LOGOUT"),
        send(b"* BYE bye\r\nA0004 OK done\r\n"),
        close(),
    ]
    case = await run_case(hostile, calls, in_flight=1)
    got = case.results["fetch"]
    assert got.error is None, got.error
    assert [(m.uid, m.flags) for m in got.value] == [(11, ("\\Seen",)), (12, ())]


# --- BYE in the middle of a response -------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "cause"),
    [
        # Between the FETCH lines of one command: a clean BYE.
        (b"* 1 FETCH (UID 10 FLAGS (\\Seen))\r\n* BYE shutting down\r\n", None),
        # Inside a literal: the BYE is literal data, then the server hangs up.
        (
            b"* 1 FETCH (UID 10 BODY[] {100}\r\nFrom: a\r\n* BYE shutting down\r\n",
            ResponseParseError,
        ),
        # Cutting a line short.
        (b"* 1 FETCH (UID 10 FLAGS (\\Seen* BYE shutting down\r\n", ResponseParseError),
        # Between a literal and the rest of its line.
        (b"* 1 FETCH (UID 10 BODY[] {3}\r\nabc* BYE shutting down\r\n", ResponseParseError),
    ],
)
async def test_bye_in_the_middle_of_a_response(
    answer: bytes, cause: type[BaseException] | None
) -> None:
    case = await run_case([send(answer), close()], BODY | BYSTANDERS)
    assert case.closed
    for name in case.results:
        err = case.error(name)
        assert type(err) is ConnectionLostError, (name, err)
        # The BYE is named as the reason, not buried in a parse error's excerpt.
        assert str(err).startswith("the server closed the connection: BYE shutting down"), err
        if cause is not None:
            assert type(err.__cause__) is cause, (name, err.__cause__)
