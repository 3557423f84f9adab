"""The scripted in-memory server's own tests."""

from __future__ import annotations

import re

import anyio
import pytest

from pipeimap.errors import ConnectionLostError, ResponseParseError
from pipeimap.protocol._parser import ResponseParser
from pipeimap.protocol._responses import Event, Greeting, TaggedResponse
from pipeimap.testing.scripted import (
    ReceivedCommand,
    ScriptedConnection,
    ScriptedServer,
    ScriptError,
    Step,
    close,
    delay,
    expect,
    expect_line,
    hold,
    memory_stream_pair,
    release,
    reset,
    send,
    send_slowly,
    wait,
)

pytestmark = pytest.mark.anyio

GREETING = b"* OK [CAPABILITY IMAP4rev1] ready\r\n"


async def read_exactly(stream: anyio.abc.ByteStream, size: int) -> bytes:
    data = b""
    while len(data) < size:
        data += await stream.receive()
    return data


async def read_until(stream: anyio.abc.ByteStream, end: bytes) -> bytes:
    data = b""
    while not data.endswith(end):
        data += await stream.receive()
    return data


async def test_memory_pair_keeps_send_boundaries() -> None:
    with anyio.fail_after(5):
        client, server = memory_stream_pair()
        await client.send(b"abc")
        await client.send(b"defgh")
        assert await server.receive(2) == b"ab"
        assert await server.receive() == b"c"
        assert await server.receive() == b"defgh"
        await server.aclose()
        with pytest.raises(anyio.EndOfStream):
            await client.receive()
        with pytest.raises(anyio.BrokenResourceError):
            await client.send(b"x")
        await client.send_eof()
        with pytest.raises(anyio.ClosedResourceError):
            await client.send(b"x")


async def test_script_records_exact_bytes_and_grouping() -> None:
    script = [
        send(GREETING),
        expect(b"A1 NOOP"),
        expect(b"A2 SELECT INBOX\r\n"),
        expect(b'A3 LIST "" "*"'),
        send(b"A1 OK\r\nA2 OK\r\nA3 OK\r\n"),
        close(),
    ]
    with anyio.fail_after(5):
        async with ScriptedServer(script) as server:
            stream = server.client_stream
            assert await stream.receive() == GREETING
            await stream.send(b"A1 NOOP\r\nA2 SELECT INBOX\r\n")  # pipelined: one send
            await stream.send(b'A3 LIST "" "*"\r\n')
            assert await read_until(stream, b"A3 OK\r\n") == b"A1 OK\r\nA2 OK\r\nA3 OK\r\n"
            with pytest.raises(anyio.EndOfStream):
                await stream.receive()
    assert server.writes == [b"A1 NOOP\r\nA2 SELECT INBOX\r\n", b'A3 LIST "" "*"\r\n']
    assert server.received == b'A1 NOOP\r\nA2 SELECT INBOX\r\nA3 LIST "" "*"\r\n'
    assert [c.name for c in server.conn.commands] == ["NOOP", "SELECT", "LIST"]
    assert [c.tag for c in server.conn.commands] == ["A1", "A2", "A3"]
    assert bytes(server.conn.sent) == GREETING + b"A1 OK\r\nA2 OK\r\nA3 OK\r\n"


async def test_synchronizing_literal_gets_a_continuation() -> None:
    script = [expect(b"A1 LOGIN {5}\r\nalice pw\r\n"), send(b"A1 OK\r\n")]
    with anyio.fail_after(5):
        async with ScriptedServer(script, continuation=b"+ go on\r\n") as server:
            stream = server.client_stream
            await stream.send(b"A1 LOGIN {5}\r\n")
            assert await stream.receive() == b"+ go on\r\n"
            await stream.send(b"alice pw\r\n")
            assert await stream.receive() == b"A1 OK\r\n"
    assert server.conn.commands[0].parsed is not None


async def test_refused_literal_then_next_command() -> None:
    script = [
        expect(b"A1 APPEND INBOX {10}\r\n", answer_literals=False),
        send(b"A1 BAD [TOOBIG] no\r\n"),
        expect(b"A2 NOOP"),
        send(b"A2 OK\r\n"),
    ]
    with anyio.fail_after(5):
        async with ScriptedServer(script) as server:
            stream = server.client_stream
            await stream.send(b"A1 APPEND INBOX {10}\r\n")
            assert await stream.receive() == b"A1 BAD [TOOBIG] no\r\n"
            await stream.send(b"A2 NOOP\r\n")
            assert await stream.receive() == b"A2 OK\r\n"
    refused = server.conn.commands[0]
    assert refused.parsed is None
    assert refused.literal_pending == 10
    assert refused.tag == "A1"


async def test_regex_expect_and_expect_line() -> None:
    script = [
        expect(re.compile(rb"A1 AUTHENTICATE SCRAM-SHA-256 [A-Za-z0-9+/=]+\r\n")),
        send(b"+ c2VydmVyLWZpcnN0\r\n"),
        expect_line(re.compile(rb"[A-Za-z0-9+/=]+")),
        send(b"+ \r\n"),
        expect_line(b""),
        send(b"A1 OK done\r\n"),
        expect(b"A2 IDLE"),
        send(b"+ idling\r\n"),
        expect_line(b"DONE"),
        send(b"A2 OK\r\n"),
    ]
    with anyio.fail_after(5):
        async with ScriptedServer(script) as server:
            stream = server.client_stream
            await stream.send(b"A1 AUTHENTICATE SCRAM-SHA-256 bixuPXUscj1hYmM=\r\n")
            await read_until(stream, b"\r\n")
            await stream.send(b"Yz1iaXdz\r\n")
            await read_until(stream, b"\r\n")
            await stream.send(b"\r\n")
            assert await read_until(stream, b"\r\n") == b"A1 OK done\r\n"
            await stream.send(b"A2 IDLE\r\n")
            await read_until(stream, b"\r\n")
            await stream.send(b"DONE\r\n")
            assert await read_until(stream, b"\r\n") == b"A2 OK\r\n"


async def test_mismatch_fails_with_step_and_bytes() -> None:
    with anyio.fail_after(5), pytest.raises(ScriptError) as info:  # noqa: PT012 - raised at exit
        async with ScriptedServer([send(GREETING), expect(b"A1 NOOP")]) as server:
            await server.client_stream.receive()
            await server.client_stream.send(b"A1 CHECK\r\n")
            # the server drops the connection on a mismatch
            with pytest.raises(anyio.BrokenResourceError):
                await server.client_stream.receive()
    message = str(info.value)
    assert "step 1" in message
    assert "A1 NOOP" in message
    assert "A1 CHECK" in message


async def test_script_error_wins_over_the_test_body_error() -> None:
    with anyio.fail_after(5), pytest.raises(ScriptError):  # noqa: PT012 - raised at exit
        async with ScriptedServer([expect(b"A1 NOOP"), send(b"A1 OK\r\n")]) as server:
            await server.client_stream.send(b"A1 NOOP \r\n")
            data = await server.client_stream.receive()
            assert data == b"A1 OK\r\n"  # never reached: the command was malformed


async def test_missing_command_fails_at_exit() -> None:
    with anyio.fail_after(5), pytest.raises(ScriptError, match="closed the connection"):
        async with ScriptedServer([expect(b"A1 NOOP"), expect(b"A2 NOOP")]) as server:
            await server.client_stream.send(b"A1 NOOP\r\n")


async def test_command_after_the_script_fails() -> None:
    with anyio.fail_after(5), pytest.raises(ScriptError, match="after the end of the script"):  # noqa: PT012 - raised at exit
        async with ScriptedServer([expect(b"A1 NOOP")]) as server:
            await server.client_stream.send(b"A1 NOOP\r\nA2 NOOP\r\n")
            await server.finished.wait()


async def test_malformed_command_fails() -> None:
    with anyio.fail_after(5), pytest.raises(ScriptError, match="malformed"):  # noqa: PT012 - raised at exit
        async with ScriptedServer([expect(b"A1 NOOP")]) as server:
            await server.client_stream.send(b"A1 NOOP\n")
            await server.finished.wait()


async def test_handler_with_held_responses_released_out_of_order() -> None:
    async def handler(conn: ScriptedConnection, command: ReceivedCommand) -> None:
        conn.hold(command.tag, f"* {command.tag} data\r\n{command.tag} OK\r\n".encode())
        if command.tag == "A3":
            await conn.release("A3", "A1")
            await conn.release("A2")

    with anyio.fail_after(5):
        async with ScriptedServer(handler=handler, greeting=GREETING) as server:
            stream = server.client_stream
            assert await stream.receive() == GREETING
            await stream.send(b"A1 NOOP\r\nA2 NOOP\r\nA3 NOOP\r\n")
            first = await stream.receive()
            assert first == b"* A3 data\r\nA3 OK\r\n* A1 data\r\nA1 OK\r\n"
            assert await stream.receive() == b"* A2 data\r\nA2 OK\r\n"


async def test_script_hold_release_and_test_driven_release() -> None:
    script = [
        expect(b"A1 NOOP"),
        expect(b"A2 NOOP"),
        hold("A1", b"A1 OK\r\n"),
        hold("A2", b"A2 OK\r\n"),
        release("A2"),
    ]
    with anyio.fail_after(5):
        async with ScriptedServer(script) as server:
            await server.client_stream.send(b"A1 NOOP\r\nA2 NOOP\r\n")
            assert await server.client_stream.receive() == b"A2 OK\r\n"
            await server.conn.release("A1")  # the test decides when
            assert await server.client_stream.receive() == b"A1 OK\r\n"


async def test_unsolicited_data_and_wait_for_the_test() -> None:
    go = anyio.Event()
    script = [send(GREETING), wait(go), send(b"* 3 EXISTS\r\n")]
    with anyio.fail_after(5):
        async with ScriptedServer(script) as server:
            assert await server.client_stream.receive() == GREETING
            with anyio.move_on_after(0.05):
                await server.client_stream.receive()
                pytest.fail("sent before the event")
            go.set()
            assert await server.client_stream.receive() == b"* 3 EXISTS\r\n"


async def test_send_slowly_one_byte_per_write() -> None:
    with anyio.fail_after(5):
        async with ScriptedServer([send_slowly(b"* OK\r\n", 0.001)]) as server:
            chunks = [await server.client_stream.receive() for _ in range(6)]
    assert chunks == [b"*", b" ", b"O", b"K", b"\r", b"\n"]


async def test_close_mid_response() -> None:
    script = [send(b"* 1 FETCH (BODY[] {100}\r\nabc"), close()]
    with anyio.fail_after(5):
        async with ScriptedServer(script) as server:
            parser = ResponseParser(expect_greeting=False)
            while True:
                try:
                    data = await server.client_stream.receive()
                except anyio.EndOfStream:
                    break
                parser.feed(data)
            parser.feed_eof()
            with pytest.raises(ResponseParseError):
                list(parser.events())


async def test_reset_breaks_the_client_receive() -> None:
    with anyio.fail_after(5):
        async with ScriptedServer([send(GREETING), reset()]) as server:
            assert await server.client_stream.receive() == GREETING
            with pytest.raises(anyio.BrokenResourceError) as info:
                await server.client_stream.receive()
            assert isinstance(info.value.args[0], ConnectionResetError)


async def test_garbage_reaches_the_parser() -> None:
    with anyio.fail_after(5):
        async with ScriptedServer([send(b"\x00\xff\xfe garbage\r\n")]) as server:
            parser = ResponseParser()
            parser.feed(await server.client_stream.receive())
            with pytest.raises(ResponseParseError):
                parser.next_event()


async def test_delay_and_custom_step() -> None:
    seen: list[str] = []

    async def note(conn: ScriptedConnection) -> None:
        seen.append("ran")
        await conn.send(b"* OK custom\r\n")

    with anyio.fail_after(5):
        async with ScriptedServer([delay(0.01), Step("note", note)]) as server:
            parser = ResponseParser()
            parser.feed(await server.client_stream.receive())
            event = parser.next_event()
            assert isinstance(event, Greeting)
            assert event.text == "custom"
    assert seen == ["ran"]


async def test_works_under_a_transport() -> None:
    from pipeimap.client._transport import Transport

    script = [send(GREETING), expect(b"A1 LOGOUT"), send(b"* BYE\r\nA1 OK\r\n"), close()]
    with anyio.fail_after(5):
        async with ScriptedServer(script) as server:
            transport = Transport(server.client_stream)
            parser = ResponseParser()
            parser.feed(await transport.receive())
            assert isinstance(parser.next_event(), Greeting)
            await transport.send_all(b"A1 LOGOUT\r\n")
            events: list[Event] = []
            while not any(isinstance(e, TaggedResponse) for e in events):
                parser.feed(await transport.receive())
                events += list(parser.events())
            assert await transport.receive() == b""
            await transport.aclose()
            with pytest.raises(ConnectionLostError):
                await transport.receive()
