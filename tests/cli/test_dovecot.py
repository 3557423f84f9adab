"""The command line against the real Dovecot: exit codes, --json, no secret shown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeimap.cli import main
from pipeimap.testing import DovecotServer

from ..conftest import TEST_USERS
from .conftest import PASSWORD_ENV, count, fill, message, server_args

WRONG = "wr0ng-Pa55word-XYZ"


@pytest.mark.parametrize("source", ["env", "file", "command"])
def test_wrong_password_exits_3(
    source: str,
    penalty_free_dovecot: DovecotServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import shlex
    import sys

    if source == "env":
        monkeypatch.setenv(PASSWORD_ENV, WRONG)
        option = ["--password-env", PASSWORD_ENV]
    elif source == "file":
        pw = tmp_path / "pw"
        pw.write_text(WRONG + "\n")
        pw.chmod(0o600)
        option = ["--password-file", str(pw)]
    else:
        script = f"print({WRONG!r})"
        option = ["--password-command", f"{shlex.quote(sys.executable)} -c {shlex.quote(script)}"]
    dovecot = penalty_free_dovecot
    code = main(
        ["archive", *server_args(dovecot), str(tmp_path / "a"), *option, "--json", "--debug"]
    )
    out, err = capsys.readouterr()
    assert code == 3
    assert "authentication failed" in err
    assert WRONG not in out
    assert WRONG not in err
    assert "print(" not in err  # the command line is not echoed either
    assert TEST_USERS["bob"] not in out + err
    data = json.loads(out)
    assert data == {"command": "archive", "ok": False, "exit_code": 3, "error": data["error"]}
    assert "authentication failed" in data["error"]
    assert WRONG not in data["error"]


def test_wrong_password_then_right_one(
    penalty_free_dovecot: DovecotServer,
    tmp_path: Path,
    bob_env: str,
    mailbox_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dovecot = penalty_free_dovecot
    fill(dovecot, mailbox_name, [message(1)])
    monkeypatch.setenv("PIPEIMAP_WRONG", WRONG)
    base = ["archive", *server_args(dovecot), str(tmp_path / "a"), "-m", mailbox_name, "-q"]
    assert main([*base, "--password-env", "PIPEIMAP_WRONG"]) == 3
    assert main([*base, "--password-env", bob_env]) == 0


def test_untrusted_certificate_exits_4(
    dovecot: DovecotServer, tmp_path: Path, bob_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"imaps://bob@localhost:{dovecot.imaps_port}"
    code = main(["archive", url, str(tmp_path / "a"), "--password-env", bob_env, "--retries", "0"])
    err = capsys.readouterr().err
    assert code == 4
    assert "certificate" in err
    assert "--ca-file" in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_connection_refused_exits_4(
    tmp_path: Path, bob_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = main(
        ["archive", f"imap://bob@127.0.0.1:{port}?insecure-plaintext", str(tmp_path / "a"),
         "--password-env", bob_env, "--retries", "0"]
    )  # fmt: skip
    assert code == 4
    assert "cannot connect" in capsys.readouterr().err


def test_unknown_mailbox_is_a_usage_error(
    dovecot: DovecotServer, tmp_path: Path, bob_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["archive", *server_args(dovecot), str(tmp_path / "a"), "-m", "No such mailbox",
         "--password-env", bob_env]
    )  # fmt: skip
    assert code == 2
    assert "No such mailbox" in capsys.readouterr().err


def test_archive_json_summary(
    dovecot: DovecotServer,
    tmp_path: Path,
    bob_env: str,
    mailbox_name: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fill(dovecot, mailbox_name, [message(i) for i in range(12)])
    dest = tmp_path / "archive"
    argv = ["archive", *server_args(dovecot), str(dest), "-m", mailbox_name,
            "--password-env", bob_env, "--json"]  # fmt: skip
    assert main(argv) == 0
    out, err = capsys.readouterr()
    data = json.loads(out)  # stdout holds the JSON and nothing else
    assert {"command", "ok", "exit_code", "server", "seconds", "problems", "report", "moved",
            "phases", "notes"} <= data.keys()  # fmt: skip
    assert data["command"] == "archive"
    assert data["ok"] is True
    assert data["exit_code"] == 0
    assert data["server"] == f"imaps://bob@localhost:{dovecot.imaps_port}"
    assert data["report"]["downloaded"] == 12
    (box,) = data["report"]["mailboxes"]
    assert box["mailbox"] == mailbox_name
    assert box["downloaded"] == 12
    assert box["verification"]["missing"] == []
    assert sum(p["messages"] for p in data["phases"]) == 12
    assert data["moved"]["messages"] == 12
    assert "archive: 12 messages downloaded" in err  # the human summary went to stderr

    # A second run downloads nothing.
    assert main(argv) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["report"]["downloaded"] == 0
    assert again["report"]["skipped"] == 12


def test_sync_and_quiet(
    dovecot: DovecotServer,
    tmp_path: Path,
    bob_env: str,
    mailbox_name: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fill(dovecot, mailbox_name, [message(i) for i in range(5)])
    argv = ["sync", *server_args(dovecot), str(tmp_path / "m"), "-m", mailbox_name,
            "--password-env", bob_env]  # fmt: skip
    assert main([*argv, "-q"]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert err == ""
    assert main([*argv, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["command"] == "sync"
    assert data["report"]["downloaded"] == 0


def test_import_twice_json(
    dovecot: DovecotServer,
    tmp_path: Path,
    bob_env: str,
    mailbox_name: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from pipeimap.cli._sample import mbox_bytes

    mbox = tmp_path / "old.mbox"
    mbox.write_bytes(mbox_bytes(7))
    argv = ["import", *server_args(dovecot), str(mbox), "-m", mailbox_name,
            "--state", str(tmp_path / "state.sqlite"), "--password-env", bob_env, "--json"]  # fmt: skip
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["report"]["appended"] == 7
    assert first["report"]["created_mailbox"] is True
    assert main(argv) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["report"]["appended"] == 0
    assert second["report"]["already_imported"] == 7
    assert count(dovecot, mailbox_name) == 7


def test_server_refusal_exits_5(
    dovecot: DovecotServer, tmp_path: Path, bob_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipeimap.cli._sample import mbox_bytes

    mbox = tmp_path / "old.mbox"
    mbox.write_bytes(mbox_bytes(2))
    code = main(
        ["import", *server_args(dovecot), str(mbox), "-m", "bad//name", "--password-env", bob_env,
         "--state", str(tmp_path / "state.sqlite")]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 5
    assert err.startswith("pipeimap: error: the server refused: NO [CANNOT]")
    assert err.count("\n") == 1


def test_unwritable_destination_exits_6(
    dovecot: DovecotServer, tmp_path: Path, bob_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    code = main(
        ["archive", *server_args(dovecot), str(blocker / "archive"), "--password-env", bob_env]
    )
    err = capsys.readouterr().err
    assert code == 6
    assert "a-file" in err
    assert "Traceback" not in err
