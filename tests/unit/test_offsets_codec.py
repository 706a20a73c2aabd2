"""__consumer_offsets layouts and consumer protocol bytes, checked against Kafka's JSON specs.

Golden byte strings are written out field by field from the JSON message specs
(OffsetCommitKey/Value.json, GroupMetadataKey/Value.json,
ConsumerProtocolSubscription/Assignment.json), not produced by the encoder.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logcore import offsets_codec as codec
from logcore.errors import CorruptRecord
from logcore.offsets_codec import (
    ConsumerAssignment,
    ConsumerSubscription,
    GroupMetadataKey,
    GroupMetadataValue,
    MemberMetadata,
    OffsetCommitKey,
    OffsetCommitValue,
    SchemaError,
)

# 1700000000000 ms = 0x0000018BCFE56800
TS = 1700000000000
TS_BYTES = bytes.fromhex("0000018bcfe56800")


def int16(n: int) -> bytes:
    return n.to_bytes(2, "big", signed=True)


def int32(n: int) -> bytes:
    return n.to_bytes(4, "big", signed=True)


# --- keys ------------------------------------------------------------------------------


def test_offset_commit_key_golden() -> None:
    golden = (
        bytes.fromhex("0001")  # version 1 = offset commit
        + bytes.fromhex("0002")
        + b"g1"  # group: int16 length + UTF-8
        + bytes.fromhex("0006")
        + b"orders"  # topic
        + bytes.fromhex("00000002")  # partition int32
    )
    key = OffsetCommitKey("g1", "orders", 2)
    assert codec.encode_key(key) == golden
    assert codec.decode_key(golden) == key


def test_offset_commit_key_version_0_reads_the_same_fields() -> None:
    data = bytes.fromhex("0000") + int16(1) + b"g" + int16(1) + b"t" + int32(7)
    key = codec.decode_key(data)
    assert isinstance(key, OffsetCommitKey)
    assert (key.group, key.topic, key.partition, key.version) == ("g", "t", 7, 0)
    assert codec.encode_key(key) == data


def test_group_metadata_key_golden() -> None:
    golden = bytes.fromhex("0002") + bytes.fromhex("0009") + b"testgroup"
    assert codec.encode_key(GroupMetadataKey("testgroup")) == golden
    assert codec.decode_key(golden) == GroupMetadataKey("testgroup")


def test_key_utf8_is_counted_in_bytes() -> None:
    data = codec.encode_key(GroupMetadataKey("groupé"))
    assert data == bytes.fromhex("0002") + int16(7) + "groupé".encode()


@pytest.mark.parametrize(
    "data",
    [
        bytes.fromhex("0003") + int16(1) + b"g",  # a KIP-848 record type
        bytes.fromhex("0002") + int16(5) + b"g",  # truncated string
        bytes.fromhex("0002") + int16(1) + b"g" + b"\x00",  # trailing byte
        bytes.fromhex("0002") + int16(-1),  # null group
        bytes.fromhex("00"),
        bytes.fromhex("0001") + int16(1) + b"g" + int16(1) + b"t" + b"\x00\x00",  # short int32
        bytes.fromhex("0002") + int16(2) + b"\xff\xfe",  # not UTF-8
    ],
)
def test_bad_keys_raise_schema_error(data: bytes) -> None:
    with pytest.raises(SchemaError):
        codec.decode_key(data)
    assert issubclass(SchemaError, CorruptRecord)


def test_key_encoder_refuses_bad_versions_and_long_strings() -> None:
    with pytest.raises(ValueError):
        codec.encode_key(OffsetCommitKey("g", "t", 0, version=2))
    with pytest.raises(ValueError):
        codec.encode_key(GroupMetadataKey("g", version=1))
    with pytest.raises(ValueError, match="32767"):
        codec.encode_key(GroupMetadataKey("x" * 32768))


# --- offset commit value ---------------------------------------------------------------


def test_offset_commit_value_v3_golden() -> None:
    golden = (
        bytes.fromhex("0003")  # version 3
        + bytes.fromhex("000000000000002a")  # offset 42
        + bytes.fromhex("ffffffff")  # leader epoch -1 (none)
        + bytes.fromhex("0000")  # metadata "" (int16 length 0)
        + TS_BYTES  # commit timestamp
    )
    value = OffsetCommitValue(offset=42, leader_epoch=-1, metadata="", commit_timestamp=TS)
    assert codec.encode_offset_value(value) == golden
    assert codec.decode_offset_value(golden) == value


def test_offset_commit_value_v3_with_epoch_and_metadata() -> None:
    golden = bytes.fromhex("0003") + (10**12).to_bytes(8, "big") + int32(5) + int16(2) + b"hi" + TS_BYTES
    value = codec.decode_offset_value(golden)
    assert value == OffsetCommitValue(10**12, 5, "hi", TS)
    assert codec.encode_offset_value(value) == golden


def test_offset_commit_value_older_versions() -> None:
    # v0/v2: offset, metadata, commit timestamp; v1 adds expire timestamp.
    v0 = bytes.fromhex("0000") + (7).to_bytes(8, "big") + int16(1) + b"m" + TS_BYTES
    v1 = bytes.fromhex("0001") + (7).to_bytes(8, "big") + int16(1) + b"m" + TS_BYTES + (TS + 1).to_bytes(8, "big")
    v2 = bytes.fromhex("0002") + v0[2:]
    assert codec.decode_offset_value(v0) == OffsetCommitValue(7, -1, "m", TS, -1, 0)
    assert codec.decode_offset_value(v1) == OffsetCommitValue(7, -1, "m", TS, TS + 1, 1)
    assert codec.decode_offset_value(v2) == OffsetCommitValue(7, -1, "m", TS, -1, 2)
    for data in (v0, v1, v2):
        assert codec.encode_offset_value(codec.decode_offset_value(data)) == data


def test_offset_commit_value_flexible_version_is_refused() -> None:
    with pytest.raises(SchemaError, match="version 4"):
        codec.decode_offset_value(bytes.fromhex("0004") + bytes(20))
    with pytest.raises(ValueError):
        codec.encode_offset_value(OffsetCommitValue(1, version=4))


# --- group metadata value --------------------------------------------------------------


def test_group_metadata_value_v3_golden() -> None:
    golden = (
        bytes.fromhex("0003")  # version 3
        + int16(8)
        + b"consumer"  # protocolType
        + int32(1)  # generation
        + int16(5)
        + b"range"  # protocol (nullable string)
        + int16(2)
        + b"m1"  # leader (nullable string)
        + TS_BYTES  # currentStateTimestamp
        + int32(1)  # members: int32 count
        + int16(2)
        + b"m1"  # memberId
        + int16(-1)  # groupInstanceId: null
        + int16(1)
        + b"c"  # clientId
        + int16(2)
        + b"/h"  # clientHost
        + int32(300000)  # rebalanceTimeout
        + int32(45000)  # sessionTimeout
        + int32(2)
        + b"\x00\x01"  # subscription bytes
        + int32(0)  # assignment bytes (empty)
    )
    value = GroupMetadataValue(
        protocol_type="consumer",
        generation=1,
        protocol="range",
        leader="m1",
        current_state_timestamp=TS,
        members=[MemberMetadata("m1", None, "c", "/h", 300000, 45000, b"\x00\x01", b"")],
    )
    assert codec.encode_group_value(value) == golden
    assert codec.decode_group_value(golden) == value


def test_empty_group_metadata_has_null_protocol_and_leader() -> None:
    golden = bytes.fromhex("0003") + int16(8) + b"consumer" + int32(4) + int16(-1) + int16(-1) + TS_BYTES + int32(0)
    value = GroupMetadataValue("consumer", 4, None, None, TS, [])
    assert codec.encode_group_value(value) == golden
    assert codec.decode_group_value(golden) == value


def test_group_metadata_value_v0_uses_session_timeout_as_rebalance_timeout() -> None:
    v0 = (
        bytes.fromhex("0000")
        + int16(8)
        + b"consumer"
        + int32(2)
        + int16(5)
        + b"range"
        + int16(1)
        + b"a"
        + int32(1)
        + int16(1)
        + b"a"
        + int16(1)
        + b"c"
        + int16(1)
        + b"h"
        + int32(10000)
        + int32(1)
        + b"s"
        + int32(1)
        + b"x"
    )
    value = codec.decode_group_value(v0)
    assert value.version == 0 and value.current_state_timestamp == -1
    assert value.members == (MemberMetadata("a", None, "c", "h", 10000, 10000, b"s", b"x"),)
    assert codec.encode_group_value(value) == v0


def test_group_metadata_value_v3_static_member() -> None:
    m = MemberMetadata("i-1-uuid", "i-1", "c", "h", 1, 2, b"", b"")
    data = codec.encode_group_value(GroupMetadataValue("consumer", 1, "range", "i-1-uuid", 0, [m]))
    assert int16(3) + b"i-1" in data
    assert codec.decode_group_value(data).members[0].group_instance_id == "i-1"


def test_bad_group_values() -> None:
    with pytest.raises(SchemaError):
        codec.decode_group_value(bytes.fromhex("0003") + int16(-1))  # null protocolType
    with pytest.raises(SchemaError):
        codec.decode_group_value(
            bytes.fromhex("0003") + int16(0) + int32(0) + int16(-1) + int16(-1) + TS_BYTES + int32(1000)
        )
    with pytest.raises(SchemaError, match="not supported"):
        codec.decode_group_value(bytes.fromhex("0009"))


# --- consumer protocol -----------------------------------------------------------------


def test_subscription_v1_golden() -> None:
    golden = (
        bytes.fromhex("0001")  # version 1
        + int32(2)
        + int16(2)
        + b"t0"
        + int16(2)
        + b"t1"  # Topics
        + int32(-1)  # UserData: null
        + int32(1)  # OwnedPartitions: one topic
        + int16(2)
        + b"t0"
        + int32(2)
        + int32(0)
        + int32(2)  # t0: [0, 2]
    )
    sub = ConsumerSubscription(topics=["t0", "t1"], owned_partitions=[("t0", 0), ("t0", 2)])
    assert codec.encode_subscription(sub) == golden
    assert codec.decode_subscription(golden) == sub


def test_subscription_v0_and_newer_versions() -> None:
    v0 = bytes.fromhex("0000") + int32(1) + int16(1) + b"t" + int32(3) + b"abc"
    sub = codec.decode_subscription(v0)
    assert sub == ConsumerSubscription(["t"], [], b"abc", version=0)
    assert codec.encode_subscription(sub) == v0
    # v2 adds GenerationId, v3 RackId (KIP-881).
    v3 = ConsumerSubscription(["t"], [("t", 1)], None, generation_id=9, rack_id="r1", version=3)
    data = codec.encode_subscription(v3)
    assert data.endswith(int32(9) + int16(2) + b"r1")
    assert codec.decode_subscription(data) == v3
    # A version newer than known is read with the newest layout; extra bytes ignored.
    v5 = bytes.fromhex("0005") + data[2:] + b"\x01\x02"
    decoded = codec.decode_subscription(v5)
    assert decoded.topics == ("t",) and decoded.rack_id == "r1" and decoded.version == 5


def test_assignment_v1_golden() -> None:
    golden = (
        bytes.fromhex("0001")  # version 1
        + int32(2)  # AssignedPartitions: two topics
        + int16(2)
        + b"t0"
        + int32(1)
        + int32(1)  # t0: [1]
        + int16(2)
        + b"t1"
        + int32(2)
        + int32(0)
        + int32(2)  # t1: [0, 2]
        + int32(-1)  # UserData: null
    )
    a = ConsumerAssignment(partitions=[("t0", 1), ("t1", 0), ("t1", 2)])
    assert codec.encode_assignment(a) == golden
    assert codec.decode_assignment(golden) == a
    assert list(codec.decode_assignment(golden).partitions) == [("t0", 1), ("t1", 0), ("t1", 2)]


def test_empty_assignment_and_bad_bytes() -> None:
    assert codec.encode_assignment(ConsumerAssignment([])) == bytes.fromhex("0001") + int32(0) + int32(-1)
    with pytest.raises(SchemaError):
        codec.decode_assignment(b"")
    with pytest.raises(SchemaError):
        codec.decode_assignment(bytes.fromhex("ffff"))
    with pytest.raises(SchemaError):
        codec.decode_subscription(bytes.fromhex("0001") + int32(5))


def test_lists_and_tuples_compare_equal_after_normalising() -> None:
    assert ConsumerAssignment([["t", 0]]) == ConsumerAssignment((("t", 0),))  # type: ignore[list-item]
    assert GroupMetadataValue("c", 1, None, None, 0, []) == GroupMetadataValue("c", 1, None, None, 0, ())


# --- round trips -------------------------------------------------------------------------

names = st.text(max_size=20)
int32s = st.integers(min_value=-(2**31), max_value=2**31 - 1)
int64s = st.integers(min_value=-(2**63), max_value=2**63 - 1)
tps = st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(min_value=0, max_value=2**31 - 1)))


@given(names, names, int32s, st.sampled_from([0, 1]))
def test_offset_key_round_trip(group: str, topic: str, partition: int, version: int) -> None:
    key = OffsetCommitKey(group, topic, partition, version)
    assert codec.decode_key(codec.encode_key(key)) == key


@given(int64s, int32s, names, int64s, int64s)
def test_offset_value_round_trip(offset: int, epoch: int, metadata: str, ts: int, expire: int) -> None:
    v3 = OffsetCommitValue(offset, epoch, metadata, ts)
    assert codec.decode_offset_value(codec.encode_offset_value(v3)) == v3
    v1 = OffsetCommitValue(offset, -1, metadata, ts, expire, version=1)
    assert codec.decode_offset_value(codec.encode_offset_value(v1)) == v1


members = st.builds(
    MemberMetadata, names, st.one_of(st.none(), names), names, names, int32s, int32s, st.binary(), st.binary()
)


@given(
    names,
    int32s,
    st.one_of(st.none(), names),
    st.one_of(st.none(), names),
    int64s,
    st.lists(members, max_size=4),
)
def test_group_value_round_trip(
    ptype: str, gen: int, protocol: str | None, leader: str | None, ts: int, ms: list[MemberMetadata]
) -> None:
    value = GroupMetadataValue(ptype, gen, protocol, leader, ts, ms)
    assert codec.decode_group_value(codec.encode_group_value(value)) == value


@given(st.lists(names), tps, st.one_of(st.none(), st.binary()))
def test_consumer_protocol_round_trips(
    topics: list[str], parts: list[tuple[str, int]], user_data: bytes | None
) -> None:
    sub = ConsumerSubscription(topics, sorted(parts), user_data)
    assert codec.decode_subscription(codec.encode_subscription(sub)) == sub
    a = ConsumerAssignment(sorted(parts), user_data)
    assert codec.decode_assignment(codec.encode_assignment(a)) == a


@given(st.binary(max_size=64))
def test_decoders_only_raise_schema_error_on_garbage(data: bytes) -> None:
    for decode in (
        codec.decode_key,
        codec.decode_offset_value,
        codec.decode_group_value,
        codec.decode_subscription,
        codec.decode_assignment,
    ):
        try:
            decode(data)
        except SchemaError:
            pass
