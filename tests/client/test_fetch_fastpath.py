"""The bulk-fetch fast paths (issue 3, fetch within 1.3x of a raw client): each
shortcut must give exactly what the general path gives.

* the router's one-candidate FETCH path and the scheduler's direct dispatch
  of FETCH lines (same outcomes; extra items still become events; two
  commands in flight still share a line);
* ``Entry.contains`` from cached UID ranges (same answer as the UIDSet);
* outcome and result objects built without their dataclass ``__init__``
  (equal to the ones built normally);
* streamed literals joined once in ``FetchAssembler``;
* the client end to end over the scripted server, with reads cut at every
  awkward place (inside a literal announcement, inside a literal, right
  after it), held and streamed literals mixed: every body arrives whole.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeimap.client import Client, connect_transport
from pipeimap.client._connection import _Inbox
from pipeimap.client._ops import FetchAssembler, _fetched
from pipeimap.client._results import FetchedMessage
from pipeimap.client._transport import Transport
from pipeimap.protocol import _commands as c
from pipeimap.protocol._limits import ParserLimits
from pipeimap.protocol._responses import FetchItems, StreamedLiteral
from pipeimap.protocol._seqset import UIDSet
from pipeimap.protocol._types import UID, Flag, SeqNum
from pipeimap.scheduler import (
    CommandId,
    FlagsChanged,
    LiteralChunk,
    LiteralEnded,
    LiteralStarted,
    MessageDelivered,
    Unsolicited,
)
from pipeimap.scheduler._entry import Entry
from pipeimap.scheduler._router import _delivered
from pipeimap.testing.scripted import ScriptedServer, Step, close, expect, send

from ..scheduler._harness import Harness

CAPS = b"IMAP4rev1 LITERAL+ UIDPLUS"
TIMEOUT = 20


# --- scheduler: the fast routes give what the general route gives ------------------------


def test_bulk_fetch_lines_are_delivered_as_parsed() -> None:
    h = Harness()
    a = h.sched.submit(c.Fetch(UIDSet.span(1, 3), (c.FetchItem.body("", peek=True),)))
    assert h.write() == b"A0001 UID FETCH 1:3 (BODY.PEEK[])\r\n"
    outs = h.server(b"* 1 FETCH (UID 1 BODY[] {2}\r\nhi)\r\n* 2 FETCH (UID 2 BODY[] {0}\r\n)\r\n")
    assert outs == [
        MessageDelivered(a, SeqNum(1), UID(1), FetchItems({"UID": UID(1), "BODY[]": b"hi"})),
        MessageDelivered(a, SeqNum(2), UID(2), FetchItems({"UID": UID(2), "BODY[]": b""})),
    ]
    # a line outside the command's set is not its data
    outs = h.server(b"* 9 FETCH (UID 9 BODY[] {1}\r\nz)\r\n")
    assert not any(isinstance(o, MessageDelivered) for o in outs)


def test_an_extra_item_on_a_bulk_fetch_line_still_becomes_an_event() -> None:
    h = Harness()
    a = h.sched.submit(c.Fetch(UIDSet.span(1, 3), (c.FetchItem.body("", peek=True),)))
    h.write()
    outs = h.server(b"* 2 FETCH (UID 2 BODY[] {2}\r\nhi FLAGS (\\Seen))\r\n")
    assert outs == [
        MessageDelivered(a, SeqNum(2), UID(2), FetchItems({"UID": UID(2), "BODY[]": b"hi"})),
        Unsolicited(FlagsChanged(SeqNum(2), UID(2), (Flag.SEEN,))),
    ]


def test_a_line_missing_a_requested_item_waits_for_the_rest() -> None:
    h = Harness()
    items = (c.FetchItem("FLAGS"), c.FetchItem.body("", peek=True))
    a = h.sched.submit(c.Fetch(UIDSet.span(1, 3), items))
    h.write()
    assert h.server(b"* 3 FETCH (UID 3 FLAGS ())\r\n") == []
    outs = h.server(b"* 3 FETCH (UID 3 BODY[] {1}\r\nx)\r\n")
    assert outs == [
        MessageDelivered(
            a, SeqNum(3), UID(3), FetchItems({"UID": UID(3), "FLAGS": (), "BODY[]": b"x"})
        )
    ]


def test_two_fetches_in_flight_share_a_line() -> None:
    h = Harness()
    a = h.sched.submit(c.Fetch(UIDSet.span(1, 3), (c.FetchItem.body("", peek=True),)))
    b = h.sched.submit(c.Fetch(UIDSet.span(2, 5), (c.FetchItem("FLAGS"),)))
    assert h.write() == (b"A0001 UID FETCH 1:3 (BODY.PEEK[])\r\nA0002 UID FETCH 2:5 (FLAGS)\r\n")
    outs = h.server(b"* 2 FETCH (UID 2 BODY[] {1}\r\nq FLAGS ())\r\n")
    assert outs == [
        MessageDelivered(a, SeqNum(2), UID(2), FetchItems({"UID": UID(2), "BODY[]": b"q"})),
        MessageDelivered(b, SeqNum(2), UID(2), FetchItems({"UID": UID(2), "FLAGS": ()})),
    ]
    # a line only one of them wants goes to that one alone
    outs = h.server(b"* 4 FETCH (UID 4 FLAGS (\\Seen))\r\n")
    assert outs == [
        MessageDelivered(b, SeqNum(4), UID(4), FetchItems({"UID": UID(4), "FLAGS": (Flag.SEEN,)}))
    ]


def test_delivered_is_a_plain_message_delivered() -> None:
    items = FetchItems({"UID": UID(7), "BODY[]": b"x"})
    fast = _delivered(CommandId(3), SeqNum(2), UID(7), items)
    slow = MessageDelivered(CommandId(3), SeqNum(2), UID(7), items)
    assert type(fast) is MessageDelivered
    assert fast == slow
    assert repr(fast) == repr(slow)


# --- Entry.contains from cached ranges ---------------------------------------------------


uid_sets = st.lists(st.tuples(st.integers(1, 400), st.integers(0, 30)), min_size=1, max_size=8).map(
    lambda spans: UIDSet(*(range(lo, lo + n + 1) for lo, n in spans))
)


@given(uid_sets, st.lists(st.integers(1, 500), min_size=1, max_size=30))
@settings(max_examples=200, deadline=None)
def test_contains_from_cached_ranges_agrees_with_the_set(msgs: UIDSet, uids: list[int]) -> None:
    cmd = c.Fetch(msgs, (c.FetchItem("FLAGS"),))
    plain = Entry(CommandId(1), cmd, None, 1)  # type: ignore[arg-type]  # (no footprint needed)
    routed = Entry(CommandId(2), cmd, None, 2)  # type: ignore[arg-type]
    routed.setup_routing(condstore=False)
    assert routed.uid_ranges is not None
    for u in uids:
        assert routed.contains(0, UID(u), None) == (u in msgs) == plain.contains(0, UID(u), None)
    assert routed.contains(5, None, None) is False


# --- client-side pieces -----------------------------------------------------------------


def test_fetched_is_a_plain_fetched_message() -> None:
    items = FetchItems({"UID": UID(7), "BODY[]": b"x"})
    fast = _fetched(SeqNum(2), UID(7), items)
    slow = FetchedMessage(SeqNum(2), UID(7), items)
    assert type(fast) is FetchedMessage
    assert fast == slow
    assert repr(fast) == repr(slow)
    assert fast.body() == b"x"


def test_assembler_joins_streamed_chunks_once() -> None:
    asm = FetchAssembler()
    cid = CommandId(1)
    asm.feed(LiteralStarted(cid, UID(4), SeqNum(1), "BODY[]", 9))
    for piece in (b"abc", b"def", b"ghi"):
        asm.feed(LiteralChunk(cid, piece))
    asm.feed(LiteralEnded(cid))
    single = b"only one chunk"
    asm.feed(LiteralStarted(cid, UID(5), SeqNum(2), "BODY[]", len(single)))
    asm.feed(LiteralChunk(cid, single))
    asm.feed(LiteralEnded(cid))
    items = {"UID": UID(4), "BODY[]": StreamedLiteral(9)}
    msg = asm.message(MessageDelivered(cid, SeqNum(1), UID(4), FetchItems(items)))
    assert msg.body() == b"abcdefghi"
    items = {"UID": UID(5), "BODY[]": StreamedLiteral(len(single))}
    msg = asm.message(MessageDelivered(cid, SeqNum(2), UID(5), FetchItems(items)))
    assert msg.body() is single  # one chunk: no copy
    # a held body is handed on untouched
    held = FetchItems({"UID": UID(6), "BODY[]": b"held"})
    msg = asm.message(MessageDelivered(cid, SeqNum(3), UID(6), held))
    assert msg.items is held


@pytest.mark.anyio
async def test_inbox_wakes_its_consumer_again_after_a_wake_up() -> None:
    inbox = _Inbox()
    got: list[object] = []

    async def consumer() -> None:
        for _ in range(3):
            got.append(await inbox.get())

    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(consumer)
            for i in range(3):
                await anyio.wait_all_tasks_blocked()
                inbox.push(i)  # each push must wake the consumer waiting anew
    assert got == [0, 1, 2]


# --- end to end over the scripted server --------------------------------------------------


def bodies(count: int) -> list[bytes]:
    out = []
    for n in range(1, count + 1):
        size = (0, 1, 97, 600, 3000, 2500)[n % 6]
        out.append(bytes((n * 7 + i) % 251 for i in range(size)))
    return out


def wire(msgs: list[bytes]) -> bytes:
    return b"".join(
        b"* %d FETCH (UID %d BODY[] {%d}\r\n" % (n, n, len(m)) + m + b")\r\n"
        for n, m in enumerate(msgs, 1)
    )


def awkward_cuts(data: bytes) -> list[bytes]:
    """``data`` cut right inside and around every literal announcement and
    literal, and in between at varying lengths."""
    points = set()
    for m in re.finditer(rb"\{(\d+)\}\r\n", data):
        start, size = m.end(), int(m.group(1))
        points |= {m.start() + 1, m.end() - 1, start, start + size // 2, start + size}
    points |= set(range(0, len(data), 4093))
    edges = sorted(p for p in points if 0 < p < len(data))
    edges = [0, *edges, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges) if b > a]


@asynccontextmanager
async def scripted(script: list[Step], **kwargs: Any) -> AsyncIterator[Client]:
    kwargs.update(username="alice", password="secret", compress=False)
    async with (
        ScriptedServer(script, greeting=b"* OK [CAPABILITY " + CAPS + b"] hi\r\n") as server,
        connect_transport(Transport(server.client_stream), host="imap.test", **kwargs) as client,
    ):
        yield client


@pytest.mark.anyio
@pytest.mark.parametrize("cut", [False, True])
async def test_bulk_fetch_delivers_every_body_whole(cut: bool) -> None:
    msgs = bodies(40)
    data = wire(msgs) + b"A0003 OK done\r\n"
    pieces = awkward_cuts(data) if cut else [data]
    assert len(pieces) > 100 or not cut
    script = [
        expect(b"A0001 LOGIN alice secret"),
        send(b"A0001 OK [CAPABILITY " + CAPS + b"] logged in\r\n"),
        expect(b"A0002 SELECT INBOX"),
        send(b"* 40 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\nA0002 OK [READ-WRITE] done\r\n"),
        expect(b"A0003 UID FETCH 1:40 (BODY.PEEK[] UID)"),
        *(send(p) for p in pieces),
        expect(b"A0004 LOGOUT"),
        send(b"* BYE bye\r\nA0004 OK done\r\n"),
        close(),
    ]
    # Bodies above 2,000 bytes are streamed by the parser and assembled again.
    limits = ParserLimits(stream_threshold=2000)
    got: dict[int, bytes | None] = {}
    with anyio.fail_after(TIMEOUT):
        async with scripted(script, parser_limits=limits) as client:
            await client.select("INBOX")
            async with client.fetch(range(1, 41), ["BODY.PEEK[]"]) as stream:
                async for msg in stream:
                    assert msg.uid is not None
                    got[int(msg.uid)] = msg.body()
                assert stream.missing == ()
    assert got == dict(enumerate(msgs, 1))
    assert list(got) == list(range(1, 41))  # in wire order


class RecordingTransport(Transport):
    """A transport that remembers how much each read asked for."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self.asked: list[int] = []

    async def receive(self, max_bytes: int = 256 * 1024) -> bytes:
        self.asked.append(max_bytes)
        return await super().receive(max_bytes)


@pytest.mark.anyio
async def test_reads_grow_while_they_come_back_full_and_shrink_after() -> None:
    body = bytes(range(256)) * (12 * 1024)  # 3 MiB, in one piece on the wire
    script = [
        expect(b"A0001 LOGIN alice secret"),
        send(b"A0001 OK [CAPABILITY " + CAPS + b"] logged in\r\n"),
        expect(b"A0002 SELECT INBOX"),
        send(b"* 1 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\nA0002 OK [READ-WRITE] done\r\n"),
        expect(b"A0003 UID FETCH 1 (BODY.PEEK[] UID)"),
        send(wire([body]) + b"A0003 OK done\r\n"),
        *(
            step
            for tag in (b"A0004", b"A0005", b"A0006")
            for step in (expect(tag + b" NOOP"), send(tag + b" OK noop\r\n"))
        ),
        expect(b"A0007 LOGOUT"),
        send(b"* BYE bye\r\nA0007 OK done\r\n"),
        close(),
    ]
    kib = 1024
    with anyio.fail_after(TIMEOUT):
        greeting = b"* OK [CAPABILITY " + CAPS + b"] hi\r\n"
        async with ScriptedServer(script, greeting=greeting) as server:
            transport = RecordingTransport(server.client_stream)
            async with connect_transport(
                transport, host="imap.test", username="alice", password="secret", compress=False
            ) as client:
                await client.select("INBOX")
                async with client.fetch([1], ["BODY.PEEK[]"]) as stream:
                    bodies = [msg.body() async for msg in stream]
                assert bodies == [body]
                asked = list(transport.asked)
                for _ in range(3):
                    await client.noop()
                after = transport.asked[len(asked) :]
    growth = [256 * kib, 512 * kib, 1024 * kib, 1024 * kib]  # the 3 MiB answer: full reads
    assert any(asked[i : i + 4] == growth for i in range(len(asked))), asked
    assert max(transport.asked) == 1024 * kib  # never more
    assert after[-1] == 256 * kib  # short answers: back to the smallest reads
