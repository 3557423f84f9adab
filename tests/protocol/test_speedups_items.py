"""The C conversion of FETCH items (``_speedups.fetch_items``) against the Python one.

``_speedups.fetch_items(tree)`` returns either ``None`` (the Python conversion
runs) or exactly the dict that :func:`pipeimap.protocol._parse_fetch.convert_msg_att`
builds: the same keys in the same order, equal values of the same types all the
way down (``repr`` is compared too, so a ``str`` where ``bytes`` belongs, a tuple
where a NamedTuple belongs, or an ``int`` where a ``UID`` belongs would show).
Wherever the Python conversion raises, the C one must answer ``None`` (then the
Python raises the exact error), never a value.  ``_accel.c_convert_msg_att``, the
function the parser calls, must give the Python result or raise the same error.

Inputs: every tree the parser converts while parsing the corpora (RFC examples,
server quirks, the benchmark generators with several seeds, fuzz regressions),
Hypothesis-generated FETCH responses, random trees, and targeted mutations of
typical ENVELOPE and BODYSTRUCTURE values (NIL, literals, lists and odd strings in
every position).  A leak check runs the C function in a loop.
"""

from __future__ import annotations

import gc
import random
import sys
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench._corpus_gen import generate_bulk_corpus, generate_header_corpus
from pipeimap.errors import ResponseParseError
from pipeimap.protocol import _accel, _parse_fetch, _parser
from pipeimap.protocol._lexer import Value
from pipeimap.protocol._limits import ParserLimits
from pipeimap.protocol._parser import ResponseParser
from pipeimap.protocol._response_writer import encode_response
from pipeimap.protocol._responses import StreamedLiteral
from tests.data.corpus import DATA_DIR, all_quirk_blocks, all_rfc_blocks
from tests.protocol import strategies as S
from tests.protocol.test_fetch_batch import _TREE

sp = _accel.speedups
needs_c = pytest.mark.skipif(sp is None, reason="the C accelerator is not built")
pytestmark = needs_c

_py = _parse_fetch.convert_msg_att


def _deep(v: object) -> object:
    """A structure of (type name, value) pairs: equal only if types match too."""
    if isinstance(v, (tuple, list)):
        return (type(v).__name__, tuple(_deep(x) for x in v))
    if isinstance(v, dict):
        return ("dict", tuple((k, _deep(x)) for k, x in v.items()))
    return (type(v).__name__, v)


def _items_equal(tree: list[Value]) -> bool:
    """Compare C and Python on one tree; True if the C conversion answered."""
    assert sp is not None
    error: ValueError | None = None
    try:
        ref: Any = _py(tree)
    except ValueError as exc:  # GrammarError and friends: C must fall back
        error = exc
    if error is not None:
        assert sp.fetch_items(tree) is None, tree
        with pytest.raises(type(error)) as info:
            _accel.c_convert_msg_att(tree)
        assert str(info.value) == str(error)
        return False
    got = sp.fetch_items(tree)
    via = _accel.c_convert_msg_att(tree)
    assert _deep(dict(via)) == _deep(dict(ref)), tree
    if got is None:
        return False
    assert _deep(got) == _deep(ref._d), tree
    assert repr(got) == repr(ref._d), tree
    return True


@contextmanager
def _recorded_trees() -> Iterator[list[list[Value]]]:
    """Every tree the parser converts (through the Python conversion) meanwhile."""
    trees: list[list[Value]] = []

    def convert(tree: list[Value]) -> Any:
        trees.append(tree)
        return _py(tree)

    saved = _parser.convert_msg_att
    _parser.convert_msg_att = convert
    try:
        yield trees
    finally:
        _parser.convert_msg_att = saved


def _parse(data: bytes, chunk: int = 100_000, limits: ParserLimits | None = None) -> None:
    parser = ResponseParser(limits or ParserLimits(), expect_greeting=False)
    try:
        for i in range(0, len(data), chunk):
            parser.feed(data[i : i + chunk])
            while parser.next_event() is not None:
                pass
        parser.feed_eof()
        while parser.next_event() is not None:
            pass
    except ResponseParseError:
        pass  # the trees before it were recorded


def _check(data: bytes) -> tuple[int, int]:
    """(trees compared, trees the C conversion answered) for a response stream."""
    with _recorded_trees() as trees:
        _parse(data)
    answered = sum(_items_equal(t) for t in trees)
    return len(trees), answered


# --- corpora -------------------------------------------------------------------------


def test_rfc_and_quirk_corpora() -> None:
    total = answered = 0
    for block in all_rfc_blocks() + all_quirk_blocks():
        n, a = _check(block.data)
        total += n
        answered += a
    assert total > 50
    assert answered > total // 3  # most of them are ordinary


@pytest.mark.parametrize("seed", [1, 2, 11, 12])
def test_header_corpus(seed: int) -> None:
    n, answered = _check(generate_header_corpus(400_000, seed=seed).wire)
    assert n > 300
    # the header-only corpus (literal names, RFC 2047, attachments, nested
    # message/rfc822) is what the C conversion exists for: all of it
    assert answered == n


def test_bulk_corpus() -> None:
    n, answered = _check(generate_bulk_corpus(3_000_000, seed=4).wire)
    assert n >= 3
    assert answered > 0


def test_fuzz_regression_inputs() -> None:
    for path in sorted((DATA_DIR / "fuzz_regressions").rglob("*.bin")):
        _check(path.read_bytes()[1:])


# --- generated -------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(S.fetch_responses(), min_size=1, max_size=5))
def test_generated_fetch_responses(events: list[Any]) -> None:
    _check(b"".join(encode_response(e) for e in events))


_NAMES = st.sampled_from(
    ["UID", "uid", "FLAGS", "flags", "RFC822.SIZE", "ENVELOPE", "envelope", "BODYSTRUCTURE",
     "bodystructure", "BODY", "body", "INTERNALDATE", "MODSEQ", "EMAILID", "THREADID",
     "BODY[]", "BODY[HEADER]", "RFC822", "X-GM-LABELS", "Uid", "BODY[1]<0>", "BINARY.SIZE[1]"]
)  # fmt: skip
_LEAVES = st.one_of(
    st.none(),
    st.sampled_from(["", "0", "1", "42", "4294967295", "4294967296", "-1", "1.5e3", "\u0661",
                     "TEXT", "text", "Message", "RFC822", "rfc822", "global", "MIXED",
                     "\u017fext", "me\u017f\u017fage", "\\Seen", "$Junk", "\udcff", "a b"]),
    st.binary(max_size=6),
    st.builds(StreamedLiteral, st.integers(0, 9)),
)  # fmt: skip
_VALUES = st.recursive(_LEAVES, lambda kids: st.lists(kids, max_size=12), max_leaves=40)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_NAMES, _VALUES), max_size=4), st.booleans())
def test_random_items(pairs: list[tuple[str, Any]], odd: bool) -> None:
    tree: list[Value] = [x for pair in pairs for x in pair]
    if odd:
        tree.append("UID")
    _items_equal(tree)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_TREE, max_size=8))
def test_lexer_shaped_trees(tree: list[Any]) -> None:
    _items_equal(tree)


# --- targeted mutations of typical values ------------------------------------------------

_ADDR = ["Ann", None, "ann", "example.com"]
_ENVELOPE: list[Value] = [
    "Mon, 1 Jan 2024 10:00:00 +0000", "Hello", [list(_ADDR)], [list(_ADDR)], [list(_ADDR)],
    [["Bob", None, "bob", "example.org"], [None, None, "grp", None], [None, None, None, None]],
    None, None, "<a@b>", "<c@d>",
]  # fmt: skip
_TEXT_PART: list[Value] = [
    "text", "plain", ["charset", "utf-8", "format", "flowed"], None, None, "7bit", "120", "4",
    None, ["inline", ["x", "y"]], ["en", "de"], "loc", "ext1", ["ext", ["2"]],
]  # fmt: skip
_ATTACHMENT: list[Value] = [
    "application", "pdf", ["name", "a.pdf"], "<id>", "desc", "base64", "5000", "md5",
    ["attachment", ["filename", "a.pdf"]], "en", None,
]  # fmt: skip
_MESSAGE: list[Value] = [
    "message", "rfc822", None, None, None, "7bit", "300", list(_ENVELOPE), list(_TEXT_PART), "9",
]  # fmt: skip
_MULTIPART: list[Value] = [
    list(_TEXT_PART), list(_ATTACHMENT), list(_MESSAGE), "mixed", ["boundary", "xyz"],
    ["inline", None], "en", "somewhere", "e1",
]  # fmt: skip
_REPLACEMENTS: list[Value] = [
    None, "", "x", "TEXT", "message", "RFC822", "\u017f", "12", "-1", b"lit", b"\xff\xfe",
    [], ["a"], ["a", "b", "c"], [None, None], [[]], StreamedLiteral(3),
]  # fmt: skip


def _paths(v: Value, prefix: tuple[int, ...] = ()) -> Iterator[tuple[int, ...]]:
    yield prefix
    if isinstance(v, list):
        for i, x in enumerate(v):
            yield from _paths(x, (*prefix, i))


def _replaced(v: Value, path: tuple[int, ...], new: Value) -> Value:
    if not path:
        return new
    assert isinstance(v, list)
    out = list(v)
    out[path[0]] = _replaced(v[path[0]], path[1:], new)
    return out


def _truncated(v: Value, path: tuple[int, ...], keep: int) -> Value:
    if not path:
        return v[:keep] if isinstance(v, list) else v
    assert isinstance(v, list)
    out = list(v)
    out[path[0]] = _truncated(v[path[0]], path[1:], keep)
    return out


@pytest.mark.parametrize(
    ("name", "value"),
    [("ENVELOPE", _ENVELOPE), ("BODYSTRUCTURE", _MULTIPART), ("BODY", _MESSAGE),
     ("BODYSTRUCTURE", _TEXT_PART), ("bodystructure", _ATTACHMENT)],
)  # fmt: skip
def test_every_position_mutated(name: str, value: list[Value]) -> None:
    assert _items_equal(["UID", "7", name, value])  # the unmutated value converts in C
    compared = 0
    for path in _paths(value):
        for new in _REPLACEMENTS:
            _items_equal(["UID", "7", name, _replaced(value, path, new)])
            compared += 1
        for keep in range(0, 12):
            _items_equal([name, _truncated(value, path, keep)])
    assert compared > 100


def test_random_mutation_walk() -> None:
    rnd = random.Random(20261126)
    bases: list[tuple[str, Value]] = [
        ("ENVELOPE", _ENVELOPE), ("BODYSTRUCTURE", _MULTIPART), ("BODY", _MESSAGE),
    ]  # fmt: skip
    for _ in range(3000):
        name, value = rnd.choice(bases)
        for _ in range(rnd.randint(1, 4)):
            path = rnd.choice(list(_paths(value)))
            value = _replaced(value, path, rnd.choice(_REPLACEMENTS))
        _items_equal(["FLAGS", ["\\Seen"], name, value])


def test_sharing_and_types() -> None:
    """Sender and Reply-To equal to From share From's tuple, as in Python."""
    assert sp is not None
    d = sp.fetch_items(["ENVELOPE", _ENVELOPE, "UID", "9", "RFC822.SIZE", "00123"])
    assert d is not None
    env = d["ENVELOPE"]
    assert env.sender is env.from_
    assert env.reply_to is env.from_
    assert type(d["UID"]).__name__ == "UID"
    assert d["UID"] == 9
    assert d["RFC822.SIZE"] == 123
    assert list(d) == ["ENVELOPE", "UID", "RFC822.SIZE"]


def test_falls_back_where_python_decides() -> None:
    assert sp is not None
    cases: list[list[Value]] = [
        ["UID", "0"],  # out of range: Python raises
        ["UID", "4294967296"],
        ["RFC822.SIZE", "x"],
        ["Envelope", _ENVELOPE],  # a name to normalize
        ["BODY[HEADER.FIELDS (from)]", b"x"],  # not seen before
        ["UID"],  # no value
        [["UID"], "1"],  # not a name
        ["BODYSTRUCTURE", ["text", "plain"]],  # short part (tolerated by Python)
        ["FLAGS", ["\\Seen", ["x"]]],
    ]
    for tree in cases:
        assert sp.fetch_items(tree) is None, tree
        _items_equal(tree)


def test_deep_nesting_is_bounded() -> None:
    """The lexer bounds nesting (max_nesting_depth); beyond its own guard (256
    levels) the C conversion leaves the tree to the Python one."""
    assert sp is not None

    def nested(levels: int) -> tuple[Value, Value]:
        body: Value = list(_TEXT_PART)
        ext: Value = "x"
        for _ in range(levels):
            body = [body, "mixed"]
            ext = [ext]
        return body, ext

    body, ext = nested(100)
    assert _items_equal(["BODYSTRUCTURE", body])
    assert _items_equal(["BODYSTRUCTURE", [*_TEXT_PART, ext]])
    body, ext = nested(300)
    assert sp.fetch_items(["BODYSTRUCTURE", body]) is None
    assert sp.fetch_items(["BODYSTRUCTURE", [*_TEXT_PART, ext]]) is None
    assert _accel.c_convert_msg_att(["BODYSTRUCTURE", body]).bodystructure is not None


def test_parser_uses_it() -> None:
    if _accel.ACCELERATED:
        assert _parser.convert_msg_att is _accel.c_convert_msg_att
    else:
        assert _parser.convert_msg_att is _parse_fetch.convert_msg_att


def test_no_leaks() -> None:
    assert sp is not None
    lit = b"Jos\xc3\xa9 literal"
    env = _replaced(_ENVELOPE, (1,), lit)
    trees: list[list[Value]] = [
        ["UID", "5", "FLAGS", ["\\Seen"], "ENVELOPE", env, "BODYSTRUCTURE", _MULTIPART],
        ["BODY", _MESSAGE, "RFC822.SIZE", "77", "INTERNALDATE", "01-Jan-2024 10:00:00 +0000"],
        ["ENVELOPE", _replaced(_ENVELOPE, (2, 0), [lit, None, "x"])],  # falls back midway
        ["BODYSTRUCTURE", _replaced(_MULTIPART, (2, 8, 0), [])],  # falls back deep inside
        ["UID", "0"],
    ]

    def run(n: int) -> None:
        assert sp is not None
        for _ in range(n):
            for t in trees:
                sp.fetch_items(t)

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
