"""The incremental, sans-IO response parser (RFC 9051 section 7, ``response``).

Theory of operation: :class:`ResponseParser` is h11-style.  ``feed()`` only
appends bytes; ``next_event()`` does the work, one response at a time and only
on demand, so that after the tagged OK of STARTTLS or COMPRESS the bytes that
follow are still unparsed and :meth:`take_unparsed` hands them over intact.
The :class:`~pipeimap.protocol._framing.Framer` cuts the stream into
responses (and streams large FETCH literals); the first line's head selects
the grammar (status, continuation, FETCH, other data); the lexer turns the
rest into a generic tree in one regex pass; the ``_parse_*`` modules build
typed values.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import deque
from collections.abc import Iterator
from typing import Final

from ..errors import ResponseParseError, escape_excerpt
from ._accel import convert_msg_att as convert_msg_att  # (tests swap it)
from ._accel import lex, lex_fetch_batch
from ._bodystructure import generic
from ._codes import parse_resp_text
from ._framing import Frame, Framer
from ._lexer import _TOKEN, GrammarError, Value
from ._limits import ParserLimits
from ._parse_data import DATA_PARSERS
from ._responses import (
    ContinuationRequest,
    EnabledResponse,
    Event,
    ExistsResponse,
    ExpungeResponse,
    FetchItems,
    FetchResponse,
    Greeting,
    RecentResponse,
    TaggedResponse,
    UnknownResponse,
    UntaggedStatus,
)
from ._types import SeqNum

__all__ = ["ResponseParser"]

_UNTAGGED_NUMBER: Final = re.compile(r"\* *([0-9]{1,10}) +([A-Za-z][A-Za-z0-9.\-]*) ?")
_UNTAGGED_WORD: Final = re.compile(r"\* *([A-Za-z][A-Za-z0-9.\-_=]*) ?")
# tag = 1*<any ASTRING-CHAR except "+"> (RFC 9051 section 9)
_TAGGED: Final = re.compile(r'([^\x00-\x20(){%*"\\+\x7f-\xff]+) +([A-Za-z]+)(?=[ \[]|\Z)')
_STATUS: Final = frozenset(("OK", "NO", "BAD", "BYE", "PREAUTH"))
_TAGGED_STATUS: Final = frozenset(("OK", "NO", "BAD"))
_BASE64: Final = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?\Z")
# Fast path batch sizes: doubled after each full success, back to 1 after a failure.
# Bounded small on purpose: the events of a batch are alive until the caller takes
# them, and objects alive at a garbage collection move to an older generation; at
# 64 (about 3,500 objects for header-only lines) they piled up fast enough to cause
# a full collection every ~900 lines, which halved the header-only parse rate in a
# process holding a few 100,000 other objects (bench/parser_bench.py: 30 -> 68 MB/s).
_BATCH_MAX: Final = 16
# After a refusal, the exact path takes the next 4, 8, ... up to this many responses.
_BACKOFF_MAX: Final = 64
_int_new: Final = int.__new__
# FetchResponse's slot setters (see _fetch_ahead_batch).
_new: Final = object.__new__
_set_seq: Final = vars(FetchResponse)["seq"].__set__
_set_uid: Final = vars(FetchResponse)["uid"].__set__
_set_items: Final = vars(FetchResponse)["items"].__set__
_FETCH_ITEM_START: Final = re.compile(
    r" *(?i:UID|FLAGS|RFC822\.SIZE|INTERNALDATE|MODSEQ|ENVELOPE|BODYSTRUCTURE) ",
    re.ASCII,  # no Unicode case folding: U+017F (long s) must not match "S"
)


def _refused(item: list[Value]) -> bool:
    try:
        convert_msg_att(item)
    except (GrammarError, ValueError):
        return True
    return False


def _wire_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogateescape"))


def _item_position(frame: Frame, index: int) -> tuple[int, int] | None:
    """(text part number, byte position in it) of token ``index`` of the FETCH
    item list: the tokens inside the outermost parentheses, then any after
    them (Xeams).  Only called on the error path."""
    first = frame.parts[0]
    if not isinstance(first, str):
        return None
    m = _UNTAGGED_NUMBER.match(first)
    if m is None:
        return None
    depth = 0
    count = -1
    for k in range(0, len(frame.parts), 2):
        seg = frame.parts[k]
        if not isinstance(seg, str):
            return None
        start = m.end() if k == 0 else 0
        for t in _TOKEN.finditer(seg, start):
            c = t.group()[0]
            if c == "(":
                depth += 1
                if depth == 2:  # a list value starts: it is one token of the item list
                    count += 1
                    if count == index:
                        return k // 2, _wire_len(seg[: t.start()])
            elif c == ")":
                depth -= 1
            elif depth == 1 or (depth == 0 and count >= 0):
                count += 1
                if count == index:
                    return k // 2, _wire_len(seg[: t.start()])
        if k + 1 < len(frame.parts) and depth in (1, 0):
            count += 1  # a literal value of the item list
    return None


class ResponseParser:
    """Turns bytes from an IMAP server into typed events.

    Usage::

        parser = ResponseParser()
        parser.feed(data)
        for event in parser.events():
            ...

    ``next_event()`` returns ``None`` when it needs more data.  After
    ``feed_eof()``, an incomplete response makes ``next_event()`` raise
    :class:`~pipeimap.errors.ResponseParseError`.  A parse error is final:
    every later call raises it again.

    Args:
        limits: memory bounds, see :class:`ParserLimits`.
        expect_greeting: the first response must be a greeting (``* OK``,
            ``* PREAUTH``, ``* BYE``) and is returned as :class:`Greeting`.
        utf8: mailbox names are UTF-8 (after ``ENABLE UTF8=ACCEPT``, RFC 9051
            section 6.3.1 / RFC 6855).  The parser switches this on itself when
            it parses ``* ENABLED`` with ``UTF8=ACCEPT``.
    """

    def __init__(
        self,
        limits: ParserLimits | None = None,
        *,
        expect_greeting: bool = True,
        utf8: bool = False,
    ) -> None:
        self.limits = limits if limits is not None else ParserLimits()
        self.utf8 = utf8
        self._framer = Framer(self.limits)
        self._expect_greeting = expect_greeting
        self._error: ResponseParseError | None = None
        self._last_fetch_seq: SeqNum | None = None
        # FETCH responses the fast path parsed ahead, with the buffer position after
        # each; their bytes count as unparsed until next_event() returns them.
        self._ready: deque[tuple[FetchResponse, int]] = deque()
        self._batch = 1
        self._batch_skip = 0
        self._batch_backoff = 4

    # --- public API ---------------------------------------------------------------

    @property
    def offset(self) -> int:
        """Bytes consumed so far (absolute stream offset of the next unparsed byte)."""
        return self._framer.offset

    @property
    def buffered(self) -> int:
        """Bytes the parser holds (input not yet consumed plus the current response)."""
        return self._framer.buffered

    def feed(self, data: bytes) -> None:
        """Append received bytes; nothing is parsed until :meth:`next_event`."""
        if self._framer.eof:
            raise RuntimeError("feed() after feed_eof()")
        if data:
            self._framer.feed(data)

    def feed_eof(self) -> None:
        """The connection was closed by the server."""
        self._framer.eof = True

    def take_unparsed(self) -> bytes:
        """Return (and drop) every byte fed but not yet parsed.

        For COMPRESS=DEFLATE the compressed stream starts right after the CRLF
        of the tagged OK (RFC 4978 section 3); for STARTTLS any such bytes are
        a response-injection attack and must be discarded (RFC 9051 section 11.1).
        """
        if not self._framer.at_boundary() and self._framer._parts:
            raise RuntimeError("take_unparsed() in the middle of a response")
        self._ready.clear()
        return self._framer.take_unparsed()

    def events(self) -> Iterator[Event]:
        """Yield every event that the data fed so far completes."""
        while True:
            event = self.next_event()
            if event is None:
                return
            yield event

    def next_event(self) -> Event | None:
        """Parse and return the next event, or ``None`` if more data is needed."""
        if self._error is not None:
            raise self._error
        ready = self._ready
        if ready or (not self._expect_greeting and self._fetch_ahead()):
            event, end = ready.popleft()
            self._framer.advance(end, not ready)
            self._last_fetch_seq = event.seq
            return event
        try:
            item = self._framer.next()
            if item is None:
                if self._framer.eof and self._framer.in_response():
                    off = self._framer.offset
                    raise ResponseParseError(
                        "response", off, "", "connection closed in the middle of a response"
                    )
                return None
            if isinstance(item, Frame):
                parsed = self._parse(item)
                if not isinstance(parsed, FetchResponse):
                    # The Xeams trailer (see _fetch_trailer) only ever follows its
                    # FETCH directly: any other response in between ends that chance.
                    self._last_fetch_seq = None
                return parsed
            return item
        except ResponseParseError as exc:
            self._error = exc
            raise

    def _fetch_ahead(self) -> bool:
        """Parse the complete FETCH responses at the read position in one batch
        (see :mod:`._fetch_batch`); False if the exact path must take the next one.

        Only responses the fast path parses completely are queued; at the first
        one it cannot, the batch stops, and that response goes through
        :meth:`_parse` (which raises any error, in order).  The batch size adapts:
        after a failure the next tries are of one response, and after a failure
        on a single response the fast path rests for a few responses (more each
        time it fails again), so input it cannot take costs little extra.

        The fast path never decides about an error: any exception inside it
        (a bug, or input it did not expect) drops what it parsed ahead and
        leaves the response to the exact path, which parses or reports it.
        """
        if self._batch_skip:
            self._batch_skip -= 1
            return False
        ready = self._ready
        try:
            return self._fetch_ahead_batch(ready)
        except Exception:  # never escapes: the exact path decides
            ready.clear()
            self._batch = 1
            self._back_off()
            return False

    def _fetch_ahead_batch(self, ready: deque[tuple[FetchResponse, int]]) -> bool:
        framer = self._framer
        want = self._batch
        peek = framer.peek_fetch_batch(want)
        if peek is None:
            if framer.fetch_refused:
                self._back_off()
            return False
        seqs, texts, lits, ends = peek
        trees = lex_fetch_batch(texts, lits, self.limits.max_nesting_depth)
        if trees is None and len(texts) > 1:
            # Somewhere in this batch is a response the fast path refuses: retry
            # the first one alone (the rest wait for later batches).
            want = 1
            seqs, texts, ends = seqs[:1], texts[:1], ends[:1]
            trees = lex_fetch_batch(
                texts, lits[: texts[0].count(b'"\x03"')], self.limits.max_nesting_depth
            )
        append = ready.append
        for seq, tree, end in zip(seqs, trees or (), ends, strict=False):
            try:
                items = convert_msg_att(tree)
            except Exception:  # GrammarError, ValueError: the exact path reports it
                break
            # FetchResponse(SeqNum(seq), items.uid, items) without the frozen
            # dataclass __init__'s object.__setattr__ calls (same object; the
            # framer checked the sequence number's range).
            event = _new(FetchResponse)
            _set_seq(event, _int_new(SeqNum, seq))
            _set_uid(event, items.get("UID"))
            _set_items(event, items)
            append((event, end))
        if len(ready) == len(texts):
            self._batch = min(want * 2, _BATCH_MAX)
            self._batch_backoff = 4
        else:
            self._batch = 1
            if not ready:
                self._back_off()
        return bool(ready)

    def _back_off(self) -> None:
        # The fast path refused the next response: leave the next few (4, 8, ...
        # up to 64 while it keeps refusing) to the exact path before trying again.
        self._batch_skip = self._batch_backoff
        self._batch_backoff = min(self._batch_backoff * 2, _BACKOFF_MAX)

    # --- dispatch -----------------------------------------------------------------

    def _fail(
        self, frame: Frame, rule: str, detail: str, pos: int = 0, part: int = 0
    ) -> ResponseParseError:
        """The error at byte ``pos`` of text part ``part`` of ``frame``."""
        text = frame.parts[2 * part]
        data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else b""
        return ResponseParseError(
            rule, frame.offsets[part] + pos, escape_excerpt(data, pos), detail
        )

    def _item_error(self, frame: Frame, tokens: list[Value], exc: ValueError) -> ResponseParseError:
        """A FETCH item's value was refused: report it at the start of that item.

        The tree has no positions (the fast lexers build none), so this error
        path converts the items one by one to find the failing one and then
        walks the response's tokens to find where its name starts.  Falls back
        to the start of the response."""
        rule = exc.rule if isinstance(exc, GrammarError) else "msg-att"
        index = next((i for i in range(0, len(tokens), 2) if _refused(tokens[i : i + 2])), 0)
        where = _item_position(frame, index)
        if where is None:
            return self._fail(frame, rule, str(exc))
        return self._fail(frame, rule, str(exc), where[1], where[0])

    def _parse(self, frame: Frame) -> Event:
        try:
            return self._dispatch(frame)
        except GrammarError as exc:
            raise self._fail(frame, exc.rule, str(exc)) from None
        except ValueError as exc:  # a value type refused a number (UID(0), ModSeq...)
            raise self._fail(frame, "response", str(exc)) from None

    def _dispatch(self, frame: Frame) -> Event:
        first = frame.parts[0]
        assert isinstance(first, str)  # frames always start with text
        depth = self.limits.max_nesting_depth
        if self._expect_greeting:
            self._expect_greeting = False
            m = _UNTAGGED_WORD.match(first)
            status = m.group(1).upper() if m is not None else ""
            if m is None or status not in ("OK", "PREAUTH", "BYE") or len(frame.parts) > 1:
                raise self._fail(frame, "greeting", "expected * OK, * PREAUTH or * BYE")
            code, text = parse_resp_text(first, m.end(), frame.start, depth)
            return Greeting(status, code, text)
        c = first[:1]
        if c == "*":
            return self._untagged(frame, first, depth)
        if c == "+":
            code, text = parse_resp_text(first, 1, frame.start, depth)
            data: bytes | None = None
            if code is None and _BASE64.match(text) is not None:
                try:
                    data = base64.b64decode(text, validate=True)
                except (binascii.Error, ValueError):
                    data = None
            return ContinuationRequest(text, code, data)
        m = _TAGGED.match(first)
        if m is not None and len(frame.parts) == 1:
            status = m.group(2).upper()
            if status in _TAGGED_STATUS:
                code, text = parse_resp_text(first, m.end(), frame.start, depth)
                return TaggedResponse(m.group(1), status, code, text)
        trailer = self._fetch_trailer(frame, first)
        if trailer is not None:
            return trailer
        raise self._fail(frame, "response", "not a tagged, untagged or continuation response")

    def _fetch_trailer(self, frame: Frame, first: str) -> FetchResponse | None:
        """Xeams (paperless-ngx #13412) closes the FETCH parenthesis right after the
        BODY[] literal and sends the remaining items on a line of their own, with
        neither ``*`` nor parentheses.  Such a line cannot be a tagged response
        (its second word is not OK/NO/BAD) nor anything else, so it is
        unambiguous: it belongs to the FETCH just before it."""
        seq = self._last_fetch_seq
        if seq is None or len(frame.parts) != 1 or _FETCH_ITEM_START.match(first) is None:
            return None
        line = first.rstrip(" ")
        if line.endswith(")") and line.count(")") > line.count("("):
            line = line[:-1]
        try:
            tree = lex([line], [frame.start], "msg-att", self.limits.max_nesting_depth)
            items = convert_msg_att(tree)
        except (ResponseParseError, GrammarError):
            return None
        return FetchResponse(seq, items.uid, items)

    def _rest(self, frame: Frame, first: str, start: int) -> list[Value]:
        parts = list(frame.parts)
        parts[0] = first[start:]
        offsets = list(frame.offsets)
        offsets[0] += start
        return lex(parts, offsets, "response-data", self.limits.max_nesting_depth)

    def _untagged(self, frame: Frame, first: str, depth: int) -> Event:
        m = _UNTAGGED_NUMBER.match(first)
        if m is not None:
            n = int(m.group(1))  # ASCII digits only: the pattern says [0-9]
            kind = m.group(2).upper()
            if kind == "FETCH":
                if not 1 <= n <= 0xFFFFFFFF:
                    raise self._fail(frame, "message-data", f"bad sequence number {n}", m.start(1))
                return self._fetch(frame, first, m.end(), n)
            if n > 0xFFFFFFFF:
                # number / nz-number are 32-bit (RFC 9051 section 9); ten digits
                # can say up to 9999999999.
                raise self._fail(frame, "message-data", f"number out of range: {n}", m.start(1))
            if len(frame.parts) == 1 and first[m.end() :].strip() == "":
                if kind == "EXISTS":
                    return ExistsResponse(n)
                if kind == "RECENT":
                    return RecentResponse(n)
                if kind == "EXPUNGE":
                    if n == 0:
                        raise self._fail(frame, "message-data", "EXPUNGE of message 0")
                    return ExpungeResponse(SeqNum(n))
            data = self._rest(frame, first, m.end())
            return UnknownResponse(kind, n, tuple(generic(x) for x in data))
        m = _UNTAGGED_WORD.match(first)
        if m is None:
            raise self._fail(frame, "response-data", "expected a response keyword after '*'")
        kind = m.group(1).upper()
        if kind in _STATUS and len(frame.parts) == 1:
            code, text = parse_resp_text(first, m.end(), frame.start, depth)
            return UntaggedStatus(kind, code, text)
        parser = DATA_PARSERS.get(kind)
        tree = self._rest(frame, first, m.end())
        if parser is None:
            return UnknownResponse(kind, None, tuple(generic(x) for x in tree))
        try:
            event = parser(tree, self.utf8)
        except GrammarError as exc:  # point at the data, after the keyword
            raise self._fail(frame, exc.rule, str(exc), _wire_len(first[: m.end()])) from None
        except ValueError as exc:
            raise self._fail(
                frame, "response-data", str(exc), _wire_len(first[: m.end()])
            ) from None
        if isinstance(event, EnabledResponse) and "UTF8=ACCEPT" in event.capabilities:
            self.utf8 = True  # RFC 9051 section 6.3.1: mailbox names are UTF-8 from now on
        return event  # type: ignore[return-value]

    def _fetch(self, frame: Frame, first: str, start: int, n: int) -> FetchResponse:
        tree = self._rest(frame, first, start)
        if not tree or not isinstance(tree[0], list):
            raise self._fail(frame, "msg-att", "FETCH needs a parenthesized item list", start)
        tokens = tree[0]
        if len(tree) > 1:
            # Items after the closing parenthesis (Xeams, paperless-ngx #13412): take them.
            tokens = tokens + tree[1:]
        try:
            items: FetchItems = convert_msg_att(tokens)
        except (GrammarError, ValueError) as exc:
            raise self._item_error(frame, tokens, exc) from None
        seq = SeqNum(n)
        self._last_fetch_seq = seq
        event = _new(FetchResponse)  # FetchResponse(seq, uid, items), as in _fetch_ahead_batch
        _set_seq(event, seq)
        _set_uid(event, items.get("UID"))
        _set_items(event, items)
        return event
