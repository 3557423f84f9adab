"""No argument of the public Client API can inject protocol text (issue 5, item 4).

Every user-supplied string -- mailbox names, search strings, header names, flags
and keywords, ID parameters, the user name -- is tried with payloads that would
each run a second command if they reached the wire raw: ``DELETE`` of a canary
mailbox after a CRLF, a closing quote, a literal announcement, a closing
paren/bracket.  Against the suite's real Dovecot, each call must either be refused
with :class:`~pipeimap.InvalidArgumentError` before anything is written, or
succeed with the value carried as data (a created mailbox lists under exactly its
name; a search for the payload finds nothing and breaks nothing).  Afterwards the
canary mailbox still exists and the session is still in step (NOOP, then a
command whose result we know).  A second test does the same over the scripted
server and checks on the wire that each call produced exactly one command.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

import pipeimap
from pipeimap import CommandError, CommandNoError, InvalidArgumentError, SaslError
from pipeimap.client import LOGIN_COMMAND, Client, connect_transport
from pipeimap.client._transport import Transport
from pipeimap.protocol import search as S
from pipeimap.testing import DovecotServer
from pipeimap.testing.scripted import ReceivedCommand, ScriptedConnection, ScriptedServer

from ..client._helpers import connect_user, populate, unique

pytestmark = pytest.mark.anyio

CANARY = "canary-must-survive"


def payloads(canary: str) -> list[str]:
    """Strings that would inject ``DELETE canary`` if written raw."""
    return [
        f"x\r\nZ1 DELETE {canary}\r\n",
        f'x" \r\nZ2 DELETE {canary}\r\nZ3 NOOP "',
        f"x {{{len(canary)}}}\r\n{canary}",
        f"x) \r\nZ4 DELETE {canary}\r\n",
        f"x] \r\nZ5 DELETE {canary}\r\n",
        f"x\nZ6 DELETE {canary}\n",
        f"x\rZ7 DELETE {canary}\r",
        f'x\\"\r\nZ8 DELETE {canary}\r\n',
        f"x\x00\r\nZ9 DELETE {canary}\r\n",
        f"\u00e9t\u00e9 \r\nZ10 DELETE {canary}\r\n",
        # No control characters: these must travel as data (quoted or literal).
        f'x" Z11 DELETE {canary} "',
        f"x {{{len(canary)}}} {canary}",
        f'x\\" ) ] Z12 DELETE "{canary}',
        "x % * & ~{3} \u00e9",
    ]


async def _refused_or_done(call: Callable[..., Awaitable[Any]], *args: Any) -> str:
    """'refused' (InvalidArgumentError before writing) or 'sent' (the server
    answered: OK, or NO for a name it rejects -- both mean one command)."""
    try:
        await call(*args)  # building the arguments may refuse them already
    except InvalidArgumentError:
        return "refused"
    except CommandNoError:
        return "sent"
    return "sent"


async def _still_in_step(client: Client, canary: str, known_mailbox: str) -> None:
    await client.noop()
    names = {m.name for m in await client.list("", "*")}
    assert canary in names, "an injected DELETE ran"
    status = await client.status(known_mailbox, ["MESSAGES"])
    assert status.messages == 3


async def test_no_client_argument_injects_protocol(dovecot: DovecotServer) -> None:
    canary = unique(CANARY)
    known = unique("inj-known")
    outcomes: dict[str, set[str]] = {}
    with anyio.fail_after(120):
        async with connect_user(dovecot) as client:
            await client.create(canary)
            await populate(client, known, 3)
            await client.select(known)
            calls: list[tuple[str, Callable[[str], Awaitable[Any]]]] = [
                ("create", lambda p: client.create(p)),
                ("status", lambda p: client.status(p, ["MESSAGES"])),
                ("list", lambda p: client.list("", p)),
                ("subscribe", lambda p: client.subscribe(p)),
                ("copy", lambda p: client.copy([1], p)),
                ("append", lambda p: client.append(p, b"Subject: x\r\n\r\nx\r\n")),
                ("search-subject", lambda p: client.search(S.subject(p))),
                ("search-text", lambda p: client.search(S.text(p) & S.from_(p))),
                ("search-header", lambda p: client.search(S.header("X-Inj", p))),
                ("search-header-name", lambda p: client.search(S.header(p, "v"))),
                ("search-keyword", lambda p: client.search(S.keyword(p))),
                ("add-flags", lambda p: client.add_flags([1], [p])),
                ("id", lambda p: client.id({"name": p, p: "v"})),
            ]
            for payload in payloads(canary):
                for name, call in calls:
                    outcome = await _refused_or_done(call, payload)
                    outcomes.setdefault(name, set()).add(outcome)
                    await _still_in_step(client, canary, known)
            # Mailbox names that were accepted are data: they list as exactly themselves.
            created = {m.name for m in await client.list("", "*")}
            for payload in payloads(canary):
                try:
                    await client.create(payload)
                except (InvalidArgumentError, CommandNoError):
                    continue
                created = {m.name for m in await client.list("", "*")}
                assert payload in created
                await client.delete(payload)
            await _still_in_step(client, canary, known)
            await client.delete(canary)
            await client.unselect()
            await client.delete(known)
    # The test is not vacuous: text arguments really went to the server (as literals
    # or quoted strings) and atom-only ones (keywords) were refused.
    assert "sent" in outcomes["search-subject"]
    assert "sent" in outcomes["create"]
    assert outcomes["add-flags"] == {"refused"}
    assert outcomes["search-keyword"] == {"refused"}


async def test_user_name_cannot_inject(dovecot: DovecotServer) -> None:
    """The user name travels in LOGIN (quoted or literal) and in SASL (base64):
    a payload fails the login; it never runs a command."""
    for mechanism in (LOGIN_COMMAND, "PLAIN", "SCRAM-SHA-256"):
        for payload in payloads("INBOX")[:4]:
            with anyio.fail_after(30):
                try:
                    async with pipeimap.connect(
                        "localhost",
                        dovecot.imaps_port,
                        username=payload,
                        password="x",
                        auth_mechanism=mechanism,
                        ssl_context=dovecot.client_ssl_context(),
                        timeout=20,
                    ):
                        pytest.fail("a login with a hostile user name succeeded")
                except (InvalidArgumentError, CommandError, SaslError):
                    pass


# --- on the wire: one call, exactly one command ---------------------------------------


async def test_each_call_is_exactly_one_command_on_the_wire() -> None:
    received: list[ReceivedCommand] = []

    async def handler(conn: ScriptedConnection, command: ReceivedCommand) -> None:
        received.append(command)
        assert command.parsed is not None
        tag = command.parsed.tag.encode()
        name = command.parsed.name
        if name == "SELECT":
            await conn.send(
                b"* 3 EXISTS\r\n* OK [UIDVALIDITY 7] x\r\n" + tag + b" OK [READ-WRITE] ok\r\n"
            )
        elif name == "LOGOUT":
            await conn.send(b"* BYE bye\r\n" + tag + b" OK bye\r\n")
            await conn.close()
        else:
            await conn.send(tag + b" OK done\r\n")

    server = ScriptedServer(
        handler=handler, greeting=b"* OK [CAPABILITY IMAP4rev1 LITERAL+ ID] ready\r\n"
    )
    async with (
        server,
        connect_transport(
            Transport(server.client_stream), host="scripted", compress=False
        ) as client,
    ):
        await client.select("INBOX")
        before = len(received)
        sent_calls = 0
        for payload in payloads("victim"):
            calls: list[Callable[[str], Awaitable[Any]]] = [
                lambda p: client.create(p),
                lambda p: client.status(p, ["MESSAGES"]),
                lambda p: client.search(S.subject(p) | S.header("X", p)),
                lambda p: client.id({"name": p}),
                lambda p: client.rename(p, p + "2"),
            ]
            for call in calls:
                if await _refused_or_done(call, payload) == "sent":
                    sent_calls += 1
        new = received[before:]
        assert sent_calls > 0
        assert len(new) == sent_calls, [c.raw for c in new]
        assert all(c.parsed is not None for c in new)
        assert not any(c.parsed.name == "DELETE" for c in new if c.parsed is not None)
