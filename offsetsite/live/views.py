"""Lag history as JSON for the charts: one indexed query, aligned series for uPlot."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Max
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from offsetsite.core.site_settings import read_login_required
from offsetsite.engine import current_cluster_name

from .marks import chart_marks
from .models import TOTAL_PARTITION, LagMinute, LagSample

# range -> (seconds, tier). The raw tier is kept an hour; longer ranges read minutes.
RANGES: dict[str, tuple[int, str]] = {
    "15m": (15 * 60, "raw"),
    "1h": (3600, "raw"),
    "6h": (6 * 3600, "minute"),
    "24h": (24 * 3600, "minute"),
}
DEFAULT_RANGE = "15m"


def _series(
    rows: list[tuple[datetime, str, int, int]], totals: dict[datetime, int] | None
) -> tuple[list[dict[str, Any]], dict[str, list[Any]]]:
    """Align (at, topic, partition, lag) rows on one time axis; None where a partition has no point.

    ``totals`` gives the total per time where it is known better than the sum of the
    rows (minute tier: the highest total within the minute); otherwise totals are sums.
    """
    times = sorted({r[0] for r in rows} | set(totals or ()))
    index = {t: i for i, t in enumerate(times)}
    parts = sorted({(r[1], r[2]) for r in rows})
    keys = {tp: f"{tp[0]}-{tp[1]}" for tp in parts}
    series: dict[str, list[Any]] = {"t": [int(t.timestamp()) for t in times]}
    for tp in parts:
        series[keys[tp]] = [None] * len(times)
    summed: list[int | None] = [None] * len(times)
    for at, topic, partition, lag in rows:
        i = index[at]
        series[keys[(topic, partition)]][i] = lag
        summed[i] = (summed[i] or 0) + lag
    if totals:
        for at, total in totals.items():
            summed[index[at]] = total
    series["total"] = summed
    partitions = [{"key": keys[tp], "topic": tp[0], "partition": tp[1]} for tp in parts]
    return partitions, series


@require_GET
def group_lag(request: HttpRequest, group: str) -> JsonResponse:
    if read_login_required() and not request.user.is_authenticated:
        return JsonResponse({"error": "Log in to read lag history."}, status=401)
    rng = request.GET.get("range", DEFAULT_RANGE)
    if rng not in RANGES:
        return JsonResponse({"error": f"Unknown range {rng[:20]!r}: use one of {', '.join(RANGES)}."}, status=400)
    seconds, tier = RANGES[rng]
    now = timezone.now()
    since = now - timedelta(seconds=seconds)
    totals: dict[datetime, int] | None = None
    if tier == "raw":
        rows = list(
            LagSample.objects.filter(cluster=current_cluster_name(), group_id=group, at__gte=since)
            .order_by("at")
            .values_list("at", "topic", "partition", "lag")
        )
    else:
        minute_rows = list(
            LagMinute.objects.filter(cluster=current_cluster_name(), group_id=group, at__gte=since)
            .order_by("at")
            .values_list("at", "topic", "partition", "lag_max")
        )
        rows = [r for r in minute_rows if r[2] != TOTAL_PARTITION]
        totals = {r[0]: r[3] for r in minute_rows if r[2] == TOTAL_PARTITION}
        # The minute in progress is not folded yet: show its raw samples at the live edge.
        last = LagMinute.objects.filter(cluster=current_cluster_name(), group_id=group).aggregate(m=Max("at"))["m"]
        tail_from = last + timedelta(minutes=1) if last is not None else since
        tail = list(
            LagSample.objects.filter(cluster=current_cluster_name(), group_id=group, at__gte=max(tail_from, since))
            .order_by("at")
            .values_list("at", "topic", "partition", "lag")
        )
        rows += tail
        for at, _topic, _partition, lag in tail:
            totals[at] = totals.get(at, 0) + lag
    partitions, series = _series(rows, totals)
    return JsonResponse(
        {
            "group": group,
            "range": rng,
            "tier": tier,
            "now": int(now.timestamp()),
            "since": int(since.timestamp()),
            "partitions": partitions,
            "series": series,
            # Resets, rebalances and operators' actions within the range (offsetsite/live/marks.py).
            "marks": chart_marks(current_cluster_name(), group, since, now),
        }
    )
