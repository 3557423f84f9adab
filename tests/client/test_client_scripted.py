"""Exact wire-level client tests against the scripted in-memory server: set-up
refusals, pipelined sends, routing out of order, cancellation, BYE/EOF/garbage,
timeouts, and no ExceptionGroup leaving the public API."""

from __future__ import annotations

import base64
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from pipeimap import (
    ConnectionLostError,
    IMAPTimeoutError,
    ProtocolError,
    ResponseParseError,
    UnexpectedResponseError,
    UsageError,
)
from pipeimap.client import Client, connect_transport
from pipeimap.client._transport import Transport
from pipeimap.testing.scripted import ScriptedServer, Step, close, expect, send, wait

pytestmark = pytest.mark.anyio

CAPS = b"IMAP4rev1 LITERAL+ UIDPLUS ESEARCH IDLE"
GREETING = b"* OK [CAPABILITY " + CAPS + b"] ready\r\n"
TIMEOUT = 10


def login() -> list[Step]:
    return [
        expect(b"A0001 LOGIN alice secret"),
        send(b"A0001 OK [CAPABILITY " + CAPS + b"] logged in\r\n"),
    ]


def logout(tag: str) -> list[Step]:
    return [
        expect(f"{tag} LOGOUT".encode()),
        send(f"* BYE bye\r\n{tag} OK done\r\n".encode()),
        close(),
    ]


@asynccontextmanager
async def scripted(
    script: list[Step], *, greeting: bytes | None = GREETING, **kwargs: Any
) -> AsyncIterator[tuple[ScriptedServer, Client]]:
    kwargs.setdefault("username", "alice")
    kwargs.setdefault("password", "secret")
    async with (
        ScriptedServer(script, greeting=greeting) as server,
        connect_transport(Transport(server.client_stream), host="imap.test", **kwargs) as client,
    ):
        yield server, client


def is_group(exc: BaseException) -> bool:
    return sys.version_info >= (3, 11) and isinstance(exc, BaseExceptionGroup)  # noqa: F821


# --- set-up -------------------------------------------------------------------------------


async def test_dovecot_pre_greeting_and_capability_refresh() -> None:
    script = [
        send(b"* OK [CAPABILITY IMAP4rev1 LITERAL+] Dovecot ready.\r\n"),
        expect(b"A0001 CAPABILITY"),
        send(b"* CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN SASL-IR\r\nA0001 OK listed\r\n"),
        expect(b"A0002 AUTHENTICATE PLAIN " + base64.b64encode(b"\0alice\0secret")),
        send(b"A0002 OK logged in\r\n"),  # no [CAPABILITY]: the client asks again
        expect(b"A0003 CAPABILITY"),
        send(b"* CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS\r\nA0003 OK listed\r\n"),
        *logout("A0004"),
    ]
    greeting = b"* OK Waiting for authentication process to respond..\r\n"
    with anyio.fail_after(TIMEOUT):
        async with scripted(script, greeting=greeting) as (_, client):
            assert "UIDPLUS" in client.capabilities
            assert "AUTH=PLAIN" not in client.capabilities


async def test_starttls_not_offered_is_refused() -> None:
    with anyio.fail_after(TIMEOUT):
        with pytest.raises(ProtocolError, match="STARTTLS"):
            async with scripted([], starttls=True):
                raise AssertionError("went on in plaintext")


async def test_starttls_response_injection_is_refused() -> None:
    greeting = b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n"
    script = [
        expect(b"A0001 STARTTLS"),
        send(b"A0001 OK begin TLS\r\n* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] injected\r\n"),
    ]
    with anyio.fail_after(TIMEOUT):
        with pytest.raises(UnexpectedResponseError):
            async with scripted(script, greeting=greeting, starttls=True):
                raise AssertionError("accepted injected bytes")


async def test_logindisabled_refuses_login() -> None:
    greeting = b"* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] ready\r\n"
    with anyio.fail_after(TIMEOUT):
        with pytest.raises(UsageError, match="LOGINDISABLED"):
            async with scripted([], greeting=greeting):
                raise AssertionError("logged in")


@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
async def test_oauth_token_mechanisms(mechanism: str) -> None:
    greeting = b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=" + mechanism.encode() + b"] hi\r\n"
    script = [
        expect(re.compile(rb"A0001 AUTHENTICATE " + mechanism.encode() + rb" [A-Za-z0-9+/=]+\r\n")),
        send(b"A0001 OK [CAPABILITY " + CAPS + b"] welcome\r\n"),
        *logout("A0002"),
    ]
    with anyio.fail_after(TIMEOUT):
        async with scripted(script, greeting=greeting, password=None, oauth2_token="tok-123") as (
            server,
            client,
        ):
            assert "tok-123" not in repr(client)
    first = server.writes[0]
    token = base64.b64decode(first.split()[3])
    assert b"tok-123" in token
    assert b"alice" in token


# --- pipelining and routing --------------------------------------------------------------


async def test_batch_goes_out_in_one_send_and_routes_by_tag() -> None:
    script = [
        *login(),
        expect(b"A0002 UID FETCH 1 (FLAGS UID)"),
        expect(b"A0003 UID FETCH 2 (FLAGS UID)"),
        expect(b"A0004 UID STORE 3 +FLAGS.SILENT (\\Seen)"),
        # Answers in reverse order, with the FETCH data interleaved.
        send(
            b"* 2 FETCH (UID 2 FLAGS (\\Draft))\r\nA0004 OK stored\r\n"
            b"* 1 FETCH (UID 1 FLAGS (\\Seen))\r\nA0003 OK done\r\nA0002 OK done\r\n"
        ),
        *logout("A0005"),
    ]
    with anyio.fail_after(TIMEOUT):
        async with scripted(script) as (server, client):
            async with client.batch() as b:
                one = b.fetch(1)
                two = b.fetch(2)
                b.store(3, "\\Seen")
            assert [m.flags for m in one.value] == [("\\Seen",)]
            assert [m.flags for m in two.value] == [("\\Draft",)]
    login_writes = 1
    assert server.writes[login_writes] == (
        b"A0002 UID FETCH 1 (FLAGS UID)\r\nA0003 UID FETCH 2 (FLAGS UID)\r\n"
        b"A0004 UID STORE 3 +FLAGS.SILENT (\\Seen)\r\n"
    )


async def test_cancelled_queued_command_is_never_written() -> None:
    release = anyio.Event()
    script = [
        *login(),
        expect(b"A0002 NOOP"),
        wait(release),
        send(b"A0002 OK noop\r\n"),
        expect(b"A0003 UID FETCH 9 (FLAGS UID)"),
        send(b"* 4 FETCH (UID 9 FLAGS ())\r\nA0003 OK done\r\n"),
        *logout("A0004"),
    ]
    with anyio.fail_after(TIMEOUT):
        async with scripted(script, pipeline_depth=1) as (server, client):
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.noop)
                await anyio.sleep(0.05)
                with anyio.move_on_after(0.05):
                    await client.store(5, "\\Deleted")  # queued behind NOOP, then cancelled
                release.set()
            (m,) = await client.fetch_all(9)
            assert m.uid == 9
    assert b"STORE" not in server.received


async def test_cancelled_in_flight_fetch_is_drained() -> None:
    release = anyio.Event()
    script = [
        *login(),
        expect(b"A0002 UID FETCH 1:3 (BODY.PEEK[] UID)"),
        wait(release),
        expect(b"A0003 UID FETCH 1 (FLAGS UID)"),
        send(
            b"* 1 FETCH (UID 1 BODY[] {5}\r\nfirst)\r\n* 2 FETCH (UID 2 BODY[] {6}\r\nsecond)\r\n"
            b"A0002 OK done\r\n* 1 FETCH (UID 1 FLAGS (\\Seen))\r\nA0003 OK done\r\n"
        ),
        *logout("A0004"),
    ]
    with anyio.fail_after(TIMEOUT):
        async with scripted(script) as (_, client):
            with anyio.move_on_after(0.05):
                await client.fetch_all([1, 2, 3], ["BODY.PEEK[]"])
            release.set()
            (m,) = await client.fetch_all(1)
            assert m.items == {"UID": 1, "FLAGS": ("\\Seen",)}  # none of the drained body


# --- losing the connection ----------------------------------------------------------------


async def test_unsolicited_bye_fails_every_pending_command() -> None:
    script = [
        *login(),
        expect(re.compile(rb"A0002 .*\r\n")),
        send(b"* BYE server shutting down\r\n"),
        close(),
    ]
    with anyio.fail_after(TIMEOUT):
        async with scripted(script) as (_, client):
            errors = await gather_errors(client.noop(), client.search(), client.status("INBOX"))
            assert len(errors) == 3
            assert all(isinstance(e, ConnectionLostError) for e in errors), errors
            assert all("BYE server shutting down" in str(e) for e in errors)
            assert client.closed


async def gather_errors(*coros: Any) -> list[BaseException]:
    errors: list[BaseException] = []

    async def call(aw: Any) -> None:
        try:
            await aw
        except Exception as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        for aw in coros:
            tg.start_soon(call, aw)
    return errors


@pytest.mark.parametrize(
    "answer",
    [
        b"* 1 FETCH (UID 1 BODY[] {100}\r\nonly a part",  # then EOF mid-literal
        b"this is not IMAP\r\n",
        b"A9999 OK unknown tag\r\n",
    ],
)
async def test_eof_and_protocol_errors_fail_pending_commands(answer: bytes) -> None:
    script = [*login(), expect(b"A0002 UID FETCH 1 (BODY.PEEK[] UID)"), send(answer), close()]
    with anyio.fail_after(TIMEOUT):
        async with scripted(script) as (_, client):
            with pytest.raises(ConnectionLostError) as info:
                await client.fetch_all(1, ["BODY.PEEK[]"])
            cause = info.value.__cause__
            assert isinstance(cause, (ResponseParseError, UnexpectedResponseError)), cause
            with pytest.raises(ConnectionLostError):
                await client.noop()


async def test_timeout_closes_the_connection() -> None:
    never = anyio.Event()
    script = [
        *login(),
        expect(re.compile(rb"A0002 .*\r\n")),
        expect(re.compile(rb"A0003 .*\r\n")),
        wait(never),
    ]
    with anyio.fail_after(TIMEOUT):
        async with scripted(script, timeout=0.3) as (_, client):
            errors = await gather_errors(client.noop(), client.status("INBOX"))
            assert client.closed
            timeouts = [e for e in errors if isinstance(e, IMAPTimeoutError)]
            lost = [e for e in errors if isinstance(e, ConnectionLostError)]
            assert len(timeouts) == 1
            assert len(lost) == 1
            assert isinstance(lost[0].__cause__, IMAPTimeoutError)
            with pytest.raises(ConnectionLostError):
                await client.noop()
            never.set()  # let the script end


async def test_no_exception_group_escapes() -> None:
    script = login()  # an exception in the block closes at once, without LOGOUT
    with anyio.fail_after(TIMEOUT):
        with pytest.raises(KeyError) as info:
            async with scripted(script):
                raise KeyError("from the caller's block")
        assert not is_group(info.value)

    # The server dies while the block is busy elsewhere: the block's own error wins.
    script = [*login(), close()]
    with anyio.fail_after(TIMEOUT):
        with pytest.raises(ValueError, match="mine") as info2:  # noqa: PT012
            async with scripted(script):
                await anyio.sleep(0.1)
                raise ValueError("mine")
        assert not is_group(info2.value)

    # A cancelled block stays a plain cancellation.
    with anyio.fail_after(TIMEOUT):
        with anyio.move_on_after(0.1) as scope:
            async with scripted([*login(), wait(anyio.Event())]):
                await anyio.sleep_forever()
        assert scope.cancelled_caught


async def test_aclose_cancelled_during_logout_still_closes() -> None:
    never = anyio.Event()
    script = [*login(), expect(b"A0002 LOGOUT"), wait(never)]  # LOGOUT is never answered
    with anyio.fail_after(TIMEOUT):
        async with ScriptedServer(script, greeting=GREETING) as server:
            async with connect_transport(
                Transport(server.client_stream), host="imap.test", username="alice",
                password="secret",
            ) as client:  # fmt: skip
                with anyio.move_on_after(0.1):
                    await client.aclose()
                assert client.closed
            never.set()


async def test_idle_time_does_not_count_towards_the_read_timeout() -> None:
    script = [
        *login(),
        expect(b"A0002 NOOP"),
        send(b"A0002 OK noop\r\n"),
        *logout("A0003"),
    ]
    with anyio.fail_after(TIMEOUT):
        async with scripted(script, timeout=0.3) as (_, client):
            await anyio.sleep(0.6)  # idle for twice the read timeout: nobody was waiting
            await client.noop()  # must not time out at once
            assert not client.closed


@pytest.mark.parametrize("read_timeout", [None, 5.0])
async def test_shielded_wait_ends_when_the_connection_is_cancelled(
    read_timeout: float | None,
) -> None:
    # Ctrl-C cancels the scope holding the connection (its reader included) while a
    # task waits for an answer in a shielded scope (to record what the server did):
    # that wait must fail at once, not wait for an answer nobody will read.
    never = anyio.Event()
    script = [*login(), expect(b"A0002 NOOP"), wait(never)]
    errors: list[BaseException] = []
    with anyio.fail_after(TIMEOUT):
        async with ScriptedServer(script, greeting=GREETING) as server:
            with anyio.CancelScope() as outer:
                async with connect_transport(
                    Transport(server.client_stream), host="imap.test", username="alice",
                    password="secret", timeout=read_timeout,
                ) as client:  # fmt: skip
                    started = anyio.current_time()

                    async def interrupt() -> None:
                        await anyio.sleep(0.1)
                        outer.cancel()

                    async with anyio.create_task_group() as tg:
                        tg.start_soon(interrupt)
                        with anyio.move_on_after(5, shield=True):  # bounded: no hang on regression
                            try:
                                await client.noop()
                            except ConnectionLostError as exc:
                                errors.append(exc)
                        elapsed = anyio.current_time() - started
                        await anyio.lowlevel.checkpoint()  # the cancellation, delivered
                        pytest.fail("not cancelled")
            assert outer.cancelled_caught
            assert client.closed
            never.set()
    assert len(errors) == 1
    assert elapsed < 2.0
