"""The dashboard, the API and /metrics on a real Kafka-protocol broker (tansu).

The server shows the embedded engine and a Kafka cluster named "k" side by side; every
request under /clusters/k/ must reach the broker, never the embedded engine.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from logcore.kafka_cluster import KafkaCluster
from logcore.kafka_config import KafkaClusterConfig
from offsetsite import clusters
from offsetsite.api.models import ApiToken
from offsetsite.core.models import AuditEntry
from offsetsite.engine import get_cluster

pytestmark = [pytest.mark.kafka, pytest.mark.integration, pytest.mark.django_db]

SECRET = "hunter2-do-not-show"


@pytest.fixture
def kafka(kafka_broker: Any, engine_dir: Path, settings: Any) -> Iterator[KafkaCluster]:
    """Cluster "k" configured in the server, its watcher off: tests drive what they check."""
    settings.OFFSETSITE = {**settings.OFFSETSITE, "KAFKA_WATCH": False}
    # A property with a secret in it: librdkafka ignores SASL settings on a plaintext
    # listener, and no page, error or audit entry may show its value.
    clusters.configure(
        [KafkaClusterConfig("k", kafka_broker.bootstrap, {"sasl.password": SECRET, "client.id": "offsetsite-test"})]
    )
    cluster = clusters.kafka_cluster("k")
    assert isinstance(cluster, KafkaCluster)
    yield cluster
    clusters.configure([])


@pytest.fixture
def seeded(kafka: KafkaCluster) -> tuple[str, str]:
    topic, group = f"orders-{uuid.uuid4().hex[:6]}", f"billing-{uuid.uuid4().hex[:6]}"
    kafka.create_topic(topic, 2)
    for p in range(2):
        for i in range(10):
            kafka.produce(topic, f'{{"n": {i}}}'.encode(), key=f"k{i}".encode(), partition=p)
    kafka.commit_offsets(group, {(topic, 0): 4, (topic, 1): 10})
    return topic, group


def body(r: Any) -> str:
    return " ".join(r.content.decode().split())


def text(r: Any) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", r.content.decode()).split())


def test_pages_show_the_kafka_cluster_not_the_embedded_engine(viewer_client: Client, seeded: tuple[str, str]) -> None:
    topic, group = seeded
    get_cluster().create_topic("only-local", 1)  # the embedded engine's
    r = viewer_client.get("/clusters/k/")
    assert r.status_code == 200
    html = body(r)
    assert group in html and topic in html
    assert "only-local" not in html
    assert f'href="/clusters/k/groups/{group}/"' in html  # links stay on the cluster
    assert 'class="cluster-switch"' in html and "Kafka ·" in html
    assert "sampled every 5 s" in html  # the source of commits is named
    assert SECRET not in r.content.decode()
    local = body(viewer_client.get("/"))
    assert "only-local" in local and group not in local


def test_topic_group_and_record_pages(viewer_client: Client, seeded: tuple[str, str]) -> None:
    topic, group = seeded
    r = viewer_client.get(f"/clusters/k/topics/{topic}/")
    assert r.status_code == 200, r.content.decode()[:500]
    assert group in body(r)
    r = viewer_client.get(f"/clusters/k/topics/{topic}/records/", {"partition": 0, "offset": 2})
    assert r.status_code == 200
    assert "&quot;n&quot;: 2" in r.content.decode() or '"n": 2' in r.content.decode()
    r = viewer_client.get(f"/clusters/k/groups/{group}/")
    assert r.status_code == 200
    html = body(r)
    assert "Empty" in html
    view = r.context["group"]
    lags = {(p.topic, p.partition): p.lag for p in view.partitions}
    assert lags == {(topic, 0): 6, (topic, 1): 0}
    assert viewer_client.get("/clusters/k/groups/nobody-here/").status_code in (200, 404)


def test_unknown_cluster_is_404(viewer_client: Client, kafka: KafkaCluster) -> None:
    r = viewer_client.get("/clusters/nope/")
    assert r.status_code == 404
    assert "k" in r.content.decode()


def test_api_and_metrics_on_the_cluster(viewer: User, seeded: tuple[str, str]) -> None:
    topic, group = seeded
    token = ApiToken.issue(viewer, "t")[1]
    c = Client(headers={"Authorization": f"Bearer {token}"})
    r = c.get(f"/clusters/k/api/groups/{group}")
    assert r.status_code == 200, r.content
    data = r.json()
    rows = {(p["topic"], p["partition"]): p for p in data.get("offsets", data.get("partitions", []))}
    assert rows[(topic, 0)]["lag"] == 6
    assert rows[(topic, 0)]["committed"] == 4
    r = c.get("/clusters/k/api/topics")
    assert topic in json.dumps(r.json())
    metrics = Client().get("/clusters/k/metrics").content.decode()
    assert re.search(
        rf'^kafka_consumergroup_group_lag\{{[^}}]*group="{group}"[^}}]*partition="0"[^}}]*\}} 6', metrics, re.M
    )
    assert re.search(rf'^kafka_consumergroup_group_lag\{{[^}}]*cluster_name="k",[^}}]*group="{group}"', metrics, re.M)
    assert group not in Client().get("/metrics").content.decode()  # the embedded engine's


def test_reset_preview_execute_verify_audit(
    operator_client: Client, seeded: tuple[str, str], kafka: KafkaCluster
) -> None:
    topic, group = seeded
    url = f"/clusters/k/groups/{group}/reset/"
    fields = {"scope": "all", "scenario": "to-offset", "to_offset": "2"}
    p = operator_client.post(url, {**fields, "action": "preview"})
    assert p.status_code == 200, p.content.decode()[:800]
    assert {(r.row.topic, r.row.partition): r.row.after for r in p.context["rows"]} == {(topic, 0): 2, (topic, 1): 2}
    assert {tp: om.offset for tp, om in kafka.committed_offsets(group).items()} == {(topic, 0): 4, (topic, 1): 10}
    r = operator_client.post(
        url,
        {
            **fields,
            "action": "execute",
            "fingerprint": p.context["plan_fingerprint"],
            "confirm": str(p.context["moving"]),
            "targets": p.context["targets_fingerprint"],
        },
    )
    assert r.status_code == 200, r.content.decode()[:800]
    assert {tp: om.offset for tp, om in kafka.committed_offsets(group).items()} == {(topic, 0): 2, (topic, 1): 2}
    entry = AuditEntry.objects.get(action="offsets.reset", group_id=group)
    assert entry.cluster == "k"
    assert {(o["topic"], o["partition"]): o["after"] for o in entry.offsets} == {(topic, 0): 2, (topic, 1): 2}
    assert SECRET not in json.dumps(entry.details)
    # Undo puts back what the group held, read back from the cluster.
    u = operator_client.post(f"/clusters/k/groups/{group}/undo/", {"confirm": "undo"}, follow=True)
    assert u.status_code == 200
    assert {tp: om.offset for tp, om in kafka.committed_offsets(group).items()} == {(topic, 0): 4, (topic, 1): 10}


def test_produce_form_writes_to_the_cluster(
    operator_client: Client, seeded: tuple[str, str], kafka: KafkaCluster
) -> None:
    topic, _group = seeded
    form = {"key": "k-web", "value": "from the page", "headers": "", "partition": "1", "count": "1", "rate": "10"}
    r = operator_client.post(f"/clusters/k/topics/{topic}/produce/", form, follow=True)
    assert r.status_code == 200
    assert r.redirect_chain[-1][0] == f"/clusters/k/topics/{topic}/"
    assert kafka.read(topic, 1, 10)[0].value == b"from the page"


def test_unreachable_cluster_page_api_and_banner(
    viewer: User, viewer_client: Client, settings: Any, engine_dir: Path
) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.OFFSETSITE = {**settings.OFFSETSITE, "KAFKA_WATCH": False}
    clusters.configure([KafkaClusterConfig("down", f"127.0.0.1:{port}", {"sasl.password": SECRET}, timeout_s=2)])
    try:
        r = viewer_client.get("/clusters/down/")
        assert r.status_code == 503
        html = text(r)
        assert "Kafka cluster down is unreachable since" in html
        assert SECRET not in html
        token = ApiToken.issue(viewer, "t")[1]
        api = Client(headers={"Authorization": f"Bearer {token}"}).get("/clusters/down/api/groups")
        assert api.status_code == 503
        assert api.json()["error"]["code"] == "NETWORK_EXCEPTION"
        assert viewer_client.get("/").status_code == 200  # the embedded engine is unaffected
    finally:
        clusters.configure([])


def test_broker_killed_mid_session_then_back(
    isolated_kafka_broker: Any, viewer: User, viewer_client: Client, settings: Any, engine_dir: Path
) -> None:
    """Pages keep showing the last data under a banner, the API says 503, and all comes
    back by itself when the broker does (tansu is in memory: its data is gone then)."""
    broker = isolated_kafka_broker
    settings.OFFSETSITE = {**settings.OFFSETSITE, "KAFKA_WATCH": False}
    clusters.configure([KafkaClusterConfig("crash", broker.bootstrap, timeout_s=2)])
    try:
        cluster = clusters.kafka_cluster("crash")
        cluster.create_topic("before-crash", 1)
        cluster.commit_offsets("g-crash", {("before-crash", 0): 0})
        assert "g-crash" in body(viewer_client.get("/clusters/crash/"))
        broker.kill()
        r = viewer_client.get("/clusters/crash/")
        assert r.status_code == 200  # the last answers, not an error page
        html = text(r)
        assert "Kafka cluster crash is unreachable since" in html
        assert "The data below is from" in html and "g-crash" in html
        token = ApiToken.issue(viewer, "t")[1]
        api = Client(headers={"Authorization": f"Bearer {token}"})
        assert api.get("/clusters/crash/api/groups").status_code == 503
        broker.restart()
        # Recovery needs no action: a probe gets through within a few probe intervals.
        for _ in range(200):
            if api.get("/clusters/crash/api/topics").status_code == 200:
                break
            time.sleep(0.1)
        assert api.get("/clusters/crash/api/topics").status_code == 200
        r = viewer_client.get("/clusters/crash/")
        assert r.status_code == 200
        assert "unreachable" not in text(r)
    finally:
        clusters.configure([])


def test_reset_of_an_active_group_is_refused_with_kafkas_message(
    operator_client: Client, seeded: tuple[str, str], kafka: KafkaCluster, kafka_broker: Any
) -> None:
    """Kafka's rule: offsets of a group with members cannot be reset; nothing changes."""
    import threading

    import confluent_kafka

    topic, _ = seeded
    group = f"active-{uuid.uuid4().hex[:6]}"
    kafka.commit_offsets(group, {(topic, 0): 3})
    member = confluent_kafka.Consumer(
        {
            "bootstrap.servers": kafka_broker.bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            # Kafka's lowest allowed session timeout: tansu completes a join in about half of it.
            "session.timeout.ms": 6000,
        }
    )
    stop = threading.Event()

    def consume() -> None:
        while not stop.is_set():
            member.poll(0.2)

    member.subscribe([topic])
    poller = threading.Thread(target=consume, daemon=True)
    poller.start()
    try:
        for _ in range(300):  # bounded: the join completes within a few session timeouts
            if kafka.describe_group(group).state == "Stable":
                break
            time.sleep(0.1)
        assert kafka.describe_group(group).state == "Stable"
        url = f"/clusters/k/groups/{group}/reset/"
        fields = {"scope": "all", "scenario": "to-earliest"}
        p = operator_client.post(url, {**fields, "action": "preview"})
        r = operator_client.post(
            url,
            {
                **fields,
                "action": "execute",
                "fingerprint": p.context["plan_fingerprint"],
                "confirm": str(p.context["moving"]),
                "targets": p.context["targets_fingerprint"],
            },
        )
        assert (
            f"Assignments can only be reset if the group &#x27;{group}&#x27; is inactive, but the current state is Stable."
            in r.content.decode()
        )
        assert kafka.committed_offsets(group)[(topic, 0)].offset == 3
        assert not AuditEntry.objects.filter(action="offsets.reset", group_id=group).exists()
    finally:
        stop.set()
        poller.join(timeout=10)
        member.close()


def test_consume_form_on_a_kafka_cluster_points_to_the_cli_and_touches_nothing(
    operator_client: Client, seeded: tuple[str, str], kafka: KafkaCluster
) -> None:
    """Regression: the form ran a member of the *embedded* engine under /clusters/k/."""
    topic, group = seeded
    r = operator_client.get(f"/clusters/k/groups/{group}/consume/")
    assert r.status_code == 200
    assert f"offsetsite consume --bootstrap-server {kafka.config.bootstrap_servers}" in body(r)
    assert 'href="/clusters/k/consume/"' not in body(r)  # no Consume link in the bar here
    before = kafka.committed_offsets(group)
    r = operator_client.post(
        f"/clusters/k/groups/{group}/consume/",
        {"client_id": "web", "topics": [topic], "max_records": "5", "commit": "yes", "auto_offset_reset": "earliest"},
    )
    assert r.status_code == 409
    assert kafka.committed_offsets(group) == before
    assert group not in [g.group_id for g in get_cluster("local").list_groups()]


def test_lag_history_of_a_kafka_cluster_is_its_own(viewer_client: Client, seeded: tuple[str, str]) -> None:
    from django.utils import timezone

    from offsetsite.live import sampler
    from offsetsite.live.models import LagSample

    topic, group = seeded
    assert sampler.sample_once(timezone.now(), cluster_name="k").samples >= 2
    rows = {(r.topic, r.partition): r.lag for r in LagSample.objects.filter(cluster="k", group_id=group)}
    assert rows == {(topic, 0): 6, (topic, 1): 0}
    assert not LagSample.objects.filter(cluster="local", group_id=group).exists()
    r = viewer_client.get(f"/clusters/k/groups/{group}/lag.json")
    assert r.status_code == 200
    assert viewer_client.get(f"/groups/{group}/lag.json").status_code in (200, 404)
    assert json.dumps(r.json()) != json.dumps(viewer_client.get(f"/groups/{group}/lag.json").json())


def test_a_kafka_cluster_is_never_open_to_anonymous_visitors(seeded: tuple[str, str], settings: Any) -> None:
    """Its records are a team's data: reads need a login and workshop mode does not apply."""
    from offsetsite.core.models import SiteSettings

    topic, group = seeded
    row = SiteSettings.load()
    row.workshop = True
    row.read_login = False
    row.save()
    anonymous = Client()
    assert anonymous.get("/").status_code == 200  # the embedded engine: open, as configured
    r = anonymous.get(f"/clusters/k/topics/{topic}/")
    assert r.status_code == 302 and "/login/" in r["Location"]
    form = {"key": "", "value": "x", "headers": "", "partition": "0", "count": "1", "rate": "10"}
    r = anonymous.post(f"/clusters/k/topics/{topic}/produce/", form)
    assert r.status_code in (302, 403)
    assert clusters.kafka_cluster("k").watermarks(topic, 0)[1] == 10  # nothing was written
    assert anonymous.get(f"/clusters/k/groups/{group}/lag.json").status_code in (302, 401, 403)


def test_sizes_a_kafka_cluster_does_not_report_are_not_shown_as_numbers(
    viewer_client: Client, seeded: tuple[str, str]
) -> None:
    topic, _ = seeded
    html = body(viewer_client.get(f"/clusters/k/topics/{topic}/"))
    assert "size on disk not reported by this cluster" in html
    assert not re.search(r">\s*-\d+[^<]{0,8}<", html)  # no negative size or segment count
    assert "not reported by this cluster" in body(viewer_client.get("/clusters/k/"))


def test_delete_offsets_on_a_kafka_cluster_says_why_before_the_form(
    operator_client: Client, seeded: tuple[str, str], kafka: KafkaCluster
) -> None:
    topic, group = seeded
    assert "Delete offsets" not in body(operator_client.get(f"/clusters/k/groups/{group}/"))
    assert "Delete group" in body(operator_client.get(f"/clusters/k/groups/{group}/"))
    r = operator_client.get(f"/clusters/k/groups/{group}/delete-offsets/")
    assert r.status_code == 200
    assert "kafka-consumer-groups.sh --delete-offsets" in body(r)
    r = operator_client.post(f"/clusters/k/groups/{group}/delete-offsets/", {"partitions": [f"{topic}:0"]})
    assert r.status_code == 409
    assert kafka.committed_offsets(group)[(topic, 0)].offset == 4
