"""logcore: a pure-Python engine that keeps offsets the way Apache Kafka does.

Partitions are append-only logs of segments with incremental offsets; keys are
placed on partitions as Kafka's producer places them. This package never imports
Django: the web layer and the command line talk to it through its public names.
"""

from . import errors
from .clock import Clock, ManualClock, SystemClock
from .cluster import Cluster, EmbeddedCluster, GroupDescription, PartitionOffsets
from .config import TopicConfig
from .consumer import Consumer, ConsumerRecord
from .events import Event, EventBus
from .groups import GroupCoordinator, GroupState, OffsetAndMetadata
from .log_manager import LogManager, PartitionInfo, TopicDescription, validate_topic_name
from .partition import PartitionLog
from .producer import Producer
from .records import ProduceRecord, Record

__all__ = [
    "Clock",
    "Cluster",
    "Consumer",
    "ConsumerRecord",
    "EmbeddedCluster",
    "Event",
    "EventBus",
    "GroupCoordinator",
    "GroupDescription",
    "GroupState",
    "LogManager",
    "ManualClock",
    "OffsetAndMetadata",
    "PartitionInfo",
    "PartitionLog",
    "PartitionOffsets",
    "ProduceRecord",
    "Producer",
    "Record",
    "SystemClock",
    "TopicConfig",
    "TopicDescription",
    "errors",
    "validate_topic_name",
]
