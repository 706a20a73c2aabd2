"""logcore.lag_tracker: lag history fed by any cluster's EventBus, and lag's one home.

Most tests drive a :class:`FakeCluster` (not the embedded engine): the tracker must work
the same over any ``logcore.Cluster`` whose event bus carries logcore's event classes,
as the Kafka backend's poller will publish them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logcore.cluster import Cluster, EmbeddedCluster, GroupDescription, GroupListing, PartitionOffsets
from logcore.errors import GroupIdNotFound, UnknownTopicOrPartition
from logcore.events import (
    EventBus,
    GroupDeleted,
    OffsetsCommitted,
    OffsetsDeleted,
    RecordsAppended,
    TopicDeleted,
)
from logcore.groups import OffsetAndMetadata, TopicPartition
from logcore.lag import NO_HIGH_WATERMARK, GroupHealth, PartitionHealth, known_high_watermark, lag_messages
from logcore.lag_tracker import LagTracker, TimeLag, TimeToClear
from logcore.log_manager import TopicDescription
from logcore.records import Header, Record


class Clock:
    def __init__(self, ms: int = 1_000_000) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


class FakeCluster(Cluster):
    """Only what a lag tracker reads: group descriptions, record timestamps, an event bus."""

    def __init__(self) -> None:
        self.events = EventBus()
        self.groups: dict[str, GroupDescription] = {}
        self.timestamps: dict[tuple[str, int, int], int] = {}
        self.timestamp_reads = 0

    def set_offsets(self, group: str, *rows: PartitionOffsets) -> None:
        self.groups[group] = GroupDescription(group, "Empty", 0, "", "", None, (), tuple(rows))

    def describe_group(self, group_id: str) -> GroupDescription:
        if group_id not in self.groups:
            raise GroupIdNotFound(group_id)
        return self.groups[group_id]

    def list_groups(self) -> list[GroupListing]:
        return [GroupListing(g, "Empty", "", "", 0) for g in sorted(self.groups)]

    def timestamp_at(self, topic: str, partition: int, offset: int) -> int | None:
        self.timestamp_reads += 1
        return self.timestamps.get((topic, partition, offset))

    # Not used by the tracker.
    def list_topics(self, include_internal: bool = True) -> list[str]:
        raise NotImplementedError

    def describe_topic(self, topic: str) -> TopicDescription:
        raise NotImplementedError

    def create_topic(
        self, topic: str, partitions: int = 1, config: Mapping[str, str] | None = None
    ) -> TopicDescription:
        raise NotImplementedError

    def delete_topic(self, topic: str) -> None:
        raise NotImplementedError

    def add_partitions(self, topic: str, total: int) -> TopicDescription:
        raise NotImplementedError

    def read(self, topic: str, partition: int, offset: int, max_records: int = 500) -> list[Record]:
        raise NotImplementedError

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Sequence[Header] = (),
        partition: int | None = None,
        timestamp: int | None = None,
    ) -> tuple[int, int]:
        raise NotImplementedError

    def offset_for_timestamp(self, topic: str, partition: int, timestamp: int) -> int | None:
        raise NotImplementedError

    def watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        raise UnknownTopicOrPartition(topic)

    def committed_offsets(self, group_id: str) -> dict[TopicPartition, OffsetAndMetadata]:
        raise NotImplementedError

    def commit_offsets(self, group_id: str, offsets: Mapping[TopicPartition, int | OffsetAndMetadata]) -> None:
        raise NotImplementedError

    def delete_offsets(self, group_id: str, partitions: Iterable[TopicPartition]) -> list[TopicPartition]:
        raise NotImplementedError

    def delete_group(self, group_id: str) -> None:
        raise NotImplementedError


def row(
    committed: int | None, hw: int, *, topic: str = "t", log_start: int = 0, commit_ts: int | None = None
) -> PartitionOffsets:
    return PartitionOffsets(topic, 0, committed, log_start, hw, None, None, None, "", commit_ts)


def appended(bus: EventBus, hw: int, topic: str = "t") -> None:
    bus.publish(RecordsAppended(topic=topic, partition=0, base_offset=hw - 1, last_offset=hw - 1, high_watermark=hw))


def committed(bus: EventBus, group: str, offset: int, topic: str = "t") -> None:
    bus.publish(OffsetsCommitted(group=group, offsets=((topic, 0, offset),)))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cluster() -> FakeCluster:
    return FakeCluster()


@pytest.fixture
def tracker(clock: Clock, cluster: FakeCluster) -> LagTracker:
    lt = LagTracker(clock)
    lt.attach(cluster.events)
    return lt


# --------------------------------------------------------------------------- lag in messages


@pytest.mark.parametrize(
    ("hw", "committed_offset", "expected"),
    [
        (10, 4, 6),
        (10, 12, 0),  # a stale HW: caught up, never negative
        (None, 4, None),  # no log (deleted topic) or no HW seen yet
        (10, None, None),  # nothing committed
        (None, None, None),
    ],
)
def test_lag_messages_is_unknown_when_either_side_is(
    hw: int | None, committed_offset: int | None, expected: int | None
) -> None:
    assert lag_messages(hw, committed_offset) == expected


def test_known_high_watermark_maps_the_no_log_sentinel_to_none() -> None:
    assert NO_HIGH_WATERMARK == -1
    assert known_high_watermark(-1) is None
    assert known_high_watermark(0) == 0
    assert known_high_watermark(7) == 7


@given(st.integers(-1, 2**40), st.one_of(st.none(), st.integers(0, 2**40)))
def test_partition_offsets_lag_is_lag_messages(hw: int, committed_offset: int | None) -> None:
    lag = row(committed_offset, hw).lag
    assert lag == lag_messages(known_high_watermark(hw), committed_offset)
    assert lag is None or lag >= 0
    if hw < 0:
        assert lag is None  # a deleted topic's offsets have no lag, never 0


def test_group_total_lag_skips_unknown_partitions() -> None:
    desc = GroupDescription("g", "Empty", 0, "", "", None, (), (row(4, 10), row(2, -1, topic="gone"), row(None, 5)))
    assert [p.lag for p in desc.offsets] == [6, None, None]
    assert desc.total_lag == 6


# --------------------------------------------------------------------------- lag in time


def test_interpolates_between_hw_samples_from_events(tracker: LagTracker, cluster: FakeCluster, clock: Clock) -> None:
    t0 = clock.ms
    appended(cluster.events, 1)
    clock.ms += 10_000
    appended(cluster.events, 11)
    clock.ms += 10_000
    appended(cluster.events, 21)
    clock.ms = t0 + 30_000
    cluster.set_offsets("g", row(6, 21))
    _, parts, at = tracker.describe_group(cluster, "g")
    assert at == clock.ms
    # offset 6 was the HW halfway between t0 and t0+10s: 25 s ago
    assert parts[0].time == TimeLag(25_000.0, "interpolated")
    assert parts[0].lag == 15
    assert cluster.timestamp_reads == 0  # no record read when the table can answer


def test_samples_at_most_one_hw_per_interval(tracker: LagTracker, cluster: FakeCluster, clock: Clock) -> None:
    for hw in range(1, 50):
        appended(cluster.events, hw)  # all within one instant: one sample
    cluster.set_offsets("g", row(10, 49))
    tracker.all_groups(cluster)
    assert [p.high_watermark for p in tracker._tables[("t", 0)].points] == [1]


def test_falls_back_to_record_timestamp_then_extrapolates(
    tracker: LagTracker, cluster: FakeCluster, clock: Clock
) -> None:
    cluster.set_offsets("g", row(3, 10))
    cluster.timestamps[("t", 0, 3)] = clock.ms - 58_000
    assert tracker.time_lag(cluster, row(3, 10), clock.ms) == TimeLag(58_000.0, "record")
    # Record gone (retention) and two samples above it: the table's trend line.
    appended(cluster.events, 20)
    clock.ms += 10_000
    appended(cluster.events, 30)
    tracker.sync(cluster)
    lagging = row(15, 30, log_start=16)
    assert tracker.time_lag(cluster, lagging, clock.ms) == TimeLag(15_000.0, "extrapolated")


def test_below_log_start_without_samples_measures_the_oldest_record_left(
    tracker: LagTracker, cluster: FakeCluster, clock: Clock
) -> None:
    cluster.timestamps[("t", 0, 5)] = clock.ms - 7_000
    p = row(2, 10, log_start=5)
    assert tracker.time_lag(cluster, p, clock.ms) == TimeLag(7_000.0, "record")
    assert tracker.time_lag(cluster, row(2, 10, log_start=10), clock.ms) == TimeLag.unknown()  # no record left


def test_measured_only_skips_the_table(tracker: LagTracker, cluster: FakeCluster, clock: Clock) -> None:
    appended(cluster.events, 1)
    clock.ms += 10_000
    appended(cluster.events, 11)
    tracker.sync(cluster)
    cluster.timestamps[("t", 0, 6)] = clock.ms - 99_000
    assert tracker.time_lag(cluster, row(6, 11), clock.ms).source == "interpolated"
    assert tracker.time_lag(cluster, row(6, 11), clock.ms, interpolate=False) == TimeLag(99_000.0, "record")


def test_caught_up_unknown_and_deleted_topic(tracker: LagTracker, cluster: FakeCluster, clock: Clock) -> None:
    assert tracker.time_lag(cluster, row(10, 10), clock.ms) == TimeLag(0.0, "caught-up")
    assert tracker.time_lag(cluster, row(None, 10), clock.ms) == TimeLag.unknown()
    gone = row(4, NO_HIGH_WATERMARK)
    cluster.set_offsets("g", gone)
    _, [part], _ = tracker.describe_group(cluster, "g")
    assert (part.lag, part.time, part.health, part.clear) == (None, TimeLag.unknown(), None, None)
    assert tracker._windows == {}  # no made-up lag 0 seeded for a log that is gone
    assert tracker.group_health("g", [gone], clock.ms).status is GroupHealth.OK  # nothing to judge


def test_worst_time_lag_of_a_group(tracker: LagTracker, cluster: FakeCluster, clock: Clock) -> None:
    cluster.timestamps[("a", 0, 1)] = clock.ms - 5_000
    cluster.timestamps[("b", 0, 1)] = clock.ms - 9_000
    rows = [row(1, 3, topic="a"), row(1, 3, topic="b"), row(3, 3, topic="c"), row(None, 3, topic="d")]
    assert tracker.worst_time_lag(cluster, rows, clock.ms) == TimeLag(9_000.0, "record")
    assert tracker.worst_time_lag(cluster, [], clock.ms) == TimeLag.unknown()


# --------------------------------------------------------------------------- health and time to clear


def test_commit_events_feed_burrow_windows(clock: Clock, cluster: FakeCluster) -> None:
    tracker = LagTracker(clock, min_commits=3)  # judge from three commits
    tracker.attach(cluster.events)
    for step in range(1, 4):
        for _ in range(10):
            appended(cluster.events, cluster_hw := 10 * step)
        committed(cluster.events, "g", step)  # lag 9, 18, 27: never went down
        clock.ms += 1000
    cluster.set_offsets("g", row(3, cluster_hw))
    tracker.sync(cluster)
    assert [s.lag for s in tracker._windows[("g", "t", 0)].samples] == [9, 18, 27]
    status = tracker.health("g", row(3, 30), clock.ms)
    assert status is not None and status.status is PartitionHealth.WARN
    assert tracker.group_health("g", [row(3, 30)], clock.ms).status is GroupHealth.WARN


def test_commit_before_any_hw_is_not_recorded_with_a_made_up_lag(
    tracker: LagTracker, cluster: FakeCluster, clock: Clock
) -> None:
    committed(cluster.events, "g", 2)
    tracker.sync(cluster)
    assert tracker._windows == {}
    # The next observation seeds the window from the committed offset and its commit time.
    cluster.set_offsets("g", row(2, 10, commit_ts=clock.ms - 500))
    tracker.all_groups(cluster)
    [sample] = tracker._windows[("g", "t", 0)].samples
    assert (sample.offset, sample.timestamp_ms, sample.lag) == (2, clock.ms - 500, 8)


def test_time_to_clear_from_commit_and_hw_rates(tracker: LagTracker, cluster: FakeCluster, clock: Clock) -> None:
    hw, offset = 100, 10
    appended(cluster.events, hw)
    committed(cluster.events, "g", offset)
    for _ in range(10):
        clock.ms += 1000
        hw += 1
        appended(cluster.events, hw)
        offset += 5
        committed(cluster.events, "g", offset)
    tracker.sync(cluster)
    p = row(offset, hw)
    assert p.lag == 50
    # shrinking by 5 - 1 = 4 records a second: 12.5 s
    assert tracker.time_to_clear("g", p) == TimeToClear(12_500.0, 5.0, 1.0)
    assert tracker.time_to_clear("other", p) is None  # no commits of that group


def _swinging_reader(
    tracker: LagTracker, cluster: FakeCluster, clock: Clock, *, mean_read_per_s: float, seconds: int
) -> list[TimeToClear | None]:
    """A partition written in bursts (1 record/s on average) and read by a group whose pace
    swings from 25 % to 175 % of ``mean_read_per_s`` over a minute, committing every 2 s
    (the demo's checkers). The page is looked at every second: one answer per second."""
    import math
    import random

    rnd = random.Random(7)  # fixed: the same "noise" on every run
    hw, offset, owed = 1000, 0, 0.0
    appended(cluster.events, hw)
    committed(cluster.events, "g", offset)
    answers = []
    for second in range(1, seconds + 1):
        clock.ms += 1000
        burst = rnd.choice((0, 0, 0, 1, 1, 2, 3))  # 1 a second on average, in bursts
        for _ in range(burst):
            hw += 1
            appended(cluster.events, hw)
        owed += mean_read_per_s * (1 + 0.75 * math.sin(2 * math.pi * second / 60))
        if second % 2 == 0:
            step = min(int(owed), hw - offset)
            owed -= step
            offset += step
            committed(cluster.events, "g", offset)
        cluster.set_offsets("g", row(offset, hw))
        tracker.all_groups(cluster)  # what each live frame of the page does
        answers.append(tracker.time_to_clear("g", row(offset, hw)))
    return answers


def test_time_to_clear_holds_a_value_while_a_noisy_reader_drains(
    tracker: LagTracker, cluster: FakeCluster, clock: Clock
) -> None:
    """Regression: "time to clear" flipped between a value and "not at this pace" every few
    seconds while the lag, over minutes, kept going down."""
    answers = _swinging_reader(tracker, cluster, clock, mean_read_per_s=2.0, seconds=240)
    # From the first full swing on, every answer is a duration: the reader drains.
    for second, t in enumerate(answers[60:], start=61):
        assert t is not None and t.ms is not None, f"no time to clear at second {second}: {t}"
        assert 1.0 < t.consume_per_s < 3.0 and 0.5 < t.produce_per_s < 1.5


def test_time_to_clear_says_never_while_a_noisy_reader_falls_behind(
    tracker: LagTracker, cluster: FakeCluster, clock: Clock
) -> None:
    answers = _swinging_reader(tracker, cluster, clock, mean_read_per_s=0.6, seconds=240)
    assert all(t is not None and t.ms is None for t in answers[60:])


def test_deletions_forget_history(tracker: LagTracker, cluster: FakeCluster, clock: Clock) -> None:
    appended(cluster.events, 10)
    appended(cluster.events, 10, topic="u")
    for g in ("g", "h", "k"):
        committed(cluster.events, g, 5)
        committed(cluster.events, g, 5, topic="u")
    tracker.sync(cluster)
    assert len(tracker._windows) == 6
    cluster.events.publish(OffsetsDeleted(group="g", partitions=(("t", 0),)))
    cluster.events.publish(GroupDeleted(group="h"))
    cluster.events.publish(TopicDeleted(topic="u"))
    tracker.sync(cluster)
    assert sorted(tracker._windows) == [("k", "t", 0)]
    assert list(tracker._tables) == [("t", 0)]


def test_a_new_bus_starts_a_clean_history(tracker: LagTracker, cluster: FakeCluster, clock: Clock) -> None:
    appended(cluster.events, 10)
    committed(cluster.events, "g", 5)
    tracker.sync(cluster)
    assert tracker._windows
    reopened = FakeCluster()  # the same cluster re-opened: a new bus
    tracker.sync(reopened)
    assert tracker._windows == {} and tracker._tables == {}
    committed(cluster.events, "g", 6)  # the old bus is no longer followed
    appended(reopened.events, 3)
    committed(reopened.events, "g", 1)
    tracker.sync(reopened)
    assert list(tracker._windows) == [("g", "t", 0)]


def test_all_groups_is_reused_while_the_bus_has_not_moved(tracker: LagTracker, cluster: FakeCluster) -> None:
    cluster.set_offsets("g", row(1, 2))
    first = tracker.all_groups(cluster)
    assert tracker.all_groups(cluster) is first
    appended(cluster.events, 3)
    assert tracker.all_groups(cluster) is not first


# --------------------------------------------------------------------------- the embedded engine


def test_same_answers_over_the_embedded_engine(tmp_path: Path) -> None:
    clock = Clock()
    with EmbeddedCluster(tmp_path / "data") as cluster:
        lt = LagTracker(clock)
        lt.attach(cluster.events)
        cluster.create_topic("t", 1)
        cluster.produce("t", b"a", partition=0)
        t0 = clock.ms
        clock.ms += 10_000
        for _ in range(10):
            cluster.produce("t", b"b", partition=0)
        cluster.commit_offsets("g", {("t", 0): 1})
        clock.ms = t0 + 20_000
        desc, [part], _ = lt.describe_group(cluster, "g")
        assert part.lag == desc.offsets[0].lag == 10
        assert part.time == TimeLag(20_000.0, "interpolated")
        cluster.delete_topic("t")
        _, [gone], _ = lt.describe_group(cluster, "g")
        assert gone.offsets.high_watermark == NO_HIGH_WATERMARK
        assert (gone.lag, gone.time, gone.health) == (None, TimeLag.unknown(), None)


def test_answers_never_come_from_a_previous_bus(tracker: LagTracker, cluster: FakeCluster, clock: Clock) -> None:
    """A re-opened cluster (new bus attached, e.g. on engine open) is not answered from old caches."""
    cluster.timestamps[("t", 0, 3)] = clock.ms - 50_000
    assert tracker.time_lag(cluster, row(3, 10), clock.ms) == TimeLag(50_000.0, "record")
    reopened = FakeCluster()
    reopened.timestamps[("t", 0, 3)] = clock.ms - 2_000
    tracker.attach(reopened.events)  # as the engine's on-open hook does; no sync in between
    assert tracker.time_lag(reopened, row(3, 10), clock.ms) == TimeLag(2_000.0, "record")


class _CountingCluster(EmbeddedCluster):
    """The embedded engine, counting how record timestamps are asked for."""

    singles = 0
    batches = 0

    def timestamp_at(self, topic: str, partition: int, offset: int) -> int | None:
        type(self).singles += 1
        return super().timestamp_at(topic, partition, offset)

    def timestamps_at(self, keys: Iterable[tuple[str, int, int]]) -> dict[tuple[str, int, int], int | None]:
        type(self).batches += 1
        return super().timestamps_at(keys)


def test_a_page_of_groups_reads_record_timestamps_in_one_batch(tmp_path: Path) -> None:
    """A Kafka cluster answers a batch with one fetch; one read per partition in turn made an
    overview of many groups take tens of seconds there."""
    with _CountingCluster(tmp_path / "d") as cluster:
        cluster.create_topic("t", 2)
        for i in range(20):
            cluster.produce("t", b"x", partition=i % 2, timestamp=1_000 + i)
        for g in range(5):
            cluster.commit_offsets(f"g{g}", {("t", 0): g, ("t", 1): g + 1})
        descs = cluster.describe_groups([f"g{g}" for g in range(5)])
        tracker = LagTracker(Clock(100_000))
        _CountingCluster.singles = _CountingCluster.batches = 0
        tracker.prefetch_timestamps(cluster, (p for d in descs for p in d.offsets))
        assert _CountingCluster.batches == 1
        singles_for_batch = _CountingCluster.singles
        times = [tracker.worst_time_lag(cluster, d.offsets, 100_000) for d in descs]
        assert _CountingCluster.singles == singles_for_batch  # every answer came from the batch
        assert all(t.source == "record" and t.ms is not None for t in times)
