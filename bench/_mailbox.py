"""The client benchmark's mailbox: a deterministic message corpus, a raw IMAP
connection on plain sockets, and a fast loader.

* :func:`generate_messages` -- ``count`` RFC 5322 messages from a seed: 90 %
  of 2-30 KB, 9 % of 30-300 KB, 1 % of 0.3-3 MB (log-uniform within each
  class), with headers from :mod:`bench._corpus_gen` (RFC 2047 and raw UTF-8
  subjects and names) and bodies of text lines, among them lines that look
  like IMAP (``)``, ``{1048576}``, ``* 7 FETCH``), plus a base64 attachment
  for the larger ones.  Lines end in CRLF only, so the server stores and
  returns them byte for byte.
* :func:`big_message_chunks` -- one large message (about ``size`` bytes),
  produced in pieces so that the loader never holds it.
* :class:`RawIMAP` -- a blocking socket speaking just enough IMAP: LOGIN,
  simple commands, and FETCH responses whose literals are counted (or written
  to a file) without being parsed.  It is the benchmark's "raw client" and its
  loader and checker.
* :func:`load_mailbox` -- APPEND with MULTIAPPEND (RFC 3502) and LITERAL+
  (RFC 7888): the whole batch goes out in one write and Dovecot commits it
  once.
"""

from __future__ import annotations

import contextlib
import random
import re
import socket
import ssl
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from bench._corpus_gen import _base64_pool, _HeaderGen, _rfc5322_header, _text_pool

__all__ = [
    "BigMessage",
    "Corpus",
    "RawIMAP",
    "big_message_chunks",
    "generate_messages",
    "load_big_message",
    "load_mailbox",
]


@dataclass(frozen=True, slots=True)
class Corpus:
    messages: tuple[bytes, ...]

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(len(m) for m in self.messages)

    @property
    def total_bytes(self) -> int:
        return sum(len(m) for m in self.messages)


def _size_class(r: random.Random) -> int:
    x = r.random()
    if x < 0.01:
        lo, hi = 300_000, 3_000_000
    elif x < 0.10:
        lo, hi = 30_000, 300_000
    else:
        lo, hi = 2_000, 30_000
    return int(lo * (hi / lo) ** r.random())


def generate_messages(count: int, seed: int = 7) -> Corpus:
    """``count`` messages, the same ones for the same seed."""
    r = random.Random(seed)
    g = _HeaderGen(random.Random(seed + 1))
    text_lines = [ln + b"\r\n" for ln in _text_pool(r, 1 << 20).split(b"\r\n")[:-1]]
    b64_lines = [ln + b"\r\n" for ln in _base64_pool(r, 1 << 20).split(b"\r\n")[:-1]]
    messages: list[bytes] = []
    for _ in range(count):
        target = _size_class(r)
        big = target >= 100_000
        boundary = b"=_b%012x" % r.getrandbits(48) if big else None
        parts = [_rfc5322_header(g, boundary)]
        n = len(parts[0])
        text_target = min(target, n + r.randint(1_500, 20_000)) if big else target
        if boundary is not None:
            parts.append(b"--" + boundary + b"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
        i = r.randrange(len(text_lines))
        while n < text_target:
            line = text_lines[i % len(text_lines)]
            parts.append(line)
            n += len(line)
            i += 1
        if boundary is not None:
            parts.append(
                b"--" + boundary + b"\r\nContent-Type: application/octet-stream; "
                b'name="data.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
            )
            i = r.randrange(len(b64_lines))
            while n < target:
                line = b64_lines[i % len(b64_lines)]
                parts.append(line)
                n += len(line)
                i += 1
            parts.append(b"--" + boundary + b"--\r\n")
        messages.append(b"".join(parts))
    return Corpus(tuple(messages))


@dataclass(frozen=True, slots=True)
class BigMessage:
    size: int
    crc32: int


def big_message_chunks(size: int, seed: int = 11) -> Iterator[bytes]:
    """One message of about ``size`` bytes (a short text part and a big base64
    attachment), in pieces of about 1 MiB.  Deterministic for a seed; use
    :func:`describe_big_message` for its exact size and CRC-32."""
    r = random.Random(seed)
    g = _HeaderGen(random.Random(seed + 1))
    boundary = b"=_big%012x" % r.getrandbits(48)
    head = (
        _rfc5322_header(g, boundary)
        + b"--"
        + boundary
        + b"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe archive is attached.\r\n"
        + b"--"
        + boundary
        + b'\r\nContent-Type: application/octet-stream; name="archive.bin"\r\n'
        + b"Content-Transfer-Encoding: base64\r\n\r\n"
    )
    tail = b"--" + boundary + b"--\r\n"
    yield head
    remaining = size - len(head) - len(tail)
    # base64 lines of 76 characters + CRLF carry 57 raw bytes each.
    lines_per_chunk = 13_797  # about 1 MiB of wire data
    pool = _base64_pool(r, 8 << 20)  # 8 MiB of distinct lines, cycled
    pool_lines = len(pool) // 78
    pos = 0
    while remaining > 0:
        n = min(lines_per_chunk, max(1, remaining // 78))
        take = min(n, pool_lines - pos)
        chunk = pool[pos * 78 : (pos + take) * 78]
        pos = (pos + take) % pool_lines
        remaining -= len(chunk)
        yield chunk
    yield tail


def describe_big_message(size: int, seed: int = 11) -> BigMessage:
    n = crc = 0
    for chunk in big_message_chunks(size, seed):
        n += len(chunk)
        crc = zlib.crc32(chunk, crc)
    return BigMessage(n, crc)


# ---------------------------------------------------------------------------
# A raw IMAP connection
# ---------------------------------------------------------------------------

_UID = re.compile(rb"\bUID (\d+)")
_LITERAL = re.compile(rb"\{(\d+)\}$")
_RECV = 1 << 20


class IMAPError(Exception):
    pass


class RawIMAP:
    """Blocking, unpipelined-unless-you-ask IMAP over one socket.  Strings are
    sent as given: the caller quotes."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 600.0,
    ) -> None:
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if ssl_context is not None:
            sock = ssl_context.wrap_socket(sock, server_hostname=host)
        self.sock = sock
        self.buf = bytearray()
        self.tagn = 0
        greeting = self.readline()
        if not greeting.startswith(b"* OK"):
            raise IMAPError(f"unexpected greeting {greeting!r}")

    def close(self) -> None:
        with contextlib.suppress(OSError, IMAPError):
            self.command(b"LOGOUT")
        self.sock.close()

    def __enter__(self) -> RawIMAP:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ----------------------------------------------------------------

    def _fill(self) -> None:
        data = self.sock.recv(_RECV)
        if not data:
            raise IMAPError("connection closed by the server")
        self.buf += data

    def readline(self) -> bytes:
        buf = self.buf
        start = 0
        while (i := buf.find(b"\r\n", start)) < 0:
            start = max(0, len(buf) - 1)
            self._fill()
            buf = self.buf
        line = bytes(buf[:i])
        del buf[: i + 2]
        return line

    def consume(self, n: int, sink: Callable[[memoryview], object] | None = None) -> None:
        """Take ``n`` literal bytes off the wire; hand them to ``sink`` if given."""
        buf = self.buf
        take = min(n, len(buf))
        if take:
            if sink is not None:
                sink(memoryview(buf)[:take])
            del buf[:take]
            n -= take
        if n == 0:
            return
        scratch = bytearray(min(n, _RECV))
        view = memoryview(scratch)
        recv_into = self.sock.recv_into
        while n > 0:
            got = recv_into(view[: min(n, _RECV)])
            if not got:
                raise IMAPError("connection closed inside a literal")
            if sink is not None:
                sink(view[:got])
            n -= got

    # -- commands ---------------------------------------------------------------

    def next_tag(self) -> bytes:
        self.tagn += 1
        return b"R%d" % self.tagn

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def wait_tagged(self, tag: bytes, untagged: list[bytes] | None = None) -> bytes:
        """Read until ``tag``'s completion; literals in untagged data are skipped."""
        prefix = tag + b" "
        while True:
            line = self.readline()
            if line.startswith(prefix):
                if line[len(prefix) : len(prefix) + 2] != b"OK":
                    raise IMAPError(f"{line!r}")
                return line
            while (m := _LITERAL.search(line)) is not None:
                self.consume(int(m.group(1)))
                line = self.readline()
            if untagged is not None:
                untagged.append(line)

    def command(self, line: bytes, untagged: list[bytes] | None = None) -> bytes:
        tag = self.next_tag()
        self.send(tag + b" " + line + b"\r\n")
        return self.wait_tagged(tag, untagged)

    def login(self, user: str, password: str) -> None:
        self.command(b'LOGIN "%s" "%s"' % (user.encode(), password.encode()))

    def select(self, mailbox: str) -> int:
        untagged: list[bytes] = []
        self.command(b'SELECT "%s"' % mailbox.encode(), untagged)
        for line in untagged:
            parts = line.split()
            if len(parts) == 3 and parts[2] == b"EXISTS":
                return int(parts[1])
        raise IMAPError("SELECT reported no EXISTS")

    def fetch_bodies(
        self,
        uids: bytes = b"1:*",
        item: bytes = b"BODY.PEEK[]",
        sink_for: Callable[[int], Callable[[memoryview], object]] | None = None,
    ) -> dict[int, int]:
        """One ``UID FETCH uids item``; returns {UID: literal size}.  The literal
        bytes are only counted, or passed to ``sink_for(uid)``."""
        tag = self.next_tag()
        self.send(tag + b" UID FETCH " + uids + b" (" + item + b")\r\n")
        prefix = tag + b" "
        sizes: dict[int, int] = {}
        while True:
            line = self.readline()
            if line.startswith(prefix):
                if line[len(prefix) : len(prefix) + 2] != b"OK":
                    raise IMAPError(f"{line!r}")
                return sizes
            m = _LITERAL.search(line)
            if m is None:
                continue
            size = int(m.group(1))
            u = _UID.search(line)
            uid = int(u.group(1)) if u is not None else -len(sizes) - 1
            self.consume(size, sink_for(uid) if sink_for is not None else None)
            sizes[uid] = size
            rest = self.readline()  # ")" -- or more items, which we do not ask for
            if not rest.endswith(b")"):
                raise IMAPError(f"unexpected data after a literal: {rest[:80]!r}")

    def pipelined(self, lines: Sequence[bytes]) -> None:
        """Write every command in one send, then wait for all completions."""
        tags = [self.next_tag() for _ in lines]
        self.send(b"".join(t + b" " + ln + b"\r\n" for t, ln in zip(tags, lines, strict=True)))
        for t in tags:
            self.wait_tagged(t)

    def uid_search(self, criteria: bytes) -> list[int]:
        untagged: list[bytes] = []
        self.command(b"UID SEARCH " + criteria, untagged)
        uids: list[int] = []
        for line in untagged:
            if line.startswith(b"* SEARCH"):
                uids.extend(int(x) for x in line.split()[2:])
        return uids

    def rfc822_sizes(self) -> dict[int, int]:
        untagged: list[bytes] = []
        self.command(b"UID FETCH 1:* (RFC822.SIZE)", untagged)
        out: dict[int, int] = {}
        size_re = re.compile(rb"RFC822\.SIZE (\d+)")
        for line in untagged:
            u, s = _UID.search(line), size_re.search(line)
            if u is not None and s is not None:
                out[int(u.group(1))] = int(s.group(1))
        return out


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


def _append_batch(imap: RawIMAP, mailbox: str, messages: Iterable[bytes]) -> None:
    parts = [b'APPEND "%s"' % mailbox.encode()]
    for m in messages:
        parts.append(b" {%d+}\r\n" % len(m))
        parts.append(m)
    tag = imap.next_tag()
    imap.send(tag + b" " + b"".join(parts) + b"\r\n")
    imap.wait_tagged(tag)


def load_mailbox(
    imap: RawIMAP, mailbox: str, messages: Sequence[bytes], batch_bytes: int = 16 << 20
) -> None:
    """CREATE ``mailbox`` and MULTIAPPEND ``messages`` in order (UIDs 1..n)."""
    if b"MULTIAPPEND" not in _capabilities(imap) or b"LITERAL+" not in _capabilities(imap):
        raise IMAPError("the loader needs MULTIAPPEND and LITERAL+")
    imap.command(b'CREATE "%s"' % mailbox.encode())
    batch: list[bytes] = []
    size = 0
    for m in messages:
        batch.append(m)
        size += len(m)
        if size >= batch_bytes:
            _append_batch(imap, mailbox, batch)
            batch, size = [], 0
    if batch:
        _append_batch(imap, mailbox, batch)


def load_big_message(imap: RawIMAP, mailbox: str, size: int, seed: int = 11) -> BigMessage:
    """CREATE ``mailbox`` and APPEND the big message, streamed (LITERAL+)."""
    info = describe_big_message(size, seed)
    imap.command(b'CREATE "%s"' % mailbox.encode())
    tag = imap.next_tag()
    imap.send(tag + b' APPEND "%s" {%d+}\r\n' % (mailbox.encode(), info.size))
    for chunk in big_message_chunks(size, seed):
        imap.send(chunk)
    imap.send(b"\r\n")
    imap.wait_tagged(tag)
    return info


def _capabilities(imap: RawIMAP) -> set[bytes]:
    untagged: list[bytes] = []
    imap.command(b"CAPABILITY", untagged)
    caps: set[bytes] = set()
    for line in untagged:
        if line.startswith(b"* CAPABILITY"):
            caps.update(line.split()[2:])
    return caps
