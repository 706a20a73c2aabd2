"""Lag in messages, lag in time (kafka-lag-exporter's table) and lag health (Burrow)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logcore.lag import (
    AddPointResult,
    CommitSample,
    CommitWindow,
    GroupHealth,
    HighWatermarkPoint,
    OffsetTimeTable,
    PartitionHealth,
    PartitionStatus,
    TimePrediction,
    estimated_time_to_clear_ms,
    evaluate_group,
    evaluate_partition,
    lag_messages,
)

# --------------------------------------------------------------------------- messages


@pytest.mark.parametrize(
    ("hw", "committed", "expected"),
    [
        (100, 40, 60),
        (100, 100, 0),  # committed = next record to read: caught up
        (100, 120, 0),  # stale HW read before a commit: never negative
        (0, 0, 0),
        (100, None, None),  # nothing committed: "-" in kafka-consumer-groups.sh
    ],
)
def test_lag_messages(hw: int, committed: int | None, expected: int | None) -> None:
    assert lag_messages(hw, committed) == expected


@given(st.integers(-(2**63), 2**63 - 1), st.integers(-(2**63), 2**63 - 1))
def test_lag_messages_is_never_negative(hw: int, committed: int) -> None:
    lag = lag_messages(hw, committed)
    assert lag is not None
    assert lag >= 0
    assert lag == max(hw - committed, 0)


def test_time_to_clear_when_draining() -> None:
    # 1000 records behind, reading 150/s while 50/s arrive: 100/s net, 10 s.
    assert estimated_time_to_clear_ms(1000, 150.0, 50.0) == 10_000.0


@pytest.mark.parametrize(("consume", "produce"), [(50.0, 50.0), (40.0, 50.0), (0.0, 0.0)])
def test_time_to_clear_is_none_when_not_draining(consume: float, produce: float) -> None:
    assert estimated_time_to_clear_ms(1000, consume, produce) is None


def test_time_to_clear_is_zero_without_lag() -> None:
    assert estimated_time_to_clear_ms(0, 0.0, 10.0) == 0.0


@pytest.mark.parametrize(
    ("lag", "consume", "produce"), [(-1, 1.0, 0.0), (1, -1.0, 0.0), (1, 1.0, -1.0), (1, float("nan"), 0.0)]
)
def test_time_to_clear_rejects_bad_input(lag: int, consume: float, produce: float) -> None:
    with pytest.raises(ValueError):
        estimated_time_to_clear_ms(lag, consume, produce)


@given(st.integers(1, 10**9), st.floats(0, 1e6), st.floats(0, 1e6))
def test_time_to_clear_drains_exactly_the_lag(lag: int, consume: float, produce: float) -> None:
    ms = estimated_time_to_clear_ms(lag, consume, produce)
    if consume <= produce:
        assert ms is None
    else:
        assert ms is not None and ms > 0
        assert ms / 1000 * (consume - produce) == pytest.approx(lag, rel=1e-9)


# --------------------------------------------------------------------------- table


def table_of(*points: tuple[int, int], capacity: int = 60) -> OffsetTimeTable:
    t = OffsetTimeTable(capacity)
    for hw, at in points:
        t.add(hw, at)
    return t


def test_table_add_results() -> None:
    t = OffsetTimeTable()
    assert t.add(100, 1000) is AddPointResult.INSERTED
    assert t.add(150, 1000) is AddPointResult.OUT_OF_ORDER  # same instant
    assert t.add(150, 900) is AddPointResult.OUT_OF_ORDER  # clock went back
    assert t.add(200, 2000) is AddPointResult.INSERTED
    assert t.points == (HighWatermarkPoint(100, 1000), HighWatermarkPoint(200, 2000))


def test_table_compresses_a_flat_run_to_its_first_and_last_point() -> None:
    t = OffsetTimeTable()
    assert t.add(200, 1000) is AddPointResult.INSERTED
    assert t.add(200, 2000) is AddPointResult.INSERTED
    assert t.add(200, 3000) is AddPointResult.UPDATED
    assert t.add(200, 4000) is AddPointResult.UPDATED
    assert t.points == (HighWatermarkPoint(200, 1000), HighWatermarkPoint(200, 4000))
    assert t.add(250, 5000) is AddPointResult.INSERTED
    assert len(t) == 3


def test_table_resets_when_the_hw_goes_down() -> None:
    t = table_of((100, 1000), (200, 2000), (300, 3000))
    assert t.add(5, 4000) is AddPointResult.RESET  # topic deleted and re-created
    assert t.points == (HighWatermarkPoint(5, 4000),)
    assert t.time_lag_ms(0, 5000) is None  # one point: no rate yet
    assert t.time_lag_ms(5, 5000) == 0.0


def test_table_is_bounded_and_slides() -> None:
    t = table_of((0, 0), (10, 1000), (20, 2000), (30, 3000), capacity=3)
    assert t.capacity == 3
    assert [p.high_watermark for p in t.points] == [10, 20, 30]
    assert OffsetTimeTable().capacity == 60


def test_table_needs_room_for_two_points() -> None:
    with pytest.raises(ValueError):
        OffsetTimeTable(1)


def test_table_produce_rate_and_clear() -> None:
    t = table_of((100, 1000), (200, 2000))
    assert t.produce_rate_per_s() == 100.0
    t.clear()
    assert len(t) == 0 and t.latest is None and t.produce_rate_per_s() is None


# Two points: HW 100 at t=1000 ms, HW 200 at t=2000 ms (100 records a second); now 5000.
TWO = ((100, 1000), (200, 2000))


def test_time_lag_between_two_points() -> None:
    # Offset 150 was the HW half way: t = 1500, so 3.5 s behind.
    assert table_of(*TWO).time_lag_ms(150, 5000) == 3500.0


def test_time_lag_exactly_at_a_point() -> None:
    assert table_of(*TWO).time_lag_ms(100, 5000) == 4000.0
    three = table_of((100, 1000), (200, 2000), (400, 2500))
    assert three.time_lag_ms(200, 5000) == 3000.0  # an inner point


@pytest.mark.parametrize("committed", [200, 201, 10**6])
def test_time_lag_at_or_beyond_the_newest_point_is_zero(committed: int) -> None:
    assert table_of(*TWO).time_lag_ms(committed, 5000) == 0.0


def test_time_lag_before_the_oldest_point_extrapolates_along_the_whole_table() -> None:
    # Two points: the line through them. Offset 50 was the HW at t = 500.
    assert table_of(*TWO).time_lag_ms(50, 5000) == 4500.0
    # Three points: the exporter uses the oldest-to-newest trend line (300 records in
    # 1500 ms, 5 ms a record), not the oldest segment (10 ms a record).
    three = table_of((100, 1000), (200, 2000), (400, 2500))
    assert three.time_lag_ms(40, 3000) == 3000 - (1000 - 60 * 5)
    prediction = three.predict(40)
    assert prediction == TimePrediction(700.0, extrapolated=True)


def test_time_lag_uses_the_last_time_the_hw_was_still_there() -> None:
    # HW 200 from t=2000 to t=3000 (a quiet spell), then 300 at t=4000.
    t = table_of((100, 1000), (200, 2000), (200, 2500), (200, 3000), (300, 4000))
    assert [(p.high_watermark, p.sampled_at_ms) for p in t.points] == [
        (100, 1000),
        (200, 2000),
        (200, 3000),
        (300, 4000),
    ]
    # Record 200 did not exist before t=3000: the group at 200 is 3 s behind, not 4.
    assert t.time_lag_ms(200, 6000) == 3000.0
    assert t.time_lag_ms(250, 6000) == 2500.0  # between 200@3000 and 300@4000
    assert t.time_lag_ms(150, 6000) == 4500.0  # between 100@1000 and 200@2000
    assert t.predict(200) == TimePrediction(3000.0, extrapolated=False)


def test_time_lag_with_too_few_points() -> None:
    assert OffsetTimeTable().time_lag_ms(0, 5000) is None
    one = table_of((100, 1000))
    assert one.time_lag_ms(50, 5000) is None
    assert one.time_lag_ms(100, 5000) == 0.0  # caught up needs no rate
    assert one.predict(50) is None


def test_time_lag_on_a_flat_table_is_the_lower_bound() -> None:
    # The HW never moved while sampled: record 40 existed before t=1000, at least.
    t = table_of((100, 1000), (100, 2000))
    assert t.time_lag_ms(40, 5000) == 4000.0
    assert t.predict(40) == TimePrediction(1000.0, extrapolated=True)


def test_time_lag_is_never_negative_even_with_an_early_now() -> None:
    assert table_of(*TWO).time_lag_ms(150, 1200) == 0.0


hw_steps = st.lists(st.tuples(st.integers(-50, 1000), st.integers(-10, 10**6)), min_size=0, max_size=40)


def build(start_hw: int, steps: Sequence[tuple[int, int]], capacity: int) -> OffsetTimeTable:
    t = OffsetTimeTable(capacity)
    hw, at = start_hw, 1_700_000_000_000
    t.add(hw, at)
    for dh, dt in steps:
        hw, at = max(hw + dh, 0), at + dt
        t.add(hw, at)
    return t


@settings(max_examples=300)
@given(
    st.integers(0, 10**6),
    hw_steps,
    st.integers(2, 12),
    st.integers(-2000, 2_000_000),
    st.integers(-2000, 2_000_000),
    st.integers(-(10**6), 10**8),
)
def test_time_lag_is_non_negative_and_non_increasing_in_committed(
    start_hw: int, steps: list[tuple[int, int]], capacity: int, a: int, b: int, now_off: int
) -> None:
    t = build(start_hw, steps, capacity)
    now = 1_700_000_000_000 + now_off
    lo, hi = sorted((a, b))
    lag_lo, lag_hi = t.time_lag_ms(lo, now), t.time_lag_ms(hi, now)
    for lag in (lag_lo, lag_hi):
        assert lag is None or lag >= 0.0
    if len(t) >= 2:
        assert lag_lo is not None and lag_hi is not None
        assert lag_hi <= lag_lo
    latest = t.latest
    assert latest is not None
    assert t.time_lag_ms(latest.high_watermark, now) == 0.0


@settings(max_examples=300)
@given(st.integers(0, 10**6), hw_steps, st.integers(2, 12))
def test_table_invariants(start_hw: int, steps: list[tuple[int, int]], capacity: int) -> None:
    pts = build(start_hw, steps, capacity).points
    assert 1 <= len(pts) <= capacity
    for left, right in pairwise(pts):
        assert left.sampled_at_ms < right.sampled_at_ms
        assert left.high_watermark <= right.high_watermark
    for x, y, z in zip(pts, pts[1:], pts[2:], strict=False):
        assert not (x.high_watermark == y.high_watermark == z.high_watermark)


@settings(max_examples=200)
@given(st.integers(0, 10**6), hw_steps, st.integers(2, 12), st.integers(0, 10**8))
def test_time_lag_at_a_table_point_is_the_last_time_that_hw_was_seen(
    start_hw: int, steps: list[tuple[int, int]], capacity: int, now_off: int
) -> None:
    t = build(start_hw, steps, capacity)
    pts = t.points
    now = pts[-1].sampled_at_ms + now_off
    for p in pts:
        if p.high_watermark == pts[-1].high_watermark:
            continue
        last_seen = max(q.sampled_at_ms for q in pts if q.high_watermark == p.high_watermark)
        assert t.time_lag_ms(p.high_watermark, now) == float(now - last_seen)


# --------------------------------------------------------------------------- health


def window(offsets: Sequence[int], lags: Sequence[int], step_ms: int = 1000) -> list[CommitSample]:
    """Commits at t = 0, step, 2*step, ... (10 commits span 9 steps)."""
    assert len(offsets) == len(lags)
    return [CommitSample(o, i * step_ms, lag) for i, (o, lag) in enumerate(zip(offsets, lags, strict=True))]


MOVING = [100 + 10 * i for i in range(10)]  # the consumer advances every commit
NOW = 10_000  # 1 s after the last commit, within the 9 s span


def test_ok_when_caught_up_now_whatever_the_window() -> None:
    w = window([100] * 10, [50] * 10)  # would be a STALL
    st_ = evaluate_partition(w, 10**9, current_lag=0)  # and very stale
    assert st_.status is PartitionHealth.OK
    assert "caught up" in st_.reason


def test_ok_when_lag_reached_zero_in_the_window() -> None:
    w = window(MOVING, [5, 3, 0, 2, 4, 6, 8, 10, 12, 14])
    st_ = evaluate_partition(w, NOW, current_lag=14)
    assert st_ == PartitionStatus(PartitionHealth.OK, "lag reached 0 within the last 10 commits", 14)


def test_ok_when_lag_went_down_somewhere() -> None:
    w = window(MOVING, [10, 12, 14, 13, 15, 16, 17, 18, 19, 20])
    assert evaluate_partition(w, NOW, current_lag=20).status is PartitionHealth.OK


def test_stop_when_commits_stopped_for_longer_than_the_window_span() -> None:
    w = window(MOVING, [10, 9, 8, 7, 6, 5, 4, 3, 2, 1])  # healthy while committing
    # Span 9000 ms (t=0..9000). 9000 ms after the last commit: not yet (strict).
    assert evaluate_partition(w, 18_000, current_lag=5).status is PartitionHealth.OK
    st_ = evaluate_partition(w, 18_001, current_lag=5)
    assert st_.status is PartitionHealth.STOP
    assert st_.reason == "no commit for 9.0 s, longer than the 9.0 s the last 10 commits took, with lag 5"


def test_stop_is_checked_before_lag_zero_in_the_window() -> None:
    # Burrow's order: a window that had lag 0 an hour ago says nothing about now.
    w = window(MOVING, [3, 2, 1, 0, 0, 0, 0, 0, 0, 0])
    assert evaluate_partition(w, 3_600_000, current_lag=40).status is PartitionHealth.STOP


def test_stop_is_suppressed_when_recently_caught_up() -> None:
    w = window(MOVING, [10, 9, 8, 7, 6, 5, 4, 3, 2, 1])
    last = w[-1].offset
    # The HW was at the last committed offset at a recent sample: nothing to commit.
    st_ = evaluate_partition(w, 60_000, current_lag=5, recent_high_watermarks=[last + 7, last])
    assert st_.status is PartitionHealth.OK
    # HW samples all beyond the last commit: the consumer was never caught up.
    st_ = evaluate_partition(w, 60_000, current_lag=5, recent_high_watermarks=[last + 7, last + 9])
    assert st_.status is PartitionHealth.STOP


def test_rewind_when_a_committed_offset_goes_back() -> None:
    w = window([100, 110, 120, 90, 100, 110, 120, 130, 140, 150], [5] * 10)
    st_ = evaluate_partition(w, NOW, current_lag=5)
    assert st_ == PartitionStatus(PartitionHealth.REWIND, "committed offset went back from 120 to 90", 5)


def test_rewind_wins_over_stall_and_warn() -> None:
    w = window([100, 100, 90, 90], [5, 6, 7, 8])
    assert evaluate_partition(w, 3500, current_lag=8).status is PartitionHealth.REWIND


def test_stall_when_the_committed_offset_does_not_move() -> None:
    # Auto-commit of a stuck position: same offset, lag growing. STALL, not WARN.
    w = window([100] * 10, [10 * (i + 1) for i in range(10)])
    st_ = evaluate_partition(w, NOW, current_lag=100)
    assert st_ == PartitionStatus(
        PartitionHealth.STALL, "committed offset stayed at 100 over the last 10 commits with lag 100", 100
    )


def test_warn_when_lag_grew_at_each_commit() -> None:
    w = window(MOVING, [10 + i for i in range(10)])
    st_ = evaluate_partition(w, NOW, current_lag=19)
    assert st_ == PartitionStatus(PartitionHealth.WARN, "lag grew at each of the last 10 commits (10 -> 19)", 19)


def test_warn_when_lag_never_went_down_even_if_flat() -> None:
    # Burrow: "not decreasing", so keeping pace without catching up is a WARN too.
    w = window(MOVING, [10, 10, 11, 11, 11, 12, 12, 12, 12, 12])
    st_ = evaluate_partition(w, NOW, current_lag=12)
    assert st_.status is PartitionHealth.WARN
    assert st_.reason == "lag never went down over the last 10 commits (10 -> 12)"


def test_empty_window_and_min_commits_are_ok() -> None:
    assert evaluate_partition([], NOW, current_lag=5).status is PartitionHealth.OK
    w = window([100, 110], [5, 6])
    assert evaluate_partition(w, NOW, current_lag=6).status is PartitionHealth.STOP
    st_ = evaluate_partition(w, NOW, current_lag=6, min_commits=5)
    assert st_.status is PartitionHealth.OK and st_.pending
    assert st_.reason == "not enough commits yet: 2 commits so far, 5 needed to judge"
    # Caught up needs no verdict to wait for.
    assert not evaluate_partition(w, NOW, current_lag=0, min_commits=5).pending


def test_a_single_commit_as_burrow_sees_it() -> None:
    w = [CommitSample(100, 5000, 7)]
    # Span 0: any later instant is "longer than the span".
    assert evaluate_partition(w, 5001, current_lag=7).status is PartitionHealth.STOP
    # At the commit instant the offset "did not move" over the window.
    assert evaluate_partition(w, 5000, current_lag=7).status is PartitionHealth.STALL


def test_negative_lags_are_rejected() -> None:
    with pytest.raises(ValueError):
        CommitSample(1, 0, -1)
    with pytest.raises(ValueError):
        evaluate_partition([], 0, current_lag=-1)


def test_partition_severity_order() -> None:
    order = [
        PartitionHealth.OK,
        PartitionHealth.WARN,
        PartitionHealth.STOP,
        PartitionHealth.STALL,
        PartitionHealth.REWIND,
    ]
    assert sorted(order, reverse=True) == order[::-1]
    assert [int(h) for h in order] == [1, 2, 4, 5, 6]  # Burrow's StatusConstant values
    assert [int(h) for h in GroupHealth] == [0, 1, 2, 3]


def ps(health: PartitionHealth, lag: int = 1) -> PartitionStatus:
    return PartitionStatus(health, health.name.lower(), lag)


def test_group_status_is_the_worst_partition() -> None:
    g = evaluate_group([ps(PartitionHealth.OK), ps(PartitionHealth.STALL), ps(PartitionHealth.WARN)])
    assert g.status is GroupHealth.ERR  # Burrow folds STOP/STALL/REWIND into ERR
    assert g.worst is not None and g.worst.status is PartitionHealth.STALL
    assert g.reason == "worst of 3 partitions: STALL: stall"

    g = evaluate_group([ps(PartitionHealth.STOP), ps(PartitionHealth.REWIND), ps(PartitionHealth.STALL)])
    assert g.worst is not None and g.worst.status is PartitionHealth.REWIND

    g = evaluate_group([ps(PartitionHealth.OK), ps(PartitionHealth.WARN)])
    assert g.status is GroupHealth.WARN
    assert evaluate_group([ps(PartitionHealth.OK)]).status is GroupHealth.OK


def test_group_ties_go_to_the_larger_lag() -> None:
    a, b = ps(PartitionHealth.WARN, 5), ps(PartitionHealth.WARN, 50)
    assert evaluate_group([a, b]).worst is b
    assert evaluate_group([b, a]).worst is b


def test_group_without_partitions_or_unknown() -> None:
    g = evaluate_group([])
    assert g.status is GroupHealth.OK and g.worst is None
    g = evaluate_group([ps(PartitionHealth.REWIND)], found=False)
    assert g.status is GroupHealth.NOTFOUND and g.worst is None


@given(st.lists(st.sampled_from(list(PartitionHealth)), min_size=1, max_size=20))
def test_group_worst_is_the_max_severity(healths: list[PartitionHealth]) -> None:
    g = evaluate_group([ps(h) for h in healths])
    assert g.worst is not None and g.worst.status is max(healths)
    expected = {PartitionHealth.OK: GroupHealth.OK, PartitionHealth.WARN: GroupHealth.WARN}
    assert g.status is expected.get(max(healths), GroupHealth.ERR)


@given(
    st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 5000), st.integers(0, 100)), max_size=12),
    st.integers(0, 100_000),
)
def test_caught_up_is_always_ok(rows: list[tuple[int, int, int]], now_off: int) -> None:
    w = CommitWindow()
    for off, dt, lag in rows:
        w.record(off, (w.samples[-1].timestamp_ms if len(w) else 0) + dt, lag)
    last = w.samples[-1].timestamp_ms if len(w) else 0
    assert w.evaluate(last + now_off, current_lag=0).status is PartitionHealth.OK


# --------------------------------------------------------------------------- window


def test_window_keeps_the_last_n_commits() -> None:
    w = CommitWindow()
    assert w.capacity == 10 and w.min_distance_ms == 0
    for i in range(15):
        w.record(100 + i, i * 1000, 5)
    assert len(w) == 10 and w.complete == 1.0
    assert [s.offset for s in w.samples] == list(range(105, 115))


def test_window_keeps_repeated_offsets_so_stall_shows() -> None:
    w = CommitWindow()
    for i in range(10):
        w.record(100, i * 5000, 40 + i)  # auto-commit every 5 s of a stuck position
    assert len(w) == 10
    assert w.evaluate(50_000, current_lag=50).status is PartitionHealth.STALL


def test_window_min_distance_replaces_the_newest_commit_keeping_its_time() -> None:
    w = CommitWindow(min_distance_ms=5000)
    w.record(100, 0, 10)
    w.record(110, 3000, 8)  # 3 s after: replaces it, keeps t=0
    assert list(w.samples) == [CommitSample(110, 0, 8)]
    w.record(120, 4999, 6)  # still within 5 s of the stored t=0
    assert list(w.samples) == [CommitSample(120, 0, 6)]
    w.record(130, 5000, 4)  # 5 s: a new sample
    assert list(w.samples) == [CommitSample(120, 0, 6), CommitSample(130, 5000, 4)]


def test_window_commit_stamped_earlier_replaces_the_newest() -> None:
    w = CommitWindow()
    w.record(100, 5000, 10)
    w.record(110, 4000, 9)
    assert w.samples == (CommitSample(110, 5000, 9),)


def test_window_rejects_bad_config() -> None:
    with pytest.raises(ValueError):
        CommitWindow(capacity=0)
    with pytest.raises(ValueError):
        CommitWindow(min_distance_ms=-1)


def test_window_consume_rate_and_clear() -> None:
    w = CommitWindow()
    assert w.consume_rate_per_s() is None
    w.record(100, 0, 10)
    w.record(300, 2000, 10)
    assert w.consume_rate_per_s() == 100.0
    w.record(50, 3000, 10)  # rewound below the start
    assert w.consume_rate_per_s() is None
    w.clear()
    assert len(w) == 0 and w.complete == 0.0


def test_window_evaluate_matches_evaluate_partition() -> None:
    w = CommitWindow(capacity=4)
    for i, lag in enumerate([4, 5, 6, 7]):
        w.record(100 + i, i * 1000, lag)
    assert w.evaluate(4000, current_lag=7) == evaluate_partition(w.samples, 4000, 7)
    assert w.evaluate(4000, current_lag=7).status is PartitionHealth.WARN


def test_lag_in_time_and_health_together() -> None:
    """A consumer at half the produce rate: WARN, and a time lag that grows."""
    table, commits = OffsetTimeTable(), CommitWindow()
    for second in range(21):
        now = second * 1000
        hw = 100 * second  # 100 records a second
        table.add(hw, now)
        committed = 50 * second  # reads 50 a second
        commits.record(committed, now, lag_messages(hw, committed) or 0)
    now, hw, committed = 20_000, 2000, 1000
    assert commits.evaluate(now, current_lag=hw - committed).status is PartitionHealth.WARN
    # Offset 1000 was the HW at t=10 s: 10 s behind, halfway through the run.
    assert table.time_lag_ms(committed, now) == 10_000.0
    consume = commits.consume_rate_per_s()
    produce = table.produce_rate_per_s()
    assert consume == 50.0 and produce == 100.0
    assert estimated_time_to_clear_ms(hw - committed, consume, produce) is None
