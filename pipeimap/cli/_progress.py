"""Showing a job's progress: a bar on a terminal, plain lines otherwise.

Both implement :class:`pipeimap.jobs.Progress` and write to stderr only, so
stdout stays free for ``--json``.  Jobs call them from several tasks of one
Trio thread (never from worker threads), so no locking.

Phases may run at the same time (archive and sync work on several mailboxes at
once) and ``advance()`` does not say which phase it is for.  So the bar shows
the *job*: every advance counts towards one running total (:attr:`_Base.job`),
whose expected total is the sum of the totals of the phases started so far.
A phase's own counts are exact only while it runs alone; a phase that shared
its time with others reports ``done`` with its expected size instead of counts
and rates that would be guesses.

:class:`BarProgress` redraws one line at most :data:`REDRAW_INTERVAL` apart
(~10 Hz: more only costs CPU and flicker) with the running phase(s), a bar when
the total is known, counts, messages/s and MB/s.  Notes print above the bar.
:class:`LineProgress` prints one line per phase that moved something (with its
rate) plus notes -- what a log file or a CI job wants; ``verbose`` adds a line
when each phase starts and a progress line every :data:`LINE_INTERVAL` seconds;
``quiet`` leaves only the notes.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, TextIO

__all__ = ["BarProgress", "LineProgress", "PhaseStats", "format_bytes", "render_bar"]

REDRAW_INTERVAL: Final = 0.1
LINE_INTERVAL: Final = 5.0


def format_bytes(n: float) -> str:
    """``1.5 MB``: decimal units, as the MB/s rate."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 3600:
        return f"{seconds // 60}:{seconds % 60:02d}"
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


@dataclass
class PhaseStats:
    """Counts of one phase, or of the whole job."""

    name: str
    started: float
    total_messages: int | None = None
    total_bytes: int | None = None
    messages: int = 0
    bytes: int = 0
    ended: float | None = None
    shared: bool = False  # advanced while another phase ran: counts are not its own

    def elapsed(self, now: float) -> float:
        return (self.ended if self.ended is not None else now) - self.started

    def rates(self, now: float) -> tuple[float, float]:
        """(messages/s, bytes/s) so far."""
        elapsed = max(self.elapsed(now), 1e-6)
        return self.messages / elapsed, self.bytes / elapsed


def render_bar(stats: PhaseStats, now: float, width: int) -> str:
    """One status line, at most ``width`` characters: the name, a bar when the
    total is known, counts and rates -- dropping the least useful parts first
    when the terminal is narrow."""
    msg_rate, byte_rate = stats.rates(now)
    counts = f"{stats.messages}"
    if stats.total_messages is not None:
        counts += f"/{stats.total_messages}"
    rates = f"{msg_rate:.0f} msg/s  {byte_rate / 1e6:.1f} MB/s"
    tails = (
        f" {counts} msgs  {format_bytes(stats.bytes)}  {rates}  {format_duration(stats.elapsed(now))}",
        f" {counts} msgs  {rates}",
        f" {counts}  {rates}",
    )
    name = stats.name
    line = next((name + t for t in tails if len(name + t) <= width), name + tails[-1])
    if stats.total_messages:
        frac = min(1.0, stats.messages / stats.total_messages)
        for tail in tails:
            bar_width = min(30, width - len(name) - len(tail) - 8)
            if bar_width >= 10:
                filled = int(frac * bar_width)
                bar = f" [{'#' * filled}{'.' * (bar_width - filled)}] {frac * 100:3.0f}%"
                line = f"{name}{bar}{tail}"
                break
    if len(line) > width:
        line = line[: max(0, width - 1)] + "…"
    return line


@dataclass
class _Base:
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    clock: Callable[[], float] = time.monotonic
    phases: list[PhaseStats] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    active: list[PhaseStats] = field(default_factory=list)
    job: PhaseStats | None = None
    _known_total: bool = True

    def begin(self) -> None:
        """A new job starts (the demo runs several with one progress object)."""
        self.close()
        self.job = None
        self.active = []

    def _start(self, phase: str, total_messages: int | None, total_bytes: int | None) -> None:
        now = self.clock()
        stats = PhaseStats(phase, now, total_messages, total_bytes)
        self.phases.append(stats)
        self.active.append(stats)
        if self.job is None:
            self.job = PhaseStats("", now, 0)
            self._known_total = True
        if total_messages is None:
            self._known_total = False
            self.job.total_messages = None
        elif self._known_total:
            self.job.total_messages = (self.job.total_messages or 0) + total_messages
        if len(self.active) > 1:
            for p in self.active:
                p.shared = True

    def _advance(self, messages: int, nbytes: int) -> None:
        if self.job is None:  # a job that advances before starting a phase
            self.job = PhaseStats("", self.clock(), None)
        self.job.messages += messages
        self.job.bytes += nbytes
        if len(self.active) == 1:
            self.active[0].messages += messages
            self.active[0].bytes += nbytes

    def _finish(self, phase: str) -> PhaseStats | None:
        done = next((p for p in reversed(self.active) if p.name == phase), None)
        if done is not None:
            done.ended = self.clock()
            self.active.remove(done)
        return done

    def _label(self) -> str:
        if not self.active:
            return "working"
        first = self.active[0].name
        return first if len(self.active) == 1 else f"{first} +{len(self.active) - 1}"

    def close(self) -> None:
        """Leave the terminal tidy (end a bar line)."""

    def job_line(self) -> str | None:
        """``2000 messages, 12.9 MB in 2.3 s (870 msg/s, 5.6 MB/s)`` for the job so far."""
        if self.job is None or not (self.job.messages or self.job.bytes):
            return None
        return self._counts(self.job)

    def _counts(self, p: PhaseStats) -> str:
        now = self.clock()
        msg_rate, byte_rate = p.rates(now)
        return (
            f"{p.messages} messages, {format_bytes(p.bytes)} in {p.elapsed(now):.1f} s "
            f"({msg_rate:.0f} msg/s, {byte_rate / 1e6:.1f} MB/s)"
        )

    def _summary_line(self, p: PhaseStats) -> str | None:
        """The line for a finished phase; ``None`` when it is not news."""
        if p.shared:
            if p.total_messages == 0:
                return None  # an empty mailbox
            size = f" ({p.total_messages} messages)" if p.total_messages else ""
            return f"{p.name}: done{size}"
        if not (p.messages or p.bytes):
            return None
        return f"{p.name}: {self._counts(p)}"


@dataclass
class LineProgress(_Base):
    """Plain lines for logs and pipes; ``quiet`` shows notes only."""

    quiet: bool = False
    verbose: bool = False
    _last_line: float = 0.0

    def start(self, phase: str, *, total_messages: int | None, total_bytes: int | None) -> None:
        self._start(phase, total_messages, total_bytes)
        self._last_line = self.clock()
        if self.verbose:
            total = f" ({total_messages} messages)" if total_messages is not None else ""
            self._write(f"{phase}: started{total}")

    def advance(self, *, messages: int = 0, bytes: int = 0) -> None:
        self._advance(messages, bytes)
        if self.verbose and self.job is not None:
            now = self.clock()
            if now - self._last_line >= LINE_INTERVAL:
                self._last_line = now
                self.job.name = self._label()
                self._write(render_bar(self.job, now, 200))

    def note(self, text: str) -> None:
        self.notes.append(text)
        self._write(text)

    def finish(self, phase: str) -> None:
        done = self._finish(phase)
        if done is None or self.quiet:
            return
        line = self._summary_line(done)
        # A phase that moved nothing (an unchanged mailbox in a sync) is news only when verbose.
        if line is None and self.verbose:
            line = f"{done.name}: nothing to do"
        if line is not None:
            self._write(line)

    def _write(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


@dataclass
class BarProgress(_Base):
    """A one-line bar redrawn in place on a terminal."""

    width: Callable[[], int] = lambda: shutil.get_terminal_size((80, 24)).columns
    _last_draw: float = -1.0
    _drawn: bool = False

    def start(self, phase: str, *, total_messages: int | None, total_bytes: int | None) -> None:
        self._start(phase, total_messages, total_bytes)
        self._draw(force=True)

    def advance(self, *, messages: int = 0, bytes: int = 0) -> None:
        self._advance(messages, bytes)
        self._draw()

    def note(self, text: str) -> None:
        self.notes.append(text)
        self._clear()
        print(text, file=self.stream)
        self._draw(force=True)

    def finish(self, phase: str) -> None:
        done = self._finish(phase)
        line = self._summary_line(done) if done is not None else None
        if line is not None:
            self._clear()
            print(line, file=self.stream)
        self._draw(force=True)

    def close(self) -> None:
        self._clear()
        self.stream.flush()

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[2K")
            self._drawn = False

    def _draw(self, *, force: bool = False) -> None:
        now = self.clock()
        if self.job is None or (not force and now - self._last_draw < REDRAW_INTERVAL):
            return
        if not self.active:  # between phases: nothing to show until the next one starts
            self._clear()
            self.stream.flush()
            return
        self._last_draw = now
        self.job.name = self._label()
        line = render_bar(self.job, now, max(20, self.width() - 1))
        self.stream.write("\r\x1b[2K" + line)
        self.stream.flush()
        self._drawn = True
