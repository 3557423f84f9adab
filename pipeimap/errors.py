"""The pipeimap error hierarchy, in one place.

Errors are split by whose fault they are:

* :class:`ProtocolError` -- the *server* sent something illegal (or the network
  delivered garbage).  :class:`ResponseParseError` names the grammar rule, the
  byte offset and a short escaped excerpt.
* :class:`UsageError` -- the *caller* asked for something illegal (an argument
  that cannot be encoded, a conflicting explicit batch).  Raised before any byte
  is written, so the connection is still usable.
* :class:`CommandError` -- the server answered a command with a tagged ``NO`` or
  ``BAD``.  The connection is usually still usable.
* :class:`ConnectionLostError` and :class:`IMAPTimeoutError` -- the connection is
  gone (or was given up on).

No error message ever contains a credential: secrets are held in
:class:`pipeimap.protocol.Secret`, whose ``repr`` and ``str`` are redacted, and
excerpts of wire data are short and taken from server responses only.

This module imports nothing but the standard library so that every layer,
including the sans-IO protocol core, can use it.
"""

from __future__ import annotations

__all__ = [
    "CommandBadError",
    "CommandError",
    "CommandNoError",
    "ConflictError",
    "ConnectionLostError",
    "IMAPTimeoutError",
    "InvalidArgumentError",
    "LimitExceededError",
    "PipeimapError",
    "PredecessorFailedError",
    "ProtocolError",
    "ResponseParseError",
    "SaslError",
    "StoreError",
    "UnexpectedResponseError",
    "UsageError",
    "escape_excerpt",
]


def escape_excerpt(data: bytes, offset: int, *, width: int = 24) -> str:
    """Return a short, printable excerpt of ``data`` around ``offset``.

    Non-printable bytes are escaped (``\\r``, ``\\n``, ``\\x00``...) so that the
    excerpt is safe to put in a log line, and ``>>>`` marks the offset.  At most
    ``width`` bytes on each side are shown.
    """
    offset = max(0, min(offset, len(data)))
    start = max(0, offset - width)
    end = min(len(data), offset + width)

    def esc(chunk: bytes) -> str:
        out = []
        for b in chunk:
            if b == 0x5C:
                out.append("\\\\")
            elif b == 0x0D:
                out.append("\\r")
            elif b == 0x0A:
                out.append("\\n")
            elif b == 0x09:
                out.append("\\t")
            elif 0x20 <= b < 0x7F:
                out.append(chr(b))
            else:
                out.append(f"\\x{b:02x}")
        return "".join(out)

    before = ("..." if start > 0 else "") + esc(data[start:offset])
    after = esc(data[offset:end]) + ("..." if end < len(data) else "")
    return f"{before}>>>{after}"


class PipeimapError(Exception):
    """Base class of every error pipeimap raises on purpose."""


# --- the server's fault -------------------------------------------------------


class ProtocolError(PipeimapError):
    """The server (or the network) sent something that breaks the protocol.

    The connection cannot be trusted afterwards: the client closes it and fails
    every pending command with :class:`ConnectionLostError` (the one exception:
    an EXPUNGE during a sequence-number command, see
    :class:`UnexpectedResponseError`).
    """


class ResponseParseError(ProtocolError):
    """A server response does not match the IMAP grammar.

    Attributes:
        rule: the RFC 9051 ABNF rule (or parser state) that failed, e.g. ``"msg-att"``.
        offset: byte offset of the failure, counted from the start of the stream
            fed to the parser.
        excerpt: a short escaped excerpt around the failure, ``>>>`` marking it.
        detail: a human-readable explanation.
    """

    def __init__(self, rule: str, offset: int, excerpt: str, detail: str = "") -> None:
        self.rule = rule
        self.offset = offset
        self.excerpt = excerpt
        self.detail = detail
        msg = f"cannot parse server response at byte {offset} (rule {rule})"
        if detail:
            msg += f": {detail}"
        msg += f": {excerpt!r}"
        super().__init__(msg)


class LimitExceededError(ResponseParseError):
    """A configured parser limit (line length, literal size, nesting depth...) was crossed.

    Attributes (in addition to :class:`ResponseParseError`'s):
        limit_name: the name of the :class:`~pipeimap.protocol.ParserLimits` field.
        limit: its value.
    """

    def __init__(
        self, limit_name: str, limit: int, offset: int, excerpt: str, detail: str = ""
    ) -> None:
        self.limit_name = limit_name
        self.limit = limit
        super().__init__(
            f"limit:{limit_name}",
            offset,
            excerpt,
            detail or f"{limit_name} limit of {limit} exceeded",
        )


class SaslError(ProtocolError):
    """The server broke the SASL exchange: a malformed challenge, an unexpected
    extra challenge, or (SCRAM) a server that could not prove it knows the
    password.  Treat the connection as untrusted and close it.

    Attributes:
        mechanism: the mechanism name (``"SCRAM-SHA-256"``).
    """

    def __init__(self, mechanism: str, message: str) -> None:
        self.mechanism = mechanism
        super().__init__(f"{mechanism}: {message}")


class UnexpectedResponseError(ProtocolError):
    """A well-formed response that nobody can have asked for, or one the
    protocol forbids at that point.

    For example a tagged response for a tag that was never sent, or a
    continuation request while no command awaits one: the connection is then
    closed (this error is the ``__cause__`` of every pending command's
    :class:`ConnectionLostError`).  Also raised *directly*, with the
    connection left open, by a sequence-number FETCH, STORE, SEARCH, SORT or
    THREAD during which the server sent EXPUNGE (RFC 9051 section 7.5.1
    forbids it): the command's answer is ambiguous from there on and is
    withheld; repeat it by UID.
    """


# --- the caller's fault -------------------------------------------------------


class UsageError(PipeimapError):
    """The caller asked for something illegal; nothing was written."""


class InvalidArgumentError(UsageError, ValueError):
    """A command argument cannot be encoded safely (e.g. a flag with a space,
    a NUL byte in a mailbox name, an empty sequence set)."""


class ConflictError(UsageError):
    """An explicit batch holds two commands that must not be in flight together.

    Attributes:
        first, second: short descriptions of the two commands.
        rule: the admission rule they break (``"R2"``, ``"R4"``...).
    """

    def __init__(self, first: str, second: str, rule: str, detail: str = "") -> None:
        self.first = first
        self.second = second
        self.rule = rule
        msg = f"{first!s} and {second!s} conflict ({rule})"
        if detail:
            msg += f": {detail}"
        super().__init__(msg)


# --- the server said no -------------------------------------------------------


class CommandError(PipeimapError):
    """A command completed with a tagged ``NO`` or ``BAD``.

    Attributes:
        status: ``"NO"`` or ``"BAD"``.
        code: the response code's name (``"TRYCREATE"``) or ``None``.
        text: the human-readable text of the response.
        tag: the command's tag.
        command: the command's name (``"APPEND"``), never its arguments'
            secret parts.
        target: a short, non-secret description of what the command was about
            (a mailbox name), or ``""``.
    """

    def __init__(
        self,
        status: str,
        code: str | None,
        text: str,
        tag: str,
        command: str,
        target: str = "",
    ) -> None:
        self.status = status
        self.code = code
        self.text = text
        self.tag = tag
        self.command = command
        self.target = target
        where = f"{tag} {command}" + (f" {target}" if target else "")
        code_part = f"[{code}] " if code else ""
        super().__init__(f"{status} {code_part}{text} ({where})")


class CommandNoError(CommandError):
    """The server answered ``NO``: the command was understood but failed."""


class CommandBadError(CommandError):
    """The server answered ``BAD``: it did not accept the command's syntax or state."""


class PredecessorFailedError(CommandError):
    """The command was never written because a command it depends on failed (rule R7)."""


# --- the connection is gone ---------------------------------------------------


class ConnectionLostError(PipeimapError):
    """The connection ended (EOF, ``BYE``, a protocol error, a network error).

    Every command pending on the connection fails with this error; nothing
    non-idempotent is replayed.  ``__cause__`` holds the original error when
    there is one.
    """


class IMAPTimeoutError(PipeimapError, TimeoutError):
    """A connect, read or command timeout expired; the connection is closed."""


# --- the local side -----------------------------------------------------------


class StoreError(PipeimapError):
    """The local store or the job state database cannot be used as asked: a state
    file written by a newer pipeimap, a file that is not a pipeimap state file, or
    a message file whose layout the store does not recognise."""
