"""pipeimap.jobs -- archive, sync and import, written only against the public Client.

Each job takes a :class:`ServerSpec` (where to connect), local paths, and an
optional :class:`Progress`; it keeps its progress in an embedded SQLite state
file so that a killed or failed run resumes without losing or duplicating a
message.
"""

from __future__ import annotations

from ._archive import ArchiveReport, MailboxArchiveReport, archive
from ._import import ImportFailure, ImportReport, SourceFormat, import_mail
from ._jobcommon import STATE_FILE_NAME, Format, UidValidityRule, Verification
from ._progress import NullProgress, Progress, RecordingProgress
from ._retry import Backoff, RetryPolicy, classify, retrying
from ._server import ServerSpec
from ._sync import MailboxSyncReport, SyncMode, SyncReport, sync

__all__ = [
    "STATE_FILE_NAME",
    "ArchiveReport",
    "Backoff",
    "Format",
    "ImportFailure",
    "ImportReport",
    "MailboxArchiveReport",
    "MailboxSyncReport",
    "NullProgress",
    "Progress",
    "RecordingProgress",
    "RetryPolicy",
    "ServerSpec",
    "SourceFormat",
    "SyncMode",
    "SyncReport",
    "UidValidityRule",
    "Verification",
    "archive",
    "classify",
    "import_mail",
    "retrying",
    "sync",
]
