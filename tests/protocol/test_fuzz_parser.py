"""Fuzz invariants: any bytes parse or raise ResponseParseError, promptly, in bounded memory;
the fast (JSON) and exact (token loop) lexer paths agree."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeimap.errors import ResponseParseError
from pipeimap.protocol._lexer import _lex_fast, lex
from pipeimap.protocol._limits import ParserLimits
from pipeimap.protocol._parser import ResponseParser
from tests.data.corpus import all_quirk_blocks, all_rfc_blocks

LIMITS = ParserLimits(
    max_line_length=4096,
    max_literal_in_memory=2048,
    stream_threshold=64,
    max_literal_size=100_000,
    max_nesting_depth=16,
    max_response_size=8192,
)
SAMPLES = [b.data for b in all_rfc_blocks() + all_quirk_blocks()]


def run(data: bytes, chunk: int) -> None:
    parser = ResponseParser(LIMITS, expect_greeting=False)
    try:
        for i in range(0, len(data), chunk):
            parser.feed(data[i : i + chunk])
            steps = 0
            while parser.next_event() is not None:
                steps += 1
                # bounded work: at most one event per fed byte (plus the trailing ones)
                assert steps <= len(data) + 2
            assert parser.buffered <= LIMITS.max_response_size + LIMITS.max_line_length + chunk
        parser.feed_eof()
        parser.next_event()
    except ResponseParseError:
        pass


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=400), st.integers(1, 50))
def test_random_bytes(data: bytes, chunk: int) -> None:
    run(data, chunk)


_ALPHABET = b'() "\\{}[]<>~+*0123456789\r\nNILFETCHUIDBODY.'


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.sampled_from(SAMPLES),
    st.lists(
        st.tuples(st.integers(0, 10_000), st.integers(0, 3), st.sampled_from(_ALPHABET)),
        min_size=1,
        max_size=6,
    ),
    st.integers(1, 64),
)
def test_mutated_valid_responses(
    sample: bytes, edits: list[tuple[int, int, int]], chunk: int
) -> None:
    data = bytearray(sample)
    for pos, kind, byte in edits:
        pos %= len(data) + 1
        if kind == 0:
            data.insert(pos, byte)
        elif kind == 1 and pos < len(data):
            del data[pos]
        elif pos < len(data):
            data[pos] = byte
    run(bytes(data), chunk)


_TOKENS = st.sampled_from(
    [
        "(",
        ")",
        " ",
        "  ",
        "NIL",
        "nil",
        '"a b"',
        '""',
        '"NIL"',
        "\\Seen",
        "UID",
        "12",
        '"x(y)"',
        '"q,]"',
        "ab",
        '"\u00e9"',
        '"\\\\"',
        '"\\""',
        "a,b",
        "[",
        "]",
        '"\\u0041"',
    ]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_TOKENS, max_size=30))
def test_fast_lexer_agrees_with_exact_lexer(tokens: list[str]) -> None:
    line = "".join(tokens)
    fast = _lex_fast(line, 64)
    if fast is None:
        return
    try:
        exact = _exact(line)
    except ResponseParseError:
        # the fast path may only be more tolerant about control characters
        raise AssertionError(f"fast path accepted {line!r}") from None
    assert fast == exact, line


def _exact(line: str) -> object:
    # force the token loop: partial=True skips the fast path; then check balance
    result = lex([line], [0], "x", 64, partial=True)
    lex([line], [0], "x", 64)  # raises on unbalanced input
    return result
