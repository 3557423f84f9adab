"""Behaviour common to the three stores: byte-exact round trips, atomic writes,
idempotent named delivery, removal, Unicode mailbox names."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pipeimap.protocol import Flag
from pipeimap.store import MboxStore, message_name
from pipeimap.store._common import MessageStore

DATE = datetime(2021, 3, 4, 5, 6, 7, tzinfo=timezone.utc)

SAMPLES = {
    "crlf": b"From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n",
    "lf": b"From: a@example.org\nSubject: hi\n\nbody\n",
    "from-lines": (
        b"Subject: quoting\r\n\r\nFrom the start\r\n>From quoted\r\n>>From twice\r\n"
        b"From \r\nFrom\r\n >From not at start\r\nFrom the end"
    ),
    "eight-bit": b"Subject: =?utf-8?q?x?=\r\n\r\n" + bytes(range(256)) + b"\r\n\xff\xfe\x00\r\n",
    "no-final-newline": b"Subject: x\r\n\r\nlast line",
    "empty": b"",
    "only-newlines": b"\n\n\r\n\n",
    "starts-with-from": b"From nobody Mon Jan  1 00:00:00 2024\nSubject: x\n\nFrom \n",
    "mixed-eol": b"A: b\r\nC: d\n\r\nx\ry\n\r\n\n",
    "status-headers": b"Status: RO\r\nX-Status: A   \r\nX-Keywords: k\r\nSubject: x\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_round_trip_byte_for_byte(store: MessageStore, name: str) -> None:
    data = SAMPLES[name]
    key = store.deliver("INBOX", data, flags=[Flag.SEEN], internaldate=DATE)
    assert store.read(key) == data
    [found] = list(store.iter_messages("INBOX"))
    assert found.key == key
    assert found.size == len(data)
    assert found.internaldate == DATE


def test_many_messages_read_back_in_order(store: MessageStore) -> None:
    keys = [
        store.deliver("INBOX", SAMPLES[n], name=message_name(9, i + 1))
        for i, n in enumerate(sorted(SAMPLES))
    ]
    assert [store.read(k) for k in keys] == [SAMPLES[n] for n in sorted(SAMPLES)]
    assert sorted(m.key for m in store.iter_messages("INBOX")) == sorted(keys)


def test_streamed_chunks_any_split(store: MessageStore) -> None:
    data = SAMPLES["from-lines"] * 50
    for size in (1, 2, 3, 7, 64):
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        key = store.deliver("INBOX", iter(chunks))
        assert store.read(key) == data


def test_deliver_accepts_a_file_object(store: MessageStore, tmp_path: Path) -> None:
    src = tmp_path / "src.eml"
    src.write_bytes(SAMPLES["eight-bit"] * 1000)
    with src.open("rb") as f:
        key = store.deliver("INBOX", f)
    assert store.read(key) == src.read_bytes()


def visible_files(store: MessageStore, tmp_path: Path) -> list[tuple[str, int]]:
    out = []
    for p in sorted(tmp_path.rglob("*")):
        if p.is_file() and p.name != "maildirfolder":
            out.append((p.relative_to(tmp_path).as_posix(), p.stat().st_size))
    return out


def test_exception_in_writer_leaves_nothing(store: MessageStore, tmp_path: Path) -> None:
    store.deliver("INBOX", SAMPLES["crlf"])
    before = visible_files(store, tmp_path)
    before_msgs = [(m.key, store.read(m.key)) for m in store.iter_messages("INBOX")]
    writers = []

    def fail_mid_body() -> None:
        with store.open_writer("INBOX", flags=[Flag.SEEN]) as w:
            writers.append(w)
            w.write(b"Subject: half\r\n\r\n")
            w.write(b"From a line\r\n" * 1000)
            raise RuntimeError("connection lost mid-body")

    with pytest.raises(RuntimeError, match="mid-body"):
        fail_mid_body()
    assert visible_files(store, tmp_path) == before
    assert [(m.key, store.read(m.key)) for m in store.iter_messages("INBOX")] == before_msgs
    with pytest.raises(Exception, match="not committed"):
        _ = writers[0].key


def test_named_delivery_is_idempotent(store: MessageStore) -> None:
    if isinstance(store, MboxStore):
        pytest.skip("mbox idempotency is by commit markers, see test_mbox")
    name = message_name(1234, 56)
    k1 = store.deliver("Sent", b"one", flags=[Flag.SEEN], name=name)
    k2 = store.deliver("Sent", b"one", flags=[Flag.FLAGGED], name=name)
    assert k1 == k2
    assert [m.key for m in store.iter_messages("Sent")] == [k1]
    assert store.lookup("Sent", name) == k1
    assert store.lookup("Sent", message_name(1234, 57)) is None


def test_remove(store: MessageStore) -> None:
    keys = [store.deliver("INBOX", b"m%d\r\n" % i) for i in range(5)]
    moved = store.remove([keys[1], keys[3]])
    remaining = [moved.get(k, k) for k in (keys[0], keys[2], keys[4])]
    assert [store.read(k) for k in remaining] == [b"m0\r\n", b"m2\r\n", b"m4\r\n"]
    assert sorted(m.key for m in store.iter_messages("INBOX")) == sorted(remaining)
    store.remove([keys[1]] if not moved else [])  # removing again is not an error


@pytest.mark.parametrize(
    "mailbox",
    ["Archive/2024", "Entwürfe", "日本語/メール", "a.b/c.d", "100%", "x&y", "INBOX/Sub", "Sp ace"],
)
def test_unicode_mailbox_names(store: MessageStore, mailbox: str) -> None:
    key = store.deliver(mailbox, b"hello\r\n")
    assert store.mailbox_of(key) == mailbox
    assert mailbox in store.mailboxes()
    assert [m.key for m in store.iter_messages(mailbox)] == [key]
    assert list(store.iter_messages("INBOX")) == []


def test_mailbox_names_on_disk_are_ascii(store: MessageStore, tmp_path: Path) -> None:
    store.deliver("Ünïcödé/子", b"x")
    for dirpath, dirnames, filenames in os.walk(tmp_path):
        for n in [*dirnames, *filenames]:
            assert n.isascii(), (dirpath, n)


def test_flags_round_trip_through_representable(store: MessageStore) -> None:
    flags = {Flag.SEEN, Flag.ANSWERED, Flag.FLAGGED, Flag.DELETED, Flag.DRAFT}
    flags |= {Flag("$Forwarded"), Flag("$Junk"), Flag("custom")}
    key = store.deliver("INBOX", b"x", flags=flags)
    assert store.flags_of(key) == store.representable(flags)
    moved = store.set_flags(key, {Flag.SEEN})
    key = moved.get(key, key)
    assert store.flags_of(key) == store.representable({Flag.SEEN})
    assert store.read(key) == b"x"


def test_recent_and_wildcard_are_never_stored(store: MessageStore) -> None:
    key = store.deliver("INBOX", b"x", flags=["\\Recent", "\\*", "\\Seen"])
    assert store.flags_of(key) == store.representable([Flag.SEEN])


def test_recover_on_clean_store_is_a_no_op(store: MessageStore) -> None:
    key = store.deliver("INBOX", b"x")
    store.flush()
    report = store.recover(store.markers())
    assert report.removed_temp_files == ()
    assert dict(report.truncated) == {}
    assert store.read(key) == b"x"


def test_unknown_key(store: MessageStore) -> None:
    other = {"maildir": "./nope", "mbox": "INBOX.mbox:12345", "eml": "INBOX/nope.eml"}
    with pytest.raises(KeyError):
        store.read(other[store.kind])  # type: ignore[arg-type]


def _chunks() -> Iterator[bytes]:
    yield b"a"
    yield "not bytes"  # type: ignore[misc]


def test_chunks_must_be_bytes(store: MessageStore) -> None:
    with pytest.raises(ValueError, match="bytes"):
        store.deliver("INBOX", _chunks())
    assert list(store.iter_messages("INBOX")) == []
