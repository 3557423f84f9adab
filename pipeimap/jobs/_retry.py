"""Backing off from throttling servers and resuming after dropped connections.

Theory of operation: a job is a sequence of resumable steps -- each step reads
what is already done from the job state, so running it again after a failure
only does what is left.  :func:`retrying` runs a step; when it fails with an
error :func:`classify` recognises as transient, it waits as the server asked
(or with capped exponential backoff), lowers the pipeline depth when the server
signalled load, reconnects (the step opens its own connections from the
:class:`ServerSpec` it is given) and runs the step again.

What counts as throttling, from real servers:

* Office 365: ``NO ... Request is throttled. Suggested Backoff Time: 299961
  milliseconds`` (imapsync #198, #212, #272; ikvk/imap_tools #135), often
  followed by a disconnect.
* RFC 5530 response codes ``[LIMIT]`` (a server limit was hit), ``[UNAVAILABLE]``
  (temporary failure) and ``[INUSE]`` (try again later).
* ``* BYE`` under load (Gmail's ``BYE Session expired`` after its bandwidth
  quota, Office 365 after throttling): the connection is gone; reconnect.
* A dropped connection or a read timeout: reconnect and resume.

Not retried: authentication failures, ``[OVERQUOTA]``, ``BAD`` (our bug or a
server bug: retrying would not help), usage errors, local store errors.
"""

from __future__ import annotations

import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, TypeVar

import anyio

from ..errors import CommandBadError, CommandError, ConnectionLostError, IMAPTimeoutError
from ._progress import NullProgress, Progress
from ._server import ServerSpec

__all__ = ["Backoff", "RetryPolicy", "classify", "retrying"]

T = TypeVar("T")

_O365: Final = re.compile(r"Suggested Backoff Time:\s*([0-9]{1,12})\s*milli", re.IGNORECASE)
_RETRY_CODES: Final = frozenset({"LIMIT", "UNAVAILABLE", "INUSE"})
_NEVER_CODES: Final = frozenset(
    {"AUTHENTICATIONFAILED", "AUTHORIZATIONFAILED", "OVERQUOTA", "NOPERM", "EXPIRED",
     "PRIVACYREQUIRED", "CONTACTADMIN", "ALREADYEXISTS", "NONEXISTENT", "TRYCREATE"}
)  # fmt: skip


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often to retry a transient failure.

    ``attempts`` counts runs of the step (1 = no retry).  Delays grow by
    ``factor`` from ``base_delay`` up to ``max_delay``; a delay the server
    asked for is honoured up to ``max_server_delay``.
    """

    attempts: int = 8
    base_delay: float = 1.0
    factor: float = 2.0
    max_delay: float = 120.0
    max_server_delay: float = 900.0
    jitter: float = 0.1


@dataclass(frozen=True)
class Backoff:
    """What to do about a transient failure."""

    delay: float | None  # None: use the policy's exponential delay
    reason: str
    lower_depth: bool


def classify(exc: BaseException) -> Backoff | None:
    """A :class:`Backoff` for a transient failure, ``None`` for one to give up on."""
    if isinstance(exc, CommandError) and not isinstance(exc, CommandBadError):
        m = _O365.search(exc.text)
        if m:
            return Backoff(int(m.group(1)) / 1000.0, "the server throttles requests", True)
        code = (exc.code or "").upper()
        if code in _NEVER_CODES:
            return None
        if code in _RETRY_CODES:
            return Backoff(None, f"the server answered [{code}]", True)
        if "throttl" in exc.text.lower():
            return Backoff(None, "the server throttles requests", True)
        return None
    if isinstance(exc, ConnectionLostError):
        text = str(exc)
        if "BYE" in text:
            return Backoff(None, "the server ended the session", True)
        return Backoff(None, "the connection was lost", False)
    if isinstance(exc, IMAPTimeoutError):
        return Backoff(None, "the server stopped answering", True)
    return None


async def retrying(
    step: Callable[[ServerSpec, int], Awaitable[T]],
    server: ServerSpec,
    *,
    policy: RetryPolicy | None = None,
    progress: Progress | None = None,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
) -> T:
    """Run ``step(server, attempt)`` until it succeeds or fails for good.

    ``step`` must be resumable: safe to run again after it failed part way.
    Each retry may get a ``server`` with a lower pipeline depth.
    """
    policy = policy or RetryPolicy()
    progress = progress or NullProgress()
    delay = policy.base_delay
    for attempt in range(1, policy.attempts + 1):
        try:
            return await step(server, attempt)
        except Exception as exc:  # noqa: PERF203 - a retry loop, not a hot path
            backoff = classify(exc)
            if backoff is None or attempt == policy.attempts:
                raise
            if backoff.delay is not None:  # the server said how long
                wait = min(backoff.delay, policy.max_server_delay)
            else:
                wait = delay
                delay = min(delay * policy.factor, policy.max_delay)
            wait *= 1 + random.uniform(-policy.jitter, policy.jitter)
            if backoff.lower_depth and server.pipeline_depth > 1:
                server = server.with_depth(server.pipeline_depth // 2)
            progress.note(
                f"{backoff.reason} ({exc}); retrying in {wait:.1f} s "
                f"(attempt {attempt + 1} of {policy.attempts}, "
                f"pipeline depth {server.pipeline_depth})"
            )
            await sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
