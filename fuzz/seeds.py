"""Seed corpora, one per target, built from the test data and the benchmark corpora.

Every seed starts with a control byte (see :mod:`fuzz.targets`); the seeds use
the control bytes that select the common configurations, mutation reaches the rest.
Also the IMAP dictionary the mutators insert tokens from.
"""

from __future__ import annotations

from pipeimap.protocol import _commands as c
from pipeimap.protocol import _search as S
from pipeimap.protocol._seqset import LAST_SEARCH_UID, STAR, SeqSet, UIDSet
from pipeimap.protocol._serializer import serialize
from pipeimap.protocol._types import Flag, ModSeq, Secret

from .targets import _OPTIONS, N_SCENARIOS

__all__ = ["DICTIONARY", "seeds"]

# Tokens a mutator inserts: IMAP syntax, numbers at the edges, literals, nesting.
DICTIONARY: tuple[bytes, ...] = (
    b"(",
    b")",
    b"((((((((((((((((((((",
    b"))))))))))",
    b" ",
    b"\r\n",
    b"\r",
    b"\n",
    b"NIL",
    b"nil",
    b'""',
    b'"a b"',
    b'"\\"',
    b'"\\\\"',
    b'"\\""',
    b"{0}\r\n",
    b"{1}\r\n",
    b"{5}\r\n",
    b"{64}\r\n",
    b"{4294967295}\r\n",
    b"{99999999999}\r\n",
    b"{5+}\r\n",
    b"~{3}\r\n",
    b"{",
    b"}",
    b"[",
    b"]",
    b"<",
    b">",
    b"<0.10>",
    b"* ",
    b"+ ",
    b"A0001 ",
    b"A0002 OK ",
    b"A0003 NO ",
    b"BAD ",
    b"OK ",
    b"BYE ",
    b"* 1 FETCH (",
    b"* 4294967295 FETCH (",
    b"* 0 FETCH (",
    b"UID ",
    b"UID 4294967296 ",
    b"FLAGS (\\Seen \\Deleted $X) ",
    b"RFC822.SIZE ",
    b"BODY[] ",
    b"BODY[1.2.MIME] ",
    b"BODY[HEADER.FIELDS (SUBJECT)] ",
    b"BINARY[1] ~{2}\r\n\x00\x01",
    b"BODYSTRUCTURE ",
    b"ENVELOPE ",
    b'INTERNALDATE "01-Jan-2024 00:00:00 +0000" ',
    b"MODSEQ (12345678901234567890) ",
    b"0",
    b"1",
    b"4294967295",
    b"4294967296",
    b"18446744073709551616",
    b"99999999999999999999999999",
    b"-1",
    b"\x00",
    b"\x7f",
    b"\xff",
    b"\xc3\xa9",
    b"\\Seen",
    b"\\*",
    b"$",
    b"*",
    b"%",
    b"EXISTS",
    b"EXPUNGE",
    b"VANISHED (EARLIER) 1:*",
    b"[UIDVALIDITY 0]",
    b"[UIDNEXT 5]",
    b"[COPYUID 1 1:3 4:6]",
    b"[APPENDUID 1 5]",
    b"[CAPABILITY IMAP4rev1]",
    b'ESEARCH (TAG "A0001") UID ALL 1:5',
    b"SEARCH 1 2 3",
    b"1:*",
    b"$",
    b"&AGE-",
)


def _wrap(control: int, data: bytes) -> bytes:
    return bytes((control,)) + data


def _server_blocks() -> list[bytes]:
    from tests.data.corpus import all_quirk_blocks, all_rfc_blocks

    return [b.data for b in all_rfc_blocks() + all_quirk_blocks()]


def _bench_responses() -> list[bytes]:
    """Single responses from the benchmark corpora (header lines, small bodies)."""
    from bench._corpus_gen import generate_bulk_corpus, generate_header_corpus
    from tests.data.corpus import split_responses

    out: list[bytes] = []
    head = generate_header_corpus(40_000, seed=7)
    out += [r.raw for r in split_responses(head.wire)][:60]
    bulk = generate_bulk_corpus(60_000, seed=8)
    out += [r.raw for r in split_responses(bulk.wire) if len(r.raw) < 20_000][:8]
    return out


def _fetch_only(blocks: list[bytes]) -> list[bytes]:
    from tests.data.corpus import CorpusFormatError, split_responses

    out: list[bytes] = []
    for data in blocks:
        try:
            responses = split_responses(data)
        except CorpusFormatError:
            continue
        out += [r.raw for r in responses if b" FETCH " in r.raw.split(b"\r\n", 1)[0].upper()]
    return out


def _router_scripts() -> list[bytes]:
    """Server replies to the router scenarios (tags in write order)."""
    untagged = [
        b"* 1 FETCH (UID 1 FLAGS (\\Seen))\r\n",
        b"* 2 FETCH (UID 2 BODY[] {5}\r\nhello)\r\n",
        b"* 3 FETCH (UID 3 FLAGS (\\Seen \\Deleted))\r\n",
        b"* SEARCH 1 2 3\r\n",
        b'* ESEARCH (TAG "A0001") UID ALL 1:3\r\n',
        b"* 22 EXISTS\r\n",
        b"* 0 RECENT\r\n",
        b"* OK [UIDVALIDITY 1] ok\r\n",
        b"* OK [UIDNEXT 30] ok\r\n",
        b"* FLAGS (\\Seen \\Deleted)\r\n",
        b"* 3 EXPUNGE\r\n",
        b'* LIST () "/" INBOX\r\n',
        b"* STATUS INBOX (MESSAGES 22 UIDNEXT 30)\r\n",
        b"* OK [COPYUID 7 1:3 100:102] copied\r\n",
        b'* 4 FETCH (UID 4 ENVELOPE (NIL "s" NIL NIL NIL NIL NIL NIL NIL "<m@x>") FLAGS ())\r\n',
        b"+ go ahead\r\n",
    ]
    scripts: list[bytes] = []
    for scenario in range(N_SCENARIOS):
        for control in (scenario, scenario | 0x10, scenario | 0x20):
            body = b"".join(untagged[scenario * 3 : scenario * 3 + 6])
            if scenario == 1:
                body = b"+ go ahead\r\n" + body
            tags = b"".join(b"A%04d OK [APPENDUID 1 31] done\r\n" % i for i in range(1, 8))
            scripts.append(_wrap(control, body + tags))
            scripts.append(_wrap(control, b"".join(untagged) + tags.replace(b"OK", b"NO", 2)))
    return scripts


def _commands() -> list[c.Command]:
    return [
        c.Login("user", Secret("p a s s")),
        c.Select("INBOX"),
        c.Examine("Entw&APw-rfe"),
        c.Create("a b"),
        c.Rename("x", "y\u00e9"),
        c.List("", ("*",)),
        c.Status("INBOX", ("MESSAGES", "UIDNEXT")),
        c.Append("INBOX", (c.AppendMessage(b"Subject: x\r\n\r\nhi\r\n", (Flag.SEEN,)),)),
        c.Append("INBOX", (c.AppendMessage(b"a\x00b"), c.AppendMessage(b"second"))),
        c.Fetch(UIDSet(range(1, 6)), (c.FetchItem.simple("FLAGS"), c.FetchItem.body(""))),
        c.Fetch(
            SeqSet(3),
            (c.FetchItem.body(c.Section((1, 2), "HEADER.FIELDS", ("Subject", "From"))),),
        ),
        c.Fetch(UIDSet.span(4, STAR), c.FetchMacro.ALL),
        c.Store(UIDSet(3), c.StoreMode.ADD, (Flag.SEEN, Flag("$Label"))),
        c.Store(LAST_SEARCH_UID, c.StoreMode.REMOVE, (Flag.DELETED,)),
        c.Search(S.from_("al\u00e9x") & S.since(__import__("datetime").date(2024, 1, 2)), uid=True),
        c.Search(S.modseq(ModSeq(5)) | S.header("X-A", 'b"c'), return_options=("SAVE",)),
        c.Copy(UIDSet(range(1, 4)), "Archive"),
        c.Move(SeqSet(7), "Trash"),
        c.UidExpunge(UIDSet(range(1, 4))),
        c.Noop(),
        c.Logout(),
        c.Id({"name": "pipeimap"}),
        c.Enable(("UTF8=ACCEPT",)),
    ]


def _command_seeds() -> list[bytes]:
    out: list[bytes] = []
    for k, opts in enumerate(_OPTIONS):
        control = (k << 1) | int(opts.utf8_accept)
        for cmd in _commands():
            try:
                frags = serialize(f"A{k}", cmd, opts)
            except Exception:  # a seed command this option set cannot send
                continue
            out.append(_wrap(control, b"".join(f.data for f in frags)))
    return out


def seeds(target: str) -> list[bytes]:
    """The seed inputs of ``target``."""
    if target == "parser":
        data = _server_blocks() + _bench_responses()
        return [_wrap(ctl, d) for d in data for ctl in (0, 1)] + [_wrap(2, d) for d in data[:50]]
    if target == "fetch-diff":
        data = _fetch_only(_server_blocks()) + _bench_responses()
        return [_wrap(ctl, d) for d in data for ctl in (0, 1)]
    if target == "imapclient-diff":
        return [_wrap(0, d) for d in _fetch_only(_server_blocks()) + _bench_responses()]
    if target == "router":
        return _router_scripts()
    if target == "commands":
        return _command_seeds()
    if target == "c-vs-python":
        from fuzz.target_speedups import seeds as c_seeds

        return c_seeds()
    raise KeyError(target)
