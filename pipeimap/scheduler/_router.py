"""The response router: untagged responses to state, to commands, to subscribers.

Theory of operation (pipelining.md, "Routing responses"): each untagged
response is (1) applied to :class:`SessionState` in wire order, (2) offered to
the in-flight commands that solicited it, (3) emitted as an :class:`Unsolicited`
event if nobody did.  Nothing is routed to "the oldest pending command".

FETCH lines are resolved to a message (their UID item, else the seq->UID map
at the moment the line is parsed), then each item, by its normalized name
(:func:`~pipeimap.protocol._parse_fetch.normalize_fetch_item_name`), goes to
every in-flight FETCH/STORE whose set holds the message and whose item list
asked for it.  Items of one message are merged per command until all requested
items are there (RFC 2683 section 3.4.4: a server may split them over lines).
Streamed literals go to the single command that asked for that section (R5
makes it unique).  Tagged and ``+`` responses are handled by the scheduler.

Data that looks unsolicited but belongs to a command in flight is routed to
it: the untagged ``* OK [COPYUID ...]`` of MOVE (RFC 6851 section 4.3: it
precedes the expunges, the tagged OK cannot carry it), and the FETCH lines and
``VANISHED (EARLIER)`` a QRESYNC SELECT/EXAMINE reports while it runs (RFC
7162 section 3.2.5.2) -- the server answers commands in order, so from the
selection boundary to its tagged OK these are the SELECT's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from ..errors import PredecessorFailedError
from ..protocol import _commands as c
from ..protocol import _responses as r
from ..protocol._codes import CapabilityCode, CopyUidCode, NumberCode, PermanentFlagsCode
from ..protocol._seqset import UIDSet
from ..protocol._types import UID, ModSeq, SeqNum
from . import _events as ev
from ._entry import Entry, Phase
from ._footprint import MessageScope
from ._outcomes import (
    CommandId,
    Delivered,
    LiteralChunk,
    LiteralEnded,
    LiteralStarted,
    MessageDelivered,
    Outcome,
    Unsolicited,
)
from ._state import AuthState, MailboxState, SessionState

__all__ = ["Router"]

_SELECT_CODES = frozenset(
    {"UIDVALIDITY", "UIDNEXT", "UNSEEN", "HIGHESTMODSEQ", "PERMANENTFLAGS", "NOMODSEQ"}
    | {"READ-ONLY", "READ-WRITE"}
)
_EXPUNGERS = (c.Expunge, c.UidExpunge, c.Move, c.Close)
_UID_ONLY = frozenset({"UID"})
#: UID sets of up to this many UIDs are indexed UID by UID for FETCH routing.
_UID_INDEX_LIMIT = 1024


_new = object.__new__
_set_cid = vars(MessageDelivered)["cid"].__set__
_set_seq = vars(MessageDelivered)["seq"].__set__
_set_uid = vars(MessageDelivered)["uid"].__set__
_set_items = vars(MessageDelivered)["items"].__set__


def _delivered(cid: CommandId, seq: SeqNum, uid: UID | None, items: r.FetchItems) -> Outcome:
    """``MessageDelivered(cid, seq, uid, items)`` without the frozen dataclass
    ``__init__``'s ``object.__setattr__`` calls (the same object; one per
    message of a bulk FETCH)."""
    out = _new(MessageDelivered)
    _set_cid(out, cid)
    _set_seq(out, seq)
    _set_uid(out, uid)
    _set_items(out, items)
    return out


class Router:
    """Routes untagged responses; owned by the scheduler, which supplies the
    in-flight commands in write order."""

    def __init__(self, state: SessionState, inflight: Callable[[], Iterable[Entry]]) -> None:
        self.state = state
        self._inflight = inflight
        self.opening: Entry | None = None  # SELECT/EXAMINE whose mailbox is current
        self.awaiting_closed: Entry | None = None  # SELECT written, [CLOSED] not yet seen
        self._streaming: Entry | None = None
        self._streaming_active = False
        # FETCH/STORE commands in flight, indexed for FETCH routing: those with
        # a small bounded UID set by UID, the others (sequence numbers, "*",
        # "$", large sets) in a list tried for every FETCH line.  Both keep
        # write order.
        self._by_uid: dict[int, list[Entry]] = {}
        self._scan: list[Entry] = []
        self._tracked: dict[Entry, tuple[tuple[int, int], ...] | None] = {}

    # --- the FETCH routing index -------------------------------------------------

    def track(self, e: Entry) -> None:
        """``e`` was written (after :meth:`Entry.setup_routing`)."""
        if not e.request_names:
            return  # never receives FETCH data
        msgs = e.command.messages
        if isinstance(msgs, UIDSet) and not msgs.has_star and msgs.count() <= _UID_INDEX_LIMIT:
            ranges = tuple((int(lo), int(hi)) for lo, hi in msgs.ranges)  # type: ignore[arg-type]
            by_uid = self._by_uid
            for lo, hi in ranges:
                for u in range(lo, hi + 1):
                    by_uid.setdefault(u, []).append(e)
            self._tracked[e] = ranges
        else:
            self._scan.append(e)
            self._tracked[e] = None

    def untrack(self, e: Entry) -> None:
        """``e`` is no longer in flight."""
        if e not in self._tracked:
            return
        ranges = self._tracked.pop(e)
        if ranges is None:
            self._scan.remove(e)
            return
        by_uid = self._by_uid
        for lo, hi in ranges:
            for u in range(lo, hi + 1):
                owners = by_uid.get(u)
                if owners is not None:
                    owners.remove(e)
                    if not owners:
                        del by_uid[u]

    def untrack_all(self) -> None:
        self._by_uid.clear()
        self._scan.clear()
        self._tracked.clear()

    def _fetch_candidates(self, uid: UID | None) -> list[Entry]:
        """The in-flight commands that may want a FETCH line of ``uid`` (a
        superset: the caller still checks each), in write order."""
        hit = self._by_uid.get(int(uid)) if uid is not None else None
        if not hit:
            return self._scan
        if not self._scan:
            return hit
        wanted = {*hit, *self._scan}
        return [e for e in self._inflight() if e in wanted]

    # --- helpers ------------------------------------------------------------------

    def _live(self) -> list[Entry]:
        return list(self._inflight())

    @staticmethod
    def _give(entry: Entry, response: object) -> list[Outcome]:
        return [] if entry.cancelled else [Delivered(entry.cid, response)]

    def _to_all(self, entries: list[Entry], response: object) -> list[Outcome]:
        if not entries:
            return [Unsolicited(ev.ResponseReceived(response))]
        return [o for e in entries for o in self._give(e, response)]

    def _of(self, *types: type[c.Command]) -> list[Entry]:
        return [e for e in self._live() if isinstance(e.command, types)]

    def _qresync_opening(self) -> Entry | None:
        """The QRESYNC SELECT/EXAMINE running now (past its selection boundary)."""
        e = self.opening
        if e is None or e.phase is not Phase.IN_FLIGHT:
            return None
        cmd = e.command
        return e if isinstance(cmd, c._SelectBase) and cmd.qresync is not None else None

    # --- selection boundary ---------------------------------------------------------

    def switch_to(self, entry: Entry | None) -> list[Outcome]:
        """Make ``entry``'s mailbox (or none) the current one (the CLOSED boundary)."""
        old = self.state.selected
        outs: list[Outcome] = []
        if old is not None:
            outs.append(Unsolicited(ev.MailboxClosed(old.name)))
        self.state.selected = entry.new_mailbox if entry is not None else None
        self.opening = entry
        self.awaiting_closed = None
        if self.state.auth is AuthState.SELECTED and entry is None:
            self.state.auth = AuthState.AUTHENTICATED
        return outs

    # --- dispatch -------------------------------------------------------------------

    def route(self, event: r.Event) -> list[Outcome]:
        handler = _HANDLERS.get(type(event))
        if handler is None:
            return [Unsolicited(ev.ResponseReceived(event))]
        return handler(self, event)

    def _status(self, event: r.UntaggedStatus) -> list[Outcome]:
        code = event.code
        name = code.name if code is not None else ""
        outs: list[Outcome] = []
        if isinstance(code, CapabilityCode):
            outs += self._capabilities(code.capabilities, None)
        if isinstance(code, CopyUidCode) and event.status == "OK":
            owner = self._copyuid_owner(code)
            if owner is not None:
                return outs + self._give(owner, event)
        if name == "CLOSED":
            return outs + self.switch_to(self.awaiting_closed)
        if name == "ALERT":
            return [*outs, Unsolicited(ev.AlertReceived(event.text))]
        if name in _SELECT_CODES and event.status == "OK":
            return outs + self._mailbox_code(event)
        if not isinstance(code, CapabilityCode):
            outs.append(Unsolicited(ev.NoticeReceived(event.status, code, event.text)))
        return outs

    def _mailbox_code(self, event: r.UntaggedStatus) -> list[Outcome]:
        mbox = self.state.selected
        code = event.code
        assert code is not None
        if mbox is None:
            return [Unsolicited(ev.NoticeReceived(event.status, code, event.text))]
        outs: list[Outcome] = []
        if isinstance(code, NumberCode):
            if code.name == "UIDVALIDITY":
                outs += self._uidvalidity(mbox, code.value)
            elif code.name == "UIDNEXT":
                mbox.uidnext = code.value
            elif code.name == "UNSEEN":
                mbox.unseen = code.value
            elif code.name == "HIGHESTMODSEQ":
                mbox.highestmodseq = ModSeq(code.value)
        elif isinstance(code, PermanentFlagsCode):
            mbox.permanent_flags = code.flags
        elif code.name == "NOMODSEQ":
            mbox.nomodseq = True
        elif code.name in ("READ-ONLY", "READ-WRITE"):
            mbox.readonly = code.name == "READ-ONLY"
        if self.opening is not None:
            return outs + self._give(self.opening, event)
        return [*outs, Unsolicited(ev.NoticeReceived(event.status, code, event.text))]

    def _copyuid_owner(self, code: CopyUidCode) -> Entry | None:
        """The MOVE whose untagged ``[COPYUID]`` this is (RFC 6851 section 4.3).
        Several MOVEs are in flight together only as UID MOVEs of disjoint
        sets (R2, R4), so the source UIDs tell them apart."""
        moves = self._of(c.Move)
        if len(moves) <= 1:
            return moves[0] if moves else None
        first = code.source_uids.min
        for e in moves:
            msgs = e.command.messages
            if not isinstance(msgs, UIDSet) or e.contains(0, UID(first), self.state.selected):
                return e
        return moves[0]

    def _uidvalidity(self, mbox: MailboxState, value: int) -> list[Outcome]:
        old = mbox.uidvalidity
        mbox.uidvalidity = value
        if self.opening is not None or old is None or old == value:
            return []
        # Outside SELECT: every UID is void; in-flight UID commands cannot be trusted.
        for e in self._live():
            if e.fp.is_uid and e.poison is None:
                e.poison = PredecessorFailedError(
                    "NO",
                    "UIDVALIDITY",
                    "UIDVALIDITY changed while the command ran",
                    e.tag or "",
                    e.fp.name,
                )
        mbox.on_exists(0)
        return [Unsolicited(ev.UidValidityChanged(old, value))]

    def _capabilities(self, caps: tuple[str, ...], entry: Entry | None) -> list[Outcome]:
        changed = self.state.set_capabilities(caps)
        if not changed:
            return []
        return [Unsolicited(ev.CapabilitiesChanged(self.state.capabilities))]

    def _capability(self, event: r.CapabilityResponse) -> list[Outcome]:
        self.state.set_capabilities(event.capabilities)
        owners = self._of(c.Capability)
        if owners:
            return self._give(owners[0], event)
        return [Unsolicited(ev.CapabilitiesChanged(self.state.capabilities))]

    def _enabled(self, event: r.EnabledResponse) -> list[Outcome]:
        self.state.enabled |= frozenset(event.capabilities)
        owners = self._of(c.Enable)
        if owners:
            return self._give(owners[0], event)
        return [Unsolicited(ev.ExtensionsEnabled(frozenset(event.capabilities)))]

    def _single(self, types: tuple[type[c.Command], ...], event: object) -> list[Outcome]:
        owners = self._of(*types)
        if owners:
            return self._give(owners[0], event)
        return [Unsolicited(ev.ResponseReceived(event))]

    # --- mailbox size and expunges ----------------------------------------------------

    def _exists(self, event: r.ExistsResponse) -> list[Outcome]:
        if self.state.selected is not None:
            self.state.selected.on_exists(event.count)
        if self.opening is not None:
            return self._give(self.opening, event)
        return [Unsolicited(ev.MessageCountChanged(event.count))]

    def _recent(self, event: r.RecentResponse) -> list[Outcome]:
        if self.state.selected is not None:
            self.state.selected.recent = event.count
        if self.opening is not None:
            return self._give(self.opening, event)
        return [Unsolicited(ev.RecentCountChanged(event.count))]

    def _flags(self, event: r.FlagsResponse) -> list[Outcome]:
        if self.state.selected is not None:
            self.state.selected.flags = event.flags
        if self.opening is not None:
            return self._give(self.opening, event)
        return [Unsolicited(ev.MailboxFlagsChanged(event.flags))]

    def _suspect(self) -> bool:
        live = self._live()
        return not any(e.fp.expunge_ok for e in live) or any(
            e.fp.seq_args or not e.fp.expunge_ok for e in live
        )

    def _expunge(self, event: r.ExpungeResponse) -> list[Outcome]:
        suspect = self._suspect()
        mbox = self.state.selected
        uid = mbox.on_expunge(event.seq) if mbox is not None else None
        gone = ev.MessagesExpunged((event.seq,), (uid,) if uid is not None else (), False, suspect)
        outs = [o for e in self._of(*_EXPUNGERS) for o in self._give(e, event)]
        return [*outs, Unsolicited(gone)]

    def _vanished(self, event: r.VanishedResponse) -> list[Outcome]:
        if event.earlier:
            return self._vanished_earlier(event)
        mbox = self.state.selected
        seqs, uids = mbox.on_vanished(event.uids) if mbox is not None else ((), ())
        gone = ev.MessagesExpunged(seqs, uids, True, self._suspect())
        outs = [o for e in self._of(*_EXPUNGERS) for o in self._give(e, event)]
        return [*outs, Unsolicited(gone)]

    def _vanished_earlier(self, event: r.VanishedResponse) -> list[Outcome]:
        """``VANISHED (EARLIER)``: the running QRESYNC SELECT's, else the UID
        FETCH (VANISHED) whose set it falls in; no renumbering (RFC 7162 3.2.10)."""
        selecting = self._qresync_opening()
        if selecting is not None:
            return self._give(selecting, event)
        owners = [e for e in self._live() if isinstance(e.command, c.Fetch) and e.command.vanished]
        if len(owners) > 1:
            gone = MessageScope.of(event.uids)
            narrowed = [e for e in owners if MessageScope.of(e.command.messages).overlaps(gone)]
            owners = narrowed or owners
        return self._to_all(owners, event)

    # --- FETCH ------------------------------------------------------------------------------

    def fetch(self, event: r.FetchResponse) -> list[Outcome]:
        """Route a FETCH line (:meth:`route` of one; the scheduler calls it directly)."""
        mbox = self.state.selected
        items = event.items
        d = items._d
        uid = mbox.on_fetch(event.seq, event.uid, items.flags) if mbox is not None else event.uid
        selecting = self._qresync_opening() if self.opening is not None else None
        if selecting is not None:  # changes reported by QRESYNC SELECT (RFC 7162 3.2.5.2)
            if selecting.cancelled:
                return []
            return [MessageDelivered(selecting.cid, event.seq, uid, items)]
        seq = event.seq
        candidates = self._fetch_candidates(uid)
        if len(candidates) == 1:
            # The usual case, a bulk FETCH: one command in flight may want this
            # line, and the line holds exactly the items it asked for.  What the
            # loop below decides then, without building its sets.
            e = candidates[0]
            if d.keys() == e.request_names and e.contains(seq, uid, mbox):
                if e.partial:
                    return self._merge(e, seq, uid, d, items)
                # What _merge does with a whole message when nothing is pending.
                if uid is not None:
                    e.delivered_uids.add(int(uid))
                return [] if e.cancelled else [_delivered(e.cid, seq, uid, items)]
        claimed: set[str] = set()
        outs: list[Outcome] = []
        keys = frozenset(items)
        for e in candidates:
            names = e.request_names & keys
            if not names or (names == _UID_ONLY and e.request_names != _UID_ONLY):
                continue
            if not e.contains(seq, uid, mbox):
                continue
            if len(names) == len(keys) and not claimed and e.required_names <= names:
                # The usual case: one command asked for every item of the line,
                # and the line holds all it needs.  FetchItems is immutable: hand
                # it on as it is instead of copying it.
                claimed = set(names)
                outs += self._merge(e, seq, uid, items._d, items)
                continue
            claimed |= names
            outs += self._merge(e, seq, uid, {n: items[n] for n in names})
        if len(claimed) == len(items):
            return outs  # every item claimed: nothing unsolicited
        return outs + self._unclaimed(seq, uid, items, claimed)

    @staticmethod
    def _unclaimed(
        seq: SeqNum, uid: UID | None, items: r.FetchItems, claimed: set[str]
    ) -> list[Outcome]:
        left = set(items) - claimed - {"UID"}
        outs: list[Outcome] = []
        flags = items.flags
        if "FLAGS" in left and flags is not None:
            outs.append(Unsolicited(ev.FlagsChanged(seq, uid, flags, items.modseq)))
            left -= {"FLAGS", "MODSEQ"}
        if left:
            rest = r.FetchItems({k: items[k] for k in items if k in left or k == "UID"})
            outs.append(Unsolicited(ev.FetchDataReceived(seq, uid, rest)))
        return outs

    @staticmethod
    def _merge(
        e: Entry,
        seq: SeqNum,
        uid: UID | None,
        got: dict[str, object],
        whole: r.FetchItems | None = None,
    ) -> list[Outcome]:
        """Deliver ``got`` (or keep it until the message is complete); ``whole``
        is ``got`` already as FetchItems, when the line is handed on as it is."""
        key = ("u", int(uid)) if uid is not None else ("s", int(seq))
        if uid is not None:
            e.delivered_uids.add(key[1])
        if (not e.partial or key not in e.partial) and e.required_names <= got.keys():
            # The whole message in one line (the usual case): no merging.
            if e.cancelled:
                return []
            return [_delivered(e.cid, seq, uid, r.FetchItems(got) if whole is None else whole)]
        acc = e.partial.setdefault(key, {})
        acc.update(got)
        e.partial_seq[key] = int(seq)
        if not e.required_names <= acc.keys():
            return []
        del e.partial[key]
        del e.partial_seq[key]
        if e.cancelled:
            return []
        return [MessageDelivered(e.cid, seq, uid, r.FetchItems(acc))]

    @staticmethod
    def flush(e: Entry) -> list[Outcome]:
        """At completion: deliver what arrived of incompletely answered messages."""
        outs: list[Outcome] = []
        for key, acc in e.partial.items():
            uid = UID(key[1]) if key[0] == "u" else None
            if not e.cancelled:
                seq = SeqNum(e.partial_seq[key])
                outs.append(MessageDelivered(e.cid, seq, uid, r.FetchItems(acc)))
        e.partial.clear()
        e.partial_seq.clear()
        return outs

    def _literal_started(self, event: r.FetchLiteralStarted) -> list[Outcome]:
        mbox = self.state.selected
        uid = event.uid
        if uid is None and mbox is not None:
            uid = mbox.uid_for(event.seq)
        self._streaming_active = True
        self._streaming = next(
            (
                e
                for e in self._live()
                if event.name in e.request_names and e.contains(event.seq, uid, mbox)
            ),
            None,
        )
        e = self._streaming
        if e is None or e.cancelled:
            return []
        return [LiteralStarted(e.cid, uid, event.seq, event.name, event.size)]

    def _literal_chunk(self, event: r.FetchLiteralChunk) -> list[Outcome]:
        e = self._streaming
        if e is None or e.cancelled:
            return []
        return [LiteralChunk(e.cid, event.data)]

    def _literal_ended(self, event: r.FetchLiteralEnded) -> list[Outcome]:
        e, self._streaming = self._streaming, None
        self._streaming_active = False
        if e is None or e.cancelled:
            return []
        return [LiteralEnded(e.cid)]

    # --- searches, lists, status -----------------------------------------------------------

    def _search(self, event: r.SearchResponse | r.SortResponse | r.ThreadResponse) -> list[Outcome]:
        kind = {r.SearchResponse: c.Search, r.SortResponse: c.Sort}.get(type(event), c.Thread)
        owners = self._of(kind)
        legacy = [e for e in owners if getattr(e.command, "return_options", None) is None]
        chosen = (legacy or owners)[:1]
        if not chosen:
            return [Unsolicited(ev.ResponseReceived(event))]  # RFC 3501 section 7
        return self._give(chosen[0], event)

    def _esearch(self, event: r.ESearchResponse) -> list[Outcome]:
        live = self._live()
        if event.tag is not None:
            owners = [e for e in live if e.tag == event.tag]
        else:
            owners = [e for e in live if isinstance(e.command, (c.Search, c.Sort))][:1]
        return self._to_all(owners[:1], event)

    def _list(self, event: r.ListResponse) -> list[Outcome]:
        kind = c.Lsub if event.kind.upper() == "LSUB" else c.List
        owners = self._of(kind)
        matching = [e for e in owners if _list_matches(e.command, event.mailbox, event.delimiter)]
        return self._to_all(matching or owners, event)

    def _mailbox_status(self, event: r.MailboxStatusResponse) -> list[Outcome]:
        name = _norm(event.mailbox)
        owners = [
            e
            for e in self._live()
            if (isinstance(e.command, c.Status) and _norm(e.command.mailbox) == name)
            or (
                isinstance(e.command, c.List)
                and e.command.return_status
                and _list_matches(e.command, event.mailbox, None)
            )
        ]
        return self._to_all(owners, event)


def _norm(name: str) -> str:
    return "INBOX" if name.upper() == "INBOX" else name


def _list_matches(cmd: c.Command, mailbox: str, delimiter: str | None) -> bool:
    """RFC 9051 section 6.3.9: ``*`` matches anything, ``%`` anything but the delimiter."""
    if isinstance(cmd, c.List):
        ref, patterns = cmd.reference, cmd.patterns
    elif isinstance(cmd, c.Lsub):
        ref, patterns = cmd.reference, (cmd.pattern,)
    else:
        return False
    no_delim = f"[^{re.escape(delimiter)}]*" if delimiter else ".*"
    for pat in patterns:
        rx = "".join(
            ".*" if ch == "*" else no_delim if ch == "%" else re.escape(ch) for ch in ref + pat
        )
        flags = re.DOTALL | (re.IGNORECASE if mailbox.upper() == "INBOX" else 0)
        if re.fullmatch(rx, mailbox, flags):
            return True
    return False


_Handler = Callable[[Router, r.Event], list[Outcome]]
_HANDLERS: dict[type, _Handler] = {
    r.UntaggedStatus: Router._status,  # type: ignore[dict-item]
    r.CapabilityResponse: Router._capability,  # type: ignore[dict-item]
    r.EnabledResponse: Router._enabled,  # type: ignore[dict-item]
    r.ExistsResponse: Router._exists,  # type: ignore[dict-item]
    r.RecentResponse: Router._recent,  # type: ignore[dict-item]
    r.FlagsResponse: Router._flags,  # type: ignore[dict-item]
    r.ExpungeResponse: Router._expunge,  # type: ignore[dict-item]
    r.VanishedResponse: Router._vanished,  # type: ignore[dict-item]
    r.FetchResponse: Router.fetch,  # type: ignore[dict-item]
    r.FetchLiteralStarted: Router._literal_started,  # type: ignore[dict-item]
    r.FetchLiteralChunk: Router._literal_chunk,  # type: ignore[dict-item]
    r.FetchLiteralEnded: Router._literal_ended,  # type: ignore[dict-item]
    r.SearchResponse: Router._search,  # type: ignore[dict-item]
    r.SortResponse: Router._search,  # type: ignore[dict-item]
    r.ThreadResponse: Router._search,  # type: ignore[dict-item]
    r.ESearchResponse: Router._esearch,  # type: ignore[dict-item]
    r.ListResponse: Router._list,  # type: ignore[dict-item]
    r.MailboxStatusResponse: Router._mailbox_status,  # type: ignore[dict-item]
    r.IdResponse: lambda self, e: self._single((c.Id,), e),
    r.NamespaceResponse: lambda self, e: self._single((c.Namespace,), e),
    r.QuotaResponse: lambda self, e: self._single((c.GetQuota, c.GetQuotaRoot, c.SetQuota), e),
    r.QuotaRootResponse: lambda self, e: self._single((c.GetQuotaRoot,), e),
}
