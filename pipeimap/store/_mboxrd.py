"""mboxrd framing: From_ lines, ``>From`` quoting, the flag header block.

Theory of operation (mboxrd, as in qmail's mbox(5)): a message starts with a
``From <sender> <asctime date>`` line; inside the message every line that
matches ``>*From `` gets one more ``>``, so that no message line can look like
a separator, and reading removes one ``>`` from every line matching ``>+From ``.
The two are exact inverses, so a message survives any number of round trips
byte for byte, ``From `` lines, CRLF line ends, 8-bit bytes and all.

The quoting is streamed: :class:`FromQuoter` takes chunks cut anywhere (in the
middle of ``Fr|om ``) and holds back at most the few bytes of an undecided line
start, so a message of any size is written in bounded memory.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone
from typing import BinaryIO, Final

from ..protocol._types import Flag

__all__ = [
    "FromQuoter",
    "build_flag_block",
    "format_from_line",
    "iter_pieces",
    "parse_flag_block",
    "parse_from_date",
    "unquote",
]

_QUOTE_RE: Final = re.compile(rb"(?m)^(?=>*From )")
_UNQUOTE_RE: Final = re.compile(rb"(?m)^>(?=>*From )")
_PARTIAL_RE: Final = re.compile(rb">*(F(r(o(m)?)?)?)?\Z")
_MONTHS: Final = [
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
]
_DAYS: Final = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
_ASCTIME_RE: Final = re.compile(
    rb"(?:[A-Za-z]{3},?\s+)?([A-Za-z]{3})\s+(\d{1,2})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s+"
    rb"(?:([+-]\d{4}|[A-Z]{3,4})\s+)?(\d{4})"
)


class FromQuoter:
    """Streaming mboxrd quoting.  ``feed()`` returns what can be written now."""

    def __init__(self) -> None:
        self._pending = b""
        self._at_line_start = True  # is the next byte fed the first of a line?

    def feed(self, chunk: bytes) -> bytes:
        buf = self._pending + chunk
        self._pending = b""
        if not buf:
            return b""
        out: list[bytes] = []
        start = 0
        if not self._at_line_start:
            nl = buf.find(b"\n")
            if nl < 0:
                return buf
            out.append(buf[: nl + 1])
            start = nl + 1
        last_nl = buf.rfind(b"\n", start)
        body_end = last_nl + 1 if last_nl >= 0 else start
        if body_end > start:
            out.append(_QUOTE_RE.sub(b">", buf[start:body_end]))
        tail = buf[body_end:]
        # The tail starts a line that has not ended yet.
        if tail:
            if _PARTIAL_RE.match(tail):
                self._pending = tail  # cannot decide yet: ">>Fro" may become ">>From "
                self._at_line_start = True
            else:
                out.append(_QUOTE_RE.sub(b">", tail, count=1))
                self._at_line_start = False
        else:
            self._at_line_start = True
        return b"".join(out)

    def finish(self) -> bytes:
        """The held-back bytes (an unfinished line start can no longer match)."""
        rest, self._pending = self._pending, b""
        return rest


def quote(data: bytes) -> bytes:
    q = FromQuoter()
    return q.feed(data) + q.finish()


def unquote(data: bytes) -> bytes:
    """Remove one ``>`` from every line matching ``>+From `` (mboxrd and mboxo)."""
    return _UNQUOTE_RE.sub(b"", data)


def format_from_line(sender: str, date: datetime | None) -> bytes:
    """``From sender Wed Jan  3 04:05:06 2024`` (asctime in UTC) with an LF."""
    if date is None:
        date = datetime.now(timezone.utc)
    if date.tzinfo is None:
        date = date.replace(tzinfo=timezone.utc)
    d = date.astimezone(timezone.utc)
    stamp = (
        f"{_DAYS[d.weekday()]} {_MONTHS[d.month - 1]} {d.day:2d} "
        f"{d.hour:02d}:{d.minute:02d}:{d.second:02d} {d.year:04d}"
    )
    safe = "".join(c for c in sender if 0x21 <= ord(c) <= 0x7E) or "MAILER-DAEMON"
    return f"From {safe} {stamp}\n".encode("ascii")


def parse_from_date(line: bytes) -> datetime | None:
    """The date of a From_ line (asctime, optional zone), or ``None``."""
    m = _ASCTIME_RE.search(line, 5)
    if m is None:
        return None
    mon, day, hh, mm, ss, zone, year = m.groups()
    try:
        month = _MONTHS.index(mon.decode("ascii").title()) + 1
        tz = timezone.utc
        if zone and zone[:1] in b"+-":
            sign = 1 if zone[:1] == b"+" else -1
            minutes = int(zone[1:3]) * 60 + int(zone[3:5])
            tz = timezone(sign * timedelta(minutes=minutes))
        return datetime(
            int(year), month, int(day), int(hh), int(mm), int(ss or 0), tzinfo=tz
        ).astimezone(timezone.utc)
    except ValueError:
        return None


def iter_pieces(f: BinaryIO, limit: int = 1 << 16) -> Iterator[tuple[int, bytes, bool]]:
    """Yield ``(offset, piece, at_line_start)`` over a binary file.

    A piece is a whole line or, for lines longer than ``limit``, a part of one;
    memory stays bounded by ``limit`` whatever the file holds.
    """
    offset = f.tell()
    at_start = True
    while piece := f.readline(limit):
        yield offset, piece, at_start
        offset += len(piece)
        at_start = piece.endswith(b"\n")


# --- the flag header block ----------------------------------------------------------
#
# MboxStore writes exactly three header lines right after the From_ line, always
# in this order and at fixed widths (padded with spaces), so that flags can be
# changed in place later and a reader knows precisely which lines to drop to give
# back the original bytes:
#     Status: RO            R = \Seen, O = not new
#     X-Status: AFTD        A = \Answered, F = \Flagged, T = \Draft, D = \Deleted
#     X-Keywords: $Forwarded other   (padded; room for more keywords)

_XSTATUS: Final = (
    ("A", Flag.ANSWERED),
    ("F", Flag.FLAGGED),
    ("T", Flag.DRAFT),
    ("D", Flag.DELETED),
)
_BLOCK_RE: Final = re.compile(
    rb"Status: ([RO ]{2})(\r?\n)X-Status: ([AFTD ]{4})\r?\nX-Keywords: ([^\r\n]*)\r?\n"
)
KEYWORD_ROOM: Final = 48


def build_flag_block(flags: Iterable[Flag], eol: bytes, keyword_width: int | None = None) -> bytes:
    fl = set(flags)
    status = ("R" if Flag.SEEN in fl else "") + "O"
    xstatus = "".join(letter for letter, flag in _XSTATUS if flag in fl)
    keywords = " ".join(sorted(str(f) for f in fl if not f.is_system))
    width = keyword_width if keyword_width is not None else len(keywords) + KEYWORD_ROOM
    return (
        b"Status: "
        + status.ljust(2).encode()
        + eol
        + b"X-Status: "
        + xstatus.ljust(4).encode()
        + eol
        + b"X-Keywords: "
        + keywords.ljust(width).encode("ascii")
        + eol
    )


def parse_flag_block(data: bytes) -> tuple[frozenset[Flag], int, int, bytes] | None:
    """Parse a flag block at the start of ``data``.

    Returns (flags, block length, keyword field width, eol) or ``None`` if
    ``data`` does not start with one.
    """
    m = _BLOCK_RE.match(data)
    if m is None:
        return None
    status, eol, xstatus, kw = m.groups()
    flags: set[Flag] = set()
    if b"R" in status:
        flags.add(Flag.SEEN)
    flags.update(flag for letter, flag in _XSTATUS if letter.encode() in xstatus)
    for word in kw.split():
        try:
            flag = Flag(word.decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            continue
        if not flag.is_system:
            flags.add(flag)
    return frozenset(flags), m.end(), len(kw), eol
