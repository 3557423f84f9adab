"""archive() against the real Dovecot: byte-for-byte copies with flags and dates in
every format, the whole account, resuming after a kill, and a UIDVALIDITY change."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from pipeimap import Client
from pipeimap.jobs import Format, RecordingProgress, _jobcommon, archive
from pipeimap.store import MaildirStore, MboxStore
from pipeimap.testing import DovecotServer

from ._mirror_helpers import (
    TIMEOUT,
    open_store,
    populate,
    records,
    samples,
    server_messages,
    spec_for,
    stored_keys,
    temp_files,
    unique,
)

pytestmark = pytest.mark.anyio
FORMATS = ["maildir", "mbox", "eml"]


def _check_copy(
    fmt: Format, dest: Path, spec: Any, mailbox: str, originals: dict[int, Any]
) -> None:
    """Every server message is stored once, byte for byte, with its flags and date."""
    store = open_store(fmt, dest)
    rows = records(dest, spec, mailbox)
    assert sorted(rows) == sorted(originals)
    listed = {m.key: m for m in store.iter_messages(mailbox)}
    assert len(listed) == len(originals)
    for uid, (body, flags, date) in originals.items():
        row = rows[uid]
        assert store.read(row.key) == body, f"UID {uid} differs"
        assert row.flags == flags
        assert store.flags_of(row.key) == store.representable(flags)
        assert row.internaldate is not None
        assert row.internaldate == date
        assert int(listed[row.key].internaldate.timestamp()) == int(date.timestamp())  # type: ignore[union-attr]
    assert temp_files(dest) == []


@pytest.mark.parametrize("fmt", FORMATS)
async def test_archive_copies_every_message_byte_for_byte(
    dovecot: DovecotServer, tmp_path: Path, fmt: Format
) -> None:
    spec = spec_for(dovecot, "alice")
    box = unique("arch")
    with anyio.fail_after(TIMEOUT):
        async with spec.connect() as client:
            await populate(client, box, samples(40, big=(3, 17)))
            before = await server_messages(client, box)
        progress = RecordingProgress()
        report = await archive(
            spec, tmp_path, mailboxes=[box], format=fmt, chunk=16, progress=progress, fsync=False
        )
        async with spec.connect() as client:
            after = await server_messages(client, box)
    assert after == before  # read-only: not even \Seen changed
    assert report.ok
    assert report.downloaded == 40
    assert report.skipped == 0
    assert report.bytes == sum(len(b) for b, _, _ in before.values())
    (mbox_report,) = report.mailboxes
    assert mbox_report.verification is not None
    assert mbox_report.verification.present == 40
    assert progress.messages == 40
    _check_copy(fmt, tmp_path, spec, box, before)

    with anyio.fail_after(TIMEOUT):
        again = await archive(spec, tmp_path, mailboxes=[box], format=fmt, fsync=False)
    assert (again.downloaded, again.skipped, again.ok) == (0, 40, True)
    _check_copy(fmt, tmp_path, spec, box, before)


@pytest.fixture
def carol_server() -> Iterator[DovecotServer]:
    """A server of its own: a whole-account archive must see only this test's mail."""
    with DovecotServer(users={"carol": "carol-password"}) as server:
        yield server


async def test_archive_whole_account(carol_server: DovecotServer, tmp_path: Path) -> None:
    spec = spec_for(carol_server, "carol", "carol-password")
    with anyio.fail_after(TIMEOUT):
        async with spec.connect() as client:
            await client.append_many("INBOX", samples(5))
            await client.append_many("Sent", samples(3))
            await populate(client, "Projects/2024", samples(4))
            expected = {
                name: await server_messages(client, name)
                for name in ("INBOX", "Sent", "Projects/2024")
            }
            infos = {i.name: i for i in await client.list()}
        report = await archive(spec, tmp_path, connections=2, fsync=False)
    names = {m.mailbox for m in report.mailboxes}
    assert {"INBOX", "Sent", "Projects/2024", "Drafts", "Trash", "Junk", "Archive"} <= names
    if "Projects" in infos and not infos["Projects"].selectable:
        assert ("Projects", "not selectable (\\Noselect)") in report.skipped_mailboxes
    assert report.ok
    assert report.downloaded == 12
    for name, originals in expected.items():
        _check_copy("maildir", tmp_path, spec, name, originals)
    store = MaildirStore(tmp_path)
    assert {"INBOX", "Sent", "Projects/2024"} <= set(store.mailboxes())


class _CancelAfter(RecordingProgress):
    """Cancels the run once ``limit`` messages were stored: a kill mid-way."""

    def __init__(self, scope: anyio.CancelScope, limit: int) -> None:
        super().__init__()
        self.scope = scope
        self.limit = limit

    def advance(self, *, messages: int = 0, bytes: int = 0) -> None:
        super().advance(messages=messages, bytes=bytes)
        if self.messages >= self.limit:
            self.scope.cancel()


def _exactly_once(fmt: Format, dest: Path, spec: Any, box: str, originals: dict[int, Any]) -> None:
    store = open_store(fmt, dest)
    keys = stored_keys(store, box)
    assert len(keys) == len(set(keys)) == len(originals)
    bodies = sorted(store.read(k) for k in keys)
    assert bodies == sorted(b for b, _, _ in originals.values())
    assert temp_files(dest) == []
    _check_copy(fmt, dest, spec, box, originals)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_archive_resumes_after_cancel(
    dovecot: DovecotServer, tmp_path: Path, fmt: Format
) -> None:
    spec = spec_for(dovecot, "bob")
    box = unique("resume")
    with anyio.fail_after(TIMEOUT):
        async with spec.connect() as client:
            await populate(client, box, samples(120, big=(50,)))
            originals = await server_messages(client, box)
        with anyio.CancelScope() as scope:
            await archive(
                spec,
                tmp_path,
                mailboxes=[box],
                format=fmt,
                chunk=10,
                progress=_CancelAfter(scope, 30),
                fsync=False,
            )
        assert scope.cancelled_caught
        done_first = len(records(tmp_path, spec, box))
        assert 30 <= done_first < 120
        report = await archive(spec, tmp_path, mailboxes=[box], format=fmt, fsync=False)
    assert report.ok
    assert report.skipped == done_first
    assert report.downloaded == 120 - done_first
    _exactly_once(fmt, tmp_path, spec, box, originals)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_archive_resumes_after_crash_between_commit_and_record(
    dovecot: DovecotServer, tmp_path: Path, fmt: Format, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = spec_for(dovecot, "bob")
    box = unique("crash")
    calls = 0

    def crash() -> None:
        nonlocal calls
        calls += 1
        if calls == 3:  # files of this batch are committed, their rows are not
            raise RuntimeError("simulated crash")

    with anyio.fail_after(TIMEOUT):
        async with spec.connect() as client:
            await populate(client, box, samples(60))
            originals = await server_messages(client, box)
        monkeypatch.setattr(_jobcommon, "_before_record_hook", crash)
        with pytest.raises(RuntimeError, match="simulated crash"):
            await archive(spec, tmp_path, mailboxes=[box], format=fmt, chunk=5, fsync=False)
        monkeypatch.setattr(_jobcommon, "_before_record_hook", None)
        recorded = len(records(tmp_path, spec, box))
        on_disk = len(stored_keys(open_store(fmt, tmp_path), box))
        assert on_disk > recorded  # the crash left committed but unrecorded messages
        report = await archive(spec, tmp_path, mailboxes=[box], format=fmt, fsync=False)
    assert report.ok
    assert report.skipped == recorded
    _exactly_once(fmt, tmp_path, spec, box, originals)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_archive_uidvalidity_change_moves_old_messages_aside(
    dovecot: DovecotServer, tmp_path: Path, fmt: Format
) -> None:
    spec = spec_for(dovecot, "alice")
    box = unique("uv")
    with anyio.fail_after(TIMEOUT):
        async with spec.connect() as client:
            await populate(client, box, samples(6))
            old = await server_messages(client, box)
        first = await archive(spec, tmp_path, mailboxes=[box], format=fmt, fsync=False)
        async with spec.connect() as client:
            await _recreate(client, box, 4)
            new = await server_messages(client, box)
        second = await archive(spec, tmp_path, mailboxes=[box], format=fmt, fsync=False)
    (m1,), (m2,) = first.mailboxes, second.mailboxes
    assert m2.uidvalidity != m1.uidvalidity
    assert m2.reset
    assert m2.replaced == 6
    assert m2.downloaded == 4
    assert m2.skipped == 0
    _check_copy(fmt, tmp_path, spec, box, new)  # only the new UIDVALIDITY's messages
    store = open_store(fmt, tmp_path)
    attic = [store.read(k) for k in stored_keys(store, f"pipeimap-replaced/{box}")]
    assert sorted(attic) == sorted(b for b, _, _ in old.values())
    if isinstance(store, MboxStore):
        assert store.mailboxes().count(box) == 1


async def _recreate(client: Client, box: str, count: int) -> None:
    before = (await client.status(box)).uidvalidity
    await client.delete(box)
    await populate(client, box, samples(count))
    assert (await client.status(box)).uidvalidity != before
