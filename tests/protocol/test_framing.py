# mypy: disable-error-code="union-attr"
"""Framing: line ends, literals, limits, EOF, offsets and take_unparsed()."""

from __future__ import annotations

import pytest

from pipeimap.errors import LimitExceededError, ResponseParseError
from pipeimap.protocol._limits import ParserLimits
from pipeimap.protocol._parser import ResponseParser
from pipeimap.protocol._responses import (
    ExistsResponse,
    FetchLiteralChunk,
    FetchResponse,
    TaggedResponse,
    UntaggedStatus,
)
from tests.protocol.test_parser import parse_all


def test_bare_lf_and_trailing_space() -> None:
    events = parse_all(b"* 3 EXISTS\n* OK hi \nA1 OK\n")
    assert events == [
        ExistsResponse(3),
        UntaggedStatus("OK", None, "hi "),
        TaggedResponse("A1", "OK", None, ""),
    ]


def test_status_text_ending_in_brace_is_not_a_literal() -> None:
    events = parse_all(b"A1 NO too big {5}\r\n* 1 EXISTS\r\n")
    assert events == [TaggedResponse("A1", "NO", None, "too big {5}"), ExistsResponse(1)]


def test_offset_counts_consumed_bytes() -> None:
    p = ResponseParser(expect_greeting=False)
    p.feed(b"* 1 EXISTS\r\n* 2 EXI")
    assert p.next_event() == ExistsResponse(1)
    assert p.offset == 12
    assert p.next_event() is None


def test_take_unparsed_after_tagged_ok() -> None:
    p = ResponseParser(expect_greeting=False)
    p.feed(b"A1 OK DEFLATE active\r\n\x78\x9c\x01\x02")
    assert p.next_event() == TaggedResponse("A1", "OK", None, "DEFLATE active")
    assert p.take_unparsed() == b"\x78\x9c\x01\x02"
    assert p.offset == 26
    p.feed(b"* 1 EXISTS\r\n")
    assert p.next_event() == ExistsResponse(1)


def test_eof_mid_response_raises() -> None:
    for data in (b"* 1 EXI", b"* 1 FETCH (BODY[] {10}\r\nabc"):
        p = ResponseParser(expect_greeting=False)
        p.feed(data)
        p.feed_eof()
        with pytest.raises(ResponseParseError) as info:
            p.next_event()
        assert info.value.rule == "response"
        with pytest.raises(ResponseParseError):  # the error is final
            p.next_event()


def test_eof_mid_streamed_literal_raises() -> None:
    p = ResponseParser(ParserLimits(stream_threshold=4), expect_greeting=False)
    p.feed(b"* 1 FETCH (BODY[] {10}\r\nabc")
    events = list(p.events())
    assert isinstance(events[-1], FetchLiteralChunk)
    p.feed_eof()
    with pytest.raises(ResponseParseError):
        p.next_event()


def test_clean_eof() -> None:
    p = ResponseParser(expect_greeting=False)
    p.feed(b"* 1 EXISTS\r\n")
    p.feed_eof()
    assert list(p.events()) == [ExistsResponse(1)]
    assert p.next_event() is None


def test_greeting_required() -> None:
    p = ResponseParser()
    p.feed(b"A1 OK hello\r\n")
    with pytest.raises(ResponseParseError) as info:
        p.next_event()
    assert info.value.rule == "greeting"


def test_error_reports_absolute_offset_and_excerpt() -> None:
    p = ResponseParser(expect_greeting=False)
    p.feed(b"* 1 EXISTS\r\n* 2 FETCH (UID 5 {x)\r\n")
    assert p.next_event() == ExistsResponse(1)
    with pytest.raises(ResponseParseError) as info:
        p.next_event()
    assert info.value.offset == 12 + len(b"* 2 FETCH (UID 5 ")
    assert ">>>{x)" in info.value.excerpt


def test_endless_line_raises_promptly() -> None:
    limits = ParserLimits(max_line_length=1000)
    p = ResponseParser(limits, expect_greeting=False)
    p.feed(b"* SEARCH")
    for _ in range(200):
        p.feed(b" 1234")
        if p.buffered > 1000:
            with pytest.raises(LimitExceededError) as info:
                p.next_event()
            assert info.value.limit_name == "max_line_length"
            assert p.buffered < 1100
            return
        assert p.next_event() is None
    raise AssertionError("limit not reached")


def test_big_search_line_within_default_limit() -> None:
    data = b"* SEARCH" + b"".join(b" %d" % i for i in range(1, 200001)) + b"\r\n"
    p = ResponseParser(expect_greeting=False)
    p.feed(data)
    ev = p.next_event()
    assert ev is not None
    assert len(ev.numbers) == 200000


def test_huge_literal_announcement_raises_before_data() -> None:
    p = ResponseParser(ParserLimits(max_literal_in_memory=1000), expect_greeting=False)
    p.feed(b'* LIST () "/" {1001}\r\n')
    with pytest.raises(LimitExceededError) as info:
        p.next_event()
    assert info.value.limit_name == "max_literal_in_memory"
    p = ResponseParser(expect_greeting=False)
    p.feed(b"* 1 FETCH (BODY[] {99999999999999999}\r\n")
    with pytest.raises(LimitExceededError) as info:
        p.next_event()
    assert info.value.limit_name == "max_literal_size"


def test_many_literals_bounded_by_response_size() -> None:
    limits = ParserLimits(max_response_size=10000, stream_threshold=100, max_literal_in_memory=100)
    p = ResponseParser(limits, expect_greeting=False)
    p.feed(b"* 1 FETCH (X-A (" + b"{90}\r\n" + b"a" * 90)
    errors: list[LimitExceededError] = []
    for _ in range(200):
        p.feed(b" {90}\r\n" + b"a" * 90)
        try:
            list(p.events())
        except LimitExceededError as exc:
            errors.append(exc)
            break
    assert [e.limit_name for e in errors] == ["max_response_size"]


def test_deep_nesting_limited_without_recursion_error() -> None:
    for depth in (65, 5000):
        data = b"* 1 FETCH (X-A " + b"(" * depth + b")" * depth + b")\r\n"
        p = ResponseParser(expect_greeting=False)
        p.feed(data)
        with pytest.raises(LimitExceededError) as info:
            p.next_event()
        assert info.value.limit_name == "max_nesting_depth"
    data = b"* 1 FETCH (X-A " + b"(" * 60 + b")" * 60 + b")\r\n"
    ev = parse_all(data)[0]
    assert isinstance(ev, FetchResponse)


def test_limits_validation() -> None:
    with pytest.raises(ValueError, match="nesting"):
        ParserLimits(max_nesting_depth=10000)
    with pytest.raises(ValueError, match="non-negative"):
        ParserLimits(stream_threshold=-1)
