"""Ticket checkers in the engine: crash and restart give exact duplicates and losses.

Every scenario runs on a ManualClock: time moves only when the test says, nothing sleeps.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from logcore import ManualClock
from logcore.checkers import CheckerSpec, CommitPolicy, Lab, State, Strategy
from logcore.cluster import EmbeddedCluster
from logcore.errors import InvalidRequest, UnknownTopicOrPartition
from logcore.ledger import Counts, Ledger, Seat

TOPIC = "seats"
GROUP = "checkers"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def cluster(tmp_path: Path, clock: ManualClock) -> Iterator[EmbeddedCluster]:
    c = EmbeddedCluster(tmp_path / "data", clock=clock, initial_rebalance_delay_ms=0)
    yield c
    c.close()


@pytest.fixture
def lab(cluster: EmbeddedCluster) -> Lab:
    return Lab(cluster)


def board(cluster: EmbeddedCluster, n: int, partitions: int = 1) -> None:
    """n passengers on each partition."""
    if TOPIC not in cluster.list_topics():
        cluster.create_topic(TOPIC, partitions)
    for p in range(partitions):
        for i in range(n):
            cluster.produce(TOPIC, f"passenger {i}".encode(), partition=p)


def run(lab: Lab, clock: ManualClock, ms: int, tick: int = 50) -> None:
    """Move time in small ticks, stepping the lab after each, as the server's loop does."""
    for _ in range(ms // tick):
        clock.advance(tick)
        lab.step()


def spec(name: str = "front", policy: str = "every:10", pace: float = 10.0, **kw: object) -> CheckerSpec:
    return CheckerSpec(name, GROUP, TOPIC, pace=pace, policy=CommitPolicy.parse(policy), **kw)  # type: ignore[arg-type]


def committed(cluster: EmbeddedCluster, partition: int = 0) -> int | None:
    om = cluster.coordinator.fetch_offsets(GROUP, [(TOPIC, partition)])[(TOPIC, partition)]
    return None if om is None else om.offset


def until(lab: Lab, clock: ManualClock, done: object, limit_ms: int = 120_000) -> None:
    for _ in range(limit_ms // 50):
        if done():  # type: ignore[operator]
            return
        clock.advance(50)
        lab.step()
    raise AssertionError("the condition never came true")


def test_commit_every_10_then_crash_and_restart_repeats_the_unnoted_records(
    cluster: EmbeddedCluster, clock: ManualClock, lab: Lab
) -> None:
    board(cluster, 40)
    checker = lab.add(spec(policy="every:10"))
    until(lab, clock, lambda: checker.processed == 25)
    assert committed(cluster) == 20
    checker.crash()
    # 20..24 were processed and never noted: the restart reads them again.
    checker.restart()
    until(lab, clock, lambda: checker.processed == 40 + 5)
    assert committed(cluster) == 40
    assert lab.totals(GROUP) == Counts(processed=45, duplicates=5, extra=5, losses=0, in_flight=0)
    seats = lab.seats(GROUP, (TOPIC, 0), 0, 40)
    assert seats[:20] == [Seat.CHECKED] * 20
    assert seats[20:25] == [Seat.TWICE] * 5
    assert seats[25:] == [Seat.CHECKED] * 15


def test_commit_before_processing_then_crash_loses_the_rest_of_the_batch(
    cluster: EmbeddedCluster, clock: ManualClock, lab: Lab
) -> None:
    board(cluster, 30)
    checker = lab.add(spec(policy="before", batch=5))
    until(lab, clock, lambda: checker.processed == 12)
    # The third batch (10..14) was noted when it was fetched; 10 and 11 are processed.
    assert committed(cluster) == 15
    assert lab.totals(GROUP).in_flight == 3  # 12, 13, 14 in hand, already noted
    checker.crash()
    assert lab.totals(GROUP) == Counts(processed=12, duplicates=0, extra=0, losses=3, in_flight=0)
    checker.restart()
    until(lab, clock, lambda: committed(cluster) == 30 and not checker.held)
    seats = lab.seats(GROUP, (TOPIC, 0), 0, 30)
    assert seats[12:15] == [Seat.SKIPPED] * 3
    assert seats.count(Seat.TWICE) == 0
    assert lab.totals(GROUP) == Counts(processed=27, duplicates=0, extra=0, losses=3, in_flight=0)


def test_commit_after_each_record_loses_and_repeats_nothing(
    cluster: EmbeddedCluster, clock: ManualClock, lab: Lab
) -> None:
    board(cluster, 20)
    checker = lab.add(spec(policy="each"))
    until(lab, clock, lambda: checker.processed == 7)
    assert committed(cluster) == 7
    checker.crash()
    checker.restart()
    until(lab, clock, lambda: committed(cluster) == 20)
    assert lab.totals(GROUP) == Counts(processed=20, duplicates=0, extra=0, losses=0, in_flight=0)


def test_auto_commit_commits_at_the_next_poll_and_a_crash_repeats_since_then(
    cluster: EmbeddedCluster, clock: ManualClock, lab: Lab
) -> None:
    board(cluster, 100)
    # 10 records a second, batches of 5 (a poll every 0.5 s), auto-commit every 2 s.
    checker = lab.add(spec(policy="auto:2000", batch=5))
    until(lab, clock, lambda: committed(cluster) is not None)
    first = committed(cluster)
    assert first is not None and first % 5 == 0  # a poll's position: whole batches
    assert checker.processed >= first  # it never commits what was not processed
    until(lab, clock, lambda: checker.processed == first + 13)
    # Nothing new is committed before the interval has passed since the last auto-commit.
    assert committed(cluster) == first
    checker.crash()
    checker.restart()
    until(lab, clock, lambda: committed(cluster) == 100 and not checker.held, limit_ms=60_000)
    totals = lab.totals(GROUP)
    assert totals.duplicates == 13 and totals.losses == 0 and totals.processed == 113


def test_a_crashed_member_stays_in_the_group_until_its_session_times_out(
    cluster: EmbeddedCluster, clock: ManualClock, lab: Lab
) -> None:
    board(cluster, 50, partitions=2)
    front = lab.add(spec("front", policy="each", pace=1.0, session_timeout_ms=6_000))
    rear = lab.add(spec("rear", policy="each", pace=1.0, session_timeout_ms=6_000))
    until(lab, clock, lambda: len(front.view().assignment) == 1 and len(rear.view().assignment) == 1)
    rear.crash()
    run(lab, clock, 3_000)
    # No LeaveGroup: the coordinator still counts two members, and front keeps one partition.
    assert len(cluster.describe_group(GROUP).members) == 2
    assert len(front.view().assignment) == 1
    until(lab, clock, lambda: len(front.view().assignment) == 2, limit_ms=20_000)
    assert len(cluster.describe_group(GROUP).members) == 1
    assert rear.state is State.CRASHED and rear.view().assignment == ()


def test_pause_keeps_the_member_and_stops_processing(cluster: EmbeddedCluster, clock: ManualClock, lab: Lab) -> None:
    board(cluster, 50)
    checker = lab.add(spec(policy="each"))
    until(lab, clock, lambda: checker.processed == 3)
    checker.pause()
    done = checker.processed
    run(lab, clock, 30_000)  # far past the session timeout: polls keep it a member
    assert checker.processed == done  # the record in hand waits too
    assert len(cluster.describe_group(GROUP).members) == 1
    checker.resume()
    until(lab, clock, lambda: checker.processed == done + 5)
    assert lab.totals(GROUP).duplicates == 0


def test_removing_a_member_rebalances_at_once_and_loses_nothing(
    cluster: EmbeddedCluster, clock: ManualClock, lab: Lab
) -> None:
    board(cluster, 40, partitions=2)
    lab.add(spec("front", policy="every:4", pace=5.0))
    rear = lab.add(spec("rear", policy="every:4", pace=5.0))
    until(lab, clock, lambda: len(rear.view().assignment) == 1)
    run(lab, clock, 1_500)
    lab.remove("rear")
    front = lab.get("front")
    until(lab, clock, lambda: len(front.view().assignment) == 2, limit_ms=5_000)
    until(lab, clock, lambda: lab.totals(GROUP).processed == 80)
    totals = lab.totals(GROUP)
    # rear noted what it processed as it left; front's last few since its last every-4
    # commit wait, uncommitted (in flight), for more records to come.
    assert (totals.duplicates, totals.losses) == (0, 0)
    assert totals.in_flight == 80 - (committed(cluster, 0) or 0) - (committed(cluster, 1) or 0)
    assert totals.in_flight < 2 * 4


def test_a_step_after_a_long_gap_catches_up_by_pace(cluster: EmbeddedCluster, clock: ManualClock, lab: Lab) -> None:
    board(cluster, 100)
    checker = lab.add(spec(policy="each", pace=10.0))
    until(lab, clock, lambda: checker.processed >= 1)
    done = checker.processed
    clock.advance(2_000)
    lab.step()
    assert checker.processed == done + 20


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sometimes", "unknown commit strategy"),
        ("every", "needs a whole number"),
        ("every:0", "between 1 and 10000"),
        ("auto:5", "between 100 and 600000"),
        ("each:3", "takes no number"),
    ],
)
def test_bad_commit_strategies_say_what_is_allowed(text: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message) as e:
        CommitPolicy.parse(text)
    assert "allowed" in str(e.value) or "between" in str(e.value)


def test_policies_read_back() -> None:
    assert str(CommitPolicy.parse("every:25")) == "every:25"
    assert CommitPolicy.parse("auto:5000").strategy is Strategy.AUTO
    assert CommitPolicy.parse(" before ").describe() == "commits before processing"


def test_bad_checkers_are_refused_and_change_nothing(cluster: EmbeddedCluster, lab: Lab) -> None:
    board(cluster, 1)
    with pytest.raises(InvalidRequest, match="between 0.1 and 100"):
        lab.add(spec(pace=0))
    with pytest.raises(InvalidRequest, match="not allowed"):
        lab.add(spec(name="<script>"))
    with pytest.raises(UnknownTopicOrPartition):
        lab.add(CheckerSpec("x", GROUP, "nope"))
    lab.add(spec("front"))
    with pytest.raises(InvalidRequest, match="exists already"):
        lab.add(spec("front"))
    with pytest.raises(InvalidRequest, match="allowed: pause"):
        lab.control("front", "explode")
    assert list(lab.checkers) == ["front"]


def test_reset_forgets_checkers_and_the_ledger(cluster: EmbeddedCluster, clock: ManualClock, lab: Lab) -> None:
    board(cluster, 10)
    checker = lab.add(spec(policy="every:3"))
    until(lab, clock, lambda: checker.processed == 5)
    lab.reset()
    assert not lab.checkers and lab.ledger.groups() == []
    # A clean stop noted what was processed before the member left.
    assert committed(cluster) == 5


def test_ledger_counts_from_its_origin_and_within_the_log() -> None:
    ledger = Ledger()
    tp = (TOPIC, 0)
    for o in (10, 11, 11, 14):
        ledger.part(GROUP, tp).note_processed(o, "front", 0)
    # 12 and 13 lie behind the commit and were never processed; 15 is held.
    assert ledger.counts(GROUP, tp, committed=15, fetched=[15]) == Counts(4, 1, 1, 2, 1)
    # Offsets before the origin (where this lab began) are not losses; nor are offsets
    # retention removed.
    assert ledger.counts(GROUP, tp, committed=15, log_start=13).losses == 1
    assert ledger.counts(GROUP, tp, committed=None).in_flight == 3
    assert ledger.seats(GROUP, tp, 9, 17, committed=15, fetched=[15]) == [
        Seat.UNREAD,
        Seat.CHECKED,
        Seat.TWICE,
        Seat.SKIPPED,
        Seat.SKIPPED,
        Seat.CHECKED,
        Seat.FETCHED,
        Seat.UNREAD,
    ]
