"""One ``.eml`` file per message, one directory per mailbox.

``Archive/2024`` is the directory ``Archive/2024/`` (each level encoded as for
Maildir folders), so a mailbox's messages are the ``*.eml`` files directly in
its directory.  Names come from :func:`~pipeimap.store.message_name`
(``<uidvalidity>_<uid>.eml``) for archives, else from the time and a random
part.  A message is written to a hidden temp file beside its final name,
fsynced, given the internal date as mtime, and hard-linked to its name -- which
fails if the name exists, so a second delivery of the same message writes
nothing -- then the temp name is unlinked.  Flags are not kept in the files:
the state DB holds them.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from ..errors import InvalidArgumentError
from ..protocol._types import Flag
from ._atomic import TEMP_MARKER, TempFile, TempFileWriter, unique_suffix
from ._common import (
    DeliverFromWriter,
    LocalKey,
    RecoveryReport,
    RewriteCommit,
    StoredMessage,
    decode_folder_component,
    encode_folder_component,
    from_timestamp,
    fsync_directory,
    normalize_flags,
    split_mailbox,
    to_timestamp,
)

__all__ = ["EmlStore", "EmlWriter"]


class EmlWriter(TempFileWriter):
    """Streams one message into its temp file; see :meth:`EmlStore.open_writer`."""


class EmlStore(DeliverFromWriter):
    """A tree of ``.eml`` files rooted at ``root``."""

    kind = "eml"

    def __init__(
        self, root: str | os.PathLike[str], *, separator: str = "/", fsync: bool = True
    ) -> None:
        self.root = Path(root)
        self.separator = separator
        self._fsync = fsync
        self._lock = threading.Lock()
        self._dirty: set[Path] = set()
        self.root.mkdir(parents=True, exist_ok=True)

    def folder_rel(self, mailbox: str) -> str:
        return "/".join(encode_folder_component(p) for p in split_mailbox(mailbox, self.separator))

    def folder_path(self, mailbox: str) -> Path:
        return self.root / self.folder_rel(mailbox)

    def mailboxes(self) -> list[str]:
        found = set()
        for p in self.root.rglob("*.eml"):
            rel = p.parent.relative_to(self.root).as_posix()
            if rel != ".":
                with suppress(ValueError):
                    found.add(self._mailbox_of_rel(rel))
        return sorted(found)

    def _mailbox_of_rel(self, rel: str) -> str:
        return self.separator.join(decode_folder_component(p) for p in rel.split("/"))

    def mailbox_of(self, key: LocalKey) -> str:
        rel, _, _ = str(key).rpartition("/")
        if not rel:
            raise KeyError(key)
        return self._mailbox_of_rel(rel)

    def _check_name(self, name: str) -> None:
        if not name or name.startswith(".") or "/" in name or "\x00" in name or TEMP_MARKER in name:
            raise InvalidArgumentError(f"not a valid message file name: {name!r}")

    @contextmanager
    def open_writer(
        self,
        mailbox: str,
        *,
        flags: Iterable[str] = (),
        internaldate: datetime | None = None,
        name: str | None = None,
    ) -> Iterator[EmlWriter]:
        """Stream a message into ``<mailbox dir>/<name>.eml`` (see the module docs).

        ``flags`` are validated and otherwise ignored (the state DB keeps them).
        If the block raises, the temp file is deleted and nothing is visible.
        """
        normalize_flags(flags)
        if name is not None:
            self._check_name(name)
        stem = name if name is not None else f"{int(time.time())}.{unique_suffix()}"
        rel = self.folder_rel(mailbox)
        directory = self.root / rel
        directory.mkdir(parents=True, exist_ok=True)
        with TempFile(directory, "." + stem, fsync=self._fsync) as temp:
            writer = EmlWriter(temp)
            yield writer
            temp.finish(to_timestamp(internaldate))
            final = directory / f"{stem}.eml"
            try:
                os.link(temp.path, final)
            except FileExistsError:
                pass  # already delivered under this name: keep the first copy
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                    raise
                # No hard links here (some FUSE/SMB mounts): check, then rename.
                with self._lock:
                    if not final.exists():
                        os.rename(temp.path, final)
            temp.discard()
            with self._lock:
                self._dirty.add(directory)
            writer._key = LocalKey(f"{rel}/{stem}.eml")

    def lookup(self, mailbox: str, name: str) -> LocalKey | None:
        rel = self.folder_rel(mailbox)
        return LocalKey(f"{rel}/{name}.eml") if (self.root / rel / f"{name}.eml").exists() else None

    def flush(self) -> None:
        with self._lock:
            dirty, self._dirty = self._dirty, set()
        if self._fsync:
            for d in sorted(dirty):
                fsync_directory(d)

    def markers(self, mailboxes: Iterable[str] | None = None) -> dict[str, int]:
        """No commit markers (see MaildirStore.markers)."""
        return {}

    def path_of(self, key: LocalKey) -> Path:
        rel = str(key)
        if not rel.endswith(".eml") or rel.startswith("/") or ".." in rel.split("/"):
            raise KeyError(key)
        return self.root / rel

    def open(self, key: LocalKey) -> BinaryIO:
        try:
            return self.path_of(key).open("rb")
        except FileNotFoundError:
            raise KeyError(key) from None

    def read(self, key: LocalKey) -> bytes:
        with self.open(key) as f:
            return f.read()

    def flags_of(self, key: LocalKey) -> frozenset[Flag]:
        """Always empty: .eml files keep no flags (the state DB does)."""
        if not self.path_of(key).exists():
            raise KeyError(key)
        return frozenset()

    def representable(self, flags: Iterable[str]) -> frozenset[Flag]:
        normalize_flags(flags)
        return frozenset()

    def set_flags(
        self, key: LocalKey, flags: Iterable[str], *, commit: RewriteCommit | None = None
    ) -> dict[LocalKey, LocalKey]:
        """Nothing to change on disk (the state DB keeps the flags); ``commit({})``
        runs at once if given."""
        normalize_flags(flags)
        if commit is not None:
            commit({})
        return {}

    def remove(
        self, keys: Iterable[LocalKey], *, commit: RewriteCommit | None = None
    ) -> dict[LocalKey, LocalKey]:
        """Delete messages (a key already gone is not an error); ``commit({})``, if
        given, runs once the unlinks are durable: files first, rows next."""
        for key in keys:
            path = self.path_of(key)
            with suppress(FileNotFoundError):
                path.unlink()
                with self._lock:
                    self._dirty.add(path.parent)
        if commit is not None:
            self.flush()
            commit({})
        return {}

    def iter_messages(self, mailbox: str) -> Iterator[StoredMessage]:
        rel = self.folder_rel(mailbox)
        directory = self.root / rel
        try:
            names = sorted(n for n in os.listdir(directory) if n.endswith(".eml"))
        except FileNotFoundError:
            return
        for n in names:
            if n.startswith("."):
                continue
            try:
                st = (directory / n).stat()
            except FileNotFoundError:
                continue
            key = LocalKey(f"{rel}/{n}")
            yield StoredMessage(key, mailbox, frozenset(), from_timestamp(st.st_mtime), st.st_size)

    def recover(self, committed: Mapping[str, int] | None = None) -> RecoveryReport:
        """Delete the temp files of interrupted deliveries."""
        removed = []
        for p in sorted(self.root.rglob(f".*{TEMP_MARKER}*")):
            if p.is_file():
                p.unlink()
                removed.append(p)
        return RecoveryReport(removed_temp_files=tuple(removed))
