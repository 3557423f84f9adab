"""``archive`` under fault injection: the connection is cut at many points of a
run (both directions, inside body literals, stalls), in Maildir, mbox and .eml;
each run ends in success or a clean pipeimap error, and after a clean resume
the store holds every server message exactly once, byte for byte, with its
flags, and no half-written file."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from pipeimap.jobs import ArchiveReport, Format, _jobcommon, archive
from pipeimap.testing import DovecotServer
from pipeimap.testing.faultproxy import FaultProxy
from tests.jobs._mirror_helpers import populate, records, server_messages, unique

from ._harness import (
    CUTS,
    FAST,
    Cut,
    Tally,
    check_clean,
    check_store,
    direct,
    faulted,
    measure,
    plan_cuts,
    split_for_backend,
    state_markers,
    via,
)
from ._mailbox import messages

pytestmark = pytest.mark.anyio
USER = "alice"
#: (format, mailboxes, connections, stream budget): mbox works on two mailboxes
#: at once, so cuts also hit the pool's second connection and the sibling
#: worker's cancel; eml has a small body budget, so the reader stops and starts
#: reading in the middle of literals.
VARIANTS: tuple[tuple[Format, int, int, int | None], ...] = (
    ("maildir", 1, 1, None),
    ("mbox", 2, 2, None),
    ("eml", 1, 1, 16384),
)


async def test_archive_survives_cuts(
    dovecot: DovecotServer, tmp_path: Path, anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    boxes = [unique("faults-archive"), unique("faults-archive-b")]
    server: dict[str, dict[int, Any]] = {}
    async with direct(dovecot, USER).connect() as client:
        await populate(client, boxes[0], messages())
        await populate(client, boxes[1], messages(6, start=30))
        for box in boxes:
            server[box] = await server_messages(client, box)
    proxy = FaultProxy("127.0.0.1", dovecot.imap_port)
    tally = Tally()
    async with proxy.running():
        spec = via(proxy, USER)
        for n, (fmt, nbox, conns, budget) in enumerate(VARIANTS):
            if budget is not None:
                monkeypatch.setattr(_jobcommon, "_STREAM_BUDGET", budget)

            async def run(
                dest: Path,
                cut: Cut | None = None,
                fmt: Format = fmt,
                nbox: int = nbox,
                conns: int = conns,
            ) -> ArchiveReport:
                server_spec = via(proxy, USER, timeout=cut.timeout) if cut else spec
                return await archive(
                    server_spec, dest, mailboxes=boxes[:nbox], format=fmt, chunk=5,
                    connections=conns, retry=FAST, fsync=False,
                )  # fmt: skip

            def check(dest: Path, context: str, nbox: int = nbox, fmt: Format = fmt) -> None:
                for box in boxes[:nbox]:
                    rows = records(dest, spec, box)
                    check_store(fmt, dest, box, rows, server[box], context, state_markers(dest))

            clean = tmp_path / f"clean-{fmt}"
            stats = await measure(proxy, lambda: run(clean))  # noqa: B023
            check(clean, f"clean {fmt}")
            share = CUTS // len(VARIANTS) + (1 if n < CUTS % len(VARIANTS) else 0)
            cuts = plan_cuts(stats, share, seed=1000 + n)
            for i, cut in enumerate(split_for_backend(cuts, anyio_backend)):
                context = f"{fmt} cut {i}: {cut.describe()}"
                dest = tmp_path / f"{fmt}-{i}"
                outcome = await faulted(proxy, cut, lambda: run(dest, cut), tally)  # noqa: B023
                if isinstance(outcome, ArchiveReport):
                    assert outcome.ok, context
                check_clean(fmt, dest, context)
                resumed = await run(dest)
                assert resumed.ok, context
                check(dest, context)
                shutil.rmtree(dest)
    tally.check("archive")
