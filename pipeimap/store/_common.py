"""Types and helpers shared by the three message stores.

Every store is synchronous, plain file I/O: the jobs call it from worker threads
(``anyio.to_thread.run_sync``) so that disk writes overlap the network.  The
stores are safe to call from several threads at once (each holds a lock around
the few steps that must not interleave), but a store directory is meant to have
one pipeimap job writing to it at a time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, NewType, Protocol, TypeAlias

from ..errors import InvalidArgumentError
from ..protocol._mutf7 import decode_mutf7, encode_mutf7
from ..protocol._types import Flag

__all__ = [
    "FORWARDED",
    "ChunkSource",
    "LocalKey",
    "MessageStore",
    "MessageWriter",
    "RecoveryReport",
    "RewriteCommit",
    "StoredMessage",
    "decode_folder_component",
    "encode_folder_component",
    "fsync_directory",
    "iter_chunks",
    "message_name",
    "normalize_flags",
    "split_mailbox",
]

LocalKey = NewType("LocalKey", str)
"""Where a message lives in a store, as text (stored in the state DB as is).

Maildir: ``"<folder dir>/<unique name>"`` (``"./..."`` for INBOX; flags are not
part of the key, so :meth:`~MessageStore.set_flags` keeps it);
mbox: ``"<file>:<offset of the From_ line>"``; .eml: ``"<relative path>"``.
"""

RewriteCommit: TypeAlias = Callable[[dict[LocalKey, LocalKey]], object]
"""The ``commit`` callable of :meth:`MessageStore.remove` and :meth:`~MessageStore.set_flags`.

It gets the old -> new keys (empty unless an mbox rewrite moved messages) and
runs the caller's state-DB transaction (drop rows, ``rekey``, save
``markers()``).  The store calls it exactly once, after its own files are
durable and -- for an mbox rewrite -- *before* the rename that makes the new
file visible; ``recover`` finishes that rename after a kill if the transaction
committed.  It must raise only if its transaction rolled back: the store then
discards the rewrite and nothing has changed.
"""

#: Bytes, a binary file object (anything with ``read``), or an iterable of chunks.
ChunkSource: TypeAlias = bytes | bytearray | memoryview | BinaryIO | Iterable[bytes]

FORWARDED = Flag("$Forwarded")
_UNSTORABLE = {Flag.RECENT, Flag.WILDCARD}  # session state / PERMANENTFLAGS only
_CHUNK = 1 << 16


def normalize_flags(flags: Iterable[str]) -> frozenset[Flag]:
    """Validate flags into a set of :class:`~pipeimap.Flag`.

    ``\\Recent`` (session state, RFC 9051 section 2.3.2) and ``\\*`` cannot be
    stored and are dropped.
    """
    if isinstance(flags, str):
        raise InvalidArgumentError("flags must be an iterable of flags, not one string")
    out = {Flag(f) for f in flags}
    return frozenset(out - _UNSTORABLE)


def message_name(uidvalidity: int, uid: int) -> str:
    """The deterministic file name stem of a message for archives and mirrors.

    A UID never names another message while UIDVALIDITY stays (RFC 9051
    section 2.3.1.1), so delivering under this name twice is idempotent: the
    second delivery finds the first one and writes nothing.
    """
    if uidvalidity <= 0 or uid <= 0:
        raise InvalidArgumentError("uidvalidity and uid must be positive")
    return f"{uidvalidity}_{uid}"


def to_timestamp(internaldate: datetime | None) -> float | None:
    """POSIX time of an internal date; a naive datetime is taken as UTC."""
    if internaldate is None:
        return None
    if internaldate.tzinfo is None:
        internaldate = internaldate.replace(tzinfo=timezone.utc)
    return internaldate.timestamp()


def from_timestamp(ts: float) -> datetime:
    return datetime.fromtimestamp(int(ts), tz=timezone.utc)


def iter_chunks(data: ChunkSource) -> Iterator[bytes]:
    """Yield ``data`` as byte chunks without loading a file object whole."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        yield bytes(data)
        return
    read = getattr(data, "read", None)
    if read is not None:
        while chunk := read(_CHUNK):
            yield bytes(chunk)
        return
    for chunk in data:
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise InvalidArgumentError(f"message chunks must be bytes, not {type(chunk).__name__}")
        yield bytes(chunk)


def fsync_directory(path: Path) -> None:
    """Make a rename or unlink in ``path`` durable (POSIX; a no-op elsewhere)."""
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- mailbox names on disk ------------------------------------------------------------
#
# Mailbox names are Unicode.  On disk every hierarchy component is written in
# modified UTF-7 (RFC 3501 section 5.1.3) -- pure printable ASCII, so no file
# system can normalise or mangle it (macOS rewrites Unicode names to NFD) and the
# folders read like those of Dovecot and Courier -- and then the three characters
# that mean something to the layouts are percent-escaped: "." (the Maildir++
# hierarchy separator), "/" and "%" itself.

_ESCAPES = {"%": "%25", ".": "%2E", "/": "%2F"}
_UNESCAPE_RE = re.compile(r"%(25|2E|2F)")
_BAD_ESCAPE_RE = re.compile(r"%(?!25|2E|2F)")


def encode_folder_component(name: str) -> str:
    if not name:
        raise InvalidArgumentError("a mailbox name component cannot be empty")
    if "\x00" in name:
        raise InvalidArgumentError("a mailbox name cannot contain NUL")
    text = encode_mutf7(name).decode("ascii")
    return "".join(_ESCAPES.get(ch, ch) for ch in text)


def decode_folder_component(text: str) -> str:
    """Inverse of :func:`encode_folder_component`; ``ValueError`` if not one of ours."""
    if _BAD_ESCAPE_RE.search(text):
        raise ValueError(f"bad escape in folder name {text!r}")
    raw = _UNESCAPE_RE.sub(lambda m: chr(int(m.group(1), 16)), text)
    return decode_mutf7(raw.encode("ascii"))


def split_mailbox(mailbox: str, separator: str) -> list[str]:
    """Split a mailbox name at ``separator``; ``INBOX`` in any case becomes ``INBOX``."""
    if not isinstance(mailbox, str) or not mailbox:
        raise InvalidArgumentError("a mailbox name must be a non-empty str")
    parts = mailbox.split(separator) if separator else [mailbox]
    if any(not p for p in parts):
        raise InvalidArgumentError(f"empty hierarchy level in mailbox name {mailbox!r}")
    if parts[0].upper() == "INBOX":
        parts[0] = "INBOX"
    return parts


# --- what the jobs see ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One message found in a store.

    ``flags`` are those the store itself keeps (see
    :meth:`MessageStore.representable`); ``internaldate`` comes from the file's
    mtime (Maildir, .eml) or the ``From_`` line (mbox); ``size`` is the size of the
    message as delivered.
    """

    key: LocalKey
    mailbox: str
    flags: frozenset[Flag]
    internaldate: datetime | None
    size: int


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What :meth:`MessageStore.recover` cleaned up."""

    removed_temp_files: tuple[Path, ...] = ()
    #: mbox file -> number of bytes cut off its torn tail.
    truncated: Mapping[str, int] = field(default_factory=dict)
    #: human-readable notes on things recover() found but left alone.
    warnings: tuple[str, ...] = ()
    #: mbox files whose committed rewrite a killed run had not renamed yet (renamed now).
    completed_rewrites: tuple[str, ...] = ()


class MessageWriter(Protocol):
    """What :meth:`MessageStore.open_writer` yields: write chunks, then leave the
    ``with`` block; ``key`` is set once the message is committed."""

    @property
    def key(self) -> LocalKey: ...

    @property
    def size(self) -> int: ...

    def write(self, chunk: bytes) -> None: ...


class DeliverFromWriter:
    """Base of the stores: :meth:`deliver` written once, on top of each store's
    :meth:`open_writer` (which holds all the format's logic)."""

    def open_writer(
        self,
        mailbox: str,
        *,
        flags: Iterable[str] = (),
        internaldate: datetime | None = None,
        name: str | None = None,
    ) -> AbstractContextManager[MessageWriter]:
        raise NotImplementedError

    def deliver(
        self,
        mailbox: str,
        data: ChunkSource,
        *,
        flags: Iterable[str] = (),
        internaldate: datetime | None = None,
        name: str | None = None,
    ) -> LocalKey:
        """Write a whole message (bytes, a binary file or an iterable of chunks)."""
        with self.open_writer(mailbox, flags=flags, internaldate=internaldate, name=name) as w:
            for chunk in iter_chunks(data):
                w.write(chunk)
        return w.key


class MessageStore(Protocol):
    """The interface the archive and sync jobs use, whatever the format.

    Crash-safety contract: ``deliver``/``open_writer`` make the message durable
    (data fsynced) before returning; :meth:`flush` makes the directory entries
    durable.  Jobs call ``flush()`` before committing the state-DB transaction
    that records the keys, so the DB never names a message the disk lost.

    ``remove`` and ``set_flags`` take an optional ``commit`` (a
    :data:`RewriteCommit`): pass the state transaction that goes with the change
    there rather than running it afterwards, so that an mbox rewrite and the
    re-keyed rows can never disagree after a kill.
    """

    kind: str

    def deliver(
        self,
        mailbox: str,
        data: ChunkSource,
        *,
        flags: Iterable[str] = (),
        internaldate: datetime | None = None,
        name: str | None = None,
    ) -> LocalKey: ...

    def open_writer(
        self,
        mailbox: str,
        *,
        flags: Iterable[str] = (),
        internaldate: datetime | None = None,
        name: str | None = None,
    ) -> AbstractContextManager[MessageWriter]: ...

    def lookup(self, mailbox: str, name: str) -> LocalKey | None: ...

    def set_flags(
        self, key: LocalKey, flags: Iterable[str], *, commit: RewriteCommit | None = None
    ) -> dict[LocalKey, LocalKey]: ...

    def flags_of(self, key: LocalKey) -> frozenset[Flag]: ...

    def representable(self, flags: Iterable[str]) -> frozenset[Flag]: ...

    def remove(
        self, keys: Iterable[LocalKey], *, commit: RewriteCommit | None = None
    ) -> dict[LocalKey, LocalKey]: ...

    def read(self, key: LocalKey) -> bytes: ...

    def iter_messages(self, mailbox: str) -> Iterator[StoredMessage]: ...

    def mailboxes(self) -> list[str]: ...

    def mailbox_of(self, key: LocalKey) -> str: ...

    def recover(self, committed: Mapping[str, int] | None = None) -> RecoveryReport: ...

    def markers(self, mailboxes: Iterable[str] | None = None) -> dict[str, int]: ...

    def flush(self) -> None: ...
