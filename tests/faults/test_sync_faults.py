"""``sync`` under fault injection: cuts during first runs, and during
incremental runs (QRESYNC, CONDSTORE and full comparison) that have server-side
new messages, flag changes and expunges to fetch and local flag changes to
push.  Each run ends in success or a clean pipeimap error; after a clean
resume the server holds exactly the merged flags a fault-free run gives, and
the local Maildir mirrors the server byte for byte, with no half-written file."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from pipeimap import Client
from pipeimap.jobs import ServerSpec, SyncMode, SyncReport, sync
from pipeimap.protocol import UID, AppendMessage, Flag, UIDSet
from pipeimap.store import MaildirStore, info_from_flags
from pipeimap.testing import DovecotServer
from pipeimap.testing.faultproxy import FaultProxy
from tests.jobs._mirror_helpers import populate, records, sample, server_messages, unique

from ._harness import (
    CUTS,
    FAST,
    SCALE,
    Tally,
    check_clean,
    check_store,
    direct,
    faulted,
    measure,
    plan_cuts,
    split_for_backend,
    via,
)
from ._mailbox import messages

pytestmark = pytest.mark.anyio
USER = "bob"
S, F, A = Flag("\\Seen"), Flag("\\Flagged"), Flag("\\Answered")
MODES: tuple[SyncMode, ...] = ("qresync", "condstore", "full")


async def _run(spec: ServerSpec, dest: Path, box: str, mode: SyncMode = "auto") -> SyncReport:
    return await sync(
        spec, dest, mailboxes=[box], mode=mode, chunk=5, connections=1, retry=FAST, fsync=False
    )


def _local_flags(dest: Path, spec: ServerSpec, box: str, uid: int, flags: set[Flag]) -> None:
    """What a mail client does to change flags: rename the file's ``:2,`` info."""
    store = MaildirStore(dest)
    path = store.path_of(records(dest, spec, box)[uid].key)
    stem = path.name.split(":2,")[0]
    os.rename(path, path.parent / f"{stem}:2,{info_from_flags(flags)}")


async def _set_server_flags(client: Client, box: str, flags: dict[int, frozenset[Flag]]) -> None:
    await client.select(box)
    groups: dict[frozenset[Flag], list[UID]] = {}
    for uid, f in flags.items():
        groups.setdefault(f, []).append(UID(uid))
    for f, uids in groups.items():
        await client.store(UIDSet(*sorted(uids)), sorted(f), action="set")
    await client.unselect()


def _flags(msgs: dict[int, Any]) -> dict[int, frozenset[Flag]]:
    return {uid: f for uid, (_, f, _) in msgs.items()}


async def test_sync_first_run_survives_cuts(
    dovecot: DovecotServer, tmp_path: Path, anyio_backend: str
) -> None:
    box = unique("faults-sync1")
    async with direct(dovecot, USER).connect() as client:
        await populate(client, box, messages())
        server = await server_messages(client, box)
    proxy = FaultProxy("127.0.0.1", dovecot.imap_port)
    tally = Tally()
    async with proxy.running():
        spec = via(proxy, USER)
        clean = tmp_path / "clean"
        stats = await measure(proxy, lambda: _run(spec, clean, box))
        check_store("maildir", clean, box, records(clean, spec, box), server, "clean")
        cuts = plan_cuts(stats, CUTS * 2 // 5, seed=2000)
        for i, cut in enumerate(split_for_backend(cuts, anyio_backend)):
            context = f"first sync cut {i}: {cut.describe()}"
            dest = tmp_path / f"s-{i}"
            faulty = via(proxy, USER, timeout=cut.timeout)
            outcome = await faulted(proxy, cut, lambda: _run(faulty, dest, box), tally)  # noqa: B023
            if isinstance(outcome, SyncReport):
                assert outcome.ok, context
            check_clean("maildir", dest, context)
            assert (await _run(spec, dest, box)).ok, context
            check_store("maildir", dest, box, records(dest, spec, box), server, context)
            shutil.rmtree(dest)
    tally.check("sync (first runs)")


async def test_sync_incremental_survives_cuts(
    dovecot: DovecotServer, tmp_path: Path, anyio_backend: str
) -> None:
    box = unique("faults-sync2")
    proxy = FaultProxy("127.0.0.1", dovecot.imap_port)
    tally = Tally()
    async with proxy.running():
        spec = via(proxy, USER)
        template = tmp_path / "template"
        async with direct(dovecot, USER).connect() as client:
            await populate(client, box, messages())
            await _set_server_flags(client, box, {u: frozenset() for u in range(1, 18 * SCALE + 1)})
        assert (await _run(spec, template, box)).ok
        # Another client changes the server: flags, expunges, new mail (one big).
        async with direct(dovecot, USER).connect() as client:
            await client.select(box)
            await client.add_flags(UIDSet(UID(1)), [S])
            await client.add_flags(UIDSet(UID(2), UID(12)), [F])
            await client.add_flags(UIDSet(UID(7)), [A])
            await client.add_flags(UIDSet(UID(3), UID(10), UID(16)), [Flag.DELETED])
            await client.expunge()
            new = [*messages(4, start=40), AppendMessage(sample(50, size=300_000))]
            await client.append_many(box, new)
            await client.unselect()
            changed = _flags(await server_messages(client, box))
        # The local mail client changes flags too (7 on both sides).
        for uid, flags in ((5, {F}), (6, {S}), (7, {F}), (11, {S, A})):
            _local_flags(template, spec, box, uid, flags)

        async def fresh_copy(dest: Path) -> None:
            async with direct(dovecot, USER).connect() as client:
                await _set_server_flags(client, box, changed)
            shutil.copytree(template, dest)

        share = [CUTS * 3 // 5 // len(MODES)] * len(MODES)
        share[0] += CUTS * 3 // 5 - sum(share)
        for n, mode in enumerate(MODES):
            clean = tmp_path / f"clean-{mode}"
            await fresh_copy(clean)
            stats = await measure(proxy, lambda: _run(spec, clean, box, mode))  # noqa: B023
            async with direct(dovecot, USER).connect() as client:
                final = await server_messages(client, box)
            assert final[7][1] == {A, F}  # merged per flag
            assert final[11][1] == {S, A}
            assert final[1][1] == {S}
            check_store("maildir", clean, box, records(clean, spec, box), final, f"clean {mode}")
            cuts = plan_cuts(stats, share[n], seed=3000 + n)
            for i, cut in enumerate(split_for_backend(cuts, anyio_backend)):
                context = f"incremental {mode} cut {i}: {cut.describe()}"
                dest = tmp_path / f"{mode}-{i}"
                await fresh_copy(dest)
                faulty = via(proxy, USER, timeout=cut.timeout)
                run = lambda: _run(faulty, dest, box, mode)  # noqa: B023, E731
                outcome = await faulted(proxy, cut, run, tally)
                if isinstance(outcome, SyncReport):
                    assert outcome.ok, context
                check_clean("maildir", dest, context)
                assert (await _run(spec, dest, box, mode)).ok, context
                async with direct(dovecot, USER).connect() as client:
                    now = await server_messages(client, box)
                assert _flags(now) == _flags(final), context
                check_store("maildir", dest, box, records(dest, spec, box), now, context)
                shutil.rmtree(dest)
    tally.check("sync (incremental runs)")
