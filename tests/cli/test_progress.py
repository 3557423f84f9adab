"""Progress output: quiet lines off a terminal, a throttled bar on one."""

from __future__ import annotations

import io

from pipeimap.cli._progress import BarProgress, LineProgress, PhaseStats, format_bytes, render_bar


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_format_bytes() -> None:
    assert format_bytes(512) == "512 B"
    assert format_bytes(1_500) == "1.5 kB"
    assert format_bytes(2_500_000) == "2.5 MB"
    assert format_bytes(3e12) == "3000.0 GB"


def test_render_bar_with_total() -> None:
    stats = PhaseStats(
        "archive INBOX", started=0.0, total_messages=200, messages=50, bytes=2_000_000
    )
    line = render_bar(stats, 2.0, 100)
    assert line.startswith("archive INBOX [")
    assert " 25%" in line
    assert "50/200 msgs" in line
    assert "25 msg/s" in line
    assert "1.0 MB/s" in line
    assert len(line) <= 100


def test_render_bar_unknown_total_and_narrow() -> None:
    stats = PhaseStats("import Old", started=0.0, messages=7, bytes=700)
    assert "[" not in render_bar(stats, 1.0, 100)
    assert len(render_bar(stats, 1.0, 20)) <= 20


def test_lines_default_is_quiet_per_phase() -> None:
    out, clock = io.StringIO(), Clock()
    p = LineProgress(stream=out, clock=clock)
    p.start("archive INBOX", total_messages=3, total_bytes=None)
    for _ in range(3):
        clock.now += 1
        p.advance(messages=1, bytes=1_000_000)
    p.note("the server throttles requests; retrying in 1.0 s")
    p.finish("archive INBOX")
    lines = out.getvalue().splitlines()
    assert lines == [
        "the server throttles requests; retrying in 1.0 s",
        "archive INBOX: 3 messages, 3.0 MB in 3.0 s (1 msg/s, 1.0 MB/s)",
    ]
    assert "\r" not in out.getvalue()
    assert "\x1b" not in out.getvalue()


def test_lines_quiet_prints_notes_only() -> None:
    out = io.StringIO()
    p = LineProgress(stream=out, quiet=True)
    p.start("x", total_messages=None, total_bytes=None)
    p.advance(messages=5)
    p.note("careful")
    p.finish("x")
    assert out.getvalue() == "careful\n"


def test_lines_verbose_periodic() -> None:
    out, clock = io.StringIO(), Clock()
    p = LineProgress(stream=out, clock=clock, verbose=True)
    p.start("sync INBOX", total_messages=10, total_bytes=None)
    for _ in range(10):
        clock.now += 1
        p.advance(messages=1, bytes=10)
    p.finish("sync INBOX")
    lines = out.getvalue().splitlines()
    assert lines[0] == "sync INBOX: started (10 messages)"
    assert sum("msgs" in line for line in lines) == 2  # every 5 s
    assert lines[-1].startswith("sync INBOX: 10 messages")


def test_bar_redraws_at_most_10_hz() -> None:
    out, clock = io.StringIO(), Clock()
    p = BarProgress(stream=out, clock=clock, width=lambda: 80)
    p.start("archive INBOX", total_messages=1000, total_bytes=None)
    for _ in range(1000):
        clock.now += 0.001  # 1000 advances in one second
        p.advance(messages=1, bytes=100)
    p.finish("archive INBOX")
    text = out.getvalue()
    redraws = text.count("\r\x1b[2Karchive INBOX [")
    assert 5 <= redraws <= 12
    assert text.endswith("archive INBOX: 1000 messages, 100.0 kB in 1.0 s (1000 msg/s, 0.1 MB/s)\n")
    assert all(len(seg) <= 80 for seg in text.replace("\x1b[2K", "").split("\r"))


def test_bar_notes_print_above() -> None:
    out = io.StringIO()
    p = BarProgress(stream=out, width=lambda: 80)
    p.start("x", total_messages=None, total_bytes=None)
    p.note("hello")
    p.close()
    assert "\r\x1b[2Khello\n" in out.getvalue()
    assert out.getvalue().endswith("\r\x1b[2K")


def test_concurrent_phases_count_towards_the_job() -> None:
    """archive runs mailboxes at once: advance() cannot be attributed to one of them."""
    out, clock = io.StringIO(), Clock()
    p = LineProgress(stream=out, clock=clock)
    p.begin()
    p.start("archive A", total_messages=10, total_bytes=None)
    p.advance(messages=2, bytes=200)  # A alone: its own
    p.start("archive B", total_messages=5, total_bytes=None)
    p.advance(messages=3, bytes=300)  # shared
    clock.now += 1
    p.finish("archive B")
    p.advance(messages=10, bytes=1000)
    p.finish("archive A")
    assert out.getvalue().splitlines() == [
        "archive B: done (5 messages)",
        "archive A: done (10 messages)",
    ]
    assert p.job is not None
    assert (p.job.messages, p.job.bytes, p.job.total_messages) == (15, 1500, 15)
    assert p.job_line() == "15 messages, 1.5 kB in 1.0 s (15 msg/s, 0.0 MB/s)"
    p.begin()  # the next job starts from zero
    assert p.job_line() is None


def test_bar_shows_the_job_with_several_phases() -> None:
    out, clock = io.StringIO(), Clock()
    p = BarProgress(stream=out, clock=clock, width=lambda: 120)
    p.start("sync INBOX", total_messages=4, total_bytes=None)
    p.start("sync Sent", total_messages=4, total_bytes=None)
    clock.now += 1
    p.advance(messages=2, bytes=10)
    assert "sync INBOX +1 [" in out.getvalue()
    assert "2/8 msgs" in out.getvalue()


def test_unknown_total_makes_the_job_total_unknown() -> None:
    p = LineProgress(stream=io.StringIO())
    p.start("a", total_messages=3, total_bytes=None)
    p.start("b", total_messages=None, total_bytes=None)
    p.start("c", total_messages=3, total_bytes=None)
    assert p.job is not None
    assert p.job.total_messages is None
