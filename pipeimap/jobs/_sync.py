"""``sync``: keep a local mirror of mailboxes current, in both directions for flags.

Theory of operation.  The first run of a mailbox is an archive.  Later runs
ask the server only for what changed since the mod-sequence saved in the job
state:

* ``qresync`` (RFC 7162 section 3.2.5): ``SELECT box (QRESYNC (uidvalidity
  modseq known-uids))`` returns the expunged UIDs (``VANISHED (EARLIER)``) and
  the messages whose flags changed, in the SELECT itself;
* ``condstore`` (RFC 7162 section 3.1): ``UID FETCH 1:* (FLAGS MODSEQ)
  (CHANGEDSINCE modseq)`` for the changes, ``UID SEARCH ALL`` for expunges;
* ``full``: ``UID SEARCH ALL`` and the FLAGS of every message, compared with
  the state (any server).

Incremental modes need a complete earlier run (``last_full_sync`` and
``highestmodseq`` in the state); otherwise the mailbox is compared in full.

Flags are merged **per flag, three ways**, against the flags recorded at the
last sync: a flag changed on one side only takes that side's value; a flag
changed on both sides was changed the same way (a flag is on or off), so there
is never a conflict to lose.  Local changes are read from Maildir file names
(the only format whose flags a mail client edits in place) and pushed with
``UID STORE ... FLAGS`` guarded by ``UNCHANGEDSINCE`` (CONDSTORE): a message
changed on the server after we looked is fetched again, merged again and
retried; without CONDSTORE only the locally changed flags are sent
(``+FLAGS``/``-FLAGS``), so other flags changed meanwhile on the server are not
overwritten.  ``push_flags=False`` makes the server authoritative (local flag
edits are reverted).

Expunged on the server -> removed locally (``keep_expunged=True`` leaves the
file but forgets it).  pipeimap never deletes on the server: a message whose
local file was deleted is downloaded again.  A changed UIDVALIDITY starts the
mailbox afresh; the old messages are moved aside (or removed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from ..client import Client, FetchedMessage, SelectResult
from ..errors import UsageError
from ..protocol import UID, Flag, ModSeq, QResync, UIDSet
from ..store import (
    JobState,
    LocalKey,
    MailboxState,
    MaildirStore,
    MboxStore,
    MessageRecord,
    normalize_flags,
)
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
    save_markers,
    server_uidvalidity,
    settle_orphans,
    verify,
)
from ._progress import Progress
from ._retry import RetryPolicy, retrying
from ._server import ServerSpec

__all__ = ["MailboxSyncReport", "SyncMode", "SyncReport", "sync"]

SyncMode = Literal["auto", "qresync", "condstore", "full"]
_PUSH_ROUNDS = 3
_MAX_KNOWN_UIDS = 4000  # bytes of the known-uids set in SELECT (it cannot be split)


@dataclass(frozen=True, slots=True)
class MailboxSyncReport:
    """What :func:`sync` did to one mailbox.

    ``mode``: how changes were found (``"initial"`` for a first or restarted
    mailbox).  ``flags_from_server``: local messages whose flags were updated;
    ``flags_to_server``: messages whose local flag changes were stored on the
    server; ``both_changed``: messages changed on both sides (merged per flag);
    ``push_deferred``: local changes not pushed because the message kept
    changing on the server (retried next run).
    """

    mailbox: str
    uidvalidity: int
    mode: str
    server_messages: int
    downloaded: int
    bytes: int
    removed: int = 0
    flags_from_server: int = 0
    flags_to_server: int = 0
    both_changed: int = 0
    push_deferred: int = 0
    reset: bool = False
    replaced: int = 0
    verification: Verification | None = None


@dataclass(frozen=True, slots=True)
class SyncReport:
    """The result of :func:`sync`."""

    mailboxes: tuple[MailboxSyncReport, ...]
    skipped_mailboxes: tuple[tuple[str, str], ...]
    duration: float
    state_path: Path

    @property
    def downloaded(self) -> int:
        return sum(m.downloaded for m in self.mailboxes)

    @property
    def removed(self) -> int:
        return sum(m.removed for m in self.mailboxes)

    @property
    def bytes(self) -> int:
        return sum(m.bytes for m in self.mailboxes)

    @property
    def flags_from_server(self) -> int:
        return sum(m.flags_from_server for m in self.mailboxes)

    @property
    def flags_to_server(self) -> int:
        return sum(m.flags_to_server for m in self.mailboxes)

    @property
    def ok(self) -> bool:
        return all(m.verification is None or m.verification.ok for m in self.mailboxes)


@dataclass(frozen=True, slots=True)
class _Options:
    mode: SyncMode
    push_flags: bool
    keep_expunged: bool
    verify: bool
    rule: UidValidityRule


async def sync(
    server: ServerSpec,
    dest: str | Path,
    *,
    mailboxes: Sequence[str] | None = None,
    format: Format = "maildir",
    state_path: str | Path | None = None,
    mode: SyncMode = "auto",
    push_flags: bool = True,
    keep_expunged: bool = False,
    connections: int = 3,
    chunk: int = 250,
    verify: bool = True,
    skip_special_use: Iterable[str] = DEFAULT_SKIP_SPECIAL_USE,
    on_uidvalidity_change: UidValidityRule = "move-aside",
    progress: Progress | None = None,
    retry: RetryPolicy | None = None,
    fsync: bool = True,
) -> SyncReport:
    """Bring the local mirror in ``dest`` up to date with the server, and push
    local (Maildir) flag changes back.

    Args:
        mode: ``"auto"`` uses QRESYNC, else CONDSTORE, else a full comparison;
            the others force one (``"qresync"``/``"condstore"`` raise
            :class:`~pipeimap.UsageError` when the server lacks them).
        push_flags: store local flag changes on the server (three-way merge per
            flag); ``False`` makes the server's flags win.
        keep_expunged: leave the local copy of a message expunged on the
            server (it is no longer tracked).

    The other arguments are those of :func:`archive`.
    """
    check_format(format)
    if mode not in ("auto", "qresync", "condstore", "full"):
        raise UsageError(f"unknown sync mode {mode!r}")
    if chunk < 1 or connections < 1:
        raise ValueError("chunk and connections must be positive")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    path = default_state_path(dest, Path(state_path) if state_path is not None else None)
    progress = null_progress(progress)
    options = _Options(mode, push_flags, keep_expunged, verify, on_uidvalidity_change)
    clock = Clock()
    reports: dict[str, MailboxSyncReport] = {}
    order: list[str] = []
    skipped_boxes: tuple[tuple[str, str], ...] = ()
    state = await in_thread(lambda: JobState(path))
    try:
        job = Job(server.describe(), format, dest, state, progress, chunk, fsync)

        async def step(spec: ServerSpec, attempt: int) -> None:
            nonlocal skipped_boxes, order
            async with spec.pool(connections) as pool:
                async with pool.connection() as client:
                    choice = await choose_mailboxes(client, mailboxes, skip_special_use)
                    _check_mode(client, mode)
                skipped_boxes = choice.skipped
                order = list(choice.names)
                await job.ensure_store(choice.separator)
                todo = [n for n in choice.names if n not in reports]

                async def work(name: str) -> None:
                    async with pool.connection() as client:
                        reports[name] = await _MailboxSync(client, job, name, options).run()

                await run_workers(todo, connections, work)

        await retrying(step, server, policy=retry, progress=progress)
    finally:
        await in_thread(state.close)
    return SyncReport(
        tuple(reports[n] for n in order if n in reports), skipped_boxes, clock.elapsed(), path
    )


def _check_mode(client: Client, mode: SyncMode) -> None:
    if mode == "qresync" and not client.has_capability("QRESYNC"):
        raise UsageError("mode='qresync' but the server does not offer QRESYNC")
    if mode == "condstore" and not client.has_capability("CONDSTORE"):
        raise UsageError("mode='condstore' but the server does not offer CONDSTORE")


def merge_flags(
    base: frozenset[Flag],
    server: frozenset[Flag],
    local: frozenset[Flag],
    representable: frozenset[Flag],
) -> frozenset[Flag]:
    """Three-way merge per flag.  ``local`` holds only flags the store can
    carry (``representable`` of the universe); others follow the server."""
    merged = set(server)
    lowered = {f.lower(): f for f in representable}
    base_l = {f.lower() for f in base}
    server_l = {f.lower() for f in server}
    local_l = {f.lower() for f in local}
    for low, flag in lowered.items():
        local_changed = (low in local_l) != (low in base_l)
        server_changed = (low in server_l) != (low in base_l)
        if local_changed and not server_changed:
            if low in local_l:
                merged.add(flag)
            else:
                merged = {f for f in merged if f.lower() != low}
    return frozenset(merged)


_ALL_LETTER_FLAGS = frozenset(
    (Flag.SEEN, Flag.ANSWERED, Flag.FLAGGED, Flag.DELETED, Flag.DRAFT, Flag("$Forwarded"))
)


class _MailboxSync:
    def __init__(self, client: Client, job: Job, name: str, options: _Options) -> None:
        self.client = client
        self.job = job
        self.name = name
        self.opt = options
        assert job.store is not None
        self.store = job.store
        self.state: JobState = job.state
        self.account = job.account

    # --- the plan ---------------------------------------------------------------------

    def _read_local(
        self,
    ) -> tuple[MailboxState | None, dict[UID, MessageRecord], dict[UID, frozenset[Flag]]]:
        """(state, records, local flag changes) -- worker thread."""
        mstate = self.state.mailbox_state(self.account, self.name)
        if mstate is None:
            return None, {}, {}
        drop_lost(self.job, self.name)
        records = {r.uid: r for r in self.state.messages(self.account, self.name)}
        changes: dict[UID, frozenset[Flag]] = {}
        if isinstance(self.store, MaildirStore):
            on_disk = self.store.scan(self.name)
            for uid, r in records.items():
                disk = on_disk.get(r.key)
                if disk is not None and disk != self.store.representable(r.flags):
                    changes[uid] = disk
        return mstate, records, changes

    def _pick_mode(self, mstate: MailboxState | None) -> str:
        caps = self.client.capabilities
        incremental = (
            mstate is not None
            and mstate.highestmodseq is not None
            and mstate.last_full_sync is not None
        )
        wanted = self.opt.mode
        if not incremental:
            return "full"
        if wanted == "auto":
            if "QRESYNC" in caps:
                return "qresync"
            return "condstore" if "CONDSTORE" in caps else "full"
        return wanted

    async def run(self) -> MailboxSyncReport:
        mstate, records, local_changes = await in_thread(self._read_local)
        mode = self._pick_mode(mstate)
        # Ask for mod-sequences whenever the server has them, unless "full" is
        # forced (which then behaves as on a server without CONDSTORE).
        condstore = self.opt.mode != "full" and self.client.has_capability("CONDSTORE")
        readonly = not (self.opt.push_flags and local_changes)
        if mode == "qresync":
            assert mstate is not None
            assert mstate.highestmodseq is not None
            known: UIDSet | None = UIDSet(*sorted(records)) if records else None
            if known is not None and len(known.to_bytes()) > _MAX_KNOWN_UIDS:
                known = None  # optional (RFC 7162 3.2.5); VANISHED is then unfiltered
            sel = await self.client.select(
                self.name,
                readonly=readonly,
                qresync=QResync(mstate.uidvalidity, ModSeq(mstate.highestmodseq), known),
            )
        else:
            sel = await self.client.select(self.name, readonly=readonly, condstore=condstore)
        uidvalidity = server_uidvalidity(sel.uidvalidity, self.name)

        def begin() -> tuple[bool, int]:
            ms = self.state.begin_mailbox(self.account, self.name, uidvalidity=uidvalidity)
            return ms.reset, settle_orphans(self.job, self.name, self.opt.rule)

        reset, replaced = await in_thread(begin)
        if reset or mstate is None:
            if reset:
                self.job.progress.note(
                    f"{self.name}: UIDVALIDITY changed to {uidvalidity}; starting afresh"
                )
            records, local_changes, mode = {}, {}, "initial"
        return await self._sync(
            sel, uidvalidity, mode, mstate, records, local_changes, reset, replaced
        )

    async def _sync(
        self,
        sel: SelectResult,
        uidvalidity: int,
        mode: str,
        mstate: MailboxState | None,
        records: dict[UID, MessageRecord],
        local_changes: dict[UID, frozenset[Flag]],
        reset: bool,
        replaced: int,
    ) -> MailboxSyncReport:
        client = self.client
        known = set(records)
        changed: dict[UID, FetchedMessage] = {}
        on_server = await all_uids(client, sel.exists)
        new = on_server - known
        if mode == "qresync":
            vanished = set(sel.vanished) & known if sel.vanished is not None else set()
            vanished |= known - on_server  # expunged after the SELECT answered
            changed = {m.uid: m for m in sel.changed if m.uid is not None}
        else:
            vanished = known - on_server
            if mode == "condstore" and sel.exists:
                assert mstate is not None
                assert mstate.highestmodseq is not None
                async with client.fetch(
                    "1:*", ("FLAGS", "MODSEQ"), changed_since=mstate.highestmodseq
                ) as msgs:
                    changed = {m.uid: m async for m in msgs if m.uid is not None}
            elif known & on_server:
                async with client.fetch(UIDSet(*sorted(known & on_server)), ("FLAGS",)) as msgs:
                    async for m in msgs:
                        r = records.get(m.uid) if m.uid is not None else None
                        if r is not None and normalize_flags(m.flags or ()) != r.flags:
                            changed[r.uid] = m

        removed = await self._remove(vanished, records)
        for uid in vanished:
            records.pop(uid, None)
            local_changes.pop(uid, None)
        flags_in, flags_out, both, deferred = await self._flags(
            sel, mode, records, changed, local_changes
        )

        phase = f"sync {self.name}"
        self.job.progress.start(phase, total_messages=len(new), total_bytes=None)
        modseq = sel.highestmodseq is not None
        downloaded, nbytes = await download(
            client, self.job, self.name, uidvalidity, sorted(new), modseq=modseq
        )
        self.job.progress.finish(phase)

        stored = await in_thread(lambda: self.state.known_uids(self.account, self.name))
        complete = on_server <= stored or not await _still_there(client, on_server - stored)
        if complete:
            hms = int(sel.highestmodseq) if sel.highestmodseq else None
            await in_thread(
                lambda: self.state.update_mailbox(
                    self.account,
                    self.name,
                    uidnext=sel.uidnext,
                    highestmodseq=hms,
                    full_sync_at=now_utc(),
                )
            )
        verification = None
        if self.opt.verify:
            verification = await verify(
                client, self.job, self.name, on_server, allow_extra=self.opt.keep_expunged
            )
        return MailboxSyncReport(
            self.name,
            uidvalidity,
            mode,
            len(on_server),
            downloaded,
            nbytes,
            removed,
            flags_in,
            flags_out,
            both,
            deferred,
            reset,
            replaced,
            verification,
        )

    # --- expunges ---------------------------------------------------------------------

    async def _remove(self, vanished: set[UID], records: dict[UID, MessageRecord]) -> int:
        if not vanished:
            return 0
        keys = [records[u].key for u in sorted(vanished) if u in records]
        keep = self.opt.keep_expunged

        def commit(moved: dict[LocalKey, LocalKey]) -> None:
            with self.state.transaction(durable=self.job.fsync):
                self.state.remove_messages(self.account, self.name, sorted(vanished))
                self.state.rekey(moved)
                save_markers(self.job, self.name)

        def apply() -> None:
            # The store runs the transaction (commit) at its safe point: Maildir
            # and .eml after the unlinks are durable (a kill in between leaves rows
            # whose files are gone, which the next run forgets -- never a file
            # nobody tracks); mbox between the durable rewritten temp file and
            # its rename, which recover() finishes once the rows are committed.
            if keep:
                commit({})
                return
            _rekey_records(records, self.store.remove(keys, commit=commit))

        await in_thread(apply)
        return len(keys)

    # --- flags ------------------------------------------------------------------------

    async def _flags(
        self,
        sel: SelectResult,
        mode: str,
        records: dict[UID, MessageRecord],
        changed: dict[UID, FetchedMessage],
        local_changes: dict[UID, frozenset[Flag]],
    ) -> tuple[int, int, int, int]:
        store = self.store
        server_flags = {
            u: normalize_flags(m.flags or ()) for u, m in changed.items() if u in records
        }
        modseqs = {
            u: int(m.modseq) for u, m in changed.items() if u in records and m.modseq is not None
        }
        disk_flags = dict(local_changes)  # what the files carry now
        if not self.opt.push_flags:
            local_changes = {}  # the server wins: local edits are reverted
        touched = set(server_flags) | set(disk_flags)
        both = len(set(server_flags) & set(local_changes))
        universe = store.representable(_ALL_LETTER_FLAGS)

        def merged_for(uid: UID) -> frozenset[Flag]:
            r = records[uid]
            srv = server_flags.get(uid, r.flags)
            local = local_changes.get(uid, store.representable(r.flags))
            return merge_flags(r.flags, srv, local, universe)

        result = {u: merged_for(u) for u in touched}
        deferred: set[UID] = set()
        pushed = 0
        to_push = {
            u: f
            for u, f in result.items()
            if u in local_changes and f != server_flags.get(u, records[u].flags)
        }
        use_modseq = mode in ("qresync", "condstore") and sel.highestmodseq is not None
        watermark = max([int(sel.highestmodseq or 0), *modseqs.values()])
        for _round in range(_PUSH_ROUNDS):
            if not to_push:
                break
            if use_modseq:
                modified = await self._store_guarded(to_push, watermark, modseqs)
            else:
                await self._store_deltas(to_push, server_flags, records)
                modified = set()
            pushed += len(set(to_push) - modified)
            if not modified:
                to_push = {}
                break
            # Changed on the server after we looked: look again, merge again.
            fresh = await self.client.fetch_all(UIDSet(*sorted(modified)), ("FLAGS", "MODSEQ"))
            to_push = {}
            for m in fresh:
                if m.uid is None or m.uid not in records:
                    continue
                server_flags[m.uid] = normalize_flags(m.flags or ())
                if m.modseq is not None:
                    modseqs[m.uid] = int(m.modseq)
                    watermark = max(watermark, int(m.modseq))
                result[m.uid] = merged_for(m.uid)
                if result[m.uid] != server_flags[m.uid]:
                    to_push[m.uid] = result[m.uid]
        deferred = set(to_push)

        def commit_moves(moved: dict[LocalKey, LocalKey]) -> None:
            # An mbox rewrite: its moved keys and the file's new size commit
            # together, before the rename (see MboxStore).
            with self.state.transaction(durable=self.job.fsync):
                self.state.rekey(moved)
                save_markers(self.job, self.name)

        def apply() -> int:
            updates: dict[int, frozenset[Flag]] = {}
            from_server = 0
            for uid, flags in result.items():
                r = records[uid]
                if uid in deferred:
                    # Keep the old base so the local change is seen again next run.
                    continue
                disk = disk_flags.get(uid, store.representable(r.flags))
                if store.representable(flags) != disk:
                    if isinstance(store, MboxStore):
                        moved = store.set_flags(r.key, flags, commit=commit_moves)
                    else:  # keys never move; the rows follow in one transaction below
                        moved = store.set_flags(r.key, flags)
                    _rekey_records(records, moved)
                if uid in server_flags and flags != r.flags:
                    from_server += 1
                updates[uid] = flags
            store.flush()
            with self.state.transaction():
                self.state.update_flags(
                    self.account,
                    self.name,
                    updates,
                    modseqs={u: m for u, m in modseqs.items() if u in updates},
                )
                save_markers(self.job, self.name)
            return from_server

        flags_in = await in_thread(apply)
        return flags_in, pushed, both, len(deferred)

    async def _store_guarded(
        self, to_push: dict[UID, frozenset[Flag]], watermark: int, modseqs: dict[UID, int]
    ) -> set[UID]:
        """``UID STORE uids FLAGS (...) (UNCHANGEDSINCE watermark)`` per distinct
        flag set; returns the UIDs the server refused as modified."""
        groups: dict[frozenset[Flag], list[UID]] = {}
        for uid, flags in to_push.items():
            groups.setdefault(flags, []).append(uid)
        modified: set[UID] = set()
        for flags, uids in groups.items():
            result = await self.client.store(
                UIDSet(*sorted(uids)),
                sorted(flags),
                action="set",
                silent=False,
                unchanged_since=watermark,
            )
            if result.modified is not None:
                modified |= {UID(u) for u in result.modified}
            for m in result.messages:
                if m.uid is not None and m.modseq is not None and m.uid not in modified:
                    modseqs[m.uid] = int(m.modseq)
        return modified

    async def _store_deltas(
        self,
        to_push: dict[UID, frozenset[Flag]],
        server_flags: dict[UID, frozenset[Flag]],
        records: dict[UID, MessageRecord],
    ) -> None:
        """Without CONDSTORE: ``+FLAGS``/``-FLAGS`` of exactly the changed flags."""
        adds: dict[Flag, list[UID]] = {}
        removes: dict[Flag, list[UID]] = {}
        for uid, flags in to_push.items():
            current = server_flags.get(uid, records[uid].flags)
            for f in flags - current:
                adds.setdefault(f, []).append(uid)
            for f in current - flags:
                removes.setdefault(f, []).append(uid)
        for f, uids in adds.items():
            await self.client.store(UIDSet(*sorted(uids)), [f], action="add")
        for f, uids in removes.items():
            await self.client.store(UIDSet(*sorted(uids)), [f], action="remove")


def _rekey_records(records: dict[UID, MessageRecord], moved: Mapping[LocalKey, LocalKey]) -> None:
    """An mbox rewrite moved messages: follow them (the state got the same map)."""
    if moved:
        for uid, r in list(records.items()):
            if r.key in moved:
                records[uid] = replace(r, key=moved[r.key])


async def _still_there(client: Client, uids: set[UID]) -> bool:
    if not uids:
        return False
    found = await client.fetch_all(UIDSet(*sorted(uids)), ("UID",))
    return any(m.uid in uids for m in found)
