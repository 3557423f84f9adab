"""A generated sample mailbox for ``pipeimap demo``: varied, deterministic mail.

Made with the standard library's :mod:`email` package so every message is well
formed: plain text, text+HTML alternatives, attachments (a small PDF-like
binary, a PNG, a CSV), non-ASCII names and subjects (RFC 2047 encoded words),
a non-ASCII mailbox name (modified UTF-7 on the wire), replies with
In-Reply-To, a spread of dates and flags.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Final

__all__ = ["SAMPLE_MAILBOXES", "SampleMessage", "mbox_bytes", "sample_messages"]

#: (mailbox, share of the messages)
SAMPLE_MAILBOXES: Final = (
    ("INBOX", 0.45),
    ("Projects", 0.2),
    ("Projects/Zürich 2025", 0.1),
    ("Sent", 0.15),
    ("Reçus", 0.1),
)

_PEOPLE: Final = (
    ("Alice Martin", "alice@example.org"),
    ("Bob Smith", "bob@example.net"),
    ("Zoë Müller", "zoe@example.de"),
    ("José Álvarez", "jose@example.es"),
    ("Łukasz Wróbel", "lukasz@example.pl"),
    ("山田 太郎", "taro@example.jp"),
    ("Ingrid Østergaard", "ingrid@example.dk"),
    ("Release Bot", "noreply@ci.example.com"),
)
_SUBJECTS: Final = (
    "Quarterly report",
    "Lunch on Friday?",
    "Re: the build is green again",
    "Réunion de l'équipe — ordre du jour",
    "Größenänderung der Datenbank",
    "Zażółć gęślą jaźń",
    "会議の議事録",
    "Invoice #{n} attached",
    "Photos from the trip 📷",
    "[ci] pipeline #{n} passed",
    "Fwd: contract draft v{n}",
    "Tickets for the concert 🎶",
)
_WORDS: Final = [
    "pipeline",
    "archive",
    "mailbox",
    "server",
    "flags",
    "resume",
    "quickly",
    "latency",
    "bandwidth",
    "message",
    "schedule",
    "review",
    "draft",
    "budget",
    "meeting",
    "coffee",
    "naïve",
    "café",
    "déjà",
    "vu",
    "straße",
    "smørrebrød",
]
_FLAG_CHOICES: Final = (
    (),
    ("\\Seen",),
    ("\\Seen",),
    ("\\Seen", "\\Answered"),
    ("\\Seen", "\\Flagged"),
    ("\\Flagged",),
    ("\\Seen", "$Forwarded"),
    ("\\Draft",),
)
_PNG: Final = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201b0f1a1b30000000049454e44ae426082"
)


@dataclass(frozen=True, slots=True)
class SampleMessage:
    mailbox: str
    data: bytes
    flags: tuple[str, ...]
    date: datetime


def _paragraphs(rng: random.Random, n: int) -> str:
    return "\n\n".join(
        " ".join(rng.choice(_WORDS) for _ in range(rng.randint(12, 60))).capitalize() + "."
        for _ in range(n)
    )


def _message(rng: random.Random, n: int, date: datetime, mailbox: str) -> EmailMessage:
    msg = EmailMessage(policy=SMTP)
    me = _PEOPLE[0]
    other = rng.choice(_PEOPLE[1:])
    sender, rcpt = (me, other) if mailbox == "Sent" else (other, me)
    msg["From"] = Address(sender[0], addr_spec=sender[1])
    msg["To"] = Address(rcpt[0], addr_spec=rcpt[1])
    if rng.random() < 0.2:
        cc = rng.choice(_PEOPLE[1:])
        msg["Cc"] = Address(cc[0], addr_spec=cc[1])
    msg["Subject"] = rng.choice(_SUBJECTS).format(n=n)
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = f"<sample{n}@demo.pipeimap.invalid>"
    if rng.random() < 0.25:
        msg["In-Reply-To"] = f"<sample{max(0, n - 1)}@demo.pipeimap.invalid>"
    text = f"Hello {rcpt[0].split()[0]},\n\n{_paragraphs(rng, rng.randint(1, 6))}\n\n-- \n{sender[0]}\n"
    msg.set_content(text)
    kind = rng.random()
    if kind < 0.3:
        msg.add_alternative(
            f"<html><body><p>Hello <b>{rcpt[0]}</b>,</p><p>{_paragraphs(rng, 2)}</p></body></html>",
            subtype="html",
        )
    if kind > 0.75:
        pick = rng.random()
        if pick < 0.4:
            blob = rng.randbytes(rng.randint(2_000, 60_000))
            msg.add_attachment(
                b"%PDF-1.4\n" + blob, maintype="application", subtype="pdf",
                filename=f"rapport-{n}-été.pdf",
            )  # fmt: skip
        elif pick < 0.7:
            msg.add_attachment(_PNG, maintype="image", subtype="png", filename=f"photo-{n}.png")
        else:
            rows = "\n".join(
                f"{i},{rng.randint(0, 999)},Zürich" for i in range(rng.randint(5, 200))
            )
            msg.add_attachment(
                "id,amount,city\n" + rows, subtype="csv", filename=f"données-{n}.csv"
            )
    return msg


def sample_messages(count: int = 200, *, seed: int = 2025) -> Iterator[SampleMessage]:
    """``count`` messages spread over :data:`SAMPLE_MAILBOXES`, oldest first."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, 8, 0, tzinfo=timezone(timedelta(hours=1)))
    n = 0
    for mailbox, share in SAMPLE_MAILBOXES:
        k = max(1, round(count * share)) if mailbox != SAMPLE_MAILBOXES[-1][0] else count - n
        for _ in range(max(0, k)):
            n += 1
            date = start + timedelta(hours=n * 37 + rng.randint(0, 30))
            msg = _message(rng, n, date, mailbox)
            yield SampleMessage(mailbox, msg.as_bytes(), rng.choice(_FLAG_CHOICES), date)


def mbox_bytes(count: int = 20, *, seed: int = 7) -> bytes:
    """A small mbox (mboxrd quoting, Status/X-Status flags), as a mail client left it."""
    rng = random.Random(seed)
    start = datetime(2019, 6, 1, 9, 30, tzinfo=timezone.utc)
    out = []
    for i in range(count):
        date = start + timedelta(days=i * 3, minutes=rng.randint(0, 600))
        msg = _message(rng, 1000 + i, date, "INBOX")
        msg.replace_header("Message-ID", f"<old-mail-{i}@demo.pipeimap.invalid>")
        if i % 3 == 0:
            msg["Status"] = "RO"
        if i % 5 == 0:
            msg["X-Status"] = "F"
        body = msg.as_bytes(policy=SMTP.clone(linesep="\n"))
        lines = [b">" + line if line.lstrip(b">").startswith(b"From ") else line
                 for line in body.split(b"\n")]  # fmt: skip
        out.append(b"From " + msg["From"].addresses[0].addr_spec.encode() + b" "
                   + date.strftime("%a %b %d %H:%M:%S %Y").encode() + b"\n")  # fmt: skip
        out.append(b"\n".join(lines).rstrip(b"\n") + b"\n\n")
    return b"".join(out)
