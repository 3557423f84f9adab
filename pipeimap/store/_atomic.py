"""A temp file that becomes a message file only when complete.

Theory of operation: a message is streamed into a uniquely named temp file
that no mail reader looks at (Maildir ``tmp/``, a dot-file next to the .eml
files), fsynced, given the internal date as mtime, and only then renamed (or
hard-linked) to its visible name.  A rename is atomic on POSIX, so a reader sees
either no message or the whole message; a crash leaves at most a temp file,
which ``recover()`` deletes.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
from pathlib import Path
from types import TracebackType

from ..errors import InvalidArgumentError
from ._common import LocalKey

__all__ = ["TEMP_MARKER", "TempFile", "TempFileWriter", "unique_suffix"]

#: Every temp file pipeimap creates has this in its name, so recover() can tell
#: its own leftovers from a concurrent MDA's files in progress.
TEMP_MARKER = ".pipeimap-tmp"
_counter = itertools.count()
_UTIME_FD = os.utime in os.supports_fd


def unique_suffix() -> str:
    return f"P{os.getpid()}Q{next(_counter)}R{secrets.token_hex(4)}"


class TempFile:
    """An exclusively created temp file; ``finish()`` it, then rename, or ``discard()``.

    Written through its descriptor (``os.write``), not a buffered file object:
    the pieces are large already, and opening a file object costs three more
    system calls per message (fstat, isatty, lseek).
    """

    def __init__(self, directory: Path, stem: str, *, fsync: bool) -> None:
        self.path = directory / f"{stem}{TEMP_MARKER}.{unique_suffix()}"
        self._fsync = fsync
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self.size = 0

    def write(self, chunk: bytes) -> None:
        if self._fd is None:
            raise ValueError("write to a finished or discarded temp file")
        view = memoryview(chunk)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self.size += len(chunk)

    def finish(self, mtime: float | None) -> None:
        """Set the mtime, fsync the file (data and mtime), close."""
        fd = self._fd
        if fd is None:
            raise ValueError("the temp file is finished or discarded already")
        by_fd = mtime is not None and _UTIME_FD
        if mtime is not None and by_fd:
            os.utime(fd, (mtime, mtime))  # before the fsync, which then covers it
        if self._fsync:
            os.fsync(fd)
        self._fd = None
        os.close(fd)
        if mtime is not None and not by_fd:
            os.utime(self.path, (mtime, mtime))

    def discard(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def __enter__(self) -> TempFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.discard()


class TempFileWriter:
    """Streams one message into a :class:`TempFile`; the store sets the key when it
    commits the file (the Maildir and .eml writers are this class)."""

    def __init__(self, temp: TempFile) -> None:
        self._temp = temp
        self._key: LocalKey | None = None

    @property
    def key(self) -> LocalKey:
        if self._key is None:
            raise InvalidArgumentError("the message is not committed yet")
        return self._key

    @property
    def size(self) -> int:
        return self._temp.size

    def write(self, chunk: bytes) -> None:
        self._temp.write(chunk)
