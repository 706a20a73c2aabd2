"""The JSON API: tokens and roles, error mapping, records, resets with audit, hostile input."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from offsetsite import engine
from offsetsite.api.models import ApiToken, hash_token
from offsetsite.core.models import AuditEntry

from .conftest import make_user


class Api:
    """A test client that speaks JSON with a bearer token."""

    def __init__(self, token: str | None, client: Client | None = None) -> None:
        self.client = client or Client()
        self.token = token

    def call(self, method: str, path: str, body: Any = None, **extra: Any) -> tuple[int, Any]:
        headers = dict(extra)
        if self.token:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {self.token}"
        kwargs: dict[str, Any] = {}
        if body is not None:
            kwargs = {
                "data": json.dumps(body) if not isinstance(body, bytes) else body,
                "content_type": "application/json",
            }
        response = getattr(self.client, method.lower())("/api/" + path, **kwargs, **headers)
        assert response["Content-Type"].startswith("application/json"), response.content[:200]
        return response.status_code, json.loads(response.content) if response.content else None

    def get(self, path: str, **extra: Any) -> tuple[int, Any]:
        return self.call("GET", path, **extra)

    def post(self, path: str, body: Any = None, **extra: Any) -> tuple[int, Any]:
        return self.call("POST", path, body if body is not None else {}, **extra)

    def delete(self, path: str) -> tuple[int, Any]:
        return self.call("DELETE", path)


def token_for(user: User, name: str = "test") -> str:
    return ApiToken.issue(user, name)[1]


@pytest.fixture
def api_viewer(viewer: User, engine_dir: Path) -> Api:
    return Api(token_for(viewer))


@pytest.fixture
def api_operator(operator: User, engine_dir: Path) -> Api:
    return Api(token_for(operator))


def seed(topic: str = "orders", partitions: int = 2, records: int = 5) -> None:
    cluster = engine.get_cluster()
    cluster.create_topic(topic, partitions)
    for i in range(records):
        cluster.produce(topic, f"v{i}".encode(), f"k{i}".encode(), partition=0, timestamp=1_000 + i)


# --- tokens and roles ---------------------------------------------------------


def test_token_is_stored_hashed(viewer: User) -> None:
    token, raw = ApiToken.issue(viewer, "ci")
    assert raw.startswith("oss_")
    assert token.key_hash == hash_token(raw) and raw not in (token.key_hash, token.prefix)
    assert raw.startswith(token.prefix)
    assert ApiToken.lookup(raw) == token
    assert ApiToken.lookup(raw + "x") is None


def test_no_token_is_401(engine_dir: Path, db: Any) -> None:
    status, body = Api(None).get("topics")
    assert status == 401
    assert body["error"]["code"] == "UNAUTHORIZED"
    assert Api("oss_nonsense").get("topics")[0] == 401


def test_expired_token_and_inactive_user_are_refused(viewer: User, engine_dir: Path) -> None:
    from datetime import timedelta

    from django.utils import timezone

    _, raw = ApiToken.issue(viewer, "old", expires=timezone.now() - timedelta(seconds=1))
    assert Api(raw).get("topics")[0] == 401
    raw2 = token_for(viewer)
    assert Api(raw2).get("topics")[0] == 200
    viewer.is_active = False
    viewer.save()
    assert Api(raw2).get("topics")[0] == 401


def test_user_without_role_gets_403(engine_dir: Path, db: Any) -> None:
    nobody = make_user("nobody", None)
    status, body = Api(token_for(nobody)).get("topics")
    assert status == 403
    assert "viewer" in body["error"]["message"]


def test_viewer_reads_but_cannot_write(api_viewer: Api) -> None:
    seed()
    status, body = api_viewer.get("topics")
    assert status == 200
    assert "orders" in [t["name"] for t in body["topics"]]
    status, body = api_viewer.post("topics", {"name": "new", "partitions": 1})
    assert status == 403
    assert body["error"]["code"] == "FORBIDDEN"
    assert "operator" in body["error"]["message"]
    assert "new" not in engine.get_cluster().list_topics()
    assert api_viewer.post("topics/orders/records", {"value": "x"})[0] == 403
    assert api_viewer.delete("topics/orders")[0] == 403
    assert "orders" in engine.get_cluster().list_topics()
    assert AuditEntry.objects.count() == 0


def test_operator_writes_and_every_change_is_audited(api_operator: Api) -> None:
    status, body = api_operator.post("topics", {"name": "payments", "partitions": 3, "config": {"retention.ms": 60000}})
    assert status == 201, body
    assert len(body["partitions"]) == 3 and body["config"]["retention.ms"] == "60000"
    status, body = api_operator.post("topics/payments/partitions", {"total": 5})
    assert status == 200 and len(body["partitions"]) == 5
    status, _ = api_operator.delete("topics/payments")
    assert status == 200
    assert "payments" not in engine.get_cluster().list_topics()
    actions = list(AuditEntry.objects.order_by("id").values_list("action", "source", "username", "topic"))
    assert actions == [
        ("topic.create", "api", "otto", "payments"),
        ("topic.partitions", "api", "otto", "payments"),
        ("topic.delete", "api", "otto", "payments"),
    ]


def test_session_cookie_alone_is_refused(operator_client: Client, engine_dir: Path) -> None:
    """A logged-in browser session cannot use the API: no CSRF-less writes ride on cookies."""
    seed()
    response = operator_client.post("/api/topics", data=json.dumps({"name": "sneaky"}), content_type="application/json")
    assert response.status_code == 401
    response = operator_client.get("/api/topics")
    assert response.status_code == 401
    assert "sneaky" not in engine.get_cluster().list_topics()


def test_token_request_needs_no_csrf(operator: User, engine_dir: Path) -> None:
    client = Client(enforce_csrf_checks=True)
    status, _ = Api(token_for(operator), client).post("topics", {"name": "fine"})
    assert status == 201


def test_createtoken_command(operator: User, capsys: pytest.CaptureFixture[str], engine_dir: Path) -> None:
    call_command("createtoken", "otto", "--name", "ci")
    raw = capsys.readouterr().out.strip()
    assert ApiToken.objects.get(name="ci").prefix == raw[:12]
    assert Api(raw).get("groups")[0] == 200
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no user named"):
        call_command("createtoken", "ghost")


def test_last_used_is_recorded(api_viewer: Api) -> None:
    assert ApiToken.objects.get().last_used is None
    api_viewer.get("groups")
    assert ApiToken.objects.get().last_used is not None


# --- errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("GET", "topics/nope", None, 404, "UNKNOWN_TOPIC_OR_PARTITION"),
        ("GET", "topics/orders/partitions/9/records", None, 404, "UNKNOWN_TOPIC_OR_PARTITION"),
        ("GET", "groups/ghost", None, 404, "GROUP_ID_NOT_FOUND"),
        ("POST", "topics", {"name": "orders"}, 409, "TOPIC_ALREADY_EXISTS"),
        ("POST", "topics", {"name": "bad name!"}, 400, "INVALID_TOPIC_EXCEPTION"),
        ("POST", "topics", {"name": "x", "partitions": 0}, 400, "BAD_REQUEST"),
        ("POST", "topics", {"name": "x", "partitions": "many"}, 400, "BAD_REQUEST"),
        ("POST", "topics/orders/partitions", {"total": 1}, 400, "INVALID_PARTITIONS"),
        ("GET", "topics/orders/partitions/0/records?offset=99", None, 400, "OFFSET_OUT_OF_RANGE"),
        ("GET", "topics/orders/partitions/0/records?limit=100000", None, 400, "BAD_REQUEST"),
        ("POST", "topics/orders/records", {"value": {"base64": "!!!"}}, 400, "INVALID_REQUEST"),
        ("POST", "topics/orders/records", {"value": "x", "partition": 7}, 404, "UNKNOWN_TOPIC_OR_PARTITION"),
        (
            "POST",
            "groups/g/offsets",
            {"offsets": [{"topic": "orders", "partition": 0, "offset": -1}]},
            400,
            "BAD_REQUEST",
        ),
        (
            "POST",
            "groups/g/offsets",
            {"offsets": [{"topic": "nope", "partition": 0, "offset": 1}]},
            404,
            "UNKNOWN_TOPIC_OR_PARTITION",
        ),
        (
            "POST",
            "groups/g/offsets",
            {"offsets": [{"topic": "orders", "partition": 0, "offset": 1, "metadata": "m" * 5000}]},
            400,
            "OFFSET_METADATA_TOO_LARGE",
        ),
        ("POST", "groups/g/reset", {"scenario": "to-nowhere", "scope": {"all_topics": True}}, 400, "INVALID_REQUEST"),
        ("POST", "groups/g/reset", {"scenario": "to-earliest"}, 400, "BAD_REQUEST"),
        ("POST", "groups/g/reset/undo", None, 400, "INVALID_REQUEST"),
        ("DELETE", "groups", None, 405, "METHOD_NOT_ALLOWED"),
        ("GET", "no/such/endpoint", None, 404, "NOT_FOUND"),
        ("GET", "topics/orders/partitions/-1/records", None, 404, "NOT_FOUND"),
    ],
)
def test_error_mapping(api_operator: Api, method: str, path: str, body: Any, status: int, code: str) -> None:
    seed()
    before = {t: engine.get_cluster().describe_topic(t) for t in ("orders",)}
    got_status, got = api_operator.call(method, path, body)
    assert (got_status, got["error"]["code"]) == (status, code), got
    assert got["error"]["message"]
    assert engine.get_cluster().describe_topic("orders") == before["orders"]  # a refusal changes nothing
    assert AuditEntry.objects.count() == 0


def test_not_json_and_too_large(api_operator: Api, settings: Any) -> None:
    seed()
    status, body = api_operator.call("POST", "topics", b"{not json")
    assert (status, body["error"]["code"]) == (400, "BAD_REQUEST")
    settings.OFFSETSITE = {**settings.OFFSETSITE, "API_MAX_BODY": 1000}
    status, body = api_operator.post("topics/orders/records", {"value": "x" * 2000})
    assert (status, body["error"]["code"]) == (413, "PAYLOAD_TOO_LARGE")
    assert engine.get_cluster().watermarks("orders", 0) == (0, 5)


def test_active_group_conflicts(api_operator: Api) -> None:
    from logcore import Consumer

    seed()
    with engine.locked():
        consumer = Consumer(engine.embedded(), "busy")
        consumer.subscribe(["orders"])
        consumer.poll(0)  # joins: the group is no longer Empty (rebalancing, then Stable)
        assert engine.get_cluster().describe_group("busy").state != "Empty"
    try:
        status, body = api_operator.delete("groups/busy")
        assert (status, body["error"]["code"]) == (409, "NON_EMPTY_GROUP")
        status, body = api_operator.post(
            "groups/busy/reset", {"scenario": "to-earliest", "scope": "all", "execute": True}
        )
        assert status == 409
        assert body["error"]["exception"] == "ResetRefused"
        assert "inactive" in body["error"]["message"]
        status, body = api_operator.post(
            "groups/busy/offsets", {"offsets": [{"topic": "orders", "partition": 0, "offset": 1}]}
        )
        assert (status, body["error"]["code"]) == (409, "UNKNOWN_MEMBER_ID")
    finally:
        with engine.locked():
            consumer.close()
    assert AuditEntry.objects.count() == 0


# --- records -----------------------------------------------------------------


def test_produce_and_read_binary_round_trip(api_operator: Api) -> None:
    engine.get_cluster().create_topic("bin", 2)
    blob = bytes(range(256))
    status, body = api_operator.post(
        "topics/bin/records",
        {
            "records": [
                {
                    "key": {"base64": base64.b64encode(b"\xff\x00k").decode()},
                    "value": {"base64": base64.b64encode(blob).decode()},
                    "headers": [
                        {"key": "h", "value": {"base64": base64.b64encode(b"\x80").decode()}},
                        {"key": "n", "value": None},
                    ],
                    "partition": 1,
                    "timestamp": 1234,
                },
                {"key": "text-key", "value": "héllo", "partition": 1},
                {"value": None, "key": "gone", "partition": 1},
            ]
        },
    )
    assert status == 201, body
    assert body["results"] == [
        {"partition": 1, "offset": 0},
        {"partition": 1, "offset": 1},
        {"partition": 1, "offset": 2},
    ]
    # What the engine holds is exactly what was sent.
    stored = engine.get_cluster().read("bin", 1, 0, 10)
    assert stored[0].value == blob and stored[0].key == b"\xff\x00k" and stored[0].timestamp == 1234
    assert stored[0].headers == (("h", b"\x80"), ("n", None))
    assert stored[1].value == "héllo".encode() and stored[2].value is None
    status, body = api_operator.get("topics/bin/partitions/1/records?offset=0&limit=2")
    assert status == 200
    first, second = body["records"]
    assert base64.b64decode(first["value"]["base64"]) == blob
    assert first["value"]["text"] is None  # not UTF-8
    assert first["headers"][0] == {"key": "h", "value": {"base64": "gA==", "text": None}}
    assert second["value"] == {"base64": base64.b64encode("héllo".encode()).decode(), "text": "héllo"}
    assert body["next_offset"] == 2 and body["high_watermark"] == 3
    status, body = api_operator.get("topics/bin/partitions/1/records?offset=2")
    assert body["records"][0]["value"] is None
    assert AuditEntry.objects.get().action == "records.produce"


def test_produce_checks_every_record_before_writing(api_operator: Api) -> None:
    seed()
    status, body = api_operator.post("topics/orders/records", {"records": [{"value": "ok"}, {"value": 5}]})
    assert status == 400
    assert "records[1].value" in body["error"]["message"]
    assert engine.get_cluster().watermarks("orders", 0) == (0, 5)
    assert engine.get_cluster().watermarks("orders", 1) == (0, 0)


def test_offsets_endpoint(api_viewer: Api) -> None:
    seed()
    status, body = api_viewer.get("topics/orders/partitions/0/offsets?timestamp=1002&at_offset=4")
    assert status == 200
    assert body["log_start_offset"] == 0 and body["high_watermark"] == 5
    assert body["offset"] == 2 and body["timestamp_at"] == 1004
    assert api_viewer.get("topics/orders/partitions/0/offsets?timestamp=99999")[1]["offset"] is None
    assert api_viewer.get("topics/orders/partitions/0/offsets?timestamp=soon")[0] == 400


# --- groups ------------------------------------------------------------------


def test_commit_describe_delete_offsets(api_operator: Api) -> None:
    seed()
    status, _ = api_operator.post(
        "groups/billing/offsets",
        {
            "offsets": [
                {"topic": "orders", "partition": 0, "offset": 3, "metadata": "batch 7"},
                {"topic": "orders", "partition": 1, "offset": 0},
            ]
        },
    )
    assert status == 200
    status, body = api_operator.get("groups/billing/offsets")
    assert [(o["partition"], o["offset"], o["metadata"]) for o in body["offsets"]] == [(0, 3, "batch 7"), (1, 0, "")]
    status, body = api_operator.get("groups/billing")
    assert body["state"] == "Empty" and body["total_lag"] == 2
    assert [(o["partition"], o["committed"], o["high_watermark"], o["lag"]) for o in body["offsets"]] == [
        (0, 3, 5, 2),
        (1, 0, 0, 0),
    ]
    assert api_operator.get("groups")[1]["groups"][0]["group_id"] == "billing"
    status, body = api_operator.post(
        "groups/billing/offsets/delete", {"partitions": [{"topic": "orders", "partition": 1}]}
    )
    assert body["deleted"] == [{"topic": "orders", "partition": 1}]
    entries = list(AuditEntry.objects.order_by("id"))
    assert [e.action for e in entries] == ["offsets.commit", "offsets.delete"]
    assert entries[0].offsets[0] == {"topic": "orders", "partition": 0, "before": None, "after": 3}
    assert entries[1].offsets == [{"topic": "orders", "partition": 1, "before": 0, "after": None}]
    status, _ = api_operator.delete("groups/billing")
    assert status == 200
    assert api_operator.get("groups/billing")[0] == 404
    assert AuditEntry.objects.order_by("-id").first().action == "group.delete"  # type: ignore[union-attr]


def test_reset_plan_execute_undo_with_audit(api_operator: Api, viewer: User) -> None:
    seed()
    engine.get_cluster().commit_offsets("g1", {("orders", 0): 4})
    body = {"scenario": {"kind": "shift-by", "value": -3}, "scope": {"topics": ["orders:0"]}}
    # A viewer may plan (a dry run) but not execute.
    viewer_api = Api(token_for(viewer))
    status, plan = viewer_api.post("groups/g1/reset", body)
    assert status == 200 and plan["executed"] is False
    row = plan["plan"]["rows"][0]
    assert (row["before"], row["after"], row["reread"], row["before_timestamp"], row["after_timestamp"]) == (
        4,
        1,
        3,
        1004,
        1001,
    )
    assert "g1,orders,0,1" not in plan["plan"]["export_csv"] and "orders,0,1" in plan["plan"]["export_csv"]
    assert viewer_api.post("groups/g1/reset", {**body, "execute": True})[0] == 403
    assert engine.get_cluster().committed_offsets("g1")[("orders", 0)].offset == 4
    # Clamping warnings come back with the plan.
    status, plan = api_operator.post("groups/g1/reset", {"scenario": "to-offset", "value": 99, "scope": "all"})
    assert plan["plan"]["rows"][0]["after"] == 5 and plan["plan"]["warnings"]
    # The operator executes.
    status, done = api_operator.post("groups/g1/reset", {**body, "execute": True})
    assert status == 200 and done["executed"] is True
    assert engine.get_cluster().committed_offsets("g1")[("orders", 0)].offset == 1
    status, undone = api_operator.post("groups/g1/reset/undo")
    assert status == 200, undone
    assert undone["restored"]["offsets"] == [{"topic": "orders", "partition": 0, "offset": 4}]
    assert engine.get_cluster().committed_offsets("g1")[("orders", 0)].offset == 4
    entries = list(AuditEntry.objects.order_by("id"))
    assert [(e.action, e.source) for e in entries] == [("offsets.reset", "api"), ("offsets.undo", "api")]
    assert entries[0].offsets == [{"topic": "orders", "partition": 0, "before": 4, "after": 1}]
    assert entries[1].offsets == [{"topic": "orders", "partition": 0, "before": 1, "after": 4}]
    assert api_operator.post("groups/g1/reset/undo")[0] == 400  # nothing left to undo
    status, audit = viewer_api.get("audit?group=g1")
    assert [e["action"] for e in audit["entries"]] == ["offsets.undo", "offsets.reset"]


def test_reset_by_datetime_and_from_file(api_operator: Api) -> None:
    seed()
    engine.get_cluster().commit_offsets("g2", {("orders", 0): 5})
    status, plan = api_operator.post(
        "groups/g2/reset",
        {"scenario": "to-datetime", "value": "1970-01-01T00:00:01.004", "scope": {"topics": ["orders"]}},
    )
    assert status == 200, plan
    assert [(r["partition"], r["after"]) for r in plan["plan"]["rows"]] == [(0, 4), (1, 0)]
    status, plan = api_operator.post(
        "groups/g2/reset", {"scenario": "from-file", "value": "orders,0,2\n", "execute": True}
    )
    assert status == 200, plan
    assert engine.get_cluster().committed_offsets("g2")[("orders", 0)].offset == 2


# --- hostile names ------------------------------------------------------------


def test_hostile_group_ids_and_payloads(api_operator: Api) -> None:
    seed()
    evil = "<script>alert(1)</script>/../x?y#z"
    status, _ = api_operator.post(
        "group/offsets?" + _q(evil), {"offsets": [{"topic": "orders", "partition": 0, "offset": 1}]}
    )
    assert status == 200
    status, body = api_operator.get("group?" + _q(evil))
    assert status == 200 and body["group_id"] == evil
    assert evil in [g["group_id"] for g in api_operator.get("groups")[1]["groups"]]
    status, body = api_operator.get("groups/" + "%3Cimg%20src=x%3E")
    assert status == 404 and body["error"]["code"] == "GROUP_ID_NOT_FOUND"
    status, body = api_operator.post("topics/%3Cscript%3E/records", {"value": "<script>"})
    assert status in (400, 404)
    # JSON with the right content type: a browser never renders it as HTML.
    response = Client().get("/api/topics/<script>", HTTP_AUTHORIZATION=f"Bearer {api_operator.token}")
    assert response["Content-Type"] == "application/json"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert api_operator.get("group?id=")[0] == 400
    assert api_operator.get("group")[0] == 400


def _q(group: str) -> str:
    from urllib.parse import urlencode

    return urlencode({"id": group})


def test_every_engine_error_survives_the_wire() -> None:
    """What offsetsite.cli.remote rebuilds from an error body is what the engine raised."""
    from logcore import errors
    from logcore.admin import ResetRefused
    from offsetsite.api.errors import error_body, exception_from, status_for

    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.KafkaError)]
    for cls in [*classes, ResetRefused]:
        if cls is errors.OffsetOutOfRange:
            exc: errors.KafkaError = cls("out", offset=9, log_start=1, log_end=5)
        elif cls is errors.DataDirLocked:
            exc = cls("locked", pid=42)
        else:
            exc = cls(f"message of {cls.__name__}")
        rebuilt = exception_from(json.loads(json.dumps(error_body(exc))))
        assert type(rebuilt) is cls and str(rebuilt) == str(exc) and rebuilt.code == exc.code
        assert 400 <= status_for(exc) < 600
    assert vars(exception_from(error_body(errors.OffsetOutOfRange("o", offset=9, log_start=1, log_end=5)))) == {
        "offset": 9,
        "log_start": 1,
        "log_end": 5,
    }
    # An unknown exception name from a server never picks an arbitrary class.
    odd = exception_from({"code": "FORBIDDEN", "message": "no", "exception": "SystemExit"})
    assert type(odd) is errors.KafkaError and odd.code == "FORBIDDEN"


def test_unexpected_failure_is_json_500(api_viewer: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(engine, "get_cluster", broken)
    status, body = api_viewer.get("topics")
    assert (status, body["error"]["code"]) == (500, "UNKNOWN_SERVER_ERROR")
    assert "boom" not in body["error"]["message"]  # no internals leak to clients


def test_advertise_server_reuses_its_token(engine_dir: Path, db: Any) -> None:
    from logcore.log_manager import read_lock_info
    from offsetsite.cli.remote import TOKEN_FILE, RemoteCluster, advertise_server, connect_from_lock
    from offsetsite.core.roles import role_of

    advertise_server("http://127.0.0.1:8123")
    token_file = engine_dir / TOKEN_FILE
    first = token_file.read_text()
    assert token_file.stat().st_mode & 0o777 == 0o600
    advertise_server("http://127.0.0.1:8124")
    assert token_file.read_text() == first  # still valid: reused, not multiplied
    assert ApiToken.objects.count() == 1
    token = ApiToken.lookup(first.strip())
    assert token is not None and role_of(token.user) == "operator"
    info = read_lock_info(engine_dir)
    assert info["url"] == "http://127.0.0.1:8124" and info["token_file"] == str(token_file)
    remote = connect_from_lock(engine_dir)  # this very process holds the lock
    assert isinstance(remote, RemoteCluster) and remote.url == "http://127.0.0.1:8124"
    # A revoked token is replaced on the next start.
    ApiToken.objects.all().delete()
    advertise_server("http://127.0.0.1:8124")
    assert token_file.read_text() != first and ApiToken.objects.count() == 1


def test_deleted_topic_lag_is_unknown_in_api_cli_page_and_metrics(api_viewer: Api) -> None:
    """Offsets left on a deleted topic have no lag (the HW is unknown, -1): JSON null in the
    API, "-" in the CLI (as kafka-consumer-groups.sh prints), an en dash on the group page and no
    /metrics sample. The API and the page used to report a lag of 0, where the CLI printed "-"."""
    import argparse
    import io
    import re

    from offsetsite.cli import groups as cli_groups

    seed("gone", partitions=1, records=3)
    cluster = engine.get_cluster()
    cluster.commit_offsets("g", {("gone", 0): 1})
    cluster.delete_topic("gone")

    status, body = api_viewer.get("groups/g")
    assert status == 200
    assert [(o["committed"], o["high_watermark"], o["lag"]) for o in body["offsets"]] == [(1, -1, None)]
    assert body["total_lag"] == 0

    out = io.StringIO()
    args = argparse.Namespace(all_groups=False, group=["g"], state=False, members=False, verbose=False)
    assert cli_groups.describe(cluster, args, out) == 0
    row = next(line for line in out.getvalue().splitlines() if line.startswith("g "))
    assert row.split()[:6] == ["g", "gone", "0", "1", "-", "-"]

    html = Client().get("/groups/g/").content.decode()
    body_html = html.split('<tbody id="group-partitions"', 1)[1].split("</tbody>", 1)[0]
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", body_html, re.S)]
    # topic, partition, committed, log start, HW, lag: the lag is an en dash, never 0
    assert cells[5] == "\u2013", cells

    metrics = Client().get("/metrics").content.decode()
    assert 'group="g"' in metrics  # the group is there (its state) ...
    assert not re.search(r'^kafka_consumergroup_group_lag(_seconds)?\{[^}]*group="g"', metrics, re.M)
