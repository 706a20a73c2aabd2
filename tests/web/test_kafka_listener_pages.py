"""A Kafka client's records, group, members and commits on the dashboard's pages.

The listener runs over the server's own engine (offsetsite.engine) as ``serve`` starts
it, so what a confluent-kafka client does shows on the pages like anything else.
"""

from __future__ import annotations

import errno
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from django.test import Client

from offsetsite import engine, kafka_listener

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture
def bootstrap(engine_dir: Path, settings: Any) -> Iterator[str]:
    settings.OFFSETSITE = {**settings.OFFSETSITE, "KAFKA_LISTENER": "127.0.0.1:0", "INITIAL_REBALANCE_DELAY_MS": "0"}
    listener = kafka_listener.start()
    assert listener is not None
    yield f"127.0.0.1:{listener.port}"
    kafka_listener.stop()


def test_a_kafka_clients_group_and_commits_show_on_the_group_page(bootstrap: str, operator_client: Client) -> None:
    p = Producer({"bootstrap.servers": bootstrap})
    for i in range(5):
        p.produce("kafka-seats", key=b"k", value=f"v{i}".encode())
    assert p.flush(30) == 0
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "real-client",
            "client.id": "my-laptop",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    c.subscribe(["kafka-seats"])
    got = 0
    end = time.monotonic() + 60
    while got < 5:
        assert time.monotonic() < end, "gave up waiting for the records"
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            got += 1
    c.commit(asynchronous=False)
    page = operator_client.get("/groups/real-client/").content.decode()
    assert "real-client" in page and "my-laptop" in page  # a member, live
    c.close()
    with engine.locked():
        committed = engine.get_cluster().committed_offsets("real-client")
    assert [om.offset for om in committed.values()] == [5]
    topic_page = operator_client.get("/topics/kafka-seats/").content.decode()
    assert "kafka-seats" in topic_page


def test_auto_listens_on_9092_only_when_free(
    engine_dir: Path, settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    settings.OFFSETSITE = {**settings.OFFSETSITE, "KAFKA_LISTENER": "auto"}
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 9092))
    except OSError as e:  # someone else holds it: auto must step aside for them too
        if e.errno != errno.EADDRINUSE:
            raise
    try:
        assert kafka_listener.start() is None
        assert "port 9092 on 127.0.0.1 is in use, so the Kafka listener is off" in capsys.readouterr().err
    finally:
        holder.close()
        kafka_listener.stop()


def test_off_means_no_listener(engine_dir: Path, settings: Any) -> None:
    settings.OFFSETSITE = {**settings.OFFSETSITE, "KAFKA_LISTENER": "off"}
    assert kafka_listener.start() is None
    assert kafka_listener.spec_problem("nonsense") is not None
    assert kafka_listener.spec_problem("127.0.0.1:9093") is None
