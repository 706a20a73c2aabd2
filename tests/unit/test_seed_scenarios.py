"""One scenario per part of the seed document: read, process, commit, resume.

The train: a topic is the train, a partition a compartment, an offset a seat number,
a consumer the ticket checker, ``__consumer_offsets`` the checker's notebook.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from logcore import ManualClock
from logcore.cluster import EmbeddedCluster
from logcore.consumer import Consumer
from logcore.errors import CommitFailed
from logcore.offsets_store import OFFSETS_TOPIC


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def cluster(tmp_path: Path, clock: ManualClock):
    c = EmbeddedCluster(tmp_path / "data", clock=clock, initial_rebalance_delay_ms=0)
    yield c
    c.close()


def board(cluster: EmbeddedCluster, topic: str, n: int, partition: int = 0) -> None:
    for i in range(n):
        cluster.produce(topic, f"passenger-{i}".encode(), partition=partition)


def join(consumer: Consumer, clock: ManualClock, rounds: int = 10) -> None:
    """Poll until the consumer holds an assignment (the clock moves, nothing sleeps)."""
    for _ in range(rounds):
        consumer.poll()
        if consumer.assignment():
            return
        clock.advance(100)
    raise AssertionError("consumer never joined")


def test_commit_then_crash_then_resume_at_committed_offset(cluster, clock, tmp_path):
    cluster.create_topic("train", 1)
    board(cluster, "train", 50)
    checker = Consumer(cluster, "checkers", auto_offset_reset="earliest", enable_auto_commit=False)
    checker.assign([("train", 0)])
    seen = checker.poll(max_records=43)
    assert [r.offset for r in seen] == list(range(43))
    checker.commit()  # "checked till seat 42": the notebook says 43, the next seat
    assert checker.committed([("train", 0)])[("train", 0)].offset == 43
    # Crash: no close, no leave; the whole engine goes away and comes back.
    cluster.logs.close()
    again = EmbeddedCluster(tmp_path / "data", clock=clock)
    try:
        resumed = Consumer(again, "checkers", auto_offset_reset="earliest", enable_auto_commit=False)
        resumed.assign([("train", 0)])
        assert resumed.position(("train", 0)) == 43
        assert resumed.poll()[0].value == b"passenger-43"
    finally:
        again.close()


def test_two_groups_read_the_same_topic_independently(cluster, clock):
    cluster.create_topic("train", 1)
    a = Consumer(cluster, "morning-shift", auto_offset_reset="earliest", enable_auto_commit=False)
    b = Consumer(cluster, "night-shift", auto_offset_reset="earliest", enable_auto_commit=False)
    a.subscribe(["train"])
    b.subscribe(["train"])
    join(a, clock)
    join(b, clock)
    board(cluster, "train", 10)  # passengers board once both checkers are on the train
    assert len(a.poll()) == 10
    a.commit()
    assert [r.offset for r in b.poll(max_records=3)] == [0, 1, 2]
    b.commit()
    assert cluster.committed_offsets("morning-shift")[("train", 0)].offset == 10
    assert cluster.committed_offsets("night-shift")[("train", 0)].offset == 3


def test_commit_before_processing_loses_exactly_the_records_in_hand(cluster, clock, tmp_path):
    cluster.create_topic("train", 1)
    board(cluster, "train", 30)
    c = Consumer(cluster, "at-most-once", auto_offset_reset="earliest", enable_auto_commit=False)
    c.assign([("train", 0)])
    processed: list[int] = []
    in_hand = c.poll(max_records=10)
    processed += [r.offset for r in in_hand]
    c.commit()
    in_hand = c.poll(max_records=10)  # offsets 10..19
    c.commit()  # commit first ...
    processed += [r.offset for r in in_hand[:4]]  # ... crash after processing 4 of them
    restarted = Consumer(cluster, "at-most-once", auto_offset_reset="earliest", enable_auto_commit=False)
    restarted.assign([("train", 0)])
    processed += [r.offset for r in restarted.poll(max_records=100)]
    lost = sorted(set(range(30)) - set(processed))
    assert lost == list(range(14, 20))  # exactly the 6 records in hand, never processed
    assert len(processed) == len(set(processed))  # and nothing read twice


def test_commit_after_processing_rereads_exactly_those_since_last_commit(cluster, clock):
    cluster.create_topic("train", 1)
    board(cluster, "train", 30)
    c = Consumer(cluster, "at-least-once", auto_offset_reset="earliest", enable_auto_commit=False)
    c.assign([("train", 0)])
    processed: list[int] = []
    batch = c.poll(max_records=10)
    processed += [r.offset for r in batch]
    c.commit()  # after processing 0..9
    batch = c.poll(max_records=10)
    processed += [r.offset for r in batch]  # processed 10..19, crash before the commit
    restarted = Consumer(cluster, "at-least-once", auto_offset_reset="earliest", enable_auto_commit=False)
    restarted.assign([("train", 0)])
    processed += [r.offset for r in restarted.poll(max_records=100)]
    twice = sorted(o for o in set(processed) if processed.count(o) > 1)
    assert twice == list(range(10, 20))  # exactly the records since the last commit
    assert set(processed) == set(range(30))  # and nothing lost


def test_zombie_member_is_fenced(cluster, clock):
    cluster.create_topic("train", 2)
    board(cluster, "train", 10)
    zombie = Consumer(
        cluster, "checkers", auto_offset_reset="earliest", enable_auto_commit=False, session_timeout_ms=10_000
    )
    zombie.subscribe(["train"])
    join(zombie, clock)
    zombie.poll()
    # The checker pauses longer than its session timeout; the group moves on.
    clock.advance(11_000)
    other = Consumer(cluster, "checkers", auto_offset_reset="earliest", enable_auto_commit=False)
    other.subscribe(["train"])
    join(other, clock)
    assert sorted(other.assignment()) == [("train", 0), ("train", 1)]
    with pytest.raises(CommitFailed, match="generation|not in group"):
        zombie.commit({("train", 0): 5})
    assert cluster.committed_offsets("checkers") == {}


def test_restart_replays_the_notebook_and_every_group_resumes(cluster, clock, tmp_path):
    cluster.create_topic("train", 3)
    for p in range(3):
        board(cluster, "train", 20, partition=p)
    expected = {}
    for g, n in (("g1", 5), ("g2", 11), ("g3", 20)):
        c = Consumer(cluster, g, auto_offset_reset="earliest", enable_auto_commit=False)
        c.assign([("train", p) for p in range(3)])
        for p in range(3):
            c.seek(("train", p), n - p)
        c.commit()
        expected[g] = {("train", p): n - p for p in range(3)}
    # The notebook is itself a log: its records are there to read.
    notebook_records = sum(p.high_watermark for p in cluster.describe_topic(OFFSETS_TOPIC).partitions)
    assert notebook_records >= 3
    cluster.close()
    again = EmbeddedCluster(tmp_path / "data", clock=clock)
    try:
        for g, offsets in expected.items():
            assert {tp: om.offset for tp, om in again.committed_offsets(g).items()} == offsets
            c = Consumer(again, g, auto_offset_reset="latest", enable_auto_commit=False)
            c.assign(list(offsets))
            assert {tp: c.position(tp) for tp in offsets} == offsets
    finally:
        again.close()


def test_auto_commit_commits_positions_on_interval_and_close(cluster, clock):
    cluster.create_topic("train", 1)
    c = Consumer(cluster, "auto", auto_offset_reset="earliest", auto_commit_interval_ms=5000)
    c.subscribe(["train"])
    join(c, clock)
    board(cluster, "train", 10)
    c.poll(max_records=4)
    assert cluster.committed_offsets("auto") == {}
    clock.advance(5000)
    c.poll(max_records=2)  # the poll after the interval commits what was consumed before it
    assert cluster.committed_offsets("auto")[("train", 0)].offset in (4, 6)
    c.close()
    assert cluster.committed_offsets("auto")[("train", 0)].offset == 6
    assert cluster.describe_group("auto").state == "Empty"
