"""Helpers shared by the archive and sync tests against the suite's Dovecot."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pipeimap import Client, Secret
from pipeimap.jobs import STATE_FILE_NAME, ServerSpec
from pipeimap.protocol import AppendMessage, Flag
from pipeimap.store import (
    EmlStore,
    JobState,
    LocalKey,
    MaildirStore,
    MboxStore,
    MessageRecord,
    MessageStore,
)
from pipeimap.testing import DovecotServer
from tests.conftest import TEST_USERS

TIMEOUT = 60
TEMP_MARKER = ".pipeimap-tmp"
BASE_DATE = datetime(2021, 3, 4, 5, 6, 7, tzinfo=timezone(timedelta(hours=2)))
FLAG_CYCLE: tuple[tuple[str, ...], ...] = (
    (),
    ("\\Seen",),
    ("\\Seen", "\\Answered"),
    ("\\Flagged",),
    ("\\Draft",),
    ("$Forwarded", "\\Seen"),
    ("$Label1",),
)


def spec_for(server: DovecotServer, user: str, password: str | None = None) -> ServerSpec:
    return ServerSpec(
        "localhost",
        server.imaps_port,
        username=user,
        password=Secret(password if password is not None else TEST_USERS[user]),
        ssl_context=server.client_ssl_context(),
        timeout=30,
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def sample(i: int, *, size: int = 0) -> bytes:
    """Varied messages: CRLF and LF endings, "From " lines (mbox quoting), a big one."""
    body = f"body of message {i}\r\nFrom the start of a line\r\n>From quoted\r\n".encode()
    if size:
        body += (b"0123456789abcdef" * (size // 16 + 1))[:size] + b"\r\n"
    msg = (
        f"From: sender{i}@example.org\r\nTo: alice@example.org\r\n"
        f"Subject: message {i}\r\nMessage-ID: <m{i}.{uuid.uuid4().hex[:6]}@example.org>\r\n\r\n"
    ).encode() + body
    if i % 5 == 4:
        msg = msg.replace(b"\r\n", b"\n")  # bare LF, as some mailers store it
    return msg


def samples(count: int, *, big: Sequence[int] = ()) -> list[AppendMessage]:
    return [
        AppendMessage(
            sample(i, size=600_000 if i in big else 0),
            tuple(Flag(f) for f in FLAG_CYCLE[i % len(FLAG_CYCLE)]),
            BASE_DATE + timedelta(days=i, seconds=i),
        )
        for i in range(count)
    ]


async def populate(client: Client, mailbox: str, messages: list[AppendMessage]) -> list[int]:
    await client.create(mailbox)
    result = await client.append_many(mailbox, messages)
    return [int(u) for u in result.uid_list]


async def server_messages(client: Client, mailbox: str) -> dict[int, Any]:
    """uid -> (body, flags without \\Recent, internaldate), read-only."""
    await client.examine(mailbox)
    out: dict[int, Any] = {}
    found = await client.fetch_all("1:*", ("BODY.PEEK[]", "FLAGS", "INTERNALDATE"))
    for m in found:
        assert m.uid is not None
        flags = frozenset(f for f in (m.flags or ()) if f.lower() != "\\recent")
        out[int(m.uid)] = (m.body(""), flags, m.internaldate)
    await client.unselect()
    return out


def open_store(fmt: str, dest: Path) -> MessageStore:
    if fmt == "maildir":
        return MaildirStore(dest, fsync=False)
    if fmt == "mbox":
        return MboxStore(dest, single_file=False, fsync=False)
    return EmlStore(dest, fsync=False)


def records(dest: Path, spec: ServerSpec, mailbox: str) -> dict[int, MessageRecord]:
    with JobState(dest / STATE_FILE_NAME) as state:
        return {int(r.uid): r for r in state.messages(spec.describe(), mailbox)}


def stored_keys(store: MessageStore, mailbox: str) -> list[LocalKey]:
    return [m.key for m in store.iter_messages(mailbox)]


def temp_files(dest: Path) -> list[Path]:
    return [p for p in dest.rglob("*") if TEMP_MARKER in p.name]
