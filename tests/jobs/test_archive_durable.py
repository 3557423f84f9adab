"""archive() with ``fsync=True`` (the default): the group commit of a batch keeps
the durability order -- a file's data fsynced before its rename, every rename of
a batch before the directory fsync, and that before the batch's state rows --
also when a commit fails; and the byte bound between network and disk.

The order is watched by wrapping ``os.fsync`` and ``os.rename`` (the file a
descriptor names is read from ``/proc/self/fd``, so these tests need Linux)."""

from __future__ import annotations

import errno
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import pytest

from pipeimap.jobs import Format, _jobcommon, archive
from pipeimap.testing import DovecotServer

from ._mirror_helpers import (
    TEMP_MARKER,
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

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd"),
]


@dataclass
class _Watch:
    """What the store did, in order: ("fsync", path, thread), ("rename", src, dst),
    ("record",) (the hook run after ``store.flush()``, before the rows commit)."""

    root: Path
    fail_fsync_at: int = 0  # the n-th fsync of a message file raises EIO (0: never)
    events: list[tuple[str, ...]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    file_fsyncs: int = 0

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real_fsync, real_rename, real_link = os.fsync, os.rename, os.link
        root = os.path.realpath(self.root)  # what /proc/self/fd shows

        def fsync(fd: int) -> None:
            path = os.readlink(f"/proc/self/fd/{fd}")
            if path.startswith(root):
                with self.lock:
                    if TEMP_MARKER in path:
                        self.file_fsyncs += 1
                        if self.file_fsyncs == self.fail_fsync_at:
                            raise OSError(errno.EIO, "simulated I/O error", path)
                    self.events.append(("fsync", path, threading.current_thread().name))
            real_fsync(fd)

        def rename(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
            real_rename(src, dst)
            with self.lock:
                self.events.append(("rename", os.fspath(src), os.fspath(dst)))

        def link(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
            real_link(src, dst)  # .eml: the temp file is linked into place
            with self.lock:
                self.events.append(("rename", os.fspath(src), os.fspath(dst)))

        def record() -> None:
            with self.lock:
                self.events.append(("record",))

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "rename", rename)
        monkeypatch.setattr(os, "link", link)
        monkeypatch.setattr(_jobcommon, "_before_record_hook", record)

    def check_order(self) -> int:
        """Assert the durability order; returns how many files were renamed into place."""
        fsynced: set[str] = set()
        renamed_dirs: set[str] = set()  # directories renamed into since their last fsync
        renamed = 0
        for event in self.events:
            if event[0] == "fsync":
                fsynced.add(event[1])
                renamed_dirs.discard(event[1])
            elif event[0] == "rename" and TEMP_MARKER in event[1]:
                assert event[1] in fsynced, f"renamed before its data was fsynced: {event[1]}"
                renamed_dirs.add(os.path.dirname(event[2]))
                renamed += 1
            elif event[0] == "record":
                assert not renamed_dirs, f"rows recorded before a directory fsync: {renamed_dirs}"
        return renamed


@pytest.mark.parametrize("fmt", ["maildir", "eml"])
async def test_group_commit_keeps_the_durability_order(
    dovecot: DovecotServer, tmp_path: Path, fmt: Format, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = spec_for(dovecot, "alice")
    box = unique("durable")
    async with spec.connect() as client:
        await populate(client, box, samples(40, big=(7,)))
        originals = await server_messages(client, box)
    watch = _Watch(tmp_path)
    watch.install(monkeypatch)
    with anyio.fail_after(TIMEOUT):
        report = await archive(spec, tmp_path, mailboxes=[box], format=fmt, chunk=12)
    monkeypatch.undo()
    assert report.ok
    assert report.downloaded == 40
    assert watch.check_order() == 40
    # the files' fsyncs ran on the commit threads (concurrently), not one by one
    threads = {e[2] for e in watch.events if e[0] == "fsync" and TEMP_MARKER in e[1]}
    assert threads
    assert all(t.startswith("pipeimap-commit") for t in threads)
    assert len([e for e in watch.events if e[0] == "fsync" and TEMP_MARKER in e[1]]) == 40
    assert sorted(records(tmp_path, spec, box)) == sorted(originals)
    assert temp_files(tmp_path) == []


@pytest.mark.parametrize("fmt", ["maildir", "eml"])
async def test_a_failed_commit_records_only_durable_files_and_resumes(
    dovecot: DovecotServer, tmp_path: Path, fmt: Format, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = spec_for(dovecot, "bob")
    box = unique("eio")
    async with spec.connect() as client:
        await populate(client, box, samples(30))
        originals = await server_messages(client, box)
    watch = _Watch(tmp_path, fail_fsync_at=9)
    watch.install(monkeypatch)
    with anyio.fail_after(TIMEOUT):
        with pytest.raises(OSError, match="simulated I/O error"):
            await archive(spec, tmp_path, mailboxes=[box], format=fmt, chunk=10)
    monkeypatch.undo()
    watch.check_order()
    rows = records(tmp_path, spec, box)
    assert 0 < len(rows) < 30
    store = open_store(fmt, tmp_path)
    keys = set(stored_keys(store, box))
    assert {r.key for r in rows.values()} <= keys  # every row names a file on disk
    assert temp_files(tmp_path) == []  # the failed message's temp file is gone
    with anyio.fail_after(TIMEOUT):
        report = await archive(spec, tmp_path, mailboxes=[box], format=fmt)
    assert report.ok
    assert report.skipped == len(rows)
    assert report.downloaded == 30 - len(rows)
    keys_after = stored_keys(open_store(fmt, tmp_path), box)
    assert len(keys_after) == len(set(keys_after)) == 30
    bodies = sorted(open_store(fmt, tmp_path).read(k) for k in keys_after)
    assert bodies == sorted(b for b, _, _ in originals.values())


async def test_queued_bytes_stay_within_the_bound(
    dovecot: DovecotServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A small bound and messages of ~50 kB: without it, 64 queued pieces would
    # hold ~3 MB; with it, the queue holds the bound plus at most one piece.
    limit = 120_000
    monkeypatch.setattr(_jobcommon, "_QUEUE_BYTES", limit)
    highest = [0]
    largest = [0]
    real_enter = _jobcommon._ByteGate.enter

    async def enter(self: _jobcommon._ByteGate, nbytes: int) -> None:
        await real_enter(self, nbytes)
        highest[0] = max(highest[0], self.queued)
        largest[0] = max(largest[0], nbytes)

    monkeypatch.setattr(_jobcommon._ByteGate, "enter", enter)
    spec = spec_for(dovecot, "alice")
    box = unique("gate")
    async with spec.connect() as client:
        await populate(client, box, samples(60, big=(20,)))
    with anyio.fail_after(TIMEOUT):
        report = await archive(spec, tmp_path, mailboxes=[box], chunk=25, fsync=False)
    assert report.ok
    assert report.downloaded == 60
    assert highest[0] > 0
    assert highest[0] <= limit + largest[0]
    assert highest[0] < 3 * limit  # the 600 kB message went through in pieces
