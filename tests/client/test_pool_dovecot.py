"""ConnectionPool against the real Dovecot (Trio and asyncio): the per-account cap
under load, reuse of a selected connection, fair waiting, killed connections
replaced, and clean shutdown without ExceptionGroups.

Connections are counted without asking Dovecot: the pool's own stats, and
independently a wrapper around the ``connect()`` the pool calls, which counts
the connections open at any moment."""

from __future__ import annotations

import random
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

import pipeimap
import pipeimap.client._pool as pool_module
from pipeimap import CommandNoError, ConnectionLostError, ConnectionPool, InvalidArgumentError
from pipeimap.client import Client
from pipeimap.testing import DovecotServer
from tests.conftest import TEST_USERS

from ._helpers import TEST_TIMEOUT, connect_user, message, unique

pytestmark = pytest.mark.anyio

USER = "bob"  # the kill test kicks every connection of this user; alice's tests are untouched


class ConnectCounter:
    """Wraps the ``connect()`` the pool uses and counts what it really opens."""

    def __init__(self) -> None:
        self.started = 0
        self.open = 0
        self.max_open = 0
        self.clean_exits = 0
        self.error_exits = 0
        self.clients: list[Client] = []

    @asynccontextmanager
    async def connect(self, *args: Any, **kwargs: Any) -> AsyncIterator[Client]:
        self.started += 1
        self.open += 1  # counted from the TCP connect on: the cap is about sockets
        self.max_open = max(self.max_open, self.open)
        try:
            async with pipeimap.connect(*args, **kwargs) as client:
                self.clients.append(client)
                try:
                    yield client
                except BaseException:
                    self.error_exits += 1
                    raise
                else:
                    self.clean_exits += 1
        finally:
            self.open -= 1


@pytest.fixture
def counter(monkeypatch: pytest.MonkeyPatch) -> ConnectCounter:
    c = ConnectCounter()
    monkeypatch.setattr(pool_module, "connect", c.connect)
    return c


def make_pool(dovecot: DovecotServer, max_connections: int = 4, **kwargs: Any) -> ConnectionPool:
    return ConnectionPool(
        "localhost",
        dovecot.imaps_port,
        username=USER,
        password=TEST_USERS[USER],
        ssl_context=dovecot.client_ssl_context(),
        timeout=20,
        max_connections=max_connections,
        **kwargs,
    )


async def make_mailboxes(dovecot: DovecotServer, count: int, messages: int = 3) -> list[str]:
    """``count`` mailboxes whose messages' subjects name their mailbox."""
    names = [unique(f"Pool{i}") for i in range(count)]
    async with connect_user(dovecot, USER) as client:
        for name in names:
            await client.create(name)
            await client.append_many(
                name, [message(i, subject=f"{name} #{i}") for i in range(messages)]
            )
    return names


async def test_cap_never_exceeded_under_load(
    dovecot: DovecotServer, counter: ConnectCounter
) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        boxes = await make_mailboxes(dovecot, 5)
        cap = 3
        lent: set[int] = set()  # ids of clients lent right now
        max_lent = 0
        rng = random.Random(7)

        async with make_pool(dovecot, cap) as pool:

            async def work(i: int) -> None:
                nonlocal max_lent
                box = boxes[i % len(boxes)]
                readonly = i % 2 == 0
                async with pool.mailbox(box, readonly=readonly) as client:
                    assert id(client) not in lent, "one connection lent to two tasks"
                    lent.add(id(client))
                    max_lent = max(max_lent, len(lent))
                    assert pool.stats.open + pool.stats.opening <= cap
                    assert client.mailbox is not None
                    assert client.mailbox.name == box
                    assert client.mailbox.readonly == readonly
                    msgs = await client.fetch_all("1:*", ["ENVELOPE"])
                    subjects = {m.envelope.subject for m in msgs if m.envelope is not None}
                    assert subjects == {f"{box} #{n}" for n in range(3)}
                    await anyio.sleep(rng.random() * 0.05)
                    lent.discard(id(client))

            async with anyio.create_task_group() as tg:
                for i in range(20):
                    tg.start_soon(work, i)
            stats = pool.stats
            assert stats.peak <= cap
            assert stats.opened == counter.started
            assert stats.open == counter.open
            assert stats.in_use == 0
            assert stats.waiting == 0
            assert stats.discarded == 0
        # Independently of the pool's own bookkeeping:
        assert counter.max_open <= cap
        assert max_lent <= cap
        assert counter.started <= cap  # nothing failed, so nothing was replaced
        assert len({id(c) for c in counter.clients}) == counter.started
        assert sum(c.stats.commands_written for c in counter.clients) > 20
        assert counter.open == 0


async def test_reuses_connection_with_mailbox_selected(
    dovecot: DovecotServer, counter: ConnectCounter
) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        box_a, box_b = await make_mailboxes(dovecot, 2)
        async with make_pool(dovecot, 2) as pool:
            async with pool.mailbox(box_a) as first:
                pass
            written = first.stats.commands_written
            async with pool.mailbox(box_a) as again:
                assert again is first
                assert first.stats.commands_written == written  # not even a SELECT
                assert again.mailbox is not None
                assert again.mailbox.name == box_a
            # Below the cap, another mailbox gets a connection of its own...
            async with pool.mailbox(box_b) as second:
                assert second is not first
            async with pool.mailbox(box_a) as a, pool.mailbox(box_b) as b:
                assert (a, b) == (first, second)
            # ...read-only is another selection (EXAMINE)...
            async with pool.mailbox(box_b, readonly=True) as ro:
                assert ro.mailbox is not None
                assert ro.mailbox.readonly
            # ...and a block that changes the selection is noticed.
            async with pool.mailbox(box_a) as c:
                await c.unselect()
            async with pool.mailbox(box_a) as c2:
                assert c2.mailbox is not None
                assert c2.mailbox.name == box_a
            # At the cap, an idle connection is re-selected rather than waited for.
            assert pool.stats.open == 2
            async with pool.mailbox("INBOX") as inbox:
                assert inbox in (first, second)
                assert inbox.mailbox is not None
                assert inbox.mailbox.name == "INBOX"
            async with pool.connection() as anyone:
                assert anyone in (first, second)
            assert counter.started == 2


async def test_waiters_are_served_in_order(dovecot: DovecotServer, counter: ConnectCounter) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        boxes = await make_mailboxes(dovecot, 3, messages=1)
        order: list[int] = []
        async with make_pool(dovecot, 1) as pool:
            async with anyio.create_task_group() as tg, pool.mailbox(boxes[0]) as held:

                async def borrow(i: int) -> None:
                    # Later waiters want the mailbox that is selected already:
                    # they still do not overtake the first one.
                    box = boxes[1] if i == 0 else boxes[0]
                    async with pool.mailbox(box) as client:
                        assert client is held
                        order.append(i)

                for i in range(4):
                    tg.start_soon(borrow, i)
                    while pool.stats.waiting < i + 1:  # noqa: ASYNC110
                        await anyio.sleep(0.01)
            assert order == [0, 1, 2, 3]
            assert counter.started == 1


async def _kick(dovecot: DovecotServer, user: str) -> None:
    doveadm = shutil.which("doveadm") or "/usr/bin/doveadm"
    assert dovecot.directory is not None
    await anyio.run_process(
        [doveadm, "-c", str(dovecot.directory / "dovecot.conf"), "kick", user],
        stdout=subprocess.DEVNULL,
    )


async def _wait_closed(clients: list[Client]) -> None:
    while not all(c.closed for c in clients):  # noqa: ASYNC110
        await anyio.sleep(0.02)


async def test_killed_connections_are_replaced(
    dovecot: DovecotServer, counter: ConnectCounter
) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        box_a, box_b = await make_mailboxes(dovecot, 2)
        async with make_pool(dovecot, 2) as pool:
            async with pool.mailbox(box_a) as a, pool.mailbox(box_b) as b:
                pass
            # The server kills both idle connections.
            await _kick(dovecot, USER)
            await _wait_closed([a, b])
            async with pool.mailbox(box_a) as a2, pool.mailbox(box_b) as b2:
                assert {id(a2), id(b2)}.isdisjoint({id(a), id(b)})
                assert len(await a2.fetch_all("1:*")) == 3
                assert len(await b2.fetch_all("1:*")) == 3
            assert pool.stats.discarded == 2
            assert pool.stats.open == 2
            # Killed while lent: the borrower sees ConnectionLostError (no group)...

            async def killed_while_lent() -> None:
                async with pool.mailbox(box_a) as lent:
                    assert lent is a2
                    await _kick(dovecot, USER)
                    await _wait_closed([lent])
                    await lent.noop()

            with pytest.raises(ConnectionLostError):
                await killed_while_lent()
            # ...and the next borrowers get working connections again.
            async with pool.mailbox(box_a) as a3:
                assert a3 is not a2
                assert len(await a3.fetch_all("1:*")) == 3
            async with pool.mailbox(box_b) as b3:
                assert b3.mailbox is not None
                assert b3.mailbox.name == box_b
                await b3.noop()
            stats = pool.stats
            assert stats.peak <= 2
            assert stats.opened == counter.started
        assert counter.max_open <= 2
        assert counter.open == 0


async def test_clean_shutdown_logs_out_everything(
    dovecot: DovecotServer, counter: ConnectCounter
) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        boxes = await make_mailboxes(dovecot, 3, messages=1)
        async with make_pool(dovecot, 3) as pool:
            async with anyio.create_task_group() as tg:
                for box in boxes:

                    async def use(box: str = box) -> None:
                        async with pool.mailbox(box) as client:
                            await client.noop()

                    tg.start_soon(use)
            assert pool.stats.open == 3
        assert pool.closed
        assert counter.started == 3
        assert counter.clean_exits == 3  # each connect() block left normally: LOGOUT
        assert counter.open == 0
        assert all(c.closed and c._conn.error is None for c in counter.clients)
        stats = pool.stats
        assert (stats.open, stats.opening, stats.in_use) == (0, 0, 0)
        with pytest.raises(pipeimap.UsageError):
            async with pool.mailbox("INBOX"):
                pass


async def test_errors_escape_unwrapped(dovecot: DovecotServer, counter: ConnectCounter) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        (box,) = await make_mailboxes(dovecot, 1, messages=1)

        # An error in the pool's block: the same exception, not an ExceptionGroup;
        # connections are closed at once.
        async def fail_inside() -> None:
            async with make_pool(dovecot, 2) as pool:
                async with pool.mailbox(box):
                    pass
                raise ValueError("boom")

        with pytest.raises(ValueError, match="boom"):
            await fail_inside()
        assert counter.open == 0
        assert all(c.closed for c in counter.clients)

        async with make_pool(dovecot, 1) as pool:
            # An error in a borrower's block passes through; the connection is kept.
            with pytest.raises(KeyError):
                async with pool.mailbox(box) as client:
                    raise KeyError("x")
            # A mailbox that does not exist: the server's NO, the connection kept.
            with pytest.raises(CommandNoError):
                async with pool.mailbox(unique("Missing")):
                    pass
            async with pool.mailbox(box) as again:
                assert again is client
            # Cancelled while waiting for a connection: nothing leaks.
            async with pool.mailbox(box):
                with anyio.move_on_after(0.2):
                    async with pool.mailbox(box):
                        pytest.fail("the only connection is lent")
            assert pool.stats.waiting == 0
            async with pool.mailbox(box) as again:
                assert again is client
            assert pool.stats.discarded == 0

        # Cancelling the whole pool from outside closes everything quietly.
        with anyio.move_on_after(0.5) as scope:
            async with make_pool(dovecot, 1) as pool, pool.mailbox(box):
                await anyio.sleep_forever()
        assert scope.cancelled_caught
        assert counter.open == 0


async def test_connect_failure_reaches_the_borrower() -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        with pytest.raises(InvalidArgumentError):
            ConnectionPool("localhost", max_connections=0)
        with pytest.raises(InvalidArgumentError):
            ConnectionPool("localhost", password="x")
        with anyio.CancelScope():
            listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
            port = listener.extra(anyio.abc.SocketAttribute.local_port)
            await listener.aclose()  # nothing listens there now
        async with ConnectionPool(
            "127.0.0.1", port, username="u", password="p", max_connections=1
        ) as pool:
            for _ in range(2):  # the failed place is freed: the second try fails the same way
                with pytest.raises(ConnectionLostError):
                    async with pool.mailbox("INBOX"):
                        pass
            assert pool.stats.open == pool.stats.opening == 0
            assert pool.stats.opened == 2


async def test_connection_options_reach_every_connection(
    dovecot: DovecotServer, counter: ConnectCounter
) -> None:
    """Options the pool takes (here the read timeout's rate floor and the
    pipeline depth) are the options of the connections it opens."""
    with anyio.fail_after(TEST_TIMEOUT):
        (box,) = await make_mailboxes(dovecot, 1)
        pool = make_pool(dovecot, 2, min_rate=5.0, pipeline_depth=7)
        async with pool, pool.mailbox(box, readonly=True) as lent:
            await lent.noop()
    (opened,) = counter.clients
    assert opened._conn.min_rate == 5.0
    assert opened._conn.sched.options.pipeline_depth == 7
