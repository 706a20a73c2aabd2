"""Live fragments that both a page (first render) and its websocket frames carry.

One home for each, so the page and the socket cannot drift apart; the template tags
and the consumers both import from here (neither imports the other).
"""

from __future__ import annotations

from django.template.loader import render_to_string
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from offsetsite.engine import current_cluster_name

from .models import GroupEvent

TIMELINE_ROWS = 50


def version_marker(version: int, oob: bool = True) -> str:
    """The element carrying the version a page shows (swapped out of band in frames)."""
    return str(
        format_html(
            '<div id="live-version"{} data-ws-version="{}" hidden></div>',
            mark_safe(' hx-swap-oob="true"' if oob else ""),  # noqa: S308 - a constant
            version,
        )
    )


def timeline_html(group_id: str, oob: bool = False) -> str:
    """The group timeline fragment (stable id "group-timeline"); ``oob`` for websocket frames."""
    events = list(
        GroupEvent.objects.filter(cluster=current_cluster_name(), group_id=group_id).order_by("-at", "-id")[
            :TIMELINE_ROWS
        ]
    )
    return render_to_string("live/group_timeline.html", {"group_id": group_id, "events": events, "oob": oob})
