"""``/metrics``: consumer-group lag for Prometheus, read from the cluster at scrape time.

Names and labels follow kafka-lag-exporter (``kafka_consumergroup_group_*``,
``kafka_partition_*``, label ``cluster_name``), so its Grafana dashboards and alert
rules work unchanged. Two differences, both documented in docs/api.md:

- lag in seconds is measured, not interpolated: now minus the timestamp of the record
  at the committed offset (the oldest record the group has not read; below the log
  start, the record at the log start), 0 when caught up, no sample when no record is
  left to measure from. It is ``logcore.lag_tracker.LagTracker.time_lag`` with
  ``interpolate=False``, the pages' "record" lag in time;
- extra families kafka-lag-exporter lacks: ``kafka_consumergroup_group_state`` (one
  series per state, 1 for the current one, as kminion's state label),
  ``kafka_consumergroup_group_members`` and ``kafka_consumergroup_group_latest_offset``
  (the HW next to each committed offset);
- ``logcore_recovery_truncated_records_total`` (embedded engine only): records the
  log recovery cut from each partition when the data directory was opened.

A custom collector reads the cluster when scraped; nothing is registered in
prometheus_client's global registry, so nothing accumulates between scrapes.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Callable, Iterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from logcore.cluster import Cluster
from logcore.lag_tracker import LagTracker

from .auth import bearer_token, error_response

GROUP_STATES = ("Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead")
PARTITION_LABELS = ["cluster_name", "group", "topic", "partition", "member_host", "consumer_id", "client_id"]


class ClusterCollector(Collector):
    """Reads ``cluster()`` when scraped; lag and lag in time come from logcore's one home.

    Lag is ``PartitionOffsets.lag`` (``logcore.lag.lag_messages``), lag in seconds
    ``lags.time_lag(..., interpolate=False)``. ``lags`` is the cluster's
    :class:`~logcore.lag_tracker.LagTracker`, shared with the pages (its clock and its
    cache of record timestamps); without one, a fresh tracker answers the same.
    """

    def __init__(
        self, cluster: Callable[[], Cluster], cluster_name: str = "offsetsite", lags: LagTracker | None = None
    ) -> None:
        self._cluster = cluster
        self._name = cluster_name
        self._lags = lags if lags is not None else LagTracker()

    def collect(self) -> Iterator[Metric]:
        cluster = self._cluster()
        lags = self._lags
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

        report = cluster.recovery_report()
        truncated: CounterMetricFamily | None = None
        cut: dict[tuple[str, int], int] = {}
        if report is not None:
            truncated = CounterMetricFamily(
                "logcore_recovery_truncated_records",
                "Records the log recovery cut from a partition (a torn or corrupt tail) when it was opened.",
                labels=["cluster_name", "topic", "partition"],
            )
            for t in report:
                cut[(t.topic, t.partition)] = cut.get((t.topic, t.partition), 0) + t.records
        for topic in cluster.describe_topics(include_internal=True):
            for p in topic.partitions:
                earliest.add_metric([name, topic.name, str(p.partition)], p.log_start_offset)
                hw.add_metric([name, topic.name, str(p.partition)], p.high_watermark)
                if truncated is not None:
                    truncated.add_metric([name, topic.name, str(p.partition)], cut.get((topic.name, p.partition), 0))

        # Follow this cluster's events first: a re-opened engine must not be answered
        # from the previous one's cached record timestamps.
        lags.sync(cluster)
        now_ms = lags.clock()
        groups = cluster.describe_all_groups()
        # One batched read of the record timestamps the lag-seconds samples need.
        lags.prefetch_timestamps(cluster, (o for g in groups for o in g.offsets), interpolate=False)
        for group in groups:
            gid = group.group_id
            for s in GROUP_STATES:
                state.add_metric([name, gid, s], 1.0 if group.state == s else 0.0)
            members.add_metric([name, gid], len(group.members))
            simple = "true" if not group.protocol_type else "false"
            part_lags: list[int] = []
            lag_secs: list[float] = []
            per_topic: dict[str, int] = {}
            for o in group.offsets:
                part_lag = o.lag  # logcore.lag.lag_messages
                if o.committed is None or part_lag is None:
                    continue  # nothing committed, or the topic is gone: no lag to speak of
                labels = [name, gid, o.topic, str(o.partition), o.host or "", o.member_id or "", o.client_id or ""]
                offset.add_metric(labels, o.committed)
                latest.add_metric(labels, o.high_watermark)
                lag.add_metric(labels, part_lag)
                part_lags.append(part_lag)
                per_topic[o.topic] = per_topic.get(o.topic, 0) + part_lag
                ms = lags.time_lag(cluster, o, now_ms, interpolate=False).ms
                if ms is not None:
                    lag_s.add_metric(labels, ms / 1000.0)
                    lag_secs.append(ms / 1000.0)
            max_lag.add_metric([name, gid, simple], max(part_lags, default=0))
            max_lag_s.add_metric([name, gid, simple], max(lag_secs, default=0.0))
            sum_lag.add_metric([name, gid], sum(part_lags))
            for topic_name, total in sorted(per_topic.items()):
                topic_sum.add_metric([name, gid, topic_name], total)

        yield from (offset, latest, lag, lag_s, max_lag, max_lag_s, sum_lag, topic_sum, state, members, earliest, hw)
        if truncated is not None:
            yield truncated


def render(cluster: Callable[[], Cluster], lags: LagTracker | None = None) -> bytes:
    # A registry per scrape, dropped afterwards: no global state grows across scrapes.
    registry = CollectorRegistry(auto_describe=False)
    from offsetsite.engine import DEFAULT_CLUSTER, current_cluster_name

    # kafka-lag-exporter labels every sample with the cluster's configured name: a Kafka
    # cluster's is its name here; the embedded engine's is METRICS_CLUSTER_NAME.
    name = current_cluster_name()
    if name == DEFAULT_CLUSTER:
        name = str(settings.OFFSETSITE.get("METRICS_CLUSTER_NAME", "offsetsite"))
    registry.register(ClusterCollector(cluster, name, lags))
    return generate_latest(registry)


def _loopback(request: HttpRequest) -> bool:
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Open to loopback scrapers, or to anyone with ``OFFSETSITE["METRICS_TOKEN"]`` when it is set."""
    from offsetsite import engine
    from offsetsite.dashboard.groups.status import tracker

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
    # One hold of the engine lock: the numbers of one scrape come from one moment. The
    # cluster's lag tracker (shared with the pages) is taken first: its lock comes
    # before the engine's (see logcore.lag_tracker).
    lags = tracker()
    with lags.lock, engine.locked():
        body = render(engine.get_cluster, lags)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
