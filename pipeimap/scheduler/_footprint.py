"""Command footprints: what a command touches, computed once when it is submitted.

Theory of operation: a :class:`Footprint` is the analyzer's whole view of a
command (pipelining.md, "The model").  Data dependencies are sets of
:class:`Access` -- a resource kind, a key (a flag, a mailbox name, ``"*"`` for
all) and, for per-message resources, a :class:`MessageScope`.  Two accesses
overlap when kind, key and scope all overlap; a write overlapping a read or a
write is a conflict (R4), except between two *additive* writes (MODSEQ bumps,
messages added to one mailbox by APPEND/COPY/MOVE), which commute.

Messages added to the *selected* mailbox (APPEND, COPY or MOVE into it) are a
write of ``MSGS`` on the UIDs they will get -- from the lowest UID a new
message can have (:attr:`FootprintContext.new_uid_floor`) upwards: they move
``*`` (RFC 9051 section 9), so they conflict with anything whose set holds
``*``, with a SEARCH, with sequence numbers, and with UID ranges that reach
the new UIDs; not with UID sets of existing messages.

Scopes are compared conservatively: a sequence-number scope and a UID scope
always overlap (the seq->UID map may be incomplete or about to change), and a
set holding ``*`` covers every message (``n:*`` may even name a number below
``n``, RFC 9051 section 9).  Flag reads and writes follow RFC 9051 section
6.4.5 (non-PEEK body fetches set ``\\Seen`` on a read-write mailbox) and
section 6.4.6 (STORE without ``.SILENT`` answers with all the flags).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ..protocol import _commands as c
from ..protocol._parse_fetch import normalize_fetch_item_name
from ..protocol._seqset import LastSearch, SeqSet, UIDSet
from ..protocol._serializer import EncodeOptions, EncodingInfo, describe_encoding, serialize
from ..protocol._types import Flag

__all__ = [
    "ALL_MESSAGES",
    "Access",
    "Barrier",
    "Footprint",
    "FootprintContext",
    "MessageScope",
    "Selection",
    "Solicit",
    "Wire",
    "compute_footprint",
    "describe_command",
    "fetch_request_names",
]

_INF = 1 << 40  # above every number a set can name


class Wire(enum.Enum):
    PLAIN = "plain"
    SYNC_LITERAL = "sync_literal"
    EXCHANGE = "exchange"


class Barrier(enum.Enum):
    NONE = "none"
    UNTIL_COMPLETE = "until_complete"
    UNTIL_LAYER = "until_layer"
    TERMINAL = "terminal"


class Selection(enum.Enum):
    NONE = "none"
    NEEDS = "needs"
    CHANGES = "changes"


@dataclass(frozen=True, slots=True)
class MessageScope:
    """The messages a command works on: ``kind`` is ``"uid"``, ``"seq"`` or ``"all"``."""

    kind: str
    ranges: tuple[tuple[int, int], ...] = ()

    @classmethod
    def of(cls, messages: SeqSet | UIDSet | LastSearch | None) -> MessageScope:
        if not isinstance(messages, (SeqSet, UIDSet)) or messages.has_star:
            return ALL_MESSAGES  # "$", no set, or a set with "*": anything
        kind = "uid" if isinstance(messages, UIDSet) else "seq"
        ranges = tuple(
            (lo, hi) for lo, hi in messages.ranges if isinstance(lo, int) and isinstance(hi, int)
        )
        return cls(kind, ranges)

    def overlaps(self, other: MessageScope) -> bool:
        if self.kind == "all" or other.kind == "all" or self.kind != other.kind:
            return True
        i = j = 0
        a, b = self.ranges, other.ranges
        while i < len(a) and j < len(b):
            if a[i][1] < b[j][0]:
                i += 1
            elif b[j][1] < a[i][0]:
                j += 1
            else:
                return True
        return False


ALL_MESSAGES = MessageScope("all")


@dataclass(frozen=True, slots=True)
class Access:
    """One resource a command reads or writes (pipelining.md, ``reads``/``writes``)."""

    resource: str  # FLAGS, MODSEQ, MSGS, MBOX, MBOXLIST, SUBS, SEARCHRES, SESSION
    key: str = ""  # a flag (lowercased), a mailbox name, or "*" for all
    scope: MessageScope | None = None
    additive: bool = False

    def overlaps(self, other: Access) -> bool:
        if self.resource != other.resource:
            return False
        if self.key != other.key and "*" not in (self.key, other.key):
            return False
        if self.scope is None or other.scope is None:
            return True
        return self.scope.overlaps(other.scope)


@dataclass(frozen=True, slots=True)
class Solicit:
    """An untagged response a command expects that only one command may await (R5)."""

    key: str  # "SEARCH", "SORT", "THREAD", "CAPABILITY", "ID", "NAMESPACE", "ENABLED", or a body item
    scope: MessageScope | None = None

    def collides(self, other: Solicit) -> bool:
        if self.key != other.key:
            return False
        if self.scope is None or other.scope is None:
            return True
        return self.scope.overlaps(other.scope)


@dataclass(frozen=True, slots=True)
class Footprint:
    """Everything the analyzer needs to know about one command (pipelining.md table)."""

    name: str
    wire: Wire = Wire.PLAIN
    barrier: Barrier = Barrier.NONE
    drain_before: bool = False
    expunge_ok: bool = True
    seq_args: bool = False
    selection: Selection = Selection.NONE
    epoch: int = 0
    reads: frozenset[Access] = frozenset()
    writes: frozenset[Access] = frozenset()
    solicits: frozenset[Solicit] = frozenset()
    destructive: bool = False
    is_uid: bool = False
    saves_search: bool = False
    uses_last_search: bool = False
    changes_capabilities: bool = False
    kind: str = ""  # the command class name, for ordered pairs
    mailbox: str = ""  # the target mailbox (APPEND/COPY/MOVE/CREATE/SELECT...)


@dataclass(frozen=True, slots=True)
class FootprintContext:
    """Connection facts a footprint depends on, as of submission."""

    epoch: int = 0
    mailbox: str | None = None  # selected (or being selected) mailbox
    readonly: bool = False
    encode: EncodeOptions = field(default_factory=EncodeOptions)
    #: the lowest UID a message added to ``mailbox`` now can get (UIDNEXT, or
    #: above the largest known UID); ``None``: unknown (any UID may be new).
    new_uid_floor: int | None = None


def _adds_to_selected(target: str, ctx: FootprintContext) -> set[Access]:
    """APPEND/COPY/MOVE into the selected mailbox adds messages there (module docstring)."""
    if ctx.mailbox is None or _mbox(ctx.mailbox) != target:
        return set()
    scope = MessageScope("uid", ((max(ctx.new_uid_floor or 1, 1), _INF),))
    return {Access("MSGS", "", scope, additive=True)}


def _mbox(name: str) -> str:
    return "INBOX" if name.upper() == "INBOX" else name


def _flag_keys(flags: frozenset[Flag] | None) -> tuple[str, ...]:
    return ("*",) if flags is None else tuple(sorted(f.lower() for f in flags))


def fetch_request_names(cmd: c.Fetch) -> frozenset[str]:
    """Normalized response names a FETCH asks for (UID always, pipelining.md)."""
    names = {normalize_fetch_item_name(i.response_name) for i in cmd.expanded_items}
    names.add("UID")
    return frozenset(names)


_BODY_KINDS = ("BODY[", "BINARY[", "RFC822")


def _fetch(cmd: c.Fetch, scope: MessageScope, ctx: FootprintContext) -> dict[str, object]:
    reads = {Access("MSGS", "", scope)}
    writes: set[Access] = set()
    if cmd.reads_flags:
        reads.add(Access("FLAGS", "*", scope))
    if cmd.changed_since is not None or any(i.kind == "MODSEQ" for i in cmd.expanded_items):
        reads.add(Access("MODSEQ", "", scope))
    if cmd.sets_seen and not ctx.readonly:
        writes.add(Access("FLAGS", "\\seen", scope))
        writes.add(Access("MODSEQ", "", scope, additive=True))
    solicits = {
        Solicit(n, scope)
        for n in fetch_request_names(cmd)
        if n.startswith(_BODY_KINDS) and n not in ("RFC822.SIZE",)
    }
    return {"reads": reads, "writes": writes, "solicits": solicits, "destructive": False}


def _store(cmd: c.Store, scope: MessageScope) -> dict[str, object]:
    keys = _flag_keys(cmd.flags_written)
    reads = {Access("MSGS", "", scope)}
    if not cmd.silent:
        reads.add(Access("FLAGS", "*", scope))
    if cmd.unchanged_since is not None:
        reads.add(Access("MODSEQ", "", scope))
    writes = {Access("FLAGS", k, scope) for k in keys}
    writes.add(Access("MODSEQ", "", scope, additive=True))
    return {"reads": reads, "writes": writes, "destructive": True}


def _search(cmd: c._SearchBase) -> dict[str, object]:
    reads = {Access("MSGS", "", ALL_MESSAGES)}
    reads |= {Access("FLAGS", k, ALL_MESSAGES) for k in _flag_keys(cmd.flags_read)}
    if cmd.reads_modseq:
        reads.add(Access("MODSEQ", "", ALL_MESSAGES))
    writes: set[Access] = set()
    saves = isinstance(cmd, c.Search) and cmd.saves_result
    if saves:
        writes.add(Access("SEARCHRES"))
    if cmd.uses_last_search:
        reads.add(Access("SEARCHRES"))
    legacy = getattr(cmd, "return_options", None) is None
    solicits = {Solicit(cmd.NAME)} if legacy else set()
    return {"reads": reads, "writes": writes, "solicits": solicits, "saves_search": saves}


def _message_command(cmd: c.Command, ctx: FootprintContext) -> dict[str, object]:
    scope = MessageScope.of(cmd.messages)
    f: dict[str, object] = {"selection": Selection.NEEDS}
    if isinstance(cmd, c.Fetch):
        f.update(_fetch(cmd, scope, ctx))
        f["expunge_ok"] = cmd.is_uid
    elif isinstance(cmd, c.Store):
        f.update(_store(cmd, scope))
        f["expunge_ok"] = cmd.is_uid
    elif isinstance(cmd, (c.Copy, c.Move)):
        reads = {Access("MSGS", "", scope), Access("FLAGS", "*", scope)}
        reads.add(Access("MBOXLIST", _mbox(cmd.mailbox)))
        writes = {Access("MBOX", _mbox(cmd.mailbox), additive=True)}
        writes |= _adds_to_selected(_mbox(cmd.mailbox), ctx)
        if isinstance(cmd, c.Move):
            writes.add(Access("MSGS", "", scope))
        f.update(reads=reads, writes=writes, destructive=True, mailbox=_mbox(cmd.mailbox))
    elif isinstance(cmd, c.UidExpunge):
        reads = {Access("FLAGS", "\\deleted", scope)}
        f.update(reads=reads, writes={Access("MSGS", "", scope)}, destructive=True)
    return f


def _mailbox_command(cmd: c.Command, ctx: FootprintContext) -> dict[str, object]:
    if isinstance(cmd, (c.Select, c.Examine)):
        m = _mbox(cmd.mailbox)
        return {
            "selection": Selection.CHANGES,
            "reads": {Access("MBOX", m), Access("MBOXLIST", m)},
            "mailbox": m,
        }
    if isinstance(cmd, c.Create):
        m = _mbox(cmd.mailbox)
        return {"writes": {Access("MBOXLIST", m)}, "mailbox": m}
    if isinstance(cmd, c.Delete):
        m = _mbox(cmd.mailbox)
        writes = {Access("MBOXLIST", m), Access("MBOX", m), Access("SUBS", m)}
        return {"writes": writes, "destructive": True, "mailbox": m}
    if isinstance(cmd, c.Rename):
        old, new = _mbox(cmd.old), _mbox(cmd.new)
        writes = {Access(r, n) for r in ("MBOXLIST", "MBOX") for n in (old, new)}
        if old == "INBOX":
            writes.add(Access("MSGS", "", ALL_MESSAGES))  # RENAME INBOX moves its messages
        return {"writes": writes, "destructive": True, "mailbox": new}
    if isinstance(cmd, (c.Subscribe, c.Unsubscribe)):
        return {"writes": {Access("SUBS", _mbox(cmd.mailbox))}}
    if isinstance(cmd, c.Status):
        m = _mbox(cmd.mailbox)
        reads = {Access("MBOX", m), Access("MBOXLIST", m)}
        if ctx.mailbox is not None and _mbox(ctx.mailbox) == m:
            # Discouraged (RFC 9051 section 6.3.10); if forced, it reads everything.
            reads |= {Access("FLAGS", "*", ALL_MESSAGES), Access("MSGS", "", ALL_MESSAGES)}
        return {"reads": reads, "mailbox": m}
    if isinstance(cmd, c.Append):
        m = _mbox(cmd.mailbox)
        return {
            "reads": {Access("MBOXLIST", m)},
            "writes": {Access("MBOX", m, additive=True)} | _adds_to_selected(m, ctx),
            "destructive": True,
            "mailbox": m,
        }
    if isinstance(cmd, c.List):
        reads = {Access("MBOXLIST", "*")}
        if "SUBSCRIBED" in cmd.select_options or "SUBSCRIBED" in cmd.return_options:
            reads.add(Access("SUBS", "*"))
        if cmd.return_status:
            reads.add(Access("MBOX", "*"))
        return {"reads": reads}
    if isinstance(cmd, c.Lsub):
        return {"reads": {Access("MBOXLIST", "*"), Access("SUBS", "*")}}
    return {}


_SESSION_WRITE = frozenset({Access("SESSION")})


def _session_command(cmd: c.Command) -> dict[str, object]:
    if isinstance(cmd, (c.StartTLS, c.Compress)):
        return {
            "barrier": Barrier.UNTIL_LAYER,
            "drain_before": True,
            "writes": _SESSION_WRITE,
            "changes_capabilities": True,
        }
    if isinstance(cmd, c.Authenticate):
        # Nothing is written until it completes.  (A SASL security layer is not
        # supported: no IMAP server in use negotiates one.)
        return {
            "wire": Wire.EXCHANGE,
            "barrier": Barrier.UNTIL_COMPLETE,
            "drain_before": True,
            "writes": _SESSION_WRITE,
            "changes_capabilities": True,
        }
    if isinstance(cmd, c.Login):
        return {"writes": _SESSION_WRITE, "changes_capabilities": True}
    if isinstance(cmd, c.Enable):
        return {"changes_capabilities": True, "solicits": {Solicit("ENABLED")}}
    if isinstance(cmd, c.Idle):
        return {"wire": Wire.EXCHANGE, "barrier": Barrier.UNTIL_COMPLETE, "drain_before": True}
    if isinstance(cmd, c.Logout):
        return {"barrier": Barrier.TERMINAL}
    if isinstance(cmd, c.Capability):
        return {"solicits": {Solicit("CAPABILITY")}}
    if isinstance(cmd, c.Id):
        return {"solicits": {Solicit("ID")}}
    if isinstance(cmd, c.Namespace):
        return {"solicits": {Solicit("NAMESPACE")}}
    if isinstance(cmd, (c.Close, c.Unselect)):
        f: dict[str, object] = {"selection": Selection.CHANGES}
        if isinstance(cmd, c.Close):
            f["reads"] = {Access("FLAGS", "\\deleted", ALL_MESSAGES)}
            f["writes"] = {Access("MSGS", "", ALL_MESSAGES)}
            f["destructive"] = True
        return f
    if isinstance(cmd, c.Expunge):
        return {
            "selection": Selection.NEEDS,
            "reads": {Access("FLAGS", "\\deleted", ALL_MESSAGES)},
            "writes": {Access("MSGS", "", ALL_MESSAGES)},
            "destructive": True,
        }
    if isinstance(cmd, c.Check):
        return {"selection": Selection.NEEDS}
    return {}


def compute_footprint(
    cmd: c.Command, ctx: FootprintContext, *, encoding: EncodingInfo | None = None
) -> Footprint:
    """The footprint of ``cmd`` submitted in the situation ``ctx`` (pipelining.md).
    ``encoding``: ``describe_encoding(cmd, ctx.encode)`` if the caller has it
    already (saves encoding the command again)."""
    if isinstance(cmd, (c.Fetch, c.Store, c.Copy, c.Move, c.UidExpunge)):
        f = _message_command(cmd, ctx)
    elif isinstance(cmd, c._SearchBase):
        f = _search(cmd)
        f["selection"] = Selection.NEEDS
        f["expunge_ok"] = cmd.is_uid
    else:
        f = _mailbox_command(cmd, ctx) or _session_command(cmd)
    if f.get("wire") is None and (
        encoding.has_sync_literal if encoding is not None else _has_sync_literal(cmd, ctx.encode)
    ):
        f["wire"] = Wire.SYNC_LITERAL
    f = {k: (frozenset(v) if isinstance(v, set) else v) for k, v in f.items()}
    return Footprint(
        name=cmd.name,
        seq_args=cmd.seq_args,
        epoch=ctx.epoch,
        is_uid=cmd.is_uid,
        uses_last_search=cmd.uses_last_search,
        kind=type(cmd).__name__,
        **f,  # type: ignore[arg-type]
    )


def _has_sync_literal(cmd: c.Command, opts: EncodeOptions) -> bool:
    return describe_encoding(cmd, opts).has_sync_literal


def describe_command(cmd: c.Command, max_len: int = 100) -> str:
    """A short, secret-free description for error messages: ``UID FETCH 5 (FLAGS)``."""
    try:
        frags = serialize("X", cmd)
    except ValueError:
        return cmd.name
    text = "".join("***" if f.sensitive else f.data.decode("latin-1", "replace") for f in frags)
    line = text[2:].split("\r\n", 1)[0]
    return line if len(line) <= max_len else line[: max_len - 3] + "..."
