"""SASL/PLAIN for the listener: Kafka's SASL_PLAINTEXT, with users from a file.

The exchange is Kafka's (KIP-43, KIP-152; ``SaslServerAuthenticator.java``): a client
may send ApiVersions, then SaslHandshake naming a mechanism, then its SASL token in
a SaslAuthenticate request (handshake v1) or as a bare size-prefixed frame
(handshake v0, before KIP-152). PLAIN's token is ``authzid NUL authcid NUL passwd``
(RFC 4616), checked as Kafka's ``PlainSaslServer`` checks it.

Until the connection is authenticated, any other request closes it, as Kafka does
(``IllegalSaslStateException``), and so does a frame larger than 512 KiB (Kafka's
``sasl.server.max.receive.size``): nobody who has not logged in makes the listener
read 100 MiB. Bad credentials are answered with SASL_AUTHENTICATION_FAILED and a
message (SaslAuthenticate) and the connection is then closed; with handshake v0 there
is no way to say why, so the connection is just closed (as Kafka does).

Passwords never leave this module: not in a log line, an error message or a
``repr``; a failed login is logged with the peer's address only (not the user name,
which is sometimes a password typed in the wrong field).

A listener without SASL (or a connection already authenticated) answers SaslHandshake
and SaslAuthenticate with ILLEGAL_SASL_STATE, as Kafka's ``KafkaApis`` does, so a
client configured for SASL against it gets an authentication error, not a hang.
"""

from __future__ import annotations

import enum
import hmac
import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kio.schema.errors import ErrorCode

from .protocol import FrameError, build, response_class

_log = logging.getLogger(__name__)

SASL_HANDSHAKE = 17
SASL_AUTHENTICATE = 36
API_VERSIONS = 18
MECHANISM = "PLAIN"
# Kafka's sasl.server.max.receive.size default: the largest frame before authentication.
MAX_RECEIVE_BYTES = 512 * 1024
# What ApiVersions lists (SaslHandshakeRequest.json, SaslAuthenticateRequest.json).
VERSIONS: dict[int, tuple[int, int]] = {SASL_HANDSHAKE: (0, 1), SASL_AUTHENTICATE: (0, 2)}
# Kafka's connection.failed.authentication.delay.ms (KIP-306): a failed login is answered
# (and its connection closed) this much later, so a client retrying a wrong password
# (librdkafka reconnects every 50 ms or so) does not keep the listener busy.
FAILED_AUTHENTICATION_DELAY_S = 0.1
# Kafka's PlainSaslServer message for an unknown user or a wrong password: the same
# for both, so the answer does not tell which user names exist.
INVALID = "Authentication failed: Invalid username or password"


class UsersFileError(ValueError):
    """The users file cannot be used; the message never quotes a line (it holds passwords)."""


class AuthenticationFailed(Exception):
    """A PLAIN token that does not log in; the message is what the client is told."""


def parse_users(text: str, source: str = "the users file") -> dict[str, str]:
    """``NAME:PASSWORD`` a line (``#`` comments and blank lines skipped) as {name: password}.

    The password is everything after the first colon, so it may hold colons; a name
    may not. Errors name the line by number only.
    """
    users: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, password = line.partition(":")
        name = name.strip()
        if not sep or not name or not password:
            raise UsersFileError(f"{source}, line {number}: expected NAME:PASSWORD (both not empty)")
        if "\0" in line:
            raise UsersFileError(f"{source}, line {number}: a NUL byte cannot be part of a PLAIN name or password")
        if name in users:
            raise UsersFileError(f"{source}, line {number}: the user {name!r} is already defined above")
        users[name] = password
    if not users:
        raise UsersFileError(f"{source} defines no user: add NAME:PASSWORD lines")
    return users


def load_users(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read and parse a users file; UsersFileError says what is wrong (never its content)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsersFileError(f"the SASL users file {p} does not exist") from None
    except UnicodeDecodeError:
        raise UsersFileError(f"the SASL users file {p} is not UTF-8 text") from None
    except OSError as e:
        raise UsersFileError(f"the SASL users file {p} cannot be read: {e.strerror}") from None
    return parse_users(text, str(p))


class PlainUsers:
    """The users who may log in with SASL/PLAIN."""

    def __init__(self, users: Mapping[str, str]) -> None:
        if not users:
            raise ValueError("SASL/PLAIN needs at least one user")
        self._users = {name: password.encode("utf-8") for name, password in users.items()}

    def __repr__(self) -> str:
        return f"PlainUsers({len(self._users)} users)"  # never the passwords

    def __len__(self) -> int:
        return len(self._users)

    def check(self, token: bytes) -> str:
        """The user name a PLAIN token logs in as; AuthenticationFailed says why not.

        The messages are Kafka's PlainSaslServer's.
        """
        parts = token.split(b"\0")
        if len(parts) != 3:
            raise AuthenticationFailed(f"Invalid SASL/PLAIN response: expected 3 tokens, got {len(parts)}")
        authzid, authcid, password = parts
        try:
            username = authcid.decode("utf-8")
            authz = authzid.decode("utf-8")
        except UnicodeDecodeError:
            raise AuthenticationFailed("Invalid SASL/PLAIN response: the username is not UTF-8") from None
        if not username:
            raise AuthenticationFailed("Authentication failed: username not specified")
        if not password:
            raise AuthenticationFailed("Authentication failed: password not specified")
        if authz and authz != username:
            raise AuthenticationFailed(
                "Authentication failed: Client requested an authorization id that is different from username"
            )
        # Compare in constant time, against a stand-in for an unknown user, so the time
        # taken does not say whether the name exists.
        expected = self._users.get(username)
        matches = hmac.compare_digest(password, expected if expected is not None else b"\0" * len(password))
        if expected is None or not matches:
            raise AuthenticationFailed(INVALID)
        return username


class FailedLogins:
    """Logs failed logins: at most one line a minute per peer address, with a count.

    A client with a wrong password retries several times a second for as long as it
    runs; one line per attempt would bury everything else in the server's log.
    """

    def __init__(self, every_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_s = every_s
        self.clock = clock
        self.count = 0
        self._hosts: dict[str, tuple[float, int]] = {}  # host -> (last logged, not logged since)

    def report(self, host: str, why: str) -> None:
        self.count += 1
        now = self.clock()
        last = self._hosts.get(host)
        if last is not None and now - last[0] < self.every_s:
            self._hosts[host] = (last[0], last[1] + 1)
            return
        if len(self._hosts) >= 4096:  # bounded: forget the oldest reports
            self._hosts = {h: v for h, v in self._hosts.items() if now - v[0] < self.every_s}
        self._hosts[host] = (now, 0)
        more = f"; {last[1]} more from there in the last minute" if last is not None and last[1] else ""
        _log.warning("kafka listener: failed SASL/PLAIN authentication from %s (%s)%s", host, why, more)


class _State(enum.Enum):
    HANDSHAKE = "handshake"  # ApiVersions or SaslHandshake expected
    AUTHENTICATE = "authenticate"  # SaslAuthenticate expected (handshake v1)
    RAW_TOKEN = "raw"  # noqa: S105 - a state name: a bare token frame expected (handshake v0)
    COMPLETE = "complete"


class SaslConnection:
    """One connection's progress through Kafka's SASL exchange (SaslServerAuthenticator)."""

    def __init__(self, users: PlainUsers, host: str, failures: FailedLogins | None = None) -> None:
        self.users = users
        self.host = host
        self.failures = failures if failures is not None else FailedLogins()
        self._state = _State.HANDSHAKE
        self.principal: str | None = None
        # Set with a response the connection must be closed after (Kafka sends the
        # error, then closes).
        self.close_after_response = False

    @property
    def authenticated(self) -> bool:
        return self._state is _State.COMPLETE

    @property
    def expects_raw_token(self) -> bool:
        return self._state is _State.RAW_TOKEN

    @property
    def max_frame_bytes(self) -> int:
        return MAX_RECEIVE_BYTES

    def admit(self, api_key: int) -> None:
        """Refuse (FrameError: close) a request that may not come at this point."""
        if self._state is _State.HANDSHAKE and api_key in (API_VERSIONS, SASL_HANDSHAKE):
            return
        if self._state is _State.AUTHENTICATE and api_key == SASL_AUTHENTICATE:
            return
        raise FrameError(
            f"API key {api_key} before SASL authentication completed (state: {self._state.value}); "
            "this listener needs SASL/PLAIN (security.protocol=SASL_PLAINTEXT, sasl.mechanism=PLAIN)"
        )

    def handle(self, api_key: int, version: int, request: Any) -> Any:
        """The response to a SaslHandshake or SaslAuthenticate the connection was admitted for."""
        if api_key == SASL_HANDSHAKE:
            return self._handshake(version, request)
        return self._authenticate(version, request)

    def _handshake(self, version: int, request: Any) -> Any:
        values: dict[str, Any] = {"error_code": ErrorCode.none, "mechanisms": [MECHANISM]}
        if request.mechanism != MECHANISM:
            # Kafka answers with the mechanisms it has, then closes the connection.
            values["error_code"] = ErrorCode.unsupported_sasl_mechanism
            self.close_after_response = True
            # repr and cut: the name is the client's, up to 512 KiB of anything.
            asked = str(request.mechanism)[:64]
            _log.info("kafka listener: %s asked for SASL mechanism %r; only PLAIN", self.host, asked)
        else:
            self._state = _State.AUTHENTICATE if version >= 1 else _State.RAW_TOKEN
        return build(response_class(SASL_HANDSHAKE, version), values)

    def _login(self, token: bytes) -> None:
        try:
            self.principal = self.users.check(token)
        except AuthenticationFailed as e:
            self.failures.report(self.host, str(e))
            self.close_after_response = True
            raise
        self._state = _State.COMPLETE

    def _authenticate(self, version: int, request: Any) -> Any:
        values: dict[str, Any] = {"error_code": ErrorCode.none, "error_message": None, "auth_bytes": b""}
        try:
            self._login(bytes(request.auth_bytes))
        except AuthenticationFailed as e:
            values["error_code"] = ErrorCode.sasl_authentication_failed
            values["error_message"] = str(e)
        return build(response_class(SASL_AUTHENTICATE, version), values)

    def raw_token(self, frame: bytes) -> bytes | None:
        """Handshake v0: the frame is a bare PLAIN token; the answer an empty token frame.

        A failure is not answered (before KIP-152 there was no way to carry an error):
        the connection is closed, as Kafka does.
        """
        try:
            self._login(frame)
        except AuthenticationFailed:
            return None
        return b"\0\0\0\0"


# --- without SASL, or once authenticated: what Kafka's KafkaApis answers -------------


def handshake_refused(version: int, request: Any, client: Any) -> Any:
    return build(
        response_class(SASL_HANDSHAKE, version), {"error_code": ErrorCode.illegal_sasl_state, "mechanisms": []}
    )


def authenticate_refused(version: int, request: Any, client: Any) -> Any:
    return build(
        response_class(SASL_AUTHENTICATE, version),
        {
            "error_code": ErrorCode.illegal_sasl_state,
            "error_message": "SaslAuthenticate request received when SASL is not expected on this connection",
            "auth_bytes": b"",
        },
    )
