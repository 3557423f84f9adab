"""pipeimap.protocol -- the sans-IO IMAP protocol core.

Takes bytes and returns typed events (the response parser); takes command
objects and returns wire fragments (the command serializer).  It imports no
async library and does no I/O, which is what makes it exhaustively testable.
"""

from __future__ import annotations

from ._types import UID, Flag, ModSeq, Secret, SeqNum

__all__ = ["UID", "Flag", "ModSeq", "Secret", "SeqNum"]
