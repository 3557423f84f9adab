"""Connecting to the real Dovecot: TLS modes, every SASL mechanism it offers, LOGIN,
wrong credentials, certificate verification, and secrets kept out of reprs and logs."""

from __future__ import annotations

import base64
import logging
import ssl

import anyio
import pytest

import pipeimap
from pipeimap import CommandNoError, ConnectionLostError, Secret
from pipeimap.client import LOGIN_COMMAND, connect_transport
from pipeimap.testing import DovecotServer

from ._helpers import ALICE_PASSWORD, TEST_TIMEOUT, connect_user, transport_from_new_ip

pytestmark = pytest.mark.anyio


async def test_implicit_tls(dovecot: DovecotServer) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with connect_user(dovecot) as client:
            assert client.is_tls
            assert "AUTH=PLAIN" not in client.capabilities  # post-login capabilities
            assert "UIDPLUS" in client.capabilities
            assert (await client.status("INBOX", ["MESSAGES"])).messages is not None
        assert client.closed


async def test_starttls(dovecot: DovecotServer) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with pipeimap.connect(
            "localhost",
            dovecot.imap_port,
            username="alice",
            password=ALICE_PASSWORD,
            tls="starttls",
            ssl_context=dovecot.client_ssl_context(),
        ) as client:
            assert client.is_tls
            assert client.is_compressed
            assert "STARTTLS" not in client.capabilities
            await client.noop()


async def test_insecure_plaintext(dovecot: DovecotServer) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with pipeimap.connect(
            "127.0.0.1",
            dovecot.imap_port,
            username="bob",
            password=Secret("bob-password"),
            tls="insecure-plaintext",
            compress=False,
        ) as client:
            assert not client.is_tls
            assert not client.is_compressed
            await client.noop()


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "SCRAM-SHA-256", LOGIN_COMMAND])
async def test_each_mechanism(dovecot: DovecotServer, mechanism: str) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with connect_user(dovecot, auth_mechanism=mechanism) as client:
            assert (await client.status("INBOX", ["MESSAGES"])).messages is not None


@pytest.mark.parametrize("mechanism", [None, "PLAIN", "LOGIN", "SCRAM-SHA-256", LOGIN_COMMAND])
async def test_wrong_password(dovecot: DovecotServer, mechanism: str | None) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        transport = await transport_from_new_ip(dovecot)
        with pytest.raises(CommandNoError) as info:
            async with connect_transport(
                transport,
                host="localhost",
                username="alice",
                password="wrong-password-123",
                auth_mechanism=mechanism,
                starttls=True,
                ssl_context=dovecot.client_ssl_context(),
            ):
                raise AssertionError("logged in with a wrong password")
        assert transport.closed
    assert info.value.status == "NO"
    assert info.value.code == "AUTHENTICATIONFAILED"
    assert "wrong-password-123" not in str(info.value)
    assert "wrong-password-123" not in repr(info.value)


async def test_unverified_certificate_is_refused(dovecot: DovecotServer) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        with pytest.raises(ConnectionLostError) as info:
            # The default context trusts the system CAs, not the test CA.
            async with pipeimap.connect(
                "localhost", dovecot.imaps_port, username="alice", password=ALICE_PASSWORD
            ):
                raise AssertionError("connected without verifying the certificate")
    assert isinstance(info.value.__cause__, ssl.SSLError)


async def test_secrets_stay_out_of_logs_and_reprs(
    dovecot: DovecotServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="pipeimap")
    with anyio.fail_after(TEST_TIMEOUT):
        for mechanism in ("PLAIN", LOGIN_COMMAND):
            async with connect_user(dovecot, auth_mechanism=mechanism, compress=False) as client:
                assert ALICE_PASSWORD not in repr(client)
                await client.noop()
    assert "C: " in caplog.text  # the wire was logged...
    assert ALICE_PASSWORD not in caplog.text  # ...with the credentials redacted
    plain = base64.b64encode(b"\x00alice\x00" + ALICE_PASSWORD.encode()).decode()
    assert plain not in caplog.text
    assert "<redacted>" in caplog.text
