"""Exceptions named as Apache Kafka names its errors.

Every refusal in logcore raises one of these *before* anything changes, so a caller
that catches it knows the log, the group and the offsets are exactly as they were.
The message always says what was wrong and what is allowed.
"""

from __future__ import annotations


class KafkaError(Exception):
    """Base of every logcore error; ``code`` is Kafka's error name."""

    code = "UNKNOWN_SERVER_ERROR"
    retriable = False


class InvalidTopic(KafkaError):
    code = "INVALID_TOPIC_EXCEPTION"


class TopicAlreadyExists(KafkaError):
    code = "TOPIC_ALREADY_EXISTS"


class UnknownTopicOrPartition(KafkaError):
    code = "UNKNOWN_TOPIC_OR_PARTITION"


class InvalidPartitions(KafkaError):
    code = "INVALID_PARTITIONS"


class InvalidConfig(KafkaError):
    code = "INVALID_CONFIG"


class InvalidRecord(KafkaError):
    code = "INVALID_RECORD"


class RecordTooLarge(KafkaError):
    code = "MESSAGE_TOO_LARGE"


class CorruptRecord(KafkaError):
    code = "CORRUPT_MESSAGE"


class OffsetOutOfRange(KafkaError):
    """A fetch or seek outside [log start offset, log end offset]."""

    code = "OFFSET_OUT_OF_RANGE"

    def __init__(self, message: str, *, offset: int = -1, log_start: int = -1, log_end: int = -1):
        super().__init__(message)
        self.offset = offset
        self.log_start = log_start
        self.log_end = log_end


class PolicyViolation(KafkaError):
    code = "POLICY_VIOLATION"


class DataDirLocked(KafkaError):
    """Another process holds the data directory."""

    code = "DATA_DIR_LOCKED"

    def __init__(self, message: str, *, pid: int | None = None):
        super().__init__(message)
        self.pid = pid


class StorageClosed(KafkaError):
    code = "NOT_LEADER_OR_FOLLOWER"


# Consumer-group errors (classic protocol).
class UnknownMemberId(KafkaError):
    code = "UNKNOWN_MEMBER_ID"


class IllegalGeneration(KafkaError):
    code = "ILLEGAL_GENERATION"


class RebalanceInProgress(KafkaError):
    code = "REBALANCE_IN_PROGRESS"
    retriable = True


class OffsetMetadataTooLarge(KafkaError):
    code = "OFFSET_METADATA_TOO_LARGE"


class GroupIdNotFound(KafkaError):
    code = "GROUP_ID_NOT_FOUND"


class NonEmptyGroup(KafkaError):
    code = "NON_EMPTY_GROUP"


class InvalidGroupId(KafkaError):
    code = "INVALID_GROUP_ID"


class InconsistentGroupProtocol(KafkaError):
    code = "INCONSISTENT_GROUP_PROTOCOL"


class GroupSubscribedToTopic(KafkaError):
    code = "GROUP_SUBSCRIBED_TO_TOPIC"


class InvalidSessionTimeout(KafkaError):
    code = "INVALID_SESSION_TIMEOUT"


class IllegalState(KafkaError):
    """A state move the group protocol forbids: a bug, never user input."""

    code = "ILLEGAL_STATE"


class InvalidRequest(KafkaError):
    code = "INVALID_REQUEST"


class NoOffsetForPartition(KafkaError):
    """``auto.offset.reset=none`` and nothing committed (Kafka's NoOffsetForPartitionException)."""

    code = "NO_OFFSET_FOR_PARTITION"


class CommitFailed(KafkaError):
    """The group rebalanced away from this member; its commit cannot be accepted."""

    code = "COMMIT_FAILED"
