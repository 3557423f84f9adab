"""A tiny driver for scheduler tests: bytes out, server bytes in (through the real parser)."""

from __future__ import annotations

from pipeimap.protocol._limits import ParserLimits
from pipeimap.protocol._parser import ResponseParser
from pipeimap.scheduler import (
    AuthState,
    CommandId,
    MailboxState,
    Outcome,
    Scheduler,
    SchedulerOptions,
    SessionState,
)

BASE_CAPS = frozenset({"IMAP4REV1", "UIDPLUS", "ESEARCH", "SEARCHRES", "MOVE"})


def selected_state(
    caps: frozenset[str] = BASE_CAPS,
    *,
    mailbox: str | None = "INBOX",
    readonly: bool = False,
    exists: int = 20,
) -> SessionState:
    st = SessionState(capabilities=caps, auth=AuthState.AUTHENTICATED)
    if mailbox is not None:
        mbox = MailboxState(mailbox, readonly=readonly, uidvalidity=1)
        mbox.on_exists(exists)
        st.selected = mbox
        st.auth = AuthState.SELECTED
    return st


class Harness:
    def __init__(
        self,
        state: SessionState | None = None,
        options: SchedulerOptions | None = None,
        stream_threshold: int = 1 << 20,
    ) -> None:
        self.sched = Scheduler(options, state=state or selected_state())
        self.parser = ResponseParser(
            ParserLimits(stream_threshold=stream_threshold), expect_greeting=False
        )

    def write(self) -> bytes | None:
        batch = self.sched.next_write()
        return None if batch is None else batch.data

    def server(self, data: bytes) -> list[Outcome]:
        self.parser.feed(data)
        outs: list[Outcome] = []
        for event in self.parser.events():
            outs += self.sched.on_event(event)
        return outs

    def tag(self, cid: CommandId) -> str:
        t = self.sched.tag(cid)
        assert t is not None
        return t
