"""``pipeimap`` -- the entry point: parse, read the password, run the job, report.

Everything the user sees goes to stderr (progress, notes, the summary, errors);
stdout carries only the ``--json`` summary, so ``pipeimap sync ... --json | jq``
works.  Errors are one line (the traceback only with ``--debug``), scrubbed of
every secret read; the exit codes are listed in :mod:`pipeimap.cli._exit`.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from ._args import parse_args, secret_on_command_line, server_address, server_spec, start_trace
from ._exit import ExitCode, classify_error
from ._password import scrub
from ._progress import BarProgress, LineProgress
from ._report import dumps, jsonable
from ._run import Interrupted, run_interruptibly

__all__ = ["INTERRUPTED_TEXT", "Ui", "main"]

INTERRUPTED_TEXT = "interrupted; run the same command again to resume"
_TRACE_NOTE = {
    False: " (passwords and message content redacted)",
    True: " (passwords redacted; it holds message content: share it with care)",
}


@dataclass
class Ui:
    """Where output goes, and how much of it."""

    quiet: bool = False
    verbose: bool = False
    json: bool = False
    debug: bool = False
    err: TextIO = field(default_factory=lambda: sys.stderr)
    out: TextIO = field(default_factory=lambda: sys.stdout)
    progress: BarProgress | LineProgress = field(init=False)

    def __post_init__(self) -> None:
        if not self.quiet and _isatty(self.err):
            self.progress = BarProgress(stream=self.err)
        else:
            self.progress = LineProgress(stream=self.err, quiet=self.quiet, verbose=self.verbose)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Ui:
        return cls(quiet=args.quiet, verbose=args.verbose, json=args.json, debug=args.debug)

    def warn(self, text: str) -> None:
        self.progress.close()
        print(scrub(text), file=self.err, flush=True)

    def error(self, text: str) -> None:
        self.progress.close()
        print(f"pipeimap: error: {scrub(text)}", file=self.err, flush=True)

    def emit_json(self, data: dict[str, Any]) -> None:
        if self.json:
            print(scrub(dumps(data)), file=self.out, flush=True)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _phases(ui: Ui) -> list[dict[str, Any]]:
    now = time.monotonic()
    # A phase that ran alongside others has no counts of its own (see _progress).
    return [
        {
            "name": p.name,
            "expected_messages": p.total_messages,
            "messages": None if p.shared else p.messages,
            "bytes": None if p.shared else p.bytes,
            "seconds": round(p.elapsed(now), 3),
        }
        for p in ui.progress.phases
    ]


def _moved(ui: Ui) -> dict[str, int]:
    job = ui.progress.job
    return {"messages": job.messages if job else 0, "bytes": job.bytes if job else 0}


def _job_command(args: argparse.Namespace, ui: Ui) -> int:
    from ._jobs import RUNNERS, describe_report, problems_of

    trace = start_trace(args)
    spec = server_spec(args, warn=ui.warn)  # may prompt: not part of the timing
    started = time.monotonic()
    runner = RUNNERS[args.command]
    ui.progress.begin()
    report = run_interruptibly(
        lambda: runner(spec, args, ui.progress),
        on_signal=lambda: ui.warn("stopping (Ctrl-C again to stop at once)..."),
    )
    ui.progress.close()
    elapsed = time.monotonic() - started
    problems = problems_of(args.command, report)
    code = ExitCode.PROBLEMS if problems else ExitCode.OK
    if not ui.quiet:
        for line in describe_report(args.command, report):
            print(line, file=ui.err)
        moved = ui.progress.job_line()
        print(f"done in {elapsed:.1f} s" + (f"; moved {moved}" if moved else ""), file=ui.err)
        if trace is not None:
            print(f"protocol trace: {trace}{_TRACE_NOTE[args.trace_bodies]}", file=ui.err)
    for problem in problems:
        ui.warn(f"problem: {problem}")
    ui.emit_json(
        {
            "command": args.command,
            "ok": not problems,
            "exit_code": int(code),
            "server": server_address(args).describe(),
            "seconds": round(elapsed, 3),
            "problems": problems,
            "report": jsonable(report),
            "moved": _moved(ui),
            "phases": _phases(ui),
            "notes": list(ui.progress.notes),
        }
    )
    return int(code)


def _dispatch(args: argparse.Namespace, ui: Ui) -> int:
    if args.command == "demo":
        from ._demo import run_demo

        return run_demo(args, ui)
    return _job_command(args, ui)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``pipeimap`` with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    refused = secret_on_command_line(argv)
    if refused is not None:
        print(f"pipeimap: error: {refused}", file=sys.stderr)
        return int(ExitCode.USAGE)
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else ExitCode.USAGE
    ui = Ui.from_args(args)
    try:
        return _dispatch(args, ui)
    except (Interrupted, KeyboardInterrupt):
        ui.progress.close()
        print(INTERRUPTED_TEXT, file=ui.err, flush=True)
        ui.emit_json(
            {
                "command": args.command,
                "ok": False,
                "exit_code": int(ExitCode.INTERRUPTED),
                "error": INTERRUPTED_TEXT,
            }
        )
        return int(ExitCode.INTERRUPTED)
    except Exception as exc:
        code, text = classify_error(exc)
        if ui.debug:
            ui.progress.close()
            ui.err.write(scrub("".join(traceback.format_exception(exc))))
        if code == ExitCode.USAGE:
            text += f' (see "pipeimap {args.command} --help")'
        ui.error(text)
        ui.emit_json(
            {"command": args.command, "ok": False, "exit_code": int(code), "error": scrub(text)}
        )
        return int(code)
