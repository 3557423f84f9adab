"""Maildir++ specifics: layout, file names and flag letters, external changes, recovery."""

from __future__ import annotations

import os
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pipeimap.errors import InvalidArgumentError
from pipeimap.protocol import Flag
from pipeimap.store import MaildirStore, flags_from_info, info_from_flags, message_name

DATE = datetime(2019, 12, 31, 23, 59, 58, tzinfo=timezone.utc)

FLAG_LETTERS = [
    (Flag.DRAFT, "D"),
    (Flag.FLAGGED, "F"),
    (Flag("$Forwarded"), "P"),
    (Flag.ANSWERED, "R"),
    (Flag.SEEN, "S"),
    (Flag.DELETED, "T"),
]


@pytest.mark.parametrize(("flag", "letter"), FLAG_LETTERS)
def test_flag_letter_mapping_both_ways(flag: Flag, letter: str) -> None:
    assert info_from_flags([flag]) == letter
    assert flags_from_info(letter) == {flag}


def test_info_letters_sorted_keywords_dropped_unknown_letters_kept() -> None:
    flags = [Flag.SEEN, Flag.DRAFT, Flag("$forwarded"), Flag("kw"), Flag.FLAGGED]
    assert info_from_flags(flags) == "DFPS"
    assert info_from_flags([Flag.SEEN], keep="abS") == "Sab"  # Dovecot keyword letters
    assert flags_from_info("DFPRSTab") == {f for f, _ in FLAG_LETTERS}


def test_layout_inbox_is_root_and_folders_are_maildirplusplus(tmp_path: Path) -> None:
    md = MaildirStore(tmp_path / "m")
    k1 = md.deliver("inbox", b"x", flags=[Flag.SEEN, Flag.ANSWERED], name="n1")
    k2 = md.deliver("Archive/2024", b"y", name="n2")
    assert k1 == "./n1"
    assert k2 == ".Archive.2024/n2"
    assert (tmp_path / "m" / "cur" / "n1:2,RS").read_bytes() == b"x"
    assert (tmp_path / "m" / ".Archive.2024" / "cur" / "n2:2,").read_bytes() == b"y"
    assert (tmp_path / "m" / ".Archive.2024" / "maildirfolder").exists()
    for sub in ("cur", "new", "tmp"):
        assert (tmp_path / "m" / ".Archive.2024" / sub).is_dir()
    assert md.mailboxes() == ["INBOX", "Archive/2024"]


def test_dot_separator_accounts(tmp_path: Path) -> None:
    md = MaildirStore(tmp_path / "m", separator=".")
    key = md.deliver("Archive.2024", b"x")
    assert key.startswith(".Archive.2024/")
    assert md.mailbox_of(key) == "Archive.2024"
    slash = MaildirStore(tmp_path / "s")
    assert slash.folder_dir("Archive.2024") == ".Archive%2E2024"


def test_mtime_is_internaldate_and_key_survives_set_flags(tmp_path: Path) -> None:
    md = MaildirStore(tmp_path)
    key = md.deliver("INBOX", b"x", internaldate=DATE, name=message_name(3, 4))
    assert md.path_of(key).stat().st_mtime == DATE.timestamp()
    assert md.set_flags(key, [Flag.SEEN, Flag("kw")]) == {}
    assert md.path_of(key).name == "3_4:2,S"
    assert md.flags_of(key) == {Flag.SEEN}
    assert md.path_of(key).stat().st_mtime == DATE.timestamp()
    assert md.read(key) == b"x"


def test_scan_sees_changes_made_by_a_mail_client(tmp_path: Path) -> None:
    md = MaildirStore(tmp_path)
    key = md.deliver("INBOX", b"x", name="a")
    other = md.deliver("INBOX", b"y", name="b")
    # A mail client marks "a" seen and flagged, deletes "b", delivers "c" into new/.
    os.rename(tmp_path / "cur" / "a:2,", tmp_path / "cur" / "a:2,FS")
    os.unlink(md.path_of(other))
    (tmp_path / "new" / "c").write_bytes(b"z")
    assert md.flags_of(key) == {Flag.SEEN, Flag.FLAGGED}  # found despite the stale index
    assert md.scan("INBOX") == {"./a": {Flag.SEEN, Flag.FLAGGED}, "./c": frozenset()}
    with pytest.raises(KeyError):
        md.read(other)
    # set_flags on a message in new/ moves it to cur/ with info.
    md.set_flags("./c", [Flag.SEEN])  # type: ignore[arg-type]
    assert (tmp_path / "cur" / "c:2,S").read_bytes() == b"z"
    assert md.list_keys("INBOX") == ["./a", "./c"]


def test_set_flags_keeps_letters_it_does_not_know(tmp_path: Path) -> None:
    md = MaildirStore(tmp_path)
    key = md.deliver("INBOX", b"x", name="a")
    os.rename(md.path_of(key), tmp_path / "cur" / "a:2,Sab")
    md.set_flags(key, [Flag.FLAGGED])
    assert md.path_of(key).name == "a:2,Fab"


def test_semicolon_info_separator(tmp_path: Path) -> None:
    md = MaildirStore(tmp_path, info_separator=";")
    key = md.deliver("INBOX", b"x", flags=[Flag.SEEN], name="a")
    assert md.path_of(key).name == "a;2,S"
    assert md.scan("INBOX") == {key: {Flag.SEEN}}


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "a:2,S", "x\x00"])
def test_bad_names_refused(tmp_path: Path, name: str) -> None:
    md = MaildirStore(tmp_path)
    with pytest.raises(InvalidArgumentError):
        md.deliver("INBOX", b"x", name=name)


def test_generated_names_are_unique(tmp_path: Path) -> None:
    md = MaildirStore(tmp_path, fsync=False)
    keys = {md.deliver("INBOX", b"x") for _ in range(200)}
    assert len(keys) == 200
    assert len(os.listdir(tmp_path / "cur")) == 200


def test_recover_removes_own_tmp_files_and_old_foreign_ones(tmp_path: Path) -> None:
    md = MaildirStore(tmp_path)
    md.create_mailbox("Sent")
    # A run killed mid-write leaves its temp file (simulated: a writer never finished).
    gen = md.open_writer("Sent", name="killed")
    w = gen.__enter__()
    w.write(b"half a message")
    own = list((tmp_path / ".Sent" / "tmp").iterdir())
    assert len(own) == 1
    foreign_new = tmp_path / "tmp" / "1700000000.M1P2.mda"
    foreign_old = tmp_path / "tmp" / "1600000000.M1P2.mda"
    foreign_new.write_bytes(b"an MDA is writing this")
    foreign_old.write_bytes(b"abandoned long ago")
    old = time.time() - 40 * 3600
    os.utime(foreign_old, (old, old))
    fd = w._temp._fd
    assert fd is not None
    os.close(fd)  # the process "died": the descriptor is gone
    w._temp._fd = None

    fresh = MaildirStore(tmp_path)
    report = fresh.recover()
    assert sorted(report.removed_temp_files) == sorted([own[0], foreign_old])
    assert foreign_new.exists()
    assert fresh.scan("Sent") == {}
    assert fresh.lookup("Sent", "killed") is None
    # The next run delivers the same message under the same name, once.
    key = fresh.deliver("Sent", b"whole message", name="killed")
    assert fresh.read(key) == b"whole message"


def test_kill_between_rename_and_db_commit_is_idempotent(tmp_path: Path) -> None:
    first = MaildirStore(tmp_path)
    k1 = first.deliver("INBOX", b"msg", flags=[Flag.SEEN], name=message_name(5, 9))
    # ... killed before the state DB recorded k1; a new process fetches UID 9 again:
    second = MaildirStore(tmp_path)
    second.recover()
    k2 = second.deliver("INBOX", b"msg", flags=[Flag.SEEN], name=message_name(5, 9))
    assert k1 == k2
    assert len(os.listdir(tmp_path / "cur")) == 1


def test_flush_and_open(tmp_path: Path) -> None:
    md = MaildirStore(tmp_path)
    key = md.deliver("INBOX", b"abc")
    md.flush()
    with md.open(key) as f:
        assert f.read() == b"abc"


@pytest.mark.parametrize("removed", ["folder", "cur", "tmp"])
def test_a_folder_removed_meanwhile_is_made_again(tmp_path: Path, removed: str) -> None:
    # The store checks a folder's tmp/ new/ cur/ once, not per message: a folder
    # (or part of it) removed behind its back is made again on the next delivery.
    store = MaildirStore(tmp_path, fsync=False)
    first = store.deliver("Lists/dev", b"Subject: one\r\n\r\n1\r\n", name=message_name(5, 1))
    folder = store.folder_path("Lists/dev")
    shutil.rmtree(folder if removed == "folder" else folder / removed)
    second = store.deliver("Lists/dev", b"Subject: two\r\n\r\n2\r\n", name=message_name(5, 2))
    assert store.read(second) == b"Subject: two\r\n\r\n2\r\n"
    assert all((folder / sub).is_dir() for sub in ("tmp", "new", "cur"))
    assert (folder / "maildirfolder").exists()
    assert set(store.list_keys("Lists/dev")) == ({second} if removed != "tmp" else {first, second})
    assert store.mailboxes() == ["INBOX", "Lists/dev"]
