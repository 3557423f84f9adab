"""Argument parsing: every command's --help, usage errors (exit 2), ServerSpec building."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from pipeimap.cli import ExitCode, main
from pipeimap.cli._args import credential_source, parse_args, server_address, server_spec
from pipeimap.cli._exit import CliUsageError
from pipeimap.protocol import Secret


def parse(*argv: str) -> argparse.Namespace:
    return parse_args(list(argv))


@pytest.mark.parametrize("command", [[], ["archive"], ["sync"], ["import"], ["demo"]])
def test_help_has_examples(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "examples:" in out
    assert "pipeimap " in out.split("examples:")[1]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("pipeimap ")


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["archive"],  # no DEST
        ["archive", "imaps://a@h", "d", "--format", "pst"],
        ["archive", "imaps://a@h", "d", "--connections", "0"],
        ["archive", "imaps://a@h", "d", "--password-env", "A", "--password-file", "f"],
        ["archive", "imaps://a@h", "d", "-q", "-v"],
        ["archive", "imaps://a@h", "d", "--password", "hunter2"],  # there is no such option
        ["sync", "imaps://a@h", "d", "--timeout", "-1"],
        ["import", "imaps://a@h", "f", "--source-format", "zip"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == int(ExitCode.USAGE) == 2
    assert capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["archive", "d", "--password-env", "X"], "no server"),
        (["archive", "imaps://a@h", "d", "--host", "h", "--password-env", "X"], "not both"),
        (["archive", "imaps://h", "d", "--password-env", "X"], "no user name"),
        (["archive", "pop://a@h", "d", "--password-env", "X"], "unknown URL scheme"),
        (["archive", "imaps://a:pw@h", "d"], "holds a password"),
        (["archive", "imaps://a@h", "d", "--password-env", "PIPEIMAP_TEST_UNSET"], "not set"),
        (["archive", "imaps://a@h", "d", "--ca-file", "/nonexistent.pem"], "no such file"),
        (["archive", "imaps://a@h", "d", "--password-file", "/nonexistent-pw"], "does not exist"),
    ],
)
def test_late_usage_errors_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("pipeimap: error: ")
    assert message in err
    assert err.count("\n") == 1  # one line, no traceback


def test_url_options_override(monkeypatch: pytest.MonkeyPatch) -> None:
    args = parse(
        "archive",
        "imap://alice@h",
        "d",
        "--port",
        "1143",
        "--user",
        "bob",
        "--tls",
        "insecure-plaintext",
    )
    addr = server_address(args)
    assert (addr.host, addr.port, addr.username, addr.tls) == (
        "h",
        1143,
        "bob",
        "insecure-plaintext",
    )


def test_host_options() -> None:
    args = parse("sync", "--host", "mail.example.org", "--user", "a@example.org", "mirror")
    assert args.dest == Path("mirror")
    addr = server_address(args)
    assert (addr.host, addr.port, addr.username, addr.tls) == (
        "mail.example.org", None, "a@example.org", "implicit",
    )  # fmt: skip


def test_server_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPEIMAP_TEST_PW", "s3cret-value")
    args = parse(
        "archive", "imaps://alice@h:1993", "d", "--password-env", "PIPEIMAP_TEST_PW",
        "--pipeline-depth", "8", "--no-compress", "--timeout", "5", "--auth", "plain",
    )  # fmt: skip
    spec = server_spec(args)
    assert spec.password == Secret("s3cret-value")
    assert spec.oauth2_token is None
    assert (spec.host, spec.port, spec.username, spec.tls) == ("h", 1993, "alice", "implicit")
    assert (spec.pipeline_depth, spec.compress, spec.timeout) == (8, False, 5.0)
    assert spec.auth_mechanism == "PLAIN"
    assert "s3cret-value" not in repr(spec)


def test_oauth2_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPEIMAP_TEST_TOKEN", "ya29.token")
    args = parse("archive", "imaps://alice@h", "d", "--oauth2-token-env", "PIPEIMAP_TEST_TOKEN")
    spec = server_spec(args)
    assert spec.password is None
    assert spec.oauth2_token == Secret("ya29.token")


def test_default_source_is_the_prompt() -> None:
    assert credential_source(parse("archive", "imaps://a@h", "d")).kind == "prompt"


def test_ca_file_with_plaintext_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import trustme

    ca = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca))
    monkeypatch.setenv("X_PW", "pw")
    args = parse(
        "archive",
        "imap://a@h?insecure-plaintext",
        "d",
        "--ca-file",
        str(ca),
        "--password-env",
        "X_PW",
    )
    with pytest.raises(CliUsageError, match="without TLS"):
        server_spec(args)


def test_mailboxes_repeat() -> None:
    args = parse("archive", "imaps://a@h", "d", "-m", "INBOX", "--mailbox", "Sent Items")
    assert args.mailboxes == ["INBOX", "Sent Items"]
    assert parse("archive", "imaps://a@h", "d").mailboxes is None


def test_python_m_pipeimap_runs() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "pipeimap", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    assert "archive" in done.stdout


def test_options_and_positionals_intermix() -> None:
    args = parse("archive", "imaps://a@h", "--ca-file", "ca.pem", "dest", "-m", "INBOX")
    assert (args.server, args.dest, args.ca_file) == ("imaps://a@h", Path("dest"), Path("ca.pem"))
    args = parse("archive", "--host", "h", "--user", "u", "dest")
    assert (args.server, args.dest) == (None, Path("dest"))
    args = parse("import", "--json", "imaps://a@h", "-m", "Box", "f.mbox")
    assert (args.server, args.source, args.mailbox) == ("imaps://a@h", Path("f.mbox"), "Box")
