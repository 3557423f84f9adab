"""Round trips through the response writer and the parser.

* Generated responses (``tests/protocol/strategies.py``): ``parse(encode(x)) == x``,
  with the bytes fed whole, one byte at a time and in random splits.
* The RFC corpus: ``parse(encode(parse(block))) == parse(block)`` for every block
  (the writer loses nothing the parser reports).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeimap.errors import InvalidArgumentError
from pipeimap.protocol._codes import ResponseCode
from pipeimap.protocol._limits import ParserLimits
from pipeimap.protocol._response_writer import (
    encode_response,
    encode_response_code,
    encode_responses,
)
from pipeimap.protocol._responses import (
    BodyPart,
    EnabledResponse,
    Event,
    FetchItems,
    FetchLiteralChunk,
    FetchLiteralEnded,
    FetchLiteralStarted,
    FetchResponse,
    ListResponse,
    StreamedLiteral,
    TaggedResponse,
    ThreadNode,
    ThreadResponse,
    UntaggedStatus,
)
from pipeimap.protocol._types import UID, SeqNum
from tests.data.corpus import CorpusBlock, all_rfc_blocks
from tests.protocol import strategies as S
from tests.protocol.test_parser import feed_chunks, merge_chunks, parse_all

_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out = []
    prev = 0
    for p in [*points, len(data)]:
        out.append(data[prev:p])
        prev = p
    return out


@_SETTINGS
@given(
    st.lists(S.untagged_responses(), min_size=1, max_size=4),
    st.lists(st.integers(0, 10_000), max_size=12),
)
def test_roundtrip_generated(events: list[Event], cuts: list[int]) -> None:
    data = b"".join(encode_response(e) for e in events)
    assert parse_all(data, bytewise=len(data) < 3000) == events
    # splits chosen by Hypothesis (so it can shrink to the failing cut)
    assert merge_chunks(feed_chunks(_split_at(data, cuts), expect_greeting=False)) == events


@_SETTINGS
@given(st.lists(S.untagged_responses(utf8=True), min_size=1, max_size=4))
def test_roundtrip_generated_utf8(events: list[Event]) -> None:
    data = b"".join(encode_response(e, utf8=True) for e in events)
    assert parse_all(data, bytewise=len(data) < 3000, utf8=True) == events


@_SETTINGS
@given(S.greetings(), st.lists(S.untagged_responses(), max_size=2))
def test_roundtrip_greeting_first(greeting: Event, rest: list[Event]) -> None:
    data = encode_response(greeting) + b"".join(encode_response(e) for e in rest)
    assert parse_all(data, bytewise=False, expect_greeting=True) == [greeting, *rest]


@_SETTINGS
@given(S.fetch_responses())
def test_roundtrip_streamed_literals(event: FetchResponse) -> None:
    """With a tiny stream threshold the parser streams every body literal; the
    writer reassembles the event sequence into the same response."""
    data = encode_response(event)
    streamed = merge_chunks(
        feed_chunks([data], expect_greeting=False, limits=ParserLimits(stream_threshold=2))
    )
    again = merge_chunks(feed_chunks([encode_responses(streamed)], expect_greeting=False))
    assert again == [event]


@_SETTINGS
@given(S.response_codes, S.status_text)
def test_roundtrip_every_code_in_every_status(code: ResponseCode, text: str) -> None:
    events: list[Event] = [
        TaggedResponse("A1", "NO", code, text),
        UntaggedStatus("OK", code, text),
    ]
    data = b"".join(encode_response(e) for e in events)
    assert parse_all(data, bytewise=False) == events
    assert encode_response_code(code).startswith(b"[" + code.name.encode())


@_SETTINGS
@given(S.list_responses(utf8=True))
def test_enabled_utf8_switches_mailbox_encoding(event: ListResponse) -> None:
    """After ``* ENABLED UTF8=ACCEPT`` the parser reads names as UTF-8 by itself
    (RFC 9051 section 6.3.1), so the writer must switch too."""
    enabled = EnabledResponse(("UTF8=ACCEPT",))
    data = encode_response(enabled) + encode_response(event, utf8=True)
    assert parse_all(data, bytewise=False) == [enabled, event]


# --- the writer's choices ------------------------------------------------------------


def test_string_forms() -> None:
    from pipeimap.protocol._response_writer import astring, nstring, string

    assert astring("INBOX") == b"INBOX"
    assert astring("NIL") == b'"NIL"'
    assert astring("a b") == b'"a b"'
    assert astring("") == b'""'
    assert string('a"b\\c') == b'"a\\"b\\\\c"'
    assert string("a\r\nb") == b"{4}\r\na\r\nb"
    assert string("é") == b"{2}\r\n\xc3\xa9"
    assert string("é", utf8=True) == b'"\xc3\xa9"'
    assert nstring(None) == b"NIL"


def test_wire_examples() -> None:
    uid = UID(4827313)
    items = FetchItems({"UID": uid, "BINARY[1]": b"\x00\x01", "BODY[]<0>": None})
    assert encode_response(FetchResponse(SeqNum(12), uid, items)) == (
        b"* 12 FETCH (UID 4827313 BINARY[1] ~{2}\r\n\x00\x01 BODY[]<0> NIL)\r\n"
    )
    # mailbox names: modified UTF-7 by default, UTF-8 on request
    event = ListResponse("LIST", (), "/", "Entwürfe", b"")
    assert encode_response(event) == b'* LIST () "/" Entw&APw-rfe\r\n'
    assert encode_response(event, utf8=True) == b'* LIST () "/" "Entw\xc3\xbcrfe"\r\n'
    tree = ThreadResponse(
        (ThreadNode(2), ThreadNode(3, (ThreadNode(6, (ThreadNode(4, (ThreadNode(23),)),)),)))
    )
    assert encode_response(tree) == b"* THREAD (2)(3 6 4 23)\r\n"
    tree = ThreadResponse((ThreadNode(None, (ThreadNode(3), ThreadNode(5))),))
    assert encode_response(tree) == b"* THREAD ((3)(5))\r\n"


@pytest.mark.parametrize(
    "event",
    [
        TaggedResponse("A1", "OK", None, "bad\r\n* 1 EXISTS"),
        TaggedResponse("A 1", "OK", None, "space in tag"),
        TaggedResponse("A1", "MAYBE", None, "not a status"),
        UntaggedStatus("OK", None, "[ALERT] looks like a code"),
        UntaggedStatus("OK", ResponseCode("ALERT]", b""), "bad code name"),
        UntaggedStatus("OK", ResponseCode("X-FOO", b"a]b"), "']' would end the code"),
        UntaggedStatus("OK", ResponseCode("X-FOO", b"a\r\nb"), "CRLF in code"),
        FetchResponse(SeqNum(1), None, FetchItems({"BODY[]": StreamedLiteral(5)})),
        FetchResponse(SeqNum(1), None, FetchItems({"X-LABEL": "a\r\nb"})),
        FetchResponse(SeqNum(1), None, FetchItems({"FLAGS": ("a b",)})),
        FetchResponse(
            SeqNum(1),
            None,
            FetchItems({"BODY": BodyPart("IMAGE", "PNG", (), None, None, None, 5, lines=3)}),
        ),
        FetchLiteralStarted(SeqNum(1), None, "BODY[]", 5),
        FetchLiteralChunk(b"abc"),
        FetchLiteralEnded(SeqNum(1), "BODY[]", 5),
        ListResponse("LIST", (), "/", "inbox", b""),
    ],
)
def test_refuses_what_would_not_come_back(event: Event) -> None:
    with pytest.raises(InvalidArgumentError):
        encode_response(event)


# --- the RFC corpus ---------------------------------------------------------------

RFC_BLOCKS = all_rfc_blocks()


@pytest.mark.parametrize("block", RFC_BLOCKS, ids=[b.id for b in RFC_BLOCKS])
def test_rfc_corpus_reencodes_to_same_events(block: CorpusBlock) -> None:
    events = parse_all(block.data, bytewise=False)
    encoded = encode_responses(events)
    assert parse_all(encoded, bytewise=len(encoded) < 4000) == events
    # and once more: the writer's own output is a fixed point
    assert encode_responses(parse_all(encoded, bytewise=False)) == encoded
