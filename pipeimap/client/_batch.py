"""Explicit batches: commands built by hand, checked together, sent together.

The whole batch goes through :meth:`Scheduler.submit_batch`, which rejects two
commands that conflict (R2, R4, R5 of ``pipelining.md``) with
:class:`~pipeimap.ConflictError` before anything is queued or written.
Dependencies that are not conflicts (a SELECT and the UID commands behind it,
``SEARCH RETURN (SAVE)`` and the ``$`` consumers) are honoured by waiting.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ..errors import UsageError
from ..protocol import _commands as c
from ..protocol._search import ALL, SearchKey
from ..protocol._types import Flag
from . import _ops as ops
from ._connection import CommandHandle
from ._results import (
    AppendResult,
    CopyResult,
    FetchedMessage,
    SearchResult,
    SelectResult,
    StatusResult,
    StoreResult,
)

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["Batch", "BatchItem"]

T = TypeVar("T")
_UNSET: Any = object()


class BatchItem(Generic[T]):
    """The result of one batched call, available once the batch has run."""

    __slots__ = ("_error", "_value", "description")

    def __init__(self, description: str) -> None:
        self.description = description
        self._value: T = _UNSET
        self._error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self._error is not None or self._value is not _UNSET

    @property
    def error(self) -> BaseException | None:
        """The error the command failed with, if it did."""
        return self._error

    @property
    def value(self) -> T:
        """The result; raises the command's error if it failed."""
        if self._error is not None:
            raise self._error
        if self._value is _UNSET:
            raise UsageError(f"{self.description}: the batch has not run yet")
        return self._value

    def __repr__(self) -> str:
        state = "failed" if self._error else "done" if self.done else "pending"
        return f"<BatchItem {self.description} {state}>"


class Batch:
    """Commands queued by hand (see :meth:`Client.batch`)."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._ops: list[tuple[ops.Op[Any], BatchItem[Any]]] = []
        self._ran = False

    def _add(self, op: ops.Op[T], description: str) -> BatchItem[T]:
        if self._ran:
            raise UsageError("this batch has already run")
        item: BatchItem[T] = BatchItem(description)
        self._ops.append((op, item))
        return item

    # --- the commands ------------------------------------------------------------------------

    def fetch(
        self, messages: ops.MessagesArg, items: ops.FetchItemsArg = ("FLAGS",)
    ) -> BatchItem[list[FetchedMessage]]:
        return self._add(self._client._fetch_op(messages, items), "FETCH")

    def store(
        self,
        messages: ops.MessagesArg,
        flags: ops.FlagsArg,
        *,
        action: ops.StoreAction = "add",
        silent: bool = True,
        unchanged_since: int | None = None,
    ) -> BatchItem[StoreResult]:
        op = self._client._store_op(messages, flags, action, silent, unchanged_since)
        return self._add(op, "STORE")

    def search(
        self,
        criteria: SearchKey = ALL,
        *,
        uid: bool = True,
        return_options: Sequence[str] | None = None,
    ) -> BatchItem[SearchResult]:
        return self._add(self._client._search_op(criteria, uid, return_options), "SEARCH")

    def copy(self, messages: ops.MessagesArg, mailbox: str) -> BatchItem[CopyResult | None]:
        return self._add(self._client._copy_op(messages, mailbox, False), "COPY")

    def move(self, messages: ops.MessagesArg, mailbox: str) -> BatchItem[CopyResult | None]:
        return self._add(self._client._copy_op(messages, mailbox, True), "MOVE")

    def select(
        self, mailbox: str, *, readonly: bool = False, condstore: bool = False
    ) -> BatchItem[SelectResult]:
        return self._add(ops.select_op(mailbox, readonly, condstore, None), "SELECT")

    def status(
        self, mailbox: str, items: Sequence[str] = ("MESSAGES", "UIDNEXT")
    ) -> BatchItem[StatusResult]:
        return self._add(ops.status_op(mailbox, items), "STATUS")

    def append(
        self, mailbox: str, message: bytes | c.AppendMessage, *, flags: Iterable[str | Flag] = ()
    ) -> BatchItem[AppendResult]:
        msg = ops.as_append_message(message, flags)
        return self._add(ops.append_op(mailbox, [(msg,)]), "APPEND")

    def expunge(self) -> BatchItem[None]:
        return self._add(ops.simple_op(c.Expunge()), "EXPUNGE")

    def uid_expunge(self, uids: ops.MessagesArg) -> BatchItem[None]:
        client = self._client
        op = ops.uid_expunge_op(ops.as_message_set(uids), client._max_line(), client._options())
        return self._add(op, "UID EXPUNGE")

    def noop(self) -> BatchItem[None]:
        return self._add(ops.noop_op(), "NOOP")

    def create(self, mailbox: str) -> BatchItem[None]:
        return self._add(ops.simple_op(c.Create(mailbox)), "CREATE")

    def command(self, command: c.Command) -> BatchItem[ops.Done]:
        """Any protocol command object; the item holds its raw outcomes."""
        return self._add(ops.Op((command,), lambda d: d[0]), command.name)

    # --- running ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Submit the whole batch (ConflictError before anything is written),
        then wait for every command; raise the first failure at the end."""
        if self._ran:
            return
        self._ran = True
        commands = [cmd for op, _ in self._ops for cmd in op.commands]
        conn = self._client._conn
        handles = conn.submit_batch(commands) if commands else []
        first_error: BaseException | None = None
        try:
            i = 0
            for op, item in self._ops:
                mine: list[CommandHandle] = handles[i : i + len(op.commands)]
                i += len(op.commands)
                try:
                    done = [await self._client._collect(h) for h in mine]
                    item._value = op.convert(done)
                except Exception as exc:
                    item._error = exc
                    first_error = first_error or exc
        finally:
            for h in handles:
                h.cancel()
        if first_error is not None:
            raise first_error
