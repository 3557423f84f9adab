"""Message sets: :class:`SeqSet` (sequence numbers) and :class:`UIDSet` (UIDs).

Theory of operation: a set is held as a tuple of disjoint, sorted, non-adjacent
closed ranges ``(lo, hi)``.  ``*`` ("the largest number in use", RFC 9051
section 9, ``seq-number``) is held as :data:`STAR_VALUE`, one more than the
largest legal number, so that ``5:*`` sorts and merges like any other range.
That merge is exact: numbers above the largest one in use name no message, so
``1:3,4:*`` and ``1:*`` select the same messages whatever ``*`` is.

The two classes share a private base but are never interchangeable: they
compare unequal, refuse to be united, and mypy tells them apart, so a UID set
can never be sent as sequence numbers.  ``$`` (RFC 5182 SEARCHRES) is not a set
at all but a :class:`LastSearch` marker that commands accept where a set goes.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import ClassVar, Final, TypeVar

from ..errors import InvalidArgumentError
from ._types import UID, SeqNum

__all__ = [
    "LAST_SEARCH_SEQ",
    "LAST_SEARCH_UID",
    "STAR",
    "LastSearch",
    "SeqSet",
    "Star",
    "UIDSet",
    "parse_ranges",
]

NZ_MAX: Final = 0xFFFFFFFF
STAR_VALUE: Final = NZ_MAX + 1  # internal stand-in for "*", above every real number

_SetT = TypeVar("_SetT", bound="_MessageSet")
_Range = tuple[int, int]

_ELEMENT_RE: Final = re.compile(rb"(\*|[1-9][0-9]{0,9})(?::(\*|[1-9][0-9]{0,9}))?\Z")


class Star:
    """The ``*`` of a sequence set: the largest number in use."""

    __slots__ = ()
    _instance: ClassVar[Star | None] = None

    def __new__(cls) -> Star:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "STAR"

    def __reduce__(self) -> str:
        return "STAR"


STAR: Final = Star()


@dataclass(frozen=True, slots=True)
class LastSearch:
    """``$``: the result saved by ``SEARCH RETURN (SAVE)`` (RFC 5182).

    ``uid`` says whether the command that uses it is a UID command (``UID
    FETCH $``) or not (``FETCH $``); use :data:`LAST_SEARCH_UID` or
    :data:`LAST_SEARCH_SEQ`.  The server adjusts ``$`` on expunge, so it does
    not count as a sequence-number argument for the pipelining rules.
    """

    uid: bool

    def to_bytes(self) -> bytes:
        return b"$"

    def __str__(self) -> str:
        return "$"


LAST_SEARCH_UID: Final = LastSearch(uid=True)
LAST_SEARCH_SEQ: Final = LastSearch(uid=False)


def _check_number(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(f"a message number must be an int, not {type(value).__name__}")
    if not 1 <= value <= NZ_MAX:
        raise InvalidArgumentError(f"a message number must be in 1..{NZ_MAX}, not {value!r}")
    return int(value)


def _bound(value: int | Star) -> int:
    if isinstance(value, Star):
        return STAR_VALUE
    return _check_number(value)


def _normalize(ranges: Iterable[_Range]) -> tuple[_Range, ...]:
    merged: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            if hi > merged[-1][1]:
                merged[-1][1] = hi
        else:
            merged.append([lo, hi])
    return tuple((lo, hi) for lo, hi in merged)


def _fmt(value: int) -> str:
    return "*" if value == STAR_VALUE else str(value)


def _fmt_range(lo: int, hi: int) -> str:
    return _fmt(lo) if lo == hi else f"{_fmt(lo)}:{_fmt(hi)}"


def parse_ranges(text: bytes | str) -> tuple[tuple[int | Star, int | Star], ...]:
    """Parse a ``sequence-set`` (RFC 9051 section 9) keeping its order and duplicates.

    Each element is returned as written, ``(lo, hi)`` (``(n, n)`` for a single
    number), with ``*`` as :data:`STAR`.  This is what COPYUID's paired UID sets
    need (RFC 4315 section 3: their order matters); for a set, use
    :meth:`UIDSet.parse`.  Raises :class:`ValueError`.
    """
    if isinstance(text, str):
        try:
            data = text.encode("ascii")
        except UnicodeEncodeError:
            raise InvalidArgumentError(f"not a sequence set: {text!r}") from None
    elif isinstance(text, (bytes, bytearray, memoryview)):
        data = bytes(text)
    else:
        raise InvalidArgumentError(f"a sequence set is parsed from bytes or str, not {text!r}")
    if not data:
        raise InvalidArgumentError("empty sequence set")
    out: list[tuple[int | Star, int | Star]] = []
    for part in data.split(b","):
        m = _ELEMENT_RE.match(part)
        if m is None:
            raise InvalidArgumentError(f"not a sequence set: {data[:64]!r}")
        ends: list[int | Star] = []
        for g in m.groups():
            if g is None:
                continue
            if g == b"*":
                ends.append(STAR)
            else:
                n = int(g)
                if n > NZ_MAX:
                    raise InvalidArgumentError(f"number {n} in sequence set exceeds {NZ_MAX}")
                ends.append(n)
        out.append((ends[0], ends[-1]))
    return tuple(out)


class _MessageSet:
    """Shared implementation of :class:`SeqSet` and :class:`UIDSet` (private)."""

    __slots__ = ("_ranges",)
    _ranges: tuple[_Range, ...]
    _kind: ClassVar[str] = "message"

    def __init__(self, *items: int | range | Star | Iterable[int]) -> None:
        """Build a set from numbers, ``range`` objects, :data:`STAR`,
        iterables of numbers, or sets of the same class.  Empty sets are refused
        (the grammar has none)."""
        ranges: list[_Range] = []
        for item in items:
            if isinstance(item, _MessageSet):
                if type(item) is not type(self):
                    raise InvalidArgumentError(
                        f"cannot build a {type(self).__name__} from a {type(item).__name__}"
                    )
                ranges.extend(item._ranges)
            elif isinstance(item, Star):
                ranges.append((STAR_VALUE, STAR_VALUE))
            elif isinstance(item, range) and item.step == 1:
                if len(item):
                    ranges.append((_check_number(item.start), _check_number(item.stop - 1)))
            elif isinstance(item, int):
                n = _check_number(item)
                ranges.append((n, n))
            elif isinstance(item, (str, bytes)):
                raise InvalidArgumentError(
                    f"use {type(self).__name__}.parse() to read a set from text"
                )
            else:
                try:
                    iterator = iter(item)
                except TypeError:
                    raise InvalidArgumentError(
                        f"cannot build a message set from {type(item).__name__}"
                    ) from None
                for n in iterator:
                    n = _check_number(n)
                    ranges.append((n, n))
        normalized = _normalize(ranges)
        if not normalized:
            raise InvalidArgumentError(f"a {self._kind} set cannot be empty")
        object.__setattr__(self, "_ranges", normalized)

    # --- construction ---------------------------------------------------------

    @classmethod
    def _from_ranges(cls: type[_SetT], ranges: Iterable[_Range]) -> _SetT:
        obj = cls.__new__(cls)
        normalized = _normalize(ranges)
        if not normalized:
            raise InvalidArgumentError(f"a {cls._kind} set cannot be empty")
        object.__setattr__(obj, "_ranges", normalized)
        return obj

    @classmethod
    def span(cls: type[_SetT], lo: int | Star, hi: int | Star) -> _SetT:
        """The range ``lo:hi`` (either end may be :data:`STAR`; order does not matter)."""
        a, b = _bound(lo), _bound(hi)
        return cls._from_ranges([(min(a, b), max(a, b))])

    @classmethod
    def all(cls: type[_SetT]) -> _SetT:
        """``1:*``, every message."""
        return cls._from_ranges([(1, STAR_VALUE)])

    @classmethod
    def parse(cls: type[_SetT], text: bytes | str) -> _SetT:
        """Parse a ``sequence-set`` such as ``1:3,5,7:*`` (RFC 9051 section 9).

        Raises :class:`ValueError` (:class:`~pipeimap.errors.InvalidArgumentError`)
        on anything else, on 0, and on numbers above 4294967295.  ``$`` is not a
        set: it is :class:`LastSearch`.
        """
        ranges = []
        for lo, hi in parse_ranges(text):
            a, b = _bound(lo), _bound(hi)
            ranges.append((min(a, b), max(a, b)))
        return cls._from_ranges(ranges)

    # --- immutability, equality -----------------------------------------------

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _MessageSet)
        return self._ranges == other._ranges

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._ranges))

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (type(self).parse, (str(self),))

    def __repr__(self) -> str:
        return f"{type(self).__name__}.parse({str(self)!r})"

    # --- inspection -------------------------------------------------------------

    @property
    def ranges(self) -> tuple[tuple[int | Star, int | Star], ...]:
        """The canonical ranges, sorted and merged; ``*`` appears as :data:`STAR`."""
        return tuple(
            (STAR if lo == STAR_VALUE else lo, STAR if hi == STAR_VALUE else hi)
            for lo, hi in self._ranges
        )

    @property
    def has_star(self) -> bool:
        """True when the set mentions ``*`` (its extent depends on the mailbox)."""
        return self._ranges[-1][1] == STAR_VALUE

    @property
    def is_bounded(self) -> bool:
        """True when the set is a fixed list of numbers (no ``*``)."""
        return not self.has_star

    @property
    def min(self) -> int:
        """The smallest number named (``*`` alone gives 4294967296, meaning unknown)."""
        return self._ranges[0][0]

    @property
    def max(self) -> int | Star:
        """The largest number named, or :data:`STAR`."""
        hi = self._ranges[-1][1]
        return STAR if hi == STAR_VALUE else hi

    def _require_bounded(self, what: str) -> None:
        if self.has_star:
            raise InvalidArgumentError(
                f"{what} of {type(self).__name__} {self} needs the mailbox's largest number; "
                "call resolve(largest) first"
            )

    def count(self) -> int:
        """How many numbers the set names; only for bounded sets."""
        self._require_bounded("count")
        return sum(hi - lo + 1 for lo, hi in self._ranges)

    def __len__(self) -> int:
        return self.count()

    def __bool__(self) -> bool:
        return True  # never empty

    def __contains__(self, number: object) -> bool:
        if isinstance(number, bool) or not isinstance(number, int):
            return False
        if self.has_star:
            # A number inside a bounded range is in whatever "*" is; otherwise
            # the answer depends on the mailbox.
            if any(lo <= number <= hi for lo, hi in self._ranges if hi != STAR_VALUE):
                return True
            self._require_bounded("membership")
        return self._contains_resolved(self._ranges, number)

    @staticmethod
    def _contains_resolved(ranges: tuple[_Range, ...], number: int) -> bool:
        # Ranges are sorted and disjoint: the candidate is the last one starting <= number.
        i = bisect.bisect_right(ranges, (number, STAR_VALUE + 1)) - 1
        return i >= 0 and ranges[i][0] <= number <= ranges[i][1]

    def contains(self, number: int, largest: int | None = None) -> bool:
        """Membership; ``largest`` (the number ``*`` stands for) is needed for
        sets with ``*``.  ``largest=0`` means an empty mailbox."""
        if largest is None:
            return number in self
        if largest == 0:
            return False
        largest = _check_number(largest)
        # What ``number in self.resolve(largest)`` answers (the union of the
        # resolved ranges), without building the set: the router asks this for
        # every FETCH line of ``1:*``, with ``largest`` growing as UIDs arrive.
        for lo, hi in self._ranges:
            if lo == STAR_VALUE:
                lo = largest
            if hi == STAR_VALUE:
                hi = largest
            if lo <= number <= hi or hi <= number <= lo:
                return True
        return False

    def resolve(self: _SetT, largest: int) -> _SetT:
        """The bounded set obtained by reading ``*`` as ``largest``.

        ``n:*`` means ``n:largest`` or ``largest:n`` (RFC 9051 section 9), so
        ``7:*`` with ``largest=4`` is ``4:7``.  The result is exact for the
        numbers 1..largest, the only ones that name messages; above that, the
        canonical merge (``1:2,1:*`` is ``1:*``) may differ from the text.
        """
        largest = _check_number(largest)
        ranges = []
        for lo, hi in self._ranges:
            lo2 = largest if lo == STAR_VALUE else lo
            hi2 = largest if hi == STAR_VALUE else hi
            ranges.append((min(lo2, hi2), max(lo2, hi2)))
        return type(self)._from_ranges(ranges)

    def _iter_ints(self) -> Iterator[int]:
        self._require_bounded("iteration")
        for lo, hi in self._ranges:
            yield from range(lo, hi + 1)

    # --- algebra -----------------------------------------------------------------

    def union(self: _SetT, *others: _SetT) -> _SetT:
        ranges = list(self._ranges)
        for other in others:
            if type(other) is not type(self):
                raise InvalidArgumentError(
                    f"cannot unite a {type(self).__name__} with a {type(other).__name__}"
                )
            ranges.extend(other._ranges)
        return type(self)._from_ranges(ranges)

    def __or__(self: _SetT, other: _SetT) -> _SetT:
        if type(other) is not type(self):
            return NotImplemented
        return self.union(other)

    def issubset_bounded(self: _SetT, other: _SetT) -> bool:
        """True when every number of this bounded set is in ``other`` (bounded)."""
        self._require_bounded("subset test")
        other._require_bounded("subset test")
        return all(any(a <= lo and hi <= b for a, b in other._ranges) for lo, hi in self._ranges)

    # --- encoding -----------------------------------------------------------------

    def __str__(self) -> str:
        return ",".join(_fmt_range(lo, hi) for lo, hi in self._ranges)

    def to_bytes(self) -> bytes:
        """The canonical, compressed ``sequence-set``: ``1:3,5,7:*``."""
        return str(self).encode("ascii")

    def split(self: _SetT, max_bytes: int) -> tuple[_SetT, ...]:
        """Split into sets whose encodings are each at most ``max_bytes`` long.

        Used to keep command lines under a server's limit (RFC 2683 section
        3.2.1.5; RFC 7162 section 4 asks servers to accept 8192-octet lines).
        The parts are disjoint, in ascending order, and unite to this set.
        Raises :class:`~pipeimap.errors.InvalidArgumentError` if one range
        alone is longer than ``max_bytes``.
        """
        parts: list[list[_Range]] = []
        current: list[_Range] = []
        size = 0
        for lo, hi in self._ranges:
            text_len = len(_fmt_range(lo, hi))
            if text_len > max_bytes:
                raise InvalidArgumentError(
                    f"budget of {max_bytes} bytes is too small for {_fmt_range(lo, hi)}"
                )
            added = text_len + (1 if current else 0)
            if current and size + added > max_bytes:
                parts.append(current)
                current, size = [], 0
                added = text_len
            current.append((lo, hi))
            size += added
        if current:
            parts.append(current)
        return tuple(type(self)._from_ranges(p) for p in parts)


class SeqSet(_MessageSet):
    """A set of message sequence numbers (RFC 9051 section 2.3.1.2).

    Immutable; ``SeqSet(1, 2, 3, range(7, 10))`` is ``1:3,7:9``; ``SeqSet.parse("5:*")``;
    ``SeqSet.all()``.  Iterating yields :class:`~pipeimap.protocol.SeqNum` and
    fails for sets with ``*``.
    """

    __slots__ = ()
    _kind: ClassVar[str] = "sequence number"

    def __iter__(self) -> Iterator[SeqNum]:
        return map(SeqNum, self._iter_ints())


class UIDSet(_MessageSet):
    """A set of message UIDs (RFC 9051 section 2.3.1.1).

    Immutable; ``UIDSet(10, 11, 12)`` is ``10:12``; ``UIDSet.parse("1:*")``.
    Iterating yields :class:`~pipeimap.protocol.UID` and fails for sets with ``*``.
    """

    __slots__ = ()
    _kind: ClassVar[str] = "UID"

    def __iter__(self) -> Iterator[UID]:
        return map(UID, self._iter_ints())
