"""Sanity checks of the known-answer corpus files themselves (not of the parser).

These tests make sure the corpus is well framed before any parser test relies on it:
every literal count matches its data, every block has a proper header, and each
response starts like a server response.  They use only ``tests.data.corpus``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.data.corpus import (
    QUIRKS_DIR,
    RFC_DIR,
    CorpusBlock,
    CorpusFormatError,
    FramedResponse,
    all_quirk_blocks,
    all_rfc_blocks,
    load_blocks,
    split_responses,
)

RFC_BLOCKS = all_rfc_blocks()
QUIRK_BLOCKS = all_quirk_blocks()

_RFC_HEADER_RE = re.compile(r"^rfc(\d{4}) section [A-Za-z0-9.]+: \S")
# A source citation such as "mjs/imapclient #351" or "go-imap PR #452" style
# "owner/repo #NNN" / "owner/repo PR #NNN" / "owner/repo issue #NNN".
_QUIRK_SOURCE_RE = re.compile(r"[\w.-]+/[\w.-]+ (?:PR |issue )?#\d+")
_TAG_RE = re.compile(rb"^[\x21-\x7e]+$")
_STATUS = {b"OK", b"NO", b"BAD"}
_UNTAGGED_STATUS = {b"OK", b"NO", b"BAD", b"BYE", b"PREAUTH"}


def _ids(blocks: list[CorpusBlock]) -> list[str]:
    return [b.id for b in blocks]


def _header_count(path: Path) -> int:
    """Block headers: '# ' lines at the start of the file or after a blank line."""
    count = 0
    previous_blank = True
    for line in path.read_bytes().split(b"\n"):
        line = line.rstrip(b"\r")
        if previous_blank and line.startswith(b"# "):
            count += 1
        previous_blank = line.strip() == b""
    return count


def _paren_depths_ok(text: bytes) -> bool:
    """True if parentheses outside quoted strings balance and never go negative."""
    depth = 0
    in_quote = False
    escaped = False
    for byte in text:
        ch = bytes([byte])
        if in_quote:
            if escaped:
                escaped = False
            elif ch == b"\\":
                escaped = True
            elif ch == b'"':
                in_quote = False
            continue
        if ch == b'"':
            in_quote = True
        elif ch == b"(":
            depth += 1
        elif ch == b")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0 and not in_quote


def _check_start(response: FramedResponse, *, strict: bool) -> None:
    first = response.text_parts[0]
    if first == b"+" or first.startswith(b"+ "):
        return
    words = first.split(b" ")
    assert len(words) >= 2, f"response too short: {first!r}"
    if words[0] == b"*":
        if strict and words[1].upper() not in _UNTAGGED_STATUS:
            # Untagged data: an atom or a number, e.g. "CAPABILITY", "12 FETCH".
            assert re.match(rb"^[A-Za-z0-9.=-]+$", words[1]), first
        return
    assert _TAG_RE.match(words[0]), f"bad tag in {first!r}"
    assert words[1].upper() in _STATUS, f"tagged response without OK/NO/BAD: {first!r}"


def test_corpus_directories_are_populated() -> None:
    assert sorted(p.name for p in RFC_DIR.glob("*.txt"))
    assert (RFC_DIR / "rfc3501.txt").is_file()
    assert (RFC_DIR / "rfc9051.txt").is_file()
    assert len(RFC_BLOCKS) > 100
    assert QUIRKS_DIR.is_dir()


@pytest.mark.parametrize(
    "path", sorted(RFC_DIR.glob("*.txt")) + sorted(QUIRKS_DIR.glob("*.txt")), ids=str
)
def test_every_header_starts_a_block(path: Path) -> None:
    # A literal with a wrong count would swallow a following blank line and header.
    blocks = load_blocks(path)
    assert blocks, f"{path} has no blocks"
    assert len(blocks) == _header_count(path)


@pytest.mark.parametrize("block", RFC_BLOCKS, ids=_ids(RFC_BLOCKS))
def test_rfc_block_header_names_its_rfc(block: CorpusBlock) -> None:
    match = _RFC_HEADER_RE.match(block.source)
    assert match, f"bad header {block.source!r}"
    assert Path(block.path).name == f"rfc{match.group(1)}.txt"


@pytest.mark.parametrize("block", QUIRK_BLOCKS, ids=_ids(QUIRK_BLOCKS))
def test_quirk_block_cites_its_source(block: CorpusBlock) -> None:
    assert _QUIRK_SOURCE_RE.search(block.source), f"no 'owner/repo #N' in {block.source!r}"


@pytest.mark.parametrize("block", RFC_BLOCKS + QUIRK_BLOCKS, ids=_ids(RFC_BLOCKS + QUIRK_BLOCKS))
def test_block_data_is_crlf_joined_lines(block: CorpusBlock) -> None:
    assert block.data == b"".join(line + b"\r\n" for line in block.lines)
    assert b"\n" not in b"".join(block.lines)


@pytest.mark.parametrize("block", RFC_BLOCKS, ids=_ids(RFC_BLOCKS))
def test_rfc_block_framing(block: CorpusBlock) -> None:
    responses = split_responses(block.data)
    assert b"".join(r.raw for r in responses) == block.data
    for response in responses:
        _check_start(response, strict=True)
        first = response.text_parts[0]
        words = first.split(b" ")
        is_data = words[0] == b"*" and words[1].upper() not in _UNTAGGED_STATUS
        if is_data:
            # Literal payloads are opaque; the text around them must balance, which
            # fails if a literal count is off and the framing slips.
            text = b"{}".join(response.text_parts)
            assert _paren_depths_ok(text), f"unbalanced parentheses: {response.raw!r}"


@pytest.mark.parametrize("block", QUIRK_BLOCKS, ids=_ids(QUIRK_BLOCKS))
def test_quirk_block_framing(block: CorpusBlock) -> None:
    # Quirk data is malformed on purpose, so only the literal framing is checked.
    responses = split_responses(block.data)
    assert b"".join(r.raw for r in responses) == block.data
    for response in responses:
        _check_start(response, strict=False)


# --- the loader itself -----------------------------------------------------------


def test_loader_follows_literals_across_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_bytes(
        b"# first\n"
        b"# note: something\n"
        b"* 1 FETCH (BODY[] {10}\n"
        b"a\n"
        b"\n"
        b"# b\n"
        b")\n"
        b"A1 OK done\n"
        b"\n"
        b"# second\n"
        b"* 2 FETCH (BODY[] {3}\n"
        b"abc UID 7)\n"
    )
    first, second = load_blocks(path)
    assert first.source == "first"
    assert first.notes == ("note: something",)
    assert first.data == b"* 1 FETCH (BODY[] {10}\r\na\r\n\r\n# b\r\n)\r\nA1 OK done\r\n"
    assert second.data == b"* 2 FETCH (BODY[] {3}\r\nabc UID 7)\r\n"
    framed = split_responses(first.data)
    assert [r.literals for r in framed] == [[b"a\r\n\r\n# b\r\n"], []]
    assert split_responses(second.data)[0].text_parts == [b"* 2 FETCH (BODY[] {3}", b" UID 7)"]


def test_loader_rejects_literal_running_past_block(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_bytes(b"# bad\n* 1 FETCH (BODY[] {50}\nabc)\n")
    with pytest.raises(CorpusFormatError, match="past the end"):
        load_blocks(path)


def test_loader_rejects_literal_ending_between_cr_and_lf(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_bytes(b"# bad\n* 1 FETCH (BODY[] {4}\nabc\n)\n")
    with pytest.raises(CorpusFormatError, match="between CR and LF"):
        load_blocks(path)


def test_split_responses_rejects_short_literal() -> None:
    with pytest.raises(CorpusFormatError):
        split_responses(b"* 1 FETCH (BODY[] {10}\r\nabc)\r\n")


def test_literal8_and_non_sync_announcements_are_followed() -> None:
    framed = split_responses(b"* 1 FETCH (BINARY[1] ~{3}\r\n\x00\x01\x02)\r\nA OK x\r\n")
    assert framed[0].literals == [b"\x00\x01\x02"]
    assert len(framed) == 2
