"""Exit codes, and turning an exception into one clear line and a code.

==== =====================================================================
code meaning
==== =====================================================================
0    the job finished and everything checked out
1    the job finished with problems (a count mismatch, skipped messages)
2    usage error: bad arguments, no password source, unusable server URL
3    authentication failed (wrong password or token, account disabled)
4    connection or TLS error (cannot connect, certificate not trusted,
     connection lost, timeout, a server speaking broken IMAP)
5    the server refused (NO/BAD) or kept throttling beyond the retries
6    local error: the destination or state file cannot be used, or the demo's
     Dovecot is not installed or does not start
70   internal error: a bug in pipeimap (run again with --debug and report it)
130  interrupted (Ctrl-C); run the same command again to resume
==== =====================================================================
"""

from __future__ import annotations

import ssl
import sys
from enum import IntEnum

from ..errors import (
    CommandError,
    ConnectionLostError,
    IMAPTimeoutError,
    ProtocolError,
    SaslError,
    StoreError,
    UsageError,
)
from ._password import CredentialError, scrub
from ._url import UrlError

__all__ = ["CliUsageError", "ExitCode", "classify_error", "leaf_error"]

if sys.version_info >= (3, 11):
    _BaseExceptionGroup = BaseExceptionGroup  # noqa: F821
else:  # pragma: no cover - Python 3.10
    from exceptiongroup import BaseExceptionGroup as _BaseExceptionGroup  # type: ignore[import-not-found, unused-ignore]


class ExitCode(IntEnum):
    OK = 0
    PROBLEMS = 1
    USAGE = 2
    AUTH = 3
    CONNECTION = 4
    SERVER = 5
    LOCAL = 6
    INTERNAL = 70
    INTERRUPTED = 130


class CliUsageError(Exception):
    """A usage error found after argument parsing (conflicting options...)."""


_AUTH_CODES = frozenset({"AUTHENTICATIONFAILED", "AUTHORIZATIONFAILED", "EXPIRED"})
_AUTH_COMMANDS = frozenset({"AUTHENTICATE", "LOGIN"})


def leaf_error(exc: BaseException) -> BaseException:
    """The one error that matters inside (nested) exception groups: the first
    that is not a cancellation."""
    while isinstance(exc, _BaseExceptionGroup):
        leaves = list(exc.exceptions)
        real = [
            e
            for e in leaves
            if not (
                type(e).__name__ in ("Cancelled", "CancelledError")
                or isinstance(e, KeyboardInterrupt)
            )
        ]
        exc = (real or leaves)[0]
    return exc


def classify_error(exc: BaseException) -> tuple[ExitCode, str]:
    """(exit code, one line for the user) for an error that ended a command."""
    exc = leaf_error(exc)
    code, text = _classify(exc)
    return code, scrub(text)


def _classify(exc: BaseException) -> tuple[ExitCode, str]:
    if isinstance(exc, (CliUsageError, UrlError, CredentialError)):
        return ExitCode.USAGE, str(exc)
    if isinstance(exc, CommandError):
        if (exc.code or "").upper() in _AUTH_CODES or exc.command.upper() in _AUTH_COMMANDS:
            return ExitCode.AUTH, f"authentication failed: {exc.text}"
        return ExitCode.SERVER, f"the server refused: {exc}"
    if isinstance(exc, SaslError):
        return ExitCode.AUTH, f"authentication failed: {exc}"
    if isinstance(exc, UsageError):
        return ExitCode.USAGE, str(exc)
    if isinstance(exc, ConnectionLostError):
        text = str(exc)
        if "BYE" in text:
            return ExitCode.SERVER, f"the server closed the session: {text}"
        if "certificate" in text.lower():
            return ExitCode.CONNECTION, (
                f"{text} (for a private CA, pass its certificate with --ca-file)"
            )
        return ExitCode.CONNECTION, text
    if isinstance(exc, IMAPTimeoutError):
        return ExitCode.CONNECTION, str(exc)
    if isinstance(exc, ProtocolError):
        return ExitCode.CONNECTION, f"the server broke the protocol: {exc}"
    if isinstance(exc, ssl.SSLError):
        return ExitCode.CONNECTION, f"TLS error: {exc}"
    if isinstance(exc, StoreError):
        return ExitCode.LOCAL, str(exc)
    if type(exc).__name__ == "DemoServerError":  # no import: the demo module is loaded lazily
        return ExitCode.LOCAL, str(exc)
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return ExitCode.LOCAL, f"{exc.strerror or exc}{where}"
    return ExitCode.INTERNAL, (
        f"internal error: {type(exc).__name__}: {exc} (run again with --debug for the "
        "traceback, and please report it)"
    )
