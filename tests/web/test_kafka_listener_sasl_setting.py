"""``serve --kafka-sasl-users FILE`` / ``OFFSETSITE["KAFKA_SASL_USERS"]``: the listener
as ``serve`` starts it needs SASL/PLAIN, and a bad users file stops ``serve`` with a
reason that never quotes a password."""

from __future__ import annotations

import socket
import struct
from pathlib import Path
from typing import Any

import pytest

from offsetsite import cli, kafka_listener

pytestmark = [pytest.mark.integration]

SECRET = "hunter2-do-not-print"


def _exchange(sock: socket.socket, api_key: int, version: int, body: bytes) -> bytes:
    payload = struct.pack(">hhih", api_key, version, 1, 1) + b"t" + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    head = sock.recv(4)
    if len(head) < 4:
        return b""
    (n,) = struct.unpack(">i", head)
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return b""
        data += chunk
    return data


def test_the_setting_makes_the_listener_require_sasl(engine_dir: Path, settings: Any, tmp_path: Path) -> None:
    users = tmp_path / "users"
    users.write_text(f"attendee:{SECRET}\n")
    settings.OFFSETSITE = {**settings.OFFSETSITE, "KAFKA_LISTENER": "127.0.0.1:0", "KAFKA_SASL_USERS": str(users)}
    listener = kafka_listener.start()
    try:
        assert listener is not None and listener.sasl_users is not None
        with socket.create_connection(("127.0.0.1", listener.port), timeout=10) as s:
            assert _exchange(s, 3, 0, struct.pack(">i", 0)) == b""  # Metadata before login: closed
        with socket.create_connection(("127.0.0.1", listener.port), timeout=10) as s:
            assert struct.unpack_from(">ih", _exchange(s, 17, 1, struct.pack(">h", 5) + b"PLAIN")) == (1, 0)
            token = f"\0attendee\0{SECRET}".encode()
            assert struct.unpack_from(">ih", _exchange(s, 36, 1, struct.pack(">i", len(token)) + token)) == (1, 0)
    finally:
        kafka_listener.stop()


def test_a_bad_users_file_stops_the_listener_before_it_starts(engine_dir: Path, settings: Any, tmp_path: Path) -> None:
    users = tmp_path / "users"
    users.write_text(f"attendee {SECRET}\n")  # no colon
    settings.OFFSETSITE = {**settings.OFFSETSITE, "KAFKA_LISTENER": "127.0.0.1:0", "KAFKA_SASL_USERS": str(users)}
    with pytest.raises(kafka_listener.UsersFileError, match="line 1: expected NAME:PASSWORD") as raised:
        kafka_listener.start()
    assert SECRET not in str(raised.value)
    assert kafka_listener.current() is None


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "does not exist"), (f"attendee {SECRET}\n", "line 1: expected NAME:PASSWORD"), ("", "defines no user")],
)
def test_serve_refuses_a_bad_users_file_with_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str | None, message: str
) -> None:
    users = tmp_path / "users"
    if content is not None:
        users.write_text(content)
    rc = cli.main(["--data-dir", str(tmp_path / "data"), "serve", "--kafka-sasl-users", str(users)])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "--kafka-sasl-users" in err and message in err
    assert SECRET not in err
