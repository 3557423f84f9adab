"""IDLE and unsolicited events against the real Dovecot, with changes made
through a second connection."""

from __future__ import annotations

import anyio
import pytest

from pipeimap.client import FlagsChanged, MessageCountChanged, MessagesExpunged
from pipeimap.testing import DovecotServer

from ._helpers import TEST_TIMEOUT, connect_user, message, populate, unique

pytestmark = pytest.mark.anyio


async def test_idle_sees_append_from_another_connection(dovecot: DovecotServer) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with connect_user(dovecot) as watcher, connect_user(dovecot) as writer:
            box = unique("Idle")
            await populate(watcher, box, 2)
            await watcher.select(box)
            async with watcher.idle() as events:
                # IDLE is established here: the server has answered "+".
                await writer.append(box, message(3))
                async for event in events:
                    if isinstance(event, MessageCountChanged):
                        assert event.exists == 3
                        break
                # Another change while still idling: a flag set elsewhere.
                await writer.select(box)
                await writer.store(1, "\\Flagged")
                async for event in events:
                    if isinstance(event, FlagsChanged):
                        assert event.seq == 1
                        assert "\\Flagged" in event.flags
                        break
            # IDLE was left cleanly: ordinary commands work and see the new state.
            (m,) = await watcher.fetch_all(3, ["ENVELOPE"])
            assert m.envelope is not None
            assert m.envelope.subject == "message 3"
            assert watcher.mailbox is not None
            assert watcher.mailbox.exists == 3


async def test_idle_left_by_itself_for_other_commands(dovecot: DovecotServer) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with connect_user(dovecot) as client, connect_user(dovecot) as other:
            box = unique("IdleAuto")
            await populate(client, box, 3)
            await client.select(box)
            seen: list[object] = []
            async with client.idle() as events:
                # A command from this task (or any other) ends IDLE by itself...
                status = await client.status("INBOX", ["MESSAGES"])
                assert status.messages is not None
                msgs = await client.fetch_all([1, 2, 3], ["FLAGS"])
                assert [m.uid for m in msgs] == [1, 2, 3]  # the seq->UID map is known now
                # ...and waiting for events re-enters IDLE.
                async with anyio.create_task_group() as tg:

                    async def change() -> None:
                        await anyio.sleep(0.3)
                        await other.select(box)
                        await other.store(3, "\\Deleted")
                        await other.expunge()

                    tg.start_soon(change)
                    async for event in events:
                        seen.append(event)
                        if isinstance(event, MessagesExpunged):
                            break
            gone = [e for e in seen if isinstance(e, MessagesExpunged)]
            assert gone
            assert gone[0].seqs == (3,)
            assert gone[0].uids == (3,)
            assert client.mailbox is not None
            assert client.mailbox.exists == 2


async def test_events_subscription(dovecot: DovecotServer) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with connect_user(dovecot) as client, connect_user(dovecot) as other:
            box = unique("Events")
            await populate(client, box, 1)
            await client.select(box)
            async with client.events() as events:
                await other.append(box, message(2))
                await client.noop()  # lets the server report the change
                event = await events.__anext__()
                while not isinstance(event, MessageCountChanged):
                    event = await events.__anext__()
                assert event.exists == 2
        # After the connection closed cleanly, the stream just ends.
        assert [e async for e in events] == []
