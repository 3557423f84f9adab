"""``pipeimap demo`` end to end, as a user runs it: a subprocess, exit 0."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeimap.cli._demo import flag_locally, local_count
from pipeimap.cli._sample import SAMPLE_MAILBOXES, mbox_bytes, sample_messages
from pipeimap.store import iter_mbox


def _skip_without_dovecot() -> None:
    if os.environ.get("PIPEIMAP_SKIP_DOVECOT") == "1":
        pytest.skip("PIPEIMAP_SKIP_DOVECOT=1")


def test_demo_end_to_end(tmp_path: Path) -> None:
    _skip_without_dovecot()
    work = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "pipeimap", "demo", "--json", "--dir", str(work)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads(done.stdout)
    assert data["ok"] is True
    assert data["problems"] == []
    assert [s["command"] for s in data["steps"]] == ["archive", "sync", "import", "import"]
    archive, sync, first, second = (s["report"] for s in data["steps"])
    assert archive["downloaded"] == 200
    assert sync["downloaded"] == 5
    assert sync["flags_to_server"] == 3
    assert first["appended"] == 20
    assert second["appended"] == 0
    assert second["already_imported"] == 20
    assert "every check passed" in done.stderr  # the narrative goes to stderr with --json
    assert (work / "archive" / ".pipeimap-state.sqlite").exists()  # --dir keeps the files


def test_demo_text_output_and_cleanup(tmp_path: Path) -> None:
    """Also with a long TMPDIR (pytest's): Dovecot's socket paths must stay short."""
    _skip_without_dovecot()
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "pipeimap", "demo", "--messages", "40"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for step in ("[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5]", "$ pipeimap archive",
                 "$ pipeimap sync", "$ pipeimap import", "nothing duplicated"):  # fmt: skip
        assert step in done.stdout
    assert "FAILED" not in done.stdout
    assert not list(tmp_path.glob("pipeimap-demo-*"))  # removed without --keep


def test_sample_mailbox_is_varied() -> None:
    msgs = list(sample_messages(200))
    assert len(msgs) == 200
    assert {m.mailbox for m in msgs} == {name for name, _ in SAMPLE_MAILBOXES}
    raw = b"".join(m.data for m in msgs)
    assert b"=?utf-8?" in raw  # encoded non-ASCII headers
    assert b"Content-Disposition: attachment" in raw
    assert b"multipart/alternative" in raw
    assert any(m.flags for m in msgs)
    assert any(not m.flags for m in msgs)
    assert [m.data for m in sample_messages(10)] != []


def test_sample_mbox_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "old.mbox"
    path.write_bytes(mbox_bytes(20))
    got = list(iter_mbox(path))
    assert len(got) == 20
    assert len({m.message_id for m in got}) == 20
    assert any(m.flags for m in got)  # Status / X-Status became flags


def test_flag_locally_renames_maildir_files(tmp_path: Path) -> None:
    cur = tmp_path / "cur"
    cur.mkdir()
    for uid, info in ((1, "S"), (2, ""), (3, "FS"), (4, "S")):
        (cur / f"77_{uid}:2,{info}").write_bytes(b"x")
    assert flag_locally(tmp_path, 2, avoid={1}) == 2
    assert sorted(p.name for p in cur.iterdir()) == [
        "77_1:2,S",
        "77_2:2,F",
        "77_3:2,FS",
        "77_4:2,FS",
    ]
    assert local_count(tmp_path) == 4
