"""Generated mail libraries for the import tests, and what the server must hold after."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pipeimap.client import Client
from pipeimap.protocol import Flag

BASE = datetime(2023, 3, 4, 5, 6, 7, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Msg:
    """One source message: ``content`` is what must reach the server (LF ends;
    the server holds it with CRLF)."""

    content: bytes
    flags: frozenset[str]
    date: datetime

    @property
    def crlf(self) -> bytes:
        return self.content.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def corpus(n: int = 12, *, tag: str = "t") -> list[Msg]:
    """``n`` distinct messages plus, among the first ones, the awkward cases:
    no Message-ID, 8-bit bodies, "From " lines in bodies; then exact duplicates
    (one with a Message-ID, one without) appended at the end."""
    msgs: list[Msg] = []
    for i in range(n):
        date = BASE + timedelta(days=i, minutes=i)
        headers = [
            f"From: sender{i}@example.org",
            "To: rcpt@example.org",
            f"Subject: {tag} message {i}",
            f"Date: {date.strftime('%a, %d %b %Y %H:%M:%S +0000')}",
        ]
        if i % 4 != 1:
            headers.insert(0, f"Message-ID: <{tag}.{i}@example.org>")
        body = f"Hello {i}.\n".encode()
        if i % 3 == 0:
            body += b"From the start of a line, this is body text.\n>From quoted once.\n"
        if i % 5 == 2:
            body += "Gr\u00fc\u00dfe, 8-bit UTF-8 \u20ac\n".encode() + b"latin-1 \xe9\xe8\n"
            headers.append("Content-Type: text/plain; charset=utf-8")
            headers.append("Content-Transfer-Encoding: 8bit")
        body += b"line\n" * (i % 7)
        flags = frozenset(
            f for f, on in (("\\Seen", i % 2 == 0), ("\\Flagged", i % 3 == 1),
                            ("\\Answered", i % 4 == 3)) if on
        )  # fmt: skip
        msgs.append(Msg("\n".join(headers).encode() + b"\n\n" + body, flags, date))
    with_id = next(m for m in msgs if b"Message-ID" in m.content)
    without = next(m for m in msgs if b"Message-ID" not in m.content)
    return [*msgs, with_id, without]


def expected(msgs: list[Msg]) -> dict[bytes, Msg]:
    """What the mailbox must hold: one of each distinct content (the first wins)."""
    out: dict[bytes, Msg] = {}
    for m in msgs:
        out.setdefault(m.crlf, m)
    return out


def _mbox_quote(content: bytes) -> bytes:
    out = []
    for line in content.split(b"\n"):
        if line.lstrip(b">").startswith(b"From "):
            line = b">" + line
        out.append(line)
    return b"\n".join(out)


def _status_headers(flags: frozenset[str]) -> bytes:
    status = b"Status: " + (b"RO" if "\\Seen" in flags else b"O") + b"\n"
    x = "".join(c for f, c in (("\\Answered", "A"), ("\\Flagged", "F")) if f in flags)
    return status + (b"X-Status: " + x.encode() + b"\n" if x else b"")


def write_mbox(path: Path, msgs: list[Msg]) -> Path:
    parts = []
    for m in msgs:
        head, _, body = m.content.partition(b"\n\n")
        from_line = f"From sender@example.org {m.date.strftime('%a %b %d %H:%M:%S %Y')}\n"
        text = head + b"\n" + _status_headers(m.flags) + b"\n" + body
        parts.append(from_line.encode() + _mbox_quote(text) + b"\n")
    path.write_bytes(b"".join(parts))
    return path


def write_maildir(root: Path, msgs: list[Msg]) -> Path:
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i, m in enumerate(msgs):
        letters = "".join(
            c for f, c in (("\\Flagged", "F"), ("\\Answered", "R"), ("\\Seen", "S"))
            if f in m.flags
        )  # fmt: skip
        file = root / "cur" / f"{1700000000 + i}.M{i}P1.testhost:2,{letters}"
        file.write_bytes(m.content)
        ts = m.date.timestamp()
        os.utime(file, (ts, ts))
    return root


def write_eml(root: Path, msgs: list[Msg]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i, m in enumerate(msgs):
        (root / f"{i:04d}.eml").write_bytes(m.content)
    return root


async def server_messages(
    client: Client, mailbox: str
) -> list[tuple[bytes, frozenset[str], datetime | None]]:
    await client.examine(mailbox)
    if not client.mailbox or not client.mailbox.exists:
        return []
    got = await client.fetch_all("1:*", ["FLAGS", "INTERNALDATE", "BODY.PEEK[]"])
    return [
        (
            m.body("") or b"",
            frozenset(str(f) for f in (m.flags or ()) if f != Flag.RECENT),
            m.internaldate,
        )
        for m in got
    ]


async def assert_exactly_once(
    client: Client,
    mailbox: str,
    msgs: list[Msg],
    *,
    flags: bool = True,
    dates: bool = True,
) -> None:
    """Every distinct source message is in ``mailbox`` exactly once, byte for byte,
    with its flags and internal date; nothing else is there."""
    want = expected(msgs)
    have = await server_messages(client, mailbox)
    counts = Counter(body for body, _, _ in have)
    dups = {body[:60]: n for body, n in counts.items() if n > 1}
    assert not dups, f"duplicated on the server: {dups}"
    assert set(counts) == set(want), (
        f"missing {len(set(want) - set(counts))}, unexpected {len(set(counts) - set(want))}"
    )
    for body, fl, idate in have:
        m = want[body]
        if flags:
            assert fl == m.flags, (body[:40], fl, m.flags)
        if dates:
            assert idate == m.date, (body[:40], idate, m.date)
