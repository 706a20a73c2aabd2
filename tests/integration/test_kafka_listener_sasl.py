"""Real clients against the listener with SASL/PLAIN (SASL_PLAINTEXT).

confluent-kafka (librdkafka) and kafkajs log in with the right credentials, are told
``SASL_AUTHENTICATION_FAILED`` with the wrong ones, and a client without SASL gets
nothing but ApiVersions. One listener for the module; waits are deadlines on
conditions (the clients' error callbacks), never sleeps.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient
from test_kafka_listener import GROUP_CONF, Served, listening, produce_all, unique, until
from test_kafkajs import KafkaJS, _node_or_skip

from logcore.kafka_server.sasl import PlainUsers

pytestmark = [pytest.mark.integration]

PASSWORD = "room-42:secret"


def sasl(user: str = "attendee", password: str = PASSWORD) -> dict[str, Any]:
    return {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.username": user,
        "sasl.password": password,
    }


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    users = PlainUsers({"attendee": PASSWORD, "facilitator": "other"})
    with listening(tmp_path_factory.mktemp("sasl") / "data", sasl_users=users) as s:
        yield s


def errors_of(conf: dict[str, Any]) -> tuple[dict[str, Any], list[KafkaError]]:
    """``conf`` with an error callback, and the list it fills."""
    seen: list[KafkaError] = []
    return {**conf, "error_cb": seen.append}, seen


def test_the_right_credentials_produce_consume_and_commit(served: Served) -> None:
    topic, group = unique("room"), unique("checkers")
    produce_all(served.producer(**sasl()), topic, [(f"k{i}".encode(), f"v{i}".encode()) for i in range(20)])
    assert [r.value for r in served.cluster.read(topic, 0, 0, 100)] == [f"v{i}".encode() for i in range(20)]
    c = Consumer(
        {"bootstrap.servers": served.bootstrap, "group.id": group, "enable.auto.commit": False, **GROUP_CONF, **sasl()}
    )
    c.subscribe([topic])
    got: list[bytes] = []

    def twenty() -> bool:
        got.extend(m.value() for m in c.consume(20, 0.2) if not m.error())
        return len(got) >= 20

    until(twenty, "20 records")
    c.commit(asynchronous=False)
    c.close()
    assert got == [f"v{i}".encode() for i in range(20)]
    assert served.cluster.committed_offsets(group)[(topic, 0)].offset == 20


@pytest.mark.parametrize(
    ("user", "password"), [("attendee", "wrong"), ("nobody", PASSWORD)], ids=["wrong password", "unknown user"]
)
def test_wrong_credentials_fail_with_an_authentication_error(served: Served, user: str, password: str) -> None:
    conf, seen = errors_of({"bootstrap.servers": served.bootstrap, **sasl(user, password)})
    admin = AdminClient(conf)
    until(lambda: admin.poll(0.2) is not None and seen, "an error from librdkafka")
    auth = [e for e in seen if e.code() == KafkaError._AUTHENTICATION]
    assert auth, seen
    assert "Invalid username or password" in auth[0].str()
    assert PASSWORD not in auth[0].str()


def test_a_client_without_sasl_is_refused(served: Served) -> None:
    before = served.listener.closed_for_errors
    topic = unique("plain")
    conf, seen = errors_of({"bootstrap.servers": served.bootstrap})
    p = Producer(conf)
    p.produce(topic, b"never")
    # librdkafka's first request after ApiVersions (Metadata) closes the connection.
    until(lambda: p.poll(0.2) is not None and seen, "an error from librdkafka")
    until(lambda: served.listener.closed_for_errors > before, "the listener to close the connection")
    assert {e.code() for e in seen} & {KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT}, seen
    assert topic not in served.cluster.list_topics()
    assert p.purge() is None  # nothing to wait for when the producer goes


def test_kafkajs_logs_in_and_is_refused_with_a_wrong_password(served: Served) -> None:
    node = _node_or_skip()
    topic = unique("js")
    good = KafkaJS(node, served.bootstrap, {"mechanism": "plain", "username": "facilitator", "password": "other"})
    try:
        good.call("create", topic=topic, partitions=1)
        good.call("produce", topic=topic, messages=[{"key": "k", "value": "v"}])
    finally:
        good.close()
    assert [r.value for r in served.cluster.read(topic, 0, 0, 10)] == [b"v"]
    bad = KafkaJS(node, served.bootstrap, {"mechanism": "plain", "username": "facilitator", "password": "wrong"})
    try:
        reply = bad.attempt("produce", topic=topic, messages=[{"key": "k", "value": "never"}])
    finally:
        bad.close()
    assert reply.get("error"), reply
    assert reply["error"]["name"] == "KafkaJSSASLAuthenticationError", reply
    assert "Invalid username or password" in reply["error"]["message"]
    assert served.cluster.watermarks(topic, 0)[1] == 1
