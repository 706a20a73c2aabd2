"""The Kafka APIs this listener answers, each over logcore's own engine.

Every handler calls the ``EmbeddedCluster`` the dashboard uses (its ``LogManager``,
its ``GroupCoordinator``), holding the lock the server was given around each call,
so a Kafka client's appends, joins and commits fire the same events as anything
else and show on every page. One broker, node 0, leads every partition.

Kafka parks a JoinGroup or SyncGroup until the rebalance completes and a Fetch until
``min_bytes`` arrive or ``max_wait`` passes; logcore's coordinator never blocks (it
answers "pending"), so those handlers are coroutines that ask again when the engine
reports a change (or at least every ``POLL_S``).

References: the request and response schemas in Kafka's
``clients/src/main/resources/common/message/*.json`` and the broker's
``KafkaApis.scala``; https://kafka.apache.org/protocol.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from kio.schema.errors import ErrorCode

from ..errors import KafkaError, RecordTooLarge
from ..events import (
    Event,
    GroupChanged,
    GroupDeleted,
    GroupRebalanced,
    RecordsAppended,
    RecordsDeleted,
    TopicCreated,
    TopicDeleted,
)
from ..groups import GroupState, OffsetAndMetadata
from ..records import MAGIC_AT, MAGIC_KAFKA, Record, decode_batch, stored_kafka_batch
from . import batches, sasl
from .cache import BatchCache
from .protocol import build, ms, response_class

if TYPE_CHECKING:
    from ..cluster import EmbeddedCluster

_log = logging.getLogger(__name__)

OFFSETS_TOPIC = "__consumer_offsets"
POLL_S = 0.1
NODE_ID = 0
# Kafka's num.partitions and auto.create.topics.enable broker defaults.
DEFAULT_PARTITIONS = 1

# (api key, min version, max version): what ApiVersions lists. Versions are capped
# where a later one needs what a one-broker engine without topic ids or transactions
# lacks (Fetch v13+ and Produce v13 address topics by id, KIP-516).
SUPPORTED: dict[int, tuple[int, int]] = {
    0: (3, 9),  # Produce
    1: (4, 12),  # Fetch
    2: (1, 7),  # ListOffsets
    3: (0, 12),  # Metadata
    8: (2, 8),  # OffsetCommit
    9: (1, 8),  # OffsetFetch
    10: (0, 4),  # FindCoordinator
    11: (0, 7),  # JoinGroup
    12: (0, 4),  # Heartbeat
    13: (0, 5),  # LeaveGroup
    14: (0, 5),  # SyncGroup
    15: (0, 5),  # DescribeGroups
    16: (0, 4),  # ListGroups
    17: sasl.VERSIONS[sasl.SASL_HANDSHAKE],  # SaslHandshake (sasl.py)
    18: (0, 3),  # ApiVersions
    19: (2, 7),  # CreateTopics
    20: (1, 5),  # DeleteTopics
    22: (0, 4),  # InitProducerId
    32: (1, 4),  # DescribeConfigs
    36: sasl.VERSIONS[sasl.SASL_AUTHENTICATE],  # SaslAuthenticate (sasl.py)
    37: (0, 3),  # CreatePartitions
    42: (0, 2),  # DeleteGroups
    47: (0, 0),  # OffsetDelete
    60: (0, 1),  # DescribeCluster
}


def error_code(e: BaseException) -> ErrorCode:
    """Kafka's code for a logcore error (logcore names its errors as Kafka does)."""
    if isinstance(e, KafkaError):
        try:
            return ErrorCode[e.code.lower()]
        except KeyError:
            pass
    return ErrorCode.unknown_server_error


def topic_id(name: str) -> uuid.UUID:
    """A stable id per topic name (logcore keeps no topic ids; Fetch <= v12 needs none)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, "offsetsite-topic:" + name)


def _wire(stored: list[bytes], offset: int) -> bytes:
    """Batches read from the log as RecordBatch v2: a producer's batch stored whole is
    sent as it is (no record decoded); runs of logcore's own batches are encoded as one,
    from ``offset`` on."""
    out: list[bytes] = []
    pending: list[Record] = []
    for batch in stored:
        if batch[MAGIC_AT] == MAGIC_KAFKA:
            if pending:
                out.append(batches.encode(pending))
                pending = []
            out.append(stored_kafka_batch(batch))
            continue
        records = decode_batch(batch)  # read_batches checked its CRC
        if records[0].offset < offset:
            records = [r for r in records if r.offset >= offset]
        pending.extend(records)
    if pending:
        out.append(batches.encode(pending))
    return b"".join(out)


@dataclass
class _ProducerState:
    """Kafka's ProducerStateEntry, per producer id and partition: the last 5 batches."""

    epoch: int
    last_seq: int = -1
    recent: deque[tuple[int, int, int]] = field(default_factory=lambda: deque(maxlen=5))  # first, last, offset


def _append(p: Any, records: list[Any], timestamp: int | None, wire_size: int = 0) -> int:
    """Append as one logcore batch, or as several when logcore's layout of a batch that
    fit max.message.bytes on the wire does not (it spends a few more bytes a record)."""
    # logcore's layout: 8 to 16 bytes of lengths and timestamp a record against Kafka's
    # 7 or so in varints; split up front rather than encode a batch only to refuse it.
    room = p.config.max_message_bytes
    estimate = wire_size + 16 * len(records)
    if wire_size and estimate > room and len(records) > 1:
        parts = -(-estimate // room) + 1
        step = -(-len(records) // parts)
        base = _append(p, records[:step], timestamp)
        for i in range(step, len(records), step):
            _append(p, records[i : i + step], timestamp)
        return base
    try:
        return int(p.append_batch(records, timestamp))
    except RecordTooLarge:
        if len(records) < 2:
            raise
    half = len(records) // 2
    base = _append(p, records[:half], timestamp)
    _append(p, records[half:], timestamp)
    return base


class Caller(NamedTuple):
    """Who sent a request: the header's client id and the connection's peer address."""

    client_id: str
    host: str
    local: str = ""  # the address the client connected to (what it can reach us at)


class Waiter:
    """Wakes coroutines of the server's loop when the engine changes (any thread)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._futures: set[asyncio.Future[None]] = set()

    def _wake(self) -> None:
        for f in self._futures:
            if not f.done():
                f.set_result(None)
        self._futures.clear()

    def notify(self) -> None:
        if not self._futures:
            return
        try:
            self.loop.call_soon_threadsafe(self._wake)
        except RuntimeError:  # the loop is closed: the server is stopping
            pass

    async def wait(self, timeout: float) -> None:
        if timeout <= 0:
            return
        f: asyncio.Future[None] = self.loop.create_future()
        self._futures.add(f)
        try:
            await asyncio.wait_for(f, timeout)
        except TimeoutError:
            pass
        finally:
            self._futures.discard(f)


class Broker:
    """One broker's API handlers over an ``EmbeddedCluster``."""

    def __init__(
        self,
        cluster: EmbeddedCluster,
        lock: AbstractContextManager[Any],
        *,
        host: str,
        port: int,
        cluster_id: str = "offsetsite",
        auto_create_topics: bool = True,
        max_fetch_bytes: int = 8 * 1024 * 1024,
        cache_bytes: int = 64 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cluster = cluster
        self.lock = lock
        self.host = host
        self.port = port
        self.cluster_id = cluster_id
        self.auto_create_topics = auto_create_topics
        self.max_fetch_bytes = max_fetch_bytes
        self.clock = clock
        self.cache = BatchCache(cache_bytes)
        self.advertise_local = False
        self.records_changed: Waiter | None = None
        self.groups_changed: Waiter | None = None
        self._next_pid = int(time.time() * 1000) & 0x0FFF_FFFF_FFFF  # fresh ids after a restart
        self._producers: dict[tuple[int, str, int], _ProducerState] = {}
        self._pid_epochs: dict[int, int] = {}
        self._unsubscribe: Callable[[], None] | None = None
        self.handlers: dict[int, Callable[[int, Any, Caller], Any]] = {
            0: self.produce,
            1: self.fetch,
            2: self.list_offsets,
            3: self.metadata,
            8: self.offset_commit,
            9: self.offset_fetch,
            10: self.find_coordinator,
            11: self.join_group,
            12: self.heartbeat,
            13: self.leave_group,
            14: self.sync_group,
            15: self.describe_groups,
            16: self.list_groups,
            # Without SASL, or once logged in: ILLEGAL_SASL_STATE (the server routes a
            # connection's own SASL exchange to sasl.SaslConnection).
            17: sasl.handshake_refused,
            18: self.api_versions,
            19: self.create_topics,
            20: self.delete_topics,
            22: self.init_producer_id,
            32: self.describe_configs,
            36: sasl.authenticate_refused,
            37: self.create_partitions,
            42: self.delete_groups,
            47: self.offset_delete,
            60: self.describe_cluster,
        }

    # --- wiring ---------------------------------------------------------------

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start waking parked requests on ``loop`` when the engine's events say so."""
        self.records_changed = Waiter(loop)
        self.groups_changed = Waiter(loop)
        self._unsubscribe = self.cluster.events.subscribe(self._on_event)

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _on_event(self, event: Event) -> None:
        if isinstance(event, RecordsDeleted):
            with self.lock:
                self.cache.drop((event.topic, event.partition))
        elif isinstance(event, TopicDeleted | TopicCreated):
            with self.lock:
                self.cache.drop_topic(event.topic)
        if isinstance(event, RecordsAppended):
            if self.records_changed is not None:
                self.records_changed.notify()
        elif isinstance(event, GroupChanged | GroupRebalanced | GroupDeleted) and self.groups_changed is not None:
            self.groups_changed.notify()

    def respond(self, api_key: int, version: int, values: dict[str, Any]) -> Any:
        return build(response_class(api_key, version), values)

    # --- ApiVersions, Metadata, DescribeCluster --------------------------------

    def api_versions(self, version: int, req: Any, client: Caller, error: int = 0) -> Any:
        return self.respond(
            18,
            version,
            {
                "error_code": error,
                "api_keys": [
                    {"api_key": k, "min_version": lo, "max_version": hi} for k, (lo, hi) in sorted(SUPPORTED.items())
                ],
            },
        )

    def _host(self, client: Caller) -> str:
        # Listening on every interface with nothing advertised: tell each client the
        # address it already reached us at (Kafka needs advertised.listeners for this),
        # so a laptop on 0.0.0.0 serves a whole room without configuration.
        return client.local if self.advertise_local and client.local else self.host

    def _broker(self, client: Caller) -> dict[str, Any]:
        host = self._host(client)
        return {"node_id": NODE_ID, "broker_id": NODE_ID, "host": host, "port": self.port, "rack": None}

    def _topic_metadata(self, name: str) -> dict[str, Any]:
        logs = self.cluster.logs
        n = logs.partition_count(name)
        return {
            "error_code": 0,
            "name": name,
            "topic_id": topic_id(name),
            "is_internal": logs.is_internal(name),
            "partitions": [
                {
                    "error_code": 0,
                    "partition_index": p,
                    "leader_id": NODE_ID,
                    "leader_epoch": 0,
                    "replica_nodes": [NODE_ID],
                    "isr_nodes": [NODE_ID],
                    "offline_replicas": [],
                }
                for p in range(n)
            ],
            "topic_authorized_operations": -2147483648,
        }

    def metadata(self, version: int, req: Any, client: Caller) -> Any:
        requested = getattr(req, "topics", None)
        names: list[str] | None
        if requested is None or (version == 0 and not requested):
            names = None  # every topic
        else:
            names = [t.name for t in requested if t.name is not None]
        # v4+: the client says whether it wants auto-creation; before v4 the broker's
        # setting alone decides (MetadataRequest.json).
        allow = self.auto_create_topics and getattr(req, "allow_auto_topic_creation", True)
        topics = []
        with self.lock:
            logs = self.cluster.logs
            for name in names if names is not None else logs.list_topics(True):
                if not logs.has_topic(name) and allow and name != OFFSETS_TOPIC:
                    try:
                        self.cluster.create_topic(name, DEFAULT_PARTITIONS)
                    except KafkaError as e:
                        topics.append({"error_code": error_code(e), "name": name, "partitions": []})
                        continue
                if logs.has_topic(name):
                    topics.append(self._topic_metadata(name))
                else:
                    topics.append({"error_code": ErrorCode.unknown_topic_or_partition, "name": name, "partitions": []})
        return self.respond(
            3,
            version,
            {
                "brokers": [self._broker(client)],
                "cluster_id": self.cluster_id,
                "controller_id": NODE_ID,
                "topics": topics,
                "cluster_authorized_operations": -2147483648,
            },
        )

    def describe_cluster(self, version: int, req: Any, client: Caller) -> Any:
        return self.respond(
            60,
            version,
            {
                "error_code": 0,
                "error_message": None,
                "endpoint_type": 1,
                "cluster_id": self.cluster_id,
                "controller_id": NODE_ID,
                "brokers": [self._broker(client)],
                "cluster_authorized_operations": -2147483648,
            },
        )

    # --- Produce, InitProducerId -----------------------------------------------

    def init_producer_id(self, version: int, req: Any, client: Caller) -> Any:
        if req.transactional_id is not None:
            # No transaction coordinator: a transactional producer is refused at once
            # (it cannot go on), rather than left retrying COORDINATOR_NOT_AVAILABLE.
            return self.respond(
                22,
                version,
                {
                    "error_code": ErrorCode.transactional_id_authorization_failed,
                    "producer_id": -1,
                    "producer_epoch": -1,
                },
            )
        pid = getattr(req, "producer_id", -1)
        if pid >= 0 and pid in self._pid_epochs:
            # KIP-360: an idempotent producer bumps its epoch to recover from an error.
            epoch = self._pid_epochs[pid] + 1
        else:
            self._next_pid += 1
            pid, epoch = self._next_pid, 0
        self._pid_epochs[pid] = epoch
        return self.respond(22, version, {"error_code": 0, "producer_id": pid, "producer_epoch": epoch})

    def _check_sequence(self, wb: batches.BatchInfo, topic: str, partition: int) -> tuple[ErrorCode, int] | None:
        """Kafka's ProducerStateManager checks: None to append, or (code, offset) to answer.

        A duplicate (a retry of a batch already written) is answered with the offset it
        got the first time, as Kafka does, and is not written again.
        """
        pid = wb.producer_id
        if pid < 0:
            return None
        key = (pid, topic, partition)
        state = self._producers.get(key)
        first = wb.base_sequence
        last = (first + wb.n_records - 1) % (2**31)
        if state is None or wb.producer_epoch > state.epoch:
            if first != 0 and (state is not None or pid not in self._pid_epochs):
                return (
                    ErrorCode.unknown_producer_id
                    if pid not in self._pid_epochs
                    else ErrorCode.out_of_order_sequence_number,
                    -1,
                )
            if first != 0:
                return ErrorCode.out_of_order_sequence_number, -1
            return None
        if wb.producer_epoch < state.epoch:
            return ErrorCode.invalid_producer_epoch, -1
        for f, la, off in state.recent:
            if f == first and la == last:
                return ErrorCode.none, off
        if first != (state.last_seq + 1) % (2**31):
            return ErrorCode.out_of_order_sequence_number, -1
        return None

    def _record_sequence(self, wb: batches.BatchInfo, topic: str, partition: int, offset: int) -> None:
        if wb.producer_id < 0:
            return
        key = (wb.producer_id, topic, partition)
        state = self._producers.get(key)
        if state is None or wb.producer_epoch > state.epoch:
            state = self._producers[key] = _ProducerState(wb.producer_epoch)
        last = (wb.base_sequence + wb.n_records - 1) % (2**31)
        state.last_seq = last
        state.recent.append((wb.base_sequence, last, offset))

    def _produce_partition(self, topic: str, index: int, records: bytes | None, max_bytes: int) -> dict[str, Any]:
        out: dict[str, Any] = {"index": index, "base_offset": -1, "log_append_time": None, "log_start_offset": -1}
        logs = self.cluster.logs
        if topic == OFFSETS_TOPIC or (logs.has_topic(topic) and logs.is_internal(topic)):
            # Only the group coordinator writes __consumer_offsets (offset commits);
            # Kafka refuses produce requests to internal topics the same way.
            out["error_code"] = ErrorCode.invalid_topic_exception
            out["error_message"] = f"Cannot append to internal topic {topic}: commit offsets instead"
            return out
        if not logs.has_topic(topic):
            if self.auto_create_topics:
                try:
                    self.cluster.create_topic(topic, DEFAULT_PARTITIONS)
                except KafkaError as e:
                    out["error_code"] = error_code(e)
                    out["error_message"] = str(e)
                    return out
            else:
                out["error_code"] = ErrorCode.unknown_topic_or_partition
                return out
        try:
            p = logs.partition(topic, index)
        except KafkaError as e:
            out["error_code"] = error_code(e)
            return out
        data = records or b""
        try:
            # Checked without cutting records out: most batches are stored whole.
            wire = [batches.scan(data, s, e, max_bytes=max_bytes) for s, e in batches.iter_batches(data)]
        except batches.BatchError as e:
            out["error_code"] = ErrorCode.corrupt_message
            out["error_message"] = str(e)
            return out
        if not wire:
            out["error_code"] = ErrorCode.invalid_record
            out["error_message"] = "the produce request holds no record batch for this partition"
            return out
        first_offset = -1
        append_time = p.config.message_timestamp_type == "LogAppendTime"
        # Kafka stores a producer's batch as sent (docs/kafka-listener.md); topics that
        # rewrite every record (timestamps, key checks) take them one by one.
        whole = not append_time and not p.config.compact
        for wb in wire:
            if wb.attributes & batches.TRANSACTIONAL:
                out["error_code"] = ErrorCode.invalid_record
                out["error_message"] = "transactional batches are not supported by this server"
                return out
            verdict = self._check_sequence(wb, topic, index)
            if verdict is not None:
                code, offset = verdict
                if code is not ErrorCode.none:
                    out["error_code"] = code
                    return out
                first_offset = offset if first_offset < 0 else first_offset
                continue
            if not wb.n_records:
                continue
            if len(wb.raw) > p.config.max_message_bytes:
                # Kafka checks the batch as sent against max.message.bytes (LogValidator).
                out["error_code"] = ErrorCode.message_too_large
                out["error_message"] = (
                    f"the batch is {len(wb.raw)} bytes, larger than max.message.bytes="
                    f"{p.config.max_message_bytes} of topic {topic}"
                )
                return out
            try:
                if whole and wb.plain:
                    base = p.append_record_batch(wb)
                else:
                    rows = batches.decode(wb.raw, 0, len(wb.raw), max_bytes=max_bytes).rows()
                    base = _append(p, *rows, len(wb.raw) if not wb.codec else 0)
            except KafkaError as e:
                out["error_code"] = error_code(e)
                out["error_message"] = str(e)
                return out
            self._record_sequence(wb, topic, index, base)
            if not append_time and not p.config.compact and self.cache.max_bytes:
                self.cache.add((topic, index), base, base + wb.n_records - 1, batches.as_stored(wb.raw, base))
            if first_offset < 0:
                first_offset = base
        out["error_code"] = 0
        out["base_offset"] = first_offset
        out["log_start_offset"] = p.log_start_offset
        if append_time:
            out["log_append_time"] = int(time.time() * 1000)
        return out

    def produce(self, version: int, req: Any, client: Caller) -> Any:
        responses = []
        if req.transactional_id is not None:
            code = ErrorCode.transactional_id_authorization_failed
            for t in req.topic_data:
                responses.append(
                    {
                        "name": t.name,
                        "partition_responses": [{"index": pd.index, "error_code": code} for pd in t.partition_data],
                    }
                )
            return self.respond(0, version, {"responses": responses})
        with self.lock:
            for t in req.topic_data:
                parts = [
                    self._produce_partition(t.name, pd.index, pd.records, self.max_fetch_bytes * 8)
                    for pd in t.partition_data
                ]
                responses.append({"name": t.name, "partition_responses": parts})
        return self.respond(0, version, {"responses": responses})

    # --- Fetch, ListOffsets ------------------------------------------------------

    def _fetch_once(self, req: Any) -> tuple[list[dict[str, Any]], int]:
        budget = min(max(req.max_bytes, 1), self.max_fetch_bytes) if hasattr(req, "max_bytes") else self.max_fetch_bytes
        total = 0
        responses = []
        with self.lock:
            logs = self.cluster.logs
            for t in req.topics:
                parts = []
                for fp in t.partitions:
                    entry: dict[str, Any] = {
                        "partition_index": fp.partition,
                        "high_watermark": -1,
                        "last_stable_offset": -1,
                        "log_start_offset": -1,
                        "aborted_transactions": None,
                        "preferred_read_replica": -1,
                        "records": b"",
                        "error_code": 0,
                    }
                    parts.append(entry)
                    try:
                        p = logs.partition(t.topic, fp.partition)
                        entry["high_watermark"] = entry["last_stable_offset"] = p.high_watermark
                        entry["log_start_offset"] = p.log_start_offset
                        if budget - total <= 0:
                            continue
                        # Kafka returns at least one batch when the response is still
                        # empty, even above the limits (KIP-74), so a large record never
                        # stalls a consumer.
                        limit = min(fp.partition_max_bytes, budget - total)
                        cached, _next = self.cache.read((t.topic, fp.partition), fp.fetch_offset, limit)
                        if cached and fp.fetch_offset >= p.log_start_offset:
                            data = b"".join(cached)
                            entry["records"] = data
                            total += len(data)
                            continue
                        stored = p.read_batches(fp.fetch_offset, max_bytes=limit)
                    except KafkaError as e:
                        entry["error_code"] = error_code(e)
                        continue
                    if stored:
                        data = _wire(stored, fp.fetch_offset)
                        entry["records"] = data
                        total += len(data)
                responses.append({"topic": t.topic, "partitions": parts})
        return responses, total

    async def fetch(self, version: int, req: Any, client: Caller) -> Any:
        deadline = self.clock() + ms(req.max_wait) / 1000
        while True:
            responses, total = self._fetch_once(req)
            remaining = deadline - self.clock()
            if total >= max(req.min_bytes, 1) or remaining <= 0 or self.records_changed is None:
                break
            await self.records_changed.wait(min(remaining, POLL_S * 5))
        return self.respond(1, version, {"error_code": 0, "session_id": 0, "responses": responses})

    def list_offsets(self, version: int, req: Any, client: Caller) -> Any:
        topics = []
        with self.lock:
            logs = self.cluster.logs
            for t in req.topics:
                parts = []
                for lp in t.partitions:
                    entry: dict[str, Any] = {
                        "partition_index": lp.partition_index,
                        "error_code": 0,
                        "timestamp": -1,
                        "offset": -1,
                        "leader_epoch": 0,
                    }
                    try:
                        p = logs.partition(t.name, lp.partition_index)
                        found = p.offset_for_timestamp(lp.timestamp)
                    except KafkaError as e:
                        entry["error_code"] = error_code(e)
                    else:
                        if found is not None:
                            entry["offset"], entry["timestamp"] = found
                            if lp.timestamp in (-1, -2):
                                entry["timestamp"] = -1
                    parts.append(entry)
                topics.append({"name": t.name, "partitions": parts})
        return self.respond(2, version, {"topics": topics})

    # --- group coordination ------------------------------------------------------

    def find_coordinator(self, version: int, req: Any, client: Caller) -> Any:
        key_type = getattr(req, "key_type", 0)
        code, message = ErrorCode.none, None
        if key_type == 1:
            # No transaction coordinator: answer as Kafka answers a transactional id the
            # client may not use (KafkaApis.handleFindCoordinatorRequest), a fatal error
            # the producer reports at once. COORDINATOR_NOT_AVAILABLE is retriable:
            # librdkafka's init_transactions and kafkajs's transaction() kept retrying it
            # until their own timeouts.
            code = ErrorCode.transactional_id_authorization_failed
            message = "this server has no transaction coordinator: transactions are not supported"
        elif key_type != 0:
            code, message = ErrorCode.invalid_request, f"coordinator key type {key_type} is not supported"
        node = {
            "node_id": NODE_ID if not message else -1,
            "host": self._host(client) if not message else "",
            "port": self.port if not message else -1,
        }
        if version >= 4:
            return self.respond(
                10,
                version,
                {
                    "coordinators": [
                        {"key": k, **node, "error_code": code, "error_message": message} for k in req.coordinator_keys
                    ]
                },
            )
        return self.respond(10, version, {"error_code": code, "error_message": message, **node})

    async def _parked(self, call: Callable[[], Any], is_pending: Callable[[Any], bool]) -> Any:
        """Ask the coordinator again until it stops answering "pending"."""
        with self.lock:
            result = call()
        while is_pending(result):
            if self.groups_changed is not None:
                await self.groups_changed.wait(POLL_S)
            else:
                await asyncio.sleep(POLL_S)
            with self.lock:
                self.cluster.coordinator.tick()
                result = call()
        return result

    async def join_group(self, version: int, req: Any, client: Caller) -> Any:
        coordinator = self.cluster.coordinator
        session = ms(req.session_timeout)
        rebalance = ms(getattr(req, "rebalance_timeout", session))
        if rebalance < 0:
            rebalance = session
        protocols = [(p.name, bytes(p.metadata)) for p in req.protocols]
        member_id = req.member_id
        answer: dict[str, Any] = {
            "generation_id": -1,
            "protocol_name": None,
            "leader": "",
            "member_id": member_id,
            "members": [],
        }

        def call() -> Any:
            return coordinator.join_group(
                req.group_id,
                member_id,
                client_id=client.client_id,
                client_host=client.host,
                session_timeout_ms=session,
                rebalance_timeout_ms=rebalance,
                protocol_type=req.protocol_type,
                protocols=protocols,
                group_instance_id=getattr(req, "group_instance_id", None),
            )

        try:
            with self.lock:
                result = call()
            member_id = result.member_id
            result = await self._parked(call, lambda r: r.pending)
        except KafkaError as e:
            answer["error_code"] = error_code(e)
            return self.respond(11, version, answer)
        answer.update(
            error_code=0,
            generation_id=result.generation,
            protocol_type=req.protocol_type,
            protocol_name=result.protocol,
            leader=result.leader or "",
            member_id=result.member_id,
            members=[
                {"member_id": mid, "group_instance_id": gid, "metadata": meta} for mid, gid, meta in result.members
            ],
        )
        return self.respond(11, version, answer)

    async def sync_group(self, version: int, req: Any, client: Caller) -> Any:
        coordinator = self.cluster.coordinator
        assignments = {a.member_id: bytes(a.assignment) for a in req.assignments} if req.assignments else None
        first = [True]

        def call() -> Any:
            given = assignments if first[0] else None
            first[0] = False
            return coordinator.sync_group(req.group_id, req.member_id, req.generation_id, given)

        try:
            result = await self._parked(call, lambda r: r.pending)
        except KafkaError as e:
            return self.respond(14, version, {"error_code": error_code(e), "assignment": b""})
        return self.respond(
            14,
            version,
            {
                "error_code": 0,
                "protocol_type": getattr(req, "protocol_type", None),
                "protocol_name": result.protocol,
                "assignment": result.assignment,
            },
        )

    def heartbeat(self, version: int, req: Any, client: Caller) -> Any:
        try:
            with self.lock:
                # polled=True: a Kafka client enforces max.poll.interval.ms itself (it
                # leaves the group); the broker only watches the session.
                self.cluster.coordinator.heartbeat(req.group_id, req.member_id, req.generation_id, polled=True)
        except KafkaError as e:
            return self.respond(12, version, {"error_code": error_code(e)})
        return self.respond(12, version, {"error_code": 0})

    def leave_group(self, version: int, req: Any, client: Caller) -> Any:
        coordinator = self.cluster.coordinator
        if version < 3:
            try:
                with self.lock:
                    coordinator.leave_group(req.group_id, req.member_id)
            except KafkaError as e:
                return self.respond(13, version, {"error_code": error_code(e)})
            return self.respond(13, version, {"error_code": 0})
        members = []
        with self.lock:
            for m in req.members:
                mid = m.member_id
                if not mid and m.group_instance_id:
                    g = coordinator.groups.get(req.group_id)
                    found = [
                        x.member_id
                        for x in (g.members.values() if g else ())
                        if x.group_instance_id == m.group_instance_id
                    ]
                    mid = found[0] if found else ""
                try:
                    coordinator.leave_group(req.group_id, mid)
                    code = ErrorCode.none
                except KafkaError as e:
                    code = error_code(e)
                members.append({"member_id": m.member_id, "group_instance_id": m.group_instance_id, "error_code": code})
        return self.respond(13, version, {"error_code": 0, "members": members})

    def offset_commit(self, version: int, req: Any, client: Caller) -> Any:
        offsets: dict[tuple[str, int], OffsetAndMetadata] = {}
        for t in req.topics:
            for pt in t.partitions:
                offsets[(t.name, pt.partition_index)] = OffsetAndMetadata(
                    pt.committed_offset,
                    pt.committed_metadata or "",
                    getattr(pt, "committed_leader_epoch", -1),
                )
        code: ErrorCode = ErrorCode.none
        try:
            with self.lock:
                self._resolve_logical_offsets(offsets)
                self.cluster.coordinator.commit_offsets(
                    req.group_id,
                    offsets,
                    member_id=req.member_id,
                    generation=req.generation_id_or_member_epoch,
                )
        except KafkaError as e:
            code = error_code(e)
        topics = [
            {
                "name": t.name,
                "partitions": [{"partition_index": pt.partition_index, "error_code": code} for pt in t.partitions],
            }
            for t in req.topics
        ]
        return self.respond(8, version, {"topics": topics})

    def _resolve_logical_offsets(self, offsets: dict[tuple[str, int], OffsetAndMetadata]) -> None:
        """A commit of -2 (earliest) or -1 (latest) as the partition's offset now.

        kafkajs commits these logical offsets (its consumer's seek, so admin.resetOffsets)
        and Kafka stores them as given (OffsetMetadataManager checks only the metadata);
        a client reading one back treats it as no position and applies its own reset
        policy. logcore keeps real offsets only (its pages compute lag from them), so
        the listener stores the position the client asked for: the log start or the
        high watermark. Other negative offsets stay refused (INVALID_REQUEST).
        """
        for tp, om in offsets.items():
            if om.offset in (-2, -1):
                low, high = self.cluster.watermarks(*tp)
                offsets[tp] = dataclasses.replace(om, offset=low if om.offset == -2 else high)

    def _fetched_offsets(self, group_id: str, topics: Iterable[Any] | None) -> list[dict[str, Any]]:
        coordinator = self.cluster.coordinator
        wanted = None
        if topics is not None:
            wanted = [(t.name, p) for t in topics for p in t.partition_indexes]
        found = coordinator.fetch_offsets(group_id, wanted)
        by_topic: dict[str, list[dict[str, Any]]] = {}
        for (topic, partition), om in found.items():
            by_topic.setdefault(topic, []).append(
                {
                    "partition_index": partition,
                    "committed_offset": om.offset if om else -1,
                    "committed_leader_epoch": om.leader_epoch if om else -1,
                    "metadata": om.metadata if om else "",
                    "error_code": 0,
                }
            )
        return [{"name": t, "partitions": parts} for t, parts in by_topic.items()]

    def offset_fetch(self, version: int, req: Any, client: Caller) -> Any:
        with self.lock:
            if version >= 8:
                groups = [
                    {"group_id": g.group_id, "topics": self._fetched_offsets(g.group_id, g.topics), "error_code": 0}
                    for g in req.groups
                ]
                return self.respond(9, version, {"groups": groups})
            topics = self._fetched_offsets(req.group_id, req.topics)
        return self.respond(9, version, {"topics": topics, "error_code": 0})

    def list_groups(self, version: int, req: Any, client: Caller) -> Any:
        states = {s.lower() for s in (getattr(req, "states_filter", ()) or ())}
        with self.lock:
            self.cluster.coordinator.tick()
            groups = [
                {"group_id": g.group_id, "protocol_type": g.protocol_type or "", "group_state": str(g.state)}
                for g in self.cluster.coordinator.list_groups()
                if not states or str(g.state).lower() in states
            ]
        return self.respond(16, version, {"error_code": 0, "groups": groups})

    def describe_groups(self, version: int, req: Any, client: Caller) -> Any:
        out = []
        with self.lock:
            coordinator = self.cluster.coordinator
            coordinator.tick()
            for gid in req.groups:
                g = coordinator.groups.get(gid)
                if g is None or g.state is GroupState.DEAD:
                    # Before v6 Kafka describes an unknown group as Dead, without an error.
                    out.append(
                        {
                            "error_code": 0,
                            "group_id": gid,
                            "group_state": "Dead",
                            "protocol_type": "",
                            "protocol_data": "",
                            "members": [],
                        }
                    )
                    continue
                stable = g.state is GroupState.STABLE
                members = [
                    {
                        "member_id": m.member_id,
                        "group_instance_id": m.group_instance_id,
                        "client_id": m.client_id,
                        "client_host": m.client_host,
                        # Kafka sends metadata and assignment only once the group is Stable.
                        "member_metadata": m.metadata_for(g.protocol) if stable and g.protocol else b"",
                        "member_assignment": m.assignment if stable else b"",
                    }
                    for m in g.members.values()
                ]
                out.append(
                    {
                        "error_code": 0,
                        "group_id": gid,
                        "group_state": str(g.state),
                        "protocol_type": g.protocol_type or "",
                        "protocol_data": (g.protocol or "") if stable else "",
                        "members": members,
                        "authorized_operations": -2147483648,
                    }
                )
        return self.respond(15, version, {"groups": out})

    def delete_groups(self, version: int, req: Any, client: Caller) -> Any:
        results = []
        with self.lock:
            for gid in req.groups_names:
                try:
                    self.cluster.delete_group(gid)
                    code = ErrorCode.none
                except KafkaError as e:
                    code = error_code(e)
                results.append({"group_id": gid, "error_code": code})
        return self.respond(42, version, {"results": results})

    def offset_delete(self, version: int, req: Any, client: Caller) -> Any:
        parts = [(t.name, p.partition_index) for t in req.topics for p in t.partitions]
        top = ErrorCode.none
        per = ErrorCode.none
        try:
            with self.lock:
                self.cluster.delete_offsets(req.group_id, parts)
        except KafkaError as e:
            code = error_code(e)
            # GROUP_SUBSCRIBED_TO_TOPIC is a partition error in OffsetDeleteResponse.json.
            if code is ErrorCode.group_subscribed_to_topic:
                per = code
            else:
                top = code
        topics = [
            {
                "name": t.name,
                "partitions": [{"partition_index": p.partition_index, "error_code": per} for p in t.partitions],
            }
            for t in req.topics
        ]
        return self.respond(47, version, {"error_code": top, "topics": topics if top is ErrorCode.none else []})

    # --- topics ------------------------------------------------------------------

    def create_topics(self, version: int, req: Any, client: Caller) -> Any:
        out = []
        with self.lock:
            for t in req.topics:
                entry: dict[str, Any] = {
                    "name": t.name,
                    "error_code": 0,
                    "error_message": None,
                    "topic_id": topic_id(t.name),
                }
                n = t.num_partitions if t.num_partitions != -1 else DEFAULT_PARTITIONS
                configs = {c.name: c.value for c in t.configs if c.value is not None}
                try:
                    if t.replication_factor not in (-1, 1):
                        entry["error_code"] = ErrorCode.invalid_replication_factor
                        entry["error_message"] = (
                            f"Replication factor {t.replication_factor} is larger than the 1 broker of this server"
                        )
                    elif t.assignments:
                        entry["error_code"] = ErrorCode.invalid_request
                        entry["error_message"] = (
                            "manual replica assignments are not supported: one broker holds every partition"
                        )
                    elif req.validate_only:
                        if self.cluster.logs.has_topic(t.name):
                            entry["error_code"] = ErrorCode.topic_already_exists
                            entry["error_message"] = f"Topic '{t.name}' already exists."
                    else:
                        self.cluster.create_topic(t.name, n, configs)
                except KafkaError as e:
                    entry["error_code"] = error_code(e)
                    entry["error_message"] = str(e)
                if entry["error_code"] == 0:
                    entry["num_partitions"] = n
                    entry["replication_factor"] = 1
                    entry["configs"] = []
                else:
                    entry["num_partitions"] = -1
                    entry["replication_factor"] = -1
                out.append(entry)
        return self.respond(19, version, {"topics": out})

    def delete_topics(self, version: int, req: Any, client: Caller) -> Any:
        out = []
        with self.lock:
            for name in req.topic_names:
                try:
                    self.cluster.delete_topic(name)
                    out.append({"name": name, "error_code": 0, "error_message": None})
                except KafkaError as e:
                    out.append({"name": name, "error_code": error_code(e), "error_message": str(e)})
        return self.respond(20, version, {"responses": out})

    def create_partitions(self, version: int, req: Any, client: Caller) -> Any:
        out = []
        with self.lock:
            for t in req.topics:
                try:
                    if req.validate_only:
                        current = self.cluster.logs.partition_count(t.name)
                        if t.count <= current:
                            raise_code = ErrorCode.invalid_partitions
                            out.append(
                                {
                                    "name": t.name,
                                    "error_code": raise_code,
                                    "error_message": f"Topic already has {current} partitions.",
                                }
                            )
                            continue
                    else:
                        self.cluster.add_partitions(t.name, t.count)
                    out.append({"name": t.name, "error_code": 0, "error_message": None})
                except KafkaError as e:
                    out.append({"name": t.name, "error_code": error_code(e), "error_message": str(e)})
        return self.respond(37, version, {"results": out})

    def describe_configs(self, version: int, req: Any, client: Caller) -> Any:
        results = []
        with self.lock:
            for r in req.resources:
                entry: dict[str, Any] = {
                    "error_code": 0,
                    "error_message": None,
                    "resource_type": r.resource_type,
                    "resource_name": r.resource_name,
                    "configs": [],
                }
                if r.resource_type == 2:  # TOPIC (ConfigResource.Type)
                    try:
                        desc = self.cluster.describe_topic(r.resource_name)
                    except KafkaError as e:
                        entry["error_code"] = error_code(e)
                        entry["error_message"] = str(e)
                    else:
                        keys = set(r.configuration_keys) if r.configuration_keys is not None else None
                        overrides = set(getattr(self.cluster.logs._topic(r.resource_name), "overrides", {}))
                        entry["configs"] = [
                            {
                                "name": k,
                                "value": v,
                                "read_only": False,
                                # 1 DYNAMIC_TOPIC_CONFIG, 5 DEFAULT_CONFIG (DescribeConfigsResponse.json)
                                "config_source": 1 if k in overrides else 5,
                                "is_default": k not in overrides,
                                "is_sensitive": False,
                                "synonyms": [],
                                "config_type": 0,
                                "documentation": None,
                            }
                            for k, v in sorted(desc.config.items())
                            if keys is None or k in keys
                        ]
                elif r.resource_type == 4:  # BROKER
                    entry["configs"] = []
                else:
                    entry["error_code"] = ErrorCode.invalid_request
                    entry["error_message"] = (
                        f"resource type {r.resource_type} is not supported: only topics (2) and brokers (4)"
                    )
                results.append(entry)
        return self.respond(32, version, {"results": results})
