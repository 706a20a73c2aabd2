"""SASL/PLAIN on the Kafka listener, byte by byte (logcore/kafka_server/sasl.py).

Raw sockets speak the exchange as a client does (KIP-43, KIP-152): each rule of
Kafka's SaslServerAuthenticator is one test. Real clients (confluent-kafka, kafkajs)
are in tests/integration/test_kafka_listener_sasl.py.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_kafka_protocol import api_versions, connect, exchange, frame

from logcore import EmbeddedCluster
from logcore.kafka_server import KafkaListener
from logcore.kafka_server.protocol import FrameError
from logcore.kafka_server.sasl import (
    FAILED_AUTHENTICATION_DELAY_S,
    AuthenticationFailed,
    FailedLogins,
    PlainUsers,
    SaslConnection,
    UsersFileError,
    load_users,
    parse_users,
)

PASSWORD = "s3cret:with-colon"
USERS = {"alice": PASSWORD, "bob": "other"}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedCluster]:
    cluster = EmbeddedCluster(tmp_path_factory.mktemp("kafka-sasl"))
    cluster.create_topic("t", 1)
    yield cluster
    cluster.close()


@pytest.fixture(scope="module")
def listener(engine: EmbeddedCluster) -> Iterator[KafkaListener]:
    lst = KafkaListener(engine, threading.RLock(), "127.0.0.1", 0, sasl_users=PlainUsers(USERS))
    lst.start()
    yield lst
    lst.stop()


@pytest.fixture(scope="module")
def plaintext(engine: EmbeddedCluster) -> Iterator[KafkaListener]:
    lst = KafkaListener(engine, threading.RLock(), "127.0.0.1", 0)
    lst.start()
    yield lst
    lst.stop()


def _str(s: str) -> bytes:
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def handshake(mechanism: str = "PLAIN", version: int = 1, correlation: int = 1) -> bytes:
    return frame(17, version, correlation, _str(mechanism))


def authenticate(token: bytes, correlation: int = 2) -> bytes:
    return frame(36, 1, correlation, struct.pack(">i", len(token)) + token)


def plain(user: str, password: str, authzid: str = "") -> bytes:
    return f"{authzid}\0{user}\0{password}".encode()


def metadata(correlation: int = 9) -> bytes:
    return frame(3, 0, correlation, struct.pack(">i", 0))


def handshake_answer(resp: bytes) -> tuple[int, int, list[str]]:
    correlation, error, count = struct.unpack_from(">ihi", resp, 0)
    pos, names = 10, []
    for _ in range(count):
        (n,) = struct.unpack_from(">h", resp, pos)
        names.append(resp[pos + 2 : pos + 2 + n].decode())
        pos += 2 + n
    return correlation, error, names


def authenticate_answer(resp: bytes) -> tuple[int, int, str | None]:
    correlation, error, n = struct.unpack_from(">ihh", resp, 0)
    message = resp[8 : 8 + n].decode() if n >= 0 else None
    return correlation, error, message


def closed(sock: socket.socket) -> bool:
    """True when the listener closed the connection (EOF, or a reset while sending)."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def login(sock: socket.socket, user: str = "alice", password: str = PASSWORD) -> tuple[int, int, str | None]:
    assert handshake_answer(exchange(sock, handshake())) == (1, 0, ["PLAIN"])
    return authenticate_answer(exchange(sock, authenticate(plain(user, password))))


def test_right_credentials_log_in_and_requests_follow(listener: KafkaListener) -> None:
    with connect(listener) as s:
        assert struct.unpack_from(">ih", exchange(s, api_versions()), 0) == (7, 0)  # allowed before login
        assert login(s) == (2, 0, None)
        resp = exchange(s, metadata())
        assert struct.unpack_from(">i", resp, 0) == (9,)
        # Once logged in, another exchange is ILLEGAL_SASL_STATE (34), as KafkaApis answers.
        assert handshake_answer(exchange(s, handshake(correlation=5)))[:2] == (5, 34)


@pytest.mark.parametrize(
    ("user", "password", "authzid", "why"),
    [
        ("alice", "wrong", "", "Invalid username or password"),
        ("mallory", PASSWORD, "", "Invalid username or password"),
        ("alice", PASSWORD, "bob", "authorization id that is different"),
        ("", PASSWORD, "", "username not specified"),
    ],
)
def test_bad_credentials_are_answered_with_a_message_then_closed(
    listener: KafkaListener, user: str, password: str, authzid: str, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    listener.failed_logins = FailedLogins()  # a fresh log: this address failed in other tests
    with caplog.at_level(logging.INFO, logger="logcore.kafka_server"), connect(listener) as s:
        assert handshake_answer(exchange(s, handshake()))[1] == 0
        correlation, error, message = authenticate_answer(exchange(s, authenticate(plain(user, password, authzid))))
        assert (correlation, error) == (2, 58)  # SASL_AUTHENTICATION_FAILED
        assert message is not None and why in message
        assert closed(s)
    assert "failed SASL/PLAIN authentication" in caplog.text
    # Neither the password nor the name typed ends up in a log line.
    assert PASSWORD not in caplog.text and "wrong" not in caplog.text and "mallory" not in caplog.text


def test_a_malformed_token_fails_authentication(listener: KafkaListener) -> None:
    with connect(listener) as s:
        exchange(s, handshake())
        _c, error, message = authenticate_answer(exchange(s, authenticate(b"no-nul-at-all")))
        assert error == 58 and message is not None and "expected 3 tokens" in message
        assert closed(s)


@pytest.mark.parametrize(
    "first",
    [
        pytest.param(metadata(), id="Metadata before the handshake"),
        pytest.param(authenticate(plain("alice", PASSWORD)), id="SaslAuthenticate before the handshake"),
    ],
)
def test_a_request_before_login_closes_the_connection(listener: KafkaListener, first: bytes) -> None:
    with connect(listener) as s:
        assert exchange(s, first) == b""


def test_a_request_other_than_authenticate_after_the_handshake_closes(listener: KafkaListener) -> None:
    with connect(listener) as s:
        exchange(s, handshake())
        assert exchange(s, metadata()) == b""


def test_an_unsupported_mechanism_is_answered_with_plain_then_closed(
    listener: KafkaListener, caplog: pytest.LogCaptureFixture
) -> None:
    with connect(listener) as s:
        assert handshake_answer(exchange(s, handshake("SCRAM-SHA-256"))) == (1, 33, ["PLAIN"])
        assert closed(s)
    with caplog.at_level(logging.INFO, logger="logcore.kafka_server"), connect(listener) as s:
        assert handshake_answer(exchange(s, handshake("\x1b[2J" + "M" * 5000)))[1] == 33
        assert closed(s)
    (line,) = [r.getMessage() for r in caplog.records if "asked for SASL mechanism" in r.getMessage()]
    assert len(line) < 200 and "\x1b" not in line  # cut, and the escape shown as \x1b


def test_handshake_v0_takes_a_bare_token(listener: KafkaListener) -> None:
    token = plain("bob", "other")
    with connect(listener) as s:
        assert handshake_answer(exchange(s, handshake(version=0)))[1] == 0
        # Before KIP-152: the token is a bare size-prefixed frame, answered with an empty one.
        s.sendall(struct.pack(">i", len(token)) + token)
        assert s.recv(4) == b"\0\0\0\0"
        assert struct.unpack_from(">i", exchange(s, metadata()), 0) == (9,)
    with connect(listener) as s:
        exchange(s, handshake(version=0))
        bad = plain("bob", "wrong")
        assert exchange(s, struct.pack(">i", len(bad)) + bad) == b""  # no way to say why: closed


def test_a_short_bare_token_is_read_not_refused_as_a_short_header(listener: KafkaListener) -> None:
    # "\0a\0b" is 4 bytes: fewer than a request header, but a whole PLAIN token.
    with connect(listener) as s:
        exchange(s, handshake(version=0))
        assert exchange(s, struct.pack(">i", 4) + b"\0a\0b") == b""  # read, and refused as a bad login


def test_a_large_frame_before_login_closes_without_reading_it(listener: KafkaListener) -> None:
    with connect(listener) as s:
        s.sendall(struct.pack(">i", 600 * 1024))  # under 100 MiB, over the 512 KiB before login
        assert closed(s)


def test_without_sasl_the_exchange_is_illegal_sasl_state(plaintext: KafkaListener) -> None:
    with connect(plaintext) as s:
        assert handshake_answer(exchange(s, handshake()))[:2] == (1, 34)
        _c, error, message = authenticate_answer(exchange(s, authenticate(plain("alice", PASSWORD))))
        assert error == 34 and message
        assert struct.unpack_from(">i", exchange(s, metadata()), 0) == (9,)  # still open


def test_users_file_rules(tmp_path: Path) -> None:
    assert parse_users("# room\nalice:pw:with:colons\n\n bob : x \n") == {"alice": "pw:with:colons", "bob": " x"}
    for text, why in [
        ("alice\n", "line 1: expected NAME:PASSWORD"),
        ("alice:\n", "line 1"),
        (":pw\n", "line 1"),
        ("a:1\na:2\n", "line 2: the user 'a' is already defined"),
        ("# nothing\n", "defines no user"),
    ]:
        with pytest.raises(UsersFileError, match=why) as raised:
            parse_users(text)
        assert "pw" not in str(raised.value) and ":1" not in str(raised.value)
    with pytest.raises(UsersFileError, match="does not exist"):
        load_users(tmp_path / "missing")
    path = tmp_path / "users"
    path.write_text("carol:topsecret\n")
    users = PlainUsers(load_users(path))
    assert users.check(plain("carol", "topsecret")) == "carol"
    assert "topsecret" not in repr(users)
    with pytest.raises(AuthenticationFailed, match="password not specified"):
        users.check(plain("carol", ""))


def test_a_failed_login_is_answered_no_sooner_than_kafkas_delay(listener: KafkaListener) -> None:
    # connection.failed.authentication.delay.ms (KIP-306): a client retrying a wrong
    # password is slowed down. A lower bound only: a loaded machine is only slower.
    with connect(listener) as s:
        exchange(s, handshake())
        started = time.monotonic()
        assert authenticate_answer(exchange(s, authenticate(plain("alice", "wrong"))))[1] == 58
        assert time.monotonic() - started >= FAILED_AUTHENTICATION_DELAY_S * 0.9


def test_failed_logins_are_logged_once_a_minute_per_address(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    failures = FailedLogins(every_s=60.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="logcore.kafka_server"):
        for _ in range(50):  # a client retrying a wrong password, every 50 ms
            failures.report("/10.0.0.7", "Authentication failed: Invalid username or password")
            now[0] += 0.05
        failures.report("/10.0.0.8", "Authentication failed: Invalid username or password")
        now[0] = 61.0
        failures.report("/10.0.0.7", "Authentication failed: Invalid username or password")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines
    assert "/10.0.0.7" in lines[0] and "/10.0.0.8" in lines[1]
    assert "49 more from there" in lines[2]
    assert failures.count == 52


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(max_size=80), min_size=1, max_size=4), st.booleans())
def test_any_frames_before_login_are_answered_or_refused(
    engine: EmbeddedCluster, frames: list[bytes], after_handshake: bool
) -> None:
    # Whatever a client sends before logging in: an answer, no answer, or a clean
    # refusal (FrameError closes the connection), and never a login by accident.
    lst = KafkaListener(engine, threading.RLock(), "127.0.0.1", 0, sasl_users=PlainUsers(USERS))
    sasl = SaslConnection(PlainUsers(USERS), "/fuzz", FailedLogins())
    loop = asyncio.new_event_loop()
    try:
        if after_handshake:
            loop.run_until_complete(
                lst.handle(handshake(version=frames[0][0] % 2 if frames[0] else 1)[4:], "/fuzz", "", sasl)
            )
        for data in frames:
            try:
                out = loop.run_until_complete(asyncio.wait_for(lst.handle(data, "/fuzz", "", sasl), 5))
            except FrameError:
                break
            assert out is None or isinstance(out, bytes)
            if sasl.close_after_response:
                break
    finally:
        loop.close()
    assert not sasl.authenticated
