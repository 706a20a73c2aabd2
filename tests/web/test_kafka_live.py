"""Live pages of a Kafka cluster: the socket under /clusters/<name>/, fed by the watcher.

A commit made by another client (a team's own consumer) reaches an open group page:
the watcher's round turns it into an event on the cluster's bus, the cluster's own
bridge sends a notice, the page's consumer renders the group again. Nothing of the
embedded engine's pages is woken.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from logcore.kafka_cluster import KafkaCluster
from logcore.kafka_config import KafkaClusterConfig
from logcore.kafka_watch import KafkaWatcher
from offsetsite import clusters
from offsetsite.asgi import application
from offsetsite.live.bridge import BRIDGE, bridge_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
    pytest.mark.kafka,
    pytest.mark.integration,
]
ORIGIN = [(b"origin", b"http://localhost"), (b"host", b"localhost")]


@pytest.fixture
def kafka(kafka_broker: Any, engine_dir: Path, settings: Any) -> Iterator[KafkaCluster]:
    settings.OFFSETSITE = {**settings.OFFSETSITE, "KAFKA_WATCH": False}
    clusters.configure([KafkaClusterConfig("k", kafka_broker.bootstrap)])
    cluster = clusters.kafka_cluster("k")
    assert isinstance(cluster, KafkaCluster)
    yield cluster
    clusters.configure([])


def session_cookie() -> bytes:
    user = User.objects.create_user("watcher", password="pw-watcher")
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


def test_each_kafka_cluster_has_its_own_bridge() -> None:
    assert bridge_for("local") is BRIDGE and bridge_for("prod") is bridge_for("prod") is not BRIDGE


@pytest.mark.asyncio
async def test_group_page_of_a_kafka_cluster_follows_outside_commits(kafka: KafkaCluster, kafka_broker: Any) -> None:
    topic, group = f"live-{uuid.uuid4().hex[:6]}", f"g-{uuid.uuid4().hex[:6]}"

    def seed() -> None:
        kafka.create_topic(topic, 1)
        for i in range(5):
            kafka.produce(topic, b"x%d" % i, partition=0)
        kafka.commit_offsets(group, {(topic, 0): 1})

    await sync_to_async(seed)()
    cookie = await sync_to_async(session_cookie)()
    comm = WebsocketCommunicator(application, f"/clusters/k/ws/group/{group}/", headers=[*ORIGIN, (b"cookie", cookie)])
    connected, _ = await comm.connect()
    assert connected
    try:
        snapshot = await comm.receive_from()
        assert f'href="/clusters/k/topics/{topic}/"' in snapshot  # links stay on the cluster
        assert 'id="group-summary"' in snapshot or "group-" in snapshot
        watcher = KafkaWatcher(kafka, interval_s=60, tail=False)
        await sync_to_async(watcher.round)()

        def outside_commit() -> None:
            other = KafkaCluster(KafkaClusterConfig("other", kafka_broker.bootstrap))
            try:
                other.commit_offsets(group, {(topic, 0): 4})
            finally:
                other.close()

        await sync_to_async(outside_commit)()
        events = await sync_to_async(watcher.round)()
        assert any(getattr(e, "group", "") == group for e in events)
        frame = await comm.receive_from(timeout=10)
        assert 'id="group-facts"' in frame
        # The new committed offset (4) and lag (1 of HW 5) are on the page.
        assert '<dt>Total lag</dt><dd class="num">1</dd>' in frame
        assert '<dt>Total lag</dt><dd class="num">4</dd>' in snapshot
    finally:
        await comm.disconnect()


@pytest.mark.asyncio
async def test_anonymous_socket_of_a_kafka_cluster_must_log_in(kafka: KafkaCluster) -> None:
    comm = WebsocketCommunicator(application, "/clusters/k/ws/overview/", headers=ORIGIN)
    connected, _ = await comm.connect()
    assert connected  # accepted, then closed with the "log in" code the page understands
    assert (await comm.receive_output(timeout=5))["code"] == 4401
    await comm.disconnect()


@pytest.mark.asyncio
async def test_a_socket_for_an_unknown_cluster_is_refused(kafka: KafkaCluster) -> None:
    comm = WebsocketCommunicator(application, "/clusters/nope/ws/overview/", headers=ORIGIN)
    connected, _ = await comm.connect()
    assert not connected
    await comm.disconnect()
