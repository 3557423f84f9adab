"""mboxrd store: one mbox file per mailbox (or one file for everything).

Each message is appended as ``From_ line``, a three-line flag block
(``Status:``, ``X-Status:``, ``X-Keywords:``; see :mod:`._mboxrd`), the
message with ``>From `` quoting, and one LF.  Reading drops exactly the From_
line, the flag block and that LF and unquotes, so the original bytes come back
exactly (CRLF or LF, with or without a final newline).

Atomicity: an append cannot be made invisible the way a rename can, so the
state DB holds each file's *committed size* (:meth:`MboxStore.markers`, saved
in the same transaction as the message rows) and :meth:`MboxStore.recover`
cuts everything past it -- the torn or unrecorded tail of a killed run.  An
append that fails inside the process is truncated away at once.  Changing flags
rewrites the fixed-width block in place; removing messages (or flags that no
longer fit) rewrites the file through a temp file and a rename, which moves the
later messages: those calls return the old -> new keys.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Final

from ..errors import InvalidArgumentError
from ..protocol._types import Flag
from ._atomic import TEMP_MARKER, unique_suffix
from ._common import (
    DeliverFromWriter,
    LocalKey,
    RecoveryReport,
    StoredMessage,
    decode_folder_component,
    encode_folder_component,
    fsync_directory,
    normalize_flags,
    split_mailbox,
)
from ._mboxrd import (
    FromQuoter,
    build_flag_block,
    format_from_line,
    iter_pieces,
    parse_flag_block,
    parse_from_date,
    unquote,
)

if sys.platform != "win32":
    import fcntl

__all__ = ["MboxStore", "MboxWriter"]

_HEAD_LIMIT: Final = 1 << 16  # bytes held back to read the line end and Return-Path
_RETURN_PATH_RE: Final = re.compile(rb"(?im)^Return-Path:[ \t]*<?([^>\r\n]*)>?")


def _lock_fd(fd: int) -> None:
    if sys.platform != "win32":
        fcntl.flock(fd, fcntl.LOCK_EX)


class MboxWriter:
    """Appends one message; see :meth:`MboxStore.open_writer`."""

    def __init__(
        self,
        f: BinaryIO,
        key: LocalKey,
        flags: frozenset[Flag],
        internaldate: datetime | None,
        sender: str,
    ) -> None:
        self._f = f
        self._pending_key = key
        self._key: LocalKey | None = None
        self._flags = flags
        self._date = internaldate
        self._sender = sender
        self._head: bytes | None = b""
        self._quoter = FromQuoter()
        self._size = 0

    @property
    def key(self) -> LocalKey:
        if self._key is None:
            raise InvalidArgumentError("the message is not committed yet")
        return self._key

    @property
    def size(self) -> int:
        return self._size

    def write(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._head is not None:
            self._head += chunk
            if len(self._head) >= _HEAD_LIMIT or b"\n\n" in self._head or b"\n\r\n" in self._head:
                self._start()
            return
        self._f.write(self._quoter.feed(chunk))

    def _start(self) -> None:
        head, self._head = self._head or b"", None
        nl = head.find(b"\n")
        eol = b"\r\n" if nl > 0 and head[nl - 1 : nl] == b"\r" else b"\n"
        sender = self._sender
        header_end = re.search(rb"\r?\n\r?\n", head)
        m = _RETURN_PATH_RE.search(head, 0, header_end.start() if header_end else len(head))
        if m and m.group(1).strip():
            sender = m.group(1).strip().decode("ascii", "replace")
        self._f.write(format_from_line(sender, self._date))
        self._f.write(build_flag_block(self._flags, eol))
        self._f.write(self._quoter.feed(head))

    def _finish(self) -> None:
        if self._head is not None:
            self._start()
        self._f.write(self._quoter.finish() + b"\n")


class MboxStore(DeliverFromWriter):
    """An mboxrd store at ``path``.

    If ``path`` is an existing file or ends in ``.mbox``/``.mbx`` (or
    ``single_file=True``), every message goes to that one file whatever its
    mailbox (use it for one mailbox).  Otherwise ``path`` is a directory with one
    file per mailbox: ``Archive/2024`` -> ``Archive/2024.mbox`` (each level
    encoded as for Maildir folders).
    """

    kind = "mbox"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        separator: str = "/",
        single_file: bool | None = None,
        sender: str = "MAILER-DAEMON",
        fsync: bool = True,
    ) -> None:
        self.path = Path(path)
        if single_file is None:
            single_file = self.path.is_file() or self.path.suffix in (".mbox", ".mbx")
        self.single_file = single_file
        self.separator = separator
        self.sender = sender
        self._fsync = fsync
        self._guard = threading.Lock()
        self._locks: dict[str, threading.RLock] = {}
        self._touched: set[str] = set()
        self._new_dirs: set[Path] = set()
        (self.path.parent if single_file else self.path).mkdir(parents=True, exist_ok=True)

    # --- files ---------------------------------------------------------------------

    def file_name(self, mailbox: str) -> str:
        """The file of ``mailbox`` relative to the store (as used in keys and markers)."""
        if self.single_file:
            return self.path.name
        parts = split_mailbox(mailbox, self.separator)
        return "/".join(encode_folder_component(p) for p in parts) + ".mbox"

    def _file(self, rel: str) -> Path:
        return self.path if self.single_file else self.path / rel

    def _lock(self, rel: str) -> threading.RLock:
        with self._guard:
            return self._locks.setdefault(rel, threading.RLock())

    def mailboxes(self) -> list[str]:
        if self.single_file:
            return ["INBOX"]
        names = []
        for p in sorted(self.path.rglob("*.mbox")):
            rel = p.relative_to(self.path).as_posix()
            try:
                names.append(self._mailbox_of_rel(rel))
            except ValueError:
                continue
        return names

    def _mailbox_of_rel(self, rel: str) -> str:
        if self.single_file:
            return "INBOX"
        parts = rel[: -len(".mbox")].split("/")
        return self.separator.join(decode_folder_component(p) for p in parts)

    @staticmethod
    def _split_key(key: LocalKey) -> tuple[str, int]:
        rel, sep, off = str(key).rpartition(":")
        if not sep or not rel or not off.isdigit():
            raise KeyError(key)
        return rel, int(off)

    def mailbox_of(self, key: LocalKey) -> str:
        return self._mailbox_of_rel(self._split_key(key)[0])

    # --- writing ---------------------------------------------------------------------

    @contextmanager
    def open_writer(
        self,
        mailbox: str,
        *,
        flags: Iterable[str] = (),
        internaldate: datetime | None = None,
        name: str | None = None,
    ) -> Iterator[MboxWriter]:
        """Append one message, streamed in chunks; the file stays locked meanwhile.

        On a clean exit the message is fsynced and ``writer.key`` set; if the
        block raises, the file is truncated back to where it was.  ``name`` is
        accepted for the common interface and ignored: mbox idempotency comes
        from the committed-size markers (see the module docs).
        """
        del name
        fl = normalize_flags(flags)
        rel = self.file_name(mailbox)
        path = self._file(rel)
        if not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock(rel):
            created = not path.exists()
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "r+b") as f:
                _lock_fd(fd)
                orig = start = os.fstat(fd).st_size
                if start and os.pread(fd, 1, start - 1) != b"\n":
                    f.write(b"\n")  # a foreign file without a final newline
                    start += 1
                writer = MboxWriter(f, LocalKey(f"{rel}:{start}"), fl, internaldate, self.sender)
                try:
                    yield writer
                    writer._finish()
                    f.flush()
                    if self._fsync:
                        os.fsync(fd)
                except BaseException:
                    f.flush()
                    os.ftruncate(fd, orig)
                    if self._fsync:
                        os.fsync(fd)
                    raise
                writer._key = writer._pending_key
            with self._guard:
                self._touched.add(rel)
                if created:
                    self._new_dirs.add(path.parent)

    def lookup(self, mailbox: str, name: str) -> LocalKey | None:
        """mbox messages have no names: always ``None`` (use the state DB)."""
        return None

    def flush(self) -> None:
        """Appends are fsynced as they happen; this makes new files' entries durable."""
        with self._guard:
            dirs, self._new_dirs = self._new_dirs, set()
        if self._fsync:
            for d in sorted(dirs):
                fsync_directory(d)

    def markers(self) -> dict[str, int]:
        """Current size of every file this store wrote to: save it in the state DB
        (``JobState.set_markers``) in the transaction that records the messages."""
        with self._guard:
            rels = sorted(self._touched)
        return {rel: self._file(rel).stat().st_size for rel in rels if self._file(rel).exists()}

    # --- reading ---------------------------------------------------------------------

    def _iter_raw(self, f: BinaryIO) -> Iterator[tuple[int, bytes, bytes]]:
        """(offset, From_ line, raw content incl. the separator LF) for each message
        from the current position; content before the first From_ is skipped."""
        start = -1
        from_line = b""
        in_from = False
        parts: list[bytes] = []
        for offset, piece, at_start in iter_pieces(f):
            if in_from:  # the rest of an absurdly long From_ line
                from_line += piece
                in_from = not piece.endswith(b"\n")
            elif at_start and piece.startswith(b"From "):
                if start >= 0:
                    yield start, from_line, b"".join(parts)
                start, from_line, parts = offset, piece, []
                in_from = not piece.endswith(b"\n")
            elif start >= 0:
                parts.append(piece)
        if start >= 0:
            yield start, from_line, b"".join(parts)

    @staticmethod
    def _decode(raw: bytes) -> tuple[frozenset[Flag], bytes]:
        if raw.endswith(b"\n"):
            raw = raw[:-1]
        block = parse_flag_block(raw)
        if block is None:
            return frozenset(), unquote(raw)
        return block[0], unquote(raw[block[1] :])

    def _raw_at(self, key: LocalKey) -> tuple[bytes, bytes]:
        rel, offset = self._split_key(key)
        try:
            with self._file(rel).open("rb") as f:
                f.seek(offset)
                for off, from_line, raw in self._iter_raw(f):
                    if off != offset:
                        break
                    return from_line, raw
        except FileNotFoundError:
            pass
        raise KeyError(key)

    def read(self, key: LocalKey) -> bytes:
        return self._decode(self._raw_at(key)[1])[1]

    def flags_of(self, key: LocalKey) -> frozenset[Flag]:
        return self._decode(self._raw_at(key)[1])[0]

    def representable(self, flags: Iterable[str]) -> frozenset[Flag]:
        """mbox keeps every flag (keywords in ``X-Keywords``)."""
        return normalize_flags(flags)

    def iter_messages(self, mailbox: str) -> Iterator[StoredMessage]:
        rel = self.file_name(mailbox)
        try:
            f = self._file(rel).open("rb")
        except FileNotFoundError:
            return
        with f:
            for offset, from_line, raw in self._iter_raw(f):
                flags, data = self._decode(raw)
                yield StoredMessage(
                    LocalKey(f"{rel}:{offset}"),
                    mailbox,
                    flags,
                    parse_from_date(from_line),
                    len(data),
                )

    # --- changing --------------------------------------------------------------------

    def set_flags(self, key: LocalKey, flags: Iterable[str]) -> dict[LocalKey, LocalKey]:
        """Rewrite the flag block in place; if the keywords no longer fit its room,
        rewrite the file and return the keys that moved."""
        wanted = normalize_flags(flags)
        rel, offset = self._split_key(key)
        with self._lock(rel):
            from_line, raw = self._raw_at(key)
            block = parse_flag_block(raw)
            if block is not None:
                _, length, width, eol = block
                new = build_flag_block(wanted, eol, keyword_width=width)
                if len(new) == length:
                    fd = os.open(self._file(rel), os.O_RDWR)
                    try:
                        _lock_fd(fd)
                        os.pwrite(fd, new, offset + len(from_line))
                        if self._fsync:
                            os.fsync(fd)
                    finally:
                        os.close(fd)
                    return {}
            return self._rewrite(rel, drop=set(), reflag={offset: wanted})

    def remove(self, keys: Iterable[LocalKey]) -> dict[LocalKey, LocalKey]:
        """Remove messages by rewriting their files; returns the keys that moved
        (update them with ``JobState.rekey`` and save new markers)."""
        by_file: dict[str, set[int]] = {}
        for key in keys:
            rel, offset = self._split_key(key)
            by_file.setdefault(rel, set()).add(offset)
        moved: dict[LocalKey, LocalKey] = {}
        for rel, offsets in sorted(by_file.items()):
            if self._file(rel).exists():
                with self._lock(rel):
                    moved.update(self._rewrite(rel, drop=offsets, reflag={}))
        return moved

    def _rewrite(
        self, rel: str, *, drop: set[int], reflag: dict[int, frozenset[Flag]]
    ) -> dict[LocalKey, LocalKey]:
        path = self._file(rel)
        temp = path.with_name(f".{path.name}{TEMP_MARKER}.{unique_suffix()}")
        moved: dict[LocalKey, LocalKey] = {}
        with path.open("rb") as src:
            _lock_fd(src.fileno())
            try:
                with temp.open("xb") as out:
                    head = src.read(5)
                    src.seek(0)
                    if head != b"From ":  # keep whatever precedes the first message
                        first = next(self._iter_raw(src), None)
                        src.seek(0)
                        out.write(src.read(first[0] if first else -1))
                    for offset, from_line, raw in self._iter_raw(src):
                        if offset in drop:
                            continue
                        new_offset = out.tell()
                        if offset in reflag:
                            block = parse_flag_block(raw)
                            eol = block[3] if block else b"\n"
                            rest = raw[block[1] :] if block else raw
                            raw = build_flag_block(reflag[offset], eol) + rest
                        out.write(from_line + raw)
                        if new_offset != offset:
                            moved[LocalKey(f"{rel}:{offset}")] = LocalKey(f"{rel}:{new_offset}")
                    out.flush()
                    if self._fsync:
                        os.fsync(out.fileno())
                os.replace(temp, path)
            except BaseException:
                temp.unlink(missing_ok=True)
                raise
        if self._fsync:
            fsync_directory(path.parent)
        with self._guard:
            self._touched.add(rel)
        return moved

    # --- crash recovery --------------------------------------------------------------

    def recover(self, committed: Mapping[str, int] | None = None) -> RecoveryReport:
        """Cut every file back to its committed size (from ``JobState.markers``)
        and delete temp files of interrupted rewrites.

        A cut is made only where the committed size is a message boundary (the
        end of the file or a ``From_`` line after an LF); anything else means the
        markers are stale, and the file is left alone with a warning.
        """
        truncated: dict[str, int] = {}
        warnings: list[str] = []
        removed: list[Path] = []
        if self.single_file:
            temps = self.path.parent.glob(f".{self.path.name}{TEMP_MARKER}*")
        else:
            temps = self.path.rglob(f"*{TEMP_MARKER}*")
        for p in sorted(temps):
            if p.is_file():
                p.unlink()
                removed.append(p)
        for rel, size in sorted((committed or {}).items()):
            path = self._file(rel)
            with self._lock(rel):
                try:
                    fd = os.open(path, os.O_RDWR)
                except FileNotFoundError:
                    if size:
                        warnings.append(f"{rel}: missing, committed size was {size}")
                    continue
                try:
                    _lock_fd(fd)
                    actual = os.fstat(fd).st_size
                    if actual < size:
                        warnings.append(f"{rel}: {actual} bytes, shorter than committed {size}")
                    elif actual > size:
                        at = os.pread(fd, 5, size)
                        before = os.pread(fd, 1, size - 1) if size else b"\n"
                        if at == b"From " and before == b"\n":
                            os.ftruncate(fd, size)
                            if self._fsync:
                                os.fsync(fd)
                            truncated[rel] = actual - size
                        else:
                            warnings.append(f"{rel}: committed size {size} is not a boundary")
                finally:
                    os.close(fd)
        return RecoveryReport(tuple(removed), truncated, tuple(warnings))
