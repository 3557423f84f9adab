"""Transport on in-memory streams and on local TCP stubs: error mapping, STARTTLS
injection, COMPRESS=DEFLATE semantics, timeouts."""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import pytest
import trustme

from pipeimap.client._transport import Transport, default_ssl_context
from pipeimap.errors import ConnectionLostError, IMAPTimeoutError, UnexpectedResponseError
from pipeimap.protocol._parser import ResponseParser
from pipeimap.protocol._responses import Event, Greeting, TaggedResponse, UntaggedStatus
from pipeimap.testing.scripted import (
    ScriptedConnection,
    ScriptedServer,
    Step,
    close,
    expect,
    reset,
    send,
    start_compression,
    start_tls,
)

pytestmark = pytest.mark.anyio

GREETING = b"* OK ready\r\n"


async def next_event(transport: Transport, parser: ResponseParser) -> Event:
    while True:
        event = parser.next_event()
        if event is not None:
            return event
        data = await transport.receive()
        if not data:
            raise AssertionError("unexpected end of stream")
        parser.feed(data)


async def drain(transport: Transport) -> None:
    while await transport.receive():
        pass


async def until_tagged(transport: Transport, parser: ResponseParser, tag: str) -> list[Event]:
    events = []
    while True:
        event = await next_event(transport, parser)
        events.append(event)
        if isinstance(event, TaggedResponse) and event.tag == tag:
            return events


# --- end of stream, reset, closed ---------------------------------------------------------


async def test_eof_is_empty_bytes_then_send_fails() -> None:
    with anyio.fail_after(5):
        async with ScriptedServer([send(GREETING), close()]) as server:
            transport = Transport(server.client_stream)
            assert await transport.receive() == GREETING
            assert await transport.receive() == b""
            with pytest.raises(ConnectionLostError) as info:
                await transport.send_all(b"A1 NOOP\r\n")
            assert info.value.__cause__ is not None
            await transport.aclose()


async def test_reset_is_connection_lost() -> None:
    with anyio.fail_after(5):
        async with ScriptedServer([send(GREETING), reset()]) as server:
            transport = Transport(server.client_stream)
            await transport.receive()
            with pytest.raises(ConnectionLostError, match="reset") as info:
                await transport.receive()
            assert isinstance(info.value.__cause__, anyio.BrokenResourceError)


async def test_closed_transport() -> None:
    with anyio.fail_after(5):
        async with ScriptedServer() as server:
            transport = Transport(server.client_stream)
            await transport.aclose()
            await transport.aclose()  # idempotent
            assert transport.closed
            with pytest.raises(ConnectionLostError):
                await transport.receive()
            with pytest.raises(ConnectionLostError):
                await transport.send_all(b"x")
            with pytest.raises(ConnectionLostError):
                transport.start_compression()


class _StuckStream(anyio.abc.ByteStream):
    """Sends never complete (a peer that stopped reading)."""

    async def receive(self, max_bytes: int = 65536) -> bytes:
        await anyio.sleep_forever()
        raise AssertionError

    async def send(self, item: bytes) -> None:
        await anyio.sleep_forever()

    async def send_eof(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


async def test_interrupted_send_breaks_the_stream() -> None:
    transport = Transport(_StuckStream())
    with anyio.fail_after(5):
        with anyio.move_on_after(0.01):
            await transport.send_all(b"A1 NOOP\r\n")
        with pytest.raises(ConnectionLostError, match="interrupted"):
            await transport.send_all(b"A2 NOOP\r\n")


async def test_layer_switch_refused_during_receive() -> None:
    transport = Transport(_StuckStream())
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(transport.receive)
            await anyio.sleep(0.01)
            with pytest.raises(RuntimeError):
                transport.start_compression()
            with pytest.raises(RuntimeError):
                await transport.start_tls(default_ssl_context(), "localhost")
            with pytest.raises(RuntimeError):
                await transport.receive()
            tg.cancel_scope.cancel()


# --- STARTTLS --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_pair() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("imap.example.test").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    return server_ctx, client_ctx


async def test_starttls_over_the_scripted_server(
    tls_pair: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_ctx, client_ctx = tls_pair
    script = [
        send(GREETING),
        expect(b"A1 STARTTLS"),
        send(b"A1 OK Begin TLS negotiation now\r\n"),
        start_tls(server_ctx),
        expect(b"A2 CAPABILITY"),
        send(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nA2 OK\r\n"),
    ]
    with anyio.fail_after(10):
        async with ScriptedServer(script) as server:
            transport = Transport(server.client_stream)
            parser = ResponseParser()
            assert isinstance(await next_event(transport, parser), Greeting)
            await transport.send_all(b"A1 STARTTLS\r\n")
            await until_tagged(transport, parser, "A1")
            await transport.start_tls(
                client_ctx, "imap.example.test", unparsed=parser.take_unparsed()
            )
            assert transport.is_tls
            assert transport.tls_version is not None
            parser = ResponseParser(expect_greeting=False)
            await transport.send_all(b"A2 CAPABILITY\r\n")
            events = await until_tagged(transport, parser, "A2")
            assert isinstance(events[-1], TaggedResponse)
            assert events[-1].status == "OK"
            await transport.aclose()
    assert server.received.endswith(b"A2 CAPABILITY\r\n")


async def test_starttls_refuses_injected_bytes(
    tls_pair: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    _server_ctx, client_ctx = tls_pair
    # The attacker's response arrives in the same segment as the OK.
    script = [
        send(GREETING),
        expect(b"A1 STARTTLS"),
        send(b"A1 OK Begin TLS\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nA2 OK\r\n"),
    ]
    with anyio.fail_after(5):
        async with ScriptedServer(script) as server:
            transport = Transport(server.client_stream)
            parser = ResponseParser()
            await next_event(transport, parser)
            await transport.send_all(b"A1 STARTTLS\r\n")
            await until_tagged(transport, parser, "A1")
            unparsed = parser.take_unparsed()
            assert unparsed.startswith(b"* CAPABILITY")
            with pytest.raises(UnexpectedResponseError, match="injection"):
                await transport.start_tls(client_ctx, "imap.example.test", unparsed=unparsed)
            assert transport.closed


async def test_starttls_wrong_name_is_refused(
    tls_pair: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_ctx, client_ctx = tls_pair
    script = [expect(b"A1 STARTTLS"), send(b"A1 OK\r\n"), Step("tls", _tolerant_tls(server_ctx))]
    with anyio.fail_after(5):
        async with ScriptedServer(script) as server:
            transport = Transport(server.client_stream)
            await transport.send_all(b"A1 STARTTLS\r\n")
            assert await transport.receive() == b"A1 OK\r\n"
            with pytest.raises(ConnectionLostError) as info:
                await transport.start_tls(client_ctx, "other.example.test")
            assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
            assert transport.closed


def _tolerant_tls(ctx: ssl.SSLContext) -> Callable[[ScriptedConnection], Awaitable[None]]:
    async def run(conn: ScriptedConnection) -> None:
        # The client hangs up during the handshake: that is the point of the test.
        with contextlib.suppress(ssl.SSLError, anyio.BrokenResourceError, anyio.EndOfStream):
            await conn.start_tls(ctx)

    return run


async def test_starttls_needs_a_hostname_to_verify() -> None:
    transport = Transport(_StuckStream())
    with pytest.raises(ValueError, match="server_hostname"):
        await transport.start_tls(default_ssl_context(), None)


# --- COMPRESS=DEFLATE --------------------------------------------------------------------------


def deflate(data: bytes, compressor: zlib._Compress | None = None) -> bytes:
    c = compressor or zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)


async def test_compression_inflates_bytes_after_the_ok_first() -> None:
    script = [
        expect(b"A1 COMPRESS DEFLATE"),
        # The compressed stream starts right after the CRLF, in the same write.
        start_compression(b"A1 OK DEFLATE active\r\n", then=b"* OK [ALERT] hello\r\n"),
        expect(b"A2 NOOP"),
        expect(b"A3 NOOP"),
        send(b"A2 OK\r\nA3 OK\r\n"),
    ]
    with anyio.fail_after(5):
        async with ScriptedServer(script) as server:
            transport = Transport(server.client_stream)
            parser = ResponseParser(expect_greeting=False)
            await transport.send_all(b"A1 COMPRESS DEFLATE\r\n")
            await until_tagged(transport, parser, "A1")
            unparsed = parser.take_unparsed()
            assert unparsed
            assert b"hello" not in unparsed
            transport.start_compression(unparsed)
            assert transport.is_compressed
            event = await next_event(transport, parser)
            assert isinstance(event, UntaggedStatus)
            assert event.text == "hello"
            await transport.send_all(b"A2 NOOP\r\n")
            await transport.send_all(b"A3 NOOP\r\n")
            events = await until_tagged(transport, parser, "A3")
            assert [e.tag for e in events if isinstance(e, TaggedResponse)] == ["A2", "A3"]
            assert transport.bytes_sent < len(b"A1 COMPRESS DEFLATE\r\nA2 NOOP\r\nA3 NOOP\r\n") + 40
            await transport.aclose()
    # Each send was flushed on its own: the server inflated them one by one.
    assert server.writes == [b"A1 COMPRESS DEFLATE\r\n", b"A2 NOOP\r\n", b"A3 NOOP\r\n"]


async def test_inflate_is_bounded_per_receive() -> None:
    body = b"x" * 3_000_000  # deflates to a few kB
    script = [send(deflate(body))]
    with anyio.fail_after(10):
        async with ScriptedServer(script) as server:
            transport = Transport(server.client_stream)
            transport.start_compression()
            got = bytearray()
            while len(got) < len(body):
                chunk = await transport.receive(4096)
                assert 0 < len(chunk) <= 4096
                got += chunk
            assert got == body
            assert transport.bytes_received < 100_000


async def test_corrupt_deflate_is_connection_lost() -> None:
    with anyio.fail_after(5):
        async with ScriptedServer([send(b"\xff\xff\xff\xff garbage")]) as server:
            transport = Transport(server.client_stream)
            transport.start_compression()
            with pytest.raises(ConnectionLostError) as info:
                await transport.receive()
            assert isinstance(info.value.__cause__, zlib.error)


async def test_compression_eof() -> None:
    with anyio.fail_after(5):
        async with ScriptedServer([send(deflate(b"* BYE\r\n")), close()]) as server:
            transport = Transport(server.client_stream)
            transport.start_compression()
            assert await transport.receive() == b"* BYE\r\n"
            assert await transport.receive() == b""


async def test_finished_deflate_stream_is_end_of_stream() -> None:
    c = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    data = c.compress(b"* BYE bye\r\n") + c.flush(zlib.Z_FINISH)
    with anyio.fail_after(5):
        async with ScriptedServer([send(data)]) as server:  # the TCP connection stays open
            transport = Transport(server.client_stream)
            transport.start_compression()
            assert await transport.receive(4) == b"* BY"
            assert await transport.receive() == b"E bye\r\n"
            assert await transport.receive() == b""


async def test_no_starttls_after_compress() -> None:
    transport = Transport(_StuckStream())
    transport.start_compression()
    with pytest.raises(RuntimeError):
        transport.start_compression()
    with pytest.raises(RuntimeError):
        await transport.start_tls(default_ssl_context(), "x")


# --- real TCP on loopback ------------------------------------------------------------------------


@asynccontextmanager
async def tcp_stub(
    handler: Callable[[anyio.abc.SocketStream], Awaitable[None]],
) -> AsyncIterator[int]:
    """A loopback TCP listener running ``handler`` per connection; yields its port."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handler)
        try:
            yield port
        finally:
            tg.cancel_scope.cancel()


async def test_tcp_reset_is_connection_lost() -> None:
    async def rst(stream: anyio.abc.SocketStream) -> None:
        sock = stream.extra(anyio.abc.SocketAttribute.raw_socket)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await stream.send(GREETING)
        await anyio.sleep(0.05)
        await stream.aclose()  # linger 0: RST instead of FIN

    with anyio.fail_after(5):
        async with tcp_stub(rst) as port:
            transport = await Transport.connect_tcp("127.0.0.1", port, tls=False)
            assert transport.is_tls is False
            nodelay = transport.stream.extra(anyio.abc.SocketAttribute.raw_socket).getsockopt(
                socket.IPPROTO_TCP, socket.TCP_NODELAY
            )
            assert nodelay
            assert await transport.receive() == GREETING
            with pytest.raises(ConnectionLostError) as info:
                await drain(transport)
            assert info.value.__cause__ is not None
            await transport.aclose()


async def test_tcp_eof_during_tls_handshake_is_connection_lost() -> None:
    async def hang_up(stream: anyio.abc.SocketStream) -> None:
        await stream.aclose()

    with anyio.fail_after(5):
        async with tcp_stub(hang_up) as port:
            with pytest.raises(ConnectionLostError) as info:
                await Transport.connect_tcp("127.0.0.1", port)
            assert info.value.__cause__ is not None


async def test_connect_refused_is_connection_lost() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens here once closed
    with anyio.fail_after(5), pytest.raises(ConnectionLostError, match="cannot connect") as info:
        await Transport.connect_tcp("127.0.0.1", port, tls=False)
    assert isinstance(info.value.__cause__, OSError)


async def test_connect_timeout_is_imap_timeout() -> None:
    async def silent(stream: anyio.abc.SocketStream) -> None:
        await anyio.sleep_forever()  # accepts TCP, never answers the TLS hello

    with anyio.fail_after(5):
        async with tcp_stub(silent) as port:
            with pytest.raises(IMAPTimeoutError) as info:
                await Transport.connect_tcp("127.0.0.1", port, connect_timeout=0.2)
            assert isinstance(info.value, TimeoutError)


async def test_outer_cancel_scope_is_not_a_timeout_error() -> None:
    async def silent(stream: anyio.abc.SocketStream) -> None:
        await anyio.sleep_forever()

    with anyio.fail_after(5):
        async with tcp_stub(silent) as port:
            with anyio.move_on_after(0.1) as scope:
                await Transport.connect_tcp("127.0.0.1", port, connect_timeout=10)
            assert scope.cancelled_caught


async def test_aclose_wakes_a_blocked_receive() -> None:
    async def silent(stream: anyio.abc.SocketStream) -> None:
        await anyio.sleep_forever()

    with anyio.fail_after(5):
        async with tcp_stub(silent) as port:
            transport = await Transport.connect_tcp("127.0.0.1", port, tls=False)
            errors: list[BaseException] = []

            async def reader() -> None:
                try:
                    await transport.receive()
                except ConnectionLostError as exc:
                    errors.append(exc)

            async with anyio.create_task_group() as tg:
                tg.start_soon(reader)
                await anyio.sleep(0.05)
                await transport.aclose()
            assert len(errors) == 1


def test_bad_tls_argument() -> None:
    with pytest.raises(TypeError):
        anyio.run(lambda: Transport.connect_tcp("127.0.0.1", 1, tls="yes"))  # type: ignore[arg-type]
