"""Running a job under Trio so that Ctrl-C stops it cleanly.

Theory of operation: Trio's default turns SIGINT into a ``KeyboardInterrupt``
raised wherever the program happens to be -- possibly between a message file's
rename and its state row, or inside a library's cleanup.  Instead, while a job
runs, a watcher task receives SIGINT/SIGTERM (``trio.open_signal_receiver``)
and *cancels the job's cancel scope*: every await in the job raises
``Cancelled``, ``finally`` blocks and shielded cleanups run (connections are
closed, the state DB's open transaction is rolled back, a half-written
message's temp file is removed), and the job's durable state is what it was
after its last committed step -- which is exactly where the next run resumes.
A second Ctrl-C while that cleanup runs raises ``KeyboardInterrupt`` for the
impatient.
"""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio

__all__ = ["Interrupted", "run_interruptibly"]

T = TypeVar("T")


class Interrupted(Exception):
    """The user pressed Ctrl-C (or the process got SIGTERM); the job stopped cleanly."""


async def _interruptible(job: Callable[[], Awaitable[T]], on_signal: Callable[[], None]) -> T:
    interrupted = False
    failure: BaseException | None = None
    result: T | None = None
    finished = False
    job_scope = trio.CancelScope()

    async def watch(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        nonlocal interrupted
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            task_status.started()
            async for _ in signals:
                if interrupted:
                    raise KeyboardInterrupt
                interrupted = True
                on_signal()
                job_scope.cancel()

    async with trio.open_nursery() as nursery:
        await nursery.start(watch)
        try:
            with job_scope:
                result = await job()
                finished = True
        except Exception as exc:
            failure = exc  # raised below, outside the nursery: no ExceptionGroup wrapping
        finally:
            nursery.cancel_scope.cancel()
    if interrupted and not finished:
        # An error raised while the job was being cancelled is part of stopping.
        raise Interrupted
    if failure is not None:
        raise failure
    if not finished:  # pragma: no cover - the job scope is only cancelled by a signal
        raise Interrupted
    return result  # type: ignore[return-value]


def run_interruptibly(
    job: Callable[[], Awaitable[T]], *, on_signal: Callable[[], None] = lambda: None
) -> T:
    """``trio.run(job)``; raises :class:`Interrupted` after a clean Ctrl-C stop."""
    return trio.run(_interruptible, job, on_signal)
