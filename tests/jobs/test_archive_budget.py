"""archive() of a mailbox whose chunks are larger than the body stream's byte
budget: the reader pauses for the job, which must never wait for another
command's answer meanwhile (it used to deadlock)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import anyio
import pytest

from pipeimap.jobs import _jobcommon, archive
from pipeimap.protocol import AppendMessage, Flag
from pipeimap.testing import DovecotServer

from ._mirror_helpers import (
    BASE_DATE,
    FLAG_CYCLE,
    open_store,
    populate,
    records,
    sample,
    server_messages,
    spec_for,
    unique,
)

pytestmark = pytest.mark.anyio

_COUNT = 120
_SIZE = 20_000


async def test_archive_chunks_larger_than_the_stream_budget(
    dovecot: DovecotServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each chunk of 30 x 20 kB is ~5x the budget, so the reader pauses inside
    # every chunk (with the default 4 MiB budget it takes 3000 such messages).
    monkeypatch.setattr(_jobcommon, "_STREAM_BUDGET", 128 * 1024)
    spec = spec_for(dovecot, "alice")
    box = unique("budget")
    messages = [
        AppendMessage(
            sample(i, size=_SIZE),
            tuple(Flag(f) for f in FLAG_CYCLE[i % len(FLAG_CYCLE)]),
            BASE_DATE + timedelta(days=i),
        )
        for i in range(_COUNT)
    ]
    async with spec.connect() as client:
        await populate(client, box, messages)
        before = await server_messages(client, box)
    with anyio.fail_after(20):
        report = await archive(spec, tmp_path, mailboxes=[box], chunk=30, fsync=False)
    assert report.ok
    assert report.downloaded == _COUNT
    assert report.bytes == sum(len(b) for b, _, _ in before.values())
    store = open_store("maildir", tmp_path)
    rows = records(tmp_path, spec, box)
    assert sorted(rows) == sorted(before)
    for uid, (body, flags, date) in before.items():
        row = rows[uid]
        assert store.read(row.key) == body, f"UID {uid} differs"
        assert row.flags == flags
        assert row.internaldate == date
