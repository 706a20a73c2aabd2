"""logcore.kafka_cluster against a real Kafka-protocol broker (tansu): the Cluster interface.

Each test makes its own topic and group names, so the one broker of the session is
shared without resets. Where tansu departs from Apache Kafka (docs/tansu.md) the test
checks what the backend does with the broker's answer, never a broker bug.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from logcore import errors
from logcore.admin import RestorePoints, Scenario, Scope, execute_reset, plan_reset, undo_reset
from logcore.events import Event, OffsetsCommitted, RecordsAppended
from logcore.kafka_cluster import KafkaCluster
from logcore.kafka_config import KafkaClusterConfig
from logcore.kafka_watch import KafkaWatcher
from logcore.partitioner import partition_for_key

pytestmark = [pytest.mark.kafka, pytest.mark.integration]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class _Listener:
    """logcore's own Kafka listener (logcore.kafka_server) over an embedded engine."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap


@pytest.fixture(scope="module")
def listener_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Listener]:
    import threading

    from logcore import EmbeddedCluster
    from logcore.kafka_server import KafkaListener

    engine = EmbeddedCluster(tmp_path_factory.mktemp("listener"), initial_rebalance_delay_ms=0)
    listener = KafkaListener(engine, threading.RLock(), "127.0.0.1", 0)
    listener.start()
    yield _Listener(f"127.0.0.1:{listener.port}")
    listener.stop()
    engine.close()


@pytest.fixture(params=["tansu", "listener"])
def broker(request: pytest.FixtureRequest) -> Any:
    """The same backend tests against tansu and against logcore's Kafka listener."""
    return request.getfixturevalue("kafka_broker" if request.param == "tansu" else "listener_broker")


@pytest.fixture
def cluster(broker: Any) -> Iterator[KafkaCluster]:
    c = KafkaCluster(KafkaClusterConfig("t", broker.bootstrap, timeout_s=10))
    yield c
    c.close()


def seeded(c: KafkaCluster, partitions: int = 2, per_partition: int = 10) -> str:
    topic = unique("orders")
    c.create_topic(topic, partitions)
    for p in range(partitions):
        for i in range(per_partition):
            # KafkaCluster.produce flushes each record: one record per batch, which is
            # also what tansu needs for a right high watermark (docs/tansu.md).
            c.produce(topic, f"v{i}".encode(), key=f"k{i}".encode(), partition=p)
    return topic


def test_topics_create_describe_list_delete(cluster: KafkaCluster) -> None:
    topic = unique("t")
    desc = cluster.create_topic(topic, 3)
    assert [p.partition for p in desc.partitions] == [0, 1, 2]
    assert topic in cluster.list_topics()
    assert cluster.describe_topic(topic).partitions[0].high_watermark == 0
    with pytest.raises(errors.TopicAlreadyExists):
        cluster.create_topic(topic, 1)
    with pytest.raises(errors.InvalidTopic, match="illegal|cannot|invalid|can't"):
        cluster.create_topic("bad name!", 1)
    cluster.delete_topic(topic)
    deadline = time.monotonic() + 10
    while topic in cluster.list_topics() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert topic not in cluster.list_topics()
    with pytest.raises(errors.UnknownTopicOrPartition):
        cluster.describe_topic(topic)


def test_add_partitions_says_what_failed(cluster: KafkaCluster) -> None:
    topic = unique("t")
    cluster.create_topic(topic, 1)
    with pytest.raises(errors.InvalidPartitions, match="higher than the requested"):
        cluster.add_partitions(topic, 0)
    refusal = ""
    try:
        desc = cluster.add_partitions(topic, 3)
    except errors.UnsupportedVersion as e:
        # tansu answers CreatePartitions as unsupported (docs/tansu.md): the message says which.
        refusal = str(e)
    else:
        assert len(desc.partitions) == 3
    assert not refusal or "CreatePartitions" in refusal


def test_produce_places_keys_like_the_java_client_and_reads_back(cluster: KafkaCluster) -> None:
    topic = unique("keys")
    cluster.create_topic(topic, 7)
    for i in range(40):
        key = f"customer-{i}".encode()
        partition, offset = cluster.produce(topic, b"x", key=key, headers=[("trace", b"1"), ("empty", None)])
        assert partition == partition_for_key(key, 7)
        assert offset >= 0
    total = sum(p.high_watermark for p in cluster.describe_topic(topic).partitions)
    assert total == 40
    p0 = partition_for_key(b"customer-0", 7)
    records = cluster.read(topic, p0, 0, 100)
    assert records[0].key == b"customer-0"
    assert ("trace", b"1") in records[0].headers
    assert [r.offset for r in records] == list(range(len(records)))


def test_produce_many_sends_a_burst_and_waits_once(cluster: KafkaCluster, broker: Any) -> None:
    from logcore import ProduceRecord

    topic = unique("burst")
    cluster.create_topic(topic, 3)
    records = [ProduceRecord(b"v%d" % i, key=b"k%d" % i) for i in range(30)]
    records.append(ProduceRecord(b"pinned", partition=2, headers=(("h", b"1"),)))
    placed = cluster.produce_many(topic, records)
    assert [p for p, _ in placed[:30]] == [partition_for_key(b"k%d" % i, 3) for i in range(30)]
    assert placed[30][0] == 2
    for p in range(3):
        offsets = [o for q, o in placed if q == p]
        assert offsets == list(range(len(offsets)))  # in the order given, no gaps
    # tansu counts a batch of several records as one offset in its high watermark and
    # answers no fetch from inside one (tansu gaps); Kafka's semantics: the listener.
    if isinstance(broker, _Listener):
        for p in range(3):
            assert cluster.watermarks(topic, p)[1] == len([o for q, o in placed if q == p])
        got = cluster.read(topic, 2, 0, 100)
        assert [r.offset for r in got] == [o for q, o in placed if q == 2]
        assert got[-1].value == b"pinned" and ("h", b"1") in got[-1].headers


def test_read_range_rules(cluster: KafkaCluster) -> None:
    topic = seeded(cluster, 1, 5)
    assert cluster.watermarks(topic, 0) == (0, 5)
    assert [r.value for r in cluster.read(topic, 0, 3, 10)] == [b"v3", b"v4"]
    assert cluster.read(topic, 0, 5) == []  # at the HW: nothing, no error
    with pytest.raises(errors.OffsetOutOfRange, match="valid offsets are 0 to 5"):
        cluster.read(topic, 0, 6)
    assert cluster.read(topic, 0, 0, 2)[-1].offset == 1
    null_offset = cluster.produce(topic, None, key=b"gone", partition=0)[1]
    assert cluster.read(topic, 0, null_offset)[0].value is None


def test_offset_for_timestamp_special_values_and_record_time(cluster: KafkaCluster) -> None:
    topic = unique("times")
    cluster.create_topic(topic, 1)
    for i in range(5):
        cluster.produce(topic, b"x", partition=0, timestamp=1_000_000 + i * 1000)
    assert cluster.offset_for_timestamp(topic, 0, -2) == 0  # earliest: the log start
    assert cluster.offset_for_timestamp(topic, 0, -1) == 5  # latest: the HW
    assert cluster.timestamp_at(topic, 0, 4) == 1_004_000
    with pytest.raises(errors.UnknownTopicOrPartition):
        cluster.offset_for_timestamp(unique("missing"), 0, 1_000_000)


def test_tansu_gap_list_offsets_by_timestamp_ignores_the_timestamp(cluster: KafkaCluster, broker: Any) -> None:
    """Kafka answers ListOffsets(T) with the first offset whose timestamp >= T, or -1
    (none) past the newest record (KIP-79). tansu 0.6 answers offset 0 for any T, so
    --to-datetime and --by-duration resets cannot be checked against it; logcore's
    planning of them is tested on the embedded engine (tests/web/test_reset_flow.py).
    logcore's own listener answers as Kafka does."""
    topic = unique("times")
    cluster.create_topic(topic, 1)
    for i in range(5):
        cluster.produce(topic, b"x", partition=0, timestamp=1_000_000 + i * 1000)
    kafka = isinstance(broker, _Listener)
    assert cluster.offset_for_timestamp(topic, 0, 1_002_000) == (2 if kafka else 0)
    assert cluster.offset_for_timestamp(topic, 0, 9_999_999_999) == (None if kafka else 0)


def test_commit_describe_and_lag(cluster: KafkaCluster) -> None:
    topic = seeded(cluster)
    group = unique("billing")
    cluster.commit_offsets(group, {(topic, 0): 4, (topic, 1): 10})
    assert {tp: om.offset for tp, om in cluster.committed_offsets(group).items()} == {(topic, 0): 4, (topic, 1): 10}
    desc = cluster.describe_group(group)
    assert desc.state == "Empty"
    rows = {(p.topic, p.partition): (p.committed, p.high_watermark, p.lag) for p in desc.offsets}
    assert rows == {(topic, 0): (4, 10, 6), (topic, 1): (10, 10, 0)}
    assert group in {g.group_id for g in cluster.list_groups()}
    many = cluster.describe_groups([group])
    assert many[0].offsets == desc.offsets


def test_unknown_group_does_not_exist(cluster: KafkaCluster) -> None:
    with pytest.raises(errors.GroupIdNotFound, match="does not exist"):
        cluster.describe_group(unique("nobody"))


def test_delete_group_and_offsets(cluster: KafkaCluster) -> None:
    topic = seeded(cluster, 1, 3)
    group = unique("old")
    cluster.commit_offsets(group, {(topic, 0): 2})
    with pytest.raises(errors.UnsupportedVersion, match="OffsetDelete"):
        cluster.delete_offsets(group, [(topic, 0)])
    assert cluster.committed_offsets(group)  # the refusal changed nothing
    cluster.delete_group(group)
    assert cluster.committed_offsets(group) == {}


SCENARIOS: list[tuple[Scenario, dict[int, int]]] = [
    (Scenario("to-earliest"), {0: 0, 1: 0}),
    (Scenario("to-latest"), {0: 10, 1: 10}),
    (Scenario("to-current"), {0: 6, 1: 3}),
    (Scenario("to-offset", 4), {0: 4, 1: 4}),
    (Scenario("shift-by", -2), {0: 4, 1: 1}),
    (Scenario("shift-by", 100), {0: 10, 1: 10}),  # clamped to the HW
]


@pytest.mark.parametrize(("scenario", "expected"), SCENARIOS, ids=[f"{s.kind}{s.value}" for s, _ in SCENARIOS])
def test_every_reset_scenario_executes_and_reads_back(
    cluster: KafkaCluster, tmp_path: Any, scenario: Scenario, expected: dict[int, int]
) -> None:
    topic = seeded(cluster)
    group = unique("reset")
    cluster.commit_offsets(group, {(topic, 0): 6, (topic, 1): 3})
    points = RestorePoints(tmp_path / "points.json")
    plan = plan_reset(cluster, group, scenario, Scope(all_topics=True), now_ms=int(time.time() * 1000))
    assert {r.partition: r.after for r in plan.rows} == expected
    verified = execute_reset(cluster, plan, points)
    assert verified.ok, verified.mismatches
    assert {tp[1]: om.offset for tp, om in cluster.committed_offsets(group).items()} == expected
    undo_reset(cluster, group, points)
    assert {tp[1]: om.offset for tp, om in cluster.committed_offsets(group).items()} == {0: 6, 1: 3}


def test_reset_from_file(cluster: KafkaCluster, tmp_path: Any) -> None:
    topic = unique("dt")
    cluster.create_topic(topic, 1)
    for _ in range(6):
        cluster.produce(topic, b"x", partition=0)
    group = unique("g")
    cluster.commit_offsets(group, {(topic, 0): 5})
    plan = plan_reset(cluster, group, Scenario("from-file", f"{topic},0,1\n"), Scope(all_topics=True), now_ms=0)
    execute_reset(cluster, plan, RestorePoints(tmp_path / "p.json"))
    assert cluster.committed_offsets(group)[(topic, 0)].offset == 1


def test_watcher_turns_outside_changes_into_events(cluster: KafkaCluster, broker: Any) -> None:
    topic = seeded(cluster, 1, 2)
    group = unique("watched")
    cluster.commit_offsets(group, {(topic, 0): 1})
    seen: list[Event] = []
    cluster.events.subscribe(seen.append)
    watcher = KafkaWatcher(cluster, interval_s=60, tail=False)
    watcher.round()  # the base: nothing to compare with yet
    # Changes made by another client, as a team's own consumers would make them.
    other = KafkaCluster(KafkaClusterConfig("other", broker.bootstrap))
    try:
        other.produce(topic, b"new", partition=0)
        other.commit_offsets(group, {(topic, 0): 2})
    finally:
        other.close()
    seen.clear()
    events = watcher.round()
    assert RecordsAppended(topic=topic, partition=0, base_offset=2, last_offset=2, high_watermark=3) in events
    assert OffsetsCommitted(group=group, offsets=((topic, 0, 2),)) in events
    assert [e for e in seen if e in events] == events  # published on the cluster's bus


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_cluster_fails_fast_with_one_clear_error() -> None:
    c = KafkaCluster(KafkaClusterConfig("gone", f"127.0.0.1:{free_port()}", timeout_s=2))
    try:
        with pytest.raises(errors.ClusterUnreachable, match="did not answer|unreachable"):
            c.list_topics()
        assert not c.reachability.reachable
        assert c.reachability.since_ms is not None
        # The next call does not wait out the timeout again: it says since when.
        with pytest.raises(errors.ClusterUnreachable, match="unreachable since"):
            c.list_groups()
    finally:
        c.close()


def test_secrets_never_in_repr_or_errors() -> None:
    config = KafkaClusterConfig(
        "secure",
        "127.0.0.1:1",
        {
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN",
            "sasl.username": "u",
            "sasl.password": "s3cr3t",
        },
        timeout_s=1,
    )
    assert "s3cr3t" not in repr(config)
    assert "s3cr3t" not in str(config.describe())
    c = KafkaCluster(config)
    try:
        with pytest.raises(errors.KafkaError) as failure:
            c.list_topics()
        assert "s3cr3t" not in str(failure.value)
        assert "s3cr3t" not in repr(c)
    finally:
        c.close()


def test_group_offsets_is_the_describe_table_without_members(cluster: KafkaCluster) -> None:
    topic = seeded(cluster)
    a, b = unique("a"), unique("b")
    cluster.commit_offsets(a, {(topic, 0): 4, (topic, 1): 10})
    cluster.commit_offsets(b, {(topic, 1): 2})
    got = cluster.group_offsets([a, b, unique("nobody")])
    assert set(got) == {a, b}
    for gid in (a, b):
        want = [
            (p.topic, p.partition, p.committed, p.high_watermark, p.lag) for p in cluster.describe_group(gid).offsets
        ]
        assert [(p.topic, p.partition, p.committed, p.high_watermark, p.lag) for p in got[gid]] == want


def test_timestamps_at_in_one_batch(cluster: KafkaCluster) -> None:
    topic = unique("ts")
    cluster.create_topic(topic, 2)
    for p in range(2):
        for i in range(4):
            cluster.produce(topic, b"x", partition=p, timestamp=1_000_000 + p * 100 + i)
    keys = [(topic, 0, 1), (topic, 0, 3), (topic, 1, 0), (topic, 1, 4), (unique("gone"), 0, 0)]
    got = cluster.timestamps_at(keys)
    assert got == {
        (topic, 0, 1): 1_000_001,
        (topic, 0, 3): 1_000_003,  # the same partition twice: two rounds
        (topic, 1, 0): 1_000_100,
        (topic, 1, 4): None,  # at the HW: no record
        keys[-1]: None,  # no such topic
    }
    assert cluster.timestamp_at(topic, 1, 2) == 1_000_102
