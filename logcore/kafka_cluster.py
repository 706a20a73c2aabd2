"""``KafkaCluster``: the ``Cluster`` interface over a real Kafka cluster.

Built on confluent-kafka (librdkafka): an ``AdminClient`` for topics, groups and
offsets, a ``Producer`` that places keys as the Java client does (``murmur2_random``),
and a ``Consumer`` that only ever uses ``assign()`` to read records, so it never joins
or disturbs a group. The import of confluent_kafka stays inside this module: the rest
of logcore works without it.

Two rules shape every method:

- Nothing waits longer than ``timeout_s``. When the cluster stops answering, the
  backend remembers since when (:class:`Reachability`) and fails at once with
  ``ClusterUnreachable`` until a probe gets through again, instead of making every
  page wait out the timeout; a caller that may show older data asks for it with
  :meth:`KafkaCluster.last_known`.
- Errors come back as logcore's Kafka-named exceptions (``UnknownTopicOrPartition``,
  ``GroupIdNotFound``, ``AuthenticationFailed``, ...), so the pages, the API and the
  CLI say the same thing on either backend. No message carries a property value.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from . import errors
from .cluster import Cluster, GroupDescription, GroupListing, MemberDescription, PartitionOffsets, offsets_rows
from .events import (
    EventBus,
    OffsetsCommitted,
    OffsetsDeleted,
    PartitionsAdded,
    RecordsAppended,
    TopicCreated,
    TopicDeleted,
)
from .groups import OffsetAndMetadata, TopicPartition
from .kafka_config import REDACTED, KafkaClusterConfig
from .log_manager import PartitionInfo, TopicDescription, validate_topic_name
from .records import Header, ProduceRecord, Record

_log = logging.getLogger(__name__)
T = TypeVar("T")
K = TypeVar("K")

CONSUMER_OFFSETS = "__consumer_offsets"
# While unreachable, one call in this many seconds is let through as a probe.
PROBE_INTERVAL_S = 2.0
# Last good answers kept for pages shown while the cluster is unreachable.
CACHE_ENTRIES = 1024
# Set by a caller that prefers the last good answer to an error while the cluster is
# unreachable (dashboard pages do; the API and the CLI do not: they must say so).
serve_stale: ContextVar[bool] = ContextVar("logcore_kafka_serve_stale", default=False)

# librdkafka error names -> logcore's exceptions. Transport failures first: they are
# what a monitoring page meets most.
_UNREACHABLE = {
    "_TRANSPORT",
    "_ALL_BROKERS_DOWN",
    "_TIMED_OUT",
    "_TIMED_OUT_QUEUE",
    "_RESOLVE",
    "_DESTROY",
    "REQUEST_TIMED_OUT",
    "NETWORK_EXCEPTION",
    "COORDINATOR_NOT_AVAILABLE",
    "NOT_COORDINATOR",
    "COORDINATOR_LOAD_IN_PROGRESS",
    "LEADER_NOT_AVAILABLE",
    "BROKER_NOT_AVAILABLE",
}
_BY_NAME: dict[str, type[errors.KafkaError]] = {
    "UNKNOWN_TOPIC_OR_PART": errors.UnknownTopicOrPartition,
    "_UNKNOWN_TOPIC": errors.UnknownTopicOrPartition,
    "_UNKNOWN_PARTITION": errors.UnknownTopicOrPartition,
    "_NOENT": errors.UnknownTopicOrPartition,  # ListOffsets: no leader known for a topic that is not there
    "TOPIC_ALREADY_EXISTS": errors.TopicAlreadyExists,
    "INVALID_PARTITIONS": errors.InvalidPartitions,
    "INVALID_TOPIC_EXCEPTION": errors.InvalidTopic,
    "INVALID_CONFIG": errors.InvalidConfig,
    "INVALID_REQUEST": errors.InvalidRequest,
    "POLICY_VIOLATION": errors.PolicyViolation,
    "INVALID_REPLICATION_FACTOR": errors.InvalidConfig,
    "MSG_SIZE_TOO_LARGE": errors.RecordTooLarge,
    "OFFSET_OUT_OF_RANGE": errors.OffsetOutOfRange,
    "GROUP_ID_NOT_FOUND": errors.GroupIdNotFound,
    "NON_EMPTY_GROUP": errors.NonEmptyGroup,
    "INVALID_GROUP_ID": errors.InvalidGroupId,
    "UNKNOWN_MEMBER_ID": errors.UnknownMemberId,
    "ILLEGAL_GENERATION": errors.IllegalGeneration,
    "REBALANCE_IN_PROGRESS": errors.RebalanceInProgress,
    "OFFSET_METADATA_TOO_LARGE": errors.OffsetMetadataTooLarge,
    "GROUP_SUBSCRIBED_TO_TOPIC": errors.GroupSubscribedToTopic,
    "SASL_AUTHENTICATION_FAILED": errors.AuthenticationFailed,
    "_AUTHENTICATION": errors.AuthenticationFailed,
    "_SSL": errors.AuthenticationFailed,
    "UNSUPPORTED_VERSION": errors.UnsupportedVersion,
    "_UNSUPPORTED_FEATURE": errors.UnsupportedVersion,
}
_AUTHORIZATION = {
    "TOPIC_AUTHORIZATION_FAILED": "a topic ACL (Describe, Read, Write, Create or Delete on the topic)",
    "GROUP_AUTHORIZATION_FAILED": "a group ACL (Describe, Read or Delete on the consumer group)",
    "CLUSTER_AUTHORIZATION_FAILED": "a cluster ACL (Describe, Create or Alter on the cluster)",
    "TRANSACTIONAL_ID_AUTHORIZATION_FAILED": "a transactional id ACL",
}


@dataclass
class Reachability:
    """Whether the cluster answers, since when it does not, and when it last did."""

    reachable: bool = True
    since_ms: int | None = None  # when it stopped answering
    last_ok_ms: int | None = None  # the last answer
    last_error: str = ""
    _last_probe: float = 0.0

    def ok(self) -> None:
        if not self.reachable:
            _log.warning("Kafka cluster reachable again after %s", self.last_error or "an outage")
        self.reachable = True
        self.since_ms = None
        self.last_error = ""
        self.last_ok_ms = _now_ms()

    def failed(self, message: str) -> None:
        if self.reachable:
            self.since_ms = _now_ms()
            _log.warning("Kafka cluster unreachable: %s", message)
        self.reachable = False
        self.last_error = message
        self._last_probe = time.monotonic()

    def may_try(self) -> bool:
        """False while unreachable and a probe went out less than PROBE_INTERVAL_S ago."""
        if self.reachable:
            return True
        now = time.monotonic()
        if now - self._last_probe >= PROBE_INTERVAL_S:
            self._last_probe = now
            return True
        return False


def _now_ms() -> int:
    return int(time.time() * 1000)


def translate(exc: BaseException, what: str) -> errors.KafkaError:
    """A confluent-kafka exception as logcore's exception; ``what`` names the request."""
    if isinstance(exc, errors.KafkaError):
        return exc
    if isinstance(exc, TimeoutError):  # our own bound on a future ran out first
        return errors.ClusterUnreachable(f"{what}: the cluster did not answer in time")
    err: Any = exc.args[0] if getattr(exc, "args", None) else None
    name = str(err.name()) if hasattr(err, "name") else type(exc).__name__
    text = str(err.str()) if hasattr(err, "str") else str(exc)
    if name in _UNREACHABLE:
        return errors.ClusterUnreachable(f"{what}: the cluster did not answer ({name}: {text})")
    if name in _AUTHORIZATION:
        return errors.AuthorizationFailed(
            f"{what}: not authorized; the principal needs {_AUTHORIZATION[name]} ({name})", code=name
        )
    cls = _BY_NAME.get(name)
    if cls is errors.AuthenticationFailed:
        return cls(f"{what}: authentication failed: check sasl.username/sasl.password or the SSL settings ({text})")
    if cls is errors.UnsupportedVersion:
        return cls(f"{what}: the cluster does not support this request ({text})")
    if cls is not None:
        return cls(f"{what}: {text}")
    generic = errors.KafkaError(f"{what}: {name}: {text}")
    return generic


class KafkaCluster(Cluster):
    """A real Kafka cluster behind the ``Cluster`` interface."""

    backend = "kafka"
    # OffsetDelete (KIP-496) is not in confluent-kafka's AdminClient: see delete_offsets.
    supports_offset_delete = False

    def __init__(self, config: KafkaClusterConfig, *, events: EventBus | None = None) -> None:
        self.config = config
        self.name = config.name
        self.timeout_s = config.timeout_s
        self.events = events or EventBus()
        self.reachability = Reachability()
        self._cache: OrderedDict[tuple[str, Any], tuple[int, Any]] = OrderedDict()
        # When the data a page shows was read, if it came from the cache (else None).
        self.stale_since_ms: ContextVar[int | None] = ContextVar(f"stale_{config.name}", default=None)
        self._cache_lock = threading.Lock()
        common = {
            **config.client_properties(),
            # Bounded waits everywhere: a page never hangs on a dead broker.
            "socket.connection.setup.timeout.ms": str(int(config.timeout_s * 1000)),
            "socket.timeout.ms": str(int(config.timeout_s * 1000)),
            "reconnect.backoff.max.ms": "2000",
            # librdkafka logs through this callback instead of stderr: its lines name
            # brokers, never property values.
            "logger": _LIBRDKAFKA_LOGGER,
            "error_cb": self._on_client_error,
        }
        try:
            self._build_clients(common)
        except errors.KafkaError:
            raise
        except Exception as e:
            # librdkafka quotes a refused value, which may be a secret: hide every value.
            reason = _property_named(_librdkafka_text(e), config.client_properties())
            raise ConfigRefused(
                f"cluster {config.name}: librdkafka refused its configuration: {reason}", reason
            ) from None

    def _build_clients(self, common: dict[str, Any]) -> None:
        from confluent_kafka import Consumer, Producer
        from confluent_kafka.admin import AdminClient

        config = self.config
        self._admin = AdminClient(common)
        self._producer = Producer(
            {
                **common,
                # Keys land where the Java client puts them (murmur2 of the key bytes).
                "partitioner": "murmur2_random",
                "message.timeout.ms": str(int(config.timeout_s * 1000)),
                "linger.ms": "0",
            }
        )
        self._reader_lock = threading.Lock()
        self._reader = Consumer(
            {
                **common,
                # librdkafka wants a group.id even for assign(); this one never joins a
                # group nor commits, so it shows up nowhere on the cluster.
                "group.id": f"offsetsite-reader-{uuid.uuid4()}",
                "enable.auto.commit": "false",
                "enable.auto.offset.store": "false",
                "enable.partition.eof": "true",
                "auto.offset.reset": "error",
                # A page reads a few records at a known offset: answer at once instead of
                # letting the broker hold the fetch for more data (Kafka's default 500 ms).
                "fetch.wait.max.ms": "10",
                "fetch.error.backoff.ms": "50",
            }
        )

    def __repr__(self) -> str:
        return f"KafkaCluster({self.name!r}, {self.config.bootstrap_servers!r})"

    def _on_client_error(self, err: Any) -> None:
        name = err.name() if hasattr(err, "name") else ""
        if name in ("_ALL_BROKERS_DOWN", "_TRANSPORT", "_RESOLVE"):
            self.reachability.failed(f"{name}: {err.str()}")
        elif name in ("_AUTHENTICATION", "SASL_AUTHENTICATION_FAILED"):
            self.reachability.failed(f"authentication failed: {err.str()}")

    # --- calling the cluster -------------------------------------------------

    def _call(self, what: str, fn: Callable[[], T], cache_key: tuple[str, Any] | None = None) -> T:
        """Run ``fn`` against the cluster, keeping reachability and the last good answer."""
        try:
            return self._call_live(what, fn, cache_key)
        except (errors.ClusterUnreachable, errors.AuthenticationFailed):
            if cache_key is None or not serve_stale.get():
                raise
            known = self.last_known(*cache_key)
            if known is None:
                raise
            at, value = known
            oldest = self.stale_since_ms.get()
            self.stale_since_ms.set(at if oldest is None else min(oldest, at))
            return value  # type: ignore[no-any-return]

    def _call_live(self, what: str, fn: Callable[[], T], cache_key: tuple[str, Any] | None) -> T:
        if not self.reachability.may_try():
            raise errors.ClusterUnreachable(
                f"{what}: cluster {self.name} is unreachable since "
                f"{time.strftime('%H:%M:%S', time.localtime((self.reachability.since_ms or 0) / 1000))} "
                f"({self.reachability.last_error})"
            )
        try:
            result = fn()
        except errors.KafkaError as e:
            if isinstance(e, errors.ClusterUnreachable):
                self.reachability.failed(str(e))
            raise
        except Exception as e:
            translated = translate(e, what)
            if isinstance(translated, errors.ClusterUnreachable):
                self.reachability.failed(str(translated))
            raise translated from None
        self.reachability.ok()
        if cache_key is not None:
            with self._cache_lock:
                self._cache[cache_key] = (_now_ms(), result)
                self._cache.move_to_end(cache_key)
                while len(self._cache) > CACHE_ENTRIES:
                    self._cache.popitem(last=False)
        return result

    def last_known(self, kind: str, key: Any = None) -> tuple[int, Any] | None:
        """The last answer to a read (``(when_ms, value)``), for pages shown while unreachable."""
        with self._cache_lock:
            return self._cache.get((kind, key))

    def _wait(self, future: Future[T]) -> T:
        return future.result(timeout=self.timeout_s)

    def _settled(
        self, futures: Mapping[K, Future[Any]], what: Callable[[K], str]
    ) -> Iterator[tuple[K, Any | errors.KafkaError]]:
        """Each future's result, or its failure as logcore's error, all within one timeout."""
        deadline = time.monotonic() + self.timeout_s
        for key, fut in futures.items():
            try:
                yield key, fut.result(timeout=max(deadline - time.monotonic(), 0.001))
            except Exception as e:
                yield key, translate(e, what(key))

    def _timeout_kwargs(self) -> dict[str, float]:
        return {"request_timeout": self.timeout_s}

    def ping(self) -> None:
        """One metadata request: refreshes ``reachability`` (the watcher's probe)."""
        self._call("metadata", lambda: self._admin.list_topics(timeout=self.timeout_s))

    # --- topics ----------------------------------------------------------------

    def _metadata(self) -> Any:
        # Always the whole cluster's metadata: a Metadata request naming one topic
        # creates it on a broker with auto.create.topics.enable (Kafka's default), so
        # looking at a deleted topic's page would bring it back.
        return self._admin.list_topics(timeout=self.timeout_s)

    def list_topics(self, include_internal: bool = True) -> list[str]:
        def run() -> list[str]:
            md = self._metadata()
            names = [t for t, tm in md.topics.items() if tm.error is None or tm.error.code() == 0]
            return sorted(n for n in names if include_internal or not n.startswith("__"))

        return self._call("list topics", run, ("list_topics", include_internal))

    def describe_topics(self, include_internal: bool = True) -> list[TopicDescription]:
        def run() -> list[TopicDescription]:
            md = self._metadata()
            wanted = {
                t: tm
                for t, tm in md.topics.items()
                if (tm.error is None or tm.error.code() == 0) and (include_internal or not t.startswith("__"))
            }
            tps = [(t, p) for t, tm in wanted.items() for p in tm.partitions]
            marks = self._watermarks_many(tps)
            return [self._topic_description(t, sorted(tm.partitions), marks, {}) for t, tm in sorted(wanted.items())]

        return self._call("describe topics", run, ("describe_topics", include_internal))

    def describe_topic(self, topic: str) -> TopicDescription:
        def run() -> TopicDescription:
            md = self._metadata()
            tm = md.topics.get(topic)
            if tm is None or (tm.error is not None and tm.error.code() != 0):
                raise errors.UnknownTopicOrPartition(f"Topic '{topic}' does not exist")
            parts = sorted(tm.partitions)
            marks = self._watermarks_many([(topic, p) for p in parts])
            return self._topic_description(topic, parts, marks, self._topic_config(topic))

        return self._call(f"describe topic {topic}", run, ("describe_topic", topic))

    def _topic_description(
        self, topic: str, parts: Sequence[int], marks: Mapping[TopicPartition, tuple[int, int]], config: dict[str, str]
    ) -> TopicDescription:
        infos = []
        for p in parts:
            start, hw = marks.get((topic, p), (-1, -1))
            # Kafka reports segment sizes through DescribeLogDirs, which confluent-kafka's
            # AdminClient does not offer: -1 means "not reported".
            infos.append(PartitionInfo(p, start, hw, hw, -1, -1))
        return TopicDescription(topic, topic.startswith("__"), config, infos)

    def _topic_config(self, topic: str) -> dict[str, str]:
        from confluent_kafka.admin import ConfigResource, ResourceType

        resource = ConfigResource(ResourceType.TOPIC, topic)
        try:
            entries = self._wait(self._admin.describe_configs([resource], **self._timeout_kwargs())[resource])
        except Exception as e:
            translated = translate(e, f"describe configs of {topic}")
            if isinstance(translated, (errors.ClusterUnreachable, errors.UnknownTopicOrPartition)):
                raise translated from None
            return {}  # a broker without DescribeConfigs, or no ACL for it: show no config
        return {
            name: str(entry.value)
            for name, entry in entries.items()
            if entry.value is not None and not entry.is_sensitive
        }

    def create_topic(
        self, topic: str, partitions: int = 1, config: Mapping[str, str] | None = None
    ) -> TopicDescription:
        from confluent_kafka.admin import NewTopic

        validate_topic_name(topic)
        if partitions < 1:
            raise errors.InvalidPartitions(f"Number of partitions must be larger than 0, got {partitions}")

        def run() -> None:
            new = NewTopic(topic, num_partitions=partitions, replication_factor=-1, config=dict(config or {}))
            self._wait(
                self._admin.create_topics([new], operation_timeout=self.timeout_s, **self._timeout_kwargs())[topic]
            )

        self._call(f"create topic {topic}", run)
        self.events.publish(TopicCreated(topic=topic, partitions=partitions))
        return self._await_topic(topic, partitions)

    def _await_topic(self, topic: str, partitions: int) -> TopicDescription:
        # Metadata reaches every broker a moment after CreateTopics answers.
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                desc = self.describe_topic(topic)
                if len(desc.partitions) >= partitions:
                    return desc
            except errors.UnknownTopicOrPartition:
                pass
            if time.monotonic() > deadline:
                raise errors.ClusterUnreachable(f"topic {topic} was created but its metadata did not arrive in time")
            time.sleep(0.05)

    def delete_topic(self, topic: str) -> None:
        if topic == CONSUMER_OFFSETS:
            raise errors.PolicyViolation(
                f"{topic} is Kafka's internal topic of committed offsets: it cannot be deleted"
            )

        def run() -> None:
            self._wait(
                self._admin.delete_topics([topic], operation_timeout=self.timeout_s, **self._timeout_kwargs())[topic]
            )

        self._call(f"delete topic {topic}", run)
        with self._cache_lock:
            self._cache.pop(("describe_topic", topic), None)
        self.events.publish(TopicDeleted(topic=topic))

    def add_partitions(self, topic: str, total: int) -> TopicDescription:
        from confluent_kafka.admin import NewPartitions

        current = len(self.describe_topic(topic).partitions)
        if total <= current:
            raise errors.InvalidPartitions(
                f"Topic currently has {current} partitions, which is higher than the requested {total}."
                if total < current
                else f"Topic already has {current} partitions."
            )

        def run() -> None:
            fut = self._admin.create_partitions(
                [NewPartitions(topic, total)], operation_timeout=self.timeout_s, **self._timeout_kwargs()
            )[topic]
            self._wait(fut)

        self._call(f"add partitions to {topic}", run)
        self.events.publish(PartitionsAdded(topic=topic, partitions=total))
        return self._await_topic(topic, total)

    def alter_topic_config(self, topic: str, changes: Mapping[str, str]) -> TopicDescription:
        """IncrementalAlterConfigs (KIP-339) SET of each change, one request for all.

        The keys logcore knows are validated here first with Kafka's bounds and messages
        (logcore.config), so a broker that validates less (tansu) still refuses what
        Kafka would, and a refused request changes nothing; other keys are left to the
        broker, which refuses a name it does not know (InvalidConfigurationException).
        """
        from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

        from .config import validate_changes

        validate_changes(changes)
        self.describe_topic(topic)  # UnknownTopicOrPartition before any change is sent
        entries = [
            ConfigEntry(name, str(value), incremental_operation=AlterConfigOpType.SET)
            for name, value in changes.items()
        ]
        resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=entries)

        def run() -> None:
            self._wait(self._admin.incremental_alter_configs([resource], **self._timeout_kwargs())[resource])

        self._call(f"alter configs of {topic}", run)
        with self._cache_lock:
            self._cache.pop(("describe_topic", topic), None)
        return self.describe_topic(topic)

    # --- records ---------------------------------------------------------------

    def _watermarks_many(self, tps: Iterable[TopicPartition]) -> dict[TopicPartition, tuple[int, int]]:
        """(log start, HW) of many partitions: two ListOffsets requests per broker, not two per partition."""
        from confluent_kafka import TopicPartition as CkTP
        from confluent_kafka.admin import OffsetSpec

        wanted = sorted(set(tps))
        if not wanted:
            return {}
        # Kafka's isolation level read_uncommitted answers LATEST with the high watermark.
        earliest = self._admin.list_offsets(
            {CkTP(t, p): OffsetSpec.earliest() for t, p in wanted}, **self._timeout_kwargs()
        )
        latest = self._admin.list_offsets(
            {CkTP(t, p): OffsetSpec.latest() for t, p in wanted}, **self._timeout_kwargs()
        )
        out: dict[TopicPartition, tuple[int, int]] = {}
        starts = self._results(earliest)
        ends = self._results(latest)
        for tp in wanted:
            s, e = starts.get(tp), ends.get(tp)
            out[tp] = (s if s is not None else -1, e if e is not None else -1)
        return out

    def _results(self, futures: Mapping[Any, Future[Any]]) -> dict[TopicPartition, int | None]:
        out: dict[TopicPartition, int | None] = {}
        for ck_tp, info in self._settled(futures, lambda tp: f"list offsets of {tp.topic}-{tp.partition}"):
            if isinstance(info, errors.UnknownTopicOrPartition):
                out[(ck_tp.topic, ck_tp.partition)] = None  # a deleted topic: no log
            elif isinstance(info, errors.KafkaError):
                raise info
            else:
                out[(ck_tp.topic, ck_tp.partition)] = info.offset
        return out

    def watermarks_many(self, tps: Iterable[TopicPartition]) -> dict[TopicPartition, tuple[int, int]]:
        """(log start, HW) per partition in one round trip; (-1, -1) where there is no such partition."""
        wanted = sorted(set(tps))
        return self._call("list offsets", lambda: self._watermarks_many(wanted), ("watermarks", tuple(wanted)))

    def watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        marks = self.watermarks_many([(topic, partition)])
        start, hw = marks[(topic, partition)]
        if hw < 0:
            raise errors.UnknownTopicOrPartition(f"partition {topic}-{partition} does not exist")
        return start, hw

    def offset_for_timestamp(self, topic: str, partition: int, timestamp: int) -> int | None:
        from confluent_kafka import TopicPartition as CkTP
        from confluent_kafka.admin import OffsetSpec

        if timestamp == -2:
            return self.watermarks(topic, partition)[0]
        if timestamp == -1:
            return self.watermarks(topic, partition)[1]

        def run() -> int | None:
            spec = OffsetSpec.max_timestamp() if timestamp == -3 else OffsetSpec.for_timestamp(timestamp)
            tp = CkTP(topic, partition)
            found = self._results(self._admin.list_offsets({tp: spec}, **self._timeout_kwargs()))[(topic, partition)]
            if found is None:
                raise errors.UnknownTopicOrPartition(f"partition {topic}-{partition} does not exist")
            return None if found < 0 else found

        return self._call(
            f"offset for time in {topic}-{partition}", run, ("offset_for_time", (topic, partition, timestamp))
        )

    def read(self, topic: str, partition: int, offset: int, max_records: int = 500) -> list[Record]:
        start, hw = self.watermarks(topic, partition)
        if offset < start or offset > hw:
            raise errors.OffsetOutOfRange(
                f"offset {offset} is out of range for partition {topic}-{partition}: "
                f"valid offsets are {start} to {hw} (log start to high watermark)",
                offset=offset,
                log_start=start,
                log_end=hw,
            )
        if offset == hw or max_records <= 0:
            return []
        return self._call(
            f"fetch {topic}-{partition}",
            lambda: self._fetch(topic, partition, offset, max_records, hw),
            ("read", (topic, partition, offset, max_records)),
        )

    def _fetch(self, topic: str, partition: int, offset: int, max_records: int, hw: int) -> list[Record]:
        from confluent_kafka import KafkaError as CkError
        from confluent_kafka import TopicPartition as CkTP

        out: list[Record] = []
        deadline = time.monotonic() + self.timeout_s
        with self._reader_lock:
            self._reader.assign([CkTP(topic, partition, offset)])
            try:
                while len(out) < max_records:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        if out:
                            break  # a slow broker: give what arrived
                        raise errors.ClusterUnreachable(
                            f"fetch {topic}-{partition}: no records within {self.timeout_s:g} s"
                        )
                    batch = self._reader.consume(num_messages=min(max_records - len(out), 500), timeout=min(left, 0.5))
                    done = False
                    for m in batch:
                        err = m.error()
                        if err is not None:
                            if err.code() == CkError._PARTITION_EOF:
                                done = True
                                break
                            raise translate(_AsException(err), f"fetch {topic}-{partition}")
                        headers = tuple((k, v) for k, v in (m.headers() or []))
                        out.append(Record(m.offset(), m.timestamp()[1], m.key(), m.value(), headers))
                        if m.offset() >= hw - 1 or len(out) >= max_records:
                            done = True
                            break
                    if done:
                        break
            finally:
                self._reader.unassign()
        return out

    def timestamp_at(self, topic: str, partition: int, offset: int) -> int | None:
        return self.timestamps_at([(topic, partition, offset)]).get((topic, partition, offset))

    def timestamps_at(self, keys: Iterable[tuple[str, int, int]]) -> dict[tuple[str, int, int], int | None]:
        """The timestamp of the record at (or, past a compaction gap, after) each offset.

        One ListOffsets pair for all partitions, then one fetch per round in which each
        partition appears once (a partition asked at several offsets takes several
        rounds), instead of two round trips and a fetch per key.
        """
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        return self._call("read record timestamps", lambda: self._timestamps(wanted))

    def _timestamps(self, wanted: Sequence[tuple[str, int, int]]) -> dict[tuple[str, int, int], int | None]:
        from confluent_kafka import KafkaError as CkError
        from confluent_kafka import TopicPartition as CkTP

        marks = self._watermarks_many({(t, p) for t, p, _ in wanted})
        out: dict[tuple[str, int, int], int | None] = dict.fromkeys(wanted)
        rounds: list[dict[TopicPartition, int]] = []
        for t, p, o in wanted:
            start, hw = marks.get((t, p), (-1, -1))
            if not start <= o < hw:
                continue  # no record there: None, as timestamp_at answers
            for r in rounds:
                if (t, p) not in r:
                    r[(t, p)] = o
                    break
            else:
                rounds.append({(t, p): o})
        deadline = time.monotonic() + self.timeout_s
        with self._reader_lock:
            try:
                for r in rounds:
                    self._reader.assign([CkTP(t, p, o) for (t, p), o in r.items()])
                    pending = set(r)
                    while pending and time.monotonic() < deadline:
                        left = max(min(deadline - time.monotonic(), 0.5), 0.01)
                        for m in self._reader.consume(num_messages=len(pending), timeout=left):
                            tp = (m.topic(), m.partition())
                            if tp not in pending:
                                continue
                            err = m.error()
                            if err is not None and err.code() != CkError._PARTITION_EOF:
                                raise translate(_AsException(err), f"fetch {tp[0]}-{tp[1]}")
                            if err is None:
                                out[(tp[0], tp[1], r[tp])] = m.timestamp()[1]
                            pending.discard(tp)  # a record, or the end of the partition
            finally:
                self._reader.unassign()
        return out

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Sequence[Header] = (),
        partition: int | None = None,
        timestamp: int | None = None,
    ) -> tuple[int, int]:
        if topic == CONSUMER_OFFSETS:
            raise errors.InvalidTopic(
                f"{topic} holds the cluster's committed offsets: records go there only through offset commits"
            )
        delivered: list[Any] = []

        def on_delivery(err: Any, msg: Any) -> None:
            delivered.append((err, msg))

        def run() -> tuple[int, int]:
            kwargs: dict[str, Any] = {"value": value, "key": key, "on_delivery": on_delivery}
            if headers:
                kwargs["headers"] = list(headers)
            if partition is not None:
                kwargs["partition"] = partition
            if timestamp is not None:
                kwargs["timestamp"] = timestamp
            try:
                self._producer.produce(topic, **kwargs)
            except BufferError:
                raise errors.ClusterUnreachable(f"produce to {topic}: the producer queue is full") from None
            left = self._producer.flush(self.timeout_s)
            if left or not delivered:
                raise errors.ClusterUnreachable(f"produce to {topic}: not acknowledged within {self.timeout_s:g} s")
            err, msg = delivered[0]
            if err is not None:
                raise translate(_AsException(err), f"produce to {topic}")
            return msg.partition(), msg.offset()

        p, offset = self._call(f"produce to {topic}", run)
        self.events.publish(
            RecordsAppended(topic=topic, partition=p, base_offset=offset, last_offset=offset, high_watermark=offset + 1)
        )
        return p, offset

    def produce_many(self, topic: str, records: Sequence[ProduceRecord]) -> list[tuple[int, int]]:
        """All of ``records`` handed to the producer, then one wait for every acknowledgement."""
        if topic == CONSUMER_OFFSETS:
            raise errors.InvalidTopic(
                f"{topic} holds the cluster's committed offsets: records go there only through offset commits"
            )
        delivered: dict[int, tuple[Any, Any]] = {}

        def run() -> list[tuple[int, int]]:
            for i, r in enumerate(records):
                kwargs: dict[str, Any] = {"value": r.value, "key": r.key}
                kwargs["on_delivery"] = lambda err, msg, i=i: delivered.__setitem__(i, (err, msg))
                if r.headers:
                    kwargs["headers"] = list(r.headers)
                if r.partition is not None:
                    kwargs["partition"] = r.partition
                if r.timestamp is not None:
                    kwargs["timestamp"] = r.timestamp
                try:
                    self._producer.produce(topic, **kwargs)
                except BufferError:
                    self._producer.flush(self.timeout_s)  # room for the rest, as a producer waits
                    try:
                        self._producer.produce(topic, **kwargs)
                    except BufferError:
                        raise errors.ClusterUnreachable(f"produce to {topic}: the producer queue is full") from None
            left = self._producer.flush(self.timeout_s)
            if left or len(delivered) < len(records):
                raise errors.ClusterUnreachable(f"produce to {topic}: not acknowledged within {self.timeout_s:g} s")
            out = []
            for i in range(len(records)):
                err, msg = delivered[i]
                if err is not None:
                    raise translate(_AsException(err), f"produce to {topic}")
                out.append((msg.partition(), msg.offset()))
            return out

        placed = self._call(f"produce to {topic}", run)
        for p, offset in placed:
            self.events.publish(
                RecordsAppended(
                    topic=topic, partition=p, base_offset=offset, last_offset=offset, high_watermark=offset + 1
                )
            )
        return placed

    # --- groups ----------------------------------------------------------------

    def list_groups(self) -> list[GroupListing]:
        def run() -> list[GroupListing]:
            listings = self._list_consumer_groups()
            ids = sorted({g.group_id for g in listings})
            described = self._describe_many(ids) if ids else {}
            out = []
            for listing in listings:
                d = described.get(listing.group_id)
                state = _state_name(listing.state)
                protocol_type = "" if listing.is_simple_consumer_group else "consumer"
                out.append(
                    GroupListing(
                        listing.group_id,
                        _state_name(d.state) if d is not None else state,
                        protocol_type,
                        (d.partition_assignor or "") if d is not None else "",
                        len(d.members) if d is not None else 0,
                    )
                )
            return sorted(out, key=lambda g: g.group_id)

        return self._call("list groups", run, ("list_groups", None))

    def group_ids(self) -> list[str]:
        """Every group id: one ListGroups per broker, no DescribeGroups."""

        def run() -> list[str]:
            return sorted({g.group_id for g in self._list_consumer_groups()})

        return self._call("list groups", run, ("group_ids", None))

    def _list_consumer_groups(self) -> list[Any]:
        # ListGroups goes to every broker librdkafka knows; before it knows any (a
        # cluster that never answered) it completes with no groups and no error.
        # Metadata first, so an unreachable cluster is an error, never "no groups".
        if not self._metadata().brokers:
            raise errors.ClusterUnreachable("list groups: no broker of the cluster is known")
        result = self._wait(self._admin.list_consumer_groups(**self._timeout_kwargs()))
        if result.errors:
            # A broker that did not answer: its groups would be missing from the list.
            first = result.errors[0]
            raise translate(first if isinstance(first, BaseException) else _AsException(first), "list groups")
        return list(result.valid)

    def _describe_many(self, group_ids: Sequence[str]) -> dict[str, Any]:
        if not group_ids:
            return {}
        futures = self._admin.describe_consumer_groups(list(group_ids), **self._timeout_kwargs())
        out: dict[str, Any] = {}
        for gid, result in self._settled(futures, lambda g: f"describe group {g}"):
            if isinstance(result, (errors.ClusterUnreachable, errors.AuthorizationFailed)):
                raise result
            if isinstance(result, errors.KafkaError):
                _log.info("describe group %s failed: %s", gid, result)
                continue
            out[gid] = result
        return out

    def _offsets_many(self, group_ids: Sequence[str]) -> dict[str, dict[TopicPartition, OffsetAndMetadata]]:
        """Committed offsets of many groups: every OffsetFetch in flight at once."""
        return self._collect_offsets(self._submit_offsets(group_ids))

    def _submit_offsets(self, group_ids: Sequence[str]) -> dict[str, Future[Any]]:
        from confluent_kafka import ConsumerGroupTopicPartitions

        # confluent-kafka takes one group per call, so all calls go out before any wait.
        pending: dict[str, Future[Any]] = {}
        for gid in group_ids:
            futures = self._admin.list_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(gid)], **self._timeout_kwargs()
            )
            pending[gid] = futures[gid]
        return pending

    def _collect_offsets(
        self, pending: Mapping[str, Future[Any]]
    ) -> dict[str, dict[TopicPartition, OffsetAndMetadata]]:
        out: dict[str, dict[TopicPartition, OffsetAndMetadata]] = {}
        for gid, result in self._settled(pending, lambda g: f"fetch offsets of group {g}"):
            if isinstance(result, errors.GroupIdNotFound):
                out[gid] = {}
                continue
            if isinstance(result, errors.KafkaError):
                raise result
            offsets: dict[TopicPartition, OffsetAndMetadata] = {}
            for tp in result.topic_partitions or []:
                if tp.error is not None or tp.offset < 0:
                    continue
                epoch = tp.leader_epoch if tp.leader_epoch is not None else -1
                offsets[(tp.topic, tp.partition)] = OffsetAndMetadata(tp.offset, tp.metadata or "", epoch)
            out[gid] = offsets
        return out

    def committed_offsets(self, group_id: str) -> dict[TopicPartition, OffsetAndMetadata]:
        return self._call(
            f"fetch offsets of group {group_id}",
            lambda: self._offsets_many([group_id])[group_id],
            ("committed", group_id),
        )

    def committed_offsets_many(self, group_ids: Sequence[str]) -> dict[str, dict[TopicPartition, OffsetAndMetadata]]:
        """Committed offsets of every group in ``group_ids``, fetched concurrently."""
        ids = list(group_ids)
        return self._call("fetch offsets of groups", lambda: self._offsets_many(ids))

    def group_offsets(self, group_ids: Iterable[str]) -> dict[str, tuple[PartitionOffsets, ...]]:
        """Committed offsets and watermarks of many groups: one OffsetFetch per group, all in
        flight at once, and two ListOffsets for every partition they touch."""
        ids = list(dict.fromkeys(group_ids))

        def run() -> dict[str, tuple[PartitionOffsets, ...]]:
            offsets = self._offsets_many(ids)
            marks = self._watermarks_many({tp for o in offsets.values() for tp in o})
            return {
                gid: offsets_rows(o, (), lambda tp: marks.get(tp, (-1, -1)), commit_times=False)
                for gid, o in offsets.items()
                if o
            }

        return self._call("fetch offsets of groups", run, ("group_offsets", tuple(ids)))

    def describe_group(self, group_id: str) -> GroupDescription:
        found = self.describe_groups([group_id])
        if not found:
            raise errors.GroupIdNotFound(f"Consumer group '{group_id}' does not exist.")
        return found[0]

    def describe_groups(self, group_ids: Iterable[str]) -> list[GroupDescription]:
        """Groups with members, committed offsets and watermarks: a few requests for all of them."""
        ids = list(dict.fromkeys(group_ids))

        def run() -> list[GroupDescription]:
            # The offset fetches go out first and run while the groups are described.
            pending = self._submit_offsets(ids)
            described = self._describe_many(ids)
            offsets = self._collect_offsets(pending)
            tps = {tp for o in offsets.values() for tp in o}
            for d in described.values():
                for m in d.members:
                    tps.update((tp.topic, tp.partition) for tp in (m.assignment.topic_partitions or []))
            marks = self._watermarks_many(tps)
            out = []
            for gid in ids:
                desc = self._group_description(gid, described.get(gid), offsets.get(gid, {}), marks)
                if desc is not None:
                    out.append(desc)
            return out

        return self._call("describe groups", run, ("describe_groups", tuple(ids)))

    def _group_description(
        self,
        group_id: str,
        d: Any,
        offsets: Mapping[TopicPartition, OffsetAndMetadata],
        marks: Mapping[TopicPartition, tuple[int, int]],
    ) -> GroupDescription | None:
        state = _state_name(d.state) if d is not None else "Dead"
        if not offsets and (state == "Dead" or (state == "Empty" and not d.members and not d.partition_assignor)):
            # Kafka's tool: "Consumer group 'g' does not exist." An Empty group with no
            # committed offsets holds nothing: Kafka removes it, and describing an
            # unknown id answers Dead (or, on some brokers, an empty Empty group).
            return None
        if state in ("Dead", "Unknown") and offsets:
            state = "Empty"  # a group known only by its committed offsets (a "simple" group)
        members = tuple(
            MemberDescription(
                m.member_id,
                m.client_id,
                m.host,
                m.group_instance_id,
                tuple(sorted((tp.topic, tp.partition) for tp in (m.assignment.topic_partitions or []))),
            )
            for m in (d.members if d is not None else [])
        )
        rows = offsets_rows(offsets, members, lambda tp: marks.get(tp, (-1, -1)), commit_times=False)
        protocol_type = "" if (d is None or d.is_simple_consumer_group) else "consumer"
        return GroupDescription(
            group_id,
            state,
            -1,  # DescribeGroups does not return the generation
            protocol_type,
            (d.partition_assignor or "") if d is not None else "",
            None,  # nor the leader
            members,
            rows,
        )

    def commit_offsets(self, group_id: str, offsets: Mapping[TopicPartition, int | OffsetAndMetadata]) -> None:
        from confluent_kafka import ConsumerGroupTopicPartitions
        from confluent_kafka import TopicPartition as CkTP

        if not offsets:
            return
        tps = []
        for (topic, partition), value in sorted(offsets.items()):
            om = value if isinstance(value, OffsetAndMetadata) else OffsetAndMetadata(int(value))
            tp = CkTP(topic, partition, om.offset)
            if om.metadata:
                tp.metadata = om.metadata
            tps.append(tp)

        def run() -> None:
            request = [ConsumerGroupTopicPartitions(group_id, tps)]
            fut = self._admin.alter_consumer_group_offsets(request, **self._timeout_kwargs())[group_id]
            result = self._wait(fut)
            for tp in result.topic_partitions or []:
                if tp.error is not None:
                    raise translate(_AsException(tp.error), f"commit {group_id} {tp.topic}-{tp.partition}")

        self._call(f"commit offsets of group {group_id}", run)
        self.events.publish(
            OffsetsCommitted(group=group_id, offsets=tuple((tp.topic, tp.partition, tp.offset) for tp in tps))
        )

    def delete_offsets(self, group_id: str, partitions: Iterable[TopicPartition]) -> list[TopicPartition]:
        # Kafka's OffsetDelete (KIP-496) exists in librdkafka but confluent-kafka's
        # Python AdminClient does not expose it: say so rather than emulate it with a
        # delete-and-recommit that a crash in between would lose.
        raise errors.UnsupportedVersion(
            f"deleting some offsets of group '{group_id}' is not available on Kafka clusters in offsetsite: "
            "confluent-kafka's AdminClient has no OffsetDelete; use kafka-consumer-groups.sh --delete-offsets, "
            "or delete the whole group when it is empty"
        )

    def delete_group(self, group_id: str) -> None:
        def run() -> None:
            fut = self._admin.delete_consumer_groups([group_id], **self._timeout_kwargs())[group_id]
            self._wait(fut)

        self._call(f"delete group {group_id}", run)
        self.events.publish(OffsetsDeleted(group=group_id, partitions=()))

    def close(self) -> None:
        try:
            self._reader.close()
        except Exception:  # closing a client of an unreachable cluster may fail
            _log.debug("closing the reader failed", exc_info=True)
        self._producer.flush(0)


def _property_named(message: str, properties: Mapping[str, str]) -> str:
    """librdkafka's refusal with every configured value hidden (it quotes the value it refused)."""
    for name, value in properties.items():
        if value and name != "bootstrap.servers":
            message = message.replace(str(value), REDACTED)
    return message


def _librdkafka_text(exc: BaseException) -> str:
    err: Any = exc.args[0] if exc.args else None
    return str(err.str()) if hasattr(err, "str") else str(exc)


class ConfigRefused(errors.InvalidConfig):
    """librdkafka refused a client property; ``reason`` is its message with values hidden."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class _AsException(Exception):
    """Wraps a confluent_kafka.KafkaError so :func:`translate` reads it like a raised one."""

    def __init__(self, err: Any) -> None:
        super().__init__(err)


def _state_name(state: Any) -> str:
    """confluent-kafka's ConsumerGroupState as Kafka's tool prints it (Stable, Empty, ...)."""
    name = getattr(state, "name", str(state))
    return {
        "STABLE": "Stable",
        "EMPTY": "Empty",
        "DEAD": "Dead",
        "PREPARING_REBALANCING": "PreparingRebalance",
        "COMPLETING_REBALANCING": "CompletingRebalance",
        "UNKNOWN": "Unknown",
    }.get(name.upper(), name)


_LIBRDKAFKA_LOGGER = logging.getLogger("logcore.kafka_cluster.librdkafka")
# librdkafka logs every failed connection attempt, several a second while a broker is
# down; Reachability logs the outage once and its end once. Lower this level to debug.
_LIBRDKAFKA_LOGGER.setLevel(logging.CRITICAL)
