"""The framer copies literal bytes once (issue 3, bulk fetch speed): the buffer
is the fed ``bytes`` object itself, a held literal is one slice of it (or the
fed object itself), a literal spanning reads is joined once from views of
them.  These tests pin down what that must never change: the events, the
stream offsets, the limits, and the streamed-literal behaviour, whatever the
split of the input -- including reads that end inside a line, inside a literal
announcement, and two feeds without a ``next()`` in between."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeimap.errors import LimitExceededError, ResponseParseError
from pipeimap.protocol._framing import Frame, Framer
from pipeimap.protocol._limits import ParserLimits
from pipeimap.protocol._parser import ResponseParser
from pipeimap.protocol._responses import (
    FetchLiteralChunk,
    FetchLiteralEnded,
    FetchLiteralStarted,
    FetchResponse,
    StreamedLiteral,
    TaggedResponse,
)

SMALL_STREAM = ParserLimits(stream_threshold=64)


def fetch_wire(bodies: list[bytes], start: int = 1) -> bytes:
    """``* n FETCH (UID n BODY[] {size}`` + body + ``)`` per body, as Dovecot sends them."""
    out = []
    for n, body in enumerate(bodies, start):
        out.append(b"* %d FETCH (UID %d BODY[] {%d}\r\n" % (n, n, len(body)) + body + b")\r\n")
    return b"".join(out)


def frames(framer: Framer) -> list[object]:
    out: list[object] = []
    while (item := framer.next()) is not None:
        out.append(item)
    return out


Outcome = tuple[list[object], "tuple[str, str, int] | None"]


def parse(data: list[bytes], limits: ParserLimits | None = None, *, eager: bool = True) -> Outcome:
    """Events of ``data`` fed piece by piece (streamed chunks merged), and the
    error as (type, rule, offset).  ``eager=False`` feeds two pieces before each
    round of ``next_event()``."""
    parser = ResponseParser(limits, expect_greeting=False)
    events: list[object] = []
    try:
        for i, piece in enumerate(data):
            parser.feed(piece)
            if eager or i % 2 == 1 or i == len(data) - 1:
                events.extend(parser.events())
        parser.feed_eof()
        events.extend(parser.events())
    except ResponseParseError as exc:
        return merge(events), (type(exc).__name__, exc.rule, exc.offset)
    return merge(events), None


def merge(events: list[object]) -> list[object]:
    out: list[object] = []
    for ev in events:
        if isinstance(ev, FetchLiteralChunk) and out and isinstance(out[-1], FetchLiteralChunk):
            out[-1] = FetchLiteralChunk(out[-1].data + ev.data)
        else:
            out.append(ev)
    return out


def cut(data: bytes, points: list[int]) -> list[bytes]:
    points = sorted({p % (len(data) + 1) for p in points})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges) if b > a]


# --- copies ----------------------------------------------------------------------------


def test_a_read_that_is_exactly_the_literal_is_not_copied() -> None:
    body = b"x" * 5000
    f = Framer(ParserLimits())
    f.feed(b"* 1 FETCH (UID 1 BODY[] {5000}\r\n")
    assert f.next() is None
    f.feed(body)
    assert f.next() is None
    f.feed(b")\r\n")
    (frame,) = frames(f)
    assert isinstance(frame, Frame)
    assert frame.parts[1] is body  # the fed object itself


def test_a_literal_inside_one_read_is_one_slice_of_it() -> None:
    body = bytes(range(256)) * 40
    data = fetch_wire([body, b"second"])
    f = Framer(ParserLimits())
    f.feed(data)
    first, second = frames(f)
    assert isinstance(first, Frame)
    assert isinstance(second, Frame)
    assert first.parts[1] == body
    assert second.parts[1] == b"second"
    assert type(first.parts[1]) is bytes
    assert f.at_boundary()
    assert f.offset == len(data)


def test_a_literal_spanning_reads_is_joined_and_offsets_hold() -> None:
    body = b"".join(b"line %d\r\n" % i for i in range(3000))
    data = fetch_wire([body])
    head = data.index(b"\n") + 1
    f = Framer(ParserLimits())
    pieces = [data[: head + 10], data[head + 10 : head + 7000], data[head + 7000 : -5], data[-5:]]
    for piece in pieces[:-1]:
        f.feed(piece)
        assert f.next() is None
        # mid-literal, the first unconsumed byte is still where the literal starts
        assert f.offset == head
        assert f.in_response()
    f.feed(pieces[-1])
    (frame,) = frames(f)
    assert isinstance(frame, Frame)
    assert frame.parts[1] == body
    assert frame.offsets == [0, head + len(body)]
    assert f.offset == len(data)


def test_fed_bytearrays_and_memoryviews_are_copied_before_the_caller_reuses_them() -> None:
    body = b"abcdefghij" * 100
    data = fetch_wire([body])
    f = Framer(ParserLimits())
    scratch = bytearray(data[:50])
    f.feed(scratch)  # type: ignore[arg-type]  # (bytes-like, as a caller might pass)
    assert f.next() is None
    scratch[:] = b"\0" * 50  # the caller reuses its buffer
    rest = bytearray(data[50:])
    f.feed(memoryview(rest))  # type: ignore[arg-type]
    rest[:] = b"\0" * len(rest)
    (frame,) = frames(f)
    assert isinstance(frame, Frame)
    assert frame.parts[1] == body


def test_a_streamed_chunk_that_is_a_whole_read_is_not_copied() -> None:
    f = Framer(SMALL_STREAM)
    f.feed(b"* 1 FETCH (UID 1 BODY[] {300}\r\n")
    started = f.next()
    assert isinstance(started, FetchLiteralStarted)
    assert started.uid == 1
    piece = b"y" * 200
    f.feed(piece)
    chunk = f.next()
    assert isinstance(chunk, FetchLiteralChunk)
    assert chunk.data is piece
    assert f.next() is None
    f.feed(b"z" * 100 + b")\r\n")
    rest = frames(f)
    assert isinstance(rest[0], FetchLiteralChunk)
    assert rest[0].data == b"z" * 100
    assert isinstance(rest[1], FetchLiteralEnded)
    assert isinstance(rest[2], Frame)
    assert rest[2].parts[1] == StreamedLiteral(300)


def test_a_streamed_literal_in_one_big_read_comes_in_bounded_pieces() -> None:
    body = bytes(range(256)) * 4096  # 1 MiB
    f = Framer(ParserLimits())
    f.feed(fetch_wire([body]))
    events = frames(f)
    assert isinstance(events[0], FetchLiteralStarted)
    chunks = [e.data for e in events if isinstance(e, FetchLiteralChunk)]
    assert [len(c) for c in chunks] == [256 * 1024] * 4
    assert b"".join(chunks) == body
    assert isinstance(events[-2], FetchLiteralEnded)
    assert isinstance(events[-1], Frame)


# --- split invariance of the hot shape --------------------------------------------------


BODIES = [b"a" * 10, b"", b"b" * 63, b"c" * 64, b"d" * 65, b"e" * 200, b"{3}\r\n\0\r\n" * 20]


@given(
    st.lists(st.sampled_from(BODIES), min_size=1, max_size=6),
    st.lists(st.integers(0, 5000), max_size=12),
    st.booleans(),
)
@settings(max_examples=200, deadline=None)
def test_fetch_stream_is_split_invariant(
    bodies: list[bytes], points: list[int], eager: bool
) -> None:
    data = fetch_wire(bodies) + b"A1 OK done\r\n"
    for limits in (ParserLimits(), SMALL_STREAM):
        whole = parse([data], limits)
        assert parse(cut(data, points), limits, eager=eager) == whole
    events, err = parse([data], ParserLimits())
    assert err is None
    fetched = [e for e in events if isinstance(e, FetchResponse)]
    assert [e.items["BODY[]"] for e in fetched] == bodies
    assert isinstance(events[-1], TaggedResponse)


def test_fetch_stream_random_reads() -> None:
    rng = random.Random(3)
    bodies = [
        bytes(rng.getrandbits(8) for _ in range(rng.choice((0, 1, 40, 700, 5000))))
        for _ in range(40)
    ]
    data = fetch_wire(bodies) + b"A1 OK done\r\n"
    limits = ParserLimits(stream_threshold=1000)
    whole = parse([data], limits)
    for _ in range(20):
        points = [rng.randrange(len(data)) for _ in range(rng.randrange(1, 60))]
        assert parse(cut(data, points), limits, eager=rng.random() < 0.5) == whole


# --- errors and limits keep their offsets across reads ---------------------------------


@pytest.mark.parametrize("split", [None, 1, 7, 33, 1000])
def test_error_after_a_literal_spanning_reads_has_the_same_offset(split: int | None) -> None:
    data = b"* 1 FETCH (UID 1 BODY[] {100}\r\n" + b"q" * 100 + b" FLAGS (\\Seen\0))\r\n"
    pieces = [data] if split is None else [data[i : i + split] for i in range(0, len(data), split)]
    _, err = parse(pieces)
    assert err == ("ResponseParseError", "response", data.index(b"\0"))


@pytest.mark.parametrize("split", [None, 1, 5, 40])
def test_response_size_limit_counts_a_literal_spanning_reads(split: int | None) -> None:
    limits = ParserLimits(max_response_size=300, max_literal_in_memory=250)
    data = b"* 1 FETCH (UID 1 BODY[1] {200}\r\n" + b"r" * 200 + b" BODY[2] {200}\r\n" + b"s" * 200
    pieces = [data] if split is None else [data[i : i + split] for i in range(0, len(data), split)]
    _, err = parse(pieces, limits)
    assert err is not None
    assert err[0] == LimitExceededError.__name__
    assert err[1] == "limit:max_response_size"
    assert err[2] == data.rindex(b"{200}\r\n") + 6  # the LF announcing the second literal
    assert err == parse([data], limits)[1]


def test_eof_inside_a_literal_spanning_reads_reports_where_it_starts() -> None:
    head = b"* 1 FETCH (UID 1 BODY[] {100}\r\n"
    _, err = parse([head + b"x" * 30, b"y" * 30])
    assert err == ("ResponseParseError", "response", len(head))
    assert parse([head + b"x" * 60])[1] == err


def test_take_unparsed_after_a_literal_spanning_reads() -> None:
    data = fetch_wire([b"m" * 50]) + b"A1 OK go\r\n"
    p = ResponseParser(expect_greeting=False)
    p.feed(data[:40])
    assert p.next_event() is None
    p.feed(data[40:] + b"COMPRESSED")
    events = list(p.events())
    assert isinstance(events[0], FetchResponse)
    assert isinstance(events[1], TaggedResponse)
    assert p.take_unparsed() == b"COMPRESSED"
    assert p.offset == len(data) + len(b"COMPRESSED")
