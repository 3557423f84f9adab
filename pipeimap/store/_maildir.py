"""Maildir++ store: one folder per IMAP mailbox, one file per message.

Layout (Maildir++, as Courier and Dovecot use it): the root folder is ``INBOX``;
every other mailbox is a dot-folder beside it, its hierarchy levels joined with
``.`` (``Archive/2024`` -> ``.Archive.2024``), each level in modified UTF-7 with
``.``, ``/`` and ``%`` percent-escaped.  ``INBOX/Sub`` is ``.INBOX.Sub``.

Messages are written to ``tmp/``, fsynced, given the internal date as mtime and
renamed into ``cur/<name>:2,<flags>``.  The flag letters (D F P R S T) are the
Maildir ones; keywords other than ``$Forwarded`` cannot be written in a file
name, so they live in the state DB only (:meth:`MaildirStore.representable`).

A key is ``"<folder dir>/<name>"`` -- the unique name without the ``:2,`` info
-- so it survives flag changes made by pipeimap or by a mail client.  Each store
keeps an index name -> file per folder, refreshed from disk by :meth:`scan` and
whenever a file is not where the index says.
"""

from __future__ import annotations

import os
import platform
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Final

from ..errors import InvalidArgumentError
from ..protocol._types import Flag
from ._atomic import TEMP_MARKER, TempFile, TempFileWriter, unique_suffix
from ._common import (
    FORWARDED,
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

__all__ = ["MaildirStore", "MaildirWriter", "flags_from_info", "info_from_flags"]

_LETTERS: Final = {
    "D": Flag.DRAFT,
    "F": Flag.FLAGGED,
    "P": FORWARDED,
    "R": Flag.ANSWERED,
    "S": Flag.SEEN,
    "T": Flag.DELETED,
}
_FLAG_LETTER: Final = {str(flag).lower(): letter for letter, flag in _LETTERS.items()}
_STALE_FOREIGN_TMP: Final = 36 * 3600  # the Maildir spec's limit for other writers' tmp files
_ROOT: Final = "."


def flags_from_info(letters: str) -> frozenset[Flag]:
    """Maildir info letters -> flags (unknown letters, e.g. Dovecot keywords, ignored)."""
    return frozenset(_LETTERS[c] for c in letters if c in _LETTERS)


def info_from_flags(flags: Iterable[str], keep: str = "") -> str:
    """Flags -> sorted Maildir info letters; ``keep`` holds letters to preserve
    (ones pipeimap does not interpret, such as Dovecot's keyword letters)."""
    letters = {_FLAG_LETTER[f.lower()] for f in flags if f.lower() in _FLAG_LETTER}
    letters.update(c for c in keep if c not in _LETTERS)
    return "".join(sorted(letters))


class MaildirWriter(TempFileWriter):
    """Streams one message into ``tmp/``; see :meth:`MaildirStore.open_writer`."""


class MaildirStore(DeliverFromWriter):
    """A Maildir++ tree rooted at ``root`` (created when missing).

    ``separator`` is the IMAP hierarchy separator of the account's mailbox names
    (``"/"`` or ``"."``, as LIST reports it).  ``info_separator`` is ``":"``
    (``";"`` for file systems that forbid colons, as mbsync does).  ``fsync``
    can be turned off for throwaway trees (tests, benchmarks).
    """

    kind = "maildir"

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        separator: str = "/",
        info_separator: str = ":",
        fsync: bool = True,
    ) -> None:
        if len(info_separator) != 1 or info_separator in "/.":
            raise InvalidArgumentError("info_separator must be one character, not / or .")
        self.root = Path(root)
        self.separator = separator
        self._info = info_separator + "2,"
        self._fsync = fsync
        self._lock = threading.RLock()
        self._index: dict[str, dict[str, tuple[str, str]]] = {}  # dir -> name -> (sub, file)
        self._dirty: set[Path] = set()
        # Per-message work that need not be per message: a mailbox's folder name
        # (modified UTF-7 encoding) and its tmp/new/cur check are computed once.
        self._folders: dict[str, str] = {}  # mailbox -> folder dir
        self._ensured: set[str] = set()  # folder dirs known to have tmp/ new/ cur/
        self._paths: dict[str, Path] = {}  # folder dir (or "<dir>/tmp", "<dir>/cur") -> path
        self._host = (
            (platform.node() or "localhost").replace("/", "\\057").replace(info_separator, "\\072")
        )
        self._ensure(self.root)

    # --- mailbox <-> folder ----------------------------------------------------------

    def folder_dir(self, mailbox: str) -> str:
        """The folder's directory name: ``"."`` for INBOX, else ``".A.B"``."""
        folder = self._folders.get(mailbox)
        if folder is None:
            parts = split_mailbox(mailbox, self.separator)
            if parts == ["INBOX"]:
                folder = _ROOT
            else:
                folder = "." + ".".join(encode_folder_component(p) for p in parts)
            self._folders[mailbox] = folder
        return folder

    def folder_path(self, mailbox: str) -> Path:
        return self._dir_path(self.folder_dir(mailbox))

    def _dir_path(self, folder: str) -> Path:
        path = self._paths.get(folder)
        if path is None:
            path = self._paths[folder] = self.root if folder == _ROOT else self.root / folder
        return path

    def _sub_path(self, folder: str, sub: str) -> Path:
        """``<folder>/tmp`` or ``<folder>/cur`` (cached: made per message otherwise)."""
        key = f"{folder}/{sub}"
        path = self._paths.get(key)
        if path is None:
            path = self._paths[key] = self._dir_path(folder) / sub
        return path

    def _mailbox_name(self, folder: str) -> str:
        if folder == _ROOT:
            return "INBOX"
        return self.separator.join(decode_folder_component(p) for p in folder[1:].split("."))

    def _ensure(self, path: Path) -> None:
        for sub in ("tmp", "new", "cur"):
            (path / sub).mkdir(parents=True, exist_ok=True)
        if path != self.root and not (path / "maildirfolder").exists():
            (path / "maildirfolder").touch()

    def create_mailbox(self, mailbox: str) -> Path:
        path = self.folder_path(mailbox)
        self._ensure(path)
        return path

    def _ensure_folder(self, folder: str, path: Path, *, again: bool = False) -> None:
        """``_ensure`` once per folder and store (``again``: it vanished meanwhile)."""
        if again or folder not in self._ensured:
            self._ensure(path)
            self._ensured.add(folder)

    def mailboxes(self) -> list[str]:
        """Every folder of the tree as a mailbox name (INBOX first)."""
        names = ["INBOX"]
        for entry in sorted(os.listdir(self.root)):
            if entry.startswith(".") and entry not in (".", "..") and (self.root / entry).is_dir():
                try:
                    names.append(self._mailbox_name(entry))
                except ValueError:
                    continue  # not a folder name pipeimap writes
        return names

    def mailbox_of(self, key: LocalKey) -> str:
        return self._mailbox_name(self._split_key(key)[0])

    # --- writing ---------------------------------------------------------------------

    def _check_name(self, name: str) -> None:
        if (
            not name
            or name.startswith(".")
            or any(c in name for c in ("/", "\x00", self._info[0]))
            or TEMP_MARKER in name
        ):
            raise InvalidArgumentError(f"not a valid Maildir message name: {name!r}")

    def _new_name(self) -> str:
        now = time.time()
        return f"{int(now)}.M{int(now % 1 * 1e6)}{unique_suffix()}.{self._host}"

    @contextmanager
    def open_writer(
        self,
        mailbox: str,
        *,
        flags: Iterable[str] = (),
        internaldate: datetime | None = None,
        name: str | None = None,
    ) -> Iterator[MaildirWriter]:
        """Stream a message in chunks (bounded memory) into ``mailbox``.

        On a clean exit the message is renamed into ``cur/`` and ``writer.key``
        is set; if the block raises, the temp file is deleted and nothing is
        visible.  ``name`` (see :func:`~pipeimap.store.message_name`) makes the
        delivery idempotent: if a message of that name is already in the
        folder, the new copy is dropped and the existing key returned.
        """
        if name is not None:
            self._check_name(name)
        final_flags = normalize_flags(flags)
        mtime = to_timestamp(internaldate)
        folder = self.folder_dir(mailbox)
        path = self._dir_path(folder)
        self._ensure_folder(folder, path)
        stem = name if name is not None else self._new_name()
        tmp = self._sub_path(folder, "tmp")
        try:
            temp = TempFile(tmp, stem, fsync=self._fsync)
        except FileNotFoundError:
            # The folder was removed since we made it (by hand, by a mail client).
            self._ensure_folder(folder, path, again=True)
            temp = TempFile(tmp, stem, fsync=self._fsync)
        with temp:
            writer = MaildirWriter(temp)
            yield writer
            temp.finish(mtime)
            writer._key = self._commit(folder, stem, temp, final_flags)

    def _commit(self, folder: str, stem: str, temp: TempFile, flags: frozenset[Flag]) -> LocalKey:
        key = LocalKey(f"{folder}/{stem}")
        path = self._dir_path(folder)
        with self._lock:
            index = self._folder_index(folder)
            if stem in index:
                # Same name, same (uidvalidity, uid): the message is already here.
                temp.discard()
                return key
            filename = f"{stem}{self._info}{info_from_flags(flags)}"
            cur = self._sub_path(folder, "cur")
            target = os.path.join(cur, filename)
            try:
                os.rename(temp.path, target)
            except FileNotFoundError:
                if not temp.path.exists():
                    raise
                self._ensure_folder(folder, path, again=True)  # cur/ was removed meanwhile
                os.rename(temp.path, target)
            index[stem] = ("cur", filename)
            self._dirty.add(cur)
        return key

    def flush(self) -> None:
        """fsync every directory changed since the last flush (durable renames)."""
        with self._lock:
            dirty, self._dirty = self._dirty, set()
        if self._fsync:
            for d in sorted(dirty):
                fsync_directory(d)

    # --- the index -------------------------------------------------------------------

    def _split_key(self, key: LocalKey) -> tuple[str, str]:
        folder, sep, stem = str(key).rpartition("/")
        if not sep or not folder or not stem:
            raise KeyError(key)
        return folder, stem

    def _read_folder(self, folder: str) -> dict[str, tuple[str, str]]:
        path = self._dir_path(folder)
        index: dict[str, tuple[str, str]] = {}
        for sub in ("new", "cur"):
            try:
                entries = os.listdir(path / sub)
            except FileNotFoundError:
                continue
            for filename in entries:
                if filename.startswith("."):
                    continue
                stem = filename.split(self._info, 1)[0] if sub == "cur" else filename
                index.setdefault(stem, (sub, filename))
        return index

    def _folder_index(self, folder: str) -> dict[str, tuple[str, str]]:
        index = self._index.get(folder)
        if index is None:
            index = self._index[folder] = self._read_folder(folder)
        return index

    def _locate(self, key: LocalKey) -> tuple[Path, str, str]:
        """(folder path, subdir, file name) of ``key``; KeyError if it is gone."""
        folder, stem = self._split_key(key)
        path = self._dir_path(folder)
        with self._lock:
            entry = self._folder_index(folder).get(stem)
            if entry is None or not (path / entry[0] / entry[1]).exists():
                # A mail client may have renamed it (flags) or moved it new/ -> cur/.
                self._index[folder] = self._read_folder(folder)
                entry = self._index[folder].get(stem)
            if entry is None:
                raise KeyError(key)
            return path, entry[0], entry[1]

    def lookup(self, mailbox: str, name: str) -> LocalKey | None:
        """The key of the message delivered as ``name``, or ``None``."""
        folder = self.folder_dir(mailbox)
        with self._lock:
            found = name in self._folder_index(folder)
        return LocalKey(f"{folder}/{name}") if found else None

    def path_of(self, key: LocalKey) -> Path:
        path, sub, filename = self._locate(key)
        return path / sub / filename

    # --- flags -----------------------------------------------------------------------

    def _info_letters(self, sub: str, filename: str) -> str:
        if sub == "cur" and self._info in filename:
            return filename.split(self._info, 1)[1]
        return ""

    def representable(self, flags: Iterable[str]) -> frozenset[Flag]:
        """The subset of ``flags`` a Maildir file name can carry (D F P R S T)."""
        return frozenset(f for f in normalize_flags(flags) if f.lower() in _FLAG_LETTER)

    def flags_of(self, key: LocalKey) -> frozenset[Flag]:
        _, sub, filename = self._locate(key)
        return flags_from_info(self._info_letters(sub, filename))

    def set_flags(
        self, key: LocalKey, flags: Iterable[str], *, commit: RewriteCommit | None = None
    ) -> dict[LocalKey, LocalKey]:
        """Rename the file to carry ``flags`` (keywords are ignored); the key stays.

        ``commit({})``, if given, runs after the rename is durable (the flags are
        in the file name, so the file comes first and the row follows)."""
        wanted = normalize_flags(flags)
        folder, stem = self._split_key(key)
        with self._lock:
            path, sub, filename = self._locate(key)
            letters = info_from_flags(wanted, keep=self._info_letters(sub, filename))
            new_name = f"{stem}{self._info}{letters}"
            if (sub, filename) != ("cur", new_name):
                os.rename(path / sub / filename, path / "cur" / new_name)
                self._index[folder][stem] = ("cur", new_name)
                self._dirty.update({path / sub, path / "cur"})
        if commit is not None:
            self.flush()
            commit({})
        return {}

    def scan(self, mailbox: str) -> dict[LocalKey, frozenset[Flag]]:
        """Every message of ``mailbox`` with the flags its file name carries now,
        read fresh from disk (to detect flag changes made by a mail client)."""
        folder = self.folder_dir(mailbox)
        with self._lock:
            index = self._index[folder] = self._read_folder(folder)
            return {
                LocalKey(f"{folder}/{stem}"): flags_from_info(self._info_letters(sub, filename))
                for stem, (sub, filename) in sorted(index.items())
            }

    def list_keys(self, mailbox: str) -> list[LocalKey]:
        return list(self.scan(mailbox))

    # --- reading and removing --------------------------------------------------------

    def open(self, key: LocalKey) -> BinaryIO:
        """The message file, opened for reading (stream it; do not hold it long)."""
        return self.path_of(key).open("rb")

    def read(self, key: LocalKey) -> bytes:
        return self.path_of(key).read_bytes()

    def iter_messages(self, mailbox: str) -> Iterator[StoredMessage]:
        for key, flags in self.scan(mailbox).items():
            try:
                st = self.path_of(key).stat()
            except (KeyError, FileNotFoundError):
                continue  # removed meanwhile
            yield StoredMessage(key, mailbox, flags, from_timestamp(st.st_mtime), st.st_size)

    def remove(
        self, keys: Iterable[LocalKey], *, commit: RewriteCommit | None = None
    ) -> dict[LocalKey, LocalKey]:
        """Delete messages; a key already gone is not an error.

        ``commit({})``, if given, runs once the unlinks are durable: files first,
        rows next -- a kill in between leaves rows whose files are gone, which the
        jobs forget (``drop_lost``), never a file nobody tracks."""
        with self._lock:
            for key in keys:
                try:
                    path, sub, filename = self._locate(key)
                except KeyError:
                    continue
                folder, stem = self._split_key(key)
                with suppress(FileNotFoundError):
                    os.unlink(path / sub / filename)
                self._index[folder].pop(stem, None)
                self._dirty.add(path / sub)
        if commit is not None:
            self.flush()
            commit({})
        return {}

    # --- crash recovery --------------------------------------------------------------

    def recover(self, committed: Mapping[str, int] | None = None) -> RecoveryReport:
        """Delete temp files a killed run left in every folder's ``tmp/``.

        pipeimap's own temp files are removed whatever their age (call this when
        no other pipeimap job writes to the tree); other programs' ``tmp/``
        files only when older than 36 hours, as the Maildir spec allows.
        ``committed`` is unused (it is for mbox).
        """
        removed: list[Path] = []
        now = time.time()
        folders = [self.root] + [
            self.root / e
            for e in sorted(os.listdir(self.root))
            if e.startswith(".") and e not in (".", "..") and (self.root / e).is_dir()
        ]
        for folder in folders:
            tmp = folder / "tmp"
            try:
                entries = sorted(os.listdir(tmp))
            except FileNotFoundError:
                continue
            for entry in entries:
                p = tmp / entry
                try:
                    st = p.lstat()
                    if TEMP_MARKER in entry or now - st.st_mtime > _STALE_FOREIGN_TMP:
                        p.unlink()
                        removed.append(p)
                except FileNotFoundError:
                    continue
        with self._lock:
            self._index.clear()
        return RecoveryReport(removed_temp_files=tuple(removed))

    def markers(self, mailboxes: Iterable[str] | None = None) -> dict[str, int]:
        """Maildir needs no commit markers (deterministic names make re-delivery idempotent)."""
        return {}
