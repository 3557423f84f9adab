"""Server URLs: scheme -> TLS mode, user names with '@', ports, IPv6, refusals."""

from __future__ import annotations

import pytest

from pipeimap.cli._url import ServerAddress, UrlError, parse_server_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("imaps://alice@imap.example.org", ServerAddress("imap.example.org", None, "alice", "implicit")),
        ("imaps://alice@imap.example.org:1993/", ServerAddress("imap.example.org", 1993, "alice", "implicit")),
        ("imap://alice@mail.example.org", ServerAddress("mail.example.org", None, "alice", "starttls")),
        ("IMAP://bob@h:143", ServerAddress("h", 143, "bob", "starttls")),
        ("imap://bob@127.0.0.1:1143?insecure-plaintext", ServerAddress("127.0.0.1", 1143, "bob", "insecure-plaintext")),
        ("imaps://alice%40example.org@mail.example.org", ServerAddress("mail.example.org", None, "alice@example.org", "implicit")),
        ("imaps://alice@example.org@mail.example.org", ServerAddress("mail.example.org", None, "alice@example.org", "implicit")),
        ("imaps://alice@[::1]:993", ServerAddress("::1", 993, "alice", "implicit")),
        ("imaps://[2001:db8::1]", ServerAddress("2001:db8::1", None, None, "implicit")),
        ("imaps://alice;AUTH=xoauth2@imap.gmail.com", ServerAddress("imap.gmail.com", None, "alice", "implicit", "XOAUTH2")),
        ("imaps://alice;AUTH=*@h", ServerAddress("h", None, "alice", "implicit", None)),
        ("imaps://h", ServerAddress("h", None, None, "implicit")),
    ],
)  # fmt: skip
def test_parse(url: str, expected: ServerAddress) -> None:
    assert parse_server_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("alice@example.org", "not a server URL"),
        ("pop3://alice@h", "unknown URL scheme"),
        ("imaps://alice@h:0", "bad port"),
        ("imaps://alice@h:99999", "bad port"),
        ("imaps://alice@h:abc", "bad port"),
        ("imaps://alice@h/INBOX", "not a mailbox"),
        ("imaps://alice@h?insecure-plaintext", "goes with imap://"),
        ("imap://alice@h?tls=no", "unknown URL option"),
        ("imaps://alice@", "no host"),
        ("imaps://alice@2001:db8::1", "brackets"),
        ("imaps://alice@[::1", "unclosed"),
        ("imaps://alice;FOO=1@h", ";AUTH="),
    ],
)
def test_refused(url: str, message: str) -> None:
    with pytest.raises(UrlError, match=message):
        parse_server_url(url)


def test_password_in_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(UrlError) as info:
        parse_server_url("imaps://alice:hunter2-secret@imap.example.org")
    assert "hunter2-secret" not in str(info.value)
    assert "password" in str(info.value)


def test_describe_round_trips() -> None:
    for url in ("imaps://alice@h:993", "imap://bob@h", "imap://bob@h:1143?insecure-plaintext"):
        assert parse_server_url(parse_server_url(url).describe()) == parse_server_url(url)
