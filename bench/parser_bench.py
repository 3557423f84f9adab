"""Response parser benchmark: pipeimap against IMAPClient, same bytes, one run.

Usage::

    python bench/parser_bench.py [--quick] [--json out.json] [--repeat N]

Two scenarios (corpora from :mod:`bench._corpus_gen`, deterministic):

(a) bulk ``BODY[]`` FETCH responses -- whole messages as literals, mostly
    5-50 KB with a few multi-MB ones.  pipeimap gets the wire bytes in 64 KiB
    pieces, as successive socket reads would deliver them, and its consumer
    counts the bytes of streamed ``FetchLiteralChunk`` events and of assembled
    literals.
(b) header-only FETCH lines (UID FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE).

IMAPClient's parser, ``imapclient.response_parser.parse_fetch_response``,
gets the same responses in the shape imaplib hands it (a list of lines and
``(line, literal)`` tuples, built before the clock starts).  That leaves
imaplib's own framing work out of IMAPClient's figure, so a third row,
"IMAPClient + imaplib", also times imaplib reading the wire bytes from an
in-memory file (as ``IMAPClient.fetch`` does: ``_get_tagged_response``,
``_untagged_response``, then ``parse_fetch_response``).

Rates are wire bytes (10**6 per MB) and FETCH responses per second of
``time.perf_counter`` wall time; the best of ``--repeat`` runs is reported,
the median beside it.  An untimed verification pass per parser -- which also
serves as the warm-up -- compares every message against the generator's ground
truth (UID, sequence number, flags, size, ENVELOPE, BODYSTRUCTURE, CRC-32 of
each body) with a different chunking, and every timed run must see the
expected message and byte counts.  A failed check exits 1; a missed speed
target does not (benchmarks report, they do not fail CI).
"""

from __future__ import annotations

import argparse
import gc
import imaplib
import io
import json
import os
import platform
import re
import statistics
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from imapclient.response_parser import parse_fetch_response

from bench._corpus_gen import (
    BulkCorpus,
    HeaderCorpus,
    ImaplibRecord,
    bodystructure_atoms,
    chunked,
    envelope_atoms,
    generate_bulk_corpus,
    generate_header_corpus,
    imaplib_fetch_records,
)
from bench._verify import Problems, verify_pipeimap_bulk, verify_pipeimap_headers
from pipeimap.protocol import ACCELERATED
from pipeimap.protocol import _responses as pr
from pipeimap.protocol._limits import ParserLimits
from pipeimap.protocol._parser import ResponseParser

MB = 1_000_000
TARGET_BULK_MB_S = 500.0
TARGET_HEADER_RATIO = 10.0

# ---------------------------------------------------------------------------
# Timed runs.  Each returns (messages, body bytes, sum of UIDs, messages with
# ENVELOPE and BODYSTRUCTURE); the loop checks these against the corpus so that
# a broken parser cannot post a number.  Asking for the envelope and body
# structure also keeps a parser that converts them lazily honest: the message
# list of a mail client reads both.
# ---------------------------------------------------------------------------

Counts = tuple[int, int, int, int]


def run_pipeimap(chunks: Sequence[bytes], limits: ParserLimits) -> Counts:
    """What a client's reader task does: feed each read, route every event."""
    parser = ResponseParser(limits=limits, expect_greeting=False)
    feed = parser.feed
    next_event = parser.next_event
    messages = body = uids = structured = 0
    for data in chunks:
        feed(data)
        while (ev := next_event()) is not None:
            if isinstance(ev, pr.FetchLiteralChunk):
                body += len(ev.data)
            elif isinstance(ev, pr.FetchResponse):
                messages += 1
                uids += ev.uid or 0
                items = ev.items
                value = items.get("BODY[]")
                if isinstance(value, bytes):
                    body += len(value)
                if items.envelope is not None and items.bodystructure is not None:
                    structured += 1
    return messages, body, uids, structured


def run_imapclient(records: list[ImaplibRecord]) -> Counts:
    """IMAPClient's parser on what imaplib returned (built before timing)."""
    result = parse_fetch_response(records, True, True)
    return _imapclient_counts(result)


def _imapclient_counts(result: Any) -> Counts:
    body = structured = 0
    for item in result.values():
        value = item.get(b"BODY[]")
        if value is not None:
            body += len(value)
        if item.get(b"ENVELOPE") is not None and item.get(b"BODYSTRUCTURE") is not None:
            structured += 1
    return len(result), body, sum(result), structured


class _ReplayIMAP4(imaplib.IMAP4):
    """imaplib reading a server's bytes from memory instead of a socket."""

    def open(self, host: str = "", port: int = 143, timeout: float | None = None) -> None:
        self.file = io.BytesIO(b"* OK ready\r\n")

    def _get_capabilities(self) -> None:
        self.capabilities = ("IMAP4REV1",)

    def send(self, data: Any) -> None:
        pass

    def shutdown(self) -> None:
        pass


def _replay_imap(wire: bytes) -> Any:
    imap: Any = _ReplayIMAP4()
    # The corpus ends with "A0001 OK ..."; make that this connection's tag.
    imap.tagpre = b"A"
    imap.tagre = re.compile(rb"(?P<tag>A\d+) (?P<type>[A-Z]+) (?P<data>.*)", re.ASCII)
    imap.file = io.BytesIO(wire)
    imap.tagged_commands[b"A0001"] = None
    return imap


def run_imaplib_imapclient(imap: Any) -> Counts:
    """imaplib's framing plus IMAPClient's parser, as in ``IMAPClient.fetch``."""
    typ, data = imap._get_tagged_response(b"A0001")
    typ, data = imap._untagged_response(typ, data, "FETCH")
    result = parse_fetch_response(data, True, True)
    return _imapclient_counts(result)


# ---------------------------------------------------------------------------
# IMAPClient verification (untimed; doubles as warm-up).  pipeimap's is in
# bench/_verify.py, importable by tests without imapclient.
# ---------------------------------------------------------------------------


def _raw_bodydata(value: Any) -> Any:
    """IMAPClient's BodyData back to the generic tuple (it nests multipart parts in a list)."""
    if isinstance(value, tuple):
        if value and isinstance(value[0], list):
            return tuple(_raw_bodydata(x) for x in value[0]) + tuple(
                _raw_bodydata(x) for x in value[1:]
            )
        return tuple(_raw_bodydata(x) for x in value)
    return value


def _imapclient_addresses(addrs: Any) -> Any:
    if addrs is None:
        return None
    return tuple((a.name, a.route, a.mailbox, a.host) for a in addrs)


def verify_imapclient_bulk(corpus: BulkCorpus, records: list[ImaplibRecord]) -> list[str]:
    p = Problems("IMAPClient (a)")
    result: Any = parse_fetch_response(records, True, True)
    p.check(0, "messages", len(result), len(corpus.messages))
    for i, m in enumerate(corpus.messages):
        item = result.get(m.uid)
        if item is None:
            p.add(f"message {i + 1}: UID {m.uid} missing")
            continue
        p.check(i, "seq", item[b"SEQ"], m.seq)
        p.check(i, "flags", item.get(b"FLAGS"), m.flags)
        p.check(i, "body crc32", zlib.crc32(item[b"BODY[]"]), m.crc32)
        if len(p.items) > 10:
            break
    return p.items


def verify_imapclient_headers(corpus: HeaderCorpus, records: list[ImaplibRecord]) -> list[str]:
    p = Problems("IMAPClient (b)")
    result: Any = parse_fetch_response(records, True, True)
    p.check(0, "messages", len(result), len(corpus.messages))
    for i, m in enumerate(corpus.messages):
        item = result.get(m.uid)
        if item is None:
            p.add(f"message {i + 1}: UID {m.uid} missing")
            continue
        p.check(i, "seq", item[b"SEQ"], m.seq)
        p.check(i, "flags", item[b"FLAGS"], m.flags)
        p.check(i, "RFC822.SIZE", item[b"RFC822.SIZE"], m.size)
        env = item[b"ENVELOPE"]
        got = (
            env.subject,
            *(
                _imapclient_addresses(x)
                for x in (env.from_, env.sender, env.reply_to, env.to, env.cc, env.bcc)
            ),
            env.in_reply_to,
            env.message_id,
        )
        # IMAPClient turns the date into a datetime; compare the rest.
        p.check(i, "ENVELOPE", got, envelope_atoms(m.envelope)[1:])
        p.check(
            i,
            "BODYSTRUCTURE",
            _raw_bodydata(item[b"BODYSTRUCTURE"]),
            bodystructure_atoms(m.bodystructure),
        )
        if len(p.items) > 10:
            break
    return p.items


# ---------------------------------------------------------------------------
# Measurement and report
# ---------------------------------------------------------------------------


@dataclass
class Result:
    scenario: str
    parser: str
    wire_bytes: int
    messages: int
    times: list[float] = field(default_factory=list)
    cpu_times: list[float] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    def mb_s(self, t: float) -> float:
        return self.wire_bytes / t / MB

    def msgs_s(self, t: float) -> float:
        return self.messages / t

    def as_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "parser": self.parser,
            "wire_bytes": self.wire_bytes,
            "messages": self.messages,
            "times_s": self.times,
            "cpu_times_s": self.cpu_times,
            "mb_per_s_best": self.mb_s(self.best),
            "mb_per_s_median": self.mb_s(self.median),
            "msgs_per_s_best": self.msgs_s(self.best),
            "msgs_per_s_median": self.msgs_s(self.median),
        }


class CountMismatch(Exception):
    pass


def measure(
    results: Sequence[tuple[Result, Callable[[], Counts]]], expected: Counts, repeat: int
) -> None:
    """Time each runner ``repeat`` times, interleaved so that noise from
    other tenants of the machine spreads over all parsers alike."""
    for _ in range(repeat):
        for result, fn in results:
            gc.collect()
            c0 = time.process_time()
            t0 = time.perf_counter()
            counts = fn()
            t1 = time.perf_counter()
            c1 = time.process_time()
            if counts != expected:
                raise CountMismatch(
                    f"{result.parser} ({result.scenario}): counted (messages, body bytes, "
                    f"sum of UIDs, envelopes+bodystructures) = {counts}, expected {expected}"
                )
            result.times.append(t1 - t0)
            result.cpu_times.append(c1 - c0)


def _fmt_rate(result: Result) -> tuple[str, str, str]:
    return (
        f"{result.mb_s(result.best):9.1f} ({result.mb_s(result.median):7.1f})",
        f"{result.msgs_s(result.best):10,.0f} ({result.msgs_s(result.median):9,.0f})",
        f"{result.best:8.3f}",
    )


def print_table(groups: Sequence[tuple[str, Sequence[Result]]]) -> None:
    header = (
        f"{'scenario':<14} {'parser':<22} {'MB/s best (median)':>20}  "
        f"{'msgs/s best (median)':>22}  {'best s':>8}"
    )
    print(header)
    print("-" * len(header))
    for scenario, rows in groups:
        label = scenario
        for r in rows:
            mb, msgs, t = _fmt_rate(r)
            print(f"{label:<14} {r.parser:<22} {mb:>20}  {msgs:>22}  {t:>8}")
            label = ""
        pi, ic = rows[0], rows[1]
        print(
            f"{'':<14} {'pipeimap/IMAPClient':<22} {ratio_best(pi, ic):>9.2f}x best/best, "
            f"{ratio_paired(pi, ic):.2f}x median of paired runs"
        )
    print()


def ratio_best(a: Result, b: Result) -> float:
    """How many times faster ``a`` is than ``b``, best run against best run."""
    return b.best / a.best


def ratio_paired(a: Result, b: Result) -> float:
    """Median over the timed rounds of b's time / a's time.  Runs of one round
    are back to back, so this is the figure least moved by a noisy neighbour."""
    return statistics.median(tb / ta for ta, tb in zip(a.times, b.times, strict=True))


def machine_info() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="small corpora, a few seconds")
    ap.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    ap.add_argument("--repeat", type=int, help="timed runs per parser (default 5, quick 3)")
    ap.add_argument("--bulk-mb", type=float, help="size of corpus (a) (default 200, quick 8)")
    ap.add_argument("--header-mb", type=float, help="size of corpus (b) (default 12, quick 1)")
    ap.add_argument("--chunk", type=int, default=65536, help="bytes per feed() (default 65536)")
    ap.add_argument("--seed", type=int, default=1, help="corpus seed (default 1)")
    ap.add_argument("--no-imaplib", action="store_true", help="skip the IMAPClient + imaplib rows")
    ap.add_argument(
        "--profile",
        choices=("bulk", "headers"),
        help="afterwards, cProfile one pipeimap run over that corpus (top 30 by own time)",
    )
    args = ap.parse_args(argv)
    repeat = args.repeat or (3 if args.quick else 5)
    bulk_mb = args.bulk_mb or (8.0 if args.quick else 200.0)
    header_mb = args.header_mb or (1.0 if args.quick else 12.0)
    limits = ParserLimits()
    info = machine_info()

    t0 = time.perf_counter()
    bulk = generate_bulk_corpus(int(bulk_mb * MB), seed=args.seed + 1)
    headers = generate_header_corpus(int(header_mb * MB), seed=args.seed)
    bulk_chunks = chunked(bulk.wire, args.chunk)
    header_chunks = chunked(headers.wire, args.chunk)
    bulk_records = imaplib_fetch_records(bulk.wire)
    header_records = imaplib_fetch_records(headers.wire)
    t_gen = time.perf_counter() - t0
    streamed = sum(1 for m in bulk.messages if m.size > limits.stream_threshold)

    print(
        f"pipeimap parser benchmark: Python {info['python']} on {info['platform']}, "
        f"{info['cpus']} CPUs, load average {info['loadavg_at_start']}"
    )
    print(
        f"(a) bulk BODY[]: {len(bulk.wire) / MB:.1f} MB wire, {len(bulk.messages):,} messages "
        f"({streamed} above stream_threshold={limits.stream_threshold:,} B), "
        f"{bulk.body_bytes / MB:.1f} MB literal data; pipeimap fed {args.chunk:,}-byte reads"
    )
    print(
        f"(b) headers:     {len(headers.wire) / MB:.1f} MB wire, {len(headers.messages):,} "
        f"messages, {len(headers.wire) / len(headers.messages):,.0f} bytes per line"
    )
    lexer = "C accelerator" if ACCELERATED else "pure Python"
    print(f"pipeimap lexer: {lexer} (pipeimap.protocol.ACCELERATED={ACCELERATED})")
    print(f"corpora generated in {t_gen:.1f} s; best of {repeat} timed runs, median in brackets")
    print()

    # Verification (untimed, also the warm-up).  An odd read size puts read
    # boundaries everywhere: inside literals, tokens, CRLFs.
    problems: list[str] = []
    problems += verify_pipeimap_bulk(bulk, chunked(bulk.wire, 7919), limits, ", 7919-byte reads")
    problems += verify_pipeimap_headers(
        headers, chunked(headers.wire, 7919), limits, ", 7919-byte reads"
    )
    problems += verify_imapclient_bulk(bulk, bulk_records)
    problems += verify_imapclient_headers(headers, header_records)
    if problems:
        print("CORRECTNESS CHECK FAILED -- no figures reported:")
        for line in problems[:40]:
            print("  " + line)
        return 1
    print("correctness: both parsers agree with the generator on every message (untimed pass)")
    print()

    bulk_expected: Counts = (
        len(bulk.messages),
        bulk.body_bytes,
        sum(m.uid for m in bulk.messages),
        0,
    )
    header_expected: Counts = (
        len(headers.messages),
        0,
        sum(m.uid for m in headers.messages),
        len(headers.messages),
    )
    bulk_wire = bulk.wire
    header_wire = headers.wire

    def group(
        scenario: str,
        corpus_len: int,
        n: int,
        chunks: list[bytes],
        recs: list[ImaplibRecord],
        wire: bytes,
    ) -> list[tuple[Result, Callable[[], Counts]]]:
        rows: list[tuple[Result, Callable[[], Counts]]] = [
            (Result(scenario, "pipeimap", corpus_len, n), lambda: run_pipeimap(chunks, limits)),
            (Result(scenario, "IMAPClient parser", corpus_len, n), lambda: run_imapclient(recs)),
        ]
        if not args.no_imaplib:
            # One replay connection per timed run, all built now, outside timing.
            imaps = [_replay_imap(wire) for _ in range(repeat)]
            rows.append(
                (
                    Result(scenario, "IMAPClient + imaplib", corpus_len, n),
                    lambda: run_imaplib_imapclient(imaps.pop()),
                )
            )
        return rows

    bulk_rows = group(
        "(a) bulk", len(bulk_wire), len(bulk.messages), bulk_chunks, bulk_records, bulk_wire
    )
    header_rows = group(
        "(b) headers",
        len(header_wire),
        len(headers.messages),
        header_chunks,
        header_records,
        header_wire,
    )
    try:
        measure(bulk_rows, bulk_expected, repeat)
        measure(header_rows, header_expected, repeat)
    except CountMismatch as exc:
        print(f"CORRECTNESS CHECK FAILED during timing: {exc}")
        return 1

    groups = [
        ("(a) bulk", [r for r, _ in bulk_rows]),
        ("(b) headers", [r for r, _ in header_rows]),
    ]
    print_table(groups)

    a_pi = bulk_rows[0][0]
    b_pi, b_ic = header_rows[0][0], header_rows[1][0]
    a_rate = a_pi.mb_s(a_pi.best)
    b_ratio = ratio_best(b_pi, b_ic)
    targets = [
        ("(a) pipeimap >= 500 MB/s", f"{a_rate:.1f} MB/s", a_rate >= TARGET_BULK_MB_S),
        (
            "(b) pipeimap >= 10x IMAPClient",
            f"{b_ratio:.1f}x (paired {ratio_paired(b_pi, b_ic):.1f}x)",
            b_ratio >= TARGET_HEADER_RATIO,
        ),
    ]
    print("targets (issue 2, item 4)")
    for name, value, ok in targets:
        print(f"  {name:<32} {value:>22}   {'PASS' if ok else 'MISS'}")

    if args.json:
        out = {
            "command": " ".join(["python", "bench/parser_bench.py", *(argv or sys.argv[1:])]),
            "machine": info,
            "settings": {
                "repeat": repeat,
                "chunk": args.chunk,
                "seed": args.seed,
                "bulk_mb": bulk_mb,
                "header_mb": header_mb,
                "stream_threshold": limits.stream_threshold,
                "accelerated": ACCELERATED,
            },
            "corpora": {
                "bulk": {
                    "wire_bytes": len(bulk_wire),
                    "messages": len(bulk.messages),
                    "literal_bytes": bulk.body_bytes,
                    "streamed_messages": streamed,
                },
                "headers": {"wire_bytes": len(header_wire), "messages": len(headers.messages)},
            },
            "results": [r.as_json() for _, rows in groups for r in rows],
            "ratios_pipeimap_over_imapclient": {
                scenario: {
                    "best": ratio_best(rows[0], rows[1]),
                    "paired_median": ratio_paired(rows[0], rows[1]),
                }
                for scenario, rows in groups
            },
            "targets": [{"target": n, "value": v, "pass": ok} for n, v, ok in targets],
            "correct": True,
        }
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
        print(f"\nwrote {args.json}")

    if args.profile:
        import cProfile
        import pstats

        print(f"\ncProfile of one pipeimap run over corpus {args.profile}:")
        prof = cProfile.Profile()
        prof.runcall(run_pipeimap, bulk_chunks if args.profile == "bulk" else header_chunks, limits)
        pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
