"""Live parts of the topic page, pushed over the websocket.

Each renderer renders the very partials the page is built from, with ``oob`` set so
every top-level element carries ``hx-swap-oob="true"``: the browser replaces the
element of the same id. A topic page shows its partition strips, its summary with
the high watermarks and, when the viewer is at the tail, the newest records.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from django.template.loader import render_to_string

from logcore.errors import InvalidTopic, UnknownTopicOrPartition
from offsetsite.dashboard.topics.parts import DEFAULT_PAGE, records_page, topic_context
from offsetsite.engine import get_cluster


def render_topic(key: str, user: Any) -> str:
    """The live parts of ``/topics/<key>/``; "" once the topic is gone (the page keeps its last frame).

    ``key`` may end in ``?lab=G``, the lab group the viewer colours the seats by (the
    socket's query string; a topic name never holds "?").
    """
    cluster = get_cluster()
    key, _, query = key.partition("?")
    lab = parse_qs(query).get("lab", [""])[0]
    try:
        ctx = topic_context(cluster, key, lab)
    except (UnknownTopicOrPartition, InvalidTopic):
        return ""
    ctx["oob"] = True
    parts = [
        render_to_string("dashboard/topic.html#summary", ctx),
        render_to_string("dashboard/topic.html#strips", ctx),
    ]
    if ctx["live_tails"]:
        # The page shows one partition's tail; every partition's tail is sent and the
        # browser swaps only the one whose id is on the page.
        for p in ctx["topic"].partitions:
            page = records_page(cluster, key, p.partition, None, DEFAULT_PAGE)
            tail_ctx = {"page": page, "oob": True}
            # The caption too: its range and "holds no records" notice change with the rows.
            parts.append(render_to_string("dashboard/topic.html#records_caption", tail_ctx))
            parts.append(render_to_string("dashboard/topic.html#records_rows", tail_ctx))
    return "\n".join(parts)


def register_all() -> None:
    """Register the renderer of kind "topic" with the live layer."""
    from offsetsite.live.registry import register

    register("topic", render_topic)
