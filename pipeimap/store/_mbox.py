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

A rewrite and the re-keyed rows are committed together by *rolling forward*:
the temp file (named ``.<file>.pipeimap-tmp.rw<token>``) is written and fsynced
(and its directory entry), then the caller's ``commit(moved)`` runs its state
transaction -- rows dropped, keys changed, and :meth:`MboxStore.markers`, which
for a pending rewrite names the file's *new* size and the marker
``/rewrite/<file> -> token`` -- and only then is the temp file renamed over the
file.  A kill before that commit leaves a temp file whose token the state does
not name: ``recover`` deletes it and nothing changed.  A kill after it leaves
the temp file the state names: ``recover`` renames it (the DB already has the
new keys).  So the keys in the DB and the file agree at every point.  (A
``/rewrite/`` marker left after the rename names no file: harmless.  A file's
relative name never starts with ``/``, so it cannot clash with a file's size.)
"""

from __future__ import annotations

import os
import re
import secrets
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Final

from ..errors import InvalidArgumentError
from ..protocol._types import Flag
from ._atomic import TEMP_MARKER
from ._common import (
    DeliverFromWriter,
    LocalKey,
    RecoveryReport,
    RewriteCommit,
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

__all__ = ["REWRITE_MARKER", "MboxStore", "MboxWriter"]

#: Prefix of the marker that names a committed rewrite's token: ``/rewrite/<file>``.
REWRITE_MARKER: Final = "/rewrite/"
_TOKEN_TAG: Final = ".rw"  # temp file: .<file>.pipeimap-tmp.rw<token>
_HEAD_LIMIT: Final = 1 << 16  # bytes held back to read the line end and Return-Path
_RETURN_PATH_RE: Final = re.compile(rb"(?im)^Return-Path:[ \t]*<?([^>\r\n]*)>?")


def _lock_fd(fd: int) -> None:
    if sys.platform != "win32":
        fcntl.flock(fd, fcntl.LOCK_EX)


def _rewrite_temp(path: Path, token: int) -> Path:
    return path.with_name(f".{path.name}{TEMP_MARKER}{_TOKEN_TAG}{token}")


@dataclass(slots=True)
class _Rewrite:
    """A rewritten file, durable in its temp file, not renamed yet."""

    rel: str
    path: Path
    temp: Path
    token: int
    size: int
    moved: dict[LocalKey, LocalKey]


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
        # rel -> (token, new size, thread committing it): rewrites between their
        # temp file and their rename (see markers()).
        self._pending: dict[str, tuple[int, int, int]] = {}
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

    def markers(self, mailboxes: Iterable[str] | None = None) -> dict[str, int]:
        """Current size of every file this store wrote to (or only of the files
        of ``mailboxes``): save it in the state DB (``JobState.set_markers``) in
        the transaction that records the messages.

        A transaction that records one mailbox's messages must name that mailbox:
        another mailbox's file may hold appended messages whose rows are not
        committed yet (or half a message), and committing that size would make
        ``recover`` keep them after a kill -- to be fetched again next run, a
        duplicate.

        While a rewrite waits for its ``commit`` the file's entry is its *new*
        size plus ``/rewrite/<file> -> token`` -- but only in the thread running
        that commit: other threads' transactions leave the file's marker as it
        is until the rename is done."""
        me = threading.get_ident()
        with self._guard:
            rels = sorted(self._touched)
            pending = dict(self._pending)
        if mailboxes is not None:
            wanted = {self.file_name(m) for m in mailboxes}
            rels = [rel for rel in rels if rel in wanted]
        out: dict[str, int] = {}
        for rel in rels:
            if rel in pending:
                token, size, owner = pending[rel]
                if owner == me:
                    out[rel] = size
                    out[REWRITE_MARKER + rel] = token
                continue
            path = self._file(rel)
            if path.exists():
                out[rel] = path.stat().st_size
        return out

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

    def set_flags(
        self, key: LocalKey, flags: Iterable[str], *, commit: RewriteCommit | None = None
    ) -> dict[LocalKey, LocalKey]:
        """Rewrite the flag block in place; if the keywords no longer fit its room,
        rewrite the file and return the keys that moved.

        ``commit(moved)``, if given, runs the caller's state transaction: after the
        in-place write, or between the durable temp file and the rename of a
        rewrite (see the module docs)."""
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
                    if commit is not None:
                        commit({})
                    return {}
            return self._rewrite({rel: (set(), {offset: wanted})}, commit)

    def remove(
        self, keys: Iterable[LocalKey], *, commit: RewriteCommit | None = None
    ) -> dict[LocalKey, LocalKey]:
        """Remove messages by rewriting their files; returns the keys that moved.

        Pass the state transaction that drops the rows, applies ``JobState.rekey``
        and saves :meth:`markers` as ``commit(moved)``: it runs once every
        rewritten file is durable in its temp file and before any rename, so a
        kill at any point leaves the DB and the files agreeing (after
        :meth:`recover`).  Without ``commit`` the files are renamed at once and
        the caller must update the state afterwards (not crash-safe)."""
        by_file: dict[str, set[int]] = {}
        for key in keys:
            rel, offset = self._split_key(key)
            by_file.setdefault(rel, set()).add(offset)
        return self._rewrite(
            {rel: (offsets, {}) for rel, offsets in by_file.items() if self._file(rel).exists()},
            commit,
        )

    def _rewrite(
        self,
        plan: Mapping[str, tuple[set[int], dict[int, frozenset[Flag]]]],
        commit: RewriteCommit | None,
    ) -> dict[LocalKey, LocalKey]:
        """Rewrite every file of ``plan`` (rel -> (offsets to drop, offsets to
        reflag)) into a durable temp file, run ``commit``, rename them all."""
        with ExitStack() as stack:
            rewrites: list[_Rewrite] = []
            try:
                for rel, (drop, reflag) in sorted(plan.items()):
                    stack.enter_context(self._lock(rel))
                    rewrites.append(self._write_temp(rel, drop, reflag, stack))
                if self._fsync:
                    for d in sorted({rw.path.parent for rw in rewrites}):
                        fsync_directory(d)  # the temp files' entries, before the commit
            except BaseException:
                for rw in rewrites:
                    rw.temp.unlink(missing_ok=True)
                raise
            moved: dict[LocalKey, LocalKey] = {}
            for rw in rewrites:
                moved.update(rw.moved)
            if commit is None:
                self._rename(rewrites, discard_on_error=True)
                return moved
            me = threading.get_ident()
            with self._guard:
                for rw in rewrites:
                    self._pending[rw.rel] = (rw.token, rw.size, me)
                    self._touched.add(rw.rel)
            try:
                try:
                    commit(moved)
                except BaseException:
                    # Rolled back: the state still names the old file.
                    for rw in rewrites:
                        rw.temp.unlink(missing_ok=True)
                    raise
                # Committed: from here the temp files are the truth; a failure
                # leaves them for recover() to rename.
                self._rename(rewrites, discard_on_error=False)
            finally:
                with self._guard:
                    for rw in rewrites:
                        self._pending.pop(rw.rel, None)
            return moved

    def _rename(self, rewrites: list[_Rewrite], *, discard_on_error: bool) -> None:
        done = 0
        try:
            for rw in rewrites:
                os.replace(rw.temp, rw.path)
                done += 1
        except BaseException:
            if discard_on_error:
                for rw in rewrites[done:]:
                    rw.temp.unlink(missing_ok=True)
            raise
        if self._fsync:
            for d in sorted({rw.path.parent for rw in rewrites}):
                fsync_directory(d)
        with self._guard:
            self._touched.update(rw.rel for rw in rewrites)

    def _write_temp(
        self, rel: str, drop: set[int], reflag: dict[int, frozenset[Flag]], stack: ExitStack
    ) -> _Rewrite:
        """The new content of ``rel`` in a fsynced temp file; the source stays open
        and flock()ed (on ``stack``) until the rename."""
        path = self._file(rel)
        token = secrets.randbits(62) + 1
        temp = _rewrite_temp(path, token)
        moved: dict[LocalKey, LocalKey] = {}
        src = stack.enter_context(path.open("rb"))
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
                size = out.tell()
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return _Rewrite(rel, path, temp, token, size, moved)

    # --- crash recovery --------------------------------------------------------------

    def recover(self, committed: Mapping[str, int] | None = None) -> RecoveryReport:
        """Finish committed rewrites, delete the temp files of the others, and cut
        every file back to its committed size (all from ``JobState.markers``).

        A rewrite whose token the markers name (``/rewrite/<file>``) was
        committed with its re-keyed rows: its temp file is renamed over the file
        (roll forward).  A cut is made only where the committed size is a message
        boundary (the end of the file or a ``From_`` line after an LF); anything
        else means the markers are stale, and the file is left alone with a
        warning.
        """
        committed = dict(committed or {})
        truncated: dict[str, int] = {}
        warnings: list[str] = []
        removed: list[Path] = []
        completed: list[str] = []
        tokens = {
            name[len(REWRITE_MARKER) :]: token
            for name, token in committed.items()
            if name.startswith(REWRITE_MARKER)
        }
        sizes = {rel: size for rel, size in committed.items() if not rel.startswith("/")}
        for rel, token in sorted(tokens.items()):
            path = self._file(rel)
            temp = _rewrite_temp(path, token)
            with self._lock(rel):
                if temp.is_file():
                    os.replace(temp, path)
                    if self._fsync:
                        fsync_directory(path.parent)
                    completed.append(rel)
        if self.single_file:
            temps = self.path.parent.glob(f".{self.path.name}{TEMP_MARKER}*")
        else:
            temps = self.path.rglob(f"*{TEMP_MARKER}*")
        for p in sorted(temps):
            if p.is_file():
                p.unlink()
                removed.append(p)
        for rel, size in sorted(sizes.items()):
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
        return RecoveryReport(tuple(removed), truncated, tuple(warnings), tuple(completed))
