"""Where a producer puts a record: Kafka's default placement, byte for byte.

The rules come from the Java client:

- ``clients/.../producer/KafkaProducer.java`` (``partition``): an explicit partition
  wins; else a non-null key is hashed; else the record is left to the built-in
  partitioner;
- ``clients/.../producer/internals/BuiltInPartitioner.java`` (``partitionForKey``):
  ``toPositive(murmur2(keyBytes)) % numPartitions``;
- ``clients/.../common/utils/Utils.java`` (``murmur2``, ``toPositive``);
- ``BuiltInPartitioner`` again (KIP-794, "uniform sticky") for null keys: stay on one
  partition until about ``batch.size`` bytes went to it, then move on.

Keeping the hash exact is what makes a key land on the same partition here as with
the Java client and librdkafka's ``murmur2_random`` partitioner.
"""

from __future__ import annotations

import random
import struct
import threading
from dataclasses import dataclass

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "StickyPartitioner",
    "murmur2",
    "partition_for_key",
    "to_positive",
]

# ProducerConfig.BATCH_SIZE_CONFIG default: the sticky partitioner's switch threshold.
DEFAULT_BATCH_SIZE = 16384

_MASK32 = 0xFFFFFFFF
# Utils.murmur2: "'m' and 'r' are mixing constants generated offline."
_SEED = 0x9747B28C
_M = 0x5BD1E995
_R = 24


def _to_signed32(n: int) -> int:
    """Reinterpret the low 32 bits of ``n`` as a Java ``int``."""
    n &= _MASK32
    return n - (1 << 32) if n & 0x80000000 else n


def murmur2(data: bytes) -> int:
    """Kafka's ``Utils.murmur2``: 32-bit MurmurHash2, returned as a signed Java ``int``.

    Every ``*`` is a Java ``int`` multiply, so each product is cut back to 32 bits;
    ``>>>`` is an unsigned shift, which a masked Python int gives for free.
    """
    length = len(data)
    h = (_SEED ^ length) & _MASK32
    length4 = length // 4
    # Utils.murmur2 reads each 4-byte block little-endian ((data[i4+0] & 0xff) +
    # ((data[i4+1] & 0xff) << 8) + ...), whatever the platform's byte order.
    for (k,) in struct.iter_unpack("<I", data[: length4 * 4]):
        k = (k * _M) & _MASK32
        k ^= k >> _R
        k = (k * _M) & _MASK32
        h = (h * _M) & _MASK32
        h ^= k
    # The Java switch falls through: 3 xors in bytes 2, 1, 0; 2 xors in 1, 0; 1 xors in
    # 0. The multiply sits under "case 1" only, so every non-empty tail reaches it and
    # an empty tail (length % 4 == 0) skips it.
    tail = length & ~3
    rest = length % 4
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * _M) & _MASK32
    h ^= h >> 13
    h = (h * _M) & _MASK32
    h ^= h >> 15
    return _to_signed32(h)


def to_positive(n: int) -> int:
    """Kafka's ``Utils.toPositive``: clear the sign bit (``n & 0x7fffffff``).

    Not ``abs``: ``abs(-2**31)`` overflows in Java, and ``abs(-5)`` and
    ``-5 & 0x7fffffff`` are different numbers. Kafka masks, so do we.
    """
    return n & 0x7FFFFFFF


def _check_partition_count(num_partitions: int) -> None:
    if num_partitions < 1:
        raise ValueError(f"a topic has at least 1 partition, got num_partitions={num_partitions}")


def partition_for_key(key: bytes, num_partitions: int) -> int:
    """The partition of a keyed record (``BuiltInPartitioner.partitionForKey``)."""
    _check_partition_count(num_partitions)
    return to_positive(murmur2(key)) % num_partitions


@dataclass
class _StickyState:
    """``BuiltInPartitioner.StickyPartitionInfo``: the current partition and its bytes."""

    partition: int
    produced_bytes: int = 0


class StickyPartitioner:
    """Kafka's default partitioner: explicit partition, murmur2 key, uniform sticky.

    Null-key records of a topic all go to one partition until ``batch_size`` bytes
    went to it (the record that crosses the line still goes there); then a new
    partition is drawn at random for the next ones. Pass a seeded ``rng`` to pin the
    draws in tests. Safe to share between threads.
    """

    def __init__(self, batch_size: int = DEFAULT_BATCH_SIZE, rng: random.Random | None = None) -> None:
        """``batch_size`` is Kafka's ``batch.size``; 0 switches after every record."""
        if batch_size < 0:
            raise ValueError(f"batch_size must be >= 0, got {batch_size}")
        self.batch_size = batch_size
        self._rng = rng if rng is not None else random.Random()
        self._sticky: dict[str, _StickyState] = {}
        self._lock = threading.Lock()

    def partition(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        num_partitions: int,
        explicit: int | None = None,
    ) -> int:
        """The partition for one record, in ``KafkaProducer.partition``'s order.

        Only records placed by the sticky rule count toward the sticky batch: in
        Kafka, ``RecordAccumulator.append`` calls ``updatePartitionInfo`` only when
        the partition was left unknown (no explicit partition, no key).
        """
        _check_partition_count(num_partitions)
        if explicit is not None:
            if not 0 <= explicit < num_partitions:
                raise ValueError(
                    f"partition {explicit} of topic '{topic}' does not exist: "
                    f"allowed partitions are 0 to {num_partitions - 1}"
                )
            return explicit
        if key is not None:
            return partition_for_key(key, num_partitions)
        size = len(value or b"")
        with self._lock:
            state = self._sticky.get(topic)
            # BuiltInPartitioner.peekCurrentPartitionInfo picks a partition the first
            # time; we also re-pick when partitions shrank below the sticky one (a
            # recreated topic), where Kafka's metadata update would do the same.
            if state is None or state.partition >= num_partitions:
                state = _StickyState(self._rng.randrange(num_partitions))
                self._sticky[topic] = state
            chosen = state.partition
            state.produced_bytes += size
            # BuiltInPartitioner.updatePartitionInfo: switch once producedBytes >=
            # stickyBatchSize, after this record was placed.
            if state.produced_bytes >= self.batch_size:
                self._sticky[topic] = _StickyState(self._next_partition(chosen, num_partitions))
        return chosen

    def current_partition(self, topic: str) -> int | None:
        """The partition the next null-key record of ``topic`` goes to, if chosen yet."""
        with self._lock:
            state = self._sticky.get(topic)
            return None if state is None else state.partition

    def _next_partition(self, current: int, num_partitions: int) -> int:
        # Kafka's BuiltInPartitioner.nextPartition draws among all partitions and may
        # draw the same one again; logcore always moves (as the pre-KIP-794
        # StickyPartitionCache did) so that a switch is visible to a learner.
        if num_partitions == 1:
            return 0
        draw = self._rng.randrange(num_partitions - 1)
        return draw if draw < current else draw + 1
