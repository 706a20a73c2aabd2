"""Offset resets: every scenario and scope, clamping, refusal, export, undo."""

from __future__ import annotations

from pathlib import Path

import pytest

from logcore import ManualClock
from logcore.admin import (
    ResetRefused,
    RestorePoints,
    Scenario,
    Scope,
    execute_reset,
    parse_datetime,
    parse_duration,
    plan_reset,
    undo_reset,
)
from logcore.cluster import EmbeddedCluster
from logcore.consumer import Consumer
from logcore.errors import InvalidRequest, UnknownTopicOrPartition

T0 = 1_700_000_000_000


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def cluster(tmp_path: Path, clock: ManualClock):
    c = EmbeddedCluster(tmp_path / "data", clock=clock, initial_rebalance_delay_ms=0)
    c.create_topic("orders", 2)
    for i in range(20):  # one record a second on each partition
        for p in range(2):
            c.produce("orders", f"o{i}".encode(), partition=p, timestamp=T0 + i * 1000)
    c.commit_offsets("billing", {("orders", 0): 10, ("orders", 1): 5})
    yield c
    c.close()


def plan(cluster, clock, kind, value=None, topics=(), all_topics=True):
    scope = Scope.parse(topics, all_topics=all_topics and not topics)
    return plan_reset(cluster, "billing", Scenario(kind, value), scope, now_ms=clock.now_ms())


def after(p):
    return {(r.topic, r.partition): r.after for r in p.rows}


def test_each_scenario(cluster, clock):
    assert after(plan(cluster, clock, "to-earliest")) == {("orders", 0): 0, ("orders", 1): 0}
    assert after(plan(cluster, clock, "to-latest")) == {("orders", 0): 20, ("orders", 1): 20}
    assert after(plan(cluster, clock, "to-current")) == {("orders", 0): 10, ("orders", 1): 5}
    assert after(plan(cluster, clock, "to-offset", 7)) == {("orders", 0): 7, ("orders", 1): 7}
    assert after(plan(cluster, clock, "shift-by", -3)) == {("orders", 0): 7, ("orders", 1): 2}
    assert after(plan(cluster, clock, "to-datetime", "2023-11-14T22:13:32.000")) == {
        ("orders", 0): 12,
        ("orders", 1): 12,
    }  # T0 is 22:13:20.000 UTC
    clock.set(T0 + 20_000)
    assert after(plan(cluster, clock, "by-duration", "PT5S")) == {("orders", 0): 15, ("orders", 1): 15}
    csv = "orders,0,3\norders,1,4\n"
    assert after(plan(cluster, clock, "from-file", csv)) == {("orders", 0): 3, ("orders", 1): 4}


def test_plan_shows_impact(cluster, clock):
    p = plan(cluster, clock, "to-offset", 4)
    row0 = next(r for r in p.rows if r.partition == 0)
    assert (row0.before, row0.after, row0.reread, row0.skipped) == (10, 4, 6, 0)
    assert row0.before_timestamp == T0 + 10_000 and row0.after_timestamp == T0 + 4_000
    assert row0.span_ms == 6_000
    row1 = next(r for r in p.rows if r.partition == 1)
    assert (row1.reread, row1.skipped) == (1, 0)
    p = plan(cluster, clock, "to-latest")
    assert p.total_skipped == 10 + 15


def test_targets_are_clamped_with_a_warning(cluster, clock):
    p = plan(cluster, clock, "to-offset", 99)
    assert after(p) == {("orders", 0): 20, ("orders", 1): 20}
    assert all("high watermark" in r.warning for r in p.rows)
    p = plan(cluster, clock, "shift-by", -50)
    assert after(p) == {("orders", 0): 0, ("orders", 1): 0}
    assert all("log start" in r.warning for r in p.rows)
    p = plan(cluster, clock, "to-datetime", "2030-01-01T00:00:00.000Z")
    assert after(p) == {("orders", 0): 20, ("orders", 1): 20} and p.warnings


def test_scopes(cluster, clock):
    assert set(after(plan(cluster, clock, "to-earliest", topics=["orders:1"]))) == {("orders", 1)}
    assert set(after(plan(cluster, clock, "to-earliest", topics=["orders"]))) == {("orders", 0), ("orders", 1)}
    with pytest.raises(UnknownTopicOrPartition):
        plan(cluster, clock, "to-earliest", topics=["nope"])
    with pytest.raises(UnknownTopicOrPartition):
        plan(cluster, clock, "to-earliest", topics=["orders:7"])


def test_bad_input_is_refused_with_what_is_allowed(cluster, clock):
    with pytest.raises(InvalidRequest, match="yyyy-MM-dd"):
        plan(cluster, clock, "to-datetime", "yesterday")
    with pytest.raises(InvalidRequest, match="PnDTnHnMnS"):
        plan(cluster, clock, "by-duration", "5 minutes")
    with pytest.raises(InvalidRequest, match="whole number"):
        plan(cluster, clock, "to-offset", "ten")
    with pytest.raises(InvalidRequest, match="allowed"):
        Scenario("to-somewhere")
    cluster.create_topic("fresh", 1)
    with pytest.raises(InvalidRequest, match="no committed offset"):
        plan(cluster, clock, "shift-by", 1, topics=["fresh"])


def test_execute_keeps_a_restore_point_and_undo_puts_offsets_back(cluster, clock, tmp_path):
    points = RestorePoints(tmp_path / "restore.json")
    p = plan(cluster, clock, "to-earliest")
    execute_reset(cluster, p, points)
    assert {tp: om.offset for tp, om in cluster.committed_offsets("billing").items()} == {
        ("orders", 0): 0,
        ("orders", 1): 0,
    }
    assert RestorePoints(tmp_path / "restore.json").latest("billing") is not None  # persisted
    undo_reset(cluster, "billing", points)
    assert {tp: om.offset for tp, om in cluster.committed_offsets("billing").items()} == {
        ("orders", 0): 10,
        ("orders", 1): 5,
    }
    with pytest.raises(InvalidRequest, match="no reset to undo"):
        undo_reset(cluster, "billing", points)


def test_active_group_is_refused_and_nothing_changes(cluster, clock):
    c = Consumer(cluster, "billing", enable_auto_commit=False)
    c.subscribe(["orders"])
    for _ in range(5):
        c.poll()
    assert cluster.describe_group("billing").state == "Stable"
    p = plan(cluster, clock, "to-earliest")
    assert p.refusal == (
        "Assignments can only be reset if the group 'billing' is inactive, but the current state is Stable."
    )
    with pytest.raises(ResetRefused, match="inactive"):
        execute_reset(cluster, p)
    assert {tp: om.offset for tp, om in cluster.committed_offsets("billing").items()} == {
        ("orders", 0): 10,
        ("orders", 1): 5,
    }


def test_export_reads_back_through_from_file(cluster, clock):
    exported = plan(cluster, clock, "shift-by", -2).export_csv()
    assert exported == "orders,0,8\norders,1,3\n"
    assert after(plan(cluster, clock, "from-file", exported)) == {("orders", 0): 8, ("orders", 1): 3}
    assert "GROUP" in plan(cluster, clock, "to-earliest").dry_run_table().splitlines()[0]


def test_parsers():
    assert parse_datetime("1970-01-01T00:00:01.500") == 1500
    assert parse_datetime("1970-01-01T01:00:00.000+01:00") == 0
    assert parse_datetime("1970-01-01T00:00:00.000Z") == 0
    assert parse_duration("PT1M") == 60_000
    assert parse_duration("P1DT2H") == 93_600_000
    assert parse_duration("PT0.5S") == 500


@pytest.mark.parametrize("millis", [0, 1, 3, 5, 7, 999])
def test_parse_datetime_keeps_every_millisecond(millis: int) -> None:
    # float seconds * 1000 rounds .003 down to 2: a reset would land one record early
    from logcore.admin import parse_datetime

    base = parse_datetime("2024-05-06T07:08:01.000")
    assert parse_datetime(f"2024-05-06T07:08:01.{millis:03d}") - base == millis
