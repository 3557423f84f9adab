"""Client-level checks of scheduler behaviour on the scripted server: a
cancelled COMPRESS still switches the layer (writing does not stall), MOVE's
untagged COPYUID and a QRESYNC SELECT's changes reach the right result."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from pipeimap.client import Client, connect_transport
from pipeimap.client._transport import Transport
from pipeimap.protocol import _commands as c
from pipeimap.protocol._seqset import UIDSet
from pipeimap.protocol._types import UID, ModSeq
from pipeimap.testing.scripted import (
    ScriptedServer,
    Step,
    close,
    expect,
    send,
    start_compression,
    wait,
)

pytestmark = pytest.mark.anyio

CAPS = b"IMAP4rev1 LITERAL+ UIDPLUS MOVE ENABLE CONDSTORE QRESYNC COMPRESS=DEFLATE"
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
async def scripted(script: list[Step]) -> AsyncIterator[tuple[ScriptedServer, Client]]:
    kwargs: dict[str, Any] = {"username": "alice", "password": "secret", "compress": False}
    async with (
        ScriptedServer(script, greeting=b"* OK [CAPABILITY " + CAPS + b"] hi\r\n") as server,
        connect_transport(Transport(server.client_stream), host="imap.test", **kwargs) as client,
    ):
        yield server, client


async def test_cancelled_compress_still_switches_the_layer() -> None:
    release = anyio.Event()
    script = [
        *login(),
        expect(b"A0002 COMPRESS DEFLATE"),
        wait(release),
        start_compression(ok=b"A0002 OK DEFLATE active\r\n"),
        expect(b"A0003 NOOP"),  # read through the deflate layer
        send(b"A0003 OK noop\r\n"),
        *logout("A0004"),
    ]
    with anyio.fail_after(TIMEOUT):
        async with scripted(script) as (_, client):
            with anyio.move_on_after(0.05):
                await client.execute(c.Compress())  # cancelled while in flight
            release.set()
            with anyio.fail_after(5):
                await client.noop()  # would wait forever if writing stayed blocked
            assert client.is_compressed


async def test_move_result_uses_the_routed_untagged_copyuid() -> None:
    script = [
        *login(),
        expect(b"A0002 SELECT INBOX"),
        send(b"* 3 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\nA0002 OK [READ-WRITE] done\r\n"),
        expect(b"A0003 UID MOVE 5 Archive"),
        send(b"* OK [COPYUID 9 5 12] moved\r\n* 2 EXPUNGE\r\nA0003 OK done\r\n"),
        *logout("A0004"),
    ]
    with anyio.fail_after(TIMEOUT):
        async with scripted(script) as (_, client):
            await client.select("INBOX")
            moved = await client.move([5], "Archive")
            assert moved is not None
            assert moved.uidvalidity == 9
            assert moved.mapping == ((UID(5), UID(12)),)


async def test_qresync_select_result_holds_changes_and_vanished() -> None:
    script = [
        *login(),
        expect(b"A0002 ENABLE QRESYNC"),
        send(b"* ENABLED QRESYNC\r\nA0002 OK\r\n"),
        expect(b"A0003 SELECT INBOX (QRESYNC (7 80 1:5))"),
        send(
            b"* 3 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [HIGHESTMODSEQ 95] ok\r\n"
            b"* VANISHED (EARLIER) 4:5\r\n* 2 FETCH (UID 3 FLAGS (\\Seen) MODSEQ (90))\r\n"
            b"A0003 OK [READ-WRITE] done\r\n"
        ),
        *logout("A0004"),
    ]
    with anyio.fail_after(TIMEOUT):
        async with scripted(script) as (_, client):
            sel = await client.select(
                "INBOX", qresync=c.QResync(7, ModSeq(80), UIDSet.parse("1:5"))
            )
            assert sel.vanished == UIDSet(4, 5)
            assert [(m.seq, m.uid, m.flags, m.modseq) for m in sel.changed] == [
                (2, 3, ("\\Seen",), 90)
            ]
