"""Replays every saved fuzz finding with its target's oracle (see docs/fuzzing.md),
plus a short smoke run of each target from its seeds and checks that the oracles
can fail at all."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType

import pytest

from fuzz.mutator import Mutator
from fuzz.seeds import DICTIONARY, seeds
from fuzz.targets import TARGETS, Finding, run_target
from pipeimap.protocol._accel import speedups
from pipeimap.protocol._parser import ResponseParser
from pipeimap.protocol._types import UID
from pipeimap.scheduler import Scheduler

REGRESSIONS = Path(__file__).resolve().parent.parent / "data" / "fuzz_regressions"
CASES = sorted(REGRESSIONS.glob("*/*.bin"))


def _needs(target: str) -> None:
    if target == "imapclient-diff":
        pytest.importorskip("imapclient")  # the independent parser (the bench extra)
    if target == "c-vs-python" and speedups is None:
        pytest.skip("the C accelerator (pipeimap.protocol._speedups) is not built")


def test_regression_files_name_a_target() -> None:
    assert CASES, "no regression inputs found"
    for path in CASES:
        assert path.parent.name in TARGETS, path


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_regression(path: Path) -> None:
    _needs(path.parent.name)

    # Some of these were hangs (gigabytes allocated for minutes): bound the time.
    def alarm(_signum: int, _frame: FrameType | None) -> None:
        raise TimeoutError(f"{path.name} took more than 10 s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, 10)
    try:
        run_target(path.parent.name, path.read_bytes())
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_seeds_pass(target: str) -> None:
    _needs(target)
    corpus = seeds(target)
    assert len(corpus) >= 10
    for data in corpus:
        run_target(target, data)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_short_mutation_run(target: str) -> None:
    """A few hundred mutated inputs per target (a fixed seed: reproducible)."""
    _needs(target)
    mut = Mutator(seeds(target), DICTIONARY, seed=20240501)
    for _ in range(150):
        run_target(target, mut.next())


def test_mutator_is_deterministic() -> None:
    a = Mutator([b"\x00* 1 FETCH (UID 1)\r\n"], DICTIONARY, seed=5)
    b = Mutator([b"\x00* 1 FETCH (UID 1)\r\n"], DICTIONARY, seed=5)
    assert [a.next() for _ in range(50)] == [b.next() for _ in range(50)]


# --- the oracles can fail ---------------------------------------------------------------


def test_parser_oracle_catches_untyped_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: ResponseParser) -> object:
        raise KeyError("bug")

    monkeypatch.setattr(ResponseParser, "next_event", broken)
    with pytest.raises(KeyError):
        run_target("parser", b"\x00* 1 EXISTS\r\n")


def test_parser_oracle_catches_split_dependence(monkeypatch: pytest.MonkeyPatch) -> None:
    original = ResponseParser.feed
    parsers: list[ResponseParser] = []  # kept alive, so that no id() is reused
    calls: dict[int, int] = {}

    def feed(self: ResponseParser, data: bytes) -> None:
        # The second feed() of a parser loses a byte: only split feeding sees it.
        parsers.append(self)
        calls[id(self)] = calls.get(id(self), 0) + 1
        original(self, data[1:] if calls[id(self)] == 2 else data)

    monkeypatch.setattr(ResponseParser, "feed", feed)
    with pytest.raises(Finding, match="split"):
        # (control byte 3: these bytes are fed in five pieces)
        run_target("parser", b"\x03* 7 EXISTS\r\n* 77 EXISTS\r\n* 777 EXISTS\r\n")


def test_fetch_diff_oracle_catches_a_wrong_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    import pipeimap.protocol._parser as parser_module

    original = vars(parser_module)["lex_fetch_batch"]

    def wrong(*args: object) -> object:
        trees = original(*args)
        return None if trees is None else [t[:-2] if len(t) > 2 else t for t in trees]

    monkeypatch.setattr(parser_module, "lex_fetch_batch", wrong)
    with pytest.raises(Finding, match="fast path"):
        run_target("fetch-diff", b"\x01* 1 FETCH (UID 5 FLAGS (\\Seen))\r\n")


def test_router_oracle_catches_commands_that_never_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Scheduler, "connection_lost", lambda self, exc=None: [])
    with pytest.raises(Finding, match="never ended"):
        run_target("router", b"\x00* 1 FETCH (UID 1 FLAGS ())\r\n")


def test_imapclient_oracle_compares_values(monkeypatch: pytest.MonkeyPatch) -> None:
    rp = pytest.importorskip("imapclient.response_parser")
    original = rp.parse_fetch_response

    def shifted(*args: object, **kwargs: object) -> object:
        out = original(*args, **kwargs)
        for msg in out.values():
            msg[b"UID"] += 1
        return out

    monkeypatch.setattr(rp, "parse_fetch_response", shifted)
    with pytest.raises(Finding, match="UID"):
        run_target("imapclient-diff", b"\x00* 3 FETCH (UID 7 FLAGS (\\Seen))\r\n")


def test_commands_oracle_catches_a_lossy_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    import fuzz.targets as targets

    original = vars(targets)["serialize"]

    def lossy(tag: str, cmd: object, opts: object) -> object:
        frags = original(tag, cmd, opts)
        return [type(f)(f.data.replace(b"INBOX", b"OUTBOX")) for f in frags]

    monkeypatch.setattr(targets, "serialize", lossy)
    with pytest.raises(Finding):
        run_target("commands", b"\x00A1 SELECT INBOX\r\n")


# --- the fixes, stated directly ----------------------------------------------------------


def test_huge_exists_does_not_allocate_a_uid_map() -> None:
    from pipeimap.scheduler import MailboxState

    mbox = MailboxState("INBOX")
    mbox.on_exists(0xFFFFFFFF)
    assert mbox.exists == 0xFFFFFFFF
    assert mbox.on_fetch(0xFFFFFFFF, None, None) is None
    mbox.on_fetch(3, UID(9), None)
    assert mbox.uid_for(3) == UID(9)
    assert mbox.uid_for(0xFFFFFFFF) is None
    assert len(mbox.known_uids) == 1
    mbox.on_expunge(1)
    assert mbox.exists == 0xFFFFFFFE
    assert mbox.uid_for(2) == UID(9)


def test_fetches_jumping_ahead_cannot_grow_the_uid_map_without_bound() -> None:
    """Each FETCH line far past the known map would pad it with megabytes of
    unknown entries; the padding has one budget per mailbox."""
    from pipeimap.scheduler import MailboxState

    mbox = MailboxState("INBOX")
    mbox.on_exists(0xFFFFFFFF)
    step = 1 << 19
    for i in range(1, 200):
        mbox.on_fetch(i * step, UID(i), None)
    assert len(mbox._uids) <= (1 << 20) + 200
    # Contiguous lines after the jumps still get their UIDs.
    mbox2 = MailboxState("INBOX")
    mbox2.on_exists(300_000)
    mbox2.on_fetch(200_000, UID(5), None)  # a legitimate jump: FETCH 200000:*
    for seq in range(200_001, 200_101):
        mbox2.on_fetch(seq, UID(seq), None)
    assert mbox2.uid_for(200_000) == UID(5)
    assert mbox2.uid_for(200_100) == UID(200_100)
