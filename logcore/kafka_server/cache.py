"""Recent batches as producers sent them, to answer fetches without re-encoding.

A Kafka broker stores the producer's batch as it came (base offset and leader epoch
set, compression kept) and a fetch sends those bytes back unchanged (zero copy: the
"Efficiency" section of https://kafka.apache.org/documentation/#maximizingefficiency).
logcore keeps its own layout on disk, so the listener keeps the wire form of the most
recent batches beside it: consumers reading the tail of a partition (nearly all of
them) get the producer's bytes, compression included; anything older or appended by
another path (the dashboard, the lab) is read from the log and encoded.

Bounded by ``max_bytes`` overall, oldest batches out first. A partition's entries are
dropped when records leave its log (retention, delete-records, compaction) or its
topic is deleted, so a fetch never returns a record the log no longer holds.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque

Key = tuple[str, int]


class BatchCache:
    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        # Per partition: bases ascending, and base -> (last offset, batch bytes).
        self._bases: dict[Key, list[int]] = {}
        self._batches: dict[Key, dict[int, tuple[int, bytes]]] = {}
        self._order: deque[tuple[Key, int]] = deque()
        self.hits = 0

    def add(self, key: Key, base: int, last: int, batch: bytes) -> None:
        bases = self._bases.setdefault(key, [])
        if bases and base <= self._batches[key][bases[-1]][0]:
            # Offsets went back (the partition was recreated): start this one afresh.
            self.drop(key)
            bases = self._bases.setdefault(key, [])
        bases.append(base)
        self._batches.setdefault(key, {})[base] = (last, batch)
        self._order.append((key, base))
        self.bytes += len(batch)
        while self.bytes > self.max_bytes and self._order:
            old_key, old_base = self._order.popleft()
            entries = self._batches.get(old_key)
            if entries is None or old_base not in entries:
                continue
            self.bytes -= len(entries.pop(old_base)[1])
            self._bases[old_key].remove(old_base)

    def read(self, key: Key, offset: int, max_bytes: int) -> tuple[list[bytes], int]:
        """Contiguous cached batches from the one holding ``offset``: (batches, next offset).

        At least one batch when ``offset`` is cached, even above ``max_bytes`` (Kafka's
        fetch does the same, KIP-74); ([], offset) when it is not.
        """
        bases = self._bases.get(key)
        if not bases:
            return [], offset
        i = bisect_right(bases, offset) - 1
        if i < 0:
            return [], offset
        entries = self._batches[key]
        out: list[bytes] = []
        size = 0
        expect = bases[i]
        while i < len(bases):
            base = bases[i]
            if base != expect:
                break
            last, batch = entries[base]
            if last < offset:
                break
            if out and size + len(batch) > max_bytes:
                break
            out.append(batch)
            size += len(batch)
            expect = last + 1
            i += 1
        if out:
            self.hits += 1
            return out, expect
        return [], offset

    def drop(self, key: Key) -> None:
        entries = self._batches.pop(key, None)
        self._bases.pop(key, None)
        if entries:
            self.bytes -= sum(len(b) for _, b in entries.values())

    def drop_topic(self, topic: str) -> None:
        for key in [k for k in self._batches if k[0] == topic]:
            self.drop(key)
