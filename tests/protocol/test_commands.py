"""Command objects: validation and the metadata the scheduler builds footprints from."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable

import pytest

from pipeimap.errors import InvalidArgumentError
from pipeimap.protocol import Flag, ModSeq, Secret
from pipeimap.protocol import _commands as c
from pipeimap.protocol import _search as S
from pipeimap.protocol._seqset import LAST_SEARCH_SEQ, LAST_SEARCH_UID, SeqSet, UIDSet


def test_uid_ness_comes_from_the_set_type() -> None:
    items = (c.FetchItem("FLAGS"),)
    assert c.Fetch(UIDSet(1), items).name == "UID FETCH"
    assert c.Fetch(UIDSet(1), items).is_uid
    assert c.Fetch(SeqSet(1), items).name == "FETCH"
    assert not c.Fetch(SeqSet(1), items).is_uid
    assert c.Fetch(LAST_SEARCH_UID, items).name == "UID FETCH"
    assert c.Fetch(LAST_SEARCH_SEQ, items).name == "FETCH"
    assert c.Store(UIDSet(1), c.StoreMode.ADD, (Flag.SEEN,)).name == "UID STORE"
    assert c.Copy(SeqSet(1), "x").name == "COPY"
    assert c.Move(UIDSet(1), "x").name == "UID MOVE"
    assert c.UidExpunge(UIDSet(1)).name == "UID EXPUNGE"
    assert c.Search(S.ALL, uid=True).name == "UID SEARCH"
    assert c.Sort(S.ALL).name == "SORT"
    assert c.Thread(S.ALL, uid=True).name == "UID THREAD"
    assert c.Noop().name == "NOOP"
    assert not c.Noop().is_uid
    with pytest.raises(InvalidArgumentError):
        c.UidExpunge(SeqSet(1))  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        c.UidExpunge(LAST_SEARCH_SEQ)
    with pytest.raises(InvalidArgumentError):
        c.Fetch([1, 2, 3], items)  # type: ignore[arg-type]


def test_seq_args_and_last_search() -> None:
    items = (c.FetchItem("FLAGS"),)
    assert c.Fetch(SeqSet(1), items).seq_args
    assert not c.Fetch(UIDSet(1), items).seq_args
    assert not c.Fetch(LAST_SEARCH_SEQ, items).seq_args  # "$" does not count (RFC 5182)
    assert c.Fetch(LAST_SEARCH_SEQ, items).uses_last_search
    assert not c.Noop().seq_args
    # A sequence set inside UID SEARCH still counts (pipelining rule R2).
    s = c.Search(S.messages(SeqSet.parse("1:5")) & S.SEEN, uid=True)
    assert s.seq_args
    assert not c.Search(S.uid(UIDSet(5)), uid=True).seq_args
    assert c.Search(S.uid(LAST_SEARCH_UID)).uses_last_search
    assert c.Search(S.not_(S.messages(LAST_SEARCH_SEQ))).uses_last_search
    assert not c.Search(S.messages(LAST_SEARCH_SEQ)).seq_args
    assert c.Search(S.ALL, return_options=("SAVE",)).saves_result
    assert not c.Search(S.ALL, return_options=("MIN",)).saves_result
    assert not c.Search(S.ALL).saves_result


def test_search_reads() -> None:
    key = S.or_(S.UNSEEN, S.keyword("$Junk")) & ~S.FLAGGED & S.NEW & S.from_("x")
    assert key.flags_read() == {Flag.SEEN, Flag("$Junk"), Flag.FLAGGED, Flag.RECENT}
    assert S.ALL.flags_read() == frozenset()
    assert S.modseq(5).reads_modseq
    assert c.Search(S.SEEN & S.modseq(5)).reads_modseq
    assert not S.SEEN.reads_modseq
    assert c.Search(S.DELETED).flags_read == {Flag.DELETED}
    assert S.from_("é").is_ascii is False
    assert S.from_("plain").is_ascii


def test_search_key_combinators() -> None:
    k = S.SEEN & S.DRAFT & S.FLAGGED
    assert k == S.and_(S.SEEN, S.DRAFT, S.FLAGGED)  # flattened
    assert S.and_(S.SEEN) == S.SEEN
    assert S.not_(S.SEEN) == ~S.SEEN
    assert S.or_(S.SEEN, S.DRAFT) == (S.SEEN | S.DRAFT)
    with pytest.raises(InvalidArgumentError):
        S.and_()
    with pytest.raises(InvalidArgumentError):
        S.not_("SEEN")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        S.keyword("\\Seen")
    with pytest.raises(InvalidArgumentError):
        S.uid(SeqSet(1))  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        S.messages(UIDSet(1))  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        S.modseq(5, ("\\Seen", "mine"))


def test_fetch_items_metadata() -> None:
    body = c.FetchItem.body("", peek=False)
    peek = c.FetchItem.body("1.MIME")
    part = c.FetchItem.body("", partial=(100, 50))
    assert body.sets_seen
    assert not peek.sets_seen
    assert c.FetchItem("RFC822").sets_seen
    assert c.FetchItem("RFC822.TEXT").sets_seen
    assert not c.FetchItem("RFC822.HEADER").sets_seen
    assert c.FetchItem.binary(peek=False).sets_seen
    assert not c.FetchItem.binary((1,)).sets_seen
    assert not c.FetchItem.binary_size((1,)).sets_seen
    assert body.response_name == "BODY[]"
    assert peek.response_name == "BODY[1.MIME]"
    assert part.response_name == "BODY[]<100>"
    fields = c.FetchItem.body(c.Section((2,), "HEADER.FIELDS", ("From", "to")))
    assert fields.response_name == "BODY[2.HEADER.FIELDS (FROM TO)]"
    assert c.FetchItem.binary((1, 2)).response_name == "BINARY[1.2]"
    assert c.FetchItem("FLAGS").response_name == "FLAGS"
    f = c.Fetch(UIDSet(1), (body, c.FetchItem("UID")))
    assert f.sets_seen
    assert f.flags_written == frozenset({Flag.SEEN})
    assert not f.reads_flags
    full = c.Fetch(SeqSet(1), c.FetchMacro.FULL)
    assert full.reads_flags
    assert not full.sets_seen
    assert [i.kind for i in full.expanded_items] == [
        "FLAGS",
        "INTERNALDATE",
        "RFC822.SIZE",
        "ENVELOPE",
        "BODY",
    ]
    assert c.Fetch(SeqSet(1), ("FLAGS", "UID")).expanded_items == (  # type: ignore[arg-type]
        c.FetchItem("FLAGS"),
        c.FetchItem("UID"),
    )


def test_fetch_validation() -> None:
    bad: list[Callable[[], object]] = [
        lambda: c.FetchItem("BOGUS"),
        lambda: c.FetchItem("FLAGS", peek=True),
        lambda: c.FetchItem.body("", partial=(0, 0)),
        lambda: c.FetchItem.body("", partial=(-1, 5)),
        lambda: c.FetchItem.body("", partial=(0, 2**32)),
        lambda: c.FetchItem.body("MIME"),
        lambda: c.FetchItem.body("BOGUS"),
        lambda: c.FetchItem.body("HEADER.FIELDS"),
        lambda: c.Section((0,)),
        lambda: c.Section(text="HEADER.FIELDS"),
        lambda: c.Section(text="TEXT", fields=("From",)),
        lambda: c.Fetch(SeqSet(1), ()),
        lambda: c.Fetch(SeqSet(1), (c.FetchItem("FLAGS"),), vanished=True),
        lambda: c.Fetch(SeqSet(1), (c.FetchItem("FLAGS"),), changed_since=ModSeq(1), vanished=True),
        lambda: c.Fetch(UIDSet(1), (c.FetchItem("FLAGS"),), vanished=True),
        lambda: c.Fetch(UIDSet(1), (c.FetchItem("FLAGS"),), changed_since=-1),  # type: ignore[arg-type]
    ]
    for attempt in bad:
        with pytest.raises(InvalidArgumentError):
            attempt()


def test_store_metadata() -> None:
    add = c.Store(UIDSet(1), c.StoreMode.ADD, (Flag.SEEN, "$Label"), silent=True)  # type: ignore[arg-type]
    assert add.flags_written == frozenset({Flag.SEEN, Flag("$Label")})
    assert not add.reads_flags
    assert add.flags == (Flag.SEEN, Flag("$Label"))
    replace = c.Store(SeqSet(1), c.StoreMode.REPLACE, (Flag.SEEN,))
    assert replace.flags_written is None  # all flags
    assert replace.reads_flags
    assert c.Store(UIDSet(1), c.StoreMode.ADD, (Flag.SEEN, Flag.SEEN)).flags == (Flag.SEEN,)
    with pytest.raises(InvalidArgumentError):
        c.Store(UIDSet(1), c.StoreMode.ADD, ())
    with pytest.raises(InvalidArgumentError):
        c.Store(UIDSet(1), "+FLAGS", (Flag.SEEN,))  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        c.Store(UIDSet(1), c.StoreMode.ADD, "\\Seen")  # type: ignore[arg-type]


def test_mailboxes_and_literal_sizes() -> None:
    assert c.Rename("a", "b").mailboxes == ("a", "b")
    assert c.Copy(UIDSet(1), "x").mailboxes == ("x",)
    assert c.Select("x").mailboxes == ("x",)
    assert c.Noop().mailboxes == ()
    app = c.Append("x", (c.AppendMessage(b"abc"), c.AppendMessage(b"defgh")))
    assert app.message_literal_sizes == (3, 5)
    assert app.is_multiappend
    assert not c.Append("x", c.AppendMessage(b"a")).is_multiappend  # type: ignore[arg-type]
    assert c.Noop().message_literal_sizes == ()


def test_commands_are_frozen_and_hashable() -> None:
    cmd = c.Fetch(UIDSet(1), (c.FetchItem("FLAGS"),))
    with pytest.raises(dataclasses.FrozenInstanceError):
        cmd.target = UIDSet(2)  # type: ignore[misc]
    assert hash(cmd) == hash(c.Fetch(UIDSet(1), (c.FetchItem("FLAGS"),)))
    assert not hasattr(cmd, "__dict__")


def test_secrets_stay_hidden() -> None:
    login = c.Login("joe", Secret("hunter2"))
    assert "hunter2" not in repr(login)
    assert "hunter2" not in str(login)
    auth = c.Authenticate("PLAIN", Secret(b"\x00joe\x00hunter2"))
    assert "hunter2" not in repr(auth)
    assert c.Login("joe", "pw").password == Secret("pw")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        c.Login("joe", 1234)  # type: ignore[arg-type]


def test_misc_validation() -> None:
    bad: list[Callable[[], object]] = [
        lambda: c.Enable(()),
        lambda: c.Status("x", ()),
        lambda: c.Status("x", ("BOGUS",)),
        lambda: c.List("", ()),
        lambda: c.List("", ("*",), select_options=("RECURSIVEMATCH",)),
        lambda: c.Append("x", ()),
        lambda: c.Append("x", (b"raw",)),  # type: ignore[arg-type]
        lambda: c.AppendMessage("text"),  # type: ignore[arg-type]
        lambda: c.AppendMessage(b"x", (Flag.RECENT,)),
        lambda: c.QResync(0, ModSeq(1)),
        lambda: c.QResync(1, ModSeq(0)),
        lambda: c.QResync(1, ModSeq(1), None, (SeqSet(1), UIDSet(1))),
        lambda: c.QResync(1, ModSeq(1), SeqSet(1)),  # type: ignore[arg-type]
        lambda: c.Select("a\ud800"),
        lambda: c.Select(b"INBOX"),  # type: ignore[arg-type]
        lambda: c.Create("x", ("Drafts",)),
        lambda: c.Id({"k" * 31: "v"}),
        lambda: c.Id({"k": "v" * 1025}),
        lambda: c.Id({str(i): None for i in range(31)}),
        lambda: c.SetQuota("", (("STORAGE", -1),)),
        lambda: c.Sort(S.ALL, sort_keys=()),
        lambda: c.Sort(S.ALL, sort_keys=("REVERSE",)),
        lambda: c.Search("ALL"),  # type: ignore[arg-type]
    ]
    for attempt in bad:
        with pytest.raises(InvalidArgumentError):
            attempt()
    assert c.List("", "*").patterns == ("*",)  # type: ignore[arg-type]
    assert c.Authenticate("plain").mechanism == "PLAIN"
    assert c.Create("x", ("\\drafts",)).special_use == ("\\drafts",)
    assert c.List("", ("*",)).is_extended is False
    assert c.List("", ("a", "b")).is_extended
    assert c.Sort(S.ALL, sort_keys=("reverse  date",)).sort_keys == ("REVERSE DATE",)
    d = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    assert c.AppendMessage(bytearray(b"x"), internal_date=d).data == b"x"  # type: ignore[arg-type]
