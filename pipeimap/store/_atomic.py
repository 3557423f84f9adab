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


def unique_suffix() -> str:
    return f"P{os.getpid()}Q{next(_counter)}R{secrets.token_hex(4)}"


class TempFile:
    """An exclusively created temp file; ``finish()`` it, then rename, or ``discard()``."""

    def __init__(self, directory: Path, stem: str, *, fsync: bool) -> None:
        self.path = directory / f"{stem}{TEMP_MARKER}.{unique_suffix()}"
        self._fsync = fsync
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file = os.fdopen(fd, "wb")
        self.size = 0

    def write(self, chunk: bytes) -> None:
        if chunk:
            self._file.write(chunk)
            self.size += len(chunk)

    def finish(self, mtime: float | None) -> None:
        """Flush and fsync the data, close, and set the mtime."""
        self._file.flush()
        if self._fsync:
            os.fsync(self._file.fileno())
        self._file.close()
        if mtime is not None:
            os.utime(self.path, (mtime, mtime))

    def discard(self) -> None:
        if not self._file.closed:
            self._file.close()
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
