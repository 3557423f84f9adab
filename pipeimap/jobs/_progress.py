"""Progress reporting from jobs to whoever shows it (the CLI's bar, a log, a test).

Jobs call a :class:`Progress` object; they never print.  The default,
:class:`NullProgress`, does nothing.  Calls may come from several tasks of one
job, never from worker threads.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["NullProgress", "Progress", "RecordingProgress"]


class Progress(Protocol):
    """What a job reports while it runs."""

    def start(self, phase: str, *, total_messages: int | None, total_bytes: int | None) -> None:
        """A phase begins (``"archive INBOX"``, ``"import"``); totals may be unknown."""

    def advance(self, *, messages: int = 0, bytes: int = 0) -> None:
        """Some messages / bytes of the current phase are done."""

    def note(self, text: str) -> None:
        """Something the user should know (a backoff, a UIDVALIDITY reset)."""

    def finish(self, phase: str) -> None:
        """The phase ended."""


class NullProgress:
    """Reports nothing."""

    def start(self, phase: str, *, total_messages: int | None, total_bytes: int | None) -> None:
        pass

    def advance(self, *, messages: int = 0, bytes: int = 0) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def finish(self, phase: str) -> None:
        pass


class RecordingProgress:
    """Keeps every call, for tests and ``--json`` summaries."""

    def __init__(self) -> None:
        self.phases: list[str] = []
        self.notes: list[str] = []
        self.messages = 0
        self.bytes = 0

    def start(self, phase: str, *, total_messages: int | None, total_bytes: int | None) -> None:
        self.phases.append(phase)

    def advance(self, *, messages: int = 0, bytes: int = 0) -> None:
        self.messages += messages
        self.bytes += bytes

    def note(self, text: str) -> None:
        self.notes.append(text)

    def finish(self, phase: str) -> None:
        pass
