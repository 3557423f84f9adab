"""Throttling and transient failures are recognised; the retry loop backs off,
lowers the pipeline depth when the server signals load, and gives up on the rest."""

from __future__ import annotations

import pytest

from pipeimap.errors import (
    CommandBadError,
    CommandNoError,
    ConnectionLostError,
    IMAPTimeoutError,
    InvalidArgumentError,
)
from pipeimap.jobs import RecordingProgress, RetryPolicy, ServerSpec, classify, retrying
from pipeimap.protocol import Secret


def no(text: str, code: str | None = None) -> CommandNoError:
    return CommandNoError("NO", code, text, "A0001", "APPEND", "INBOX")


def test_office365_suggested_backoff_is_honoured() -> None:
    b = classify(no("Request is throttled. Suggested Backoff Time: 299961 milliseconds"))
    assert b is not None
    assert b.delay == pytest.approx(299.961)
    assert b.lower_depth


@pytest.mark.parametrize("code", ["LIMIT", "UNAVAILABLE", "INUSE"])
def test_rfc5530_transient_codes(code: str) -> None:
    b = classify(no("try later", code))
    assert b is not None
    assert b.delay is None


@pytest.mark.parametrize("code", ["AUTHENTICATIONFAILED", "OVERQUOTA", "NOPERM", "TRYCREATE", None])
def test_permanent_failures_are_not_retried(code: str | None) -> None:
    assert classify(no("nope", code)) is None


def test_bad_and_usage_errors_are_not_retried() -> None:
    assert classify(CommandBadError("BAD", None, "syntax", "A1", "FETCH")) is None
    assert classify(InvalidArgumentError("x")) is None
    assert classify(ValueError("x")) is None


def test_connection_problems_are_retried() -> None:
    bye = classify(ConnectionLostError("the server closed the connection: BYE Session expired"))
    assert bye is not None
    assert bye.lower_depth
    drop = classify(ConnectionLostError("connection lost while receiving: reset"))
    assert drop is not None
    assert not drop.lower_depth
    assert classify(IMAPTimeoutError("no answer")) is not None


@pytest.mark.trio
async def test_retrying_backs_off_lowers_depth_and_resumes() -> None:
    spec = ServerSpec("imap.example.org", username="u", password=Secret("pw"), pipeline_depth=64)
    seen: list[tuple[int, int]] = []
    sleeps: list[float] = []

    async def step(server: ServerSpec, attempt: int) -> str:
        seen.append((attempt, server.pipeline_depth))
        if attempt == 1:
            raise no("Request is throttled. Suggested Backoff Time: 2000 milliseconds")
        if attempt == 2:
            raise ConnectionLostError("connection lost while receiving: reset")
        return "done"

    async def fake_sleep(s: float) -> None:
        sleeps.append(s)

    progress = RecordingProgress()
    result = await retrying(
        step, spec, policy=RetryPolicy(jitter=0), progress=progress, sleep=fake_sleep
    )
    assert result == "done"
    assert seen == [(1, 64), (2, 32), (3, 32)]
    assert sleeps == [2.0, 1.0]
    assert len(progress.notes) == 2
    assert "throttles" in progress.notes[0]
    assert "pw" not in " ".join(progress.notes)


@pytest.mark.trio
async def test_retrying_gives_up_after_attempts_and_on_permanent_errors() -> None:
    spec = ServerSpec("h")
    calls = 0

    async def failing(server: ServerSpec, attempt: int) -> None:
        nonlocal calls
        calls += 1
        raise ConnectionLostError("gone")

    async def fake_sleep(s: float) -> None:
        pass

    with pytest.raises(ConnectionLostError):
        await retrying(failing, spec, policy=RetryPolicy(attempts=3), sleep=fake_sleep)
    assert calls == 3

    async def denied(server: ServerSpec, attempt: int) -> None:
        raise no("bad password", "AUTHENTICATIONFAILED")

    with pytest.raises(CommandNoError):
        await retrying(denied, spec, sleep=fake_sleep)


def test_server_spec_repr_hides_secrets() -> None:
    spec = ServerSpec("h", username="alice", password=Secret("hunter2"), oauth2_token=Secret("tok"))
    assert "hunter2" not in repr(spec)
    assert "tok" not in repr(spec)
    assert spec.describe() == "alice@h"
