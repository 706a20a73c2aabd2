"""offsetsite.core.audit: the vocabulary, the cluster, secrets scrubbed, resets read back."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from logcore.groups import OffsetAndMetadata, TopicPartition
from offsetsite import engine
from offsetsite.api.models import ApiToken
from offsetsite.core import audit
from offsetsite.core.audit import REDACTED, Action, Actor, Source
from offsetsite.core.models import AuditEntry

from .actions_helpers import offsets, seed_log

# --- secrets ----------------------------------------------------------------------------


def test_details_are_scrubbed_of_secrets_before_writing(operator: User) -> None:
    raw_token = "oss_" + "A1b2C3d4" * 5
    entry = audit.log(
        Actor(operator, Source.WEB),
        Action.TOPIC_CREATE,
        cluster="local",
        topic="t",
        summary=f"connected with password=hunter2 and Authorization: Bearer abc.def-ghi, token {raw_token}",
        details={
            "config": {"retention.ms": "1000", "cleanup.policy": "compact"},
            "password": "hunter2",
            "Client_Secret": "s3",
            "sasl.jaas.config": 'org.apache.kafka.common.security.plain.PlainLoginModule required password="p";',
            "ssl.key.password": "k",
            "ssl.keystore.key": "-----BEGIN PRIVATE KEY-----",
            "credentials": {"user": "u", "pass": "p"},
            "api_token": raw_token,
            "nested": [{"sasl_password": "x"}, {"note": f"key={raw_token}"}, "db_password: swordfish"],
            "prefix": raw_token[:12],  # a token's listed prefix is not secret
            "count": 3,
        },
    )
    entry.refresh_from_db()
    d = entry.details
    assert d["config"] == {"retention.ms": "1000", "cleanup.policy": "compact"}
    for key in ("password", "Client_Secret", "sasl.jaas.config", "ssl.key.password", "ssl.keystore.key"):
        assert d[key] == REDACTED, key
    assert d["credentials"] == REDACTED and d["api_token"] == REDACTED
    assert d["nested"] == [{"sasl_password": REDACTED}, {"note": f"key={REDACTED}"}, f"db_password: {REDACTED}"]
    assert d["prefix"] == raw_token[:12] and d["count"] == 3
    stored = json.dumps(d) + entry.summary
    for secret in ("hunter2", 's3"', "swordfish", raw_token, "abc.def-ghi", 'password="p"', "PRIVATE KEY"):
        assert secret not in stored, secret
    assert entry.summary.startswith("connected with password=[redacted]")


def test_scrub_keeps_ordinary_values() -> None:
    plain = {"scenario": "to-offset", "value": 4, "warnings": ["orders-0: clamped"], "partitions": 3, "topic": "t"}
    assert audit.scrub(plain) == plain
    assert audit.scrub_text("committed orders-0 = 7 for group billing") == "committed orders-0 = 7 for group billing"


def test_only_the_vocabulary_is_accepted(operator: User) -> None:
    with pytest.raises(ValueError):
        audit.log(Actor(operator, Source.WEB), "reset_offsets", cluster="local")  # type: ignore[arg-type]
    assert not AuditEntry.objects.exists()
    assert audit.action_named("group.reset") == audit.action_named("reset_offsets") == "offsets.reset"
    assert audit.action_named("offsets.commit") == "offsets.commit"


def test_every_entry_carries_its_cluster_and_long_values_fit(operator: User) -> None:
    entry = audit.log(Actor(operator, Source.API), Action.GROUP_DELETE, cluster="c" * 300, group_id="g")
    entry.refresh_from_db()
    assert len(entry.cluster) == 100 and entry.details["cluster"] == "c" * 300
    assert audit.log(Actor(None, Source.CLI), Action.GROUP_DELETE, cluster="local").cluster == "local"


# --- resets read back -------------------------------------------------------------------


@pytest.fixture
def log(engine_dir: Path) -> None:
    seed_log()


@pytest.fixture
def lying(log: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The coordinator keeps orders-1 one past what it is asked: a reset does not hold."""
    target = engine.embedded()
    real = target.commit_offsets

    def commit(group_id: str, entries: Mapping[TopicPartition, int | OffsetAndMetadata]) -> None:
        real(group_id, {tp: (v + 1 if tp == ("orders", 1) and isinstance(v, int) else v) for tp, v in entries.items()})

    monkeypatch.setattr(target, "commit_offsets", commit)


def api_client(user: User) -> tuple[Client, dict[str, str]]:
    return Client(), {"HTTP_AUTHORIZATION": f"Bearer {ApiToken.issue(user, 't')[1]}"}


def test_api_reset_records_offsets_read_back_and_warns_on_mismatch(operator: User, lying: None) -> None:
    api, auth = api_client(operator)
    body = {"scenario": "to-offset", "value": 3, "scope": "all", "execute": True}
    r = api.post("/api/groups/billing/reset", json.dumps(body), content_type="application/json", **auth)
    assert r.status_code == 200, r.content
    answer = r.json()
    assert answer["verified"]["mismatch"] == [{"topic": "orders", "partition": 1, "expected": 3, "actual": 4}]
    assert "orders-1: expected 3, holds 4" in answer["warning"]
    entry = AuditEntry.objects.get(action="offsets.reset")
    assert entry.offsets == [
        {"topic": "orders", "partition": 0, "before": 10, "after": 3},
        {"topic": "orders", "partition": 1, "before": 5, "after": 4},  # what the cluster holds, not the plan's 3
    ]
    assert entry.details["mismatch"] == answer["verified"]["mismatch"] and entry.details["verified"] is True
    assert "MISMATCH" in entry.summary and entry.cluster == "local" and entry.source == "api"
    r = api.post("/api/groups/billing/reset/undo", "{}", content_type="application/json", **auth)
    assert r.status_code == 200 and "orders-1: expected 5, holds 6" in r.json()["warning"]
    undo = AuditEntry.objects.get(action="offsets.undo")
    assert undo.details["mismatch"] == [{"topic": "orders", "partition": 1, "expected": 5, "actual": 6}]


def test_api_reset_without_mismatch_says_nothing_more(operator: User, log: None) -> None:
    api, auth = api_client(operator)
    body = {"scenario": "to-offset", "value": 3, "scope": "all", "execute": True}
    answer = api.post("/api/groups/billing/reset", json.dumps(body), content_type="application/json", **auth).json()
    assert answer["verified"]["mismatch"] == [] and "warning" not in answer
    assert "mismatch" not in AuditEntry.objects.get().details


def test_api_applies_a_client_plan_exactly_and_names_its_scenario(operator: User, log: None) -> None:
    """What the command line sends: its own plan's targets, and the scenario they came from."""
    api, auth = api_client(operator)
    body = {
        "scenario": {"kind": "to-earliest", "value": None},
        "offsets": [{"topic": "orders", "partition": 0, "offset": 0}, {"topic": "orders", "partition": 1, "offset": 2}],
        "execute": True,
    }
    r = api.post("/api/groups/billing/reset", json.dumps(body), content_type="application/json", **auth)
    assert r.status_code == 200, r.content
    assert offsets() == {("orders", 0): 0, ("orders", 1): 2}
    assert r.json()["plan"]["scenario"] == {"kind": "to-earliest", "value": None}
    entry = AuditEntry.objects.get()
    assert entry.action == "offsets.reset" and entry.details["scenario"] == "to-earliest"
    bad = {**body, "offsets": []}
    r = api.post("/api/groups/billing/reset", json.dumps(bad), content_type="application/json", **auth)
    assert r.status_code == 400


def test_web_reset_shows_the_mismatch_and_logs_it(operator_client: Client, lying: None) -> None:
    data = {"scope": "all", "scenario": "to-offset", "to_offset": "3", "action": "preview"}
    p = operator_client.post("/groups/billing/reset/", data)
    r = operator_client.post(
        "/groups/billing/reset/",
        {
            **data,
            "action": "execute",
            "fingerprint": p.context["plan_fingerprint"],
            "targets": p.context["targets_fingerprint"],
            "confirm": str(p.context["moving"]),
        },
    )
    assert r.status_code == 200, r.content.decode()
    html = r.content.decode()
    assert 'id="reset-mismatch"' in html and "orders-1: expected 3, holds 4" in html
    entry = AuditEntry.objects.get(action="offsets.reset")
    assert entry.source == "web" and entry.details["mismatch"][0]["actual"] == 4
    assert {"topic": "orders", "partition": 1, "before": 5, "after": 4} in entry.offsets


# --- the audit API ------------------------------------------------------------------------


def test_audit_api_shows_and_filters_the_cluster(viewer: User, operator: User) -> None:
    audit.log(Actor(operator, Source.WEB), Action.OFFSETS_RESET, cluster="local", group_id="g")
    audit.log(Actor(operator, Source.API), Action.OFFSETS_RESET, cluster="prod", group_id="g")
    AuditEntry.objects.create(action="offsets.commit", group_id="g")  # an entry from before the field: "local"
    api, auth = api_client(viewer)
    entries = api.get("/api/audit", **auth).json()["entries"]
    assert [(e["action"], e["cluster"]) for e in entries] == [
        ("offsets.commit", "local"),
        ("offsets.reset", "prod"),
        ("offsets.reset", "local"),
    ]
    assert [e["cluster"] for e in api.get("/api/audit?cluster=prod", **auth).json()["entries"]] == ["prod"]
    # the API's old name for a reset still finds resets
    assert len(api.get("/api/audit?action=group.reset", **auth).json()["entries"]) == 2


def test_cli_source_only_for_the_cli_user(operator: User) -> None:
    from offsetsite.api.auth import actor

    class Req:
        def __init__(self, user: Any, source: str) -> None:
            self.user = user
            self.headers = {"X-Offsetsite-Source": source}

    assert actor(Req(operator, "cli")).source == Source.API  # type: ignore[arg-type]
    cli_user = User.objects.create_user("offsetsite-cli")
    assert actor(Req(cli_user, "cli")).source == Source.CLI  # type: ignore[arg-type]
    assert actor(Req(cli_user, "")).source == Source.API  # type: ignore[arg-type]
