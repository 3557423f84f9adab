"""One client doing one scenario, in a process of its own.

``client_bench.py`` runs every (client, scenario) pair as::

    python bench/_client_runner.py '<spec as JSON>'

and reads one ``RESULT {...}`` line from its standard output.  A process per
run keeps the clients apart (their imports, their event loops, the GIL) and
makes peak RSS a per-client figure.

Each runner connects, logs in and selects untimed, then times only the work
(``Timer``): the proxy does not delay the TCP handshake, and login costs the
same few round trips for everyone.  Every runner reports what it got -- the
size of each message body by UID, or the number of commands that completed
-- so that the parent can check it; a runner never decides by itself that it
was right.

To add a client or a scenario: write a function taking a :class:`Spec` and a
:class:`Timer` and returning a :class:`Outcome`, and register it in
``RUNNERS`` under ``(scenario, client)``; ``client_bench.py`` lists the rows
it shows.
"""

from __future__ import annotations

import asyncio
import imaplib
import json
import os
import resource
import ssl
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._mailbox import RawIMAP

FLAG = "\\Flagged"


@dataclass(frozen=True)
class Spec:
    """What to do.  ``uids`` are the messages to work on (1..n, or a prefix of
    them when the per-message peers are capped)."""

    client: str
    scenario: str  # "fetch", "flags", "big"
    host: str
    port: int
    user: str
    password: str
    mailbox: str
    uids: tuple[int, ...]
    tls: bool = False
    ca_file: str = ""
    out_file: str = ""  # "big": where the body goes
    chunk: int = 100  # IMAPClient chunked fetch: UIDs per FETCH
    workers: int = 0  # pipeimap concurrent rows: tasks (0 = one per message)
    profile: str = ""  # if set: cProfile the run and write the stats there
    pipeline_depth: int = 0  # pipeimap: connect(pipeline_depth=...); 0 = its default

    @staticmethod
    def from_json(text: str) -> Spec:
        raw = json.loads(text)
        raw["uids"] = tuple(raw["uids"])
        return Spec(**raw)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        return ssl.create_default_context(cafile=self.ca_file)

    def uid_ranges(self) -> str:
        """The UIDs as a compact IMAP set (they are consecutive in practice)."""
        return _compact(self.uids)


def _compact(uids: Sequence[int]) -> str:
    out: list[str] = []
    i = 0
    while i < len(uids):
        j = i
        while j + 1 < len(uids) and uids[j + 1] == uids[j] + 1:
            j += 1
        out.append(str(uids[i]) if i == j else f"{uids[i]}:{uids[j]}")
        i = j + 1
    return ",".join(out)


@dataclass
class Outcome:
    sizes: dict[int, int] = field(default_factory=dict)  # fetch / big: UID -> bytes
    commands: int = 0  # flags: completed STOREs


class Timer:
    def __init__(self) -> None:
        self.t0 = self.t1 = 0.0
        self.c0 = self.c1 = 0.0
        self.rss_before_kb = 0

    def start(self) -> None:
        self.rss_before_kb = _status_kb("VmRSS")
        self.c0 = time.process_time()
        self.t0 = time.perf_counter()

    def stop(self) -> None:
        self.t1 = time.perf_counter()
        self.c1 = time.process_time()


def _status_kb(key: str) -> int:
    """A ``/proc/self/status`` figure in KiB (VmRSS now, VmHWM peak); falls back
    to ``getrusage`` (peak only) where /proc is missing."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _chunks(seq: Sequence[int], n: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


def _open_out(spec: Spec) -> BinaryIO:
    return open(spec.out_file, "wb")


# ---------------------------------------------------------------------------
# raw: plain sockets, the floor
# ---------------------------------------------------------------------------


def _raw_connect(spec: Spec) -> RawIMAP:
    imap = RawIMAP(spec.host, spec.port, ssl_context=spec.ssl_context())
    imap.login(spec.user, spec.password)
    imap.select(spec.mailbox)
    return imap


def raw_fetch(spec: Spec, timer: Timer) -> Outcome:
    """One ``UID FETCH 1:n BODY.PEEK[]``; literals are counted, not kept."""
    with _raw_connect(spec) as imap:
        timer.start()
        sizes = imap.fetch_bodies(spec.uid_ranges().encode())
        timer.stop()
    return Outcome(sizes=sizes)


def raw_flags(spec: Spec, timer: Timer) -> Outcome:
    """One ``UID STORE u +FLAGS.SILENT`` per message, all written in one send."""
    with _raw_connect(spec) as imap:
        lines = [b"UID STORE %d +FLAGS.SILENT (%s)" % (u, FLAG.encode()) for u in spec.uids]
        timer.start()
        imap.pipelined(lines)
        timer.stop()
    return Outcome(commands=len(lines))


def raw_big(spec: Spec, timer: Timer) -> Outcome:
    """The big message streamed to a file through a 1 MiB buffer."""
    with _raw_connect(spec) as imap, _open_out(spec) as f:
        timer.start()
        sizes = imap.fetch_bodies(spec.uid_ranges().encode(), sink_for=lambda uid: f.write)
        f.flush()
        timer.stop()
    return Outcome(sizes=sizes)


# ---------------------------------------------------------------------------
# imaplib (standard library): one command per message, as usually written
# ---------------------------------------------------------------------------


def _imaplib_connect(spec: Spec) -> imaplib.IMAP4:
    imap: imaplib.IMAP4
    if spec.tls:
        imap = imaplib.IMAP4_SSL(spec.host, spec.port, ssl_context=spec.ssl_context())
    else:
        imap = imaplib.IMAP4(spec.host, spec.port)
    imap.login(spec.user, spec.password)
    typ, _ = imap.select(spec.mailbox)
    if typ != "OK":
        raise RuntimeError(f"imaplib: SELECT said {typ}")
    return imap


def _imaplib_body(typ: str, data: list[Any]) -> bytes:
    if typ != "OK" or not data or not isinstance(data[0], tuple):
        raise RuntimeError(f"imaplib: UID FETCH said {typ} {data[:1]!r}")
    body = data[0][1]
    assert isinstance(body, bytes)
    return body


def imaplib_fetch(spec: Spec, timer: Timer) -> Outcome:
    imap = _imaplib_connect(spec)
    sizes: dict[int, int] = {}
    timer.start()
    for uid in spec.uids:
        typ, data = imap.uid("FETCH", str(uid), "(BODY.PEEK[])")
        sizes[uid] = len(_imaplib_body(typ, data))
    timer.stop()
    imap.logout()
    return Outcome(sizes=sizes)


def imaplib_flags(spec: Spec, timer: Timer) -> Outcome:
    imap = _imaplib_connect(spec)
    n = 0
    timer.start()
    for uid in spec.uids:
        typ, _ = imap.uid("STORE", str(uid), "+FLAGS.SILENT", f"({FLAG})")
        if typ != "OK":
            raise RuntimeError(f"imaplib: UID STORE said {typ}")
        n += 1
    timer.stop()
    imap.logout()
    return Outcome(commands=n)


def imaplib_big(spec: Spec, timer: Timer) -> Outcome:
    imap = _imaplib_connect(spec)
    sizes: dict[int, int] = {}
    with _open_out(spec) as f:
        timer.start()
        for uid in spec.uids:
            typ, data = imap.uid("FETCH", str(uid), "(BODY.PEEK[])")
            body = _imaplib_body(typ, data)
            f.write(body)
            sizes[uid] = len(body)
            del body, data
        f.flush()
        timer.stop()
    imap.logout()
    return Outcome(sizes=sizes)


# ---------------------------------------------------------------------------
# IMAPClient
# ---------------------------------------------------------------------------


def _imapclient_connect(spec: Spec) -> Any:
    from imapclient import IMAPClient

    client = IMAPClient(
        spec.host, port=spec.port, ssl=spec.tls, ssl_context=spec.ssl_context(), timeout=600
    )
    client.login(spec.user, spec.password)
    client.select_folder(spec.mailbox)
    return client


def _imapclient_fetch(spec: Spec, timer: Timer, per_command: int) -> Outcome:
    client = _imapclient_connect(spec)
    sizes: dict[int, int] = {}
    timer.start()
    for chunk in _chunks(spec.uids, per_command):
        result = client.fetch(list(chunk), ["BODY.PEEK[]"])
        for uid, item in result.items():
            sizes[int(uid)] = len(item[b"BODY[]"])
    timer.stop()
    client.logout()
    return Outcome(sizes=sizes)


def imapclient_fetch(spec: Spec, timer: Timer) -> Outcome:
    """``fetch([uid], ["BODY.PEEK[]"])`` once per message."""
    return _imapclient_fetch(spec, timer, 1)


def imapclient_chunked_fetch(spec: Spec, timer: Timer) -> Outcome:
    """``fetch(uids[i:i+chunk], ["BODY.PEEK[]"])``: the usual advice for bulk work."""
    return _imapclient_fetch(spec, timer, spec.chunk)


def imapclient_flags(spec: Spec, timer: Timer) -> Outcome:
    client = _imapclient_connect(spec)
    n = 0
    timer.start()
    for uid in spec.uids:
        client.add_flags([uid], [FLAG.encode()], silent=True)
        n += 1
    timer.stop()
    client.logout()
    return Outcome(commands=n)


def imapclient_big(spec: Spec, timer: Timer) -> Outcome:
    client = _imapclient_connect(spec)
    sizes: dict[int, int] = {}
    with _open_out(spec) as f:
        timer.start()
        for uid in spec.uids:
            result = client.fetch([uid], ["BODY.PEEK[]"])
            body = result[uid][b"BODY[]"]
            f.write(body)
            sizes[uid] = len(body)
            del body, result
        f.flush()
        timer.stop()
    client.logout()
    return Outcome(sizes=sizes)


# ---------------------------------------------------------------------------
# aioimaplib (asyncio)
# ---------------------------------------------------------------------------


async def _aioimaplib_connect(spec: Spec) -> Any:
    import aioimaplib

    imap: Any
    if spec.tls:
        imap = aioimaplib.IMAP4_SSL(
            spec.host, spec.port, timeout=600, ssl_context=spec.ssl_context()
        )
    else:
        imap = aioimaplib.IMAP4(spec.host, spec.port, timeout=600)
    await imap.wait_hello_from_server()
    await _aio_ok(imap.login(spec.user, spec.password), "LOGIN")
    await _aio_ok(imap.select(spec.mailbox), "SELECT")
    return imap


async def _aio_ok(aw: Any, what: str) -> Any:
    response = await aw
    if response.result != "OK":
        raise RuntimeError(f"aioimaplib: {what} said {response.result} {response.lines[-1:]}")
    return response


def _aio_literal(response: Any) -> bytes | bytearray:
    """The body literal in aioimaplib's ``lines``: the item after ``... {n}``."""
    lines = response.lines
    for i, line in enumerate(lines[:-1]):
        if isinstance(line, (bytes, bytearray)) and line.endswith(b"}"):
            literal = lines[i + 1]
            assert isinstance(literal, (bytes, bytearray))
            return literal
    raise RuntimeError(f"aioimaplib: no literal in {lines[:2]!r}")


async def _aioimaplib_fetch(spec: Spec, timer: Timer, out: BinaryIO | None) -> Outcome:
    imap = await _aioimaplib_connect(spec)
    sizes: dict[int, int] = {}
    timer.start()
    for uid in spec.uids:
        response = await _aio_ok(imap.uid("fetch", str(uid), "(BODY.PEEK[])"), "UID FETCH")
        body = _aio_literal(response)
        if out is not None:
            out.write(body)
        sizes[uid] = len(body)
        del body, response
    if out is not None:
        out.flush()
    timer.stop()
    await imap.logout()
    return Outcome(sizes=sizes)


def aioimaplib_fetch(spec: Spec, timer: Timer) -> Outcome:
    return asyncio.run(_aioimaplib_fetch(spec, timer, None))


def aioimaplib_big(spec: Spec, timer: Timer) -> Outcome:
    with _open_out(spec) as f:
        return asyncio.run(_aioimaplib_fetch(spec, timer, f))


async def _aioimaplib_flags(spec: Spec, timer: Timer) -> Outcome:
    imap = await _aioimaplib_connect(spec)
    n = 0
    timer.start()
    for uid in spec.uids:
        await _aio_ok(imap.uid("store", str(uid), "+FLAGS.SILENT", f"({FLAG})"), "UID STORE")
        n += 1
    timer.stop()
    await imap.logout()
    return Outcome(commands=n)


def aioimaplib_flags(spec: Spec, timer: Timer) -> Outcome:
    return asyncio.run(_aioimaplib_flags(spec, timer))


# ---------------------------------------------------------------------------
# pipeimap (Trio)
# ---------------------------------------------------------------------------


def _pipeimap_connect(spec: Spec) -> Any:
    import pipeimap

    extra: dict[str, Any] = {}
    if spec.pipeline_depth:
        extra["pipeline_depth"] = spec.pipeline_depth
    return pipeimap.connect(
        spec.host,
        spec.port,
        username=spec.user,
        password=spec.password,
        tls="implicit" if spec.tls else "insecure-plaintext",
        ssl_context=spec.ssl_context(),
        compress=False,  # the peers do not compress either
        timeout=600,
        **extra,
    )


def _run_trio(fn: Callable[[], Any]) -> Any:
    import anyio

    return anyio.run(fn, backend="trio")


def pipeimap_fetch(spec: Spec, timer: Timer) -> Outcome:
    """``async with client.fetch(uids, ["BODY.PEEK[]"]) as msgs: async for msg in msgs``:
    one command, messages as they arrive."""

    async def main() -> Outcome:
        sizes: dict[int, int] = {}
        async with _pipeimap_connect(spec) as client:
            await client.select(spec.mailbox)
            timer.start()
            async with client.fetch(spec.uids, ["BODY.PEEK[]"]) as messages:
                async for msg in messages:
                    body = msg.body()
                    sizes[int(msg.uid)] = len(body) if body is not None else -1
            timer.stop()
        return Outcome(sizes=sizes)

    result: Outcome = _run_trio(main)
    return result


async def _in_tasks(spec: Spec, work: Callable[[int], Any]) -> None:
    """``work(uid)`` for every UID, from one task per message (``workers=0``) or
    from ``workers`` tasks sharing the list."""
    import anyio

    async with anyio.create_task_group() as tg:
        if spec.workers <= 0:
            for uid in spec.uids:
                tg.start_soon(work, uid)
        else:
            todo = iter(spec.uids)

            async def worker() -> None:
                for uid in todo:
                    await work(uid)

            for _ in range(spec.workers):
                tg.start_soon(worker)


def pipeimap_tasks_fetch(spec: Spec, timer: Timer) -> Outcome:
    """``uid_fetch(uid, ["BODY.PEEK[]"])`` per message, from concurrent tasks."""

    async def main() -> Outcome:
        sizes: dict[int, int] = {}
        async with _pipeimap_connect(spec) as client:
            await client.select(spec.mailbox)

            async def one(uid: int) -> None:
                (msg,) = await client.uid_fetch(uid, ["BODY.PEEK[]"])
                body = msg.body()
                sizes[int(msg.uid)] = len(body) if body is not None else -1

            timer.start()
            await _in_tasks(spec, one)
            timer.stop()
        return Outcome(sizes=sizes)

    result: Outcome = _run_trio(main)
    return result


def pipeimap_flags(spec: Spec, timer: Timer) -> Outcome:
    """``client.store(uid, FLAG)`` per message, from concurrent tasks."""

    async def main() -> Outcome:
        done = 0
        async with _pipeimap_connect(spec) as client:
            await client.select(spec.mailbox)

            async def one(uid: int) -> None:
                nonlocal done
                await client.store(uid, FLAG)
                done += 1

            timer.start()
            await _in_tasks(spec, one)
            timer.stop()
        return Outcome(commands=done)

    result: Outcome = _run_trio(main)
    return result


def pipeimap_big(spec: Spec, timer: Timer) -> Outcome:
    """``client.fetch_bodies(uids, sink_factory)``: chunks go to the file as they come."""

    async def main() -> Outcome:
        async with _pipeimap_connect(spec) as client:
            await client.select(spec.mailbox)
            timer.start()
            sizes = await client.fetch_bodies(spec.uids, lambda uid: _open_out(spec))
            timer.stop()
        return Outcome(sizes={int(k): v for k, v in sizes.items()})

    result: Outcome = _run_trio(main)
    return result


# ---------------------------------------------------------------------------

RUNNERS: dict[tuple[str, str], Callable[[Spec, Timer], Outcome]] = {
    ("fetch", "raw"): raw_fetch,
    ("fetch", "pipeimap"): pipeimap_fetch,
    ("fetch", "pipeimap-tasks"): pipeimap_tasks_fetch,
    ("fetch", "imaplib"): imaplib_fetch,
    ("fetch", "imapclient"): imapclient_fetch,
    ("fetch", "imapclient-chunked"): imapclient_chunked_fetch,
    ("fetch", "aioimaplib"): aioimaplib_fetch,
    ("flags", "raw"): raw_flags,
    ("flags", "pipeimap"): pipeimap_flags,
    ("flags", "imaplib"): imaplib_flags,
    ("flags", "imapclient"): imapclient_flags,
    ("flags", "aioimaplib"): aioimaplib_flags,
    ("big", "raw"): raw_big,
    ("big", "pipeimap"): pipeimap_big,
    ("big", "imaplib"): imaplib_big,
    ("big", "imapclient"): imapclient_big,
    ("big", "aioimaplib"): aioimaplib_big,
}


def run(spec: Spec) -> dict[str, Any]:
    timer = Timer()
    runner = RUNNERS[(spec.scenario, spec.client)]
    if spec.profile:
        import cProfile

        profiler = cProfile.Profile()
        outcome = profiler.runcall(runner, spec, timer)
        profiler.dump_stats(spec.profile)
    else:
        outcome = runner(spec, timer)
    if timer.t1 <= timer.t0:
        raise RuntimeError(f"{spec.client}: the timer was not stopped")
    return {
        "seconds": timer.t1 - timer.t0,
        "cpu_seconds": timer.c1 - timer.c0,
        "rss_before_kb": timer.rss_before_kb,
        "rss_peak_kb": _status_kb("VmHWM"),
        "sizes": {str(k): v for k, v in outcome.sizes.items()},
        "commands": outcome.commands,
        "pid": os.getpid(),
    }


def main(argv: Sequence[str]) -> int:
    spec = Spec.from_json(argv[1])
    result = run(spec)
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
