"""Response parser: helpers shared by the parser tests, and the RFC corpus run.

Every case goes through :func:`parse_all`, which feeds the bytes whole, one byte
at a time, in random splits and followed by the start of another response, and
checks that all ways give the same events (split invariance).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pytest

from pipeimap.errors import ResponseParseError
from pipeimap.protocol._limits import ParserLimits
from pipeimap.protocol._parser import ResponseParser
from pipeimap.protocol._responses import Event, FetchLiteralChunk
from tests.data.corpus import CorpusBlock, all_rfc_blocks


def feed_chunks(chunks: Sequence[bytes], *, eof: bool = True, **kwargs: Any) -> list[Event]:
    parser = ResponseParser(**kwargs)
    out: list[Event] = []
    for chunk in chunks:
        parser.feed(chunk)
        out.extend(parser.events())
        assert parser.buffered <= parser.limits.max_response_size + len(chunk) + 64
    if eof:
        parser.feed_eof()
        assert parser.next_event() is None
    return out


def merge_chunks(events: list[Event]) -> list[Event]:
    """Join consecutive literal chunks: how a literal is sliced depends on the split."""
    out: list[Event] = []
    for e in events:
        if isinstance(e, FetchLiteralChunk) and out and isinstance(out[-1], FetchLiteralChunk):
            out[-1] = FetchLiteralChunk(out[-1].data + e.data)
        else:
            out.append(e)
    return out


def splits(data: bytes, rng: random.Random) -> list[bytes]:
    out = []
    i = 0
    while i < len(data):
        n = rng.randint(1, 40)
        out.append(data[i : i + n])
        i += n
    return out


def parse_all(data: bytes, *, bytewise: bool = True, **kwargs: Any) -> list[Event]:
    """Parse ``data`` in several splits, check they agree, return the events."""
    kwargs.setdefault("expect_greeting", False)
    whole = merge_chunks(feed_chunks([data], **kwargs))
    if bytewise:
        one = merge_chunks(feed_chunks([data[i : i + 1] for i in range(len(data))], **kwargs))
        assert one == whole
    rng = random.Random(len(data))
    for _ in range(3):
        assert merge_chunks(feed_chunks(splits(data, rng), **kwargs)) == whole
    # with the beginning of another response behind it: same events, then nothing
    trailing = merge_chunks(feed_chunks([data + b"* 3 EXI"], eof=False, **kwargs))
    assert trailing == whole
    return whole


def parse_one(data: bytes, **kwargs: Any) -> Event:
    events = parse_all(data, **kwargs)
    assert len(events) == 1, events
    return events[0]


def parse_error(data: bytes, **kwargs: Any) -> ResponseParseError:
    kwargs.setdefault("expect_greeting", False)
    parser = ResponseParser(**kwargs)
    parser.feed(data)
    parser.feed_eof()
    with pytest.raises(ResponseParseError) as info:
        list(parser.events())
    return info.value


# Corpus blocks the parser refuses on purpose: their bytes are ambiguous.
_REFUSED = {
    # unescaped '"' inside quoted strings (MailKit #485, go-imap #659): a parser
    # cannot tell where such a string ends, so it must not guess.
    "unidentified.txt:1",
    "unidentified.txt:9",
}


def _rfc_ids(blocks: list[CorpusBlock]) -> list[str]:
    return [b.id for b in blocks]


RFC_BLOCKS = all_rfc_blocks()


@pytest.mark.parametrize("block", RFC_BLOCKS, ids=_rfc_ids(RFC_BLOCKS))
def test_rfc_corpus_parses_split_invariant(block: CorpusBlock) -> None:
    events = parse_all(block.data, bytewise=len(block.data) < 4000)
    assert events
    # small stream threshold: every body literal is streamed, same final shape
    small = parse_all(block.data, bytewise=False, limits=ParserLimits(stream_threshold=8))
    assert len(small) >= len(events)
