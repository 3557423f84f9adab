"""Credentials appear nowhere: a session with every mechanism the test Dovecot
offers (LOGIN command, PLAIN with SASL-IR, SCRAM-SHA-256), an archive job, a
failed login and the CLI (password from an environment variable and from a
file) run with DEBUG logging on every logger, a protocol trace, captured
stdout/stderr, and the reprs of everything; then the password, its SASL PLAIN
base64 form and every SASL message exchanged (SCRAM proof and server
signature included, raw and base64) are searched for in all of it."""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import pipeimap
from pipeimap import CommandNoError, Secret
from pipeimap.cli import main
from pipeimap.client import LOGIN_COMMAND
from pipeimap.client import _connect as connect_module
from pipeimap.jobs import ServerSpec, archive
from pipeimap.testing import DovecotServer

USER = "carol"
PASSWORD = "S3cret-Carol pa55"
WRONG = "Wr0ng-Carol-pa55"
ENV = "PIPEIMAP_TEST_CAROL_PASSWORD"
MESSAGE = b"From: a@example.org\r\nSubject: s\r\n\r\nhello\r\n"


@pytest.fixture(scope="module")
def server() -> Iterator[DovecotServer]:
    if os.environ.get("PIPEIMAP_SKIP_DOVECOT") == "1":
        pytest.skip("PIPEIMAP_SKIP_DOVECOT=1")
    with DovecotServer(users={USER: PASSWORD}) as s:
        yield s


class _Recorder:
    """Wraps the SASL mechanisms to record every message exchanged."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    def wrap(self, real: Any) -> Any:
        recorder = self

        def create(*args: Any, **kwargs: Any) -> Any:
            mech = real(*args, **kwargs)

            class Spy:
                def __getattr__(self, name: str) -> Any:
                    return getattr(mech, name)

                def initial_response(self) -> Any:
                    out = mech.initial_response()
                    recorder.add(out)
                    return out

                def respond(self, challenge: bytes) -> Any:
                    recorder.add(challenge)
                    out = mech.respond(challenge)
                    recorder.add(out)
                    return out

            return Spy()

        return create

    def add(self, value: Any) -> None:
        if isinstance(value, Secret):
            value = value.reveal_bytes()
        if isinstance(value, (bytes, bytearray)) and len(value) >= 8:
            self.messages.append(bytes(value))


def forbidden(recorded: list[bytes]) -> list[str]:
    plain = b"\x00" + USER.encode() + b"\x00"
    values = [PASSWORD, WRONG]
    for pw in (PASSWORD, WRONG):
        values.append(base64.b64encode(plain + pw.encode()).decode())
    for raw in recorded:
        values.append(base64.b64encode(raw).decode())
        if b"p=" in raw or b"v=" in raw:  # SCRAM client proof, server signature
            values.append(raw.decode("ascii", "replace"))
            for part in raw.split(b","):
                if part.startswith((b"p=", b"v=")):
                    values.append(part[2:].decode())
    return values


def test_no_secret_anywhere(
    server: DovecotServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: every logger's records
    recorder = _Recorder()
    monkeypatch.setattr(
        connect_module,
        "create_mechanism",
        recorder.wrap(connect_module.create_mechanism),  # type: ignore[attr-defined]
    )
    trace = tmp_path / "trace.txt"
    ctx = server.client_ssl_context()
    seen: list[str] = []  # reprs, strs, exceptions, reports

    async def library() -> None:
        with anyio.fail_after(60):
            for mechanism in ("SCRAM-SHA-256", "PLAIN", LOGIN_COMMAND):
                async with pipeimap.connect(
                    "localhost",
                    server.imaps_port,
                    username=USER,
                    password=PASSWORD,
                    auth_mechanism=mechanism,
                    ssl_context=ctx,
                    trace=trace,
                ) as client:
                    seen.extend([repr(client), str(client)])
                    if mechanism == "PLAIN":
                        await client.append("INBOX", MESSAGE)
                    await client.noop()
            spec = ServerSpec(
                "localhost",
                server.imaps_port,
                username=USER,
                password=Secret(PASSWORD),
                ssl_context=ctx,
                trace=trace,
            )
            seen.extend([repr(spec), str(spec), repr(spec.password), str(spec.password)])
            report = await archive(spec, tmp_path / "archive", mailboxes=["INBOX"], fsync=False)
            seen.extend([repr(report), str(report)])
            for mechanism in ("SCRAM-SHA-256", "PLAIN", LOGIN_COMMAND):
                with pytest.raises(CommandNoError) as info:
                    async with pipeimap.connect(
                        "localhost",
                        server.imaps_port,
                        username=USER,
                        password=WRONG,
                        auth_mechanism=mechanism,
                        ssl_context=ctx,
                        trace=trace,
                    ):
                        pass
                exc: BaseException | None = info.value
                while exc is not None:
                    seen.extend([repr(exc), str(exc)])
                    exc = exc.__cause__ or exc.__context__

    anyio.run(library, backend="trio")
    assert any(m.startswith(b"c=biws") for m in recorder.messages)  # SCRAM was recorded

    monkeypatch.setenv(ENV, PASSWORD)
    pw_file = tmp_path / "pw"
    pw_file.write_text(PASSWORD + "\n")
    pw_file.chmod(0o600)
    url = f"imaps://{USER}@localhost:{server.imaps_port}"
    common = ["--ca-file", str(server.ca_file), "--debug", "--json", "-v"]
    cli_trace = tmp_path / "cli-trace.txt"
    assert main(["archive", url, str(tmp_path / "a1"), "--password-env", ENV, *common,
                 "--trace", str(cli_trace)]) == 0  # fmt: skip
    assert main(["sync", url, str(tmp_path / "a2"), "--password-file", str(pw_file), *common,
                 "--trace", str(tmp_path / "cli-trace2.txt")]) == 0  # fmt: skip
    monkeypatch.setenv(ENV, WRONG)
    assert main(["archive", url, str(tmp_path / "a3"), "--password-env", ENV, *common,
                 "--trace", str(tmp_path / "cli-trace3.txt")]) == 3  # fmt: skip
    out, err = capfd.readouterr()

    traces = "\n".join(
        p.read_text(encoding="utf-8")
        for p in (trace, cli_trace, tmp_path / "cli-trace2.txt", tmp_path / "cli-trace3.txt")
    )
    # The captures are not empty: the search below looks at real output.
    assert "<redacted>" in traces
    assert "LOGIN carol <redacted>" in traces
    assert "AUTHENTICATE SCRAM-SHA-256 <redacted>" in traces
    assert "AUTHENTICATE PLAIN <redacted>" in traces
    assert "S: + <redacted>" in traces
    assert " C: " in caplog.text
    assert "authentication failed" in err
    assert '"command": "sync"' in out
    captured = {
        "log": caplog.text + "\n".join(r.getMessage() for r in caplog.records),
        "trace": traces,
        "stdout": out,
        "stderr": err,
        "reprs": "\n".join(seen),
    }
    for value in forbidden(recorder.messages):
        for where, text in captured.items():
            assert value not in text, f"{value!r} found in {where}"
