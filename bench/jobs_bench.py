"""Jobs benchmark: pipeimap's archive, import and sync against peer scripts doing
the same job, on one private Dovecot, at several round-trip times.

Usage::

    python bench/jobs_bench.py [--quick] [--rtt 0,20] [--json PATH]

One run starts a private Dovecot, loads a deterministic mailbox (``--messages``,
default 2,000, quick 200; the corpus of :mod:`bench._mailbox`) and writes an mbox
of ``--import-messages`` other messages (default 500, quick 100), then, for each
round-trip time, starts a latency proxy (:mod:`bench.latency_proxy`) in front of
Dovecot's plain port and times, through it, side by side:

* ``archive`` -- every message of the mailbox into local files:
  ``pipeimap.jobs.archive`` (Maildir, ``fsync=False``); an imaplib script as its
  docs suggest (``UID SEARCH ALL``, then ``UID FETCH`` per message, one .eml file
  each); an IMAPClient script as its docs suggest (``search()``, then
  ``fetch(100 UIDs, ['BODY.PEEK[]'])`` per chunk, one .eml file each); mbsync
  (pull-only channel into a Maildir) when it is installed.
* ``import`` -- the mbox into a new mailbox per client: ``pipeimap.jobs.import_mail``;
  imaplib, ``APPEND`` per message, sequentially; IMAPClient ``multiappend`` (or its
  ``append`` loop on versions without it).  The peers read the mbox with
  :mod:`mailbox`.
* ``sync`` -- a fresh copy of the mailbox is mirrored once (untimed), 1 % of its
  messages get ``\\Flagged`` through a separate raw connection, then the second,
  incremental ``pipeimap.jobs.sync`` is timed against a full re-scan (imaplib,
  ``UID FETCH 1:* (UID FLAGS)`` compared with the map saved by the first run).

Each run is a fresh process (``bench/_jobs_runner.py``, which adds its runners to
``bench/_client_runner.RUNNERS``) and is timed whole, connect and login included.

Correctness decides the exit status (1 on any failure): every archive must hold
as many message files as the mailbox has messages, with the mailbox's total
bytes; every imported mailbox must hold the number of messages of the mbox; both
sync rows must see exactly the messages changed.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._client_runner import FLAG, Spec
from bench._mailbox import RawIMAP, generate_messages, load_mailbox
from bench._tables import print_rtt_table
from bench.client_bench import MB, PASSWORD, USER, _importable, _versions, machine_info
from bench.latency_proxy import ProxyProcess
from pipeimap.testing.dovecot import DovecotServer

RUNNER = str(Path(__file__).resolve().parent / "_jobs_runner.py")
ARCHIVE_MAILBOX = "archive"


@dataclass(frozen=True)
class Row:
    client: str  # key in _client_runner.RUNNERS (with the scenario)
    label: str
    optional: str = ""  # module that must be importable, or "mbsync" (an executable)


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    rows: tuple[Row, ...]


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "archive",
            "Archive a mailbox to local files",
            (
                Row("pipeimap", "pipeimap: archive() to Maildir"),
                Row("imaplib", "imaplib: UID SEARCH ALL + UID FETCH per message"),
                Row("imapclient", "IMAPClient: search() + fetch(100 UIDs) chunks", "imapclient"),
                Row("mbsync", "mbsync: pull channel to Maildir", "mbsync"),
            ),
        ),
        Scenario(
            "import",
            "Import an mbox into a new mailbox",
            (
                Row("pipeimap", "pipeimap: import_mail()"),
                Row("imaplib", "imaplib: sequential APPEND"),
                Row("imapclient", "IMAPClient: multiappend()", "imapclient"),
            ),
        ),
        Scenario(
            "sync",
            "Incremental sync after 1 % of the messages changed flags",
            (
                Row("pipeimap", "pipeimap: sync(), second run"),
                Row("rescan", "imaplib: full re-scan UID FETCH 1:* (UID FLAGS)"),
            ),
        ),
    )
}


@dataclass
class Measurement:
    scenario: str
    client: str
    rtt_ms: float
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    rss_peak_kb: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.seconds) and not self.errors

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def as_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "client": self.client,
            "rtt_ms": self.rtt_ms,
            "seconds": self.seconds,
            "median_seconds": self.median if self.seconds else None,
            "cpu_seconds": self.cpu_seconds,
            "rss_peak_kb": self.rss_peak_kb,
            "errors": self.errors,
        }


def write_mbox(path: Path, messages: Sequence[bytes]) -> None:
    """An mboxrd file: a ``From `` line per message, ``>``-escaped ``From `` lines."""
    escape = re.compile(rb"^(>*From )", re.MULTILINE)
    with path.open("wb") as f:
        for m in messages:
            f.write(b"From bench@example.org Thu Jan  1 00:00:00 2026\n")
            f.write(escape.sub(rb">\1", m))
            if not m.endswith(b"\n"):
                f.write(b"\n")
            f.write(b"\n")


def count_files(dest: Path) -> tuple[int, int]:
    """Message files under ``dest`` (in a Maildir's ``cur``/``new``, or ``*.eml``)
    and their total bytes."""
    n = size = 0
    for p in dest.rglob("*"):
        if p.is_file() and (p.parent.name in ("cur", "new") or p.suffix == ".eml"):
            n += 1
            size += p.stat().st_size
    return n, size


class Bench:
    def __init__(self, args: argparse.Namespace, server: DovecotServer, tmp: Path) -> None:
        self.args = args
        self.server = server
        self.tmp = tmp
        self.messages: tuple[bytes, ...] = ()
        self.total_bytes = 0
        self.import_count = 0
        self.mbox = tmp / "import.mbox"
        self.results: list[Measurement] = []
        self.problems: list[str] = []
        self.notes: list[str] = []

    def raw(self) -> RawIMAP:
        imap = RawIMAP(self.server.host, self.server.imap_port)
        imap.login(USER, PASSWORD)
        return imap

    def load(self) -> None:
        a = self.args
        t0 = time.perf_counter()
        corpus = generate_messages(a.messages, seed=a.seed)
        self.messages = corpus.messages
        self.total_bytes = corpus.total_bytes
        with self.raw() as imap:
            load_mailbox(imap, ARCHIVE_MAILBOX, corpus.messages)
            imap.select(ARCHIVE_MAILBOX)
            if imap.rfc822_sizes() != {i + 1: s for i, s in enumerate(corpus.sizes)}:
                raise SystemExit("the server does not report the sizes of the messages loaded")
            imap.fetch_bodies()  # warm Dovecot's caches and the page cache
        to_import = generate_messages(a.import_messages, seed=a.seed + 100).messages
        write_mbox(self.mbox, to_import)
        self.import_count = len(to_import)
        print(
            f"loaded {a.messages:,} messages ({self.total_bytes / MB:.1f} MB); mbox of "
            f"{self.import_count:,} messages ({self.mbox.stat().st_size / MB:.1f} MB) "
            f"in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )

    def rows(self, scenario: Scenario) -> list[Row]:
        if scenario.name == "import" and _importable("imapclient"):
            from imapclient import IMAPClient

            if not hasattr(IMAPClient, "multiappend"):
                note = "import: this IMAPClient has no multiappend(); its row is an append() loop"
                if note not in self.notes:
                    self.notes.append(note)
        out = []
        for row in scenario.rows:
            missing = (
                shutil.which(row.optional) is None
                if row.optional == "mbsync"
                else bool(row.optional) and not _importable(row.optional)
            )
            if missing:
                note = f"{scenario.name}: {row.client} skipped ({row.optional} is not installed)"
                if note not in self.notes:
                    self.notes.append(note)
                    print("  " + note)
                continue
            out.append(row)
        return out

    def spec(self, scenario: str, client: str, port: int, mailbox: str, path: Path) -> Spec:
        return Spec(
            client=client,
            scenario=scenario,
            host=self.server.host,
            port=port,
            user=USER,
            password=PASSWORD,
            mailbox=mailbox,
            uids=(),
            out_file=str(path),
            chunk=self.args.chunk,
        )

    def run(self, spec: Spec) -> dict[str, Any] | str:
        """One runner process: its RESULT, or what went wrong."""
        try:
            proc = subprocess.run(
                [sys.executable, RUNNER, spec.to_json()],
                capture_output=True,
                text=True,
                timeout=self.args.run_timeout,
            )
        except subprocess.TimeoutExpired:
            return f"timed out after {self.args.run_timeout:g} s"
        for line in proc.stdout.splitlines():
            if line.startswith("RESULT ") and proc.returncode == 0:
                result: dict[str, Any] = json.loads(line[len("RESULT ") :])
                return result
        tail = proc.stderr.strip().splitlines()[-12:]
        return f"the runner failed (exit {proc.returncode}): " + "\n    ".join(tail)

    def record(self, m: Measurement, result: dict[str, Any] | str, problem: str = "") -> None:
        if isinstance(result, str):
            problem = result
        if problem:
            text = f"{m.scenario} / {m.client} at {m.rtt_ms:g} ms: {problem}"
            m.errors.append(problem)
            self.problems.append(text)
            print("  CHECK FAILED: " + text, flush=True)
        else:
            assert not isinstance(result, str)
            m.seconds.append(result["seconds"])
            m.cpu_seconds.append(result["cpu_seconds"])
            m.rss_peak_kb.append(result["rss_peak_kb"])
        shown = f"{m.seconds[-1]:8.3f} s" if m.seconds and not problem else "  failed"
        print(f"  {m.scenario:<7} {m.rtt_ms:>4g} ms  {m.client:<12} {shown}", flush=True)

    # -- scenarios ------------------------------------------------------------------

    def archive(self, rtt: float, port: int) -> None:
        for rnd in range(self.args.repeat):
            for row in self.rows(SCENARIOS["archive"]):
                m = self.measurement("archive", row.client, rtt)
                dest = self.tmp / f"archive-{row.client}-{rtt:g}-{rnd}"
                result = self.run(self.spec("archive", row.client, port, ARCHIVE_MAILBOX, dest))
                problem = ""
                if not isinstance(result, str):
                    n, size = count_files(dest)
                    if (n, size) != (len(self.messages), self.total_bytes):
                        problem = (
                            f"{n:,} files of {size:,} bytes; expected "
                            f"{len(self.messages):,} files of {self.total_bytes:,} bytes"
                        )
                shutil.rmtree(dest, ignore_errors=True)
                self.record(m, result, problem)

    def import_(self, rtt: float, port: int) -> None:
        for rnd in range(self.args.repeat):
            for row in self.rows(SCENARIOS["import"]):
                m = self.measurement("import", row.client, rtt)
                box = f"import-{row.client}-{rtt:g}-{rnd}"
                result = self.run(self.spec("import", row.client, port, box, self.mbox))
                problem = ""
                if not isinstance(result, str):
                    with self.raw() as imap:
                        exists = imap.select(box)
                        imap.command(b"CLOSE")
                        imap.command(b'DELETE "%s"' % box.encode())
                    if exists != self.import_count:
                        problem = f"the mailbox holds {exists:,}, expected {self.import_count:,}"
                self.record(m, result, problem)

    def sync(self, rtt: float, port: int) -> None:
        n = len(self.messages)
        changed = max(1, n // 100)
        step = n // changed
        uids = [1 + i * step for i in range(changed)]
        for rnd in range(self.args.repeat):
            box = f"sync-{rtt:g}-{rnd}"
            with self.raw() as imap:
                load_mailbox(imap, box, self.messages)
            rows = self.rows(SCENARIOS["sync"])
            paths = {r.client: self.tmp / f"sync-{r.client}-{rtt:g}-{rnd}" for r in rows}
            firsts = {r.client: self.run(self.spec("sync", r.client, port, box, paths[r.client]))
                      for r in rows}  # fmt: skip
            with self.raw() as imap:
                imap.select(box)
                imap.command(
                    b"UID STORE %s +FLAGS.SILENT (%s)"
                    % (",".join(map(str, uids)).encode(), FLAG.encode())
                )
            for row in rows:
                m = self.measurement("sync", row.client, rtt)
                first = firsts[row.client]
                result = (
                    first
                    if isinstance(first, str)
                    else self.run(self.spec("sync", row.client, port, box, paths[row.client]))
                )
                problem = ""
                if not isinstance(result, str) and result["commands"] != changed:
                    problem = f"saw {result['commands']} changed messages, expected {changed}"
                self.record(m, result, problem)
                path = paths[row.client]
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
            with self.raw() as imap:
                imap.command(b'DELETE "%s"' % box.encode())

    def measurement(self, scenario: str, client: str, rtt: float) -> Measurement:
        for m in self.results:
            if (m.scenario, m.client, m.rtt_ms) == (scenario, client, rtt):
                return m
        m = Measurement(scenario, client, rtt)
        self.results.append(m)
        return m


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def _get(
    results: Sequence[Measurement], scenario: str, client: str, rtt: float
) -> Measurement | None:
    for m in results:
        if (m.scenario, m.client, m.rtt_ms) == (scenario, client, rtt) and m.ok:
            return m
    return None


def print_tables(bench: Bench, rtts: Sequence[float]) -> None:
    results = bench.results
    what = {
        "archive": f"{len(bench.messages):,} messages, {bench.total_bytes / MB:.1f} MB",
        "import": f"{bench.import_count:,} messages from an mbox",
        "sync": f"{len(bench.messages):,} messages, {max(1, len(bench.messages) // 100)} changed",
    }
    width = 30
    sub = f"{'seconds':>9} {'x fastest':>9} {'pipeimap':>9}"
    for scenario in SCENARIOS.values():
        rows = [r for r in scenario.rows if any(
            m.scenario == scenario.name and m.client == r.client for m in results)]  # fmt: skip
        if not rows:
            continue
        lines: list[tuple[str, list[str]]] = []
        for row in rows:
            cells: list[str] = []
            for rtt in rtts:
                m = _get(results, scenario.name, row.client, rtt)
                if m is None:
                    cells.append(f"{'failed':>{width}}")
                    continue
                ok = [
                    x for x in results if x.scenario == scenario.name and x.rtt_ms == rtt and x.ok
                ]
                fastest = min(x.median for x in ok)
                pipe = _get(results, scenario.name, "pipeimap", rtt)
                speedup = (
                    f"{m.median / pipe.median:8.1f}x"
                    if pipe is not None and row.client != "pipeimap"
                    else f"{'-':>9}"
                )
                cells.append(f"{m.median:9.3f} {m.median / fastest:8.2f}x {speedup}")
            lines.append((row.label, cells))
        print_rtt_table(
            f"{scenario.title} ({what[scenario.name]})",
            rtts,
            sub,
            lines,
            label_width=50,
            cell_width=width,
        )
        print(
            "  x fastest: time / the fastest row's at the same RTT (lower is better); "
            "pipeimap: this peer's time / pipeimap's (pipeimap's speed-up)"
        )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="200 messages, 100 to import")
    ap.add_argument("--rtt", default="0,20", help="round-trip times in ms (default 0,20)")
    ap.add_argument("--json", metavar="PATH", help="also write every measurement as JSON")
    ap.add_argument("--messages", type=int, help="archive/sync mailbox (default 2000, quick 200)")
    ap.add_argument("--import-messages", type=int, help="mbox size (default 500, quick 100)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per row (median shown)")
    ap.add_argument("--scenarios", default="", help="comma-separated subset of archive,import,sync")
    ap.add_argument("--chunk", type=int, default=100, help="UIDs per IMAPClient fetch")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--run-timeout", type=float, default=1800.0, help="seconds per run")
    args = ap.parse_args(argv)
    args.messages = args.messages or (200 if args.quick else 2000)
    args.import_messages = args.import_messages or (100 if args.quick else 500)
    rtts = [float(x) for x in args.rtt.split(",") if x.strip()]
    names = [s for s in args.scenarios.split(",") if s] or list(SCENARIOS)
    if set(names) - set(SCENARIOS):
        ap.error(f"unknown scenarios {sorted(set(names) - set(SCENARIOS))}")

    info = machine_info()
    versions = _versions()
    print(
        f"pipeimap jobs benchmark: Python {info['python']} on {info['platform']}, "
        f"{info['cpus']} CPUs, load average {info['loadavg_at_start']}"
    )
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print(
        f"plaintext through a latency proxy, no compression; RTTs "
        f"{', '.join(f'{r:g}' for r in rtts)} ms; every job timed whole (connect and login "
        f"included), {args.repeat} run(s) per row"
    )
    t_start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="pipeimap-jobs-bench-"))
    try:
        with DovecotServer(users={USER: PASSWORD}, compress=False, quota=False) as server:
            bench = Bench(args, server, tmp)
            bench.load()
            for rtt in rtts:
                with ProxyProcess((server.host, server.imap_port), rtt / 2000) as proxy:
                    if "archive" in names:
                        bench.archive(rtt, proxy.port)
                    if "import" in names:
                        bench.import_(rtt, proxy.port)
                    if "sync" in names:
                        bench.sync(rtt, proxy.port)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print_tables(bench, rtts)
    for note in bench.notes:
        print("note: " + note)
    elapsed = time.perf_counter() - t_start
    print(f"\nwall time {elapsed:.0f} s")
    if bench.problems:
        print("\nCORRECTNESS CHECKS FAILED:")
        for p in bench.problems:
            print("  " + p)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "benchmark": "jobs",
                    "machine": info,
                    "versions": versions,
                    "options": vars(args),
                    "rtts_ms": rtts,
                    "messages": len(bench.messages),
                    "mailbox_bytes": bench.total_bytes,
                    "import_messages": bench.import_count,
                    "results": [m.as_json() for m in bench.results],
                    "notes": bench.notes,
                    "problems": bench.problems,
                    "wall_seconds": elapsed,
                },
                indent=1,
            )
            + "\n",
            encoding="utf-8",
        )
    return 1 if bench.problems else 0


if __name__ == "__main__":
    sys.exit(main())
