"""Java's ``String.hashCode`` and the ``__consumer_offsets`` partition of a group.

A group's commits and metadata all live on one partition of ``__consumer_offsets``,
chosen by ``Utils.abs(groupId.hashCode()) % offsets.topic.num.partitions``
(``group-coordinator/.../GroupCoordinatorService.java`` ``partitionFor``; before
that ``core/.../GroupMetadataManager.scala`` ``partitionFor``). Matching Java's hash
exactly is what puts a group on the same partition number as Kafka would.
"""

from __future__ import annotations

__all__ = ["java_abs", "java_string_hashcode", "partition_for_group"]

_MASK32 = 0xFFFFFFFF
_INT_MIN = -(1 << 31)


def java_string_hashcode(s: str) -> int:
    """Java's ``String.hashCode``: ``h = 31*h + c`` over UTF-16 code units, as an ``int``.

    Java strings are UTF-16, so a character beyond the BMP counts as its two
    surrogates; ``surrogatepass`` keeps a lone surrogate (legal in a Java string) too.
    """
    units = s.encode("utf-16-be", "surrogatepass")
    h = 0
    for i in range(0, len(units), 2):
        h = (31 * h + ((units[i] << 8) | units[i + 1])) & _MASK32
    return h - (1 << 32) if h & 0x80000000 else h


def java_abs(n: int) -> int:
    """Kafka's ``Utils.abs``: ``abs``, except that ``Integer.MIN_VALUE`` maps to 0.

    ``Math.abs(Integer.MIN_VALUE)`` overflows back to itself in Java, a negative
    partition; ``Utils.abs`` special-cases it to 0 and so do we.
    """
    return 0 if n == _INT_MIN else abs(n)


def partition_for_group(group_id: str, num_partitions: int) -> int:
    """The ``__consumer_offsets`` partition of ``group_id`` (``testgroup`` -> 27 of 50)."""
    if num_partitions < 1:
        raise ValueError(f"__consumer_offsets has at least 1 partition, got {num_partitions}")
    return java_abs(java_string_hashcode(group_id)) % num_partitions
