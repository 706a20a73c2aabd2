"""The classic group protocol: states, generations, rebalances, commit checks."""

from __future__ import annotations

import pytest

from logcore import ManualClock
from logcore.errors import (
    GroupIdNotFound,
    IllegalGeneration,
    IllegalState,
    NonEmptyGroup,
    OffsetMetadataTooLarge,
    RebalanceInProgress,
    UnknownMemberId,
)
from logcore.groups import Group, GroupCoordinator, GroupState, OffsetsLog

PROTOCOLS = [("range", b"")]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def coord(clock: ManualClock) -> GroupCoordinator:
    return GroupCoordinator(OffsetsLog(), clock=clock, initial_rebalance_delay_ms=3000)


def test_only_kafkas_state_moves_are_allowed() -> None:
    g = Group("g")
    with pytest.raises(IllegalState):
        g.transition_to(GroupState.STABLE, 0)
    g.transition_to(GroupState.PREPARING_REBALANCE, 0)
    g.transition_to(GroupState.COMPLETING_REBALANCE, 0)
    with pytest.raises(IllegalState):
        g.transition_to(GroupState.EMPTY, 0)
    g.transition_to(GroupState.STABLE, 0)
    g.transition_to(GroupState.DEAD, 0)


def test_initial_rebalance_waits_for_more_members(coord, clock) -> None:
    a = coord.join_group("g", protocols=PROTOCOLS, client_id="a")
    assert a.pending and a.member_id.startswith("a-")
    clock.advance(1000)
    b = coord.join_group("g", protocols=PROTOCOLS, client_id="b")
    assert b.pending
    clock.advance(2500)  # 3.5 s after the first join: b extended the delay
    assert coord.join_group("g", a.member_id, protocols=PROTOCOLS).pending
    clock.advance(600)
    ja = coord.join_group("g", a.member_id, protocols=PROTOCOLS)
    jb = coord.join_group("g", b.member_id, protocols=PROTOCOLS)
    assert not ja.pending and not jb.pending
    assert ja.generation == jb.generation == 1
    assert ja.is_leader and ja.leader == a.member_id  # the first to join leads
    assert len(ja.members) == 2 and jb.members == ()
    assert coord.describe("g").state is GroupState.COMPLETING_REBALANCE


def form(coord, clock, n=2):
    ids = [coord.join_group("g", protocols=PROTOCOLS, client_id=f"c{i}").member_id for i in range(n)]
    clock.advance(3001)
    joins = [coord.join_group("g", m, protocols=PROTOCOLS) for m in ids]
    gen = joins[0].generation
    leader = joins[0].leader
    assert coord.sync_group("g", leader, gen, {m: m.encode() for m in ids}).assignment == leader.encode()
    for m in ids:
        if m != leader:
            assert coord.sync_group("g", m, gen, None).assignment == m.encode()
    assert coord.describe("g").state is GroupState.STABLE
    return ids, gen


def test_commit_checks_follow_validate_offset_commit(coord, clock) -> None:
    ids, gen = form(coord, clock)
    coord.commit_offsets("g", {("t", 0): 5}, member_id=ids[0], generation=gen)
    with pytest.raises(IllegalGeneration):
        coord.commit_offsets("g", {("t", 0): 6}, member_id=ids[0], generation=gen - 1)
    with pytest.raises(UnknownMemberId):
        coord.commit_offsets("g", {("t", 0): 6}, member_id="nobody", generation=gen)
    with pytest.raises(UnknownMemberId):  # generation -1 while the group is active
        coord.commit_offsets("g", {("t", 0): 6})
    with pytest.raises(OffsetMetadataTooLarge):
        coord.commit_offsets("g", {("t", 0): (6, "x" * 4097)}, member_id=ids[0], generation=gen)
    assert coord.fetch_offsets("g")[("t", 0)].offset == 5  # every refusal changed nothing
    # A new member starts a rebalance; the current generation may still commit.
    c = coord.join_group("g", protocols=PROTOCOLS, client_id="late")
    assert coord.describe("g").state is GroupState.PREPARING_REBALANCE
    coord.commit_offsets("g", {("t", 0): 7}, member_id=ids[0], generation=gen)
    with pytest.raises(RebalanceInProgress):
        coord.heartbeat("g", ids[0], gen)
    for m in [*ids, c.member_id]:
        coord.join_group("g", m, protocols=PROTOCOLS)
    assert coord.describe("g").state is GroupState.COMPLETING_REBALANCE
    with pytest.raises(RebalanceInProgress):
        coord.commit_offsets("g", {("t", 0): 8}, member_id=ids[0], generation=gen + 1)
    with pytest.raises(IllegalGeneration):
        coord.commit_offsets("g", {("t", 0): 8}, member_id=ids[0], generation=gen)


def test_generation_minus_one_creates_a_simple_empty_group(coord) -> None:
    coord.commit_offsets("admin-group", {("t", 0): 3})
    g = coord.describe("admin-group")
    assert g.state is GroupState.EMPTY and g.is_simple
    assert coord.fetch_offsets("admin-group", [("t", 0), ("t", 1)]) == {
        ("t", 0): coord.fetch_offsets("admin-group")[("t", 0)],
        ("t", 1): None,
    }


def test_missed_session_timeout_removes_member_and_rebalances(coord, clock) -> None:
    ids, gen = form(coord, clock)
    clock.advance(40_000)
    coord.heartbeat("g", ids[0], gen)
    clock.advance(10_000)  # ids[1] has now been silent for 50 s > 45 s
    coord.tick()
    g = coord.describe("g")
    assert ids[1] not in g.members
    assert g.state is GroupState.PREPARING_REBALANCE
    j = coord.join_group("g", ids[0], protocols=PROTOCOLS)
    assert not j.pending and j.generation == gen + 1 and j.leader == ids[0]


def test_leader_leaving_passes_leadership_on(coord, clock) -> None:
    ids, _gen = form(coord, clock, 3)
    coord.leave_group("g", ids[0])
    for m in ids[1:]:
        j = coord.join_group("g", m, protocols=PROTOCOLS)
    assert j.leader == ids[1]


def test_last_member_leaving_completes_an_empty_generation(coord, clock) -> None:
    ids, gen = form(coord, clock, 1)
    coord.leave_group("g", ids[0])
    g = coord.describe("g")
    assert g.state is GroupState.EMPTY
    assert g.generation == gen + 1  # the rebalance that empties the group counts too
    with pytest.raises(UnknownMemberId):
        coord.heartbeat("g", ids[0], gen)


def test_delete_group_only_when_empty(coord, clock) -> None:
    ids, gen = form(coord, clock, 1)
    coord.commit_offsets("g", {("t", 0): 1}, member_id=ids[0], generation=gen)
    with pytest.raises(NonEmptyGroup):
        coord.delete_group("g")
    coord.leave_group("g", ids[0])
    coord.delete_group("g")
    with pytest.raises(GroupIdNotFound):
        coord.describe("g")
    assert coord.fetch_offsets("g") == {}


def test_offsets_expire_after_retention_once_empty(clock) -> None:
    coord = GroupCoordinator(OffsetsLog(), clock=clock, offsets_retention_ms=60_000)
    coord.commit_offsets("simple", {("t", 0): 1})
    clock.advance(59_000)
    coord.tick()
    assert coord.fetch_offsets("simple")
    clock.advance(2_000)
    coord.tick()
    assert coord.fetch_offsets("simple") == {}
    with pytest.raises(GroupIdNotFound):
        coord.describe("simple")  # the last offset expired: the group is deleted
