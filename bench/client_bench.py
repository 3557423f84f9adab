"""Client benchmark: pipeimap against a raw socket client, imaplib, IMAPClient
and aioimaplib, on the same private Dovecot, at several round-trip times.

Usage::

    python bench/client_bench.py [--quick] [--rtt 0,20] [--json out.json]

One run starts a private Dovecot (:class:`pipeimap.testing.dovecot.DovecotServer`),
loads a deterministic mailbox (``--messages``, default 2,000: mostly small
messages, some large, see :mod:`bench._mailbox`) and a second mailbox holding
one big message (``--big-mb``, default 200), then, for each round-trip time,
starts a latency proxy (:mod:`bench.latency_proxy`, a child process) in front
of Dovecot's plain port and runs every scenario for every client through it:

* ``fetch`` -- every full message (``BODY.PEEK[]``);
* ``flags`` -- ``+FLAGS.SILENT (\\Flagged)`` on every message, one command
  per message;
* ``big``   -- the big message, written to a file; peak RSS matters here.

Every (scenario, client, RTT) run is a fresh process (``bench/_client_runner.py``)
that connects, logs in and selects untimed, then times the work only.  The fast
rows are repeated ``--repeat`` times, rounds interleaved, and the median is
shown; the one-command-per-message rows run once (at 20 ms they take about 40 s
each).  ``--per-message-limit N`` caps those rows at N messages and scales
their time up; the tables mark such figures.

Correctness is checked for every run and decides the exit status: every body
must arrive with the size the server reports for its UID, the big message must
land in the file with the right size and CRC-32, and after each ``flags`` run a
separate connection must find exactly the expected messages flagged (flags are
cleared before each run).  Speed targets are printed with PASS/MISS but never
fail the run.

To add a scenario or a client: a runner in ``_client_runner.RUNNERS`` and a
``Row`` in ``SCENARIOS`` below; the RTT list is a command-line option.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._client_runner import FLAG, Spec
from bench._mailbox import BigMessage, RawIMAP, generate_messages, load_big_message, load_mailbox
from bench._tables import print_rtt_table
from bench.latency_proxy import ProxyProcess
from pipeimap.testing.dovecot import DovecotServer

MB = 1_000_000
USER, PASSWORD = "bench", "bench-password"
MAILBOX, BIG_MAILBOX = "bench", "big"
RUNNER = str(Path(__file__).resolve().parent / "_client_runner.py")

# Targets of issue 3, checked at TARGET_RTT_MS.
TARGET_RTT_MS = 20.0
TARGET_FETCH_VS_RAW = 1.3
TARGET_FETCH_VS_PER_MESSAGE = 20.0
TARGET_FLAGS_VS_IMAPLIB = 50.0
TARGET_BIG_RSS_MB = 100.0


@dataclass(frozen=True)
class Row:
    client: str  # key in _client_runner.RUNNERS
    label: str
    per_message: bool = False  # one command per message, sequentially: slow, run once
    optional: str = ""  # module that must be importable, else the row is skipped


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    rows: tuple[Row, ...]


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "fetch",
            "Fetch every full message",
            (
                Row("raw", "raw socket: one UID FETCH 1:n BODY.PEEK[], bytes counted"),
                Row("pipeimap", "pipeimap: client.fetch(uids, BODY.PEEK[]), streamed"),
                Row("pipeimap-tasks", "pipeimap: uid_fetch(uid) per message, 1 task each"),
                Row(
                    "imapclient-chunked",
                    "IMAPClient: fetch(100 UIDs) per command",
                    False,
                    "imapclient",
                ),
                Row("imaplib", "imaplib: one UID FETCH per message", True),
                Row("imapclient", "IMAPClient: fetch([uid]) per message", True, "imapclient"),
                Row("aioimaplib", "aioimaplib: one UID FETCH per message", True, "aioimaplib"),
            ),
        ),
        Scenario(
            "flags",
            "Set \\Flagged on every message, one command per message",
            (
                Row("raw", "raw socket: every UID STORE written in one send"),
                Row("pipeimap", "pipeimap: store(uid) per message, 1 task each"),
                Row("imaplib", "imaplib: sequential UID STORE", True),
                Row("imapclient", "IMAPClient: sequential add_flags([uid])", True, "imapclient"),
                Row("aioimaplib", "aioimaplib: sequential UID STORE", True, "aioimaplib"),
            ),
        ),
        Scenario(
            "big",
            "Fetch one big message into a file (peak RSS of the client process)",
            (
                Row("raw", "raw socket: streamed to the file"),
                Row("pipeimap", "pipeimap: fetch_bodies(uid, sink), streamed"),
                Row("imaplib", "imaplib: UID FETCH, body held, then written"),
                Row("imapclient", "IMAPClient: fetch([uid]), body held", False, "imapclient"),
                Row("aioimaplib", "aioimaplib: UID FETCH, body held", False, "aioimaplib"),
            ),
        ),
    )
}


@dataclass
class Measurement:
    scenario: str
    client: str
    rtt_ms: float
    messages: int  # messages this client worked on
    total_messages: int  # messages in the scenario (extrapolation base)
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    rss_peak_kb: list[int] = field(default_factory=list)
    rss_before_kb: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.seconds) and not self.errors

    @property
    def scale(self) -> float:
        return self.total_messages / self.messages if self.messages else 1.0

    @property
    def capped(self) -> bool:
        return self.messages < self.total_messages

    @property
    def median(self) -> float:
        """Median time for the whole scenario (scaled up if capped)."""
        return statistics.median(self.seconds) * self.scale

    @property
    def peak_mb(self) -> float:
        return max(self.rss_peak_kb) * 1024 / MB

    def as_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "client": self.client,
            "rtt_ms": self.rtt_ms,
            "messages": self.messages,
            "total_messages": self.total_messages,
            "extrapolated": self.capped,
            "seconds": self.seconds,
            "median_seconds_full": self.median if self.seconds else None,
            "cpu_seconds": self.cpu_seconds,
            "rss_peak_kb": self.rss_peak_kb,
            "rss_before_kb": self.rss_before_kb,
            "errors": self.errors,
        }


class Bench:
    def __init__(self, args: argparse.Namespace, server: DovecotServer, tmp: Path) -> None:
        self.args = args
        self.server = server
        self.tmp = tmp
        self.expected_sizes: dict[int, int] = {}
        self.big: BigMessage | None = None
        self.results: list[Measurement] = []
        self.problems: list[str] = []

    # -- set-up -------------------------------------------------------------------

    def raw(self) -> RawIMAP:
        imap = RawIMAP(self.server.host, self.server.imap_port)
        imap.login(USER, PASSWORD)
        return imap

    def load(self) -> None:
        a = self.args
        t0 = time.perf_counter()
        corpus = generate_messages(a.messages, seed=a.seed)
        with self.raw() as imap:
            load_mailbox(imap, MAILBOX, corpus.messages)
            self.big = load_big_message(imap, BIG_MAILBOX, int(a.big_mb * MB), seed=a.seed + 1)
            imap.select(MAILBOX)
            server_sizes = imap.rfc822_sizes()
            # Warm Dovecot's caches and the page cache: one untimed full fetch.
            imap.fetch_bodies()
        self.expected_sizes = {i + 1: s for i, s in enumerate(corpus.sizes)}
        if server_sizes != self.expected_sizes:
            raise SystemExit("the server does not report the sizes of the messages loaded")
        print(
            f"loaded {len(corpus.messages):,} messages ({corpus.total_bytes / MB:.1f} MB, "
            f"largest {max(corpus.sizes) / MB:.2f} MB) and one of "
            f"{self.big.size / MB:.1f} MB in {time.perf_counter() - t0:.1f} s"
        )

    # -- running ------------------------------------------------------------------

    def rows(self, scenario: Scenario) -> list[Row]:
        wanted = self.args.clients
        out = []
        for row in scenario.rows:
            if wanted and row.client not in wanted:
                continue
            if row.optional and not _importable(row.optional):
                print(f"  (skipping {row.client}: {row.optional} is not installed)")
                continue
            out.append(row)
        return out

    def uids_for(self, scenario: Scenario, row: Row) -> tuple[int, ...]:
        if scenario.name == "big":
            return (1,)
        n = len(self.expected_sizes)
        cap = self.args.per_message_limit
        if row.per_message and cap and cap < n:
            n = cap
        return tuple(range(1, n + 1))

    def run_scenario(self, scenario: Scenario, rtt_ms: float, port: int) -> None:
        rows = self.rows(scenario)
        total = 1 if scenario.name == "big" else len(self.expected_sizes)
        found = {
            r.client: Measurement(
                scenario.name, r.client, rtt_ms, len(self.uids_for(scenario, r)), total
            )
            for r in rows
        }
        repeat = self.args.repeat
        for rnd in range(repeat):
            for row in rows:
                if row.per_message and rnd > 0:
                    continue
                m = found[row.client]
                if m.errors:
                    continue
                spec = Spec(
                    client=row.client,
                    scenario=scenario.name,
                    host=self.server.host,
                    port=port,
                    user=USER,
                    password=PASSWORD,
                    mailbox=BIG_MAILBOX if scenario.name == "big" else MAILBOX,
                    uids=self.uids_for(scenario, row),
                    tls=self.args.tls,
                    ca_file=str(self.server.ca_file),
                    out_file=str(self.tmp / f"{row.client}.eml"),
                    chunk=self.args.chunk,
                    pipeline_depth=self.args.pipeline_depth,
                )
                self.run_one(spec, m)
                print(
                    f"  {scenario.name:<5} {rtt_ms:>4g} ms  {row.client:<20} "
                    + (f"{m.seconds[-1]:8.3f} s" if len(m.seconds) > rnd else "  failed")
                    + (
                        f" (x{m.scale:.1f} = {m.seconds[-1] * m.scale:.1f} s)"
                        if m.capped and m.seconds
                        else ""
                    ),
                    flush=True,
                )
        self.results.extend(found.values())

    def run_one(self, spec: Spec, m: Measurement) -> None:
        if spec.scenario == "flags":
            with self.raw() as imap:
                imap.select(MAILBOX)
                imap.command(b"UID STORE 1:* -FLAGS.SILENT (%s)" % FLAG.encode())
        if self.args.profile and spec.client.startswith("pipeimap"):
            name = f"{spec.scenario}-{spec.client}-{m.rtt_ms:g}ms-{len(m.seconds)}.prof"
            spec = replace(spec, profile=str(Path(self.args.profile) / name))
        proc = subprocess.run(
            [sys.executable, RUNNER, spec.to_json()],
            capture_output=True,
            text=True,
            timeout=self.args.run_timeout,
        )
        result: dict[str, Any] | None = None
        for line in proc.stdout.splitlines():
            if line.startswith("RESULT "):
                result = json.loads(line[len("RESULT ") :])
        if proc.returncode != 0 or result is None:
            tail = proc.stderr.strip().splitlines()[-12:]
            self.fail(m, f"the runner failed (exit {proc.returncode}): " + "\n    ".join(tail))
            return
        problem = self.check(spec, result)
        if problem:
            self.fail(m, problem)
            return
        m.seconds.append(result["seconds"])
        m.cpu_seconds.append(result["cpu_seconds"])
        m.rss_peak_kb.append(result["rss_peak_kb"])
        m.rss_before_kb.append(result["rss_before_kb"])
        if spec.profile:
            _print_profile(spec.profile, spec)

    def fail(self, m: Measurement, problem: str) -> None:
        text = f"{m.scenario} / {m.client} at {m.rtt_ms:g} ms: {problem}"
        m.errors.append(problem)
        self.problems.append(text)
        print("  CHECK FAILED: " + text, flush=True)

    # -- correctness ----------------------------------------------------------------

    def check(self, spec: Spec, result: dict[str, Any]) -> str:
        sizes = {int(k): v for k, v in result["sizes"].items()}
        if spec.scenario == "fetch":
            want = {u: self.expected_sizes[u] for u in spec.uids}
            if sizes != want:
                wrong = [u for u in want if sizes.get(u) != want[u]]
                extra = sorted(set(sizes) - set(want))
                return (
                    f"{len(sizes):,} bodies, {len(wrong):,} missing or of the wrong size "
                    f"(e.g. UIDs {wrong[:5]}), unexpected UIDs {extra[:5]}"
                )
            return ""
        if spec.scenario == "flags":
            if result["commands"] != len(spec.uids):
                return f"{result['commands']} STOREs completed, expected {len(spec.uids)}"
            with self.raw() as imap:
                imap.select(MAILBOX)
                flagged = imap.uid_search(FLAG.lstrip("\\").upper().encode())
            if sorted(flagged) != list(spec.uids):
                return f"the server has {len(flagged)} messages flagged, expected {len(spec.uids)}"
            return ""
        assert self.big is not None
        path = Path(spec.out_file)
        try:
            if sizes != {1: self.big.size}:
                return f"reported sizes {sizes}, expected {{1: {self.big.size}}}"
            crc = 0
            n = 0
            with path.open("rb") as f:
                while chunk := f.read(1 << 20):
                    crc = zlib.crc32(chunk, crc)
                    n += len(chunk)
            if n != self.big.size or crc != self.big.crc32:
                return f"the file has {n:,} bytes, CRC-32 {crc:08x}; expected {self.big.size:,}, {self.big.crc32:08x}"
            return ""
        finally:
            path.unlink(missing_ok=True)


def _print_profile(path: str, spec: Spec) -> None:
    import pstats

    print(f"  cProfile of {spec.client} ({spec.scenario}), top 20 by own time ({path}):")
    stats = pstats.Stats(path)
    stats.sort_stats("tottime").print_stats(20)


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def _get(
    results: Sequence[Measurement], scenario: str, client: str, rtt: float
) -> Measurement | None:
    for m in results:
        if m.scenario == scenario and m.client == client and m.rtt_ms == rtt and m.ok:
            return m
    return None


def print_tables(bench: Bench, rtts: Sequence[float]) -> None:
    results = bench.results
    n = len(bench.expected_sizes)
    total_mb = sum(bench.expected_sizes.values()) / MB
    for scenario in SCENARIOS.values():
        rows = [
            r
            for r in scenario.rows
            if any(m.scenario == scenario.name and m.client == r.client for m in results)
        ]
        if not rows:
            continue
        if scenario.name == "big":
            assert bench.big is not None
            what = f"1 message of {bench.big.size / MB:.1f} MB"
        elif scenario.name == "flags":
            what = f"{n:,} messages"
        else:
            what = f"{n:,} messages, {total_mb:.1f} MB"
        extra = {"fetch": "", "flags": "xImaplib", "big": "peak RSS"}[scenario.name]
        width = 18 + (len(extra) + 2 if extra else 0)  # one RTT's cells
        sub = f"{'seconds':>9} {'x raw':>8}" + (f"  {extra:>{len(extra)}}" if extra else "")
        capped = False
        lines: list[tuple[str, list[str]]] = []
        for row in rows:
            cells: list[str] = []
            for rtt in rtts:
                m = _get(results, scenario.name, row.client, rtt)
                raw = _get(results, scenario.name, "raw", rtt)
                if m is None:
                    failed = _failed(results, scenario.name, row.client, rtt)
                    cells.append(f"{'failed' if failed else '-':>{width}}")
                    continue
                capped |= m.capped
                mark = "*" if m.capped else " "
                ratio = f"{m.median / raw.median:7.2f}x" if raw is not None else f"{'-':>8}"
                cell = f"{m.median:8.3f}{mark} {ratio}"
                if scenario.name == "flags":
                    imaplib = _get(results, "flags", "imaplib", rtt)
                    value = f"{imaplib.median / m.median:.1f}x" if imaplib is not None else "-"
                    cell += f"  {value:>{len(extra)}}"
                elif scenario.name == "big":
                    cell += f"  {f'{m.peak_mb:.0f} MB':>{len(extra)}}"
                cells.append(cell)
            lines.append((row.label, cells))
        print_rtt_table(
            f"{scenario.title} ({what})", rtts, sub, lines, label_width=56, cell_width=width
        )
        if capped:
            print(
                f"  * measured on the first {bench.args.per_message_limit:,} of {n:,} messages "
                f"(--per-message-limit) and multiplied by {n / bench.args.per_message_limit:.2f}"
            )
        print("  x raw: time / the raw client's time at the same RTT (lower is better)")
        if scenario.name == "flags":
            print("  xImaplib: sequential imaplib's time / this client's (higher is better)")
        if scenario.name == "big":
            print(
                "  peak RSS: VmHWM of the client's own process (interpreter and imports included)"
            )


def _failed(results: Sequence[Measurement], scenario: str, client: str, rtt: float) -> bool:
    return any(
        m.scenario == scenario and m.client == client and m.rtt_ms == rtt and m.errors
        for m in results
    )


def targets(results: Sequence[Measurement]) -> list[tuple[str, str, str]]:
    """(target, measured, PASS/MISS/-) for the targets of issue 3."""
    rtt = TARGET_RTT_MS
    out: list[tuple[str, str, str]] = []

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    pi = _get(results, "fetch", "pipeimap", rtt)
    raw = _get(results, "fetch", "raw", rtt)
    name = f"fetch at {rtt:g} ms: pipeimap within {TARGET_FETCH_VS_RAW}x of raw"
    if pi and raw:
        r = pi.median / raw.median
        out.append(
            (
                name,
                f"{r:.2f}x ({pi.median:.3f} s vs {raw.median:.3f} s)",
                verdict(r <= TARGET_FETCH_VS_RAW),
            )
        )
    else:
        out.append((name, "not measured", "-"))
    per_message = [
        m
        for c in ("imaplib", "imapclient", "aioimaplib")
        if (m := _get(results, "fetch", c, rtt)) is not None
    ]
    name = f"fetch at {rtt:g} ms: pipeimap >= {TARGET_FETCH_VS_PER_MESSAGE:g}x faster than per-message clients"
    if pi and per_message:
        slowest_ratio = min(m.median / pi.median for m in per_message)
        which = min(per_message, key=lambda m: m.median)
        out.append(
            (
                name,
                f"{slowest_ratio:.1f}x (vs the fastest of them, {which.client})",
                verdict(slowest_ratio >= TARGET_FETCH_VS_PER_MESSAGE),
            )
        )
    else:
        out.append((name, "not measured", "-"))
    pf = _get(results, "flags", "pipeimap", rtt)
    il = _get(results, "flags", "imaplib", rtt)
    name = f"flags at {rtt:g} ms: pipeimap >= {TARGET_FLAGS_VS_IMAPLIB:g}x faster than sequential imaplib"
    if pf and il:
        r = il.median / pf.median
        out.append(
            (
                name,
                f"{r:.1f}x ({pf.median:.3f} s vs {il.median:.1f} s)",
                verdict(r >= TARGET_FLAGS_VS_IMAPLIB),
            )
        )
    else:
        out.append((name, "not measured", "-"))
    big = [m for m in results if m.scenario == "big" and m.client == "pipeimap" and m.ok]
    name = f"big message: pipeimap peak RSS < {TARGET_BIG_RSS_MB:g} MB"
    if big:
        peak = max(m.peak_mb for m in big)
        out.append(
            (name, f"{peak:.0f} MB (whole process, worst RTT)", verdict(peak < TARGET_BIG_RSS_MB))
        )
    else:
        out.append((name, "not measured", "-"))
    return out


def machine_info() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("pipeimap", "imapclient", "aioimaplib", "trio", "anyio"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    try:
        dovecot = subprocess.run(
            ["dovecot", "--version"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        dovecot = "?"
    out["dovecot"] = dovecot
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument(
        "--quick", action="store_true", help="200 messages, a 20 MB big message, one round"
    )
    ap.add_argument(
        "--rtt", default="0,20", help="round-trip times in ms, comma-separated (default 0,20)"
    )
    ap.add_argument("--json", metavar="PATH", help="also write every measurement as JSON")
    ap.add_argument(
        "--messages", type=int, help="messages in the mailbox (default 2000, quick 200)"
    )
    ap.add_argument("--big-mb", type=float, help="size of the big message (default 200, quick 20)")
    ap.add_argument("--repeat", type=int, help="rounds of the fast rows (default 3, quick 1)")
    ap.add_argument(
        "--per-message-limit",
        type=int,
        default=0,
        help="run one-command-per-message peers on the first N messages only, and scale their time",
    )
    ap.add_argument("--scenarios", default="", help="comma-separated subset of fetch,flags,big")
    ap.add_argument("--clients", default="", help="comma-separated subset of the clients")
    ap.add_argument(
        "--tls", action="store_true", help="implicit TLS (port 993 style) for every client"
    )
    ap.add_argument("--chunk", type=int, default=100, help="UIDs per IMAPClient chunked fetch")
    ap.add_argument(
        "--pipeline-depth", type=int, default=0, help="pipeimap's pipeline_depth (default: its own)"
    )
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--run-timeout", type=float, default=900.0, help="seconds per client run")
    ap.add_argument(
        "--profile",
        metavar="DIR",
        help="cProfile the pipeimap runs, keep the stats in DIR and print the top functions",
    )
    args = ap.parse_args(argv)
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    args.messages = args.messages or (200 if args.quick else 2000)
    args.big_mb = args.big_mb or (20.0 if args.quick else 200.0)
    args.repeat = args.repeat or (1 if args.quick else 3)
    args.clients = {c for c in args.clients.split(",") if c}
    if args.clients:
        args.clients.add("raw")  # every ratio needs it
    rtts = [float(x) for x in args.rtt.split(",") if x.strip()]
    names = [s for s in args.scenarios.split(",") if s] or list(SCENARIOS)
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        ap.error(f"unknown scenarios {sorted(unknown)}")

    info = machine_info()
    versions = _versions()
    print(
        f"pipeimap client benchmark: Python {info['python']} on {info['platform']}, "
        f"{info['cpus']} CPUs, load average {info['loadavg_at_start']}"
    )
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print(
        f"transport: {'implicit TLS' if args.tls else 'plaintext'} through a latency proxy, "
        f"no compression; RTTs {', '.join(f'{r:g}' for r in rtts)} ms; "
        f"fast rows: median of {args.repeat} interleaved rounds; per-message rows: 1 run"
        + (f", capped at {args.per_message_limit} messages" if args.per_message_limit else "")
    )
    t_start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="pipeimap-bench-"))
    try:
        with DovecotServer(users={USER: PASSWORD}, compress=False, quota=False) as server:
            bench = Bench(args, server, tmp)
            bench.load()
            target_port = server.imaps_port if args.tls else server.imap_port
            for rtt in rtts:
                with ProxyProcess((server.host, target_port), rtt / 2000) as proxy:
                    for name in names:
                        bench.run_scenario(SCENARIOS[name], rtt, proxy.port)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print_tables(bench, rtts)
    print(
        "\nTargets (issue 3)"
        + (" -- defined for the full run; --quick only smoke-tests them" if args.quick else "")
    )
    verdicts = targets(bench.results)
    for name, measured, status in verdicts:
        print(f"  {status:<4}  {name}: {measured}")
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
                    "benchmark": "client",
                    "machine": info,
                    "versions": versions,
                    "options": {
                        k: (sorted(v) if isinstance(v, set) else v) for k, v in vars(args).items()
                    },
                    "rtts_ms": rtts,
                    "messages": len(bench.expected_sizes),
                    "mailbox_bytes": sum(bench.expected_sizes.values()),
                    "big_message_bytes": bench.big.size if bench.big else None,
                    "results": [m.as_json() for m in bench.results],
                    "targets": [{"target": t, "measured": v, "status": s} for t, v, s in verdicts],
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
