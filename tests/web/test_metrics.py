"""/metrics: Prometheus text parsed back and checked against the engine."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from offsetsite import engine


def scrape(client: Client | None = None, **headers: Any) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    response = (client or Client()).get("/metrics", **headers)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain")
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def labels(**kw: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({"cluster_name": "offsetsite", **kw}.items()))


def part(group: str, topic: str, partition: int) -> tuple[tuple[str, str], ...]:
    return labels(group=group, topic=topic, partition=str(partition), member_host="", consumer_id="", client_id="")


@pytest.fixture
def loaded(engine_dir: Path, db: Any) -> int:
    cluster = engine.get_cluster()
    cluster.create_topic("orders", 2)
    now_ms = int(time.time() * 1000)
    for i in range(10):
        # Record i was produced (100 - i) seconds ago.
        cluster.produce("orders", b"v", partition=0, timestamp=now_ms - (100 - i) * 1000)
    cluster.produce("orders", b"v", partition=1, timestamp=now_ms)
    cluster.commit_offsets("billing", {("orders", 0): 4, ("orders", 1): 1})
    cluster.commit_offsets("audit", {("orders", 0): 10})
    return now_ms


def test_values_match_the_engine(loaded: int) -> None:
    m = scrape()
    cluster = engine.get_cluster()
    assert m["kafka_consumergroup_group_offset"][part("billing", "orders", 0)] == 4
    assert m["kafka_consumergroup_group_latest_offset"][part("billing", "orders", 0)] == 10
    assert m["kafka_consumergroup_group_lag"][part("billing", "orders", 0)] == 6
    assert m["kafka_consumergroup_group_lag"][part("billing", "orders", 1)] == 0
    # The record at offset 4 is 96 s old (give the scrape a few seconds of slack).
    assert 96 <= m["kafka_consumergroup_group_lag_seconds"][part("billing", "orders", 0)] < 106
    assert m["kafka_consumergroup_group_lag_seconds"][part("billing", "orders", 1)] == 0  # caught up
    assert m["kafka_consumergroup_group_lag_seconds"][part("audit", "orders", 0)] == 0
    assert m["kafka_consumergroup_group_sum_lag"][labels(group="billing")] == 6
    assert m["kafka_consumergroup_group_topic_sum_lag"][labels(group="billing", topic="orders")] == 6
    assert m["kafka_consumergroup_group_max_lag"][labels(group="billing", is_simple_consumer="true")] == 6
    assert m["kafka_consumergroup_group_max_lag_seconds"][labels(group="billing", is_simple_consumer="true")] >= 96
    states = {
        dict(k)["state"]: v for k, v in m["kafka_consumergroup_group_state"].items() if dict(k)["group"] == "billing"
    }
    assert states == {"Empty": 1, "PreparingRebalance": 0, "CompletingRebalance": 0, "Stable": 0, "Dead": 0}
    assert m["kafka_consumergroup_group_members"][labels(group="billing")] == 0
    for t in cluster.describe_topics():
        for p in t.partitions:
            key = labels(topic=t.name, partition=str(p.partition))
            assert m["kafka_partition_latest_offset"][key] == p.high_watermark
            assert m["kafka_partition_earliest_offset"][key] == p.log_start_offset
    # Every committed offset of every group appears, and nothing more.
    expected = {
        (g.group_id, o.topic, o.partition)
        for g in cluster.describe_groups(x.group_id for x in cluster.list_groups())
        for o in g.offsets
        if o.committed is not None
    }
    got = {
        (dict(k)["group"], dict(k)["topic"], int(dict(k)["partition"])) for k in m["kafka_consumergroup_group_offset"]
    }
    assert got == expected


def test_metrics_follow_changes_and_leak_nothing(loaded: int) -> None:
    before = set(REGISTRY._names_to_collectors)
    scrape()
    engine.get_cluster().commit_offsets("billing", {("orders", 0): 9})
    engine.get_cluster().delete_group("audit")
    m = scrape()
    assert m["kafka_consumergroup_group_lag"][part("billing", "orders", 0)] == 1
    assert not any(dict(k)["group"] == "audit" for k in m["kafka_consumergroup_group_offset"])
    assert set(REGISTRY._names_to_collectors) == before  # nothing registered globally


def test_active_group_state_and_members(loaded: int) -> None:
    from logcore import Consumer

    with engine.locked():
        consumer = Consumer(engine.embedded(), "live", client_id="worker-1")
        consumer.subscribe(["orders"])
        consumer.poll(0)
    try:
        m = scrape()
        current = [
            dict(k)["state"]
            for k, v in m["kafka_consumergroup_group_state"].items()
            if dict(k)["group"] == "live" and v == 1
        ]
        assert current == [engine.get_cluster().describe_group("live").state]
        assert current != ["Empty"]
        assert m["kafka_consumergroup_group_members"][labels(group="live")] == 1
    finally:
        with engine.locked():
            consumer.close()


def test_hostile_group_names_are_escaped(engine_dir: Path, db: Any) -> None:
    cluster = engine.get_cluster()
    cluster.create_topic("t", 1)
    evil = 'a"b\\c\nd</script>'
    cluster.commit_offsets(evil, {("t", 0): 0})
    m = scrape()
    assert m["kafka_consumergroup_group_offset"][part(evil, "t", 0)] == 0


def test_access_rules(loaded: int, settings: Any) -> None:
    # Loopback is open by default (the test client comes from 127.0.0.1) ...
    assert Client().get("/metrics").status_code == 200
    assert Client().get("/metrics", REMOTE_ADDR="::1").status_code == 200
    # ... other addresses are not.
    response = Client().get("/metrics", REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 403
    settings.OFFSETSITE = {**settings.OFFSETSITE, "METRICS_TOKEN": "s3cret"}
    assert Client().get("/metrics").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert scrape(Client(), REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer s3cret")
    assert Client().post("/metrics").status_code in (403, 405)
