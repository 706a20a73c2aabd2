"""JSON shapes of the API, both ways.

The server turns logcore's data classes into JSON here, and ``offsetsite.cli.remote``
turns the same JSON back into those data classes, so the two cannot drift apart.
This module imports no Django: the command line uses it without settings.

Bytes (keys, values, header values) travel as ``{"base64": ..., "text": ...}``:
base64 always (the exact bytes), text too when the bytes are valid UTF-8 (what a
person wants to read). ``null`` is a null key or value (a tombstone).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from logcore.admin import ResetPlan, ResetRow, RestorePoint
from logcore.cluster import GroupDescription, GroupListing, MemberDescription, PartitionOffsets
from logcore.errors import InvalidRequest
from logcore.groups import OffsetAndMetadata
from logcore.log_manager import PartitionInfo, TopicDescription
from logcore.records import Record

JSON = dict[str, Any]


# --- bytes ------------------------------------------------------------------


def encode_bytes(data: bytes | None) -> JSON | None:
    if data is None:
        return None
    try:
        text: str | None = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return {"base64": base64.b64encode(data).decode("ascii"), "text": text}


def decode_bytes(value: Any, what: str) -> bytes | None:
    """Input bytes: null, a plain string (sent as UTF-8), ``{"text": s}`` or ``{"base64": s}``."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, Mapping):
        if "base64" in value and value["base64"] is not None:
            raw = value["base64"]
            if not isinstance(raw, str):
                raise InvalidRequest(f"{what}: base64 must be a string")
            try:
                return base64.b64decode(raw.encode("ascii"), validate=True)
            except (binascii.Error, UnicodeEncodeError):
                raise InvalidRequest(f"{what}: {raw[:40]!r} is not valid base64") from None
        if "text" in value and isinstance(value["text"], str):
            return value["text"].encode("utf-8")
    raise InvalidRequest(f'{what} must be null, a string, {{"text": "..."}} or {{"base64": "..."}}')


# --- topics and records -----------------------------------------------------


def partition_info(p: PartitionInfo) -> JSON:
    return {
        "partition": p.partition,
        "log_start_offset": p.log_start_offset,
        "high_watermark": p.high_watermark,
        "log_end_offset": p.log_end_offset,
        "size_bytes": p.size_bytes,
        "segment_count": p.segment_count,
        "records": p.records,
    }


def topic_description(t: TopicDescription) -> JSON:
    return {
        "name": t.name,
        "internal": t.internal,
        "config": dict(t.config),
        "partitions": [partition_info(p) for p in t.partitions],
        "size_bytes": t.size_bytes,
        "records": t.records,
    }


def topic_description_from(d: Mapping[str, Any]) -> TopicDescription:
    return TopicDescription(
        d["name"],
        bool(d["internal"]),
        {str(k): str(v) for k, v in d.get("config", {}).items()},
        [
            PartitionInfo(
                int(p["partition"]),
                int(p["log_start_offset"]),
                int(p["high_watermark"]),
                int(p["log_end_offset"]),
                int(p["size_bytes"]),
                int(p["segment_count"]),
            )
            for p in d.get("partitions", [])
        ],
    )


def record(r: Record) -> JSON:
    return {
        "offset": r.offset,
        "timestamp": r.timestamp,
        "key": encode_bytes(r.key),
        "value": encode_bytes(r.value),
        "headers": [{"key": k, "value": encode_bytes(v)} for k, v in r.headers],
    }


def record_from(d: Mapping[str, Any]) -> Record:
    return Record(
        int(d["offset"]),
        int(d["timestamp"]),
        decode_bytes(d.get("key"), "key"),
        decode_bytes(d.get("value"), "value"),
        tuple((str(h["key"]), decode_bytes(h.get("value"), "header value")) for h in d.get("headers", [])),
    )


# --- groups -----------------------------------------------------------------


def group_listing(g: GroupListing) -> JSON:
    return {
        "group_id": g.group_id,
        "state": g.state,
        "protocol_type": g.protocol_type,
        "protocol": g.protocol,
        "member_count": g.member_count,
    }


def group_listing_from(d: Mapping[str, Any]) -> GroupListing:
    return GroupListing(d["group_id"], d["state"], d["protocol_type"], d["protocol"], int(d["member_count"]))


def member(m: MemberDescription) -> JSON:
    return {
        "member_id": m.member_id,
        "client_id": m.client_id,
        "host": m.host,
        "group_instance_id": m.group_instance_id,
        "assignment": [{"topic": t, "partition": p} for t, p in m.assignment],
    }


def partition_offsets(o: PartitionOffsets) -> JSON:
    return {
        "topic": o.topic,
        "partition": o.partition,
        "committed": o.committed,
        "log_start_offset": o.log_start_offset,
        "high_watermark": o.high_watermark,
        "lag": o.lag,
        "member_id": o.member_id,
        "client_id": o.client_id,
        "host": o.host,
        "metadata": o.metadata,
        "commit_timestamp": o.commit_timestamp,
    }


def group_description(g: GroupDescription) -> JSON:
    return {
        "group_id": g.group_id,
        "state": g.state,
        "generation": g.generation,
        "protocol_type": g.protocol_type,
        "protocol": g.protocol,
        "leader": g.leader,
        "members": [member(m) for m in g.members],
        "offsets": [partition_offsets(o) for o in g.offsets],
        "total_lag": g.total_lag,
    }


def group_description_from(d: Mapping[str, Any]) -> GroupDescription:
    return GroupDescription(
        d["group_id"],
        d["state"],
        int(d["generation"]),
        d["protocol_type"],
        d["protocol"],
        d.get("leader"),
        tuple(
            MemberDescription(
                m["member_id"],
                m["client_id"],
                m["host"],
                m.get("group_instance_id"),
                tuple((a["topic"], int(a["partition"])) for a in m.get("assignment", [])),
            )
            for m in d.get("members", [])
        ),
        tuple(
            PartitionOffsets(
                o["topic"],
                int(o["partition"]),
                o.get("committed"),
                int(o["log_start_offset"]),
                int(o["high_watermark"]),
                o.get("member_id"),
                o.get("client_id"),
                o.get("host"),
                o.get("metadata", ""),
                o.get("commit_timestamp"),
            )
            for o in d.get("offsets", [])
        ),
    )


def committed(topic: str, partition: int, om: OffsetAndMetadata) -> JSON:
    return {
        "topic": topic,
        "partition": partition,
        "offset": om.offset,
        "metadata": om.metadata,
        "leader_epoch": om.leader_epoch,
        "commit_timestamp": om.commit_timestamp,
        "expire_timestamp": om.expire_timestamp,
    }


def committed_from(d: Mapping[str, Any]) -> tuple[tuple[str, int], OffsetAndMetadata]:
    return (d["topic"], int(d["partition"])), OffsetAndMetadata(
        int(d["offset"]),
        d.get("metadata", ""),
        int(d.get("leader_epoch", -1)),
        int(d.get("commit_timestamp", 0)),
        d.get("expire_timestamp"),
    )


# --- resets -----------------------------------------------------------------


def reset_row(r: ResetRow) -> JSON:
    return {
        "topic": r.topic,
        "partition": r.partition,
        "before": r.before,
        "after": r.after,
        "log_start_offset": r.log_start_offset,
        "high_watermark": r.high_watermark,
        "before_timestamp": r.before_timestamp,
        "after_timestamp": r.after_timestamp,
        "warning": r.warning,
        "reread": r.reread,
        "skipped": r.skipped,
        "span_ms": r.span_ms,
    }


def reset_plan(p: ResetPlan) -> JSON:
    return {
        "group_id": p.group_id,
        "scenario": {"kind": p.scenario.kind, "value": p.scenario.value},
        "group_state": p.group_state,
        "refusal": p.refusal,
        "warnings": list(p.warnings),
        "created_ms": p.created_ms,
        "total_reread": p.total_reread,
        "total_skipped": p.total_skipped,
        "rows": [reset_row(r) for r in p.rows],
        "export_csv": p.export_csv(),
    }


def restore_point(p: RestorePoint) -> JSON:
    return {
        "group_id": p.group_id,
        "created_ms": p.created_ms,
        "scenario": p.scenario,
        # The "topic\0partition" keys of RestorePoint are an internal detail: spell them out.
        "offsets": [
            {"topic": k.rpartition("\x00")[0], "partition": int(k.rpartition("\x00")[2]), "offset": v}
            for k, v in p.offsets.items()
        ],
    }


def restore_point_from(d: Mapping[str, Any]) -> RestorePoint:
    return RestorePoint(
        d["group_id"],
        int(d["created_ms"]),
        d["scenario"],
        {f"{o['topic']}\x00{int(o['partition'])}": o["offset"] for o in d.get("offsets", [])},
    )
