"""``import_mail``'s costs, not just its results: the memory it holds (the
``batch_bytes`` bound), the round trips before the first APPEND (CREATE,
EXAMINE pipelined), the growing first windows, and the streaming mbox reader
checked against a plain line-by-line reference at awkward chunk sizes."""

from __future__ import annotations

import itertools
import re
import tracemalloc
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeimap.errors import StoreError
from pipeimap.jobs import ServerSpec, _import, import_mail
from pipeimap.protocol import Secret
from pipeimap.store import iter_mbox
from pipeimap.store._mboxrd import parse_from_date, unquote
from pipeimap.store._sources import normalize_crlf
from pipeimap.testing import DovecotServer

from ..conftest import TEST_USERS
from ._import_data import Msg, assert_exactly_once, corpus, write_mbox

_box = itertools.count()


def plain_spec(dovecot: DovecotServer, **kw: Any) -> ServerSpec:
    # Plain TCP: TLS buffers would blur the memory figures.
    return ServerSpec(
        dovecot.host, dovecot.imap_port, username="alice", password=Secret(TEST_USERS["alice"]),
        tls="insecure-plaintext", compress=False, **kw,
    )  # fmt: skip


def big_corpus(n: int, size: int) -> list[Msg]:
    """``n`` distinct messages of about ``size`` bytes each."""
    out = []
    for m in corpus(n, tag="bounds")[:n]:  # (drop corpus()'s two duplicates)
        pad = b"".join(b"%06d padding line of the body\n" % i for i in range(size // 30))
        out.append(Msg(m.content + pad, m.flags, m.date))
    return out


# --- memory -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_memory_stays_near_batch_bytes(dovecot: DovecotServer, tmp_path: Path) -> None:
    """3 MB of source through ``batch_bytes=256 KB``: the Python heap's peak
    stays within a few ``batch_bytes`` (the windows held, the client's encoded
    copies of the APPENDs on the wire), far below the source size.  Holding
    every window until its journal commit, or more windows than two, fails it."""
    msgs = big_corpus(150, 20_000)
    source = write_mbox(tmp_path / "big.mbox", msgs)
    assert source.stat().st_size > 2_900_000
    box = f"Bounds/mem-{next(_box)}"
    budget = 256 * 1024
    tracemalloc.start()
    try:
        report = await import_mail(
            plain_spec(dovecot), source, box, state_path=tmp_path / "s.sqlite",
            batch_bytes=budget,
        )  # fmt: skip
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.ok
    assert report.appended == len(msgs)
    assert peak < 6 * budget, f"peak {peak:,} bytes for batch_bytes={budget:,}"
    async with plain_spec(dovecot).connect() as client:
        await assert_exactly_once(client, box, msgs)


# --- round trips and windows -----------------------------------------------------------------


class WireLog:
    """The protocol trace, one line per protocol line (``C:`` / ``S:`` ...)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, text: str) -> None:
        self.lines.extend(line for line in text.splitlines() if " C: " in line or " S: " in line)

    def index(self, pattern: str) -> int:
        for i, line in enumerate(self.lines):
            if re.search(pattern, line):
                return i
        raise AssertionError(f"{pattern!r} not in the trace:\n" + "\n".join(self.lines))

    def appends(self) -> list[int]:
        """Messages per APPEND command, in the order written."""
        return [line.count("+}") for line in self.lines if re.search(r"C: \S+ APPEND ", line)]


@pytest.mark.anyio
@pytest.mark.parametrize("exists", [False, True])
async def test_create_and_examine_are_pipelined(
    dovecot: DovecotServer, tmp_path: Path, exists: bool
) -> None:
    """CREATE and EXAMINE go out together (the EXAMINE is written before the
    CREATE's answer comes back); an existing mailbox makes the CREATE fail with
    ``[ALREADYEXISTS]``, which is fine: the import proceeds."""
    msgs = corpus(6, tag="open")
    source = write_mbox(tmp_path / "open.mbox", msgs)
    box = f"Bounds/open-{next(_box)}"
    if exists:
        async with plain_spec(dovecot).connect() as client:
            await client.create(box)
    log = WireLog()
    report = await import_mail(
        plain_spec(dovecot, trace=log), source, box, state_path=tmp_path / "s.sqlite"
    )
    assert report.ok
    assert report.created_mailbox is not exists
    create = log.index(r"C: (\S+) CREATE ")
    tag = log.lines[create].split("C: ")[1].split()[0]
    answer = log.index(rf"S: {tag} (OK|NO)")
    assert create < log.index(r"C: \S+ EXAMINE ") < answer
    assert ("ALREADYEXISTS" in log.lines[answer]) is exists
    assert not any(re.search(r"C: \S+ LIST ", line) for line in log.lines)
    async with plain_spec(dovecot).connect() as client:
        await assert_exactly_once(client, box, msgs)


@pytest.mark.anyio
async def test_first_windows_grow_from_small(dovecot: DovecotServer, tmp_path: Path) -> None:
    """The first MULTIAPPEND carries FIRST_WINDOW messages (the server starts
    at once), each next one twice as many, up to ``batch_count``."""
    msgs = big_corpus(70, 200)
    source = write_mbox(tmp_path / "ramp.mbox", msgs)
    log = WireLog()
    report = await import_mail(
        plain_spec(dovecot, trace=log), source, f"Bounds/ramp-{next(_box)}",
        state_path=tmp_path / "s.sqlite", batch_count=20,
    )  # fmt: skip
    assert report.appended == 70
    first = _import.FIRST_WINDOW
    assert log.appends() == [first, 2 * first, 20, 20, 70 - 20 - 20 - 3 * first]


@pytest.mark.anyio
async def test_window_bytes_are_half_the_budget(dovecot: DovecotServer, tmp_path: Path) -> None:
    """No APPEND carries more than half of ``batch_bytes`` plus one message."""
    msgs = big_corpus(40, 5_000)
    source = write_mbox(tmp_path / "bytes.mbox", msgs)
    budget = 40_000
    sizes: list[int] = []
    log = WireLog()
    report = await import_mail(
        plain_spec(dovecot, trace=log), source, f"Bounds/bytes-{next(_box)}",
        state_path=tmp_path / "s.sqlite", batch_bytes=budget,
    )  # fmt: skip
    assert report.appended == 40
    for line in log.lines:
        if re.search(r"C: \S+ APPEND ", line):
            literal = [int(n) for n in re.findall(r"\{(\d+)\+\}", line)]
            sizes.append(sum(literal))
            assert sum(literal) - max(literal) < budget // 2
    assert len(sizes) > 5


# --- the mbox reader against a line-by-line reference ----------------------------------------

_FROM_LINE = re.compile(
    rb"From \S*[ \t]+(?:[A-Za-z]{3},?[ \t]+)?[A-Za-z]{3}[ \t]+\d{1,2}[ \t]+\d{1,2}:\d{2}"
)


def reference_mbox(data: bytes, limit: int) -> Iterator[tuple[int, bytes, datetime | None]]:
    """(offset, unquoted CRLF bytes with the status headers kept, From_ date):
    the straightforward reader, one ``readline(limit)`` piece at a time."""
    pieces: list[tuple[int, bytes, bool]] = []
    pos, at_start = 0, True
    while pos < len(data):
        nl = data.find(b"\n", pos, pos + limit)
        end = nl + 1 if nl >= 0 else min(pos + limit, len(data))
        pieces.append((pos, data[pos:end], at_start))
        at_start = data[end - 1 : end] == b"\n"
        pos = end
    start, date, in_from = -1, None, False
    parts: list[bytes] = []
    found: list[tuple[int, bytes, datetime | None]] = []

    def finish() -> None:
        raw = b"".join(parts)
        if raw.endswith(b"\r\n\r\n"):
            raw = raw[:-2]
        elif raw.endswith(b"\n\n"):
            raw = raw[:-1]
        found.append((start, normalize_crlf(unquote(raw)), date))

    for offset, piece, first in pieces:
        if in_from:
            in_from = not piece.endswith(b"\n")
            continue
        sep = first and piece.startswith(b"From ") and (offset == 0 or _FROM_LINE.match(piece))
        if sep:
            if start >= 0:
                finish()
            start, date, parts = offset, parse_from_date(piece), []
            in_from = not piece.endswith(b"\n")
        elif start >= 0:
            parts.append(piece)
        elif piece.strip():
            raise StoreError("not an mbox")
    if start >= 0:
        finish()
    return iter(found)


_FRAGMENTS = [
    b"From ", b"From a Mon Jan  1 00:00:00 2024", b"From x@y Tue Feb  2 10:00 2021", b">From ",
    b">>From x", b"\n", b"\r\n", b"\n\n", b" ", b"Status: RO", b"Message-ID: <a@b>", b"abc",
    b"x" * 70, b"\r", b"Subject: s",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(_FRAGMENTS), max_size=40),
    header=st.booleans(),
    chunk=st.sampled_from([64, 65, 100, 1 << 16]),
)
def test_mbox_reader_matches_line_by_line_reference(
    tmp_path_factory: pytest.TempPathFactory, pieces: list[bytes], header: bool, chunk: int
) -> None:
    """The chunked reader finds the same messages (offsets, bytes, dates) as
    the line-by-line reference, whatever falls on a chunk boundary; skipping a
    message by id drops exactly it."""
    data = (b"From a Mon Jan  1 00:00:00 2024\n" if header else b"") + b"".join(pieces)
    path = tmp_path_factory.mktemp("mbox") / "m.mbox"
    path.write_bytes(data)
    try:
        want = [(f"mbox:{path.resolve()}:{o}", d, t) for o, d, t in reference_mbox(data, chunk)]
    except StoreError:
        with pytest.raises(StoreError):
            list(iter_mbox(path, chunk_size=chunk, strip_status=False))
        return
    got = [(m.source_id, m.data, m.internaldate)
           for m in iter_mbox(path, chunk_size=chunk, strip_status=False)]  # fmt: skip
    assert got == want
    if want:
        skip = {want[0][0]}
        rest = [m.source_id for m in iter_mbox(path, chunk_size=chunk, skip=skip)]
        assert rest == [sid for sid, _, _ in want[1:]]


def test_mbox_reader_at_every_chunk_alignment(tmp_path: Path) -> None:
    """A From_ line ending at every position around a chunk boundary, followed
    at once by another From_ line (an empty message) and a quoted body line:
    the reader agrees with the reference each time."""
    path = tmp_path / "m.mbox"
    for pad in range(100):
        sender = b"s" * pad
        data = (
            b"From " + sender + b" Mon Jan  1 00:00:00 2024\n"
            b"From b Tue Jan  2 00:00:00 2024\nSubject: x\n\n>From y\n\n"
            b"From c Wed Jan  3 00:00:00 2024\n\nbody\n"
        )
        path.write_bytes(data)
        want = [(f"mbox:{path.resolve()}:{o}", d) for o, d, _ in reference_mbox(data, 64)]
        got = [(m.source_id, m.data) for m in iter_mbox(path, chunk_size=64, strip_status=False)]
        assert got == want, pad
        assert len(got) == 3
