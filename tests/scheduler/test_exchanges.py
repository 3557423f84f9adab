"""AUTHENTICATE dialogues, barriers and their cancellation, layer switches, and
outcomes produced while writing (``take_outcomes``)."""

from __future__ import annotations

import base64

import pytest

from pipeimap.errors import CommandBadError, InvalidArgumentError
from pipeimap.protocol import _commands as c
from pipeimap.protocol._seqset import UIDSet
from pipeimap.protocol._types import Secret
from pipeimap.scheduler import (
    AuthState,
    Completed,
    ContinuationRequested,
    Failed,
    MailboxClosed,
    SessionState,
    Unsolicited,
)

from ._harness import BASE_CAPS, Harness, selected_state

PLAIN = base64.b64encode(b"\0alice\0secret")


def fresh(*caps: str) -> Harness:
    return Harness(SessionState(capabilities=frozenset({"IMAP4REV1", *caps})))


# --- AUTHENTICATE (RFC 9051 section 6.2.2) -------------------------------------------------


def test_authenticate_without_sasl_ir() -> None:
    h = fresh("AUTH=PLAIN")
    auth = h.sched.submit(c.Authenticate("PLAIN", Secret(b"\0alice\0secret")))
    n = h.sched.submit(c.Noop())
    assert h.write() == b"A0001 AUTHENTICATE PLAIN\r\n"
    assert h.write() is None  # a barrier until its tagged response
    outs = h.server(b"+ \r\n")
    assert [type(o) for o in outs] == [ContinuationRequested]
    assert outs[0].cid == auth  # type: ignore[union-attr]
    h.sched.send_continuation(auth, Secret(b"\0alice\0secret"))
    batch = h.sched.next_write()
    assert batch is not None
    assert batch.data == PLAIN + b"\r\n"
    assert batch.sensitive_spans == ((0, len(batch.data)),)
    assert h.write() is None
    outs = h.server(b"A0001 OK [CAPABILITY IMAP4rev1 LITERAL+] welcome\r\n")
    assert [(type(o), o.cid) for o in outs if isinstance(o, Completed)] == [(Completed, auth)]
    assert h.sched.state.auth is AuthState.AUTHENTICATED
    assert h.sched.state.capabilities == {"IMAP4REV1", "LITERAL+"}
    assert h.write() == b"A0002 NOOP\r\n"
    assert h.sched.in_flight == (n,)


def test_authenticate_with_sasl_ir_is_one_sensitive_line() -> None:
    h = fresh("AUTH=PLAIN", "SASL-IR")
    auth = h.sched.submit(c.Authenticate("PLAIN", Secret(b"\0alice\0secret")))
    batch = h.sched.next_write()
    assert batch is not None
    assert batch.data == b"A0001 AUTHENTICATE PLAIN " + PLAIN + b"\r\n"
    (start, end), *_ = batch.sensitive_spans
    assert PLAIN in batch.data[start:end]
    outs = h.server(b"A0001 OK done\r\n")
    assert [o.cid for o in outs if isinstance(o, Completed)] == [auth]


def test_multi_step_exchange_then_abort() -> None:
    h = fresh("AUTH=SCRAM-SHA-256")
    auth = h.sched.submit(c.Authenticate("SCRAM-SHA-256"))
    h.write()
    assert len(h.server(b"+ \r\n")) == 1
    h.sched.send_continuation(auth, b"client-first")
    assert h.write() == base64.b64encode(b"client-first") + b"\r\n"
    outs = h.server(b"+ " + base64.b64encode(b"server-first") + b"\r\n")
    assert isinstance(outs[0], ContinuationRequested)
    assert outs[0].request.data == b"server-first"
    h.sched.abort_exchange(auth)
    assert h.write() == b"*\r\n"
    outs = h.server(b"A0001 BAD aborted\r\n")
    assert len(outs) == 1
    assert isinstance(outs[0], Failed)
    assert isinstance(outs[0].error, CommandBadError)
    assert h.sched.state.auth is AuthState.NOT_AUTHENTICATED


def test_exchange_calls_on_a_finished_command_are_refused() -> None:
    h = fresh("AUTH=PLAIN", "SASL-IR")
    auth = h.sched.submit(c.Authenticate("PLAIN", Secret(b"x")))
    h.write()
    h.server(b"A0001 OK\r\n")
    with pytest.raises(InvalidArgumentError):
        h.sched.send_continuation(auth, b"late")
    with pytest.raises(InvalidArgumentError):
        h.sched.abort_exchange(auth)


# --- cancelled barriers never block writing -----------------------------------------------------


def test_cancelled_authenticate_before_its_plus_is_aborted_at_the_plus() -> None:
    h = fresh("AUTH=PLAIN")
    auth = h.sched.submit(c.Authenticate("PLAIN"))
    h.sched.submit(c.Capability())
    assert h.write() == b"A0001 AUTHENTICATE PLAIN\r\n"
    assert h.sched.cancel(auth) == []
    assert h.write() is None
    assert h.server(b"+ \r\n") == []  # the gone caller is not asked
    assert h.write() == b"*\r\n"
    assert h.server(b"A0001 BAD cancelled\r\n") == []
    assert h.write() == b"A0002 CAPABILITY\r\n"


def test_cancelled_authenticate_after_its_plus_is_aborted_at_once() -> None:
    h = fresh("AUTH=PLAIN")
    auth = h.sched.submit(c.Authenticate("PLAIN"))
    h.write()
    h.server(b"+ \r\n")
    h.sched.cancel(auth)
    assert h.write() == b"*\r\n"
    assert h.server(b"A0001 BAD cancelled\r\n") == []
    assert h.sched.in_flight == ()


@pytest.mark.parametrize("command", [c.StartTLS(), c.Compress()])
def test_cancelled_layer_switch_still_completes_and_switches(command: c.Command) -> None:
    h = fresh("STARTTLS", "COMPRESS=DEFLATE")
    cid = h.sched.submit(command)
    n = h.sched.submit(c.Noop())
    assert h.write() == f"A0001 {describe(command)}\r\n".encode()
    assert h.sched.cancel(cid) == []
    assert h.write() is None
    assert h.server(b"A0001 OK go ahead\r\n") == []  # no outcome for the gone caller...
    fly = h.sched.in_flight
    assert fly == ()
    pending = h.sched.layer_switch
    assert pending == command  # ...but the transport must switch
    assert h.write() is None  # nothing until it has
    h.sched.complete_layer_switch()
    assert h.sched.layer_switch is None
    assert h.write() == b"A0002 NOOP\r\n"
    assert h.sched.in_flight == (n,)


def describe(command: c.Command) -> str:
    return "STARTTLS" if isinstance(command, c.StartTLS) else "COMPRESS DEFLATE"


@pytest.mark.parametrize("command", [c.StartTLS(), c.Compress()])
def test_refused_layer_switch_needs_no_switch(command: c.Command) -> None:
    h = fresh("STARTTLS", "COMPRESS=DEFLATE")
    cid = h.sched.submit(command)
    h.sched.submit(c.Noop())
    h.write()
    h.sched.cancel(cid)
    assert h.server(b"A0001 NO not now\r\n") == []
    assert h.sched.layer_switch is None
    assert h.write() == b"A0002 NOOP\r\n"


def test_layer_switch_is_reported_for_a_waiting_caller_too() -> None:
    h = fresh("STARTTLS")
    tls = h.sched.submit(c.StartTLS())
    h.write()
    outs = h.server(b"A0001 OK begin\r\n")
    assert [o.cid for o in outs if isinstance(o, Completed)] == [tls]
    assert isinstance(h.sched.layer_switch, c.StartTLS)
    assert h.sched.state.capabilities == frozenset()  # RFC 9051 section 6.2.1


def test_cancelled_queued_barrier_is_never_written() -> None:
    h = fresh("STARTTLS")
    first = h.sched.submit(c.Noop())
    tls = h.sched.submit(c.StartTLS())
    h.sched.submit(c.Capability())
    assert h.write() == b"A0001 NOOP\r\n"
    h.sched.cancel(tls)
    h.server(b"A0001 OK\r\n")
    assert h.write() == b"A0002 CAPABILITY\r\n"
    assert first not in h.sched.in_flight


def test_connection_lost_clears_a_pending_layer_switch() -> None:
    h = fresh("STARTTLS")
    h.sched.submit(c.StartTLS())
    h.write()
    h.server(b"A0001 OK\r\n")
    h.sched.connection_lost()
    assert h.sched.layer_switch is None


# --- take_outcomes -----------------------------------------------------------------------


def test_outcomes_produced_while_writing_are_taken_once() -> None:
    # A BINARY APPEND queued behind STARTTLS: the capabilities are forgotten at
    # STARTTLS's OK, so it cannot be encoded any more when its turn comes.
    h = Harness(SessionState(capabilities=frozenset({"IMAP4REV1", "STARTTLS", "BINARY"})))
    h.sched.submit(c.StartTLS())
    app = h.sched.submit(c.Append("INBOX", (c.AppendMessage(b"a\0b", binary=True),)))
    assert h.write() == b"A0001 STARTTLS\r\n"
    h.server(b"A0001 OK\r\n")
    h.sched.complete_layer_switch()
    assert h.sched.next_write() is None
    (failed,) = h.sched.take_outcomes()
    assert isinstance(failed, Failed)
    assert failed.cid == app
    assert isinstance(failed.error, InvalidArgumentError)
    assert h.sched.take_outcomes() == []
    assert h.sched.cancel(app) == []  # not returned a second time
    assert h.sched.queued == h.sched.in_flight == ()


def test_mailbox_closed_at_write_time_is_taken() -> None:
    h = Harness(selected_state(BASE_CAPS))  # no [CLOSED]: the switch happens when written
    h.sched.submit(c.Select("Archive"))
    h.sched.submit(c.Fetch(UIDSet(1), (c.FetchItem("FLAGS"),)))
    assert h.write() == b"A0001 SELECT Archive\r\nA0002 UID FETCH 1 (FLAGS)\r\n"
    assert h.sched.take_outcomes() == [Unsolicited(MailboxClosed("INBOX"))]
    assert h.server(b"A0001 OK\r\n")[-1:] != [Unsolicited(MailboxClosed("INBOX"))]
