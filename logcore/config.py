"""Topic configuration with Kafka's names, defaults and validation (``LogConfig``).

Values are parsed from strings, as ``kafka-topics.sh --config k=v`` passes them, and
validated against Kafka's own bounds; a bad value raises ``InvalidConfig`` naming the
key, the value and what is allowed, and nothing is created or changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from .errors import InvalidConfig

LONG_MAX = 2**63 - 1
INT_MAX = 2**31 - 1


@dataclass(frozen=True)
class _Spec:
    attr: str
    kind: str  # "long", "int", "list", "enum"
    default: Any
    minimum: int | None = None
    choices: tuple[str, ...] = ()
    doc: str = ""


_SPECS: dict[str, _Spec] = {
    "cleanup.policy": _Spec(
        "cleanup_policy",
        "list",
        ("delete",),
        choices=("delete", "compact"),
        doc="delete: drop old segments by retention; compact: keep the last record per key",
    ),
    "retention.ms": _Spec(
        "retention_ms",
        "long",
        7 * 24 * 3600 * 1000,
        minimum=-1,
        doc="delete a segment once its newest record is older than this; -1 keeps forever",
    ),
    "retention.bytes": _Spec(
        "retention_bytes",
        "long",
        -1,
        minimum=-1,
        doc="delete oldest segments while the partition is larger than this; -1 is off",
    ),
    "segment.bytes": _Spec(
        "segment_bytes",
        "int",
        1024 * 1024 * 1024,
        minimum=14,
        doc="roll to a new segment file when the active one would grow past this size",
    ),
    "segment.ms": _Spec(
        "segment_ms",
        "long",
        7 * 24 * 3600 * 1000,
        minimum=1,
        doc="roll to a new segment when the active one is older than this",
    ),
    "max.message.bytes": _Spec(
        "max_message_bytes",
        "int",
        1024 * 1024 + 12,
        minimum=0,
        doc="largest record batch the partition accepts",
    ),
    "delete.retention.ms": _Spec(
        "delete_retention_ms",
        "long",
        24 * 3600 * 1000,
        minimum=0,
        doc="how long a compacted topic keeps a tombstone before removing its key",
    ),
    "min.compaction.lag.ms": _Spec(
        "min_compaction_lag_ms",
        "long",
        0,
        minimum=0,
        doc="a record stays uncompacted for at least this long",
    ),
    "flush.messages": _Spec(
        "flush_messages",
        "long",
        LONG_MAX,
        minimum=1,
        doc="fsync after this many appended records (Kafka's default never forces it)",
    ),
    "flush.ms": _Spec(
        "flush_ms",
        "long",
        LONG_MAX,
        minimum=0,
        doc="fsync when this long has passed since the last fsync",
    ),
    "index.interval.bytes": _Spec(
        "index_interval_bytes",
        "int",
        4096,
        minimum=0,
        doc="bytes between two entries of the sparse offset index",
    ),
    "message.timestamp.type": _Spec(
        "message_timestamp_type",
        "enum",
        "CreateTime",
        choices=("CreateTime", "LogAppendTime"),
        doc="CreateTime keeps the producer's timestamp; LogAppendTime stamps on append",
    ),
}

ALLOWED_KEYS = tuple(sorted(_SPECS))


@dataclass(frozen=True)
class TopicConfig:
    """A topic's effective configuration; attribute names mirror Kafka's keys."""

    cleanup_policy: tuple[str, ...] = ("delete",)
    retention_ms: int = 7 * 24 * 3600 * 1000
    retention_bytes: int = -1
    segment_bytes: int = 1024 * 1024 * 1024
    segment_ms: int = 7 * 24 * 3600 * 1000
    max_message_bytes: int = 1024 * 1024 + 12
    delete_retention_ms: int = 24 * 3600 * 1000
    min_compaction_lag_ms: int = 0
    flush_messages: int = LONG_MAX
    flush_ms: int = LONG_MAX
    index_interval_bytes: int = 4096
    message_timestamp_type: str = "CreateTime"

    @property
    def compact(self) -> bool:
        return "compact" in self.cleanup_policy

    @property
    def delete(self) -> bool:
        return "delete" in self.cleanup_policy

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None = None) -> TopicConfig:
        """Build a config from Kafka key names; unknown keys and bad values raise."""
        return cls().updated(values or {})

    def updated(self, values: Mapping[str, Any]) -> TopicConfig:
        """A copy with ``values`` (Kafka key names) applied, all validated first."""
        changes = {}
        for key, raw in values.items():
            spec = _SPECS.get(key)
            if spec is None:
                raise InvalidConfig(f"Unknown topic config name: {key!r}. Allowed: {', '.join(ALLOWED_KEYS)}.")
            changes[spec.attr] = _parse(key, spec, raw)
        return replace(self, **changes)

    def to_dict(self) -> dict[str, str]:
        """Every setting under its Kafka name, as strings (what ``--describe`` prints)."""
        out: dict[str, str] = {}
        for key, spec in _SPECS.items():
            value = getattr(self, spec.attr)
            out[key] = ",".join(value) if spec.kind == "list" else str(value)
        return out

    def non_defaults(self) -> dict[str, str]:
        """Only the settings that differ from Kafka's defaults."""
        default = TopicConfig().to_dict()
        return {k: v for k, v in self.to_dict().items() if default[k] != v}


# Every topic-level config Apache Kafka knows (org.apache.kafka.common.config.TopicConfig,
# https://kafka.apache.org/documentation/#topicconfigs); a broker refuses any other name.
KAFKA_TOPIC_CONFIGS = frozenset(
    {
        "cleanup.policy", "compression.type", "compression.gzip.level", "compression.lz4.level",
        "compression.zstd.level", "delete.retention.ms", "file.delete.delay.ms", "flush.messages",
        "flush.ms", "follower.replication.throttled.replicas", "index.interval.bytes",
        "leader.replication.throttled.replicas", "local.retention.bytes", "local.retention.ms",
        "max.compaction.lag.ms", "max.message.bytes", "message.downconversion.enable",
        "message.format.version", "message.timestamp.after.max.ms", "message.timestamp.before.max.ms",
        "message.timestamp.difference.max.ms", "message.timestamp.type", "min.cleanable.dirty.ratio",
        "min.compaction.lag.ms", "min.insync.replicas", "preallocate", "remote.storage.enable",
        "retention.bytes", "retention.ms", "segment.bytes", "segment.index.bytes", "segment.jitter.ms",
        "segment.ms", "unclean.leader.election.enable",
    }
)  # fmt: skip


def validate_changes(changes: Mapping[str, Any]) -> None:
    """Refuse what Kafka refuses before anything is sent to a broker.

    For a Kafka cluster, whose brokers know more topic configs than logcore: a name
    Kafka does not know is refused with the broker's words (LogConfig.validateNames:
    "Unknown topic config name"), the values of the keys logcore knows are checked
    with Kafka's bounds, the broker judges the other values. A broker that validates
    less (tansu accepts any name) then still refuses what Kafka would.
    """
    for key, raw in changes.items():
        if key not in KAFKA_TOPIC_CONFIGS:
            raise InvalidConfig(
                f"Unknown topic config name: {key}. Kafka's topic configs are listed at "
                "https://kafka.apache.org/documentation/#topicconfigs"
            )
        spec = _SPECS.get(key)
        if spec is not None:
            _parse(key, spec, raw)


def describe_keys() -> dict[str, str]:
    """Key -> one line of documentation, for help texts and docs."""
    return {k: s.doc for k, s in _SPECS.items()}


def _parse(key: str, spec: _Spec, raw: Any) -> Any:
    text = str(raw).strip()
    if spec.kind in ("long", "int"):
        try:
            value = int(text)
        except ValueError:
            raise InvalidConfig(
                f"Invalid value {raw!r} for configuration {key}: not a number; expected an integer >= {spec.minimum}."
            ) from None
        upper = LONG_MAX if spec.kind == "long" else INT_MAX
        if (spec.minimum is not None and value < spec.minimum) or value > upper:
            raise InvalidConfig(
                f"Invalid value {value} for configuration {key}: value must be in [{spec.minimum}, {upper}]."
            )
        return value
    if spec.kind == "list":
        items = tuple(p.strip() for p in text.split(",") if p.strip())
        bad = [i for i in items if i not in spec.choices]
        if not items or bad:
            raise InvalidConfig(
                f"Invalid value {raw!r} for configuration {key}: "
                f"allowed values are {', '.join(spec.choices)} (comma-separated)."
            )
        return tuple(dict.fromkeys(items))
    if text not in spec.choices:
        raise InvalidConfig(
            f"Invalid value {raw!r} for configuration {key}: allowed values are {', '.join(spec.choices)}."
        )
    return text


# The dataclass and the table must name the same settings; fail at import, not in use.
assert {f.name for f in fields(TopicConfig)} == {s.attr for s in _SPECS.values()}
