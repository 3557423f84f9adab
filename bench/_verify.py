"""Cross-check pipeimap's response parser against the corpus ground truth.

Used by ``parser_bench.py`` (untimed pass before timing) and importable by
tests, which need neither imapclient nor timing::

    from bench._corpus_gen import chunked, generate_header_corpus
    from bench._verify import verify_pipeimap_headers

    corpus = generate_header_corpus(200_000, seed=5)
    assert verify_pipeimap_headers(corpus, chunked(corpus.wire, 1)) == []

Comparison is field by field in a neutral form (nested tuples of bytes, int and
None): pipeimap's ``str`` values are re-encoded with UTF-8/surrogateescape, its
``()`` for NIL parameter and address lists matches the model's None, and
extension fields the server did not send count as None.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

from bench._corpus_gen import (
    AddressList,
    BodyStructure,
    BulkCorpus,
    Disposition,
    Envelope,
    HeaderCorpus,
    MultiPart,
)
from pipeimap.protocol import _responses as pr
from pipeimap.protocol._limits import ParserLimits
from pipeimap.protocol._parser import ResponseParser

__all__ = [
    "Problems",
    "sem_body_model",
    "sem_body_pipeimap",
    "sem_envelope_model",
    "sem_envelope_pipeimap",
    "verify_pipeimap_bulk",
    "verify_pipeimap_headers",
]

Sem = Any  # nested tuples of bytes / int / None


def _b(value: str | None) -> bytes | None:
    return None if value is None else value.encode("utf-8", "surrogateescape")


def _sem_addresses_model(addrs: AddressList) -> Sem:
    return () if addrs is None else tuple((a.name, a.adl, a.mailbox, a.host) for a in addrs)


def sem_envelope_model(env: Envelope) -> Sem:
    return (
        env.date,
        env.subject,
        *(
            _sem_addresses_model(x)
            for x in (env.from_, env.sender, env.reply_to, env.to, env.cc, env.bcc)
        ),
        env.in_reply_to,
        env.message_id,
    )


def _sem_params_model(params: tuple[tuple[bytes, bytes], ...] | None) -> Sem:
    return () if params is None else params


def _sem_dsp_model(dsp: Disposition | None) -> Sem:
    return None if dsp is None else (dsp.type, _sem_params_model(dsp.params))


def _sem_lang_model(lang: bytes | tuple[bytes, ...] | None) -> Sem:
    return (lang,) if isinstance(lang, bytes) else lang


def sem_body_model(body: BodyStructure) -> Sem:
    """Ground truth in pipeimap's terms: NIL params are (), absent extensions are None."""
    if isinstance(body, MultiPart):
        n = body.ext_count
        return (
            "multipart",
            tuple(sem_body_model(p) for p in body.parts),
            body.subtype,
            _sem_params_model(body.params) if n >= 1 else (),
            _sem_dsp_model(body.disposition) if n >= 2 else None,
            _sem_lang_model(body.language) if n >= 3 else None,
            body.location if n >= 4 else None,
        )
    n = body.ext_count
    return (
        "part",
        body.type,
        body.subtype,
        _sem_params_model(body.params),
        body.id,
        body.description,
        body.encoding,
        body.octets,
        body.lines,
        None if body.envelope is None else sem_envelope_model(body.envelope),
        None if body.body is None else sem_body_model(body.body),
        body.md5 if n >= 1 else None,
        _sem_dsp_model(body.disposition) if n >= 2 else None,
        _sem_lang_model(body.language) if n >= 3 else None,
        body.location if n >= 4 else None,
    )


def _sem_addresses_pi(addrs: tuple[pr.Address, ...]) -> Sem:
    return tuple((_b(a.name), _b(a.adl), _b(a.mailbox), _b(a.host)) for a in addrs)


def sem_envelope_pipeimap(env: pr.Envelope) -> Sem:
    return (
        _b(env.date),
        _b(env.subject),
        *(
            _sem_addresses_pi(x)
            for x in (env.from_, env.sender, env.reply_to, env.to, env.cc, env.bcc)
        ),
        _b(env.in_reply_to),
        _b(env.message_id),
    )


def _sem_params_pi(params: tuple[tuple[str, str], ...]) -> Sem:
    return tuple((_b(k), _b(v)) for k, v in params)


def _sem_dsp_pi(dsp: pr.Disposition | None) -> Sem:
    return None if dsp is None else (_b(dsp.type), _sem_params_pi(dsp.params))


def _sem_lang_pi(lang: tuple[str, ...] | None) -> Sem:
    return None if lang is None else tuple(_b(x) for x in lang)


def sem_body_pipeimap(body: pr.BodyStructure) -> Sem:
    if isinstance(body, pr.MultipartBody):
        return (
            "multipart",
            tuple(sem_body_pipeimap(p) for p in body.parts),
            _b(body.subtype),
            _sem_params_pi(body.params),
            _sem_dsp_pi(body.disposition),
            _sem_lang_pi(body.language),
            _b(body.location),
        )
    return (
        "part",
        _b(body.type),
        _b(body.subtype),
        _sem_params_pi(body.params),
        _b(body.id),
        _b(body.description),
        _b(body.encoding),
        body.size,
        body.lines,
        None if body.envelope is None else sem_envelope_pipeimap(body.envelope),
        None if body.body is None else sem_body_pipeimap(body.body),
        _b(body.md5),
        _sem_dsp_pi(body.disposition),
        _sem_lang_pi(body.language),
        _b(body.location),
    )


def _flags_pi(flags: tuple[Any, ...] | None) -> tuple[bytes, ...] | None:
    return None if flags is None else tuple(str(f).encode() for f in flags)


def _pipeimap_events(chunks: Sequence[bytes], limits: ParserLimits) -> list[Any]:
    parser = ResponseParser(limits=limits, expect_greeting=False)
    events: list[Any] = []
    for data in chunks:
        parser.feed(data)
        while (ev := parser.next_event()) is not None:
            events.append(ev)
    return events


class Problems:
    """Collects mismatches as readable lines (the first few are enough)."""

    def __init__(self, who: str) -> None:
        self.who = who
        self.items: list[str] = []

    def add(self, msg: str) -> None:
        self.items.append(f"{self.who}: {msg}")

    def check(self, index: int, what: str, got: object, expected: object) -> None:
        if got != expected:
            self.add(f"message {index + 1}: {what}: got {got!r:.300}, expected {expected!r:.300}")


def verify_pipeimap_bulk(
    corpus: BulkCorpus, chunks: Sequence[bytes], limits: ParserLimits | None = None, label: str = ""
) -> list[str]:
    """Feed ``chunks`` (the corpus wire, split anyhow) and compare every event with
    the ground truth: seq, UID, flags, and size and CRC-32 of each body, whether
    streamed or assembled.  Returns the problems found (empty: all correct)."""
    p = Problems(f"pipeimap (a){label}")
    try:
        events = _pipeimap_events(chunks, limits or ParserLimits())
    except Exception as exc:
        p.add(f"raised {exc!r:.500}")
        return p.items
    i = 0
    crc = 0
    streamed = 0
    in_literal = False
    tagged = 0
    for ev in events:
        if isinstance(ev, pr.FetchLiteralStarted):
            in_literal, crc, streamed = True, 0, 0
            if i < len(corpus.messages):
                p.check(i, "literal size", ev.size, corpus.messages[i].size)
        elif isinstance(ev, pr.FetchLiteralChunk):
            crc = zlib.crc32(ev.data, crc)
            streamed += len(ev.data)
        elif isinstance(ev, pr.FetchLiteralEnded):
            in_literal = False
        elif isinstance(ev, pr.FetchResponse):
            if i >= len(corpus.messages):
                p.add("more FETCH responses than sent")
                break
            m = corpus.messages[i]
            p.check(i, "seq", int(ev.seq), m.seq)
            p.check(i, "uid", None if ev.uid is None else int(ev.uid), m.uid)
            p.check(i, "flags", _flags_pi(ev.items.flags), m.flags)
            value = ev.items.get("BODY[]")
            if isinstance(value, bytes):
                p.check(i, "body crc32", zlib.crc32(value), m.crc32)
                p.check(i, "body size", len(value), m.size)
            elif isinstance(value, pr.StreamedLiteral):
                p.check(i, "streamed size", (value.size, streamed), (m.size, m.size))
                p.check(i, "streamed crc32", crc, m.crc32)
                if in_literal:
                    p.add(f"message {i + 1}: FetchResponse before FetchLiteralEnded")
            else:
                p.add(f"message {i + 1}: BODY[] is {value!r:.100}")
            i += 1
        elif isinstance(ev, pr.TaggedResponse):
            tagged += 1
        else:
            p.add(f"unexpected event {ev!r:.200}")
        if len(p.items) > 10:
            break
    p.check(len(corpus.messages) - 1, "FETCH responses seen", i, len(corpus.messages))
    p.check(len(corpus.messages) - 1, "tagged responses seen", tagged, 1)
    return p.items


def verify_pipeimap_headers(
    corpus: HeaderCorpus,
    chunks: Sequence[bytes],
    limits: ParserLimits | None = None,
    label: str = "",
) -> list[str]:
    """Feed ``chunks`` and compare every FETCH response with the ground truth: seq,
    UID, flags, RFC822.SIZE, ENVELOPE and BODYSTRUCTURE field by field.  Returns
    the problems found (empty: all correct)."""
    p = Problems(f"pipeimap (b){label}")
    try:
        events = _pipeimap_events(chunks, limits or ParserLimits())
    except Exception as exc:
        p.add(f"raised {exc!r:.500}")
        return p.items
    fetches = [ev for ev in events if isinstance(ev, pr.FetchResponse)]
    p.check(len(fetches), "FETCH responses seen", len(fetches), len(corpus.messages))
    for i, (ev, m) in enumerate(zip(fetches, corpus.messages, strict=False)):
        items = ev.items
        p.check(i, "seq", int(ev.seq), m.seq)
        p.check(i, "uid", None if ev.uid is None else int(ev.uid), m.uid)
        p.check(i, "flags", _flags_pi(items.flags), m.flags)
        p.check(i, "RFC822.SIZE", items.rfc822_size, m.size)
        env = items.envelope
        p.check(
            i,
            "ENVELOPE",
            None if env is None else sem_envelope_pipeimap(env),
            sem_envelope_model(m.envelope),
        )
        body = items.bodystructure
        p.check(
            i,
            "BODYSTRUCTURE",
            None if body is None else sem_body_pipeimap(body),
            sem_body_model(m.bodystructure),
        )
        if len(p.items) > 10:
            break
    return p.items
