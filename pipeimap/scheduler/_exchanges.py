"""Continuation dialogues: ``+`` responses, IDLE, SASL exchanges, layer switches.

Theory of operation: R1 makes the command awaiting a ``+`` unique, so a
continuation request goes to it (RFC 9051 section 7.5).  For a synchronizing
literal it releases the next fragments; for an exchange (AUTHENTICATE, IDLE)
it is handed to the caller as :class:`ContinuationRequested`.  ``DONE``
(RFC 2177) may only follow IDLE's ``+``: asked earlier, it is remembered and
written as soon as the ``+`` arrives.  A cancelled exchange is never left
hanging: IDLE gets ``DONE``, AUTHENTICATE gets ``*`` (RFC 9051 section 6.2.2),
each as soon as the protocol allows.

STARTTLS and COMPRESS stop all writing from their tagged OK until the driver
has switched the transport (:attr:`layer_switch`, :meth:`complete_layer_switch`)
-- also when the task that submitted them was cancelled: the server has
switched, so the client must too.
"""

from __future__ import annotations

from ..errors import InvalidArgumentError, UnexpectedResponseError
from ..protocol import _commands as c
from ..protocol import _responses as r
from ..protocol._serializer import (
    serialize_idle_done,
    serialize_sasl_cancel,
    serialize_sasl_response,
)
from ..protocol._types import Secret
from ._core import SchedulerCore
from ._entry import Entry, Phase
from ._footprint import Wire
from ._outcomes import CommandId, ContinuationRequested, Outcome

__all__ = ["ExchangeLayer"]


class ExchangeLayer(SchedulerCore):
    """``+`` dialogues and layer switches (see the module docstring)."""

    # --- IDLE ---------------------------------------------------------------------------

    def _leave_idle(self) -> None:
        """IDLE is left by itself when another command is submitted (RFC 2177)."""
        if not self._flight_index.barriers:
            return  # IDLE has a barrier: none in flight, no IDLE in flight
        for e in self._inflight:
            if isinstance(e.command, c.Idle):
                self._request_done(e)

    def _request_done(self, e: Entry) -> None:
        if e.done_sent:
            return
        if e.plus_seen:
            e.done_sent = True
            self._urgent.append((e.cid, serialize_idle_done()))
        else:
            e.done_requested = True

    def end_idle(self, cid: CommandId) -> None:
        """Write DONE now, or as soon as IDLE's ``+`` arrives (RFC 2177)."""
        e = self._entries.get(cid)
        if e is None or not isinstance(e.command, c.Idle) or e.phase is Phase.DONE:
            return
        self._request_done(e)

    # --- SASL -----------------------------------------------------------------------------

    def _exchange(self, cid: CommandId) -> Entry:
        e = self._entries.get(cid)
        if e is None or e.phase is not Phase.IN_FLIGHT or e.fp.wire is not Wire.EXCHANGE:
            raise InvalidArgumentError(f"command {cid} is not an exchange in flight")
        return e

    def send_continuation(self, cid: CommandId, data: bytes | Secret) -> None:
        """Answer a SASL challenge (RFC 9051 section 6.2.2); the line is sensitive."""
        e = self._exchange(cid)
        e.waiting_plus = True
        self._urgent.append((cid, serialize_sasl_response(data)))

    def abort_exchange(self, cid: CommandId) -> None:
        """Cancel a SASL exchange with ``*``; the server answers tagged BAD."""
        e = self._exchange(cid)
        e.waiting_plus = True
        self._urgent.append((cid, serialize_sasl_cancel()))

    # --- layer switches ----------------------------------------------------------------------

    @property
    def layer_switch(self) -> c.Command | None:
        """The STARTTLS or COMPRESS whose tagged OK arrived and whose transport
        switch is not yet done (nothing is written meanwhile), else ``None``.
        Set even when the command was cancelled: the driver must switch anyway."""
        return self._layer_pending

    def complete_layer_switch(self) -> None:
        """STARTTLS/COMPRESS: the TLS handshake or deflate layer is in place;
        writing may resume (nothing is written between the tagged OK and this)."""
        self._layer_pending = None

    # --- "+" ----------------------------------------------------------------------------------

    def _continuation(self, cr: r.ContinuationRequest) -> list[Outcome]:
        waiting = [e for e in self._inflight if e.waiting_plus]
        if not waiting:
            if any(isinstance(e.command, c.Idle) and e.plus_seen for e in self._inflight):
                return []  # "+ Still here" keep-alives during IDLE
            return self._fatal(UnexpectedResponseError("continuation request nobody awaits"))
        e = waiting[0]
        e.waiting_plus = False
        if e.cursor < len(e.fragments):
            e.resume = True  # the synchronizing literal may go now
            return []
        e.plus_seen = True
        if isinstance(e.command, c.Idle):
            if e.done_requested or e.cancelled or self._queue:
                self._request_done(e)
        elif e.cancelled:
            self.abort_exchange(e.cid)
            return []
        return [] if e.cancelled else [ContinuationRequested(e.cid, cr)]
