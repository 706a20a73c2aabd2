"""``/metrics``: consumer-group lag for Prometheus, read from the cluster at scrape time.

Names and labels follow kafka-lag-exporter (``kafka_consumergroup_group_*``,
``kafka_partition_*``, label ``cluster_name``), so its Grafana dashboards and alert
rules work unchanged. Two differences, both documented in docs/api.md:

- lag in seconds is measured, not interpolated: now minus the timestamp of the record
  at the committed offset (the oldest record the group has not read), 0 when caught up;
- extra families kafka-lag-exporter lacks: ``kafka_consumergroup_group_state`` (one
  series per state, 1 for the current one, as kminion's state label),
  ``kafka_consumergroup_group_members`` and ``kafka_consumergroup_group_latest_offset``
  (the HW next to each committed offset).

A custom collector reads the cluster when scraped; nothing is registered in
prometheus_client's global registry, so nothing accumulates between scrapes.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time
from collections.abc import Callable, Iterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from logcore.cluster import Cluster
from logcore.errors import KafkaError

from .auth import bearer_token, error_response

GROUP_STATES = ("Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead")
PARTITION_LABELS = ["cluster_name", "group", "topic", "partition", "member_host", "consumer_id", "client_id"]


class ClusterCollector(Collector):
    def __init__(
        self, cluster: Callable[[], Cluster], cluster_name: str = "offsetsite", clock: Callable[[], float] = time.time
    ) -> None:
        self._cluster = cluster
        self._name = cluster_name
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        cluster = self._cluster()
        now_ms = int(self._clock() * 1000)
        name = self._name
        offset = GaugeMetricFamily(
            "kafka_consumergroup_group_offset",
            "The committed offset of the group: the next record it will read.",
            labels=PARTITION_LABELS,
        )
        latest = GaugeMetricFamily(
            "kafka_consumergroup_group_latest_offset",
            "The high watermark (log end) of a partition the group has an offset for.",
            labels=PARTITION_LABELS,
        )
        lag = GaugeMetricFamily(
            "kafka_consumergroup_group_lag", "High watermark minus committed offset.", labels=PARTITION_LABELS
        )
        lag_s = GaugeMetricFamily(
            "kafka_consumergroup_group_lag_seconds",
            "Seconds since the record at the committed offset was produced; 0 when caught up.",
            labels=PARTITION_LABELS,
        )
        max_lag = GaugeMetricFamily(
            "kafka_consumergroup_group_max_lag",
            "The group's largest partition lag.",
            labels=["cluster_name", "group", "is_simple_consumer"],
        )
        max_lag_s = GaugeMetricFamily(
            "kafka_consumergroup_group_max_lag_seconds",
            "The group's largest partition lag in seconds.",
            labels=["cluster_name", "group", "is_simple_consumer"],
        )
        sum_lag = GaugeMetricFamily(
            "kafka_consumergroup_group_sum_lag",
            "The sum of the group's partition lags.",
            labels=["cluster_name", "group"],
        )
        topic_sum = GaugeMetricFamily(
            "kafka_consumergroup_group_topic_sum_lag",
            "The sum of the group's partition lags per topic.",
            labels=["cluster_name", "group", "topic"],
        )
        state = GaugeMetricFamily(
            "kafka_consumergroup_group_state",
            "1 for the group's current state, 0 for the others.",
            labels=["cluster_name", "group", "state"],
        )
        members = GaugeMetricFamily(
            "kafka_consumergroup_group_members", "Members of the group.", labels=["cluster_name", "group"]
        )
        earliest = GaugeMetricFamily(
            "kafka_partition_earliest_offset",
            "The log start offset of a partition.",
            labels=["cluster_name", "topic", "partition"],
        )
        hw = GaugeMetricFamily(
            "kafka_partition_latest_offset",
            "The high watermark (log end offset) of a partition.",
            labels=["cluster_name", "topic", "partition"],
        )

        for topic in cluster.describe_topics(include_internal=True):
            for p in topic.partitions:
                earliest.add_metric([name, topic.name, str(p.partition)], p.log_start_offset)
                hw.add_metric([name, topic.name, str(p.partition)], p.high_watermark)

        for listing in cluster.list_groups():
            try:
                group = cluster.describe_group(listing.group_id)
            except KafkaError:  # deleted between the listing and now
                continue
            gid = group.group_id
            for s in GROUP_STATES:
                state.add_metric([name, gid, s], 1.0 if group.state == s else 0.0)
            members.add_metric([name, gid], len(group.members))
            simple = "true" if not group.protocol_type else "false"
            lags: list[int] = []
            lag_secs: list[float] = []
            per_topic: dict[str, int] = {}
            for o in group.offsets:
                if o.committed is None or o.high_watermark < 0:
                    continue  # nothing committed, or the topic is gone: no lag to speak of
                labels = [name, gid, o.topic, str(o.partition), o.host or "", o.member_id or "", o.client_id or ""]
                part_lag = o.lag or 0
                seconds = self._lag_seconds(
                    cluster, o.topic, o.partition, o.committed, o.log_start_offset, part_lag, now_ms
                )
                offset.add_metric(labels, o.committed)
                latest.add_metric(labels, o.high_watermark)
                lag.add_metric(labels, part_lag)
                lag_s.add_metric(labels, seconds)
                lags.append(part_lag)
                lag_secs.append(seconds)
                per_topic[o.topic] = per_topic.get(o.topic, 0) + part_lag
            max_lag.add_metric([name, gid, simple], max(lags, default=0))
            max_lag_s.add_metric([name, gid, simple], max(lag_secs, default=0.0))
            sum_lag.add_metric([name, gid], sum(lags))
            for topic_name, total in sorted(per_topic.items()):
                topic_sum.add_metric([name, gid, topic_name], total)

        yield from (offset, latest, lag, lag_s, max_lag, max_lag_s, sum_lag, topic_sum, state, members, earliest, hw)

    @staticmethod
    def _lag_seconds(
        cluster: Cluster, topic: str, partition: int, committed: int, log_start: int, part_lag: int, now_ms: int
    ) -> float:
        if part_lag <= 0:
            return 0.0
        # Below log start the records are gone; the oldest unread one still there is at log start.
        ts = cluster.timestamp_at(topic, partition, max(committed, log_start))
        if ts is None:
            return 0.0
        return max(now_ms - ts, 0) / 1000.0  # producer clocks may run ahead


def render(cluster: Callable[[], Cluster]) -> bytes:
    # A registry per scrape, dropped afterwards: no global state grows across scrapes.
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ClusterCollector(cluster, str(settings.OFFSETSITE.get("METRICS_CLUSTER_NAME", "offsetsite"))))
    return generate_latest(registry)


def _loopback(request: HttpRequest) -> bool:
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Open to loopback scrapers, or to anyone with ``OFFSETSITE["METRICS_TOKEN"]`` when it is set."""
    from offsetsite import engine

    if request.method not in ("GET", "HEAD"):
        return error_response(405, "METHOD_NOT_ALLOWED", "only GET is allowed on /metrics")
    expected = settings.OFFSETSITE.get("METRICS_TOKEN") or os.environ.get("OFFSETSITE_METRICS_TOKEN")
    if expected:
        given = bearer_token(request) or ""
        if not hmac.compare_digest(given.encode(), str(expected).encode()):
            return error_response(401, "UNAUTHORIZED", "/metrics needs 'Authorization: Bearer <METRICS_TOKEN>'")
    elif not _loopback(request):
        return error_response(
            403,
            "FORBIDDEN",
            "/metrics answers loopback scrapers only; set OFFSETSITE_METRICS_TOKEN to open it "
            "to others with a bearer token",
        )
    # One hold of the engine lock: the numbers of one scrape come from one moment.
    with engine.locked():
        body = render(engine.get_cluster)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
