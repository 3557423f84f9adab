"""The .eml store: deterministic names, atomic link, recovery, no flags on disk."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pipeimap.protocol import Flag
from pipeimap.store import EmlStore, message_name

DATE = datetime(2022, 2, 2, 2, 2, 2, tzinfo=timezone.utc)


def test_names_layout_and_mtime(tmp_path: Path) -> None:
    store = EmlStore(tmp_path)
    key = store.deliver("Archive/2022", b"x", internaldate=DATE, name=message_name(77, 5))
    assert key == "Archive/2022/77_5.eml"
    path = tmp_path / "Archive" / "2022" / "77_5.eml"
    assert path.read_bytes() == b"x"
    assert path.stat().st_mtime == DATE.timestamp()
    assert store.mailboxes() == ["Archive/2022"]


def test_second_delivery_keeps_the_first_copy(tmp_path: Path) -> None:
    store = EmlStore(tmp_path)
    store.deliver("INBOX", b"first", name="1_1")
    store.deliver("INBOX", b"second", name="1_1")
    assert (tmp_path / "INBOX" / "1_1.eml").read_bytes() == b"first"
    assert os.listdir(tmp_path / "INBOX") == ["1_1.eml"]


def test_flags_are_not_kept_on_disk(tmp_path: Path) -> None:
    store = EmlStore(tmp_path)
    key = store.deliver("INBOX", b"x", flags=[Flag.SEEN])
    assert store.flags_of(key) == frozenset()
    assert store.representable([Flag.SEEN]) == frozenset()
    assert store.set_flags(key, [Flag.FLAGGED]) == {}


def test_recover_removes_interrupted_temp_files(tmp_path: Path) -> None:
    store = EmlStore(tmp_path)
    writer_cm = store.open_writer("INBOX", name="9_9")
    w = writer_cm.__enter__()
    w.write(b"partial")
    fd = w._temp._fd
    assert fd is not None
    os.close(fd)  # killed
    w._temp._fd = None
    assert list(store.iter_messages("INBOX")) == []
    report = EmlStore(tmp_path).recover()
    assert len(report.removed_temp_files) == 1
    assert os.listdir(tmp_path / "INBOX") == []


@pytest.mark.parametrize("key", ["../etc/passwd.eml", "/abs.eml", "INBOX/x.txt"])
def test_keys_cannot_escape_the_root(tmp_path: Path, key: str) -> None:
    with pytest.raises(KeyError):
        EmlStore(tmp_path).read(key)  # type: ignore[arg-type]
