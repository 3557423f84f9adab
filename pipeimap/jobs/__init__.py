"""pipeimap.jobs -- archive, sync and import, written only against the public Client.

Each job takes a :class:`ServerSpec` (where to connect), local paths, and an
optional :class:`Progress`; it keeps its progress in an embedded SQLite state
file so that a killed or failed run resumes without losing or duplicating a
message.
"""

from __future__ import annotations

from ._progress import NullProgress, Progress, RecordingProgress
from ._retry import Backoff, RetryPolicy, classify, retrying
from ._server import ServerSpec

__all__ = [
    "Backoff",
    "NullProgress",
    "Progress",
    "RecordingProgress",
    "RetryPolicy",
    "ServerSpec",
    "classify",
    "retrying",
]
