"""Ctrl-C: the job's scope is cancelled, cleanup runs, exit 130, the next run resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio

from pipeimap.cli._main import INTERRUPTED_TEXT
from pipeimap.cli._run import Interrupted, run_interruptibly
from pipeimap.testing import DovecotServer

from .conftest import PASSWORD_ENV, count, fill, message, server_args


def test_sigint_cancels_the_job_and_runs_its_cleanup() -> None:
    events: list[str] = []

    async def job() -> None:
        try:
            signal.raise_signal(signal.SIGINT)
            await trio.sleep_forever()
        finally:
            events.append("cleanup")

    with pytest.raises(Interrupted):
        run_interruptibly(job, on_signal=lambda: events.append("signal"))
    assert events == ["signal", "cleanup"]


def test_an_error_raised_while_stopping_counts_as_interrupted() -> None:
    async def job() -> None:
        try:
            signal.raise_signal(signal.SIGINT)
            await trio.sleep_forever()
        finally:
            raise ConnectionError("closed under us")

    with pytest.raises(Interrupted):
        run_interruptibly(job)


def test_errors_and_results_pass_through_unwrapped() -> None:
    async def fails() -> None:
        await trio.lowlevel.checkpoint()
        raise ValueError("boom")

    async def works() -> int:
        await trio.lowlevel.checkpoint()
        return 42

    with pytest.raises(ValueError, match="boom"):
        run_interruptibly(fails)
    assert run_interruptibly(works) == 42
    # The default SIGINT handler is back afterwards.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def _run_and_interrupt(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Start ``argv --verbose``, press Ctrl-C once the first phase started."""
    proc = subprocess.Popen(
        [*argv, "--verbose"], stderr=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True
    )
    assert proc.stderr is not None
    try:
        seen = ""
        while "started" not in seen:
            line = proc.stderr.readline()
            assert line, f"exited before starting: {seen}"
            seen += line
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, seen + err


def test_ctrl_c_during_archive_then_resume(
    dovecot: DovecotServer, tmp_path: Path, bob_env: str, mailbox_name: str
) -> None:
    n = 3000
    fill(dovecot, mailbox_name, [message(i, 2000) for i in range(n)])
    dest = tmp_path / "archive"
    argv = [sys.executable, "-m", "pipeimap", "archive", *server_args(dovecot), str(dest),
            "-m", mailbox_name, "--password-env", PASSWORD_ENV]  # fmt: skip
    env = {**os.environ, PASSWORD_ENV: os.environ[bob_env]}
    code, err = _run_and_interrupt(argv, env)
    if code == 130:
        assert INTERRUPTED_TEXT in err
        assert "Traceback" not in err
    else:  # the machine was fast enough to finish first; the resume below still must hold
        assert code == 0, err
    done = subprocess.run([*argv, "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    (box,) = json.loads(done.stdout)["report"]["mailboxes"]
    assert box["downloaded"] + box["skipped"] == n
    if code == 130:
        assert box["skipped"] < n  # the interrupted run had not finished
    assert box["verification"]["missing"] == []
    files = [p for p in dest.rglob("*") if p.is_file() and p.parent.name in ("cur", "new")]
    assert len(files) == n  # nothing lost, nothing twice


def _mbox(path: Path, n: int) -> None:
    with path.open("wb") as f:
        for i in range(n):
            f.write(
                f"From a@example.org Mon Jan  1 00:00:00 2024\n"
                f"From: a@example.org\nSubject: interrupt {i}\n"
                f"Message-ID: <interrupt-{i}-{path.name}@example.org>\n\n".encode()
                + b"y" * 3000
                + b"\n\n"
            )


def test_ctrl_c_during_import_then_resume(
    dovecot: DovecotServer, tmp_path: Path, bob_env: str, mailbox_name: str
) -> None:
    n = 4000
    mbox = tmp_path / "big.mbox"
    _mbox(mbox, n)
    argv = [sys.executable, "-m", "pipeimap", "import", *server_args(dovecot), str(mbox),
            "-m", mailbox_name, "--state", str(tmp_path / "state.sqlite"),
            "--password-env", PASSWORD_ENV]  # fmt: skip
    env = {**os.environ, PASSWORD_ENV: os.environ[bob_env]}
    code, err = _run_and_interrupt(argv, env)
    if code == 130:
        assert INTERRUPTED_TEXT in err
        assert "Traceback" not in err
    else:
        assert code == 0, err
    done = subprocess.run([*argv, "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)["report"]
    assert report["appended"] + report["already_imported"] + report["recovered"] == n
    assert count(dovecot, mailbox_name) == n  # nothing lost, nothing duplicated
