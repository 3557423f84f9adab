"""Untagged data other than FETCH and status: ``mailbox-data``, ``capability-data``,
``enable-data``, ``esearch-response``, ``namespace-response``, ``id-response``,
QUOTA, THREAD, VANISHED (RFC 9051 section 7.2-7.5 and the extension RFCs named
on each function).

Each ``parse_*`` function takes the lexer's generic tree of everything after
the response keyword and returns a typed response, raising
:class:`~pipeimap.protocol._lexer.GrammarError` with the ABNF rule name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from ._bodystructure import generic
from ._codes import parse_flag
from ._lexer import GrammarError, Value, text
from ._mutf7 import decode_mutf7
from ._responses import (
    CapabilityResponse,
    EnabledResponse,
    ESearchResponse,
    FlagsResponse,
    IdResponse,
    ListResponse,
    MailboxStatusResponse,
    Namespace,
    NamespaceResponse,
    QuotaResource,
    QuotaResponse,
    QuotaRootResponse,
    SearchResponse,
    SortResponse,
    ThreadNode,
    ThreadResponse,
    VanishedResponse,
    ordered_runs,
)
from ._seqset import SeqSet, UIDSet, parse_ranges
from ._types import ModSeq

__all__ = ["DATA_PARSERS"]


def _atom(v: Value, rule: str) -> str:
    if v.__class__ is not str:
        raise GrammarError(rule, f"expected an atom, got {v!r:.40}")
    return v


def _number(v: Value, rule: str, *, nz32: bool = False, limit: int = (1 << 63) - 1) -> int:
    if v.__class__ is str and v.isdigit() and v.isascii() and len(v) <= 20:
        n = int(v)
        if (nz32 and not 1 <= n <= 0xFFFFFFFF) or n > limit:
            raise GrammarError(rule, f"number out of range: {n}")
        return n
    raise GrammarError(rule, f"expected a number, got {v!r:.40}")


def _string(v: Value, rule: str) -> str:
    if v.__class__ is str or v.__class__ is bytes:
        return text(v)
    raise GrammarError(rule, f"expected a string, got {v!r:.40}")


def mailbox_name(v: Value, utf8: bool) -> tuple[str, bytes]:
    """Decode a ``mailbox`` (RFC 9051 section 5.1): INBOX is case-insensitive;
    modified UTF-7 (RFC 3501 section 5.1.3) unless UTF8=ACCEPT is enabled
    (RFC 6855, RFC 9051 section 6.3.1).  Tolerated: a name that is not valid
    modified UTF-7 (servers that send raw UTF-8 without UTF8=ACCEPT) is decoded
    as UTF-8."""
    if v.__class__ is str:
        raw = v.encode("utf-8", "surrogateescape")
    elif v.__class__ is bytes:
        raw = v
    else:
        raise GrammarError("mailbox", f"expected a mailbox name, got {v!r:.40}")
    if raw.upper() == b"INBOX":
        return "INBOX", raw
    if not utf8:
        try:
            return decode_mutf7(raw), raw
        except ValueError:
            pass
    return raw.decode("utf-8", "surrogateescape"), raw


_ATTRS: Final = {
    a.lower(): a
    for a in [
        "\\Noinferiors",
        "\\Noselect",
        "\\Marked",
        "\\Unmarked",
        "\\NonExistent",
        "\\Subscribed",
        "\\Remote",
        "\\HasChildren",
        "\\HasNoChildren",
        "\\All",
        "\\Archive",
        "\\Drafts",
        "\\Flagged",
        "\\Junk",
        "\\Sent",
        "\\Trash",
        "\\Important",
    ]
}


def parse_capability(v: list[Value], utf8: bool) -> CapabilityResponse:
    """``capability-data`` (RFC 9051 section 7.2.2)."""
    return CapabilityResponse(tuple(_atom(c, "capability").upper() for c in v))


def parse_enabled(v: list[Value], utf8: bool) -> EnabledResponse:
    """``enable-data`` (RFC 5161 section 4)."""
    return EnabledResponse(tuple(_atom(c, "enable-data").upper() for c in v))


def _list(kind: str) -> Callable[[list[Value], bool], ListResponse]:
    def parse_list(v: list[Value], utf8: bool) -> ListResponse:
        """``mailbox-list`` (RFC 9051 section 7.3.1, RFC 5258, RFC 6154)."""
        if len(v) < 3 or not isinstance(v[0], list):
            raise GrammarError("mailbox-list", "LIST needs (attributes) delimiter mailbox")
        attrs = []
        for a in v[0]:
            s = _atom(a, "mbx-list-flags")
            attrs.append(_ATTRS.get(s.lower(), s))
        delim = v[1]
        if delim is not None:
            delim = _string(delim, "mailbox-list")
        name, raw = mailbox_name(v[2], utf8)
        extended: dict[str, object] = {}
        if len(v) > 3:
            ext = v[3]
            if not isinstance(ext, list) or len(v) > 4:
                raise GrammarError("mbox-list-extended", "bad LIST extended data")
            for i in range(0, len(ext) - 1, 2):
                tag = _string(ext[i], "mbox-list-extended-item-tag").upper()
                value = ext[i + 1]
                if tag == "OLDNAME" and isinstance(value, list) and value:
                    extended[tag] = (mailbox_name(value[0], utf8)[0],)
                else:
                    extended[tag] = generic(value)
        return ListResponse(kind, tuple(attrs), delim, name, raw, extended)

    return parse_list


_STATUS_FIELDS: Final = {
    "MESSAGES": "messages",
    "UIDNEXT": "uidnext",
    "UIDVALIDITY": "uidvalidity",
    "UNSEEN": "unseen",
    "RECENT": "recent",
    "DELETED": "deleted",
    "SIZE": "size",
    "HIGHESTMODSEQ": "highestmodseq",
    "APPENDLIMIT": "appendlimit",
}


def parse_status(v: list[Value], utf8: bool) -> MailboxStatusResponse:
    """``"STATUS" SP mailbox SP "(" [status-att-list] ")"`` (RFC 9051 section 7.3.2)."""
    if len(v) != 2 or not isinstance(v[1], list):
        raise GrammarError("status-att-list", "STATUS needs mailbox and (items)")
    name, raw = mailbox_name(v[0], utf8)
    items = v[1]
    fields: dict[str, object] = {}
    other: dict[str, object] = {}
    if len(items) % 2:
        raise GrammarError("status-att-list", "STATUS items come in pairs")
    for i in range(0, len(items), 2):
        key = _atom(items[i], "status-att").upper()
        value = items[i + 1]
        attr = _STATUS_FIELDS.get(key)
        if attr is None:
            other[key] = generic(value)
        elif key == "APPENDLIMIT" and value is None:
            other[key] = None  # RFC 7889: NIL means "no limit"
        elif key == "HIGHESTMODSEQ":
            fields[attr] = ModSeq(_number(value, "mod-sequence-value"))
        else:
            fields[attr] = _number(value, "status-att-val")
    return MailboxStatusResponse(name, raw, other=other, **fields)  # type: ignore[arg-type]


def _numbers_modseq(v: list[Value], rule: str) -> tuple[tuple[int, ...], ModSeq | None]:
    modseq = None
    if v and isinstance(v[-1], list):
        m = v.pop()
        if not isinstance(m, list) or len(m) != 2 or _atom(m[0], rule).upper() != "MODSEQ":
            raise GrammarError(rule, "expected (MODSEQ n)")
        modseq = ModSeq(_number(m[1], "mod-sequence-value"))
    return tuple(_number(n, rule, nz32=True) for n in v), modseq


def parse_search(v: list[Value], utf8: bool) -> SearchResponse:
    """``"SEARCH" *(SP nz-number) [SP search-sort-mod-seq]`` (RFC 3501, RFC 7162)."""
    return SearchResponse(*_numbers_modseq(list(v), "mailbox-data"))


def parse_sort(v: list[Value], utf8: bool) -> SortResponse:
    """``sort-data`` (RFC 5256 section 5, RFC 7162 section 3.1.5)."""
    return SortResponse(*_numbers_modseq(list(v), "sort-data"))


def _set(v: Value, uid: bool, rule: str) -> UIDSet | SeqSet:
    s = _atom(v, rule)
    try:
        return UIDSet.parse(s) if uid else SeqSet.parse(s)
    except ValueError:
        raise GrammarError(rule, f"bad sequence set {s[:40]!r}") from None


def parse_esearch(v: list[Value], utf8: bool) -> ESearchResponse:
    """``esearch-response`` (RFC 4731, RFC 9051 section 7.3.4, RFC 9394 PARTIAL)."""
    i = 0
    tag = None
    if v and isinstance(v[0], list):
        corr = v[0]
        for j in range(0, len(corr) - 1, 2):
            if _atom(corr[j], "search-correlator").upper() == "TAG":
                tag = _string(corr[j + 1], "search-correlator")
        i = 1
    uid = False
    if i < len(v) and v[i].__class__ is str and v[i].upper() == "UID":  # type: ignore[union-attr]
        uid = True
        i += 1
    fields: dict[str, object] = {}
    other: dict[str, object] = {}
    rest = v[i:]
    if len(rest) % 2:
        raise GrammarError("search-return-data", "ESEARCH return data comes in pairs")
    for j in range(0, len(rest), 2):
        key = _atom(rest[j], "search-return-data").upper()
        value = rest[j + 1]
        if key in ("MIN", "MAX"):
            fields[key.lower()] = _number(value, "search-return-data", nz32=True)
        elif key == "COUNT":
            fields["count"] = _number(value, "search-return-data")
        elif key == "ALL":
            fields["all"] = _set(value, uid, "search-return-data")
            # After SORT RETURN (ALL) the order is the sort order (RFC 5267 section 3.1).
            ranges = parse_ranges(_atom(value, "search-return-data"))
            if all(isinstance(a, int) and isinstance(b, int) for a, b in ranges):
                fields["all_ordered"] = ordered_runs(ranges)  # type: ignore[arg-type]
        elif key == "MODSEQ":
            fields["modseq"] = ModSeq(_number(value, "search-return-data"))
        elif key == "PARTIAL":
            if not isinstance(value, list) or len(value) != 2:
                raise GrammarError("ret-data-partial", "PARTIAL needs (range set)")
            rng = _atom(value[0], "ret-data-partial")
            found = None if value[1] is None else _set(value[1], uid, "ret-data-partial")
            fields["partial"] = (rng, found)
        else:
            other[key] = generic(value)
    return ESearchResponse(tag, uid, other=other, **fields)  # type: ignore[arg-type]


def _thread(v: list[Value]) -> ThreadNode:
    numbers: list[int] = []
    i = 0
    while i < len(v) and not isinstance(v[i], list):
        numbers.append(_number(v[i], "thread-members", nz32=True))
        i += 1
    branches = v[i:]
    if any(not isinstance(b, list) for b in branches):
        raise GrammarError("thread-list", "thread members must come before branches")
    children = tuple(_thread(b) for b in branches)  # type: ignore[arg-type]
    if not numbers:
        return ThreadNode(None, children)
    node = ThreadNode(numbers[-1], children)
    for n in reversed(numbers[:-1]):  # a chain, built without recursion
        node = ThreadNode(n, (node,))
    return node


def parse_thread(v: list[Value], utf8: bool) -> ThreadResponse:
    """``thread-data = "THREAD" [SP 1*thread-list]`` (RFC 5256 section 5)."""
    threads = []
    for t in v:
        if not isinstance(t, list):
            raise GrammarError("thread-list", "a thread is a list")
        threads.append(_thread(t))
    return ThreadResponse(tuple(threads))


def parse_flags(v: list[Value], utf8: bool) -> FlagsResponse:
    """``"FLAGS" SP flag-list`` (RFC 9051 section 7.3.5)."""
    if len(v) != 1 or not isinstance(v[0], list):
        raise GrammarError("flag-list", "FLAGS needs one list")
    try:
        return FlagsResponse(tuple(parse_flag(f) for f in v[0]))
    except ValueError:
        raise GrammarError("flag-list", "bad flag") from None


def parse_vanished(v: list[Value], utf8: bool) -> VanishedResponse:
    """``"VANISHED" [SP "(EARLIER)"] SP known-uids`` (RFC 7162 section 3.2.10)."""
    earlier = False
    if len(v) == 2 and isinstance(v[0], list):
        if len(v[0]) != 1 or _atom(v[0][0], "expunged-resp").upper() != "EARLIER":
            raise GrammarError("expunged-resp", "expected (EARLIER)")
        earlier = True
        v = v[1:]
    if len(v) != 1:
        raise GrammarError("expunged-resp", "VANISHED needs a UID set")
    uids = _set(v[0], True, "expunged-resp")
    return VanishedResponse(uids, earlier)  # type: ignore[arg-type]


def _namespaces(v: Value) -> tuple[Namespace, ...] | None:
    if v is None:
        return None
    if not isinstance(v, list):
        raise GrammarError("namespace", "a namespace is NIL or a list")
    out = []
    for d in v:
        if not isinstance(d, list) or len(d) < 2:
            raise GrammarError("namespace-descr", "descriptor needs prefix and delimiter")
        prefix = _string(d[0], "namespace-descr")
        delim = None if d[1] is None else _string(d[1], "namespace-descr")
        ext: dict[str, tuple[str, ...]] = {}
        rest = d[2:]
        for i in range(0, len(rest) - 1, 2):
            values = rest[i + 1]
            if not isinstance(values, list):
                raise GrammarError("namespace-response-extension", "values are a list")
            ext[_string(rest[i], "namespace-response-extension")] = tuple(
                _string(x, "namespace-response-extension") for x in values
            )
        out.append(Namespace(prefix, delim, ext))
    return tuple(out)


def parse_namespace(v: list[Value], utf8: bool) -> NamespaceResponse:
    """``namespace-response`` (RFC 2342, RFC 9051 section 7.3.3)."""
    if len(v) != 3:
        raise GrammarError("namespace-response", "NAMESPACE needs three namespaces")
    return NamespaceResponse(_namespaces(v[0]), _namespaces(v[1]), _namespaces(v[2]))


def parse_id(v: list[Value], utf8: bool) -> IdResponse:
    """``id-response = "ID" SP id-params-list`` (RFC 2971 section 3.2)."""
    if len(v) != 1:
        raise GrammarError("id-response", "ID needs NIL or a list")
    if v[0] is None:
        return IdResponse(None)
    lst = v[0]
    if not isinstance(lst, list) or len(lst) % 2:
        raise GrammarError("id-params-list", "ID parameters come in pairs")
    params: dict[str, str | None] = {}
    for i in range(0, len(lst), 2):
        val = lst[i + 1]
        params[_string(lst[i], "id-params-list")] = (
            None if val is None else _string(val, "id-params-list")
        )
    return IdResponse(params)


def parse_quota(v: list[Value], utf8: bool) -> QuotaResponse:
    """``quota-response = "QUOTA" SP quota-root-name SP quota-list`` (RFC 9208)."""
    if len(v) != 2 or not isinstance(v[1], list) or len(v[1]) % 3:
        raise GrammarError("quota-response", "QUOTA needs root and (resource usage limit ...)")
    lst = v[1]
    res = tuple(
        QuotaResource(
            _atom(lst[i], "quota-resource").upper(),
            _number(lst[i + 1], "quota-resource"),
            _number(lst[i + 2], "quota-resource"),
        )
        for i in range(0, len(lst), 3)
    )
    return QuotaResponse(_string(v[0], "quota-root-name"), res)


def parse_quotaroot(v: list[Value], utf8: bool) -> QuotaRootResponse:
    """``quotaroot-response = "QUOTAROOT" SP mailbox *(SP quota-root-name)`` (RFC 9208)."""
    if not v:
        raise GrammarError("quotaroot-response", "QUOTAROOT needs a mailbox")
    name, _raw = mailbox_name(v[0], utf8)
    return QuotaRootResponse(name, tuple(_string(r, "quota-root-name") for r in v[1:]))


DATA_PARSERS: Final[dict[str, Callable[[list[Value], bool], object]]] = {
    "CAPABILITY": parse_capability,
    "ENABLED": parse_enabled,
    "LIST": _list("LIST"),
    "LSUB": _list("LSUB"),
    "XLIST": _list("XLIST"),
    "STATUS": parse_status,
    "SEARCH": parse_search,
    "SORT": parse_sort,
    "ESEARCH": parse_esearch,
    "THREAD": parse_thread,
    "FLAGS": parse_flags,
    "VANISHED": parse_vanished,
    "NAMESPACE": parse_namespace,
    "ID": parse_id,
    "QUOTA": parse_quota,
    "QUOTAROOT": parse_quotaroot,
}
