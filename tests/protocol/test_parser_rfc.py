# mypy: disable-error-code="union-attr"
"""Known answers for the response examples of RFC 3501, RFC 9051 and the extension RFCs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pipeimap.protocol._codes import (
    AppendUidCode,
    BadCharsetCode,
    CapabilityCode,
    CopyUidCode,
    ModifiedCode,
    NumberCode,
    PermanentFlagsCode,
    ResponseCode,
)
from pipeimap.protocol._responses import (
    Address,
    BodyPart,
    CapabilityResponse,
    ContinuationRequest,
    EnabledResponse,
    ESearchResponse,
    ExistsResponse,
    ExpungeResponse,
    FetchResponse,
    FlagsResponse,
    Greeting,
    IdResponse,
    ListResponse,
    MailboxStatusResponse,
    MultipartBody,
    Namespace,
    NamespaceResponse,
    QuotaResource,
    QuotaResponse,
    QuotaRootResponse,
    RecentResponse,
    SearchResponse,
    SortResponse,
    TaggedResponse,
    ThreadNode,
    ThreadResponse,
    UnknownResponse,
    UntaggedStatus,
    VanishedResponse,
)
from pipeimap.protocol._seqset import SeqSet, UIDSet
from pipeimap.protocol._types import UID, Flag, ModSeq, SeqNum
from tests.protocol.test_parser import parse_all, parse_one


def test_greeting_ok_preauth_bye() -> None:
    g = parse_one(b"* OK IMAP4rev2 Service Ready\r\n", expect_greeting=True)
    assert g == Greeting("OK", None, "IMAP4rev2 Service Ready")
    g = parse_one(b"* PREAUTH [CAPABILITY IMAP4rev2] Logged in\r\n", expect_greeting=True)
    assert isinstance(g, Greeting)
    assert g.status == "PREAUTH"
    assert g.code == CapabilityCode("CAPABILITY", b"IMAP4rev2", ("IMAP4REV2",))
    g = parse_one(b"* BYE Autologout; idle for too long\r\n", expect_greeting=True)
    assert g == Greeting("BYE", None, "Autologout; idle for too long")


def test_tagged_and_untagged_status() -> None:
    assert parse_one(b"a001 OK LOGIN completed\r\n") == TaggedResponse(
        "a001", "OK", None, "LOGIN completed"
    )
    assert parse_one(b"A223 NO COPY failed: disk is full\r\n") == TaggedResponse(
        "A223", "NO", None, "COPY failed: disk is full"
    )
    assert parse_one(b"* BAD Command line too long\r\n") == UntaggedStatus(
        "BAD", None, "Command line too long"
    )
    assert parse_one(b"* NO Disk is 98% full, please delete unnecessary data\r\n") == (
        UntaggedStatus("NO", None, "Disk is 98% full, please delete unnecessary data")
    )


def test_select_response_codes_rfc9051() -> None:
    events = parse_all(
        b"* 172 EXISTS\r\n"
        b"* OK [UIDVALIDITY 3857529045] UIDs valid\r\n"
        b"* OK [UIDNEXT 4392] Predicted next UID\r\n"
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
        b"* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n"
        b'* LIST () "/" INBOX\r\n'
        b"A142 OK [READ-WRITE] SELECT completed\r\n"
        b"* 1 RECENT\r\n"
        b"* OK [UNSEEN 12] Message 12 is first unseen\r\n"
    )
    assert events[0] == ExistsResponse(172)
    assert events[1] == UntaggedStatus(
        "OK", NumberCode("UIDVALIDITY", b"3857529045", 3857529045), "UIDs valid"
    )
    assert events[2].code == NumberCode("UIDNEXT", b"4392", 4392)
    assert events[3] == FlagsResponse(
        (Flag.ANSWERED, Flag.FLAGGED, Flag.DELETED, Flag.SEEN, Flag.DRAFT)
    )
    code = events[4].code
    assert isinstance(code, PermanentFlagsCode)
    assert code.flags == (Flag.DELETED, Flag.SEEN, Flag.WILDCARD)
    assert events[5] == ListResponse("LIST", (), "/", "INBOX", b"INBOX", {})
    assert events[6] == TaggedResponse(
        "A142", "OK", ResponseCode("READ-WRITE", b""), "SELECT completed"
    )
    assert events[7] == RecentResponse(1)
    assert events[8].code == NumberCode("UNSEEN", b"12", 12)


def test_simple_codes_rfc5530_and_others() -> None:
    names = [
        "ALERT",
        "PARSE",
        "READ-ONLY",
        "TRYCREATE",
        "UIDNOTSTICKY",
        "NOMODSEQ",
        "CLOSED",
        "NOTSAVED",
        "LIMIT",
        "OVERQUOTA",
        "ALREADYEXISTS",
        "NONEXISTENT",
        "UNAVAILABLE",
        "AUTHENTICATIONFAILED",
        "AUTHORIZATIONFAILED",
        "EXPIRED",
        "PRIVACYREQUIRED",
        "CONTACTADMIN",
        "NOPERM",
        "INUSE",
        "EXPUNGEISSUED",
        "CORRUPTION",
        "SERVERBUG",
        "CLIENTBUG",
        "CANNOT",
        "COMPRESSIONACTIVE",
        "USEATTR",
        "HASCHILDREN",
        "UNKNOWN-CTE",
        "INPROGRESS",
    ]
    for name in names:
        event = parse_one(b"a1 NO [" + name.encode() + b"] text here\r\n")
        assert event == TaggedResponse("a1", "NO", ResponseCode(name, b""), "text here")


def test_unknown_code_kept_raw() -> None:
    event = parse_one(b"* OK [X-SOMETHING (a b) 7] hi\r\n")
    assert event == UntaggedStatus("OK", ResponseCode("X-SOMETHING", b"(a b) 7"), "hi")


def test_badcharset_rfc9051() -> None:
    event = parse_one(b'A283 NO [BADCHARSET (UTF-8 "ISO-8859-1")] unsupported\r\n')
    code = event.code
    assert isinstance(code, BadCharsetCode)
    assert code.charsets == ("UTF-8", "ISO-8859-1")
    event = parse_one(b"A283 NO [BADCHARSET] unsupported\r\n")
    assert event.code == ResponseCode("BADCHARSET", b"")


def test_uidplus_rfc4315() -> None:
    event = parse_one(b"A003 OK [APPENDUID 38505 3955] APPEND completed\r\n")
    assert event.code == AppendUidCode("APPENDUID", b"38505 3955", 38505, UIDSet(3955))
    event = parse_one(b"A004 OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n")
    code = event.code
    assert isinstance(code, CopyUidCode)
    assert code.uidvalidity == 38505
    assert code.source_uids == UIDSet(304, range(319, 321))
    assert code.dest_uids == UIDSet(range(3956, 3959))
    assert code.mapping() == [(UID(304), UID(3956)), (UID(319), UID(3957)), (UID(320), UID(3958))]
    event = parse_one(b"A003 OK [APPENDUID 38505 3955:3957] MULTIAPPEND completed\r\n")
    assert event.code.uids == UIDSet(range(3955, 3958))
    assert parse_one(b"A005 OK [UIDNOTSTICKY] Non-persistent UIDs\r\n").code == ResponseCode(
        "UIDNOTSTICKY", b""
    )


def test_condstore_codes_rfc7162() -> None:
    event = parse_one(b"* OK [HIGHESTMODSEQ 715194045007] Highest\r\n")
    assert event.code == NumberCode("HIGHESTMODSEQ", b"715194045007", 715194045007)
    event = parse_one(b"d105 OK [MODIFIED 7,9] Conditional STORE failed\r\n")
    code = event.code
    assert isinstance(code, ModifiedCode)
    assert code.as_seqs() == SeqSet(7, 9)
    assert code.as_uids() == UIDSet(7, 9)
    assert parse_one(b"* OK [CLOSED] Previous mailbox closed\r\n").code.name == "CLOSED"


def test_continuation() -> None:
    assert parse_one(b"+ Ready for additional command text\r\n") == ContinuationRequest(
        "Ready for additional command text", None, None
    )
    assert parse_one(b"+ \r\n") == ContinuationRequest("", None, b"")
    assert parse_one(b"+\r\n") == ContinuationRequest("", None, b"")
    ev = parse_one(
        b"+ YDMGCSqGSIb3EgECAgIBAAD/////6jcyG4GE3KkTzBeBiVHeceP2CWY0SR0fAQAgAAQEBAQ=\r\n"
    )
    assert isinstance(ev, ContinuationRequest)
    assert ev.data is not None
    assert ev.data[:2] == b"`3"
    # IDLE, RFC 2177
    assert parse_one(b"+ idling\r\n") == ContinuationRequest("idling", None, None)


def test_capability_enabled() -> None:
    assert parse_one(b"* CAPABILITY IMAP4rev2 STARTTLS AUTH=GSSAPI LOGINDISABLED\r\n") == (
        CapabilityResponse(("IMAP4REV2", "STARTTLS", "AUTH=GSSAPI", "LOGINDISABLED"))
    )
    assert parse_one(b"* ENABLED CONDSTORE QRESYNC\r\n") == EnabledResponse(
        ("CONDSTORE", "QRESYNC")
    )


def test_list_variants() -> None:
    assert parse_one(b'* LIST (\\Noselect) "/" ~/Mail/foo\r\n') == ListResponse(
        "LIST", ("\\Noselect",), "/", "~/Mail/foo", b"~/Mail/foo", {}
    )
    ev = parse_one(b'* LIST (\\Noselect) NIL ""\r\n')
    assert isinstance(ev, ListResponse)
    assert ev.delimiter is None
    assert ev.mailbox == ""
    ev = parse_one(b'* LSUB () "." #news.comp.mail.misc\r\n')
    assert isinstance(ev, ListResponse)
    assert ev.kind == "LSUB"
    # RFC 5258 CHILDINFO, RFC 9051 OLDNAME, RFC 6154 SPECIAL-USE
    ev = parse_one(b'* LIST (\\Marked \\NoInferiors) "/" "Foo" ("CHILDINFO" ("SUBSCRIBED"))\r\n')
    assert isinstance(ev, ListResponse)
    assert ev.attributes == ("\\Marked", "\\Noinferiors")
    assert ev.child_info == ("SUBSCRIBED",)
    ev = parse_one(b'* LIST () "/" "NewName" ("OLDNAME" ("OldName"))\r\n')
    assert isinstance(ev, ListResponse)
    assert ev.old_name == "OldName"
    ev = parse_one(b'* LIST (\\HasNoChildren \\Sent) "/" "Sent Mail" ("X-FOO" (a "b"))\r\n')
    assert isinstance(ev, ListResponse)
    assert ev.attributes == ("\\HasNoChildren", "\\Sent")
    assert ev.extended == {"X-FOO": ("a", "b")}
    # modified UTF-7 (RFC 3501 section 5.1.3)
    ev = parse_one(b'* LIST () "/" "~peter/mail/&U,BTFw-/&ZeVnLIqe-"\r\n')
    assert isinstance(ev, ListResponse)
    assert ev.mailbox == "~peter/mail/\u53f0\u5317/\u65e5\u672c\u8a9e"
    # a literal mailbox name
    ev = parse_one(b'* LIST () "/" {3}\r\nabc\r\n')
    assert isinstance(ev, ListResponse)
    assert ev.mailbox == "abc"


def test_status_rfc9051_and_extensions() -> None:
    ev = parse_one(b"* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\r\n")
    assert ev == MailboxStatusResponse("blurdybloop", b"blurdybloop", messages=231, uidnext=44292)
    ev = parse_one(
        b"* STATUS INBOX (MESSAGES 1 UIDVALIDITY 7 UNSEEN 0 RECENT 0 DELETED 2 SIZE 9"
        b" HIGHESTMODSEQ 90 APPENDLIMIT 100 MAILBOXID (F2212ea87))\r\n"
    )
    assert isinstance(ev, MailboxStatusResponse)
    assert (ev.uidvalidity, ev.unseen, ev.recent, ev.deleted, ev.size) == (7, 0, 0, 2, 9)
    assert ev.highestmodseq == ModSeq(90)
    assert ev.appendlimit == 100
    assert ev.other == {"MAILBOXID": ("F2212ea87",)}
    ev = parse_one(b"* STATUS INBOX (APPENDLIMIT NIL)\r\n")
    assert isinstance(ev, MailboxStatusResponse)
    assert ev.appendlimit is None
    assert ev.other == {"APPENDLIMIT": None}


def test_search_sort_thread() -> None:
    assert parse_one(b"* SEARCH 2 84 882\r\n") == SearchResponse((2, 84, 882))
    assert parse_one(b"* SEARCH\r\n") == SearchResponse(())
    assert parse_one(b"* SEARCH 2 5 6 7 11 12 18 19 20 23 (MODSEQ 917162500)\r\n") == (
        SearchResponse((2, 5, 6, 7, 11, 12, 18, 19, 20, 23), ModSeq(917162500))
    )
    assert parse_one(b"* SORT 2 3 6\r\n") == SortResponse((2, 3, 6))
    ev = parse_one(b"* THREAD (2)(3 6 (4 23)(44 7 96))\r\n")
    assert ev == ThreadResponse(
        (
            ThreadNode(2),
            ThreadNode(
                3,
                (
                    ThreadNode(
                        6,
                        (
                            ThreadNode(4, (ThreadNode(23),)),
                            ThreadNode(44, (ThreadNode(7, (ThreadNode(96),)),)),
                        ),
                    ),
                ),
            ),
        )
    )
    ev = parse_one(b"* THREAD ((3)(5))\r\n")
    assert ev == ThreadResponse((ThreadNode(None, (ThreadNode(3), ThreadNode(5))),))
    assert parse_one(b"* THREAD\r\n") == ThreadResponse(())


def test_esearch_rfc4731_rfc9051() -> None:
    ev = parse_one(b'* ESEARCH (TAG "A282") MIN 2 COUNT 3\r\n')
    assert ev == ESearchResponse("A282", False, min=2, count=3)
    ev = parse_one(b'* ESEARCH (TAG "A283") UID ALL 2,10:11\r\n')
    assert ev == ESearchResponse("A283", True, all=UIDSet(2, 10, 11))
    ev = parse_one(b'* ESEARCH (TAG "A284") MIN 4 MAX 9 ALL 4:9 MODSEQ 12\r\n')
    assert isinstance(ev, ESearchResponse)
    assert ev.all == SeqSet(range(4, 10))
    assert ev.max == 9
    assert ev.modseq == ModSeq(12)
    ev = parse_one(b'* ESEARCH (TAG "A5") UID PARTIAL (1:100 200:250,300)\r\n')
    assert isinstance(ev, ESearchResponse)
    assert ev.partial is not None
    assert ev.partial[0] == "1:100"
    assert ev.partial[1] == UIDSet(range(200, 251), 300)
    assert parse_one(b"* ESEARCH\r\n") == ESearchResponse(None, False)


def test_expunge_vanished() -> None:
    assert parse_one(b"* 3 EXPUNGE\r\n") == ExpungeResponse(SeqNum(3))
    assert parse_one(b"* VANISHED (EARLIER) 300:310,405,411\r\n") == VanishedResponse(
        UIDSet(range(300, 311), 405, 411), True
    )
    assert parse_one(b"* VANISHED 405,407,410,425\r\n") == VanishedResponse(
        UIDSet(405, 407, 410, 425), False
    )


def test_namespace_rfc2342() -> None:
    ev = parse_one(b'* NAMESPACE (("" "/")) (("~" "/")) (("#shared/" "/")("#public/" "/"))\r\n')
    assert ev == NamespaceResponse(
        (Namespace("", "/"),),
        (Namespace("~", "/"),),
        (Namespace("#shared/", "/"), Namespace("#public/", "/")),
    )
    ev = parse_one(b'* NAMESPACE (("" "/" "X-PARAM" ("FLAG1" "FLAG2"))) NIL NIL\r\n')
    assert ev == NamespaceResponse(
        (Namespace("", "/", {"X-PARAM": ("FLAG1", "FLAG2")}),), None, None
    )


def test_id_rfc2971() -> None:
    ev = parse_one(b'* ID ("name" "Cyrus" "version" "1.5" "support-url" NIL)\r\n')
    assert ev == IdResponse({"name": "Cyrus", "version": "1.5", "support-url": None})
    assert parse_one(b"* ID NIL\r\n") == IdResponse(None)


def test_quota_rfc9208() -> None:
    assert parse_one(b'* QUOTAROOT INBOX ""\r\n') == QuotaRootResponse("INBOX", ("",))
    assert parse_one(b'* QUOTA "" (STORAGE 10 512)\r\n') == QuotaResponse(
        "", (QuotaResource("STORAGE", 10, 512),)
    )
    ev = parse_one(b'* QUOTA "#user/alice" (MESSAGE 42 1000 STORAGE 10 512)\r\n')
    assert isinstance(ev, QuotaResponse)
    assert len(ev.resources) == 2


def test_unknown_untagged_kept() -> None:
    ev = parse_one(b"* ACL INBOX Fred rwipslda\r\n")
    assert ev == UnknownResponse("ACL", None, ("INBOX", "Fred", "rwipslda"))
    ev = parse_one(b"* 5 XFOO (a b)\r\n")
    assert ev == UnknownResponse("XFOO", 5, (("a", "b"),))


def test_fetch_rfc3501_full_example() -> None:
    ev = parse_one(
        b'* 12 FETCH (FLAGS (\\Seen) INTERNALDATE "17-Jul-1996 02:44:25 -0700" '
        b'RFC822.SIZE 4286 ENVELOPE ("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" '
        b'"IMAP4rev1 WG mtg summary and minutes" (("Terry Gray" NIL "gray" '
        b'"cac.washington.edu")) (("Terry Gray" NIL "gray" "cac.washington.edu")) '
        b'(("Terry Gray" NIL "gray" "cac.washington.edu")) ((NIL NIL "imap" '
        b'"cac.washington.edu")) ((NIL NIL "minutes" "CNRI.Reston.VA.US")'
        b'("John Klensin" NIL "KLENSIN" "MIT.EDU")) NIL NIL '
        b'"<B27397-0100000@cac.washington.edu>") BODY ("TEXT" "PLAIN" ("CHARSET" '
        b'"US-ASCII") NIL NIL "7BIT" 3028 92))\r\n'
    )
    assert isinstance(ev, FetchResponse)
    assert ev.seq == SeqNum(12)
    assert ev.uid is None
    items = ev.items
    assert items.flags == (Flag.SEEN,)
    assert items.internaldate == datetime(
        1996, 7, 17, 2, 44, 25, tzinfo=timezone(-timedelta(hours=7))
    )
    assert items.rfc822_size == 4286
    env = items.envelope
    assert env is not None
    assert env.subject == "IMAP4rev1 WG mtg summary and minutes"
    assert env.from_ == (Address("Terry Gray", None, "gray", "cac.washington.edu"),)
    assert env.cc[1].email == "KLENSIN@MIT.EDU"
    assert env.bcc == ()
    assert env.in_reply_to is None
    assert env.message_id == "<B27397-0100000@cac.washington.edu>"
    assert items.bodystructure == BodyPart(
        "TEXT", "PLAIN", (("CHARSET", "US-ASCII"),), None, None, "7BIT", 3028, 92
    )
    assert list(items) == ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"]


def test_fetch_bodystructure_full_grammar() -> None:
    ev = parse_one(
        b'* 3 FETCH (UID 9 BODYSTRUCTURE (("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 10 1'
        b' "md5sum" ("inline" NIL) ("en" "de") "loc" (ext 1))'
        b'("MESSAGE" "RFC822" NIL "<id>" "desc" "7BIT" 200'
        b' (NIL "sub" NIL NIL NIL NIL NIL NIL NIL NIL) ("TEXT" "HTML" NIL NIL NIL "8BIT" 5 1) 7'
        b' NIL ("attachment" ("FILENAME" "m.eml")) "en" NIL)'
        b'("APPLICATION" "PDF" ("NAME" "x.pdf") NIL NIL "BASE64" 1000 NIL'
        b' ("attachment" ("filename" "x.pdf")) NIL NIL)'
        b' "MIXED" ("BOUNDARY" "b1") NIL "fr" "http://x"))\r\n'
    )
    assert isinstance(ev, FetchResponse)
    assert ev.uid == UID(9)
    body = ev.items.bodystructure
    assert isinstance(body, MultipartBody)
    assert body.subtype == "MIXED"
    assert body.params == (("BOUNDARY", "b1"),)
    assert body.language == ("fr",)
    assert body.location == "http://x"
    text, msg, pdf = body.parts
    assert isinstance(text, BodyPart)
    assert text.lines == 1
    assert text.md5 == "md5sum"
    assert text.disposition is not None
    assert text.disposition.type == "inline"
    assert text.language == ("en", "de")
    assert text.location == "loc"
    assert text.extensions == (("ext", "1"),)
    assert isinstance(msg, BodyPart)
    assert msg.envelope is not None
    assert msg.envelope.subject == "sub"
    assert msg.lines == 7
    assert isinstance(msg.body, BodyPart)
    assert msg.body.content_type == "text/html"
    assert msg.disposition is not None
    assert msg.disposition.params == (("FILENAME", "m.eml"),)
    assert isinstance(pdf, BodyPart)
    assert pdf.size == 1000
    assert pdf.lines is None
    assert pdf.disposition is not None
    assert pdf.disposition.type == "attachment"
