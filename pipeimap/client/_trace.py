"""Protocol traces for bug reports: the wire, one readable line per protocol line.

Theory of operation: the connection hands :class:`ProtocolTrace` every batch
it writes (with the batch's ``sensitive_spans``: the serializer marks each
credential fragment) and every chunk it reads, *above* the transport, so a
trace shows the protocol after TLS and before (or after) COMPRESS=DEFLATE --
never the deflate bytes.  Each direction runs a small line/literal tracker,
so it does not matter how the bytes were cut into reads: a ``{n}`` at the end
of a line announces ``n`` literal bytes, which are counted, not scanned, and
may arrive in any number of pieces.

What is redacted:

* **Credentials, always.**  Every byte the serializer marked sensitive (the
  LOGIN password, the SASL initial response, every AUTHENTICATE continuation
  response) becomes ``<redacted>``, and so does every server continuation
  (``+ ...``) while an AUTHENTICATE is in progress: SCRAM's server messages
  (salt, nonce, server signature) would allow an offline dictionary attack
  together with the rest.  The LOGIN *user name* is shown (it is not a secret
  and bug reports need it).
* **Message content, by default** (``bodies=False``): server literals and
  quoted strings that are the value of a ``BODY[...]``, ``BINARY[...]``,
  ``RFC822``, ``RFC822.HEADER`` or ``RFC822.TEXT`` FETCH item become
  ``<literal N bytes>`` / ``<quoted N bytes>`` -- header-only sections
  (``BODY[HEADER]``, ``BODY[HEADER.FIELDS (...)]``, ``BODY[1.MIME]``) count as
  content too -- and so do APPEND's message literals (not its mailbox name).
  ``ENVELOPE`` and ``BODYSTRUCTURE`` are *not* redacted: they are the parsed
  metadata most parsing bugs are about.  They do hold subjects and addresses:
  read a trace before you share it.

Other literals (a mailbox name, a search string) are shown.  Control
characters, CR, LF and Unicode line separators inside shown text are escaped
(``\\r``, ``\\x00``...), so neither side can forge a trace line.

Format::

    # pipeimap protocol trace #1: imap.example.org:993 ... (credentials redacted; ...)
      0.000000 #1 S: * OK [CAPABILITY IMAP4rev1 ...] ready
      0.001234 #1 C: A0001 LOGIN alice <redacted>
      0.051000 #1 S: * 1 FETCH (UID 7 BODY[] {310}<literal 310 bytes>)
      0.052000 #1 -- COMPRESS=DEFLATE on: the trace shows the uncompressed protocol

The time is seconds since the connection's trace started; ``#1`` numbers the
connections of this process (a pool writes several to one file).
"""

from __future__ import annotations

import io
import itertools
import os
import re
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import IO, Final, Union

from ..errors import InvalidArgumentError

__all__ = ["ProtocolTrace", "TraceTarget", "open_trace"]

#: Where a trace goes: a file path (appended to), a text or binary file object
#: (written to and flushed, never closed), or a callable taking each line
#: (``str``, without the newline).
TraceTarget = Union[str, "os.PathLike[str]", IO[str], IO[bytes], Callable[[str], object]]

REDACTED: Final = "<redacted>"
# Shown literal data (trace_bodies=True) longer than this is written as
# continuation lines, so a 2 GB message never sits in one line buffer.
_FLUSH_AT: Final = 64 * 1024

_LITERAL_HEADER = re.compile(rb"~?\{(\d+)\+?\}\r?\n\Z")
# The FETCH items whose value is message content (RFC 9051 section 7.5.2).
_BODY_ITEM = re.compile(
    rb"(?:BODY|BINARY)(?:\.PEEK)?\[[^\]]*\](?:<\d+>)?\s*~?\{\d+\+?\}\r?\n\Z"
    rb"|RFC822(?:\.HEADER|\.TEXT)?\s*\{\d+\+?\}\r?\n\Z",
    re.IGNORECASE,
)
_BODY_QUOTED = re.compile(
    r'((?:BODY|BINARY)\[[^\]]*\](?:<\d+>)? |RFC822(?:\.HEADER|\.TEXT)? )"((?:[^"\\]|\\.)*)"',
    re.IGNORECASE,
)
_APPEND_MAILBOX = re.compile(rb"\S+ (?:UID )?APPEND ~?\{\d+\+?\}\r?\n\Z", re.IGNORECASE)
_ESCAPE = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")
_NAMED = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}
_SWITCHES: Final = frozenset({"STARTTLS", "COMPRESS"})

_numbers = itertools.count(1)


def _escape(data: bytes) -> str:
    text = data.decode("utf-8", "backslashreplace")
    return _ESCAPE.sub(_escape_char, text)


def _escape_char(m: re.Match[str]) -> str:
    char = m.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def _writer(target: TraceTarget) -> tuple[Callable[[str], None], Callable[[], None]]:
    """(write one line, close) for ``target``."""
    if isinstance(target, (str, os.PathLike)):
        f = open(target, "a", encoding="utf-8", newline="\n")  # noqa: SIM115 - closed by close()

        def write_path(line: str) -> None:
            f.write(line + "\n")
            f.flush()

        return write_path, f.close
    write = getattr(target, "write", None)
    if write is not None:
        if _is_binary(target):

            def write_bytes(line: str) -> None:
                write((line + "\n").encode("utf-8"))
                _flush(target)

            return write_bytes, lambda: None

        def write_text(line: str) -> None:
            write(line + "\n")
            _flush(target)

        return write_text, lambda: None
    if callable(target):
        call = target

        def write_call(line: str) -> None:
            call(line)

        return write_call, lambda: None
    raise InvalidArgumentError(
        f"trace must be a path, a file object or a callable, not {type(target).__name__}"
    )


def _is_binary(f: object) -> bool:
    if isinstance(f, io.TextIOBase):
        return False
    if isinstance(f, (io.RawIOBase, io.BufferedIOBase)):
        return True
    mode = getattr(f, "mode", None)
    return isinstance(mode, str) and "b" in mode


def _flush(f: object) -> None:
    flush = getattr(f, "flush", None)
    if flush is not None:
        flush()


class _Direction:
    """The line/literal tracker of one direction."""

    __slots__ = (
        "dropped",
        "literal_body",
        "literal_left",
        "literal_size",
        "pending",
        "raw",
        "shown",
        "size",
        "suspended",
    )

    def __init__(self) -> None:
        self.raw = bytearray()  # the line so far, literal data left out (for parsing)
        self.shown: list[str] = []  # the line as it will be printed
        # Line bytes not yet escaped into ``shown``: a CRLF or a UTF-8 sequence
        # may be cut between two reads.
        self.pending = bytearray()
        self.size = 0  # characters in shown
        self.literal_left = 0
        self.literal_size = 0
        self.literal_body = False  # the literal in progress is redacted content
        self.suspended = False  # after STARTTLS/COMPRESS's OK: until the switch
        self.dropped = 0

    def add(self, text: str) -> None:
        if self.pending:
            pending = bytes(self.pending)
            self.pending.clear()
            self.add(_escape(pending))
        self.shown.append(text)
        self.size += len(text)

    def end_line(self) -> None:
        """The line's CRLF has arrived: escape what is pending, without it."""
        if self.pending:
            pending = bytes(self.pending).rstrip(b"\r\n")
            self.pending.clear()
            if pending:
                self.add(_escape(pending))

    def mark_redacted(self) -> None:
        if not self.shown or self.shown[-1] != REDACTED:
            self.add(REDACTED)


class ProtocolTrace:
    """One connection's trace (see the module docstring).  Build it with
    :func:`open_trace`; the connection calls :meth:`client`, :meth:`server`,
    :meth:`note` and :meth:`close`."""

    def __init__(
        self,
        write: Callable[[str], None],
        *,
        bodies: bool = False,
        close: Callable[[], None] | None = None,
        number: int | None = None,
    ) -> None:
        self._write = write
        self._close = close
        self.bodies = bodies
        self.number = next(_numbers) if number is None else number
        self._start = time.monotonic()
        self._c = _Direction()
        self._s = _Direction()
        self._auth_tags: set[bytes] = set()  # AUTHENTICATE commands in progress
        self._switch_tags: set[bytes] = set()  # STARTTLS / COMPRESS in progress
        self._closed = False

    # --- output --------------------------------------------------------------------------

    def _line(self, text: str) -> None:
        if self._closed:
            return
        elapsed = time.monotonic() - self._start
        self._write(f"{elapsed:10.6f} #{self.number} {text}")

    def header(self, host: str, port: int) -> None:
        when = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        what = "message bodies included" if self.bodies else "message bodies redacted"
        self._write(
            f"# pipeimap protocol trace #{self.number}: {_escape(host.encode())}:{port} "
            f"at {when} (credentials redacted; {what})"
        )

    def note(self, text: str) -> None:
        """An event of the connection (TLS on, closed...)."""
        self._line(f"-- {_escape(text.encode())}")

    def layer_switched(self, what: str) -> None:
        """STARTTLS/COMPRESS is in place: the server's bytes are protocol again."""
        self._s.suspended = False
        self._s.dropped = 0
        self.note(what)

    def close(self, reason: str | None = None) -> None:
        if self._closed:
            return
        for d, arrow in ((self._c, "C"), (self._s, "S")):
            if d.shown or d.raw or d.pending:
                self._emit(d, arrow, suffix=" (incomplete)")
        if self._s.suspended and self._s.dropped:
            self.note(f"{self._s.dropped} bytes after the OK were not traced (before the switch)")
        self.note(reason or "closed")
        self._closed = True
        if self._close is not None:
            self._close()

    # --- input ---------------------------------------------------------------------------

    def client(self, data: bytes, sensitive_spans: Sequence[tuple[int, int]] = ()) -> None:
        """Bytes the client wrote; ``sensitive_spans`` are always redacted."""
        pos = 0
        for start, end in sensitive_spans:
            if start > pos:
                self._feed(self._c, "C", data[pos:start], False)
            self._feed(self._c, "C", data[start:end], True)
            pos = end
        if pos < len(data):
            self._feed(self._c, "C", data[pos:], False)

    def server(self, data: bytes) -> None:
        """Bytes the client read (after TLS, after inflating)."""
        self._feed(self._s, "S", data, False)

    def _feed(self, d: _Direction, arrow: str, data: bytes, sensitive: bool) -> None:
        i, n = 0, len(data)
        while i < n:
            if d.suspended:
                d.dropped += n - i
                return
            if d.literal_left:
                take = min(d.literal_left, n - i)
                if sensitive:
                    d.mark_redacted()
                elif not d.literal_body:
                    d.add(_escape(data[i : i + take]))
                    if d.size > _FLUSH_AT:
                        self._emit(d, arrow, cont=True)
                d.literal_left -= take
                i += take
                if d.literal_body and not d.literal_left:
                    d.add(f"<literal {d.literal_size} bytes>")
                continue
            j = data.find(b"\n", i)
            end = n if j < 0 else j + 1
            piece = data[i:end]
            if sensitive:
                # Only the line structure is kept: a credential's bytes never
                # reach the parsing buffer either.
                d.mark_redacted()
                d.raw += b"\x00\r\n" if j >= 0 else b"\x00"
            else:
                d.raw += piece
                d.pending += piece
            i = end
            if j >= 0:
                d.end_line()
                self._end_of_line(d, arrow)

    def _end_of_line(self, d: _Direction, arrow: str) -> None:
        m = _LITERAL_HEADER.search(d.raw)
        if m is None:
            self._emit(d, arrow)
            return
        size = int(m.group(1))
        body = not self.bodies and self._is_body(d, arrow)
        d.literal_left = d.literal_size = size
        d.literal_body = body
        # The header stays in the line (without its CRLF); the data follows it.
        d.raw = d.raw.rstrip(b"\r\n") + b"L"
        if body and not size:
            d.add("<literal 0 bytes>")

    def _is_body(self, d: _Direction, arrow: str) -> bool:
        if arrow == "S":
            return _BODY_ITEM.search(d.raw) is not None
        name = _command_name(d.raw)[1]
        return name == b"APPEND" and _APPEND_MAILBOX.match(d.raw) is None

    def _emit(self, d: _Direction, arrow: str, *, suffix: str = "", cont: bool = False) -> None:
        """Write the line in ``d``.  ``suffix``: it ended early (`` (incomplete)``);
        ``cont``: only a piece of a long line (more follows, ``raw`` is kept)."""
        d.end_line()
        text = "".join(d.shown)
        if arrow == "S":
            text = self._server_text(d.raw, text, final=not cont)
        elif not cont and not suffix:
            self._client_line_done(d.raw)
        d.shown.clear()
        d.size = 0
        self._line(f"{arrow}: {text}{suffix}")
        if cont:
            d.add("... ")
        else:
            d.raw.clear()

    def _client_line_done(self, raw: bytearray) -> None:
        tag, name = _command_name(raw)
        if name == b"AUTHENTICATE":
            self._auth_tags.add(tag)
        elif name in (b"STARTTLS", b"COMPRESS"):
            self._switch_tags.add(tag)

    def _server_text(self, raw: bytearray, text: str, *, final: bool) -> str:
        if raw.startswith(b"+") and self._auth_tags:
            return "+ " + REDACTED
        if not final:
            return text
        words = bytes(raw[:64]).split(b" ", 2)
        tag = words[0]
        status = words[1].rstrip(b"\r\n").upper() if len(words) > 1 else b""
        c = self._c
        if c.literal_left and tag == _command_name(c.raw)[0]:
            # A tagged answer while the client waits to send a synchronizing
            # literal: the literal was refused and will not be sent.
            c.literal_left = 0
            self._emit(c, "C", suffix=" (literal not sent)")
        if tag in self._auth_tags:
            self._auth_tags.discard(tag)
        if tag in self._switch_tags:
            self._switch_tags.discard(tag)
            if status == b"OK":
                # The next bytes are TLS or deflate data until the connection
                # has switched (layer_switched()).
                self._s.suspended = True
        if not self.bodies:
            text = _BODY_QUOTED.sub(_quoted_placeholder, text)
        return text


def _quoted_placeholder(m: re.Match[str]) -> str:
    return f"{m.group(1)}<quoted {len(m.group(2))} bytes>"


def _command_name(raw: bytes | bytearray) -> tuple[bytes, bytes]:
    """(tag, upper-cased command name) of a client line (``UID X`` counts as X)."""
    words = bytes(raw[:64]).split(b" ", 3)
    tag = words[0] if words else b""
    name = words[1].rstrip(b"\r\n").upper() if len(words) > 1 else b""
    if name == b"UID" and len(words) > 2:
        name = words[2].rstrip(b"\r\n").upper()
    return tag, name


def open_trace(
    target: TraceTarget | None,
    *,
    bodies: bool = False,
    host: str = "",
    port: int = 0,
) -> ProtocolTrace | None:
    """A :class:`ProtocolTrace` writing to ``target`` (``None``: no trace).  A
    path is opened for appending (a connection pool's connections share the
    file) and closed with the trace."""
    if target is None:
        return None
    write, close = _writer(target)
    trace = ProtocolTrace(write, bodies=bodies, close=close)
    trace.header(host, port)
    return trace
