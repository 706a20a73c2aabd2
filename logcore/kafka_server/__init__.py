"""A Kafka protocol listener over logcore's engine: unmodified Kafka clients connect to it.

``KafkaListener(cluster, lock, host, port).start()`` serves ``cluster`` (an
``EmbeddedCluster``) to Kafka clients from a thread of this process; see
docs/kafka-listener.md for what is supported.
"""

from .server import DEFAULT_PORT, KafkaListener, parse_listener

__all__ = ["DEFAULT_PORT", "KafkaListener", "parse_listener"]
