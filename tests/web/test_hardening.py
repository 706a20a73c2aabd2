"""Hardening found by testers: websocket origins with ports, static headers, the
database's file mode, and inputs that used to end in a 500."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from channels.testing import HttpCommunicator, WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client

from offsetsite.api.models import ApiToken
from offsetsite.asgi import application
from offsetsite.engine import get_cluster

LONG = 2**63

# --- websocket origins ----------------------------------------------------------------


async def _connects(headers: list[tuple[bytes, bytes]], path: str = "/ws/overview/", **scope: Any) -> bool:
    comm = WebsocketCommunicator(application, path, headers=headers)
    comm.scope.update(scope)
    connected, _ = await comm.connect()
    await comm.disconnect()
    return connected


@pytest.mark.parametrize(
    ("origin", "host", "scheme", "ok"),
    [
        (b"http://127.0.0.1:8000", b"127.0.0.1:8000", "ws", True),
        (b"http://localhost", b"localhost", "ws", True),
        (b"http://localhost:80", b"localhost", "ws", True),
        (b"https://localhost", b"localhost:443", "wss", True),
        (b"http://127.0.0.1:9999", b"127.0.0.1:8000", "ws", False),  # the tester's case: another port
        (b"http://127.0.0.1", b"127.0.0.1:8000", "ws", False),
        (b"https://127.0.0.1:8000", b"127.0.0.1:8000", "ws", False),  # scheme differs
        (b"http://127.0.0.1:8000", b"127.0.0.1:8000", "wss", False),
        (b"http://localhost:8000", b"127.0.0.1:8000", "ws", False),  # host differs
        (b"http://localhost:8000", b"", "ws", False),
    ],
)
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_websocket_origin_must_match_scheme_host_and_port(
    engine_dir: Path, origin: bytes, host: bytes, scheme: str, ok: bool
) -> None:
    headers = [(b"origin", origin)] + ([(b"host", host)] if host else [])
    assert await _connects(headers, scheme=scheme) is ok


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_websocket_origin_without_host_header_is_refused(engine_dir: Path) -> None:
    assert not await _connects([(b"origin", b"http://localhost")])


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_websocket_unknown_path_closes_cleanly(engine_dir: Path) -> None:
    comm = WebsocketCommunicator(
        application, "/ws/nothing-here/", headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")]
    )
    connected, _ = await comm.connect()
    assert not connected
    await comm.disconnect()


# --- static files ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_static_files_carry_the_security_headers() -> None:
    static = Path(__file__).resolve().parents[2] / "static"
    name = next(p for p in sorted(static.rglob("*.js")))
    url = "/static/" + name.relative_to(static).as_posix()
    comm = HttpCommunicator(application, "GET", url, headers=[(b"host", b"localhost")])
    await comm.send_input({"type": "http.request", "body": b""})
    response = await comm.receive_output(timeout=10)
    assert response["type"] == "http.response.start"
    assert response["status"] == 200, url
    headers = {k.decode().lower(): v.decode() for k, v in response["headers"]}
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "script-src 'self'" in headers["content-security-policy"]


# --- the database file ------------------------------------------------------------------


def test_sqlite_database_is_private(tmp_path: Path) -> None:
    from offsetsite.core.apps import make_private

    db = tmp_path / "offsetsite.sqlite3"
    db.write_bytes(b"")
    db.chmod(0o644)
    (tmp_path / "offsetsite.sqlite3-wal").write_bytes(b"")
    (tmp_path / "offsetsite.sqlite3-wal").chmod(0o644)
    make_private(db)
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "offsetsite.sqlite3-wal").stat().st_mode) == 0o600


def test_migrate_creates_a_private_database(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {**os.environ, "OFFSETSITE_VAR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "offsetsite.settings"}
    env.pop("OFFSETSITE_DB", None)
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=root, env=env, check=True, timeout=120)
    db = tmp_path / "offsetsite.sqlite3"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    db.chmod(0o644)
    subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=root, env=env, check=True, timeout=120, capture_output=True
    )
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


# --- 500s that are 4xx ------------------------------------------------------------------


@pytest.fixture
def api(operator: User, engine_dir: Path) -> Client:
    get_cluster().create_topic("orders", 1)
    get_cluster().produce("orders", b"x", partition=0)
    raw = ApiToken.issue(operator, "t")[1]
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def _post(client: Client, path: str, body: Any) -> Any:
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post("/api/" + path, data=data, content_type="application/json")


def test_api_commit_of_offset_2_63_is_400(api: Client) -> None:
    r = _post(api, "groups/g/offsets", {"offsets": [{"topic": "orders", "partition": 0, "offset": LONG}]})
    assert r.status_code == 400, r.content
    assert "9223372036854775807" in r.json()["error"]["message"]
    assert "g" not in [g.group_id for g in get_cluster().list_groups()]


def test_api_produce_with_timestamp_2_63_is_400(api: Client) -> None:
    r = _post(api, "topics/orders/records", {"value": "x", "timestamp": LONG})
    assert r.status_code == 400, r.content
    assert "9223372036854775807" in r.json()["error"]["message"]
    assert get_cluster().watermarks("orders", 0)[1] == 1


def test_engine_refuses_offsets_and_timestamps_beyond_a_long(engine_dir: Path) -> None:
    from logcore.errors import InvalidRecord, InvalidRequest

    cluster = get_cluster()
    cluster.create_topic("t", 1)
    with pytest.raises(InvalidRecord, match="9223372036854775807"):
        cluster.produce("t", b"x", partition=0, timestamp=LONG)
    with pytest.raises(InvalidRequest, match="9223372036854775807"):
        cluster.commit_offsets("g", {("t", 0): LONG})
    assert "g" not in [g.group_id for g in cluster.list_groups()]


def test_api_deeply_nested_json_is_400(api: Client) -> None:
    depth = 100_000
    r = _post(api, "topics/orders/records", "[" * depth + "]" * depth)
    assert r.status_code == 400, r.content[:300]
    assert "nested" in r.json()["error"]["message"]


def test_commit_form_offset_1e20_is_refused_and_changes_nothing(operator: User, engine_dir: Path) -> None:
    get_cluster().create_topic("orders", 1)
    client = Client()
    client.force_login(operator)
    for offset in ("100000000000000000000", "1e20", str(LONG)):
        r = client.post(
            "/groups/phantom/commit/",
            {"topic": "orders", "partition": "0", "offset": offset, "metadata": "", "allow_outside": "on"},
        )
        assert r.status_code in (400, 422), (offset, r.status_code)
        assert "9223372036854775807" in r.content.decode() or "whole number" in r.content.decode()
    assert "phantom" not in [g.group_id for g in get_cluster().list_groups()]
