"""The overview's summary cards and lag sparklines (what Kafka UIs put above their tables).

* groups by health: Burrow's group codes as :mod:`.group_status` names them (OK, WARN,
  ERR, NEW/RESET while a commit window is not full) and groups with nothing committed;
* the worst lag in time and which group has it (:meth:`LagTracker.estimated_time_lag`
  over every group, no record reads, and the page's exact rows);
* records per second in and out of each topic, from the lag history of the last few
  minutes (``LagSample``): in is the produce rate, the growth of each partition's
  high watermark; out is the consume rate, the growth of the groups' committed offsets
  summed over the groups reading the topic (each group reads every record once);
* a sparkline per group row: the group's total lag over the last 30 minutes from the
  one-minute tier (``LagMinute`` rows of partition -1), drawn server-side as inline
  SVG with the numbers in its title. One query serves every row of the page.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Max, Min
from django.utils import timezone
from django.utils.html import format_html

from logcore.cluster import GroupDescription
from logcore.lag import evaluate_group
from offsetsite.dashboard.groups.status import HEALTH_CSS, GroupSummary, LagTracker, human_ms, summary_of
from offsetsite.engine import current_cluster_name
from offsetsite.live.models import TOTAL_PARTITION, LagMinute, LagSample

SPARK_WINDOW = timedelta(minutes=30)
RATE_WINDOW = timedelta(minutes=5)
SPARK_W, SPARK_H = 96, 22
TOP_TOPICS = 8
NO_COMMITS = "NO COMMITS"
HEALTH_ORDER = ("ERR", "WARN", "OK", "RESET", "NEW", NO_COMMITS)
PARTITION_ORDER = ("STOP", "STALL", "REWIND", "WARN")


@dataclass(frozen=True)
class TopicRate:
    topic: str
    in_per_s: float
    out_per_s: float
    groups: int


@dataclass(frozen=True)
class Sparkline:
    points: tuple[tuple[float, int], ...]  # (seconds since the window start, total lag)

    def svg(self) -> str:
        """Inline SVG: a polyline scaled to its own max, a title with the numbers."""
        lags = [lag for _, lag in self.points]
        top = max(max(lags), 1)
        span = SPARK_WINDOW.total_seconds()
        coords = " ".join(
            f"{x / span * SPARK_W:.1f},{SPARK_H - 1 - lag / top * (SPARK_H - 2):.1f}" for x, lag in self.points
        )
        title = (
            f"Total lag over the last 30 minutes ({len(lags)} minute{'s' if len(lags) != 1 else ''} sampled): "
            f"lowest {min(lags):,}, highest {max(lags):,}, latest {lags[-1]:,}"
        )
        last_x, last_lag = self.points[-1]
        # format_html escapes its arguments into strings: numbers are formatted first.
        cx, cy = f"{last_x / span * SPARK_W:.1f}", f"{SPARK_H - 1 - last_lag / top * (SPARK_H - 2):.1f}"
        return format_html(
            '<svg class="spark" width="{}" height="{}" viewBox="0 0 {} {}" role="img" aria-label="{}">'
            "<title>{}</title>"
            '<polyline points="{}" fill="none" stroke="currentColor" stroke-width="1.5"/>'
            '<circle cx="{}" cy="{}" r="2" fill="currentColor"/></svg>',
            SPARK_W,
            SPARK_H,
            SPARK_W,
            SPARK_H,
            title,
            title,
            coords,
            cx,
            cy,
        )


def sparklines(group_ids: Iterable[str], now: datetime, cluster: str | None = None) -> dict[str, str]:
    """group id -> its sparkline's SVG (groups without history are left out); one query."""
    ids = list(group_ids)
    if not ids:
        return {}
    start = now - SPARK_WINDOW
    series: dict[str, list[tuple[float, int]]] = defaultdict(list)
    rows = (
        LagMinute.objects.filter(
            cluster=cluster or current_cluster_name(),
            group_id__in=ids,
            partition=TOTAL_PARTITION,
            at__gte=start,
            at__lte=now,
        )
        .order_by("at")
        .values_list("group_id", "at", "lag_last")
    )
    for gid, at, lag in rows:
        series[gid].append(((at - start).total_seconds(), int(lag)))
    return {gid: Sparkline(tuple(pts)).svg() for gid, pts in series.items()}


# (cluster) -> (newest sample id, window start, rates): live frames come up to 10 times a
# second and samples every few seconds; the aggregate runs again only for new samples.
_rates_cache: dict[str, tuple[int | None, datetime, list[TopicRate]]] = {}


def topic_rates(now: datetime, cluster: str | None = None) -> list[TopicRate]:
    """Records per second in (high watermarks) and out (commits) per topic.

    Rates are (newest - oldest) / time between them, per partition over the window, so
    an operator's reset backwards is not counted as reading (Min/Max, not deltas). One
    cheap query for the newest sample id, and the aggregate only when it moved.
    """
    name = cluster or current_cluster_name()
    newest = LagSample.objects.filter(cluster=name).aggregate(m=Max("id"))["m"]
    cached = _rates_cache.get(name)
    # Reused while no sample came and the window start moved less than a sample interval.
    if cached is not None and cached[0] == newest and abs((now - cached[1]).total_seconds()) < 5:
        return cached[2]
    rates = _topic_rates(now, name)
    _rates_cache[name] = (newest, now, rates)
    return rates


def _topic_rates(now: datetime, name: str) -> list[TopicRate]:
    rows = (
        LagSample.objects.filter(cluster=name, at__gte=now - RATE_WINDOW, at__lte=now)
        .values("group_id", "topic", "partition")
        .annotate(
            first=Min("at"),
            last=Max("at"),
            hw_lo=Min("hw"),
            hw_hi=Max("hw"),
            c_lo=Min("committed"),
            c_hi=Max("committed"),
        )
    )
    produced: dict[tuple[str, int], float] = {}
    consumed: dict[str, float] = defaultdict(float)
    readers: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        seconds = (r["last"] - r["first"]).total_seconds()
        readers[r["topic"]].add(r["group_id"])
        if seconds <= 0:
            continue
        tp = (r["topic"], r["partition"])
        # Every group sampling a partition sees the same high watermark: take one.
        produced[tp] = max(produced.get(tp, 0.0), (r["hw_hi"] - r["hw_lo"]) / seconds)
        consumed[r["topic"]] += (r["c_hi"] - r["c_lo"]) / seconds
    totals: dict[str, float] = defaultdict(float)
    for (topic, _), rate in produced.items():
        totals[topic] += rate
    topics = set(readers)
    out = [TopicRate(t, totals.get(t, 0.0), consumed.get(t, 0.0), len(readers[t])) for t in topics]
    return sorted(out, key=lambda r: (-(r.in_per_s + r.out_per_s), r.topic))


def health_counts(lt: LagTracker, descs: Sequence[GroupDescription], at: int) -> list[dict[str, Any]]:
    """How many groups have each health code (in memory: no reads, no queries)."""
    return health_summary(lt, descs, at)[0]


def health_summary(
    lt: LagTracker, descs: Sequence[GroupDescription], at: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Groups per group code, and partitions per Burrow status other than OK (STOP, STALL,
    REWIND, WARN: what an ERR or WARN group is made of); pending partitions not counted."""
    counts: dict[str, int] = defaultdict(int)
    partitions: dict[str, int] = defaultdict(int)
    for d in descs:
        s = summary_of(d)
        if s.total_lag is None:
            counts[NO_COMMITS] += 1
            continue
        statuses = [st for p in d.offsets if (st := lt.health(d.group_id, p, at)) is not None]
        for st in statuses:
            if not st.pending and st.status.name != "OK":
                partitions[st.status.name] += 1
        health = evaluate_group(statuses)
        moved = any(lt.operator_move(d.group_id, p) is not None for p in d.offsets)
        name = GroupSummary(s.group_id, s.state, 0, 0, 0, 0, health=health, moved=moved).health_name
        counts[name] += 1
    order = {n: i for i, n in enumerate(HEALTH_ORDER)}
    groups = [
        {"name": n, "count": c, "css": HEALTH_CSS.get(n, "muted")}
        for n, c in sorted(counts.items(), key=lambda kv: (order.get(kv[0], 99), kv[0]))
    ]
    part_order = {n: i for i, n in enumerate(PARTITION_ORDER)}
    parts = [
        {"name": n, "count": c, "css": HEALTH_CSS.get(n, "muted")}
        for n, c in sorted(partitions.items(), key=lambda kv: (part_order.get(kv[0], 99), kv[0]))
    ]
    return groups, parts


def cards(lt: LagTracker, descs: Sequence[GroupDescription], shown: Sequence[GroupSummary]) -> dict[str, Any]:
    """The cards' context: every group of the cluster (not only the filter), the page's rows."""
    at = lt.clock()
    with lt.lock:
        counts, partition_counts = health_summary(lt, descs, at)
    worst = lt.estimated_time_lag(descs, at)
    worst_id, worst_ms = (worst[0], worst[1].ms) if worst else ("", None)
    for row in shown:  # exact for the rows on the page (record timestamps)
        if row.lag_ms is not None and (worst_ms is None or row.lag_ms > worst_ms):
            worst_id, worst_ms = row.group_id, row.lag_ms
    now = timezone.now()
    rates = topic_rates(now)
    return {
        "health_counts": counts,
        "partition_health": partition_counts,
        "group_total": len(descs),
        "worst_lag": {"group_id": worst_id, "ms": worst_ms, "text": human_ms(worst_ms)} if worst_ms else None,
        "rates": rates[:TOP_TOPICS],
        "rates_more": max(len(rates) - TOP_TOPICS, 0),
        "rate_window_min": int(RATE_WINDOW.total_seconds() // 60),
        "sparks": sparklines([r.group_id for r in shown], now),
    }
