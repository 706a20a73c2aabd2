"""API: topics, partitions and records (what the topic pages show and do)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from logcore.errors import InvalidTopic, UnknownTopicOrPartition
from logcore.records import Header, ProduceRecord
from offsetsite import engine
from offsetsite.core import audit
from offsetsite.core.audit import Action
from offsetsite.core.site_settings import burst_limits

from . import serializers as s
from .auth import actor, api_view, bad_request, json_body
from .params import int_param, lst, obj, query_bool, query_int, text

MAX_READ = 1000
DEFAULT_READ = 100
MAX_HEADERS = 100


@api_view({"GET": "viewer", "POST": "operator"})
def topics(request: HttpRequest) -> HttpResponse:
    cluster = engine.get_cluster()
    if request.method == "GET":
        internal = query_bool(request, "internal", True)
        return JsonResponse({"topics": [s.topic_description(t) for t in cluster.describe_topics(internal)]})
    body = obj(json_body(request), "the body")
    name = text(body.get("name"), "name", 300)
    partitions = int_param(body.get("partitions", 1), "partitions", minimum=1)
    config_in = obj(body.get("config") or {}, "config")
    config = {text(k, "a config name", 200): text(str(v), f"config {k}", 1000) for k, v in config_in.items()}
    created = cluster.create_topic(name, partitions, config)
    audit.log(
        actor(request),
        Action.TOPIC_CREATE,
        cluster=engine.current_cluster_name(),
        topic=name,
        summary=f"created topic {name} with {partitions} partition(s)",
        details={"partitions": partitions, "config": config},
    )
    return JsonResponse(s.topic_description(created), status=201)


@api_view({"GET": "viewer", "DELETE": "operator"})
def topic(request: HttpRequest, topic: str) -> HttpResponse:
    cluster = engine.get_cluster()
    if request.method == "GET":
        return JsonResponse(s.topic_description(cluster.describe_topic(topic)))
    with engine.locked():
        desc = cluster.describe_topic(topic)
        cluster.delete_topic(topic)
    audit.log(
        actor(request),
        Action.TOPIC_DELETE,
        cluster=engine.current_cluster_name(),
        topic=topic,
        summary=f"deleted topic {topic} ({desc.records} offsets in {len(desc.partitions)} partitions)",
        offsets=[
            {"topic": topic, "partition": p.partition, "before": p.high_watermark, "after": None}
            for p in desc.partitions
        ],
    )
    return JsonResponse({"deleted": topic})


@api_view({"POST": "operator"})
def partitions(request: HttpRequest, topic: str) -> HttpResponse:
    body = obj(json_body(request), "the body")
    total = int_param(body.get("total"), "total", minimum=1)
    cluster = engine.get_cluster()
    before = len(cluster.describe_topic(topic).partitions)
    described = cluster.add_partitions(topic, total)
    audit.log(
        actor(request),
        Action.TOPIC_PARTITIONS,
        cluster=engine.current_cluster_name(),
        topic=topic,
        summary=f"partitions of {topic}: {before} -> {total}",
        details={"before": before, "after": total},
    )
    return JsonResponse(s.topic_description(described))


def _partition_count(topic: str) -> int:
    return len(engine.get_cluster().describe_topic(topic).partitions)


def _check_partition(topic: str, partition: int) -> None:
    count = _partition_count(topic)
    if not 0 <= partition < count:
        raise UnknownTopicOrPartition(
            f"Partition {partition} of topic '{topic}' does not exist: valid partitions are 0 to {count - 1}"
        )


@api_view({"GET": "viewer"})
def records(request: HttpRequest, topic: str, partition: int) -> HttpResponse:
    cluster = engine.get_cluster()
    _check_partition(topic, partition)
    start, hw = cluster.watermarks(topic, partition)
    offset = query_int(request, "offset", start, minimum=0)
    limit = query_int(request, "limit", DEFAULT_READ, minimum=1, maximum=MAX_READ)
    assert offset is not None
    assert limit is not None
    got = cluster.read(topic, partition, offset, limit)
    return JsonResponse(
        {
            "topic": topic,
            "partition": partition,
            "log_start_offset": start,
            "high_watermark": hw,
            "records": [s.record(r) for r in got],
            # Compacted logs have gaps: the next offset to ask for follows the last record read.
            "next_offset": got[-1].offset + 1 if got else offset,
        }
    )


@api_view({"GET": "viewer"})
def offsets(request: HttpRequest, topic: str, partition: int) -> HttpResponse:
    cluster = engine.get_cluster()
    _check_partition(topic, partition)
    start, hw = cluster.watermarks(topic, partition)
    body: dict[str, Any] = {"topic": topic, "partition": partition, "log_start_offset": start, "high_watermark": hw}
    ts = query_int(request, "timestamp", None)
    if ts is not None:
        body["timestamp"] = ts
        body["offset"] = cluster.offset_for_timestamp(topic, partition, ts)
    at = query_int(request, "at_offset", None, minimum=0)
    if at is not None:
        body["at_offset"] = at
        body["timestamp_at"] = cluster.timestamp_at(topic, partition, at)
    return JsonResponse(body)


def _produced_rows(topic: str, results: list[dict[str, int]]) -> list[dict[str, Any]]:
    """Per partition written to: the high watermark before and after (as the page logs one record)."""
    spans: dict[int, tuple[int, int]] = {}
    for r in results:
        low, high = spans.get(r["partition"], (r["offset"], r["offset"]))
        spans[r["partition"]] = (min(low, r["offset"]), max(high, r["offset"]))
    return [{"topic": topic, "partition": p, "before": lo, "after": hi + 1} for p, (lo, hi) in sorted(spans.items())]


def _headers(value: Any, what: str) -> tuple[Header, ...]:
    if value is None:
        return ()
    out = []
    for i, h in enumerate(lst(value, what, MAX_HEADERS)):
        o = obj(h, f"{what}[{i}]")
        out.append((text(o.get("key"), f"{what}[{i}].key", 1000), s.decode_bytes(o.get("value"), f"{what}[{i}].value")))
    return tuple(out)


@api_view({"POST": "operator"})
def produce(request: HttpRequest, topic: str) -> HttpResponse:
    """One record (an object) or many (``{"records": [...]}``); all are checked before any is written."""
    body = obj(json_body(request), "the body")
    many = "records" in body
    limit, _ = burst_limits()
    items = lst(body["records"], "records", limit) if many else [body]
    if not items:
        raise bad_request("records is empty; send at least one record")
    desc = engine.get_cluster().describe_topic(topic)
    if desc.internal:
        # As Kafka's broker does (InvalidTopicException): only the coordinator writes there.
        raise InvalidTopic(f"Cannot append to internal topic {topic}: only the broker writes to it")
    count = len(desc.partitions)
    prepared = []
    for i, item in enumerate(items):
        where = f"records[{i}]" if many else "the record"
        o = obj(item, where)
        partition = o.get("partition")
        if partition is not None:
            partition = int_param(partition, f"{where}.partition", minimum=0)
            if partition >= count:
                raise UnknownTopicOrPartition(
                    f"Partition {partition} of topic '{topic}' does not exist: valid partitions are 0 to {count - 1}"
                )
        timestamp = o.get("timestamp")
        if timestamp is not None:
            timestamp = int_param(timestamp, f"{where}.timestamp", minimum=0)
        prepared.append(
            ProduceRecord(
                s.decode_bytes(o.get("value"), f"{where}.value"),
                s.decode_bytes(o.get("key"), f"{where}.key"),
                _headers(o.get("headers"), f"{where}.headers"),
                partition,
                timestamp,
            )
        )
    cluster = engine.get_cluster()
    with engine.locked():  # one burst lands contiguously, not interleaved with other producers
        placed = cluster.produce_many(topic, prepared)
    results = [{"partition": p, "offset": off} for p, off in placed]
    audit.log(
        actor(request),
        Action.RECORDS_PRODUCE,
        cluster=engine.current_cluster_name(),
        topic=topic,
        summary=f"produced {len(results)} record(s) to {topic}",
        offsets=_produced_rows(topic, results),
        details={"count": len(results)},
    )
    return JsonResponse({"results": results}, status=201)
