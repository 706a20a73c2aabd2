"""Kafka's client-side assignors: range, roundrobin, cooperative-sticky; protocol choice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logcore.assignors import (
    ASSIGNORS,
    Assignment,
    AssignmentResult,
    Subscription,
    TopicPartition,
    choose_protocol,
    cooperative_sticky_assign,
    range_assign,
    roundrobin_assign,
    run_assignor,
)
from logcore.errors import InconsistentGroupProtocol

TWO_BY_THREE = {"t0": 3, "t1": 3}


def subs(*members: str, topics: tuple[str, ...] = ("t0", "t1")) -> dict[str, Subscription]:
    return {m: Subscription(m, list(topics)) for m in members}


def tps(spec: str) -> list[TopicPartition]:
    """'t0p0 t1p2' -> [('t0', 0), ('t1', 2)]"""
    out = []
    for item in spec.split():
        topic, p = item.rsplit("p", 1)
        out.append((topic, int(p)))
    return sorted(out)


# --- docs/logcore.md, Kafka's rules, section 3 examples ---------------------------------------------------


def test_range_spec_example() -> None:
    assert range_assign(TWO_BY_THREE, subs("C0", "C1")) == {
        "C0": tps("t0p0 t0p1 t1p0 t1p1"),
        "C1": tps("t0p2 t1p2"),
    }


def test_roundrobin_spec_example() -> None:
    assert roundrobin_assign(TWO_BY_THREE, subs("C0", "C1")) == {
        "C0": tps("t0p0 t0p2 t1p1"),
        "C1": tps("t0p1 t1p0 t1p2"),
    }


# --- range ----------------------------------------------------------------------------


def test_range_quota_formula() -> None:
    # 7 partitions, 3 members: q=2, r=1 -> [0,3) [3,5) [5,7)
    result = range_assign({"t": 7}, subs("a", "b", "c", topics=("t",)))
    assert result == {"a": tps("tp0 tp1 tp2"), "b": tps("tp3 tp4"), "c": tps("tp5 tp6")}


def test_range_puts_static_members_first_by_instance_id() -> None:
    s = {
        "a-1": Subscription("a-1", ["t"]),
        "z-1": Subscription("z-1", ["t"], group_instance_id="i2"),
        "y-1": Subscription("y-1", ["t"], group_instance_id="i1"),
    }
    assert range_assign({"t": 3}, s) == {"y-1": [("t", 0)], "z-1": [("t", 1)], "a-1": [("t", 2)]}


def test_range_only_counts_members_subscribed_to_the_topic() -> None:
    s = {"a": Subscription("a", ["t0", "t1"]), "b": Subscription("b", ["t1"])}
    assert range_assign({"t0": 2, "t1": 2}, s) == {"a": tps("t0p0 t0p1 t1p0"), "b": tps("t1p1")}


def test_more_members_than_partitions_and_unknown_topics() -> None:
    result = range_assign({"t": 1}, subs("a", "b", topics=("t", "missing")))
    assert result == {"a": [("t", 0)], "b": []}
    assert roundrobin_assign({}, subs("a")) == {"a": []}
    assert range_assign({"t": 1}, {}) == {}


# --- roundrobin -----------------------------------------------------------------


def test_roundrobin_skips_members_not_subscribed() -> None:
    s = {
        "a": Subscription("a", ["t0"]),
        "b": Subscription("b", ["t0", "t1"]),
        "c": Subscription("c", ["t0", "t1"]),
    }
    # t0p0 a, t0p1 b, t1p0 c, t1p1 (a skipped) b, t1p2 c
    assert roundrobin_assign({"t0": 2, "t1": 3}, s) == {
        "a": tps("t0p0"),
        "b": tps("t0p1 t1p1"),
        "c": tps("t1p0 t1p2"),
    }


# --- cooperative-sticky -------------------------------------------------------------


def rejoin(
    result: AssignmentResult, subscriptions: Mapping[str, Subscription], generation: int
) -> dict[str, Subscription]:
    """Every member rejoins holding what the last round gave it."""
    return {
        m: Subscription(m, s.topics, list(result.assignment.get(m, [])), s.group_instance_id, generation)
        for m, s in subscriptions.items()
    }


def test_cooperative_first_round_has_no_owners_and_deals_round_robin() -> None:
    result = cooperative_sticky_assign(TWO_BY_THREE, subs("C0", "C1"))
    assert result.assignment == {"C0": tps("t0p0 t0p2 t1p1"), "C1": tps("t0p1 t1p0 t1p2")}
    assert result.held_back == frozenset() and not result.needs_follow_up


def test_cooperative_third_member_two_step_rebalance() -> None:
    first = cooperative_sticky_assign(TWO_BY_THREE, subs("C0", "C1"))
    gen1 = rejoin(first, subs("C0", "C1"), generation=1)
    gen1["C2"] = Subscription("C2", ["t0", "t1"])  # a newcomer owns nothing

    # Round 1: C0 and C1 keep 2 each (their quota of 6/3); the partition each gives
    # up is held back, so C2 gets nothing yet.
    r1 = cooperative_sticky_assign(TWO_BY_THREE, gen1)
    assert r1.needs_follow_up
    assert r1.assignment == {"C0": tps("t0p0 t0p2"), "C1": tps("t0p1 t1p0"), "C2": []}
    assert r1.held_back == frozenset(tps("t1p1 t1p2"))
    assert r1.revoking == {"C0": tps("t1p1"), "C1": tps("t1p2")}
    for m in ("C0", "C1"):  # sticky: nothing new, only a subset of what was owned
        assert set(r1.assignment[m]) <= set(first.assignment[m])

    # Round 2 (the follow-up): the revoked partitions go to C2; nobody else moves.
    r2 = cooperative_sticky_assign(TWO_BY_THREE, rejoin(r1, gen1, generation=2))
    assert not r2.needs_follow_up and r2.revoking == {}
    assert r2.assignment == {"C0": tps("t0p0 t0p2"), "C1": tps("t0p1 t1p0"), "C2": tps("t1p1 t1p2")}
    assert sorted(len(p) for p in r2.assignment.values()) == [2, 2, 2]


def test_cooperative_member_leaving_needs_no_second_round() -> None:
    three = subs("C0", "C1", "C2")
    r0 = cooperative_sticky_assign(TWO_BY_THREE, three)
    gen = rejoin(r0, three, generation=3)
    del gen["C2"]
    r1 = cooperative_sticky_assign(TWO_BY_THREE, gen)
    assert not r1.needs_follow_up
    for m in ("C0", "C1"):
        assert set(r0.assignment[m]) <= set(r1.assignment[m])
    assert sorted(len(p) for p in r1.assignment.values()) == [3, 3]


def test_cooperative_quota_with_remainder_keeps_max_quota_owners() -> None:
    # 7 partitions over 3 members: quotas 3, 2, 2. a owns 4, b owns 3 -> only one of
    # them may keep 3.
    s = {
        "a": Subscription("a", ["t"], tps("tp0 tp1 tp2 tp3"), generation=5),
        "b": Subscription("b", ["t"], tps("tp4 tp5 tp6"), generation=5),
        "c": Subscription("c", ["t"], generation=5),
    }
    r = cooperative_sticky_assign({"t": 7}, s)
    assert r.assignment == {"a": tps("tp0 tp1 tp2"), "b": tps("tp4 tp5"), "c": []}
    assert r.held_back == frozenset(tps("tp3 tp6"))
    r2 = cooperative_sticky_assign({"t": 7}, rejoin(r, s, 6))
    assert r2.assignment["c"] == tps("tp3 tp6") and not r2.needs_follow_up


def test_cooperative_ignores_claims_of_an_older_generation() -> None:
    s = {
        "a": Subscription("a", ["t"], tps("tp0 tp1"), generation=4),
        "zombie": Subscription("zombie", ["t"], tps("tp2 tp3"), generation=2),
    }
    r = cooperative_sticky_assign({"t": 4}, s)
    # The zombie's claims are void: its partitions are free to hand out now.
    assert r.held_back == frozenset()
    assert r.assignment == {"a": tps("tp0 tp1"), "zombie": tps("tp2 tp3")}


def test_cooperative_partition_claimed_twice_is_held_back() -> None:
    s = {
        "a": Subscription("a", ["t"], tps("tp0"), generation=1),
        "b": Subscription("b", ["t"], tps("tp0"), generation=1),
    }
    r = cooperative_sticky_assign({"t": 2}, s)
    assert ("t", 0) in r.held_back
    assert r.assignment == {"a": [], "b": [("t", 1)]} or r.assignment == {"a": [("t", 1)], "b": []}


def test_cooperative_unsubscribed_topic_is_revoked() -> None:
    s = {
        "a": Subscription("a", ["t0"], tps("t0p0 t1p0"), generation=1),
        "b": Subscription("b", ["t0", "t1"], tps("t0p1"), generation=1),
    }
    r = cooperative_sticky_assign({"t0": 2, "t1": 1}, s)
    assert r.revoking == {"a": tps("t1p0")}
    assert ("t1", 0) not in r.assignment["a"]
    assert r.held_back == frozenset(tps("t1p0"))  # a still holds it until it revokes
    r2 = cooperative_sticky_assign({"t0": 2, "t1": 1}, rejoin(r, s, 2))
    assert r2.assignment == {"a": tps("t0p0"), "b": tps("t0p1 t1p0")}


def test_cooperative_unequal_subscriptions_settle_in_two_rounds() -> None:
    # A local-move balancer stops at m0=4, n1=2, n2=3 here: evening it out needs a
    # chain (a b partition m0 -> n2 while an a partition n2 -> n1).
    ppt = {"a": 3, "b": 6}
    s = {"m0": Subscription("m0", ["a", "b"], tps("ap0 ap1 ap2 bp0 bp1 bp2 bp3 bp4 bp5"), generation=1)}
    s["n1"] = Subscription("n1", ["a"])
    s["n2"] = Subscription("n2", ["a", "b"])
    r1 = cooperative_sticky_assign(ppt, s)
    assert r1.assignment["m0"] == tps("bp3 bp4 bp5")
    assert r1.assignment["n1"] == r1.assignment["n2"] == []
    r2 = cooperative_sticky_assign(ppt, rejoin(r1, s, 2))
    assert not r2.needs_follow_up
    assert r2.assignment == {"m0": tps("bp3 bp4 bp5"), "n1": tps("ap0 ap1 ap2"), "n2": tps("bp0 bp1 bp2")}


# --- registry and protocol choice --------------------------------------------------


def test_registry_uses_kafkas_names() -> None:
    assert set(ASSIGNORS) == {"range", "roundrobin", "cooperative-sticky"}
    s = subs("C0", "C1")
    assert ASSIGNORS["range"](TWO_BY_THREE, s) == range_assign(TWO_BY_THREE, s)
    assert run_assignor("cooperative-sticky", TWO_BY_THREE, s) == cooperative_sticky_assign(TWO_BY_THREE, s)
    eager = run_assignor("roundrobin", TWO_BY_THREE, s)
    assert eager.assignment == roundrobin_assign(TWO_BY_THREE, s) and not eager.needs_follow_up
    with pytest.raises(ValueError, match="cooperative-sticky, range, roundrobin"):
        run_assignor("sticky", TWO_BY_THREE, s)


def test_mismatched_member_id_is_refused() -> None:
    with pytest.raises(ValueError, match="names member"):
        range_assign({"t": 1}, {"a": Subscription("b", ["t"])})


def test_choose_protocol_takes_a_common_protocol_by_votes() -> None:
    assert choose_protocol([["range", "cooperative-sticky"]] * 3) == "range"
    votes = [
        ["cooperative-sticky", "range"],
        ["cooperative-sticky", "range"],
        ["range", "cooperative-sticky"],
    ]
    assert choose_protocol(votes) == "cooperative-sticky"
    # roundrobin is not supported by everyone, so the first member votes for range.
    assert choose_protocol([["roundrobin", "range"], ["cooperative-sticky", "range"]]) == "range"


def test_choose_protocol_breaks_ties_as_javas_hashmap_iterates() -> None:
    # One vote each. Kafka keeps the first maximum in HashMap order: bucket
    # (h ^ h>>>16) & 15 is 9 for "range", 10 for "roundrobin", 15 for
    # "cooperative-sticky" (h = String.hashCode), whatever order the members come in.
    for tie in (["range", "roundrobin"], ["roundrobin", "range"]):
        assert choose_protocol([[tie[0], tie[1]], [tie[1], tie[0]]]) == "range"
    pair = ["cooperative-sticky", "roundrobin"]
    assert choose_protocol([pair, pair[::-1]]) == "roundrobin"
    assert choose_protocol([pair[::-1], pair]) == "roundrobin"


def test_choose_protocol_errors() -> None:
    with pytest.raises(InconsistentGroupProtocol, match="no assignment protocol in common"):
        choose_protocol([["range"], ["roundrobin"]])
    with pytest.raises(InconsistentGroupProtocol):
        choose_protocol([["range"], []])
    with pytest.raises(ValueError, match="no members"):
        choose_protocol([])


# --- properties ------------------------------------------------------------------------

TOPICS = ["a", "b", "c"]


@st.composite
def groups(draw: st.DrawFn, equal: bool = False) -> tuple[dict[str, int], dict[str, Subscription]]:
    ppt = {t: draw(st.integers(min_value=0, max_value=7)) for t in TOPICS}
    members = draw(st.lists(st.sampled_from([f"m{i}" for i in range(8)]), min_size=1, max_size=6, unique=True))
    if equal:
        topics = draw(st.lists(st.sampled_from(TOPICS), min_size=1, unique=True))
        return ppt, {m: Subscription(m, topics) for m in members}
    out = {}
    for m in members:
        topics = draw(st.lists(st.sampled_from(TOPICS), min_size=1, unique=True))
        instance = draw(st.one_of(st.none(), st.sampled_from(["i1", "i2", "i3", "i4", "i5", "i6", "i7", "i8"])))
        out[m] = Subscription(m, topics, group_instance_id=instance)
    instances = [s.group_instance_id for s in out.values() if s.group_instance_id is not None]
    if len(instances) != len(set(instances)):  # instance ids are unique in a group
        for s in out.values():
            s.group_instance_id = None
    return ppt, out


def assert_exactly_once(ppt: Mapping[str, int], s: Mapping[str, Subscription], assignment: Assignment) -> None:
    assert set(assignment) == set(s)
    counts = Counter(tp for parts in assignment.values() for tp in parts)
    assert all(c == 1 for c in counts.values()), counts
    subscribed = {t for sub in s.values() for t in sub.topics}
    expected = {(t, p) for t in subscribed for p in range(ppt[t])}
    assert set(counts) == expected
    for m, parts in assignment.items():
        assert all(t in s[m].topics for t, _ in parts)
        assert parts == sorted(parts)


def spread(assignment: Assignment) -> int:
    sizes = [len(p) for p in assignment.values()]
    return max(sizes) - min(sizes)


@given(groups())
def test_range_and_roundrobin_assign_every_partition_once(
    group: tuple[dict[str, int], dict[str, Subscription]],
) -> None:
    ppt, s = group
    assert_exactly_once(ppt, s, range_assign(ppt, s))
    assert_exactly_once(ppt, s, roundrobin_assign(ppt, s))


@given(groups(equal=True))
def test_roundrobin_balances_equal_subscriptions(
    group: tuple[dict[str, int], dict[str, Subscription]],
) -> None:
    ppt, s = group
    assert spread(roundrobin_assign(ppt, s)) <= 1


def follow_up(
    ppt: Mapping[str, int], first: AssignmentResult, s: Mapping[str, Subscription], generation: int
) -> AssignmentResult:
    second = cooperative_sticky_assign(ppt, rejoin(first, s, generation))
    # Never a double owner: nothing held back in round 1 was handed out in round 1.
    held = {tp for parts in first.assignment.values() for tp in parts} & first.held_back
    assert not held
    return second


@settings(max_examples=300)
@given(groups(), st.data())
def test_cooperative_sticky_settles_after_the_follow_up_round(
    group: tuple[dict[str, int], dict[str, Subscription]], data: st.DataObject
) -> None:
    ppt, s = group
    # Start from a settled group, then let members come and go.
    settled = follow_up(ppt, cooperative_sticky_assign(ppt, s), s, 1)
    assert not settled.needs_follow_up
    assert_exactly_once(ppt, s, settled.assignment)

    current = rejoin(settled, s, 2)
    leaving = data.draw(st.sets(st.sampled_from(sorted(current))))
    joining = data.draw(st.sets(st.sampled_from(["n1", "n2", "n3"])))
    for m in leaving:
        if len(current) > 1:
            del current[m]
    for m in joining:
        current[m] = Subscription(m, data.draw(st.lists(st.sampled_from(TOPICS), min_size=1, unique=True)))

    r1 = cooperative_sticky_assign(ppt, current)
    for m, parts in r1.assignment.items():  # round 1 only keeps or adds unowned partitions
        for tp in parts:
            owners = {o for o, sub in current.items() if tp in sub.owned_partitions}
            assert owners <= {m}
    r2 = follow_up(ppt, r1, current, 3)
    assert not r2.needs_follow_up
    assert_exactly_once(ppt, current, r2.assignment)
    for m in current:  # sticky: the follow-up takes nothing away
        assert set(r1.assignment[m]) <= set(r2.assignment[m])


@settings(max_examples=300)
@given(groups(equal=True), st.data())
def test_cooperative_sticky_balances_equal_subscriptions(
    group: tuple[dict[str, int], dict[str, Subscription]], data: st.DataObject
) -> None:
    ppt, s = group
    settled = follow_up(ppt, cooperative_sticky_assign(ppt, s), s, 1)
    assert spread(settled.assignment) <= 1
    current = rejoin(settled, s, 2)
    topics = next(iter(s.values())).topics
    for m in data.draw(st.sets(st.sampled_from(["n1", "n2", "n3"]), min_size=1)):
        current[m] = Subscription(m, topics)
    r2 = follow_up(ppt, cooperative_sticky_assign(ppt, current), current, 3)
    assert not r2.needs_follow_up
    assert_exactly_once(ppt, current, r2.assignment)
    assert spread(r2.assignment) <= 1
    # Stickiness: an old member keeps min(what it had, its new quota) partitions.
    total = sum(len(p) for p in r2.assignment.values())
    floor = total // len(current)
    for m in s:
        kept = set(settled.assignment[m]) & set(r2.assignment[m])
        assert len(kept) >= min(len(settled.assignment[m]), floor)
