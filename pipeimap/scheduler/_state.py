"""Session and mailbox state, updated in wire order.

Theory of operation: the router applies every untagged response here *before*
offering it to commands (pipelining.md, "Routing responses"), so the seq->UID
map is always the server's numbering at the point of the stream being parsed.
``* n EXPUNGE`` removes entry n and shifts the rest down (RFC 9051 section
7.5.1); ``* VANISHED`` removes by UID without renumbering announcements
(RFC 7162 section 3.2.10); ``* n EXISTS`` grows the map with unknown UIDs
(RFC 9051 section 7.4.1).  A new :class:`MailboxState` starts at the
selection boundary (the ``[CLOSED]`` code when the server guarantees it, RFC
7162 section 3.2.11, else the moment SELECT is written).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ..protocol._seqset import UIDSet
from ..protocol._serializer import EncodeOptions, LiteralMode
from ..protocol._types import UID, Flag, ModSeq, SeqNum

__all__ = ["AuthState", "MailboxState", "SessionState"]


class AuthState(enum.Enum):
    """Connection states of RFC 9051 section 3."""

    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


# How many unknown (padding) entries FETCH responses may add to the seq -> UID
# map of one selected mailbox, in all: 8 MB of list at most.
_MAX_UID_GAP = 1 << 20


@dataclass(slots=True)
class MailboxState:
    """The selected mailbox as the server last described it."""

    name: str
    readonly: bool = False
    exists: int = 0
    recent: int = 0
    flags: tuple[Flag, ...] = ()
    permanent_flags: tuple[Flag, ...] = ()
    uidvalidity: int | None = None
    uidnext: int | None = None
    highestmodseq: ModSeq | None = None
    nomodseq: bool = False
    unseen: int | None = None
    # seq -> UID map: _uids[seq - 1] is the UID of message seq, or None if unknown.
    # It only reaches as far as UIDs were learnt (messages after its end have no
    # known UID): a hostile "* 4294967295 EXISTS" must not allocate 4 G entries.
    _uids: list[UID | None] = field(default_factory=list)
    message_flags: dict[UID, tuple[Flag, ...]] = field(default_factory=dict)
    # The index of the last known UID in _uids (-1: none), or -2: not computed.
    # Kept up to date by the updates below, so largest_uid (asked at every
    # submit) does not scan a map of unknown UIDs.
    _last_known: int = field(default=-2, repr=False, compare=False)
    # Unknown entries FETCH responses may still add to _uids (see on_fetch).
    _padding_budget: int = field(default=_MAX_UID_GAP, repr=False, compare=False)

    def uid_for(self, seq: int) -> UID | None:
        """The UID of message ``seq``, if known."""
        if 1 <= seq <= len(self._uids):
            return self._uids[seq - 1]
        return None

    def seq_for(self, uid: int) -> SeqNum | None:
        """The sequence number of ``uid``, if known (linear; UIDs ascend with seq)."""
        for i, u in enumerate(self._uids):
            if u == uid:
                return SeqNum(i + 1)
        return None

    @property
    def known_uids(self) -> tuple[UID, ...]:
        return tuple(u for u in self._uids if u is not None)

    @property
    def largest_uid(self) -> UID | None:
        """The UID of the last message whose UID is known."""
        i = self._last_known
        if i == -2:
            uids = self._uids
            i = len(uids) - 1
            while i >= 0 and uids[i] is None:
                i -= 1
            self._last_known = i
        return self._uids[i] if i >= 0 else None

    def on_exists(self, count: int) -> None:
        """``* n EXISTS``: the map grows (or, from a sloppy server, shrinks)."""
        if count < len(self._uids):
            del self._uids[count:]
            if self._last_known >= count:
                self._last_known = -2
        self.exists = count

    def on_expunge(self, seq: int) -> UID | None:
        """``* n EXPUNGE``: remove message n, renumbering those after it."""
        if not 1 <= seq <= len(self._uids):
            self.exists = max(0, self.exists - 1)
            if self.exists < len(self._uids):  # a sloppy server expunged past EXISTS
                del self._uids[self.exists :]
                self._last_known = -2
            return None
        uid = self._uids.pop(seq - 1)
        if seq - 1 < self._last_known:
            self._last_known -= 1
        elif seq - 1 == self._last_known:
            self._last_known = -2
        self.exists = max(len(self._uids), self.exists - 1)
        if uid is not None:
            self.message_flags.pop(uid, None)
        return uid

    def on_vanished(self, uids: UIDSet) -> tuple[tuple[SeqNum, ...], tuple[UID, ...]]:
        """``* VANISHED uids`` (not EARLIER): remove the known ones; EXISTS
        drops by the number of UIDs in the set that existed (RFC 7162 section 3.2.10)."""
        largest = self.largest_uid or 1
        keep: list[UID | None] = []
        seqs: list[SeqNum] = []
        gone: list[UID] = []
        for i, u in enumerate(self._uids):
            if u is not None and uids.contains(u, largest):
                seqs.append(SeqNum(i + 1 - len(seqs)))
                gone.append(u)
                self.message_flags.pop(u, None)
            else:
                keep.append(u)
        self._uids = keep
        self._last_known = -2
        self.exists = max(len(keep), self.exists - len(gone))
        return tuple(seqs), tuple(gone)

    def on_fetch(self, seq: int, uid: UID | None, flags: tuple[Flag, ...] | None) -> UID | None:
        """A FETCH line: learn the UID of ``seq`` and its flags.  Returns the UID."""
        if seq > self.exists:
            self.on_exists(seq)  # a server may FETCH before announcing EXISTS
        known = len(self._uids)
        # A UID past the known part of the map pads it with unknown entries, out
        # of a budget per mailbox: a legitimate jump (``FETCH 50000:*`` with
        # nothing known yet) fits, while a hostile server jumping ahead line
        # after line (each FETCH would add megabytes) exhausts it; past it, such
        # UIDs are not kept.  Contiguous FETCH lines cost nothing.
        if uid is not None and known < seq:
            pad = seq - known - 1
            if pad <= self._padding_budget:
                self._padding_budget -= pad
                self._uids.extend([None] * (seq - known))
        if seq > len(self._uids):
            pass
        elif uid is not None:
            self._uids[seq - 1] = uid
            if -2 < self._last_known < seq - 1:
                self._last_known = seq - 1
        else:
            uid = self._uids[seq - 1]
        if uid is not None and flags is not None:
            self.message_flags[uid] = flags
        return uid


def _literal_mode(caps: frozenset[str]) -> LiteralMode:
    if "LITERAL+" in caps:
        return LiteralMode.LITERAL_PLUS
    if "LITERAL-" in caps or "IMAP4REV2" in caps:  # IMAP4rev2 includes LITERAL- (RFC 9051 7.2.2)
        return LiteralMode.LITERAL_MINUS
    return LiteralMode.SYNC


@dataclass(slots=True)
class SessionState:
    """What the scheduler knows about the session (read it, do not change it)."""

    capabilities: frozenset[str] = frozenset()
    enabled: frozenset[str] = frozenset()
    auth: AuthState = AuthState.NOT_AUTHENTICATED
    selected: MailboxState | None = None
    bye: bool = False
    _encode_cache: tuple[frozenset[str], frozenset[str], EncodeOptions] | None = field(
        default=None, repr=False, compare=False
    )

    @property
    def literal_mode(self) -> LiteralMode:
        return _literal_mode(self.capabilities)

    @property
    def utf8(self) -> bool:
        """UTF8=ACCEPT was enabled (RFC 6855 section 3), or IMAP4rev2 is in use."""
        return "UTF8=ACCEPT" in self.enabled or "IMAP4REV2" in self.enabled

    @property
    def condstore(self) -> bool:
        """CONDSTORE is in force (RFC 7162 section 3.1): FETCH/STORE answers carry MODSEQ."""
        return bool({"CONDSTORE", "QRESYNC"} & self.enabled)

    @property
    def closed_guaranteed(self) -> bool:
        """The server sends ``[CLOSED]`` when SELECT closes a mailbox (pipelining.md R3)."""
        return bool({"IMAP4REV2", "CONDSTORE", "QRESYNC"} & self.capabilities)

    def encode_options(self) -> EncodeOptions:
        caps, enabled = self.capabilities, self.enabled
        cached = self._encode_cache
        # Both sets are replaced, never changed in place: identity says "same".
        if cached is not None and cached[0] is caps and cached[1] is enabled:
            return cached[2]
        opts = EncodeOptions(
            literal_mode=self.literal_mode,
            utf8_accept=self.utf8,
            binary="BINARY" in caps,
            sasl_ir="SASL-IR" in caps,
        )
        self._encode_cache = (caps, enabled, opts)
        return opts

    def set_capabilities(self, caps: tuple[str, ...] | frozenset[str]) -> bool:
        """Replace the capability list; True if it changed."""
        new = frozenset(c.upper() for c in caps)
        changed = new != self.capabilities
        self.capabilities = new
        return changed
