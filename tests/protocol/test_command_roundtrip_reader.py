"""The server-side command reader: incremental, strict, continuation-aware."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeimap.protocol import Flag
from pipeimap.protocol._command_parser import (
    Atom,
    CommandParseError,
    CommandReader,
    ContinuationNeeded,
    Literal,
    ParenList,
    ParsedCommand,
    QuotedString,
    SectionAtom,
    decode_astring,
    decode_flag_list,
    decode_mailbox,
    decode_nstring,
    decode_seqset,
    decode_uidset,
)
from pipeimap.protocol._seqset import LAST_SEARCH_SEQ, LAST_SEARCH_UID, SeqSet, UIDSet


def read_all(data: bytes, *, utf8: bool = False) -> list[ParsedCommand | ContinuationNeeded]:
    r = CommandReader(utf8=utf8)
    r.feed(data)
    out: list[ParsedCommand | ContinuationNeeded] = []
    while (cmd := r.next_command()) is not None:
        out.append(cmd)
    return out


def test_generic_tree() -> None:
    (cmd,) = read_all(
        b'a1 uid fetch 1:* (FLAGS BODY.PEEK[1.HEADER.FIELDS (From "X Y")]<0.100> BINARY[]) (CHANGEDSINCE 5)\r\n'
    )
    assert isinstance(cmd, ParsedCommand)
    assert cmd.tag == "a1"
    assert cmd.name == "UID FETCH"
    assert cmd.args == (
        Atom("1:*"),
        ParenList(
            (
                Atom("FLAGS"),
                SectionAtom(
                    "BODY.PEEK",
                    (Atom("1.HEADER.FIELDS"), ParenList((Atom("From"), QuotedString(b"X Y")))),
                    "0.100",
                ),
                SectionAtom("BINARY", ()),
            )
        ),
        ParenList((Atom("CHANGEDSINCE"), Atom("5"))),
    )


def test_sync_literal_asks_for_continuation_once() -> None:
    r = CommandReader()
    r.feed(b"A1 LOGIN {4}\r\n")
    assert r.next_command() == ContinuationNeeded("A1", 4)
    assert r.next_command() is None
    r.feed(b"fred {2+}\r\npw")
    assert r.next_command() is None
    r.feed(b"\r\n")
    assert r.next_command() == ParsedCommand(
        "A1", "LOGIN", (Literal(b"fred"), Literal(b"pw", synchronizing=False))
    )


def test_literal_before_continuation_is_refused() -> None:
    with pytest.raises(CommandParseError, match="continuation"):
        read_all(b"A1 LOGIN {4}\r\nfred x\r\n")


def test_literal8() -> None:
    (cmd,) = read_all(b"A1 APPEND x ~{3+}\r\n\x00\x01\x02\r\n")
    assert isinstance(cmd, ParsedCommand)
    assert cmd.args[1] == Literal(b"\x00\x01\x02", binary=True, synchronizing=False)


def test_raw_lines_for_sasl_and_done() -> None:
    r = CommandReader()
    r.feed(b"A1 AUTHENTICATE PLAIN\r\nAGEAYg==\r\nA2 IDLE\r\nDONE\r\n")
    assert r.next_command() == ParsedCommand("A1", "AUTHENTICATE", (Atom("PLAIN"),))
    assert r.read_line() == b"AGEAYg=="
    assert r.next_command() == ParsedCommand("A2", "IDLE", ())
    assert r.read_line() == b"DONE"
    assert r.read_line() is None


@pytest.mark.parametrize(
    "bad",
    [
        b"A1 NOOP\n",  # bare LF
        b"A1 NOOP \r\n",  # trailing space
        b"A1  NOOP\r\n",  # double space
        b"A1 LOGIN a\x00b c\r\n",  # NUL
        b'A1 LOGIN "a\rb" c\r\n',  # CR in quoted
        b'A1 LOGIN "a\\xb" c\r\n',  # bad escape
        b'A1 LOGIN "\xc3\xa9" c\r\n',  # 8-bit quoted without UTF-8
        b"A1 FETCH 1 (FLAGS\r\n",  # unbalanced
        b"A1 FETCH 1 FLAGS)\r\n",
        b"A1 APPEND x {3+}\r\na\x00b\r\n",  # NUL in a non-binary literal
        b"A1 APPEND x {3x}\r\nabc\r\n",
        b"A+1 NOOP\r\n",  # "+" in a tag
        b"A1 FETCH 1 BODY[HEADER\r\n",
        b"A1 FETCH 1 BODY[]<x>\r\n",
    ],
)
def test_strictness(bad: bytes) -> None:
    with pytest.raises(CommandParseError):
        read_all(bad)


def test_utf8_quoted_allowed_in_utf8_mode() -> None:
    (cmd,) = read_all('A1 SELECT "Entwürfe"\r\n'.encode(), utf8=True)
    assert isinstance(cmd, ParsedCommand)
    assert decode_mailbox(cmd.args[0], utf8=True) == "Entwürfe"


def test_line_limit() -> None:
    r = CommandReader(max_line=100)
    r.feed(b"A1 SEARCH " + b"ALL " * 100)
    with pytest.raises(CommandParseError, match="too long"):
        r.next_command()


def test_decoders() -> None:
    assert decode_astring(Atom("abc")) == b"abc"
    assert decode_astring(QuotedString(b"a b")) == b"a b"
    assert decode_nstring(Atom("NIL")) is None
    assert decode_mailbox(Atom("inbox")) == "INBOX"
    assert decode_mailbox(Atom("~peter/mail/&U,BTFw-/&ZeVnLIqe-")) == "~peter/mail/台北/日本語"
    assert decode_seqset(Atom("1:3,5")) == SeqSet.parse("1:3,5")
    assert decode_seqset(Atom("$")) == LAST_SEARCH_SEQ
    assert decode_uidset(Atom("$")) == LAST_SEARCH_UID
    assert decode_uidset(Atom("7")) == UIDSet(7)
    assert decode_flag_list(ParenList((Atom("\\seen"), Atom("$x")))) == (Flag.SEEN, Flag("$x"))
    with pytest.raises(CommandParseError):
        decode_flag_list(Atom("\\Seen"))
    with pytest.raises(ValueError):  # noqa: PT011
        decode_mailbox(Atom("&AGE-"))


@given(st.binary(max_size=200))
def test_arbitrary_bytes_parse_or_raise_command_parse_error(data: bytes) -> None:
    r = CommandReader(max_line=1000)
    r.feed(data)
    try:
        for _ in range(50):
            if r.next_command() is None:
                break
    except CommandParseError:
        pass


@given(st.lists(st.integers(1, 20), max_size=10))
def test_any_split_gives_the_same_commands(cuts: list[int]) -> None:
    data = (
        b'A1 LOGIN {3+}\r\nabc "p\\"w"\r\nA2 UID FETCH 1:* (BODY.PEEK[1.MIME]<0.5> FLAGS)\r\n'
        b"A3 APPEND x (\\Seen) ~{2+}\r\n\x00\x01\r\nA4 NOOP\r\n"
    )
    whole = read_all(data)
    r = CommandReader()
    got = []
    pos = 0
    for n in [*cuts, len(data)]:
        r.feed(data[pos : pos + n])
        pos += n
        while (cmd := r.next_command()) is not None:
            got.append(cmd)
    r.feed(data[pos:])
    while (cmd := r.next_command()) is not None:
        got.append(cmd)
    assert got == whole
    assert len(whole) == 4
