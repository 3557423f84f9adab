"""Known-answer tests for the command serializer (RFC 9051 / RFC 3501 examples and extensions)."""

from __future__ import annotations

import datetime

import pytest

from pipeimap.errors import InvalidArgumentError
from pipeimap.protocol import Flag, ModSeq, Secret
from pipeimap.protocol import _search as S
from pipeimap.protocol._commands import (
    Append,
    AppendMessage,
    Authenticate,
    Capability,
    Check,
    Close,
    Command,
    Compress,
    Copy,
    Create,
    Delete,
    Enable,
    Examine,
    Expunge,
    Fetch,
    FetchItem,
    FetchMacro,
    GetQuota,
    GetQuotaRoot,
    Id,
    Idle,
    List,
    Login,
    Logout,
    Lsub,
    Move,
    Namespace,
    Noop,
    QResync,
    Rename,
    Search,
    Section,
    Select,
    SetQuota,
    Sort,
    StartTLS,
    Status,
    Store,
    StoreMode,
    Subscribe,
    Thread,
    UidExpunge,
    Unselect,
    Unsubscribe,
)
from pipeimap.protocol._seqset import LAST_SEARCH_SEQ, LAST_SEARCH_UID, SeqSet, UIDSet
from pipeimap.protocol._serializer import (
    EncodeOptions,
    Fragment,
    LiteralMode,
    describe_encoding,
    serialize,
    serialize_idle_done,
    serialize_sasl_cancel,
    serialize_sasl_response,
    split_command,
)

PLUS = EncodeOptions(literal_mode=LiteralMode.LITERAL_PLUS)
MINUS = EncodeOptions(literal_mode=LiteralMode.LITERAL_MINUS)
SYNC = EncodeOptions()
UTF8 = EncodeOptions(literal_mode=LiteralMode.LITERAL_PLUS, utf8_accept=True)
PST = datetime.timezone(datetime.timedelta(hours=-7))


def wire(cmd: Command, opts: EncodeOptions = PLUS, tag: str = "A001") -> bytes:
    return b"".join(f.data for f in serialize(tag, cmd, opts))


KATS: list[tuple[Command, bytes]] = [
    (Capability(), b"A001 CAPABILITY\r\n"),
    (Noop(), b"A001 NOOP\r\n"),
    (Logout(), b"A001 LOGOUT\r\n"),
    (StartTLS(), b"A001 STARTTLS\r\n"),
    (Namespace(), b"A001 NAMESPACE\r\n"),
    (Check(), b"A001 CHECK\r\n"),
    (Close(), b"A001 CLOSE\r\n"),
    (Unselect(), b"A001 UNSELECT\r\n"),
    (Expunge(), b"A001 EXPUNGE\r\n"),
    (Idle(), b"A001 IDLE\r\n"),
    (Compress(), b"A001 COMPRESS DEFLATE\r\n"),
    # RFC 9051 section 6.2.3
    (Login("SMITH", Secret("SESAME")), b"A001 LOGIN SMITH SESAME\r\n"),
    (Login("fred smith", Secret('p"w\\')), b'A001 LOGIN "fred smith" "p\\"w\\\\"\r\n'),
    (Login("NIL", Secret("nil")), b'A001 LOGIN "NIL" "nil"\r\n'),
    (Login("", Secret("")), b'A001 LOGIN "" ""\r\n'),
    (Authenticate("GSSAPI"), b"A001 AUTHENTICATE GSSAPI\r\n"),
    (Authenticate("plain", Secret(b"\x00u\x00p")), b"A001 AUTHENTICATE PLAIN\r\n"),  # no SASL-IR
    (Enable(("CONDSTORE", "UTF8=ACCEPT")), b"A001 ENABLE CONDSTORE UTF8=ACCEPT\r\n"),
    (Id(None), b"A001 ID NIL\r\n"),
    (
        Id({"name": "sodr", "version": "19.34", "vendor": "Pink Floyd Music Limited"}),
        b'A001 ID ("name" "sodr" "version" "19.34" "vendor" "Pink Floyd Music Limited")\r\n',
    ),
    (Id({"x": None}), b'A001 ID ("x" NIL)\r\n'),
    # SELECT / EXAMINE (RFC 9051 6.3.2, RFC 7162 3.1.8 and 3.2.5)
    (Select("INBOX"), b"A001 SELECT INBOX\r\n"),
    (Select("inbox"), b"A001 SELECT INBOX\r\n"),
    (Examine("blurdybloop"), b"A001 EXAMINE blurdybloop\r\n"),
    (Select("INBOX", condstore=True), b"A001 SELECT INBOX (CONDSTORE)\r\n"),
    (
        Select(
            "INBOX",
            qresync=QResync(67890007, ModSeq(20050715194045000), UIDSet.parse("41,43:211,214:541")),
        ),
        b"A001 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n",
    ),
    (
        Select(
            "INBOX",
            qresync=QResync(
                67890007,
                ModSeq(90060115194045000),
                UIDSet.parse("1:29997"),
                (
                    SeqSet.parse("5000,7500,9000,9990:9999"),
                    UIDSet.parse(
                        "15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997"
                    ),
                ),
            ),
        ),
        b"A001 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)))\r\n",
    ),
    (Select("~peter/mail/台北/日本語"), b"A001 SELECT ~peter/mail/&U,BTFw-/&ZeVnLIqe-\r\n"),
    (Select("Drafts & more"), b'A001 SELECT "Drafts &- more"\r\n'),
    (Select(""), b'A001 SELECT ""\r\n'),
    (Select("NIL"), b'A001 SELECT "NIL"\r\n'),
    # CREATE/DELETE/RENAME/SUBSCRIBE (RFC 9051 6.3.4-6.3.8, RFC 6154 3)
    (Create("owatagusiam/"), b"A001 CREATE owatagusiam/\r\n"),
    (
        Create("MySpecialArchive", ("\\Archive",)),
        b"A001 CREATE MySpecialArchive (USE (\\Archive))\r\n",
    ),
    (Delete("blurdybloop"), b"A001 DELETE blurdybloop\r\n"),
    (Rename("blurdybloop", "sarasoop"), b"A001 RENAME blurdybloop sarasoop\r\n"),
    (Subscribe("#news.comp.mail.mime"), b"A001 SUBSCRIBE #news.comp.mail.mime\r\n"),
    (Unsubscribe("#news.comp.mail.mime"), b"A001 UNSUBSCRIBE #news.comp.mail.mime\r\n"),
    # LIST (RFC 9051 6.3.9, RFC 5258, RFC 5819, RFC 6154)
    (List("", ("",)), b'A001 LIST "" ""\r\n'),
    (List("#news.comp.mail.misc", ("",)), b'A001 LIST #news.comp.mail.misc ""\r\n'),
    (List("/usr/staff/jones", ("",)), b'A001 LIST /usr/staff/jones ""\r\n'),
    (List("~/Mail/", ("%",)), b"A001 LIST ~/Mail/ %\r\n"),
    (List("", ("*",)), b'A001 LIST "" *\r\n'),
    (
        List("", ("%",), select_options=("SUBSCRIBED",), return_options=("CHILDREN",)),
        b'A001 LIST (SUBSCRIBED) "" % RETURN (CHILDREN)\r\n',
    ),
    (List("", ("INBOX", "Drafts", "Sent/%")), b'A001 LIST "" (INBOX Drafts Sent/%)\r\n'),
    (
        List("", ("%",), return_status=("MESSAGES", "UNSEEN")),
        b'A001 LIST "" % RETURN (STATUS (MESSAGES UNSEEN))\r\n',
    ),
    (
        List("", ("*",), select_options=("SPECIAL-USE",), return_options=("SPECIAL-USE",)),
        b'A001 LIST (SPECIAL-USE) "" * RETURN (SPECIAL-USE)\r\n',
    ),
    (List("", ("a b*",)), b'A001 LIST "" "a b*"\r\n'),
    (Lsub("#news.", "comp.mail.*"), b"A001 LSUB #news. comp.mail.*\r\n"),
    (
        Status("blurdybloop", ("UIDNEXT", "MESSAGES")),
        b"A001 STATUS blurdybloop (UIDNEXT MESSAGES)\r\n",
    ),
    # APPEND (RFC 9051 6.3.12, RFC 3502, RFC 3516)
    (
        Append(
            "saved-messages",
            (
                AppendMessage(
                    b"Date: x\r\n\r\nhi\r\n",
                    (Flag.SEEN,),
                    datetime.datetime(1994, 2, 7, 21, 52, 25, tzinfo=PST),
                ),
            ),
        ),
        b'A001 APPEND saved-messages (\\Seen) " 7-Feb-1994 21:52:25 -0700" {15+}\r\nDate: x\r\n\r\nhi\r\n\r\n',
    ),
    (
        Append(
            "Drafts", (AppendMessage(b"one"), AppendMessage(b"two", (Flag.DRAFT, Flag("$Label1"))))
        ),
        b"A001 APPEND Drafts {3+}\r\none (\\Draft $Label1) {3+}\r\ntwo\r\n",
    ),
    (GetQuota(""), b'A001 GETQUOTA ""\r\n'),
    (GetQuotaRoot("INBOX"), b"A001 GETQUOTAROOT INBOX\r\n"),
    (SetQuota("", (("STORAGE", 512),)), b'A001 SETQUOTA "" (STORAGE 512)\r\n'),
    (UidExpunge(UIDSet.parse("3000:3002")), b"A001 UID EXPUNGE 3000:3002\r\n"),
    (UidExpunge(LAST_SEARCH_UID), b"A001 UID EXPUNGE $\r\n"),
    # SEARCH (RFC 9051 6.4.4, RFC 4731, RFC 5182)
    (
        Search(S.and_(S.FLAGGED, S.since(datetime.date(1994, 2, 1)), ~S.from_("Smith"))),
        b"A001 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM Smith\r\n",
    ),
    (Search(S.DELETED | S.SEEN, uid=True), b"A001 UID SEARCH OR DELETED SEEN\r\n"),
    (
        Search(S.text("string not in mailbox")),
        b'A001 SEARCH TEXT "string not in mailbox"\r\n',
    ),
    (
        Search(
            S.and_(S.DELETED, S.from_("SMITH"), S.since(datetime.date(2004, 10, 1))),
            return_options=("MIN", "COUNT"),
        ),
        b"A001 SEARCH RETURN (MIN COUNT) DELETED FROM SMITH SINCE 1-Oct-2004\r\n",
    ),
    (Search(S.ALL, return_options=()), b"A001 SEARCH RETURN () ALL\r\n"),
    (
        Search(S.UNDELETED & S.unkeyword("$Junk"), uid=True, return_options=("SAVE",)),
        b"A001 UID SEARCH RETURN (SAVE) UNDELETED UNKEYWORD $Junk\r\n",
    ),
    (Search(S.messages(SeqSet.parse("1:100")) & S.UNSEEN), b"A001 SEARCH 1:100 UNSEEN\r\n"),
    (Search(S.uid(LAST_SEARCH_UID) & S.SEEN, uid=True), b"A001 UID SEARCH UID $ SEEN\r\n"),
    (Search(S.messages(LAST_SEARCH_SEQ)), b"A001 SEARCH $\r\n"),
    (Search(S.or_(S.SEEN, S.and_(S.FLAGGED, S.DRAFT))), b"A001 SEARCH OR SEEN (FLAGGED DRAFT)\r\n"),
    (Search(S.header("Message-ID", "<a@b>")), b"A001 SEARCH HEADER Message-ID <a@b>\r\n"),
    (Search(S.larger(1024) & S.smaller(4096)), b"A001 SEARCH LARGER 1024 SMALLER 4096\r\n"),
    (Search(S.modseq(620162338)), b"A001 SEARCH MODSEQ 620162338\r\n"),
    (
        Search(S.modseq(620162338, ("\\Draft", "all"))),
        b'A001 SEARCH MODSEQ "/flags/\\\\Draft" all 620162338\r\n',
    ),
    (Search(S.subject("café")), b"A001 SEARCH CHARSET UTF-8 SUBJECT {5+}\r\ncaf\xc3\xa9\r\n"),
    (Search(S.younger(3600)), b"A001 SEARCH YOUNGER 3600\r\n"),
    (Search(S.emailid("M6d99ac3275bb4e")), b"A001 SEARCH EMAILID M6d99ac3275bb4e\r\n"),
    # SORT / THREAD (RFC 5256)
    (
        Sort(S.UNDELETED & S.since(datetime.date(2004, 2, 28)), sort_keys=("SUBJECT",)),
        b"A001 SORT (SUBJECT) UTF-8 UNDELETED SINCE 28-Feb-2004\r\n",
    ),
    (
        Sort(S.ALL, uid=True, sort_keys=("reverse date", "subject")),
        b"A001 UID SORT (REVERSE DATE SUBJECT) UTF-8 ALL\r\n",
    ),
    (Thread(S.ALL, algorithm="ORDEREDSUBJECT"), b"A001 THREAD ORDEREDSUBJECT UTF-8 ALL\r\n"),
    (Thread(S.ALL, uid=True), b"A001 UID THREAD REFERENCES UTF-8 ALL\r\n"),
    # FETCH (RFC 9051 6.4.5, RFC 3516, RFC 7162, RFC 8474)
    (Fetch(SeqSet.parse("2:4"), FetchMacro.FAST), b"A001 FETCH 2:4 FAST\r\n"),
    (
        Fetch(
            SeqSet.parse("2:4"),
            (
                FetchItem("FLAGS"),
                FetchItem.body(Section(text="HEADER.FIELDS", fields=("DATE", "FROM")), peek=False),
            ),
        ),
        b"A001 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])\r\n",
    ),
    (
        Fetch(UIDSet.parse("4827313:4828442"), (FetchItem("FLAGS"),)),
        b"A001 UID FETCH 4827313:4828442 (FLAGS)\r\n",
    ),
    (
        Fetch(
            UIDSet(1, 2),
            (
                FetchItem.body("", partial=(0, 2048)),
                FetchItem.body("1.2.MIME"),
                FetchItem.body("HEADER"),
            ),
        ),
        b"A001 UID FETCH 1:2 (BODY.PEEK[]<0.2048> BODY.PEEK[1.2.MIME] BODY.PEEK[HEADER])\r\n",
    ),
    (
        Fetch(
            UIDSet(7),
            (FetchItem.binary((1, 2)), FetchItem.binary_size((3,)), FetchItem.binary(peek=False)),
        ),
        b"A001 UID FETCH 7 (BINARY.PEEK[1.2] BINARY.SIZE[3] BINARY[])\r\n",
    ),
    (
        Fetch(
            UIDSet.parse("1:*"),
            ("FLAGS", "MODSEQ", "EMAILID", "THREADID"),  # type: ignore[arg-type]
            changed_since=ModSeq(12345),
            vanished=True,
        ),
        b"A001 UID FETCH 1:* (FLAGS MODSEQ EMAILID THREADID) (CHANGEDSINCE 12345 VANISHED)\r\n",
    ),
    (
        Fetch(SeqSet.parse("1:*"), (FetchItem("FLAGS"),), changed_since=ModSeq(12345)),
        b"A001 FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)\r\n",
    ),
    (Fetch(LAST_SEARCH_UID, FetchMacro.ALL), b"A001 UID FETCH $ ALL\r\n"),
    (
        Fetch(
            SeqSet(1),
            (
                FetchItem.body(
                    Section((1,), "HEADER.FIELDS.NOT", ("X-(weird)", "NIL")), partial=(10, 5)
                ),
            ),
        ),
        b'A001 FETCH 1 (BODY.PEEK[1.HEADER.FIELDS.NOT ("X-(weird)" "NIL")]<10.5>)\r\n',
    ),
    # STORE (RFC 9051 6.4.6, RFC 7162 3.1.3)
    (
        Store(SeqSet.parse("2:4"), StoreMode.ADD, (Flag.DELETED,)),
        b"A001 STORE 2:4 +FLAGS (\\Deleted)\r\n",
    ),
    (
        Store(UIDSet(7), StoreMode.REMOVE, (Flag.SEEN, Flag("$Forwarded")), silent=True),
        b"A001 UID STORE 7 -FLAGS.SILENT (\\Seen $Forwarded)\r\n",
    ),
    (Store(SeqSet(1), StoreMode.REPLACE, ()), b"A001 STORE 1 FLAGS ()\r\n"),
    (
        Store(
            SeqSet.parse("7,5,9"), StoreMode.ADD, (Flag.DELETED,), unchanged_since=ModSeq(320162338)
        ),
        b"A001 STORE 5,7,9 (UNCHANGEDSINCE 320162338) +FLAGS (\\Deleted)\r\n",
    ),
    (
        Store(LAST_SEARCH_UID, StoreMode.ADD, (Flag.DELETED,)),
        b"A001 UID STORE $ +FLAGS (\\Deleted)\r\n",
    ),
    # COPY / MOVE (RFC 9051 6.4.7-6.4.8)
    (Copy(SeqSet.parse("2:4"), "MEETING"), b"A001 COPY 2:4 MEETING\r\n"),
    (Copy(UIDSet(5), "Sent Items"), b'A001 UID COPY 5 "Sent Items"\r\n'),
    (Move(UIDSet.parse("42:69"), "foo"), b"A001 UID MOVE 42:69 foo\r\n"),
    (Move(SeqSet.parse("2:4"), "Entwürfe"), b"A001 MOVE 2:4 Entw&APw-rfe\r\n"),
]


@pytest.mark.parametrize(("cmd", "expected"), KATS, ids=[type(k[0]).__name__ for k in KATS])
def test_known_answers(cmd: Command, expected: bytes) -> None:
    assert wire(cmd) == expected


def test_sasl_ir() -> None:
    opts = EncodeOptions(sasl_ir=True)
    frags = serialize("A1", Authenticate("PLAIN", Secret(b"\x00user\x00pass")), opts)
    assert b"".join(f.data for f in frags) == b"A1 AUTHENTICATE PLAIN AHVzZXIAcGFzcw==\r\n"
    assert [f.sensitive for f in frags] == [False, True, False]
    assert frags[1].data == b"AHVzZXIAcGFzcw=="
    empty = serialize("A1", Authenticate("EXTERNAL", Secret(b"")), opts)
    assert b"".join(f.data for f in empty) == b"A1 AUTHENTICATE EXTERNAL =\r\n"


def test_login_password_fragment_is_sensitive() -> None:
    frags = serialize("A1", Login("joe", Secret("hunter2")), PLUS)
    secret = [f for f in frags if b"hunter2" in f.data]
    assert secret
    assert all(f.sensitive for f in secret)
    assert all(b"hunter2" not in f.data for f in frags if not f.sensitive)
    assert "hunter2" not in repr(frags)
    # In a literal the header is not secret, the body is.
    frags = serialize("A1", Login("joe", Secret("pässwörd")), SYNC)
    assert frags[0] == Fragment(b"A1 LOGIN joe {10}\r\n", True, False)
    assert frags[1].sensitive
    assert frags[1].data == "pässwörd".encode()
    assert frags[2] == Fragment(b"\r\n")


def test_sasl_helpers() -> None:
    f = serialize_sasl_response(Secret(b"\x00a\x00b"))
    assert f == Fragment(b"AGEAYg==\r\n", False, True)
    assert serialize_sasl_response(b"") == Fragment(b"\r\n", False, True)
    assert serialize_sasl_cancel() == Fragment(b"*\r\n")
    assert serialize_idle_done() == Fragment(b"DONE\r\n")


def test_sync_literal_fragments() -> None:
    cmd = Append("Drafts", (AppendMessage(b"one"), AppendMessage(b"two")))
    frags = serialize("A1", cmd, SYNC)
    assert frags == (
        Fragment(b"A1 APPEND Drafts {3}\r\n", True),
        Fragment(b"one {3}\r\n", True),
        Fragment(b"two\r\n"),
    )


@pytest.mark.parametrize(
    ("size", "opts", "header", "waits"),
    [
        (4096, MINUS, b"{4096+}", False),
        (4097, MINUS, b"{4097}", True),
        (0, MINUS, b"{0+}", False),
        (4097, PLUS, b"{4097+}", False),
        (10**6, PLUS, b"{1000000+}", False),
        (1, SYNC, b"{1}", True),
    ],
)
def test_literal_mode_boundaries(
    size: int, opts: EncodeOptions, header: bytes, waits: bool
) -> None:
    frags = serialize("A1", Append("x", (AppendMessage(b"a" * size),)), opts)
    assert (
        frags[0].data == b"A1 APPEND x " + header + b"\r\n"
        if waits
        else frags[0].data.startswith(b"A1 APPEND x " + header + b"\r\n")
    )
    assert frags[0].wait_for_continuation is waits
    info = describe_encoding(Append("x", (AppendMessage(b"a" * size),)), opts)
    assert info.literal_sizes == (size,)
    assert info.has_sync_literal is waits


def test_binary_append() -> None:
    data = b"\x00\x01bin\r\n"
    cmd = Append("x", (AppendMessage(data),))
    with pytest.raises(InvalidArgumentError, match="NUL"):
        serialize("A1", cmd, PLUS)
    opts = EncodeOptions(literal_mode=LiteralMode.LITERAL_PLUS, binary=True)
    assert wire(cmd, opts) == b"A001 APPEND x ~{7+}\r\n" + data + b"\r\n"
    forced = Append("x", (AppendMessage(b"text", binary=True),))
    assert wire(forced, opts) == b"A001 APPEND x ~{4+}\r\ntext\r\n"
    with pytest.raises(InvalidArgumentError, match="BINARY"):
        serialize("A1", forced, PLUS)


def test_utf8_accept_mode() -> None:
    assert wire(Select("Entwürfe"), UTF8) == 'A001 SELECT "Entwürfe"\r\n'.encode()
    assert wire(Select("Entwürfe"), PLUS) == b"A001 SELECT Entw&APw-rfe\r\n"
    # RFC 6855 section 3: no CHARSET in UTF8=ACCEPT mode, strings quoted as UTF-8.
    assert wire(Search(S.subject("café")), UTF8) == 'A001 SEARCH SUBJECT "café"\r\n'.encode()
    # Control characters in strings still need a literal (none in mailbox names:
    # RFC 9051 section 5.1).
    assert wire(Search(S.subject("a\nb")), UTF8) == b"A001 SEARCH SUBJECT {3+}\r\na\nb\r\n"
    with pytest.raises(InvalidArgumentError, match="NUL"):
        serialize("A1", Search(S.subject("a\x00b")), UTF8)
    with pytest.raises(InvalidArgumentError, match="control character"):
        Select("a\nb")


def test_long_strings_become_literals() -> None:
    s = "x " * 600
    assert wire(Search(S.body(s))) == b"A001 SEARCH BODY {1200+}\r\n" + s.encode() + b"\r\n"
    opts = EncodeOptions(literal_mode=LiteralMode.LITERAL_PLUS, max_quoted=5000)
    assert wire(Search(S.body(s)), opts) == b'A001 SEARCH BODY "' + s.encode() + b'"\r\n'


def test_bad_tags() -> None:
    for tag in ("", "A 1", "A+1", "A\r\n", "é", "A{1}", "*"):
        with pytest.raises(InvalidArgumentError):
            serialize(tag, Noop(), PLUS)


def test_describe_encoding_lines() -> None:
    cmd = Append("Drafts", (AppendMessage(b"one"), AppendMessage(b"two")))
    info = describe_encoding(cmd, SYNC, tag="A1")
    assert info.line_lengths == (len(b"A1 APPEND Drafts {3}\r\n"), len(b" {3}\r\n"), 2)
    assert info.sync_literals == 2
    assert info.total_bytes == len(wire(cmd, SYNC, "A1"))


def test_split_command() -> None:
    big = UIDSet(range(1, 40000, 2))
    parts = split_command(Fetch(big, (FetchItem("FLAGS"),)), 8000, PLUS)
    assert len(parts) > 1
    assert all(describe_encoding(p, PLUS).max_line <= 8000 for p in parts)
    sets = [p.target for p in parts]
    assert all(isinstance(s, UIDSet) for s in sets)
    assert sets[0].union(*sets[1:]) == big  # type: ignore[union-attr, arg-type]
    assert all(p.items == (FetchItem("FLAGS"),) for p in parts)
    # Small, or not splittable: unchanged.
    small = Fetch(UIDSet(1), (FetchItem("FLAGS"),))
    assert split_command(small, 8000) == (small,)
    assert split_command(Noop(), 10) == (Noop(),)
    exp = split_command(UidExpunge(big), 1000)
    assert all(describe_encoding(p).max_line <= 1000 for p in exp)
    store = split_command(Store(big, StoreMode.ADD, (Flag.SEEN,), silent=True), 2000)
    assert all(p.silent and p.flags == (Flag.SEEN,) for p in store)
    mv = split_command(Move(big, "Archive"), 3000)
    assert all(p.mailbox == "Archive" for p in mv)
    with pytest.raises(InvalidArgumentError):
        split_command(Fetch(big, (FetchItem("FLAGS"),)), 30)
