"""A raw IMAP session for transport-level tests (the client is not written yet):
a Transport, a ResponseParser, and a SASL exchange driven by a mechanism object."""

from __future__ import annotations

import base64

from pipeimap.client._transport import Transport
from pipeimap.protocol._parser import ResponseParser
from pipeimap.protocol._responses import ContinuationRequest, Event, Greeting, TaggedResponse
from pipeimap.protocol._sasl import SaslError, SaslMechanism
from pipeimap.protocol._serializer import serialize_sasl_cancel, serialize_sasl_response

USER = "alice"


class RawSession:
    """Just enough of a client to drive raw commands: a transport and a parser."""

    def __init__(self, transport: Transport, *, prefix: str = "T") -> None:
        self.transport = transport
        self.parser = ResponseParser()
        self.prefix = prefix
        self.n = 0

    async def next_event(self) -> Event:
        while True:
            event = self.parser.next_event()
            if event is not None:
                return event
            data = await self.transport.receive()
            if not data:
                raise AssertionError("the server closed the connection")
            self.parser.feed(data)

    async def greeting(self) -> Greeting:
        event = await self.next_event()
        assert isinstance(event, Greeting), event
        return event

    def tag(self) -> str:
        self.n += 1
        return f"{self.prefix}{self.n}"

    async def until_tagged(self, tag: str) -> list[Event]:
        events = []
        while True:
            event = await self.next_event()
            events.append(event)
            if isinstance(event, TaggedResponse) and event.tag == tag:
                return events

    async def command(self, text: bytes) -> tuple[TaggedResponse, list[Event]]:
        tag = self.tag()
        await self.transport.send_all(tag.encode() + b" " + text + b"\r\n")
        events = await self.until_tagged(tag)
        tagged = events[-1]
        assert isinstance(tagged, TaggedResponse)
        return tagged, events[:-1]

    async def login(self, user: str, password: str) -> TaggedResponse:
        quoted = password.replace("\\", "\\\\").replace('"', '\\"')
        tagged, _ = await self.command(f'LOGIN {user} "{quoted}"'.encode())
        return tagged

    async def authenticate(self, mech: SaslMechanism, *, sasl_ir: bool) -> TaggedResponse:
        """A raw AUTHENTICATE exchange driven by ``mech`` (RFC 9051 section 6.2.2)."""
        tag = self.tag()
        line = f"{tag} AUTHENTICATE {mech.name}".encode()
        initial = mech.initial_response() if sasl_ir else None
        if initial is not None:
            line += b" " + (base64.b64encode(initial.reveal_bytes()) or b"=")
        await self.transport.send_all(line + b"\r\n")
        failure: SaslError | None = None
        while True:
            event = await self.next_event()
            if isinstance(event, ContinuationRequest):
                try:
                    reply = mech.respond(event.data)
                except SaslError as exc:
                    failure = exc
                    await self.transport.send_all(serialize_sasl_cancel().data)
                    continue
                fragment = serialize_sasl_response(reply)
                assert fragment.sensitive
                await self.transport.send_all(fragment.data)
            elif isinstance(event, TaggedResponse) and event.tag == tag:
                if failure is not None:
                    raise failure
                if event.status == "OK":
                    mech.verify_success()
                return event
