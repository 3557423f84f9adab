"""The serializer against a real server: hostile arguments, every literal mode,
synchronizing literals answered by ``+`` -- Dovecot never answers BAD, and what
goes in comes back.

Responses are read with a tiny independent line reader (it only needs tags,
``+`` and literals), so this test does not depend on the response parser.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest

from pipeimap.errors import InvalidArgumentError
from pipeimap.protocol import Flag, Secret
from pipeimap.protocol import _commands as c
from pipeimap.protocol import _search as S
from pipeimap.protocol._seqset import UIDSet
from pipeimap.protocol._serializer import EncodeOptions, LiteralMode, serialize
from pipeimap.testing import DovecotServer

from ..conftest import TEST_USERS

_LITERAL_END = re.compile(rb"\{(\d+)\}\r\n\Z")


class Session:
    def __init__(self, sock: socket.socket, opts: EncodeOptions) -> None:
        self.sock = sock
        self.opts = opts
        self.buf = b""
        self.n = 0
        self.continuations = 0

    def _line(self) -> tuple[bytes, list[bytes]]:
        """One response line with its literals (line text keeps the {n} markers)."""
        text = b""
        literals: list[bytes] = []
        while True:
            while b"\r\n" not in self.buf:
                self._recv()
            end = self.buf.index(b"\r\n") + 2
            part, self.buf = self.buf[:end], self.buf[end:]
            text += part
            m = _LITERAL_END.search(part)
            if m is None:
                return text, literals
            size = int(m.group(1))
            while len(self.buf) < size:
                self._recv()
            literals.append(self.buf[:size])
            self.buf = self.buf[size:]

    def _recv(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise AssertionError("EOF")
        self.buf += data

    def greeting(self) -> None:
        line, _ = self._line()
        assert line.startswith(b"* OK")

    def run(self, cmd: c.Command) -> tuple[bytes, list[tuple[bytes, list[bytes]]]]:
        """Send ``cmd`` (waiting for "+" where told); return (status, untagged lines)."""
        self.n += 1
        tag = f"S{self.n:03d}"
        untagged: list[tuple[bytes, list[bytes]]] = []
        for frag in serialize(tag, cmd, self.opts):
            self.sock.sendall(frag.data)
            if frag.wait_for_continuation:
                while True:
                    line, lits = self._line()
                    if line.startswith(b"+"):
                        self.continuations += 1
                        break
                    if line.startswith(tag.encode() + b" "):
                        return line[len(tag) + 1 :].split(b" ")[0], untagged
                    untagged.append((line, lits))
        while True:
            line, lits = self._line()
            if line.startswith(tag.encode() + b" "):
                return line[len(tag) + 1 :].split(b" ")[0], untagged
            assert not line.startswith(b"+"), line
            untagged.append((line, lits))

    def ok(self, cmd: c.Command) -> list[tuple[bytes, list[bytes]]]:
        status, untagged = self.run(cmd)
        assert status == b"OK", (cmd, status, untagged)
        return untagged


MODES = [
    pytest.param(EncodeOptions(), id="sync"),
    pytest.param(EncodeOptions(literal_mode=LiteralMode.LITERAL_PLUS), id="literal+"),
    pytest.param(
        EncodeOptions(literal_mode=LiteralMode.LITERAL_MINUS, max_quoted=4), id="literal-"
    ),
]


@pytest.fixture
def session(dovecot: DovecotServer, request: pytest.FixtureRequest) -> Iterator[Session]:
    opts: EncodeOptions = request.param
    with dovecot.raw_connection() as sock:
        s = Session(sock, opts)
        s.greeting()
        user = "alice"
        s.ok(c.Login(user, Secret(TEST_USERS[user])))
        yield s
        s.run(c.Logout())


HOSTILE_NAMES = [
    'Wire "quoted" \\ back',
    "brace {5}",
    "paren (x) [y]",
    "NIL",
    "Entwürfe/日本語",
    "emoji \U0001f600",
    "amp & more &-",
    "x" * 300,
]
# Control characters in names are refused by the client itself (RFC 9051 section
# 5.1): Dovecot refuses them too, and echoes them raw in its NO text.
CONTROL_NAMES = ["tab\tname", "cr\rlf\nname"]


@pytest.mark.parametrize("session", MODES, indirect=True)
def test_hostile_mailbox_names_are_never_bad(session: Session) -> None:
    created = 0
    for name in HOSTILE_NAMES:
        status, _ = session.run(c.Create(name))
        assert status in (b"OK", b"NO"), (name, status)
        if status != b"OK":
            continue  # Dovecot refuses some characters; it did not misparse them
        created += 1
        untagged = session.ok(c.List("", (name,)))
        assert len([u for u in untagged if u[0].startswith(b"* LIST")]) == 1, (name, untagged)
        session.ok(c.Status(name, ("MESSAGES",)))
        session.ok(c.Delete(name))
    # Dovecot refuses names over its length limit with NO; every other name must
    # have been created.
    assert created == len(HOSTILE_NAMES) - 1
    for name in CONTROL_NAMES:
        with pytest.raises(InvalidArgumentError, match="control character"):
            c.Create(name)


@pytest.mark.parametrize("session", MODES, indirect=True)
def test_append_fetch_search_store(session: Session) -> None:
    box = 'Serializer Test "β"'
    session.run(c.Delete(box))
    session.ok(c.Create(box))
    messages = [
        b'Subject: caf\xc3\xa9 {5}\r\nX-Odd: a"b\\c\r\n\r\nbody \x01 line\r\n',
        b"Subject: second\r\n\r\n" + b"y" * 5000 + b"\r\n",  # above the LITERAL- limit
    ]
    session.ok(c.Append(box, tuple(c.AppendMessage(m, (Flag("$Label"),)) for m in messages)))
    session.ok(c.Select(box))
    untagged = session.ok(c.Fetch(UIDSet.parse("1:*"), (c.FetchItem.body(""),)))
    bodies = [lits[0] for line, lits in untagged if b" FETCH " in line]
    assert bodies == messages
    for text in ["café", 'a"b\\c', "{5}", "body \x01", "\r\nSubject", "NIL", ")(", "\U0001f600"]:
        status, _ = session.run(c.Search(S.text(text), uid=True))
        assert status in (b"OK", b"NO"), (text, status)
        status, _ = session.run(c.Search(S.header("X-Odd", text) | S.subject(text)))
        assert status in (b"OK", b"NO"), (text, status)
    untagged = session.ok(c.Search(S.header("X-Odd", 'a"b\\c'), uid=True))
    assert untagged[0][0].startswith(b"* SEARCH 1")
    untagged = session.ok(c.Search(S.subject("café")))
    assert untagged[0][0].startswith(b"* SEARCH 1")
    session.ok(
        c.Store(UIDSet(1, 2), c.StoreMode.ADD, (Flag.SEEN, Flag("$Odd-Keyword")), silent=True)
    )
    item = c.FetchItem.body(c.Section(text="HEADER.FIELDS", fields=("X-Odd", "Subject", "NIL")))
    untagged = session.ok(c.Fetch(UIDSet(1), (c.FetchItem("FLAGS"), item)))
    assert b"$Odd-Keyword" in untagged[0][0]
    session.ok(c.Id({"name": 'pipe"imap\\', "x": None, "crlf": "a\r\nb"}))
    session.ok(c.Close())
    session.ok(c.Delete(box))
    if session.opts.literal_mode is not LiteralMode.LITERAL_PLUS:
        assert session.continuations > 0  # the "+" dialogue really happened


def test_utf8_accept_names(dovecot: DovecotServer) -> None:
    with dovecot.raw_connection() as sock:
        s = Session(sock, EncodeOptions(literal_mode=LiteralMode.LITERAL_PLUS))
        s.greeting()
        s.ok(c.Login("alice", Secret(TEST_USERS["alice"])))
        status, untagged = s.run(c.Enable(("UTF8=ACCEPT",)))
        # RFC 5161: unknown extensions are ignored; only "* ENABLED" says what happened.
        if status != b"OK" or not any(b"UTF8=ACCEPT" in line.upper() for line, _ in untagged):
            pytest.skip("this Dovecot did not enable UTF8=ACCEPT")
        s.opts = EncodeOptions(literal_mode=LiteralMode.LITERAL_PLUS, utf8_accept=True)
        name = "Grüße 日本語 \U0001f600"
        s.ok(c.Create(name))
        untagged = s.ok(c.List("", (name,)))
        assert any(name.encode() in line for line, _ in untagged), untagged
        s.ok(c.Select(name))
        s.ok(c.Search(S.subject("café")))
        s.ok(c.Close())
        s.ok(c.Delete(name))
        s.run(c.Logout())
