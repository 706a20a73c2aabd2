"""Sparse indexes of a segment, as Kafka's ``OffsetIndex`` and ``TimeIndex``.

Both live in memory as arrays. On disk each is a file of (int64, int64) pairs,
appended to when the log is flushed, rolled or closed; only the new entries are
written, so a flush costs as much as the data it covers. After an unclean stop the
indexes past the recovery point are rebuilt from the log itself: an index file is
never trusted further than the data it describes.
"""

from __future__ import annotations

import os
import sys
from array import array
from bisect import bisect_right
from pathlib import Path

_LITTLE = sys.byteorder == "little"
_ENTRY = 16


class _PairIndex:
    """Two parallel int64 columns, sorted by the first, persisted incrementally."""

    def __init__(self, path: Path, base_offset: int) -> None:
        self.path = path
        self.base_offset = base_offset
        self._a: array[int] = array("q")
        self._b: array[int] = array("q")
        self._persisted = 0

    def __len__(self) -> int:
        return len(self._a)

    def _append(self, a: int, b: int) -> None:
        self._a.append(a)
        self._b.append(b)

    def _truncate(self, n: int) -> None:
        del self._a[n:]
        del self._b[n:]
        self._persisted = min(self._persisted, n)

    def clear(self) -> None:
        self._truncate(0)

    def load(self) -> bool:
        """Read the file; ``False`` when it is missing or not whole entries."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return False
        if len(data) % _ENTRY:
            return False
        both = array("q")
        both.frombytes(data)
        if not _LITTLE:
            both.byteswap()
        self._a = both[0::2]
        self._b = both[1::2]
        self._persisted = len(self._a)
        return True

    def persist(self, fsync: bool = False) -> None:
        """Write the entries the file does not have yet (and cut what it should not)."""
        n = len(self._a)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size != self._persisted * _ENTRY:
                os.ftruncate(fd, self._persisted * _ENTRY)
            if n > self._persisted:
                both = array("q", bytes(16 * (n - self._persisted)))
                both[0::2] = self._a[self._persisted :]
                both[1::2] = self._b[self._persisted :]
                if not _LITTLE:
                    both.byteswap()
                os.pwrite(fd, both.tobytes(), self._persisted * _ENTRY)
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        self._persisted = n


class OffsetIndex(_PairIndex):
    """Offset -> file position, one entry every ``index.interval.bytes``."""

    @property
    def offsets(self) -> array[int]:
        return self._a

    @property
    def positions(self) -> array[int]:
        return self._b

    def append(self, offset: int, position: int) -> None:
        self._append(offset, position)

    def lookup(self, offset: int) -> tuple[int, int]:
        """The greatest entry <= ``offset`` as (offset, position); (base, 0) if none."""
        i = bisect_right(self._a, offset) - 1
        if i < 0:
            return self.base_offset, 0
        return self._a[i], self._b[i]

    def last_position(self) -> int:
        return self._b[-1] if self._b else 0

    def truncate_to_position(self, position: int) -> None:
        """Drop entries that point at or past ``position`` (the log was cut there)."""
        self._truncate(bisect_right(self._b, position - 1))


class TimeIndex(_PairIndex):
    """Max timestamp so far -> an offset at or before it; appended when the max grows."""

    @property
    def timestamps(self) -> array[int]:
        return self._a

    @property
    def offsets(self) -> array[int]:
        return self._b

    def maybe_append(self, timestamp: int, offset: int) -> None:
        if not self._a or timestamp > self._a[-1]:
            self._append(timestamp, offset)

    def lookup(self, timestamp: int) -> int:
        """An offset from which a scan finds the first record with ts >= ``timestamp``.

        Entries hold the running maximum, so every record before the offset of the
        last entry whose maximum is below ``timestamp`` is older than it too.
        """
        i = bisect_right(self._a, timestamp - 1) - 1
        if i < 0:
            return self.base_offset
        return self._b[i]

    def truncate_to_offset(self, offset: int) -> None:
        """Drop entries for offsets >= ``offset``."""
        self._truncate(bisect_right(self._b, offset - 1))
