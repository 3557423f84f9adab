"""Incremental framing of the server byte stream into responses and literal chunks.

Theory of operation: a response is text lines joined by literals (RFC 9051
section 4.3): a line that ends in ``{n}`` (or ``~{n}``, RFC 3516 literal8) is
followed by exactly ``n`` bytes, then the response goes on.  The framer keeps
one buffer and a read position.  In line state it looks for the
next LF with ``find`` from where the previous search stopped (so a
line that arrives in many pieces is scanned once); a literal announcement is
recognized with a regex anchored at the end of the line.  Literal bytes are
never scanned: they are sliced out of the buffer (held literals) or handed on
as they arrive (streamed literals).

Literal bytes are copied once.  The buffer is the fed ``bytes`` object itself
whenever everything before it was consumed (the usual case: a read ends inside
a literal), so feeding copies nothing; a held literal is then one slice of it,
or -- when it spans reads -- the pieces of the earlier reads (memoryviews, no
copy) joined once when its last byte arrives.  Only a read that ends inside a
line turns the buffer into a ``bytearray`` that the next read is appended to.

A FETCH body literal larger than ``stream_threshold`` is streamed:
:class:`FetchLiteralStarted`, :class:`FetchLiteralChunk` per available slice
(of at most 256 KiB),
:class:`FetchLiteralEnded`, and a :class:`StreamedLiteral` marker takes its
place in the response.  Every other literal is held, up to
``max_literal_in_memory``; response text is bounded by ``max_line_length``,
checked while a line is still arriving; the sum of both by
``max_response_size``.  So the buffer never holds more than the limits plus
one fed chunk.

Tolerated: bare LF line ends (a CR before the LF is optional).  Refused: a NUL
byte anywhere in response text (literals may hold any byte).  Lines that
are status responses (``tag OK ...``, ``* BYE ...``) or continuation requests
never carry literals, so a text that happens to end in ``{5}`` there is text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from ..errors import LimitExceededError, ResponseParseError, escape_excerpt
from ._accel import lex
from ._limits import ParserLimits
from ._parse_fetch import BODY_LITERAL_ITEM, normalize_fetch_item_name
from ._responses import (
    FetchLiteralChunk,
    FetchLiteralEnded,
    FetchLiteralStarted,
    StreamedLiteral,
)
from ._types import UID, SeqNum

__all__ = ["Frame", "Framer"]

_LITERAL_END: Final = re.compile(rb"\{([0-9]{1,20})\+?\}\Z")
_NO_LITERAL_HEAD: Final = re.compile(rb"(?:\+|[^ ]+ +(?i:OK|NO|BAD|BYE|PREAUTH)(?=[ \[]|\Z))")
_FETCH_HEAD: Final = re.compile(rb"\* +([0-9]{1,10}) +(?i:FETCH)(?= |\()")
_FETCH_HEAD_FAST: Final = re.compile(rb"\* ([0-9]{1,10}) FETCH ")

_LINE, _LITERAL, _STREAM = 0, 1, 2
# The largest piece of a streamed literal handed on at once, whatever the size
# of the reads: a streaming consumer's byte budget counts in pieces this big.
_STREAM_PIECE: Final = 256 * 1024


@dataclass(slots=True)
class Frame:
    """One complete response: text parts (latin-1 decoded) alternating with literals.

    ``offsets[i]`` is the absolute stream offset of ``parts[2*i]``.
    """

    parts: list[str | bytes | StreamedLiteral]
    offsets: list[int]
    start: int


class Framer:
    """Splits a byte stream into :class:`Frame` objects and streamed-literal events."""

    def __init__(self, limits: ParserLimits) -> None:
        self.limits = limits
        # The fed bytes object itself, or a bytearray once a read ended inside a
        # line (see feed()).
        self._buf: bytes | bytearray = b""
        self._pos = 0  # read position in _buf
        self._base = 0  # absolute offset of _buf[0]
        self._scan = 0  # where to resume looking for LF
        self._state = _LINE
        self._parts: list[str | bytes | StreamedLiteral] = []
        self._offsets: list[int] = []
        self._seg_start = 0  # absolute offset of the current text segment
        self._text_len = 0
        self._mem_len = 0
        self._head = b""  # first segment of the response (for stream decisions)
        self._lit_size = 0
        self._lit_left = 0
        # A held literal spanning reads: its bytes from earlier reads (views of
        # them, joined once the literal is complete) and their total length.
        self._lit_pieces: list[memoryview] = []
        self._lit_have = 0
        self._stream_seq: SeqNum | None = None
        self._stream_name = ""
        self.eof = False
        self.fetch_refused = False

    # --- bookkeeping ------------------------------------------------------------

    @property
    def offset(self) -> int:
        """Absolute offset of the first byte not yet consumed."""
        return self._base + self._pos - self._lit_have

    @property
    def buffered(self) -> int:
        """Bytes held: unconsumed input plus the current response's parts."""
        return len(self._buf) - self._pos + self._mem_len + self._text_len

    def at_boundary(self) -> bool:
        return self._state == _LINE and not self._parts and self._pos == len(self._buf)

    def in_response(self) -> bool:
        return self._state != _LINE or bool(self._parts) or self._pos < len(self._buf)

    def feed(self, data: bytes) -> None:
        buf = self._buf
        pos = self._pos
        size = len(buf)
        if pos == size or (self._state == _LITERAL and size - pos < self._lit_left and data):
            # Nothing unconsumed, or only the start of a held literal (next()
            # asked for more): set that start aside as a view and take the
            # new bytes as the buffer, without copying either.
            if pos < size:
                view = memoryview(buf)[pos:]
                self._lit_pieces.append(view if isinstance(buf, bytes) else memoryview(bytes(view)))
                self._lit_have += size - pos
                self._lit_left -= size - pos
            self._base += size
            self._buf = data if type(data) is bytes else bytes(data)
            self._pos = self._scan = 0
            return
        if not isinstance(buf, bytearray):
            # A read ended inside a line (rare: lines are short): from here on
            # the reads are appended.  Up to 32 bytes before the read position
            # are kept for error excerpts.
            keep = pos - 32 if pos > 32 else 0
            buf = self._buf = bytearray(memoryview(buf)[keep:])
            self._base += keep
            self._pos = pos - keep
            self._scan -= keep
        buf += data

    def take_unparsed(self) -> bytes:
        data = bytes(self._buf[self._pos :])
        self._base += len(self._buf)
        self._buf = b""
        self._lit_pieces.clear()
        self._lit_have = 0
        self._pos = self._scan = 0
        return data

    def _compact(self) -> None:
        buf = self._buf
        pos = self._pos
        if pos == len(buf):
            self._base += pos
            self._buf = b""
            self._pos = self._scan = 0
        elif pos > 65536 and pos > len(buf) >> 1 and isinstance(buf, bytearray):
            # (A bytes buffer is one read: it goes as a whole when consumed.)
            del buf[:pos]
            self._base += pos
            self._scan -= pos
            self._pos = 0

    def _excerpt(self, pos: int) -> str:
        return escape_excerpt(bytes(self._buf[max(0, pos - 32) : pos + 32]), min(pos, 32))

    def _limit(self, name: str, limit: int, pos: int, detail: str = "") -> LimitExceededError:
        return LimitExceededError(name, limit, self._base + pos, self._excerpt(pos), detail)

    def _nul(self, pos: int, index: int) -> ResponseParseError:
        """A NUL byte in response text: CHAR and TEXT-CHAR exclude %x00 (RFC 9051
        section 9), and only a literal (``BODY[]`` data, literal8) may carry
        one.  Refused rather than passed on, since a NUL in a mailbox name or
        a header field truncates C strings and breaks file names downstream."""
        at = pos + index
        return ResponseParseError(
            "response", self._base + at, self._excerpt(at), "NUL byte outside a literal"
        )

    def _line_too_long(self, pos: int) -> LimitExceededError:
        """The error for response text longer than ``max_line_length``.

        It names the first byte beyond the limit (where the text of this line
        started, plus what is left of the budget), and its excerpt ends there,
        so that offset and excerpt do not depend on how the bytes were fed
        (the check itself runs whenever data arrives)."""
        limit = self.limits.max_line_length
        cross = pos + limit - self._text_len  # the byte that exceeds the limit
        excerpt = escape_excerpt(bytes(self._buf[max(0, cross - 32) : cross + 1]), min(cross, 32))
        return LimitExceededError(
            "max_line_length", limit, self._base + cross, excerpt, "line too long"
        )

    # --- fast path: complete FETCH responses, looked at but not consumed ----------

    def peek_fetch_batch(
        self, max_count: int
    ) -> tuple[list[int], list[bytes], list[bytes], list[int]] | None:
        """Complete ``* n FETCH `` responses at the read position, up to ``max_count``.

        Returns (sequence numbers, texts after ``FETCH `` with each literal
        replaced by the quoted string ``"\\x03"``, all literals in order, buffer
        position after each response), or None if there is none.  Consumes
        nothing (see :meth:`advance`).  Stops before anything that :meth:`next`
        would not turn into one plain frame: another response, an incomplete one,
        a limit reached, a literal that might be streamed -- and before a body
        section literal, which the fast path would refuse anyway.
        ``fetch_refused`` then tells whether it stopped at a complete line
        (rather than at the end of the data).
        """
        if self._state != _LINE or self._parts:
            return None
        buf = self._buf
        limits = self.limits
        max_line = limits.max_line_length
        max_lit = min(
            limits.stream_threshold, limits.max_literal_in_memory, limits.max_literal_size
        )
        max_resp = limits.max_response_size
        head = _FETCH_HEAD_FAST.match
        find = buf.find
        size_buf = len(buf)
        pos = self._pos
        seqs: list[int] = []
        texts: list[bytes] = []
        lits: list[bytes] = []
        ends: list[int] = []
        refused = False
        while len(seqs) < max_count:
            m = head(buf, pos)
            if m is None:
                refused = find(b"\n", pos) >= 0
                break
            seq = int(m.group(1))
            if not 1 <= seq <= 0xFFFFFFFF:
                refused = True
                break
            p = m.end()
            text_len = mem_len = 0
            parts: list[bytes] = []
            nlits = 0
            ok = False
            while True:
                end = find(b"\n", p)
                if end < 0:
                    break
                if text_len + end - pos > max_line:
                    refused = True
                    break
                stop = end - 1 if end > pos and buf[end - 1] == 0x0D else end
                text_len += end + 1 - pos
                if buf[stop - 1] != 0x7D:  # "}": no literal, the response ends here
                    parts.append(bytes(buf[p:stop]))
                    pos = end + 1
                    ok = True
                    break
                seg = bytes(buf[p:stop])
                brace = seg.rfind(b"{")
                literal = _LITERAL_END.match(seg, brace) if brace >= 0 else None
                if literal is None:
                    parts.append(seg)
                    pos = end + 1
                    ok = True
                    break
                size = int(literal.group(1))
                mem_len += size
                if (
                    size > max_lit
                    or mem_len + text_len > max_resp
                    # BODY[...] / BINARY[...]<n>: a section, which the fast path refuses
                    or seg[:brace].rstrip().endswith((b"]", b">"))
                ):
                    refused = True
                    break
                lit_start = end + 1
                if size_buf - lit_start < size:
                    break
                cut = brace - 1 if brace > 0 and seg[brace - 1] == 0x7E else brace
                parts.append(seg[:cut])
                lits.append(bytes(buf[lit_start : lit_start + size]))
                nlits += 1
                pos = p = lit_start + size
            if not ok:
                if nlits:
                    del lits[-nlits:]
                break
            seqs.append(seq)
            texts.append(parts[0] if len(parts) == 1 else b'"\x03"'.join(parts))
            ends.append(pos)
        self.fetch_refused = refused
        if not seqs:
            return None
        return seqs, texts, lits, ends

    def advance(self, pos: int, compact: bool) -> None:
        """Mark the buffer up to ``pos`` as consumed (a response the fast path parsed)."""
        self._pos = self._scan = pos
        if compact:
            self._compact()

    # --- the state machine --------------------------------------------------------

    def next(self) -> Frame | FetchLiteralStarted | FetchLiteralChunk | FetchLiteralEnded | None:
        """The next complete frame or streaming event, or None if more input is needed."""
        buf = self._buf
        max_line = self.limits.max_line_length
        while True:
            state = self._state
            if state == _LINE:
                end = buf.find(b"\n", self._scan)
                pos = self._pos
                if end < 0:
                    self._scan = len(buf)
                    if self._text_len + len(buf) - pos > max_line:
                        raise self._line_too_long(pos)
                    return None
                if self._text_len + end - pos > max_line:
                    raise self._line_too_long(pos)
                stop = end - 1 if end > pos and buf[end - 1] == 0x0D else end
                seg = buf[pos:stop] if type(buf) is bytes else bytes(memoryview(buf)[pos:stop])
                if b"\x00" in seg:
                    raise self._nul(pos, seg.index(b"\x00"))
                seg_start = self._base + pos
                self._pos = self._scan = end + 1
                self._text_len += end + 1 - pos
                parts = self._parts
                if not parts:
                    self._head = seg
                literal = None
                if seg.endswith(b"}") and not (
                    self._head is seg and _NO_LITERAL_HEAD.match(seg) is not None
                ):
                    brace = seg.rfind(b"{")
                    literal = _LITERAL_END.match(seg, brace) if brace >= 0 else None
                if literal is None:
                    parts.append(seg.decode("utf-8", "surrogateescape"))
                    offsets = self._offsets
                    offsets.append(seg_start)
                    frame = Frame(parts, offsets, offsets[0])
                    self._parts = []
                    self._offsets = []
                    self._text_len = self._mem_len = 0
                    self._head = b""
                    self._compact()
                    return frame
                size = int(literal.group(1))
                cut = brace - 1 if brace > 0 and seg[brace - 1] == 0x7E else brace  # "~{"
                text = seg[:cut]
                parts.append(text.decode("utf-8", "surrogateescape"))
                self._offsets.append(seg_start)
                started = self._start_literal(size, text, end)
                if started is not None:
                    return started
                start = end + 1
                if len(buf) - start >= size:
                    # A held literal that is all here (the usual case): what the
                    # _LITERAL state would do next, without going round.
                    stop = start + size
                    held = (
                        buf[start:stop]
                        if type(buf) is bytes
                        else bytes(memoryview(buf)[start:stop])
                    )
                    parts.append(held)
                    self._pos = self._scan = stop
                    self._state = _LINE
            elif state == _LITERAL:
                pos = self._pos
                n = self._lit_left
                if len(buf) - pos < n:
                    return None
                end = pos + n
                pieces = self._lit_pieces
                if pieces:
                    # The literal spans reads: one copy of all its pieces.
                    with memoryview(buf) as mv:
                        pieces.append(mv[pos:end])
                        held = b"".join(pieces)
                        pieces.clear()
                    self._lit_have = 0
                elif type(buf) is bytes:
                    held = buf[pos:end]  # (the buffer itself if it is the literal)
                else:
                    held = bytes(memoryview(buf)[pos:end])
                self._parts.append(held)
                self._pos = self._scan = end
                self._state = _LINE
            else:  # _STREAM
                left = self._lit_left
                if left == 0:
                    self._state = _LINE
                    self._parts.append(StreamedLiteral(self._lit_size))
                    assert self._stream_seq is not None  # set with the state
                    return FetchLiteralEnded(self._stream_seq, self._stream_name, self._lit_size)
                pos = self._pos
                avail = len(buf) - pos
                if avail == 0:
                    return None
                take = min(avail, left, _STREAM_PIECE)
                end = pos + take
                # (A slice of bytes is the buffer itself when it is all literal.)
                chunk = buf[pos:end] if type(buf) is bytes else bytes(memoryview(buf)[pos:end])
                self._pos = self._scan = end
                self._lit_left = left - take
                self._compact()
                return FetchLiteralChunk(chunk)

    def _start_literal(self, size: int, text: bytes, end: int) -> FetchLiteralStarted | None:
        limits = self.limits
        self._lit_size = self._lit_left = size
        if size > limits.max_literal_size:
            raise self._limit("max_literal_size", limits.max_literal_size, end, "literal too big")
        if size > limits.stream_threshold:
            head = _FETCH_HEAD.match(self._head)
            item = BODY_LITERAL_ITEM.search(text[-8192:]) if head is not None else None
            if head is not None and item is not None:
                seq_n = int(head.group(1))
                if not 1 <= seq_n <= 0xFFFFFFFF:
                    raise ResponseParseError(
                        "message-data", self._base + end, self._excerpt(end), "bad sequence number"
                    )
                self._state = _STREAM
                self._stream_seq = SeqNum(seq_n)
                self._stream_name = normalize_fetch_item_name(item.group(1).decode("latin-1"))
                return FetchLiteralStarted(
                    self._stream_seq, self._peek_uid(), self._stream_name, size
                )
        if size > limits.max_literal_in_memory:
            raise self._limit(
                "max_literal_in_memory", limits.max_literal_in_memory, end, "literal too big"
            )
        self._mem_len += size
        if self._mem_len + self._text_len > limits.max_response_size:
            raise self._limit(
                "max_response_size", limits.max_response_size, end, "response too big"
            )
        self._state = _LITERAL
        return None

    def _peek_uid(self) -> UID | None:
        """The UID item, if it came earlier on this FETCH line (else None)."""
        try:
            root = lex(
                self._parts, self._offsets, "msg-att", self.limits.max_nesting_depth, partial=True
            )
        except ResponseParseError:
            return None
        items = next((x for x in root if isinstance(x, list)), None)
        if items is None:
            return None
        for i in range(0, len(items) - 1, 2):
            name = items[i]
            value = items[i + 1]
            if (
                isinstance(name, str)
                and name.upper() == "UID"
                and isinstance(value, str)
                and value.isdigit()
                and value.isascii()
                and len(value) <= 10
            ):
                n = int(value)
                if 1 <= n <= 0xFFFFFFFF:
                    return UID(n)
        return None
