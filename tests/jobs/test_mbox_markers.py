"""mbox commit markers are per mailbox: one mailbox's transaction never commits
another mailbox's file size.

Archive and sync write several mailboxes at once (one writer thread per mailbox,
see ``_jobcommon``).  Each writer appends messages to its mailbox's mbox file and
then records them in the state DB together with the file's committed size
(``save_markers``).  If mailbox A's transaction also saved mailbox B's current
size, B's appended-but-unrecorded messages (or half a message) would count as
committed: after a kill ``recover`` would keep them, and the next run would
fetch them again -- a duplicate in B's file (or a torn message left in place).
"""

from __future__ import annotations

from pathlib import Path

from pipeimap.jobs._jobcommon import MBOX_MARKERS, Job, ensure_marker, save_markers
from pipeimap.jobs._progress import NullProgress
from pipeimap.protocol import UID
from pipeimap.store import JobState, MboxStore, MessageRecord


def _job(tmp_path: Path, state: JobState) -> Job:
    job = Job(
        account="acct",
        fmt="mbox",
        dest=tmp_path / "mirror",
        state=state,
        progress=NullProgress(),
        chunk=10,
        fsync=False,
    )
    job.store = MboxStore(job.dest, separator="/", single_file=False, fsync=False)
    return job


def _record(job: Job, mailbox: str, uid: int, data: bytes) -> None:
    """What a writer does: append, then record the row and the markers in one
    transaction."""
    assert job.store is not None
    key = job.store.deliver(mailbox, data)
    job.store.flush()
    with job.state.transaction():
        job.state.record_messages(
            job.account,
            mailbox,
            [MessageRecord(uid=UID(uid), key=key, flags=frozenset(), size=len(data))],
        )
        save_markers(job, mailbox)


def _msg(n: int) -> bytes:
    return b"Subject: message %d\r\n\r\nbody %d\r\n" % (n, n)


def test_other_mailbox_unrecorded_append_is_cut_after_a_kill(tmp_path: Path) -> None:
    with JobState(tmp_path / "state.db") as state:
        job = _job(tmp_path, state)
        store = job.store
        assert isinstance(store, MboxStore)
        ensure_marker(job, "A")
        ensure_marker(job, "B")
        _record(job, "A", 1, _msg(1))
        _record(job, "B", 1, _msg(2))
        # B's writer appends a message it has not recorded yet ...
        store.deliver("B", _msg(3))
        store.flush()
        # ... while A's writer records its next message.
        _record(job, "A", 2, _msg(4))
        b_file = store.path / store.file_name("B")
        b_recorded_size = state.markers(MBOX_MARKERS)[store.file_name("B")]
        assert b_file.stat().st_size > b_recorded_size
        committed = state.markers(MBOX_MARKERS)

    # The process dies here.  The next run recovers the store from the DB.
    fresh = MboxStore(tmp_path / "mirror", separator="/", single_file=False, fsync=False)
    report = fresh.recover(committed)
    assert report.warnings == ()
    assert [fresh.read(m.key) for m in fresh.iter_messages("B")] == [_msg(2)]
    assert [fresh.read(m.key) for m in fresh.iter_messages("A")] == [_msg(1), _msg(4)]


def test_markers_can_name_mailboxes(tmp_path: Path) -> None:
    store = MboxStore(tmp_path / "m", separator="/", single_file=False, fsync=False)
    store.deliver("A", _msg(1))
    store.deliver("B/C", _msg(2))
    store.flush()
    both = store.markers()
    assert set(both) == {store.file_name("A"), store.file_name("B/C")}
    assert store.markers(["B/C"]) == {store.file_name("B/C"): both[store.file_name("B/C")]}
    assert store.markers([]) == {}
