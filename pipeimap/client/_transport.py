"""The byte pipe under a connection: TCP, TLS, STARTTLS and COMPRESS=DEFLATE.

Theory of operation: :class:`Transport` wraps one :class:`anyio.abc.ByteStream`
and swaps the stream under itself when a layer is added: ``start_tls()`` wraps
it in an :class:`anyio.streams.tls.TLSStream`, ``start_compression()`` puts a
raw-deflate codec between the caller and the stream.  Everything else only
moves bytes.  The caller (the connection's reader and writer tasks) must park
both directions around a layer switch: the switch happens after the tagged OK
of STARTTLS/COMPRESS has been parsed and before any further ``receive()`` or
``send_all()`` -- :meth:`Transport.start_tls` and
:meth:`Transport.start_compression` refuse to run while a send or receive is
in progress.

The bytes the parser holds past the tagged OK decide what happens next
(``ResponseParser.take_unparsed()``): for STARTTLS they must be empty, since
anything the server sent before the handshake is unauthenticated plaintext
that an attacker may have injected (RFC 9051 section 11.1, the "response
injection" of CVE-2011-0411 and friends), so ``start_tls`` refuses them and
closes the connection; for COMPRESS they are the start of the compressed
stream (RFC 4978 section 3) and are inflated first.

Errors: every network failure (``OSError``, a TLS error, a broken or closed
stream, a corrupt deflate stream) becomes
:class:`~pipeimap.errors.ConnectionLostError` with the original as
``__cause__``; an expired ``*_timeout`` becomes
:class:`~pipeimap.errors.IMAPTimeoutError`.  A clean end of stream is not an
error for ``receive()``: it returns ``b""`` and the caller decides (after
LOGOUT it is expected).  No ``ExceptionGroup`` leaves this module.
"""

from __future__ import annotations

import socket
import ssl
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Final

import anyio
import anyio.abc
from anyio.streams.tls import TLSAttribute, TLSStream

from ..errors import ConnectionLostError, IMAPTimeoutError, UnexpectedResponseError

__all__ = ["DEFAULT_CONNECT_TIMEOUT", "Transport", "default_ssl_context"]

DEFAULT_CONNECT_TIMEOUT: Final = 30.0
# One read per 256 KiB: a bulk fetch costs fewer trips through the event loop
# and the parser (the raw client reads 1 MiB at a time).  The connection's
# reader asks for more while reads come back full (see Connection._reader).
_RECEIVE_SIZE: Final = 256 * 1024

# Everything a stream can raise when the connection is gone.  ssl.SSLError is an
# OSError; anyio.BrokenResourceError wraps OSErrors on both backends.
# BusyResourceError: Transport's own flags refuse two concurrent sends (or
# receives) before the stream is touched, so one from below can only come from
# anyio's TLSStream flushing a TLS record on the receive path (a TLS 1.3
# KeyUpdate) while the writer sends -- the record order is then lost.
_LOST = (
    OSError,
    anyio.BrokenResourceError,
    anyio.BusyResourceError,
    anyio.ClosedResourceError,
    anyio.EndOfStream,
    zlib.error,
)


def default_ssl_context() -> ssl.SSLContext:
    """The context used when the caller gives none: certificate and host name
    verification on, the system's CA store, TLS 1.2 or later."""
    ctx = ssl.create_default_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


@contextmanager
def _timeout(seconds: float | None, what: str) -> Iterator[None]:
    """A cancel scope whose expiry becomes IMAPTimeoutError (only its own expiry:
    a caller's enclosing scope still cancels as usual)."""
    if seconds is None:
        yield
        return
    try:
        with anyio.fail_after(seconds):
            yield
    except TimeoutError as exc:
        raise IMAPTimeoutError(f"{what} timed out after {seconds:g} s") from exc


class _Deflate:
    """Raw deflate both ways (RFC 4978 section 4: RFC 1951 data, no zlib
    header, wbits=-15), with a sync flush after each send so that every command
    reaches the server whole."""

    def __init__(self, compressed_input: bytes) -> None:
        self.compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
        self.decompressor = zlib.decompressobj(-15)
        self.pending = compressed_input  # compressed bytes not yet inflated
        # The last inflate filled max_bytes: zlib may hold more output even with
        # no input left (the rest of a long back-reference), so ask again
        # before waiting for the network -- or the reader would deadlock.
        self.more = False

    def compress(self, data: bytes) -> bytes:
        return self.compressor.compress(data) + self.compressor.flush(zlib.Z_SYNC_FLUSH)

    def inflate(self, max_bytes: int) -> bytes:
        """Inflate at most ``max_bytes`` from what is pending.  Bounded so that a
        tiny compressed input cannot expand into unbounded memory at once."""
        out = self.decompressor.decompress(self.pending, max_bytes)
        self.pending = self.decompressor.unconsumed_tail
        self.more = len(out) == max_bytes
        return out

    @property
    def finished(self) -> bool:
        """The server ended the deflate stream (Dovecot does, with Z_FINISH, when
        it disconnects).  RFC 4978 has no way back to plaintext, so this is the
        end of the session: treated as end of stream, anything after ignored."""
        return bool(self.decompressor.eof) and not self.more


class Transport:
    """One IMAP connection's byte stream (see the module docstring).

    Build it with :meth:`connect_tcp`, or around any ``anyio.abc.ByteStream``
    (the scripted test server's in-memory stream, for instance).
    """

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self._stream = stream
        self._deflate: _Deflate | None = None
        self._closed = False
        self._send_broken = False
        self._sending = False
        self._receiving = False
        self.bytes_sent = 0
        """Octets written to the network (after compression)."""
        self.bytes_received = 0
        """Octets read from the network (before decompression)."""

    # --- opening ------------------------------------------------------------------

    @classmethod
    async def connect_tcp(
        cls,
        host: str,
        port: int,
        *,
        tls: ssl.SSLContext | bool | None = True,
        server_hostname: str | None = None,
        connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
    ) -> Transport:
        """Open a TCP connection (TCP_NODELAY on), with implicit TLS unless ``tls``
        is ``False``/``None``.

        ``tls``: ``True`` (the default) verifies the server with
        :func:`default_ssl_context`; an ``ssl.SSLContext`` is used as given; ``False``
        or ``None`` means plaintext (for STARTTLS, or an explicit insecure choice).
        ``server_hostname``: the name to verify the certificate against (and send
        as SNI); defaults to ``host``.  ``connect_timeout`` bounds the TCP connect
        and the TLS handshake together.
        """
        ctx = _context(tls)
        with _timeout(connect_timeout, f"connecting to {host}:{port}"):
            try:
                stream: anyio.abc.ByteStream = await anyio.connect_tcp(host, port)
            except _LOST as exc:
                raise ConnectionLostError(f"cannot connect to {host}:{port}: {exc}") from exc
            _set_nodelay(stream)
            transport = cls(stream)
            if ctx is not None:
                try:
                    await transport._handshake(ctx, server_hostname or host)
                except BaseException:
                    await transport.aclose()
                    raise
        return transport

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        *,
        unparsed: bytes = b"",
        handshake_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
    ) -> None:
        """Upgrade to TLS after STARTTLS's tagged OK (RFC 9051 section 6.2.1).

        ``unparsed``: what the parser holds after the tagged OK
        (``ResponseParser.take_unparsed()``).  Anything there was sent before the
        handshake, unauthenticated: the connection is closed and
        :class:`~pipeimap.errors.UnexpectedResponseError` raised; the bytes are
        never parsed.  ``ssl_context`` defaults to :func:`default_ssl_context`;
        ``server_hostname`` is required with verification on (the host the
        caller connected to).
        """
        self._check_switch("start_tls")
        if self._deflate is not None:
            raise RuntimeError("STARTTLS after COMPRESS is not allowed (RFC 4978 section 3)")
        if isinstance(self._stream, TLSStream):
            raise RuntimeError("TLS is already active")
        if unparsed:
            await self.aclose()
            raise UnexpectedResponseError(
                f"{len(unparsed)} bytes arrived after the STARTTLS OK, before the TLS "
                "handshake (possible response injection); connection closed"
            )
        ctx = ssl_context if ssl_context is not None else default_ssl_context()
        if server_hostname is None and ctx.check_hostname:
            raise ValueError("server_hostname is needed to verify the certificate")
        with _timeout(handshake_timeout, "the TLS handshake"):
            try:
                await self._handshake(ctx, server_hostname)
            except BaseException:
                await self.aclose()
                raise

    async def _handshake(self, ctx: ssl.SSLContext, server_hostname: str | None) -> None:
        try:
            self._stream = await TLSStream.wrap(
                self._stream,
                server_side=False,
                hostname=server_hostname,
                ssl_context=ctx,
                # IMAP ends with LOGOUT/BYE, so a missing close_notify cannot
                # truncate anything; many servers just drop the TCP connection.
                standard_compatible=False,
            )
        except _LOST as exc:
            raise ConnectionLostError(f"TLS handshake failed: {_describe(exc)}") from exc

    def start_compression(self, unparsed: bytes = b"") -> None:
        """Switch on COMPRESS=DEFLATE after its tagged OK (RFC 4978).

        ``unparsed``: the bytes the parser holds after the tagged OK's CRLF
        (``ResponseParser.take_unparsed()``).  They are already compressed and
        are inflated before anything read later.
        """
        self._check_switch("start_compression")
        if self._deflate is not None:
            raise RuntimeError("compression is already active")
        self._deflate = _Deflate(bytes(unparsed))

    def _check_switch(self, what: str) -> None:
        if self._closed:
            raise ConnectionLostError(f"{what}: the connection is closed")
        if self._sending or self._receiving:
            raise RuntimeError(f"{what} while a send or receive is in progress")

    # --- moving bytes -----------------------------------------------------------------

    async def send_all(self, data: bytes) -> None:
        """Write ``data`` as one send (one TCP segment train, one deflate flush).

        Timeouts are the caller's cancel scopes.  If the send is interrupted
        (cancelled, timed out), the stream is left in
        an unknown state: later sends raise ConnectionLostError and the caller
        should close the connection.
        """
        if self._closed:
            raise ConnectionLostError("the connection is closed")
        if self._send_broken:
            raise ConnectionLostError("an earlier send was interrupted; the stream is unusable")
        if self._sending:
            raise RuntimeError("send_all() called while another send is in progress")
        self._sending = True
        done = False
        try:
            wire = self._deflate.compress(data) if self._deflate is not None else data
            await self._stream.send(wire)
            self.bytes_sent += len(wire)
            done = True
        except _LOST as exc:
            raise ConnectionLostError(f"connection lost while sending: {_describe(exc)}") from exc
        finally:
            self._sending = False
            # A send cut short (cancelled, timed out) may have written part of a
            # command, or advanced the deflate/TLS state past what the peer got:
            # nothing written afterwards could be understood.
            self._send_broken = not done

    async def receive(self, max_bytes: int = _RECEIVE_SIZE) -> bytes:
        """Read up to ``max_bytes`` (after decompression); ``b""`` at end of stream.

        Read timeouts are the caller's cancel scopes (``anyio.fail_after``);
        cancelling a receive loses no data.
        """
        if self._closed:
            raise ConnectionLostError("the connection is closed")
        if self._receiving:
            raise RuntimeError("receive() called while another receive is in progress")
        self._receiving = True
        try:
            if self._deflate is None:
                return await self._receive_raw(max_bytes)
            return await self._receive_inflated(max_bytes)
        except _LOST as exc:
            raise ConnectionLostError(f"connection lost while receiving: {_describe(exc)}") from exc
        finally:
            self._receiving = False

    async def _receive_raw(self, max_bytes: int) -> bytes:
        try:
            data = await self._stream.receive(max_bytes)
        except anyio.EndOfStream:
            return b""
        self.bytes_received += len(data)
        return data

    async def _receive_inflated(self, max_bytes: int) -> bytes:
        assert self._deflate is not None  # internal: only called with compression on
        while True:
            if self._deflate.pending or self._deflate.more:
                out = self._deflate.inflate(max_bytes)
                if out:
                    return out
            if self._deflate.finished:
                return b""
            # Nothing inflated yet (empty input, or only a sync-flush marker): read on.
            chunk = await self._receive_raw(_RECEIVE_SIZE)
            if not chunk:
                return b""
            self._deflate.pending += chunk

    async def aclose(self) -> None:
        """Close the connection (idempotent; never raises for a dead peer)."""
        if self._closed:
            return
        self._closed = True
        with suppress(*_LOST):
            await anyio.aclose_forcefully(self._stream)

    # --- state ------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def is_tls(self) -> bool:
        return isinstance(self._stream, TLSStream)

    @property
    def is_compressed(self) -> bool:
        return self._deflate is not None

    @property
    def tls_version(self) -> str | None:
        """``"TLSv1.3"``... or ``None`` without TLS."""
        version = self._stream.extra(TLSAttribute.tls_version, None)
        return str(version) if version is not None else None

    @property
    def stream(self) -> anyio.abc.ByteStream:
        """The current top of the stream stack (for extra attributes)."""
        return self._stream

    def __repr__(self) -> str:
        layers = ["tcp"] + (["tls"] if self.is_tls else []) + (["deflate"] if self._deflate else [])
        state = "closed" if self._closed else "open"
        return f"<Transport {'+'.join(layers)} {state}>"


def _context(tls: ssl.SSLContext | bool | None) -> ssl.SSLContext | None:
    if isinstance(tls, ssl.SSLContext):
        return tls
    if tls is True:
        return default_ssl_context()
    if tls is False or tls is None:
        return None
    raise TypeError(f"tls must be an ssl.SSLContext, True or False, not {tls!r}")


def _set_nodelay(stream: anyio.abc.ByteStream) -> None:
    """Commands are coalesced before sending, so Nagle only adds delay (notably
    with a literal and its CRLF; see docs/architecture).  anyio sets it on TCP
    sockets already; this makes the intent explicit and survives changes."""
    sock = stream.extra(anyio.abc.SocketAttribute.raw_socket, None)
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _describe(exc: BaseException) -> str:
    """A short reason: the exception, or its cause when the exception is a bare wrapper."""
    text = str(exc)
    if not text and exc.__cause__ is not None:
        return _describe(exc.__cause__)
    return text or type(exc).__name__
