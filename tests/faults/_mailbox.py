"""The small mailbox every fault test works on: a few dozen varied messages,
three of them big (150-520 KB): their literals span many reads, and the two
above the parser's stream threshold (256 KiB) reach the store in pieces."""

from __future__ import annotations

from datetime import timedelta

from pipeimap.protocol import AppendMessage, Flag
from tests.jobs._mirror_helpers import BASE_DATE, FLAG_CYCLE, sample

from ._harness import SCALE

#: index -> body size of the big messages
BIG = {3: 150_000, 9: 280_000, 14: 520_000}


def messages(count: int = 18, *, start: int = 0) -> list[AppendMessage]:
    """``count * SCALE`` messages numbered from ``start``."""
    out = []
    for i in range(start, start + count * SCALE):
        size = BIG.get(i % 18, 0) if i < 18 * SCALE else 0
        out.append(
            AppendMessage(
                sample(i, size=size),
                tuple(Flag(f) for f in FLAG_CYCLE[i % len(FLAG_CYCLE)]),
                BASE_DATE + timedelta(days=i, seconds=i),
            )
        )
    return out
