"""The overview: every topic with its partitions, log start and high watermark."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from offsetsite.engine import get_cluster


def overview(request: HttpRequest) -> HttpResponse:
    topics = get_cluster().describe_topics(include_internal=True)
    return render(request, "dashboard/overview.html", {"topics": topics})
