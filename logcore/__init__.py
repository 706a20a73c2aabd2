"""logcore: a pure-Python engine that keeps offsets the way Apache Kafka does.

Partitions are append-only logs of segments with incremental offsets; keys are
placed on partitions as Kafka's producer places them. This package never imports
Django: the web layer and the command line talk to it through its public names.
"""

from . import errors
from .clock import Clock, ManualClock, SystemClock
from .config import TopicConfig
from .events import Event, EventBus
from .log_manager import LogManager, PartitionInfo, TopicDescription, validate_topic_name
from .partition import PartitionLog
from .records import Record

__all__ = [
    "Clock",
    "Event",
    "EventBus",
    "LogManager",
    "ManualClock",
    "PartitionInfo",
    "PartitionLog",
    "Record",
    "SystemClock",
    "TopicConfig",
    "TopicDescription",
    "errors",
    "validate_topic_name",
]
