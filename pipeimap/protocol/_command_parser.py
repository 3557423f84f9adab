"""A strict server-side reader of client commands.

It exists for round-trip tests of the serializer and for the scripted
in-memory test server: bytes in, ``(tag, name, args)`` out, with ``args`` a
generic tree (:class:`Atom`, :class:`QuotedString`, :class:`Literal`,
:class:`ParenList`, :class:`SectionAtom`).  It is strict on purpose: bare LF,
NUL, unbalanced parentheses, 8-bit bytes outside literals (unless UTF-8 is
allowed), an unknown escape in a quoted string -- all raise
:class:`CommandParseError`, because a serializer that produces them is broken.

Theory of operation: :meth:`CommandReader.next_command` re-parses the pending
command from its first byte each time it is called (commands are short and
literal bodies are sliced, never scanned).  When it reaches a synchronizing
literal whose body has not arrived, it returns :class:`ContinuationNeeded`
once for that literal, so a scripted server can answer ``+``; later calls
return ``None`` until the rest has arrived.
"""

from __future__ import annotations

import base64
import datetime
import re
from dataclasses import dataclass, field
from typing import Final

from . import _commands as c
from . import _search
from ._mutf7 import decode_mutf7
from ._search import SearchKey
from ._seqset import LastSearch, SeqSet, UIDSet
from ._types import Flag, ModSeq, Secret

__all__ = [
    "Atom",
    "CommandParseError",
    "CommandReader",
    "ContinuationNeeded",
    "Literal",
    "Node",
    "ParenList",
    "ParsedCommand",
    "QuotedString",
    "SectionAtom",
    "decode_astring",
    "decode_flag_list",
    "decode_mailbox",
    "decode_nstring",
    "decode_seqset",
    "decode_string",
    "decode_uidset",
    "to_command",
]


class CommandParseError(ValueError):
    """A client command does not follow the grammar (server side; tests only)."""


@dataclass(frozen=True, slots=True)
class Atom:
    """An atom (also numbers, sequence sets, ``NIL``, ``\\Seen``, ``$``)."""

    value: str


@dataclass(frozen=True, slots=True)
class QuotedString:
    value: bytes


@dataclass(frozen=True, slots=True)
class Literal:
    value: bytes
    binary: bool = False  # literal8 (~{n})
    synchronizing: bool = True


@dataclass(frozen=True, slots=True)
class ParenList:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class SectionAtom:
    """``BODY.PEEK[section]<partial>``: the name, the items inside the brackets
    and the partial text (``"0.100"``) or ``None``."""

    name: str
    section: tuple[Node, ...]
    partial: str | None = None


Node = Atom | QuotedString | Literal | ParenList | SectionAtom


@dataclass(frozen=True, slots=True)
class ParsedCommand:
    tag: str
    name: str  # upper case; "UID FETCH" for UID commands
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class ContinuationNeeded:
    """The client wrote a synchronizing literal header and waits for ``+``."""

    tag: str
    size: int


# ATOM-CHAR plus list-wildcards and "]"; a leading "\\" makes a flag (RFC 9051 "flag").
_ATOM_CHARS: Final = re.compile(rb"\\?[!#$&'+-\[^-z|}~*%\]]+")
_SECTION_ATOM_CHARS: Final = re.compile(rb"[!#$&'+-Z^-z|}~*%]+")  # no brackets inside sections
_TAG_RE: Final = re.compile(rb"[!#$&',-\[\]^-z|}~]+")  # ASTRING-CHAR except "+"
_LITERAL_RE: Final = re.compile(rb"(~?)\{([0-9]{1,10})(\+?)\}\r\n")
_SECTION_NAMES: Final = frozenset(
    (b"BODY", b"BODY.PEEK", b"BINARY", b"BINARY.PEEK", b"BINARY.SIZE")
)
_PARTIAL_RE: Final = re.compile(rb"<([0-9]{1,10}(?:\.[0-9]{1,10})?)>")
_MAX_DEPTH: Final = 100  # parenthesis nesting (far below Python's recursion limit)


class _Incomplete(Exception):
    """More bytes are needed."""


class _NeedPlus(Exception):
    def __init__(self, offset: int, size: int) -> None:
        self.offset = offset
        self.size = size


@dataclass
class CommandReader:
    """Incremental reader: :meth:`feed` bytes, then call :meth:`next_command`
    until it returns ``None``.

    ``utf8``: accept 8-bit UTF-8 in quoted strings (UTF8=ACCEPT).
    ``max_line``: refuse command lines (excluding literals) longer than this.
    """

    utf8: bool = False
    max_line: int = 65536
    _buf: bytearray = field(default_factory=bytearray)
    _acked: set[int] = field(default_factory=set)

    def feed(self, data: bytes) -> None:
        self._buf += data

    @property
    def pending(self) -> bytes:
        return bytes(self._buf)

    def read_line(self) -> bytes | None:
        """Take one raw line (a SASL response, ``DONE``) without its CRLF, or ``None``."""
        end = self._buf.find(b"\r\n")
        if end < 0:
            return None
        line = bytes(self._buf[:end])
        del self._buf[: end + 2]
        self._acked.clear()
        return line

    def next_command(self) -> ParsedCommand | ContinuationNeeded | None:
        if not self._buf:
            return None
        p = _Parser(bytes(self._buf), self.utf8, self._acked, self.max_line)
        try:
            cmd = p.command()
        except _Incomplete:
            return None
        except _NeedPlus as np:
            self._acked.add(np.offset)
            return ContinuationNeeded(p.tag, np.size)
        del self._buf[: p.pos]
        self._acked.clear()
        return cmd


class _Parser:
    def __init__(self, data: bytes, utf8: bool, acked: set[int], max_line: int) -> None:
        self.data = data
        self.pos = 0
        self.utf8 = utf8
        self.acked = acked
        self.max_line = max_line
        self.line_start = 0
        self.tag = ""
        # Fetch sections exist only in FETCH; elsewhere "[" is an ordinary ATOM-CHAR,
        # and "BODY[" is a valid flag keyword (STORE +FLAGS (BODY[)).
        self.sections = True
        self.depth = 0

    def fail(self, why: str) -> CommandParseError:
        excerpt = self.data[max(0, self.pos - 20) : self.pos + 20]
        return CommandParseError(f"{why} at byte {self.pos}: {excerpt!r}")

    def peek(self) -> int:
        if self.pos - self.line_start > self.max_line:
            raise self.fail("command line too long")
        if self.pos >= len(self.data):
            raise _Incomplete
        return self.data[self.pos]

    def expect(self, b: bytes) -> None:
        for ch in b:
            if self.peek() != ch:
                raise self.fail(f"expected {b!r}")
            self.pos += 1

    def match(self, rx: re.Pattern[bytes]) -> bytes:
        self.peek()
        m = rx.match(self.data, self.pos)
        if m is None:
            if self.pos == len(self.data) - 1 and self.data[self.pos] == 0x5C:
                raise _Incomplete  # a flag's "\": its name has not arrived (found by fuzz/)
            raise self.fail("unexpected byte")
        if m.end() == len(self.data):
            raise _Incomplete  # the token may continue
        self.pos = m.end()
        return m.group()

    def command(self) -> ParsedCommand:
        self.tag = self.match(_TAG_RE).decode("ascii")
        self.expect(b" ")
        name = self.match(_ATOM_CHARS).decode("ascii").upper()
        if name == "UID":
            self.expect(b" ")
            name += " " + self.match(_ATOM_CHARS).decode("ascii").upper()
        self.sections = name in ("FETCH", "UID FETCH")
        args: list[Node] = []
        while True:
            c = self.peek()
            if c == 0x0D:
                self.expect(b"\r\n")
                return ParsedCommand(self.tag, name, tuple(args))
            self.expect(b" ")
            args.append(self.node(in_section=False))

    def node(self, *, in_section: bool) -> Node:
        c = self.peek()
        if c == 0x28:  # "("
            # Bounded: a deeply nested command must fail, not exhaust the stack
            # (found by fuzz/, commands target).
            self.depth += 1
            if self.depth > _MAX_DEPTH:
                raise self.fail("parentheses nested too deep")
            self.pos += 1
            items: list[Node] = []
            if self.peek() == 0x29:
                self.pos += 1
                self.depth -= 1
                return ParenList(())
            while True:
                items.append(self.node(in_section=in_section))
                c = self.peek()
                if c == 0x29:
                    self.pos += 1
                    self.depth -= 1
                    return ParenList(tuple(items))
                self.expect(b" ")
        if c == 0x22:
            return self.quoted()
        if c == 0x7B:  # "{"
            return self.literal()
        if c == 0x7E:  # "~": literal8 if "{" follows, else an atom such as "~peter/mail"
            if self.pos + 1 >= len(self.data):
                raise _Incomplete
            if self.data[self.pos + 1] == 0x7B:
                return self.literal()
        rx = _SECTION_ATOM_CHARS if in_section else _ATOM_CHARS
        m = rx.match(self.data, self.pos)
        if m is None:
            if self.data[self.pos :] == b"\\":
                raise _Incomplete  # the start of a flag
            raise self.fail("unexpected byte")
        if m.end() == len(self.data):
            raise _Incomplete  # the atom may go on
        text = m.group()
        bracket = text.find(b"[")
        if (
            self.sections
            and not in_section
            and bracket > 0
            and text[:bracket].upper() in _SECTION_NAMES
        ):
            return self.section_atom(text[:bracket].decode("ascii").upper(), m.start() + bracket)
        self.pos = m.end()
        return Atom(text.decode("ascii"))

    def section_atom(self, name: str, bracket: int) -> SectionAtom:
        self.pos = bracket + 1
        section: list[Node] = []
        while self.peek() != 0x5D:  # "]"
            if section:
                self.expect(b" ")
            section.append(self.node(in_section=True))
        self.pos += 1
        partial = None
        if self.peek() == 0x3C:  # "<"
            pm = _PARTIAL_RE.match(self.data, self.pos)
            if pm is None:
                window = self.data[self.pos : self.pos + 24]
                if b">" not in window and len(window) < 24:
                    raise _Incomplete
                raise self.fail("bad partial")
            partial = pm.group(1).decode("ascii")
            self.pos = pm.end()
        return SectionAtom(name, tuple(section), partial)

    def quoted(self) -> QuotedString:
        self.pos += 1
        out = bytearray()
        while True:
            c = self.peek()
            self.pos += 1
            if c == 0x22:
                return QuotedString(bytes(out))
            if c == 0x5C:
                e = self.peek()
                if e not in (0x22, 0x5C):
                    raise self.fail("bad escape in quoted string")
                self.pos += 1
                out.append(e)
            elif c in (0x0D, 0x0A, 0x00):
                raise self.fail("CR, LF or NUL in quoted string")
            elif c >= 0x80 and not self.utf8:
                raise self.fail("8-bit byte in quoted string")
            else:
                out.append(c)

    def literal(self) -> Literal:
        start = self.pos
        end = self.data.find(b"\n", self.pos)
        if end < 0:
            if len(self.data) - self.pos > 20:
                raise self.fail("bad literal header")
            raise _Incomplete
        m = _LITERAL_RE.match(self.data, self.pos)
        if m is None or m.end() != end + 1:
            raise self.fail("bad literal header")
        binary, size, plus = m.group(1) == b"~", int(m.group(2)), m.group(3) == b"+"
        self.pos = m.end()
        if not plus and start not in self.acked:
            if self.pos == len(self.data):
                raise _NeedPlus(start, size)
            # The client sent the body without waiting for "+": a protocol violation.
            raise self.fail("literal body sent before the continuation")
        if len(self.data) - self.pos < size:
            raise _Incomplete
        value = self.data[self.pos : self.pos + size]
        if b"\x00" in value and not binary:
            raise self.fail("NUL in a non-binary literal")
        self.pos += size
        self.line_start = self.pos
        return Literal(value, binary, not plus)


# --- argument decoders --------------------------------------------------------------


def decode_string(node: Node) -> bytes:
    """A ``string`` (quoted or literal)."""
    if isinstance(node, (QuotedString, Literal)):
        return node.value
    raise CommandParseError(f"expected a string, got {node!r}")


def decode_astring(node: Node) -> bytes:
    """An ``astring`` (atom, quoted or literal)."""
    if isinstance(node, Atom):
        return node.value.encode("ascii")
    return decode_string(node)


def decode_nstring(node: Node) -> bytes | None:
    if isinstance(node, Atom) and node.value.upper() == "NIL":
        return None
    return decode_string(node)


def decode_mailbox(node: Node, *, utf8: bool = False) -> str:
    """A ``mailbox``: modified UTF-7 (or UTF-8 when ``utf8``); INBOX in any case is ``INBOX``."""
    raw = decode_astring(node)
    name = raw.decode("utf-8") if utf8 else decode_mutf7(raw)
    return "INBOX" if name.isascii() and name.upper() == "INBOX" else name


def decode_seqset(node: Node) -> SeqSet | LastSearch:
    if isinstance(node, Atom):
        if node.value == "$":
            return LastSearch(uid=False)
        return SeqSet.parse(node.value)
    raise CommandParseError(f"expected a sequence set, got {node!r}")


def decode_uidset(node: Node) -> UIDSet | LastSearch:
    if isinstance(node, Atom):
        if node.value == "$":
            return LastSearch(uid=True)
        return UIDSet.parse(node.value)
    raise CommandParseError(f"expected a UID set, got {node!r}")


def decode_flag_list(node: Node) -> tuple[Flag, ...]:
    if not isinstance(node, ParenList):
        raise CommandParseError(f"expected a flag list, got {node!r}")
    out = []
    for item in node.items:
        if not isinstance(item, Atom):
            raise CommandParseError(f"expected a flag, got {item!r}")
        out.append(Flag(item.value))
    return tuple(out)


# --- whole commands -----------------------------------------------------------------
#
# to_command() rebuilds a command object from what the reader parsed: the inverse of
# the serializer, used by the round-trip tests and by the scripted test server to
# compare what a client wrote with what a script expects.

_MONTHS: Final = {
    m: i + 1
    for i, m in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
    )
}
_SEARCH_NOARG: Final = frozenset(
    (
        "ALL",
        "ANSWERED",
        "DELETED",
        "DRAFT",
        "FLAGGED",
        "NEW",
        "OLD",
        "RECENT",
        "SEEN",
        "UNANSWERED",
        "UNDELETED",
        "UNDRAFT",
        "UNFLAGGED",
        "UNSEEN",
    )
)
_SEARCH_TEXT: Final = frozenset(("BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO"))
_SEARCH_DATE: Final = frozenset(("BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"))


def _atom_value(node: Node) -> str:
    if not isinstance(node, Atom):
        raise CommandParseError(f"expected an atom, got {node!r}")
    return node.value


def _int(node: Node) -> int:
    v = _atom_value(node)
    if not v.isdigit() or not v.isascii():
        raise CommandParseError(f"expected a number, got {v!r}")
    return int(v)


def _atoms(node: Node) -> tuple[str, ...]:
    if not isinstance(node, ParenList):
        raise CommandParseError(f"expected a list, got {node!r}")
    return tuple(_atom_value(i) for i in node.items)


def _text(node: Node, utf8_ok: bool = True) -> str:
    return decode_astring(node).decode("utf-8")


def _date(node: Node) -> datetime.date:
    raw = decode_astring(node).decode("ascii")
    try:
        day, mon, year = raw.split("-")
        return datetime.date(int(year), _MONTHS[mon.upper()], int(day))
    except (KeyError, OverflowError, ValueError):  # found by fuzz/ (commands target)
        raise CommandParseError(f"not a date: {raw!r}") from None


def _date_time(node: Node) -> datetime.datetime:
    raw = decode_string(node).decode("ascii")
    d = datetime.datetime.strptime(raw.strip(), "%d-%b-%Y %H:%M:%S %z")
    return d


class _Args:
    """A cursor over a command's arguments."""

    def __init__(self, args: tuple[Node, ...]) -> None:
        self.args = args
        self.i = 0

    def more(self) -> bool:
        return self.i < len(self.args)

    def next(self) -> Node:
        if self.i >= len(self.args):
            raise CommandParseError("missing argument")
        self.i += 1
        return self.args[self.i - 1]

    def peek_atom(self) -> str | None:
        if self.i < len(self.args) and isinstance(self.args[self.i], Atom):
            v = self.args[self.i]
            assert isinstance(v, Atom)
            return v.value.upper()
        return None

    def done(self) -> None:
        if self.i != len(self.args):
            raise CommandParseError(f"unexpected extra arguments: {self.args[self.i :]!r}")


def _search_key(a: _Args, utf8: bool) -> SearchKey:
    node = a.next()
    if isinstance(node, ParenList):
        sub = _Args(node.items)
        keys = []
        while sub.more():
            keys.append(_search_key(sub, utf8))
        return _search.and_(*keys)
    op = _atom_value(node).upper()
    if op in _SEARCH_NOARG:
        return SearchKey(op)
    if op in _SEARCH_TEXT:
        return SearchKey(op, (_text(a.next()),))
    if op in _SEARCH_DATE:
        return SearchKey(op, (_date(a.next()),))
    if op == "HEADER":
        return _search.header(_text(a.next()), _text(a.next()))
    if op in ("KEYWORD", "UNKEYWORD"):
        return SearchKey(op, (Flag(_atom_value(a.next())),))
    if op in ("LARGER", "SMALLER", "YOUNGER", "OLDER"):
        return SearchKey(op, (_int(a.next()),))
    if op == "NOT":
        return _search.not_(_search_key(a, utf8))
    if op == "OR":
        return _search.or_(_search_key(a, utf8), _search_key(a, utf8))
    if op == "UID":
        return _search.uid(decode_uidset(a.next()))
    if op == "$":
        return SearchKey("$")
    if op == "MODSEQ":
        first = a.next()
        if isinstance(first, Atom):
            return _search.modseq(_int(first))
        entry = decode_string(first).decode("ascii")
        kind = _atom_value(a.next()).lower()
        value = _int(a.next())
        if not entry.startswith("/flags/"):
            raise CommandParseError(f"unknown MODSEQ entry {entry!r}")
        return _search.modseq(value, (entry[len("/flags/") :], kind))
    if op in ("EMAILID", "THREADID"):
        fn = _search.emailid if op == "EMAILID" else _search.threadid
        return fn(_atom_value(a.next()))
    seqs = decode_seqset(node)
    return _search.messages(seqs)


def _criteria(a: _Args, utf8: bool) -> SearchKey:
    keys = []
    while a.more():
        keys.append(_search_key(a, utf8))
    return _search.and_(*keys)


def _return_opts(a: _Args) -> tuple[str, ...] | None:
    if a.peek_atom() == "RETURN":
        a.next()
        return _atoms(a.next())
    return None


def _section(node: SectionAtom) -> c.FetchItem:
    base = node.name.removesuffix(".PEEK")
    peek = node.name.endswith(".PEEK")
    parts: tuple[int, ...] = ()
    text = None
    fields: tuple[str, ...] = ()
    if node.section:
        spec = _atom_value(node.section[0]).upper()
        pieces = spec.split(".")
        nums = []
        while pieces and pieces[0].isdigit():
            nums.append(int(pieces.pop(0)))
        parts = tuple(nums)
        text = ".".join(pieces) or None
        if len(node.section) > 1:
            flist = node.section[1]
            if not isinstance(flist, ParenList):
                raise CommandParseError("expected a header list")
            fields = tuple(_text(f) for f in flist.items)
    partial = None
    if node.partial is not None:
        if "." not in node.partial:
            raise CommandParseError("partial needs offset.length")
        off, length = node.partial.split(".")
        partial = (int(off), int(length))
    if base == "BINARY.SIZE":
        return c.FetchItem.binary_size(parts)
    if base == "BINARY":
        return c.FetchItem.binary(parts, peek=peek, partial=partial)
    return c.FetchItem.body(c.Section(parts, text, fields), peek=peek, partial=partial)


def _fetch_items(node: Node) -> tuple[c.FetchItem, ...] | c.FetchMacro:
    if isinstance(node, Atom) and node.value.upper() in ("ALL", "FAST", "FULL"):
        return c.FetchMacro(node.value.upper())
    nodes = node.items if isinstance(node, ParenList) else (node,)
    out = []
    for n in nodes:
        if isinstance(n, SectionAtom):
            out.append(_section(n))
        else:
            out.append(c.FetchItem.simple(_atom_value(n)))
    return tuple(out)


def _messages(node: Node, uid: bool) -> SeqSet | UIDSet | LastSearch:
    return decode_uidset(node) if uid else decode_seqset(node)


def to_command(parsed: ParsedCommand, *, utf8: bool = False) -> c.Command:
    """Rebuild the command object a client serialized (the serializer's inverse).

    ``utf8``: the session is in UTF8=ACCEPT mode (mailbox names are UTF-8).
    Raises :class:`CommandParseError` (or another ``ValueError``) on anything
    the serializer cannot have produced.
    """
    a = _Args(parsed.args)
    name = parsed.name
    uid = name.startswith("UID ")
    base = name[4:] if uid else name

    def mbox() -> str:
        return decode_mailbox(a.next(), utf8=utf8)

    simple = {
        "CAPABILITY": c.Capability,
        "NOOP": c.Noop,
        "LOGOUT": c.Logout,
        "STARTTLS": c.StartTLS,
        "NAMESPACE": c.Namespace,
        "CHECK": c.Check,
        "CLOSE": c.Close,
        "UNSELECT": c.Unselect,
        "IDLE": c.Idle,
    }
    cmd: c.Command
    if not uid and base in simple:
        cmd = simple[base]()
    elif not uid and base == "EXPUNGE":
        cmd = c.Expunge()
    elif uid and base == "EXPUNGE":
        uids = decode_uidset(a.next())
        cmd = c.UidExpunge(uids)
    elif base == "LOGIN":
        user = _text(a.next())
        cmd = c.Login(user, Secret(decode_astring(a.next())))
    elif base == "AUTHENTICATE":
        mech = _atom_value(a.next())
        ir = None
        if a.more():
            raw = _atom_value(a.next())
            ir = Secret(b"" if raw == "=" else base64.b64decode(raw, validate=True))
        cmd = c.Authenticate(mech, ir)
    elif base == "ENABLE":
        caps = []
        while a.more():
            caps.append(_atom_value(a.next()))
        cmd = c.Enable(tuple(caps))
    elif base in ("SELECT", "EXAMINE"):
        box = mbox()
        condstore = False
        qresync = None
        if a.more():
            params = a.next()
            if not isinstance(params, ParenList):
                raise CommandParseError("expected SELECT parameters")
            p = _Args(params.items)
            while p.more():
                pname = _atom_value(p.next()).upper()
                if pname == "CONDSTORE":
                    condstore = True
                elif pname == "QRESYNC":
                    q = p.next()
                    if not isinstance(q, ParenList):
                        raise CommandParseError("expected QRESYNC parameters")
                    qa = _Args(q.items)
                    uidvalidity = _int(qa.next())
                    modseq = ModSeq(_int(qa.next()))
                    known = None
                    match = None
                    if qa.more():
                        k = decode_uidset(qa.next())
                        if not isinstance(k, UIDSet):
                            raise CommandParseError("$ in QRESYNC")
                        known = k
                    if qa.more():
                        m = qa.next()
                        if not isinstance(m, ParenList) or len(m.items) != 2:
                            raise CommandParseError("bad seq-match-data")
                        s, u = decode_seqset(m.items[0]), decode_uidset(m.items[1])
                        if not isinstance(s, SeqSet) or not isinstance(u, UIDSet):
                            raise CommandParseError("$ in seq-match-data")
                        match = (s, u)
                    qa.done()
                    qresync = c.QResync(uidvalidity, modseq, known, match)
                else:
                    raise CommandParseError(f"unknown SELECT parameter {pname}")
        cls = c.Select if base == "SELECT" else c.Examine
        cmd = cls(box, condstore, qresync)
    elif base == "CREATE":
        box = mbox()
        use: tuple[str, ...] = ()
        if a.more():
            params = a.next()
            if not isinstance(params, ParenList) or len(params.items) != 2:
                raise CommandParseError("expected CREATE parameters")
            if _atom_value(params.items[0]).upper() != "USE":
                raise CommandParseError("unknown CREATE parameter")
            use = _atoms(params.items[1])
        cmd = c.Create(box, use)
    elif base in ("DELETE", "SUBSCRIBE", "UNSUBSCRIBE", "GETQUOTAROOT"):
        one = {
            "DELETE": c.Delete,
            "SUBSCRIBE": c.Subscribe,
            "UNSUBSCRIBE": c.Unsubscribe,
            "GETQUOTAROOT": c.GetQuotaRoot,
        }[base]
        cmd = one(mbox())
    elif base == "RENAME":
        cmd = c.Rename(mbox(), mbox())
    elif base in ("LIST", "LSUB"):
        select_opts: tuple[str, ...] = ()
        if base == "LIST" and isinstance(a.args[0] if a.args else None, ParenList):
            select_opts = _atoms(a.next())
        ref = mbox()
        pat_node = a.next()
        pat_nodes = pat_node.items if isinstance(pat_node, ParenList) else (pat_node,)
        pats = tuple(decode_mailbox(n, utf8=utf8) for n in pat_nodes)
        ret: list[str] = []
        status: tuple[str, ...] = ()
        if a.more():
            if _atom_value(a.next()).upper() != "RETURN":
                raise CommandParseError("expected RETURN")
            r = a.next()
            if not isinstance(r, ParenList):
                raise CommandParseError("expected return options")
            ra = _Args(r.items)
            while ra.more():
                opt = _atom_value(ra.next()).upper()
                if opt == "STATUS":
                    status = _atoms(ra.next())
                else:
                    ret.append(opt)
        if base == "LSUB":
            if len(pats) != 1:
                raise CommandParseError("LSUB takes one pattern")
            cmd = c.Lsub(ref, pats[0])
        else:
            cmd = c.List(ref, pats, select_opts, tuple(ret), status)
    elif base == "STATUS":
        cmd = c.Status(mbox(), _atoms(a.next()))
    elif base == "APPEND":
        box = mbox()
        msgs = []
        while a.more():
            flags: tuple[Flag, ...] = ()
            date = None
            node = a.next()
            if isinstance(node, ParenList):
                flags = decode_flag_list(node)
                node = a.next()
            if isinstance(node, QuotedString):
                date = _date_time(node)
                node = a.next()
            if not isinstance(node, Literal):
                raise CommandParseError("expected the message literal")
            msgs.append(c.AppendMessage(node.value, flags, date, node.binary))
        cmd = c.Append(box, tuple(msgs))
    elif base in ("SEARCH", "SORT", "THREAD"):
        if base == "SEARCH":
            ropts = _return_opts(a)
            if a.peek_atom() == "CHARSET":
                a.next()
                if _text(a.next()).upper() != "UTF-8":
                    raise CommandParseError("unexpected charset")
            cmd = c.Search(_criteria(a, utf8), uid, ropts)
        elif base == "SORT":
            ropts = _return_opts(a)
            keys_node = a.next()
            if not isinstance(keys_node, ParenList):
                raise CommandParseError("expected sort keys")
            words = [_atom_value(k).upper() for k in keys_node.items]
            keys = []
            i = 0
            while i < len(words):
                if words[i] == "REVERSE" and i + 1 < len(words):
                    keys.append("REVERSE " + words[i + 1])
                    i += 2
                else:
                    keys.append(words[i])
                    i += 1
            a.next()  # charset
            cmd = c.Sort(_criteria(a, utf8), uid, tuple(keys), ropts)
        else:
            algorithm = _atom_value(a.next())
            a.next()  # charset
            cmd = c.Thread(_criteria(a, utf8), uid, algorithm)
    elif base == "FETCH":
        target = _messages(a.next(), uid)
        items = _fetch_items(a.next())
        changed = None
        vanished = False
        if a.more():
            mods = a.next()
            if not isinstance(mods, ParenList):
                raise CommandParseError("expected FETCH modifiers")
            ma = _Args(mods.items)
            while ma.more():
                mname = _atom_value(ma.next()).upper()
                if mname == "CHANGEDSINCE":
                    changed = ModSeq(_int(ma.next()))
                elif mname == "VANISHED":
                    vanished = True
                else:
                    raise CommandParseError(f"unknown FETCH modifier {mname}")
        cmd = c.Fetch(target, items, changed, vanished)
    elif base == "STORE":
        target = _messages(a.next(), uid)
        unchanged = None
        node = a.next()
        if isinstance(node, ParenList):
            ma = _Args(node.items)
            if _atom_value(ma.next()).upper() != "UNCHANGEDSINCE":
                raise CommandParseError("unknown STORE modifier")
            unchanged = ModSeq(_int(ma.next()))
            ma.done()
            node = a.next()
        op = _atom_value(node).upper()
        silent = op.endswith(".SILENT")
        mode = c.StoreMode(op.removesuffix(".SILENT"))
        cmd = c.Store(target, mode, decode_flag_list(a.next()), silent, unchanged)
    elif base in ("COPY", "MOVE"):
        target = _messages(a.next(), uid)
        cls2 = c.Copy if base == "COPY" else c.Move
        cmd = cls2(target, mbox())
    elif base == "ID":
        node = a.next()
        if isinstance(node, Atom) and node.value.upper() == "NIL":
            cmd = c.Id(None)
        else:
            if not isinstance(node, ParenList) or len(node.items) % 2:
                raise CommandParseError("bad ID list")
            pairs = []
            for key_node, val_node in zip(node.items[::2], node.items[1::2], strict=True):
                val = decode_nstring(val_node)
                key = decode_string(key_node).decode("utf-8")
                pairs.append((key, None if val is None else val.decode("utf-8")))
            cmd = c.Id(pairs)
    elif base == "COMPRESS":
        cmd = c.Compress(_atom_value(a.next()))
    elif base == "GETQUOTA":
        cmd = c.GetQuota(_text(a.next()))
    elif base == "SETQUOTA":
        root = _text(a.next())
        lims = _Args(_as_list(a.next()))
        limits = []
        while lims.more():
            limits.append((_atom_value(lims.next()), _int(lims.next())))
        cmd = c.SetQuota(root, tuple(limits))
    else:
        raise CommandParseError(f"unknown command {name}")
    a.done()
    if cmd.name != name:
        raise CommandParseError(f"{name} does not match its arguments")
    return cmd


def _as_list(node: Node) -> tuple[Node, ...]:
    if not isinstance(node, ParenList):
        raise CommandParseError(f"expected a list, got {node!r}")
    return node.items
