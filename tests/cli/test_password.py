"""Password sources: env, file, command, prompt -- and the secret never shows."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from pipeimap.cli import main
from pipeimap.cli._password import CredentialError, CredentialSource, read_secret, scrub
from pipeimap.protocol import Secret

SECRET = "correct horse battery staple §7"


def test_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPEIMAP_PW", SECRET)
    got = read_secret(CredentialSource("env", "PIPEIMAP_PW"))
    assert got == Secret(SECRET)
    assert SECRET not in repr(got)
    assert SECRET not in str(got)
    assert SECRET not in f"{got}"


def test_env_missing_and_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIPEIMAP_PW", raising=False)
    with pytest.raises(CredentialError, match=r"PIPEIMAP_PW .* is not set"):
        read_secret(CredentialSource("env", "PIPEIMAP_PW"))
    monkeypatch.setenv("PIPEIMAP_PW", "")
    with pytest.raises(CredentialError, match="empty"):
        read_secret(CredentialSource("env", "PIPEIMAP_PW"))


def test_file_first_line(tmp_path: Path) -> None:
    f = tmp_path / "pw"
    f.write_text(SECRET + "\r\nsecond line ignored\n", encoding="utf-8")
    f.chmod(0o600)
    warnings: list[str] = []
    assert read_secret(CredentialSource("file", str(f)), warn=warnings.append) == Secret(SECRET)
    assert warnings == []


def test_file_readable_by_others_warns(tmp_path: Path) -> None:
    f = tmp_path / "pw"
    f.write_text(SECRET + "\n", encoding="utf-8")
    f.chmod(0o644)
    warnings: list[str] = []
    read_secret(CredentialSource("file", str(f)), warn=warnings.append)
    assert len(warnings) == 1
    assert "chmod 600" in warnings[0]
    assert SECRET not in warnings[0]


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(CredentialError, match="does not exist"):
        read_secret(CredentialSource("file", str(tmp_path / "missing")))
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(CredentialError, match="empty"):
        read_secret(CredentialSource("file", str(empty)))


def _py(code: str) -> str:
    """A --password-command running Python (shlex-quoted)."""
    import shlex

    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


def test_command(tmp_path: Path) -> None:
    got = read_secret(CredentialSource("command", _py(f"print({SECRET!r}); print('x')")))
    assert got == Secret(SECRET)


def test_command_is_not_run_by_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    # With a shell, "; touch marker" would run.  Without one it is two more echo arguments.
    got = read_secret(CredentialSource("command", f"echo pw ; touch {marker}"))
    assert got.reveal() == f"pw ; touch {marker}"
    assert not marker.exists()


def test_command_failure_does_not_show_its_output() -> None:
    cmd = _py(f"import sys; print({SECRET!r}); sys.exit(3)")
    with pytest.raises(CredentialError) as info:
        read_secret(CredentialSource("command", cmd))
    assert "exit 3" in str(info.value)
    assert SECRET not in str(info.value)


def test_command_errors() -> None:
    with pytest.raises(CredentialError, match="not found"):
        read_secret(CredentialSource("command", "/nonexistent/pass-helper show"))
    with pytest.raises(CredentialError, match="printed nothing"):
        read_secret(CredentialSource("command", _py("pass")))
    with pytest.raises(CredentialError, match="cannot split"):
        read_secret(CredentialSource("command", "pass show 'unclosed"))


def test_prompt_without_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", open(os.devnull))  # noqa: SIM115
    with pytest.raises(CredentialError, match="no terminal"):
        read_secret(CredentialSource("prompt", ""))


def test_prompt_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty:
        def isatty(self) -> bool:
            return True

    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return SECRET

    monkeypatch.setattr(sys, "stdin", Tty())
    monkeypatch.setattr("getpass.getpass", fake_getpass)
    got = read_secret(CredentialSource("prompt", ""), prompt="Password for a@h: ")
    assert got == Secret(SECRET)
    assert prompts == ["Password for a@h: "]


def test_scrub() -> None:
    read_secret_value = "s3cr3t-for-scrub"
    os.environ["PIPEIMAP_SCRUB"] = read_secret_value
    try:
        read_secret(CredentialSource("env", "PIPEIMAP_SCRUB"))
    finally:
        del os.environ["PIPEIMAP_SCRUB"]
    assert scrub(f"oops {read_secret_value} leaked") == "oops *** leaked"


def test_secret_never_in_cli_output(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A run that fails (nothing listens on the port) after reading the password,
    with --debug (tracebacks) and --json: the secret is nowhere."""
    monkeypatch.setenv("PIPEIMAP_PW", SECRET)
    (tmp_path / "x.mbox").write_bytes(b"From a Mon Jan  1 00:00:00 2024\nSubject: x\n\nhi\n")
    code = main(
        ["import", "imap://alice@127.0.0.1:1?insecure-plaintext", str(tmp_path / "x.mbox"),
         "--password-env", "PIPEIMAP_PW", "--debug", "--json", "--retries", "0",
         "--state", str(tmp_path / "state.sqlite")]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 4
    assert SECRET not in out
    assert SECRET not in err
