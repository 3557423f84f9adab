"""Shared machinery of the fault-injection suite: the proxy in front of Dovecot,
the choice of cut points from a measured clean run, and the checks that every
faulted run ended well and left nothing half done.

Profiles: ``PIPEIMAP_FAULT_CUTS`` is the number of faulted runs per job (default
54, spread over the job's variants and over the two async backends);
``PIPEIMAP_FAULT_SCALE`` multiplies the mailbox size (default 1).
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import anyio

from pipeimap.errors import PipeimapError
from pipeimap.jobs import STATE_FILE_NAME, RetryPolicy, ServerSpec
from pipeimap.jobs._jobcommon import MBOX_MARKERS
from pipeimap.protocol import Secret
from pipeimap.store import EmlStore, JobState, MaildirStore, MboxStore, MessageStore
from pipeimap.store._atomic import TEMP_MARKER
from pipeimap.testing import DovecotServer
from pipeimap.testing.faultproxy import (
    ConnectionStats,
    Direction,
    Fault,
    FaultProxy,
    cut_literal,
    drop,
    stall,
)
from tests.conftest import TEST_USERS

T = TypeVar("T")

CUTS = max(10, int(os.environ.get("PIPEIMAP_FAULT_CUTS", "54")))
SCALE = max(1, int(os.environ.get("PIPEIMAP_FAULT_SCALE", "1")))
#: Retries that take no time: the suite is about correctness, not backoff.
FAST = RetryPolicy(attempts=4, base_delay=0.005, max_delay=0.02, jitter=0)
#: Read timeout of the runs that meet a stall for ever.
STALL_TIMEOUT = 1.0
#: A run that has not finished by then hangs (a bug).
RUN_LIMIT = 40.0


def via(proxy: FaultProxy, user: str, *, timeout: float = 20.0) -> ServerSpec:
    """The job's view of the server: plaintext through the proxy, no COMPRESS."""
    return ServerSpec(
        "127.0.0.1", proxy.port, username=user, password=Secret(TEST_USERS[user]),
        tls="insecure-plaintext", compress=False, timeout=timeout, connect_timeout=10,
    )  # fmt: skip


def direct(dovecot: DovecotServer, user: str) -> ServerSpec:
    """An independent way in (TLS, no proxy) to see what Dovecot really holds."""
    return ServerSpec(
        "localhost", dovecot.imaps_port, username=user, password=Secret(TEST_USERS[user]),
        ssl_context=dovecot.client_ssl_context(), timeout=30,
    )  # fmt: skip


def split_for_backend(cuts: Sequence[T], backend: str) -> list[T]:
    """Every other cut on each backend: both are covered, the runtime is not doubled."""
    return list(cuts[0::2] if backend == "trio" else cuts[1::2])


# --- choosing cut points -----------------------------------------------------------------


@dataclass(frozen=True)
class Cut:
    """One faulted run: the faults, and the read timeout the run needs."""

    faults: tuple[Fault, ...]
    timeout: float = 20.0

    def describe(self) -> str:
        return "; ".join(f.describe() for f in self.faults)


def _locate(stats: Sequence[ConnectionStats], direction: Direction, pos: int) -> tuple[int, int]:
    """The (connection, offset) of byte ``pos`` of ``direction`` over all connections."""
    for s in stats:
        n = s.nbytes(direction)
        if pos < n:
            return s.index, pos
        pos -= n
    last = stats[-1]
    return last.index, max(0, last.nbytes(direction) - 1)


def plan_cuts(
    stats: Sequence[ConnectionStats],
    count: int,
    *,
    seed: int,
    literal_direction: Direction = "to_client",
    stalls: int = 3,
) -> list[Cut]:
    """``count`` faulted runs spread over a clean run measured as ``stats``.

    * two cuts in the login that every attempt meets, so that the retries are
      used up and the run must end in a clean error;
    * drops of the server-to-client and the client-to-server streams, evenly
      spaced over the bytes of every connection (jittered), so the login, the
      listing, the metadata and the bodies are all hit; every third with a TCP
      reset instead of a FIN;
    * cuts at command boundaries, picked evenly from every command of the run:
      just before a tagged response (the command took effect on the server but
      its answer is lost -- the crash window) or a few bytes into a command;
    * cuts inside literals (``literal_direction``; the big ones get half);
    * ``stalls`` stalls for ever (the read timeout must fire): in the server's
      stream, in the client's, before the run's last answer; one finite stall.

    Every seventh drop applies to every connection (not only the one it was
    measured on), so a retry may meet it again; every fifth run gets a second
    cut on a later connection (the retry fails as well).
    """
    rng = random.Random(seed)
    early = [
        Cut((drop("to_server", 20, connection=None),)),
        Cut((drop("to_client", 60, connection=None, reset=True),)),
    ]
    if count <= len(early):
        return early[:count]
    rest = count - len(early) - min(count - len(early), stalls + 1)
    n_lit = rest // 5
    n_bound = rest * 3 // 10
    n_srv = rest // 6
    n_cli = rest - n_lit - n_bound - n_srv
    cuts: list[Cut] = []
    counter = 0

    def conn_for(index: int) -> int | None:
        nonlocal counter
        counter += 1
        return None if counter % 7 == 0 else index

    for d, n in (("to_client", n_cli), ("to_server", n_srv)):
        direction: Direction = "to_client" if d == "to_client" else "to_server"
        total = sum(s.nbytes(direction) for s in stats)
        for i in range(n):
            pos = int((i + rng.random()) * total / max(n, 1))
            conn, off = _locate(stats, direction, pos)
            fault = drop(direction, off, connection=conn_for(conn), reset=i % 3 == 1)
            cuts.append(Cut((fault,)))
    # Boundary cuts: first just before the answer of the first command of each
    # kind (LOGIN, SELECT, UID FETCH, UID STORE, APPEND...), then spread evenly
    # over all commands, alternately before the answer and inside the command.
    commands = [(s.index, *c) for s in stats for c in s.commands()]
    firsts: dict[str, tuple[int, str, int, int | None]] = {}
    for c in commands:
        if c[3] is not None:
            firsts.setdefault(c[1], c)
    targets = list(firsts.values())
    for i in range(n_bound if commands else 0):
        if i < len(targets):
            conn, _, _, answer = targets[i]
            assert answer is not None
            cuts.append(Cut((drop("to_client", answer, connection=conn),)))
            continue
        j = i - len(targets)
        conn, _, start, answer = commands[
            int((j + rng.random()) * len(commands) / (n_bound - len(targets)))
        ]
        if j % 2 == 0 and answer is not None:
            cuts.append(Cut((drop("to_client", answer, connection=conn),)))
        else:
            cuts.append(Cut((drop("to_server", start + rng.randrange(6), connection=conn),)))
    literals = [
        (s.index, k, length)
        for s in stats
        for k, (_, length) in enumerate(s.literals(literal_direction))
        if length > 0
    ]
    big = sorted(literals, key=lambda lit: -lit[2])
    for i in range(n_lit if literals else 0):
        # Half on the biggest literals (they span many reads), half anywhere.
        conn, k, length = big[i % min(len(big), 4)] if i % 2 == 0 else rng.choice(literals)
        fault = cut_literal(literal_direction, k, rng.randrange(length), connection=conn_for(conn))
        cuts.append(Cut((fault,)))
    # Stalls for ever: in the server's stream, in the client's, and just before
    # the last answer of the run (LOGOUT's: the way out must be bounded too).
    last = max(((c[0], c[3]) for c in commands if c[3] is not None), default=None)
    for i in range(min(stalls, count - len(early) - len(cuts))):
        direction = "to_server" if i % 3 == 1 else "to_client"
        total = sum(s.nbytes(direction) for s in stats)
        conn, off = _locate(stats, direction, int((i + 0.5) * total / stalls))
        if i % 3 == 2 and last is not None:
            direction, (conn, off) = "to_client", last
        cuts.append(Cut((stall(direction, off, None, connection=conn),), STALL_TIMEOUT))
    while len(early) + len(cuts) < count:
        conn, off = _locate(stats, "to_server", sum(s.to_server for s in stats) // 2)
        cuts.append(Cut((stall("to_server", off, 0.2, connection=conn),)))
    rng.shuffle(cuts)
    # Every fifth run: the retry is cut too (before the answer of a random command
    # of the clean run -- the retry's stream is shorter, so it lands anywhere).
    answers = [(c[0], c[3]) for c in commands if c[3] is not None]
    for i, cut in enumerate(cuts):
        first = cut.faults[0]
        if i % 5 == 3 and answers and first.kind == "drop" and first.connection is not None:
            conn, answer = rng.choice(answers)
            again = drop("to_client", answer, connection=first.connection + conn)
            cuts[i] = Cut((first, again), cut.timeout)
    # The early ones first, so that each backend gets one (split_for_backend).
    return early + cuts


# --- running one faulted run ------------------------------------------------------------


@dataclass
class Tally:
    """How the faulted runs of one test went."""

    runs: int = 0
    fired: int = 0
    errors: int = 0

    def check(self, job: str) -> None:
        # The cuts were really made (a few may fall after a shorter run's end).
        assert self.fired >= 0.85 * self.runs, (job, self.fired, self.runs)
        assert self.errors >= 1, f"{job}: no run ended in an error"
        print(f"{job}: {self.runs} faulted runs, {self.fired} fired, {self.errors} errors")


async def faulted(
    proxy: FaultProxy, cut: Cut, run: Callable[[], Awaitable[T]], tally: Tally
) -> T | PipeimapError:
    """Run ``run`` with the proxy armed with ``cut``: it must finish (no hang) with
    a result or a pipeimap error.  Any other exception fails the test."""
    proxy.set_faults(cut.faults)
    tally.runs += 1
    try:
        with anyio.fail_after(RUN_LIMIT):
            return await run()
    except PipeimapError as exc:
        tally.errors += 1
        return exc
    finally:
        tally.fired += bool(proxy.fired)
        proxy.set_faults(())


async def measure(proxy: FaultProxy, run: Callable[[], Awaitable[Any]]) -> list[ConnectionStats]:
    """A clean run through the proxy; its per-connection byte counts."""
    proxy.set_faults(())
    with anyio.fail_after(RUN_LIMIT):
        await run()
    stats = list(proxy.stats)
    proxy.set_faults(())
    names = sorted({name for s in stats for name, _, _ in s.commands()})
    print(f"clean run: {len(stats)} connection(s), commands {', '.join(names)}")
    return stats


# --- what must hold after a run and its resume -----------------------------------------------


def open_store(fmt: str, dest: Path) -> MessageStore:
    if fmt == "maildir":
        return MaildirStore(dest, fsync=False)
    if fmt == "mbox":
        return MboxStore(dest, single_file=False, fsync=False)
    return EmlStore(dest, fsync=False)


def state_markers(dest: Path) -> dict[str, int]:
    """The committed mbox sizes the job saved in its state."""
    with JobState(dest / STATE_FILE_NAME) as state:
        return state.markers(MBOX_MARKERS)


def leftovers(dest: Path) -> list[Path]:
    """Half-written files: pipeimap temp files anywhere, anything in a Maildir tmp/."""
    found = [p for p in dest.rglob("*") if TEMP_MARKER in p.name]
    for tmp in dest.rglob("tmp"):
        if tmp.is_dir() and (tmp.parent / "cur").is_dir():
            found.extend(tmp.iterdir())
    return sorted(set(found))


def check_clean(fmt: str, dest: Path, context: str) -> None:
    """Right after a run ended -- in success or in an error, not killed -- it has
    left no half-written file behind: no temp file, no torn mbox tail."""
    assert leftovers(dest) == [], f"{context}: half-written files left: {leftovers(dest)}"
    if fmt == "mbox" and (dest / STATE_FILE_NAME).exists():
        report = MboxStore(dest, single_file=False, fsync=False).recover(state_markers(dest))
        assert not report.truncated, f"{context}: torn mbox tail {report.truncated}"
        assert not report.warnings, f"{context}: {report.warnings}"


def check_store(
    fmt: str,
    dest: Path,
    box: str,
    rows: dict[int, Any],
    server: dict[int, tuple[bytes, frozenset[Any], Any]],
    context: str,
    markers: Mapping[str, int] | None = None,
) -> None:
    """The local store holds every server message exactly once, byte for byte,
    with the server's flags (as far as the format keeps flags), recorded under
    its UID; and no half-written file anywhere under ``dest``."""
    store = open_store(fmt, dest)
    found = list(store.iter_messages(box))
    keys = [m.key for m in found]
    assert len(keys) == len(set(keys)), context
    bodies = Counter(store.read(k) for k in keys)
    want = Counter(body for body, _, _ in server.values())
    assert bodies == want, (
        f"{context}: {sum((bodies - want).values())} extra, "
        f"{sum((want - bodies).values())} missing messages in the store"
    )
    assert sorted(rows) == sorted(server), f"{context}: recorded UIDs differ from the server's"
    by_key = {m.key: m for m in found}
    for uid, (body, flags, _) in server.items():
        row = rows[uid]
        assert row.key in by_key, f"{context}: UID {uid} recorded under a missing key"
        assert store.read(row.key) == body, f"{context}: UID {uid} differs"
        assert row.flags == flags, f"{context}: UID {uid} flags {row.flags} != {flags}"
        assert by_key[row.key].flags == store.representable(flags), (
            f"{context}: UID {uid} local flags {by_key[row.key].flags} != {flags}"
        )
    assert leftovers(dest) == [], f"{context}: half-written files left: {leftovers(dest)}"
    if fmt == "mbox":
        # Every mbox file ends at its committed size: nothing torn for recover() to cut.
        fresh = MboxStore(dest, single_file=False, fsync=False)
        report = fresh.recover(markers)
        assert not report.truncated, f"{context}: torn mbox tail {report.truncated}"
        assert not report.warnings, f"{context}: {report.warnings}"
