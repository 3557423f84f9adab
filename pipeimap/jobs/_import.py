"""``pipeimap import``: upload an mbox file, a Maildir or a folder of .eml files
into one mailbox, exactly once.

Theory of operation.  The source is read in a worker thread, a *window* of
messages at a time (up to ``batch_count`` messages and half of ``batch_bytes``;
the first windows are smaller -- 8, 16, 32... messages -- so that the server
has work a few milliseconds after the mailbox is opened).  The windows held in
memory -- being read or checked, queued, on the wire or with the server --
share one budget of ``batch_bytes`` (:class:`_Budget`): a window's bytes are
given back (only the ids, sizes and hashes are kept for the journal) when the
server has answered its APPEND, and the reader waits while the budget is spent.
So the messages held are bounded by ``batch_bytes`` plus one message, and the
small first windows can all be in flight at once.  Each window goes through
three gates:

1. **Journal** (the job state file, :class:`~pipeimap.store.JobState`): a source
   message whose row says ``appended`` (under the mailbox's current UIDVALIDITY)
   is passed over by the reader without even being decoded.
2. **APPENDLIMIT** (RFC 7889, the ``APPENDLIMIT=n`` capability or the mailbox's
   ``STATUS APPENDLIMIT``, and the caller's ``append_limit``): a bigger message
   is skipped and reported, so it cannot fail a whole MULTIAPPEND.
3. **Content** (:class:`~._import_index.ContentIndex`): a message the mailbox
   already holds -- same Message-ID and size, or same size and SHA-256 when it
   has no Message-ID -- or one already scheduled in this run (a duplicate inside
   the source) is skipped.

What passes is journalled ``pending`` (one durable SQLite commit per window)
*before* any byte of it is sent, then appended: one MULTIAPPEND per window when
the server offers MULTIAPPEND (Dovecot commits each APPEND on its own, so one
MULTIAPPEND of many messages is about 3x faster than single APPENDs), as many
windows in flight as the budget holds (at most :data:`MAX_IN_FLIGHT`), so that
the next one is queued when the server finishes one; pipelined single APPENDs
otherwise.  The client uses
LITERAL+ / LITERAL- on its own.  After each tagged OK a committer task flips the
rows to ``appended`` with the APPENDUID, several batches per durable commit.

**The crash window.**  A kill between the server's OK and the journal commit
leaves rows ``pending`` for messages that *are* on the server.  A ``pending`` row
therefore means "maybe appended": on the next run (or the next attempt of this
one) the message goes through gate 3 again, which looks it up on the server by
Message-ID plus size (or size plus hash); if found, the row is marked
``appended`` with the UID found and nothing is sent.  A row whose APPEND never
reached the server is not found and is appended then.  Since gate 3 runs for
every message not known ``appended``, the journal is an accelerator and the
record of APPENDUIDs; the server check is what guarantees no duplicate.  (Rows
from an older UIDVALIDITY -- the mailbox was deleted and re-created -- are
treated as ``pending``.)

**Throttling and drops.**  The work of one connection is one resumable step run
by :func:`~._retry.retrying`: on ``NO [UNAVAILABLE]`` / ``[LIMIT]`` / Office 365's
"Request is throttled. Suggested Backoff Time: N milliseconds", a ``BYE`` or a
dropped connection, the step stops, waits as told, halves the pipeline depth
(fewer APPENDs in flight), reconnects and starts again from the journal.
A batch a server rejects for good (a plain ``NO``, ``[TOOBIG]``, ``BAD``) is split
in halves until the offending message is found; that message is reported as
failed (or too large) and the rest is appended.  ``[OVERQUOTA]``, ``[NOPERM]``
and other account-level refusals end the job.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import time
from collections.abc import Awaitable, Callable, Container, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ..client import AppendResult, Batch, Client, SelectResult
from ..errors import CommandError, InvalidArgumentError, StoreError
from ..protocol._commands import AppendMessage
from ..protocol._types import UID, Flag
from ..store import JobState, SourceMessage, iter_eml_folder, iter_maildir, iter_mbox
from ._import_index import ContentIndex
from ._progress import NullProgress, Progress
from ._retry import RetryPolicy, classify, retrying
from ._server import ServerSpec

__all__ = ["ImportFailure", "ImportReport", "SourceFormat", "default_state_path", "import_mail"]

SourceFormat = Literal["auto", "mbox", "maildir", "eml"]
_Done = tuple[list[SourceMessage], AppendResult]  # a batch (without data) and the server's OK

DEFAULT_BATCH_COUNT: Final = 100
DEFAULT_BATCH_BYTES: Final = 8 * 1024 * 1024
#: A window holds at most ``batch_bytes / WINDOWS`` bytes, so that at least
#: :data:`WINDOWS` windows fit in the byte budget (one with the server, the next
#: one read, checked and queued); smaller windows (the first ones) fit more.
WINDOWS: Final = 2
#: MULTIAPPENDs in flight at most (fewer when throttling lowers the depth).
MAX_IN_FLIGHT: Final = 8
#: Messages in the first window; each next window doubles, up to ``batch_count``.
FIRST_WINDOW: Final = 8
# Refusals about the account or the mailbox, not one message: splitting the batch
# would only repeat them.
_FATAL_CODES: Final = frozenset(
    {"TRYCREATE", "NONEXISTENT", "OVERQUOTA", "NOPERM", "AUTHENTICATIONFAILED",
     "AUTHORIZATIONFAILED", "EXPIRED", "CONTACTADMIN", "PRIVACYREQUIRED", "SERVERBUG"}
)  # fmt: skip


#: After a crash with APPENDs in flight: how often and how long to wait for the
#: server to finish committing them before checking what is already there.
SETTLE_INTERVAL: Final = 0.5
SETTLE_MAX: Final = 15.0


@dataclass(frozen=True, slots=True)
class ImportFailure:
    """A message the server refused (``reason`` is its answer)."""

    source_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What :func:`import_mail` did.

    ``appended`` counts messages uploaded by this run (including ones whose
    APPEND succeeded in an earlier attempt of this run and was found on the
    server); ``already_imported`` messages the journal knew from an earlier run;
    ``recovered`` ``pending`` journal rows of an earlier run found on the server
    (the crash window); ``skipped_duplicates`` messages the mailbox already held
    or that occur twice in the source; ``too_large`` / ``failures`` the messages
    not uploaded, by source id.
    """

    mailbox: str
    source: Path
    source_format: str
    appended: int
    already_imported: int
    recovered: int
    skipped_duplicates: int
    too_large: tuple[str, ...]
    failures: tuple[ImportFailure, ...]
    bytes: int
    duration: float
    attempts: int
    created_mailbox: bool
    uidvalidity: int | None
    append_limit: int | None

    @property
    def skipped_too_large(self) -> int:
        return len(self.too_large)

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def ok(self) -> bool:
        """Every source message is in the mailbox (none failed or was too large)."""
        return not self.failures and not self.too_large

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (for ``--json``)."""
        return {
            "job": "import",
            "mailbox": self.mailbox,
            "source": str(self.source),
            "source_format": self.source_format,
            "appended": self.appended,
            "already_imported": self.already_imported,
            "recovered": self.recovered,
            "skipped_duplicates": self.skipped_duplicates,
            "skipped_too_large": self.skipped_too_large,
            "failed": self.failed,
            "too_large": list(self.too_large),
            "failures": [{"source_id": f.source_id, "reason": f.reason} for f in self.failures],
            "bytes": self.bytes,
            "duration": round(self.duration, 3),
            "attempts": self.attempts,
            "created_mailbox": self.created_mailbox,
            "uidvalidity": self.uidvalidity,
            "append_limit": self.append_limit,
        }


def detect_format(source: Path) -> Literal["mbox", "maildir", "eml"]:
    """A file is an mbox; a folder with ``cur/`` or ``new/`` a Maildir; another
    folder a folder of .eml files."""
    if source.is_file():
        return "mbox"
    if source.is_dir():
        if (source / "cur").is_dir() or (source / "new").is_dir():
            return "maildir"
        return "eml"
    raise StoreError(f"{source} does not exist")


def default_state_path(server: ServerSpec, source: Path, mailbox: str) -> Path:
    """Where the journal lives when no ``state_path`` is given:
    ``$XDG_STATE_HOME/pipeimap/import-<hash>.sqlite`` (``~/.local/state`` by
    default), one file per (account, source, mailbox), so that re-running the
    same import finds it."""
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    ident = f"{server.describe()}\0{source.resolve()}\0{mailbox}".encode()
    return base / "pipeimap" / f"import-{hashlib.sha256(ident).hexdigest()[:16]}.sqlite"


async def import_mail(
    server: ServerSpec,
    source: str | os.PathLike[str],
    mailbox: str,
    *,
    source_format: SourceFormat = "auto",
    state_path: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    retry: RetryPolicy | None = None,
    batch_count: int = DEFAULT_BATCH_COUNT,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    append_limit: int | None = None,
    create: bool = True,
) -> ImportReport:
    """Upload the messages of ``source`` into ``mailbox``, keeping flags and
    internal dates, never twice (see the module docs and ``docs/import.md``).

    ``source_format``: ``"mbox"``, ``"maildir"``, ``"eml"`` (a folder of .eml
    files) or ``"auto"``.  ``state_path``: the journal (SQLite; default
    :func:`default_state_path`).  ``batch_count`` bounds the messages of one
    MULTIAPPEND, ``batch_bytes`` the bytes of source messages held in memory
    (two MULTIAPPENDs of at most half of it each are in flight; a bigger
    message goes alone).  ``append_limit``
    caps the message size on top of what the server announces.  ``create``:
    create the mailbox when it does not exist (else fail).  Transient failures
    are retried under ``retry``; a permanent one raises, and the next run
    resumes where this one stopped.
    """
    if batch_count < 1 or batch_bytes < 1:
        raise InvalidArgumentError("batch_count and batch_bytes must be positive")
    if source_format not in ("auto", "mbox", "maildir", "eml"):
        raise InvalidArgumentError(f"unknown source format {source_format!r}")
    src, fmt, path, total = await anyio.to_thread.run_sync(
        _prepare, server, Path(source), source_format, state_path, mailbox
    )
    progress = progress or NullProgress()
    state = await anyio.to_thread.run_sync(JobState, path)
    job = _ImportJob(
        state, server.describe(), src, fmt, mailbox, progress, batch_count, batch_bytes,
        append_limit, create,
    )  # fmt: skip
    started = time.monotonic()
    progress.start(f"import {mailbox}", total_messages=None, total_bytes=total)
    try:
        await retrying(job.step, server, policy=retry, progress=progress)
    finally:
        progress.finish(f"import {mailbox}")
        with anyio.CancelScope(shield=True):  # also when cancelled (Ctrl-C): a quick close
            await anyio.to_thread.run_sync(state.close)
    return job.report(time.monotonic() - started)


def _prepare(
    server: ServerSpec,
    source: Path,
    source_format: SourceFormat,
    state_path: str | os.PathLike[str] | None,
    mailbox: str,
) -> tuple[Path, Literal["mbox", "maildir", "eml"], Path, int | None]:
    """The file-system side of starting a job (runs in a thread)."""
    src = source.resolve()
    fmt = detect_format(src) if source_format == "auto" else source_format
    path = Path(state_path) if state_path is not None else default_state_path(server, src, mailbox)
    path.parent.mkdir(parents=True, exist_ok=True)
    total = src.stat().st_size if src.is_file() else None
    return src, fmt, path, total


def _take(it: Iterator[SourceMessage], count: int, size: int) -> list[SourceMessage]:
    """Up to ``count`` messages / ``size`` bytes (at least one) from ``it``; runs in a thread."""
    out: list[SourceMessage] = []
    total = 0
    for m in it:
        out.append(m)
        total += m.size
        if len(out) >= count or total >= size:
            break
    return out


def _journal_appended(
    state: JobState, account: str, mailbox: str, done: Sequence[tuple[str, int | None, UID | None]]
) -> None:
    """Flip journal rows to ``appended`` in one durable commit (runs in a thread).

    A module-level function so that the tests can make it fail: that is the
    crash "after the server's OK, before the journal update"."""
    with state.transaction(durable=True):
        for source_id, uidvalidity, uid in done:
            state.journal_mark_appended(
                account, mailbox, source_id,
                uidvalidity=uidvalidity, uid=int(uid) if uid is not None else None,
            )  # fmt: skip


class _CountingSkip(Container[str]):
    """The reader's ``skip`` set: source ids journalled ``appended``; remembers
    which ids the source actually held."""

    def __init__(self, done: set[str], hits: set[str]) -> None:
        self._done = done
        self.hits = hits

    def __contains__(self, source_id: object) -> bool:
        if source_id in self._done:
            self.hits.add(str(source_id))
            return True
        return False


@dataclass
class _ImportJob:
    state: JobState
    account: str
    source: Path
    fmt: Literal["mbox", "maildir", "eml"]
    mailbox: str
    progress: Progress
    batch_count: int
    batch_bytes: int
    user_limit: int | None
    create: bool
    index: ContentIndex = field(default_factory=ContentIndex)
    attempts: int = 0
    created: bool = False
    uidvalidity: int | None = None
    limit: int | None = None
    pending: set[str] = field(default_factory=set)  # rows that mean "maybe appended"
    sent: set[str] = field(default_factory=set)  # APPENDed by this run, maybe not confirmed
    appended: dict[str, int] = field(default_factory=dict)  # source id -> bytes, this run
    already: set[str] = field(default_factory=set)
    recovered: set[str] = field(default_factory=set)
    duplicates: set[str] = field(default_factory=set)
    too_large: dict[str, None] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    workers: int = 1

    # --- one attempt ----------------------------------------------------------------------

    async def step(self, server: ServerSpec, attempt: int) -> None:
        self.attempts = attempt
        async with server.connect() as client:
            if not self.create:
                await self._ensure_mailbox(client)
            if await anyio.to_thread.run_sync(self._has_pending_rows):
                if self.create:
                    await self._ensure_mailbox(client)
                self.limit = await self._append_limit(client)
                await self._settle(client)
                selected = await client.examine(self.mailbox)
            else:
                selected = await self._open(client)
            self.uidvalidity = selected.uidvalidity
            await self.index.refresh(client, selected.uidvalidity, selected.exists)
            done = await anyio.to_thread.run_sync(self._load_journal)
            multi = client.has_capability("MULTIAPPEND")
            # Fewer batches in flight as retrying() lowers the depth after throttling.
            depth = server.pipeline_depth
            self.workers = (
                max(1, min(depth // 8, MAX_IN_FLIGHT)) if multi else max(1, min(depth, 32))
            )
            await self._pump(client, _CountingSkip(done, self.already), multi)

    async def _open(self, client: Client) -> SelectResult:
        """CREATE (when allowed), STATUS APPENDLIMIT (when offered) and EXAMINE,
        pipelined: one round trip instead of three or four.  A CREATE refused
        because the mailbox exists (``[ALREADYEXISTS]``, or any NO when the
        EXAMINE behind it succeeds) is fine; sets :attr:`limit`."""
        batch = Batch(client)
        create = batch.create(self.mailbox) if self.create else None
        status = None
        if "APPENDLIMIT" in client.capabilities:
            status = batch.status(self.mailbox, ["APPENDLIMIT"])
        examine = batch.select(self.mailbox, readonly=True)
        with contextlib.suppress(CommandError):  # looked at item by item below
            await batch.run()
        if create is not None:
            if create.error is None:
                self.created = True
                self.progress.note(f"created mailbox {self.mailbox!r}")
            elif examine.error is not None or not isinstance(create.error, CommandError):
                raise create.error
        selected = examine.value  # raises the EXAMINE's error
        self.limit = self._limit_from(
            client, status.value.appendlimit if status is not None else None
        )
        return selected

    def _has_pending_rows(self) -> bool:
        return any(
            e.status != "appended" for e in self.state.journal_entries(self.account, self.mailbox)
        )

    async def _settle(self, client: Client) -> None:
        """Wait until the target mailbox stops growing.

        ``pending`` rows mean an earlier run died with APPENDs in flight.  Its
        server session may still be committing them for a moment after the
        client is gone; checking the mailbox before they land would append them
        again.  So, only after such a crash, wait until two STATUS readings
        :data:`SETTLE_INTERVAL` apart agree (at most :data:`SETTLE_MAX` seconds).
        """
        last: int | None = None
        with anyio.move_on_after(SETTLE_MAX):
            while True:
                status = await client.status(self.mailbox, ["MESSAGES"])
                if status.messages == last:
                    return
                last = status.messages
                await anyio.sleep(SETTLE_INTERVAL)
        self.progress.note(f"mailbox {self.mailbox!r} still changing after {SETTLE_MAX:.0f} s")

    def _load_journal(self) -> set[str]:
        done: set[str] = set()
        self.pending.clear()
        for e in self.state.journal_entries(self.account, self.mailbox):
            current = e.uidvalidity is None or e.uidvalidity == self.uidvalidity
            if e.status == "appended" and current:
                done.add(e.source_id)
            else:
                self.pending.add(e.source_id)
        return done

    async def _ensure_mailbox(self, client: Client) -> None:
        listed = await client.list("", self.mailbox)
        if any(info.name == self.mailbox for info in listed):
            return
        if not self.create:
            raise InvalidArgumentError(f"mailbox {self.mailbox!r} does not exist")
        try:
            await client.create(self.mailbox)
        except CommandError as exc:
            if (exc.code or "").upper() != "ALREADYEXISTS":
                raise
        else:
            self.created = True
            self.progress.note(f"created mailbox {self.mailbox!r}")

    async def _append_limit(self, client: Client) -> int | None:
        """The smallest of the caller's limit, ``APPENDLIMIT=n`` and the mailbox's
        ``STATUS APPENDLIMIT`` (RFC 7889); ``None`` for no limit."""
        mailbox_limit = None
        if "APPENDLIMIT" in client.capabilities:
            mailbox_limit = (await client.status(self.mailbox, ["APPENDLIMIT"])).appendlimit
        return self._limit_from(client, mailbox_limit)

    def _limit_from(self, client: Client, mailbox_limit: int | None) -> int | None:
        limits = [self.user_limit] if self.user_limit is not None else []
        for cap in client.capabilities:
            if cap.startswith("APPENDLIMIT="):
                value = cap.partition("=")[2]
                if value.isdigit():
                    limits.append(int(value))
        if mailbox_limit is not None:
            limits.append(mailbox_limit)
        return min(limits) if limits else None

    def _iterate(self, skip: Container[str]) -> Iterator[SourceMessage]:
        if self.fmt == "mbox":
            return iter_mbox(self.source, skip=skip)
        if self.fmt == "maildir":
            return iter_maildir(self.source, skip=skip)
        return iter_eml_folder(self.source, skip=skip)

    async def _pump(self, client: Client, skip: _CountingSkip, multi: bool) -> None:
        """Reader -> batches -> ``workers`` APPEND tasks -> committer.  The first
        error stops reading and appending; what was confirmed is still committed."""
        errors: list[Exception] = []
        batches_send, batches_recv = anyio.create_memory_object_stream[_Batch]()
        done_send, done_recv = anyio.create_memory_object_stream[_Done](math.inf)

        async def guarded(fn: Callable[..., Awaitable[None]], *args: Any) -> None:
            try:
                await fn(*args)
            except Exception as exc:
                if not errors:
                    errors.append(exc)
                work.cancel_scope.cancel()

        it = self._iterate(skip)
        try:
            async with anyio.create_task_group() as outer:
                outer.start_soon(guarded, self._commit_loop, done_recv)
                async with done_send, anyio.create_task_group() as work:
                    work.start_soon(
                        guarded, self._produce, client, it, batches_send, multi,
                        _Budget(self.batch_bytes),
                    )  # fmt: skip
                    for _ in range(self.workers):
                        work.start_soon(
                            guarded, self._append_loop, client, batches_recv.clone(),
                            done_send.clone(),
                        )  # fmt: skip
                    batches_recv.close()
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()
            # APPENDs that completed while we were stopping (cancelled, or another
            # task failed): record them now, or they would stay "maybe appended".
            with anyio.CancelScope(shield=True):
                leftovers = _drain(done_recv)
                done_recv.close()
                if leftovers:
                    try:
                        await self._commit(leftovers)
                    except Exception as exc:  # the rows stay pending: resolved next run
                        self.progress.note(f"could not record {len(leftovers)} uploads: {exc}")
        if errors:
            raise errors[0]

    # --- the three stages -------------------------------------------------------------

    async def _produce(
        self,
        client: Client,
        it: Iterator[SourceMessage],
        out: ObjectSendStream[_Batch],
        multi: bool,
        budget: _Budget,
    ) -> None:
        """Read, check and journal a window at a time, and hand it to the APPEND
        tasks; a window's bytes stay in the ``budget`` until the server has
        answered every APPEND of it (that bounds the memory, see the module
        docs): small first windows leave room for several in flight."""
        count = min(FIRST_WINDOW, self.batch_count)
        size = max(1, self.batch_bytes // WINDOWS)
        async with out:
            while True:
                free = await budget.room()
                window = await anyio.to_thread.run_sync(_take, it, count, min(size, free))
                if not window:
                    return
                count = min(2 * count, self.batch_count)
                read = sum(m.size for m in window)
                budget.take(read)
                todo = await self._decide(client, window)
                del window
                kept = sum(m.size for m in todo)
                budget.give(read - kept)  # what the checks passed over is freed
                if not todo:
                    continue
                await anyio.to_thread.run_sync(self._journal_pending, todo)
                held = _Held(budget, kept, 1 if multi else len(todo))
                if multi:
                    await out.send(_Batch(todo, held))
                else:
                    for m in todo:
                        await out.send(_Batch([m], held))
                del todo

    async def _decide(self, client: Client, window: list[SourceMessage]) -> list[SourceMessage]:
        """Gates 2 and 3 of the module docs; settles ``pending`` rows found on the server."""
        await self.index.hash_candidates(client, window)
        todo: list[SourceMessage] = []
        found: list[tuple[SourceMessage, UID]] = []
        skipped = 0
        for m in window:
            sid = m.source_id
            if self.limit is not None and m.size > self.limit:
                if sid not in self.too_large:
                    self.too_large[sid] = None
                    self.progress.note(f"{sid}: {m.size} bytes, over the limit of {self.limit}")
                    skipped += 1
                continue
            uid = self.index.on_server(m)
            if uid is not None and sid in self.pending:
                # Our APPEND of an earlier attempt or run landed; its OK was lost.
                found.append((m, uid))
                continue
            if uid is not None or self.index.scheduled(m):
                if sid not in self.duplicates:
                    self.duplicates.add(sid)
                    skipped += 1
                continue
            self.index.schedule(m)
            todo.append(m)
        if found:
            rows = [(m.source_id, self.uidvalidity, uid) for m, uid in found]
            await anyio.to_thread.run_sync(
                _journal_appended, self.state, self.account, self.mailbox, rows
            )
            for m, _ in found:
                self.pending.discard(m.source_id)
                if m.source_id in self.sent:  # sent by an earlier attempt of this run
                    self.appended[m.source_id] = m.size
                    self.progress.advance(messages=1, bytes=m.size)
                else:
                    self.recovered.add(m.source_id)
                    skipped += 1
        if skipped:
            self.progress.advance(messages=skipped)
        return todo

    def _journal_pending(self, todo: list[SourceMessage]) -> None:
        with self.state.transaction(durable=True):
            for m in todo:
                self.state.journal_add(
                    self.account, self.mailbox, m.source_id,
                    size=m.size, message_id=m.message_id, sha256=m.sha256,
                )  # fmt: skip
        self.pending.update(m.source_id for m in todo)

    async def _append_loop(
        self,
        client: Client,
        batches: ObjectReceiveStream[_Batch],
        done: MemoryObjectSendStream[_Done],
    ) -> None:
        async with batches, done:
            async for item in batches:
                held, messages = item.held, item.messages
                del item  # so that the messages are freed once appended (not at the next one)
                try:
                    await self._append(client, messages, done)
                finally:
                    messages.clear()
                    held.release()

    async def _append(
        self,
        client: Client,
        batch: list[SourceMessage],
        done: MemoryObjectSendStream[_Done],
    ) -> None:
        self.sent.update(m.source_id for m in batch)
        try:
            result = await client.append_many(self.mailbox, [_append_message(m) for m in batch])
        except CommandError as exc:
            if classify(exc) is not None or (exc.code or "").upper() in _FATAL_CODES:
                raise
            if len(batch) > 1:  # find the message the server refuses
                half = len(batch) // 2
                await self._append(client, batch[:half], done)
                await self._append(client, batch[half:], done)
                return
            sid = batch[0].source_id
            if (exc.code or "").upper() == "TOOBIG":
                self.too_large[sid] = None
            else:
                code = f"[{exc.code}] " if exc.code else ""
                self.failures[sid] = f"{exc.status} {code}{exc.text}"
            self.progress.note(f"{sid}: the server refused it: {exc}")
            return
        # Only what the journal and the content index need is kept from here on.
        light = [replace(m, data=b"") for m in batch]
        done.send_nowait((light, result))  # unbounded: never blocks, never cancelled

    async def _commit_loop(self, done: MemoryObjectReceiveStream[_Done]) -> None:
        async for first in done:  # _pump closes the stream after a last drain
            await self._commit([first, *_drain(done)])

    async def _commit(self, items: list[_Done]) -> None:
        rows: list[tuple[str, int | None, UID | None]] = []
        for batch, result in items:
            uids: Sequence[UID | None] = result.uid_list
            if len(uids) != len(batch):
                uids = [None] * len(batch)
            validity = result.uidvalidity if result.uidvalidity is not None else self.uidvalidity
            for m, uid in zip(batch, uids, strict=True):
                rows.append((m.source_id, validity, uid))
        await anyio.to_thread.run_sync(
            _journal_appended, self.state, self.account, self.mailbox, rows
        )
        count = size = 0
        for batch, result in items:
            uids = result.uid_list if len(result.uid_list) == len(batch) else [None] * len(batch)
            for m, uid in zip(batch, uids, strict=True):
                self.pending.discard(m.source_id)
                self.index.appended(m, uid)
                self.failures.pop(m.source_id, None)
                if m.source_id not in self.appended:
                    self.appended[m.source_id] = m.size
                    count += 1
                    size += m.size
        self.progress.advance(messages=count, bytes=size)

    # --- the result ---------------------------------------------------------------------

    def report(self, duration: float) -> ImportReport:
        appended = set(self.appended)
        recovered = self.recovered - appended
        return ImportReport(
            mailbox=self.mailbox,
            source=self.source,
            source_format=self.fmt,
            appended=len(appended),
            already_imported=len(self.already - appended - recovered),
            recovered=len(recovered),
            skipped_duplicates=len(self.duplicates - appended),
            too_large=tuple(self.too_large),
            failures=tuple(ImportFailure(s, r) for s, r in self.failures.items()),
            bytes=sum(self.appended.values()),
            duration=duration,
            attempts=self.attempts,
            created_mailbox=self.created,
            uidvalidity=self.uidvalidity,
            append_limit=self.limit,
        )


class _Budget:
    """Bytes of source messages held in memory: windows read, checked, queued
    or with the server.  :meth:`room` waits while the budget is spent; a window
    may overshoot it by its last message (a message is never split)."""

    __slots__ = ("_room", "held", "total")

    def __init__(self, total: int) -> None:
        self.total = max(1, total)
        self.held = 0
        self._room: anyio.Event | None = None

    async def room(self) -> int:
        """The bytes free, once there are any."""
        while self.held >= self.total:
            if self._room is None:
                self._room = anyio.Event()
            await self._room.wait()
        return self.total - self.held

    def take(self, n: int) -> None:
        self.held += n

    def give(self, n: int) -> None:
        self.held -= n
        if n and self._room is not None:
            self._room.set()
            self._room = None


class _Held:
    """One window's bytes in the budget: given back when the server has answered
    all ``parts`` APPENDs of the window (one MULTIAPPEND, or one per message)."""

    __slots__ = ("_budget", "_bytes", "_parts")

    def __init__(self, budget: _Budget, nbytes: int, parts: int) -> None:
        self._budget, self._bytes, self._parts = budget, nbytes, parts

    def release(self) -> None:
        self._parts -= 1
        if self._parts == 0:
            self._budget.give(self._bytes)


@dataclass(frozen=True, slots=True)
class _Batch:
    """What one APPEND task sends: messages of one window."""

    messages: list[SourceMessage]
    held: _Held


def _drain(stream: MemoryObjectReceiveStream[_Done]) -> list[_Done]:
    """Everything already waiting in ``stream``, without blocking."""
    items: list[_Done] = []
    while True:
        try:
            items.append(stream.receive_nowait())
        except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):  # noqa: PERF203
            return items


def _append_message(m: SourceMessage) -> AppendMessage:
    flags = tuple(f for f in m.flags if f != Flag.RECENT)  # cannot be set (RFC 9051 2.3.2)
    return AppendMessage(m.data, flags, m.internaldate)
