"""Helpers for the command-line tests against the suite's private Dovecot."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence

import pytest
import trio

import pipeimap
from pipeimap.testing import DovecotServer

from ..conftest import TEST_USERS

USER = "bob"
PASSWORD_ENV = "PIPEIMAP_TEST_BOB_PASSWORD"


# Dovecot's anvil process delays every login from an IP after failed ones (2, 4, 8,
# then 15 s) -- auth_failure_delay = 0 does not turn that off; closing the
# anvil-auth-penalty socket does.  The harness's config does not do it (yet), so
# the wrong-password tests use a Dovecot of their own: their failures must not slow
# down every later test that logs in to the session's server.
NO_AUTH_PENALTY = """
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
"""


@pytest.fixture(scope="module")
def penalty_free_dovecot() -> Iterator[DovecotServer]:
    if os.environ.get("PIPEIMAP_SKIP_DOVECOT") == "1":
        pytest.skip("PIPEIMAP_SKIP_DOVECOT=1")
    with DovecotServer(users=TEST_USERS, extra_config=NO_AUTH_PENALTY) as server:
        yield server


@pytest.fixture
def bob_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(PASSWORD_ENV, TEST_USERS[USER])
    return PASSWORD_ENV


@pytest.fixture
def mailbox_name() -> str:
    return f"cli-{uuid.uuid4().hex[:10]}"


def server_args(server: DovecotServer, *, user: str = USER) -> list[str]:
    """The URL and --ca-file for the fixture server (use with positional DEST after)."""
    return [f"imaps://{user}@localhost:{server.imaps_port}", "--ca-file", str(server.ca_file)]


def fill(server: DovecotServer, mailbox: str, messages: Sequence[bytes]) -> None:
    async def go() -> None:
        with trio.fail_after(60):
            async with pipeimap.connect(
                "localhost", server.imaps_port, username=USER, password=TEST_USERS[USER],
                ssl_context=server.client_ssl_context(),
            ) as client:  # fmt: skip
                await client.create(mailbox)
                await client.append_many(mailbox, messages)

    trio.run(go)


def count(server: DovecotServer, mailbox: str) -> int:
    async def go() -> int:
        with trio.fail_after(60):
            async with pipeimap.connect(
                "localhost", server.imaps_port, username=USER, password=TEST_USERS[USER],
                ssl_context=server.client_ssl_context(),
            ) as client:  # fmt: skip
                status = await client.status(mailbox, ["MESSAGES"])
                return status.messages or 0

    return trio.run(go)


def message(i: int, size: int = 200) -> bytes:
    return (
        (
            f"From: a@example.org\r\nTo: b@example.org\r\nSubject: test {i}\r\n"
            f"Message-ID: <cli-{i}-{uuid.uuid4().hex}@example.org>\r\n\r\n"
        ).encode()
        + b"x" * size
        + b"\r\n"
    )
