"""API: the audit log, and the JSON answer for paths the API does not have."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse

from offsetsite.core.audit import action_named
from offsetsite.core.models import AuditEntry

from .auth import api_view, error_response
from .params import query_int

MAX_AUDIT = 1000


@api_view({"GET": "viewer"})
def audit_log(request: HttpRequest) -> HttpResponse:
    """Newest first; filters ``?group=``, ``?topic=``, ``?action=``, ``?source=``, ``?cluster=``;
    paging ``?before=<id>``. An action's old name (``group.reset``) finds its entries too."""
    limit = query_int(request, "limit", 100, minimum=1, maximum=MAX_AUDIT)
    before = query_int(request, "before", None, minimum=1)
    entries = AuditEntry.objects.all()
    for field, param in (
        ("group_id", "group"),
        ("topic", "topic"),
        ("action", "action"),
        ("source", "source"),
        ("cluster", "cluster"),
    ):
        if (value := request.GET.get(param)) is not None:
            entries = entries.filter(**{field: action_named(value) if field == "action" else value})
    if before is not None:
        entries = entries.filter(id__lt=before)
    rows = [
        {
            "id": e.id,
            "at": e.at.isoformat(),
            "username": e.username,
            "source": e.source,
            "action": e.action,
            "cluster": e.cluster,
            "topic": e.topic,
            "group_id": e.group_id,
            "summary": e.summary,
            "offsets": e.offsets,
            "details": e.details,
        }
        for e in entries.order_by("-id")[:limit]
    ]
    return JsonResponse({"entries": rows, "next_before": rows[-1]["id"] if rows else None})


def not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    # A JSON 404 (not Django's HTML page) for any path under /api/ that matches nothing.
    return error_response(404, "NOT_FOUND", f"no API endpoint at {request.path}; see docs/api.md")
