"""How commands end: tagged responses, R7 release, cancellation, connection loss.

Theory of operation: a tagged response ends the command with that tag, in any
order (RFC 9051 section 7.1); an unknown tag is a protocol violation.  Its
effects on the session (selection boundary, authentication, capabilities,
layer switch) are applied first, then the command's outcome, then its R7
dependents: released on OK (after the UIDVALIDITY check), failed with
:class:`~pipeimap.errors.PredecessorFailedError` otherwise.

Cancellation only withdraws the caller's interest.  A queued command is
removed and never written (its dependents fail); an in-flight one runs to its
tagged response, which still has its effects -- a cancelled SELECT still
changes the mailbox, a cancelled STARTTLS/COMPRESS still requires the layer
switch -- but produces no outcome for the gone caller.
"""

from __future__ import annotations

from ..errors import (
    CommandBadError,
    CommandNoError,
    ConnectionLostError,
    PredecessorFailedError,
    UnexpectedResponseError,
)
from ..protocol import _commands as c
from ..protocol import _responses as r
from ..protocol._codes import CapabilityCode
from ..protocol._types import UID
from . import _events as ev
from ._entry import Entry, Phase
from ._exchanges import ExchangeLayer
from ._footprint import Selection, Wire
from ._outcomes import CommandId, Completed, Failed, Fatal, Outcome, Unsolicited
from ._state import AuthState

__all__ = ["CompletionLayer"]


class CompletionLayer(ExchangeLayer):
    """Tagged responses, cancellation and loss (see the module docstring)."""

    # --- tagged responses -------------------------------------------------------------------

    def _tagged(self, t: r.TaggedResponse) -> list[Outcome]:
        e = self._by_tag.pop(t.tag, None)
        if e is None:
            return self._fatal(
                UnexpectedResponseError(f"tagged response for unknown tag {t.tag!r}")
            )
        e.waiting_plus, e.resume = False, False
        self._inflight.remove(e)
        self._flight_index.remove(e)
        self.router.untrack(e)
        self._finish(e)
        outs = self.router.flush(e)
        if isinstance(t.code, CapabilityCode):
            self._state.set_capabilities(t.code.capabilities)
        if t.status == "OK":
            outs += self._succeeded(e, t)
        else:
            outs += self._failed(e, t)
        if self.router.opening is e:
            self.router.opening = None  # its mailbox's data is unsolicited from now on
        return outs

    def _succeeded(self, e: Entry, t: r.TaggedResponse) -> list[Outcome]:
        outs = self._effects_ok(e, t)
        if e.poison is not None:
            outs.append(Failed(e.cid, e.poison))
        elif not e.cancelled:
            outs.append(Completed(e.cid, t, _missing(e)))
        return outs + self._release(e)

    def _failed(self, e: Entry, t: r.TaggedResponse) -> list[Outcome]:
        cls = CommandNoError if t.status == "NO" else CommandBadError
        code = t.code.name if t.code is not None else None
        err = cls(t.status, code, t.text, t.tag, e.fp.name, e.fp.mailbox)
        outs: list[Outcome] = []
        opened = self._state.selected is e.new_mailbox or self.router.awaiting_closed is e
        if isinstance(e.command, (c.Select, c.Examine)) and opened:
            outs += self.router.switch_to(None)  # RFC 9051 section 6.3.2
        if e.poison is not None:
            outs.append(Failed(e.cid, e.poison))  # what made its answer void comes first
        elif not e.cancelled:
            outs.append(Failed(e.cid, err))
        pred = PredecessorFailedError(t.status, code, t.text, t.tag, e.fp.name, e.fp.mailbox)
        return outs + self._fail_dependents(e, pred)

    def _effects_ok(self, e: Entry, t: r.TaggedResponse) -> list[Outcome]:
        cmd, st = e.command, self._state
        outs: list[Outcome] = []
        if isinstance(cmd, (c.Select, c.Examine)):
            if self.router.awaiting_closed is e or st.selected is not e.new_mailbox:
                outs += self.router.switch_to(e)
            if st.selected is not None and t.code is not None and t.code.name == "READ-ONLY":
                st.selected.readonly = True
            st.auth = AuthState.SELECTED
        elif isinstance(cmd, (c.Close, c.Unselect)):
            outs += self.router.switch_to(None)
        elif isinstance(cmd, (c.Login, c.Authenticate)):
            st.auth = AuthState.AUTHENTICATED
        elif isinstance(cmd, (c.StartTLS, c.Compress)):
            self._layer_pending = cmd  # even if cancelled: the server has switched
            if isinstance(cmd, c.StartTLS):
                st.capabilities = frozenset()  # RFC 9051 section 6.2.1: ask again
        elif isinstance(cmd, c.Logout):
            st.auth = AuthState.LOGOUT
        return outs

    def _release(self, pred: Entry) -> list[Outcome]:
        """R7: ``pred`` succeeded; its dependents may go (UIDVALIDITY checked)."""
        outs: list[Outcome] = []
        if not pred.fp.saves_search and pred.fp.selection is not Selection.CHANGES:
            return outs  # only those can gate (see _enqueue): no queued command waits for it
        mbox = self._state.selected
        for e in list(self._queue):
            if pred not in e.gates:
                continue
            e.gates.remove(pred)
            if (
                pred.fp.selection is Selection.CHANGES
                and e.expect_uidvalidity is not None
                and mbox is not None
                and mbox.uidvalidity != e.expect_uidvalidity
            ):
                err = self._uidvalidity_error(e, mbox.uidvalidity)
                outs += self._drop(e, err)
        return outs

    def _bye(self, text: str) -> list[Outcome]:
        self._state.bye = True
        if any(isinstance(e.command, c.Logout) for e in self._inflight):
            return [Unsolicited(ev.ByeReceived(text))]  # expected (RFC 9051 section 6.1.3)
        err = ConnectionLostError(f"the server closed the connection: BYE {text}")
        return [Unsolicited(ev.ByeReceived(text)), Fatal(err), *self._fail_all(err)]

    # --- cancellation and loss --------------------------------------------------------------

    def cancel(self, cid: CommandId) -> list[Outcome]:
        """The task that submitted ``cid`` is gone.  Queued: removed, never
        written.  In flight: its results are drained and discarded (a
        synchronizing literal already announced is still sent; IDLE gets DONE; a
        SASL exchange gets ``*``); its tagged response still has its effects
        (a barrier such as STARTTLS/COMPRESS still ends at it, and still needs
        the layer switch).  Returns outcomes of *other* commands."""
        outs = self.take_outcomes()
        e = self._entries.get(cid)
        if e is None or e.phase is Phase.DONE or e.cancelled:
            return outs
        e.cancelled = True
        if e.phase is Phase.QUEUED:
            self._queue.remove(e)
            self._finish(e)
            err = PredecessorFailedError("NO", None, "cancelled", "", e.fp.name, e.fp.mailbox)
            return outs + self._fail_dependents(e, err)
        if isinstance(e.command, c.Idle):
            self._request_done(e)
        elif e.fp.wire is Wire.EXCHANGE and e.plus_seen and not e.waiting_plus:
            self.abort_exchange(cid)
        return outs

    def connection_lost(
        self, exc: BaseException | None = None, *, bye: str | None = None
    ) -> list[Outcome]:
        """EOF or a network error: every pending command fails; nothing is
        replayed.  ``bye``: the text of a ``* BYE`` the server sent in the
        middle of a response it never finished (``exc`` is then the parse
        error that left), named first since it is the real reason."""
        outs = self.take_outcomes()
        if bye is not None:
            msg = (
                f"the server closed the connection: BYE {bye} (in the middle of a response: {exc})"
            )
        else:
            msg = f"the connection was lost: {exc}" if exc else "connection closed"
        err = ConnectionLostError(msg)
        err.__cause__ = exc
        return outs + self._fail_all(err)


def _missing(e: Entry) -> tuple[UID, ...]:
    """Requested UIDs that never came (only for bounded UID FETCH/STORE)."""
    if not e.request_names or not isinstance(e.command, (c.Fetch, c.Store)):
        return ()
    if isinstance(e.command, c.Store) and e.command.silent:
        return ()
    uids = e.bounded_uids()
    if uids is None:
        return ()
    return tuple(u for u in uids if int(u) not in e.delivered_uids)
