"""sync() against the real Dovecot: new mail, flag changes both ways, expunges and a
UIDVALIDITY change, with each way of finding changes (QRESYNC, CONDSTORE, full)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import pytest

from pipeimap import Client
from pipeimap.jobs import Format, ServerSpec, SyncMode, archive, sync
from pipeimap.jobs._sync import merge_flags
from pipeimap.protocol import Flag
from pipeimap.store import LocalKey, MaildirStore, MboxStore, info_from_flags
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
    unique,
)

pytestmark = pytest.mark.anyio
MODES = ["qresync", "condstore", "full"]
S, F, A = Flag("\\Seen"), Flag("\\Flagged"), Flag("\\Answered")


def _client_renames(dest: Path, key: LocalKey, flags: set[Flag]) -> None:
    """What a mail client does to change flags: rename the file's ``:2,`` info."""
    store = MaildirStore(dest)
    path = store.path_of(key)
    stem = path.name.split(":2,")[0]
    os.rename(path, path.parent / f"{stem}:2,{info_from_flags(flags)}")


async def _flags_on_server(client: Client, box: str) -> dict[int, frozenset[Flag]]:
    return {uid: flags for uid, (_, flags, _) in (await server_messages(client, box)).items()}


def _assert_mirror(dest: Path, spec: ServerSpec, box: str, originals: dict[int, Any]) -> None:
    store = MaildirStore(dest)
    rows = records(dest, spec, box)
    assert sorted(rows) == sorted(originals)
    assert len(stored_keys(store, box)) == len(originals)
    for uid, (body, flags, _) in originals.items():
        assert store.read(rows[uid].key) == body
        assert rows[uid].flags == flags
        assert store.flags_of(rows[uid].key) == store.representable(flags)


@pytest.mark.parametrize("mode", MODES)
async def test_sync_new_mail_flags_both_ways_and_expunges(
    dovecot: DovecotServer, tmp_path: Path, mode: SyncMode
) -> None:
    spec = spec_for(dovecot, "alice")
    box = unique(f"sync-{mode}")
    with anyio.fail_after(TIMEOUT):
        async with spec.connect() as client:
            await populate(client, box, [m for m in samples(10) if True])
            await client.select(box)
            await client.set_flags(range(1, 11), [])  # a clean start: no flags anywhere
            await client.unselect()
        first = await sync(spec, tmp_path, mailboxes=[box], mode=mode, fsync=False)
        assert first.mailboxes[0].mode == "initial"
        assert first.downloaded == 10
        assert first.ok
        rows = records(tmp_path, spec, box)

        async with spec.connect() as client:  # another client changes the server
            await client.select(box)
            await client.add_flags(1, [S])
            await client.add_flags(2, [F])
            await client.add_flags(7, [A])
            await client.add_flags([3, 4], [Flag.DELETED])
            await client.expunge()
            await client.append_many(box, [m.data for m in samples(3)])
        _client_renames(tmp_path, rows[5].key, {F})  # the local mail client flags 5
        _client_renames(tmp_path, rows[6].key, {S})
        _client_renames(tmp_path, rows[7].key, {F})  # 7 changed on both sides

        report = await sync(spec, tmp_path, mailboxes=[box], mode=mode, fsync=False)
        async with spec.connect() as client:
            now = await server_messages(client, box)
    (m,) = report.mailboxes
    assert m.mode == mode
    assert (m.downloaded, m.removed) == (3, 2)
    assert m.flags_from_server == 3  # 1, 2, 7
    assert m.flags_to_server == 3  # 5, 6, 7
    assert m.both_changed == 1
    assert m.push_deferred == 0
    assert report.ok
    flags = {uid: f for uid, (_, f, _) in now.items()}
    assert flags[1] == {S}
    assert flags[2] == {F}
    assert flags[5] == {F}
    assert flags[6] == {S}
    assert flags[7] == {A, F}  # merged per flag: nothing lost
    assert 3 not in flags
    assert 4 not in flags
    assert len(flags) == 11
    _assert_mirror(tmp_path, spec, box, now)

    with anyio.fail_after(TIMEOUT):  # nothing changed: nothing to do
        quiet = await sync(spec, tmp_path, mailboxes=[box], mode=mode, fsync=False)
    (q,) = quiet.mailboxes
    assert (q.downloaded, q.removed, q.flags_from_server, q.flags_to_server) == (0, 0, 0, 0)
    _assert_mirror(tmp_path, spec, box, now)


async def test_sync_auto_after_archive_uses_qresync(dovecot: DovecotServer, tmp_path: Path) -> None:
    spec = spec_for(dovecot, "bob")
    box = unique("auto")
    with anyio.fail_after(TIMEOUT):
        async with spec.connect() as client:
            await populate(client, box, samples(5))
        await archive(spec, tmp_path, mailboxes=[box], fsync=False)  # the first run
        async with spec.connect() as client:
            await client.select(box)
            await client.add_flags(2, [F])
            await client.append_many(box, [samples(1)[0].data])
        report = await sync(spec, tmp_path, mailboxes=[box], fsync=False)
        async with spec.connect() as client:
            now = await server_messages(client, box)
    (m,) = report.mailboxes
    assert (m.mode, m.downloaded, m.flags_from_server) == ("qresync", 1, 1)
    _assert_mirror(tmp_path, spec, box, now)


async def test_sync_push_flags_false_lets_the_server_win(
    dovecot: DovecotServer, tmp_path: Path
) -> None:
    spec = spec_for(dovecot, "bob")
    box = unique("nopush")
    with anyio.fail_after(TIMEOUT):
        async with spec.connect() as client:
            await populate(client, box, samples(3))
            before = await _flags_on_server(client, box)
        await sync(spec, tmp_path, mailboxes=[box], fsync=False)
        rows = records(tmp_path, spec, box)
        _client_renames(tmp_path, rows[1].key, {F, S})
        report = await sync(spec, tmp_path, mailboxes=[box], push_flags=False, fsync=False)
        async with spec.connect() as client:
            now = await server_messages(client, box)
    assert report.flags_to_server == 0
    assert {u: f for u, (_, f, _) in now.items()} == before
    _assert_mirror(tmp_path, spec, box, now)  # the local edit was reverted


async def test_sync_keep_expunged(dovecot: DovecotServer, tmp_path: Path) -> None:
    spec = spec_for(dovecot, "bob")
    box = unique("keep")
    with anyio.fail_after(TIMEOUT):
        async with spec.connect() as client:
            await populate(client, box, samples(4))
        await sync(spec, tmp_path, mailboxes=[box], fsync=False)
        async with spec.connect() as client:
            await client.select(box)
            await client.add_flags(2, [Flag.DELETED])
            await client.expunge()
        report = await sync(spec, tmp_path, mailboxes=[box], keep_expunged=True, fsync=False)
    assert report.removed == 1
    assert report.ok
    assert sorted(records(tmp_path, spec, box)) == [1, 3, 4]
    assert len(stored_keys(MaildirStore(tmp_path), box)) == 4  # the file stays


@pytest.mark.parametrize("fmt", ["maildir", "mbox", "eml"])
async def test_sync_uidvalidity_change_resyncs_cleanly(
    dovecot: DovecotServer, tmp_path: Path, fmt: Format
) -> None:
    spec = spec_for(dovecot, "alice")
    box = unique("uvsync")
    with anyio.fail_after(TIMEOUT):
        async with spec.connect() as client:
            await populate(client, box, samples(5))
            old = await server_messages(client, box)
        await sync(spec, tmp_path, mailboxes=[box], format=fmt, fsync=False)
        async with spec.connect() as client:
            before = (await client.status(box)).uidvalidity
            await client.delete(box)
            await populate(client, box, samples(3))
            assert (await client.status(box)).uidvalidity != before
            new = await server_messages(client, box)
        report = await sync(spec, tmp_path, mailboxes=[box], format=fmt, fsync=False)
    (m,) = report.mailboxes
    assert m.reset
    assert m.mode == "initial"
    assert m.replaced == 5
    assert m.downloaded == 3
    store = open_store(fmt, tmp_path)
    rows = records(tmp_path, spec, box)
    assert sorted(rows) == sorted(new)
    keys = stored_keys(store, box)
    assert sorted(store.read(k) for k in keys) == sorted(b for b, _, _ in new.values())
    attic = stored_keys(store, f"pipeimap-replaced/{box}")
    assert sorted(store.read(k) for k in attic) == sorted(b for b, _, _ in old.values())


async def test_sync_mbox_expunge_and_flags(dovecot: DovecotServer, tmp_path: Path) -> None:
    """mbox: an expunge rewrites the file, so the keys of later messages move."""
    spec = spec_for(dovecot, "bob")
    box = unique("mboxsync")
    with anyio.fail_after(TIMEOUT):
        async with spec.connect() as client:
            await populate(client, box, samples(6))
        await sync(spec, tmp_path, mailboxes=[box], format="mbox", fsync=False)
        async with spec.connect() as client:
            await client.select(box)
            await client.add_flags(2, [Flag.DELETED])
            await client.expunge()
            await client.add_flags(5, [F, Flag("$Work")])
        report = await sync(spec, tmp_path, mailboxes=[box], format="mbox", fsync=False)
        async with spec.connect() as client:
            now = await server_messages(client, box)
    assert report.removed == 1
    assert report.flags_from_server == 1
    assert report.ok
    store = MboxStore(tmp_path, single_file=False)
    rows = records(tmp_path, spec, box)
    assert sorted(rows) == sorted(now)
    for uid, (body, flags, _) in now.items():
        assert store.read(rows[uid].key) == body
        assert store.flags_of(rows[uid].key) == flags


def test_merge_flags_per_flag_three_way() -> None:
    universe = frozenset({S, F, A})
    kw = Flag("$Work")
    # Only the server changed: server wins; only local changed: local wins.
    assert merge_flags(frozenset(), frozenset({S}), frozenset(), universe) == {S}
    assert merge_flags(frozenset(), frozenset(), frozenset({F}), universe) == {F}
    # Both changed different flags: both kept.
    assert merge_flags(frozenset({S}), frozenset({S, A}), frozenset(), universe) == {A}
    # Keywords the store cannot carry always follow the server.
    assert merge_flags(frozenset({kw}), frozenset(), frozenset(), universe) == frozenset()
    assert merge_flags(frozenset(), frozenset({kw}), frozenset({F}), universe) == {kw, F}
