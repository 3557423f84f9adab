"""The server address: an IMAP URL or ``--host/--port/--user/--tls`` options.

URLs follow RFC 5092's shape, with the scheme choosing the TLS mode:

* ``imaps://user@host[:993]`` -- TLS from the first byte (implicit TLS, RFC 8314).
* ``imap://user@host[:143]`` -- plain TCP upgraded with STARTTLS, which must
  succeed: pipeimap refuses to go on in plaintext.
* ``imap://user@host?insecure-plaintext`` -- no TLS at all, only when asked for
  by name (a loopback test server, an SSH tunnel).

A user name holding ``@`` (most providers use the e-mail address) is written
percent-encoded (``alice%40example.org@imap.example.org``) or as is: the last
``@`` separates the user from the host.  ``;AUTH=MECH`` after the user picks a
SASL mechanism (RFC 5092 section 3.2).  A password in the URL is refused: a
command line is visible to every user of the machine (``ps``) and lands in shell
history, so passwords come from ``--password-env``/``-file``/``-command`` or a
prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote

from ..client import TLSMode

__all__ = ["ServerAddress", "UrlError", "parse_server_url"]

_SCHEMES: Final[dict[str, TLSMode]] = {"imaps": "implicit", "imap": "starttls"}
_PLAINTEXT_QUERY: Final = "insecure-plaintext"


class UrlError(ValueError):
    """The server URL cannot be used; the message says why (and holds no secret)."""


@dataclass(frozen=True, slots=True)
class ServerAddress:
    """Where to connect and as whom; no secret here."""

    host: str
    port: int | None
    username: str | None
    tls: TLSMode
    auth_mechanism: str | None = None

    def describe(self) -> str:
        scheme = "imaps" if self.tls == "implicit" else "imap"
        user = f"{self.username}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port else ""
        query = "?insecure-plaintext" if self.tls == "insecure-plaintext" else ""
        return f"{scheme}://{user}{host}{port}{query}"


def _parse_port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UrlError(f"bad port {text!r} in the server URL (expected 1-65535)")
    return int(text)


def _split_host_port(hostport: str) -> tuple[str, int | None]:
    if hostport.startswith("["):  # [IPv6]:port
        end = hostport.find("]")
        if end < 0:
            raise UrlError("unclosed '[' in the server URL's host")
        host, rest = hostport[1:end], hostport[end + 1 :]
        if rest and not rest.startswith(":"):
            raise UrlError("unexpected text after ']' in the server URL")
        return host, _parse_port(rest[1:]) if rest else None
    if hostport.count(":") > 1:
        raise UrlError("write an IPv6 address in brackets: imaps://user@[2001:db8::1]:993")
    host, sep, port = hostport.partition(":")
    return host, _parse_port(port) if sep else None


def parse_server_url(url: str) -> ServerAddress:
    """Parse ``imaps://user@host:port`` (see the module docstring)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise UrlError(
            f"not a server URL: {url!r} (expected imaps://user@host or imap://user@host)"
        )
    scheme = scheme.lower()
    if scheme not in _SCHEMES:
        raise UrlError(f"unknown URL scheme {scheme!r} (use imaps:// or imap://)")
    tls = _SCHEMES[scheme]
    rest, _, query = rest.partition("?")
    rest, _, fragment = rest.partition("#")
    authority, slash, path = rest.partition("/")
    if fragment or (slash and path):
        raise UrlError(
            "a server URL names a server, not a mailbox: drop the path and use --mailbox"
        )
    if query:
        if query.lower() != _PLAINTEXT_QUERY:
            raise UrlError(f"unknown URL option {query!r} (the only one is ?insecure-plaintext)")
        if tls != "starttls":
            raise UrlError("?insecure-plaintext goes with imap://, not imaps://")
        tls = "insecure-plaintext"
    userinfo, at, hostport = authority.rpartition("@")
    username: str | None = None
    mechanism: str | None = None
    if at:
        user_part, semi, auth = userinfo.partition(";")
        if ":" in user_part:
            # Never echo the URL back here: the part after ':' is a password.
            raise UrlError(
                "the server URL holds a password; leave it out and use --password-env, "
                "--password-file, --password-command or the prompt"
            )
        if semi:
            key, eq, value = auth.partition("=")
            if key.upper() != "AUTH" or not eq or not value:
                raise UrlError("expected ;AUTH=<mechanism> after the user name in the server URL")
            mechanism = None if value == "*" else unquote(value).upper()
        username = unquote(user_part) or None
    host, port = _split_host_port(hostport)
    if not host:
        raise UrlError("the server URL has no host name")
    return ServerAddress(host=host, port=port, username=username, tls=tls, auth_mechanism=mechanism)
