"""Fuzz targets and their oracles.

Every target takes one input (``bytes``) and returns normally when every oracle
holds; it raises :class:`Finding` when an oracle is violated, and any other
exception that escapes is a finding too (a crash).  The first byte of an input
is a *control byte* (which limits, which scenario, which options); the rest is
the payload.  Where a target feeds data in pieces, the split points come from a
PRNG seeded with a checksum of the input, so an input always replays the same way.

Targets (see ``docs/fuzzing.md``):

``parser``
    :class:`ResponseParser` on arbitrary server bytes, whole and in random splits,
    then ``feed_eof``: only :class:`ResponseParseError` (and its subclass
    :class:`LimitExceededError`) may escape; both feedings give the same events
    and the same error; the bytes held stay within the configured limits; work
    is bounded (events per byte); an error is final.
``fetch-diff``
    The batched FETCH fast path (``_fetch_batch``) against the exact lexer: the
    same events, or the same error (type, rule, offset, message).
``imapclient-diff``
    A single FETCH response through our parser and through
    ``imapclient.response_parser`` (an independent implementation): where both
    accept it, the values they both report agree.
``router``
    The sans-IO :class:`Scheduler` with commands in flight (FETCH, UID FETCH,
    STORE, SEARCH, SELECT, APPEND, COPY, MOVE, EXPUNGE...) and fuzzed server
    responses: only :class:`~pipeimap.errors.PipeimapError` escapes; after EOF
    every command ended exactly once (completed or failed), no data arrives for
    an ended command, and nothing is left queued, in flight or tracked.
``commands``
    The command reader (``_command_parser``) on arbitrary client bytes: only
    :class:`CommandParseError` / :class:`InvalidArgumentError`; whole and split
    feeding agree; whatever it accepts round-trips through the serializer and
    back to an equal command with byte-identical wire.
"""

from __future__ import annotations

import random
import re
import zlib
from collections.abc import Callable, Iterator
from typing import Any

from pipeimap.errors import (
    InvalidArgumentError,
    LimitExceededError,
    PipeimapError,
    ResponseParseError,
)
from pipeimap.protocol import _commands as c
from pipeimap.protocol import _search as S
from pipeimap.protocol._command_parser import (
    CommandParseError,
    CommandReader,
    ContinuationNeeded,
    ParsedCommand,
    to_command,
)
from pipeimap.protocol._limits import ParserLimits
from pipeimap.protocol._parser import ResponseParser
from pipeimap.protocol._responses import (
    Event,
    FetchLiteralChunk,
    FetchResponse,
)
from pipeimap.protocol._seqset import LAST_SEARCH_UID, SeqSet, UIDSet
from pipeimap.protocol._serializer import EncodeOptions, LiteralMode, serialize
from pipeimap.protocol._types import Flag
from pipeimap.scheduler import (
    AuthState,
    CommandId,
    Completed,
    ContinuationRequested,
    Delivered,
    Failed,
    Fatal,
    LiteralChunk,
    LiteralEnded,
    LiteralStarted,
    MailboxState,
    MessageDelivered,
    Outcome,
    Scheduler,
    SchedulerOptions,
    SessionState,
)

__all__ = ["TARGETS", "Finding", "run_target"]


class Finding(AssertionError):
    """An oracle was violated."""


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise Finding(what)


def _control(data: bytes) -> tuple[int, bytes]:
    return (data[0], data[1:]) if data else (0, b"")


def _splits(data: bytes, salt: int) -> list[bytes]:
    """``data`` cut at pseudo-random points (mostly small pieces, a few big)."""
    rng = random.Random(zlib.crc32(data) ^ (salt * 0x9E3779B1))
    out: list[bytes] = []
    i = 0
    while i < len(data):
        n = rng.choice((1, 1, 2, 3, 5, 8, 13, 64, 1000))
        out.append(data[i : i + n])
        i += n
    return out


# --- the response parser ------------------------------------------------------------

SMALL = ParserLimits(
    max_line_length=4096,
    max_literal_in_memory=2048,
    stream_threshold=64,
    max_literal_size=100_000,
    max_nesting_depth=16,
    max_response_size=8192,
)
TINY = ParserLimits(
    max_line_length=64,
    max_literal_in_memory=32,
    stream_threshold=8,
    max_literal_size=1000,
    max_nesting_depth=3,
    max_response_size=256,
)
_LIMITS = (SMALL, TINY, ParserLimits())

ErrorKey = tuple[str, str, int, str]


def _normalize(events: list[Event]) -> list[Event]:
    """Merge consecutive streamed literal chunks: their sizes depend on the splits."""
    out: list[Event] = []
    for ev in events:
        if isinstance(ev, FetchLiteralChunk) and out and isinstance(out[-1], FetchLiteralChunk):
            out[-1] = FetchLiteralChunk(out[-1].data + ev.data)
        elif isinstance(ev, FetchLiteralChunk) and not ev.data:
            continue
        else:
            out.append(ev)
    return out


def parse_all(
    data: bytes | list[bytes],
    limits: ParserLimits,
    *,
    greeting: bool = False,
    parser_cls: type[ResponseParser] = ResponseParser,
    check_memory: bool = True,
) -> tuple[list[Event], ErrorKey | None]:
    """Feed ``data`` (whole, or the given pieces), then EOF; the events and the error.

    Checks on the way: only ResponseParseError escapes, the bytes held stay
    bounded, the work per fed byte is bounded, and an error is final."""
    chunks = [data] if isinstance(data, bytes) else data
    total = sum(len(ch) for ch in chunks)
    parser = parser_cls(limits, expect_greeting=greeting)
    events: list[Event] = []
    # Held bytes: one response (text + in-memory literals) plus what a single
    # feed() may append before the parser looks at it.
    bound = limits.max_response_size + limits.max_line_length
    try:
        for ch in chunks:
            parser.feed(ch)
            while (ev := parser.next_event()) is not None:
                events.append(ev)
                _check(len(events) <= 2 * total + 4, "more events than fed bytes")
            if check_memory:
                _check(
                    parser.buffered <= bound + len(ch),
                    f"parser holds {parser.buffered} bytes (bound {bound} + {len(ch)})",
                )
        parser.feed_eof()
        while (ev := parser.next_event()) is not None:
            events.append(ev)
            _check(len(events) <= 2 * total + 4, "more events than fed bytes")
    except ResponseParseError as exc:
        try:
            parser.next_event()
        except ResponseParseError as again:
            _check(again is exc, "a parse error is not final (a different error next)")
        else:
            raise Finding("a parse error is not final (next_event() went on)") from exc
        return _normalize(events), (type(exc).__name__, exc.rule, exc.offset, str(exc))
    return _normalize(events), None


def check_parser(data: bytes) -> None:
    control, payload = _control(data)
    limits = _LIMITS[control % 3]
    greeting = bool(control & 4)
    whole = parse_all(payload, limits, greeting=greeting)
    split = parse_all(_splits(payload, control), limits, greeting=greeting)
    if whole[1] is not None and split[1] is not None and whole[1][0] == LimitExceededError.__name__:
        # The same error; a limit may be noticed at a different byte when the
        # data arrives in pieces, so for those only the kind and rule must agree.
        _check(whole[1][:2] == split[1][:2], f"errors differ: {whole[1]} / {split[1]}")
        n = min(len(whole[0]), len(split[0]))
        _check(whole[0][:n] == split[0][:n], "events before the error differ")
        return
    # The message's excerpt shows what is still buffered, which depends on the splits.
    _check(
        whole[0] == split[0] and (whole[1] or ())[:3] == (split[1] or ())[:3],
        f"whole and split feeding differ:\n{whole}\n{split}",
    )


# --- the FETCH fast path against the exact path ---------------------------------------


class ExactParser(ResponseParser):
    """The parser with the batched FETCH fast path switched off."""

    def _fetch_ahead(self) -> bool:
        return False


def check_fetch_diff(data: bytes) -> None:
    control, payload = _control(data)
    limits = (SMALL, ParserLimits(), TINY)[control % 3]
    for pieces in ([payload], _splits(payload, control)):
        fast = parse_all(pieces, limits)
        exact = parse_all(pieces, limits, parser_cls=ExactParser)
        _check(fast == exact, f"fast path and exact path differ:\n{fast}\n{exact}")


# --- differential against imapclient's parser -----------------------------------------


def _b(v: object) -> object:
    if isinstance(v, bytes):
        try:
            return v.decode("utf-8")
        except UnicodeDecodeError:
            return v
    return v


_LITERAL_AT_END = re.compile(rb"~?\{([0-9]+)\+?\}$")  # as imaplib finds them


def _well_formed(wire: bytes) -> bool:
    """The text outside literals is printable ASCII and every quoted string uses
    only the two escapes RFC 9051 allows (\\ and \")."""
    pos = 0
    while pos < len(wire):
        eol = wire.find(b"\r\n", pos)
        if eol < 0:
            return False
        line = wire[pos:eol]
        if any(b < 0x20 or b > 0x7E for b in line):
            return False
        quoted = False
        i = 0
        while i < len(line):
            ch = line[i]
            if ch == 0x22:
                quoted = not quoted
            elif not quoted and ch == 0x25:  # "%" is no ATOM-CHAR (list-wildcards)
                return False
            elif quoted and ch == 0x5C:
                if line[i + 1 : i + 2] not in (b"\\", b'"'):
                    return False
                i += 1
            i += 1
        pos = eol + 2
        m = _LITERAL_AT_END.search(line)
        if m is not None and not quoted:
            if m.group().startswith(b"~"):
                return False  # imapclient does not know literal8 (RFC 3516)
            pos += int(m.group(1))
    return True


def check_imapclient_diff(data: bytes) -> None:
    _control_byte, payload = _control(data)
    events, err = parse_all(payload, ParserLimits(), check_memory=False)
    if err is not None or len(events) != 1 or not isinstance(events[0], FetchResponse):
        return
    ours = events[0]
    if not _well_formed(payload):
        return  # both parsers are lenient differently on malformed text: compare valid input
    try:
        from imapclient.response_parser import parse_fetch_response

        from bench._corpus_gen import imaplib_fetch_records

        records = imaplib_fetch_records(payload)
        theirs_all: Any = parse_fetch_response(records, normalise_times=False, uid_is_key=False)
    except ImportError:
        raise
    except Exception:  # imapclient refuses it: nothing to compare
        return
    if len(theirs_all) != 1:
        return
    ((seq, theirs),) = theirs_all.items()
    _check(seq == ours.seq, f"sequence numbers differ: {ours.seq} / {seq}")
    items: Any = ours.items
    for key, value in theirs.items():
        name = key.decode("ascii", "replace") if isinstance(key, bytes) else str(key)
        if name == "SEQ" or name not in items:
            continue
        mine = items[name]
        if name in ("UID", "RFC822.SIZE", "MODSEQ"):
            if isinstance(value, tuple) and len(value) == 1:
                value = value[0]  # imapclient keeps MODSEQ's parentheses
            if isinstance(value, int):
                _check(int(mine) == value, f"{name} differs: {mine!r} / {value!r}")
        elif name == "FLAGS":
            if isinstance(value, tuple):
                _check(
                    # flags are case-insensitive; our parser spells system flags canonically
                    tuple(str(f).upper() for f in mine) == tuple(str(_b(f)).upper() for f in value),
                    f"FLAGS differ: {mine!r} / {value!r}",
                )
        elif name.startswith(("BODY[", "RFC822")) and isinstance(value, bytes):
            if isinstance(mine, bytes):
                _check(mine == value, f"{name} differs: {mine!r} / {value!r}")
        elif name == "INTERNALDATE" and hasattr(value, "utcoffset"):
            _check(
                mine == value and mine.utcoffset() == value.utcoffset(),
                f"INTERNALDATE differs: {mine!r} / {value!r}",
            )
        elif name == "ENVELOPE" and hasattr(value, "subject"):
            for ours_v, theirs_v, what in (
                (mine.subject, value.subject, "subject"),
                (mine.message_id, value.message_id, "message_id"),
            ):
                if isinstance(theirs_v, bytes) and isinstance(_b(theirs_v), str):
                    _check(
                        ours_v == _b(theirs_v),
                        f"ENVELOPE {what} differs: {ours_v!r} / {theirs_v!r}",
                    )
                elif theirs_v is None:
                    _check(ours_v is None, f"ENVELOPE {what}: {ours_v!r} / None")


# --- the router / scheduler ----------------------------------------------------------

_CAPS = frozenset({"IMAP4REV1", "UIDPLUS", "ESEARCH", "SEARCHRES", "MOVE", "CONDSTORE"})


def _state(selected: bool) -> SessionState:
    st = SessionState(capabilities=_CAPS, auth=AuthState.AUTHENTICATED)
    if selected:
        mbox = MailboxState("INBOX", readonly=False, uidvalidity=1)
        mbox.on_exists(20)
        st.selected = mbox
        st.auth = AuthState.SELECTED
    return st


def _body() -> c.FetchItem:
    return c.FetchItem.body("")


def scenario_commands(n: int) -> tuple[bool, list[c.Command]]:
    """(starts selected, commands) of router scenario ``n``."""
    flags = (c.FetchItem.simple("FLAGS"),)
    if n == 0:
        return True, [
            c.Fetch(UIDSet(range(1, 6)), flags),
            c.Fetch(SeqSet(2), (_body(), c.FetchItem.simple("UID"))),
            c.Store(UIDSet(3), c.StoreMode.ADD, (Flag.SEEN,)),
            c.Search(S.UNSEEN, uid=True),
            c.Noop(),
        ]
    if n == 1:
        return False, [
            c.Select("INBOX"),
            c.Fetch(UIDSet.span(1, 10), (c.FetchItem.simple("UID"), *flags)),
            c.Append("INBOX", (c.AppendMessage(b"Subject: x\r\n\r\nhi\r\n"),)),
            c.Expunge(),
            c.List("", ("*",)),
            c.Status("INBOX", ("MESSAGES", "UIDNEXT")),
        ]
    if n == 2:
        return True, [
            c.Search(S.UNSEEN, uid=True, return_options=("SAVE",)),
            c.Store(LAST_SEARCH_UID, c.StoreMode.ADD, (Flag.DELETED,)),
            c.Copy(UIDSet(range(1, 4)), "Archive"),
            c.Move(UIDSet(7), "Trash"),
            c.UidExpunge(UIDSet(range(1, 4))),
        ]
    return True, [
        c.Fetch(SeqSet(range(1, 4)), (_body(),)),
        c.Fetch(UIDSet(range(4, 9)), (c.FetchItem.simple("ENVELOPE"), *flags)),
        c.Select("Archive"),
        c.Fetch(UIDSet(1), flags),
        c.Close(),
    ]


N_SCENARIOS = 4
_WITH_CID = (
    Delivered,
    MessageDelivered,
    LiteralStarted,
    LiteralChunk,
    LiteralEnded,
    ContinuationRequested,
)


class _Tracker:
    def __init__(self, cids: list[CommandId]) -> None:
        self.ended: dict[CommandId, int] = dict.fromkeys(cids, 0)
        self.fatal = False

    def take(self, outs: list[Outcome]) -> None:
        for o in outs:
            if isinstance(o, (Completed, Failed)):
                _check(o.cid in self.ended, f"an ending for an unknown command: {o!r}")
                self.ended[o.cid] += 1
                _check(self.ended[o.cid] == 1, f"command {o.cid} ended twice: {o!r}")
                if isinstance(o, Failed):
                    _check(isinstance(o.error, PipeimapError), f"untyped failure {o!r}")
            elif isinstance(o, _WITH_CID):
                _check(o.cid in self.ended, f"data for an unknown command: {o!r}")
                _check(self.ended[o.cid] == 0, f"data after command {o.cid} ended: {o!r}")
            elif isinstance(o, Fatal):
                self.fatal = True


def check_router(data: bytes) -> None:
    control, payload = _control(data)
    selected, commands = scenario_commands(control % N_SCENARIOS)
    depth = 1 if control & 0x10 else 128
    sched = Scheduler(SchedulerOptions(pipeline_depth=depth), state=_state(selected))
    limits = ParserLimits(stream_threshold=8 if control & 0x20 else 1 << 20)
    parser = ResponseParser(limits, expect_greeting=False)
    cids = [sched.submit(cmd) for cmd in commands]
    track = _Tracker(cids)

    def write() -> None:
        for _ in range(1000):
            if sched.next_write() is None:
                track.take(sched.take_outcomes())
                return
            track.take(sched.take_outcomes())
        raise Finding("next_write() never runs dry")

    lost: BaseException | None = None
    write()
    try:
        for piece in _splits(payload, control):
            parser.feed(piece)
            for ev in parser.events():
                track.take(sched.on_event(ev))
                if track.fatal:
                    raise _Stop
                write()
        parser.feed_eof()
        for ev in parser.events():
            track.take(sched.on_event(ev))
            if track.fatal:
                raise _Stop
            write()
    except _Stop:
        pass
    except PipeimapError as exc:  # a parse error, or a typed error from the scheduler
        lost = exc
    track.take(sched.connection_lost(lost))
    track.take(sched.take_outcomes())
    missing = [cid for cid, n in track.ended.items() if n != 1]
    _check(not missing, f"commands never ended: {missing}")
    _check(sched.in_flight == () and sched.queued == (), "commands left after connection loss")
    sizes = sched.internal_sizes()
    _check(not any(sizes.values()), f"scheduler state left after connection loss: {sizes}")


class _Stop(Exception):
    pass


# --- the command reader and the serializer -------------------------------------------

_OPTIONS = (
    EncodeOptions(),
    EncodeOptions(literal_mode=LiteralMode.LITERAL_PLUS),
    EncodeOptions(literal_mode=LiteralMode.LITERAL_MINUS, max_quoted=8),
    EncodeOptions(literal_mode=LiteralMode.LITERAL_PLUS, utf8_accept=True, binary=True),
)


def _read_commands(pieces: list[bytes], utf8: bool) -> list[object]:
    """Every result of the reader over ``pieces``: ParsedCommand, ContinuationNeeded
    (as a marker) or the final CommandParseError's message."""
    reader = CommandReader(utf8=utf8)
    out: list[object] = []
    try:
        for piece in pieces:
            reader.feed(piece)
            for _ in range(len(piece) + 2):
                res = reader.next_command()
                if res is None:
                    break
                out.append(res if isinstance(res, ParsedCommand) else "+")
            else:
                raise Finding("next_command() keeps returning results")
    except CommandParseError:
        out.append("error")  # (its message quotes what was buffered: split-dependent)
    return out


def _transmit(cmd: c.Command, opts: EncodeOptions) -> c.Command:
    frags = serialize("A1", cmd, opts)
    reader = CommandReader(utf8=opts.utf8_accept)
    parsed: ParsedCommand | None = None
    for frag in frags:
        reader.feed(frag.data)
        res = reader.next_command()
        if isinstance(res, ParsedCommand):
            _check(parsed is None, "two commands from one serialization")
            parsed = res
        elif isinstance(res, ContinuationNeeded):
            _check(frag.wait_for_continuation, "a continuation the serializer did not expect")
    _check(parsed is not None, f"the serializer's output does not read back: {frags!r}")
    assert parsed is not None
    _check(reader.pending == b"", "bytes left after the serialized command")
    return to_command(parsed, utf8=opts.utf8_accept)


def check_commands(data: bytes) -> None:
    control, payload = _control(data)
    utf8 = bool(control & 1)
    whole = _read_commands([payload], utf8)
    # Split feeding must parse the same commands, up to the first synchronizing
    # literal: fed whole, its data arrives before the "+" the reader asks for,
    # which a client must not do, so from there on the two may differ.
    split = _read_commands(_splits(payload, control), utf8)
    for i, (x, y) in enumerate(zip(whole, split, strict=False)):
        if x == "+" or y == "+":
            break
        _check(x == y, f"whole and split reading differ at result {i}: {whole} / {split}")
    else:
        _check(len(whole) == len(split), f"whole and split reading differ: {whole} / {split}")
    opts = _OPTIONS[(control >> 1) % len(_OPTIONS)]
    if opts.utf8_accept != utf8:
        opts = EncodeOptions(opts.literal_mode, utf8, opts.binary, opts.sasl_ir, opts.max_quoted)
    for res in whole:
        if not isinstance(res, ParsedCommand):
            continue
        try:
            cmd = to_command(res, utf8=utf8)
        except ValueError:  # documented: CommandParseError, or another ValueError
            continue
        try:
            wire = serialize("A1", cmd, opts)
        except InvalidArgumentError:
            continue
        back = _transmit(cmd, opts)
        _check(back == cmd, f"round trip changed the command: {cmd!r} -> {back!r}")
        again = serialize("A1", back, opts)
        _check(again == wire, f"re-serializing differs: {wire!r} / {again!r}")


TARGETS: dict[str, Callable[[bytes], None]] = {
    "parser": check_parser,
    "fetch-diff": check_fetch_diff,
    "imapclient-diff": check_imapclient_diff,
    "router": check_router,
    "commands": check_commands,
}


def run_target(name: str, data: bytes) -> None:
    """Run target ``name`` on ``data`` (raises on a finding)."""
    TARGETS[name](data)


def iter_targets() -> Iterator[str]:
    yield from TARGETS


# registered last: it imports Finding from this module
from fuzz.target_speedups import check_c_vs_python  # noqa: E402

TARGETS["c-vs-python"] = check_c_vs_python
