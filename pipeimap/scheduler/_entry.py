"""The scheduler's record of one submitted command (internal)."""

from __future__ import annotations

import bisect
import enum
from dataclasses import dataclass, field

from ..protocol import _commands as c
from ..protocol._seqset import LastSearch, SeqSet, UIDSet
from ..protocol._serializer import EncodeOptions, Fragment
from ..protocol._types import UID
from ._footprint import Footprint, describe_command, fetch_request_names
from ._outcomes import CommandId
from ._state import MailboxState

__all__ = ["Entry", "Phase"]

_PAST_ANY_UID = 1 << 33  # sorts after every (uid, hi) pair of the same uid


class Phase(enum.Enum):
    QUEUED = "queued"  # not a byte written
    IN_FLIGHT = "in flight"  # written (perhaps partly, up to a "+"), not yet tagged
    DONE = "done"


@dataclass(eq=False, slots=True)
class Entry:
    cid: CommandId
    command: c.Command
    fp: Footprint
    seqno: int  # submission order
    phase: Phase = Phase.QUEUED
    tag: str | None = None
    fragments: tuple[Fragment, ...] = ()
    cursor: int = 0  # next fragment to write
    waiting_plus: bool = False  # a fragment announced a sync literal, or an exchange awaits "+"
    resume: bool = False  # "+" arrived: write the next fragments
    plus_seen: bool = False  # an exchange got its first "+"
    done_requested: bool = False  # IDLE: write DONE once "+" has arrived
    done_sent: bool = False
    cancelled: bool = False
    gates: list[Entry] = field(default_factory=list)  # R7 predecessors
    expect_uidvalidity: int | None = None
    poison: Exception | None = None  # fail instead of complete (UIDVALIDITY changed)
    new_mailbox: MailboxState | None = None  # SELECT/EXAMINE: the state it opens
    # FETCH/STORE routing
    request_names: frozenset[str] = frozenset()
    required_names: frozenset[str] = frozenset()
    partial: dict[tuple[str, int], dict[str, object]] = field(default_factory=dict)
    partial_seq: dict[tuple[str, int], int] = field(default_factory=dict)
    delivered_uids: set[int] = field(default_factory=set)
    # The ranges of a UID set without "*" (sorted, disjoint), for contains().
    uid_ranges: tuple[tuple[int, int], ...] | None = None
    _description: str | None = None
    # The command line encoded at submission under a placeholder tag, with the
    # options used (only for one-line commands; dropped once written).
    wire_cache: tuple[EncodeOptions, Fragment] | None = None

    @property
    def description(self) -> str:
        """A short, secret-free description for error messages (computed when
        first needed: most commands never fail)."""
        if self._description is None:
            self._description = describe_command(self.command)
        return self._description

    def setup_routing(self, condstore: bool) -> None:
        cmd = self.command
        msgs = cmd.messages
        if isinstance(msgs, UIDSet) and not msgs.has_star:
            self.uid_ranges = tuple((int(lo), int(hi)) for lo, hi in msgs.ranges)  # type: ignore[arg-type]
        if isinstance(cmd, c.Fetch):
            self.request_names = fetch_request_names(cmd)
            self.required_names = self.request_names - {"UID"}
        elif isinstance(cmd, c.Store):
            if cmd.silent:
                names = {"MODSEQ"} if condstore else set()
            else:
                names = {"FLAGS", "MODSEQ"} if condstore else {"FLAGS"}
            self.request_names = frozenset(names | {"UID"}) if names else frozenset()
            self.required_names = frozenset(names - {"MODSEQ"} or names)

    @property
    def is_message_command(self) -> bool:
        return bool(self.request_names)

    def contains(self, seq: int, uid: UID | None, mbox: MailboxState | None) -> bool:
        """Whether the message (seq, uid) is in this command's set (pipelining.md,
        FETCH routing); a set with ``*`` is resolved against the mailbox."""
        ranges = self.uid_ranges
        if ranges is not None and uid is not None:  # the usual case, first
            if len(ranges) == 1:
                return ranges[0][0] <= uid <= ranges[0][1]
            i = bisect.bisect_right(ranges, (uid, _PAST_ANY_UID)) - 1
            return i >= 0 and ranges[i][0] <= uid <= ranges[i][1]
        msgs = self.command.messages
        if isinstance(msgs, LastSearch) or msgs is None:
            return True
        if isinstance(msgs, SeqSet):
            largest = mbox.exists if mbox is not None and mbox.exists else seq
            return msgs.contains(seq, max(largest, seq) if msgs.has_star else None)
        if uid is None:
            return False
        assert isinstance(msgs, UIDSet)
        if not msgs.has_star:
            return uid in msgs
        known = mbox.largest_uid if mbox is not None else None
        return msgs.contains(uid, max(int(known or uid), int(uid)))

    def bounded_uids(self) -> UIDSet | None:
        msgs = self.command.messages
        if isinstance(msgs, UIDSet) and not msgs.has_star and msgs.count() <= 100_000:
            return msgs
        return None
