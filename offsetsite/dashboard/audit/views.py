"""The audit log: every change made through the web, the API or the command line.

Newest first, filtered by action, cluster, group, topic and user, paged; the same filter
exports as CSV. Reading it needs the viewer role: the log names people and what they did.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from typing import Any, cast
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from offsetsite.core.audit import Action, action_named
from offsetsite.core.models import AuditEntry
from offsetsite.core.roles import require_role

PAGE_SIZE = 50
FILTERS = ("action", "cluster", "group", "topic", "user")
CSV_COLUMNS = ("at", "user", "source", "action", "cluster", "topic", "group_id", "summary", "offsets", "details")
# Cells a spreadsheet would run as a formula (OWASP "CSV injection"), tab and CR included.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def filtered(params: QueryDict) -> tuple[QuerySet[AuditEntry], dict[str, str]]:
    """Entries matching the filter parameters, newest first, and the filter as given."""
    values = {name: params.get(name, "").strip()[:255] for name in FILTERS}
    entries = AuditEntry.objects.all().order_by("-at", "-id")
    if values["action"]:
        entries = entries.filter(action=action_named(values["action"]))
    if values["cluster"]:
        entries = entries.filter(cluster=values["cluster"])
    if values["group"]:
        entries = entries.filter(group_id__icontains=values["group"])
    if values["topic"]:
        entries = entries.filter(topic__icontains=values["topic"])
    if values["user"]:
        entries = entries.filter(username__icontains=values["user"])
    return entries, values


@require_role("viewer")
def audit(request: HttpRequest) -> HttpResponse:
    entries, values = filtered(request.GET)
    raw_page = request.GET.get("page", "1")
    problem = ""
    if not raw_page.isdecimal() or len(raw_page) > 18 or int(raw_page) < 1:
        problem = f"page must be a whole number from 1; got {raw_page[:20]!r}. Showing page 1."
        raw_page = "1"
    page = Paginator(entries, PAGE_SIZE).get_page(raw_page)
    query = {k: v for k, v in values.items() if v}
    stored = AuditEntry.objects.order_by("action").values_list("action", flat=True).distinct()
    actions = sorted(set(stored) | {a.value for a in Action})
    clusters = AuditEntry.objects.order_by("cluster").values_list("cluster", flat=True).distinct()
    return render(
        request,
        "dashboard/audit.html",
        {
            "page": page,
            "filters": values,
            "actions": actions,
            "clusters": list(clusters),
            "problem": problem,
            "query": urlencode(query),
            "csv_query": urlencode(query),
        },
    )


def escape_cell(value: str) -> str:
    """Neutralise a cell a spreadsheet would evaluate as a formula: prefix a quote."""
    return "'" + value if value.startswith(_FORMULA_START) else value


class _Echo:
    """A file-like object whose write returns the line, for streaming csv.writer output."""

    def write(self, value: str) -> str:
        return value


def _row(e: AuditEntry) -> list[str]:
    at = timezone.localtime(e.at).isoformat() if e.at else ""
    cells = [
        at,
        e.username,
        e.source,
        e.action,
        e.cluster,
        e.topic,
        e.group_id,
        e.summary,
        json.dumps(e.offsets, ensure_ascii=False),
        json.dumps(e.details, ensure_ascii=False, default=str),
    ]
    return [escape_cell(c) for c in cells]


def _lines(entries: QuerySet[AuditEntry]) -> Iterator[str]:
    writer: Any = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for e in entries.iterator(chunk_size=500):
        yield writer.writerow(_row(e))


def _audit_csv(request: HttpRequest) -> StreamingHttpResponse:
    entries, _ = filtered(request.GET)
    response = StreamingHttpResponse(_lines(entries), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="offsetsite-audit-{stamp}.csv"'
    return response


# require_role is typed for HttpResponse; a streaming response passes through it unchanged.
audit_csv = require_role("viewer")(cast("Callable[..., HttpResponse]", _audit_csv))
