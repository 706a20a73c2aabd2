"""Lag history: sample every group's lag, downsample, prune; write the group timeline.

A daemon thread started when the engine opens runs :func:`run_round` every second:
the timeline buffer is drained each round (so a rebalance shows within a second),
lag is sampled every ``LAG_SAMPLE_INTERVAL`` seconds (5 by default). Tests call
:func:`sample_once` directly with a chosen ``now``.

Settings (``settings.OFFSETSITE``, seconds):
- ``SAMPLER``: run the thread (default: yes; the test suite turns it off with
  ``OFFSETSITE_SAMPLER=0`` because tests drive sampling themselves and a background
  writer would race their database);
- ``LAG_SAMPLE_INTERVAL`` (5), ``LAG_RAW_RETENTION`` (3600),
  ``LAG_MINUTE_RETENTION`` (7 days), ``TIMELINE_RETENTION`` (30 days),
  ``SAMPLER_TICK`` (1: how often the thread wakes to write the timeline).
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections, transaction
from django.db.models import Max, Min
from django.utils import timezone

from logcore import Cluster

from .models import TOTAL_PARTITION, GroupEvent, LagMinute, LagSample

_log = logging.getLogger(__name__)
MINUTE = timedelta(minutes=1)


def _setting(name: str, default: float) -> float:
    return float(str(settings.OFFSETSITE.get(name, default)))


def sample_interval_s() -> float:
    return _setting("LAG_SAMPLE_INTERVAL", 5.0)


def raw_retention() -> timedelta:
    return timedelta(seconds=_setting("LAG_RAW_RETENTION", 3600.0))


def minute_retention() -> timedelta:
    return timedelta(seconds=_setting("LAG_MINUTE_RETENTION", 7 * 86400.0))


def timeline_retention() -> timedelta:
    return timedelta(seconds=_setting("TIMELINE_RETENTION", 30 * 86400.0))


@dataclass
class RoundResult:
    samples: int = 0
    minutes: int = 0
    pruned: int = 0
    events: int = 0


def _floor_minute(t: datetime) -> datetime:
    return t.replace(second=0, microsecond=0)


def _name(cluster_name: str | None) -> str:
    from offsetsite.engine import current_cluster_name

    return cluster_name or current_cluster_name()


def lag_rows(now: datetime, cluster_name: str | None = None) -> list[LagSample]:
    """The LagSamples of ``now``, unsaved: asks the cluster, touches no database."""
    from offsetsite.engine import get_cluster

    name = _name(cluster_name)
    cluster = get_cluster(name)
    rows: list[LagSample] = []
    # Offsets and watermarks only (no members): a Kafka cluster answers it with one
    # OffsetFetch per group, all in flight at once, and two batched ListOffsets.
    for group_id, offsets in cluster.group_offsets(cluster.group_ids()).items():
        for p in offsets:
            lag = p.lag  # logcore.lag.lag_messages
            # No commit yet, or offsets left on a deleted topic (no HW): no lag to chart.
            if lag is None or p.committed is None:
                continue
            rows.append(
                LagSample(
                    cluster=name,
                    group_id=group_id,
                    topic=p.topic,
                    partition=p.partition,
                    at=now,
                    committed=p.committed,
                    hw=p.high_watermark,
                    lag=lag,
                )
            )
    return rows


def downsample(now: datetime, cluster_name: str | None = None) -> int:
    """Fold the raw samples of every complete minute not yet folded into LagMinute rows."""
    name = _name(cluster_name)
    boundary = _floor_minute(now)
    last = LagMinute.objects.filter(cluster=name).aggregate(m=Max("at"))["m"]
    if last is not None:
        start = last + MINUTE
    else:
        first = LagSample.objects.filter(cluster=name).aggregate(m=Min("at"))["m"]
        if first is None:
            return 0
        start = _floor_minute(first)
    if start >= boundary:
        return 0
    per_part: dict[tuple[str, str, int, datetime], list[Any]] = {}
    totals: dict[tuple[str, datetime], int] = defaultdict(int)  # (group, sample time) -> sum
    rows = (
        LagSample.objects.filter(cluster=name, at__gte=start, at__lt=boundary)
        .order_by("at", "id")
        .values_list("group_id", "topic", "partition", "at", "lag", "committed", "hw")
    )
    for g, t, p, at, lag, committed, hw in rows.iterator(chunk_size=2000):
        minute = _floor_minute(at)
        agg = per_part.get((g, t, p, minute))
        if agg is None:
            per_part[(g, t, p, minute)] = [lag, lag, committed, hw, 1]
        else:
            agg[0] = max(agg[0], lag)
            agg[1], agg[2], agg[3] = lag, committed, hw  # ordered by time: the last wins
            agg[4] += 1
        totals[(g, at)] += lag
    total_per_minute: dict[tuple[str, datetime], list[int]] = {}
    for (g, at), total in sorted(totals.items(), key=lambda kv: kv[0][1]):
        key = (g, _floor_minute(at))
        agg_t = total_per_minute.get(key)
        if agg_t is None:
            total_per_minute[key] = [total, total, 1]
        else:
            agg_t[0] = max(agg_t[0], total)
            agg_t[1] = total
            agg_t[2] += 1
    out = [
        LagMinute(
            cluster=name,
            group_id=g,
            topic=t,
            partition=p,
            at=m,
            lag_max=a[0],
            lag_last=a[1],
            committed=a[2],
            hw=a[3],
            samples=a[4],
        )
        for (g, t, p, m), a in per_part.items()
    ]
    out += [
        LagMinute(
            cluster=name,
            group_id=g,
            topic="",
            partition=TOTAL_PARTITION,
            at=m,
            lag_max=a[0],
            lag_last=a[1],
            committed=None,
            hw=None,
            samples=a[2],
        )
        for (g, m), a in total_per_minute.items()
    ]
    LagMinute.objects.bulk_create(out, batch_size=500, ignore_conflicts=True)
    return len(out)


def prune(now: datetime) -> int:
    """Drop raw samples, minutes and timeline rows older than their retention."""
    n = LagSample.objects.filter(at__lt=now - raw_retention()).delete()[0]
    n += LagMinute.objects.filter(at__lt=now - minute_retention()).delete()[0]
    n += GroupEvent.objects.filter(at__lt=now - timeline_retention()).delete()[0]
    return n


def write_timeline(force: bool = False, cluster_name: str | None = None) -> int:
    """Write the bridge's buffered group events; wake the pages of the groups concerned."""
    from .bridge import bridge_for

    name = _name(cluster_name)
    bridge = bridge_for(name)
    entries = bridge.timeline.drain(force=force)
    if not entries:
        return 0
    GroupEvent.objects.bulk_create(
        [
            GroupEvent(
                cluster=name,
                group_id=e.group_id,
                at=datetime.fromtimestamp(e.at, tz=UTC),
                kind=e.kind,
                summary=e.summary,
                details=e.details,
            )
            for e in entries
        ],
        batch_size=500,
    )
    for group_id in {e.group_id for e in entries}:
        bridge.touch_group(group_id)
    return len(entries)


def sample_once(now: datetime | None = None, cluster_name: str | None = None) -> RoundResult:
    """Sample lag now, fold complete minutes, prune old rows, write buffered timeline entries."""
    now = now or timezone.now()
    name = _name(cluster_name)
    result = RoundResult()
    # Ask the cluster before the transaction: SQLite's transactions are IMMEDIATE here, so
    # a Kafka cluster that answers slowly (or not at all, for up to its timeout) would
    # otherwise hold the write lock, and logins and audit entries fail "database is locked".
    rows = lag_rows(now, name)
    with transaction.atomic():
        LagSample.objects.bulk_create(rows, batch_size=500)
        result.samples = len(rows)
        result.minutes = downsample(now, name)
        result.pruned = prune(now)
    result.events = write_timeline(force=False, cluster_name=name)
    return result


# --- the background thread ---------------------------------------------------

_thread_lock = threading.Lock()
_current: Sampler | None = None  # the embedded engine's
_others: dict[str, Sampler] = {}  # Kafka clusters', by name


def enabled() -> bool:
    return bool(settings.OFFSETSITE.get("SAMPLER", True))


class Sampler(threading.Thread):
    """Samples while its engine is the open one; stops when the engine closes or is replaced."""

    def __init__(self, cluster: Cluster, tick_s: float = 1.0, name: str = "local") -> None:
        super().__init__(name=f"offsetsite-lag-sampler-{name}", daemon=True)
        self.cluster = cluster
        self.cluster_name = name
        self.tick_s = tick_s
        self.stop_event = threading.Event()
        self.rounds = 0

    def _still_current(self, seen: list[bool]) -> bool:
        from offsetsite import clusters, engine

        # The engine publishes its cluster only after the on_open hooks ran.
        if self.cluster_name == engine.DEFAULT_CLUSTER:
            current = getattr(engine, "_cluster", None)
        else:
            current = clusters.open_clusters().get(self.cluster_name)
        if current is self.cluster:
            seen[0] = True
            return True
        return current is None and not seen[0]

    def run(self) -> None:
        seen = [False]
        interval = sample_interval_s()
        clock = 0.0
        last_sample = -interval  # the first round samples: a chart has a point at once
        try:
            while not self.stop_event.wait(self.tick_s):
                clock += self.tick_s
                if not self._still_current(seen):
                    break
                close_old_connections()
                try:
                    if clock - last_sample >= interval:
                        last_sample = clock
                        sample_once(cluster_name=self.cluster_name)
                    else:
                        write_timeline(cluster_name=self.cluster_name)
                    self.rounds += 1
                except Exception:  # a bad round must not end the history for good
                    _log.exception("lag sampler round failed")
                finally:
                    close_old_connections()
        finally:
            connections.close_all()  # this thread's connections only

    def stop(self) -> None:
        self.stop_event.set()


def start_for(cluster: Cluster, name: str = "local") -> Sampler | None:
    """Start the sampler thread for a freshly opened cluster (stopping any older one of it)."""
    global _current
    with _thread_lock:
        old = _current if name == "local" else _others.pop(name, None)
        if old is not None:
            old.stop()
        if name == "local":
            _current = None
        if not enabled():
            return None
        started = Sampler(cluster, tick_s=_setting("SAMPLER_TICK", 1.0), name=name)
        if name == "local":
            _current = started
        else:
            _others[name] = started
        started.start()
        return started


def stop() -> None:
    global _current
    with _thread_lock:
        if _current is not None:
            _current.stop()
            _current = None
        for other in _others.values():
            other.stop()
        _others.clear()
