"""Unmodified Kafka clients (confluent-kafka, i.e. librdkafka) against logcore's Kafka listener.

Each test starts the listener on a free loopback port over its own engine. Everything
a client does goes through the engine's LogManager and GroupCoordinator, so the checks
read the result back through the engine itself (describe_group, committed offsets,
the records of a partition). Waits are deadlines on conditions, never sleeps: a group
join takes a few seconds of librdkafka's own timers.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic

from logcore import EmbeddedCluster
from logcore.admin import Scenario, Scope, execute_reset, plan_reset
from logcore.events import Event, OffsetsCommitted, RecordsAppended
from logcore.kafka_server import KafkaListener
from logcore.partitioner import partition_for_key
from logcore.records import MAGIC_KAFKA, parse_header

pytestmark = [pytest.mark.integration]

DEADLINE_S = 60.0
# Short librdkafka timers: members notice a rebalance within a heartbeat.
GROUP_CONF = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 300, "auto.offset.reset": "earliest"}


class Served:
    def __init__(self, cluster: EmbeddedCluster, listener: KafkaListener) -> None:
        self.cluster = cluster
        self.listener = listener
        self.bootstrap = f"127.0.0.1:{listener.port}"

    def producer(self, **conf: Any) -> Producer:
        return Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 2, **conf})

    def consumer(self, group: str, **conf: Any) -> Consumer:
        return Consumer({"bootstrap.servers": self.bootstrap, "group.id": group, **GROUP_CONF, **conf})

    def admin(self) -> AdminClient:
        return AdminClient({"bootstrap.servers": self.bootstrap})


@contextlib.contextmanager
def listening(data_dir: Path, **listener_options: Any) -> Iterator[Served]:
    """An engine on ``data_dir`` and its Kafka listener on a free loopback port (the other
    client test modules use it too)."""
    # No initial rebalance delay: a test's group forms as soon as its members joined.
    cluster = EmbeddedCluster(data_dir, initial_rebalance_delay_ms=0)
    listener = KafkaListener(cluster, threading.RLock(), "127.0.0.1", 0, **listener_options)
    listener.start()
    try:
        yield Served(cluster, listener)
    finally:
        listener.stop()
        cluster.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with listening(tmp_path / "data") as s:
        yield s


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def until(condition: Callable[[], Any], what: str, deadline_s: float = DEADLINE_S) -> Any:
    end = time.monotonic() + deadline_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")


def produce_all(producer: Producer, topic: str, records: list[tuple[bytes | None, bytes]]) -> list[Any]:
    delivered: list[Any] = []
    errors: list[Any] = []

    def report(err: Any, msg: Any) -> None:
        (errors if err else delivered).append(err or msg)

    for key, value in records:
        producer.produce(topic, key=key, value=value, on_delivery=report)
    assert producer.flush(DEADLINE_S) == 0
    assert not errors, errors
    return delivered


def create(served: Served, topic: str, partitions: int) -> None:
    admin = served.admin()  # held: a collected AdminClient fails its futures
    for f in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        f.result(DEADLINE_S)


def test_keyed_records_land_where_murmur2_random_puts_them(served: Served) -> None:
    topic = unique("seats")
    create(served, topic, 6)
    records = [(f"seat-{i}".encode(), f"ticket {i}".encode()) for i in range(120)]
    delivered = produce_all(
        served.producer(partitioner="murmur2_random", **{"enable.idempotence": True}), topic, records
    )
    assert len(delivered) == 120
    for msg in delivered:
        assert msg.partition() == partition_for_key(msg.key(), 6)
        stored = served.cluster.read(topic, msg.partition(), msg.offset(), 1)[0]
        assert (stored.key, stored.value) == (msg.key(), msg.value())
    assert sum(served.cluster.watermarks(topic, p)[1] for p in range(6)) == 120


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compressed_batches_of_each_codec_are_stored_and_read_back(served: Served, codec: str) -> None:
    topic = unique(codec)
    create(served, topic, 1)
    values = [f"{codec} record {i} ".encode() * 5 for i in range(300)]
    produce_all(served.producer(**{"compression.type": codec, "linger.ms": 20}), topic, [(None, v) for v in values])
    assert [r.value for r in served.cluster.read(topic, 0, 0, 1000)] == values
    c = served.consumer(unique("g"))
    c.assign([TopicPartition(topic, 0, 0)])
    got: list[bytes] = []
    until(lambda: got.extend(m.value() for m in c.consume(500, 0.5) if not m.error()) or len(got) >= 300, "records")
    c.close()
    assert got == values


def test_librdkafka_batches_are_stored_whole_and_fetched_from_disk_as_sent(served: Served) -> None:
    """The producer's batches land on disk as they were sent (records.py magic 2) and a
    fetch that misses the listener's cache sends them from the log, records intact."""
    topic = unique("whole")
    create(served, topic, 1)
    producer = served.producer(**{"linger.ms": 20})
    sent = [(b"k%d" % (i % 7) if i % 3 else None, b"value %d " % i * 4, [("n", b"%d" % i)]) for i in range(2000)]
    for key, value, headers in sent:
        producer.produce(topic, key=key, value=value, headers=headers)
    assert producer.flush(DEADLINE_S) == 0
    p = served.cluster.logs.partition(topic, 0)
    (log,) = sorted(p.directory.glob("*.log"))
    assert parse_header(log.read_bytes()).magic == MAGIC_KAFKA
    served.listener.broker.cache.drop((topic, 0))
    c = served.consumer(unique("g"))
    c.assign([TopicPartition(topic, 0, 0)])
    got: list[Any] = []

    def all_in() -> bool:
        got.extend(m for m in c.consume(1000, 0.5) if not m.error())
        return len(got) >= 2000

    until(all_in, "records")
    c.close()
    assert [m.offset() for m in got] == list(range(2000))
    assert [(m.key(), m.value(), m.headers()) for m in got] == sent
    stored = served.cluster.read(topic, 0, 0, 2000)
    assert [(r.key, r.value, list(r.headers)) for r in stored] == sent
    assert [r.timestamp for r in stored] == [m.timestamp()[1] for m in got]


def drain(consumers: list[Consumer], seen: dict[tuple[int, int], bytes]) -> None:
    for c in consumers:
        for m in c.consume(100, 0.1):
            if m.error() is None:
                seen[(m.partition(), m.offset())] = m.value()


def test_group_of_three_rebalances_consumes_everything_and_commits(served: Served) -> None:
    topic, group = unique("orders"), unique("kitchen")
    create(served, topic, 6)
    produce_all(served.producer(), topic, [(f"k{i}".encode(), f"v{i}".encode()) for i in range(300)])
    committed_events: list[Event] = []
    served.cluster.events.subscribe(lambda e: committed_events.append(e) if isinstance(e, OffsetsCommitted) else None)
    consumers = [served.consumer(group, **{"enable.auto.commit": False})]
    consumers[0].subscribe([topic])
    seen: dict[tuple[int, int], bytes] = {}
    until(lambda: drain(consumers, seen) or seen, "the first member's records")
    for _ in range(2):  # two more members: two more rebalances
        c = served.consumer(group, **{"enable.auto.commit": False})
        c.subscribe([topic])
        consumers.append(c)
    members = lambda: served.cluster.describe_group(group)  # noqa: E731
    until(
        lambda: drain(consumers, seen) or (members().state == "Stable" and len(members().members) == 3),
        "three members in a stable generation",
    )
    until(lambda: drain(consumers, seen) or len(seen) == 300, "all 300 records")
    # A partition that moved may still be re-read by its new owner (nothing was
    # committed yet): drain until every owner's position is at the end.
    hw = {p: served.cluster.watermarks(topic, p)[1] for p in range(6)}

    def at_end() -> bool:
        drain(consumers, seen)
        positions = [tp for c in consumers for tp in c.position(c.assignment())]
        return len(positions) == 6 and all(tp.offset == hw[tp.partition] for tp in positions)

    until(at_end, "every member at the end of its partitions")
    desc = members()
    owned = sorted(tp for m in desc.members for tp in m.assignment)
    assert owned == [(topic, p) for p in range(6)]
    assert desc.generation >= 2
    for c in consumers:
        c.commit(asynchronous=False)
    committed = served.cluster.committed_offsets(group)
    assert {tp: om.offset for tp, om in committed.items()} == {
        (topic, p): served.cluster.watermarks(topic, p)[1] for p in range(6)
    }
    assert committed_events, "commits fire the engine's OffsetsCommitted events"
    for c in consumers:
        c.close()
    until(lambda: members().state == "Empty", "the group to empty after the members left")


def first_offsets(served: Served, group: str, topic: str, want: int) -> list[tuple[int, int]]:
    """Join ``group``, read ``want`` records, commit them, leave: their (partition, offset)."""
    c = served.consumer(group, **{"enable.auto.commit": False})
    c.subscribe([topic])
    got: list[tuple[int, int]] = []

    def step() -> bool:
        for m in c.consume(want - len(got), 0.2):
            if m.error() is None:
                got.append((m.partition(), m.offset()))
        return len(got) >= want

    until(step, f"{want} records")
    c.commit(asynchronous=False)
    c.close()
    return got


def test_resume_at_the_commit_and_at_a_reset_made_while_stopped(served: Served) -> None:
    topic, group = unique("train"), unique("checker")
    create(served, topic, 1)
    produce_all(served.producer(), topic, [(None, f"v{i}".encode()) for i in range(100)])
    assert first_offsets(served, group, topic, 30) == [(0, i) for i in range(30)]
    assert served.cluster.committed_offsets(group)[(topic, 0)].offset == 30
    # Stopped, then resumed: it starts at the committed offset.
    assert first_offsets(served, group, topic, 10)[0] == (0, 30)
    # The dashboard's reset (logcore.admin) while the client is stopped.
    until(lambda: served.cluster.describe_group(group).state == "Empty", "the group to be empty")
    plan = plan_reset(served.cluster, group, Scenario("to-offset", 5), Scope(all_topics=True), now_ms=0)
    assert execute_reset(served.cluster, plan).ok
    assert first_offsets(served, group, topic, 3) == [(0, 5), (0, 6), (0, 7)]


def test_admin_client_topics_partitions_configs_groups(served: Served) -> None:
    admin = served.admin()
    topic, group = unique("admin"), unique("g")
    create(served, topic, 2)
    assert topic in admin.list_topics(timeout=10).topics
    for f in admin.create_partitions([NewPartitions(topic, 4)]).values():
        f.result(DEADLINE_S)
    assert len(served.cluster.describe_topic(topic).partitions) == 4
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    configs = admin.describe_configs([res])[res].result(DEADLINE_S)
    assert configs["cleanup.policy"].value == "delete"
    produce_all(served.producer(), topic, [(b"k", b"v")])
    first_offsets(served, group, topic, 1)
    listed = admin.list_consumer_groups().result(DEADLINE_S)
    assert group in {g.group_id for g in listed.valid}
    described = admin.describe_consumer_groups([group])[group].result(DEADLINE_S)
    assert described.group_id == group
    until(lambda: served.cluster.describe_group(group).state == "Empty", "the group to be empty")
    for f in admin.delete_consumer_groups([group]).values():
        f.result(DEADLINE_S)
    assert group not in served.cluster.group_ids()
    for f in admin.delete_topics([topic]).values():
        f.result(DEADLINE_S)
    assert topic not in served.cluster.list_topics()
    (refused,) = admin.create_topics([NewTopic(unique("r3"), 1, 3)]).values()
    with pytest.raises(KafkaException, match="REPLICATION_FACTOR|replication"):
        refused.result(DEADLINE_S)


def test_a_transactional_producer_is_refused_at_once(served: Served) -> None:
    # FindCoordinator for a transactional id answered COORDINATOR_NOT_AVAILABLE, which
    # librdkafka retries: init_transactions waited out its whole timeout. Now it is
    # Kafka's TRANSACTIONAL_ID_AUTHORIZATION_FAILED, fatal, long before the deadline.
    p = Producer({"bootstrap.servers": served.bootstrap, "transactional.id": unique("tx")})
    with pytest.raises(KafkaException) as raised:
        p.init_transactions(DEADLINE_S)
    err = raised.value.args[0]
    assert err.code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, err
    assert err.fatal()
    assert "transactions are not supported" in err.str()


def test_produce_to_consumer_offsets_is_refused(served: Served) -> None:
    offsets = served.cluster.describe_topic("__consumer_offsets")
    before = offsets.records
    p = served.producer(**{"message.timeout.ms": 5000})
    errors: list[Any] = []
    p.produce("__consumer_offsets", value=b"forged", on_delivery=lambda err, msg: errors.append(err))
    p.flush(DEADLINE_S)
    assert errors and errors[0] is not None
    assert served.cluster.describe_topic("__consumer_offsets").records == before


def test_fetch_long_poll_returns_when_records_arrive(served: Served) -> None:
    topic = unique("poll")
    create(served, topic, 1)
    appended: list[Event] = []
    served.cluster.events.subscribe(lambda e: appended.append(e) if isinstance(e, RecordsAppended) else None)
    c = served.consumer(unique("g"), **{"fetch.wait.max.ms": 5000})
    c.assign([TopicPartition(topic, 0, 0)])
    c.consume(1, 0.5)  # the first fetch is parked now: nothing to read
    served.cluster.produce(topic, b"late")
    msg = until(lambda: next(iter(m for m in c.consume(1, 0.5) if not m.error()), None), "the late record")
    assert msg.value() == b"late"
    c.close()
    assert appended


def test_kcat_produces_consumes_in_a_group_and_commits(served: Served) -> None:
    if shutil.which("kcat") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("kcat is not installed; ./dev setup installs Debian's kcat package on CI machines")
        pytest.skip("kcat (the Debian package kcat) is not installed; ./dev setup installs it as root")
    topic, group = unique("kcat"), unique("kcat-group")
    lines = "".join(f"k{i}\tv{i}\n" for i in range(20))
    run = functools.partial(subprocess.run, capture_output=True, text=True, timeout=DEADLINE_S, check=True)
    run(["kcat", "-b", served.bootstrap, "-P", "-t", topic, "-K", "\t", "-z", "lz4"], input=lines)
    assert [r.value for r in served.cluster.read(topic, 0, 0, 100)] == [f"v{i}".encode() for i in range(20)]
    commits = ["-X", "enable.auto.commit=true", "-X", "auto.commit.interval.ms=100"]
    consume = ["kcat", "-b", served.bootstrap, "-G", group, "-o", "beginning", "-e", "-f", "%o %k %s\n", topic]
    out = run([*consume, *commits]).stdout
    assert out.splitlines() == [f"{i} k{i} v{i}" for i in range(20)]
    assert served.cluster.committed_offsets(group)[(topic, 0)].offset == 20
