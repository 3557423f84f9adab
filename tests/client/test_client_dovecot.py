"""Every Client method against the real Dovecot (Trio and asyncio)."""

from __future__ import annotations

import datetime
import hashlib

import anyio
import anyio.lowlevel
import pytest

from pipeimap import (
    CommandNoError,
    ConflictError,
    ConnectionLostError,
    Flag,
    InvalidArgumentError,
    ModSeq,
    SeqSet,
    UIDSet,
)
from pipeimap.protocol import Noop, QResync, ThreadNode
from pipeimap.protocol import search as S
from pipeimap.testing import DovecotServer

from ._helpers import TEST_TIMEOUT, connect_user, message, populate, unique

pytestmark = pytest.mark.anyio


async def test_mailbox_commands(dovecot: DovecotServer) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with connect_user(dovecot) as client:
            assert client.is_tls
            assert client.is_compressed
            assert "IMAP4REV1" in await client.capability()
            await client.noop()
            name = unique("Box")
            await client.create(name)
            await client.create(f"{name}/child")
            infos = {i.name: i for i in await client.list(pattern=f"{name}*", status=["MESSAGES"])}
            assert set(infos) == {name, f"{name}/child"}
            assert infos[name].delimiter == "/"
            status0 = infos[name].status
            assert status0 is not None
            assert status0.messages == 0
            assert infos[name].has_children is True
            specials = {i.special_use for i in await client.list()}
            assert {"\\Sent", "\\Trash", "\\Drafts"} <= specials
            several = await client.list(pattern=[name, "INBOX"])
            assert {i.name for i in several} == {name, "INBOX"}

            await client.subscribe(name)
            subscribed = {i.name for i in await client.list(pattern=f"{name}*", subscribed=True)}
            assert subscribed == {name}
            await client.unsubscribe(name)
            assert await client.list(pattern=f"{name}*", subscribed=True) == []

            status = await client.status(name, ["MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN"])
            assert (status.messages, status.uidnext, status.unseen) == (0, 1, 0)
            assert status.uidvalidity is not None

            renamed = unique("Renamed")
            await client.rename(name, renamed)
            names = {i.name for i in await client.list()}
            assert renamed in names
            assert name not in names
            await client.delete(f"{renamed}/child")
            await client.delete(renamed)
            with pytest.raises(CommandNoError) as info:
                await client.delete(renamed)
            assert info.value.command == "DELETE"

            ns = await client.namespace()
            assert ns.personal is not None
            assert ns.personal[0].delimiter == "/"
            server_id = await client.id({"name": "pipeimap-tests"})
            assert server_id is not None
            assert server_id.get("name") == "Dovecot"
            assert await client.enable("CONDSTORE") == frozenset({"CONDSTORE"})
            assert "CONDSTORE" in client.enabled


async def test_append_select_fetch(dovecot: DovecotServer) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with connect_user(dovecot) as client:
            box = unique("Fetch")
            await client.create(box)
            date = datetime.datetime(2020, 5, 17, 10, 30, tzinfo=datetime.timezone.utc)
            one = await client.append(box, message(1), flags=["\\Flagged", "$Label"], date=date)
            assert one.uid_list == (1,)
            assert one.uidvalidity is not None
            many = await client.append_many(box, [message(i) for i in range(2, 12)])
            assert many.uid_list == tuple(range(2, 12))

            sel = await client.select(box)
            assert (sel.mailbox, sel.exists, sel.readonly, sel.uidnext) == (box, 11, False, 12)
            assert sel.uidvalidity == one.uidvalidity
            assert Flag("\\Seen") in sel.flags
            assert Flag("\\*") in sel.permanent_flags
            await client.check()
            view = client.mailbox
            assert view is not None
            assert view.name == box
            assert view.exists == 11

            async with client.fetch(range(1, 12), ["FLAGS", "ENVELOPE", "INTERNALDATE"]) as msgs:
                got = [m async for m in msgs]
            assert [m.uid for m in got] == list(range(1, 12))
            first = got[0]
            assert first.envelope is not None
            assert first.envelope.subject == "message 1"
            assert first.flags is not None
            assert Flag("\\Flagged") in first.flags
            assert "$Label" in first.flags
            assert first.internaldate == date

            full = await client.fetch_all([3, 5], ["BODY.PEEK[]", "RFC822.SIZE", "BODYSTRUCTURE"])
            assert [m.uid for m in full] == [3, 5]
            assert full[0].body() == message(3)
            assert full[0].size == len(message(3))
            assert full[0].bodystructure is not None
            headers = await client.fetch_all(4, ["BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)]"])
            assert headers[0].body("HEADER.FIELDS (SUBJECT FROM)") == (
                b"From: sender4@example.org\r\nSubject: message 4\r\n\r\n"
            )
            partial = await client.fetch_all("6", ["BODY.PEEK[TEXT]<0.4>"])
            assert partial[0].body("BODY[TEXT]<0>") == b"body"
            # Sequence numbers: a SeqSet; the UID comes with every message anyway.
            by_seq = await client.fetch_all(SeqSet(range(2, 4)), "FAST")
            assert [(int(m.seq), m.uid) for m in by_seq] == [(2, 2), (3, 3)]
            assert await client.uid_fetch([], ["FLAGS"]) == []
            assert await client.fetch_all("1:*", "UID") != []

            with pytest.raises(InvalidArgumentError):
                await client.fetch_all(1, ["NOT AN ITEM"])
            # Examine: read-only, and a non-PEEK body fetch sets no \Seen.
            ro = await client.examine(box)
            assert ro.readonly
            await client.fetch_all(7, ["BODY[]"])
            (m7,) = await client.fetch_all(7, ["FLAGS"])
            assert m7.flags is not None
            assert Flag("\\Seen") not in m7.flags
            await client.unselect()
            assert client.mailbox is None


async def test_search_sort_thread(dovecot: DovecotServer) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with connect_user(dovecot) as client:
            box = unique("Search")
            await client.create(box)
            subjects = ["pear", "apple", "Re: apple", "banana"]
            await client.append_many(box, [message(i, subject=s) for i, s in enumerate(subjects)])
            await client.select(box)
            await client.store([2, 4], "\\Flagged")

            flagged = await client.search(S.FLAGGED)
            assert flagged.all == UIDSet([2, 4])
            assert list(flagged) == [2, 4]
            assert len(flagged) == 2
            assert 2 in flagged
            assert 3 not in flagged
            nothing = await client.search(S.subject("no such subject"))
            assert not nothing
            assert nothing.all is None
            assert list(nothing) == []
            counted = await client.search(S.ALL, return_options=["COUNT", "MIN", "MAX"])
            assert (counted.count, counted.min, counted.max) == (4, 1, 4)
            seqs = await client.search(S.UNFLAGGED, uid=False)
            assert seqs.all == SeqSet([1, 3])
            assert not seqs.uid
            assert await client.fetch_all(nothing, ["FLAGS"]) == []

            assert await client.sort(["SUBJECT"]) == (2, 3, 4, 1)
            assert await client.sort(["REVERSE SUBJECT"], S.UNFLAGGED) == (1, 3)
            threads = await client.thread("REFERENCES")
            assert all(isinstance(t, ThreadNode) for t in threads)
            assert len(threads) >= 3


async def test_store_copy_move_expunge(dovecot: DovecotServer) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with connect_user(dovecot) as client:
            box, other = unique("Store"), unique("Dest")
            uids = await populate(client, box, 6)
            await client.create(other)
            await client.select(box)

            silent = await client.store(uids[:2], ["\\Seen", "$Done"])
            assert silent.messages == ()
            assert silent.modified is None
            loud = await client.store(1, "$Done", action="remove", silent=False)
            assert [m.uid for m in loud.messages] == [1]
            assert loud.messages[0].flags is not None
            assert "$Done" not in loud.messages[0].flags
            await client.set_flags(3, ["\\Answered"])
            await client.add_flags(3, "\\Draft")
            await client.remove_flags(3, "\\Answered")
            (m3,) = await client.fetch_all(3, ["FLAGS"])
            assert set(m3.flags or ()) - {"\\Recent"} == {"\\Draft"}

            copied = await client.copy([1, 2], other)
            assert copied is not None
            assert copied.source_uids == (1, 2)
            assert copied.dest_uids == (1, 2)
            moved = await client.move([5], other)
            assert moved is not None
            assert moved.mapping == ((5, 3),)
            view = client.mailbox
            assert view is not None
            assert view.exists == 5
            assert (await client.status(other, ["MESSAGES"])).messages == 3

            await client.store([1, 2, 3], "\\Deleted")
            await client.uid_expunge([1])
            assert [m.uid for m in await client.fetch_all("1:*", ["UID"])] == [2, 3, 4, 6]
            await client.expunge()
            assert [m.uid for m in await client.fetch_all("1:*", ["UID"])] == [4, 6]
            await client.store(4, "\\Deleted")
            await client.close_mailbox()
            assert client.mailbox is None
            assert (await client.status(box, ["MESSAGES"])).messages == 1


async def test_condstore_and_qresync(dovecot: DovecotServer) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with connect_user(dovecot) as client:
            box = unique("Cond")
            await populate(client, box, 5)
            sel = await client.select(box, condstore=True)
            assert sel.highestmodseq is not None
            assert not sel.nomodseq
            base = int(sel.highestmodseq)
            await client.store([2, 3], "\\Flagged")
            changed = await client.fetch_all("1:*", ["FLAGS", "MODSEQ"], changed_since=base)
            assert [m.uid for m in changed] == [2, 3]
            assert all(m.modseq is not None and m.modseq > base for m in changed)
            # UNCHANGEDSINCE: message 2 changed after `base`, message 1 did not.
            result = await client.store([1, 2], "\\Seen", unchanged_since=base)
            assert result.modified == UIDSet(2)
            uidvalidity = sel.uidvalidity
            assert uidvalidity is not None
            await client.store(4, "\\Deleted")
            await client.uid_expunge(4)
            await client.unselect()

            # QRESYNC: the server reports what vanished and what changed since `base`.
            q = await client.select(
                box, qresync=QResync(uidvalidity, ModSeq(base), UIDSet.parse("1:5"))
            )
            assert "QRESYNC" in client.enabled
            assert q.vanished == UIDSet(4)
            assert {m.uid for m in q.changed} == {1, 2, 3}
            assert all(m.modseq is not None for m in q.changed)
            since = await client.fetch_all("1:*", ["FLAGS"], changed_since=base, vanished=True)
            assert {m.uid for m in since} == {1, 2, 3}
            async with client.fetch("1:*", ["FLAGS"], changed_since=base, vanished=True) as msgs:
                _ = [m async for m in msgs]
            assert msgs.vanished == UIDSet(4)


async def test_stream_bodies_bounded(dovecot: DovecotServer) -> None:
    from pipeimap.protocol import ParserLimits

    big = (b"0123456789abcdef" * 64 + b"\r\n") * 3000  # ~3 MB
    with anyio.fail_after(TEST_TIMEOUT):
        async with connect_user(
            dovecot, parser_limits=ParserLimits(stream_threshold=64 * 1024)
        ) as client:
            box = unique("Stream")
            await client.create(box)
            await client.append_many(box, [message(1, body=big), message(2), message(3, body=big)])
            await client.select(box)
            chunks_per_uid: dict[int, int] = {}
            hashes: dict[int, hashlib._Hash] = {}
            async with client.stream_bodies([1, 2, 3], budget=256 * 1024) as parts:
                async for chunk in parts:
                    assert chunk.uid is not None
                    uid = int(chunk.uid)
                    hashes.setdefault(uid, hashlib.sha256()).update(chunk.data)
                    chunks_per_uid[uid] = chunks_per_uid.get(uid, 0) + 1
                    await anyio.lowlevel.checkpoint()  # a consumer slower than the network
            for uid, i in ((1, 1), (2, 2), (3, 3)):
                expected = message(i, body=big) if i != 2 else message(2)
                assert hashes[uid].digest() == hashlib.sha256(expected).digest()
            assert chunks_per_uid[1] > 10
            assert chunks_per_uid[2] == 1

            class Sink:
                def __init__(self) -> None:
                    self.data = bytearray()
                    self.closed = False

                async def write(self, data: bytes) -> None:
                    self.data += data

                def close(self) -> None:
                    self.closed = True

            sinks: dict[int, Sink] = {}

            def factory(uid: int) -> Sink:
                sinks[uid] = Sink()
                return sinks[uid]

            sizes = await client.fetch_bodies("1:*", factory)
            assert sizes == {
                1: len(message(1, body=big)),
                2: len(message(2)),
                3: len(message(3, body=big)),
            }
            assert all(s.closed for s in sinks.values())
            assert bytes(sinks[3].data) == message(3, body=big)
            # The header only, streamed the same way.
            async with client.stream_bodies(2, "HEADER") as parts:
                (header,) = [c async for c in parts]
            assert header.last
            assert header.data.startswith(b"From: sender2")
            # And whole messages assembled by fetch_all even when streamed underneath.
            (whole,) = await client.fetch_all(3, ["BODY.PEEK[]"])
            assert whole.body() == message(3, body=big)


async def test_batch(dovecot: DovecotServer) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with connect_user(dovecot) as client:
            box = unique("Batch")
            await populate(client, box, 4)
            async with client.batch() as b:
                sel = b.select(box)
                fetched = b.fetch([1, 2], ["FLAGS"])
                stored = b.store(3, "\\Flagged")
                found = b.search(S.ALL)
                b.noop()
            assert sel.value.exists == 4
            assert [m.uid for m in fetched.value] == [1, 2]
            assert stored.value.modified is None
            assert found.value.count == 4

            writes = client.stats.writes
            with pytest.raises(ConflictError) as info:  # noqa: PT012 - the batch is the call
                async with client.batch() as b:
                    b.fetch(5, ["FLAGS"])
                    b.store(5, "\\Seen")
            assert "R4" in str(info.value) or info.value.rule
            assert "FETCH" in str(info.value)
            assert "STORE" in str(info.value)
            assert client.stats.writes == writes  # rejected before any byte was written

            failing = None
            with pytest.raises(CommandNoError):  # noqa: PT012
                async with client.batch() as b:
                    failing = b.status(unique("Missing"))
                    ok = b.noop()
            assert failing is not None
            assert isinstance(failing.error, CommandNoError)
            assert ok.value is None
            async with client.batch() as b:
                raw = b.command(Noop())
            assert raw.value[0].tagged.status == "OK"


async def test_logout_then_closed(dovecot: DovecotServer) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with connect_user(dovecot, compress=False) as client:
            assert not client.is_compressed
            await client.logout()
            assert client.closed
            with pytest.raises(ConnectionLostError):
                await client.noop()
