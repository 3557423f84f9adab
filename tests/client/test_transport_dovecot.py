"""Transport and SASL against the real Dovecot of the test suite: implicit TLS,
certificate checks, STARTTLS, COMPRESS=DEFLATE, and every SASL mechanism Dovecot
offers driven over raw ``AUTHENTICATE`` exchanges."""

from __future__ import annotations

import itertools
import os
import ssl
import uuid
from collections.abc import Iterator

import anyio
import pytest

from pipeimap.client._transport import Transport
from pipeimap.errors import ConnectionLostError
from pipeimap.protocol import Secret
from pipeimap.protocol._parser import ResponseParser
from pipeimap.protocol._responses import (
    CapabilityResponse,
    Event,
    FetchLiteralChunk,
    ListResponse,
    TaggedResponse,
)
from pipeimap.protocol._sasl import (
    Credentials,
    LoginMechanism,
    PlainMechanism,
    ScramSha256Mechanism,
    choose_mechanism,
    create_mechanism,
)
from pipeimap.testing import DovecotServer
from tests.client._raw import RawSession
from tests.conftest import TEST_USERS

pytestmark = pytest.mark.anyio

USER = "alice"
PASSWORD = TEST_USERS[USER]
TIMEOUT = 20


async def open_tls(dovecot: DovecotServer, **kwargs: object) -> RawSession:
    transport = await Transport.connect_tcp(
        dovecot.host,
        dovecot.imaps_port,
        tls=dovecot.client_ssl_context(),
        **kwargs,  # type: ignore[arg-type]
    )
    session = RawSession(transport)
    await session.greeting()
    return session


# --- TLS ------------------------------------------------------------------------------------


async def test_implicit_tls_verified_with_the_test_ca(dovecot: DovecotServer) -> None:
    with anyio.fail_after(TIMEOUT):
        session = await open_tls(dovecot)
        transport = session.transport
        assert transport.is_tls
        assert transport.tls_version in ("TLSv1.2", "TLSv1.3")
        assert (await session.login(USER, PASSWORD)).status == "OK"
        tagged, _ = await session.command(b"LOGOUT")
        assert tagged.status == "OK"
        assert await transport.receive() == b""
        await transport.aclose()


async def test_implicit_tls_with_a_server_hostname(dovecot: DovecotServer) -> None:
    with anyio.fail_after(TIMEOUT):
        session = await open_tls(dovecot, server_hostname="localhost")
        await session.transport.aclose()


async def test_untrusted_certificate_refused_by_default(dovecot: DovecotServer) -> None:
    with anyio.fail_after(TIMEOUT), pytest.raises(ConnectionLostError) as info:
        await Transport.connect_tcp(dovecot.host, dovecot.imaps_port)  # tls=True: system CAs
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)


async def test_wrong_hostname_refused(dovecot: DovecotServer) -> None:
    with anyio.fail_after(TIMEOUT), pytest.raises(ConnectionLostError) as info:
        await Transport.connect_tcp(
            dovecot.host,
            dovecot.imaps_port,
            tls=dovecot.client_ssl_context(),
            server_hostname="imap.example.org",
        )
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)


async def test_starttls_then_login(dovecot: DovecotServer) -> None:
    with anyio.fail_after(TIMEOUT):
        transport = await Transport.connect_tcp(dovecot.host, dovecot.imap_port, tls=False)
        session = RawSession(transport)
        greeting = await session.greeting()
        assert greeting.code is not None
        assert b"STARTTLS" in greeting.code.raw
        tagged, _ = await session.command(b"STARTTLS")
        assert tagged.status == "OK"
        await transport.start_tls(
            dovecot.client_ssl_context(), "localhost", unparsed=session.parser.take_unparsed()
        )
        assert transport.is_tls
        session.parser = ResponseParser(expect_greeting=False)  # state is reset after TLS
        tagged, events = await session.command(b"CAPABILITY")
        caps = next(e for e in events if isinstance(e, CapabilityResponse)).capabilities
        assert "STARTTLS" not in caps
        assert "AUTH=PLAIN" in caps
        assert (await session.login(USER, PASSWORD)).status == "OK"
        await transport.aclose()


# --- COMPRESS=DEFLATE -------------------------------------------------------------------------


async def test_compress_deflate_after_login(dovecot: DovecotServer) -> None:
    mailbox = f"transport-{uuid.uuid4().hex[:12]}"
    body = b"Subject: compress test\r\n\r\n" + b"All work and no play. " * 20_000 + b"\r\n"
    with anyio.fail_after(TIMEOUT):
        session = await open_tls(dovecot)
        transport = session.transport
        tagged = await session.login(USER, PASSWORD)
        assert tagged.code is not None
        assert b"COMPRESS=DEFLATE" in tagged.code.raw
        tagged, _ = await session.command(b"COMPRESS DEFLATE")
        assert tagged.status == "OK"
        transport.start_compression(session.parser.take_unparsed())
        assert transport.is_compressed

        # Several raw commands in one send, pipelined, over the compressed stream.
        pipeline = (
            b"P1 NOOP\r\n"
            b'P2 LIST "" "*"\r\n'
            + f"P3 CREATE {mailbox}\r\n".encode()
            + f"P4 APPEND {mailbox} {{{len(body)}+}}\r\n".encode()
            + body
            + b"\r\n"
            + f"P5 SELECT {mailbox}\r\n".encode()
            + b"P6 FETCH 1 (RFC822.SIZE BODY.PEEK[])\r\n"
        )
        sent_before = transport.bytes_sent
        await transport.send_all(pipeline)
        assert transport.bytes_sent - sent_before < len(pipeline) // 10
        events: list[Event] = []
        tagged_seen: dict[str, str] = {}
        received_before = transport.bytes_received
        while "P6" not in tagged_seen:
            event = session.parser.next_event()
            if event is None:
                data = await transport.receive(1024)  # small reads: bounded inflate
                assert 0 < len(data) <= 1024
                session.parser.feed(data)
                continue
            events.append(event)
            if isinstance(event, TaggedResponse):
                tagged_seen[event.tag] = event.status
        assert tagged_seen == {f"P{i}": "OK" for i in range(1, 7)}
        assert any(isinstance(e, ListResponse) and e.mailbox == "INBOX" for e in events)
        # The body came back whole, and compressed on the wire.
        # (over the parser's stream threshold, so it arrives as literal chunks)
        fetched = b"".join(e.data for e in events if isinstance(e, FetchLiteralChunk))
        assert fetched == body
        assert transport.bytes_received - received_before < len(body) // 10

        tagged, _ = await session.command(b"UNSELECT")
        tagged, _ = await session.command(f"DELETE {mailbox}".encode())
        assert tagged.status == "OK"
        tagged, _ = await session.command(b"LOGOUT")
        assert tagged.status == "OK"
        # Dovecot ends the deflate stream as it hangs up: that is end of stream.
        assert await transport.receive() == b""
        await transport.aclose()


# --- SASL -------------------------------------------------------------------------------------


@pytest.mark.parametrize("sasl_ir", [True, False], ids=["sasl-ir", "no-sasl-ir"])
@pytest.mark.parametrize("name", ["PLAIN", "LOGIN", "SCRAM-SHA-256"])
async def test_each_sasl_mechanism(dovecot: DovecotServer, name: str, sasl_ir: bool) -> None:
    creds = Credentials(USER, password=Secret(PASSWORD))
    with anyio.fail_after(TIMEOUT):
        session = await open_tls(dovecot)
        mech = create_mechanism(name, creds)
        tagged = await session.authenticate(mech, sasl_ir=sasl_ir)
        assert tagged.status == "OK", tagged
        tagged, _ = await session.command(b"SELECT INBOX")  # really authenticated
        assert tagged.status == "OK"
        await session.transport.aclose()


async def test_chosen_mechanism_for_dovecot(dovecot: DovecotServer) -> None:
    with anyio.fail_after(TIMEOUT):
        session = await open_tls(dovecot)
        _, events = await session.command(b"CAPABILITY")
        caps = next(e for e in events if isinstance(e, CapabilityResponse)).capabilities
        creds = Credentials(USER, password=Secret(PASSWORD))
        assert choose_mechanism(caps, creds) == "SCRAM-SHA-256"
        await session.transport.aclose()


# Dovecot delays every failed login and then penalizes the client's IP: the next
# login from it, even a good one, waits seconds more.  The failure tests
# therefore run on their own Dovecot (no failure delay), each from a fresh
# loopback address, so the shared server never sees a failure.
_source_ips = itertools.count(10)


@pytest.fixture(scope="module")
def dovecot_for_failures() -> Iterator[DovecotServer]:
    if os.environ.get("PIPEIMAP_SKIP_DOVECOT") == "1":
        pytest.skip("PIPEIMAP_SKIP_DOVECOT=1")
    with DovecotServer(users=TEST_USERS, extra_config="auth_failure_delay = 0\n") as server:
        yield server


async def open_from_fresh_ip(dovecot: DovecotServer) -> RawSession:
    """Implicit TLS done with start_tls() on a socket bound to a new 127.0.0.x."""
    stream = await anyio.connect_tcp(
        dovecot.host, dovecot.imaps_port, local_host=f"127.0.0.{next(_source_ips)}"
    )
    transport = Transport(stream)
    await transport.start_tls(dovecot.client_ssl_context(), "localhost")
    session = RawSession(transport)
    await session.greeting()
    return session


@pytest.mark.parametrize("mech_class", [PlainMechanism, LoginMechanism, ScramSha256Mechanism])
async def test_wrong_password_fails_cleanly(
    dovecot_for_failures: DovecotServer, mech_class: type[PlainMechanism]
) -> None:
    wrong = "not-the-Pa55word"
    with anyio.fail_after(TIMEOUT):
        session = await open_from_fresh_ip(dovecot_for_failures)
        mech = mech_class(USER, Secret(wrong))
        tagged = await session.authenticate(mech, sasl_ir=True)
        assert tagged.status == "NO"
        assert tagged.code is not None
        assert tagged.code.name == "AUTHENTICATIONFAILED"
        assert wrong not in tagged.text
        # The connection is still in sync and usable.
        tagged, events = await session.command(b"CAPABILITY")
        assert tagged.status == "OK"
        assert events
        await session.transport.aclose()


async def test_wrong_password_with_login_command(dovecot_for_failures: DovecotServer) -> None:
    with anyio.fail_after(TIMEOUT):
        session = await open_from_fresh_ip(dovecot_for_failures)
        tagged = await session.login(USER, "nope")
        assert tagged.status == "NO"
        tagged, _ = await session.command(b"NOOP")
        assert tagged.status == "OK"
        await session.transport.aclose()


async def test_second_user(dovecot: DovecotServer) -> None:
    with anyio.fail_after(TIMEOUT):
        session = await open_tls(dovecot)
        mech = ScramSha256Mechanism("bob", Secret(TEST_USERS["bob"]))
        assert (await session.authenticate(mech, sasl_ir=True)).status == "OK"
        await session.transport.aclose()
