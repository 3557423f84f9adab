"""Hostile servers that try to exhaust memory: a literal announced far beyond
the limits, a huge literal that is really sent, an endless line, deep and
unbalanced nesting, NUL bytes.  Each ends in a typed error within a bounded
time and bounded memory, and every other caller gets a clear error too."""

from __future__ import annotations

import pytest

from pipeimap import LimitExceededError, ResponseParseError
from pipeimap.client import Client
from pipeimap.protocol import ParserLimits, UIDSet
from pipeimap.testing.scripted import close, expect, send, send_lazily

from ._harness import BYSTANDERS, MiB, assert_all_lost, endless, peak_memory, run_case

pytestmark = pytest.mark.anyio

BODY = {"fetch": lambda c: c.fetch_all(UIDSet(10), ["BODY.PEEK[]"])}


async def test_literal_announced_beyond_max_literal_size() -> None:
    # 10^15 bytes: far beyond max_literal_size (2^40).  Refused when announced,
    # before a byte of it is read (the server goes on sending regardless).
    head = b"* 1 FETCH (UID 10 BODY[] {1000000000000000}\r\n"
    hostile = [send(head), send_lazily(lambda: endless(b"x"))]
    with peak_memory() as peak:
        case = await run_case(hostile, BODY | BYSTANDERS)
    assert_all_lost(case, LimitExceededError)
    cause = case.error("fetch").__cause__
    assert isinstance(cause, LimitExceededError)
    assert cause.limit_name == "max_literal_size"
    assert cause.offset > 0
    assert peak[0] < 2 * MiB  # measured: about 0.25 MiB
    assert case.server.conn.sent_lazily < 100 * MiB


async def test_huge_literal_refused_by_an_assembling_fetch() -> None:
    # 10^12 bytes is within max_literal_size, so it is streamed -- but
    # fetch_all() assembles bodies in memory: it must not buffer terabytes.
    # The announced size is beyond max_literal_in_memory: refused at once.
    head = b"* 1 FETCH (UID 10 BODY[] {1000000000000}\r\n"
    hostile = [send(head), send_lazily(lambda: endless(b"From: x\r\n"))]
    with peak_memory() as peak:
        case = await run_case(hostile, BODY | BYSTANDERS)
    assert_all_lost(case, LimitExceededError)
    cause = case.error("fetch").__cause__
    assert isinstance(cause, LimitExceededError)
    assert cause.limit_name == "max_literal_in_memory"
    assert peak[0] < 2 * MiB  # measured: about 0.25 MiB


async def test_huge_literal_streamed_with_bounded_memory() -> None:
    # The same announcement to a streaming consumer: 100 MiB really flow
    # through (and are discarded by the consumer), then the server hangs up in
    # the middle of the literal.  Memory stays at the stream budget.
    received = 0

    async def consume(client: Client) -> None:
        nonlocal received
        async with client.stream_bodies(UIDSet(10), budget=1 * MiB) as chunks:
            async for chunk in chunks:
                received += len(chunk.data)

    head = b"* 1 FETCH (UID 10 BODY[] {1000000000000}\r\n"
    total = 100 * MiB
    hostile = [send(head), send_lazily(lambda: endless(b"y" * 80 + b"\r\n", limit=total)), close()]
    with peak_memory() as peak:
        case = await run_case(hostile, {"stream": consume} | BYSTANDERS)
    assert_all_lost(case, ResponseParseError)
    assert received == total
    assert case.server.conn.sent_lazily == total
    cause = case.error("stream").__cause__
    assert isinstance(cause, ResponseParseError)
    assert "middle of a response" in str(cause)
    assert peak[0] < 4 * MiB  # the 1 MiB budget and a few chunks (measured: 0.5 MiB)


@pytest.mark.parametrize(
    ("pattern", "max_line"),
    [
        (b"* OK this line never ends ", 1 * MiB),  # plain text
        (b"((((((((", 1 * MiB),  # nesting that never closes
        (b"* OK endless ", None),  # the default limit (8 MiB)
    ],
)
async def test_endless_line(pattern: bytes, max_line: int | None) -> None:
    limits = ParserLimits(max_line_length=max_line) if max_line else None
    hostile = [send(b"* 1 FETCH (UID 10 FLAGS "), send_lazily(lambda: endless(pattern))]
    with peak_memory() as peak:
        case = await run_case(hostile, BODY | BYSTANDERS, limits=limits)
    assert_all_lost(case, LimitExceededError)
    cause = case.error("fetch").__cause__
    assert isinstance(cause, LimitExceededError)
    assert cause.limit_name == "max_line_length"
    limit = max_line or ParserLimits().max_line_length
    assert cause.limit == limit
    # The client stops reading at the limit; what it held is about the limit.
    assert case.server.conn.sent_lazily < limit + 2 * MiB
    assert peak[0] < 2 * limit + 2 * MiB  # measured: limit + 0.3 MiB


async def test_deep_nesting_in_one_line() -> None:
    depth = 100_000
    line = b"* 1 FETCH (UID 10 X-ITEM " + b"(" * depth + b")" * depth + b")\r\n"
    case = await run_case([send(line)], BODY | BYSTANDERS)
    assert_all_lost(case, LimitExceededError)
    cause = case.error("fetch").__cause__
    assert isinstance(cause, LimitExceededError)
    assert cause.limit_name == "max_nesting_depth"
    # The first parenthesis beyond the limit (64 by default, counting the item list).
    start = case.server.conn.sent.index(line)
    assert cause.offset - start == line.index(b"X-ITEM ") + 7 + 63


@pytest.mark.parametrize(
    ("answer", "at"),
    [
        # unclosed: reported where the line ends
        (b"* 1 FETCH (UID 10 FLAGS (\\Seen)\r\n", 31),
        # one ")" too many: reported at it
        (b"* 1 FETCH (UID 10 FLAGS (\\Seen)))\r\n", 32),
        # closed before opened
        (b"* 1 FETCH )UID 10 FLAGS (\\Seen)(\r\n", 10),
    ],
)
async def test_unbalanced_parentheses(answer: bytes, at: int) -> None:
    case = await run_case([send(answer)], BODY | BYSTANDERS)
    assert_all_lost(case, ResponseParseError)
    cause = case.error("fetch").__cause__
    assert isinstance(cause, ResponseParseError)
    start = case.server.conn.sent.index(answer)
    assert cause.offset - start == at, (cause, answer[at:])


@pytest.mark.parametrize(
    "answer",
    [
        b"* 1 FETCH (UID 10 FLAGS (\\Se\x00en))\r\n",  # in an atom
        b'* 1 FETCH (UID 10 ENVELOPE (NIL "sub\x00ject" NIL NIL NIL NIL NIL NIL NIL NIL))\r\n',
        b'* LIST () "/" "IN\x00BOX"\r\n',  # in a quoted mailbox name
        b"* OK [ALERT] hello\x00world\r\n",  # in resp-text
        b"A0003 OK do\x00ne\r\n",  # in a tagged response
    ],
)
async def test_nul_byte_outside_a_literal(answer: bytes) -> None:
    # RFC 9051 section 9: CHAR and TEXT-CHAR exclude %x00; only literal8 may
    # hold NUL.  A NUL in response text is a parse error at its position.
    case = await run_case([send(answer)], BODY | BYSTANDERS)
    assert_all_lost(case, ResponseParseError)
    cause = case.error("fetch").__cause__
    assert isinstance(cause, ResponseParseError)
    start = case.server.conn.sent.index(answer)
    assert cause.offset - start == answer.index(b"\x00")
    assert "\\x00" in cause.excerpt


async def test_nul_byte_inside_a_literal_is_data() -> None:
    # Message bodies may hold NUL (8-bit and binary content): not an error.
    answer = b"* 1 FETCH (UID 10 BODY[] {5}\r\na\x00b\x00c)\r\nA0003 OK done\r\n"
    logout = [expect(b"A0004 LOGOUT"), send(b"* BYE bye\r\nA0004 OK done\r\n"), close()]
    case = await run_case([send(answer), *logout], BODY, in_flight=1)
    got = case.results["fetch"]
    assert got.error is None, got.error
    assert [m.items["BODY[]"] for m in got.value] == [b"a\x00b\x00c"]
