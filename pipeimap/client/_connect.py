"""``pipeimap.connect()``: open, secure, authenticate, and hand out a Client.

Theory of operation: the connection's reader and writer start right after
the TCP (and, by default, TLS) connect, and the session set-up is ordinary
commands through the scheduler: wait for the greeting (Dovecot may first send
``* OK Waiting for authentication process to respond..``; the real greeting
then arrives as an untagged OK), CAPABILITY unless the greeting carried it,
STARTTLS (refused to go on in plaintext if not offered, unless the caller
chose ``"insecure-plaintext"``), authentication (SASL: OAUTHBEARER/XOAUTH2
with a token, SCRAM-SHA-256, PLAIN with SASL-IR; else the LOGIN command, never
when LOGINDISABLED), CAPABILITY again unless the tagged OK carried it,
COMPRESS=DEFLATE, and ID.  The layer switches themselves happen in the reader
(:meth:`Connection._switch_layer`), between the tagged OK and the next byte.

One task group per connection holds the reader/writer; the caller's block
runs inside it, so its exceptions reach the caller unwrapped (no
ExceptionGroup escapes).
"""

from __future__ import annotations

import ssl
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Literal

import anyio
import anyio.abc

from ..errors import (
    CommandNoError,
    ConnectionLostError,
    InvalidArgumentError,
    ProtocolError,
    UnexpectedResponseError,
    UsageError,
)
from ..protocol import _commands as c
from ..protocol._codes import CapabilityCode
from ..protocol._limits import ParserLimits
from ..protocol._sasl import Credentials, SaslError, choose_mechanism, create_mechanism
from ..protocol._types import Secret
from ..scheduler import AuthState, Completed, ContinuationRequested, Failed, SchedulerOptions
from . import _ops as ops
from ._client import Client
from ._connection import MIN_RATE, Connection, fresh_error
from ._trace import ProtocolTrace, TraceTarget, open_trace
from ._transport import Transport, default_ssl_context

if sys.version_info >= (3, 11):
    _BaseExceptionGroup = BaseExceptionGroup  # noqa: F821
else:  # pragma: no cover - Python 3.10
    from exceptiongroup import BaseExceptionGroup as _BaseExceptionGroup  # type: ignore[import-not-found, unused-ignore]

__all__ = ["LOGIN_COMMAND", "TLSMode", "connect", "connect_transport"]

TLSMode = Literal["implicit", "starttls", "insecure-plaintext"]

#: ``auth_mechanism=LOGIN_COMMAND`` uses the IMAP ``LOGIN`` command instead of
#: ``AUTHENTICATE`` (``"LOGIN"`` is the SASL mechanism of that name).
LOGIN_COMMAND = "LOGIN-COMMAND"


def _secret(value: str | bytes | Secret | None) -> Secret | None:
    if value is None or isinstance(value, Secret):
        return value
    return Secret(value)


@asynccontextmanager
async def connect(
    host: str,
    port: int | None = None,
    *,
    username: str | None = None,
    password: str | Secret | None = None,
    oauth2_token: str | Secret | None = None,
    auth_mechanism: str | None = None,
    tls: TLSMode = "implicit",
    ssl_context: ssl.SSLContext | None = None,
    connect_timeout: float | None = 30.0,
    timeout: float | None = 60.0,  # noqa: ASYNC109 - the read timeout, not this call's
    pipeline_depth: int = 128,
    compress: bool = True,
    id: Mapping[str, str | None] | None = None,
    parser_limits: ParserLimits | None = None,
    min_rate: float = MIN_RATE,
    trace: TraceTarget | None = None,
    trace_bodies: bool = False,
) -> AsyncIterator[Client]:
    """Connect, authenticate, and yield a :class:`Client`::

        async with pipeimap.connect("imap.example.org", username="alice",
                                    password=pw) as client:
            await client.select("INBOX")

    Args:
        port: 993 for implicit TLS, else 143.
        password / oauth2_token: ``str`` or :class:`~pipeimap.Secret`; never
            shown in a repr, log line or error message.
        auth_mechanism: a SASL mechanism (``"SCRAM-SHA-256"``, ``"PLAIN"``,
            ``"LOGIN"``, ``"XOAUTH2"``, ``"OAUTHBEARER"``) or
            :data:`LOGIN_COMMAND`; by default the strongest one offered, then
            the LOGIN command.
        tls: ``"implicit"`` (TLS from the first byte, verified), ``"starttls"``
            (refuses to continue if the server does not offer STARTTLS) or
            ``"insecure-plaintext"`` (no TLS at all: for tests and loopback).
        ssl_context: verification settings; the default verifies the
            certificate against the system's CAs and ``host``.
        connect_timeout: TCP connect plus TLS handshake (each STARTTLS too).
        timeout: the read timeout: a command fails with
            :class:`~pipeimap.IMAPTimeoutError` (and the connection closes)
            when the server makes no progress for this long while it is
            awaited: it neither completes a response nor sends
            ``min_rate * timeout`` bytes.  The greeting must also come within
            it (and within ``connect_timeout``).
        pipeline_depth: most commands in flight (1 turns pipelining off).
        compress: use COMPRESS=DEFLATE when offered (RFC 4978).
        id: sent with ID (RFC 2971) after login; some providers require it.
        parser_limits: memory bounds of the response parser (its
            ``stream_threshold`` decides which bodies are streamed).
        min_rate: the transfer-rate floor of the read timeout, in bytes per
            second (256): a server trickling slower than this without
            finishing a response times out; ``0`` counts every byte as
            progress, so only silence times out.
        trace: write a protocol trace for bug reports: a file path
            (appended to), a text or binary file object, or a callable
            taking each line.  Credentials are always redacted; message
            content unless ``trace_bodies`` (see :mod:`pipeimap.client._trace`).
        trace_bodies: include message content (FETCH body sections, APPEND
            data) in the trace.

    Leaving the block logs out (briefly bounded) and closes the connection;
    leaving it by an exception closes it at once.
    """
    if tls not in ("implicit", "starttls", "insecure-plaintext"):
        raise InvalidArgumentError(
            f"tls must be 'implicit', 'starttls' or 'insecure-plaintext', not {tls!r}"
        )
    if port is None:
        port = 993 if tls == "implicit" else 143
    ctx = ssl_context
    if ctx is None and tls != "insecure-plaintext":
        ctx = default_ssl_context()
    _check_credentials(username, password, oauth2_token)
    transport = await Transport.connect_tcp(
        host,
        port,
        tls=ctx if tls == "implicit" else False,
        server_hostname=host,
        connect_timeout=connect_timeout,
    )
    async with connect_transport(
        transport,
        host=host,
        port=port,
        username=username,
        password=password,
        oauth2_token=oauth2_token,
        auth_mechanism=auth_mechanism,
        starttls=tls == "starttls",
        ssl_context=ctx,
        connect_timeout=connect_timeout,
        timeout=timeout,
        pipeline_depth=pipeline_depth,
        compress=compress,
        id=id,
        parser_limits=parser_limits,
        min_rate=min_rate,
        trace=trace,
        trace_bodies=trace_bodies,
    ) as client:
        yield client


def _check_credentials(
    username: str | None, password: str | Secret | None, oauth2_token: str | Secret | None
) -> None:
    if (password is not None or oauth2_token is not None) and username is None:
        raise InvalidArgumentError("a password or token needs a username")
    if username is not None and password is None and oauth2_token is None:
        raise InvalidArgumentError("a username needs a password or an OAuth 2.0 token")


@asynccontextmanager
async def connect_transport(
    transport: Transport,
    *,
    host: str,
    port: int = 0,
    username: str | None = None,
    password: str | Secret | None = None,
    oauth2_token: str | Secret | None = None,
    auth_mechanism: str | None = None,
    starttls: bool = False,
    ssl_context: ssl.SSLContext | None = None,
    connect_timeout: float | None = 30.0,
    timeout: float | None = 60.0,  # noqa: ASYNC109 - the read timeout, not this call's
    pipeline_depth: int = 128,
    compress: bool = True,
    id: Mapping[str, str | None] | None = None,
    parser_limits: ParserLimits | None = None,
    min_rate: float = MIN_RATE,
    trace: TraceTarget | None = None,
    trace_bodies: bool = False,
) -> AsyncIterator[Client]:
    """:func:`connect` over an already open :class:`Transport` (a proxy, a
    socket you opened, the scripted in-memory server of the tests).  ``host``
    is the name TLS verifies (STARTTLS) and OAUTHBEARER reports.  The
    transport is closed at the end."""
    _check_credentials(username, password, oauth2_token)
    pw, token = _secret(password), _secret(oauth2_token)
    failure: BaseException | None = None
    tracer: ProtocolTrace | None = None
    conn: Connection | None = None
    try:
        tracer = open_trace(trace, bodies=trace_bodies, host=host, port=port)
        if tracer is not None:
            tracer.note(f"connected: {transport!r}" + _tls_note(transport))
        async with anyio.create_task_group() as tg:
            conn = Connection(
                transport,
                options=SchedulerOptions(pipeline_depth=pipeline_depth),
                limits=parser_limits,
                timeout=timeout,
                server_hostname=host,
                ssl_context=ssl_context,
                handshake_timeout=connect_timeout,
                min_rate=min_rate,
                trace=tracer,
            )
            await tg.start(conn.run)
            client = Client(conn, host=host)
            try:
                await _session_setup(
                    client, host, port, username, pw, token, auth_mechanism, starttls, compress, id
                )
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await conn.aclose()
                raise
            try:
                yield client
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await conn.aclose()
                raise
            else:
                await client.aclose()
            finally:
                tg.cancel_scope.cancel()
    except _BaseExceptionGroup as group:
        failure = _unwrap(group)
    finally:
        with anyio.CancelScope(shield=True):
            await transport.aclose()
        if tracer is not None:
            error = conn.error if conn is not None else None
            tracer.close(f"closed: {error}" if error is not None else "closed")
    if failure is not None:
        raise failure


def _tls_note(transport: Transport) -> str:
    version = transport.tls_version
    return f" ({version})" if version is not None else ""


def _unwrap(group: Any) -> BaseException:
    """The one exception that matters in our task group's ExceptionGroup: the
    caller's (or the set-up's) error, not the cancellations it caused."""
    leaves: list[BaseException] = list(group.exceptions)
    cancelled = anyio.get_cancelled_exc_class()
    real = [e for e in leaves if not isinstance(e, cancelled)]
    return real[0] if real else leaves[0]


async def _session_setup(
    client: Client,
    host: str,
    port: int,
    username: str | None,
    password: Secret | None,
    token: Secret | None,
    auth_mechanism: str | None,
    starttls: bool,
    compress: bool,
    id_params: Mapping[str, str | None] | None,
) -> None:
    conn = client._conn
    greeting = await conn.wait_greeting()
    if not isinstance(greeting.code, CapabilityCode):
        await client.capability()
    if starttls:
        await _starttls(client)
    state = conn.sched.state
    if state.auth is AuthState.NOT_AUTHENTICATED and username is not None:
        creds = Credentials(username, password, token)
        completed = await _authenticate(client, creds, auth_mechanism, host, port)
        if not isinstance(completed.tagged.code, CapabilityCode):
            await client.capability()
    if compress and "COMPRESS=DEFLATE" in client.capabilities and not client.is_compressed:
        await client._exec(ops.simple_op(c.Compress()))
    if id_params is not None:
        await client.id(id_params)


async def _starttls(client: Client) -> None:
    if "STARTTLS" not in client.capabilities:
        raise ProtocolError(
            "the server does not offer STARTTLS; refusing to continue in plaintext "
            "(tls='insecure-plaintext' allows it)"
        )
    try:
        await client._exec(ops.simple_op(c.StartTLS()))
    except ConnectionLostError as exc:
        if isinstance(exc.__cause__, UnexpectedResponseError):
            raise exc.__cause__ from None  # response injection before the handshake
        raise
    await client.capability()  # RFC 9051 section 6.2.1: forget what was said in plaintext


async def _authenticate(
    client: Client, creds: Credentials, mechanism: str | None, host: str, port: int
) -> Completed:
    caps = client.capabilities
    name = mechanism.upper() if mechanism is not None else choose_mechanism(caps, creds)
    if name is None or name == LOGIN_COMMAND:
        if creds.password is None:
            raise UsageError("no SASL mechanism the server offers can use an OAuth 2.0 token")
        if "LOGINDISABLED" in caps:
            raise UsageError("the server advertises LOGINDISABLED and no usable SASL mechanism")
        op = ops.Op((c.Login(creds.username, creds.password),), lambda d: d[0][0])
        return await client._exec(op)
    if f"AUTH={name}" not in caps:
        raise UsageError(f"the server does not offer AUTH={name}")
    return await _sasl(client, name, creds, host, port)


async def _sasl(client: Client, name: str, creds: Credentials, host: str, port: int) -> Completed:
    """AUTHENTICATE as described in :mod:`pipeimap.protocol._sasl`."""
    conn = client._conn
    mech = create_mechanism(name, creds, host=host, port=port)
    ir = mech.initial_response() if "SASL-IR" in client.capabilities else None
    handle = conn.submit(c.Authenticate(name, ir))
    sasl_error: SaslError | None = None
    try:
        while True:
            o = await handle.next()
            if isinstance(o, ContinuationRequested):
                try:
                    conn.send_continuation(handle.cid, mech.respond(o.request.data))
                except SaslError as exc:
                    sasl_error = exc
                    conn.abort_exchange(handle.cid)
            elif isinstance(o, Completed):
                if sasl_error is not None:
                    raise sasl_error
                mech.verify_success()
                return o
            elif isinstance(o, Failed):
                if sasl_error is not None:
                    raise sasl_error
                err = o.error
                detail = mech.failure_detail
                if isinstance(err, CommandNoError) and detail:
                    raise CommandNoError(
                        err.status, err.code, f"{err.text} ({detail})", err.tag, err.command
                    )
                raise fresh_error(err)
    finally:
        handle.cancel()
