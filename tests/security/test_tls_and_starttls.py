"""TLS guarantees: certificates verified by default (untrusted CA and wrong host
name refused with ConnectionLostError caused by ssl.SSLCertVerificationError),
a caller-trusted CA accepted; STARTTLS not offered (or refused) -> no
credentials ever written; bytes injected before the handshake -> refused."""

from __future__ import annotations

import ssl
from typing import cast

import anyio
import pytest

import pipeimap
from pipeimap import CommandNoError, ConnectionLostError, ProtocolError, UnexpectedResponseError
from pipeimap.client import TLSMode, connect_transport
from pipeimap.client._transport import Transport
from pipeimap.testing import DovecotServer
from pipeimap.testing.scripted import ScriptedServer, Step, expect, send

from ..conftest import TEST_USERS

pytestmark = pytest.mark.anyio
TIMEOUT = 20
PASSWORD = TEST_USERS["alice"]


def _cert_error(exc: BaseException) -> ssl.SSLCertVerificationError:
    cause = exc.__cause__
    assert isinstance(cause, ssl.SSLCertVerificationError), repr(cause)
    return cause


@pytest.mark.parametrize("tls", ["implicit", "starttls"])
async def test_untrusted_certificate_refused_by_default(dovecot: DovecotServer, tls: str) -> None:
    port = dovecot.imaps_port if tls == "implicit" else dovecot.imap_port
    with anyio.fail_after(TIMEOUT), pytest.raises(ConnectionLostError) as info:
        async with pipeimap.connect(
            "localhost",
            port,
            tls=cast(TLSMode, tls),
            username="alice",
            password=PASSWORD,
        ):
            raise AssertionError("connected to a server whose CA nobody trusts")
    assert _cert_error(info.value).verify_code == 20  # unable to get local issuer certificate
    assert PASSWORD not in str(info.value)


@pytest.mark.parametrize("tls", ["implicit", "starttls"])
async def test_certificate_trusted_when_the_caller_trusts_its_ca(
    dovecot: DovecotServer, tls: str
) -> None:
    port = dovecot.imaps_port if tls == "implicit" else dovecot.imap_port
    with anyio.fail_after(TIMEOUT):
        async with pipeimap.connect(
            "localhost",
            port,
            tls=cast(TLSMode, tls),
            username="alice",
            password=PASSWORD,
            ssl_context=dovecot.client_ssl_context(),
        ) as client:
            assert client.is_tls
            await client.noop()


@pytest.mark.parametrize("starttls", [False, True])
async def test_hostname_mismatch_refused(dovecot: DovecotServer, starttls: bool) -> None:
    # The certificate is for localhost/127.0.0.1; the caller expects another name.
    ctx = dovecot.client_ssl_context()

    async def attempt() -> None:
        if starttls:
            transport = await Transport.connect_tcp(dovecot.host, dovecot.imap_port, tls=False)
        else:
            transport = await Transport.connect_tcp(
                dovecot.host, dovecot.imaps_port, tls=ctx, server_hostname="imap.example.org"
            )
        async with connect_transport(
            transport,
            host="imap.example.org",
            username="alice",
            password=PASSWORD,
            starttls=starttls,
            ssl_context=ctx,
        ):
            raise AssertionError("accepted a certificate for another host")

    with anyio.fail_after(TIMEOUT), pytest.raises(ConnectionLostError) as info:
        await attempt()
    assert _cert_error(info.value).verify_code == 62  # hostname mismatch


# --- STARTTLS on the scripted server -------------------------------------------------------

SECRET = "st@rttls-Secret-9"


def _no_credentials(received: bytes) -> None:
    assert SECRET.encode() not in received
    assert b"LOGIN" not in received.upper()
    assert b"AUTHENTICATE" not in received.upper()


async def _starttls_session(script: list[Step], greeting: bytes) -> tuple[BaseException, bytes]:
    with anyio.fail_after(TIMEOUT):
        async with ScriptedServer(script, greeting=greeting) as server:
            try:
                async with connect_transport(
                    Transport(server.client_stream),
                    host="imap.test",
                    username="alice",
                    password=SECRET,
                    starttls=True,
                ):
                    raise AssertionError("went on without TLS")
            except (ProtocolError, CommandNoError, ConnectionLostError) as exc:
                error: BaseException = exc
        return error, server.received


async def test_starttls_not_offered_sends_no_credentials() -> None:
    greeting = b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR LITERAL+] ready\r\n"
    error, received = await _starttls_session([], greeting)
    assert isinstance(error, ProtocolError)
    assert "STARTTLS" in str(error)
    _no_credentials(received)
    assert received == b""  # nothing at all was written


async def test_starttls_refused_by_the_server_sends_no_credentials() -> None:
    greeting = b"* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] ready\r\n"
    script = [expect(b"A0001 STARTTLS"), send(b"A0001 NO not now\r\n")]
    error, received = await _starttls_session(script, greeting)
    assert isinstance(error, CommandNoError)
    _no_credentials(received)


async def test_bytes_injected_before_the_handshake_are_refused() -> None:
    greeting = b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n"
    script = [
        expect(b"A0001 STARTTLS"),
        # The OK and a forged capability list in one write, before any handshake.
        send(b"A0001 OK begin TLS\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN LOGIN\r\n"),
    ]
    with anyio.fail_after(TIMEOUT):
        async with ScriptedServer(script, greeting=greeting) as server:
            with pytest.raises(UnexpectedResponseError, match="injection"):
                async with connect_transport(
                    Transport(server.client_stream),
                    host="imap.test",
                    username="alice",
                    password=SECRET,
                    starttls=True,
                ):
                    raise AssertionError("accepted injected bytes")
    _no_credentials(server.received)
    assert server.received == b"A0001 STARTTLS\r\n"
