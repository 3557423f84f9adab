"""Fixtures for the store tests: each store kind in a fresh temp dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeimap.store import EmlStore, MaildirStore, MboxStore
from pipeimap.store._common import MessageStore

KINDS = ["maildir", "mbox", "eml"]


def make_store(kind: str, root: Path) -> MessageStore:
    if kind == "maildir":
        return MaildirStore(root / "Maildir")
    if kind == "mbox":
        return MboxStore(root / "mbox")
    return EmlStore(root / "eml")


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> MessageStore:
    return make_store(str(request.param), tmp_path)
