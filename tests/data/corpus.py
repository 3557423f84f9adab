"""Known-answer corpus of server responses: loader and a framing helper.

The corpus lives beside this module:

* ``rfc_responses/rfcNNNN.txt`` -- every server example (``S:`` lines) of the IMAP
  RFCs, in RFC order.
* ``quirks/<server>.txt`` -- raw bytes that real servers sent, each block naming the
  issue tracker thread it was taken from.

File format (one file holds many blocks):

* Blocks are separated by one or more blank lines.
* A block starts with a header line ``# <source>`` (for the RFC files
  ``# rfcNNNN section X.Y.Z: short description``).
* Further ``# ...`` lines directly after the header are notes (for example
  ``# note: literal count adjusted``); they are not part of the wire data.
* Every following line is one line of server output without its CRLF; the CRLF is
  implied at the end of each line, so ``data`` is the lines joined with CRLF plus a
  final CRLF.  Trailing spaces are significant (e.g. ``+ `` continuations, a SEARCH
  line ending in a space): do not let an editor strip them.
* A blank line outside a literal always ends the block, so wire data with an empty
  line outside a literal cannot be written in this format.
* A line ending in a literal announcement ``{n}`` (also ``{n+}`` and the RFC 3516
  ``~{n}``) is followed by exactly ``n`` octets of literal data, counting each line
  end inside the literal as 2 octets.  Literal lines may be blank or start with ``#``;
  the loader consumes them by count, so a wrong count shows up as a framing error.

This module is test data plumbing and deliberately independent of the parser under
test: it knows only the literal framing rule of RFC 9051 section 4.3.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
RFC_DIR = DATA_DIR / "rfc_responses"
QUIRKS_DIR = DATA_DIR / "quirks"

# A literal announcement at the end of a line: "{n}", "{n+}" or the literal8 "~{n}".
_LITERAL_RE = re.compile(rb"~?\{(\d+)\+?\}$")


class CorpusFormatError(ValueError):
    """A corpus file does not follow the format described in the module docstring."""


@dataclass(frozen=True, slots=True)
class CorpusBlock:
    """One example: a header naming its source, and the raw server lines."""

    source: str
    lines: list[bytes]
    data: bytes
    notes: tuple[str, ...] = ()
    path: str = ""
    line_number: int = 0

    @property
    def id(self) -> str:
        """A short identifier usable as a pytest id."""
        return f"{Path(self.path).name}:{self.line_number}"


def _literal_size(line: bytes) -> int | None:
    match = _LITERAL_RE.search(line)
    return int(match.group(1)) if match else None


def load_blocks(path: str | Path) -> list[CorpusBlock]:
    """Read one corpus file and return its blocks in file order."""
    path = Path(path)
    raw_lines = path.read_bytes().split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    # CRLF is implied; tolerate a file saved with CRLF line ends.
    raw_lines = [ln[:-1] if ln.endswith(b"\r") else ln for ln in raw_lines]

    blocks: list[CorpusBlock] = []
    i = 0
    n = len(raw_lines)
    while i < n:
        line = raw_lines[i]
        if line.strip() == b"":
            i += 1
            continue
        if not line.startswith(b"# "):
            raise CorpusFormatError(f"{path}:{i + 1}: block must start with '# ': {line!r}")
        header_line = i + 1
        source = line[2:].decode("utf-8").strip()
        i += 1
        notes: list[str] = []
        while i < n and raw_lines[i].startswith(b"#"):
            notes.append(raw_lines[i].lstrip(b"#").strip().decode("utf-8"))
            i += 1
        body: list[bytes] = []
        pending = 0  # literal octets still to consume
        while i < n:
            line = raw_lines[i]
            if pending == 0 and line.strip() == b"":
                break
            body.append(line)
            i += 1
            rest = line
            if pending:
                if pending >= len(line) + 2:
                    pending -= len(line) + 2
                    continue
                if pending == len(line) + 1:
                    raise CorpusFormatError(
                        f"{path}:{i}: literal ends between CR and LF (count off by one?)"
                    )
                rest = line[pending:]
                pending = 0
            # The non-literal remainder of the line may announce a literal.
            size = _literal_size(rest)
            if size is not None:
                pending = size
        if pending:
            raise CorpusFormatError(
                f"{path}:{header_line}: literal runs past the end of the block "
                f"({pending} octets missing)"
            )
        if not body:
            raise CorpusFormatError(f"{path}:{header_line}: block has no server lines")
        data = b"\r\n".join(body) + b"\r\n"
        blocks.append(
            CorpusBlock(
                source=source,
                lines=body,
                data=data,
                notes=tuple(notes),
                path=str(path),
                line_number=header_line,
            )
        )
    return blocks


def _load_dir(directory: Path) -> list[CorpusBlock]:
    blocks: list[CorpusBlock] = []
    for path in sorted(directory.glob("*.txt")):
        blocks.extend(load_blocks(path))
    return blocks


def all_rfc_blocks() -> list[CorpusBlock]:
    """Every block of every ``rfc_responses/*.txt`` file."""
    return _load_dir(RFC_DIR)


def all_quirk_blocks() -> list[CorpusBlock]:
    """Every block of every ``quirks/*.txt`` file."""
    return _load_dir(QUIRKS_DIR)


@dataclass(frozen=True, slots=True)
class FramedResponse:
    """One complete server response cut out of a block's wire bytes.

    ``raw`` includes the final CRLF.  ``text_parts`` are the non-literal pieces
    (line text between literals, without CRLF) and ``literals`` the literal payloads,
    so ``text_parts[0] + literals[0] + text_parts[1] + ...`` rebuilds the response
    minus the CRLFs that follow each announcement and end the response.
    """

    raw: bytes
    text_parts: list[bytes] = field(default_factory=list)
    literals: list[bytes] = field(default_factory=list)


def split_responses(data: bytes) -> list[FramedResponse]:
    """Cut wire bytes into complete responses, following literal announcements.

    Raises :class:`CorpusFormatError` if a line is not CRLF-terminated or a literal
    runs past the end of ``data``.
    """
    responses: list[FramedResponse] = []
    pos = 0
    end = len(data)
    while pos < end:
        start = pos
        text_parts: list[bytes] = []
        literals: list[bytes] = []
        while True:
            eol = data.find(b"\r\n", pos)
            if eol < 0:
                raise CorpusFormatError(f"unterminated line at offset {pos}")
            text = data[pos:eol]
            text_parts.append(text)
            pos = eol + 2
            size = _literal_size(text)
            if size is None:
                break
            if pos + size > end:
                raise CorpusFormatError(
                    f"literal of {size} octets at offset {pos} runs past the end ({end - pos} left)"
                )
            literals.append(data[pos : pos + size])
            pos += size
        responses.append(
            FramedResponse(raw=data[start:pos], text_parts=text_parts, literals=literals)
        )
    return responses
