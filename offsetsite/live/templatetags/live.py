"""Template tags of the live layer: ``{% load live %}``.

- ``{% live_socket kind key %}``: the page's websocket element (kind: overview, topic,
  group, consumer_offsets, lab) plus the htmx ws extension and live.js, all served locally.
- ``{% lag_chart group_id %}``: a uPlot lag chart; put it outside any swapped fragment.
- ``{% group_timeline group_id %}``: the group's latest commits, rebalances, resets.
"""

from __future__ import annotations

from urllib.parse import quote

from django import template
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import NoReverseMatch, get_script_prefix, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from .. import bridge
from ..fragments import timeline_html, version_marker
from ..names import KINDS

register = template.Library()

_WS_PATHS = {
    "overview": "/ws/overview/",
    "consumer_offsets": "/ws/consumer-offsets/",
    "topic": "/ws/topic/{}/",
    "group": "/ws/group/{}/",
    "lab": "/ws/lab/",
}


def socket_path(kind: str, key: str = "") -> str:
    if kind not in KINDS:
        raise template.TemplateSyntaxError(f"live_socket: unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    if kind in ("topic", "group") and not key:
        raise template.TemplateSyntaxError(f"live_socket: a {kind} page needs its {kind} name")
    # The socket of a Kafka cluster's page is under the same /clusters/<name>/ prefix.
    prefix = get_script_prefix().rstrip("/")
    if kind in ("overview", "lab"):
        # The overview's key is the viewer's query string (filter, sort, pages); a lab
        # page's names its view (view=lesson|room|facilitator, see offsetsite.lab.live).
        return prefix + _WS_PATHS[kind] + ("?" + key if key else "")
    return prefix + _WS_PATHS[kind].format(quote(key, safe=""))


@register.simple_tag
def live_socket(kind: str, key: str = "", query: str = "") -> SafeString:
    """``query``: a query string the page's renderer reads (the topic page's ``lab=G``)."""
    key = str(key)
    path = socket_path(kind, key) + (f"?{query}" if query else "")
    return format_html(
        '<div id="live-socket" hx-ext="ws" ws-connect="{}" data-ws-state="connecting" '
        'data-live-kind="{}" data-live-key="{}" hidden></div>\n{}\n'
        # defer, like {% htmx_script %}: the extension must run after htmx itself and
        # before htmx processes the page on DOMContentLoaded.
        '<script src="{}" defer></script>\n<script src="{}" defer></script>',
        path,
        kind,
        key,
        mark_safe(version_marker(bridge.current().version(kind, key), oob=False)),  # noqa: S308 - built by format_html
        static("django_htmx/ext/hx-ws-2.min.js"),
        static("offsetsite/live.js"),
    )


@register.simple_tag
def lag_chart(group_id: str) -> SafeString:
    group_id = str(group_id)
    try:
        url = reverse("group_lag", args=[group_id])
    except NoReverseMatch:
        return mark_safe(
            '<p class="lag-chart-missing">No lag chart for a group id containing "/": read its lag through the API.</p>'
        )
    return mark_safe(  # noqa: S308 - the template escapes every value
        render_to_string(
            "live/lag_chart.html",
            {
                "group_id": group_id,
                "lag_url": url,
                "ranges": ["15m", "1h", "6h", "24h"],
            },
        )
    )


@register.simple_tag
def group_timeline(group_id: str) -> SafeString:
    return mark_safe(timeline_html(str(group_id)))  # noqa: S308 - rendered with autoescape


_ID_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-")


@register.filter
def live_id(name: object, prefix: str) -> str:
    """A stable element id for a row named ``name`` (a topic, a group id), so a live frame
    can swap that row alone (offsetsite/live/delta.py).

    Group ids may hold any character (Kafka allows them); every character outside
    ``[A-Za-z0-9.-]`` is written as ``_`` and its code point in hex, so two names never
    share an id and the id holds no space or quote.
    """
    text = str(name)
    return prefix + "-" + "".join(c if c in _ID_SAFE else f"_{ord(c):x}_" for c in text)
