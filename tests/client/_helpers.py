"""Shared helpers for the client tests against the suite's Dovecot."""

from __future__ import annotations

import itertools
import random
import uuid
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio

import pipeimap
from pipeimap.client import Client
from pipeimap.client._transport import Transport
from pipeimap.testing import DovecotServer
from tests.conftest import TEST_USERS

ALICE_PASSWORD = TEST_USERS["alice"]
BOB_PASSWORD = TEST_USERS["bob"]
TEST_TIMEOUT = 30


def connect_user(
    dovecot: DovecotServer, user: str = "alice", **kwargs: Any
) -> AbstractAsyncContextManager[Client]:
    """Implicit TLS with real certificate verification against the test CA."""
    kwargs.setdefault("ssl_context", dovecot.client_ssl_context())
    kwargs.setdefault("timeout", 20)
    return pipeimap.connect(
        "localhost", dovecot.imaps_port, username=user, password=TEST_USERS[user], **kwargs
    )


def unique(prefix: str) -> str:
    """A mailbox name of its own, so that tests stay independent."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def message(i: int, *, body: bytes = b"", subject: str | None = None) -> bytes:
    subject = subject if subject is not None else f"message {i}"
    return (
        f"From: sender{i}@example.org\r\nTo: alice@example.org\r\n"
        f"Subject: {subject}\r\nMessage-ID: <m{i}@example.org>\r\n\r\n"
    ).encode() + (body or f"body of message {i}\r\n".encode())


async def populate(client: Client, mailbox: str, count: int, **kwargs: Any) -> list[int]:
    """Create ``mailbox`` holding ``count`` messages; returns their UIDs."""
    await client.create(mailbox)
    result = await client.append_many(mailbox, [message(i, **kwargs) for i in range(1, count + 1)])
    return [int(u) for u in result.uid_list]


_source_ips = itertools.count(random.randrange(2, 100))


async def transport_from_new_ip(dovecot: DovecotServer) -> Transport:
    """A plain TCP transport to the STARTTLS port from a loopback address of its
    own: Dovecot's authentication penalty (which slows every later login from an
    IP after a failure) then never reaches the rest of the suite."""
    n = next(_source_ips) % 250 + 2
    stream = await anyio.connect_tcp(dovecot.host, dovecot.imap_port, local_host=f"127.0.0.{n}")
    return Transport(stream)
