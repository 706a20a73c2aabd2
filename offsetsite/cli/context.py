"""What a command works on: one home, so the subcommand modules need not import the CLI's entry point."""

from __future__ import annotations

from dataclasses import dataclass

from logcore.admin import RestorePoints
from logcore.cluster import Cluster, EmbeddedCluster
from logcore.kafka_config import KafkaClusterConfig


@dataclass
class Opened:
    """A cluster for one command, and what the command may need beside it."""

    cluster: Cluster
    # Where executed resets keep the offsets they replaced (None when the server keeps them).
    restore: RestorePoints | None
    # The engine itself when this process holds the data directory (group members need it).
    embedded: EmbeddedCluster | None
    # The Kafka cluster's settings with --bootstrap-server (`consume --group` joins with them).
    kafka: KafkaClusterConfig | None = None
