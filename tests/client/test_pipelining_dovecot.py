"""Pipelining on the wire against the real Dovecot: many tasks over one connection,
conflicting pairs never in flight together, cancellation that never desynchronizes
the connection, and a dropped connection failing every pending command."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial

import anyio
import anyio.abc
import pytest

import pipeimap
from pipeimap import ConnectionLostError, UIDSet
from pipeimap.protocol import Fetch, Store
from pipeimap.protocol import search as S
from pipeimap.scheduler import WriteBatch
from pipeimap.testing import DovecotServer

from ._helpers import ALICE_PASSWORD, TEST_TIMEOUT, connect_user, message, populate, unique

pytestmark = pytest.mark.anyio


def _uids(cmd: Fetch | Store) -> set[int]:
    target = cmd.target
    assert isinstance(target, UIDSet)
    assert not target.has_star
    return {int(u) for u in target}


def conflicting_pairs_in_flight(in_flight: tuple[object, ...]) -> list[tuple[object, object]]:
    """An independent check of rule R4 for the commands this test sends: a STORE
    of a message's flags and a FETCH of that message's FLAGS may not overlap."""
    stores = [c for c in in_flight if isinstance(c, Store)]
    fetches = [c for c in in_flight if isinstance(c, Fetch) and c.reads_flags]
    return [(s, f) for s in stores for f in fetches if _uids(s) & _uids(f)]


async def test_200_tasks_pipeline_over_one_connection(dovecot: DovecotServer) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with connect_user(dovecot) as client:
            box = unique("Pipeline")
            uids = await populate(client, box, 100)
            await client.select(box)
            snapshots: list[tuple[object, ...]] = []
            sizes: list[int] = []

            def observe(batch: WriteBatch, in_flight: tuple[object, ...]) -> None:
                snapshots.append(in_flight)
                sizes.append(len(batch.commands))

            client._conn.write_observer = observe
            before = client.stats
            fetched: dict[int, tuple[str, ...]] = {}

            async def fetch(uid: int) -> None:
                (m,) = await client.fetch_all(uid, ["FLAGS", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
                assert m.uid == uid
                assert (
                    m.body("HEADER.FIELDS (SUBJECT)") == f"Subject: message {uid}\r\n\r\n".encode()
                )
                fetched[uid] = tuple(m.flags or ())

            def flag(uid: int) -> str:
                # (maildir holds at most 26 keywords, so system flags it is)
                return "\\Flagged" if uid % 2 else "\\Answered"

            async def store(uid: int) -> None:
                await client.store(uid, flag(uid))

            order = [(fetch, u) for u in uids] + [(store, u) for u in uids]
            random.Random(7).shuffle(order)
            async with anyio.create_task_group() as tg:
                for fn, uid in order:
                    tg.start_soon(fn, uid)

            stats = client.stats
            written = stats.commands_written - before.commands_written
            writes = stats.writes - before.writes
            assert written >= 200
            # Many commands were in flight together, and went out in few sends.
            assert stats.max_in_flight >= 20, stats
            assert writes * 3 <= written, (writes, written)
            assert max(sizes) >= 10
            # Yet a STORE and a FETCH FLAGS of the same message never overlapped.
            for snapshot in snapshots:
                assert conflicting_pairs_in_flight(snapshot) == []
            # Each fetch saw the flags either before or after its message's store,
            # never a mix of two messages; afterwards every store is there.
            for uid, flags in fetched.items():
                assert set(flags) - {"\\Recent", flag(uid)} == set()
            final = await client.fetch_all("1:*", ["FLAGS"])
            assert all(m.uid and flag(m.uid) in (m.flags or ()) for m in final)


async def test_pipeline_depth_one_turns_pipelining_off(dovecot: DovecotServer) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with connect_user(dovecot, pipeline_depth=1) as client:
            box = unique("Depth1")
            await populate(client, box, 10)
            await client.select(box)
            async with anyio.create_task_group() as tg:
                for uid in range(1, 11):
                    tg.start_soon(client.fetch_all, uid, ["FLAGS"])
            assert client.stats.max_in_flight == 1


async def test_cancel_mid_fetch_keeps_the_connection_in_sync(dovecot: DovecotServer) -> None:
    body = b"x" * 200_000 + b"\r\n"
    with anyio.fail_after(TEST_TIMEOUT):
        async with connect_user(dovecot) as client:
            box = unique("Cancel")
            await populate(client, box, 20, body=body)
            await client.select(box)

            # 1. Leaving a fetch block early: the rest is drained and discarded.
            async with client.fetch("1:*", ["BODY.PEEK[]"]) as msgs:
                async for m in msgs:
                    assert m.uid == 1
                    break

            # 2. A task cancelled while its fetch is in flight, several times over,
            #    with other tasks' commands pipelined around it.
            for delay in (0.0, 0.001, 0.01, 0.03):
                with anyio.move_on_after(delay):
                    await client.fetch_all("1:*", ["BODY.PEEK[]"])
                results = await client.fetch_all([3, 17], ["BODY.PEEK[]", "FLAGS"])
                assert [m.uid for m in results] == [3, 17]
                assert results[0].body() == message(3, body=body)
                found = await client.search(S.ALL)
                assert found.count == 20

            # 3. Cancelled while waiting in the queue behind a slow command.
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.fetch_all, "1:*", ["BODY.PEEK[]"])
                with anyio.move_on_after(0.001):
                    await client.store([1, 2], "$Never")  # may or may not be written
                tg.cancel_scope.cancel()
            flags = await client.fetch_all([1, 2], ["FLAGS"])
            stored = ["$Never" in (m.flags or ()) for m in flags]
            assert stored in ([True, True], [False, False])  # whole command or nothing
            await client.noop()


class Proxy:
    """A loopback TCP proxy that can hold the server's bytes back and cut the line."""

    def __init__(self) -> None:
        self.port = 0
        self.flowing = anyio.Event()
        self.flowing.set()
        self.cut = anyio.Event()

    def pause(self) -> None:
        self.flowing = anyio.Event()


@asynccontextmanager
async def tcp_proxy(target_port: int) -> AsyncIterator[Proxy]:
    proxy = Proxy()
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    proxy.port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def pipe(src: anyio.abc.ByteStream, dst: anyio.abc.ByteStream, gated: bool) -> None:
        try:
            async for data in src:
                if gated:
                    await proxy.flowing.wait()
                await dst.send(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass

    async def handle(client: anyio.abc.SocketStream) -> None:
        async with (
            client,
            await anyio.connect_tcp("127.0.0.1", target_port) as upstream,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(pipe, client, upstream, False)
            tg.start_soon(pipe, upstream, client, True)
            await proxy.cut.wait()
            tg.cancel_scope.cancel()

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        try:
            yield proxy
        finally:
            tg.cancel_scope.cancel()


async def test_connection_drop_fails_pending_commands(dovecot: DovecotServer) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with connect_user(dovecot) as setup:
            box = unique("Drop")
            await populate(setup, box, 10)
        async with (
            tcp_proxy(dovecot.imaps_port) as proxy,
            pipeimap.connect(
                "localhost",
                proxy.port,
                username="alice",
                password=ALICE_PASSWORD,
                ssl_context=dovecot.client_ssl_context(),
            ) as client,
        ):
            await client.select(box)
            errors: list[BaseException] = []

            async def run(fn: Callable[[], Awaitable[object]]) -> None:
                try:
                    await fn()
                except Exception as exc:
                    errors.append(exc)
                else:
                    errors.append(AssertionError("completed after the drop"))

            async def watch_events() -> None:
                async with client.events() as events:
                    async for _ in events:
                        pass

            proxy.pause()  # the server's answers stop reaching us
            async with anyio.create_task_group() as tg:
                tg.start_soon(run, watch_events)
                for uid in range(1, 6):
                    tg.start_soon(run, partial(client.fetch_all, uid, ["BODY.PEEK[]"]))
                    tg.start_soon(run, partial(client.store, uid, "\\Seen"))
                tg.start_soon(run, client.noop)
                with anyio.fail_after(5):
                    while len(client._conn.sched.in_flight) < 5:  # noqa: ASYNC110
                        await anyio.sleep(0.01)
                proxy.cut.set()
            assert len(errors) == 12
            assert all(isinstance(e, ConnectionLostError) for e in errors), errors
            assert client.closed
            with pytest.raises(ConnectionLostError):
                await client.noop()
            # Leaving the block after the loss raises nothing (and no ExceptionGroup).
