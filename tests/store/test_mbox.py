"""mboxrd store specifics: the file format, quoting (Hypothesis), flags in place,
rewrites that move keys, committed-size recovery."""

from __future__ import annotations

import mailbox
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeimap.protocol import Flag
from pipeimap.store import JobState, MboxStore, iter_mbox
from pipeimap.store._mboxrd import (
    FromQuoter,
    format_from_line,
    parse_from_date,
    quote,
    unquote,
)

DATE = datetime(2024, 1, 3, 4, 5, 6, tzinfo=timezone.utc)

# Lines built from the pieces that matter for quoting.
_line = st.lists(
    st.sampled_from([b"From ", b">", b">From ", b"From", b"x", b" ", b"\r", b"\xff", b"F"]),
    max_size=6,
).map(b"".join)
messages = st.lists(_line, max_size=12).flatmap(
    lambda lines: st.sampled_from([b"\n", b"\r\n"]).map(lambda eol: eol.join(lines))
) | st.binary(max_size=200)


@given(messages)
def test_quote_unquote_round_trip(data: bytes) -> None:
    quoted = quote(data)
    assert unquote(quoted) == data
    # No line of the quoted text can be taken for a separator.
    assert not any(line.startswith(b"From ") for line in quoted.split(b"\n"))


@given(messages, st.lists(st.integers(min_value=0, max_value=300), max_size=8))
def test_streaming_quoter_matches_whole_quoting(data: bytes, cuts: list[int]) -> None:
    q = FromQuoter()
    bounds = sorted({min(c, len(data)) for c in cuts})
    out, prev = [], 0
    for b in [*bounds, len(data)]:
        out.append(q.feed(data[prev:b]))
        prev = b
    out.append(q.finish())
    assert b"".join(out) == quote(data)


@settings(max_examples=60, deadline=None)
@given(st.lists(messages, min_size=1, max_size=5))
def test_store_round_trip_hypothesis(
    tmp_path_factory: pytest.TempPathFactory, msgs: list[bytes]
) -> None:
    store = MboxStore(tmp_path_factory.mktemp("mb") / "one.mbox", fsync=False)
    keys = [store.deliver("INBOX", m, flags=[Flag.SEEN]) for m in msgs]
    assert [store.read(k) for k in keys] == msgs
    assert [m.size for m in store.iter_messages("INBOX")] == [len(m) for m in msgs]


def test_file_format(tmp_path: Path) -> None:
    store = MboxStore(tmp_path)
    data = b"Return-Path: <bounce@example.org>\r\nSubject: x\r\n\r\nFrom here\r\n"
    key = store.deliver(
        "INBOX", data, flags=[Flag.SEEN, Flag.ANSWERED, Flag("$Forwarded")], internaldate=DATE
    )
    assert key == "INBOX.mbox:0"
    raw = (tmp_path / "INBOX.mbox").read_bytes()
    lines = raw.split(b"\n")
    assert lines[0] == b"From bounce@example.org Wed Jan  3 04:05:06 2024"
    assert lines[1] == b"Status: RO\r"
    assert lines[2] == b"X-Status: A   \r"
    assert lines[3].startswith(b"X-Keywords: $Forwarded ")
    assert b"\r\n>From here\r\n\n" in raw
    assert raw.endswith(b"\r\n\n")


def test_python_mailbox_module_reads_our_file(tmp_path: Path) -> None:
    store = MboxStore(tmp_path / "x.mbox")
    for i in range(3):
        store.deliver("INBOX", b"Subject: m%d\n\nFrom body\n" % i, internaldate=DATE)
    msgs = list(mailbox.mbox(str(tmp_path / "x.mbox")))
    assert [m["Subject"] for m in msgs] == ["m0", "m1", "m2"]
    assert all(m.get_from().endswith("2024") for m in msgs)


def test_from_line_dates() -> None:
    line = format_from_line("a@b", DATE)
    assert parse_from_date(line) == DATE
    assert parse_from_date(b"From x Wed Jan  3 04:05:06 +0100 2024\n") == datetime(
        2024, 1, 3, 3, 5, 6, tzinfo=timezone.utc
    )
    assert parse_from_date(b"From x nothing here\n") is None
    assert format_from_line("has space\x00", DATE).startswith(b"From hasspace ")


def test_set_flags_in_place_keeps_size_and_key(tmp_path: Path) -> None:
    store = MboxStore(tmp_path)
    k1 = store.deliver("INBOX", b"one\r\n")
    k2 = store.deliver("INBOX", b"two\r\n")
    size = (tmp_path / "INBOX.mbox").stat().st_size
    assert store.set_flags(k1, [Flag.SEEN, Flag.DELETED, Flag("kw1"), Flag("kw2")]) == {}
    assert (tmp_path / "INBOX.mbox").stat().st_size == size
    assert store.flags_of(k1) == {Flag.SEEN, Flag.DELETED, Flag("kw1"), Flag("kw2")}
    assert store.flags_of(k2) == frozenset()
    assert store.read(k1) == b"one\r\n"
    assert store.read(k2) == b"two\r\n"


def test_set_flags_that_do_not_fit_rewrite_and_move_keys(tmp_path: Path) -> None:
    store = MboxStore(tmp_path)
    k1 = store.deliver("INBOX", b"one\r\n")
    k2 = store.deliver("INBOX", b"two\r\n")
    many = [Flag(f"keyword{i}") for i in range(20)]
    moved = store.set_flags(k1, many)
    assert set(moved) == {k2}
    assert store.flags_of(k1) == set(many)
    assert store.read(moved[k2]) == b"two\r\n"
    assert store.read(k1) == b"one\r\n"


def test_remove_rewrites_and_reports_moves(tmp_path: Path) -> None:
    store = MboxStore(tmp_path)
    keys = [store.deliver("INBOX", f"m{i}\r\n".encode(), flags=[Flag(f"k{i}")]) for i in range(4)]
    moved = store.remove([keys[0], keys[2]])
    assert set(moved) == {keys[1], keys[3]}
    assert store.read(moved[keys[1]]) == b"m1\r\n"
    assert store.flags_of(moved[keys[3]]) == {Flag("k3")}
    assert not list(tmp_path.glob(".*"))  # no temp file left


def test_torn_tail_is_truncated_by_recover(tmp_path: Path) -> None:
    store = MboxStore(tmp_path, fsync=False)
    state = JobState(tmp_path / "state.db")
    k1 = store.deliver("INBOX", b"committed\r\n")
    with state.transaction():
        state.record_message("acct", "INBOX", 1, key=k1)
        state.set_markers("mbox", store.markers())
    good = (tmp_path / "INBOX.mbox").read_bytes()
    # Killed after appending an unrecorded message and half of another.
    store.deliver("INBOX", b"appended, never recorded\r\n")
    with (tmp_path / "INBOX.mbox").open("ab") as f:
        f.write(b"From MAILER-DAEMON Wed Jan  3 04:05:06 2024\nStatus: O \nSubj")
    torn_size = (tmp_path / "INBOX.mbox").stat().st_size
    fresh = MboxStore(tmp_path)
    report = fresh.recover(state.markers("mbox"))
    assert report.truncated == {"INBOX.mbox": torn_size - len(good)}
    assert (tmp_path / "INBOX.mbox").read_bytes() == good
    assert [m.key for m in fresh.iter_messages("INBOX")] == [k1]
    # Re-delivering the lost message after recovery: no duplicate.
    fresh.deliver("INBOX", b"appended, never recorded\r\n")
    assert len(list(fresh.iter_messages("INBOX"))) == 2
    state.close()


def test_recover_leaves_a_file_alone_when_the_marker_is_not_a_boundary(tmp_path: Path) -> None:
    store = MboxStore(tmp_path)
    store.deliver("INBOX", b"a\r\n")
    store.deliver("INBOX", b"b\r\n")
    before = (tmp_path / "INBOX.mbox").read_bytes()
    report = store.recover({"INBOX.mbox": 7})
    assert report.truncated == {}
    assert report.warnings
    assert (tmp_path / "INBOX.mbox").read_bytes() == before
    assert store.recover({"INBOX.mbox": 10**9}).warnings  # shorter than committed


def test_exception_truncates_the_partial_append(tmp_path: Path) -> None:
    store = MboxStore(tmp_path)
    store.deliver("INBOX", b"a\r\n")
    before = (tmp_path / "INBOX.mbox").read_bytes()

    def fail_mid_write() -> None:
        with store.open_writer("INBOX") as w:
            w.write(b"x" * 200_000)  # past the header buffer: really on disk
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        fail_mid_write()
    assert (tmp_path / "INBOX.mbox").read_bytes() == before


def test_appending_to_a_foreign_mbox(tmp_path: Path) -> None:
    path = tmp_path / "old.mbox"
    path.write_bytes(b"From someone Mon Jan  1 00:00:00 2001\nSubject: old\n\nno final newline")
    store = MboxStore(path)
    assert store.single_file
    key = store.deliver("Whatever", b"new\n")
    assert store.read(key) == b"new\n"
    msgs = list(store.iter_messages("INBOX"))
    assert [m.key for m in msgs][-1] == key
    assert store.read(msgs[0].key) == b"Subject: old\n\nno final newline"
    assert [m.data for m in iter_mbox(path)][-1] == b"new\r\n"


def test_nested_mailboxes_are_files_in_folders(tmp_path: Path) -> None:
    store = MboxStore(tmp_path)
    key = store.deliver("Archive/2024/Q1", b"x")
    assert key == "Archive/2024/Q1.mbox:0"
    assert store.mailboxes() == ["Archive/2024/Q1"]
    assert store.mailbox_of(key) == "Archive/2024/Q1"
    assert store.lookup("Archive/2024/Q1", "anything") is None


def test_our_mbox_imports_with_flags_and_original_bytes(tmp_path: Path) -> None:
    store = MboxStore(tmp_path)
    data = b"Subject: x\r\n\r\nFrom line\r\n>From quoted\r\n"
    store.deliver(
        "INBOX", data, flags=[Flag.SEEN, Flag.FLAGGED, Flag("$Label1")], internaldate=DATE
    )
    [msg] = list(iter_mbox(tmp_path / "INBOX.mbox"))
    assert msg.data == data
    assert msg.flags == {Flag.SEEN, Flag.FLAGGED, Flag("$Label1")}
    assert msg.internaldate == DATE
