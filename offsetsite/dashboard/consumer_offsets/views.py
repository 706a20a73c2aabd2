"""The ``__consumer_offsets`` page: the group coordinator's notebook, decoded.

Every record, newest first (the log view), or the newest commit per group, topic and
partition (the latest view: what compaction keeps). ``?group=G`` reads only the partition
Kafka writes that group to. The live frames render the same view through
:func:`consumer_offsets_context` (the filter rides on the socket's query string).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from logcore.java_hash import partition_for_group
from offsetsite.dashboard.consumer_offsets.page import DEFAULT_PAGE as OFFSETS_PAGE
from offsetsite.dashboard.consumer_offsets.page import (
    OFFSETS_TOPIC,
    OffsetsPage,
    latest_entries,
    offsets_page,
    parse_cursor,
)
from offsetsite.dashboard.topics.parts import MAX_PAGE
from offsetsite.engine import get_cluster

# A group id is any string to Kafka; a longer filter is refused rather than hashed.
MAX_GROUP_FILTER = 255
OFFSETS_VIEWS = ("log", "latest")


def consumer_offsets_query(request: HttpRequest | None) -> dict[str, str]:
    """The page's parameters from the query string (what the live socket carries too)."""
    if request is None:
        return {}
    return {k: request.GET.get(k, "") for k in ("p", "size", "before", "group", "view")}


def consumer_offsets_context(request: HttpRequest | None = None, query: dict[str, str] | None = None) -> dict[str, Any]:
    """The page's context from ``request``'s query string, or from ``query`` (a live frame's)."""
    params = query if query is not None else consumer_offsets_query(request)
    cluster = get_cluster()
    desc = cluster.describe_topic(OFFSETS_TOPIC)
    count = len(desc.partitions)
    problems: list[str] = []
    partition: int | None = None
    cursor = None
    size = OFFSETS_PAGE
    raw_p = params.get("p", "").strip()
    if raw_p:
        if raw_p.isdecimal() and len(raw_p) <= 18 and int(raw_p) < count:
            partition = int(raw_p)
        else:
            problems.append(f"Partition {raw_p!r} does not exist: {OFFSETS_TOPIC} has partitions 0 to {count - 1}.")
    raw_size = params.get("size", "").strip()
    if raw_size:
        if raw_size.isdecimal() and len(raw_size) <= 18 and 1 <= int(raw_size) <= MAX_PAGE:
            size = int(raw_size)
        else:
            problems.append(f"A page holds 1 to {MAX_PAGE} records, not {raw_size!r}.")
    view = params.get("view", "").strip() or "log"
    if view not in OFFSETS_VIEWS:
        problems.append(f"View {view!r} does not exist: choose log (every record) or latest (per group and partition).")
        view = "log"
    group: str | None = params.get("group", "").strip() or None
    group_partition: int | None = None
    if group is not None and len(group) > MAX_GROUP_FILTER:
        problems.append(f"A group id filter holds at most {MAX_GROUP_FILTER} characters; showing every group.")
        group = None
    if group is not None:
        # Kafka writes all of a group's records to this one partition.
        group_partition = partition_for_group(group, count)
        if partition is not None and partition != group_partition:
            problems.append(
                f"Group {group!r} writes to partition {group_partition} of {OFFSETS_TOPIC}, not {partition}: "
                f"showing partition {group_partition}."
            )
        partition = group_partition
    before = params.get("before", "").strip()
    if before and view == "log":
        try:
            cursor = parse_cursor(before, count)
        except ValueError as e:
            problems.append(f"{e}; showing the newest records.")
    partitions = [partition] if partition is not None else list(range(count))
    base: dict[str, str | int] = {}
    if group is not None:
        base["group"] = group
    elif partition is not None:
        base["p"] = partition
    if view != "log":
        base["view"] = view
    latest = None
    page = OffsetsPage()
    older_url = None
    if view == "latest":
        latest = latest_entries(cluster, partitions, group)
    else:
        page = offsets_page(cluster, partitions, cursor, size, group)
        if page.older:
            older_url = reverse("consumer_offsets") + "?" + urlencode({**base, "before": page.older, "size": size})
    shown = latest.rows if latest is not None else page.rows
    no_entries = ""
    if group is not None and not shown and (latest is not None or page.newest):
        no_entries = (
            f"Group {group!r} has no entries in {OFFSETS_TOPIC} (partition {group_partition}): it never committed "
            "an offset, or its offsets were deleted"
            + (" and compaction removed its records." if latest is None else ".")
        )
    live_query = urlencode({k: v for k, v in base.items()})
    return {
        "offsets_topic": desc,
        "page": page,
        "latest": latest,
        "view": view,
        "group": group,
        "group_partition": group_partition,
        "partition": partition,
        "size": size,
        "older_url": older_url,
        "newest_url": reverse("consumer_offsets") + ("?" + live_query if live_query else ""),
        "latest_url": reverse("consumer_offsets") + "?" + urlencode({**base, "view": "latest"}),
        "log_url": reverse("consumer_offsets")
        + ("?" + urlencode({k: v for k, v in base.items() if k != "view"}) if group or partition is not None else ""),
        "no_entries": no_entries,
        "problems": problems,
        # The live frames render this same view: the filter rides on the socket's query string.
        "live_query": live_query,
        # Only the newest page of the log view (and the latest view) follows the live updates.
        "live_rows": view == "latest" or (page.newest and size == OFFSETS_PAGE),
    }


@require_GET
def consumer_offsets(request: HttpRequest) -> HttpResponse:
    ctx = consumer_offsets_context(request)
    for p in ctx["problems"]:
        messages.error(request, p)
    return render(request, "dashboard/consumer_offsets.html", ctx)
