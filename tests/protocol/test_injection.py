"""Injection attempts through every argument type.

Whatever text a caller passes, the serialized command must be exactly one
command: no CR or LF outside a literal, no second command, balanced
parentheses and brackets, and it must read back as the same arguments.
Arguments that must be atoms (flags, capability names, status items ...)
refuse anything else with InvalidArgumentError.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable

import pytest

from pipeimap.errors import InvalidArgumentError
from pipeimap.protocol import Flag, Secret
from pipeimap.protocol import _commands as c
from pipeimap.protocol import _search as S
from pipeimap.protocol._command_parser import (
    CommandReader,
    ContinuationNeeded,
    ParsedCommand,
    to_command,
)
from pipeimap.protocol._seqset import SeqSet, UIDSet
from pipeimap.protocol._serializer import EncodeOptions, LiteralMode, serialize

ATTACKS = [
    "x\r\nA2 LOGOUT",
    "x\r\n",
    "\r\nA2 DELETE INBOX\r\n",
    "x\nA2 LOGOUT",
    "x\rA2 LOGOUT",
    '"',
    'x" A2 LOGOUT',
    '\\"',
    "\\",
    "x\\",
    "{5}",
    "{5}\r\nhello",
    "{99999999}\r\n",
    "~{3}\r\nabc",
    "{5+}\r\n",
    ")",
    "((",
    "x) (y",
    "]",
    "BODY[",
    "NIL",
    "",
    " ",
    "*",
    "%",
    "&",
    "&AGE-",
    "日本語",
    "\U0001f600",
    "\u2028",
    "\x85",
    "\x7f",
    "\x1b[31m",
    "\t",
    "x" * 5000,
    "é\r\n" * 10,
]

OPTIONS = [
    pytest.param(EncodeOptions(), id="sync"),
    pytest.param(EncodeOptions(literal_mode=LiteralMode.LITERAL_PLUS), id="literal+"),
    pytest.param(EncodeOptions(literal_mode=LiteralMode.LITERAL_MINUS), id="literal-"),
    pytest.param(EncodeOptions(literal_mode=LiteralMode.LITERAL_PLUS, utf8_accept=True), id="utf8"),
]

# One builder per argument that carries caller text.
BUILDERS: dict[str, Callable[[str], c.Command]] = {
    "login user": lambda s: c.Login(s, Secret("pw")),
    "login password": lambda s: c.Login("user", Secret(s)),
    "select mailbox": lambda s: c.Select(s),
    "examine mailbox": lambda s: c.Examine(s),
    "create mailbox": lambda s: c.Create(s),
    "delete mailbox": lambda s: c.Delete(s),
    "rename old": lambda s: c.Rename(s, "b"),
    "rename new": lambda s: c.Rename("a", s),
    "subscribe": lambda s: c.Subscribe(s),
    "unsubscribe": lambda s: c.Unsubscribe(s),
    "list reference": lambda s: c.List(s, ("*",)),
    "list pattern": lambda s: c.List("", (s,)),
    "list patterns": lambda s: c.List("", (s, "x", s)),
    "lsub pattern": lambda s: c.Lsub("", s),
    "status mailbox": lambda s: c.Status(s),
    "append mailbox": lambda s: c.Append(s, (c.AppendMessage(b"m"),)),
    "copy mailbox": lambda s: c.Copy(UIDSet(1), s),
    "move mailbox": lambda s: c.Move(SeqSet(1), s),
    "getquota root": lambda s: c.GetQuota(s),
    "getquotaroot mailbox": lambda s: c.GetQuotaRoot(s),
    "setquota root": lambda s: c.SetQuota(s, (("STORAGE", 1),)),
    "id field": lambda s: c.Id({s[:7]: "v"}),
    "id value": lambda s: c.Id({"name": s[:256]}),
    "search from": lambda s: c.Search(S.from_(s)),
    "search subject": lambda s: c.Search(S.subject(s), uid=True),
    "search body": lambda s: c.Search(S.body(s) & S.UNSEEN),
    "search text in OR": lambda s: c.Search(S.or_(S.text(s), S.to(s))),
    "search header value": lambda s: c.Search(S.header("X-Test", s)),
    "search nested": lambda s: c.Search(~S.and_(S.cc(s), S.bcc(s))),
    "sort criteria": lambda s: c.Sort(S.subject(s)),
    "thread criteria": lambda s: c.Thread(S.from_(s), uid=True),
}


MAILBOX_BUILDERS = {
    name
    for name in BUILDERS
    if any(w in name for w in ("mailbox", "rename", "subscribe", "list", "lsub"))
}
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _scan(data: bytes) -> None:
    """Independent check: outside literal bodies, CR and LF appear only as the
    CRLF that ends a literal header or the command; parentheses and quotes balance."""
    i = 0
    depth = 0
    line_ends = 0
    literal = re.compile(rb"~?\{(\d+)\+?\}\r\n")
    while i < len(data):
        b = data[i]
        if b == 0x22:  # quoted string: skip, honouring escapes
            i += 1
            while data[i] != 0x22:
                assert data[i] not in (0x0D, 0x0A, 0x00)
                i += 2 if data[i] == 0x5C else 1
            i += 1
            continue
        m = literal.match(data, i)
        if m is not None:
            i = m.end() + int(m.group(1))
            continue
        if b in (0x0D, 0x0A):
            assert data[i : i + 2] == b"\r\n"
            assert i + 2 == len(data), "a line ends before the command does"
            line_ends += 1
            i += 2
            continue
        assert b != 0x00
        if b == 0x28:
            depth += 1
        elif b == 0x29:
            depth -= 1
            assert depth >= 0
        i += 1
    assert depth == 0
    assert line_ends == 1


def _read_back(cmd: c.Command, opts: EncodeOptions) -> c.Command:
    frags = serialize("A1", cmd, opts)
    data = b"".join(f.data for f in frags)
    _scan(data)
    reader = CommandReader(utf8=opts.utf8_accept)
    parsed = None
    for f in frags:
        reader.feed(f.data)
        out = reader.next_command()
        assert isinstance(out, ContinuationNeeded) == f.wait_for_continuation
        if isinstance(out, ParsedCommand):
            parsed = out
    assert isinstance(parsed, ParsedCommand)
    assert reader.next_command() is None
    assert reader.pending == b""
    return to_command(parsed, utf8=opts.utf8_accept)


@pytest.mark.parametrize("opts", OPTIONS)
@pytest.mark.parametrize("builder", list(BUILDERS), ids=list(BUILDERS))
def test_text_arguments_cannot_inject(builder: str, opts: EncodeOptions) -> None:
    for attack in ATTACKS:
        if builder in MAILBOX_BUILDERS and _CONTROL.search(attack):
            # RFC 9051 section 5.1: no control characters in mailbox names.
            with pytest.raises(InvalidArgumentError, match="control character"):
                BUILDERS[builder](attack)
            continue
        cmd = BUILDERS[builder](attack)
        back = _read_back(cmd, opts)
        if isinstance(cmd, (c.Select, c.Examine)) and attack.upper() == "INBOX":
            continue
        assert back == cmd, (builder, attack)


@pytest.mark.parametrize("opts", OPTIONS)
def test_nul_is_refused_outside_mutf7_and_binary(opts: EncodeOptions) -> None:
    for build in ("login user", "login password", "search from", "id value", "search header value"):
        with pytest.raises(InvalidArgumentError, match="NUL"):
            serialize("A1", BUILDERS[build]("a\x00b"), opts)
    # Mailbox names with NUL (or any control character) are refused up front.
    with pytest.raises(InvalidArgumentError, match="control character"):
        c.Select("a\x00b")


def test_error_messages_never_hold_the_secret() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        serialize("A1", c.Login("u", Secret("top\x00secret")), EncodeOptions())
    assert "secret" not in str(info.value)
    assert "top" not in str(info.value)
    assert "top" not in repr(c.Login("u", Secret("topsecret")))


@pytest.mark.parametrize(
    "bad",
    ["", " ", "a b", "a\r\nb", "(", ")", "{1}", '"', "%", "*", "é", "\\", "a\x00", "]"],
)
def test_atom_arguments_refuse_non_atoms(bad: str) -> None:
    attempts: list[Callable[[], object]] = [
        lambda: Flag(bad),
        lambda: c.Store(UIDSet(1), c.StoreMode.ADD, (bad,)),  # type: ignore[arg-type]
        lambda: c.AppendMessage(b"x", (bad,)),  # type: ignore[arg-type]
        lambda: c.Enable((bad,)),
        lambda: c.Status("x", (bad,)),
        lambda: c.List("", ("*",), select_options=(bad,)),
        lambda: c.List("", ("*",), return_options=(bad,)),
        lambda: c.Sort(S.ALL, sort_keys=(bad,)),
        lambda: c.Thread(S.ALL, algorithm=bad),
        lambda: c.Compress(bad),
        lambda: c.Authenticate(bad),
        lambda: c.SetQuota("", ((bad, 1),)),
        lambda: c.Search(S.ALL, return_options=(bad,)),
        lambda: c.FetchItem.simple(bad),
        lambda: c.Create("x", (bad,)),
        lambda: S.keyword(bad),
        lambda: S.emailid(bad),
    ]
    if bad != "]":  # a tag may hold "]" (tag = 1*<ASTRING-CHAR except "+">)
        attempts.append(lambda: serialize(bad, c.Noop()))
    if bad in ("", " ", "a b", "a\r\nb", "é", "a\x00"):  # the rest is legal in field names (ftext)
        attempts += [
            lambda: S.header(bad, "v"),
            lambda: c.Section(text="HEADER.FIELDS", fields=(bad,)),
        ]
    for attempt in attempts:
        with pytest.raises(InvalidArgumentError):
            attempt()


def test_header_field_names_with_specials_are_quoted_not_injected() -> None:
    item = c.FetchItem.body(c.Section(text="HEADER.FIELDS", fields=("X-(a)", 'Q"', "NIL", "B]")))
    cmd = c.Fetch(UIDSet(1), (item,))
    for opts in (EncodeOptions(), EncodeOptions(literal_mode=LiteralMode.LITERAL_PLUS)):
        assert _read_back(cmd, opts) == cmd


def test_store_refuses_wildcard_and_recent() -> None:
    with pytest.raises(InvalidArgumentError):
        c.Store(UIDSet(1), c.StoreMode.ADD, (Flag.WILDCARD,))
    with pytest.raises(InvalidArgumentError):
        c.Store(UIDSet(1), c.StoreMode.ADD, (Flag.RECENT,))


def test_dates_and_numbers_are_typed() -> None:
    with pytest.raises(InvalidArgumentError):
        S.since("1-Jan-2020")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        S.since(datetime.datetime(2020, 1, 1))
    with pytest.raises(InvalidArgumentError):
        S.larger(-1)
    with pytest.raises(InvalidArgumentError):
        S.larger("5 OR ALL")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        c.AppendMessage(b"x", internal_date=datetime.datetime(2020, 1, 1))  # naive
    with pytest.raises(InvalidArgumentError):
        c.Fetch("1:5 FLAGS\r\nA2 LOGOUT", (c.FetchItem("FLAGS"),))  # type: ignore[arg-type]
