"""Exceptions named as Apache Kafka names its errors.

Every refusal in logcore raises one of these *before* anything changes, so a caller
that catches it knows the log, the group and the offsets are exactly as they were.
The message always says what was wrong and what is allowed.
"""

from __future__ import annotations


class KafkaError(Exception):
    """Base of every logcore error; ``code`` is Kafka's error name.

    ``kafka_message`` is the description Kafka's ``Errors`` enum gives the code (what a
    Kafka client prints), empty for logcore's own codes; ``str(e)`` says more.
    """

    code = "UNKNOWN_SERVER_ERROR"
    kafka_message = "The server experienced an unexpected error when processing the request."
    retriable = False


class InvalidTopic(KafkaError):
    code = "INVALID_TOPIC_EXCEPTION"
    kafka_message = "The request attempted to perform an operation on an invalid topic."


class TopicAlreadyExists(KafkaError):
    code = "TOPIC_ALREADY_EXISTS"
    kafka_message = "Topic with this name already exists."


class UnknownTopicOrPartition(KafkaError):
    code = "UNKNOWN_TOPIC_OR_PARTITION"
    kafka_message = "This server does not host this topic-partition."


class InvalidPartitions(KafkaError):
    code = "INVALID_PARTITIONS"
    kafka_message = "Number of partitions is below 1."


class InvalidConfig(KafkaError):
    code = "INVALID_CONFIG"
    kafka_message = "Configuration is invalid."


class InvalidRecord(KafkaError):
    code = "INVALID_RECORD"
    kafka_message = "This record has failed the validation on broker and hence will be rejected."


class RecordTooLarge(KafkaError):
    code = "MESSAGE_TOO_LARGE"
    kafka_message = "The request included a message larger than the max message size the server will accept."


class CorruptRecord(KafkaError):
    code = "CORRUPT_MESSAGE"
    kafka_message = (
        "This message has failed its CRC checksum, exceeds the valid size, has a null key for a "
        "compacted topic, or is otherwise corrupt."
    )


class KafkaStorageError(KafkaError):
    """A write or read of a partition's files failed in the operating system (a full
    disk, an I/O error). Nothing of the failed request is acknowledged or left behind;
    the message names the partition and the OS error."""

    code = "KAFKA_STORAGE_ERROR"
    kafka_message = "Disk error when trying to access log file on the disk."
    retriable = True


class OffsetOutOfRange(KafkaError):
    """A fetch or seek outside [log start offset, log end offset]."""

    code = "OFFSET_OUT_OF_RANGE"
    kafka_message = "The requested offset is not within the range of offsets maintained by the server."

    def __init__(self, message: str, *, offset: int = -1, log_start: int = -1, log_end: int = -1):
        super().__init__(message)
        self.offset = offset
        self.log_start = log_start
        self.log_end = log_end


class PolicyViolation(KafkaError):
    code = "POLICY_VIOLATION"
    kafka_message = "Request parameters do not satisfy the configured policy."


class DataDirLocked(KafkaError):
    """Another process holds the data directory."""

    code = "DATA_DIR_LOCKED"
    kafka_message = ""

    def __init__(self, message: str, *, pid: int | None = None):
        super().__init__(message)
        self.pid = pid


class StorageClosed(KafkaError):
    code = "NOT_LEADER_OR_FOLLOWER"
    kafka_message = (
        "For requests intended only for the leader, this error indicates that the broker is not the "
        "current leader. For requests intended for any replica, this error indicates that the "
        "broker is not a replica of the topic partition."
    )


# Consumer-group errors (classic protocol).
class UnknownMemberId(KafkaError):
    code = "UNKNOWN_MEMBER_ID"
    kafka_message = "The coordinator is not aware of this member."


class IllegalGeneration(KafkaError):
    code = "ILLEGAL_GENERATION"
    kafka_message = "Specified group generation id is not valid."


class RebalanceInProgress(KafkaError):
    code = "REBALANCE_IN_PROGRESS"
    kafka_message = "The group is rebalancing, so a rejoin is needed."
    # RebalanceInProgressException extends ApiException, not RetriableException: the
    # client must rejoin, not simply retry the request.
    retriable = False


class OffsetMetadataTooLarge(KafkaError):
    code = "OFFSET_METADATA_TOO_LARGE"
    kafka_message = "The metadata field of the offset request was too large."


class GroupIdNotFound(KafkaError):
    code = "GROUP_ID_NOT_FOUND"
    kafka_message = "The group id does not exist."


class NonEmptyGroup(KafkaError):
    code = "NON_EMPTY_GROUP"
    kafka_message = "The group is not empty."


class InvalidGroupId(KafkaError):
    code = "INVALID_GROUP_ID"
    kafka_message = "The configured groupId is invalid."


class InconsistentGroupProtocol(KafkaError):
    code = "INCONSISTENT_GROUP_PROTOCOL"
    kafka_message = (
        "The group member's supported protocols are incompatible with those of existing members or "
        "first group member tried to join with empty protocol type or empty protocol list."
    )


class GroupSubscribedToTopic(KafkaError):
    code = "GROUP_SUBSCRIBED_TO_TOPIC"
    kafka_message = "The consumer group is actively subscribed to the topic"


class InvalidSessionTimeout(KafkaError):
    code = "INVALID_SESSION_TIMEOUT"
    kafka_message = (
        "The session timeout is not within the range allowed by the broker (as configured by "
        "group.min.session.timeout.ms and group.max.session.timeout.ms)."
    )


class IllegalState(KafkaError):
    """A state move the group protocol forbids: a bug, never user input."""

    code = "ILLEGAL_STATE"
    kafka_message = ""


class InvalidRequest(KafkaError):
    code = "INVALID_REQUEST"
    kafka_message = (
        "This most likely occurs because of a request being malformed by the client library or the "
        "message was sent to an incompatible broker. See the broker logs for more details."
    )


class NoOffsetForPartition(KafkaError):
    """``auto.offset.reset=none`` and nothing committed (Kafka's NoOffsetForPartitionException)."""

    code = "NO_OFFSET_FOR_PARTITION"
    kafka_message = ""


class CommitFailed(KafkaError):
    """The group rebalanced away from this member; its commit cannot be accepted."""

    code = "COMMIT_FAILED"
    kafka_message = ""


# Reaching a real Kafka cluster (logcore.kafka_cluster). Named as Kafka's Errors enum
# names them, so a message says which of the three failed: the network, who you are,
# or what you may do.


class ClusterUnreachable(KafkaError):
    """No broker of the cluster answered within the backend's timeout."""

    code = "NETWORK_EXCEPTION"
    kafka_message = "The server disconnected before a response was received."
    retriable = True


class AuthenticationFailed(KafkaError):
    code = "SASL_AUTHENTICATION_FAILED"
    kafka_message = "SASL Authentication failed."


class AuthorizationFailed(KafkaError):
    """A missing ACL: ``code`` names which kind (topic, group or cluster)."""

    code = "CLUSTER_AUTHORIZATION_FAILED"
    kafka_message = "Cluster authorization failed."

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class UnsupportedVersion(KafkaError):
    code = "UNSUPPORTED_VERSION"
    kafka_message = "The version of API is not supported."
