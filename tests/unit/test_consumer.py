"""The in-process consumer: assignment strategies, listeners, positions, resets."""

from __future__ import annotations

from pathlib import Path

import pytest

from logcore import ManualClock
from logcore.cluster import EmbeddedCluster
from logcore.consumer import Consumer
from logcore.errors import InvalidRequest, NoOffsetForPartition
from logcore.events import GroupRebalanced


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def cluster(tmp_path: Path, clock: ManualClock):
    c = EmbeddedCluster(tmp_path / "data", clock=clock, initial_rebalance_delay_ms=0)
    yield c
    c.close()


class Listener:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[tuple[str, int]]]] = []

    def on_partitions_revoked(self, partitions):
        self.calls.append(("revoked", sorted(partitions)))

    def on_partitions_assigned(self, partitions):
        self.calls.append(("assigned", sorted(partitions)))


def settle(consumers, clock, rounds=60):
    """Poll everyone until the group is Stable and nobody wants to rejoin."""
    for _ in range(rounds):
        for c in consumers:
            c.poll()
        clock.advance(500)  # members learn of a rebalance from their next heartbeat (3 s)
        g = consumers[0].cluster.describe_group(consumers[0].group_id)
        if g.state == "Stable" and all(not c._needs_join and c._joined for c in consumers):
            return
    raise AssertionError("the group did not settle")


def test_range_assignment_across_two_consumers(cluster, clock):
    cluster.create_topic("t0", 3)
    cluster.create_topic("t1", 3)
    cs = [Consumer(cluster, "g", client_id=f"c{i}", partition_assignment_strategy=["range"]) for i in range(2)]
    for c in cs:
        c.subscribe(["t0", "t1"])
    settle(cs, clock)
    first, second = sorted(cs, key=lambda c: c.member_id)
    assert first.assignment() == [("t0", 0), ("t0", 1), ("t1", 0), ("t1", 1)]
    assert second.assignment() == [("t0", 2), ("t1", 2)]


def test_cooperative_sticky_revokes_first_then_assigns_in_a_second_rebalance(cluster, clock):
    cluster.create_topic("t", 6)
    rebalances: list[GroupRebalanced] = []
    cluster.events.subscribe(lambda e: rebalances.append(e) if isinstance(e, GroupRebalanced) else None)
    ls = [Listener() for _ in range(3)]
    cs = [
        Consumer(cluster, "g", client_id=f"c{i}", partition_assignment_strategy=["cooperative-sticky"])
        for i in range(3)
    ]
    for c, listener in zip(cs[:2], ls[:2], strict=True):
        c.subscribe(["t"], listener)
    settle(cs[:2], clock)
    before = {c.client_id: set(c.assignment()) for c in cs[:2]}
    assert sum(len(v) for v in before.values()) == 6
    generation = cluster.describe_group("g").generation
    cs[2].subscribe(["t"], ls[2])
    settle(cs, clock)
    after = {c.client_id: set(c.assignment()) for c in cs}
    assert sorted(len(v) for v in after.values()) == [2, 2, 2]
    # Sticky: the old members kept what they had, minus what they gave up.
    for cid in ("c0", "c1"):
        assert after[cid] <= before[cid]
    # Two rebalances: the first revoked, the second handed the revoked partitions out.
    assert cluster.describe_group("g").generation == generation + 2
    gens = [e for e in rebalances if e.generation > generation]
    assert len(gens) == 2
    first_round = {tp for _, parts in gens[0].members for tp in parts}
    assert len(first_round) < 6  # held back in the first round
    assert {tp for _, parts in gens[1].members for tp in parts} == {("t", p) for p in range(6)}
    # Revoked partitions were never owned by two members at once: revocation came first.
    assert any(kind == "revoked" for kind, _ in ls[0].calls + ls[1].calls)
    assert ls[2].calls[-1][0] == "assigned" and len(ls[2].calls[-1][1]) == 2


def test_eager_rebalance_revokes_everything_then_assigns(cluster, clock):
    cluster.create_topic("t", 2)
    listener = Listener()
    a = Consumer(cluster, "g", client_id="a", partition_assignment_strategy=["range"])
    a.subscribe(["t"], listener)
    settle([a], clock)
    b = Consumer(cluster, "g", client_id="b", partition_assignment_strategy=["range"])
    b.subscribe(["t"])
    settle([a, b], clock)
    assert ("revoked", [("t", 0), ("t", 1)]) in listener.calls
    assert len(a.assignment()) == 1 and len(b.assignment()) == 1


def test_pattern_subscription_picks_up_new_topics(cluster, clock):
    cluster.create_topic("orders-eu", 1)
    c = Consumer(cluster, "g")
    c.subscribe(r"orders-.*")
    settle([c], clock)
    assert c.assignment() == [("orders-eu", 0)]
    cluster.create_topic("orders-us", 1)
    cluster.create_topic("payments", 1)
    settle([c], clock)
    assert c.assignment() == [("orders-eu", 0), ("orders-us", 0)]


def test_auto_offset_reset_policies(cluster, clock):
    cluster.create_topic("t", 1)
    for _ in range(5):
        cluster.produce("t", b"x", partition=0)
    for policy, expected in (("earliest", 0), ("latest", 5)):
        c = Consumer(cluster, f"g-{policy}", auto_offset_reset=policy)
        c.assign([("t", 0)])
        assert c.position(("t", 0)) == expected
    c = Consumer(cluster, "g-none", auto_offset_reset="none")
    c.assign([("t", 0)])
    with pytest.raises(NoOffsetForPartition, match="auto.offset.reset=none"):
        c.poll()
    with pytest.raises(InvalidRequest, match="allowed"):
        Consumer(cluster, "g", auto_offset_reset="beginning")


def test_out_of_range_position_resets_after_retention(cluster, clock):
    cluster.create_topic("t", 1, {"segment.bytes": "200", "retention.ms": "1000"})
    c = Consumer(cluster, "g", auto_offset_reset="earliest", enable_auto_commit=False)
    c.assign([("t", 0)])
    for i in range(20):
        cluster.produce("t", b"%d" % i, partition=0)
    assert c.poll(max_records=1)[0].offset == 0
    clock.advance(5000)
    cluster.produce("t", b"late", partition=0)
    cluster.logs.maintenance()
    start, hw = cluster.watermarks("t", 0)
    assert start > 1
    c.poll()  # position 1 is gone: reset to earliest per the policy
    assert c.position(("t", 0)) in (start, hw)


def test_seek_and_position(cluster, clock):
    cluster.create_topic("t", 1)
    for i in range(10):
        cluster.produce("t", b"%d" % i, partition=0)
    c = Consumer(cluster, "g", auto_offset_reset="earliest")
    c.assign([("t", 0)])
    c.seek(("t", 0), 7)
    assert [r.offset for r in c.poll()] == [7, 8, 9]
    assert c.position(("t", 0)) == 10
    c.seek_to_beginning()
    assert c.position(("t", 0)) == 0
    c.seek_to_end()
    assert c.poll() == []


def test_commit_after_a_short_poll_covers_every_assigned_partition(cluster, clock):
    """Kafka positions every assigned partition before fetching (updateFetchPositions), so
    commitSync() after reading one record commits the partitions not reached yet too."""
    cluster.create_topic("t", 3)
    for p in range(3):
        for _ in range(4):
            cluster.produce("t", b"x", partition=p)
    c = Consumer(cluster, "g", auto_offset_reset="earliest", enable_auto_commit=False)
    c.assign([("t", 0), ("t", 1), ("t", 2)])
    records = c.poll(max_records=1)
    assert len(records) == 1
    committed = c.commit()
    read = (records[0].topic, records[0].partition)
    assert committed == {tp: (1 if tp == read else 0) for tp in [("t", 0), ("t", 1), ("t", 2)]}
