"""SeqSet and UIDSet: parse, build, compress, split (RFC 9051 section 9, RFC 2683 section 3.2.1.5)."""

from __future__ import annotations

import itertools
import pickle
from typing import cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeimap.errors import InvalidArgumentError
from pipeimap.protocol import UID, SeqNum
from pipeimap.protocol._seqset import (
    LAST_SEARCH_SEQ,
    LAST_SEARCH_UID,
    STAR,
    LastSearch,
    SeqSet,
    UIDSet,
    parse_ranges,
)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("1", "1"),
        ("1:3,5,7:9", "1:3,5,7:9"),
        ("9,8,7,5,3,2,1,2,3", "1:3,5,7:9"),
        ("3:1", "1:3"),
        ("1:3,4:6", "1:6"),
        ("1:*", "1:*"),
        ("*:1", "1:*"),
        ("*", "*"),
        ("5,*", "5,*"),
        ("2:4,3:10,*", "2:10,*"),
        ("1:3,4:*", "1:*"),
        ("4294967295", "4294967295"),
        ("4294967295,*", "4294967295:*"),
    ],
)
def test_parse_and_canonical_form(text: str, canonical: str) -> None:
    for cls in (SeqSet, UIDSet):
        s = cls.parse(text)
        assert str(s) == canonical
        assert s.to_bytes() == canonical.encode()
        assert cls.parse(text.encode()) == s


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "0",
        "1:0",
        "0:5",
        "4294967296",
        "1,,2",
        "1,",
        ",1",
        "1:2:3",
        " 1",
        "1 ",
        "$",
        "-1",
        "01",
        "1.5",
        "a",
        "1;2",
        "99999999999",
        "\uff11",
    ],
)
def test_parse_rejects(bad: str) -> None:
    for cls in (SeqSet, UIDSet):
        with pytest.raises(ValueError):  # noqa: PT011
            cls.parse(bad)


def test_construction() -> None:
    s = SeqSet(9, 8, 7, 1, 2, 3, 5, 3, range(2, 4))
    assert str(s) == "1:3,5,7:9"
    assert list(s) == [1, 2, 3, 5, 7, 8, 9]
    assert all(type(n) is SeqNum for n in s)
    assert all(type(n) is UID for n in UIDSet(4, 5))
    assert len(s) == 7
    assert str(UIDSet(range(10, 0, -2))) == "2,4,6,8,10"
    assert str(UIDSet([5, 6], {7})) == "5:7"
    assert str(UIDSet.span(5, STAR)) == "5:*"
    assert str(UIDSet.span(STAR, 5)) == "5:*"
    assert str(SeqSet.all()) == "1:*"
    assert str(SeqSet(STAR)) == "*"
    assert SeqSet(s) == s


@pytest.mark.parametrize("bad", [0, -1, 2**32, True, 1.0, "1", b"1", None])
def test_construction_rejects(bad: object) -> None:
    with pytest.raises(InvalidArgumentError):
        UIDSet(bad)  # type: ignore[arg-type]


def test_empty_is_refused() -> None:
    with pytest.raises(InvalidArgumentError):
        UIDSet()
    with pytest.raises(InvalidArgumentError):
        UIDSet([])
    with pytest.raises(InvalidArgumentError):
        UIDSet(range(5, 5))


def test_types_are_distinct() -> None:
    s, u = SeqSet(1), UIDSet(1)
    assert s != u
    assert not isinstance(cast(object, u), SeqSet)
    assert not isinstance(cast(object, s), UIDSet)
    with pytest.raises(TypeError):
        s | u  # type: ignore[operator]
    with pytest.raises(InvalidArgumentError):
        s.union(u)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        SeqSet(u)


def test_immutable_hashable_picklable() -> None:
    u = UIDSet.parse("1:3,7")
    with pytest.raises(AttributeError):
        u._ranges = ()
    assert hash(u) == hash(UIDSet(1, 2, 3, 7))
    assert pickle.loads(pickle.dumps(u)) == u
    assert repr(u) == "UIDSet.parse('1:3,7')"


def test_star_sets() -> None:
    u = UIDSet.parse("1:2,5:*")
    assert u.has_star
    assert not u.is_bounded
    assert u.max is STAR
    assert 1 in u  # inside a bounded range: known whatever "*" is
    with pytest.raises(InvalidArgumentError, match="largest"):
        _ = 6 in u
    with pytest.raises(InvalidArgumentError, match="largest"):
        list(u)
    with pytest.raises(InvalidArgumentError, match="largest"):
        len(u)
    assert u.contains(6, largest=10)
    assert not u.contains(11, largest=10)
    assert u.contains(3, largest=3)  # 5:* with * = 3 is 3:5
    assert not u.contains(1, largest=0)
    assert str(u.resolve(3)) == "1:5"
    assert str(u.resolve(100)) == "1:2,5:100"


def test_last_search_marker() -> None:
    assert LAST_SEARCH_UID.to_bytes() == b"$"
    assert LAST_SEARCH_UID.uid
    assert not LAST_SEARCH_SEQ.uid
    assert LastSearch(uid=True) == LAST_SEARCH_UID
    assert not isinstance(cast(object, LAST_SEARCH_UID), (SeqSet, UIDSet))


def test_parse_ranges_keeps_order() -> None:
    assert parse_ranges("5,3:1,*") == ((5, 5), (3, 1), (STAR, STAR))


def test_split_budget() -> None:
    u = UIDSet(range(1, 2000, 2))
    parts = u.split(50)
    assert all(len(p.to_bytes()) <= 50 for p in parts)
    assert parts[0].union(*parts[1:]) == u
    assert UIDSet(1).split(1) == (UIDSet(1),)
    with pytest.raises(InvalidArgumentError):
        UIDSet.parse("100000:200000").split(10)


_numbers = st.integers(1, 2**32 - 1)
_small = st.integers(1, 300)


@st.composite
def _sets(draw: st.DrawFn, cls: type[SeqSet] | type[UIDSet] = UIDSet) -> UIDSet:
    nums = draw(
        st.one_of(
            st.lists(_small, min_size=1, max_size=60), st.lists(_numbers, min_size=1, max_size=20)
        )
    )
    spans = draw(st.lists(st.tuples(_numbers, _numbers), max_size=5))
    s = UIDSet(nums)
    for a, b in spans:
        s = s | UIDSet.span(a, b)
    if draw(st.booleans()):
        s = s | UIDSet.span(draw(_numbers), STAR)
    return s


@given(_sets())
def test_canonical_form_is_a_fixed_point(s: UIDSet) -> None:
    assert UIDSet.parse(s.to_bytes()) == s
    assert UIDSet.parse(str(s)).to_bytes() == s.to_bytes()


@given(st.lists(_small, min_size=1, max_size=80))
def test_bounded_set_matches_python_set(nums: list[int]) -> None:
    s = SeqSet(nums)
    assert set(s) == set(nums)
    assert len(s) == len(set(nums))
    for n in range(1, 302):
        assert (n in s) == (n in set(nums))
    # Any order, any duplicates, same set.
    assert SeqSet(sorted(nums, reverse=True) + nums) == s


@given(_sets(), st.integers(21, 200))
def test_split_parts_union_back_and_fit(s: UIDSet, budget: int) -> None:
    parts = s.split(budget)
    assert parts
    assert all(len(p.to_bytes()) <= budget for p in parts)
    assert parts[0].union(*parts[1:]) == s
    # Disjoint and ascending.
    for a, b in itertools.pairwise(parts):
        assert a.ranges[-1][1] != STAR
        assert int(a.ranges[-1][1]) < b.min  # type: ignore[arg-type]


@given(_sets(), _sets())
def test_union_is_commutative_and_contains_both(a: UIDSet, b: UIDSet) -> None:
    u = a | b
    assert u == b | a
    ra, rb, ru = a.resolve(2**32 - 1), b.resolve(2**32 - 1), u.resolve(2**32 - 1)
    assert ra.issubset_bounded(ru)
    assert rb.issubset_bounded(ru)


@given(st.lists(_small, min_size=1, max_size=40), st.integers(1, 400))
def test_resolve_matches_definition(nums: list[int], largest: int) -> None:
    # n:* is n:largest or largest:n (RFC 9051 section 9).  Numbers above the
    # largest one in use name no message, so only 1..largest is compared (the
    # merge of "1:2,1:*" into "1:*" is exact there).
    lo = nums[0]
    s = UIDSet(nums[1:] or nums[0]) | UIDSet.span(lo, STAR)
    expected = set(nums[1:]) | set(range(min(lo, largest), max(lo, largest) + 1))
    existing = set(range(1, largest + 1))
    assert set(s.resolve(largest)) & existing == expected & existing


@given(_sets(), st.integers(1, 2**32 - 1), st.integers(1, 2**32 - 1))
def test_contains_with_largest_is_membership_of_the_resolved_set(
    s: UIDSet, number: int, largest: int
) -> None:
    resolved = s.resolve(largest)
    assert s.contains(number, largest) == (number in resolved)
    for n in (largest, max(1, largest - 1), min(largest + 1, 2**32 - 1)):
        assert s.contains(n, largest) == (n in resolved)
