"""``import_mail`` against the real Dovecot: mbox, Maildir and .eml sources,
byte-for-byte results with flags and dates, re-runs that import nothing, and
kill-and-resume (a cancel mid-way, and a crash between the server's OK and the
journal update) with every message on the server exactly once."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from pipeimap.jobs import ImportReport, RecordingProgress, ServerSpec, _import, import_mail
from pipeimap.protocol import Secret
from pipeimap.store import JobState
from pipeimap.testing import DovecotServer

from ..conftest import TEST_USERS
from ._import_data import (
    Msg,
    assert_exactly_once,
    corpus,
    expected,
    write_eml,
    write_maildir,
    write_mbox,
)

pytestmark = pytest.mark.anyio
_box = itertools.count()


def spec(dovecot: DovecotServer, user: str = "alice", **kw: Any) -> ServerSpec:
    return ServerSpec(
        "localhost", dovecot.imaps_port, username=user, password=Secret(TEST_USERS[user]),
        ssl_context=dovecot.client_ssl_context(), **kw,
    )  # fmt: skip


def target(name: str) -> str:
    return f"Import/{name}-{next(_box)}"


WRITERS: dict[str, Callable[[Path, list[Msg]], Path]] = {
    "mbox": lambda d, m: write_mbox(d / "library.mbox", m),
    "maildir": lambda d, m: write_maildir(d / "Maildir", m),
    "eml": lambda d, m: write_eml(d / "eml", m),
}


@pytest.mark.parametrize("kind", ["mbox", "maildir", "eml"])
async def test_import_then_reimport_nothing(
    dovecot: DovecotServer, tmp_path: Path, kind: str
) -> None:
    msgs = corpus(14, tag=kind)
    source = WRITERS[kind](tmp_path, msgs)
    box = target(kind)
    server = spec(dovecot)
    progress = RecordingProgress()
    with anyio.fail_after(60):
        report = await import_mail(
            server, source, box, state_path=tmp_path / "state.sqlite", progress=progress,
            batch_count=5,
        )  # fmt: skip
        unique = len(expected(msgs))
        assert isinstance(report, ImportReport)
        assert report.source_format == kind
        assert report.created_mailbox
        assert report.appended == unique
        assert report.skipped_duplicates == len(msgs) - unique
        assert report.ok
        assert report.failed == 0
        assert report.bytes == sum(len(b) for b in expected(msgs))
        assert progress.messages == len(msgs)
        async with server.connect() as client:
            await assert_exactly_once(client, box, msgs, flags=kind != "eml")

        again = await import_mail(server, source, box, state_path=tmp_path / "state.sqlite")
        assert again.appended == 0
        assert again.already_imported == unique
        assert again.skipped_duplicates == len(msgs) - unique
        assert not again.created_mailbox

        # Without the journal, the content check alone still finds everything.
        fresh = await import_mail(server, source, box, state_path=tmp_path / "other.sqlite")
        assert fresh.appended == 0
        assert fresh.skipped_duplicates == len(msgs)
        async with server.connect() as client:
            await assert_exactly_once(client, box, msgs, flags=kind != "eml")


async def test_eml_messages_get_no_flags(dovecot: DovecotServer, tmp_path: Path) -> None:
    msgs = corpus(4, tag="emlflags")
    box = target("emlflags")
    with anyio.fail_after(30):
        await import_mail(spec(dovecot), write_eml(tmp_path / "e", msgs), box,
                          state_path=tmp_path / "s.sqlite")  # fmt: skip
        async with spec(dovecot).connect() as client:
            stripped = [Msg(m.content, frozenset(), m.date) for m in msgs]
            await assert_exactly_once(client, box, stripped)


async def test_messages_already_in_the_mailbox_are_skipped(
    dovecot: DovecotServer, tmp_path: Path
) -> None:
    msgs = corpus(10, tag="pre")
    box = target("pre")
    server = spec(dovecot)
    with anyio.fail_after(60):
        async with server.connect() as client:
            await client.create(box)
            # Some with a Message-ID, some without (found by size + hash).
            for m in (msgs[0], msgs[1], msgs[5], msgs[4]):
                await client.append(box, m.crlf, flags=sorted(m.flags), date=m.date)
        report = await import_mail(
            server, write_mbox(tmp_path / "m.mbox", msgs), box, state_path=tmp_path / "s.sqlite"
        )
        assert not report.created_mailbox
        assert report.appended == len(expected(msgs)) - 4
        async with server.connect() as client:
            await assert_exactly_once(client, box, msgs)


async def test_append_limit_skips_and_reports(dovecot: DovecotServer, tmp_path: Path) -> None:
    msgs = corpus(6, tag="limit")
    big = Msg(b"Message-ID: <big@example.org>\nSubject: big\n\n" + b"x" * 5000 + b"\n",
              frozenset(), msgs[0].date)  # fmt: skip
    source = write_maildir(tmp_path / "md", [*msgs, big])
    box = target("limit")
    with anyio.fail_after(60):
        report = await import_mail(spec(dovecot), source, box, state_path=tmp_path / "s.sqlite",
                                   append_limit=2000)  # fmt: skip
        assert report.skipped_too_large == 1
        assert report.too_large[0].startswith("maildir:")
        assert report.append_limit == 2000
        assert not report.ok
        async with spec(dovecot).connect() as client:
            await assert_exactly_once(client, box, msgs)


async def test_cancel_midway_then_resume(dovecot: DovecotServer, tmp_path: Path) -> None:
    msgs = corpus(120, tag="cancel")
    source = write_mbox(tmp_path / "big.mbox", msgs)
    box = target("cancel")
    state = tmp_path / "s.sqlite"
    server = spec(dovecot)

    class CancelAfter(RecordingProgress):
        def __init__(self, scope: anyio.CancelScope) -> None:
            super().__init__()
            self.scope = scope
            self.cancelled_at: float | None = None

        def advance(self, *, messages: int = 0, bytes: int = 0) -> None:
            super().advance(messages=messages, bytes=bytes)
            if self.bytes and self.messages >= 30 and self.cancelled_at is None:
                self.cancelled_at = anyio.current_time()
                self.scope.cancel()

    with anyio.fail_after(60):
        with anyio.CancelScope() as scope:
            progress = CancelAfter(scope)
            await import_mail(server, source, box, state_path=state,
                              progress=progress, batch_count=10)  # fmt: skip
        assert scope.cancelled_caught
        # Stopping with APPENDs in flight is prompt: nothing waits for answers
        # that the cancelled connection will never read.
        assert progress.cancelled_at is not None
        assert anyio.current_time() - progress.cancelled_at < 5
        # Restart at once: the cancelled run's last APPENDs may still be committing
        # in its server session; the job must wait for them (rows left pending)
        # rather than append them again.
        report = await import_mail(server, source, box, state_path=state, batch_count=10)
        unique = len(expected(msgs))
        assert report.appended + report.already_imported + report.recovered == unique
        assert report.appended < unique
        async with server.connect() as client:
            await assert_exactly_once(client, box, msgs)


async def settled_count(server: ServerSpec, box: str) -> int:
    """The mailbox's message count once it stopped changing."""
    last = -1
    async with server.connect() as client:
        while True:
            status = await client.status(box, ["MESSAGES"])
            if status.messages == last:
                return last
            last = status.messages or 0
            await anyio.sleep(0.3)


class SimulatedCrash(Exception):
    pass


async def test_crash_between_ok_and_journal_update(
    dovecot: DovecotServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    msgs = corpus(40, tag="crash")
    source = write_maildir(tmp_path / "md", msgs)
    box = target("crash")
    state = tmp_path / "s.sqlite"
    server = spec(dovecot)
    real = _import._journal_appended
    calls = itertools.count()

    def crash_on_second(*args: Any) -> None:
        if next(calls) == 1:  # the server said OK; the process "dies" before the commit
            raise SimulatedCrash
        real(*args)

    monkeypatch.setattr(_import, "_journal_appended", crash_on_second)
    with anyio.fail_after(60):
        with pytest.raises(SimulatedCrash):
            await import_mail(server, source, box, state_path=state, batch_count=8)
        with JobState(state) as st:
            account = server.describe()
            counts = st.journal_counts(account, box)
        assert counts["pending"] > 0
        on_server = await settled_count(server, box)
        # Rows still pending although their messages reached the server.
        assert on_server > counts["appended"]

        monkeypatch.setattr(_import, "_journal_appended", real)
        report = await import_mail(server, source, box, state_path=state, batch_count=8)
        assert report.recovered > 0
        unique = len(expected(msgs))
        assert report.appended + report.already_imported + report.recovered == unique
        async with server.connect() as client:
            await assert_exactly_once(client, box, msgs)
        with JobState(state) as st:
            rows = st.journal_entries(account, box)
        assert {r.status for r in rows} == {"appended"}
        assert all(r.uid is not None for r in rows)
        assert len({r.uid for r in rows}) == unique
