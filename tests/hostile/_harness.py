"""Shared pieces of the hostile-server tests: a scripted session up to SELECT,
concurrent callers whose every outcome is recorded, and a memory probe.

Every case runs the same way: the client logs in and selects INBOX, then
several tasks call the client at once -- more of them than ``pipeline_depth``
admits, so some commands are in flight and some still queued -- and the
hostile server answers the commands in flight with something illegal.  Each
task's outcome (its value or its exception) is recorded, so that a test can
check the task whose command the hostile data concerned *and* every other
one: none may hang, none may get a wrong result.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio

from pipeimap import ConnectionLostError
from pipeimap.client import Client, connect_transport
from pipeimap.client._transport import Transport
from pipeimap.protocol import ParserLimits
from pipeimap.testing.scripted import ScriptedServer, Step, expect, read_commands, send

CAPS = b"IMAP4rev1 LITERAL+ UIDPLUS ESEARCH"
GREETING = b"* OK [CAPABILITY " + CAPS + b"] hostile test server\r\n"
SELECT_ANSWER = (
    b"* 3 EXISTS\r\n* 0 RECENT\r\n* FLAGS (\\Seen \\Deleted)\r\n"
    b"* OK [UIDVALIDITY 7] UIDs valid\r\n* OK [UIDNEXT 13] predicted\r\n"
    b"A0002 OK [READ-WRITE] selected\r\n"
)
#: Every case must end well within this (the library's defaults are 30 s / 60 s).
BOUND = 10.0
MiB = 1024 * 1024


def session() -> list[Step]:
    """LOGIN and SELECT INBOX (3 messages, UIDs not yet known)."""
    return [
        expect(b"A0001 LOGIN alice secret"),
        send(b"A0001 OK [CAPABILITY " + CAPS + b"] logged in\r\n"),
        expect(b"A0002 SELECT INBOX"),
        send(SELECT_ANSWER),
    ]


Call = Callable[[Client], Awaitable[object]]


@dataclass
class Result:
    """What one concurrent caller got."""

    name: str
    value: Any = None
    error: BaseException | None = None
    done: bool = False


@dataclass
class Case:
    """The outcome of one hostile case."""

    server: ScriptedServer
    results: dict[str, Result] = field(default_factory=dict)
    closed: bool = False

    def error(self, name: str) -> BaseException:
        r = self.results[name]
        assert r.done, f"{name} never finished"
        assert r.error is not None, f"{name} got a result instead of an error: {r.value!r}"
        return r.error


async def _call(client: Client, name: str, fn: Call, out: Result) -> None:
    try:
        out.value = await fn(client)
    except Exception as exc:  # recorded, checked by the test
        out.error = exc
    finally:
        out.done = True


#: Callers that run beside the one the hostile data concerns: commands that
#: pipeline together with a FETCH (and, with ``pipeline_depth=3``, two of
#: them stay queued).
BYSTANDERS: dict[str, Call] = {
    "noop": lambda c: c.noop(),
    "status": lambda c: c.status("Archive"),
    "list": lambda c: c.list("", "*"),
    "status2": lambda c: c.status("Drafts"),
}


async def run_case(
    hostile: Sequence[Step],
    calls: dict[str, Call],
    *,
    in_flight: int = 3,
    read_timeout: float | None = 5.0,
    limits: ParserLimits | None = None,
    max_buffer_size: float = 4,
    connect_timeout: float | None = 5.0,
) -> Case:
    """Run ``calls`` concurrently (in this order) once INBOX is selected; the
    server reads ``in_flight`` of their commands (the pipeline depth), then
    plays ``hostile``.  The whole case is bounded by :data:`BOUND`."""
    script = [*session(), read_commands(in_flight), *hostile]
    with anyio.fail_after(BOUND):
        async with ScriptedServer(
            script, greeting=GREETING, max_buffer_size=max_buffer_size
        ) as server:
            case = Case(server)
            async with connect_transport(
                Transport(server.client_stream),
                host="imap.test",
                username="alice",
                password="secret",
                timeout=read_timeout,
                connect_timeout=connect_timeout,
                pipeline_depth=in_flight,
                parser_limits=limits,
            ) as client:
                await client.select("INBOX")
                sched = client._conn.sched
                base = sched._next_cid  # (counts submitted commands)
                async with anyio.create_task_group() as tg:
                    for i, (name, fn) in enumerate(calls.items()):
                        case.results[name] = Result(name)
                        tg.start_soon(_call, client, name, fn, case.results[name])
                        # Submitted in this order (Trio does not promise to start
                        # tasks in order): the first call's command goes first.
                        for _ in range(5000):
                            if sched._next_cid > base + i or client.closed:
                                break
                            await anyio.sleep(0.001)
                case.closed = client.closed
    return case


def assert_all_lost(case: Case, cause: type[BaseException], *, except_: Sequence[str] = ()) -> None:
    """Every caller (but ``except_``) failed with ConnectionLostError whose
    ``__cause__`` is exactly ``cause``, and the connection is closed."""
    assert case.closed
    for name in case.results:
        if name in except_:
            continue
        err = case.error(name)
        assert type(err) is ConnectionLostError, (name, err)
        assert type(err.__cause__) is cause, (name, err, err.__cause__)


@contextmanager
def peak_memory() -> Iterator[list[int]]:
    """Measure the peak of Python allocations in the block (tracemalloc):
    ``with peak_memory() as peak: ...`` then ``peak[0]`` is in bytes."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    out: list[int] = []
    try:
        yield out
    finally:
        out.append(tracemalloc.get_traced_memory()[1] - base)
        if started:
            tracemalloc.stop()


def endless(
    pattern: bytes, chunk_size: int = 64 * 1024, limit: int | None = None
) -> Iterator[bytes]:
    """``pattern`` repeated forever (or up to ``limit`` bytes), in chunks: made
    lazily, so the test never holds more than one chunk."""
    chunk = (pattern * (chunk_size // len(pattern) + 1))[:chunk_size]
    sent = 0
    while limit is None or sent < limit:
        piece = chunk if limit is None else chunk[: limit - sent]
        sent += len(piece)
        yield piece
