"""An in-process consumer that behaves like Kafka's ``KafkaConsumer``.

``poll`` drives everything a real consumer's poll drives: joining and syncing the
group (the leader runs the assignor, as in Kafka, on the client side), heartbeats,
auto-commit every ``auto.commit.interval.ms``, positions for partitions with no
committed offset (``auto.offset.reset``) and the fetch itself. With a ``ManualClock``
nothing waits: a poll during a rebalance simply returns no records.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from . import offsets_codec as codec
from .assignors import ASSIGNORS, COOPERATIVE_PROTOCOLS, run_assignor
from .errors import (
    CommitFailed,
    GroupIdNotFound,
    IllegalGeneration,
    InvalidRequest,
    NoOffsetForPartition,
    OffsetOutOfRange,
    RebalanceInProgress,
    UnknownMemberId,
    UnknownTopicOrPartition,
)
from .groups import JoinResult, OffsetAndMetadata, TopicPartition
from .records import Headers

if TYPE_CHECKING:
    from .cluster import EmbeddedCluster

OFFSET_RESET_POLICIES = ("earliest", "latest", "none")


@dataclass(frozen=True)
class ConsumerRecord:
    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()


class RebalanceListener(Protocol):
    def on_partitions_revoked(self, partitions: list[TopicPartition]) -> None: ...
    def on_partitions_assigned(self, partitions: list[TopicPartition]) -> None: ...


class Consumer:
    """A group member (``subscribe``) or a manual reader (``assign``) of an engine."""

    def __init__(
        self,
        cluster: EmbeddedCluster,
        group_id: str | None = None,
        *,
        client_id: str = "consumer",
        client_host: str = "/127.0.0.1",
        auto_offset_reset: str = "latest",
        enable_auto_commit: bool = True,
        auto_commit_interval_ms: int = 5000,
        session_timeout_ms: int = 45_000,
        heartbeat_interval_ms: int = 3000,
        max_poll_interval_ms: int = 300_000,
        max_poll_records: int = 500,
        partition_assignment_strategy: Sequence[str] = ("range", "cooperative-sticky"),
        group_instance_id: str | None = None,
    ) -> None:
        if auto_offset_reset not in OFFSET_RESET_POLICIES:
            raise InvalidRequest(
                f"auto.offset.reset={auto_offset_reset!r} is not valid; allowed: " + ", ".join(OFFSET_RESET_POLICIES)
            )
        for name in partition_assignment_strategy:
            if name not in ASSIGNORS:
                raise InvalidRequest(f"unknown partition.assignment.strategy {name!r}; allowed: {', '.join(ASSIGNORS)}")
        self.cluster = cluster
        self.coordinator = cluster.coordinator
        self.clock = cluster.clock
        self.group_id = group_id
        self.client_id = client_id
        self.client_host = client_host
        self.auto_offset_reset = auto_offset_reset
        self.enable_auto_commit = enable_auto_commit and group_id is not None
        self.auto_commit_interval_ms = auto_commit_interval_ms
        self.session_timeout_ms = session_timeout_ms
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.max_poll_interval_ms = max_poll_interval_ms
        self.max_poll_records = max_poll_records
        self.strategies = tuple(partition_assignment_strategy)
        self.group_instance_id = group_instance_id
        self.member_id = ""
        self.generation = -1
        self.protocol: str | None = None
        self._subscription: list[str] = []
        self._pattern: re.Pattern[str] | None = None
        self._listener: RebalanceListener | None = None
        self._assignment: list[TopicPartition] = []
        self._manual = False
        self._positions: dict[TopicPartition, int] = {}
        self._needs_join = False
        self._joined = False
        self._last_heartbeat = 0
        self._last_auto_commit = self.clock.monotonic_ms()
        self._next_partition = 0
        self._closed = False
        self._paused: set[TopicPartition] = set()

    # --- subscription ------------------------------------------------------

    def subscribe(self, topics: Iterable[str] | str, listener: RebalanceListener | None = None) -> None:
        """Join the group for ``topics`` (a list, or a regex pattern string)."""
        if self.group_id is None:
            raise InvalidRequest("subscribe() needs a group_id; use assign() without one")
        if isinstance(topics, str):
            self._pattern = re.compile(topics)
            self._subscription = self._matching_topics()
        else:
            self._pattern = None
            self._subscription = sorted(set(topics))
        self._listener = listener
        self._manual = False
        self._needs_join = True

    def _matching_topics(self) -> list[str]:
        assert self._pattern is not None
        return sorted(t for t in self.cluster.list_topics(include_internal=False) if self._pattern.fullmatch(t))

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """Read these partitions without group membership (commits use generation -1)."""
        parts = sorted(set(partitions))
        for t, p in parts:
            self.cluster.watermarks(t, p)  # unknown topic/partition raises now, not at poll
        self._manual = True
        self._assignment = parts
        self._positions = {tp: o for tp, o in self._positions.items() if tp in parts}

    def assignment(self) -> list[TopicPartition]:
        return list(self._assignment)

    def subscription(self) -> list[str]:
        return list(self._subscription)

    def pause(self, partitions: Iterable[TopicPartition]) -> None:
        """``KafkaConsumer.pause``: poll() keeps the membership alive but fetches nothing here.

        As in Kafka, a partition revoked and assigned again comes back unpaused.
        """
        parts = list(partitions)
        for tp in parts:
            if tp not in self._assignment:
                raise InvalidRequest(f"{tp[0]}-{tp[1]} is not assigned to this consumer")
        self._paused.update(parts)

    def resume(self, partitions: Iterable[TopicPartition]) -> None:
        self._paused.difference_update(partitions)

    def paused(self) -> list[TopicPartition]:
        return sorted(self._paused)

    def heartbeat(self) -> None:
        """What Kafka's background heartbeat thread does between two polls (KIP-62).

        It keeps the session alive while the application processes what the last poll
        returned; it never rejoins (only poll() does) and does not count as a poll for
        ``max.poll.interval.ms``. A rebalance it learns of makes the next poll rejoin.
        """
        if self._closed or self._manual or self.group_id is None or not self._joined or self._needs_join:
            return
        now = self.clock.monotonic_ms()
        if now - self._last_heartbeat < self.heartbeat_interval_ms:
            return
        self._last_heartbeat = now
        try:
            self.coordinator.heartbeat(self.group_id, self.member_id, self.generation, polled=False)
        except RebalanceInProgress:
            self._needs_join = True
        except IllegalGeneration:
            self._fenced()
        except UnknownMemberId:
            self._lost()

    # --- group protocol ----------------------------------------------------

    def _protocols(self) -> list[tuple[str, bytes]]:
        meta = codec.encode_subscription(
            codec.ConsumerSubscription(topics=self._subscription, owned_partitions=self._assignment)
        )
        return [(name, meta) for name in self.strategies]

    def _ensure_group(self) -> bool:
        """Advance the join/sync dance one step; True once the member holds an assignment."""
        assert self.group_id is not None
        if self._pattern is not None:
            now_matching = self._matching_topics()
            if now_matching != self._subscription:
                self._subscription = now_matching
                self._needs_join = True
        if self._needs_join or not self._joined:
            self._prepare_join()
            try:
                join = self.coordinator.join_group(
                    self.group_id,
                    self.member_id,
                    client_id=self.client_id,
                    client_host=self.client_host,
                    session_timeout_ms=self.session_timeout_ms,
                    rebalance_timeout_ms=self.max_poll_interval_ms,
                    protocols=self._protocols(),
                    group_instance_id=self.group_instance_id,
                )
            except UnknownMemberId:
                self._lost()
                return False
            self.member_id = join.member_id
            if join.pending:
                self._joined = False
                return False
            self._needs_join = False
            self.generation = join.generation
            self.protocol = join.protocol
            assignments = self._assign(join) if join.is_leader else None
            return self._sync(assignments)
        if self._awaiting_sync:
            return self._sync(self._pending_assignments)
        return True

    _awaiting_sync = False
    _pending_assignments: Mapping[str, bytes] | None = None
    _join_prepared = False

    def _prepare_join(self) -> None:
        """``ConsumerCoordinator.onJoinPrepare``, once per rejoin, before the JoinGroup.

        With auto-commit on, the positions are committed now, while this member's
        generation is still current (a commit is accepted in PreparingRebalance), so
        whoever gets a partition next starts where this member stopped. An eager
        member then gives up every partition before it rejoins; a cooperative one
        keeps them and gives up only what the new assignment takes away.
        """
        if self._join_prepared:
            return
        self._join_prepared = True
        if self.generation < 0 or not self._assignment:
            return  # first join, or partitions already lost: nothing to commit
        if self.enable_auto_commit:
            self._commit_positions(self._assignment, quiet=True)
        if self.protocol not in COOPERATIVE_PROTOCOLS:
            revoked = self._assignment
            self._assignment = []
            self._revoke(revoked, commit=False)

    def _assign(self, join: JoinResult) -> dict[str, bytes]:
        from .assignors import Subscription

        assert self.protocol is not None
        members = join.members
        subs: dict[str, Subscription] = {}
        topics: set[str] = set()
        for member_id, instance_id, meta in members:
            s = codec.decode_subscription(meta)
            subs[member_id] = Subscription(
                member_id, list(s.topics), list(s.owned_partitions), instance_id, self.generation
            )
            topics.update(s.topics)
        counts = {}
        for t in topics:
            try:
                counts[t] = len(self.cluster.describe_topic(t).partitions)
            except UnknownTopicOrPartition:
                continue
        assignment = run_assignor(self.protocol, counts, subs).assignment
        return {
            mid: codec.encode_assignment(codec.ConsumerAssignment(partitions=assignment.get(mid, []))) for mid in subs
        }

    def _sync(self, assignments: Mapping[str, bytes] | None) -> bool:
        assert self.group_id is not None
        try:
            sync = self.coordinator.sync_group(self.group_id, self.member_id, self.generation, assignments)
        except RebalanceInProgress:
            self._awaiting_sync = False
            self._needs_join = True
            return False
        except IllegalGeneration:
            self._awaiting_sync = False
            self._fenced()
            return False
        except UnknownMemberId:
            self._lost()
            return False
        if sync.pending:
            self._awaiting_sync = True
            self._pending_assignments = assignments
            return False
        self._awaiting_sync = False
        self._pending_assignments = None
        self._join_prepared = False
        new: list[TopicPartition] = (
            sorted((tp[0], tp[1]) for tp in codec.decode_assignment(sync.assignment).partitions)
            if sync.assignment
            else []
        )
        old = self._assignment
        revoked = [tp for tp in old if tp not in new]
        added = [tp for tp in new if tp not in old]
        cooperative = self.protocol in COOPERATIVE_PROTOCOLS
        if cooperative:
            if revoked:
                self._revoke(revoked)
                # KIP-429: a member that gave partitions up rejoins at once so they can
                # be handed out in a second rebalance.
                self._needs_join = True
            self._assignment = new
            if added and self._listener:
                self._listener.on_partitions_assigned(added)
        else:
            if old:
                self._revoke(old)
            self._assignment = new
            if self._listener:
                self._listener.on_partitions_assigned(list(new))
        self._joined = True
        self._last_heartbeat = self.clock.monotonic_ms()
        return not self._needs_join

    def _revoke(self, partitions: list[TopicPartition], commit: bool = True) -> None:
        if commit and self.enable_auto_commit:
            self._commit_positions(partitions, quiet=True)
        if self._listener:
            self._listener.on_partitions_revoked(list(partitions))
        for tp in partitions:
            self._positions.pop(tp, None)
            self._paused.discard(tp)

    def _fenced(self) -> None:
        """ILLEGAL_GENERATION: keep the member id, lose the generation and the partitions.

        Kafka's ``resetGenerationOnResponseError``: the next ``onJoinPrepare`` finds no
        generation and calls ``onPartitionsLost``, so a zombie neither commits its
        positions nor keeps them: it resumes from the committed offsets.
        """
        member_id = self.member_id
        self._lost()
        self.member_id = member_id

    def _lost(self) -> None:
        """Fenced or expired: partitions are lost, not revoked (no commit possible)."""
        self.member_id = ""
        self.generation = -1
        self._joined = False
        self._needs_join = True
        self._awaiting_sync = False
        self._join_prepared = False
        lost = self._assignment
        self._assignment = []
        for tp in lost:
            self._positions.pop(tp, None)
            self._paused.discard(tp)
        if lost and self._listener:
            self._listener.on_partitions_revoked(list(lost))

    def _heartbeat(self) -> None:
        assert self.group_id is not None
        now = self.clock.monotonic_ms()
        if now - self._last_heartbeat < self.heartbeat_interval_ms:
            self.coordinator.member_polled(self.group_id, self.member_id)
            return
        self._last_heartbeat = now
        try:
            self.coordinator.heartbeat(self.group_id, self.member_id, self.generation, polled=True)
        except RebalanceInProgress:
            self._needs_join = True
        except IllegalGeneration:
            self._fenced()
        except UnknownMemberId:
            self._lost()

    # --- polling -----------------------------------------------------------

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> list[ConsumerRecord]:
        """Records from the current positions; drives the group protocol first.

        With the system clock, waits up to ``timeout_ms`` for the group to form or for
        records; with a manual clock it never waits.
        """
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            records = self._poll_once(max_records or self.max_poll_records)
            if records or timeout_ms <= 0 or time.monotonic() >= deadline:
                return records
            time.sleep(0.02)

    def _poll_once(self, limit: int) -> list[ConsumerRecord]:
        if self._closed:
            raise InvalidRequest("the consumer is closed")
        if not self._manual:
            if self.group_id is None or (not self._subscription and self._pattern is None):
                raise InvalidRequest("subscribe() or assign() before poll()")
            if self._joined and not self._needs_join:
                self._heartbeat()
            if not self._ensure_group():
                return []
        self._maybe_auto_commit()
        return self._fetch(limit)

    def _fetch(self, limit: int) -> list[ConsumerRecord]:
        out: list[ConsumerRecord] = []
        parts = self._assignment
        if not parts:
            return out
        # As Kafka's updateFetchPositions: every assigned partition gets a position (its
        # committed offset, or the reset policy's) before any fetch, so a commit after a
        # short poll covers the partitions this poll did not reach too.
        for tp in parts:
            self._position(tp)
        parts = [tp for tp in parts if tp not in self._paused]
        if not parts:
            return out
        n = len(parts)
        for i in range(n):
            if len(out) >= limit:
                break
            tp = parts[(self._next_partition + i) % n]
            position = self._position(tp)
            try:
                batch = self.cluster.read(tp[0], tp[1], position, limit - len(out))
            except OffsetOutOfRange:
                self._positions[tp] = self._reset_position(tp, out_of_range=True)
                continue
            if batch:
                out.extend(
                    ConsumerRecord(tp[0], tp[1], r.offset, r.timestamp, r.key, r.value, r.headers) for r in batch
                )
                self._positions[tp] = batch[-1].offset + 1
        # Rotate the starting partition so one busy partition cannot starve the rest.
        self._next_partition = (self._next_partition + 1) % n
        return out

    def _position(self, tp: TopicPartition) -> int:
        pos = self._positions.get(tp)
        if pos is None:
            committed = None
            if self.group_id is not None:
                committed = self.coordinator.fetch_offsets(self.group_id, [tp])[tp]
            pos = committed.offset if committed is not None else self._reset_position(tp)
            self._positions[tp] = pos
        return pos

    def _reset_position(self, tp: TopicPartition, out_of_range: bool = False) -> int:
        start, hw = self.cluster.watermarks(*tp)
        if self.auto_offset_reset == "earliest":
            return start
        if self.auto_offset_reset == "latest":
            return hw
        if out_of_range:
            # Kafka's consumer raises OffsetOutOfRangeException here, and
            # NoOffsetForPartitionException only where nothing is committed.
            pos = self._positions.get(tp, -1)
            raise OffsetOutOfRange(
                f"Fetch position {pos} is out of range for partition {tp[0]}-{tp[1]} and "
                f"auto.offset.reset=none; seek() to an offset between {start} and {hw}",
                offset=pos,
                log_start=start,
                log_end=hw,
            )
        raise NoOffsetForPartition(
            f"Undefined offset with no reset policy for partition: {tp[0]}-{tp[1]} (it has no committed "
            f"offset and auto.offset.reset=none); seek() to an offset between {start} and {hw}"
        )

    def position(self, tp: TopicPartition) -> int:
        """The offset of the next record poll() returns for ``tp``."""
        if tp not in self._assignment:
            raise InvalidRequest(f"{tp[0]}-{tp[1]} is not assigned to this consumer")
        return self._position(tp)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        if tp not in self._assignment:
            raise InvalidRequest(f"{tp[0]}-{tp[1]} is not assigned to this consumer")
        if offset < 0:
            raise InvalidRequest(f"seek offset must be >= 0, got {offset}")
        self._positions[tp] = offset

    def seek_to_beginning(self, partitions: Iterable[TopicPartition] | None = None) -> None:
        for tp in partitions or self._assignment:
            self.seek(tp, self.cluster.watermarks(*tp)[0])

    def seek_to_end(self, partitions: Iterable[TopicPartition] | None = None) -> None:
        for tp in partitions or self._assignment:
            self.seek(tp, self.cluster.watermarks(*tp)[1])

    # --- commits -----------------------------------------------------------

    def _maybe_auto_commit(self) -> None:
        if not self.enable_auto_commit:
            return
        now = self.clock.monotonic_ms()
        if now - self._last_auto_commit >= self.auto_commit_interval_ms:
            self._last_auto_commit = now
            self._commit_positions(self._assignment, quiet=True)

    def _commit_positions(self, partitions: Iterable[TopicPartition], quiet: bool = False) -> None:
        offsets = {tp: self._positions[tp] for tp in partitions if tp in self._positions}
        if not offsets:
            return
        try:
            self.commit(offsets)
        except CommitFailed:
            if not quiet:
                raise

    def commit(
        self, offsets: Mapping[TopicPartition, int | OffsetAndMetadata] | None = None
    ) -> dict[TopicPartition, int]:
        """Synchronous commit: the given offsets, or every current position.

        The committed offset is the next record to read (last processed + 1).
        """
        if self.group_id is None:
            raise InvalidRequest("commit() needs a group_id")
        if offsets is None:
            offsets = {tp: self._positions[tp] for tp in self._assignment if tp in self._positions}
        if not offsets:
            return {}
        member, generation = ("", -1) if self._manual else (self.member_id, self.generation)
        try:
            self.coordinator.commit_offsets(self.group_id, dict(offsets), member_id=member, generation=generation)
        except (IllegalGeneration, UnknownMemberId, RebalanceInProgress, GroupIdNotFound) as e:
            if not self._manual:
                self._needs_join = True
            # The first sentence is Kafka's CommitFailedException message.
            raise CommitFailed(
                "Commit cannot be completed since the group has already rebalanced and assigned "
                f"the partitions to another member ({e.code}: {e}). poll() to rejoin"
            ) from e
        return {tp: (o.offset if isinstance(o, OffsetAndMetadata) else int(o)) for tp, o in offsets.items()}

    def committed(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, OffsetAndMetadata | None]:
        if self.group_id is None:
            raise InvalidRequest("committed() needs a group_id")
        return self.coordinator.fetch_offsets(self.group_id, list(partitions))

    # --- closing -----------------------------------------------------------

    def close(self, autocommit: bool = True) -> None:
        """Commit (when auto-commit is on), then leave the group so it rebalances now."""
        if self._closed:
            return
        if autocommit and self.enable_auto_commit and self._joined:
            self._commit_positions(self._assignment, quiet=True)
        if self.group_id is not None and self.member_id and not self._manual:
            # Already expired or fenced: nothing is left to leave.
            with contextlib.suppress(Exception):
                self.coordinator.leave_group(self.group_id, self.member_id)
        self._closed = True

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
