"""Modified UTF-7 mailbox names (RFC 3501 section 5.1.3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeimap.protocol._mutf7 import decode_mutf7, encode_mutf7

# Known answers: RFC 3501 section 5.1.3 and RFC 2152-derived examples used by
# Dovecot, Cyrus and imap-codec's tests.
KATS = [
    ("~peter/mail/台北/日本語", b"~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
    ("&", b"&-"),
    ("&Jo", b"&-Jo"),
    ("", b""),
    ("INBOX", b"INBOX"),
    ("Entwürfe", b"Entw&APw-rfe"),
    ("Приложения", b"&BB8EQAQ4BDsEPgQ2BDUEPQQ4BE8-"),
    ("\U0001f600", b"&2D3eAA-"),  # astral: a surrogate pair
    ("a\U0001f600b&c", b"a&2D3eAA-b&-c"),
    ("\r\n", b"&AA0ACg-"),
    ("\x00", b"&AAA-"),
    ("\x7f", b"&AH8-"),
    ("é&é", b"&AOk-&-&AOk-"),
]


@pytest.mark.parametrize(("text", "wire"), KATS)
def test_known_answers(text: str, wire: bytes) -> None:
    assert encode_mutf7(text) == wire
    assert decode_mutf7(wire) == text


@pytest.mark.parametrize(
    "bad",
    [
        b"&AGE-",  # "a" encoded: printable ASCII must not be base64
        b"&ACY-",  # "&" encoded instead of "&-"
        b"&",  # unterminated
        b"&AOk",  # unterminated
        b"abc&U,BTFw",  # unterminated at end
        b"&AOk-&AOk-",  # two shifts back to back: the canonical form is one
        b"&AOl-",  # non-zero padding bits
        b"&A-",  # too short for a UTF-16 unit
        b"&AOkA-",  # superfluous base64 character
        b"&AOk=-",  # padding is not allowed
        b"&AO/-",  # "/" is not in the modified alphabet
        b"&2D0-",  # lone high surrogate
        b"&3gA-",  # lone low surrogate
        b"\xc3\xa9",  # raw 8-bit
        b"a\x00b",  # raw control
        b"a\rb",
        b"\x7f",
        b"&,,,,-",
    ],
)
def test_invalid_input_raises_value_error(bad: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the contract is "a ValueError"
        decode_mutf7(bad)


def test_encode_refuses_lone_surrogate() -> None:
    with pytest.raises(ValueError, match="surrogate"):
        encode_mutf7("a\ud800b")


def test_output_is_printable_ascii() -> None:
    wire = encode_mutf7("".join(chr(c) for c in range(0, 0x300)))
    assert all(0x20 <= b <= 0x7E for b in wire)


_names = st.text(st.characters(codec="utf-8"), max_size=40)


@given(_names)
def test_round_trip_over_unicode(name: str) -> None:
    wire = encode_mutf7(name)
    assert all(0x20 <= b <= 0x7E for b in wire)
    assert decode_mutf7(wire) == name


@given(st.binary(max_size=40))
def test_decode_either_works_canonically_or_raises_value_error(data: bytes) -> None:
    try:
        text = decode_mutf7(data)
    except ValueError:
        return
    # Whatever decodes is canonical: encoding gives the same bytes back.
    assert encode_mutf7(text) == data


@given(
    st.text(
        alphabet="&-ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,/", max_size=30
    )
)
def test_decode_of_shift_heavy_input_is_canonical_or_raises(text: str) -> None:
    data = text.encode("ascii")
    try:
        decoded = decode_mutf7(data)
    except ValueError:
        return
    assert encode_mutf7(decoded) == data
