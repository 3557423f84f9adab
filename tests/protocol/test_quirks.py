# mypy: disable-error-code="union-attr"
"""Real-server deviations the parser tolerates (or refuses on purpose), each named."""

from __future__ import annotations

import pytest

from pipeimap.errors import ResponseParseError
from pipeimap.protocol._codes import NumberCode, ResponseCode
from pipeimap.protocol._responses import (
    BodyPart,
    ContinuationRequest,
    ExistsResponse,
    FetchResponse,
    FlagsResponse,
    MultipartBody,
    RecentResponse,
    SearchResponse,
    TaggedResponse,
    UntaggedStatus,
)
from pipeimap.protocol._types import UID, Flag, SeqNum
from tests.data.corpus import CorpusBlock, all_quirk_blocks
from tests.protocol.test_parser import _REFUSED, parse_all, parse_error, parse_one

QUIRK_BLOCKS = all_quirk_blocks()


@pytest.mark.parametrize("block", QUIRK_BLOCKS, ids=[b.id for b in QUIRK_BLOCKS])
def test_quirk_corpus(block: CorpusBlock) -> None:
    greeting = block.data.startswith(b"* OK") and b"Server" in block.lines[0]
    if block.id in _REFUSED:
        with pytest.raises(ResponseParseError):
            parse_all(block.data, expect_greeting=greeting)
    else:
        assert parse_all(block.data, expect_greeting=greeting)


def test_gmail_still_here_during_idle() -> None:
    # mjs/imapclient #351
    assert parse_one(b"+ Still here\r\n") == ContinuationRequest("Still here", None, None)


def test_lowercase_keywords() -> None:
    # David.fx "* 3 Recent" (MailKit #422); lowercase status and fetch items seen widely
    assert parse_all(b"* 3 Recent\r\n* ok hi\r\na1 ok done\r\n") == [
        RecentResponse(3),
        UntaggedStatus("OK", None, "hi"),
        TaggedResponse("a1", "OK", None, "done"),
    ]
    ev = parse_one(b"* 1 fetch (uid 5 flags (\\seen) rfc822.size 3)\r\n")
    assert isinstance(ev, FetchResponse)
    assert ev.uid == UID(5)
    assert ev.items.flags == (Flag.SEEN,)
    assert ev.items.rfc822_size == 3


def test_status_without_text() -> None:
    assert parse_one(b"A1 OK\r\n") == TaggedResponse("A1", "OK", None, "")
    assert parse_one(b"* OK [UIDNEXT 5]\r\n") == UntaggedStatus(
        "OK", NumberCode("UIDNEXT", b"5", 5), ""
    )
    assert parse_one(b"A1 OK [READ-ONLY]\r\n") == TaggedResponse(
        "A1", "OK", ResponseCode("READ-ONLY", b""), ""
    )


def test_flag_list_oddities() -> None:
    # "]" inside a flag list; "\*" outside PERMANENTFLAGS
    ev = parse_one(b"* FLAGS (\\Seen foo] \\*)\r\n")
    assert ev == FlagsResponse((Flag.SEEN, str.__new__(Flag, "foo]"), Flag.WILDCARD))
    ev = parse_one(b"* 1 FETCH (FLAGS (\\Seen foo]))\r\n")
    assert ev.items.flags == (Flag.SEEN, "foo]")


def test_spaces_missing_or_doubled() -> None:
    # davmail #454 (double space before RFC822.HEADER), go-imap #452/#657 (Outlook:
    # missing spaces), jakartaee/mail-api #209 (imap.qq.com: space before ")")
    ev = parse_one(b"* 1 FETCH (UID 1989 FLAGS (\\Seen)  RFC822.HEADER {3}\r\nabc)\r\n")
    assert ev.items["RFC822.HEADER"] == b"abc"
    ev = parse_one(
        b'* 1 FETCH (FLAGS (\\Seen)UID 5 ENVELOPE ("d""s"(("n" NIL "m" "h"))'
        b" NIL NIL NIL NIL NIL NIL NIL))\r\n"
    )
    assert ev.uid == UID(5)
    assert ev.items.envelope.from_[0].name == "n"
    assert ev.items.envelope.subject == "s"
    assert parse_one(b"* 11487 FETCH (UID 19436 )\r\n").uid == UID(19436)
    # Yahoo: trailing space after SEARCH (imap_tools #97)
    assert parse_one(b"* SEARCH 7456 \r\n") == SearchResponse((7456,))


def test_8bit_in_quoted_strings_and_list_names() -> None:
    ev = parse_one(b'* LIST () "/" "Entw\xc3\xbcrfe"\r\n')
    assert ev.mailbox == "Entw\xfcrfe"


def test_split_fetch_lines_are_separate_events() -> None:
    # RFC 2683 section 3.4.4; Cocoanetics/SwiftMail PR #175
    events = parse_all(b"* 1 FETCH (UID 5)\r\n* 1 FETCH (FLAGS (\\Seen))\r\n")
    assert [type(e) for e in events] == [FetchResponse, FetchResponse]
    assert events[1].uid is None
    assert events[1].items.flags == (Flag.SEEN,)


def test_office365_uid_flags_appended_after_literal() -> None:
    # qnikst/HaskellNet #15: "UID nn FLAGS (\Seen)" right after the literal, no space
    ev = parse_one(b"* 3 FETCH (BODY[] {7}\r\nhello\r\nUID 12 FLAGS (\\Seen))\r\n")
    assert isinstance(ev, FetchResponse)
    assert ev.items["BODY[]"] == b"hello\r\n"
    assert ev.uid == UID(12)


def test_icloud_fetch_rfc822_without_item() -> None:
    # mjs/imapclient #465: the response lacks the RFC822 item; finding the gap is the router's job
    ev = parse_one(b"* 1 FETCH (UID 3 FLAGS (\\Seen))\r\n")
    assert "RFC822" not in ev.items


def test_xeams_closes_fetch_early() -> None:
    # paperless-ngx #13412: remaining items arrive on a line of their own
    events = parse_all(
        b"* 57304 FETCH (UID 60990 BODY[] {5}\r\nhello)\r\n FLAGS (\\Seen) RFC822.SIZE 5)\r\n"
        b"A6 OK UID completed\r\n"
    )
    assert isinstance(events[0], FetchResponse)
    assert events[0].items["BODY[]"] == b"hello"
    assert isinstance(events[1], FetchResponse)
    assert events[1].seq == SeqNum(57304)
    assert events[1].items.rfc822_size == 5
    assert events[2] == TaggedResponse("A6", "OK", None, "UID completed")
    # items after the closing parenthesis on the same line are taken too
    ev = parse_one(b"* 2 FETCH (UID 1) FLAGS (\\Seen)\r\n")
    assert ev.items.flags == (Flag.SEEN,)


def test_bodystructure_oddities() -> None:
    # MailKit #823 (-1 size), #1838 (1.86931e+06), #1446 (O365 NIL), #1393, lowercase
    ev = parse_one(
        b'* 1 FETCH (BODYSTRUCTURE (("text" "plain" NIL NIL NIL "7bit" -1 NIL NIL NIL NIL)'
        b'("multipart" "appledouble" ("boundary" "B") NIL NIL "7BIT" 1.86931e+06 NIL NIL NIL NIL)'
        b'("message" "delivery-status" NIL NIL NIL "7bit" 416 NIL NIL NIL NIL)'
        b'("message" "rfc822" ("name" "x") NIL NIL "7bit" 903)'
        b'("application" "pdf" NIL NIL NIL NIL NIL)'
        b' "mixed"))\r\n'
    )
    body = ev.items.bodystructure
    assert isinstance(body, MultipartBody)
    assert len(body.parts) == 5
    text = body.parts[0]
    assert isinstance(text, BodyPart)
    assert text.size is None
    assert text.params == ()
    assert body.parts[1].size is None
    msg = body.parts[3]
    assert isinstance(msg, BodyPart)
    assert msg.envelope is None
    assert msg.size == 903
    assert body.parts[4].encoding is None


def test_unescaped_quotes_are_refused() -> None:
    # MailKit #485: where such a string ends cannot be known; refusing beats guessing
    err = parse_error(b'* 1 FETCH (ENVELOPE (NIL "te"st" NIL NIL NIL NIL NIL NIL NIL NIL))\r\n')
    assert isinstance(err, ResponseParseError)


def test_exists_after_fetch_with_crlf_literal() -> None:
    events = parse_all(b"* 1 FETCH (BODY[] {2}\r\n\r\n)\r\n* 2 EXISTS\r\n")
    assert events[1] == ExistsResponse(2)
