"""A plaintext IMAP proxy in front of the test Dovecot that misbehaves on purpose.

It understands just enough of the wire to stay in sync: lines, and literals
(``{n}``, ``{n+}``, ``~{n}``) in both directions.  It can

* answer the first ``throttle`` APPEND commands itself with ``reply(tag)``
  (Office 365's "Request is throttled..." or ``NO [UNAVAILABLE]``) instead of
  forwarding them, and then optionally drop the connection (``BYE``);
* edit every CAPABILITY list: remove ``strip_caps`` (MULTIAPPEND, LITERAL+...)
  and add ``add_caps`` (``APPENDLIMIT=n``).

Use with ``ServerSpec(..., tls="insecure-plaintext", compress=False)``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import anyio.abc

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

_LITERAL = re.compile(rb"~?\{(\d+)(\+?)\}\r\n$")


def o365_throttle(tag: bytes) -> bytes:
    return tag + b" NO Request is throttled. Suggested Backoff Time: 10 milliseconds\r\n"


def unavailable(tag: bytes) -> bytes:
    return tag + b" NO [UNAVAILABLE] Server busy, try again later\r\n"


@dataclass
class ImapProxy:
    upstream_port: int
    throttle: int = 0
    reply: Callable[[bytes], bytes] = o365_throttle
    bye_after_throttle: bool = False
    strip_caps: tuple[bytes, ...] = ()
    add_caps: tuple[bytes, ...] = ()
    port: int = 0
    throttled: int = 0
    appends_forwarded: int = 0
    connections: int = 0
    _tg: anyio.abc.TaskGroup | None = field(default=None, repr=False)

    def _edit_caps(self, line: bytes) -> bytes:
        if b"CAPABILITY" not in line.upper():
            return line
        for cap in self.strip_caps:
            line = re.sub(rb" " + re.escape(cap) + rb"(?=[ \]\r])", b"", line, flags=re.I)
        if self.add_caps:
            line = re.sub(rb"(?i)(IMAP4rev1)", rb"\1 " + b" ".join(self.add_caps), line, count=1)
        return line

    async def _handle(self, client: anyio.abc.SocketStream) -> None:
        self.connections += 1
        lock = anyio.Lock()
        async with client, await anyio.connect_tcp("127.0.0.1", self.upstream_port) as up:

            async def to_client(data: bytes) -> None:
                async with lock:
                    await client.send(data)

            async def server_to_client() -> None:
                buf = b""
                unit = b""
                need = 0
                async for data in up:
                    buf += data
                    while True:
                        if need:
                            take = buf[:need]
                            unit += take
                            buf = buf[len(take) :]
                            need -= len(take)
                            if need:
                                break
                            continue
                        end = buf.find(b"\r\n")
                        if end < 0:
                            break
                        line, buf = buf[: end + 2], buf[end + 2 :]
                        m = _LITERAL.search(line)
                        unit += self._edit_caps(line) if not unit else line
                        if m:
                            need = int(m.group(1))
                            continue
                        await to_client(unit)
                        unit = b""
                with anyio.CancelScope(shield=True):
                    await client.aclose()

            async def client_to_server() -> None:
                buf = b""
                need = 0
                forward = True
                current: bytes | None = None  # the tag of the command being read
                dropping = False
                async for data in client:
                    buf += data
                    while True:
                        if need:
                            take = buf[:need]
                            buf = buf[len(take) :]
                            need -= len(take)
                            if forward:
                                await up.send(take)
                            if need:
                                break
                            continue
                        end = buf.find(b"\r\n")
                        if end < 0:
                            break
                        line, buf = buf[: end + 2], buf[end + 2 :]
                        if current is None:
                            words = line.split(b" ", 3)
                            current = words[0]
                            name = words[1].upper().strip() if len(words) > 1 else b""
                            dropping = name == b"APPEND" and self.throttled < self.throttle
                            if dropping:
                                self.throttled += 1
                            elif name == b"APPEND":
                                self.appends_forwarded += 1
                        forward = not dropping
                        if forward:
                            await up.send(line)
                        m = _LITERAL.search(line)
                        if m and not (dropping and not m.group(2)):
                            need = int(m.group(1))
                            continue
                        # The command ends here (or, dropping a synchronizing literal,
                        # the client waits for "+" and gets our NO instead).
                        if dropping:
                            await to_client(self.reply(current))
                            if self.bye_after_throttle:
                                await to_client(b"* BYE Too many requests\r\n")
                                await client.aclose()
                                await up.aclose()
                                return
                        current = None
                        dropping = False
                await up.aclose()

            async with anyio.create_task_group() as tg:
                tg.start_soon(server_to_client)
                tg.start_soon(client_to_server)

    async def _safe_handle(self, client: anyio.abc.SocketStream) -> None:
        try:
            await self._handle(client)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass
        except BaseExceptionGroup as eg:  # one side closed while the other wrote
            rest = eg.split((anyio.BrokenResourceError, anyio.ClosedResourceError, OSError))[1]
            if rest is not None:
                raise rest from None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[ImapProxy]:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        self.port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, self._safe_handle)
            try:
                yield self
            finally:
                tg.cancel_scope.cancel()
