"""Regression tests for the protocol-core fixes of issue 2's review round.

ESORT order, 32-bit message numbers, ASCII-only digits, the Xeams trailer
scope, split-invariant limit offsets, Secret of a lone surrogate, raw mailbox
names, the fast path's error containment, the line budget's tag length, and
error offsets at the offending FETCH item.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeimap.errors import InvalidArgumentError, LimitExceededError, ResponseParseError
from pipeimap.protocol import _commands as c
from pipeimap.protocol._command_parser import decode_astring
from pipeimap.protocol._limits import ParserLimits
from pipeimap.protocol._parse_fetch import normalize_fetch_item_name
from pipeimap.protocol._parser import ResponseParser
from pipeimap.protocol._response_writer import encode_response as write_response
from pipeimap.protocol._responses import (
    BodyPart,
    ESearchResponse,
    ExistsResponse,
    FetchResponse,
    ListResponse,
    ordered_runs,
)
from pipeimap.protocol._seqset import SeqSet, UIDSet
from pipeimap.protocol._serializer import (
    EncodeOptions,
    LiteralMode,
    describe_encoding,
    serialize,
    split_command,
)
from pipeimap.protocol._types import RawMailbox, Secret
from tests.protocol.test_review_injection import read_back


def parse(data: bytes, limits: ParserLimits | None = None) -> list[object]:
    p = ResponseParser(limits, expect_greeting=False)
    p.feed(data)
    return list(p.events())


def error(data: bytes, limits: ParserLimits | None = None) -> ResponseParseError:
    with pytest.raises(ResponseParseError) as info:
        parse(data, limits)
    return info.value


# --- 1. ESORT ---------------------------------------------------------------------


def test_esort_order_kept_and_all_unchanged() -> None:
    (ev,) = parse(b'* ESEARCH (TAG "a") UID ALL 5,3,2,1,9:11,20:18\r\n')
    assert isinstance(ev, ESearchResponse)
    assert ev.all == UIDSet(1, 2, 3, 5, 9, 10, 11, 18, 19, 20)
    assert list(ev.all_in_order()) == [5, 3, 2, 1, 9, 10, 11, 20, 19, 18]


def test_esearch_ascending_all_equals_a_constructed_one() -> None:
    (ev,) = parse(b'* ESEARCH (TAG "a") UID ALL 2,10,11\r\n')
    assert ev == ESearchResponse("a", True, all=UIDSet(2, 10, 11))


def test_esearch_all_with_star_has_no_order() -> None:
    (ev,) = parse(b"* ESEARCH ALL 1:*\r\n")
    assert isinstance(ev, ESearchResponse)
    assert ev.all == SeqSet.all()
    assert ev.all_ordered is None


def test_all_in_order_is_lazy() -> None:
    (ev,) = parse(b"* ESEARCH ALL 4294967295:1\r\n")
    assert isinstance(ev, ESearchResponse)
    it = ev.all_in_order()
    assert [next(it), next(it)] == [4294967295, 4294967294]


@given(st.lists(st.integers(1, 40), min_size=1, max_size=12))
@settings(max_examples=200, deadline=None)
def test_esort_round_trip_through_the_writer(numbers: list[int]) -> None:
    text = ",".join(map(str, numbers)).encode()
    (ev,) = parse(b'* ESEARCH (TAG "t") ALL ' + text + b"\r\n")
    assert isinstance(ev, ESearchResponse)
    assert list(ev.all_in_order()) == numbers
    (again,) = parse(write_response(ev))
    assert again == ev


def test_writer_refuses_an_order_that_is_not_the_set() -> None:
    bad = ESearchResponse("t", False, all=SeqSet(1, 2), all_ordered=((2, 2), (3, 3)))
    with pytest.raises(InvalidArgumentError):
        write_response(bad)
    with pytest.raises(InvalidArgumentError):
        write_response(ESearchResponse("t", False, all_ordered=((1, 1),)))


def test_ordered_runs() -> None:
    assert ordered_runs([(5, 5), (4, 4), (6, 6), (7, 9)]) == ((5, 4), (6, 9))
    assert ordered_runs([(1, 1), (1, 1)]) == ((1, 1), (1, 1))


# --- 2. 32-bit numbers ------------------------------------------------------------


@pytest.mark.parametrize("kind", [b"EXISTS", b"RECENT", b"EXPUNGE", b"FETCH (UID 1)"])
def test_message_numbers_above_32_bits(kind: bytes) -> None:
    err = error(b"* 1 EXISTS\r\n* 4294967296 " + kind + b"\r\n")
    assert err.offset == len(b"* 1 EXISTS\r\n* ")


def test_exists_at_the_32_bit_limit() -> None:
    assert parse(b"* 4294967295 EXISTS\r\n") == [ExistsResponse(4294967295)]


# --- 3. ASCII digits only -----------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "* 1 FETCH (RFC822.SIZE \u0661\u0662)",
        "* 1 FETCH (UID \u0661)",
        "* 1 FETCH (MODSEQ (\u0661))",
        "* 1 FETCH (BINARY.SIZE[1] \u0661)",
        "* STATUS x (MESSAGES \u0661)",
        "* SEARCH 1 \u0662",
        "* ESEARCH COUNT \u0663",
        "* OK [UIDNEXT \u0663] x",
        '* QUOTA "" (STORAGE \u0661 2)',
        '* 1 FETCH (INTERNALDATE "01-Jan-2024 00:00:00 +\u0661\u0662\u0660\u0660")',
    ],
)
def test_non_ascii_digits_are_refused(line: str) -> None:
    error(line.encode() + b"\r\n")


def test_non_ascii_digits_in_item_names_are_not_numbers() -> None:
    assert normalize_fetch_item_name("BODY[]<\u0661>") == "BODY[]<\u0661>"
    assert normalize_fetch_item_name("BODY[]<1>") == "BODY[]<1>"


def test_non_ascii_digit_in_a_body_size_is_not_a_size() -> None:
    (ev,) = parse(b'* 1 FETCH (BODY ("TEXT" "PLAIN" NIL NIL NIL "7BIT" \xd9\xa1 2))\r\n')
    assert isinstance(ev, FetchResponse)
    body = ev.items["BODY"]
    assert isinstance(body, BodyPart)
    assert body.size is None


# --- 4. the Xeams trailer ---------------------------------------------------------


def test_trailer_after_a_streamed_fetch_still_works() -> None:
    limits = ParserLimits(stream_threshold=4)
    events = parse(b"* 1 FETCH (BODY[] {10}\r\n0123456789)\r\nUID 6\r\n", limits)
    assert isinstance(events[-1], FetchResponse)
    assert events[-1].uid == 6


def test_trailer_after_a_fast_path_fetch() -> None:
    events = parse(b"* 1 FETCH (UID 5 FLAGS ())\r\n* 2 FETCH (UID 7)\r\nUID 8\r\n")
    assert [e.uid for e in events if isinstance(e, FetchResponse)] == [5, 7, 8]


def test_no_trailer_after_an_exists() -> None:
    error(b"* 1 FETCH (UID 5)\r\n* 2 EXISTS\r\nUID 6\r\n")


# --- 5. split-invariant limit offsets ----------------------------------------------


@given(st.integers(0, 300), st.lists(st.integers(1, 200), min_size=1, max_size=40))
@settings(max_examples=100, deadline=None)
def test_line_limit_offset_and_excerpt_split_invariant(prefix: int, cuts: list[int]) -> None:
    limits = ParserLimits(max_line_length=64)
    data = b"* OK fine\r\n" * (prefix % 3) + b"A1 OK " + b"y" * 200 + b"\r\n"
    whole = error(data, limits)
    assert isinstance(whole, LimitExceededError)
    p = ResponseParser(limits, expect_greeting=False)
    pos = 0
    got: ResponseParseError | None = None
    for n in itertools.cycle(cuts):
        p.feed(data[pos : pos + n])
        pos += n
        try:
            list(p.events())
        except ResponseParseError as exc:
            got = exc
            break
        if pos >= len(data):
            break
    assert got is not None
    assert (got.offset, str(got)) == (whole.offset, str(whole))
    start = data.index(b"A1 OK")
    assert whole.offset == start + 64


# --- 6. Secret ------------------------------------------------------------------------


def test_secret_of_a_lone_surrogate() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        Secret("ab\udc80")
    assert "\\udc80" not in str(info.value)


# --- 7. raw mailbox names ------------------------------------------------------------


def _listed(line: bytes) -> ListResponse:
    (ev,) = parse(line)
    assert isinstance(ev, ListResponse)
    return ev


@pytest.mark.parametrize(
    "line",
    [b'* LIST () "/" &Jjo\r\n', b'* LIST () "/" "&AGE-"\r\n', b'* LIST () "/" {4}\r\n&Jj\xff\r\n'],
)
def test_non_canonical_listed_names_are_selectable(line: bytes) -> None:
    listed = _listed(line)
    name = listed.raw_mailbox
    assert name == listed.mailbox  # still the same str
    assert RawMailbox.from_list(listed) == name
    for opts in (EncodeOptions(), EncodeOptions(literal_mode=LiteralMode.LITERAL_PLUS)):
        for cmd in (c.Select(name), c.Status(name, ("MESSAGES",)), c.Delete(name)):
            wire = b"".join(f.data for f in serialize("A1", cmd, opts))
            assert listed.mailbox_raw in wire
    # The str spelling is re-encoded into other bytes (or refused): the bug this fixes.
    try:
        str_wire = serialize("A1", c.Select(listed.mailbox))[0].data
    except InvalidArgumentError:
        return
    assert listed.mailbox_raw not in str_wire


def test_str_mailbox_api_unchanged() -> None:
    wire = serialize("A1", c.Select("Entw\u00fcrfe"))
    assert wire[0].data == b"A1 SELECT Entw&APw-rfe\r\n"


_RAW = st.one_of(
    st.binary(max_size=24),
    st.lists(
        st.sampled_from(
            [
                b"\r\n",
                b"A2 LOGOUT",
                b'"',
                b"\\",
                b"{5}",
                b"{5+}\r\n",
                b"(",
                b")",
                b"NIL",
                b"inbox",
                b"&",
                b"\xff",
                b" ",
                b"%",
                b"*",
                b"]",
                b"[",
            ]
        ),
        max_size=6,
    ).map(b"".join),
)


@given(
    _RAW,
    st.sampled_from(
        [
            EncodeOptions(),
            EncodeOptions(literal_mode=LiteralMode.LITERAL_PLUS),
            EncodeOptions(literal_mode=LiteralMode.LITERAL_MINUS, max_quoted=4),
            EncodeOptions(utf8_accept=True, literal_mode=LiteralMode.LITERAL_PLUS),
        ]
    ),
)
@settings(max_examples=300, deadline=None)
def test_raw_mailbox_injection(raw: bytes, opts: EncodeOptions) -> None:
    """Hostile raw names: one command, CR/LF/NUL only inside literals, and the
    mailbox argument reads back as exactly the raw bytes (or INBOX)."""
    try:
        name = RawMailbox(raw)
    except InvalidArgumentError:
        assert b"\x00" in raw
        return
    cmds: list[c.Command] = [c.Select(name), c.Rename(name, name), c.Copy(UIDSet(1), name)]
    for cmd in cmds:
        parsed = read_back(cmd, opts)
        want = b"INBOX" if raw.upper() == b"INBOX" else raw
        assert decode_astring(parsed.args[-1]) == want
    # LIST patterns: a list-mailbox, read back by the same strict reader.
    read_back(c.List("", (name,)), opts)


def test_raw_mailbox_refuses_nul_and_non_bytes() -> None:
    with pytest.raises(InvalidArgumentError):
        RawMailbox(b"a\x00b")
    with pytest.raises(InvalidArgumentError):
        RawMailbox("text")  # type: ignore[arg-type]


def test_raw_inbox_is_inbox() -> None:
    assert serialize("A1", c.Select(RawMailbox(b"inbox")))[0].data == b"A1 SELECT INBOX\r\n"


# --- 8. fast path containment, line budget, error offsets -----------------------------


def test_fast_path_exception_never_escapes(monkeypatch: pytest.MonkeyPatch) -> None:
    import pipeimap.protocol._parser as parser_mod

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("fast path bug")

    monkeypatch.setattr(parser_mod, "lex_fetch_batch", boom)
    events = parse(b"* 1 FETCH (UID 5)\r\n* 2 FETCH (UID 6)\r\n* 3 FETCH (UID 7)\r\n")
    assert [e.uid for e in events if isinstance(e, FetchResponse)] == [5, 6, 7]
    err = error(b"* 1 FETCH (UID 5)\r\n* 2 FETCH (UID x)\r\n")
    assert err.offset == len(b"* 1 FETCH (UID 5)\r\n* 2 FETCH (")


def test_fast_path_exception_in_peek(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeimap.protocol._framing import Framer

    def boom(self: Framer, n: int) -> None:
        raise KeyError("peek bug")

    monkeypatch.setattr(Framer, "peek_fetch_batch", boom)
    events = parse(b"* 1 FETCH (UID 5)\r\n* 2 FETCH (UID 6)\r\n")
    assert [e.uid for e in events if isinstance(e, FetchResponse)] == [5, 6]


@pytest.mark.parametrize("tag_length", [5, 12, 32])
def test_split_command_budget_counts_the_real_tag(tag_length: int) -> None:
    big = UIDSet(*range(1, 40000, 2))
    cmd = c.Fetch(big, (c.FetchItem("FLAGS"),))
    tag = "T" * tag_length
    for part in split_command(cmd, 1000, tag_length=tag_length):
        assert describe_encoding(part, tag=tag).max_line <= 1000


def test_split_command_default_allows_long_tags() -> None:
    big = UIDSet(*range(1, 40000, 2))
    cmd = c.Fetch(big, (c.FetchItem("FLAGS"),))
    for part in split_command(cmd, 1000):
        assert describe_encoding(part, tag="A" * 32).max_line <= 1000
    with pytest.raises(InvalidArgumentError):
        split_command(cmd, 1000, tag_length=0)


def test_a_command_at_the_limit_with_a_long_tag_is_split() -> None:
    cmd = c.Fetch(UIDSet(*range(1, 400, 2)), (c.FetchItem("FLAGS"),))
    exact = describe_encoding(cmd).max_line  # with a 5-octet tag
    assert split_command(cmd, exact, tag_length=5) == (cmd,)
    assert len(split_command(cmd, exact, tag_length=6)) > 1


@pytest.mark.parametrize(
    ("data", "at"),
    [
        (b'* 3 FETCH (UID 5 ENVELOPE ("d" NIL))\r\n', b"ENVELOPE"),
        (b"* 3 FETCH (UID 5 FLAGS (\\Seen) RFC822.SIZE big)\r\n", b"RFC822.SIZE"),
        (b'* 3 FETCH (FLAGS () INTERNALDATE "x" UID 5)\r\n', b"INTERNALDATE"),
        (b"* 3 FETCH (BODY[] {2}\r\nhi UID 0)\r\n", b"UID 0"),
        (b'* 3 FETCH (UID 5 BODY ("TEXT" "PLAIN" NIL NIL NIL "7BIT" 3) MODSEQ (z))\r\n', b"MODSEQ"),
    ],
)
def test_semantic_errors_point_at_the_item(data: bytes, at: bytes) -> None:
    whole = b"* 1 EXISTS\r\n" + data
    err = error(whole)
    assert err.offset == whole.index(at)


def test_data_errors_point_after_the_keyword() -> None:
    whole = b"* 1 EXISTS\r\n* STATUS INBOX (MESSAGES x)\r\n"
    assert error(whole).offset == whole.index(b"INBOX")


def test_item_names_fold_ascii_case_only() -> None:
    from pipeimap.protocol import normalize_fetch_item_name

    assert normalize_fetch_item_name("flags") == "FLAGS"
    assert normalize_fetch_item_name("FLAG\u017f") != "FLAGS"  # LATIN SMALL LETTER LONG S
    assert normalize_fetch_item_name("\ufb02ags") != "FLAGS"  # LATIN SMALL LIGATURE FL
