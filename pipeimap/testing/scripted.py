"""A scripted in-memory IMAP server for exact wire-level client tests.

Theory of operation: :func:`memory_stream_pair` gives two connected
:class:`MemoryByteStream` ends (anyio memory object streams underneath, one
item per ``send()``), so a client :class:`~pipeimap.client._transport.Transport`
can run on one end while :class:`ScriptedServer` plays the server on the
other.  Because each client ``send()`` arrives as one item, the server can
record exactly how the client grouped its bytes: :attr:`ScriptedConnection.writes`
proves pipelining (several commands in one send).

The server reads commands with the strict
:class:`~pipeimap.protocol._command_parser.CommandReader` (a malformed command
fails the test), answers ``+`` to synchronizing literals itself, and follows a
script of steps -- :func:`send`, :func:`expect`, :func:`expect_line`,
:func:`delay`, :func:`close`, :func:`start_tls`, :func:`start_compression`... -- then hands any further commands to an
optional ``handler`` callback.  A step is just an async function of the
connection, so a test can write its own.  Example::

    script = [
        send(b"* OK ready\\r\\n"),
        expect(b"A1 LOGIN alice secret"),
        expect(b"A2 SELECT INBOX"),          # pipelined: arrived without waiting
        send(b"A1 OK done\\r\\nA2 OK [READ-WRITE] done\\r\\n"),
        close(),
    ]
    async with ScriptedServer(script) as server:
        transport = Transport(server.client_stream)
        ...
    assert server.conn.writes == [b"A1 LOGIN alice secret\\r\\nA2 SELECT INBOX\\r\\n"]

When the ``async with`` block ends, the client end is closed, the server runs
the rest of its script (an ``expect`` then fails: the client never sent it),
and the first script failure is raised as :class:`ScriptError` -- also when the
test body failed first, since a script mismatch is usually the root cause.
"""

from __future__ import annotations

import contextlib
import math
import re
import ssl
import zlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from anyio.streams.tls import TLSStream

from ..protocol._command_parser import (
    CommandParseError,
    CommandReader,
    ContinuationNeeded,
    ParsedCommand,
)

__all__ = [
    "MemoryByteStream",
    "ReceivedCommand",
    "ScriptError",
    "ScriptedConnection",
    "ScriptedServer",
    "Step",
    "close",
    "delay",
    "expect",
    "expect_line",
    "hold",
    "memory_stream_pair",
    "read_commands",
    "release",
    "reset",
    "send",
    "send_lazily",
    "send_slowly",
    "start_compression",
    "start_tls",
    "wait",
]

_RESET = None  # the item that makes the peer's receive fail like a TCP RST


class ScriptError(AssertionError):
    """The client did not do what the script expected."""


# --- the in-memory byte stream ----------------------------------------------------------


class MemoryByteStream(anyio.abc.ByteStream):
    """One end of an in-memory connection.  ``receive()`` returns at most one of
    the peer's ``send()`` items (split if longer than ``max_bytes``)."""

    def __init__(
        self,
        send_stream: MemoryObjectSendStream[bytes | None],
        receive_stream: MemoryObjectReceiveStream[bytes | None],
    ) -> None:
        self._send_stream = send_stream
        self._receive_stream = receive_stream
        self._buffer = b""

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if not self._buffer:
            item = await self._receive_stream.receive()
            if item is None:  # _RESET
                raise anyio.BrokenResourceError(ConnectionResetError("connection reset by peer"))
            self._buffer = item
        data, self._buffer = self._buffer[:max_bytes], self._buffer[max_bytes:]
        return data

    async def send(self, item: bytes) -> None:
        if item:
            await self._send_stream.send(bytes(item))

    async def send_eof(self) -> None:
        await self._send_stream.aclose()

    async def reset(self) -> None:
        """Make the peer's next receive (after what was already sent) fail, then close."""
        # Never waits: with a bounded buffer that is full, the peer just sees EOF.
        with contextlib.suppress(
            anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.WouldBlock
        ):
            self._send_stream.send_nowait(_RESET)
        await self.aclose()

    async def aclose(self) -> None:
        await self._send_stream.aclose()
        await self._receive_stream.aclose()


def memory_stream_pair(
    max_buffer_size: float = math.inf,
) -> tuple[MemoryByteStream, MemoryByteStream]:
    """Two connected ends, ``(client, server)``.  By default the buffers are
    unbounded, so a send never blocks (backpressure is not modelled); with
    ``max_buffer_size`` (sends, not bytes) a send waits while that many are
    unread, like a full TCP window -- what a server that streams endless data
    lazily (:func:`send_lazily`) needs to stay bounded."""
    c2s_send, c2s_receive = anyio.create_memory_object_stream[bytes | None](max_buffer_size)
    s2c_send, s2c_receive = anyio.create_memory_object_stream[bytes | None](max_buffer_size)
    return MemoryByteStream(c2s_send, s2c_receive), MemoryByteStream(s2c_send, c2s_receive)


# --- the server side of one connection --------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReceivedCommand:
    """One command as the client wrote it.  ``parsed`` is ``None`` (and
    ``literal_pending`` the literal's size) when the server stopped at a
    synchronizing literal without answering ``+``."""

    raw: bytes
    parsed: ParsedCommand | None
    literal_pending: int | None = None

    @property
    def tag(self) -> str:
        if self.parsed is not None:
            return self.parsed.tag
        return self.raw.split(b" ", 1)[0].decode("ascii", "replace")

    @property
    def name(self) -> str:
        return self.parsed.name if self.parsed is not None else ""


@dataclass
class ScriptedConnection:
    """The server's side: what the client wrote, and ways to answer it."""

    stream: anyio.abc.ByteStream
    continuation: bytes = b"+ Ready for literal data\r\n"
    utf8: bool = False
    #: Every byte the client wrote (plaintext, after TLS).
    received: bytearray = field(default_factory=bytearray)
    #: The client's sends, one item each (per TLS record once TLS is on;
    #: inflated once COMPRESS is on).
    writes: list[bytes] = field(default_factory=list)
    #: Every complete command, in order.
    commands: list[ReceivedCommand] = field(default_factory=list)
    #: Every byte the server wrote (except what :func:`send_lazily` wrote).
    sent: bytearray = field(default_factory=bytearray)
    #: Bytes written by :func:`send_lazily` (counted, not kept).
    sent_lazily: int = 0
    closed: bool = False
    client_gone: bool = False
    _reader: CommandReader = field(init=False)
    _held: dict[str, bytes] = field(default_factory=dict)
    _inflate: Any = None  # zlib decompressor once COMPRESS=DEFLATE is on
    _deflate: Any = None  # zlib compressor

    def __post_init__(self) -> None:
        self._reader = CommandReader(utf8=self.utf8)

    async def _fill(self) -> bool:
        """Read one chunk into the reader; False at end of stream."""
        try:
            chunk = await self.stream.receive(1 << 20)
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            self.client_gone = True
            return False
        if self._inflate is not None:
            chunk = self._inflate.decompress(chunk)  # the client flushes every send
        self.received += chunk
        self.writes.append(chunk)
        self._reader.feed(chunk)
        return True

    async def read_command(self, *, answer_literals: bool = True) -> ReceivedCommand | None:
        """The next complete command, or ``None`` at end of stream.  Synchronizing
        literals get :attr:`continuation` unless ``answer_literals`` is false:
        then the command is returned as far as it came, with ``parsed=None``."""
        while True:
            before = self._reader.pending
            try:
                result = self._reader.next_command()
            except CommandParseError as exc:
                raise ScriptError(f"the client wrote a malformed command: {exc}") from None
            if isinstance(result, ParsedCommand):
                raw = before[: len(before) - len(self._reader.pending)]
                command = ReceivedCommand(raw, result)
                self.commands.append(command)
                return command
            if isinstance(result, ContinuationNeeded):
                if not answer_literals:
                    # The client waits for "+" and sends nothing more; start afresh.
                    self._reader = CommandReader(utf8=self.utf8)
                    command = ReceivedCommand(before, None, result.size)
                    self.commands.append(command)
                    return command
                await self.send(self.continuation)
                continue
            if not await self._fill():
                return None

    async def read_line(self) -> bytes | None:
        """One raw line without CRLF (a SASL response, ``DONE``), or ``None`` at EOF."""
        while True:
            line = self._reader.read_line()
            if line is not None:
                return line
            if not await self._fill():
                return None

    async def send(self, data: bytes) -> None:
        """One server write.  Writing to a client that has gone is not an error
        (the script may run on after the test stopped reading)."""
        self.sent += data
        if self._deflate is not None:
            data = self._deflate.compress(data) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
        await self._send_raw(data)

    async def _send_raw(self, data: bytes) -> None:
        if self.closed or self.client_gone:
            return
        try:
            await self.stream.send(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            self.client_gone = True

    def hold(self, key: str, data: bytes) -> None:
        """Keep ``data`` (a tagged response, usually) to send later with :meth:`release`."""
        self._held[key] = data

    async def release(self, *keys: str) -> None:
        """Send held responses in the order given, together in one write."""
        missing = [k for k in keys if k not in self._held]
        if missing:
            raise ScriptError(f"nothing held under {missing}")
        await self.send(b"".join(self._held.pop(k) for k in keys))

    async def close(self) -> None:
        """Close the connection: the client sees end of stream."""
        if not self.closed:
            self.closed = True
            await self.stream.aclose()

    async def reset(self) -> None:
        """Drop the connection like a TCP RST: the client's receive fails."""
        if self.closed:
            return
        self.closed = True
        if isinstance(self.stream, MemoryByteStream):
            await self.stream.reset()
        else:
            await anyio.aclose_forcefully(self.stream)

    async def start_compression(self, ok: bytes = b"", then: bytes = b"") -> None:
        """Send ``ok`` (COMPRESS's tagged OK) uncompressed, switch on raw DEFLATE
        both ways (RFC 4978), and send ``then`` compressed in the same write --
        the case where the client must inflate bytes it received with the OK."""
        self._inflate = zlib.decompressobj(-15)
        self._deflate = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
        self.sent += ok + then
        compressed = self._deflate.compress(then) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
        await self._send_raw(ok + compressed if then else ok)

    async def start_tls(self, ssl_context: ssl.SSLContext) -> None:
        """Do the server side of a TLS handshake (after sending STARTTLS's OK)."""
        self.stream = await TLSStream.wrap(
            self.stream, server_side=True, ssl_context=ssl_context, standard_compatible=False
        )


# --- steps --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """One scripted action: an async function of the connection, with a name
    for error messages.  Build custom ones with ``Step("what", fn)``."""

    description: str
    run: Callable[[ScriptedConnection], Awaitable[None]]

    def __repr__(self) -> str:
        return self.description


def send(data: bytes) -> Step:
    """Write ``data`` in one send (unsolicited data and garbage included)."""
    return Step(f"send({data!r})", lambda conn: conn.send(data))


def send_slowly(data: bytes, interval: float = 1.0) -> Step:
    """Write ``data`` one byte at a time, ``interval`` seconds apart."""

    async def run(conn: ScriptedConnection) -> None:
        for i in range(len(data)):
            if i:
                await anyio.sleep(interval)
            await conn.send(data[i : i + 1])

    return Step(f"send_slowly({data!r}, {interval})", run)


def send_lazily(
    chunks: Iterable[bytes] | Callable[[], Iterable[bytes]], interval: float = 0.0
) -> Step:
    """Write each chunk of a (perhaps endless) iterable as it is produced,
    ``interval`` seconds apart, until it ends or the client is gone.  The chunks
    are counted in :attr:`ScriptedConnection.sent_lazily`, not kept in
    :attr:`~ScriptedConnection.sent`, so a generator can play a hostile server
    that sends gigabytes without the test holding them (give the server a
    ``max_buffer_size`` so that the sends wait for the client).  A callable is
    called when the step runs (a fresh generator per run)."""

    async def run(conn: ScriptedConnection) -> None:
        source = chunks() if callable(chunks) else chunks
        first = True
        for chunk in source:
            if conn.closed or conn.client_gone:
                return
            if interval and not first:
                await anyio.sleep(interval)
            first = False
            await conn._send_raw(chunk)
            if not conn.client_gone:
                conn.sent_lazily += len(chunk)

    return Step(f"send_lazily({chunks!r}, {interval})", run)


def read_commands(count: int) -> Step:
    """Read ``count`` commands, whatever they are (concurrent callers submit
    them in no fixed order); they are in :attr:`ScriptedConnection.commands`."""

    async def run(conn: ScriptedConnection) -> None:
        for i in range(count):
            if await conn.read_command() is None:
                raise ScriptError(f"the client closed the connection after {i} of {count} commands")

    return Step(f"read_commands({count})", run)


def _matches(expected: bytes | re.Pattern[bytes], raw: bytes) -> bool:
    if isinstance(expected, re.Pattern):
        return expected.fullmatch(raw) is not None
    return raw == expected


def _with_crlf(data: bytes | re.Pattern[bytes]) -> bytes | re.Pattern[bytes]:
    if isinstance(data, bytes) and not data.endswith(b"\r\n"):
        return data + b"\r\n"
    return data


def expect(command: bytes | re.Pattern[bytes], *, answer_literals: bool = True) -> Step:
    """The client's next command must be exactly ``command`` (the CRLF may be
    left out; a regex must match the whole command, CRLF included).  With
    ``answer_literals=False`` the server stops at the first synchronizing
    literal without sending ``+`` and ``command`` is compared with what came
    up to and including the literal's ``{n}`` CRLF (to test a refused literal)."""
    wanted = _with_crlf(command) if answer_literals else command

    async def run(conn: ScriptedConnection) -> None:
        got = await conn.read_command(answer_literals=answer_literals)
        if got is None:
            raise ScriptError(f"the client closed the connection; expected {wanted!r}")
        if not _matches(wanted, got.raw):
            raise ScriptError(f"expected {wanted!r}, the client wrote {got.raw!r}")

    return Step(f"expect({command!r})", run)


def expect_line(line: bytes | re.Pattern[bytes]) -> Step:
    """The client's next line (SASL response, ``DONE``) must be ``line`` (no CRLF)."""

    async def run(conn: ScriptedConnection) -> None:
        got = await conn.read_line()
        if got is None:
            raise ScriptError(f"the client closed the connection; expected line {line!r}")
        if not _matches(line, got):
            raise ScriptError(f"expected line {line!r}, the client wrote {got!r}")

    return Step(f"expect_line({line!r})", run)


def delay(seconds: float) -> Step:
    return Step(f"delay({seconds})", lambda conn: anyio.sleep(seconds))


def close() -> Step:
    """Close the connection (after a partial response: close mid-response)."""
    return Step("close()", lambda conn: conn.close())


def reset() -> Step:
    """Drop the connection like a TCP reset."""
    return Step("reset()", lambda conn: conn.reset())


def hold(key: str, data: bytes) -> Step:
    async def run(conn: ScriptedConnection) -> None:
        conn.hold(key, data)

    return Step(f"hold({key!r}, {data!r})", run)


def release(*keys: str) -> Step:
    """Send held responses, in this order, in one write."""
    return Step(f"release{keys!r}", lambda conn: conn.release(*keys))


def wait(event: anyio.Event) -> Step:
    """Pause the script until the test sets ``event``."""
    return Step("wait(event)", lambda conn: event.wait())


def start_compression(ok: bytes = b"", then: bytes = b"") -> Step:
    """See :meth:`ScriptedConnection.start_compression`."""
    return Step(
        f"start_compression({ok!r}, {then!r})", lambda conn: conn.start_compression(ok, then)
    )


def start_tls(ssl_context: ssl.SSLContext) -> Step:
    """Server side of the TLS handshake (after ``send(b"A1 OK Begin TLS\\r\\n")``)."""
    return Step("start_tls()", lambda conn: conn.start_tls(ssl_context))


# --- the server -----------------------------------------------------------------------------

Handler = Callable[[ScriptedConnection, ReceivedCommand], Awaitable[None]]


class ScriptedServer:
    """Runs ``script``, then passes every further command to ``handler`` (without
    a handler, a command after the script is an error).  ``greeting`` is sent
    first when given; ``max_buffer_size``: see :func:`memory_stream_pair`.
    Use as ``async with ScriptedServer(...) as server``;
    the client connects with :attr:`client_stream`."""

    def __init__(
        self,
        script: Iterable[Step] = (),
        *,
        handler: Handler | None = None,
        greeting: bytes | None = None,
        continuation: bytes = b"+ Ready for literal data\r\n",
        utf8: bool = False,
        max_buffer_size: float = math.inf,
    ) -> None:
        self.script = list(script)
        self.handler = handler
        self.greeting = greeting
        client, server = memory_stream_pair(max_buffer_size)
        self.client_stream: MemoryByteStream = client
        self.conn = ScriptedConnection(server, continuation=continuation, utf8=utf8)
        self.error: BaseException | None = None
        self.position = 0  # index of the step running (or next to run)
        self.finished = anyio.Event()  # set when the script and handler loop are done
        self._tg: anyio.abc.TaskGroup | None = None

    async def _run_script(self) -> None:
        step = None
        try:
            for index, step in enumerate(self.script):
                self.position = index
                await step.run(self.conn)
        except ScriptError as exc:
            raise ScriptError(f"step {self.position} {step!r}: {exc}") from None
        self.position = len(self.script)

    async def _run(self) -> None:
        conn = self.conn
        try:
            if self.greeting is not None:
                await conn.send(self.greeting)
            await self._run_script()
            while not conn.closed:
                command = await conn.read_command()
                if command is None:
                    break
                if self.handler is None:
                    raise ScriptError(f"command after the end of the script: {command.raw!r}")
                await self.handler(conn, command)
        except Exception as exc:
            self.error = exc
            await conn.reset()  # wake up a client waiting for an answer
        finally:
            self.finished.set()

    async def __aenter__(self) -> ScriptedServer:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._run)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        assert self._tg is not None
        if exc is not None:
            self._tg.cancel_scope.cancel()
        else:
            await self.client_stream.aclose()  # an expect() still waiting now fails
        await self._tg.__aexit__(None, None, None)
        if self.error is not None and not isinstance(exc, ScriptError):
            raise self.error from exc
        return False

    @property
    def received(self) -> bytes:
        return bytes(self.conn.received)

    @property
    def writes(self) -> list[bytes]:
        return self.conn.writes
