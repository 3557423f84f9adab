"""Hypothesis state machine over the analyzer and the router.

Random commands are submitted (alone or as explicit batches), written, and
answered by a simulated server in arbitrary order with plausible untagged data
(split FETCH lines, body literals, EXPUNGE only while allowed, unsolicited
EXISTS and flag changes).  Invariants: no two conflicting commands are ever in
flight together; a synchronizing literal is never followed by other bytes before
its ``+``; nothing is written behind a barrier; every response reaches the
command that asked for it; every command ends exactly once; the scheduler
remembers only queued and in-flight commands (ended ones are pruned).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from pipeimap.errors import ConflictError
from pipeimap.protocol import _commands as c
from pipeimap.protocol import _search as S
from pipeimap.protocol._parse_fetch import normalize_fetch_item_name
from pipeimap.protocol._responses import StreamedLiteral
from pipeimap.protocol._seqset import LAST_SEARCH_UID, STAR, SeqSet, UIDSet
from pipeimap.protocol._types import UID, Flag
from pipeimap.scheduler import (
    Barrier,
    CommandId,
    Completed,
    Delivered,
    Failed,
    LiteralChunk,
    LiteralStarted,
    MessageDelivered,
    Outcome,
    gates,
)

from . import _oracle as oracle
from ._harness import BASE_CAPS, Harness, selected_state

F = c.FetchItem
ITEMS: list[c.FetchItem] = [
    F("FLAGS"),
    F("RFC822.SIZE"),
    F.body("1"),
    F.body("1", peek=False),
    F.body("HEADER"),
]
FLAGS = [Flag.SEEN, Flag.FLAGGED, Flag.DELETED, Flag("$Work")]


def seqsets() -> st.SearchStrategy[SeqSet]:
    small = st.sets(st.integers(1, 6), min_size=1, max_size=3).map(lambda s: SeqSet(*s))
    return st.one_of(small, st.just(SeqSet.all()), st.just(SeqSet.span(3, STAR)))


def small_uidsets() -> st.SearchStrategy[UIDSet]:
    return st.sets(st.integers(1, 10), min_size=1, max_size=3).map(lambda s: UIDSet(*s))


def uidsets() -> st.SearchStrategy[UIDSet]:
    return st.one_of(small_uidsets(), small_uidsets(), st.just(UIDSet.all()))


def targets() -> st.SearchStrategy[SeqSet | UIDSet]:
    return st.one_of(seqsets(), uidsets(), small_uidsets(), small_uidsets())


@st.composite
def fetches(draw: st.DrawFn) -> c.Fetch:
    items = draw(st.lists(st.sampled_from(ITEMS), min_size=1, max_size=3, unique_by=repr))
    return c.Fetch(draw(targets()), tuple(items))


@st.composite
def stores(draw: st.DrawFn) -> c.Store:
    flags = draw(st.lists(st.sampled_from(FLAGS), min_size=1, max_size=2, unique=True))
    mode = draw(st.sampled_from([c.StoreMode.ADD, c.StoreMode.REMOVE]))
    return c.Store(draw(targets()), mode, tuple(flags), silent=draw(st.booleans()))


@st.composite
def searches(draw: st.DrawFn) -> c.Search:
    key = draw(st.sampled_from([S.UNSEEN, S.FLAGGED, S.from_("x"), S.ALL]))
    if draw(st.booleans()):
        key = key & S.messages(draw(seqsets()))
    ret = draw(st.sampled_from([None, (), ("COUNT",), ("SAVE",)]))
    return c.Search(key, uid=draw(st.booleans()), return_options=ret)


def commands() -> st.SearchStrategy[c.Command]:
    return st.one_of(
        fetches(),
        fetches(),
        stores(),
        searches(),
        searches(),
        st.builds(c.Copy, targets(), st.just("Other")),
        st.builds(c.Move, uidsets(), st.just("Other")),
        st.just(c.Expunge()),
        st.builds(c.UidExpunge, uidsets()),
        st.just(c.Noop()),
        st.sampled_from([c.Select("INBOX"), c.Examine("INBOX")]),
        st.integers(1, 9).map(lambda n: c.Append("INBOX", (c.AppendMessage(b"m" * n),))),
        st.just(c.Store(LAST_SEARCH_UID, c.StoreMode.ADD, (Flag.DELETED,))),
        st.just(c.Fetch(LAST_SEARCH_UID, (c.FetchItem("FLAGS"),))),
    )


@dataclass
class Server:
    """The simulated server's mailbox: UIDs in sequence order and their flags."""

    uids: list[int] = field(default_factory=lambda: list(range(1, 9)))
    flags: dict[int, set[str]] = field(default_factory=dict)
    next_uid: int = 9
    readonly: bool = False

    def resolve(self, target: object) -> list[tuple[int, int]]:
        """(seq, uid) of the messages a set names, now."""
        out = []
        largest_uid = self.uids[-1] if self.uids else 0
        for i, u in enumerate(self.uids):
            seq = i + 1
            if isinstance(target, SeqSet):
                if self.uids and target.contains(seq, len(self.uids)):
                    out.append((seq, u))
            elif isinstance(target, UIDSet):
                if largest_uid and target.contains(u, largest_uid):
                    out.append((seq, u))
            else:  # "$": pretend it names every message
                out.append((seq, u))
        return out

    def flag_list(self, uid: int) -> bytes:
        return ("(" + " ".join(sorted(self.flags.get(uid, set()))) + ")").encode()


def _lit(data: bytes) -> bytes:
    return b"{%d}\r\n" % len(data) + data


class SchedulerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.h = Harness(selected_state(BASE_CAPS, exists=8), stream_threshold=12)
        mbox = self.h.sched.state.selected
        assert mbox is not None
        for i in range(1, 9):
            mbox.on_fetch(i, UID(i), None)
        self.server = Server()
        self.commands: dict[CommandId, c.Command] = {}
        self.order: list[CommandId] = []  # in write order
        self.ended: dict[CommandId, int] = {}
        self.cancelled: set[CommandId] = set()
        self.awaiting_plus: CommandId | None = None
        self.idle_plus: set[CommandId] = set()
        self.done_written: set[CommandId] = set()
        self.got: dict[CommandId, list[Outcome]] = {}
        self.expected: dict[CommandId, list[tuple[str, object]]] = {}

    # --- bookkeeping ---------------------------------------------------------------------

    def _absorb(self, outs: list[Outcome]) -> None:
        for o in outs:
            cid = getattr(o, "cid", None)
            if cid is None:
                continue
            assert cid not in self.cancelled or isinstance(o, Failed), (o, "to a cancelled command")
            self.got.setdefault(cid, []).append(o)
            if isinstance(o, (Completed, Failed)):
                self.ended[cid] = self.ended.get(cid, 0) + 1
                assert self.ended[cid] == 1, f"{cid} ended twice"
                if isinstance(o, Completed):
                    self._check_delivery(cid)
                if cid in self.order:
                    self.order.remove(cid)

    def _check_delivery(self, cid: CommandId) -> None:
        """Every response the server sent for ``cid`` reached it, and nothing else did."""
        cmd = self.commands[cid]
        outs = self.got.get(cid, [])
        merged: dict[int, dict[str, object]] = {}
        streams: dict[tuple[int, str], bytes] = {}
        current: tuple[int, str] | None = None
        for o in outs:
            if isinstance(o, LiteralStarted):
                assert o.uid is not None
                current = (int(o.uid), o.item)
                streams[current] = b""
            elif isinstance(o, LiteralChunk):
                assert current is not None
                streams[current] += o.data
            elif isinstance(o, MessageDelivered) and o.uid is not None:
                merged.setdefault(int(o.uid), {}).update(o.items)
        if isinstance(cmd, c.Fetch):
            asked = {normalize_fetch_item_name(i.response_name) for i in cmd.expanded_items}
            for o in outs:
                if isinstance(o, MessageDelivered):
                    assert set(o.items) <= asked | {"UID"}, (o.items, asked)
        for kind, value in self.expected.pop(cid, []):
            if kind == "msg":
                assert isinstance(value, tuple)
                uid, items = value
                have = merged.get(uid, {})
                for name, v in items.items():
                    assert name in have, (cid, cmd, uid, name, outs)
                    if isinstance(v, bytes):
                        got = have[name]
                        if isinstance(got, StreamedLiteral):
                            got = streams.get((uid, name))
                        assert got == v, (cid, cmd, uid, name, got, v)
            elif kind == "data":
                assert any(isinstance(o, Delivered) and o.response == value for o in outs), (
                    cmd,
                    value,
                    outs,
                )

    def _feed(self, data: bytes) -> None:
        self._absorb(self.h.server(data))
        # A cancelled command ends silently at its tagged response.
        live = set(self.h.sched.in_flight)
        self.order = [x for x in self.order if x in live or x not in self.cancelled]

    def _inflight_cmds(self) -> list[tuple[CommandId, c.Command]]:
        return [(cid, self.commands[cid]) for cid in self.order]

    # --- rules: the client --------------------------------------------------------------------

    @rule(cmd=commands())
    def submit(self, cmd: c.Command) -> None:
        cid = self.h.sched.submit(cmd)
        self.commands[cid] = cmd

    @rule()
    def idle(self) -> None:
        """IDLE drains the pipeline: at most one pending at a time keeps runs busy."""
        if any(isinstance(self.commands[x], c.Idle) for x in self.commands if x not in self.ended):
            return
        self.submit(c.Idle())

    @rule(cmds=st.lists(commands(), min_size=2, max_size=6))
    def burst(self, cmds: list[c.Command]) -> None:
        """Many independent tasks submit at once, then the writer runs."""
        for cmd in cmds:
            self.submit(cmd)
        self.write()

    @rule(cmds=st.lists(commands(), min_size=2, max_size=3))
    def submit_batch(self, cmds: list[c.Command]) -> None:
        before = self.h.sched.queued
        rejected: ConflictError | None = None
        try:
            cids = self.h.sched.submit_batch(cmds)
        except ConflictError as exc:
            rejected = exc
        if rejected is not None:
            assert self.h.sched.queued == before
            assert rejected.rule in ("R2", "R4", "R5")
            return
        for cid, cmd in zip(cids, cmds, strict=False):
            self.commands[cid] = cmd
        fps = [self.h.sched.footprint(x) for x in cids]
        for j in range(len(fps)):
            for i in range(j):
                rule = oracle.footprint_conflict(fps[i], fps[j])
                if rule is None or gates(fps[i], fps[j]):
                    continue
                # Only dependencies on a selection change may remain.
                assert rule == "R2", (cmds, rule)
                assert fps[i].selection.value == "changes", (cmds, rule)

    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        pending = [x for x in self.commands if x not in self.ended and x not in self.cancelled]
        if not pending:
            return
        cid = data.draw(st.sampled_from(pending))
        self.cancelled.add(cid)
        self._absorb(self.h.sched.cancel(cid))

    @rule()
    def write(self) -> None:
        batch = self.h.sched.next_write()
        self._absorb(self.h.sched.take_outcomes())  # as the client does after each write
        if self.awaiting_plus is not None:
            assert batch is None, "bytes written before the + of a synchronizing literal"
            return
        if batch is None:
            return
        barriers = [
            cid for cid in self.order if self.h.sched.footprint(cid).barrier is not Barrier.NONE
        ]
        if barriers:
            assert batch.data in (b"DONE\r\n", b""), f"written behind a barrier: {batch.data!r}"
            self.done_written.update(barriers)
            return
        new = [x for x in batch.commands if x not in self.order]
        self.order += new
        if re.search(rb"\{\d+\}\r\n\Z", batch.data):
            self.awaiting_plus = batch.commands[-1]
        self._check_inflight(new)

    def _check_inflight(self, new: list[CommandId]) -> None:
        sched = self.h.sched
        closed = sched.state.closed_guaranteed
        for j, y in enumerate(self.order):
            for x in self.order[:j]:
                if y not in new:
                    continue
                fx, fy = sched.footprint(x), sched.footprint(y)
                assert oracle.footprint_conflict(fx, fy) is None, (
                    self.commands[x],
                    self.commands[y],
                )
                assert not oracle.r3_violation(fx, fy, closed)
                cx, cy = self.commands[x], self.commands[y]
                if oracle.has_seq_numbers(cy):
                    assert not oracle.allows_expunge(cx), (cx, cy)
                assert not oracle.flag_race(cx, cy), (cx, cy)
                assert not oracle.append_star_race(cx, cy, "INBOX"), (cx, cy)

    # --- rules: the server --------------------------------------------------------------------

    @precondition(lambda self: self.awaiting_plus is not None)
    @rule(refuse=st.booleans())
    def server_plus(self, refuse: bool) -> None:
        cid = self.awaiting_plus
        assert cid is not None
        self.awaiting_plus = None
        if refuse:
            self._feed(f"{self.h.tag(cid)} NO [TOOBIG] refused\r\n".encode())
        else:
            self._feed(b"+ go on\r\n")

    @rule(data=st.data(), count=st.integers(1, 4))
    def server_answer(self, data: st.DataObject, count: int) -> None:
        for _ in range(count):
            self._answer_one(data)
        self.write()

    def _answer_one(self, data: st.DataObject) -> None:
        ready = [
            (cid, cmd)
            for cid, cmd in self._inflight_cmds()
            if cid != self.awaiting_plus and not self._mid_literal(cid)
        ]
        if not ready:
            return
        if data.draw(st.booleans()):
            ready.reverse()  # Hypothesis favours the first choice: vary which end that is
        cid, cmd = data.draw(st.sampled_from(ready))
        tag = self.h.tag(cid)
        if isinstance(cmd, c.Idle):
            self._answer_idle(cid, tag)
            return
        body = self._execute(cid, cmd, tag, data)
        if body is None:
            return
        status = "OK"
        if isinstance(cmd, c.Store) and self.server.readonly:
            status, body = "NO", b""
        self._feed(body + f"{tag} {status} done\r\n".encode())

    def _mid_literal(self, cid: CommandId) -> bool:
        cmd = self.commands[cid]
        return isinstance(cmd, c.Append) and cid == self.awaiting_plus

    def _answer_idle(self, cid: CommandId, tag: str) -> None:
        if cid not in self.idle_plus:
            self.idle_plus.add(cid)
            self._feed(b"+ idling\r\n")
        elif cid in self.done_written:
            self._feed(f"{tag} OK idle done\r\n".encode())
        else:
            self.h.sched.end_idle(cid)

    def _expunge_allowed(self, cid: CommandId) -> bool:
        return all(oracle.allows_expunge(cmd) for x, cmd in self._inflight_cmds() if x != cid)

    def _execute(
        self, cid: CommandId, cmd: c.Command, tag: str, data: st.DataObject
    ) -> bytes | None:
        srv = self.server
        if isinstance(cmd, c.Fetch):
            return self._answer_fetch(cid, cmd, data)
        if isinstance(cmd, c.Store):
            if srv.readonly:
                return b""
            return self._answer_store(cid, cmd)
        if isinstance(cmd, c.Search):
            return self._answer_search(cid, cmd, tag)
        if isinstance(cmd, (c.Expunge, c.UidExpunge, c.Move)):
            if not self._expunge_allowed(cid):
                return None  # a server delays EXPUNGE while it is not allowed
            return self._answer_expunge(cmd)
        if isinstance(cmd, (c.Select, c.Examine)):
            srv.readonly = isinstance(cmd, c.Examine)
            out = b"* %d EXISTS\r\n* OK [UIDVALIDITY 1] v\r\n" % len(srv.uids)
            return out + b"* FLAGS (\\Seen \\Flagged \\Deleted)\r\n"
        if isinstance(cmd, c.Append):
            srv.uids.append(srv.next_uid)
            srv.next_uid += 1
            return b"* %d EXISTS\r\n" % len(srv.uids)
        return b""

    def _answer_fetch(self, cid: CommandId, cmd: c.Fetch, data: st.DataObject) -> bytes:
        srv = self.server
        out = b""
        expected = self.expected.setdefault(cid, [])
        for seq, uid in srv.resolve(cmd.target):
            parts: list[tuple[str, bytes]] = []
            items: dict[str, object] = {}
            for item in cmd.expanded_items:
                name = normalize_fetch_item_name(item.response_name)
                if name == "FLAGS":
                    continue
                if name == "RFC822.SIZE":
                    parts.append((name, b"RFC822.SIZE 100"))
                    items[name] = 100
                else:
                    body = f"U{uid}-{name}".encode()
                    parts.append((name, name.encode() + b" " + _lit(body)))
                    items[name] = body
                    if item.sets_seen and not srv.readonly:
                        srv.flags.setdefault(uid, set()).add("\\Seen")
            if cmd.reads_flags or any(i.sets_seen for i in cmd.expanded_items):
                parts.append(("FLAGS", b"FLAGS " + srv.flag_list(uid)))
                if cmd.reads_flags:
                    items["FLAGS"] = None
            expected.append(("msg", (uid, items)))
            split = len(parts) > 1 and data.draw(st.booleans())
            groups = [parts[:1], parts[1:]] if split else [parts]
            for n, group in enumerate(groups):
                uid_part = [b"UID %d" % uid] if (cmd.is_uid or n == 0) else []
                line = b" ".join(uid_part + [p for _, p in group])
                out += b"* %d FETCH (%s)\r\n" % (seq, line)
        return out

    def _answer_store(self, cid: CommandId, cmd: c.Store) -> bytes:
        srv = self.server
        out = b""
        expected = self.expected.setdefault(cid, [])
        for seq, uid in srv.resolve(cmd.target):
            fl = srv.flags.setdefault(uid, set())
            names = {str(f) for f in cmd.flags}
            if cmd.mode is c.StoreMode.ADD:
                fl |= names
            else:
                fl -= names
            if not cmd.silent:
                uid_part = b"UID %d " % uid if cmd.is_uid else b""
                out += b"* %d FETCH (%sFLAGS %s)\r\n" % (seq, uid_part, srv.flag_list(uid))
                if cmd.is_uid:
                    expected.append(("msg", (uid, {"FLAGS": None})))
        return out

    def _answer_search(self, cid: CommandId, cmd: c.Search, tag: str) -> bytes:
        from pipeimap.protocol._responses import ESearchResponse, SearchResponse

        marker = int(cid)
        if cmd.return_options is None:
            self.expected.setdefault(cid, []).append(("data", SearchResponse((marker,))))
            return b"* SEARCH %d\r\n" % marker
        if cmd.return_options == ("SAVE",):
            return b""
        resp = ESearchResponse(tag, cmd.uid, count=marker)
        self.expected.setdefault(cid, []).append(("data", resp))
        uid = b" UID" if cmd.uid else b""
        return b'* ESEARCH (TAG "%s")%s COUNT %d\r\n' % (tag.encode(), uid, marker)

    def _answer_expunge(self, cmd: c.Command) -> bytes:
        srv = self.server
        if isinstance(cmd, c.Move):
            gone = [u for _, u in srv.resolve(cmd.target)]
        else:
            cand = srv.resolve(cmd.uids) if isinstance(cmd, c.UidExpunge) else srv.resolve(None)
            gone = [u for _, u in cand if "\\Deleted" in srv.flags.get(u, set())]
        out = b""
        for u in gone:
            seq = srv.uids.index(u) + 1
            srv.uids.remove(u)
            out += b"* %d EXPUNGE\r\n" % seq
        return out

    @rule(flag=st.sampled_from(["\\Seen", "\\Answered"]))
    def server_unsolicited(self, flag: str) -> None:
        srv = self.server
        if not srv.uids or not self.order:
            return
        uid = srv.uids[0]
        srv.flags.setdefault(uid, set()).add(flag)
        # Another client's change: only while some command is in flight.
        self._feed(b"* 1 FETCH (UID %d FLAGS %s)\r\n" % (uid, srv.flag_list(uid)))

    # --- invariants ------------------------------------------------------------------------------

    @invariant()
    def scheduler_agrees_on_inflight(self) -> None:
        assert set(self.h.sched.in_flight) == set(self.order)

    @invariant()
    def bookkeeping_is_pruned(self) -> None:
        """Only queued and in-flight commands are remembered (plus R7 links
        between them); an ended command leaves nothing behind."""
        sched = self.h.sched
        sizes = sched.internal_sizes()
        live = set(sched.queued) | set(sched.in_flight)
        assert set(sched._entries) == live
        assert sizes["entries"] == len(sched.queued) + len(sched.in_flight)
        assert sizes["by_tag"] == sizes["inflight"]
        assert sizes["gaters"] <= sizes["entries"]
        assert sizes["gate_links"] <= sizes["queue"] * sizes["gaters"]
        assert sizes["urgent"] <= 2
        assert sizes["deferred"] == 0  # every write is followed by take_outcomes()
        assert not set(self.ended) & live

    def teardown(self) -> None:
        """Drive to quiescence: every command must end exactly once."""
        for _ in range(400):
            if self.awaiting_plus is not None:
                self.server_plus(False)
            self.write()
            if not self.order and not self.h.sched.queued:
                break
            for cid, cmd in self._inflight_cmds():
                if cid == self.awaiting_plus:
                    continue
                tag = self.h.tag(cid)
                if isinstance(cmd, c.Idle):
                    self._answer_idle(cid, tag)
                    break
                if isinstance(cmd, (c.Expunge, c.UidExpunge, c.Move)) and not (
                    self._expunge_allowed(cid)
                ):
                    continue
                self._feed(f"{tag} OK done\r\n".encode())
                break
        assert not self.order, self.order
        assert not self.h.sched.queued, self.h.sched.queued
        for cid in self.commands:
            if cid in self.cancelled:
                assert self.ended.get(cid, 0) <= 1
            else:
                assert self.ended.get(cid) == 1, (cid, self.commands[cid], self.got.get(cid))


SchedulerMachine.TestCase.settings = settings(
    max_examples=300,
    report_multiple_bugs=False,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestScheduler = SchedulerMachine.TestCase
