"""What tansu (the test broker) does over the Kafka protocol, checked with confluent-kafka.

Each plain test asserts what Apache Kafka does, where tansu agrees: the Kafka backend
can be proved against tansu on those points. Each ``test_tansu_gap_*`` asserts what
tansu does instead; its docstring says what Kafka does. When a tansu upgrade fixes a
gap, its test fails: turn it into a plain test asserting Kafka's behaviour, and update
docs/tansu.md, where every observation here is written down with its Kafka reference.

All tests share the session broker (unique topic and group names), except those that
crash a broker or would leave it in an unusual state, which take their own.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import confluent_kafka
import pytest
from confluent_kafka import (
    OFFSET_END,
    OFFSET_INVALID,
    TIMESTAMP_CREATE_TIME,
    Consumer,
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    ConsumerGroupType,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    OffsetSpec,
    ResourceType,
)
from kafka_broker import TansuBroker, unique_name

from logcore.partitioner import partition_for_key

pytestmark = [pytest.mark.integration, pytest.mark.kafka, pytest.mark.timeout(60)]

# What this record was made with; test_versions fails when either moves.
TANSU_VERSION = "tansu 0.6.0"
CONFLUENT_KAFKA_VERSION = "2.16.1"

# Generous bounds for polling loops; a healthy run takes a small fraction of each.
WAIT = 15.0


# --- clients ----------------------------------------------------------------------


def admin(bootstrap: str) -> AdminClient:
    # Keep the client in a variable until its futures are resolved: a temporary's
    # handle is destroyed at once, and its futures fail with _DESTROY.
    return AdminClient({"bootstrap.servers": bootstrap})


@contextmanager
def consumer(bootstrap: str, group: str | None = None, **config: Any) -> Iterator[Consumer]:
    # confluent-kafka refuses a Consumer without group.id even for assign(); never
    # auto-commit, so that a test's group holds exactly what it committed.
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group or unique_name("reader"),
            "enable.auto.commit": False,
            **config,
        }
    )
    try:
        yield c
    finally:
        c.close()


def create_topic(bootstrap: str, partitions: int = 1, config: dict[str, str] | None = None) -> str:
    name = unique_name("conf")
    a = admin(bootstrap)
    new = NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})
    a.create_topics([new])[name].result(timeout=WAIT)
    return name


def produce_each_flushed(bootstrap: str, topic: str, count: int, partition: int = 0) -> list[Message]:
    """``count`` records, one flush (hence one batch) each; their delivery reports."""
    delivered: list[Message] = []
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for i in range(count):
        p.produce(topic, value=b"v%d" % i, partition=partition, on_delivery=_collect(delivered))
        assert p.flush(WAIT) == 0
    return delivered


def produce_one_batch(bootstrap: str, topic: str, count: int, partition: int = 0) -> list[Message]:
    """``count`` records in ONE record batch: a long linger holds them until flush() sends them together."""
    delivered: list[Message] = []
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5000})
    for i in range(count):
        p.produce(topic, value=b"b%d" % i, partition=partition, on_delivery=_collect(delivered))
    assert p.flush(WAIT) == 0
    return delivered


def _collect(into: list[Message]) -> Callable[[KafkaError | None, Message], None]:
    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        assert err is None, err
        into.append(msg)

    return on_delivery


def fetch(c: Consumer, count: int, timeout: float = WAIT) -> list[Message]:
    """Poll until ``count`` records arrived (bounded), in arrival order."""
    out: list[Message] = []
    deadline = time.monotonic() + timeout
    while len(out) < count and time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is None:
            continue
        assert m.error() is None, m.error()
        out.append(m)
    assert len(out) == count, f"fetched {len(out)} of {count} records in {timeout} s"
    return out


def latest(bootstrap: str, topic: str, partition: int = 0, spec: OffsetSpec | None = None) -> Any:
    tp = TopicPartition(topic, partition)
    a = admin(bootstrap)
    return a.list_offsets({tp: spec or OffsetSpec.latest()})[tp].result(timeout=WAIT)


def group_offsets(bootstrap: str, group: str) -> dict[tuple[str, int], tuple[int, str | None]]:
    a = admin(bootstrap)
    r = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(timeout=WAIT)
    return {(tp.topic, tp.partition): (tp.offset, tp.metadata) for tp in r.topic_partitions}


def commit(bootstrap: str, group: str, offsets: dict[tuple[str, int], int]) -> None:
    """Commit as a consumer outside any generation does: assign(), then commit()."""
    tps = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
    with consumer(bootstrap, group) as c:
        c.assign(tps)
        for tp in c.commit(offsets=tps, asynchronous=False) or []:
            assert tp.error is None, tp.error


def list_group_ids(bootstrap: str, **kwargs: Any) -> dict[str, Any]:
    a = admin(bootstrap)
    r = a.list_consumer_groups(**kwargs).result(timeout=WAIT)
    return {g.group_id: g for g in r.valid}


def kafka_error(excinfo: pytest.ExceptionInfo[KafkaException]) -> KafkaError:
    err = excinfo.value.args[0]
    assert isinstance(err, KafkaError)
    return err


# --- the raw protocol, for what confluent-kafka does not show -----------------------


def api_versions(bootstrap: str) -> dict[int, tuple[int, int]]:
    """ApiVersions v0 (KIP-35) over a socket: api key -> (min, max) version."""
    host, port = bootstrap.split(":")
    client_id = b"conformance"
    # Request header v1: api_key, api_version, correlation_id, client_id; v0 has no body.
    request = struct.pack(">hhih", 18, 0, 42, len(client_id)) + client_id
    with socket.create_connection((host, int(port)), timeout=WAIT) as s:
        s.sendall(struct.pack(">i", len(request)) + request)
        (size,) = struct.unpack(">i", _recv_exactly(s, 4))
        body = _recv_exactly(s, size)
    correlation, error, count = struct.unpack_from(">ihi", body)
    assert (correlation, error) == (42, 0)
    keys = struct.iter_unpack(">hhh", body[10 : 10 + 6 * count])
    return {key: (lo, hi) for key, lo, hi in keys}


def _recv_exactly(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        buf += chunk
    return buf


# ==================================================================================
# Versions and the API list
# ==================================================================================


def test_versions(kafka_broker: TansuBroker) -> None:
    """The versions docs/tansu.md describes; re-check the doc when either changes."""
    out = subprocess.run([kafka_broker.binary, "--version"], capture_output=True, text=True, check=True, timeout=WAIT)
    assert out.stdout.strip() == TANSU_VERSION
    assert confluent_kafka.version() == CONFLUENT_KAFKA_VERSION


# ApiVersions of tansu 0.6.0. Kafka 4.x also has, among others: 23 OffsetForLeaderEpoch,
# 31 DeleteAcls, 33 AlterConfigs, 35 DescribeLogDirs, 37 CreatePartitions, 43 ElectLeaders,
# 45 AlterPartitionReassignments, 47 OffsetDelete, 61 DescribeProducers,
# 65 DescribeTransactions, 66 ListTransactions, 68 ConsumerGroupHeartbeat.
TANSU_API_KEYS = {
    0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 24, 25, 26,
    28, 29, 30, 32, 36, 42, 44, 46, 50, 51, 60, 69, 71, 75,
}  # fmt: skip


def test_tansu_gap_api_versions(kafka_bootstrap: str) -> None:
    """tansu lacks CreatePartitions (37), OffsetDelete (47), AlterConfigs (33),
    OffsetForLeaderEpoch (23) and ConsumerGroupHeartbeat (68), all of which Kafka
    serves (kafka.apache.org/protocol, "Api Keys")."""
    versions = api_versions(kafka_bootstrap)
    assert set(versions) == TANSU_API_KEYS
    assert not {23, 33, 37, 47, 68} & set(versions)
    # What the backend leans on, with the versions librdkafka 2.16 will pick from.
    assert versions[2] == (0, 9)  # ListOffsets
    assert versions[8] == (0, 9)  # OffsetCommit
    assert versions[9] == (0, 9)  # OffsetFetch


def test_confluent_kafka_has_no_delete_consumer_group_offsets() -> None:
    """Not tansu's doing: confluent-kafka 2.16.1's AdminClient has no OffsetDelete call at
    all (librdkafka has rd_kafka_DeleteConsumerGroupOffsets; the Python binding does not
    expose it), so the backend cannot delete single partitions' offsets on any broker."""
    assert not hasattr(AdminClient, "delete_consumer_group_offsets")


# ==================================================================================
# Topics
# ==================================================================================


def test_create_topic_with_partitions_and_describe(kafka_broker: TansuBroker, kafka_bootstrap: str) -> None:
    topic = create_topic(kafka_bootstrap, partitions=3)
    a = admin(kafka_bootstrap)
    md = a.list_topics(timeout=WAIT)
    (node,) = md.brokers
    assert md.cluster_id == kafka_broker.cluster_id
    tm = md.topics[topic]
    assert tm.error is None
    assert sorted(tm.partitions) == [0, 1, 2]
    for pm in tm.partitions.values():
        assert (pm.leader, pm.replicas, pm.isrs, pm.error) == (node, [node], [node], None)

    desc = a.describe_topics(TopicCollection([topic]))[topic].result(timeout=WAIT)
    assert desc.name == topic
    assert desc.is_internal is False
    assert [p.id for p in desc.partitions] == [0, 1, 2]
    assert {p.leader.id for p in desc.partitions} == {node}
    assert str(desc.topic_id) != "AAAAAAAAAAAAAAAAAAAAAA"  # a real topic id, not the zero Uuid

    cluster = a.describe_cluster().result(timeout=WAIT)
    assert cluster.cluster_id == kafka_broker.cluster_id
    assert [n.id for n in cluster.nodes] == [node]


def test_create_existing_topic_is_refused(kafka_bootstrap: str) -> None:
    topic = create_topic(kafka_bootstrap)
    a = admin(kafka_bootstrap)
    with pytest.raises(KafkaException) as excinfo:
        a.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(timeout=WAIT)
    assert kafka_error(excinfo).code() == KafkaError.TOPIC_ALREADY_EXISTS


def test_tansu_gap_create_partitions_unsupported(kafka_bootstrap: str) -> None:
    """Kafka (KIP-195) grows a topic to the requested count. tansu does not advertise
    CreatePartitions, so librdkafka refuses the call itself: _UNSUPPORTED_FEATURE."""
    topic = create_topic(kafka_bootstrap, partitions=2)
    a = admin(kafka_bootstrap)
    with pytest.raises(KafkaException) as excinfo:
        a.create_partitions([NewPartitions(topic, 4)])[topic].result(timeout=WAIT)
    err = kafka_error(excinfo)
    assert err.code() == KafkaError._UNSUPPORTED_FEATURE
    assert "CreatePartitions" in err.str()
    assert len(a.list_topics(timeout=WAIT).topics[topic].partitions) == 2


def test_delete_topic(kafka_bootstrap: str) -> None:
    topic = create_topic(kafka_bootstrap)
    produce_each_flushed(kafka_bootstrap, topic, 3)
    group = unique_name("deleted-topic")
    commit(kafka_bootstrap, group, {(topic, 0): 2})
    a = admin(kafka_bootstrap)

    a.delete_topics([topic])[topic].result(timeout=WAIT)
    assert topic not in a.list_topics(timeout=WAIT).topics
    # Kafka drops the committed offsets of a deleted topic's partitions.
    assert group_offsets(kafka_bootstrap, group) == {}
    with pytest.raises(KafkaException) as excinfo:
        a.delete_topics([topic])[topic].result(timeout=WAIT)
    assert kafka_error(excinfo).code() == KafkaError.UNKNOWN_TOPIC_OR_PART

    # Recreated under the same name, it starts empty at offset 0.
    a.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(timeout=WAIT)
    assert latest(kafka_bootstrap, topic).offset == 0
    assert [m.offset() for m in produce_each_flushed(kafka_bootstrap, topic, 1)] == [0]


@pytest.mark.parametrize(
    ("label", "partitions", "replication", "kafka_error_code"),
    [
        ("replication-3-on-1-broker", 1, 3, KafkaError.INVALID_REPLICATION_FACTOR),
        ("zero-partitions", 0, 1, KafkaError.INVALID_PARTITIONS),
        ("bad name!", 1, 1, KafkaError.TOPIC_EXCEPTION),
    ],
)
def test_tansu_gap_create_topics_skips_validation(
    kafka_bootstrap: str, label: str, partitions: int, replication: int, kafka_error_code: int
) -> None:
    """Kafka refuses these CreateTopics (kafka.apache.org/protocol, error codes):
    replication factor above the broker count -> INVALID_REPLICATION_FACTOR (38);
    0 partitions -> INVALID_PARTITIONS (37); a name outside [a-zA-Z0-9._-] ->
    INVALID_TOPIC_EXCEPTION (17). tansu creates them all."""
    name = f"{label}-{uuid.uuid4().hex[:8]}"  # unique, and still illegal for "bad name!"
    a = admin(kafka_bootstrap)
    # Kafka would raise here, with kafka_error_code.
    a.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=replication)])[name].result(
        timeout=WAIT
    )
    try:
        assert len(a.list_topics(timeout=WAIT).topics[name].partitions) == partitions, kafka_error_code
    finally:
        a.delete_topics([name])[name].result(timeout=WAIT)


def test_tansu_gap_create_topics_validate_only_creates(kafka_bootstrap: str) -> None:
    """Kafka's CreateTopics with validate_only checks the request and creates nothing
    (KIP-108). tansu creates the topic."""
    name = unique_name("validate-only")
    a = admin(kafka_bootstrap)
    a.create_topics([NewTopic(name, num_partitions=2, replication_factor=1)], validate_only=True)[name].result(
        timeout=WAIT
    )
    assert name in a.list_topics(timeout=WAIT).topics


def test_tansu_gap_auto_created_topic_has_4_partitions(kafka_bootstrap: str) -> None:
    """A Metadata request that allows auto-creation (AdminClient.list_topics(topic), a
    producer) creates a missing topic on both, but Kafka gives it num.partitions
    partitions (default 1, kafka.apache.org/documentation/#brokerconfigs_num.partitions);
    tansu gives it 4."""
    name = unique_name("auto")
    md = admin(kafka_bootstrap).list_topics(name, timeout=WAIT)
    assert md.topics[name].error is None
    assert len(md.topics[name].partitions) == 4


def test_consumer_metadata_does_not_auto_create(kafka_bootstrap: str) -> None:
    # librdkafka consumers send allow_auto_topic_creation=false (allow.auto.create.topics).
    name = unique_name("no-auto")
    with consumer(kafka_bootstrap) as c:
        md = c.list_topics(name, timeout=WAIT)
    assert md.topics[name].error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    assert name not in admin(kafka_bootstrap).list_topics(timeout=WAIT).topics


def _topic_configs(bootstrap: str, topic: str) -> dict[str, Any]:
    res = ConfigResource(ResourceType.TOPIC, topic)
    a = admin(bootstrap)
    return dict(a.describe_configs([res])[res].result(timeout=WAIT))


def test_tansu_gap_describe_configs_omits_defaults(kafka_bootstrap: str) -> None:
    """Kafka's DescribeConfigs lists every topic config, defaults included (source
    DEFAULT_CONFIG): cleanup.policy=delete, retention.ms=604800000,
    segment.bytes=1073741824, ... (kafka.apache.org/documentation/#topicconfigs).
    tansu lists only what the topic was created or altered with: nothing here."""
    topic = create_topic(kafka_bootstrap)
    assert _topic_configs(kafka_bootstrap, topic) == {}


def test_tansu_gap_describe_configs_override_source(kafka_bootstrap: str) -> None:
    """Values set at creation come back, as on Kafka; but Kafka marks a topic override
    DYNAMIC_TOPIC_CONFIG (KIP-226's config source), tansu marks it DEFAULT_CONFIG."""
    topic = create_topic(kafka_bootstrap, config={"retention.ms": "12345", "segment.bytes": "1048576"})
    configs = _topic_configs(kafka_bootstrap, topic)
    assert {n: c.value for n, c in configs.items()} == {"retention.ms": "12345", "segment.bytes": "1048576"}
    assert {c.source for c in configs.values()} == {ConfigSource.DEFAULT_CONFIG.value}


def test_incremental_alter_configs_then_describe(kafka_bootstrap: str) -> None:
    topic = create_topic(kafka_bootstrap)
    res = ConfigResource(
        ResourceType.TOPIC,
        topic,
        incremental_configs=[ConfigEntry("retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET)],
    )
    a = admin(kafka_bootstrap)
    a.incremental_alter_configs([res])[res].result(timeout=WAIT)
    assert _topic_configs(kafka_bootstrap, topic)["retention.ms"].value == "3600000"


# ==================================================================================
# Produce, partitioning, offsets
# ==================================================================================


def test_murmur2_random_places_keys_as_java_kafka(kafka_bootstrap: str) -> None:
    # A prime partition count spreads the hash; keys cover every tail length (0-3),
    # the empty key (hashed, unlike a null key), non-ASCII and long keys.
    partitions = 7
    topic = create_topic(kafka_bootstrap, partitions=partitions)
    keys = [b"", b"a", b"ab", b"abc", b"abcd", "ключ-é".encode(), bytes(range(256))]
    keys += [f"order-{i}".encode() for i in range(40)]
    delivered: list[Message] = []
    p = Producer({"bootstrap.servers": kafka_bootstrap, "partitioner": "murmur2_random"})
    for k in keys:
        p.produce(topic, key=k, value=b"v", on_delivery=_collect(delivered))
    assert p.flush(WAIT) == 0
    assert {m.key(): m.partition() for m in delivered} == {k: partition_for_key(k, partitions) for k in keys}

    # And the broker stored each where the delivery report said.
    with consumer(kafka_bootstrap) as c:
        c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        stored = {m.key(): m.partition() for m in fetch(c, len(keys))}
    assert stored == {k: partition_for_key(k, partitions) for k in keys}


def test_latest_is_high_watermark_with_one_record_per_batch(kafka_bootstrap: str) -> None:
    topic = create_topic(kafka_bootstrap)
    assert latest(kafka_bootstrap, topic).offset == 0
    delivered = produce_each_flushed(kafka_bootstrap, topic, 10)
    assert [m.offset() for m in delivered] == list(range(10))
    assert latest(kafka_bootstrap, topic).offset == 10
    with consumer(kafka_bootstrap) as c:
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=WAIT, cached=False) == (0, 10)

    # batch.num.messages=1 makes every record its own batch without a flush each: the
    # producer setting under which tansu's LATEST is right (see the gap below).
    topic = create_topic(kafka_bootstrap)
    p = Producer({"bootstrap.servers": kafka_bootstrap, "batch.num.messages": 1, "linger.ms": 100})
    for _ in range(10):
        p.produce(topic, b"x", partition=0)
    assert p.flush(WAIT) == 0
    assert latest(kafka_bootstrap, topic).offset == 10


def test_tansu_gap_latest_after_multi_record_batch(kafka_bootstrap: str) -> None:
    """Kafka's ListOffsets LATEST (timestamp -1) is the log end offset / high watermark,
    "the offset of the next coming message" (kafka.apache.org/protocol, ListOffsets):
    10 here. tansu answers the last batch's base offset + 1: 1 for one batch of 10.
    get_watermark_offsets(cached=False) asks ListOffsets too, so it is wrong as well."""
    topic = create_topic(kafka_bootstrap)
    delivered = produce_one_batch(kafka_bootstrap, topic, 10)
    assert [m.offset() for m in delivered] == list(range(10))
    assert latest(kafka_bootstrap, topic).offset == 1
    with consumer(kafka_bootstrap) as c:
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=WAIT, cached=False) == (0, 1)
    # A single-record batch after it moves LATEST to that record's offset + 1 (11).
    produce_each_flushed(kafka_bootstrap, topic, 1)
    assert latest(kafka_bootstrap, topic).offset == 11


def test_fetch_high_watermark_counts_every_record_of_a_batch(kafka_bootstrap: str) -> None:
    # Fetch's HighWatermark is right where ListOffsets is not (see the gap above): after
    # a fetch, the consumer's cached watermarks are Kafka's.
    topic = create_topic(kafka_bootstrap)
    produce_one_batch(kafka_bootstrap, topic, 10)
    with consumer(kafka_bootstrap) as c:
        c.assign([TopicPartition(topic, 0, 0)])
        assert [m.offset() for m in fetch(c, 10)] == list(range(10))
        assert c.get_watermark_offsets(TopicPartition(topic, 0), cached=True) == (0, 10)
        # Fetching from inside a batch starts at the asked offset (the client trims the batch).
        c.assign([TopicPartition(topic, 0, 7)])
        assert [m.offset() for m in fetch(c, 3)] == [7, 8, 9]


def test_earliest_is_log_start(kafka_bootstrap: str) -> None:
    topic = create_topic(kafka_bootstrap)
    assert latest(kafka_bootstrap, topic, spec=OffsetSpec.earliest()).offset == 0
    produce_each_flushed(kafka_bootstrap, topic, 3)
    assert latest(kafka_bootstrap, topic, spec=OffsetSpec.earliest()).offset == 0


def test_tansu_gap_earliest_and_latest_carry_a_timestamp(kafka_bootstrap: str) -> None:
    """Kafka answers ListOffsets EARLIEST and LATEST with timestamp -1 (no timestamp);
    tansu puts a wall-clock time (ms) there."""
    topic = create_topic(kafka_bootstrap)
    produce_each_flushed(kafka_bootstrap, topic, 2)
    for spec in (OffsetSpec.earliest(), OffsetSpec.latest()):
        assert latest(kafka_bootstrap, topic, spec=spec).timestamp > 1_600_000_000_000


def test_tansu_gap_offsets_for_timestamp_ignores_record_timestamps(kafka_bootstrap: str) -> None:
    """Kafka searches the records' own timestamps (CreateTime by default; KIP-32,
    KIP-33, KIP-79): for 2020-01-01 +0 s, +1 s, +2 s, a search for +0.5 s gives offset 1.
    tansu searches the time each batch reached it: every record here reached it after
    2020, so any past time gives offset 0, with a timestamp of today."""
    topic = create_topic(kafka_bootstrap)
    base = 1_577_836_800_000  # 2020-01-01T00:00:00Z
    started = int(time.time() * 1000)
    p = Producer({"bootstrap.servers": kafka_bootstrap, "linger.ms": 0})
    for i in range(3):
        p.produce(topic, value=b"x", partition=0, timestamp=base + 1000 * i)
        assert p.flush(WAIT) == 0
    hit = latest(kafka_bootstrap, topic, spec=OffsetSpec.for_timestamp(base + 500))
    assert hit.offset == 0
    assert hit.timestamp >= started - 1000
    with consumer(kafka_bootstrap) as c:
        (tp,) = c.offsets_for_times([TopicPartition(topic, 0, base + 1500)], timeout=WAIT)
        assert tp.offset == 0
        # The records themselves keep their CreateTime on fetch, as on Kafka.
        c.assign([TopicPartition(topic, 0, 0)])
        assert [m.timestamp() for m in fetch(c, 3)] == [(TIMESTAMP_CREATE_TIME, base + 1000 * i) for i in range(3)]


def test_tansu_gap_offsets_for_timestamp_after_the_last_record(kafka_bootstrap: str) -> None:
    """Kafka answers offset -1, timestamp -1 when no record is that recent (librdkafka:
    OFFSET_END): "reset to this time" then means the end. tansu answers offset 0
    (timestamp -1): the beginning of the log."""
    topic = create_topic(kafka_bootstrap)
    produce_each_flushed(kafka_bootstrap, topic, 3)
    future = int(time.time() * 1000) + 3_600_000
    hit = latest(kafka_bootstrap, topic, spec=OffsetSpec.for_timestamp(future))
    assert (hit.offset, hit.timestamp) == (0, -1)
    assert hit.offset != OFFSET_END


def test_tansu_gap_max_timestamp_unsupported(kafka_bootstrap: str) -> None:
    """Kafka (KIP-734, ListOffsets v7+) answers MAX_TIMESTAMP (-3) with the offset and
    timestamp of the record with the largest timestamp. tansu fails to decode it
    (log: TryFromIntError), drops the connection, and the client reports OFFSET_INVALID."""
    topic = create_topic(kafka_bootstrap)
    produce_each_flushed(kafka_bootstrap, topic, 3)
    hit = latest(kafka_bootstrap, topic, spec=OffsetSpec.max_timestamp())
    assert (hit.offset, hit.timestamp) == (OFFSET_INVALID, -1)


# ==================================================================================
# Fetch
# ==================================================================================


def test_consumer_needs_group_id_even_for_assign(kafka_bootstrap: str) -> None:
    # A confluent-kafka rule, not a broker one: reading with assign() still needs a
    # group.id (any name; nothing is committed unless asked).
    with pytest.raises(ValueError, match=r"group\.id must be set"):
        Consumer({"bootstrap.servers": kafka_bootstrap})


def test_fetch_with_assign(kafka_bootstrap: str) -> None:
    topic = create_topic(kafka_bootstrap)
    base = 1_700_000_000_000
    p = Producer({"bootstrap.servers": kafka_bootstrap, "linger.ms": 0})
    records: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]] | None]] = [
        (b"k0", b"v0", [("h", b"x0"), ("h", b"dup"), ("null", None)]),  # repeated and null headers
        (None, b"v1", None),  # null key
        (b"k2", None, None),  # null value (a tombstone)
        (b"", b"", [("e", b"")]),  # empty, not null
        (b"k4", b"v4" * 1000, None),
    ]
    for i, (k, v, h) in enumerate(records):
        p.produce(topic, key=k, value=v, headers=h, partition=0, timestamp=base + i)
    assert p.flush(WAIT) == 0
    with consumer(kafka_bootstrap) as c:
        c.assign([TopicPartition(topic, 0, 0)])
        got = fetch(c, len(records))
        assert [m.offset() for m in got] == list(range(len(records)))
        assert [(m.key(), m.value(), m.headers()) for m in got] == records
        assert [m.timestamp() for m in got] == [(TIMESTAMP_CREATE_TIME, base + i) for i in range(len(records))]
        assert c.position([TopicPartition(topic, 0)])[0].offset == len(records)
        # Reassigning at an offset reads from there.
        c.assign([TopicPartition(topic, 0, 3)])
        assert [m.offset() for m in fetch(c, 2)] == [3, 4]


# ==================================================================================
# Committed offsets and groups without members
# ==================================================================================


def test_commit_from_outside_a_group_and_list(kafka_bootstrap: str) -> None:
    topic = create_topic(kafka_bootstrap, partitions=2)
    produce_each_flushed(kafka_bootstrap, topic, 4, partition=0)
    group = unique_name("outside")
    commit(kafka_bootstrap, group, {(topic, 0): 2, (topic, 1): 0})
    assert group_offsets(kafka_bootstrap, group) == {(topic, 0): (2, None), (topic, 1): (0, None)}
    # Asking for some partitions only.
    a = admin(kafka_bootstrap)
    wanted = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 1)])]
    r = a.list_consumer_group_offsets(wanted)[group].result(timeout=WAIT)
    assert [(tp.partition, tp.offset) for tp in r.topic_partitions] == [(1, 0)]
    with consumer(kafka_bootstrap, group) as c:
        assert [tp.offset for tp in c.committed([TopicPartition(topic, 0)], timeout=WAIT)] == [2]
    # A group nobody ever used has no offsets, and no error.
    assert group_offsets(kafka_bootstrap, unique_name("never")) == {}


def test_commit_to_unknown_topic_is_refused(kafka_bootstrap: str) -> None:
    with consumer(kafka_bootstrap, unique_name("unknown-topic")) as c:
        with pytest.raises(KafkaException) as excinfo:
            c.commit(offsets=[TopicPartition(unique_name("missing"), 0, 1)], asynchronous=False)
    assert kafka_error(excinfo).code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_tansu_gap_commit_metadata_dropped(kafka_bootstrap: str) -> None:
    """Kafka stores each commit's metadata string (OffsetCommit committed_metadata, up to
    offset.metadata.max.bytes) and OffsetFetch returns it. tansu returns none."""
    topic = create_topic(kafka_bootstrap)
    group = unique_name("metadata")
    with consumer(kafka_bootstrap, group) as c:
        c.commit(offsets=[TopicPartition(topic, 0, 1, metadata="by-test")], asynchronous=False)
        assert [(tp.offset, tp.metadata) for tp in c.committed([TopicPartition(topic, 0)], timeout=WAIT)] == [(1, None)]
    tp = TopicPartition(topic, 0, 2, metadata="by-admin")
    a = admin(kafka_bootstrap)
    a.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, [tp])])[group].result(timeout=WAIT)
    assert group_offsets(kafka_bootstrap, group) == {(topic, 0): (2, None)}


def test_alter_offsets_of_group_without_members(kafka_bootstrap: str) -> None:
    topic = create_topic(kafka_bootstrap, partitions=2)
    produce_each_flushed(kafka_bootstrap, topic, 3)
    group = unique_name("alter")
    commit(kafka_bootstrap, group, {(topic, 0): 3, (topic, 1): 0})
    tps = [TopicPartition(topic, 0, 1), TopicPartition(topic, 1, 0)]
    a = admin(kafka_bootstrap)
    r = a.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, tps)])[group].result(timeout=WAIT)
    assert [(tp.partition, tp.offset, tp.error) for tp in r.topic_partitions] == [(0, 1, None), (1, 0, None)]
    assert group_offsets(kafka_bootstrap, group) == {(topic, 0): (1, None), (topic, 1): (0, None)}


def test_group_with_only_offsets_is_listed_and_empty(kafka_bootstrap: str) -> None:
    topic = create_topic(kafka_bootstrap)
    group = unique_name("offsets-only")
    commit(kafka_bootstrap, group, {(topic, 0): 0})
    assert group in list_group_ids(kafka_bootstrap)
    a = admin(kafka_bootstrap)
    desc = a.describe_consumer_groups([group])[group].result(timeout=WAIT)
    assert (desc.group_id, desc.state, desc.members) == (group, ConsumerGroupState.EMPTY, [])


def test_tansu_gap_list_groups_state_and_filter(kafka_bootstrap: str) -> None:
    """Kafka's ListGroups v4+ (KIP-518) reports each group's state, here Empty, and
    filters by state; a group that only stores offsets has protocol type "", so
    librdkafka calls it a simple consumer group. tansu reports state "Unknown",
    ignores the filter, and gives protocol type "consumer"."""
    topic = create_topic(kafka_bootstrap)
    group = unique_name("listed")
    commit(kafka_bootstrap, group, {(topic, 0): 0})
    listing = list_group_ids(kafka_bootstrap)[group]
    assert listing.state == ConsumerGroupState.UNKNOWN
    assert listing.is_simple_consumer_group is False
    assert group in list_group_ids(kafka_bootstrap, states={ConsumerGroupState.STABLE})


def test_tansu_gap_describe_reports_classic_group_as_consumer_type(kafka_bootstrap: str) -> None:
    """Kafka answers ConsumerGroupDescribe (KIP-848) for a classic group with
    GROUP_ID_NOT_FOUND, and librdkafka then describes it with the classic DescribeGroups:
    type CLASSIC. tansu answers ConsumerGroupDescribe for it: type CONSUMER."""
    topic = create_topic(kafka_bootstrap)
    group = unique_name("typed")
    commit(kafka_bootstrap, group, {(topic, 0): 0})
    a = admin(kafka_bootstrap)
    desc = a.describe_consumer_groups([group])[group].result(timeout=WAIT)
    assert desc.type == ConsumerGroupType.CONSUMER


def test_tansu_gap_describe_unknown_group(kafka_bootstrap: str) -> None:
    """Kafka describes a group it does not know as state Dead, no members (classic
    DescribeGroups; ConsumerGroupDescribe says GROUP_ID_NOT_FOUND). tansu says Empty."""
    group = unique_name("ghost")
    a = admin(kafka_bootstrap)
    desc = a.describe_consumer_groups([group])[group].result(timeout=WAIT)
    assert (desc.state, desc.members) == (ConsumerGroupState.EMPTY, [])
    assert desc.state != ConsumerGroupState.DEAD


def test_delete_group_with_only_offsets(kafka_bootstrap: str) -> None:
    topic = create_topic(kafka_bootstrap)
    group = unique_name("delete-me")
    commit(kafka_bootstrap, group, {(topic, 0): 0})
    a = admin(kafka_bootstrap)
    a.delete_consumer_groups([group])[group].result(timeout=WAIT)
    assert group not in list_group_ids(kafka_bootstrap)
    assert group_offsets(kafka_bootstrap, group) == {}


def test_tansu_gap_delete_unknown_group_succeeds(kafka_bootstrap: str) -> None:
    """Kafka's DeleteGroups answers GROUP_ID_NOT_FOUND (69) for a group it does not know
    (KIP-229). tansu answers success."""
    group = unique_name("never-there")
    a = admin(kafka_bootstrap)
    assert a.delete_consumer_groups([group])[group].result(timeout=WAIT) is None


# ==================================================================================
# A group with a live member: ONE subscribe() join for all the tests below
# ==================================================================================

# tansu completes the first join after about half the session timeout (23 s with
# librdkafka's default 45 s). 6 s is Kafka's group.min.session.timeout.ms, the lowest
# a real broker takes, so the same config works on both; here the join takes ~3 s.
LIVE_SESSION_TIMEOUT_MS = 6000


@dataclass
class LiveGroup:
    consumer: Consumer
    group: str
    topic: str
    member_id: str
    join_seconds: float
    listed_before_commit: bool


@pytest.fixture(scope="module")
def live_group(kafka_broker: TansuBroker) -> Iterator[LiveGroup]:
    bootstrap = kafka_broker.bootstrap
    topic = create_topic(bootstrap, partitions=2)
    for p in (0, 1):
        produce_each_flushed(bootstrap, topic, 2, partition=p)
    group = unique_name("live")
    assigned: list[list[TopicPartition]] = []
    with consumer(
        bootstrap,
        group,
        **{
            "client.id": "conformance-live",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": LIVE_SESSION_TIMEOUT_MS,
        },
    ) as c:
        started = time.monotonic()
        c.subscribe([topic], on_assign=lambda _c, parts: assigned.append(parts))
        fetch(c, 4, timeout=45)  # returns once joined, assigned, and every record read
        join_seconds = time.monotonic() - started
        assert sorted(tp.partition for tp in assigned[0]) == [0, 1]
        # An active group that never committed: is it listed? (read before any commit)
        listed = group in list_group_ids(bootstrap)
        # The member commits for itself, with its generation: allowed on Kafka too.
        for tp in c.commit(offsets=[TopicPartition(topic, 0, 2), TopicPartition(topic, 1, 2)], asynchronous=False):
            assert tp.error is None
        yield LiveGroup(c, group, topic, c.memberid(), join_seconds, listed)


# AdminClient.list_groups is deprecated, but it is confluent-kafka's only way to the
# classic DescribeGroups, which is what Kafka answers for a classic group.
@pytest.mark.filterwarnings("ignore:list_groups:DeprecationWarning")
def test_live_group_is_stable_with_its_member(kafka_bootstrap: str, live_group: LiveGroup) -> None:
    a = admin(kafka_bootstrap)
    desc = a.describe_consumer_groups([live_group.group])[live_group.group].result(timeout=WAIT)
    assert desc.state == ConsumerGroupState.STABLE
    (classic,) = a.list_groups(live_group.group, timeout=WAIT)
    assert (classic.state, classic.protocol_type) == ("Stable", "consumer")
    assert [m.id for m in classic.members] == [live_group.member_id]
    # Kafka's member id is client.id + "-" + a UUID; so is tansu's.
    assert live_group.member_id.startswith("conformance-live-")
    assert group_offsets(kafka_bootstrap, live_group.group) == {
        (live_group.topic, 0): (2, None),
        (live_group.topic, 1): (2, None),
    }


def test_tansu_gap_describe_live_group_has_no_members(kafka_bootstrap: str, live_group: LiveGroup) -> None:
    """Kafka (via the classic DescribeGroups that librdkafka falls back to) lists the
    member: client id "conformance-live", host "/127.0.0.1", both partitions assigned,
    assignor "range", type CLASSIC. Through ConsumerGroupDescribe tansu gives no members,
    type CONSUMER, and the member id where the assignor's name belongs."""
    a = admin(kafka_bootstrap)
    desc = a.describe_consumer_groups([live_group.group])[live_group.group].result(timeout=WAIT)
    assert desc.members == []
    assert desc.type == ConsumerGroupType.CONSUMER
    assert desc.partition_assignor == live_group.member_id


@pytest.mark.filterwarnings("ignore:list_groups:DeprecationWarning")
def test_tansu_gap_classic_describe_member_is_bare(kafka_bootstrap: str, live_group: LiveGroup) -> None:
    """Through the classic DescribeGroups (AdminClient.list_groups), Kafka gives the
    member's client id, client host, subscription metadata and assignment bytes, and the
    chosen protocol ("range"). tansu gives the member id only: the rest is empty."""
    a = admin(kafka_bootstrap)
    (classic,) = a.list_groups(live_group.group, timeout=WAIT)
    (member,) = classic.members
    assert (member.client_id, member.client_host, member.metadata, member.assignment) == ("", "", b"", b"")
    assert classic.protocol == ""


def test_tansu_gap_live_group_without_commits_not_listed(live_group: LiveGroup) -> None:
    """Kafka's ListGroups lists every group the coordinator has, a Stable one with a
    member included. tansu listed the live group only once it had committed offsets."""
    assert live_group.listed_before_commit is False


def test_alter_offsets_of_live_group_refused(kafka_bootstrap: str, live_group: LiveGroup) -> None:
    # Kafka refuses an OffsetCommit from outside the generation (the admin's) while the
    # group has members: UNKNOWN_MEMBER_ID per partition, and nothing changes. tansu agrees.
    tps = [TopicPartition(live_group.topic, 0, 0)]
    a = admin(kafka_bootstrap)
    r = a.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(live_group.group, tps)])[live_group.group].result(
        timeout=WAIT
    )
    (tp,) = r.topic_partitions
    assert tp.error is not None
    assert tp.error.code() == KafkaError.UNKNOWN_MEMBER_ID
    assert group_offsets(kafka_bootstrap, live_group.group)[(live_group.topic, 0)] == (2, None)


# Keep this the last test of the live group: it deletes it.
def test_tansu_gap_delete_live_group_succeeds(kafka_bootstrap: str, live_group: LiveGroup) -> None:
    """Kafka's DeleteGroups refuses a group with members: NON_EMPTY_GROUP (68, KIP-229).
    tansu deletes it, members, offsets and all."""
    a = admin(kafka_bootstrap)
    assert a.delete_consumer_groups([live_group.group])[live_group.group].result(timeout=WAIT) is None
    desc = a.describe_consumer_groups([live_group.group])[live_group.group].result(timeout=WAIT)
    assert (desc.state, desc.members) == (ConsumerGroupState.EMPTY, [])
    assert group_offsets(kafka_bootstrap, live_group.group) == {}


def test_tansu_gap_session_timeout_below_group_minimum(kafka_bootstrap: str) -> None:
    """Kafka refuses a JoinGroup whose session timeout is under
    group.min.session.timeout.ms (6000 by default): INVALID_SESSION_TIMEOUT (26).
    tansu lets a 1000 ms member join (in about 1 s)."""
    topic = create_topic(kafka_bootstrap)
    produce_each_flushed(kafka_bootstrap, topic, 1)
    with consumer(
        kafka_bootstrap,
        unique_name("short-session"),
        **{"session.timeout.ms": 1000, "heartbeat.interval.ms": 300, "auto.offset.reset": "earliest"},
    ) as c:
        c.subscribe([topic])
        assert [m.offset() for m in fetch(c, 1)] == [0]


# ==================================================================================
# __consumer_offsets, DeleteRecords, crash and restart: each on a broker of its own
# ==================================================================================


def test_tansu_gap_no_consumer_offsets_topic(isolated_kafka_broker: TansuBroker) -> None:
    """On Kafka, commits are records of the internal topic __consumer_offsets
    (offsets.topic.num.partitions, default 50), readable with assign(); their keys and
    values are what logcore.offsets_codec.decode_key / decode_offset_value read. tansu
    keeps offsets elsewhere: the topic does not exist; a Metadata request allowed to
    auto-create makes an ordinary, empty 4-partition topic of that name, which commits
    never reach. If tansu starts writing commits there, decode them with offsets_codec."""
    bootstrap = isolated_kafka_broker.bootstrap
    topic = create_topic(bootstrap)
    commit(bootstrap, unique_name("g"), {(topic, 0): 0})
    a = admin(bootstrap)
    assert "__consumer_offsets" not in a.list_topics(timeout=WAIT).topics
    with consumer(bootstrap) as c:
        md = c.list_topics("__consumer_offsets", timeout=WAIT)
        assert md.topics["__consumer_offsets"].error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART

    md = a.list_topics("__consumer_offsets", timeout=WAIT)  # the admin handle may auto-create
    assert len(md.topics["__consumer_offsets"].partitions) == 4
    desc = a.describe_topics(TopicCollection(["__consumer_offsets"]))["__consumer_offsets"].result(timeout=WAIT)
    assert desc.is_internal is False
    commit(bootstrap, unique_name("g"), {(topic, 0): 0})
    assert [latest(bootstrap, "__consumer_offsets", p).offset for p in range(4)] == [0, 0, 0, 0]


def test_tansu_gap_delete_records_panics(isolated_kafka_broker: TansuBroker) -> None:
    """Kafka's DeleteRecords (KIP-107) moves the log start offset: EARLIEST becomes 2.
    tansu advertises DeleteRecords but its memory engine panics ("not yet implemented"):
    the connection drops, the records stay, the broker process lives on."""
    bootstrap = isolated_kafka_broker.bootstrap
    topic = create_topic(bootstrap)
    produce_each_flushed(bootstrap, topic, 3)
    a = admin(bootstrap)
    with pytest.raises(KafkaException) as excinfo:
        a.delete_records([TopicPartition(topic, 0, 2)])[TopicPartition(topic, 0)].result(timeout=WAIT)
    assert kafka_error(excinfo).code() == KafkaError._TRANSPORT
    assert "not yet implemented" in isolated_kafka_broker.log_tail(5000)
    assert isolated_kafka_broker.is_running
    assert latest(bootstrap, topic, spec=OffsetSpec.earliest()).offset == 0


def test_clients_recover_after_kill_and_restart(isolated_kafka_broker: TansuBroker) -> None:
    broker = isolated_kafka_broker
    bootstrap = broker.bootstrap
    topic = create_topic(bootstrap)
    a = admin(bootstrap)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    p.produce(topic, b"before", partition=0)
    assert p.flush(WAIT) == 0

    broker.kill()
    assert not broker.is_running
    broker.restart()
    assert broker.bootstrap == bootstrap  # same port: clients keep their address

    # The clients made before the crash reconnect by themselves.
    a.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(timeout=WAIT)
    delivered: list[Message] = []
    p.produce(topic, b"after", partition=0, on_delivery=_collect(delivered))
    assert p.flush(WAIT) == 0
    assert [m.offset() for m in delivered] == [0]


def test_tansu_gap_restart_loses_everything(isolated_kafka_broker: TansuBroker) -> None:
    """Kafka keeps topics, records and committed offsets across a restart (they are on
    disk). tansu with memory:// storage (the only storage allowed here) starts empty."""
    broker = isolated_kafka_broker
    bootstrap = broker.bootstrap
    topic = create_topic(bootstrap)
    produce_each_flushed(bootstrap, topic, 2)
    group = unique_name("lost")
    commit(bootstrap, group, {(topic, 0): 2})

    broker.kill()
    broker.restart()
    a = admin(bootstrap)
    assert topic not in a.list_topics(timeout=WAIT).topics
    assert group not in list_group_ids(bootstrap)
    assert group_offsets(bootstrap, group) == {}
