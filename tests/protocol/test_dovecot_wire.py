"""The response parser against a real server: every response a private Dovecot sends to a
broad command script parses, with no unknown responses, and gives the same events fed
whole, one byte at a time and in random splits.

The commands are written as raw bytes on a blocking socket (the async client is a
higher layer); the parser reads the answers incrementally, as a client would.
"""

from __future__ import annotations

import random
import socket
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime

import pytest

from pipeimap.protocol._parser import ResponseParser
from pipeimap.protocol._responses import (
    Event,
    FetchLiteralChunk,
    FetchLiteralEnded,
    FetchLiteralStarted,
    FetchResponse,
    Greeting,
    TaggedResponse,
    UnknownResponse,
)
from pipeimap.testing import DovecotServer

from ..conftest import TEST_USERS


def sample_messages() -> list[bytes]:
    """A handful of structurally varied messages (deterministic)."""
    msgs: list[bytes] = []
    plain = EmailMessage()
    plain["From"] = "Ann Example <ann@example.org>"
    plain["To"] = 'bob@example.org, "Zoë, Q." <zoe@example.net>'
    plain["Subject"] = "Grüße aus Köln"
    plain["Message-ID"] = "<plain-1@example.org>"
    plain["Date"] = format_datetime(datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc))
    plain.set_content("Hallo Bob,\n\nviele Grüße.\n")
    msgs.append(plain.as_bytes())

    alt = EmailMessage()
    alt["From"] = "news@example.com"
    alt["To"] = "undisclosed-recipients:;"
    alt["Subject"] = 'Alternative (with "quotes" and \\backslash)'
    alt["Message-ID"] = "<alt-2@example.com>"
    alt.set_content("plain text part\n")
    alt.add_alternative("<p>html part</p>\n", subtype="html")
    msgs.append(alt.as_bytes())

    mixed = EmailMessage()
    mixed["From"] = "carol@example.org"
    mixed["To"] = "dave@example.org"
    mixed["Cc"] = "eve@example.org"
    mixed["Subject"] = "Attachments"
    mixed["Message-ID"] = "<mixed-3@example.org>"
    mixed.set_content("see attached\n")
    mixed.add_attachment(bytes(range(256)) * 40, maintype="application",
                         subtype="octet-stream", filename="blob.bin")  # fmt: skip
    mixed.add_attachment(plain)  # message/rfc822
    msgs.append(mixed.as_bytes())

    big = EmailMessage()
    big["From"] = "bulk@example.org"
    big["Subject"] = "big"
    big.set_content("line of text for a larger body\n" * 20000)  # ~640 KB: a streamed literal
    msgs.append(big.as_bytes())
    return [m.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") for m in msgs]


class WireSession:
    """Send raw commands, read with the incremental parser; keep every byte received."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.parser = ResponseParser(expect_greeting=True)
        self.received = bytearray()
        self.events: list[Event] = []
        self.n = 0

    def _read_until(self, done: type | str) -> list[Event]:
        got: list[Event] = []
        while True:
            for ev in self.parser.events():
                got.append(ev)
                if (
                    isinstance(done, str) and isinstance(ev, TaggedResponse) and ev.tag == done
                ) or (isinstance(done, type) and isinstance(ev, done)):
                    self.events.extend(got)
                    return got
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError(f"EOF while waiting for {done}")
            self.received += data
            self.parser.feed(data)

    def greeting(self) -> list[Event]:
        return self._read_until(Greeting)

    def command(self, text: bytes, *literals: bytes) -> list[Event]:
        """Send ``tag text`` (with LITERAL+ literals appended in order) and read to the tag."""
        self.n += 1
        tag = f"W{self.n:03d}"
        data = tag.encode() + b" " + text
        for lit in literals:
            data += lit
        self.sock.sendall(data + b"\r\n")
        got = self._read_until(tag)
        last = got[-1]
        assert isinstance(last, TaggedResponse)
        assert last.status == "OK", (text[:60], last)
        return got


def _parse_all(data: bytes, splits: list[int]) -> list[Event]:
    parser = ResponseParser(expect_greeting=True)
    out: list[Event] = []
    prev = 0
    for cut in [*splits, len(data)]:
        parser.feed(data[prev:cut])
        prev = cut
        out.extend(parser.events())
    return _merge_chunks(out)


def _merge_chunks(events: list[Event]) -> list[Event]:
    """Streamed chunk boundaries depend on how bytes arrive; join them for comparison."""
    merged: list[Event] = []
    for ev in events:
        if (
            isinstance(ev, FetchLiteralChunk)
            and merged
            and isinstance(merged[-1], FetchLiteralChunk)
        ):
            merged[-1] = FetchLiteralChunk(merged[-1].data + ev.data)
        else:
            merged.append(ev)
    return merged


@pytest.fixture(scope="module")
def transcript(dovecot: DovecotServer) -> tuple[bytes, list[Event], list[bytes]]:
    return run_script(dovecot)


def run_script(dovecot: DovecotServer) -> tuple[bytes, list[Event], list[bytes]]:
    """Run the command script once; return (all bytes received, events, appended messages)."""
    messages = sample_messages()
    user = "bob"
    with dovecot.raw_connection() as sock:
        s = WireSession(sock)
        s.greeting()
        password = TEST_USERS[user].encode()
        s.command(b'LOGIN %s "%s"' % (user.encode(), password))
        s.command(b"CAPABILITY")
        s.command(b"ENABLE CONDSTORE")
        s.command(b"NAMESPACE")
        s.command(b'ID ("name" "pipeimap-tests" "version" "0")')
        s.command(b'CREATE "Wire Test/&AMQ-rger"')
        s.command(b'CREATE "Wire Test/Copy"')
        for msg in messages:
            s.command(
                b'APPEND "Wire Test/&AMQ-rger" (\\Seen $Custom) "01-May-2024 12:00:00 +0200" {%d+}\r\n'
                % len(msg),
                msg,
            )
        s.command(b'LIST "" "*" RETURN (SPECIAL-USE CHILDREN STATUS (MESSAGES UIDNEXT SIZE))')
        s.command(b'LIST (SUBSCRIBED) "" "*"')
        s.command(b'LSUB "" "*"')
        s.command(
            b'STATUS "Wire Test/&AMQ-rger" (MESSAGES UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ SIZE)'
        )
        s.command(b'SELECT "Wire Test/&AMQ-rger" (CONDSTORE)')
        s.command(b"FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE MODSEQ)")
        s.command(b"UID FETCH 1:* (UID BODY.PEEK[] BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)])")
        s.command(b"UID FETCH 1:* (BODY.PEEK[1]<0.10> BODY.PEEK[TEXT] BODY BINARY.SIZE[1])")
        s.command(b"UID FETCH 3 (BINARY.PEEK[2] BODY.PEEK[3.HEADER] BODY.PEEK[1.MIME])")
        s.command(b"UID FETCH 1 (RFC822.HEADER RFC822.TEXT)")
        s.command(b"UID SEARCH RETURN (MIN MAX COUNT ALL) ALL")
        s.command(b"SEARCH SUBJECT big")
        s.command(b"UID SEARCH MODSEQ 1")
        s.command(b"UID SORT (SUBJECT) UTF-8 ALL")
        s.command(b"UID THREAD REFERENCES UTF-8 ALL")
        s.command(b"UID STORE 1:2 +FLAGS (\\Flagged)")
        s.command(
            b"UID STORE 1 (UNCHANGEDSINCE 1) +FLAGS (\\Answered)",
        )
        s.command(b'UID COPY 1:2 "Wire Test/Copy"')
        s.command(b'UID MOVE 2 "Wire Test/Copy"')
        s.command(b"UID STORE 1 +FLAGS.SILENT (\\Deleted)")
        s.command(b"EXPUNGE")
        s.command(b"GETQUOTAROOT INBOX")
        s.command(b"CHECK")
        s.command(b"NOOP")
        s.command(b"UNSELECT")
        s.command(b"ENABLE QRESYNC")
        s.command(b'SELECT "Wire Test/&AMQ-rger" (QRESYNC (1 1 1:10))')
        s.command(b"UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
        s.command(b"CLOSE")
        s.command(b'DELETE "Wire Test/Copy"')
        s.command(b"LOGOUT")
        return bytes(s.received), _merge_chunks(s.events), messages


def test_every_dovecot_response_is_understood(
    transcript: tuple[bytes, list[Event], list[bytes]],
) -> None:
    _, events, _ = transcript
    unknown = [ev for ev in events if isinstance(ev, UnknownResponse)]
    assert unknown == []
    assert isinstance(events[0], Greeting)


def test_split_invariance_on_real_server_bytes(
    transcript: tuple[bytes, list[Event], list[bytes]],
) -> None:
    data, events, _ = transcript
    assert _parse_all(data, []) == events
    rng = random.Random(3501)
    for _ in range(5):
        cuts = sorted(rng.sample(range(1, len(data)), 200))
        assert _parse_all(data, cuts) == events
    # one byte at a time over the first 40 KB (the whole stream would be slow, not different)
    head_end = data.index(b"W014 OK") if b"W014 OK" in data else 40000
    head = data[: data.index(b"\r\n", head_end) + 2]
    assert _parse_all(head, list(range(1, len(head)))) == _parse_all(head, [])


def test_bodies_come_back_byte_for_byte(
    transcript: tuple[bytes, list[Event], list[bytes]],
) -> None:
    _, events, messages = transcript
    bodies: dict[int, bytes] = {}
    current: bytearray | None = None
    for ev in events:
        if isinstance(ev, FetchLiteralStarted) and ev.name == "BODY[]":
            current = bytearray()
        elif isinstance(ev, FetchLiteralChunk) and current is not None:
            current += ev.data
        elif isinstance(ev, FetchLiteralEnded) and current is not None and ev.name == "BODY[]":
            bodies[ev.seq] = bytes(current)
            current = None
        elif isinstance(ev, FetchResponse) and "BODY[]" in ev.items:
            value = ev.items["BODY[]"]
            if isinstance(value, bytes):
                bodies.setdefault(ev.seq, value)
    assert [bodies[i] for i in sorted(bodies)][: len(messages)] == messages
    # the ~640 KB message must have been streamed, not assembled
    assert any(isinstance(ev, FetchLiteralStarted) for ev in events)


def test_structures_parsed(transcript: tuple[bytes, list[Event], list[bytes]]) -> None:
    _, events, _ = transcript
    fetches = [ev for ev in events if isinstance(ev, FetchResponse) and ev.items.envelope]
    assert len(fetches) >= 4
    first = fetches[0].items
    assert first.envelope is not None
    assert first.envelope.subject is not None
    assert first.bodystructure is not None
    assert first.uid == 1
    assert first.flags is not None
    assert "\\Seen" in first.flags
