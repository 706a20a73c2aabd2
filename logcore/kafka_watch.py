"""Commits and appends on a real Kafka cluster, as events on the cluster's ``EventBus``.

The embedded engine publishes an event for every append and commit as it happens.
A Kafka cluster tells nobody, so :class:`KafkaWatcher` finds out, one of two ways:

- ``__consumer_offsets`` tail (Burrow's method): where the principal may read Kafka's
  internal topic, every commit is a record there; the watcher reads them as they are
  written and decodes them with logcore's own codec (Kafka's layout), so each commit
  reaches the timeline with its own time.
- sampling: otherwise, every ``interval_s`` (5 s by default) it reads every group's
  committed offsets and reports those that moved.

Either way it samples high watermarks, group states and members on the interval, and
publishes the same event classes the embedded engine publishes, so the live pages, the
lag tracker and the timeline cannot tell the two backends apart. Each round also
probes the cluster, which is how a cluster that came back is noticed without a user
having to ask.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .cluster import GroupDescription
from .errors import KafkaError
from .events import (
    Event,
    GroupChanged,
    GroupDeleted,
    GroupRebalanced,
    OffsetsCommitted,
    RecordsAppended,
    TopicCreated,
    TopicDeleted,
)
from .groups import TopicPartition
from .kafka_cluster import CONSUMER_OFFSETS, KafkaCluster
from .offsets_codec import GroupMetadataKey, OffsetCommitKey, decode_key, decode_offset_value

_log = logging.getLogger(__name__)

SOURCE_TAIL = "consumer_offsets"
SOURCE_SAMPLING = "sampling"


@dataclass
class Snapshot:
    """What the last round saw: the base the next round's differences are taken from."""

    watermarks: dict[TopicPartition, int] = field(default_factory=dict)
    topics: set[str] = field(default_factory=set)
    groups: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)  # state, member ids
    offsets: dict[str, dict[TopicPartition, int]] = field(default_factory=dict)
    taken: bool = False  # False: the empty start, nothing to compare with


def diff_events(before: Snapshot, after: Snapshot) -> list[Event]:
    """The events that turn ``before`` into ``after``."""
    out: list[Event] = []
    if not before.taken:
        return out
    for topic in sorted(after.topics - before.topics):
        out.append(TopicCreated(topic=topic, partitions=sum(1 for t, _ in after.watermarks if t == topic)))
    for topic in sorted(before.topics - after.topics):
        out.append(TopicDeleted(topic=topic))
    for tp, hw in sorted(after.watermarks.items()):
        old = before.watermarks.get(tp)
        if old is not None and hw > old:
            out.append(
                RecordsAppended(topic=tp[0], partition=tp[1], base_offset=old, last_offset=hw - 1, high_watermark=hw)
            )
    for gid, (state, members) in sorted(after.groups.items()):
        old_group = before.groups.get(gid)
        if old_group is None:
            out.append(GroupChanged(group=gid, state=state, generation=-1, reason="seen"))
            continue
        if old_group[1] != members:
            out.append(GroupRebalanced(group=gid, generation=-1, protocol="", members=tuple((m, ()) for m in members)))
        elif old_group[0] != state:
            out.append(GroupChanged(group=gid, state=state, generation=-1, reason=f"{old_group[0]} -> {state}"))
    for gid in sorted(set(before.groups) - set(after.groups)):
        out.append(GroupDeleted(group=gid))
    for gid, offsets in sorted(after.offsets.items()):
        old_offsets = before.offsets.get(gid, {})
        moved = tuple((t, p, o) for (t, p), o in sorted(offsets.items()) if old_offsets.get((t, p)) != o)
        if moved:
            out.append(OffsetsCommitted(group=gid, offsets=moved))
    return out


def commit_events(records: list[tuple[bytes | None, bytes | None]]) -> list[Event]:
    """Events of ``__consumer_offsets`` records (key, value), decoded with Kafka's layout.

    A commit becomes ``OffsetsCommitted``; a tombstone or group metadata record is left
    to the sampling round (it changes state, not offsets). Records that do not decode
    are skipped with a log line: a newer Kafka may write versions logcore cannot read.
    """
    out: list[Event] = []
    for key, value in records:
        if key is None:
            continue
        try:
            k = decode_key(key)
            if isinstance(k, OffsetCommitKey) and value is not None:
                v = decode_offset_value(value)
                out.append(OffsetsCommitted(group=k.group, offsets=((k.topic, k.partition, v.offset),)))
            elif isinstance(k, GroupMetadataKey):
                continue
        except KafkaError as e:
            _log.debug("__consumer_offsets record not decoded: %s", e)
    return out


class KafkaWatcher(threading.Thread):
    """Feeds ``cluster.events`` from a Kafka cluster until :meth:`stop`."""

    def __init__(self, cluster: KafkaCluster, interval_s: float = 5.0, *, tail: bool = True) -> None:
        super().__init__(name=f"kafka-watch-{cluster.name}", daemon=True)
        self.cluster = cluster
        self.interval_s = interval_s
        self.want_tail = tail
        self.source = SOURCE_SAMPLING
        self.snapshot = Snapshot()
        # The last offset the tail reported per (group, topic, partition): the sampling
        # round reports only commits the tail did not (a tail that reads nothing, as on
        # a broker whose "__consumer_offsets" is an ordinary topic, loses no commit).
        self._tailed: dict[tuple[str, str, int], int] = {}
        self.last_round_ms: int | None = None
        self.rounds = 0
        self._stopping = threading.Event()
        self._tail: Any = None

    def stop(self) -> None:
        self._stopping.set()

    # --- the tail --------------------------------------------------------------

    def _open_tail(self) -> None:
        """Start reading ``__consumer_offsets`` at its end, if this principal may."""
        from confluent_kafka import OFFSET_END, Consumer
        from confluent_kafka import TopicPartition as CkTP

        try:
            # The whole cluster's metadata: naming the topic in the request would create it
            # on a broker that auto-creates topics and has none.
            tm = self.cluster._metadata().topics.get(CONSUMER_OFFSETS)
            if tm is None or (tm.error is not None and tm.error.code() != 0) or not tm.partitions:
                return
            consumer = Consumer(
                {
                    **self.cluster.config.client_properties(),
                    "group.id": f"offsetsite-watch-{uuid.uuid4()}",
                    "enable.auto.commit": "false",
                    # Kafka hides internal topics from clients unless asked.
                    "exclude.internal.topics": "false",
                    "logger": logging.getLogger("logcore.kafka_watch.librdkafka"),
                }
            )
            consumer.assign([CkTP(CONSUMER_OFFSETS, p, OFFSET_END) for p in tm.partitions])
        except Exception as e:  # no ACL, or no such topic on this broker: sample instead
            _log.info("cluster %s: __consumer_offsets cannot be read (%s); sampling commits", self.cluster.name, e)
            return
        self._tail = consumer

    def _drain_tail(self, seconds: float) -> None:
        records: list[tuple[bytes | None, bytes | None]] = []
        for m in self._tail.consume(num_messages=1000, timeout=seconds):
            if m.error() is None:
                records.append((m.key(), m.value()))
        for event in commit_events(records):
            assert isinstance(event, OffsetsCommitted)
            for topic, partition, offset in event.offsets:
                self._tailed[(event.group, topic, partition)] = offset
            # Named as the source once it has shown it carries commits.
            self.source = SOURCE_TAIL
            self.cluster.events.publish(event)

    # --- the sampling round ----------------------------------------------------

    def sample(self) -> Snapshot:
        """One round: watermarks of every topic, groups, their members and offsets."""
        c = self.cluster
        topics = c.describe_topics(include_internal=False)
        snap = Snapshot(topics={t.name for t in topics}, taken=True)
        for t in topics:
            for p in t.partitions:
                if p.high_watermark >= 0:
                    snap.watermarks[(t.name, p.partition)] = p.high_watermark
        descs: list[GroupDescription] = c.describe_all_groups()
        for d in descs:
            snap.groups[d.group_id] = (d.state, tuple(sorted(m.member_id for m in d.members)))
            snap.offsets[d.group_id] = {
                (p.topic, p.partition): p.committed for p in d.offsets if p.committed is not None
            }
        return snap

    def round(self) -> list[Event]:
        """Sample, publish what changed since the last round, return it."""
        snap = self.sample()
        diffs = (self._not_tailed(e) for e in diff_events(self.snapshot, snap))
        events = [e for e in diffs if e is not None]
        self.snapshot = snap
        self.last_round_ms = int(time.time() * 1000)
        self.rounds += 1
        for event in events:
            self.cluster.events.publish(event)
        return events

    def _not_tailed(self, event: Event) -> Event | None:
        """``event`` without the commits the tail already reported (None if nothing is left)."""
        if not isinstance(event, OffsetsCommitted) or not self._tailed:
            return event
        left = tuple(o for o in event.offsets if self._tailed.get((event.group, o[0], o[1])) != o[2])
        if not left:
            return None
        return OffsetsCommitted(group=event.group, offsets=left)

    def run(self) -> None:
        next_round = 0.0
        while not self._stopping.is_set():
            now = time.monotonic()
            if now >= next_round:
                next_round = now + self.interval_s
                try:
                    if self.want_tail and self._tail is None and self.cluster.reachability.reachable:
                        self._open_tail()
                    self.round()
                except KafkaError as e:
                    _log.info("cluster %s: watch round failed: %s", self.cluster.name, e)
                except Exception:
                    _log.exception("cluster %s: watch round failed", self.cluster.name)
            wait = max(min(next_round - time.monotonic(), 1.0), 0.05)
            if self._tail is not None:
                try:
                    self._drain_tail(wait)
                except Exception:
                    _log.exception("cluster %s: reading __consumer_offsets failed", self.cluster.name)
                    self._stopping.wait(wait)
            else:
                self._stopping.wait(wait)
        if self._tail is not None:
            try:
                self._tail.close()
            except Exception:
                _log.debug("closing the __consumer_offsets reader failed", exc_info=True)

    def status(self) -> Mapping[str, Any]:
        return {"source": self.source, "interval_s": self.interval_s, "last_round_ms": self.last_round_ms}
