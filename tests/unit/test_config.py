"""TopicConfig: Kafka's names, defaults and validation."""

from __future__ import annotations

import pytest

from logcore.config import ALLOWED_KEYS, TopicConfig, describe_keys
from logcore.errors import InvalidConfig

KAFKA_DEFAULTS = {
    "cleanup.policy": "delete",
    "retention.ms": "604800000",
    "retention.bytes": "-1",
    "segment.bytes": "1073741824",
    "segment.ms": "604800000",
    "max.message.bytes": "1048588",
    "delete.retention.ms": "86400000",
    "min.compaction.lag.ms": "0",
    "flush.messages": str(2**63 - 1),
    "flush.ms": str(2**63 - 1),
    "index.interval.bytes": "4096",
    "message.timestamp.type": "CreateTime",
}


def test_defaults_are_kafkas() -> None:
    assert TopicConfig().to_dict() == KAFKA_DEFAULTS
    assert TopicConfig.from_dict().to_dict() == KAFKA_DEFAULTS
    assert TopicConfig.from_dict(None) == TopicConfig()
    assert TopicConfig().non_defaults() == {}
    cfg = TopicConfig()
    assert cfg.delete and not cfg.compact


def test_keys_are_kafka_names_and_documented() -> None:
    assert set(ALLOWED_KEYS) == set(KAFKA_DEFAULTS)
    docs = describe_keys()
    assert set(docs) == set(KAFKA_DEFAULTS)
    assert all(docs.values())


def test_values_parse_from_strings_and_ints() -> None:
    cfg = TopicConfig.from_dict(
        {
            "retention.ms": "60000",
            "retention.bytes": 1024,
            "segment.bytes": " 2048 ",
            "cleanup.policy": "compact",
            "message.timestamp.type": "LogAppendTime",
        }
    )
    assert cfg.retention_ms == 60000
    assert cfg.retention_bytes == 1024
    assert cfg.segment_bytes == 2048
    assert cfg.cleanup_policy == ("compact",)
    assert cfg.compact and not cfg.delete
    assert cfg.message_timestamp_type == "LogAppendTime"
    assert cfg.non_defaults() == {
        "retention.ms": "60000",
        "retention.bytes": "1024",
        "segment.bytes": "2048",
        "cleanup.policy": "compact",
        "message.timestamp.type": "LogAppendTime",
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("compact,delete", ("compact", "delete")),
        ("delete, compact", ("delete", "compact")),
        ("compact,compact", ("compact",)),
    ],
)
def test_cleanup_policy_list(raw: str, expected: tuple[str, ...]) -> None:
    cfg = TopicConfig.from_dict({"cleanup.policy": raw})
    assert cfg.cleanup_policy == expected
    assert cfg.compact == ("compact" in expected)
    assert cfg.delete == ("delete" in expected)
    assert TopicConfig.from_dict(cfg.to_dict()) == cfg  # to_dict round trips


def test_unknown_key_refused_naming_it_and_the_allowed_keys() -> None:
    with pytest.raises(InvalidConfig) as exc:
        TopicConfig.from_dict({"retention.msec": "1"})
    msg = str(exc.value)
    assert "retention.msec" in msg
    assert "retention.ms" in msg and "segment.bytes" in msg
    assert exc.value.code == "INVALID_CONFIG"


@pytest.mark.parametrize(
    ("key", "raw", "allowed"),
    [
        ("retention.ms", "-2", "[-1, "),
        ("retention.ms", "abc", ">= -1"),
        ("retention.ms", "1.5", ">= -1"),
        ("retention.bytes", "-5", "[-1, "),
        ("segment.bytes", "13", "[14, 2147483647]"),
        ("segment.bytes", str(2**31), "[14, 2147483647]"),
        ("segment.ms", "0", "[1, "),
        ("max.message.bytes", "-1", "[0, 2147483647]"),
        ("delete.retention.ms", "-1", "[0, "),
        ("min.compaction.lag.ms", "-1", "[0, "),
        ("flush.messages", "0", "[1, "),
        ("flush.ms", "-1", "[0, "),
        ("flush.ms", str(2**63), "9223372036854775807]"),
        ("index.interval.bytes", "-1", "[0, "),
        ("cleanup.policy", "deleted", "delete, compact"),
        ("cleanup.policy", "", "delete, compact"),
        ("cleanup.policy", "compact,nope", "delete, compact"),
        ("message.timestamp.type", "createtime", "CreateTime, LogAppendTime"),
    ],
)
def test_invalid_values_name_key_and_allowed_values(key: str, raw: str, allowed: str) -> None:
    with pytest.raises(InvalidConfig) as exc:
        TopicConfig.from_dict({key: raw})
    msg = str(exc.value)
    assert key in msg
    assert allowed in msg


def test_updated_validates_everything_before_applying() -> None:
    cfg = TopicConfig.from_dict({"retention.ms": "1000"})
    with pytest.raises(InvalidConfig):
        cfg.updated({"retention.bytes": "10", "segment.bytes": "1"})
    assert cfg.retention_bytes == -1  # frozen and unchanged
    new = cfg.updated({"retention.bytes": "10"})
    assert (new.retention_ms, new.retention_bytes) == (1000, 10)
    assert cfg.retention_bytes == -1


def test_boundaries_accepted() -> None:
    cfg = TopicConfig.from_dict(
        {
            "retention.ms": "-1",
            "retention.bytes": "-1",
            "segment.bytes": "14",
            "segment.ms": "1",
            "max.message.bytes": "0",
            "flush.messages": "1",
            "flush.ms": "0",
            "index.interval.bytes": "0",
            "min.compaction.lag.ms": str(2**63 - 1),
        }
    )
    assert cfg.segment_bytes == 14 and cfg.flush_messages == 1
