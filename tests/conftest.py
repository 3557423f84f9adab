"""Shared fixtures: a private Dovecot started by the suite itself (loopback, temp dir)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from pipeimap.testing import DovecotNotInstalledError, DovecotServer

TEST_USERS = {"alice": "alice-Pa55 w0rd", "bob": "bob-password"}


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """A private Dovecot for the whole session.

    Dovecot is installed by ``scripts/bootstrap``; a missing server is an error, not a
    skip, so that a CI run can never pass without the real-server tests.  Set
    ``PIPEIMAP_SKIP_DOVECOT=1`` to skip them deliberately on a machine without Dovecot.
    """
    if os.environ.get("PIPEIMAP_SKIP_DOVECOT") == "1":
        pytest.skip("PIPEIMAP_SKIP_DOVECOT=1")
    try:
        server = DovecotServer(users=TEST_USERS)
        server.start()
    except DovecotNotInstalledError as exc:
        pytest.fail(f"{exc} (or set PIPEIMAP_SKIP_DOVECOT=1 to skip real-server tests)")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(
    params=[
        pytest.param("trio", id="trio"),
        pytest.param("asyncio", id="asyncio"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Client tests marked ``@pytest.mark.anyio`` run on Trio (the default backend) and on asyncio."""
    return str(request.param)
