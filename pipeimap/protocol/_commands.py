"""Command objects: one frozen dataclass per IMAP command (RFC 9051 section 6,
RFC 3501 section 6, and the extensions pipeimap uses).

Theory of operation: a command holds validated, typed arguments and nothing
about the wire; :mod:`._serializer` turns it into bytes for a given set of
capabilities.  Each command also answers the questions the scheduler asks to
build its footprint (``name``, ``is_uid``, ``messages``, ``seq_args``,
``uses_last_search``, ``flags_written``, fetch items ...), so the pipelining
rules never re-parse the wire form.

Whether a message command is a ``UID`` command is decided by the *type* of its
message set: a :class:`UIDSet` (or ``LAST_SEARCH_UID``) gives ``UID FETCH``, a
:class:`SeqSet` (or ``LAST_SEARCH_SEQ``) gives ``FETCH``.  There is no separate
flag to get wrong.
"""

from __future__ import annotations

import datetime
import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Final

from ..errors import InvalidArgumentError
from ._search import ALL, SearchKey
from ._seqset import LastSearch, SeqSet, UIDSet
from ._types import UID, Flag, ModSeq, RawMailbox, Secret

__all__ = [
    "Append",
    "AppendMessage",
    "Authenticate",
    "Capability",
    "Check",
    "Close",
    "Command",
    "Compress",
    "Copy",
    "Create",
    "Delete",
    "Enable",
    "Examine",
    "Expunge",
    "Fetch",
    "FetchItem",
    "FetchMacro",
    "GetQuota",
    "GetQuotaRoot",
    "Id",
    "Idle",
    "List",
    "Login",
    "Logout",
    "Lsub",
    "MessageSet",
    "Move",
    "Namespace",
    "Noop",
    "QResync",
    "Rename",
    "Search",
    "Section",
    "Select",
    "SetQuota",
    "Sort",
    "StartTLS",
    "Status",
    "Store",
    "StoreMode",
    "Subscribe",
    "Thread",
    "UidExpunge",
    "Unselect",
    "Unsubscribe",
]

MessageSet = SeqSet | UIDSet | LastSearch

_ATOM_RE: Final = re.compile(r"[!#$&'+-\[^-z|}~]+\Z")
_FIELD_RE: Final = re.compile(r"[!-9;-~]+\Z")  # RFC 5322 field-name
_SASL_MECH_RE: Final = re.compile(r"[A-Z0-9_-]{1,20}\Z")  # RFC 4422 section 3.1


def _atom(value: object, what: str) -> str:
    if not isinstance(value, str) or _ATOM_RE.match(value) is None:
        raise InvalidArgumentError(f"{what} must be an IMAP atom, not {value!r}")
    return value


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{what} must be a str, not {type(value).__name__}")
    return value


_MAILBOX_FORBIDDEN: Final = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _mailbox(value: object, what: str = "mailbox name") -> str:
    name = _text(value, what)
    if isinstance(name, RawMailbox):
        return name  # sent as its raw bytes (validated on construction)
    if any(0xD800 <= ord(c) <= 0xDFFF for c in name):
        raise InvalidArgumentError(f"{what} holds a lone surrogate")
    bad = _MAILBOX_FORBIDDEN.search(name)
    if bad is not None:
        # RFC 9051 section 5.1: mailbox names MUST NOT contain control characters,
        # DEL, U+2028 or U+2029.  Encoded (mUTF-7) they would be safe on our side,
        # but Dovecot echoes the decoded name raw into its NO text, so a CR LF in
        # a name desynchronises the response stream.  A legacy name listed by a
        # server can still be reached as a RawMailbox.
        raise InvalidArgumentError(
            f"{what} holds the control character U+{ord(bad.group()):04X} "
            "(RFC 9051 section 5.1 forbids them)"
        )
    return name


def _flags(flags: Iterable[Flag | str], *, allow_recent: bool = False) -> tuple[Flag, ...]:
    if isinstance(flags, (str, bytes)):
        raise InvalidArgumentError("flags must be a sequence of flags, not one string")
    out: list[Flag] = []
    for f in flags:
        flag = Flag(f)
        if flag == Flag.WILDCARD:
            raise InvalidArgumentError("\\* is not a flag a client can set")
        if flag == Flag.RECENT and not allow_recent:
            raise InvalidArgumentError(
                "\\Recent cannot be set by a client (RFC 3501 section 2.3.2)"
            )
        if flag not in out:
            out.append(flag)
    return tuple(out)


def _message_set(value: object) -> MessageSet:
    if not isinstance(value, (SeqSet, UIDSet, LastSearch)):
        raise InvalidArgumentError(
            f"messages must be a SeqSet, UIDSet or LastSearch, not {type(value).__name__}"
        )
    return value


def _modseq(value: object, what: str) -> ModSeq | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(f"{what} must be an int")
    return ModSeq(value)


def _as_object(value: object) -> object:
    # Runtime validation of arguments that mypy already believes are well typed.
    return value


def _set(obj: object, name: str, value: object) -> None:
    # Normalising fields of a frozen dataclass in __post_init__.
    object.__setattr__(obj, name, value)


class Command:
    """Base class of every command.  Subclasses are frozen slotted dataclasses."""

    __slots__ = ()
    NAME: ClassVar[str] = ""

    @property
    def name(self) -> str:
        """The command name as written on the wire, ``"UID FETCH"`` included."""
        return self.NAME

    @property
    def is_uid(self) -> bool:
        return False

    @property
    def messages(self) -> MessageSet | None:
        """The message set the command works on, if any."""
        return None

    @property
    def seq_args(self) -> bool:
        """True when an argument holds message sequence numbers (rule R2).  ``$`` does not count."""
        return isinstance(self.messages, SeqSet)

    @property
    def uses_last_search(self) -> bool:
        """True when ``$`` (RFC 5182 SEARCHRES) is used."""
        return isinstance(self.messages, LastSearch)

    @property
    def flags_written(self) -> frozenset[Flag] | None:
        """Flags this command may change; ``None`` means "all flags"."""
        return frozenset()

    @property
    def mailboxes(self) -> tuple[str, ...]:
        """Mailbox names the command names (not the selected one implicitly)."""
        return ()

    @property
    def message_literal_sizes(self) -> tuple[int, ...]:
        """Sizes of message literals (APPEND); other literals depend on encoding,
        see :func:`~pipeimap.protocol._serializer.describe_encoding`."""
        return ()


def _msg_name(base: str, messages: MessageSet) -> str:
    uid = isinstance(messages, UIDSet) or (isinstance(messages, LastSearch) and messages.uid)
    return f"UID {base}" if uid else base


class _MessageCommand(Command):
    __slots__ = ()

    @property
    def name(self) -> str:
        return _msg_name(self.NAME, self.messages_arg)

    @property
    def messages_arg(self) -> MessageSet:
        raise NotImplementedError

    @property
    def is_uid(self) -> bool:
        m = self.messages_arg
        return isinstance(m, UIDSet) or (isinstance(m, LastSearch) and m.uid)

    @property
    def messages(self) -> MessageSet:
        return self.messages_arg


# --- any state ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Capability(Command):
    NAME: ClassVar[str] = "CAPABILITY"


@dataclass(frozen=True, slots=True)
class Noop(Command):
    NAME: ClassVar[str] = "NOOP"


@dataclass(frozen=True, slots=True)
class Logout(Command):
    NAME: ClassVar[str] = "LOGOUT"


@dataclass(frozen=True, slots=True)
class Id(Command):
    """``ID`` (RFC 2971): ``None`` sends ``ID NIL``; values may be ``None`` (NIL)."""

    NAME: ClassVar[str] = "ID"
    params: tuple[tuple[str, str | None], ...] | None = None

    def __init__(
        self, params: Mapping[str, str | None] | Iterable[tuple[str, str | None]] | None = None
    ) -> None:
        if params is None:
            _set(self, "params", None)
            return
        items = list(params.items()) if isinstance(params, Mapping) else list(params)
        if len(items) > 30:
            raise InvalidArgumentError("ID allows at most 30 field-value pairs (RFC 2971)")
        out: list[tuple[str, str | None]] = []
        for k, v in items:
            key = _text(k, "ID field")
            if len(key.encode("utf-8", "surrogatepass")) > 30:
                raise InvalidArgumentError("ID field names are at most 30 octets (RFC 2971)")
            if v is not None:
                v = _text(v, "ID value")
                if len(v.encode("utf-8", "surrogatepass")) > 1024:
                    raise InvalidArgumentError("ID values are at most 1024 octets (RFC 2971)")
            out.append((key, v))
        _set(self, "params", tuple(out))


@dataclass(frozen=True, slots=True)
class Enable(Command):
    """``ENABLE`` (RFC 5161), e.g. ``Enable(("CONDSTORE", "UTF8=ACCEPT"))``."""

    NAME: ClassVar[str] = "ENABLE"
    capabilities: tuple[str, ...]

    def __post_init__(self) -> None:
        caps = tuple(_atom(c, "capability") for c in self.capabilities)
        if not caps:
            raise InvalidArgumentError("ENABLE needs at least one capability")
        _set(self, "capabilities", caps)


@dataclass(frozen=True, slots=True)
class Compress(Command):
    """``COMPRESS DEFLATE`` (RFC 4978)."""

    NAME: ClassVar[str] = "COMPRESS"
    mechanism: str = "DEFLATE"

    def __post_init__(self) -> None:
        _atom(self.mechanism, "compression mechanism")


# --- not authenticated ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartTLS(Command):
    NAME: ClassVar[str] = "STARTTLS"


@dataclass(frozen=True, slots=True)
class Login(Command):
    """``LOGIN user password``; the password is a :class:`Secret`."""

    NAME: ClassVar[str] = "LOGIN"
    username: str
    password: Secret = field(repr=False)

    def __post_init__(self) -> None:
        _text(self.username, "user name")
        pw: object = self.password
        if isinstance(pw, (str, bytes)):
            _set(self, "password", Secret(pw))
        elif not isinstance(pw, Secret):
            raise InvalidArgumentError("the password must be a Secret")


@dataclass(frozen=True, slots=True)
class Authenticate(Command):
    """``AUTHENTICATE mech [initial-response]`` (RFC 9051 section 6.2.2, SASL-IR RFC 4959).

    ``initial_response`` is sent on the command line when the server has
    SASL-IR (an empty response is sent as ``=``); otherwise the client answers
    the first ``+`` with it via :func:`serialize_sasl_response`.
    """

    NAME: ClassVar[str] = "AUTHENTICATE"
    mechanism: str
    initial_response: Secret | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if (
            not isinstance(self.mechanism, str)
            or _SASL_MECH_RE.match(self.mechanism.upper()) is None
        ):
            raise InvalidArgumentError(f"not a SASL mechanism name: {self.mechanism!r}")
        _set(self, "mechanism", self.mechanism.upper())
        ir: object = self.initial_response
        if isinstance(ir, (str, bytes)):
            _set(self, "initial_response", Secret(ir))
        elif ir is not None and not isinstance(ir, Secret):
            raise InvalidArgumentError("the initial response must be a Secret")


# --- authenticated: mailboxes ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class QResync:
    """The ``QRESYNC`` SELECT parameter (RFC 7162 section 3.2.5)."""

    uidvalidity: int
    modseq: ModSeq
    known_uids: UIDSet | None = None
    seq_match: tuple[SeqSet, UIDSet] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.uidvalidity, bool) or not isinstance(self.uidvalidity, int):
            raise InvalidArgumentError("uidvalidity must be an int")
        UID(self.uidvalidity)  # nz-number
        ms = ModSeq(self.modseq)
        if ms == 0:
            raise InvalidArgumentError("QRESYNC needs a non-zero mod-sequence")
        _set(self, "modseq", ms)
        if self.known_uids is not None and not isinstance(self.known_uids, UIDSet):
            raise InvalidArgumentError("known_uids must be a UIDSet")
        if self.seq_match is not None:
            if self.known_uids is None:
                raise InvalidArgumentError("seq_match needs known_uids (RFC 7162 grammar)")
            seqs, uids = self.seq_match
            if not isinstance(seqs, SeqSet) or not isinstance(uids, UIDSet):
                raise InvalidArgumentError("seq_match is (SeqSet, UIDSet)")


@dataclass(frozen=True, slots=True)
class _SelectBase(Command):
    mailbox: str
    condstore: bool = False
    qresync: QResync | None = None

    def __post_init__(self) -> None:
        _mailbox(self.mailbox)
        if self.qresync is not None and not isinstance(self.qresync, QResync):
            raise InvalidArgumentError("qresync must be a QResync")

    @property
    def mailboxes(self) -> tuple[str, ...]:
        return (self.mailbox,)


@dataclass(frozen=True, slots=True)
class Select(_SelectBase):
    """``SELECT mailbox [(CONDSTORE)|(QRESYNC (...))]``."""

    NAME: ClassVar[str] = "SELECT"


@dataclass(frozen=True, slots=True)
class Examine(_SelectBase):
    """``EXAMINE``: SELECT read-only."""

    NAME: ClassVar[str] = "EXAMINE"


_SPECIAL_USE: Final = frozenset(
    ("\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash", "\\Important")
)


@dataclass(frozen=True, slots=True)
class Create(Command):
    """``CREATE mailbox [(USE (\\Drafts ...))]`` (RFC 6154 section 3)."""

    NAME: ClassVar[str] = "CREATE"
    mailbox: str
    special_use: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _mailbox(self.mailbox)
        uses = []
        for u in self.special_use:
            f = Flag(u)
            if not f.is_system or f == Flag.WILDCARD:
                raise InvalidArgumentError(f"not a special-use attribute: {u!r}")
            uses.append(str(f))
        _set(self, "special_use", tuple(uses))

    @property
    def mailboxes(self) -> tuple[str, ...]:
        return (self.mailbox,)


@dataclass(frozen=True, slots=True)
class _OneMailbox(Command):
    mailbox: str

    def __post_init__(self) -> None:
        _mailbox(self.mailbox)

    @property
    def mailboxes(self) -> tuple[str, ...]:
        return (self.mailbox,)


@dataclass(frozen=True, slots=True)
class Delete(_OneMailbox):
    NAME: ClassVar[str] = "DELETE"


@dataclass(frozen=True, slots=True)
class Subscribe(_OneMailbox):
    NAME: ClassVar[str] = "SUBSCRIBE"


@dataclass(frozen=True, slots=True)
class Unsubscribe(_OneMailbox):
    NAME: ClassVar[str] = "UNSUBSCRIBE"


@dataclass(frozen=True, slots=True)
class GetQuotaRoot(_OneMailbox):
    """``GETQUOTAROOT mailbox`` (RFC 9208)."""

    NAME: ClassVar[str] = "GETQUOTAROOT"


@dataclass(frozen=True, slots=True)
class Rename(Command):
    NAME: ClassVar[str] = "RENAME"
    old: str
    new: str

    def __post_init__(self) -> None:
        _mailbox(self.old)
        _mailbox(self.new)

    @property
    def mailboxes(self) -> tuple[str, ...]:
        return (self.old, self.new)


_LIST_SELECT: Final = frozenset(("SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"))
_LIST_RETURN: Final = frozenset(("SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "MYRIGHTS"))
_STATUS_ITEMS: Final = frozenset(
    (
        "MESSAGES",
        "RECENT",
        "UIDNEXT",
        "UIDVALIDITY",
        "UNSEEN",
        "DELETED",
        "SIZE",
        "HIGHESTMODSEQ",
        "APPENDLIMIT",
        "MAILBOXID",
        "DELETED-STORAGE",
    )
)


def _status_items(items: Iterable[str]) -> tuple[str, ...]:
    if isinstance(items, str):
        raise InvalidArgumentError("status items must be a sequence of names")
    out = tuple(_atom(i, "status item").upper() for i in items)
    for i in out:
        if i not in _STATUS_ITEMS:
            raise InvalidArgumentError(f"unknown STATUS item {i!r}")
    if not out:
        raise InvalidArgumentError("STATUS needs at least one item")
    return out


@dataclass(frozen=True, slots=True)
class List(Command):
    """``LIST [(select-opts)] reference patterns [RETURN (return-opts)]``
    (RFC 9051 section 6.3.9, LIST-EXTENDED RFC 5258, LIST-STATUS RFC 5819,
    SPECIAL-USE RFC 6154).  Several patterns need LIST-EXTENDED."""

    NAME: ClassVar[str] = "LIST"
    reference: str = ""
    patterns: tuple[str, ...] = ("*",)
    select_options: tuple[str, ...] = ()
    return_options: tuple[str, ...] = ()
    return_status: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _mailbox(self.reference, "LIST reference")
        raw_pats: object = self.patterns
        if isinstance(raw_pats, str):
            raw_pats = (raw_pats,)
        if not isinstance(raw_pats, Iterable):
            raise InvalidArgumentError("LIST patterns must be a sequence of str")
        pats = tuple(_mailbox(p, "LIST pattern") for p in raw_pats)
        if not pats:
            raise InvalidArgumentError("LIST needs at least one pattern")
        _set(self, "patterns", pats)
        sel = tuple(_atom(o, "LIST selection option").upper() for o in self.select_options)
        for o in sel:
            if o not in _LIST_SELECT:
                raise InvalidArgumentError(f"unknown LIST selection option {o!r}")
        if "RECURSIVEMATCH" in sel and sel == ("RECURSIVEMATCH",):
            raise InvalidArgumentError("RECURSIVEMATCH needs another selection option (RFC 5258)")
        _set(self, "select_options", sel)
        ret = tuple(_atom(o, "LIST return option").upper() for o in self.return_options)
        for o in ret:
            if o not in _LIST_RETURN:
                raise InvalidArgumentError(f"unknown LIST return option {o!r}")
        _set(self, "return_options", ret)
        if self.return_status:
            _set(self, "return_status", _status_items(self.return_status))

    @property
    def is_extended(self) -> bool:
        return bool(
            self.select_options
            or self.return_options
            or self.return_status
            or len(self.patterns) > 1
        )


@dataclass(frozen=True, slots=True)
class Lsub(Command):
    NAME: ClassVar[str] = "LSUB"
    reference: str = ""
    pattern: str = "*"

    def __post_init__(self) -> None:
        _mailbox(self.reference, "LSUB reference")
        _mailbox(self.pattern, "LSUB pattern")


@dataclass(frozen=True, slots=True)
class Namespace(Command):
    NAME: ClassVar[str] = "NAMESPACE"


@dataclass(frozen=True, slots=True)
class Status(Command):
    """``STATUS mailbox (items)``."""

    NAME: ClassVar[str] = "STATUS"
    mailbox: str
    items: tuple[str, ...] = ("MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN")

    def __post_init__(self) -> None:
        _mailbox(self.mailbox)
        _set(self, "items", _status_items(self.items))

    @property
    def mailboxes(self) -> tuple[str, ...]:
        return (self.mailbox,)


@dataclass(frozen=True, slots=True)
class AppendMessage:
    """One message of an APPEND: its bytes, flags and internal date.

    ``binary=True`` sends it as a ``literal8`` (RFC 3516, needs BINARY); a
    message holding NUL is sent that way automatically when the server has BINARY.
    """

    data: bytes
    flags: tuple[Flag, ...] = ()
    internal_date: datetime.datetime | None = None
    binary: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.data, (bytes, bytearray, memoryview)):
            raise InvalidArgumentError("message data must be bytes")
        _set(self, "data", bytes(self.data))
        _set(self, "flags", _flags(self.flags))
        d = self.internal_date
        if d is not None and (not isinstance(d, datetime.datetime) or d.utcoffset() is None):
            raise InvalidArgumentError("internal_date must be a timezone-aware datetime")


@dataclass(frozen=True, slots=True)
class Append(Command):
    """``APPEND mailbox [flags] [date] literal``; several messages make a
    MULTIAPPEND (RFC 3502)."""

    NAME: ClassVar[str] = "APPEND"
    mailbox: str
    messages_to_append: tuple[AppendMessage, ...]

    def __post_init__(self) -> None:
        _mailbox(self.mailbox)
        raw: object = self.messages_to_append
        if isinstance(raw, AppendMessage):
            raw = (raw,)
        if not isinstance(raw, Iterable):
            raise InvalidArgumentError("APPEND needs one or more AppendMessage")
        msgs = tuple(raw)
        if not msgs or not all(isinstance(m, AppendMessage) for m in msgs):
            raise InvalidArgumentError("APPEND needs one or more AppendMessage")
        _set(self, "messages_to_append", msgs)

    @property
    def is_multiappend(self) -> bool:
        return len(self.messages_to_append) > 1

    @property
    def mailboxes(self) -> tuple[str, ...]:
        return (self.mailbox,)

    @property
    def message_literal_sizes(self) -> tuple[int, ...]:
        return tuple(len(m.data) for m in self.messages_to_append)


@dataclass(frozen=True, slots=True)
class GetQuota(Command):
    """``GETQUOTA root`` (RFC 9208)."""

    NAME: ClassVar[str] = "GETQUOTA"
    root: str

    def __post_init__(self) -> None:
        _text(self.root, "quota root")


@dataclass(frozen=True, slots=True)
class SetQuota(Command):
    """``SETQUOTA root (resource limit ...)`` (RFC 9208)."""

    NAME: ClassVar[str] = "SETQUOTA"
    root: str
    limits: tuple[tuple[str, int], ...]

    def __post_init__(self) -> None:
        _text(self.root, "quota root")
        items = list(self.limits.items()) if isinstance(self.limits, Mapping) else list(self.limits)
        out = []
        for res, lim in items:
            _atom(res, "quota resource")
            if isinstance(lim, bool) or not isinstance(lim, int) or not 0 <= lim < 2**63:
                raise InvalidArgumentError("a quota limit is an int in 0..2**63-1")
            out.append((res.upper(), lim))
        _set(self, "limits", tuple(out))


# --- selected state -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Check(Command):
    NAME: ClassVar[str] = "CHECK"


@dataclass(frozen=True, slots=True)
class Close(Command):
    NAME: ClassVar[str] = "CLOSE"


@dataclass(frozen=True, slots=True)
class Unselect(Command):
    NAME: ClassVar[str] = "UNSELECT"


@dataclass(frozen=True, slots=True)
class Expunge(Command):
    NAME: ClassVar[str] = "EXPUNGE"


@dataclass(frozen=True, slots=True)
class Idle(Command):
    """``IDLE`` (RFC 2177); end it with :func:`serialize_idle_done`."""

    NAME: ClassVar[str] = "IDLE"


@dataclass(frozen=True, slots=True)
class UidExpunge(_MessageCommand):
    """``UID EXPUNGE uids`` (UIDPLUS, RFC 4315 section 2.1)."""

    NAME: ClassVar[str] = "EXPUNGE"
    uids: UIDSet | LastSearch

    def __post_init__(self) -> None:
        if not (isinstance(self.uids, UIDSet) or self.uids == LastSearch(uid=True)):
            raise InvalidArgumentError("UID EXPUNGE takes a UIDSet or LAST_SEARCH_UID")

    @property
    def messages_arg(self) -> MessageSet:
        return self.uids


# --- search, sort, thread ----------------------------------------------------------

_ESEARCH_RETURN: Final = frozenset(("MIN", "MAX", "ALL", "COUNT", "SAVE"))


def _return_opts(opts: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if opts is None:
        return None
    if isinstance(_as_object(opts), str):
        raise InvalidArgumentError("return options must be a sequence of names")
    out = tuple(_atom(o, "search return option").upper() for o in opts)
    for o in out:
        if o not in _ESEARCH_RETURN:
            raise InvalidArgumentError(f"unknown SEARCH return option {o!r}")
    return out


def _criteria(value: object) -> SearchKey:
    if not isinstance(value, SearchKey):
        raise InvalidArgumentError(
            "search criteria must be a SearchKey (see pipeimap.protocol.search)"
        )
    return value


@dataclass(frozen=True, slots=True)
class _SearchBase(Command):
    criteria: SearchKey = ALL
    uid: bool = False

    @property
    def name(self) -> str:
        return f"UID {self.NAME}" if self.uid else self.NAME

    @property
    def is_uid(self) -> bool:
        return self.uid

    @property
    def seq_args(self) -> bool:
        return self.criteria.has_seq_set

    @property
    def uses_last_search(self) -> bool:
        return self.criteria.uses_last_search

    @property
    def flags_read(self) -> frozenset[Flag]:
        return self.criteria.flags_read()

    @property
    def reads_modseq(self) -> bool:
        return self.criteria.reads_modseq


@dataclass(frozen=True, slots=True)
class Search(_SearchBase):
    """``[UID] SEARCH [RETURN (opts)] [CHARSET UTF-8] criteria``.

    ``return_options=None`` sends no RETURN (a legacy ``* SEARCH`` answer);
    ``()`` sends ``RETURN ()`` (ESEARCH, meaning ALL).  The charset is chosen by
    the serializer.
    """

    NAME: ClassVar[str] = "SEARCH"
    return_options: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        _criteria(self.criteria)
        _set(self, "return_options", _return_opts(self.return_options))

    @property
    def saves_result(self) -> bool:
        """True for ``RETURN (SAVE)``: it writes ``$`` (SEARCHRES resource)."""
        return self.return_options is not None and "SAVE" in self.return_options


_SORT_KEYS: Final = frozenset(
    ("ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO")
)


@dataclass(frozen=True, slots=True)
class Sort(_SearchBase):
    """``[UID] SORT (keys) charset criteria`` (RFC 5256); prefix a key with
    ``"REVERSE "`` to reverse it, e.g. ``("REVERSE DATE", "SUBJECT")``."""

    NAME: ClassVar[str] = "SORT"
    sort_keys: tuple[str, ...] = ("ARRIVAL",)
    return_options: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        _criteria(self.criteria)
        if isinstance(_as_object(self.sort_keys), str):
            raise InvalidArgumentError("sort keys must be a sequence")
        keys = []
        for k in self.sort_keys:
            parts = _text(k, "sort key").upper().split()
            if not parts or parts[-1] not in _SORT_KEYS or parts[:-1] not in ([], ["REVERSE"]):
                raise InvalidArgumentError(f"not a sort key: {k!r}")
            keys.append(" ".join(parts))
        if not keys:
            raise InvalidArgumentError("SORT needs at least one key")
        _set(self, "sort_keys", tuple(keys))
        _set(self, "return_options", _return_opts(self.return_options))


@dataclass(frozen=True, slots=True)
class Thread(_SearchBase):
    """``[UID] THREAD algorithm charset criteria`` (RFC 5256)."""

    NAME: ClassVar[str] = "THREAD"
    algorithm: str = "REFERENCES"

    def __post_init__(self) -> None:
        _criteria(self.criteria)
        _set(self, "algorithm", _atom(self.algorithm, "thread algorithm").upper())


# --- fetch ----------------------------------------------------------------------------


class FetchMacro(enum.Enum):
    """``ALL``, ``FAST``, ``FULL`` (RFC 9051 section 6.4.5)."""

    ALL = "ALL"
    FAST = "FAST"
    FULL = "FULL"


_SECTION_TEXTS: Final = frozenset(("HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"))


@dataclass(frozen=True, slots=True)
class Section:
    """A body section (RFC 9051 section 6.4.5): ``part`` numbers, then
    ``HEADER``, ``HEADER.FIELDS (fields)``, ``HEADER.FIELDS.NOT (fields)``,
    ``TEXT`` or ``MIME`` (only after a part number)."""

    part: tuple[int, ...] = ()
    text: str | None = None
    fields: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for p in self.part:
            if isinstance(p, bool) or not isinstance(p, int) or not 1 <= p <= 0xFFFFFFFF:
                raise InvalidArgumentError(f"section part numbers are nz-numbers, not {p!r}")
        _set(self, "part", tuple(self.part))
        t = self.text
        if t is not None:
            t = _text(t, "section text").upper()
            if t not in _SECTION_TEXTS:
                raise InvalidArgumentError(f"not a section text: {self.text!r}")
            if t == "MIME" and not self.part:
                raise InvalidArgumentError("MIME needs a part number")
            _set(self, "text", t)
        if isinstance(_as_object(self.fields), str):
            raise InvalidArgumentError("header fields must be a sequence")
        flds = tuple(self.fields)
        if t in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
            if not flds:
                raise InvalidArgumentError(f"{t} needs at least one field name")
            for f in flds:
                if not isinstance(f, str) or _FIELD_RE.match(f) is None:
                    raise InvalidArgumentError(f"not a header field name: {f!r}")
        elif flds:
            raise InvalidArgumentError("fields are only for HEADER.FIELDS[.NOT]")
        _set(self, "fields", flds)

    def spec(self) -> str:
        """The section as written inside ``[...]``, fields unquoted (for routing keys)."""
        parts = [".".join(str(p) for p in self.part)] if self.part else []
        if self.text:
            parts.append(self.text)
        s = ".".join(parts)
        if self.fields:
            s += " (" + " ".join(f.upper() for f in self.fields) + ")"
        return s


_SIMPLE_ITEMS: Final = frozenset(
    (
        "ENVELOPE",
        "FLAGS",
        "INTERNALDATE",
        "RFC822",
        "RFC822.HEADER",
        "RFC822.SIZE",
        "RFC822.TEXT",
        "BODY",
        "BODYSTRUCTURE",
        "UID",
        "MODSEQ",
        "EMAILID",
        "THREADID",
        "SAVEDATE",
    )
)
_SETS_SEEN_SIMPLE: Final = frozenset(("RFC822", "RFC822.TEXT"))
_MACROS: Final[dict[FetchMacro, tuple[str, ...]]] = {
    FetchMacro.ALL: ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    FetchMacro.FAST: ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    FetchMacro.FULL: ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}


@dataclass(frozen=True, slots=True)
class FetchItem:
    """One FETCH data item.

    Build with :meth:`simple` (``FLAGS``, ``ENVELOPE`` ...), :meth:`body`
    (``BODY[section]<partial>`` / ``BODY.PEEK``), :meth:`binary`
    (``BINARY[...]`` / ``BINARY.PEEK``, RFC 3516) or :meth:`binary_size`.
    """

    kind: str  # a simple item name, or "BODY", "BINARY", "BINARY.SIZE"
    section: Section | None = None
    peek: bool = False
    partial: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.kind in _SIMPLE_ITEMS and not (self.kind == "BODY" and self.section is not None):
            if self.section is not None or self.peek or self.partial is not None:
                raise InvalidArgumentError(f"{self.kind} takes no section")
            return
        if self.kind not in ("BODY", "BINARY", "BINARY.SIZE"):
            raise InvalidArgumentError(f"unknown FETCH item {self.kind!r}")
        sec = self.section if self.section is not None else Section()
        if not isinstance(sec, Section):
            raise InvalidArgumentError("section must be a Section")
        _set(self, "section", sec)
        if self.kind != "BODY" and sec.text is not None:
            raise InvalidArgumentError("BINARY sections are part numbers only (RFC 3516)")
        if self.kind == "BINARY.SIZE" and (self.peek or self.partial is not None):
            raise InvalidArgumentError("BINARY.SIZE has no PEEK or partial")
        if self.partial is not None:
            start, length = self.partial
            for v in (start, length):
                if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 0xFFFFFFFF:
                    raise InvalidArgumentError("partial is (offset, length) of 32-bit numbers")
            if length == 0:
                raise InvalidArgumentError("partial length must be non-zero")
            _set(self, "partial", (start, length))

    @classmethod
    def simple(cls, name: str) -> FetchItem:
        return cls(_text(name, "fetch item").upper())

    @classmethod
    def body(
        cls,
        section: Section | str = "",
        *,
        peek: bool = True,
        partial: tuple[int, int] | None = None,
    ) -> FetchItem:
        """``BODY.PEEK[section]<partial>`` (``peek=False`` for ``BODY[...]``,
        which sets ``\\Seen``).  ``section`` may be a :class:`Section` or a
        plain spec like ``"1.2.MIME"``, ``"HEADER"``, ``""``."""
        return cls("BODY", _section(section), peek, partial)

    @classmethod
    def binary(
        cls,
        part: tuple[int, ...] = (),
        *,
        peek: bool = True,
        partial: tuple[int, int] | None = None,
    ) -> FetchItem:
        return cls("BINARY", Section(part), peek, partial)

    @classmethod
    def binary_size(cls, part: tuple[int, ...] = ()) -> FetchItem:
        return cls("BINARY.SIZE", Section(part))

    @property
    def sets_seen(self) -> bool:
        """True when fetching it sets ``\\Seen`` on a read-write mailbox (RFC 9051 section 6.4.5)."""
        if self.kind in ("BODY", "BINARY"):
            return not self.peek and self.section is not None
        return self.kind in _SETS_SEEN_SIMPLE

    @property
    def reads_flags(self) -> bool:
        return self.kind == "FLAGS"

    @property
    def response_name(self) -> str:
        """The name the server answers with: ``BODY[1.MIME]<0>``, ``FLAGS`` (rule: no
        PEEK, partial shows its origin only)."""
        if self.section is None:
            return self.kind
        s = f"{self.kind}[{self.section.spec()}]"
        if self.partial is not None:
            s += f"<{self.partial[0]}>"
        return s


def _section(spec: Section | str) -> Section:
    if isinstance(spec, Section):
        return spec
    s = _text(spec, "section").upper()
    if not s:
        return Section()
    pieces = s.split(".")
    part: list[int] = []
    # isdigit() alone accepts "\u00b2" and other non-ASCII digits.
    while pieces and pieces[0].isascii() and pieces[0].isdigit():
        part.append(int(pieces.pop(0)))
    rest = ".".join(pieces)
    if rest.startswith("HEADER.FIELDS"):
        raise InvalidArgumentError("build HEADER.FIELDS sections with Section(fields=...)")
    return Section(tuple(part), rest or None)


def _fetch_items(items: object) -> tuple[FetchItem, ...] | FetchMacro:
    if isinstance(items, FetchMacro):
        return items
    if isinstance(items, (FetchItem, str)):
        items = (items,)
    if not isinstance(items, Iterable):
        raise InvalidArgumentError("fetch items must be FetchItems or a FetchMacro")
    out: list[FetchItem] = []
    for it in items:
        item = FetchItem.simple(it) if isinstance(it, str) else it
        if not isinstance(item, FetchItem):
            raise InvalidArgumentError("fetch items must be FetchItem or item names")
        if item not in out:
            out.append(item)
    if not out:
        raise InvalidArgumentError("FETCH needs at least one item")
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Fetch(_MessageCommand):
    """``[UID] FETCH set items [(CHANGEDSINCE m [VANISHED])]`` (RFC 9051 section 6.4.5,
    RFC 7162 sections 3.1.4 and 3.2.6).  ``items`` are :class:`FetchItem` s,
    item names (``"FLAGS"``), or a :class:`FetchMacro`."""

    NAME: ClassVar[str] = "FETCH"
    target: MessageSet
    items: tuple[FetchItem, ...] | FetchMacro = (FetchItem("FLAGS"),)
    changed_since: ModSeq | None = None
    vanished: bool = False

    def __post_init__(self) -> None:
        _message_set(self.target)
        _set(self, "items", _fetch_items(self.items))
        _set(self, "changed_since", _modseq(self.changed_since, "changed_since"))
        if self.vanished and (not self.is_uid or self.changed_since is None):
            raise InvalidArgumentError("VANISHED needs a UID FETCH with CHANGEDSINCE (RFC 7162)")

    @property
    def messages_arg(self) -> MessageSet:
        return self.target

    @property
    def expanded_items(self) -> tuple[FetchItem, ...]:
        """The items, macros expanded."""
        if isinstance(self.items, FetchMacro):
            return tuple(FetchItem(n) for n in _MACROS[self.items])
        return self.items

    @property
    def sets_seen(self) -> bool:
        """True when the fetch sets ``\\Seen`` on a read-write mailbox."""
        return any(i.sets_seen for i in self.expanded_items)

    @property
    def reads_flags(self) -> bool:
        return any(i.reads_flags for i in self.expanded_items)

    @property
    def flags_written(self) -> frozenset[Flag] | None:
        return frozenset((Flag.SEEN,)) if self.sets_seen else frozenset()


class StoreMode(enum.Enum):
    """``+FLAGS`` (add), ``-FLAGS`` (remove), ``FLAGS`` (replace)."""

    ADD = "+FLAGS"
    REMOVE = "-FLAGS"
    REPLACE = "FLAGS"


@dataclass(frozen=True, slots=True)
class Store(_MessageCommand):
    """``[UID] STORE set [(UNCHANGEDSINCE m)] [+|-]FLAGS[.SILENT] (flags)``."""

    NAME: ClassVar[str] = "STORE"
    target: MessageSet
    mode: StoreMode
    flags: tuple[Flag, ...]
    silent: bool = False
    unchanged_since: ModSeq | None = None

    def __post_init__(self) -> None:
        _message_set(self.target)
        if not isinstance(self.mode, StoreMode):
            raise InvalidArgumentError("mode must be a StoreMode")
        _set(self, "flags", _flags(self.flags))
        if not self.flags and self.mode is not StoreMode.REPLACE:
            raise InvalidArgumentError("adding or removing no flags is meaningless")
        _set(self, "unchanged_since", _modseq(self.unchanged_since, "unchanged_since"))

    @property
    def messages_arg(self) -> MessageSet:
        return self.target

    @property
    def flags_written(self) -> frozenset[Flag] | None:
        return None if self.mode is StoreMode.REPLACE else frozenset(self.flags)

    @property
    def reads_flags(self) -> bool:
        """Without ``.SILENT`` the server answers with the new flags."""
        return not self.silent


@dataclass(frozen=True, slots=True)
class Copy(_MessageCommand):
    """``[UID] COPY set mailbox``."""

    NAME: ClassVar[str] = "COPY"
    target: MessageSet
    mailbox: str

    def __post_init__(self) -> None:
        _message_set(self.target)
        _mailbox(self.mailbox)

    @property
    def messages_arg(self) -> MessageSet:
        return self.target

    @property
    def mailboxes(self) -> tuple[str, ...]:
        return (self.mailbox,)


@dataclass(frozen=True, slots=True)
class Move(_MessageCommand):
    """``[UID] MOVE set mailbox`` (RFC 6851)."""

    NAME: ClassVar[str] = "MOVE"
    target: MessageSet
    mailbox: str

    def __post_init__(self) -> None:
        _message_set(self.target)
        _mailbox(self.mailbox)

    @property
    def messages_arg(self) -> MessageSet:
        return self.target

    @property
    def mailboxes(self) -> tuple[str, ...]:
        return (self.mailbox,)
