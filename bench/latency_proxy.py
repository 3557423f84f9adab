"""A TCP proxy on loopback that adds a one-way delay to each direction.

Usage (as a subprocess; the benchmark does this)::

    python bench/latency_proxy.py --target 127.0.0.1:143 --delay-ms 10
    # prints "LISTENING 127.0.0.1 <port>" and proxies until stdin closes

or in-process, on a thread with its own asyncio event loop::

    with LatencyProxy(("127.0.0.1", 143), delay=0.010) as proxy:
        connect to ("127.0.0.1", proxy.port) ...

With a one-way delay ``d`` in both directions the round-trip time is ``2 * d``.

Theory of operation: every chunk read from one side is stamped with the time
it arrived and queued; a single timer per direction releases the queue head
once ``arrival + d`` has passed, together with everything behind it that is
due too.  The delay is therefore paid once per byte, not once per chunk: a
pipelined stream of 2,000 commands that arrives within a millisecond leaves
about ``d`` later, spread over the same millisecond, and throughput is
whatever the loop can copy.  Byte order is kept because each direction has
one FIFO and one writer.  TCP_NODELAY is set on both sockets so the proxy
adds no Nagle delay of its own, and (on Linux) TCP_QUICKACK is set again
after every read: the proxy acknowledges at once, as the receiving end of a
direct connection usually does, instead of delaying the ACK -- which, with a
client whose socket runs Nagle's algorithm (imaplib sends an APPEND literal and
its CRLF in two writes), cost that client about 40 ms per command at any RTT.

Bounds: at most ``max_buffer`` bytes wait in one direction (then the proxy
stops reading that side until the queue drains, which is ordinary TCP
back-pressure), it listens on loopback only, and it stops by itself when
``lifetime`` seconds have passed, when ``stop()`` is called, or (as a
subprocess) when its standard input closes, so a crashed benchmark cannot
leave it behind.

Like any delay emulator at the application layer, it does not delay the TCP
handshake (``connect()`` returns at loopback speed; the server's greeting is
delayed) and it terminates TCP on both sides, so window and ACK behaviour
are loopback's, not a long-haul link's.  Benchmarks should time the work
after login.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

# Linux only; elsewhere the proxy's ACKs are the kernel's default.
_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)

__all__ = ["LatencyProxy", "ProxyProcess", "serve"]

LOOPBACK = "127.0.0.1"
DEFAULT_MAX_BUFFER = 64 * 1024 * 1024
DEFAULT_LIFETIME = 3600.0


class _Pipe(asyncio.Protocol):
    """One accepted or outgoing socket.  Bytes it receives go, delayed, to ``peer``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float, max_buffer: int) -> None:
        self.loop = loop
        self.delay = delay
        self.max_buffer = max_buffer
        self.transport: asyncio.Transport | None = None
        self.peer: _Pipe | None = None
        # What this side received and has not yet written to the peer.
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self.queued = 0
        self.timer: asyncio.TimerHandle | None = None
        self.eof = False  # this side sent EOF (forwarded after the queue drains)
        self.reading_paused = False
        self.peer_write_paused = False  # the peer's transport buffer is full
        self.closed = False  # this side's socket is gone
        self.sock: socket.socket | None = None
        self.on_lost: Callable[[_Pipe], object] = lambda pipe: None

    # -- asyncio.Protocol -------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock

    def data_received(self, data: bytes) -> None:
        if _QUICKACK is not None and self.sock is not None:
            with contextlib.suppress(OSError):  # the kernel clears it: set it per read
                self.sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        now = self.loop.time()
        self.queue.append((now + self.delay, data))
        self.queued += len(data)
        self._update_reading()
        if self.timer is None:
            self._release()

    def eof_received(self) -> bool:
        self.eof = True
        if self.timer is None:
            self._release()
        return True  # keep our write side open: the peer may still answer

    def connection_lost(self, exc: Exception | None) -> None:
        # What this side sent before it went away is still delivered (after the
        # delay); then the peer is closed.  Bytes queued towards us are dropped.
        self.closed = True
        self.on_lost(self)
        if self.timer is None:
            self._release()

    def pause_writing(self) -> None:
        # Our transport's buffer is full: the peer must stop reading.
        if self.peer is not None:
            self.peer.peer_write_paused = True
            self.peer._update_reading()

    def resume_writing(self) -> None:
        if self.peer is not None:
            self.peer.peer_write_paused = False
            self.peer._update_reading()

    # -- forwarding -------------------------------------------------------------

    def _update_reading(self) -> None:
        if self.closed or self.transport is None or self.transport.is_closing():
            return
        want_pause = self.queued >= self.max_buffer or self.peer_write_paused
        if want_pause and not self.reading_paused:
            self.transport.pause_reading()
            self.reading_paused = True
        elif not want_pause and self.reading_paused:
            self.transport.resume_reading()
            self.reading_paused = False

    def _release(self) -> None:
        """Write every chunk that is due; arm the timer for the next one."""
        self.timer = None
        peer = self.peer
        if peer is None or peer.transport is None:
            if self.closed and peer is None:
                self.queue.clear()  # the client left before the server answered
            return  # the outgoing connection is not up yet; connected() calls us
        now = self.loop.time()
        out: list[bytes] = []
        while self.queue and self.queue[0][0] <= now:
            _, data = self.queue.popleft()
            self.queued -= len(data)
            out.append(data)
        if out and not peer.transport.is_closing():
            peer.transport.write(b"".join(out) if len(out) > 1 else out[0])
        self._update_reading()
        if self.queue:
            self.timer = self.loop.call_at(self.queue[0][0], self._release)
        elif self.closed:
            peer.transport.close()  # flushes what it has buffered first
        elif self.eof and not peer.transport.is_closing():
            if peer.transport.can_write_eof():
                peer.transport.write_eof()
            else:
                peer.transport.close()

    def connected(self, peer: _Pipe) -> None:
        self.peer = peer
        if self.timer is None:
            self._release()


class _Server:
    def __init__(
        self, target: tuple[str, int], delay: float, max_buffer: int, lifetime: float
    ) -> None:
        self.target = target
        self.delay = delay
        self.max_buffer = max_buffer
        self.lifetime = lifetime
        self.pipes: set[_Pipe] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.connections = 0

    def _accepted(self) -> _Pipe:
        loop = asyncio.get_running_loop()
        down = _Pipe(loop, self.delay, self.max_buffer)
        down.on_lost = self.pipes.discard
        self.pipes.add(down)
        self.connections += 1
        task = loop.create_task(self._connect_upstream(down))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return down

    async def _connect_upstream(self, down: _Pipe) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, up = await loop.create_connection(
                lambda: _Pipe(loop, self.delay, self.max_buffer), *self.target
            )
        except OSError:
            if down.transport is not None:
                down.transport.close()
            self.pipes.discard(down)
            return
        up.on_lost = self.pipes.discard
        self.pipes.add(up)
        up.connected(down)
        down.connected(up)  # closes ``up`` at once if the client already left

    async def run(self, ready: threading.Event | None, stop: asyncio.Event) -> int:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(self._accepted, LOOPBACK, 0, reuse_address=True)
        port = int(server.sockets[0].getsockname()[1])
        self.port = port
        if ready is not None:
            ready.set()
        else:
            print(f"LISTENING {LOOPBACK} {port}", flush=True)
        try:
            with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.lifetime)
        finally:
            server.close()
            for p in list(self.pipes):
                if p.transport is not None:
                    p.transport.abort()
            await server.wait_closed()
        return port


class LatencyProxy:
    """The proxy on a daemon thread running its own asyncio loop (in-process use)."""

    def __init__(
        self,
        target: tuple[str, int],
        delay: float,
        *,
        max_buffer: int = DEFAULT_MAX_BUFFER,
        lifetime: float = DEFAULT_LIFETIME,
    ) -> None:
        if delay < 0:
            raise ValueError("delay must be >= 0")
        self._server = _Server(target, delay, max_buffer, lifetime)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self.host = LOOPBACK
        self.port = 0

    @property
    def rtt(self) -> float:
        return 2 * self._server.delay

    def start(self) -> None:
        ready = threading.Event()

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await self._server.run(ready, self._stop)

        self._thread = threading.Thread(
            target=asyncio.run, args=(main(),), name="latency-proxy", daemon=True
        )
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the latency proxy did not start")
        self.port = self._server.port

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> LatencyProxy:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class ProxyProcess:
    """The proxy as a child process, so that its copying does not compete with the
    measured client for the GIL.  It exits when this object stops or when the
    parent dies (its stdin closes)."""

    def __init__(
        self,
        target: tuple[str, int],
        delay: float,
        *,
        max_buffer: int = DEFAULT_MAX_BUFFER,
        lifetime: float = DEFAULT_LIFETIME,
    ) -> None:
        self.target = target
        self.delay = delay
        self.max_buffer = max_buffer
        self.lifetime = lifetime
        self.host = LOOPBACK
        self.port = 0
        self._proc: subprocess.Popen[str] | None = None

    @property
    def rtt(self) -> float:
        return 2 * self.delay

    def start(self) -> None:
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--target",
            f"{self.target[0]}:{self.target[1]}",
            "--delay-ms",
            repr(self.delay * 1000),
            "--max-buffer",
            str(self.max_buffer),
            "--lifetime",
            repr(self.lifetime),
        ]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().split()
        if len(line) != 3 or line[0] != "LISTENING":
            self.stop()
            raise RuntimeError(f"the latency proxy did not start (said {line!r})")
        self.port = int(line[2])

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()  # the proxy's signal to leave
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> ProxyProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


async def serve(
    target: tuple[str, int],
    delay: float,
    max_buffer: int = DEFAULT_MAX_BUFFER,
    lifetime: float = DEFAULT_LIFETIME,
    stdin: IO[bytes] | None = None,
) -> None:
    """Run the proxy in this process until ``lifetime`` ends or ``stdin`` closes."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if stdin is not None:
        fd = stdin.fileno()

        def on_stdin() -> None:
            try:
                data = os.read(fd, 4096)
            except OSError:
                data = b""
            if not data:
                loop.remove_reader(fd)
                stop.set()

        loop.add_reader(fd, on_stdin)
    await _Server(target, delay, max_buffer, lifetime).run(None, stop)


def _parse_target(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or LOOPBACK, int(port)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="TCP proxy on loopback adding a one-way delay")
    ap.add_argument("--target", required=True, help="host:port to forward to")
    ap.add_argument("--delay-ms", type=float, default=10.0, help="one-way delay (RTT = 2x)")
    ap.add_argument("--max-buffer", type=int, default=DEFAULT_MAX_BUFFER)
    ap.add_argument("--lifetime", type=float, default=DEFAULT_LIFETIME, help="seconds")
    args = ap.parse_args(argv)
    asyncio.run(
        serve(
            _parse_target(args.target),
            args.delay_ms / 1000,
            args.max_buffer,
            args.lifetime,
            sys.stdin.buffer,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
