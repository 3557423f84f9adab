"""Review: Hypothesis injection attempts through EVERY argument of EVERY command.

For hostile text in each argument (CR, LF, NUL, quotes, backslashes, braces,
brackets, parentheses, literal headers, ``NIL``, ``INBOX`` look-alikes, non-ASCII,
lone surrogates ...), the outcome must be one of:

* :class:`InvalidArgumentError` from the command constructor or the serializer
  (never another exception type), or
* bytes that the strict server-side reader turns into exactly ONE command whose
  arguments rebuild the very same command object, with CR/LF/NUL only inside
  literals and balanced parentheses outside quoted strings and literals.

Regression tests for bugs found in review sit at the end.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
from collections.abc import Callable
from typing import cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeimap.errors import InvalidArgumentError
from pipeimap.protocol import Flag, ModSeq, Secret
from pipeimap.protocol import _commands as c
from pipeimap.protocol import _search as S
from pipeimap.protocol._command_parser import Atom as RAtom
from pipeimap.protocol._command_parser import (
    CommandReader,
    ContinuationNeeded,
    ParsedCommand,
    decode_mailbox,
    to_command,
)
from pipeimap.protocol._search import SearchKey
from pipeimap.protocol._seqset import LAST_SEARCH_SEQ, LAST_SEARCH_UID, STAR, SeqSet, UIDSet
from pipeimap.protocol._serializer import (
    EncodeOptions,
    LiteralMode,
    serialize,
    serialize_sasl_response,
)
from tests.protocol.test_injection import _scan

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# --- strategies ----------------------------------------------------------------------

_SPECIALS = '\r\n\x00"\\(){}[]<>%*~+ \t\x7f\x85\u2028&-.,:$NILnil0123456789INBOXinbox\u0131\u017f'
_ATTACK_PIECES = [
    "\r\n",
    "\r\nA2 LOGOUT\r\n",
    "\n",
    "\r",
    '"',
    '\\"',
    "\\",
    "{5}\r\n",
    "{5+}\r\n",
    "~{3}\r\n",
    "{0}\r\n",
    "{4294967296}",
    ")",
    "(",
    "]",
    "[",
    "BODY[",
    "NIL",
    "nil",
    "INBOX",
    "inbox",
    "\u0131nbox",  # dotless i: upper() is "INBOX"
    "&",
    "&-",
    "&AGE-",
    "&Jjo",
    "\U0001f600",
    "\udc80",  # lone surrogate
    "\x00",
    "é",
    " ",
    "%",
    "*",
    "",
]

hostile_text = st.one_of(
    st.text(alphabet=_SPECIALS, max_size=24),
    st.text(max_size=16),
    st.lists(st.sampled_from(_ATTACK_PIECES), max_size=5).map("".join),
    st.tuples(st.text(max_size=6), st.sampled_from(_ATTACK_PIECES), st.text(max_size=6)).map(
        "".join
    ),
)
long_text = st.integers(1000, 1100).map(lambda n: "x\r\n" * (n // 3))

OPTIONS = st.sampled_from(
    [
        EncodeOptions(),
        EncodeOptions(literal_mode=LiteralMode.LITERAL_PLUS),
        EncodeOptions(literal_mode=LiteralMode.LITERAL_MINUS, max_quoted=4),
        EncodeOptions(literal_mode=LiteralMode.LITERAL_PLUS, utf8_accept=True),
        EncodeOptions(utf8_accept=True, binary=True, sasl_ir=True, max_quoted=0),
        EncodeOptions(sasl_ir=True),
    ]
)

numbers = st.one_of(st.integers(1, 20), st.sampled_from([4294967294, 4294967295]))
bounds = st.one_of(numbers, st.just(STAR))


_spans = st.lists(st.tuples(bounds, bounds), min_size=1, max_size=5)
seq_sets = _spans.map(lambda sp: SeqSet.span(*sp[0]).union(*(SeqSet.span(a, b) for a, b in sp)))
uid_sets = _spans.map(lambda sp: UIDSet.span(*sp[0]).union(*(UIDSet.span(a, b) for a, b in sp)))
any_target = st.one_of(seq_sets, uid_sets, st.sampled_from([LAST_SEARCH_SEQ, LAST_SEARCH_UID]))

dates = st.dates(min_value=datetime.date(1, 1, 1), max_value=datetime.date(9999, 12, 31))
tz_minutes = st.integers(-23 * 60 - 59, 23 * 60 + 59)
append_dates = st.builds(
    lambda d, h, m, s, tz: datetime.datetime(
        d.year, d.month, d.day, h, m, s, tzinfo=datetime.timezone(datetime.timedelta(minutes=tz))
    ),
    dates,
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
    tz_minutes,
)

# --- the checker ---------------------------------------------------------------------


def read_back(cmd: c.Command, opts: EncodeOptions, tag: str = "A1") -> ParsedCommand:
    frags = serialize(tag, cmd, opts)
    data = b"".join(f.data for f in frags)
    _scan(data)
    reader = CommandReader(utf8=opts.utf8_accept)
    parsed: list[ParsedCommand] = []
    for i, f in enumerate(frags):
        reader.feed(f.data)
        out = reader.next_command()
        assert isinstance(out, ContinuationNeeded) == f.wait_for_continuation, (i, frags)
        if isinstance(out, ParsedCommand):
            parsed.append(out)
            assert i == len(frags) - 1, "the command ended before its last fragment"
    assert len(parsed) == 1, data
    assert reader.next_command() is None
    assert reader.pending == b""
    assert parsed[0].tag == tag
    assert parsed[0].name == cmd.name
    return parsed[0]


def check(build: Callable[[], c.Command], opts: EncodeOptions) -> None:
    """The invariant: InvalidArgumentError, or exactly one command that reads back equal."""
    try:
        cmd = build()
    except InvalidArgumentError:
        return
    try:
        serialize("A1", cmd, opts)
    except InvalidArgumentError:
        return
    parsed = read_back(cmd, opts)
    expected = normalize_inbox(cmd)
    if isinstance(cmd, c.Authenticate) and not opts.sasl_ir:
        # without SASL-IR the initial response answers the first "+" instead
        expected = c.Authenticate(cmd.mechanism)
    if isinstance(expected, c.Append) and opts.binary:
        # documented: a message holding NUL goes as literal8 when the server has BINARY
        expected = c.Append(
            expected.mailbox,
            tuple(
                c.AppendMessage(m.data, m.flags, m.internal_date, m.binary or b"\x00" in m.data)
                for m in expected.messages_to_append
            ),
        )
    assert to_command(parsed, utf8=opts.utf8_accept) == expected


def normalize_inbox(cmd: c.Command) -> c.Command:
    """The serializer sends INBOX in any (ASCII) case as ``INBOX`` (RFC 9051 section 5.1)."""

    def fix(name: str) -> str:
        return "INBOX" if name.isascii() and name.upper() == "INBOX" else name

    if isinstance(cmd, (c.Select, c.Examine)):
        return type(cmd)(fix(cmd.mailbox), cmd.condstore, cmd.qresync)
    if isinstance(cmd, c.Create):
        return c.Create(fix(cmd.mailbox), cmd.special_use)
    if isinstance(cmd, (c.Delete, c.Subscribe, c.Unsubscribe, c.GetQuotaRoot)):
        return type(cmd)(fix(cmd.mailbox))
    if isinstance(cmd, c.Rename):
        return c.Rename(fix(cmd.old), fix(cmd.new))
    if isinstance(cmd, c.List):
        return c.List(
            fix(cmd.reference),
            tuple(fix(p) for p in cmd.patterns),
            cmd.select_options,
            cmd.return_options,
            cmd.return_status,
        )
    if isinstance(cmd, c.Lsub):
        return c.Lsub(fix(cmd.reference), fix(cmd.pattern))
    if isinstance(cmd, c.Status):
        return c.Status(fix(cmd.mailbox), cmd.items)
    if isinstance(cmd, c.Append):
        return c.Append(fix(cmd.mailbox), cmd.messages_to_append)
    if isinstance(cmd, (c.Copy, c.Move)):
        return type(cmd)(cmd.target, fix(cmd.mailbox))
    return cmd


# --- one test per family of arguments -----------------------------------------------

_MAILBOX_BUILDERS: list[Callable[[str], c.Command]] = [
    lambda s: c.Select(s),
    lambda s: c.Examine(s, condstore=True),
    lambda s: c.Create(s),
    lambda s: c.Create(s, ("\\Drafts",)),
    lambda s: c.Delete(s),
    lambda s: c.Subscribe(s),
    lambda s: c.Unsubscribe(s),
    lambda s: c.GetQuotaRoot(s),
    lambda s: c.Rename(s, "x"),
    lambda s: c.Rename("x", s),
    lambda s: c.List(s, ("*",)),
    lambda s: c.List("", (s,)),
    lambda s: c.List(s, (s, "%", s), ("SUBSCRIBED",), ("CHILDREN",), ("MESSAGES",)),
    lambda s: c.Lsub(s, s),
    lambda s: c.Status(s),
    lambda s: c.Append(s, (c.AppendMessage(b"m"),)),
    lambda s: c.Copy(UIDSet(1), s),
    lambda s: c.Move(SeqSet(1), s),
]


@SETTINGS
@given(st.sampled_from(range(len(_MAILBOX_BUILDERS))), hostile_text, OPTIONS)
def test_mailbox_names_and_list_patterns(i: int, text: str, opts: EncodeOptions) -> None:
    check(lambda: _MAILBOX_BUILDERS[i](text), opts)


_TEXT_BUILDERS: list[Callable[[str], c.Command]] = [
    lambda s: c.Login(s, Secret("pw")),
    # Secret() of a lone surrogate raises InvalidArgumentError (regression test below)
    lambda s: c.Login("user", Secret(s.encode("utf-8", "surrogatepass"))),
    lambda s: c.GetQuota(s),
    lambda s: c.SetQuota(s, (("STORAGE", 5),)),
    lambda s: c.Id({s[:10]: s}),
    lambda s: c.Id([("name", s), (s[:10], None)]),
]


@SETTINGS
@given(st.sampled_from(range(len(_TEXT_BUILDERS))), st.one_of(hostile_text, long_text), OPTIONS)
def test_user_names_passwords_quota_roots_id(i: int, text: str, opts: EncodeOptions) -> None:
    check(lambda: _TEXT_BUILDERS[i](text), opts)


@SETTINGS
@given(st.binary(max_size=40), OPTIONS)
def test_password_bytes(pw: bytes, opts: EncodeOptions) -> None:
    check(lambda: c.Login("u", Secret(pw)), opts)


_TEXT_KEYS = [S.bcc, S.body, S.cc, S.from_, S.subject, S.text, S.to]


@st.composite
def search_keys(draw: st.DrawFn, depth: int = 0) -> SearchKey:
    text = draw(hostile_text)
    leaves: list[Callable[[], SearchKey]] = [
        lambda: draw(st.sampled_from(_TEXT_KEYS))(text),
        lambda: S.header(draw(hostile_text), text),
        lambda: S.header("X-Test", text),
        lambda: S.keyword(text),
        lambda: S.unkeyword(text),
        lambda: draw(st.sampled_from([S.since, S.before, S.on, S.senton]))(draw(dates)),
        lambda: S.larger(draw(st.integers(0, 2**63 - 1))),
        lambda: S.younger(draw(st.integers(0, 0xFFFFFFFF))),
        lambda: S.uid(draw(uid_sets)),
        lambda: S.messages(draw(seq_sets)),
        lambda: S.modseq(draw(st.integers(0, 2**63 - 1)), (text, "priv")),
        lambda: S.emailid(text),
        lambda: S.threadid(text),
        lambda: S.UNSEEN,
    ]
    leaf = draw(st.sampled_from(leaves))
    try:
        key = leaf()
    except InvalidArgumentError:
        key = S.ALL
    if depth < 3:
        combine = draw(st.integers(0, 3))
        if combine == 1:
            return ~key
        if combine == 2:
            return key | draw(search_keys(depth + 1))
        if combine == 3:
            return key & draw(search_keys(depth + 1))
    return key


@SETTINGS
@given(
    search_keys(), st.sampled_from(["search", "uid search", "esearch", "sort", "thread"]), OPTIONS
)
def test_search_sort_thread_criteria(key: SearchKey, kind: str, opts: EncodeOptions) -> None:
    builders: dict[str, Callable[[], c.Command]] = {
        "search": lambda: c.Search(key),
        "uid search": lambda: c.Search(key, uid=True),
        "esearch": lambda: c.Search(key, return_options=("MIN", "COUNT", "SAVE")),
        "sort": lambda: c.Sort(key, sort_keys=("REVERSE DATE", "subject")),
        "thread": lambda: c.Thread(key, uid=True),
    }
    check(builders[kind], opts)


@SETTINGS
@given(hostile_text, hostile_text, OPTIONS)
def test_search_header_names_and_values(name: str, value: str, opts: EncodeOptions) -> None:
    try:
        key = S.header(name, value)
    except InvalidArgumentError:
        # refused names really are not RFC 5322 field names
        assert not name or any(not 0x21 <= ord(ch) <= 0x7E or ch == ":" for ch in name)
        return
    check(lambda: c.Search(key), opts)


@SETTINGS
@given(st.lists(hostile_text, min_size=1, max_size=4), any_target, OPTIONS)
def test_flags_and_keywords(flags: list[str], target: object, opts: EncodeOptions) -> None:
    for f in flags:
        try:
            Flag(f)
        except InvalidArgumentError:
            continue
        # what Flag() accepts is an atom (or \atom): nothing that could inject
        assert f == "\\*" or (f.isascii() and not any(ch in f for ch in ' ()"{%*]\r\n\x00'))
    check(lambda: c.Store(target, c.StoreMode.ADD, tuple(flags), silent=True), opts)  # type: ignore[arg-type]
    check(lambda: c.Append("x", (c.AppendMessage(b"m", tuple(flags)),)), opts)  # type: ignore[arg-type]
    check(lambda: c.Search(S.keyword(flags[0]) | S.unkeyword(flags[-1])), opts)


@SETTINGS
@given(
    st.sampled_from(
        [
            "enable",
            "compress",
            "authenticate",
            "status",
            "select",
            "return",
            "sort",
            "thread",
            "setquota",
            "create use",
            "fetch item",
            "esearch",
        ]
    ),
    hostile_text,
    OPTIONS,
)
def test_atom_arguments(kind: str, text: str, opts: EncodeOptions) -> None:
    """Values that must be atoms (or one of a fixed set) raise InvalidArgumentError or
    are sent as one well-formed command."""
    builders: dict[str, Callable[[], c.Command]] = {
        "enable": lambda: c.Enable(("CONDSTORE", text)),
        "compress": lambda: c.Compress(text),
        "authenticate": lambda: c.Authenticate(text),
        "status": lambda: c.Status("x", (text,)),
        "select": lambda: c.List("", ("*",), select_options=(text, "SUBSCRIBED")),
        "return": lambda: c.List("", ("*",), return_options=(text,)),
        "sort": lambda: c.Sort(S.ALL, sort_keys=(text,)),
        "thread": lambda: c.Thread(S.ALL, algorithm=text),
        "setquota": lambda: c.SetQuota("", ((text, 1),)),
        "create use": lambda: c.Create("x", (text,)),
        "fetch item": lambda: c.Fetch(SeqSet(1), (text,)),  # type: ignore[arg-type]
        "esearch": lambda: c.Search(S.ALL, return_options=(text,)),
    }
    check(builders[kind], opts)


@SETTINGS
@given(hostile_text, st.binary(max_size=30), OPTIONS)
def test_sasl_mechanism_and_initial_response(mech: str, ir: bytes, opts: EncodeOptions) -> None:
    check(lambda: c.Authenticate(mech, Secret(ir)), opts)
    check(lambda: c.Authenticate("PLAIN", Secret(ir)), opts)
    frag = serialize_sasl_response(ir)
    assert frag.sensitive
    assert frag.data.endswith(b"\r\n")
    assert b"\r" not in frag.data[:-2]
    assert b"\n" not in frag.data[:-2]
    assert base64.b64decode(frag.data[:-2], validate=True) == ir


@SETTINGS
@given(
    st.lists(st.integers(-2, 2**32 + 1), max_size=3),
    st.sampled_from([None, "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME", "x"]),
    st.lists(hostile_text, max_size=3),
    st.one_of(st.none(), st.tuples(st.integers(-1, 2**32), st.integers(-1, 2**32))),
    st.booleans(),
    any_target,
    OPTIONS,
)
def test_fetch_sections_fields_partials(
    part: list[int],
    text: str | None,
    fields: list[str],
    partial: tuple[int, int] | None,
    peek: bool,
    target: object,
    opts: EncodeOptions,
) -> None:
    def build() -> c.Command:
        item = c.FetchItem.body(
            c.Section(tuple(part), text, tuple(fields)), peek=peek, partial=partial
        )
        return c.Fetch(target, (item, c.FetchItem("UID")))  # type: ignore[arg-type]

    check(build, opts)
    check(lambda: c.Fetch(target, (c.FetchItem.binary(tuple(part), partial=partial),)), opts)  # type: ignore[arg-type]
    check(lambda: c.Fetch(target, (c.FetchItem.binary_size(tuple(part)),)), opts)  # type: ignore[arg-type]


@SETTINGS
@given(hostile_text)
def test_fetch_section_spec_strings(spec: str) -> None:
    """``FetchItem.body("1.2.MIME")``-style specs: InvalidArgumentError or a valid item."""
    check(lambda: c.Fetch(UIDSet(1), (c.FetchItem.body(spec),)), EncodeOptions())


@SETTINGS
@given(append_dates, st.binary(max_size=50), st.booleans(), OPTIONS)
def test_append_dates_and_data(
    when: datetime.datetime, data: bytes, binary: bool, opts: EncodeOptions
) -> None:
    check(lambda: c.Append("x", (c.AppendMessage(data, (Flag.SEEN,), when, binary),)), opts)
    check(
        lambda: c.Append(
            "x", (c.AppendMessage(data, (), when), c.AppendMessage(b"second", (Flag.DRAFT,)))
        ),
        opts,
    )


@SETTINGS
@given(
    st.one_of(st.integers(-5, 2**32 + 5), st.just(2**63), st.booleans()),
    st.one_of(st.integers(-5, 2**63 + 5), st.booleans()),
    OPTIONS,
)
def test_numbers_qresync_changedsince_unchangedsince_quota(
    a: int, b: int, opts: EncodeOptions
) -> None:
    m = cast(ModSeq, b)  # deliberately unchecked: the constructors must refuse bad values
    check(lambda: c.Select("x", qresync=c.QResync(a, m, UIDSet(1), (SeqSet(1), UIDSet(2)))), opts)
    check(lambda: c.Fetch(UIDSet(1), ("FLAGS",), changed_since=m, vanished=True), opts)  # type: ignore[arg-type]
    check(lambda: c.Store(UIDSet(1), c.StoreMode.REPLACE, (), unchanged_since=m), opts)
    check(lambda: c.SetQuota("r", (("STORAGE", b),)), opts)
    check(lambda: c.Search(S.larger(b) & S.older(a)), opts)


@SETTINGS
@given(any_target, OPTIONS)
def test_message_sets(target: object, opts: EncodeOptions) -> None:
    check(lambda: c.Fetch(target, c.FetchMacro.FAST), opts)  # type: ignore[arg-type]
    check(lambda: c.Copy(target, "x"), opts)  # type: ignore[arg-type]
    if isinstance(target, UIDSet) or target == LAST_SEARCH_UID:
        check(lambda: c.UidExpunge(target), opts)


@SETTINGS
@given(hostile_text)
def test_tags(tag: str) -> None:
    with contextlib.suppress(InvalidArgumentError):
        read_back(c.Noop(), EncodeOptions(), tag=tag)


# --- regression tests for review findings ---------------------------------------------


@pytest.mark.parametrize("name", ["\u0131nbox", "\u0131NBOX", "\u0130nbox"])
def test_unicode_case_folding_does_not_turn_a_mailbox_into_inbox(name: str) -> None:
    """BUG (fixed): ``"\\u0131nbox".upper() == "INBOX"``, so SELECT of the mailbox
    named "\\u0131nbox" (Turkish dotless i) was sent as ``SELECT INBOX``."""
    for cmd in (c.Select(name), c.List("", (name,)), c.Lsub("", name)):
        for opts in (EncodeOptions(), EncodeOptions(utf8_accept=True)):
            wire = b"".join(f.data for f in serialize("A1", cmd, opts))
            assert b"INBOX" not in wire, wire
            assert to_command(read_back(cmd, opts), utf8=opts.utf8_accept) == cmd
    # server side too: the modified UTF-7 of "\u0131nbox" is not INBOX
    assert decode_mailbox(RAtom("&ATE-nbox")) == "\u0131nbox"


@pytest.mark.parametrize(
    ("op", "args"),
    [
        ("FROM x\r\nA2 LOGOUT", ()),
        ("ALL\r\n", ()),
        ("ALL A2", ()),
        ("(", ()),
        ("", ()),
        ("AND", ()),
        ("SET", ("1:5",)),
        ("SET", ()),
        ("LARGER", (True,)),
        ("LARGER", (-1,)),
        ("LARGER", (1.5,)),
        ("FROM", (b"x\r\n",)),
        ("FROM", (None,)),
    ],
)
def test_search_key_built_directly_cannot_inject(op: str, args: tuple[object, ...]) -> None:
    """BUG (fixed): ``SearchKey`` is public and its ``op`` was written verbatim, so
    ``SearchKey("FROM x\\r\\nA2 LOGOUT")`` sent a second command; ``SearchKey("AND")``
    sent ``SEARCH`` with no criteria."""
    with pytest.raises(InvalidArgumentError):
        SearchKey(op, args)  # type: ignore[arg-type]


def test_search_key_built_directly_still_works_for_extensions() -> None:
    key = SearchKey("X-GM-RAW", ("has attachment",)) & SearchKey("FROM", ("a",))
    cmd = c.Search(key)
    wire = b"".join(f.data for f in serialize("A1", cmd))
    assert wire == b'A1 SEARCH X-GM-RAW "has attachment" FROM a\r\n'


@pytest.mark.parametrize("spec", ["\u00b2", "1.\u00b2", "\u0661.TEXT", "\uff11"])
def test_non_ascii_digits_in_section_specs(spec: str) -> None:
    """BUG (fixed): ``"\\u00b2".isdigit()`` is True, so ``FetchItem.body("\\u00b2")``
    raised a bare ValueError from int(); ``"\\u0661"`` (Arabic-Indic one) was read as 1."""
    with pytest.raises(InvalidArgumentError):
        c.FetchItem.body(spec)


def test_mutf7_nul_mailbox_travels_but_utf8_nul_is_refused() -> None:
    check(lambda: c.Select("a\x00b"), EncodeOptions())
    with pytest.raises(InvalidArgumentError):
        serialize("A1", c.Select("a\x00b"), EncodeOptions(utf8_accept=True))


@pytest.mark.parametrize("flag", ["BODY[", "BODY.PEEK[x", "BINARY[1", "body[a[b"])
def test_flag_keywords_that_look_like_fetch_sections(flag: str) -> None:
    """Found by the flag test: "[" is an ATOM-CHAR, so ``BODY[`` is a valid keyword.
    The test reader (``_command_parser``) read it as an unterminated fetch section
    and failed; it now reads sections only in FETCH (fixed there; the serializer
    was right)."""
    for cmd in (
        c.Store(UIDSet(1), c.StoreMode.ADD, (Flag(flag), Flag.SEEN)),
        c.Search(S.keyword(flag)),
        c.Append("x", (c.AppendMessage(b"m", (Flag(flag),)),)),
    ):
        assert to_command(read_back(cmd, EncodeOptions())) == cmd


def test_secret_of_lone_surrogate_raises_invalid_argument() -> None:
    with pytest.raises(InvalidArgumentError):
        c.Login("user", Secret("\udc80"))
