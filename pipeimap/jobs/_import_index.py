"""What the target mailbox already holds, by content, for the import's duplicate check.

Theory of operation: a message counts as "already there" when the mailbox holds
one with the same Message-ID *and* the same size (``RFC822.SIZE``), or -- for a
message without a Message-ID -- the same size and the same SHA-256 of its bytes.
The index is filled once per attempt with one streamed ``UID FETCH n:* (RFC822.SIZE
BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])``; a retry after a throttle or a dropped
connection fetches only the UIDs above the highest one it saw (the same
UIDVALIDITY), so a retry costs little however big the mailbox is.  Bodies are
fetched (and hashed) only for server messages without a Message-ID whose size
equals that of a source message without one.

The same index answers both questions the import asks: "is this source message
already in the mailbox?" and, for a journal row left ``pending`` by a killed run,
"did that APPEND reach the server before the kill?".  One pipelined FETCH of
every Message-ID is cheaper than one ``UID SEARCH HEADER Message-ID`` per
message, and exact where SEARCH HEADER is a substring match.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Final

from ..client import Client, FetchedMessage
from ..protocol._types import UID
from ..store import SourceMessage

__all__ = ["ContentIndex", "content_key", "parse_message_id"]

_MSGID_ITEM: Final = "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"
_MSGID_SECTION: Final = "HEADER.FIELDS (MESSAGE-ID)"
_HASH_BATCH: Final = 64  # bodies per UID FETCH when hashing

ContentKey = tuple[str, int, str]


def content_key(message_id: str | None, size: int, sha256: str) -> ContentKey:
    """``("m", size, message_id)`` or, without a Message-ID, ``("h", size, sha256)``."""
    if message_id is not None:
        return ("m", size, message_id)
    return ("h", size, sha256)


def parse_message_id(header: bytes | None) -> str | None:
    """The first Message-ID field of a ``HEADER.FIELDS (MESSAGE-ID)`` answer,
    unfolded and whitespace-collapsed exactly as :mod:`pipeimap.store` does for
    the source side, so that the two compare equal."""
    if not header:
        return None
    lines = header.replace(b"\r\n", b"\n").split(b"\n")
    value: list[bytes] | None = None
    for line in lines:
        if value is not None:
            if line[:1] in (b" ", b"\t"):
                value.append(line)
                continue
            break
        name, colon, rest = line.partition(b":")
        if colon and name.strip().lower() == b"message-id":
            value = [rest]
    if value is None:
        return None
    text = b" ".join(b" ".join(value).split()).decode("utf-8", "replace").strip()
    return text or None


class ContentIndex:
    """Content keys of the target mailbox's messages, plus the keys of messages
    this attempt has scheduled for APPEND (so a duplicate *within* the source is
    appended once)."""

    def __init__(self) -> None:
        self.uidvalidity: int | None = None
        self._next_uid = 1
        self._server: dict[ContentKey, UID] = {}
        self._unhashed: dict[int, list[UID]] = {}  # size -> UIDs without Message-ID
        self._scheduled: set[ContentKey] = set()

    def __len__(self) -> int:
        return len(self._server)

    async def refresh(self, client: Client, uidvalidity: int | None, exists: int) -> None:
        """Bring the index up to date with the mailbox ``client`` has selected."""
        if uidvalidity is None or uidvalidity != self.uidvalidity:
            self.uidvalidity = uidvalidity
            self._next_uid = 1
            self._server.clear()
            self._unhashed.clear()
        self._scheduled.clear()  # what a failed attempt scheduled is on the server or not
        if exists == 0:
            return
        async with client.fetch(f"{self._next_uid}:*", ["RFC822.SIZE", _MSGID_ITEM]) as msgs:
            async for m in msgs:
                self._add_fetched(m)

    def _add_fetched(self, m: FetchedMessage) -> None:
        # "n:*" also returns the highest UID when it is below n (RFC 9051 section 6.4.8).
        if m.uid is None or m.uid < self._next_uid or m.size is None:
            return
        self._next_uid = max(self._next_uid, m.uid + 1)
        try:
            header = m.body(_MSGID_SECTION)
        except KeyError:
            header = None
        msgid = parse_message_id(header)
        if msgid is None:
            self._unhashed.setdefault(m.size, []).append(m.uid)
        else:
            self._server.setdefault(("m", m.size, msgid), m.uid)

    async def hash_candidates(self, client: Client, messages: Iterable[SourceMessage]) -> None:
        """Fetch and hash the server messages without a Message-ID whose size
        matches one of ``messages`` without a Message-ID (once per UID)."""
        sizes = {m.size for m in messages if m.message_id is None}
        uids = sorted(u for size in sizes for u in self._unhashed.get(size, ()))
        for i in range(0, len(uids), _HASH_BATCH):
            batch = uids[i : i + _HASH_BATCH]
            await self._hash(client, batch)
            # Forgotten only once hashed: if the FETCH fails (a dropped connection),
            # the next attempt -- whose refresh() fetches only newer UIDs -- must
            # still hash them, or their source messages would be appended again.
            self._hashed(batch)

    def _hashed(self, uids: list[UID]) -> None:
        done = set(uids)
        for size in [s for s, found in self._unhashed.items() if done.intersection(found)]:
            left = [u for u in self._unhashed[size] if u not in done]
            if left:
                self._unhashed[size] = left
            else:
                del self._unhashed[size]

    async def _hash(self, client: Client, uids: list[UID]) -> None:
        for m in await client.uid_fetch(uids, ["BODY.PEEK[]"]):
            data = m.body("")
            if m.uid is None or data is None:
                continue
            digest = hashlib.sha256(data).hexdigest()
            self._server.setdefault(("h", len(data), digest), m.uid)

    def on_server(self, m: SourceMessage) -> UID | None:
        """The UID of a server message with ``m``'s content, if any."""
        return self._server.get(content_key(m.message_id, m.size, m.sha256))

    def scheduled(self, m: SourceMessage) -> bool:
        return content_key(m.message_id, m.size, m.sha256) in self._scheduled

    def schedule(self, m: SourceMessage) -> None:
        self._scheduled.add(content_key(m.message_id, m.size, m.sha256))

    def appended(self, m: SourceMessage, uid: UID | None) -> None:
        """``m`` is on the server now (under ``uid`` when the server said)."""
        if uid is not None:
            self._server.setdefault(content_key(m.message_id, m.size, m.sha256), uid)
