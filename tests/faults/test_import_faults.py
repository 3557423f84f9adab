"""``import_mail`` under fault injection, from an mbox file and from a Maildir:
the connection is cut at many points (both directions, inside APPEND literals,
stalls), including after an APPEND reached the server but before its OK came
back.  Each run ends in success or a clean pipeimap error; after a clean resume
the mailbox holds every source message exactly once, byte for byte, with its
flags and date."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from pipeimap.jobs import ImportReport, ServerSpec, import_mail
from pipeimap.protocol import AppendMessage, Flag
from pipeimap.testing import DovecotServer
from pipeimap.testing.faultproxy import FaultProxy, cut_at_line
from tests.jobs._import_data import (
    BASE,
    Msg,
    assert_exactly_once,
    corpus,
    write_maildir,
    write_mbox,
)
from tests.jobs._mirror_helpers import populate

from ._harness import (
    CUTS,
    FAST,
    SCALE,
    Cut,
    Tally,
    direct,
    faulted,
    measure,
    plan_cuts,
    split_for_backend,
    via,
)

pytestmark = pytest.mark.anyio
USER = "alice"
_box = itertools.count()
SOURCES: dict[str, Callable[[Path, list[Msg]], Path]] = {
    "mbox": lambda d, m: write_mbox(d / "library.mbox", m),
    "maildir": lambda d, m: write_maildir(d / "Maildir", m),
}


def library(tag: str) -> list[Msg]:
    """The corpus of the import tests (awkward cases, duplicates) plus three big
    messages whose APPEND literals span many reads."""
    msgs = corpus(14 * SCALE, tag=tag)
    for i, size in enumerate((110_000, 220_000, 300_000)):
        line = f"big {tag} {i} ".encode() + b"x" * 60 + b"\n"
        body = line * (size // len(line))
        head = f"Message-ID: <big.{tag}.{i}@example.org>\nFrom: big@example.org\nSubject: big {i}"
        msgs.insert(4 * i + 2, Msg(head.encode() + b"\n\n" + body, frozenset({"\\Seen"}),
                                   BASE + timedelta(hours=i)))  # fmt: skip
    return msgs


def _appendable(m: Msg) -> AppendMessage:
    return AppendMessage(m.crlf, tuple(Flag(f) for f in sorted(m.flags)), m.date)


async def _run(spec: ServerSpec, source: Path, box: str, state: Path) -> ImportReport:
    return await import_mail(
        spec, source, box, state_path=state, retry=FAST, batch_count=4, batch_bytes=400_000
    )


@pytest.mark.parametrize("kind", ["mbox", "maildir"])
async def test_import_survives_cuts(
    dovecot: DovecotServer, tmp_path: Path, anyio_backend: str, kind: str
) -> None:
    msgs = library(f"{kind}-{anyio_backend}")
    source = SOURCES[kind](tmp_path, msgs)
    proxy = FaultProxy("127.0.0.1", dovecot.imap_port)
    tally = Tally()
    checker = direct(dovecot, USER)
    prefilled = [_appendable(m) for m in msgs[:6]]

    async def prepare(box: str, prefill: bool) -> None:
        if prefill:
            # Part of the library is there already (with and without a
            # Message-ID): found by Message-ID, or by size and hash, not sent.
            async with checker.connect() as client:
                await populate(client, box, prefilled)

    async with proxy.running():
        spec = via(proxy, USER)
        plans: list[tuple[Cut, bool]] = []
        for prefill in (False, True):
            clean_box = f"Faults/{kind}-clean-{next(_box)}"
            await prepare(clean_box, prefill)
            state = tmp_path / f"c{prefill}.sqlite"
            stats = await measure(proxy, lambda: _run(spec, source, clean_box, state))  # noqa: B023
            async with checker.connect() as client:
                await assert_exactly_once(client, clean_box, msgs, flags=True)
                await client.delete(clean_box)
            share = CUTS // 4 + (CUTS // 2 % 2 if prefill else 0)
            seed = 4000 + 10 * len(kind) + prefill
            cuts = plan_cuts(stats, share, seed=seed, literal_direction="to_server")
            plans += [(cut, prefill) for cut in cuts]
        for i, (cut, prefill) in enumerate(split_for_backend(plans, anyio_backend)):
            context = f"import {kind} cut {i} (prefilled: {prefill}): {cut.describe()}"
            box = f"Faults/{kind}-{anyio_backend}-{next(_box)}"
            state = tmp_path / f"state-{i}.sqlite"
            faulty = via(proxy, USER, timeout=cut.timeout)
            await prepare(box, prefill)
            outcome = await faulted(proxy, cut, lambda: _run(faulty, source, box, state), tally)  # noqa: B023
            if isinstance(outcome, ImportReport):
                assert outcome.ok, context
            resumed = await _run(spec, source, box, state)
            assert resumed.ok, context
            async with checker.connect() as client:
                try:
                    await assert_exactly_once(client, box, msgs, flags=True)
                except AssertionError as exc:
                    raise AssertionError(f"{context}: {exc}") from exc
                await client.delete(box)
    tally.check(f"import ({kind})")


async def test_import_hash_lookup_cut_then_resumed(
    dovecot: DovecotServer, tmp_path: Path, anyio_backend: str
) -> None:
    """Regression: messages without a Message-ID are found on the server by size
    and hash.  The first attempt's MULTIAPPEND lands but its OK is lost; the
    second attempt's hash FETCH is cut.  The third attempt must still find them
    (the index had forgotten which server messages it had not hashed yet, and
    appended all three again)."""
    msgs = [
        Msg(f"From: a@example.org\nSubject: no id {i}\n\n".encode() + b"body\n" * (i + 1),
            frozenset(), BASE + timedelta(days=i))
        for i in range(3)
    ]  # fmt: skip
    source = write_mbox(tmp_path / "noid.mbox", msgs)
    proxy = FaultProxy("127.0.0.1", dovecot.imap_port)
    box = f"Faults/noid-{anyio_backend}-{next(_box)}"
    faults = (
        cut_at_line("to_client", rb"^\S+ OK \[APPENDUID", connection=1),
        cut_at_line("to_server", rb"BODY\.PEEK\[\]", connection=2),
    )
    async with proxy.running():
        tally = Tally()
        spec = via(proxy, USER)
        outcome = await faulted(
            proxy, Cut(faults), lambda: _run(spec, source, box, tmp_path / "s.sqlite"), tally
        )
        assert tally.fired == 1
        assert isinstance(outcome, ImportReport), outcome
        assert outcome.attempts == 3
        assert outcome.ok
        async with direct(dovecot, USER).connect() as client:
            await assert_exactly_once(client, box, msgs, flags=True)
            await client.delete(box)
