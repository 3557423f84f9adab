"""Small value types that cannot be built invalid.

``UID`` and ``SeqNum`` are distinct ``int`` subclasses so that a message
sequence number can never be passed where a UID is expected (mypy tells them
apart, and so does ``isinstance``).  ``Flag`` validates on construction.
``Secret`` holds passwords and tokens and never shows them in ``repr``/``str``.
``RawMailbox`` is a mailbox name sent as the exact bytes a server listed.
"""

from __future__ import annotations

import hmac
import re
from typing import Final

from ..errors import InvalidArgumentError

__all__ = ["UID", "Flag", "ModSeq", "RawMailbox", "Secret", "SeqNum"]

_NZ_MAX: Final = 0xFFFFFFFF  # nz-number is 32-bit (RFC 9051 section 9, "nz-number")
_MODSEQ_MAX: Final = 0x7FFFFFFFFFFFFFFF  # mod-sequence-value is 63-bit (RFC 7162 section 7)


class UID(int):
    """A message UID: a non-zero unsigned 32-bit number (RFC 9051 section 2.3.1.1)."""

    __slots__ = ()

    def __new__(cls, value: int) -> UID:
        if not 1 <= value <= _NZ_MAX:
            raise InvalidArgumentError(f"UID must be in 1..{_NZ_MAX}, not {value!r}")
        return super().__new__(cls, value)

    def __repr__(self) -> str:
        return f"UID({int(self)})"

    def __str__(self) -> str:
        return int.__repr__(self)


class SeqNum(int):
    """A message sequence number: a non-zero unsigned 32-bit number (RFC 9051 section 2.3.1.2)."""

    __slots__ = ()

    def __new__(cls, value: int) -> SeqNum:
        if not 1 <= value <= _NZ_MAX:
            raise InvalidArgumentError(f"sequence number must be in 1..{_NZ_MAX}, not {value!r}")
        return super().__new__(cls, value)

    def __repr__(self) -> str:
        return f"SeqNum({int(self)})"

    def __str__(self) -> str:
        return int.__repr__(self)


class ModSeq(int):
    """A CONDSTORE mod-sequence value, 0..2**63-1 (RFC 7162 section 7; 0 only in
    ``UNCHANGEDSINCE 0`` and ``CHANGEDSINCE``-style comparisons)."""

    __slots__ = ()

    def __new__(cls, value: int) -> ModSeq:
        if not 0 <= value <= _MODSEQ_MAX:
            raise InvalidArgumentError(f"mod-sequence must be in 0..{_MODSEQ_MAX}, not {value!r}")
        return super().__new__(cls, value)

    def __repr__(self) -> str:
        return f"ModSeq({int(self)})"

    def __str__(self) -> str:
        return int.__repr__(self)


# atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards / quoted-specials / resp-specials
# flag-keyword = "$MDNSent" / "$Forwarded" / ... / atom   (RFC 9051 section 9)
# ATOM-CHAR: printable ASCII minus atom-specials
_ATOM_RE: Final = re.compile(r"[!#$&'+-\[^-z|}~]+\Z")
_SYSTEM_FLAGS: Final = {
    f.lower(): f
    for f in ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft", "\\Recent", "\\*")
}


class Flag(str):
    """A message flag: a system flag (``\\Seen``) or a keyword atom (``$Forwarded``).

    System flags are normalised to their RFC spelling, so ``Flag("\\\\seen") ==
    Flag.SEEN``.  Keywords keep their case (servers compare them case-insensitively,
    RFC 9051 section 2.3.2, but some echo them back as sent).  Anything that is not
    an atom (a space, a parenthesis, a CR/LF, a quote, a non-ASCII character) is
    refused with :class:`~pipeimap.errors.InvalidArgumentError`, so a flag can
    never inject protocol text.  ``\\*`` is accepted only as it appears in
    PERMANENTFLAGS and is never valid in STORE.
    """

    __slots__ = ()

    SEEN: Flag
    ANSWERED: Flag
    FLAGGED: Flag
    DELETED: Flag
    DRAFT: Flag
    RECENT: Flag
    WILDCARD: Flag

    def __new__(cls, value: str) -> Flag:
        if not isinstance(value, str):
            raise InvalidArgumentError(f"a flag must be a str, not {type(value).__name__}")
        if value.startswith("\\"):
            canonical = _SYSTEM_FLAGS.get(value.lower())
            if canonical is not None:
                return super().__new__(cls, canonical)
            body = value[1:]
        else:
            body = value
        # An unknown "\Xyz" is a flag-extension (RFC 9051 section 9); it must be an atom too.
        if not body or _ATOM_RE.match(body) is None:
            raise InvalidArgumentError(f"not a valid IMAP flag: {value!r}")
        return super().__new__(cls, value)

    @property
    def is_system(self) -> bool:
        """True for a backslash flag (``\\Seen``, ``\\Deleted``...)."""
        return self.startswith("\\")

    def __repr__(self) -> str:
        return f"Flag({str(self)!r})"


Flag.SEEN = Flag("\\Seen")
Flag.ANSWERED = Flag("\\Answered")
Flag.FLAGGED = Flag("\\Flagged")
Flag.DELETED = Flag("\\Deleted")
Flag.DRAFT = Flag("\\Draft")
Flag.RECENT = Flag("\\Recent")
Flag.WILDCARD = Flag("\\*")


class Secret:
    """A password, token or SASL response that must never be shown.

    ``repr()`` and ``str()`` give ``Secret('***')``; only :meth:`reveal` and
    :meth:`reveal_bytes` give the value, and the serializer marks every fragment
    built from it as sensitive so that traces redact it.
    """

    __slots__ = ("__value",)

    def __init__(self, value: str | bytes) -> None:
        if isinstance(value, str):
            try:
                value = value.encode("utf-8")
            except UnicodeEncodeError:
                # A lone surrogate has no UTF-8 form; the message must not echo it.
                raise InvalidArgumentError("a Secret str holds a lone surrogate") from None
        if not isinstance(value, bytes):
            raise InvalidArgumentError("a Secret holds str or bytes")
        self.__value = value

    def reveal(self) -> str:
        """The secret as text (UTF-8)."""
        return self.__value.decode("utf-8", "surrogateescape")

    def reveal_bytes(self) -> bytes:
        """The secret as bytes."""
        return self.__value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self.__value, other.__value)

    def __hash__(self) -> int:
        return hash((Secret, len(self.__value)))

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled")

    def __bool__(self) -> bool:
        return bool(self.__value)


class RawMailbox(str):
    """A mailbox name sent as the exact bytes the server listed it with.

    A command normally encodes a ``str`` mailbox name (modified UTF-7, or UTF-8
    after ``UTF8=ACCEPT``).  A name the server lists in a form that is not
    canonical modified UTF-7 (``&Jjo``, ``&AGE-``: the parser then decodes it
    as UTF-8) would come out of that encoding as *other* bytes, naming another
    mailbox or none, so such a mailbox could never be selected.  A
    ``RawMailbox`` carries the wire bytes (``ListResponse.mailbox_raw``, see
    :meth:`from_list` and :attr:`ListResponse.raw_mailbox
    <pipeimap.protocol.ListResponse.raw_mailbox>`) and every mailbox argument
    accepts it in place of a ``str``: the serializer sends ``raw`` unchanged
    (as an atom, quoted string or literal by the usual rules, so it can
    never break the command) and never re-encodes it.

    It *is* a ``str`` -- the decoded name, for display and for comparing with
    other names -- so code that handles mailbox names as ``str`` keeps
    working.  NUL is refused (it cannot be sent in a literal); CR and LF go in
    a literal.  The raw bytes are sent as they are even after ``ENABLE
    UTF8=ACCEPT``: take them from a LIST made in the same mode.
    """

    __raw: bytes

    def __new__(cls, raw: bytes, name: str | None = None) -> RawMailbox:
        if not isinstance(raw, (bytes, bytearray, memoryview)):
            raise InvalidArgumentError(f"a raw mailbox name is bytes, not {type(raw).__name__}")
        data = bytes(raw)
        if b"\x00" in data:
            raise InvalidArgumentError("a mailbox name cannot hold NUL")
        if name is None:
            name = data.decode("utf-8", "surrogateescape")
        elif not isinstance(name, str):
            raise InvalidArgumentError(f"a mailbox name is a str, not {type(name).__name__}")
        obj = super().__new__(cls, name)
        obj.__raw = data
        return obj

    @classmethod
    def from_list(cls, response: object) -> RawMailbox:
        """The mailbox of a ``ListResponse`` or ``MailboxStatusResponse``, raw."""
        raw = getattr(response, "mailbox_raw", None)
        name = getattr(response, "mailbox", None)
        if not isinstance(raw, bytes) or not isinstance(name, str):
            raise InvalidArgumentError("expected a response with mailbox and mailbox_raw")
        return cls(raw, name)

    @property
    def raw(self) -> bytes:
        """The bytes sent on the wire."""
        return self.__raw

    def __setattr__(self, name: str, value: object) -> None:
        if name == "_RawMailbox__raw" and "_RawMailbox__raw" not in self.__dict__:
            object.__setattr__(self, name, value)
            return
        raise AttributeError("RawMailbox is immutable")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RawMailbox):
            return self.__raw == other.__raw
        return str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    # equal RawMailboxes have equal raw bytes, hence (same server) equal names
    __hash__ = str.__hash__

    def __repr__(self) -> str:
        return f"RawMailbox({self.__raw!r}, {str(self)!r})"

    def __reduce__(self) -> tuple[object, tuple[bytes, str]]:
        return (RawMailbox, (self.__raw, str(self)))
