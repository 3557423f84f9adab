"""Value types that cannot be built invalid, and the redacting Secret."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeimap.errors import InvalidArgumentError, ResponseParseError, escape_excerpt
from pipeimap.protocol import UID, Flag, ModSeq, Secret, SeqNum


@pytest.mark.parametrize("cls", [UID, SeqNum])
def test_nz_numbers_are_bounded(cls: type[int]) -> None:
    assert cls(1) == 1
    assert cls(2**32 - 1) == 2**32 - 1
    for bad in (0, -1, 2**32):
        with pytest.raises(InvalidArgumentError):
            cls(bad)


def test_uid_and_seqnum_are_distinct_types() -> None:
    assert not isinstance(UID(5), SeqNum)
    assert not isinstance(SeqNum(5), UID)
    assert repr(UID(5)) == "UID(5)"
    assert repr(SeqNum(5)) == "SeqNum(5)"


@pytest.mark.parametrize("cls", [UID, SeqNum, ModSeq])
def test_numbers_print_as_plain_numbers(cls: type[int]) -> None:
    assert str(cls(42)) == "42"
    assert f"{cls(42)}" == "42"
    assert f"{cls(42):>5}" == "   42"
    assert f"m-{cls(7)}.eml" == "m-7.eml"


def test_modseq_bounds() -> None:
    assert ModSeq(0) == 0
    assert ModSeq(2**63 - 1) == 2**63 - 1
    with pytest.raises(InvalidArgumentError):
        ModSeq(2**63)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("\\seen", "\\Seen"),
        ("\\SEEN", "\\Seen"),
        ("\\Deleted", "\\Deleted"),
        ("\\*", "\\*"),
        ("$Forwarded", "$Forwarded"),
        ("NonJunk", "NonJunk"),
        ("\\XCustom", "\\XCustom"),
        ("a[b}", "a[b}"),
    ],
)
def test_valid_flags(raw: str, canonical: str) -> None:
    assert Flag(raw) == canonical


@pytest.mark.parametrize(
    "raw",
    ["", "\\", "a b", "a\r\nb", "x)", "(x", 'a"b', "a\\b", "a]", "a%", "a*", "a{", "é", "a\x00"],
)
def test_invalid_flags_refused(raw: str) -> None:
    with pytest.raises(InvalidArgumentError):
        Flag(raw)


@given(st.text(max_size=20))
def test_any_accepted_flag_is_an_atom(text: str) -> None:
    try:
        flag = Flag(text)
    except InvalidArgumentError:
        return
    assert flag.isascii()
    assert not any(c in flag for c in ' ()"{%*]\r\n\x00') or flag == "\\*"


def test_secret_never_shows_its_value() -> None:
    s = Secret("hunter2")
    for shown in (repr(s), str(s), f"{s}", f"{s!r}", f"{s:>20}", repr([s]), repr({"p": s})):
        assert "hunter2" not in shown
    assert s.reveal() == "hunter2"
    assert s.reveal_bytes() == b"hunter2"
    assert s == Secret(b"hunter2")
    assert s != Secret("other")
    with pytest.raises(TypeError):
        pickle.dumps(s)


def test_escape_excerpt_marks_offset_and_escapes() -> None:
    data = b"* 1 FETCH (UID \x00\r\n"
    text = escape_excerpt(data, 15)
    assert text == "* 1 FETCH (UID >>>\\x00\\r\\n"
    long = b"x" * 100
    assert escape_excerpt(long, 50, width=4) == "...xxxx>>>xxxx..."


def test_parse_error_message_names_rule_offset_excerpt() -> None:
    err = ResponseParseError("msg-att", 17, "a>>>b", "unexpected byte")
    assert "msg-att" in str(err)
    assert "17" in str(err)
    assert "a>>>b" in str(err)
