"""One segment of a partition's log, as Kafka's ``LogSegment``.

``<base offset>.log`` holds whole batches back to back; ``.index`` and ``.timeindex``
are its sparse indexes. Appends go straight to the kernel with ``os.write`` (no user
space buffer), so a record whose append returned survives the process being killed;
``fsync`` is the flush policy's business (see ``partition.py``).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path

from .errors import CorruptRecord
from .index import OffsetIndex, TimeIndex
from .records import HEADER_SIZE, LENGTH_OFFSET, MAGIC, BatchHeader, batch_crc_ok, parse_header

LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"
TIME_INDEX_SUFFIX = ".timeindex"
_SCAN_CHUNK = 1 << 20
_LENGTH = struct.Struct("<i")


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
        if self.bytes_since_last_index > self.index_interval_bytes or position == 0:
            # Kafka indexes the batch that crosses the interval, keyed by its base
            # offset, so a lookup lands on a batch boundary.
            self.index.append(base_offset, position)
            if self.max_timestamp >= 0:
                self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp)
            self.bytes_since_last_index = 0
        total = len(data)
        written = os.write(self._wfd, data)
        if written < total:  # a short write (a signal, a full disk): finish it
            view = memoryview(data)
            while written < total:
                written += os.write(self._wfd, view[written:])
        self.size = position + total
        self.bytes_since_last_index += total
        self.next_offset = next_offset
        if max_ts > self.max_timestamp:
            self.max_timestamp = max_ts
            self.offset_of_max_timestamp = next_offset - 1 if count == 1 else base_offset
        if self.first_batch_timestamp < 0:
            self.first_batch_timestamp = max_ts
        self.unflushed_messages += count

    def truncate_to(self, position: int) -> None:
        """Cut the file back to ``position`` (a batch boundary)."""
        os.truncate(self.log_path, position)
        self.size = position
        self.index.truncate_to_position(position)

    # --- reads -------------------------------------------------------------

    def pread(self, size: int, position: int) -> bytes:
        return os.pread(self._rfd, size, position)

    def position_for(self, offset: int) -> int | None:
        """File position of the batch holding ``offset``, or ``None`` past the end."""
        _, pos = self.index.lookup(offset)
        while pos < self.size:
            head = self.pread(HEADER_SIZE, pos)
            if len(head) < HEADER_SIZE:
                return None
            h = parse_header(head)
            if h.base_offset + h.last_offset_delta >= offset:
                return pos
            pos += h.total_size
        return None

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
                    return
            # batch_length is the int32 after the int64 base offset and counts what follows it.
            total: int = _LENGTH.unpack_from(buf, rel + 8)[0] + LENGTH_OFFSET
            if total < HEADER_SIZE:
                raise CorruptRecord(f"batch at position {pos} of {self.log_path.name} has a bad length")
            if rel + total > len(buf):
                buf = self.pread(max(_SCAN_CHUNK, total), pos)
                buf_start, rel = pos, 0
                if len(buf) < total:
                    return
            yield pos, buf, rel, total
            pos += total

    def iter_batches(self, position: int = 0, end: int | None = None) -> Iterator[tuple[int, bytes]]:
        """(position, whole batch bytes) from ``position`` to ``end`` (default: size)."""
        for pos, buf, rel, total in self.iter_spans(position, end):
            yield pos, buf[rel : rel + total]

    def iter_headers(self, position: int = 0) -> Iterator[tuple[int, BatchHeader]]:
        for pos, batch in self.iter_batches(position):
            yield pos, parse_header(batch)

    # --- recovery ----------------------------------------------------------

    def recover(self, start_position: int, max_batch_bytes: int) -> int:
        """Verify batches from ``start_position`` and cut at the first bad one.

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
                h.magic != MAGIC
                or h.record_count <= 0
                or h.batch_length < HEADER_SIZE - LENGTH_OFFSET
                or total > max_batch_bytes
                or pos + total > file_size
                or (pos > 0 and h.base_offset < self.next_offset)
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
        if cut:
            os.truncate(self.log_path, pos)
        self.size = pos
        return cut

    def load_clean(self) -> None:
        """Open after a clean close: trust the indexes, read only the last batch's header."""
        self.size = os.fstat(self._rfd).st_size
        if not self.index.load() or not self.time_index.load():
            raise CorruptRecord(f"missing index for segment {self.log_path.name}")
        if self.size == 0:
            return
        _, pos = self.index.lookup(2**62)
        last: BatchHeader | None = None
        for _, h in self.iter_headers(pos):
            last = h
        if last is None:
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
