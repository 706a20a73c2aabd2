"""The one interface the dashboard and the command line use: ``Cluster``.

``EmbeddedCluster`` implements it over logcore's own log and group coordinator; a
later backend implements it over a real Kafka cluster through a Kafka client. The
interface therefore speaks only Kafka's nouns (topics, partitions, offsets, groups,
members) and plain data classes: no file paths, no engine objects. Its change feed
is an ``EventBus`` that a poller can feed just as well as the engine does.
"""

from __future__ import annotations

import abc
import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from .clock import Clock, SystemClock
from .errors import GroupIdNotFound, KafkaError, UnsupportedVersion
from .events import EventBus
from .groups import GroupCoordinator, GroupState, OffsetAndMetadata, TopicPartition
from .lag import known_high_watermark, lag_messages
from .log_manager import LogManager, TopicDescription
from .partition import Truncation
from .records import Header, ProduceRecord, Record

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MemberDescription:
    member_id: str
    client_id: str
    host: str
    group_instance_id: str | None
    assignment: tuple[TopicPartition, ...]


@dataclass(frozen=True)
class PartitionOffsets:
    """One row of ``kafka-consumer-groups.sh --describe``."""

    topic: str
    partition: int
    committed: int | None  # the next record the group will read
    log_start_offset: int
    high_watermark: int  # LOG-END-OFFSET in Kafka's tool is the HW; -1 when the topic is gone
    member_id: str | None
    client_id: str | None
    host: str | None
    metadata: str = ""
    commit_timestamp: int | None = None

    @property
    def lag(self) -> int | None:
        """Lag in messages; ``None`` when nothing is committed or the topic is gone (HW -1)."""
        return lag_messages(known_high_watermark(self.high_watermark), self.committed)


@dataclass(frozen=True)
class GroupListing:
    group_id: str
    state: str
    protocol_type: str
    protocol: str
    member_count: int


@dataclass(frozen=True)
class GroupDescription:
    group_id: str
    state: str
    generation: int
    protocol_type: str
    protocol: str
    leader: str | None
    members: tuple[MemberDescription, ...]
    offsets: tuple[PartitionOffsets, ...] = field(default=())

    @property
    def total_lag(self) -> int:
        return sum(p.lag or 0 for p in self.offsets)

    @property
    def is_active(self) -> bool:
        return self.state not in ("Empty", "Dead")


def offsets_rows(
    committed: Mapping[TopicPartition, OffsetAndMetadata],
    members: Sequence[MemberDescription],
    watermarks: Callable[[TopicPartition], tuple[int, int]],
    *,
    commit_times: bool = True,
) -> tuple[PartitionOffsets, ...]:
    """The describe table of a group: every partition it has an offset on or a member owns.

    Shared by every backend, so the table means the same whatever holds the group.
    ``watermarks`` answers (-1, -1) for a partition whose log is gone; ``commit_times``
    is False where the backend does not know when offsets were committed (OffsetFetch
    does not say).
    """
    owner = {tp: m for m in members for tp in m.assignment}
    rows = []
    for tp in sorted(set(committed) | set(owner)):
        om = committed.get(tp)
        start, hw = watermarks(tp)
        holder = owner.get(tp)
        rows.append(
            PartitionOffsets(
                tp[0],
                tp[1],
                om.offset if om else None,
                start,
                hw,
                holder.member_id if holder else None,
                holder.client_id if holder else None,
                holder.host if holder else None,
                om.metadata if om else "",
                om.commit_timestamp if om and commit_times else None,
            )
        )
    return tuple(rows)


class Cluster(abc.ABC):
    """Everything the web layer and the CLI need, whatever backs it."""

    events: EventBus
    # Whether delete_offsets can delete some partitions' offsets (Kafka's OffsetDelete).
    supports_offset_delete: bool = True

    # topics
    @abc.abstractmethod
    def list_topics(self, include_internal: bool = True) -> list[str]: ...

    @abc.abstractmethod
    def describe_topic(self, topic: str) -> TopicDescription: ...

    def describe_topics(self, include_internal: bool = True) -> list[TopicDescription]:
        return [self.describe_topic(t) for t in self.list_topics(include_internal)]

    @abc.abstractmethod
    def create_topic(
        self, topic: str, partitions: int = 1, config: Mapping[str, str] | None = None
    ) -> TopicDescription: ...

    @abc.abstractmethod
    def delete_topic(self, topic: str) -> None: ...

    @abc.abstractmethod
    def add_partitions(self, topic: str, total: int) -> TopicDescription: ...

    def alter_topic_config(self, topic: str, changes: Mapping[str, str]) -> TopicDescription:
        """Set topic configs, as ``kafka-configs.sh --alter --add-config k=v`` does.

        Every change is validated before any is applied (Kafka's IncrementalAlterConfigs
        validates the whole request first, KIP-339): a refused change changes nothing.
        """
        raise UnsupportedVersion("this cluster cannot change topic configs")

    # records
    @abc.abstractmethod
    def read(self, topic: str, partition: int, offset: int, max_records: int = 500) -> list[Record]: ...

    @abc.abstractmethod
    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Sequence[Header] = (),
        partition: int | None = None,
        timestamp: int | None = None,
    ) -> tuple[int, int]: ...

    def produce_many(self, topic: str, records: Sequence[ProduceRecord]) -> list[tuple[int, int]]:
        """Produce ``records`` in order: each one's (partition, offset).

        As many ``produce`` calls, unless a backend can do better: the embedded engine
        writes one batch per partition, a Kafka client sends them all before it waits.
        """
        return [self.produce(topic, r.value, r.key, r.headers, r.partition, r.timestamp) for r in records]

    @abc.abstractmethod
    def offset_for_timestamp(self, topic: str, partition: int, timestamp: int) -> int | None:
        """First offset whose timestamp >= ``timestamp`` (-2 earliest, -1 latest)."""

    @abc.abstractmethod
    def watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        """(log start offset, high watermark)."""

    def timestamp_at(self, topic: str, partition: int, offset: int) -> int | None:
        """Timestamp of the record at ``offset`` (None when there is none)."""
        start, hw = self.watermarks(topic, partition)
        if offset < start or offset >= hw:
            return None
        records = self.read(topic, partition, offset, 1)
        return records[0].timestamp if records else None

    def timestamps_at(self, keys: Iterable[tuple[str, int, int]]) -> dict[tuple[str, int, int], int | None]:
        """``timestamp_at`` of many (topic, partition, offset); a backend may batch them."""
        out: dict[tuple[str, int, int], int | None] = {}
        for topic, partition, offset in keys:
            try:
                out[(topic, partition, offset)] = self.timestamp_at(topic, partition, offset)
            except KafkaError:  # a partition gone since it was asked about
                out[(topic, partition, offset)] = None
        return out

    # groups
    @abc.abstractmethod
    def list_groups(self) -> list[GroupListing]: ...

    @abc.abstractmethod
    def describe_group(self, group_id: str) -> GroupDescription: ...

    def describe_groups(self, group_ids: Iterable[str]) -> list[GroupDescription]:
        return [self.describe_group(g) for g in group_ids]

    def group_ids(self) -> list[str]:
        """The id of every group, sorted (a backend may answer this cheaper than ``list_groups``)."""
        return [g.group_id for g in self.list_groups()]

    def group_offsets(self, group_ids: Iterable[str]) -> dict[str, tuple[PartitionOffsets, ...]]:
        """Each group's committed offsets with log start and HW: the lag table, no members.

        What a lag refresh needs (the lag history, kafka-consumer-groups.sh's numbers);
        a Kafka cluster answers it without describing the groups. A group that does not
        exist is left out.
        """
        out: dict[str, tuple[PartitionOffsets, ...]] = {}
        for gid in group_ids:
            try:
                out[gid] = self.describe_group(gid).offsets
            except GroupIdNotFound:
                continue
        return out

    def describe_all_groups(self) -> list[GroupDescription]:
        """Every group described: one refresh of the whole cluster's groups, offsets and lag.

        A group deleted between the listing and the describe is left out.
        """
        ids = self.group_ids()
        try:
            return self.describe_groups(ids)
        except GroupIdNotFound:
            out = []
            for gid in ids:
                try:
                    out.append(self.describe_group(gid))
                except GroupIdNotFound:
                    continue
            return out

    @abc.abstractmethod
    def committed_offsets(self, group_id: str) -> dict[TopicPartition, OffsetAndMetadata]: ...

    @abc.abstractmethod
    def commit_offsets(self, group_id: str, offsets: Mapping[TopicPartition, int | OffsetAndMetadata]) -> None:
        """Commit from outside the group (generation -1): only while it is inactive."""

    @abc.abstractmethod
    def delete_offsets(self, group_id: str, partitions: Iterable[TopicPartition]) -> list[TopicPartition]: ...

    @abc.abstractmethod
    def delete_group(self, group_id: str) -> None: ...

    def recovery_report(self) -> list[Truncation] | None:
        """What recovery cut from the logs when they were opened; None where the backend
        cannot say (a Kafka cluster's brokers log it themselves)."""
        return None

    def close(self) -> None:  # noqa: B027 - optional for backends without resources
        """Release what the backend holds."""


class EmbeddedCluster(Cluster):
    """logcore's own engine in this process: a data directory, its log and groups."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        clock: Clock | None = None,
        offsets_partitions: int | None = None,
        **coordinator_options: Any,
    ) -> None:
        from .offsets_store import DEFAULT_OFFSETS_PARTITIONS, ConsumerOffsetsStore

        self.clock = clock or SystemClock()
        self.events = EventBus()
        self.logs = LogManager(data_dir, clock=self.clock, events=self.events)
        try:
            self.store = ConsumerOffsetsStore(self.logs, offsets_partitions or DEFAULT_OFFSETS_PARTITIONS)
            self.coordinator = GroupCoordinator(self.store, clock=self.clock, events=self.events, **coordinator_options)
            self.store.load_into(self.coordinator)
        except BaseException:
            self.logs.close()
            raise
        self.data_dir = self.logs.data_dir
        self._maintenance_stop = threading.Event()
        self._maintenance_thread: threading.Thread | None = None

    # topics
    def list_topics(self, include_internal: bool = True) -> list[str]:
        return self.logs.list_topics(include_internal)

    def describe_topic(self, topic: str) -> TopicDescription:
        return self.logs.describe_topic(topic)

    def create_topic(
        self, topic: str, partitions: int = 1, config: Mapping[str, str] | None = None
    ) -> TopicDescription:
        return self.logs.create_topic(topic, partitions, config)

    def delete_topic(self, topic: str) -> None:
        self.logs.delete_topic(topic)

    def add_partitions(self, topic: str, total: int) -> TopicDescription:
        return self.logs.add_partitions(topic, total)

    def alter_topic_config(self, topic: str, changes: Mapping[str, str]) -> TopicDescription:
        return self.logs.alter_config(topic, changes)

    # records
    def read(self, topic: str, partition: int, offset: int, max_records: int = 500) -> list[Record]:
        return self.logs.partition(topic, partition).read(offset, max_records)

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Sequence[Header] = (),
        partition: int | None = None,
        timestamp: int | None = None,
    ) -> tuple[int, int]:
        return self.logs.produce(topic, value, key, headers, partition, timestamp)

    def produce_many(self, topic: str, records: Sequence[ProduceRecord]) -> list[tuple[int, int]]:
        return self.logs.produce_many(topic, records)

    def offset_for_timestamp(self, topic: str, partition: int, timestamp: int) -> int | None:
        found = self.logs.partition(topic, partition).offset_for_timestamp(timestamp)
        return None if found is None else found[0]

    def watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        p = self.logs.partition(topic, partition)
        return p.log_start_offset, p.high_watermark

    def timestamp_at(self, topic: str, partition: int, offset: int) -> int | None:
        return self.logs.partition(topic, partition).timestamp_at(offset)

    # groups
    def list_groups(self) -> list[GroupListing]:
        self.coordinator.tick()
        return sorted(
            (
                GroupListing(
                    g.group_id,
                    str(g.state),
                    g.protocol_type or "",
                    g.protocol or "",
                    len(g.members),
                )
                for g in self.coordinator.list_groups()
            ),
            key=lambda g: g.group_id,
        )

    def describe_group(self, group_id: str) -> GroupDescription:
        self.coordinator.tick()
        with self.coordinator.lock:
            g = self.coordinator.groups.get(group_id)
            if g is None or g.state is GroupState.DEAD:
                raise GroupIdNotFound(f"Consumer group '{group_id}' does not exist.")
            members = tuple(self._member_description(m, g) for m in g.members.values())
            rows = offsets_rows(g.offsets, members, lambda tp: self._safe_watermarks(*tp))
            return GroupDescription(
                g.group_id,
                str(g.state),
                g.generation,
                g.protocol_type or "",
                g.protocol or "",
                g.leader,
                members,
                rows,
            )

    def _safe_watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        try:
            return self.watermarks(topic, partition)
        except Exception:  # offsets of a deleted topic: show them, with no log
            return -1, -1

    @staticmethod
    def _member_description(m: Any, g: Any) -> MemberDescription:
        from .offsets_codec import decode_assignment

        parts: tuple[TopicPartition, ...] = ()
        if m.assignment and g.protocol_type == "consumer":
            try:
                parts = tuple(decode_assignment(m.assignment).partitions)
            except Exception:
                parts = ()
        return MemberDescription(m.member_id, m.client_id, m.client_host, m.group_instance_id, parts)

    def committed_offsets(self, group_id: str) -> dict[TopicPartition, OffsetAndMetadata]:
        return {tp: om for tp, om in self.coordinator.fetch_offsets(group_id).items() if om is not None}

    def commit_offsets(self, group_id: str, offsets: Mapping[TopicPartition, int | OffsetAndMetadata]) -> None:
        self.coordinator.commit_offsets(group_id, dict(offsets))

    def delete_offsets(self, group_id: str, partitions: Iterable[TopicPartition]) -> list[TopicPartition]:
        return self.coordinator.delete_offsets(group_id, partitions)

    def delete_group(self, group_id: str) -> None:
        self.coordinator.delete_group(group_id)

    def recovery_report(self) -> list[Truncation]:
        return self.logs.recovery_report

    # housekeeping
    def start_maintenance(self, interval_s: float = 5.0, lock: AbstractContextManager[Any] | None = None) -> None:
        """Run retention, compaction and group timers in a background thread.

        ``lock`` is held around each round when other threads also call the engine.
        """
        if self._maintenance_thread is not None:
            return
        guard: AbstractContextManager[Any] = lock if lock is not None else contextlib.nullcontext()

        def loop() -> None:
            while not self._maintenance_stop.wait(interval_s):
                with guard:
                    # close() may have begun while this thread waited for the lock.
                    if self._maintenance_stop.is_set():
                        return
                    try:
                        self.coordinator.tick()
                        self.logs.maintenance()
                    except Exception:
                        # One bad round must not end housekeeping for the life of the
                        # process (session timeouts, retention): log it and go on.
                        _log.exception("logcore maintenance round failed")

        self._maintenance_thread = threading.Thread(target=loop, name="logcore-maintenance", daemon=True)
        self._maintenance_thread.start()

    def stop_maintenance(self) -> None:
        """Stop the housekeeping thread; call without holding the lock it takes."""
        self._maintenance_stop.set()
        if self._maintenance_thread is not None:
            self._maintenance_thread.join(timeout=30)
            self._maintenance_thread = None

    def close(self) -> None:
        self.stop_maintenance()
        self.logs.close()

    def __enter__(self) -> EmbeddedCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
