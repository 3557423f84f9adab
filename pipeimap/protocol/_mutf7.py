"""Modified UTF-7 mailbox names (RFC 3501 section 5.1.3).

Theory of operation: printable US-ASCII (0x20..0x7E) stands for itself, except
``&`` which is written ``&-``.  Every other character is written as UTF-16BE
(astral characters as surrogate pairs), base64-encoded with ``,`` instead of
``/`` and without padding, between ``&`` and ``-``.

The encoding is canonical, and the decoder insists on it: RFC 3501 forbids
base64 for printable ASCII ("MUST NOT"), so a name has exactly one spelling.
A decoder that accepted ``&AGE-`` as ``a`` would let two spellings denote the
same mailbox, which breaks caches keyed by name and lets a hostile server hide
one name behind another.  Anything non-canonical raises :class:`ValueError`.
"""

from __future__ import annotations

import binascii
from typing import Final

from ..errors import InvalidArgumentError

__all__ = ["decode_mutf7", "encode_mutf7"]

_B64_ALPHABET: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,"
_B64_SET: Final = frozenset(_B64_ALPHABET)


def _b64_encode(units: bytes) -> bytes:
    # binascii gives standard base64 with padding; strip "=" and swap "/" for ",".
    return binascii.b2a_base64(units, newline=False).rstrip(b"=").replace(b"/", b",")


def encode_mutf7(name: str) -> bytes:
    """Encode a mailbox name in modified UTF-7 (RFC 3501 section 5.1.3).

    Raises :class:`~pipeimap.errors.InvalidArgumentError` (a ``ValueError``)
    if ``name`` holds a lone surrogate, which no UTF-16 text can represent.
    """
    out = bytearray()
    pending: list[str] = []

    def flush() -> None:
        if pending:
            try:
                units = "".join(pending).encode("utf-16-be")
            except UnicodeEncodeError:
                raise InvalidArgumentError(
                    "mailbox name holds a lone surrogate, which modified UTF-7 cannot encode"
                ) from None
            out.extend(b"&" + _b64_encode(units) + b"-")
            pending.clear()

    for ch in name:
        code = ord(ch)
        if 0x20 <= code <= 0x7E:
            flush()
            out.extend(b"&-" if ch == "&" else ch.encode("ascii"))
        else:
            pending.append(ch)
    flush()
    return bytes(out)


def _decode_shift(run: bytes) -> str:
    """Decode the base64 between ``&`` and ``-`` (not empty) canonically."""
    if any(b not in _B64_SET for b in run):
        raise ValueError(f"invalid modified base64 in mailbox name: {run!r}")
    # 6 bits per character; every 16 bits make one UTF-16 unit.  The leftover
    # bits must be fewer than 6 (else a character is superfluous) and all zero.
    nbits = len(run) * 6
    if nbits % 16 >= 6:
        raise ValueError(f"modified base64 run of bad length in mailbox name: {run!r}")
    padded = run.replace(b",", b"/") + b"=" * (-len(run) % 4)
    try:
        raw = binascii.a2b_base64(padded)
    except binascii.Error as exc:
        raise ValueError(f"invalid modified base64 in mailbox name: {run!r}") from exc
    # Re-encoding must give back the exact run, which rejects non-zero padding bits.
    if _b64_encode(raw) != run:
        raise ValueError(f"non-canonical modified base64 in mailbox name: {run!r}")
    try:
        text = raw.decode("utf-16-be")
    except UnicodeDecodeError as exc:
        raise ValueError(f"invalid UTF-16 in mailbox name: {run!r}") from exc
    for ch in text:
        if 0x20 <= ord(ch) <= 0x7E:
            # RFC 3501: printable US-ASCII "MUST NOT" be encoded in modified BASE64.
            raise ValueError(f"printable ASCII encoded in modified base64: {run!r}")
    return text


def decode_mutf7(data: bytes) -> str:
    """Decode a modified UTF-7 mailbox name (RFC 3501 section 5.1.3).

    Raises :class:`ValueError` on anything that is not the canonical encoding
    of some name: bytes outside printable ASCII, bad base64, printable ASCII
    in base64, a shift left open, two shifts back to back (``&AOk-&AOk-``,
    which an encoder writes as one), or a lone surrogate.
    """
    out: list[str] = []
    i = 0
    n = len(data)
    prev_was_shift = False
    while i < n:
        b = data[i]
        if b == 0x26:  # "&"
            end = data.find(b"-", i + 1)
            if end < 0:
                raise ValueError(f"unterminated modified base64 shift in mailbox name: {data!r}")
            run = data[i + 1 : end]
            if not run:
                out.append("&")
                prev_was_shift = False
            else:
                if prev_was_shift:
                    raise ValueError(f"adjacent modified base64 shifts in mailbox name: {data!r}")
                out.append(_decode_shift(run))
                prev_was_shift = True
            i = end + 1
            continue
        if not 0x20 <= b <= 0x7E:
            raise ValueError(f"byte 0x{b:02x} not allowed raw in a modified UTF-7 name")
        out.append(chr(b))
        prev_was_shift = False
        i += 1
    return "".join(out)
