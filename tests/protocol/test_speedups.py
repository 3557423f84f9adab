"""The C accelerator (``_speedups.c``) against the pure-Python lexers it replaces.

Differential: the same inputs through ``_fetch_batch.lex_fetch_batch`` (Python) and
``_speedups.lex_fetch_batch`` (C) give equal results (trees, ``None``, the same
prefix); through ``_lexer.lex`` and ``_accel.c_lex`` the same tree or the same
error (class, rule, offset, message); and the C token loop gives the Python token
loop's tree exactly where that loop accepts its input.  Inputs: every call the
parser makes while parsing the corpora (tests/data, the benchmark corpus
generators), Hypothesis-generated responses and token soups, random byte mutations
of them, and hostile cases.  A leak check runs the C functions in a loop.

Skipped when the extension is not built, except :func:`test_built_in_ci`, which
fails in CI (``CI=true``) so that a broken build cannot go unnoticed.
"""

from __future__ import annotations

import gc
import os
import random
import sys
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pipeimap.protocol as protocol
from bench._corpus_gen import generate_bulk_corpus, generate_header_corpus
from pipeimap.errors import ResponseParseError
from pipeimap.protocol import _accel, _fetch_batch, _framing, _lexer, _parse_fetch, _parser
from pipeimap.protocol._limits import ParserLimits
from pipeimap.protocol._parser import ResponseParser
from pipeimap.protocol._response_writer import encode_response
from pipeimap.protocol._responses import StreamedLiteral
from tests.data.corpus import all_quirk_blocks, all_rfc_blocks
from tests.protocol import strategies as S
from tests.protocol.test_fetch_batch import _TREE, fetch_stream, serialized

sp = _accel.speedups
needs_c = pytest.mark.skipif(
    sp is None,
    reason="the C accelerator pipeimap.protocol._speedups is not built "
    "(no C compiler or Python headers when pipeimap was installed)",
)

_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
_DEPTHS = (1, 2, 3, 6, 64)


def test_built_in_ci() -> None:
    """In CI the extension must be built (and used unless PIPEIMAP_PURE_PYTHON is set)."""
    if os.environ.get("CI", "").lower() not in ("1", "true", "yes"):
        pytest.skip("not in CI (CI=true not set)")
    assert sp is not None, "pipeimap.protocol._speedups was not built in CI"
    pure = os.environ.get("PIPEIMAP_PURE_PYTHON", "") not in ("", "0")
    assert protocol.ACCELERATED is not pure


def test_accelerated_flag() -> None:
    pure = os.environ.get("PIPEIMAP_PURE_PYTHON", "") not in ("", "0")
    assert (sp is not None and not pure) == protocol.ACCELERATED
    batch = getattr(_parser, "lex_fetch_batch")  # noqa: B009 (not re-exported)
    if protocol.ACCELERATED:
        assert sp is not None
        assert batch is sp.lex_fetch_batch
    else:
        assert batch is _fetch_batch.lex_fetch_batch


# --- the comparisons ---------------------------------------------------------------


def _batch_equal(texts: Sequence[bytes], lits: Sequence[bytes], depth: int) -> None:
    assert sp is not None
    py = _fetch_batch.lex_fetch_batch(texts, lits, depth)
    c = sp.lex_fetch_batch(texts, lits, depth)
    # repr as well: equal values of different types (never expected) would show
    assert (py, repr(py)) == (c, repr(c)), (texts, lits, depth)


def _lex_outcome(fn: Callable[..., Any], parts: Sequence[Any], depth: int, partial: bool) -> object:
    offsets = [7 * i for i in range(len(parts) // 2 + 1)]
    try:
        tree = fn(parts, offsets, "msg-att", depth, partial=partial)
    except ResponseParseError as exc:
        return ("error", type(exc), exc.rule, exc.offset, str(exc))
    return (tree, repr(tree))


def _no_fast(line: str, max_depth: int) -> None:
    return None


def _py_token_loop(parts: Sequence[Any], depth: int, partial: bool) -> object:
    """The Python token loop alone (the JSON fast path switched off); None on error."""
    saved = _lexer._lex_fast
    _lexer._lex_fast = _no_fast
    try:
        return _lexer.lex(parts, [0] * (len(parts) // 2 + 1), "x", depth, partial=partial)
    except ResponseParseError:
        return None
    finally:
        _lexer._lex_fast = saved


def _lex_equal(parts: Sequence[Any], depth: int, partial: bool = False) -> None:
    assert sp is not None
    py = _lex_outcome(_lexer.lex, parts, depth, partial)
    c = _lex_outcome(_accel.c_lex, parts, depth, partial)
    assert py == c, (parts, depth, partial)
    loop = _py_token_loop(parts, depth, partial)
    c_loop = sp.lex_tokens(parts, depth, partial)
    assert (loop, repr(loop)) == (c_loop, repr(c_loop)), (parts, depth, partial)


# --- recording what the parser asks the lexers ---------------------------------------

Calls = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]


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


@contextmanager
def _recording() -> Iterator[Calls]:
    """Route the parser's lexer calls through the Python reference, recording them."""
    lex_calls: list[tuple[Any, ...]] = []
    batch_calls: list[tuple[Any, ...]] = []

    def lex(parts: Any, offsets: Any, rule: str, max_depth: int, *, partial: bool = False) -> Any:
        lex_calls.append((list(parts), max_depth, partial))
        return _lexer.lex(parts, offsets, rule, max_depth, partial=partial)

    def batch(texts: Any, lits: Any, max_depth: int) -> Any:
        batch_calls.append((list(texts), list(lits), max_depth))
        return _fetch_batch.lex_fetch_batch(texts, lits, max_depth)

    with _swap(lex, batch):
        yield lex_calls, batch_calls


@contextmanager
def _implementation(c: bool) -> Iterator[None]:
    """The parser with every C function (lexers and the FETCH item conversion,
    see test_speedups_items.py) or with none."""
    saved = _parser.convert_msg_att
    if c:
        assert sp is not None
        _parser.convert_msg_att = _accel.c_convert_msg_att
        try:
            with _swap(_accel.c_lex, sp.lex_fetch_batch):
                yield
        finally:
            _parser.convert_msg_att = saved
    else:
        _parser.convert_msg_att = _parse_fetch.convert_msg_att
        try:
            with _swap(_lexer.lex, _fetch_batch.lex_fetch_batch):
                yield
        finally:
            _parser.convert_msg_att = saved


_LIMITS = ParserLimits(
    max_line_length=100_000,
    max_literal_in_memory=20_000,
    stream_threshold=4096,
    max_literal_size=1_000_000,
    max_nesting_depth=8,
    max_response_size=1_000_000,
)


def _parse(data: bytes, chunk: int, limits: ParserLimits) -> object:
    parser = ResponseParser(limits, expect_greeting=False)
    events: list[object] = []
    try:
        for i in range(0, len(data), chunk):
            parser.feed(data[i : i + chunk])
            while (ev := parser.next_event()) is not None:
                events.append((ev, parser.offset))
        parser.feed_eof()
        while (ev := parser.next_event()) is not None:
            events.append((ev, parser.offset))
    except ResponseParseError as exc:
        return events, (type(exc), exc.rule, exc.offset, str(exc))
    return events, None


def _check_stream(data: bytes, chunks: Sequence[int] = (100_000, 7)) -> int:
    """Both implementations on every lexer call the parser makes for ``data``, and
    the parser's events with each; returns the number of calls compared."""
    limits_list = [_LIMITS, ParserLimits()]
    n = 0
    for limits in limits_list:
        for chunk in chunks:
            with _recording() as (lex_calls, batch_calls):
                _parse(data, chunk, limits)
            for parts, depth, partial in lex_calls:
                _lex_equal(parts, depth, partial)
            for texts, lits, depth in batch_calls:
                _batch_equal(texts, lits, depth)
            n += len(lex_calls) + len(batch_calls)
            with _implementation(c=False):
                py = _parse(data, chunk, limits)
            with _implementation(c=True):
                c = _parse(data, chunk, limits)
            assert py == c, data[:200]
    return n


# --- corpora -------------------------------------------------------------------------


@needs_c
def test_rfc_and_quirk_corpora() -> None:
    blocks = all_rfc_blocks() + all_quirk_blocks()
    assert len(blocks) > 50
    calls = sum(_check_stream(b.data) for b in blocks)
    assert calls > len(blocks)


@needs_c
def test_bench_corpora() -> None:
    header = generate_header_corpus(60_000, seed=3).wire
    bulk = generate_bulk_corpus(60_000, seed=4).wire
    assert _check_stream(header, chunks=(100_000, 4096)) > 10
    assert _check_stream(bulk, chunks=(100_000, 4096)) > 10
    # the header corpus is what the batch path exists for: it must answer there
    with _recording() as (_, batch_calls):
        _parse(header, 100_000, ParserLimits())
    answered = [_fetch_batch.lex_fetch_batch(texts, lits, d) for texts, lits, d in batch_calls]
    assert any(a for a in answered)


@needs_c
def test_fuzz_regression_inputs() -> None:
    from tests.data.corpus import DATA_DIR

    files = sorted((DATA_DIR / "fuzz_regressions").rglob("*.bin"))
    for path in files:
        data = path.read_bytes()
        _check_stream(data[1:], chunks=(100_000, 3))


# --- generated responses --------------------------------------------------------------


def _mutate(data: bytes, rnd: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        op = rnd.randrange(4)
        pos = rnd.randrange(len(b) + 1)
        special = rnd.choice(
            [b"(", b")", b'"', b"\\", b" ", b"  ", b"\x03", b"\x00", b"\n", b"\r\n", b"{3}\r\n",
             b"[", b"]", b"NIL", b"\\n", b"\\\\", b'\\"', b"\x01", b"\xe9", b"\x7f", b"\t"]
        )  # fmt: skip
        if op == 0 and b:
            del b[pos : pos + rnd.randint(1, 3)]
        elif op == 1:
            b[pos:pos] = special
        elif op == 2 and pos < len(b):
            b[pos] = rnd.randrange(256)
        else:
            b[pos:pos] = bytes([rnd.randrange(256)])
    return bytes(b)


@needs_c
@_SETTINGS
@given(st.lists(S.any_response, min_size=1, max_size=4), st.randoms(use_true_random=False))
def test_generated_responses(events: list[Any], rnd: random.Random) -> None:
    data = b"".join(encode_response(e) for e in events)
    _check_stream(data, chunks=(100_000,))
    _check_stream(_mutate(data, rnd), chunks=(100_000,))


@needs_c
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(S.fetch_responses(), min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_generated_fetch_responses(events: list[Any], rnd: random.Random) -> None:
    data = b"".join(encode_response(e) for e in events)
    _check_stream(data, chunks=(100_000,))
    _check_stream(_mutate(data, rnd), chunks=(100_000,))


@needs_c
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fetch_stream(), st.randoms(use_true_random=False))
def test_fetch_streams(data: bytes, rnd: random.Random) -> None:
    _check_stream(data, chunks=(100_000, 5))
    _check_stream(_mutate(data, rnd), chunks=(100_000,))


# --- direct: token soups through both implementations ------------------------------

_SOUP = st.sampled_from(
    [
        "(", "(", ")", ")", " ", " ", "  ", "NIL", "nil", "Nil", "NiL", '"a b"', '""', '"NIL"',
        "\\Seen", "UID", "12", "ab", "a,b", "x]", "BODY[HEADER (A)]<0>", "BODY[", "]", "[x]",
        "{", "}", '"\\""', '"\\\\"', '"\\q"', '"\\/"', '"\\n"', '"\\u0041"', "\\b", "\\f",
        '"', "\\", "\\\\", '\\"', "\x00", "\x01", "\x02", "\x03", '"\x03"', '"\\"\x03"',
        "\t", "\r", "\n", "\x7f", "\u00e9", "\udce9", '"\u00e9\udcff"', "\u4e2d", "NaN", "null",
    ]
)  # fmt: skip


def _soup_text(tokens: list[str]) -> bytes:
    return "".join(tokens).encode("utf-8", "surrogateescape")


_GOOD = st.sampled_from([b"(UID 1)", b'(A "\x03" B)', b'(X (Y "z") NIL)', b'(F (\\S) "\\"")'])


@needs_c
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(_GOOD, max_size=2),
    st.lists(st.lists(_SOUP, max_size=20), min_size=0, max_size=4),
    st.integers(0, 4),
    st.sampled_from(_DEPTHS),
    st.booleans(),
)
def test_batch_soup(
    good: list[bytes], lines: list[list[str]], nlits: int, depth: int, wrap: bool
) -> None:
    texts = good + [_soup_text(["(", *t, ")"] if wrap else t) for t in lines]
    markers = b"".join(texts).count(b"\x03")
    lits = [b"L%d" % i for i in range(markers if nlits == 0 else nlits)]
    _batch_equal(texts, lits, depth)


@needs_c
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(_TREE, max_size=5), min_size=1, max_size=5), st.data())
def test_batch_trees(items: list[list[object]], data: st.DataObject) -> None:
    texts = []
    lits: list[bytes] = []
    for tree in items:
        line = data.draw(serialized(tree)).encode("utf-8", "surrogateescape")
        if data.draw(st.integers(0, 3)) == 0:  # one stray token somewhere
            at = data.draw(st.integers(0, len(line)))
            line = line[:at] + _soup_text([data.draw(_SOUP)]) + line[at:]
        # literals as the framer leaves them: replaced by the marker "\x03"
        while b"}\r\n" in line:
            head, _, rest = line.partition(b"}\r\n")
            brace = head.rfind(b"{")
            if brace < 0 or not head[brace + 1 :].isdigit():
                break
            size = int(head[brace + 1 :])
            lits.append(rest[:size])
            line = head[:brace] + b'"\x03"' + rest[size:]
        texts.append(line)
    for depth in (2, 6):
        _batch_equal(texts, lits, depth)


@needs_c
@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.lists(_SOUP, max_size=20), min_size=1, max_size=3),
    st.sampled_from(_DEPTHS),
    st.booleans(),
    st.sampled_from([b"lit", b"", StreamedLiteral(5)]),
)
def test_lex_soup(segments: list[list[str]], depth: int, partial: bool, lit: object) -> None:
    parts: list[object] = []
    for i, seg in enumerate(segments):
        if i:
            parts.append(lit)
        parts.append("".join(seg))
    _lex_equal(parts, depth, partial)


# --- hostile inputs -------------------------------------------------------------------


def _hostile() -> list[bytes]:
    out = [
        b"(" * 400 + b")" * 400,
        b"(" * 8 + b")" * 8,
        b"(" * 9 + b")" * 9,
        b"(" * 65 + b")" * 65,
        b"(" * 64 + b")" * 64,
        b"(" * 100_000,
        b")" * 1000,
        b"()" * 5000,
        b"(" + b"()" * 5000 + b")",
        b")(" * 3000,
        b"((" * 300 + b")" * 200,
        b'("unterminated',
        b'("a\\',
        b'("a" "b"',
        b"(a \x00 b)",
        b"(" + bytes(range(1, 32)) + b")",
        b"(" + b"x" * 200_000 + b")",
        b'("' + b"y" * 200_000 + b'")',
        b'("' + b"\\\\" * 10000 + b'")',
        b"(" + bytes(range(128, 256)) + b")",
        b'("' + bytes(range(128, 256)) + b'")',
        b"(BODY[" + b"z" * 10000,
        b"(" + b"a " * 10000 + b")",
        b"",
        b"(",
        b")",
        b'"',
        b"\\",
    ]
    return out


@needs_c
def test_hostile_inputs() -> None:
    for text in _hostile():
        for depth in (1, 2, 8, 400):
            _batch_equal([text], [], depth)
            _batch_equal([b"(UID 1)", text, b"(UID 2)"], [], depth)
            _lex_equal([text.decode("utf-8", "surrogateescape")], depth)
            _lex_equal([text.decode("utf-8", "surrogateescape")], depth, partial=True)


@needs_c
def test_depth_limit_exact() -> None:
    assert sp is not None
    for depth in (1, 2, 3, 8, 64):
        at = "(" * depth + ")" * depth
        over = "(" * (depth + 1) + ")" * (depth + 1)
        assert sp.lex_tokens([at], depth, False) is not None
        assert sp.lex_tokens([over], depth, False) is None
        with pytest.raises(ResponseParseError) as info:
            _accel.c_lex([over], [0], "msg-att", depth)
        assert info.value.rule == "max_nesting_depth" or "nesting" in str(info.value)
        _batch_equal([at.encode()], [], depth)
        _batch_equal([over.encode()], [], depth)


@needs_c
def test_bad_arguments() -> None:
    assert sp is not None
    with pytest.raises(TypeError):
        sp.lex_fetch_batch([b"(A)", "(B)"], [], 8)
    with pytest.raises(TypeError):
        sp.lex_fetch_batch(5, [], 8)
    with pytest.raises(TypeError):
        _accel.c_lex([b"(A)"], [0], "x", 8)
    assert sp.lex_fetch_batch([], [], 8) is None
    assert _fetch_batch.lex_fetch_batch([], [], 8) is None


# --- memory: no leaks -----------------------------------------------------------------


@needs_c
def test_no_leaks() -> None:
    assert sp is not None
    lit = b"literal-bytes-object"
    texts = [
        b'(UID 1 FLAGS (\\Seen) ENVELOPE ("d" "s\\"q" (("n" NIL "m" "h")) NIL) BODY[] "\x03")',
        b"(UID 2 X (((a))) nil)",
        b'(UID 3 Y "\\q")',
    ]
    parts: list[object] = ['(A "b\\"c" NIL BODY[X (Y)]<0> ', lit, " (d))"]
    bad: list[object] = ["(A \x01)"]

    def run(n: int) -> None:
        assert sp is not None
        for _ in range(n):
            sp.lex_fetch_batch(texts, [lit], 8)
            sp.lex_fetch_batch(texts[:1], [lit], 8)
            sp.lex_fetch_batch([b"(" * 50], [], 8)
            sp.lex_tokens(parts, 8, False)
            sp.lex_tokens(bad, 8, False)
            sp.lex_tokens(["(" * 20], 8, True)

    run(200)
    gc.collect()
    refs = sys.getrefcount(lit)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        run(3000)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert sys.getrefcount(lit) == refs
    assert after - before < 64 * 1024, after - before
