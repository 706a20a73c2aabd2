"""Topic pages: a topic's partitions drawn as logs with its records, produce, create, delete,
and the internal ``__consumer_offsets`` decoded.

Reads are open to every visitor. Changes need the operator role (producing also
works for anonymous visitors in workshop mode), go by POST with CSRF, and each
writes one audit entry.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods

from logcore.admin import parse_datetime
from logcore.errors import InvalidTopic, KafkaError, UnknownTopicOrPartition
from logcore.log_manager import TopicDescription
from offsetsite.core import audit
from offsetsite.core.audit import Action, Actor
from offsetsite.core.htmx import is_htmx
from offsetsite.core.quota import QuotaExceeded, charge_visitor
from offsetsite.core.roles import require_role
from offsetsite.core.workshop import may_produce
from offsetsite.dashboard.topics import bursts
from offsetsite.dashboard.topics.forms import ProduceForm, TopicCreateForm, TopicDeleteForm
from offsetsite.dashboard.topics.parts import (
    DEFAULT_PAGE,
    LIVE_TAIL_PARTITIONS,
    MAX_PAGE,
    RecordsPage,
    records_page,
    topic_context,
)
from offsetsite.dashboard.topics.records import VIEW_MODES, iso_utc, parse_mode
from offsetsite.engine import current_cluster_name, get_cluster

_MINUTES = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$")


def _describe(topic: str) -> TopicDescription:
    try:
        return get_cluster().describe_topic(topic)
    except (UnknownTopicOrPartition, InvalidTopic):
        raise Http404(f"Topic '{topic}' does not exist.") from None


def _int_param(request: HttpRequest, name: str, problems: list[str], allowed: str) -> int | None:
    raw = request.GET.get(name, "").strip()
    if raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        problems.append(f"{name} {raw!r} is not a whole number: {allowed}.")
        return None


def parse_time(text: str) -> int:
    """Epoch milliseconds, or Kafka's yyyy-MM-ddTHH:mm:ss.SSS[zone] (no zone: UTC)."""
    text = text.strip()
    if text.isdecimal() and len(text) <= 18:  # isdigit() passes '²', which int() refuses
        return int(text)
    if _MINUTES.match(text):  # what a browser's datetime-local input sends
        text += ":00"
    return parse_datetime(text)


def _records_for(request: HttpRequest, topic: TopicDescription) -> tuple[RecordsPage, list[str]]:
    """The record table asked for by the query string; problems become messages."""
    problems: list[str] = []
    count = len(topic.partitions)
    partition = _int_param(request, "p", problems, f"choose a partition from 0 to {count - 1}")
    if partition is None:
        partition = 0
    elif not 0 <= partition < count:
        problems.append(f"Partition {partition} does not exist: choose 0 to {count - 1}.")
        partition = 0
    size = _int_param(request, "size", problems, f"a page holds 1 to {MAX_PAGE} records")
    if size is None:
        size = DEFAULT_PAGE
    elif not 1 <= size <= MAX_PAGE:
        problems.append(f"A page holds 1 to {MAX_PAGE} records, not {size}: showing {min(max(size, 1), MAX_PAGE)}.")
    offset = _int_param(request, "offset", problems, "offsets are whole numbers")
    cluster = get_cluster()
    notice = ""
    when = request.GET.get("time", "").strip()
    if when:
        try:
            ts = parse_time(when)
        except KafkaError as e:
            problems.append(str(e))
        else:
            found = cluster.offset_for_timestamp(topic.name, partition, ts)
            if found is None:
                _, hw = cluster.watermarks(topic.name, partition)
                notice = (
                    f"No record of partition {partition} is as new as {iso_utc(ts)}: "
                    f"showing the tail (the high watermark is {hw})."
                )
                offset = None
            else:
                offset = found
                notice = f"The first record at or after {iso_utc(ts)} is at offset {found}."
    page = records_page(cluster, topic.name, partition, offset, size, parse_mode(request.GET.get("view")))
    page.query_notice = notice
    return page, problems


def _page_links(topic: str, page: RecordsPage) -> dict[str, Any]:
    base = {"p": page.partition, "size": page.size, "view": page.mode}

    def url(**extra: Any) -> str:
        return reverse("topic", args=[topic]) + "?" + urlencode({**base, **extra}) + "#records"

    links: dict[str, Any] = {"tail": url(), "start": url(offset=page.log_start)}
    if page.prev_offset is not None:
        links["prev"] = url(offset=page.prev_offset)
    if page.next_offset is not None:
        links["next"] = url(offset=page.next_offset)
    here = {} if page.tail else {"offset": page.offset}
    links["views"] = [(m, url(**here, view=m)) for m in VIEW_MODES]
    return links


@require_GET
def topic(request: HttpRequest, topic: str) -> HttpResponse:
    cluster = get_cluster()
    lab = request.GET.get("lab", "")
    try:
        ctx = topic_context(cluster, topic, lab)
    except (UnknownTopicOrPartition, InvalidTopic):
        raise Http404(f"Topic '{topic}' does not exist.") from None
    # The live frames colour the seats for the same lab group: it rides on the socket.
    ctx["live_query"] = urlencode({"lab": lab}) if lab else ""
    desc: TopicDescription = ctx["topic"]
    page, problems = _records_for(request, desc)
    page.live_ok = ctx["live_tails"]
    for p in problems:
        messages.error(request, p)
    from offsetsite.dashboard.topics.config import config_rows  # it imports this module

    ctx.update(
        {
            "page": page,
            "links": _page_links(topic, page),
            "view_modes": VIEW_MODES,
            "max_page": MAX_PAGE,
            "config_rows": config_rows(desc),
            "produce_form": ProduceForm(partitions=len(desc.partitions)) if may_produce(request) else None,
            "may_produce": may_produce(request),
            # What recovery cut from this topic's partitions when the engine opened them.
            "recovery": [t for t in (cluster.recovery_report() or []) if t.topic == desc.name],
        }
    )
    return render(request, "dashboard/topic.html", ctx)


@require_GET
def topic_records(request: HttpRequest, topic: str) -> HttpResponse:
    """Just the record table: htmx paging swaps it without re-drawing the strips."""
    desc = _describe(topic)
    page, problems = _records_for(request, desc)
    page.live_ok = len(desc.partitions) <= LIVE_TAIL_PARTITIONS
    return render(
        request,
        "dashboard/topic.html#records",
        {
            "topic": desc,
            "page": page,
            "links": _page_links(topic, page),
            "problems": problems,
            "view_modes": VIEW_MODES,
            "max_page": MAX_PAGE,
        },
    )


# --- produce -------------------------------------------------------------------


def _check_may_produce(request: HttpRequest) -> HttpResponse | None:
    if may_produce(request):
        return None
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    raise PermissionDenied("Producing needs the operator role.")


@require_http_methods(["GET", "POST"])
def produce(request: HttpRequest, topic: str) -> HttpResponse:
    denied = _check_may_produce(request)
    if denied is not None:
        return denied
    desc = _describe(topic)
    if desc.internal:
        raise PermissionDenied(f"{topic} is an internal topic: only the broker writes to it.")
    form = ProduceForm(request.POST or None, partitions=len(desc.partitions))
    ctx: dict[str, Any] = {"topic": desc, "form": form}
    if request.method == "POST":
        result = _produce(request, desc, form) if form.is_valid() else None
        ctx["result"] = result
        if is_htmx(request):
            # 200 even when refused: htmx swaps only successful responses by default,
            # and the fragment is what tells the user what was wrong.
            return render(request, "dashboard/produce_result.html", ctx)
        if result is not None:
            messages.success(request, result["message"])
            if result.get("burst"):
                return redirect("produce_burst", topic=topic, burst_id=result["burst"].id)
            return redirect("topic", topic=topic)
        return render(request, "dashboard/produce.html", ctx, status=400)
    burst_id = request.GET.get("burst", "")
    ctx["burst"] = bursts.get(burst_id) if burst_id else None
    return render(request, "dashboard/produce.html", ctx)


def _produce(request: HttpRequest, desc: TopicDescription, form: ProduceForm) -> dict[str, Any] | None:
    cluster = get_cluster()
    key, value = form.key_value
    headers = form.cleaned_data["headers"]
    partition = form.cleaned_data["partition"]
    count = form.cleaned_data["count"]
    record_bytes = len(key or b"") + len(value or b"") + sum(len(k) + len(v or b"") for k, v in headers)
    try:
        # Asked for before anything is written: a refused write writes nothing.
        charge_visitor(request, record_bytes * count)
    except QuotaExceeded as e:
        form.add_error(None, str(e))
        return None
    if count == 1:
        try:
            p, offset = bursts.produce_one(cluster, desc.name, key, value, headers, partition)
        except KafkaError as e:
            form.add_error(None, str(e))
            return None
        audit.log(
            Actor.web(request),
            Action.RECORDS_PRODUCE,
            cluster=current_cluster_name(),
            topic=desc.name,
            summary=f"produced 1 record to {desc.name} partition {p} at offset {offset}",
            offsets=[{"topic": desc.name, "partition": p, "before": offset, "after": offset + 1}],
            details={"count": 1, "partition": p, "offset": offset},
        )
        return {"message": f"Produced to partition {p} at offset {offset}.", "partition": p, "offset": offset}
    rate = form.cleaned_data["rate"]
    spec = bursts.BurstSpec(desc.name, count, rate, key, value, tuple(headers), partition)
    try:
        burst = bursts.start(cluster, spec)
    except bursts.TooManyBursts as e:
        form.add_error("count", str(e))
        return None
    audit.log(
        Actor.web(request),
        Action.RECORDS_BURST,
        cluster=current_cluster_name(),
        topic=desc.name,
        summary=f"started a burst of {count} records at {rate}/s to {desc.name}",
        details={"burst": burst.id, "count": count, "rate": rate, "partition": partition},
    )
    seconds = count / rate
    return {
        "message": f"Burst started: {count:,} records at {rate:,} per second (about {seconds:.1f} s).",
        "burst": burst,
    }


@require_GET
def produce_burst(request: HttpRequest, topic: str, burst_id: str) -> HttpResponse:
    """A burst's progress; the htmx version polls itself until the burst is done."""
    burst = bursts.get(burst_id)
    if burst is None or burst.spec.topic != topic:
        raise Http404("No such burst (finished bursts are forgotten after a while).")
    ctx = {"topic": _describe(topic), "burst": burst}
    if is_htmx(request):
        return render(request, "dashboard/produce_burst_status.html", ctx)
    return render(request, "dashboard/produce_burst.html", ctx)


# --- create and delete -----------------------------------------------------------


@require_http_methods(["GET", "POST"])
@require_role("operator")
def topic_create(request: HttpRequest) -> HttpResponse:
    form = TopicCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        name = form.cleaned_data["name"]
        try:
            desc = get_cluster().create_topic(name, form.cleaned_data["partitions"], form.cleaned_data["config"])
        except KafkaError as e:
            # Kafka's own words (InvalidTopic, TopicAlreadyExists, InvalidConfig, InvalidPartitions).
            form.add_error(None, f"{type(e).__name__}: {e}")
        else:
            audit.log(
                Actor.web(request),
                Action.TOPIC_CREATE,
                cluster=current_cluster_name(),
                topic=desc.name,
                summary=f"created topic {desc.name} with {len(desc.partitions)} partition(s)",
                details={"partitions": len(desc.partitions), "config": form.cleaned_data["config"]},
            )
            messages.success(request, f"Topic {desc.name} created with {len(desc.partitions)} partitions.")
            return redirect("topic", topic=desc.name)
    status = 400 if request.method == "POST" else 200
    return render(request, "dashboard/topic_create.html", {"form": form}, status=status)


@require_http_methods(["GET", "POST"])
@require_role("operator")
def topic_delete(request: HttpRequest, topic: str) -> HttpResponse:
    desc = _describe(topic)
    form = TopicDeleteForm(request.POST or None, topic=topic)
    ctx = {"topic": desc, "form": form}
    if desc.internal:
        ctx["refused"] = f"{topic} is an internal topic: the broker keeps it, it cannot be deleted."
        return render(request, "dashboard/topic_delete.html", ctx, status=403 if request.method == "POST" else 200)
    if request.method == "POST" and form.is_valid():
        try:
            get_cluster().delete_topic(topic)
        except KafkaError as e:
            form.add_error(None, f"{type(e).__name__}: {e}")
        else:
            audit.log(
                Actor.web(request),
                Action.TOPIC_DELETE,
                cluster=current_cluster_name(),
                topic=topic,
                summary=f"deleted topic {topic} ({desc.records} offsets in {len(desc.partitions)} partitions)",
                offsets=[
                    {"topic": topic, "partition": p.partition, "before": p.high_watermark, "after": None}
                    for p in desc.partitions
                ],
            )
            messages.success(request, f"Topic {topic} deleted.")
            return redirect("overview")
    status = 400 if request.method == "POST" else 200
    return render(request, "dashboard/topic_delete.html", ctx, status=status)
