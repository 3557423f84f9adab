"""Import readers on generated mbox / Maildir / .eml trees."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pipeimap.errors import StoreError
from pipeimap.protocol import Flag
from pipeimap.store import (
    MaildirStore,
    MboxStore,
    iter_eml_folder,
    iter_maildir,
    iter_mbox,
    normalize_crlf,
)

DATE = datetime(2023, 7, 8, 9, 10, 11, tzinfo=timezone.utc)

MBOXO = (
    b"From alice@example.org Sat Jul  8 09:10:11 2023\n"
    b"Message-ID: <one@example.org>\n"
    b"Date: Fri, 07 Jul 2023 10:00:00 +0200\n"
    b"Status: RO\n"
    b"X-Status: AF\n"
    b"X-Keywords: $Label1 NonJunk\n"
    b"Subject: first\n"
    b"\n"
    b">From the quoted line\n"
    b">>From twice quoted\n"
    b"From unquoted but not a separator line\n"
    b"\n"
    b"From bob@example.org Sun Jul  9 00:00:00 2023\n"
    b"X-Mozilla-Status: 1003\n"
    b"Subject: second\n"
    b"\n"
    b"body\n"
    b"\n"
)


def test_mbox_messages_flags_dates_and_unquoting(tmp_path: Path) -> None:
    p = tmp_path / "in.mbox"
    p.write_bytes(MBOXO)
    first, second = iter_mbox(p)
    assert first.data == (
        b"Message-ID: <one@example.org>\r\nDate: Fri, 07 Jul 2023 10:00:00 +0200\r\n"
        b"Subject: first\r\n\r\nFrom the quoted line\r\n>From twice quoted\r\n"
        b"From unquoted but not a separator line\r\n"
    )
    assert first.flags == {Flag.SEEN, Flag.ANSWERED, Flag.FLAGGED, Flag("$Label1"), Flag("NonJunk")}
    assert first.internaldate == DATE  # From_ line, not the Date header
    assert first.message_id == "<one@example.org>"
    assert first.size == len(first.data)
    assert first.sha256 == hashlib.sha256(first.data).hexdigest()
    assert first.source_id == f"mbox:{p.resolve()}:0"
    assert second.data == b"Subject: second\r\n\r\nbody\r\n"
    assert second.flags == {Flag.SEEN, Flag.ANSWERED, Flag("$Forwarded")}
    assert second.source_id == f"mbox:{p.resolve()}:{MBOXO.index(b'From bob')}"


def test_mbox_crlf_file_and_stable_ids(tmp_path: Path) -> None:
    p = tmp_path / "crlf.mbox"
    p.write_bytes(MBOXO.replace(b"\n", b"\r\n"))
    crlf = list(iter_mbox(p))
    q = tmp_path / "lf.mbox"
    q.write_bytes(MBOXO)
    lf = list(iter_mbox(q))
    assert [m.data for m in crlf] == [m.data for m in lf]
    assert [m.source_id for m in iter_mbox(p)] == [m.source_id for m in crlf]
    skipped = list(iter_mbox(p, skip={crlf[0].source_id}))
    assert [m.source_id for m in skipped] == [crlf[1].source_id]


def test_mbox_keep_status_headers(tmp_path: Path) -> None:
    p = tmp_path / "in.mbox"
    p.write_bytes(MBOXO)
    first = next(iter_mbox(p, strip_status=False))
    assert b"X-Status: AF\r\n" in first.data
    assert first.flags == frozenset()


def test_not_an_mbox(tmp_path: Path) -> None:
    p = tmp_path / "x.mbox"
    p.write_bytes(b"Subject: x\n\nnot an mbox\n")
    with pytest.raises(StoreError):
        list(iter_mbox(p))
    (tmp_path / "empty.mbox").write_bytes(b"")
    assert list(iter_mbox(tmp_path / "empty.mbox")) == []


def test_long_lines_cross_the_read_buffer(tmp_path: Path) -> None:
    long = b"x" * 5000 + b"From " + b"y" * 3000
    p = tmp_path / "long.mbox"
    p.write_bytes(b"From a Mon Jan  1 00:00:00 2024\nSubject: l\n\n" + long + b"\n\n")
    [msg] = iter_mbox(p, chunk_size=1024)
    assert msg.data == b"Subject: l\r\n\r\n" + long + b"\r\n"


def test_large_mbox_is_streamed_with_bounded_memory(tmp_path: Path) -> None:
    p = tmp_path / "big.mbox"
    body = (b"0123456789abcdef" * 4 + b"\n") * 300  # ~20 KB per message
    count = 1000  # ~20 MB in all
    with p.open("wb") as f:
        for i in range(count):
            f.write(b"From x@y Mon Jan  1 00:00:00 2024\nSubject: %d\n\n" % i + body + b"\n")
    assert p.stat().st_size > 19_000_000
    tracemalloc.start()
    try:
        gen = iter_mbox(p)
        first = next(gen)
        after_first, _ = tracemalloc.get_traced_memory()
        n = 1 + sum(1 for _ in gen)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert first.data.startswith(b"Subject: 0\r\n")
    assert n == count
    assert after_first < 1_000_000
    assert peak < 2_000_000, peak  # a few messages' worth, never the 20 MB file


def test_maildir_source(tmp_path: Path) -> None:
    md = MaildirStore(tmp_path / "md")
    md.deliver(
        "INBOX",
        b"Message-ID: <a@x>\n\nA\n",
        flags=[Flag.SEEN, Flag.DRAFT],
        internaldate=DATE,
        name="a",
    )
    md.deliver("INBOX", b"B\r\n", flags=[Flag("$Forwarded")], internaldate=DATE, name="b")
    (tmp_path / "md" / "new" / "c").write_bytes(b"Date: Mon, 02 Jan 2006 15:04:05 -0700\n\nC\n")
    (tmp_path / "md" / "tmp" / "partial").write_bytes(b"ignored")
    msgs = list(iter_maildir(tmp_path / "md"))
    root = (tmp_path / "md").resolve()
    assert [m.source_id for m in msgs] == [f"maildir:{root}/{n}" for n in "abc"]
    assert [m.data for m in msgs] == [b"Message-ID: <a@x>\r\n\r\nA\r\n", b"B\r\n", msgs[2].data]
    assert msgs[0].flags == {Flag.SEEN, Flag.DRAFT}
    assert msgs[0].message_id == "<a@x>"
    assert msgs[1].flags == {Flag("$Forwarded")}
    assert msgs[2].flags == frozenset()
    assert msgs[0].internaldate == DATE
    by_header = list(iter_maildir(tmp_path / "md", date_from="header"))
    assert by_header[2].internaldate == datetime(2006, 1, 2, 22, 4, 5, tzinfo=timezone.utc)
    assert by_header[0].internaldate == DATE  # no Date header: mtime
    # Ids do not depend on flags, so a flag change between runs keeps resume working.
    os.rename(md.path_of(md.lookup("INBOX", "a")), tmp_path / "md" / "cur" / "a:2,S")  # type: ignore[arg-type]
    assert [m.source_id for m in iter_maildir(tmp_path / "md")] == [m.source_id for m in msgs]
    with pytest.raises(StoreError):
        list(iter_maildir(tmp_path))


def test_eml_folder_source(tmp_path: Path) -> None:
    d = tmp_path / "emls"
    d.mkdir()
    (d / "b.eml").write_bytes(b"Date: Sat, 08 Jul 2023 09:10:11 +0000\nMessage-ID: <b@x>\n\nB\n")
    (d / "a.EML").write_bytes(b"Subject: no date\r\n\r\nA\r\n")
    (d / "notes.txt").write_bytes(b"not mail")
    (d / "sub").mkdir()
    (d / "sub" / "c.eml").write_bytes(b"\nC\n")
    os.utime(d / "a.EML", (DATE.timestamp(), DATE.timestamp()))
    msgs = list(iter_eml_folder(d))
    assert [Path(m.source_id[4:]).name for m in msgs] == ["a.EML", "b.eml"]
    assert msgs[0].internaldate == DATE  # mtime fallback
    assert msgs[1].internaldate == DATE  # Date header
    assert msgs[1].message_id == "<b@x>"
    assert (
        msgs[1].data == b"Date: Sat, 08 Jul 2023 09:10:11 +0000\r\nMessage-ID: <b@x>\r\n\r\nB\r\n"
    )
    assert len(list(iter_eml_folder(d, recursive=True))) == 3
    assert list(iter_eml_folder(d, skip={msgs[0].source_id, msgs[1].source_id})) == []


def test_round_trip_store_to_source(tmp_path: Path) -> None:
    """What the archive job writes, the import job reads back with flags and dates."""
    data = b"Message-ID: <r@x>\r\nSubject: r\r\n\r\nFrom x\r\n"
    flags = frozenset({Flag.SEEN, Flag.ANSWERED})
    MboxStore(tmp_path / "a.mbox").deliver("INBOX", data, flags=flags, internaldate=DATE)
    MaildirStore(tmp_path / "md").deliver("INBOX", data, flags=flags, internaldate=DATE)
    [from_mbox] = iter_mbox(tmp_path / "a.mbox")
    [from_md] = iter_maildir(tmp_path / "md")
    for m in (from_mbox, from_md):
        assert (m.data, m.flags, m.internaldate, m.message_id) == (data, flags, DATE, "<r@x>")


def test_normalize_crlf() -> None:
    assert normalize_crlf(b"a\nb\r\nc\rd\n") == b"a\r\nb\r\nc\rd\r\n"
