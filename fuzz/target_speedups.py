"""Fuzz target ``c-vs-python``: the C lexers (``_speedups.c``) against the Python ones.

The control byte picks the nesting limit (bits 0-2: 1, 2, 3, 6, 8, 64, 400, 0) and
what is compared (bits 3-4):

0. ``lex_fetch_batch`` on the payload split at CRLF (the texts), with as many
   literals as there are ``\\x03`` bytes (bit 5 set: one fewer);
1. ``lex`` on the payload split at ``{}`` (text parts, a literal between each),
   partial when bit 5 is set; and the C token loop against the Python token loop;
2. and 3. the parser on the payload as a server stream, in the pieces of a
   pseudo-random split: every lexer call it makes is replayed through both
   implementations, every FETCH tree it converts goes through the C conversion
   (``fetch_items``: None, or the Python conversion's dict; None wherever the
   Python raises), and the parser's events (or error) with each are equal.

Oracles: equal results -- trees (by value and by repr: types), ``None``, the same
prefix of trees, the same error (class, rule, offset, message); only
:class:`ResponseParseError` may escape ``lex``.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from fuzz.targets import Finding
from pipeimap.errors import ResponseParseError
from pipeimap.protocol import _accel, _fetch_batch, _framing, _lexer, _parse_fetch, _parser
from pipeimap.protocol._limits import ParserLimits
from pipeimap.protocol._parser import ResponseParser

__all__ = ["check_c_vs_python", "seeds"]

_DEPTHS = (1, 2, 3, 6, 8, 64, 400, 0)


def _same(what: str, a: object, b: object, data: object) -> None:
    if a != b or repr(a) != repr(b):
        raise Finding(f"{what}: python {a!r:.300} != C {b!r:.300} for {data!r:.300}")


def _lex_outcome(fn: Callable[..., Any], parts: Sequence[Any], depth: int, partial: bool) -> object:
    offsets = [5 * i for i in range(len(parts) // 2 + 1)]
    try:
        return fn(parts, offsets, "msg-att", depth, partial=partial)
    except ResponseParseError as exc:
        return ("error", type(exc).__name__, exc.rule, exc.offset, str(exc))


def _no_fast(line: str, max_depth: int) -> None:
    return None


def _compare_lex(parts: Sequence[Any], depth: int, partial: bool) -> None:
    sp = _accel.speedups
    assert sp is not None
    _same(
        "lex",
        _lex_outcome(_lexer.lex, parts, depth, partial),
        _lex_outcome(_accel.c_lex, parts, depth, partial),
        parts,
    )
    saved = _lexer._lex_fast
    _lexer._lex_fast = _no_fast
    try:
        loop: object = _lexer.lex(parts, [0] * (len(parts) // 2 + 1), "x", depth, partial=partial)
    except ResponseParseError:
        loop = None
    finally:
        _lexer._lex_fast = saved
    _same("token loop", loop, sp.lex_tokens(parts, depth, partial), parts)


def _compare_batch(texts: Sequence[bytes], lits: Sequence[bytes], depth: int) -> None:
    sp = _accel.speedups
    assert sp is not None
    _same(
        "lex_fetch_batch",
        _fetch_batch.lex_fetch_batch(texts, lits, depth),
        sp.lex_fetch_batch(texts, lits, depth),
        (texts, lits, depth),
    )


_SLOTS = ((_parser, "lex"), (_parser, "lex_fetch_batch"), (_framing, "lex"))


@contextmanager
def _swap(lex: Any, batch: Any) -> Iterator[None]:
    """Make the parser (and framer) call ``lex`` and ``batch``."""
    saved = [getattr(m, name) for m, name in _SLOTS]
    for (m, name), fn in zip(_SLOTS, (lex, batch, lex), strict=True):
        setattr(m, name, fn)
    try:
        yield
    finally:
        for (m, name), fn in zip(_SLOTS, saved, strict=True):
            setattr(m, name, fn)


def _parse(data: bytes, pieces: list[bytes], depth: int) -> object:
    limits = ParserLimits(
        max_line_length=16_384,
        max_literal_in_memory=4096,
        stream_threshold=256,
        max_literal_size=100_000,
        max_nesting_depth=max(1, min(depth, 400)),
        max_response_size=65_536,
    )
    parser = ResponseParser(limits, expect_greeting=False)
    events: list[object] = []
    try:
        for piece in pieces:
            parser.feed(piece)
            while (ev := parser.next_event()) is not None:
                events.append((ev, parser.offset))
        parser.feed_eof()
        while (ev := parser.next_event()) is not None:
            events.append((ev, parser.offset))
    except ResponseParseError as exc:
        return events, (type(exc).__name__, exc.rule, exc.offset, str(exc))
    return events, None


def _compare_items(tree: Any) -> None:
    sp = _accel.speedups
    assert sp is not None
    try:
        ref: object = _parse_fetch.convert_msg_att(tree)._d
    except ValueError as exc:
        ref = ("error", type(exc).__name__, str(exc))
    got = sp.fetch_items(tree)
    if got is None:
        return  # the Python conversion runs: nothing the C decided
    _same("fetch_items", ref, got, tree)


@contextmanager
def _convert(fn: Any) -> Iterator[None]:
    saved = _parser.convert_msg_att
    _parser.convert_msg_att = fn
    try:
        yield
    finally:
        _parser.convert_msg_att = saved


def _compare_stream(data: bytes, depth: int) -> None:
    sp = _accel.speedups
    assert sp is not None
    rng = random.Random(zlib.crc32(data))
    cuts = sorted(rng.randrange(len(data) + 1) for _ in range(rng.randrange(4)))
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    lex_calls: list[tuple[Any, ...]] = []
    batch_calls: list[tuple[Any, ...]] = []

    def lex(parts: Any, offsets: Any, rule: str, max_depth: int, *, partial: bool = False) -> Any:
        lex_calls.append((list(parts), max_depth, partial))
        return _lexer.lex(parts, offsets, rule, max_depth, partial=partial)

    def batch(texts: Any, lits: Any, max_depth: int) -> Any:
        batch_calls.append((list(texts), list(lits), max_depth))
        return _fetch_batch.lex_fetch_batch(texts, lits, max_depth)

    trees: list[Any] = []

    def convert(tree: Any) -> Any:
        trees.append(tree)
        return _parse_fetch.convert_msg_att(tree)

    with _swap(lex, batch), _convert(convert):
        py = _parse(data, pieces, depth)
    for parts, d, partial in lex_calls:
        _compare_lex(parts, d, partial)
    for texts, lits, d in batch_calls:
        _compare_batch(texts, lits, d)
    for tree in trees:
        _compare_items(tree)
    with _swap(_accel.c_lex, sp.lex_fetch_batch), _convert(_accel.c_convert_msg_att):
        c = _parse(data, pieces, depth)
    _same("parser events", py, c, data)


def check_c_vs_python(data: bytes) -> None:
    if _accel.speedups is None:
        raise Finding("pipeimap.protocol._speedups is not built: nothing to compare")
    ctl, payload = (data[0], data[1:]) if data else (0, b"")
    depth = _DEPTHS[ctl & 7]
    mode = (ctl >> 3) & 3
    flag = bool(ctl & 0x20)
    if mode == 0:
        texts = payload.split(b"\r\n")
        n = payload.count(b"\x03")
        _compare_batch(texts, [b"L%d" % i for i in range(max(0, n - flag))], depth)
    elif mode == 1:
        parts: list[object] = []
        for i, seg in enumerate(payload.split(b"{}")):
            if i:
                parts.append(b"lit%d" % i)
            parts.append(seg.decode("utf-8", "surrogateescape"))
        _compare_lex(parts, depth, flag)
    else:
        _compare_stream(payload, depth)


def seeds() -> list[bytes]:
    """Server FETCH responses (the fetch-diff seeds) under each mode, and batch texts."""
    from fuzz.seeds import _bench_responses, _fetch_only, _server_blocks

    data = _fetch_only(_server_blocks()) + _bench_responses()
    out: list[bytes] = []
    for i, d in enumerate(data):
        texts = b"\r\n".join(
            line.partition(b" FETCH ")[2] or line for line in d.split(b"\r\n") if line
        )
        out.append(bytes((3 | (i & 0x20),)) + texts)  # batch, depth 6
        out.append(bytes((8 | 4 | (i & 0x20),)) + d.replace(b"\r\n", b"{}"))  # lex, depth 8
        out.append(bytes((16 | 4,)) + d)  # parser stream, depth 8
    return out
