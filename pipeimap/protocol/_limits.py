"""Limits that keep the response parser's memory and work bounded under any input."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ParserLimits"]

# Converting parsed structure into typed values recurses once per nesting level;
# far below Python's default recursion limit of 1000.
_MAX_NESTING_CAP = 400


@dataclass(frozen=True, slots=True)
class ParserLimits:
    """Configurable bounds of :class:`~pipeimap.protocol.ResponseParser`.

    Crossing one raises :class:`~pipeimap.errors.LimitExceededError` (whose
    ``limit_name`` is the field name) as soon as it is detected, before the
    offending data is buffered.

    Attributes:
        max_line_length: bytes of response text (everything but literal
            contents) in one response.  Generous by default because a
            ``SEARCH`` of a big mailbox is one long line (imaplib's 10 kB
            ``_MAXLINE`` broke on those, quentinsf/IMAPdedup #12).
        max_literal_in_memory: largest literal that is assembled in memory --
            by the parser, and by the client's ``fetch()``/``fetch_all()``,
            which put streamed bodies back together (a larger announced body
            fails them at once; ``stream_bodies()`` takes any size).
        stream_threshold: a FETCH body literal (``BODY[...]``, ``BINARY[...]``,
            ``RFC822``, ``RFC822.HEADER``, ``RFC822.TEXT``) larger than this is
            streamed in chunks instead of assembled.
        max_literal_size: largest streamed literal accepted.
        max_nesting_depth: deepest parenthesis nesting accepted (at most 400).
        max_response_size: bytes held in memory for one response: its text plus
            every literal assembled in memory.
    """

    max_line_length: int = 8 * 1024 * 1024
    max_literal_in_memory: int = 32 * 1024 * 1024
    stream_threshold: int = 256 * 1024
    max_literal_size: int = 1 << 40
    max_nesting_depth: int = 64
    max_response_size: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        for name in (
            "max_line_length",
            "max_literal_in_memory",
            "stream_threshold",
            "max_literal_size",
            "max_nesting_depth",
            "max_response_size",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"ParserLimits.{name} must be a non-negative int, not {value!r}")
        if not 1 <= self.max_nesting_depth <= _MAX_NESTING_CAP:
            raise ValueError(f"ParserLimits.max_nesting_depth must be in 1..{_MAX_NESTING_CAP}")
        if self.max_line_length < 64:
            raise ValueError("ParserLimits.max_line_length must be at least 64")
