"""Client SASL mechanisms for ``AUTHENTICATE`` (RFC 9051 section 6.2.2, RFC 4422).

Theory of operation: each mechanism is a small sans-IO state machine.  The
client drives it like this::

    mech = create_mechanism(choose_mechanism(caps, creds), creds, host=h, port=p)
    ir = mech.initial_response() if "SASL-IR" in caps else None
    # write  AUTHENTICATE <mech.name> [base64(ir) or "="]
    # on each "+ <base64>" continuation:   reply = mech.respond(request.data)
    #     (if respond() raises SaslError, write "*" to cancel, wait for the
    #      tagged BAD, then raise the SaslError)
    #     write base64(reply) CRLF        (serialize_sasl_response(reply))
    # on the tagged OK:  mech.verify_success()   (may raise SaslError!)
    # on the tagged NO:  mech.failure_detail holds the server's reason, if any

``respond()`` also produces the initial response when the server lacks
SASL-IR: it then sends an empty challenge first (RFC 4422 section 5).

SCRAM (RFC 5802, RFC 7677) authenticates the server too: the tagged OK is not
enough, the server must have sent ``v=ServerSignature`` and it must match.
:meth:`SaslMechanism.verify_success` raises :class:`SaslError` when it did
not, so an impostor that accepts any password cannot pass.

Credentials are :class:`~pipeimap.protocol.Secret`; every response is a
``Secret`` too.  No repr or exception message holds a secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import stringprep
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Final

from ..errors import InvalidArgumentError, SaslError
from ._types import Secret

__all__ = [
    "OAUTH_PREFERENCE",
    "PASSWORD_PREFERENCE",
    "Credentials",
    "LoginMechanism",
    "OAuthBearerMechanism",
    "PlainMechanism",
    "SaslError",
    "SaslMechanism",
    "ScramSha1Mechanism",
    "ScramSha256Mechanism",
    "XOAuth2Mechanism",
    "choose_mechanism",
    "create_mechanism",
    "saslprep",
]


def _to_secret(value: Secret | str | bytes) -> Secret:
    return value if isinstance(value, Secret) else Secret(value)


def _b64decode(mech: str, what: str, text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise SaslError(mech, f"{what} is not valid base64") from None


# --- SASLprep (RFC 4013) --------------------------------------------------------------

_PROHIBITED: Final[tuple[Callable[[str], bool], ...]] = (
    stringprep.in_table_c12,  # non-ASCII space (mapped away first; cannot remain)
    stringprep.in_table_c21_c22,  # control characters
    stringprep.in_table_c3,  # private use
    stringprep.in_table_c4,  # non-character code points
    stringprep.in_table_c5,  # surrogates
    stringprep.in_table_c6,  # inappropriate for plain text
    stringprep.in_table_c7,  # inappropriate for canonical representation
    stringprep.in_table_c8,  # change display properties / deprecated
    stringprep.in_table_c9,  # tagging characters
)


def saslprep(text: str, *, what: str = "string", allow_unassigned: bool = True) -> str:
    """Prepare ``text`` with the SASLprep profile of stringprep (RFC 4013 section 2).

    ``allow_unassigned``: "query" semantics (RFC 3454 section 7), which is what a
    client uses.  Raises :class:`InvalidArgumentError` naming only ``what``
    ("password"), never the offending character.
    """
    if text.isascii() and text.isprintable():
        return text  # fast path: SASLprep is the identity on printable ASCII
    mapped = []
    for ch in text:
        if stringprep.in_table_c12(ch):
            mapped.append(" ")  # RFC 4013 section 2.1: non-ASCII space -> SPACE
        elif not stringprep.in_table_b1(ch):  # B.1: "commonly mapped to nothing"
            mapped.append(ch)
    prepared = unicodedata.normalize("NFKC", "".join(mapped))
    for ch in prepared:
        if any(table(ch) for table in _PROHIBITED):
            raise InvalidArgumentError(
                f"the {what} holds a character SASLprep prohibits (RFC 4013)"
            )
        if not allow_unassigned and stringprep.in_table_a1(ch):
            raise InvalidArgumentError(f"the {what} holds an unassigned code point (RFC 4013)")
    # RFC 3454 section 6: bidirectional text rules.
    if any(stringprep.in_table_d1(ch) for ch in prepared) and (
        any(stringprep.in_table_d2(ch) for ch in prepared)
        or not (stringprep.in_table_d1(prepared[0]) and stringprep.in_table_d1(prepared[-1]))
    ):
        raise InvalidArgumentError(f"the {what} breaks the bidirectional rules of RFC 3454")
    return prepared


def _saslname(name: str) -> str:
    """``saslname`` (RFC 5802 section 7): "=" and "," escaped as =3D and =2C."""
    return name.replace("=", "=3D").replace(",", "=2C")


# --- the mechanism interface ----------------------------------------------------------


class SaslMechanism(ABC):
    """One client-side SASL exchange; use a fresh object per ``AUTHENTICATE``."""

    #: The IANA mechanism name, as written after ``AUTHENTICATE``.
    name: ClassVar[str]
    #: The mechanism starts with a client message (sent as SASL-IR when possible).
    client_first: ClassVar[bool] = True

    def __init__(self) -> None:
        self._initial_sent = False
        self._failure_detail: str | None = None

    @property
    def failure_detail(self) -> str | None:
        """The server's own explanation of a failure (OAUTHBEARER/XOAUTH2 JSON
        error, SCRAM ``e=`` value), for the error raised on the tagged NO."""
        return self._failure_detail

    def initial_response(self) -> Secret | None:
        """The client's first message, for SASL-IR (RFC 4959); ``None`` when the
        mechanism has none (LOGIN).  Call at most once, before any ``respond``."""
        if not self.client_first:
            return None
        if self._initial_sent:
            raise RuntimeError("initial_response() called twice")
        self._initial_sent = True
        return self._first_message()

    def respond(self, challenge: bytes | None) -> Secret:
        """Answer one server challenge (already base64-decoded; ``None`` when the
        continuation text was not base64).  Raises :class:`SaslError`."""
        if self.client_first and not self._initial_sent:
            # No SASL-IR: the server's first "+" is an empty challenge asking for
            # the initial response (RFC 4422 section 5).  Its text is ignored, as
            # some servers put a human-readable word there.
            self._initial_sent = True
            return self._first_message()
        if challenge is None:
            raise SaslError(self.name, "the server's challenge is not base64")
        return self._step(challenge)

    def verify_success(self) -> None:
        """Called on the tagged OK: raise :class:`SaslError` if the exchange is
        not complete from the client's side (SCRAM: no valid server signature)."""
        return None

    def _first_message(self) -> Secret:
        raise NotImplementedError  # pragma: no cover - client-first mechanisms override

    @abstractmethod
    def _step(self, challenge: bytes) -> Secret: ...

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


# --- PLAIN, LOGIN ---------------------------------------------------------------------


class PlainMechanism(SaslMechanism):
    """PLAIN (RFC 4616): ``[authzid] NUL authcid NUL passwd`` in one message."""

    name = "PLAIN"

    def __init__(
        self, username: str, password: Secret | str, *, authzid: str | None = None
    ) -> None:
        super().__init__()
        for label, value in (("username", username), ("authorization identity", authzid)):
            if value is not None and "\x00" in value:
                raise InvalidArgumentError(f"the {label} may not contain NUL")
        self._username = username
        self._password = _to_secret(password)
        self._authzid = authzid or ""
        if b"\x00" in self._password.reveal_bytes():
            raise InvalidArgumentError("the password may not contain NUL")

    def _first_message(self) -> Secret:
        return Secret(
            self._authzid.encode("utf-8")
            + b"\x00"
            + self._username.encode("utf-8")
            + b"\x00"
            + self._password.reveal_bytes()
        )

    def _step(self, challenge: bytes) -> Secret:
        raise SaslError(self.name, "unexpected challenge after the credentials were sent")


class LoginMechanism(SaslMechanism):
    """LOGIN (draft-murchison-sasl-login): the username, then the password, each
    sent in answer to a prompt whose text (``Username:``) is not checked."""

    name = "LOGIN"
    client_first = False

    def __init__(self, username: str, password: Secret | str) -> None:
        super().__init__()
        self._username = username
        self._password = _to_secret(password)
        self._answered = 0

    def _step(self, challenge: bytes) -> Secret:
        self._answered += 1
        if self._answered == 1:
            return Secret(self._username.encode("utf-8"))
        if self._answered == 2:
            return self._password
        raise SaslError(self.name, "unexpected third challenge")


# --- OAuth 2.0 bearer tokens ----------------------------------------------------------


def _oauth_error_detail(challenge: bytes) -> str:
    """Summarize the JSON error a server sends as its failure challenge
    (RFC 7628 section 3.2.2; Google's XOAUTH2 uses the same shape)."""
    try:
        doc = json.loads(challenge.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        text = challenge.decode("utf-8", "replace")[:200]
        return f"non-JSON error challenge: {text!r}"
    if not isinstance(doc, dict):
        return f"error challenge: {json.dumps(doc)[:200]}"
    parts = [f"{k}={doc[k]!s}" for k in ("status", "scope", "schemes") if k in doc]
    return ", ".join(parts) or json.dumps(doc)[:200]


class XOAuth2Mechanism(SaslMechanism):
    """XOAUTH2 (Google, Microsoft): ``user=U ^A auth=Bearer T ^A ^A``.

    On failure the server sends a base64 JSON error as a challenge; the client
    answers with an empty response and the server then sends the tagged NO.
    """

    name = "XOAUTH2"

    def __init__(self, username: str, token: Secret | str) -> None:
        super().__init__()
        if "\x01" in username:
            raise InvalidArgumentError("the username may not contain \\x01")
        self._username = username
        self._token = _to_secret(token)

    def _first_message(self) -> Secret:
        return Secret(
            b"user="
            + self._username.encode("utf-8")
            + b"\x01auth=Bearer "
            + self._token.reveal_bytes()
            + b"\x01\x01"
        )

    def _step(self, challenge: bytes) -> Secret:
        if self._failure_detail is not None:
            raise SaslError(self.name, "unexpected challenge after the error challenge")
        self._failure_detail = _oauth_error_detail(challenge)
        return Secret(b"")


class OAuthBearerMechanism(SaslMechanism):
    """OAUTHBEARER (RFC 7628 section 3.1): a GS2 header naming the user, then
    ``host=``, ``port=`` and ``auth=Bearer <token>`` key/value pairs.

    On failure the server sends a base64 JSON error (section 3.2.2); the client
    must answer with a single ``%x01`` and the server then sends the tagged NO.
    """

    name = "OAUTHBEARER"

    def __init__(
        self,
        username: str | None,
        token: Secret | str,
        *,
        host: str | None = None,
        port: int | None = None,
    ) -> None:
        super().__init__()
        for label, value in (("username", username), ("host", host)):
            if value is not None and ("\x01" in value or "\x00" in value):
                raise InvalidArgumentError(f"the {label} may not contain control characters")
        self._username = username
        self._token = _to_secret(token)
        self._host = host
        self._port = port

    def _first_message(self) -> Secret:
        authzid = f"a={_saslname(self._username)}" if self._username else ""
        head = f"n,{authzid},\x01"
        if self._host is not None:
            head += f"host={self._host}\x01"
        if self._port is not None:
            head += f"port={self._port}\x01"
        return Secret(
            head.encode("utf-8") + b"auth=Bearer " + self._token.reveal_bytes() + b"\x01\x01"
        )

    def _step(self, challenge: bytes) -> Secret:
        if self._failure_detail is not None:
            raise SaslError(self.name, "unexpected challenge after the error challenge")
        self._failure_detail = _oauth_error_detail(challenge)
        return Secret(b"\x01")  # RFC 7628 section 3.2.3: a dummy response ends the exchange


# --- SCRAM (RFC 5802, RFC 7677) -------------------------------------------------------


class _Scram(SaslMechanism):
    """SCRAM without channel binding (gs2 flag ``n``)."""

    hash_name: ClassVar[str]
    #: RFC 7677 section 4: at least 4096 iterations.  A server asking for fewer
    #: (an impostor) would make an offline guess from our proof cheap.
    min_iterations: ClassVar[int] = 4096
    #: An upper bound so that a hostile server cannot pin the CPU.
    max_iterations: ClassVar[int] = 1_000_000

    def __init__(
        self,
        username: str,
        password: Secret | str,
        *,
        authzid: str | None = None,
        _nonce: str | None = None,
    ) -> None:
        super().__init__()
        self._username = saslprep(username, what="username")
        self._password = _to_secret(password)
        self._gs2_header = f"n,{'a=' + _saslname(authzid) if authzid else ''},"
        nonce = _nonce if _nonce is not None else secrets.token_urlsafe(24)
        if not nonce or not all(0x21 <= ord(ch) <= 0x7E and ch != "," for ch in nonce):
            raise InvalidArgumentError("a SCRAM nonce must be printable ASCII without ','")
        self._client_nonce = nonce
        self._client_first_bare = f"n={_saslname(self._username)},r={nonce}"
        self._expected_server_signature: bytes | None = None
        self._verified = False

    def _first_message(self) -> Secret:
        return Secret((self._gs2_header + self._client_first_bare).encode("utf-8"))

    def _normalized_password(self) -> bytes:
        raw = self._password.reveal_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw  # not text: SASLprep cannot apply, use the octets as given
        return saslprep(text, what="password").encode("utf-8")

    def _step(self, challenge: bytes) -> Secret:
        expected = self._expected_server_signature
        if expected is None:
            return self._client_final(challenge)
        if self._verified:
            raise SaslError(self.name, "unexpected challenge after the server signature")
        self._check_server_final(challenge, expected)
        return Secret(b"")  # IMAP has no "success with data": answer the v= challenge empty

    def _attributes(self, message: bytes, what: str) -> list[tuple[str, str]]:
        try:
            text = message.decode("utf-8")
        except UnicodeDecodeError:
            raise SaslError(self.name, f"the {what} is not UTF-8") from None
        out = []
        for part in text.split(","):
            if len(part) < 2 or part[1] != "=" or not part[0].isalpha():
                raise SaslError(self.name, f"malformed {what}")
            out.append((part[0], part[2:]))
        return out

    def _client_final(self, server_first: bytes) -> Secret:
        attrs = self._attributes(server_first, "server-first-message")
        if attrs[0][0] == "m":
            raise SaslError(self.name, "the server requires an unsupported extension (m=)")
        if len(attrs) < 3 or [k for k, _ in attrs[:3]] != ["r", "s", "i"]:
            raise SaslError(self.name, "malformed server-first-message (expected r=, s=, i=)")
        nonce, salt_b64, iter_text = (v for _, v in attrs[:3])
        if not nonce.startswith(self._client_nonce) or len(nonce) == len(self._client_nonce):
            raise SaslError(self.name, "the server nonce does not extend the client nonce")
        salt = _b64decode(self.name, "the salt", salt_b64)
        if not iter_text.isdigit() or not iter_text.isascii() or len(iter_text) > 10:
            raise SaslError(self.name, "malformed iteration count")
        iterations = int(iter_text)
        if not self.min_iterations <= iterations <= self.max_iterations:
            raise SaslError(
                self.name,
                f"iteration count {iterations} outside "
                f"{self.min_iterations}..{self.max_iterations}",
            )

        gs2 = base64.b64encode(self._gs2_header.encode("utf-8")).decode("ascii")
        without_proof = f"c={gs2},r={nonce}"
        auth_message = ",".join(
            (self._client_first_bare, server_first.decode("utf-8"), without_proof)
        ).encode("utf-8")
        salted = hashlib.pbkdf2_hmac(self.hash_name, self._normalized_password(), salt, iterations)
        client_key = self._hmac(salted, b"Client Key")
        stored_key = hashlib.new(self.hash_name, client_key).digest()
        client_signature = self._hmac(stored_key, auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, client_signature, strict=True))
        server_key = self._hmac(salted, b"Server Key")
        self._expected_server_signature = self._hmac(server_key, auth_message)
        return Secret(f"{without_proof},p={base64.b64encode(proof).decode('ascii')}")

    def _check_server_final(self, server_final: bytes, expected: bytes) -> None:
        attrs = self._attributes(server_final, "server-final-message")
        key, value = attrs[0]
        if key == "e":
            self._failure_detail = value[:200]
            raise SaslError(self.name, f"the server reported an error: {value[:200]!r}")
        if key != "v":
            raise SaslError(self.name, "malformed server-final-message (expected v=)")
        signature = _b64decode(self.name, "the server signature", value)
        if not hmac.compare_digest(signature, expected):
            raise SaslError(
                self.name, "wrong server signature: the server does not know the password"
            )
        self._verified = True

    def verify_success(self) -> None:
        if not self._verified:
            raise SaslError(
                self.name,
                "the server accepted the login without proving it knows the password "
                "(no valid server signature)",
            )

    def _hmac(self, key: bytes, msg: bytes) -> bytes:
        return hmac.new(key, msg, self.hash_name).digest()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} user={self._username!r}>"


class ScramSha256Mechanism(_Scram):
    """SCRAM-SHA-256 (RFC 7677)."""

    name = "SCRAM-SHA-256"
    hash_name = "sha256"


class ScramSha1Mechanism(_Scram):
    """SCRAM-SHA-1 (RFC 5802)."""

    name = "SCRAM-SHA-1"
    hash_name = "sha1"


# --- choosing -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the caller can authenticate with: a password, an OAuth 2.0 access
    token, or both.  ``authzid``: act as another user (PLAIN, SCRAM), if the
    server allows it."""

    username: str
    password: Secret | None = None
    oauth2_token: Secret | None = None
    authzid: str | None = None

    def __post_init__(self) -> None:
        if self.password is None and self.oauth2_token is None:
            raise InvalidArgumentError("credentials need a password or an OAuth 2.0 token")
        for name in ("password", "oauth2_token"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Secret):
                raise InvalidArgumentError(f"{name} must be a Secret")


#: Strongest first.  SCRAM proves the server knows the password and never
#: shows it the password; PLAIN and LOGIN rely on TLS alone.
PASSWORD_PREFERENCE: Final = ("SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", "LOGIN")
OAUTH_PREFERENCE: Final = ("OAUTHBEARER", "XOAUTH2")


def choose_mechanism(
    server_caps: Iterable[str],
    available_credentials: Credentials,
    *,
    preference: Sequence[str] | None = None,
) -> str | None:
    """Pick the mechanism to use: the first of ``preference`` that the server
    offers (``AUTH=<name>``, case-insensitive) and the credentials can serve.

    The default preference puts the token mechanisms first when a token is
    given, then the password ones (:data:`PASSWORD_PREFERENCE`).  ``None``
    means no offered mechanism fits; with a password the client then falls
    back to the ``LOGIN`` command, unless the server advertises
    ``LOGINDISABLED``.  ``-PLUS`` (channel binding) variants are never chosen.
    """
    offered = set()
    for cap in server_caps:
        upper = cap.upper()
        if upper.startswith("AUTH="):
            offered.add(upper[5:])
    creds = available_credentials
    if preference is None:
        preference = (OAUTH_PREFERENCE if creds.oauth2_token is not None else ()) + (
            PASSWORD_PREFERENCE if creds.password is not None else ()
        )
    for name in preference:
        upper = name.upper()
        usable = (upper in OAUTH_PREFERENCE and creds.oauth2_token is not None) or (
            upper in PASSWORD_PREFERENCE and creds.password is not None
        )
        if usable and upper in offered:
            return upper
    return None


def create_mechanism(
    name: str, credentials: Credentials, *, host: str | None = None, port: int | None = None
) -> SaslMechanism:
    """Build the mechanism object for ``name`` (as :func:`choose_mechanism`
    returned it).  ``host``/``port`` go into OAUTHBEARER's key/value pairs."""
    upper = name.upper()
    creds = credentials
    if upper in OAUTH_PREFERENCE:
        if creds.oauth2_token is None:
            raise InvalidArgumentError(f"{upper} needs an OAuth 2.0 token")
        if upper == "XOAUTH2":
            return XOAuth2Mechanism(creds.username, creds.oauth2_token)
        return OAuthBearerMechanism(creds.username, creds.oauth2_token, host=host, port=port)
    if upper in PASSWORD_PREFERENCE:
        if creds.password is None:
            raise InvalidArgumentError(f"{upper} needs a password")
        if upper == "PLAIN":
            return PlainMechanism(creds.username, creds.password, authzid=creds.authzid)
        if upper == "LOGIN":
            return LoginMechanism(creds.username, creds.password)
        scram = ScramSha256Mechanism if upper == "SCRAM-SHA-256" else ScramSha1Mechanism
        return scram(creds.username, creds.password, authzid=creds.authzid)
    raise InvalidArgumentError(f"unsupported SASL mechanism {name!r}")
