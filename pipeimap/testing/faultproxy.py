"""A loopback TCP proxy that breaks IMAP connections on purpose, for fault-injection tests.

Put it between a client and a real server (plaintext: use ``tls="insecure-plaintext"``
and ``compress=False``, or the proxy sees only ciphertext and deflate, and cannot find
literals)::

    proxy = FaultProxy("127.0.0.1", dovecot.imap_port, faults=[drop("to_client", 5000)])
    async with proxy.running():
        spec = ServerSpec("127.0.0.1", proxy.port, tls="insecure-plaintext", compress=False,
                          username=..., password=...)
        ... run a job against spec ...
    proxy.stats  # what went through, per connection

Faults (each is a :class:`Fault`, built with :func:`drop`, :func:`stall`, :func:`delay`
or :func:`cut_literal`) apply to one direction (``"to_server"``: client to server,
``"to_client"``: server to client) of one accepted connection (``connection=k``, counted
from 1 in the order the proxy accepted them) or of every connection
(``connection=None``).  A fault *triggers* once the proxy has forwarded exactly
``after`` bytes in its direction on that connection, or -- for a literal fault --
``after`` bytes into the ``literal``-th literal (counted from 0) of that direction:

* ``drop``: both sockets close at once (with a TCP reset when ``reset=True``); the
  bytes behind the trigger point are never forwarded;
* ``stall``: the direction stops forwarding for ``seconds`` (``None``: for ever, so the
  client's read timeout must fire), then goes on;
* ``delay``: from the trigger point on, each chunk is held ``seconds`` before it goes.

Theory of operation: one task per direction reads what arrives, counts it and forwards
it, cut at the next trigger position, so a cut lands on an exact byte whatever the
chunking.  To find literals the proxy runs a small scanner per direction that knows
just enough of IMAP: a line ending in ``{n}``, ``{n+}`` or ``~{n}`` (RFC 9051 4.3,
RFC 7888, RFC 3516) is followed by ``n`` bytes of literal data, skipped without looking
at them.  The scanner does not parse anything else, so it follows any command or
response, including ones it has never seen.

:attr:`FaultProxy.stats` records, per connection, the bytes forwarded each way and the
literals seen (start offset and length), so a test can measure a clean run first and
then spread cut points over it.
"""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import sys
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Final, Literal

import anyio
import anyio.abc

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

__all__ = [
    "ConnectionStats",
    "Direction",
    "Fault",
    "FaultKind",
    "FaultProxy",
    "LiteralScanner",
    "cut_at_line",
    "cut_literal",
    "delay",
    "drop",
    "stall",
]

Direction = Literal["to_server", "to_client"]
FaultKind = Literal["drop", "stall", "delay"]

_LITERAL_END: Final = re.compile(rb"\{([0-9]{1,20})\+?\}\r\n\Z")
_TAIL: Final = 48  # bytes of a line kept to recognise a literal announcement at its end
_HEAD: Final = 512  # bytes of a first line that line faults look at
_RECEIVE: Final = 65536
_DISCONNECTED: Final = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault on one direction of one connection (see the module docs)."""

    kind: FaultKind
    direction: Direction
    after: int = 0
    literal: int | None = None
    seconds: float | None = None
    connection: int | None = 1
    reset: bool = False
    line: re.Pattern[bytes] | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("drop", "stall", "delay"):
            raise ValueError(f"unknown fault kind {self.kind!r}")
        if self.direction not in ("to_server", "to_client"):
            raise ValueError(f"direction must be 'to_server' or 'to_client': {self.direction!r}")
        if self.after < 0 or (self.literal is not None and self.literal < 0):
            raise ValueError("after and literal must not be negative")
        if self.connection is not None and self.connection < 1:
            raise ValueError("connections are counted from 1")
        if self.kind == "delay" and self.seconds is None:
            raise ValueError("a delay needs seconds")
        if self.line is not None and self.literal is not None:
            raise ValueError("a fault waits for a line or for a literal, not both")

    def describe(self) -> str:
        """A short text for test failure messages."""
        if self.literal is not None:
            where = f"{self.after} bytes into literal #{self.literal}"
        elif self.line is not None:
            where = f"{self.after} bytes into the first line matching {self.line.pattern!r}"
        else:
            where = f"after {self.after} bytes"
        conn = "every connection" if self.connection is None else f"connection {self.connection}"
        extra = ""
        if self.kind != "drop":
            extra = " for ever" if self.seconds is None else f" {self.seconds:g} s"
        elif self.reset:
            extra = " (reset)"
        return f"{self.kind}{extra} {self.direction} {where} on {conn}"


def drop(
    direction: Direction, after: int, *, connection: int | None = 1, reset: bool = False
) -> Fault:
    """Close the connection once ``after`` bytes went ``direction``."""
    return Fault("drop", direction, after, connection=connection, reset=reset)


def cut_literal(
    direction: Direction,
    literal: int,
    offset: int,
    *,
    connection: int | None = 1,
    reset: bool = False,
) -> Fault:
    """Close the connection ``offset`` bytes into the ``literal``-th literal (from 0)
    going ``direction``.  An offset past the literal's end cuts at its last byte."""
    return Fault("drop", direction, offset, literal=literal, connection=connection, reset=reset)


def cut_at_line(
    direction: Direction,
    pattern: bytes,
    *,
    after: int = 0,
    connection: int | None = 1,
    reset: bool = False,
) -> Fault:
    """Close the connection ``after`` bytes into the first command (``"to_server"``) or
    response (``"to_client"``) whose first line matches the regular expression
    ``pattern`` (``re.search``; the line includes its CRLF, at most 512 bytes are
    looked at).  ``after=0`` cuts just before it: for a tagged response, the command
    took effect on the server and only its answer is lost.  (While such a fault waits,
    the proxy holds back an unfinished line until it is complete.)"""
    return Fault(
        "drop", direction, after, connection=connection, reset=reset, line=re.compile(pattern)
    )


def stall(
    direction: Direction,
    after: int,
    seconds: float | None = None,
    *,
    connection: int | None = 1,
) -> Fault:
    """Stop forwarding ``direction`` after ``after`` bytes, for ``seconds`` (``None``: for ever)."""
    return Fault("stall", direction, after, seconds=seconds, connection=connection)


def delay(
    direction: Direction, seconds: float, *, after: int = 0, connection: int | None = None
) -> Fault:
    """Hold every chunk going ``direction`` for ``seconds`` (from byte ``after`` on)."""
    return Fault("delay", direction, after, seconds=seconds, connection=connection)


class LiteralScanner:
    """Finds the literals of one direction of an IMAP byte stream.

    :meth:`feed` takes the next bytes of the stream and returns, for each literal whose
    data starts within them or right after them, ``(index, start, length)`` with
    ``start`` an offset in the whole stream.  Literal data is skipped unread.

    :attr:`starts` lists where each command (client to server) or response (server
    to client) begins -- a line that does not continue one ending in a literal --
    with its first byte, so that tagged responses (neither ``*`` nor ``+``) can be
    told from untagged ones.
    """

    def __init__(self) -> None:
        self._remaining = 0  # literal bytes still to skip
        self._tail = b""  # the end of the current, unfinished line
        self._offset = 0  # stream offset of the next byte fed
        self._at_start = True  # the next line byte begins a command or response
        self._head: bytearray | None = None  # the first line of the current one, so far
        self._line_start = 0
        self.count = 0
        self.starts: list[tuple[int, bytes]] = []
        #: ``(start, first line)`` of the commands / responses whose first line is
        #: complete, since the caller last emptied the list.
        self.lines: list[tuple[int, bytes]] = []

    @property
    def incomplete_line(self) -> int | None:
        """The stream offset of a command / response whose first line is unfinished."""
        return self._line_start if self._head is not None else None

    def feed(self, data: bytes) -> list[tuple[int, int, int]]:
        found: list[tuple[int, int, int]] = []
        i, n = 0, len(data)
        while i < n:
            if self._remaining:
                take = min(self._remaining, n - i)
                self._remaining -= take
                i += take
                continue
            if self._at_start:
                self._line_start = self._offset + i
                self.starts.append((self._line_start, data[i : i + 1]))
                self._head = bytearray()
                self._at_start = False
            j = data.find(b"\n", i)
            head = self._head
            if head is not None and len(head) < _HEAD:
                head += data[i : min(n if j < 0 else j + 1, i + _HEAD - len(head))]
            if j < 0:
                self._tail = (self._tail + data[max(i, n - _TAIL) :])[-_TAIL:]
                break
            if head is not None:
                self.lines.append((self._line_start, bytes(head)))
                self._head = None
            start = max(i, j + 1 - _TAIL)
            line_end = (self._tail + data[start : j + 1]) if start == i else data[start : j + 1]
            self._tail = b""
            i = j + 1
            m = _LITERAL_END.search(line_end)
            if m:
                length = int(m.group(1))
                found.append((self.count, self._offset + i, length))
                self.count += 1
                self._remaining = length
            else:
                self._at_start = True
        self._offset += n
        return found


@dataclass
class ConnectionStats:
    """What one proxied connection carried (bytes actually forwarded)."""

    index: int
    to_server: int = 0
    to_client: int = 0
    #: ``(start, length)`` of each literal, per direction, as the scanner found them.
    literals_to_server: list[tuple[int, int]] = field(default_factory=list)
    literals_to_client: list[tuple[int, int]] = field(default_factory=list)
    #: ``(start, first byte)`` of each command / response, per direction.
    starts_to_server: list[tuple[int, bytes]] = field(default_factory=list)
    starts_to_client: list[tuple[int, bytes]] = field(default_factory=list)
    #: ``(start, first line)`` of each command / response (the first 64 bytes).
    heads_to_server: list[tuple[int, bytes]] = field(default_factory=list)
    heads_to_client: list[tuple[int, bytes]] = field(default_factory=list)
    #: Descriptions of the faults that triggered on this connection.
    fired: list[str] = field(default_factory=list)

    def nbytes(self, direction: Direction) -> int:
        return self.to_server if direction == "to_server" else self.to_client

    def literals(self, direction: Direction) -> list[tuple[int, int]]:
        return self.literals_to_server if direction == "to_server" else self.literals_to_client

    def starts(self, direction: Direction) -> list[tuple[int, bytes]]:
        return self.starts_to_server if direction == "to_server" else self.starts_to_client

    def heads(self, direction: Direction) -> list[tuple[int, bytes]]:
        return self.heads_to_server if direction == "to_server" else self.heads_to_client

    def tagged(self) -> list[int]:
        """Where each tagged response to the client begins (the command is done on
        the server; cutting here loses only the answer)."""
        return [pos for pos, first in self.starts_to_client if first not in (b"*", b"+")]

    def commands(self) -> list[tuple[str, int, int | None]]:
        """``(name, start, answer)`` of each command the client sent: its name
        (``"UID FETCH"``, ``"APPEND"``...), where it starts in the client's stream
        and where its tagged response starts in the server's (``None``: not seen)."""
        answers: dict[bytes, int] = {}
        for pos, head in self.heads_to_client:
            tag = head.split(b" ", 1)[0]
            if tag not in (b"*", b"+") and tag not in answers:
                answers[tag] = pos
        out: list[tuple[str, int, int | None]] = []
        for pos, head in self.heads_to_server:
            words = head.split(b" ", 3)
            if len(words) < 2 or not words[0] or words[0] == b"DONE\r\n":
                continue
            name = words[1].rstrip(b"\r\n").upper()
            if name == b"UID" and len(words) > 2:
                name += b" " + words[2].rstrip(b"\r\n").upper()
            out.append((name.decode("ascii", "replace"), pos, answers.get(words[0])))
        return out


class _Dropped(Exception):
    """A drop fault fired: end the connection."""


@dataclass
class FaultProxy:
    """A loopback proxy to ``upstream_host:upstream_port`` with a fault plan.

    ``faults`` may be replaced between runs (:meth:`set_faults`); connections count
    from 1 again after :meth:`set_faults` (``reset_count=True``).  ``port`` is known
    once :meth:`running` has been entered.
    """

    upstream_host: str
    upstream_port: int
    faults: Sequence[Fault] = ()
    port: int = 0
    stats: list[ConnectionStats] = field(default_factory=list)
    _tg: anyio.abc.TaskGroup | None = field(default=None, repr=False)

    def set_faults(self, faults: Iterable[Fault], *, reset_count: bool = True) -> None:
        """A new fault plan for the connections accepted from now on."""
        self.faults = tuple(faults)
        if reset_count:
            self.stats = []

    @property
    def fired(self) -> list[str]:
        """Every fault that triggered, in connection order."""
        return [f"#{s.index}: {d}" for s in self.stats for d in s.fired]

    @asynccontextmanager
    async def running(self) -> AsyncIterator[FaultProxy]:
        """Listen on 127.0.0.1 (a free port) while the block runs."""
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        self.port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, self._safe_handle)
            try:
                yield self
            finally:
                tg.cancel_scope.cancel()

    async def _safe_handle(self, client: anyio.abc.SocketStream) -> None:
        try:
            await self._handle(client)
        except _DISCONNECTED:
            pass
        except BaseExceptionGroup as eg:  # both sides failed at once
            rest = eg.split(_DISCONNECTED)[1]
            if rest is not None:
                raise rest from None

    async def _handle(self, client: anyio.abc.SocketStream) -> None:
        stats = ConnectionStats(len(self.stats) + 1)
        self.stats.append(stats)
        faults = [f for f in self.faults if f.connection in (None, stats.index)]
        reset = False
        try:
            upstream = await anyio.connect_tcp(self.upstream_host, self.upstream_port)
        except OSError:
            await client.aclose()
            return
        try:
            async with anyio.create_task_group() as tg:

                async def pump(
                    src: anyio.abc.SocketStream, dst: anyio.abc.SocketStream, d: Direction
                ) -> None:
                    nonlocal reset
                    mine = [f for f in faults if f.direction == d]
                    try:
                        await self._pump(src, dst, d, mine, stats)
                    except _Dropped as exc:
                        reset = bool(exc.args and exc.args[0])
                    except _DISCONNECTED:
                        pass
                    tg.cancel_scope.cancel()  # one side is done: so is the connection

                tg.start_soon(pump, client, upstream, "to_server")
                tg.start_soon(pump, upstream, client, "to_client")
        finally:
            with anyio.CancelScope(shield=True):
                for stream in (client, upstream):
                    if reset:
                        _linger_zero(stream)
                    with contextlib.suppress(*_DISCONNECTED):
                        await stream.aclose()

    async def _pump(
        self,
        src: anyio.abc.SocketStream,
        dst: anyio.abc.SocketStream,
        direction: Direction,
        faults: list[Fault],
        stats: ConnectionStats,
    ) -> None:
        scanner = LiteralScanner()
        scanner.starts = stats.starts(direction)
        seen = stats.literals(direction)
        heads = stats.heads(direction)
        # (position, fault) once the position is known; others wait for their literal or line.
        armed: list[tuple[int, Fault]] = [
            (f.after, f) for f in faults if f.literal is None and f.line is None
        ]
        for_literal = [f for f in faults if f.literal is not None]
        for_line = [f for f in faults if f.line is not None]
        held = bytearray()  # received, not forwarded yet: held[0] is at offset pos
        hold = 0.0
        pos = 0
        while True:
            try:
                data = await src.receive(_RECEIVE)
            except anyio.EndOfStream:
                return
            for index, start, length in scanner.feed(data):
                seen.append((start, length))
                for f in [f for f in for_literal if f.literal == index]:
                    for_literal.remove(f)
                    armed.append((start + min(f.after, max(length - 1, 0)), f))
            lines, scanner.lines = scanner.lines, []
            heads.extend((start, head[:64]) for start, head in lines)
            for start, head in lines:
                for f in [f for f in for_line if f.line is not None and f.line.search(head)]:
                    for_line.remove(f)
                    armed.append((start + f.after, f))
            armed.sort(key=lambda a: a[0])
            held += data
            limit = pos + len(held)
            if for_line and scanner.incomplete_line is not None:
                limit = scanner.incomplete_line  # a line fault may still want to cut before it
            while True:
                while armed and armed[0][0] <= pos:
                    _, fault = armed.pop(0)
                    stats.fired.append(fault.describe())
                    if fault.kind == "drop":
                        raise _Dropped(fault.reset)
                    if fault.kind == "stall":
                        if fault.seconds is None:
                            await anyio.sleep_forever()
                        await anyio.sleep(fault.seconds or 0.0)
                    else:
                        hold = fault.seconds or 0.0
                if limit <= pos:
                    break
                n = limit - pos if not armed else min(limit, armed[0][0]) - pos
                if hold:
                    await anyio.sleep(hold)
                await dst.send(bytes(held[:n]))
                del held[:n]
                pos += n
                if direction == "to_server":
                    stats.to_server = pos
                else:
                    stats.to_client = pos


def _linger_zero(stream: anyio.abc.SocketStream) -> None:
    """Make the next close send a TCP reset instead of an orderly FIN."""
    try:
        sock = stream.extra(anyio.abc.SocketAttribute.raw_socket)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except (OSError, anyio.TypedAttributeLookupError):
        pass
