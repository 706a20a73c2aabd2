"""A partition: an append-only log of segments, as Kafka's ``UnifiedLog`` with one replica.

Offsets are assigned on append: a batch's first record gets the log end offset (LEO)
and LEO grows by the number of records. With a single replica the high watermark
(HW) equals LEO after every append; the two keep their own names because everything
a client calls "latest" is the HW.

Durability. Each append is one ``write`` to the kernel, so a record whose append
returned survives the process being killed. ``fsync`` follows Kafka's flush policy
(``flush.messages``, ``flush.ms``; by default never forced, like Kafka, plus on
segment roll and on close). A flush moves the *recovery point*: on an unclean open
only the bytes after it are verified, batch by batch with their CRCs, and the log
is cut back to the last whole batch. After a clean close nothing is scanned: the
indexes are loaded and only the last batch header of the active segment is read.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .clock import Clock, SystemClock
from .config import LONG_MAX, TopicConfig
from .errors import (
    CorruptRecord,
    InvalidRecord,
    KafkaStorageError,
    OffsetOutOfRange,
    RecordTooLarge,
    StorageClosed,
)
from .events import EventBus, RecordsAppended, RecordsDeleted
from .records import HEADER_SIZE, Header, Record, decode_batch, encode_batch, encode_one, encode_stored, parse_header
from .segment import LOG_SUFFIX, LogSegment

if TYPE_CHECKING:
    from .recordbatch import BatchInfo

META_FILE = "partition.json"
EARLIEST_TIMESTAMP = -2
LATEST_TIMESTAMP = -1
MAX_TIMESTAMP = -3
# A batch header claiming more than this is garbage, not a record (recovery bound).
_BATCH_SLACK = 1 << 20
_BYTES_OR_NONE = frozenset((bytes, type(None)))
_offset_of = itemgetter(0)
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Truncation:
    """What one recovery cut from a partition's log (Kafka logs the same on recovery)."""

    topic: str
    partition: int
    file: str
    position: int
    first_offset: int
    last_offset: int  # first_offset - 1 when no whole record could be read in what was cut
    records: int
    bytes: int
    segments_deleted: int


@dataclass(frozen=True)
class RecoveryPoint:
    """Everything below (segment, position) was fsynced and verified."""

    segment: int
    position: int
    next_offset: int
    max_timestamp: int
    offset_of_max_timestamp: int
    first_batch_timestamp: int


def _check_bytes(name: str, value: object) -> None:
    if value is not None and not isinstance(value, bytes | bytearray | memoryview):
        raise InvalidRecord(f"record {name} must be bytes or None, not {type(value).__name__}")


def _check_headers(headers: object) -> None:
    # Fix: a malformed header used to fail deep in the encoder with AttributeError,
    # TypeError or ValueError; refuse it up front with InvalidRecord, as every other
    # bad input is (errors.py: each refusal raises a KafkaError before anything changes).
    if headers is None:
        return
    if isinstance(headers, str | bytes | bytearray | memoryview):
        raise InvalidRecord(f"record headers must be (str, bytes | None) pairs, not {type(headers).__name__}")
    try:
        pairs = list(headers)  # type: ignore[call-overload]
    except TypeError:
        raise InvalidRecord(f"record headers must be (str, bytes | None) pairs, not {type(headers).__name__}") from None
    for h in pairs:
        if not (
            isinstance(h, tuple | list)
            and len(h) == 2
            and isinstance(h[0], str)
            and (h[1] is None or isinstance(h[1], bytes | bytearray | memoryview))
        ):
            raise InvalidRecord(f"a record header must be a (str, bytes | None) pair, not {h!r}")


class PartitionLog:
    """One partition's log. Thread-safe: appends, reads and cleaning share one lock."""

    def __init__(
        self,
        directory: Path,
        topic: str,
        partition: int,
        config: TopicConfig,
        *,
        clock: Clock | None = None,
        events: EventBus | None = None,
    ) -> None:
        self.directory = directory
        self.topic = topic
        self.partition = partition
        self.config = config
        self._clock = clock or SystemClock()
        self._events = events or EventBus()
        self._lock = threading.RLock()
        self._segments: list[LogSegment] = []
        self._bases: list[int] = []
        self._log_start = 0
        self._leo = 0
        self._last_flush_ms = self._clock.monotonic_ms()
        self._closed = False
        self._batch_cache: tuple[int, int, list[Record]] | None = None
        self.recovered_bytes_cut = 0
        # What recovery cut when this log was opened (Kafka logs it; logcore also counts it).
        self.truncations: list[Truncation] = []
        # Set after a storage error that left the files in doubt: refuse everything until
        # a restart recovers the log (Kafka takes the log directory offline).
        self._offline: str | None = None
        directory.mkdir(parents=True, exist_ok=True)
        self._open()

    # --- opening and closing --------------------------------------------------

    def _meta_path(self) -> Path:
        return self.directory / META_FILE

    def _read_meta(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self._meta_path().read_text()))
        except FileNotFoundError:
            return {}
        except ValueError:
            # A torn metadata file: fall back to full recovery, which needs nothing from it.
            return {}

    def _write_meta(self, clean: bool, recovery: RecoveryPoint | None) -> None:
        meta: dict[str, Any] = {"log_start_offset": self._log_start, "clean_shutdown": clean}
        if recovery is not None:
            meta["recovery_point"] = recovery.__dict__
        path = self._meta_path()
        tmp = path.with_name(META_FILE + ".tmp")
        with open(tmp, "w") as f:
            json.dump(meta, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def _open(self) -> None:
        meta = self._read_meta()
        for leftover in self.directory.glob("*.tmp"):
            leftover.unlink()
        for leftover in self.directory.glob("*.cleaned"):
            leftover.unlink()
        bases = []
        for p in self.directory.glob("*" + LOG_SUFFIX):
            stem = p.name[: -len(LOG_SUFFIX)]
            if stem.isascii() and stem.isdigit():
                bases.append(int(stem))
            else:  # not a segment (segments are named by their base offset): left alone
                _log.warning("skipping %s: not a segment file (segments are named <base offset>%s)", p, LOG_SUFFIX)
        bases.sort()
        interval = self.config.index_interval_bytes
        self._segments = [LogSegment(self.directory, b, interval) for b in bases]
        for seg in self._segments:
            seg.open_files()
        clean = bool(meta.get("clean_shutdown"))
        rp_data = meta.get("recovery_point")
        rp = RecoveryPoint(**rp_data) if isinstance(rp_data, dict) else None
        # After a clean close the recovery point is the log end: no batch may go past it.
        clean_end = rp.next_offset if clean and rp is not None and bases and rp.segment == bases[-1] else None
        if clean:
            for i, seg in enumerate(self._segments):
                try:
                    seg.load_clean()
                    last = i == len(self._segments) - 1
                    if not last and seg.next_offset > self._segments[i + 1].base_offset:
                        raise CorruptRecord(f"{seg.log_path}: its offsets run into the next segment's")
                    if (
                        last
                        and rp is not None
                        and rp.segment == seg.base_offset
                        and (rp.position != seg.size or rp.next_offset != seg.next_offset)
                    ):
                        raise CorruptRecord(
                            f"{seg.log_path}: {seg.size} bytes up to offset {seg.next_offset}, but it was "
                            f"closed at {rp.position} bytes up to offset {rp.next_offset}"
                        )
                except CorruptRecord as e:
                    # After a clean close the files should be whole: verify this segment
                    # and every later one batch by batch, and rebuild their indexes.
                    _log.warning("%s; recovering %s-%d from this segment on", e, self.topic, self.partition)
                    clean = False
                    rp = RecoveryPoint(seg.base_offset, 0, seg.base_offset, -1, -1, -1)
                    break
        if not clean:
            self._recover(rp, clean_end)
        if not self._segments:
            start = int(meta.get("log_start_offset", 0))
            self._segments = [self._new_segment(start)]
        self._bases = [s.base_offset for s in self._segments]
        self._leo = self._segments[-1].next_offset
        # The checkpointed log start wins; a crash between deleting segments and writing
        # the checkpoint leaves it behind the first segment, which then decides.
        self._log_start = max(int(meta.get("log_start_offset", 0)), self._segments[0].base_offset)
        self._log_start = min(self._log_start, self._leo)
        if not clean:
            # Fix: this used to write the old recovery point back even when recovery had
            # cut the log *below* it (a torn tail inside the range it claimed). New
            # appends then refilled those bytes and a second crash trusted them unverified:
            # the log end counted a torn batch nobody could read. Make what recovery kept
            # (and its truncations) durable, then the recovery point is the log end.
            for seg in self._segments:
                if rp is None or seg.base_offset >= rp.segment:
                    seg.flush()
                    seg.persist_indexes(fsync=True)
        # Until the next clean close, an open log is by definition not cleanly shut down.
        self._write_meta(False, self._recovery_point_at_end())

    def _recover(self, rp: RecoveryPoint | None, clean_end: int | None = None) -> None:
        max_batch = self.config.max_message_bytes + HEADER_SIZE + _BATCH_SLACK
        kept: list[LogSegment] = []
        cut_from: int | None = None
        for i, seg in enumerate(self._segments):
            if rp is not None and seg.base_offset < rp.segment:
                # Flushed before the recovery point: trusted, but its indexes must load.
                try:
                    seg.load_clean()
                    kept.append(seg)
                    continue
                except CorruptRecord:
                    pass
            start = 0
            if (
                rp is not None
                and seg.base_offset == rp.segment
                and rp.position > 0
                and seg.index.load()
                and seg.time_index.load()
            ):
                start = rp.position
                seg.next_offset = rp.next_offset
                seg.max_timestamp = rp.max_timestamp
                seg.offset_of_max_timestamp = rp.offset_of_max_timestamp
                seg.first_batch_timestamp = rp.first_batch_timestamp
                seg.time_index.truncate_to_offset(rp.next_offset)
            bound = self._segments[i + 1].base_offset if i + 1 < len(self._segments) else clean_end
            # The last segment is only ever appended to (the cleaner never rewrites it), so
            # its batches follow each other exactly: a jump is a corrupt base offset, which
            # the CRC does not cover. Older segments may have compaction's gaps.
            is_last = i == len(self._segments) - 1
            cut = seg.recover(start, max_batch, contiguous=is_last, end_offset=bound)
            self.recovered_bytes_cut += cut
            seg.persist_indexes()
            kept.append(seg)
            if cut:
                cut_from = i + 1
                cut_seg, cut_pos, cut_bytes = seg, seg.size, cut
                break
        if cut_from is not None:
            # Kafka deletes every segment after a corrupt one: their offsets would not follow.
            end = cut_seg.recovery_cut_end
            later = self._segments[cut_from:]
            for seg in later:
                end = max(end, seg.base_offset, seg.scan_end_offset())
                size = seg.log_path.stat().st_size
                self.recovered_bytes_cut += size
                cut_bytes += size
                seg.delete_files()
            self._report_truncation(cut_seg, cut_pos, end, cut_bytes, len(later))
        if not self.config.compact:
            # Offsets missing between segments (a segment that lost its bytes): only a
            # compacted log may have gaps, so say what is gone.
            for a, b in pairwise(kept):
                if a.next_offset < b.base_offset:
                    self._report_truncation(a, a.size, b.base_offset, 0, 0)
        if cut_from is None and clean_end is not None and kept and kept[-1].next_offset < clean_end:
            # A clean close recorded a longer log than its files now hold.
            self._report_truncation(kept[-1], kept[-1].size, clean_end, 0, 0)
        # An empty segment in the middle carries nothing; the first keeps the log start.
        last = len(kept) - 1
        self._segments = [s for j, s in enumerate(kept) if s.size > 0 or j in (0, last)]
        for seg in kept:
            if seg not in self._segments:
                seg.delete_files()

    def _report_truncation(self, seg: LogSegment, position: int, end: int, nbytes: int, later: int) -> None:
        first = seg.next_offset
        t = Truncation(
            self.topic, self.partition, str(seg.log_path), position, first, end - 1, end - first, nbytes, later
        )
        self.truncations.append(t)
        _log.warning(
            "recovery of %s-%d truncated %s at position %d: dropped offsets %d to %d (%d records, "
            "%d bytes%s) after the last whole batch",
            self.topic,
            self.partition,
            t.file,
            t.position,
            t.first_offset,
            t.last_offset,
            t.records,
            t.bytes,
            f", {later} later segments deleted" if later else "",
        )

    @property
    def truncated_records(self) -> int:
        """Records recovery dropped when this log was opened (0 when it cut nothing)."""
        return sum(t.records for t in self.truncations)

    @property
    def offline(self) -> str | None:
        """Why the log refuses requests until a restart, or None when it is online."""
        return self._offline

    def _check_online(self) -> None:
        if self._offline is not None:
            raise KafkaStorageError(
                f"partition {self.topic}-{self.partition} is offline after a storage error "
                f"({self._offline}); restart to recover its log"
            )

    def _storage_error(self, what: str, e: OSError, seg: LogSegment | None, offline: bool) -> KafkaStorageError:
        where = f" ({seg.log_path})" if seg is not None else ""
        detail = f"{e.strerror or e}" + (f" [errno {e.errno}]" if e.errno else "")
        if offline:
            self._offline = f"{what} failed: {detail}"
            _log.error("partition %s-%d goes offline: %s failed%s: %s", self.topic, self.partition, what, where, detail)
        return KafkaStorageError(
            f"cannot {what} partition {self.topic}-{self.partition}{where}: {detail}; "
            + (
                "the partition is offline until a restart recovers its log"
                if offline
                else "nothing of this request was written"
            )
        )

    def _recovery_point_at_end(self) -> RecoveryPoint:
        seg = self._segments[-1]
        return RecoveryPoint(
            seg.base_offset,
            seg.size,
            seg.next_offset,
            seg.max_timestamp,
            seg.offset_of_max_timestamp,
            seg.first_batch_timestamp,
        )

    def _new_segment(self, base_offset: int) -> LogSegment:
        seg = LogSegment(self.directory, base_offset, self.config.index_interval_bytes)
        seg.open_files(create=True)
        return seg

    def close(self) -> None:
        """Flush, persist the indexes and mark the log cleanly shut down."""
        with self._lock:
            if self._closed:
                return
            if self._offline is not None:
                # The files are in doubt: leave them for recovery at the next open.
                for seg in self._segments:
                    seg.close()
                self._closed = True
                return
            active = self._segments[-1]
            active.flush()
            active.persist_indexes(fsync=True)
            self._write_meta(True, self._recovery_point_at_end())
            for seg in self._segments:
                seg.close()
            self._closed = True

    def abandon(self) -> None:
        """Close file descriptors without a clean shutdown (tests of recovery)."""
        with self._lock:
            for seg in self._segments:
                seg.close()
            self._closed = True

    def delete(self) -> None:
        with self._lock:
            for seg in self._segments:
                seg.delete_files()
            self._segments = []
            self._closed = True
            for leftover in self.directory.iterdir():
                leftover.unlink()
            self.directory.rmdir()

    # --- offsets ---------------------------------------------------------------

    @property
    def log_start_offset(self) -> int:
        return self._log_start

    @property
    def log_end_offset(self) -> int:
        return self._leo

    @property
    def high_watermark(self) -> int:
        # One replica: everything appended is "committed" in Kafka's replication sense.
        return self._leo

    @property
    def size_bytes(self) -> int:
        return sum(s.size for s in self._segments)

    @property
    def segment_count(self) -> int:
        return len(self._segments)

    def segment_bases(self) -> list[int]:
        return list(self._bases)

    # --- appends -------------------------------------------------------------

    def _timestamp(self, timestamp: int | None) -> int:
        if timestamp is not None and (not isinstance(timestamp, int) or isinstance(timestamp, bool)):
            # Fix: a str or float timestamp used to escape as TypeError / struct.error.
            raise InvalidRecord(
                f"timestamp must be an int (milliseconds since the epoch), not {type(timestamp).__name__}"
            )
        if timestamp is None or self.config.message_timestamp_type == "LogAppendTime":
            return self._clock.now_ms()
        if timestamp < 0:
            raise InvalidRecord(f"timestamp {timestamp} is negative; use milliseconds since the epoch")
        if timestamp > LONG_MAX:
            # Kafka's timestamps are signed 64-bit longs; the batch header cannot hold more.
            raise InvalidRecord(
                f"timestamp {timestamp} is too large: at most {LONG_MAX} (milliseconds since the epoch)"
            )
        return timestamp

    def append(
        self,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[Header] = (),
        timestamp: int | None = None,
    ) -> int:
        """Append one record; returns its offset."""
        if key is not None and type(key) is not bytes:
            _check_bytes("key", key)
            key = bytes(key)
        if value is not None and type(value) is not bytes:
            _check_bytes("value", value)
            value = bytes(value)
        if key is None and self.config.compact:
            raise InvalidRecord(f"compacted topic {self.topic} cannot accept a record without a key")
        if headers:
            _check_headers(headers)
        # No timestamp means "now" under either timestamp type: skip the checks.
        ts = self._clock.now_ms() if timestamp is None else self._timestamp(timestamp)
        with self._lock:
            if self._closed:
                raise StorageClosed(f"partition {self.topic}-{self.partition} is closed")
            offset = self._leo
            self._write(encode_one(offset, key, value, ts, headers), offset, offset + 1, ts, 1)
        self._appended(offset, 1)
        return offset

    def append_batch(self, records: Sequence[Sequence[Any]], timestamp: int | None = None) -> int:
        """Append records as one batch; returns the base offset.

        Each record is ``(key, value)`` or ``(key, value, headers, timestamp)``; a
        record's own timestamp (not None) wins over ``timestamp``.
        """
        if not records:
            raise InvalidRecord("an append needs at least one record")
        width = len(records[0])
        shape_error = "records must all be (key, value) or (key, value, headers, timestamp)"
        if width not in (2, 4):
            raise InvalidRecord(shape_error)
        try:
            # strict=True is the check that every record has the same width, done in C.
            cols = list(zip(*records, strict=True))
        except ValueError:
            raise InvalidRecord(shape_error) from None
        keys: Sequence[bytes | None] = cols[0]
        values: Sequence[bytes | None] = cols[1]
        for name, col in (("key", keys), ("value", values)):
            # set(map(type, ...)) runs in C: ~15 ns a record against ~60 for a generator.
            if not set(map(type, col)) <= _BYTES_OR_NONE:
                for x in col:
                    _check_bytes(name, x)
                col = [bytes(x) if x is not None else None for x in col]
                if name == "key":
                    keys = col
                else:
                    values = col
        if self.config.compact and None in keys:
            raise InvalidRecord(f"compacted topic {self.topic} cannot accept a record without a key")
        headers: Sequence[Sequence[Header]] | None = None
        timestamps: Sequence[int] | int
        default_ts = self._timestamp(timestamp)
        if width == 4:
            headers = cols[2]
            for h in headers:
                if h:
                    _check_headers(h)
            own = cols[3]
            if (
                self.config.message_timestamp_type != "LogAppendTime"
                and set(map(type, own)) == {int}
                and min(own) >= 0
                and max(own) <= LONG_MAX
            ):
                # Every timestamp is a valid CreateTime: checked together in C, not one
                # call each (a Kafka producer's batch gives each record its own).
                timestamps = list(own)
            elif any(t is not None for t in own):
                timestamps = [default_ts if t is None else self._timestamp(t) for t in own]
            else:
                timestamps = default_ts
        else:
            timestamps = default_ts
        n = len(values)
        with self._lock:
            if self._closed:
                raise StorageClosed(f"partition {self.topic}-{self.partition} is closed")
            base = self._leo
            data = encode_batch(base, keys, values, timestamps, headers)
            max_ts = timestamps if isinstance(timestamps, int) else max(timestamps)
            self._write(data, base, base + n, max_ts, n)
        self._appended(base, n)
        return base

    def append_record_batch(self, batch: BatchInfo) -> int:
        """Store a Kafka producer's RecordBatch v2 whole; returns its base offset.

        ``batch`` comes from ``recordbatch.scan``, which checked it record by record
        (CRC-32C, lengths, offset deltas, the header's timestamps) without copying its
        keys and values out; it is written as sent with only its base offset set
        (records.py, magic 2), as a Kafka broker stores it, and decoded when read.
        Batches that need rewriting go through :meth:`append_batch` instead: a CreateTime
        the header does not sum up (``batch.plain`` false), a LogAppendTime topic (every
        timestamp replaced), a compacted topic (every key checked).
        """
        if not batch.plain or not batch.n_records:
            raise InvalidRecord("this batch cannot be stored whole: append its records with append_batch")
        if self.config.message_timestamp_type == "LogAppendTime" or self.config.compact:
            raise InvalidRecord(
                f"topic {self.topic} rewrites the records it stores (LogAppendTime or compaction): "
                "append them with append_batch"
            )
        if batch.max_timestamp > LONG_MAX:
            raise InvalidRecord(f"timestamp {batch.max_timestamp} is too large: at most {LONG_MAX}")
        n = batch.n_records
        with self._lock:
            if self._closed:
                raise StorageClosed(f"partition {self.topic}-{self.partition} is closed")
            base = self._leo
            data = encode_stored(base, batch.raw, n, batch.base_timestamp, batch.max_timestamp)
            self._write(data, base, base + n, batch.max_timestamp, n)
        self._appended(base, n)
        return base

    def _appended(self, base: int, n: int) -> None:
        """Tell subscribers that ``n`` records landed at ``base`` (after the lock: never under it)."""
        if self._events.has_subscribers:
            self._events.publish(
                RecordsAppended(
                    topic=self.topic,
                    partition=self.partition,
                    base_offset=base,
                    last_offset=base + n - 1,
                    high_watermark=base + n,
                )
            )

    def _write(self, data: bytes, base: int, next_offset: int, max_ts: int, count: int) -> None:
        """Append an encoded batch under the lock: size check, roll, write, flush policy."""
        cfg = self.config
        size = len(data)
        if size - HEADER_SIZE > cfg.max_message_bytes:
            raise RecordTooLarge(
                f"the batch is {size - HEADER_SIZE} bytes, larger than max.message.bytes="
                f"{cfg.max_message_bytes} of topic {self.topic}"
            )
        self._check_online()
        seg = self._segments[-1]
        if seg.size > 0 and (
            seg.size + size > cfg.segment_bytes or max_ts - seg.first_batch_timestamp > cfg.segment_ms
        ):
            try:
                seg = self._roll(base)
            except OSError as e:
                raise self._storage_error("roll a new segment of", e, seg, offline=True) from e
        try:
            seg.append(data, base, next_offset, max_ts, count)
        except OSError as e:
            # The segment cut itself back to its last whole batch (or could not: offline).
            raise self._storage_error("append to", e, seg, offline=seg.damaged) from e
        self._leo = next_offset
        if seg.unflushed_messages >= cfg.flush_messages or (
            cfg.flush_ms < 2**62 and self._clock.monotonic_ms() - self._last_flush_ms >= cfg.flush_ms
        ):
            try:
                self._flush_locked()
            except OSError as e:
                # The batch is written but not known durable: not acknowledged, and the
                # log goes offline (recovery at the next open decides what stays).
                raise self._storage_error("flush", e, seg, offline=True) from e

    def _roll(self, base_offset: int) -> LogSegment:
        old = self._segments[-1]
        # Kafka flushes a segment when it rolls; that moves the recovery point past it.
        old.flush()
        old.persist_indexes(fsync=True)
        seg = self._new_segment(base_offset)
        self._segments.append(seg)
        self._bases.append(base_offset)
        self._write_meta(False, self._recovery_point_at_end())
        return seg

    def roll(self) -> None:
        """Start a new, empty active segment (no-op when the active one is empty)."""
        with self._lock:
            if self._segments[-1].size > 0:
                self._roll(self._leo)

    def flush(self) -> None:
        """fsync the active segment and move the recovery point to the log end."""
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        seg = self._segments[-1]
        seg.flush()
        seg.persist_indexes(fsync=True)
        self._write_meta(False, self._recovery_point_at_end())
        self._last_flush_ms = self._clock.monotonic_ms()

    # --- reads -------------------------------------------------------------

    def _check_range(self, offset: int) -> None:
        if offset < self._log_start or offset > self._leo:
            raise OffsetOutOfRange(
                f"offset {offset} is out of range for partition {self.topic}-{self.partition}: "
                f"valid offsets are {self._log_start} to {self._leo} (log start to log end)",
                offset=offset,
                log_start=self._log_start,
                log_end=self._leo,
            )

    def read(self, offset: int, max_records: int = 500, max_bytes: int = 1_048_576) -> list[Record]:
        """Records from ``offset`` on: at most ``max_records``, about ``max_bytes``.

        Like a Kafka fetch, at least one record is returned when any exists, even if it
        is larger than ``max_bytes``; ``offset == log end`` returns nothing.
        """
        with self._lock:
            if self._closed:
                # Fix: reading a closed (or deleted) partition used to fail with
                # OSError(EBADF) from pread on a closed file descriptor.
                raise StorageClosed(f"partition {self.topic}-{self.partition} is closed")
            self._check_online()
            self._check_range(offset)
            if offset == self._leo or max_records <= 0:
                return []
            # Records are tuple subclasses, which the cyclic GC never untracks (it does
            # exact tuples), so a fetch's ~10,000 young records used to be traversed by
            # two or three collections while being built: ~40% of a sequential read.
            # They hold only ints, bytes and None, so no cycle can form; the collector
            # is paused for this bounded loop and counts them on its next run.
            try:
                if gc.isenabled():
                    gc.disable()
                    try:
                        return self._read_locked(offset, max_records, max_bytes)
                    finally:
                        gc.enable()
                return self._read_locked(offset, max_records, max_bytes)
            except OSError as e:
                raise self._storage_error("read", e, None, offline=False) from e

    def read_batches(self, offset: int, max_bytes: int = 1_048_576) -> list[bytes]:
        """Whole batches as stored (records.py), from the one holding ``offset``.

        For a reader that passes batches on without decoding them: the Kafka listener's
        fetch sends a stored producer batch (magic 2) as it is, as a Kafka broker does.
        CRCs and offsets are checked as :meth:`read` checks them. The first batch may
        start before ``offset`` (a Kafka fetch answers the same; clients skip those
        records); batches stop at about ``max_bytes``, but at least one is returned
        when ``offset`` is below the log end.
        """
        with self._lock:
            if self._closed:
                raise StorageClosed(f"partition {self.topic}-{self.partition} is closed")
            self._check_online()
            self._check_range(offset)
            if offset == self._leo:
                return []
            try:
                return self._read_batches_locked(offset, max_bytes)
            except OSError as e:
                raise self._storage_error("read", e, None, offline=False) from e

    def _read_batches_locked(self, offset: int, max_bytes: int) -> list[bytes]:
        out: list[bytes] = []
        total = 0
        i = max(bisect_right(self._bases, offset) - 1, 0)
        want = offset
        while i < len(self._segments):
            seg = self._segments[i]
            pos = seg.position_for(want)
            if pos is None:
                i += 1
                continue
            floor = seg.base_offset
            for bpos, buf, rel, size in seg.iter_spans(pos):
                if out and total + size > max_bytes:
                    return out
                seg.check_crc(buf, rel, size, bpos)
                h = parse_header(buf, rel)
                # The CRC does not cover the base offset: as in _read_locked.
                if h.base_offset < floor or h.last_offset >= seg.next_offset:
                    raise CorruptRecord(
                        f"{seg.log_path}: the batch at position {bpos} holds offsets {h.base_offset} to "
                        f"{h.last_offset}, not in order after offset {floor - 1} "
                        f"(the segment ends before offset {seg.next_offset})"
                    )
                floor = want = h.next_offset
                out.append(buf[rel : rel + size])
                total += size
            i += 1
        return out

    def _read_locked(self, offset: int, max_records: int, max_bytes: int) -> list[Record]:
        out: list[Record] = []
        budget = max_bytes
        i = max(bisect_right(self._bases, offset) - 1, 0)
        want = offset
        while i < len(self._segments) and len(out) < max_records:
            seg = self._segments[i]
            pos = seg.position_for(want)
            if pos is None:
                i += 1
                continue
            floor = seg.base_offset  # position_for checked the first batch against the index
            for bpos, buf, rel, size in seg.iter_spans(pos):
                cache = self._batch_cache
                if cache is not None and cache[0] == seg.base_offset and cache[1] == bpos:
                    records = cache[2]
                else:
                    records = seg.decode_at(buf, rel, size, bpos)
                    self._batch_cache = (seg.base_offset, bpos, records)
                # The CRC does not cover the base offset: check the batch's offsets follow
                # the previous batch's and stay inside the segment.
                if records[0].offset < floor or records[-1].offset >= seg.next_offset:
                    raise CorruptRecord(
                        f"{seg.log_path}: the batch at position {bpos} holds offsets {records[0].offset} to "
                        f"{records[-1].offset}, not in order after offset {floor - 1} "
                        f"(the segment ends before offset {seg.next_offset})"
                    )
                floor = records[-1].offset + 1
                if records[0].offset < want:
                    # Offsets ascend within a batch: bisect rather than filter each record.
                    records = records[bisect_left(records, want, key=_offset_of) :]
                room = max_records - len(out)
                out.extend(records[:room] if len(records) > room else records)
                budget -= size
                if len(out) >= max_records or budget <= 0:
                    return out
                want = out[-1].offset + 1 if out else want
            i += 1
        return out

    def timestamp_at(self, offset: int) -> int | None:
        """The timestamp of the record at ``offset`` (or the next one after a gap)."""
        with self._lock:
            if offset < self._log_start or offset >= self._leo:
                return None
            records = self.read(offset, max_records=1)
            return records[0].timestamp if records else None

    def offset_for_timestamp(self, timestamp: int) -> tuple[int, int] | None:
        """Kafka's ListOffsets: ``(offset, timestamp)`` or ``None``.

        -2 gives the log start, -1 the high watermark (timestamps -1 as Kafka answers),
        -3 the record with the largest timestamp; otherwise the first offset >= log
        start whose timestamp is >= ``timestamp``.
        """
        with self._lock:
            if timestamp == EARLIEST_TIMESTAMP:
                return self._log_start, -1
            if timestamp == LATEST_TIMESTAMP:
                return self.high_watermark, -1
            if timestamp == MAX_TIMESTAMP:
                return self._max_timestamp_record()
            if timestamp < 0:
                raise InvalidRecord(f"timestamp {timestamp} is not -1, -2, -3 or >= 0")
            for seg in self._segments:
                if seg.max_timestamp < timestamp or seg.next_offset <= self._log_start:
                    continue
                start = max(seg.time_index.lookup(timestamp), self._log_start, seg.base_offset)
                pos = seg.position_for(start)
                if pos is None:
                    continue
                for _, batch in seg.iter_batches(pos):
                    if parse_header(batch).max_timestamp < timestamp:
                        continue
                    for r in decode_batch(batch):  # iter_batches checked the CRC
                        if r.offset >= self._log_start and r.timestamp >= timestamp:
                            return r.offset, r.timestamp
            return None

    def _max_timestamp_record(self) -> tuple[int, int] | None:
        best: tuple[int, int] | None = None
        for seg in self._segments:
            if seg.max_timestamp < 0 or seg.next_offset <= self._log_start:
                continue
            if best is not None and seg.max_timestamp <= best[1]:
                continue
            if seg.offset_of_max_timestamp < self._log_start:
                # Fix: the segment's newest record is below the log start (delete-records),
                # so it is not the answer; the records still readable are. This used to
                # look only for a batch with the segment's maximum and find nothing.
                pos = seg.position_for(self._log_start)
                for _, batch in seg.iter_batches(pos) if pos is not None else ():
                    for r in decode_batch(batch):
                        if r.offset >= self._log_start and (best is None or r.timestamp > best[1]):
                            best = (r.offset, r.timestamp)
                continue
            pos = seg.position_for(max(seg.offset_of_max_timestamp, self._log_start))
            for _, batch in seg.iter_batches(pos or 0):
                if parse_header(batch).max_timestamp != seg.max_timestamp:
                    continue
                for r in decode_batch(batch):
                    if r.offset >= self._log_start and (best is None or r.timestamp > best[1]):
                        best = (r.offset, r.timestamp)
                break
        return best

    # --- deletion: delete-records, retention ----------------------------------

    def delete_records(self, before_offset: int) -> int:
        """Move the log start to ``before_offset`` (Kafka's DeleteRecords); returns it.

        ``-1`` means the high watermark. Whole segments below the new start go.
        """
        with self._lock:
            target = self.high_watermark if before_offset == -1 else before_offset
            if target < 0 or target > self.high_watermark:
                raise OffsetOutOfRange(
                    f"cannot delete records before offset {before_offset} of partition "
                    f"{self.topic}-{self.partition}: allowed is {self._log_start} to "
                    f"{self.high_watermark} (the high watermark), or -1 for the high watermark",
                    offset=before_offset,
                    log_start=self._log_start,
                    log_end=self.high_watermark,
                )
            if target <= self._log_start:
                return self._log_start
            self._log_start = target
            self._drop_segments_below_start()
            # Fix: this used to write _recovery_point_at_end() without an fsync, so the
            # recovery point claimed unsynced bytes were durable and verified; after a
            # power loss they were trusted as-is (zeros read back as batches). Flushing
            # makes the claim true, and checkpoints the new log start with it.
            self._flush_locked()
        self._publish_deleted("delete-records")
        return target

    def _publish_deleted(self, reason: str) -> None:
        if self._events.has_subscribers:
            self._events.publish(
                RecordsDeleted(
                    topic=self.topic,
                    partition=self.partition,
                    log_start_offset=self._log_start,
                    reason=reason,
                )
            )

    def _drop_segments_below_start(self) -> int:
        dropped = 0
        while len(self._segments) > 1 and self._segments[1].base_offset <= self._log_start:
            self._segments.pop(0).delete_files()
            self._bases.pop(0)
            dropped += 1
        if len(self._segments) == 1 and self._log_start >= self._leo and self._segments[0].size:
            # Everything is deleted: replace the active segment with an empty one.
            old = self._segments[0]
            self._segments = [self._new_segment(self._leo)]
            self._bases = [self._leo]
            old.delete_files()
            dropped += 1
        self._batch_cache = None
        return dropped

    def enforce_retention(self, now_ms: int | None = None) -> int:
        """Delete segments by ``retention.ms`` and ``retention.bytes``; returns how many."""
        now = self._clock.now_ms() if now_ms is None else now_ms
        deleted = 0
        with self._lock:
            if not self.config.delete:
                return 0
            cfg = self.config
            total = self.size_bytes
            while self._segments:
                seg = self._segments[0]
                if seg.size == 0 and len(self._segments) == 1:
                    # Fix: this used to stop at *any* empty segment, so the empty first
                    # segment compaction leaves behind (compact,delete) blocked retention
                    # for good. Like Kafka, only an empty active segment is kept.
                    break
                by_time = cfg.retention_ms >= 0 and now - seg.max_timestamp > cfg.retention_ms
                by_size = cfg.retention_bytes >= 0 and total - seg.size >= cfg.retention_bytes
                if not (by_time or by_size):
                    break
                if len(self._segments) == 1:
                    # The active segment goes only by being replaced with a new empty one.
                    self._roll(self._leo)
                total -= seg.size
                self._segments.pop(0).delete_files()
                self._bases.pop(0)
                self._log_start = max(self._log_start, self._segments[0].base_offset)
                deleted += 1
            if deleted:
                self._batch_cache = None
                # Fix: fsync before moving the recovery point to the end (see delete_records).
                self._flush_locked()
        if deleted:
            self._publish_deleted("retention")
        return deleted

    # --- compaction --------------------------------------------------------

    def compact(self, now_ms: int | None = None) -> int:
        """Compact the segments before the active one; returns records removed."""
        from .cleaner import clean_log

        with self._lock:
            if not self.config.compact:
                return 0
            removed = clean_log(self, self._clock.now_ms() if now_ms is None else now_ms)
            self._batch_cache = None
        if removed:
            self._publish_deleted("compaction")
        return removed

    # Internals the cleaner needs, kept explicit rather than reaching into attributes.
    def _all_segments(self) -> list[LogSegment]:
        return list(self._segments)

    def _replace_segments(self, segments: list[LogSegment]) -> None:
        self._segments = segments
        self._bases = [s.base_offset for s in segments]

    def _mark_unclean_from(self, base_offset: int) -> None:
        """Before rewriting a segment: a crash from now on re-verifies it."""
        seg = next(s for s in self._segments if s.base_offset == base_offset)
        self._write_meta(False, RecoveryPoint(seg.base_offset, 0, seg.base_offset, -1, -1, -1))

    def _mark_recovered(self) -> None:
        # Fix: fsync the active segment first, or the recovery point would cover
        # unsynced bytes (see delete_records).
        self._flush_locked()
