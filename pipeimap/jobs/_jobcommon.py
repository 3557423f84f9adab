"""What archive and sync share: opening the store and state, listing mailboxes,
the download engine, moving replaced messages aside, and verification.

Theory of operation of the download engine (:func:`download`): the UIDs to
fetch are cut into chunks.  For each chunk two commands go out on the
mailbox's connection -- ``UID FETCH chunk (FLAGS INTERNALDATE RFC822.SIZE
[MODSEQ])`` for the metadata, then ``UID FETCH uids (BODY.PEEK[] UID)``
streamed with a byte budget -- and the next chunk's metadata FETCH is written
together with the current chunk's bodies, so the server has work queued while
we consume.  The job never waits for one command while a body stream is in
flight (see :func:`_receive`): the paused reader could hold that answer behind
the unconsumed bodies for ever.  The network task turns body chunks into
items on a memory channel bounded in items and bytes; a writer task takes
whatever items are queued and hands them to a worker thread in one call,
which streams them through the store's writer (temp file, fsync, rename --
with fsync on, each file's fsync and rename run on a small pool of commit
threads, so a batch's fsyncs share journal commits), waits for every commit
of the batch, then ``store.flush()`` (directory entries durable), then
records the batch in the state DB in one transaction.  So the disk works
while the network receives, memory is bounded by the channel and the stream
budget, and the order *file fsynced -> renamed -> flushed -> row committed*
makes a kill at any point
resumable: a file without a row is found again under its deterministic
name ``<uidvalidity>_<uid>`` (Maildir, .eml) or cut off by
``MboxStore.recover`` (mbox: its committed size is saved with the rows).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

import anyio
import anyio.to_thread
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ..client import BodyStream, Client, FetchedMessage, FetchStream, MailboxInfo
from ..client._connection import STREAM_BUDGET
from ..errors import ProtocolError, UsageError
from ..protocol import UID, Flag, UIDSet
from ..store import (
    EmlStore,
    JobState,
    LocalKey,
    MaildirStore,
    MboxStore,
    MessageRecord,
    MessageStore,
    MessageWriter,
    message_name,
    normalize_flags,
)
from ._progress import NullProgress, Progress

__all__ = [
    "DEFAULT_SKIP_SPECIAL_USE",
    "STATE_FILE_NAME",
    "Format",
    "UidValidityRule",
    "Verification",
]

T = TypeVar("T")
Format = Literal["maildir", "mbox", "eml"]
UidValidityRule = Literal["move-aside", "remove"]

#: The state file's name inside the destination when ``state_path`` is not given.
STATE_FILE_NAME: Final = ".pipeimap-state.sqlite"
#: Where ``"move-aside"`` puts the messages of a replaced UIDVALIDITY (a local-only mailbox).
ATTIC: Final = "pipeimap-replaced"
#: Virtual mailboxes skipped by a whole-account run: they show messages that live
#: in other mailboxes too (Gmail's "All Mail", "Starred", "Important"; Dovecot's
#: virtual plugin), so archiving them would store every message twice.
DEFAULT_SKIP_SPECIAL_USE: Final = ("\\All", "\\Flagged", "\\Important")
MBOX_MARKERS: Final = "mbox"

_QUEUE_ITEMS: Final = 64  # body pieces between network and disk (each <= 256 KiB)
#: ... and at most this many bytes of them (64 pieces of a big message would be 16 MiB):
#: with the stream budget, a download holds at most about budget + 2 x this in memory
#: (the reader's buffer, the queue, and the batch being written).
_QUEUE_BYTES = 2 * 1024 * 1024
_BATCH_ITEMS: Final = 256  # most items one worker-thread call takes
_COMMIT_THREADS: Final = 16  # concurrent fsync + rename of a batch's files (fsync on)
_COMMITS_PENDING: Final = 64  # most files of one writer waiting for their commit
_STREAM_BUDGET = STREAM_BUDGET  # body bytes the reader buffers ahead of the job (tests lower it)


@dataclass(frozen=True, slots=True)
class Verification:
    """The end-of-run check of one mailbox: the messages the server had when
    the run looked (``expected``) against what the local store holds.

    ``missing`` are still on the server but not stored (an error);
    ``expunged_meanwhile`` vanished from the server during the run (not an
    error); ``extra`` (sync only) are stored locally and recorded, but no longer
    on the server.
    """

    expected: int
    present: int
    missing: tuple[UID, ...] = ()
    expunged_meanwhile: tuple[UID, ...] = ()
    extra: tuple[UID, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.missing and not self.extra


# --- job setup ---------------------------------------------------------------------------


def open_store(fmt: Format, dest: Path, separator: str, *, fsync: bool) -> MessageStore:
    if fmt == "maildir":
        return MaildirStore(dest, separator=separator, fsync=fsync)
    if fmt == "mbox":
        return MboxStore(dest, separator=separator, single_file=False, fsync=fsync)
    if fmt == "eml":
        return EmlStore(dest, separator=separator, fsync=fsync)
    raise UsageError(f"unknown format {fmt!r}: use 'maildir', 'mbox' or 'eml'")


def check_format(fmt: str) -> None:
    if fmt not in ("maildir", "mbox", "eml"):
        raise UsageError(f"unknown format {fmt!r}: use 'maildir', 'mbox' or 'eml'")


def default_state_path(dest: Path, state_path: Path | None) -> Path:
    if state_path is not None:
        return Path(state_path)
    return Path(dest) / STATE_FILE_NAME


@dataclass
class Job:
    """One run of a job: where it writes, what it knows, whom it tells."""

    account: str
    fmt: Format
    dest: Path
    state: JobState
    progress: Progress
    chunk: int
    fsync: bool
    store: MessageStore | None = None
    separator: str = "/"

    async def ensure_store(self, separator: str) -> MessageStore:
        """Open the store (once) and clean what a killed run left in it."""
        if self.store is None:
            self.separator = separator
            store = open_store(self.fmt, self.dest, separator, fsync=self.fsync)
            report = await anyio.to_thread.run_sync(
                lambda: store.recover(self.state.markers(MBOX_MARKERS))
            )
            for warning in report.warnings:
                self.progress.note(f"recovery: {warning}")
            if report.removed_temp_files or report.truncated or report.completed_rewrites:
                self.progress.note(
                    f"recovered from an interrupted run: removed "
                    f"{len(report.removed_temp_files)} temp file(s), cut "
                    f"{len(report.truncated)} mbox tail(s), finished "
                    f"{len(report.completed_rewrites)} mbox rewrite(s)"
                )
            self.store = store
        return self.store


@dataclass(frozen=True, slots=True)
class MailboxChoice:
    names: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]
    separator: str


async def choose_mailboxes(
    client: Client, mailboxes: Sequence[str] | None, skip_special_use: Iterable[str]
) -> MailboxChoice:
    """The mailboxes to work on, from LIST.

    Whole account (``mailboxes=None``): every selectable mailbox, except those
    whose special use is in ``skip_special_use``.  ``\\Noselect`` and
    ``\\NonExistent`` entries hold no messages and are skipped.  Named
    mailboxes must exist (``INBOX`` in any case).
    """
    infos = await client.list("", "*")
    separator = next((i.delimiter for i in infos if i.delimiter), None) or ""
    if mailboxes is not None:
        by_name = {_norm(i.name): i for i in infos}
        names: list[str] = []
        for name in mailboxes:
            info = by_name.get(_norm(name))
            if info is None:
                raise UsageError(f"no mailbox {name!r} on the server")
            if not info.selectable:
                raise UsageError(f"mailbox {name!r} cannot be selected (\\Noselect)")
            if info.name not in names:
                names.append(info.name)
        return MailboxChoice(tuple(names), (), separator)
    skip = {s.upper() for s in skip_special_use}
    chosen: list[str] = []
    skipped: list[tuple[str, str]] = []
    for info in sorted(infos, key=_order):
        if not info.selectable:
            skipped.append((info.name, "not selectable (\\Noselect)"))
        elif info.special_use is not None and info.special_use.upper() in skip:
            skipped.append((info.name, f"virtual mailbox ({info.special_use})"))
        else:
            chosen.append(info.name)
    return MailboxChoice(tuple(chosen), tuple(skipped), separator)


def _norm(name: str) -> str:
    return "INBOX" if name.upper() == "INBOX" else name


def _order(info: MailboxInfo) -> tuple[int, str]:
    return (0 if info.name.upper() == "INBOX" else 1, info.name)


async def run_workers(
    items: Sequence[str], workers: int, work: Callable[[str], Awaitable[None]]
) -> None:
    """``work(item)`` for every item, ``workers`` at a time; the first failure
    cancels the rest and is raised as itself (never as an ExceptionGroup)."""
    queue = deque(items)
    errors: list[BaseException] = []

    async def worker(scope: anyio.CancelScope) -> None:
        while queue and not errors:
            item = queue.popleft()
            try:
                await work(item)
            except Exception as exc:
                errors.append(exc)
                scope.cancel()
                return

    async with anyio.create_task_group() as tg:
        for _ in range(max(1, min(workers, len(items)))):
            tg.start_soon(worker, tg.cancel_scope)
    if errors:
        raise errors[0]


async def in_thread(fn: Callable[[], Any]) -> Any:
    return await anyio.to_thread.run_sync(fn)


def server_uidvalidity(uidvalidity: int | None, mailbox: str) -> int:
    if uidvalidity is None or uidvalidity <= 0:
        raise ProtocolError(f"the server sent no UIDVALIDITY for {mailbox!r}")
    return uidvalidity


async def all_uids(client: Client, exists: int) -> set[UID]:
    """``UID SEARCH ALL`` (ESEARCH keeps the answer compact)."""
    if exists == 0:
        return set()
    return {UID(u) for u in await client.search()}


def uid_chunks(uids: Sequence[UID], size: int) -> list[UIDSet]:
    ordered = sorted(uids)
    return [UIDSet(*ordered[i : i + size]) for i in range(0, len(ordered), size)]


# --- mbox commit markers -------------------------------------------------------------------


def ensure_marker(job: Job, mailbox: str) -> None:
    """Before the first write to an mbox file, save its current size as committed,
    so that ``recover`` cuts what a killed run appended even to a new file."""
    store = job.store
    if not isinstance(store, MboxStore):
        return
    rel = store.file_name(mailbox)
    if rel in job.state.markers(MBOX_MARKERS):
        return
    path = store.path / rel
    size = path.stat().st_size if path.exists() else 0
    job.state.set_markers(MBOX_MARKERS, {rel: size})


def save_markers(job: Job, mailbox: str, *more: str) -> None:
    """Inside the state transaction that records what was written to the file of
    ``mailbox`` (and ``more``): only theirs, see ``MboxStore.markers``."""
    assert job.store is not None
    markers = job.store.markers((mailbox, *more))
    if markers:
        job.state.set_markers(MBOX_MARKERS, markers)


# --- the download engine -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Piece:
    uid: UID
    meta: FetchedMessage | None
    data: bytes
    first: bool
    last: bool


class _DiskWriter:
    """Runs in worker threads, one call at a time: writes pieces, commits files,
    records them (see the module docstring for the order).

    Group commit: with ``fsync`` on, a Maildir or .eml message's commit -- fsync
    of the temp file, rename -- runs on a small thread pool while this thread
    writes the next messages, and the batch is recorded once every one of its
    commits is done, after ``store.flush()``.  Concurrent fsyncs share the file
    system's journal commits (on ext4 a batch costs a few journal flushes, not
    one per message), and each file is still durable before its rename, every
    rename before the directory fsync, and that before the state row.
    """

    def __init__(
        self,
        job: Job,
        mailbox: str,
        uidvalidity: int,
        before_record: Callable[[], None] | None = None,
    ) -> None:
        assert job.store is not None
        # One thread for all of this writer's calls: a message may span several
        # calls, and the mbox store holds a thread-owned lock while it is open.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pipeimap-disk")
        self.job = job
        self.store = job.store
        self.mailbox = mailbox
        self.uidvalidity = uidvalidity
        self._cm: AbstractContextManager[MessageWriter] | None = None
        self._writer: MessageWriter | None = None
        self._current: _Piece | None = None
        self._before_record = before_record
        # mbox appends to one locked file: its commits stay on this thread.
        parallel = job.fsync and isinstance(self.store, (MaildirStore, EmlStore))
        self._committers = (
            ThreadPoolExecutor(max_workers=_COMMIT_THREADS, thread_name_prefix="pipeimap-commit")
            if parallel
            else None
        )

    def process(self, pieces: list[_Piece]) -> tuple[int, int]:
        records: list[MessageRecord] = []
        pending: deque[Future[MessageRecord]] = deque()
        nbytes = 0
        try:
            for p in pieces:
                if p.first:
                    self.abort()
                    self._open(p)
                if self._writer is None or self._current is None or p.uid != self._current.uid:
                    continue
                self._writer.write(p.data)
                nbytes += len(p.data)
                if p.last:
                    if self._committers is None:
                        records.append(self._close())
                        continue
                    # (bounded: each pending commit holds an open file)
                    if len(pending) >= _COMMITS_PENDING:
                        records.append(pending.popleft().result())
                    pending.append(self._committers.submit(self._commit, *self._detach()))
        finally:
            error: BaseException | None = None
            for future in pending:  # wait for all, keep those that committed
                try:
                    records.append(future.result())
                except BaseException as exc:  # noqa: PERF203
                    error = error or exc
            if records:
                self._record(records)
        if error is not None:
            raise error
        return len(records), nbytes

    def _open(self, p: _Piece) -> None:
        meta = p.meta
        cm = self.store.open_writer(
            self.mailbox,
            flags=_flags_of(meta),
            internaldate=meta.internaldate if meta is not None else None,
            name=message_name(self.uidvalidity, p.uid),
        )
        self._writer = cm.__enter__()
        self._cm = cm
        self._current = p

    def _close(self) -> MessageRecord:
        return self._commit(*self._detach())

    def _detach(self) -> tuple[AbstractContextManager[MessageWriter], MessageWriter, _Piece]:
        """Take the complete current message off this writer (to commit it)."""
        assert self._cm is not None
        assert self._writer is not None
        assert self._current is not None
        cm, writer, p = self._cm, self._writer, self._current
        self._cm = self._writer = self._current = None
        return cm, writer, p

    @staticmethod
    def _commit(
        cm: AbstractContextManager[MessageWriter], writer: MessageWriter, p: _Piece
    ) -> MessageRecord:
        cm.__exit__(None, None, None)
        meta = p.meta
        return MessageRecord(
            uid=p.uid,
            key=writer.key,
            flags=_flags_of(meta),
            modseq=int(meta.modseq) if meta is not None and meta.modseq is not None else None,
            size=writer.size,
            internaldate=meta.internaldate if meta is not None else None,
        )

    def _record(self, records: list[MessageRecord]) -> None:
        self.store.flush()
        if self._before_record is not None:
            self._before_record()
        with self.job.state.transaction():
            self.job.state.record_messages(self.job.account, self.mailbox, records)
            save_markers(self.job, self.mailbox)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on this writer's own thread, waited for without blocking the loop."""
        future = self._thread.submit(fn, *args)
        return await anyio.to_thread.run_sync(future.result)

    async def close(self) -> None:
        await self.run(self.abort)
        await anyio.to_thread.run_sync(self._thread.shutdown)
        if self._committers is not None:
            await anyio.to_thread.run_sync(self._committers.shutdown)

    def abort(self) -> None:
        """Drop a half-written message (its temp file goes; nothing is visible)."""
        cm, self._cm, self._writer, self._current = self._cm, None, None, None
        if cm is not None:
            exc = RuntimeError("download interrupted")
            cm.__exit__(type(exc), exc, None)


def _flags_of(meta: FetchedMessage | None) -> frozenset[Flag]:
    return normalize_flags(meta.flags or ()) if meta is not None else frozenset()


#: Tests set this to simulate a crash between a file's commit and its state row.
_before_record_hook: Callable[[], None] | None = None


async def download(
    client: Client,
    job: Job,
    mailbox: str,
    uidvalidity: int,
    uids: Sequence[UID],
    *,
    modseq: bool,
) -> tuple[int, int]:
    """Fetch ``uids`` of the selected ``mailbox`` into the store and record each
    one; returns (messages stored, bytes).  UIDs expunged meanwhile are skipped."""
    if not uids:
        return 0, 0
    await in_thread(lambda: ensure_marker(job, mailbox))
    writer = _DiskWriter(job, mailbox, uidvalidity, _before_record_hook)
    items: tuple[str, ...] = ("FLAGS", "INTERNALDATE", "RFC822.SIZE")
    if modseq:
        items += ("MODSEQ",)
    send, receive = anyio.create_memory_object_stream[_Piece](max_buffer_size=_QUEUE_ITEMS)
    gate = _ByteGate(_QUEUE_BYTES)
    totals = [0, 0]
    errors: list[BaseException] = []

    async def network(scope: anyio.CancelScope) -> None:
        try:
            async with send:
                await _receive(client, uid_chunks(uids, job.chunk), items, send, gate)
        except anyio.BrokenResourceError:
            scope.cancel()  # the disk side failed; its error is the one to raise
        except Exception as exc:
            errors.append(exc)
            scope.cancel()

    async def disk(scope: anyio.CancelScope) -> None:
        try:
            await _write(receive, gate, writer, totals, job.progress)
        except Exception as exc:
            errors.append(exc)
            scope.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(network, tg.cancel_scope)
        tg.start_soon(disk, tg.cancel_scope)
    if errors:
        raise errors[0]
    return totals[0], totals[1]


class _ByteGate:
    """Bounds the body bytes queued between the network task and the disk task
    (both on the event loop: no lock).  One piece always passes, however large."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.queued = 0
        self._room = anyio.Event()

    async def enter(self, nbytes: int) -> None:
        while self.queued and self.queued + nbytes > self.limit:
            await self._room.wait()
        self.queued += nbytes

    def leave(self, nbytes: int) -> None:
        self.queued -= nbytes
        self._room.set()
        self._room = anyio.Event()


async def _receive(
    client: Client,
    chunks: list[UIDSet],
    items: tuple[str, ...],
    send: MemoryObjectSendStream[_Piece],
    gate: _ByteGate,
) -> None:
    # The body stream has a byte budget: once the job falls behind, the reader
    # stops reading, and any answer queued behind those bodies on the wire is
    # out of reach until the job consumes them.  Servers do not promise that
    # the answers of pipelined commands come strictly one command after the
    # other, so the job never waits for another command while a body stream is
    # in flight: chunk i's metadata is read completely before its bodies are
    # asked for, and chunk i+1's metadata FETCH -- written together with chunk
    # i's bodies, so the server has it at hand -- is only read once chunk i's
    # bodies have all been consumed.  One body stream at a time also keeps the
    # memory at one budget.
    pending = deque(chunks)
    meta_stack = AsyncExitStack()
    try:
        meta_stream: FetchStream | None = None
        if pending:
            meta_stream = await meta_stack.enter_async_context(
                client.fetch(pending.popleft(), items)
            )
        while meta_stream is not None:
            meta = {m.uid: m async for m in meta_stream if m.uid is not None}
            await meta_stack.aclose()  # (all answered: this only lets go of the handles)
            meta_stream = None
            async with AsyncExitStack() as stack:
                bodies: BodyStream | None = None
                if meta:
                    bodies = await stack.enter_async_context(
                        client.stream_bodies(UIDSet(*meta), peek=True, budget=_STREAM_BUDGET)
                    )
                if pending:
                    meta_stack = AsyncExitStack()
                    meta_stream = await meta_stack.enter_async_context(
                        client.fetch(pending.popleft(), items)
                    )
                if bodies is not None:
                    await _forward(bodies, meta, send, gate)
    finally:
        with anyio.CancelScope(shield=True):
            await meta_stack.aclose()


async def _forward(
    bodies: BodyStream,
    meta: dict[UID, FetchedMessage],
    send: MemoryObjectSendStream[_Piece],
    gate: _ByteGate,
) -> None:
    async for chunk in bodies:
        if chunk.uid is None:
            raise ProtocolError("the server sent a body without its UID")
        await gate.enter(len(chunk.data))
        await send.send(
            _Piece(chunk.uid, meta.get(chunk.uid), chunk.data, chunk.offset == 0, chunk.last)
        )


async def _write(
    receive: MemoryObjectReceiveStream[_Piece],
    gate: _ByteGate,
    writer: _DiskWriter,
    totals: list[int],
    progress: Progress,
) -> None:
    try:
        async with receive:
            async for piece in receive:
                batch = [piece]
                while len(batch) < _BATCH_ITEMS:
                    try:
                        batch.append(receive.receive_nowait())
                    except (anyio.WouldBlock, anyio.EndOfStream):  # noqa: PERF203
                        break
                gate.leave(sum(len(p.data) for p in batch))
                messages, nbytes = await writer.run(writer.process, batch)
                totals[0] += messages
                totals[1] += nbytes
                if messages or nbytes:
                    progress.advance(messages=messages, bytes=nbytes)
    finally:
        with anyio.CancelScope(shield=True):
            await writer.close()


# --- replaced UIDVALIDITY ------------------------------------------------------------------


def attic_mailbox(mailbox: str, separator: str) -> str:
    sep = separator or "/"
    return f"{ATTIC}{sep}{mailbox}"


def settle_orphans(job: Job, mailbox: str, rule: UidValidityRule) -> int:
    """Deal with the local messages of a forgotten UIDVALIDITY of ``mailbox``
    (worker thread).  ``"move-aside"`` copies each into the local-only mailbox
    ``pipeimap-replaced/<mailbox>`` (flags and dates kept) before removing it;
    ``"remove"`` deletes them.  Idempotent: the state keeps the list until the
    files are gone, so a killed run finishes the job next time."""
    store = job.store
    assert store is not None
    state = job.state
    keys = state.pending_orphans(job.account, mailbox)
    if not keys:
        return 0
    moved_count = 0
    if rule == "move-aside":
        attic = attic_mailbox(mailbox, job.separator)
        ensure_marker(job, attic)
        info = {m.key: m for m in store.iter_messages(mailbox)}
        for key in keys:
            try:
                data = store.read(key)
            except (KeyError, FileNotFoundError):
                continue
            found = info.get(key)
            flags = found.flags if found is not None else store.flags_of(key)
            store.deliver(
                attic,
                data,
                flags=flags,
                internaldate=found.internaldate if found is not None else None,
                name=_attic_name(key),
            )
            moved_count += 1
        store.flush()
        with state.transaction():
            save_markers(job, attic)

    def commit(moved: dict[LocalKey, LocalKey]) -> None:
        # Run by the store once its files are safe (mbox: before the rename of
        # the rewritten file, so keys, markers and file never disagree).
        with state.transaction(durable=job.fsync):
            state.rekey(moved)
            state.orphans_removed(keys)
            save_markers(job, mailbox)

    store.remove(keys, commit=commit)
    return moved_count if rule == "move-aside" else len(keys)


def _attic_name(key: LocalKey) -> str | None:
    """The message's own name (Maildir, .eml) so that a repeated move is idempotent."""
    text = str(key)
    if "/" not in text:
        return None  # mbox keys have no name
    stem = text.rpartition("/")[2]
    stem = stem.removesuffix(".eml")
    return stem or None


# --- local listing and verification ----------------------------------------------------------


def local_keys(store: MessageStore, mailbox: str) -> set[LocalKey] | None:
    """Keys of the messages on disk now; ``None`` for mbox (reading a whole mbox
    file for it is left to verification)."""
    if isinstance(store, MaildirStore):
        return set(store.scan(mailbox))
    if isinstance(store, EmlStore):
        return {m.key for m in store.iter_messages(mailbox)}
    return None


def drop_lost(job: Job, mailbox: str) -> int:
    """Forget recorded messages whose file is gone (deleted by hand or a mail
    client): they are downloaded again.  Returns how many."""
    store = job.store
    assert store is not None
    present = local_keys(store, mailbox)
    if present is None:
        return 0
    lost = [r.uid for r in job.state.messages(job.account, mailbox) if r.key not in present]
    if lost:
        job.state.remove_messages(job.account, mailbox, lost)
    return len(lost)


async def verify(
    client: Client,
    job: Job,
    mailbox: str,
    expected: set[UID],
    *,
    allow_extra: bool,
) -> Verification:
    """Compare the server's UIDs at the start of the run with what is stored."""
    store = job.store
    assert store is not None

    def local() -> tuple[dict[UID, LocalKey], set[LocalKey]]:
        rows = {r.uid: r.key for r in job.state.messages(job.account, mailbox)}
        on_disk = local_keys(store, mailbox)
        if on_disk is None:
            on_disk = {m.key for m in store.iter_messages(mailbox)}
        return rows, on_disk

    rows, on_disk = await in_thread(local)
    stored = {uid for uid, key in rows.items() if key in on_disk}
    absent = sorted(expected - stored)
    still_there = await still_on_server(client, absent)
    missing = tuple(u for u in absent if u in still_there)
    meanwhile = tuple(u for u in absent if u not in still_there)
    extra: tuple[UID, ...] = ()
    if not allow_extra:
        extra = tuple(sorted(stored - expected))
    return Verification(len(expected), len(expected & stored), missing, meanwhile, extra)


async def still_on_server(client: Client, uids: Iterable[UID]) -> set[UID]:
    """Which of ``uids`` the selected mailbox still holds."""
    wanted = sorted(uids)
    if not wanted:
        return set()
    found = await client.fetch_all(UIDSet(*wanted), ("UID",))
    return {m.uid for m in found if m.uid is not None and m.uid in set(wanted)}


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Clock:
    start: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        return time.monotonic() - self.start


def flags_text(flags: Iterable[Flag]) -> str:
    return " ".join(sorted(str(f) for f in flags))


def null_progress(progress: Progress | None) -> Progress:
    return progress if progress is not None else NullProgress()
