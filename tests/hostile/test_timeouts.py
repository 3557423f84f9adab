"""Hostile servers that try to hold the client forever: one that trickles
bytes without ever finishing a response, and a greeting that never comes --
next to the slow but honest server that must *not* time out."""

from __future__ import annotations

import anyio
import anyio.abc
import pytest

import pipeimap
from pipeimap import ConnectionLostError, IMAPTimeoutError
from pipeimap.client import connect_transport
from pipeimap.client._transport import Transport
from pipeimap.protocol import ParserLimits, UIDSet
from pipeimap.testing.scripted import (
    ScriptedServer,
    Step,
    close,
    delay,
    expect,
    send,
    send_lazily,
    wait,
)

from ._harness import BOUND, BYSTANDERS, Call, endless, run_case

pytestmark = pytest.mark.anyio

# Generous against a loaded CI machine: a keep-alive every 0.3 s must never look
# like silence, even when the event loop is starved for a few hundred ms.
READ_TIMEOUT = 1.0
BODY: dict[str, Call] = {"fetch": lambda c: c.fetch_all(UIDSet(10), ["BODY.PEEK[]"])}


def trickle(data: bytes, interval: float) -> list[Step]:
    """``data`` repeated forever, one byte every ``interval`` seconds."""
    return [send_lazily(lambda: endless(data, chunk_size=1), interval)]


@pytest.mark.parametrize(
    "head",
    [
        b"* 1 FETCH (UID 10 BODY[] {100000}\r\n",  # a literal held in memory
        b"* 1 FETCH (UID 10 BODY[] {10000000}\r\n",  # a streamed literal
        b"* OK ",  # a line that never ends
    ],
)
async def test_trickle_times_out(head: bytes) -> None:
    # Ten bytes a second: never silent for the read timeout (1 s), so a
    # timeout that only counts silence would wait forever.  The rate floor
    # (256 B/s by default) ends it after about the read timeout.
    hostile = [send(head), *trickle(b"x", 0.1)]
    started = anyio.current_time()
    case = await run_case(hostile, BODY | BYSTANDERS, read_timeout=READ_TIMEOUT)
    elapsed = anyio.current_time() - started
    assert case.closed
    errors = [case.error(name) for name in case.results]
    timeouts = [e for e in errors if type(e) is IMAPTimeoutError]
    assert len(timeouts) == 1, errors  # the task whose wait noticed it
    for e in errors:
        if e is not timeouts[0]:
            assert type(e) is ConnectionLostError, e
            assert type(e.__cause__) is IMAPTimeoutError, e.__cause__
    assert case.server.conn.sent_lazily < 100  # it did trickle, a few bytes
    assert elapsed < 6.0  # about READ_TIMEOUT; generous for a loaded machine


@pytest.mark.parametrize("streamed", [False, True])
async def test_slow_but_honest_download_does_not_time_out(streamed: bool) -> None:
    # 128 KiB at 64 KiB/s (1 KiB every 1/64 s): twice the read timeout in all,
    # without a complete response in between.  Never tripped.
    size = 128 * 1024
    limits = ParserLimits(stream_threshold=4096) if streamed else None
    head = b"* 1 FETCH (UID 10 BODY[] {%d}\r\n" % size
    body = [send_lazily(lambda: endless(b"z" * 63 + b"\n", chunk_size=1024, limit=size), 1 / 64)]
    hostile = [
        send(head),
        *body,
        send(b")\r\nA0003 OK done\r\n"),
        expect(b"A0004 LOGOUT"),
        send(b"* BYE bye\r\nA0004 OK done\r\n"),
        close(),
    ]
    started = anyio.current_time()
    case = await run_case(hostile, BODY, in_flight=1, read_timeout=READ_TIMEOUT, limits=limits)
    assert anyio.current_time() - started > 1.5 * READ_TIMEOUT  # it really was slow
    got = case.results["fetch"]
    assert got.error is None, got.error
    (message,) = got.value
    assert message.items["BODY[]"] == (b"z" * 63 + b"\n") * (size // 64)


async def test_keepalive_responses_keep_a_slow_command_alive() -> None:
    # Dovecot's "* OK Searched 20% of the mailbox" during a long SEARCH: the
    # command takes more than two read timeouts, but the server keeps completing
    # responses, so it is alive.
    calls: dict[str, Call] = {"search": lambda c: c.search()}
    progress = [send(b"* OK Searched %d%% of the mailbox\r\n" % p) for p in (25, 50, 75)]
    steps: list[Step] = []
    for step in progress:
        steps += [delay(0.3), step]
    hostile = [
        *steps,
        delay(0.3),
        send(b'* ESEARCH (TAG "A0003") UID ALL 10:12\r\nA0003 OK done\r\n'),
        expect(b"A0004 LOGOUT"),
        send(b"* BYE bye\r\nA0004 OK done\r\n"),
        close(),
    ]
    case = await run_case(hostile, calls, in_flight=1, read_timeout=READ_TIMEOUT)
    got = case.results["search"]
    assert got.error is None, got.error


# --- the greeting ---------------------------------------------------------------------------


@pytest.mark.parametrize("trickled", [False, True])
async def test_greeting_that_never_comes(trickled: bool) -> None:
    never = anyio.Event()
    script = trickle(b"* OK ", 0.05) if trickled else [wait(never)]
    started = anyio.current_time()
    with anyio.fail_after(BOUND):
        async with ScriptedServer(script, max_buffer_size=4) as server:
            with pytest.raises(IMAPTimeoutError, match="greeting"):
                async with connect_transport(
                    Transport(server.client_stream),
                    host="imap.test",
                    username="alice",
                    password="secret",
                    connect_timeout=0.3,
                    timeout=60,
                ):
                    pytest.fail("connected without a greeting")
            never.set()
    assert anyio.current_time() - started < 5.0


async def test_greeting_that_never_comes_over_tcp() -> None:
    # The public connect() against a real socket that accepts and says nothing.
    accepted = anyio.Event()

    async def mute(stream: anyio.abc.SocketStream) -> None:
        accepted.set()
        async with stream:
            await anyio.sleep(BOUND)

    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, mute)
            started = anyio.current_time()
            with anyio.fail_after(BOUND), pytest.raises(IMAPTimeoutError):
                async with pipeimap.connect(
                    "127.0.0.1",
                    port,
                    tls="insecure-plaintext",
                    username="alice",
                    password="secret",
                    connect_timeout=0.3,
                ):
                    pytest.fail("connected without a greeting")
            assert accepted.is_set()
            assert anyio.current_time() - started < 5.0
            tg.cancel_scope.cancel()
