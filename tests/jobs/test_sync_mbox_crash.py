"""sync into mbox killed around a rewrite (an expunge in the middle, or flags that
outgrow their block) and run again against the real Dovecot: the mirror holds
exactly the server's messages, byte for byte, each once, and every state row's
key reads back its own message.

The kill is a ``BaseException`` raised from ``os.replace`` when it renames a
rewritten mbox: either instead of the rename (the state transaction has
committed, the rename has not happened) or right after it.  Before the
roll-forward commit the rows were re-keyed only after the rename, so the second
kill left keys pointing at old offsets, and the next run's expunge deleted the
wrong message.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import anyio
import pytest

from pipeimap.jobs import STATE_FILE_NAME, RecordingProgress, ServerSpec, sync
from pipeimap.protocol import Flag
from pipeimap.store import JobState, MboxStore
from pipeimap.testing import DovecotServer

from ._mirror_helpers import (
    TEMP_MARKER,
    TIMEOUT,
    populate,
    records,
    samples,
    server_messages,
    spec_for,
    unique,
)

pytestmark = pytest.mark.trio
When = Literal["instead_of_rename", "after_rename"]
WHENS: tuple[When, ...] = ("instead_of_rename", "after_rename")
# Longer than the keyword room of a block written with the sample flags.
LONG = [Flag(f"$Project-{i}-with-a-rather-long-keyword-name") for i in range(3)]


class Killed(BaseException):
    """Stands in for SIGKILL."""


@contextmanager
def kill_on_mbox_rename(when: When) -> Iterator[list[str]]:
    """Kill the first rename of a rewritten mbox file; yields the renames hit."""
    real = os.replace
    hits: list[str] = []

    def replace(src: Any, dst: Any) -> None:
        if not hits and TEMP_MARKER in os.fspath(src) and os.fspath(dst).endswith(".mbox"):
            hits.append(os.fspath(dst))
            if when == "after_rename":
                real(src, dst)
            raise Killed
        real(src, dst)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "replace", replace)
        yield hits


def _has_killed(exc: BaseException) -> bool:
    """``exc`` is Killed or a (Base)ExceptionGroup holding one (task groups wrap it)."""
    if isinstance(exc, Killed):
        return True
    inner = getattr(exc, "exceptions", None)
    return isinstance(inner, tuple) and any(_has_killed(e) for e in inner)


async def _killed_sync(spec: ServerSpec, dest: Path, box: str, when: When) -> None:
    caught: BaseException | None = None
    with kill_on_mbox_rename(when) as hits:
        try:
            await sync(spec, dest, mailboxes=[box], format="mbox", fsync=False)
        except BaseException as exc:  # the stand-in for SIGKILL, checked below
            caught = exc
    assert hits, "the sync never renamed a rewritten mbox"
    assert caught is not None
    assert _has_killed(caught), caught


def _check_mirror(dest: Path, spec: ServerSpec, box: str, now: dict[int, Any]) -> None:
    store = MboxStore(dest, single_file=False)
    rows = records(dest, spec, box)
    assert sorted(rows) == sorted(now)
    on_disk = list(store.iter_messages(box))
    # Exactly the server's messages, each once, byte for byte.
    assert sorted(store.read(m.key) for m in on_disk) == sorted(b for b, _, _ in now.values())
    assert sorted(m.key for m in on_disk) == sorted(r.key for r in rows.values())
    for uid, (data, flags, _) in now.items():
        assert store.read(rows[uid].key) == data, uid
        assert store.flags_of(rows[uid].key) == flags, uid
        assert rows[uid].flags == flags, uid
    assert not [p for p in dest.rglob("*") if TEMP_MARKER in p.name]
    with JobState(dest / STATE_FILE_NAME) as state:
        markers = state.markers("mbox")
    rel = store.file_name(box)
    assert markers[rel] == (dest / rel).stat().st_size


async def _resync_and_check(spec: ServerSpec, dest: Path, box: str) -> None:
    progress = RecordingProgress()
    report = await sync(spec, dest, mailboxes=[box], format="mbox", fsync=False, progress=progress)
    assert report.ok
    assert not [n for n in progress.notes if n.startswith("recovery:")], progress.notes
    async with spec.connect() as client:
        now = await server_messages(client, box)
    _check_mirror(dest, spec, box, now)


@pytest.mark.parametrize("when", WHENS)
async def test_expunge_rewrite_killed_then_resynced(
    dovecot: DovecotServer, tmp_path: Path, when: When
) -> None:
    spec = spec_for(dovecot, "bob")
    box = unique("mboxkill")
    with anyio.fail_after(TIMEOUT):
        async with spec.connect() as client:
            await populate(client, box, samples(6))
        await sync(spec, tmp_path, mailboxes=[box], format="mbox", fsync=False)
        async with spec.connect() as client:
            await client.select(box)
            await client.add_flags(3, [Flag.DELETED])  # one in the middle
            await client.expunge()
        await _killed_sync(spec, tmp_path, box, when)
        await _resync_and_check(spec, tmp_path, box)


@pytest.mark.parametrize("when", WHENS)
async def test_flags_rewrite_killed_then_resynced(
    dovecot: DovecotServer, tmp_path: Path, when: When
) -> None:
    spec = spec_for(dovecot, "bob")
    box = unique("mboxkillfl")
    with anyio.fail_after(TIMEOUT):
        async with spec.connect() as client:
            await populate(client, box, samples(6))
        await sync(spec, tmp_path, mailboxes=[box], format="mbox", fsync=False)
        async with spec.connect() as client:
            await client.select(box)
            await client.add_flags(2, LONG)  # no longer fits: the file is rewritten
        await _killed_sync(spec, tmp_path, box, when)
        await _resync_and_check(spec, tmp_path, box)
        async with spec.connect() as client:
            now = await server_messages(client, box)
        assert set(LONG) <= now[2][1]  # the change really was the one tested


@pytest.mark.parametrize("when", WHENS)
async def test_uidvalidity_orphans_rewrite_killed_then_resynced(
    dovecot: DovecotServer, tmp_path: Path, when: When
) -> None:
    """A UIDVALIDITY change: the old messages are moved aside (delivered to the
    attic mailbox, then removed from the mailbox's mbox by a rewrite); a kill at
    that rewrite, then a normal run: the mirror holds the new messages, the
    attic each old message exactly once."""
    spec = spec_for(dovecot, "bob")
    box = unique("mboxkilluv")
    with anyio.fail_after(TIMEOUT):
        async with spec.connect() as client:
            await populate(client, box, samples(5))
            old = await server_messages(client, box)
        await sync(spec, tmp_path, mailboxes=[box], format="mbox", fsync=False)
        async with spec.connect() as client:
            before = (await client.status(box)).uidvalidity
            await client.delete(box)
            await populate(client, box, samples(3))
            assert (await client.status(box)).uidvalidity != before
        await _killed_sync(spec, tmp_path, box, when)
        await _resync_and_check(spec, tmp_path, box)
    store = MboxStore(tmp_path, single_file=False)
    attic = [store.read(m.key) for m in store.iter_messages(f"pipeimap-replaced/{box}")]
    assert sorted(attic) == sorted(b for b, _, _ in old.values())
