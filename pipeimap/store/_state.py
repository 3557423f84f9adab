"""Job state: an embedded SQLite file for archive, sync and import progress.

Theory of operation.  The state DB is the *commit record* of a job: a message is
done when its row is committed here, and everything a killed run left on disk
beyond that is either found again idempotently or cut away:

* Maildir / .eml: a message's file name is derived from (UIDVALIDITY, UID)
  (:func:`~pipeimap.store.message_name`), and delivering under an existing
  name writes nothing.  Order: ``deliver`` -> ``store.flush()`` -> commit the
  row.  A kill between rename and commit leaves a file without a row; the next
  run fetches the UID again, delivers it under the same name, gets the same key
  back, and records it.  No duplicate, nothing lost.
* mbox: the row and the file's committed size (:meth:`JobState.set_markers`)
  are committed in one transaction; ``MboxStore.recover(state.markers(...))``
  cuts whatever a killed run appended after it.
* import: a journal row is made durable as ``pending`` before the APPEND and
  flipped to ``appended`` (with the APPENDUID) after it.  A ``pending`` row
  left by a kill means "maybe on the server": look for it there (Message-ID)
  before appending again.

Durability: WAL mode.  ``synchronous=NORMAL`` by default: a commit survives a
process kill at once and a power cut from the next checkpoint on, and losing
the last archive rows to a power cut is harmless (see above: re-fetching is
idempotent).  Journal writes are the exception -- forgetting an APPEND that
happened would duplicate the message -- so their transactions commit with
``synchronous=FULL`` (WAL fsynced before COMMIT returns).  Pass
``synchronous="FULL"`` to make every commit durable.

Threads: one connection shared by all threads, every call serialised by one
re-entrant lock; :meth:`JobState.transaction` holds the lock for the whole
block, so a batch of writes from one worker thread is never interleaved with
another thread's.  Keep transactions short (a batch of rows, not a download).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Final, Literal

from ..errors import InvalidArgumentError, StoreError
from ..protocol._types import UID, Flag
from ._common import LocalKey, normalize_flags

__all__ = [
    "SCHEMA_VERSION",
    "JobState",
    "JournalEntry",
    "MailboxState",
    "MessageRecord",
]

APPLICATION_ID: Final = 0x70494D50  # "pIMP": marks the file as a pipeimap state DB

# MIGRATIONS[n] brings a database from schema version n to n + 1.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE mailboxes (
        account        TEXT NOT NULL,
        mailbox        TEXT NOT NULL,
        uidvalidity    INTEGER NOT NULL,
        uidnext        INTEGER,
        highestmodseq  INTEGER,
        last_full_sync REAL,
        PRIMARY KEY (account, mailbox)
    );
    CREATE TABLE messages (
        account      TEXT NOT NULL,
        mailbox      TEXT NOT NULL,
        uid          INTEGER NOT NULL,
        local_key    TEXT NOT NULL,
        flags        TEXT NOT NULL DEFAULT '',
        modseq       INTEGER,
        size         INTEGER,
        internaldate TEXT,
        message_id   TEXT,
        sha256       TEXT,
        PRIMARY KEY (account, mailbox, uid)
    );
    CREATE INDEX messages_by_key ON messages (local_key);
    CREATE INDEX messages_by_message_id ON messages (account, mailbox, message_id);
    CREATE TABLE orphans (
        account   TEXT NOT NULL,
        mailbox   TEXT NOT NULL,
        local_key TEXT NOT NULL,
        PRIMARY KEY (account, mailbox, local_key)
    );
    CREATE TABLE markers (
        store TEXT NOT NULL,
        name  TEXT NOT NULL,
        value INTEGER NOT NULL,
        PRIMARY KEY (store, name)
    );
    CREATE TABLE journal (
        account     TEXT NOT NULL,
        mailbox     TEXT NOT NULL,
        source_id   TEXT NOT NULL,
        message_id  TEXT,
        size        INTEGER NOT NULL,
        sha256      TEXT,
        status      TEXT NOT NULL CHECK (status IN ('pending', 'appended')),
        uidvalidity INTEGER,
        uid         INTEGER,
        updated     REAL NOT NULL,
        PRIMARY KEY (account, mailbox, source_id)
    );
    CREATE INDEX journal_by_message_id ON journal (account, mailbox, message_id, size);
    CREATE INDEX journal_by_sha256 ON journal (account, mailbox, sha256);
    """,
]
SCHEMA_VERSION: Final = len(MIGRATIONS)

JournalStatus = Literal["pending", "appended"]


@dataclass(frozen=True, slots=True)
class MailboxState:
    """What the last run knew of a mailbox.  ``reset`` is True when
    :meth:`JobState.begin_mailbox` just dropped the rows of an old UIDVALIDITY."""

    account: str
    mailbox: str
    uidvalidity: int
    uidnext: int | None
    highestmodseq: int | None
    last_full_sync: datetime | None
    reset: bool = False


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """One message of a mailbox as last synchronised (``flags`` include keywords)."""

    uid: UID
    key: LocalKey
    flags: frozenset[Flag] = frozenset()
    modseq: int | None = None
    size: int | None = None
    internaldate: datetime | None = None
    message_id: str | None = None
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One import source message and whether it reached the target mailbox."""

    account: str
    mailbox: str
    source_id: str
    message_id: str | None
    size: int
    sha256: str | None
    status: JournalStatus
    uidvalidity: int | None
    uid: UID | None


def _flags_text(flags: Iterable[str]) -> str:
    return " ".join(sorted(normalize_flags(flags)))


def _flags_of(text: str) -> frozenset[Flag]:
    return frozenset(Flag(f) for f in text.split())


def _date_text(d: datetime | None) -> str | None:
    if d is None:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    return d.isoformat()


_MSG_COLS: Final = "uid, local_key, flags, modseq, size, internaldate, message_id, sha256"
_JOURNAL_COLS: Final = (
    "account, mailbox, source_id, message_id, size, sha256, status, uidvalidity, uid"
)


def _message(row: tuple[object, ...]) -> MessageRecord:
    uid, key, flags, modseq, size, idate, msgid, sha = row
    return MessageRecord(
        uid=UID(int(uid)),  # type: ignore[call-overload]
        key=LocalKey(str(key)),
        flags=_flags_of(str(flags)),
        modseq=modseq,  # type: ignore[arg-type]
        size=size,  # type: ignore[arg-type]
        internaldate=datetime.fromisoformat(str(idate)) if idate is not None else None,
        message_id=msgid,  # type: ignore[arg-type]
        sha256=sha,  # type: ignore[arg-type]
    )


def _journal(row: tuple[object, ...]) -> JournalEntry:
    account, mailbox, sid, msgid, size, sha, status, uv, uid = row
    return JournalEntry(
        account=str(account),
        mailbox=str(mailbox),
        source_id=str(sid),
        message_id=msgid,  # type: ignore[arg-type]
        size=int(size),  # type: ignore[call-overload]
        sha256=sha,  # type: ignore[arg-type]
        status="appended" if status == "appended" else "pending",
        uidvalidity=uv,  # type: ignore[arg-type]
        uid=UID(int(uid)) if uid is not None else None,  # type: ignore[call-overload]
    )


class JobState:
    """The state file of a job (created when missing).  Use as a context manager
    or call :meth:`close`."""

    def __init__(
        self, path: str | Path, *, synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise InvalidArgumentError("synchronous must be 'NORMAL' or 'FULL'")
        self.path = Path(path)
        self._sync = synchronous
        self._lock = threading.RLock()
        self._depth = 0
        self._durable_pending = False
        self._db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except BaseException:
            self._db.close()
            raise

    # --- lifecycle ---------------------------------------------------------------------

    def _migrate(self) -> None:
        app_id = self._db.execute("PRAGMA application_id").fetchone()[0]
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        tables = self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app_id != APPLICATION_ID and (tables or version):
            raise StoreError(f"{self.path} is not a pipeimap state file")
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has state schema version {version}, newer than this "
                f"pipeimap's {SCHEMA_VERSION}; upgrade pipeimap"
            )
        with self.transaction(durable=True):
            for v in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[v].split(";"):
                    if statement.strip():
                        self._db.execute(statement)
            self._db.execute(f"PRAGMA application_id={APPLICATION_ID}")
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> JobState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self, *, durable: bool = False) -> Iterator[None]:
        """Group writes into one atomic commit (re-entrant: an inner block joins
        the outer one).  ``durable`` forces ``synchronous=FULL`` for this commit."""
        with self._lock:
            raised = False
            if self._depth == 0:
                # The safety level cannot change inside a transaction: set it first.
                raised = durable and self._sync != "FULL"
                if raised:
                    self._db.execute("PRAGMA synchronous=FULL")
                self._db.execute("BEGIN IMMEDIATE")
                self._durable_pending = False
            self._depth += 1
            self._durable_pending |= durable
            try:
                try:
                    yield
                except BaseException:
                    self._depth -= 1
                    if self._depth == 0:
                        self._db.execute("ROLLBACK")
                    raise
                self._depth -= 1
                if self._depth == 0:
                    self._db.execute("COMMIT")
                    if self._durable_pending and not raised and self._sync != "FULL":
                        # A durable write joined a NORMAL transaction: a checkpoint
                        # fsyncs the WAL (SQLite syncs it before every checkpoint).
                        self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            finally:
                if raised:
                    self._db.execute(f"PRAGMA synchronous={self._sync}")

    def _query(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with self._lock:
            return list(self._db.execute(sql, args).fetchall())

    # --- mailboxes -----------------------------------------------------------------------

    def mailbox_state(self, account: str, mailbox: str) -> MailboxState | None:
        rows = self._query(
            "SELECT uidvalidity, uidnext, highestmodseq, last_full_sync FROM mailboxes"
            " WHERE account=? AND mailbox=?",
            (account, mailbox),
        )
        if not rows:
            return None
        uv, un, hm, full = rows[0]
        return MailboxState(
            account,
            mailbox,
            int(uv),  # type: ignore[call-overload]
            un,  # type: ignore[arg-type]
            hm,  # type: ignore[arg-type]
            datetime.fromtimestamp(float(full), timezone.utc) if full is not None else None,  # type: ignore[arg-type]
        )

    def begin_mailbox(self, account: str, mailbox: str, *, uidvalidity: int) -> MailboxState:
        """Start (or resume) work on a mailbox whose server UIDVALIDITY is ``uidvalidity``.

        If the state knew the mailbox under another UIDVALIDITY, every row of it
        is dropped (:meth:`forget_mailbox`: their keys wait in
        :meth:`pending_orphans` for the job to delete the files) and a fresh
        state is returned with ``reset=True`` -- a clean re-sync, never a mix of
        old and new UIDs.
        """
        if uidvalidity <= 0:
            raise InvalidArgumentError("uidvalidity must be positive")
        with self.transaction():
            state = self.mailbox_state(account, mailbox)
            if state is not None and state.uidvalidity == uidvalidity:
                return state
            reset = state is not None
            if reset:
                self.forget_mailbox(account, mailbox)
            self._db.execute(
                "INSERT INTO mailboxes (account, mailbox, uidvalidity) VALUES (?, ?, ?)",
                (account, mailbox, uidvalidity),
            )
        return MailboxState(account, mailbox, uidvalidity, None, None, None, reset=reset)

    def update_mailbox(
        self,
        account: str,
        mailbox: str,
        *,
        uidnext: int | None = None,
        highestmodseq: int | None = None,
        full_sync_at: datetime | None = None,
    ) -> None:
        """Record progress; ``None`` leaves a field as it is."""
        with self.transaction():
            cur = self._db.execute(
                "UPDATE mailboxes SET uidnext=coalesce(?, uidnext),"
                " highestmodseq=coalesce(?, highestmodseq),"
                " last_full_sync=coalesce(?, last_full_sync) WHERE account=? AND mailbox=?",
                (
                    uidnext,
                    highestmodseq,
                    full_sync_at.timestamp() if full_sync_at is not None else None,
                    account,
                    mailbox,
                ),
            )
            if cur.rowcount == 0:
                raise InvalidArgumentError(f"begin_mailbox({mailbox!r}) was never called")

    def forget_mailbox(self, account: str, mailbox: str) -> list[LocalKey]:
        """Drop a mailbox's state; the local keys of its messages move to the
        orphan list (returned) until :meth:`orphans_removed` confirms deletion."""
        with self.transaction():
            self._db.execute(
                "INSERT OR IGNORE INTO orphans SELECT account, mailbox, local_key FROM messages"
                " WHERE account=? AND mailbox=?",
                (account, mailbox),
            )
            self._db.execute(
                "DELETE FROM messages WHERE account=? AND mailbox=?", (account, mailbox)
            )
            self._db.execute(
                "DELETE FROM mailboxes WHERE account=? AND mailbox=?", (account, mailbox)
            )
            return self.pending_orphans(account, mailbox)

    def pending_orphans(self, account: str, mailbox: str | None = None) -> list[LocalKey]:
        """Keys of local messages that belong to a forgotten UIDVALIDITY."""
        if mailbox is None:
            rows = self._query("SELECT local_key FROM orphans WHERE account=?", (account,))
        else:
            rows = self._query(
                "SELECT local_key FROM orphans WHERE account=? AND mailbox=?", (account, mailbox)
            )
        return sorted(LocalKey(str(r[0])) for r in rows)

    def orphans_removed(self, keys: Iterable[LocalKey]) -> None:
        with self.transaction():
            self._db.executemany("DELETE FROM orphans WHERE local_key=?", [(k,) for k in keys])

    def mailboxes(self, account: str) -> list[str]:
        rows = self._query("SELECT mailbox FROM mailboxes WHERE account=?", (account,))
        return sorted(str(r[0]) for r in rows)

    # --- messages ------------------------------------------------------------------------

    def record_message(
        self,
        account: str,
        mailbox: str,
        uid: int,
        *,
        key: LocalKey,
        flags: Iterable[str] = (),
        modseq: int | None = None,
        size: int | None = None,
        internaldate: datetime | None = None,
        message_id: str | None = None,
        sha256: str | None = None,
    ) -> None:
        """Insert or replace the row of (account, mailbox, uid): idempotent."""
        self.record_messages(
            account,
            mailbox,
            [
                MessageRecord(
                    UID(uid),
                    key,
                    normalize_flags(flags),
                    modseq,
                    size,
                    internaldate,
                    message_id,
                    sha256,
                )
            ],
        )

    def record_messages(self, account: str, mailbox: str, records: Iterable[MessageRecord]) -> None:
        """Insert or replace many rows in one transaction (or the caller's)."""
        rows = [
            (
                account,
                mailbox,
                int(UID(r.uid)),
                str(r.key),
                _flags_text(r.flags),
                r.modseq,
                r.size,
                _date_text(r.internaldate),
                r.message_id,
                r.sha256,
            )
            for r in records
        ]
        with self.transaction():
            self._db.executemany(
                f"INSERT OR REPLACE INTO messages (account, mailbox, {_MSG_COLS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def message(self, account: str, mailbox: str, uid: int) -> MessageRecord | None:
        rows = self._query(
            f"SELECT {_MSG_COLS} FROM messages WHERE account=? AND mailbox=? AND uid=?",
            (account, mailbox, int(uid)),
        )
        return _message(rows[0]) if rows else None

    def messages(self, account: str, mailbox: str) -> list[MessageRecord]:
        rows = self._query(
            f"SELECT {_MSG_COLS} FROM messages WHERE account=? AND mailbox=? ORDER BY uid",
            (account, mailbox),
        )
        return [_message(r) for r in rows]

    def message_by_key(self, key: LocalKey) -> tuple[str, str, MessageRecord] | None:
        """(account, mailbox, record) of the message stored under ``key``."""
        rows = self._query(
            f"SELECT account, mailbox, {_MSG_COLS} FROM messages WHERE local_key=?", (str(key),)
        )
        if not rows:
            return None
        return str(rows[0][0]), str(rows[0][1]), _message(rows[0][2:])

    def known_uids(self, account: str, mailbox: str) -> set[UID]:
        rows = self._query(
            "SELECT uid FROM messages WHERE account=? AND mailbox=?", (account, mailbox)
        )
        return {UID(int(r[0])) for r in rows}  # type: ignore[call-overload]

    def find_messages(self, account: str, mailbox: str, *, message_id: str) -> list[MessageRecord]:
        rows = self._query(
            f"SELECT {_MSG_COLS} FROM messages WHERE account=? AND mailbox=? AND message_id=?",
            (account, mailbox, message_id),
        )
        return [_message(r) for r in rows]

    def update_flags(
        self,
        account: str,
        mailbox: str,
        changes: Mapping[int, Iterable[str]],
        *,
        modseqs: Mapping[int, int] | None = None,
    ) -> None:
        """Set the flags (and optionally the modseq) of known UIDs."""
        modseqs = modseqs or {}
        with self.transaction():
            self._db.executemany(
                "UPDATE messages SET flags=?, modseq=coalesce(?, modseq)"
                " WHERE account=? AND mailbox=? AND uid=?",
                [
                    (_flags_text(fl), modseqs.get(uid), account, mailbox, int(uid))
                    for uid, fl in changes.items()
                ],
            )

    def remove_messages(self, account: str, mailbox: str, uids: Iterable[int]) -> list[LocalKey]:
        """Drop rows (expunged on the server); returns their local keys."""
        uid_list = [int(u) for u in uids]
        keys: list[LocalKey] = []
        with self.transaction():
            for uid in uid_list:
                # SELECT then DELETE rather than RETURNING (SQLite < 3.35 lacks it).
                row = self._db.execute(
                    "SELECT local_key FROM messages WHERE account=? AND mailbox=? AND uid=?",
                    (account, mailbox, uid),
                ).fetchone()
                if row is not None:
                    self._db.execute(
                        "DELETE FROM messages WHERE account=? AND mailbox=? AND uid=?",
                        (account, mailbox, uid),
                    )
                    keys.append(LocalKey(str(row[0])))
        return keys

    def rekey(self, moved: Mapping[LocalKey, LocalKey]) -> None:
        """Apply the old -> new keys a store returned (mbox rewrites)."""
        if not moved:
            return
        with self.transaction():
            # Look every row up before changing any, so chains (a -> b, b -> c) are safe.
            updates: list[tuple[object, ...]] = []
            for old, new in moved.items():
                rows = self._db.execute(
                    "SELECT account, mailbox, uid FROM messages WHERE local_key=?", (str(old),)
                ).fetchall()
                updates.extend((str(new), *row) for row in rows)
            self._db.executemany(
                "UPDATE messages SET local_key=? WHERE account=? AND mailbox=? AND uid=?",
                updates,
            )

    # --- store commit markers ------------------------------------------------------------

    def set_markers(self, store: str, markers: Mapping[str, int]) -> None:
        """Save a store's commit markers (``MboxStore.markers()``), in the caller's
        transaction when there is one."""
        with self.transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO markers (store, name, value) VALUES (?, ?, ?)",
                [(store, name, int(v)) for name, v in markers.items()],
            )

    def markers(self, store: str) -> dict[str, int]:
        rows = self._query("SELECT name, value FROM markers WHERE store=?", (store,))
        return {str(n): int(v) for n, v in rows}  # type: ignore[call-overload]

    # --- import journal ------------------------------------------------------------------

    def journal_add(
        self,
        account: str,
        mailbox: str,
        source_id: str,
        *,
        size: int,
        message_id: str | None = None,
        sha256: str | None = None,
    ) -> JournalEntry:
        """Note a source message as ``pending`` (durably) before it is appended.
        An existing row is returned unchanged (its status tells what to do)."""
        with self.transaction(durable=True):
            self._db.execute(
                f"INSERT OR IGNORE INTO journal ({_JOURNAL_COLS}, updated)"
                " VALUES (?, ?, ?, ?, ?, ?, 'pending', NULL, NULL, ?)",
                (account, mailbox, source_id, message_id, size, sha256, time.time()),
            )
            entry = self.journal_entry(account, mailbox, source_id)
        if entry is None:  # cannot happen: inserted or already there
            raise StoreError(f"journal row for {source_id!r} vanished")
        return entry

    def journal_entry(self, account: str, mailbox: str, source_id: str) -> JournalEntry | None:
        rows = self._query(
            f"SELECT {_JOURNAL_COLS} FROM journal WHERE account=? AND mailbox=? AND source_id=?",
            (account, mailbox, source_id),
        )
        return _journal(rows[0]) if rows else None

    def journal_mark_appended(
        self,
        account: str,
        mailbox: str,
        source_id: str,
        *,
        uidvalidity: int | None = None,
        uid: int | None = None,
    ) -> None:
        """Flip a row to ``appended`` (durably), with the APPENDUID when known."""
        with self.transaction(durable=True):
            cur = self._db.execute(
                "UPDATE journal SET status='appended', uidvalidity=?, uid=?, updated=?"
                " WHERE account=? AND mailbox=? AND source_id=?",
                (uidvalidity, uid, time.time(), account, mailbox, source_id),
            )
            if cur.rowcount == 0:
                raise InvalidArgumentError(f"no journal row for {source_id!r}")

    def journal_entries(
        self, account: str, mailbox: str, *, status: JournalStatus | None = None
    ) -> list[JournalEntry]:
        sql = f"SELECT {_JOURNAL_COLS} FROM journal WHERE account=? AND mailbox=?"
        args: tuple[object, ...] = (account, mailbox)
        if status is not None:
            sql += " AND status=?"
            args += (status,)
        return [_journal(r) for r in self._query(sql + " ORDER BY rowid", args)]

    def journal_find(
        self,
        account: str,
        mailbox: str,
        *,
        message_id: str | None = None,
        size: int | None = None,
        sha256: str | None = None,
    ) -> list[JournalEntry]:
        """``appended`` rows matching the content (Message-ID and size, or hash):
        the same message found under another source id (a copy in two files)."""
        clauses = ["account=?", "mailbox=?", "status='appended'"]
        args: list[object] = [account, mailbox]
        for col, value in (("message_id", message_id), ("size", size), ("sha256", sha256)):
            if value is not None:
                clauses.append(f"{col}=?")
                args.append(value)
        if len(args) == 2:
            raise InvalidArgumentError("journal_find needs message_id, size or sha256")
        rows = self._query(
            f"SELECT {_JOURNAL_COLS} FROM journal WHERE {' AND '.join(clauses)}", tuple(args)
        )
        return [_journal(r) for r in rows]

    def journal_counts(self, account: str, mailbox: str) -> dict[str, int]:
        rows = self._query(
            "SELECT status, count(*) FROM journal WHERE account=? AND mailbox=? GROUP BY status",
            (account, mailbox),
        )
        counts = {"pending": 0, "appended": 0}
        counts.update({str(s): int(n) for s, n in rows})  # type: ignore[call-overload]
        return counts
