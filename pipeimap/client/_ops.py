"""Operations: what a Client method sends, and how its answer becomes a result.

An :class:`Op` is the command(s) of one API call (several when a long UID set
is split to the line budget, RFC 2683 section 3.2.1.5) and a function turning
what each command received into the public result.  The same ops serve the
direct methods and explicit batches, so a batched ``store`` returns exactly
what ``Client.store`` returns.  This module does no I/O.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeAlias, TypeVar

from ..errors import InvalidArgumentError
from ..protocol import _commands as c
from ..protocol._codes import (
    AppendUidCode,
    CopyUidCode,
    ModifiedCode,
    NumberCode,
    PermanentFlagsCode,
)
from ..protocol._responses import (
    ESearchResponse,
    ExistsResponse,
    FetchItems,
    FlagsResponse,
    IdResponse,
    ListResponse,
    MailboxStatusResponse,
    NamespaceResponse,
    RecentResponse,
    SearchResponse,
    SortResponse,
    StreamedLiteral,
    ThreadNode,
    ThreadResponse,
    UntaggedStatus,
    VanishedResponse,
)
from ..protocol._search import SearchKey
from ..protocol._seqset import LastSearch, SeqSet, UIDSet
from ..protocol._serializer import EncodeOptions, split_command
from ..protocol._types import UID, Flag, ModSeq, SeqNum
from ..scheduler import (
    Completed,
    Delivered,
    LiteralChunk,
    LiteralStarted,
    MessageDelivered,
    Outcome,
)
from ._results import (
    AppendResult,
    CopyResult,
    FetchedMessage,
    MailboxInfo,
    SearchResult,
    SelectResult,
    StatusResult,
    StoreResult,
)

__all__ = ["Done", "FetchAssembler", "MessagesArg", "Op", "as_message_set", "fetch_items"]

T = TypeVar("T")
Done = tuple[Completed, list[Outcome]]
"""What one command received: its tagged OK and every outcome before it."""

MessagesArg: TypeAlias = (
    "int | range | Iterable[int] | UIDSet | SeqSet | LastSearch | str | SearchResult"
)
"""Messages to work on: UIDs by default (an int, a range, an iterable of ints,
``"1:*"``, a :class:`UIDSet`, a :class:`SearchResult` of a UID search); a
:class:`SeqSet` (or a sequence-number search result) for sequence numbers."""

FlagsArg: TypeAlias = "str | Flag | Iterable[str | Flag]"


@dataclass(frozen=True, slots=True)
class Op(Generic[T]):
    commands: tuple[c.Command, ...]
    convert: Callable[[list[Done]], T]


# --- arguments ---------------------------------------------------------------------------


def as_message_set(value: MessagesArg) -> c.MessageSet | None:
    """The message set for ``value``; ``None`` for an empty one (IMAP sets cannot
    be empty, so an empty request is answered without asking the server)."""
    if isinstance(value, (UIDSet, SeqSet, LastSearch)):
        return value
    if isinstance(value, SearchResult):
        return value.all
    if isinstance(value, str):
        return UIDSet.parse(value)
    if isinstance(value, bool):
        raise InvalidArgumentError("messages must be UIDs, not a bool")
    if isinstance(value, int):
        return UIDSet(value)
    if isinstance(value, range):
        return UIDSet(value) if len(value) else None
    numbers = list(value)
    return UIDSet(numbers) if numbers else None


def as_flags(flags: FlagsArg) -> tuple[Flag, ...]:
    if isinstance(flags, str):
        return (Flag(flags),)
    return tuple(Flag(f) for f in flags)


_SIMPLE = frozenset(
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
_SECTIONED = re.compile(
    r"(BODY|BINARY|BINARY\.SIZE)(\.PEEK)?\[([^\]]*)\](?:<([0-9]+)\.([0-9]+)>)?\Z", re.IGNORECASE
)
_FIELDS = re.compile(r"((?:[0-9]+\.)*)(HEADER\.FIELDS(?:\.NOT)?) *\(([^)]*)\)\Z", re.IGNORECASE)

FetchItemsArg: TypeAlias = "str | c.FetchItem | c.FetchMacro | Iterable[str | c.FetchItem]"


def _parse_item(text: str) -> c.FetchItem:
    upper = text.strip().upper()
    if upper in _SIMPLE:
        return c.FetchItem.simple(upper)
    m = _SECTIONED.match(text.strip())
    if m is None:
        raise InvalidArgumentError(f"not a FETCH item: {text!r}")
    kind, peek, spec = m.group(1).upper(), bool(m.group(2)), m.group(3).strip()
    partial = (int(m.group(4)), int(m.group(5))) if m.group(4) is not None else None
    if kind == "BINARY.SIZE":
        return c.FetchItem.binary_size(_part_numbers(spec))
    if kind == "BINARY":
        return c.FetchItem.binary(_part_numbers(spec), peek=peek, partial=partial)
    fm = _FIELDS.match(spec)
    if fm is not None:
        part = _part_numbers(fm.group(1).rstrip("."))
        section = c.Section(part, fm.group(2).upper(), tuple(fm.group(3).split()))
        return c.FetchItem.body(section, peek=peek, partial=partial)
    return c.FetchItem.body(spec, peek=peek, partial=partial)


def _part_numbers(spec: str) -> tuple[int, ...]:
    if not spec:
        return ()
    try:
        return tuple(int(p) for p in spec.split("."))
    except ValueError:
        raise InvalidArgumentError(f"not a part number: {spec!r}") from None


def fetch_items(items: FetchItemsArg) -> tuple[c.FetchItem, ...]:
    """Items as :class:`FetchItem` s, macros expanded, ``UID`` always added."""
    if isinstance(items, c.FetchMacro):
        out = list(c.Fetch(UIDSet(1), items).expanded_items)
    elif isinstance(items, str) and items.strip().upper() in ("ALL", "FAST", "FULL"):
        out = list(c.Fetch(UIDSet(1), c.FetchMacro(items.strip().upper())).expanded_items)
    else:
        seq: Iterable[str | c.FetchItem] = (
            (items,) if isinstance(items, (str, c.FetchItem)) else items
        )
        out = [_parse_item(i) if isinstance(i, str) else i for i in seq]
    if not any(i.kind == "UID" for i in out):
        out.append(c.FetchItem("UID"))
    return tuple(dict.fromkeys(out))


def split(command: c.Command, max_line: int, options: EncodeOptions) -> tuple[c.Command, ...]:
    if isinstance(command, c.Store) and _store_line_bound(command) <= max_line:
        return (command,)  # short for sure: skip encoding it just to measure it
    return tuple(split_command(command, max_line, options))


# Everything of a STORE line but its set and flags, with room to spare: a tag
# (split_command allows 32 octets), "UID STORE", "(UNCHANGEDSINCE <20 digits>)",
# "+FLAGS.SILENT", the parentheses, spaces and CRLF add up to about 100.
_STORE_FIXED = 128


def _store_line_bound(cmd: c.Store) -> int:
    """An upper bound of the length of ``cmd``'s line (one line: a STORE has no
    literal), or a huge number when a flag is not plain ASCII."""
    if not all(f.isascii() for f in cmd.flags):
        return 1 << 62
    return len(cmd.target.to_bytes()) + sum(len(f) + 1 for f in cmd.flags) + _STORE_FIXED


# --- fetch results ----------------------------------------------------------------------


class FetchAssembler:
    """Puts streamed body literals back into the messages they belong to, for
    the APIs that return whole messages (``fetch``, ``fetch_all``)."""

    def __init__(self) -> None:
        # The literal being streamed: its key, item and chunks so far (joined
        # once at its end: each byte is copied once).
        self._open: tuple[object, str, list[bytes]] | None = None
        self._done: dict[tuple[object, str], bytes] = {}

    def feed(self, o: Outcome) -> None:
        if isinstance(o, LiteralStarted):
            key: object = int(o.uid) if o.uid is not None else ("seq", int(o.seq))
            self._open = (key, o.item, [])
        elif isinstance(o, LiteralChunk) and self._open is not None:
            self._open[2].append(o.data)
        elif self._open is not None:  # LiteralEnded
            key, item, chunks = self._open
            self._done[(key, item)] = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            self._open = None

    def message(self, o: MessageDelivered) -> FetchedMessage:
        items = o.items
        uid = o.uid if o.uid is not None else items.uid
        for value in items.values():
            if isinstance(value, StreamedLiteral):
                return _fetched(o.seq, uid, self._assembled(o.seq, uid, items))
        return _fetched(o.seq, uid, items)

    def _assembled(self, seq: SeqNum, uid: UID | None, items: FetchItems) -> FetchItems:
        """``items`` with each streamed literal replaced by its bytes."""
        fixed: dict[str, object] = {}
        for name, value in items.items():
            if isinstance(value, StreamedLiteral):
                value = self._done.pop((int(uid), name), None) if uid is not None else None
                if value is None:
                    value = self._done.pop((("seq", int(seq)), name), b"")
            fixed[name] = value
        return FetchItems(fixed)


_new = object.__new__
_set_seq = vars(FetchedMessage)["seq"].__set__
_set_uid = vars(FetchedMessage)["uid"].__set__
_set_items = vars(FetchedMessage)["items"].__set__


def _fetched(seq: SeqNum, uid: UID | None, items: FetchItems) -> FetchedMessage:
    """``FetchedMessage(seq, uid, items)`` without the frozen dataclass
    ``__init__``'s ``object.__setattr__`` calls (the same object; one per
    message of a bulk fetch)."""
    msg: FetchedMessage = _new(FetchedMessage)
    _set_seq(msg, seq)
    _set_uid(msg, uid)
    _set_items(msg, items)
    return msg


def _messages(done: list[Done]) -> list[FetchedMessage]:
    asm = FetchAssembler()
    out: list[FetchedMessage] = []
    for _, outs in done:
        for o in outs:
            if isinstance(o, MessageDelivered):
                out.append(asm.message(o))
            elif not isinstance(o, Delivered):
                asm.feed(o)
    return out


def fetch_op(
    target: c.MessageSet | None,
    items: tuple[c.FetchItem, ...],
    changed_since: int | None,
    vanished: bool,
    max_line: int,
    options: EncodeOptions,
) -> Op[list[FetchedMessage]]:
    if target is None:
        return Op((), _messages)
    cmd = c.Fetch(
        target, items, ModSeq(changed_since) if changed_since is not None else None, vanished
    )
    return Op(split(cmd, max_line, options), _messages)


# --- mailbox selection --------------------------------------------------------------


def select_op(
    mailbox: str, readonly: bool, condstore: bool, qresync: c.QResync | None
) -> Op[SelectResult]:
    cls = c.Examine if readonly else c.Select
    cmd = cls(mailbox, condstore=condstore, qresync=qresync)

    def convert(done: list[Done]) -> SelectResult:
        completed, outs = done[0]
        exists = recent = 0
        flags: tuple[Flag, ...] = ()
        pflags: tuple[Flag, ...] = ()
        numbers: dict[str, int] = {}
        nomodseq = False
        vanished: list[UIDSet] = []
        changed: list[FetchedMessage] = []
        for o in outs:
            if isinstance(o, MessageDelivered):  # QRESYNC changes (RFC 7162 3.2.5.2)
                uid = o.uid if o.uid is not None else o.items.uid
                changed.append(FetchedMessage(o.seq, uid, o.items))
                continue
            if not isinstance(o, Delivered):
                continue
            r = o.response
            if isinstance(r, ExistsResponse):
                exists = r.count
            elif isinstance(r, RecentResponse):
                recent = r.count
            elif isinstance(r, FlagsResponse):
                flags = r.flags
            elif isinstance(r, UntaggedStatus) and r.code is not None:
                if isinstance(r.code, NumberCode):
                    numbers[r.code.name] = r.code.value
                elif isinstance(r.code, PermanentFlagsCode):
                    pflags = r.code.flags
                elif r.code.name == "NOMODSEQ":
                    nomodseq = True
            elif isinstance(r, VanishedResponse):
                vanished.append(r.uids)
        code = completed.tagged.code
        ro = readonly
        if code is not None and code.name in ("READ-ONLY", "READ-WRITE"):
            ro = code.name == "READ-ONLY"
        hms = numbers.get("HIGHESTMODSEQ")
        return SelectResult(
            mailbox=mailbox,
            readonly=ro,
            exists=exists,
            recent=recent,
            flags=flags,
            permanent_flags=pflags,
            uidvalidity=numbers.get("UIDVALIDITY"),
            uidnext=numbers.get("UIDNEXT"),
            highestmodseq=ModSeq(hms) if hms is not None else None,
            nomodseq=nomodseq,
            unseen=numbers.get("UNSEEN"),
            vanished=vanished[0].union(*vanished[1:]) if vanished else None,
            changed=tuple(changed),
        )

    return Op((cmd,), convert)


# --- search, sort, thread -----------------------------------------------------------


def search_op(
    criteria: SearchKey, uid: bool, esearch: bool, return_options: Sequence[str] | None
) -> Op[SearchResult]:
    opts: tuple[str, ...] | None = None
    if esearch:
        opts = tuple(o.upper() for o in return_options) if return_options else ("ALL",)
    elif return_options:
        raise InvalidArgumentError("RETURN options need ESEARCH, which the server lacks")
    cmd = c.Search(criteria, uid, opts)
    set_type: type[UIDSet] | type[SeqSet] = UIDSet if uid else SeqSet

    def convert(done: list[Done]) -> SearchResult:
        _, outs = done[0]
        for o in outs:
            if not isinstance(o, Delivered):
                continue
            r = o.response
            if isinstance(r, ESearchResponse):
                found = r.all
                count = r.count if r.count is not None else (found.count() if found else 0)
                lo = r.min if r.min is not None else (found.min if found else None)
                hi = r.max if r.max is not None else (_max(found) if found else None)
                return SearchResult(uid, found, count, lo, hi, r.modseq)
            if isinstance(r, SearchResponse):
                nums = sorted(set(r.numbers))
                found_set = set_type(nums) if nums else None
                lo = nums[0] if nums else None
                hi = nums[-1] if nums else None
                return SearchResult(uid, found_set, len(nums), lo, hi, r.modseq)
        return SearchResult(uid, None, 0)

    return Op((cmd,), convert)


def _max(found: UIDSet | SeqSet) -> int | None:
    value = found.max
    return value if isinstance(value, int) else None


def sort_op(keys: Sequence[str], criteria: SearchKey, uid: bool) -> Op[tuple[int, ...]]:
    cmd = c.Sort(criteria, uid, tuple(keys))

    def convert(done: list[Done]) -> tuple[int, ...]:
        for o in done[0][1]:
            if isinstance(o, Delivered) and isinstance(o.response, SortResponse):
                return o.response.numbers
        return ()

    return Op((cmd,), convert)


def thread_op(algorithm: str, criteria: SearchKey, uid: bool) -> Op[tuple[ThreadNode, ...]]:
    cmd = c.Thread(criteria, uid, algorithm)

    def convert(done: list[Done]) -> tuple[ThreadNode, ...]:
        for o in done[0][1]:
            if isinstance(o, Delivered) and isinstance(o.response, ThreadResponse):
                return o.response.threads
        return ()

    return Op((cmd,), convert)


# --- store, copy, move, expunge -----------------------------------------------------

_MODES = {"add": c.StoreMode.ADD, "remove": c.StoreMode.REMOVE, "set": c.StoreMode.REPLACE}
StoreAction = Literal["add", "remove", "set"]


def store_op(
    target: c.MessageSet | None,
    flags: tuple[Flag, ...],
    action: StoreAction,
    silent: bool,
    unchanged_since: int | None,
    max_line: int,
    options: EncodeOptions,
) -> Op[StoreResult]:
    if action not in _MODES:
        raise InvalidArgumentError(f"action must be 'add', 'remove' or 'set', not {action!r}")

    def convert(done: list[Done]) -> StoreResult:
        modified: list[UIDSet | SeqSet] = []
        for completed, _ in done:
            code = completed.tagged.code
            if isinstance(code, ModifiedCode):
                modified.append(code.as_uids() if isinstance(target, UIDSet) else code.as_seqs())
        mod: UIDSet | SeqSet | None = None
        if modified:
            first = modified[0]
            mod = first.union(*modified[1:]) if isinstance(first, UIDSet) else first  # type: ignore[arg-type]
        return StoreResult(mod, tuple(_messages(done)))

    if target is None:
        return Op((), convert)
    us = ModSeq(unchanged_since) if unchanged_since is not None else None
    cmd = c.Store(target, _MODES[action], flags, silent, us)
    return Op(split(cmd, max_line, options), convert)


def _copyuid(done: list[Done]) -> CopyResult | None:
    validity: int | None = None
    mapping: list[tuple[UID, UID]] = []
    for completed, outs in done:
        codes = [completed.tagged.code] + [
            getattr(o.response, "code", None) for o in outs if isinstance(o, Delivered)
        ]
        for code in codes:
            if isinstance(code, CopyUidCode):
                validity = code.uidvalidity
                mapping += code.mapping()
    if validity is None:
        return None
    return CopyResult(validity, tuple(mapping))


def copy_op(
    target: c.MessageSet | None,
    mailbox: str,
    move: bool,
    max_line: int,
    options: EncodeOptions,
) -> Op[CopyResult | None]:
    if target is None:
        return Op((), _copyuid)
    cmd: c.Command = c.Move(target, mailbox) if move else c.Copy(target, mailbox)
    return Op(split(cmd, max_line, options), _copyuid)


def _nothing(done: list[Done]) -> None:
    return None


def simple_op(cmd: c.Command) -> Op[None]:
    return Op((cmd,), _nothing)


def uid_expunge_op(uids: c.MessageSet | None, max_line: int, options: EncodeOptions) -> Op[None]:
    if uids is None:
        return Op((), _nothing)
    if not isinstance(uids, (UIDSet, LastSearch)):
        raise InvalidArgumentError("UID EXPUNGE takes UIDs, not sequence numbers")
    return Op(split(c.UidExpunge(uids), max_line, options), _nothing)


# --- append ------------------------------------------------------------------------------

AppendArg: TypeAlias = "bytes | c.AppendMessage"


def as_append_message(
    message: AppendArg,
    flags: Iterable[str | Flag] = (),
    date: datetime.datetime | None = None,
) -> c.AppendMessage:
    if isinstance(message, c.AppendMessage):
        return message
    return c.AppendMessage(bytes(message), tuple(Flag(f) for f in flags), date)


def append_op(mailbox: str, groups: Sequence[tuple[c.AppendMessage, ...]]) -> Op[AppendResult]:
    def convert(done: list[Done]) -> AppendResult:
        validity: int | None = None
        uids: list[UID] = []
        for completed, _ in done:
            code = completed.tagged.code
            if isinstance(code, AppendUidCode):
                validity = code.uidvalidity
                uids.extend(code.uids)
        return AppendResult(validity, UIDSet(uids) if uids else None)

    return Op(tuple(c.Append(mailbox, g) for g in groups), convert)


# --- mailboxes ----------------------------------------------------------------------------


def list_op(
    reference: str,
    patterns: tuple[str, ...],
    subscribed: bool,
    select_options: tuple[str, ...],
    return_options: tuple[str, ...],
    return_status: tuple[str, ...],
    lsub: bool,
) -> Op[list[MailboxInfo]]:
    cmd: c.Command
    if lsub:
        cmd = c.Lsub(reference, patterns[0])
    else:
        cmd = c.List(reference, patterns, select_options, return_options, return_status)

    def convert(done: list[Done]) -> list[MailboxInfo]:
        listed: list[ListResponse] = []
        status: dict[str, StatusResult] = {}
        for o in done[0][1]:
            if not isinstance(o, Delivered):
                continue
            r = o.response
            if isinstance(r, ListResponse):
                listed.append(r)
            elif isinstance(r, MailboxStatusResponse):
                status[r.mailbox] = StatusResult.from_response(r)
        out = []
        for r in listed:
            attrs = r.attributes
            if subscribed and lsub and not any(a.upper() == "\\SUBSCRIBED" for a in attrs):
                attrs = (*attrs, "\\Subscribed")
            out.append(
                MailboxInfo(r.mailbox, r.delimiter, attrs, status.get(r.mailbox), r.child_info)
            )
        return out

    return Op((cmd,), convert)


def status_op(mailbox: str, items: Sequence[str]) -> Op[StatusResult]:
    cmd = c.Status(mailbox, tuple(items))

    def convert(done: list[Done]) -> StatusResult:
        for o in done[0][1]:
            if isinstance(o, Delivered) and isinstance(o.response, MailboxStatusResponse):
                return StatusResult.from_response(o.response)
        return StatusResult(mailbox)

    return Op((cmd,), convert)


def namespace_op() -> Op[NamespaceResponse]:
    def convert(done: list[Done]) -> NamespaceResponse:
        for o in done[0][1]:
            if isinstance(o, Delivered) and isinstance(o.response, NamespaceResponse):
                return o.response
        return NamespaceResponse(None, None, None)

    return Op((c.Namespace(),), convert)


def id_op(params: Mapping[str, str | None] | None) -> Op[Mapping[str, str | None] | None]:
    def convert(done: list[Done]) -> Mapping[str, str | None] | None:
        for o in done[0][1]:
            if isinstance(o, Delivered) and isinstance(o.response, IdResponse):
                return o.response.params
        return None

    return Op((c.Id(params),), convert)


def noop_op() -> Op[None]:
    return simple_op(c.Noop())
