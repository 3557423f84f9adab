"""The batched FETCH fast path (``_fetch_batch``) agrees with the exact path.

Differential: the same bytes through a parser with the fast path and through one
without it give the same events and the same error (type, rule, offset); and
wherever ``lex_fetch_batch`` answers, its trees equal :func:`lex`'s.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeimap.errors import ResponseParseError
from pipeimap.protocol._fetch_batch import lex_fetch_batch
from pipeimap.protocol._lexer import lex
from pipeimap.protocol._limits import ParserLimits
from pipeimap.protocol._parser import ResponseParser

LIMITS = ParserLimits(
    max_line_length=4096,
    max_literal_in_memory=2048,
    stream_threshold=64,
    max_literal_size=100_000,
    max_nesting_depth=6,
    max_response_size=8192,
)


class ExactParser(ResponseParser):
    """The parser with the fast path switched off."""

    def _fetch_ahead(self) -> bool:
        return False


def outcome(
    parser_cls: type[ResponseParser], data: bytes, chunk: int
) -> tuple[list[object], object]:
    parser = parser_cls(LIMITS, expect_greeting=False)
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


def check_same(data: bytes, chunk: int) -> None:
    assert outcome(ResponseParser, data, chunk) == outcome(ExactParser, data, chunk), data


# --- structured FETCH lines: mostly what the fast path takes, with perturbations ---

_ATOMS = st.sampled_from(
    [
        "UID",
        "FLAGS",
        "12",
        "007",
        "\\Seen",
        "$Label",
        "NIL",
        "nil",
        "Nil",
        "a,b",
        "x]",
        "-1",
        "1e5",
        "BODY[]",
        "NaN",
        "null",
        "\\flagged",
        "\u00e9t\u00e9",
        "a\\b",
        "\x7f",
        "a\tb",
    ]
)
_STRINGS = st.sampled_from(
    [
        '""',
        '"a b"',
        '"NIL"',
        '"x(y)"',
        '"q,]"',
        '"\u00e9"',
        '"\\\\"',
        '"\\""',
        '"a\\"b\\\\c"',
        '"\\u0041"',
        '"\\n"',
        '"\\q"',
        '"\\/"',
        '"\x01"',
        '"\x03"',
        '"\\\\\\""',
        '"[x]"',
        '"{5}"',
        '"\r"',
        '"}"',
    ]
)


def _literal() -> st.SearchStrategy[str]:
    return st.sampled_from(["", "abc", 'a"b', "x\r\ny", "(", "\x00", "\u00e9"]).map(
        lambda s: f"{{{len(s.encode())}}}\r\n{s}"
    )


_LEAF = st.one_of(_ATOMS, _STRINGS, _literal())
_TREE = st.recursive(_LEAF, lambda kids: st.lists(kids, max_size=5), max_leaves=25)
_SEP = st.sampled_from([" ", " ", " ", " ", "", "  "])


@st.composite
def serialized(draw: st.DrawFn, tree: object) -> str:
    if isinstance(tree, list):
        out = []
        for i, kid in enumerate(tree):
            if i:
                out.append(draw(_SEP))
            out.append(draw(serialized(kid)))
        return "(" + "".join(out) + ")"
    assert isinstance(tree, str)
    return tree


@st.composite
def fetch_stream(draw: st.DrawFn) -> bytes:
    lines = []
    for seq in range(1, draw(st.integers(1, 6)) + 1):
        items = draw(st.lists(_TREE, max_size=6))
        text = draw(serialized(items))
        tail = draw(st.sampled_from(["", "", "", " ", ")", " UID 5", "("]))
        head = draw(
            st.sampled_from([f"* {seq} FETCH ", f"* {seq} FETCH ", "* 0 FETCH ", f"* {seq} fetch "])
        )
        lines.append(f"{head}{text}{tail}\r\n")
        if draw(st.integers(0, 9)) == 0:
            lines.append(draw(st.sampled_from(["A1 OK done\r\n", "* 3 EXISTS\r\n", "+ go\r\n"])))
    return "".join(lines).encode("utf-8")


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(fetch_stream(), st.sampled_from([1, 7, 64, 100_000]))
def test_fast_path_and_exact_path_agree(data: bytes, chunk: int) -> None:
    check_same(data, chunk)


_TOKENS = st.sampled_from(
    [
        "(",
        ")",
        " ",
        "  ",
        "NIL",
        '"a b"',
        '""',
        "\\Seen",
        "UID",
        "12",
        '"x(y)"',
        "ab",
        '"\\""',
        '"\\\\"',
        "[",
        "]",
        "{",
        "{3}\r\nabc",
        "\x00",
        "\x03",
        "\t",
        "~{1}\r\nx",
        "\n",
    ]
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.lists(_TOKENS, max_size=25), min_size=1, max_size=4), st.integers(1, 40))
def test_token_soup_agrees(lines: list[list[str]], chunk: int) -> None:
    data = "".join(f"* {i + 1} FETCH (" + "".join(t) + ")\r\n" for i, t in enumerate(lines))
    check_same(data.encode("utf-8", "surrogateescape"), chunk)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.lists(_TREE, max_size=5), min_size=1, max_size=4), st.data())
def test_batch_trees_equal_lex(items: list[list[object]], data: st.DataObject) -> None:
    texts: list[bytes] = []
    literals: list[bytes] = []
    exact: list[object] = []
    for tree in items:
        line = data.draw(serialized(tree))
        # split off literals the way the framer does
        parts: list[str | bytes] = []
        rest = line
        pieces: list[bytes] = []
        while "{" in rest and "}\r\n" in rest:
            head, _, after = rest.partition("}\r\n")
            brace = head.rfind("{")
            size_text = head[brace + 1 :]
            if not size_text.isdigit():
                break
            size = int(size_text)
            raw = after.encode()
            lit, rest = raw[:size], raw[size:].decode("utf-8", "surrogateescape")
            parts += [head[:brace], lit]
            pieces.append(head[:brace].encode())
            literals.append(lit)
        parts.append(rest)
        pieces.append(rest.encode("utf-8", "surrogateescape"))
        texts.append(b'"\x03"'.join(pieces))
        try:
            exact.append(lex(parts, [0] * len(parts), "x", 6)[0] if parts else None)
        except ResponseParseError:
            exact.append("error")
    fast = lex_fetch_batch(texts, literals, 6)
    if fast is None:
        return
    assert fast == exact[: len(fast)]
