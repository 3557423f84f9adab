"""The job state DB: schema versioning, idempotent records, UIDVALIDITY resets,
markers, the import journal, threads."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pipeimap.errors import InvalidArgumentError, StoreError
from pipeimap.protocol import UID, Flag
from pipeimap.store import SCHEMA_VERSION, JobState, LocalKey, MessageRecord, _state

DATE = datetime(2020, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
K = LocalKey


@pytest.fixture
def state(tmp_path: Path) -> Iterator[JobState]:
    s = JobState(tmp_path / "state.db")
    yield s
    s.close()


def test_schema_version_and_wal(tmp_path: Path) -> None:
    with JobState(tmp_path / "s.db") as s:
        assert s.schema_version == SCHEMA_VERSION
    db = sqlite3.connect(tmp_path / "s.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA application_id").fetchone()[0] == _state.APPLICATION_ID
    db.close()
    with JobState(tmp_path / "s.db") as s:  # reopening keeps the schema
        assert s.schema_version == SCHEMA_VERSION


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    JobState(tmp_path / "s.db").close()
    db = sqlite3.connect(tmp_path / "s.db")
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer"):
        JobState(tmp_path / "s.db")


def test_foreign_sqlite_file_is_refused(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "other.db")
    db.execute("CREATE TABLE t (x)")
    db.close()
    with pytest.raises(StoreError, match="not a pipeimap state file"):
        JobState(tmp_path / "other.db")


def test_migrations_run_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with JobState(tmp_path / "s.db") as s:
        s.begin_mailbox("a", "INBOX", uidvalidity=1)
    v2 = "ALTER TABLE mailboxes ADD COLUMN note TEXT"
    monkeypatch.setattr(_state, "MIGRATIONS", [*_state.MIGRATIONS, v2])
    monkeypatch.setattr(_state, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with JobState(tmp_path / "s.db") as s:
        assert s.schema_version == SCHEMA_VERSION + 1
        assert s.mailbox_state("a", "INBOX") is not None  # data kept
    db = sqlite3.connect(tmp_path / "s.db")
    assert "note" in [r[1] for r in db.execute("PRAGMA table_info(mailboxes)")]
    db.close()


def test_record_message_is_idempotent(state: JobState) -> None:
    state.begin_mailbox("a", "INBOX", uidvalidity=7)
    for _ in range(3):
        state.record_message(
            "a",
            "INBOX",
            42,
            key=K("./7_42"),
            flags=[Flag.SEEN, Flag("$Junk"), "\\Recent"],
            modseq=9,
            size=100,
            internaldate=DATE,
            message_id="<m@x>",
            sha256="ab" * 32,
        )
    assert state.known_uids("a", "INBOX") == {UID(42)}
    rec = state.message("a", "INBOX", 42)
    assert rec == MessageRecord(
        UID(42),
        K("./7_42"),
        frozenset({Flag.SEEN, Flag("$Junk")}),
        9,
        100,
        DATE,
        "<m@x>",
        "ab" * 32,
    )
    assert state.message_by_key(K("./7_42")) == ("a", "INBOX", rec)
    assert state.find_messages("a", "INBOX", message_id="<m@x>") == [rec]


def test_mailbox_progress(state: JobState) -> None:
    st = state.begin_mailbox("a", "INBOX", uidvalidity=7)
    assert (st.uidvalidity, st.uidnext, st.reset) == (7, None, False)
    state.update_mailbox("a", "INBOX", uidnext=10, highestmodseq=99, full_sync_at=DATE)
    state.update_mailbox("a", "INBOX", uidnext=11)
    got = state.mailbox_state("a", "INBOX")
    assert got is not None
    st = got
    assert (st.uidnext, st.highestmodseq, st.last_full_sync) == (11, 99, DATE)
    assert state.begin_mailbox("a", "INBOX", uidvalidity=7).uidnext == 11
    with pytest.raises(InvalidArgumentError):
        state.update_mailbox("a", "Other", uidnext=1)


def test_uidvalidity_change_resets_and_keeps_orphans_until_removed(state: JobState) -> None:
    state.begin_mailbox("a", "INBOX", uidvalidity=7)
    state.record_message("a", "INBOX", 1, key=K("./7_1"))
    state.record_message("a", "INBOX", 2, key=K("./7_2"))
    state.record_message("a", "Sent", 1, key=K(".Sent/7_1"))
    st = state.begin_mailbox("a", "INBOX", uidvalidity=8)
    assert st.reset
    assert st.uidvalidity == 8
    assert st.uidnext is None
    assert state.known_uids("a", "INBOX") == set()
    assert state.known_uids("a", "Sent") == {UID(1)}
    assert state.pending_orphans("a", "INBOX") == ["./7_1", "./7_2"]
    state.orphans_removed([K("./7_1")])
    assert state.pending_orphans("a") == ["./7_2"]


def test_flags_expunges_and_rekey(state: JobState) -> None:
    for uid in (1, 2, 3):
        state.record_message("a", "M", uid, key=K(f"M.mbox:{uid * 10}"), flags=[Flag.SEEN])
    state.update_flags("a", "M", {1: [Flag.FLAGGED], 2: []}, modseqs={1: 5})
    assert state.message("a", "M", 1).flags == {Flag.FLAGGED}  # type: ignore[union-attr]
    assert state.message("a", "M", 1).modseq == 5  # type: ignore[union-attr]
    assert state.message("a", "M", 2).flags == frozenset()  # type: ignore[union-attr]
    assert state.remove_messages("a", "M", [2, 99]) == ["M.mbox:20"]
    # A chain of moves (30 -> 20 is free now, 10 -> 30 would collide without two passes).
    state.rekey({K("M.mbox:30"): K("M.mbox:20"), K("M.mbox:10"): K("M.mbox:30")})
    assert [(r.uid, r.key) for r in state.messages("a", "M")] == [
        (1, "M.mbox:30"),
        (3, "M.mbox:20"),
    ]


def test_transaction_rolls_back_record_and_markers_together(state: JobState) -> None:

    def killed_mid_transaction() -> None:
        with state.transaction():
            state.record_message("a", "M", 1, key=K("M.mbox:0"))
            state.set_markers("mbox", {"M.mbox": 100})
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        killed_mid_transaction()
    assert state.known_uids("a", "M") == set()
    assert state.markers("mbox") == {}
    with state.transaction():
        state.record_message("a", "M", 1, key=K("M.mbox:0"))
        state.set_markers("mbox", {"M.mbox": 100})
    assert state.markers("mbox") == {"M.mbox": 100}


def test_journal(state: JobState) -> None:
    e = state.journal_add("a", "Import", "mbox:/x:0", size=10, message_id="<1@x>", sha256="h1")
    assert e.status == "pending"
    assert e.uid is None
    again = state.journal_add("a", "Import", "mbox:/x:0", size=10, message_id="<1@x>")
    assert again == e
    state.journal_mark_appended("a", "Import", "mbox:/x:0", uidvalidity=3, uid=17)
    done = state.journal_entry("a", "Import", "mbox:/x:0")
    assert done is not None
    assert (done.status, done.uidvalidity, done.uid) == ("appended", 3, 17)
    state.journal_add("a", "Import", "mbox:/x:500", size=20)
    assert [x.source_id for x in state.journal_entries("a", "Import", status="pending")] == [
        "mbox:/x:500"
    ]
    assert state.journal_counts("a", "Import") == {"pending": 1, "appended": 1}
    # The same message in another source file is found by content.
    assert state.journal_find("a", "Import", message_id="<1@x>", size=10) == [done]
    assert state.journal_find("a", "Import", sha256="h1") == [done]
    assert state.journal_find("a", "Other", sha256="h1") == []
    with pytest.raises(InvalidArgumentError):
        state.journal_find("a", "Import")
    with pytest.raises(InvalidArgumentError):
        state.journal_mark_appended("a", "Import", "nope")


def test_journal_survives_reopen(tmp_path: Path) -> None:
    with JobState(tmp_path / "s.db") as s, s.transaction():
        s.journal_add("a", "I", "eml:/m1.eml", size=1)
        s.journal_mark_appended("a", "I", "eml:/m1.eml", uid=1)
    with JobState(tmp_path / "s.db", synchronous="FULL") as s:
        assert s.journal_counts("a", "I") == {"pending": 0, "appended": 1}


def test_threads_share_one_state(state: JobState) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for uid in range(1, 101):
                with state.transaction():
                    state.record_message("a", f"M{n}", uid, key=K(f"k{n}/{uid}"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(len(state.known_uids("a", f"M{n}")) == 100 for n in range(4))
