"""logcore against Kafka's rules (docs/logcore.md), rule by rule; each test is named after its section (s1-s7).

Rules already pinned elsewhere are not repeated here: murmur2's vectors
(test_partitioner.py), the range/roundrobin/cooperative-sticky examples
(test_assignors.py), the exact record bytes of every layout (test_offsets_codec.py),
segment rolls, indexes and retention (test_partition.py), Burrow's rules one by one
and lag in time (test_lag.py). What is here: the rules that had no test, and the
places where logcore used to differ from Kafka (each fixed with the test first).
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from logcore import ManualClock
from logcore import offsets_codec as codec
from logcore.admin import Scenario, Scope, parse_datetime, plan_reset
from logcore.cluster import EmbeddedCluster
from logcore.config import TopicConfig
from logcore.consumer import Consumer
from logcore.errors import (
    GroupIdNotFound,
    GroupSubscribedToTopic,
    IllegalGeneration,
    IllegalState,
    InvalidRequest,
    KafkaError,
    NonEmptyGroup,
    NoOffsetForPartition,
    OffsetMetadataTooLarge,
    OffsetOutOfRange,
    RebalanceInProgress,
    UnknownMemberId,
)
from logcore.events import OffsetsCommitted
from logcore.groups import (
    GROUP_INITIAL_REBALANCE_DELAY_MS,
    OFFSET_METADATA_MAX_BYTES,
    OFFSETS_RETENTION_MS,
    Group,
    GroupCoordinator,
    GroupState,
    OffsetAndMetadata,
    OffsetsLog,
)
from logcore.java_hash import java_string_hashcode, partition_for_group
from logcore.lag import CommitSample, PartitionHealth, evaluate_group, evaluate_partition, lag_messages
from logcore.offsets_store import OFFSETS_TOPIC
from logcore.partitioner import murmur2, to_positive

T0 = 1_700_000_000_000
MINUTE = 60_000


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def cluster(tmp_path: Path, clock: ManualClock):
    c = EmbeddedCluster(tmp_path / "data", clock=clock, initial_rebalance_delay_ms=0)
    yield c
    c.close()


@pytest.fixture
def coord(clock: ManualClock) -> GroupCoordinator:
    return GroupCoordinator(OffsetsLog(), clock=clock, initial_rebalance_delay_ms=0)


def consumer_protocols(*topics: str) -> list[tuple[str, bytes]]:
    return [("range", codec.encode_subscription(codec.ConsumerSubscription(list(topics))))]


def form(
    coord: GroupCoordinator,
    group: str = "g",
    n: int = 1,
    protocols: list[tuple[str, bytes]] | None = None,
    protocol_type: str = "consumer",
) -> tuple[list[str], int]:
    """A Stable group of ``n`` members; returns their ids and the generation."""
    protos = protocols or consumer_protocols("t")
    ids = [
        coord.join_group(group, protocols=protos, client_id=f"c{i}", protocol_type=protocol_type).member_id
        for i in range(n)
    ]
    joins = [coord.join_group(group, m, protocols=protos, protocol_type=protocol_type) for m in ids]
    gen = joins[0].generation
    leader = joins[0].leader
    assert leader is not None
    coord.sync_group(group, leader, gen, {m: b"" for m in ids})
    for m in ids:
        coord.sync_group(group, m, gen)
    assert coord.describe(group).state is GroupState.STABLE
    return ids, gen


def offsets(cluster: EmbeddedCluster, group: str) -> dict[tuple[str, int], int]:
    return {tp: om.offset for tp, om in cluster.committed_offsets(group).items()}


# --- 1. The log of one partition ---------------------------------------------------


def test_s1_first_record_of_an_append_gets_the_log_end_offset(cluster: EmbeddedCluster) -> None:
    cluster.create_topic("t", 1)
    log = cluster.logs.partition("t", 0)
    log.append(None, b"a")
    base = log.append_batch([(None, b"b"), (None, b"c"), (None, b"d")])
    assert base == 1 and log.log_end_offset == 4
    assert [r.offset for r in cluster.read("t", 0, 0)] == [0, 1, 2, 3]


def test_s1_log_start_offset_only_grows(cluster: EmbeddedCluster) -> None:
    cluster.create_topic("t", 1)
    log = cluster.logs.partition("t", 0)
    for i in range(10):
        log.append(None, b"%d" % i)
    assert log.delete_records(6) == 6
    assert log.delete_records(3) == 6  # asking for less never moves it back
    assert cluster.watermarks("t", 0) == (6, 10)


def test_s1_latest_log_end_offset_and_lag_all_use_the_high_watermark(cluster: EmbeddedCluster) -> None:
    cluster.create_topic("t", 1)
    for _ in range(5):
        cluster.produce("t", b"x", partition=0)
    log = cluster.logs.partition("t", 0)
    assert log.high_watermark == log.log_end_offset == 5  # one replica: equal, two names
    assert cluster.offset_for_timestamp("t", 0, -1) == log.high_watermark
    cluster.commit_offsets("g", {("t", 0): 2})
    row = cluster.describe_group("g").offsets[0]
    assert row.high_watermark == 5 and row.lag == 3


def test_s1_fetch_outside_the_log_names_the_valid_range_and_at_the_end_returns_nothing(
    cluster: EmbeddedCluster,
) -> None:
    cluster.create_topic("t", 1)
    for _ in range(3):
        cluster.produce("t", b"x", partition=0)
    assert cluster.read("t", 0, 3) == []
    with pytest.raises(OffsetOutOfRange, match="valid offsets are 0 to 3") as e:
        cluster.read("t", 0, 4)
    assert (e.value.offset, e.value.log_start, e.value.log_end) == (4, 0, 3)


def test_s1_out_of_range_with_reset_none_raises_offset_out_of_range(cluster: EmbeddedCluster) -> None:
    # Kafka's consumer raises OffsetOutOfRangeException here (NoOffsetForPartition is
    # only for "nothing committed"); logcore used to raise NoOffsetForPartition for both.
    cluster.create_topic("t", 1)
    for _ in range(10):
        cluster.produce("t", b"x", partition=0)
    cluster.logs.partition("t", 0).delete_records(5)
    c = Consumer(cluster, "g", auto_offset_reset="none", enable_auto_commit=False)
    c.assign([("t", 0)])
    c.seek(("t", 0), 2)
    with pytest.raises(OffsetOutOfRange, match="out of range") as e:
        c.poll()
    assert not isinstance(e.value, NoOffsetForPartition)
    assert (e.value.log_start, e.value.log_end) == (5, 10)
    fresh = Consumer(cluster, "g2", auto_offset_reset="none")
    fresh.assign([("t", 0)])
    with pytest.raises(NoOffsetForPartition, match="Undefined offset with no reset policy"):
        fresh.poll()


def test_s1_reset_policies_pick_log_start_and_high_watermark(cluster: EmbeddedCluster) -> None:
    cluster.create_topic("t", 1)
    for _ in range(10):
        cluster.produce("t", b"x", partition=0)
    cluster.logs.partition("t", 0).delete_records(4)
    for policy, expected in (("earliest", 4), ("latest", 10)):
        c = Consumer(cluster, f"g-{policy}", auto_offset_reset=policy)
        c.assign([("t", 0)])
        assert c.position(("t", 0)) == expected
    assert Consumer(cluster, "g").auto_offset_reset == "latest"  # Kafka's default


def test_s1_offsets_for_timestamp_special_values_and_search(cluster: EmbeddedCluster) -> None:
    cluster.create_topic("t", 1)
    # Out-of-order timestamps: 100, 300, 200, 300, 150
    for ts in (100, 300, 200, 300, 150):
        cluster.produce("t", b"x", partition=0, timestamp=ts)
    assert cluster.offset_for_timestamp("t", 0, -2) == 0  # earliest: log start
    assert cluster.offset_for_timestamp("t", 0, -1) == 5  # latest: the HW
    assert cluster.offset_for_timestamp("t", 0, -3) == 1  # largest timestamp (first of equals)
    assert cluster.offset_for_timestamp("t", 0, 150) == 1  # smallest offset with ts >= 150
    assert cluster.offset_for_timestamp("t", 0, 250) == 1
    assert cluster.offset_for_timestamp("t", 0, 301) is None  # no record that new
    cluster.logs.partition("t", 0).delete_records(2)
    assert cluster.offset_for_timestamp("t", 0, -2) == 2
    assert cluster.offset_for_timestamp("t", 0, 150) == 2  # never below the log start
    assert cluster.offset_for_timestamp("t", 0, -3) == 3


def test_s1_topic_defaults_are_kafkas() -> None:
    cfg = TopicConfig()
    assert cfg.segment_bytes == 1024**3
    assert cfg.segment_ms == 7 * 24 * 3600 * 1000
    assert cfg.retention_ms == 7 * 24 * 3600 * 1000
    assert cfg.retention_bytes == -1
    assert cfg.index_interval_bytes == 4096
    assert cfg.delete_retention_ms == 24 * 3600 * 1000
    assert cfg.cleanup_policy == ("delete",)


def test_s1_compaction_keeps_the_last_record_per_key_and_its_offset(
    cluster: EmbeddedCluster, clock: ManualClock
) -> None:
    cluster.create_topic("c", 1, {"cleanup.policy": "compact", "segment.bytes": "200"})
    for i in range(12):
        cluster.produce("c", b"v%d" % i, key=b"k%d" % (i % 3), partition=0)
    cluster.logs.partition("c", 0).roll()
    cluster.logs.maintenance()
    kept = cluster.read("c", 0, 0)
    assert [(r.offset, r.key) for r in kept] == [(9, b"k0"), (10, b"k1"), (11, b"k2")]
    c = Consumer(cluster, "g", auto_offset_reset="earliest")
    c.assign([("c", 0)])
    assert [r.offset for r in c.poll()] == [9, 10, 11]  # the gaps are skipped
    assert c.position(("c", 0)) == 12


# --- 2. Producer partitioning --------------------------------------------------------


def test_s2_keyed_records_land_on_to_positive_murmur2_mod_n(cluster: EmbeddedCluster) -> None:
    cluster.create_topic("t", 7)
    for key in (b"21", b"foobar", b"a-little-bit-long-string", b"abc"):
        partition, _ = cluster.produce("t", b"v", key=key)
        assert partition == to_positive(murmur2(key)) % 7
    assert cluster.produce("t", b"v", key=b"foobar", partition=3)[0] == 3  # explicit wins


# --- 3. Consumer groups (classic protocol) -----------------------------------------

_ALLOWED = {
    GroupState.EMPTY: {GroupState.PREPARING_REBALANCE},
    GroupState.PREPARING_REBALANCE: {GroupState.STABLE, GroupState.COMPLETING_REBALANCE, GroupState.EMPTY},
    GroupState.COMPLETING_REBALANCE: {GroupState.PREPARING_REBALANCE},
    GroupState.STABLE: {GroupState.COMPLETING_REBALANCE},
    GroupState.DEAD: set(GroupState),
}


@pytest.mark.parametrize("source", list(GroupState))
@pytest.mark.parametrize("target", list(GroupState))
def test_s3_state_moves_are_exactly_kafkas(source: GroupState, target: GroupState) -> None:
    g = Group("g", state=source)
    if source in _ALLOWED[target]:
        g.transition_to(target, 5)
        assert g.state is target and g.state_timestamp == 5
    else:
        with pytest.raises(IllegalState):
            g.transition_to(target, 5)
        assert g.state is source


def test_s3_generation_member_ids_and_leader(clock: ManualClock) -> None:
    coord = GroupCoordinator(OffsetsLog(), clock=clock)  # the default 3 s initial delay
    protos = consumer_protocols("t")
    ids = [coord.join_group("g", protocols=protos, client_id=f"app{i}").member_id for i in range(3)]
    assert re.fullmatch(r"app0-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", ids[0])
    assert coord.describe("g").generation == 0  # starts at 0
    clock.advance(3000)
    joins = [coord.join_group("g", m, protocols=protos) for m in ids]
    assert {j.generation for j in joins} == {1}  # one completed rebalance: +1
    assert joins[0].leader == ids[0]  # the first to join leads
    coord.sync_group("g", ids[0], 1, {m: b"" for m in ids})
    coord.leave_group("g", ids[0])
    assert coord.describe("g").leader == ids[1]  # then the next one
    for m in ids[1:]:
        coord.join_group("g", m, protocols=protos)
    assert coord.describe("g").generation == 2
    coord.leave_group("g", ids[1])
    coord.leave_group("g", ids[2])
    g = coord.describe("g")
    assert g.state is GroupState.EMPTY and g.generation == 3  # emptying counts too


def test_s3_client_and_broker_defaults_are_kafkas(cluster: EmbeddedCluster) -> None:
    c = Consumer(cluster, "g")
    assert (c.session_timeout_ms, c.heartbeat_interval_ms, c.max_poll_interval_ms) == (45_000, 3000, 300_000)
    assert c.strategies == ("range", "cooperative-sticky")
    assert (c.enable_auto_commit, c.auto_commit_interval_ms) == (True, 5000)
    assert GROUP_INITIAL_REBALANCE_DELAY_MS == 3000
    assert GroupCoordinator(OffsetsLog()).initial_rebalance_delay_ms == 3000
    assert OFFSET_METADATA_MAX_BYTES == 4096
    assert OFFSETS_RETENTION_MS == 7 * 24 * 3600 * 1000


def test_s3_heartbeat_answers_by_state(coord: GroupCoordinator, clock: ManualClock) -> None:
    protos = consumer_protocols("t")
    ids, gen = form(coord, "g", 2)
    coord.heartbeat("g", ids[0], gen)  # Stable: fine
    with pytest.raises(IllegalGeneration):
        coord.heartbeat("g", ids[0], gen + 1)
    with pytest.raises(UnknownMemberId):
        coord.heartbeat("g", "stranger", gen)
    coord.join_group("g", protocols=protos, client_id="late")
    assert coord.describe("g").state is GroupState.PREPARING_REBALANCE
    with pytest.raises(RebalanceInProgress):
        coord.heartbeat("g", ids[0], gen)
    # Everyone rejoins: CompletingRebalance, heartbeats are fine again.
    for m in list(coord.describe("g").members):
        coord.join_group("g", m, protocols=protos)
    g = coord.describe("g")
    assert g.state is GroupState.COMPLETING_REBALANCE
    coord.heartbeat("g", ids[0], g.generation)


def test_s3_heartbeat_to_an_empty_group_is_unknown_member_id(coord: GroupCoordinator) -> None:
    ids, gen = form(coord, "g", 1)
    coord.commit_offsets("g", {("t", 0): 1}, member_id=ids[0], generation=gen)
    coord.leave_group("g", ids[0])
    assert coord.describe("g").state is GroupState.EMPTY
    with pytest.raises(UnknownMemberId):
        coord.heartbeat("g", ids[0], gen + 1)


def test_s3_member_requests_to_a_missing_group_are_unknown_member_id(coord: GroupCoordinator) -> None:
    # Kafka: "Group g not found." with UNKNOWN_MEMBER_ID for Heartbeat, SyncGroup and
    # LeaveGroup; logcore used to answer GROUP_ID_NOT_FOUND, which a consumer does not
    # treat as "rejoin".
    with pytest.raises(UnknownMemberId):
        coord.heartbeat("nope", "m-1", 1)
    with pytest.raises(UnknownMemberId):
        coord.sync_group("nope", "m-1", 1, {})
    with pytest.raises(UnknownMemberId):
        coord.leave_group("nope", "m-1")
    assert "nope" not in coord.groups


def test_s3_join_with_a_member_id_never_creates_the_group(coord: GroupCoordinator) -> None:
    with pytest.raises(UnknownMemberId):
        coord.join_group("nope", "m-1", protocols=consumer_protocols("t"))
    assert "nope" not in coord.groups  # a refused request changed nothing


def test_s3_an_empty_group_accepts_another_protocol_type(coord: GroupCoordinator) -> None:
    ids, _ = form(coord, "g", 1)
    coord.leave_group("g", ids[0])
    assert coord.describe("g").state is GroupState.EMPTY
    # ClassicGroup.supportsProtocols: in Empty only a non-empty type and list are needed.
    j = coord.join_group("g", protocols=[("assign", b"")], protocol_type="connect")
    assert coord.describe("g").protocol_type == "connect" and j.member_id


def test_s3_a_member_that_stops_polling_leaves(coord: GroupCoordinator, clock: ManualClock) -> None:
    protos = consumer_protocols("t")
    m = coord.join_group("g", protocols=protos, rebalance_timeout_ms=60_000).member_id
    coord.join_group("g", m, protocols=protos)
    coord.sync_group("g", m, 1, {m: b""})
    for _ in range(6):  # heartbeats keep the session, but no poll for 60 s
        clock.advance(10_000)
        coord.heartbeat("g", m, 1)
    clock.advance(10_000)
    with pytest.raises(UnknownMemberId):
        coord.heartbeat("g", m, 1)  # past max.poll.interval.ms: removed, must rejoin
    g = coord.describe("g")
    assert m not in g.members and g.state is GroupState.EMPTY


def test_s3_commit_generation_minus_one_needs_an_empty_or_missing_group(coord: GroupCoordinator) -> None:
    coord.commit_offsets("admin", {("t", 0): 3})
    g = coord.describe("admin")
    assert g.state is GroupState.EMPTY and g.is_simple  # created as a simple Empty group
    ids, _ = form(coord, "g", 1)
    with pytest.raises(UnknownMemberId):
        coord.commit_offsets("g", {("t", 0): 3})
    coord.leave_group("g", ids[0])
    coord.commit_offsets("g", {("t", 0): 3})
    assert coord.fetch_offsets("g")[("t", 0)].offset == 3  # type: ignore[union-attr]


def test_s3_commit_generation_minus_one_with_a_member_id_while_empty_is_accepted(coord: GroupCoordinator) -> None:
    # ClassicGroup.validateOffsetCommit returns early for generation < 0 in Empty,
    # whatever member id the request carries; logcore used to answer UNKNOWN_MEMBER_ID.
    ids, _ = form(coord, "g", 1)
    coord.leave_group("g", ids[0])
    coord.commit_offsets("g", {("t", 0): 4}, member_id=ids[0], generation=-1)
    assert coord.fetch_offsets("g")[("t", 0)].offset == 4  # type: ignore[union-attr]
    coord.commit_offsets("fresh", {("t", 0): 1}, member_id="someone", generation=-1)
    assert coord.describe("fresh").state is GroupState.EMPTY


def test_s3_commit_from_a_member_to_a_missing_group_is_group_id_not_found(coord: GroupCoordinator) -> None:
    with pytest.raises(GroupIdNotFound, match="not found"):
        coord.commit_offsets("gone", {("t", 0): 1}, member_id="m-1", generation=3)
    assert "gone" not in coord.groups


def test_s3_a_refused_commit_from_outside_creates_no_group(coord: GroupCoordinator) -> None:
    with pytest.raises(OffsetMetadataTooLarge):
        coord.commit_offsets("new", {("t", 0): (1, "x" * 4097)})
    assert "new" not in coord.groups


def test_s3_commit_from_a_member_of_the_wrong_generation_is_illegal_generation(
    coord: GroupCoordinator,
) -> None:
    ids, gen = form(coord, "g", 1)
    with pytest.raises(IllegalGeneration):
        coord.commit_offsets("g", {("t", 0): 1}, member_id=ids[0], generation=gen - 1)
    with pytest.raises(UnknownMemberId):
        coord.commit_offsets("g", {("t", 0): 1}, member_id="stranger", generation=gen)
    assert coord.fetch_offsets("g") == {}


def test_s3_commit_in_completing_rebalance_is_rebalance_in_progress(coord: GroupCoordinator) -> None:
    protos = consumer_protocols("t")
    ids, _ = form(coord, "g", 1)
    coord.join_group("g", ids[0], protocols=consumer_protocols("t", "u"))  # changed metadata: rebalance
    j = coord.join_group("g", ids[0], protocols=protos)
    assert coord.describe("g").state is GroupState.COMPLETING_REBALANCE
    with pytest.raises(RebalanceInProgress):
        coord.commit_offsets("g", {("t", 0): 1}, member_id=ids[0], generation=j.generation)
    assert coord.fetch_offsets("g") == {}


def test_s3_commit_in_preparing_rebalance_with_the_current_generation_is_accepted(
    coord: GroupCoordinator,
) -> None:
    ids, gen = form(coord, "g", 1)
    coord.join_group("g", protocols=consumer_protocols("t"), client_id="late")
    assert coord.describe("g").state is GroupState.PREPARING_REBALANCE
    coord.commit_offsets("g", {("t", 0): 7}, member_id=ids[0], generation=gen)
    assert coord.fetch_offsets("g")[("t", 0)].offset == 7  # type: ignore[union-attr]


def test_s3_group_checks_come_before_the_metadata_size(coord: GroupCoordinator) -> None:
    ids, gen = form(coord, "g", 1)
    with pytest.raises(IllegalGeneration):  # Kafka validates the group, then each partition
        coord.commit_offsets("g", {("t", 0): (1, "x" * 5000)}, member_id=ids[0], generation=gen + 5)


@pytest.mark.parametrize(
    ("metadata", "accepted"),
    [
        ("a" * 4096, True),
        ("a" * 4097, False),
        ("é" * 4096, True),  # 8192 UTF-8 bytes but 4096 Java chars: Kafka accepts it
        ("😀" * 2048, True),  # 4096 UTF-16 code units
        ("😀" * 2048 + "a", False),
    ],
)
def test_s3_metadata_limit_counts_java_string_length(coord: GroupCoordinator, metadata: str, accepted: bool) -> None:
    if accepted:
        coord.commit_offsets("g", {("t", 0): (1, metadata)})
        assert coord.fetch_offsets("g")[("t", 0)].metadata == metadata  # type: ignore[union-attr]
    else:
        with pytest.raises(OffsetMetadataTooLarge, match="offset.metadata.max.bytes"):
            coord.commit_offsets("g", {("t", 0): (1, metadata)})
        assert coord.fetch_offsets("g", [("t", 0)]) == {("t", 0): None}


def test_s3_a_refused_commit_writes_nothing(coord: GroupCoordinator) -> None:
    coord.commit_offsets("g", {("t", 0): 1})
    with pytest.raises(OffsetMetadataTooLarge):
        coord.commit_offsets("g", {("t", 1): 5, ("t", 2): (5, "x" * 4097)})
    # Kafka would commit t-1 and refuse t-2 (docs/logcore.md: a documented difference).
    assert set(coord.fetch_offsets("g")) == {("t", 0)}


def test_s3_offset_fetch_works_in_every_state_but_dead(coord: GroupCoordinator) -> None:
    protos = consumer_protocols("t")
    ids, gen = form(coord, "g", 1)
    coord.commit_offsets("g", {("t", 0): 5}, member_id=ids[0], generation=gen)

    def fetched() -> int | None:
        om = coord.fetch_offsets("g", [("t", 0), ("t", 1)])
        assert om[("t", 1)] is None  # nothing committed: Kafka's -1
        return None if om[("t", 0)] is None else om[("t", 0)].offset  # type: ignore[union-attr]

    assert fetched() == 5  # Stable
    coord.join_group("g", protocols=protos, client_id="late")
    assert coord.describe("g").state is GroupState.PREPARING_REBALANCE and fetched() == 5
    for m in list(coord.describe("g").members):
        coord.join_group("g", m, protocols=protos)
    assert coord.describe("g").state is GroupState.COMPLETING_REBALANCE and fetched() == 5
    for m in list(coord.describe("g").members):
        coord.leave_group("g", m)
    assert coord.describe("g").state is GroupState.EMPTY and fetched() == 5
    coord.delete_group("g")
    assert fetched() is None  # Dead: gone
    assert coord.fetch_offsets("never", [("t", 0)]) == {("t", 0): None}


# --- 4. __consumer_offsets ------------------------------------------------------------


def test_s4_group_partition_is_javas_abs_hash_mod_n(tmp_path: Path, clock: ManualClock) -> None:
    assert partition_for_group("testgroup", 50) == 27
    # "polygenelubricants".hashCode() is Integer.MIN_VALUE; Utils.abs maps it to 0.
    assert java_string_hashcode("polygenelubricants") == -(2**31)
    assert partition_for_group("polygenelubricants", 50) == 0
    with EmbeddedCluster(tmp_path / "d", clock=clock, offsets_partitions=50) as c:
        c.commit_offsets("testgroup", {("t", 0): 1})
        holding = [p for p in range(50) if c.watermarks(OFFSETS_TOPIC, p)[1] > 0]
        assert holding == [27]


def test_s4_offsets_topic_is_internal_and_compacted(cluster: EmbeddedCluster) -> None:
    d = cluster.describe_topic(OFFSETS_TOPIC)
    assert d.internal and d.config["cleanup.policy"] == "compact"
    assert OFFSETS_TOPIC not in cluster.list_topics(include_internal=False)


def _records(cluster: EmbeddedCluster, group: str) -> list[tuple[bytes | None, bytes | None]]:
    p = cluster.store.partition_for(group)
    return [(r.key, r.value) for r in cluster.read(OFFSETS_TOPIC, p, 0, 10_000)]


def test_s4_commit_record_is_kafkas_big_endian_layout(cluster: EmbeddedCluster, clock: ManualClock) -> None:
    cluster.commit_offsets("grp", {("tp", 3): OffsetAndMetadata(42, "md")})
    [(key, value)] = _records(cluster, "grp")
    # OffsetCommitKey v1: int16 version, string group, string topic, int32 partition.
    assert key == struct.pack(">h", 1) + b"\x00\x03grp" + b"\x00\x02tp" + struct.pack(">i", 3)
    # OffsetCommitValue v3: int16 version, int64 offset, int32 leader epoch, string
    # metadata, int64 commit timestamp.
    assert value == struct.pack(">hqi", 3, 42, -1) + b"\x00\x02md" + struct.pack(">q", T0)


def test_s4_commit_with_its_own_expire_time_is_value_v1_and_survives_a_restart(
    tmp_path: Path, clock: ManualClock
) -> None:
    # Kafka writes OffsetCommitValue v1 (the version with expireTimestamp) when a commit
    # carries its own retention; logcore used to write v3 and lose the expiry on restart.
    with EmbeddedCluster(tmp_path / "d", clock=clock) as c:
        c.commit_offsets("g", {("t", 0): OffsetAndMetadata(5, expire_timestamp=T0 + MINUTE)})
        [(_, value)] = _records(c, "g")
        assert value is not None and struct.unpack_from(">h", value)[0] == 1
        assert codec.decode_offset_value(value).expire_timestamp == T0 + MINUTE
    with EmbeddedCluster(tmp_path / "d", clock=clock) as c:
        assert c.committed_offsets("g")[("t", 0)].expire_timestamp == T0 + MINUTE
        clock.advance(MINUTE)
        c.coordinator.tick(force=True)
        assert c.committed_offsets("g") == {}  # expired by its own time, not 7 days


def test_s4_group_metadata_record_is_key_v2_value_v3(cluster: EmbeddedCluster, clock: ManualClock) -> None:
    cluster.create_topic("t", 1)
    c = Consumer(cluster, "grp", client_id="app")
    c.subscribe(["t"])
    for _ in range(3):
        c.poll()
    assert cluster.describe_group("grp").state == "Stable"
    metas = [(k, v) for k, v in _records(cluster, "grp") if k is not None and struct.unpack_from(">h", k)[0] == 2]
    key, value = metas[-1]
    assert key == struct.pack(">h", 2) + b"\x00\x03grp"
    assert value is not None and value[:2] == struct.pack(">h", 3)
    v = codec.decode_group_value(value)
    assert (v.protocol_type, v.generation, v.protocol, v.leader) == ("consumer", 1, "range", c.member_id)
    assert [m.member_id for m in v.members] == [c.member_id]
    assert codec.decode_assignment(v.members[0].assignment).partitions == (("t", 0),)


def test_s4_deletes_are_tombstones_and_replay_honours_them(tmp_path: Path, clock: ManualClock) -> None:
    with EmbeddedCluster(tmp_path / "d", clock=clock) as c:
        c.commit_offsets("a", {("t", 0): 1, ("t", 1): 2})
        c.commit_offsets("a", {("t", 0): 3})  # the last value wins on replay
        c.delete_offsets("a", [("t", 1)])
        c.commit_offsets("b", {("t", 0): 9})
        c.delete_group("b")
        tombstones = [k for k, v in _records(c, "a") + _records(c, "b") if v is None]
        assert codec.encode_key(codec.OffsetCommitKey("a", "t", 1)) in tombstones
        assert codec.encode_key(codec.OffsetCommitKey("b", "t", 0)) in tombstones
        assert codec.encode_key(codec.GroupMetadataKey("b")) in tombstones
    with EmbeddedCluster(tmp_path / "d", clock=clock) as c:
        assert offsets(c, "a") == {("t", 0): 3}
        assert [g.group_id for g in c.list_groups()] == ["a"]


def test_s4_replayed_groups_with_members_are_stable_until_they_expire(tmp_path: Path, clock: ManualClock) -> None:
    with EmbeddedCluster(tmp_path / "d", clock=clock, initial_rebalance_delay_ms=0) as c:
        c.create_topic("t", 1)
        consumer = Consumer(c, "busy")
        consumer.subscribe(["t"])
        for _ in range(3):
            consumer.poll()
        c.commit_offsets("idle", {("t", 0): 0})
        gen = c.describe_group("busy").generation
    with EmbeddedCluster(tmp_path / "d", clock=clock) as c:
        assert c.describe_group("busy").state == "Stable"
        assert c.describe_group("idle").state == "Empty"
        clock.advance(45_001)  # no heartbeat within session.timeout.ms
        c.coordinator.tick(force=True)
        g = c.describe_group("busy")
        assert g.state == "Empty" and not g.members and g.generation == gen + 1


def test_s4_kip211_offsets_of_an_active_group_never_expire(clock: ManualClock) -> None:
    coord = GroupCoordinator(OffsetsLog(), clock=clock, initial_rebalance_delay_ms=0, offsets_retention_ms=MINUTE)
    ids, gen = form(coord, "g", 1)
    coord.commit_offsets("g", {("t", 0): 1}, member_id=ids[0], generation=gen)
    for _ in range(30):
        clock.advance(10_000)
        coord.heartbeat("g", ids[0], gen, polled=True)
    assert coord.fetch_offsets("g")[("t", 0)] is not None


def test_s4_kip211_retention_counts_from_when_the_group_became_empty(clock: ManualClock) -> None:
    coord = GroupCoordinator(OffsetsLog(), clock=clock, initial_rebalance_delay_ms=0, offsets_retention_ms=MINUTE)
    ids, gen = form(coord, "g", 1)
    coord.commit_offsets("g", {("t", 0): 1}, member_id=ids[0], generation=gen)
    for _ in range(12):  # active for two minutes after the commit
        clock.advance(10_000)
        coord.heartbeat("g", ids[0], gen, polled=True)
    coord.leave_group("g", ids[0])
    empty_at = clock.now_ms()
    clock.advance(MINUTE - 1)
    coord.tick(force=True)
    assert coord.fetch_offsets("g")[("t", 0)] is not None
    # An admin commit to the Empty group does not restart the clock (Kafka counts from
    # the state timestamp, not from this commit); logcore used to take the later of both.
    coord.commit_offsets("g", {("t", 1): 1})
    clock.set(empty_at + MINUTE)
    coord.tick(force=True)
    assert coord.fetch_offsets("g") == {}
    with pytest.raises(GroupIdNotFound):
        coord.describe("g")  # the last offset expired: the group is deleted


def test_s4_kip211_simple_group_offsets_expire_from_their_commit_time(clock: ManualClock) -> None:
    coord = GroupCoordinator(OffsetsLog(), clock=clock, offsets_retention_ms=MINUTE)
    coord.commit_offsets("s", {("t", 0): 1})
    clock.advance(30_000)
    coord.commit_offsets("s", {("t", 1): 1})
    clock.advance(30_000)
    coord.tick(force=True)
    assert set(coord.fetch_offsets("s")) == {("t", 1)}  # each offset on its own clock
    clock.advance(30_000)
    coord.tick(force=True)
    assert "s" not in coord.groups


def test_s4_kip496_offsets_of_topics_no_longer_subscribed_expire(clock: ManualClock) -> None:
    # A Stable consumer group keeps the offsets of its subscribed topics forever, but
    # those of a topic it stopped reading expire retention after their commit.
    coord = GroupCoordinator(OffsetsLog(), clock=clock, initial_rebalance_delay_ms=0, offsets_retention_ms=MINUTE)
    ids, gen = form(coord, "g", 1, protocols=consumer_protocols("t"))
    coord.commit_offsets("g", {("t", 0): 1, ("old", 0): 1}, member_id=ids[0], generation=gen)
    for _ in range(7):
        clock.advance(10_000)
        coord.heartbeat("g", ids[0], gen, polled=True)
    assert set(coord.fetch_offsets("g")) == {("t", 0)}


def test_s4_an_empty_group_without_offsets_is_deleted_by_the_cleanup(clock: ManualClock) -> None:
    # Kafka's cleanup (offsets.retention.check.interval.ms, 10 minutes) removes an Empty
    # group that has no offsets; logcore kept such a group forever.
    coord = GroupCoordinator(OffsetsLog(), clock=clock, initial_rebalance_delay_ms=0)
    ids, _ = form(coord, "g", 1)
    coord.leave_group("g", ids[0])
    clock.advance(10 * MINUTE - 1)
    coord.tick(force=True)
    assert coord.describe("g").state is GroupState.EMPTY
    clock.advance(1)
    coord.tick(force=True)
    assert "g" not in coord.groups


def test_s4_replayed_empty_group_expires_from_its_state_timestamp(tmp_path: Path, clock: ManualClock) -> None:
    with EmbeddedCluster(tmp_path / "d", clock=clock, offsets_retention_ms=MINUTE, initial_rebalance_delay_ms=0) as c:
        ids, gen = form(c.coordinator, "g", 1)
        c.coordinator.commit_offsets("g", {("t", 0): 1}, member_id=ids[0], generation=gen)
        clock.advance(30_000)
        c.coordinator.heartbeat("g", ids[0], gen, polled=True)
        c.coordinator.leave_group("g", ids[0])
        empty_at = clock.now_ms()
    clock.advance(10_000)
    with EmbeddedCluster(tmp_path / "d", clock=clock, offsets_retention_ms=MINUTE) as c:
        clock.set(empty_at + MINUTE - 1)
        c.coordinator.tick(force=True)
        assert offsets(c, "g") == {("t", 0): 1}
        clock.set(empty_at + MINUTE)
        c.coordinator.tick(force=True)
        assert offsets(c, "g") == {}


# --- 5. What a consumer means by "offset" ---------------------------------------------


def test_s5_position_is_last_returned_plus_one_and_commit_stores_it(cluster: EmbeddedCluster) -> None:
    cluster.create_topic("t", 1)
    for _ in range(5):
        cluster.produce("t", b"x", partition=0)
    c = Consumer(cluster, "g", auto_offset_reset="earliest", enable_auto_commit=False)
    c.assign([("t", 0)])
    got = c.poll(max_records=3)
    assert got[-1].offset == 2 and c.position(("t", 0)) == 3
    c.commit()
    assert offsets(cluster, "g") == {("t", 0): 3}  # the next record to read
    again = Consumer(cluster, "g", auto_offset_reset="earliest")
    again.assign([("t", 0)])
    assert again.poll()[0].offset == 3  # resume at the committed offset


def _settle(consumers: list[Consumer], clock: ManualClock) -> None:
    for _ in range(60):
        for c in consumers:
            c.poll()
        clock.advance(500)
        g = consumers[0].cluster.describe_group(consumers[0].group_id or "")
        if g.state == "Stable" and all(c._joined and not c._needs_join for c in consumers):
            return
    raise AssertionError("the group did not settle")


@pytest.mark.parametrize("strategy", ["range", "cooperative-sticky"])
def test_s5_auto_commit_happens_before_the_rebalance(
    cluster: EmbeddedCluster, clock: ManualClock, strategy: str
) -> None:
    # ConsumerCoordinator.onJoinPrepare commits before rejoining, so the member that
    # gets a partition next starts where the old owner stopped, not at its last
    # interval commit. logcore used to commit only after the new generation formed.
    cluster.create_topic("t", 2)
    for p in (0, 1):
        for _ in range(10):
            cluster.produce("t", b"x", partition=p)
    a = Consumer(
        cluster,
        "g",
        client_id="a",
        auto_offset_reset="earliest",
        auto_commit_interval_ms=3_600_000,
        partition_assignment_strategy=[strategy],
    )
    a.subscribe(["t"])
    _settle([a], clock)
    a.poll()
    assert a.position(("t", 0)) == a.position(("t", 1)) == 10
    assert offsets(cluster, "g") == {}  # the interval has not passed
    gen = cluster.describe_group("g").generation
    b = Consumer(cluster, "g", client_id="b", auto_offset_reset="earliest", partition_assignment_strategy=[strategy])
    b.subscribe(["t"])
    b.poll()
    assert cluster.describe_group("g").state == "PreparingRebalance"
    commits: list[OffsetsCommitted] = []
    cluster.events.subscribe(lambda e: commits.append(e) if isinstance(e, OffsetsCommitted) else None)
    clock.advance(3000)  # a learns of the rebalance from its next heartbeat
    a.poll()
    assert offsets(cluster, "g") == {("t", 0): 10, ("t", 1): 10}
    # Committed by a in the old generation, before it rejoined.
    assert next((e.member_id, e.generation, sorted(e.offsets)) for e in commits) == (
        a.member_id,
        gen,
        [("t", 0, 10), ("t", 1, 10)],
    )
    _settle([a, b], clock)
    assert b.assignment() and all(b.position(tp) == 10 for tp in b.assignment())


def test_s5_a_fenced_member_loses_its_positions_and_commits_nothing(
    cluster: EmbeddedCluster, clock: ManualClock
) -> None:
    # ILLEGAL_GENERATION on a heartbeat: Kafka resets the generation and the next
    # onJoinPrepare calls onPartitionsLost: no commit, and the partitions are read
    # again from the committed offsets. logcore used to keep the zombie's positions.
    cluster.create_topic("t", 1)
    for _ in range(10):
        cluster.produce("t", b"x", partition=0)
    c = Consumer(
        cluster,
        "g",
        auto_offset_reset="earliest",
        auto_commit_interval_ms=3_600_000,
        partition_assignment_strategy=["cooperative-sticky"],
    )
    c.subscribe(["t"])
    _settle([c], clock)
    c.poll()
    assert c.position(("t", 0)) == 10
    c.generation -= 1  # as if it missed a generation while paused
    clock.advance(3000)
    # The heartbeat answers ILLEGAL_GENERATION; the member rejoins within this poll.
    again = c.poll()
    assert offsets(cluster, "g") == {}  # the zombie committed nothing
    assert [r.offset for r in again] == list(range(10))  # at-least-once: re-read from the last commit


# --- 6. Administration -----------------------------------------------------------------


@pytest.fixture
def billing(cluster: EmbeddedCluster) -> EmbeddedCluster:
    cluster.create_topic("orders", 2)
    cluster.create_topic("other", 1)
    for i in range(20):
        for p in (0, 1):
            cluster.produce("orders", b"o", partition=p, timestamp=T0 + i * 1000)
    cluster.produce("other", b"x", partition=0)
    cluster.commit_offsets("billing", {("orders", 0): 10})
    return cluster


def _plan(cluster: EmbeddedCluster, kind: str, value: str | int | None = None, topics: tuple[str, ...] = ()):
    scope = Scope.parse(list(topics), all_topics=not topics)
    return plan_reset(cluster, "billing", Scenario(kind, value), scope, now_ms=T0 + 60_000)


def test_s6_all_topics_means_the_partitions_the_group_has_offsets_for(billing: EmbeddedCluster) -> None:
    assert [(r.topic, r.partition) for r in _plan(billing, "to-earliest").rows] == [("orders", 0)]
    assert [(r.topic, r.partition) for r in _plan(billing, "to-earliest", topics=("orders",)).rows] == [
        ("orders", 0),
        ("orders", 1),
    ]


def test_s6_to_current_without_a_commit_uses_the_high_watermark(billing: EmbeddedCluster) -> None:
    rows = {r.partition: r for r in _plan(billing, "to-current", topics=("orders",)).rows}
    assert rows[0].after == 10 and not rows[0].warning
    assert rows[1].after == 20 and rows[1].warning


def test_s6_shift_by_without_a_commit_is_refused_in_kafkas_words(billing: EmbeddedCluster) -> None:
    with pytest.raises(InvalidRequest, match="Cannot shift offset for partition orders-1 since there is no current"):
        _plan(billing, "shift-by", 1, topics=("orders",))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-11-14T22:13:30.000", T0 + 10_000),  # no zone: UTC
        ("2023-11-14T22:13:30.000Z", T0 + 10_000),
        ("2023-11-14T23:13:30.000+01:00", T0 + 10_000),
        ("2023-11-14T23:13:30.000+0100", T0 + 10_000),
        ("2023-11-14T23:13:30.000+01", T0 + 10_000),  # SimpleDateFormat's X
        ("2023-11-14T21:43:30.000-00:30", T0 + 10_000),
    ],
)
def test_s6_to_datetime_formats(text: str, expected: int) -> None:
    assert parse_datetime(text) == expected


def test_s6_to_datetime_picks_the_first_record_that_new_else_the_hw(billing: EmbeddedCluster) -> None:
    plan = _plan(billing, "to-datetime", "2023-11-14T22:13:30.500")
    assert plan.rows[0].after == 11 and not plan.rows[0].warning
    plan = _plan(billing, "to-datetime", "2030-01-01T00:00:00.000")
    assert plan.rows[0].after == 20 and plan.rows[0].warning


def test_s6_by_duration_is_now_minus_the_duration(billing: EmbeddedCluster) -> None:
    # now = T0 + 60 s; minus 45 s = T0 + 15 s: the record at offset 15.
    assert _plan(billing, "by-duration", "PT45S").rows[0].after == 15


def test_s6_every_target_is_clamped_into_log_start_and_hw(billing: EmbeddedCluster) -> None:
    billing.logs.partition("orders", 0).delete_records(5)
    for kind, value, expected in (
        ("to-offset", 2, 5),
        ("to-offset", 99, 20),
        ("shift-by", -9, 5),
        ("shift-by", 11, 20),
        ("from-file", "orders,0,1\n", 5),
    ):
        row = _plan(billing, kind, value).rows[0]
        assert row.after == expected and row.warning, (kind, value)


def test_s6_reset_refused_while_active_and_nothing_changes(billing: EmbeddedCluster, clock: ManualClock) -> None:
    from logcore.admin import ResetRefused, execute_reset

    c = Consumer(billing, "billing", enable_auto_commit=False)
    c.subscribe(["orders"])
    _settle([c], clock)
    plan = _plan(billing, "to-earliest")
    msg = "Assignments can only be reset if the group 'billing' is inactive, but the current state is Stable."
    assert plan.refusal == msg
    with pytest.raises(ResetRefused) as e:
        execute_reset(billing, plan)
    assert str(e.value) == msg
    assert offsets(billing, "billing") == {("orders", 0): 10}


def test_s6_delete_offsets_refused_only_for_subscribed_topics_of_an_active_group(
    billing: EmbeddedCluster, clock: ManualClock
) -> None:
    billing.commit_offsets("billing", {("other", 0): 1})
    c = Consumer(billing, "billing", enable_auto_commit=False)
    c.subscribe(["orders"])
    _settle([c], clock)
    with pytest.raises(GroupSubscribedToTopic, match="orders"):
        billing.delete_offsets("billing", [("orders", 0)])
    assert billing.delete_offsets("billing", [("other", 0)]) == [("other", 0)]
    assert offsets(billing, "billing") == {("orders", 0): 10}


def test_s6_delete_offsets_of_an_active_non_consumer_group_is_non_empty_group(coord: GroupCoordinator) -> None:
    ids, gen = form(coord, "connect", 1, protocols=[("sessioned", b"")], protocol_type="connect")
    coord.commit_offsets("connect", {("t", 0): 1}, member_id=ids[0], generation=gen)
    with pytest.raises(NonEmptyGroup):
        coord.delete_offsets("connect", [("t", 0)])
    assert coord.fetch_offsets("connect")[("t", 0)] is not None


def test_s6_delete_group_only_when_empty(coord: GroupCoordinator) -> None:
    form(coord, "g", 1)
    with pytest.raises(NonEmptyGroup):
        coord.delete_group("g")
    with pytest.raises(GroupIdNotFound):
        coord.delete_group("missing")


def test_s6_describe_rows_lag_is_hw_minus_committed_or_none(billing: EmbeddedCluster) -> None:
    c = Consumer(billing, "billing", enable_auto_commit=False)
    c.subscribe(["orders"])
    d = billing.describe_group("billing")
    rows = {(r.topic, r.partition): r for r in d.offsets}
    assert rows[("orders", 0)].lag == 10 and rows[("orders", 0)].high_watermark == 20
    with pytest.raises(GroupIdNotFound, match="Consumer group 'nobody' does not exist."):
        billing.describe_group("nobody")


# --- errors: Kafka's names ----------------------------------------------------------------

_KAFKA_CODES = {
    "UNKNOWN_SERVER_ERROR",
    "INVALID_TOPIC_EXCEPTION",
    "TOPIC_ALREADY_EXISTS",
    "UNKNOWN_TOPIC_OR_PARTITION",
    "INVALID_PARTITIONS",
    "INVALID_CONFIG",
    "INVALID_RECORD",
    "MESSAGE_TOO_LARGE",
    "CORRUPT_MESSAGE",
    "OFFSET_OUT_OF_RANGE",
    "POLICY_VIOLATION",
    "NOT_LEADER_OR_FOLLOWER",
    "UNKNOWN_MEMBER_ID",
    "ILLEGAL_GENERATION",
    "REBALANCE_IN_PROGRESS",
    "OFFSET_METADATA_TOO_LARGE",
    "GROUP_ID_NOT_FOUND",
    "NON_EMPTY_GROUP",
    "INVALID_GROUP_ID",
    "INCONSISTENT_GROUP_PROTOCOL",
    "GROUP_SUBSCRIBED_TO_TOPIC",
    "INVALID_SESSION_TIMEOUT",
    "INVALID_REQUEST",
    "KAFKA_STORAGE_ERROR",
    # reaching a real Kafka cluster (logcore.kafka_cluster)
    "NETWORK_EXCEPTION",
    "SASL_AUTHENTICATION_FAILED",
    "CLUSTER_AUTHORIZATION_FAILED",
    "UNSUPPORTED_VERSION",
}
# logcore's own conditions, with no Kafka protocol error (client-side exceptions or a bug).
_LOGCORE_CODES = {"DATA_DIR_LOCKED", "ILLEGAL_STATE", "NO_OFFSET_FOR_PARTITION", "COMMIT_FAILED"}


def _all_errors() -> list[type[KafkaError]]:
    import logcore.errors as errors

    return [v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, KafkaError)]


def test_errors_carry_kafkas_names_and_descriptions() -> None:
    for cls in _all_errors():
        assert cls.code in _KAFKA_CODES | _LOGCORE_CODES, cls
        assert bool(cls.kafka_message) == (cls.code in _KAFKA_CODES), cls
    assert UnknownMemberId.kafka_message == "The coordinator is not aware of this member."
    assert IllegalGeneration.kafka_message == "Specified group generation id is not valid."
    assert RebalanceInProgress.kafka_message == "The group is rebalancing, so a rejoin is needed."
    assert not RebalanceInProgress.retriable  # an ApiException in Kafka, not a RetriableException


def test_errors_commit_failed_says_what_kafka_says(cluster: EmbeddedCluster, clock: ManualClock) -> None:
    from logcore.errors import CommitFailed

    cluster.create_topic("t", 1)
    c = Consumer(cluster, "g", enable_auto_commit=False)
    c.subscribe(["t"])
    _settle([c], clock)
    c.generation -= 1  # a zombie of the previous generation
    with pytest.raises(CommitFailed, match="^Commit cannot be completed since the group has already rebalanced"):
        c.commit({("t", 0): 0})


# --- 7. Lag beyond a number ------------------------------------------------------------


def test_s7_lag_is_hw_minus_committed_never_below_zero() -> None:
    assert lag_messages(20, 5) == 15
    assert lag_messages(20, 25) == 0
    assert lag_messages(20, None) is None  # '-' in kafka-consumer-groups


def _w(*rows: tuple[int, int, int]) -> list[CommitSample]:
    return [CommitSample(o, t, lag) for o, t, lag in rows]


@pytest.mark.parametrize(
    ("window", "now", "lag", "expected"),
    [
        (_w((1, 0, 5), (6, 10, 0), (8, 20, 3)), 25, 3, PartitionHealth.OK),  # lag reached 0
        (_w((1, 0, 5), (6, 10, 4), (8, 20, 3)), 50, 3, PartitionHealth.STOP),  # 30 > span 20
        (_w((5, 0, 5), (5, 10, 6), (5, 20, 7)), 25, 7, PartitionHealth.STALL),
        (_w((5, 0, 5), (3, 10, 7), (6, 20, 4)), 25, 4, PartitionHealth.REWIND),
        (_w((1, 0, 5), (6, 10, 5), (9, 20, 6)), 25, 6, PartitionHealth.WARN),  # never went down
        (_w((1, 0, 5), (6, 10, 3), (9, 20, 6)), 25, 6, PartitionHealth.OK),
    ],
)
def test_s7_burrow_health_rules(window: list[CommitSample], now: int, lag: int, expected: PartitionHealth) -> None:
    assert evaluate_partition(window, now, lag).status is expected


def test_s7_group_status_is_the_worst_partitions() -> None:
    ok = evaluate_partition(_w((1, 0, 0)), 0, 0)
    stall = evaluate_partition(_w((5, 0, 5), (5, 10, 6)), 10, 6)
    assert evaluate_group([ok, stall, ok]).worst == stall
