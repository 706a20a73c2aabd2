"""Consumer groups, as Kafka's classic group coordinator (``GroupMetadata``,
``GroupCoordinator``, ``OffsetMetadataManager``).

The coordinator never blocks and never sleeps. Where Kafka parks a JoinGroup or
SyncGroup request until the rebalance completes, ``join_group`` and ``sync_group``
here answer "pending" and the client asks again; timers (session timeout, rebalance
timeout, initial rebalance delay, ``max.poll.interval.ms``) are checked by ``tick``,
which every request runs first, against an injected clock. Tests drive that clock.
"""

from __future__ import annotations

import enum
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .clock import Clock, SystemClock
from .config import LONG_MAX
from .errors import (
    GroupIdNotFound,
    IllegalGeneration,
    IllegalState,
    InconsistentGroupProtocol,
    InvalidGroupId,
    InvalidRequest,
    InvalidSessionTimeout,
    NonEmptyGroup,
    OffsetMetadataTooLarge,
    RebalanceInProgress,
    UnknownMemberId,
)
from .events import EventBus, GroupChanged, GroupDeleted, GroupRebalanced, OffsetsCommitted

TopicPartition = tuple[str, int]

# Broker defaults (GroupCoordinatorConfig).
GROUP_MIN_SESSION_TIMEOUT_MS = 6_000
GROUP_MAX_SESSION_TIMEOUT_MS = 1_800_000
GROUP_INITIAL_REBALANCE_DELAY_MS = 3_000
OFFSET_METADATA_MAX_BYTES = 4096
OFFSETS_RETENTION_MS = 7 * 24 * 3600 * 1000
# offsets.retention.check.interval.ms: how often Kafka's cleanup looks for expired
# offsets and for Empty groups left without offsets (it deletes those).
OFFSETS_RETENTION_CHECK_INTERVAL_MS = 600_000
TICK_INTERVAL_MS = 50


class GroupState(enum.Enum):
    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"

    def __str__(self) -> str:
        return self.value


# Kafka's GroupState.validPreviousStates: any other move is a bug.
_VALID_PREVIOUS: dict[GroupState, frozenset[GroupState]] = {
    GroupState.EMPTY: frozenset({GroupState.PREPARING_REBALANCE}),
    GroupState.PREPARING_REBALANCE: frozenset({GroupState.STABLE, GroupState.COMPLETING_REBALANCE, GroupState.EMPTY}),
    GroupState.COMPLETING_REBALANCE: frozenset({GroupState.PREPARING_REBALANCE}),
    GroupState.STABLE: frozenset({GroupState.COMPLETING_REBALANCE}),
    GroupState.DEAD: frozenset(GroupState),
}


def java_string_length(s: str) -> int:
    """Java's ``String.length()``: UTF-16 code units (a character beyond the BMP counts 2)."""
    return len(s) + sum(1 for c in s if ord(c) > 0xFFFF)


@dataclass(frozen=True)
class OffsetAndMetadata:
    """A committed offset: the next record the group will read, not the last one read."""

    offset: int
    metadata: str = ""
    leader_epoch: int = -1
    commit_timestamp: int = 0
    expire_timestamp: int | None = None


@dataclass
class Member:
    member_id: str
    client_id: str
    client_host: str
    session_timeout_ms: int
    rebalance_timeout_ms: int
    protocol_type: str
    protocols: list[tuple[str, bytes]]
    group_instance_id: str | None = None
    assignment: bytes = b""
    last_heartbeat_ms: int = 0
    last_poll_ms: int = 0
    joined_generation: int = -1  # generation it last (re)joined for; -1 while it must rejoin
    awaiting_sync: bool = False

    def metadata_for(self, protocol: str) -> bytes:
        for name, meta in self.protocols:
            if name == protocol:
                return meta
        raise InconsistentGroupProtocol(f"member {self.member_id} does not support {protocol}")


@dataclass
class Group:
    group_id: str
    state: GroupState = GroupState.EMPTY
    generation: int = 0
    protocol_type: str | None = None
    protocol: str | None = None
    leader: str | None = None
    members: dict[str, Member] = field(default_factory=dict)
    offsets: dict[TopicPartition, OffsetAndMetadata] = field(default_factory=dict)
    state_timestamp: int = 0
    rebalance_deadline_ms: int = 0
    initial_delay_deadline_ms: int = 0
    # When the group last became Empty: KIP-211 counts offset expiry from there.
    empty_since_ms: int | None = None

    def transition_to(self, target: GroupState, now_ms: int) -> None:
        if self.state not in _VALID_PREVIOUS[target]:
            raise IllegalState(f"group {self.group_id} cannot move from {self.state} to {target}")
        self.state = target
        self.state_timestamp = now_ms
        if target is GroupState.EMPTY:
            self.empty_since_ms = now_ms
        elif target is not GroupState.DEAD:
            self.empty_since_ms = None

    @property
    def is_simple(self) -> bool:
        """A group that only ever saw commits from outside (admin tools, assign())."""
        return self.protocol_type is None and not self.members

    def subscribed_topics(self) -> set[str] | None:
        """Topics the members subscribe to (None when it cannot be known)."""
        if self.protocol_type != "consumer" or not self.protocol:
            return None
        from .offsets_codec import decode_subscription

        topics: set[str] = set()
        for m in self.members.values():
            try:
                topics.update(decode_subscription(m.metadata_for(self.protocol)).topics)
            except Exception:  # foreign metadata: be conservative
                return None
        return topics


@dataclass(frozen=True)
class JoinResult:
    """JoinGroup's answer; ``pending`` means "ask again" (Kafka would park the request)."""

    member_id: str
    pending: bool
    generation: int = -1
    protocol: str | None = None
    leader: str | None = None
    members: tuple[tuple[str, str | None, bytes], ...] = ()  # for the leader only

    @property
    def is_leader(self) -> bool:
        return not self.pending and self.leader == self.member_id


@dataclass(frozen=True)
class SyncResult:
    pending: bool
    assignment: bytes = b""
    protocol: str | None = None


@dataclass(frozen=True)
class CommitRequest:
    """One OffsetCommit request (generation -1 and no member: from outside the group)."""

    group_id: str
    offsets: Mapping[TopicPartition, int | tuple[int, str] | OffsetAndMetadata]
    member_id: str = ""
    generation: int = -1


class OffsetsLog:
    """Where the coordinator writes what it must not forget (``__consumer_offsets``)."""

    def write_offsets(self, group_id: str, offsets: Mapping[TopicPartition, OffsetAndMetadata | None]) -> None: ...

    def write_group(self, group: Group | None, group_id: str) -> None: ...

    def write_offsets_many(
        self, commits: Sequence[tuple[str, Mapping[TopicPartition, OffsetAndMetadata | None]]]
    ) -> None:
        for group_id, offsets in commits:
            self.write_offsets(group_id, offsets)


class GroupCoordinator:
    """Every group of one engine: membership, rebalances, commits and offset fetches."""

    def __init__(
        self,
        store: OffsetsLog | None = None,
        *,
        clock: Clock | None = None,
        events: EventBus | None = None,
        initial_rebalance_delay_ms: int = GROUP_INITIAL_REBALANCE_DELAY_MS,
        offsets_retention_ms: int = OFFSETS_RETENTION_MS,
        offsets_retention_check_interval_ms: int = OFFSETS_RETENTION_CHECK_INTERVAL_MS,
        min_session_timeout_ms: int = GROUP_MIN_SESSION_TIMEOUT_MS,
        max_session_timeout_ms: int = GROUP_MAX_SESSION_TIMEOUT_MS,
    ) -> None:
        self.store = store or OffsetsLog()
        self.clock = clock or SystemClock()
        self.events = events or EventBus()
        self.initial_rebalance_delay_ms = initial_rebalance_delay_ms
        self.offsets_retention_ms = offsets_retention_ms
        self.offsets_retention_check_interval_ms = offsets_retention_check_interval_ms
        self.min_session_timeout_ms = min_session_timeout_ms
        self.max_session_timeout_ms = max_session_timeout_ms
        self.groups: dict[str, Group] = {}
        self.lock = threading.RLock()
        self.on_rebalance: list[Callable[[Group], None]] = []
        self._next_tick_ms = 0

    # --- helpers -----------------------------------------------------------

    def _now(self) -> int:
        return self.clock.now_ms()

    def _group(self, group_id: str) -> Group:
        g = self.groups.get(group_id)
        if g is None or g.state is GroupState.DEAD:
            raise GroupIdNotFound(f"Consumer group '{group_id}' does not exist.")
        return g

    def _member_group(self, group_id: str, member_id: str, request: str) -> Group:
        """The group of a member request (SyncGroup, Heartbeat, LeaveGroup).

        Kafka answers these with UNKNOWN_MEMBER_ID when the group does not exist
        ("Group g not found."): the member is unknown, and rejoining fixes it.
        """
        g = self.groups.get(group_id)
        if g is None or g.state is GroupState.DEAD:
            raise UnknownMemberId(f"Group {group_id} not found: member {member_id!r} cannot {request}; it must rejoin")
        return g

    def _member(self, group: Group, member_id: str) -> Member:
        m = group.members.get(member_id)
        if m is None:
            raise UnknownMemberId(
                f"member {member_id!r} is not in group {group.group_id!r} "
                f"(state {group.state}, generation {group.generation}); it must rejoin"
            )
        return m

    def _publish_state(self, group: Group, reason: str) -> None:
        self.events.publish(
            GroupChanged(
                group=group.group_id,
                state=str(group.state),
                generation=group.generation,
                reason=reason,
            )
        )

    # --- timers ------------------------------------------------------------

    def tick(self, force: bool = False) -> None:
        """Expire sessions, finish due rebalances, expire offsets (KIP-211).

        Every request calls this first; a full pass over the groups runs at most every
        ``TICK_INTERVAL_MS`` of clock time, so a commit stays O(1) with many groups.
        Timeouts are seconds long, so a pass that late changes nothing a client sees.
        """
        now = self._now()
        if not force and now < self._next_tick_ms:
            return
        with self.lock:
            self._next_tick_ms = now + TICK_INTERVAL_MS
            for group in list(self.groups.values()):
                self._tick_group(group, now)

    def _tick_group(self, group: Group, now: int) -> None:
        if group.state is GroupState.DEAD:
            return
        for m in list(group.members.values()):
            if now - m.last_heartbeat_ms > m.session_timeout_ms:
                self._remove_member(group, m, now, f"member {m.member_id} missed its session timeout")
            elif now - m.last_poll_ms > m.rebalance_timeout_ms and group.state is GroupState.STABLE:
                # Kafka's consumer leaves by itself when max.poll.interval.ms passes
                # without a poll; the in-process client cannot, so the coordinator does.
                self._remove_member(group, m, now, f"member {m.member_id} exceeded max.poll.interval.ms")
        if group.state is GroupState.PREPARING_REBALANCE:
            self._maybe_complete_join(group, now)
        elif group.state is GroupState.COMPLETING_REBALANCE and now >= group.rebalance_deadline_ms:
            # The leader never sent its assignment: start over (Kafka's sync timeout).
            self._prepare_rebalance(group, now, "the leader did not sync in time")
        self._expire_offsets(group, now)

    def _expire_offsets(self, group: Group, now: int) -> None:
        """KIP-211 and KIP-496, as ``ClassicGroup.offsetExpirationCondition`` says.

        * Empty group with a protocol type: retention counts from when the group became
          Empty (its state timestamp), for every offset, whenever it was committed;
        * simple group (commits from outside only, no protocol type): from each
          offset's commit time;
        * Stable consumer group (KIP-496): offsets of topics no member subscribes to any
          more, from their commit time; offsets of subscribed topics never expire;
        * any other state: nothing expires.

        An explicit expire timestamp (OffsetCommit v2-v4 ``retention_time``) wins. An
        Empty group left with no offsets is deleted, as Kafka's cleanup deletes it.
        """
        if group.state is GroupState.EMPTY and not group.members:
            if not group.offsets:
                # Kafka's cleanup (every offsets.retention.check.interval.ms) deletes an
                # Empty group without offsets; a group is given one such interval.
                since = group.empty_since_ms if group.empty_since_ms is not None else group.state_timestamp
                if now - since >= self.offsets_retention_check_interval_ms:
                    self._delete_group(group, now)
                return
            from_commit = group.protocol_type is None
            subscribed: set[str] = set()
        elif group.state is GroupState.STABLE and group.protocol_type == "consumer" and group.offsets:
            topics = group.subscribed_topics()
            if topics is None:
                return  # subscriptions unknown: Kafka expires nothing then
            from_commit, subscribed = True, topics
        else:
            return
        expired: dict[TopicPartition, OffsetAndMetadata | None] = {}
        for tp, om in group.offsets.items():
            if tp[0] in subscribed:
                continue
            if om.expire_timestamp is not None:
                due = om.expire_timestamp
            elif from_commit or group.empty_since_ms is None:
                due = om.commit_timestamp + self.offsets_retention_ms
            else:
                due = group.empty_since_ms + self.offsets_retention_ms
            if now >= due:
                expired[tp] = None
        if not expired:
            return
        for tp in expired:
            del group.offsets[tp]
        self.store.write_offsets(group.group_id, expired)
        if not group.offsets and not group.members and group.state is GroupState.EMPTY:
            self._delete_group(group, now)

    # --- membership --------------------------------------------------------

    def join_group(
        self,
        group_id: str,
        member_id: str = "",
        *,
        client_id: str = "consumer",
        client_host: str = "/127.0.0.1",
        session_timeout_ms: int = 45_000,
        rebalance_timeout_ms: int = 300_000,
        protocol_type: str = "consumer",
        protocols: Sequence[tuple[str, bytes]] = (),
        group_instance_id: str | None = None,
    ) -> JoinResult:
        """Join or rejoin; ``pending`` until the rebalance reaches CompletingRebalance."""
        if not group_id:
            raise InvalidGroupId("group id must be a non-empty string")
        if not self.min_session_timeout_ms <= session_timeout_ms <= self.max_session_timeout_ms:
            raise InvalidSessionTimeout(
                f"session.timeout.ms={session_timeout_ms} is outside the broker's allowed range "
                f"[{self.min_session_timeout_ms}, {self.max_session_timeout_ms}]"
            )
        if not protocols:
            raise InconsistentGroupProtocol("a member must offer at least one assignment protocol")
        self.tick()
        now = self._now()
        with self.lock:
            group = self.groups.get(group_id)
            if group is None or group.state is GroupState.DEAD:
                if member_id:
                    # getOrMaybeCreateClassicGroup: only a member without an id creates a group.
                    raise UnknownMemberId(
                        f"member {member_id!r} is not in group {group_id!r} (the group does not "
                        "exist); join with an empty member id"
                    )
                group = Group(group_id, state_timestamp=now)
            # ClassicGroup.supportsProtocols: an Empty group takes any protocol type; a
            # group with members only its own, and a protocol every member offers.
            if group.state is not GroupState.EMPTY and group.protocol_type != protocol_type:
                raise InconsistentGroupProtocol(
                    f"group {group_id} uses protocol type {group.protocol_type}, not {protocol_type}"
                )
            names = {n for n, _ in protocols}
            if group.members and not names & self._common_protocols(group):
                raise InconsistentGroupProtocol(
                    f"none of {sorted(names)} is supported by every member of group {group_id}"
                )
            if member_id and member_id not in group.members:
                raise UnknownMemberId(
                    f"member {member_id!r} is not in group {group_id!r}; join with an empty member id"
                )
            self.groups[group_id] = group
            new = not member_id
            if new:
                member_id = f"{client_id}-{uuid.uuid4()}"
                member = Member(
                    member_id,
                    client_id,
                    client_host,
                    session_timeout_ms,
                    rebalance_timeout_ms,
                    protocol_type,
                    list(protocols),
                    group_instance_id,
                    last_heartbeat_ms=now,
                    last_poll_ms=now,
                )
                group.members[member_id] = member
                if group.leader is None:
                    group.leader = member_id
                group.protocol_type = protocol_type
            else:
                member = group.members[member_id]
                changed = list(protocols) != member.protocols
                member.protocols = list(protocols)
                member.last_heartbeat_ms = now
                member.last_poll_ms = now
                if not changed and (
                    group.state is GroupState.COMPLETING_REBALANCE
                    or (group.state is GroupState.STABLE and member_id != group.leader)
                ):
                    # Kafka answers a rejoin with unchanged metadata from the current
                    # generation; only the leader's rejoin in Stable forces a rebalance
                    # (it may want to assign anew).
                    return self._join_answer(group, member)
            member.joined_generation = group.generation + 1
            if group.state in (GroupState.EMPTY, GroupState.STABLE, GroupState.COMPLETING_REBALANCE):
                self._prepare_rebalance(group, now, f"member {member_id} {'joined' if new else 'rejoined'}")
            elif new and group.initial_delay_deadline_ms:
                # Delayed initial join: each new member extends the wait (up to the
                # rebalance timeout), so a whole fleet starting together lands in one
                # generation instead of many.
                group.initial_delay_deadline_ms = min(
                    now + self.initial_rebalance_delay_ms, group.rebalance_deadline_ms
                )
            self._maybe_complete_join(group, now)
            return self._join_answer(group, member)

    def _join_answer(self, group: Group, member: Member) -> JoinResult:
        if group.state is GroupState.PREPARING_REBALANCE or member.joined_generation != group.generation:
            return JoinResult(member.member_id, True)
        members: tuple[tuple[str, str | None, bytes], ...] = ()
        assert group.protocol is not None
        if member.member_id == group.leader:
            members = tuple(
                (m.member_id, m.group_instance_id, m.metadata_for(group.protocol)) for m in group.members.values()
            )
        return JoinResult(member.member_id, False, group.generation, group.protocol, group.leader, members)

    def _common_protocols(self, group: Group) -> set[str]:
        sets = [{n for n, _ in m.protocols} for m in group.members.values()]
        return set.intersection(*sets) if sets else set()

    def _prepare_rebalance(self, group: Group, now: int, reason: str) -> None:
        initial = group.state is GroupState.EMPTY
        group.transition_to(GroupState.PREPARING_REBALANCE, now)
        timeout = max((m.rebalance_timeout_ms for m in group.members.values()), default=0)
        group.rebalance_deadline_ms = now + timeout
        group.initial_delay_deadline_ms = (
            min(now + self.initial_rebalance_delay_ms, group.rebalance_deadline_ms) if initial else 0
        )
        for m in group.members.values():
            m.awaiting_sync = False
        self._publish_state(group, reason)

    def _maybe_complete_join(self, group: Group, now: int) -> None:
        if group.state is not GroupState.PREPARING_REBALANCE:
            return
        if group.initial_delay_deadline_ms and now < group.initial_delay_deadline_ms:
            return
        target = group.generation + 1
        waiting = [m for m in group.members.values() if m.joined_generation != target]
        if waiting and now < group.rebalance_deadline_ms:
            return
        for m in waiting:
            # Members that did not rejoin within the rebalance timeout are out.
            del group.members[m.member_id]
        self._complete_join(group, now)

    def _complete_join(self, group: Group, now: int) -> None:
        group.generation += 1
        group.initial_delay_deadline_ms = 0
        if not group.members:
            group.protocol = None
            group.leader = None
            group.transition_to(GroupState.EMPTY, now)
            self.store.write_group(group, group.group_id)
            self._publish_state(group, "the last member left; generation completed empty")
            return
        group.protocol = self._select_protocol(group)
        if group.leader not in group.members:
            group.leader = next(iter(group.members))
        group.transition_to(GroupState.COMPLETING_REBALANCE, now)
        group.rebalance_deadline_ms = now + max(m.rebalance_timeout_ms for m in group.members.values())
        for m in group.members.values():
            m.joined_generation = group.generation
            m.awaiting_sync = True
            m.assignment = b""
        self._publish_state(group, f"generation {group.generation} formed; waiting for the leader")

    def _select_protocol(self, group: Group) -> str:
        from .assignors import choose_protocol

        return choose_protocol([[n for n, _ in m.protocols] for m in group.members.values()])

    def sync_group(
        self,
        group_id: str,
        member_id: str,
        generation: int,
        assignments: Mapping[str, bytes] | None = None,
    ) -> SyncResult:
        """The leader hands in every member's assignment; followers wait for theirs."""
        self.tick()
        now = self._now()
        with self.lock:
            group = self._member_group(group_id, member_id, "sync")
            member = self._member(group, member_id)
            if generation != group.generation:
                raise IllegalGeneration(
                    f"generation {generation} of member {member_id} is stale: group "
                    f"{group_id} is at generation {group.generation}"
                )
            if group.state is GroupState.PREPARING_REBALANCE:
                raise RebalanceInProgress(f"group {group_id} is rebalancing; rejoin")
            member.last_heartbeat_ms = now
            if group.state is GroupState.COMPLETING_REBALANCE:
                if member_id == group.leader and assignments is not None:
                    for mid, m in group.members.items():
                        m.assignment = assignments.get(mid, b"")
                    group.transition_to(GroupState.STABLE, now)
                    for m in group.members.values():
                        m.awaiting_sync = False
                    self.store.write_group(group, group.group_id)
                    self._rebalanced(group)
                else:
                    return SyncResult(True)
            return SyncResult(False, member.assignment, group.protocol)

    def _rebalanced(self, group: Group) -> None:
        from .offsets_codec import decode_assignment

        members = []
        for m in group.members.values():
            try:
                parts = tuple(decode_assignment(m.assignment).partitions) if m.assignment else ()
            except Exception:
                parts = ()
            members.append((m.member_id, parts))
        self.events.publish(
            GroupRebalanced(
                group=group.group_id,
                generation=group.generation,
                protocol=group.protocol or "",
                members=tuple(members),
            )
        )
        self._publish_state(group, f"generation {group.generation} is stable")
        for callback in self.on_rebalance:
            callback(group)

    def heartbeat(self, group_id: str, member_id: str, generation: int, *, polled: bool = False) -> None:
        """Keep the session alive; raises when the member must rejoin."""
        self.tick()
        now = self._now()
        with self.lock:
            group = self._member_group(group_id, member_id, "heartbeat")
            if group.state is GroupState.EMPTY:
                raise UnknownMemberId(f"group {group_id} is empty; member {member_id} must rejoin")
            member = self._member(group, member_id)
            member.last_heartbeat_ms = now
            if polled:
                member.last_poll_ms = now
            if generation != group.generation:
                raise IllegalGeneration(
                    f"generation {generation} of member {member_id} is stale: group "
                    f"{group_id} is at generation {group.generation}"
                )
            if group.state is GroupState.PREPARING_REBALANCE:
                raise RebalanceInProgress(f"group {group_id} is rebalancing; rejoin")

    def member_polled(self, group_id: str, member_id: str) -> None:
        with self.lock:
            g = self.groups.get(group_id)
            if g and member_id in g.members:
                now = self._now()
                g.members[member_id].last_poll_ms = now
                g.members[member_id].last_heartbeat_ms = now

    def leave_group(self, group_id: str, member_id: str) -> None:
        now = self._now()
        with self.lock:
            group = self._member_group(group_id, member_id, "leave")
            member = self._member(group, member_id)
            self._remove_member(group, member, now, f"member {member_id} left")

    def _remove_member(self, group: Group, member: Member, now: int, reason: str) -> None:
        del group.members[member.member_id]
        if group.leader == member.member_id:
            group.leader = next(iter(group.members), None)
        if group.state in (GroupState.STABLE, GroupState.COMPLETING_REBALANCE):
            self._prepare_rebalance(group, now, reason)
        elif group.state is GroupState.PREPARING_REBALANCE:
            self._publish_state(group, reason)
        # With nobody left to wait for (or the last member gone) the join completes now.
        self._maybe_complete_join(group, now)

    # --- offsets -----------------------------------------------------------

    def commit_offsets(
        self,
        group_id: str,
        offsets: Mapping[TopicPartition, int | tuple[int, str] | OffsetAndMetadata],
        *,
        member_id: str = "",
        generation: int = -1,
    ) -> None:
        """Validate as ``OffsetMetadataManager.validateOffsetCommit`` does, then persist.

        Nothing is written unless every offset passes; an accepted commit is in
        ``__consumer_offsets`` (written to the kernel) when this returns.
        """
        self.tick()
        now = self._now()
        with self.lock:
            entries = self._validate_commit(group_id, offsets, member_id, generation, now)
            self.store.write_offsets(group_id, entries)
            self.groups[group_id].offsets.update(entries)
        if self.events.has_subscribers:
            self.events.publish(
                OffsetsCommitted(
                    group=group_id,
                    offsets=tuple((t, p, om.offset) for (t, p), om in entries.items()),
                    member_id=member_id,
                    generation=generation,
                )
            )

    def _validate_commit(
        self,
        group_id: str,
        offsets: Mapping[TopicPartition, int | tuple[int, str] | OffsetAndMetadata],
        member_id: str,
        generation: int,
        now: int,
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        """The checks of ``validateOffsetCommit``, in Kafka's order; creates a simple group for gen -1.

        The group is checked first (``OffsetMetadataManager.validateOffsetCommit`` and
        ``ClassicGroup.validateOffsetCommit``), then each offset's metadata. Kafka then
        refuses only the partitions whose metadata is too large and commits the others;
        logcore refuses the whole request so that a refusal never changes anything.
        """
        group = self.groups.get(group_id)
        if group is not None and group.state is GroupState.DEAD:
            group = None
        create_simple = False
        if group is None:
            if generation >= 0:
                # OffsetCommit v9+ answers GROUP_ID_NOT_FOUND (older versions said
                # ILLEGAL_GENERATION): a member cannot commit to a group that is gone.
                raise GroupIdNotFound(
                    f"Group {group_id} not found: member {member_id!r} of generation {generation} "
                    "cannot commit to it; the consumer must rejoin"
                )
            if not group_id:
                raise InvalidGroupId("group id must be a non-empty string")
            create_simple = True
        elif generation < 0 and group.state is GroupState.EMPTY:
            pass  # from outside the group (admin tools, assign()): fine while it is Empty
        elif generation >= 0 or member_id:
            member = self._member(group, member_id)
            if generation != group.generation:
                raise IllegalGeneration(
                    f"commit from member {member_id} with generation {generation} refused: "
                    f"group {group_id} is at generation {group.generation} (a fenced zombie)"
                )
            if group.state is GroupState.COMPLETING_REBALANCE:
                raise RebalanceInProgress(f"group {group_id} is completing a rebalance; commit after the sync")
            member.last_heartbeat_ms = now
        else:
            raise UnknownMemberId(
                f"group {group_id} is {group.state} with members; a commit from "
                "outside the group (generation -1) is only accepted while it is Empty"
            )
        entries: dict[TopicPartition, OffsetAndMetadata] = {}
        for tp, value in offsets.items():
            if type(value) is int:
                if value < 0:
                    raise InvalidRequest(f"offset {value} for {tp[0]}-{tp[1]} is negative")
                if value > LONG_MAX:
                    raise InvalidRequest(
                        f"offset {value} for {tp[0]}-{tp[1]} is too large: offsets are 0 to {LONG_MAX}"
                    )
                entries[tp] = OffsetAndMetadata(value, "", -1, now)
                continue
            if isinstance(value, OffsetAndMetadata):
                om = value
            elif isinstance(value, tuple):
                om = OffsetAndMetadata(int(value[0]), value[1])
            else:
                om = OffsetAndMetadata(int(value))
            # Kafka compares String.length(): UTF-16 code units, not UTF-8 bytes.
            size = java_string_length(om.metadata)
            if size > OFFSET_METADATA_MAX_BYTES:
                raise OffsetMetadataTooLarge(
                    f"The metadata field of the offset request was too large: the metadata of "
                    f"{tp[0]}-{tp[1]} is {size} characters; offset.metadata.max.bytes allows "
                    f"{OFFSET_METADATA_MAX_BYTES}"
                )
            if om.offset < 0:
                raise InvalidRequest(f"offset {om.offset} for {tp[0]}-{tp[1]} is negative")
            if om.offset > LONG_MAX:
                raise InvalidRequest(
                    f"offset {om.offset} for {tp[0]}-{tp[1]} is too large: offsets are 0 to {LONG_MAX}"
                )
            entries[tp] = OffsetAndMetadata(om.offset, om.metadata, om.leader_epoch, now, om.expire_timestamp)
        if create_simple:
            # Only now: a refused request must not leave a new group behind.
            self.groups[group_id] = Group(group_id, state_timestamp=now, empty_since_ms=now)
        return entries

    def commit_offsets_batch(self, requests: Sequence[CommitRequest]) -> list[Exception | None]:
        """Many OffsetCommit requests at once, as Kafka's coordinator runtime batches them.

        Each request is validated on its own (a refusal affects only that request);
        the accepted ones are written with one append per ``__consumer_offsets``
        partition and are durable when this returns. Returns, per request, ``None``
        when accepted or the exception that refused it.
        """
        self.tick()
        now = self._now()
        results: list[Exception | None] = []
        accepted: list[tuple[str, dict[TopicPartition, OffsetAndMetadata]]] = []
        with self.lock:
            for req in requests:
                try:
                    entries = self._validate_commit(req.group_id, req.offsets, req.member_id, req.generation, now)
                except Exception as e:
                    results.append(e)
                    continue
                accepted.append((req.group_id, entries))
                results.append(None)
            self.store.write_offsets_many(accepted)
            for group_id, entries in accepted:
                self.groups[group_id].offsets.update(entries)
        if self.events.has_subscribers:
            for group_id, entries in accepted:
                self.events.publish(
                    OffsetsCommitted(
                        group=group_id,
                        offsets=tuple((t, p, om.offset) for (t, p), om in entries.items()),
                    )
                )
        return results

    def fetch_offsets(
        self, group_id: str, partitions: Iterable[TopicPartition] | None = None
    ) -> dict[TopicPartition, OffsetAndMetadata | None]:
        """Committed offsets (None where nothing is committed); every state but Dead."""
        with self.lock:
            group = self.groups.get(group_id)
            if group is None or group.state is GroupState.DEAD:
                if partitions is None:
                    return {}
                return dict.fromkeys(partitions)
            if partitions is None:
                return dict(sorted(group.offsets.items()))
            return {tp: group.offsets.get(tp) for tp in partitions}

    def delete_offsets(self, group_id: str, partitions: Iterable[TopicPartition]) -> list[TopicPartition]:
        """Tombstone offsets; refused for topics an active group subscribes to."""
        now = self._now()
        with self.lock:
            group = self._group(group_id)
            parts = list(partitions)
            if group.state is not GroupState.EMPTY:
                # ClassicGroup.validateOffsetDelete: an active group of another protocol
                # type (connect, ...) cannot lose offsets at all.
                if group.protocol_type != "consumer":
                    raise NonEmptyGroup(
                        f"Group {group_id} is non-empty: it is {group.state} with protocol type "
                        f"{group.protocol_type!r}; only an Empty group's offsets can be deleted"
                    )
                # isSubscribedToTopic: unreadable subscriptions count as "not subscribed",
                # as in Kafka (computeSubscribedTopics gives up on a SchemaException).
                subscribed = group.subscribed_topics() or set()
                busy = sorted({t for t, _ in parts if t in subscribed})
                if busy:
                    from .errors import GroupSubscribedToTopic

                    raise GroupSubscribedToTopic(
                        f"group {group_id} is {group.state} and subscribed to "
                        f"{', '.join(busy)}; stop its consumers before deleting those offsets"
                    )
            present = [tp for tp in parts if tp in group.offsets]
            self.store.write_offsets(group_id, dict.fromkeys(present))
            for tp in present:
                del group.offsets[tp]
            if not group.offsets and not group.members and group.state is GroupState.EMPTY:
                self._delete_group(group, now)
        from .events import OffsetsDeleted

        self.events.publish(OffsetsDeleted(group=group_id, partitions=tuple(present)))
        return present

    def delete_group(self, group_id: str) -> None:
        """Only an Empty group can go (NON_EMPTY_GROUP otherwise)."""
        now = self._now()
        with self.lock:
            group = self._group(group_id)
            if group.state is not GroupState.EMPTY:
                raise NonEmptyGroup(
                    f"group {group_id} is {group.state} with {len(group.members)} member(s); "
                    "only an Empty group can be deleted"
                )
            if group.offsets:
                self.store.write_offsets(group_id, dict.fromkeys(group.offsets))
            group.offsets.clear()
            self._delete_group(group, now)

    def _delete_group(self, group: Group, now: int) -> None:
        group.transition_to(GroupState.DEAD, now)
        self.store.write_group(None, group.group_id)
        del self.groups[group.group_id]
        self.events.publish(GroupDeleted(group=group.group_id))

    # --- loading (replay of __consumer_offsets) ----------------------------

    def load_group(self, group: Group) -> None:
        """Install a group rebuilt from the log; members must rejoin (Kafka: they expire)."""
        now = self._now()
        for m in group.members.values():
            m.last_heartbeat_ms = now
            m.last_poll_ms = now
        with self.lock:
            self.groups[group.group_id] = group

    def list_groups(self) -> list[Group]:
        with self.lock:
            return [g for g in self.groups.values() if g.state is not GroupState.DEAD]

    def describe(self, group_id: str) -> Group:
        self.tick()
        return self._group(group_id)
