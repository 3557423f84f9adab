"""SASL exchanges on the wire against scripted servers: exact bytes, and an
impostor that cannot prove it knows the password is refused (RFC 5802 section 9)."""

from __future__ import annotations

import base64

import anyio
import pytest

from pipeimap.client._transport import Transport
from pipeimap.protocol import Secret
from pipeimap.protocol._sasl import (
    OAuthBearerMechanism,
    PlainMechanism,
    SaslError,
    ScramSha256Mechanism,
)
from pipeimap.testing.scripted import ScriptedServer, Step, expect, expect_line, send
from tests.client._raw import RawSession

pytestmark = pytest.mark.anyio

GREETING = b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=SCRAM-SHA-256] ready\r\n"
# RFC 7677 section 3.
CLIENT_NONCE = "rOprNGfwEbeRWgbNEkqO"
CLIENT_FIRST = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
SERVER_FIRST = (
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
)
CLIENT_FINAL = (
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
)
SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def scram_opening() -> list[Step]:
    return [
        send(GREETING),
        expect(b"A1 AUTHENTICATE SCRAM-SHA-256 " + b64(CLIENT_FIRST)),
        send(b"+ " + b64(SERVER_FIRST) + b"\r\n"),
        expect_line(b64(CLIENT_FINAL)),
    ]


async def open_session(server: ScriptedServer) -> RawSession:
    session = RawSession(Transport(server.client_stream), prefix="A")
    await session.greeting()
    return session


def rfc_scram() -> ScramSha256Mechanism:
    return ScramSha256Mechanism("user", Secret("pencil"), _nonce=CLIENT_NONCE)


async def test_scram_exchange_exact_bytes() -> None:
    script = [
        *scram_opening(),
        send(b"+ " + b64(SERVER_FINAL) + b"\r\n"),
        expect_line(b""),
        send(b"A1 OK [CAPABILITY IMAP4rev1] Logged in\r\n"),
    ]
    with anyio.fail_after(10):
        async with ScriptedServer(script) as server:
            session = await open_session(server)
            tagged = await session.authenticate(rfc_scram(), sasl_ir=True)
            assert tagged.status == "OK"


async def test_impostor_accepting_without_a_signature_is_refused() -> None:
    script = [*scram_opening(), send(b"A1 OK Logged in (I accept anything)\r\n")]
    with anyio.fail_after(10):
        async with ScriptedServer(script) as server:
            session = await open_session(server)
            with pytest.raises(SaslError, match="without proving"):
                await session.authenticate(rfc_scram(), sasl_ir=True)


async def test_impostor_with_a_wrong_signature_is_cancelled_and_refused() -> None:
    wrong = b"v=" + b64(b"\x01" * 32)
    script = [
        *scram_opening(),
        send(b"+ " + b64(wrong) + b"\r\n"),
        expect_line(b"*"),  # the client cancels the exchange (RFC 9051 section 6.2.2)
        send(b"A1 BAD Authentication cancelled\r\n"),
    ]
    with anyio.fail_after(10):
        async with ScriptedServer(script) as server:
            session = await open_session(server)
            with pytest.raises(SaslError, match="wrong server signature"):
                await session.authenticate(rfc_scram(), sasl_ir=True)


async def test_plain_without_sasl_ir() -> None:
    script = [
        send(b"* OK ready\r\n"),
        expect(b"A1 AUTHENTICATE PLAIN"),
        send(b"+ \r\n"),
        expect_line(b64(b"\x00alice\x00pw")),
        send(b"A1 OK\r\n"),
    ]
    with anyio.fail_after(10):
        async with ScriptedServer(script) as server:
            session = await open_session(server)
            mech = PlainMechanism("alice", Secret("pw"))
            assert (await session.authenticate(mech, sasl_ir=False)).status == "OK"


async def test_oauthbearer_failure_exchange() -> None:
    error = b'{"status":"invalid_token","scope":"mail"}'
    script = [
        send(b"* OK ready\r\n"),
        expect(rb"A1 AUTHENTICATE OAUTHBEARER " + b64(b"n,a=u@x,\x01auth=Bearer tok\x01\x01")),
        send(b"+ " + b64(error) + b"\r\n"),
        expect_line(b"AQ=="),  # base64 of %x01
        send(b"A1 NO [AUTHENTICATIONFAILED] invalid token\r\n"),
    ]
    with anyio.fail_after(10):
        async with ScriptedServer(script) as server:
            session = await open_session(server)
            mech = OAuthBearerMechanism("u@x", Secret("tok"))
            tagged = await session.authenticate(mech, sasl_ir=True)
            assert tagged.status == "NO"
            assert mech.failure_detail == "status=invalid_token, scope=mail"
