"""pipeimap: a Trio-first, typed, pipelining IMAP client for bulk mail work."""

from __future__ import annotations

from . import errors
from .errors import (
    CommandBadError,
    CommandError,
    CommandNoError,
    ConflictError,
    ConnectionLostError,
    IMAPTimeoutError,
    InvalidArgumentError,
    LimitExceededError,
    PipeimapError,
    PredecessorFailedError,
    ProtocolError,
    ResponseParseError,
    SaslError,
    UnexpectedResponseError,
    UsageError,
)
from .protocol import UID, Flag, ModSeq, Secret, SeqNum

__version__ = "0.1.0.dev0"

__all__ = [
    "UID",
    "CommandBadError",
    "CommandError",
    "CommandNoError",
    "ConflictError",
    "ConnectionLostError",
    "Flag",
    "IMAPTimeoutError",
    "InvalidArgumentError",
    "LimitExceededError",
    "ModSeq",
    "PipeimapError",
    "PredecessorFailedError",
    "ProtocolError",
    "ResponseParseError",
    "SaslError",
    "Secret",
    "SeqNum",
    "UnexpectedResponseError",
    "UsageError",
    "__version__",
    "errors",
]
