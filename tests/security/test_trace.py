"""The protocol trace (``connect(trace=...)``): its shape, the targets it
accepts, redaction of credentials (always) and of message content (by
default), literals split across reads, and COMPRESS traced uncompressed.
Real-server traces for every mechanism are in test_trace_dovecot.py."""

from __future__ import annotations

import io
import random
import re
from pathlib import Path
from typing import Any

import anyio
import pytest

from pipeimap import InvalidArgumentError
from pipeimap.client import connect_transport
from pipeimap.client._trace import ProtocolTrace
from pipeimap.client._transport import Transport
from pipeimap.testing.scripted import ScriptedServer, Step, expect, send, start_compression

TIMEOUT = 10
PASSWORD = "tr@ce-Pa55 w0rd"
BODY = b"From: a@example.org\r\nSubject: private\r\n\r\nconfidential body text\r\n"
CAPS = b"IMAP4rev1 LITERAL+ UIDPLUS COMPRESS=DEFLATE"
GREETING = b"* OK [CAPABILITY " + CAPS + b"] ready\r\n"
LINE = re.compile(r"^ *\d+\.\d{6} #\d+ (C|S): |^ *\d+\.\d{6} #\d+ -- ")


def strip_times(lines: list[str]) -> list[str]:
    return [re.sub(r"^ *\d+\.\d{6} #\d+ ", "", line) for line in lines]


def login_steps(tag: str = "A0001") -> list[Step]:
    return [
        expect(f'{tag} LOGIN alice "{PASSWORD}"'.encode()),
        send(f"{tag} OK [CAPABILITY {CAPS.decode()}] logged in\r\n".encode()),
    ]


def fetch_steps(tag: str, body: bytes = BODY) -> list[Step]:
    n = len(body)
    return [
        expect(f"{tag} UID FETCH 1 (BODY.PEEK[] UID)".encode()),
        send(b"* 1 FETCH (UID 1 BODY[] {%d}\r\n" % n + body + b")\r\n" + tag.encode() + b" OK\r\n"),
    ]


def logout_steps(tag: str) -> list[Step]:
    return [expect(f"{tag} LOGOUT".encode()), send(f"* BYE\r\n{tag} OK\r\n".encode())]


async def run_session(script: list[Step], **kwargs: Any) -> None:
    with anyio.fail_after(TIMEOUT):
        async with (
            ScriptedServer(script, greeting=GREETING) as server,
            connect_transport(
                Transport(server.client_stream),
                host="imap.test",
                username="alice",
                password=PASSWORD,
                compress=False,
                **kwargs,
            ) as client,
        ):
            await client.uid_fetch("1", ["BODY.PEEK[]"])


# --- shape and targets ------------------------------------------------------------------


@pytest.mark.anyio
async def test_trace_lines_have_time_connection_and_direction() -> None:
    lines: list[str] = []
    await run_session(
        [*login_steps(), *fetch_steps("A0002"), *logout_steps("A0003")], trace=lines.append
    )
    assert lines[0].startswith("# pipeimap protocol trace #")
    assert "credentials redacted; message bodies redacted" in lines[0]
    assert all(LINE.match(line) for line in lines[1:]), lines
    body = strip_times(lines[1:])
    assert "S: * OK [CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS COMPRESS=DEFLATE] ready" in body
    assert "C: A0001 LOGIN alice <redacted>" in body
    assert "C: A0002 UID FETCH 1 (BODY.PEEK[] UID)" in body
    n = len(BODY)
    assert f"S: * 1 FETCH (UID 1 BODY[] {{{n}}}<literal {n} bytes>)" in body
    assert "S: A0003 OK" in body
    assert body[-1] == "-- closed"
    times = [float(line.split()[0]) for line in lines[1:]]
    assert times == sorted(times)


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["path", "str-path", "text-file", "binary-file", "callable"])
async def test_every_target_kind_gets_the_same_trace(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "trace.txt"
    text, binary = io.StringIO(), io.BytesIO()
    called: list[str] = []
    target: Any = {
        "path": path,
        "str-path": str(path),
        "text-file": text,
        "binary-file": binary,
        "callable": called.append,
    }[kind]
    await run_session([*login_steps(), *fetch_steps("A0002"), *logout_steps("A0003")], trace=target)
    if kind in ("path", "str-path"):
        got = path.read_text(encoding="utf-8").splitlines()
    elif kind == "text-file":
        got = text.getvalue().splitlines()
    elif kind == "binary-file":
        got = binary.getvalue().decode("utf-8").splitlines()
    else:
        got = called
    assert "C: A0001 LOGIN alice <redacted>" in strip_times(got)
    assert not text.closed  # the caller's file objects stay open
    assert not binary.closed


@pytest.mark.anyio
async def test_a_path_is_appended_to(tmp_path: Path) -> None:
    path = tmp_path / "trace.txt"
    path.write_text("earlier\n", encoding="utf-8")
    await run_session([*login_steps(), *fetch_steps("A0002"), *logout_steps("A0003")], trace=path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "earlier"
    assert any("LOGIN alice <redacted>" in line for line in lines)


@pytest.mark.anyio
async def test_a_bad_trace_target_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="trace"):
        await run_session([], trace=42)


# --- redaction ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_password_and_body_never_in_the_default_trace() -> None:
    lines: list[str] = []
    await run_session(
        [*login_steps(), *fetch_steps("A0002"), *logout_steps("A0003")], trace=lines.append
    )
    text = "\n".join(lines)
    assert PASSWORD not in text
    assert "confidential" not in text
    assert "Subject: private" not in text
    assert "<redacted>" in text


@pytest.mark.anyio
async def test_trace_bodies_includes_the_body_but_never_the_password() -> None:
    lines: list[str] = []
    await run_session(
        [*login_steps(), *fetch_steps("A0002"), *logout_steps("A0003")],
        trace=lines.append,
        trace_bodies=True,
    )
    text = "\n".join(lines)
    assert "message bodies included" in lines[0]
    assert "confidential body text\\r\\n" in text  # escaped: no raw CR/LF in a trace line
    assert "Subject: private" in text
    assert PASSWORD not in text


@pytest.mark.anyio
async def test_a_password_sent_as_a_literal_is_redacted() -> None:
    password = 'p\u00e4ss"wo\\rd'  # non-ASCII: sent as a literal
    raw = password.encode()
    lines: list[str] = []
    script = [
        expect(b"A0001 LOGIN alice {%d+}\r\n" % len(raw) + raw),
        send(b"A0001 OK [CAPABILITY " + CAPS + b"] logged in\r\n"),
        *logout_steps("A0002"),
    ]
    with anyio.fail_after(TIMEOUT):
        async with (
            ScriptedServer(script, greeting=GREETING) as server,
            connect_transport(
                Transport(server.client_stream),
                host="imap.test",
                username="alice",
                password=password,
                compress=False,
                trace=lines.append,
            ),
        ):
            pass
    text = "\n".join(lines)
    assert f"C: A0001 LOGIN alice {{{len(raw)}+}}<redacted>" in text
    assert "p\u00e4ss" not in text
    assert "wo\\rd" not in text


def test_append_message_redacted_but_its_mailbox_name_shown() -> None:
    lines: list[str] = []
    trace = ProtocolTrace(lines.append)
    trace.client(b"A1 APPEND {6}\r\nK\xc3\xb6ln (\\Seen) {%d}\r\n" % len(BODY) + BODY + b"\r\n")
    trace.client(b"A2 APPEND INBOX ~{5}\r\nab\x00cd\r\n")
    assert strip_times(lines) == [
        f"C: A1 APPEND {{6}}K\u00f6ln (\\Seen) {{{len(BODY)}}}<literal {len(BODY)} bytes>",
        "C: A2 APPEND INBOX ~{5}<literal 5 bytes>",
    ]


@pytest.mark.parametrize(
    "item",
    [b"BODY[]", b"BODY[HEADER]", b"BODY[HEADER.FIELDS (SUBJECT FROM)]", b"BODY[1.MIME]",
     b"BODY[TEXT]<0>", b"BINARY[1]", b"RFC822", b"RFC822.HEADER", b"RFC822.TEXT"],
)  # fmt: skip
def test_every_body_section_counts_as_content(item: bytes) -> None:
    lines: list[str] = []
    trace = ProtocolTrace(lines.append)
    trace.server(b"* 1 FETCH (UID 9 " + item + b" {%d}\r\n" % len(BODY) + BODY + b")\r\n")
    trace.server(b"* 2 FETCH (UID 10 " + item + b' "Subject: quoted secret")\r\n')
    text = "\n".join(lines)
    assert "private" not in text
    assert "quoted secret" not in text
    assert f"<literal {len(BODY)} bytes>" in text
    assert "<quoted 22 bytes>" in text


def test_envelope_and_other_literals_are_shown() -> None:
    """Documented choice: ENVELOPE/BODYSTRUCTURE are metadata, not content."""
    lines: list[str] = []
    trace = ProtocolTrace(lines.append)
    trace.server(
        b"* 1 FETCH (UID 9 ENVELOPE (NIL {7}\r\nsubject NIL NIL NIL NIL NIL NIL NIL NIL))\r\n"
    )
    trace.server(b'* LIST () "/" {4}\r\nK\xc3\xb6l\r\n')
    assert strip_times(lines) == [
        "S: * 1 FETCH (UID 9 ENVELOPE (NIL {7}subject NIL NIL NIL NIL NIL NIL NIL NIL))",
        'S: * LIST () "/" {4}K\u00f6l',
    ]


def test_sasl_exchange_redacted_both_ways() -> None:
    lines: list[str] = []
    trace = ProtocolTrace(lines.append)
    first = b"A1 AUTHENTICATE SCRAM-SHA-256 biwsbj1hbGljZSxyPW5vbmNl\r\n"
    trace.client(first, [(30, len(first))])
    trace.server(b"+ cj1ub25jZXNlcnZlcixzPXNhbHQsaT00MDk2\r\n")
    trace.client(b"Yz1iaXdzLHI9cHJvb2Y=\r\n", [(0, 22)])
    trace.server(b"+ dj1zZXJ2ZXJzaWduYXR1cmU=\r\n")
    trace.client(b"\r\n", [(0, 2)])
    trace.server(b"A1 OK done\r\n+ not in a SASL exchange\r\n")
    assert strip_times(lines) == [
        "C: A1 AUTHENTICATE SCRAM-SHA-256 <redacted>",
        "S: + <redacted>",
        "C: <redacted>",
        "S: + <redacted>",
        "C: <redacted>",
        "S: A1 OK done",
        "S: + not in a SASL exchange",
    ]


def test_control_characters_cannot_forge_trace_lines() -> None:
    lines: list[str] = []
    trace = ProtocolTrace(lines.append, bodies=True)
    trace.server(b"* OK a\rb\x00c\x85d\xe2\x80\xa8e\r\n")
    trace.server(b"* 1 FETCH (BODY[] {11}\r\n1\r\n 0.1 #1\n)\r\n")
    assert all("\n" not in line and "\r" not in line for line in lines)
    for escaped in ("a\\rb", "b\\x00c", "c\\x85d", "d\\u2028e"):
        assert escaped in lines[0]
    assert lines[1].endswith("{11}1\\r\\n 0.1 #1\\n)")


# --- literals split across reads -------------------------------------------------------

CHUNKED = (
    b"* 1 FETCH (UID 7 BODY[] {%d}\r\n" % len(BODY) + BODY + b" FLAGS (\\Seen))\r\n"
    b"* 2 FETCH (UID 8 BODY[HEADER] {0}\r\n BODY[TEXT] {13}\r\nabc\r\n{5}\r\nxyz FLAGS ())\r\n"
    b"A3 OK done\r\n"
)


def _trace_in_pieces(data: bytes, cuts: list[int], *, bodies: bool = False) -> list[str]:
    lines: list[str] = []
    trace = ProtocolTrace(lines.append, bodies=bodies)
    start = 0
    for cut in [*sorted(cuts), len(data)]:
        trace.server(data[start:cut])
        start = cut
    return strip_times(lines)


@pytest.mark.parametrize("bodies", [False, True])
def test_literals_split_across_reads_trace_the_same(bodies: bool) -> None:
    whole = _trace_in_pieces(CHUNKED, [], bodies=bodies)
    byte_by_byte = _trace_in_pieces(CHUNKED, list(range(1, len(CHUNKED))), bodies=bodies)
    rng = random.Random(5)
    assert byte_by_byte == whole
    for _ in range(50):
        cuts = rng.sample(range(1, len(CHUNKED)), rng.randint(1, 12))
        assert _trace_in_pieces(CHUNKED, cuts, bodies=bodies) == whole
    if not bodies:
        assert whole == [
            f"S: * 1 FETCH (UID 7 BODY[] {{{len(BODY)}}}<literal {len(BODY)} bytes> FLAGS (\\Seen))",
            "S: * 2 FETCH (UID 8 BODY[HEADER] {0}<literal 0 bytes> BODY[TEXT] {13}"
            "<literal 13 bytes> FLAGS ())",
            "S: A3 OK done",
        ]
        assert "confidential" not in "\n".join(whole)


def test_a_huge_shown_literal_is_written_in_pieces() -> None:
    big = b"x" * 200_000
    lines: list[str] = []
    trace = ProtocolTrace(lines.append, bodies=True)
    trace.server(b"* 1 FETCH (BODY[] {%d}\r\n" % len(big))
    for i in range(0, len(big), 1000):
        trace.server(big[i : i + 1000])
    trace.server(b")\r\n")
    assert len(lines) > 2
    assert max(len(line) for line in lines) < 70_000
    assert sum(line.count("x") for line in lines) == len(big)


def test_a_refused_synchronizing_literal_does_not_swallow_the_next_command() -> None:
    lines: list[str] = []
    trace = ProtocolTrace(lines.append)
    trace.client(b"A1 APPEND INBOX {999}\r\n")
    trace.server(b"A1 NO [TOOBIG] too big\r\n")
    trace.client(b"A2 NOOP\r\n")
    assert strip_times(lines) == [
        "C: A1 APPEND INBOX {999} (literal not sent)",
        "S: A1 NO [TOOBIG] too big",
        "C: A2 NOOP",
    ]


# --- COMPRESS ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_compress_is_traced_uncompressed() -> None:
    lines: list[str] = []
    script = [
        *login_steps(),
        expect(b"A0002 COMPRESS DEFLATE"),
        # The OK and the first compressed bytes in one write: the trace must
        # not show the deflate bytes that followed the OK.
        start_compression(b"A0002 OK deflate\r\n", b"* OK [ALERT] after compression\r\n"),
        *fetch_steps("A0003"),
        *logout_steps("A0004"),
    ]
    with anyio.fail_after(TIMEOUT):
        async with (
            ScriptedServer(script, greeting=GREETING) as server,
            connect_transport(
                Transport(server.client_stream),
                host="imap.test",
                username="alice",
                password=PASSWORD,
                trace=lines.append,
            ) as client,
        ):
            assert client.is_compressed
            await client.uid_fetch("1", ["BODY.PEEK[]"])
    body = strip_times(lines[1:])
    i = body.index("S: A0002 OK deflate")
    assert body[i + 1].startswith("-- COMPRESS=DEFLATE on")
    assert body[i + 2 :][:2] == [
        "S: * OK [ALERT] after compression",
        "C: A0003 UID FETCH 1 (BODY.PEEK[] UID)",
    ]
    assert all(line.isprintable() for line in lines)
    assert not any("\\x" in line for line in body), body


def test_cli_trace_options(tmp_path: Path) -> None:
    from pipeimap.cli._args import parse_args, start_trace
    from pipeimap.cli._exit import CliUsageError

    path = tmp_path / "t.txt"
    path.write_text("old run\n")
    args = parse_args(["archive", "imaps://a@h", str(tmp_path / "d"), "--trace", str(path)])
    assert start_trace(args) == path
    assert path.read_text() == ""  # emptied: the connections append
    args = parse_args(["sync", "imaps://a@h", str(tmp_path / "d"), "--trace-bodies"])
    with pytest.raises(CliUsageError, match="--trace-bodies needs --trace"):
        start_trace(args)
