"""Round trips: command -> serializer -> (simulated continuations) -> command reader -> command.

Every argument is drawn from hostile text (CR, LF, NUL, quotes, backslashes,
braces, wildcards, non-ASCII, astral characters, things that look like IMAP).
A command either comes back equal, or is refused with InvalidArgumentError
because NUL cannot be sent in its argument -- never anything else.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeimap.errors import InvalidArgumentError
from pipeimap.protocol import Flag, ModSeq, Secret
from pipeimap.protocol import _commands as c
from pipeimap.protocol import _search as S
from pipeimap.protocol._command_parser import (
    CommandReader,
    ContinuationNeeded,
    ParsedCommand,
    to_command,
)
from pipeimap.protocol._seqset import LAST_SEARCH_SEQ, LAST_SEARCH_UID, STAR, SeqSet, UIDSet
from pipeimap.protocol._serializer import EncodeOptions, LiteralMode, serialize

OPTIONS = [
    EncodeOptions(),
    EncodeOptions(literal_mode=LiteralMode.LITERAL_PLUS),
    EncodeOptions(literal_mode=LiteralMode.LITERAL_MINUS, max_quoted=8),
    EncodeOptions(
        literal_mode=LiteralMode.LITERAL_PLUS, utf8_accept=True, binary=True, sasl_ir=True
    ),
    EncodeOptions(literal_mode=LiteralMode.SYNC, utf8_accept=True, max_quoted=0),
]


def transmit(cmd: c.Command, opts: EncodeOptions, *, bytewise: bool = False) -> c.Command:
    """Serialize, feed a reader as a server would (answering each synchronizing
    literal), and rebuild the command.  Checks the continuation protocol."""
    frags = serialize("A1", cmd, opts)
    reader = CommandReader(utf8=opts.utf8_accept)
    parsed: ParsedCommand | None = None
    for i, frag in enumerate(frags):
        chunks = [frag.data[j : j + 1] for j in range(len(frag.data))] if bytewise else [frag.data]
        for chunk in chunks:
            reader.feed(chunk)
            out = reader.next_command()
            if isinstance(out, ParsedCommand):
                assert parsed is None
                parsed = out
            elif isinstance(out, ContinuationNeeded):
                # Only at the end of a fragment that waits for it.
                assert frag.wait_for_continuation
                assert chunk is chunks[-1]
                assert reader.next_command() is None  # asked once
        if frag.wait_for_continuation:
            assert parsed is None
        if i < len(frags) - 1:
            assert parsed is None
    assert parsed is not None
    assert reader.pending == b""
    assert parsed.tag == "A1"
    assert parsed.name == cmd.name
    return to_command(parsed, utf8=opts.utf8_accept)


# --- strategies -------------------------------------------------------------------

_SPECIAL = [
    "",
    "NIL",
    "nil",
    '"',
    "\\",
    "{5}\r\n",
    "{5+}",
    "~{3}",
    "a\r\nA2 LOGOUT\r\n",
    ")",
    "(",
    "]",
    "[",
    "BODY[",
    "*",
    "%",
    "&",
    "&-",
    "&AGE-",
    "\r",
    "\n",
    "\x00",
    "\x7f",
    "é",
    "日本語",
    "\U0001f600",
    " ",
    "+",
    "$",
]
_chars = st.characters(codec="utf-8")
hostile = st.one_of(
    st.sampled_from(_SPECIAL),
    st.text(_chars, max_size=20),
    st.lists(st.sampled_from(_SPECIAL), max_size=5).map("".join),
    st.text(st.sampled_from(list('ab\r\n\x00"\\{}()*%[]é\U0001f600 ~+&-')), max_size=12),
)
# Mailbox names: hostile but without control characters (RFC 9051 section 5.1;
# names with them are refused, tested in test_injection.py).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
mailbox = hostile.filter(lambda s: s.upper() != "INBOX" and not _CONTROL.search(s))
ascii_atomish = st.text(st.sampled_from(list("abcXYZ019$_-.")), min_size=1, max_size=8)
flags = st.lists(
    st.one_of(
        st.sampled_from([Flag.SEEN, Flag.DELETED, Flag.DRAFT, Flag.ANSWERED, Flag.FLAGGED]),
        ascii_atomish.map(Flag),
    ),
    max_size=4,
    unique=True,
).map(tuple)
uidsets = st.lists(st.integers(1, 2**32 - 1), min_size=1, max_size=6).map(UIDSet)
seqsets = st.lists(st.integers(1, 5000), min_size=1, max_size=6).map(SeqSet)
star_uidsets = uidsets.map(lambda u: u | UIDSet.span(u.min, STAR))
msgsets = st.one_of(
    uidsets, seqsets, star_uidsets, st.just(LAST_SEARCH_UID), st.just(LAST_SEARCH_SEQ)
)
field_names = st.text(st.sampled_from(list('abcXYZ-_(){}"\\%*[]~!')), min_size=1, max_size=10)
dates = st.dates(datetime.date(1, 1, 1), datetime.date(9999, 12, 31))
modseqs = st.integers(1, 2**63 - 1).map(ModSeq)


@st.composite
def search_keys(draw: st.DrawFn, depth: int = 0) -> S.SearchKey:
    leaves: list[st.SearchStrategy[S.SearchKey]] = [
        st.sampled_from(
            [
                S.ALL,
                S.SEEN,
                S.UNSEEN,
                S.NEW,
                S.OLD,
                S.DELETED,
                S.FLAGGED,
                S.DRAFT,
                S.RECENT,
                S.UNANSWERED,
            ]
        ),
        st.builds(S.from_, hostile),
        st.builds(S.subject, hostile),
        st.builds(S.body, hostile),
        st.builds(S.text, hostile),
        st.builds(S.to, hostile),
        st.builds(S.cc, hostile),
        st.builds(S.bcc, hostile),
        st.builds(S.header, field_names, hostile),
        st.builds(S.since, dates),
        st.builds(S.before, dates),
        st.builds(S.sentsince, dates),
        st.builds(S.larger, st.integers(0, 2**63 - 1)),
        st.builds(S.smaller, st.integers(0, 2**32)),
        st.builds(S.keyword, ascii_atomish),
        st.builds(S.uid, st.one_of(uidsets, star_uidsets, st.just(LAST_SEARCH_UID))),
        st.builds(S.messages, st.one_of(seqsets, st.just(LAST_SEARCH_SEQ))),
        st.builds(S.modseq, modseqs),
        st.builds(
            lambda m, f: S.modseq(m, (f, "priv")), modseqs, st.sampled_from([Flag.SEEN, Flag("$x")])
        ),
        st.builds(S.emailid, st.text(st.sampled_from("abcXYZ09_-"), min_size=1, max_size=10)),
    ]
    if depth < 2:
        sub = search_keys(depth + 1)
        leaves += [
            st.builds(S.not_, sub),
            st.builds(S.or_, sub, sub),
            st.lists(sub, min_size=1, max_size=3).map(lambda ks: S.and_(*ks)),
        ]
    return draw(st.one_of(leaves))


aware_datetimes = st.builds(
    lambda d, minutes: d.replace(
        microsecond=0, tzinfo=datetime.timezone(datetime.timedelta(minutes=minutes))
    ),
    st.datetimes(datetime.datetime(1000, 1, 1), datetime.datetime(9999, 12, 31)),
    st.integers(-(23 * 60 + 59), 23 * 60 + 59),
)
append_messages = st.builds(
    c.AppendMessage,
    st.binary(max_size=50),
    flags.filter(lambda fs: Flag.RECENT not in fs),
    st.one_of(st.none(), aware_datetimes),
    st.booleans(),
)
fetch_items = st.one_of(
    st.sampled_from(
        [
            c.FetchItem(n)
            for n in (
                "FLAGS",
                "UID",
                "ENVELOPE",
                "BODYSTRUCTURE",
                "BODY",
                "RFC822.SIZE",
                "INTERNALDATE",
                "MODSEQ",
                "EMAILID",
                "THREADID",
                "RFC822",
                "RFC822.HEADER",
            )
        ]
    ),
    st.builds(
        lambda part, text, peek, partial: c.FetchItem.body(
            c.Section(part, text), peek=peek, partial=partial
        ),
        st.lists(st.integers(1, 50), max_size=3).map(tuple),
        st.sampled_from([None, "HEADER", "TEXT"]),
        st.booleans(),
        st.one_of(st.none(), st.tuples(st.integers(0, 2**32 - 1), st.integers(1, 2**32 - 1))),
    ),
    st.builds(
        lambda part, text, fields: c.FetchItem.body(c.Section(part, text, fields)),
        st.lists(st.integers(1, 50), max_size=2).map(tuple),
        st.sampled_from(["HEADER.FIELDS", "HEADER.FIELDS.NOT"]),
        st.lists(field_names, min_size=1, max_size=3).map(tuple),
    ),
    st.builds(lambda p: c.FetchItem.binary(p), st.lists(st.integers(1, 9), max_size=3).map(tuple)),
    st.builds(
        lambda p: c.FetchItem.binary_size(p), st.lists(st.integers(1, 9), max_size=3).map(tuple)
    ),
)


def _fetch(
    target: c.MessageSet,
    items: tuple[c.FetchItem, ...] | c.FetchMacro,
    cs: ModSeq | None,
    van: bool,
) -> c.Fetch:
    uid = isinstance(target, UIDSet) or target == LAST_SEARCH_UID
    return c.Fetch(target, items, cs, van and uid and cs is not None)


commands: st.SearchStrategy[c.Command] = st.one_of(
    st.sampled_from(
        [
            c.Capability(),
            c.Noop(),
            c.Logout(),
            c.StartTLS(),
            c.Namespace(),
            c.Check(),
            c.Close(),
            c.Unselect(),
            c.Expunge(),
            c.Idle(),
            c.Compress(),
        ]
    ),
    st.builds(c.Login, hostile, hostile.map(Secret)),
    st.builds(
        lambda m, ir: c.Authenticate(m, ir),
        st.sampled_from(["PLAIN", "XOAUTH2", "SCRAM-SHA-256"]),
        st.one_of(st.none(), st.binary(max_size=40).map(Secret)),
    ),
    st.builds(
        lambda caps: c.Enable(caps), st.lists(ascii_atomish, min_size=1, max_size=3).map(tuple)
    ),
    st.builds(c.Select, mailbox, st.booleans()),
    st.builds(c.Examine, mailbox, st.booleans()),
    st.builds(
        lambda m, v, ms, known, match: c.Select(
            m, qresync=c.QResync(v, ms, known, match if known else None)
        ),
        mailbox,
        st.integers(1, 2**32 - 1),
        modseqs,
        st.one_of(st.none(), uidsets),
        st.one_of(st.none(), st.tuples(seqsets, uidsets)),
    ),
    st.builds(
        c.Create,
        mailbox,
        st.lists(st.sampled_from(["\\Drafts", "\\Sent", "\\Archive"]), max_size=2).map(tuple),
    ),
    st.builds(c.Delete, mailbox),
    st.builds(c.Subscribe, mailbox),
    st.builds(c.Unsubscribe, mailbox),
    st.builds(c.GetQuotaRoot, mailbox),
    st.builds(c.Rename, mailbox, mailbox),
    st.builds(
        c.List,
        mailbox,
        st.lists(mailbox, min_size=1, max_size=3).map(tuple),
        st.sampled_from([(), ("SUBSCRIBED",), ("SPECIAL-USE", "RECURSIVEMATCH")]),
        st.sampled_from([(), ("CHILDREN",), ("SUBSCRIBED", "SPECIAL-USE")]),
        st.sampled_from([(), ("MESSAGES", "UIDNEXT")]),
    ),
    st.builds(c.Lsub, mailbox, mailbox),
    st.builds(
        c.Status,
        mailbox,
        st.sampled_from([("MESSAGES",), ("UIDNEXT", "UIDVALIDITY", "UNSEEN", "HIGHESTMODSEQ")]),
    ),
    st.builds(c.Append, mailbox, st.lists(append_messages, min_size=1, max_size=3).map(tuple)),
    st.builds(c.UidExpunge, st.one_of(uidsets, st.just(LAST_SEARCH_UID))),
    st.builds(
        c.Search,
        search_keys(),
        st.booleans(),
        st.sampled_from([None, (), ("MIN", "MAX"), ("SAVE",), ("COUNT", "ALL")]),
    ),
    st.builds(
        c.Sort,
        search_keys(),
        st.booleans(),
        st.sampled_from([("ARRIVAL",), ("REVERSE DATE", "SUBJECT")]),
        st.sampled_from([None, ("COUNT",)]),
    ),
    st.builds(
        c.Thread, search_keys(), st.booleans(), st.sampled_from(["REFERENCES", "ORDEREDSUBJECT"])
    ),
    st.builds(
        _fetch,
        msgsets,
        st.one_of(
            st.sampled_from(list(c.FetchMacro)),
            st.lists(fetch_items, min_size=1, max_size=4, unique=True).map(tuple),
        ),
        st.one_of(st.none(), modseqs),
        st.booleans(),
    ),
    st.builds(
        c.Store,
        msgsets,
        st.sampled_from(list(c.StoreMode)),
        flags.filter(bool),
        st.booleans(),
        st.one_of(st.none(), st.integers(0, 2**63 - 1).map(ModSeq)),
    ),
    st.builds(c.Copy, msgsets, mailbox),
    st.builds(c.Move, msgsets, mailbox),
    st.builds(
        lambda pairs: c.Id(pairs),
        st.one_of(
            st.none(),
            st.lists(
                st.tuples(
                    hostile.filter(lambda s: len(s.encode()) <= 30), st.one_of(st.none(), hostile)
                ),
                max_size=4,
            ),
        ),
    ),
    st.builds(c.GetQuota, hostile),
    st.builds(
        c.SetQuota,
        hostile,
        st.lists(
            st.tuples(st.sampled_from(["STORAGE", "MESSAGE"]), st.integers(0, 2**63 - 1)),
            max_size=2,
        ).map(tuple),
    ),
)


def _has_nul(cmd: c.Command) -> bool:
    # NUL can only travel inside a modified UTF-7 mailbox name or a binary APPEND.
    return (
        "\\x00" in repr(cmd)
        or "\x00" in repr(cmd)
        or (isinstance(cmd, c.Login) and b"\x00" in cmd.password.reveal_bytes())
    )


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(commands, st.sampled_from(OPTIONS))
def test_round_trip(cmd: c.Command, opts: EncodeOptions) -> None:
    try:
        back = transmit(cmd, opts)
    except InvalidArgumentError as exc:
        refusal = str(exc)
    else:
        refusal = ""
    if refusal:
        # Refused only for what cannot be sent: a NUL outside modified UTF-7 or
        # a binary literal, or a binary APPEND without BINARY.
        assert _has_nul(cmd) or "BINARY" in refusal, (cmd, refusal)
        return
    if isinstance(cmd, c.Authenticate) and not opts.sasl_ir:
        cmd = c.Authenticate(cmd.mechanism)  # the initial response goes after "+"
    if isinstance(cmd, c.Append) and opts.binary:
        # NUL-bearing messages are sent as literal8 automatically.
        cmd = c.Append(
            cmd.mailbox,
            tuple(
                c.AppendMessage(m.data, m.flags, m.internal_date, m.binary or b"\x00" in m.data)
                for m in cmd.messages_to_append
            ),
        )
    assert back == cmd


@settings(max_examples=100)
@given(commands, st.sampled_from(OPTIONS))
def test_round_trip_bytewise(cmd: c.Command, opts: EncodeOptions) -> None:
    try:
        whole = transmit(cmd, opts)
    except InvalidArgumentError:
        return
    assert transmit(cmd, opts, bytewise=True) == whole


@pytest.mark.parametrize("name", ["INBOX", "inbox", "InBoX"])
def test_inbox_is_case_insensitive(name: str) -> None:
    back = transmit(c.Select(name), OPTIONS[1])
    assert back == c.Select("INBOX")


def test_several_commands_in_one_buffer() -> None:
    opts = OPTIONS[1]
    data = b"".join(
        f.data
        for i, cmd in enumerate(
            [c.Noop(), c.Select('é{3} (b"'), c.Fetch(UIDSet(1), (c.FetchItem("FLAGS"),))]
        )
        for f in serialize(f"A{i}", cmd, opts)
    )
    reader = CommandReader()
    reader.feed(data)
    got = []
    while (out := reader.next_command()) is not None:
        assert isinstance(out, ParsedCommand)
        got.append(to_command(out))
    assert got == [c.Noop(), c.Select('é{3} (b"'), c.Fetch(UIDSet(1), (c.FetchItem("FLAGS"),))]


def _check(fn: Callable[[], object]) -> None:
    fn()
