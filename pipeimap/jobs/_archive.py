"""``archive``: download mailboxes (or a whole account) into Maildir, mbox or .eml.

Read-only on the server: mailboxes are EXAMINEd and bodies fetched with
``BODY.PEEK[]``, so not even ``\\Seen`` changes.  Resumable: every stored
message is recorded in the job state right after its file is committed, and a
re-run skips what is recorded (see :mod:`._jobcommon` for the ordering that
makes a kill at any point safe).  A changed UIDVALIDITY starts the mailbox
afresh; the old messages are moved aside (or removed), never mixed with the
new UIDs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..client import Client
from ..protocol import UID
from ..store import JobState
from ._jobcommon import (
    DEFAULT_SKIP_SPECIAL_USE,
    Clock,
    Format,
    Job,
    UidValidityRule,
    Verification,
    all_uids,
    check_format,
    choose_mailboxes,
    default_state_path,
    download,
    drop_lost,
    in_thread,
    now_utc,
    null_progress,
    run_workers,
    server_uidvalidity,
    settle_orphans,
    still_on_server,
    verify,
)
from ._progress import Progress
from ._retry import RetryPolicy, retrying
from ._server import ServerSpec

__all__ = ["ArchiveReport", "MailboxArchiveReport", "archive"]


@dataclass(frozen=True, slots=True)
class MailboxArchiveReport:
    """What :func:`archive` did to one mailbox.

    ``server_messages``: messages on the server when the run looked;
    ``downloaded``: stored by this run; ``skipped``: already stored by an
    earlier run; ``reset``: the UIDVALIDITY had changed, and ``replaced``
    messages of the old one were moved aside (or removed).
    """

    mailbox: str
    uidvalidity: int
    server_messages: int
    downloaded: int
    skipped: int
    bytes: int
    reset: bool = False
    replaced: int = 0
    verification: Verification | None = None


@dataclass(frozen=True, slots=True)
class ArchiveReport:
    """The result of :func:`archive`.  ``ok`` is true when every verified
    mailbox holds every message the server had."""

    mailboxes: tuple[MailboxArchiveReport, ...]
    skipped_mailboxes: tuple[tuple[str, str], ...]
    duration: float
    state_path: Path

    @property
    def downloaded(self) -> int:
        return sum(m.downloaded for m in self.mailboxes)

    @property
    def skipped(self) -> int:
        return sum(m.skipped for m in self.mailboxes)

    @property
    def bytes(self) -> int:
        return sum(m.bytes for m in self.mailboxes)

    @property
    def ok(self) -> bool:
        return all(m.verification is None or m.verification.ok for m in self.mailboxes)


@dataclass
class _Tally:
    """Counts of one mailbox, kept across retries of the job."""

    uidvalidity: int = 0
    server_messages: int = 0
    skipped: int | None = None
    downloaded: int = 0
    bytes: int = 0
    reset: bool = False
    replaced: int = 0
    verification: Verification | None = None
    done: bool = False

    def report(self, mailbox: str) -> MailboxArchiveReport:
        return MailboxArchiveReport(
            mailbox,
            self.uidvalidity,
            self.server_messages,
            self.downloaded,
            self.skipped or 0,
            self.bytes,
            self.reset,
            self.replaced,
            self.verification,
        )


async def archive(
    server: ServerSpec,
    dest: str | Path,
    *,
    mailboxes: Sequence[str] | None = None,
    format: Format = "maildir",
    state_path: str | Path | None = None,
    connections: int = 3,
    chunk: int = 250,
    verify: bool = True,
    skip_special_use: Iterable[str] = DEFAULT_SKIP_SPECIAL_USE,
    on_uidvalidity_change: UidValidityRule = "move-aside",
    progress: Progress | None = None,
    retry: RetryPolicy | None = None,
    fsync: bool = True,
) -> ArchiveReport:
    """Download every message of ``mailboxes`` (``None``: the whole account)
    into ``dest``, keeping flags and internal dates; never changes the server.

    Args:
        dest: the local store's directory (created when missing).
        mailboxes: names to archive; ``None`` lists the account and takes every
            selectable mailbox except virtual ones (``skip_special_use``).
        format: ``"maildir"`` (Maildir++), ``"mbox"`` (one mboxrd file per
            mailbox) or ``"eml"`` (one file per message).
        state_path: the SQLite job state (default ``dest/.pipeimap-state.sqlite``).
            Keep it: it is what makes a re-run download only what is new.
        connections: the most connections at once (one per mailbox).
        chunk: UIDs per ``UID FETCH``; the next chunk's metadata is fetched
            while the current chunk's bodies stream.
        verify: check at the end that every message the server had is stored.
        on_uidvalidity_change: ``"move-aside"`` keeps the old messages in the
            local-only mailbox ``pipeimap-replaced/<mailbox>``; ``"remove"``
            deletes them.
        retry: how to back off and resume after throttling or a dropped connection.
        fsync: turn off only for throwaway copies (tests, benchmarks).

    Raises:
        UsageError: a named mailbox does not exist, or a bad argument.
        CommandError, ConnectionLostError: once the retries are used up.
    """
    check_format(format)
    if chunk < 1 or connections < 1:
        raise ValueError("chunk and connections must be positive")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    path = default_state_path(dest, Path(state_path) if state_path is not None else None)
    progress = null_progress(progress)
    clock = Clock()
    tallies: dict[str, _Tally] = {}
    skipped_boxes: tuple[tuple[str, str], ...] = ()
    state = await in_thread(lambda: JobState(path))
    try:
        job = Job(server.describe(), format, dest, state, progress, chunk, fsync)

        async def step(spec: ServerSpec, attempt: int) -> None:
            nonlocal skipped_boxes
            async with spec.pool(connections) as pool:
                async with pool.connection() as client:
                    choice = await choose_mailboxes(client, mailboxes, skip_special_use)
                skipped_boxes = choice.skipped
                await job.ensure_store(choice.separator)
                for name in choice.names:
                    tallies.setdefault(name, _Tally())
                todo = [n for n in choice.names if not tallies[n].done]

                async def work(name: str) -> None:
                    async with pool.connection() as client:
                        await _archive_mailbox(
                            client, job, name, tallies[name], verify, on_uidvalidity_change
                        )

                await run_workers(todo, connections, work)

        await retrying(step, server, policy=retry, progress=progress)
    finally:
        await in_thread(state.close)
    return ArchiveReport(
        tuple(t.report(name) for name, t in tallies.items()),
        skipped_boxes,
        clock.elapsed(),
        path,
    )


async def _archive_mailbox(
    client: Client,
    job: Job,
    name: str,
    tally: _Tally,
    check: bool,
    rule: UidValidityRule,
) -> None:
    condstore = client.has_capability("CONDSTORE")
    selected = await client.examine(name, condstore=condstore)
    uidvalidity = server_uidvalidity(selected.uidvalidity, name)
    state = job.state
    account = job.account

    def begin() -> tuple[bool, int, set[UID]]:
        mstate = state.begin_mailbox(account, name, uidvalidity=uidvalidity)
        replaced = settle_orphans(job, name, rule)
        if mstate.highestmodseq is None and selected.highestmodseq:
            # Flags of every message stored from now on are at least this new:
            # a later sync asks for changes since here.  Never advanced by
            # archive, which does not refresh the flags of stored messages.
            state.update_mailbox(account, name, highestmodseq=int(selected.highestmodseq))
        drop_lost(job, name)
        return mstate.reset, replaced, state.known_uids(account, name)

    reset, replaced, known = await in_thread(begin)
    if reset:
        job.progress.note(
            f"{name}: UIDVALIDITY changed to {uidvalidity}; starting the mailbox afresh"
        )
    tally.uidvalidity = uidvalidity
    tally.reset = tally.reset or reset
    tally.replaced += replaced
    on_server = await all_uids(client, selected.exists)
    todo = sorted(on_server - known)
    tally.server_messages = len(on_server)
    if tally.skipped is None:
        tally.skipped = len(on_server & known)
    phase = f"archive {name}"
    job.progress.start(phase, total_messages=len(todo), total_bytes=None)
    messages, nbytes = await download(client, job, name, uidvalidity, todo, modseq=condstore)
    tally.downloaded += messages
    tally.bytes += nbytes
    job.progress.finish(phase)

    stored = await in_thread(lambda: state.known_uids(account, name))
    if not await still_on_server(client, on_server - stored):
        # Complete: every message of the snapshot is recorded.  Sync may now
        # work incrementally from the mod-sequence saved at the first look.
        await in_thread(
            lambda: state.update_mailbox(
                account, name, uidnext=selected.uidnext, full_sync_at=now_utc()
            )
        )
    if check:
        tally.verification = await verify(client, job, name, on_server, allow_extra=True)
    tally.done = True
