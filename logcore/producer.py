"""An in-process producer with Kafka's ``KafkaProducer`` surface.

Placement follows Kafka's default partitioner (``partitioner.py``): an explicit
partition wins, a key is hashed with murmur2, a null key sticks to one partition per
batch. Each ``send`` is appended before it returns, so ``flush`` has nothing to wait
for; it exists so code written for Kafka runs unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .records import Header

if TYPE_CHECKING:
    from .cluster import Cluster


@dataclass(frozen=True)
class RecordMetadata:
    topic: str
    partition: int
    offset: int


class Producer:
    def __init__(self, cluster: Cluster, *, client_id: str = "producer") -> None:
        self.cluster = cluster
        self.client_id = client_id
        self.sent = 0

    def send(
        self,
        topic: str,
        value: bytes | str | None = None,
        key: bytes | str | None = None,
        headers: Sequence[tuple[str, bytes | str | None]] = (),
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> RecordMetadata:
        """Append one record; strings are sent as UTF-8 (Kafka's StringSerializer)."""
        hs: list[Header] = [(k, v.encode() if isinstance(v, str) else v) for k, v in headers]
        p, offset = self.cluster.produce(
            topic,
            value.encode() if isinstance(value, str) else value,
            key.encode() if isinstance(key, str) else key,
            hs,
            partition,
            timestamp_ms,
        )
        self.sent += 1
        return RecordMetadata(topic, p, offset)

    def flush(self) -> None:
        """Nothing is buffered: every send was appended before it returned."""

    def close(self) -> None:
        self.flush()
