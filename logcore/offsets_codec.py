"""Kafka's ``__consumer_offsets`` record layouts and the consumer protocol's bytes.

Every layout here is Kafka's generated message format for a non-flexible version:
big-endian, an int16 version first, strings as int16 length + UTF-8 (-1 for a null
string), bytes as int32 length + data (-1 for null), arrays as int32 count + items.
The field lists are those of Kafka's JSON message specs:

- ``group-coordinator/src/main/resources/common/message/OffsetCommitKey.json``
  (key versions 0 and 1), ``OffsetCommitValue.json`` (0-3; 4+ is flexible),
  ``GroupMetadataKey.json`` (key version 2), ``GroupMetadataValue.json`` (0-3; 4+ is
  flexible);
- ``clients/src/main/resources/common/message/ConsumerProtocolSubscription.json``
  and ``ConsumerProtocolAssignment.json`` (the ``metadata`` a consumer sends in
  JoinGroup and the ``assignment`` the leader sends in SyncGroup).

The key's version doubles as the record type (``GroupMetadataManager`` /
``CoordinatorRecordSerde``): 0 and 1 are offset commits, 2 is group metadata. Keeping
these bytes exact means a Kafka record browser (or ``kafka-console-consumer`` with
the offsets formatter) reads logcore's ``__consumer_offsets`` as its own.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from .errors import CorruptRecord

__all__ = [
    "ConsumerAssignment",
    "ConsumerSubscription",
    "GroupMetadataKey",
    "GroupMetadataValue",
    "MemberMetadata",
    "OffsetCommitKey",
    "OffsetCommitValue",
    "SchemaError",
    "decode_assignment",
    "decode_group_value",
    "decode_key",
    "decode_offset_value",
    "decode_subscription",
    "encode_assignment",
    "encode_group_value",
    "encode_key",
    "encode_offset_value",
    "encode_subscription",
]

T = TypeVar("T")
TopicPartition = tuple[str, int]

# Record types carried in the key's version (GroupMetadataManager.scala /
# CoordinatorRecordType): what follows the version depends on it.
OFFSET_COMMIT_KEY_VERSIONS = (0, 1)
GROUP_METADATA_KEY_VERSION = 2


class SchemaError(CorruptRecord):
    """Bytes that do not follow the layout they claim (Kafka's ``SchemaException``)."""


# --- primitive writers and reader -------------------------------------------

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")
_HH = struct.Struct(">hh")
# OffsetCommitValue v3 up to the metadata string: version, offset, leader epoch.
_VALUE_V3_FIXED = struct.Struct(">hqi")
_VALUE_V3_HEAD = struct.Struct(">hqih")  # ... and the metadata length


def _int16(n: int) -> bytes:
    return struct.pack(">h", n)


def _int32(n: int) -> bytes:
    return struct.pack(">i", n)


def _int64(n: int) -> bytes:
    return struct.pack(">q", n)


def _string(s: str, name: str) -> bytes:
    data = s.encode("utf-8")
    # Kafka's STRING is an int16 length: 32767 bytes at most.
    if len(data) > 0x7FFF:
        raise ValueError(f"{name} is {len(data)} bytes in UTF-8; Kafka strings hold at most 32767")
    return _int16(len(data)) + data


def _nullable_string(s: str | None, name: str) -> bytes:
    return _int16(-1) if s is None else _string(s, name)


def _bytes(b: bytes) -> bytes:
    return _int32(len(b)) + b


def _nullable_bytes(b: bytes | None) -> bytes:
    return _int32(-1) if b is None else _bytes(b)


def _array(items: Sequence[T], write: Callable[[T], bytes]) -> bytes:
    return _int32(len(items)) + b"".join(write(item) for item in items)


class _Reader:
    """Reads Kafka's primitive types from ``data``; any shortfall is a ``SchemaError``."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.what = what

    def _take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise SchemaError(
                f"{self.what}: needs {n} bytes at position {self.pos}, "
                f"only {len(self.data) - self.pos} left of {len(self.data)}"
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def int16(self) -> int:
        value: int = struct.unpack(">h", self._take(2))[0]
        return value

    def int32(self) -> int:
        value: int = struct.unpack(">i", self._take(4))[0]
        return value

    def int64(self) -> int:
        value: int = struct.unpack(">q", self._take(8))[0]
        return value

    def nullable_string(self) -> str | None:
        n = self.int16()
        if n == -1:
            return None
        if n < 0:
            raise SchemaError(f"{self.what}: string length {n} at position {self.pos - 2}")
        try:
            return str(self._take(n), "utf-8")
        except UnicodeDecodeError as e:
            raise SchemaError(f"{self.what}: a string is not valid UTF-8 ({e})") from None

    def string(self) -> str:
        at = self.pos
        s = self.nullable_string()
        if s is None:
            raise SchemaError(f"{self.what}: null where a string is required (position {at})")
        return s

    def nullable_bytes(self) -> bytes | None:
        n = self.int32()
        if n == -1:
            return None
        if n < 0:
            raise SchemaError(f"{self.what}: bytes length {n} at position {self.pos - 4}")
        return bytes(self._take(n))

    def bytes_(self) -> bytes:
        at = self.pos
        b = self.nullable_bytes()
        if b is None:
            raise SchemaError(f"{self.what}: null where bytes are required (position {at})")
        return b

    def array(self, read: Callable[[], T]) -> list[T]:
        n = self.int32()
        if n < 0:
            raise SchemaError(f"{self.what}: array count {n} at position {self.pos - 4}")
        # Each item takes at least one byte: a count beyond what is left is corrupt
        # (and must not make us allocate a huge list first).
        if n > len(self.data) - self.pos:
            raise SchemaError(f"{self.what}: array of {n} items in {len(self.data) - self.pos} bytes")
        return [read() for _ in range(n)]

    def done(self) -> None:
        if self.pos != len(self.data):
            raise SchemaError(f"{self.what}: {len(self.data) - self.pos} bytes left over after the last field")


# --- keys ----------------------------------------------------------------------


@dataclass(frozen=True)
class OffsetCommitKey:
    """Key of a committed offset: (group, topic, partition). Kafka writes version 1."""

    group: str
    topic: str
    partition: int
    version: int = 1


@dataclass(frozen=True)
class GroupMetadataKey:
    """Key of a group's metadata record: the group id (key version 2)."""

    group: str
    version: int = GROUP_METADATA_KEY_VERSION


def encode_key(key: OffsetCommitKey | GroupMetadataKey) -> bytes:
    """The bytes of an ``__consumer_offsets`` record key."""
    if isinstance(key, OffsetCommitKey):
        if key.version not in OFFSET_COMMIT_KEY_VERSIONS:
            raise ValueError(f"offset commit keys are versions 0 and 1, not {key.version}")
        return _int16(key.version) + _string(key.group, "group") + _string(key.topic, "topic") + _int32(key.partition)
    if key.version != GROUP_METADATA_KEY_VERSION:
        raise ValueError(f"group metadata keys are version 2, not {key.version}")
    return _int16(key.version) + _string(key.group, "group")


def _fast_offset_key(data: bytes) -> OffsetCommitKey | None:
    # The common case on replay (a well-formed v1 key) without the generic reader;
    # anything unusual returns None and goes through the careful path and its errors.
    n = len(data)
    if n < 8:
        return None
    version, group_len = _HH.unpack_from(data)
    topic_at = 4 + group_len
    if version != 1 or group_len < 0 or topic_at + 2 > n:
        return None
    (topic_len,) = _I16.unpack_from(data, topic_at)
    partition_at = topic_at + 2 + topic_len
    if topic_len < 0 or partition_at + 4 != n:
        return None
    try:
        group = data[4:topic_at].decode()
        topic = data[topic_at + 2 : partition_at].decode()
    except UnicodeDecodeError:
        return None
    return OffsetCommitKey(group, topic, _I32.unpack_from(data, partition_at)[0])


def decode_key(data: bytes) -> OffsetCommitKey | GroupMetadataKey:
    """Read a key, dispatching on its version: 0/1 offset commit, 2 group metadata.

    Other versions are records of Kafka's new group coordinator (consumer groups of
    KIP-848, share groups, ...) that logcore neither writes nor reads.
    """
    fast = _fast_offset_key(data)
    if fast is not None:
        return fast
    r = _Reader(data, "__consumer_offsets key")
    version = r.int16()
    key: OffsetCommitKey | GroupMetadataKey
    if version in OFFSET_COMMIT_KEY_VERSIONS:
        key = OffsetCommitKey(r.string(), r.string(), r.int32(), version)
    elif version == GROUP_METADATA_KEY_VERSION:
        key = GroupMetadataKey(r.string())
    else:
        raise SchemaError(
            f"__consumer_offsets key version {version} is not an offset commit (0, 1) or group metadata (2) key"
        )
    r.done()
    return key


# --- offset commit value ---------------------------------------------------------


@dataclass(frozen=True)
class OffsetCommitValue:
    """A committed offset (OffsetCommitValue.json), written as ``version`` (default 3).

    ``offset`` is the next record to read. ``leader_epoch`` exists from version 3 (-1
    none); ``expire_timestamp`` only in version 1 (-1 none). Both are "ignorable" in
    Kafka's spec: a version without the field silently drops it.
    """

    offset: int
    leader_epoch: int = -1
    metadata: str = ""
    commit_timestamp: int = -1
    expire_timestamp: int = -1
    version: int = 3


def encode_offset_value(value: OffsetCommitValue) -> bytes:
    """The bytes of a committed offset, in ``value.version`` (0 to 3)."""
    v = value.version
    if v == 3:
        return (
            _VALUE_V3_FIXED.pack(3, value.offset, value.leader_epoch)
            + _string(value.metadata, "offset metadata")
            + _I64.pack(value.commit_timestamp)
        )
    if not 0 <= v <= 3:
        raise ValueError(f"OffsetCommitValue version {v} is not one logcore writes (0-3; 4+ is flexible)")
    out = [_int16(v), _int64(value.offset)]
    if v >= 3:
        out.append(_int32(value.leader_epoch))
    out.append(_string(value.metadata, "offset metadata"))
    out.append(_int64(value.commit_timestamp))
    if v == 1:
        out.append(_int64(value.expire_timestamp))
    return b"".join(out)


def decode_offset_value(data: bytes) -> OffsetCommitValue:
    """Read a committed offset of version 0 to 3."""
    # Fast path for the version logcore writes; the careful reader handles the rest.
    n = len(data)
    if n >= 16:
        version, offset, leader_epoch, metadata_len = _VALUE_V3_HEAD.unpack_from(data)
        if version == 3 and metadata_len >= 0 and 16 + metadata_len + 8 == n:
            try:
                metadata = data[16 : 16 + metadata_len].decode()
            except UnicodeDecodeError:
                pass
            else:
                commit_timestamp = _I64.unpack_from(data, 16 + metadata_len)[0]
                return OffsetCommitValue(offset, leader_epoch, metadata, commit_timestamp)
    r = _Reader(data, "offset commit value")
    v = r.int16()
    if not 0 <= v <= 3:
        raise SchemaError(f"offset commit value version {v} is not supported (0-3)")
    offset = r.int64()
    leader_epoch = r.int32() if v >= 3 else -1
    metadata = r.string()
    commit_timestamp = r.int64()
    expire_timestamp = r.int64() if v == 1 else -1
    r.done()
    return OffsetCommitValue(offset, leader_epoch, metadata, commit_timestamp, expire_timestamp, v)


# --- group metadata value --------------------------------------------------------


@dataclass(frozen=True)
class MemberMetadata:
    """One member in a group metadata record (GroupMetadataValue.MemberMetadata).

    ``subscription`` is the member's metadata for the chosen protocol (for consumers,
    ConsumerProtocolSubscription bytes) and ``assignment`` what the leader gave it.
    """

    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout: int
    session_timeout: int
    subscription: bytes
    assignment: bytes


@dataclass(frozen=True)
class GroupMetadataValue:
    """A group's state (GroupMetadataValue.json), written as ``version`` (default 3).

    ``protocol`` and ``leader`` are null while the group has no generation in
    progress; ``current_state_timestamp`` (version 2+) is when the group entered its
    state, -1 unknown.
    """

    protocol_type: str
    generation: int
    protocol: str | None
    leader: str | None
    current_state_timestamp: int = -1
    members: Sequence[MemberMetadata] = field(default_factory=tuple)
    version: int = 3

    def __post_init__(self) -> None:
        # Stored as a tuple so that a value equals its decoded copy and stays frozen.
        object.__setattr__(self, "members", tuple(self.members))


def _encode_member(m: MemberMetadata, v: int) -> bytes:
    out = [_string(m.member_id, "member id")]
    if v >= 3:
        out.append(_nullable_string(m.group_instance_id, "group instance id"))
    out.append(_string(m.client_id, "client id"))
    out.append(_string(m.client_host, "client host"))
    if v >= 1:
        out.append(_int32(m.rebalance_timeout))
    out.append(_int32(m.session_timeout))
    out.append(_bytes(m.subscription))
    out.append(_bytes(m.assignment))
    return b"".join(out)


def encode_group_value(value: GroupMetadataValue) -> bytes:
    """The bytes of a group metadata record, in ``value.version`` (0 to 3)."""
    v = value.version
    if not 0 <= v <= 3:
        raise ValueError(f"GroupMetadataValue version {v} is not one logcore writes (0-3; 4+ is flexible)")
    out = [
        _int16(v),
        _string(value.protocol_type, "protocol type"),
        _int32(value.generation),
        _nullable_string(value.protocol, "protocol"),
        _nullable_string(value.leader, "leader"),
    ]
    if v >= 2:
        out.append(_int64(value.current_state_timestamp))
    out.append(_array(list(value.members), lambda m: _encode_member(m, v)))
    return b"".join(out)


def decode_group_value(data: bytes) -> GroupMetadataValue:
    """Read a group metadata record of version 0 to 3."""
    r = _Reader(data, "group metadata value")
    v = r.int16()
    if not 0 <= v <= 3:
        raise SchemaError(f"group metadata value version {v} is not supported (0-3)")
    protocol_type = r.string()
    generation = r.int32()
    protocol = r.nullable_string()
    leader = r.nullable_string()
    current_state_timestamp = r.int64() if v >= 2 else -1

    def member() -> MemberMetadata:
        member_id = r.string()
        group_instance_id = r.nullable_string() if v >= 3 else None
        client_id = r.string()
        client_host = r.string()
        rebalance_timeout = r.int32() if v >= 1 else None
        session_timeout = r.int32()
        # Version 0 had no rebalance timeout; Kafka's loader used the session timeout
        # (GroupMetadataManager.readGroupMessageValue).
        if rebalance_timeout is None:
            rebalance_timeout = session_timeout
        return MemberMetadata(
            member_id,
            group_instance_id,
            client_id,
            client_host,
            rebalance_timeout,
            session_timeout,
            r.bytes_(),
            r.bytes_(),
        )

    members = tuple(r.array(member))
    r.done()
    return GroupMetadataValue(protocol_type, generation, protocol, leader, current_state_timestamp, members, v)


# --- consumer protocol -------------------------------------------------------------


def _normalize(partitions: Sequence[TopicPartition]) -> tuple[TopicPartition, ...]:
    # Callers hand in lists, tuples, or JSON-ish [topic, partition] pairs.
    return tuple((topic, partition) for topic, partition in partitions)


def _group_by_topic(partitions: Sequence[TopicPartition]) -> list[tuple[str, list[int]]]:
    # CollectionUtils.groupPartitionsByTopic; topics keep their first appearance.
    grouped: dict[str, list[int]] = {}
    for topic, partition in partitions:
        grouped.setdefault(topic, []).append(partition)
    return list(grouped.items())


def _topic_partitions(item: tuple[str, list[int]]) -> bytes:
    return _string(item[0], "topic") + _array(item[1], _int32)


def _read_topic_partitions(r: _Reader) -> list[TopicPartition]:
    out: list[TopicPartition] = []
    for topic, partitions in r.array(lambda: (r.string(), r.array(r.int32))):
        out.extend((topic, p) for p in partitions)
    return out


# ConsumerProtocolSubscription.json / ConsumerProtocolAssignment.json: validVersions
# 0-3, and ConsumerProtocol parses a newer version as the highest it knows.
_CONSUMER_PROTOCOL_HIGHEST = 3


@dataclass(frozen=True)
class ConsumerSubscription:
    """A consumer's JoinGroup metadata (ConsumerProtocolSubscription), default version 1.

    ``owned_partitions`` (v1+) is what the member holds going into the rebalance,
    the input of the sticky assignors; ``generation_id`` (v2+) the generation it got
    them in; ``rack_id`` (v3+, KIP-881) its rack.
    """

    topics: Sequence[str]
    owned_partitions: Sequence[TopicPartition] = ()
    user_data: bytes | None = None
    generation_id: int = -1
    rack_id: str | None = None
    version: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "topics", tuple(self.topics))
        object.__setattr__(self, "owned_partitions", _normalize(self.owned_partitions))


def encode_subscription(sub: ConsumerSubscription) -> bytes:
    """The bytes of a subscription: int16 version, then the fields of that version."""
    v = sub.version
    if not 0 <= v <= _CONSUMER_PROTOCOL_HIGHEST:
        raise ValueError(f"ConsumerProtocolSubscription version {v} is not one of 0-3")
    out = [
        _int16(v),
        _array(list(sub.topics), lambda t: _string(t, "topic")),
        _nullable_bytes(sub.user_data),
    ]
    if v >= 1:
        out.append(_array(_group_by_topic(sub.owned_partitions), _topic_partitions))
    if v >= 2:
        out.append(_int32(sub.generation_id))
    if v >= 3:
        out.append(_nullable_string(sub.rack_id, "rack id"))
    return b"".join(out)


def decode_subscription(data: bytes) -> ConsumerSubscription:
    """Read a subscription; a version above 3 is read as 3, as ``ConsumerProtocol`` does.

    Bytes after the known fields are ignored for the same reason: newer versions
    only append fields.
    """
    r = _Reader(data, "consumer protocol subscription")
    version = r.int16()
    if version < 0:
        raise SchemaError(f"Unsupported subscription version: {version}")
    v = min(version, _CONSUMER_PROTOCOL_HIGHEST)
    topics = r.array(r.string)
    user_data = r.nullable_bytes()
    owned = _read_topic_partitions(r) if v >= 1 else []
    generation_id = r.int32() if v >= 2 else -1
    rack_id = r.nullable_string() if v >= 3 else None
    return ConsumerSubscription(topics, owned, user_data, generation_id, rack_id, version)


@dataclass(frozen=True)
class ConsumerAssignment:
    """What the leader gives one consumer in SyncGroup (ConsumerProtocolAssignment)."""

    partitions: Sequence[TopicPartition]
    user_data: bytes | None = None
    version: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "partitions", _normalize(self.partitions))


def encode_assignment(assignment: ConsumerAssignment) -> bytes:
    """The bytes of an assignment: int16 version, partitions by topic, user data.

    Every version 0-3 has the same fields (later ones changed only the subscription).
    """
    v = assignment.version
    if not 0 <= v <= _CONSUMER_PROTOCOL_HIGHEST:
        raise ValueError(f"ConsumerProtocolAssignment version {v} is not one of 0-3")
    return (
        _int16(v)
        + _array(_group_by_topic(assignment.partitions), _topic_partitions)
        + _nullable_bytes(assignment.user_data)
    )


def decode_assignment(data: bytes) -> ConsumerAssignment:
    """Read an assignment of any version (all share version 0's fields)."""
    r = _Reader(data, "consumer protocol assignment")
    version = r.int16()
    if version < 0:
        raise SchemaError(f"Unsupported assignment version: {version}")
    partitions = _read_topic_partitions(r)
    user_data = r.nullable_bytes()
    return ConsumerAssignment(partitions, user_data, version)
