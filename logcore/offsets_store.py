"""The notebook: group offsets and metadata as records of ``__consumer_offsets``.

Like Kafka, every commit is a record keyed by (group, topic, partition) in an
internal compacted topic; group metadata is a record keyed by the group; deletes are
tombstones. A group always lives on partition ``abs(hash(group)) % partitions`` so
that its records stay in order. On open the coordinator's cache is rebuilt by
replaying those partitions from log start to end: the last value per key wins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from . import offsets_codec as codec
from .groups import Group, GroupState, Member, OffsetAndMetadata, OffsetsLog, TopicPartition
from .java_hash import partition_for_group

if TYPE_CHECKING:
    from .groups import GroupCoordinator
    from .log_manager import LogManager

OFFSETS_TOPIC = "__consumer_offsets"
DEFAULT_OFFSETS_PARTITIONS = 10
# Kafka's offsets.topic.segment.bytes: small segments so compaction can work.
OFFSETS_TOPIC_CONFIG = {
    "cleanup.policy": "compact",
    "segment.bytes": str(100 * 1024 * 1024),
    "max.message.bytes": str(8 * 1024 * 1024),
}


class ConsumerOffsetsStore(OffsetsLog):
    """Writes and replays ``__consumer_offsets`` in a ``LogManager``."""

    def __init__(self, logs: LogManager, num_partitions: int = DEFAULT_OFFSETS_PARTITIONS) -> None:
        self.logs = logs
        if not logs.has_topic(OFFSETS_TOPIC):
            logs.create_topic(OFFSETS_TOPIC, num_partitions, OFFSETS_TOPIC_CONFIG, internal=True)
        self.num_partitions = logs.partition_count(OFFSETS_TOPIC)
        self._partitions = [logs.partition(OFFSETS_TOPIC, p) for p in range(self.num_partitions)]
        self._group_partition: dict[str, int] = {}
        self._key_cache: dict[tuple[str, str, int], bytes] = {}

    def partition_for(self, group_id: str) -> int:
        p = self._group_partition.get(group_id)
        if p is None:
            p = partition_for_group(group_id, self.num_partitions)
            self._group_partition[group_id] = p
        return p

    def _key(self, group_id: str, topic: str, partition: int) -> bytes:
        cache_key = (group_id, topic, partition)
        key = self._key_cache.get(cache_key)
        if key is None:
            key = codec.encode_key(codec.OffsetCommitKey(group_id, topic, partition))
            if len(self._key_cache) > 1_000_000:  # bound memory with many groups
                self._key_cache.clear()
            self._key_cache[cache_key] = key
        return key

    def _records(
        self, group_id: str, offsets: Mapping[TopicPartition, OffsetAndMetadata | None]
    ) -> list[tuple[bytes, bytes | None]]:
        encode_value = codec.encode_offset_value
        value_type = codec.OffsetCommitValue
        return [
            (
                self._key(group_id, topic, partition),
                None
                if om is None
                else encode_value(
                    value_type(
                        offset=om.offset,
                        leader_epoch=om.leader_epoch,
                        metadata=om.metadata,
                        commit_timestamp=om.commit_timestamp,
                    )
                    if om.expire_timestamp is None
                    # Kafka writes version 1, the only one with an expire timestamp, when
                    # the commit asked for its own retention (OffsetCommit v2-v4).
                    else value_type(
                        offset=om.offset,
                        metadata=om.metadata,
                        commit_timestamp=om.commit_timestamp,
                        expire_timestamp=om.expire_timestamp,
                        version=1,
                    )
                ),
            )
            for (topic, partition), om in offsets.items()
        ]

    def write_offsets(self, group_id: str, offsets: Mapping[TopicPartition, OffsetAndMetadata | None]) -> None:
        if not offsets:
            return
        records = self._records(group_id, offsets)
        # One request, one batch: all of its offsets land together or not at all.
        log = self._partitions[self.partition_for(group_id)]
        if len(records) == 1:
            log.append(records[0][0], records[0][1])
        else:
            log.append_batch(records)

    def write_offsets_many(
        self, commits: Sequence[tuple[str, Mapping[TopicPartition, OffsetAndMetadata | None]]]
    ) -> None:
        """Group commit: every request's records, one append per partition."""
        by_partition: dict[int, list[tuple[bytes, bytes | None]]] = {}
        for group_id, offsets in commits:
            if offsets:
                by_partition.setdefault(self.partition_for(group_id), []).extend(self._records(group_id, offsets))
        for p, records in by_partition.items():
            self._partitions[p].append_batch(records)

    def write_group(self, group: Group | None, group_id: str) -> None:
        key = codec.encode_key(codec.GroupMetadataKey(group_id))
        log = self._partitions[self.partition_for(group_id)]
        if group is None:
            log.append(key, None)
            return
        value = codec.GroupMetadataValue(
            protocol_type=group.protocol_type or "",
            generation=group.generation,
            protocol=group.protocol,
            leader=group.leader,
            current_state_timestamp=group.state_timestamp,
            members=[
                codec.MemberMetadata(
                    member_id=m.member_id,
                    group_instance_id=m.group_instance_id,
                    client_id=m.client_id,
                    client_host=m.client_host,
                    rebalance_timeout=m.rebalance_timeout_ms,
                    session_timeout=m.session_timeout_ms,
                    subscription=m.metadata_for(group.protocol) if group.protocol else b"",
                    assignment=m.assignment,
                )
                for m in group.members.values()
            ],
        )
        log.append(key, codec.encode_group_value(value))

    # --- replay ------------------------------------------------------------

    def latest_values(self) -> dict[bytes, bytes | None]:
        """Last value per key over every partition (compaction's view of the log)."""
        latest: dict[bytes, bytes | None] = {}
        for log in self._partitions:
            offset = log.log_start_offset
            end = log.high_watermark
            while offset < end:
                batch = log.read(offset, max_records=100_000, max_bytes=16 * 1024 * 1024)
                if not batch:
                    break
                # dict.update over zip runs in C; decoding waits until only the
                # surviving keys are left, so a million commits cost one pass.
                latest.update(zip([r.key for r in batch], [r.value for r in batch], strict=True))  # type: ignore[misc]
                offset = batch[-1].offset + 1
        return latest

    def load_into(self, coordinator: GroupCoordinator) -> int:
        """Rebuild every group into ``coordinator``; returns the number of groups."""
        offsets: dict[str, dict[TopicPartition, OffsetAndMetadata]] = {}
        metadata: dict[str, codec.GroupMetadataValue] = {}
        for raw_key, raw_value in self.latest_values().items():
            if raw_value is None or raw_key is None:
                continue
            key = codec.decode_key(raw_key)
            if isinstance(key, codec.OffsetCommitKey):
                v = codec.decode_offset_value(raw_value)
                offsets.setdefault(key.group, {})[(key.topic, key.partition)] = OffsetAndMetadata(
                    v.offset,
                    v.metadata or "",
                    v.leader_epoch,
                    v.commit_timestamp,
                    v.expire_timestamp if v.version == 1 and v.expire_timestamp >= 0 else None,
                )
            elif isinstance(key, codec.GroupMetadataKey):
                metadata[key.group] = codec.decode_group_value(raw_value)
        now = coordinator.clock.now_ms()
        for group_id in sorted(set(offsets) | set(metadata)):
            group = Group(group_id, state_timestamp=now)
            meta = metadata.get(group_id)
            if meta is not None:
                group.generation = meta.generation
                group.protocol_type = meta.protocol_type or None
                group.protocol = meta.protocol
                group.leader = meta.leader
                group.state_timestamp = meta.current_state_timestamp
                for mm in meta.members:
                    group.members[mm.member_id] = Member(
                        mm.member_id,
                        mm.client_id,
                        mm.client_host,
                        mm.session_timeout,
                        mm.rebalance_timeout,
                        group.protocol_type or "consumer",
                        [(group.protocol or "", mm.subscription)],
                        mm.group_instance_id,
                        assignment=mm.assignment,
                        joined_generation=group.generation,
                    )
            # Kafka loads a group with members as Stable; they expire unless they
            # heartbeat, and then the group rebalances to Empty.
            group.state = GroupState.STABLE if group.members else GroupState.EMPTY
            if group.state is GroupState.EMPTY:
                # KIP-211 counts from when the group became Empty: its state timestamp.
                # A group without one (metadata v0/v1 has none, a simple group has no
                # metadata record) falls back to each offset's commit time, as in Kafka.
                if meta is not None and meta.current_state_timestamp >= 0:
                    group.empty_since_ms = meta.current_state_timestamp
                else:
                    group.empty_since_ms = None
            group.offsets = offsets.get(group_id, {})
            coordinator.load_group(group)
        return len(set(offsets) | set(metadata))
