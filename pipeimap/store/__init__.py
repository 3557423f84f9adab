"""pipeimap.store -- the local side: Maildir, mbox and .eml stores, the job state
DB, and the readers of local mail for import.

Synchronous, plain file I/O and SQLite: the jobs call it from worker threads
(``anyio.to_thread.run_sync``) so disk writes overlap the network.  It imports
no async library and does no network I/O.  See ``docs/store.md``.
"""

from __future__ import annotations

from ._common import (
    ChunkSource,
    LocalKey,
    MessageStore,
    MessageWriter,
    RecoveryReport,
    StoredMessage,
    message_name,
    normalize_flags,
)
from ._eml import EmlStore
from ._maildir import MaildirStore, flags_from_info, info_from_flags
from ._mbox import MboxStore
from ._sources import SourceMessage, iter_eml_folder, iter_maildir, iter_mbox, normalize_crlf
from ._state import SCHEMA_VERSION, JobState, JournalEntry, MailboxState, MessageRecord

__all__ = [
    "SCHEMA_VERSION",
    "ChunkSource",
    "EmlStore",
    "JobState",
    "JournalEntry",
    "LocalKey",
    "MailboxState",
    "MaildirStore",
    "MboxStore",
    "MessageRecord",
    "MessageStore",
    "MessageWriter",
    "RecoveryReport",
    "SourceMessage",
    "StoredMessage",
    "flags_from_info",
    "info_from_flags",
    "iter_eml_folder",
    "iter_maildir",
    "iter_mbox",
    "message_name",
    "normalize_crlf",
    "normalize_flags",
]
