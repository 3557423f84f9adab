"""The fault proxy itself: literals are found whatever the chunking, and each
fault triggers on the exact byte, on the right connection, in the right direction."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import pytest

from pipeimap.testing.faultproxy import (
    Fault,
    FaultProxy,
    LiteralScanner,
    cut_at_line,
    cut_literal,
    delay,
    drop,
    stall,
)

# A server stream with every literal form, and literal data that looks like a
# literal announcement (it must be skipped, not parsed).
PAYLOAD = (
    b"* OK ready\r\n"
    b"* 1 FETCH (UID 7 BODY[] {12}\r\nab{3}\r\nxyz\r\n)\r\n"
    b"* 2 FETCH (UID 8 BINARY[1] ~{4}\r\n\x00\x01\r\n BODY[HEADER] {0}\r\n)\r\n"
    b"* 3 FETCH (UID 9 BODY[] {2000}\r\n" + b"q" * 2000 + b")\r\n"
    b"A1 OK done\r\n"
)
LITERALS = [
    (PAYLOAD.index(b"ab{3}"), 12),
    (PAYLOAD.index(b"\x00\x01"), 4),
    (PAYLOAD.index(b" BODY[HEADER]") + len(b" BODY[HEADER] {0}\r\n"), 0),
    (PAYLOAD.index(b"q"), 2000),
]

STARTS = [
    (0, b"*"),
    (PAYLOAD.index(b"* 1 FETCH"), b"*"),
    (PAYLOAD.index(b"* 2 FETCH"), b"*"),
    (PAYLOAD.index(b"* 3 FETCH"), b"*"),
    (PAYLOAD.index(b"A1 OK"), b"A"),
]


def test_scanner_finds_literals_in_any_chunking() -> None:
    for seed in range(60):
        rng = random.Random(seed)
        scanner = LiteralScanner()
        found = []
        i = 0
        while i < len(PAYLOAD):
            n = rng.choice((1, 2, 3, 7, 50, 4096))
            found += scanner.feed(PAYLOAD[i : i + n])
            i += n
        assert [(start, length) for _, start, length in found] == LITERALS, seed
        assert [k for k, _, _ in found] == [0, 1, 2, 3]
        assert scanner.starts == STARTS, seed


def test_scanner_client_literal_forms() -> None:
    stream = b'A1 APPEND box {3+}\r\nabc {2}\r\nde\r\nA2 LOGIN {1}\r\nu "p"\r\n'
    found = LiteralScanner().feed(stream)
    assert [(s, n) for _, s, n in found] == [
        (stream.index(b"abc"), 3),
        (stream.index(b"de\r"), 2),
        (stream.index(b'u "p"'), 1),
    ]


def test_fault_validation() -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault("explode", "to_client")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="negative"):
        drop("to_client", -1)
    with pytest.raises(ValueError, match="counted from 1"):
        drop("to_client", 1, connection=0)
    assert "literal #2" in cut_literal("to_client", 2, 5).describe()


class _Upstream:
    """Sends PAYLOAD to each connection and records what each one sent."""

    def __init__(self, piece: int = 0) -> None:
        self.received: list[bytes] = []
        self.port = 0
        self.piece = piece  # send PAYLOAD in pieces of this size (0: at once)

    async def _serve(self, stream: anyio.abc.SocketStream) -> None:
        got = bytearray()
        self.received.append(b"")
        index = len(self.received) - 1
        async with stream:
            try:
                step = self.piece or len(PAYLOAD)
                for i in range(0, len(PAYLOAD), step):
                    await stream.send(PAYLOAD[i : i + step])
                    if self.piece:
                        await anyio.sleep(0.001)
                async for data in stream:
                    got += data
                    self.received[index] = bytes(got)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                pass

    @asynccontextmanager
    async def running(self) -> AsyncIterator[_Upstream]:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        self.port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, self._serve)
            yield self
            tg.cancel_scope.cancel()


async def _read_all(
    port: int, send: bytes = b"", *, limit: float = 10.0, whole: bool = False
) -> bytes:
    """Connect, send ``send``, read until the proxy closes."""
    got = bytearray()
    with anyio.fail_after(limit):
        async with await anyio.connect_tcp("127.0.0.1", port) as s:
            if send:
                await s.send(send)
            try:
                async for data in s:
                    got += data
                    if len(got) == len(PAYLOAD) and (whole or not send):
                        break
            except (anyio.BrokenResourceError, OSError):
                pass  # a reset: what arrived before it counts
    return bytes(got)


@asynccontextmanager
async def _setup(*faults: Fault, piece: int = 0) -> AsyncIterator[tuple[_Upstream, FaultProxy]]:
    upstream = _Upstream(piece)
    async with upstream.running():
        proxy = FaultProxy("127.0.0.1", upstream.port, faults)
        async with proxy.running():
            yield upstream, proxy


@pytest.mark.anyio
async def test_clean_proxy_forwards_and_counts() -> None:
    async with _setup() as (_, proxy):
        assert await _read_all(proxy.port) == PAYLOAD
        await anyio.sleep(0.05)
        (stats,) = proxy.stats
        assert stats.to_client == len(PAYLOAD)
        assert stats.literals_to_client == LITERALS
        assert stats.tagged() == [PAYLOAD.index(b"A1 OK")]
        assert proxy.fired == []


@pytest.mark.anyio
@pytest.mark.parametrize("n", [0, 1, 13, 200, len(PAYLOAD) - 1])
@pytest.mark.parametrize("reset", [False, True])
async def test_drop_to_client_after_exact_bytes(n: int, reset: bool) -> None:
    async with _setup(drop("to_client", n, reset=reset)) as (_, proxy):
        assert await _read_all(proxy.port) == PAYLOAD[:n]
        assert len(proxy.fired) == 1


@pytest.mark.anyio
async def test_drop_to_server_after_exact_bytes() -> None:
    sent = b"A1 LOGIN alice secret\r\nA2 LOGOUT\r\n"
    async with _setup(drop("to_server", 9)) as (upstream, proxy):
        await _read_all(proxy.port, sent)
        await anyio.sleep(0.2)  # let the upstream read what reached it
        assert upstream.received == [sent[:9]]


@pytest.mark.anyio
@pytest.mark.parametrize(("k", "offset"), [(0, 0), (0, 5), (1, 3), (3, 1500), (3, 99999)])
async def test_cut_inside_a_literal(k: int, offset: int) -> None:
    start, length = LITERALS[k]
    async with _setup(cut_literal("to_client", k, offset)) as (_, proxy):
        got = await _read_all(proxy.port)
    assert got == PAYLOAD[: start + min(offset, length - 1)]


@pytest.mark.anyio
async def test_only_the_chosen_connection_is_cut() -> None:
    async with _setup(drop("to_client", 30, connection=2)) as (_, proxy):
        assert await _read_all(proxy.port) == PAYLOAD
        assert await _read_all(proxy.port) == PAYLOAD[:30]
        assert await _read_all(proxy.port) == PAYLOAD
        assert [s.index for s in proxy.stats] == [1, 2, 3]
        assert proxy.fired == ["#2: drop to_client after 30 bytes on connection 2"]


@pytest.mark.anyio
async def test_stall_for_ever_makes_the_reader_time_out() -> None:
    async with _setup(stall("to_client", 40)) as (_, proxy):
        got = bytearray()
        timed_out = False
        async with await anyio.connect_tcp("127.0.0.1", proxy.port) as s:
            try:
                with anyio.fail_after(0.5):
                    async for data in s:
                        got += data
            except TimeoutError:
                timed_out = True
        assert timed_out
        assert bytes(got) == PAYLOAD[:40]


@pytest.mark.anyio
async def test_finite_stall_and_delay_deliver_everything_later() -> None:
    for fault in (stall("to_client", 40, 0.2), delay("to_client", 0.2, after=10)):
        async with _setup(fault) as (_, proxy):
            start = anyio.current_time()
            assert await _read_all(proxy.port) == PAYLOAD
            assert anyio.current_time() - start >= 0.19


@pytest.mark.anyio
@pytest.mark.parametrize("piece", [0, 11])
@pytest.mark.parametrize("after", [0, 4])
async def test_cut_at_a_line(piece: int, after: int) -> None:
    # Lines inside literals do not count: "xyz" is literal data, "A1 OK" is not.
    fault = cut_at_line("to_client", rb"^(A1 OK|xyz)", after=after)
    async with _setup(fault, piece=piece) as (_, proxy):
        assert await _read_all(proxy.port) == PAYLOAD[: PAYLOAD.index(b"A1 OK") + after]
        assert len(proxy.fired) == 1


@pytest.mark.anyio
async def test_cut_at_a_command() -> None:
    sent = b"A1 APPEND box {5+}\r\nA2 NO\r\nA2 LOGOUT\r\n"
    async with _setup(cut_at_line("to_server", rb"^\S+ LOGOUT")) as (upstream, proxy):
        await _read_all(proxy.port, sent)
        await anyio.sleep(0.2)  # let the upstream read what reached it
        assert upstream.received == [sent[: sent.index(b"A2 LOGOUT")]]
        # The continuation "A2 NO" is literal data of APPEND, not a command.
        assert [name for name, _, _ in proxy.stats[0].commands()] == ["APPEND", "LOGOUT"]


@pytest.mark.anyio
async def test_commands_are_matched_with_their_answers() -> None:
    sent = b"A1 UID FETCH 1 (BODY[])\r\n"
    async with _setup() as (_, proxy):
        assert await _read_all(proxy.port, sent, whole=True) == PAYLOAD
        await anyio.sleep(0.05)
    assert proxy.stats[0].commands() == [("UID FETCH", 0, PAYLOAD.index(b"A1 OK"))]
