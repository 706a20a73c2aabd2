"""A data directory of topics, as Kafka's ``LogManager``.

Layout: ``<data dir>/.lock`` (held by one process), ``<data dir>/<topic dir>/topic.json``
(name, partition count, non-default config, internal flag) and one directory per
partition, ``<data dir>/<topic dir>/<partition>/``, holding its segments.

``<topic dir>`` is the topic's name when that name cannot collide with a file of the
engine (:func:`topic_dir_name`), else ``@`` and a hash of the name.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .clock import Clock, SystemClock
from .config import TopicConfig
from .errors import (
    CorruptRecord,
    DataDirLocked,
    InvalidPartitions,
    InvalidTopic,
    TopicAlreadyExists,
    UnknownTopicOrPartition,
)
from .events import EventBus, PartitionsAdded, TopicCreated, TopicDeleted
from .partition import PartitionLog, Truncation
from .partitioner import StickyPartitioner
from .records import Header, ProduceRecord

MAX_TOPIC_NAME = 249
MAX_PARTITIONS = 10_000
_LEGAL = re.compile(r"^[a-zA-Z0-9._-]+$")
TOPIC_FILE = "topic.json"
LOCK_FILE = ".lock"
_log = logging.getLogger(__name__)
_TRASH = re.compile(r".+\.[0-9a-f]{32}-delete")
# A plain directory name leaves room for the ".<uuid hex>-delete" suffix of a delete
# within the 255 bytes a file name may have.
_PLAIN_DIR_MAX = 200
# The engine's own files in a data directory start with "." (.lock, .cli-token) or end
# in one of these (restore-points.json and its .tmp): no topic directory has such a name.
_ENGINE_SUFFIXES = (".json", ".lock", ".tmp")
_HASHED_PREFIX = "@"  # not a legal topic character: never a plain topic's directory


def topic_dir_name(name: str) -> str:
    """The directory of topic ``name`` in a data directory.

    A short plain name is its own directory (so existing data directories and ``ls``
    read as before). A name that could be an engine file (starting with ``.``, ending in
    ``.json``, ``.lock`` or ``.tmp``) or is too long to rename on delete lives in
    ``@<sha256 of the name, 40 hex>``; its ``topic.json`` keeps the real name.
    """
    if name.startswith(".") or name.endswith(_ENGINE_SUFFIXES) or len(name) > _PLAIN_DIR_MAX:
        return _HASHED_PREFIX + hashlib.sha256(name.encode()).hexdigest()[:40]
    return name


def validate_topic_name(name: str) -> None:
    """Kafka's ``Topic.validate``: raises ``InvalidTopic`` saying what is allowed."""
    if not isinstance(name, str) or not name:
        raise InvalidTopic("Topic name is illegal, it can't be empty")
    if name in (".", ".."):
        raise InvalidTopic('Topic name cannot be "." or ".."')
    if len(name) > MAX_TOPIC_NAME:
        raise InvalidTopic(
            f"Topic name is illegal, it can't be longer than {MAX_TOPIC_NAME} characters, topic name: {name[:40]}..."
        )
    # Fix: match() let a trailing newline through ("$" matches before a final "\n"),
    # so "orders\n" was a legal name; Java's String.matches() is a full match.
    if not _LEGAL.fullmatch(name):
        raise InvalidTopic(
            f"Topic name {name!r} is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        )


def _is_live_topic_dir(directory: Path) -> bool:
    """A topic's directory is named after the topic in its topic.json (its mapped name,
    or the name itself in a data directory written before the mapping); a deleted one
    (renamed to ``<dir>.<uuid>-delete``) is not."""
    try:
        name = json.loads((directory / TOPIC_FILE).read_text()).get("name")
        return isinstance(name, str) and directory.name in (topic_dir_name(name), name)
    except (OSError, ValueError, AttributeError):
        return False


def _collision_key(name: str) -> str:
    # Kafka refuses topics that differ only by '.' vs '_' (metric names collide).
    return name.replace(".", "_")


@dataclass(frozen=True)
class PartitionInfo:
    partition: int
    log_start_offset: int
    high_watermark: int
    log_end_offset: int
    size_bytes: int
    segment_count: int

    @property
    def records(self) -> int:
        """Offsets between log start and HW (a compacted log holds fewer records)."""
        return self.high_watermark - self.log_start_offset


@dataclass(frozen=True)
class TopicDescription:
    name: str
    internal: bool
    config: dict[str, str]
    partitions: list[PartitionInfo] = field(default_factory=list)

    @property
    def size_bytes(self) -> int:
        """Bytes on disk, or -1 where a partition's size is not reported (a Kafka cluster)."""
        if any(p.size_bytes < 0 for p in self.partitions):
            return -1
        return sum(p.size_bytes for p in self.partitions)

    @property
    def records(self) -> int:
        return sum(p.records for p in self.partitions)


class _Topic:
    def __init__(self, name: str, config: TopicConfig, internal: bool, overrides: dict[str, str]):
        self.name = name
        self.config = config
        self.internal = internal
        self.overrides = overrides
        self.partitions: list[PartitionLog] = []


class LogManager:
    """All topics of one data directory; one process at a time (an exclusive lock)."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        clock: Clock | None = None,
        events: EventBus | None = None,
        partitioner: StickyPartitioner | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.clock = clock or SystemClock()
        self.events = events or EventBus()
        self.partitioner = partitioner or StickyPartitioner()
        self._lock = threading.RLock()
        self._topics: dict[str, _Topic] = {}
        self._lock_file: TextIO | None = None
        self._closed = False
        self._acquire_dir_lock()
        try:
            self._load()
        except BaseException:
            self._release_dir_lock()
            raise

    # --- the directory lock ------------------------------------------------

    def _acquire_dir_lock(self) -> None:
        path = self.data_dir / LOCK_FILE
        f = open(path, "a+")  # noqa: SIM115 - held open for the manager's lifetime
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            info = read_lock_info(self.data_dir)
            f.close()
            pid = info.get("pid")
            raise DataDirLocked(
                f"data directory {self.data_dir} is in use by process {pid}; "
                "stop it or point --data-dir somewhere else",
                pid=pid if isinstance(pid, int) else None,
            ) from None
        f.seek(0)
        f.truncate()
        json.dump({"pid": os.getpid()}, f)
        f.flush()
        self._lock_file = f

    def advertise(self, **info: Any) -> None:
        """Record how other processes can reach the holder (e.g. the server's URL)."""
        if self._lock_file is None:
            return
        self._lock_file.seek(0)
        self._lock_file.truncate()
        json.dump({"pid": os.getpid(), **info}, self._lock_file)
        self._lock_file.flush()

    def _release_dir_lock(self) -> None:
        if self._lock_file is not None:
            # Forget the pid and the advertised URL while still holding the lock: a
            # closed manager leaves no holder behind for anyone reading the file.
            with contextlib.suppress(OSError, ValueError):
                self._lock_file.seek(0)
                self._lock_file.truncate()
                self._lock_file.flush()
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    # --- loading -----------------------------------------------------------

    def _load(self) -> None:
        for leftover in self.data_dir.iterdir():
            # Fix: a legal topic named like "x.<32 hex>-delete" was wiped on every open;
            # only remove what delete_topic renamed (its topic.json names another topic).
            if _TRASH.fullmatch(leftover.name) and not _is_live_topic_dir(leftover):
                shutil.rmtree(leftover, ignore_errors=True)
        for directory in sorted(self.data_dir.iterdir()):
            # A directory a crash left before its topic.json was written (create_topic writes
            # it last): not a topic. Skipped, never deleted: it may hold someone's bytes.
            if directory.is_dir() and not directory.name.startswith(".") and not (directory / TOPIC_FILE).exists():
                _log.warning(
                    "skipping %s: it has no %s, so it is not a topic (left by a crash while creating one?); "
                    "remove it or restore its %s",
                    directory,
                    TOPIC_FILE,
                    TOPIC_FILE,
                )
        for meta_path in sorted(self.data_dir.glob(f"*/{TOPIC_FILE}")):
            try:
                meta = json.loads(meta_path.read_text())
                name = meta["name"]
                overrides = dict(meta.get("config", {}))
                count = meta["partitions"]
                if not isinstance(name, str) or meta_path.parent.name not in (topic_dir_name(name), name):
                    raise ValueError(f"it names topic {name!r}, which does not live in {meta_path.parent.name}")
                if not isinstance(count, int) or not 0 < count <= MAX_PARTITIONS:
                    raise ValueError(f"it names topic {name!r} with {count!r} partitions")
                on_disk = [int(d.name) for d in meta_path.parent.iterdir() if d.is_dir() and d.name.isdigit()]
                if on_disk and max(on_disk) >= count:
                    raise ValueError(f"it says {count} partitions but partition {max(on_disk)} is on disk")
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                raise CorruptRecord(f"{meta_path} is corrupt: {e}") from e
            if not self._migrate(meta_path.parent, name):
                continue
            topic = _Topic(name, TopicConfig.from_dict(overrides), bool(meta.get("internal")), overrides)
            for p in range(count):
                topic.partitions.append(self._open_partition(topic, p))
            self._topics[name] = topic

    def _open_partition(self, topic: _Topic, p: int) -> PartitionLog:
        return PartitionLog(
            self._dir(topic.name) / str(p),
            topic.name,
            p,
            topic.config,
            clock=self.clock,
            events=self.events,
        )

    def _write_topic_meta(self, topic: _Topic) -> None:
        path = self._dir(topic.name) / TOPIC_FILE
        tmp = path.with_name(TOPIC_FILE + ".tmp")
        data = {
            "name": topic.name,
            "partitions": len(topic.partitions),
            "config": topic.overrides,
            "internal": topic.internal,
        }
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    # --- topics ------------------------------------------------------------

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        config: Mapping[str, Any] | None = None,
        *,
        internal: bool = False,
    ) -> TopicDescription:
        """Create a topic; raises before touching the disk when anything is invalid."""
        validate_topic_name(name)  # ".lock" and other engine file names: see topic_dir_name
        if not isinstance(partitions, int) or not 1 <= partitions <= MAX_PARTITIONS:
            raise InvalidPartitions(f"Number of partitions must be between 1 and {MAX_PARTITIONS}, got {partitions!r}")
        overrides = {k: str(v) for k, v in (config or {}).items()}
        cfg = TopicConfig.from_dict(overrides)
        with self._lock:
            self._check_open()
            if name in self._topics:
                raise TopicAlreadyExists(f"Topic '{name}' already exists.")
            for other in self._topics:
                if _collision_key(other) == _collision_key(name):
                    raise InvalidTopic(
                        f"Topic '{name}' collides with existing topic: {other} "
                        "(names that differ only by '.' and '_' are not allowed together)"
                    )
            topic = _Topic(name, cfg, internal, overrides)
            self._dir(name).mkdir(parents=True, exist_ok=False)
            for p in range(partitions):
                topic.partitions.append(self._open_partition(topic, p))
            self._write_topic_meta(topic)
            self._topics[name] = topic
        self.events.publish(TopicCreated(topic=name, partitions=partitions))
        return self.describe_topic(name)

    def delete_topic(self, name: str) -> None:
        with self._lock:
            topic = self._topic(name)
            if topic.internal:
                raise InvalidTopic(f"Topic '{name}' is internal and cannot be deleted")
            del self._topics[name]
            for p in topic.partitions:
                p.abandon()
            # Rename first so a crash mid-delete cannot leave a half topic that loads.
            home = self._dir(name)
            trash = self.data_dir / f"{home.name}.{uuid.uuid4().hex}-delete"
            os.replace(home, trash)
            shutil.rmtree(trash, ignore_errors=True)
        self.events.publish(TopicDeleted(topic=name))

    def add_partitions(self, name: str, total: int) -> TopicDescription:
        """Grow a topic to ``total`` partitions; Kafka never removes partitions."""
        with self._lock:
            topic = self._topic(name)
            current = len(topic.partitions)
            # Kafka's words (AdminManager.createPartitions / ZkAdminManager).
            if not isinstance(total, int) or total < current:
                raise InvalidPartitions(
                    f"Topic currently has {current} partitions, which is higher than the requested {total}."
                    " Partitions can only be added, never removed."
                )
            if total == current:
                raise InvalidPartitions(f"Topic already has {current} partitions.")
            if total > MAX_PARTITIONS:
                raise InvalidPartitions(f"Number of partitions must be at most {MAX_PARTITIONS}")
            for p in range(current, total):
                topic.partitions.append(self._open_partition(topic, p))
            self._write_topic_meta(topic)
        self.events.publish(PartitionsAdded(topic=name, partitions=total))
        return self.describe_topic(name)

    def alter_config(self, name: str, changes: Mapping[str, Any]) -> TopicDescription:
        """Change topic settings (Kafka names); validated as a whole before applying."""
        with self._lock:
            topic = self._topic(name)
            overrides = {**topic.overrides, **{k: str(v) for k, v in changes.items()}}
            cfg = TopicConfig.from_dict(overrides)
            topic.overrides, topic.config = overrides, cfg
            for p in topic.partitions:
                p.config = cfg
            self._write_topic_meta(topic)
        return self.describe_topic(name)

    def _dir(self, name: str) -> Path:
        return self.data_dir / topic_dir_name(name)

    def _migrate(self, directory: Path, name: str) -> bool:
        """Move a topic directory written before :func:`topic_dir_name` (a topic named
        like an engine file, or too long to delete) to its mapped name; False to skip it."""
        home = self._dir(name)
        if directory == home:
            return name not in self._topics
        if directory.name != name or home.exists() or name in self._topics:
            return False
        os.replace(directory, home)
        return True

    def _topic(self, name: str) -> _Topic:
        self._check_open()
        topic = self._topics.get(name)
        if topic is None:
            raise UnknownTopicOrPartition(f"Topic '{name}' does not exist.")
        return topic

    def _check_open(self) -> None:
        if self._closed:
            raise DataDirLocked(f"the log manager of {self.data_dir} is closed")

    def has_topic(self, name: str) -> bool:
        return name in self._topics

    def list_topics(self, include_internal: bool = True) -> list[str]:
        with self._lock:
            return sorted(n for n, t in self._topics.items() if include_internal or not t.internal)

    def is_internal(self, name: str) -> bool:
        return self._topic(name).internal

    def topic_config(self, name: str) -> TopicConfig:
        return self._topic(name).config

    def partition_count(self, name: str) -> int:
        return len(self._topic(name).partitions)

    def partition(self, name: str, partition: int) -> PartitionLog:
        topic = self._topic(name)
        if not isinstance(partition, int) or not 0 <= partition < len(topic.partitions):
            raise UnknownTopicOrPartition(
                f"Partition {partition} of topic '{name}' does not exist: "
                f"valid partitions are 0 to {len(topic.partitions) - 1}"
            )
        return topic.partitions[partition]

    def describe_topic(self, name: str) -> TopicDescription:
        topic = self._topic(name)
        return TopicDescription(
            name=topic.name,
            internal=topic.internal,
            config=topic.config.to_dict(),
            partitions=[
                PartitionInfo(
                    p.partition,
                    p.log_start_offset,
                    p.high_watermark,
                    p.log_end_offset,
                    p.size_bytes,
                    p.segment_count,
                )
                for p in topic.partitions
            ],
        )

    @property
    def recovery_report(self) -> list[Truncation]:
        """What recovery cut from any partition when this data directory was opened."""
        with self._lock:
            return [t for topic in self._topics.values() for p in topic.partitions for t in p.truncations]

    def describe_topics(self) -> list[TopicDescription]:
        return [self.describe_topic(n) for n in self.list_topics()]

    # --- producing ---------------------------------------------------------

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Sequence[Header] = (),
        partition: int | None = None,
        timestamp: int | None = None,
    ) -> tuple[int, int]:
        """Place a record as Kafka's producer would and append it: (partition, offset)."""
        t = self._topic(topic)
        if t.internal:
            # Kafka refuses produce requests to internal topics (INVALID_TOPIC_EXCEPTION):
            # a record of the wrong layout there would leave the data directory unable to
            # open. The group coordinator writes through its own path (offsets_store).
            raise InvalidTopic(
                f"Cannot append to internal topic {topic}: only the group coordinator writes to it, "
                "through offset commits"
            )
        if partition is not None and not (isinstance(partition, int) and 0 <= partition < len(t.partitions)):
            raise UnknownTopicOrPartition(
                f"Partition {partition} of topic '{topic}' does not exist: "
                f"valid partitions are 0 to {len(t.partitions) - 1}"
            )
        p = self.partitioner.partition(topic, key, value, len(t.partitions), partition)
        return p, t.partitions[p].append(key, value, headers, timestamp)

    def produce_many(self, topic: str, records: Sequence[ProduceRecord]) -> list[tuple[int, int]]:
        """Place records as Kafka's producer would and append them: each one's (partition, offset).

        Every record is checked and placed before anything is written; then each
        partition's records are appended in order as batches (as a Kafka producer sends
        a batch per partition), each no bigger than the topic's max.message.bytes allows,
        so a burst costs one write and one event per batch instead of one per record.
        """
        t = self._topic(topic)
        if t.internal:
            raise InvalidTopic(
                f"Cannot append to internal topic {topic}: only the group coordinator writes to it, "
                "through offset commits"
            )
        n = len(t.partitions)
        placed: dict[int, list[int]] = {}
        for i, r in enumerate(records):
            if r.partition is not None and not (isinstance(r.partition, int) and 0 <= r.partition < n):
                raise UnknownTopicOrPartition(
                    f"Partition {r.partition} of topic '{topic}' does not exist: valid partitions are 0 to {n - 1}"
                )
            placed.setdefault(self.partitioner.partition(topic, r.key, r.value, n, r.partition), []).append(i)
        out: list[tuple[int, int]] = [(0, 0)] * len(records)
        for p, indexes in placed.items():
            log = t.partitions[p]
            for chunk in _chunks(records, indexes, log.config.max_message_bytes):
                batch = [(records[i].key, records[i].value, records[i].headers, records[i].timestamp) for i in chunk]
                base = log.append_batch(batch)
                for k, i in enumerate(chunk):
                    out[i] = (p, base + k)
        return out

    # --- housekeeping ------------------------------------------------------

    def maintenance(self, now_ms: int | None = None) -> dict[str, int]:
        """Retention and compaction over every partition (Kafka runs these on a timer)."""
        deleted = compacted = 0
        with self._lock:
            partitions = [p for t in self._topics.values() for p in t.partitions]
        for p in partitions:
            deleted += p.enforce_retention(now_ms)
            compacted += p.compact(now_ms)
        return {"segments_deleted": deleted, "records_compacted": compacted}

    def flush(self) -> None:
        with self._lock:
            for t in self._topics.values():
                for p in t.partitions:
                    p.flush()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            for t in self._topics.values():
                for p in t.partitions:
                    p.close()
            self._closed = True
            self._release_dir_lock()

    def abandon(self) -> None:
        """Let go of everything without a clean shutdown, as a killed process would.

        For recovery tests and simulations: the next open recovers the logs.
        """
        with self._lock:
            if self._closed:
                return
            for t in self._topics.values():
                for p in t.partitions:
                    p.abandon()
            self._closed = True
            self._release_dir_lock()

    def __enter__(self) -> LogManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def lock_holder(data_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """What the process holding ``data_dir`` now wrote into its lock file, or None when
    nobody holds it (a file left by a process that died is ignored: the kernel released
    its flock). Holds the lock for a moment when it is free."""
    try:
        f = open(Path(data_dir) / LOCK_FILE)  # noqa: SIM115 - closed below in every path
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return read_lock_info(data_dir)
    else:
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        return None
    finally:
        f.close()


def read_lock_info(data_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """What the holder of a data directory wrote into its lock file ({} if nothing)."""
    try:
        return dict(json.loads((Path(data_dir) / LOCK_FILE).read_text() or "{}"))
    except (FileNotFoundError, ValueError):
        return {}


_RECORD_OVERHEAD = 64  # bytes a record adds to a batch beyond its key, value and headers (generous)


def _chunks(records: Sequence[ProduceRecord], indexes: list[int], max_bytes: int) -> list[list[int]]:
    """``indexes`` in runs whose batch stays within ``max_bytes``; a record too big alone is a run
    of its own (its append is refused with RecordTooLarge, as a produce of it would be)."""
    runs: list[list[int]] = [[]]
    size = 0
    for i in indexes:
        r = records[i]
        n = _RECORD_OVERHEAD + len(r.key or b"") + len(r.value or b"")
        n += sum(len(k) + len(v or b"") + _RECORD_OVERHEAD for k, v in r.headers)
        if runs[-1] and size + n > max_bytes:
            runs.append([])
            size = 0
        runs[-1].append(i)
        size += n
    return runs
