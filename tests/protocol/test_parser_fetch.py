# mypy: disable-error-code="union-attr"
"""FETCH data items, item-name normalization and streamed literals."""

from __future__ import annotations

import pytest

from pipeimap.errors import ResponseParseError
from pipeimap.protocol._limits import ParserLimits
from pipeimap.protocol._parse_fetch import normalize_fetch_item_name
from pipeimap.protocol._responses import (
    FetchLiteralChunk,
    FetchLiteralEnded,
    FetchLiteralStarted,
    FetchResponse,
    StreamedLiteral,
)
from pipeimap.protocol._types import UID, ModSeq, SeqNum
from tests.protocol.test_parser import feed_chunks, parse_all, parse_error, parse_one


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("uid", "UID"),
        ("rfc822.size", "RFC822.SIZE"),
        ("BODY.PEEK[]", "BODY[]"),
        ("body.peek[header.fields (subject  from)]", "BODY[HEADER.FIELDS (SUBJECT FROM)]"),
        ('BODY[HEADER.FIELDS ( "Subject" From )]', "BODY[HEADER.FIELDS (SUBJECT FROM)]"),
        ("BODY[1.MIME]<0.100>", "BODY[1.MIME]<0>"),
        ("BODY[]<0>", "BODY[]<0>"),
        ("binary.peek[1]<10.20>", "BINARY[1]<10>"),
        ("BINARY.SIZE[2]", "BINARY.SIZE[2]"),
        ("BODY[HEADER.FIELDS.NOT (X-A)]", "BODY[HEADER.FIELDS.NOT (X-A)]"),
        ("X-GM-LABELS", "X-GM-LABELS"),
    ],
)
def test_normalize_fetch_item_name(name: str, expected: str) -> None:
    assert normalize_fetch_item_name(name) == expected


def test_fixed_items() -> None:
    ev = parse_one(
        b"* 5 FETCH (UID 77 MODSEQ (624140003) EMAILID (M6d99ac3275bb4e) "
        b"THREADID (T64b478a75b7ea9) RFC822.SIZE 44827 X-GM-MSGID 1278455344230334865 "
        b'X-GM-LABELS ("\\\\Inbox" Important))\r\n'
    )
    assert isinstance(ev, FetchResponse)
    assert ev.seq == SeqNum(5)
    assert ev.uid == UID(77)
    assert ev.items.modseq == ModSeq(624140003)
    assert ev.items.emailid == "M6d99ac3275bb4e"
    assert ev.items.threadid == "T64b478a75b7ea9"
    assert ev.items["X-GM-MSGID"] == "1278455344230334865"
    assert ev.items["X-GM-LABELS"] == ("\\Inbox", "Important")
    ev = parse_one(b"* 5 FETCH (THREADID NIL)\r\n")
    assert isinstance(ev, FetchResponse)
    assert ev.items.threadid is None
    assert "THREADID" in ev.items


def test_sections_and_rfc822_items() -> None:
    ev = parse_one(
        b"* 2 FETCH (BODY[HEADER.FIELDS (Subject)] {9}\r\nSubject:\n"
        b' BODY[1]<0> "abc" BODY[2] NIL RFC822.HEADER {2}\r\nhh RFC822.TEXT "t"'
        b" RFC822 {1}\r\nx BINARY[1] ~{3}\r\n\x00\x01\x02 BINARY.SIZE[1] 3)\r\n"
    )
    assert isinstance(ev, FetchResponse)
    items = ev.items
    assert items["BODY[HEADER.FIELDS (SUBJECT)]"] == b"Subject:\n"
    assert items.section("body.peek[header.fields (subject)]") == b"Subject:\n"
    assert items["BODY[1]<0>"] == b"abc"
    assert items["BODY[2]"] is None
    assert items["RFC822.HEADER"] == b"hh"
    assert items["RFC822.TEXT"] == b"t"
    assert items["RFC822"] == b"x"
    assert items["BINARY[1]"] == b"\x00\x01\x02"
    assert items["BINARY.SIZE[1]"] == 3


def test_quoted_body_keeps_8bit_bytes() -> None:
    ev = parse_one(b'* 2 FETCH (BODY[1] "caf\xc3\xa9 \xff")\r\n')
    assert ev.items["BODY[1]"] == b"caf\xc3\xa9 \xff"


def test_envelope_8bit_text_is_lossless() -> None:
    ev = parse_one(
        b'* 1 FETCH (ENVELOPE (NIL "caf\xc3\xa9 \xff" NIL NIL NIL NIL NIL NIL NIL NIL))\r\n'
    )
    env = ev.items.envelope
    assert env is not None
    assert env.subject == "caf\xe9 \udcff"
    assert env.subject.encode("utf-8", "surrogateescape") == b"caf\xc3\xa9 \xff"


def _body_response(size: int) -> bytes:
    body = bytes(range(256)) * (size // 256 + 1)
    body = body[:size]
    return b"* 7 FETCH (UID 42 BODY[] {%d}\r\n" % size + body + b" FLAGS (\\Seen))\r\n"


def test_streamed_literal_events() -> None:
    data = _body_response(5000)
    limits = ParserLimits(stream_threshold=1000)
    events = parse_all(data, limits=limits, bytewise=False)
    assert events[0] == FetchLiteralStarted(SeqNum(7), UID(42), "BODY[]", 5000)
    assert isinstance(events[1], FetchLiteralChunk)
    assert events[1].data == data[data.index(b"}\r\n") + 3 :][:5000]
    assert events[2] == FetchLiteralEnded(SeqNum(7), "BODY[]", 5000)
    final = events[3]
    assert isinstance(final, FetchResponse)
    assert final.items["BODY[]"] == StreamedLiteral(5000)
    assert final.items.flags is not None
    assert final.uid == UID(42)


def test_streamed_chunks_are_what_arrived() -> None:
    data = _body_response(5000)
    head = data.index(b"}\r\n") + 3
    events = feed_chunks(
        [data[:head], data[head : head + 100], data[head + 100 : head + 3000], data[head + 3000 :]],
        expect_greeting=False,
        limits=ParserLimits(stream_threshold=1000),
    )
    sizes = [len(e.data) for e in events if isinstance(e, FetchLiteralChunk)]
    assert sizes == [100, 2900, 2000]


def test_small_literal_assembled() -> None:
    ev = parse_one(_body_response(500), limits=ParserLimits(stream_threshold=1000))
    assert isinstance(ev, FetchResponse)
    assert isinstance(ev.items["BODY[]"], bytes)


def test_stream_uid_only_if_seen_before() -> None:
    data = b"* 7 FETCH (BODY[1]<0> {20}\r\n" + b"x" * 20 + b" UID 9)\r\n"
    events = parse_all(data, limits=ParserLimits(stream_threshold=10))
    assert events[0] == FetchLiteralStarted(SeqNum(7), None, "BODY[1]<0>", 20)
    assert isinstance(events[-1], FetchResponse)
    assert events[-1].uid == UID(9)


def test_binary_literal8_streamed() -> None:
    data = b"* 1 FETCH (BINARY[] ~{20}\r\n" + b"\x00" * 20 + b")\r\n"
    events = parse_all(data, limits=ParserLimits(stream_threshold=10))
    assert events[0] == FetchLiteralStarted(SeqNum(1), None, "BINARY[]", 20)


def test_non_body_literal_is_not_streamed() -> None:
    data = (
        b"* 1 FETCH (ENVELOPE (NIL {20}\r\n" + b"s" * 20 + b" NIL NIL NIL NIL NIL NIL NIL NIL))\r\n"
    )
    ev = parse_one(data, limits=ParserLimits(stream_threshold=10))
    assert ev.items.envelope.subject == "s" * 20


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        (b"* 0 FETCH (UID 1)\r\n", "message-data"),
        (b"* 1 FETCH (UID 0)\r\n", "uniqueid"),
        (b"* 1 FETCH (UID 4294967296)\r\n", "uniqueid"),
        (b"* 1 FETCH (UID)\r\n", "msg-att"),
        (b"* 1 FETCH (FLAGS \\Seen)\r\n", "flag-fetch"),
        (b'* 1 FETCH (INTERNALDATE "junk")\r\n', "date-time"),
        (b"* 1 FETCH (ENVELOPE (NIL))\r\n", "envelope"),
        (b"* 1 FETCH (BODY ())\r\n", "body"),
        (b"* 1 FETCH (UID 5\r\n", "response-data"),
        (b"* 1 FETCH UID 5)\r\n", "response-data"),
        (b"* 1 FETCH (MODSEQ 5)\r\n", "fetch-mod-resp"),
    ],
)
def test_fetch_errors(data: bytes, rule: str) -> None:
    err = parse_error(data)
    assert err.rule == rule
    assert isinstance(err, ResponseParseError)


def test_streamed_literal_name_ignores_an_earlier_quoted_body_bracket() -> None:
    """Found by Hypothesis in CI: a BODYSTRUCTURE whose encoding is the quoted
    string "BODY[" made the framer name the streamed literal after everything
    from that quote to the real item ("BODY[NIL NIL) NIL) BODY[]")."""
    from pipeimap.protocol import FetchLiteralEnded, FetchLiteralStarted, ResponseParser

    data = (
        b'* 1 FETCH (BODY ("MESSAGE" "RFC822" NIL NIL NIL NIL NIL (NIL NIL NIL NIL NIL NIL'
        b' NIL NIL NIL NIL) ("TEXT" "PLAIN" NIL NIL NIL "BODY[" NIL NIL) NIL) BODY[] {3}\r\n'
        b"abc)\r\n"
    )
    parser = ResponseParser(ParserLimits(stream_threshold=1), expect_greeting=False)
    parser.feed(data)
    events = list(parser.events())
    names = [e.name for e in events if isinstance(e, (FetchLiteralStarted, FetchLiteralEnded))]
    assert names == ["BODY[]", "BODY[]"]
