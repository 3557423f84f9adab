"""Review: trying to break the response parser (read-only review; parser files untouched).

* The exception invariant: for ANY input only ResponseParseError (or its subclass
  LimitExceededError) escapes -- checked on targeted hostile inputs and on
  Hypothesis mutations aimed at numbers, literal announcements, nesting, CR/LF
  and 8-bit bytes.
* Split invariance on the same inputs: whole, byte at a time and odd chunk
  sizes give the same events (streamed literal chunks merged) or the same error
  at the same offset.
* ``take_unparsed`` after STARTTLS / COMPRESS tagged OKs in the same chunk.
* A differential test against IMAPClient's FETCH parser on generated lines.

Tests marked ``xfail(strict=True, reason="BUG: ...")`` document parser bugs for
the parser's owner; each carries a minimal reproducer.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from imapclient.response_parser import parse_fetch_response

from pipeimap.errors import LimitExceededError, ResponseParseError
from pipeimap.protocol._limits import ParserLimits
from pipeimap.protocol._parser import ResponseParser
from pipeimap.protocol._responses import (
    ExistsResponse,
    FetchLiteralChunk,
    FetchResponse,
    ListResponse,
    TaggedResponse,
)
from tests.data.corpus import all_quirk_blocks, all_rfc_blocks

SMALL = ParserLimits(
    max_line_length=4096,
    max_literal_in_memory=2048,
    stream_threshold=64,
    max_literal_size=100_000,
    max_nesting_depth=16,
    max_response_size=8192,
)
DEFAULT = ParserLimits()

Error = tuple[str, str, int]
Outcome = tuple[list[object], Error | None]


class ExactParser(ResponseParser):
    """The parser with the batched FETCH fast path switched off."""

    def _fetch_ahead(self) -> bool:
        return False


def _merge_chunks(events: Iterable[object]) -> list[object]:
    out: list[object] = []
    for ev in events:
        if isinstance(ev, FetchLiteralChunk) and out and isinstance(out[-1], FetchLiteralChunk):
            out[-1] = FetchLiteralChunk(out[-1].data + ev.data)
        else:
            out.append(ev)
    return out


def outcome(
    data: bytes,
    chunk: int | None = None,
    limits: ParserLimits = SMALL,
    cls: type[ResponseParser] = ResponseParser,
) -> Outcome:
    """Events (literal chunks merged) and the error as (type, rule, offset), or None.

    Anything but ResponseParseError escaping fails the test right here."""
    parser = cls(limits, expect_greeting=False)
    events: list[object] = []
    step = chunk or max(1, len(data))
    try:
        for i in range(0, len(data), step):
            parser.feed(data[i : i + step])
            while (ev := parser.next_event()) is not None:
                events.append(ev)
        parser.feed_eof()
        while (ev := parser.next_event()) is not None:
            events.append(ev)
    except ResponseParseError as exc:  # LimitExceededError included
        err = (type(exc).__name__, exc.rule, exc.offset)
        # a parse error is final: it is raised again
        with pytest.raises(type(exc)):
            parser.next_event()
        return _merge_chunks(events), err
    return _merge_chunks(events), None


def assert_invariants(
    data: bytes, limits: ParserLimits = SMALL, chunks: Iterable[int] = (1, 3, 7)
) -> Outcome:
    whole = outcome(data, None, limits)
    for chunk in chunks:
        assert outcome(data, chunk, limits) == whole, (chunk, data[:200])
    assert outcome(data, None, limits, ExactParser) == whole, data[:200]
    return whole


# --- targeted hostile inputs ---------------------------------------------------------

DEEP = 70  # beyond SMALL's and DEFAULT's nesting limits
_BS_LEAF = b'("text" "plain" NIL NIL NIL "7bit" 1 1)'

HOSTILE: list[bytes] = [
    # numbers: 30 digits, negative, zero, just above 32 bits, floats
    b"* 123456789012345678901234567890 EXISTS\r\n",
    b"* -1 EXISTS\r\n",
    b"* 99999999999 RECENT\r\n",
    b"* 0 EXPUNGE\r\n",
    b"* 0 FETCH (FLAGS ())\r\n",
    b"* 4294967296 FETCH (FLAGS ())\r\n",
    b"* 4294967296 EXPUNGE\r\n",
    b"* 1 FETCH (UID 123456789012345678901234567890)\r\n",
    b"* 1 FETCH (UID -5)\r\n",
    b"* 1 FETCH (UID 0)\r\n",
    b"* 1 FETCH (UID 1.5)\r\n",
    b"* 1 FETCH (UID 1e5)\r\n",
    b"* 1 FETCH (RFC822.SIZE -5)\r\n",
    b"* 1 FETCH (RFC822.SIZE 123456789012345678901234567890)\r\n",
    b"* 1 FETCH (MODSEQ (123456789012345678901234567890))\r\n",
    b"* 1 FETCH (MODSEQ (-1))\r\n",
    b"* 1 FETCH (BINARY.SIZE[1] 123456789012345678901234567890)\r\n",
    b"* SEARCH 1 2 123456789012345678901234567890\r\n",
    b"* SEARCH 0\r\n",
    b"* SEARCH 1 (MODSEQ -1)\r\n",
    b"* SORT 1 -2\r\n",
    b'* ESEARCH (TAG "A1") UID COUNT 123456789012345678901234567890\r\n',
    b'* ESEARCH (TAG "A1") UID ALL 0:5\r\n',
    b"* VANISHED (EARLIER) 4294967296\r\n",
    b"* STATUS x (MESSAGES 123456789012345678901234567890 UIDNEXT -1)\r\n",
    b"* OK [UIDVALIDITY 123456789012345678901234567890] x\r\n",
    b"* OK [UIDNEXT -1] x\r\n",
    b"* OK [HIGHESTMODSEQ 99999999999999999999999] x\r\n",
    b"A1 OK [COPYUID 123456789012345678901234567890 1 2] x\r\n",
    b"A1 OK [COPYUID 1 1:3 4] x\r\n",
    b"A1 OK [APPENDUID 1 0] x\r\n",
    b'* QUOTA "" (STORAGE -1 5)\r\n',
    b"* THREAD (1 0)\r\n",
    # literal announcements
    b"* 1 FETCH (BODY[] {5\r\nhello)\r\n",
    b"* 1 FETCH (BODY[] 5}\r\nhello)\r\n",
    b"* 1 FETCH (BODY[] {99999999999999999999}\r\nhello)\r\n",
    b"* 1 FETCH (BODY[] {999999999999999999999}\r\nhello)\r\n",
    b"* 1 FETCH (BODY[] {-5}\r\nhello)\r\n",
    b"* 1 FETCH (BODY[] {}\r\nhello)\r\n",
    b"* 1 FETCH (BODY[] {5}\r\nhel",  # EOF inside a held literal
    b"* 1 FETCH (BODY[] {500}\r\n" + b"x" * 100,  # EOF inside a streamed literal
    b"* 1 FETCH (BODY[] {5}",  # EOF right after the announcement
    b"* 1 FETCH (BODY[] {5}\r\n",
    b"* 1 FETCH (BODY[] ~{5}\r\nhel\x00o)\r\n",
    b'* LIST () "/" ~{5}\r\nhello\r\n',  # literal8 outside FETCH
    b"* CAPABILITY IMAP4rev1 {5}\r\nhello\r\n",
    b"* SEARCH {1}\r\n1\r\n",
    b"A1 OK {5}\r\nhello\r\n",  # status text is never a literal
    b"* OK [ALERT] {5}\r\nhello\r\n",
    b"+ {5}\r\nhello\r\n",
    b"* BYE {3}\r\nbye\r\n",
    b"* 1 FETCH (BODY[] {0}\r\n {0}\r\n)\r\n",
    b"* 1 FETCH (BODY[] {3}\r\n{3}\r\nabc)\r\n",
    # line structure
    b"\r\n",
    b"\r\r\n",
    b"\n\n\n",
    b"* OK hi\r\r\n",
    b"* OK hi\rA1 OK x\r\n",
    b"* OK hi\r",
    b"* OK hi",
    b"*\r\n",
    b"* \r\n",
    b"+\r\n",
    b"A1\r\n",
    b"A1 FOO bar\r\n",
    b"* 1 FETCH\r\n",
    b"* 1 FETCH ()\r\n",
    b"* 1 FETCH (UID)\r\n",
    b"* 1 FETCH (UID 5\r\n",
    b"* 1 FETCH (UID 5))\r\n",
    b"* 1 FETCH (UID 5) extra\r\n",
    b"* 1 FETCH (FLAGS (\\Seen)) (UID 5)\r\n",
    b"* 1 FETCH (UID 1)\r\n* 2 FETCH (UID 2)\r\n* 3 FETCH (UID 3 X)\r\n* 4 FETCH (UID 4)\r\n",
    b"* 1 FETCH (UID 1)\r\n* 2 FETCH (UID 2)\r\n* 3 FETCH (UID 0)\r\n* 4 FETCH (UID 4)\r\n",
    # 8-bit and invalid UTF-8
    b"* OK \xff\xfe\xc3\r\n",
    b"A\xff OK x\r\n",
    b"+ \xed\xa0\x80\r\n",
    b"* 1 FETCH (FLAGS (\\Seen \xff))\r\n",
    b'* 1 FETCH (ENVELOPE ("\xff" "\xc3" NIL NIL NIL NIL NIL NIL NIL "\xed\xa0\x80"))\r\n',
    b'* LIST () "/" "\xff\xfe"\r\n',
    b'* LIST (\\X) "/" "\xc3\xa9\xc3\xa9" (\r\n',
    b'* ENABLED UTF8=ACCEPT\r\n* LIST () "/" "\xff\xfe"\r\n',
    # quoted-string escapes (IMAP has only \\ and \"; JSON has more)
    b'* 1 FETCH (ENVELOPE ("a\\u0041" NIL NIL NIL NIL NIL NIL NIL NIL NIL))\r\n',
    b'* 1 FETCH (ENVELOPE ("a\\n" "\\\\u0041" NIL NIL NIL NIL NIL NIL NIL NIL))\r\n',
    b'* 1 FETCH (ENVELOPE ("a\\" NIL NIL NIL NIL NIL NIL NIL NIL NIL))\r\n',
    b'* 1 FETCH (ENVELOPE ("\x03" NIL NIL NIL NIL NIL NIL NIL NIL {1}\r\n\x03))\r\n',
    b'* 1 FETCH (ENVELOPE ("\x00\x01\x02" NaN Infinity true null nIL "NIL" NIL NIL NIL))\r\n',
    # invalid modified UTF-7 mailbox names
    b'* LIST () "/" "&Jjo"\r\n',
    b'* LIST () "/" "&AGE-"\r\n',
    b'* LIST () "/" "&-&"\r\n',
    b'* LIST () "/" "&2D3cAA-"\r\n',  # lone surrogate in UTF-16
    b'* LIST () "/" "&AOk-&AOk-"\r\n',
    b'* LSUB () "." "&ZeVnLIqe-&"\r\n',
    b'* STATUS "&Jjo" (MESSAGES 1)\r\n',
    b'* LIST () "/" "x" ("OLDNAME" ("&Jjo"))\r\n',
    b"* OK [MAILBOXID (&Jjo)] x\r\n",
    # dates
    b'* 1 FETCH (INTERNALDATE "31-Feb-2024 00:00:00 +0000")\r\n',
    b'* 1 FETCH (INTERNALDATE "01-Jan-0000 00:00:00 +0000")\r\n',
    b'* 1 FETCH (INTERNALDATE "01-Jan-2024 00:00:00 +9999")\r\n',
    b'* 1 FETCH (INTERNALDATE "01-Jan-2024 00:00:00 +2400")\r\n',
    b'* 1 FETCH (INTERNALDATE "01-Jan-2024 00:00:00 -0060")\r\n',
    b'* 1 FETCH (INTERNALDATE "01-Jan-2024 25:61:61 +0000")\r\n',
    b'* 1 FETCH (INTERNALDATE "01-Jan-2024 23:59:60 +0000")\r\n',
    b'* 1 FETCH (INTERNALDATE "01-Jan-9999 23:59:59 -2359")\r\n',
    b'* 1 FETCH (INTERNALDATE "01-Jan-0001 00:00:00 +2359")\r\n',
    b'* 1 FETCH (INTERNALDATE "99-Jan-2024 00:00:00 +0000")\r\n',
    b'* 1 FETCH (INTERNALDATE "01-Foo-2024 00:00:00 +0000")\r\n',
    b'* 1 FETCH (INTERNALDATE "\xff\xfe-Jan-2024 00:00:00 +0000")\r\n',
    b'* 1 FETCH (INTERNALDATE "")\r\n',
    b"* 1 FETCH (INTERNALDATE NIL)\r\n",
    b"* 1 FETCH (INTERNALDATE {26}\r\n01-Jan-2024 00:00:00 +0000)\r\n",
    # body structures and envelopes of the wrong shape
    b"* 1 FETCH (BODYSTRUCTURE ())\r\n",
    b"* 1 FETCH (BODYSTRUCTURE NIL)\r\n",
    b'* 1 FETCH (BODYSTRUCTURE (() "mixed"))\r\n',
    b'* 1 FETCH (BODYSTRUCTURE ("message" "rfc822" NIL NIL NIL "7bit" 12))\r\n',
    b'* 1 FETCH (BODYSTRUCTURE ("message" "rfc822" NIL NIL NIL "7bit" 12 NIL NIL 3))\r\n',
    b'* 1 FETCH (BODYSTRUCTURE ("text" "plain" ("a") NIL NIL "7bit" 1 1 NIL ("x") NIL NIL))\r\n',
    b"* 1 FETCH (ENVELOPE ())\r\n",
    b"* 1 FETCH (ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL))\r\n",
    b'* 1 FETCH (ENVELOPE (NIL NIL (("a" NIL "b")) NIL NIL NIL NIL NIL NIL NIL))\r\n',
    b'* 1 FETCH (ENVELOPE (NIL NIL ("a" NIL "b" "c") NIL NIL NIL NIL NIL NIL NIL))\r\n',
    b'* 1 FETCH (BODY[HEADER.FIELDS ("a" {1}\r\nb)] {2}\r\nxy)\r\n',
    b"* 1 FETCH (BODY[1.2.3 {5}\r\nhello)\r\n",
    b"* 1 FETCH (BODY[]<-5> {5}\r\nhello)\r\n",
    b"* 1 FETCH (BODY[]<99999999999999999999> {5}\r\nhello)\r\n",
    b"* 1 FETCH (BODY[]<5 {5}\r\nhello)\r\n",
    # response codes
    b"* OK [" + b"[" * 100 + b"] x\r\n",
    b"* OK [PERMANENTFLAGS (\\Seen" + b" (" * 100 + b")] x\r\n",
    b"* OK [ALERT x\r\n",
    b"* OK []\r\n",
    b"* OK [CAPABILITY]\r\n",
    b"* NO [BADCHARSET (" + b"(" * 100 + b")] x\r\n",
    # deep nesting in every position
    b"* THREAD " + b"(" * DEEP + b"1" + b")" * DEEP + b"\r\n",
    b"* THREAD " + b"(1 " * DEEP + b"2" + b")" * DEEP + b"\r\n",
    b"* 1 FETCH (ENVELOPE " + b"(" * DEEP + b")" * DEEP + b")\r\n",
    b"* 1 FETCH (ENVELOPE (NIL NIL "
    + b"(" * DEEP
    + b")" * DEEP
    + b" NIL NIL NIL NIL NIL NIL NIL))\r\n",
    b"* 1 FETCH (BODYSTRUCTURE " + b"(" * DEEP + _BS_LEAF + b' "mixed")' * DEEP + b")\r\n",
    b"* 1 FETCH (BODYSTRUCTURE ("
    + _BS_LEAF
    + b' "mixed" NIL NIL NIL '
    + b"(" * DEEP
    + b")" * DEEP
    + b"))\r\n",
    b"* 1 FETCH (X-UNKNOWN " + b"(" * DEEP + b")" * DEEP + b")\r\n",
    b"* 1 FETCH (FLAGS " + b"(" * DEEP + b")" * DEEP + b")\r\n",
    b'* ID ("a" ' + b"(" * DEEP + b"x" + b")" * DEEP + b")\r\n",
    b"* ID " + b"(" * DEEP + b")" * DEEP + b"\r\n",
    b'* LIST (\\X) "/" "x" ("CHILDINFO" ' + b"(" * DEEP + b")" * DEEP + b")\r\n",
    b"* LIST " + b"(" * DEEP + b")" * DEEP + b' "/" x\r\n',
    b'* NAMESPACE (("" "/" "X" ' + b"(" * DEEP + b")" * DEEP + b")) NIL NIL\r\n",
    b"* STATUS x " + b"(" * DEEP + b")" * DEEP + b"\r\n",
    b'* ESEARCH (TAG "a") FOO ' + b"(" * DEEP + b")" * DEEP + b"\r\n",
    b"* XUNKNOWN " + b"(" * DEEP + b")" * DEEP + b"\r\n",
    b"* 5 XUNKNOWN " + b"(" * DEEP + b")" * DEEP + b"\r\n",
    b"* OK [XFOO " + b"(" * DEEP + b")" * DEEP + b"] x\r\n",
    b"* QUOTAROOT x " + b"(" * DEEP + b")" * DEEP + b"\r\n",
    b"* 1 FETCH (UID 1)\r\n" + b"(" * DEEP + b"\r\n",
    # Xeams trailer lines
    b"* 1 FETCH (UID 5)\r\nUID 6 FLAGS (\\Seen))\r\n",
    b"UID 6\r\n",
]


@pytest.mark.parametrize("data", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_inputs_raise_only_parse_errors_and_split_invariantly(data: bytes) -> None:
    assert_invariants(data, SMALL)
    assert_invariants(data, DEFAULT, chunks=(1, 5))


def test_deep_nesting_is_refused_by_the_limit_not_by_recursion() -> None:
    for data in HOSTILE:
        if b"(" * DEEP not in data and b"(1 " * DEEP not in data:
            continue
        _events, err = outcome(data, limits=DEFAULT)
        if data.startswith((b"* OK [", b"* NO [")):
            continue  # a malformed response code is kept as status text (tolerated)
        assert err is not None, data[:80]


_CAP_DEPTH = 398  # just under ParserLimits' cap of 400: converters must not recurse out


@pytest.mark.parametrize(
    "data",
    [
        b"* THREAD " + b"(1 " * _CAP_DEPTH + b"2" + b")" * _CAP_DEPTH + b"\r\n",
        b"* THREAD " + b"(" * _CAP_DEPTH + b"1" + b")" * _CAP_DEPTH + b"\r\n",
        b"* 1 FETCH (BODYSTRUCTURE "
        + b"(" * (_CAP_DEPTH - 2)
        + _BS_LEAF
        + b' "mixed")' * (_CAP_DEPTH - 2)
        + b")\r\n",
        b"* 1 FETCH (X-FOO " + b"(" * (_CAP_DEPTH - 1) + b")" * (_CAP_DEPTH - 1) + b")\r\n",
        b"* XFOO " + b"(" * _CAP_DEPTH + b")" * _CAP_DEPTH + b"\r\n",
        b'* LIST () "/" x ("FOO" ' + b"(" * (_CAP_DEPTH - 1) + b")" * (_CAP_DEPTH - 1) + b")\r\n",
        b"* OK [FOO " + b"(" * _CAP_DEPTH + b")" * _CAP_DEPTH + b"] x\r\n",
    ],
    ids=[
        "thread-chain",
        "thread-parens",
        "bodystructure",
        "fetch-unknown",
        "unknown",
        "list-ext",
        "code",
    ],
)
def test_nesting_at_the_maximum_configurable_depth(data: bytes) -> None:
    limits = ParserLimits(max_nesting_depth=400)
    _events, err = outcome(data, limits=limits)
    assert err is None or err[0] in ("ResponseParseError", "LimitExceededError")


# --- Hypothesis: targeted mutations of valid responses --------------------------------

SAMPLES = [b.data for b in all_rfc_blocks() + all_quirk_blocks()]
_INSERTS = [
    b"123456789012345678901234567890",
    b"-1",
    b"0",
    b"4294967296",
    b"{",
    b"}",
    b"{5}\r\n",
    b"{99999999999999999999}\r\n",
    b"~{5}\r\n",
    b"{0}\r\n",
    b"(" * 40,
    b")" * 40,
    b"(" * DEEP,
    b"\r",
    b"\n",
    b"\r\r\n",
    b"\x00",
    b"\xff\xfe",
    b"\xc3",
    b"\xed\xa0\x80",
    b'"',
    b"\\",
    b"[",
    b"]",
    b"<",
    b"NIL",
    b"&Jjo",
    b"* 1 FETCH (",
    b"A1 OK ",
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SAMPLES),
    st.lists(
        st.tuples(st.integers(0, 10_000), st.booleans(), st.sampled_from(_INSERTS)),
        min_size=1,
        max_size=4,
    ),
    st.integers(1, 40),
)
def test_mutations_raise_only_parse_errors_and_split_invariantly(
    sample: bytes, edits: list[tuple[int, bool, bytes]], chunk: int
) -> None:
    data = bytearray(sample)
    for pos, replace, piece in edits:
        pos %= len(data) + 1
        if replace:
            # replace the run of digits (or one byte) at pos: aims at numbers
            end = pos
            while end < len(data) and data[end : end + 1].isdigit():
                end += 1
            data[pos : max(end, pos + 1)] = piece
        else:
            data[pos:pos] = piece
    mutated = bytes(data)
    whole = outcome(mutated, None, SMALL)
    assert outcome(mutated, chunk, SMALL) == whole
    assert outcome(mutated, 1, SMALL) == whole
    assert outcome(mutated, None, SMALL, ExactParser) == whole


# --- specific semantics ------------------------------------------------------------


def test_invalid_modified_utf7_in_list_keeps_the_raw_bytes() -> None:
    """Decision: an invalid or non-canonical modified UTF-7 name must not crash or
    fail the whole LIST; the raw bytes are kept in ``mailbox_raw`` so that the
    caller can still tell mailboxes apart."""
    for raw in (b"&Jjo", b"&AGE-", b"&-&", b"&2D3cAA-", b"&AOk-&AOk-", b"\xff"):
        events, err = outcome(b'* LIST () "/" "' + raw + b'"\r\n')
        assert err is None
        (ev,) = events
        assert isinstance(ev, ListResponse)
        assert ev.mailbox_raw == raw


def test_dotless_i_inbox_is_not_inbox_in_list() -> None:
    events, err = outcome(b'* LIST () "/" "&ATE-nbox"\r\n* LIST () "/" inbox\r\n')
    assert err is None
    assert [e.mailbox for e in events] == ["\u0131nbox", "INBOX"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "date",
    [
        b"31-Feb-2024 00:00:00 +0000",
        b"01-Jan-0000 00:00:00 +0000",
        b"01-Jan-2024 00:00:00 +9999",
        b"01-Jan-2024 24:00:00 +0000",
        b"01-Jan-2024 00:60:00 +0000",
        b"00-Jan-2024 00:00:00 +0000",
    ],
)
def test_internaldate_out_of_range_is_a_parse_error(date: bytes) -> None:
    _events, err = outcome(b'* 1 FETCH (INTERNALDATE "' + date + b'")\r\n')
    assert err is not None
    assert err[0] == "ResponseParseError"


def test_internaldate_extremes_that_are_valid() -> None:
    events, err = outcome(
        b'* 1 FETCH (INTERNALDATE "01-Jan-0001 00:00:00 +2359")\r\n'
        b'* 2 FETCH (INTERNALDATE "31-Dec-9999 23:59:59 -2359")\r\n'
        b'* 3 FETCH (INTERNALDATE "29-Feb-2024 12:00:00 +0530")\r\n'
    )
    assert err is None
    dates = [e.items["INTERNALDATE"] for e in events]  # type: ignore[attr-defined]
    assert dates[2] == datetime.datetime(
        2024, 2, 29, 12, tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30))
    )


def test_literal_announcement_then_eof() -> None:
    for data in (
        b"* 1 FETCH (BODY[] {5}\r\n",
        b"* 1 FETCH (BODY[] {5}",
        b'* LIST () "/" {3}\r\nab',
    ):
        _events, err = outcome(data)
        assert err is not None
        assert err[0] == "ResponseParseError"


def test_ten_megabyte_line_with_small_limits() -> None:
    data = b"* OK " + b"x" * (10 * 1024 * 1024) + b"\r\n"
    parser = ResponseParser(SMALL, expect_greeting=False)
    error: LimitExceededError | None = None
    for i in range(0, len(data), 65536):
        parser.feed(data[i : i + 65536])
        try:
            assert parser.next_event() is None
        except LimitExceededError as exc:
            error = exc
            break
    assert error is not None
    assert error.limit_name == "max_line_length"
    assert parser.buffered <= SMALL.max_line_length + 65536


# --- take_unparsed after STARTTLS and COMPRESS -----------------------------------------


@pytest.mark.parametrize("chunk", [None, 1, 5])
@pytest.mark.parametrize(
    ("before", "ok", "after"),
    [
        (b"", b"A1 OK Begin TLS negotiation now\r\n", b"* 1 FETCH (UID 666)\r\nA2 OK injected\r\n"),
        (
            b"",
            b"A1 OK [CAPABILITY IMAP4rev1] go\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        ),
        (
            b"* 1 FETCH (UID 1)\r\n* 2 FETCH (UID 2)\r\n",
            b"A2 OK DEFLATE active\r\n",
            b"x\x9c\xca\xcd\r\n{5}\r\n\x00",
        ),
        (b"* CAPABILITY IMAP4rev1\r\n", b"A2 OK DEFLATE active\n", b"\r\n* OK"),
        (b"", b"A3 OK done\r\n", b""),
    ],
)
def test_take_unparsed_returns_exactly_the_bytes_after_the_tagged_ok(
    before: bytes, ok: bytes, after: bytes, chunk: int | None
) -> None:
    data = before + ok + after
    parser = ResponseParser(SMALL, expect_greeting=False)
    step = chunk or len(data)
    events: list[object] = []
    fed = 0
    for i in range(0, len(data), step):
        parser.feed(data[i : i + step])
        fed = i + step
        while (ev := parser.next_event()) is not None:
            events.append(ev)
            if isinstance(ev, TaggedResponse):
                break
        if events and isinstance(events[-1], TaggedResponse):
            break
    assert isinstance(events[-1], TaggedResponse)
    assert all(
        isinstance(e, FetchResponse) or not isinstance(e, TaggedResponse) for e in events[:-1]
    )
    rest = parser.take_unparsed() + data[fed:]
    assert rest == after
    assert parser.offset == len(before) + len(ok) + min(
        len(after), max(0, fed - len(before) - len(ok))
    )


# --- differential: IMAPClient's parser ------------------------------------------------

_astr = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12)


def _q(s: str | None) -> bytes:
    if s is None:
        return b"NIL"
    return b'"' + s.replace("\\", "\\\\").replace('"', '\\"').encode() + b'"'


addresses = st.lists(st.tuples(st.none() | _astr, _astr, _astr), min_size=0, max_size=3)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@st.composite
def fetch_lines(draw: st.DrawFn) -> tuple[bytes, dict[str, Any]]:
    items: list[bytes] = []
    want: dict[str, Any] = {}
    names = draw(
        st.lists(
            st.sampled_from(
                ["UID", "FLAGS", "RFC822.SIZE", "INTERNALDATE", "ENVELOPE", "BODYSTRUCTURE"]
            ),
            min_size=1,
            max_size=6,
            unique=True,
        )
    )
    for name in names:
        if name == "UID":
            v = draw(st.integers(1, 0xFFFFFFFF))
            items.append(b"UID %d" % v)
            want[name] = v
        elif name == "FLAGS":
            flags = draw(
                st.lists(
                    st.sampled_from(
                        ["\\Seen", "\\Answered", "\\Deleted", "$Forwarded", "Junk", "x.y"]
                    ),
                    unique=True,
                    max_size=4,
                )
            )
            items.append(b"FLAGS (" + " ".join(flags).encode() + b")")
            want[name] = tuple(flags)
        elif name == "RFC822.SIZE":
            v = draw(st.integers(0, 2**31))
            items.append(b"RFC822.SIZE %d" % v)
            want[name] = v
        elif name == "INTERNALDATE":
            d = draw(
                st.datetimes(
                    min_value=datetime.datetime(1970, 1, 2),
                    max_value=datetime.datetime(2099, 12, 30),
                )
            )
            tz = draw(st.integers(-12 * 60, 14 * 60))
            sign = "+" if tz >= 0 else "-"
            text = f"{d.day:2d}-{_MONTHS[d.month - 1]}-{d.year:04d} {d:%H:%M:%S} {sign}{abs(tz) // 60:02d}{abs(tz) % 60:02d}"
            items.append(b'INTERNALDATE "' + text.encode() + b'"')
            want[name] = d.replace(
                microsecond=0, tzinfo=datetime.timezone(datetime.timedelta(minutes=tz))
            )
        elif name == "ENVELOPE":
            subject = draw(st.none() | _astr)
            frm = draw(addresses)
            msgid = draw(st.none() | _astr)
            alist = (
                b"NIL"
                if not frm
                else b"("
                + b"".join(b"(" + _q(n) + b" NIL " + _q(m) + b" " + _q(h) + b")" for n, m, h in frm)
                + b")"
            )
            items.append(
                b"ENVELOPE (NIL "
                + _q(subject)
                + b" "
                + alist
                + b" NIL NIL NIL NIL NIL NIL "
                + _q(msgid)
                + b")"
            )
            want[name] = (subject, tuple(frm), msgid)
        else:
            sub = draw(st.sampled_from(["plain", "html"]))
            size = draw(st.integers(0, 10**6))
            lines = draw(st.integers(0, 10**4))
            cs = draw(_astr)
            items.append(
                b'BODYSTRUCTURE ("text" "'
                + sub.encode()
                + b'" ("charset" '
                + _q(cs)
                + b') NIL NIL "7bit" %d %d)' % (size, lines)
            )
            want[name] = ("text", sub, (("charset", cs),), size, lines)
    seq = draw(st.integers(1, 0xFFFFFFFF))
    return b"%d (" % seq + b" ".join(items) + b")", {"SEQ": seq, **want}


def _b(v: object) -> object:
    return v.decode() if isinstance(v, bytes) else v


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fetch_lines())
def test_differential_against_imapclient(case: tuple[bytes, dict[str, Any]]) -> None:
    line, want = case
    ours_events, err = outcome(
        b"* " + line.replace(b" (", b" FETCH (", 1) + b"\r\n", limits=DEFAULT
    )
    assert err is None
    (ours,) = ours_events
    assert isinstance(ours, FetchResponse)
    theirs = parse_fetch_response([line], normalise_times=False, uid_is_key=False)
    msg: Any
    (msg,) = theirs.values()
    assert ours.seq == msg[b"SEQ"] == want["SEQ"]
    items: Any = ours.items
    for name in want:
        if name == "SEQ":
            continue
        key = name.encode()
        if name == "UID":
            assert items["UID"] == msg[key] == want[name]
        elif name == "FLAGS":
            assert tuple(items["FLAGS"]) == tuple(_b(f) for f in msg[key]) == want[name]
        elif name == "RFC822.SIZE":
            assert items[name] == msg[key] == want[name]
        elif name == "INTERNALDATE":
            assert items[name] == msg[key] == want[name]
            assert items[name].utcoffset() == msg[key].utcoffset()
        elif name == "ENVELOPE":
            env = items[name]
            ic = msg[key]
            subject, frm, msgid = want[name]
            assert env.subject == _b(ic.subject) == subject
            assert env.message_id == _b(ic.message_id) == msgid
            ours_from = tuple((a.name, a.mailbox, a.host) for a in env.from_)
            theirs_from = tuple((_b(a.name), _b(a.mailbox), _b(a.host)) for a in ic.from_ or ())
            assert ours_from == theirs_from == frm
        else:
            bs = items[name]
            ic = msg[key]
            typ, sub, params, size, lines = want[name]
            assert (bs.type, bs.subtype, bs.size, bs.lines) == (typ, sub, size, lines)
            assert (_b(ic[0]), _b(ic[1]), ic[6], ic[7]) == (typ, sub, size, lines)
            assert bs.params == params == tuple(zip(*[iter(_b(x) for x in ic[2])] * 2, strict=True))


# --- parser bugs found in review (were strict xfails; fixed, now regression tests) ---


@pytest.mark.parametrize("kind", [b"EXISTS", b"RECENT"])
def test_exists_above_32_bits_is_a_parse_error(kind: bytes) -> None:
    _events, err = outcome(b"* 4294967296 " + kind + b"\r\n")
    assert err is not None
    assert err[0] == "ResponseParseError"


def test_exists_at_32_bit_maximum_is_accepted() -> None:
    events, err = outcome(b"* 4294967295 EXISTS\r\n")
    assert err is None
    assert events == [ExistsResponse(4294967295)]


@pytest.mark.parametrize(
    "date",
    [
        "\u0661-Jan-2024 00:00:00 +0000",
        "01-Jan-\u0661\u0661\u0661\u0661 00:00:00 +0000",
        "01-Jan-2024 \u0661\u0661:00:00 +0000",
    ],
)
def test_internaldate_non_ascii_digits_are_a_parse_error(date: str) -> None:
    _events, err = outcome(b'* 1 FETCH (INTERNALDATE "' + date.encode() + b'")\r\n')
    assert err is not None
    assert err[0] == "ResponseParseError"


@pytest.mark.parametrize("between", [b"A1 OK done\r\n", b"* 3 EXISTS\r\n", b"* OK still here\r\n"])
def test_fetch_trailer_only_right_after_a_fetch(between: bytes) -> None:
    events, err = outcome(b"* 1 FETCH (UID 5)\r\n" + between + b"UID 6 FLAGS (\\Deleted)\r\n")
    assert err is not None, events


def test_fetch_trailer_right_after_a_fetch_still_works() -> None:
    events, err = outcome(b"* 1 FETCH (BODY[] {2}\r\nhi)\r\nUID 6 FLAGS (\\Seen)\r\n")
    assert err is None
    assert [type(e) for e in events] == [FetchResponse, FetchResponse]


def test_line_limit_error_offset_is_split_invariant() -> None:
    data = b"* OK " + b"x" * 20000 + b"\r\n"
    offsets = {outcome(data, chunk)[1] for chunk in (None, 1, 1000)}
    assert len(offsets) == 1, offsets
