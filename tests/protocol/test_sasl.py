"""SASL mechanisms: RFC test vectors, exact encodings, SCRAM server verification,
and no secret in any repr or message."""

from __future__ import annotations

import base64
import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeimap.errors import InvalidArgumentError, ProtocolError
from pipeimap.protocol import Secret
from pipeimap.protocol._sasl import (
    Credentials,
    LoginMechanism,
    OAuthBearerMechanism,
    PlainMechanism,
    SaslError,
    SaslMechanism,
    ScramSha1Mechanism,
    ScramSha256Mechanism,
    XOAuth2Mechanism,
    choose_mechanism,
    create_mechanism,
    saslprep,
)

SECRET = "hunter2-Top-SECRET"


def b64(secret: Secret | None) -> bytes:
    assert secret is not None
    return base64.b64encode(secret.reveal_bytes())


# --- PLAIN / LOGIN ---------------------------------------------------------------------


def test_plain_rfc4616_example() -> None:
    mech = PlainMechanism("tim", Secret("tanstaaftanstaaf"))
    assert b64(mech.initial_response()) == b"AHRpbQB0YW5zdGFhZnRhbnN0YWFm"


def test_plain_with_authzid() -> None:
    mech = PlainMechanism("tim", Secret("pw"), authzid="Ursel")
    ir = mech.initial_response()
    assert ir is not None
    assert ir.reveal_bytes() == b"Ursel\x00tim\x00pw"


def test_plain_without_sasl_ir_answers_the_empty_challenge() -> None:
    mech = PlainMechanism("tim", Secret("pw"))
    assert mech.respond(b"").reveal_bytes() == b"\x00tim\x00pw"
    with pytest.raises(SaslError):
        mech.respond(b"")
    mech.verify_success()


def test_plain_first_challenge_text_is_ignored() -> None:
    # "+ Ready" is not base64 (the parser gives data=None): still the first prompt.
    assert PlainMechanism("a", Secret("b")).respond(None).reveal_bytes() == b"\x00a\x00b"


def test_plain_refuses_nul() -> None:
    with pytest.raises(InvalidArgumentError):
        PlainMechanism("a\x00b", Secret("pw"))
    with pytest.raises(InvalidArgumentError):
        PlainMechanism("a", Secret("p\x00w"))


def test_initial_response_only_once() -> None:
    mech = PlainMechanism("a", Secret("b"))
    mech.initial_response()
    with pytest.raises(RuntimeError):
        mech.initial_response()


def test_login_mechanism() -> None:
    mech = LoginMechanism("alice", Secret(SECRET))
    assert mech.initial_response() is None
    assert mech.respond(b"Username:").reveal_bytes() == b"alice"
    assert mech.respond(b"Password:").reveal() == SECRET
    with pytest.raises(SaslError):
        mech.respond(b"What?")


def test_str_password_is_wrapped() -> None:
    mech = LoginMechanism("alice", SECRET)
    mech.respond(b"")
    assert SECRET not in repr(mech)
    assert mech.respond(b"").reveal() == SECRET


# --- XOAUTH2 / OAUTHBEARER ------------------------------------------------------------

GOOGLE_TOKEN = "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"
RFC7628_TOKEN = "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="


def test_xoauth2_google_example() -> None:
    mech = XOAuth2Mechanism("someuser@example.com", Secret(GOOGLE_TOKEN))
    assert b64(mech.initial_response()) == (
        b"dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNr"
        b"QmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="
    )


def test_xoauth2_error_challenge_gets_an_empty_answer() -> None:
    mech = XOAuth2Mechanism("someuser@example.com", Secret(GOOGLE_TOKEN))
    mech.initial_response()
    error = {"status": "401", "schemes": "Bearer", "scope": "https://mail.google.com/"}
    reply = mech.respond(json.dumps(error).encode())
    assert reply.reveal_bytes() == b""
    assert mech.failure_detail is not None
    assert "401" in mech.failure_detail
    assert "mail.google.com" in mech.failure_detail
    with pytest.raises(SaslError):
        mech.respond(b"{}")


def test_oauthbearer_rfc7628_example() -> None:
    mech = OAuthBearerMechanism(
        "user@example.com", Secret(RFC7628_TOKEN), host="server.example.com", port=143
    )
    assert b64(mech.initial_response()) == (
        b"bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVh"
        b"cmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB"
    )


def test_oauthbearer_without_host_and_escaped_authzid() -> None:
    mech = OAuthBearerMechanism("a,b=c", Secret("tok"))
    ir = mech.initial_response()
    assert ir is not None
    assert ir.reveal_bytes() == b"n,a=a=2Cb=3Dc,\x01auth=Bearer tok\x01\x01"


def test_oauthbearer_failure_answers_kvsep_and_reports_the_json() -> None:
    mech = OAuthBearerMechanism("user@example.com", Secret(RFC7628_TOKEN), host="h", port=993)
    mech.initial_response()
    # RFC 7628 section 4.3's failure challenge.
    challenge = base64.b64decode(
        "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJleGFtcGxlX3Njb3BlIiwib3BlbmlkLWNvbmZp"
        "Z3VyYXRpb24iOiJodHRwczovL2V4YW1wbGUuY29tLy53ZWxsLWtub3duL29wZW5pZC1jb25maWd1cmF0aW9uIn0="
    )
    assert mech.respond(challenge).reveal_bytes() == b"\x01"
    assert mech.failure_detail is not None
    assert "status=invalid_token" in mech.failure_detail
    assert "scope=example_scope" in mech.failure_detail


def test_oauth_non_json_failure() -> None:
    mech = OAuthBearerMechanism("u", Secret("t"))
    mech.initial_response()
    mech.respond(b"\xffnot json")
    assert mech.failure_detail is not None
    assert "non-JSON" in mech.failure_detail


# --- SCRAM ------------------------------------------------------------------------------


def test_scram_sha256_rfc7677_vector() -> None:
    mech = ScramSha256Mechanism("user", Secret("pencil"), _nonce="rOprNGfwEbeRWgbNEkqO")
    first = mech.initial_response()
    assert first is not None
    assert first.reveal() == "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    final = mech.respond(
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    )
    assert final.reveal() == (
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    with pytest.raises(SaslError):
        mech.verify_success()  # not yet: the server has not proved itself
    assert mech.respond(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").reveal_bytes() == b""
    mech.verify_success()
    with pytest.raises(SaslError):
        mech.respond(b"v=again")


def test_scram_sha1_rfc5802_vector() -> None:
    mech = ScramSha1Mechanism("user", Secret("pencil"), _nonce="fyko+d2lbbFgONRv9qkxdawL")
    first = mech.initial_response()
    assert first is not None
    assert first.reveal() == "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
    final = mech.respond(b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096")
    assert final.reveal() == (
        "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
    )
    mech.respond(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")
    mech.verify_success()


def _scram_at_final() -> ScramSha256Mechanism:
    mech = ScramSha256Mechanism("user", Secret("pencil"), _nonce="rOprNGfwEbeRWgbNEkqO")
    mech.initial_response()
    mech.respond(
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    )
    return mech


def test_scram_rejects_a_wrong_server_signature() -> None:
    mech = _scram_at_final()
    wrong = base64.b64encode(b"\x00" * 32)
    with pytest.raises(SaslError, match="wrong server signature"):
        mech.respond(b"v=" + wrong)
    with pytest.raises(SaslError):
        mech.verify_success()


def test_scram_rejects_success_without_a_server_signature() -> None:
    mech = _scram_at_final()
    with pytest.raises(SaslError, match="without proving"):
        mech.verify_success()


def test_scram_server_error_attribute() -> None:
    mech = _scram_at_final()
    with pytest.raises(SaslError, match="invalid-proof"):
        mech.respond(b"e=invalid-proof")
    assert mech.failure_detail == "invalid-proof"


@pytest.mark.parametrize(
    ("server_first", "why"),
    [
        (b"r=OTHERNONCE,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "nonce"),
        (b"r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "nonce"),
        (b"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1", "iteration"),
        (b"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=999999999", "iteration"),
        (b"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-5", "iteration"),
        (b"r=rOprNGfwEbeRWgbNEkqOxyz,s=!!!,i=4096", "base64"),
        (b"m=ext,r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "extension"),
        (b"s=W22ZaJ0SNY7soEsUEjb6gQ==,r=rOprNGfwEbeRWgbNEkqOxyz,i=4096", "malformed"),
        (b"garbage", "malformed"),
        (b"\xff\xfe", "UTF-8"),
    ],
)
def test_scram_rejects_bad_server_first(server_first: bytes, why: str) -> None:
    mech = ScramSha256Mechanism("user", Secret("pencil"), _nonce="rOprNGfwEbeRWgbNEkqO")
    mech.initial_response()
    with pytest.raises(SaslError, match=why):
        mech.respond(server_first)


def test_scram_non_base64_challenge() -> None:
    mech = ScramSha256Mechanism("user", Secret("pencil"))
    mech.initial_response()
    with pytest.raises(SaslError, match="not base64"):
        mech.respond(None)


def test_scram_authzid_and_escaped_username() -> None:
    mech = ScramSha256Mechanism("us,er=", Secret("pw"), authzid="admin", _nonce="abc")
    first = mech.initial_response()
    assert first is not None
    assert first.reveal() == "n,a=admin,n=us=2Cer=3D,r=abc"
    final = mech.respond(b"r=abcdef,s=QSXCR+Q6sek8bf92,i=4096").reveal()
    assert final.startswith("c=" + base64.b64encode(b"n,a=admin,").decode() + ",r=abcdef,p=")


def test_scram_without_sasl_ir() -> None:
    mech = ScramSha1Mechanism("user", Secret("pencil"), _nonce="fyko+d2lbbFgONRv9qkxdawL")
    assert mech.respond(b"").reveal() == "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"


def test_scram_random_nonces_differ() -> None:
    a = ScramSha256Mechanism("u", Secret("p")).initial_response()
    b = ScramSha256Mechanism("u", Secret("p")).initial_response()
    assert a is not None
    assert b is not None
    assert a.reveal() != b.reveal()


@given(st.binary(max_size=200))
def test_scram_any_server_first_is_answered_or_refused(challenge: bytes) -> None:
    mech = ScramSha1Mechanism("user", Secret("pencil"), _nonce="n")
    mech.initial_response()
    with contextlib.suppress(SaslError):
        mech.respond(challenge)


@given(st.binary(max_size=200))
def test_scram_any_server_final_is_verified_or_refused(challenge: bytes) -> None:
    mech = ScramSha1Mechanism("user", Secret("pencil"), _nonce="fyko+d2lbbFgONRv9qkxdawL")
    mech.initial_response()
    mech.respond(b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096")
    try:
        mech.respond(challenge)
    except SaslError:
        with pytest.raises(SaslError):
            mech.verify_success()


# --- SASLprep (RFC 4013 section 3 examples) --------------------------------------------


@pytest.mark.parametrize(
    ("text", "prepared"),
    [
        ("I\u00adX", "IX"),  # SOFT HYPHEN mapped to nothing
        ("user", "user"),
        ("USER", "USER"),
        ("\u00aa", "a"),  # NFKC
        ("\u2168", "IX"),
        ("a\u00a0b", "a b"),  # non-ASCII space -> SPACE
    ],
)
def test_saslprep_examples(text: str, prepared: str) -> None:
    assert saslprep(text) == prepared


@pytest.mark.parametrize("text", ["\u0007", "\u0627\u0031", "a\ue000"])
def test_saslprep_prohibited(text: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        saslprep(text, what="password")
    assert text not in str(info.value)


def test_saslprep_unassigned_only_for_queries() -> None:
    assert saslprep("\u0221") == "\u0221"  # unassigned in Unicode 3.2
    with pytest.raises(InvalidArgumentError):
        saslprep("\u0221", allow_unassigned=False)


def test_scram_prepares_the_password() -> None:
    # "I\u00adX" and "IX" must give the same proof.
    proofs = []
    for pw in ("I\u00adX", "IX"):
        mech = ScramSha256Mechanism("user", Secret(pw), _nonce="abc")
        mech.initial_response()
        proofs.append(mech.respond(b"r=abcdef,s=QSXCR+Q6sek8bf92,i=4096").reveal())
    assert proofs[0] == proofs[1]


# --- no secret anywhere ----------------------------------------------------------------


def _all_mechanisms() -> list[SaslMechanism]:
    pw = Secret(SECRET)
    return [
        PlainMechanism("alice", pw),
        LoginMechanism("alice", pw),
        XOAuth2Mechanism("alice", pw),
        OAuthBearerMechanism("alice", pw, host="h", port=1),
        ScramSha256Mechanism("alice", pw),
        ScramSha1Mechanism("alice", pw),
    ]


@pytest.mark.parametrize("mech", _all_mechanisms(), ids=lambda m: m.name)
def test_no_secret_in_reprs_or_errors(mech: SaslMechanism) -> None:
    texts = [repr(mech), str(mech)]
    first = mech.initial_response() if mech.client_first else mech.respond(b"")
    assert first is not None
    texts += [repr(first), str(first), f"{first}"]
    for challenge in (b"x,y", b"e=bad", b"\xff", b"v=AAAA", b"{}", b"r=zzz,s=AAAA,i=4096"):
        try:
            reply = mech.respond(challenge)
            texts += [repr(reply), str(reply)]
        except (SaslError, InvalidArgumentError) as exc:
            texts += [str(exc), repr(exc)]
    try:
        mech.verify_success()
    except SaslError as exc:
        texts.append(str(exc))
    texts.append(repr(vars(mech)) if hasattr(mech, "__dict__") else "")
    for text in texts:
        assert SECRET not in text
        assert base64.b64encode(SECRET.encode()).decode() not in text


def test_sasl_error_is_a_protocol_error() -> None:
    assert issubclass(SaslError, ProtocolError)


# --- choosing --------------------------------------------------------------------------

DOVECOT_CAPS = ("IMAP4rev1", "SASL-IR", "AUTH=PLAIN", "AUTH=LOGIN", "AUTH=SCRAM-SHA-256")


def test_choose_prefers_scram() -> None:
    creds = Credentials("alice", password=Secret("pw"))
    assert choose_mechanism(DOVECOT_CAPS, creds) == "SCRAM-SHA-256"
    assert choose_mechanism(["auth=plain", "AUTH=login"], creds) == "PLAIN"
    assert choose_mechanism(["AUTH=LOGIN"], creds) == "LOGIN"
    assert choose_mechanism(["AUTH=SCRAM-SHA-1", "AUTH=PLAIN"], creds) == "SCRAM-SHA-1"
    assert choose_mechanism(["AUTH=SCRAM-SHA-256-PLUS", "AUTH=GSSAPI"], creds) is None
    assert choose_mechanism(["IMAP4rev1"], creds) is None


def test_choose_tokens() -> None:
    token = Credentials("alice", oauth2_token=Secret("t"))
    both = Credentials("alice", password=Secret("pw"), oauth2_token=Secret("t"))
    gmail = ["AUTH=XOAUTH2", "AUTH=OAUTHBEARER", "AUTH=PLAIN"]
    assert choose_mechanism(gmail, token) == "OAUTHBEARER"
    assert choose_mechanism(["AUTH=XOAUTH2", "AUTH=PLAIN"], token) == "XOAUTH2"
    assert choose_mechanism(["AUTH=PLAIN"], token) is None
    assert choose_mechanism(["AUTH=PLAIN"], both) == "PLAIN"
    assert choose_mechanism(gmail, both, preference=["PLAIN", "XOAUTH2"]) == "PLAIN"


def test_create_mechanism() -> None:
    creds = Credentials("alice", password=Secret("pw"), oauth2_token=Secret("t"))
    for name, cls in [
        ("PLAIN", PlainMechanism),
        ("login", LoginMechanism),
        ("SCRAM-SHA-256", ScramSha256Mechanism),
        ("SCRAM-SHA-1", ScramSha1Mechanism),
        ("XOAUTH2", XOAuth2Mechanism),
        ("OAUTHBEARER", OAuthBearerMechanism),
    ]:
        assert isinstance(create_mechanism(name, creds, host="h", port=1), cls)
    with pytest.raises(InvalidArgumentError):
        create_mechanism("GSSAPI", creds)
    with pytest.raises(InvalidArgumentError):
        create_mechanism("XOAUTH2", Credentials("a", password=Secret("p")))
    with pytest.raises(InvalidArgumentError):
        create_mechanism("PLAIN", Credentials("a", oauth2_token=Secret("t")))


def test_credentials_validation() -> None:
    with pytest.raises(InvalidArgumentError):
        Credentials("alice")
    with pytest.raises(InvalidArgumentError):
        Credentials("alice", password="plain str")  # type: ignore[arg-type]
    creds = Credentials("alice", password=Secret(SECRET))
    assert SECRET not in repr(creds)
