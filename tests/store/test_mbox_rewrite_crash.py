"""mbox rewrites (remove, flags that outgrow their block) and the state DB's key
updates are crash-atomic: a kill at any point of a rewrite, then a fresh store and
``recover(markers from the DB)``, leaves every DB key pointing at its own
message's bytes, no temp file, nothing lost and nothing duplicated.

Each kill point is tried two ways: a ``BaseException`` raised in-process (the
cleanup handlers run, as for a fatal error) and a real process death
(``os._exit`` in a forked child: no handler, no ``finally`` runs, exactly what a
SIGKILL leaves on disk).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from pipeimap.protocol import Flag
from pipeimap.store import EmlStore, JobState, LocalKey, MaildirStore, MboxStore
from pipeimap.store._atomic import TEMP_MARKER
from pipeimap.store._mbox import REWRITE_MARKER

from .conftest import KINDS, make_store

ACCT = "acct"
BOXES = ("INBOX", "Other")
UIDS = range(1, 6)
KILLED = 57  # exit status of a child "killed" at its kill point
LONG_KEYWORDS = frozenset(Flag(f"$LongKeyword{i:02d}-that-cannot-fit") for i in range(6))

# The operations: what each removes / reflags, as (box, uid).
REMOVE = (("INBOX", 2), ("INBOX", 4), ("Other", 1))
REFLAG = ("INBOX", 2)  # a middle message: later ones move
REFLAG_LAST = ("INBOX", 5)  # the last one: nothing moves, the file grows
OPS = ("remove", "reflag", "reflag_last")

# Kill points, in the order a rewrite passes them.
POINTS = (
    "write_temp",  # while the temp file is written, before it is durable
    "before_commit",  # temp file durable, commit not started
    "in_commit",  # inside the DB transaction, before COMMIT
    "before_rename",  # DB committed, os.replace not done
    "after_rename",  # os.replace done, the call has not returned
    "none",  # no kill
)
COMMITTED = {"before_rename", "after_rename", "none"}


class Killed(BaseException):
    """Stands in for SIGKILL in the in-process runs."""


def body(box: str, uid: int) -> bytes:
    """Varied messages: CRLF and LF, a "From " line to quote, a ">From " one."""
    text = (
        f"From: x{uid}@example.org\r\nSubject: {box} {uid}\r\n\r\n"
        f"message {uid} of {box}\r\nFrom the start of a line\r\n>From quoted\r\n" + "z" * uid * 7
    )
    data = text.encode()
    return data.replace(b"\r\n", b"\n") if uid % 2 else data


def setup(tmp_path: Path) -> tuple[Path, Path]:
    """Two mbox files of five messages each, recorded with their markers; then a
    first rewrite done (and committed) normally, so the DB already holds an old
    rewrite token that must not confuse recovery."""
    root, db = tmp_path / "mbox", tmp_path / "state.db"
    store = MboxStore(root)
    with JobState(db) as state:
        with state.transaction():
            for box in BOXES:
                for uid in UIDS:
                    key = store.deliver(box, body(box, uid), flags=[Flag(f"k{uid}")])
                    state.record_message(ACCT, box, uid, key=key, flags=[Flag(f"k{uid}")])
            state.set_markers("mbox", store.markers())
        extra = store.deliver("Other", b"an extra message\n")
        with state.transaction():
            state.record_message(ACCT, "Other", 99, key=extra)
            state.set_markers("mbox", store.markers())

        def drop_extra(moved: dict[LocalKey, LocalKey]) -> None:
            with state.transaction(durable=True):
                state.remove_messages(ACCT, "Other", [99])
                state.rekey(moved)
                state.set_markers("mbox", store.markers())

        store.remove([extra], commit=drop_extra)
        assert REWRITE_MARKER + "Other.mbox" in state.markers("mbox")
    return root, db


def run_op(op: str, root: Path, db: Path, on_commit: Callable[[str], None]) -> None:
    """One rewrite with its DB transaction as ``commit``; ``on_commit`` is called
    at "before_commit" and "in_commit"."""
    store = MboxStore(root)
    with JobState(db) as state:
        rows = {(box, int(r.uid)): r for box in BOXES for r in state.messages(ACCT, box)}

        def commit(moved: dict[LocalKey, LocalKey]) -> None:
            on_commit("before_commit")
            with state.transaction(durable=True):
                if op == "remove":
                    for box, uid in REMOVE:
                        state.remove_messages(ACCT, box, [uid])
                else:
                    box, uid = REFLAG if op == "reflag" else REFLAG_LAST
                    state.update_flags(ACCT, box, {uid: LONG_KEYWORDS})
                state.rekey(moved)
                state.set_markers("mbox", store.markers())
                on_commit("in_commit")

        if op == "remove":
            store.remove([rows[k].key for k in REMOVE if k in rows], commit=commit)
        else:
            store.set_flags(
                rows[REFLAG if op == "reflag" else REFLAG_LAST].key, LONG_KEYWORDS, commit=commit
            )


@contextmanager
def kill_at(point: str, kill: Callable[[], None]) -> Iterator[Callable[[str], None]]:
    """Patch the file system calls so that ``kill()`` runs at ``point``; yields the
    hook for the commit callable."""
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        # The rewrite's first fsync is its temp file's (the DB does its own).
        if point == "write_temp":
            kill()
        real_fsync(fd)

    def replace(src: Any, dst: Any) -> None:
        if TEMP_MARKER in str(src) and point == "before_rename":
            kill()
        real_replace(src, dst)
        if TEMP_MARKER in str(src) and point == "after_rename":
            kill()

    def on_commit(where: str) -> None:
        if where == point:
            kill()

    mp = pytest.MonkeyPatch()
    mp.setattr(os, "fsync", fsync)
    mp.setattr(os, "replace", replace)
    try:
        yield on_commit
    finally:
        mp.undo()


def raise_killed() -> None:
    raise Killed


def exit_now() -> None:
    os._exit(KILLED)


def run_in_process(op: str, point: str, root: Path, db: Path) -> None:
    with kill_at(point, raise_killed) as hook:
        if point == "none":
            run_op(op, root, db, hook)
        else:
            with pytest.raises(Killed):
                run_op(op, root, db, hook)


def run_in_child(op: str, point: str, root: Path, db: Path) -> None:
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            with kill_at(point, exit_now) as hook:
                run_op(op, root, db, hook)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status)
    assert os.WEXITSTATUS(status) == (0 if point == "none" else KILLED), "kill point not reached"


def changed(op: str) -> set[tuple[str, int]]:
    if op == "remove":
        return set(REMOVE)
    return {REFLAG if op == "reflag" else REFLAG_LAST}


def check_consistent(root: Path, db: Path) -> tuple[MboxStore, dict[tuple[str, int], Any]]:
    """A fresh store after recover(): every row reads back its own message and
    flags, the files hold exactly the rows' messages, markers match the files."""
    store = MboxStore(root)
    with JobState(db) as state:
        report = store.recover(state.markers("mbox"))
        assert report.warnings == ()
        assert not report.truncated
        assert list(root.rglob(f"*{TEMP_MARKER}*")) == []
        rows = {(box, int(r.uid)): r for box in BOXES for r in state.messages(ACCT, box)}
        for (box, uid), r in rows.items():
            assert store.read(r.key) == body(box, uid), (box, uid, r.key)
            assert store.flags_of(r.key) == r.flags, (box, uid)
            assert store.mailbox_of(r.key) == box
        for box in BOXES:
            on_disk = [m.key for m in store.iter_messages(box)]
            assert sorted(on_disk) == sorted(r.key for (b, _), r in rows.items() if b == box)
            assert len(set(on_disk)) == len(on_disk)
        for name, size in state.markers("mbox").items():
            if not name.startswith(REWRITE_MARKER):
                assert (root / name).stat().st_size == size, name
    return store, rows


def expect_done(op: str, rows: dict[tuple[str, int], Any], done: bool) -> None:
    if op == "remove":
        assert all((k in rows) != done for k in REMOVE)
        assert len(rows) == 2 * len(UIDS) - (len(REMOVE) if done else 0)
    else:
        (k,) = changed(op)
        assert (rows[k].flags == LONG_KEYWORDS) == done


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize(
    "how",
    [
        "raise",
        pytest.param(
            "exit",
            marks=pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork"),
        ),
    ],
)
def test_kill_at_every_point_of_a_rewrite(tmp_path: Path, op: str, point: str, how: str) -> None:
    root, db = setup(tmp_path)
    (run_in_process if how == "raise" else run_in_child)(op, point, root, db)
    _, rows = check_consistent(root, db)
    expect_done(op, rows, point in COMMITTED)
    # The next run applies the change again if it did not commit: same end state.
    if point not in COMMITTED:
        run_op(op, root, db, lambda where: None)
        _, rows = check_consistent(root, db)
        expect_done(op, rows, True)


@pytest.mark.parametrize("op", OPS)
def test_commit_that_raises_changes_nothing(tmp_path: Path, op: str) -> None:
    """The commit callable's transaction rolled back: the temp file is gone at
    once and the file is byte for byte as before."""
    root, db = setup(tmp_path)
    before = {p.name: p.read_bytes() for p in root.iterdir()}

    def fail(where: str) -> None:
        if where == "in_commit":
            raise RuntimeError("the DB said no")

    with pytest.raises(RuntimeError):
        run_op(op, root, db, fail)
    assert {p.name: p.read_bytes() for p in root.iterdir()} == before
    _, rows = check_consistent(root, db)
    expect_done(op, rows, False)


def test_pending_rewrite_is_invisible_to_other_threads_markers(tmp_path: Path) -> None:
    """While a rewrite waits for its commit, markers() names the new size and
    the token only in the committing thread; another thread's transaction (a
    download of another mailbox) must not commit them -- nor the old size after
    the commit -- so it gets no entry for that file at all."""
    store = MboxStore(tmp_path, fsync=False)
    keys = [store.deliver("INBOX", body("INBOX", uid)) for uid in UIDS]
    store.deliver("Other", b"other\n")
    old_size = (tmp_path / "INBOX.mbox").stat().st_size
    seen: dict[str, dict[str, int]] = {}

    def commit(moved: dict[LocalKey, LocalKey]) -> None:
        seen["owner"] = store.markers()
        t = threading.Thread(target=lambda: seen.__setitem__("other", store.markers()))
        t.start()
        t.join()

    store.remove([keys[1]], commit=commit)
    new_size = (tmp_path / "INBOX.mbox").stat().st_size
    assert new_size < old_size
    assert seen["owner"]["INBOX.mbox"] == new_size
    token = seen["owner"][REWRITE_MARKER + "INBOX.mbox"]
    assert token > 0
    assert seen["other"] == {"Other.mbox": (tmp_path / "Other.mbox").stat().st_size}
    # Done: an ordinary marker again, for every thread.
    assert store.markers() == {
        "INBOX.mbox": new_size,
        "Other.mbox": (tmp_path / "Other.mbox").stat().st_size,
    }


def test_recover_rolls_forward_only_the_named_token(tmp_path: Path) -> None:
    """A temp file whose token the markers name replaces the file; other temp
    files of the same mbox (uncommitted rewrites) are deleted."""
    store = MboxStore(tmp_path)
    keys = [store.deliver("INBOX", body("INBOX", uid)) for uid in UIDS]
    saved: dict[str, int] = {}

    def killed(moved: dict[LocalKey, LocalKey]) -> None:
        raise Killed

    with pytest.MonkeyPatch.context() as mp:  # killed between commit and rename
        mp.setattr(os, "replace", lambda src, dst: raise_killed())
        with pytest.raises(Killed):
            store.remove([keys[0]], commit=lambda moved: saved.update(store.markers()))
    (temp,) = tmp_path.glob(f".INBOX.mbox{TEMP_MARKER}*")
    assert saved[REWRITE_MARKER + "INBOX.mbox"] == int(temp.name.rpartition(".rw")[2])
    with pytest.raises(Killed):
        store.remove([keys[1]], commit=killed)  # rolled back: its temp file goes at once
    assert list(tmp_path.glob(f".INBOX.mbox{TEMP_MARKER}*")) == [temp]
    junk = tmp_path / f".INBOX.mbox{TEMP_MARKER}.rw12345"
    junk.write_bytes(b"a dead run's")
    report = MboxStore(tmp_path).recover(saved)
    assert report.completed_rewrites == ("INBOX.mbox",)
    assert report.removed_temp_files == (junk,)
    assert report.warnings == ()
    assert not list(tmp_path.glob(f".*{TEMP_MARKER}*"))
    fresh = MboxStore(tmp_path)
    assert [fresh.read(m.key) for m in fresh.iter_messages("INBOX")] == [
        body("INBOX", uid) for uid in UIDS[1:]
    ]
    assert (tmp_path / "INBOX.mbox").stat().st_size == saved["INBOX.mbox"]


def _refuse(moved: dict[LocalKey, LocalKey]) -> None:
    raise RuntimeError("no")


@pytest.mark.parametrize("kind", KINDS)
def test_every_store_calls_commit_once_after_its_files(tmp_path: Path, kind: str) -> None:
    store = make_store(kind, tmp_path)
    keys = [store.deliver("INBOX", body("INBOX", uid)) for uid in UIDS]
    calls: list[tuple[str, dict[LocalKey, LocalKey], set[LocalKey]]] = []

    def commit(what: str) -> Callable[[dict[LocalKey, LocalKey]], None]:
        def run(moved: dict[LocalKey, LocalKey]) -> None:
            calls.append((what, dict(moved), {m.key for m in store.iter_messages("INBOX")}))

        return run

    assert store.set_flags(keys[0], [Flag.SEEN], commit=commit("flags")) == {}
    moved = store.remove([keys[1]], commit=commit("remove"))
    assert [c[0] for c in calls] == ["flags", "remove"]
    assert calls[1][1] == moved
    if isinstance(store, (MaildirStore, EmlStore)):
        assert moved == {}
        assert keys[1] not in calls[1][2]  # files first: gone before the rows go
    else:
        assert set(moved) == set(keys[2:])
        assert keys[1] in calls[1][2]  # mbox: the rename waits for the commit
    with pytest.raises(RuntimeError):
        store.remove([keys[0]], commit=_refuse)
