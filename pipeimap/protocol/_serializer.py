"""Command serializer: command objects to wire fragments.

Theory of operation: every argument is written by one of a few encoders that
choose its form (RFC 9051 section 4.3): an *atom* only when every character is
an ATOM-CHAR and the atom cannot be misread (``NIL`` is quoted); a *quoted
string* when every character is printable (7-bit, or any UTF-8 when the server
accepted UTF8=ACCEPT); a *literal* otherwise.  Literals are the only place
where CR, LF or 8-bit bytes may appear, and they are length-prefixed, so no
argument can end the command line early or open a second command.  NUL is
refused everywhere except in a BINARY ``literal8`` of APPEND.

A literal is synchronizing (``{n}``: the client must wait for ``+``) unless
LITERAL+ (``{n+}`` always) or LITERAL- (``{n+}`` up to 4096 octets, RFC 7888
section 4) is in force.  The output is a tuple of :class:`Fragment` s: after
a fragment with ``wait_for_continuation`` the I/O layer waits for ``+``.
Fragments holding credentials are ``sensitive`` so traces can redact them.
"""

from __future__ import annotations

import base64
import datetime
import enum
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Final, TypeVar, cast

from ..errors import InvalidArgumentError
from . import _commands as c
from ._mutf7 import encode_mutf7
from ._search import SearchArg, SearchKey, _Raw
from ._seqset import LastSearch, SeqSet, UIDSet
from ._types import Flag, RawMailbox, Secret

__all__ = [
    "DEFAULT_MAX_TAG_LENGTH",
    "EncodeOptions",
    "EncodingInfo",
    "Fragment",
    "LiteralMode",
    "describe_encoding",
    "serialize",
    "serialize_idle_done",
    "serialize_sasl_cancel",
    "serialize_sasl_response",
    "split_command",
]

CRLF: Final = b"\r\n"
LITERAL_MINUS_MAX: Final = 4096  # RFC 7888 section 4
_ATOM_RE: Final = re.compile(rb"[!#$&'+-\[^-z|}~]+\Z")  # ATOM-CHAR (RFC 9051 section 9)
_TAG_RE: Final = re.compile(r"[!#$&',-\[\]^-z|}~]+\Z")  # tag = 1*<ASTRING-CHAR except "+">
_UNQUOTABLE_RE: Final = re.compile(rb"[^\x20-\x7e]")
_CONTROL_RE: Final = re.compile(rb"[\x00-\x1f\x7f]")
_MONTHS: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)


class LiteralMode(enum.Enum):
    """Which literals the server accepts without a continuation."""

    SYNC = "sync"  # neither LITERAL+ nor LITERAL-: every literal waits for "+"
    LITERAL_PLUS = "literal+"  # RFC 7888: {n+} for every literal
    LITERAL_MINUS = "literal-"  # RFC 7888: {n+} only up to 4096 octets


@dataclass(frozen=True, slots=True)
class EncodeOptions:
    """What the server accepts, from its capabilities and ENABLEd extensions.

    Attributes:
        literal_mode: see :class:`LiteralMode`.
        utf8_accept: UTF8=ACCEPT was enabled (RFC 6855): quoted strings may hold
            UTF-8, mailbox names are sent as UTF-8 (not modified UTF-7) and
            SEARCH sends no CHARSET.
        binary: the server has BINARY (RFC 3516): APPEND may use ``literal8``.
        sasl_ir: the server has SASL-IR (RFC 4959).
        max_quoted: strings longer than this (in octets) go as literals, which
            keeps command lines short.
    """

    literal_mode: LiteralMode = LiteralMode.SYNC
    utf8_accept: bool = False
    binary: bool = False
    sasl_ir: bool = False
    max_quoted: int = 1024


@dataclass(frozen=True, slots=True)
class Fragment:
    """A piece of a command to write.

    ``wait_for_continuation``: after writing it, wait for the server's ``+``
    (or a tagged NO/BAD, which refuses the literal) before the next fragment.
    ``sensitive``: it holds a credential; traces must redact it.
    """

    data: bytes
    wait_for_continuation: bool = False
    sensitive: bool = False

    def __repr__(self) -> str:
        shown = "<redacted>" if self.sensitive else repr(self.data)
        return (
            f"Fragment({shown}, wait_for_continuation={self.wait_for_continuation}, "
            f"sensitive={self.sensitive})"
        )


class _Writer:
    """Accumulates one command's pieces and cuts them into fragments."""

    __slots__ = ("_pieces", "literal_sizes", "opts", "sync_literals")

    def __init__(self, opts: EncodeOptions) -> None:
        self.opts = opts
        # (data, sensitive, wait_after, is_literal_data)
        self._pieces: list[tuple[bytes, bool, bool, bool]] = []
        self.literal_sizes: list[int] = []
        self.sync_literals = 0

    def raw(self, data: bytes, *, sensitive: bool = False) -> None:
        self._pieces.append((data, sensitive, False, False))

    def sp(self) -> None:
        self.raw(b" ")

    def literal(self, data: bytes, *, binary: bool = False, sensitive: bool = False) -> None:
        if b"\x00" in data and not binary:
            raise InvalidArgumentError("NUL cannot be sent in an IMAP literal (only in literal8)")
        n = len(data)
        mode = self.opts.literal_mode
        plus = mode is LiteralMode.LITERAL_PLUS or (
            mode is LiteralMode.LITERAL_MINUS and n <= LITERAL_MINUS_MAX
        )
        header = (b"~" if binary else b"") + b"{%d%s}\r\n" % (n, b"+" if plus else b"")
        self._pieces.append((header, False, not plus, False))
        self.literal_sizes.append(n)
        if not plus:
            self.sync_literals += 1
        self._pieces.append((data, sensitive, False, True))

    def fragments(self) -> tuple[Fragment, ...]:
        # Pieces are joined once per fragment (one copy of an APPEND's messages,
        # not a growing bytearray plus a bytes() copy of it).
        out: list[Fragment] = []
        buf: list[bytes] = []
        buf_sensitive = False
        for data, sensitive, wait, _lit in self._pieces:
            if buf and sensitive != buf_sensitive:
                out.append(Fragment(b"".join(buf), False, buf_sensitive))
                buf = []
            buf_sensitive = sensitive
            if data:
                buf.append(data)
            if wait:
                out.append(Fragment(b"".join(buf), True, buf_sensitive))
                buf = []
        if buf:
            out.append(Fragment(b"".join(buf), False, buf_sensitive))
        return tuple(out)

    # --- argument encoders ----------------------------------------------------

    def _quotable(self, data: bytes, text_is_utf8: bool) -> bool:
        if len(data) > self.opts.max_quoted:
            return False
        if _UNQUOTABLE_RE.search(data) is None:
            return True
        if not (text_is_utf8 and self.opts.utf8_accept) or _CONTROL_RE.search(data):
            return False
        # utf8-quoted (RFC 9051 section 9) must be valid UTF-8.
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True

    def string_bytes(self, data: bytes, *, utf8: bool = True, sensitive: bool = False) -> None:
        """``string``: quoted when safe, else a literal (RFC 9051 section 4.3)."""
        if self._quotable(data, utf8):
            quoted = data.replace(b"\\", b"\\\\").replace(b'"', b'\\"')
            self.raw(b'"' + quoted + b'"', sensitive=sensitive)
        else:
            self.literal(data, sensitive=sensitive)

    def string(self, text: str, *, sensitive: bool = False) -> None:
        self.string_bytes(_utf8(text), sensitive=sensitive)

    def astring_bytes(self, data: bytes, *, utf8: bool = True, sensitive: bool = False) -> None:
        """``astring``: an atom when unambiguous, else a string."""
        # "[" is an ATOM-CHAR, but an atom with it could be misread as a fetch
        # section (BODY[...]) by a context-free reader: quote it instead.
        if _ATOM_RE.match(data) is not None and data.upper() != b"NIL" and b"[" not in data:
            self.raw(data, sensitive=sensitive)
        else:
            self.string_bytes(data, utf8=utf8, sensitive=sensitive)

    def astring(self, text: str, *, sensitive: bool = False) -> None:
        self.astring_bytes(_utf8(text), sensitive=sensitive)

    def nstring(self, text: str | None) -> None:
        if text is None:
            self.raw(b"NIL")
        else:
            self.string(text)

    def mailbox(self, name: str) -> None:
        """``mailbox``: INBOX in any case is INBOX (RFC 9051 section 5.1);
        modified UTF-7 unless UTF8=ACCEPT (RFC 6855 section 3); a
        :class:`RawMailbox` as its bytes."""
        if _is_inbox(name):
            self.raw(b"INBOX")
            return
        self.astring_bytes(self._mailbox_bytes(name))

    def _mailbox_bytes(self, name: str) -> bytes:
        if isinstance(name, RawMailbox):
            # The server's own spelling, never re-encoded; astring/list-mailbox
            # rules still choose atom, quoted string or literal for it.
            return name.raw
        if self.opts.utf8_accept:
            return _utf8(name)
        return encode_mutf7(name)

    def list_mailbox(self, pattern: str) -> None:
        """``list-mailbox``: like a mailbox, but ``%``, ``*`` and ``]`` may be bare."""
        if _is_inbox(pattern):
            self.raw(b"INBOX")
            return
        data = self._mailbox_bytes(pattern)
        bare = data.replace(b"%", b"").replace(b"*", b"").replace(b"]", b"")
        if (
            data
            and (not bare or _ATOM_RE.match(bare))
            and data.upper() != b"NIL"
            and b"[" not in data
        ):
            self.raw(data)
        else:
            self.string_bytes(data)

    def flag_list(self, flags: tuple[Flag, ...]) -> None:
        self.raw(b"(" + " ".join(flags).encode("ascii") + b")")

    def message_set(self, messages: SeqSet | UIDSet | LastSearch) -> None:
        self.raw(messages.to_bytes())


def _is_inbox(name: str) -> bool:
    # ASCII only: str.upper() folds "\u0131nbox" (dotless i) to "INBOX", which
    # would send a different mailbox's name as INBOX.
    if isinstance(name, RawMailbox):
        return name.raw.upper() == b"INBOX"
    return name.isascii() and name.upper() == "INBOX"


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgumentError("text holds a lone surrogate and cannot be sent") from None


def _date_text(d: datetime.date) -> bytes:
    return f"{d.day}-{_MONTHS[d.month - 1]}-{d.year:04d}".encode("ascii")


def _date_time(d: datetime.datetime) -> bytes:
    off = d.utcoffset()
    assert off is not None  # AppendMessage checks awareness
    seconds = int(off.total_seconds())
    sign = "+" if seconds >= 0 else "-"
    minutes = abs(seconds) // 60
    zone = f"{sign}{minutes // 60:02d}{minutes % 60:02d}"
    text = f"{d.day:2d}-{_MONTHS[d.month - 1]}-{d.year:04d} {d:%H:%M:%S} {zone}"
    return b'"' + text.encode("ascii") + b'"'


# --- search keys ------------------------------------------------------------------


def _search_arg(w: _Writer, arg: SearchArg) -> None:
    if isinstance(arg, SearchKey):
        _search_key(w, arg)
    elif isinstance(arg, Flag):
        w.raw(arg.encode("ascii"))
    elif isinstance(arg, str):
        w.astring(arg)
    elif isinstance(arg, datetime.date):
        w.raw(_date_text(arg))
    elif isinstance(arg, (SeqSet, UIDSet, LastSearch)):
        w.message_set(arg)
    elif isinstance(arg, _Raw):
        w.raw(arg.text.encode("ascii"))
    else:
        w.raw(str(int(arg)).encode("ascii"))


def _search_key(w: _Writer, key: SearchKey) -> None:
    if key.op == "AND":
        w.raw(b"(")
        _search_keys(w, key.args)
        w.raw(b")")
        return
    if key.op == "SET":
        _search_arg(w, key.args[0])
        return
    w.raw(key.op.encode("ascii"))
    for a in key.args:
        w.sp()
        _search_arg(w, a)


def _search_keys(w: _Writer, args: tuple[SearchArg, ...]) -> None:
    for i, a in enumerate(args):
        if i:
            w.sp()
        _search_arg(w, a)


def _criteria(w: _Writer, key: SearchKey) -> None:
    # The top level is an implicit AND: no parentheses needed.
    if key.op == "AND":
        _search_keys(w, key.args)
    else:
        _search_key(w, key)


def _charset_needed(cmd: c._SearchBase, opts: EncodeOptions) -> bool:
    # RFC 6855 section 3: after ENABLE UTF8=ACCEPT the client MUST NOT send CHARSET.
    return not opts.utf8_accept and not cmd.criteria.is_ascii


# --- per-command encoders -------------------------------------------------------------

_C = TypeVar("_C", bound=c.Command)
_F = TypeVar("_F", bound=Callable[..., None])
_ENCODERS: dict[type[c.Command], Callable[[_Writer, Any], None]] = {}


def _encodes(*classes: type[c.Command]) -> Callable[[_F], _F]:
    def register(fn: _F) -> _F:
        for cls in classes:
            _ENCODERS[cls] = fn
        return fn

    return register


def _no_args(w: _Writer, cmd: c.Command) -> None:
    pass


for _cls in (
    c.Capability,
    c.Noop,
    c.Logout,
    c.StartTLS,
    c.Namespace,
    c.Check,
    c.Close,
    c.Unselect,
    c.Expunge,
    c.Idle,
):
    _ENCODERS[_cls] = _no_args


@_encodes(c.Id)
def _id(w: _Writer, cmd: c.Id) -> None:
    w.sp()
    if cmd.params is None:
        w.raw(b"NIL")
        return
    w.raw(b"(")
    for i, (k, v) in enumerate(cmd.params):
        if i:
            w.sp()
        w.string(k)
        w.sp()
        w.nstring(v)
    w.raw(b")")


@_encodes(c.Enable)
def _enable(w: _Writer, cmd: c.Enable) -> None:
    for cap in cmd.capabilities:
        w.sp()
        w.raw(cap.encode("ascii"))


@_encodes(c.Compress)
def _compress(w: _Writer, cmd: c.Compress) -> None:
    w.raw(b" " + cmd.mechanism.encode("ascii"))


@_encodes(c.Login)
def _login(w: _Writer, cmd: c.Login) -> None:
    w.sp()
    w.astring(cmd.username)
    w.sp()
    w.astring_bytes(cmd.password.reveal_bytes(), sensitive=True)


@_encodes(c.Authenticate)
def _authenticate(w: _Writer, cmd: c.Authenticate) -> None:
    w.raw(b" " + cmd.mechanism.encode("ascii"))
    if cmd.initial_response is not None and w.opts.sasl_ir:
        w.sp()
        data = cmd.initial_response.reveal_bytes()
        # RFC 4959 section 3: an empty initial response is sent as "=".
        w.raw(base64.b64encode(data) if data else b"=", sensitive=True)


@_encodes(c.Select, c.Examine)
def _select(w: _Writer, cmd: c._SelectBase) -> None:
    w.sp()
    w.mailbox(cmd.mailbox)
    params: list[bytes] = []
    if cmd.condstore:
        params.append(b"CONDSTORE")
    q = cmd.qresync
    if q is not None:
        inner = b"%d %d" % (q.uidvalidity, q.modseq)
        if q.known_uids is not None:
            inner += b" " + q.known_uids.to_bytes()
            if q.seq_match is not None:
                inner += b" (" + q.seq_match[0].to_bytes() + b" " + q.seq_match[1].to_bytes() + b")"
        params.append(b"QRESYNC (" + inner + b")")
    if params:
        w.raw(b" (" + b" ".join(params) + b")")


@_encodes(c.Create)
def _create(w: _Writer, cmd: c.Create) -> None:
    w.sp()
    w.mailbox(cmd.mailbox)
    if cmd.special_use:
        w.raw(b" (USE (" + " ".join(cmd.special_use).encode("ascii") + b"))")


@_encodes(c.Delete, c.Subscribe, c.Unsubscribe, c.GetQuotaRoot)
def _one_mailbox(w: _Writer, cmd: c._OneMailbox) -> None:
    w.sp()
    w.mailbox(cmd.mailbox)


@_encodes(c.Rename)
def _rename(w: _Writer, cmd: c.Rename) -> None:
    w.sp()
    w.mailbox(cmd.old)
    w.sp()
    w.mailbox(cmd.new)


@_encodes(c.List)
def _list(w: _Writer, cmd: c.List) -> None:
    if cmd.select_options:
        w.raw(b" (" + " ".join(cmd.select_options).encode("ascii") + b")")
    w.sp()
    # The reference is a "mailbox" in the grammar, but "" and INBOX handling differ
    # nothing here; an empty reference must be written "".
    w.mailbox(cmd.reference)
    w.sp()
    if len(cmd.patterns) == 1:
        w.list_mailbox(cmd.patterns[0])
    else:
        w.raw(b"(")
        for i, p in enumerate(cmd.patterns):
            if i:
                w.sp()
            w.list_mailbox(p)
        w.raw(b")")
    ret = [o.encode("ascii") for o in cmd.return_options]
    if cmd.return_status:
        ret.append(b"STATUS (" + " ".join(cmd.return_status).encode("ascii") + b")")
    if ret:
        w.raw(b" RETURN (" + b" ".join(ret) + b")")


@_encodes(c.Lsub)
def _lsub(w: _Writer, cmd: c.Lsub) -> None:
    w.sp()
    w.mailbox(cmd.reference)
    w.sp()
    w.list_mailbox(cmd.pattern)


@_encodes(c.Status)
def _status(w: _Writer, cmd: c.Status) -> None:
    w.sp()
    w.mailbox(cmd.mailbox)
    w.raw(b" (" + " ".join(cmd.items).encode("ascii") + b")")


@_encodes(c.Append)
def _append(w: _Writer, cmd: c.Append) -> None:
    w.sp()
    w.mailbox(cmd.mailbox)
    for m in cmd.messages_to_append:
        if m.flags:
            w.sp()
            w.flag_list(m.flags)
        if m.internal_date is not None:
            w.raw(b" " + _date_time(m.internal_date))
        w.sp()
        binary = m.binary or (b"\x00" in m.data and w.opts.binary)
        if binary and not w.opts.binary:
            raise InvalidArgumentError("a binary APPEND needs the server's BINARY capability")
        w.literal(m.data, binary=binary)


@_encodes(c.GetQuota)
def _getquota(w: _Writer, cmd: c.GetQuota) -> None:
    w.sp()
    w.astring(cmd.root)


@_encodes(c.SetQuota)
def _setquota(w: _Writer, cmd: c.SetQuota) -> None:
    w.sp()
    w.astring(cmd.root)
    w.raw(b" (" + b" ".join(b"%s %d" % (r.encode("ascii"), n) for r, n in cmd.limits) + b")")


@_encodes(c.UidExpunge)
def _uid_expunge(w: _Writer, cmd: c.UidExpunge) -> None:
    w.sp()
    w.message_set(cmd.uids)


def _return(w: _Writer, opts: tuple[str, ...] | None) -> None:
    if opts is not None:
        w.raw(b" RETURN (" + " ".join(opts).encode("ascii") + b")")


@_encodes(c.Search)
def _search(w: _Writer, cmd: c.Search) -> None:
    _return(w, cmd.return_options)
    if _charset_needed(cmd, w.opts):
        w.raw(b" CHARSET UTF-8")
    w.sp()
    _criteria(w, cmd.criteria)


@_encodes(c.Sort)
def _sort(w: _Writer, cmd: c.Sort) -> None:
    _return(w, cmd.return_options)
    w.raw(b" (" + " ".join(cmd.sort_keys).encode("ascii") + b")")
    # SORT and THREAD always name a charset (RFC 5256); RFC 6855 keeps it.
    w.raw(b" UTF-8 ")
    _criteria(w, cmd.criteria)


@_encodes(c.Thread)
def _thread(w: _Writer, cmd: c.Thread) -> None:
    w.raw(b" " + cmd.algorithm.encode("ascii") + b" UTF-8 ")
    _criteria(w, cmd.criteria)


def _fetch_item(w: _Writer, item: c.FetchItem) -> None:
    if item.section is None:
        w.raw(item.kind.encode("ascii"))
        return
    name = item.kind + (".PEEK" if item.peek else "")
    sec = item.section
    w.raw(name.encode("ascii") + b"[")
    spec = [".".join(str(p) for p in sec.part)] if sec.part else []
    if sec.text:
        spec.append(sec.text)
    w.raw(".".join(spec).encode("ascii"))
    if sec.fields:
        w.raw(b" (")
        for i, f in enumerate(sec.fields):
            if i:
                w.sp()
            w.astring(f)
        w.raw(b")")
    w.raw(b"]")
    if item.partial is not None:
        w.raw(b"<%d.%d>" % item.partial)


@_encodes(c.Fetch)
def _fetch(w: _Writer, cmd: c.Fetch) -> None:
    w.sp()
    w.message_set(cmd.target)
    w.sp()
    if isinstance(cmd.items, c.FetchMacro):
        w.raw(cmd.items.value.encode("ascii"))
    else:
        w.raw(b"(")
        for i, item in enumerate(cmd.items):
            if i:
                w.sp()
            _fetch_item(w, item)
        w.raw(b")")
    if cmd.changed_since is not None:
        w.raw(b" (CHANGEDSINCE %d%s)" % (cmd.changed_since, b" VANISHED" if cmd.vanished else b""))


@_encodes(c.Store)
def _store(w: _Writer, cmd: c.Store) -> None:
    w.sp()
    w.message_set(cmd.target)
    if cmd.unchanged_since is not None:
        w.raw(b" (UNCHANGEDSINCE %d)" % cmd.unchanged_since)
    w.raw(b" " + cmd.mode.value.encode("ascii") + (b".SILENT" if cmd.silent else b"") + b" ")
    w.flag_list(cmd.flags)


@_encodes(c.Copy, c.Move)
def _copy(w: _Writer, cmd: c.Copy | c.Move) -> None:
    w.sp()
    w.message_set(cmd.target)
    w.sp()
    w.mailbox(cmd.mailbox)


# --- public entry points ----------------------------------------------------------


def _check_tag(tag: str) -> bytes:
    if not isinstance(tag, str) or _TAG_RE.match(tag) is None:
        raise InvalidArgumentError(f"not a valid tag: {tag!r}")
    return tag.encode("ascii")


def _encode(tag: str, command: c.Command, options: EncodeOptions) -> _Writer:
    encoder = _ENCODERS.get(type(command))
    if encoder is None:
        raise InvalidArgumentError(f"cannot serialize {type(command).__name__}")
    w = _Writer(options)
    w.raw(_check_tag(tag) + b" " + command.name.encode("ascii"))
    encoder(w, command)
    w.raw(CRLF)
    return w


def serialize(
    tag: str, command: c.Command, options: EncodeOptions | None = None
) -> tuple[Fragment, ...]:
    """Encode ``command`` with ``tag`` for a server described by ``options``.

    Returns the fragments to write in order; after one whose
    ``wait_for_continuation`` is set, wait for ``+``.  Raises
    :class:`~pipeimap.errors.InvalidArgumentError` when an argument cannot be
    sent (a NUL outside a binary APPEND, a lone surrogate ...); the message
    never holds a secret.
    """
    return _encode(tag, command, options or EncodeOptions()).fragments()


@dataclass(frozen=True, slots=True)
class EncodingInfo:
    """Facts about a command's encoding the scheduler needs for its footprint.

    ``line_lengths``: length of each command line segment excluding literal
    data (the text between literals), the longest being what a server's line
    limit applies to.
    """

    literal_sizes: tuple[int, ...]
    sync_literals: int
    line_lengths: tuple[int, ...]
    total_bytes: int

    @property
    def has_sync_literal(self) -> bool:
        return self.sync_literals > 0

    @property
    def max_line(self) -> int:
        return max(self.line_lengths)


def describe_encoding(
    command: c.Command, options: EncodeOptions | None = None, tag: str = "A0000"
) -> EncodingInfo:
    """Encode ``command`` once and report literal sizes, synchronizing
    literals and line lengths (for footprints and the line budget)."""
    w = _encode(tag, command, options or EncodeOptions())
    lines: list[int] = []
    current = 0
    total = 0
    for data, _sensitive, _wait, is_literal in w._pieces:
        total += len(data)
        if is_literal:
            lines.append(current)
            current = 0
        else:
            current += len(data)
    lines.append(current)
    return EncodingInfo(tuple(w.literal_sizes), w.sync_literals, tuple(lines), total)


def serialize_idle_done() -> Fragment:
    """``DONE``, ending IDLE (RFC 2177)."""
    return Fragment(b"DONE\r\n")


def serialize_sasl_response(data: bytes | Secret) -> Fragment:
    """One SASL response line, base64 (RFC 9051 section 6.2.2); sensitive."""
    raw = data.reveal_bytes() if isinstance(data, Secret) else bytes(data)
    return Fragment(base64.b64encode(raw) + CRLF, False, True)


def serialize_sasl_cancel() -> Fragment:
    """``*``: cancel the SASL exchange (RFC 9051 section 6.2.2)."""
    return Fragment(b"*\r\n")


# --- splitting to a line budget ------------------------------------------------------

_SPLITTABLE = (c.Fetch, c.Store, c.Copy, c.Move, c.UidExpunge)


# Tags the scheduler makes are a short prefix and a counter ("A0001"); 32 octets
# leave room for any prefix and counter a connection can reach.
DEFAULT_MAX_TAG_LENGTH: Final = 32
_MEASURE_TAG: Final = "A0000"


def split_command(
    command: _C,
    max_line: int = 8000,
    options: EncodeOptions | None = None,
    *,
    tag_length: int = DEFAULT_MAX_TAG_LENGTH,
) -> tuple[_C, ...]:
    """Split a message-set command whose line would exceed ``max_line`` octets
    into several commands over disjoint parts of its set (RFC 2683 section
    3.2.1.5).  Commands that are short enough, or have no splittable set
    (``$``, non-message commands), come back unchanged as a 1-tuple.

    ``tag_length`` is the longest tag the command may be sent with: the tag
    is part of the line, and it is not known yet when commands are split.
    The default (:data:`DEFAULT_MAX_TAG_LENGTH`, 32 octets) covers the
    scheduler's tags; pass the real maximum to use the budget to the byte.

    Splitting changes meaning for MOVE/COPY only in atomicity (each part
    succeeds or fails on its own) and for COPYUID (one per part).
    """
    opts = options or EncodeOptions()
    if isinstance(tag_length, bool) or not isinstance(tag_length, int) or tag_length < 1:
        raise InvalidArgumentError(f"tag_length must be a positive int, not {tag_length!r}")
    if not isinstance(command, _SPLITTABLE):
        return (command,)
    info = describe_encoding(command, opts, _MEASURE_TAG)
    # The tag is on the first line, with the set; counting it on every line
    # errs on the safe side.
    longest = info.max_line - len(_MEASURE_TAG) + tag_length
    if longest <= max_line:
        return (command,)
    msgs = command.messages
    if not isinstance(msgs, (SeqSet, UIDSet)):
        return (command,)
    overhead = longest - len(msgs.to_bytes())
    budget = max_line - overhead
    if budget < 21:  # room for at least one "4294967294:4294967295"
        raise InvalidArgumentError(f"line budget of {max_line} leaves no room for the message set")
    field_name = "uids" if isinstance(command, c.UidExpunge) else "target"
    return tuple(
        cast(_C, replace(cast(Any, command), **{field_name: part})) for part in msgs.split(budget)
    )
