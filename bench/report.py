"""The benchmark report: every scenario x every client x several round-trip times,
written as Markdown + PNG plots + raw JSON.

Usage::

    python bench/report.py [--quick] [--out bench/report] [--docs-plot]

One run starts a private Dovecot (:class:`pipeimap.testing.dovecot.DovecotServer`),
loads the deterministic corpus of :mod:`bench._mailbox` (``--messages``, default
1,000: 90 % of 2-30 KB, 9 % of 30-300 KB with attachments, 1 % of 0.3-3 MB;
RFC 2047 and raw UTF-8 headers) and writes an mbox of ``--import-messages``
others (default 300), then, for each round-trip time, starts a latency proxy
(:mod:`bench.latency_proxy`) in front of Dovecot and runs, ``--repeat`` rounds
(interleaved), every scenario for every client:

* ``archive``     -- every message of the mailbox into local files;
* ``import``      -- the mbox into a new mailbox;
* ``flag-update`` -- four STOREs: ``\\Seen``, ``\\Flagged``, ``\\Answered``,
  ``$Junk`` each on a quarter of the mailbox;
* ``header-scan`` -- ``BODY.PEEK[HEADER]`` of every message;
* ``sync``        -- the second, incremental run after 1 % of the messages
  changed flags.

Clients: pipeimap; imaplib (the raw standard-library baseline: "x raw" is
imaplib's time / the client's); IMAPClient (fetches in chunks of ``--chunk``
UIDs); aioimaplib; imap-tools (``fetch(bulk=True)``, ``flag()``, ``append()``);
mbsync when it is on the PATH (archive only).  A client that cannot do a
scenario gets an "n/a" cell with the reason.  Every job is a fresh process
(``bench/_report_runner.py``), timed whole (connect and login included, imports
not); the
parent samples the process's RSS every 50 ms and checks every result (files and
bytes written, messages on the server, header sizes by UID, flags on the server,
changes seen) -- a failed check makes the exit status 1 and marks the cell.

Output (``--out``, default ``bench/report``, ``--quick``: ``bench/report-quick``):
``REPORT.md``, ``throughput.png`` (messages/s against RTT per client, one panel
per scenario), ``memory-archive.png`` (RSS over time during the archive at
``--memory-rtt``), ``results.json``; ``--docs-plot`` also copies the throughput
plot to ``docs/_static/bench-throughput.png``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._client_runner import Spec
from bench._mailbox import RawIMAP, generate_messages, load_mailbox
from bench._report_runner import FLAG_CHANGES, flag_groups
from bench._tables import markdown_table, print_rtt_table
from bench.client_bench import MB, PASSWORD, USER, _importable
from bench.jobs_bench import count_files, write_mbox
from bench.latency_proxy import ProxyProcess
from pipeimap.testing.dovecot import DovecotServer

ROOT = Path(__file__).resolve().parent.parent
RUNNER = str(Path(__file__).resolve().parent / "_report_runner.py")
MAILBOX = "archive"
SAMPLE_SECONDS = 0.05
RAW = "imaplib"  # the "raw client" of the ratios
PEERS = ("imaplib", "imapclient", "aioimaplib", "imap-tools", "mbsync")


@dataclass(frozen=True)
class Client:
    name: str
    label: str
    needs: str = ""  # importable module, or "mbsync" (an executable)


CLIENTS: tuple[Client, ...] = (
    Client("pipeimap", "pipeimap"),
    Client("imaplib", "imaplib (raw)"),
    Client("imapclient", "IMAPClient", "imapclient"),
    Client("aioimaplib", "aioimaplib", "aioimaplib"),
    Client("imap-tools", "imap-tools", "imap_tools"),
    Client("mbsync", "mbsync", "mbsync"),
)


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    how: dict[str, str]  # client -> what it does
    na: dict[str, str]  # client -> why it cannot


_NO_SYNC = "n/a: no incremental sync in the library (a re-scan is what the imaplib row does)"
_NOT_LIB = "n/a: mbsync is a sync tool, not a library"
SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "archive",
            "Archive: every message of the mailbox into local files",
            {
                "pipeimap": "`archive(server, dest, mailboxes=[...], fsync=False)` (Maildir)",
                "imaplib": "`UID SEARCH ALL`, then `UID FETCH uid (BODY.PEEK[])` per message, .eml files",
                "imapclient": "`search()`, then `fetch(chunk of UIDs, ['BODY.PEEK[]'])`, .eml files",
                "aioimaplib": "`uid_search('ALL')`, then `uid('fetch', chunk, '(BODY.PEEK[])')`, .eml files",
                "imap-tools": "`fetch(mark_seen=False, bulk=True)` (one command), .eml files",
                "mbsync": "pull-only channel into a Maildir",
            },
            {},
        ),
        Scenario(
            "import",
            "Import: an mbox into a new mailbox",
            {
                "pipeimap": "`import_mail(server, mbox, mailbox)`",
                "imaplib": "`append()` per message (`mailbox.mbox` reader)",
                "imapclient": "`multiappend(folder, messages)` (RFC 3502)",
                "aioimaplib": "`append(msg, mailbox=...)` per message, awaited in turn",
                "imap-tools": "`append(msg, folder)` per message",
            },
            {"mbsync": "n/a: mbsync syncs Maildirs; it does not read an mbox"},
        ),
        Scenario(
            "flag-update",
            "Flag update: four STOREs (\\Seen, \\Flagged, \\Answered, $Junk) on four quarters",
            {
                "pipeimap": "`store(uids, flag)` x 4 from concurrent tasks",
                "imaplib": "`uid('STORE', set, '+FLAGS.SILENT', flag)` x 4",
                "imapclient": "`add_flags(uids, [flag], silent=True)` x 4",
                "aioimaplib": "`uid('store', set, '+FLAGS.SILENT', flag)` x 4, awaited in turn",
                "imap-tools": "`flag(uids, flag, True)` x 4 (each followed by its EXPUNGE)",
            },
            {"mbsync": _NOT_LIB},
        ),
        Scenario(
            "header-scan",
            "Header scan: BODY.PEEK[HEADER] of every message",
            {
                "pipeimap": "`fetch('1:*', ['BODY.PEEK[HEADER]'])`, streamed",
                "imaplib": "`uid('FETCH', '1:*', '(BODY.PEEK[HEADER])')`",
                "imapclient": "`search()`, then `fetch(chunk, ['BODY.PEEK[HEADER]'])`",
                "aioimaplib": "`uid('fetch', '1:*', '(BODY.PEEK[HEADER])')`",
                "imap-tools": "`fetch(headers_only=True, mark_seen=False, bulk=True)`",
            },
            {"mbsync": _NOT_LIB},
        ),
        Scenario(
            "sync",
            "Incremental sync: the second run, after 1 % of the messages changed flags",
            {
                "pipeimap": "`sync(server, dest, mailboxes=[...])`, second run",
                "imaplib": "re-scan: `UID FETCH 1:* (UID FLAGS)` compared with the saved map",
            },
            {
                "imapclient": _NO_SYNC,
                "aioimaplib": _NO_SYNC,
                "imap-tools": _NO_SYNC,
                "mbsync": "n/a: not wired into this report (its archive row is)",
            },
        ),
    )
}
RUNNER_NAME = {("sync", "imaplib"): "rescan"}  # the runner key where it differs


@dataclass
class Measurement:
    scenario: str
    client: str
    rtt_ms: float
    units: int  # messages worked on
    nbytes: int  # message bytes worked on (0: not a byte-volume job)
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    rss_peak_kb: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # the first run's RSS samples (s, KiB), kept for the memory plot's cells only
    rss_series: list[tuple[float, int]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.seconds) and not self.errors

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def per_second(self) -> float:
        return self.units / self.median

    @property
    def peak_mb(self) -> float:
        return max(self.rss_peak_kb) * 1024 / MB

    def as_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "client": self.client,
            "rtt_ms": self.rtt_ms,
            "messages": self.units,
            "bytes": self.nbytes,
            "seconds": self.seconds,
            "median_seconds": self.median if self.seconds else None,
            "messages_per_second": self.per_second if self.ok else None,
            "cpu_seconds": self.cpu_seconds,
            "rss_peak_kb": self.rss_peak_kb,
            "errors": self.errors,
            "rss_series": self.rss_series,
        }


@dataclass
class RunData:
    """Everything the report is made of; ``results.json`` holds it, and
    ``--render`` makes the report again from that file."""

    options: dict[str, Any]  # the command line's options (JSON-able), "argv" among them
    machine: dict[str, Any]
    rtts: list[float]
    messages: int
    total_bytes: int
    import_count: int
    import_bytes: int
    clients: list[Client]
    results: list[Measurement]
    notes: list[str]
    problems: list[str]
    wall_seconds: float

    def as_json(self) -> dict[str, Any]:
        return {
            "benchmark": "report",
            "options": self.options,
            "machine": self.machine,
            "rtts_ms": self.rtts,
            "messages": self.messages,
            "mailbox_bytes": self.total_bytes,
            "import_messages": self.import_count,
            "import_bytes": self.import_bytes,
            "clients": [c.name for c in self.clients],
            "results": [m.as_json() for m in self.results],
            "notes": self.notes,
            "problems": self.problems,
            "wall_seconds": self.wall_seconds,
        }

    @staticmethod
    def from_json(raw: dict[str, Any]) -> RunData:
        return RunData(
            options={"argv": [], **raw["options"]},
            machine=raw["machine"],
            rtts=raw["rtts_ms"],
            messages=raw["messages"],
            total_bytes=raw["mailbox_bytes"],
            import_count=raw["import_messages"],
            import_bytes=raw["import_bytes"],
            clients=[
                c
                for c in CLIENTS
                if c.name in raw.get("clients", [r["client"] for r in raw["results"]])
            ],
            results=[
                Measurement(
                    scenario=r["scenario"],
                    client=r["client"],
                    rtt_ms=r["rtt_ms"],
                    units=r["messages"],
                    nbytes=r["bytes"],
                    seconds=r["seconds"],
                    cpu_seconds=r["cpu_seconds"],
                    rss_peak_kb=r["rss_peak_kb"],
                    errors=r["errors"],
                    rss_series=[(t, kb) for t, kb in r["rss_series"]],
                )
                for r in raw["results"]
            ],
            notes=raw["notes"],
            problems=raw["problems"],
            wall_seconds=raw["wall_seconds"],
        )


# ---------------------------------------------------------------------------
# Running one job, watching its memory
# ---------------------------------------------------------------------------


def _tree_rss_kb(pid: int) -> int:
    """VmRSS of ``pid`` and its descendants (mbsync runs as a child), 0 if gone."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status", encoding="ascii") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
            with open(f"/proc/{p}/task/{p}/children", encoding="ascii") as f:
                todo.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return total


def run_job(spec: Spec, timeout: float) -> tuple[dict[str, Any] | str, list[tuple[float, int]]]:
    """One runner process: (its RESULT or what went wrong, RSS samples (s, KiB))."""
    proc = subprocess.Popen(
        [sys.executable, RUNNER, spec.to_json()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    samples: list[tuple[float, int]] = []
    t0 = time.perf_counter()

    def watch() -> None:
        while proc.poll() is None:
            kb = _tree_rss_kb(proc.pid)
            if kb:
                samples.append((round(time.perf_counter() - t0, 3), kb))
            time.sleep(SAMPLE_SECONDS)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return f"timed out after {timeout:g} s", samples
    finally:
        watcher.join()
    for line in out.splitlines():
        if line.startswith("RESULT ") and proc.returncode == 0:
            result: dict[str, Any] = json.loads(line[len("RESULT ") :])
            return result, samples
    tail = err.strip().splitlines()[-12:]
    return f"the runner failed (exit {proc.returncode}): " + "\n    ".join(tail), samples


# ---------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, server: DovecotServer, tmp: Path) -> None:
        self.args = args
        self.server = server
        self.tmp = tmp
        self.messages: tuple[bytes, ...] = ()
        self.total_bytes = 0
        self.header_sizes: dict[int, int] = {}
        self.import_count = 0
        self.import_bytes = 0
        self.mbox = tmp / "import.mbox"
        self.results: list[Measurement] = []
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.clients = [c for c in CLIENTS if self._wanted(c)]

    def _wanted(self, c: Client) -> bool:
        if self.args.clients and c.name not in self.args.clients:
            return False
        if not c.needs:
            return True
        present = shutil.which(c.needs) is not None if c.needs == "mbsync" else _importable(c.needs)
        if not present:
            self.notes.append(f"{c.label}: not installed, its rows are empty")
        return present

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
        self.header_sizes = {i + 1: m.index(b"\r\n\r\n") + 4 for i, m in enumerate(self.messages)}
        with self.raw() as imap:
            load_mailbox(imap, MAILBOX, corpus.messages)
            imap.select(MAILBOX)
            if imap.rfc822_sizes() != {i + 1: s for i, s in enumerate(corpus.sizes)}:
                raise SystemExit("the server does not report the sizes of the messages loaded")
            imap.fetch_bodies()  # warm Dovecot's caches and the page cache
        to_import = generate_messages(a.import_messages, seed=a.seed + 100).messages
        write_mbox(self.mbox, to_import)
        self.import_count = len(to_import)
        self.import_bytes = sum(len(m) for m in to_import)
        print(
            f"loaded {a.messages:,} messages ({self.total_bytes / MB:.1f} MB); mbox of "
            f"{self.import_count:,} messages ({self.import_bytes / MB:.1f} MB) "
            f"in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )

    def clients_for(self, scenario: Scenario) -> list[Client]:
        return [c for c in self.clients if c.name in scenario.how]

    def spec(self, scenario: str, client: str, port: int, mailbox: str, path: Path) -> Spec:
        return Spec(
            client=RUNNER_NAME.get((scenario, client), client),
            scenario=scenario,
            host=self.server.host,
            port=port,
            user=USER,
            password=PASSWORD,
            mailbox=mailbox,
            uids=tuple(range(1, len(self.messages) + 1)),
            out_file=str(path),
            chunk=self.args.chunk,
        )

    def measurement(self, scenario: str, client: str, rtt: float) -> Measurement:
        for m in self.results:
            if (m.scenario, m.client, m.rtt_ms) == (scenario, client, rtt):
                return m
        n, nbytes = {
            "archive": (len(self.messages), self.total_bytes),
            "import": (self.import_count, self.import_bytes),
        }.get(scenario, (len(self.messages), 0))
        m = Measurement(scenario, client, rtt, n, nbytes)
        self.results.append(m)
        return m

    def job(self, m: Measurement, spec: Spec, check: Any, failed: str = "") -> dict[str, Any] | str:
        """Run, check (``check(result) -> problem or ""``), record; ``failed``: do
        not run, record this failure (of an untimed preparation run)."""
        result: dict[str, Any] | str = failed
        samples: list[tuple[float, int]] = []
        if not failed:
            result, samples = run_job(spec, self.args.run_timeout)
        problem = result if isinstance(result, str) else check(result)
        if problem:
            text = f"{m.scenario} / {m.client} at {m.rtt_ms:g} ms: {problem}"
            m.errors.append(problem)
            self.problems.append(text)
            print("  CHECK FAILED: " + text, flush=True)
        else:
            assert not isinstance(result, str)
            m.seconds.append(result["seconds"])
            m.cpu_seconds.append(result["cpu_seconds"])
            m.rss_peak_kb.append(max([result["rss_peak_kb"], *(kb for _, kb in samples)]))
            if not m.rss_series and (m.scenario, m.rtt_ms) == ("archive", self.args.memory_rtt):
                m.rss_series = samples
        shown = f"{m.seconds[-1]:8.3f} s" if m.seconds and not problem else "  failed"
        print(f"  {m.scenario:<11} {m.rtt_ms:>4g} ms  {m.client:<11} {shown}", flush=True)
        return result

    # -- scenarios ------------------------------------------------------------------

    def archive(self, rtt: float, port: int, rnd: int) -> None:
        for c in self.clients_for(SCENARIOS["archive"]):
            dest = self.tmp / f"archive-{c.name}-{rtt:g}-{rnd}"

            def check(result: dict[str, Any], dest: Path = dest) -> str:
                n, size = count_files(dest)
                if (n, size) != (len(self.messages), self.total_bytes):
                    return (
                        f"{n:,} files of {size:,} bytes; expected "
                        f"{len(self.messages):,} files of {self.total_bytes:,} bytes"
                    )
                return ""

            m = self.measurement("archive", c.name, rtt)
            self.job(m, self.spec("archive", c.name, port, MAILBOX, dest), check)
            shutil.rmtree(dest, ignore_errors=True)
            dest.with_name(dest.name + ".mbsyncrc").unlink(missing_ok=True)

    def import_(self, rtt: float, port: int, rnd: int) -> None:
        for c in self.clients_for(SCENARIOS["import"]):
            box = f"import-{c.name}-{rtt:g}-{rnd}"

            def check(result: dict[str, Any], box: str = box) -> str:
                with self.raw() as imap:
                    exists = imap.select(box)
                    imap.command(b"CLOSE")
                    imap.command(b'DELETE "%s"' % box.encode())
                if exists != self.import_count:
                    return f"the mailbox holds {exists:,}, expected {self.import_count:,}"
                return ""

            m = self.measurement("import", c.name, rtt)
            self.job(m, self.spec("import", c.name, port, box, self.mbox), check)

    def _clear_flags(self) -> None:
        with self.raw() as imap:
            imap.select(MAILBOX)
            imap.command(b"UID STORE 1:* -FLAGS.SILENT (%s)" % " ".join(FLAG_CHANGES).encode())

    def flag_update(self, rtt: float, port: int, rnd: int) -> None:
        groups = flag_groups(range(1, len(self.messages) + 1))
        search = {"\\Seen": b"SEEN", "\\Flagged": b"FLAGGED", "\\Answered": b"ANSWERED"}

        def check(result: dict[str, Any]) -> str:
            with self.raw() as imap:
                imap.select(MAILBOX)
                for flag, uids in groups:
                    key = search.get(flag, b"KEYWORD " + flag.encode())
                    got = sorted(imap.uid_search(key))
                    if got != uids:
                        return f"{len(got):,} messages have {flag} on the server, expected {len(uids):,}"
            return ""

        for c in self.clients_for(SCENARIOS["flag-update"]):
            self._clear_flags()
            m = self.measurement("flag-update", c.name, rtt)
            self.job(m, self.spec("flag-update", c.name, port, MAILBOX, Path()), check)
        self._clear_flags()

    def header_scan(self, rtt: float, port: int, rnd: int) -> None:
        def check(result: dict[str, Any]) -> str:
            sizes = {int(k): v for k, v in result["sizes"].items()}
            if sizes != self.header_sizes:
                wrong = [u for u in self.header_sizes if sizes.get(u) != self.header_sizes[u]]
                return f"{len(sizes):,} headers, {len(wrong):,} missing or wrong (e.g. UIDs {wrong[:5]})"
            return ""

        for c in self.clients_for(SCENARIOS["header-scan"]):
            m = self.measurement("header-scan", c.name, rtt)
            self.job(m, self.spec("header-scan", c.name, port, MAILBOX, Path()), check)

    def sync(self, rtt: float, port: int, rnd: int) -> None:
        """A fresh copy per round, mirrored once untimed by each client, 1 % of it
        flagged through a raw connection, then each client's second run timed."""
        n = len(self.messages)
        changed = max(1, n // 100)
        step = n // changed
        uids = [1 + i * step for i in range(changed)]
        box = f"sync-{rtt:g}-{rnd}"
        with self.raw() as imap:
            load_mailbox(imap, box, self.messages)
        clients = self.clients_for(SCENARIOS["sync"])
        paths = {c.name: self.tmp / f"sync-{c.name}-{rtt:g}-{rnd}" for c in clients}
        firsts = {c.name: run_job(self.spec("sync", c.name, port, box, paths[c.name]),
                                  self.args.run_timeout)[0] for c in clients}  # fmt: skip
        with self.raw() as imap:
            imap.select(box)
            imap.command(
                b"UID STORE %s +FLAGS.SILENT (\\Flagged)" % ",".join(map(str, uids)).encode()
            )

        def check(result: dict[str, Any]) -> str:
            if result["commands"] != changed:
                return f"saw {result['commands']} changed messages, expected {changed}"
            return ""

        for c in clients:
            m = self.measurement("sync", c.name, rtt)
            first = firsts[c.name]
            spec = self.spec("sync", c.name, port, box, paths[c.name])
            self.job(m, spec, check, f"first run: {first}" if isinstance(first, str) else "")
            path = paths[c.name]
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        with self.raw() as imap:
            imap.command(b'DELETE "%s"' % box.encode())


# ---------------------------------------------------------------------------
# Machine
# ---------------------------------------------------------------------------


def _first_line(path: str, prefix: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip() if ":" in line else line.strip()
    except OSError:
        pass
    return "?"


def machine_info() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    mem = _first_line("/proc/meminfo", "MemTotal")
    os_name = _first_line("/etc/os-release", "PRETTY_NAME=")
    if os_name == "?":
        os_name = platform.platform()
    else:
        try:
            with open("/etc/os-release", encoding="utf-8") as f:
                for line in f:
                    if line.startswith("PRETTY_NAME="):
                        os_name = line.split("=", 1)[1].strip().strip('"')
        except OSError:
            pass
    versions: dict[str, str] = {}
    for dist in ("pipeimap", "imapclient", "aioimaplib", "imap-tools", "trio", "anyio"):
        try:
            versions[dist] = version(dist)
        except PackageNotFoundError:
            versions[dist] = "not installed"
    try:  # the optional C lexer (pipeimap.protocol._speedups) changes pipeimap's figures
        from pipeimap import protocol

        accelerated = getattr(protocol, "ACCELERATED", None)
        versions["pipeimap lexer"] = (
            "pure Python (no accelerator in this version)"
            if accelerated is None
            else "C accelerator"
            if accelerated
            else "pure Python"
        )
    except ImportError as exc:
        versions["pipeimap lexer"] = f"? ({exc})"
    try:
        dovecot = subprocess.run(
            ["dovecot", "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        dovecot = "?"
    mbsync = shutil.which("mbsync")
    if mbsync:
        proc = subprocess.run([mbsync, "--version"], capture_output=True, text=True, check=False)
        versions["mbsync"] = proc.stdout.strip() or proc.stderr.strip()
    else:
        versions["mbsync"] = "not installed"
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _first_line("/proc/cpuinfo", "model name"),
        "cores": os.cpu_count(),
        "ram": f"{int(mem.split()[0]) / 1024**2:.1f} GiB" if mem != "?" else "?",
        "os": f"{os_name} ({platform.system()} {platform.release()}, {platform.machine()})",
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "dovecot": dovecot,
        "versions": versions,
        "loadavg_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


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


def ratios(results: Sequence[Measurement], m: Measurement) -> tuple[float | None, float | None]:
    """(x raw, x best peer) for ``m``: imaplib's median time / ``m``'s, and the
    fastest peer's median time / ``m``'s (above 1: faster than it).  A peer is
    every client but pipeimap."""
    raw = _get(results, m.scenario, RAW, m.rtt_ms)
    peers = [p for c in PEERS if (p := _get(results, m.scenario, c, m.rtt_ms)) is not None]
    best = min((p.median for p in peers), default=None)
    return (
        raw.median / m.median if raw is not None else None,
        best / m.median if best is not None else None,
    )


def _x(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x" if v < 10 else f"{v:.1f}x"


def _cell_state(data: RunData, scenario: Scenario, client: Client, rtt: float) -> str:
    """'' when measured, else what to show."""
    if client.name in scenario.na:
        return scenario.na[client.name].split(":")[0]
    for m in data.results:
        if (m.scenario, m.client, m.rtt_ms) == (scenario.name, client.name, rtt):
            return "failed" if m.errors else ""
    return "-"


def print_console(data: RunData) -> None:
    rtts = data.rtts
    for scenario in SCENARIOS.values():
        rows: list[tuple[str, list[str]]] = []
        for c in data.clients:
            cells: list[str] = []
            for rtt in rtts:
                m = _get(data.results, scenario.name, c.name, rtt)
                if m is None:
                    cells.append(f"{_cell_state(data, scenario, c, rtt) or '-':>28}")
                    continue
                x_raw, x_best = ratios(data.results, m)
                cells.append(f"{m.median:8.3f} {_x(x_raw):>8} {_x(x_best):>8}")
            rows.append((c.label, cells))
        if any(m.scenario == scenario.name for m in data.results):
            print_rtt_table(
                scenario.title,
                rtts,
                f"{'seconds':>8} {'x raw':>8} {'x best':>8}",
                rows,
                label_width=16,
                cell_width=28,
            )


def summary(data: RunData) -> list[str]:
    """The headline table: per scenario and RTT, pipeimap's speed-up over imaplib
    and over the fastest peer (named)."""
    label = {c.name: c.label for c in CLIENTS}
    rows: list[list[str]] = []
    for scenario in SCENARIOS.values():
        if not any(m.scenario == scenario.name for m in data.results):
            continue
        row = [scenario.name]
        for rtt in data.rtts:
            m = _get(data.results, scenario.name, "pipeimap", rtt)
            peers = [p for c in PEERS if (p := _get(data.results, scenario.name, c, rtt))]
            if m is None or not peers:
                row.append("-")
                continue
            best = min(peers, key=lambda p: p.median)
            x_raw, x_best = ratios(data.results, m)
            row.append(f"{_x(x_raw)} / {_x(x_best)} ({label[best.client]})")
        rows.append(row)
    if not rows:
        return []
    return [
        "## Summary",
        "",
        "pipeimap's speed-up over imaplib / over the fastest peer (named); above 1 = "
        "pipeimap is faster, below 1 = slower:",
        "",
        markdown_table(["scenario", *(f"{r:g} ms" for r in data.rtts)], rows),
        "",
    ]


def write_markdown(data: RunData, out: Path, plots: list[str]) -> str:
    """``out/REPORT.md``; ``plots``: the PNG files next to it."""
    a = argparse.Namespace(**data.options)
    info, wall, rtts = data.machine, data.wall_seconds, data.rtts
    n = data.messages
    lines = [
        "# pipeimap benchmark report",
        "",
        f"Generated by `bench/report.py{' --quick' if a.quick else ''}` on {info['date']} "
        f"in {wall / 60:.1f} minutes.  Reproduce: `nox -s bench` (see *How to reproduce* "
        "below).",
        "",
    ]
    if a.quick:
        lines += [
            "**Smoke run (`--quick`)**: one run per cell on a small corpus; the figures "
            "only show that everything works, not how fast it is.",
            "",
        ]
    lines += [
        "## Set-up",
        "",
        f"* **Corpus** (deterministic, seed {a.seed}): {n:,} messages, {data.total_bytes / MB:.1f} MB "
        "-- 90 % of 2-30 KB, 9 % of 30-300 KB (with a base64 attachment), 1 % of 0.3-3 MB; "
        "RFC 2047 and raw UTF-8 subjects and names; bodies with IMAP look-alike lines.  "
        f"Import: an mbox of {data.import_count:,} other messages "
        f"({data.import_bytes / MB:.1f} MB).",
        "* **Server**: a private Dovecot "
        f"({info['dovecot']}) on the same machine, plaintext IMAP, no compression, "
        "reached through a loopback latency proxy (`bench/latency_proxy.py`) adding half "
        "the round-trip time in each direction.",
        f"* **Runs**: median of {a.repeat} run(s) per cell, rounds interleaved; every job "
        "is a fresh process, timed whole (connect and login included, the library's "
        "imports done before the clock starts), and its result is "
        "checked (files and bytes written, messages on the server, header sizes by UID, "
        "flags on the server, changes seen).",
        "* **x raw**: imaplib's median time / the client's (the standard library as the "
        "raw baseline; above 1 = faster than imaplib).  **x best peer**: the fastest of "
        "the peers (every client but pipeimap) / the client's; for pipeimap its speed-up "
        "over the best peer, for a peer at most 1.00.",
        "* **Peak RSS**: the highest resident set size of the client's process (the "
        "interpreter and its imports included; for mbsync its runner and mbsync), sampled "
        "every 50 ms and from `VmHWM`, highest over all RTTs.",
        f"* IMAPClient and aioimaplib fetch in chunks of {a.chunk} UIDs; imap-tools with "
        "`bulk=True` (one command for the mailbox); imaplib as commonly written "
        "(per-message `UID FETCH` for the archive, a UID set otherwise).",
        "* **Log-in**: pipeimap uses its defaults, so it authenticates with SCRAM-SHA-256 "
        "when the server offers it (Dovecot does): three round trips and a PBKDF2 on each "
        "side, where the peers send `LOGIN` (one round trip, the password in the clear). "
        "Every pipeimap job pays about two RTTs more for that, which shows in the short "
        "jobs (flag update, header scan, sync).",
        "* **Archive durability**: no client fsyncs -- pipeimap runs with `fsync=False`, "
        "the peers' scripts write each .eml without fsync -- so fsync explains none of "
        "the differences.  pipeimap does more per message than the peers: a Maildir "
        "delivery (temp file, mtime = internal date, rename into `cur/`), a row in its "
        "state DB (one transaction per batch) and a verification at the end.  At 0 ms "
        "both are bound by creating one file per message.",
        "* The machine is shared (2 cores, other jobs running): absolute figures are "
        "noisy; compare rows of the same table.",
        "",
        "## Machine",
        "",
        markdown_table(
            ["", ""],
            [
                ["date", info["date"]],
                ["CPU", f"{info['cpu']}, {info['cores']} cores"],
                ["RAM", info["ram"]],
                ["OS", info["os"]],
                ["Python", info["python"]],
                ["Dovecot", info["dovecot"]],
                *([k, v] for k, v in info["versions"].items()),
                ["load average at start", str(info["loadavg_at_start"])],
            ],
            "ll",
        ),
        "",
    ]
    lines += summary(data)
    if "throughput.png" in plots:
        lines += ["![throughput against round-trip time](throughput.png)", ""]
    for scenario in SCENARIOS.values():
        if not any(m.scenario == scenario.name for m in data.results):
            continue
        volume = {
            "archive": f"{n:,} messages, {data.total_bytes / MB:.1f} MB",
            "import": f"{data.import_count:,} messages, {data.import_bytes / MB:.1f} MB",
            "flag-update": f"{n:,} messages",
            "header-scan": f"{n:,} messages",
            "sync": f"{n:,} messages, {max(1, n // 100)} changed",
        }[scenario.name]
        lines += [f"## {scenario.title}", "", f"{volume}.", ""]
        header = ["client", *(f"{r:g} ms" for r in rtts), "peak RSS"]
        time_rows: list[list[str]] = []
        ratio_rows: list[list[str]] = []
        how_rows: list[list[str]] = []
        for c in data.clients:
            row = [c.label]
            rrow = [c.label]
            peaks: list[float] = []
            for rtt in rtts:
                m = _get(data.results, scenario.name, c.name, rtt)
                if m is None:
                    state = _cell_state(data, scenario, c, rtt)
                    row.append(state)
                    rrow.append(state)
                    continue
                x_raw, x_best = ratios(data.results, m)
                rate = f"{m.per_second:,.0f} msg/s"
                if m.nbytes:
                    rate += f", {m.nbytes / MB / m.median:.1f} MB/s"
                row.append(f"{m.median:.3f} s ({rate})")
                rrow.append(f"{_x(x_raw)} / {_x(x_best)}")
                peaks.append(m.peak_mb)
            row.append(f"{max(peaks):.0f} MB" if peaks else "")
            time_rows.append(row)
            ratio_rows.append(rrow)
            how_rows.append([c.label, scenario.how.get(c.name) or scenario.na.get(c.name, "")])
        lines += [
            "Median time (throughput):",
            "",
            markdown_table(header, time_rows),
            "",
            "x raw / x best peer (higher is faster):",
            "",
            markdown_table(header[:-1], ratio_rows),
            "",
            markdown_table(["client", "how"], how_rows, "ll"),
            "",
        ]
    if "memory-archive.png" in plots:
        lines += [
            f"## Memory during the archive ({a.memory_rtt:g} ms RTT)",
            "",
            "Resident set size of each client's process, sampled every 50 ms, over its "
            "first archive run.",
            "",
            "![RSS over time during the archive](memory-archive.png)",
            "",
        ]
    if data.notes or data.problems:
        lines += ["## Notes", ""]
        lines += [f"* {note}" for note in data.notes]
        lines.append("")
        if data.problems:
            lines += ["Failed runs (their cells say *failed*):", "", "```text"]
            lines += data.problems
            lines += ["```", ""]
    lines += [
        "## How to reproduce",
        "",
        "```sh",
        "scripts/bootstrap            # Dovecot + the virtualenv, once",
        "nox -s bench                 # this report, into bench/report/",
        "nox -s bench -- --quick      # a 2-3 minute smoke run, into bench/report-quick/",
        "python bench/report.py --help",
        "```",
        "",
        f"Options of this run: `{' '.join(a.argv) or '(defaults)'}`.  Raw figures: "
        "`results.json` next to this file.",
        "",
    ]
    text = "\n".join(lines)
    (out / "REPORT.md").write_text(text, encoding="utf-8")
    return text


_STYLE = {
    "pipeimap": ("tab:red", "o"),
    "imaplib": ("tab:gray", "s"),
    "imapclient": ("tab:blue", "^"),
    "aioimaplib": ("tab:green", "v"),
    "imap-tools": ("tab:purple", "D"),
    "mbsync": ("tab:brown", "x"),
}


def write_plots(data: RunData, out: Path) -> list[str]:
    """throughput.png and memory-archive.png; the names of those written."""
    rtts = data.rtts
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[str] = []
    names = [s for s in SCENARIOS.values() if any(m.scenario == s.name for m in data.results)]
    if names:
        cols = min(3, len(names))
        rows = (len(names) + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.8 * rows), squeeze=False)
        for ax, scenario in zip(axes.flat, names, strict=False):
            for c in data.clients:
                points = [
                    (rtt, m.per_second)
                    for rtt in rtts
                    if (m := _get(data.results, scenario.name, c.name, rtt)) is not None
                ]
                if points:
                    color, marker = _STYLE[c.name]
                    xs, ys = zip(*points, strict=True)
                    ax.plot(xs, ys, marker=marker, color=color, label=c.label)
            ax.set_title(scenario.name)
            ax.set_xlabel("round-trip time (ms)")
            ax.set_ylabel("messages / s")
            ax.set_yscale("log")
            ax.set_xticks(list(rtts))
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize="small")
        for ax in list(axes.flat)[len(names) :]:
            ax.axis("off")
        fig.suptitle(
            f"pipeimap vs peers: throughput against RTT ({data.messages:,} messages, "
            f"median of {data.options['repeat']})"
        )
        fig.tight_layout()
        fig.savefig(out / "throughput.png", dpi=110)
        plt.close(fig)
        written.append("throughput.png")
    series = [
        (c, m)
        for c in data.clients
        if (m := _get(data.results, "archive", c.name, data.options["memory_rtt"])) is not None
        and m.rss_series
    ]
    if series:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for c, m in series:
            color, _ = _STYLE[c.name]
            seconds = [t for t, _ in m.rss_series]
            rss_mb = [kb * 1024 / MB for _, kb in m.rss_series]
            ax.plot(seconds, rss_mb, color=color, label=f"{c.label} ({m.rss_series[-1][0]:.1f} s)")
        ax.set_xlabel("seconds since the process started")
        ax.set_ylabel("RSS (MB)")
        ax.set_title(
            f"Archive of {data.messages:,} messages ({data.total_bytes / MB:.0f} MB) "
            f"at {data.options['memory_rtt']:g} ms RTT: RSS every 50 ms"
        )
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
        fig.tight_layout()
        fig.savefig(out / "memory-archive.png", dpi=110)
        plt.close(fig)
        written.append("memory-archive.png")
    return written


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 200 messages, 50 to import, RTT 0 and 20, one run (2-3 minutes)",
    )
    ap.add_argument("--out", type=Path, help="output directory (default bench/report)")
    ap.add_argument("--rtt", help="round-trip times in ms (default 0,5,20,50; quick 0,20)")
    ap.add_argument("--repeat", type=int, help="runs per cell, median shown (default 3)")
    ap.add_argument("--messages", type=int, help="mailbox size (default 1000, quick 200)")
    ap.add_argument("--import-messages", type=int, help="mbox size (default 300, quick 50)")
    ap.add_argument("--scenarios", default="", help="comma-separated subset of the scenarios")
    ap.add_argument("--clients", default="", help="comma-separated subset of the clients")
    ap.add_argument("--chunk", type=int, default=100, help="UIDs per chunked fetch")
    ap.add_argument("--memory-rtt", type=float, default=0.0, help="RTT of the memory plot")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--run-timeout", type=float, default=900.0, help="seconds per job")
    ap.add_argument(
        "--docs-plot",
        action="store_true",
        help="also copy the throughput plot to docs/_static/bench-throughput.png",
    )
    ap.add_argument(
        "--render",
        metavar="JSON",
        type=Path,
        help="no benchmark: make REPORT.md and the plots again from a results.json "
        "(into --out, default the JSON's directory)",
    )
    args = ap.parse_args(argv)
    if args.render:
        data = RunData.from_json(json.loads(args.render.read_text(encoding="utf-8")))
        return publish(data, args.out or args.render.parent, args.docs_plot, write_json=False)
    args.messages = args.messages or (200 if args.quick else 1000)
    args.import_messages = args.import_messages or (50 if args.quick else 300)
    args.repeat = args.repeat or (1 if args.quick else 3)
    args.rtt = args.rtt or ("0,20" if args.quick else "0,5,20,50")
    args.out = args.out or ROOT / "bench" / ("report-quick" if args.quick else "report")
    args.clients = {c for c in args.clients.split(",") if c}
    rtts = [float(x) for x in args.rtt.split(",") if x.strip()]
    if args.memory_rtt not in rtts:
        args.memory_rtt = rtts[0]
    names = [s for s in args.scenarios.split(",") if s] or list(SCENARIOS)
    if set(names) - set(SCENARIOS):
        ap.error(f"unknown scenarios {sorted(set(names) - set(SCENARIOS))}")

    info = machine_info()
    print(
        f"pipeimap benchmark report: {info['cpu']}, {info['cores']} cores, {info['ram']}, "
        f"{info['os']}, {info['python']}, Dovecot {info['dovecot']}"
    )
    print(f"RTTs {', '.join(f'{r:g}' for r in rtts)} ms; {args.repeat} run(s) per cell")
    t_start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="pipeimap-report-"))
    steps = {
        "archive": Bench.archive,
        "import": Bench.import_,
        "flag-update": Bench.flag_update,
        "header-scan": Bench.header_scan,
        "sync": Bench.sync,
    }
    try:
        with DovecotServer(users={USER: PASSWORD}, compress=False, quota=False) as server:
            bench = Bench(args, server, tmp)
            bench.load()
            for rtt in rtts:
                with ProxyProcess((server.host, server.imap_port), rtt / 2000) as proxy:
                    for rnd in range(args.repeat):
                        for name in names:
                            steps[name](bench, rtt, proxy.port, rnd)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    options = {
        k: (sorted(v) if isinstance(v, set) else str(v) if isinstance(v, Path) else v)
        for k, v in vars(args).items()
    }
    options["argv"] = list(sys.argv[1:] if argv is None else argv)
    data = RunData(
        options=options,
        machine=info,
        rtts=rtts,
        messages=len(bench.messages),
        total_bytes=bench.total_bytes,
        import_count=bench.import_count,
        import_bytes=bench.import_bytes,
        clients=bench.clients,
        results=bench.results,
        notes=bench.notes,
        problems=bench.problems,
        wall_seconds=time.perf_counter() - t_start,
    )
    return publish(data, args.out, args.docs_plot)


def publish(data: RunData, out: Path, docs_plot: bool, write_json: bool = True) -> int:
    """Console tables, plots, REPORT.md (and results.json) into ``out``; the exit
    status (1 if a check failed)."""
    out.mkdir(parents=True, exist_ok=True)
    print_console(data)
    plots = write_plots(data, out)
    write_markdown(data, out, plots)
    if write_json:
        text = json.dumps(data.as_json(), indent=1) + "\n"
        (out / "results.json").write_text(text, encoding="utf-8")
    if docs_plot and "throughput.png" in plots:
        dest = ROOT / "docs" / "_static" / "bench-throughput.png"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / "throughput.png", dest)
        print(f"wrote {dest}")
    for note in data.notes:
        print("note: " + note)
    print(
        f"\nwrote {out / 'REPORT.md'} ({', '.join([*plots, 'results.json'])}); "
        f"benchmark wall time {data.wall_seconds:.0f} s"
    )
    if data.problems:
        print("\nCORRECTNESS CHECKS FAILED:")
        for p in data.problems:
            print("  " + p)
    return 1 if data.problems else 0


if __name__ == "__main__":
    sys.exit(main())
