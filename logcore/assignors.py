"""Kafka's client-side partition assignors, as pure functions over plain data.

In the classic group protocol the broker does not assign partitions: the group
leader runs an assignor over every member's subscription and hands the result back
through SyncGroup. The three assignors here follow Kafka's client code:

- ``range``: ``clients/.../consumer/RangeAssignor.java``;
- ``roundrobin``: ``clients/.../consumer/RoundRobinAssignor.java``;
- ``cooperative-sticky``: ``clients/.../consumer/CooperativeStickyAssignor.java`` over
  ``clients/.../consumer/internals/AbstractStickyAssignor.java`` (KIP-429).

Member order is Kafka's ``AbstractPartitionAssignor.MemberInfo.compareTo``: static
members (with a ``group.instance.id``) first by instance id, then the others by
member id. Strings compare as Java compares them (UTF-16 code units), which only
differs from Python's order for characters beyond the BMP.

Results map every member to its sorted list of ``(topic, partition)``; members that
get nothing are present with an empty list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from .errors import InconsistentGroupProtocol

__all__ = [
    "ASSIGNORS",
    "Assignment",
    "AssignmentResult",
    "Subscription",
    "TopicPartition",
    "choose_protocol",
    "cooperative_sticky_assign",
    "range_assign",
    "roundrobin_assign",
    "run_assignor",
]

TopicPartition = tuple[str, int]
Assignment = dict[str, list[TopicPartition]]


@dataclass
class Subscription:
    """What one member told the group in JoinGroup (``ConsumerPartitionAssignor.Subscription``).

    ``owned_partitions`` is what the member holds now (ConsumerProtocolSubscription
    v1+); ``generation`` is the generation in which it got them (v2+, -1 unknown).
    """

    member_id: str
    topics: list[str]
    owned_partitions: list[TopicPartition] = field(default_factory=list)
    group_instance_id: str | None = None
    generation: int = -1


@dataclass(frozen=True)
class AssignmentResult:
    """An assignment plus what the cooperative protocol holds back this round.

    ``held_back``: partitions that would move from one member to another. KIP-429
    never hands a partition to its new owner in the round its old owner gives it
    up: it is left out, the old owner revokes it, rejoins, and the follow-up
    rebalance assigns it. ``revoking``: per member, the partitions it owned and no
    longer gets (it must give them up before the follow-up round).
    """

    assignment: Assignment
    held_back: frozenset[TopicPartition] = frozenset()
    revoking: Mapping[str, list[TopicPartition]] = field(default_factory=dict)

    @property
    def needs_follow_up(self) -> bool:
        """True when a second rebalance must hand out the partitions held back."""
        return bool(self.held_back)


def _java_order(s: str) -> bytes:
    # Java's String.compareTo compares UTF-16 code units; big-endian UTF-16 bytes
    # compare the same way.
    return s.encode("utf-16-be", "surrogatepass")


def _member_key(sub: Subscription) -> tuple[int, bytes]:
    # AbstractPartitionAssignor.MemberInfo.compareTo: static members first, by
    # group instance id; dynamic members after them, by member id.
    if sub.group_instance_id is not None:
        return (0, _java_order(sub.group_instance_id))
    return (1, _java_order(sub.member_id))


def _sorted_members(subscriptions: Mapping[str, Subscription]) -> list[str]:
    return sorted(subscriptions, key=lambda mid: _member_key(subscriptions[mid]))


def _check_inputs(partitions_per_topic: Mapping[str, int], subscriptions: Mapping[str, Subscription]) -> None:
    for topic, n in partitions_per_topic.items():
        if n < 0:
            raise ValueError(f"topic '{topic}' cannot have {n} partitions")
    for mid, sub in subscriptions.items():
        if sub.member_id != mid:
            raise ValueError(f"subscription of member '{mid}' names member '{sub.member_id}'")


def _tp_key(tp: TopicPartition) -> tuple[bytes, int]:
    return (_java_order(tp[0]), tp[1])


def _finish(assignment: Mapping[str, list[TopicPartition]]) -> Assignment:
    return {mid: sorted(parts) for mid, parts in assignment.items()}


def _subscribed_topics(partitions_per_topic: Mapping[str, int], subscriptions: Mapping[str, Subscription]) -> list[str]:
    # AbstractPartitionAssignor.assign only passes topics with metadata; a
    # subscribed topic that does not exist is silently left out.
    topics = {t for sub in subscriptions.values() for t in sub.topics if partitions_per_topic.get(t, 0) > 0}
    return sorted(topics, key=_java_order)


def range_assign(partitions_per_topic: Mapping[str, int], subscriptions: Mapping[str, Subscription]) -> Assignment:
    """Kafka's ``RangeAssignor``: each topic cut into contiguous ranges, in member order.

    For a topic of ``n`` partitions and ``m`` subscribed members, ``q = n // m``,
    ``r = n % m``; member ``i`` gets ``[q*i + min(i, r), q*(i+1) + min(i+1, r))``, so
    the first ``r`` members get one more. Topics are cut independently, which is why
    the first members of many topics end up with more than the others.
    """
    _check_inputs(partitions_per_topic, subscriptions)
    assignment: Assignment = {mid: [] for mid in subscriptions}
    order = _sorted_members(subscriptions)
    for topic in _subscribed_topics(partitions_per_topic, subscriptions):
        members = [mid for mid in order if topic in subscriptions[mid].topics]
        n, m = partitions_per_topic[topic], len(members)
        q, r = divmod(n, m)
        for i, mid in enumerate(members):
            start = q * i + min(i, r)
            end = q * (i + 1) + min(i + 1, r)
            assignment[mid].extend((topic, p) for p in range(start, end))
    return _finish(assignment)


def roundrobin_assign(partitions_per_topic: Mapping[str, int], subscriptions: Mapping[str, Subscription]) -> Assignment:
    """Kafka's ``RoundRobinAssignor``: every partition dealt in turn to the members.

    All partitions, sorted by (topic, partition), go one by one around the circle of
    sorted members; a member not subscribed to the partition's topic is skipped
    (``CircularIterator`` advancing until ``topics().contains(topic)``).
    """
    _check_inputs(partitions_per_topic, subscriptions)
    assignment: Assignment = {mid: [] for mid in subscriptions}
    order = _sorted_members(subscriptions)
    cursor = 0
    for topic in _subscribed_topics(partitions_per_topic, subscriptions):
        for p in range(partitions_per_topic[topic]):
            while topic not in subscriptions[order[cursor]].topics:
                cursor = (cursor + 1) % len(order)
            assignment[order[cursor]].append((topic, p))
            cursor = (cursor + 1) % len(order)
    return _finish(assignment)


# --- cooperative-sticky ------------------------------------------------------


def _previous_owners(
    partitions_per_topic: Mapping[str, int], subscriptions: Mapping[str, Subscription]
) -> tuple[dict[str, list[TopicPartition]], dict[TopicPartition, set[str]]]:
    """Owned partitions each member may keep, and every current claim on a partition.

    AbstractStickyAssignor trusts only the members of the highest generation: a
    member that reports an older generation was fenced and lost its partitions. A
    partition claimed by two members of that generation belongs to neither (Kafka
    logs "Found multiple consumers ... claiming the same TopicPartition").
    """
    max_generation = max(sub.generation for sub in subscriptions.values())
    claims: dict[TopicPartition, set[str]] = {}
    for mid, sub in subscriptions.items():
        if sub.generation != max_generation:
            continue
        for tp in sub.owned_partitions:
            claims.setdefault((tp[0], tp[1]), set()).add(mid)
    keep: dict[str, list[TopicPartition]] = {mid: [] for mid in subscriptions}
    for tp, owners in claims.items():
        topic, partition = tp
        if len(owners) != 1 or not 0 <= partition < partitions_per_topic.get(topic, 0):
            continue
        (owner,) = owners
        # A member keeps only partitions of topics it still subscribes to.
        if topic in subscriptions[owner].topics:
            keep[owner].append(tp)
    for parts in keep.values():
        parts.sort(key=_tp_key)
    return keep, claims


def _constrained_assign(
    partitions_per_topic: Mapping[str, int],
    subscriptions: Mapping[str, Subscription],
    owned: Mapping[str, list[TopicPartition]],
) -> Assignment:
    """AbstractStickyAssignor's ``constrainedAssign`` (every member subscribes alike).

    With ``P`` partitions and ``N`` members, every member ends with ``minQuota =
    P // N`` or ``maxQuota = ceil(P / N)`` partitions, and exactly ``P % N`` of them
    with ``maxQuota``. Members first keep what they own, up to their quota; the rest
    is dealt round-robin to the members below ``minQuota``, then one each to members
    at ``minQuota`` until ``P % N`` members are at ``maxQuota``.
    """
    members = sorted(subscriptions, key=_java_order)  # Kafka sorts these lists by member id
    topics = _subscribed_topics(partitions_per_topic, subscriptions)
    all_partitions = [(t, p) for t in topics for p in range(partitions_per_topic[t])]
    total, n = len(all_partitions), len(members)
    min_quota, extra = divmod(total, n)
    max_quota = min_quota + (1 if extra else 0)
    expected_over_min = extra
    over_min = 0

    assignment: Assignment = {mid: [] for mid in members}
    under_min: list[str] = []
    at_min: list[str] = []  # may still take one more (a queue, as in Kafka)
    for mid in members:
        mine = owned.get(mid, [])
        if len(mine) < min_quota:
            assignment[mid].extend(mine)
            under_min.append(mid)
        elif len(mine) >= max_quota and over_min < expected_over_min:
            assignment[mid].extend(mine[:max_quota])
            over_min += 1
            if over_min == expected_over_min:
                at_min.clear()
        else:
            assignment[mid].extend(mine[:min_quota])
            if over_min < expected_over_min:
                at_min.append(mid)

    taken = {tp for parts in assignment.values() for tp in parts}
    cursor = 0
    for tp in all_partitions:
        if tp in taken:
            continue
        if under_min:
            if cursor >= len(under_min):
                cursor = 0
            mid = under_min[cursor]
            assignment[mid].append(tp)
            if len(assignment[mid]) == min_quota:
                under_min.pop(cursor)  # the iterator's remove(): the cursor now names the next
                if over_min < expected_over_min:
                    at_min.append(mid)
            else:
                cursor += 1
        else:
            if not at_min:  # Kafka throws IllegalStateException here: the quotas are exact
                raise AssertionError(f"no member can take {tp}: quota arithmetic is broken")
            mid = at_min.pop(0)
            assignment[mid].append(tp)
            over_min += 1
    return assignment


def _general_assign(
    partitions_per_topic: Mapping[str, int],
    subscriptions: Mapping[str, Subscription],
    owned: Mapping[str, list[TopicPartition]],
) -> Assignment:
    """Sticky assignment when members subscribe to different topics.

    In the spirit of AbstractStickyAssignor's ``generalAssign``: keep every valid
    owned partition, give each unowned partition (those with the fewest possible
    consumers first) to the eligible member with the fewest partitions, then
    rebalance. Rebalancing first moves only partitions nobody owned (stickiness costs
    nothing there), then, if the loads are still uneven, owned ones too.

    Where Kafka's ``performReassignments`` moves one partition at a time and can stop
    at a local optimum, this follows chains of moves (see ``_balance``) and always
    reaches the most even loads the subscriptions allow. That is what makes the
    follow-up rebalance settle: its owned partitions are a subset of an optimal
    assignment, so balancing the partitions held back is enough and nothing owned
    moves twice.
    """
    members = _sorted_members(subscriptions)
    rank = {mid: i for i, mid in enumerate(members)}
    topics = _subscribed_topics(partitions_per_topic, subscriptions)
    eligible = {t: [mid for mid in members if t in subscriptions[mid].topics] for t in topics}

    assignment: Assignment = {mid: list(owned.get(mid, [])) for mid in members}
    taken = {tp for parts in assignment.values() for tp in parts}
    free = [(t, p) for t in topics for p in range(partitions_per_topic[t]) if (t, p) not in taken]
    free.sort(key=lambda tp: (len(eligible[tp[0]]), _tp_key(tp)))
    for tp in free:
        best = min(eligible[tp[0]], key=lambda mid: (len(assignment[mid]), rank[mid]))
        assignment[best].append(tp)

    _balance(assignment, eligible, rank, movable=lambda tp: tp not in taken)
    _balance(assignment, eligible, rank, movable=lambda tp: True)
    return assignment


def _balance(
    assignment: Assignment,
    eligible: Mapping[str, list[str]],
    rank: Mapping[str, int],
    movable: Callable[[TopicPartition], bool],
) -> None:
    """Even out the loads by chains of moves, in place, using ``movable`` partitions.

    A chain takes a partition from member ``x0`` to ``x1`` (subscribed to its
    topic), another from ``x1`` to ``x2``, ... so only the two ends change load. It
    is applied when the last member holds at least two fewer partitions than the
    first. When no such chain is left the sum of squared loads is minimal (a
    semi-matching is optimal exactly when no cost-reducing path exists), and every
    chain lowers that sum, so the loop ends.
    """
    while True:
        chain = _find_chain(assignment, eligible, rank, movable)
        if chain is None:
            return
        for tp, src, dst in chain:
            assignment[src].remove(tp)
            assignment[dst].append(tp)


def _find_chain(
    assignment: Assignment,
    eligible: Mapping[str, list[str]],
    rank: Mapping[str, int],
    movable: Callable[[TopicPartition], bool],
) -> list[tuple[TopicPartition, str, str]] | None:
    load = {mid: len(parts) for mid, parts in assignment.items()}
    # Heaviest members first: their chains lower the sum of squares the most.
    for source in sorted(assignment, key=lambda mid: (-load[mid], rank[mid])):
        # Breadth-first over members: the shortest chain moves the fewest partitions.
        via: dict[str, tuple[TopicPartition, str] | None] = {source: None}
        frontier = [source]
        while frontier:
            reached: list[str] = []
            for x in frontier:
                for tp in sorted(assignment[x], key=_tp_key):
                    if not movable(tp):
                        continue
                    for y in eligible[tp[0]]:
                        if y in via:
                            continue
                        via[y] = (tp, x)
                        if load[y] <= load[source] - 2:
                            chain: list[tuple[TopicPartition, str, str]] = []
                            node = y
                            step = via[node]
                            while step is not None:
                                moved, prev = step
                                chain.append((moved, prev, node))
                                node = prev
                                step = via[node]
                            return chain[::-1]
                        reached.append(y)
            frontier = reached
    return None


def cooperative_sticky_assign(
    partitions_per_topic: Mapping[str, int], subscriptions: Mapping[str, Subscription]
) -> AssignmentResult:
    """Kafka's ``CooperativeStickyAssignor``: balanced, sticky, and never a double owner.

    When every member subscribes to the same topics, the target assignment keeps each
    member's owned partitions up to its quota (``floor(P/N)`` or ``ceil(P/N)``,
    ``P % N`` members getting the larger) and deals the rest round-robin; otherwise
    see ``_general_assign``. Then ``CooperativeStickyAssignor.adjustAssignment`` removes
    every partition that would change owner: it is held back this round, revoked by
    its current owner, and assigned in the follow-up rebalance (see
    ``AssignmentResult``).
    """
    _check_inputs(partitions_per_topic, subscriptions)
    if not subscriptions:
        return AssignmentResult({})
    owned, claims = _previous_owners(partitions_per_topic, subscriptions)
    topic_sets = {frozenset(sub.topics) for sub in subscriptions.values()}
    # AbstractStickyAssignor.assignPartitions: the constrained algorithm when all
    # subscriptions are equal, the general one otherwise.
    if len(topic_sets) == 1:
        target = _constrained_assign(partitions_per_topic, subscriptions, owned)
    else:
        target = _general_assign(partitions_per_topic, subscriptions, owned)

    held_back: set[TopicPartition] = set()
    for mid, parts in target.items():
        for tp in parts:
            if claims.get(tp, set()) - {mid}:
                held_back.add(tp)
    assignment = {mid: [tp for tp in parts if tp not in held_back] for mid, parts in target.items()}
    revoking: dict[str, list[TopicPartition]] = {}
    for mid, sub in subscriptions.items():
        gone = sorted({(t, p) for t, p in sub.owned_partitions} - set(assignment[mid]))
        if gone:
            revoking[mid] = gone
    return AssignmentResult(_finish(assignment), frozenset(held_back), revoking)


AssignorFn = Callable[[Mapping[str, int], Mapping[str, Subscription]], Assignment | AssignmentResult]

#: The assignors by the names Kafka's ``partition.assignment.strategy`` uses.
ASSIGNORS: dict[str, AssignorFn] = {
    "range": range_assign,
    "roundrobin": roundrobin_assign,
    "cooperative-sticky": cooperative_sticky_assign,
}

#: Protocols that keep partitions across a rebalance (``RebalanceProtocol.COOPERATIVE``).
COOPERATIVE_PROTOCOLS = frozenset({"cooperative-sticky"})


def run_assignor(
    name: str, partitions_per_topic: Mapping[str, int], subscriptions: Mapping[str, Subscription]
) -> AssignmentResult:
    """Run the assignor registered as ``name`` and always return an ``AssignmentResult``.

    Eager assignors (range, roundrobin) hold nothing back: their members revoke
    everything before joining, so ``revoking`` lists what each member had owned and
    does not get again.
    """
    try:
        fn = ASSIGNORS[name]
    except KeyError:
        known = ", ".join(sorted(ASSIGNORS))
        raise ValueError(f"unknown assignor '{name}': known assignors are {known}") from None
    result = fn(partitions_per_topic, subscriptions)
    if isinstance(result, AssignmentResult):
        return result
    revoking: dict[str, list[TopicPartition]] = {}
    for mid, sub in subscriptions.items():
        gone = sorted({(t, p) for t, p in sub.owned_partitions} - set(result.get(mid, [])))
        if gone:
            revoking[mid] = gone
    return AssignmentResult(result, frozenset(), revoking)


# --- protocol selection ------------------------------------------------------


def _java_hashmap_order(keys: Sequence[str]) -> list[str]:
    """The order a ``java.util.HashMap<String, ?>`` built by inserting ``keys`` iterates.

    Buckets are visited by index ``(h ^ (h >>> 16)) & (capacity - 1)`` with ``h`` the
    key's ``hashCode``; a bucket keeps insertion order. The capacity starts at 16 and
    doubles whenever the size passes 3/4 of it. (Tree bins, used for 8+ keys in one
    bucket of a 64+ table, are out of reach for a list of protocol names.)
    """
    from .java_hash import java_string_hashcode

    capacity = 16
    while len(keys) > capacity * 3 // 4:
        capacity *= 2

    def bucket(key: str) -> int:
        h = java_string_hashcode(key) & 0xFFFFFFFF
        return (h ^ (h >> 16)) & (capacity - 1)

    return sorted(keys, key=bucket)  # sorted() is stable: insertion order within a bucket


def choose_protocol(member_protocols: Sequence[Sequence[str]]) -> str:
    """Kafka's ``ClassicGroup.selectProtocol``: the assignor the whole group will use.

    ``member_protocols`` holds each member's protocol names in its order of
    preference. Candidates are the protocols every member supports; each member
    votes for the first candidate in its own list; the most votes wins. Kafka counts
    votes in a ``HashMap`` and takes ``stream().max(...)``, which keeps the first of
    equal counts in the map's iteration order: ties are broken the same way here
    (with members taken in the order given, where Kafka walks its member map).
    """
    if not member_protocols:
        raise ValueError("cannot select a protocol for a group with no members")
    supported: dict[str, int] = {}
    for protocols in member_protocols:
        for name in dict.fromkeys(protocols):
            supported[name] = supported.get(name, 0) + 1
    candidates = {name for name, count in supported.items() if count == len(member_protocols)}
    if not candidates:
        offered = "; ".join("[" + ", ".join(p) + "]" for p in member_protocols)
        raise InconsistentGroupProtocol(
            f"the members have no assignment protocol in common (they offer {offered}); "
            "every member must list at least one protocol all the others list too"
        )
    votes: dict[str, int] = {}
    for protocols in member_protocols:
        vote = next(name for name in protocols if name in candidates)
        votes[vote] = votes.get(vote, 0) + 1
    best: str | None = None
    for name in _java_hashmap_order(list(votes)):
        # BinaryOperator.maxBy keeps the earlier element when the counts are equal.
        if best is None or votes[name] > votes[best]:
            best = name
    assert best is not None
    return best
