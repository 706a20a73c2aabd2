"""One segment of a partition's log, as Kafka's ``LogSegment``.

``<base offset>.log`` holds whole batches back to back; ``.index`` and ``.timeindex``
are its sparse indexes. Appends go straight to the kernel with ``os.write`` (no user
space buffer), so a record whose append returned survives the process being killed;
``fsync`` is the flush policy's business (see ``partition.py``).
"""

from __future__ import annotations

import logging
import operator
import os
import struct
import zlib
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

from .errors import CorruptRecord
from .index import OffsetIndex, TimeIndex
from .records import (
    HEADER_SIZE,
    LENGTH_OFFSET,
    MAGICS,
    PREFIX_SIZE,
    BatchHeader,
    Record,
    batch_crc_ok,
    decode_batch,
    parse_header,
)

LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"
TIME_INDEX_SUFFIX = ".timeindex"
_SCAN_CHUNK = 1 << 20
_LENGTH = struct.Struct("<i")
_CRC = struct.Struct("<I")
_log = logging.getLogger(__name__)


def segment_name(base_offset: int) -> str:
    return f"{base_offset:020d}"


class LogSegment:
    """A log file with its two indexes; not thread-safe (the partition locks)."""

    def __init__(self, directory: Path, base_offset: int, index_interval_bytes: int) -> None:
        self.directory = directory
        self.base_offset = base_offset
        name = segment_name(base_offset)
        self.log_path = directory / (name + LOG_SUFFIX)
        self.index = OffsetIndex(directory / (name + INDEX_SUFFIX), base_offset)
        self.time_index = TimeIndex(directory / (name + TIME_INDEX_SUFFIX), base_offset)
        self.index_interval_bytes = index_interval_bytes
        self.size = 0
        self.next_offset = base_offset
        self.max_timestamp = -1
        self.offset_of_max_timestamp = -1
        self.first_batch_timestamp = -1
        self.bytes_since_last_index = 0
        self.unflushed_messages = 0
        self._wfd = -1
        self._rfd = -1
        # Set when a failed append could not be rolled back: the file may hold a partial
        # batch, so the partition must go offline until a restart recovers it.
        self.damaged = False
        # Offset after the last record a recovery cut off (an estimate from the headers
        # that still parse; ``next_offset`` when nothing could be read).
        self.recovery_cut_end = base_offset

    # --- files -------------------------------------------------------------

    def open_files(self, create: bool = False) -> None:
        flags = os.O_WRONLY | os.O_APPEND | (os.O_CREAT if create else 0)
        self._wfd = os.open(self.log_path, flags, 0o644)
        self._rfd = os.open(self.log_path, os.O_RDONLY)

    def close(self) -> None:
        for fd in (self._wfd, self._rfd):
            if fd >= 0:
                os.close(fd)
        self._wfd = self._rfd = -1

    def flush(self) -> None:
        if self._wfd >= 0:
            os.fsync(self._wfd)
        self.unflushed_messages = 0

    def persist_indexes(self, fsync: bool = False) -> None:
        if self.max_timestamp >= 0:
            # Kafka adds the final maximum on roll so the time index covers the segment.
            self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp)
        self.index.persist(fsync)
        self.time_index.persist(fsync)

    def delete_files(self) -> None:
        self.close()
        for path in (self.log_path, self.index.path, self.time_index.path):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    # --- writes ------------------------------------------------------------

    def append(self, data: bytes, base_offset: int, next_offset: int, max_ts: int, count: int) -> None:
        """Write one encoded batch whose records are [base_offset, next_offset)."""
        position = self.size
        since = self.bytes_since_last_index
        if self.bytes_since_last_index > self.index_interval_bytes or position == 0:
            # Kafka indexes the batch that crosses the interval, keyed by its base
            # offset, so a lookup lands on a batch boundary.
            self.index.append(base_offset, position)
            if self.max_timestamp >= 0:
                self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp)
            self.bytes_since_last_index = 0
        total = len(data)
        try:
            written = os.write(self._wfd, data)
            if written < total:  # a short write (a signal, a full disk): finish it
                view = memoryview(data)
                while written < total:
                    written += os.write(self._wfd, view[written:])
        except OSError:
            # Kafka never leaves half a batch behind: cut the file back to the last whole
            # batch and forget the index entry made for this one, then let it fail.
            self.index.truncate_to_position(position)
            self.bytes_since_last_index = since
            try:
                os.ftruncate(self._wfd, position)
            except OSError:
                self.damaged = True
            raise
        self.size = position + total
        self.bytes_since_last_index += total
        self.next_offset = next_offset
        if max_ts > self.max_timestamp:
            self.max_timestamp = max_ts
            self.offset_of_max_timestamp = next_offset - 1 if count == 1 else base_offset
        if self.first_batch_timestamp < 0:
            self.first_batch_timestamp = max_ts
        self.unflushed_messages += count

    # --- reads -------------------------------------------------------------

    def pread(self, size: int, position: int) -> bytes:
        return os.pread(self._rfd, size, position)

    def position_for(self, offset: int) -> int | None:
        """File position of the batch holding ``offset``, or ``None`` past the end."""
        indexed, pos = self.index.lookup(offset)
        expected = indexed if pos else self.base_offset
        check_entry = pos > 0
        if pos and (pos >= self.size or indexed >= self.next_offset):
            _log.warning(
                "%s: index entry (offset %d, position %d) is past the segment's end; scanning from its start",
                self.index.path,
                indexed,
                pos,
            )
            pos, expected, check_entry = 0, self.base_offset, False
        while pos < self.size:
            head = self.pread(HEADER_SIZE, pos)
            if len(head) < HEADER_SIZE:
                raise CorruptRecord(
                    f"{self.log_path}: the batch at position {pos} is cut short (the segment claims {self.size} bytes)"
                )
            h = parse_header(head)
            if check_entry and h.base_offset != indexed:
                # The index entry does not point at the batch it names (a corrupt index
                # file): never trust it, scan the segment from its start instead.
                _log.warning(
                    "%s: index entry (offset %d, position %d) points at a batch with base offset %d; "
                    "scanning the segment from its start",
                    self.index.path,
                    indexed,
                    pos,
                    h.base_offset,
                )
                pos, expected = 0, self.base_offset
                check_entry = False
                continue
            check_entry = False
            if (
                h.base_offset < expected
                or h.last_offset >= self.next_offset
                or h.total_size < HEADER_SIZE
                or pos + h.total_size > self.size
            ):
                raise CorruptRecord(
                    f"{self.log_path}: the batch at position {pos} claims offsets {h.base_offset} to "
                    f"{h.last_offset} and {h.total_size} bytes, which do not follow offset {expected - 1} "
                    f"within this segment (offsets below {self.next_offset}, {self.size} bytes)"
                )
            if h.last_offset >= offset:
                return pos
            expected = h.next_offset
            pos += h.total_size
        return None

    def check_crc(self, buf: bytes, start: int, size: int, position: int) -> None:
        """Check the CRC of the batch at ``start`` of ``buf`` (file position ``position``);
        a mismatch is a ``CorruptRecord`` naming file and offset."""
        (crc,) = _CRC.unpack_from(buf, start + LENGTH_OFFSET)
        if zlib.crc32(memoryview(buf)[start + PREFIX_SIZE : start + size]) != crc:
            h = parse_header(buf, start)
            raise CorruptRecord(
                f"{self.log_path}: the batch at position {position} (offset {h.base_offset}) fails its "
                "CRC check; its records are corrupt on disk"
            )

    def decode_at(self, buf: bytes, start: int, size: int, position: int) -> list[Record]:
        """Decode the batch at ``start`` of ``buf`` (file position ``position``) after
        checking its CRC."""
        self.check_crc(buf, start, size, position)
        return decode_batch(buf, start=start)

    def iter_spans(self, position: int = 0, end: int | None = None) -> Iterator[tuple[int, bytes, int, int]]:
        """(position, buffer, start in buffer, size) of each batch from ``position`` to ``end``.

        Batches are read ``_SCAN_CHUNK`` bytes at a time and handed out as spans of the
        read buffer, so a reader that decodes in place never copies a batch.
        """
        limit = self.size if end is None else end
        pos = position
        buf = b""
        buf_start = pos
        while pos < limit:
            rel = pos - buf_start
            if rel + HEADER_SIZE > len(buf):
                buf = self.pread(max(_SCAN_CHUNK, HEADER_SIZE), pos)
                buf_start, rel = pos, 0
                if len(buf) < HEADER_SIZE:
                    raise CorruptRecord(
                        f"{self.log_path}: the batch at position {pos} is cut short "
                        f"(the segment claims {self.size} bytes)"
                    )
            # batch_length is the int32 after the int64 base offset and counts what follows it.
            total: int = _LENGTH.unpack_from(buf, rel + 8)[0] + LENGTH_OFFSET
            if total < HEADER_SIZE or pos + total > limit:
                raise CorruptRecord(
                    f"{self.log_path}: the batch at position {pos} has a bad length ({total} bytes, "
                    f"{limit - pos} left in the segment)"
                )
            if rel + total > len(buf):
                buf = self.pread(max(_SCAN_CHUNK, total), pos)
                buf_start, rel = pos, 0
                if len(buf) < total:
                    raise CorruptRecord(f"{self.log_path}: the batch at position {pos} is cut short")
            yield pos, buf, rel, total
            pos += total

    def iter_batches(self, position: int = 0, end: int | None = None) -> Iterator[tuple[int, bytes]]:
        """(position, whole batch bytes) from ``position`` to ``end`` (default: size).

        Each batch's CRC is checked: a corrupt one raises ``CorruptRecord``.
        """
        for pos, buf, rel, total in self.iter_spans(position, end):
            batch = buf[rel : rel + total]
            if not batch_crc_ok(batch):
                raise CorruptRecord(
                    f"{self.log_path}: the batch at position {pos} (offset {parse_header(batch).base_offset}) "
                    "fails its CRC check; its records are corrupt on disk"
                )
            yield pos, batch

    def _check_indexes(self) -> None:
        """Kafka's index sanity check: entries ascend and stay inside the segment."""
        offsets, positions = self.index.offsets, self.index.positions
        n = len(offsets)
        if n and (
            self.size == 0
            or offsets[0] < self.base_offset
            or positions[0] < 0
            or positions[-1] >= max(self.size, 1)
            or not all(map(operator.lt, offsets, islice(offsets, 1, None)))
            or not all(map(operator.lt, positions, islice(positions, 1, None)))
        ):
            raise CorruptRecord(f"{self.index.path}: entries are out of order or point past the segment's end")
        ts, toffs = self.time_index.timestamps, self.time_index.offsets
        m = len(ts)
        if m and (
            toffs[0] < self.base_offset
            or not all(map(operator.lt, ts, islice(ts, 1, None)))
            or not all(map(operator.le, toffs, islice(toffs, 1, None)))
        ):
            raise CorruptRecord(f"{self.time_index.path}: entries are out of order")

    def iter_headers(self, position: int = 0) -> Iterator[tuple[int, BatchHeader]]:
        for pos, batch in self.iter_batches(position):
            yield pos, parse_header(batch)

    # --- recovery ----------------------------------------------------------

    def recover(
        self, start_position: int, max_batch_bytes: int, *, contiguous: bool = False, end_offset: int | None = None
    ) -> int:
        """Verify batches from ``start_position`` and cut at the first bad one.

        The CRC does not cover a batch's base offset, so offsets are checked too: they
        must follow the previous batch's (exactly when ``contiguous``; compaction leaves
        gaps, and a topic may have been compacted before) and stay below ``end_offset``
        (the next segment's base offset, or the log end recorded by a clean close).

        Before a call with ``start_position > 0`` the caller loads the indexes and the
        segment's counters as they were at that (flushed) position. Index entries past
        it are rebuilt from the batches kept. Returns the number of bytes cut.
        """
        file_size = os.fstat(self._rfd).st_size
        if start_position > file_size:
            start_position = 0  # the file lost flushed bytes: trust nothing in it
        if start_position == 0:
            self.index.clear()
            self.time_index.clear()
            self.next_offset = self.base_offset
            self.max_timestamp = self.offset_of_max_timestamp = self.first_batch_timestamp = -1
        self.index.truncate_to_position(start_position)
        self.bytes_since_last_index = start_position - self.index.last_position()
        pos = start_position
        while pos < file_size:
            head = self.pread(HEADER_SIZE, pos)
            if len(head) < HEADER_SIZE:
                break
            h = parse_header(head)
            total = h.total_size
            if (
                h.magic not in MAGICS
                or h.record_count <= 0
                or h.batch_length < HEADER_SIZE - LENGTH_OFFSET
                or total > max_batch_bytes
                or pos + total > file_size
                or (pos > 0 and h.base_offset < self.next_offset)
                or (contiguous and h.base_offset != self.next_offset)
                or (end_offset is not None and h.next_offset > end_offset)
                or h.last_offset_delta < 0
            ):
                break
            if not batch_crc_ok(self.pread(total, pos)):
                break
            if pos == 0 or self.bytes_since_last_index > self.index_interval_bytes:
                self.index.append(h.base_offset, pos)
                if self.max_timestamp >= 0:
                    self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp)
                self.bytes_since_last_index = 0
            self.bytes_since_last_index += total
            self.next_offset = h.next_offset
            if h.max_timestamp > self.max_timestamp:
                self.max_timestamp = h.max_timestamp
                self.offset_of_max_timestamp = h.base_offset
            if self.first_batch_timestamp < 0:
                self.first_batch_timestamp = h.max_timestamp
            pos += total
        cut = file_size - pos
        self.recovery_cut_end = max(self.next_offset, self.scan_end_offset(pos, file_size)) if cut else self.next_offset
        if cut:
            os.truncate(self.log_path, pos)
        self.size = pos
        return cut

    def scan_end_offset(self, position: int = 0, file_size: int | None = None) -> int:
        """Best effort: the offset after the last record of the batches from ``position``
        whose headers still parse (CRCs not checked). Says how much a cut drops."""
        end = self.next_offset if position else self.base_offset
        size = os.fstat(self._rfd).st_size if file_size is None else file_size
        pos = position
        while pos + HEADER_SIZE <= size:
            h = parse_header(self.pread(HEADER_SIZE, pos))
            if h.magic not in MAGICS or h.record_count <= 0 or h.total_size < HEADER_SIZE or pos + h.total_size > size:
                break
            if h.base_offset < end or h.last_offset_delta < 0:
                break
            end = h.next_offset
            pos += h.total_size
        return end

    def load_clean(self) -> None:
        """Open after a clean close: trust the indexes, read only the batches after the
        last index entry (their CRCs checked) and check that they end the file exactly."""
        self.size = os.fstat(self._rfd).st_size
        if not self.index.load() or not self.time_index.load():
            raise CorruptRecord(f"missing index for segment {self.log_path.name}")
        self._check_indexes()
        if self.size == 0:
            return
        indexed, pos = self.index.lookup(2**62)
        expected = indexed if pos else self.base_offset
        last: BatchHeader | None = None
        end = pos
        for bpos, h in self.iter_headers(pos):
            if (
                h.magic not in MAGICS
                or h.record_count <= 0
                or h.base_offset < expected
                or (last is None and pos and h.base_offset != indexed)
            ):
                raise CorruptRecord(
                    f"{self.log_path}: the batch at position {bpos} (base offset {h.base_offset}) does not "
                    f"follow offset {expected - 1} of its index"
                )
            last = h
            expected = h.next_offset
            end = bpos + h.total_size
        if last is None or end != self.size:
            raise CorruptRecord(f"segment {self.log_path.name} does not end on a batch boundary")
        self.next_offset = last.next_offset
        first = parse_header(self.pread(HEADER_SIZE, 0))
        self.first_batch_timestamp = first.max_timestamp
        if len(self.time_index):
            self.max_timestamp = self.time_index.timestamps[-1]
            self.offset_of_max_timestamp = self.time_index.offsets[-1]
        if last.max_timestamp > self.max_timestamp:
            self.max_timestamp = last.max_timestamp
            self.offset_of_max_timestamp = last.base_offset
        # Bytes past the last index entry decide when the next one is due.
        self.bytes_since_last_index = self.size - pos
